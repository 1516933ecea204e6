//! Names in the handshake (`crate::protocol::names`): the honest case, a relay that both sides
//! notice, nicks at IRC's length, and a peer that states no names.

use super::*;
use crate::protocol::names::Names;
use crate::protocol::session::HoldReason;

fn names(me: &str, peer: &str) -> Names {
    Names {
        me: me.into(),
        peer: peer.into(),
    }
}

/// alice and bob, with the names each believes, run a handshake started by alice; returns every
/// handshake line and each side's events.
fn handshake(
    alice_names: Names,
    bob_names: Names,
    seed: u64,
) -> (
    Conversation,
    Conversation,
    Vec<String>,
    Vec<Event>,
    Vec<Event>,
    ChaCha20Rng,
) {
    let mut rng = rng(seed);
    let (mut a, mut b) = pair(&mut rng, Policy::Manual);
    a.set_names(alice_names);
    b.set_names(bob_names);
    a.set_peer_supports_sotto(true);
    let (mut ev_a, mut ev_b, mut lines) = (Vec::new(), Vec::new(), Vec::new());
    let mut to_b = a.start(&mut rng).inject;
    while !to_b.is_empty() {
        lines.extend(to_b.clone());
        let (_, to_a, e) = deliver(&mut b, to_b, &mut rng);
        ev_b.extend(e);
        lines.extend(to_a.clone());
        let (_, next, e) = deliver(&mut a, to_a, &mut rng);
        ev_a.extend(e);
        to_b = next;
    }
    (a, b, lines, ev_a, ev_b, rng)
}

fn mismatched(events: &[Event]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, Event::NamesMismatch { .. }))
}

#[test]
fn honest_names_change_nothing() {
    let (mut a, mut b, _, ev_a, ev_b, mut rng) =
        handshake(names("alice", "bob"), names("bob", "alice"), 1);
    assert!(!mismatched(&ev_a) && !mismatched(&ev_b));
    assert!(!a.is_blocked() && !b.is_blocked());
    let lines = send(&mut a, "hello", &mut rng);
    assert_eq!(deliver(&mut b, lines, &mut rng).0, vec!["hello".to_owned()]);
}

#[test]
fn a_relay_under_another_name_blocks_both_sides() {
    // mallory forwards each line unchanged: alice talks to "mallory", and so does bob.
    let (mut a, b, _, ev_a, ev_b, mut rng) =
        handshake(names("alice", "mallory"), names("bob", "mallory"), 2);
    assert!(
        ev_b.contains(&Event::NamesMismatch {
            stated_self: "alice".into(),
            stated_peer: "mallory".into()
        }),
        "bob: {ev_b:?}"
    );
    assert!(
        ev_a.contains(&Event::NamesMismatch {
            stated_self: "bob".into(),
            stated_peer: "mallory".into()
        }),
        "alice: {ev_a:?}"
    );
    assert!(
        a.is_blocked() && b.is_blocked(),
        "sending held on both sides"
    );
    assert!(
        a.known_peer_keys().is_empty(),
        "no trust on first use for a misbound key"
    );
    let out = a.send("for mallory's eyes?", &mut rng);
    assert_eq!(out.action, SendAction::Hold);
    assert!(out.inject.is_empty());
}

#[test]
fn handshake_lines_fit_one_irc_line_with_thirty_character_nicks() {
    let (na, nb) = ("a".repeat(30), "b".repeat(30));
    let (_, _, lines, ev_a, ev_b, _) = handshake(names(&na, &nb), names(&nb, &na), 3);
    assert!(!mismatched(&ev_a) && !mismatched(&ev_b));
    assert_eq!(lines.len(), 3, "{lines:?}");
    for l in &lines {
        assert!(l.len() <= 350, "{} chars: {l}", l.len());
    }
    assert_eq!(
        lines.iter().map(String::len).collect::<Vec<_>>(),
        vec![52, 226, 183]
    );
}

#[test]
fn a_peer_that_states_no_names_is_not_compared() {
    let (a, b, _, ev_a, ev_b, _) = handshake(names("alice", "bob"), Names::default(), 4);
    assert!(!mismatched(&ev_a) && !mismatched(&ev_b));
    assert!(!a.is_blocked() && !b.is_blocked());
}

/// alice and bob on SMS: lines of at most 160 characters, phone numbers for names; alice knows
/// bob runs Sotto.
fn sms_pair(seed: u64) -> (Conversation, Conversation, ChaCha20Rng) {
    let (alice_no, bob_no) = ("+4915112345678", "+4917698765432");
    let mut rng = rng(seed);
    let (mut a, mut b) = pair(&mut rng, Policy::Manual);
    a.set_names(names(alice_no, bob_no));
    b.set_names(names(bob_no, alice_no));
    a.set_max_line(160);
    b.set_max_line(160);
    a.set_peer_supports_sotto(true);
    (a, b, rng)
}

/// SMS: a line is at most 160 characters, and the names are phone numbers. `?S1R` and `?S1C`
/// state both names and outgrow one SMS; they are cut into `?S1P` pieces like a data line, the
/// other side reassembles them, and the conversation starts (sent whole, the SMS plugin would
/// cut them into messages that no longer read as one line).
#[test]
fn handshake_lines_longer_than_the_line_limit_are_cut_and_still_read() {
    let (mut a, mut b, mut rng) = sms_pair(60);
    let mut lines = Vec::new();
    let mut to_b = a.start(&mut rng).inject;
    while !to_b.is_empty() {
        lines.extend(to_b.clone());
        let (_, to_a, _) = deliver(&mut b, to_b, &mut rng);
        lines.extend(to_a.clone());
        to_b = deliver(&mut a, to_a, &mut rng).1;
    }
    assert!(lines.iter().all(|l| l.len() <= 160), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.starts_with("?S1P")),
        "the R and C lines were cut: {lines:?}"
    );
    assert_eq!(a.state(), ConvState::Encrypted);
    assert_eq!(b.state(), ConvState::Encrypted);
    assert!(!a.is_blocked() && !b.is_blocked(), "the names matched");
    let hello = send(&mut a, "hello by SMS", &mut rng);
    assert_eq!(deliver(&mut b, hello, &mut rng).0, ["hello by SMS"]);
}

/// A handshake line in pieces, with a forged copy of its first piece that names other instance
/// tags (a line that would be ignored, not rejected) delivered first: the real line still
/// completes the handshake.
#[test]
fn a_forged_first_piece_of_a_handshake_line_does_not_win() {
    let (mut a, mut b, mut rng) = sms_pair(61);
    let init = a.start(&mut rng).inject;
    let (_, response, _) = deliver(&mut b, init, &mut rng);
    assert!(response.len() > 1, "the R line is in pieces");
    // The R body starts with the responder's and the initiator's tags: change a character
    // that encodes the initiator's tag, in the first piece (12 header characters, then ?S1R).
    let mut forged = response[0].clone().into_bytes();
    let at = 12 + 4 + 7;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let mut lines = vec![forged];
    lines.extend(response);
    let (_, confirm, _) = deliver(&mut a, lines, &mut rng);
    assert_eq!(a.state(), ConvState::Encrypted, "the real R was read");
    let _ = deliver(&mut b, confirm, &mut rng);
    assert_eq!(b.state(), ConvState::Encrypted);
}

/// bob's session with each side's names, started by bob: what alice was told, and the lines
/// she sent (a flush of her queue).
fn bob_starts_again(
    a: &mut Conversation,
    b: &mut Conversation,
    rng: &mut ChaCha20Rng,
) -> (Vec<Event>, Vec<String>) {
    let mut events = Vec::new();
    let mut from_a = Vec::new();
    let mut to_a = b.start(rng).inject;
    while !to_a.is_empty() {
        let mut to_b = Vec::new();
        for l in to_a {
            let o = a.receive(&l, 0, rng);
            events.extend(o.events);
            to_b.extend(o.inject);
        }
        from_a.extend(to_b.clone());
        to_a = deliver(b, to_b, rng).1;
    }
    (events, from_a)
}

/// bob's key is accepted, but a new session of his states names that do not match: alice's
/// typing is held until she acknowledges. Another session with the same key and the same
/// mismatch (a server can have bob's client answer a query it injects) changes nothing about
/// that hold: what she typed stays held (it used to be handed back as "not sent" while the
/// hold went on), and her acknowledgement sends it.
#[test]
fn the_same_names_mismatch_again_keeps_what_is_held() {
    let (mut a, mut b, _, _, _, mut rng) =
        handshake(names("alice", "bob"), names("bob", "alice"), 7);
    assert_eq!(a.known_peer_keys().len(), 1);
    b.set_names(names("mallory", "alice"));
    let (events, _) = bob_starts_again(&mut a, &mut b, &mut rng);
    assert!(mismatched(&events) && a.is_blocked(), "{events:?}");
    assert_eq!(a.send("held for bob", &mut rng).action, SendAction::Hold);
    let (events, sent) = bob_starts_again(&mut a, &mut b, &mut rng);
    assert!(mismatched(&events) && a.is_blocked(), "{events:?}");
    assert!(
        !events.iter().any(|e| matches!(e, Event::Unsent { .. })),
        "{events:?}"
    );
    assert!(
        deliver(&mut b, sent, &mut rng).0.is_empty(),
        "sent while held"
    );
    assert_eq!(a.queued(), 1);
    let out = a.acknowledge_peer_key(&mut rng);
    assert_eq!(deliver(&mut b, out.inject, &mut rng).0, ["held for bob"]);
}

/// The first session with bob states names that do not match: his key is not taken on first
/// use and alice is held. His next session, with the same key, states the right names: the key
/// is taken on first use then, and the hold goes with it (it used to stay: nothing typed went
/// out, and bob's words were shown as from a key not accepted, a key now among the accepted
/// ones). What she typed during the hold, under the warning, is handed back, not sent.
#[test]
fn a_first_use_with_matching_names_ends_a_mismatchs_hold() {
    let (mut a, mut b, _, ev_a, _, mut rng) =
        handshake(names("alice", "bob"), names("mallory", "alice"), 8);
    assert!(mismatched(&ev_a) && a.is_blocked());
    assert!(a.known_peer_keys().is_empty(), "taken on first use");
    assert_eq!(
        a.send("typed under the warning", &mut rng).action,
        SendAction::Hold
    );
    b.set_names(names("bob", "alice"));
    let (events, sent) = bob_starts_again(&mut a, &mut b, &mut rng);
    assert!(!mismatched(&events), "{events:?}");
    assert_eq!(a.known_peer_keys().len(), 1);
    assert_handed_back(
        &a,
        &events,
        sent,
        "typed under the warning",
        &mut b,
        &mut rng,
    );
    let shown = shown_with_key(&mut a, send(&mut b, "it's me", &mut rng), &mut rng);
    assert_eq!(shown, Some(("it's me".to_owned(), None)));
}

/// A new session on the key the user accepted whose names do not match is held for the names,
/// and says so (`HoldReason::NamesMismatch`, `held_for_names`): it was told as a changed key
/// ("until you accept your contact's new key", the title "key NOT accepted") while the key was
/// the one the user knew, verified even (found by a read-only review, 2026-12-07). A new key
/// with names that do not match is held for the key.
#[test]
fn names_that_differ_on_an_accepted_key_are_held_for_the_names() {
    let (mut a, mut b, _, _, _, mut rng) =
        handshake(names("alice", "bob"), names("bob", "alice"), 4);
    assert!(
        !a.known_peer_keys().is_empty(),
        "bob's key accepted on first use"
    );
    b.set_names(names("bob", "mallory"));
    let mut events = Vec::new();
    let mut to_b = a.start(&mut rng).inject;
    while !to_b.is_empty() {
        let (_, to_a, _) = deliver(&mut b, to_b, &mut rng);
        let (_, next, e) = deliver(&mut a, to_a, &mut rng);
        events.extend(e);
        to_b = next;
    }
    assert!(mismatched(&events), "{events:?}");
    assert!(a.is_blocked() && a.held_for_names());
    assert_eq!(
        a.send("held", &mut rng).events,
        [Event::Held {
            queued: 1,
            reason: HoldReason::NamesMismatch
        }]
    );
    // A hold set from outside (a key forgotten, a rename) is a key's, whatever the key.
    let _ = a.set_blocked(true, &mut rng);
    assert!(a.is_blocked() && !a.held_for_names());
    // The same names on a key never accepted: held for the key.
    let (mut c, _, _, _, _, mut rng) =
        handshake(names("alice", "mallory"), names("bob", "mallory"), 5);
    assert!(c.is_blocked() && !c.held_for_names());
    assert_eq!(
        c.send("held", &mut rng).events,
        [Event::Held {
            queued: 1,
            reason: HoldReason::Blocked
        }]
    );
}
