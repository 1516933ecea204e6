//! The sessions service: every decision the plugin makes about a conversation, with no libpurple,
//! no GLib and no `unsafe`.
//!
//! The plugin layer (`crate::purple`) turns libpurple callbacks into calls here, keyed by plain
//! names ([`ConvKey`]), and turns what comes back ([`Effects`]) into libpurple actions (the
//! presenter). In between, this service:
//!
//! * loads a conversation from the store the first time it is needed (a restart is invisible),
//!   creating the account's identity on first use;
//! * runs the protocol core ([`crate::protocol::Conversation`]) with the [`Settings`] the caller
//!   read from preferences;
//! * makes the new state durable **before** anything it produced may leave ([`Sessions::outgoing`]
//!   and friends save first, then hand out lines), and when the save fails, rolls the
//!   conversation back to what the store holds and hands out nothing: fail closed;
//! * owns trust: the only code that writes trust records ([`trust`]) and the only code that pushes
//!   accepted keys into a loaded conversation.
//!
//! Because nothing here touches libpurple, `cargo test --no-default-features` exercises the
//! fail-closed paths directly: a save that fails (the store made read-only), then what was sent,
//! what memory holds and what disk holds (`tests.rs`).
#![forbid(unsafe_code)]

mod clients;
mod effects;
mod lapsed;
mod names;
pub mod nosuchnick;
mod operations;
pub mod pacing;
mod presence;
pub mod siblings;
mod strangers;
#[cfg(test)]
mod tests;
pub mod trust;

use std::collections::HashMap;

use crate::protocol::names::Names;
use crate::protocol::session::WaitingResend;
use crate::protocol::{
    ConvState, Conversation, Event, HandedBack, IdentityKey, IdentityPublic, Policy, SecretBytes,
    SecretString,
};
use crate::store::{Store, StoreError};

pub use clients::MAX_OTHER_CLIENTS;
pub use effects::{Doing, Effects, Notice, OtherClient, Outgoing};
#[cfg(feature = "purple")]
pub(crate) use operations::test_panic_on;
pub use strangers::STRANGERS_KEPT;

/// The names of one conversation as the host spells them: protocol id, the local account's
/// username and the peer's name (an XMPP full JID, an IRC nick). [`ConvKey`] is the normalized
/// form that keys state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvRef {
    /// Protocol id (`prpl-irc`, `prpl-jabber`, ...).
    pub protocol: String,
    /// The local account's username, as the host spells it.
    pub account: String,
    /// The peer's name, as last seen.
    pub peer: String,
}

/// Session-state key: protocol id, normalized account username, normalized peer name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConvKey {
    /// Protocol id.
    pub protocol: String,
    /// Normalized account username.
    pub account: String,
    /// Normalized peer name.
    pub peer: String,
}

/// What the caller read from preferences and the connection for this conversation, refreshed
/// on every call (preferences, the per-contact setting and IRC nicks change).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The contact's policy (its override, else the global one).
    pub policy: Policy,
    /// Longest wire line for this peer on this protocol.
    pub max_line: usize,
    /// Our name on the network and the contact's, normalized, as handshakes state them
    /// (`crate::protocol::names`).
    pub names: Names,
    /// The host's clock, seconds since the epoch (handshake timeouts, fragment ageing).
    pub now_secs: u64,
    /// The transport addresses one client of the contact by name (an XMPP full JID, the
    /// contact's name being the bare JID): the contact's other clients can get sessions of their
    /// own, and starts go to the contact's name (`clients`). A contact name that itself holds a
    /// `/` (an XMPP group chat's private chat) is never treated so.
    pub addressable: bool,
    /// The transport delivers one sender's lines in the order they were sent
    /// (`Conversation::set_in_order`): a long line whose pieces stopped coming is told as
    /// soon as a later line of its sender is read.
    pub in_order: bool,
}

/// An account's long-term identity and its persistent instance tag.
#[derive(Clone)]
pub struct AccountIdentity {
    /// The long-term key.
    pub key: IdentityKey,
    /// This client's instance tag for the account.
    pub instance_tag: u32,
}

/// One loaded conversation.
struct Session {
    conv: Conversation,
    /// The peer's name as last seen on the wire (an XMPP full JID, say): replies go there.
    peer_raw: String,
    /// An encrypted conversation once held under this name moved to this one (the contact was
    /// renamed): until the user decides, nothing leaves here in plaintext.
    moved_to: Option<String>,
    /// The user was told about `moved_to` (once per load).
    moved_noticed: bool,
    /// SHA-256 of the snapshot the store holds (`None`: none saved yet): a decision that left
    /// the conversation as it was (a garbage line, plaintext chatter) writes nothing.
    saved: Option<[u8; 32]>,
    /// Loaded from a restored backup of the store: its keys were dropped unused, and until a new
    /// session is up nothing leaves in plaintext (held as under `always`).
    rekey: bool,
    /// Notices about how it was loaded, for the next operation to hand out (once).
    pending: Vec<Notice>,
    /// Which of the peer's clients holds the current session, and where it was last heard from:
    /// its instance tag and its name on the wire (an XMPP full JID), learned only from lines
    /// that authenticated (the handshake message that completed the session, a data message
    /// that decrypted in it). The caller addresses the session's lines there, so that another
    /// login of the contact, which cannot read them, neither gets them nor takes them away
    /// from the one that can. Saved when it changes (`Store::set_holder`), loaded with the
    /// conversation.
    instance: Option<(u32, String)>,
    /// Another client of the contact, whose key the user accepted, authenticated at the
    /// holder's address since the holder was last heard there: the holder left it (two clients
    /// are never at one address at once). Its address is not known ([`Session::holder`]); the
    /// holder itself still is (its tag: [`Session::holder_known`]). Cleared by the holder's
    /// next authenticated line; on disk, the holder's record keeps the tag, without an address.
    holder_left: bool,
    /// The saved conversation could not be restored (written by a newer Sotto, damaged): why.
    /// Its row is kept untouched, nothing is sent or answered, and the user decides
    /// (`/sotto start` or `/sotto stop` begins afresh, replacing the row).
    unrestorable: Option<String>,
    /// The user was told why (`unrestorable`) in this run: a start or stop then replaces it (a
    /// load alone, such as a window opening after a restart, tells nothing).
    unrestorable_told: bool,
    /// The contact's other clients with sessions of their own (`clients`).
    others: Vec<clients::Other>,
    /// Other clients' saved rows not restored (written by a newer Sotto, damaged, or beside a
    /// conversation row that could not be restored), by their names' suffix after `<peer>\n`
    /// (a slot): kept untouched on disk, as the main row is, and their slots never reused for
    /// a new client (its save would overwrite the row); `/sotto stop` deletes them.
    kept_rows: Vec<String>,
    /// The transport addresses the contact's clients one by one here (`Settings::addressable`,
    /// and the contact's name names no single client: not an XMPP group chat's private chat,
    /// `room@server/nick`, whose bare JID is the room). Refreshed on every call.
    addressable: bool,
    /// Slots of other clients' rows that go with the next save of this conversation, in its
    /// transaction (`clients`: a client's older place, a client gone): deleted in a commit of
    /// their own, a kill between the two brought the row back beside what replaced it. In
    /// memory only; a save that fails reloads the conversation, rows and all.
    gone_rows: Vec<u8>,
    /// The user stopped, in whatever state: the store's mark that the contact runs Sotto (no
    /// automatic start until one of the two starts again; the store's peer table is what a
    /// load goes by) goes with the next save, in its transaction (a kill between the two
    /// commits it took left the mark, and a stopped contact got a start again after a
    /// restart). In memory only, as `gone_rows`.
    forget_runs_sotto: bool,
    /// Where the start the conversation holds back to answer later came from
    /// (`Conversation::held_back_start`), where the transport addresses the contact's clients
    /// one by one: its answer goes there, not to whichever client wrote last. In memory only,
    /// as the start is.
    held_back_from: Option<String>,
    /// Other clients' names asked for a session since loaded (at most once each).
    greeted: Vec<String>,
    /// Addresses of the contact's clients seen online and not seen going since, while a start
    /// of ours waits to be tried again (`lapsed`): a presence from one of them is a status
    /// change, not a client coming online. In memory only; at most 16, the most recent.
    seen_online: Vec<String>,
    /// A client of the contact came online while a start of ours was in flight, which could
    /// not be tried again then: it is when that start lapses (`lapsed`; an IRC start answered
    /// with a 401 is dead, and the contact's sign-on is not said again). In memory only.
    online_while_starting: bool,
    /// Starts (`?S1I`) other clients of the contact sent while no session was up, ignored
    /// because another client was answered first: answered once that session is up
    /// (`clients`). In memory only; at most `MAX_OTHER_CLIENTS`.
    heard: Vec<(String, String)>,
    /// Lines in pieces from addresses no other client has, by their first piece: the address,
    /// the line's `id` and `total`, and the slot of the other client whose session it named
    /// (`None`: the main session's, or first pieces that disagree) (`clients`). In memory only;
    /// at most 8.
    piece_routes: Vec<(String, (u32, u16), Option<u8>)>,
    /// The copies of each typed message the contact's clients were sent, when another client
    /// got one (`clients::Session::fan_out`). A not-read notice from a client that reads is
    /// about its own copy only if it was sent one (`clients`). In memory only; at most
    /// `clients::COPIES_KEPT`, the newest.
    copies: std::collections::VecDeque<clients::Copies>,
    /// Addresses of the contact's clients asked for a session (`?S1Q`) in this time away of
    /// the holder and not seen going since (`presence`). In memory only.
    probed: Vec<String>,
    /// Queries sent in this time away of the holder (at most 32).
    probes: u8,
    /// New other clients taken in this answer window: when it began and how many
    /// (`clients::Session::may_take_new_client`). In memory only.
    new_clients: (u64, u32),
    /// Whether a presence of the contact's clients was seen since loaded (or since this side's
    /// account last signed on or off), and whether the holder's own address was seen online
    /// (or wrote a line the server did not keep) since (`presence`): presences seen but never
    /// the holder's, it is offline (a holder gone before this side signed on sends no
    /// unavailable presence).
    presence_seen: bool,
    holder_seen: bool,
    /// Addresses of the contact's clients other than the holder seen online and not seen going
    /// since (`presence`): a presence from one of them is a status change, not a client coming
    /// online. In memory only; at most 16, the most recent.
    present: Vec<String>,
    /// Addresses of the contact's clients other than the holder seen online since the holder's
    /// last authenticated line, and not seen going since (`presence`): any may be the holder
    /// back under a new address. In memory only; at most 16, the most recent.
    online: Vec<String>,
}

impl Session {
    /// The wire name of the contact's client holding the current session, if known for this
    /// session (a record of another instance's is not) and not left since.
    fn holder(&self) -> Option<&str> {
        self.holder_record().filter(|_| !self.holder_left)
    }

    /// Whether the client holding the current session was heard from in this session, at an
    /// address known or left since.
    fn holder_known(&self) -> bool {
        self.holder_record().is_some()
    }

    fn holder_record(&self) -> Option<&str> {
        let (_, tag) = self.conv.session_instance()?;
        match &self.instance {
            Some((t, address)) if *t == tag => Some(address),
            _ => None,
        }
    }

    /// Whether this name has nothing that could read a long line (no saved row, nothing under
    /// way or held, no other client): it keeps no pieces of long lines (a long line only
    /// follows a handshake, and the fragment budget is per name: a sender writing from many
    /// names could otherwise make memory grow with them). A key accepted for the name counts
    /// for nothing here: it reads no line without a session, and every stranger whose
    /// handshake completed leaves its key for good, so names with keys are as many as a
    /// sender makes (found by a read-only review: about 0.9 MB kept per such name).
    fn takes_no_pieces(&self) -> bool {
        self.saved.is_none() && self.conv.is_blank() && self.others.is_empty()
    }

    /// Whether nothing here ties this name to the user ([`strangers`]): no saved conversation,
    /// no key accepted, no other client, no start the user asked for (a handshake this side
    /// only answers is not one), no session up.
    fn is_stranger(&self) -> bool {
        self.unasked() && self.conv.known_peer_keys().is_empty()
    }

    /// Whether a save now would be the first of a conversation the user did not begin: no
    /// saved conversation, no other client, no start the user asked for, no session up
    /// ([`strangers`]). A name whose key was accepted before (a contact, or a stranger whose
    /// conversation was forgotten) counts too: only its conversation is bounded, never a key.
    fn unasked(&self) -> bool {
        self.saved.is_none()
            && self.others.is_empty()
            && !self.conv.start_asked()
            && self.conv.state() != ConvState::Encrypted
    }

    /// Whether this is a name with no saved row that has only been answered, for longer than
    /// a handshake may wait (`Conversation::answering_too_long`): its start, repeated, keeps a
    /// handshake in flight, but not the pieces that handshake let in (whatever keys the name
    /// has: [`Self::takes_no_pieces`]).
    fn answered_too_long(&self, now_secs: u64) -> bool {
        self.saved.is_none() && self.others.is_empty() && self.conv.answering_too_long(now_secs)
    }

    /// Takes everything this conversation waited to send again (a not-read notice named it),
    /// the main session's first, then each other client's.
    fn take_all_resend(&mut self) -> Vec<WaitingResend> {
        let others = self.others.iter_mut().flat_map(|o| o.conv.take_resend());
        self.conv.take_resend().into_iter().chain(others).collect()
    }
}

/// A conversation as loaded from the store (see [`Session`]'s fields of the same names).
struct Loaded {
    conv: Conversation,
    saved: Option<[u8; 32]>,
    unrestorable: Option<String>,
    rekey: bool,
}

/// Every conversation the plugin has loaded, and the store behind them.
pub struct Sessions {
    /// `None` when the store could not be opened: then nothing is encrypted and every send to a
    /// peer fails closed.
    store: Option<Store>,
    /// Why there is no store, when there is none.
    unavailable: Option<String>,
    sessions: HashMap<ConvKey, Session>,
    /// Identity per (protocol, normalized account).
    identities: HashMap<(String, String), AccountIdentity>,
    /// Debug-log lines (states and names only, never text or keys) for the caller to write.
    log: Vec<String>,
    /// Lines that were read and shown while their conversation could not be saved (rolled
    /// back): the same line again (a replay, a retransmission) would decrypt again, so it is
    /// dropped silently instead of shown twice. Bounded; SHA-256 of each line.
    shown_unsaved: std::collections::VecDeque<[u8; 32]>,
    /// Lines the transport says were addressed to another client of this account (SHA-256 of
    /// each, trimmed; bounded): one that names no session here is that client's, not lost.
    elsewhere_lines: std::collections::VecDeque<[u8; 32]>,
    /// What conversations dropped from memory for a reload ([`Sessions::unload`]) waited to
    /// send again, until they load: it is in memory only, and a reload from disk must not
    /// lose it (a restart does, and the window says so).
    kept_resend: HashMap<ConvKey, Resend>,
    /// Plaintext let through despite another conversation of the same buddy-list contact that
    /// is encrypted, in the same window ([`siblings`]): whom the user was told about.
    siblings: siblings::SiblingGuard,
    /// Conversations unloaded for a reload (a save failed) while the contact's client holding
    /// the session was seen gone: a restore rebuilds the mark only from held text, and with
    /// nothing held yet the reload would lose it (the next text would go to the gone address),
    /// as a restart does.
    kept_away: std::collections::HashSet<ConvKey>,
    /// Conversations not in memory whose saved row was looked at for a client coming online
    /// and held no text ([`Sessions::held_unloaded`]): not read and restored again at each
    /// presence (a status change, a server's made-up ones). A row gains held text only while
    /// its conversation is in memory, so a key leaves this set when its conversation is let
    /// go ([`Sessions::unload`]). At most [`lapsed::CHECKED_KEPT`] keys (then emptied).
    checked_unheld: std::collections::HashSet<ConvKey>,
    /// The transport's word that the line it hands over next was kept by the server while this
    /// side was offline ([`Sessions::kept_by_server`]): the conversation, the address it came
    /// from and SHA-256 of the line. Taken by the next [`Sessions::incoming`], whichever it is.
    kept: Option<(ConvKey, String, [u8; 32])>,
    /// Lines sent to strangers, per account ([`strangers`]).
    strangers: strangers::StrangerLines,
    /// Each account's conversations a stranger began ([`strangers`]).
    marked: strangers::Marked,
    /// The host's word that the name the next [`Sessions::incoming`] reads from is one the user
    /// knows (an open window, a buddy): never a stranger ([`Sessions::familiar`]). Taken by
    /// that call, whichever it is.
    familiar: Option<ConvKey>,
}

/// Texts waiting to be sent again over the next session: the main session's, and each other
/// client's by address.
type Resend = (Vec<WaitingResend>, Vec<(String, Vec<WaitingResend>)>);

/// The texts of a conversation's kept resends, its own first, then its other clients'.
fn resend_texts((own, others): Resend) -> Vec<SecretString> {
    own.into_iter()
        .chain(others.into_iter().flat_map(|(_, w)| w))
        .map(|w| w.text)
        .collect()
}

/// The keys of `map` that are of `account`'s account (its protocol and account).
fn keys_of_account<V>(map: &HashMap<ConvKey, V>, account: &ConvKey) -> Vec<ConvKey> {
    map.keys()
        .filter(|k| k.protocol == account.protocol && k.account == account.account)
        .cloned()
        .collect()
}

impl core::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Sessions")
            .field("store", &self.store)
            .field("loaded", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

/// How a save is committed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Save {
    /// On disk before the call returns: anything that leaves after the save.
    Synced,
    /// Committed, synced by the next [`Sessions::sync`] or synced save: a message that was
    /// read and produced nothing to send, no event and no trust change, or data lines sent
    /// under a sending reservation a synced save made durable (the store's module doc,
    /// "Durable before it leaves", says why each is safe).
    Unsynced,
    /// As [`Save::Synced`], and written whenever the conversation differs from its row, even
    /// in plaintext with no event (which otherwise writes nothing): texts taken out of it and
    /// handed back must not stay queued on disk.
    Forced,
}

/// SHA-256 of a snapshot: whether the store already holds exactly it. Hashed with its states
/// wiped (the snapshot holds the ratchet's keys; `sha2` would keep its last block).
fn digest(snapshot: &[u8]) -> [u8; 32] {
    *crate::protocol::kdf::sha256(&[snapshot])
}

/// The reason a store error gives, for the debug log and the user.
/// The texts `events` say were sent again, or taken off the list to send again (a not-read
/// notice named them): what waits again when the operation is undone (they are in memory
/// only; the reload would not bring them back). Which session each was lost in is not in
/// the events: any session may carry it (the undone operation had sent it over one).
fn resent_texts(events: &[Event]) -> Vec<WaitingResend> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Resent { text, .. } | Event::NotResent { text } => Some(WaitingResend {
                text: SecretString::from(text.as_str()),
                lost_in: None,
                since: None,
            }),
            _ => None,
        })
        .collect()
}

fn reason(e: &StoreError) -> String {
    e.to_string()
}

impl Sessions {
    /// A service over `store` (`Err`: why the store could not be opened; then nothing is
    /// encrypted and every send to a peer fails closed).
    pub fn new(store: Result<Store, String>) -> Self {
        let (store, unavailable) = match store {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(e)),
        };
        Self {
            store,
            unavailable,
            sessions: HashMap::new(),
            identities: HashMap::new(),
            log: Vec::new(),
            shown_unsaved: std::collections::VecDeque::new(),
            elsewhere_lines: std::collections::VecDeque::new(),
            kept_resend: HashMap::new(),
            kept_away: std::collections::HashSet::new(),
            checked_unheld: std::collections::HashSet::new(),
            kept: None,
            siblings: siblings::SiblingGuard::default(),
            strangers: strangers::StrangerLines::default(),
            marked: strangers::Marked::default(),
            familiar: None,
        }
    }

    /// Moves what was saved since the last call out of the store's write-ahead log and empties
    /// it, so no earlier state of a session (old chain, root and skipped keys) stays on disk
    /// (`Store::checkpoint`, which also fills the emptied log with zeros). About 2 ms here: the
    /// host calls it when things are quiet, never between a save and its send (a save is
    /// durable without it).
    pub fn checkpoint(&mut self) {
        // Every write counts (saves, trust records, rows deleted because they hold used keys):
        // the store knows, whichever path made it.
        let Some(store) = self.store.as_ref().filter(|s| s.written_since_checkpoint()) else {
            return;
        };
        if let Err(e) = store.checkpoint() {
            self.note(format!("checkpoint: {e}"));
        }
    }

    /// Every so often (with the checkpoint timer): pieces of lines too old to complete are
    /// dropped from every loaded conversation, and conversations that hold nothing a load
    /// from the store would not give again leave memory (a name never talked to, whose lines
    /// were garbage or plaintext: no saved row, blank, no mark, nothing pending). Without this,
    /// every name a hostile server writes from stayed in memory for good, with up to its
    /// fragment budget, though nothing of it was saved. A start from such a name that was
    /// answered and never finished expires here too (`Conversation::expire_unanswered`), so
    /// names that only sent starts go as well.
    /// Every loaded conversation also lets go of what is over (`Conversation::tidy`): the
    /// buffers it kept for its next message, texts sent past their keeping time, clocks whose
    /// interval passed, lines put together from pieces long ago. An idle one then holds what
    /// it held after its handshake, unless a part kept by design is in use: texts a not-read
    /// notice named wait in the resend queue for the next session (a forged notice naming a
    /// message still remembered keeps them until a session comes up, the user stops, or a
    /// hold ends), a verification run in progress, a lapsed start kept, texts held.
    pub fn sweep(&mut self, now_secs: u64) {
        // The contact's other clients age as the main conversation does: their pieces of
        // lines expire, a start nobody finished lapses and the client goes (they were aged
        // only when the contact next wrote, so a server's invented clients kept their pieces).
        let with_others: Vec<ConvKey> = self
            .sessions
            .iter()
            .filter(|(_, s)| !s.others.is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        for key in with_others {
            self.prune_others(&key, now_secs);
        }
        self.sessions.retain(|_, s| {
            if s.saved.is_none() {
                s.conv.expire_unanswered(now_secs);
            }
            // A name that no longer takes pieces (the start that let them in lapsed) lets go of
            // those it holds: nothing could read their line, and a sender that kept them
            // growing kept the name, and its fragment budget, in memory for up to an hour.
            if s.takes_no_pieces() || s.answered_too_long(now_secs) {
                s.conv.drop_pieces();
            }
            // Starts of other clients kept to answer once the session in progress is up: with
            // no handshake in flight and no session, none is coming.
            if !s.conv.handshake_in_flight() && s.conv.state() != ConvState::Encrypted {
                s.heard.clear();
            }
            let pieces = s.conv.expire_pieces(now_secs);
            // What is over goes: the buffers kept for a burst's next message (a conversation
            // still busy allocates them again once per sweep, never per message), texts sent
            // past their keeping time, clocks whose interval passed; then the rarely used
            // parts, if nothing is left in them (`Conversation::tidy`: no later call does
            // otherwise).
            s.conv.tidy(now_secs);
            for o in &mut s.others {
                o.conv.tidy(now_secs);
            }
            pieces
                || s.saved.is_some()
                || !s.conv.is_blank()
                // Lines of no session still to be answered (at most 64, 8 per 30 s): a client
                // that lost its row has nothing else here, and the sweep that answers them
                // would find the conversation gone (found by a hostile review).
                || s.conv.has_unanswered()
                || s.moved_to.is_some()
                || s.rekey
                || s.unrestorable.is_some()
                || !s.pending.is_empty()
                || !s.others.is_empty()
                || !s.heard.is_empty()
        });
    }

    /// Before a clean stop: every loaded conversation saved (synced) with its exact sending
    /// index, no reservation ahead of it, so the next start skips no index. A conversation
    /// that cannot be saved keeps its reservation on disk, which is safe (the next start skips
    /// past it).
    pub fn release_reservations(&mut self) {
        let keys: Vec<ConvKey> = self.sessions.keys().cloned().collect();
        for key in keys {
            if let Some(s) = self.sessions.get_mut(&key) {
                s.conv.release_reservation();
            }
            if let Err(reason) = self.persist(&key, &[]) {
                self.note(format!("saving a session before stopping: {reason}"));
            }
        }
    }

    /// Whether a message was read and saved without the fsync (nothing left with it): the host
    /// calls [`Sessions::sync_in_background`] once the messages that arrived together have
    /// been read.
    pub fn needs_sync(&self) -> bool {
        self.store.as_ref().is_some_and(Store::unsynced)
    }

    /// Makes every save so far durable (`Store::sync`: one fsync for all the messages read
    /// since the last one). A failure is logged, and breaks the store ("A failed sync is not
    /// retried" in `store`): every later save fails, and nothing that needs one is sent.
    pub fn sync(&mut self) {
        let Some(store) = self.store.as_ref() else {
            return;
        };
        if let Err(e) = store.sync() {
            self.note(format!("syncing the store: {e}"));
        }
    }

    /// Like [`Sessions::sync`], but the fsync runs on the store's worker thread
    /// (`Store::sync_in_background`): what the main loop calls once it has read a backlog.
    pub fn sync_in_background(&mut self) {
        let Some(store) = self.store.as_ref() else {
            return;
        };
        if let Err(e) = store.sync_in_background() {
            self.note(format!("syncing the store: {e}"));
        }
    }

    /// Why the store could not be opened, if it could not.
    pub fn unavailable(&self) -> Option<&str> {
        self.unavailable.as_deref()
    }

    /// The store, when it could be opened.
    pub fn store(&self) -> Option<&Store> {
        self.store.as_ref()
    }

    /// Debug-log lines gathered since the last call (the caller writes them to its log).
    pub fn take_log(&mut self) -> Vec<String> {
        std::mem::take(&mut self.log)
    }

    fn note(&mut self, line: String) {
        self.log.push(line);
    }

    /// Forget every loaded conversation: the next call reloads it from the store. Used after a
    /// caught panic, when memory may have run ahead of disk. What they waited to send again
    /// is kept for the reloads ([`Sessions::unload`]).
    pub fn drop_memory(&mut self) {
        let keys: Vec<ConvKey> = self.sessions.keys().cloned().collect();
        for key in keys {
            self.unload(&key, Vec::new());
        }
    }

    /// The account's identity, loaded from the store or created there on first use.
    pub fn identity(&mut self, protocol: &str, account: &str) -> Option<AccountIdentity> {
        let id = (protocol.to_owned(), account.to_owned());
        if let Some(found) = self.identities.get(&id) {
            return Some(found.clone());
        }
        let store = self.store.as_ref()?;
        match store.load_or_create_identity(protocol, account, &mut rand_core::OsRng) {
            Ok((key, instance_tag)) => {
                let identity = AccountIdentity { key, instance_tag };
                self.identities.insert(id, identity.clone());
                Some(identity)
            }
            Err(e) => {
                self.note(format!("identity for {protocol}: {e}"));
                None
            }
        }
    }

    /// The conversation for `key`: in memory, else restored from the store, else new. `None`
    /// when the store cannot be read: starting blank would forget the peer's keys, the ratchet
    /// and the queue, so the caller refuses instead.
    fn session(
        &mut self,
        key: &ConvKey,
        peer_raw: &str,
        settings: &Settings,
    ) -> Option<&mut Session> {
        // The store names other clients' rows `<peer>\n<slot>` and parked ones
        // `<peer>\u{1f}parked-…`: a contact whose name holds either character (no protocol's
        // normal names do) could read or move another's rows. No conversation: every send
        // fails closed, as without a store.
        if key.peer.contains(['\n', '\u{1f}']) {
            return None;
        }
        let fresh = !self.sessions.contains_key(key);
        if fresh {
            let Loaded {
                mut conv,
                saved,
                unrestorable,
                rekey,
            } = self.load(key, settings)?;
            let moved_to = self.load_moved(key)?;
            // A name an encrypted conversation (or a start) moved away from, or that one was
            // parked on: whoever answers as this name now is never trusted on first use, also
            // after a restart (as `Sessions::rename` decides in memory).
            if moved_to.is_some() {
                conv.set_first_use(false);
            }
            // Other clients' rows that cannot be read now fail the load, as the main row's
            // do: with none loaded, a new client would take a slot whose row is on disk.
            let (others, kept_rows) = self.load_others(key, unrestorable.is_none())?;
            // Where the session's client was last heard from (checked against the session's
            // instance tag before use): its lines go there at once after a restart.
            let instance = self.store.as_ref().and_then(|st| {
                st.holder(&key.protocol, &key.account, &key.peer)
                    .map_err(|e| self.log.push(format!("loading the holder: {e}")))
                    .ok()
                    .flatten()
            });
            // Recorded without an address: the holder left the one it was heard at last.
            let holder_left = instance.as_ref().is_some_and(|(_, a)| a.is_empty());
            self.sessions.insert(
                key.clone(),
                Session {
                    conv,
                    peer_raw: peer_raw.to_owned(),
                    moved_to,
                    moved_noticed: false,
                    instance,
                    holder_left,
                    saved,
                    unrestorable,
                    unrestorable_told: false,
                    rekey,
                    others,
                    kept_rows,
                    addressable: false,
                    gone_rows: Vec::new(),
                    forget_runs_sotto: false,
                    held_back_from: None,
                    greeted: Vec::new(),
                    seen_online: Vec::new(),
                    online_while_starting: false,
                    heard: Vec::new(),
                    piece_routes: Vec::new(),
                    copies: std::collections::VecDeque::new(),
                    probed: Vec::new(),
                    probes: 0,
                    new_clients: (0, 0),
                    presence_seen: false,
                    holder_seen: false,
                    present: Vec::new(),
                    online: Vec::new(),
                    pending: if rekey {
                        vec![Notice::RestoredBackup]
                    } else {
                        Vec::new()
                    },
                },
            );
        }
        let kept = self.kept_resend.remove(key);
        let away = self.kept_away.remove(key);
        let s = self.sessions.get_mut(key)?;
        if fresh && s.conv.state() == ConvState::Encrypted && !s.conv.is_blocked() {
            // Another client's row whose client holds the main session now: superseded when
            // that session started or its key was accepted, its row deleted in the main
            // save's commit (`gone_rows`); an older Sotto deleted it in a commit after it,
            // which a kill (or a failed delete) could leave undone. Restored, it took every
            // line twice.
            let (gone, _) = s.superseded_by_main(false);
            if !gone.is_empty() {
                self.log
                    .push("a superseded client's session left on disk dropped".to_owned());
                self.delete_other_rows(key, gone);
            }
        }
        let s = self.sessions.get_mut(key)?;
        if let Some(waiting) = kept {
            Self::put_back_to_resend(s, waiting);
        }
        if away {
            // Setting the mark sends nothing (only clearing it does).
            let _ = s.conv.set_holder_away(true, &mut rand_core::OsRng);
        }
        // A name an encrypted conversation moved away from is held as under `always`: whoever
        // holds the name now gets a handshake (checked against the keys accepted for it), never
        // plaintext.
        let policy = if s.moved_to.is_some() || s.rekey {
            Policy::Always
        } else {
            settings.policy
        };
        s.conv.set_policy(policy);
        // The line size is the one for the name lines go to (on IRC its length counts): where
        // answers go to the conversation's own name (`operations`), settings the host made for
        // another spelling, that a line came under, leave it (a write for a line that changed
        // nothing, and a long answer cut for the wrong nick; found by a read-only review). The
        // user writing under a new name resizes it (`outgoing`).
        // (Where the size depends on the name, IRC, it depends on its length only: a spelling
        // of the same length gives the same size, and an own nick that changed meanwhile is
        // taken from it.)
        if s.addressable || peer_raw.len() == s.peer_raw.len() {
            s.conv.set_max_line(settings.max_line);
        }
        s.conv.set_names(settings.names.clone());
        s.conv.set_in_order(settings.in_order);
        s.addressable = settings.addressable && !key.peer.contains('/');
        Self::refresh_others(s, settings);
        Some(s)
    }

    fn load(&mut self, key: &ConvKey, settings: &Settings) -> Option<Loaded> {
        let identity = self.identity(&key.protocol, &key.account)?;
        let store = self.store.as_ref()?;
        let (p, a, peer) = (&key.protocol, &key.account, &key.peer);
        let mut notes = Vec::new();
        let mut saved = None;
        let mut unrestorable = None;
        let restored = match store.load_session(p, a, peer) {
            Ok(Some(bytes)) => match Conversation::restore(identity.key.clone(), &bytes) {
                Ok(conv) => {
                    saved = Some(digest(&bytes));
                    Some(conv)
                }
                Err(e) => {
                    // Kept, never overwritten behind the user's back: it may hold the keys
                    // of a session a newer Sotto can still use.
                    notes.push(format!("saved session unreadable ({e:?}); kept, held"));
                    saved = Some(digest(&bytes));
                    unrestorable = Some(e.to_string());
                    None
                }
            },
            Ok(None) => None,
            Err(e) => {
                self.note(format!("loading a session: {e}"));
                return None;
            }
        };
        // From a restored backup: its keys may have been used on the wire already.
        let rekey = restored.is_some()
            && store
                .needs_rekey(p, a, peer)
                .map_err(|e| notes.push(format!("reading a re-key mark: {e}")))
                .unwrap_or(true);
        let loaded = (|| {
            let mut conv = restored.unwrap_or_else(|| {
                Conversation::new(identity.key, identity.instance_tag, settings.policy)
            });
            // The peer table decides, both ways: a snapshot's copy of the flag may predate a
            // stop that changed nothing else in it (saved as it was).
            let runs_sotto = store
                .peer_runs_sotto(p, a, peer)
                .map_err(|e| notes.push(format!("loading a peer: {e}")))
                .ok()?;
            conv.set_peer_supports_sotto(runs_sotto);
            // Not readable means no session: an empty list would accept a changed key as new.
            trust::push_accepted(store, key, &mut conv)
                .map_err(|e| notes.push(format!("loading trust records: {e}")))
                .ok()?;
            Some(conv)
        })();
        self.log.extend(notes);
        loaded.map(|mut conv| {
            if rekey {
                conv.forget_session();
            }
            // A session with a key the name has other accepted keys for, and not one of them,
            // is held as a changed key is, whatever the snapshot says: it is how every such
            // session was left (a changed key, a contact renamed onto a known name, a key
            // forgotten), and a save that did not happen (a rename's, say) must not release it
            // after a restart.
            trust::hold_unaccepted(&mut conv);
            Loaded {
                conv,
                saved,
                unrestorable,
                rekey,
            }
        })
    }

    /// Make the conversation durable before anything it produced leaves (a synced commit; see
    /// [`Save`] for the saves that need not wait for the disk), and record what the events say
    /// about the peer.
    ///
    /// `Err` (the reason) when it could not be saved, or there is no store to save it in: then
    /// nothing the operation produced may leave ([`Sessions::fail_closed`]).
    fn persist(&mut self, key: &ConvKey, events: &[Event]) -> Result<(), String> {
        self.persist_as(key, events, Save::Synced)
    }

    /// [`Sessions::persist`], written even where plaintext with no event writes nothing
    /// ([`Save::Forced`]): after texts were taken out of the conversation.
    fn persist_forced(&mut self, key: &ConvKey) -> Result<(), String> {
        self.persist_as(key, &[], Save::Forced)
    }

    /// [`Sessions::persist`], with the commit synced or not (see [`Save`]).
    fn persist_as(&mut self, key: &ConvKey, events: &[Event], save: Save) -> Result<(), String> {
        let Some(s) = self.sessions.get_mut(key) else {
            return Ok(());
        };
        if s.unrestorable.is_some() {
            // The row it could not read stays as it is (nothing was decided that needs saving:
            // every operation on such a conversation refuses first).
            return Ok(());
        }
        let Some(store) = self.store.as_ref() else {
            return Err("Sotto has no key store".to_owned());
        };
        // Plaintext chatter with no Sotto event changes nothing worth a synced write; nor does
        // anything that left the conversation byte for byte as the store holds it, or, with no
        // row saved, as a new conversation would be (a name never talked to that only sent
        // lines that could not be read: no row, no fsync, no "not saved" on a full disk). The
        // contact's other clients are saved in the same commit.
        let mut rows: Vec<(String, SecretBytes, [u8; 32])> = Vec::new();
        let mut main = None;
        let blank_unsaved = s.saved.is_none() && s.conv.is_blank();
        // A saved row and a conversation now blank: a decision that leaves plaintext with no
        // event (`/sotto stop` after a start lapsed, or on a row that could not be restored)
        // still replaces what the row says.
        let blank_saved = s.saved.is_some() && s.conv.is_blank();
        // A handshake that only answers a contact's start shows as plaintext, and its answer
        // raises no event, but the contact's side goes on from it: saved before the answer
        // leaves, or a crash leaves the contact a session this side does not have. Not for a
        // name never talked to (no row, no key accepted): anyone can send starts from any
        // number of names, and none of them writes to disk.
        let answers_a_contact = s.conv.handshake_in_flight()
            && (s.saved.is_some() || !s.conv.known_peer_keys().is_empty());
        if !blank_unsaved
            && (save == Save::Forced
                || s.conv.state() != ConvState::Plaintext
                || answers_a_contact
                || !events.is_empty()
                || blank_saved)
        {
            let snapshot = s.conv.snapshot();
            let now = digest(&snapshot);
            if s.saved != Some(now) {
                main = Some(now);
                rows.push((key.peer.clone(), SecretBytes::new(snapshot.to_vec()), now));
            }
        }
        let mut changed = Vec::new();
        for (i, o) in s.others.iter().enumerate() {
            let row = o.row();
            let now = digest(&row);
            if o.saved != Some(now) {
                changed.push((i, now));
                rows.push((clients::row_name(&key.peer, o.slot), row, now));
            }
        }
        // The contact's other clients hold no reservation: a change to one is always synced.
        let save = if changed.is_empty() {
            save
        } else {
            Save::Synced
        };
        // Rows that go with this save (a client's older place, a client gone).
        let gone: Vec<String> = s
            .gone_rows
            .iter()
            .map(|&slot| clients::row_name(&key.peer, slot))
            .collect();
        let forget = s.forget_runs_sotto;
        if !rows.is_empty() || !gone.is_empty() || forget {
            let batch: Vec<(&str, &[u8])> = rows
                .iter()
                .map(|(name, row, _)| (name.as_str(), row.as_slice()))
                .collect();
            // The trust records the decision makes (a key taken on first use, verified) go in
            // the same transaction: a crash between two commits left the session on a key
            // the trust table did not have, and the next key was then taken as a first one.
            // One that cannot be written fails the save: the session must not go on without
            // the record (a first-use key missing from the trust table makes the next key a
            // first use too).
            let (p, a) = (&key.protocol, &key.account);
            let mut record = || match trust::record_events(store, key, events).as_slice() {
                [] => {
                    if forget {
                        store.clear_peer_runs_sotto(p, a, &key.peer)?;
                    }
                    store.delete_sessions_in_save(p, a, &gone)
                }
                notes => Err(StoreError::Io(notes.join("; "))),
            };
            let synced = save != Save::Unsynced || !gone.is_empty() || forget;
            let saved = store.save_sessions_with(p, a, &batch, synced, &mut record);
            if let Err(e) = saved {
                self.log.push(format!("saving a session: {e}"));
                return Err(reason(&e));
            }
            if main.is_some() {
                s.saved = main;
            }
            s.gone_rows.clear();
            s.forget_runs_sotto = false;
            for (i, now) in changed {
                if let Some(o) = s.others.get_mut(i) {
                    o.saved = Some(now);
                }
            }
        } else {
            let notes = trust::record_events(store, key, events);
            self.log.extend(notes);
        }
        Ok(())
    }

    /// The conversation could not be saved: put it back to what the store last holds.
    ///
    /// Why roll back rather than keep the newer state in memory: the newer state consumed message
    /// keys for lines that will now never leave. Kept in memory, it would run ahead of disk, and
    /// a crash before the next successful save would restart from the older snapshot and encrypt
    /// new text under keys a *sent* message had already used. Rolled back, memory equals disk,
    /// exactly as after a crash at this instant, and nothing produced from the discarded state is
    /// sent: every key that ever reaches the wire has been durable first. When the store cannot
    /// even be read, the conversation is dropped, and every later send is refused until it can.
    ///
    /// What waited to be sent again (messages a not-read notice named: in memory only, never
    /// saved) is carried over, `resent` first: the texts the undone operation had sent again.
    fn roll_back(&mut self, key: &ConvKey, settings: &Settings, resent: Vec<WaitingResend>) {
        // Reloaded with the name replies went to, so they keep going there, and with the line
        // size for that name: the caller's settings were made for the name the undone line
        // came under, maybe another spelling (memory would then differ from disk, and each
        // later line under that spelling try a write).
        let max_line = self.sessions.get(key).map(|s| s.conv.max_line());
        if let Some(peer_raw) = self.unload(key, resent) {
            let settings = Settings {
                max_line: max_line.unwrap_or(settings.max_line),
                ..settings.clone()
            };
            let _ = self.session(key, &peer_raw, &settings);
        }
    }

    /// Drops `key`'s conversation from memory, for the next use to load it from disk (a save
    /// failed: memory must not run ahead of it). What it waited to send again (memory only,
    /// never saved) is kept aside for that load, `resent` first (what the undone operation
    /// had sent again). The name replies went to, if it was loaded.
    pub(super) fn unload(&mut self, key: &ConvKey, resent: Vec<WaitingResend>) -> Option<String> {
        let old = self.sessions.remove(key)?;
        self.checked_unheld.remove(key);
        let peer_raw = old.peer_raw.clone();
        if old.conv.holder_away() {
            self.kept_away.insert(key.clone());
        }
        let waiting = Self::waiting_to_resend(old, resent);
        if !waiting.0.is_empty() || !waiting.1.is_empty() {
            self.kept_resend.insert(key.clone(), waiting);
        }
        Some(peer_raw)
    }

    /// What `old` (a conversation leaving memory for a reload) waits to send again: its own
    /// texts (`first` before them), then each other client's, by address.
    fn waiting_to_resend(mut old: Session, first: Vec<WaitingResend>) -> Resend {
        let mut main = first;
        main.extend(old.conv.take_resend());
        let others = old
            .others
            .iter_mut()
            .map(|o| (o.address.clone(), o.conv.take_resend()))
            .filter(|(_, t)| !t.is_empty())
            .collect();
        (main, others)
    }

    /// Gives a reloaded conversation what waited to be sent again before: each other client's
    /// texts to the client at the same address, or to the main session when it is gone.
    fn put_back_to_resend(s: &mut Session, (main, others): Resend) {
        let mut moved = Vec::new();
        for (address, texts) in others {
            match s.others.iter_mut().find(|o| o.address == address) {
                Some(o) => o.conv.put_back_resend(texts),
                None => moved.extend(texts),
            }
        }
        s.conv.take_over_resend(moved);
        s.conv.put_back_resend(main);
    }

    /// After a failed save: discard what the operation produced (no injected line, no event about
    /// a state that was rolled back), roll back, and say so once.
    fn fail_closed(
        &mut self,
        key: &ConvKey,
        settings: &Settings,
        fx: &mut Effects,
        reason: String,
        doing: Doing,
    ) {
        // What this operation sent again is undone with it: it waits again.
        let resent = resent_texts(&fx.events);
        self.roll_back(key, settings, resent);
        fx.inject.clear();
        fx.events.clear();
        fx.notices.push(Notice::NotSaved { doing, reason });
    }

    /// Whether the contact's clients are addressed one by one in this conversation.
    fn addressable(&self, key: &ConvKey) -> bool {
        self.sessions.get(key).is_some_and(|s| s.addressable)
    }

    /// Where replies to `key` go: the peer's name as last seen on the wire, else `fallback`.
    fn reply_to(&self, key: &ConvKey, fallback: &str) -> String {
        self.sessions
            .get(key)
            .map_or_else(|| fallback.to_owned(), |s| s.peer_raw.clone())
    }

    /// Every text any conversation waits to send again (a not-read notice named it), taken:
    /// loaded ones' and those kept for conversations dropped from memory. They are in memory
    /// only; the plugin unloads, and they would go with it without a word. With the name
    /// replies go to (the key's own peer for a conversation not loaded).
    pub fn take_every_resend(&mut self) -> Vec<(ConvKey, String, Vec<SecretString>)> {
        let mut out = Vec::new();
        for (key, s) in self.sessions.iter_mut() {
            let texts: Vec<SecretString> =
                s.take_all_resend().into_iter().map(|w| w.text).collect();
            if !texts.is_empty() {
                out.push((key.clone(), s.peer_raw.clone(), texts));
            }
        }
        for (key, kept) in self.kept_resend.drain() {
            let texts = resend_texts(kept);
            if !texts.is_empty() {
                let peer = key.peer.clone();
                out.push((key, peer, texts));
            }
        }
        out
    }

    /// The user deleted `account`'s account (its protocol and account; the peer is not looked
    /// at): what its loaded conversations hold to send (typed while a session was set up or
    /// held, waiting to be sent again after a not-read notice, its other clients' too, also
    /// what waited aside while a conversation was out of memory) is taken out, each
    /// conversation saved without it, and handed back with the name replies went to. The
    /// caller loads first the rows on disk that hold messages ([`Sessions::held_on_disk`]).
    /// Left saved, held text was named by no window (the account's windows close with it),
    /// and went out by itself if the account was added again and the contact answered (found
    /// by a read-only review). A save that fails leaves the row as it was (noted; the
    /// conversation leaves memory, which then holds what disk holds): the texts are handed
    /// back all the same, and `false` comes with them (the caller says they stay saved).
    pub fn take_account_texts(
        &mut self,
        account: &ConvKey,
    ) -> (Vec<(String, Vec<SecretString>)>, bool) {
        let mut out = Vec::new();
        let mut saved = true;
        for key in keys_of_account(&self.sessions, account) {
            let Some(s) = self.sessions.get_mut(&key) else {
                continue;
            };
            let resend = s.take_all_resend();
            let texts: Vec<SecretString> = s
                .conv
                .take_held()
                .into_iter()
                .chain(resend.into_iter().map(|w| w.text))
                .collect();
            if texts.is_empty() {
                continue;
            }
            let peer = s.peer_raw.clone();
            if let Err(reason) = self.persist_forced(&key) {
                self.note(format!("saving a deleted account's conversation: {reason}"));
                self.unload(&key, Vec::new());
                saved = false;
            }
            out.push((peer, texts));
        }
        for key in keys_of_account(&self.kept_resend, account) {
            if let Some(kept) = self.kept_resend.remove(&key) {
                let texts = resend_texts(kept);
                if !texts.is_empty() {
                    out.push((key.peer, texts));
                }
            }
        }
        (out, saved)
    }

    /// Loaded conversations that are not in plaintext and hold no typed message, with the name
    /// replies go to (the user unloads the plugin: each is ended). One that holds messages is
    /// left as saved, so its messages come back with the plugin instead of being lost with a
    /// window that may be closed.
    pub fn active(&self) -> Vec<(ConvKey, String)> {
        // Not one whose holder went away, or was not seen since loaded while the contact's
        // other clients were: its end would reach another client, which cannot read it (the
        // session stays, as one not loaded does).
        self.loaded_where(|s| {
            s.conv.state() != ConvState::Plaintext
                && s.conv.queued() == 0
                && !s.conv.holder_away()
                && !s.holder_unseen()
        })
    }

    /// Loaded conversations for which `keep` holds, as keys and the peer as the host spells it.
    fn loaded_where(&self, keep: impl Fn(&Session) -> bool) -> Vec<(ConvKey, String)> {
        self.sessions
            .iter()
            .filter(|(_, s)| keep(s))
            .map(|(k, s)| (k.clone(), s.peer_raw.clone()))
            .collect()
    }

    /// The contacts of `key`'s account with a saved conversation, one loaded, or a name an
    /// encrypted conversation moved away from (not another client's row, nor a parked one), as
    /// keys name them. `None` when the store cannot say (the caller fails closed).
    pub fn known_peers(&self, key: &ConvKey) -> Option<Vec<String>> {
        // Names with a session, a mark, or a policy of their own (a contact set to `always`
        // and never written to yet keeps plaintext out too: an RFC 1459 twin of it was let
        // through).
        let saved = match self.store.as_ref() {
            Some(st) => {
                let mut peers = st.session_peers(&key.protocol, &key.account).ok()?;
                peers.extend(st.policy_peers(&key.protocol, &key.account).ok()?);
                peers
            }
            None => Vec::new(),
        };
        let loaded = self
            .sessions
            .keys()
            .filter(|k| k.protocol == key.protocol && k.account == key.account)
            .map(|k| k.peer.clone());
        let mut peers: Vec<String> = saved
            .into_iter()
            .chain(loaded)
            .filter(|p| !p.contains('\n') && !crate::store::is_parked(p))
            .collect();
        peers.sort();
        peers.dedup();
        Some(peers)
    }

    /// Loaded conversations that would not let plaintext out (`Sessions::plaintext_allowed`
    /// false), as keys and the peer as the host spells it.
    pub fn protected(&self) -> Vec<(ConvKey, String)> {
        self.loaded_where(|s| s.unrestorable.is_some() || !s.conv.sends_plaintext())
    }

    /// Loaded conversations with a long line lost in pieces to tell at `now_secs`
    /// (`Conversation::pieces_to_tell`), as keys and the peer as the host spells it: the host
    /// tells each with `Conversation::tell_incomplete` (through [`Sessions::act`], which saves
    /// nothing that did not change). For the periodic sweep: a line that never completes is
    /// told without another line coming.
    pub fn incomplete(&mut self, now_secs: u64) -> Vec<(ConvKey, String)> {
        self.sessions
            .iter_mut()
            .filter(|(_, s)| s.unrestorable.is_none())
            .filter_map(|(k, s)| s.conv.pieces_to_tell(now_secs).then_some((k, s)))
            .map(|(k, s)| (k.clone(), s.peer_raw.clone()))
            .collect()
    }

    /// Loaded conversations whose start of ours lapses at `now_secs`
    /// (`Conversation::start_lapses_at`), or whose answer to a start the answer limit held
    /// back is due (`Conversation::answer_due`), as keys and the peer as the host spells it.
    pub fn lapsing(&mut self, now_secs: u64) -> Vec<(ConvKey, String)> {
        self.sessions
            .iter_mut()
            .filter_map(|(k, s)| {
                let due = s.conv.start_lapses_at(now_secs) || s.conv.answer_due(now_secs);
                (s.unrestorable.is_none() && due).then_some((k, s))
            })
            .map(|(k, s)| (k.clone(), s.peer_raw.clone()))
            .collect()
    }

    /// State of the conversation, loaded from the store if needed (after a restart the first
    /// question may come before any message).
    pub fn state(
        &mut self,
        key: &ConvKey,
        peer_raw: &str,
        settings: &Settings,
    ) -> Option<ConvState> {
        self.session(key, peer_raw, settings)
            .map(|s| s.conv.state())
    }

    /// The host knows the name the next [`Sessions::incoming`] reads from (`key`'s): an IM
    /// window is open with it, or it is a buddy. That name is never a stranger
    /// ([`strangers`]), even with nothing saved (a contact the user chats with in plaintext who
    /// starts Sotto).
    pub fn familiar(&mut self, key: &ConvKey) {
        self.familiar = Some(key.clone());
    }

    /// Whether another client of the contact has a session up with this one (it reads, and may
    /// be read, while the main conversation is over): the window keeps from logging then too.
    pub fn another_client_reads(&self, key: &ConvKey) -> bool {
        self.sessions.get(key).is_some_and(|s| {
            s.others
                .iter()
                .any(|o| o.conv.state() == ConvState::Encrypted)
        })
    }

    /// Why the saved conversation with `key` cannot be restored, if it cannot (`/sotto
    /// status`: the conversation reads as blank, but nothing is sent or read until the user
    /// decides).
    pub fn unrestorable(
        &mut self,
        key: &ConvKey,
        peer_raw: &str,
        settings: &Settings,
    ) -> Option<String> {
        self.session(key, peer_raw, settings)
            .and_then(|s| s.unrestorable.clone())
    }

    /// Whether a line the host sends without [`Sessions::outgoing`] (IRC's `/msg`, `/query`)
    /// may go to the contact as plaintext: exactly when typed text would (a conversation in
    /// plaintext, nothing held, a policy that starts nothing), and never for a name an
    /// encrypted conversation moved away from, a store restored from a backup, or a saved
    /// conversation that cannot be restored. `false` when no conversation can be had.
    pub fn plaintext_allowed(
        &mut self,
        key: &ConvKey,
        peer_raw: &str,
        settings: &Settings,
    ) -> bool {
        self.session(key, peer_raw, settings)
            .is_some_and(|s| s.unrestorable.is_none() && s.conv.sends_plaintext())
    }

    /// What the conversation with `key` does with what is typed, as another conversation of
    /// the same buddy-list contact sees it ([`siblings`]), loaded from the store if needed:
    /// encrypted (in which session), keeping plaintext out otherwise (a session being set up,
    /// text held, a session the contact ended or one that cannot be restored, a policy that
    /// would hold what is typed and start a session: `always`, a name held as under it), or
    /// open. [`siblings::SiblingState::Unknown`] when no conversation can be had.
    ///
    /// An account with no identity key yet (never encrypted anything) gets none for being
    /// asked: its conversations have no saved state, and their policy alone decides.
    pub fn sibling_state(
        &mut self,
        key: &ConvKey,
        peer_raw: &str,
        settings: &Settings,
    ) -> siblings::SiblingState {
        use siblings::SiblingState;
        // No conversation can be had for such a name (see `session`).
        if key.peer.contains(['\n', '\u{1f}']) {
            return SiblingState::Unknown;
        }
        let id = (key.protocol.clone(), key.account.clone());
        if !self.sessions.contains_key(key) && !self.identities.contains_key(&id) {
            let Some(store) = self.store.as_ref() else {
                return SiblingState::Unknown;
            };
            match store.has_identity(&key.protocol, &key.account) {
                Ok(true) => {}
                // Nothing saved, moved or held for it: what typing there would do.
                Ok(false) => {
                    return match settings.policy {
                        Policy::Always => SiblingState::Guarded,
                        Policy::Manual | Policy::Opportunistic => SiblingState::Open,
                    }
                }
                Err(e) => {
                    self.note(format!("reading an identity: {e}"));
                    return SiblingState::Unknown;
                }
            }
        }
        let Some(s) = self.session(key, peer_raw, settings) else {
            return SiblingState::Unknown;
        };
        if s.unrestorable.is_some() {
            return SiblingState::Guarded;
        }
        match s.conv.state() {
            ConvState::Encrypted => {
                SiblingState::Encrypted(s.conv.session_instance().map_or([0; 4], |(id, _)| id))
            }
            ConvState::Handshaking | ConvState::Finished => SiblingState::Guarded,
            // Held text, a lapsed start, `always` (also a moved name's or a restored backup's,
            // which `session` sets), a contact known to run Sotto under `opportunistic`: what
            // is typed there would not leave in plaintext.
            ConvState::Plaintext if s.conv.sends_plaintext() => SiblingState::Open,
            ConvState::Plaintext => SiblingState::Guarded,
        }
    }

    /// The user typed a line that would go to `key` in plaintext at `now_secs`, while the
    /// contact's other open conversations are `siblings` (see [`Sessions::sibling_state`]):
    /// whether it goes ([`siblings::SiblingGuard::check`]). A refusal must be told, with the
    /// text given back, and asked about ([`Sessions::confirm_siblings`]).
    pub fn check_siblings(
        &mut self,
        key: &ConvKey,
        siblings: &[(ConvKey, siblings::SiblingState)],
        now_secs: u64,
    ) -> siblings::Verdict {
        self.siblings.check(key, siblings, now_secs)
    }

    /// The user answered "send unencrypted" about the line held back for `key`
    /// ([`siblings::SiblingGuard::confirm`]): `false` when there was no question.
    pub fn confirm_siblings(&mut self, key: &ConvKey, now_secs: u64) -> bool {
        self.siblings.confirm(key, now_secs)
    }

    /// A line of Sotto's own made the window show the conversation `key` (Finch makes the
    /// conversation of a line it draws the active one where several share a window): every
    /// confirmed allowance granted against it ends, as when something is typed or read there
    /// ([`siblings::SiblingGuard::spoke_in`]).
    pub fn shown_in(&mut self, key: &ConvKey) {
        self.siblings.spoke_in(key);
    }

    /// Messages waiting to be sent, and whether sending is blocked by a changed key.
    pub fn waiting(
        &mut self,
        key: &ConvKey,
        peer_raw: &str,
        settings: &Settings,
    ) -> Option<(usize, bool)> {
        self.session(key, peer_raw, settings)
            .map(|s| (s.conv.queued(), s.conv.is_blocked()))
    }

    /// Whether the conversation is held on an accepted key for the names its session states
    /// (`Conversation::held_for_names`).
    pub fn held_for_names(
        &mut self,
        key: &ConvKey,
        peer_raw: &str,
        settings: &Settings,
    ) -> Option<bool> {
        self.session(key, peer_raw, settings)
            .map(|s| s.conv.held_for_names())
    }

    /// The names the conversation's session stated, while sending is held for them
    /// (`Conversation::names_hold`): what the contact's side says it is, and whom it
    /// believes it writes to.
    pub fn names_hold(
        &mut self,
        key: &ConvKey,
        peer_raw: &str,
        settings: &Settings,
    ) -> Option<(String, String)> {
        self.session(key, peer_raw, settings)?
            .conv
            .names_hold()
            .map(|m| (m.stated_self.clone(), m.stated_peer.clone()))
    }

    /// Whether a start of ours lapsed unanswered (`Conversation::start_lapsed`).
    pub fn start_lapsed(
        &mut self,
        key: &ConvKey,
        peer_raw: &str,
        settings: &Settings,
    ) -> Option<bool> {
        self.session(key, peer_raw, settings)
            .map(|s| s.conv.start_lapsed())
    }

    /// Whether the conversation with `key` asked for a start that is not over
    /// (`Conversation::start_asked`). Only a conversation in memory is looked at, and none is
    /// loaded: one that sent a start stays in memory while it is asked for (never blank), and
    /// a name that only wrote to us must not be loaded for it.
    pub fn start_asked(&self, key: &ConvKey) -> bool {
        self.sessions.get(key).is_some_and(|s| s.conv.start_asked())
    }

    /// Whether `key`'s start in flight was tried again without the user
    /// (`Conversation::start_retrying`; nothing is loaded).
    pub fn start_retrying(&self, key: &ConvKey) -> bool {
        self.sessions
            .get(key)
            .is_some_and(|s| s.conv.start_retrying())
    }

    /// The contact's key in the current (or last) session, loaded from the store if needed.
    pub fn peer_key(
        &mut self,
        key: &ConvKey,
        peer_raw: &str,
        settings: &Settings,
    ) -> Option<IdentityPublic> {
        self.session(key, peer_raw, settings)?.conv.peer_identity()
    }

    /// Where the current session's lines go: the wire name of the peer's client that holds the
    /// session, as last heard from in an authenticated line (see [`Session`]'s `instance`).
    /// `None` when no session is up or none of its lines has been heard yet.
    pub fn session_address(&self, key: &ConvKey) -> Option<&str> {
        self.sessions.get(key)?.holder()
    }

    /// Whether our answer to the contact's question has left, its result awaited.
    pub fn verification_answered(&self, key: &ConvKey) -> bool {
        self.sessions
            .get(key)
            .is_some_and(|s| s.conv.verification_answered())
    }

    /// Whether a verification runs in a loaded conversation (either side's question).
    pub fn verification_running(&self, key: &ConvKey) -> bool {
        self.sessions
            .get(key)
            .is_some_and(|s| s.conv.verification_running())
    }

    /// The question the contact asked and that waits for our answer, in a loaded conversation.
    pub fn pending_question(&self, key: &ConvKey) -> Option<String> {
        self.sessions
            .get(key)?
            .conv
            .pending_question()
            .map(str::to_owned)
    }

    /// The conversations of `account`'s account (its protocol and account; the peer is not
    /// looked at) saved on disk and not loaded, that hold messages, with how many: each row is
    /// restored to be counted and let go, so nothing is written and nothing stays in memory
    /// (loaded and let go later, a row saved with a sending reservation would be written back,
    /// with an fsync each, and a load writes migrations of its own). Rows that cannot be
    /// restored, other clients' and parked ones, are left out; an account with no identity key
    /// has none that can be. For the unload's box: it named loaded conversations only, and a
    /// message held in an earlier run went unnamed.
    pub fn held_on_disk(&mut self, account: &ConvKey) -> Vec<(String, usize)> {
        let (p, a) = (&account.protocol, &account.account);
        let Some(identity) = self.existing_identity(p, a) else {
            return Vec::new();
        };
        let Some(store) = self.store.as_ref() else {
            return Vec::new();
        };
        let Ok(peers) = store.session_peers(p, a) else {
            return Vec::new();
        };
        peers
            .into_iter()
            .filter(|peer| !peer.contains('\n') && !crate::store::is_parked(peer))
            .filter(|peer| {
                !self.sessions.contains_key(&ConvKey {
                    peer: peer.clone(),
                    ..account.clone()
                })
            })
            .filter_map(|peer| {
                let held = Self::queued_in_row(store, &identity, p, a, &peer);
                (held > 0).then_some((peer, held))
            })
            .collect()
    }

    /// How many messages `key`'s saved row holds, restored to be counted and let go (as
    /// [`Sessions::held_on_disk`] counts them): 0 for none, for a row that cannot be restored,
    /// another client's or a parked one, and for an account with no identity key.
    pub(super) fn held_in_row(&mut self, key: &ConvKey) -> usize {
        let (p, a) = (&key.protocol, &key.account);
        if key.peer.contains(['\n', '\u{1f}']) {
            return 0;
        }
        let Some(identity) = self.existing_identity(p, a) else {
            return 0;
        };
        self.store.as_ref().map_or(0, |store| {
            Self::queued_in_row(store, &identity, p, a, &key.peer)
        })
    }

    /// The account's identity if the store has one (never made here: counting rows must not
    /// create a key).
    fn existing_identity(&mut self, protocol: &str, account: &str) -> Option<AccountIdentity> {
        let has_identity = self
            .store
            .as_ref()
            .is_some_and(|st| st.has_identity(protocol, account).unwrap_or(false));
        has_identity
            .then(|| self.identity(protocol, account))
            .flatten()
    }

    /// The messages held in `peer`'s saved row, restored with `identity` and let go.
    fn queued_in_row(
        store: &Store,
        identity: &AccountIdentity,
        protocol: &str,
        account: &str,
        peer: &str,
    ) -> usize {
        store
            .load_session(protocol, account, peer)
            .ok()
            .flatten()
            .and_then(|bytes| Conversation::restore(identity.key.clone(), &bytes).ok())
            .map_or(0, |c| c.queued())
    }

    /// [`Conversation::forget_sent_text`] in the conversation `key` if it is loaded (one that is
    /// not remembers no sent text).
    pub fn forget_sent_text(&mut self, key: &ConvKey, text: &str) {
        if let Some(s) = self.sessions.get_mut(key) {
            s.conv.forget_sent_text(text);
        }
    }

    /// [`Conversation::forget_sent_record`] in the conversation `key` if it is loaded.
    pub fn forget_sent_record(&mut self, key: &ConvKey, text: &str) {
        if let Some(s) = self.sessions.get_mut(key) {
            s.conv.forget_sent_record(text);
        }
    }

    /// The text of `line`, a data line sent to the contact (or to another of its clients)
    /// and handed back undelivered, while it is remembered (in memory only: nothing is loaded).
    pub fn sent_text(&self, key: &ConvKey, line: &str) -> Option<SecretString> {
        let s = self.sessions.get(key)?;
        s.conv
            .sent_text(line)
            .or_else(|| s.others.iter().find_map(|o| o.conv.sent_text(line)))
    }

    /// [`Conversation::handed_back`] in the conversation `key` (or in the one with another of
    /// its clients that sent `line`), in memory only: nothing is loaded.
    pub fn handed_back(&self, key: &ConvKey, line: &str) -> HandedBack {
        let Some(s) = self.sessions.get(key) else {
            return HandedBack::Unknown;
        };
        std::iter::once(&s.conv)
            .chain(s.others.iter().map(|o| &o.conv))
            .map(|c| c.handed_back(line))
            .find(|h| !matches!(h, HandedBack::Unknown))
            .unwrap_or(HandedBack::Unknown)
    }

    /// [`Conversation::told_handed_back`] in the conversation `key` and its other clients'.
    pub fn told_handed_back(&mut self, key: &ConvKey, line: &str) {
        if let Some(s) = self.sessions.get_mut(key) {
            s.conv.told_handed_back(line);
            for o in &mut s.others {
                o.conv.told_handed_back(line);
            }
        }
    }

    /// Where the conversation once under `key` moved to by a rename, when a line sent before it
    /// is handed back now: the name its mark names (marks follow their conversation, so one
    /// step), if that conversation remembers `line` and `key`'s does not. An IRC server that
    /// read the contact's `NICK` before our line answers it with a 401 for the old name,
    /// after libpurple renamed the window (found by a hostile review of renames). Nothing is
    /// loaded; the mark is read from the store when the old name is not in memory.
    pub fn sent_text_moved(&mut self, key: &ConvKey, line: &str) -> Option<String> {
        if self.sent_text(key, line).is_some() {
            return None;
        }
        let to = match self.sessions.get(key) {
            Some(s) => s.moved_to.clone(),
            None => self.load_moved(key).flatten(),
        }?;
        if crate::store::is_parked(&to) {
            return None;
        }
        let moved = ConvKey {
            peer: to.clone(),
            ..key.clone()
        };
        self.sent_text(&moved, line).map(|_| to)
    }

    /// The contact's key in a loaded conversation (nothing is loaded).
    pub fn loaded_peer_key(&self, key: &ConvKey) -> Option<IdentityPublic> {
        self.sessions.get(key)?.conv.peer_identity()
    }
}
