//! The sessions service ([`crate::sessions`]) as libpurple callbacks reach it: each function turns
//! a [`ConvRef`] into the service's key and settings (normalized names, the contact's policy, the
//! protocol's line size), calls the service with the state borrowed, writes the service's debug
//! lines, and returns what to do. Acting on the result is the presenter's job (`present::apply`),
//! after the borrow is released.

use rand_core::OsRng;

use crate::protocol::{ConvState, Conversation, IdentityPublic, ReceiveAction, ReceiveOutcome};
use crate::sessions::{trust::Change, ConvRef, Effects, Outgoing, Sessions, Settings};
use crate::store::{Trust, TrustRecord};

use super::fragsize;
use super::glue::{self, prefs};
use super::state::{with_state, State};

/// The contact's settings: its policy (override, else global) and the line size on its
/// protocol (which depends on both nicks on IRC).
pub(crate) fn settings(r: &ConvRef) -> Settings {
    Settings {
        policy: glue::effective_policy(r),
        max_line: fragsize::for_protocol(
            &r.protocol,
            r.own_display_name().as_deref(),
            &r.peer,
            prefs::int(prefs::FRAGMENT_SIZE_DEFAULT),
        ),
    }
}

/// Run `f` on the service with the state borrowed; the service's debug lines are written after.
fn with_sessions<T>(f: impl FnOnce(&mut Sessions) -> T) -> Option<T> {
    let (out, log) = with_state(|state: &mut State| {
        let out = f(&mut state.sessions);
        (out, state.sessions.take_log())
    })?;
    for line in log {
        glue::debug_error(&line);
    }
    Some(out)
}

/// The user (or an auto-reply) sends `text` to `r`.
pub(crate) fn outgoing(r: &ConvRef, text: &str) -> Option<(Outgoing, Effects)> {
    let (key, settings) = (r.key(), settings(r));
    with_sessions(|s| s.outgoing(&key, &r.peer, text, settings, &mut OsRng)).flatten()
}

/// A message arrived from `r` (text already stripped of markup).
pub(crate) fn incoming(r: &ConvRef, text: &str) -> Option<(ReceiveAction, Effects)> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (key, settings) = (r.key(), settings(r));
    with_sessions(|s| s.incoming(&key, &r.peer, text, settings, now, &mut OsRng)).flatten()
}

/// A user action on the conversation with `r` (start, stop, verify...).
pub(crate) fn act(
    r: &ConvRef,
    act: impl FnOnce(&mut Conversation, &mut OsRng) -> ReceiveOutcome,
) -> Option<Effects> {
    let (key, settings) = (r.key(), settings(r));
    with_sessions(|s| s.act(&key, &r.peer, settings, &mut OsRng, act)).flatten()
}

/// The user asked to start (`true`) or stop encryption with `r`.
pub(crate) fn start_or_stop(r: &ConvRef, start: bool) -> Option<Effects> {
    let (key, settings) = (r.key(), settings(r));
    with_sessions(|s| s.start_or_stop(&key, &r.peer, settings, start, &mut OsRng)).flatten()
}

/// The user accepts the contact's changed key.
pub(crate) fn accept_key(r: &ConvRef) -> Option<Effects> {
    let (key, settings) = (r.key(), settings(r));
    with_sessions(|s| s.accept_key(&key, &r.peer, settings, &mut OsRng)).flatten()
}

/// Loaded conversations that are not in plaintext, as references replies go to.
pub(crate) fn active() -> Vec<ConvRef> {
    with_sessions(|s| s.active())
        .unwrap_or_default()
        .into_iter()
        .map(|(k, peer)| ConvRef {
            protocol: k.protocol,
            account: k.account,
            peer,
        })
        .collect()
}

/// State of the conversation with `r`, loaded from the store if needed.
pub(crate) fn conv_state(r: &ConvRef) -> Option<ConvState> {
    let (key, settings) = (r.key(), settings(r));
    with_sessions(|s| s.state(&key, &r.peer, settings)).flatten()
}

/// Messages waiting to be sent to `r`, and whether sending is blocked by a changed key.
pub(crate) fn waiting(r: &ConvRef) -> Option<(usize, bool)> {
    let (key, settings) = (r.key(), settings(r));
    with_sessions(|s| s.waiting(&key, &r.peer, settings)).flatten()
}

/// The contact's key in the current (or last) session with `r`, loaded from the store if needed.
pub(crate) fn peer_key(r: &ConvRef) -> Option<IdentityPublic> {
    let (key, settings) = (r.key(), settings(r));
    with_sessions(|s| s.peer_key(&key, &r.peer, settings)).flatten()
}

/// Whether the contact's question still waits for our answer.
pub(crate) fn question_pending(r: &ConvRef) -> bool {
    let key = r.key();
    with_sessions(|s| s.pending_question(&key).is_some()).unwrap_or(false)
}

/// How the user trusts the key of the current (or last) session with `r`.
pub(crate) fn peer_trust(r: &ConvRef) -> Option<Trust> {
    let key = r.key();
    with_sessions(|s| s.peer_trust(&key)).flatten()
}

/// Fingerprint of an account's identity (created on first use).
pub(crate) fn account_fingerprint(protocol: &str, account: &str) -> Option<String> {
    // The identity is per account; the peer part of the reference is not used.
    let r = ConvRef {
        protocol: protocol.to_owned(),
        account: account.to_owned(),
        peer: account.to_owned(),
    };
    let key = r.key();
    with_sessions(|s| s.identity(&key.protocol, &key.account))
        .flatten()
        .map(|i| i.key.public().fingerprint().to_string())
}

/// Our fingerprint for `r`'s account and the contact's, if known.
pub(crate) fn fingerprints(r: &ConvRef) -> Option<(String, Option<String>)> {
    let (key, settings) = (r.key(), settings(r));
    with_sessions(|s| {
        let ours = s
            .identity(&key.protocol, &key.account)?
            .key
            .public()
            .fingerprint()
            .to_string();
        let theirs = s
            .peer_key(&key, &r.peer, settings)
            .map(|p| p.fingerprint().to_string());
        Some((ours, theirs))
    })
    .flatten()
}

/// The user compared fingerprints: `peer_key` is recorded, verified.
pub(crate) fn mark_verified(r: &ConvRef, peer_key: &IdentityPublic) -> Option<Result<(), String>> {
    let key = r.key();
    with_sessions(|s| s.mark_verified(&key, peer_key))
}

/// Every recorded key of every contact.
pub(crate) fn all_trust_records() -> Vec<TrustRecord> {
    with_sessions(|s| s.all_trust_records()).unwrap_or_default()
}

/// Verify, unverify or forget one recorded key.
pub(crate) fn change_record(t: &TrustRecord, change: Change) -> bool {
    with_sessions(|s| s.change_record(t, change)).unwrap_or(false)
}
