//! Sotto lines that come back: echoes of what we sent, lines our account sent from another
//! client, and copies of lines already read. No window ever shows a raw Sotto line.
//!
//! * **Our own echoes.** Some protocols' `send_im` returns 0, so libpurple shows nothing, and the
//!   server's echo of the message is written into the window later as sent (telegram-purple,
//!   tdlib-purple, slack-libpurple, `purple_conv_im_write` with `PURPLE_MESSAGE_SEND`). That echo
//!   is our own line. So every line we hand to a protocol is kept in a short record ([`Sent`]):
//!   the echo of a typed message's line is shown as the text that was typed, once (its other
//!   pieces, and any later copy, are hidden); the echo of anything else (handshake, a message
//!   the presenter already showed as sent from the hold queue) is hidden. When `send_im`
//!   returned more than 0, libpurple showed the typed text itself, and the echo is hidden too.
//! * **Another client of ours.** A line written as sent that is not in the record was sent by
//!   another client of this account (purple-discord, skypeweb and purple-facebook write those
//!   as `SEND | REMOTE_SEND`); only that client can read it. It is hidden, and one quiet note
//!   per message says so (one for all the pieces of a fragmented line).
//! * **Any other raw line** written into a window (history, a carbons plugin, a plugin that
//!   writes what it received): hidden, with a note.
//! * **Copies.** A line read before, delivered again byte for byte (a retransmission, a server
//!   that delivers twice), is dropped without a word ([`already_read`]); a different line
//!   claiming an already used message number is still reported by the core.
//!
//! The record holds the typed text of the last [`MAX_MESSAGES`] messages in memory only,
//! wiped when it leaves the record and when the plugin unloads ([`Guard`]); it is never
//! written anywhere. Lines are matched after undoing what markdown plugins do to them
//! ([`super::transforms`]).

use std::cell::RefCell;
use std::collections::{HashSet, VecDeque};
use std::ffi::{c_char, c_int, c_void};

use sha2::{Digest, Sha256};

use crate::protocol::wire::is_sotto_text;
use crate::protocol::SecretString;

use super::bindings as sys;
use super::boundary::{ffi_boundary, non_null};
use super::glue::{self, cstr_to_string, ConvKey, ConvRef};
use super::{markup, present, service, texts, transforms};

/// Typed messages whose text the record keeps.
const MAX_MESSAGES: usize = 64;
/// Lines the record keeps (handshake lines and fragments count one each).
const MAX_LINES: usize = 1024;
/// Read lines remembered to drop their copies.
const MAX_READ: usize = 1024;
/// Fragment ids of other clients' lines already noted.
const MAX_NOTED: usize = 64;

/// What became of a typed message's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shown {
    /// Handed to the protocol; whether libpurple shows it depends on `send_im`'s answer.
    Sending,
    /// `send_im` returned 0: the protocol's echo will be shown as this text.
    ByEcho,
    /// Shown (by libpurple or by an echo), or never to be: later echoes are hidden.
    Done,
}

/// A typed message in the record.
struct Message {
    id: u64,
    text: SecretString,
    shown: Shown,
    /// The conversation it was typed in ([`sender`]'s form): its echo is shown only there.
    conv: String,
}

/// The lines we sent, the typed text of recent messages, and digests of lines read.
#[derive(Default)]
struct Sent {
    /// Each line we handed to a protocol, with the typed message it belongs to (0: none).
    lines: VecDeque<(String, u64)>,
    messages: VecDeque<Message>,
    last_id: u64,
    /// SHA-256 of recently read lines, in arrival order and as a set.
    read_order: VecDeque<[u8; 32]>,
    read: HashSet<[u8; 32]>,
    /// Fragment ids of other clients' lines already noted.
    noted: VecDeque<String>,
    /// The next write of this text into this conversation's window, soon, is a person's words
    /// that only look like a Sotto line (see [`let_through`]).
    let_through: Option<LetThrough>,
    /// An auto-reply Sotto held, and when (see [`auto_reply_held`]).
    held_auto_reply: Option<(SecretString, std::time::Instant)>,
    /// The conversation ([`sender`]'s form) whose window is about to show, as sent, what Sotto
    /// sent through it, and when (see [`writing_sent`]).
    own_write: Option<(String, std::time::Instant)>,
    /// The accounts (their addresses) whose `serv_got_im` is about to write the message it
    /// received, and when, the innermost last: `received-im-msg` comes right before that
    /// write, after the receive hook (see [`received_im_msg`]); a handler in between may
    /// receive another message first (a protocol that delivers at once), whose write comes
    /// first.
    received_writes: Vec<(usize, std::time::Instant)>,
}

/// Words about to be written that look like a Sotto line (see [`let_through`]).
struct LetThrough {
    /// The conversation ([`sender`]'s form).
    conv: String,
    text: SecretString,
    at: std::time::Instant,
}

/// How soon the write [`let_through`] expects must come.
const LET_THROUGH_SECS: u64 = 2;

/// What to do with a Sotto line written as sent.
#[derive(Debug, PartialEq, Eq)]
enum Echo {
    /// Our typed message: show this text instead.
    Show(SecretString),
    /// Ours, already shown or never to be: hide it.
    Hide,
    /// Not ours: another client of this account sent it.
    Foreign,
}

impl Sent {
    fn message(&mut self, id: u64) -> Option<&mut Message> {
        self.messages.iter_mut().find(|m| m.id == id)
    }

    fn push_line(&mut self, line: &str, id: u64) {
        if self.lines.len() == MAX_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back((line.to_owned(), id));
    }

    /// The user typed `text`, which goes out as `lines` (the last one through libpurple's own
    /// send, the others injected before it).
    fn typed<'a>(&mut self, lines: impl IntoIterator<Item = &'a String>, text: &str, conv: String) {
        self.last_id += 1;
        let id = self.last_id;
        if self.messages.len() == MAX_MESSAGES {
            self.messages.pop_front();
        }
        self.messages.push_back(Message {
            id,
            text: SecretString::from(text),
            shown: Shown::Sending,
            conv,
        });
        for line in lines {
            self.push_line(line, id);
        }
    }

    /// `line` went to the protocol, whose `send_im` returned `rc`; `ours` when Sotto injected
    /// it (a piece, a handshake line), not when it was the typed message's own send.
    fn passed(&mut self, line: &str, rc: c_int, ours: bool) {
        let id = self
            .lines
            .iter()
            .rev()
            .find(|(l, _)| l == line)
            .map(|&(_, id)| id);
        match id {
            // Sent again (a line already recorded as not a typed message's), or a piece of a
            // typed message that Sotto injected before the message's own send: nothing to learn.
            Some(0) => {}
            Some(_) if ours => {}
            Some(id) => {
                if let Some(m) = self.message(id).filter(|m| m.shown == Shown::Sending) {
                    m.shown = if rc == 0 { Shown::ByEcho } else { Shown::Done };
                }
            }
            None if rc >= 0 => self.push_line(line, 0),
            None => {}
        }
    }

    /// A Sotto line was written as sent into the window of `conv` ([`sender`]'s form; `None`:
    /// no conversation). A typed message's line written into another conversation's window
    /// is not its echo there (a server that writes it there would show one contact's words
    /// in another's window, and hide them where they belong).
    fn echo(&mut self, line: &str, conv: Option<&str>) -> Echo {
        let Some(id) = self
            .lines
            .iter()
            .rev()
            .find(|(l, _)| l == line)
            .map(|&(_, id)| id)
        else {
            return Echo::Foreign;
        };
        match self.message(id) {
            Some(m) if conv != Some(m.conv.as_str()) => Echo::Foreign,
            // `Sending`: the echo came before `send_im` returned; libpurple will not show it.
            Some(m) if m.shown != Shown::Done => {
                m.shown = Shown::Done;
                Echo::Show(m.text.clone())
            }
            _ => Echo::Hide,
        }
    }

    /// Whether `line` was read before from the same `sender` (and remember it).
    fn already_read(&mut self, sender: &str, line: &str) -> bool {
        let digest = read_digest(sender, line);
        if self.read.contains(&digest) {
            return true;
        }
        if self.read_order.len() == MAX_READ {
            if let Some(old) = self.read_order.pop_front() {
                self.read.remove(&old);
            }
        }
        self.read_order.push_back(digest);
        self.read.insert(digest);
        false
    }

    /// Forget that `line` was read: it was not processed after all (no session could be had),
    /// so a later copy (redelivered once the store is back) is read, not dropped as a copy.
    fn forget_read(&mut self, sender: &str, line: &str) {
        let digest = read_digest(sender, line);
        if self.read.remove(&digest) {
            self.read_order.retain(|d| *d != digest);
        }
    }

    /// Whether another client's line needs a note: once per fragmented line (by fragment id),
    /// once per whole line.
    fn note_needed(&mut self, line: &str) -> bool {
        let Some(id) = line.strip_prefix("?S1P").and_then(|r| r.get(..4)) else {
            return true;
        };
        if self.noted.iter().any(|n| n == id) {
            return false;
        }
        if self.noted.len() == MAX_NOTED {
            self.noted.pop_front();
        }
        self.noted.push_back(id.to_owned());
        true
    }
}

thread_local! {
    static SENT: RefCell<Sent> = RefCell::new(Sent::default());
}

/// Run `f` on the record; `None` if it is busy (a re-entrant call: the caller does the safe
/// thing).
fn with_sent<R>(f: impl FnOnce(&mut Sent) -> R) -> Option<R> {
    SENT.with(|s| s.try_borrow_mut().ok().map(|mut s| f(&mut s)))
}

/// Wipes the record when the plugin unloads (held with the plugin's hooks).
pub(crate) struct Guard(());

impl Guard {
    pub(crate) fn new() -> Self {
        Guard(())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = with_sent(|s| *s = Sent::default());
    }
}

/// The user typed `text`; it goes out as `lines`.
pub(crate) fn typed<'a>(lines: impl IntoIterator<Item = &'a String>, text: &str, conv: &ConvKey) {
    let _ = with_sent(|s| s.typed(lines, text, sender(conv)));
}

/// The next write of `text` into `conv`'s window, within [`LET_THROUGH_SECS`], is a person's
/// words (decrypted, typed and sent encrypted, or shown as sent by Sotto) that begin like a
/// Sotto line (`?S1Q …`, a pasted wire line): shown as they are, not hidden as a raw line.
/// Matched by text (libpurple may write it as other markup: linkified, escaped another way),
/// once; only when the text looks like a line.
pub(crate) fn let_through(conv: &ConvRef, text: &str) {
    let t = crate::protocol::wire::without_replay_stamp(text);
    // (`has_line` covers a line with words in front: `has_embedded_line` implies it.)
    if is_sotto_text(t) || crate::protocol::wire::has_line(t) {
        let marker = LetThrough {
            conv: sender(&conv.key()),
            text: SecretString::from(text.trim()),
            at: std::time::Instant::now(),
        };
        let _ = with_sent(|s| s.let_through = Some(marker));
    }
}

/// Whether the write of `raw` into `conv`'s window is the one [`let_through`] expects (then
/// it is taken).
///
/// # Safety
/// `conv` must be null or libpurple's live conversation for the write.
unsafe fn let_through_now(conv: *mut sys::PurpleConversation, raw: &str) -> bool {
    let pending = with_sent(|s| s.let_through.is_some()).unwrap_or(false);
    if !pending {
        return false;
    }
    // SAFETY: per the caller.
    let Some(key) = (unsafe { ConvRef::from_conversation(conv) }).map(|r| sender(&r.key())) else {
        return false;
    };
    let text = if markup::needs_strip(raw) {
        glue::markup_to_text(raw)
    } else {
        raw.to_owned()
    };
    with_sent(|s| {
        let expired = s
            .let_through
            .as_ref()
            .is_some_and(|m| m.at.elapsed().as_secs() >= LET_THROUGH_SECS);
        let hit = s
            .let_through
            .as_ref()
            .is_some_and(|m| m.conv == key && *m.text == *text.trim());
        if hit || expired {
            s.let_through = None;
        }
        hit && !expired
    })
    .unwrap_or(false)
}

/// The auto-reply `markup` was held (it goes encrypted once the session is up, and is shown
/// then): libpurple writes an auto-reply into the window as sent whatever `send_im` returned
/// (`serv_got_im`), so its next write there as sent is cancelled.
pub(crate) fn auto_reply_held(markup: &str) {
    let held = (SecretString::from(markup), std::time::Instant::now());
    let _ = with_sent(|s| s.held_auto_reply = Some(held));
}

/// A line went to the protocol's `send_im`, which returned `rc` (see [`Sent::passed`]).
pub(crate) fn passed(line: &str, rc: c_int, ours: bool) {
    if is_sotto_text(line) {
        let _ = with_sent(|s| s.passed(line, rc, ours));
    }
}

/// The text of a received message for the sessions service: a Sotto line restored from what
/// a protocol plugin did to it, else the markup stripped to text; a Sotto line an IRC bouncer
/// played back with its time in front is the line (`wire::without_replay_stamp`), so a copy of
/// one read before is dropped as a copy and none is ever shown raw.
pub(crate) fn incoming_text(raw: &str) -> String {
    if let Some(line) = transforms::sotto_line(raw) {
        return line;
    }
    let text = if markup::needs_strip(raw) {
        glue::markup_to_text(raw)
    } else {
        raw.to_owned()
    };
    let line = crate::protocol::wire::without_replay_stamp(&text);
    if line.len() == text.len() {
        text
    } else {
        line.to_owned()
    }
}

/// Whether `text`, a received Sotto line that carries keys or a message, is a copy of one read
/// before from the same sender, `from` (then it is dropped silently). Queries and notices
/// repeat by design: never copies. Per sender: a copy of the contact's line delivered first
/// under another name (by whoever saw it first) must not make the contact's own one a copy.
pub(crate) fn already_read(from: &ConvRef, text: &str) -> bool {
    let t = text.trim();
    let carries = matches!(
        t.as_bytes().get(..4),
        Some([b'?', b'S', b'1', b'I' | b'R' | b'C' | b'D' | b'P'])
    );
    carries && with_sent(|s| s.already_read(&read_sender(from, t), t)).unwrap_or(false)
}

/// Who a read line is remembered for: its conversation; for a piece (`?S1P`) on a protocol
/// that names each client of a contact (XMPP: a full JID), also the address it came from.
/// Pieces go to the reassembly of the client they come from (`sessions::clients`), so a copy
/// of one client's piece delivered first from another address must not make the real one,
/// from its own client, a copy: that lost the line. (Elsewhere every piece goes to the one
/// conversation, and a proxy may spell one sender two ways, as SIP's do.)
fn read_sender(from: &ConvRef, line: &str) -> String {
    let address = super::service::addressable(from).then_some(from.peer.as_str());
    read_sender_of(sender(&from.key()), address, line)
}

/// [`read_sender`] for the conversation `conversation` ([`sender`]) and, on a protocol that
/// names each client, the address `address`.
fn read_sender_of(conversation: String, address: Option<&str>, line: &str) -> String {
    match address {
        Some(address) if line.starts_with("?S1P") => format!("{conversation}\0{address}"),
        _ => conversation,
    }
}

/// `text` (passed to [`already_read`] with `from`) was not processed: a later copy is not a
/// copy.
pub(crate) fn not_read(from: &ConvRef, text: &str) {
    if crate::protocol::wire::is_sotto_text(text) {
        let t = text.trim();
        let _ = with_sent(|s| s.forget_read(&read_sender(from, t), t));
    }
}

/// The sender a read line is remembered under: its conversation.
fn sender(k: &ConvKey) -> String {
    format!("{}\0{}\0{}", k.protocol, k.account, k.peer)
}

/// What is remembered of a line read from `sender`.
fn read_digest(sender: &str, line: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(sender.as_bytes());
    h.update([0]);
    h.update(line.as_bytes());
    h.finalize().into()
}

/// The next write as sent (`PURPLE_MESSAGE_SEND`) into `conv`'s window, within
/// [`LET_THROUGH_SECS`], shows what went through Sotto: libpurple's write of the typed text
/// once `send_im` returned, an auto-reply's, Sotto's own [`present::show_sent`]. Any other
/// plaintext written as sent into an encrypted conversation's window (a carbons plugin's copy
/// of what another client of ours sent, another plugin) gets a warning first.
pub(crate) fn writing_sent(conv: &ConvRef) {
    let marker = (sender(&conv.key()), std::time::Instant::now());
    let _ = with_sent(|s| s.own_write = Some(marker));
}

/// libpurple's send is over (`sent-im-msg`): no write of it is expected any more.
pub(crate) fn sent_written() {
    let _ = with_sent(|s| s.own_write = None);
}

/// Whether this write as sent into `r`'s window is the one [`writing_sent`] expects (then it
/// is taken).
fn own_write_now(r: &ConvRef) -> bool {
    let hit = own_write_expected(r);
    if hit {
        let _ = with_sent(|s| s.own_write = None);
    }
    hit
}

/// Whether a write as sent into `r`'s window now is the one [`writing_sent`] expects, without
/// taking it.
fn own_write_expected(r: &ConvRef) -> bool {
    let key = sender(&r.key());
    with_sent(|s| {
        s.own_write
            .as_ref()
            .is_some_and(|(c, at)| *c == key && at.elapsed().as_secs() < LET_THROUGH_SECS)
    })
    .unwrap_or(false)
}

/// `received-im-msg(account, sender, message, conv, flags)`: `serv_got_im` writes the message
/// next, the one the receive hook just read (libpurple 2.x emits it only for a message not
/// cancelled, right before its unconditional `purple_conv_im_write`). A received message
/// written into a window without it did not pass Sotto: a protocol plugin writing it itself
/// (history, another device's copy), or another plugin (see [`writing_im_msg`]).
pub(crate) unsafe extern "C" fn received_im_msg(
    account: *mut sys::PurpleAccount,
    _sender: *const c_char,
    _message: *const c_char,
    _conv: *mut sys::PurpleConversation,
    flags: sys::PurpleMessageFlags,
    _data: *mut c_void,
) {
    ffi_boundary!((), {
        // Only a write [`writing_im_msg`] judges as received takes a mark: one flagged as sent
        // (another client's copy, `SEND`, to which libpurple adds `RECV`) or as the window's
        // own line must not leave one for a write after it.
        if flags & (sys::PURPLE_MESSAGE_SEND | sys::PURPLE_MESSAGE_SYSTEM) != 0 {
            return;
        }
        let _ = with_sent(|s| {
            s.received_writes
                .retain(|(_, at)| at.elapsed().as_secs() < LET_THROUGH_SECS);
            // A few at most are ever nested; a bound all the same.
            if s.received_writes.len() >= 8 {
                s.received_writes.remove(0);
            }
            s.received_writes
                .push((account as usize, std::time::Instant::now()));
        });
    })
}

/// Whether this write of a received message into `account`'s window is the one
/// `serv_got_im` makes after [`received_im_msg`] (then it is taken): the innermost mark of
/// the account, whatever its window (libpurple may write into a window found under another
/// name than the sender's).
fn received_write_now(account: *mut sys::PurpleAccount) -> bool {
    with_sent(|s| {
        s.received_writes
            .retain(|(_, at)| at.elapsed().as_secs() < LET_THROUGH_SECS);
        let hit = s
            .received_writes
            .iter()
            .rposition(|&(a, _)| a == account as usize);
        hit.map(|i| s.received_writes.remove(i)).is_some()
    })
    .unwrap_or(false)
}

/// For the end-to-end test of a fault while a message is written into a window: panics when
/// the text written is `SOTTO_TEST_PANIC_AT_WRITE` (read from the process environment, unset
/// in any real use; read once per process).
#[allow(clippy::panic)]
fn test_panic_at_write(raw: &str) {
    static AT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let at = AT.get_or_init(|| std::env::var("SOTTO_TEST_PANIC_AT_WRITE").ok());
    if at
        .as_deref()
        .is_some_and(|t| glue::markup_to_text(raw) == t)
    {
        panic!("SOTTO_TEST_PANIC_AT_WRITE: a panic writing a line, on purpose");
    }
}

/// `writing-im-msg(account, who, &message, conv, flags)`: TRUE cancels the write.
pub(crate) unsafe extern "C" fn writing_im_msg(
    account: *mut sys::PurpleAccount,
    who: *const c_char,
    message: *mut *mut c_char,
    conv: *mut sys::PurpleConversation,
    flags: sys::PurpleMessageFlags,
    _data: *mut c_void,
) -> sys::gboolean {
    // On a panic the write is cancelled: a raw line is never shown. Not silently: a message
    // written as received (a decrypted one, whose line is already read and saved) is said not
    // shown, and a line of Sotto's own (built and escaped by Sotto: a NOT sent line holds the
    // only copy of what was typed) goes through (found by a read-only review, 2026-12-07).
    ffi_boundary!(
        {
            if glue::writing_own_line() {
                0
            } else {
                let received = flags & sys::PURPLE_MESSAGE_RECV != 0
                    && flags & (sys::PURPLE_MESSAGE_SEND | sys::PURPLE_MESSAGE_SYSTEM) == 0;
                if received && !conv.is_null() {
                    super::boundary::quietly(|| {
                        // SAFETY: libpurple's conversation for this write, live during it;
                        // the line is Sotto's own, which this hook lets through.
                        unsafe {
                            glue::system_line_to(conv, texts::not_shown_after_a_fault());
                        }
                    });
                }
                1
            }
        },
        {
            // A message written as received (not a line of the window's own: those are `SYSTEM`)
            // that did not come through `serv_got_im`, and so not through Sotto's receive hook.
            let received = flags & sys::PURPLE_MESSAGE_RECV != 0
                && flags & (sys::PURPLE_MESSAGE_SEND | sys::PURPLE_MESSAGE_SYSTEM) == 0;
            let received_unread = received && !received_write_now(account);
            // libpurple's "User is not logged in" for an IRC 401 that Sotto told in its own words.
            // SAFETY: libpurple's conversation and sender for this write.
            if unsafe { super::irc::libpurples_line(conv, who, flags) } {
                return 1;
            }
            non_null!(message, 0);
            // SAFETY: libpurple's out-parameter, non-null.
            let current = unsafe { *message };
            non_null!(current, 0);
            let raw = cstr_to_string(current).unwrap_or_default();
            test_panic_at_write(&raw);
            // The auto-reply just held: not sent, so not shown as sent (it is when it goes).
            let auto = sys::PURPLE_MESSAGE_SEND | sys::PURPLE_MESSAGE_AUTO_RESP;
            if flags & auto == auto
                && with_sent(|s| {
                    // libpurple writes it right after send_im returns: a marker left by a write
                    // that never came (another plugin changed the text) expires.
                    let held = s
                        .held_auto_reply
                        .take()
                        .filter(|(m, at)| **m == raw && at.elapsed().as_secs() < LET_THROUGH_SECS);
                    held.is_some()
                }) == Some(true)
            {
                return 1;
            }
            // A line libpurple (or another plugin) writes into the window, neither sent nor
            // received: "bob is now known as …" (an XMPP nick the contact publishes, unescaped),
            // "… has left the conversation", with a name the contact chose, an IRC server's
            // numeric reply naming the contact ("999: <anything>", written raw). One that breaks
            // the line inside (or hides or reorders text) could paint what reads as a line of
            // Sotto's own below it ("Sotto: encrypted conversation started … (verified)"), or a
            // message from the contact that was never encrypted: it is written on one line, as
            // Sotto writes every peer text. So is one whose markup could draw a line of Sotto's
            // (it names Sotto anywhere, `present::draws_sotto_line`), or, in a window marked
            // encrypted (or held, or starting), any markup: the window draws what stripping drops
            // (a line feed inside `<style>`), and its own styling (a bold "Sotto:", a timestamp's
            // font, a name) makes a fake line look real; its text is kept. Elsewhere such markup
            // stays (libpurple's file-transfer line links the file received): in a conversation in
            // plaintext a line drawn as the contact's is no more than the server could send.
            // (Sotto's own command errors, which the host writes after the command returned, are
            // Sotto's lines: not quoted as a line naming Sotto would be.)
            let raw = if flags & (sys::PURPLE_MESSAGE_SEND | sys::PURPLE_MESSAGE_RECV) == 0
                && !glue::writing_own_line()
                && !glue::take_own_error(&raw)
            {
                // Pidgin breaks a system line at a raw line feed too (libpurple's stripping makes
                // it a space): as a `<br>` first, so the text keeps every break the window shows.
                let breaks = raw
                    .trim_end_matches(['\n', '\r'])
                    .replace("\r\n", "<br>")
                    .replace(['\n', '\r'], "<br>");
                let text = glue::markup_to_text(&breaks);
                let inside = text.trim_end_matches(['\n', '\r']);
                // One that names Sotto is written in quotes, which no line of Sotto's starts with:
                // a name that fills libpurple's line buffer ("<name> has left the conversation.",
                // 256 bytes, cut before its own words) is the whole line, no markup, no break, and
                // drew as Sotto's ("Sotto: the key of bob is now verified"; found by a hostile
                // review of the XMPP paths).
                let names_sotto = present::draws_sotto_line(&breaks, inside);
                let markup = breaks.contains(['<', '&'])
                    && (names_sotto
                    // SAFETY: libpurple's conversation for this write.
                    || unsafe { guarded(conv) });
                if names_sotto
                    || markup
                    || inside.chars().any(|c| {
                        c.is_control()
                            || crate::protocol::wire::is_invisible(c)
                            || texts::is_space_separator(c)
                    })
                {
                    let flat = texts::flat_line(inside);
                    // Always wrapped (a line that starts with the quote itself is no exception: its
                    // closing quote missing, a right-to-left letter after the opening one could
                    // have the window draw it from the right, "Sotto:" first).
                    let flat = if names_sotto {
                        format!("\u{201C}{flat}\u{201D}")
                    } else {
                        flat
                    };
                    let html = markup::text_to_html(&flat);
                    // SAFETY: libpurple's out-parameter, non-null; the old string is GLib-owned.
                    unsafe { glue::replace_gstring(message, Some(&html)) };
                    html
                } else {
                    raw
                }
            } else {
                raw
            };
            // Words that look like a line, marked as words where they were decrypted or typed.
            // SAFETY: libpurple's conversation for this write.
            if unsafe { let_through_now(conv, &raw) } {
                // The write of what went through Sotto, if one was expected: taken, so that it
                // cannot let another write pass unwarned.
                if flags & sys::PURPLE_MESSAGE_SEND != 0 {
                    // SAFETY: libpurple's conversation for this write.
                    if let Some(r) = unsafe { ConvRef::from_conversation(conv) } {
                        own_write_now(&r);
                    }
                }
                return 0;
            }
            let line = match transforms::sotto_line(&raw) {
                Some(line) => line,
                None => {
                    let text = if markup::needs_strip(&raw) {
                        glue::markup_to_text(&raw)
                    } else {
                        raw.clone()
                    };
                    let text = crate::protocol::wire::without_replay_stamp(&text);
                    // A line the service wrote again with words in front (purple-discord's pin
                    // mark or "EDIT: ", skypeweb's "Edited: ", slack-libpurple's "[edit]"): never
                    // shown raw, nor taken for plaintext sent from another client of ours.
                    let own = glue::writing_own_line();
                    let sent = flags & sys::PURPLE_MESSAGE_SEND != 0;
                    // Received in a conversation in plaintext, such words are someone's (a quote,
                    // a line split by markup): shown with the line masked below, never hidden
                    // behind a note that an encrypted message came.
                    if !own
                    && crate::protocol::wire::has_embedded_line(text)
                    // SAFETY: libpurple's conversation for this write (NULL-checked inside).
                    && (sent || !unsafe { received_in_plaintext(conv) })
                    {
                        if with_sent(|s| s.note_needed(text.trim())).unwrap_or(true) {
                            // SAFETY: libpurple's conversation for this write (NULL-checked).
                            if let Some(r) = unsafe { ConvRef::from_conversation(conv) } {
                                r.system_line(texts::hidden_sotto_line(sent));
                            }
                        }
                        return 1;
                    }
                    if !is_sotto_text(text) {
                        // A Sotto line inside text another path writes (a plugin's quote of a
                        // message, written as a system line, never through the receive hook) is
                        // shown as a mark, never raw; markup that draws a line reading as Sotto's
                        // (a carbons plugin's forged "sent" copy, a protocol's write of a message
                        // from another device: `<style>&#10;</style><b>Sotto: …`) is shown as one
                        // line of plain text, as plaintext received is; so is any markup written
                        // as sent without going through Sotto (another of our clients' copy: not
                        // the write `writing_sent` expects, or flagged `REMOTE_SEND`) in a window
                        // marked encrypted (or held, or starting): a line break and the window's
                        // own styling drew a fake line from the contact under it ("ok<br><b>
                        // (14:02:11) bob:</b> the code is now 4711"), which the warning that comes
                        // first ("the next message shown as yours…") does not cover. What the user
                        // typed and the contact's decrypted words (written received) keep theirs.
                        if !own {
                            // SAFETY: libpurple's conversation for this write (NULL-checked).
                            let bypassed =
                                unsafe { ConvRef::from_conversation(conv) }.is_some_and(|r| {
                                    (sent
                                        && (flags & sys::PURPLE_MESSAGE_REMOTE_SEND != 0
                                            || !own_write_expected(&r)))
                                        || received_unread
                                });
                            // SAFETY: as above.
                            let flatten = bypassed && unsafe { guarded(conv) };
                            if let Some(html) = present::plaintext_html(&raw, flatten) {
                                // SAFETY: libpurple's out-parameter, non-null; the old string is
                                // GLib-owned.
                                unsafe { glue::replace_gstring(message, Some(&html)) };
                            }
                        }
                        // SAFETY: libpurple's conversation for this write (NULL-checked inside).
                        unsafe { warn_plaintext_as_ours(conv, flags) };
                        if received_unread && !own {
                            // SAFETY: as above.
                            unsafe { warn_received_unread(conv) };
                        }
                        return 0;
                    }
                    text.trim().to_owned()
                }
            };
            // SAFETY: libpurple's conversation for this write (NULL-checked inside).
            let r = unsafe { ConvRef::from_conversation(conv) };
            let sent = flags & sys::PURPLE_MESSAGE_SEND != 0;
            let echo = if sent {
                let conv = r.as_ref().map(|r| sender(&r.key()));
                with_sent(|s| s.echo(&line, conv.as_deref())).unwrap_or(Echo::Hide)
            } else {
                Echo::Foreign
            };
            match (echo, r) {
                (Echo::Show(text), Some(r)) => present::show_sent(&r, &text),
                (Echo::Show(_) | Echo::Hide, _) => {}
                (Echo::Foreign, r) => {
                    if with_sent(|s| s.note_needed(&line)).unwrap_or(true) {
                        let note = texts::hidden_sotto_line(sent);
                        match r {
                            Some(r) => r.system_line(note),
                            // SAFETY: `conv` is libpurple's live conversation for this write.
                            None if !conv.is_null() => unsafe { glue::system_line_to(conv, note) },
                            None => {}
                        }
                    }
                }
            }
            1
        }
    )
}

/// Whether `conv`'s window carries Sotto's mark in its title ("(encrypted)", a session held or
/// starting): a window whose lines the user takes for encrypted, where markup that draws a line
/// as the contact's is a forgery. Read from what the window shows, never by loading the
/// conversation from inside a write (which has effects of its own).
///
/// # Safety
/// `conv` is NULL or libpurple's live conversation.
unsafe fn guarded(conv: *mut sys::PurpleConversation) -> bool {
    // SAFETY: per the caller (NULL-checked inside).
    unsafe { ConvRef::from_conversation(conv) }.is_some_and(|r| {
        let key = r.key();
        super::state::with_state(|s| s.windows.get(&key).is_some_and(|w| w.title.is_some()))
            == Some(true)
    })
}

/// Whether `conv`'s conversation is in plaintext (as the receive path would show a line there).
///
/// # Safety
/// `conv` must be NULL or a live conversation.
unsafe fn received_in_plaintext(conv: *mut sys::PurpleConversation) -> bool {
    // SAFETY: per the caller.
    let r = unsafe { ConvRef::from_conversation(conv) };
    r.is_some_and(|r| service::conv_state(&r) == Some(crate::protocol::ConvState::Plaintext))
}

/// Plaintext written as ours into a window whose conversation is encrypted, that did not go
/// through Sotto ([`writing_sent`]): another of our clients sent it (`REMOTE_SEND`: a phone
/// without Sotto, or whatever the server says was sent from there), or another path wrote it
/// as sent (the XMPP carbons plugin writes a copy of what another client of ours sent with
/// `SEND` alone; a forged carbon the same). A line says so first: it looked like what the user
/// sent over the session, in the window marked encrypted.
///
/// # Safety
/// `conv` must be null or libpurple's live conversation for this write.
unsafe fn warn_plaintext_as_ours(
    conv: *mut sys::PurpleConversation,
    flags: sys::PurpleMessageFlags,
) {
    if flags & sys::PURPLE_MESSAGE_SEND == 0 {
        return;
    }
    // SAFETY: per the caller.
    let Some(r) = (unsafe { ConvRef::from_conversation(conv) }) else {
        return;
    };
    if flags & sys::PURPLE_MESSAGE_REMOTE_SEND == 0 && own_write_now(&r) {
        return;
    }
    if super::service::conv_state(&r) == Some(crate::protocol::ConvState::Encrypted) {
        r.system_line(&texts::remote_plaintext(&texts::Shown::new(&r.peer)));
    }
}

/// Plaintext written as received into a window marked encrypted (or held, or starting) that
/// did not come through `serv_got_im`, so Sotto never read it: a protocol plugin that writes
/// messages itself (a history it fetches, another device's copy, as signald, VK and MRIM do) or
/// another plugin. It was shown among the contact's encrypted words with no warning (found by
/// a review of the paths other protocols take, 2026-12-06): a line says so first, and the
/// message is one line of plain text (flattened by the caller).
///
/// # Safety
/// `conv` must be null or libpurple's live conversation for this write.
unsafe fn warn_received_unread(conv: *mut sys::PurpleConversation) {
    // SAFETY: per the caller.
    if conv.is_null() || !unsafe { guarded(conv) } {
        return;
    }
    // SAFETY: per the caller.
    let Some(r) = (unsafe { ConvRef::from_conversation(conv) }) else {
        return;
    };
    // Written as an arrival line (`NOTIFY` and `RECV`): in a Finch window shared by a
    // contact's merged buddies a plain system line is not drawn unless its conversation is the
    // active one, while the message after it makes it so (`ConvRef::arrival_line`).
    // SAFETY: per the caller: live, non-null.
    unsafe { glue::arrival_line_to(conv, &texts::received_unread(&texts::Shown::new(&r.peer))) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(n: usize, tag: &str) -> Vec<String> {
        (0..n).map(|i| format!("?S1P{tag}{i:04}")).collect()
    }

    #[test]
    fn an_echo_after_send_im_returned_zero_shows_the_typed_text_once() {
        let mut s = Sent::default();
        let l = lines(3, "a");
        s.typed(&l, "hello", "bob".into());
        s.passed(&l[0], 0, true);
        s.passed(&l[1], 0, true);
        s.passed(&l[2], 0, false);
        assert_eq!(
            s.echo(&l[1], Some("bob")),
            Echo::Show(SecretString::from("hello"))
        );
        assert_eq!(s.echo(&l[0], Some("bob")), Echo::Hide);
        assert_eq!(s.echo(&l[2], Some("bob")), Echo::Hide);
        assert_eq!(
            s.echo(&l[1], Some("bob")),
            Echo::Hide,
            "a second copy of the echo"
        );
        // Written into another conversation's window: not its echo there, and it does not
        // count as shown where it belongs.
        let l2 = lines(1, "b");
        s.typed(&l2, "for bob only", "bob".into());
        s.passed(&l2[0], 0, false);
        assert_eq!(s.echo(&l2[0], Some("carol")), Echo::Foreign);
        assert_eq!(s.echo(&l2[0], None), Echo::Foreign);
        assert_eq!(
            s.echo(&l2[0], Some("bob")),
            Echo::Show(SecretString::from("for bob only"))
        );
    }

    #[test]
    fn when_libpurple_showed_the_text_every_echo_is_hidden() {
        let mut s = Sent::default();
        let l = lines(1, "b");
        s.typed(&l, "hello", "bob".into());
        s.passed(&l[0], 1, false);
        assert_eq!(s.echo(&l[0], Some("bob")), Echo::Hide);
    }

    #[test]
    fn injected_lines_are_ours_and_hidden() {
        let mut s = Sent::default();
        s.passed("?S1Iabc", 0, true);
        assert_eq!(s.echo("?S1Iabc", Some("bob")), Echo::Hide);
        assert_eq!(s.echo("?S1Ixyz", Some("bob")), Echo::Foreign);
        s.passed("?S1Dfailed", -1, true);
        assert_eq!(
            s.echo("?S1Dfailed", Some("bob")),
            Echo::Foreign,
            "a line that never left"
        );
    }

    #[test]
    fn an_echo_before_send_im_returned_shows_the_text() {
        let mut s = Sent::default();
        let l = lines(1, "c");
        s.typed(&l, "early", "bob".into());
        assert_eq!(
            s.echo(&l[0], Some("bob")),
            Echo::Show(SecretString::from("early"))
        );
        s.passed(&l[0], 0, false);
        assert_eq!(s.echo(&l[0], Some("bob")), Echo::Hide);
    }

    #[test]
    fn the_record_is_bounded() {
        let mut s = Sent::default();
        for i in 0..(MAX_MESSAGES + 10) {
            s.typed(&lines(20, &format!("{i:03}")), "x", "bob".into());
        }
        assert_eq!(s.messages.len(), MAX_MESSAGES);
        assert_eq!(s.lines.len(), MAX_LINES);
        for i in 0..(MAX_READ + 5) {
            assert!(!s.already_read("bob", &format!("?S1D{i}")));
        }
        assert_eq!(s.read.len(), MAX_READ);
        assert!(s.already_read("bob", &format!("?S1D{}", MAX_READ + 4)));
        assert!(
            !s.already_read("bob", "?S1D0"),
            "the oldest digests were forgotten"
        );
    }

    /// A line that could not be processed (no session could be had) is read when it comes
    /// again; one that was processed is a copy.
    #[test]
    fn a_line_not_processed_is_not_a_copy() {
        let mut s = Sent::default();
        assert!(!s.already_read("bob", "?S1Dabc"));
        s.forget_read("bob", "?S1Dabc");
        assert!(
            !s.already_read("bob", "?S1Dabc"),
            "read again after the store came back"
        );
        assert!(s.already_read("bob", "?S1Dabc"), "and a copy after that");
        assert_eq!(s.read.len(), s.read_order.len());
    }

    /// A line first delivered under another name (a copy made by whoever saw it first) does
    /// not make the contact's own copy a copy.
    #[test]
    fn a_copy_is_a_copy_from_the_same_sender_only() {
        let mut s = Sent::default();
        assert!(!s.already_read("mallory", "?S1Dabc"));
        assert!(!s.already_read("bob", "?S1Dabc"));
        assert!(s.already_read("bob", "?S1Dabc"));
        assert!(s.already_read("mallory", "?S1Dabc"));
    }

    /// A piece is a copy only of one from the same address: another client's piece copied
    /// under a new resource first leaves the real one to be read. A whole line is a copy of
    /// one from any of the contact's addresses (routed by its session, not by address).
    #[test]
    fn a_piece_is_a_copy_from_the_same_address_only() {
        // One conversation (bob's bare JID), two addresses.
        let bob = || "prpl-jabber\0alice@localhost\0bob@localhost".to_owned();
        let laptop = |line| read_sender_of(bob(), Some("bob@localhost/laptop"), line);
        let forged = |line| read_sender_of(bob(), Some("bob@localhost/x"), line);
        let mut s = Sent::default();
        let piece = "?S1PAbCdAAACxyz";
        assert!(!s.already_read(&forged(piece), piece));
        assert!(
            !s.already_read(&laptop(piece), piece),
            "the real piece, from its own client, is read"
        );
        assert!(s.already_read(&laptop(piece), piece));
        let line = "?S1Dabcdef";
        assert!(!s.already_read(&forged(line), line));
        assert!(s.already_read(&laptop(line), line));
        // Where a contact's clients have no names of their own, a piece is a copy whoever
        // spelled its sender.
        let piece = "?S1PZyXwAAACxyz";
        assert!(!s.already_read(&read_sender_of(bob(), None, piece), piece));
        assert!(s.already_read(&read_sender_of(bob(), None, piece), piece));
    }

    #[test]
    fn other_clients_fragments_get_one_note() {
        let mut s = Sent::default();
        assert!(s.note_needed("?S1PAbCdAAADxyz"));
        assert!(!s.note_needed("?S1PAbCdABADxyz"));
        assert!(s.note_needed("?S1PZZZZAAACxyz"));
        assert!(s.note_needed("?S1Dabc"));
        assert!(s.note_needed("?S1Dabc"));
    }
}
