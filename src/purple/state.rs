//! The plugin's state between load and unload.
//!
//! libpurple calls us on the GLib main thread only, so the state is a thread-local owned by the
//! loaded plugin: created in `sotto_plugin_load`, dropped (which disconnects every hook) in
//! `sotto_plugin_unload`. It holds no libpurple pointer: sessions are keyed by names
//! ([`ConvKey`]), and libpurple objects are looked up again on every callback.
//!
//! Borrow discipline: code borrows the state only to decide, never while calling a libpurple
//! function that can emit a signal (sending, writing, renaming a conversation), because those
//! re-enter our handlers. [`with_state`] uses `try_borrow_mut`, so a mistake there makes the
//! callback refuse its work (fail closed) instead of panicking.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::protocol::Conversation;
use crate::store::Store;

use super::engine::AccountIdentity;
use super::glue::ConvKey;

/// One conversation's session plus what the plugin changed about its window.
pub(crate) struct Session {
    pub conv: Conversation,
    /// The peer's name as last seen on the wire (an XMPP full JID, say): replies go there.
    pub peer_raw: String,
    /// Whether the window was logging before encryption turned logging off (restored after).
    pub logging_saved: Option<bool>,
    /// A "held" line was written for the current wait (no line per held message).
    pub held_notified: bool,
}

/// Everything the loaded plugin knows.
#[derive(Default)]
pub(crate) struct State {
    /// Identities, sessions and trust on disk (`<purple user dir>/sotto/sotto.db`). `None` when it
    /// could not be opened: then nothing is encrypted and sends to a peer fail closed.
    pub store: Option<Store>,
    pub sessions: HashMap<ConvKey, Session>,
    /// Identity per (protocol, normalized account).
    pub identities: HashMap<(String, String), AccountIdentity>,
    /// The peer and exact text our `sending-im-msg` handler approved for the protocol's
    /// `send_im` (the substituted wire line, or plaintext the policy allows). Consumed by the
    /// `send_im` wrapper.
    pub allow_next: Option<(ConvKey, String)>,
    /// Open `purple_request_*` dialogs: what each is about, keyed by the number its callbacks
    /// carry as user data (never a libpurple pointer).
    pub dialogs: HashMap<usize, super::dialogs::Pending>,
    /// The last dialog number handed out (0 is never used: it would be a NULL user data).
    pub last_dialog: usize,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

/// Run `f` on the state. `None` when the plugin is not loaded or the state is already borrowed.
pub(crate) fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> Option<R> {
    STATE.with(|cell| match cell.try_borrow_mut() {
        Ok(mut guard) => guard.as_mut().map(f),
        Err(_) => {
            super::glue::debug_error("re-entrant state access refused");
            None
        }
    })
}

/// Whether the plugin is loaded (its state installed).
pub(crate) fn is_loaded() -> bool {
    STATE.with(|cell| cell.try_borrow().map_or(true, |g| g.is_some()))
}

/// Install fresh state (plugin load), opening the store. Returns the store's error, if any.
pub(crate) fn install() -> Option<String> {
    let (store, error) = match super::glue::user_dir().map(|d| Store::open(&d.join("sotto"))) {
        Some(Ok(store)) => (Some(store), None),
        Some(Err(e)) => (None, Some(e.to_string())),
        None => (None, Some("libpurple has no user directory".to_owned())),
    };
    STATE.with(|cell| {
        if let Ok(mut guard) = cell.try_borrow_mut() {
            *guard = Some(State {
                store,
                ..State::default()
            });
        }
    });
    error
}

/// Drop the state (plugin unload); sessions stay in the store.
pub(crate) fn remove() -> Option<State> {
    STATE.with(|cell| cell.try_borrow_mut().ok().and_then(|mut g| g.take()))
}
