//! Sessions: the handshake paths (query, direct, simultaneous, restart), policies, ordering
//! and fragments, and how a session ends.

use proptest::prelude::*;
use rand_chacha::rand_core::RngCore;

use super::*;
use crate::protocol::session::{HoldReason, HANDSHAKE_TIMEOUT_SECS, MAX_PLAINTEXT, MAX_QUEUE};
use crate::protocol::wire::WireMessage;

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

/// `sends_plaintext` (what the plugin asks before IRC's `/msg` or `/query` goes out as typed)
/// says exactly what `send` would do, in every state, policy and queue a conversation can be in.
#[test]
fn sends_plaintext_agrees_with_send() {
    let mut rng = rng(41);
    let mut cases: Vec<(String, Conversation)> = Vec::new();
    for policy in [Policy::Manual, Policy::Opportunistic, Policy::Always] {
        for supports in [false, true] {
            let (mut a, _) = pair(&mut rng, policy);
            a.set_peer_supports_sotto(supports);
            cases.push((format!("{policy:?}, runs Sotto {supports}"), a));
        }
    }
    // Handshaking, with a message held.
    let (mut a, _) = pair(&mut rng, Policy::Manual);
    let _ = a.start(&mut rng);
    let _ = a.send("held", &mut rng);
    cases.push(("handshaking".into(), a));
    // Plaintext again with a message still held (the handshake was abandoned).
    let (mut a, _) = pair(&mut rng, Policy::Always);
    let _ = a.send("held", &mut rng);
    a.set_policy(Policy::Manual);
    let _ = a.tick(1);
    let _ = a.tick(10_000);
    assert_eq!((a.state(), a.queued()), (ConvState::Plaintext, 1));
    cases.push(("plaintext with a held message".into(), a));
    let (a, mut b, _) = established(42);
    cases.push(("encrypted".into(), a));
    let end = b.stop(&mut rng);
    let (mut a, _, _) = established(43);
    let _ = deliver(&mut a, end.inject, &mut rng);
    cases.push(("ended by the peer".into(), a));
    let mut plain = 0;
    for (what, mut c) in cases {
        let says = c.sends_plaintext();
        let does = c.send("x", &mut rng).action == SendAction::SendPlaintext;
        assert_eq!(says, does, "{what}");
        plain += usize::from(does);
    }
    assert_eq!(
        plain, 3,
        "manual twice, opportunistic with a contact without Sotto"
    );
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
        text: "secret".into(),
        why: UnsentReason::Stopped,
    }));
    assert_eq!(b.state(), ConvState::Plaintext);
}

/// What waits for a session that the user ends before it is up is handed back, in order, each
/// said to be so because the conversation was ended ([`UnsentReason::Stopped`]).
#[test]
fn stop_before_the_session_hands_back_what_waited_as_stopped() {
    let mut rng = rng(62);
    let (mut a, _) = pair(&mut rng, Policy::Always);
    for text in ["one", "two"] {
        assert_eq!(a.send(text, &mut rng).action, SendAction::Hold);
    }
    let unsent: Vec<Event> = a
        .stop(&mut rng)
        .events
        .into_iter()
        .filter(|e| matches!(e, Event::Unsent { .. }))
        .collect();
    let stopped = |text: &str| Event::Unsent {
        text: text.into(),
        why: UnsentReason::Stopped,
    };
    assert_eq!(unsent, [stopped("one"), stopped("two")]);
    assert_eq!(a.queued(), 0);
}

/// A text over [`MAX_PLAINTEXT`] bytes is refused as too long, in every state (nothing sent,
/// nothing held); one of exactly that length goes.
#[test]
fn a_text_too_long_is_refused_as_too_long() {
    let (mut a, mut b, mut rng) = established(63);
    let long = "x".repeat(MAX_PLAINTEXT + 1);
    let out = a.send(&long, &mut rng);
    assert_eq!(out.action, SendAction::Hold);
    assert!(out.inject.is_empty());
    assert_eq!(
        out.events,
        [Event::Unsent {
            text: long.clone(),
            why: UnsentReason::TooLong
        }]
    );
    let (mut waiting, _) = pair(&mut rng, Policy::Always);
    let out = waiting.send(&long, &mut rng);
    assert!(out.inject.is_empty() && waiting.queued() == 0);
    assert!(matches!(
        out.events[..],
        [Event::Unsent {
            why: UnsentReason::TooLong,
            ..
        }]
    ));
    let most = "x".repeat(MAX_PLAINTEXT);
    let SendAction::Replace(lines) = a.send(&most, &mut rng).action else {
        panic!("a text of MAX_PLAINTEXT bytes was not sent");
    };
    assert_eq!(deliver(&mut b, lines.into(), &mut rng).0, [most]);
}

/// Past [`MAX_QUEUE`] held messages, the next one typed is refused as the queue being full
/// (not held, not sent); those held still go, in order, once the session is up.
#[test]
fn a_text_past_a_full_queue_is_refused_as_queue_full() {
    let mut rng = rng(64);
    let (mut a, _) = pair(&mut rng, Policy::Always);
    for i in 0..MAX_QUEUE {
        let out = a.send(&format!("held {i}"), &mut rng);
        assert!(
            out.events.iter().any(|e| matches!(e, Event::Held { .. })),
            "{i}: {:?}",
            out.events
        );
    }
    let out = a.send("one too many", &mut rng);
    assert_eq!(out.action, SendAction::Hold);
    assert_eq!(
        out.events,
        [Event::Unsent {
            text: "one too many".into(),
            why: UnsentReason::QueueFull
        }]
    );
    assert_eq!(a.queued(), MAX_QUEUE);
}

/// b re-keys; a answers `?S1R` and then its user stops (an end over the old session, the
/// answer dropped). b completes the new session on the `?S1R` (the old one becomes previous)
/// and then reads the end in the previous session: it ends the new one too, since nothing
/// was read in it (it used to be ignored, and b stayed "encrypted" on a session a never had).
/// An end in the previous session once the current one has been read from is ignored.
#[test]
fn an_end_over_the_previous_session_ends_a_current_one_the_peer_never_had() {
    let (mut a, mut b, mut rng) = established(15);
    let init = b.start(&mut rng).inject;
    let (_, response, _) = deliver(&mut a, init, &mut rng);
    assert_eq!(response.len(), 1, "a answers the re-key");
    let end = a.stop(&mut rng).inject;
    let (_, confirm, events) = deliver(&mut b, response, &mut rng);
    assert!(events.iter().any(|e| matches!(e, Event::Started { .. })));
    assert_eq!(confirm.len(), 1);
    let (_, _, events) = deliver(&mut b, end, &mut rng);
    assert!(
        events.contains(&Event::Ended { by_peer: true }),
        "{events:?}"
    );
    assert_eq!(b.state(), ConvState::Finished);
    let out = b.send("never to a session a does not have", &mut rng);
    assert_eq!(out.action, SendAction::Hold);

    // The same end arriving more than the handshake timeout after b completed the new
    // session is not taken for it (a server that held it back that long gets nothing).
    let (mut a, mut b, mut rng) = established(17);
    let init = b.start(&mut rng).inject;
    let (_, response, _) = deliver(&mut a, init, &mut rng);
    let end = a.stop(&mut rng).inject;
    for l in response {
        b.receive(&l, 1000, &mut rng);
    }
    assert_eq!(b.state(), ConvState::Encrypted);
    let mut ended = false;
    for l in end {
        let out = b.receive(&l, 1000 + HANDSHAKE_TIMEOUT_SECS + 1, &mut rng);
        ended |= out.events.contains(&Event::Ended { by_peer: true });
    }
    assert!(!ended);
    assert_eq!(b.state(), ConvState::Encrypted);

    // A current session this side completed as responder (on the peer's ?S1C): the peer had
    // it, so an end in the previous session is stale whatever was read.
    let (mut a, mut b, mut rng) = established(18);
    let stale = end_from_before_a_re_key(&mut a, &mut b, true, &mut rng);
    assert_stale(&mut b, stale, &mut rng);

    // Once b read a's words in the current session, an end in the previous one is stale.
    let (mut a, mut b, mut rng) = established(16);
    let stale = end_from_before_a_re_key(&mut a, &mut b, false, &mut rng);
    let l = send(&mut a, "on the new session", &mut rng);
    assert_eq!(deliver(&mut b, l, &mut rng).0, ["on the new session"]);
    assert_stale(&mut b, stale, &mut rng);
}

/// The end `a` would have sent over its session before a re-key that completes (`a_starts`: a
/// is its initiator, else b).
fn end_from_before_a_re_key(
    a: &mut Conversation,
    b: &mut Conversation,
    a_starts: bool,
    rng: &mut ChaCha20Rng,
) -> Vec<String> {
    let mut old =
        Conversation::restore(IdentityKey::generate(rng), &a.snapshot()).expect("restore");
    if a_starts {
        let init = a.start(rng).inject;
        testkit::exchange(a, b, init, rng);
    } else {
        let init = b.start(rng).inject;
        testkit::exchange(b, a, init, rng);
    }
    old.stop(rng).inject
}

/// `stale` (an end in b's previous session) ends nothing.
fn assert_stale(b: &mut Conversation, stale: Vec<String>, rng: &mut ChaCha20Rng) {
    let (_, _, events) = deliver(b, stale, rng);
    assert!(
        !events.contains(&Event::Ended { by_peer: true }),
        "{events:?}"
    );
    assert_eq!(b.state(), ConvState::Encrypted);
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

/// The contact's client starts, our answer is lost, and it starts again (the same client: one
/// tag) late in the wait, 115 s after the first: the answer to the repeat has its own full
/// wait to be confirmed, and the confirm 6 s later finishes the session on both sides. (The
/// first answer's clock only bounds what a name never talked to may keep: its pieces.)
#[test]
fn a_start_repeated_late_in_the_wait_still_completes() {
    let mut rng = rng(43);
    let (mut a, mut b) = testkit::Setup::default().pair(
        IdentityKey::generate(&mut rng),
        IdentityKey::generate(&mut rng),
    );
    let t0 = 1_000_000;
    let _ = a.tick(t0);
    let first = a.start(&mut rng).inject;
    for line in &first {
        assert!(line.starts_with("?S1I"), "{line}");
        // Answered; the answer is lost.
        let _ = b.receive(line, t0, &mut rng);
    }
    let _ = a.tick(t0 + 115);
    let again = a.start(&mut rng).inject;
    let mut answer = Vec::new();
    for line in &again {
        answer.extend(b.receive(line, t0 + 115, &mut rng).inject);
    }
    let mut confirm = Vec::new();
    for line in &answer {
        confirm.extend(a.receive(line, t0 + 116, &mut rng).inject);
    }
    assert!(!confirm.is_empty(), "a confirms");
    // The host ticks the conversation before each line it hands it (`Sessions::incoming`).
    let _ = b.tick(t0 + 121);
    for line in &confirm {
        let _ = b.receive(line, t0 + 121, &mut rng);
    }
    assert_eq!(a.state(), ConvState::Encrypted);
    assert_eq!(
        b.state(),
        ConvState::Encrypted,
        "the repeat's answer was confirmed in time"
    );
}
