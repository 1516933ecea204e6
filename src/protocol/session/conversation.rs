//! [`Conversation`]: the transitions of one conversation's state machine, driven by user
//! actions and incoming lines.
//!
//! Where it stands is one [`Phase`]. Two things live beside the phase because they outlast
//! phases: the previous session (late messages of a re-keyed session still decrypt) and the
//! sending block of a changed peer key (it survives the peer ending the session and a restart,
//! until the user accepts the key or stops).

use std::collections::VecDeque;
use std::mem;

use rand_core::CryptoRngCore;
use zeroize::Zeroize;

use super::cold::{ColdSlot, WaitingResend};
use super::events::{
    Event, HoldReason, ReadMessage, ReceiveAction, ReceiveOutcome, SendAction, SendOutcome,
    UnreadableReason, UnsentReason,
};
use super::phase::{Handshake, Phase, Session};
use super::verification::{Channel, Verification};
use super::{
    ConvState, Policy, DEFAULT_MAX_LINE, HANDSHAKE_TIMEOUT_SECS, KIND_END, KIND_TEXT,
    MAX_KNOWN_KEYS, MAX_PLAINTEXT, MAX_QUEUE, NOT_READ_INTERVAL_SECS, NOT_READ_NOTICES,
    RESERVE_AHEAD, SENT_KEPT, SENT_KEPT_SECS, UNFINISHED_NOTICES,
};
use crate::protocol::clock::older_than;
use crate::protocol::fragment::{self, Lines};
use crate::protocol::identity::{IdentityKey, IdentityPublic};
use crate::protocol::names::Names;
use crate::protocol::secret::SecretString;
use crate::protocol::wire::{
    data_ref_from_head, DecodeError, MessageRef, WireMessage, REUSED_KEPT,
};

/// One conversation with one peer.
pub struct Conversation {
    pub(super) identity: IdentityKey,
    pub(super) tag: u32,
    pub(super) policy: Policy,
    pub(super) max_line: usize,
    pub(super) peer_supports: bool,
    pub(super) phase: Phase,
    /// Nothing typed is sent, even while encrypted (the peer's key changed, not yet accepted).
    pub(super) blocked: bool,
    /// The peer's client that holds the current session went offline (the host saw it go):
    /// what is typed is held, since lines sent now would reach a client of the peer that cannot
    /// read them. Cleared by a line that authenticates (a data line read in the current
    /// session, a handshake that completes) or by the host seeing that client back. No bit of
    /// its own in a snapshot (the format does not change): a restore sets it where text is held
    /// in a session that is up and not blocked, which only this hold leaves.
    pub(super) holder_away: bool,
    /// `blocked` came from names that did not match (the handshake's `NamesMismatch`: the
    /// names it stated), not from a key the user has not accepted, nor from outside: what the
    /// window says of the hold, and the dialog the menu opens again. Memory only (the snapshot
    /// format does not change): after a restore such a hold is told as a key's.
    pub(super) names_held: Option<crate::protocol::names::NameMismatch>,
    /// The session before a re-key, for messages still in flight (boxed: usually empty).
    pub(super) previous: Option<Box<Session>>,
    /// What an established, idle session does not use (held text, pieces of long lines, a
    /// verification, starts kept, the notices' clocks...): boxed, and only while one of them
    /// is in use (`cold.rs`).
    pub(super) cold: ColdSlot,
    /// The transport delivers one sender's lines in the order they were sent (set by the host,
    /// [`Conversation::set_in_order`]). Not saved.
    pub(super) in_order: bool,
    /// Peer identity keys the user has accepted (first use, or acknowledged after a change).
    pub(super) known_keys: Vec<IdentityPublic>,
    /// Who this side is and talks to, stated in our handshake payloads and compared with what
    /// the peer states (`crate::protocol::names`). Set by the host before each call; not saved.
    pub(super) names: Names,
    /// The host's clock at the last [`Conversation::tick`] (seconds). Not saved.
    pub(super) now: u64,
    /// When the handshake in flight began (or was first seen after a restore). Not saved: after
    /// a restart a pending handshake gets a full timeout again.
    pub(super) handshake_since: Option<u64>,
    /// When this side first answered the start of the peer's client whose start it answers now
    /// (a repeat of the same client's start keeps it; each answer still gets its own
    /// `handshake_since` to be confirmed). Meaningful only while a passive handshake is in
    /// flight ([`Conversation::answering_too_long`]). Not saved.
    pub(super) answering_since: Option<u64>,
    /// The handshake in flight was not asked for here: it answers a peer's unauthenticated query
    /// or init. It does not hold what the user types (the conversation stays as it was until it
    /// completes), so an injected start cannot stall anyone. Not saved.
    pub(super) handshake_passive: bool,
    /// A start this side asked for (`/sotto start`, or a policy) lapsed unanswered: the user
    /// expects encryption, so until a session is up or the user ends the conversation
    /// (`/sotto stop`), what is typed is held and the start tried again, as when messages are
    /// still held. Saved.
    pub(super) start_lapsed: bool,
    /// The handshake of ours in flight is such a retry: its lapse is not told (nothing changed
    /// for the user, told at the first lapse; a server inventing presences must not have a
    /// "did not start" line said every two minutes). Not saved.
    pub(super) retrying: bool,
    /// When this side completed the current session as initiator (on the peer's `?S1R`, which
    /// the peer may have dropped since: it stopped): an end in the previous session within
    /// [`HANDSHAKE_TIMEOUT_SECS`] of it, before anything was read in the current one, ends
    /// the current one too. Not saved (after a restart such an end is ignored, as before).
    pub(super) initiated_at: Option<u64>,
    /// The current answer window's start and the answers sent in it (a query or an init
    /// answered). Not saved.
    pub(super) answers: (u64, u32),
    /// Text messages sent lately, for a not-read notice to name (at most [`SENT_KEPT`], for
    /// [`SENT_KEPT_SECS`]). In memory only, wiped when dropped; never saved.
    pub(super) sent: VecDeque<SentText>,
    /// The line being received was addressed to another client of this account
    /// ([`Conversation::receive_for_another_client`]): a data line it carries never overtook a
    /// handshake of ours. Set while receiving only.
    pub(super) for_another_client: bool,
    /// The line being received was kept by the server while this side was offline
    /// ([`Conversation::receive_kept`]): it says nothing about whether its sender's client is
    /// there now. Set while receiving only.
    pub(super) kept: bool,
    /// A key seen for the first time is accepted (trust on first use). Off for a session with
    /// another client of a contact the user already accepted a key of: a second client's key
    /// waits for the user like a changed key. Set by the host; not saved.
    pub(super) first_use: bool,
    /// No key is accepted on first use until one is accepted here where none was (then
    /// cleared): a rename brought the conversation to a name whose keys were not its
    /// contact's, or moved it on from one ([`Conversation::refuse_first_use`]). Saved
    /// (snapshot flag 32).
    pub(super) first_use_refused: bool,
    /// The buffer the last data line read was decoded in, for the next one: ciphertext only
    /// (a message is decrypted into a buffer of its own). Not saved.
    pub(super) received: Vec<u8>,
}

/// The message a data line (or the first piece of one) names by its header.
fn line_ref(line: &str) -> Option<MessageRef> {
    match WireMessage::decode(line).ok()? {
        WireMessage::Data(m) => Some(MessageRef::of(&m)),
        WireMessage::Fragment(f) if f.index == 0 => data_ref_from_head(&f.chunk),
        _ => None,
    }
}

/// What a data line handed back undelivered names ([`Conversation::handed_back`]).
pub enum HandedBack {
    /// No message this side remembers sending (forged, or from before a restart or long ago).
    Unknown,
    /// A message sent, not yet told as handed back: its text while it is kept.
    First(Option<SecretString>),
    /// A message already told as handed back ([`Conversation::told_handed_back`]).
    Again,
}

/// A text message this side sent, remembered for a while in memory.
pub(super) struct SentText {
    at: u64,
    id: MessageRef,
    /// `None` once a not-read notice named it: shown once, then wiped.
    text: Option<SecretString>,
    /// A second sending of a message a not-read notice named (at once over the same session,
    /// or by itself over a session up after the notice, PROTOCOL.md §2.2): never sent a third
    /// time (a notice naming it only names it as not read).
    again: bool,
    /// Sent before anything was read in its session: only such a message can have overtaken
    /// the handshake's last line, so only such a message is sent again at once over the same
    /// session (a forged notice cannot have the whole conversation repeated).
    unanswered: bool,
    /// Told as handed back undelivered ([`Conversation::told_handed_back`]): not told again.
    told: bool,
}

impl core::fmt::Debug for Conversation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Conversation")
            .field("state", &self.state())
            .field("policy", &self.policy)
            .field("queued", &self.cold.queue().len())
            .finish_non_exhaustive()
    }
}

/// Largest buffer kept between data lines read (`Conversation::received`): the one the wire
/// codec hands back after a line it could not decode.
const RECEIVED_KEPT: usize = REUSED_KEPT;

impl Conversation {
    /// A conversation in plaintext. `instance_tag` is this client's non-zero tag.
    pub fn new(identity: IdentityKey, instance_tag: u32, policy: Policy) -> Self {
        Self {
            identity,
            tag: instance_tag,
            policy,
            max_line: DEFAULT_MAX_LINE,
            peer_supports: false,
            phase: Phase::Plaintext,
            blocked: false,
            holder_away: false,
            names_held: None,
            previous: None,
            cold: ColdSlot::default(),
            in_order: false,
            known_keys: Vec::new(),
            names: Names::default(),
            now: 0,
            handshake_since: None,
            answering_since: None,
            handshake_passive: false,
            start_lapsed: false,
            retrying: false,
            initiated_at: None,
            answers: (0, 0),
            sent: VecDeque::new(),
            for_another_client: false,
            kept: false,
            first_use: true,
            first_use_refused: false,
            received: Vec::new(),
        }
    }

    /// Lets go of the buffers kept for the next message: the one the last data line read was
    /// decoded in, and each session's the last message sent was sealed in. They exist so that
    /// a burst costs no allocation per message; a conversation that went idle does not need
    /// them, and after a long message they can hold up to 16 KiB each. The list of texts sent
    /// lately keeps its texts but gives back the room it does not use. Changes nothing else:
    /// the next line read or message sent allocates its buffer again. For the host's periodic
    /// sweep (`Sessions::sweep`), never per message.
    pub fn release_buffers(&mut self) {
        self.received = Vec::new();
        self.sent.shrink_to_fit();
        for s in [self.phase.session_mut(), self.previous.as_deref_mut()]
            .into_iter()
            .flatten()
        {
            s.ratchet.release_buffer();
        }
    }

    /// For the host's periodic sweep at `now_secs` (`Sessions::sweep`), never per message:
    /// lets go of the buffers kept for the next message ([`Self::release_buffers`]), forgets
    /// the texts sent more than [`SENT_KEPT_SECS`] before `now_secs` (their keeping time is
    /// over: a not-read notice or a bounce can no longer name them) and, in the rarely used
    /// parts, the clocks whose interval is over and the lines put together from pieces long
    /// ago ([`fragment::COMPLETED_KEPT_SECS`]), then drops those parts if nothing is left in
    /// them. What any later call at `now_secs` or after does is unchanged (a clock stamped
    /// after `now_secs`, set back since, is kept): an idle session goes back to what it holds
    /// after a handshake, but for the parts kept by design while in use (texts waiting in the
    /// resend queue for the next session, a verification run, a lapsed start, held texts).
    /// The conversation's own clock (the last line's) is left as it is.
    pub fn tidy(&mut self, now_secs: u64) {
        self.forget_sent_before(now_secs);
        self.release_buffers();
        self.cold.tidy(now_secs);
    }

    /// Whether a peer key seen for the first time is accepted on first use (the default), or
    /// waits for the user like a changed key (`false`: a contact's other client).
    pub fn set_first_use(&mut self, allowed: bool) {
        self.first_use = allowed;
    }

    /// No key is accepted on first use in this conversation, also after a restart, until a key
    /// is accepted in it where it had none: it holds another contact's conversation (renamed
    /// onto a name whose keys are another's), or a session on a key its name did not accept,
    /// moved on by a rename to a name that took none of the old one's keys
    /// (`Sessions::rename`).
    pub fn refuse_first_use(&mut self) {
        self.first_use_refused = true;
    }

    /// Whether [`Self::refuse_first_use`] holds (no key accepted here since).
    pub fn first_use_refused(&self) -> bool {
        self.first_use_refused
    }

    /// Whether a previous session on a key the user accepted is kept (it still decrypts):
    /// after an end on a key the user had not accepted, the contact's own session stays
    /// (PROTOCOL.md §4).
    pub fn keeps_accepted_previous(&self) -> bool {
        self.previous
            .as_ref()
            .is_some_and(|p| self.known_keys.contains(&p.peer))
    }

    /// Gives the current session the id `sid` (a test forcing two sessions to share one, as a
    /// forged re-key that ground a colliding id would).
    #[cfg(test)]
    pub(crate) fn force_session_id(&mut self, sid: [u8; 4]) {
        if let Some(s) = self.phase.session_mut() {
            s.id = sid;
        }
    }

    /// Lines of one data message of inner type `kind` with `content` in the current session (a
    /// test playing a peer that sends what its own user interface never would).
    #[cfg(test)]
    pub(crate) fn seal_inner(
        &mut self,
        kind: u8,
        content: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Vec<String> {
        let max_line = self.max_line;
        self.phase
            .session_mut()
            .and_then(|s| s.seal(kind, content, max_line, rng))
            .map(Vec::from)
            .unwrap_or_default()
    }

    /// The current session's id (tests).
    #[cfg(test)]
    pub(crate) fn session_id(&self) -> Option<[u8; 4]> {
        self.phase.session().map(|s| s.id)
    }

    /// Whether the rarely used parts are in use (tests: the sweep's tidy drops their box).
    #[cfg(test)]
    pub(crate) fn cold_is_made(&self) -> bool {
        self.cold.is_made()
    }

    /// How many texts sent are remembered (tests: the sweep's tidy forgets old ones).
    #[cfg(test)]
    pub(crate) fn sent_remembered(&self) -> usize {
        self.sent.len()
    }

    /// The messages `text` went in, newest first, while remembered (the contact's clients:
    /// which copy of one typed message each client was sent).
    pub(crate) fn sent_ids<'a>(&'a self, text: &'a str) -> impl Iterator<Item = MessageRef> + 'a {
        self.sent
            .iter()
            .rev()
            .filter(move |s| s.text.as_ref().is_some_and(|t| t.as_str() == text))
            .map(|s| s.id)
    }

    /// Whether the message `id` was sent here lately, the first time its text went (not a
    /// second sending of a message a notice named), and is remembered (named or not).
    pub(crate) fn remembers_first_sending(&self, id: &MessageRef) -> bool {
        self.sent
            .iter()
            .any(|s| s.id == *id && !s.again && !older_than(s.at, SENT_KEPT_SECS, self.now))
    }

    /// The longest wire line this conversation makes.
    pub(crate) fn max_line(&self) -> usize {
        self.max_line
    }

    /// Whether `sid` names this conversation's current or previous session: the data message
    /// carrying it is this conversation's to read.
    pub fn has_session(&self, sid: [u8; 4]) -> bool {
        self.phase.session().is_some_and(|s| s.id == sid)
            || self.previous.as_ref().is_some_and(|s| s.id == sid)
    }

    /// The names this side states in handshakes and checks the peer's against: its own name
    /// and the peer's, as the host normalizes them (empty: not known).
    pub fn set_names(&mut self, names: Names) {
        self.names = names;
    }

    /// The peer keys accepted so far (most recent last).
    pub fn known_peer_keys(&self) -> &[IdentityPublic] {
        &self.known_keys
    }

    /// Replaces the accepted peer keys (e.g. after the user forgot one in the key list).
    pub fn set_known_peer_keys(&mut self, keys: Vec<IdentityPublic>) {
        self.known_keys = keys;
        let excess = self.known_keys.len().saturating_sub(MAX_KNOWN_KEYS);
        self.known_keys.drain(..excess);
    }

    pub(super) fn remember_key(&mut self, key: IdentityPublic) {
        // A refusal of first use ends with the first key accepted where none was: accepted
        // beside another contact's keys (the name a rename brought it to), the name still holds
        // keys that are not its contact's, and a rename on must copy none of them (found by a
        // fourth review).
        if self.known_keys.is_empty() {
            self.first_use_refused = false;
        }
        self.known_keys.retain(|k| *k != key);
        // Exact growth: most peers have one key for life, and idle sessions should stay small.
        self.known_keys.reserve_exact(1);
        self.known_keys.push(key);
        let excess = self.known_keys.len().saturating_sub(MAX_KNOWN_KEYS);
        self.known_keys.drain(..excess);
    }

    /// The user accepts the current session's (changed) peer key: it is remembered and
    /// whatever was held is sent.
    pub fn acknowledge_peer_key(&mut self, rng: &mut impl CryptoRngCore) -> ReceiveOutcome {
        if let Some(peer) = self.peer_identity() {
            self.remember_key(peer);
        }
        self.set_blocked(false, rng)
    }

    /// The question the peer asked, while it waits for our user's answer.
    pub fn pending_question(&self) -> Option<&str> {
        self.cold.get()?.verification.pending_question()
    }

    /// The texts a not-read notice named, waiting to be sent again over the next session
    /// (memory only, never saved), taken out: for a host that reloads this conversation
    /// from disk after a failed save and carries them over ([`Conversation::put_back_resend`]).
    pub fn take_resend(&mut self) -> Vec<WaitingResend> {
        let texts = self.cold.take_resend().into();
        self.cold.settle();
        texts
    }

    /// Puts `texts` (oldest first), taken out with [`Conversation::take_resend`], back in front
    /// of what waits to be sent again, each with the sessions it must not go over: texts of
    /// this same conversation, or of another client's whose client this conversation's current
    /// session now reaches (their sessions are not this one: it may carry them). All are kept,
    /// never dropped without a word; each list was bounded as it grew ([`SENT_KEPT`]), and
    /// the next notice trims the sum (see [`Conversation::take_over_resend`] for texts that
    /// must wait for a later session).
    pub fn put_back_resend(&mut self, texts: Vec<WaitingResend>) {
        if texts.is_empty() {
            return;
        }
        let resend = &mut self.cold.make().resend;
        for text in texts.into_iter().rev() {
            resend.push_front(text);
        }
    }

    /// [`Conversation::put_back_resend`] for texts taken out of another conversation (another
    /// client of the contact that is gone): they wait for a session of this one up after now,
    /// never going over the one current here (it was up before they came).
    pub fn take_over_resend(&mut self, mut texts: Vec<WaitingResend>) {
        let since = self.phase.session().map(|s| s.id);
        for t in &mut texts {
            t.since = since;
        }
        self.put_back_resend(texts);
    }

    /// Ends a question-and-answer verification under way (asked by either side) without a
    /// message, as a restart does (§5.2): whether one was. For a conversation that answers to
    /// another name now: a check made under the old name says nothing about the new one.
    pub fn drop_verification(&mut self) -> bool {
        let running = self.cold.verification_running();
        self.cold.reset_verification();
        self.cold.settle();
        running
    }

    /// Asks the peer `question`; `answer` is what only the real peer should know. Needs an
    /// encrypted session (otherwise only a [`Event::VerificationAborted`]).
    pub fn ask_question(
        &mut self,
        question: &str,
        answer: &str,
        rng: &mut impl CryptoRngCore,
    ) -> ReceiveOutcome {
        // Not while a re-key of our own is under way: the answer would be bound to a session
        // about to be replaced. One this side only answers (an unsolicited `?S1I`, which anyone
        // can inject every two minutes) does not hold the question back: if it does complete,
        // the new session ends the run without a message and the user asks again.
        // Nor while the client holding the session is away: the question would reach a client
        // that cannot read it, and the user would wait for an answer that cannot come.
        let settled = match &mut self.phase {
            _ if self.holder_away => None,
            Phase::Encrypted(s) => Some(&mut **s),
            Phase::Rekeying(s, _) if self.handshake_passive => Some(&mut **s),
            _ => None,
        };
        let channel = Channel::new(settled, &self.identity, self.max_line);
        let out = self
            .cold
            .make()
            .verification
            .ask(channel, question, answer, rng);
        self.cold.settle();
        out
    }

    /// Our user's answer to the peer's pending question. Not while the client holding the
    /// session (the one that asked) is away: the reply would reach a client that cannot read
    /// it, and the run would wait for a result that cannot come. Nothing is sent then and the
    /// question still waits (the caller says so); the user answers again once it is back.
    pub fn answer_question(
        &mut self,
        answer: &str,
        rng: &mut impl CryptoRngCore,
    ) -> ReceiveOutcome {
        if self.holder_away {
            return ReceiveOutcome::swallow();
        }
        let channel = Channel::new(self.phase.session_mut(), &self.identity, self.max_line);
        let Some(cold) = self.cold.get_mut() else {
            // No run at all: nothing to answer (as `Verification::answer` says).
            return ReceiveOutcome::swallow();
        };
        let out = cold.verification.answer(channel, answer, rng);
        self.cold.settle();
        out
    }

    /// Our question (or our answer) did not leave (the transport refused its line: offline):
    /// the run ends here, without a message to the peer, so nothing waits for a message that
    /// cannot come and its secrets go.
    pub fn question_not_sent(&mut self) -> ReceiveOutcome {
        self.drop_verification();
        ReceiveOutcome::swallow()
    }

    /// Whether our answer to the peer's question has left, its result awaited: cancelling
    /// now would end the run here while the asker may already have its result.
    pub fn verification_answered(&self) -> bool {
        self.cold.get().is_some_and(|c| c.verification.replied())
    }

    /// Whether a verification is in progress (our question waiting for its reply, or the
    /// peer's waiting for our answer).
    pub fn verification_running(&self) -> bool {
        self.cold.verification_running()
    }

    /// Abandons a verification in progress (either side); the peer is told.
    pub fn abort_verification(&mut self, rng: &mut impl CryptoRngCore) -> ReceiveOutcome {
        // Not told to a client holding the session that is away: the abort would reach one
        // that cannot read it (as an answer would: `answer_question`). The run ends here.
        let session = match self.phase.session_mut() {
            _ if self.holder_away => None,
            s => s,
        };
        let channel = Channel::new(session, &self.identity, self.max_line);
        let Some(cold) = self.cold.get_mut() else {
            // No run: nothing to abort (as `Verification::abort` says).
            return ReceiveOutcome::swallow();
        };
        let out = cold.verification.abort(channel, rng);
        self.cold.settle();
        out
    }

    /// Whether a start of ours in flight has gone unanswered past the timeout at `now_secs`:
    /// the next [`Conversation::tick`] drops it (and says so). For a periodic sweep, so the
    /// lapse is told when it happens, not at the next line.
    /// A handshake restored from a snapshot (which keeps no clock) starts its timeout now, as
    /// at its first tick; so does one whose start the clock was set back before.
    pub fn start_lapses_at(&mut self, now_secs: u64) -> bool {
        if self.phase.handshake().is_none() || self.handshake_passive {
            return false;
        }
        let since = self.handshake_clock(now_secs);
        older_than(since, HANDSHAKE_TIMEOUT_SECS, now_secs)
    }

    /// The policy in force.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Whether [`Conversation::send`] would let a message go out as plaintext now: no session,
    /// nothing held, no start of ours that lapsed, and a policy that does not start one
    /// (`manual`, or `opportunistic` with a contact not known to run Sotto). What a host asks before it lets a line it does not pass
    /// through `send` (IRC's `/msg`, `/query`) go out unencrypted.
    pub fn sends_plaintext(&self) -> bool {
        self.state() == ConvState::Plaintext
            && self.cold.queue().is_empty()
            && !self.start_lapsed
            && match self.policy {
                Policy::Always => false,
                Policy::Opportunistic => !self.peer_supports,
                Policy::Manual => true,
            }
    }

    /// Whether a start of this side lapsed unanswered with no session since: what is typed is
    /// held and the start tried again until a session is up or the user stops.
    pub fn start_lapsed(&self) -> bool {
        self.start_lapsed
    }

    /// Whether a start was asked for here (by the user or the policy) and is not over: a
    /// handshake of this side's in flight, a start of ours that lapsed, or text held for a
    /// session. An answer to the peer's start or query is none: what a line about a start
    /// (an IRC server saying the contact is gone) may be told against.
    pub fn start_asked(&self) -> bool {
        self.active_handshake() || self.start_lapsed || !self.cold.queue().is_empty()
    }

    /// Whether the start in flight is one tried again without the user (a contact coming online,
    /// a late answer): the user was told at the lapse, and is not told about it again unless
    /// they type meanwhile.
    pub fn start_retrying(&self) -> bool {
        self.retrying && self.active_handshake()
    }

    /// Changes the policy.
    pub fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
    }

    /// Where the conversation stands.
    pub fn state(&self) -> ConvState {
        match self.phase.state() {
            ConvState::Handshaking if self.handshake_passive => ConvState::Plaintext,
            state => state,
        }
    }

    /// Whether a handshake is in flight, also one this side only answers (which [`Self::state`]
    /// does not report).
    pub fn handshake_in_flight(&self) -> bool {
        self.phase.handshake().is_some()
    }

    /// The peer's identity in the current session.
    pub fn peer_identity(&self) -> Option<IdentityPublic> {
        self.phase.session().map(|s| s.peer)
    }

    /// The current session's id (`sid`, the first 4 bytes of its handshake hash) and the peer
    /// instance tag it is bound to: which of the peer's clients holds it.
    pub fn session_instance(&self) -> Option<([u8; 4], u32)> {
        self.phase.session().map(|s| (s.id, s.peer_tag))
    }

    /// Messages waiting to be sent.
    pub fn queued(&self) -> usize {
        self.cold.queue().len()
    }

    /// Takes the messages waiting to be sent back, unsent (for the host to show back to the
    /// user): what was typed for whoever held a name must not go to whoever holds the
    /// conversation after the name changed hands.
    pub fn take_held(&mut self) -> Vec<SecretString> {
        let texts = self.cold.take_queue().into();
        self.cold.settle();
        texts
    }

    /// Puts `texts` (taken with [`Conversation::take_held`], oldest first) back in front of
    /// what is held: the host's operation that took them did not happen.
    pub fn put_back_held(&mut self, texts: Vec<SecretString>) {
        if texts.is_empty() {
            return;
        }
        let queue = &mut self.cold.make().queue;
        for text in texts.into_iter().rev() {
            queue.push_front(text);
        }
    }

    /// Whether sending is blocked (see [`Conversation::set_blocked`]).
    pub fn is_blocked(&self) -> bool {
        self.blocked
    }

    /// The names the session's handshake stated, while sending is held for them (on a key
    /// accepted or not): what the names dialog showed.
    pub fn names_hold(&self) -> Option<&crate::protocol::names::NameMismatch> {
        self.names_held.as_ref().filter(|_| self.blocked)
    }

    /// Whether sending is blocked on a key the user accepted because the names the session's
    /// handshake stated are not the ones this side sees (`names_held`). A changed key whose
    /// names do not match either is held for the key; so is any hold set from outside
    /// ([`Conversation::set_blocked`]: a key forgotten, a rename onto another's name).
    pub fn held_for_names(&self) -> bool {
        self.blocked
            && self.names_held.is_some()
            && self
                .peer_identity()
                .is_some_and(|k| self.known_keys.contains(&k))
    }

    /// Whether the peer is known to run Sotto.
    pub fn peer_supports_sotto(&self) -> bool {
        self.peer_supports
    }

    /// After a send: whether the current session's sending chain is covered by a reservation
    /// the caller has already saved synced (`false`), or one was just made and the caller
    /// must save synced before the lines leave (`true`; also when there is no session, so
    /// nothing is skipped). Sets aside [`RESERVE_AHEAD`] indices at a time, so a burst or a
    /// long conversation needs a synced save once per that many messages; the others may be
    /// committed without waiting for the disk. See `DoubleRatchet::reserve`.
    pub fn reserve_sending(&mut self) -> bool {
        self.phase
            .session_mut()
            .is_none_or(|s| s.ratchet.reserve(RESERVE_AHEAD))
    }

    /// Makes the next snapshot hold the exact sending index (no reservation ahead of it): what a
    /// clean stop saves, so that the next start skips nothing.
    pub fn release_reservation(&mut self) {
        if let Some(s) = self.phase.session_mut() {
            s.ratchet.release();
        }
    }

    /// Records that the peer runs Sotto (from earlier conversations); under `opportunistic`
    /// and for `start`, this sends a handshake start directly instead of a query.
    pub fn set_peer_supports_sotto(&mut self, yes: bool) {
        self.peer_supports = yes;
    }

    /// Maximum characters per wire line for this peer.
    pub fn set_max_line(&mut self, chars: usize) {
        self.max_line = chars.max(fragment::MIN_LINE);
    }

    /// What the fragments buffered cost (tests: bounds and expiry).
    #[cfg(test)]
    pub(crate) fn fragments_buffered(&self) -> usize {
        self.cold.get().map_or(0, |c| c.reassembler.buffered())
    }

    /// The user asked to start (or restart) encryption.
    pub fn start(&mut self, rng: &mut impl CryptoRngCore) -> ReceiveOutcome {
        let mut out = ReceiveOutcome::swallow();
        if self.phase.is_finished() {
            // The user acts: no longer held by the peer's end (our handshake replaces theirs).
            self.phase = Phase::Plaintext;
        }
        self.begin_handshake(&mut out.inject, rng);
        out.events.push(Event::HandshakeStarted);
        // A lapsed start kept is replaced.
        self.cold.settle();
        out
    }

    /// The user asked to end encryption: the peer is told, held messages are handed back.
    pub fn stop(&mut self, rng: &mut impl CryptoRngCore) -> ReceiveOutcome {
        let mut out = ReceiveOutcome::swallow();
        let ended = match mem::replace(&mut self.phase, Phase::Plaintext) {
            Phase::Encrypted(mut s) | Phase::Rekeying(mut s, _) => {
                // An empty message always fits, so `split` cannot refuse it.
                if let Some(lines) = s.seal(KIND_END, &[], self.max_line, rng) {
                    out.inject.extend(lines);
                }
                true
            }
            Phase::Handshaking(_) | Phase::Finished(_) => true,
            Phase::Plaintext => false,
        };
        if ended {
            out.events.push(Event::Ended { by_peer: false });
        }
        self.previous = None;
        self.blocked = false;
        self.names_held = None;
        self.holder_away = false;
        self.start_lapsed = false;
        self.retrying = false;
        // Lines of the session that ended: nobody is asked for them any more (and the
        // transport's order is the host's to say again).
        self.in_order = false;
        self.cold.end_session();
        // "Runs Sotto" was learned from a finished handshake; the user ending it means: do not
        // start again by yourself (under `opportunistic`) until one of us starts.
        self.peer_supports = false;
        // Nothing is sent again after the user ended the conversation: what waited to be sent
        // again (a not-read notice named it, the user was told it would go) is handed back
        // like the held messages, never dropped without a word.
        for waiting in self.cold.take_resend() {
            out.events.push(Event::NotResent {
                text: waiting.text.to_string(),
            });
        }
        for text in self.cold.take_queue() {
            out.events.push(Event::Unsent {
                text: text.to_string(),
                why: UnsentReason::Stopped,
            });
        }
        self.cold.settle();
        out
    }

    /// Forgets the session's keys without telling the peer (no end-of-session message: it would
    /// be encrypted under keys that may have been used). For a conversation restored from a
    /// backup of the store, whose message keys may already have been used on the wire: what is
    /// held stays held, accepted keys stay accepted, and the next handshake starts afresh.
    pub fn forget_session(&mut self) {
        self.phase = match mem::replace(&mut self.phase, Phase::Plaintext) {
            Phase::Finished(_) => Phase::Finished(None),
            _ => Phase::Plaintext,
        };
        self.previous = None;
        self.blocked = false;
        self.names_held = None;
        self.holder_away = false;
        self.handshake_since = None;
        self.handshake_passive = false;
        self.retrying = false;
        // Lines of the forgotten session: its keys are gone, nobody is asked for them (and the
        // transport's order is the host's to say again).
        self.in_order = false;
        self.cold.end_session();
        self.cold.settle();
    }

    /// Sends, if sending is allowed now, what waits to be sent again and may go over the
    /// current session (see [`Conversation::put_back_resend`]): for a host that just put back
    /// texts of a client whose session this one now is.
    pub fn send_waiting(&mut self, rng: &mut impl CryptoRngCore) -> ReceiveOutcome {
        self.flush_if_may_send(rng)
    }

    /// Holds every outgoing message, even while encrypted (e.g. the peer's key changed and
    /// the user has not acknowledged it). Unblocking sends what was held.
    pub fn set_blocked(&mut self, blocked: bool, rng: &mut impl CryptoRngCore) -> ReceiveOutcome {
        self.blocked = blocked;
        self.names_held = None;
        self.flush_if_may_send(rng)
    }

    /// Whether typed text goes out now: a session up, sending not blocked, and its client not
    /// seen going away.
    pub(super) fn may_send(&self) -> bool {
        self.state() == ConvState::Encrypted && !self.blocked && !self.holder_away
    }

    /// Sends what is held and what may go again now ([`Conversation::flush`]) if sending is
    /// allowed, then drops the cold box if that emptied it: the one release path after
    /// unblocking, the holder coming back, or texts put back.
    fn flush_if_may_send(&mut self, rng: &mut impl CryptoRngCore) -> ReceiveOutcome {
        let mut out = ReceiveOutcome::swallow();
        if self.may_send() {
            self.flush(&mut out, rng);
        }
        self.cold.settle();
        out
    }

    /// The host saw the peer's client that holds the current session go offline (`true`), or
    /// come back at the same address (`false`). While it is away, what is typed is held
    /// ([`HoldReason::HolderAway`]), so that nothing goes to a client of the peer that cannot
    /// read it (an XMPP server hands a line for a full JID that has gone to the contact's other
    /// clients). Seen back, what was held is sent, in order, as after
    /// [`Conversation::set_blocked`]. Any line that authenticates in the current session, and
    /// any handshake that completes, clears it too (that is the only release for a client that
    /// comes back under another address: a presence is the server's word, not the peer's).
    ///
    /// Only with a session: with none there is no holder to be away.
    pub fn set_holder_away(&mut self, away: bool, rng: &mut impl CryptoRngCore) -> ReceiveOutcome {
        if away {
            self.holder_away = self.phase.session().is_some();
            return ReceiveOutcome::swallow();
        }
        if mem::replace(&mut self.holder_away, false) {
            return self.flush_if_may_send(rng);
        }
        ReceiveOutcome::swallow()
    }

    /// Whether the peer's client that holds the session was seen going away (see
    /// [`Conversation::set_holder_away`]).
    pub fn holder_away(&self) -> bool {
        self.holder_away
    }

    /// The user takes back what is held while the session's client is away (the menu's "Stop
    /// waiting"): each text is handed back ([`UnsentReason::GivenBack`]) and the session goes
    /// on, still held until the client is back. Nothing is sent.
    pub fn give_back_held(&mut self) -> ReceiveOutcome {
        let mut out = ReceiveOutcome::swallow();
        for text in self.cold.take_queue() {
            out.events.push(Event::Unsent {
                text: text.to_string(),
                why: UnsentReason::GivenBack,
            });
        }
        self.cold.settle();
        out
    }

    /// The user typed `plaintext` (plain UTF-8).
    pub fn send(&mut self, plaintext: &str, rng: &mut impl CryptoRngCore) -> SendOutcome {
        let mut out = SendOutcome {
            action: SendAction::Hold,
            inject: Vec::new(),
            events: Vec::new(),
        };
        if plaintext.len() > MAX_PLAINTEXT {
            out.events.push(Event::Unsent {
                text: plaintext.to_owned(),
                why: UnsentReason::TooLong,
            });
            return out;
        }
        let reason = match self.state() {
            ConvState::Encrypted if self.may_send() => {
                match self.encrypt_text(plaintext, rng) {
                    Some(lines) => out.action = SendAction::Replace(lines),
                    None => out.events.push(Event::Unsent {
                        text: plaintext.to_owned(),
                        why: UnsentReason::TooManyPieces,
                    }),
                }
                return out;
            }
            ConvState::Encrypted if self.held_for_names() => HoldReason::NamesMismatch,
            ConvState::Encrypted if self.blocked => HoldReason::Blocked,
            ConvState::Encrypted => HoldReason::HolderAway,
            ConvState::Handshaking => {
                // A start tried again without the user (it says nothing when it lapses): the
                // user now waits on it, and is told if it lapses.
                self.retrying = false;
                HoldReason::Handshaking
            }
            ConvState::Finished => HoldReason::EndedByPeer,
            // Messages are still held from a handshake that did not finish, or a start of ours
            // lapsed: what is typed now is held too (never plaintext behind them, nor after a
            // start the user asked for), and the handshake is tried again.
            ConvState::Plaintext if !self.cold.queue().is_empty() || self.start_lapsed => {
                self.begin_handshake(&mut out.inject, rng);
                out.events.push(Event::HandshakeStarted);
                HoldReason::Handshaking
            }
            ConvState::Plaintext => match self.policy {
                Policy::Always => {
                    self.begin_handshake(&mut out.inject, rng);
                    out.events.push(Event::HandshakeStarted);
                    HoldReason::PolicyAlways
                }
                Policy::Opportunistic if self.peer_supports => {
                    self.begin_handshake(&mut out.inject, rng);
                    out.events.push(Event::HandshakeStarted);
                    HoldReason::Handshaking
                }
                _ => {
                    out.action = SendAction::SendPlaintext;
                    return out;
                }
            },
        };
        if self.cold.queue().len() >= MAX_QUEUE {
            out.events.push(Event::Unsent {
                text: plaintext.to_owned(),
                why: UnsentReason::QueueFull,
            });
        } else {
            let queue = &mut self.cold.make().queue;
            queue.push_back(SecretString::from(plaintext));
            out.events.push(Event::Held {
                queued: queue.len(),
                reason,
            });
        }
        self.cold.settle();
        out
    }

    /// A message arrived (markup already reduced to text). `now_secs` ages out fragments.
    pub fn receive(
        &mut self,
        text: &str,
        now_secs: u64,
        rng: &mut impl CryptoRngCore,
    ) -> ReceiveOutcome {
        self.now = now_secs;
        self.cold.set_unknown(None);
        let mut out = ReceiveOutcome::swallow();
        self.receive_into(&mut out, text, now_secs, rng, true);
        self.answer_unknown_session(&mut out);
        self.tell_lost_pieces(&mut out);
        // A line that authenticated in the current session came from the client that holds it
        // (the host moves its address there): it is back, and what was held for it goes. Not
        // one the server kept while this side was offline: that client may have gone since.
        if self.holder_away && !self.kept && out.read_in_current && out.read_in.is_some() {
            let back = self.set_holder_away(false, rng);
            out.inject.extend(back.inject);
            out.events.extend(back.events);
        }
        // What the line used of the rarely used parts (its pieces, a notice's clock, a run)
        // stays boxed only while it holds something.
        self.cold.settle();
        out
    }

    /// A message the transport says was addressed to another client of this account (it came
    /// here because that client left). Received as any other, except that a data line naming
    /// no session here is never taken for one that overtook our `?S1C`: it is answered, at
    /// most once per interval, with the plain not-read notice `(no encrypted session)` and
    /// reported as [`UnreadableReason::UnknownSession`] (PROTOCOL.md §3.3).
    pub fn receive_for_another_client(
        &mut self,
        text: &str,
        now_secs: u64,
        rng: &mut impl CryptoRngCore,
    ) -> ReceiveOutcome {
        self.for_another_client = true;
        let out = self.receive(text, now_secs, rng);
        self.for_another_client = false;
        out
    }

    /// A message the server kept for this side while it was offline and delivers now (XMPP
    /// offline storage, stamped with a XEP-0203 delay). Read, shown and answered as any other
    /// ([`Conversation::receive`], or [`Conversation::receive_for_another_client`] with
    /// `for_another_client`), but it says nothing about whether its sender's client is there
    /// now: a data line that authenticates releases nothing held for an away holder, and a
    /// handshake it completes holds what is typed (and what waited for it) as for an away
    /// holder, until the host says that client is there ([`Conversation::set_holder_away`])
    /// or a line that was not kept authenticates.
    pub fn receive_kept(
        &mut self,
        text: &str,
        now_secs: u64,
        for_another_client: bool,
        rng: &mut impl CryptoRngCore,
    ) -> ReceiveOutcome {
        self.kept = true;
        let out = if for_another_client {
            self.receive_for_another_client(text, now_secs, rng)
        } else {
            self.receive(text, now_secs, rng)
        };
        self.kept = false;
        out
    }

    fn receive_inner(
        &mut self,
        text: &str,
        now_secs: u64,
        rng: &mut impl CryptoRngCore,
        allow_fragment: bool,
    ) -> ReceiveOutcome {
        let mut out = ReceiveOutcome::swallow();
        self.receive_into(&mut out, text, now_secs, rng, allow_fragment);
        out
    }

    /// [`Self::receive_inner`], into `out` (a swallowed outcome): a line read whole builds
    /// its outcome where the caller keeps it, never moved on the way back.
    fn receive_into(
        &mut self,
        out: &mut ReceiveOutcome,
        text: &str,
        now_secs: u64,
        rng: &mut impl CryptoRngCore,
        allow_fragment: bool,
    ) {
        let unreadable = |reason: UnreadableReason| Event::Unreadable { reason };
        let msg = match WireMessage::decode_reusing(text, &mut self.received) {
            Ok(m) => m,
            Err(DecodeError::NotSotto) if !allow_fragment => {
                // Reassembled pieces that do not form a Sotto line: never shown raw.
                out.events
                    .push(unreadable(UnreadableReason::MalformedFragments));
                return;
            }
            Err(DecodeError::NotSotto)
                if self.state() != ConvState::Plaintext
                    && crate::protocol::wire::has_embedded_line(text) =>
            {
                // A Sotto line the service put text in front of: not plaintext from the peer
                // (no false warning), never shown raw. With no session and no handshake of ours
                // (one that only answers the peer's start, maybe injected, does not count)
                // there is no line to change: such a text is the peer quoting one, shown as it
                // is.
                out.events.push(unreadable(UnreadableReason::Rewritten));
                return;
            }
            Err(DecodeError::NotSotto) => {
                out.action = ReceiveAction::PassThrough;
                if self.phase.session().is_some() || self.phase.is_finished() {
                    out.events.push(Event::PlaintextWhileEncrypted);
                }
                return;
            }
            Err(e) => {
                out.events.push(unreadable(e.into()));
                return;
            }
        };
        match msg {
            WireMessage::Fragment(f) if allow_fragment => {
                // Every way to put the line together that the pieces allow (a forged copy of a
                // piece adds one): a rejected candidate changes nothing, so the first one that
                // is read wins and a forged copy cannot make the real line unreadable.
                if let Some(c) = self.cold.make().reassembler.add_piece(f, now_secs) {
                    let mut rejected = None;
                    for i in 0..c.len() {
                        let Some(line) = self.cold.make().reassembler.candidate(&c, i) else {
                            break;
                        };
                        let attempt = self.receive_inner(&line, now_secs, rng, false);
                        // The message an attempt found no session for is that attempt's: the
                        // not-read notice names the line whose outcome is reported, never a
                        // forged candidate tried after it.
                        let unknown = self.cold.take_unknown();
                        // A handshake line that did nothing (tags of another start, nothing
                        // waiting for it) is no reading either: a forged first piece that
                        // changes the tags must not win over the real line.
                        let ignored_handshake = is_silent(&attempt)
                            && (line.starts_with("?S1R") || line.starts_with("?S1C"));
                        if !is_rejection(&attempt) && !ignored_handshake {
                            self.cold.set_unknown(unknown);
                            self.cold.make().reassembler.complete(&c);
                            *out = attempt;
                            return;
                        }
                        rejected.get_or_insert((attempt, unknown));
                    }
                    // None was read: a line with candidates left waits for more copies, one
                    // that has spent them is dropped.
                    self.cold.make().reassembler.rejected(&c);
                    if let Some((attempt, unknown)) = rejected {
                        self.cold.set_unknown(unknown);
                        *out = attempt;
                    }
                }
            }
            WireMessage::Fragment(_) => {
                out.events
                    .push(unreadable(UnreadableReason::NestedFragment));
            }
            // Queries, starts and error notices are always sent whole (§6): one put together
            // from pieces is forged, and rejecting it lets the next candidate (the real line
            // its pieces belong to) be tried instead of answering it or showing it.
            m if !allow_fragment && !fragment::arrives_in_pieces(&m) => {
                out.events
                    .push(unreadable(UnreadableReason::MalformedFragments));
            }
            WireMessage::Query => self.on_query(out, rng),
            WireMessage::Init(m) => self.on_init(&m, out, rng),
            WireMessage::Response(m) => self.on_response(&m, out, rng),
            WireMessage::Confirm(m) => self.on_confirm(&m, out, rng),
            WireMessage::Data(m) => {
                // Only the current session may end or verify; the previous one just decrypts.
                let in_current = self.phase.session().is_some_and(|s| s.id == m.session_id);
                let in_previous = self
                    .previous
                    .as_deref()
                    .is_some_and(|p| p.id == m.session_id);
                if !in_current && !in_previous {
                    // Waiting as responder, a data line of the session our answer makes
                    // may have overtaken the handshake's last line: asked for again (while
                    // the interval's few such answers last; past them, as any other).
                    let early = !self.for_another_client
                        && matches!(self.phase.handshake(), Some(Handshake::Responder(_)))
                        && self.unfinished_notice_left();
                    self.cold.set_unknown(Some((MessageRef::of(&m), early)));
                    out.events.push(unreadable(if early {
                        UnreadableReason::BeforeConfirm
                    } else {
                        UnreadableReason::UnknownSession
                    }));
                    return;
                }
                // Two sessions may carry the same 32-bit sid (a forged re-key can grind one
                // that hides the session it replaces): the current one is tried first, then
                // the previous one. A failed try changes nothing (the ratchet commits only
                // what authenticates); if neither reads it, the current one's error is told.
                let mut current = in_current;
                let mut decrypted = match self.phase.session_mut() {
                    Some(s) if in_current => Some(s.ratchet.decrypt(&s.hash, &m, rng)),
                    _ => None,
                };
                if in_previous && !matches!(decrypted, Some(Ok(_))) {
                    if let Some(p) = self.previous.as_deref_mut() {
                        let d = p.ratchet.decrypt(&p.hash, &m, rng);
                        if d.is_ok() || decrypted.is_none() {
                            (decrypted, current) = (Some(d), false);
                        }
                    }
                }
                let session = if current {
                    self.phase.session()
                } else {
                    self.previous.as_deref()
                };
                let (Some(decrypted), Some((peer, session_hash))) =
                    (decrypted, session.map(|s| (s.peer, s.hash)))
                else {
                    return;
                };
                // Whose words these are is the decrypting session's key: the current one's is
                // not accepted while sending is held on it; a previous one's is judged by the
                // accepted keys (the contact's genuine lines in the session a forged handshake
                // replaced are the contact's words). With no key accepted at all (the user
                // forgot the only one) no previous session's key is: a forged session pushed
                // back by another is never taken for the contact's.
                // (Looked up only where it decides something: not for each line read in the
                // current session.)
                let key_accepted = || self.known_keys.contains(&peer);
                let unaccepted = if current {
                    self.blocked
                } else {
                    !key_accepted()
                };
                if decrypted.is_ok() {
                    out.read_in = Some(m.session_id);
                    out.read_in_current = current;
                    let tag = m
                        .ciphertext
                        .len()
                        .checked_sub(16)
                        .and_then(|at| m.ciphertext.get(at..))
                        .and_then(|t| <[u8; 16]>::try_from(t).ok())
                        .unwrap_or_default();
                    out.read_message = Some(ReadMessage {
                        id: MessageRef::of(&m),
                        tag,
                        session: session_hash,
                    });
                    self.cold.note_read(&m);
                }
                match decrypted {
                    // The text in the decryption's own buffer: no copy of the message.
                    Ok(d) if d.kind == KIND_TEXT => match d.content.into_text() {
                        Some(text) => {
                            out.action = ReceiveAction::Display(text);
                            out.unaccepted_key = unaccepted.then_some(peer);
                        }
                        None => out.events.push(unreadable(UnreadableReason::NotUtf8)),
                    },
                    Ok(d) if d.kind == KIND_END => {
                        // An end in the previous session ends the current one too while
                        // nothing was read in it: the peer stopped before it had the new
                        // session (it dropped the handshake we completed on its `?S1R`), and
                        // would never end that one.
                        // An end on a key the user has not accepted speaks for that key's
                        // session only: it never ends a session with another key (a server
                        // that finished a handshake with its own key must not end the
                        // contact's). One on an accepted key speaks for the contact, also
                        // while sending is held on it for names that did not match (§3.1):
                        // that hold is about the names, not the key (PROTOCOL.md §4).
                        let key_accepted = key_accepted();
                        let for_the_contact = |other: &Session| key_accepted || other.peer == peer;
                        let now = self.now;
                        let unconfirmed = !current
                            && self.initiated_at.is_some_and(|t| {
                                now.saturating_sub(t) <= HANDSHAKE_TIMEOUT_SECS && now >= t
                            })
                            && self
                                .phase
                                .session()
                                .is_some_and(|s| !s.ratchet.has_read() && for_the_contact(s));
                        if current || unconfirmed {
                            let handshake =
                                mem::replace(&mut self.phase, Phase::Plaintext).into_handshake();
                            self.phase = Phase::Finished(handshake);
                            if !current || self.previous.as_deref().is_some_and(for_the_contact) {
                                self.previous = None;
                            }
                            // No session carries the run any more (PROTOCOL.md §5.2).
                            if self.cold.verification_replied() {
                                out.events.push(Event::VerificationUnconfirmed);
                            }
                            self.cold.reset_verification();
                            out.events.push(Event::Ended { by_peer: true });
                        }
                    }
                    Ok(d) if Verification::carries(d.kind) => {
                        if current {
                            let channel = Channel::new(
                                self.phase.session_mut(),
                                &self.identity,
                                self.max_line,
                            );
                            self.cold
                                .make()
                                .verification
                                .receive(channel, d.kind, &d.content, out, rng);
                        }
                    }
                    Ok(_) => {} // unknown inner type from a newer peer: ignore
                    Err(e) => out.events.push(unreadable(e.into())),
                }
                // The line's buffer serves the next one (a long line's is let go).
                if m.ciphertext.capacity() <= RECEIVED_KEPT {
                    self.received = m.ciphertext;
                }
            }
            WireMessage::Error(text) => match MessageRef::from_error_text(&text) {
                Some(id) => {
                    let unfinished = MessageRef::says_unfinished(&text);
                    let incomplete = MessageRef::says_incomplete(&text);
                    self.on_not_read(id, unfinished, incomplete, out, rng)
                }
                None => out.events.push(Event::PeerError { text }),
            },
        }
    }

    pub(super) fn flush(&mut self, out: &mut ReceiveOutcome, rng: &mut impl CryptoRngCore) {
        while let Some(text) = self.cold.pop_queue() {
            self.send_held(text, false, |text| Event::QueuedSent { text }, out, rng);
        }
        // What the peer's client could not read goes again over a session up after the notice:
        // neither the one it was lost in nor the one current when it began to wait (a hold
        // ending and the holder seen back also call here, in such a session: a forged notice
        // naming a message the peer read must not have it shown again). Sent again once: a
        // notice naming the copy hands it back.
        let current = self.phase.session().map(|s| s.id);
        for waiting in self.cold.take_resend() {
            if current.is_some() && (waiting.lost_in == current || waiting.since == current) {
                self.cold.make().resend.push_back(waiting);
                continue;
            }
            self.send_held(
                waiting.text,
                true,
                |text| Event::Resent {
                    text,
                    same_session: false,
                },
                out,
                rng,
            );
        }
    }

    /// Encrypts one text that waited; `sent` names the event that says it went; `again`: a
    /// second sending of a message a not-read notice named.
    fn send_held(
        &mut self,
        text: SecretString,
        again: bool,
        sent: fn(String) -> Event,
        out: &mut ReceiveOutcome,
        rng: &mut impl CryptoRngCore,
    ) {
        match self.encrypt_remembered(&text, again, rng) {
            Some(lines) => {
                out.inject.extend(lines);
                out.events.push(sent(text.to_string()));
            }
            None => out.events.push(Event::Unsent {
                text: text.to_string(),
                why: UnsentReason::TooManyPieces,
            }),
        }
    }

    /// Encrypts typed text in the current session and remembers it for a while (in memory),
    /// so that a not-read notice about it can say which message it was.
    fn encrypt_text(&mut self, text: &str, rng: &mut impl CryptoRngCore) -> Option<Lines> {
        self.encrypt_remembered(text, false, rng)
    }

    /// [`Self::encrypt_text`]; `again`: a second sending of a message a not-read notice named.
    #[inline]
    fn encrypt_remembered(
        &mut self,
        text: &str,
        again: bool,
        rng: &mut impl CryptoRngCore,
    ) -> Option<Lines> {
        let max_line = self.max_line;
        let session = self.phase.session_mut()?;
        let unanswered = !session.ratchet.has_read();
        let (lines, id) = session.seal_ref(KIND_TEXT, text.as_bytes(), max_line, rng)?;
        self.forget_old_sent();
        // The oldest text pushed out lends its buffer, wiped, when the new one fits it without
        // wasting much: a burst costs no allocation here.
        let reused = if self.sent.len() >= SENT_KEPT {
            self.sent.pop_front().and_then(|old| old.text)
        } else {
            None
        };
        let copy = match reused {
            Some(mut buf) if buf.capacity() >= text.len() && buf.capacity() <= 2 * text.len() => {
                buf.zeroize();
                buf.push_str(text);
                buf
            }
            _ => SecretString::from(text),
        };
        self.sent.push_back(SentText {
            at: self.now,
            id,
            text: Some(copy),
            again,
            unanswered,
            told: false,
        });
        Some(lines)
    }

    /// Drops the sent texts past their keeping time, and any stamped after `now` (the clock
    /// was set back). Every push comes after this call, stamped `now`: the texts stay in the
    /// order of their stamps, so while the newest is not ahead of the clock the old ones are a
    /// prefix and only they are looked at (this runs before every message sent).
    fn forget_old_sent(&mut self) {
        let now = self.now;
        if self.sent.back().is_none_or(|s| s.at <= now) {
            self.forget_sent_before(now);
        } else {
            self.sent
                .retain(|s| s.at <= now && !older_than(s.at, SENT_KEPT_SECS, now));
        }
    }

    /// Drops the sent texts stamped more than [`SENT_KEPT_SECS`] before `now` (none stamped
    /// after it): the oldest, a prefix of the list (see [`Self::forget_old_sent`], whose
    /// case of a newest text not ahead of `now` this is).
    fn forget_sent_before(&mut self, now: u64) {
        while self
            .sent
            .front()
            .is_some_and(|s| older_than(s.at, SENT_KEPT_SECS, now))
        {
            self.sent.pop_front();
        }
    }

    /// Forgets `text`, the newest message sent, which the host did not send after all
    /// (another plugin changed its last line on the way, or held it; the window said NOT
    /// sent, with the text), so that a not-read notice for the pieces of it that did leave
    /// does not have it sent again by itself over the next session, after the user typed it
    /// again: the newest sent text if it is this one (never an older one of the same words: a
    /// message that did leave), and, if a notice came while the line was held and already set
    /// it to go again, the newest text waiting so. Both live in memory only: nothing to save.
    pub fn forget_sent_text(&mut self, text: &str) {
        self.forget_sent_record(text);
        self.cold.forget_resend(text);
    }

    /// [`Self::forget_sent_text`]'s first half: `text`'s record, if it is the newest sent, and
    /// no text waiting to be sent again. For a message the host gave back at once, in the same
    /// call that sent it (no notice about it can have come meanwhile): a text of the same words
    /// waiting to go again is another message's, which a notice promised to send again.
    pub fn forget_sent_record(&mut self, text: &str) {
        if self
            .sent
            .back()
            .is_some_and(|s| s.text.as_ref().is_some_and(|t| t.as_str() == text))
        {
            self.sent.pop_back();
        }
    }

    /// The text of `line`, a data line this side sent, while it is remembered: for a line the
    /// transport handed back undelivered (an XMPP error bounce). Changes nothing: anyone can
    /// hand back any line, and the text stays for a not-read notice.
    ///
    /// A line cut into pieces is named by its first piece (whose chunk begins the line).
    pub fn sent_text(&self, line: &str) -> Option<SecretString> {
        self.sent_record(line)?.text.clone()
    }

    /// `line`, a data line this side sent (or the first piece of one), handed back
    /// undelivered by the transport (an XMPP error bounce, an IRC 401): [`HandedBack::First`],
    /// with its text while that is kept, until its message was told as handed back
    /// ([`Self::told_handed_back`]), then [`HandedBack::Again`], whatever the rest of the line
    /// says. The message is named by its header (`sid`, `rk`, `n`), which anyone who saw it
    /// can copy in front of other bytes: one "not delivered" per message, not one per copy
    /// (found by a hostile review: a server repeated one message's header with other bytes
    /// after it and the window said, for each, that the message was NOT delivered, with its
    /// text). Changes nothing.
    pub fn handed_back(&self, line: &str) -> HandedBack {
        match self.sent_record(line) {
            None => HandedBack::Unknown,
            Some(s) if s.told => HandedBack::Again,
            Some(s) => HandedBack::First(s.text.clone()),
        }
    }

    /// The user was told that `line`'s message was handed back ([`Self::handed_back`]): it is
    /// not told again. A mark in memory only.
    pub fn told_handed_back(&mut self, line: &str) {
        if let Some(s) = self.sent_at(line).and_then(|i| self.sent.get_mut(i)) {
            s.told = true;
        }
    }

    /// The record of the message `line` names, while it is remembered.
    fn sent_record(&self, line: &str) -> Option<&SentText> {
        self.sent.get(self.sent_at(line)?)
    }

    /// Where in [`Self::sent`] the message `line` names is, while it is remembered.
    fn sent_at(&self, line: &str) -> Option<usize> {
        let id = line_ref(line)?;
        self.sent
            .iter()
            .position(|s| s.id == id && !older_than(s.at, SENT_KEPT_SECS, self.now))
    }

    /// The not-read notice for the message a first piece (`?S1P`, index 0) begins, from a
    /// peer whose pieces this side does not keep (nothing with it: no session, nothing under
    /// way): what a whole line of an unknown session gets, at most one per interval, without
    /// buffering anything. The peer learns its message was not read (a store that was lost
    /// here, a reinstall) and can start again. Changes only the notice's interval.
    pub fn not_read_from_first_piece(&mut self, line: &str, now_secs: u64) -> Option<String> {
        let Ok(WireMessage::Fragment(f)) = WireMessage::decode(line) else {
            return None;
        };
        if f.index != 0 {
            return None;
        }
        let id = data_ref_from_head(&f.chunk)?;
        self.now = now_secs;
        if self.not_read_notice_left(now_secs) {
            self.cold.answered(&id);
            Some(id.not_read_line())
        } else {
            // Answered as the budget allows again, as a whole line is (the sweep).
            self.cold.defer_not_read(id);
            self.cold.settle();
            None
        }
    }

    /// Whether another "handshake not finished" notice may go in this interval (the interval
    /// starts again when it is over).
    fn unfinished_notice_left(&mut self) -> bool {
        let notices = self.cold.get().map_or((0, 0), |c| c.unfinished_notices);
        if Self::not_read_due(Some(notices.0), self.now) {
            self.cold.make().unfinished_notices = (self.now, 0);
            return true;
        }
        notices.1 < UNFINISHED_NOTICES
    }

    /// Whether another not-read notice may go at `now` (then it is counted): a few per
    /// interval, so that each message of a burst the peer typed after this side lost its
    /// state is named (one per interval left all but the first unread without a word), while a
    /// flood of made-up lines gets no more than [`NOT_READ_NOTICES`] answers per interval.
    pub(super) fn not_read_notice_left(&mut self, now: u64) -> bool {
        let window = match self.cold.get().and_then(|c| c.not_read_at.0) {
            Some((start, sent)) if !Self::not_read_due(Some(start), now) => (start, sent),
            _ => (now, 0),
        };
        if window.1 >= NOT_READ_NOTICES {
            self.cold.make().not_read_at.0 = Some(window);
            return false;
        }
        self.cold.make().not_read_at.0 = Some((window.0, window.1 + 1));
        true
    }

    /// Whether `last` is long enough ago (or never) for another not-read notice.
    pub(super) fn not_read_due(last: Option<u64>, now: u64) -> bool {
        last.is_none_or(|t| now.saturating_sub(t) >= NOT_READ_INTERVAL_SECS || now < t)
    }

    /// The peer's client could not read one of our messages (an unauthenticated notice: it
    /// changes no saved state here): which one, once, while it is remembered; a message no
    /// longer remembered is named at most once per interval. A message of the current session
    /// that the peer's client had before it finished the handshake (`unfinished`: it overtook
    /// our `?S1C`) is sent again at once over that session, once (PROTOCOL.md §2.2).
    /// `incomplete`: the notice says the line arrived incomplete (§6), which only changes
    /// what the user is told.
    fn on_not_read(
        &mut self,
        id: MessageRef,
        unfinished: bool,
        incomplete: bool,
        out: &mut ReceiveOutcome,
        rng: &mut impl CryptoRngCore,
    ) {
        self.forget_old_sent();
        let current = self.phase.session().map(|s| s.id) == Some(id.session_id);
        // Only a peer waiting as responder says "handshake not finished" (§2.2): about a
        // session this side started. One this side answered has no such notice but a forged one.
        // And only while it waits: it gives up [`HANDSHAKE_TIMEOUT_SECS`] after answering, so
        // a message sent later than that after this side completed the session cannot have
        // overtaken `?S1C`, and a notice is taken within twice that (slack for its way back,
        // and for a responder restored mid-wait, which waits anew); later ones are forged, or
        // too late to tell (without the bound a server had any message sent before the peer
        // wrote back arrive twice, when it chose, for ten minutes). A genuine notice past it is
        // handled as any other: named, sent again with the next new session.
        let now = self.now;
        let within = |t: u64, since: u64, secs: u64| t >= since && t - since <= secs;
        let made_at = self
            .initiated_at
            .filter(|&t| within(now, t, 2 * HANDSHAKE_TIMEOUT_SECS));
        let may_send_at_once = current && !self.blocked && !self.holder_away && made_at.is_some();
        if let Some(s) = self.sent.iter_mut().find(|s| s.id == id) {
            let again_now = unfinished
                && may_send_at_once
                && s.unanswered
                && !s.again
                && made_at.is_some_and(|t| within(s.at, t, HANDSHAKE_TIMEOUT_SECS));
            let sent_twice = s.again;
            // Told as handed back undelivered (an IRC 401, an XMPP bounce), with its text and
            // that it is not sent again by itself: the user may have typed it again already. A
            // notice that the contact's client could not read it says nothing new, and must not
            // queue it (it went a second time with the next session, after a line saying it
            // would not: found by a review of lost and doubled texts).
            if s.told {
                s.text = None;
                return;
            }
            // Named again (a copy, a second client): already said.
            if let Some(text) = s.text.take() {
                if again_now {
                    if let Some(lines) = self.encrypt_remembered(&text, true, rng) {
                        out.inject.extend(lines);
                        out.events.push(Event::Resent {
                            text: text.to_string(),
                            same_session: true,
                        });
                        return;
                    }
                }
                // Not sent a third time (two forged notices would otherwise have it arrive
                // three times): named, it is the user's to send again.
                if sent_twice {
                    out.events.push(Event::NotResent {
                        text: text.to_string(),
                    });
                    return;
                }
                out.events.push(Event::NotRead {
                    text: Some(text.to_string()),
                    incomplete,
                });
                // Sent again by itself once a new session is up (PROTOCOL.md §2.2). The list is
                // bounded: the oldest text waiting goes back to the user, told so (it was
                // dropped without a word after its "sent again by itself" notice).
                while self.cold.resend().len() >= SENT_KEPT {
                    let Some(oldest) = self.cold.pop_resend() else {
                        break;
                    };
                    out.events.push(Event::NotResent {
                        text: oldest.text.to_string(),
                    });
                }
                let since = self.phase.session().map(|s| s.id);
                self.cold.make().resend.push_back(WaitingResend {
                    text,
                    lost_in: Some(id.session_id),
                    since,
                });
            }
        } else if Self::not_read_due(self.cold.get().and_then(|c| c.not_read_at.1), self.now) {
            self.cold.make().not_read_at.1 = Some(self.now);
            out.events.push(Event::NotRead {
                text: None,
                incomplete,
            });
        }
    }

    /// A data line named no session we know: the sender is told which message (at most one
    /// notice per interval), since it cannot otherwise learn that this client did not read it.
    fn answer_unknown_session(&mut self, out: &mut ReceiveOutcome) {
        let Some((id, early)) = self.cold.take_unknown() else {
            return;
        };
        let unknown = out.events.iter().any(|e| {
            matches!(
                e,
                Event::Unreadable {
                    reason: UnreadableReason::UnknownSession | UnreadableReason::BeforeConfirm
                }
            )
        });
        if !unknown {
            return;
        }
        if early {
            // Every line that overtook `?S1C` is asked for (a few per interval, counted here:
            // a server that feeds made-up lines to a handshake it started gets no more).
            self.cold.make().unfinished_notices.1 += 1;
            self.cold.answered(&id);
            out.inject.push(id.unfinished_line());
            return;
        }
        if self.not_read_notice_left(self.now) {
            // Named now: not again from the list (a copy of it kept earlier).
            self.cold.answered(&id);
            out.inject.push(id.not_read_line());
        } else {
            // Answered when the budget allows again: a burst typed to a client that lost its
            // state (a released hold of 20) had all but its first 8 lines unread without a
            // word to either side (found by a review of lost texts).
            self.cold.defer_not_read(id);
        }
    }

    /// Answers the messages of no session kept while the not-read budget was spent, oldest
    /// first, as far as it allows now (each line received, and the periodic sweep).
    pub(super) fn answer_deferred(&mut self, out: &mut ReceiveOutcome) {
        while self.cold.has_unanswered() && self.not_read_notice_left(self.now) {
            if let Some(id) = self.cold.pop_unanswered() {
                out.inject.push(id.not_read_line());
            }
        }
    }

    /// Whether messages of no session wait to be answered (the host keeps the conversation in
    /// memory until they are).
    pub fn has_unanswered(&self) -> bool {
        self.cold.has_unanswered()
    }

    /// The messages of no session waiting to be answered are let go unanswered: the host will
    /// send what follows elsewhere (another of the contact's clients wrote last, and answers go
    /// to it; the notices named the lines of the one that wrote before).
    pub fn drop_unanswered(&mut self) {
        while self.cold.pop_unanswered().is_some() {}
        self.cold.settle();
    }

    /// Whether a not-read notice may go at `now` (what [`Self::not_read_notice_left`] would
    /// say, spending nothing).
    pub(super) fn not_read_budget_at(&self, now: u64) -> bool {
        match self.cold.get().and_then(|c| c.not_read_at.0) {
            Some((start, sent)) if !Self::not_read_due(Some(start), now) => sent < NOT_READ_NOTICES,
            _ => true,
        }
    }
}

/// Whether an outcome is silent: nothing shown, sent or reported.
fn is_silent(out: &ReceiveOutcome) -> bool {
    out.action == ReceiveAction::Swallow && out.inject.is_empty() && out.events.is_empty()
}

/// Whether an outcome is a rejected line: nothing shown, nothing sent, only "could not be read"
/// or "handshake failed" (which change no state).
fn is_rejection(out: &ReceiveOutcome) -> bool {
    out.action == ReceiveAction::Swallow
        && out.inject.is_empty()
        && !out.events.is_empty()
        && out
            .events
            .iter()
            .all(|e| matches!(e, Event::Unreadable { .. } | Event::HandshakeFailed { .. }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::tests::established;
    use rand_chacha::ChaCha20Rng;

    /// A held text whose encrypted line would need more pieces than one message may have (only
    /// a text past [`MAX_PLAINTEXT`] gets there: a damaged or hostile saved queue) is handed
    /// back when the queue goes, said to be so for that reason, and nothing of it is sent.
    #[test]
    fn a_held_text_too_long_to_cut_is_handed_back_as_too_many_pieces() {
        let (mut a, _b, mut rng) = established(61);
        a.set_max_line(fragment::MIN_LINE);
        let text = "x".repeat(4 * MAX_PLAINTEXT);
        a.cold
            .make()
            .queue
            .push_back(SecretString::from(text.as_str()));
        let out = a.set_blocked(false, &mut rng);
        assert!(out.inject.is_empty(), "{} lines sent", out.inject.len());
        assert_eq!(
            out.events,
            [Event::Unsent {
                text,
                why: UnsentReason::TooManyPieces
            }]
        );
        assert_eq!(a.queued(), 0);
    }

    /// What `b` shows of `lines`.
    fn shown(b: &mut Conversation, lines: &[String], rng: &mut impl CryptoRngCore) -> Vec<String> {
        lines
            .iter()
            .filter_map(|l| match b.receive(l, 0, rng).action {
                ReceiveAction::Display(text) => Some(text.to_string()),
                _ => None,
            })
            .collect()
    }

    /// While the peer's client holding the session is away, what is typed is held, not
    /// encrypted (no message key is used for it); seen back, it goes, in order, and the peer
    /// reads it.
    #[test]
    fn typed_while_the_holder_is_away_is_held_then_sent_in_order() {
        let (mut a, mut b, mut rng) = established(62);
        assert!(a.set_holder_away(true, &mut rng).inject.is_empty());
        assert!(a.holder_away());
        let before = a.snapshot();
        for (i, text) in ["one", "two"].into_iter().enumerate() {
            let out = a.send(text, &mut rng);
            assert_eq!(out.action, SendAction::Hold, "{text}");
            assert!(out.inject.is_empty(), "{text}");
            assert_eq!(
                out.events,
                [Event::Held {
                    queued: i + 1,
                    reason: HoldReason::HolderAway
                }]
            );
        }
        // Nothing was encrypted: nothing remembered as sent; the snapshot grew by the two queued
        // texts alone.
        let after = a.snapshot();
        assert_eq!(
            after.len(),
            before.len() + 2 * 4 + "one".len() + "two".len()
        );
        assert!(a.sent.is_empty());
        // Seen back: sent in order.
        let out = a.set_holder_away(false, &mut rng);
        assert!(!a.holder_away());
        assert_eq!(
            out.events,
            [
                Event::QueuedSent { text: "one".into() },
                Event::QueuedSent { text: "two".into() }
            ]
        );
        assert_eq!(shown(&mut b, &out.inject, &mut rng), ["one", "two"]);
        // Back to normal: typed text goes at once.
        assert!(matches!(
            a.send("three", &mut rng).action,
            SendAction::Replace(_)
        ));
        // Seen back again while nothing is away: nothing happens.
        assert!(is_silent(&a.set_holder_away(false, &mut rng)));
    }

    /// A data line that authenticates in the current session comes from the client that holds
    /// it: what was held for it goes, after the line is read.
    #[test]
    fn a_line_read_in_the_session_releases_what_is_held() {
        let (mut a, mut b, mut rng) = established(63);
        let _ = a.set_holder_away(true, &mut rng);
        assert_eq!(a.send("held", &mut rng).action, SendAction::Hold);
        let SendAction::Replace(lines) = b.send("I am back", &mut rng).action else {
            panic!("b sends");
        };
        let out = a.receive(&lines[0], 0, &mut rng);
        assert!(matches!(out.action, ReceiveAction::Display(ref t) if t.as_str() == "I am back"));
        assert!(!a.holder_away());
        assert_eq!(
            out.events,
            [Event::QueuedSent {
                text: "held".into()
            }]
        );
        assert_eq!(shown(&mut b, &out.inject, &mut rng), ["held"]);
    }

    /// A line that does not authenticate (a forged data line) and a query (anyone can send one)
    /// release nothing.
    #[test]
    fn a_line_that_does_not_authenticate_releases_nothing() {
        let (mut a, mut b, mut rng) = established(64);
        let _ = a.set_holder_away(true, &mut rng);
        let _ = a.send("held", &mut rng);
        let SendAction::Replace(lines) = b.send("real", &mut rng).action else {
            panic!("b sends");
        };
        // The same line with its last characters changed: it does not decrypt.
        let mut forged = lines[0].clone();
        forged.truncate(forged.len() - 4);
        forged.push_str("AAAA");
        let out = a.receive(&forged, 0, &mut rng);
        assert!(out.inject.is_empty());
        assert!(a.holder_away());
        assert_eq!(a.queued(), 1);
        // A query (anyone can send one) releases nothing either.
        let out = a.receive(&WireMessage::Query.encode(), 0, &mut rng);
        assert!(!out
            .events
            .iter()
            .any(|e| matches!(e, Event::QueuedSent { .. })));
        assert_eq!(a.queued(), 1);
    }

    /// A hold on a changed key stays when the holder is seen back, and the other way round;
    /// the snapshot keeps no trace of the away mark; the user can take held text back without
    /// ending the session; a stop hands back and clears it.
    #[test]
    fn the_away_mark_and_other_holds() {
        let (mut a, _b, mut rng) = established(65);
        let _ = a.set_holder_away(true, &mut rng);
        // Held on a key not accepted (a hold on an accepted one is the names').
        a.set_known_peer_keys(Vec::new());
        let _ = a.set_blocked(true, &mut rng);
        assert_eq!(
            a.send("x", &mut rng).events,
            [Event::Held {
                queued: 1,
                reason: HoldReason::Blocked
            }]
        );
        assert!(a.set_holder_away(false, &mut rng).inject.is_empty());
        let _ = a.set_holder_away(true, &mut rng);
        assert!(a.set_blocked(false, &mut rng).inject.is_empty());
        assert_eq!(a.queued(), 1);
        // No bit of its own, and the snapshot is what it was before the mark; restored, text
        // held in a session that is up and not blocked is taken as held for the away client
        // (it used to go, with the next text, to the address that client had left).
        let away = a.snapshot();
        let mut c =
            Conversation::restore(IdentityKey::from_bytes(&[1; 32]), &away).expect("restore");
        assert!(c.holder_away());
        let out = c.send("w", &mut rng);
        assert_eq!(out.action, SendAction::Hold);
        assert!(out.inject.is_empty());
        assert_eq!(
            out.events,
            [Event::Held {
                queued: 2,
                reason: HoldReason::HolderAway
            }]
        );
        // Nothing held: restored as it was, not away; and the mark adds nothing to a snapshot.
        let (mut idle, _b2, mut rng2) = established(66);
        let before = idle.snapshot();
        let _ = idle.set_holder_away(true, &mut rng2);
        assert_eq!(idle.snapshot(), before);
        let plain =
            Conversation::restore(IdentityKey::from_bytes(&[1; 32]), &before).expect("restore");
        assert!(!plain.holder_away());
        // Given back: the session goes on.
        let out = c.give_back_held();
        assert_eq!(
            out.events,
            [
                Event::Unsent {
                    text: "x".into(),
                    why: UnsentReason::GivenBack
                },
                Event::Unsent {
                    text: "w".into(),
                    why: UnsentReason::GivenBack
                }
            ]
        );
        assert!(out.inject.is_empty());
        assert_eq!(c.state(), ConvState::Encrypted);
        assert!(c.holder_away());
        // A stop clears it.
        let _ = c.send("v", &mut rng);
        let out = c.stop(&mut rng);
        assert!(out.events.contains(&Event::Unsent {
            text: "v".into(),
            why: UnsentReason::Stopped
        }));
        assert!(!c.holder_away());
    }
    /// A line the server kept while this side was offline authenticates and is shown, but
    /// releases nothing held for the away holder (its client may have gone since it wrote); a
    /// line that was not kept then does.
    #[test]
    fn a_line_the_server_kept_releases_nothing() {
        let (mut a, mut b, mut rng) = established(67);
        let _ = a.set_holder_away(true, &mut rng);
        assert_eq!(a.send("held", &mut rng).action, SendAction::Hold);
        let mut lines = Vec::new();
        for text in ["written while a was offline", "written now"] {
            let SendAction::Replace(l) = b.send(text, &mut rng).action else {
                panic!("b sends");
            };
            lines.extend(l);
        }
        let out = a.receive_kept(&lines[0], 0, false, &mut rng);
        assert!(
            matches!(out.action, ReceiveAction::Display(ref t) if t.as_str() == "written while a was offline")
        );
        assert!(out.inject.is_empty() && out.events.is_empty(), "{out:?}");
        assert!(a.holder_away());
        assert_eq!(a.queued(), 1);
        let out = a.receive(&lines[1], 0, &mut rng);
        assert!(!a.holder_away());
        assert_eq!(shown(&mut b, &out.inject, &mut rng), ["held"]);
    }

    /// A handshake completed by a line the server kept holds what waited for it, as for an
    /// away holder (nothing says the client that finished it is there now); the host seeing
    /// that client releases it, in order. The handshake's own last line still goes.
    #[test]
    fn a_handshake_completed_by_a_kept_line_holds_what_waited() {
        let mut rng = crate::protocol::tests::rng(68);
        let (mut a, mut b) = crate::protocol::tests::pair(&mut rng, Policy::Manual);
        let mut to_b = a.start(&mut rng).inject;
        assert_eq!(
            a.send("typed while starting", &mut rng).action,
            SendAction::Hold
        );
        let mut events = Vec::new();
        while !to_b.is_empty() {
            let mut to_a = Vec::new();
            for l in to_b.drain(..) {
                to_a.extend(b.receive(&l, 0, &mut rng).inject);
            }
            for l in to_a {
                let out = a.receive_kept(&l, 0, false, &mut rng);
                events.extend(out.events);
                assert!(
                    !out.inject.iter().any(|l| l.starts_with("?S1D")),
                    "a data line left"
                );
                to_b.extend(out.inject);
            }
        }
        assert!(events.iter().any(|e| matches!(e, Event::Started { .. })));
        assert!(!events.iter().any(|e| matches!(e, Event::QueuedSent { .. })));
        // Told that it now waits for the client.
        assert_eq!(
            events.last(),
            Some(&Event::Held {
                queued: 1,
                reason: HoldReason::HolderAway
            })
        );
        assert_eq!(a.state(), ConvState::Encrypted);
        assert!(a.holder_away());
        assert_eq!(a.queued(), 1);
        let out = a.set_holder_away(false, &mut rng);
        assert_eq!(
            shown(&mut b, &out.inject, &mut rng),
            ["typed while starting"]
        );
        assert_eq!(a.queued(), 0);
    }

    /// A hostile `?S1D` line of about 400 KiB whose base64url goes bad only at its end grows
    /// the decode buffer to its size: that buffer is let go, not kept for the next line, and
    /// the line changes nothing.
    #[test]
    fn a_long_bad_data_line_leaves_no_large_buffer_held() {
        let (mut a, mut b, mut rng) = established(69);
        let SendAction::Replace(lines) = b.send("before", &mut rng).action else {
            panic!("b sends");
        };
        assert!(matches!(
            a.receive(&lines[0], 0, &mut rng).action,
            ReceiveAction::Display(_)
        ));
        let before = a.snapshot();
        // A real line's header (so the tail is decoded), then garbage with a bad last byte.
        let SendAction::Replace(lines) = b.send("x", &mut rng).action else {
            panic!("b sends");
        };
        for tail in ["!", " x!"] {
            let hostile = format!("{}{}{tail}", lines[0], "A".repeat(400 * 1024));
            let out = a.receive(&hostile, 0, &mut rng);
            assert_eq!(out.action, ReceiveAction::Swallow, "{tail:?}");
            assert!(
                a.received.capacity() <= RECEIVED_KEPT,
                "{tail:?}: {} bytes held",
                a.received.capacity()
            );
            assert_eq!(a.snapshot(), before, "{tail:?}");
        }
        // The real line still reads.
        assert!(matches!(
            a.receive(&lines[0], 0, &mut rng).action,
            ReceiveAction::Display(_)
        ));
    }

    /// Messages both ways in an established session make no box for the rarely used parts,
    /// and neither does letting go of the buffers kept for the next message; the next
    /// messages still read.
    #[test]
    fn an_idle_session_after_messages_has_no_cold_parts() {
        let (mut a, mut b, mut rng) = established(70);
        assert!(
            !a.cold.is_made() && !b.cold.is_made(),
            "after the handshake"
        );
        for round in 0..10 {
            let (from, to) = if round % 2 == 0 {
                (&mut a, &mut b)
            } else {
                (&mut b, &mut a)
            };
            let text = format!("message {round}");
            let SendAction::Replace(lines) = from.send(&text, &mut rng).action else {
                panic!("sent");
            };
            assert_eq!(shown(to, &lines, &mut rng), [text]);
        }
        assert!(!a.cold.is_made() && !b.cold.is_made(), "after messages");
        a.release_buffers();
        b.release_buffers();
        assert_eq!(a.received.capacity(), 0);
        assert!(!a.cold.is_made());
        let SendAction::Replace(lines) = a.send("after", &mut rng).action else {
            panic!("sent");
        };
        assert_eq!(shown(&mut b, &lines, &mut rng), ["after"]);
    }

    /// The box of the rarely used parts is made when one is used and dropped when all are
    /// empty again: held text sent, a run of questions aborted, a one-piece line read, held
    /// text handed back by a stop.
    #[test]
    fn the_cold_parts_go_when_they_empty() {
        let (mut a, mut b, mut rng) = established(71);
        // Held text, then sent.
        let _ = a.set_holder_away(true, &mut rng);
        assert_eq!(a.send("held", &mut rng).action, SendAction::Hold);
        assert!(a.cold.is_made());
        let out = a.set_holder_away(false, &mut rng);
        assert_eq!(shown(&mut b, &out.inject, &mut rng), ["held"]);
        assert!(!a.cold.is_made(), "the queue emptied");
        // A question-and-answer run, then aborted.
        let out = a.ask_question("Where?", "Paris", &mut rng);
        assert!(a.cold.is_made() && a.verification_running());
        for line in &out.inject {
            let _ = b.receive(line, 0, &mut rng);
        }
        assert!(b.cold.is_made() && b.pending_question().is_some());
        let out = a.abort_verification(&mut rng);
        assert!(!a.cold.is_made(), "the run ended");
        for line in &out.inject {
            let _ = b.receive(line, 0, &mut rng);
        }
        assert!(!b.cold.is_made(), "the peer's run ended");
        // A line in one piece: read, nothing buffered, nothing kept.
        let SendAction::Replace(lines) = b.send("one piece", &mut rng).action else {
            panic!("sent");
        };
        let piece = WireMessage::Fragment(crate::protocol::wire::Fragment {
            id: 7,
            index: 0,
            total: 1,
            chunk: lines[0].clone(),
        })
        .encode();
        assert_eq!(shown(&mut a, &[piece], &mut rng), ["one piece"]);
        assert!(!a.cold.is_made());
        // Pieces of a line the host no longer keeps.
        b.set_max_line(fragment::MIN_LINE);
        let SendAction::Replace(pieces) = b.send(&"x".repeat(200), &mut rng).action else {
            panic!("sent");
        };
        assert!(shown(&mut a, &pieces[..1], &mut rng).is_empty());
        assert!(a.cold.is_made() && a.fragments_buffered() > 0);
        a.drop_pieces();
        assert!(!a.cold.is_made());
        // Held text handed back by a stop.
        let _ = a.set_blocked(true, &mut rng);
        let _ = a.send("blocked", &mut rng);
        assert!(a.cold.is_made());
        let _ = a.stop(&mut rng);
        assert!(!a.cold.is_made());
    }

    /// What is pending is never dropped with the box: pieces of a long line wait across other
    /// lines read (each of which settles the box) and the line reads when its last piece
    /// comes; held text waits across a line read that releases nothing.
    #[test]
    fn the_cold_parts_stay_while_anything_is_pending() {
        let (mut a, mut b, mut rng) = established(72);
        b.set_max_line(fragment::MIN_LINE);
        let long = "a long message ".repeat(8);
        let SendAction::Replace(pieces) = b.send(&long, &mut rng).action else {
            panic!("sent");
        };
        assert!(pieces.len() > 2, "{} pieces", pieces.len());
        let (last, rest) = pieces.split_last().expect("pieces");
        assert!(shown(&mut a, rest, &mut rng).is_empty());
        assert!(a.cold.is_made());
        // Another line read in between (the sender's short one, whole).
        b.set_max_line(DEFAULT_MAX_LINE);
        let SendAction::Replace(short) = b.send("short", &mut rng).action else {
            panic!("sent");
        };
        assert_eq!(shown(&mut a, &short, &mut rng), ["short"]);
        assert!(
            a.cold.is_made() && a.fragments_buffered() > 0,
            "pieces kept"
        );
        assert_eq!(shown(&mut a, std::slice::from_ref(last), &mut rng), [long]);
        assert_eq!(a.fragments_buffered(), 0);
        // Held text stays held across a kept line (it releases nothing).
        let (mut c, mut d, mut rng) = established(73);
        let _ = c.set_holder_away(true, &mut rng);
        let _ = c.send("wait", &mut rng);
        let SendAction::Replace(lines) = d.send("kept", &mut rng).action else {
            panic!("sent");
        };
        let _ = c.receive_kept(&lines[0], 0, false, &mut rng);
        assert!(c.cold.is_made());
        assert_eq!(c.queued(), 1);
        assert_eq!(c.take_held().len(), 1);
        assert!(!c.cold.is_made());
    }

    /// A long line put together from pieces keeps the rarely used parts (the line is
    /// remembered, so that a replay of its pieces is known for one) until the sweep's tidy
    /// after [`fragment::COMPLETED_KEPT_SECS`]; then nothing is left of it, and the next long
    /// line still reads.
    #[test]
    fn a_line_put_together_from_pieces_goes_with_the_tidy() {
        let (mut a, mut b, mut rng) = established(74);
        let long = "a long message ".repeat(30);
        let SendAction::Replace(pieces) = b.send(&long, &mut rng).action else {
            panic!("sent");
        };
        assert!(pieces.len() > 1, "{} pieces", pieces.len());
        assert_eq!(
            shown(&mut a, &pieces, &mut rng),
            std::slice::from_ref(&long)
        );
        assert!(a.cold.is_made(), "the line is remembered");
        a.tidy(fragment::COMPLETED_KEPT_SECS);
        assert!(a.cold.is_made(), "still within its time");
        // A replay of a piece meanwhile is still known for one: nothing to tell when it expires.
        assert!(shown(&mut a, &pieces[1..2], &mut rng).is_empty());
        let out = a.tell_incomplete(fragment::COMPLETED_KEPT_SECS);
        assert!(out.events.is_empty() && out.inject.is_empty(), "{out:?}");
        a.tidy(fragment::COMPLETED_KEPT_SECS + 1);
        assert!(!a.cold.is_made(), "nothing left after its time");
        let SendAction::Replace(pieces) = b.send(&long, &mut rng).action else {
            panic!("sent");
        };
        assert_eq!(
            shown(&mut a, &pieces, &mut rng),
            std::slice::from_ref(&long)
        );
        // A line that never completed, told: when it was told goes once the interval passed.
        let (mut a, mut b, mut rng) = established(79);
        let SendAction::Replace(pieces) = b.send(&long, &mut rng).action else {
            panic!("sent");
        };
        assert!(shown(&mut a, &pieces[1..], &mut rng).is_empty());
        let told = fragment::MAX_AGE_SECS + 1;
        let out = a.tell_incomplete(told);
        assert_eq!(
            out.events,
            [Event::Unreadable {
                reason: UnreadableReason::Incomplete { asked: false }
            }]
        );
        a.tidy(told + NOT_READ_INTERVAL_SECS - 1);
        assert!(a.cold.is_made(), "told within the interval");
        a.tidy(told + NOT_READ_INTERVAL_SECS);
        assert!(!a.cold.is_made(), "nothing left once the interval passed");
    }

    /// Data lines naming a session `a` does not have (another pair's), each a not-read notice
    /// within the budget; and the not-read notice `a` sends for the first one.
    fn strays(rng: &mut ChaCha20Rng) -> (Vec<String>, String) {
        let (mut c, _d, _) = established(75);
        let lines: Vec<String> = (0..=NOT_READ_NOTICES)
            .map(|i| {
                let SendAction::Replace(l) = c.send(&format!("stray {i}"), rng).action else {
                    panic!("sent");
                };
                l[0].clone()
            })
            .collect();
        let Ok(WireMessage::Data(m)) = WireMessage::decode(&lines[0]) else {
            panic!("a data line");
        };
        (lines, MessageRef::of(&m).not_read_line())
    }

    /// Stray data lines of an unknown session spend the not-read notices' window, and a
    /// not-read notice about a message `b` never sent sets when that was last told: each
    /// keeps the rarely used parts until the sweep's tidy once the interval passed, and the
    /// tidy changes nothing of what the next such line gets, before or after the interval
    /// (or with the clock set back before the window: then the stamps are kept).
    #[test]
    fn notice_windows_go_with_the_tidy_and_answer_the_same() {
        const T0: u64 = 1000;
        let (lines, notice) = strays(&mut crate::protocol::tests::rng(76));
        // What `a` answers the last stray line at `at`, and `b` a second notice at `at`, after
        // a tidy at `tidy_at` (if any); and whether each kept its box after the tidy.
        let run = |tidy_at: Option<u64>, at: u64| {
            let (mut a, mut b, mut rng) = established(77);
            for line in &lines[..NOT_READ_NOTICES as usize] {
                let out = a.receive(line, T0, &mut rng);
                assert_eq!(out.inject.len(), 1, "a notice for each within the budget");
            }
            let out = b.receive(&notice, T0, &mut rng);
            assert_eq!(
                out.events,
                [Event::NotRead {
                    text: None,
                    incomplete: false
                }]
            );
            assert!(a.cold.is_made() && b.cold.is_made());
            if let Some(t) = tidy_at {
                a.tidy(t);
                b.tidy(t);
            }
            let kept = (a.cold.is_made(), b.cold.is_made());
            let last = a.receive(&lines[NOT_READ_NOTICES as usize], at, &mut rng);
            let again = b.receive(&notice, at, &mut rng);
            (
                kept,
                (last.inject, last.events),
                (again.inject, again.events),
            )
        };
        let over = T0 + NOT_READ_INTERVAL_SECS;
        // Within the interval: kept, and the limit still holds (no answer, no second notice).
        let (kept, last, again) = run(Some(over - 1), over - 1);
        assert_eq!(kept, (true, true));
        assert!(
            last.0.is_empty() && again.1.is_empty(),
            "{last:?} {again:?}"
        );
        assert_eq!((last, again), {
            let (_, l, g) = run(None, over - 1);
            (l, g)
        });
        // Over: nothing left, and the next line gets what it gets without the tidy.
        for at in [over, over + 100] {
            let (kept, last, again) = run(Some(over), at);
            assert_eq!(kept, (false, false), "at {at}");
            assert_eq!(last.0.len(), 1, "answered again at {at}");
            let (_, l, g) = run(None, at);
            assert_eq!((last, again), (l, g), "at {at}");
        }
        // The clock set back before the window: the stamps stay, and so does the box.
        let (kept, last, again) = run(Some(T0 - 100), T0 + 1);
        assert_eq!(kept, (true, true));
        assert!(
            last.0.is_empty() && again.1.is_empty(),
            "{last:?} {again:?}"
        );
    }

    /// A start tried again without the user (the contact came online) sets when it was last
    /// tried: the tidy forgets that stamp only once [`HANDSHAKE_TIMEOUT_SECS`] passed, and
    /// the next try gets what it gets without the tidy, one second before (nothing: tried
    /// too recently) and at the end of the interval (a new `?S1I`). The retry's own start
    /// lapses only after more than the interval, so a second try within it needs a clock set
    /// back a little (a host clock stepped back): what this test does.
    #[test]
    fn a_retry_stamp_goes_with_the_tidy_and_answers_the_same() {
        const AT: u64 = 1000;
        // What a second `peer_came_online` at `at` gives (the first one at `AT`, its start
        // lapsed), after a tidy at `at` or none; and whether the box was kept by the tidy.
        let run = |tidy: bool, at: u64| {
            let mut rng = crate::protocol::tests::rng(79);
            let (mut a, _b) = crate::protocol::tests::pair(&mut rng, Policy::Always);
            a.set_peer_supports_sotto(true);
            let _ = a.tick(100);
            assert_eq!(a.send("held", &mut rng).action, SendAction::Hold);
            let _ = a.tick(100 + HANDSHAKE_TIMEOUT_SECS + 1);
            assert!(a.start_lapsed());
            let _ = a.tick(AT);
            let first = a.peer_came_online(&mut rng);
            assert!(
                first.inject.len() == 1 && first.inject[0].starts_with("?S1I"),
                "{:?}",
                first.inject
            );
            assert_eq!(a.cold.get().and_then(|c| c.retried_at), Some(AT));
            let lapse = a.tick(AT + HANDSHAKE_TIMEOUT_SECS + 1);
            assert!(lapse.events.is_empty(), "{:?}", lapse.events);
            assert!(a.start_lapsed());
            // The clock set back to `at`.
            let _ = a.tick(at);
            if tidy {
                a.tidy(at);
            }
            let stamp = a.cold.get().and_then(|c| c.retried_at);
            let again = a.peer_came_online(&mut rng);
            (stamp, (again.inject, again.events))
        };
        let over = AT + HANDSHAKE_TIMEOUT_SECS;
        // Within the interval: the stamp stays, and no second start goes.
        let (stamp, again) = run(true, over - 1);
        assert_eq!(again, run(false, over - 1).1);
        assert!(again.0.is_empty() && again.1.is_empty(), "{again:?}");
        assert_eq!(stamp, Some(AT), "kept within the interval");
        // Over: the stamp goes, and the next try starts again as without the tidy.
        let (stamp, again) = run(true, over);
        assert_eq!(stamp, None, "forgotten once the interval passed");
        assert!(
            again.0.len() == 1 && again.0[0].starts_with("?S1I"),
            "{again:?}"
        );
        assert_eq!(again, run(false, over).1);
    }

    /// Data lines that overtook `?S1C` while `b` waits as responder are each asked for again,
    /// [`UNFINISHED_NOTICES`] per [`NOT_READ_INTERVAL_SECS`]: the tidy forgets the window only
    /// once the interval passed, and the next such line gets what it gets without the tidy,
    /// one second before (past the budget: an unknown session's not-read notice instead) and
    /// at the end of the interval (asked for again).
    #[test]
    fn an_unfinished_window_goes_with_the_tidy_and_answers_the_same() {
        const T0: u64 = 1000;
        // What `b` answers the last early line at `at`, after a tidy at `at` or none; and the
        // window the tidy left.
        let run = |tidy: bool, at: u64| {
            let mut rng = crate::protocol::tests::rng(80);
            let (mut a, mut b) = crate::protocol::tests::pair(&mut rng, Policy::Manual);
            a.set_peer_supports_sotto(true);
            let init = a.start(&mut rng).inject;
            let _ = a.tick(T0);
            let _ = b.tick(T0);
            let mut response = Vec::new();
            for line in &init {
                response.extend(b.receive(line, T0, &mut rng).inject);
            }
            for line in &response {
                let _ = a.receive(line, T0, &mut rng);
            }
            assert_eq!(a.state(), ConvState::Encrypted);
            assert!(matches!(b.phase.handshake(), Some(Handshake::Responder(_))));
            let data: Vec<String> = (0..=UNFINISHED_NOTICES)
                .map(|i| {
                    let SendAction::Replace(l) = a.send(&format!("early {i}"), &mut rng).action
                    else {
                        panic!("sent");
                    };
                    l[0].clone()
                })
                .collect();
            for line in &data[..UNFINISHED_NOTICES as usize] {
                let out = b.receive(line, T0, &mut rng);
                assert_eq!(
                    out.events,
                    [Event::Unreadable {
                        reason: UnreadableReason::BeforeConfirm
                    }]
                );
                assert_eq!(out.inject.len(), 1, "asked for again within the budget");
            }
            if tidy {
                b.tidy(at);
            }
            let window = b.cold.get().map_or((0, 0), |c| c.unfinished_notices);
            let last = b.receive(&data[UNFINISHED_NOTICES as usize], at, &mut rng);
            (window, (last.inject, last.events))
        };
        let over = T0 + NOT_READ_INTERVAL_SECS;
        // Within the interval: the window stays, and the budget still holds.
        let (window, last) = run(true, over - 1);
        assert_eq!(last, run(false, over - 1).1);
        assert_eq!(
            last.1,
            [Event::Unreadable {
                reason: UnreadableReason::UnknownSession
            }]
        );
        assert_eq!(window, (T0, UNFINISHED_NOTICES), "kept within the interval");
        // Over: the window goes, and the line is asked for again as without the tidy.
        let (window, last) = run(true, over);
        assert_eq!(window, (0, 0), "forgotten once the interval passed");
        assert_eq!(
            last.1,
            [Event::Unreadable {
                reason: UnreadableReason::BeforeConfirm
            }]
        );
        assert!(
            last.0.len() == 1 && last.0[0].ends_with("(handshake not finished)"),
            "{last:?}"
        );
        assert_eq!(last, run(false, over).1);
    }

    /// A message handed back undelivered is told once, with its text: until it was told it is
    /// handed back for the first time; then its header copied in front of other bytes (what
    /// anyone who saw the line can send) is the same message, handed back again; another
    /// message is told in its turn, its first piece too; a line no message of ours began is not
    /// known.
    #[test]
    fn a_message_handed_back_is_told_once_whatever_follows_its_header() {
        let (mut a, _b, mut rng) = established(100_000);
        let sent = |a: &mut Conversation, text: &str, rng: &mut ChaCha20Rng| {
            let SendAction::Replace(lines) = a.send(text, rng).action else {
                panic!("sent");
            };
            lines
        };
        let first = sent(&mut a, "the walrus words", &mut rng)[0].clone();
        let second = sent(&mut a, "the heron words", &mut rng)[0].clone();
        // The same header, other ciphertext bytes after it (still a well-formed line).
        let mut copy = first.clone().into_bytes();
        let at = copy.len() - 8;
        copy[at] = if copy[at] == b'A' { b'B' } else { b'A' };
        let copy = String::from_utf8(copy).expect("ASCII");
        assert_ne!(copy, first);
        assert!(matches!(
            WireMessage::decode(&copy),
            Ok(WireMessage::Data(_))
        ));
        let told = |h: HandedBack| match h {
            HandedBack::First(t) => format!("first: {}", t.as_deref().map_or("-", String::as_str)),
            HandedBack::Again => "again".to_owned(),
            HandedBack::Unknown => "unknown".to_owned(),
        };
        assert_eq!(told(a.handed_back(&first)), "first: the walrus words");
        assert_eq!(
            told(a.handed_back(&copy)),
            "first: the walrus words",
            "not told yet"
        );
        a.told_handed_back(&first);
        assert_eq!(
            told(a.handed_back(&copy)),
            "again",
            "a copy with other bytes"
        );
        assert_eq!(told(a.handed_back(&first)), "again", "the same line");
        a.told_handed_back(&copy);
        assert_eq!(
            told(a.handed_back(&second)),
            "first: the heron words",
            "another message is not marked"
        );
        // The text itself stays (a copy of the line is told as again, not as unknown).
        assert!(a.sent_text(&first).is_some());
        // Cut into pieces, a message is named by its first piece.
        a.max_line = 80;
        let pieces = sent(&mut a, "the grebe words", &mut rng);
        assert!(
            pieces.len() > 1 && pieces[0].starts_with("?S1P"),
            "{pieces:?}"
        );
        assert_eq!(told(a.handed_back(&pieces[0])), "first: the grebe words");
        a.told_handed_back(&pieces[0]);
        assert_eq!(told(a.handed_back(&pieces[0])), "again");
        assert_eq!(told(a.handed_back(&pieces[1])), "unknown", "a later piece");
        let forged = format!("?S1D{}", "Qx".repeat(40));
        assert_eq!(told(a.handed_back(&forged)), "unknown");
    }

    /// The sweep's tidy forgets the texts sent more than [`SENT_KEPT_SECS`] ago (and the
    /// list's room once none is left), keeps the newer ones, which a not-read notice still
    /// names and has sent again, and keeps those stamped after a clock set back.
    #[test]
    fn the_tidy_forgets_sent_texts_past_their_time() {
        fn sent_at(a: &mut Conversation, text: &str, now: u64, rng: &mut ChaCha20Rng) -> String {
            let _ = a.tick(now);
            let SendAction::Replace(lines) = a.send(text, rng).action else {
                panic!("sent");
            };
            lines[0].clone()
        }
        let (mut a, mut b, mut rng) = established(78);
        let old = sent_at(&mut a, "old", 100, &mut rng);
        let new = sent_at(&mut a, "new", 650, &mut rng);
        // The clock set back: nothing goes.
        a.tidy(50);
        assert_eq!(a.sent.len(), 2);
        a.tidy(100 + SENT_KEPT_SECS);
        assert_eq!(a.sent.len(), 2, "both within their time");
        assert!(a.sent_text(&old).is_some());
        a.tidy(101 + SENT_KEPT_SECS);
        assert_eq!(a.sent.len(), 1, "the old one forgotten");
        assert!(a.sent_text(&old).is_none());
        assert_eq!(
            a.sent_text(&new).as_deref().map(String::as_str),
            Some("new")
        );
        // A notice for the newer one names it; it is sent again over the next session.
        let Ok(WireMessage::Data(m)) = WireMessage::decode(&new) else {
            panic!("a data line");
        };
        let out = a.receive(&MessageRef::of(&m).not_read_line(), 700, &mut rng);
        assert_eq!(
            out.events,
            [Event::NotRead {
                text: Some("new".into()),
                incomplete: false
            }]
        );
        assert_eq!(a.cold.resend().len(), 1);
        // None left: the list gives its room back.
        a.tidy(651 + SENT_KEPT_SECS);
        assert!(a.sent.is_empty());
        assert_eq!(a.sent.capacity(), 0);
        // Messages still go both ways.
        let line = sent_at(&mut a, "later", 2000, &mut rng);
        assert_eq!(shown(&mut b, &[line], &mut rng), ["later"]);
    }

    /// A message told as handed back undelivered ("NOT delivered ... not sent again by
    /// itself") is not queued to go again when the contact's client then says it could not
    /// read it (its pieces that arrived expired there): the user was told to send it
    /// themselves, and may have; one told as nothing of the kind still is.
    #[test]
    fn a_message_told_undelivered_is_not_sent_again_on_a_later_notice() {
        let (mut a, mut b, mut rng) = established(100_000);
        let sent = |a: &mut Conversation, text: &str, rng: &mut ChaCha20Rng| {
            let SendAction::Replace(lines) = a.send(text, rng).action else {
                panic!("sent");
            };
            lines[0].clone()
        };
        let _ = a.tick(100);
        let bounced = sent(&mut a, "the avocet words", &mut rng);
        let lost = sent(&mut a, "the plover words", &mut rng);
        let notice = |line: &str| {
            let Ok(WireMessage::Data(m)) = WireMessage::decode(line) else {
                panic!("a data line");
            };
            MessageRef::of(&m).incomplete_line()
        };
        assert!(matches!(
            a.handed_back(&bounced),
            HandedBack::First(Some(_))
        ));
        a.told_handed_back(&bounced);
        let out = a.receive(&notice(&bounced), 110, &mut rng);
        assert!(out.events.is_empty(), "{:?}", out.events);
        assert!(out.inject.is_empty());
        assert_eq!(a.cold.resend().len(), 0, "queued to go again");
        assert!(a.sent_text(&bounced).is_none(), "its text let go");
        // Not told as handed back: named, and sent again with the next session.
        let out = a.receive(&notice(&lost), 111, &mut rng);
        assert_eq!(
            out.events,
            [Event::NotRead {
                text: Some("the plover words".into()),
                incomplete: true
            }]
        );
        assert_eq!(a.cold.resend().len(), 1);
        // Messages still go both ways.
        let line = sent(&mut a, "later", &mut rng);
        assert_eq!(shown(&mut b, &[line], &mut rng), ["later"]);
    }
}
