//! A contact logged in twice (two clients, two stores, two instance tags) answering one start:
//! exactly one of them ends up holding the session, the other is left with nothing (no orphan
//! session, no "started"), and nobody is shown a failure for a line that was meant for another
//! instance (issue 9).

use super::*;

/// Alice and two clients of Bob's, each with its own key and tag.
fn three(rng: &mut ChaCha20Rng) -> (Conversation, Conversation, Conversation) {
    let alice = Conversation::new(IdentityKey::generate(rng), 0xa1, Policy::Manual);
    let laptop = Conversation::new(IdentityKey::generate(rng), 0xb1, Policy::Manual);
    let desktop = Conversation::new(IdentityKey::generate(rng), 0xb2, Policy::Manual);
    (alice, laptop, desktop)
}

fn failures(events: &[Event]) -> Vec<&Event> {
    events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::HandshakeFailed { .. } | Event::Unreadable { .. } | Event::Started { .. }
            )
        })
        .collect()
}

#[test]
fn a_query_answered_by_two_logins_gives_one_session_and_no_orphan() {
    let mut rng = rng(901);
    let (mut alice, mut laptop, mut desktop) = three(&mut rng);
    let query = alice.start(&mut rng).inject;
    // The server delivers the query (sent to the bare JID) to both clients; both answer.
    let (_, from_laptop, _) = deliver(&mut laptop, query.clone(), &mut rng);
    let (_, from_desktop, _) = deliver(&mut desktop, query, &mut rng);
    assert_eq!((from_laptop.len(), from_desktop.len()), (1, 1));
    // Alice answers the first; the second instance's start is not answered.
    let (_, response, events) = deliver(&mut alice, from_laptop, &mut rng);
    assert_eq!(response.len(), 1);
    assert!(failures(&events).is_empty(), "{events:?}");
    let (_, ignored, events) = deliver(&mut alice, from_desktop, &mut rng);
    assert!(
        ignored.is_empty(),
        "the second instance was answered: {ignored:?}"
    );
    assert!(events.is_empty(), "{events:?}");
    // A copy of the answer reaching the other instance is not for it: silently nothing.
    let before = state_of(&desktop);
    let (_, back, events) = deliver(&mut desktop, response.clone(), &mut rng);
    assert!(back.is_empty() && events.is_empty(), "{back:?} {events:?}");
    assert_eq!(state_of(&desktop), before);
    // The first instance completes.
    let (_, confirm, events) = deliver(&mut laptop, response, &mut rng);
    assert!(events.iter().any(|e| matches!(e, Event::Started { .. })));
    let (_, back, events) = deliver(&mut alice, confirm, &mut rng);
    assert!(back.is_empty(), "{back:?}");
    assert!(events.iter().any(|e| matches!(e, Event::Started { .. })));
    assert_eq!(alice.session_instance().map(|(_, tag)| tag), Some(0xb1));
    assert_eq!(
        alice.session_instance().map(|(sid, _)| sid),
        laptop.session_instance().map(|(sid, _)| sid)
    );
    let lines = send(&mut alice, "to the laptop", &mut rng);
    assert_eq!(deliver(&mut laptop, lines, &mut rng).0, ["to the laptop"]);
    // The other instance never believed a session started, and its unanswered start (it only
    // answered a query, so nothing typed was held for it) expires without a word.
    assert_eq!(desktop.state(), ConvState::Plaintext);
    assert!(desktop.session_instance().is_none());
    let expired = desktop.tick(super::super::session::HANDSHAKE_TIMEOUT_SECS + 1);
    assert!(expired.events.is_empty(), "{:?}", expired.events);
    assert_eq!(desktop.state(), ConvState::Plaintext);
}

#[test]
fn an_init_answered_by_two_logins_gives_one_session_and_no_failure_shown() {
    let mut rng = rng(902);
    let (mut alice, mut laptop, mut desktop) = three(&mut rng);
    alice.set_peer_supports_sotto(true);
    let init = alice.start(&mut rng).inject;
    let (_, from_laptop, _) = deliver(&mut laptop, init.clone(), &mut rng);
    let (_, from_desktop, _) = deliver(&mut desktop, init, &mut rng);
    let (_, confirm, events) = deliver(&mut alice, from_laptop, &mut rng);
    assert_eq!(confirm.len(), 1);
    assert!(events.iter().any(|e| matches!(e, Event::Started { .. })));
    // The second answer comes late: nothing to do, nothing to report.
    let (_, back, events) = deliver(&mut alice, from_desktop, &mut rng);
    assert!(
        back.is_empty() && failures(&events).is_empty(),
        "{events:?}"
    );
    // A copy of the confirm at the instance that lost: not its handshake, not reported.
    let before = state_of(&desktop);
    let (_, back, events) = deliver(&mut desktop, confirm.clone(), &mut rng);
    assert!(back.is_empty() && events.is_empty(), "{back:?} {events:?}");
    assert_eq!(state_of(&desktop), before);
    let (_, _, events) = deliver(&mut laptop, confirm, &mut rng);
    assert!(events.iter().any(|e| matches!(e, Event::Started { .. })));
    let lines = send(&mut laptop, "from the laptop", &mut rng);
    assert_eq!(deliver(&mut alice, lines, &mut rng).0, ["from the laptop"]);
    assert_eq!(desktop.state(), ConvState::Plaintext);
}

#[test]
fn a_restarted_peer_with_the_same_tag_is_still_answered_while_a_handshake_waits() {
    // The first-instance rule must not lock out the instance being answered: its repeated
    // start (it restarted before our answer arrived) replaces the pending answer.
    let mut rng = rng(903);
    let (mut alice, mut laptop, _) = three(&mut rng);
    let query = alice.start(&mut rng).inject;
    let (_, first, _) = deliver(&mut laptop, query.clone(), &mut rng);
    let (_, _, _) = deliver(&mut alice, first, &mut rng);
    let mut again = Conversation::new(IdentityKey::generate(&mut rng), 0xb1, Policy::Manual);
    let (_, second, _) = deliver(&mut again, query, &mut rng);
    let (_, response, _) = deliver(&mut alice, second, &mut rng);
    assert_eq!(
        response.len(),
        1,
        "the same instance's new start was not answered"
    );
    let (_, confirm, _) = deliver(&mut again, response, &mut rng);
    deliver(&mut alice, confirm, &mut rng);
    assert_eq!(alice.state(), ConvState::Encrypted);
    assert_eq!(again.state(), ConvState::Encrypted);
}
