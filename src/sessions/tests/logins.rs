//! Which of the contact's clients holds the session (issue 9): the service learns its wire name
//! only from lines that authenticated, and forgets it when there is no session.

use super::*;

fn address(p: &Peer) -> Option<String> {
    p.sessions.session_address(&p.key).map(str::to_owned)
}

fn incoming_from(p: &mut Peer, from: &str, line: &str) -> Vec<Event> {
    let key = p.key.clone();
    let (_, fx) = p
        .sessions
        .incoming(&key, from, line, &settings(Policy::Manual), &mut p.rng)
        .expect("incoming");
    fx.events
}

#[test]
fn the_session_address_is_learned_from_authenticated_lines_only() {
    let mut alice = peer("address", "alice", "bob", 31);
    let mut bob = peer("address", "bob", "alice", 32);
    let query = alice.start();
    let (init, _, _) = bob.receive_as("alice", &query);
    // bob's client writes from its full JID; the start itself teaches nothing.
    let mut response = Vec::new();
    for l in &init {
        let key = alice.key.clone();
        let (_, fx) = alice
            .sessions
            .incoming(
                &key,
                "bob/laptop",
                l,
                &settings(Policy::Manual),
                &mut alice.rng,
            )
            .expect("incoming");
        response.extend(fx.inject);
    }
    assert_eq!(
        address(&alice),
        None,
        "an unauthenticated start set the address"
    );
    let (confirm, _, _) = bob.receive_as("alice", &response);
    let events = incoming_from(&mut alice, "bob/laptop", &confirm[0]);
    assert!(events.iter().any(|e| matches!(e, Event::Started { .. })));
    assert_eq!(address(&alice).as_deref(), Some("bob/laptop"));

    // Plaintext, garbage and a forged data line from another client change nothing.
    incoming_from(&mut alice, "bob/desktop", "hello from the other login");
    incoming_from(&mut alice, "bob/desktop", "?S1Dgarbage");
    let real = lines_of(bob.send("one").0);
    let mut forged = real[0].clone();
    let last = forged.pop().expect("non-empty");
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let events = incoming_from(&mut alice, "bob/desktop", &forged);
    assert!(events.iter().any(|e| matches!(e, Event::Unreadable { .. })));
    assert_eq!(address(&alice).as_deref(), Some("bob/laptop"));

    // A data line that decrypts in the session moves it: bob came back under a new resource.
    let events = incoming_from(&mut alice, "bob/phone", &real[0]);
    assert!(!events.iter().any(|e| matches!(e, Event::Unreadable { .. })));
    assert_eq!(address(&alice).as_deref(), Some("bob/phone"));

    // No session, no address.
    alice.stop();
    assert_eq!(address(&alice), None);
}
