//! The presenter: what the user sees of a decision. It sends the lines the sessions service
//! produced, writes one line (or opens one dialog) per event, and keeps the window's title and
//! logging in step with the conversation's state. Everything here runs with the state released,
//! because sending and writing re-enter our signal handlers.

use crate::protocol::{ConvState, Event};
use crate::sessions::{ConvRef, Effects};
use crate::store::Trust;

use super::bindings as sys;
use super::glue::{self, prefs};
use super::service;
use super::state::with_state;
use super::texts;

/// Whether encrypted conversations go to the logs (`log_encrypted`).
pub(crate) fn log_encrypted() -> bool {
    prefs::boolean(prefs::LOG_ENCRYPTED)
}

/// Send the injected lines, write one line per event, and make the window match the state.
/// `r` names the conversation (its account); the lines go to `fx.reply_to`.
pub(crate) fn apply(r: &ConvRef, fx: Effects) {
    let r = ConvRef {
        peer: fx.reply_to.clone(),
        ..r.clone()
    };
    for line in &fx.inject {
        if !r.send_raw(line) {
            glue::debug_warning("could not send a protocol line (offline?)");
        }
    }
    let wants_window = !fx.never_open
        && (fx.force_window
            || fx.events.iter().any(|e| {
                matches!(
                    e,
                    Event::Started { .. }
                        | Event::Ended { .. }
                        | Event::HandshakeFailed { .. }
                        | Event::QueuedSent { .. }
                        | Event::Unsent { .. }
                )
            })
            || !fx.notices.is_empty());
    if wants_window {
        r.conversation_or_new();
    }
    for event in fx.events {
        write_event(&r, event);
    }
    for notice in &fx.notices {
        r.system_line(&texts::notice(&r.peer, notice));
    }
    redecorate(&r);
}

fn write_event(r: &ConvRef, event: Event) {
    let peer = r.peer.as_str();
    match event {
        Event::Started { fingerprint, .. } => {
            let verified = service::peer_trust(r) == Some(Trust::Verified);
            let line = texts::started(peer, &fingerprint.to_string(), verified, log_encrypted());
            r.system_line(&line);
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
        Event::Unsent { text } => {
            reset_held(r);
            r.system_line(&texts::not_sent(&text));
        }
        Event::PeerKeyChanged { fingerprint } => {
            let fingerprint = fingerprint.to_string();
            r.system_line(&texts::key_changed(peer, &fingerprint));
            super::dialogs::key_changed(r, &fingerprint);
        }
        Event::VerificationQuestion { question } => {
            r.system_line(&texts::question_asked(peer, &question));
            super::dialogs::answer(r, &question);
        }
        other => {
            if let Some(line) = texts::event(peer, &other) {
                r.system_line(&line);
            }
        }
    }
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
    r.write(Some(&me), &super::markup::text_to_html(text), flags);
}

/// Whether `r`'s window would log a message it must not: it is still logging although encrypted
/// text is not to be logged. A last line of defence; [`redecorate`] normally turned logging off.
pub(crate) fn must_not_log(r: &ConvRef) -> bool {
    let conv = r.conversation();
    // SAFETY: `conv` was looked up just now and is live for this call.
    !conv.is_null() && !log_encrypted() && unsafe { sys::purple_conversation_is_logging(conv) != 0 }
}

fn reset_held(r: &ConvRef) {
    let _ = with_state(|state| {
        if let Some(w) = state.windows.get_mut(&r.key()) {
            w.held_notified = false;
        }
    });
}

/// Make the window match the session: title marked and logging off while encrypted (unless the
/// user logs encrypted conversations), restored afterwards. Safe to call often: it only changes
/// what differs, so the `conversation-updated` it causes ends here.
pub(crate) fn redecorate(r: &ConvRef) {
    let conv = r.conversation();
    if conv.is_null() {
        return;
    }
    let log = log_encrypted();
    // SAFETY: `conv` was looked up just now and is live for this call.
    let is_logging = unsafe { sys::purple_conversation_is_logging(conv) != 0 };
    // A window opened after a restart belongs to a session that may still be in the store.
    let encrypted = service::conv_state(r) == Some(ConvState::Encrypted);
    // Decide with the state borrowed; act after. Every window of an encrypted session is kept
    // from logging, also one opened after the first (libpurple creates it with logging from
    // the `log_ims` preference).
    let set_logging = with_state(|state| {
        let w = state.windows.entry(r.key()).or_default();
        if encrypted && !log {
            w.logging_saved.get_or_insert(is_logging);
            Some(false)
        } else if !encrypted {
            w.logging_saved.take()
        } else {
            None
        }
    })
    .flatten();
    if let Some(logging) = set_logging {
        if logging != is_logging {
            // SAFETY: live conversation.
            unsafe { sys::purple_conversation_set_logging(conv, i32::from(logging)) };
        }
    }
    // SAFETY: live conversation.
    let title = unsafe { glue::conversation_title(conv) }.unwrap_or_default();
    let marked = title.ends_with(texts::TITLE_SUFFIX);
    if encrypted && !marked {
        let t = glue::cstring(&format!("{title}{}", texts::TITLE_SUFFIX));
        // SAFETY: live conversation, valid string (copied by libpurple).
        unsafe { sys::purple_conversation_set_title(conv, t.as_ptr()) };
    } else if !encrypted && marked {
        // SAFETY: live conversation.
        unsafe { sys::purple_conversation_autoset_title(conv) };
    }
}

/// What the user sees from `/sotto status`.
pub(crate) fn status_text(r: &ConvRef) -> String {
    texts::status(
        &r.peer,
        service::conv_state(r),
        service::peer_trust(r),
        service::waiting(r),
        glue::effective_policy(r),
        log_encrypted(),
    )
}

/// What the user sees from `/sotto fingerprint`.
pub(crate) fn fingerprint_text(r: &ConvRef) -> String {
    match service::fingerprints(r) {
        Some((ours, theirs)) => texts::fingerprints(&r.peer, &ours, theirs.as_deref()),
        None => texts::no_identity().to_owned(),
    }
}

/// End every encrypted or starting session (the user unloads the plugin while running: peers are
/// told, windows restored). Not called when libpurple is quitting: sessions persist then.
pub(crate) fn stop_all() {
    for r in service::active() {
        if let Some(fx) = service::start_or_stop(&r, false) {
            let fx = Effects {
                force_window: false,
                never_open: true,
                ..fx
            };
            apply(&r, fx);
        }
    }
}
