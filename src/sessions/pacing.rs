//! A long encrypted message on IRC and libpurple's rate limiter: how long its pieces wait, which
//! of them left, and which were still waiting when the connection went. No libpurple here; the
//! plugin layer (`crate::purple::pace`) feeds it and writes the lines.
//!
//! libpurple 2.14.9 and later (Debian 12: 2.14.12) queue every line the IRC protocol writes
//! (`irc_send_len` pushes it on `irc->send_queue`) and a 1-second timer (`irc_send_handler_cb`)
//! writes them: when the account's `ratelimit-interval` is 1 or more, at most
//! `(now - send_time) / interval` lines a tick, never more than `ratelimit-burst`, where
//! `send_time` is when the last line was written (any line, `irc_priority_send`'s too). Each
//! line is written by `do_send`, which emits `irc-sending-text` just before its `write`: so that
//! signal says a line *left*. When the connection closes, `irc_close` frees the queue
//! (`g_queue_free_full`): what still waits is dropped, and the contact's Sotto can never put
//! the message together.
//!
//! * **Handed** ([`Pacing::handed`]): every Sotto line the plugin hands IRC's `send_im` (its
//!   pieces `?S1P`, a whole `?S1D`, a handshake line). Pieces are grouped by their fragment id
//!   into one message; a whole data line is one. When a message's last line is handed,
//!   [`Pacing::ready`] keeps its text (for a notice) and estimates when its last line leaves
//!   ([`seconds_to_leave`]), from the account's limiter and what Sotto handed it and has not
//!   seen leave: when that is more than [`TELL_AFTER_SECS`], the caller says so.
//! * **Left** ([`Pacing::left`]): each raw line `irc-sending-text` carries. A `PRIVMSG` whose
//!   text is a line of ours still waiting is ticked off (the first waiting with that text);
//!   any line at all is when libpurple's limiter last wrote.
//! * **Cut off** ([`Pacing::cut_off`]): the account's connection goes (`signing-off`, before
//!   `irc_close`). Each message with lines still waiting is handed back with its text: it was
//!   NOT delivered in full. Everything of the account is forgotten (texts wiped).
//!
//! Nothing here comes from the server or the contact: lines are ours as handed, and what left
//! is what our own connection wrote. A server can only close the connection, and then the
//! notice is true. What it bounds: [`MESSAGES_KEPT`] messages with their first line and text
//! per account (past it the oldest is still followed while it waits, without them: a cut-off
//! then tells it without its text), [`LINES_KEPT`] lines per account (the oldest first: they
//! leave first; a message whose line goes is no longer followed), [`TEXT_KEPT_BYTES`] of text
//! per account (past it a message is followed without its text). A text is a
//! [`SecretString`], wiped on drop, and dropped as soon as its last line left.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use sotto::sessions::pacing::{seconds_to_leave, Limiter};
//!
//! // libpurple's default: a burst of 5 lines, then one every 2 s. Idle, 12 lines leave by the
//! // next tick (5), then one every 2 s (7 more): about 15 s.
//! let default = Limiter::from_settings(2, 5);
//! assert_eq!(seconds_to_leave(12, None, default), 15);
//! // A line written 1 s ago: nothing may go for another second.
//! assert_eq!(seconds_to_leave(1, Some(Duration::from_secs(1)), default), 1);
//! // The limiter off (`ratelimit-interval=0`): the next tick.
//! assert_eq!(seconds_to_leave(40, None, Limiter::from_settings(0, 5)), 1);
//! ```
#![forbid(unsafe_code)]

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

use crate::protocol::wire::WireMessage;
use crate::protocol::SecretString;

use super::nosuchnick::addressed;

/// A message whose last line leaves later than this (seconds) is said to take that long.
pub const TELL_AFTER_SECS: u64 = 4;
/// Messages followed per account with their first line and text; past it the oldest is
/// followed without them while its lines wait (at most one per waiting line, [`LINES_KEPT`]).
pub const MESSAGES_KEPT: usize = 64;
/// Lines followed per account (24 bytes each: 384 KiB at most); past it the oldest goes,
/// with its message.
pub const LINES_KEPT: usize = 16_384;
/// Text kept for notices per account; past it a message is followed without its text.
pub const TEXT_KEPT_BYTES: usize = 1 << 20;

/// libpurple's IRC rate limiter as an account sets it (`ratelimit-interval`,
/// `ratelimit-burst`; libpurple's defaults are 2 and 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limiter {
    /// Seconds between lines; 0: the limiter is off (every line goes at the next tick).
    interval: u64,
    /// Lines at once after an idle time.
    burst: u64,
}

impl Limiter {
    /// The limiter from the account's settings. An interval below 1 turns it off, as in
    /// libpurple. A burst below 1 would make libpurple write nothing at all; it is taken as 1
    /// (an estimate, not a promise: such an account sends nothing anyway).
    pub fn from_settings(interval: i64, burst: i64) -> Self {
        Self {
            interval: u64::try_from(interval).unwrap_or(0),
            burst: u64::try_from(burst).unwrap_or(1).max(1),
        }
    }
}

/// Seconds until the last of `lines` queued now has left, with libpurple's limiter `limiter`
/// and its last line written `idle` ago (`None`: none since the connection came up, when
/// libpurple grants a full burst). libpurple's timer ticks once a second from sign-on; its
/// phase is not known, so the first tick is taken a second from now (at most a second late).
/// Lines others queued (libpurple's own `ISON`, a `/command`) are not known: an estimate.
pub fn seconds_to_leave(lines: u64, idle: Option<Duration>, limiter: Limiter) -> u64 {
    if lines == 0 {
        return 0;
    }
    if limiter.interval == 0 {
        return 1;
    }
    let full = limiter.interval.saturating_mul(limiter.burst);
    let idle = idle.map_or(full, |d| d.as_secs().min(full));
    // The first tick at which a line may go: `idle + t >= interval`, and `t >= 1`.
    let first_tick = limiter.interval.saturating_sub(idle).max(1);
    let first_batch = (idle.saturating_add(first_tick) / limiter.interval)
        .min(limiter.burst)
        .min(lines);
    first_tick.saturating_add((lines - first_batch).saturating_mul(limiter.interval))
}

/// Which message a data line belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
enum MessageId {
    /// The pieces with this fragment id.
    Pieces(u32),
    /// A whole `?S1D` line (one line, one message).
    Whole,
}

/// A message of ours followed until its last line leaves.
struct Message {
    /// Numbers it among the account's messages (never reused).
    seq: u64,
    /// Where it went (the name the plugin handed `send_im`).
    to: String,
    id: MessageId,
    /// Its lines handed so far, and how many it has.
    handed: usize,
    total: usize,
    /// Its lines seen leaving.
    left: usize,
    /// Its first line (names it, to look its text up).
    first: String,
    /// What the user typed, for the notice when it is cut off.
    text: Option<SecretString>,
}

impl Message {
    fn waiting(&self) -> usize {
        self.handed.saturating_sub(self.left)
    }

    /// What the caller is told of it, with its text, when it stops being followed.
    fn cut_off(self) -> CutOff {
        CutOff {
            waiting: self.waiting(),
            pieces: self.total.max(self.handed),
            to: self.to,
            text: self.text,
        }
    }
}

/// A line handed and not yet seen leaving.
struct Waiting {
    /// Its text, hashed (with keys of this run: nobody can make two texts meet on purpose).
    hash: u64,
    /// Its message, if it is part of one.
    message: Option<u64>,
}

/// What is followed for one account's connection.
#[derive(Default)]
struct Account {
    /// When the connection last wrote a line (any line).
    last_left: Option<Instant>,
    waiting: VecDeque<Waiting>,
    messages: VecDeque<Message>,
    /// Older messages past [`MESSAGES_KEPT`] whose lines still wait: followed without their
    /// text and first line, so that a cut-off still tells them (a released hold of 100
    /// messages, cut off 10 s in, told only the newest 64: found by a review of lost texts).
    light: VecDeque<Message>,
    text_bytes: usize,
    next_seq: u64,
}

impl Account {
    /// Stop following the message `seq` (its lines still count as waiting in the queue).
    fn forget_message(&mut self, seq: u64) {
        drop(self.take_message(seq));
    }

    /// [`Self::forget_message`], the message handed to the caller (its text wiped when dropped).
    fn take_message(&mut self, seq: u64) -> Option<Message> {
        let taken = match self.messages.iter().position(|m| m.seq == seq) {
            Some(at) => self.messages.remove(at),
            None => self
                .light
                .iter()
                .position(|m| m.seq == seq)
                .and_then(|at| self.light.remove(at)),
        };
        if let Some(m) = &taken {
            self.text_bytes = self
                .text_bytes
                .saturating_sub(m.text.as_ref().map_or(0, |t| t.len()));
        }
        for w in self.waiting.iter_mut().filter(|w| w.message == Some(seq)) {
            w.message = None;
        }
        taken
    }

    /// Takes the waiting line with this text (the oldest, or the `newest`): its message.
    fn take_waiting(&mut self, hash: u64, newest: bool) -> Option<u64> {
        let mut same = self
            .waiting
            .iter()
            .enumerate()
            .filter(|(_, w)| w.hash == hash);
        let at = if newest {
            same.next_back()
        } else {
            same.next()
        }?
        .0;
        self.waiting.remove(at)?.message
    }

    /// The message `seq`, followed with its text or without.
    fn message_mut(&mut self, seq: u64) -> Option<&mut Message> {
        self.messages
            .iter_mut()
            .chain(self.light.iter_mut())
            .find(|m| m.seq == seq)
    }

    /// Past [`MESSAGES_KEPT`]: the oldest message is followed without its text and first line
    /// while its lines wait (forgotten when none does).
    fn lighten_oldest(&mut self) {
        let Some(mut m) = self.messages.pop_front() else {
            return;
        };
        self.text_bytes = self
            .text_bytes
            .saturating_sub(m.text.as_ref().map_or(0, |t| t.len()));
        m.text = None;
        m.first = String::new();
        // Only while a line of it waits: one whose handing stopped part way with none waiting
        // would never be forgotten (found by a hostile review).
        if m.waiting() > 0 {
            self.light.push_back(m);
        } else {
            for w in self.waiting.iter_mut().filter(|w| w.message == Some(m.seq)) {
                w.message = None;
            }
        }
    }

    /// A message all of whose lines were handed and have left: forgotten (its text wiped). One
    /// followed without its text once none of its lines waits, whether or not all were handed
    /// (nothing more of it comes: it was pushed back by newer messages).
    fn forget_if_out(&mut self, seq: u64) {
        let out = self
            .messages
            .iter()
            .any(|m| m.seq == seq && m.handed >= m.total && m.waiting() == 0)
            || self.light.iter().any(|m| m.seq == seq && m.waiting() == 0);
        if out {
            self.forget_message(seq);
        }
    }
}

/// A message whose last line was just handed ([`Pacing::handed`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ready {
    /// Which message, for [`Pacing::ready`].
    pub seq: u64,
    /// Its first line (the caller looks its text up by it).
    pub first: String,
}

/// A message that will wait noticeably ([`Pacing::ready`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slow {
    /// Where it goes.
    pub to: String,
    /// Its lines.
    pub pieces: usize,
    /// About how long until its last line has left.
    pub seconds: u64,
}

/// A message with lines still waiting when the connection went ([`Pacing::cut_off`]).
pub struct CutOff {
    /// Where it was going.
    pub to: String,
    /// Its lines still waiting, of `pieces`.
    pub waiting: usize,
    pub pieces: usize,
    /// What the user typed, when kept.
    pub text: Option<SecretString>,
}

impl std::fmt::Debug for CutOff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CutOff({}, {} of {} waiting, text kept: {})",
            self.to,
            self.waiting,
            self.pieces,
            self.text.is_some()
        )
    }
}

/// Every IRC account's lines of ours in libpurple's queue (see the module docs).
#[derive(Default)]
pub struct Pacing {
    /// By account (the caller's key).
    accounts: HashMap<String, Account>,
    hasher: RandomState,
}

/// What a line is, as [`Pacing::handed`] follows it.
enum Kind {
    /// A piece of a message: its fragment id, index and count.
    Piece { id: u32, index: u16, total: u16 },
    /// A whole data line.
    Whole,
    /// Any other line of ours (a handshake line, a notice): it waits in the queue too.
    Other,
}

fn kind(line: &str) -> Option<Kind> {
    match WireMessage::decode(line.trim()).ok()? {
        WireMessage::Fragment(f) => Some(Kind::Piece {
            id: f.id,
            index: f.index,
            total: f.total,
        }),
        WireMessage::Data(_) => Some(Kind::Whole),
        _ => Some(Kind::Other),
    }
}

impl Pacing {
    fn hash(&self, text: &str) -> u64 {
        self.hasher.hash_one(text.trim())
    }

    /// The plugin hands IRC's `send_im` on `account` the Sotto line `line` for `to`: called
    /// *before* the call (a libpurple without the queue writes the line, and emits
    /// `irc-sending-text`, inside it), and [`Pacing::withdraw`]n if the protocol did not take
    /// it. Anything that is not a Sotto line is not followed (libpurple turns the markup of
    /// plaintext into other text: it could never be ticked off). When it is the last line of
    /// a message, that message is [`Ready`].
    pub fn handed(&mut self, account: &str, to: &str, line: &str) -> Option<Ready> {
        let kind = kind(line)?;
        let hash = self.hash(line);
        let acct = self.accounts.entry(account.to_owned()).or_default();
        let (id, total, last) = match kind {
            Kind::Other => {
                push_waiting(acct, hash, None);
                return None;
            }
            Kind::Whole => (MessageId::Whole, 1, true),
            Kind::Piece { id, index, total } => (
                MessageId::Pieces(id),
                usize::from(total),
                index + 1 >= total,
            ),
        };
        let open = acct.messages.iter().position(|m| {
            // The last piece goes through libpurple's own send, under the window's
            // name: the same nick, maybe spelt in another case (any script's: libpurple's
            // IRC normalizes with a UTF-8 casefold).
            m.id == id
                && id != MessageId::Whole
                && m.handed < m.total
                && (m.to.eq_ignore_ascii_case(to) || m.to.to_lowercase() == to.to_lowercase())
        });
        let seq = match open {
            Some(at) => {
                let m = acct.messages.get_mut(at)?;
                m.handed += 1;
                m.seq
            }
            None => {
                if acct.messages.len() >= MESSAGES_KEPT {
                    acct.lighten_oldest();
                }
                let seq = acct.next_seq;
                acct.next_seq += 1;
                acct.messages.push_back(Message {
                    seq,
                    to: to.to_owned(),
                    id,
                    handed: 1,
                    total,
                    left: 0,
                    first: line.trim().to_owned(),
                    text: None,
                });
                seq
            }
        };
        push_waiting(acct, hash, Some(seq));
        let m = acct.messages.iter_mut().find(|m| m.seq == seq)?;
        if last {
            // However many pieces arrived, the last one closes the message.
            m.total = m.handed;
            return Some(Ready {
                seq,
                first: m.first.clone(),
            });
        }
        None
    }

    /// The protocol did not take `line`, [`Pacing::handed`] just before: it is not waiting
    /// (the newest waiting line with its text goes, and its message counts it no more).
    pub fn withdraw(&mut self, account: &str, line: &str) {
        let hash = self.hash(line);
        let Some(acct) = self.accounts.get_mut(account) else {
            return;
        };
        let Some(seq) = acct.take_waiting(hash, true) else {
            return;
        };
        if let Some(m) = acct.message_mut(seq) {
            m.handed = m.handed.saturating_sub(1);
            if m.handed == 0 {
                acct.forget_message(seq);
            }
        }
        acct.forget_if_out(seq);
    }

    /// The message `seq` on `account` was all handed at `now`: keep its `text` for a notice
    /// (within [`TEXT_KEPT_BYTES`]), and say whether it will wait noticeably with `limiter`.
    pub fn ready(
        &mut self,
        account: &str,
        seq: u64,
        text: Option<SecretString>,
        now: Instant,
        limiter: Limiter,
    ) -> Option<Slow> {
        let acct = self.accounts.get_mut(account)?;
        // The message first: one gone already (its lines all left inside `send_im`, on a
        // libpurple without the queue) keeps no text, and charges nothing to the budget.
        let m = acct.messages.iter_mut().find(|m| m.seq == seq)?;
        let kept = m.text.as_ref().map_or(0, |t| t.len());
        let room = TEXT_KEPT_BYTES.saturating_sub(acct.text_bytes.saturating_sub(kept));
        let text = text.filter(|t| t.len() <= room);
        acct.text_bytes =
            acct.text_bytes.saturating_sub(kept) + text.as_ref().map_or(0, |t| t.len());
        m.text = text;
        let (to, pieces) = (m.to.clone(), m.total);
        // Everything of ours ahead of it, and itself: libpurple's queue keeps order.
        let lines = acct
            .waiting
            .iter()
            .rposition(|w| w.message == Some(seq))
            .map_or(0, |at| at + 1);
        let idle = acct.last_left.map(|t| now.saturating_duration_since(t));
        let seconds = seconds_to_leave(lines as u64, idle, limiter);
        (seconds > TELL_AFTER_SECS).then_some(Slow {
            to,
            pieces,
            seconds,
        })
    }

    /// `account`'s connection wrote the raw line `raw` at `now` (`irc-sending-text`).
    pub fn left(&mut self, account: &str, raw: &str, now: Instant) {
        let text = match addressed(raw) {
            Some((_, Some(text))) => Some(self.hash(text)),
            _ => None,
        };
        if !self.accounts.contains_key(account) {
            // One entry per account of the user's: when it last wrote counts from the start.
            self.accounts.insert(account.to_owned(), Account::default());
        }
        let Some(acct) = self.accounts.get_mut(account) else {
            return;
        };
        acct.last_left = Some(now);
        let Some(hash) = text else {
            return;
        };
        let Some(seq) = acct.take_waiting(hash, false) else {
            return;
        };
        if let Some(m) = acct.message_mut(seq) {
            m.left += 1;
        }
        acct.forget_if_out(seq);
    }

    /// `account`'s connection goes: every message with lines still waiting, with its text.
    /// The account is forgotten (its texts wiped when the caller drops them).
    pub fn cut_off(&mut self, account: &str) -> Vec<CutOff> {
        let Some(acct) = self.accounts.remove(account) else {
            return Vec::new();
        };
        // The older ones first, as they were handed.
        acct.light
            .into_iter()
            .chain(acct.messages)
            .filter(|m| m.waiting() > 0)
            .map(Message::cut_off)
            .collect()
    }

    /// A contact on `account` took another nick: every message to its old one (`was_old` says
    /// of a name handed to `send_im` whether it is that nick, as the caller names contacts) with
    /// lines still waiting, with its text. Those lines were queued addressed to the old nick,
    /// and go there: to whoever holds it when they leave, or nowhere. Those messages are no
    /// longer followed (their lines still count as waiting in the queue, as they are); the
    /// others stay followed.
    pub fn renamed(&mut self, account: &str, was_old: impl Fn(&str) -> bool) -> Vec<CutOff> {
        let Some(acct) = self.accounts.get_mut(account) else {
            return Vec::new();
        };
        let gone: Vec<u64> = acct
            .light
            .iter()
            .chain(acct.messages.iter())
            .filter(|m| m.waiting() > 0 && was_old(&m.to))
            .map(|m| m.seq)
            .collect();
        gone.into_iter()
            .filter_map(|seq| acct.take_message(seq))
            .map(Message::cut_off)
            .collect()
    }

    /// The plugin stops: every message still waiting (libpurple goes on sending it, nobody
    /// follows it). Everything is forgotten; no text is handed back.
    pub fn stop(&mut self) -> Vec<(String, String, usize)> {
        let mut out = Vec::new();
        for (account, acct) in self.accounts.drain() {
            for m in acct
                .light
                .into_iter()
                .chain(acct.messages)
                .filter(|m| m.waiting() > 0)
            {
                out.push((account.clone(), m.to.clone(), m.waiting()));
            }
        }
        out
    }

    /// Lines waiting on `account` (for the tests).
    pub fn waiting(&self, account: &str) -> usize {
        self.accounts.get(account).map_or(0, |a| a.waiting.len())
    }
}

/// Adds a waiting line, within [`LINES_KEPT`] (the oldest goes, and its message with it).
fn push_waiting(acct: &mut Account, hash: u64, message: Option<u64>) {
    if acct.waiting.len() >= LINES_KEPT {
        if let Some(seq) = acct.waiting.pop_front().and_then(|w| w.message) {
            acct.forget_message(seq);
        }
    }
    acct.waiting.push_back(Waiting { hash, message });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::Fragment;

    const ACCOUNT: &str = "prpl-irc\nalice@localhost";
    const DEFAULT: Limiter = Limiter {
        interval: 2,
        burst: 5,
    };

    /// The pieces of one message, as the plugin hands them.
    fn pieces(id: u32, n: u16) -> Vec<String> {
        (0..n)
            .map(|index| {
                WireMessage::Fragment(Fragment {
                    id,
                    index,
                    total: n,
                    chunk: format!("chunk{id}x{index}"),
                })
                .encode()
            })
            .collect()
    }

    fn privmsg(to: &str, line: &str) -> String {
        format!("PRIVMSG {to} :{line}\r\n")
    }

    /// Hands every piece; returns the message's readiness.
    fn hand(p: &mut Pacing, to: &str, lines: &[String]) -> Option<Ready> {
        let mut ready = None;
        for l in lines {
            ready = p.handed(ACCOUNT, to, l);
        }
        ready
    }

    #[test]
    fn the_estimate_follows_libpurples_limiter() {
        // Idle: a burst of 5 at the next tick, then one every 2 s.
        assert_eq!(seconds_to_leave(5, None, DEFAULT), 1);
        assert_eq!(seconds_to_leave(6, None, DEFAULT), 3);
        assert_eq!(seconds_to_leave(20, None, DEFAULT), 31);
        // Just written: the next line waits a whole interval, then one per interval.
        let now = Some(Duration::ZERO);
        assert_eq!(seconds_to_leave(1, now, DEFAULT), 2);
        assert_eq!(seconds_to_leave(3, now, DEFAULT), 6);
        // Idle 5 s: at the next tick (6 s), three lines' worth.
        let five = Some(Duration::from_secs(5));
        assert_eq!(seconds_to_leave(3, five, DEFAULT), 1);
        assert_eq!(seconds_to_leave(4, five, DEFAULT), 3);
        // Idle long: never more than the burst.
        let long = Some(Duration::from_secs(3600));
        assert_eq!(seconds_to_leave(6, long, DEFAULT), 3);
        // Off, and nothing to send.
        assert_eq!(
            seconds_to_leave(1000, None, Limiter::from_settings(0, 5)),
            1
        );
        assert_eq!(seconds_to_leave(0, None, DEFAULT), 0);
        // Absurd settings stay finite, a burst below 1 counts as 1.
        let odd = Limiter::from_settings(i64::MAX, -3);
        assert_eq!(odd.burst, 1);
        assert!(seconds_to_leave(u64::MAX, None, odd) > 0);
        assert_eq!(Limiter::from_settings(-1, 5).interval, 0);
    }

    #[test]
    fn a_long_message_at_the_default_rate_is_said_to_take_a_while() {
        let mut p = Pacing::default();
        let lines = pieces(7, 12);
        let ready = hand(&mut p, "bob", &lines).unwrap();
        assert_eq!(ready.first, lines[0]);
        let slow = p
            .ready(
                ACCOUNT,
                ready.seq,
                Some("hi".into()),
                Instant::now(),
                DEFAULT,
            )
            .unwrap();
        assert_eq!(
            slow,
            Slow {
                to: "bob".into(),
                pieces: 12,
                seconds: 15
            }
        );
        // The same message with the limiter off is not worth a line.
        let mut p = Pacing::default();
        let ready = hand(&mut p, "bob", &pieces(8, 12)).unwrap();
        let off = Limiter::from_settings(0, 5);
        assert_eq!(p.ready(ACCOUNT, ready.seq, None, Instant::now(), off), None);
    }

    #[test]
    fn a_short_message_behind_a_long_one_waits_for_it() {
        let mut p = Pacing::default();
        let t0 = Instant::now();
        let long = hand(&mut p, "bob", &pieces(1, 10)).unwrap();
        assert!(p.ready(ACCOUNT, long.seq, None, t0, DEFAULT).is_some());
        let short = hand(&mut p, "bob", &pieces(2, 1)).unwrap();
        let slow = p.ready(ACCOUNT, short.seq, None, t0, DEFAULT).unwrap();
        assert_eq!((slow.pieces, slow.seconds), (1, 13));
        // A short message alone is not.
        let mut p = Pacing::default();
        let short = hand(&mut p, "bob", &pieces(3, 3)).unwrap();
        assert_eq!(p.ready(ACCOUNT, short.seq, None, t0, DEFAULT), None);
    }

    /// A message whose lines all left before it was ready (inside `send_im`, on a libpurple
    /// without the queue) keeps no text and charges nothing to the text budget; a message
    /// made ready twice charges its text once.
    #[test]
    fn a_message_gone_before_it_is_ready_charges_no_text() {
        let mut p = Pacing::default();
        let t0 = Instant::now();
        let lines = pieces(11, 2);
        let first = p.handed(ACCOUNT, "bob", &lines[0]);
        assert!(first.is_none());
        p.left(ACCOUNT, &privmsg("bob", &lines[0]), t0);
        let ready = p.handed(ACCOUNT, "bob", &lines[1]).unwrap();
        p.left(ACCOUNT, &privmsg("bob", &lines[1]), t0);
        assert_eq!(
            p.ready(ACCOUNT, ready.seq, Some("secret".into()), t0, DEFAULT),
            None
        );
        assert_eq!(p.accounts[ACCOUNT].text_bytes, 0);
        let again = hand(&mut p, "bob", &pieces(12, 3)).unwrap();
        p.ready(ACCOUNT, again.seq, Some("twelve".into()), t0, DEFAULT);
        p.ready(ACCOUNT, again.seq, Some("twelve".into()), t0, DEFAULT);
        assert_eq!(p.accounts[ACCOUNT].text_bytes, 6);
    }

    /// A non-ASCII nick spelt in another case by libpurple's own send of the last piece is
    /// the same message.
    #[test]
    fn a_message_to_a_non_ascii_nick_in_another_case_is_one_message() {
        let mut p = Pacing::default();
        let lines = pieces(13, 3);
        assert!(p.handed(ACCOUNT, "Ärger", &lines[0]).is_none());
        assert!(p.handed(ACCOUNT, "Ärger", &lines[1]).is_none());
        let ready = p.handed(ACCOUNT, "ärger", &lines[2]).unwrap();
        assert_eq!(ready.first, lines[0]);
        assert_eq!(p.accounts[ACCOUNT].messages.len(), 1);
    }

    #[test]
    fn a_message_whose_lines_all_left_is_forgotten_and_nothing_is_cut_off() {
        let mut p = Pacing::default();
        let t0 = Instant::now();
        let lines = pieces(9, 4);
        let ready = hand(&mut p, "bob", &lines).unwrap();
        p.ready(ACCOUNT, ready.seq, Some("secret".into()), t0, DEFAULT);
        for l in &lines {
            p.left(ACCOUNT, &privmsg("bob", l), t0);
        }
        assert_eq!(p.waiting(ACCOUNT), 0);
        assert!(p.accounts[ACCOUNT].messages.is_empty());
        assert_eq!(p.accounts[ACCOUNT].text_bytes, 0);
        assert!(p.cut_off(ACCOUNT).is_empty());
    }

    /// Hands all of `lines` (one message) to `to` and says it is ready, with `text`.
    fn hand_ready(p: &mut Pacing, to: &str, lines: &[String], text: &str, at: Instant) {
        let r = hand(p, to, lines).unwrap();
        p.ready(ACCOUNT, r.seq, Some(text.into()), at, DEFAULT);
    }

    #[test]
    fn a_connection_that_goes_hands_back_what_still_waited_with_its_text() {
        let mut p = Pacing::default();
        let t0 = Instant::now();
        let done = pieces(1, 2);
        let cut = pieces(2, 6);
        hand_ready(&mut p, "bob", &done, "arrived", t0);
        hand_ready(&mut p, "bob", &cut, "cut short", t0);
        for l in done.iter().chain(&cut[..2]) {
            p.left(ACCOUNT, &privmsg("bob", l), t0);
        }
        let out = p.cut_off(ACCOUNT);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!((out[0].waiting, out[0].pieces), (4, 6));
        assert_eq!(out[0].to, "bob");
        assert_eq!(
            out[0].text.as_deref().map(String::as_str),
            Some("cut short")
        );
        // Everything is forgotten: a second cut-off says nothing.
        assert!(p.cut_off(ACCOUNT).is_empty());
    }

    /// More messages waiting than are kept with their text (a released hold of 100, each in
    /// two pieces) and the connection goes after the first ten left: each of the other 90 is
    /// told, the 64 newest with their text, the older ones without; those that left are not.
    /// Before, only the 64 newest were told (found by a review of lost texts).
    #[test]
    fn a_cut_off_tells_every_message_still_waiting_past_those_kept_whole() {
        let mut p = Pacing::default();
        let t0 = Instant::now();
        let all: Vec<Vec<String>> = (0..100).map(|id| pieces(id, 2)).collect();
        for (i, lines) in all.iter().enumerate() {
            hand_ready(&mut p, "bob", lines, &format!("text {i}"), t0);
        }
        let acct = &p.accounts[ACCOUNT];
        assert_eq!(acct.messages.len(), MESSAGES_KEPT);
        assert_eq!(acct.light.len(), 100 - MESSAGES_KEPT);
        assert!(acct
            .light
            .iter()
            .all(|m| m.text.is_none() && m.first.is_empty()));
        for lines in &all[..10] {
            for l in lines {
                p.left(ACCOUNT, &privmsg("bob", l), t0);
            }
        }
        assert_eq!(p.accounts[ACCOUNT].light.len(), 100 - MESSAGES_KEPT - 10);
        // One piece of the eleventh left too: told as cut short, without its text.
        p.left(ACCOUNT, &privmsg("bob", &all[10][0]), t0);
        let out = p.cut_off(ACCOUNT);
        assert_eq!(out.len(), 90, "{out:?}");
        assert_eq!((out[0].waiting, out[0].pieces), (1, 2));
        assert!(out.iter().all(|c| c.to == "bob"));
        let texts: Vec<Option<String>> = out
            .iter()
            .map(|c| c.text.as_deref().map(|t| t.to_string()))
            .collect();
        let unkept = 100 - MESSAGES_KEPT - 10;
        assert!(texts[..unkept].iter().all(Option::is_none));
        for (i, t) in texts[unkept..].iter().enumerate() {
            assert_eq!(
                t.as_deref(),
                Some(format!("text {}", 100 - MESSAGES_KEPT + i).as_str())
            );
        }
        assert!(p.cut_off(ACCOUNT).is_empty());
        // Messages whose handing stopped part way (another plugin's refusal): one whose line
        // waits is followed without its text until it leaves, then forgotten; one with none
        // waiting is not kept (both stayed for good).
        let mut p = Pacing::default();
        let partial = pieces(900, 3);
        p.handed(ACCOUNT, "bob", &partial[0]);
        let stalled = pieces(901, 3);
        p.handed(ACCOUNT, "bob", &stalled[0]);
        p.left(ACCOUNT, &privmsg("bob", &stalled[0]), t0);
        for id in 0..MESSAGES_KEPT as u32 {
            hand_ready(&mut p, "bob", &pieces(id, 2), "t", t0);
        }
        let light: Vec<MessageId> = p.accounts[ACCOUNT]
            .light
            .iter()
            .map(|m| m.id.clone())
            .collect();
        assert_eq!(light, [MessageId::Pieces(900)]);
        p.left(ACCOUNT, &privmsg("bob", &partial[0]), t0);
        assert!(p.accounts[ACCOUNT].light.is_empty());
    }

    /// The contact renamed while pieces of a message to it still waited: that message is
    /// handed back with its text (its lines go to the old nick), once; a message to another
    /// contact, and one whose lines all left, are not.
    #[test]
    fn a_rename_hands_back_what_still_waited_for_the_old_nick() {
        let mut p = Pacing::default();
        let t0 = Instant::now();
        let out_already = pieces(1, 2);
        let to_bob = pieces(2, 6);
        let to_carol = pieces(3, 4);
        hand_ready(&mut p, "bob", &out_already, "arrived", t0);
        hand_ready(&mut p, "Bob", &to_bob, "cut by a rename", t0);
        hand_ready(&mut p, "carol", &to_carol, "for carol", t0);
        for l in out_already.iter().chain(&to_bob[..2]) {
            p.left(ACCOUNT, &privmsg("bob", l), t0);
        }
        let was_bob = |to: &str| to.eq_ignore_ascii_case("bob");
        let out = p.renamed(ACCOUNT, was_bob);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!((out[0].waiting, out[0].pieces), (4, 6));
        assert_eq!(
            out[0].text.as_deref().map(String::as_str),
            Some("cut by a rename")
        );
        assert!(p.renamed(ACCOUNT, was_bob).is_empty(), "told once");
        // Its text no longer counts against the account's budget (carol's still does).
        assert_eq!(p.accounts[ACCOUNT].text_bytes, "for carol".len());
        // Carol's message is still followed: cut off with the connection.
        let cut = p.cut_off(ACCOUNT);
        assert_eq!(cut.len(), 1, "{cut:?}");
        assert_eq!(cut[0].to, "carol");
    }

    /// Only what our own connection wrote ticks a line off, and only its exact text: the same
    /// text to another nick counts (libpurple's queue is one per connection), an unrelated line
    /// does not, and nothing makes a message never handed appear.
    #[test]
    fn only_lines_of_ours_count_and_nothing_invents_a_message() {
        let mut p = Pacing::default();
        let t0 = Instant::now();
        // Lines written that were never handed: nothing to cut off, no account followed.
        for l in pieces(5, 3) {
            p.left(ACCOUNT, &privmsg("bob", &l), t0);
        }
        assert!(p.cut_off(ACCOUNT).is_empty());
        // Plaintext and garbage are not followed at all.
        assert_eq!(p.handed(ACCOUNT, "bob", "hello <b>bob</b>"), None);
        assert_eq!(p.handed(ACCOUNT, "bob", "?S1Pgarbage"), None);
        assert!(p.cut_off(ACCOUNT).is_empty());
        // Other lines do not tick a piece off.
        let lines = pieces(6, 2);
        let r = hand(&mut p, "bob", &lines).unwrap();
        p.ready(ACCOUNT, r.seq, None, t0, DEFAULT);
        p.left(ACCOUNT, "PING :x\r\n", t0);
        p.left(ACCOUNT, &privmsg("bob", "?S1Pnot-ours"), t0);
        p.left(ACCOUNT, &privmsg("bob", &lines[0]), t0);
        let out = p.cut_off(ACCOUNT);
        assert_eq!((out.len(), out[0].waiting), (1, 1));
        assert!(out[0].text.is_none());
    }

    /// The first pieces go under the conversation's name, the last through libpurple's own
    /// send under the window's: one message, whatever the case of the nick.
    #[test]
    fn pieces_under_one_nick_spelt_two_ways_are_one_message() {
        let mut p = Pacing::default();
        let lines = pieces(3, 4);
        for l in &lines[..3] {
            assert_eq!(p.handed(ACCOUNT, "Bob", l), None);
        }
        let ready = p.handed(ACCOUNT, "bob", &lines[3]).unwrap();
        assert_eq!(ready.first, lines[0]);
        p.ready(
            ACCOUNT,
            ready.seq,
            Some("t".into()),
            Instant::now(),
            DEFAULT,
        );
        let out = p.cut_off(ACCOUNT);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].waiting, out[0].pieces), (4, 4));
        assert!(out[0].text.is_some());
    }

    /// A line the protocol refused is not waiting: no notice names a message never sent.
    #[test]
    fn a_line_the_protocol_refused_is_withdrawn() {
        let mut p = Pacing::default();
        let lines = pieces(5, 2);
        p.handed(ACCOUNT, "bob", &lines[0]);
        p.withdraw(ACCOUNT, &lines[0]);
        assert_eq!(p.waiting(ACCOUNT), 0);
        assert!(p.cut_off(ACCOUNT).is_empty());
        // A line written inside the call (a libpurple without the queue), then taken: gone.
        let line = pieces(6, 1).remove(0);
        let ready = p.handed(ACCOUNT, "bob", &line).unwrap();
        p.left(ACCOUNT, &privmsg("bob", &line), Instant::now());
        assert_eq!(
            p.ready(ACCOUNT, ready.seq, None, Instant::now(), DEFAULT),
            None
        );
        assert!(p.cut_off(ACCOUNT).is_empty());
    }

    #[test]
    fn handshake_lines_wait_in_the_queue_but_are_no_message() {
        let mut p = Pacing::default();
        let t0 = Instant::now();
        p.handed(ACCOUNT, "bob", "?S1Q");
        assert_eq!(p.waiting(ACCOUNT), 1);
        let r = hand(&mut p, "bob", &pieces(4, 5)).unwrap();
        // Five pieces behind one query: six lines, one past the burst.
        let slow = p.ready(ACCOUNT, r.seq, None, t0, DEFAULT);
        assert_eq!(slow, None, "3 s is not noticeable");
        let out = p.cut_off(ACCOUNT);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].waiting, 5);
    }

    #[test]
    fn memory_stays_bounded_however_much_is_queued() {
        let mut p = Pacing::default();
        let t0 = Instant::now();
        let text = SecretString::new("x".repeat(64 * 1024));
        for id in 0..(MESSAGES_KEPT as u32 * 3) {
            let r = hand(&mut p, "bob", &pieces(id, 3)).unwrap();
            p.ready(ACCOUNT, r.seq, Some(text.clone()), t0, DEFAULT);
        }
        let acct = &p.accounts[ACCOUNT];
        assert!(acct.messages.len() <= MESSAGES_KEPT);
        assert!(acct.text_bytes <= TEXT_KEPT_BYTES);
        // Texts past the budget are not kept; the newest messages are still followed.
        assert!(acct.messages.iter().any(|m| m.text.is_none()));
        assert_eq!(
            acct.messages.back().map(|m| m.seq),
            Some(u64::from(MESSAGES_KEPT as u32 * 3 - 1))
        );
        // Lines too.
        let mut p = Pacing::default();
        for i in 0..(LINES_KEPT + 100) {
            p.handed(ACCOUNT, "bob", &format!("?S1E{i}"));
        }
        assert_eq!(p.waiting(ACCOUNT), LINES_KEPT);
        // A message whose line was pushed out is no longer followed (and none is half kept).
        let mut p = Pacing::default();
        let r = hand(&mut p, "bob", &pieces(1, 2)).unwrap();
        p.ready(ACCOUNT, r.seq, Some("old".into()), t0, DEFAULT);
        for i in 0..LINES_KEPT {
            p.handed(ACCOUNT, "bob", &format!("?S1E{i}"));
        }
        assert!(p.accounts[ACCOUNT].messages.is_empty());
        assert_eq!(p.accounts[ACCOUNT].text_bytes, 0);
    }

    #[test]
    fn stopping_names_what_still_goes_and_forgets_everything() {
        let mut p = Pacing::default();
        let r = hand(&mut p, "bob", &pieces(1, 3)).unwrap();
        p.ready(ACCOUNT, r.seq, Some("t".into()), Instant::now(), DEFAULT);
        assert_eq!(p.stop(), [(ACCOUNT.to_owned(), "bob".to_owned(), 3)]);
        assert!(p.cut_off(ACCOUNT).is_empty());
    }
}
