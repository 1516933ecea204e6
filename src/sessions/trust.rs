//! Trust has one owner: this file. It is the only code that writes trust records (keys seen,
//! verified, forgotten) and the only code that tells a loaded conversation which of the peer's
//! keys the user has accepted.
//!
//! The store's trust table is the source of truth: a key is in it once the user accepted it (on
//! first use, or after a change). A conversation keeps a copy only to decide, inside the
//! protocol core, whether a new session's key is new, known or changed; that copy is refreshed
//! from the table whenever the conversation is loaded and whenever the table changes.

use crate::protocol::{Conversation, Event, IdentityPublic, ReceiveAction};
use crate::store::{Store, StoreError, Trust, TrustRecord};

use super::{ConvKey, Sessions};

/// What the user does to a recorded key in the Known fingerprints view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Mark it verified.
    Verify,
    /// Mark it unverified.
    Unverify,
    /// Forget it: the next session accepts the contact's key as new (when the contact has no
    /// other key accepted; with another, the key forgotten is a changed key, and a session
    /// that uses it is held until accepted again).
    Forget,
}

/// Hold `conv` as a changed key is held when its session's key is not among the keys accepted
/// for the name while others are (a key forgotten in the Known list, a contact renamed onto a
/// known name, a save that did not happen): what its next handshake would be told, this session
/// is told now. Whether it was held by this call.
pub(super) fn hold_unaccepted(conv: &mut Conversation) -> bool {
    let Some(k) = conv.peer_identity() else {
        return false;
    };
    let known = conv.known_peer_keys();
    if conv.is_blocked() || known.is_empty() || known.contains(&k) {
        return false;
    }
    let _ = conv.set_blocked(true, &mut rand_core::OsRng);
    true
}

/// A message decrypted (`action`) in a session whose key is not accepted for the name (the
/// core says which: `ReceiveOutcome::unaccepted_key`): taken out of `action` (now swallowed),
/// with that key's fingerprint, to be shown as such, never as the contact's words. `None` for
/// anything else (the contact's words, plaintext) which stays as it was.
pub(super) fn unaccepted_words(
    unaccepted_key: Option<IdentityPublic>,
    action: &mut ReceiveAction,
) -> Option<(String, String)> {
    let key = unaccepted_key?;
    if !matches!(action, ReceiveAction::Display(_)) {
        return None;
    }
    let ReceiveAction::Display(text) = std::mem::replace(action, ReceiveAction::Swallow) else {
        return None;
    };
    Some((key.fingerprint().to_string(), text.to_string()))
}

/// Tell `conv` which of the peer's keys are accepted (oldest first, as the core keeps them).
pub(super) fn push_accepted(
    store: &Store,
    key: &ConvKey,
    conv: &mut Conversation,
) -> Result<(), StoreError> {
    let keys = store.accepted_keys(&key.protocol, &key.account, &key.peer)?;
    conv.set_known_peer_keys(keys);
    Ok(())
}

/// Record what a decision's events say about the peer: runs Sotto, key seen, key verified.
/// Returns debug-log lines for what could not be recorded (a failure here changes no sending
/// decision: the conversation itself was saved). Stops at the first failure: inside a save's
/// transaction a failed statement may have had SQLite roll the whole transaction back, and
/// the records after it would then each commit on their own while the save reports failure
/// (a key recorded as seen or verified on disk, memory rolled back: found by a read-only
/// review of the store).
pub(super) fn record_events(store: &Store, key: &ConvKey, events: &[Event]) -> Vec<String> {
    let (p, a, peer) = (&key.protocol, &key.account, &key.peer);
    // A changed key is recorded only once the user accepts it: the recorded keys are the
    // accepted ones.
    let key_changed = events.iter().any(|e| {
        matches!(
            e,
            Event::PeerKeyChanged { .. } | Event::NamesMismatch { .. }
        )
    });
    let mut notes = Vec::new();
    for event in events {
        let res = match event {
            Event::PeerSupportsSotto => store.set_peer_runs_sotto(p, a, peer),
            Event::Started { peer: k, .. } if !key_changed => store.record_key_seen(p, a, peer, k),
            // Recorded first: a changed key verified before the user accepted it has no row yet.
            Event::VerificationResult {
                success: true,
                we_asked: true,
                peer: k,
            } => store.record_key(p, a, peer, k, true),
            _ => Ok(()),
        };
        if let Err(e) = res {
            notes.push(format!("recording trust: {e}"));
            break;
        }
    }
    notes
}

impl Sessions {
    /// How the user trusts the key of the current (or last) session with `key`.
    pub fn peer_trust(&self, key: &ConvKey) -> Option<Trust> {
        let peer_key = self.sessions.get(key)?.conv.peer_identity()?;
        self.store
            .as_ref()?
            .trust_records(&key.protocol, &key.account, &key.peer)
            .ok()?
            .into_iter()
            .find(|t| t.key == peer_key)
            .map(|t| t.trust)
    }

    /// The user compared fingerprints and they matched: `peer_key` is recorded, verified.
    pub fn mark_verified(
        &mut self,
        key: &ConvKey,
        peer_key: &IdentityPublic,
    ) -> Result<(), String> {
        self.user_acted(key);
        let Some(store) = self.store.as_ref() else {
            return Err("no key store".to_owned());
        };
        let (p, a, peer) = (&key.protocol, &key.account, &key.peer);
        // One write: a failure leaves the key as it was (two used to leave it accepted, not
        // verified, after "storage problem").
        let res = store.record_key(p, a, peer, peer_key, true);
        // A loaded conversation learns the key it now has accepted (it may have been forgotten
        // before): its copy of the accepted keys is what a next handshake is judged by, and a
        // copy without the key took another key, after a stop, as a first one.
        let res = res.and_then(|()| match self.sessions.get_mut(key) {
            Some(s) => push_accepted(store, key, &mut s.conv).map(|()| {
                Self::hold_unaccepted_others(s);
            }),
            None => Ok(()),
        });
        res.map_err(|e| {
            self.note(format!("marking a key verified: {e}"));
            "storage problem".to_owned()
        })
    }

    /// Every recorded key of every contact (the Known fingerprints view), and how many
    /// records are damaged. `Err`: why none could be read.
    pub fn all_trust_records(&self) -> Result<(Vec<TrustRecord>, usize), String> {
        let store = self.store.as_ref().ok_or("no key store")?;
        store.all_trust_records().map_err(|e| e.to_string())
    }

    /// Verify, unverify or forget one recorded key. Marking it unverified or forgetting it
    /// does so under every name of the account that holds the key (a rename copies a name's
    /// keys to the name the contact takes: a withdrawal left on one was undone by coming back
    /// under the other); verifying marks this record only. A loaded conversation with a name
    /// that forgot the key learns the keys that remain, and is held if its session uses the
    /// key forgotten while another is accepted ([`Changed::Held`]); so is another client of
    /// the contact that uses it ([`Changed::HeldOther`]).
    pub fn change_record(&mut self, t: &TrustRecord, change: Change) -> RecordChange {
        let failed = RecordChange {
            done: Changed::Failed,
            also: Vec::new(),
        };
        let Some((protocol, account)) = t.protocol_and_account() else {
            return failed;
        };
        let key = ConvKey {
            protocol: protocol.to_owned(),
            account: account.to_owned(),
            peer: t.peer.clone(),
        };
        if change == Change::Verify {
            self.user_acted(&key);
        }
        let Some(store) = self.store.as_ref() else {
            return failed;
        };
        let (p, a, peer) = (&key.protocol, &key.account, &key.peer);
        let res = match change {
            Change::Verify => store
                .set_trust(p, a, peer, &t.key, Trust::Verified)
                .map(|done| done.then(Vec::new)),
            Change::Unverify => store.withdraw_trust(p, a, peer, &t.key, false),
            Change::Forget => store.withdraw_trust(p, a, peer, &t.key, true),
        };
        let others = match res {
            // Forgotten or changed meanwhile (another copy of the list): nothing to do.
            Ok(None) => {
                return RecordChange {
                    done: Changed::Gone,
                    also: Vec::new(),
                }
            }
            Ok(Some(others)) => others,
            Err(e) => {
                self.note(format!("changing a recorded key: {e}"));
                return failed;
            }
        };
        if change != Change::Forget {
            return RecordChange {
                done: Changed::Done,
                also: others.into_iter().map(|o| (o, Changed::Done)).collect(),
            };
        }
        let done = self.after_forget(&key);
        let also = others
            .into_iter()
            .map(|other| {
                let k = ConvKey {
                    peer: other.clone(),
                    ..key.clone()
                };
                (other, self.after_forget(&k))
            })
            .collect();
        RecordChange { done, also }
    }

    /// A key was forgotten for `key`'s name: its loaded conversation, if any, learns the keys
    /// that remain and is held if its session (or another client's) uses the one forgotten.
    fn after_forget(&mut self, key: &ConvKey) -> Changed {
        let Some(store) = self.store.as_ref() else {
            return Changed::Failed;
        };
        let (mut held, mut held_other) = (false, false);
        let res = match self.sessions.get_mut(key) {
            Some(s) => push_accepted(store, key, &mut s.conv).map(|()| {
                held = hold_unaccepted(&mut s.conv);
                held_other = Self::hold_unaccepted_others(s);
            }),
            None => Ok(()),
        };
        if let Err(e) = res {
            self.note(format!("changing a recorded key: {e}"));
            return Changed::Failed;
        }
        if held || held_other {
            if let Err(reason) = self.persist(key, &[]) {
                // Memory stays held; disk loads held too (`Sessions::load`, `load_others`
                // through `refresh_others`).
                self.note(format!(
                    "saving a conversation held after a key was forgotten: {reason}"
                ));
            }
        }
        match (held, held_other) {
            (true, _) => Changed::Held,
            (false, true) => Changed::HeldOther,
            (false, false) => Changed::Done,
        }
    }
}

/// What [`Sessions::change_record`] did to the record, and to the other names of the account
/// that held its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordChange {
    /// What became of the record itself.
    pub done: Changed,
    /// The other names of the account whose copy of the key was marked unverified or forgotten
    /// with it, and what became of each (never [`Changed::Gone`]).
    pub also: Vec<(String, Changed)>,
}

/// What [`Sessions::change_record`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Changed {
    /// Nothing: the store could not do it.
    Failed,
    /// Nothing: the key is no longer recorded (forgotten meanwhile, from another copy of the
    /// list).
    Gone,
    /// Done.
    Done,
    /// Done, and the contact's session, which uses the key forgotten while another key of the
    /// contact is accepted, is held until that key is accepted again.
    Held,
    /// Done, and another client of the contact, whose session uses the key forgotten, gets
    /// nothing typed until that key is accepted again (the main session goes on).
    HeldOther,
}

/// Why accepting a key was refused.
pub enum AcceptError {
    /// No session with this contact has a key to accept.
    NoKey,
    /// The contact's current key is not the one the user checked (it changed again since the
    /// dialog was shown, or the fingerprint typed is another one).
    Different {
        /// The key the session has now.
        current: IdentityPublic,
    },
    /// The decision could not be saved: nothing was accepted (the conversation was rolled
    /// back, still held) and nothing recorded; what to tell the user is in the effects.
    NotSaved(Box<super::Effects>),
}

// By hand: the effects carry what the user typed, never printed.
impl std::fmt::Debug for AcceptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoKey => f.write_str("NoKey"),
            Self::Different { current } => f
                .debug_struct("Different")
                .field("current", &current.fingerprint().to_string())
                .finish(),
            Self::NotSaved(_) => f.write_str("NotSaved"),
        }
    }
}

impl Sessions {
    /// The user accepts the contact's changed key `expected` (the key-change dialog shows one
    /// fingerprint; `/sotto accept` names one): the conversation sends what it held, and the key
    /// is recorded as accepted (unverified). Refused, changing nothing, when the session's key is
    /// not `expected`: a server that completes its own handshake before the click gets nothing.
    pub fn accept_key<R: rand_core::CryptoRngCore>(
        &mut self,
        key: &ConvKey,
        peer_raw: &str,
        settings: &super::Settings,
        expected: &IdentityPublic,
        rng: &mut R,
    ) -> Option<Result<super::Effects, AcceptError>> {
        self.user_acted(key);
        match self.peer_key(key, peer_raw, settings) {
            None => return Some(Err(AcceptError::NoKey)),
            Some(current) if current != *expected => {
                return Some(Err(AcceptError::Different { current }))
            }
            Some(_) => {}
        }
        // The key is recorded as accepted in the save's own transaction (as a session's start
        // records its key): a kill between two commits cannot leave the conversation sending
        // while the trust table, which a restart goes by, has it held again.
        let accepted = Event::Started {
            peer: *expected,
            fingerprint: expected.fingerprint(),
        };
        // A client whose own session this one now is needs it no more: its place goes, its
        // row in this save's commit (in a commit of its own after it, a kill between the two
        // brought it back at the next load, as one that reads, when it was superseded by its
        // address: found by a review of the store).
        let mut moved = false;
        let (fx, saved) = self.act_saved(key, peer_raw, settings, rng, &[accepted], |s, rng| {
            let out = s.conv.acknowledge_peer_key(rng);
            if !s.conv.is_blocked() {
                let (gone, waiting) = s.superseded_by_main(true);
                s.gone_rows.extend(gone);
                moved = waiting;
            }
            out
        })?;
        // Not saved: rolled back, still held, and the user told so. The trust table must not
        // say otherwise (a later handshake with the key would then lift the hold by itself,
        // and the title would drop its "key NOT accepted"); nor may the window say accepted.
        if !saved {
            return Some(Err(AcceptError::NotSaved(Box::new(fx))));
        }
        let mut fx = fx;
        // What waited to be sent again to a client that went goes now, over the session it now
        // holds (new to those texts), in a saved operation of its own.
        if moved {
            if let Some((more, _)) = self.act_saved(key, peer_raw, settings, rng, &[], |s, rng| {
                s.conv.send_waiting(rng)
            }) {
                fx.absorb(more.inject, more.events);
                fx.elsewhere.extend(more.elsewhere);
                fx.notices.extend(more.notices);
            }
        }
        Some(Ok(fx))
    }
}

/// Whether `events` say a question we asked was answered right.
pub(super) fn verified_by_us(events: &[Event]) -> bool {
    events.iter().any(|e| {
        matches!(
            e,
            Event::VerificationResult {
                success: true,
                we_asked: true,
                ..
            }
        )
    })
}

/// A verification we asked for succeeded on the session's key while that key waits for the
/// user's acceptance (it changed): checking it is exactly what acceptance asks for, so it is
/// accepted in the same step, and what was held goes out. Recorded (seen, then verified) by
/// [`record_events`] when the decision is saved.
pub(super) fn accept_if_verified(
    conv: &mut Conversation,
    out: &mut crate::protocol::ReceiveOutcome,
    rng: &mut impl rand_core::CryptoRngCore,
) {
    let verified = out.events.iter().find_map(|e| match e {
        Event::VerificationResult {
            success: true,
            we_asked: true,
            peer,
        } => Some(*peer),
        _ => None,
    });
    if verified.is_some() && conv.is_blocked() && conv.peer_identity() == verified {
        let more = conv.acknowledge_peer_key(rng);
        out.inject.extend(more.inject);
        out.events.extend(more.events);
    }
}

/// Fingerprint groups (five hex digits each) `/sotto accept` needs at least: 80 bits. One group,
/// 20 bits, could be matched by a key a hostile server (or an invented client of the contact)
/// generates in about a million tries, and the user's `/sotto accept` would accept it.
pub const ACCEPT_GROUPS: usize = 4;

/// The start of `fingerprint` (as displayed, groups separated by spaces) that `/sotto accept`
/// needs: its first [`ACCEPT_GROUPS`] groups.
pub fn accept_prefix(fingerprint: &str) -> String {
    fingerprint
        .split(' ')
        .take(ACCEPT_GROUPS)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `typed` names `fingerprint`: its first [`ACCEPT_GROUPS`] groups or more, case and
/// the separators a fingerprint is dictated or pasted with ignored (spaces, dashes, colons,
/// commas, full stops: `ABCDE-12345-…` or one copied with the full stop after it is the key
/// the user checked). What `/sotto accept` takes, so the user accepts the key they checked.
pub fn fingerprint_prefix_matches(fingerprint: &crate::protocol::Fingerprint, typed: &str) -> bool {
    let typed: String = typed
        .chars()
        .filter(|&c| !is_fingerprint_separator(c))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let full: String = fingerprint.to_string().replace(' ', "");
    typed.len() >= 5 * ACCEPT_GROUPS
        && typed.chars().all(|c| c.is_ascii_hexdigit())
        && full.starts_with(&typed)
}

/// What may stand between a fingerprint's digits as typed ([`fingerprint_prefix_matches`]).
pub fn is_fingerprint_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '-' | ':' | '.' | ',')
}
