//! Sotto: end-to-end encryption for one-to-one instant messages over every libpurple protocol.
//!
//! * [`protocol`]: the pure protocol core (no libpurple, no unsafe).
//! * [`store`]: identities, trust and sessions on disk (SQLite).
//! * [`sessions`]: every decision about a conversation (load, save before send, roll back,
//!   trust), keyed by plain names: no libpurple, no unsafe.
//! * `purple` (feature `purple`): the libpurple plugin layer, the only place with `unsafe`.
#![cfg_attr(not(feature = "purple"), forbid(unsafe_code))]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod protocol;
pub mod sessions;
pub mod store;

#[cfg(feature = "purple")]
pub mod purple;
