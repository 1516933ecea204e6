//! Splitting long lines to fit a protocol's line limit, and putting them back together.
//!
//! A fragment is `?S1P` ‖ id (4 base64url digits, 24 bits) ‖ index (2) ‖ total (2) ‖ chunk:
//! 12 characters of overhead (libotr spends 36). Pieces reassemble in any order, interleaved
//! with other traffic and with other fragmented lines.
//!
//! Bounds, so hostile fragments cannot exhaust memory: at most [`MAX_PENDING`] partial
//! lines per peer, [`MAX_BUFFERED_BYTES`] buffered in total, [`MAX_AGE_SECS`] per partial
//! line; the oldest partial line is dropped first.

use std::collections::HashMap;

use rand_core::CryptoRngCore;
use thiserror::Error;

use super::wire::{Fragment, WireMessage};

/// Characters a fragment header costs.
pub const HEADER_CHARS: usize = 12;
/// Most pieces one line may be cut into (12 bits in the header).
pub const MAX_FRAGMENTS: usize = 4095;
/// Partial lines kept at once, per conversation.
pub const MAX_PENDING: usize = 8;
/// Characters buffered in partial lines, per conversation.
pub const MAX_BUFFERED_BYTES: usize = 512 * 1024;
/// Seconds a partial line may wait for its missing pieces.
pub const MAX_AGE_SECS: u64 = 300;
/// The smallest line limit we accept: anything less cannot carry a handshake message.
pub const MIN_LINE: usize = 64;

/// Why a line could not be fragmented.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FragmentError {
    /// It would need more than [`MAX_FRAGMENTS`] pieces.
    #[error("message too long to send ({0} characters)")]
    TooLong(usize),
}

/// Cuts `line` into pieces of at most `max_line` characters (one piece, unchanged, if it fits).
/// `line` must be ASCII (all Sotto lines are).
pub fn split(
    line: &str,
    max_line: usize,
    rng: &mut impl CryptoRngCore,
) -> Result<Vec<String>, FragmentError> {
    let max_line = max_line.max(MIN_LINE);
    if line.len() <= max_line {
        return Ok(vec![line.to_owned()]);
    }
    let chunk = max_line - HEADER_CHARS;
    let total = line.len().div_ceil(chunk);
    if total > MAX_FRAGMENTS || total > MAX_BUFFERED_BYTES / chunk + 1 {
        return Err(FragmentError::TooLong(line.len()));
    }
    let id = rng.next_u32() & 0xff_ffff;
    Ok(line
        .as_bytes()
        .chunks(chunk)
        .enumerate()
        .map(|(index, piece)| {
            WireMessage::Fragment(Fragment {
                id,
                index: index as u16,
                total: total as u16,
                chunk: String::from_utf8_lossy(piece).into_owned(),
            })
            .encode()
        })
        .collect())
}

struct Partial {
    total: u16,
    pieces: Vec<Option<String>>,
    received: usize,
    bytes: usize,
    first_seen: u64,
    order: u64,
}

/// Collects fragments until a line is complete.
#[derive(Default)]
pub struct Reassembler {
    partial: HashMap<u32, Partial>,
    counter: u64,
}

impl Reassembler {
    /// A reassembler with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Characters currently buffered.
    pub fn buffered(&self) -> usize {
        self.partial.values().map(|p| p.bytes).sum()
    }

    /// Adds one piece; returns the whole line once every piece has arrived.
    pub fn add(&mut self, frag: Fragment, now_secs: u64) -> Option<String> {
        self.partial
            .retain(|_, p| now_secs.saturating_sub(p.first_seen) <= MAX_AGE_SECS);
        if frag.total == 0 || frag.index >= frag.total || frag.chunk.len() > MAX_BUFFERED_BYTES {
            return None;
        }
        if frag.total == 1 {
            return Some(frag.chunk);
        }
        if let Some(p) = self.partial.get(&frag.id) {
            if p.total != frag.total {
                self.partial.remove(&frag.id);
            }
        }
        if !self.partial.contains_key(&frag.id) {
            while self.partial.len() >= MAX_PENDING {
                self.evict_oldest();
            }
            self.counter += 1;
            self.partial.insert(
                frag.id,
                Partial {
                    total: frag.total,
                    pieces: vec![None; usize::from(frag.total)],
                    received: 0,
                    bytes: 0,
                    first_seen: now_secs,
                    order: self.counter,
                },
            );
        }
        let len = frag.chunk.len();
        while self.buffered() + len > MAX_BUFFERED_BYTES && self.partial.len() > 1 {
            self.evict_oldest_except(frag.id);
        }
        if self.buffered() + len > MAX_BUFFERED_BYTES {
            self.partial.remove(&frag.id);
            return None;
        }
        let p = self.partial.get_mut(&frag.id)?;
        let slot = p.pieces.get_mut(usize::from(frag.index))?;
        if slot.is_some() {
            return None; // duplicate piece: keep the first
        }
        *slot = Some(frag.chunk);
        p.received += 1;
        p.bytes += len;
        if p.received < usize::from(p.total) {
            return None;
        }
        let done = self.partial.remove(&frag.id)?;
        Some(done.pieces.into_iter().flatten().collect())
    }

    fn evict_oldest(&mut self) {
        if let Some(id) = self
            .partial
            .iter()
            .min_by_key(|(_, p)| p.order)
            .map(|(id, _)| *id)
        {
            self.partial.remove(&id);
        }
    }

    fn evict_oldest_except(&mut self, keep: u32) {
        if let Some(id) = self
            .partial
            .iter()
            .filter(|(id, _)| **id != keep)
            .min_by_key(|(_, p)| p.order)
            .map(|(id, _)| *id)
        {
            self.partial.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand_chacha::rand_core::{RngCore, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    fn frag(text: &str) -> Fragment {
        match WireMessage::decode(text).unwrap() {
            WireMessage::Fragment(f) => f,
            other => panic!("not a fragment: {other:?}"),
        }
    }

    #[test]
    fn short_lines_are_not_split() {
        let mut rng = ChaCha20Rng::seed_from_u64(0);
        assert_eq!(
            split("?S1Dabc", 400, &mut rng).unwrap(),
            vec!["?S1Dabc".to_owned()]
        );
    }

    #[test]
    fn pieces_fit_the_line() {
        let mut rng = ChaCha20Rng::seed_from_u64(0);
        let line = format!("?S1D{}", "x".repeat(5000));
        let pieces = split(&line, 300, &mut rng).unwrap();
        assert!(pieces.iter().all(|p| p.len() <= 300));
        assert_eq!(pieces.len(), line.len().div_ceil(300 - HEADER_CHARS));
    }

    #[test]
    fn too_long_is_refused() {
        let mut rng = ChaCha20Rng::seed_from_u64(0);
        let line = "x".repeat(MAX_BUFFERED_BYTES * 2);
        assert!(matches!(
            split(&line, 100, &mut rng),
            Err(FragmentError::TooLong(_))
        ));
    }

    #[test]
    fn hostile_fragments_are_bounded() {
        let mut r = Reassembler::new();
        for id in 0..1000u32 {
            let f = Fragment {
                id,
                index: 0,
                total: 4095,
                chunk: "A".repeat(60_000),
            };
            assert_eq!(r.add(f, 0), None);
            assert!(r.buffered() <= MAX_BUFFERED_BYTES);
            assert!(r.partial.len() <= MAX_PENDING);
        }
    }

    #[test]
    fn stale_partials_expire() {
        let mut r = Reassembler::new();
        r.add(
            Fragment {
                id: 1,
                index: 0,
                total: 2,
                chunk: "ab".into(),
            },
            0,
        );
        assert_eq!(
            r.add(
                Fragment {
                    id: 1,
                    index: 1,
                    total: 2,
                    chunk: "cd".into()
                },
                MAX_AGE_SECS + 1
            ),
            None
        );
        assert_eq!(
            r.add(
                Fragment {
                    id: 1,
                    index: 0,
                    total: 2,
                    chunk: "ab".into()
                },
                MAX_AGE_SECS + 2
            ),
            Some("abcd".into())
        );
    }

    proptest! {
        /// Pieces of several lines, shuffled together with unrelated traffic, reassemble.
        #[test]
        fn any_order_interleaved(seed: u64, lens in proptest::collection::vec(1usize..3000, 1..4), max_line in 64usize..500) {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let lines: Vec<String> = lens.iter().enumerate()
                .map(|(i, n)| format!("?S1D{}", std::iter::repeat(char::from(b'a' + i as u8)).take(*n).collect::<String>()))
                .collect();
            let mut all: Vec<Option<String>> = Vec::new();
            for l in &lines {
                all.extend(split(l, max_line, &mut rng).unwrap().into_iter().map(Some));
                all.push(None); // unrelated traffic
            }
            // Fisher-Yates with the test rng.
            for i in (1..all.len()).rev() {
                let j = (rng.next_u64() % (i as u64 + 1)) as usize;
                all.swap(i, j);
            }
            let mut r = Reassembler::new();
            let mut out = Vec::new();
            for piece in all.into_iter().flatten() {
                if piece.starts_with("?S1P") {
                    if let Some(done) = r.add(frag(&piece), 10) { out.push(done); }
                } else {
                    out.push(piece);
                }
            }
            out.sort();
            let mut want = lines.clone();
            want.sort();
            prop_assert_eq!(out, want);
            prop_assert_eq!(r.buffered(), 0);
        }
    }
}
