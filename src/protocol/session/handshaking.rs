//! The handshake side of a [`Conversation`]: answering starts (bounded, and without holding the
//! user's text when nobody here asked), starting, finishing, the timeout, and what a finished
//! handshake establishes (trust on first use, a changed key, names that do not match).

use std::mem;

use rand_core::CryptoRngCore;

use super::conversation::Conversation;
use super::events::{Event, HoldReason, ReceiveOutcome, UnsentReason};
use super::phase::{Handshake, Phase, Session};
use super::{ANSWER_BURST, ANSWER_WINDOW_SECS, HANDSHAKE_TIMEOUT_SECS};
use crate::protocol::clock::older_than;
use crate::protocol::fragment;
use crate::protocol::handshake::{Established, HandshakeError, Initiator, Responder, Role};
use crate::protocol::names::Names;
use crate::protocol::wire::{ConfirmMessage, InitMessage, ResponseMessage, WireMessage};

impl Conversation {
    /// The host's clock (seconds since the epoch), given before each operation: a handshake
    /// that has been in flight longer than [`HANDSHAKE_TIMEOUT_SECS`] is abandoned (the session it
    /// would replace, if any, goes on). Messages held for it stay held. A start of ours that
    /// lapses with no session keeps its handshake, in memory, for a late answer
    /// (`Cold::lapsed_start`, `cold.rs`). Pieces of lines that stayed incomplete too long are
    /// dropped too.
    pub fn tick(&mut self, now_secs: u64) -> ReceiveOutcome {
        self.now = now_secs;
        self.expire_pieces(now_secs);
        let mut out = ReceiveOutcome::swallow();
        if self.phase.handshake().is_none() {
            self.handshake_since = None;
            return out;
        }
        let since = self.handshake_clock(now_secs);
        if older_than(since, HANDSHAKE_TIMEOUT_SECS, now_secs) {
            let (phase, dropped) =
                mem::replace(&mut self.phase, Phase::Plaintext).without_handshake();
            self.phase = phase;
            self.handshake_since = None;
            let ours = !mem::take(&mut self.handshake_passive);
            let dropped_ours = dropped.is_some() && ours;
            // A start of ours with no session to fall back on: the user expects encryption.
            let lapsed = dropped_ours && matches!(self.phase, Phase::Plaintext);
            self.start_lapsed |= lapsed;
            // Its handshake is kept for a late answer (PROTOCOL.md §3.2).
            if let (true, Some(Handshake::Initiator(i))) = (lapsed, dropped) {
                self.cold.make().lapsed_start = Some(i);
            }
            // Someone else's handshake (an answer to the peer's line, maybe forged) ends
            // without a word: what is held stays held as it was, and typing does what it did
            // (a server could otherwise have a false "tried again" said every two minutes).
            // So does a start tried again without the user (the first lapse was told).
            if dropped_ours && !mem::take(&mut self.retrying) {
                out.events.push(Event::HandshakeExpired {
                    queued: self.cold.queue().len(),
                    session_goes_on: self.phase.session().is_some(),
                });
            }
        }
        out
    }

    /// Whether a start of ours is wanted with none in flight: no session, not ended by the
    /// peer, no handshake at all (an answer to the peer's start is left to complete), and a
    /// start of ours lapsed or text is held behind one (what [`Conversation::send`] tries
    /// again at the next line typed).
    fn start_wanted(&self) -> bool {
        matches!(self.phase, Phase::Plaintext)
            && (self.start_lapsed || !self.cold.queue().is_empty())
    }

    /// Tries a start of ours again without the user typing ([`Self::start_wanted`]), at most
    /// once per [`HANDSHAKE_TIMEOUT_SECS`]: the peer's client answered a start of ours too
    /// late, or came online. Whatever makes it (a forged answer, a presence a server invents)
    /// gets one `?S1I` per interval, and the handshake that results releases what is held
    /// only as any other does (a key the user accepted, names that match). Only with a peer
    /// known to run Sotto: a query (`?S1Q`) is a line a person without Sotto reads, and is sent
    /// when the user types, never by itself. Said nothing of: the user was told at the lapse
    /// that the start is tried again.
    fn retry_start(&mut self, inject: &mut Vec<String>, rng: &mut impl CryptoRngCore) {
        let recent = self
            .cold
            .get()
            .and_then(|c| c.retried_at)
            .is_some_and(|at| {
                self.now >= at && self.now.saturating_sub(at) < HANDSHAKE_TIMEOUT_SECS
            });
        if recent || !self.peer_supports || !self.start_wanted() {
            return;
        }
        self.cold.make().retried_at = Some(self.now);
        self.begin_handshake(inject, rng);
        self.retrying = true;
    }

    /// The host saw a client of the peer come online (an XMPP available presence, a buddy's
    /// sign-on elsewhere; a server can invent either): a start of ours that lapsed, or text
    /// held behind one, is tried again ([`Self::retry_start`]: a peer known to run Sotto, at
    /// most once per [`HANDSHAKE_TIMEOUT_SECS`], only with no handshake in flight). The `?S1I`
    /// to send, if any; no event.
    pub fn peer_came_online(&mut self, rng: &mut impl CryptoRngCore) -> ReceiveOutcome {
        let mut out = ReceiveOutcome::swallow();
        self.retry_start(&mut out.inject, rng);
        self.cold.settle();
        out
    }

    /// Whether the answer window is over at `now` (or the clock went back).
    fn answer_window_over(&self, now: u64) -> bool {
        let start = self.answers.0;
        now.saturating_sub(start) >= ANSWER_WINDOW_SECS || now < start
    }

    /// Whether a start held back by the answer limit may be answered at `now`
    /// ([`Self::answer_held_back`]). For a periodic sweep.
    pub fn answer_due(&self, now_secs: u64) -> bool {
        self.cold.get().is_some_and(|c| c.held_back_init.is_some())
            && self.answer_window_over(now_secs)
    }

    /// Which start is held back to be answered later, if one is (its ephemeral key): for the
    /// caller to know where it came from (a transport that addresses the peer's clients one by
    /// one answers there, not wherever the peer wrote last).
    pub fn held_back_start(&self) -> Option<[u8; 32]> {
        self.cold
            .get()
            .and_then(|c| c.held_back_init.as_ref())
            .map(|m| m.ephemeral)
    }

    /// Answers the start held back when the answer window's answers were spent, once the
    /// window is over (as any start: the rules of PROTOCOL.md §3.2 at this moment, and counted
    /// in the new window). The clock is the last [`Conversation::tick`]'s.
    pub fn answer_held_back(&mut self, rng: &mut impl CryptoRngCore) -> ReceiveOutcome {
        let mut out = ReceiveOutcome::swallow();
        if self.answer_due(self.now) {
            if let Some(m) = self.cold.get_mut().and_then(|c| c.held_back_init.take()) {
                self.on_init(&m, &mut out, rng);
            }
        }
        self.cold.settle();
        out
    }

    /// Drops a handshake nobody here asked for (an answer to the peer's query or start) that
    /// was not finished in time, when nothing is held: what [`Conversation::tick`] would do
    /// for it, with nothing to report. For a periodic sweep of conversations no one writes in.
    pub fn expire_unanswered(&mut self, now_secs: u64) {
        if self.handshake_since.is_none() {
            return;
        }
        let since = self.handshake_clock(now_secs);
        if self.handshake_passive
            && self.cold.queue().is_empty()
            && older_than(since, HANDSHAKE_TIMEOUT_SECS, now_secs)
        {
            let _ = self.tick(now_secs);
        }
    }

    /// When the handshake in flight began, read at `now_secs`: now for one that has no clock
    /// yet (restored from a snapshot, which keeps none), and now again when the host's clock
    /// was set back before it (and so for the first answer to a repeated start): the wait
    /// then ends one timeout after the set-back. Left as it was, a start of ours stayed "in
    /// flight" until the clock caught up (hours after an NTP step back), what was typed held
    /// without a word and the lapse, and the retry when the contact signs on, waiting with it.
    pub(super) fn handshake_clock(&mut self, now_secs: u64) -> u64 {
        if let Some(first) = self.answering_since.as_mut() {
            *first = (*first).min(now_secs);
        }
        let since = self.handshake_since.get_or_insert(now_secs);
        *since = (*since).min(now_secs);
        *since
    }

    /// Whether this side has only been answering the peer's starts (no session, no start of its
    /// own) for longer than a handshake may wait, counted from its first answer to the same
    /// client however often that start was repeated (see `answering_since`).
    pub fn answering_too_long(&self, now_secs: u64) -> bool {
        self.handshake_passive
            && self.phase.handshake().is_some()
            && self.phase.session().is_none()
            && self
                .answering_since
                .is_some_and(|t| older_than(t, HANDSHAKE_TIMEOUT_SECS, now_secs))
    }

    /// Drops pieces of lines too old to complete (part of [`Conversation::tick`]; alone, for a
    /// periodic sweep, since nothing saved changes). Whether pieces are still buffered.
    pub fn expire_pieces(&mut self, now_secs: u64) -> bool {
        let Some(cold) = self.cold.get_mut() else {
            return false;
        };
        cold.reassembler.expire(now_secs);
        let buffered = !cold.reassembler.is_empty();
        self.cold.settle();
        buffered
    }

    /// Drops every piece of a partial line (the caller no longer keeps pieces from this peer).
    pub fn drop_pieces(&mut self) {
        if let Some(cold) = self.cold.get_mut() {
            cold.reassembler = fragment::Reassembler::new();
        }
        self.cold.settle();
    }

    /// Whether an unauthenticated start may be answered now (at most [`ANSWER_BURST`] per
    /// [`ANSWER_WINDOW_SECS`]); counts the answer.
    fn may_answer(&mut self) -> bool {
        if self.answer_window_over(self.now) {
            self.answers = (self.now, 0);
        }
        let count = &mut self.answers.1;
        *count = count.saturating_add(1);
        *count <= ANSWER_BURST
    }

    // A query or an init is unauthenticated: it is answered (rate-limited) but learns nothing
    // lasting; "runs Sotto" is learned only from a finished handshake.
    pub(super) fn on_query(&mut self, out: &mut ReceiveOutcome, rng: &mut impl CryptoRngCore) {
        if !matches!(self.phase.handshake(), Some(Handshake::Initiator(_))) && self.may_answer() {
            let ours = self.ours_since();
            self.start_initiator(&mut out.inject, rng);
            self.keep_ours(ours);
        }
    }

    pub(super) fn on_init(
        &mut self,
        m: &InitMessage,
        out: &mut ReceiveOutcome,
        rng: &mut impl CryptoRngCore,
    ) {
        match self.phase.handshake() {
            // Simultaneous start: the smaller ephemeral key stays initiator.
            // An init carrying our own ephemeral (reflected back at us) is ignored too.
            Some(Handshake::Initiator(i)) if i.ephemeral_public() <= m.ephemeral => return,
            // Another instance of the peer (a second login that saw the same query) while we
            // answer one: the first answered completes, the other's start expires unanswered.
            // Answering both would let the later replace the earlier and leave the earlier
            // instance holding a session nobody here has (issue 9).
            Some(Handshake::Responder(r)) if r.peer_tag() != m.initiator_tag => return,
            // A copy of the start being answered (a server's duplicate): our answer stands. A
            // new answer would replace it, and the `?S1C` to the first would fail here while
            // its sender held the session.
            Some(Handshake::Responder(r)) if r.answers(m) => return,
            _ => {}
        }
        if !self.may_answer() {
            // The newest start is answered once the window is over, not dropped: a client
            // coming online is handed every start its server kept, oldest first, and the
            // newest is the one its sender waits for (it completes only that one).
            self.cold.make().held_back_init = Some(m.clone());
            return;
        }
        let payload = self.names.encode();
        match Responder::respond(&self.identity, self.tag, m, &payload, rng) {
            Ok((r, reply)) => {
                // Any start held back is older than this one, answered. (One that fails, which
                // anyone can forge, drops nothing.)
                if let Some(cold) = self.cold.get_mut() {
                    cold.held_back_init = None;
                }
                let ours = self.ours_since();
                // The first of our answers to this client's starts, while they repeat: a name
                // never talked to keeps pieces of long lines only while it is being answered,
                // and a start repeated every 100 s (each answered, each with a full wait of its
                // own to be confirmed) must not let it keep them for good.
                let repeated = matches!(
                    self.phase.handshake(),
                    Some(Handshake::Responder(w))
                        if self.handshake_passive && w.peer_tag() == m.initiator_tag
                );
                let first = self.answering_since.filter(|_| repeated);
                self.set_handshake(Handshake::Responder(Box::new(r)));
                self.keep_ours(ours);
                self.answering_since = ours.is_none().then(|| first.unwrap_or(self.now));
                let line = WireMessage::Response(reply).encode();
                self.push_handshake_line(line, &mut out.inject, rng);
            }
            Err(reason) => out.events.push(Event::HandshakeFailed { reason }),
        }
    }

    /// A handshake line (`?S1R`, `?S1C`: they grow with the names they state), cut into `?S1P`
    /// pieces when it is longer than the peer's line limit, whole otherwise (§6). With the
    /// limits the plugin sets that happens only on SMS's 160 characters with names longer than
    /// a few characters (phone numbers): sent whole, the SMS plugin would cut it into messages
    /// that no longer read as one line, and the handshake could never finish.
    fn push_handshake_line(
        &self,
        line: String,
        inject: &mut Vec<String>,
        rng: &mut impl CryptoRngCore,
    ) {
        // A handshake line is a few hundred characters: never too long to cut.
        inject.extend(fragment::split(line, self.max_line, rng).unwrap_or_default());
    }

    pub(super) fn on_response(
        &mut self,
        m: &ResponseMessage,
        out: &mut ReceiveOutcome,
        rng: &mut impl CryptoRngCore,
    ) {
        let Some(Handshake::Initiator(i)) = self.phase.handshake() else {
            self.on_late_response(m, out, rng);
            return;
        };
        match i.finish(&self.identity, m, &self.names.encode()) {
            Ok((est, confirm)) => {
                let line = WireMessage::Confirm(confirm).encode();
                self.push_handshake_line(line, &mut out.inject, rng);
                self.establish(est, out, rng);
            }
            // An answer to another instance's start (another login of our own account): not
            // ours to report.
            Err(HandshakeError::WrongInstance) => {}
            // Most likely the answer to an earlier start of ours that lapsed (the peer's
            // server kept every one, and hands them over at its login, oldest first): the
            // answer to this one comes after it. Nothing changes either way.
            Err(_) if self.start_lapsed => {}
            Err(reason) => out.events.push(Event::HandshakeFailed { reason }),
        }
    }

    /// A `?S1R` while no start of ours is in flight. With a start of ours wanted (it lapsed
    /// unanswered, text is held), it is an answer that came after the timeout: the peer's
    /// client came online, and its server handed it the start it kept. It completes the
    /// lapsed start kept ([`ColdSlot::lapsed_start`](super::cold::ColdSlot::lapsed_start)) as the answer in time would have, the trust
    /// rules deciding what goes (`establish`). An answer that completes nothing (to an earlier
    /// start, whose later ones the peer answers next; replayed; forged) changes nothing, but
    /// with no start kept (this side restarted since) the peer's client is there to answer one:
    /// it is tried again ([`Self::retry_start`]). Anything else is stale or a duplicate.
    fn on_late_response(
        &mut self,
        m: &ResponseMessage,
        out: &mut ReceiveOutcome,
        rng: &mut impl CryptoRngCore,
    ) {
        if !self.start_wanted() || m.initiator_tag != self.tag {
            return;
        }
        let Some(i) = self.cold.lapsed_start() else {
            self.retry_start(&mut out.inject, rng);
            return;
        };
        if let Ok((est, confirm)) = i.finish(&self.identity, m, &self.names.encode()) {
            self.cold.drop_lapsed_start();
            let line = WireMessage::Confirm(confirm).encode();
            self.push_handshake_line(line, &mut out.inject, rng);
            self.establish(est, out, rng);
        }
    }

    pub(super) fn on_confirm(
        &mut self,
        m: &ConfirmMessage,
        out: &mut ReceiveOutcome,
        rng: &mut impl CryptoRngCore,
    ) {
        let Some(Handshake::Responder(r)) = self.phase.handshake() else {
            return;
        };
        match r.finish(&self.identity, m) {
            Ok(est) => self.establish(est, out, rng),
            // The confirm of a handshake this side did not answer (another instance's): silent.
            Err(HandshakeError::WrongInstance) => {}
            Err(reason) => out.events.push(Event::HandshakeFailed { reason }),
        }
    }

    pub(super) fn note_peer_supports(&mut self, events: &mut Vec<Event>) {
        if !self.peer_supports {
            self.peer_supports = true;
            events.push(Event::PeerSupportsSotto);
        }
    }

    pub(super) fn set_handshake(&mut self, handshake: Handshake) {
        self.phase = mem::replace(&mut self.phase, Phase::Plaintext).with_handshake(handshake);
        self.handshake_since = Some(self.now);
        self.handshake_passive = false;
        // A newer handshake: only it may complete (the peer's side ends on the newest too).
        self.cold.drop_lapsed_start();
    }

    /// When the handshake asked for here (by the user or the policy) that is in flight began,
    /// if one is: a line of the peer's that puts another handshake in its place (an answer to
    /// its query or start) keeps it, and its clock ([`Self::keep_ours`]).
    fn ours_since(&self) -> Option<Option<u64>> {
        self.active_handshake().then_some(self.handshake_since)
    }

    /// After [`Self::set_handshake`] for a peer's line: the handshake is ours (and keeps our
    /// start's clock) if it replaced ours (`ours`), else passive. So a server that makes this
    /// side answer start after start of its own (each winning the tie-break) cannot keep a
    /// start of ours from lapsing, and the user from being told (§3.3).
    fn keep_ours(&mut self, ours: Option<Option<u64>>) {
        self.handshake_passive = ours.is_none();
        if let Some(Some(since)) = ours {
            self.handshake_since = Some(since);
        }
    }

    /// Whether a handshake asked for here (by the user or the policy) is in flight.
    pub(super) fn active_handshake(&self) -> bool {
        self.phase.handshake().is_some() && !self.handshake_passive
    }

    pub(super) fn start_initiator(
        &mut self,
        inject: &mut Vec<String>,
        rng: &mut impl CryptoRngCore,
    ) {
        let (i, msg) = Initiator::start(self.tag, rng);
        self.set_handshake(Handshake::Initiator(Box::new(i)));
        inject.push(WireMessage::Init(msg).encode());
    }

    pub(super) fn begin_handshake(
        &mut self,
        inject: &mut Vec<String>,
        rng: &mut impl CryptoRngCore,
    ) {
        self.retrying = false;
        if self.peer_supports {
            self.start_initiator(inject, rng);
        } else {
            self.set_handshake(Handshake::Queried);
            inject.push(WireMessage::Query.encode());
        }
    }

    pub(super) fn establish(
        &mut self,
        est: Established,
        out: &mut ReceiveOutcome,
        rng: &mut impl CryptoRngCore,
    ) {
        let Some(session) = Session::new(&est, rng) else {
            // The ratchet's first DH step gave an all-zero secret.
            out.events.push(Event::HandshakeFailed {
                reason: HandshakeError::NonContributory,
            });
            return;
        };
        let peer = est.peer_identity();
        // The key of the session this one replaces, if any: a first use is a first session,
        // never a new key in place of a live one (a name emptied of keys by renames must not
        // let another key in without a warning).
        let replaced = self.peer_identity();
        // What the peer states about names, against what we see (an empty payload: none).
        let mismatch = Names::decode(est.peer_payload()).and_then(|n| self.names.mismatch(&n));
        // Whether this session answers the peer's start (none of ours was asked for here).
        let answered = self.handshake_passive;
        // A re-key keeps the session it replaces for messages still in flight.
        self.handshake_passive = false;
        // The client that finished it is there (the host moves the session's address to it),
        // unless the server kept its line while this side was offline: then nobody knows, and
        // what is typed waits as for a holder away until the host says it is there.
        self.holder_away = self.kept;
        self.start_lapsed = false;
        self.retrying = false;
        self.cold.drop_starts();
        self.initiated_at = (est.role() == Role::Initiator).then_some(self.now);
        let current = mem::replace(&mut self.phase, Phase::Encrypted(session)).into_session();
        // The replaced session becomes the previous one, unless it is on a key the user has not
        // accepted (or there is none) and the previous one is on a key they have: a server that finishes two
        // handshakes with keys of its own must not push the contact's own session out (its
        // lines in flight, and those the contact goes on sending over it, are read).
        let accepted = |s: &Session| self.known_keys.contains(&s.peer);
        // No current session counts as none accepted: a forged session the server ended
        // (which leaves the contact's own as the previous one) is no reason to drop it.
        let keep_previous = current.as_deref().is_none_or(|c| !accepted(c))
            && self.previous.as_deref().is_some_and(accepted);
        if !keep_previous {
            self.previous = current;
        }
        // A question-and-answer run is bound to the session it began in: it ends here, and
        // the user is told (a forged start the honest peer answers must not leave them
        // waiting for an answer that can no longer count).
        let was_verifying = self.cold.verification_running();
        // Unconfirmed only when the peer's start ended a run we answered: one of ours (the
        // user's own start) ends it by the user's choice.
        let replied = self.cold.verification_replied() && answered;
        self.cold.reset_verification();
        // Only a finished, authenticated handshake teaches that the peer runs Sotto.
        self.note_peer_supports(&mut out.events);
        out.events.push(Event::Started {
            peer,
            fingerprint: peer.fingerprint(),
        });
        if replied {
            out.events.push(Event::VerificationUnconfirmed);
        } else if was_verifying {
            out.events.push(Event::VerificationAborted);
        }
        if self.known_keys.is_empty()
            && self.first_use
            && !self.first_use_refused
            && replaced.is_none_or(|k| k == peer)
        {
            // Trust on first use, but not of a key whose owner states other names.
            if mismatch.is_none() {
                self.remember_key(peer);
            }
            out.events.push(Event::NewPeerKey {
                fingerprint: peer.fingerprint(),
            });
        } else if !self.known_keys.contains(&peer) {
            // Nothing typed goes to a key the user has not accepted.
            self.blocked = true;
            self.names_held = None;
            out.events.push(Event::PeerKeyChanged {
                fingerprint: peer.fingerprint(),
            });
        }
        // A key the user accepted (or just taken on first use): a hold that was about an
        // earlier session (a forged key never accepted, the contact the window showed before a
        // rename, names that did not match) does not carry over, unless it is the same hold
        // again (the same key stating the same wrong names: what is held stays held, for the
        // user's acknowledgement). What was typed during a hold that ends was typed for that
        // earlier session's party, under its warning: handed back, never sent to this one; so
        // is what waited to be sent again (a not-read notice, which anyone can forge, named
        // it: it was written for whoever held the conversation before the hold).
        let same_hold = mismatch.is_some() && replaced == Some(peer);
        if self.blocked && self.known_keys.contains(&peer) && !same_hold {
            self.blocked = false;
            self.names_held = None;
            for waiting in self.cold.take_resend() {
                out.events.push(Event::NotResent {
                    text: waiting.text.to_string(),
                });
            }
            for text in self.cold.take_queue() {
                out.events.push(Event::Unsent {
                    text: text.to_string(),
                    why: UnsentReason::HoldEnded,
                });
            }
        }
        if let Some(m) = mismatch {
            // Held like a changed key: nothing typed goes out under names the user has not
            // seen, until they acknowledge (`acknowledge_peer_key`).
            // (Held for a key not accepted first: the names go with that hold, which
            // accepting the key ends.)
            if !self.blocked || self.names_held.is_some() {
                self.names_held = Some(m.clone());
            }
            self.blocked = true;
            out.events.push(Event::NamesMismatch {
                stated_self: m.stated_self,
                stated_peer: m.stated_peer,
            });
        }
        if self.may_send() {
            self.flush(out, rng);
        } else if self.holder_away && !self.blocked && !self.cold.queue().is_empty() {
            // Finished by a line the server kept: what waited for the session now waits for
            // its client to be seen, and the user is told why.
            out.events.push(Event::Held {
                queued: self.cold.queue().len(),
                reason: HoldReason::HolderAway,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::session::Policy;
    use crate::protocol::tests::rng;
    use crate::protocol::IdentityKey;

    /// A flood of starts within one window stops being answered and never overflows the count
    /// (`u32`: it panicked a debug build at its end).
    #[test]
    fn the_answer_count_saturates() {
        let mut rng = rng(44);
        let mut c = Conversation::new(IdentityKey::generate(&mut rng), 7, Policy::Manual);
        c.answers = (0, u32::MAX - 1);
        for _ in 0..3 {
            let mut out = ReceiveOutcome::swallow();
            c.on_query(&mut out, &mut rng);
            assert!(out.inject.is_empty());
        }
        assert_eq!(c.answers, (0, u32::MAX));
    }
}
