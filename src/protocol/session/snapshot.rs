//! The snapshot codec: a [`Conversation`] as versioned bytes, saved before every message
//! leaves and restored when the plugin loads. Snapshots sit on users' disks, so the layout
//! below is frozen for version 1 (`docs/PROTOCOL.md`, "Snapshot"; byte-exact fixtures in the
//! protocol tests), and restoring fails closed on anything malformed.
//!
//! ```text
//! 0x01 ‖ tag u32be ‖ policy u8 ‖ max_line u32be
//! ‖ flags u8 (1 peer runs Sotto, 2 finished, 4 blocked, 8 the handshake only answers the peer's,
//!   16 a start of ours lapsed, 32 no key is accepted on first use until one is accepted)
//! ‖ handshake: 0 | 1 (queried) | 2 ‖ initiator | 3 ‖ responder     (handshake.rs writes them)
//! ‖ session ‖ previous session
//!       each: 0 | 1 ‖ sid (4) ‖ h (32) ‖ peer identity (32) ‖ peer tag ‖ ratchet (ratchet.rs)
//! ‖ queue: count u32be ‖ (len u32be ‖ UTF-8)*
//! ‖ accepted peer keys: count u8 ‖ key (32)*
//! ```
//!
//! Version 2 is the same bytes (after its own version byte) followed by `reserved u32be`: the
//! current session's sending chain has indices set aside up to `reserved`, and a restore moves
//! the chain there (see `DoubleRatchet::reserve`). Written only while a reservation is ahead of
//! the chain; every other conversation is saved as version 1.
//!
//! Whether the peer's client holding the session was seen going away
//! (`Conversation::set_holder_away`) has no bit of its own (version 1 is unchanged): it is
//! what text held in a session that is up and not blocked means, and a restore sets it so.
//!
//! Partial fragments and a verification in progress are not kept: the peer's next message is
//! unaffected, and a verification simply has to be asked again.

use std::collections::VecDeque;

use thiserror::Error;

use super::cold::ColdSlot;
use super::conversation::Conversation;
use super::phase::{Handshake, Phase, Session};
use super::{Policy, MAX_KNOWN_KEYS, MAX_QUEUE};
use crate::protocol::fragment;
use crate::protocol::handshake::{Initiator, Responder};
use crate::protocol::identity::{IdentityKey, IdentityPublic};
use crate::protocol::ratchet::DoubleRatchet;
use crate::protocol::secret::{SecretBytes, SecretString};
use crate::protocol::snapshot::{put_bytes, Reader};

const SNAPSHOT_VERSION: u8 = 1;
/// Version 1's bytes followed by the current session's sending reservation (u32be), written
/// only while one is ahead of the chain (`DoubleRatchet::reserve`): every other snapshot is
/// still version 1, byte for byte.
const SNAPSHOT_VERSION_RESERVED: u8 = 2;

const FLAG_PEER_SUPPORTS: u8 = 1;
const FLAG_FINISHED: u8 = 2;
const FLAG_BLOCKED: u8 = 4;
/// The pending handshake only answers the peer's unsolicited start (`?S1Q`, `?S1I`, which anyone
/// can inject): the conversation is in plaintext to the user, and stays so after a restart.
/// Without it, a restored answer was a handshake of our own and held everything typed. An
/// older Sotto ignores the bit (and restores it as before).
const FLAG_HANDSHAKE_PASSIVE: u8 = 8;
/// A start of ours lapsed unanswered: what is typed is held and the start tried again
/// (`Conversation::start_lapsed`). An older Sotto ignores the bit (and sends the next line in
/// plaintext under `manual`, as it did before).
const FLAG_START_LAPSED: u8 = 16;
/// No key is taken on first use here until one is accepted (`Conversation::refuse_first_use`):
/// the conversation moved on from a name whose accepted keys were not its contact's (it keeps
/// none of them), and a restart must not make it a blank name whose next key is accepted
/// unasked. An older Sotto ignores the bit (and decides first use from the store's marks).
const FLAG_NO_FIRST_USE: u8 = 32;

/// Why a snapshot could not be restored.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SnapshotError {
    /// Written by a newer Sotto, or not a snapshot.
    #[error("unknown snapshot version")]
    Version,
    /// Truncated or malformed.
    #[error("corrupt snapshot")]
    Corrupt,
}

impl Policy {
    fn to_u8(self) -> u8 {
        match self {
            Policy::Manual => 0,
            Policy::Opportunistic => 1,
            Policy::Always => 2,
        }
    }

    fn from_u8(v: u8) -> Option<Self> {
        [Policy::Manual, Policy::Opportunistic, Policy::Always]
            .get(usize::from(v))
            .copied()
    }
}

impl Handshake {
    fn to_bytes(handshake: Option<&Self>, out: &mut Vec<u8>) {
        match handshake {
            None => out.push(0),
            Some(Handshake::Queried) => out.push(1),
            Some(Handshake::Initiator(i)) => {
                out.push(2);
                i.to_bytes(out);
            }
            Some(Handshake::Responder(r)) => {
                out.push(3);
                r.to_bytes(out);
            }
        }
    }

    fn from_reader(r: &mut Reader<'_>) -> Option<Option<Self>> {
        Some(Some(match r.u8()? {
            0 => return Some(None),
            1 => Handshake::Queried,
            2 => Handshake::Initiator(Box::new(Initiator::from_reader(r)?)),
            3 => Handshake::Responder(Box::new(Responder::from_reader(r)?)),
            _ => return None,
        }))
    }
}

impl Session {
    fn to_bytes(session: Option<&Self>, out: &mut Vec<u8>) {
        let Some(s) = session else {
            out.push(0);
            return;
        };
        out.push(1);
        out.extend_from_slice(&s.id);
        out.extend_from_slice(&s.hash);
        out.extend_from_slice(&s.peer.to_bytes());
        out.extend_from_slice(&s.peer_tag.to_be_bytes());
        s.ratchet.to_bytes(out);
    }

    fn from_reader(r: &mut Reader<'_>) -> Option<Option<Box<Self>>> {
        match r.u8()? {
            0 => Some(None),
            1 => Some(Some(Box::new(Session {
                id: r.array::<4>()?,
                hash: r.array::<32>()?,
                peer: IdentityPublic::from_bytes(r.array::<32>()?),
                peer_tag: r.u32()?,
                ratchet: DoubleRatchet::from_reader(r)?,
            }))),
            _ => None,
        }
    }
}

impl Conversation {
    /// The whole conversation as versioned bytes: ratchet, skipped keys, queue, handshake
    /// in progress. Partial fragments are not kept (the peer's next message is unaffected).
    pub fn snapshot(&self) -> SecretBytes {
        // Sized up front, never grown: a Vec that reallocates leaves an unwiped copy of the keys
        // written so far in the memory it frees.
        let mut out = SecretBytes::with_capacity(self.snapshot_capacity());
        let reservation = self.phase.session().and_then(|s| s.ratchet.reservation());
        out.push(if reservation.is_some() {
            SNAPSHOT_VERSION_RESERVED
        } else {
            SNAPSHOT_VERSION
        });
        out.extend_from_slice(&self.tag.to_be_bytes());
        out.push(self.policy.to_u8());
        out.extend_from_slice(&(self.max_line as u32).to_be_bytes());
        let flag = |set: bool, bit: u8| if set { bit } else { 0 };
        out.push(
            flag(self.peer_supports, FLAG_PEER_SUPPORTS)
                | flag(self.phase.is_finished(), FLAG_FINISHED)
                | flag(self.blocked, FLAG_BLOCKED)
                | flag(
                    self.handshake_passive && self.phase.handshake().is_some(),
                    FLAG_HANDSHAKE_PASSIVE,
                )
                | flag(self.start_lapsed, FLAG_START_LAPSED)
                | flag(self.first_use_refused, FLAG_NO_FIRST_USE),
        );
        Handshake::to_bytes(self.phase.handshake(), &mut out);
        Session::to_bytes(self.phase.session(), &mut out);
        Session::to_bytes(self.previous.as_deref(), &mut out);
        let queue = self.cold.queue();
        out.extend_from_slice(&(queue.len() as u32).to_be_bytes());
        for q in queue {
            put_bytes(&mut out, q.as_bytes());
        }
        out.push(self.known_keys.len() as u8);
        for k in &self.known_keys {
            out.extend_from_slice(&k.to_bytes());
        }
        if let Some(reserved) = reservation {
            out.extend_from_slice(&reserved.to_be_bytes());
        }
        out
    }

    /// Whether the conversation holds nothing a new one would not: no handshake, session,
    /// previous session, held text, lapsed start, block or first use refused, so its
    /// [`Conversation::snapshot`] is a new
    /// conversation's with the same settings (policy, line length) and what the store's tables
    /// give it when it is loaded (runs Sotto, accepted keys). Such a conversation needs no saved
    /// row: a line from a name never talked to that leaves it so writes nothing.
    pub fn is_blank(&self) -> bool {
        matches!(self.phase, Phase::Plaintext)
            && self.previous.is_none()
            && !self.blocked
            && self.cold.queue().is_empty()
            && !self.start_lapsed
            && !self.first_use_refused
    }

    #[cfg(test)]
    pub(crate) fn snapshot_capacity_for_tests(&self) -> usize {
        self.snapshot_capacity()
    }

    /// An upper bound of [`Conversation::snapshot`]'s length.
    fn snapshot_capacity(&self) -> usize {
        // Everything but the variable parts fits in 1 KiB (handshake state ~150 bytes, two
        // sessions' fixed parts ~260 each); each skipped key takes 68 bytes, each held message 4
        // plus its text, each known key 32.
        let skipped: usize = [self.phase.session(), self.previous.as_deref()]
            .into_iter()
            .flatten()
            .map(|s| s.ratchet.skipped_len())
            .sum();
        let queued: usize = self.cold.queue().iter().map(|q| 4 + q.len()).sum();
        1024 + 68 * skipped + queued + 32 * self.known_keys.len() + 4
    }

    /// Restores a conversation from [`Conversation::snapshot`].
    ///
    /// A version 2 snapshot was saved with sending indices set aside that messages may have
    /// used since (its later saves were not synced, and a crash lost them): the restored
    /// session's sending chain moves on past them, so no message key is used twice.
    pub fn restore(identity: IdentityKey, bytes: &[u8]) -> Result<Self, SnapshotError> {
        let mut r = Reader::new(bytes);
        let reserved = match r.u8() {
            Some(SNAPSHOT_VERSION) => false,
            Some(SNAPSHOT_VERSION_RESERVED) => true,
            _ => return Err(SnapshotError::Version),
        };
        let mut conv = Self::read(identity, &mut r).ok_or(SnapshotError::Corrupt)?;
        if reserved {
            let to = r.u32().ok_or(SnapshotError::Corrupt)?;
            conv.phase
                .session_mut()
                .and_then(|s| s.ratchet.skip_sending_to(to))
                .ok_or(SnapshotError::Corrupt)?;
        }
        if !r.is_empty() {
            return Err(SnapshotError::Corrupt);
        }
        // Text held in a session that is up and not blocked was held for the peer's client that
        // holds the session and went away (no other hold leaves that state): it stays held
        // until that client is back (a line that authenticates, a handshake that completes, the
        // host seeing its address again). It used to go, with the next text typed, to the
        // address the client had left.
        conv.holder_away = !conv.cold.queue().is_empty() && conv.may_send();
        Ok(conv)
    }

    fn read(identity: IdentityKey, r: &mut Reader<'_>) -> Option<Self> {
        let tag = r.u32()?;
        let policy = Policy::from_u8(r.u8()?)?;
        let max_line = r.u32()? as usize;
        let flags = r.u8()?;
        let handshake = Handshake::from_reader(r)?;
        let handshake_passive = flags & FLAG_HANDSHAKE_PASSIVE != 0 && handshake.is_some();
        let session = Session::from_reader(r)?;
        let previous = Session::from_reader(r)?;
        let count = r.u32()? as usize;
        if count > MAX_QUEUE {
            return None;
        }
        let mut cold = ColdSlot::default();
        if count > 0 {
            let queue = &mut cold.make().queue;
            *queue = VecDeque::with_capacity(count);
            for _ in 0..count {
                // A held text is what the user typed: a damaged one (not UTF-8) is wiped too.
                let text = match String::from_utf8(r.bytes()?.to_vec()) {
                    Ok(text) => text,
                    Err(e) => {
                        drop(SecretBytes::new(e.into_bytes()));
                        return None;
                    }
                };
                queue.push_back(SecretString::new(text));
            }
        }
        let known = usize::from(r.u8()?);
        if known > MAX_KNOWN_KEYS {
            return None;
        }
        let mut known_keys = Vec::with_capacity(known);
        for _ in 0..known {
            known_keys.push(IdentityPublic::from_bytes(r.array::<32>()?));
        }
        Some(Self {
            identity,
            tag,
            policy,
            max_line: max_line.max(fragment::MIN_LINE),
            peer_supports: flags & FLAG_PEER_SUPPORTS != 0,
            phase: Phase::from_parts(flags & FLAG_FINISHED != 0, handshake, session)?,
            blocked: flags & FLAG_BLOCKED != 0,
            // No bit of its own (see `restore`): set from what the snapshot holds.
            holder_away: false,
            names_held: None,
            previous,
            cold,
            in_order: false,
            known_keys,
            names: crate::protocol::names::Names::default(),
            now: 0,
            handshake_since: None,
            answering_since: None,
            handshake_passive,
            start_lapsed: flags & FLAG_START_LAPSED != 0,
            retrying: false,
            initiated_at: None,
            answers: (0, 0),
            sent: std::collections::VecDeque::new(),
            for_another_client: false,
            kept: false,
            first_use: true,
            first_use_refused: flags & FLAG_NO_FIRST_USE != 0,
            received: Vec::new(),
        })
    }
}
