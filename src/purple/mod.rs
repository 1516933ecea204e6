//! The libpurple plugin layer: the only module tree with `unsafe`.
//!
//! * `bindings`: bindgen's raw libpurple API (GLib types from `glib-sys`).
//! * `boundary`: the panic boundary and null checks every `extern "C"` body uses.
//! * `glue`: safe wrappers (strings, lookups by name, writing lines, preferences).
//! * `ffi`: the functions the C shim calls (cbindgen → `include/sotto.h`).
//! * `signals`, `commands`, `menu`, `actions`, `dialogs`, `prefs_frame`: the UI seams.
//! * `prpl`: the fail-closed `send_im` wrapper; `irc_cmds`: IRC commands that bypass it.
//! * `engine`: drives `crate::protocol::Conversation`, persisting through `crate::store`;
//!   `state`: the loaded plugin's sessions and store.
//! * `markup`, `fragsize`: pure helpers (plaintext format, line sizes).

#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

mod actions;
pub(crate) mod bindings;
mod boundary;
mod commands;
mod dialogs;
mod engine;
pub mod ffi;
mod fragsize;
mod glue;
mod irc_cmds;
mod markup;
mod menu;
mod prefs_frame;
mod prpl;
mod signals;
mod state;
