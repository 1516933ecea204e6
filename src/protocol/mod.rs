//! The Sotto protocol core: identity keys, the handshake, the double ratchet, the wire codec,
//! fragmentation and the per-conversation session state machine.
//!
//! Nothing here knows about libpurple, GLib or C: every input is a `&str` or bytes, every
//! output is wire text to inject, plaintext to display, or a typed [`Event`] for the UI.
//! Randomness is injected (`rand_core::CryptoRngCore`), so tests and vectors are reproducible.
#![forbid(unsafe_code)]

mod clock;
pub mod fragment;
pub mod handshake;
pub mod identity;
pub(crate) mod kdf;
pub mod names;
pub mod padding;
pub mod ratchet;
pub(crate) mod secret;
pub mod session;
mod snapshot;
#[doc(hidden)]
pub mod testkit;
pub mod verify;
pub mod wire;

#[cfg(test)]
mod kat;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod vectors;

pub use fragment::Lines;
pub use identity::{Fingerprint, IdentityKey, IdentityPublic};
pub use secret::{SecretBytes, SecretString};
pub use session::{
    ConvState, Conversation, Event, HandedBack, Policy, ReadMessage, ReceiveAction, ReceiveOutcome,
    SendAction, SendOutcome, SnapshotError, UnreadableReason, UnsentReason, NOT_READ_NOTICES,
};

/// Protocol version carried in every wire prefix (`?S1`).
pub const VERSION: u8 = 1;
