//! Size limits of issue 2 that are deterministic, so a regression fails here rather than
//! in someone's IRC channel. Timings are never asserted (see `benches/protocol.rs`); the
//! full report with the measured values is `cargo run --example wire_size`.
//!
//! Lengths depend only on the message layout, never on key bytes: base64url of a fixed-size
//! body has a fixed length. Only the pn/n varints grow with the chain position: one byte
//! below 128, two below 16384 (the last test checks past the first step).

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sotto::protocol::session::DEFAULT_MAX_LINE;
use sotto::protocol::testkit::{self, Setup};
use sotto::protocol::{ConvState, Conversation, IdentityKey, ReceiveAction, SendAction};

/// One IRC line with a 30-character nick leaves this much for the message.
const HANDSHAKE_LINE_MAX: usize = 350;
/// "hi" as a data message, prefix included (Olm spends 84, OTRv3 346).
const HI_MAX: usize = 90;
/// Plaintext bytes that must fit one 400-character line.
const ONE_LINE_PLAINTEXT: usize = 230;

/// Runs the handshake (Alice starts; `query` = she does not know yet that Bob runs Sotto)
/// and returns every line sent, in order, with the two established conversations.
fn handshake(query: bool, rng: &mut ChaCha20Rng) -> (Vec<String>, Conversation, Conversation) {
    let setup = Setup {
        peer_known: !query,
        ..Setup::default()
    };
    let (mut a, mut b) = setup.pair(IdentityKey::generate(rng), IdentityKey::generate(rng));
    let sent = testkit::handshake(&mut a, &mut b, rng);
    assert_eq!(
        (a.state(), b.state()),
        (ConvState::Encrypted, ConvState::Encrypted)
    );
    (sent, a, b)
}

/// The lines Alice sends for `text`; checks that Bob reads it back.
fn send(
    a: &mut Conversation,
    b: &mut Conversation,
    text: &str,
    rng: &mut ChaCha20Rng,
) -> Vec<String> {
    let SendAction::Replace(lines) = a.send(text, rng).action else {
        panic!("session not encrypted");
    };
    let shown: Vec<_> = lines.iter().map(|l| b.receive(l, 0, rng).action).collect();
    assert!(
        shown
            .iter()
            .any(|s| matches!(s, ReceiveAction::Display(t) if t.as_str() == text)),
        "Bob did not read back {text:?}"
    );
    lines.into()
}

#[test]
fn every_handshake_message_fits_one_irc_line() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let (lines, _, _) = handshake(true, &mut rng);
    let kinds: Vec<&str> = lines.iter().map(|l| &l[..4]).collect();
    assert_eq!(kinds, ["?S1Q", "?S1I", "?S1R", "?S1C"]);
    for line in &lines {
        assert!(
            line.len() <= HANDSHAKE_LINE_MAX,
            "{} is {} characters",
            &line[..4],
            line.len()
        );
    }
}

#[test]
fn hi_is_short() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let (_, mut a, mut b) = handshake(false, &mut rng);
    let lines = send(&mut a, &mut b, "hi", &mut rng);
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].len() <= HI_MAX,
        "\"hi\" is {} characters",
        lines[0].len()
    );
    // The responder's first message (no DH step before it) is the same size.
    let lines = send(&mut b, &mut a, "hi", &mut rng);
    assert!(
        lines[0].len() <= HI_MAX,
        "\"hi\" back is {} characters",
        lines[0].len()
    );
}

#[test]
fn enough_plaintext_fits_one_400_character_line() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let (_, mut a, mut b) = handshake(false, &mut rng);
    let text = "x".repeat(ONE_LINE_PLAINTEXT);
    for _ in 0..3 {
        let lines = send(&mut a, &mut b, &text, &mut rng);
        assert_eq!(
            lines.len(),
            1,
            "{ONE_LINE_PLAINTEXT} bytes needed {} lines",
            lines.len()
        );
        assert!(
            lines[0].len() <= DEFAULT_MAX_LINE,
            "{} characters",
            lines[0].len()
        );
        assert!(lines[0].starts_with("?S1D"));
        let lines = send(&mut b, &mut a, &text, &mut rng);
        assert_eq!(
            lines.len(),
            1,
            "{ONE_LINE_PLAINTEXT} bytes back needed {} lines",
            lines.len()
        );
    }
}

#[test]
fn idle_snapshot_is_small() {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let (_, mut a, mut b) = handshake(false, &mut rng);
    send(&mut a, &mut b, "hi", &mut rng);
    send(&mut b, &mut a, "hi", &mut rng);
    for (who, c) in [("initiator", &a), ("responder", &b)] {
        let n = c.snapshot().len();
        assert!(n <= 400, "{who}'s idle snapshot is {n} bytes");
    }
}

#[test]
fn sizes_hold_past_one_byte_counters() {
    // From index 128 on, the chain index takes two varint bytes (three from 16384 on, where
    // "hi" would grow past 90: see docs/PERFORMANCE.md).
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let (_, mut a, mut b) = handshake(false, &mut rng);
    for _ in 0..130 {
        send(&mut a, &mut b, "x", &mut rng);
    }
    let hi = send(&mut a, &mut b, "hi", &mut rng);
    assert!(
        hi[0].len() <= HI_MAX,
        "\"hi\" at index 130 is {} characters",
        hi[0].len()
    );
    let text = "x".repeat(ONE_LINE_PLAINTEXT);
    let lines = send(&mut a, &mut b, &text, &mut rng);
    assert_eq!(
        lines.len(),
        1,
        "{ONE_LINE_PLAINTEXT} bytes at index 131 needed {} lines",
        lines.len()
    );
}
