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
use std::collections::HashMap;
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
    /// "Verify contact...": choose how, for the contact of window `window` (its number): a
    /// contact renamed meanwhile takes the window, and the name may be someone else's.
    Verify { r: ConvRef, window: Option<usize> },
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

impl HeldLine {
    /// The line as the user typed it, to give it back in the window: the message's text, or
    /// the command with its `/`.
    pub(crate) fn shown(&self) -> SecretString {
        match self {
            HeldLine::Message(markup) => SecretString::new(super::glue::markup_to_text(markup)),
            HeldLine::Command(cmdline) => SecretString::new(format!("/{}", **cmdline)),
        }
    }
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

/// When the contact's questions may open their answer dialog by themselves. Each dialog takes
/// the keyboard from whatever the user is typing (the window manager focuses it), and a
/// contact can ask a question with every line, or from many names. Kept apart from the
/// windows: closing a window must not start a contact's back-off over.
#[derive(Default)]
pub(crate) struct AnswerDialogs {
    /// Per conversation, the questions whose dialogs opened by themselves since the user last
    /// answered one: when the last did, and how many.
    unanswered: HashMap<ConvKey, (u64, u32)>,
    /// When one last opened by itself in any conversation, with no answer since.
    anywhere: Option<u64>,
    /// Per conversation, how many answers of the user's went to a run that failed or ended
    /// without a result since the last run that succeeded: each told whoever asked whether
    /// one guess at the answer was right (memory only; across the contact's sessions and
    /// keys: an impostor can end a session, or start one, between two questions).
    spent: HashMap<ConvKey, u32>,
}

impl AnswerDialogs {
    /// After a dialog opened by itself and went unanswered, the conversation's next question
    /// opens none for this many seconds, doubled with each such dialog up to
    /// [`Self::LONGEST_SECS`]. Also the least time between two dialogs opening by themselves
    /// in any conversations.
    pub(crate) const SECS: u64 = 30;
    /// The longest wait between two dialogs of one conversation opening by themselves.
    pub(crate) const LONGEST_SECS: u64 = 3840;

    /// Whether a question arriving at `now` (seconds) in `key`'s conversation may open its
    /// answer dialog by itself (`true` counts the opening). Unless the user answered since
    /// ([`Self::answered`]): not within [`Self::SECS`] of one anywhere, nor within 30 s, 60 s,
    /// 120 s, ... of the conversation's last (a clock set back opens it). What is older than
    /// twice the longest wait is forgotten: at most one opening per [`Self::SECS`] is kept.
    pub(crate) fn may_open(&mut self, key: &ConvKey, now: u64) -> bool {
        let waits = |at: u64, secs: u64| now >= at && now - at < secs;
        self.unanswered
            .retain(|_, (at, _)| now < *at || now - *at < 2 * Self::LONGEST_SECS);
        let here = self.unanswered.get(key).is_some_and(|(at, n)| {
            let secs = Self::SECS.saturating_mul(1 << n.saturating_sub(1).min(7));
            waits(*at, secs.min(Self::LONGEST_SECS))
        });
        if here || self.anywhere.is_some_and(|at| waits(at, Self::SECS)) {
            return false;
        }
        let n = self.unanswered.get(key).map_or(0, |(_, n)| *n);
        self.unanswered
            .insert(key.clone(), (now, n.saturating_add(1)));
        self.anywhere = Some(now);
        true
    }

    /// The user answered a question in `key`'s conversation: the next one opens its dialog,
    /// in any conversation.
    pub(crate) fn answered(&mut self, key: &ConvKey) {
        self.unanswered.remove(key);
        self.anywhere = None;
    }

    /// A run the user answered in `key`'s conversation failed or ended without a result.
    pub(crate) fn answer_spent(&mut self, key: &ConvKey) {
        let n = self.spent.entry(key.clone()).or_default();
        *n = n.saturating_add(1);
    }

    /// A run in `key`'s conversation succeeded: the count starts again.
    pub(crate) fn answers_settled(&mut self, key: &ConvKey) {
        self.spent.remove(key);
    }

    /// How many of the user's answers in `key`'s conversation went to runs that failed or
    /// ended without a result since the last that succeeded.
    pub(crate) fn answers_spent(&self, key: &ConvKey) -> u32 {
        self.spent.get(key).copied().unwrap_or(0)
    }

    /// The conversation `old` is `new`'s now (a rename): its record goes with it.
    pub(crate) fn moved(&mut self, old: &ConvKey, new: &ConvKey) {
        if let Some(record) = self.unanswered.remove(old) {
            self.unanswered.insert(new.clone(), record);
        }
        if let Some(spent) = self.spent.remove(old) {
            self.spent.insert(new.clone(), spent);
        }
    }
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
    /// "Nothing was read or sent: Sotto cannot restore …", for a Sotto line that arrives in a
    /// conversation whose saved row cannot be restored.
    Unrestorable,
}

impl Quiet {
    const KINDS: usize = 5;

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
    /// The conversation the window's Sotto menu (Options > Sotto) was last built for: its
    /// items carry the window's number, and act only while the window shows that
    /// conversation (`super::menu`).
    pub menu_built_for: Option<ConvKey>,
    /// The user did something in the window's conversation since it was tagged (typed,
    /// started, asked, chose a policy: `service::user_acted`). Only then does the window make
    /// its name one the user knows (`service::incoming`): any line from any name opens one
    /// (`serv_got_im`; a forged start Sotto tells of; Finch's media, a peer's direct IM, the
    /// psychic plugin at a typing notification), so a plaintext "hi" or a forged start from
    /// each of a flood of names put all their Sotto lines outside the account's budget for
    /// strangers (`sessions::strangers`).
    pub user_acted: bool,
}

/// A key dialog waiting to open: its conversation, when, and what opens it.
pub(crate) type DeferredDialog = (ConvKey, std::time::Instant, Box<dyn FnOnce()>);

/// A dialog that opens from a 0 ms timeout ([`State::soon_dialogs`]): its number, the
/// timeout's id, and what opens it.
pub(crate) type SoonDialog = (usize, u32, Box<dyn FnOnce()>);

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
    /// When the contact's questions may open their answer dialogs by themselves.
    pub answer_dialogs: AnswerDialogs,
    /// Key dialogs that replace one about another key, waiting a moment before they open
    /// (`dialogs::key_changed`): the conversation, when, and what opens it.
    pub deferred_dialogs: Vec<DeferredDialog>,
    /// The libpurple timeout that opens them (0: none), removed at unload.
    pub deferred_timer: u32,
    /// Dialogs about a line held back that open from a 0 ms timeout (`dialogs::open_soon`):
    /// each one's number, its timeout (removed at unload), and what opens it.
    pub soon_dialogs: Vec<SoonDialog>,
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
    /// Each buddy menu's Sotto submenu built lately (the newest [`MENUS_KEPT`]), by its number,
    /// which its items carry: what it was built for (`super::menu`). A conversation's is kept
    /// with its window ([`Tag::menu_built_for`]).
    pub menus: std::collections::VecDeque<(usize, BuddyMenu)>,
    /// The last number given to a buddy menu.
    pub last_menu: usize,
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
    /// Lines saying a message was NOT delivered in full, written in this turn of the main
    /// loop, with the window they went to (its address, compared, never read): a window that
    /// closes in the same turn (an account being deleted) gives its line in a box instead
    /// (`super::pace::window_closing`). Emptied by a 0 ms timeout (removed at unload).
    pub pace_told: Vec<(usize, crate::protocol::SecretString)>,
    pub pace_told_due: Option<super::service::Timeout>,
    /// Set when an IRC window that shared its name with another closed or was renamed away:
    /// the one left showing the name is entered again in libpurple's lookup by name
    /// (`windows::relink`).
    pub relink_due: Option<super::service::Timeout>,
    /// The IRC names (account, normalized name) `windows::relink` looks at.
    pub relink_names: Vec<(usize, std::ffi::CString)>,
    /// The unload's box naming messages held where no window is open was shown
    /// (`present::undecorate_all` runs twice at an unload: once is enough).
    pub held_named: bool,
    /// Line sizes learned from protocols that refused a line as too large.
    pub line_caps: super::fragsize::Caps,
}

impl State {
    /// The answer dialog open for the conversation `key` names, if any: its number and the
    /// question it shows (one per conversation, see `dialogs::answer`).
    pub(crate) fn answer_dialog(&self, key: &ConvKey) -> Option<(usize, &str)> {
        self.dialogs.iter().find_map(|(id, p)| match p {
            Pending::Answer { r, question } if r.key() == *key => Some((*id, question.as_str())),
            _ => None,
        })
    }
}

/// How many [`State::menus`] are kept: a buddy menu is built when it pops up (Pidgin's buddy
/// list, Finch's, and Conversation > More, built again when the Conversation menu opens), and
/// others built while one is open push it out (Pidgin builds More anew each time a message
/// makes another of a merged tab's conversations the active one): an item of one pushed out
/// does nothing.
pub(crate) const MENUS_KEPT: usize = 256;

/// What a buddy menu's Sotto submenu was built for ([`State::menus`]). Its items act on that,
/// and only while the object the host hands them is still it: the host can keep a menu open
/// while the buddy goes, and hands the address it was built with, maybe freed since.
#[derive(Clone)]
pub(crate) struct BuddyMenu {
    /// The node it was built at: a buddy, or a contact.
    pub node: usize,
    /// The buddy it was built for: `node`, or the contact's priority buddy then (Finch builds
    /// a contact's menu at the contact and hands its items that buddy).
    pub buddy: usize,
    /// That buddy's conversation.
    pub r: ConvRef,
}

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
        self.fresh() && self.key == *key && self.text == text
    }

    /// Whether the approval is still within [`APPROVAL_LIFETIME`].
    pub(crate) fn fresh(&self) -> bool {
        self.armed.elapsed() < APPROVAL_LIFETIME
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
    /// The copies of our `send_im` wrapper handed out ([`hand_out_copy`]).
    copies: RefCell<Copies>,
    /// The last dialog number handed out ([`next_dialog_number`]); kept across loads.
    last_dialog: Cell<usize>,
    /// What our wrapper is handing to the function below it, while it does ([`Passing`]).
    passing: RefCell<Option<PassingCall>>,
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
        copies: RefCell::new(Copies {
            slots: Vec::new(),
            next: 0,
            handed: 0,
            refused: HashMap::new(),
        }),
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
                answer_dialogs: AnswerDialogs::default(),
                deferred_dialogs: Vec::new(),
                deferred_timer: 0,
                soon_dialogs: Vec::new(),
                policies: HashMap::new(),
                tags: HashMap::new(),
                last_tag: 0,
                sync_due: None,
                sent_stanzas: Default::default(),
                bounced: Default::default(),
                sent_to_nicks: Default::default(),
                menus: Default::default(),
                last_menu: 0,
                pacing: Default::default(),
                pacing_on: false,
                pace_lines: Vec::new(),
                pace_due: None,
                pace_told: Vec::new(),
                pace_told_due: None,
                relink_due: None,
                relink_names: Vec::new(),
                held_named: false,
                line_caps: super::fragsize::Caps::default(),
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
    // which reads `copies`.
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
        // First: a fault while dropping the conversations leaves no approval armed.
        s.allow_next = None;
        s.sessions.drop_memory();
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

/// How many copies of our `send_im` wrapper there are (`prpl::COPIES`): each one calls a
/// function of its own, so a copy left in a chain under another plugin's wrapper (which
/// calls it) goes on calling what it went on top of, whatever copies go on top since. A
/// single wrapper for all could keep only one function per protocol: with copies of it at
/// two places in a chain, one called the wrong function, and wrappers called each other for
/// ever (a hang), or a gone plugin's wrapper (a crash).
pub(crate) const COPIES: usize = 1024;

/// The copies of our wrapper handed out, by number: the protocol and the function each calls.
pub(crate) struct Copies {
    slots: Vec<Option<Copy>>,
    /// Where the search for a free copy starts: round the table, so a copy given back is
    /// handed out again as late as can be (another plugin's wrapper may still hold it).
    next: usize,
    /// How many copies were handed out so far: each copy's `order`.
    handed: u64,
    /// Protocols no copy was left for, and what their `send_im` was ([`refuse_for`]).
    refused: HashMap<String, SendIm>,
}

struct Copy {
    protocol: String,
    calls: SendIm,
    /// When it was handed out (`Copies::handed`).
    order: u64,
    /// Put in a chain and not known to be out of it: taken out at Sotto's unload, or found
    /// under nothing of ours ([`copy_on_top`]), a copy is free, and what it calls is kept
    /// until it is handed out again.
    in_chain: bool,
}

/// A copy of our wrapper for `protocol`, to go on top of `calls`: its number, or `None` when
/// every copy is in a chain.
pub(crate) fn hand_out_copy(protocol: String, calls: SendIm) -> Option<usize> {
    PLUGIN.with(|p| {
        let mut c = p.copies.borrow_mut();
        if c.slots.len() < COPIES {
            c.slots.resize_with(COPIES, || None);
        }
        let start = c.next;
        let round = |c: &Copies, free: &dyn Fn(&Option<Copy>) -> bool| {
            (0..COPIES)
                .map(|i| (start + i) % COPIES)
                .find(|&k| free(&c.slots[k]))
        };
        // Never handed out first, then taken out again.
        let k = round(&c, &|s| s.is_none())
            .or_else(|| round(&c, &|s| s.as_ref().is_some_and(|s| !s.in_chain)))?;
        c.handed += 1;
        let order = c.handed;
        c.slots[k] = Some(Copy {
            protocol,
            calls,
            order,
            in_chain: true,
        });
        c.next = (k + 1) % COPIES;
        Some(k)
    })
}

/// What copy `k` calls, when it was handed out for `protocol`.
pub(crate) fn copy_calls(k: usize, protocol: &str) -> Option<SendIm> {
    PLUGIN.with(|p| {
        let c = p.copies.borrow();
        let copy = c.slots.get(k)?.as_ref()?;
        (copy.protocol == protocol).then_some(copy.calls)
    })
}

/// Copy `k` is on top of `protocol`'s chain: whether it is that protocol's (`false`: another
/// protocol's, handed out again since another plugin kept it; to be treated as any other
/// plugin's wrapper). Copies of that protocol handed out after it cannot be below it (what a
/// copy calls was there before it), so none is in that chain any more: free (another plugin
/// that put one of them back on top would find it calling what it did until it is handed out
/// again).
pub(crate) fn copy_on_top(k: usize, protocol: &str) -> bool {
    PLUGIN.with(|p| {
        let mut c = p.copies.borrow_mut();
        let Some(order) = c
            .slots
            .get(k)
            .and_then(Option::as_ref)
            .filter(|copy| copy.protocol == protocol)
            .map(|copy| copy.order)
        else {
            return false;
        };
        for (i, slot) in c.slots.iter_mut().enumerate() {
            if let Some(copy) = slot.as_mut().filter(|copy| copy.protocol == protocol) {
                if i == k {
                    copy.in_chain = true;
                } else if copy.order > order {
                    copy.in_chain = false;
                }
            }
        }
        true
    })
}

/// Copy `k`, on top of `protocol`'s chain, is taken out (Sotto unloads): what it called, to go
/// back on top. `None` when it is not that protocol's.
pub(crate) fn give_back_copy(k: usize, protocol: &str) -> Option<SendIm> {
    PLUGIN.with(|p| {
        let mut c = p.copies.borrow_mut();
        let copy = c.slots.get_mut(k)?.as_mut()?;
        if copy.protocol != protocol {
            return None;
        }
        copy.in_chain = false;
        Some(copy.calls)
    })
}

/// No copy of our wrapper is left for `protocol` (every one is in a chain): `send_im`, which
/// was `f`, refuses every send instead (`prpl::no_copy_left`), so nothing leaves unseen;
/// put back at Sotto's unload ([`take_refused`]).
pub(crate) fn refuse_for(protocol: String, f: SendIm) {
    PLUGIN.with(|p| {
        p.copies.borrow_mut().refused.entry(protocol).or_insert(f);
    });
}

/// What `protocol`'s `send_im` was before it refused every send ([`refuse_for`]), forgotten.
pub(crate) fn take_refused(protocol: &str) -> Option<SendIm> {
    PLUGIN.with(|p| p.copies.borrow_mut().refused.remove(protocol))
}

/// A call our wrapper is handing to the function below it: the connection's address, the
/// recipient, the text, and the copies of ours it came back up into and went on from.
struct PassingCall {
    gc: usize,
    who: String,
    text: String,
    went_on: Vec<usize>,
}

/// Whether a call into a copy of our wrapper is one ours is handing down already
/// ([`coming_back`]).
pub(crate) enum Back {
    /// A new call: ours decides what goes.
    No,
    /// The call ours is handing down, coming back up into a copy of ours lower down through
    /// another plugin's wrapper that calls it: decided, on to what that copy calls, while the
    /// guard lives.
    Once(GoingOn),
    /// The same call coming back up into the same copy while it goes on from there: the
    /// wrappers call each other in a loop (a plugin put back a pointer ours cannot see). Not
    /// passed on: the loop ends only in a stack overflow, a crash of the host. (Called again
    /// after it went on, say by a wrapper below that tries once more, it is `Once` again.)
    Again,
}

/// Whether this call (`gc`, `who`, `text`), come into copy `k` of our wrapper, is the one
/// ours is handing to the function below it, coming back up: another plugin's wrapper that
/// calls a copy of ours.
pub(crate) fn coming_back(k: usize, gc: usize, who: &str, text: &str) -> Back {
    PLUGIN.with(|p| match p.passing.borrow_mut().as_mut() {
        Some(c) if c.gc == gc && c.who == who && c.text == text => {
            if c.went_on.contains(&k) {
                Back::Again
            } else {
                c.went_on.push(k);
                Back::Once(GoingOn(k))
            }
        }
        _ => Back::No,
    })
}

/// A call that came back up into copy `.0` of our wrapper is going on below it.
pub(crate) struct GoingOn(usize);

impl Drop for GoingOn {
    fn drop(&mut self) {
        PLUGIN.with(|p| {
            if let Some(c) = p.passing.borrow_mut().as_mut() {
                c.went_on.retain(|&k| k != self.0);
            }
        });
    }
}

/// Marks what our wrapper hands to the function below it while it lives.
pub(crate) struct Passing(Option<PassingCall>);

impl Passing {
    pub(crate) fn enter(gc: usize, who: &str, text: &str) -> Self {
        let call = Some(PassingCall {
            gc,
            who: who.to_owned(),
            text: text.to_owned(),
            went_on: Vec::new(),
        });
        Passing(PLUGIN.with(|p| p.passing.replace(call)))
    }
}

impl Drop for Passing {
    fn drop(&mut self) {
        let before = self.0.take();
        PLUGIN.with(|p| *p.passing.borrow_mut() = before);
    }
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

    /// Each copy of our wrapper calls what it went on top of: a copy left lower down in a
    /// chain, under another plugin's wrapper that calls it, goes on calling its own function
    /// whatever copies go on top since (one function for all, kept per protocol, sent a call
    /// coming back up to the wrong place: wrappers calling each other for ever, or a gone
    /// plugin's). A copy is called only for its own protocol; one taken out still calls what
    /// it did (another plugin may hold it) and is handed out again only when no copy was
    /// never handed out.
    #[test]
    fn each_copy_of_ours_calls_what_it_went_on_top_of() {
        let low = hand_out_copy("prpl-a".into(), protocol_own).expect("a copy");
        let high = hand_out_copy("prpl-a".into(), other_wrapper).expect("a copy");
        let elsewhere = hand_out_copy("prpl-b".into(), third_wrapper).expect("a copy");
        assert!(low != high && high != elsewhere && low != elsewhere);
        assert!(same(copy_calls(low, "prpl-a"), protocol_own));
        assert!(same(copy_calls(high, "prpl-a"), other_wrapper));
        assert!(same(copy_calls(elsewhere, "prpl-b"), third_wrapper));
        assert!(copy_calls(low, "prpl-b").is_none(), "another protocol's");
        assert!(
            give_back_copy(high, "prpl-b").is_none(),
            "not that protocol's"
        );
        assert!(same(give_back_copy(high, "prpl-a"), other_wrapper));
        assert!(same(copy_calls(high, "prpl-a"), other_wrapper), "kept");
        let next = hand_out_copy("prpl-a".into(), first_wrapper).expect("a copy");
        assert!(next != high && next != low && next != elsewhere);
    }

    /// With every copy in a chain, none is handed out (and nothing panics); one taken out is
    /// handed out again, calling its new function.
    #[test]
    fn copies_run_out_and_one_taken_out_is_handed_out_again() {
        let mut handed = std::collections::HashSet::new();
        for _ in 0..COPIES {
            let k = hand_out_copy("prpl-many".into(), other_wrapper).expect("a copy");
            assert!(handed.insert(k), "copy {k} handed out twice");
        }
        assert!(hand_out_copy("prpl-many".into(), other_wrapper).is_none());
        give_back_copy(7, "prpl-many");
        assert_eq!(hand_out_copy("prpl-other".into(), protocol_own), Some(7));
        assert!(same(copy_calls(7, "prpl-other"), protocol_own));
        assert!(copy_calls(7, "prpl-many").is_none());
        assert!(
            give_back_copy(COPIES, "prpl-many").is_none(),
            "no such copy"
        );
        // Copy 7 found on top of prpl-many's chain: another protocol's now, not ours there.
        assert!(!copy_on_top(7, "prpl-many"));
    }

    /// A copy found on top of its protocol's chain: the copies of that protocol handed out
    /// after it cannot be in the chain below it, so they are free again (copies cut out of a
    /// chain by another plugin that put back what it found were never given back: enough of
    /// them and no copy was left). Other protocols' copies stay.
    #[test]
    fn copies_cut_out_of_a_chain_are_free_again() {
        // Below `first` in its chain: handed out before it, still in the chain.
        let below = hand_out_copy("prpl-cut".into(), protocol_own).expect("a copy");
        let first = hand_out_copy("prpl-cut".into(), other_wrapper).expect("a copy");
        let cut = hand_out_copy("prpl-cut".into(), third_wrapper).expect("a copy");
        let elsewhere = hand_out_copy("prpl-else".into(), third_wrapper).expect("a copy");
        for _ in 4..COPIES {
            hand_out_copy("prpl-else".into(), third_wrapper).expect("a copy");
        }
        assert!(hand_out_copy("prpl-else".into(), third_wrapper).is_none());
        assert!(copy_on_top(first, "prpl-cut"));
        assert_eq!(hand_out_copy("prpl-else".into(), first_wrapper), Some(cut));
        assert!(
            hand_out_copy("prpl-else".into(), first_wrapper).is_none(),
            "the copy below the one on top, and the one on top, stay in the chain"
        );
        assert!(same(copy_calls(below, "prpl-cut"), protocol_own));
        assert!(same(copy_calls(first, "prpl-cut"), other_wrapper));
        assert!(same(copy_calls(elsewhere, "prpl-else"), third_wrapper));
    }

    /// With no copy left, what the protocol's `send_im` was is kept to be put back once.
    #[test]
    fn what_a_refusing_protocol_had_is_put_back_once() {
        refuse_for("prpl-full".into(), other_wrapper);
        refuse_for("prpl-full".into(), third_wrapper);
        assert!(
            same(take_refused("prpl-full"), other_wrapper),
            "the first kept"
        );
        assert!(take_refused("prpl-full").is_none());
    }

    /// A call our wrapper hands down comes back up into a copy of ours lower down (another
    /// plugin's wrapper calls it): passed on, and into a copy lower still, passed on too. The
    /// same call coming back into a copy while it goes on from there is a loop of wrappers:
    /// not passed on (it ended in a stack overflow). After it went on, or for another call,
    /// or once ours is done handing it down, it is not.
    #[test]
    fn a_call_coming_back_up_into_a_copy_while_it_goes_on_from_there_is_a_loop() {
        let once = |b: Back| matches!(b, Back::Once(_));
        assert!(matches!(coming_back(1, 7, "bob", "hi"), Back::No));
        {
            let _down = Passing::enter(7, "bob", "hi");
            assert!(matches!(coming_back(1, 7, "bob", "other"), Back::No));
            assert!(matches!(coming_back(1, 8, "bob", "hi"), Back::No));
            {
                let Back::Once(_on) = coming_back(1, 7, "bob", "hi") else {
                    panic!("not passed on");
                };
                {
                    let Back::Once(_lower) = coming_back(2, 7, "bob", "hi") else {
                        panic!("a copy lower down: not passed on");
                    };
                    assert!(matches!(coming_back(1, 7, "bob", "hi"), Back::Again));
                    assert!(matches!(coming_back(2, 7, "bob", "hi"), Back::Again));
                }
                assert!(matches!(coming_back(1, 7, "bob", "hi"), Back::Again));
                {
                    let _inner = Passing::enter(7, "bob", "hi");
                    assert!(once(coming_back(1, 7, "bob", "hi")));
                }
                assert!(
                    matches!(coming_back(1, 7, "bob", "hi"), Back::Again),
                    "the outer one"
                );
            }
            assert!(
                once(coming_back(1, 7, "bob", "hi")),
                "tried after it went on"
            );
        }
        assert!(matches!(coming_back(1, 7, "bob", "hi"), Back::No));
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

    /// A contact asking question after question takes the keyboard once, then ever more
    /// rarely while the user answers none; questions from other conversations (other names)
    /// do not open one within the period of the last either; once the user answers one, the
    /// next question opens its dialog at once; a clock set back does not keep dialogs shut; a
    /// rename keeps the record; what is old is forgotten.
    #[test]
    fn questions_asked_in_a_row_take_the_keyboard_ever_more_rarely() {
        let secs = AnswerDialogs::SECS;
        let key = |peer: &str| ConvKey {
            protocol: "prpl-irc".into(),
            account: "alice@irc.example".into(),
            peer: peer.into(),
        };
        let (bob, carol) = (key("bob"), key("carol"));
        let mut d = AnswerDialogs::default();
        let t = 1_000_000;
        assert!(d.may_open(&bob, t));
        for i in 1..secs {
            assert!(!d.may_open(&bob, t + i), "{i} s later");
            assert!(!d.may_open(&carol, t + i), "another name, {i} s later");
        }
        // Unanswered: 30 s, then 60, 120, ... up to the longest wait.
        let mut at = t;
        for gap in [
            secs,
            2 * secs,
            4 * secs,
            8 * secs,
            16 * secs,
            32 * secs,
            64 * secs,
        ] {
            assert!(!d.may_open(&bob, at + gap - 1), "{gap} s");
            assert!(d.may_open(&bob, at + gap), "{gap} s");
            at += gap;
        }
        let longest = AnswerDialogs::LONGEST_SECS;
        assert!(!d.may_open(&bob, at + longest - 1));
        assert!(d.may_open(&bob, at + longest));
        at += longest;
        // Renamed: the record moves with the conversation.
        let bobby = key("bobby");
        d.moved(&bob, &bobby);
        assert!(!d.may_open(&bobby, at + longest - 1), "renamed");
        assert!(
            d.may_open(&carol, at + secs),
            "another name, a period later"
        );
        d.answered(&bobby);
        assert!(d.may_open(&bobby, at + secs + 1), "after an answer");
        assert!(!d.may_open(&bobby, at + secs + 2));
        assert!(d.may_open(&bobby, t - 3600), "clock set back");
        // Forgotten after twice the longest wait: one record per period at most.
        let later = at + 3 * longest;
        assert!(d.may_open(&key("dave"), later));
        assert_eq!(d.unanswered.len(), 1, "old records forgotten");
    }

    /// Answers spent on runs that failed or ended without a result are counted per
    /// conversation (a rename carries the count, a run that succeeds ends it), and the answer
    /// dialog warns.
    #[test]
    fn answers_spent_on_unsettled_runs_are_counted_and_warned_of() {
        let mut d = AnswerDialogs::default();
        let (bob, carol, away) = (key("bob"), key("carol"), key("bob_away"));
        assert_eq!(d.answers_spent(&bob), 0);
        d.answer_spent(&bob);
        d.answer_spent(&bob);
        assert_eq!(d.answers_spent(&bob), 2);
        assert_eq!(d.answers_spent(&carol), 0, "another conversation");
        d.moved(&bob, &away);
        assert_eq!(d.answers_spent(&away), 2, "a rename carries it");
        assert_eq!(d.answers_spent(&bob), 0);
        d.answers_settled(&away);
        assert_eq!(d.answers_spent(&away), 0, "a run that succeeded");
        let peer = super::super::texts::Shown::new("bob");
        let warned = super::super::texts::answer_dialog(&peer, "q", false, 2).secondary;
        assert!(warned.contains("2 of your answers"), "{warned}");
        let fresh = super::super::texts::answer_dialog(&peer, "q", false, 0).secondary;
        assert!(!fresh.contains("Careful"), "{fresh}");
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
