//! The libpurple plugin layer: the only module tree with `unsafe`. Decisions live in
//! [`crate::sessions`]; this layer reads libpurple, asks, and shows. ARCHITECTURE.md draws the
//! rooms and the path of a typed message and of an incoming line.
//!
//! From the bottom up (each imports only from the ones above it, but for the dialogs ↔
//! presenter pair that callback UIs need):
//!
//! * `bindings`: bindgen's raw libpurple API (GLib types from `glib-sys`); `boundary`: the panic
//!   boundary and null checks every `extern "C"` body uses; `markup`, `fragsize`, `texts`,
//!   `transforms`: pure helpers (plaintext format, line sizes, every sentence the user sees,
//!   what protocol plugins do to a line, undone).
//! * `state`: the loaded plugin's one state value (the sessions service, windows, open dialogs,
//!   the injecting and quitting flags, the wrapped `send_im`s).
//! * `glue`: safe wrappers (strings, lookups by name, writing lines, preferences, commands);
//!   `windows`: the number each IM window carries, so a conversation follows a renamed window.
//! * `service`: the sessions service as callbacks reach it (names → key and settings).
//! * `present` (the presenter), `dialogs` and `known` (the Known fingerprints view): what the
//!   user sees of a decision.
//! * `siblings`: the other conversations sharing a window (a contact's, by the buddy list and
//!   by the window's UI data), the line and the dialog for a typed message held back because
//!   one of them is encrypted, and sending it when the user confirms.
//! * `signals`, `prpl`, `commands`, `direct_cmds`, `menu`, `actions`, `prefs_frame`: the seams
//!   libpurple calls; `echo`: Sotto lines that come back (echoes, other clients' lines, copies),
//!   `xmpp`: XMPP's stanza hints; `irc`: IRC's answer to a line for a nick not on the server;
//!   `ffi`: the functions the C shim calls (cbindgen →
//!   `include/sotto.h`).

#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

mod actions;
pub(crate) mod bindings;
mod boundary;
mod commands;
mod dialogs;
mod direct_cmds;
mod echo;
pub mod ffi;
mod fragsize;
mod glue;
mod irc;
mod known;
mod markup;
mod menu;
mod pace;
mod prefs_frame;
mod present;
mod prpl;
mod service;
mod siblings;
mod signals;
mod state;
mod texts;
mod transforms;
mod windows;
mod xmpp;
