//! [`ColdSlot`]: the parts of a [`Conversation`](super::Conversation) that an established,
//! idle session does not use, kept out of line.
//!
//! Text held for a session, text to send again, pieces of long lines, a question-and-answer
//! run, a start kept or held back, the clocks of the notices a conversation sends: each is
//! empty in a session that only exchanges messages, and most conversations in memory are such
//! sessions. Inline they made a `Conversation` about twice its size; here they cost one pointer
//! until one of them is needed. The box is made on first use (a write of something that is not
//! empty) and dropped when every part is empty again ([`ColdSlot::settle`], at the end of each
//! public call that may empty it), so a session that goes back to exchanging messages leaves
//! nothing allocated for them. Reading a part never makes the box: with none, every part reads
//! as empty. Nothing here is in the hot paths (sending a text in an established session,
//! reading a data line), which neither make nor look into the box, beyond one check that it
//! is absent.
//!
//! Some parts do not become empty by themselves once set (when a notice window or the last
//! retry began; the lines put together lately, which recognise a replay of their pieces): the
//! host's periodic sweep forgets them once their time is over ([`ColdSlot::tidy`]), where a
//! later call does the same with them as without them, and the box then goes.

use std::collections::VecDeque;

use super::pieces::LostPieces;
use super::verification::Verification;
use super::{HANDSHAKE_TIMEOUT_SECS, NOT_READ_INTERVAL_SECS};
use crate::protocol::clock::interval_passed;
use crate::protocol::fragment::Reassembler;
use crate::protocol::handshake::Initiator;
use crate::protocol::secret::SecretString;
use crate::protocol::wire::{InitMessage, MessageRef};

/// What reads as the held texts while there is no box.
static NO_TEXTS: VecDeque<SecretString> = VecDeque::new();
/// What reads as the texts to send again while there is no box.
static NO_RESEND: VecDeque<WaitingResend> = VecDeque::new();

/// A message a not-read notice named, waiting to be sent again (PROTOCOL.md §2.2): over a
/// session up after the notice, never over the one it was lost in nor the one current then (a
/// notice is unauthenticated: a forged one names a message the peer did read, and sending it
/// again in a session that goes on would have it shown twice).
pub struct WaitingResend {
    /// The text (wiped on drop).
    pub text: SecretString,
    /// The `sid` of the session it was lost in, which never carries it again; `None` when
    /// that is not known.
    pub lost_in: Option<[u8; 4]>,
    /// The `sid` of the session current when it began to wait here, which never carries it
    /// either (it was up before: not a new one); `None` when there was none or it is not
    /// known. With both `None` (a text a failed save's undone operation had sent again) any
    /// session that may send carries it.
    pub since: Option<[u8; 4]>,
}

/// The rarely used parts of a conversation (see the module's text).
#[derive(Default)]
pub(super) struct Cold {
    /// Typed text held until a session can take it, oldest first (saved).
    pub(super) queue: VecDeque<SecretString>,
    /// Messages a not-read notice named, to send again once a new session is up (at most
    /// [`SENT_KEPT`](super::SENT_KEPT)). In memory only, wiped; never saved.
    pub(super) resend: VecDeque<WaitingResend>,
    /// Pieces of long lines, until each line is whole. Not saved.
    pub(super) reassembler: Reassembler,
    /// Lines lost in pieces, to tell (`pieces.rs`). Not saved.
    pub(super) lost: LostPieces,
    /// A question-and-answer run (`verification.rs`). Not saved.
    pub(super) verification: Verification,
    /// The handshake of the start of ours that lapsed and set `Conversation::start_lapsed`,
    /// kept (in memory) while no other handshake is in flight: the peer's client may answer it
    /// late (it came online after the timeout, and its server handed it the start it kept),
    /// and that answer completes it. Only the newest start is kept: any new handshake drops
    /// it, since the peer answers the starts its server kept oldest first, the newest last.
    /// Not saved.
    pub(super) lapsed_start: Option<Box<Initiator>>,
    /// When a start was last tried again without the user typing (`Conversation::retry_start`:
    /// a late answer that completed nothing, the contact's client seen coming online): at most
    /// once per [`HANDSHAKE_TIMEOUT_SECS`]. Not saved.
    pub(super) retried_at: Option<u64>,
    /// The newest start (`?S1I`) that came while the answer window's answers were spent: it
    /// is answered once the window is over (`Conversation::answer_held_back`). A client coming
    /// online is handed every start its server kept, oldest first, and the newest is the one
    /// its sender waits for. Not saved.
    pub(super) held_back_init: Option<InitMessage>,
    /// The current window of not-read notices this side sent
    /// ([`NOT_READ_NOTICES`](super::NOT_READ_NOTICES) per [`NOT_READ_INTERVAL_SECS`]: its
    /// start and the notices sent in it), and when it last showed one about a message it no
    /// longer remembers. Not saved.
    pub(super) not_read_at: (Option<(u64, u32)>, Option<u64>),
    /// The current window of not-read notices about data lines that came during a handshake
    /// ([`UNFINISHED_NOTICES`](super::UNFINISHED_NOTICES) per [`NOT_READ_INTERVAL_SECS`]):
    /// its start and the notices sent in it. Not saved.
    pub(super) unfinished_notices: (u64, u32),
    /// The data message of the line being received that named no session we know, and whether
    /// it came while this side waited as responder for `?S1C` (set while receiving, taken
    /// when the outcome is final).
    pub(super) unknown: Option<(MessageRef, bool)>,
    /// Data messages of no session we know that came while the not-read notices' window was
    /// spent, oldest first (at most [`UNANSWERED_KEPT`], each once): each is answered as the
    /// budget allows again (at the next line, or the periodic sweep). Not saved.
    pub(super) unanswered: VecDeque<MessageRef>,
}

/// Messages of no session kept to be answered once the not-read budget allows: a burst of up
/// to 64 lines (a released hold) typed to a client that lost its state is each named.
pub(super) const UNANSWERED_KEPT: usize = 64;

impl Cold {
    /// Whether every part is as a new conversation has it, so dropping the box loses nothing.
    fn is_empty(&self) -> bool {
        // Every field named, so that a new one cannot be left out of the check.
        let Cold {
            queue,
            resend,
            reassembler,
            lost,
            verification,
            lapsed_start,
            retried_at,
            held_back_init,
            not_read_at,
            unfinished_notices,
            unknown,
            unanswered,
        } = self;
        queue.is_empty()
            && resend.is_empty()
            && reassembler.holds_nothing()
            && lost.is_empty()
            && !verification.running()
            && lapsed_start.is_none()
            && retried_at.is_none()
            && held_back_init.is_none()
            && *not_read_at == (None, None)
            && *unfinished_notices == (0, 0)
            && unknown.is_none()
            && unanswered.is_empty()
    }

    /// For a periodic sweep at `now`: each clock whose interval is over is set back to what a
    /// new conversation has, where every later call at `now` or after does the same with
    /// either (read at each use, named below); the reassembler forgets the lines put together
    /// long ago ([`Reassembler::tidy`]). A stamp later than `now` (the clock was set back) is
    /// kept: only the stamp tells when its interval ends. (A later call with the clock set
    /// back below `now` but not below a stamp forgotten would find its interval over, as it
    /// would below the stamp.)
    fn tidy(&mut self, now: u64) {
        // Every field named, so that a new one is thought about here too.
        let Cold {
            // Texts, a run, starts and the line being received: their own calls empty them.
            queue: _,
            resend: _,
            verification: _,
            lapsed_start: _,
            held_back_init: _,
            unknown: _,
            // Answered as the budget allows (`Conversation::answer_deferred`).
            unanswered: _,
            reassembler,
            lost,
            retried_at,
            not_read_at,
            unfinished_notices,
        } = self;
        reassembler.tidy(now);
        lost.tidy(now);
        // `Conversation::retry_start`: recent while `now >= at` and less than
        // HANDSHAKE_TIMEOUT_SECS after it; once that passed, never recent again, as `None`.
        if retried_at.is_some_and(|at| interval_passed(at, HANDSHAKE_TIMEOUT_SECS, now)) {
            *retried_at = None;
        }
        // `Conversation::not_read_notice_left`: a window whose start is due again by
        // `not_read_due` is replaced by a new one at the next notice, as `None` is.
        if not_read_at
            .0
            .is_some_and(|(start, _)| interval_passed(start, NOT_READ_INTERVAL_SECS, now))
        {
            not_read_at.0 = None;
        }
        // `Conversation::on_not_read`: a notice about a message no longer remembered is due
        // again once the interval passed, as with `None`.
        if not_read_at
            .1
            .is_some_and(|t| interval_passed(t, NOT_READ_INTERVAL_SECS, now))
        {
            not_read_at.1 = None;
        }
        // `Conversation::unfinished_notice_left`: a window due again by `not_read_due` starts
        // anew at the next notice; `(0, 0)` is due too at any time this one is (the count
        // alone, added to after a check, is compared only within a window not due).
        if interval_passed(unfinished_notices.0, NOT_READ_INTERVAL_SECS, now) {
            *unfinished_notices = (0, 0);
        }
    }
}

/// The box of a conversation's [`Cold`] parts, absent while they are all empty.
#[derive(Default)]
pub(super) struct ColdSlot(Option<Box<Cold>>);

impl ColdSlot {
    /// The parts, if any is in use.
    pub(super) fn get(&self) -> Option<&Cold> {
        self.0.as_deref()
    }

    /// The parts, if any is in use, to change (without making the box: for a write that
    /// empties or resets).
    pub(super) fn get_mut(&mut self) -> Option<&mut Cold> {
        self.0.as_deref_mut()
    }

    /// The parts, the box made if there is none: for a write of something that is not empty.
    pub(super) fn make(&mut self) -> &mut Cold {
        self.0.get_or_insert_with(Box::default)
    }

    /// Drops the box if every part is empty again.
    pub(super) fn settle(&mut self) {
        if self.0.as_deref().is_some_and(Cold::is_empty) {
            self.0 = None;
        }
    }

    /// For the host's periodic sweep at `now_secs`: forgets what is over ([`Cold::tidy`]:
    /// what no later call would use differently), then drops the box if every part is empty.
    pub(super) fn tidy(&mut self, now_secs: u64) {
        if let Some(cold) = self.get_mut() {
            cold.tidy(now_secs);
        }
        self.settle();
    }

    /// Whether the box exists (tests: it goes when it empties).
    #[cfg(test)]
    pub(super) fn is_made(&self) -> bool {
        self.0.is_some()
    }

    /// The typed texts held for a session, oldest first.
    pub(super) fn queue(&self) -> &VecDeque<SecretString> {
        self.get().map_or(&NO_TEXTS, |c| &c.queue)
    }

    /// The texts waiting to be sent again over the next session, oldest first.
    pub(super) fn resend(&self) -> &VecDeque<WaitingResend> {
        self.get().map_or(&NO_RESEND, |c| &c.resend)
    }

    /// The held texts, taken out (none are left).
    pub(super) fn take_queue(&mut self) -> VecDeque<SecretString> {
        self.get_mut()
            .map(|c| std::mem::take(&mut c.queue))
            .unwrap_or_default()
    }

    /// The texts waiting to be sent again, taken out (none are left).
    pub(super) fn take_resend(&mut self) -> VecDeque<WaitingResend> {
        self.get_mut()
            .map(|c| std::mem::take(&mut c.resend))
            .unwrap_or_default()
    }

    /// The oldest held text, taken out.
    pub(super) fn pop_queue(&mut self) -> Option<SecretString> {
        self.get_mut()?.queue.pop_front()
    }

    /// The oldest text waiting to be sent again, taken out.
    pub(super) fn pop_resend(&mut self) -> Option<WaitingResend> {
        self.get_mut()?.resend.pop_front()
    }

    /// The newest text waiting to be sent again that equals `text`, dropped.
    pub(super) fn forget_resend(&mut self, text: &str) {
        if let Some(c) = self.get_mut() {
            if let Some(i) = c.resend.iter().rposition(|w| w.text.as_str() == text) {
                c.resend.remove(i);
            }
        }
    }

    /// Whether a question-and-answer run is under way.
    pub(super) fn verification_running(&self) -> bool {
        self.get().is_some_and(|c| c.verification.running())
    }

    /// Whether our answer to the peer's question left and its result is awaited.
    pub(super) fn verification_replied(&self) -> bool {
        self.get().is_some_and(|c| c.verification.replied())
    }

    /// Ends a question-and-answer run without a message (a new session, a stop).
    pub(super) fn reset_verification(&mut self) {
        if let Some(c) = self.get_mut() {
            c.verification.reset();
        }
    }

    /// The handshake of a lapsed start of ours, kept for a late answer.
    pub(super) fn lapsed_start(&self) -> Option<&Initiator> {
        self.get()?.lapsed_start.as_deref()
    }

    /// What a session that ends, or is forgotten, leaves nothing of: a lapsed start kept, a
    /// start held back, the lines lost in pieces to tell, a question-and-answer run.
    pub(super) fn end_session(&mut self) {
        if let Some(c) = self.get_mut() {
            c.lapsed_start = None;
            c.held_back_init = None;
            c.lost = LostPieces::default();
            c.verification.reset();
        }
    }

    /// Drops a lapsed start kept, and a start held back (the handshake they wait for is over
    /// or replaced).
    pub(super) fn drop_starts(&mut self) {
        if let Some(c) = self.get_mut() {
            c.lapsed_start = None;
            c.held_back_init = None;
        }
    }

    /// Drops a lapsed start kept (a newer handshake: only it may complete).
    pub(super) fn drop_lapsed_start(&mut self) {
        if let Some(c) = self.get_mut() {
            c.lapsed_start = None;
        }
    }

    /// Sets the data message of the line being received that named no session (`None`
    /// without making the box).
    pub(super) fn set_unknown(&mut self, unknown: Option<(MessageRef, bool)>) {
        match unknown {
            Some(u) => self.make().unknown = Some(u),
            None => {
                if let Some(c) = self.get_mut() {
                    c.unknown = None;
                }
            }
        }
    }

    /// The data message of the line being received that named no session, taken out.
    pub(super) fn take_unknown(&mut self) -> Option<(MessageRef, bool)> {
        self.get_mut()?.unknown.take()
    }

    /// Keeps `id` to be answered once the not-read budget allows: once, and not past
    /// [`UNANSWERED_KEPT`] (a full list takes no more: made-up lines coming after cannot push
    /// a genuine one out).
    pub(super) fn defer_not_read(&mut self, id: MessageRef) {
        let c = self.make();
        if c.unanswered.len() < UNANSWERED_KEPT && !c.unanswered.contains(&id) {
            c.unanswered.push_back(id);
        }
    }

    /// `id` was answered: it no longer waits to be.
    pub(super) fn answered(&mut self, id: &MessageRef) {
        if let Some(c) = self.get_mut() {
            c.unanswered.retain(|u| u != id);
        }
    }

    /// Whether messages wait to be answered.
    pub(super) fn has_unanswered(&self) -> bool {
        self.get().is_some_and(|c| !c.unanswered.is_empty())
    }

    /// The oldest message waiting to be answered, taken out.
    pub(super) fn pop_unanswered(&mut self) -> Option<MessageRef> {
        self.get_mut()?.unanswered.pop_front()
    }
}
