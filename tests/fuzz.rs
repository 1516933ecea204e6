//! A time-budgeted mutation fuzzer for every parser and decrypt entry of the protocol core.
//!
//! cargo-fuzz needs a nightly toolchain, which this project's machines cannot install (only
//! crates.io is reachable), so this is a coverage-blind fuzzer on stable: it mutates a seed
//! corpus (the committed transcript's wire lines, real snapshots) with bit flips, truncations,
//! splices, insertions and duplications, and feeds the results to `WireMessage::decode`, an
//! established `Conversation::receive` (both sides), and `Conversation::restore`. It asserts the
//! properties that must hold for any input: no panic, nothing displayed that was not sent, and
//! a rejected input changes no state.
//!
//! `make fuzz` runs it for `SOTTO_FUZZ_SECONDS` (default 60); CI runs a short budget.
//! The seed corpus is replayed on every run, so `cargo test` alone also covers it.

use std::time::{Duration, Instant};

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sotto::protocol::testkit::Setup;
use sotto::protocol::wire::WireMessage;
use sotto::protocol::{Conversation, IdentityKey, ReceiveAction, SendAction};

fn seed_lines() -> Vec<String> {
    include_str!("../docs/vectors/transcript-v1.txt")
        .lines()
        .filter_map(|l| l.split_once("): ").map(|(_, w)| w.to_owned()))
        .collect()
}

fn established(rng: &mut ChaCha20Rng) -> (Conversation, Conversation) {
    let setup = Setup {
        tags: (1, 2),
        ..Setup::default()
    };
    setup.established(IdentityKey::generate(rng), IdentityKey::generate(rng), rng)
}

fn mutate(input: &[u8], corpus: &[Vec<u8>], rng: &mut ChaCha20Rng) -> Vec<u8> {
    let mut v = input.to_vec();
    let rounds = 1 + rng.next_u32() % 4;
    for _ in 0..rounds {
        let len = v.len().max(1);
        match rng.next_u32() % 6 {
            0 if !v.is_empty() => {
                let i = rng.next_u32() as usize % v.len();
                v[i] ^= 1 << (rng.next_u32() % 8);
            }
            1 => v.truncate(rng.next_u32() as usize % len),
            2 => {
                let other = &corpus[rng.next_u32() as usize % corpus.len()];
                let cut = rng.next_u32() as usize % other.len().max(1);
                v.truncate(rng.next_u32() as usize % len);
                v.extend_from_slice(&other[cut..]);
            }
            3 => {
                let i = rng.next_u32() as usize % (v.len() + 1);
                let b = b"?S1PDIRCEQ-_AZaz09 <>&\x00\xff"[rng.next_u32() as usize % 22];
                v.insert(i, b);
            }
            4 if !v.is_empty() => {
                let i = rng.next_u32() as usize % v.len();
                let j = (i + rng.next_u32() as usize % 16).min(v.len());
                let piece = v[i..j].to_vec();
                v.splice(i..i, piece);
            }
            _ => {
                let i = rng.next_u32() as usize % (v.len() + 1);
                v.insert(i, rng.next_u32() as u8);
            }
        }
    }
    v
}

fn run(budget: Duration, seed: u64) -> u64 {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let (mut a, mut b) = established(&mut rng);
    // Live traffic of this pair joins the corpus, so mutations hit real MACs and sessions.
    let mut corpus: Vec<Vec<u8>> = seed_lines().into_iter().map(String::into_bytes).collect();
    for text in [
        "hi",
        "a longer message with some text in it",
        &"x".repeat(900),
    ] {
        if let SendAction::Replace(lines) = a.send(text, &mut rng).action {
            corpus.extend(lines.into_iter().map(String::into_bytes));
        }
    }
    let snapshots = [a.snapshot().to_vec(), b.snapshot().to_vec()];
    let start = Instant::now();
    let mut execs = 0u64;
    // Replay the seed corpus unmutated first.
    let mut queue: Vec<Vec<u8>> = corpus.clone();
    loop {
        let input = match queue.pop() {
            Some(i) => i,
            None => {
                if start.elapsed() >= budget {
                    break;
                }
                let base = &corpus[rng.next_u32() as usize % corpus.len()];
                mutate(base, &corpus, &mut rng)
            }
        };
        let text = String::from_utf8_lossy(&input);
        let _ = WireMessage::decode(&text);
        for conv in [&mut a, &mut b] {
            let before = conv.snapshot();
            let out = conv.receive(&text, 0, &mut rng);
            if let ReceiveAction::Display(shown) = &out.action {
                // Only the texts sent above can ever be shown (an unmutated seed line).
                assert!(
                    ["hi", "a longer message with some text in it"].contains(&shown.as_str())
                        || shown.chars().all(|c| c == 'x'),
                    "fuzzer made a forged message decrypt: {text:?}"
                );
            } else if out.inject.is_empty()
                && !text.starts_with("?S1Q")
                && !text.starts_with("?S1I")
            {
                assert_eq!(
                    before,
                    conv.snapshot(),
                    "rejected input changed state: {text:?}"
                );
            }
        }
        let snap = &snapshots[rng.next_u32() as usize % 2];
        let _ = Conversation::restore(
            IdentityKey::from_bytes(&[7; 32]),
            &mutate(snap, std::slice::from_ref(snap), &mut rng),
        );
        execs += 1;
        // A query or init from the fuzzer legitimately restarts the handshake: re-establish.
        if a.state() != sotto::protocol::ConvState::Encrypted
            || b.state() != sotto::protocol::ConvState::Encrypted
        {
            (a, b) = established(&mut rng);
        }
    }
    execs
}

#[test]
fn seed_corpus_and_short_run() {
    let execs = run(Duration::from_millis(300), 1);
    assert!(execs > 10);
}

#[test]
#[ignore = "time-budgeted fuzzing: make fuzz (SOTTO_FUZZ_SECONDS)"]
fn fuzz_budgeted() {
    let secs: u64 = std::env::var("SOTTO_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let seed: u64 = std::env::var("SOTTO_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        });
    let execs = run(Duration::from_secs(secs), seed);
    println!("fuzz: {execs} inputs in {secs} s (seed {seed}; rerun with SOTTO_FUZZ_SEED={seed})");
}
