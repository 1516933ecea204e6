//! `/sotto start|stop|status|fingerprint|verify|help` in IM conversations, on every protocol.

use std::ffi::{c_char, c_void};

use crate::protocol::ConvState;

use super::bindings as sys;
use super::boundary::{ffi_boundary, non_null};
use super::dialogs;
use super::engine;
use super::glue::{self, cstr_to_string, ConvRef};

const HELP: &str = "/sotto start: start (or restart) an encrypted conversation\n\
/sotto stop: end it (messages are then sent unencrypted)\n\
/sotto status: whether this conversation is encrypted, the policy, logging\n\
/sotto fingerprint: your fingerprint and your contact's\n\
/sotto verify: verify your contact (compare fingerprints, or ask a question) in a dialog\n\
/sotto verify QUESTION | ANSWER: ask your contact a question only they can answer\n\
/sotto answer ANSWER: answer your contact's question\n\
/sotto accept: accept your contact's changed key (after checking its fingerprint)\n\
/sotto fingerprints: every contact key Sotto knows (verify or forget them in a dialog)\n\
/sotto help: this text";

/// Unregisters the command when dropped (plugin unload).
pub(crate) struct CommandGuard(sys::PurpleCmdId);

impl CommandGuard {
    /// Guard an id returned by `purple_cmd_register`.
    pub(crate) fn new(id: sys::PurpleCmdId) -> Self {
        CommandGuard(id)
    }
}

impl Drop for CommandGuard {
    fn drop(&mut self) {
        // SAFETY: an id returned by purple_cmd_register, unregistered once.
        unsafe { sys::purple_cmd_unregister(self.0) };
    }
}

/// Argument `index` of a command ("" when absent).
///
/// # Safety
/// `args` must be null or libpurple's NULL-terminated argument vector.
pub(crate) unsafe fn arg(args: *mut *mut c_char, index: usize) -> String {
    if args.is_null() {
        return String::new();
    }
    for i in 0..=index {
        // SAFETY: per the caller, entries up to the terminating NULL are valid; we stop there.
        let p = unsafe { *args.add(i) };
        if p.is_null() {
            return String::new();
        }
        if i == index {
            return cstr_to_string(p).unwrap_or_default();
        }
    }
    String::new()
}

/// Report a command error (libpurple shows it and frees it with `g_free`).
///
/// # Safety
/// `error` must be null or libpurple's error out-parameter.
pub(crate) unsafe fn set_error(error: *mut *mut c_char, msg: &str) {
    if !error.is_null() {
        // SAFETY: per the caller.
        unsafe { *error = glue::g_strdup(msg) };
    }
}

/// Register `/sotto`.
pub(crate) fn register() -> Option<CommandGuard> {
    let help = glue::cstring(&format!("sotto &lt;start|stop|status|fingerprint|fingerprints|verify|answer|accept|help&gt;: Sotto end-to-end encryption.\n{HELP}"));
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
    (id != 0).then_some(CommandGuard(id))
}

/// What the user sees from `/sotto status`.
pub(crate) fn status_text(r: &ConvRef) -> String {
    let state = match engine::conv_state(r) {
        Some(ConvState::Encrypted) => "encrypted",
        Some(ConvState::Handshaking) => "starting encryption (waiting for the peer)",
        Some(ConvState::Finished) => "ended by the peer (messages held)",
        Some(ConvState::Plaintext) | None => "not encrypted",
    };
    let logging = if glue::prefs::boolean(glue::prefs::LOG_ENCRYPTED) {
        "encrypted conversations are logged"
    } else {
        "encrypted conversations are not logged"
    };
    let trust = match engine::peer_trust(r) {
        Some(crate::store::Trust::Verified) => format!(" {}'s key is verified.", r.peer),
        Some(crate::store::Trust::Unverified) => format!(
            " {}'s key is unverified (/sotto verify, or compare /sotto fingerprint).",
            r.peer
        ),
        None => String::new(),
    };
    let waiting = match engine::waiting(r) {
        Some((0, false)) | None => String::new(),
        Some((n, true)) => format!(
            " {n} message(s) held until you accept {}'s changed key (/sotto accept).",
            r.peer
        ),
        Some((n, false)) => format!(
            " {n} message(s) held ({why}).",
            why = match engine::conv_state(r) {
                Some(ConvState::Finished) =>
                    "the peer ended the session: /sotto start or /sotto stop",
                _ => "sent encrypted as soon as the session is up",
            }
        ),
    };
    format!(
        "this conversation is {state}.{trust}{waiting} Policy: {}; {logging}.",
        engine::effective_policy(r).as_str()
    )
}

/// What the user sees from `/sotto fingerprint`.
pub(crate) fn fingerprint_text(r: &ConvRef) -> String {
    match engine::fingerprints(r) {
        Some((ours, Some(theirs))) => {
            format!(
                "your fingerprint: {ours}. {}'s fingerprint: {theirs}.",
                r.peer
            )
        }
        Some((ours, None)) => format!(
            "your fingerprint: {ours}. {}'s is known once an encrypted conversation starts.",
            r.peer
        ),
        None => "no identity key is available for this account.".to_owned(),
    }
}

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
    match args.split_once('|') {
        Some((q, a)) if !q.trim().is_empty() && !a.trim().is_empty() => {
            dialogs::ask_question(r, q.trim(), a.trim());
        }
        _ => r.system_line(
            "to verify your contact, compare fingerprints over another channel (/sotto \
             fingerprint shows both), or ask a question only they can answer: \
             /sotto verify QUESTION | ANSWER (or /sotto verify alone for a dialog)",
        ),
    }
}

unsafe extern "C" fn sotto_cmd(
    conv: *mut sys::PurpleConversation,
    _cmd: *const c_char,
    args: *mut *mut c_char,
    error: *mut *mut c_char,
    _data: *mut c_void,
) -> sys::PurpleCmdRet {
    ffi_boundary!(sys::PURPLE_CMD_RET_FAILED, {
        non_null!(conv, sys::PURPLE_CMD_RET_FAILED);
        // SAFETY: live conversation for this callback.
        let Some(r) = (unsafe { ConvRef::from_conversation(conv) }) else {
            return sys::PURPLE_CMD_RET_FAILED;
        };
        // SAFETY: libpurple's argument vector for this callback.
        let line = unsafe { arg(args, 0) };
        let word = line
            .split_whitespace()
            .next()
            .unwrap_or("help")
            .to_ascii_lowercase();
        match word.as_str() {
            "start" | "stop" => {
                if let Some(fx) = engine::start_or_stop(&r, word == "start") {
                    engine::apply(fx);
                } else {
                    r.system_line("no identity key is available for this account.");
                }
            }
            "status" => r.system_line(&status_text(&r)),
            "fingerprint" | "fp" => r.system_line(&fingerprint_text(&r)),
            "verify" => verify(&r, rest(&line)),
            "answer" => {
                let answer = rest(&line).trim().to_owned();
                if answer.is_empty() {
                    r.system_line("usage: /sotto answer ANSWER");
                } else {
                    dialogs::answer_question(&r, &answer);
                }
            }
            "accept" => dialogs::accept_new_key(&r),
            "fingerprints" | "keys" => {
                r.system_line(&dialogs::known_fingerprints_text());
                dialogs::known_fingerprints(Some(&r));
            }
            "help" => r.system_line(HELP),
            other => {
                let msg = format!("unknown Sotto command '{other}': try /sotto help");
                // SAFETY: libpurple's error out-parameter.
                unsafe { set_error(error, &msg) };
                return sys::PURPLE_CMD_RET_FAILED;
            }
        }
        sys::PURPLE_CMD_RET_OK
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    #[test]
    fn arg_reads_up_to_the_terminating_null() {
        let a = CString::new("bob").unwrap();
        let b = CString::new("hello there").unwrap();
        let mut v = [
            a.as_ptr().cast_mut(),
            b.as_ptr().cast_mut(),
            std::ptr::null_mut(),
        ];
        // SAFETY: a NULL-terminated vector of valid C strings, as libpurple passes.
        unsafe {
            assert_eq!(arg(v.as_mut_ptr(), 0), "bob");
            assert_eq!(arg(v.as_mut_ptr(), 1), "hello there");
            assert_eq!(arg(v.as_mut_ptr(), 2), "");
            assert_eq!(arg(v.as_mut_ptr(), 5), "");
            assert_eq!(arg(std::ptr::null_mut(), 0), "");
        }
    }

    #[test]
    fn rest_skips_the_first_word() {
        assert_eq!(rest("verify  q | a").trim(), "q | a");
        assert_eq!(rest("  answer   42 "), "   42 ");
        assert_eq!(rest("start"), "");
    }
}
