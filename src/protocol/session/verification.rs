//! The question-and-answer verification of one conversation, as a small state machine.
//!
//! ```text
//!          ask_question ─▶ Asked ── reply (0x11) ──▶ result sent, Idle
//!   Idle ─┤
//!          question (0x10) ─▶ Question ── answer_question ─▶ Replied ── result (0x12) ─▶ Idle
//! ```
//!
//! Any state goes back to Idle on an abort (0x13, or [`Verification::abort`]), on a new session
//! and when the user stops; a message that does not fit the state is dropped and the state kept.
//! The cryptography (SPAKE2 and the confirmations) is in `protocol/verify.rs`; this file only
//! decides what is sent and told when, and it runs inside the session it is bound to
//! ([`Channel`]), so its messages travel encrypted like any other.

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
        self.session.seal(kind, content, self.max_line, rng)
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
        let s = &ch.session;
        let (state, content) = verify::ask(question, answer, &s.hash, &ch.me, &s.peer, rng);
        // The state waits for a reply only if the question actually left.
        if let Some(lines) = ch.send(verify::KIND_ASK, &content, rng) {
            self.state = Some(state);
            out.inject = lines;
        }
        out
    }

    /// Our user answers the peer's question. Whatever state we were in is left first.
    pub(super) fn answer(
        &mut self,
        channel: Option<Channel<'_>>,
        answer: &str,
        rng: &mut impl CryptoRngCore,
    ) -> ReceiveOutcome {
        let mut out = ReceiveOutcome::swallow();
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
        match (kind, self.state.take()) {
            (verify::KIND_ASK, _) => match verify::parse_ask(content) {
                Some((spake_a, question)) => {
                    out.events.push(Event::VerificationQuestion {
                        question: question.clone(),
                    });
                    self.state = Some(Verify::Question { spake_a, question });
                }
                None => out.events.push(Event::VerificationAborted),
            },
            (verify::KIND_REPLY, Some(Verify::Asked { spake })) => {
                let (success, content) = verify::finish_asker(*spake, content, &hash);
                out.inject = ch
                    .send(verify::KIND_RESULT, &content, rng)
                    .unwrap_or_default();
                out.events.push(Event::VerificationResult {
                    success,
                    we_asked: true,
                    peer,
                });
            }
            (verify::KIND_RESULT, Some(Verify::Replied { key })) => {
                let success = verify::finish_answerer(&key, content, &hash);
                out.events.push(Event::VerificationResult {
                    success,
                    we_asked: false,
                    peer,
                });
            }
            (verify::KIND_ABORT, Some(_)) => out.events.push(Event::VerificationAborted),
            (verify::KIND_ABORT, None) => {}
            (_, state) => {
                // Out of order (e.g. a reply we did not ask for): drop it, keep our state.
                self.state = state;
            }
        }
    }
}
