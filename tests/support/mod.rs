//! The end-to-end rig: loopback servers, a TCP tap, and headless libpurple clients.
//!
//! Everything here is plain `std`: no async runtime, one thread per tap direction and one per
//! client's stdout. See `tests/README.md` for the picture; the short form:
//!
//! ```text
//!   sotto-testclient (alice) ──► Tap ──► ngircd / prosody ◄── Tap ◄── sotto-testclient (bob)
//!        stdin: send/cmd            records every byte            stdout: WRITE/TITLE/REQUEST…
//! ```
//!
//! Servers, taps and clients are killed when their handles drop, so a failing test leaves no
//! processes behind. Set `SOTTO_E2E_KEEP=1` to keep the temporary directories (client stderr,
//! libpurple debug output with `SOTTO_TESTCLIENT_DEBUG=1`, server logs) for inspection.
//!
//! One file per concern, from the ground up; a test imports them all with `use support::*`:
//!
//! | file | what |
//! | --- | --- |
//! | `process.rs` | paths (`build/`), temp dirs, free ports, log tails, timing notes, libfaketime |
//! | `servers.rs` | [`Proto`], [`Ngircd`], [`Prosody`] |
//! | `relay.rs` | [`Relay`]: the transform test protocol's server; [`LoopPrpl`]: its builds |
//! | `sip.rs` | [`Kamailio`] (SIP registrar and MESSAGE relay), [`SipTransport`], SIP on a tap |
//! | `tap.rs` | [`Tap`]: the recording TCP proxy (it can drop lines to its client), [`Dir`] |
//! | `wire.rs` | reading recorded bytes: IRC/XMPP Sotto lines, fragments, data headers |
//! | `lines.rs` | the test client's stdout ([`Line`], [`Written`], [`flags`]), stdin escaping |
//! | `text.rs` | what the user sees: [`html_to_text`], [`find_fingerprint`] |
//! | `client.rs` | [`Client`]: one test client process, commands and expectations |
//! | `pair.rs` | [`Pair`]: a server, two taps, alice and bob signed on |
//! | `dialogs.rs` | [`Dialog`]: a `purple_request_*` dialog; a contact whose key changes |
//! | `session.rs` | steps: [`encrypted_pair`], [`start_session`], [`exchange`], held messages |
//! | `checks.rs` | what must hold: [`assert_hidden`], [`assert_no_trouble`], [`needles`]… |
//! | `scenarios.rs` | whole tests written once, run on IRC and on XMPP (`support::scenarios`) |
#![allow(dead_code)] // each e2e_*.rs uses a different part of the rig

mod checks;
mod client;
mod dialogs;
mod lines;
mod pair;
mod process;
mod relay;
pub mod scenarios;
mod servers;
mod session;
mod sip;
mod tap;
mod text;
mod wire;

pub use checks::*;
pub use client::*;
#[allow(unused_imports)] // only the trust and names tests use it
pub use dialogs::*;
pub use lines::*;
pub use pair::*;
pub use process::*;
pub use relay::*;
pub use servers::*;
pub use session::*;
pub use sip::*;
pub use tap::*;
pub use text::*;
pub use wire::*;
