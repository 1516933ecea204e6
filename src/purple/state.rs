//! The loaded plugin's state: one value, in this one leaf module (it imports nothing else from
//! `crate::purple` but the raw bindings' types).
//!
//! libpurple calls us on the GLib main thread only, so the state is one thread-local, filled on
//! `sotto_plugin_load` and emptied on `sotto_plugin_unload`. It holds no libpurple object but the
//! plugin's own handle: conversations are keyed by names ([`ConvKey`]) and libpurple objects are
//! looked up again on every callback.
//!
//! Borrow discipline: code borrows [`State`] only to decide, never while calling a libpurple
//! function that can emit a signal (sending, writing, renaming a conversation), because those
//! re-enter our handlers. [`with_state`] uses `try_borrow_mut`, so a mistake there makes the
//! callback refuse its work (fail closed) instead of panicking. The few flags that must be read
//! while the state may be borrowed (are we injecting a line? is libpurple quitting?) are `Cell`s
//! beside it, not inside it.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::ffi::c_void;

use crate::protocol::{IdentityPublic, SecretString};
use crate::sessions::{ConvKey, ConvRef, Sessions};
use crate::store::{Store, TrustRecord};

use super::bindings as sys;

/// A protocol plugin's own `send_im`, kept while ours stands in for it.
pub(crate) type SendIm = unsafe extern "C" fn(
    *mut sys::PurpleConnection,
    *const std::ffi::c_char,
    *const std::ffi::c_char,
    sys::PurpleMessageFlags,
) -> std::ffi::c_int;

/// What an open `purple_request_*` dialog is about.
pub(crate) enum Pending {
    /// "Verify contact...": choose how.
    Verify(ConvRef),
    /// Both fingerprints shown; `key` is the contact's key the user is looking at, in window
    /// `window` (its number), if one was open: a contact renamed meanwhile takes the window.
    Compare {
        r: ConvRef,
        key: IdentityPublic,
        window: Option<usize>,
    },
    /// Question-and-answer form, opened while the contact's key was `key`: the question is
    /// asked only of that key (a key that changed while the user typed gets nothing).
    Ask { r: ConvRef, key: IdentityPublic },
    /// The contact's question, waiting for our user's answer: the answer typed in this dialog
    /// is for exactly this question. Opened with its own number as its owner handle, so exactly
    /// it can be closed when it goes stale.
    Answer { r: ConvRef, question: String },
    /// The contact's key changed to `key` (or, `other_client`, another client of the contact
    /// has it): accept exactly that key, or keep holding (not now). Its dialog is opened with
    /// its own number as its owner handle, so exactly it can be closed
    /// (`purple_request_close_with_handle`).
    KeyChanged {
        r: ConvRef,
        key: IdentityPublic,
        other_client: bool,
        /// When it opened.
        at: std::time::Instant,
    },
    /// The Known fingerprints list: each item's label and the record it stands for.
    Known(Vec<(String, TrustRecord)>),
    /// A line typed to `r` and held back for another, encrypted, conversation of the contact in
    /// the same window (`siblings`): send it unencrypted, or not. Opened with its own number as
    /// its owner handle (closed when a later line is held back for `r`, and at unload).
    Sibling {
        r: ConvRef,
        held: HeldLine,
        /// When it opened.
        at: std::time::Instant,
        /// The number of `r`'s window then, if one was open: a line is sent only from that
        /// window (after a rename, another window can have `r`'s name: a stranger who took
        /// the nick).
        window: Option<usize>,
    },
}

/// A line held back for a sibling conversation (`Pending::Sibling`), kept to be sent if the
/// user confirms: wiped when the dialog goes.
pub(crate) enum HeldLine {
    /// A typed message, as the markup the window gave (sent again as typed).
    Message(SecretString),
    /// A protocol's command line, without its `/` (`me waves`), run again.
    Command(SecretString),
}

/// What the plugin changed about one conversation window.
#[derive(Default)]
pub(crate) struct Window {
    /// Whether the window was logging before encryption turned logging off (restored after).
    pub logging_saved: Option<bool>,
    /// A "held" line was written for the current wait (no line per held message).
    pub held_notified: bool,
    /// The line saying the host's turning logging back on was undone was written (once per
    /// window: Pidgin does it at every switch between conversations merged into one tab).
    pub relog_told: bool,
    /// The title Sotto put on the window, if any (decided from Sotto's state, never from the
    /// title's text, which an alias controls).
    pub title: Option<TitleMark>,
    /// Per kind of line anyone can provoke ([`Quiet`]): when the last one was written, and how
    /// many were not written since. A flood gets a handful of lines, not one each.
    pub quiet: [(u64, usize); Quiet::KINDS],
}

/// How many lines handed back undelivered are remembered as told ([`State::bounced`]).
pub(crate) const BOUNCES_KEPT: usize = 64;

/// Window lines that an unauthenticated line provokes, each kind kept quiet on its own (one
/// kind's flood never hides the first line of another).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Quiet {
    /// "An encrypted message … could not be read".
    Unreadable,
    /// The peer software's `?S1E` words.
    PeerError,
    /// "Could not start the encrypted conversation" (a forged `?S1R` or `?S1C` while a
    /// handshake waits).
    HandshakeFailed,
    /// "A message … was not delivered", for a line handed back whose text is not remembered.
    Undelivered,
}

impl Quiet {
    const KINDS: usize = 4;

    /// At most one line of a kind per this many seconds per window; the next says how many
    /// were not written.
    pub(crate) const SECS: u64 = 30;
}

impl Window {
    /// Whether a line of `kind` may be written at `now` (seconds): `Some(n)`, with the number
    /// of lines of that kind not written since the last one, or `None` (counted).
    pub(crate) fn may_write(&mut self, kind: Quiet, now: u64) -> Option<usize> {
        let (last, skipped) = &mut self.quiet[kind as usize];
        // A clock set back (now before last) starts over rather than stay quiet for ever.
        if *last != 0 && now >= *last && now - *last < Quiet::SECS {
            *skipped += 1;
            None
        } else {
            let unreported = *skipped;
            (*last, *skipped) = (now, 0);
            Some(unreported)
        }
    }
}

/// A title Sotto set: libpurple's own title and what Sotto made of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TitleMark {
    /// libpurple's title (the alias or name) before Sotto's suffix.
    pub base: String,
    /// The title Sotto set.
    pub shown: String,
}

/// What Sotto knows of one open IM window, under the number stored in the window itself
/// (`purple_conversation_set_data`), which libpurple keeps when it renames the window.
#[derive(Clone, Debug)]
pub(crate) struct Tag {
    /// The conversation the window showed when last looked at.
    pub key: ConvKey,
    /// A per-contact policy carried over from the buddy the window was opened for, after a
    /// rename to a name with no buddy of its own.
    pub carried_policy: Option<crate::protocol::Policy>,
    /// The name the window's contact was renamed to when its conversation could not follow,
    /// once the window has said so (said once per name, not at every line in or out).
    pub rename_failed_told: Option<ConvKey>,
}

/// A key dialog waiting to open: its conversation, when, and what opens it.
pub(crate) type DeferredDialog = (ConvKey, std::time::Instant, Box<dyn FnOnce()>);

/// Everything the loaded plugin decides with.
pub(crate) struct State {
    /// Conversations, identities and trust (the sessions service, over the store).
    pub sessions: Sessions,
    /// Window decorations, per conversation.
    pub windows: HashMap<ConvKey, Window>,
    /// The peer and exact text our `sending-im-msg` handler approved for the protocol's
    /// `send_im` (the substituted wire line, or plaintext the policy allows). Consumed by the
    /// `send_im` wrapper.
    pub allow_next: Option<Approval>,
    /// Open dialogs, keyed by the number their callbacks carry as user data.
    pub dialogs: HashMap<usize, Pending>,
    /// Key dialogs that replace one about another key, waiting a moment before they open
    /// (`dialogs::key_changed`): the conversation, when, and what opens it.
    pub deferred_dialogs: Vec<DeferredDialog>,
    /// The libpurple timeout that opens them (0: none), removed at unload.
    pub deferred_timer: u32,
    /// Each contact's policy as last read from the store (`service::contact_policy`), so that
    /// a message does not cost a query; changed with it, forgotten at a rename.
    pub policies: HashMap<ConvKey, Option<crate::protocol::Policy>>,
    /// Open IM windows, by the number stored in each.
    pub tags: HashMap<usize, Tag>,
    /// The last window number handed out (0 means "not tagged").
    pub last_tag: usize,
    /// A sync of messages read and saved without one is due (a 0 ms timeout).
    pub sync_due: Option<super::service::Timeout>,
    /// The newest XMPP stanzas that carried a data line of ours ([`SentStanza`]), to know one a
    /// server hands back undelivered (RFC 6120 lets the error leave the body out).
    pub sent_stanzas: std::collections::VecDeque<SentStanza>,
    /// The start of each line handed back undelivered that was told (the newest
    /// [`BOUNCES_KEPT`]): the same line handed back again says nothing.
    pub bounced: std::collections::VecDeque<String>,
    /// The lines each IRC connection sent lately that a 401 (`ERR_NOSUCHNICK`) may answer
    /// (`super::irc`).
    pub sent_to_nicks: crate::sessions::nosuchnick::SentToNicks,
    /// The buddy each buddy-list contact's Sotto menu was built for, by the contact node's
    /// address (the newest [`MENU_TARGETS_KEPT`]): Finch hands the menu a contact, whose
    /// priority buddy can change (a presence) before an item is chosen, and the item must act
    /// on the buddy its label was made for (`super::menu`).
    pub menu_targets: std::collections::VecDeque<(usize, ConvRef)>,
    /// Our lines in each IRC connection's rate-limited queue, and the messages they carry
    /// (`super::pace`).
    pub pacing: crate::sessions::pacing::Pacing,
    /// Whether `irc-sending-text` is connected, so that lines can be seen leaving: only then
    /// are they followed (`super::pace::handing`).
    pub pacing_on: bool,
    /// Lines saying a message takes a while, written once libpurple has written the message
    /// itself (`super::pace`), and the 0 ms timeout that writes them (removed at unload).
    pub pace_lines: Vec<(ConvRef, String)>,
    pub pace_due: Option<super::service::Timeout>,
}

/// How many [`State::menu_targets`] are kept (one menu is open at a time; a few spare).
pub(crate) const MENU_TARGETS_KEPT: usize = 8;

/// An XMPP `<message>` that carried one of our data lines.
pub(crate) struct SentStanza {
    /// Its `id` attribute.
    pub id: String,
    /// Where it went (its `to`).
    pub to: String,
    /// The line.
    pub line: String,
}

/// How many [`SentStanza`]s are kept.
pub(crate) const SENT_STANZAS_KEPT: usize = 64;

/// What our `sending-im-msg` handler let through, for the `send_im` wrapper to recognise.
pub(crate) struct Approval {
    pub key: ConvKey,
    pub text: String,
    /// Plaintext the policy allowed (rather than our own wire line): honoured only while the
    /// conversation is still in plaintext.
    pub plaintext: bool,
    /// What was typed, when `text` is the last line of a typed message: said NOT sent, with
    /// it, if the protocol refuses that line (libpurple then writes nothing of it).
    pub typed: Option<crate::protocol::SecretString>,
    /// The typed message's lines for the contact's other clients (address, line): sent once
    /// the protocol took the last line, never when it refused it (the window then says NOT
    /// sent, and a client that had it would get it twice when it is typed again).
    pub elsewhere: Vec<(String, String)>,
    armed: std::time::Instant,
}

/// How long an approval stays good. libpurple calls `send_im` synchronously right after the
/// `sending-im-msg` handlers return (microseconds); when another plugin's later handler cancels
/// the send, neither `send_im` nor `sent-im-msg` (which disarms it) follows, and without a
/// lifetime the approval would wave through the next identical text, an auto-reply say, even
/// after the conversation became encrypted.
pub(crate) const APPROVAL_LIFETIME: std::time::Duration = std::time::Duration::from_secs(1);

impl Approval {
    /// Approves our wire line `text` for the conversation `key`, now.
    pub(crate) fn line(key: ConvKey, text: String) -> Self {
        Approval {
            key,
            text,
            plaintext: false,
            typed: None,
            elsewhere: Vec::new(),
            armed: std::time::Instant::now(),
        }
    }

    /// Approves `line`, the last line of the typed message `typed`, whose lines for the
    /// contact's other clients are `elsewhere`.
    pub(crate) fn typed_line(
        key: ConvKey,
        line: String,
        typed: &str,
        elsewhere: Vec<(String, String)>,
    ) -> Self {
        Approval {
            typed: Some(crate::protocol::SecretString::new(typed.to_owned())),
            elsewhere,
            ..Approval::line(key, line)
        }
    }

    /// Approves `text` to go out as typed (the policy allows plaintext for `key` now).
    pub(crate) fn plaintext(key: ConvKey, text: String) -> Self {
        Approval {
            plaintext: true,
            ..Approval::line(key, text)
        }
    }

    /// Whether `text` for `key` is what was approved, within [`APPROVAL_LIFETIME`].
    pub(crate) fn covers(&self, key: &ConvKey, text: &str) -> bool {
        self.armed.elapsed() < APPROVAL_LIFETIME && self.key == *key && self.text == text
    }
}

/// The one plugin value: the state, and beside it what must be readable while it is borrowed.
struct Plugin {
    state: RefCell<Option<State>>,
    /// The loaded plugin, as the owner handle for requests and notifications (NULL when not
    /// loaded; libpurple keeps the plugin alive from load to unload).
    handle: Cell<*mut c_void>,
    /// libpurple is shutting down: sessions are kept for the next start, not ended.
    quitting: Cell<bool>,
    /// The line being sent is our own protocol line: the `send_im` wrapper lets it through.
    injecting: Cell<bool>,
    /// A window title is being changed by us: the `conversation-updated` it emits is ours.
    decorating: Cell<bool>,
    /// Hooks, commands and wrappers: dropping this undoes the load.
    loaded: RefCell<Option<Box<dyn Any>>>,
    /// Each wrapped protocol's own `send_im`, by protocol id: what our wrapper calls (another
    /// plugin's wrapper, when it wrapped before a load of ours).
    originals: RefCell<HashMap<String, SendIm>>,
    /// For each protocol, the function our wrapper called when Sotto was last unloaded under
    /// another plugin's wrapper (or the first one kept): where a call coming back up into our
    /// wrapper from below goes ([`passing`]): another plugin's wrapper that went on top of
    /// ours, which it calls, and that ours now calls since Sotto was loaded again.
    innermost: RefCell<HashMap<String, SendIm>>,
    /// The protocols whose `innermost` was set when Sotto was unloaded while another plugin's
    /// wrapper sat on top of ours, calling it ([`leave_under`]): ours stays in that chain, lower
    /// down, and what it hands a call to is kept while ours goes on top of others.
    pinned: RefCell<HashSet<String>>,
    /// The last dialog number handed out ([`next_dialog_number`]); kept across loads.
    last_dialog: Cell<usize>,
    /// What our wrapper is handing to the function below it, while it does ([`Passing`]):
    /// the connection's address, the recipient and the text.
    passing: RefCell<Option<(usize, String, String)>>,
    /// Accounts `ConvRef::account` found, by (protocol id, username as asked): addresses, each
    /// removed when libpurple destroys its account (`account-destroying`), so every one held is
    /// live. `purple_accounts_find` normalizes every account's name on every call: with 200
    /// accounts, most of a message's cost.
    accounts: RefCell<HashMap<(String, String), KnownAccount>>,
    /// XMPP group chats each account has been in (`room@server`, as libpurple normalizes it), by
    /// account address: a private chat with `room@server/nick` stays that one contact after the
    /// room is left (libpurple then normalizes the name to the room's own; see
    /// `glue::contact_name`). Removed with the account.
    rooms: RefCell<HashMap<usize, Rooms>>,
}

/// An account found by name, and its username normalized by its protocol (what conversation
/// keys hold; normalizing it on every call was most of the rest of that cost).
#[derive(Clone)]
pub(crate) struct KnownAccount {
    pub(crate) address: usize,
    pub(crate) normalized: String,
}

thread_local! {
    static PLUGIN: Plugin = Plugin {
        state: RefCell::new(None),
        handle: Cell::new(std::ptr::null_mut()),
        quitting: Cell::new(false),
        injecting: Cell::new(false),
        decorating: Cell::new(false),
        loaded: RefCell::new(None),
        originals: RefCell::new(HashMap::new()),
        innermost: RefCell::new(HashMap::new()),
        pinned: RefCell::new(HashSet::new()),
        last_dialog: Cell::new(0),
        passing: RefCell::new(None),
        accounts: RefCell::new(HashMap::new()),
        rooms: RefCell::new(HashMap::new()),
    };
}

/// Run `f` on the state. `None` when the plugin is not loaded or the state is already borrowed
/// (a re-entrant call: the caller refuses its work).
pub(crate) fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> Option<R> {
    PLUGIN.with(|p| match p.state.try_borrow_mut() {
        Ok(mut guard) => guard.as_mut().map(f),
        Err(_) => {
            // SAFETY: the variadic debug function gets a "%s" format and one static C string.
            unsafe {
                sys::purple_debug_error(
                    c"sotto".as_ptr(),
                    c"%s\n".as_ptr(),
                    c"re-entrant state access refused".as_ptr(),
                );
            }
            None
        }
    })
}

/// Whether the plugin is loaded (its state installed).
pub(crate) fn is_loaded() -> bool {
    PLUGIN.with(|p| p.state.try_borrow().map_or(true, |g| g.is_some()))
}

/// Install fresh state (plugin load) over `store`, and the plugin handle.
pub(crate) fn install(handle: *mut c_void, store: Result<Store, String>) {
    PLUGIN.with(|p| {
        p.handle.set(handle);
        p.quitting.set(false);
        p.accounts.borrow_mut().clear();
        if let Ok(mut guard) = p.state.try_borrow_mut() {
            *guard = Some(State {
                sessions: Sessions::new(store),
                windows: HashMap::new(),
                allow_next: None,
                dialogs: HashMap::new(),
                deferred_dialogs: Vec::new(),
                deferred_timer: 0,
                policies: HashMap::new(),
                tags: HashMap::new(),
                last_tag: 0,
                sync_due: None,
                sent_stanzas: Default::default(),
                bounced: Default::default(),
                sent_to_nicks: Default::default(),
                menu_targets: Default::default(),
                pacing: Default::default(),
                pacing_on: false,
                pace_lines: Vec::new(),
                pace_due: None,
            });
        }
    });
}

/// Keep what undoes the load (hooks, commands, wrappers) until [`remove`].
pub(crate) fn hold_loaded(loaded: Box<dyn Any>) {
    PLUGIN.with(|p| *p.loaded.borrow_mut() = Some(loaded));
}

/// Plugin unload: undo the load (dropping hooks and wrappers), then drop the state; sessions
/// stay in the store.
pub(crate) fn remove() {
    // Taken out first and dropped outside the borrow: dropping restores protocol functions,
    // which reads `originals`.
    let loaded = PLUGIN.with(|p| p.loaded.borrow_mut().take());
    drop(loaded);
    let state = PLUGIN.with(|p| p.state.try_borrow_mut().ok().and_then(|mut g| g.take()));
    drop(state);
    PLUGIN.with(|p| {
        p.handle.set(std::ptr::null_mut());
        p.accounts.borrow_mut().clear();
        // Keyed by account addresses, which libpurple may free and reuse while Sotto is not
        // loaded to hear of it (an account deleted meanwhile): a new account at the same
        // address must not inherit another's rooms.
        p.rooms.borrow_mut().clear();
    });
}

/// After the panic boundary caught a panic: memory may have run ahead of disk, so every loaded
/// conversation is dropped (the next callback reloads it from the store), and no approval stays
/// armed.
pub(crate) fn after_panic() {
    let _ = with_state(|s| {
        s.sessions.drop_memory();
        s.allow_next = None;
    });
}

/// The plugin handle for `purple_request_*` and `purple_notify_*` (NULL when not loaded).
pub(crate) fn plugin_handle() -> *mut c_void {
    PLUGIN.with(|p| p.handle.get())
}

/// libpurple is quitting (the core's `quitting` signal).
pub(crate) fn set_quitting() {
    PLUGIN.with(|p| p.quitting.set(true));
}

/// Whether libpurple is shutting down (then sessions are kept for the next start, not ended).
pub(crate) fn is_quitting() -> bool {
    PLUGIN.with(|p| p.quitting.get())
}

/// Marks our own protocol lines while it lives (see [`Injecting::enter`]).
pub(crate) struct Injecting {
    before: bool,
}

impl Injecting {
    /// From now until the guard drops (also on unwinding), the `send_im` wrapper lets lines
    /// through unexamined: they are ours.
    pub(crate) fn enter() -> Self {
        Injecting {
            before: PLUGIN.with(|p| p.injecting.replace(true)),
        }
    }

    /// The line marked is being handed to the protocol: until the guard drops, a send made
    /// under that call (a protocol that delivers to an account of this process at once, as
    /// libpurple's nullprpl does, whose `serv_got_im` sends an away message; another plugin's
    /// handler of the delivery) is examined as any other: it is not the line marked.
    pub(crate) fn handed_down() -> Self {
        Injecting {
            before: PLUGIN.with(|p| p.injecting.replace(false)),
        }
    }
}

impl Drop for Injecting {
    fn drop(&mut self) {
        let before = self.before;
        PLUGIN.with(|p| p.injecting.set(before));
    }
}

/// Whether the line being sent is our own (inside [`Injecting::enter`]).
pub(crate) fn is_injecting() -> bool {
    PLUGIN.with(|p| p.injecting.get())
}

/// The account found earlier for `protocol` and `username` (a live account: see
/// [`forget_account`]; the caller checks it still has that name).
pub(crate) fn known_account(protocol: &str, username: &str) -> Option<KnownAccount> {
    PLUGIN.with(|p| {
        p.accounts
            .borrow()
            .get(&(protocol.to_owned(), username.to_owned()))
            .cloned()
    })
}

/// Remember the account found for `protocol` and `username` (`None`: forget that entry).
pub(crate) fn remember_account(protocol: &str, username: &str, account: Option<KnownAccount>) {
    PLUGIN.with(|p| {
        let mut accounts = p.accounts.borrow_mut();
        let key = (protocol.to_owned(), username.to_owned());
        match account {
            Some(a) => accounts.insert(key, a),
            None => accounts.remove(&key),
        };
    });
}

/// libpurple is about to free `account`: no entry may point at it any more.
pub(crate) fn forget_account(account: usize) {
    PLUGIN.with(|p| {
        p.accounts.borrow_mut().retain(|_, a| a.address != account);
        p.rooms.borrow_mut().remove(&account);
    });
}

/// XMPP group chats one account has been in, and the occupants seen in them.
#[derive(Default)]
pub(crate) struct Rooms {
    /// `room@server`, as libpurple normalizes it.
    rooms: std::collections::HashSet<String>,
    /// An occupant's name as a window or stanza spelled it → as libpurple normalized it while
    /// the account was in the room (its nick prepared: a nick spelled another way, with a
    /// combining accent, say, is still the one occupant after the room is left).
    occupants: HashMap<String, String>,
}

/// Occupants remembered per account, at most: a room with more only loses the exact spelling
/// of the rest (they fall back to their name as spelled).
const MAX_OCCUPANTS: usize = 4096;

/// `account` (an address) is in the XMPP group chat `room`, and `raw` is the occupant
/// libpurple normalizes to `normalized` (`room/nick`) there.
pub(crate) fn remember_occupant(account: usize, room: &str, raw: &str, normalized: &str) {
    PLUGIN.with(|p| {
        let mut rooms = p.rooms.borrow_mut();
        let known = rooms.entry(account).or_default();
        if !known.rooms.contains(room) {
            known.rooms.insert(room.to_owned());
        }
        if known.occupants.len() < MAX_OCCUPANTS && !known.occupants.contains_key(raw) {
            known
                .occupants
                .insert(raw.to_owned(), normalized.to_owned());
        }
    });
}

/// The occupant `raw` (`room/nick` as spelled) of `room`, a room `account` has been in and
/// left (libpurple now normalizes `raw` to `room`): as it was normalized in the room, or
/// `room/nick`. `None` when `account` was never in `room`.
pub(crate) fn occupant_of_left_room(account: usize, room: &str, raw: &str) -> Option<String> {
    PLUGIN.with(|p| {
        let rooms = p.rooms.borrow();
        let known = rooms.get(&account).filter(|r| r.rooms.contains(room))?;
        let nick = raw
            .split_once('/')
            .map(|(_, n)| n)
            .filter(|n| !n.is_empty())?;
        Some(
            known
                .occupants
                .get(raw)
                .cloned()
                .unwrap_or_else(|| format!("{room}/{nick}")),
        )
    })
}

/// A number for a new dialog, the user data its callbacks carry: never 0 (a NULL user data),
/// and not restarted by a load, so a dialog a failed unload left open (its answer still
/// reaching Sotto) never carries the number of one opened since.
pub(crate) fn next_dialog_number() -> usize {
    PLUGIN.with(|p| {
        let n = p.last_dialog.get().wrapping_add(1).max(1);
        p.last_dialog.set(n);
        n
    })
}

/// Remember a protocol's own `send_im`.
pub(crate) fn keep_original(protocol: String, f: SendIm) {
    PLUGIN.with(|p| {
        // The function our wrapper called before (kept when another plugin's wrapper went on
        // top of ours, which it calls): what the call coming back up from there goes to. With
        // none before, `f` itself. Unless ours was left in a chain ([`leave_under`]): then
        // what it called there, not each wrapper ours went on top of since (one put in
        // between, gone later, would be called through a cleared pointer).
        let before = p.originals.borrow_mut().insert(protocol.clone(), f);
        if !p.pinned.borrow().contains(&protocol) {
            p.innermost
                .borrow_mut()
                .insert(protocol, before.unwrap_or(f));
        }
    });
}

/// Where a call coming back up into our wrapper goes (see `innermost`).
pub(crate) fn innermost(protocol: &str) -> Option<SendIm> {
    PLUGIN.with(|p| p.innermost.borrow().get(protocol).copied())
}

/// Whether our wrapper is handing exactly this call (`gc`, `who`, `text`) to the function
/// below it: the call coming back up from there (another plugin's wrapper that calls ours).
pub(crate) fn passing(gc: usize, who: &str, text: &str) -> bool {
    PLUGIN.with(|p| {
        p.passing
            .borrow()
            .as_ref()
            .is_some_and(|(g, w, t)| *g == gc && w == who && t == text)
    })
}

/// Marks what our wrapper hands to the function below it while it lives.
pub(crate) struct Passing(Option<(usize, String, String)>);

impl Passing {
    pub(crate) fn enter(gc: usize, who: &str, text: &str) -> Self {
        let call = Some((gc, who.to_owned(), text.to_owned()));
        Passing(PLUGIN.with(|p| p.passing.replace(call)))
    }
}

impl Drop for Passing {
    fn drop(&mut self) {
        let before = self.0.take();
        PLUGIN.with(|p| *p.passing.borrow_mut() = before);
    }
}

/// The protocol's own `send_im`, while wrapped.
pub(crate) fn original(protocol: &str) -> Option<SendIm> {
    PLUGIN.with(|p| p.originals.borrow().get(protocol).copied())
}

/// Forget and return a protocol's own `send_im` (the wrapper is being removed).
pub(crate) fn take_original(protocol: &str) -> Option<SendIm> {
    PLUGIN.with(|p| {
        p.pinned.borrow_mut().remove(protocol);
        p.innermost.borrow_mut().remove(protocol);
        p.originals.borrow_mut().remove(protocol)
    })
}

/// Sotto unloads while `top`, another plugin's wrapper, sits on top of ours in `protocol`'s
/// chain (and calls ours, which passes through while unloaded): what ours calls is where a
/// call coming back up into it goes from now on, whatever ours goes on top of. Not when `top`
/// is what ours calls: ours was taken out of the chain (a plugin under it put back what it
/// had found).
pub(crate) fn leave_under(protocol: String, top: SendIm) {
    PLUGIN.with(|p| {
        let calls = p.originals.borrow().get(&protocol).copied();
        let back = p.innermost.borrow().get(&protocol).copied();
        let is = |f: Option<SendIm>| f.is_some_and(|f| f as usize == top as usize);
        let Some(calls) = calls else { return };
        if is(Some(calls)) || is(back) {
            return;
        }
        // Left under a second wrapper with a copy of ours already lower down: a call coming
        // back up still ends in that lowest copy, which calls what it called (set to what
        // this copy calls, the wrappers would call each other for ever).
        if p.pinned.borrow().contains(&protocol) {
            return;
        }
        p.innermost.borrow_mut().insert(protocol.clone(), calls);
        p.pinned.borrow_mut().insert(protocol);
    });
}

/// At unload, with ours on top: whether a copy of ours lower down is still called from the
/// wrapper ours calls (ours went on top of a wrapper that calls it, see [`leave_under`]).
/// Then that wrapper is what goes back on top, and ours, still called from it, hands what it
/// gets to what it called when it was left there: returns that wrapper. `None`: take ours out.
pub(crate) fn step_down(protocol: &str) -> Option<SendIm> {
    PLUGIN.with(|p| {
        if !p.pinned.borrow().contains(protocol) {
            return None;
        }
        let back = p.innermost.borrow().get(protocol).copied()?;
        let mut originals = p.originals.borrow_mut();
        let top = originals.get(protocol).copied()?;
        if top as usize == back as usize {
            return None;
        }
        originals.insert(protocol.to_owned(), back);
        Some(top)
    })
}

/// A plugin unloads whose code holds `gone` (`gone(f)`): if ours calls a wrapper of its that
/// called ours in turn (ours went on top of it), that wrapper has put back ours, or is about
/// to, and may have cleared what it called: ours calls what it called when it was left under
/// that wrapper instead.
pub(crate) fn wrapper_gone(protocol: &str, gone: impl Fn(SendIm) -> bool) {
    PLUGIN.with(|p| {
        if !p.pinned.borrow().contains(protocol) {
            return;
        }
        let Some(back) = p.innermost.borrow().get(protocol).copied() else {
            return;
        };
        let mut originals = p.originals.borrow_mut();
        if let Some(f) = originals.get(protocol).copied() {
            if f as usize != back as usize && gone(f) {
                originals.insert(protocol.to_owned(), back);
            }
        }
    });
}

/// Marks a window-title change of ours while it lives (see [`Decorating::enter`]).
pub(crate) struct Decorating(());

impl Decorating {
    /// `None` when a title change of ours is already under way: the `conversation-updated` it
    /// emitted must not start another (libpurple emits it from inside `set_title`).
    pub(crate) fn enter() -> Option<Self> {
        let busy = PLUGIN.with(|p| p.decorating.replace(true));
        // Not `then_some`: its argument is built either way, and dropping it when busy ended
        // the outer change's mark (a nested call then let the next title change through).
        if busy {
            None
        } else {
            Some(Decorating(()))
        }
    }
}

impl Drop for Decorating {
    fn drop(&mut self) {
        PLUGIN.with(|p| p.decorating.set(false));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rooms remembered go at unload: they are keyed by account addresses, which an
    /// account deleted while Sotto is not loaded frees for another.
    #[test]
    fn rooms_are_forgotten_at_unload() {
        let account = 0x7070;
        let room = "lounge@conference.example";
        remember_occupant(
            account,
            room,
            "lounge@conference.example/bob",
            "lounge@conference.example/bob",
        );
        let bob = "lounge@conference.example/bob";
        assert_eq!(
            occupant_of_left_room(account, room, bob).as_deref(),
            Some(bob)
        );
        remove();
        assert_eq!(occupant_of_left_room(account, room, bob), None);
    }

    macro_rules! fake_send_im {
        ($name:ident, $rc:expr) => {
            unsafe extern "C" fn $name(
                _: *mut sys::PurpleConnection,
                _: *const std::ffi::c_char,
                _: *const std::ffi::c_char,
                _: sys::PurpleMessageFlags,
            ) -> std::ffi::c_int {
                $rc
            }
        };
    }
    fake_send_im!(protocol_own, 1);
    fake_send_im!(other_wrapper, 2);
    fake_send_im!(third_wrapper, 3);
    fake_send_im!(first_wrapper, 4);

    fn same(a: Option<SendIm>, b: SendIm) -> bool {
        a.is_some_and(|a| a as usize == b as usize)
    }

    /// Ours went on top of a wrapper that calls ours lower down (Sotto was unloaded under it,
    /// then loaded again). When that wrapper's plugin unloads, ours calls what it called when
    /// it was left there (the wrapper's saved pointer may be cleared: calling it crashed the
    /// client); a plugin whose code holds no wrapper ours calls changes nothing.
    #[test]
    fn a_wrapper_whose_plugin_unloads_is_no_longer_called() {
        let id = "prpl-gone";
        keep_original(id.into(), protocol_own);
        leave_under(id.into(), other_wrapper);
        keep_original(id.into(), other_wrapper);
        wrapper_gone(id, |f| f as usize == third_wrapper as SendIm as usize);
        assert!(same(original(id), other_wrapper), "another plugin went");
        wrapper_gone(id, |f| f as usize == other_wrapper as SendIm as usize);
        assert!(
            same(original(id), protocol_own),
            "the wrapper ours called went"
        );
        take_original(id);

        // Never left under anything: nothing to fall back on, nothing changed.
        let id = "prpl-never-left";
        keep_original(id.into(), protocol_own);
        keep_original(id.into(), other_wrapper);
        wrapper_gone(id, |_| true);
        assert!(same(original(id), other_wrapper));
        take_original(id);
    }

    /// Sotto unloads with its wrapper on top of one that calls it lower down: that wrapper goes
    /// back on top, and ours there hands what it gets to what it called when it was left under
    /// it (taken out altogether, the copy lower down had nothing to call: every send failed
    /// while Sotto was unloaded, and the next load made the two call each other for ever).
    #[test]
    fn at_unload_ours_steps_down_under_a_wrapper_that_calls_it() {
        let id = "prpl-step-down";
        keep_original(id.into(), protocol_own);
        leave_under(id.into(), other_wrapper);
        keep_original(id.into(), other_wrapper);
        assert!(same(step_down(id), other_wrapper), "back on top");
        assert!(same(original(id), protocol_own), "what ours calls there");
        // Left under it again, loaded again on top of it: the same.
        leave_under(id.into(), other_wrapper);
        keep_original(id.into(), other_wrapper);
        assert!(same(innermost(id), protocol_own));
        assert!(same(step_down(id), other_wrapper));
        take_original(id);

        // On top of the protocol's own function only: taken out as ever.
        let id = "prpl-alone";
        keep_original(id.into(), protocol_own);
        assert!(step_down(id).is_none());
        take_original(id);
    }

    /// Left under one wrapper, loaded on top of it, then left under a second: a call coming
    /// back up still goes to what the lowest copy of ours calls (it went to the first wrapper,
    /// which called ours again, for ever).
    #[test]
    fn left_under_twice_a_call_coming_back_up_still_ends_below() {
        let id = "prpl-twice";
        keep_original(id.into(), protocol_own);
        leave_under(id.into(), other_wrapper);
        keep_original(id.into(), other_wrapper);
        leave_under(id.into(), third_wrapper);
        assert!(same(innermost(id), protocol_own));
        take_original(id);
    }

    /// What our wrapper calls, found on top at an unload (a plugin under ours put back what it
    /// had found, taking ours out of the chain), is not a wrapper ours was left under.
    #[test]
    fn what_ours_calls_on_top_is_no_wrapper_ours_was_left_under() {
        let id = "prpl-taken-out";
        keep_original(id.into(), first_wrapper);
        keep_original(id.into(), protocol_own);
        leave_under(id.into(), protocol_own);
        leave_under(id.into(), first_wrapper);
        keep_original(id.into(), other_wrapper);
        assert!(step_down(id).is_none(), "nothing of ours lower down");
        assert!(same(innermost(id), protocol_own), "what ours called before");
        take_original(id);
    }

    /// A call coming back up into our wrapper goes to what ours called when it was left under
    /// another wrapper, whatever ours went on top of since (a third wrapper, gone later);
    /// without that, to what ours called before the wrapper it went on top of last (not to a
    /// wrapper of a plugin that unloaded before ours went on top of the next one).
    #[test]
    fn a_call_coming_back_up_goes_where_ours_was_left() {
        let id = "prpl-pinned";
        keep_original(id.into(), protocol_own);
        leave_under(id.into(), other_wrapper);
        keep_original(id.into(), third_wrapper);
        keep_original(id.into(), other_wrapper);
        assert!(same(innermost(id), protocol_own), "where ours was left");
        take_original(id);

        let id = "prpl-unpinned";
        keep_original(id.into(), first_wrapper);
        keep_original(id.into(), protocol_own);
        keep_original(id.into(), other_wrapper);
        assert!(same(innermost(id), protocol_own), "what ours called before");
        take_original(id);
        assert!(innermost(id).is_none());
    }

    /// Dialog numbers go on across an unload and a load: an answer to a dialog left open by
    /// the previous load never finds one opened by the next.
    #[test]
    fn dialog_numbers_are_not_handed_out_twice_across_loads() {
        install(std::ptr::null_mut(), Err("no store in this test".into()));
        let first = next_dialog_number();
        remove();
        install(std::ptr::null_mut(), Err("no store in this test".into()));
        let second = next_dialog_number();
        remove();
        assert_ne!(first, 0);
        assert_ne!(first, second, "a number handed out again after a load");
    }

    /// A change of ours nested in another (the `conversation-updated` a title or logging
    /// change emits) is refused and leaves the outer one marked: the outer mark lasts until
    /// the outer guard goes (a nested refusal used to end it).
    #[test]
    fn a_nested_decorating_leaves_the_outer_one_in_place() {
        let outer = Decorating::enter().expect("the first");
        assert!(Decorating::enter().is_none(), "nested: refused");
        assert!(
            Decorating::enter().is_none(),
            "still refused after a nested one"
        );
        drop(outer);
        assert!(Decorating::enter().is_some(), "free again");
    }

    /// A flood of one kind writes one line per quiet period, the next saying how many were not
    /// written; another kind's first line is never held back by it; a clock set back does not
    /// silence a window for ever.
    #[test]
    fn each_kind_of_provoked_line_is_quiet_on_its_own() {
        let mut w = Window::default();
        let t = 1_000_000;
        assert_eq!(w.may_write(Quiet::PeerError, t), Some(0));
        for i in 1..=500 {
            assert_eq!(w.may_write(Quiet::PeerError, t + i % Quiet::SECS), None);
        }
        assert_eq!(w.may_write(Quiet::Unreadable, t + 1), Some(0));
        assert_eq!(w.may_write(Quiet::HandshakeFailed, t + 2), Some(0));
        assert_eq!(w.may_write(Quiet::HandshakeFailed, t + 3), None);
        assert_eq!(w.may_write(Quiet::PeerError, t + Quiet::SECS), Some(500));
        assert_eq!(w.may_write(Quiet::PeerError, t + Quiet::SECS + 1), None);
        assert_eq!(w.may_write(Quiet::PeerError, t - 3600), Some(1));
        assert_eq!(
            w.may_write(Quiet::HandshakeFailed, t + 2 + Quiet::SECS),
            Some(1)
        );
    }

    fn known(address: usize, normalized: &str) -> Option<KnownAccount> {
        Some(KnownAccount {
            address,
            normalized: normalized.to_owned(),
        })
    }

    /// An account libpurple destroys leaves no entry behind, under any of the names it was
    /// found by; the others stay.
    #[test]
    fn a_destroyed_account_is_forgotten_under_every_name() {
        remember_account("prpl-jabber", "a@x/one", known(0x1000, "a@x"));
        remember_account("prpl-jabber", "a@x/two", known(0x1000, "a@x"));
        remember_account("prpl-irc", "b@irc", known(0x2000, "b@irc"));
        assert_eq!(
            known_account("prpl-jabber", "a@x/one").map(|k| k.address),
            Some(0x1000)
        );
        forget_account(0x1000);
        assert!(known_account("prpl-jabber", "a@x/one").is_none());
        assert!(known_account("prpl-jabber", "a@x/two").is_none());
        assert_eq!(
            known_account("prpl-irc", "b@irc").map(|k| k.normalized),
            Some("b@irc".to_owned())
        );
        remember_account("prpl-irc", "b@irc", None);
        assert!(known_account("prpl-irc", "b@irc").is_none());
    }

    /// Loading the plugin again starts with no remembered account (one destroyed while it was
    /// not loaded sent its signal to nobody).
    #[test]
    fn installing_forgets_every_account() {
        remember_account("prpl-irc", "c@irc", known(0x3000, "c@irc"));
        install(std::ptr::null_mut(), Err("no store in this test".into()));
        assert!(known_account("prpl-irc", "c@irc").is_none());
        remove();
    }

    fn key(peer: &str) -> ConvKey {
        ConvKey {
            protocol: "prpl-irc".into(),
            account: "alice@irc".into(),
            peer: peer.into(),
        }
    }

    /// An approval covers exactly the text and conversation it was given for, and only for
    /// its lifetime: one left armed by a send another plugin cancelled does not wave through
    /// a later identical text.
    #[test]
    fn an_approval_covers_one_text_for_one_conversation_for_a_moment() {
        let fresh = Approval::line(key("bob"), "hello".into());
        assert!(fresh.covers(&key("bob"), "hello"));
        assert!(!fresh.covers(&key("bob"), "hello!"));
        assert!(!fresh.covers(&key("carol"), "hello"));
        let Some(earlier) =
            std::time::Instant::now().checked_sub(APPROVAL_LIFETIME + APPROVAL_LIFETIME)
        else {
            return; // a clock too young to go back: nothing to check
        };
        let stale = Approval {
            armed: earlier,
            ..Approval::line(key("bob"), "hello".into())
        };
        assert!(!stale.covers(&key("bob"), "hello"));
    }
}
