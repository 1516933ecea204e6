//! Lines cut into `?S1P` pieces that never complete (PROTOCOL.md §6 "Lines that do not
//! complete"): the user is told that a long message from the contact arrived incomplete, and
//! the message its first piece names is asked for with a not-read notice, so that its sender,
//! which remembers what it sent for a while, tells its user and sends it again (§2.2).
//!
//! What decides, from what arrived, the sessions' ratchets and the clock alone:
//!
//! * A line is lost when the reassembler drops it unfinished: no progress for
//!   [`MAX_AGE_SECS`](crate::protocol::fragment::MAX_AGE_SECS), its life over, pushed out by
//!   other partial lines, or *overtaken*: on a transport that keeps one sender's lines in order
//!   ([`Conversation::set_in_order`]), a later data line of the same session and ratchet chain
//!   was read, so the pieces still missing are not coming.
//! * A lost line whose first piece names a data message of the current or the previous
//!   session that the ratchet could still read is named to its sender with the not-read notice
//!   `(arrived incomplete)`, within the notices' budget (`NOT_READ_NOTICES` per
//!   `NOT_READ_INTERVAL_SECS`, shared with the other not-read notices). A first piece of a
//!   message read already (a replay), of a session this side does not have, of a handshake line
//!   (its handshake lapses by itself) or of no Sotto line at all is dropped without a word.
//! * A lost line without a first piece names nothing: it is told only where a session is.
//! * The window is told at most once per `NOT_READ_INTERVAL_SECS`: lines lost meanwhile wait
//!   and are told in one line.
//!
//! Nothing here is saved (pieces are not part of the snapshot): telling changes no saved
//! state, so a periodic sweep that tells ([`Conversation::tell_incomplete`]) writes nothing.

use super::cold::ColdSlot;
use super::conversation::Conversation;
use super::events::{Event, ReceiveOutcome, UnreadableReason};
use super::NOT_READ_INTERVAL_SECS;
use crate::protocol::clock::interval_passed;
use crate::protocol::fragment::LostLine;
use crate::protocol::wire::{data_head, DataHead, DataMessage, MessageRef};

/// What a conversation knows of lines lost in pieces between the moments it tells them (in its
/// rarely used parts, `cold.rs`; whether the transport keeps lines in order is
/// `Conversation::in_order`). Not saved.
#[derive(Default)]
pub(super) struct LostPieces {
    /// The header of the data line read last, while a line is being received: lines of its
    /// chain that came before it are overtaken.
    read: Option<DataHead>,
    /// Lost lines the window has not been told of yet; `true` when the sender of one of them
    /// was asked for it.
    untold: Option<bool>,
    /// When the window was last told.
    told_at: Option<u64>,
}

impl LostPieces {
    /// Whether there is nothing to tell and no clock of a telling.
    pub(super) fn is_empty(&self) -> bool {
        // Every field named, so that a new one cannot be left out of the check.
        let LostPieces {
            read,
            untold,
            told_at,
        } = self;
        read.is_none() && untold.is_none() && told_at.is_none()
    }

    /// For a periodic sweep at `now`: forgets when the window was last told once a telling is
    /// due again by it (`Conversation::not_read_due`: [`NOT_READ_INTERVAL_SECS`] passed),
    /// which then reads as never told. Kept while the interval runs, and when the clock went
    /// back before it (as everywhere: a clock set back keeps its stamps). For any later call
    /// at `now` or after, due either way.
    pub(super) fn tidy(&mut self, now: u64) {
        if self
            .told_at
            .is_some_and(|t| interval_passed(t, NOT_READ_INTERVAL_SECS, now))
        {
            self.told_at = None;
        }
    }
}

impl ColdSlot {
    /// The data message `m` was read (it authenticated): told at the end of the line received
    /// ([`Conversation::tell_lost_pieces`]). Only noted where pieces may be buffered: with no
    /// rarely used parts there are none, so no line can be overtaken (and reading a data line
    /// makes no box).
    pub(super) fn note_read(&mut self, m: &DataMessage) {
        if let Some(cold) = self.get_mut() {
            cold.lost.read = Some(DataHead::of(m));
        }
    }
}

impl Conversation {
    /// Whether the transport delivers one sender's lines in the order they were sent, so that a
    /// data line read means every earlier line of its sender has come (IRC: one TCP stream
    /// through servers that relay in order; XMPP: RFC 6120 §10.1). Then a partial line whose
    /// first piece names an earlier message of the same session and ratchet chain is lost as
    /// soon as that later line is read, not 300 s on. Not for transports that reorder (SMS,
    /// SIP over UDP). Set by the host; not saved.
    pub fn set_in_order(&mut self, in_order: bool) {
        self.in_order = in_order;
    }

    /// Whether lines lost in pieces are there to tell at `now_secs` ([`Self::tell_incomplete`]):
    /// for a periodic sweep, so that a line that never completes is told without another line
    /// coming. Drops the partial lines that are too old (as [`Conversation::tick`] does). Cheap:
    /// nothing is allocated while nothing is lost.
    pub fn pieces_to_tell(&mut self, now_secs: u64) -> bool {
        let Some(cold) = self.cold.get_mut() else {
            return false;
        };
        cold.reassembler.expire(now_secs);
        let due = cold.reassembler.has_lost()
            || (cold.lost.untold.is_some() && Self::not_read_due(cold.lost.told_at, now_secs))
            || (!cold.unanswered.is_empty() && self.not_read_budget_at(now_secs));
        // A partial line dropped without a word (its candidates were all tried) may leave
        // nothing.
        self.cold.settle();
        due
    }

    /// Tells the lines lost in pieces at `now_secs`: one window line
    /// ([`UnreadableReason::Incomplete`]) and the not-read notices to send. Changes no saved
    /// state.
    pub fn tell_incomplete(&mut self, now_secs: u64) -> ReceiveOutcome {
        self.now = now_secs;
        if let Some(cold) = self.cold.get_mut() {
            cold.reassembler.expire(now_secs);
        }
        let mut out = ReceiveOutcome::swallow();
        self.tell_lost_pieces(&mut out);
        self.cold.settle();
        out
    }

    /// Adds to `out` what the lines lost so far call for (the end of every line received, and
    /// [`Self::tell_incomplete`]).
    pub(super) fn tell_lost_pieces(&mut self, out: &mut ReceiveOutcome) {
        // Nothing of it without the rarely used parts: no pieces, nothing untold.
        let in_order = self.in_order;
        let Some(cold) = self.cold.get_mut() else {
            return;
        };
        if let Some(read) = cold.lost.read.take() {
            if in_order {
                cold.reassembler.abandon(|first| {
                    data_head(first).is_some_and(|h| {
                        h.session_id == read.session_id
                            && h.ratchet_key == read.ratchet_key
                            && h.index < read.index
                    })
                });
            }
        }
        if cold.reassembler.has_lost() {
            for line in cold.reassembler.take_lost() {
                self.lost_line(&line, out);
            }
        }
        self.answer_deferred(out);
        let now = self.now;
        let Some(lost) = self.cold.get_mut().map(|c| &mut c.lost) else {
            return;
        };
        if let Some(asked) = lost.untold {
            if Self::not_read_due(lost.told_at, now) {
                lost.untold = None;
                lost.told_at = Some(now);
                out.events.push(Event::Unreadable {
                    reason: UnreadableReason::Incomplete { asked },
                });
            }
        }
    }

    /// One lost line: the notices for the messages its first piece names, and whether the
    /// window is to be told.
    fn lost_line(&mut self, line: &LostLine, out: &mut ReceiveOutcome) {
        let mut tell =
            line.firsts.is_empty() && (self.phase.session().is_some() || self.previous.is_some());
        let mut asked = false;
        let mut named: Vec<MessageRef> = Vec::new();
        for first in &line.firsts {
            let Some(head) = data_head(first).filter(|h| self.may_still_read(h)) else {
                continue;
            };
            tell = true;
            let id = head.reference();
            if named.contains(&id) {
                continue;
            }
            named.push(id);
            if self.not_read_notice_left(self.now) {
                out.inject.push(id.incomplete_line());
                asked = true;
            }
        }
        if tell {
            let lost = &mut self.cold.make().lost;
            let before = lost.untold.unwrap_or(false);
            lost.untold = Some(before || asked);
        }
    }

    /// Whether the message `head` names is one of the current or the previous session's that
    /// was not read (`DoubleRatchet::may_read`).
    fn may_still_read(&self, head: &DataHead) -> bool {
        [self.phase.session(), self.previous.as_deref()]
            .into_iter()
            .flatten()
            .any(|s| s.id == head.session_id && s.ratchet.may_read(&head.ratchet_key, head.index))
    }
}
