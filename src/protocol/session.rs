//! The per-conversation state machine: one [`Conversation`] per (local account, peer).
//!
//! ```text
//!              start / policy              ?S1R or ?S1C ok
//!  Plaintext ───────────────▶ Handshaking ─────────────────▶ Encrypted
//!      ▲                           │  ▲                        │   │
//!      │ stop                      │  └── peer restarts ───────┘   │ peer sends "end"
//!      └───────────────────────────┴──────────── Finished ◀───────┘
//!                                            (sending held until the user acts)
//! ```
//!
//! Inputs are user actions ([`Conversation::start`], [`Conversation::stop`],
//! [`Conversation::send`]) and incoming text ([`Conversation::receive`]); outputs are wire
//! lines to inject, text to display and [`Event`]s for the UI. Under [`Policy::Always`] and in
//! every state but `Plaintext`, typed text never leaves unencrypted: it is queued and sent,
//! in order, once a session is up.
//!
//! ```
//! use sotto::protocol::{Conversation, IdentityKey, Policy, SendAction};
//! let mut rng = rand_core::OsRng;
//! let mut alice = Conversation::new(IdentityKey::generate(&mut rng), 1, Policy::Manual);
//! let mut bob = Conversation::new(IdentityKey::generate(&mut rng), 2, Policy::Manual);
//! alice.set_peer_supports_sotto(true);
//! // Alice starts: her handshake start goes to Bob, his reply to her, and so on.
//! let mut to_bob = alice.start(&mut rng).inject;
//! while !to_bob.is_empty() {
//!     let mut to_alice = Vec::new();
//!     for line in to_bob.drain(..) { to_alice.extend(bob.receive(&line, 0, &mut rng).inject); }
//!     for line in to_alice { to_bob.extend(alice.receive(&line, 0, &mut rng).inject); }
//! }
//! let SendAction::Replace(lines) = alice.send("hi", &mut rng).action else { panic!() };
//! let shown = bob.receive(&lines[0], 0, &mut rng);
//! assert!(matches!(shown.action, sotto::protocol::ReceiveAction::Display(t) if t.as_str() == "hi"));
//! ```

use std::collections::VecDeque;

use rand_core::CryptoRngCore;
use thiserror::Error;
use x25519_dalek::StaticSecret;
use zeroize::Zeroizing;

use super::fragment::{self, Reassembler};
use super::handshake::{Established, Initiator, Responder, SymmetricState};
use super::identity::{Fingerprint, IdentityKey, IdentityPublic};
use super::ratchet::DoubleRatchet;
use super::snapshot::{put_bytes, Reader};
use super::verify::{self, Verify};
use super::wire::{DecodeError, WireMessage};

/// Inner message type: text typed by the user (UTF-8).
pub const KIND_TEXT: u8 = 0x00;
/// Inner message type: the sender ended the session.
pub const KIND_END: u8 = 0x01;

/// Most typed messages held while waiting for a session.
pub const MAX_QUEUE: usize = 200;
/// Most bytes of plaintext in one message.
pub const MAX_PLAINTEXT: usize = 64 * 1024;
/// Default wire line limit, in characters.
pub const DEFAULT_MAX_LINE: usize = 400;
/// Most identity keys remembered as accepted for one peer.
pub const MAX_KNOWN_KEYS: usize = 16;

const SNAPSHOT_VERSION: u8 = 1;

/// Who may start an encrypted session, and whether plaintext may ever leave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Start only when the user (or the peer) asks.
    Manual,
    /// Start by itself with peers known to run Sotto; plaintext to everyone else.
    Opportunistic,
    /// Never send plaintext: hold messages until a session exists.
    Always,
}

impl Policy {
    /// The preference string.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Manual => "manual",
            Policy::Opportunistic => "opportunistic",
            Policy::Always => "always",
        }
    }

    /// Parses a preference string.
    pub fn parse(s: &str) -> Option<Policy> {
        match s {
            "manual" => Some(Policy::Manual),
            "opportunistic" => Some(Policy::Opportunistic),
            "always" => Some(Policy::Always),
            _ => None,
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            Policy::Manual => 0,
            Policy::Opportunistic => 1,
            Policy::Always => 2,
        }
    }

    fn from_u8(v: u8) -> Option<Self> {
        [Policy::Manual, Policy::Opportunistic, Policy::Always]
            .get(usize::from(v))
            .copied()
    }
}

/// Where the conversation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvState {
    /// No session: text goes out as typed (if the policy allows).
    Plaintext,
    /// A handshake (or a query) is under way: typed text is held.
    Handshaking,
    /// A session is up: typed text is encrypted.
    Encrypted,
    /// The peer ended the session: typed text is held until the user starts or stops.
    Finished,
}

/// Why a message was held rather than sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldReason {
    /// The handshake is not finished yet.
    Handshaking,
    /// Policy `always` and no session yet.
    PolicyAlways,
    /// The peer ended the session.
    EndedByPeer,
    /// Sending is blocked (the peer's key changed and the user has not acknowledged it).
    Blocked,
}

/// Something the UI should tell the user about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// We sent a handshake start or a query; waiting for the peer.
    HandshakeStarted,
    /// The encrypted session is up.
    Started {
        /// The peer's long-term identity key.
        peer: IdentityPublic,
        /// Its fingerprint.
        fingerprint: Fingerprint,
    },
    /// The session ended.
    Ended {
        /// The peer ended it (sending is now held until the user acts).
        by_peer: bool,
    },
    /// A typed message was queued, not sent.
    Held {
        /// Messages now waiting.
        queued: usize,
        /// Why.
        reason: HoldReason,
    },
    /// A previously held message has now been sent encrypted.
    QueuedSent {
        /// What the user had typed.
        text: String,
    },
    /// A typed message will not be sent (session ended by the user, queue full, too long).
    Unsent {
        /// What the user had typed.
        text: String,
    },
    /// The peer runs Sotto (it sent a query or a handshake message).
    PeerSupportsSotto,
    /// An encrypted message could not be read. No state changed.
    Unreadable {
        /// Human-readable reason.
        reason: String,
    },
    /// The peer sent a Sotto error notice (unauthenticated).
    PeerError {
        /// Its text.
        text: String,
    },
    /// A plaintext message arrived while a session was up.
    PlaintextWhileEncrypted,
    /// A handshake message was rejected. No state changed.
    HandshakeFailed {
        /// Human-readable reason.
        reason: String,
    },
    /// First session with this peer: its key is accepted on first use, unverified.
    NewPeerKey {
        /// The key's fingerprint.
        fingerprint: Fingerprint,
    },
    /// The peer's key is not one accepted before: sending is blocked until the user
    /// acknowledges it ([`Conversation::acknowledge_peer_key`]).
    PeerKeyChanged {
        /// The new key's fingerprint.
        fingerprint: Fingerprint,
    },
    /// The peer asks us a verification question: the user should answer it
    /// ([`Conversation::answer_question`]).
    VerificationQuestion {
        /// The question, as the peer typed it (plain text, escape before display).
        question: String,
    },
    /// A verification finished.
    VerificationResult {
        /// Both sides used the same answer, in this session.
        success: bool,
        /// We asked (so on success *our* trust in the peer's key may become verified).
        we_asked: bool,
        /// The peer key that was verified (or not).
        peer: IdentityPublic,
    },
    /// The peer abandoned a verification, or one could not proceed.
    VerificationAborted,
}

/// What to do with the text the user typed.
#[derive(Debug, PartialEq, Eq)]
pub enum SendAction {
    /// No session and the policy allows plaintext: send the text unchanged.
    SendPlaintext,
    /// Send these lines instead of the text, in order (already fragmented).
    Replace(Vec<String>),
    /// Do not send the text now (queued, or refused: see the events).
    Hold,
}

/// Result of [`Conversation::send`].
#[derive(Debug)]
pub struct SendOutcome {
    /// What to do with the typed text.
    pub action: SendAction,
    /// Lines to send first, in order (e.g. a handshake start).
    pub inject: Vec<String>,
    /// What to tell the user.
    pub events: Vec<Event>,
}

/// What to do with an incoming message.
#[derive(Debug, PartialEq, Eq)]
pub enum ReceiveAction {
    /// Not Sotto traffic: show it as is.
    PassThrough,
    /// Sotto traffic with nothing to show: swallow it.
    Swallow,
    /// Decrypted text to show instead (plain UTF-8, to be escaped by the UI).
    Display(Zeroizing<String>),
}

/// Result of [`Conversation::receive`] and of the user actions.
#[derive(Debug)]
pub struct ReceiveOutcome {
    /// What to do with the incoming message.
    pub action: ReceiveAction,
    /// Lines to send now, in order.
    pub inject: Vec<String>,
    /// What to tell the user.
    pub events: Vec<Event>,
}

impl ReceiveOutcome {
    fn swallow() -> Self {
        Self {
            action: ReceiveAction::Swallow,
            inject: Vec::new(),
            events: Vec::new(),
        }
    }
}

/// Why a snapshot could not be restored.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SnapshotError {
    /// Written by a newer Sotto, or not a snapshot.
    #[error("unknown snapshot version")]
    Version,
    /// Truncated or malformed.
    #[error("corrupt snapshot")]
    Corrupt,
}

enum Pending {
    /// We sent a query and wait for the peer's handshake start.
    Queried,
    Initiator(Box<Initiator>),
    Responder(Box<Responder>),
}

struct Session {
    id: [u8; 4],
    hash: [u8; 32],
    peer: IdentityPublic,
    peer_tag: u32,
    ratchet: DoubleRatchet,
}

/// One conversation with one peer.
pub struct Conversation {
    identity: IdentityKey,
    tag: u32,
    policy: Policy,
    max_line: usize,
    peer_supports: bool,
    finished: bool,
    blocked: bool,
    pending: Option<Pending>,
    session: Option<Session>,
    /// The session before a re-key, for messages still in flight (boxed: usually empty).
    previous: Option<Box<Session>>,
    queue: VecDeque<Zeroizing<String>>,
    reassembler: Reassembler,
    /// Peer identity keys the user has accepted (first use, or acknowledged after a change).
    known_keys: Vec<IdentityPublic>,
    verify: Option<Verify>,
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
            finished: false,
            blocked: false,
            pending: None,
            session: None,
            previous: None,
            queue: VecDeque::new(),
            reassembler: Reassembler::new(),
            known_keys: Vec::new(),
            verify: None,
        }
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
        match &self.verify {
            Some(Verify::Question { question, .. }) => Some(question),
            _ => None,
        }
    }

    /// Asks the peer `question`; `answer` is what only the real peer should know. Needs an
    /// encrypted session (otherwise only a [`Event::VerificationAborted`]).
    pub fn ask_question(
        &mut self,
        question: &str,
        answer: &str,
        rng: &mut impl CryptoRngCore,
    ) -> ReceiveOutcome {
        let mut out = ReceiveOutcome::swallow();
        let me = self.identity.public();
        let Some(s) = self.session.as_ref().filter(|_| self.pending.is_none()) else {
            out.events.push(Event::VerificationAborted);
            return out;
        };
        let (state, content) = verify::ask(question, answer, &s.hash, &me, &s.peer, rng);
        if let Some(lines) = self.encrypt_inner(verify::KIND_ASK, &content, rng) {
            self.verify = Some(state);
            out.inject = lines;
        }
        out
    }

    /// Our user's answer to the peer's pending question.
    pub fn answer_question(
        &mut self,
        answer: &str,
        rng: &mut impl CryptoRngCore,
    ) -> ReceiveOutcome {
        let mut out = ReceiveOutcome::swallow();
        let me = self.identity.public();
        let (Some(Verify::Question { spake_a, .. }), Some(s)) =
            (self.verify.take(), self.session.as_ref())
        else {
            out.events.push(Event::VerificationAborted);
            return out;
        };
        match verify::reply(&spake_a, answer, &s.hash, &me, &s.peer, rng) {
            Some((state, content)) => {
                if let Some(lines) = self.encrypt_inner(verify::KIND_REPLY, &content, rng) {
                    self.verify = Some(state);
                    out.inject = lines;
                }
            }
            None => {
                out.events.push(Event::VerificationAborted);
                out.inject = self
                    .encrypt_inner(verify::KIND_ABORT, &[], rng)
                    .unwrap_or_default();
            }
        }
        out
    }

    /// Abandons a verification in progress (either side); the peer is told.
    pub fn abort_verification(&mut self, rng: &mut impl CryptoRngCore) -> ReceiveOutcome {
        let mut out = ReceiveOutcome::swallow();
        if self.verify.take().is_some() {
            out.inject = self
                .encrypt_inner(verify::KIND_ABORT, &[], rng)
                .unwrap_or_default();
            out.events.push(Event::VerificationAborted);
        }
        out
    }

    fn on_verify(
        &mut self,
        kind: u8,
        content: &[u8],
        out: &mut ReceiveOutcome,
        rng: &mut impl CryptoRngCore,
    ) {
        let Some((hash, peer)) = self.session.as_ref().map(|s| (s.hash, s.peer)) else {
            return;
        };
        match (kind, self.verify.take()) {
            (verify::KIND_ASK, _) => match verify::parse_ask(content) {
                Some((spake_a, question)) => {
                    out.events.push(Event::VerificationQuestion {
                        question: question.clone(),
                    });
                    self.verify = Some(Verify::Question { spake_a, question });
                }
                None => out.events.push(Event::VerificationAborted),
            },
            (verify::KIND_REPLY, Some(Verify::Asked { spake })) => {
                let (success, content) = verify::finish_asker(*spake, content, &hash);
                out.inject = self
                    .encrypt_inner(verify::KIND_RESULT, &content, rng)
                    .unwrap_or_default();
                out.events.push(Event::VerificationResult {
                    success,
                    we_asked: true,
                    peer,
                });
            }
            (verify::KIND_RESULT, Some(Verify::Replied { key })) => {
                let success = verify::finish_answerer(&key, content, &hash);
                out.events.push(Event::VerificationResult {
                    success,
                    we_asked: false,
                    peer,
                });
            }
            (verify::KIND_ABORT, Some(_)) => out.events.push(Event::VerificationAborted),
            (verify::KIND_ABORT, None) => {}
            (_, state) => {
                // Out of order (e.g. a reply we did not ask for): drop it, keep our state.
                self.verify = state;
            }
        }
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
        if self.finished {
            ConvState::Finished
        } else if self.pending.is_some() {
            ConvState::Handshaking
        } else if self.session.is_some() {
            ConvState::Encrypted
        } else {
            ConvState::Plaintext
        }
    }

    /// The peer's identity in the current session.
    pub fn peer_identity(&self) -> Option<IdentityPublic> {
        self.session.as_ref().map(|s| s.peer)
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
        self.finished = false;
        self.begin_handshake(&mut out.inject, rng);
        out.events.push(Event::HandshakeStarted);
        out
    }

    /// The user asked to end encryption: the peer is told, held messages are handed back.
    pub fn stop(&mut self, rng: &mut impl CryptoRngCore) -> ReceiveOutcome {
        let mut out = ReceiveOutcome::swallow();
        if let Some(mut s) = self.session.take() {
            let msg = s.ratchet.encrypt(s.id, &s.hash, KIND_END, &[]);
            // An empty message always fits, so `split` cannot refuse it.
            if let Ok(lines) = fragment::split(&WireMessage::Data(msg).encode(), self.max_line, rng)
            {
                out.inject.extend(lines);
            }
            out.events.push(Event::Ended { by_peer: false });
        } else if self.finished || self.pending.is_some() {
            out.events.push(Event::Ended { by_peer: false });
        }
        self.previous = None;
        self.pending = None;
        self.finished = false;
        self.blocked = false;
        self.verify = None;
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
                match self.encrypt_text(plaintext, rng) {
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
        let msg = match WireMessage::decode(text) {
            Ok(m) => m,
            Err(DecodeError::NotSotto) if !allow_fragment => {
                // Reassembled pieces that do not form a Sotto line: never shown raw.
                out.events.push(Event::Unreadable {
                    reason: "malformed fragments".into(),
                });
                return out;
            }
            Err(DecodeError::NotSotto) => {
                out.action = ReceiveAction::PassThrough;
                if self.session.is_some() || self.finished {
                    out.events.push(Event::PlaintextWhileEncrypted);
                }
                return out;
            }
            Err(e) => {
                out.events.push(Event::Unreadable {
                    reason: e.to_string(),
                });
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
                out.events.push(Event::Unreadable {
                    reason: "nested fragment".into(),
                });
            }
            WireMessage::Query => {
                self.note_peer_supports(&mut out.events);
                if !matches!(self.pending, Some(Pending::Initiator(_))) {
                    self.peer_supports = true;
                    self.begin_handshake(&mut out.inject, rng);
                }
            }
            WireMessage::Init(m) => {
                self.note_peer_supports(&mut out.events);
                if let Some(Pending::Initiator(i)) = &self.pending {
                    // Simultaneous start: the smaller ephemeral key stays initiator.
                    if i.ephemeral_public() < m.ephemeral {
                        return out;
                    }
                }
                match Responder::respond(&self.identity, self.tag, &m, rng) {
                    Ok((r, reply)) => {
                        self.pending = Some(Pending::Responder(Box::new(r)));
                        out.inject.push(WireMessage::Response(reply).encode());
                    }
                    Err(e) => out.events.push(Event::HandshakeFailed {
                        reason: e.to_string(),
                    }),
                }
            }
            WireMessage::Response(m) => {
                let Some(Pending::Initiator(i)) = &self.pending else {
                    return out; // stale or duplicate: nothing to do
                };
                match i.finish(&self.identity, &m) {
                    Ok((est, confirm)) => {
                        out.inject.push(WireMessage::Confirm(confirm).encode());
                        self.establish(est, &mut out, rng);
                    }
                    Err(e) => out.events.push(Event::HandshakeFailed {
                        reason: e.to_string(),
                    }),
                }
            }
            WireMessage::Confirm(m) => {
                let Some(Pending::Responder(r)) = &self.pending else {
                    return out;
                };
                match r.finish(&m) {
                    Ok(est) => self.establish(est, &mut out, rng),
                    Err(e) => out.events.push(Event::HandshakeFailed {
                        reason: e.to_string(),
                    }),
                }
            }
            WireMessage::Data(m) => {
                let session = match (&mut self.session, &mut self.previous) {
                    (Some(s), _) if s.id == m.session_id => s,
                    (_, Some(p)) if p.id == m.session_id => p,
                    _ => {
                        out.events.push(Event::Unreadable {
                            reason:
                                "it belongs to no encrypted session we know (restart the session)"
                                    .into(),
                        });
                        return out;
                    }
                };
                match session.ratchet.decrypt(&session.hash, &m, rng) {
                    Ok(d) if d.kind == KIND_TEXT => match std::str::from_utf8(&d.content) {
                        Ok(s) => out.action = ReceiveAction::Display(Zeroizing::new(s.to_owned())),
                        Err(_) => out.events.push(Event::Unreadable {
                            reason: "not UTF-8 text".into(),
                        }),
                    },
                    Ok(d) if d.kind == KIND_END => {
                        if self.session.as_ref().map(|s| s.id) == Some(m.session_id) {
                            self.session = None;
                            self.previous = None;
                            self.finished = true;
                            out.events.push(Event::Ended { by_peer: true });
                        }
                    }
                    Ok(d) if (verify::KIND_ASK..=verify::KIND_ABORT).contains(&d.kind) => {
                        if self.session.as_ref().map(|s| s.id) == Some(m.session_id) {
                            self.on_verify(d.kind, &d.content, &mut out, rng);
                        }
                    }
                    Ok(_) => {} // unknown inner type from a newer peer: ignore
                    Err(e) => out.events.push(Event::Unreadable {
                        reason: e.to_string(),
                    }),
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

    fn begin_handshake(&mut self, inject: &mut Vec<String>, rng: &mut impl CryptoRngCore) {
        if self.peer_supports {
            let (i, msg) = Initiator::start(self.tag, rng);
            self.pending = Some(Pending::Initiator(Box::new(i)));
            inject.push(WireMessage::Init(msg).encode());
        } else {
            self.pending = Some(Pending::Queried);
            inject.push(WireMessage::Query.encode());
        }
    }

    fn establish(
        &mut self,
        est: Established,
        out: &mut ReceiveOutcome,
        rng: &mut impl CryptoRngCore,
    ) {
        let Some(ratchet) = DoubleRatchet::new(&est, rng) else {
            out.events.push(Event::HandshakeFailed {
                reason: "invalid public key".into(),
            });
            return;
        };
        let mut id = [0u8; 4];
        id.copy_from_slice(&est.handshake_hash[..4]);
        let session = Session {
            id,
            hash: est.handshake_hash,
            peer: est.peer_identity,
            peer_tag: est.peer_tag,
            ratchet,
        };
        self.previous = self.session.replace(session).map(Box::new);
        self.pending = None;
        self.finished = false;
        self.verify = None;
        let peer = est.peer_identity;
        out.events.push(Event::Started {
            peer,
            fingerprint: peer.fingerprint(),
        });
        if self.known_keys.is_empty() {
            self.remember_key(peer);
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
        if !self.blocked {
            self.flush(out, rng);
        }
    }

    fn flush(&mut self, out: &mut ReceiveOutcome, rng: &mut impl CryptoRngCore) {
        while let Some(text) = self.queue.pop_front() {
            match self.encrypt_text(&text, rng) {
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
    fn encrypt_text(&mut self, text: &str, rng: &mut impl CryptoRngCore) -> Option<Vec<String>> {
        self.encrypt_inner(KIND_TEXT, text.as_bytes(), rng)
    }

    fn encrypt_inner(
        &mut self,
        kind: u8,
        content: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Option<Vec<String>> {
        let s = self.session.as_mut()?;
        let msg = s.ratchet.encrypt(s.id, &s.hash, kind, content);
        fragment::split(&WireMessage::Data(msg).encode(), self.max_line, rng).ok()
    }

    /// The whole conversation as versioned bytes: ratchet, skipped keys, queue, handshake
    /// in progress. Partial fragments are not kept (the peer's next message is unaffected).
    pub fn snapshot(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(320));
        out.push(SNAPSHOT_VERSION);
        out.extend_from_slice(&self.tag.to_be_bytes());
        out.push(self.policy.to_u8());
        out.extend_from_slice(&(self.max_line as u32).to_be_bytes());
        out.push(
            u8::from(self.peer_supports)
                | u8::from(self.finished) << 1
                | u8::from(self.blocked) << 2,
        );
        match &self.pending {
            None => out.push(0),
            Some(Pending::Queried) => out.push(1),
            Some(Pending::Initiator(i)) => {
                out.push(2);
                i.ss.to_bytes(&mut out);
                out.extend_from_slice(i.ephemeral.to_bytes().as_ref());
                out.extend_from_slice(&i.tag.to_be_bytes());
            }
            Some(Pending::Responder(r)) => {
                out.push(3);
                r.ss.to_bytes(&mut out);
                out.extend_from_slice(r.ephemeral.to_bytes().as_ref());
                out.extend_from_slice(&r.tag.to_be_bytes());
                out.extend_from_slice(&r.peer_tag.to_be_bytes());
            }
        }
        for s in [self.session.as_ref(), self.previous.as_deref()] {
            match s {
                None => out.push(0),
                Some(s) => {
                    out.push(1);
                    out.extend_from_slice(&s.id);
                    out.extend_from_slice(&s.hash);
                    out.extend_from_slice(&s.peer.to_bytes());
                    out.extend_from_slice(&s.peer_tag.to_be_bytes());
                    s.ratchet.to_bytes(&mut out);
                }
            }
        }
        out.extend_from_slice(&(self.queue.len() as u32).to_be_bytes());
        for q in &self.queue {
            put_bytes(&mut out, q.as_bytes());
        }
        out.push(self.known_keys.len() as u8);
        for k in &self.known_keys {
            out.extend_from_slice(&k.to_bytes());
        }
        out
    }

    /// Restores a conversation from [`Conversation::snapshot`].
    pub fn restore(identity: IdentityKey, bytes: &[u8]) -> Result<Self, SnapshotError> {
        let mut r = Reader::new(bytes);
        if r.u8() != Some(SNAPSHOT_VERSION) {
            return Err(SnapshotError::Version);
        }
        Self::read(identity, &mut r)
            .filter(|_| r.is_empty())
            .ok_or(SnapshotError::Corrupt)
    }

    fn read(identity: IdentityKey, r: &mut Reader<'_>) -> Option<Self> {
        let tag = r.u32()?;
        let policy = Policy::from_u8(r.u8()?)?;
        let max_line = r.u32()? as usize;
        let flags = r.u8()?;
        let secret = |r: &mut Reader<'_>| -> Option<Box<StaticSecret>> {
            Some(Box::new(StaticSecret::from(*Zeroizing::new(
                r.array::<32>()?,
            ))))
        };
        let pending = match r.u8()? {
            0 => None,
            1 => Some(Pending::Queried),
            2 => {
                let ss = SymmetricState::from_reader(r)?;
                let ephemeral = secret(r)?;
                Some(Pending::Initiator(Box::new(Initiator {
                    ss,
                    ephemeral,
                    tag: r.u32()?,
                })))
            }
            3 => {
                let ss = SymmetricState::from_reader(r)?;
                let ephemeral = secret(r)?;
                let tag = r.u32()?;
                Some(Pending::Responder(Box::new(Responder {
                    ss,
                    ephemeral,
                    tag,
                    peer_tag: r.u32()?,
                })))
            }
            _ => return None,
        };
        let mut sessions = Vec::with_capacity(2);
        for _ in 0..2 {
            sessions.push(match r.u8()? {
                0 => None,
                1 => Some(Session {
                    id: r.array::<4>()?,
                    hash: r.array::<32>()?,
                    peer: IdentityPublic::from_bytes(r.array::<32>()?),
                    peer_tag: r.u32()?,
                    ratchet: DoubleRatchet::from_reader(r)?,
                }),
                _ => return None,
            });
        }
        let previous = sessions.pop()?;
        let session = sessions.pop()?;
        let count = r.u32()? as usize;
        if count > MAX_QUEUE {
            return None;
        }
        let mut queue = VecDeque::with_capacity(count);
        for _ in 0..count {
            queue.push_back(Zeroizing::new(String::from_utf8(r.bytes()?.to_vec()).ok()?));
        }
        let known = usize::from(r.u8()?);
        if known > MAX_KNOWN_KEYS {
            return None;
        }
        let mut known_keys = Vec::with_capacity(known);
        for _ in 0..known {
            known_keys.push(IdentityPublic::from_bytes(r.array::<32>()?));
        }
        Some(Self {
            identity,
            tag,
            policy,
            max_line: max_line.max(fragment::MIN_LINE),
            peer_supports: flags & 1 != 0,
            finished: flags & 2 != 0,
            blocked: flags & 4 != 0,
            pending,
            session,
            previous: previous.map(Box::new),
            queue,
            reassembler: Reassembler::new(),
            known_keys,
            verify: None,
        })
    }
}
