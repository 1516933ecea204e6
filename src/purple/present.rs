//! The presenter: what the user sees of a decision. It sends the lines the sessions service
//! produced, writes one line (or opens one dialog) per event, and keeps the window's title and
//! logging in step with the conversation's state. Everything here runs with the state released,
//! because sending and writing re-enter our signal handlers.

use std::borrow::Cow;

use crate::protocol::{ConvState, Event, HandedBack, Policy, UnreadableReason};
use crate::sessions::{ConvKey, ConvRef, Effects, Notice, OtherClient};
use crate::store::Trust;

use super::bindings as sys;
use super::glue::{self, prefs};
use super::markup;
use super::service;
use super::state::{with_state, Decorating, Quiet, TitleMark};
use super::texts::{self, Shown};

/// Whether encrypted conversations go to the logs (`log_encrypted`).
pub(crate) fn log_encrypted() -> bool {
    prefs::boolean(prefs::LOG_ENCRYPTED)
}

/// Sends the lines made for the contact's other clients, each addressed to its client (`r`
/// names the account). One that does not go out leaves that client without the message, never
/// the main one.
pub(crate) fn send_elsewhere(r: &ConvRef, elsewhere: &[(String, String)]) {
    for (address, line) in elsewhere {
        let to = r.with_peer(address.as_str());
        if !super::xmpp::to_other_client(|| to.send_raw(line)) {
            glue::debug_warning("could not send a line to another client of the contact");
        }
    }
}

/// [`apply`] for the user's start or stop (`/sotto start|stop`, the menu): a line that did not
/// go out (offline) is said, with what it means. A stop is done here all the same (the
/// session is gone), but the contact's client was not told and keeps encrypting to it.
pub(crate) fn apply_start_or_stop(r: &ConvRef, fx: Effects, start: bool) {
    let lines = !fx.inject.is_empty();
    if !apply(r, fx) && lines {
        let peer = texts::Shown::new(&r.peer);
        // From the buddy list no window may be open (a start opens none): a box then.
        r.failure_line(&if start {
            texts::start_not_sent(&peer)
        } else {
            texts::end_not_told(&peer)
        });
    }
}

/// Send the injected lines, write one line per event, and make the window match the state.
/// `r` names the conversation (its account); the lines go to `fx.reply_to`. Returns whether
/// every line went out (a held message whose line did not go out is shown as not sent).
pub(crate) fn apply(r: &ConvRef, fx: Effects) -> bool {
    apply_lines(r, fx).is_none()
}

/// [`apply`], which returns the index in `fx.inject` of the first line that did not go out
/// (`None`: every line went).
pub(crate) fn apply_lines(r: &ConvRef, fx: Effects) -> Option<usize> {
    let r = r.with_peer(fx.reply_to.as_str());
    let mut all_sent = true;
    let mut first_not_sent = None;
    // A start of our own goes to the contact's bare JID: every client of the contact hears it.
    let every_client = r.with_peer(r.peer.split('/').next().unwrap_or(&r.peer));
    let to = if fx.to_every_client {
        &every_client
    } else {
        &r
    };
    // A line refused as too large goes again in smaller pieces (`send_or_cut`).
    let mut cut = None;
    // Whether the first line that did not go was refused as too large (and could not be cut).
    let mut too_large = false;
    let mut i = 0;
    while i < fx.inject.len() {
        match send_or_cut(to, &fx.inject, i, &mut cut) {
            Some(went) => i += went,
            None => {
                glue::debug_warning("could not send a protocol line (offline?)");
                if all_sent {
                    too_large = super::prpl::size_refusal().is_some();
                }
                all_sent = false;
                first_not_sent.get_or_insert(i);
                // The rest of its pieces, if it was a line's first: unreadable without it.
                i += super::fragsize::piece_group_len(&fx.inject, i);
            }
        }
    }
    if let Some((refused, size)) = cut {
        tell_cut(&r, refused, size);
    }
    // The contact's other clients' lines, once the main client's have all gone out: when one
    // of those did not, the typed message is shown as not sent, and the other clients must not
    // have it either (typed again, they got it twice). Their handshake answers and notices
    // wait too (the client starts or asks again). (A typed message's last line goes after
    // this, through libpurple: its caller keeps them until that line went, `send_elsewhere`.)
    if all_sent {
        send_elsewhere(&r, &fx.elsewhere);
    }
    // A warning about the contact of an encrypted conversation opens its window when it is
    // closed (it was dropped: the window libpurple then opened for a plaintext line was marked
    // encrypted and showed the line with no word). An unreadable line, or a not-read notice
    // that names no message we sent, opens one only for a conversation that is encrypted:
    // garbage from names never talked to opens nothing.
    let encrypted = || service::conv_state(&r) == Some(ConvState::Encrypted);
    let wants_window = !fx.never_open
        && (fx.force_window
            || fx.events.iter().any(|e| match e {
                Event::Started { .. }
                | Event::Ended { .. }
                | Event::QueuedSent { .. }
                | Event::Unsent { .. }
                | Event::NotResent { .. }
                | Event::PlaintextWhileEncrypted
                | Event::NotRead { text: Some(_), .. }
                // A question's result (authenticated: it comes over the session): the user
                // waits for it, maybe with the window closed since asking; so does the end of
                // a run short of one (the asker would wait on; the answerer's dialog closes and
                // the window says why), and a question asked (its line beside the dialog).
                | Event::VerificationResult { .. }
                | Event::VerificationAborted
                | Event::VerificationUnconfirmed
                | Event::VerificationQuestion { .. } => true,
                // A start of ours that lapsed with messages still held and no session (told
                // by the sweep, maybe long after the window was closed): they must not stay
                // held unseen.
                Event::HandshakeExpired {
                    queued,
                    session_goes_on,
                } => *queued > 0 && !*session_goes_on,
                // Unauthenticated words about a message we cannot name: only where a session is.
                Event::NotRead { text: None, .. } | Event::Unreadable { .. } => encrypted(),
                // A handshake that failed: where the user waits on a start of this side's, or
                // a session is. An answer to a start nobody here asked for (a `?S1I` with a
                // rejected key, which anyone can send from any name) opened a window for
                // every name that sent one, past the strangers' budget, which counts only
                // lines sent (found by a hostile review of the receive paths).
                Event::HandshakeFailed { .. } => matches!(
                    service::conv_state(&r),
                    Some(ConvState::Encrypted | ConvState::Handshaking)
                ),
                _ => false,
            })
            || !fx.notices.is_empty());
    if wants_window {
        r.conversation_or_new();
    }
    let window_may_change = !fx.events.is_empty() || !fx.notices.is_empty();
    // Offline with the window closed, no window can open: what was typed and not sent is
    // shown in a message box instead, never dropped unseen.
    let windowless = r.conversation().is_null();
    let mut unshown = Vec::new();
    for event in fx.events {
        match event {
            // Its line did not go out: say so, with the text, rather than show it as sent
            // (or as sent again).
            Event::QueuedSent { text } | Event::Resent { text, .. } if !all_sent => {
                reset_held(&r);
                let line = texts::not_sent_refused(&text, too_large);
                if windowless {
                    unshown.push(line);
                } else {
                    r.system_line(&line);
                }
            }
            Event::Unsent { text, why } if windowless => {
                reset_held(&r);
                unshown.push(texts::unsent(&Shown::new(&r.peer), why, &text));
            }
            Event::NotResent { text } if windowless => {
                unshown.push(texts::not_resent(&Shown::new(&r.peer), &text));
            }
            event => write_event(&r, event),
        }
    }
    if !unshown.is_empty() {
        // The only copy of the texts left: a box that shows all of them, however long. Owned
        // by no plugin: at unload (`stop_all` hands texts back) libpurple closes the plugin's
        // notifications right after, which took the texts with it.
        glue::notify_long(
            std::ptr::null_mut(),
            &texts::not_sent_to(&Shown::new(&r.peer)),
            &unshown.join("\n\n"),
        );
    }
    // A message in, a message out, with nothing else to say, changes nothing about the window
    // (a quarter of the plugin's time per message went into redecorating it anyway). Renames,
    // new windows and title resets redecorate from their own signals.
    for notice in &fx.notices {
        let line = notice_line(&r, notice);
        // Said for a line anyone can send under the contact's name (no user action, nothing
        // typed): one line per interval, as for other unauthenticated lines (each Sotto line
        // wrote it again; found by a read-only review).
        let line = match notice {
            Notice::Unrestorable { unsent: None, .. } if !fx.force_window => {
                match quiet_count(&r, Quiet::Unrestorable) {
                    Some(unreported) => {
                        texts::with_unreported(line, Quiet::Unrestorable, unreported)
                    }
                    None => continue,
                }
            }
            _ => line,
        };
        r.system_line(&line);
        // A second client's key: the same choice in a dialog, bound to exactly this key.
        if let Notice::OtherClient {
            address,
            what: OtherClient::KeyNotAccepted { fingerprint },
        } = notice
        {
            if let Some(key) = service::other_client_key(&r, fingerprint) {
                super::dialogs::other_client_key(&r, address, key);
            }
        }
    }
    if window_may_change {
        redecorate(&r);
    }
    first_not_sent
}

/// Sends `lines[at]`; refused as too large (`-E2BIG`, [`super::prpl::take_size_refusal`]), the
/// same line again in smaller pieces ([`super::fragsize::recut`]: the receiver puts them back
/// together into that very line, so nothing else changes), each of which may be cut again
/// (each time shorter: the protocol's cap comes down with every refusal, and a line is cut only
/// below its own length). How many of `lines` went (a line's pieces, cut before, count all);
/// `None`: it did not go (what the refusal said stays for the caller when the line could not
/// be cut here). `cut` gathers the longest line refused and the smallest cut, for one line.
fn send_or_cut(
    to: &ConvRef,
    lines: &[String],
    at: usize,
    cut: &mut Option<(usize, usize)>,
) -> Option<usize> {
    let line = lines.get(at)?;
    // (What an earlier line's refusal said is not this line's.)
    let _ = super::prpl::take_size_refusal();
    if to.send_raw(line) {
        return Some(1);
    }
    let refusal = super::prpl::size_refusal()?;
    let size = refusal.cut_to?;
    let (pieces, stands_for) = super::fragsize::recut(lines, at, size, &mut rand_core::OsRng)?;
    let _ = super::prpl::take_size_refusal();
    *cut = Some(cut.map_or((refusal.refused, size), |(r, s)| {
        (r.max(refusal.refused), s.min(size))
    }));
    let mut k = 0;
    while k < pieces.len() {
        k += send_or_cut(to, &pieces, k, cut)?;
    }
    Some(stands_for)
}

/// One line of Sotto's in `r`'s window (when one is open): the protocol refused a line of
/// `refused` characters as too large, and its lines are cut to `size` from now on.
fn tell_cut(r: &ConvRef, refused: usize, size: usize) {
    if !r.conversation().is_null() {
        let protocol = glue::protocol_name(r);
        r.system_line(&texts::lines_cut_smaller(&protocol, refused, size));
    }
}

/// `line`, the last of a typed message, was refused as too large (`refusal`) as libpurple
/// handed it down: sent in smaller pieces instead, when it is a whole line (a message of one
/// line). Whether they all went.
pub(crate) fn cut_and_send(r: &ConvRef, line: &str, refusal: super::fragsize::Refusal) -> bool {
    let Some(size) = refusal.cut_to else {
        return false;
    };
    let lines = [line.to_owned()];
    let Some((pieces, _)) = super::fragsize::recut(&lines, 0, size, &mut rand_core::OsRng) else {
        return false;
    };
    tell_cut(r, refusal.refused, size);
    apply(r, lines_only(r, pieces))
}

/// Nothing but `lines`, to `r`'s contact: a line of a typed message cut again.
fn lines_only(r: &ConvRef, lines: Vec<String>) -> Effects {
    Effects {
        inject: lines,
        reply_to: r.peer.clone(),
        ..Effects::default()
    }
}

/// A typed message in pieces: all but the last (`all`'s last) were handed to [`apply_lines`],
/// and its first piece was refused as too large (`-E2BIG`; it could not be cut there, its last
/// piece being elsewhere). The message's line put together again and cut smaller, as often as
/// the protocol's cap comes down: the new pieces but the last are sent, and the last is
/// returned for libpurple to hand down as the message's (`None`: not sent).
pub(crate) fn cut_again(r: &ConvRef, mut all: Vec<String>) -> Option<String> {
    loop {
        let refusal = super::prpl::take_size_refusal()?;
        let size = refusal.cut_to?;
        let (mut pieces, _) = super::fragsize::recut(&all, 0, size, &mut rand_core::OsRng)?;
        let last = pieces.pop()?;
        tell_cut(r, refusal.refused, size);
        match apply_lines(r, lines_only(r, pieces.clone())) {
            None => return Some(last),
            // Its new first piece refused again: cut smaller still (the cap came down).
            Some(0) => {
                pieces.push(last);
                all = pieces;
            }
            // A later piece did not go after the first did: not sent.
            Some(_) => return None,
        }
    }
}

/// The line for a notice of the sessions service in `r`'s window. Those that offer
/// `/sotto stop` as the way to plaintext are told whether the policy it would have to lift is
/// 'always' (the contact's, or for another spelling of an IRC nick, that nick's).
pub(crate) fn notice_line(r: &ConvRef, notice: &Notice) -> String {
    let always = |r: &ConvRef| service::policy(r) == Policy::Always;
    let always = match notice {
        Notice::Moved { .. } | Notice::NameTaken { .. } | Notice::Unrestorable { .. } => always(r),
        Notice::SameIrcNick { twin, .. } => always(&r.with_peer(twin.as_str())),
        _ => false,
    };
    texts::notice(&r.peer, notice, always)
}

fn write_event(r: &ConvRef, event: Event) {
    let peer = &Shown::new(&r.peer);
    match event {
        Event::Started { fingerprint, .. } => {
            let verified = service::peer_trust(r) == Some(Trust::Verified);
            // Logged only where the window logs: Sotto's preference lets it, and Pidgin's own
            // logging is on for it (the preference alone said "being logged" with Pidgin's
            // logging off, and a user relying on a record found none).
            let logged = log_encrypted() && {
                let conv = r.conversation_or_new();
                // SAFETY: looked up (or opened) just now, live for this call.
                !conv.is_null() && unsafe { sys::purple_conversation_is_logging(conv) != 0 }
            };
            let line = texts::started(peer, &fingerprint.to_string(), verified, logged);
            r.system_line(&line);
            // A new session ends any question-and-answer run of the one before.
            close_stale_answer_dialog(r);
            // And the wait for it: a hold that follows (what waited now waits for the client
            // that finished it, when the server had kept its line) is a new one, said again.
            reset_held(r);
        }
        Event::Held { queued, reason } => {
            let first = with_state(|state| {
                let w = state.windows.entry(r.key()).or_default();
                !std::mem::replace(&mut w.held_notified, true)
            })
            .unwrap_or(true);
            if first {
                r.system_line(&texts::held(queued, reason));
            }
        }
        Event::QueuedSent { text } => {
            reset_held(r);
            show_sent(r, &text);
        }
        Event::Unsent { text, why } => {
            reset_held(r);
            r.system_line(&texts::unsent(peer, why, &text));
        }
        Event::NotResent { text } => r.system_line(&texts::not_resent(peer, &text)),
        // Already one line per interval (the conversation's own limit, which it has counted as
        // told): never swallowed by the window's limit on unreadable lines.
        Event::Unreadable {
            reason: UnreadableReason::Incomplete { .. },
        } => {
            if let Some(line) = texts::event(peer, &event) {
                r.system_line(&line);
            }
        }
        Event::Unreadable { .. } | Event::PeerError { .. } | Event::HandshakeFailed { .. } => {
            let kind = match event {
                Event::Unreadable { .. } => Quiet::Unreadable,
                Event::PeerError { .. } => Quiet::PeerError,
                _ => Quiet::HandshakeFailed,
            };
            if let Some(line) = quiet_line(r, kind, &event) {
                r.system_line(&line);
            }
        }
        Event::PeerKeyChanged { fingerprint } => {
            r.system_line(&texts::key_changed(peer, &fingerprint.to_string()));
            // The dialog accepts exactly the key it shows: the one this event is about.
            if let Some(key) = service::peer_key(r).filter(|k| k.fingerprint() == fingerprint) {
                super::dialogs::key_changed(r, key);
            }
        }
        Event::NamesMismatch {
            stated_self,
            stated_peer,
        } => {
            let me = r.names().me;
            let key = service::peer_key(r);
            let fingerprint = key.map(|k| k.fingerprint().to_string()).unwrap_or_default();
            r.system_line(&texts::names_mismatch(
                peer,
                &Shown::new(&me),
                &stated_self,
                &stated_peer,
                &fingerprint,
            ));
            if let Some(key) = key {
                super::dialogs::names_mismatch(r, key, &me, &stated_self, &stated_peer);
            }
        }
        Event::VerificationQuestion { question } => {
            // The dialog first (it may not open: questions asked in a row), then the line
            // that says where to answer; the dialog is a window of its own.
            let dialog = super::dialogs::question_arrived(r, &question);
            r.system_line(&if service::key_not_accepted(r) {
                texts::question_asked_unaccepted(peer, &question, dialog)
            } else {
                texts::question_asked(peer, &question, dialog)
            });
        }
        other => {
            // The run is over (aborted by either side, decided, its session ended): a dialog
            // still open for its question is stale.
            if matches!(
                other,
                Event::VerificationAborted
                    | Event::VerificationUnconfirmed
                    | Event::VerificationResult { .. }
                    | Event::Ended { .. }
            ) {
                close_stale_answer_dialog(r);
            }
            // An answer of the user's that went to a run that failed, or ended without a
            // result: whoever asked learned whether one guess was right. The next question on
            // this key says so in its dialog (a review of trust, 2026-12-07).
            let key = r.key();
            match &other {
                Event::VerificationResult {
                    success: false,
                    we_asked: false,
                    ..
                }
                | Event::VerificationUnconfirmed => {
                    let _ = with_state(|state| state.answer_dialogs.answer_spent(&key));
                }
                Event::VerificationResult { success: true, .. } => {
                    let _ = with_state(|state| state.answer_dialogs.answers_settled(&key));
                }
                _ => {}
            }
            // The start lapsed (its line says what stays held): what is typed next tries again,
            // a new wait, and its "held" line is said again, or the text would vanish unseen.
            if matches!(other, Event::HandshakeExpired { .. }) {
                reset_held(r);
            }
            if let Some(line) = texts::event(peer, &other) {
                if other == Event::PlaintextWhileEncrypted {
                    r.arrival_line(&line);
                } else {
                    r.system_line(&line);
                }
            }
        }
    }
}

/// Closes the answer dialog open for `r` unless its contact's question still waits.
fn close_stale_answer_dialog(r: &ConvRef) {
    if !service::question_pending(r) {
        super::dialogs::close_answer_dialog(r);
    }
}

/// The line for `event`, a kind anyone can provoke with unauthenticated lines, unless its kind
/// was written in this window less than [`Quiet::SECS`] ago (see [`super::state::Window::may_write`]); the
/// next one written says how many were not. Nothing is remembered for a conversation with no
/// window (nothing would be written there).
fn quiet_line(r: &ConvRef, kind: Quiet, event: &Event) -> Option<String> {
    let unreported = quiet_count(r, kind)?;
    let line = texts::event(&Shown::new(&r.peer), event)?;
    Some(texts::with_unreported(line, kind, unreported))
}

/// Whether a line of `kind` may be written in `r`'s window now: how many were not since the
/// last one (`None`: not now, counted; or no window, where nothing is remembered).
fn quiet_count(r: &ConvRef, kind: Quiet) -> Option<usize> {
    if r.conversation().is_null() {
        return None;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    with_state(|state| {
        state
            .windows
            .entry(r.key())
            .or_default()
            .may_write(kind, now)
    })
    .flatten()
}

/// A data line to `r` came back undelivered (`condition`: the server's reason), known by its
/// stanza (`ours`), by its text, or neither (forged, or sent before a restart). The contact's
/// window opens and says so, with the text while the conversation remembers it: the user sees
/// what did not arrive instead of nothing, or a dialog with the encrypted line in it.
///
/// A message handed back again says nothing (and opens nothing), whatever bytes follow its
/// header, as does the same line again; a line whose text is not remembered is kept quiet like
/// other unauthenticated lines (one line per interval). Whether a line was written: an IRC 401
/// leaves libpurple's own line when none was.
pub(crate) fn undelivered(r: &ConvRef, line: &str, condition: &str, ours: bool) -> bool {
    let text = match service::handed_back(r, line) {
        HandedBack::Again => return false,
        HandedBack::First(text) => text,
        HandedBack::Unknown => None,
    };
    // Known neither by its stanza nor by its text (forged, or from before a restart): a window
    // opens for it only where the conversation is encrypted (unauthenticated words about a
    // message we cannot name, as for an unreadable line), never for any name that writes.
    let opens = ours || text.is_some() || service::conv_state(r) == Some(ConvState::Encrypted);
    let head: String = line.trim().chars().take(64).collect();
    let first = with_state(|state| {
        if state.bounced.contains(&head) {
            return false;
        }
        if state.bounced.len() >= super::state::BOUNCES_KEPT {
            state.bounced.pop_front();
        }
        state.bounced.push_back(head);
        true
    })
    .unwrap_or(false);
    if !first || !opens || r.conversation_or_new().is_null() {
        return false;
    }
    let unreported = if text.is_some() {
        Some(0)
    } else {
        quiet_count(r, Quiet::Undelivered)
    };
    if let Some(unreported) = unreported {
        let text = text.as_deref().map(String::as_str);
        let said = texts::undelivered(&Shown::new(&r.peer), text, condition);
        r.system_line(&texts::with_unreported(
            said,
            Quiet::Undelivered,
            unreported,
        ));
        // Marked once said (a line not written, for a window that could not open, leaves the
        // message to be told by a later copy).
        service::told_handed_back(r, line);
        return true;
    }
    false
}

/// Show `text` in `r`'s window as a message we sent (for text libpurple does not echo itself:
/// flushed queues, encrypted IRC commands). Not logged unless `log_encrypted`: the window's
/// logging is off while encrypted ([`redecorate`]), so the line is an ordinary sent message
/// (Pidgin draws `NO_LOG` lines grey, without name or time).
pub(crate) fn show_sent(r: &ConvRef, text: &str) {
    redecorate(r);
    let mut flags = sys::PURPLE_MESSAGE_SEND;
    if must_not_log(r) {
        flags |= sys::PURPLE_MESSAGE_NO_LOG;
    }
    let me = r.own_display_name().unwrap_or_else(|| r.account.clone());
    super::echo::let_through(r, text);
    super::echo::writing_sent(r);
    r.write(Some(&me), &super::markup::text_to_html(text), flags);
}

/// Whether `r`'s window would log a message it must not: it is still logging although encrypted
/// text is not to be logged. A last line of defence; [`redecorate`] normally turned logging off.
pub(crate) fn must_not_log(r: &ConvRef) -> bool {
    let conv = r.conversation();
    // SAFETY: `conv` was looked up just now and is live for this call.
    !conv.is_null() && unsafe { logs_encrypted_text(conv) }
}

/// Whether the window `conv` logs although encrypted text is not to be logged.
///
/// # Safety
/// `conv` must be a live conversation.
pub(crate) unsafe fn logs_encrypted_text(conv: *mut sys::PurpleConversation) -> bool {
    // SAFETY: per the caller.
    !log_encrypted() && unsafe { sys::purple_conversation_is_logging(conv) != 0 }
}

/// Whether a decrypted message for `r` must be marked not to be logged: its window logs
/// ([`must_not_log`]), or none is open and the one libpurple opens for it will (from
/// `log_ims`) without Sotto turning that off (it does for an encrypted conversation, and for
/// one another client's session reads, in `conversation-created`). Not marked otherwise:
/// Pidgin draws `NO_LOG` lines grey, without name or time.
pub(crate) fn must_not_log_read(r: &ConvRef) -> bool {
    must_not_log(r)
        || (!log_encrypted()
            && r.conversation().is_null()
            && prefs::boolean("/purple/logging/log_ims")
            && service::conv_state(r) != Some(ConvState::Encrypted)
            && !service::another_client_reads(r))
}

fn reset_held(r: &ConvRef) {
    let _ = with_state(|state| {
        if let Some(w) = state.windows.get_mut(&r.key()) {
            w.held_notified = false;
        }
    });
}

/// Make the window match the session: title marked and logging off while encrypted (unless the
/// user logs encrypted conversations), restored afterwards.
///
/// The mark is decided from Sotto's state and from the title Sotto itself set, never from the
/// title's text: the title is libpurple's alias of the contact, which the user, the server and
/// (on XMPP) the contact's published nickname control. A plaintext window whose own title ends
/// like the mark ("bob (encrypted)") is marked as not encrypted instead. Title changes are
/// guarded: `set_title` emits `conversation-updated`, which calls this again, and that inner
/// call returns at once.
pub(crate) fn redecorate(r: &ConvRef) {
    let conv = r.conversation();
    if conv.is_null() {
        return;
    }
    let Some(_ours) = Decorating::enter() else {
        return;
    };
    let log = log_encrypted();
    // SAFETY: `conv` was looked up just now and is live for this call.
    let is_logging = unsafe { sys::purple_conversation_is_logging(conv) != 0 };
    // A window opened after a restart belongs to a session that may still be in the store.
    let encrypted = service::conv_state(r) == Some(ConvState::Encrypted);
    // Another client's session reads after the main one ended: not logged either. Its words
    // used to be written `NO_LOG` instead, which Pidgin draws without name or time, the look
    // of a Sotto line.
    let unlogged = encrypted || service::another_client_reads(r);
    // Held on a key not accepted for this name: said in the title too, not "(encrypted)" alone.
    let mark = match (encrypted, service::waiting(r)) {
        (false, _) => Mark::Plain,
        (true, Some((_, true))) if service::held_for_names(r) => Mark::NamesDiffer,
        (true, Some((_, true))) => Mark::KeyNotAccepted,
        (true, _) => Mark::Encrypted,
    };
    // SAFETY: live conversation.
    let title = unsafe { glue::conversation_title(conv) }.unwrap_or_default();
    // Decide with the state borrowed; act after. Every window of an encrypted session is kept
    // from logging, also one opened after the first (libpurple creates it with logging from
    // the `log_ims` preference).
    let decision = with_state(|state| {
        let w = state.windows.entry(r.key()).or_default();
        let set_logging = if unlogged && !log {
            w.logging_saved.get_or_insert(is_logging);
            Some(false)
        } else {
            // Nothing encrypted reads, or the user now logs encrypted conversations: what the
            // window did before Sotto turned its logging off.
            w.logging_saved.take()
        };
        let ours = w.title.take();
        let (title_change, shown) = retitle(&title, ours, mark);
        w.title = shown;
        (set_logging, title_change)
    });
    let Some((set_logging, title_change)) = decision else {
        return;
    };
    // Whether a step here emitted a signal (`conversation-updated`), which another plugin may
    // answer by closing a window, this one too: looked up again before the next step, by its
    // address and its window number (a new window may get a closed one's address; a false
    // "(encrypted)" set on it would be a lie).
    let mut emitted = false;
    // SAFETY: `conv` is live (looked up above).
    let number = unsafe { super::windows::known(conv) }.map(|(id, _)| id);
    let still_here = || {
        // SAFETY: read only once found in libpurple's list of open conversations.
        glue::still_open(conv) && unsafe { super::windows::known(conv) }.map(|(id, _)| id) == number
    };
    if let Some(logging) = set_logging {
        if logging != is_logging {
            // SAFETY: live conversation.
            unsafe { sys::purple_conversation_set_logging(conv, i32::from(logging)) };
            emitted = true;
        }
    }
    if unlogged && !log {
        // Another window showing this conversation (one left over from a rename onto a name
        // it still carries): what is typed there is encrypted too, or what is read there is
        // another client's decrypted words, so it is not logged either. Its logging is not
        // given back later (it stays off: the safe side).
        let except = number.unwrap_or(usize::MAX);
        for other in super::windows::others_showing(&r.key(), except) {
            if emitted && !glue::still_open(other) {
                continue;
            }
            // SAFETY: in libpurple's open conversations just now.
            unsafe {
                if sys::purple_conversation_is_logging(other) != 0 {
                    sys::purple_conversation_set_logging(other, 0);
                    emitted = true;
                }
            }
        }
    }
    if emitted && !matches!(title_change, TitleChange::Keep) && !still_here() {
        return;
    }
    match title_change {
        TitleChange::Keep => {}
        TitleChange::Set(t) => {
            let t = glue::cstring(&t);
            // SAFETY: live conversation, valid string (copied by libpurple).
            unsafe { sys::purple_conversation_set_title(conv, t.as_ptr()) };
        }
        TitleChange::Restore => {
            // SAFETY: live conversation.
            unsafe { sys::purple_conversation_autoset_title(conv) };
            // (Its `conversation-updated` may have had the window closed.)
            if !still_here() {
                return;
            }
            // libpurple's own title may itself claim encryption (the contact named itself
            // "Bob (encrypted)" while the mark stood, so it looked like ours): judged again
            // now, inside this guard, since the `conversation-updated` just emitted was not.
            // SAFETY: live conversation.
            let now = unsafe { glue::conversation_title(conv) }.unwrap_or_default();
            let (again, shown) = retitle(&now, None, mark);
            let _ = with_state(|state| state.windows.entry(r.key()).or_default().title = shown);
            if let TitleChange::Set(t) = again {
                let t = glue::cstring(&t);
                // SAFETY: live conversation, valid string (copied by libpurple).
                unsafe { sys::purple_conversation_set_title(conv, t.as_ptr()) };
            }
        }
    }
}

/// Watch Sotto's "log encrypted conversations" preference: every open window is made to match
/// it at once (unticked during a session, the window stopped logging only at the session's next
/// event, and what the user typed meanwhile was logged).
///
/// # Safety
/// `plugin` must be the plugin being loaded.
pub(crate) unsafe fn follow_log_preference(plugin: *mut sys::PurplePlugin) {
    unsafe extern "C" fn changed(
        _name: *const std::ffi::c_char,
        _kind: sys::PurplePrefType,
        _value: sys::gconstpointer,
        _data: sys::gpointer,
    ) {
        super::boundary::ffi_boundary!((), {
            for conv in glue::open_ims() {
                // (Redecorating one window may have another closed.)
                if !glue::still_open(conv) {
                    continue;
                }
                // SAFETY: in libpurple's open conversations just now.
                if let Some(r) = unsafe { ConvRef::from_conversation(conv) } {
                    redecorate(&r);
                }
            }
        })
    }
    // SAFETY: per the caller.
    unsafe { on_preference_change(plugin, prefs::LOG_ENCRYPTED, changed) };
}

/// Connects `changed` to the preference `path` for `plugin`.
///
/// # Safety
/// `plugin` must be the plugin being loaded (libpurple disconnects its callbacks at unload).
unsafe fn on_preference_change(
    plugin: *mut sys::PurplePlugin,
    path: &str,
    changed: unsafe extern "C" fn(
        *const std::ffi::c_char,
        sys::PurplePrefType,
        sys::gconstpointer,
        sys::gpointer,
    ),
) {
    let path = glue::cstring(path);
    // SAFETY: `plugin` is live (per the caller), the path is valid for the call (libpurple
    // copies it), and `changed` has `PurplePrefCallback`'s signature.
    unsafe {
        sys::purple_prefs_connect_callback(
            plugin.cast(),
            path.as_ptr(),
            Some(changed),
            std::ptr::null_mut(),
        );
    }
}

/// Records each change of the preferences the profile's record keeps (`glue::prefs::KEPT`,
/// `store::ProfileRecord`) in it, as the user makes it: only where this process holds the
/// store (a second client on the profile, refused it, writes nothing).
///
/// # Safety
/// `plugin` must be the loaded plugin (libpurple disconnects its callbacks at unload).
pub(crate) unsafe fn keep_preferences_in_record(plugin: *mut sys::PurplePlugin) {
    unsafe extern "C" fn changed(
        name: *const std::ffi::c_char,
        _kind: sys::PurplePrefType,
        _value: sys::gconstpointer,
        _data: sys::gpointer,
    ) {
        super::boundary::ffi_boundary!((), {
            // (The preference's path: a C string libpurple passes for this call.)
            let Some(path) = glue::cstr_to_string(name) else {
                return;
            };
            if let Some(value) = prefs::value_of(&path) {
                service::update_record(&format!("preference {path}"), |r| r.set(&path, &value));
            }
        })
    }
    for path in prefs::KEPT {
        // SAFETY: per the caller.
        unsafe { on_preference_change(plugin, path, changed) };
    }
}

/// `conversation-updated` for logging: the host turned logging on for `conv`, a window of a
/// conversation Sotto keeps from logging (encrypted, or read by another client's session
/// after the main one ended, as [`redecorate`] decides; unless its preference says to log).
/// Pidgin does it at every switch between conversations merged into one tab (from the tab's
/// Enable Logging checkbox), Finch to every conversation with one contact, the user by ticking
/// Enable Logging. Turned off again at once, before anything more is written; what the host
/// wanted is given back when the conversation is no longer encrypted. The window says so once.
///
/// `conv` itself, not the window a lookup by `r`'s name finds: after a rename onto a name an
/// older window still shows, two windows carry that name and the lookup finds the renamed one.
///
/// # Safety
/// `conv` must be live (this callback's conversation), `r` its reference.
pub(crate) unsafe fn logging_changed(conv: *mut sys::PurpleConversation, r: &ConvRef) {
    // A change of Sotto's own (redecorating, or giving logging back at unload) is not the
    // host's: left as it is.
    let Some(_ours) = Decorating::enter() else {
        return;
    };
    if conv.is_null() || log_encrypted() {
        return;
    }
    // SAFETY: live, per the caller.
    if unsafe { sys::purple_conversation_is_logging(conv) } == 0 {
        return;
    }
    let encrypted = service::conv_state(r) == Some(ConvState::Encrypted);
    if !encrypted && !service::another_client_reads(r) {
        return;
    }
    // A window being made: libpurple sets its logging (the "log all IMs" preference) before
    // it has its UI operations (set just before the UI draws it), where a line written is
    // dropped. Turned off all the same, and not told: the one line is kept for the user's own
    // change later (ticking Enable Logging was undone without a word, the line spent on the
    // new window: found by a review of the FFI layer).
    // SAFETY: live, per the caller; libpurple returns the pointer it holds (or NULL).
    let listed =
        glue::still_open(conv) && !unsafe { sys::purple_conversation_get_ui_ops(conv) }.is_null();
    let first = with_state(|state| {
        let w = state.windows.entry(r.key()).or_default();
        w.logging_saved = Some(true);
        listed && !std::mem::replace(&mut w.relog_told, true)
    })
    .unwrap_or(false);
    // SAFETY: live conversation. Emits `conversation-updated` again, logging off: a no-op here
    // (another plugin's handler may close the window: looked up again before writing).
    unsafe { sys::purple_conversation_set_logging(conv, 0) };
    if first && glue::still_open(conv) {
        // SAFETY: live conversation (still listed).
        unsafe { glue::system_line_to(conv, texts::still_not_logged(encrypted)) };
    }
}

/// What to do to a window's title.
#[derive(Debug, PartialEq, Eq)]
enum TitleChange {
    Keep,
    Set(String),
    /// Give the window libpurple's own title back.
    Restore,
}

/// What a window's title says of its conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mark {
    Plain,
    Encrypted,
    /// Encrypted, on a key the user has not accepted for the name (sending held).
    KeyNotAccepted,
    /// Encrypted, on an accepted key, held because the names the session states are not the
    /// ones seen here.
    NamesDiffer,
}

/// The title for a window showing `title` now, given the mark Sotto set last (`ours`) and what
/// the title should say of the conversation (`mark`); and the mark to remember.
fn retitle(title: &str, ours: Option<TitleMark>, mark: Mark) -> (TitleChange, Option<TitleMark>) {
    // libpurple's own title: ours minus our suffix while it stands, else what is shown (libpurple
    // reset it: a rename, an alias change, Pidgin's tab switch).
    let (base, ours_shown) = match ours {
        Some(m) if m.shown == title => (m.base, true),
        _ => (title.to_owned(), false),
    };
    let one_line = one_line_title(&base);
    let suffix = if mark == Mark::Encrypted {
        Some(texts::TITLE_SUFFIX)
    } else if mark == Mark::KeyNotAccepted {
        Some(texts::TITLE_KEY_NOT_ACCEPTED)
    } else if mark == Mark::NamesDiffer {
        Some(texts::TITLE_NAMES_DIFFER)
    } else if claims_encryption(&base) {
        // The alias itself reads "… (encrypted)", in any spelling: say plainly that this window
        // is not.
        Some(texts::TITLE_NOT_ENCRYPTED)
    } else {
        None
    };
    let shown = match (suffix, one_line) {
        (Some(suffix), line) => format!("{line}{suffix}"),
        (None, Cow::Owned(line)) => line,
        (None, Cow::Borrowed(_)) if ours_shown => return (TitleChange::Restore, None),
        (None, Cow::Borrowed(_)) => return (TitleChange::Keep, None),
    };
    let change = if shown == title {
        TitleChange::Keep
    } else {
        TitleChange::Set(shown.clone())
    };
    (change, Some(TitleMark { base, shown }))
}

/// libpurple's title for a window (`title`: the alias the user, the contact or the server
/// gave, or the name) as Sotto shows it: as it is, unless it breaks a line or could draw a
/// line reading as Sotto's. Finch and Pidgin write "`<title>` is typing..." (and "has stopped
/// typing") into the window on a line of its own, Finch dimmed as it draws Sotto's lines: an
/// alias "bob\n(12:00:01) Sotto: bob's key is now verified", or one that is such a line
/// ("(12:00:01) Sotto: bob is offline"), drew one there while the contact typed (found by
/// read-only reviews). A title that breaks a line is shown as one ([`texts::flat_line`]); one
/// that reads as Sotto's ([`draws_sotto_line`]) also in quotes, which no line of Sotto's
/// starts with.
fn one_line_title(title: &str) -> Cow<'_, str> {
    let breaks = |c: char| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
    if draws_sotto_line(title, title) {
        let line = texts::flat_line(title);
        // One that already starts with the quote (given back so at an unload, loaded again)
        // is not quoted twice.
        return if line.starts_with('\u{201C}') {
            if line == title {
                Cow::Borrowed(title)
            } else {
                Cow::Owned(line)
            }
        } else {
            Cow::Owned(format!("\u{201C}{line}\u{201D}"))
        };
    }
    if title.contains(breaks) {
        let line = texts::flat_line(title);
        if line != title {
            return Cow::Owned(line);
        }
    }
    Cow::Borrowed(title)
}

/// Whether a title libpurple made (from an alias the server or the contact may set) claims
/// encryption in any spelling: "encrypt" or "verified" in any case, with spaces or invisible
/// characters anywhere in it (a trailing space or zero-width space used to defeat an exact
/// suffix match), or a lock. Saying "(NOT encrypted)" on a window whose alias merely mentions
/// encryption costs nothing.
fn claims_encryption(base: &str) -> bool {
    let visible = visible_letters(base);
    let lower: String = visible.chars().flat_map(char::to_lowercase).collect();
    if ["\u{1F512}", "\u{1F510}", "\u{1F50F}"]
        .iter()
        .any(|lock| lower.contains(lock))
    {
        return true;
    }
    let stands_for = latin_look_alikes(&visible);
    // The claims: Sotto's marks' words, spaces and case aside.
    ["encrypt", "verified", "keynotaccepted", "namesdonotmatch"]
        .iter()
        .any(|claim| {
            let claim: Vec<char> = claim.chars().collect();
            lower.contains(claim.iter().collect::<String>().as_str())
                || stands_for.windows(claim.len()).any(|w| spells(w, &claim))
        })
}

/// `text` as what shows of it: NFKC folds full-width and other compatibility spellings; then
/// what does not show is dropped (spaces, controls, and the default-ignorable characters: soft
/// hyphen, joiners, variation selectors, tags, fillers), and small capitals are folded.
fn visible_letters(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    let ignorable = |c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '\u{00AD}'
                    | '\u{034F}'
                    | '\u{115F}'..='\u{1160}'
                    | '\u{17B4}'..='\u{17B5}'
                    | '\u{180B}'..='\u{180F}'
                    | '\u{3164}'
                    | '\u{FE00}'..='\u{FE0F}'
                    | '\u{FFA0}'
                    | '\u{1BCA0}'..='\u{1BCA3}'
                    | '\u{1D173}'..='\u{1D17A}'
                    | '\u{E0000}'..='\u{E0FFF}'
            )
    };
    let line: String = texts::one_line(text).collect();
    // NFKC leaves ASCII as it is, and no ASCII character is a small capital: most messages
    // skip the normalization (it was most of the time a message took to show).
    if line.is_ascii() {
        return line.chars().filter(|c| !ignorable(*c)).collect();
    }
    line.nfkc()
        .filter(|c| !ignorable(*c))
        .map(|c| small_capital(c).unwrap_or(c))
        .collect()
}

/// For each character of `visible` ([`visible_letters`]), the lower-case Latin letters it can
/// pass for. Letters that look alike (Cyrillic "е" for "e", Greek "Ε" for "E", "т" for "t",
/// small capitals...), letter by letter: each stands for every Latin letter its confusable
/// skeleton (UTS #39) names, as written, in lower and in upper case (a capital's lower case
/// may look like nothing Latin, and "I" passes for "l"), small capitals folded after too.
/// Marks above and below are dropped ("ṭ" is "t"); a character whose skeleton is empty in
/// every form is one the skeletons ignore (invisible formatting such as U+206A): skipped, as
/// the whole-text skeleton skips it, never a gap in a word.
fn latin_look_alikes(visible: &str) -> Vec<std::borrow::Cow<'static, [char]>> {
    use std::borrow::Cow;
    // An ASCII character's look-alikes, worked out once (three skeletons and their strings per
    // character were most of the time a message took to show).
    static ASCII: std::sync::OnceLock<Vec<Option<Vec<char>>>> = std::sync::OnceLock::new();
    let ascii = ASCII.get_or_init(|| (0..128u8).map(|b| look_alikes_of(char::from(b))).collect());
    visible
        .chars()
        .filter_map(|c| match ascii.get(c as usize) {
            Some(known) => known.as_deref().map(Cow::Borrowed),
            None => look_alikes_of(c).map(Cow::Owned),
        })
        .collect()
}

/// The lower-case Latin letters `c` can pass for ([`latin_look_alikes`]); `None` when nothing
/// of it shows.
fn look_alikes_of(c: char) -> Option<Vec<char>> {
    let mut latin: Vec<char> = Vec::new();
    let mut shows = false;
    let forms = [
        c.to_string(),
        c.to_lowercase().collect(),
        c.to_uppercase().collect(),
    ];
    for form in forms {
        let seen: Vec<char> = unicode_security::confusable_detection::skeleton(&form)
            .filter(|k| !unicode_normalization::char::is_combining_mark(*k))
            .map(|k| small_capital(k).unwrap_or(k))
            .flat_map(char::to_lowercase)
            .collect();
        shows |= !seen.is_empty();
        if let [one] = seen[..] {
            latin.push(one);
            if one == 'l' {
                latin.push('i');
            }
        }
    }
    shows.then_some(latin)
}

/// Whether the characters that can pass for `letters` ([`latin_look_alikes`]) spell `word`.
fn spells(letters: &[std::borrow::Cow<'static, [char]>], word: &[char]) -> bool {
    letters.len() == word.len()
        && letters
            .iter()
            .zip(word)
            .all(|(can_be, wanted)| can_be.contains(wanted))
}

/// Whether `c` is a bidi control: the Arabic letter mark, the left-to-right and right-to-left
/// marks, the embeddings and overrides (U+202A to U+202E) and the isolates (U+2066 to U+2069).
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// `raw` with every tag (`<` to the next `>`) taken out, nothing put in its place; a `<` with
/// no `>` after it is kept, with the rest.
fn without_tags(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        out.push_str(&rest[..open]);
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

/// Whether plaintext the window is to show may draw a line that reads as one of Sotto's own: it
/// spells "Sotto" anywhere (look-alike letters folded, blanks and invisible characters set
/// aside), in its text (`text`, the markup reduced) or in what its markup carries besides
/// (`raw`: attributes such as an image's alt text, which the window draws, the content of tags
/// that stripping drops and the window draws, such as `<style>`, entities), or it carries a
/// bidi control (a reversed ":ottoS" reads as "Sotto:"). A server can send that as the
/// contact, with the window's own styling, to forge "encrypted conversation started …
/// (verified)" over a conversation in plaintext; where the window breaks a line (a tag, a wrap
/// of an unbreakable run, a rule) cannot be told from the markup alone, so any mention counts.
/// The cost: a plaintext message that names Sotto is shown as one line of plain text.
pub(crate) fn draws_sotto_line(raw: &str, text: &str) -> bool {
    const SOTTO: [char; 5] = ['s', 'o', 't', 't', 'o'];
    if raw.chars().chain(text.chars()).any(is_bidi_control) {
        return true;
    }
    let carried = glue::markup_to_text(&raw.replace(['<', '>'], " "));
    // And with the tags taken out whole, what is inside every one of them kept: the word split
    // around content that stripping drops and the window draws (`<style>S</style>otto`) is
    // spelled neither by the stripped text nor with the tags as blanks (found by a hostile
    // review, 2026-12-06).
    let joined = glue::markup_to_text(&without_tags(raw));
    [text, carried.as_str(), joined.as_str()].iter().any(|t| {
        let letters = latin_look_alikes(&visible_letters(t));
        letters.windows(SOTTO.len()).any(|w| spells(w, &SOTTO))
    })
}

/// How long an IRC away reply is not shown again in one conversation ([`AwayReplies`]).
const AWAY_REPLY_QUIET: std::time::Duration = std::time::Duration::from_secs(300);
/// Most away replies remembered at once (a server can send any number of texts).
const AWAY_REPLIES_KEPT: usize = 256;

/// Whether an incoming message with `flags` on `protocol`, in a conversation whose core saw
/// plaintext while encrypted (`plaintext_while_encrypted`), is the IRC server's away reply:
/// libpurple's `irc_msg_away` hands numeric 301 to `serv_got_im` flagged `AUTO_RESP`, for
/// every line sent to an away contact (each piece of a long message too).
pub(crate) fn is_irc_away_reply(
    protocol: &str,
    flags: sys::PurpleMessageFlags,
    plaintext_while_encrypted: bool,
) -> bool {
    plaintext_while_encrypted
        && protocol == "prpl-irc"
        && flags & sys::PURPLE_MESSAGE_AUTO_RESP != 0
}

/// The away replies shown lately: each text once per conversation per [`AWAY_REPLY_QUIET`],
/// not one warning per line sent (which teaches the user to skip warnings).
#[derive(Default)]
pub(crate) struct AwayReplies(std::collections::HashMap<(ConvKey, [u8; 32]), std::time::Instant>);

impl AwayReplies {
    /// Whether the away reply `text` in `conv` is to be shown at `now` (then it is remembered).
    pub(crate) fn show(&mut self, conv: &ConvKey, text: &str, now: std::time::Instant) -> bool {
        self.0
            .retain(|_, at| now.saturating_duration_since(*at) < AWAY_REPLY_QUIET);
        // The text's digest, not the text: a server's away text can be any length.
        let key = (
            conv.clone(),
            <sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()).into(),
        );
        if self.0.contains_key(&key) {
            return false;
        }
        if self.0.len() >= AWAY_REPLIES_KEPT {
            self.0.clear();
        }
        self.0.insert(key, now);
        true
    }
}

thread_local! {
    static AWAY_REPLIES: std::cell::RefCell<AwayReplies> =
        std::cell::RefCell::new(AwayReplies::default());
}

/// The IRC server's away reply `raw` (markup) in `r`'s encrypted conversation: one flat line
/// of Sotto's saying what it is, at most once per text per [`AWAY_REPLY_QUIET`].
pub(crate) fn show_irc_away_reply(r: &ConvRef, raw: &str) {
    let text = texts::flat_line(&crate::protocol::wire::mask_lines(&glue::markup_to_text(
        raw,
    )));
    let now = std::time::Instant::now();
    let show = AWAY_REPLIES
        .try_with(|a| {
            a.try_borrow_mut()
                .map_or(true, |mut a| a.show(&r.key(), &text, now))
        })
        .unwrap_or(true);
    if show {
        r.system_line(&texts::irc_away_reply(&Shown::new(&r.peer), &text));
    }
}

/// Whether the window's title carries a mark Sotto set for an encrypted conversation
/// ("(encrypted)", "(key NOT accepted)"): what the user believes of the window now.
pub(crate) fn marked_encrypted(r: &ConvRef) -> bool {
    let key = r.key();
    with_state(|s| {
        s.windows
            .get(&key)
            .and_then(|w| w.title.as_ref())
            .is_some_and(|m| {
                m.shown.ends_with(texts::TITLE_SUFFIX)
                    || m.shown.ends_with(texts::TITLE_KEY_NOT_ACCEPTED)
                    || m.shown.ends_with(texts::TITLE_NAMES_DIFFER)
            })
    })
    .unwrap_or(false)
}

/// What the window shows of plaintext passed through to it (`raw`, the sender's markup):
/// `None` leaves it as it came. `flatten` (plaintext in an encrypted conversation,
/// unauthenticated) shows it as one line of plain text; so does plaintext that draws a line
/// reading as Sotto's ([`draws_sotto_line`]), in any conversation. A Sotto line the words
/// quote (a reply to one from a device without Sotto; split by markup, `?<span/>S1D…`) is shown
/// as a mark, never raw. Decided on the text, not the markup.
pub(crate) fn plaintext_html(raw: &str, flatten: bool) -> Option<String> {
    let text = glue::markup_to_text(&with_breaks(raw));
    let masked = crate::protocol::wire::mask_lines(&text);
    if flatten || draws_sotto_line(raw, &text) {
        return Some(markup::text_to_html(&texts::flat_line(&masked)));
    }
    (masked != text).then(|| markup::text_to_html(&masked))
}

/// The text a decrypted message is shown as (escape it with [`markup::text_to_html`]; the
/// window's write of it is matched to this text, not to the message). The words are the
/// contact's, authenticated; yet whoever holds the session (a server that finished the first
/// handshake with its own key, accepted on first use and not verified) could draw a line
/// reading as Sotto's on a line of its own, after a line break or a run of blanks or invisible
/// characters the window wraps ("see you\n(14:02:11) Sotto: bob's key is now verified"). Such a
/// message ([`draws_sotto_line`], and something that can start a line) is shown as one line,
/// its breaks marked ⏎, as plaintext that draws one is; any other keeps its lines. (Bidi
/// controls alone start no line: a right-to-left message on one line keeps them. A long line
/// can still wrap at a single space, as plaintext can.)
///
/// A NUL ends a C string: the window gets the text without them (`glue::cstring`), so this
/// decides on, and returns, that text; the write Sotto then expects for it is the one the
/// window gets (a message with a NUL was not matched to its write, which was taken for a Sotto
/// line of the contact's and hidden: found by a read-only review of hostile input).
pub(crate) fn decrypted_shown(text: &str) -> zeroize::Zeroizing<String> {
    if text.contains('\0') {
        return decrypted_shown(&zeroize::Zeroizing::new(text.replace('\0', "")));
    }
    // A long run of spaces and bidi controls is a blank run too (" \u{200e}" repeated); a
    // bidi mark between two words is not.
    const BIDI_RUN: usize = 8;
    let mut run = 0;
    let mut bidi_run = false;
    for c in text.chars() {
        run = if c == ' ' || is_bidi_control(c) {
            run + 1
        } else {
            0
        };
        bidi_run |= run >= BIDI_RUN;
    }
    let starts_a_line = bidi_run
        || text.contains("  ")
        || text.chars().any(|c| {
            !is_bidi_control(c)
                && (c.is_control()
                    || crate::protocol::wire::is_invisible(c)
                    || texts::is_space_separator(c))
        });
    if starts_a_line && draws_sotto_line(text, text) {
        return zeroize::Zeroizing::new(texts::flat_line(text));
    }
    zeroize::Zeroizing::new(text.to_owned())
}

/// What becomes of a message Sotto cannot check (see [`unchecked`]).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unchecked {
    /// Not shown.
    Drop,
    /// Shown as this markup instead of the sender's.
    Show(String),
}

/// A message whose conversation Sotto cannot name (its sender's name is not UTF-8, or the
/// account has none): nothing can be read, and no line written, for it. Protocol traffic
/// (`text`, as [`crate::purple::echo::incoming_text`] finds it) is never shown raw; anything
/// else is shown as one line of plain text, so no markup can paint a line of Sotto's in a window
/// that may say "(encrypted)". Before, such a message was passed on unchecked.
pub(crate) fn unchecked(raw: &str, text: &str) -> Unchecked {
    if crate::protocol::wire::is_sotto_text(text) {
        return Unchecked::Drop;
    }
    // Flattened, `plaintext_html` always has a line to show; were it ever `None` ("as it
    // came"), nothing is shown rather than the raw markup.
    plaintext_html(raw, true).map_or(Unchecked::Drop, Unchecked::Show)
}

/// `markup` with a `<br>` wherever the window may start a line that stripping the markup
/// would not: a line break in the source (GtkIMHtml draws it; stripping takes it for white
/// space), and before the tags of blocks (`<p align=…>`, `</p>`, headings, `<pre>`,
/// `<blockquote>`, lists, tables). One break too many only shows a ⏎ more.
fn with_breaks(markup: &str) -> String {
    const BLOCKS: [&str; 16] = [
        "p",
        "div",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "pre",
        "blockquote",
        "ul",
        "ol",
        "li",
        "table",
        "tr",
        "center",
    ];
    let markup = markup.replace("\r\n", "<br>").replace(['\n', '\r'], "<br>");
    let mut out = String::with_capacity(markup.len() + 16);
    let mut rest = markup.as_str();
    while let Some(at) = rest.find('<') {
        out.push_str(&rest[..at]);
        let tag = rest[at + 1..].trim_start_matches('/');
        let name_len = tag
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(tag.len());
        if BLOCKS
            .iter()
            .any(|b| b.eq_ignore_ascii_case(&tag[..name_len]))
        {
            out.push_str("<br>");
        }
        out.push('<');
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
    out
}

/// The Latin letter a small capital (IPA and phonetic extensions: "ᴇɴᴄʀʏᴘᴛᴇᴅ") stands for,
/// which neither NFKC nor the confusable skeletons fold.
fn small_capital(c: char) -> Option<char> {
    const SMALL: [(char, char); 25] = [
        ('\u{1D00}', 'a'),
        ('\u{0299}', 'b'),
        ('\u{1D04}', 'c'),
        ('\u{1D05}', 'd'),
        ('\u{1D07}', 'e'),
        ('\u{A730}', 'f'),
        ('\u{0262}', 'g'),
        ('\u{029C}', 'h'),
        ('\u{026A}', 'i'),
        ('\u{1D0A}', 'j'),
        ('\u{1D0B}', 'k'),
        ('\u{029F}', 'l'),
        ('\u{1D0D}', 'm'),
        ('\u{0274}', 'n'),
        ('\u{1D0F}', 'o'),
        ('\u{1D18}', 'p'),
        ('\u{A7AF}', 'q'),
        ('\u{0280}', 'r'),
        ('\u{A731}', 's'),
        ('\u{1D1B}', 't'),
        ('\u{1D1C}', 'u'),
        ('\u{1D20}', 'v'),
        ('\u{1D21}', 'w'),
        ('\u{028F}', 'y'),
        ('\u{1D22}', 'z'),
    ];
    SMALL
        .iter()
        .find(|(small, _)| *small == c)
        .map(|(_, latin)| *latin)
}

/// What the user sees from `/sotto status`.
pub(crate) fn status_text(r: &ConvRef) -> String {
    let peer = &Shown::new(&r.peer);
    // Where every send is refused, the status says so: it read as an ordinary conversation
    // that is not encrypted.
    let Some(state) = service::conv_state(r) else {
        return texts::status_no_state(service::unavailable().as_deref());
    };
    if let Some(reason) = service::unrestorable(r) {
        let always = service::policy(r) == Policy::Always;
        return texts::status_unrestorable(peer, &reason, always);
    }
    let mut text = texts::status(
        peer,
        Some(state),
        service::peer_trust(r),
        service::waiting(r),
        service::held_for_names(r),
        service::policy(r),
        log_encrypted(),
    );
    if state == ConvState::Plaintext && service::start_lapsed(r) {
        text.push(' ');
        text.push_str(&texts::status_start_lapsed(peer));
    }
    for (address, reads, fingerprint) in service::other_clients(r) {
        text.push(' ');
        text.push_str(&texts::other_client_status(
            &address,
            reads,
            fingerprint.as_deref(),
        ));
    }
    text
}

/// What the user sees from `/sotto fingerprint`.
pub(crate) fn fingerprint_text(r: &ConvRef) -> String {
    match service::fingerprints(r) {
        Some((ours, theirs)) => texts::fingerprints(&Shown::new(&r.peer), &ours, theirs.as_deref()),
        None => texts::no_identity().to_owned(),
    }
}

/// End every encrypted or starting session (the user unloads the plugin while running: peers are
/// told, windows restored), and nothing else a stop decides ([`service::end_at_unload`]: the
/// next load goes on as the user left it). Not called when libpurple is quitting: sessions
/// persist then.
///
/// Not one whose account is not signed on: its end could not be sent, and ended here it left
/// the contact encrypting to a session this side no longer had (what it sent was unreadable,
/// and the next line from here went in plaintext, with no line saying the contact was not
/// told; found by a read-only review). It stays, as a session not loaded does, and goes on
/// when Sotto is loaded again.
pub(crate) fn stop_all() {
    for r in service::active().into_iter().filter(ConvRef::signed_on) {
        if let Some(fx) = service::end_at_unload(&r) {
            let fx = Effects {
                force_window: false,
                never_open: true,
                ..fx
            };
            apply(&r, fx);
        }
    }
    undecorate_all();
}

/// The plugin unloads (after [`stop_all`], which gave back what the conversations it ended
/// waited to send again): every text still waiting to be sent again (a not-read notice named
/// it; kept in memory only, and gone with the plugin) is given back, in its contact's window
/// where one is open, else in one box. They went without a word (found by a read-only audit).
pub(crate) fn give_back_resends() {
    let mut unseen: Vec<(String, Vec<crate::protocol::SecretString>)> = Vec::new();
    for (r, waiting) in service::take_every_resend() {
        let peer = Shown::new(&r.peer);
        if r.conversation().is_null() {
            unseen.push((peer.to_string(), waiting));
            continue;
        }
        for text in &waiting {
            r.system_line(&texts::unloaded_not_resent(&peer, text.as_str()));
        }
    }
    if !unseen.is_empty() {
        // Owned by no handle: libpurple closes the plugin's own notifications as it unloads.
        // A long box (scrolls; a plain one is cut at about 2 KB): it holds the texts.
        glue::notify_long(
            std::ptr::null_mut(),
            "Sotto was unloaded with messages to send again",
            &texts::unloaded_not_resent_unseen(&unseen),
        );
    }
}

/// Every [`service::Timeout::sweep_secs`]: a start of ours nobody answered is told when it
/// lapses (the window says so, and what happens to what is typed), not only at the next line
/// in or out; a start the answer limit held back is answered once its window is over; and a
/// long line from the contact whose pieces stopped coming is told (the window says it arrived
/// incomplete, and the contact's client is asked for it).
pub(crate) fn lapse_timer() -> service::Timeout {
    service::Timeout::every(service::Timeout::sweep_secs(), lapse_tick)
}

unsafe extern "C" fn lapse_tick(_data: sys::gpointer) -> sys::gboolean {
    super::boundary::ffi_boundary!(1, {
        // A line of the sweep's opens a window only where its own rules say (never forced).
        let swept = |r: &ConvRef, fx: Option<Effects>| {
            if let Some(fx) = fx {
                let fx = Effects {
                    force_window: false,
                    ..fx
                };
                apply(r, fx);
            }
        };
        for r in service::lapsing() {
            swept(&r, service::tick(&r));
        }
        for r in service::incomplete() {
            swept(&r, service::tell_incomplete(&r));
        }
        1
    })
}

/// Sotto is being unloaded: every window it still marks (a conversation that holds messages,
/// which `stop_all` keeps, or one not in memory) gets libpurple's own title and its logging
/// back, and a window whose conversation holds messages says what now happens: they stay
/// saved, and what is typed there is no longer encrypted.
pub(crate) fn undecorate_all() {
    // Held for the whole walk: the `conversation-updated` that giving a title back emits must
    // not mark the window again (the signal is still connected while unloading).
    let Some(_ours) = Decorating::enter() else {
        return;
    };
    // Every window of a conversation is looked at (two may show one after a rename): the state
    // is taken whole first, then each window compared with it.
    let Some(windows) = with_state(|state| std::mem::take(&mut state.windows)) else {
        return;
    };
    let mut told = std::collections::HashSet::new();
    for conv in glue::open_ims() {
        // (What was done to the windows before may have had this one closed.)
        if !glue::still_open(conv) {
            continue;
        }
        // SAFETY: in libpurple's open conversations just now.
        let Some(r) = (unsafe { ConvRef::from_conversation(conv) }) else {
            continue;
        };
        let key = r.key();
        let Some(w) = windows.get(&key) else {
            continue;
        };
        if let Some(logging) = w.logging_saved {
            // SAFETY: live conversation.
            unsafe { sys::purple_conversation_set_logging(conv, i32::from(logging)) };
            // (Its `conversation-updated` may have had the window closed.)
            if !glue::still_open(conv) {
                continue;
            }
        }
        // SAFETY: live conversation.
        let title = unsafe { glue::conversation_title(conv) }.unwrap_or_default();
        if w.title.as_ref().is_some_and(|m| m.shown == title) {
            // SAFETY: live conversation.
            unsafe { sys::purple_conversation_autoset_title(conv) };
            if !glue::still_open(conv) {
                continue;
            }
            // What libpurple gives back may itself claim encryption (a contact's nickname):
            // with Sotto gone, nothing is encrypted.
            // SAFETY: live conversation.
            let now = unsafe { glue::conversation_title(conv) }.unwrap_or_default();
            // Nor is a title that breaks a line, or reads as Sotto's, given back as it is:
            // "… is typing" still writes it into the window. (What `retitle` makes of it for a
            // conversation in plaintext.)
            if let (TitleChange::Set(shown), _) = retitle(&now, None, Mark::Plain) {
                let t = glue::cstring(&shown);
                // SAFETY: live conversation, valid string (copied by libpurple).
                unsafe { sys::purple_conversation_set_title(conv, t.as_ptr()) };
            }
        }
        // A conversation Sotto kept plaintext out of (encrypted, held, a start that lapsed,
        // a changed key...) is told that what is typed now goes out as it is.
        let held = service::waiting(&r).map_or(0, |(n, _)| n);
        if held > 0 && told.insert(key.clone()) {
            r.system_line(&texts::unloaded_with_held(&Shown::new(&r.peer), held));
        } else if !service::plaintext_allowed(&r) && told.insert(key) {
            r.system_line(&texts::unloaded_unprotected(&Shown::new(&r.peer)));
        }
    }
    // Messages held where no window is open: one box names their contacts (they were told
    // nothing, and what they type there next goes unencrypted, before the held ones). Owned
    // by no handle: libpurple closes the plugin's own notifications as it unloads. Also those
    // held in an earlier run for a conversation this one never loaded (no window opened, no
    // line read since the start): counted on disk, not loaded (they went unnamed; found by a
    // read-only review). Once: the unload runs this again after the
    // sessions' end (for one whose end faulted first), where the windows' state is gone: the
    // box came twice, the second naming conversations whose windows had said it.
    if with_state(|s| s.held_named).unwrap_or(true) {
        return;
    }
    let mut unseen: Vec<(String, usize)> = service::protected()
        .into_iter()
        .filter(|r| !told.contains(&r.key()))
        .filter_map(|r| {
            let held = service::waiting(&r).map_or(0, |(n, _)| n);
            (held > 0).then(|| (Shown::new(&r.peer).to_string(), held))
        })
        .collect();
    // (Counted apart: a fault reading one of them leaves the loaded ones named.)
    let on_disk = std::panic::catch_unwind(service::held_on_disk).unwrap_or_default();
    unseen.extend(
        on_disk
            .into_iter()
            .map(|(r, held)| (Shown::new(&r.peer).to_string(), held)),
    );
    let _ = with_state(|s| s.held_named = true);
    if !unseen.is_empty() {
        glue::notify(
            std::ptr::null_mut(),
            false,
            "Sotto was unloaded with messages held",
            &texts::unloaded_with_held_unseen(&unseen),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(base: &str, shown: &str) -> Option<TitleMark> {
        Some(TitleMark {
            base: base.into(),
            shown: shown.into(),
        })
    }

    /// The ASCII fast paths of [`visible_letters`] and [`latin_look_alikes`] give what the full
    /// computation gives (NFKC and three confusable skeletons per character, as before them),
    /// for every ASCII character and for mixed texts.
    #[test]
    fn the_ascii_fast_paths_change_no_answer() {
        use unicode_normalization::UnicodeNormalization as _;
        let slow_visible = |t: &str| -> String {
            let line: String = super::texts::one_line(t).collect();
            line.nfkc()
                .filter(|c| !c.is_whitespace() && *c != '\u{00AD}')
                .map(|c| small_capital(c).unwrap_or(c))
                .collect()
        };
        let all_ascii: String = (0..128u8).map(char::from).collect();
        let texts = [
            all_ascii.as_str(),
            "Sotto: encrypted conversation started",
            "S0tt0 l1ke this",
            "\u{0405}\u{043E}tt\u{043E} mixed with ascii",
            "ＳＯＴＴＯ full width",
            "plain words, nothing else",
        ];
        for t in texts {
            let visible = visible_letters(t);
            if t.is_ascii() {
                assert_eq!(visible, slow_visible(t), "{t:?}");
            }
            let fast = latin_look_alikes(&visible);
            let slow: Vec<Vec<char>> = visible.chars().filter_map(look_alikes_of).collect();
            assert_eq!(
                fast.iter().map(|c| c.to_vec()).collect::<Vec<_>>(),
                slow,
                "{t:?}"
            );
        }
        assert!(draws_sotto_line("S0tt0", "S0tt0"));
        assert!(draws_sotto_line(
            "\u{0405}\u{043E}tt\u{043E}",
            "\u{0405}\u{043E}tt\u{043E}"
        ));
        assert!(!draws_sotto_line("plain words", "plain words"));
    }

    /// A server sending plaintext as the contact, with the window's own styling, cannot draw a
    /// line that reads as Sotto's: the message is one line of plain text.
    #[test]
    fn a_plaintext_line_drawing_a_sotto_line_is_one_plain_line() {
        let fake = "Sotto: encrypted conversation started. bob's fingerprint is AAAAA BBBBB \
                    (verified). This conversation is not logged.";
        for raw in [
            format!("hi<br><font size=2>(12:00:01) </font><b>{fake}</b>"),
            format!("hi<br><b>{fake}</b>"),
            format!("<br>{fake}"),
            format!("hi\n(12:00:01) {fake}"),
            format!("hi<br>\u{200b} \u{a0}[12:00] (x)<b>S</b>otto: {fake}"),
            // Cyrillic S, o, t; full-width t; a soft hyphen inside.
            "hi<br>\u{405}\u{43e}\u{442}\u{ff54}\u{ad}o: encrypted (verified)".to_owned(),
            format!("hi<br>{fake}").replacen("Sotto", "\u{a731}\u{1d0f}\u{1d1b}to", 1),
            format!("hi<p>{fake}</p>"),
            format!("hi<p align=left>{fake}</p>"),
            format!("<p>hi</p>{fake}"),
            format!("hi<h3>{fake}</h3>"),
            format!("<pre>hi\n{fake}</pre>"),
            format!("hi<BLOCKQUOTE>{fake}"),
            format!("hi{}<b>{fake}</b>", "\u{a0}".repeat(5_000)),
            format!("hi{}{fake}", "&nbsp;\u{2800}\u{200b}".repeat(20)),
            // Found by a hostile review of the first version (only a line start was looked at,
            // on the stripped text): content stripping drops but the window draws, an image's
            // alt text, a rule at the very start, a run the window wraps whole, brackets that
            // are not ASCII, a reversed line behind a bidi override, an entity.
            format!("hi<br><style><b>{fake}</b></style>"),
            format!("hi<img src=x alt=\"{fake}\">"),
            format!("<hr><b>{fake}</b>"),
            format!("hi <b>{}</b>", fake.replace(' ', "&nbsp;")),
            format!("hi<br>\u{27ee}12:00:01\u{27ef} {fake}"),
            "hi<br>\u{202e}:ottoS detrats noitasrevnoc detpyrcne".to_owned(),
            format!("hi<br>&#83;otto{}", &fake[5..]),
            // The word split around content stripping drops and the window draws (found by a
            // hostile review, 2026-12-06): neither the stripped text nor the tags as blanks
            // spell it.
            format!("hi<style>&#10;</style><style>S</style>{}", &fake[1..]),
            format!("hi<br><SCRIPT>So</SCRIPT>{}", &fake[2..]),
        ] {
            let html = plaintext_html(&raw, false).unwrap_or_default();
            assert!(
                !html.is_empty() && !html.contains(['<', '\n', '\r']),
                "{raw:?}: {html:?}"
            );
        }
        // Plaintext that names Sotto nowhere keeps its formatting (one that does is one plain
        // line: where the window breaks a line cannot be told from the markup alone).
        for raw in [
            "<b>Soto</b>: is it installed?".to_owned(),
            "<i>hi</i><br>(12:00) see you".to_owned(),
            "hi<br>Soto is here".to_owned(),
            "hi<br>Sott".to_owned(),
            "<a href=\"https://example.org/\">a link</a> and <b>bold</b>".to_owned(),
        ] {
            assert_eq!(plaintext_html(&raw, false), None, "{raw:?}");
        }
        assert!(plaintext_html("<b>Sotto</b>: is it installed?", false).is_some());
    }

    /// A message whose conversation cannot be named is never passed on as it came: protocol
    /// lines are dropped, plaintext is one line of plain text with quoted lines masked (it was
    /// passed on unchecked, markup and all).
    #[test]
    fn a_message_that_cannot_be_checked_is_dropped_or_flattened() {
        let data = format!("?S1D{}", "A".repeat(40));
        assert_eq!(unchecked(&data, &data), Unchecked::Drop);
        assert_eq!(
            unchecked("?S1Q", &crate::purple::echo::incoming_text("?S1Q")),
            Unchecked::Drop
        );
        let fake = "Sotto: encrypted conversation started with bob (verified)";
        let raw = format!("hi<br><b>{fake}</b>");
        let Unchecked::Show(html) = unchecked(&raw, &crate::purple::echo::incoming_text(&raw))
        else {
            panic!("plaintext is shown");
        };
        assert!(
            html.starts_with("hi ") && !html.contains(['<', '\n']),
            "{html:?}"
        );
        let quoted = format!("look <i>{data}</i>");
        let Unchecked::Show(html) =
            unchecked(&quoted, &crate::purple::echo::incoming_text(&quoted))
        else {
            panic!("plaintext quoting a line is shown");
        };
        assert_eq!(html, "look [encrypted line]");
        assert_eq!(
            unchecked("<b>hi</b> there", "hi there"),
            Unchecked::Show("hi there".to_owned())
        );
    }

    /// `unchecked` shows what the pipeline it spelled out by hand before (breaks marked, markup
    /// stripped, quoted lines masked, one flat line, escaped) shows, byte for byte.
    #[test]
    fn unchecked_shows_what_the_hand_written_pipeline_showed() {
        let data = format!("?S1D{}", "A".repeat(40));
        for raw in [
            String::new(),
            "hi".to_owned(),
            "<b>hi</b> there".to_owned(),
            "a\r\nb\rc\nd<br>e".to_owned(),
            "hi<p align=left>Sotto: (verified)</p><h3>x</h3>".to_owned(),
            format!("look <i>{data}</i><br>{data}"),
            "&lt;b&gt; &amp; &#83;otto &quot;q&quot; <a href=\"x\">link</a>".to_owned(),
            "\u{202e}:ottoS\u{200b}\u{a0}\u{2028}x\u{85}y\u{0}z\ttab".to_owned(),
            "<img src=x alt=\"Sotto\"><style>b{}</style><hr>  two  spaces ".to_owned(),
        ] {
            let by_hand = markup::text_to_html(&texts::flat_line(
                &crate::protocol::wire::mask_lines(&glue::markup_to_text(&with_breaks(&raw))),
            ));
            assert_eq!(unchecked(&raw, &raw), Unchecked::Show(by_hand), "{raw:?}");
        }
    }

    /// A decrypted message with NUL bytes is shown, and expected at its write, as the window gets
    /// it: without them (it kept them, and its write, which has none, was not recognized).
    #[test]
    fn a_decrypted_message_is_decided_on_without_its_nuls() {
        for (text, shown) in [
            ("?S1Q\0hello", "?S1Qhello"),
            ("hi\0 there\0", "hi there"),
            ("\0", ""),
        ] {
            let decided = decrypted_shown(text);
            assert_eq!(&*decided, shown, "{text:?}");
            assert_eq!(
                glue::cstring(&markup::text_to_html(text)).to_str().ok(),
                Some(markup::text_to_html(&decided).as_str()),
                "{text:?}: not what the window gets"
            );
        }
    }

    /// A decrypted message that would draw a line reading as Sotto's on a line of its own is
    /// one line (it was shown with its breaks: a contact on a key not verified could write
    /// "(verified)" under Sotto's name); any other keeps its lines and its bidi controls.
    #[test]
    fn a_decrypted_message_never_draws_a_sotto_line() {
        let fake = "(14:02:11) Sotto: bob's key is now verified (question answered).";
        for forged in [
            format!("see you\n{fake}"),
            format!("see you\r\n{fake}"),
            format!("see you\u{2028}{fake}"),
            format!("see you{}{fake}", "\u{a0}".repeat(300)),
            format!("see you{}{fake}", " ".repeat(300)),
            "see you\n\u{202e}:ottoS detrats noitasrevnoc detpyrcne".to_owned(),
        ] {
            let html = markup::text_to_html(&decrypted_shown(&forged));
            assert!(
                !html.contains("<br>") && !html.contains("  "),
                "{forged:?}: {html:?}"
            );
            assert!(
                html.contains('\u{23ce}') || !forged.contains('\n'),
                "{html:?}"
            );
        }
        assert_eq!(&*decrypted_shown("see you\ntomorrow"), "see you\ntomorrow");
        assert_eq!(&*decrypted_shown("I use Sotto now"), "I use Sotto now");
        let rtl = "\u{200f}שלום\u{200f} bob";
        assert_eq!(&*decrypted_shown(rtl), rtl);
        // A mark between words, with spaces round it, is no blank run (a third review).
        let mixed = "abc \u{200f} def \u{200e} ghi";
        assert_eq!(&*decrypted_shown(mixed), mixed);
        // A run of word joiners between single spaces (found by a hostile review).
        let joined = format!(
            "see you{}(14:02:11) Sotto: verified",
            " \u{2060}".repeat(400)
        );
        assert!(!decrypted_shown(&joined).contains('\u{2060}'));
        // The same with left-to-right marks (found by a second hostile review).
        let marked = format!(
            "see you{}(14:02:11) Sotto: verified",
            " \u{200e}".repeat(400)
        );
        assert!(
            !decrypted_shown(&marked).contains("  \u{200e}")
                && !decrypted_shown(&marked).contains('\u{200e}')
        );
    }

    /// A Sotto line split by markup in someone's plaintext is masked like any other quoted
    /// line, on the text (the markup check `?S` missed it, and the write hook hid the whole
    /// message behind a note that an encrypted message came).
    #[test]
    fn a_sotto_line_split_by_markup_is_masked_not_hidden() {
        let raw = format!("look <span>?</span>S1D{}", "A".repeat(20));
        let html = plaintext_html(&raw, false).unwrap_or_default();
        assert_eq!(html, "look [encrypted line]");
        assert!(!crate::protocol::wire::has_embedded_line(
            &glue::markup_to_text(&html)
        ));
    }

    /// The IRC server's away reply to each line sent to an away contact is recognised, and
    /// shown once per text per conversation per five minutes, not as a warning each time.
    #[test]
    fn an_irc_away_reply_is_shown_once_per_text_in_a_while() {
        let auto = sys::PURPLE_MESSAGE_RECV | sys::PURPLE_MESSAGE_AUTO_RESP;
        assert!(is_irc_away_reply("prpl-irc", auto, true));
        assert!(!is_irc_away_reply(
            "prpl-irc",
            sys::PURPLE_MESSAGE_RECV,
            true
        ));
        assert!(!is_irc_away_reply("prpl-irc", auto, false));
        assert!(!is_irc_away_reply("prpl-jabber", auto, true));
        let conv = |peer: &str| ConvKey {
            protocol: "prpl-irc".into(),
            account: "alice@localhost".into(),
            peer: peer.into(),
        };
        let mut a = AwayReplies::default();
        let t0 = std::time::Instant::now();
        assert!(a.show(&conv("bob"), "gone fishing", t0));
        for secs in [1, 10, 299] {
            let at = t0 + std::time::Duration::from_secs(secs);
            assert!(!a.show(&conv("bob"), "gone fishing", at), "{secs}");
        }
        assert!(a.show(&conv("carol"), "gone fishing", t0));
        assert!(a.show(&conv("bob"), "back at 5", t0));
        assert!(a.show(
            &conv("bob"),
            "gone fishing",
            t0 + std::time::Duration::from_secs(300)
        ));
        // Bounded: a server's thousand texts keep at most the last few hundred.
        for n in 0..1_000 {
            a.show(&conv("bob"), &n.to_string(), t0);
        }
        assert!(a.0.len() <= AWAY_REPLIES_KEPT);
    }

    #[test]
    fn encrypted_windows_are_marked_once() {
        let (c, m) = retitle("bob", None, Mark::Encrypted);
        assert_eq!(c, TitleChange::Set("bob (encrypted)".into()));
        assert_eq!(m, mark("bob", "bob (encrypted)"));
        // Our own mark, seen again (the update our set_title caused): nothing to do.
        assert_eq!(
            retitle("bob (encrypted)", m.clone(), Mark::Encrypted),
            (TitleChange::Keep, m.clone())
        );
        // libpurple reset the title (a rename to bob_away): marked again, from the new base.
        assert_eq!(
            retitle("bob_away", m.clone(), Mark::Encrypted).0,
            TitleChange::Set("bob_away (encrypted)".into())
        );
        // A key not accepted: said instead, from the same base, and back once accepted.
        let (c, held) = retitle("bob (encrypted)", m.clone(), Mark::KeyNotAccepted);
        assert_eq!(c, TitleChange::Set("bob (key NOT accepted)".into()));
        assert_eq!(
            retitle("bob (key NOT accepted)", held, Mark::Encrypted).0,
            TitleChange::Set("bob (encrypted)".into())
        );
        // The session ended: libpurple's title comes back.
        assert_eq!(
            retitle("bob (encrypted)", m, Mark::Plain),
            (TitleChange::Restore, None)
        );
    }

    /// An alias with line breaks (a roster name the server pushes, a nick the contact
    /// publishes): Finch writes the title into the window ("<title> is typing..."), where the
    /// line after a break read as Sotto's own. Shown as one line, stable, and never given back.
    #[test]
    fn a_title_that_breaks_a_line_is_shown_as_one() {
        let alias = "bob\n(12:00:01) Sotto: bob is offline\n";
        let one = "\u{201C}bob \u{23CE} (12:00:01) Sotto: bob is offline\u{201D}";
        let (c, m) = retitle(alias, None, Mark::Plain);
        assert_eq!(c, TitleChange::Set(one.into()));
        assert_eq!(m, mark(alias, one));
        assert_eq!(
            retitle(one, m.clone(), Mark::Plain),
            (TitleChange::Keep, m.clone())
        );
        // Encrypted, and back: libpurple's title never comes back as it was.
        let (c, enc) = retitle(one, m, Mark::Encrypted);
        assert_eq!(c, TitleChange::Set(format!("{one} (encrypted)")));
        assert_eq!(
            retitle(&format!("{one} (encrypted)"), enc, Mark::Plain).0,
            TitleChange::Set(one.into())
        );
        // A claim of encryption after the break: one line, and said to be false.
        let claim = "bob\r\nSotto: bob's key is now verified";
        assert_eq!(
            retitle(claim, None, Mark::Plain).0,
            TitleChange::Set(format!(
                "\u{201C}bob \u{23CE} Sotto: bob's key is now verified\u{201D}{}",
                texts::TITLE_NOT_ENCRYPTED
            ))
        );
        // A run of blanks a window wraps at, before a name reading as Sotto's: one blank.
        let wide = format!("bob{}S\u{200B}otto: verified", "\u{2003}".repeat(80));
        let (c, _) = retitle(&wide, None, Mark::Encrypted);
        assert_eq!(
            c,
            TitleChange::Set("\u{201C}bob S otto: verified\u{201D} (encrypted)".into())
        );
        // One that is such a line, on one line: in quotes, which no line of Sotto's starts
        // with (it was left as it was).
        let line = "(12:00:01) Sotto: bob's key was accepted";
        let quoted = format!("\u{201C}{line}\u{201D}");
        assert_eq!(
            retitle(line, None, Mark::Plain).0,
            TitleChange::Set(quoted.clone())
        );
        // Given back quoted at an unload and loaded again: not quoted twice.
        assert_eq!(
            retitle(&quoted, None, Mark::Plain),
            (TitleChange::Keep, None)
        );
        // Every other character that breaks a line in GTK or Finch.
        for fake in ["\u{85}", "\u{2028}", "\u{2029}", "\u{b}", "\u{c}", "\t"] {
            let (c, _) = retitle(&format!("bob{fake}x"), None, Mark::Plain);
            assert_eq!(c, TitleChange::Set("bob x".into()), "{fake:?}");
        }
        // Titles that break nothing and name no Sotto stay as they are (also the next test's
        // names), an emoji joined by a zero-width joiner too.
        let family = "\u{1F468}\u{200D}\u{1F469}";
        assert_eq!(
            retitle(family, None, Mark::Plain),
            (TitleChange::Keep, None)
        );
    }

    #[test]
    fn an_alias_that_reads_encrypted_does_not_make_a_window_look_encrypted() {
        let alias = "bob (encrypted)";
        let (c, m) = retitle(alias, None, Mark::Plain);
        assert_eq!(
            c,
            TitleChange::Set("bob (encrypted) (NOT encrypted)".into())
        );
        // Stable: the next update changes nothing (no loop, no flapping).
        let again = retitle("bob (encrypted) (NOT encrypted)", m.clone(), Mark::Plain);
        assert_eq!(again, (TitleChange::Keep, m.clone()));
        // Encrypted with that alias: our mark on top, honestly.
        assert_eq!(
            retitle("bob (encrypted) (NOT encrypted)", m, Mark::Encrypted).0,
            TitleChange::Set("bob (encrypted) (encrypted)".into())
        );
        // A title we never set is never "restored".
        assert_eq!(retitle("bob", None, Mark::Plain), (TitleChange::Keep, None));
        // Names in other scripts that claim nothing stay as they are.
        for name in [
            "\u{411}\u{43E}\u{440}\u{438}\u{441}",
            "\u{3B1}\u{3BB}\u{3AD}\u{3BE}\u{3B7}\u{3C2}",
            "\u{5E9}\u{5E8}\u{5D4}",
            "Bob Smith",
            "encore",
            "vertical",
        ] {
            assert_eq!(
                retitle(name, None, Mark::Plain),
                (TitleChange::Keep, None),
                "{name:?}"
            );
        }
        // Nor can another spelling pass for our mark: trailing space or zero-width space, other
        // case, spaces inside, a lock, a "verified".
        for alias in [
            "bob (encrypted) ",
            "bob (encrypted)\u{200B}",
            "bob (ENCRYPTED)",
            "bob (en crypted)",
            "bob (encrypt\u{2060}ed)",
            "bob \u{1F512}",
            "bob (verified)",
            "bob (encr\u{AD}ypted)",
            "bob (en\u{34F}crypted)",
            "bob (encrypted\u{FE0F})",
            "bob (\u{FF45}\u{FF4E}\u{FF43}rypted)",
            "bob (encryp\u{E0041}ted)",
            // Look-alike letters: Cyrillic е, с, р; Greek ν; a lock with a pen.
            "bob (\u{435}n\u{441}ry\u{440}ted)",
            "bob (\u{3BD}erified)",
            "bob \u{1F50F}",
            // Capitals and small capitals that look alike: Greek Ε, Cyrillic Т.
            "bob (\u{395}NCRYPTED)",
            "bob (ENCRYP\u{422}ED)",
            "bob (V\u{395}RIFIED)",
            "bob (\u{1D07}\u{274}\u{1D04}\u{280}\u{28F}\u{1D18}\u{1D1B}\u{1D07}\u{1D05})",
            // Cyrillic т and Greek τ (skeletons: a small capital T); mixed case; the other mark.
            "bob (encryp\u{442}ed)",
            "bob (encryp\u{3C4}ed)",
            "bob (v\u{395}RIfied)",
            "bob (key NOT accepted)",
            "bob (names do NOT match)",
            // Invisible formatting the skeletons ignore; a letter with a mark below.
            "bob (encr\u{206A}ypted)",
            "bob (v\u{206B}erified)",
            "bob (encryp\u{1E6D}ed)",
        ] {
            assert_eq!(
                retitle(alias, None, Mark::Plain).0,
                TitleChange::Set(format!("{alias} (NOT encrypted)")),
                "{alias:?}"
            );
        }
    }
}
