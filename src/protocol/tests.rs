//! Whole-protocol tests through the public [`Conversation`] API: handshakes, ordering, tampering,
//! replays, policies, snapshots (with a byte-exact fixture in `tests/snapshots-v1.txt`).

use proptest::prelude::*;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::session::{
    ConvState, Conversation, Event, HoldReason, Policy, ReceiveAction, SendAction,
};
use super::testkit::{self, Setup};
use super::wire::WireMessage;
use super::IdentityKey;

pub(crate) fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// Alice's and Bob's set-up in these tests: Alice does not know yet that Bob runs Sotto.
fn setup(policy: Policy) -> Setup {
    Setup {
        tags: (0x0000_00a1, 0x0000_00b2),
        policy,
        peer_known: false,
        max_line: None,
    }
}

pub(crate) fn pair(rng: &mut ChaCha20Rng, policy: Policy) -> (Conversation, Conversation) {
    setup(policy).pair(IdentityKey::generate(rng), IdentityKey::generate(rng))
}

/// Delivers `lines` to `to`; returns what `to` displayed and what it sent back.
fn deliver(
    to: &mut Conversation,
    lines: Vec<String>,
    rng: &mut ChaCha20Rng,
) -> (Vec<String>, Vec<String>, Vec<Event>) {
    let mut shown = Vec::new();
    let mut back = Vec::new();
    let mut events = Vec::new();
    for l in lines {
        let out = to.receive(&l, 0, rng);
        if let ReceiveAction::Display(t) = out.action {
            shown.push(t.to_string());
        }
        back.extend(out.inject);
        events.extend(out.events);
    }
    (shown, back, events)
}

pub(crate) fn established(seed: u64) -> (Conversation, Conversation, ChaCha20Rng) {
    let mut rng = rng(seed);
    let (a, b) = setup(Policy::Manual).established(
        IdentityKey::generate(&mut rng),
        IdentityKey::generate(&mut rng),
        &mut rng,
    );
    assert_eq!(a.state(), ConvState::Encrypted);
    assert_eq!(b.state(), ConvState::Encrypted);
    (a, b, rng)
}

fn send(c: &mut Conversation, text: &str, rng: &mut ChaCha20Rng) -> Vec<String> {
    match c.send(text, rng).action {
        SendAction::Replace(lines) => lines,
        other => panic!("expected encrypted lines, got {other:?}"),
    }
}

#[test]
fn query_path_then_both_directions() {
    let (mut a, mut b, mut rng) = established(1);
    assert_eq!(
        a.peer_identity().map(|p| p.fingerprint()),
        b.peer_identity()
            .map(|_| a.peer_identity().unwrap().fingerprint())
    );
    for (from_a, text) in [
        (true, "hi"),
        (false, "hello <b>bob</b> & \"q\" 'a'\nline 2 😀"),
        (true, &"x".repeat(5000)),
    ] {
        let (s, r) = if from_a {
            (&mut a, &mut b)
        } else {
            (&mut b, &mut a)
        };
        let lines = send(s, text, &mut rng);
        let (shown, _, _) = deliver(r, lines, &mut rng);
        assert_eq!(shown, vec![text.to_owned()]);
    }
}

#[test]
fn handshake_lines_fit_irc_and_hi_is_short() {
    let mut rng = rng(2);
    let (mut a, mut b) = pair(&mut rng, Policy::Manual);
    a.set_peer_supports_sotto(true);
    let mut all = a.start(&mut rng).inject;
    let (_, r, _) = deliver(&mut b, all.clone(), &mut rng);
    all.extend(r.clone());
    let (_, c, _) = deliver(&mut a, r, &mut rng);
    all.extend(c.clone());
    deliver(&mut b, c, &mut rng);
    assert_eq!(all.len(), 3);
    for l in &all {
        assert!(l.len() <= 350, "{l}");
    }
    let hi = send(&mut a, "hi", &mut rng);
    assert_eq!(hi.len(), 1);
    assert!(hi[0].len() <= 90, "{} chars", hi[0].len());
}

#[test]
fn simultaneous_start_resolves_to_one_session() {
    for seed in 0..20 {
        let mut rng = rng(100 + seed);
        let (mut a, mut b) = pair(&mut rng, Policy::Manual);
        a.set_peer_supports_sotto(true);
        b.set_peer_supports_sotto(true);
        let from_a = a.start(&mut rng).inject;
        let from_b = b.start(&mut rng).inject;
        // Both starts cross on the wire.
        let (_, mut to_a, _) = deliver(&mut b, from_a, &mut rng);
        let (_, mut to_b, _) = deliver(&mut a, from_b, &mut rng);
        for _ in 0..5 {
            let (_, x, _) = deliver(&mut a, std::mem::take(&mut to_a), &mut rng);
            let (_, y, _) = deliver(&mut b, std::mem::take(&mut to_b), &mut rng);
            to_b = x;
            to_a = y;
        }
        assert_eq!(
            (a.state(), b.state()),
            (ConvState::Encrypted, ConvState::Encrypted),
            "seed {seed}"
        );
        let lines = send(&mut a, "one session", &mut rng);
        assert_eq!(
            deliver(&mut b, lines, &mut rng).0,
            vec!["one session".to_owned()]
        );
        let lines = send(&mut b, "both ways", &mut rng);
        assert_eq!(
            deliver(&mut a, lines, &mut rng).0,
            vec!["both ways".to_owned()]
        );
    }
}

#[test]
fn always_holds_until_session_then_sends_in_order() {
    let mut rng = rng(3);
    let (mut a, mut b) = pair(&mut rng, Policy::Always);
    let first = a.send("first", &mut rng);
    assert_eq!(first.action, SendAction::Hold);
    assert!(first.events.contains(&Event::Held {
        queued: 1,
        reason: HoldReason::PolicyAlways
    }));
    // Nothing but the query went out, and the query carries no plaintext.
    assert_eq!(first.inject.len(), 1);
    assert!(first.inject[0].starts_with("?S1Q"));
    assert_eq!(a.send("second", &mut rng).action, SendAction::Hold);
    let mut to_b = first.inject;
    let mut shown = Vec::new();
    for _ in 0..5 {
        let (s, to_a, _) = deliver(&mut b, std::mem::take(&mut to_b), &mut rng);
        shown.extend(s);
        let (_, back, _) = deliver(&mut a, to_a, &mut rng);
        to_b = back;
    }
    assert_eq!(shown, vec!["first".to_owned(), "second".to_owned()]);
    assert_eq!(a.queued(), 0);
}

#[test]
fn plaintext_policies() {
    let mut rng = rng(4);
    let (mut a, _) = pair(&mut rng, Policy::Opportunistic);
    assert_eq!(a.send("hello", &mut rng).action, SendAction::SendPlaintext);
    a.set_peer_supports_sotto(true);
    let out = a.send("hello", &mut rng);
    assert_eq!(out.action, SendAction::Hold);
    assert!(out.inject[0].starts_with("?S1I"));
    let (mut m, _) = pair(&mut rng, Policy::Manual);
    m.set_peer_supports_sotto(true);
    assert_eq!(m.send("hello", &mut rng).action, SendAction::SendPlaintext);
}

#[test]
fn peer_end_holds_and_stop_hands_back() {
    let (mut a, mut b, mut rng) = established(5);
    let end = a.stop(&mut rng);
    assert_eq!(a.state(), ConvState::Plaintext);
    let (_, _, ev) = deliver(&mut b, end.inject, &mut rng);
    assert!(ev.contains(&Event::Ended { by_peer: true }));
    assert_eq!(b.state(), ConvState::Finished);
    let out = b.send("secret", &mut rng);
    assert_eq!(out.action, SendAction::Hold);
    assert!(out.inject.is_empty());
    let stop = b.stop(&mut rng);
    assert!(stop.events.contains(&Event::Unsent {
        text: "secret".into()
    }));
    assert_eq!(b.state(), ConvState::Plaintext);
}

#[test]
fn fragments_with_small_lines() {
    let (mut a, mut b, mut rng) = established(6);
    a.set_max_line(100);
    let text = "ünïcödé ".repeat(300);
    let mut lines = send(&mut a, &text, &mut rng);
    assert!(lines.len() > 10);
    assert!(lines.iter().all(|l| l.len() <= 100));
    lines.reverse();
    let (shown, _, _) = deliver(&mut b, lines, &mut rng);
    assert_eq!(shown, vec![text]);
}

/// A snapshot fingerprint of the whole state (including skipped keys and queue).
fn state_of(c: &Conversation) -> Vec<u8> {
    c.snapshot().to_vec()
}

#[test]
fn replay_rejected_also_after_restore() {
    let (mut a, mut b, mut rng) = established(7);
    let lines = send(&mut a, "once", &mut rng);
    assert_eq!(
        deliver(&mut b, lines.clone(), &mut rng).0,
        vec!["once".to_owned()]
    );
    let before = state_of(&b);
    let (shown, _, ev) = deliver(&mut b, lines.clone(), &mut rng);
    assert!(shown.is_empty());
    assert!(matches!(ev.as_slice(), [Event::Unreadable { .. }]));
    assert_eq!(state_of(&b), before);
    let identity = IdentityKey::from_bytes([9; 32]); // restore takes the identity separately
    let mut restored = Conversation::restore(identity, &b.snapshot()).unwrap();
    assert_eq!(state_of(&restored), before);
    assert!(deliver(&mut restored, lines, &mut rng).0.is_empty());
}

#[test]
fn replay_of_skipped_key_rejected() {
    let (mut a, mut b, mut rng) = established(8);
    let m1 = send(&mut a, "m1", &mut rng);
    let m2 = send(&mut a, "m2", &mut rng);
    assert_eq!(
        deliver(&mut b, m2.clone(), &mut rng).0,
        vec!["m2".to_owned()]
    );
    assert_eq!(
        deliver(&mut b, m1.clone(), &mut rng).0,
        vec!["m1".to_owned()]
    );
    assert!(deliver(&mut b, m1, &mut rng).0.is_empty());
    assert!(deliver(&mut b, m2, &mut rng).0.is_empty());
}

#[test]
fn snapshot_restore_continues_conversation() {
    let (mut a, mut b, mut rng) = established(9);
    for i in 0..3 {
        let l = send(&mut a, &format!("a{i}"), &mut rng);
        deliver(&mut b, l, &mut rng);
        let l = send(&mut b, &format!("b{i}"), &mut rng);
        deliver(&mut a, l, &mut rng);
    }
    let skipped = send(&mut a, "late", &mut rng);
    let a_id = IdentityKey::from_bytes([1; 32]);
    let b_id = IdentityKey::from_bytes([2; 32]);
    let mut a2 = Conversation::restore(a_id, &a.snapshot()).unwrap();
    let mut b2 = Conversation::restore(b_id, &b.snapshot()).unwrap();
    let l = send(&mut a2, "after restart", &mut rng);
    assert_eq!(
        deliver(&mut b2, l, &mut rng).0,
        vec!["after restart".to_owned()]
    );
    assert_eq!(
        deliver(&mut b2, skipped, &mut rng).0,
        vec!["late".to_owned()]
    );
    let l = send(&mut b2, "reply", &mut rng);
    assert_eq!(deliver(&mut a2, l, &mut rng).0, vec!["reply".to_owned()]);
}

#[test]
fn corrupt_snapshots_are_refused_not_panicking() {
    let (a, _, _) = established(10);
    let snap = a.snapshot();
    for len in 0..snap.len() {
        assert!(Conversation::restore(IdentityKey::from_bytes([1; 32]), &snap[..len]).is_err());
    }
    let mut bad = snap.to_vec();
    bad[0] = 99;
    assert!(Conversation::restore(IdentityKey::from_bytes([1; 32]), &bad).is_err());
}

/// Re-encodes a decoded line after `f` mutates its binary body.
fn body_variants(line: &str) -> Vec<String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let (prefix, b64) = line.split_at(4);
    let body = URL_SAFE_NO_PAD.decode(b64).unwrap();
    let mut out = Vec::new();
    for bit in 0..body.len() * 8 {
        let mut b = body.clone();
        b[bit / 8] ^= 1 << (bit % 8);
        out.push(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(&b)));
    }
    for len in 0..body.len() {
        out.push(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(&body[..len])));
    }
    for len in 0..line.len() {
        out.push(line[..len].to_owned());
    }
    out
}

/// Every bit flip and truncation of R, C and D is rejected and changes nothing.
#[test]
fn tampering_is_rejected_and_changes_nothing() {
    let mut rng = rng(11);
    let (mut a, mut b) = pair(&mut rng, Policy::Manual);
    a.set_peer_supports_sotto(true);
    let init = a.start(&mut rng).inject;
    let resp = b.receive(&init[0], 0, &mut rng).inject;
    // Tampered ?S1R at the initiator.
    let before = state_of(&a);
    for v in body_variants(&resp[0]) {
        let out = a.receive(&v, 0, &mut rng);
        assert!(out.inject.is_empty(), "tampered response accepted: {v}");
        assert_ne!(a.state(), ConvState::Encrypted);
        assert_eq!(state_of(&a), before);
    }
    let confirm = a.receive(&resp[0], 0, &mut rng).inject;
    assert_eq!(a.state(), ConvState::Encrypted);
    // Tampered ?S1C at the responder.
    let before = state_of(&b);
    for v in body_variants(&confirm[0]) {
        b.receive(&v, 0, &mut rng);
        assert_eq!(state_of(&b), before, "tampered confirm changed state: {v}");
    }
    b.receive(&confirm[0], 0, &mut rng);
    assert_eq!(b.state(), ConvState::Encrypted);
    // Tampered ?S1D, on a fresh chain (DH ratchet path) and on a continuing chain.
    for _ in 0..2 {
        let line = send(&mut a, "tamper me", &mut rng).remove(0);
        let before = state_of(&b);
        for v in body_variants(&line) {
            let out = b.receive(&v, 0, &mut rng);
            assert!(
                !matches!(out.action, ReceiveAction::Display(_)),
                "tampered data shown: {v}"
            );
            assert_eq!(state_of(&b), before);
        }
        assert_eq!(
            deliver(&mut b, vec![line], &mut rng).0,
            vec!["tamper me".to_owned()]
        );
    }
}

/// A tampered ?S1I cannot be detected by the responder (it is unauthenticated), but the
/// handshake it starts can never complete and the initiator's state does not change.
#[test]
fn tampered_init_never_completes() {
    let mut rng = rng(12);
    let (mut a, mut b) = pair(&mut rng, Policy::Manual);
    a.set_peer_supports_sotto(true);
    let init = a.start(&mut rng).inject;
    let before = state_of(&a);
    for v in body_variants(&init[0]).into_iter().step_by(7) {
        let mut b2 =
            Conversation::restore(IdentityKey::from_bytes([3; 32]), &b.snapshot()).unwrap();
        let resp = b2.receive(&v, 0, &mut rng).inject;
        for r in resp {
            let out = a.receive(&r, 0, &mut rng);
            assert!(out.inject.is_empty());
        }
        assert_eq!(state_of(&a), before);
    }
    let _ = &mut b;
}

#[test]
fn hostile_text_is_reported_not_shown() {
    let (_, mut b, mut rng) = established(13);
    let before = state_of(&b);
    for junk in [
        "?S1D",
        "?S1Dxyz",
        "?S1R!!",
        "?S1C",
        "?S1PAAAAAAAB",
        "?S1I",
        "?S1PAAAAAB",
    ] {
        let out = b.receive(junk, 0, &mut rng);
        assert!(
            !matches!(
                out.action,
                ReceiveAction::Display(_) | ReceiveAction::PassThrough
            ),
            "{junk}"
        );
        assert_eq!(state_of(&b), before);
    }
    let out = b.receive("plain hello", 0, &mut rng);
    assert_eq!(out.action, ReceiveAction::PassThrough);
    assert_eq!(out.events, vec![Event::PlaintextWhileEncrypted]);
}

#[test]
fn peer_restart_rekeys_and_late_messages_still_decrypt() {
    let (mut a, mut b, mut rng) = established(14);
    let late = send(&mut a, "in flight", &mut rng);
    // B lost its state (e.g. a new device) and starts again.
    let restart = b.start(&mut rng).inject;
    testkit::exchange(&mut b, &mut a, restart, &mut rng);
    assert_eq!(
        (a.state(), b.state()),
        (ConvState::Encrypted, ConvState::Encrypted)
    );
    let l = send(&mut a, "new session", &mut rng);
    assert_eq!(
        deliver(&mut b, l, &mut rng).0,
        vec!["new session".to_owned()]
    );
    assert_eq!(
        deliver(&mut b, late, &mut rng).0,
        vec!["in flight".to_owned()]
    );
}

#[test]
fn gap_bound_enforced() {
    let (mut a, mut b, mut rng) = established(15);
    let mut last = Vec::new();
    for _ in 0..=super::ratchet::MAX_GAP + 1 {
        last = send(&mut a, "x", &mut rng);
    }
    let (shown, _, ev) = deliver(&mut b, last, &mut rng);
    assert!(shown.is_empty());
    assert!(matches!(ev.as_slice(), [Event::Unreadable { .. }]));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    /// Any delivery order of up to 50 in-flight messages (across DH ratchet steps) decrypts.
    #[test]
    fn any_permutation_decrypts(seed: u64, n in 1usize..=50, turns in proptest::collection::vec(any::<bool>(), 50)) {
        let (mut a, mut b, mut rng) = established(seed);
        // Some messages from B first, so A's chain changes while its messages are in flight.
        let mut in_flight = Vec::new();
        for (i, t) in turns.iter().take(n).enumerate() {
            if *t && i % 7 == 3 {
                let l = send(&mut b, "turn", &mut rng);
                deliver(&mut a, l, &mut rng);
            }
            in_flight.push((format!("msg {i}"), send(&mut a, &format!("msg {i}"), &mut rng)));
        }
        for i in (1..in_flight.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            in_flight.swap(i, j);
        }
        for (text, lines) in in_flight {
            let (shown, _, _) = deliver(&mut b, lines, &mut rng);
            prop_assert_eq!(shown, vec![text]);
        }
    }

    /// Random text round trips, whatever it contains.
    #[test]
    fn any_text_roundtrips(seed in 0u64..4, text in "\\PC{0,600}") {
        let (mut a, mut b, mut rng) = established(seed);
        let l = send(&mut a, &text, &mut rng);
        prop_assert_eq!(deliver(&mut b, l, &mut rng).0, vec![text]);
    }
}

#[test]
fn wire_never_contains_plaintext() {
    let (mut a, mut b, mut rng) = established(16);
    let secret = "the eagle lands at midnight";
    let l = send(&mut a, secret, &mut rng);
    assert!(l
        .iter()
        .all(|x| !x.contains("eagle") && WireMessage::decode(x).is_ok()));
    deliver(&mut b, l, &mut rng);
}

/// Runs a question-and-answer verification; returns (asker events, answerer events, wire chars).
fn verify_run(
    a: &mut Conversation,
    b: &mut Conversation,
    answer_a: &str,
    answer_b: &str,
    rng: &mut ChaCha20Rng,
) -> (Vec<Event>, Vec<Event>, usize) {
    let mut chars = 0;
    let ask = a.ask_question("Where did we meet?", answer_a, rng).inject;
    chars += ask.iter().map(String::len).sum::<usize>();
    assert_eq!(ask.len(), 1, "each verification message fits one line");
    let (shown, back, mut ev_b) = deliver(b, ask, rng);
    assert!(shown.is_empty());
    assert!(back.is_empty());
    assert!(ev_b.contains(&Event::VerificationQuestion {
        question: "Where did we meet?".into()
    }));
    assert_eq!(b.pending_question(), Some("Where did we meet?"));
    let reply = b.answer_question(answer_b, rng).inject;
    assert_eq!(reply.len(), 1);
    chars += reply[0].len();
    let (_, result, ev_a) = deliver(a, reply, rng);
    assert_eq!(result.len(), 1);
    chars += result[0].len();
    let (_, none, ev) = deliver(b, result, rng);
    assert!(none.is_empty());
    ev_b.extend(ev);
    (ev_a, ev_b, chars)
}

#[test]
fn verification_right_answer_both_see_success() {
    let (mut a, mut b, mut rng) = established(20);
    let (ev_a, ev_b, chars) = verify_run(
        &mut a,
        &mut b,
        "The Old Library",
        "  the old   library ",
        &mut rng,
    );
    assert!(ev_a.iter().any(|e| matches!(
        e,
        Event::VerificationResult {
            success: true,
            we_asked: true,
            ..
        }
    )));
    assert!(ev_b.iter().any(|e| matches!(
        e,
        Event::VerificationResult {
            success: true,
            we_asked: false,
            ..
        }
    )));
    assert!(chars <= 1500, "{chars} characters");
    println!("verification wire cost: 3 lines, {chars} characters");
    // The conversation goes on normally.
    let l = send(&mut a, "after", &mut rng);
    assert_eq!(deliver(&mut b, l, &mut rng).0, vec!["after".to_owned()]);
}

#[test]
fn verification_wrong_answer_both_see_failure() {
    let (mut a, mut b, mut rng) = established(21);
    let (ev_a, ev_b, _) = verify_run(&mut a, &mut b, "library", "museum", &mut rng);
    assert!(ev_a.iter().any(|e| matches!(
        e,
        Event::VerificationResult {
            success: false,
            we_asked: true,
            ..
        }
    )));
    assert!(ev_b.iter().any(|e| matches!(
        e,
        Event::VerificationResult {
            success: false,
            we_asked: false,
            ..
        }
    )));
}

#[test]
fn key_change_blocks_until_acknowledged() {
    let (mut a, b, mut rng) = established(24);
    assert_eq!(a.known_peer_keys().len(), 1);
    // Bob's identity is regenerated (reinstall): a new conversation object with a new key.
    let mut b2 = Conversation::new(IdentityKey::generate(&mut rng), 0xb3, Policy::Manual);
    b2.set_peer_supports_sotto(true);
    let start = b2.start(&mut rng).inject;
    let (_, to_b2, ev_a) = deliver(&mut a, start, &mut rng);
    let (_, to_a, _) = deliver(&mut b2, to_b2, &mut rng);
    let (_, _, ev_a2) = deliver(&mut a, to_a, &mut rng);
    let all: Vec<_> = ev_a.into_iter().chain(ev_a2).collect();
    assert!(
        all.iter()
            .any(|e| matches!(e, Event::PeerKeyChanged { .. })),
        "{all:?}"
    );
    assert!(a.is_blocked());
    let held = a.send("for bob only", &mut rng);
    assert_eq!(held.action, SendAction::Hold);
    assert!(held.inject.is_empty());
    assert!(held.events.contains(&Event::Held {
        queued: 1,
        reason: HoldReason::Blocked
    }));
    // Restore keeps the block.
    let mut a = Conversation::restore(IdentityKey::from_bytes([5; 32]), &a.snapshot()).unwrap();
    assert!(a.is_blocked());
    let ack = a.acknowledge_peer_key(&mut rng);
    assert!(ack.events.contains(&Event::QueuedSent {
        text: "for bob only".into()
    }));
    assert_eq!(
        deliver(&mut b2, ack.inject, &mut rng).0,
        vec!["for bob only".to_owned()]
    );
    assert_eq!(a.known_peer_keys().len(), 2);
    // The old Bob is no longer the session's peer.
    assert_ne!(a.peer_identity(), b.peer_identity());
}

/// Fragments: changing any character of any piece (to another base64url character) or
/// dropping its tail makes the reassembled message fail, and changes nothing.
#[test]
fn tampered_fragments_are_rejected_and_change_nothing() {
    let (mut a, mut b, mut rng) = established(25);
    a.set_max_line(120);
    let pieces = send(&mut a, &"fragmented secret ".repeat(12), &mut rng);
    assert!(pieces.len() > 3);
    let before = state_of(&b);
    for (i, piece) in pieces.iter().enumerate() {
        let mut variants = Vec::new();
        for pos in 12..piece.len() {
            let mut bytes = piece.clone().into_bytes();
            bytes[pos] = if bytes[pos] == b'A' { b'B' } else { b'A' };
            variants.push(String::from_utf8(bytes).unwrap());
        }
        variants.push(piece[..piece.len() - 1].to_owned());
        for v in variants.into_iter().step_by(3) {
            let mut fresh =
                Conversation::restore(IdentityKey::from_bytes([6; 32]), &b.snapshot()).unwrap();
            let mut all = pieces.clone();
            all[i] = v.clone();
            let mut shown = Vec::new();
            for l in all {
                let out = fresh.receive(&l, 0, &mut rng);
                assert_ne!(
                    out.action,
                    ReceiveAction::PassThrough,
                    "a piece was shown raw: {v}"
                );
                if let ReceiveAction::Display(t) = out.action {
                    shown.push(t);
                }
            }
            assert!(shown.is_empty(), "tampered fragment accepted: {v}");
            assert_eq!(state_of(&fresh), before);
        }
    }
    assert_eq!(deliver(&mut b, pieces, &mut rng).0.len(), 1);
}

/// Snapshots of every shape a conversation can be saved in (each handshake role, re-keying,
/// a previous session, skipped keys, a queue, blocked, finished), from a fixed-seed scenario.
fn snapshot_scenario() -> Vec<(String, Vec<u8>)> {
    let mut rng = rng(0x5a47);
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut a = Conversation::new(
        IdentityKey::from_bytes([0x11; 32]),
        0x0000_0a11,
        Policy::Always,
    );
    let mut b = Conversation::new(
        IdentityKey::from_bytes([0x22; 32]),
        0x0000_0b22,
        Policy::Manual,
    );
    out.push(("fresh, policy always".into(), a.snapshot().to_vec()));
    b.set_max_line(120);
    b.set_policy(Policy::Opportunistic);
    out.push((
        "fresh, opportunistic, max line 120".into(),
        b.snapshot().to_vec(),
    ));
    let held = a.send("held while the query is out", &mut rng);
    out.push((
        "query sent, one message queued".into(),
        a.snapshot().to_vec(),
    ));
    let init = b.receive(&held.inject[0], 0, &mut rng).inject;
    out.push((
        "peer runs Sotto, initiator waiting".into(),
        b.snapshot().to_vec(),
    ));
    let resp = a.receive(&init[0], 0, &mut rng).inject;
    out.push(("responder waiting".into(), a.snapshot().to_vec()));
    let confirm = b.receive(&resp[0], 0, &mut rng).inject;
    out.push(("initiator established".into(), b.snapshot().to_vec()));
    let flushed = a.receive(&confirm[0], 0, &mut rng).inject;
    out.push((
        "responder established, queue sent".into(),
        a.snapshot().to_vec(),
    ));
    deliver(&mut b, flushed, &mut rng);
    let _lost = send(&mut a, "lost", &mut rng);
    let _late = send(&mut a, "late", &mut rng);
    let last = send(&mut a, "last", &mut rng);
    deliver(&mut b, last, &mut rng);
    out.push(("two skipped keys".into(), b.snapshot().to_vec()));
    let restart = b.start(&mut rng).inject;
    out.push((
        "rekeying: initiator with a session".into(),
        b.snapshot().to_vec(),
    ));
    let resp = a.receive(&restart[0], 0, &mut rng).inject;
    out.push((
        "rekeying: responder with a session".into(),
        a.snapshot().to_vec(),
    ));
    let confirm = b.receive(&resp[0], 0, &mut rng).inject;
    a.receive(&confirm[0], 0, &mut rng);
    out.push((
        "re-keyed: previous session kept".into(),
        a.snapshot().to_vec(),
    ));
    let mut c = Conversation::new(
        IdentityKey::from_bytes([0x33; 32]),
        0x0000_0c33,
        Policy::Manual,
    );
    c.set_peer_supports_sotto(true);
    let start = c.start(&mut rng).inject;
    let (_, to_c, _) = deliver(&mut a, start, &mut rng);
    let (_, to_a, _) = deliver(&mut c, to_c, &mut rng);
    deliver(&mut a, to_a, &mut rng);
    a.send("for the new key only", &mut rng);
    out.push((
        "key changed: blocked, one held".into(),
        a.snapshot().to_vec(),
    ));
    a.acknowledge_peer_key(&mut rng);
    out.push(("acknowledged: two known keys".into(), a.snapshot().to_vec()));
    let end = c.stop(&mut rng).inject;
    deliver(&mut a, end, &mut rng);
    out.push(("ended by the peer".into(), a.snapshot().to_vec()));
    let q = c.start(&mut rng).inject;
    deliver(&mut a, q, &mut rng);
    out.push((
        "ended by the peer, peer restarting".into(),
        a.snapshot().to_vec(),
    ));
    out
}

/// Regenerate (only after a deliberate, versioned format change) with
/// `SOTTO_WRITE_VECTORS=1 cargo test --no-default-features snapshot_bytes`.
const FIXTURE: &str = include_str!("tests/snapshots-v1.txt");

fn fixture_text(snapshots: &[(String, Vec<u8>)]) -> String {
    snapshots
        .iter()
        .map(|(title, bytes)| format!("# {title}\n{}\n", hex::encode(bytes)))
        .collect()
}

#[test]
fn snapshot_bytes_match_fixture() {
    let text = fixture_text(&snapshot_scenario());
    if std::env::var_os("SOTTO_WRITE_VECTORS").is_some() {
        std::fs::write(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/src/protocol/tests/snapshots-v1.txt"
            ),
            &text,
        )
        .unwrap();
        return;
    }
    assert_eq!(
        text, FIXTURE,
        "snapshot format changed: users' saved sessions would no longer restore"
    );
}

/// Every committed snapshot restores, and saves again to the very same bytes.
#[test]
fn fixture_snapshots_restore_to_the_same_bytes() {
    let mut lines = FIXTURE.lines();
    while let (Some(title), Some(hex)) = (lines.next(), lines.next()) {
        let bytes = hex::decode(hex).unwrap();
        let restored = Conversation::restore(IdentityKey::from_bytes([4; 32]), &bytes)
            .unwrap_or_else(|e| panic!("{title}: {e}"));
        assert_eq!(restored.snapshot().to_vec(), bytes, "{title}");
    }
}

/// A session that the peer has ended is dropped at once, so no snapshot holds both: one that
/// does was not written by Sotto and is refused.
#[test]
fn finished_with_a_session_is_refused() {
    let (a, _, _) = established(26);
    let mut bytes = a.snapshot().to_vec();
    assert_eq!(bytes[10] & 2, 0);
    bytes[10] |= 2;
    assert_eq!(
        Conversation::restore(IdentityKey::from_bytes([1; 32]), &bytes).err(),
        Some(crate::protocol::SnapshotError::Corrupt)
    );
}
