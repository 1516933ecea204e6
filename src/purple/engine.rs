//! Drives the protocol core from libpurple events and turns its outcomes into libpurple actions.
//!
//! Each entry point decides with the state borrowed ([`with_state`]) and acts after the borrow is
//! released ([`apply`]): injected lines go out with `serv_send_im`, events become one system line
//! each, and the window's title and logging follow the session state.

use rand_core::OsRng;

use crate::protocol::session::HoldReason;
use crate::protocol::{
    ConvState, Conversation, Event, Policy, ReceiveAction, ReceiveOutcome, SendAction,
};

use crate::protocol::IdentityKey;
use crate::store::Trust;

use super::bindings as sys;
use super::fragsize;
use super::glue::{self, prefs, ConvKey, ConvRef};
use super::state::{with_state, Session, State};

/// Blist setting on a buddy holding its per-contact policy.
pub(crate) const BUDDY_POLICY: &str = "sotto-policy";
/// Suffix on the title of an encrypted conversation.
pub(crate) const TITLE_SUFFIX: &str = " (encrypted)";

/// The global policy preference (default `opportunistic`).
pub(crate) fn global_policy() -> Policy {
    prefs::string(prefs::POLICY)
        .and_then(|s| Policy::parse(&s))
        .unwrap_or(Policy::Opportunistic)
}

/// The contact's override, else the global preference.
pub(crate) fn effective_policy(r: &ConvRef) -> Policy {
    glue::buddy_setting(r, BUDDY_POLICY)
        .and_then(|s| Policy::parse(&s))
        .unwrap_or_else(global_policy)
}

fn log_encrypted() -> bool {
    prefs::boolean(prefs::LOG_ENCRYPTED)
}

/// An account's long-term identity and its persistent instance tag.
#[derive(Clone)]
pub(crate) struct AccountIdentity {
    pub key: IdentityKey,
    pub instance_tag: u32,
}

/// The account's identity, loaded from the store or created there on first use.
pub(crate) fn identity(state: &mut State, r: &ConvRef) -> Option<AccountIdentity> {
    let key = r.key();
    let id = (key.protocol.clone(), key.account.clone());
    if let Some(found) = state.identities.get(&id) {
        return Some(found.clone());
    }
    let store = state.store.as_ref()?;
    match store.load_or_create_identity(&key.protocol, &key.account, &mut OsRng) {
        Ok((key, instance_tag)) => {
            let identity = AccountIdentity { key, instance_tag };
            state.identities.insert(id, identity.clone());
            Some(identity)
        }
        Err(e) => {
            glue::debug_error(&format!("identity for {}: {e}", key.protocol));
            None
        }
    }
}

/// The session for `r`: in memory, else restored from the store, else new. Policy and line size
/// are refreshed every time (preferences, the per-contact setting and IRC nicks change).
fn session<'s>(state: &'s mut State, r: &ConvRef) -> Option<&'s mut Session> {
    let key = r.key();
    if !state.sessions.contains_key(&key) {
        let identity = identity(state, r)?;
        let store = state.store.as_ref()?;
        let (p, a, peer) = (&key.protocol, &key.account, &key.peer);
        // A store that cannot be read gives no session at all (the caller refuses to send):
        // starting a blank one would forget the peer's keys, the ratchet and the queue.
        let restored = match store.load_session(p, a, peer) {
            Ok(Some(bytes)) => match Conversation::restore(identity.key.clone(), &bytes) {
                Ok(conv) => Some(conv),
                Err(e) => {
                    glue::debug_error(&format!("saved session unreadable ({e:?}); starting over"));
                    None
                }
            },
            Ok(None) => None,
            Err(e) => {
                glue::debug_error(&format!("loading a session: {e}"));
                return None;
            }
        };
        let mut conv = restored.unwrap_or_else(|| {
            Conversation::new(identity.key, identity.instance_tag, effective_policy(r))
        });
        let read = |what: &str, e: crate::store::StoreError| {
            glue::debug_error(&format!("loading {what}: {e}"));
        };
        if store
            .peer_runs_sotto(p, a, peer)
            .map_err(|e| read("a peer", e))
            .ok()?
        {
            conv.set_peer_supports_sotto(true);
        }
        // Keys accepted before (trust on first use), oldest first as the core keeps them. Not
        // readable means no session: an empty list would accept a changed key as new.
        let mut known: Vec<_> = store
            .trust_records(p, a, peer)
            .map_err(|e| read("trust records", e))
            .ok()?
            .into_iter()
            .map(|t| t.key)
            .collect();
        known.reverse();
        if !known.is_empty() {
            conv.set_known_peer_keys(known);
        }
        state.sessions.insert(
            key.clone(),
            Session {
                conv,
                peer_raw: r.peer.clone(),
                logging_saved: None,
                held_notified: false,
            },
        );
    }
    let s = state.sessions.get_mut(&key)?;
    s.conv.set_policy(effective_policy(r));
    s.conv.set_max_line(fragsize::for_protocol(
        &r.protocol,
        r.own_display_name().as_deref(),
        &r.peer,
        prefs::int(prefs::FRAGMENT_SIZE_DEFAULT),
    ));
    Some(s)
}

/// Make the session durable before anything it produced leaves (the store syncs each commit),
/// and record what the events say about the peer: runs Sotto, key seen, key verified.
///
/// `Err` (the reason) when the session could not be saved, or there is no store to save it in:
/// then nothing the operation produced may leave ([`fail_closed`]).
fn persist(state: &mut State, key: &ConvKey, events: &[Event]) -> Result<(), String> {
    let Some(s) = state.sessions.get(key) else {
        return Ok(());
    };
    let Some(store) = state.store.as_ref() else {
        return Err("Sotto has no key store".to_owned());
    };
    let (p, a, peer) = (&key.protocol, &key.account, &key.peer);
    // Plaintext chatter with no Sotto event changes nothing worth a synced write.
    if s.conv.state() != ConvState::Plaintext || !events.is_empty() {
        if let Err(e) = store.save_session(p, a, peer, &s.conv.snapshot()) {
            glue::debug_error(&format!("saving a session: {e}"));
            return Err(e.to_string());
        }
    }
    // A changed key is recorded only once the user accepts it (`accept_key`): on a restart the
    // recorded keys are the accepted ones.
    let key_changed = events
        .iter()
        .any(|e| matches!(e, Event::PeerKeyChanged { .. }));
    for event in events {
        let res = match event {
            Event::PeerSupportsSotto => store.set_peer_runs_sotto(p, a, peer),
            Event::Started { peer: k, .. } if !key_changed => store.record_key_seen(p, a, peer, k),
            Event::VerificationResult {
                success: true,
                we_asked: true,
                peer: k,
            } => store.set_trust(p, a, peer, k, Trust::Verified),
            _ => Ok(()),
        };
        if let Err(e) = res {
            glue::debug_error(&format!("recording trust: {e}"));
        }
    }
    Ok(())
}

/// The session could not be saved: put the conversation back to what the store last holds.
///
/// Why roll back rather than keep the newer state in memory: the newer state consumed message
/// keys for lines that will now never leave. Kept in memory, it would run ahead of disk, and a
/// crash before the next successful save would restart from the older snapshot and encrypt new
/// text under keys a *sent* message had already used. Rolled back, memory equals disk, exactly as
/// after a crash at this instant, and nothing produced from the discarded state is sent: every
/// key that ever reaches the wire has been durable first. When the store cannot even be read, the
/// session is dropped, and every later send is refused until it can ([`session`]).
fn roll_back(state: &mut State, r: &ConvRef) {
    let key = r.key();
    let old = state.sessions.remove(&key);
    if session(state, r).is_none() {
        return;
    }
    if let (Some(old), Some(s)) = (old, state.sessions.get_mut(&key)) {
        s.peer_raw = old.peer_raw;
        s.logging_saved = old.logging_saved;
    }
}

/// After a failed save: discard what the operation produced (no injected line, no event about
/// a state that was rolled back), roll back, and say so once in the window.
fn fail_closed(state: &mut State, r: &ConvRef, fx: &mut Effects, reason: &str, what: &str) {
    roll_back(state, r);
    fx.inject.clear();
    fx.events.clear();
    fx.notices.push(format!(
        "{what}: Sotto could not save its encryption state ({reason}), and it sends nothing \
         it has not saved. Check the disk and the permissions of ~/.purple/sotto."
    ));
}

/// How the user trusts the key of the current (or last) session with `r`.
pub(crate) fn peer_trust(r: &ConvRef) -> Option<Trust> {
    let key = r.key();
    with_state(|state| {
        let peer_key = state.sessions.get(&key)?.conv.peer_identity()?;
        let store = state.store.as_ref()?;
        store
            .trust_records(&key.protocol, &key.account, &key.peer)
            .ok()?
            .into_iter()
            .find(|t| t.key == peer_key)
            .map(|t| t.trust)
    })
    .flatten()
}

/// Where replies to `r` go (the peer's name as last seen on the wire).
fn reply_ref(state: &State, r: &ConvRef) -> ConvRef {
    let mut out = r.clone();
    if let Some(s) = state.sessions.get(&r.key()) {
        out.peer = s.peer_raw.clone();
    }
    out
}

/// What the send path should do with the user's text.
pub(crate) enum Outgoing {
    /// Let the text go out unchanged (policy allows plaintext, no session).
    Plaintext,
    /// Send these lines instead, in order.
    Lines(Vec<String>),
    /// Do not send (queued, or refused).
    Hold,
}

/// The user (or an auto-reply) sends `text` to `r`. Returns the decision plus what to apply.
pub(crate) fn outgoing(r: &ConvRef, text: &str) -> Option<(Outgoing, Effects)> {
    with_state(|state| {
        let s = session(state, r)?;
        let mut fx = Effects::default();
        // Under `opportunistic` the core starts a handshake by itself, but only with a peer it
        // knows runs Sotto (`set_peer_supports_sotto`): nobody else gets unsolicited traffic.
        let out = s.conv.send(text, &mut OsRng);
        let saved = persist(state, &r.key(), &out.events);
        fx.absorb(out.inject, out.events);
        let mut decision = match out.action {
            SendAction::SendPlaintext => Outgoing::Plaintext,
            SendAction::Replace(lines) if lines.is_empty() => Outgoing::Hold,
            SendAction::Replace(lines) => Outgoing::Lines(lines),
            SendAction::Hold => Outgoing::Hold,
        };
        if let Err(reason) = saved {
            // The typed text is neither sent nor queued: show it back so it is not lost.
            let what = format!("message NOT sent ({})", text.trim());
            fail_closed(state, r, &mut fx, &reason, &what);
            decision = Outgoing::Hold;
        }
        let reply = reply_ref(state, r);
        fx.target = Some(reply);
        Some((decision, fx))
    })
    .flatten()
}

/// A message arrived from `r` (text already stripped of markup).
pub(crate) fn incoming(r: &ConvRef, text: &str) -> Option<(ReceiveAction, Effects)> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    with_state(|state| {
        let key = r.key();
        // Every message goes to the session (loaded from the store after a restart), so a
        // plaintext message during an encrypted session is flagged. Plaintext chatter creates no
        // stored state (`persist` writes only Sotto activity).
        let s = session(state, r)?;
        s.peer_raw = r.peer.clone();
        let out = s.conv.receive(text, now, &mut OsRng);
        let saved = persist(state, &key, &out.events);
        let mut fx = Effects::default();
        fx.absorb(out.inject, out.events);
        if let Err(reason) = saved {
            // A decrypted message is still shown (the peer's ratchet has moved on: it would be
            // lost); replies the protocol wanted to send are not.
            let what = format!("{}'s message was read but nothing was answered", r.peer);
            fail_closed(state, r, &mut fx, &reason, &what);
        }
        fx.target = Some(r.clone());
        Some((out.action, fx))
    })
    .flatten()
}

/// A user action on the conversation with `r` (start, stop, accept a key, verify...).
pub(crate) fn user_action(
    r: &ConvRef,
    act: impl FnOnce(&mut Conversation, &mut OsRng) -> ReceiveOutcome,
) -> Option<Effects> {
    with_state(|state| {
        let reply = reply_ref(state, r);
        let s = session(state, r)?;
        let out = act(&mut s.conv, &mut OsRng);
        let saved = persist(state, &r.key(), &out.events);
        let mut fx = Effects::default();
        fx.absorb(out.inject, out.events);
        if let Err(reason) = saved {
            fail_closed(state, r, &mut fx, &reason, "nothing was done or sent");
        }
        fx.target = Some(reply);
        fx.force_window = true;
        Some(fx)
    })
    .flatten()
}

/// The user accepts the peer's changed key (`/sotto accept`): recorded as seen (unverified) and
/// whatever was held goes out.
pub(crate) fn accept_key(r: &ConvRef) -> Option<Effects> {
    let fx = user_action(r, |conv, rng| conv.acknowledge_peer_key(rng))?;
    let key = r.key();
    let _ = with_state(|state| {
        let peer_key = state.sessions.get(&key)?.conv.peer_identity()?;
        let store = state.store.as_ref()?;
        if let Err(e) = store.record_key_seen(&key.protocol, &key.account, &key.peer, &peer_key) {
            glue::debug_error(&format!("recording an accepted key: {e}"));
        }
        Some(())
    });
    Some(fx)
}

/// The user asked to start (`true`) or stop encryption with `r`.
pub(crate) fn start_or_stop(r: &ConvRef, start: bool) -> Option<Effects> {
    user_action(r, |conv, rng| {
        if start {
            conv.start(rng)
        } else {
            conv.stop(rng)
        }
    })
}

/// End every encrypted or starting session (the user unloads the plugin while running: peers are
/// told, windows restored). Not called when libpurple is quitting: sessions persist then.
pub(crate) fn stop_all() {
    let targets: Vec<ConvRef> = with_state(|state| {
        state
            .sessions
            .iter()
            .filter(|(_, s)| s.conv.state() != ConvState::Plaintext)
            .map(|(k, s)| ConvRef {
                protocol: k.protocol.clone(),
                account: k.account.clone(),
                peer: s.peer_raw.clone(),
            })
            .collect()
    })
    .unwrap_or_default();
    for r in targets {
        if let Some(fx) = start_or_stop(&r, false) {
            apply(Effects {
                force_window: false,
                never_open: true,
                ..fx
            });
        }
    }
}

/// Fingerprint of an account's identity (created on first use).
pub(crate) fn account_fingerprint(protocol: &str, account: &str) -> Option<String> {
    // The identity is per account; the peer part of the reference is not used.
    let r = ConvRef {
        protocol: protocol.to_owned(),
        account: account.to_owned(),
        peer: account.to_owned(),
    };
    with_state(|state| identity(state, &r).map(|i| i.key.public().fingerprint().to_string()))
        .flatten()
}

/// State of the session with `r`, if one exists.
/// (Loaded from the store if needed: after a restart the first question may come before any
/// message.)
pub(crate) fn conv_state(r: &ConvRef) -> Option<ConvState> {
    with_state(|state| session(state, r).map(|s| s.conv.state())).flatten()
}

/// Messages waiting to be sent to `r`, and whether sending is blocked by a changed key.
pub(crate) fn waiting(r: &ConvRef) -> Option<(usize, bool)> {
    with_state(|state| session(state, r).map(|s| (s.conv.queued(), s.conv.is_blocked()))).flatten()
}

/// Our fingerprint for `r`'s account and the peer's, if known.
pub(crate) fn fingerprints(r: &ConvRef) -> Option<(String, Option<String>)> {
    with_state(|state| {
        let ours = identity(state, r)?.key.public().fingerprint().to_string();
        let theirs = session(state, r)
            .and_then(|s| s.conv.peer_identity())
            .map(|p| p.fingerprint().to_string());
        Some((ours, theirs))
    })
    .flatten()
}

/// What to do after a decision, with the state no longer borrowed.
#[derive(Default)]
pub(crate) struct Effects {
    pub inject: Vec<String>,
    pub events: Vec<Event>,
    /// Where injected lines go and whose window shows the events.
    pub target: Option<ConvRef>,
    /// Open a window for the events even when none is open (user-initiated actions).
    pub force_window: bool,
    /// Never open a window (plugin unload).
    pub never_open: bool,
    /// System lines to write after the events (a failed save).
    pub notices: Vec<String>,
}

impl Effects {
    fn absorb(&mut self, inject: Vec<String>, events: Vec<Event>) {
        self.inject.extend(inject);
        self.events.extend(events);
    }
}

/// Send the injected lines, write one line per event, and make the window match the state.
pub(crate) fn apply(fx: Effects) {
    let Some(r) = fx.target else { return };
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
        r.system_line(notice);
    }
    redecorate(&r);
}

fn write_event(r: &ConvRef, event: Event) {
    let peer = r.peer.as_str();
    match event {
        Event::HandshakeStarted => {
            r.system_line(&format!("starting an encrypted conversation with {peer}…"));
        }
        Event::Started { fingerprint, .. } => {
            let logging = if log_encrypted() {
                "This conversation is being logged."
            } else {
                "This conversation is not logged."
            };
            let trust = if peer_trust(r) == Some(Trust::Verified) {
                "verified".to_owned()
            } else {
                format!("unverified: compare it with {peer} over another channel")
            };
            r.system_line(&format!(
                "encrypted conversation started. {peer}'s fingerprint is {fingerprint} \
                 ({trust}). {logging}"
            ));
        }
        Event::Ended { by_peer: true } => r.system_line(&format!(
            "{peer} ended the encrypted conversation. Your messages are held: \
             /sotto stop to send in plaintext, or /sotto start to encrypt again."
        )),
        Event::Ended { by_peer: false } => {
            r.system_line("encrypted conversation ended. Messages are now sent unencrypted.");
        }
        Event::Held { queued, reason } => {
            let first = with_state(|state| {
                state
                    .sessions
                    .get_mut(&r.key())
                    .map(|s| !std::mem::replace(&mut s.held_notified, true))
            })
            .flatten()
            .unwrap_or(true);
            if first {
                let why = match reason {
                    HoldReason::Handshaking => "until the encrypted session is up",
                    HoldReason::PolicyAlways => {
                        "until the encrypted session is up (policy: never send plaintext)"
                    }
                    HoldReason::EndedByPeer => {
                        "because the peer ended the encrypted conversation (/sotto start or /sotto stop)"
                    }
                    HoldReason::Blocked => "until you acknowledge the peer's new key",
                };
                r.system_line(&format!(
                    "message held {why}; {queued} waiting. It will be sent encrypted, in order."
                ));
            }
        }
        Event::QueuedSent { text } => {
            reset_held(r);
            show_sent(r, &text);
        }
        Event::Unsent { text } => {
            reset_held(r);
            r.system_line(&format!("not sent: {text}"));
        }
        // Recorded in the store by `persist`; nothing to show.
        Event::PeerSupportsSotto => {}
        Event::Unreadable { reason } => {
            r.system_line(&format!(
                "an encrypted message from {peer} could not be read ({reason})."
            ));
        }
        Event::PeerError { text } => {
            r.system_line(&format!("{peer}'s Sotto reported an error: {text}"));
        }
        Event::PlaintextWhileEncrypted => {
            r.system_line(&format!("the next message from {peer} was NOT encrypted."))
        }
        Event::HandshakeFailed { reason } => {
            r.system_line(&format!(
                "could not start the encrypted conversation: {reason}"
            ));
        }
        // Trust on first use; accepted keys are recorded in the store (`persist`, `accept_key`).
        Event::NewPeerKey { .. } => r.system_line(&format!(
            "{peer}'s key is new to Sotto: accepted on first use, not verified yet \
             (/sotto verify)."
        )),
        Event::PeerKeyChanged { fingerprint } => {
            r.system_line(&format!(
                "WARNING: {peer}'s key changed; the new fingerprint is {fingerprint}. This can be a \
                 new device or someone in the middle. Your messages are held: check the \
                 fingerprint with {peer} over another channel, then /sotto accept (or /sotto stop)."
            ));
            super::dialogs::key_changed(r, &fingerprint.to_string());
        }
        Event::VerificationQuestion { question } => {
            r.system_line(&format!(
                "{peer} asks you to verify them: \"{question}\". Reply with /sotto answer <your \
                 answer>, or in the dialog."
            ));
            super::dialogs::answer(r, &question);
        }
        Event::VerificationResult { success: true, .. } => r.system_line(&format!(
            "verification succeeded: {peer} gave the same answer in this encrypted session."
        )),
        Event::VerificationResult { success: false, .. } => r.system_line(&format!(
            "verification FAILED: the answers differ. Do not trust this session with {peer} \
             until you have checked fingerprints."
        )),
        Event::VerificationAborted => r.system_line("verification did not complete."),
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
        if let Some(s) = state.sessions.get_mut(&r.key()) {
            s.held_notified = false;
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
    // Decide with the state borrowed; act after.
    let decision = with_state(|state| {
        // A window opened after a restart belongs to a session that may still be in the store.
        let s = session(state, r)?;
        let encrypted = s.conv.state() == ConvState::Encrypted;
        // Every window of an encrypted session is kept from logging, also one opened after
        // the first (libpurple creates it with logging from the `log_ims` preference).
        let set_logging = if encrypted && !log {
            s.logging_saved.get_or_insert(is_logging);
            Some(false)
        } else if !encrypted {
            s.logging_saved.take()
        } else {
            None
        };
        Some((encrypted, set_logging))
    })
    .flatten();
    let encrypted = decision.map(|d| d.0).unwrap_or(false);
    if let Some((_, Some(logging))) = decision {
        if logging != is_logging {
            // SAFETY: live conversation.
            unsafe { sys::purple_conversation_set_logging(conv, i32::from(logging)) };
        }
    }
    // SAFETY: live conversation.
    let title = unsafe { glue::conversation_title(conv) }.unwrap_or_default();
    let marked = title.ends_with(TITLE_SUFFIX);
    if encrypted && !marked {
        let t = glue::cstring(&format!("{title}{TITLE_SUFFIX}"));
        // SAFETY: live conversation, valid string (copied by libpurple).
        unsafe { sys::purple_conversation_set_title(conv, t.as_ptr()) };
    } else if !encrypted && marked {
        // SAFETY: live conversation.
        unsafe { sys::purple_conversation_autoset_title(conv) };
    }
}
