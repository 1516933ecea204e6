//! Starts answered late: the contact was offline when alice's start went (its server kept it),
//! her start lapsed, and the contact's client, once online, answers every start its server
//! kept, oldest first. What alice held goes without her typing again, into a session whose key
//! she accepted only; stale and forged answers, and made-up signs of the contact coming online,
//! cost at most one start per interval and say nothing.

use super::*;
use crate::protocol::session::{
    ReceiveOutcome, ANSWER_BURST, ANSWER_WINDOW_SECS, HANDSHAKE_TIMEOUT_SECS,
};
use crate::protocol::wire::{InitMessage, WireMessage};

/// Alice (who knows bob runs Sotto: an earlier session told her) and bob, in plaintext.
fn known_pair(rng: &mut ChaCha20Rng, policy: Policy) -> (Conversation, Conversation) {
    let (mut a, b) = pair(rng, policy);
    a.set_peer_supports_sotto(true);
    (a, b)
}

/// Alice types `text` at `t` while bob is offline: it is held and a start goes (bob's server
/// keeps it: returned); nobody answers, and the start lapses, told.
fn typed_while_away(a: &mut Conversation, t: u64, text: &str, rng: &mut ChaCha20Rng) -> String {
    a.tick(t);
    let out = a.send(text, rng);
    assert_eq!(out.action, SendAction::Hold, "{text}");
    let [start] = <[String; 1]>::try_from(out.inject).expect("one start");
    assert!(start.starts_with("?S1I"), "{start}");
    let lapse = a.tick(t + HANDSHAKE_TIMEOUT_SECS + 1);
    assert!(
        lapse.events.iter().any(|e| matches!(
            e,
            Event::HandshakeExpired {
                session_goes_on: false,
                ..
            }
        )),
        "{:?}",
        lapse.events
    );
    assert!(a.start_lapsed());
    start
}

/// `to` receives `lines` at `t`: what it shows, what it sends back, what it says.
fn at(
    to: &mut Conversation,
    lines: Vec<String>,
    t: u64,
    rng: &mut ChaCha20Rng,
) -> (Vec<String>, Vec<String>, Vec<Event>) {
    to.tick(t);
    let (mut shown, mut back, mut events) = (Vec::new(), Vec::new(), Vec::new());
    for l in lines {
        let out = to.receive(&l, t, rng);
        if let ReceiveAction::Display(text) = out.action {
            shown.push(text.to_string());
        }
        back.extend(out.inject);
        events.extend(out.events);
    }
    (shown, back, events)
}

fn started(events: &[Event]) -> bool {
    events.iter().any(|e| matches!(e, Event::Started { .. }))
}

/// Alice writes to bob while he is offline (`always`); her start lapses. An hour later bob
/// comes online and his server hands him the start: his answer completes her lapsed start as
/// the answer in time would have, and what she held reaches him, without her typing again.
/// The same answer again (a replay) does nothing. It used to be dropped ("no start waiting"),
/// and the text stayed held until she typed again.
#[test]
fn a_start_answered_after_it_lapsed_completes_and_what_was_held_goes() {
    let mut rng = rng(70);
    let (mut a, mut b) = known_pair(&mut rng, Policy::Always);
    let start = typed_while_away(&mut a, 100, "held for bob", &mut rng);
    let t = 3_700;
    let (_, answer, _) = at(&mut b, vec![start], t, &mut rng);
    assert!(
        answer.len() == 1 && answer[0].starts_with("?S1R"),
        "{answer:?}"
    );
    let (_, to_b, events) = at(&mut a, answer.clone(), t, &mut rng);
    assert!(started(&events), "{events:?}");
    assert!(
        events.contains(&Event::QueuedSent {
            text: "held for bob".into()
        }),
        "{events:?}"
    );
    assert_eq!(a.state(), ConvState::Encrypted);
    assert!(!a.start_lapsed());
    let (shown, back, events) = at(&mut b, to_b, t, &mut rng);
    assert_eq!(shown, ["held for bob"]);
    assert!(back.is_empty() && started(&events), "{events:?}");
    // A replay of the answer: nothing.
    let (_, back, events) = at(&mut a, answer, t + 1, &mut rng);
    assert!(back.is_empty() && events.is_empty(), "{events:?}");
    assert_eq!(a.state(), ConvState::Encrypted);
}

/// Alice's starts lapsed twice (she typed again after the first lapse): bob's server kept both
/// and bob answers both, oldest first. The answer to the earlier start completes nothing and
/// says nothing (no "handshake failed"); the answer to the newest completes it, and both texts
/// reach bob in order.
#[test]
fn of_the_starts_a_server_kept_the_newest_completes() {
    let mut rng = rng(71);
    let (mut a, mut b) = known_pair(&mut rng, Policy::Always);
    let starts = vec![
        typed_while_away(&mut a, 100, "one", &mut rng),
        typed_while_away(&mut a, 400, "two", &mut rng),
    ];
    assert_eq!(a.queued(), 2);
    let t = 5_000;
    let (_, answers, _) = at(&mut b, starts, t, &mut rng);
    assert_eq!(answers.len(), 2);
    let (_, back, events) = at(&mut a, answers[..1].to_vec(), t, &mut rng);
    assert!(back.is_empty() && events.is_empty(), "{back:?} {events:?}");
    let (_, to_b, events) = at(&mut a, answers[1..].to_vec(), t, &mut rng);
    assert!(started(&events), "{events:?}");
    let (shown, _, events) = at(&mut b, to_b, t, &mut rng);
    assert_eq!(shown, ["one", "two"], "{events:?}");
}

/// More starts kept than bob answers in one window (`ANSWER_BURST`): he answers the first
/// ones, holds the newest back, and answers it once the window is over (the host's sweep asks
/// `answer_due`); alice's newest start completes with it. The newest used to go unanswered, and
/// the conversation waited for alice to type again.
#[test]
fn the_newest_start_over_the_answer_limit_is_answered_when_the_window_is_over() {
    let mut rng = rng(72);
    let (mut a, mut b) = known_pair(&mut rng, Policy::Always);
    let n = ANSWER_BURST as usize + 2;
    let texts: Vec<String> = (0..n).map(|i| format!("held {i}")).collect();
    let starts: Vec<String> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| typed_while_away(&mut a, 100 + 200 * i as u64, text, &mut rng))
        .collect();
    let t = 10_000;
    let (_, mut answers, _) = at(&mut b, starts, t, &mut rng);
    assert_eq!(answers.len(), ANSWER_BURST as usize);
    assert!(!b.answer_due(t + ANSWER_WINDOW_SECS - 1));
    assert!(b.answer_due(t + ANSWER_WINDOW_SECS));
    // Not before the window is over.
    b.tick(t + ANSWER_WINDOW_SECS - 1);
    assert!(b.answer_held_back(&mut rng).inject.is_empty());
    b.tick(t + ANSWER_WINDOW_SECS);
    let late = b.answer_held_back(&mut rng);
    assert_eq!(late.inject.len(), 1, "{:?}", late.events);
    assert!(!b.answer_due(t + 2 * ANSWER_WINDOW_SECS), "answered once");
    answers.extend(late.inject);
    let last = answers.pop().expect("the newest's answer");
    let t2 = t + ANSWER_WINDOW_SECS;
    let (_, back, events) = at(&mut a, answers, t2, &mut rng);
    assert!(back.is_empty() && events.is_empty(), "{back:?} {events:?}");
    let (_, to_b, events) = at(&mut a, vec![last], t2, &mut rng);
    assert!(started(&events), "{events:?}");
    let (shown, _, _) = at(&mut b, to_b, t2, &mut rng);
    assert_eq!(shown, texts);
}

/// Alice's first start lapsed; she typed again, and that start is under way when bob comes
/// online and answers both. The answer to the lapsed start is not reported as a failed
/// handshake (it was: "could not start the encrypted conversation"); the answer to the one
/// under way completes it.
#[test]
fn an_answer_to_a_lapsed_start_while_a_newer_one_runs_says_nothing() {
    let mut rng = rng(73);
    let (mut a, mut b) = known_pair(&mut rng, Policy::Manual);
    a.tick(100);
    let first = a.start(&mut rng).inject;
    assert_eq!(first.len(), 1);
    let _ = a.tick(100 + HANDSHAKE_TIMEOUT_SECS + 1);
    assert!(a.start_lapsed());
    a.tick(400);
    let out = a.send("typed after the lapse", &mut rng);
    assert_eq!(out.action, SendAction::Hold);
    let mut starts = first;
    starts.extend(out.inject);
    let (_, answers, _) = at(&mut b, starts, 450, &mut rng);
    assert_eq!(answers.len(), 2);
    let (_, back, events) = at(&mut a, answers[..1].to_vec(), 450, &mut rng);
    assert!(back.is_empty() && events.is_empty(), "{events:?}");
    let (_, to_b, events) = at(&mut a, answers[1..].to_vec(), 450, &mut rng);
    assert!(started(&events), "{events:?}");
    assert_eq!(at(&mut b, to_b, 450, &mut rng).0, ["typed after the lapse"]);
}

/// Alice restarted after her start lapsed (its handshake is in memory only): bob's late answer
/// can complete nothing, but says bob's client is there, so the start is tried again, once,
/// without a word; a replay of the late answer starts nothing more. The retry lapses without a
/// word too, and bob's answer to it, late as well, completes it: what was held goes.
#[test]
fn a_late_answer_after_a_restart_tries_the_start_again_once() {
    let mut rng = rng(74);
    let (mut a, mut b) = known_pair(&mut rng, Policy::Always);
    let start = typed_while_away(&mut a, 100, "held across a restart", &mut rng);
    let mut a =
        Conversation::restore(IdentityKey::generate(&mut rng), &a.snapshot()).expect("restore");
    let t = 3_700;
    let (_, answer, _) = at(&mut b, vec![start], t, &mut rng);
    let (_, again, events) = at(&mut a, answer.clone(), t, &mut rng);
    assert!(events.is_empty(), "{events:?}");
    assert!(
        again.len() == 1 && again[0].starts_with("?S1I"),
        "tried again: {again:?}"
    );
    let (_, more, events) = at(&mut a, answer.clone(), t + 5, &mut rng);
    assert!(more.is_empty() && events.is_empty(), "{more:?} {events:?}");
    let out = a.tick(t + HANDSHAKE_TIMEOUT_SECS + 1);
    assert!(out.events.is_empty(), "{:?}", out.events);
    assert!(a.start_lapsed());
    assert_eq!(a.queued(), 1);
    let t2 = t + HANDSHAKE_TIMEOUT_SECS + 60;
    let (_, more, _) = at(&mut a, answer, t2, &mut rng);
    assert!(more.is_empty(), "the retry's answer is awaited: {more:?}");
    let (_, answer, _) = at(&mut b, again, t2, &mut rng);
    let (_, to_b, events) = at(&mut a, answer, t2, &mut rng);
    assert!(started(&events), "{events:?}");
    assert_eq!(at(&mut b, to_b, t2, &mut rng).0, ["held across a restart"]);
}

/// The contact seen coming online (an XMPP presence, which a server can invent every few
/// seconds) tries a lapsed start again: one `?S1I` while none is in flight, at most one per
/// interval, never a word to the user, never any held text; with nothing held and no start
/// lapsed, or with a session up, nothing at all.
#[test]
fn the_contact_coming_online_tries_a_lapsed_start_again_at_most_once_per_interval() {
    let mut rng = rng(75);
    let (mut a, mut b) = known_pair(&mut rng, Policy::Always);
    a.tick(50);
    assert!(is_nothing(&a.peer_came_online(&mut rng)), "nothing wanted");
    let start = typed_while_away(&mut a, 100, "held", &mut rng);
    let t0 = 1_000;
    let mut starts = Vec::new();
    for t in (t0..t0 + 10 * HANDSHAKE_TIMEOUT_SECS).step_by(10) {
        let lapse = a.tick(t);
        assert!(lapse.events.is_empty(), "{:?}", lapse.events);
        let out = a.peer_came_online(&mut rng);
        assert!(out.events.is_empty(), "{:?}", out.events);
        assert!(out.inject.iter().all(|l| l.starts_with("?S1I")));
        starts.extend(out.inject);
    }
    assert!(
        (9..=10).contains(&starts.len()),
        "{} starts in ten intervals",
        starts.len()
    );
    assert_eq!(a.queued(), 1);
    // Bob answers the newest: the session comes up and what was held goes.
    let t = t0 + 10 * HANDSHAKE_TIMEOUT_SECS;
    let newest = starts.pop().expect("a start");
    let (_, answer, _) = at(&mut b, vec![start, newest], t, &mut rng);
    let (_, to_b, events) = at(&mut a, answer, t, &mut rng);
    assert!(started(&events), "{events:?}");
    assert_eq!(at(&mut b, to_b, t, &mut rng).0, ["held"]);
    assert!(is_nothing(&a.peer_came_online(&mut rng)), "a session is up");
}

/// A start tried again without the user (bob's client came online) says nothing when it
/// lapses, unless the user typed while it ran: then she waits on it, and its lapse is told
/// (with what stays held), as the first one was.
#[test]
fn a_silent_retry_the_user_typed_during_is_told_when_it_lapses() {
    let mut rng = rng(77);
    let (mut a, _b) = known_pair(&mut rng, Policy::Always);
    typed_while_away(&mut a, 100, "first", &mut rng);
    let t0 = 1_000;
    a.tick(t0);
    assert!(!a.start_retrying(), "the lapsed start is not in flight");
    let retry = a.peer_came_online(&mut rng);
    assert!(retry.inject.iter().any(|l| l.starts_with("?S1I")));
    // What the host tells of this start (an IRC 401 for it) goes only to a window open.
    assert!(a.start_retrying());
    let typed = a.send("second", &mut rng);
    assert_eq!(typed.action, SendAction::Hold);
    assert!(!a.start_retrying(), "the user waits on it now");
    let lapse = a.tick(t0 + HANDSHAKE_TIMEOUT_SECS + 1);
    assert!(
        lapse.events.iter().any(|e| matches!(
            e,
            Event::HandshakeExpired {
                queued: 2,
                session_goes_on: false
            }
        )),
        "{:?}",
        lapse.events
    );
}

/// Alice does not know bob runs Sotto: her start was a query, a line a person without Sotto
/// reads. Bob coming online does not send him another by itself (his Sotto, if he runs one,
/// answers the query his server kept).
#[test]
fn a_contact_not_known_to_run_sotto_gets_no_query_by_itself() {
    let mut rng = rng(78);
    let (mut a, _b) = pair(&mut rng, Policy::Always);
    a.tick(100);
    let out = a.send("held", &mut rng);
    assert!(
        out.inject.iter().all(|l| l.starts_with("?S1Q")),
        "{:?}",
        out.inject
    );
    let _ = a.tick(100 + HANDSHAKE_TIMEOUT_SECS + 1);
    assert!(a.start_lapsed());
    a.tick(3_700);
    assert!(is_nothing(&a.peer_came_online(&mut rng)));
}

fn is_nothing(out: &ReceiveOutcome) -> bool {
    out.inject.is_empty() && out.events.is_empty()
}

/// A server that keeps alice's start and answers it late with a key of its own (alice has
/// bob's accepted from an earlier session): the session comes up on that key, held like any
/// changed key, and nothing held goes to it. Forged answers that do not authenticate change
/// nothing and say nothing.
#[test]
fn a_late_answer_from_another_key_releases_nothing() {
    let (mut a, mut b, mut rng) = established(76);
    // bob ends the session; alice starts again and types while bob is offline.
    let end = b.stop(&mut rng).inject;
    let _ = at(&mut a, end, 100, &mut rng);
    assert_eq!(a.state(), ConvState::Finished);
    a.tick(100);
    let start = a.start(&mut rng).inject;
    assert_eq!(a.send("for bob only", &mut rng).action, SendAction::Hold);
    let _ = a.tick(100 + HANDSHAKE_TIMEOUT_SECS + 1);
    assert!(a.start_lapsed());
    // Forged answers: random bytes in the shape of one, with alice's tag.
    let t = 3_700;
    let mut mallory = Conversation::new(IdentityKey::generate(&mut rng), 0x0bad, Policy::Manual);
    let (_, real, _) = at(&mut mallory, start, t, &mut rng);
    let Ok(WireMessage::Response(mut forged)) = WireMessage::decode(&real[0]) else {
        panic!("an answer");
    };
    forged.encrypted_static[0] ^= 1;
    let forged = WireMessage::Response(forged).encode();
    let (_, back, events) = at(&mut a, vec![forged], t, &mut rng);
    assert!(back.is_empty() && events.is_empty(), "{back:?} {events:?}");
    // Mallory's own answer completes: her key is not accepted, and nothing held goes.
    let (_, back, events) = at(&mut a, real, t, &mut rng);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::PeerKeyChanged { .. })),
        "{events:?}"
    );
    assert!(
        back.len() == 1 && back[0].starts_with("?S1C"),
        "only the handshake's last line: {back:?}"
    );
    assert!(a.is_blocked());
    assert_eq!(a.queued(), 1);
}

/// A flood of starts: the one held back is answered only once the window is over, counted in
/// the new window (no more than `ANSWER_BURST` answers in any window); a newer start answered
/// in time drops an older one held back.
#[test]
fn a_start_held_back_adds_no_answer_to_a_flood() {
    let mut rng = rng(77);
    let mut b = Conversation::new(IdentityKey::generate(&mut rng), 0xb2, Policy::Manual);
    let init = |rng: &mut ChaCha20Rng| {
        WireMessage::Init(InitMessage {
            initiator_tag: 0x0bad,
            ephemeral: IdentityKey::generate(rng).public().to_bytes(),
        })
        .encode()
    };
    let t = 1_000;
    let flood: Vec<String> = (0..50).map(|_| init(&mut rng)).collect();
    assert_eq!(
        at(&mut b, flood, t, &mut rng).1.len(),
        ANSWER_BURST as usize
    );
    let t2 = t + ANSWER_WINDOW_SECS;
    b.tick(t2);
    assert_eq!(b.answer_held_back(&mut rng).inject.len(), 1);
    let flood: Vec<String> = (0..50).map(|_| init(&mut rng)).collect();
    assert_eq!(
        at(&mut b, flood, t2, &mut rng).1.len(),
        ANSWER_BURST as usize - 1,
        "the answer held back counts in its window"
    );
    assert!(b.answer_due(t2 + ANSWER_WINDOW_SECS));
    // A start answered in a new window is newer than the one held back: it goes.
    let t3 = t2 + ANSWER_WINDOW_SECS;
    assert_eq!(at(&mut b, vec![init(&mut rng)], t3, &mut rng).1.len(), 1);
    assert!(!b.answer_due(t3 + ANSWER_WINDOW_SECS));
}

/// A start that fails (a forged `?S1I` with a low-order ephemeral key, which anyone can send)
/// is not "a newer start answered": the start held back from a flood is still answered once
/// the window is over (PROTOCOL.md §3.2, "Answers are rate-limited").
#[test]
fn a_start_that_fails_keeps_the_one_held_back() {
    let mut rng = rng(78);
    let mut b = Conversation::new(IdentityKey::generate(&mut rng), 0xb2, Policy::Manual);
    let init = |ephemeral: [u8; 32]| {
        WireMessage::Init(InitMessage {
            initiator_tag: 0x0bad,
            ephemeral,
        })
        .encode()
    };
    let t = 1_000;
    let flood: Vec<String> = (0..ANSWER_BURST + 1)
        .map(|_| init(IdentityKey::generate(&mut rng).public().to_bytes()))
        .collect();
    assert_eq!(
        at(&mut b, flood, t, &mut rng).1.len(),
        ANSWER_BURST as usize
    );
    let t2 = t + ANSWER_WINDOW_SECS;
    assert!(b.answer_due(t2));
    let (_, answers, events) = at(&mut b, vec![init([0u8; 32])], t2, &mut rng);
    assert!(answers.is_empty());
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::HandshakeFailed { .. })),
        "{events:?}"
    );
    // The failed start counted in the new window: the held one is answered after it.
    let t3 = t2 + ANSWER_WINDOW_SECS;
    assert!(b.answer_due(t3), "the start held back was dropped");
    b.tick(t3);
    assert_eq!(b.answer_held_back(&mut rng).inject.len(), 1);
}
