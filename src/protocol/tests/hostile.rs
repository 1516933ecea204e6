//! Unauthenticated lines anyone can inject (`?S1Q`, `?S1I`, a replayed start): they are
//! answered within bounds, never stall an encrypted conversation, expire, and teach nothing
//! lasting about the peer.

use super::*;
use crate::protocol::session::{UnreadableReason, ANSWER_BURST, HANDSHAKE_TIMEOUT_SECS};
use crate::protocol::wire::{InitMessage, WireMessage};

/// A start anyone could send: a fresh ephemeral key, any tag.
fn forged_init(rng: &mut ChaCha20Rng) -> String {
    let eph = IdentityKey::generate(rng).public().to_bytes();
    WireMessage::Init(InitMessage {
        initiator_tag: 0x0bad_0bad,
        ephemeral: eph,
    })
    .encode()
}

#[test]
fn a_forged_init_does_not_stall_an_encrypted_conversation() {
    let (mut a, mut b, mut rng) = established(40);
    let forged = forged_init(&mut rng);
    let out = b.receive(&forged, 0, &mut rng);
    assert_eq!(
        out.inject.len(),
        1,
        "answered (rate-limited), as any start is"
    );
    assert_eq!(
        b.state(),
        ConvState::Encrypted,
        "still encrypted for the user"
    );
    // bob keeps sending on the session alice has, and alice keeps reading.
    let lines = send(&mut b, "still here", &mut rng);
    assert_eq!(
        deliver(&mut a, lines, &mut rng).0,
        vec!["still here".to_owned()]
    );
    let lines = send(&mut a, "and me", &mut rng);
    assert_eq!(
        deliver(&mut b, lines, &mut rng).0,
        vec!["and me".to_owned()]
    );
    // Nobody finishes the forged handshake: it is dropped after the timeout, quietly (nobody
    // was waiting for it), and the session goes on.
    let out = b.tick(HANDSHAKE_TIMEOUT_SECS + 1);
    assert!(out.events.is_empty(), "{:?}", out.events);
    assert_eq!(b.state(), ConvState::Encrypted);
    let lines = send(&mut b, "after the timeout", &mut rng);
    assert_eq!(
        deliver(&mut a, lines, &mut rng).0,
        vec!["after the timeout".to_owned()]
    );
}

/// `c` starts at t = 100 and nobody answers: the lapse is reported once the timeout passed,
/// with nothing held, the session going on or not as `goes_on` says.
fn start_and_let_lapse(c: &mut Conversation, goes_on: bool, rng: &mut ChaCha20Rng) {
    c.tick(100);
    assert_eq!(c.start(rng).inject.len(), 1);
    // What the host's periodic sweep asks, so the lapse is told when it happens.
    assert!(!c.start_lapses_at(100 + HANDSHAKE_TIMEOUT_SECS));
    assert!(c.start_lapses_at(100 + HANDSHAKE_TIMEOUT_SECS + 1));
    let out = c.tick(100 + HANDSHAKE_TIMEOUT_SECS + 1);
    assert!(
        !c.start_lapses_at(100 + HANDSHAKE_TIMEOUT_SECS + 1),
        "told once"
    );
    assert!(
        out.events.iter().any(|e| matches!(
            e,
            Event::HandshakeExpired { queued: 0, session_goes_on } if *session_goes_on == goes_on
        )),
        "{:?}",
        out.events
    );
}

/// A start in flight saved and restored (a restart: the snapshot keeps no clock) lapses for
/// the sweep 120 s after the sweep first sees it, as after its first tick.
#[test]
fn a_restored_start_lapses_for_the_sweep_too() {
    let mut rng = rng(48);
    let (_, mut b) = pair(&mut rng, Policy::Manual);
    b.tick(100);
    assert_eq!(b.start(&mut rng).inject.len(), 1);
    let mut b =
        Conversation::restore(IdentityKey::generate(&mut rng), &b.snapshot()).expect("restore");
    assert!(!b.start_lapses_at(5000), "the clock starts when first seen");
    assert!(!b.start_lapses_at(5000 + HANDSHAKE_TIMEOUT_SECS));
    assert!(b.start_lapses_at(5000 + HANDSHAKE_TIMEOUT_SECS + 1));
}

/// Only a start of ours is told when it lapses: a handshake that answers the peer's start
/// (injected, or a peer gone mid-way) is dropped quietly by the sweep instead.
#[test]
fn only_our_own_start_lapses_for_the_sweep() {
    let mut rng = rng(47);
    let (_, mut b) = pair(&mut rng, Policy::Manual);
    b.tick(100);
    let answer = b.receive(&forged_init(&mut rng), 100, &mut rng);
    assert_eq!(answer.inject.len(), 1, "answered");
    assert!(b.handshake_in_flight());
    assert!(!b.start_lapses_at(100 + HANDSHAKE_TIMEOUT_SECS + 1));
}

/// A start asked for here is what an IRC server's "no such nick" for a start line is told
/// against: a stranger's query or start, answered (as any is) by a name that then quits,
/// must not have the user told that a start of theirs did not arrive. Our answers are none;
/// a start of ours is one while in flight, once it lapsed, and while text is held for it.
#[test]
fn only_a_start_asked_here_counts_as_one() {
    let mut rng = rng(50);
    let (mut a, mut b) = pair(&mut rng, Policy::Manual);
    assert!(!a.start_asked() && !b.start_asked());
    // The stranger's query, answered with a start (`?S1I`): in flight, not ours.
    a.tick(100);
    b.tick(100);
    let query = a.start(&mut rng).inject;
    assert!(a.start_asked(), "a's own start");
    let answer = b.receive(&query[0], 100, &mut rng);
    assert!(answer.inject[0].starts_with("?S1I"), "{:?}", answer.inject);
    assert!(b.handshake_in_flight());
    assert!(!b.start_asked(), "an answer to a query");
    // The stranger's start, answered (`?S1R`).
    let (_, mut c) = pair(&mut rng, Policy::Manual);
    let answer = c.receive(&forged_init(&mut rng), 100, &mut rng);
    assert!(answer.inject[0].starts_with("?S1R"), "{:?}", answer.inject);
    assert!(!c.start_asked(), "an answer to a start");
    // Nobody answers: ours lapses and is still asked for; the answers end and are none.
    for x in [&mut a, &mut b, &mut c] {
        x.tick(100 + HANDSHAKE_TIMEOUT_SECS + 1);
    }
    assert!(a.start_lapsed() && a.start_asked());
    assert!(!b.start_asked() && !c.start_asked());
    // Text typed under `always` is held for a start.
    let (mut d, _) = pair(&mut rng, Policy::Always);
    assert_eq!(d.send("held", &mut rng).action, SendAction::Hold);
    assert!(d.queued() == 1 && d.start_asked());
}

/// A server that cannot finish a handshake can still make this side answer a start of its
/// own (a smaller ephemeral key wins the tie-break of §3.3) in place of ours. Doing that every
/// minute used to restart the handshake's clock each time: a start of ours never lapsed, and
/// the user was never told. The clock is the one our start began.
#[test]
fn forged_starts_do_not_keep_a_start_of_ours_from_lapsing() {
    let mut rng = rng(49);
    let (_, mut b) = pair(&mut rng, Policy::Manual);
    b.set_peer_supports_sotto(true);
    b.tick(100);
    let ours = b.start(&mut rng).inject;
    let Ok(WireMessage::Init(mine)) = WireMessage::decode(&ours[0]) else {
        panic!("not a start: {ours:?}");
    };
    for t in [160, 200] {
        let ephemeral = loop {
            let e = IdentityKey::generate(&mut rng).public().to_bytes();
            if e < mine.ephemeral {
                break e;
            }
        };
        let forged = WireMessage::Init(InitMessage {
            initiator_tag: 0x0bad_0bad,
            ephemeral,
        })
        .encode();
        b.tick(t);
        assert_eq!(b.receive(&forged, t, &mut rng).inject.len(), 1, "answered");
        assert!(b.handshake_in_flight());
    }
    let lapse = 100 + HANDSHAKE_TIMEOUT_SECS + 1;
    assert!(b.start_lapses_at(lapse));
    let out = b.tick(lapse);
    assert!(
        out.events
            .iter()
            .any(|e| matches!(e, Event::HandshakeExpired { .. })),
        "{:?}",
        out.events
    );
}

/// A forged start this side answers (a handshake nobody here asked for) expires unfinished:
/// nothing is told, whether a session goes on (held on a key not accepted, messages waiting
/// for the user) or not (a start of ours lapsed earlier, messages held): its end changes
/// nothing for what is held. It used to be told as "did not start ... what you type next
/// tries again" (false next to a session, or after the peer ended it), and reopened a closed
/// window: a server could have that every two minutes.
#[test]
fn a_forged_start_that_expires_says_nothing() {
    // Held next to a session that goes on.
    let (mut a, _b, mut rng) = established(50);
    assert!(a.set_blocked(true, &mut rng).inject.is_empty());
    assert_eq!(
        a.send("waits for the user", &mut rng).action,
        SendAction::Hold
    );
    a.tick(100);
    assert_eq!(
        a.receive(&forged_init(&mut rng), 100, &mut rng)
            .inject
            .len(),
        1
    );
    let out = a.tick(100 + HANDSHAKE_TIMEOUT_SECS + 1);
    assert!(out.events.is_empty(), "{:?}", out.events);
    assert_eq!(a.queued(), 1);

    // Held with no session: a start of ours lapsed, then a forged start is answered.
    let (_, mut b) = pair(&mut rng, Policy::Manual);
    b.tick(100);
    b.start(&mut rng);
    assert_eq!(b.send("held", &mut rng).action, SendAction::Hold);
    let lapsed = b.tick(100 + HANDSHAKE_TIMEOUT_SECS + 1).events;
    assert!(
        lapsed.contains(&Event::HandshakeExpired {
            queued: 1,
            session_goes_on: false,
        }),
        "{lapsed:?}"
    );
    let t = 300;
    b.tick(t);
    assert_eq!(
        b.receive(&forged_init(&mut rng), t, &mut rng).inject.len(),
        1
    );
    let out = b.tick(t + HANDSHAKE_TIMEOUT_SECS + 1);
    assert!(out.events.is_empty(), "{:?}", out.events);
    assert_eq!(b.queued(), 1);
}

/// The host's clock is stepped back (NTP after a boot with the clock hours fast) while a
/// start of ours is in flight: it lapses, told, one timeout after the step, not when the clock
/// catches up; so does an answer to the peer's start. Before, both waited for the clock: the
/// lapse untold and what was typed held without a word for as long as the clock went back.
#[test]
fn a_clock_set_back_during_a_start_delays_its_lapse_by_one_timeout_at_most() {
    let mut rng = rng(44);
    let (_, mut b) = pair(&mut rng, Policy::Manual);
    let fast = 10 * 3600 + 100;
    b.tick(fast);
    assert_eq!(b.start(&mut rng).inject.len(), 1);
    assert_eq!(b.send("typed meanwhile", &mut rng).action, SendAction::Hold);
    // Stepped back ten hours.
    assert!(b.tick(100).events.is_empty());
    assert!(!b.start_lapses_at(100 + HANDSHAKE_TIMEOUT_SECS));
    assert!(b.start_lapses_at(100 + HANDSHAKE_TIMEOUT_SECS + 1));
    let out = b.tick(100 + HANDSHAKE_TIMEOUT_SECS + 1);
    assert!(
        out.events
            .iter()
            .any(|e| matches!(e, Event::HandshakeExpired { queued: 1, .. })),
        "{:?}",
        out.events
    );
    assert_eq!(b.state(), ConvState::Plaintext);

    // An answer to the peer's start, the clock stepped back by the sweep's own reading.
    let (_, mut c) = pair(&mut rng, Policy::Manual);
    c.tick(fast);
    assert_eq!(
        c.receive(&forged_init(&mut rng), fast, &mut rng)
            .inject
            .len(),
        1
    );
    assert!(c.answering_too_long(fast + HANDSHAKE_TIMEOUT_SECS + 1));
    c.expire_unanswered(100);
    assert!(c.handshake_in_flight() && !c.answering_too_long(100 + HANDSHAKE_TIMEOUT_SECS));
    assert!(c.answering_too_long(100 + HANDSHAKE_TIMEOUT_SECS + 1));
    c.expire_unanswered(100 + HANDSHAKE_TIMEOUT_SECS + 1);
    assert!(!c.handshake_in_flight());
}

#[test]
fn a_start_nobody_answers_expires_and_nothing_is_lost() {
    // bob starts; nobody answers (the peer is gone, or the start was lost).
    let mut rng = rng(41);
    let (_, mut b) = pair(&mut rng, Policy::Manual);
    b.tick(100);
    assert_eq!(b.start(&mut rng).inject.len(), 1);
    assert_eq!(b.state(), ConvState::Handshaking);
    assert_eq!(b.send("typed meanwhile", &mut rng).action, SendAction::Hold);
    let out = b.tick(100 + HANDSHAKE_TIMEOUT_SECS + 1);
    assert!(out
        .events
        .iter()
        .any(|e| matches!(e, Event::HandshakeExpired { queued: 1, .. })));
    assert_eq!(b.state(), ConvState::Plaintext);
    // The held message is never sent in plaintext: what is typed next is held behind it, and a
    // new start goes out.
    let out = b.send("typed later", &mut rng);
    assert_eq!(out.action, SendAction::Hold);
    assert_eq!(out.inject.len(), 1, "a new start");
    assert_eq!(b.queued(), 2);
}

#[test]
fn a_start_of_ours_that_lapses_with_nothing_held_still_holds_what_is_typed() {
    // Under `manual`, the user asked for encryption (`/sotto start`), typed nothing while it
    // was under way, and nobody answered. What is typed after the start lapsed used to go out
    // in plaintext (the lapse was reported in the same callback, after the line had left).
    let mut rng = rng(43);
    let (mut a, mut b) = pair(&mut rng, Policy::Manual);
    start_and_let_lapse(&mut b, false, &mut rng);
    assert_eq!(b.state(), ConvState::Plaintext);
    assert!(
        !b.sends_plaintext(),
        "/msg and auto-replies are refused too"
    );
    assert!(!b.is_blank(), "the lapse is saved");
    // So it stays after a restart.
    let mut b =
        Conversation::restore(IdentityKey::generate(&mut rng), &b.snapshot()).expect("restore");
    assert!(!b.sends_plaintext(), "restored");
    let out = b.send("typed after the start lapsed", &mut rng);
    assert_eq!(out.action, SendAction::Hold);
    assert_eq!(out.inject.len(), 1, "a new start");
    assert!(
        out.events.iter().any(|e| matches!(e, Event::Held { .. })),
        "{:?}",
        out.events
    );
    // The user ends it: the held text is handed back, and plaintext is the user's choice again.
    let out = b.stop(&mut rng);
    assert!(out.events.iter().any(
        |e| matches!(e, Event::Unsent { text, why: UnsentReason::Stopped }
            if text == "typed after the start lapsed")
    ));
    assert!(b.sends_plaintext());
    assert_eq!(
        b.send("plain now", &mut rng).action,
        SendAction::SendPlaintext
    );

    // A start that lapses and is then answered: the session clears the lapse (once it is
    // gone, e.g. forgotten after a restored backup, `manual` is plaintext again).
    b.tick(1000);
    let _lost = b.start(&mut rng).inject;
    b.tick(1000 + HANDSHAKE_TIMEOUT_SECS + 1);
    assert!(!b.sends_plaintext());
    let mut to_a = b.send("held, then delivered", &mut rng).inject;
    let mut shown = Vec::new();
    while !to_a.is_empty() {
        let (s, to_b, _) = deliver(&mut a, to_a, &mut rng);
        shown.extend(s);
        to_a = deliver(&mut b, to_b, &mut rng).1;
    }
    assert_eq!(b.state(), ConvState::Encrypted);
    assert_eq!(shown, ["held, then delivered"]);
    b.forget_session();
    assert!(b.sends_plaintext(), "the session cleared the lapse");
}

/// A re-key of ours that nobody answers lapses with the session going on: said as such (not
/// "what you type is held"), nothing held, the next message encrypted in the session.
#[test]
fn a_re_key_that_lapses_leaves_the_session_going_on() {
    let (mut a, mut b, mut rng) = established(44);
    start_and_let_lapse(&mut b, true, &mut rng);
    assert_eq!(b.state(), ConvState::Encrypted);
    assert!(!b.start_lapsed());
    let lines = send(&mut b, "still encrypted", &mut rng);
    assert_eq!(
        deliver(&mut a, lines, &mut rng).0,
        vec!["still encrypted".to_owned()]
    );
}

/// A service that puts text in front of a line (purple-discord's "EDIT: " or pin mark on an
/// edited or pinned message, a quoted or forwarded one): not shown raw, not taken for the
/// peer's plaintext (no false "NOT encrypted" warning), reported as changed on the way.
#[test]
fn a_line_with_text_put_in_front_is_reported_not_shown() {
    let (mut a, mut b, mut rng) = established(45);
    let line = send(&mut b, "edited later", &mut rng).remove(0);
    for changed in [
        format!("EDIT: {line}"),
        format!("\u{1F4CC} {line}"),
        format!("> Forwarded from bob:\n> {line}"),
    ] {
        let out = a.receive(&changed, 0, &mut rng);
        assert_eq!(out.action, ReceiveAction::Swallow, "{changed}");
        assert_eq!(
            out.events,
            vec![Event::Unreadable {
                reason: UnreadableReason::Rewritten
            }],
            "{changed}"
        );
    }
    // Words after the line are someone's words around a quote of it (a reply from a device
    // without Sotto, which showed the line raw): plaintext, with its warning, not hidden.
    let reply = format!("> bob wrote:\n> {line}\nmy phone can't read this");
    let out = a.receive(&reply, 0, &mut rng);
    assert_eq!(out.action, ReceiveAction::PassThrough);
    assert_eq!(out.events, vec![Event::PlaintextWhileEncrypted]);
    // Plaintext that merely mentions the prefix passes as before.
    for plain in ["what is ?S1 anyway", "see ?S1D then", "?S1"] {
        let out = a.receive(plain, 0, &mut rng);
        assert_eq!(out.action, ReceiveAction::PassThrough, "{plain}");
    }
    // The line itself is still read.
    assert_eq!(
        deliver(&mut a, vec![line.clone()], &mut rng).0,
        ["edited later"]
    );
    // At most 64 bytes in front (PROTOCOL.md §2): 65 is plaintext that quotes a line.
    let at_most = format!("{} {line}", "e".repeat(63));
    let out = a.receive(&at_most, 0, &mut rng);
    assert_eq!(out.action, ReceiveAction::Swallow);
    let beyond = format!("{} {line}", "e".repeat(64));
    assert_eq!(
        a.receive(&beyond, 0, &mut rng).action,
        ReceiveAction::PassThrough
    );
}

/// With no session and no handshake (a contact who does not run Sotto, or before any start),
/// there is no line a service could have changed: a message that quotes one ("what is this?
/// ?S1D…") is the contact's plaintext, shown as such, not dropped as a changed line (it used
/// to vanish, with no window opened for the notice).
#[test]
fn a_line_quoted_in_plaintext_with_no_session_is_shown() {
    let mut rng = rng(46);
    let (_, mut b) = pair(&mut rng, Policy::Manual);
    let quoted = "what is this? ?S1DAbCdEfGhIjKlMnOpQrStUvWxYz0123456789 got it from a bot";
    let out = b.receive(quoted, 0, &mut rng);
    assert_eq!(out.action, ReceiveAction::PassThrough);
    assert!(out.events.is_empty(), "{:?}", out.events);
    // Nor while a start someone injected "from" the contact is answered: that handshake is
    // not one of ours, and the contact's message is still theirs.
    let answer = b.receive(&forged_init(&mut rng), 0, &mut rng);
    assert_eq!(answer.inject.len(), 1, "answered");
    let out = b.receive(quoted, 0, &mut rng);
    assert_eq!(out.action, ReceiveAction::PassThrough);
}

#[test]
fn starts_teach_nothing_lasting_and_stop_forgets_that_the_peer_runs_sotto() {
    let mut rng = rng(42);
    let (_, mut b) = pair(&mut rng, Policy::Opportunistic);
    b.receive(&WireMessage::Query.encode(), 0, &mut rng);
    b.receive(&forged_init(&mut rng), 0, &mut rng);
    assert!(
        !b.peer_supports_sotto(),
        "an unauthenticated line taught it"
    );
    // Nor does a restart make the answered start a handshake of our own: the conversation is
    // in plaintext, and `manual` sends plaintext, as before the injected lines (a forged start
    // used to be saved with the next event and hold everything typed, across restarts).
    let _ = b.receive("?S1E injected error", 0, &mut rng);
    assert_eq!(b.state(), ConvState::Plaintext);
    let snapshot = b.snapshot();
    let mut restored =
        Conversation::restore(IdentityKey::generate(&mut rng), &snapshot).expect("restore");
    assert_eq!(restored.state(), ConvState::Plaintext);
    restored.set_policy(Policy::Manual);
    assert_eq!(
        restored.send("plain after a restart", &mut rng).action,
        SendAction::SendPlaintext
    );
    // Learned from a finished handshake only, and forgotten when the user ends it.
    let (mut a, mut b, mut rng) = established(43);
    assert!(a.peer_supports_sotto() && b.peer_supports_sotto());
    a.set_policy(Policy::Opportunistic);
    a.stop(&mut rng);
    assert!(!a.peer_supports_sotto());
    assert_eq!(
        a.send("plain after stop", &mut rng).action,
        SendAction::SendPlaintext
    );
    let _ = &mut b;
}

/// A forged `?S1I` injected every two minutes (each answered, each expiring unanswered) must
/// not block question-and-answer verification: the question goes out in the session, and the
/// run completes with the real peer.
#[test]
fn a_forged_start_does_not_block_verification() {
    let (mut a, mut b, mut rng) = established(46);
    let answer = b.receive(&forged_init(&mut rng), 0, &mut rng);
    assert_eq!(answer.inject.len(), 1, "answered (the answer goes nowhere)");
    assert_eq!(b.state(), ConvState::Encrypted);
    let ask = b
        .ask_question("Which cafe?", "the blue one", &mut rng)
        .inject;
    assert_eq!(ask.len(), 1, "the question goes out");
    let (_, _, ev) = deliver(&mut a, ask, &mut rng);
    assert!(ev
        .iter()
        .any(|e| matches!(e, Event::VerificationQuestion { .. })));
    let reply = a.answer_question("The Blue One", &mut rng).inject;
    let (_, result, ev_b) = deliver(&mut b, reply, &mut rng);
    assert!(ev_b
        .iter()
        .any(|e| matches!(e, Event::VerificationResult { success: true, .. })));
    let (_, _, ev_a) = deliver(&mut a, result, &mut rng);
    assert!(ev_a
        .iter()
        .any(|e| matches!(e, Event::VerificationResult { success: true, .. })));
}

#[test]
fn a_flood_of_starts_gets_a_bounded_number_of_answers() {
    let (_, mut b, mut rng) = established(44);
    let answers: usize = (0..100)
        .map(|_| {
            b.receive(&forged_init(&mut rng), 100, &mut rng)
                .inject
                .len()
        })
        .sum();
    assert_eq!(answers, ANSWER_BURST as usize);
    // A new window of time answers again.
    assert_eq!(
        b.receive(&forged_init(&mut rng), 200, &mut rng)
            .inject
            .len(),
        1
    );
    assert_eq!(b.state(), ConvState::Encrypted);
    // Queries count in the same budget.
    let (_, mut b, mut rng) = established(45);
    let answers: usize = (0..100)
        .map(|_| {
            b.receive(&WireMessage::Query.encode(), 100, &mut rng)
                .inject
                .len()
        })
        .sum();
    assert!(answers <= ANSWER_BURST as usize, "{answers}");
}

#[test]
fn an_injected_start_in_plaintext_holds_nothing() {
    // carol runs no Sotto; someone injects a query and an init "from" her. bob answers (once)
    // but what he types to her still goes out as typed under his policy, and nothing lasts.
    let mut rng = rng(46);
    for policy in [Policy::Manual, Policy::Opportunistic] {
        let (_, mut bob) = pair(&mut rng, policy);
        for line in [WireMessage::Query.encode(), forged_init(&mut rng)] {
            bob.receive(&line, 0, &mut rng);
            assert_eq!(bob.state(), ConvState::Plaintext, "{policy:?}");
            assert_eq!(
                bob.send("hello carol", &mut rng).action,
                SendAction::SendPlaintext,
                "{policy:?}"
            );
        }
        let out = bob.tick(HANDSHAKE_TIMEOUT_SECS + 1);
        assert!(
            out.events.is_empty(),
            "nobody was waiting: {:?}",
            out.events
        );
        assert!(!bob.peer_supports_sotto());
    }
}

/// A server hands our start to another of our own conversations (on a protocol where no names
/// are stated, nothing else would catch it): that one answers it, as it answers any start, and
/// the answer comes back to the first as the contact's. The lines that finish a handshake carry
/// our own key: refused with a clear reason, and no session on our own key on either side.
#[test]
fn a_start_handed_to_another_of_our_own_conversations_makes_no_session() {
    let mut rng = rng(41);
    let me = IdentityKey::generate(&mut rng);
    let mut with_bob = Conversation::new(me.clone(), 0xa1, Policy::Manual);
    let mut with_x = Conversation::new(me, 0xa1, Policy::Manual);
    let mut lines = with_bob.start(&mut rng).inject;
    let mut events = Vec::new();
    // The server bounces every line to the other conversation until none is left.
    for round in 0..6 {
        let to = if round % 2 == 0 {
            &mut with_x
        } else {
            &mut with_bob
        };
        let (_, back, ev) = deliver(to, lines, &mut rng);
        events.extend(ev);
        lines = back;
    }
    assert!(lines.is_empty(), "still answering: {lines:?}");
    assert!(
        events.contains(&Event::HandshakeFailed {
            reason: crate::protocol::handshake::HandshakeError::OwnKey
        }),
        "{events:?}"
    );
    for c in [&with_bob, &with_x] {
        assert_ne!(c.state(), ConvState::Encrypted);
        assert!(c.peer_identity().is_none());
    }
}

/// A copy of the start being answered (a server handing the same `?S1I` twice, with text after
/// it or not) is not answered again: a second answer (a new ephemeral) would replace the first,
/// which the initiator may already have finished on, and its `?S1C` would then fail here while
/// the initiator held a session nobody here has.
#[test]
fn a_copy_of_the_start_being_answered_is_not_answered_again() {
    for copy_suffix in ["", " x"] {
        let mut rng = rng(49);
        let (mut a, mut b) = pair(&mut rng, Policy::Manual);
        a.set_peer_supports_sotto(true);
        let [start] = <[String; 1]>::try_from(a.start(&mut rng).inject).expect("one start");
        assert!(start.starts_with("?S1I"), "{start}");
        let (_, answer, _) = deliver(&mut b, vec![start.clone()], &mut rng);
        assert_eq!(answer.len(), 1);
        let before = state_of(&b);
        let copy = format!("{start}{copy_suffix}");
        let (shown, again, events) = deliver(&mut b, vec![copy], &mut rng);
        assert!(
            shown.is_empty() && again.is_empty() && events.is_empty(),
            "{shown:?} {again:?} {events:?}"
        );
        assert_eq!(state_of(&b), before, "the copy changed nothing");
        let (_, confirm, _) = deliver(&mut a, answer, &mut rng);
        let (_, _, events) = deliver(&mut b, confirm, &mut rng);
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, Event::HandshakeFailed { .. })),
            "{events:?}"
        );
        assert_eq!(a.state(), ConvState::Encrypted);
        assert_eq!(b.state(), ConvState::Encrypted, "{copy_suffix:?}");
    }
}
