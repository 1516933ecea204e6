//! `/sotto start|stop|status|fingerprint|verify|answer|cancel|accept|giveback|fingerprints|
//! policy|help` in IM conversations, on every protocol.

use std::ffi::{c_char, c_void};

use crate::protocol::{ConvState, Policy, SecretString};

use super::bindings as sys;
use super::boundary::{ffi_boundary, non_null};
use super::glue::{self, arg, set_error, CommandGuard, ConvRef};
use super::present;
use super::service;
use super::texts::{self, Shown};
use super::{dialogs, known};

/// Register `/sotto`.
pub(crate) fn register() -> Option<CommandGuard> {
    let help = glue::cstring(&texts::command_help());
    // SAFETY: valid strings (copied by libpurple) and a function with PurpleCmdFunc's signature.
    let id = unsafe {
        sys::purple_cmd_register(
            c"sotto".as_ptr(),
            c"s".as_ptr(),
            sys::PURPLE_CMD_P_PLUGIN,
            sys::PURPLE_CMD_FLAG_IM | sys::PURPLE_CMD_FLAG_ALLOW_WRONG_ARGS,
            std::ptr::null(),
            Some(sotto_cmd),
            help.as_ptr(),
            std::ptr::null_mut(),
        )
    };
    (id != 0).then_some(CommandGuard::new(id))
}

/// Whether typed text that reached the send path reads as a `/sotto` command libpurple did not
/// run: `/sotto` in another case, after spaces, or with more slashes, then a space or nothing.
/// libpurple matches command names exactly and only at the very start of the line, and Pidgin
/// sends an unknown command as a message on a protocol without slash commands of its own (and
/// Finch or a script may hand any line to the send path). Such a line is the user's words for
/// Sotto (a question and its answer, the secret of a verification): it is never sent, to the
/// contact or, with no session, in plaintext to the server.
///
/// Any line of the text counts: Pidgin hands a message of several lines (Shift+Enter) to one
/// send on XMPP and most protocols, where libpurple runs no command, so `ok` and a second
/// line `/sotto answer Lisbon` went to the contact as one message (found by a read-only
/// review).
pub(crate) fn mistyped_command(text: &str) -> bool {
    text.split([
        '\n', '\r', '\u{0B}', '\u{0C}', '\u{85}', '\u{2028}', '\u{2029}',
    ])
    .any(line_is_a_command)
}

/// [`mistyped_command`] for one line.
fn line_is_a_command(text: &str) -> bool {
    // Characters that show nothing (bidi marks, the soft hyphen, isolates, variation
    // selectors, fillers: `wire::is_invisible`) are not what the user sees typed: a paste's
    // `\u{200E}/sotto answer Lisbon` or `/so\u{AD}tto answer` is the command (the first list,
    // of zero-width spaces only, let a left-to-right mark before the slash send the answer;
    // found by a read-only review of the commands).
    // Into a wiped buffer of the line's size, never grown (a collected `String` left copies
    // of what was typed, a verification's answer included, in the buffers it outgrew).
    let mut seen = SecretString::new(String::with_capacity(text.len()));
    for c in text
        .chars()
        .filter(|c| !crate::protocol::wire::is_invisible(*c))
    {
        seen.push(c);
    }
    let text = seen.as_str();
    // Spaces, and the blank a paste may put in (the braille blank).
    let blank = |c: char| c.is_whitespace() || c == '\u{2800}';
    let slash = |c: char| c == '/' || c == '\u{FF0F}';
    let t = text.trim_start_matches(blank);
    if !t.starts_with(slash) {
        return false;
    }
    // An input method in full-width mode (CJK users) types every letter full-width, as it
    // types the slash: `／ｓｏｔｔｏ　ａｎｓｗｅｒ` is the same command to the user.
    let ascii = |c: char| match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
        c => c,
    };
    let mut word = t.trim_start_matches(|c| slash(c) || blank(c)).chars();
    if !"sotto".chars().all(|want| {
        word.next()
            .is_some_and(|c| ascii(c).eq_ignore_ascii_case(&want))
    }) {
        return false;
    }
    let after = word.as_str();
    if after.chars().next().is_none_or(blank) {
        return true;
    }
    // A blank forgotten or a stray mark (`/sottoanswer Lisbon`, `/sotto: answer Lisbon`,
    // `/sotto.verify q | a`): mistyped when what follows names one of the commands, not when
    // it is another word (`/sottovoce`, `/sotto-fan club`).
    let next: String = after
        .trim_start_matches(|c: char| blank(c) || !ascii(c).is_alphanumeric())
        .chars()
        .take_while(|c| ascii(*c).is_ascii_alphabetic())
        .map(|c| ascii(c).to_ascii_lowercase())
        .collect();
    SUBCOMMANDS.iter().any(|sub| next.starts_with(sub))
}

/// The words `/sotto` takes first (`sotto_cmd`).
const SUBCOMMANDS: [&str; 15] = [
    "policy",
    "start",
    "stop",
    "status",
    "fingerprint",
    "fp",
    "verify",
    "answer",
    "accept",
    "cancel",
    "abort",
    "giveback",
    "fingerprints",
    "keys",
    "help",
];

/// The command line after its first word.
fn rest(line: &str) -> &str {
    let line = line.trim_start();
    line.find(char::is_whitespace).map_or("", |i| &line[i..])
}

/// `/sotto verify` (a dialog) or `/sotto verify QUESTION | ANSWER`.
fn verify(r: &ConvRef, args: &str) {
    if args.trim().is_empty() {
        dialogs::verify(r);
        return;
    }
    match question_and_answer(args) {
        Ok((q, a)) => dialogs::ask_question(r, q, a),
        Err(Ambiguous) => r.system_line(texts::verify_ambiguous()),
        Err(_) => r.system_line(texts::verify_usage()),
    }
}

/// `/sotto policy` (says the contact's policy) or `/sotto policy always|opportunistic|manual|
/// global`: the per-contact setting of the Settings dialog, for Finch (whose conversation
/// window has no plugin menu) and for a contact not in the buddy list.
fn policy(r: &ConvRef, args: &str) {
    let Some(chosen) = policy_arg(args) else {
        r.system_line(&texts::policy_usage(
            &Shown::new(&r.peer),
            service::contact_policy(r),
            service::policy(r),
        ));
        return;
    };
    if service::set_contact_policy(r, chosen) {
        r.outcome_line(&texts::policy_saved(&Shown::new(&r.peer), chosen, &[]));
    } else {
        r.failure_line(&texts::policy_not_saved(&Shown::new(&r.peer)));
    }
}

/// The policy `/sotto policy` names: `Some(None)` for the global setting; `None` for none.
fn policy_arg(args: &str) -> Option<Option<Policy>> {
    let word = args.trim().to_ascii_lowercase();
    match word.as_str() {
        "global" | "default" => Some(None),
        w => Policy::parse(w).map(Some),
    }
}

/// Why `/sotto verify` arguments were not taken.
#[derive(Debug, PartialEq)]
enum NotAsked {
    /// No `|`, or an empty question or answer.
    Usage,
    /// More than one `|`: which part is the answer is a guess. A guess that cuts the question
    /// short makes an honest contact fail; one that cuts the answer sends part of it to the
    /// contact as question text.
    Ambiguous,
}
use NotAsked::Ambiguous;

/// `QUESTION | ANSWER`, trimmed.
fn question_and_answer(args: &str) -> Result<(&str, &str), NotAsked> {
    let (q, a) = args.split_once('|').ok_or(NotAsked::Usage)?;
    if a.contains('|') {
        return Err(Ambiguous);
    }
    let (q, a) = (q.trim(), a.trim());
    if q.is_empty() || a.is_empty() {
        return Err(NotAsked::Usage);
    }
    Ok((q, a))
}

unsafe extern "C" fn sotto_cmd(
    conv: *mut sys::PurpleConversation,
    _cmd: *const c_char,
    args: *mut *mut c_char,
    error: *mut *mut c_char,
    _data: *mut c_void,
) -> sys::PurpleCmdRet {
    // A fault says so (the host said "failed for an unknown reason"); the command itself is
    // not shown back (`verify` and `answer` carry a verification answer).
    ffi_boundary!(
        {
            super::boundary::quietly(|| {
                // SAFETY: libpurple's error out-parameter (NULL checked inside).
                unsafe { set_error(error, texts::command_fault()) };
            });
            sys::PURPLE_CMD_RET_FAILED
        },
        {
            non_null!(conv, sys::PURPLE_CMD_RET_FAILED);
            // SAFETY: live conversation for this callback.
            let Some(r) = (unsafe { ConvRef::from_conversation(conv) }) else {
                return sys::PURPLE_CMD_RET_FAILED;
            };
            // SAFETY: libpurple's argument vector for this callback.
            // Wiped when dropped: `verify` and `answer` carry a verification answer.
            let typed = SecretString::new(unsafe { arg(args, 0) });
            // The command is its first line. Lines after it (Shift+Enter) are not its
            // arguments: taken as part of an answer they failed a verification the user
            // answered right (both sides told "do not trust this session"), and elsewhere they
            // were dropped without a word (libpurple cleared the input box). They are shown
            // back, never sent (found by a hostile review of the first fix).
            let (line, later) = typed
                .find(['\n', '\r'])
                .map_or((typed.as_str(), ""), |i| (&typed[..i], typed[i..].trim()));
            let word = line
                .split_whitespace()
                .next()
                .unwrap_or("help")
                .to_ascii_lowercase();
            // Text after a command that takes none (`/sotto start`, then Shift+Enter and a
            // line): libpurple cleared the input box, and the command ignored it, so it was
            // lost without a word (found by a read-only review of the commands). The command
            // runs; the text is shown back, never sent. So it is where the command is refused
            // (below).
            let extra = rest(line).trim();
            let takes_none = matches!(
                word.as_str(),
                "start"
                    | "stop"
                    | "status"
                    | "fingerprint"
                    | "fp"
                    | "cancel"
                    | "abort"
                    | "giveback"
                    | "fingerprints"
                    | "keys"
                    | "help"
            );
            let extra = if takes_none { extra } else { "" };
            let ignored = SecretString::new(match (extra.is_empty(), later.is_empty()) {
                (false, false) => format!("{extra}\n{later}"),
                (false, true) => extra.to_owned(),
                _ => later.to_owned(),
            });
            // A window whose account changed under it runs no command: it would act as the new
            // account, from a window that reads nothing (`service::track`). Lines typed after
            // the command (on its line or the next) are shown back (they were dropped without a
            // word: libpurple cleared the input box).
            // SAFETY: live conversation for this callback.
            if let Some(changed) = unsafe { service::account_changed(conv) } {
                r.system_line(&changed);
                if !ignored.is_empty() {
                    r.system_line(&texts::after_command_not_sent(&word, &ignored));
                }
                return sys::PURPLE_CMD_RET_OK;
            }
            // SAFETY: live conversation for this callback.
            let followed = unsafe { service::track(conv) };
            // A window whose conversation could not follow its contact (a rename the store
            // refused; a room occupant's window whose name now stands for a contact): what the
            // window's name stands for now is another conversation, and a command run here acted
            // on it (a status of another conversation, a policy saved for another contact; found
            // by a hostile review). Help and the account-wide list of keys only. Said in this
            // window (the conversation `r` names now may have a window of its own).
            if !followed && !matches!(word.as_str(), "help" | "fingerprints" | "keys") {
                // If the lines `track` wrote left it open.
                if glue::still_open(conv) {
                    // SAFETY: in libpurple's open conversations just now.
                    unsafe { glue::system_line_to(conv, texts::not_run_here()) };
                    if !ignored.is_empty() {
                        let back = texts::after_command_not_sent(&word, &ignored);
                        // SAFETY: as above.
                        unsafe { glue::system_line_to(conv, &back) };
                    }
                }
                return sys::PURPLE_CMD_RET_OK;
            }
            match word.as_str() {
                "start" | "stop" => {
                    if word == "start" {
                        service::user_acted(&r);
                    }
                    if let Some(fx) = service::start_or_stop(&r, word == "start") {
                        present::apply_start_or_stop(&r, fx, word == "start");
                    } else {
                        r.system_line(texts::no_identity());
                    }
                }
                "status" => {
                    // A start that lapsed since the last line went by says so first (the lapse is
                    // otherwise seen at the next line in or out), so the status agrees with it.
                    if service::conv_state(&r) == Some(ConvState::Handshaking) {
                        if let Some(fx) = service::tick(&r) {
                            present::apply(&r, fx);
                        }
                    }
                    r.system_line(&present::status_text(&r))
                }
                "fingerprint" | "fp" => r.system_line(&present::fingerprint_text(&r)),
                "verify" => verify(&r, rest(line)),
                "answer" => {
                    let answer = SecretString::from(rest(line).trim());
                    if !service::question_pending(&r) {
                        r.system_line(&texts::no_question(&Shown::new(&r.peer)));
                    } else if answer.is_empty() {
                        // Alone: the dialog for the question, which may not have opened by itself
                        // (questions asked in a row: `dialogs::question_arrived`).
                        if let Some(question) = service::pending_question(&r) {
                            if dialogs::answer_dialog_open(&r, &question) {
                                r.system_line(&texts::answer_dialog_open(&Shown::new(&r.peer)));
                            } else {
                                dialogs::answer(&r, &question);
                            }
                        }
                    } else {
                        // Answered here: a dialog still open for the question is stale.
                        dialogs::close_answer_dialog(&r);
                        dialogs::answer_question(&r, &answer);
                    }
                }
                "accept" => dialogs::accept_typed(&r, rest(line)),
                "cancel" | "abort" => dialogs::cancel_verification(&r),
                "giveback" => give_back(&r),
                "fingerprints" | "keys" => {
                    r.system_lines(&known::known_fingerprints_text());
                    known::known_fingerprints(Some(&r));
                }
                "policy" => policy(&r, rest(line)),
                "help" => r.system_lines(texts::HELP),
                other => {
                    if !ignored.is_empty() {
                        r.system_line(&texts::after_command_not_sent(other, &ignored));
                    }
                    // SAFETY: libpurple's error out-parameter.
                    unsafe { set_error(error, &texts::unknown_command(other)) };
                    return sys::PURPLE_CMD_RET_FAILED;
                }
            }
            if !ignored.is_empty() {
                r.system_line(&texts::after_command_not_sent(&word, &ignored));
            }
            sys::PURPLE_CMD_RET_OK
        }
    )
}

/// `/sotto giveback` and the menu's "Stop waiting" in an encrypted conversation: what waits for
/// the contact's client that went offline is handed back, and the session goes on: everything
/// held (also text held for a changed key, when the contact's key changed too). Nothing is
/// given back this way while the client holding the session is there.
pub(crate) fn give_back(r: &ConvRef) {
    r.conversation_or_new();
    if !service::held_for_away_holder(r) {
        r.system_line(&texts::nothing_to_give_back(&Shown::new(&r.peer)));
        return;
    }
    if let Some(fx) = service::give_back_held(r) {
        present::apply(r, fx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sotto_command_libpurple_did_not_run_is_known() {
        for typed in [
            "/Sotto verify Where did we meet? | Lisbon",
            "/SOTTO answer Lisbon",
            " /sotto answer Lisbon",
            "\t/sotto",
            "//sotto answer Lisbon",
            "/ sotto answer Lisbon",
            "/sOtTo\nanswer",
            "/sotto",
            "\u{200B}/sotto answer x",
            "/sotto\u{200B}answer x",
            "\u{FEFF} /Sotto answer x",
            "\u{FF0F}sotto answer x",
            "\u{a0}/sotto answer x",
            "\u{FF0F}\u{FF53}\u{FF4F}\u{FF54}\u{FF54}\u{FF4F}\u{3000}\u{FF41}nswer x",
            "/\u{FF33}otto answer x",
            // A blank forgotten, or a stray mark, before a command's name.
            "/sottoanswer Lisbon",
            "/sotto: answer Lisbon",
            "/sotto:answer Lisbon",
            "/sotto.verify Where did we meet? | Lisbon",
            "/SottoVerify q | a",
            "\u{FF0F}\u{FF53}\u{FF4F}\u{FF54}\u{FF54}\u{FF4F}\u{FF41}\u{FF4E}swer x",
            "/sotto, stop",
            // On a later line of a message of several (Shift+Enter).
            "ok\n/sotto answer Lisbon",
            "first\r\n /Sotto verify q | a",
            "a\u{2028}/sotto answer x",
            "a\u{85}\u{FF0F}sotto answer x",
            // Characters that show nothing, before the slash or inside the word.
            "\u{200E}/sotto answer Lisbon",
            "\u{2066}/sotto answer Lisbon\u{2069}",
            "/\u{2066}sotto answer x",
            "/so\u{AD}tto answer x",
            "/sotto\u{FE0F} answer x",
            "\u{2800}/sotto answer x",
        ] {
            assert!(mistyped_command(typed), "{typed:?}");
        }
        for typed in [
            "sotto answer Lisbon",
            "/sottovoce is a word",
            "/sotto-fan club",
            "/sotto: an aria",
            "/sottosuolo",
            "/me waves",
            "a line that mentions /sotto answer",
            "two lines\nthat mention /sotto answer",
            "/",
            "/sott",
            "/sottò answer",
            "/\u{FF53}\u{FF4F}\u{FF54}\u{FF54}\u{FF4F}\u{FF56}oce",
            "",
        ] {
            assert!(!mistyped_command(typed), "{typed:?}");
        }
    }

    #[test]
    fn policy_takes_one_of_four_words() {
        assert_eq!(policy_arg(" Always "), Some(Some(Policy::Always)));
        assert_eq!(policy_arg("manual"), Some(Some(Policy::Manual)));
        assert_eq!(
            policy_arg("opportunistic"),
            Some(Some(Policy::Opportunistic))
        );
        assert_eq!(policy_arg("global"), Some(None));
        assert_eq!(policy_arg(""), None);
        assert_eq!(policy_arg("never"), None);
        assert_eq!(policy_arg("always please"), None);
    }

    #[test]
    fn rest_skips_the_first_word() {
        assert_eq!(rest("verify  q | a").trim(), "q | a");
    }

    #[test]
    fn verify_takes_exactly_one_bar() {
        assert_eq!(
            question_and_answer(" Where did we meet? | Lisbon "),
            Ok(("Where did we meet?", "Lisbon"))
        );
        assert_eq!(question_and_answer("Is it A|B? | B"), Err(Ambiguous));
        assert_eq!(question_and_answer("q | a|b"), Err(Ambiguous));
        assert_eq!(question_and_answer("no bar"), Err(NotAsked::Usage));
        assert_eq!(question_and_answer(" | a"), Err(NotAsked::Usage));
        assert_eq!(question_and_answer("q |  "), Err(NotAsked::Usage));
        assert_eq!(rest("  answer   42 "), "   42 ");
        assert_eq!(rest("start"), "");
    }
}
