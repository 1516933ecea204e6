//! A long encrypted message in libpurple's IRC rate limiter: the window says how long it takes,
//! and says it was NOT delivered in full, with its text, when the connection drops before its
//! pieces are out. The decisions are [`crate::sessions::pacing`]'s; this is the wiring.
//!
//! libpurple 2.14.12's IRC protocol (`libpurple/protocols/irc/irc.c`) queues every line
//! (`irc_send_len`: `g_queue_push_tail(irc->send_queue, …)`); a timer
//! (`g_timeout_add_seconds(1, irc_send_handler_cb, irc)`) writes
//! `min(burst, (time(NULL) - irc->send_time) / interval)` of them a second through `do_send`,
//! which emits `irc-sending-text` and then `write`s the line and sets `send_time`. So the
//! signal marks a line as it leaves, never as it is queued. `irc_close` frees what still waits
//! (`g_queue_free_full(irc->send_queue, g_free)`), after the connection's `signing-off`.
//!
//! * Every Sotto line IRC's `send_im` took ([`handing`] and [`handed`], from the `send_im`
//!   wrapper, around the call) is
//!   followed; when a message's last line was handed and its last piece will leave in more
//!   than [`TELL_AFTER_SECS`](crate::sessions::pacing::TELL_AFTER_SECS), one line says so, once
//!   libpurple has written the message itself into the window (a 0 ms timeout: libpurple
//!   writes it after `send_im` returns).
//! * Each raw line the connection writes ticks ours off ([`left`], from `irc-sending-text`).
//! * `signing-off` ([`signing_off`]): each message with pieces still waiting gets one line in
//!   its window, with its text: opened if closed (the connection is still there to open it),
//!   or, when no window can be opened, a message box; a window destroyed in the same turn
//!   of the main loop (deleting an account signs it off, then destroys its windows) gives its
//!   line in a box ([`window_closing`]). Nothing is sent again by itself: the
//!   contact's Sotto may already ask for the message again when it finds it incomplete (a
//!   not-read notice, sent again over the next session), and a copy sent from here as well
//!   would reach the contact twice. The text never goes anywhere but this window.
//! * Unloading Sotto ([`stop`]) drops nothing of libpurple's queue: what waits still goes, and
//!   the window says nobody follows it any more. Quitting signs every account off first, so
//!   [`signing_off`] tells it, into windows that are about to close (nothing is written to
//!   disk: a message cut off by quitting is lost unless the user reads the line before the
//!   window goes).
//!
//! A line counts as left when `irc-sending-text` fires for it; `do_send` can still fail to
//! write it (the connection is then closed at once), and a line written may still be lost in
//! the network: the window then says nothing here. The contact's Sotto says a message arrived
//! incomplete when some of its pieces came; a message lost whole (a one-line message, or
//! every piece of one, in the socket's buffer when a dead link times out) is told by
//! neither side (docs/SECURITY.md, "Not covered").

use std::ffi::c_void;
use std::time::Instant;

use crate::protocol::SecretString;
use crate::sessions::pacing::{Limiter, Ready};

use super::bindings as sys;
use super::boundary::{ffi_boundary, non_null};
use super::glue::{self, ConvRef};
use super::service::{self, Timeout};
use super::state::{self, with_state};
use super::texts::{self, Shown};

/// How many "takes a while" lines may wait for their timeout (more in one main-loop turn are
/// not written: one per message is plenty).
const LINES_WAITING: usize = 16;

/// libpurple's defaults (`IRC_DEFAULT_COMMAND_INTERVAL`, `IRC_DEFAULT_COMMAND_MAX_BURST`).
const DEFAULT_INTERVAL: i32 = 2;
const DEFAULT_BURST: i32 = 5;

/// The account's key for [`crate::sessions::pacing::Pacing`], when it is an IRC account.
///
/// # Safety
/// `account` must be null or live.
unsafe fn irc_account(account: *mut sys::PurpleAccount) -> Option<String> {
    // SAFETY: per the caller.
    let (protocol, user) = unsafe { glue::account_key(account) }?;
    (protocol == "prpl-irc").then(|| super::irc::log_key(&protocol, &user))
}

/// The account's rate limiter, as libpurple reads it.
///
/// # Safety
/// `account` must be live.
unsafe fn limiter(account: *mut sys::PurpleAccount) -> Limiter {
    // SAFETY: per the caller; the names are static C strings.
    let (interval, burst) = unsafe {
        (
            sys::purple_account_get_int(account, c"ratelimit-interval".as_ptr(), DEFAULT_INTERVAL),
            sys::purple_account_get_int(account, c"ratelimit-burst".as_ptr(), DEFAULT_BURST),
        )
    };
    Limiter::from_settings(i64::from(interval), i64::from(burst))
}

/// A Sotto line on its way into IRC's `send_im` ([`handing`], then [`handed`]).
pub(crate) struct Handing {
    key: String,
    account: *mut sys::PurpleAccount,
    who: String,
    line: String,
    ready: Option<Ready>,
}

/// `line` for `who` is about to be handed to IRC's `send_im` on `gc`: followed from now (a
/// libpurple without the queue writes it inside the call). Only while libpurple's
/// `irc-sending-text` is connected: without it no line would ever be seen leaving, and every
/// message would be said cut off.
///
/// # Safety
/// `gc` must be a live connection.
pub(crate) unsafe fn handing(
    gc: *mut sys::PurpleConnection,
    who: &str,
    line: &str,
) -> Option<Handing> {
    if !with_state(|s| s.pacing_on).unwrap_or(false) {
        return None;
    }
    // SAFETY: per the caller.
    let account = unsafe { sys::purple_connection_get_account(gc) };
    // SAFETY: the connection's live account.
    let key = unsafe { irc_account(account) }?;
    let ready = with_state(|s| s.pacing.handed(&key, who, line)).flatten();
    Some(Handing {
        key,
        account,
        who: who.to_owned(),
        line: line.to_owned(),
        ready,
    })
}

/// The call [`handing`] announced returned `rc`: a line not taken is withdrawn; a message
/// whose last line this is and that will wait noticeably gets its line.
///
/// # Safety
/// The connection `h` was made for must still be live (the same `send_im` call).
pub(crate) unsafe fn handed(h: Option<Handing>, rc: i32) {
    let Some(h) = h else {
        return;
    };
    // 0 is "sent, not echoed" in libpurple's send_im convention: taken.
    if rc < 0 {
        let _ = with_state(|s| s.pacing.withdraw(&h.key, &h.line));
        return;
    }
    let Some(ready) = h.ready else {
        return;
    };
    // SAFETY: the connection's live account (per the caller).
    let Some(r) = (unsafe { ConvRef::from_account(h.account, &h.who) }) else {
        return;
    };
    let text = service::sent_text(&r, &ready.first);
    // SAFETY: likewise.
    let limiter = unsafe { limiter(h.account) };
    let now = Instant::now();
    let Some(slow) =
        with_state(|s| s.pacing.ready(&h.key, ready.seq, text, now, limiter)).flatten()
    else {
        return;
    };
    let line = texts::slow_to_arrive(&Shown::new(&r.peer), slow.pieces, slow.seconds);
    let _ = with_state(|s| {
        if s.pace_lines.len() < LINES_WAITING {
            s.pace_lines.push((r, line));
        }
        if s.pace_due.is_none() {
            s.pace_due = Some(Timeout::soon(write_lines));
        }
    });
}

/// The 0 ms timeout [`handed`] set: writes the lines waiting, after libpurple's own write of
/// the message.
unsafe extern "C" fn write_lines(_data: sys::gpointer) -> sys::gboolean {
    ffi_boundary!(0, {
        let lines = with_state(|s| {
            if let Some(due) = s.pace_due.take() {
                due.ran();
            }
            std::mem::take(&mut s.pace_lines)
        })
        .unwrap_or_default();
        for (r, line) in lines {
            r.system_line(&line);
        }
        0
    })
}

/// The connection of an IRC account wrote `raw` (`irc-sending-text`).
pub(crate) fn left(key: &str, raw: &str, now: Instant) {
    let _ = with_state(|s| s.pacing.left(key, raw, now));
}

/// `signing-off(gc)`: the connection goes, and libpurple's queue with it. Each message with
/// pieces still waiting is told, with its text (see the module docs).
pub(crate) unsafe extern "C" fn signing_off(gc: *mut sys::PurpleConnection, _data: *mut c_void) {
    ffi_boundary!((), {
        non_null!(gc);
        // SAFETY: the signal's live connection and its account.
        let account = unsafe { sys::purple_connection_get_account(gc) };
        // SAFETY: likewise.
        unsafe { connection_over(account) };
    })
}

/// `account`'s connection is over (`signing-off`), or its account signed off or on
/// (`account-signed-off`/`-on`: lines handed after `signing-off`, by another plugin's handler
/// of it, were freed with the queue too, and must not count on the next connection). Each
/// message with pieces still waiting is told, with its text.
///
/// # Safety
/// `account` must be null or live.
pub(crate) unsafe fn connection_over(account: *mut sys::PurpleAccount) {
    if account.is_null() {
        return;
    }
    // SAFETY: per the caller.
    let Some(key) = (unsafe { irc_account(account) }) else {
        return;
    };
    let cut = with_state(|s| s.pacing.cut_off(&key)).unwrap_or_default();
    for c in cut {
        // SAFETY: per the caller.
        let Some(r) = (unsafe { ConvRef::from_account(account, &c.to) }) else {
            continue;
        };
        let text = c.text.as_deref().map(String::as_str);
        // The line carries the text: wiped too once written.
        let line = SecretString::new(texts::not_delivered_in_full(
            &Shown::new(&r.peer),
            c.waiting,
            c.pieces,
            text,
        ));
        if !state::is_quitting() {
            r.conversation_or_new();
        }
        if r.conversation().is_null() && state::is_quitting() {
            glue::debug_warning("a message cut off while quitting: no window to tell it");
            continue;
        }
        r.failure_line(&line);
        // The window may close before the user sees it, in this same turn: libpurple deletes
        // an account by disabling it (this `signing-off`), then destroys its windows.
        let conv = r.conversation() as usize;
        if conv != 0 && !state::is_quitting() {
            let _ = with_state(|s| {
                s.pace_told.push((conv, line));
                if s.pace_told_due.is_none() {
                    s.pace_told_due = Some(Timeout::soon(forget_told));
                }
            });
        }
        // `c.text` is wiped here, as it drops (and the line, once the turn is over).
    }
}

/// The IRC contact `old` (the name the conversation had) now goes by `r`'s name (the window
/// followed its nick change): each message to `old` with pieces still waiting in libpurple's
/// queue is told as maybe NOT delivered in full, with its text, in `r`'s window. Those pieces
/// were queued addressed to the old nick and leave so: to whoever holds it then, or nowhere
/// (found by a read-only review: the window showed the message as sent, and when no piece had
/// reached the contact nothing ever said otherwise).
pub(crate) fn renamed(r: &ConvRef, old: &str) {
    let account = r.account();
    // SAFETY: `account` is null or live (looked up just now).
    let Some(key) = (unsafe { irc_account(account) }) else {
        return;
    };
    // A name handed to `send_im` is the old nick when its conversation key is the old one
    // (libpurple's normalization, as the key was made: an IRC fold alone missed accented
    // nicks, and took `bob{` for `bob[` on servers that tell them apart). An IRC key is
    // libpurple's normalization alone, which reads no state of ours: safe inside `with_state`.
    let was_old = |to: &str| r.with_peer(to).key().peer == old;
    let cut = with_state(|s| s.pacing.renamed(&key, was_old)).unwrap_or_default();
    for c in cut {
        let text = c.text.as_deref().map(String::as_str);
        let line = SecretString::new(texts::not_delivered_renamed(
            &Shown::new(old),
            &Shown::new(&r.peer),
            c.waiting,
            c.pieces,
            text,
        ));
        r.failure_line(&line);
    }
}

/// A window closes (`deleting-conversation`): a line [`connection_over`] wrote into it in this
/// same turn of the main loop, which nobody can have read, is shown in a box instead (found by
/// a read-only review: deleting an IRC account while a long message's pieces waited lost the
/// line, and with it the only copy of the text).
pub(crate) fn window_closing(conv: *mut sys::PurpleConversation) {
    let conv = conv as usize;
    let told: Vec<SecretString> = with_state(|s| {
        let (gone, kept) = std::mem::take(&mut s.pace_told)
            .into_iter()
            .partition(|(c, _)| *c == conv);
        s.pace_told = kept;
        gone.into_iter().map(|(_, line)| line).collect()
    })
    .unwrap_or_default();
    for line in told {
        glue::notify(
            std::ptr::null_mut(),
            true,
            "An encrypted message was NOT delivered in full, and its window closed",
            &line,
        );
    }
}

/// The 0 ms timeout [`connection_over`] set: the turn is over, and the lines it wrote stay in
/// windows still open (their copies here are wiped).
unsafe extern "C" fn forget_told(_data: sys::gpointer) -> sys::gboolean {
    ffi_boundary!(0, {
        let _ = with_state(|s| {
            if let Some(due) = s.pace_told_due.take() {
                due.ran();
            }
            s.pace_told.clear();
        });
        0
    })
}

/// The plugin stops: each message still waiting is said to go on unfollowed, in its window if
/// open. Everything followed is forgotten (texts wiped).
pub(crate) fn stop() {
    let still = with_state(|s| {
        s.pace_lines.clear();
        s.pace_due = None;
        s.pace_told.clear();
        s.pace_told_due = None;
        s.pacing.stop()
    })
    .unwrap_or_default();
    let mut unseen = Vec::new();
    for (key, to, waiting) in still {
        let Some((protocol, account)) = super::irc::log_key_parts(&key) else {
            continue;
        };
        let r = ConvRef {
            protocol: protocol.to_owned(),
            account: account.to_owned(),
            peer: to,
        };
        let line = texts::still_going_out(&Shown::new(&r.peer), waiting);
        if r.conversation().is_null() {
            unseen.push(format!("Sotto is {line}"));
        } else {
            r.system_line(&line);
        }
    }
    // A message whose window was closed: said in a box (no window to write in, and the
    // warning was the only one the user would get; found by a read-only review). Owned by no
    // handle: libpurple closes the plugin's own notifications as it unloads.
    if !unseen.is_empty() {
        glue::notify_long(
            std::ptr::null_mut(),
            "Sotto was turned off while a message was still going out",
            &unseen.join("\n\n"),
        );
    }
}
