//! [`Conversation`]: the transitions of one conversation's state machine, driven by user
//! actions and incoming lines.
//!
//! Where it stands is one [`Phase`]. Two things live beside the phase because they outlast
//! phases: the previous session (late messages of a re-keyed session still decrypt) and the
//! sending block of a changed peer key (it survives the peer ending the session and a restart,
//! until the user accepts the key or stops).

use std::collections::VecDeque;
use std::mem;

use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use super::events::{
    Event, HoldReason, ReceiveAction, ReceiveOutcome, SendAction, SendOutcome, UnreadableReason,
};
use super::phase::{Handshake, Phase, Session};
use super::verification::{Channel, Verification};
use super::{
    ConvState, Policy, DEFAULT_MAX_LINE, KIND_END, KIND_TEXT, MAX_KNOWN_KEYS, MAX_PLAINTEXT,
    MAX_QUEUE,
};
use crate::protocol::fragment::{self, Reassembler};
use crate::protocol::handshake::{Established, HandshakeError, Initiator, Responder};
use crate::protocol::identity::{IdentityKey, IdentityPublic};
use crate::protocol::names::Names;
use crate::protocol::wire::{DecodeError, WireMessage};

/// One conversation with one peer.
pub struct Conversation {
    pub(super) identity: IdentityKey,
    pub(super) tag: u32,
    pub(super) policy: Policy,
    pub(super) max_line: usize,
    pub(super) peer_supports: bool,
    pub(super) phase: Phase,
    /// Nothing typed is sent, even while encrypted (the peer's key changed, not yet accepted).
    pub(super) blocked: bool,
    /// The session before a re-key, for messages still in flight (boxed: usually empty).
    pub(super) previous: Option<Box<Session>>,
    pub(super) queue: VecDeque<Zeroizing<String>>,
    pub(super) reassembler: Reassembler,
    /// Peer identity keys the user has accepted (first use, or acknowledged after a change).
    pub(super) known_keys: Vec<IdentityPublic>,
    pub(super) verification: Verification,
    /// Who this side is and talks to, stated in our handshake payloads and compared with what
    /// the peer states (`crate::protocol::names`). Set by the host before each call; not saved.
    pub(super) names: Names,
}

impl core::fmt::Debug for Conversation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Conversation")
            .field("state", &self.state())
            .field("policy", &self.policy)
            .field("queued", &self.queue.len())
            .finish_non_exhaustive()
    }
}

impl Conversation {
    /// A conversation in plaintext. `instance_tag` is this client's non-zero tag.
    pub fn new(identity: IdentityKey, instance_tag: u32, policy: Policy) -> Self {
        Self {
            identity,
            tag: instance_tag,
            policy,
            max_line: DEFAULT_MAX_LINE,
            peer_supports: false,
            phase: Phase::Plaintext,
            blocked: false,
            previous: None,
            queue: VecDeque::new(),
            reassembler: Reassembler::new(),
            known_keys: Vec::new(),
            verification: Verification::default(),
            names: Names::default(),
        }
    }

    /// The names this side states in handshakes and checks the peer's against: its own name
    /// and the peer's, as the host normalizes them (empty: not known).
    pub fn set_names(&mut self, names: Names) {
        self.names = names;
    }

    /// The peer keys accepted so far (most recent last).
    pub fn known_peer_keys(&self) -> &[IdentityPublic] {
        &self.known_keys
    }

    /// Replaces the accepted peer keys (e.g. after the user forgot one in the key list).
    pub fn set_known_peer_keys(&mut self, keys: Vec<IdentityPublic>) {
        self.known_keys = keys;
        let excess = self.known_keys.len().saturating_sub(MAX_KNOWN_KEYS);
        self.known_keys.drain(..excess);
    }

    fn remember_key(&mut self, key: IdentityPublic) {
        self.known_keys.retain(|k| *k != key);
        // Exact growth: most peers have one key for life, and idle sessions should stay small.
        self.known_keys.reserve_exact(1);
        self.known_keys.push(key);
        let excess = self.known_keys.len().saturating_sub(MAX_KNOWN_KEYS);
        self.known_keys.drain(..excess);
    }

    /// The user accepts the current session's (changed) peer key: it is remembered and
    /// whatever was held is sent.
    pub fn acknowledge_peer_key(&mut self, rng: &mut impl CryptoRngCore) -> ReceiveOutcome {
        if let Some(peer) = self.peer_identity() {
            self.remember_key(peer);
        }
        self.set_blocked(false, rng)
    }

    /// The question the peer asked, while it waits for our user's answer.
    pub fn pending_question(&self) -> Option<&str> {
        self.verification.pending_question()
    }

    /// Asks the peer `question`; `answer` is what only the real peer should know. Needs an
    /// encrypted session (otherwise only a [`Event::VerificationAborted`]).
    pub fn ask_question(
        &mut self,
        question: &str,
        answer: &str,
        rng: &mut impl CryptoRngCore,
    ) -> ReceiveOutcome {
        // Not while re-keying: the answer would be bound to a session about to be replaced.
        let settled = match &mut self.phase {
            Phase::Encrypted(s) => Some(s),
            _ => None,
        };
        let channel = Channel::new(settled, &self.identity, self.max_line);
        self.verification.ask(channel, question, answer, rng)
    }

    /// Our user's answer to the peer's pending question.
    pub fn answer_question(
        &mut self,
        answer: &str,
        rng: &mut impl CryptoRngCore,
    ) -> ReceiveOutcome {
        let channel = Channel::new(self.phase.session_mut(), &self.identity, self.max_line);
        self.verification.answer(channel, answer, rng)
    }

    /// Abandons a verification in progress (either side); the peer is told.
    pub fn abort_verification(&mut self, rng: &mut impl CryptoRngCore) -> ReceiveOutcome {
        let channel = Channel::new(self.phase.session_mut(), &self.identity, self.max_line);
        self.verification.abort(channel, rng)
    }

    /// The policy in force.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Changes the policy.
    pub fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
    }

    /// Where the conversation stands.
    pub fn state(&self) -> ConvState {
        self.phase.state()
    }

    /// The peer's identity in the current session.
    pub fn peer_identity(&self) -> Option<IdentityPublic> {
        self.phase.session().map(|s| s.peer)
    }

    /// Messages waiting to be sent.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Whether sending is blocked (see [`Conversation::set_blocked`]).
    pub fn is_blocked(&self) -> bool {
        self.blocked
    }

    /// Whether the peer is known to run Sotto.
    pub fn peer_supports_sotto(&self) -> bool {
        self.peer_supports
    }

    /// Records that the peer runs Sotto (from earlier conversations); under `opportunistic`
    /// and for `start`, this sends a handshake start directly instead of a query.
    pub fn set_peer_supports_sotto(&mut self, yes: bool) {
        self.peer_supports = yes;
    }

    /// Maximum characters per wire line for this peer.
    pub fn set_max_line(&mut self, chars: usize) {
        self.max_line = chars.max(fragment::MIN_LINE);
    }

    /// The user asked to start (or restart) encryption.
    pub fn start(&mut self, rng: &mut impl CryptoRngCore) -> ReceiveOutcome {
        let mut out = ReceiveOutcome::swallow();
        if self.phase.is_finished() {
            // The user acts: no longer held by the peer's end (our handshake replaces theirs).
            self.phase = Phase::Plaintext;
        }
        self.begin_handshake(&mut out.inject, rng);
        out.events.push(Event::HandshakeStarted);
        out
    }

    /// The user asked to end encryption: the peer is told, held messages are handed back.
    pub fn stop(&mut self, rng: &mut impl CryptoRngCore) -> ReceiveOutcome {
        let mut out = ReceiveOutcome::swallow();
        let ended = match mem::replace(&mut self.phase, Phase::Plaintext) {
            Phase::Encrypted(mut s) | Phase::Rekeying(mut s, _) => {
                // An empty message always fits, so `split` cannot refuse it.
                if let Some(lines) = s.seal(KIND_END, &[], self.max_line, rng) {
                    out.inject.extend(lines);
                }
                true
            }
            Phase::Handshaking(_) | Phase::Finished(_) => true,
            Phase::Plaintext => false,
        };
        if ended {
            out.events.push(Event::Ended { by_peer: false });
        }
        self.previous = None;
        self.blocked = false;
        self.verification.reset();
        for text in self.queue.drain(..) {
            out.events.push(Event::Unsent {
                text: text.to_string(),
            });
        }
        out
    }

    /// Holds every outgoing message, even while encrypted (e.g. the peer's key changed and
    /// the user has not acknowledged it). Unblocking sends what was held.
    pub fn set_blocked(&mut self, blocked: bool, rng: &mut impl CryptoRngCore) -> ReceiveOutcome {
        self.blocked = blocked;
        let mut out = ReceiveOutcome::swallow();
        if !blocked && self.state() == ConvState::Encrypted {
            self.flush(&mut out, rng);
        }
        out
    }

    /// The user typed `plaintext` (plain UTF-8).
    pub fn send(&mut self, plaintext: &str, rng: &mut impl CryptoRngCore) -> SendOutcome {
        let mut out = SendOutcome {
            action: SendAction::Hold,
            inject: Vec::new(),
            events: Vec::new(),
        };
        if plaintext.len() > MAX_PLAINTEXT {
            out.events.push(Event::Unsent {
                text: plaintext.to_owned(),
            });
            return out;
        }
        let reason = match self.state() {
            ConvState::Encrypted if !self.blocked => {
                match self.encrypt_inner(KIND_TEXT, plaintext.as_bytes(), rng) {
                    Some(lines) => out.action = SendAction::Replace(lines),
                    None => out.events.push(Event::Unsent {
                        text: plaintext.to_owned(),
                    }),
                }
                return out;
            }
            ConvState::Encrypted => HoldReason::Blocked,
            ConvState::Handshaking => HoldReason::Handshaking,
            ConvState::Finished => HoldReason::EndedByPeer,
            ConvState::Plaintext => match self.policy {
                Policy::Always => {
                    self.begin_handshake(&mut out.inject, rng);
                    out.events.push(Event::HandshakeStarted);
                    HoldReason::PolicyAlways
                }
                Policy::Opportunistic if self.peer_supports => {
                    self.begin_handshake(&mut out.inject, rng);
                    out.events.push(Event::HandshakeStarted);
                    HoldReason::Handshaking
                }
                _ => {
                    out.action = SendAction::SendPlaintext;
                    return out;
                }
            },
        };
        if self.queue.len() >= MAX_QUEUE {
            out.events.push(Event::Unsent {
                text: plaintext.to_owned(),
            });
        } else {
            self.queue.push_back(Zeroizing::new(plaintext.to_owned()));
            out.events.push(Event::Held {
                queued: self.queue.len(),
                reason,
            });
        }
        out
    }

    /// A message arrived (markup already reduced to text). `now_secs` ages out fragments.
    pub fn receive(
        &mut self,
        text: &str,
        now_secs: u64,
        rng: &mut impl CryptoRngCore,
    ) -> ReceiveOutcome {
        self.receive_inner(text, now_secs, rng, true)
    }

    fn receive_inner(
        &mut self,
        text: &str,
        now_secs: u64,
        rng: &mut impl CryptoRngCore,
        allow_fragment: bool,
    ) -> ReceiveOutcome {
        let mut out = ReceiveOutcome::swallow();
        let unreadable = |reason: UnreadableReason| Event::Unreadable { reason };
        let msg = match WireMessage::decode(text) {
            Ok(m) => m,
            Err(DecodeError::NotSotto) if !allow_fragment => {
                // Reassembled pieces that do not form a Sotto line: never shown raw.
                out.events
                    .push(unreadable(UnreadableReason::MalformedFragments));
                return out;
            }
            Err(DecodeError::NotSotto) => {
                out.action = ReceiveAction::PassThrough;
                if self.phase.session().is_some() || self.phase.is_finished() {
                    out.events.push(Event::PlaintextWhileEncrypted);
                }
                return out;
            }
            Err(e) => {
                out.events.push(unreadable(e.into()));
                return out;
            }
        };
        match msg {
            WireMessage::Fragment(f) if allow_fragment => {
                if let Some(line) = self.reassembler.add(f, now_secs) {
                    return self.receive_inner(&line, now_secs, rng, false);
                }
            }
            WireMessage::Fragment(_) => {
                out.events
                    .push(unreadable(UnreadableReason::NestedFragment));
            }
            WireMessage::Query => {
                self.note_peer_supports(&mut out.events);
                if !matches!(self.phase.handshake(), Some(Handshake::Initiator(_))) {
                    self.peer_supports = true;
                    self.begin_handshake(&mut out.inject, rng);
                }
            }
            WireMessage::Init(m) => {
                self.note_peer_supports(&mut out.events);
                if let Some(Handshake::Initiator(i)) = self.phase.handshake() {
                    // Simultaneous start: the smaller ephemeral key stays initiator.
                    if i.ephemeral_public() < m.ephemeral {
                        return out;
                    }
                }
                let payload = self.names.encode();
                match Responder::respond(&self.identity, self.tag, &m, &payload, rng) {
                    Ok((r, reply)) => {
                        self.set_handshake(Handshake::Responder(Box::new(r)));
                        out.inject.push(WireMessage::Response(reply).encode());
                    }
                    Err(reason) => out.events.push(Event::HandshakeFailed { reason }),
                }
            }
            WireMessage::Response(m) => {
                let Some(Handshake::Initiator(i)) = self.phase.handshake() else {
                    return out; // stale or duplicate: nothing to do
                };
                match i.finish(&self.identity, &m, &self.names.encode()) {
                    Ok((est, confirm)) => {
                        out.inject.push(WireMessage::Confirm(confirm).encode());
                        self.establish(est, &mut out, rng);
                    }
                    Err(reason) => out.events.push(Event::HandshakeFailed { reason }),
                }
            }
            WireMessage::Confirm(m) => {
                let Some(Handshake::Responder(r)) = self.phase.handshake() else {
                    return out;
                };
                match r.finish(&m) {
                    Ok(est) => self.establish(est, &mut out, rng),
                    Err(reason) => out.events.push(Event::HandshakeFailed { reason }),
                }
            }
            WireMessage::Data(m) => {
                // Only the current session may end or verify; the previous one just decrypts.
                let current = self.phase.session().map(|s| s.id) == Some(m.session_id);
                let session = match (self.phase.session_mut(), self.previous.as_deref_mut()) {
                    (Some(s), _) if s.id == m.session_id => s,
                    (_, Some(p)) if p.id == m.session_id => p,
                    _ => {
                        out.events
                            .push(unreadable(UnreadableReason::UnknownSession));
                        return out;
                    }
                };
                match session.ratchet.decrypt(&session.hash, &m, rng) {
                    Ok(d) if d.kind == KIND_TEXT => match std::str::from_utf8(&d.content) {
                        Ok(s) => out.action = ReceiveAction::Display(Zeroizing::new(s.to_owned())),
                        Err(_) => out.events.push(unreadable(UnreadableReason::NotUtf8)),
                    },
                    Ok(d) if d.kind == KIND_END => {
                        if current {
                            let handshake =
                                mem::replace(&mut self.phase, Phase::Plaintext).into_handshake();
                            self.phase = Phase::Finished(handshake);
                            self.previous = None;
                            out.events.push(Event::Ended { by_peer: true });
                        }
                    }
                    Ok(d) if Verification::carries(d.kind) => {
                        if current {
                            let channel = Channel::new(
                                self.phase.session_mut(),
                                &self.identity,
                                self.max_line,
                            );
                            self.verification
                                .receive(channel, d.kind, &d.content, &mut out, rng);
                        }
                    }
                    Ok(_) => {} // unknown inner type from a newer peer: ignore
                    Err(e) => out.events.push(unreadable(e.into())),
                }
            }
            WireMessage::Error(text) => out.events.push(Event::PeerError { text }),
        }
        out
    }

    fn note_peer_supports(&mut self, events: &mut Vec<Event>) {
        if !self.peer_supports {
            self.peer_supports = true;
            events.push(Event::PeerSupportsSotto);
        }
    }

    fn set_handshake(&mut self, handshake: Handshake) {
        self.phase = mem::replace(&mut self.phase, Phase::Plaintext).with_handshake(handshake);
    }

    fn begin_handshake(&mut self, inject: &mut Vec<String>, rng: &mut impl CryptoRngCore) {
        if self.peer_supports {
            let (i, msg) = Initiator::start(self.tag, rng);
            self.set_handshake(Handshake::Initiator(Box::new(i)));
            inject.push(WireMessage::Init(msg).encode());
        } else {
            self.set_handshake(Handshake::Queried);
            inject.push(WireMessage::Query.encode());
        }
    }

    fn establish(
        &mut self,
        est: Established,
        out: &mut ReceiveOutcome,
        rng: &mut impl CryptoRngCore,
    ) {
        let Some(session) = Session::new(&est, rng) else {
            // The ratchet's first DH step gave an all-zero secret.
            out.events.push(Event::HandshakeFailed {
                reason: HandshakeError::NonContributory,
            });
            return;
        };
        let peer = est.peer_identity();
        // What the peer states about names, against what we see (an empty payload: none).
        let mismatch = Names::decode(est.peer_payload()).and_then(|n| self.names.mismatch(&n));
        // A re-key keeps the session it replaces for messages still in flight.
        self.previous = mem::replace(&mut self.phase, Phase::Encrypted(session))
            .into_session()
            .map(Box::new);
        self.verification.reset();
        out.events.push(Event::Started {
            peer,
            fingerprint: peer.fingerprint(),
        });
        if self.known_keys.is_empty() {
            // Trust on first use, but not of a key whose owner states other names.
            if mismatch.is_none() {
                self.remember_key(peer);
            }
            out.events.push(Event::NewPeerKey {
                fingerprint: peer.fingerprint(),
            });
        } else if !self.known_keys.contains(&peer) {
            // Nothing typed goes to a key the user has not accepted.
            self.blocked = true;
            out.events.push(Event::PeerKeyChanged {
                fingerprint: peer.fingerprint(),
            });
        }
        if let Some(m) = mismatch {
            // Held like a changed key: nothing typed goes out under names the user has not
            // seen, until they acknowledge (`acknowledge_peer_key`).
            self.blocked = true;
            out.events.push(Event::NamesMismatch {
                stated_self: m.stated_self,
                stated_peer: m.stated_peer,
            });
        }
        if !self.blocked {
            self.flush(out, rng);
        }
    }

    fn flush(&mut self, out: &mut ReceiveOutcome, rng: &mut impl CryptoRngCore) {
        while let Some(text) = self.queue.pop_front() {
            match self.encrypt_inner(KIND_TEXT, text.as_bytes(), rng) {
                Some(lines) => {
                    out.inject.extend(lines);
                    out.events.push(Event::QueuedSent {
                        text: text.to_string(),
                    });
                }
                None => out.events.push(Event::Unsent {
                    text: text.to_string(),
                }),
            }
        }
    }

    fn encrypt_inner(
        &mut self,
        kind: u8,
        content: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Option<Vec<String>> {
        let max_line = self.max_line;
        self.phase.session_mut()?.seal(kind, content, max_line, rng)
    }
}
