//! The contact's other conversations in one window (`super::super::siblings`), with real
//! conversations: what each one's state says to the rule, and what ends an allowance.

use super::*;
use crate::sessions::siblings::{SiblingState, Verdict};

/// The sibling states the rule is given for alice's conversations with these names.
fn states(p: &mut Peer, names: &[&str], policy: Policy) -> Vec<(ConvKey, SiblingState)> {
    names
        .iter()
        .map(|n| {
            let key = p.key_for(n);
            let state = p.sessions.sibling_state(&key, n, &settings(policy));
            (key, state)
        })
        .collect()
}

fn refused(v: &Verdict) -> bool {
    matches!(v, Verdict::Refuse { .. })
}

/// alice talks to bob encrypted, and to bob's other account (`bob-irc`) in plaintext: the
/// plaintext conversation's first line is held back, naming the encrypted one, held back again
/// when sent again, and goes once the user confirms; a line read or typed in the encrypted one asks again; a new session asks again;
/// a sibling that no longer guards holds nothing.
#[test]
fn an_encrypted_sibling_holds_a_plaintext_line_back_until_confirmed() {
    let (mut alice, mut bob) = encrypted("siblings-encrypted");
    let irc = alice.key_for("bob-irc");
    let first = states(&mut alice, &["bob"], Policy::Manual);
    let SiblingState::Encrypted(session) = first[0].1 else {
        panic!("the encrypted conversation is {:?}", first[0].1);
    };
    assert_eq!(
        states(&mut alice, &["bob-irc"], Policy::Manual)[0].1,
        SiblingState::Open,
        "a name never talked to"
    );
    // The sessions service lets the line go in plaintext; the rule holds it back, once.
    let (out, _) = alice.send_to("bob-irc", "plain hello", Policy::Manual);
    assert!(matches!(out, Outgoing::Plaintext), "{out:?}");
    assert_eq!(
        alice.sessions.check_siblings(&irc, &first, 100),
        Verdict::Refuse {
            sibling: alice.key.clone(),
            state: SiblingState::Encrypted(session)
        }
    );
    // Sent again, it is held back again: only the answer to the question lets it go.
    assert!(refused(&alice.sessions.check_siblings(&irc, &first, 101)));
    assert!(alice.sessions.confirm_siblings(&irc, 101));
    assert_eq!(
        alice.sessions.check_siblings(&irc, &first, 101),
        Verdict::Send
    );
    // Lines in the plaintext conversation itself do not end it.
    alice.send_to("bob-irc", "more plain", Policy::Manual);
    assert_eq!(
        alice.sessions.check_siblings(&irc, &first, 102),
        Verdict::Send
    );

    // bob writes encrypted (a window showing both now shows bob's line): asked again.
    let line = lines_of(bob.send("encrypted hello").0);
    let (_, _, shown) = alice.receive("bob", &line);
    assert_eq!(shown, ["encrypted hello"]);
    assert!(refused(&alice.sessions.check_siblings(&irc, &first, 103)));
    assert!(alice.sessions.confirm_siblings(&irc, 104));
    assert_eq!(
        alice.sessions.check_siblings(&irc, &first, 104),
        Verdict::Send
    );
    // alice types in the encrypted conversation: asked again.
    let _ = lines_of(alice.send("typed encrypted").0);
    assert!(refused(&alice.sessions.check_siblings(&irc, &first, 105)));
    // Plaintext shown in the encrypted conversation (with its warning) asks again too; a line
    // read in the plaintext one does not.
    assert!(alice.sessions.confirm_siblings(&irc, 105));
    assert_eq!(
        alice.sessions.check_siblings(&irc, &first, 105),
        Verdict::Send
    );
    let (_, events, _) = alice.receive_as("bob-irc", &["plain from the other account".into()]);
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(
        alice.sessions.check_siblings(&irc, &first, 105),
        Verdict::Send
    );
    let (_, events, shown) = alice.receive("bob", &["plain in the encrypted one".into()]);
    assert!(shown.is_empty(), "{shown:?}");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::PlaintextWhileEncrypted)),
        "{events:?}"
    );
    assert!(refused(&alice.sessions.check_siblings(&irc, &first, 105)));
    // A line of Sotto's own that made the window show the encrypted one (Finch): asked again.
    assert!(alice.sessions.confirm_siblings(&irc, 105));
    alice.sessions.shown_in(&alice.key.clone());
    assert!(refused(&alice.sessions.check_siblings(&irc, &first, 105)));

    // Encryption ended: the conversation no longer guards, nothing is held back.
    let end = alice.stop();
    let _ = bob.receive("alice", &end.inject);
    let open = states(&mut alice, &["bob"], Policy::Manual);
    assert_eq!(open[0].1, SiblingState::Open);
    assert_eq!(
        alice.sessions.check_siblings(&irc, &open, 106),
        Verdict::Send
    );
    // Encrypted anew: another session, asked again.
    let start = alice.start();
    converse(&mut bob, "alice", &mut alice, "bob", start);
    let again = states(&mut alice, &["bob"], Policy::Manual);
    assert!(
        matches!(again[0].1, SiblingState::Encrypted(s) if s != session),
        "{:?}",
        again[0].1
    );
    assert!(refused(&alice.sessions.check_siblings(&irc, &again, 107)));
}

/// A sibling being set up (a line held under `always`, a start under way) guards; so does
/// one whose session the contact ended (it holds what is typed); plaintext ones do not.
#[test]
fn a_sibling_being_set_up_or_ended_guards() {
    let (mut alice, mut bob) = encrypted("siblings-states");
    let (out, _) = alice.send_to("carol", "held for carol", Policy::Always);
    assert!(matches!(out, Outgoing::Hold), "{out:?}");
    assert_eq!(
        states(&mut alice, &["carol"], Policy::Always)[0].1,
        SiblingState::Guarded
    );
    // Plaintext under `manual` with nothing held: open.
    alice.send_to("dave", "plain for dave", Policy::Manual);
    assert_eq!(
        states(&mut alice, &["dave"], Policy::Manual)[0].1,
        SiblingState::Open
    );
    // bob ends the session: alice's conversation holds what is typed.
    let end = bob.stop();
    let _ = alice.receive("bob", &end.inject);
    assert_eq!(
        states(&mut alice, &["bob"], Policy::Manual)[0].1,
        SiblingState::Guarded
    );
}

/// A sibling under `always` in plaintext with nothing held (nothing typed there yet, or the
/// contact never answered) guards: the user expects nothing to that contact in plaintext,
/// and a line typed in the window meant for it would have gone to the other account. A
/// sibling on an account that never encrypted anything is classified from its policy alone,
/// without creating an identity key for that account.
#[test]
fn a_sibling_under_always_guards_and_asking_creates_no_identity() {
    let (mut alice, _bob) = encrypted("siblings-always");
    // carol: nothing typed, nothing held, policy `always`.
    assert_eq!(
        states(&mut alice, &["carol"], Policy::Always)[0].1,
        SiblingState::Guarded
    );
    assert_eq!(
        states(&mut alice, &["carol"], Policy::Manual)[0].1,
        SiblingState::Open
    );
    // Another account of alice's, never used: no identity is made for it.
    let other = ConvKey {
        protocol: "prpl-other".into(),
        account: "alice-elsewhere".into(),
        peer: "bob".into(),
    };
    for (policy, state) in [
        (Policy::Always, SiblingState::Guarded),
        (Policy::Manual, SiblingState::Open),
        (Policy::Opportunistic, SiblingState::Open),
    ] {
        assert_eq!(
            alice
                .sessions
                .sibling_state(&other, "bob", &settings(policy)),
            state,
            "{policy:?}"
        );
    }
    assert!(!alice
        .store()
        .has_identity("prpl-other", "alice-elsewhere")
        .expect("read"));
    // A line to IRC bob beside carol under `always` is held back.
    let irc = alice.key_for("bob-irc");
    let carol = states(&mut alice, &["carol"], Policy::Always);
    assert!(refused(&alice.sessions.check_siblings(&irc, &carol, 10)));
}
