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
//!
//! The folder holds one concern per file:
//!
//! * `conversation.rs`: [`Conversation`], the transitions of the diagram above;
//! * `cold.rs`: the parts of a conversation an established, idle session does not use (held
//!   text, pieces of long lines, a verification...), boxed only while one is in use;
//! * `phase.rs`: [`Phase`](phase::Phase), its states, each holding what exists in it (a
//!   handshake in flight, an established session);
//! * `events.rs`: what the state machine tells its caller ([`Event`], the send and receive
//!   outcomes, and the typed reasons inside events);
//! * `pieces.rs`: long lines whose pieces never all came: told to the user, and asked for;
//! * `snapshot.rs`: the versioned byte form a conversation is saved in between runs;
//! * `verification.rs`: the question-and-answer verification as its own small state machine,
//!   run inside an encrypted session.

mod cold;
mod conversation;
mod events;
mod handshaking;
mod phase;
mod pieces;
mod snapshot;
mod verification;

pub use cold::WaitingResend;
pub use conversation::{Conversation, HandedBack};
pub use events::{
    Event, HoldReason, ReadMessage, ReceiveAction, ReceiveOutcome, SendAction, SendOutcome,
    UnreadableReason, UnsentReason,
};
pub use snapshot::SnapshotError;

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
/// A handshake not finished within this many seconds is abandoned (`Conversation::tick`): an
/// injected or replayed `?S1Q`/`?S1I` that nobody completes must not hold a conversation.
pub const HANDSHAKE_TIMEOUT_SECS: u64 = 120;
/// Answers to unauthenticated starts (`?S1I` to a query, `?S1R` to an init) are counted per
/// window of this many seconds...
pub const ANSWER_WINDOW_SECS: u64 = 10;
/// ...and at most this many are sent per window: a flood of starts gets a few replies, not one
/// each, while a real peer's restarts (a lost state, a simultaneous start) are answered.
pub const ANSWER_BURST: u32 = 4;

/// Text messages remembered after sending (in memory only, wiped), so that a not-read notice
/// from the peer's side can name the message: at most this many...
pub const SENT_KEPT: usize = 32;
/// ...and for at most this many seconds.
pub const SENT_KEPT_SECS: u64 = 600;
/// Sending indices set aside by one synced save (`Conversation::reserve_sending`): after a
/// crash that lost the unsynced saves since, the sending chain skips at most this many.
pub const RESERVE_AHEAD: u32 = 32;
/// A client sends at most [`NOT_READ_NOTICES`] not-read notices per conversation in this many
/// seconds, and shows at most one notice about a message it no longer remembers in as many.
pub const NOT_READ_INTERVAL_SECS: u64 = 30;
/// Not-read notices (of lines naming no session) sent per [`NOT_READ_INTERVAL_SECS`].
pub const NOT_READ_NOTICES: u32 = 8;
/// Not-read notices about data lines that came while this side waited for the handshake's
/// last line (each is asked for again): at most this many per [`NOT_READ_INTERVAL_SECS`].
pub const UNFINISHED_NOTICES: u32 = 4;

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
