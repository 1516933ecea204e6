//! Sotto's lines as an IRC server answers them: libpurple's IRC protocol emits each raw line it
//! writes (`irc-sending-text`, as the line leaves its rate-limited queue) and each it reads,
//! before parsing it (`irc-receiving-text`), both as `(gc, char **text)`.
//!
//! A line to a nick that is not on the server is answered with numeric 401 (`ERR_NOSUCHNICK`),
//! one per `PRIVMSG`, and libpurple's `irc_msg_nonick` wrote "User is not logged in" for each
//! (eight for a message cut into eight pieces) while the window showed the text as sent.
//! [`crate::sessions::nosuchnick`] decides which line of ours a 401 answers; then:
//!
//! * a data line: the contact's window says the message was NOT delivered, with its text while
//!   the conversation remembers it, once per message ([`present::undelivered`], as an XMPP
//!   error bounce is told);
//! * a handshake line or query, only while a start asked for here is not over
//!   ([`service::start_asked`]: a handshake of ours in flight, a start of ours that lapsed, text
//!   held): one line saying the start did not reach the contact. Nothing else changes: a 401 is
//!   the server's word, and the start lapses as an unanswered one. Our answer to a stranger's
//!   query or start is not one: its 401 (the stranger gone at once) opens nothing, as that
//!   handshake ends without a word;
//! * libpurple's own line for that 401 is not written ([`libpurples_line`]), once Sotto's line
//!   for the message or start is (for this 401, or an earlier one of the same message), and
//!   when libpurple writes into the same window: the 401's nick and the line's are one name to
//!   libpurple (`purple_normalize`). `irc_parse_msg` calls `irc_msg_nonick` right after this
//!   signal, in the same call; it writes into the window it finds by the nick, or, with none
//!   open, opens an error dialog per 401: so the window is opened first. Where Sotto wrote
//!   nothing (the same line already told, its quiet limit), libpurple's line stands: a 401 is
//!   never met with silence.
//!
//! A 401 that answers no line of ours (plaintext, a `WHOIS`, a nick not written to lately) is
//! left to libpurple.
//!
//! Numerics that drop a private message for another reason are matched and told the same way
//! (486 or, on InspIRCd, 477: only identified users; 531, not permitted; 716, caller-id `+g`;
//! 439 or 707, too many new nicks written to in a row: [`Refusal`]), with their reason.
//! libpurple has no handler for most of them and writes each raw (`486: …`, one per piece),
//! which stays; for a 477 it opens its "Cannot join" dialog (it takes every 477 for a
//! channel's), which stays too.

use std::cell::Cell;
use std::ffi::{c_char, c_void};
use std::time::{Duration, Instant};

use crate::sessions::nosuchnick::{not_delivered, NoSuchNick, Refusal};

use super::bindings as sys;
use super::boundary::{ffi_boundary, non_null};
use super::glue::{self, cstr_to_string, ConvRef};
use super::present;
use super::service;
use super::state::with_state;
use super::texts::{self, Shown};

/// libpurple's line for a 401 that answered a line of ours: its account (compared only, never
/// read), the nick as libpurple names it ([`glue::normalize`]), and when the 401 came.
struct Expected {
    account: usize,
    name: String,
    at: Instant,
}

thread_local! {
    /// The write [`libpurples_line`] takes, expected while the 401 is parsed.
    static EXPECTED: Cell<Option<Expected>> = const { Cell::new(None) };
}

/// How soon libpurple's line must follow its 401 (it follows at once, in the same call).
const EXPECTED_WITHIN: Duration = Duration::from_secs(2);

/// Under which key [`crate::sessions::nosuchnick::SentToNicks`] keeps an account's lines.
pub(crate) fn log_key(protocol: &str, user: &str) -> String {
    format!("{protocol}\n{user}")
}

/// The protocol and user a [`log_key`] was made of.
pub(crate) fn log_key_parts(key: &str) -> Option<(&str, &str)> {
    key.split_once('\n')
}

/// The connection's account and its key ([`log_key`]).
///
/// # Safety
/// `gc` must be a live connection.
unsafe fn account_of(gc: *mut sys::PurpleConnection) -> Option<(*mut sys::PurpleAccount, String)> {
    // SAFETY: per the caller; the account is the connection's own, live with it.
    unsafe {
        let account = sys::purple_connection_get_account(gc);
        let (protocol, user) = glue::account_key(account)?;
        Some((account, log_key(&protocol, &user)))
    }
}

/// The account signed on or off: no 401 answers a line it sent before.
pub(crate) fn forget_account(protocol: &str, user: &str) {
    let _ = with_state(|s| s.sent_to_nicks.forget_account(&log_key(protocol, user)));
}

/// The raw line a `(gc, &text)` IRC signal carries, copied.
///
/// # Safety
/// `text` must be null or libpurple's pointer to the line for this callback.
unsafe fn raw_line(text: *mut *mut c_char) -> Option<String> {
    if text.is_null() {
        return None;
    }
    // SAFETY: per the caller; the string is copied at once.
    cstr_to_string(unsafe { *text })
}

/// `irc-sending-text(gc, &text)`: a line leaves for the server; kept if a 401 may answer it,
/// and ticked off if it is one of ours waiting in libpurple's queue (`super::pace`).
pub(crate) unsafe extern "C" fn sending_text(
    gc: *mut sys::PurpleConnection,
    text: *mut *mut c_char,
    _data: *mut c_void,
) {
    ffi_boundary!((), {
        non_null!(gc);
        // SAFETY: the signal's out-parameter (NULL-checked inside).
        let Some(line) = (unsafe { raw_line(text) }) else {
            return;
        };
        // SAFETY: the signal's live connection.
        let Some((account, key)) = (unsafe { account_of(gc) }) else {
            return;
        };
        let now = Instant::now();
        super::pace::left(&key, &line, now);
        let name = |nick: &str| glue::normalize(account, nick);
        let _ = with_state(|s| s.sent_to_nicks.sent(&key, &line, now, name));
    })
}

/// `irc-receiving-text(gc, &text)`: a line from the server, before libpurple parses it. A 401
/// that answers a line of ours is told (see the module docs); the line itself goes on to
/// libpurple unchanged.
pub(crate) unsafe extern "C" fn receiving_text(
    gc: *mut sys::PurpleConnection,
    text: *mut *mut c_char,
    _data: *mut c_void,
) {
    ffi_boundary!((), {
        // The line expected after the last 401 came or never will: no later write is it.
        EXPECTED.with(Cell::take);
        non_null!(gc);
        // SAFETY: the signal's out-parameter (NULL-checked inside).
        let Some(line) = (unsafe { raw_line(text) }) else {
            return;
        };
        let Some((nick, why)) = not_delivered(&line) else {
            return;
        };
        // SAFETY: the signal's live connection.
        let Some((account, key)) = (unsafe { account_of(gc) }) else {
            return;
        };
        let name = |nick: &str| glue::normalize(account, nick);
        let now = Instant::now();
        let Some(answer) =
            with_state(|s| s.sent_to_nicks.answered(&key, nick, now, name)).flatten()
        else {
            return;
        };
        let (NoSuchNick::Message {
            to, name: to_name, ..
        }
        | NoSuchNick::Start {
            to, name: to_name, ..
        }) = &answer;
        // SAFETY: the connection's live account.
        let Some(r) = (unsafe { ConvRef::from_account(account, to) }) else {
            return;
        };
        // Our answer to the contact's own query or start is no start of ours: its 401 is
        // libpurple's (a stranger who wrote and left at once opens nothing).
        if matches!(answer, NoSuchNick::Start { .. }) && !service::start_asked(&r) {
            return;
        }
        // The contact may have renamed since (the server read the NICK before our line): the
        // conversation, its window and its memory of the text moved to the new name.
        let followed = match &answer {
            NoSuchNick::Message { line, .. } => service::followed_for_line(&r, line),
            NoSuchNick::Start { .. } => r.clone(),
        };
        let moved = followed.key() != r.key();
        let wrote = match &answer {
            NoSuchNick::Message {
                line, tell: true, ..
            } => present::undelivered(&followed, line, texts::irc_refusal(why), true),
            NoSuchNick::Start { tell: true, .. } => {
                // A start tried again without the user (the contact's sign-on, which a server
                // can make up every two minutes) is said only in a window already open: it
                // reopened a closed one each time (found by a hostile review).
                let open = !r
                    .conversation_opening_if(!service::start_retrying(&r))
                    .is_null();
                if open {
                    r.system_line(&texts::start_not_delivered(&Shown::new(&r.peer), why));
                }
                open
            }
            _ => false,
        };
        if wrote {
            let _ = with_state(|s| s.sent_to_nicks.told(&key, &answer, now));
        }
        // `tell: false`: Sotto's line for the message (or the start) was written for an
        // earlier 401. libpurple writes into the window of the 401's nick: take its line only
        // when that is the window of the line Sotto answered.
        let told = wrote
            || matches!(
                answer,
                NoSuchNick::Message { tell: false, .. } | NoSuchNick::Start { tell: false, .. }
            );
        // Only a 401 has a line of libpurple's own (`irc_msg_nonick`, written as from the
        // nick); the others' raw `486: …` line is written as from nobody, and stays.
        // (No window opens under the old name for it: libpurple then shows its own box.)
        if told
            && why == Refusal::NoSuchNick
            && *to_name == name(nick)
            && !r.conversation_opening_if(!moved).is_null()
        {
            EXPECTED.with(|e| {
                e.set(Some(Expected {
                    account: account as usize,
                    name: to_name.clone(),
                    at: now,
                }))
            });
        }
    })
}

/// Whether a write into `conv` as `who` with `flags` is libpurple's own line for the 401 just
/// told ("User is not logged in", a system line from the nick, in its window): then it is
/// taken, and not written. Sotto's own lines (no `who`) never are. The nick is compared as
/// libpurple names it, as it found the window.
///
/// # Safety
/// `conv` must be null or libpurple's live conversation for the write; `who` null or a string.
pub(crate) unsafe fn libpurples_line(
    conv: *mut sys::PurpleConversation,
    who: *const c_char,
    flags: sys::PurpleMessageFlags,
) -> bool {
    if conv.is_null() || flags & sys::PURPLE_MESSAGE_SYSTEM == 0 || glue::writing_own_line() {
        return false;
    }
    let Some(expected) = EXPECTED.with(Cell::take) else {
        return false;
    };
    // SAFETY: per the caller.
    let account = unsafe { sys::purple_conversation_get_account(conv) };
    let hit = expected.account == account as usize
        && expected.at.elapsed() < EXPECTED_WITHIN
        && cstr_to_string(who).is_some_and(|w| glue::normalize(account, &w) == expected.name);
    if !hit {
        EXPECTED.with(|e| e.set(Some(expected)));
    }
    hit
}
