//! The question-and-answer verification of one conversation, as a small state machine.
//!
//! ```text
//!          ask_question ─▶ Asked ── reply (0x11) ──▶ result sent, Idle
//!   Idle ─┤
//!          question (0x10) ─▶ Question ── answer_question ─▶ Replied ── result (0x12) ─▶ Idle
//! ```
//!
//! The rules for everything off that path are normative (PROTOCOL.md §5.2, "Runs"):
//!
//! * 0x10 in `Asked` (both users asked at once, or the peer lost our question): the side whose
//!   own SPAKE2 message is the smaller byte string keeps its question, ignores the peer's and
//!   sends its own 0x10 again; the other drops its own and takes the peer's. Equal messages:
//!   both runs end (reported as aborted).
//! * 0x10 in `Question` identical to the question waiting, or in `Replied` with the SPAKE2
//!   message of the question answered (its copy): ignored.
//! * 0x10 in any other state starts a new run as answerer (a run we were in is reported
//!   aborted first); a malformed 0x10 ends any run and is answered with 0x13.
//! * 0x11 outside `Asked` (a run this side no longer has, e.g. lost to a restart) is answered
//!   with 0x13 and ends any run; a malformed 0x11 in `Asked` fails the run and is answered
//!   with 0x13.
//! * 0x12 outside `Replied` is ignored (the asker has already finished).
//! * 0x13 ends any run (reported if there was one); in `Idle` it is ignored, never answered.
//! * Asking while a run is in progress sends 0x13 first, then the new 0x10.
//! * A new session (re-key) ends a run without a message, reported aborted on both sides; the
//!   user stopping, or a rename of the contact, ends it without a message.
//!
//! The cryptography (SPAKE2 and the confirmations) is in `protocol/verify.rs`; this file only
//! decides what is sent and told when, and it runs inside the session it is bound to
//! ([`Channel`]), so its messages travel encrypted like any other. A run is not part of the
//! snapshot: after a restart this side is `Idle`, and the rules above settle the peer.

use rand_core::CryptoRngCore;

use super::events::{Event, ReceiveOutcome};
use super::phase::Session;
use crate::protocol::identity::{IdentityKey, IdentityPublic};
use crate::protocol::verify::{self, Verify};

/// The session a verification runs in: it binds the exchange (handshake hash, both identity
/// keys) and carries its messages.
pub(super) struct Channel<'a> {
    session: &'a mut Session,
    me: IdentityPublic,
    max_line: usize,
}

impl<'a> Channel<'a> {
    /// A channel through `session`, if there is one.
    pub(super) fn new(
        session: Option<&'a mut Session>,
        identity: &IdentityKey,
        max_line: usize,
    ) -> Option<Self> {
        Some(Self {
            session: session?,
            me: identity.public(),
            max_line,
        })
    }

    fn send(
        &mut self,
        kind: u8,
        content: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Option<Vec<String>> {
        self.session
            .seal(kind, content, self.max_line, rng)
            .map(Vec::from)
    }
}

/// Where a verification stands: `None` is Idle.
#[derive(Default)]
pub(super) struct Verification {
    state: Option<Verify>,
}

impl Verification {
    /// Whether an inner message type belongs to verification.
    pub(super) fn carries(kind: u8) -> bool {
        (verify::KIND_ASK..=verify::KIND_ABORT).contains(&kind)
    }

    /// Back to Idle without telling the peer (a new session, or the user stopped).
    pub(super) fn reset(&mut self) {
        self.state = None;
    }

    /// Whether a run is under way (either side asked, and it is not decided or aborted).
    pub(super) fn running(&self) -> bool {
        // Every field named: this is also the check that there is nothing to keep (the
        // conversation's rarely used parts drop it when not running), so a new field must
        // not be left out of it.
        let Verification { state } = self;
        state.is_some()
    }

    /// Whether our answer to the peer's question has left and the asker's result is awaited.
    pub(super) fn replied(&self) -> bool {
        matches!(self.state, Some(Verify::Replied { .. }))
    }

    /// The question the peer asked, while it waits for our user's answer.
    pub(super) fn pending_question(&self) -> Option<&str> {
        match &self.state {
            Some(Verify::Question { question, .. }) => Some(question),
            _ => None,
        }
    }

    /// Our user asks; without a channel nothing is sent and the user hears it aborted.
    pub(super) fn ask(
        &mut self,
        channel: Option<Channel<'_>>,
        question: &str,
        answer: &str,
        rng: &mut impl CryptoRngCore,
    ) -> ReceiveOutcome {
        let mut out = ReceiveOutcome::swallow();
        let Some(mut ch) = channel else {
            out.events.push(Event::VerificationAborted);
            return out;
        };
        // A run in progress ends first, so the peer is never left waiting on it.
        if self.state.take().is_some() {
            out.inject = ch.send(verify::KIND_ABORT, &[], rng).unwrap_or_default();
        }
        let s = &ch.session;
        let Some((state, content)) = verify::ask(question, answer, &s.hash, &ch.me, &s.peer, rng)
        else {
            out.events.push(Event::VerificationAborted);
            return out;
        };
        // The state waits for a reply only if the question actually left.
        if let Some(lines) = ch.send(verify::KIND_ASK, &content, rng) {
            self.state = Some(state);
            out.inject.extend(lines);
        }
        out
    }

    /// Our user answers the peer's question (when one waits for an answer).
    pub(super) fn answer(
        &mut self,
        channel: Option<Channel<'_>>,
        answer: &str,
        rng: &mut impl CryptoRngCore,
    ) -> ReceiveOutcome {
        let mut out = ReceiveOutcome::swallow();
        // No question to answer (this side asked, or already replied, or nothing runs): a run
        // of ours is left as it is, and nothing is said here (the caller says there is no
        // question). It used to be dropped without a word to the peer.
        if !matches!(self.state, Some(Verify::Question { .. })) {
            return out;
        }
        let (Some(Verify::Question { spake_a, .. }), Some(mut ch)) = (self.state.take(), channel)
        else {
            out.events.push(Event::VerificationAborted);
            return out;
        };
        let s = &ch.session;
        match verify::reply(&spake_a, answer, &s.hash, &ch.me, &s.peer, rng) {
            Some((state, content)) => {
                if let Some(lines) = ch.send(verify::KIND_REPLY, &content, rng) {
                    self.state = Some(state);
                    out.inject = lines;
                }
            }
            None => {
                out.events.push(Event::VerificationAborted);
                out.inject = ch.send(verify::KIND_ABORT, &[], rng).unwrap_or_default();
            }
        }
        out
    }

    /// Our user gives up (either side); the peer is told if a verification was under way.
    pub(super) fn abort(
        &mut self,
        channel: Option<Channel<'_>>,
        rng: &mut impl CryptoRngCore,
    ) -> ReceiveOutcome {
        let mut out = ReceiveOutcome::swallow();
        if self.state.take().is_some() {
            out.inject = channel
                .and_then(|mut ch| ch.send(verify::KIND_ABORT, &[], rng))
                .unwrap_or_default();
            out.events.push(Event::VerificationAborted);
        }
        out
    }

    /// A verification message (see [`Verification::carries`]) arrived in the current session.
    pub(super) fn receive(
        &mut self,
        channel: Option<Channel<'_>>,
        kind: u8,
        content: &[u8],
        out: &mut ReceiveOutcome,
        rng: &mut impl CryptoRngCore,
    ) {
        let Some(mut ch) = channel else {
            return;
        };
        let (hash, peer) = (ch.session.hash, ch.session.peer);
        let state = self.state.take();
        // A run the peer ends after our answer left, short of its result, is said as such.
        let replied = matches!(state, Some(Verify::Replied { .. }));
        let aborted = |out: &mut ReceiveOutcome| {
            out.events.push(if replied {
                Event::VerificationUnconfirmed
            } else {
                Event::VerificationAborted
            })
        };
        match (kind, state) {
            (verify::KIND_ASK, state) => {
                let Some((spake_a, question)) = verify::parse_ask(content) else {
                    // As for a reply this side cannot place: the user is told only when a run
                    // ends with it; with none, a malformed question says nothing (a session
                    // could otherwise have "aborted" said, and a closed window opened, at will).
                    if state.is_some() {
                        aborted(out);
                    }
                    out.inject = ch.send(verify::KIND_ABORT, &[], rng).unwrap_or_default();
                    return;
                };
                match state {
                    // Crossing questions: the smaller SPAKE2 message keeps its question, and
                    // sends it again: the peer may have asked because it lost ours (a restart
                    // or a rename ends a run there without a word), and would otherwise wait
                    // for an answer to its own that never comes, as we would for ours. A peer
                    // that has ours already takes the copy as the same question.
                    Some(Verify::Asked {
                        spake,
                        sent,
                        content,
                    }) => match sent.as_slice().cmp(spake_a.as_slice()) {
                        std::cmp::Ordering::Less => {
                            out.inject =
                                ch.send(verify::KIND_ASK, &content, rng).unwrap_or_default();
                            self.state = Some(Verify::Asked {
                                spake,
                                sent,
                                content,
                            });
                            return;
                        }
                        std::cmp::Ordering::Equal => {
                            aborted(out);
                            return;
                        }
                        std::cmp::Ordering::Greater => aborted(out),
                    },
                    // The question we answered, again: the same run, still waiting for its
                    // result (a copy its asker sent when questions crossed may come late).
                    Some(Verify::Replied { key, asked }) if asked == spake_a => {
                        self.state = Some(Verify::Replied { key, asked });
                        return;
                    }
                    Some(Verify::Replied { .. }) => aborted(out),
                    // The question that waits, again (its asker sent it once more): the same
                    // run, nothing new to tell.
                    Some(Verify::Question {
                        spake_a: waiting,
                        question: asked,
                    }) if waiting == spake_a && asked == question => {
                        self.state = Some(Verify::Question {
                            spake_a: waiting,
                            question: asked,
                        });
                        return;
                    }
                    Some(Verify::Question { .. }) | None => {}
                }
                out.events.push(Event::VerificationQuestion {
                    question: question.clone(),
                });
                self.state = Some(Verify::Question { spake_a, question });
            }
            (verify::KIND_REPLY, Some(Verify::Asked { spake, .. })) => {
                match verify::finish_asker(&spake, content, &hash) {
                    verify::AskerOutcome::Finished { success, result } => {
                        out.inject = ch
                            .send(verify::KIND_RESULT, &result, rng)
                            .unwrap_or_default();
                        out.events.push(Event::VerificationResult {
                            success,
                            we_asked: true,
                            peer,
                        });
                    }
                    verify::AskerOutcome::Malformed => {
                        out.inject = ch.send(verify::KIND_ABORT, &[], rng).unwrap_or_default();
                        out.events.push(Event::VerificationResult {
                            success: false,
                            we_asked: true,
                            peer,
                        });
                    }
                }
            }
            (verify::KIND_REPLY, state) => {
                // A reply to a run this side does not have (lost to a restart, or never
                // asked): the peer waits for a result that will not come, so tell it. Our
                // user is told only when a run of ours ends with it (the contact's question
                // waiting for an answer): with none, there is nothing to say, and a session
                // could otherwise have "did not complete" said (and a closed window opened)
                // at will.
                if state.is_some() {
                    aborted(out);
                }
                out.inject = ch.send(verify::KIND_ABORT, &[], rng).unwrap_or_default();
            }
            (verify::KIND_RESULT, Some(Verify::Replied { key, .. })) => {
                let success = verify::finish_answerer(&key, content, &hash);
                out.events.push(Event::VerificationResult {
                    success,
                    we_asked: false,
                    peer,
                });
            }
            (verify::KIND_ABORT, Some(_)) => aborted(out),
            (verify::KIND_ABORT, None) => {}
            (_, state) => {
                // A result outside Replied: the asker has finished; keep our state.
                self.state = state;
            }
        }
    }
}
