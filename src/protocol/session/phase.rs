//! [`Phase`]: where a conversation stands, holding what exists in that state: a handshake in
//! flight, an established [`Session`], or both while re-keying. A state and its data cannot
//! disagree, and the states the diagram in `mod.rs` leaves implicit (re-keying, a peer
//! restarting after it ended the session) have names.

use rand_core::CryptoRngCore;

use super::ConvState;
use crate::protocol::fragment::{self, Lines};
use crate::protocol::handshake::{Established, Initiator, Responder};
use crate::protocol::identity::IdentityPublic;
use crate::protocol::ratchet::DoubleRatchet;
use crate::protocol::wire::MessageRef;

/// A handshake in flight.
pub(super) enum Handshake {
    /// We sent a query and wait for the peer's handshake start.
    Queried,
    /// We sent `?S1I` and wait for `?S1R`.
    Initiator(Box<Initiator>),
    /// We answered with `?S1R` and wait for `?S1C`.
    Responder(Box<Responder>),
}

/// An established session: the ratchet and what binds it to its handshake.
pub(super) struct Session {
    /// The first 4 bytes of `hash`: names the session in every data message.
    pub(super) id: [u8; 4],
    /// The handshake hash, bound into every message's associated data.
    pub(super) hash: [u8; 32],
    pub(super) peer: IdentityPublic,
    pub(super) peer_tag: u32,
    pub(super) ratchet: DoubleRatchet,
}

impl Session {
    /// The session a finished handshake starts; `None` if the ratchet's first DH step fails.
    /// Boxed from the start (see [`Phase::Encrypted`]).
    pub(super) fn new(est: &Established, rng: &mut impl CryptoRngCore) -> Option<Box<Self>> {
        let ratchet = DoubleRatchet::new(est, rng)?;
        Some(Box::new(Self {
            id: est.session_id(),
            hash: est.handshake_hash(),
            peer: est.peer_identity(),
            peer_tag: est.peer_tag(),
            ratchet,
        }))
    }

    /// Encrypts one inner message into wire lines of at most `max_line` characters.
    pub(super) fn seal(
        &mut self,
        kind: u8,
        content: &[u8],
        max_line: usize,
        rng: &mut impl CryptoRngCore,
    ) -> Option<Lines> {
        self.seal_ref(kind, content, max_line, rng)
            .map(|(lines, _)| lines)
    }

    /// [`Session::seal`], and which message it made (for a not-read notice to name).
    #[inline(always)]
    pub(super) fn seal_ref(
        &mut self,
        kind: u8,
        content: &[u8],
        max_line: usize,
        rng: &mut impl CryptoRngCore,
    ) -> Option<(Lines, MessageRef)> {
        // Sealed in the ratchet's own buffer and encoded from there: the line is the one
        // allocation.
        let (header, line) = self.ratchet.seal_line(kind, content, (self.id, &self.hash));
        let lines = fragment::split(line, max_line, rng).ok()?;
        Some((lines, MessageRef::of(&header)))
    }
}

/// Where the conversation stands, with what exists in that state.
pub(super) enum Phase {
    /// No session and no handshake.
    Plaintext,
    /// A handshake (or a query) is under way and no session exists.
    Handshaking(Handshake),
    /// A session is up. Boxed, as in every variant: the session's keys stay where they were
    /// allocated, whatever moves the conversation around them (a map of conversations
    /// growing, a phase changing) leaves no copy of them behind in freed memory.
    Encrypted(Box<Session>),
    /// A session is up and a new handshake is under way (either side restarted). It reports
    /// [`ConvState::Encrypted`]: the session keeps encrypting what is typed, decrypting,
    /// verifying and can be ended until the new one replaces it. (An unauthenticated `?S1I`,
    /// injected or replayed, starts such a handshake; it must not hold the conversation.)
    Rekeying(Box<Session>, Handshake),
    /// The peer ended the session: typed text is held until the user starts or stops. A
    /// handshake the peer starts meanwhile is kept (and completes), but until it does the phase
    /// still reports [`ConvState::Finished`].
    Finished(Option<Handshake>),
}

impl Phase {
    /// Rebuilds a phase from a snapshot's parts; `None` for a finished phase with a session,
    /// which no state change produces.
    pub(super) fn from_parts(
        finished: bool,
        handshake: Option<Handshake>,
        session: Option<Box<Session>>,
    ) -> Option<Self> {
        Some(match (finished, handshake, session) {
            (false, None, None) => Phase::Plaintext,
            (false, Some(h), None) => Phase::Handshaking(h),
            (false, None, Some(s)) => Phase::Encrypted(s),
            (false, Some(h), Some(s)) => Phase::Rekeying(s, h),
            (true, h, None) => Phase::Finished(h),
            (true, _, Some(_)) => return None,
        })
    }

    /// The state the UI sees.
    pub(super) fn state(&self) -> ConvState {
        match self {
            Phase::Plaintext => ConvState::Plaintext,
            Phase::Handshaking(_) => ConvState::Handshaking,
            Phase::Encrypted(_) | Phase::Rekeying(..) => ConvState::Encrypted,
            Phase::Finished(_) => ConvState::Finished,
        }
    }

    /// The session that encrypts, if one is up.
    pub(super) fn session(&self) -> Option<&Session> {
        match self {
            Phase::Encrypted(s) | Phase::Rekeying(s, _) => Some(s),
            Phase::Plaintext | Phase::Handshaking(_) | Phase::Finished(_) => None,
        }
    }

    pub(super) fn session_mut(&mut self) -> Option<&mut Session> {
        match self {
            Phase::Encrypted(s) | Phase::Rekeying(s, _) => Some(s),
            Phase::Plaintext | Phase::Handshaking(_) | Phase::Finished(_) => None,
        }
    }

    /// The handshake in flight, if any.
    pub(super) fn handshake(&self) -> Option<&Handshake> {
        match self {
            Phase::Handshaking(h) | Phase::Rekeying(_, h) | Phase::Finished(Some(h)) => Some(h),
            Phase::Plaintext | Phase::Encrypted(_) | Phase::Finished(None) => None,
        }
    }

    pub(super) fn is_finished(&self) -> bool {
        matches!(self, Phase::Finished(_))
    }

    pub(super) fn into_session(self) -> Option<Box<Session>> {
        match self {
            Phase::Encrypted(s) | Phase::Rekeying(s, _) => Some(s),
            Phase::Plaintext | Phase::Handshaking(_) | Phase::Finished(_) => None,
        }
    }

    pub(super) fn into_handshake(self) -> Option<Handshake> {
        match self {
            Phase::Handshaking(h) | Phase::Rekeying(_, h) => Some(h),
            Phase::Finished(h) => h,
            Phase::Plaintext | Phase::Encrypted(_) => None,
        }
    }

    /// The same phase without its handshake (abandoned), and that handshake; `None` when none
    /// was in flight.
    pub(super) fn without_handshake(self) -> (Self, Option<Handshake>) {
        match self {
            Phase::Handshaking(h) => (Phase::Plaintext, Some(h)),
            Phase::Rekeying(s, h) => (Phase::Encrypted(s), Some(h)),
            Phase::Finished(Some(h)) => (Phase::Finished(None), Some(h)),
            other => (other, None),
        }
    }

    /// The same phase with `handshake` in flight (replacing any other).
    pub(super) fn with_handshake(self, handshake: Handshake) -> Self {
        match self {
            Phase::Plaintext | Phase::Handshaking(_) => Phase::Handshaking(handshake),
            Phase::Encrypted(s) | Phase::Rekeying(s, _) => Phase::Rekeying(s, handshake),
            Phase::Finished(_) => Phase::Finished(Some(handshake)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A phase holds its session by pointer: moving a conversation (a map of them growing, a
    /// phase changing) moves no key. Inline, a session's root and chain keys alone are 96
    /// bytes.
    #[test]
    fn a_phase_holds_its_session_by_pointer() {
        assert!(core::mem::size_of::<Phase>() <= 3 * core::mem::size_of::<usize>());
    }
}
