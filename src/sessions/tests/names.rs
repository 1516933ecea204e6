//! A conversation follows the contact's key, never the name: renames, the mark left on a name
//! an encrypted conversation moved away from, keys known under other names, accepting exactly
//! the key that was checked, and a verification that accepts a changed key.

use super::*;

fn rename(p: &mut Peer, old: &str, new: &str) -> Notice {
    renamed(p, old, new).remove(0)
}

/// Every notice of a rename, in order.
fn renamed(p: &mut Peer, old: &str, new: &str) -> Vec<Notice> {
    let (old, new_key) = (p.key_for(old), p.key_for(new));
    p.sessions
        .rename(&old, &new_key, new, &settings(Policy::Manual))
        .expect("something moved")
        .expect("saved")
}

/// `notices` hand `text`, held for `held_for`, back to the user.
fn assert_handed_back(notices: &[Notice], held_for: &str, text: &str) {
    assert!(
        notices.contains(&Notice::HandedBack {
            held_for: held_for.into(),
            text: text.into()
        }),
        "{notices:?}"
    );
}

fn data_lines(lines: &[String]) -> usize {
    key_ids(lines).len()
}

/// The user accepts `key` for `name` (the dialog, `/sotto accept`); what that sends.
fn accept(p: &mut Peer, name: &str, key: &crate::protocol::IdentityPublic) -> Effects {
    p.sessions
        .accept_key(
            &p.key_for(name),
            name,
            &settings(Policy::Manual),
            key,
            &mut p.rng,
        )
        .expect("a conversation")
        .expect("accepted")
}

/// The user accepts `key` for `name` while saves fail: refused as not saved; its effects.
fn accept_unsaved(p: &mut Peer, name: &str, key: &crate::protocol::IdentityPublic) -> Effects {
    let refused = p.sessions.accept_key(
        &p.key_for(name),
        name,
        &settings(Policy::Manual),
        key,
        &mut p.rng,
    );
    match refused {
        Some(Err(trust::AcceptError::NotSaved(fx))) => *fx,
        Some(Ok(_)) => panic!("said accepted, though not saved"),
        Some(Err(e)) => panic!("{e:?}"),
        None => panic!("no conversation"),
    }
}

#[test]
fn an_encrypted_conversation_follows_a_rename() {
    let (mut alice, mut bob) = encrypted("follow");
    let notice = rename(&mut alice, "bob", "bob_away");
    assert_eq!(
        notice,
        Notice::Renamed {
            from: "bob".into(),
            encrypted: true
        }
    );
    // The renamed window encrypts, in the same session: bob reads it.
    let (out, fx) = alice.send_to("bob_away", "still secret", Policy::Manual);
    let lines = lines_of(out);
    assert!(fx.inject.is_empty());
    assert_eq!(
        bob.receive("alice", &lines).2,
        vec!["still secret".to_owned()]
    );
    // And bob's replies, now from bob_away, are read in it.
    let reply = lines_of(bob.send("from the new nick").0);
    let (_, events, _) = alice.receive_as("bob_away", &reply);
    assert!(!events.iter().any(|e| matches!(e, Event::Unreadable { .. })));
    // On disk too: a restart finds it under the new name.
    alice.sessions.drop_memory();
    let key = alice.key_for("bob_away");
    assert_eq!(
        alice
            .sessions
            .state(&key, "bob_away", &settings(Policy::Manual)),
        Some(ConvState::Encrypted)
    );
}

#[test]
fn the_old_name_never_gets_plaintext_after_an_encrypted_conversation_left_it() {
    let (mut alice, _bob) = encrypted("oldname");
    rename(&mut alice, "bob", "bob_away");
    assert!(
        alice.plaintext_allowed("carol", Policy::Manual),
        "a contact never encrypted"
    );
    // Neither IRC's `/msg bob` (which bypasses the typed path) nor typed text may go out.
    assert!(!alice.plaintext_allowed("bob", Policy::Manual));
    assert!(!alice.plaintext_allowed("bob", Policy::Opportunistic));
    // A new window with "bob" (someone else may hold the nick now), under `manual`.
    let (out, fx) = alice.send_to("bob", "for bob only", Policy::Manual);
    assert_eq!(out, Outgoing::Hold, "held, not plaintext");
    assert!(
        fx.notices.contains(&Notice::Moved {
            to: "bob_away".into()
        }),
        "said why, once"
    );
    assert_eq!(
        fx.inject.len(),
        1,
        "a handshake with whoever holds the name"
    );
    assert!(!fx.inject[0].contains("for bob only"));
    let (out, fx) = alice.send_to("bob", "again", Policy::Manual);
    assert_eq!(out, Outgoing::Hold);
    assert!(!fx.notices.iter().any(|n| matches!(n, Notice::Moved { .. })));
    // The user decides: /sotto stop allows plaintext again.
    let fx = alice.stop();
    assert!(fx.inject.is_empty());
    assert!(alice.plaintext_allowed("bob", Policy::Manual));
    assert_eq!(
        alice.send_to("bob", "plain now", Policy::Manual).0,
        Outgoing::Plaintext
    );
}

#[test]
fn held_messages_follow_a_rename_and_arrive_in_order() {
    let mut alice = peer("heldrename", "alice", "bob", 7);
    let mut bob = peer("heldrename", "bob", "alice", 8);
    let (out, fx) = alice.send_to("bob", "one", Policy::Always);
    assert_eq!(out, Outgoing::Hold);
    let query = fx.inject;
    alice.send_to("bob", "two", Policy::Always);
    rename(&mut alice, "bob", "bob_away");
    // bob answers the query from his new nick.
    let mut to_alice = bob.receive("alice", &query).0;
    let mut shown = Vec::new();
    while !to_alice.is_empty() {
        let (to_bob, _, _) = alice.receive_as("bob_away", &to_alice);
        let (next, _, s) = bob.receive("alice", &to_bob);
        shown.extend(s);
        to_alice = next;
    }
    assert_eq!(shown, vec!["one".to_owned(), "two".to_owned()]);
}

/// A client of its own (`test`, seed 9) starts with alice as `name`, and they talk until
/// neither sends more: alice's events.
fn stranger_starts_as(alice: &mut Peer, test: &str, name: &'static str) -> Vec<Event> {
    let mut stranger = peer(test, name, "alice", 9);
    starts_at(alice, &mut stranger, name)
}

#[test]
fn a_stranger_behind_a_forced_rename_gets_a_key_warning_and_nothing_else() {
    let (mut alice, _bob) = encrypted("stranger");
    // The server renames bob to Guest1, and answers as Guest1 itself with its own key.
    rename(&mut alice, "bob", "guest1");
    let alice_events = stranger_starts_as(&mut alice, "stranger", "guest1");
    assert!(
        key_changed(&alice_events),
        "bob's key was accepted for this conversation: a new one is a change, {alice_events:?}"
    );
    let (out, fx) = alice.send_to("guest1", "meant for bob", Policy::Manual);
    assert_eq!(out, Outgoing::Hold);
    assert_eq!(
        data_lines(&fx.inject),
        0,
        "nothing encrypted to the stranger"
    );
}

/// The stranger of the test above (held on its key under "guest1") is then renamed back onto
/// "bob" by the server: the rename must not record its key as accepted for "bob" (the rename
/// took "every key bob has is also guest1's" for the same contact, and recorded the arriving
/// key), and the stranger's next start as "bob" is a changed key, held, never a session the
/// window calls started.
#[test]
fn a_stranger_renamed_back_onto_the_contacts_name_stays_held() {
    let (mut alice, _bob) = encrypted("stranger-back");
    rename(&mut alice, "bob", "guest1");
    stranger_starts_as(&mut alice, "stranger-back", "guest1");
    let guest1 = alice.key_for("guest1");
    let stranger_key = alice
        .sessions
        .peer_key(&guest1, "guest1", &settings(Policy::Manual))
        .expect("the stranger's session");
    rename(&mut alice, "guest1", "bob");
    let accepted = alice
        .store()
        .accepted_keys(&alice.key.protocol, &alice.key.account, "bob")
        .unwrap();
    assert!(
        !accepted.contains(&stranger_key),
        "the stranger's key became accepted for bob: {accepted:?}"
    );
    let (out, fx) = alice.send_to("bob", "meant for bob", Policy::Manual);
    assert_eq!(out, Outgoing::Hold);
    assert_eq!(data_lines(&fx.inject), 0, "encrypted to the stranger");
    // Its next start as "bob": a changed key, held.
    let events = stranger_starts_as(&mut alice, "stranger-back2", "bob");
    assert!(
        !events.iter().any(|e| matches!(e, Event::NewPeerKey { .. })),
        "{events:?}"
    );
    assert_held(
        &mut alice,
        1,
        "the text meant for bob, on a key not accepted",
    );
}

#[test]
fn a_key_new_for_a_name_but_known_under_another_is_named() {
    // bob's key, accepted for "bob", shows up in a handshake from "mallory" (a relay).
    let (mut alice, mut bob) = encrypted("knownas");
    let lines = bob.start();
    let (notices, _) = converse(&mut alice, "mallory", &mut bob, "alice", lines);
    assert!(
        notices.contains(&Notice::KnownAs {
            names: vec!["bob".into()]
        }),
        "{notices:?}"
    );
}

/// mallory (encrypted with alice, her key accepted) takes the name of carol, a plaintext friend
/// with no key, for a moment (`/nick carol`, then back): the rename taught "carol" mallory's key.
/// mallory's next session as "carol" is named as mallory's key, though no key is new for the
/// name (it started with no word, the window calling it carol's; found by a hostile review).
#[test]
fn a_key_a_rename_left_on_a_name_is_named_at_its_next_session() {
    let (mut alice, _bob) = encrypted("left-key");
    let mut mallory = encrypted_with_mallory(&mut alice, "left-key", 9);
    rename(&mut alice, "mallory", "carol");
    rename(&mut alice, "carol", "mallory");
    let lines = mallory.start();
    let (notices, _) = converse(&mut alice, "carol", &mut mallory, "alice", lines);
    assert_eq!(
        alice
            .sessions
            .state(&alice.key_for("carol"), "carol", &settings(Policy::Manual)),
        Some(ConvState::Encrypted),
        "{notices:?}"
    );
    assert!(
        notices.iter().any(
            |n| matches!(n, Notice::KnownAs { names } if names.contains(&"mallory".to_owned()))
        ),
        "mallory's session as carol is not named as hers: {notices:?}"
    );
}

/// bob, encrypted, goes `bob|away` and back (the windows said so each time); his next new
/// session is not named as the key "you know as bob|away": a name the conversation itself moved
/// through is no other contact (the warning that someone may be relaying came at every honest
/// new session after a nick change).
#[test]
fn an_honest_contacts_own_past_nicks_are_not_named_at_a_new_session() {
    let (mut alice, mut bob) = encrypted("own-nicks");
    rename(&mut alice, "bob", "bob|away");
    rename(&mut alice, "bob|away", "bob");
    let lines = bob.start();
    let (notices, _) = converse(&mut alice, "bob", &mut bob, "alice", lines);
    assert_eq!(
        alice
            .sessions
            .state(&alice.key_for("bob"), "bob", &settings(Policy::Manual)),
        Some(ConvState::Encrypted)
    );
    assert!(
        !notices.iter().any(|n| matches!(n, Notice::KnownAs { .. })),
        "{notices:?}"
    );
}

/// alice sends bob a message; bob renames (`NICK bob|away`) before the server reads it, and
/// its 401 names "bob": the text is found where the conversation moved, never under a name
/// that remembers it itself or for a line nobody sent.
#[test]
fn a_line_handed_back_for_a_name_left_is_found_where_the_conversation_went() {
    let (mut alice, _bob) = encrypted("moved-401");
    let (out, _) = alice.send_to("bob", "sent as bob left", Policy::Manual);
    let Outgoing::Lines(lines) = out else {
        panic!("not sent: {out:?}");
    };
    let line = lines[0].clone();
    let bob = alice.key_for("bob");
    assert_eq!(alice.sessions.sent_text_moved(&bob, &line), None);
    rename(&mut alice, "bob", "bob|away");
    assert_eq!(
        alice.sessions.sent_text_moved(&bob, &line).as_deref(),
        Some("bob|away")
    );
    assert_eq!(
        alice
            .sessions
            .sent_text_moved(&bob, "?S1Dnot-a-line-we-sent"),
        None
    );
}

/// alice and bob, with bob's key changed: bob lost his store and starts again.
fn changed_key(test: &str) -> (Peer, Peer) {
    let (mut alice, bob) = encrypted(test);
    drop(bob);
    let mut bob = peer(&format!("{test}2"), "bob", "alice", 11);
    let lines = bob.start();
    converse(&mut alice, "bob", &mut bob, "alice", lines);
    assert_held_for_a_key(&mut alice, "blocked until accepted");
    (alice, bob)
}

/// `p`'s conversation with bob holds what is typed, for a key not accepted, nothing waiting.
fn assert_held_for_a_key(p: &mut Peer, what: &str) {
    assert_held(p, 0, what);
}

/// `queued` texts held, on a key not accepted for "bob".
fn assert_held(p: &mut Peer, queued: usize, what: &str) {
    let key = p.key.clone();
    assert_eq!(
        p.sessions.waiting(&key, "bob", &settings(Policy::Manual)),
        Some((queued, true)),
        "{what}"
    );
}

/// bob's client lost its state: alice is told her message was not read, and that it goes
/// again over the next session. A caught panic drops memory, and she accepts bob's new key
/// while the disk is full: the
/// acceptance is rolled back, and the message still waits (it was in memory only, and the
/// rollback's reload from disk dropped it); once the disk works and she accepts, it goes.
#[test]
fn a_message_to_send_again_survives_a_failed_save() {
    let (mut alice, bob) = encrypted("resend-rollback");
    drop(bob);
    let mut bob = peer("resend-rollback2", "bob", "alice", 11);
    let lines = lines_of(alice.send_to("bob", "walrus nobody read", Policy::Manual).0);
    let (notice, _, _) = bob.receive("alice", &lines);
    assert_eq!(notice.len(), 1, "bob's client says it could not read it");
    let (_, events, _) = alice.receive_as("bob", &notice);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::NotRead { text: Some(_), .. })),
        "{events:?}"
    );
    let start = bob.start();
    converse(&mut alice, "bob", &mut bob, "alice", start);
    assert_held_for_a_key(&mut alice, "bob's new key waits for alice");
    // A caught panic drops memory too: what waits to go again is not lost with it.
    alice.sessions.drop_memory();
    let key = alice.sessions.loaded_peer_key(&alice.key);
    assert!(key.is_none(), "nothing loaded");
    let key = alice
        .sessions
        .peer_key(&alice.key.clone(), "bob", &settings(Policy::Manual))
        .expect("a key");
    let resent = |fx: &Effects| -> Vec<String> {
        fx.events
            .iter()
            .filter_map(|e| match e {
                Event::Resent { text, .. } => Some(text.clone()),
                _ => None,
            })
            .collect()
    };
    alice.store().fail_snapshot_saves(true);
    let fx = accept_unsaved(&mut alice, "bob", &key);
    assert_not_saved(&fx);
    assert!(
        resent(&fx).is_empty() && fx.inject.is_empty(),
        "rolled back"
    );
    alice.store().fail_snapshot_saves(false);
    let fx = accept(&mut alice, "bob", &key);
    assert_eq!(resent(&fx), ["walrus nobody read"]);
    let (_, _, shown) = bob.receive("alice", &fx.inject);
    assert_eq!(shown, ["walrus nobody read"]);
}

/// A message waits to go again to bob (his client could not read it) while his conversation
/// is out of memory (a caught panic); the server renames mallory onto "bob" meanwhile. The
/// text is handed back to alice, never sent to mallory over her next session.
#[test]
fn a_message_waiting_to_go_again_is_handed_back_when_another_takes_the_name() {
    let (mut alice, bob) = encrypted("resend-rename");
    drop(bob);
    let mut bob = peer("resend-rename2", "bob", "alice", 11);
    let lines = lines_of(alice.send_to("bob", "walrus nobody read", Policy::Manual).0);
    let (notice, _, _) = bob.receive("alice", &lines);
    alice.receive_as("bob", &notice);
    alice.sessions.drop_memory();
    alice.send_to("mallory", "hello mallory", Policy::Manual);
    let notices = renamed(&mut alice, "mallory", "bob");
    assert_handed_back(&notices, "bob", "walrus nobody read");
}

/// bob's key changed; alice accepts it while the disk is full. The acceptance is not saved
/// (she is told so), and nothing says otherwise: the trust table does not record the key as
/// accepted, the conversation stays held, now and after a restart, and the next handshake with
/// that key does not lift the hold by itself.
#[test]
fn an_acceptance_that_could_not_be_saved_accepts_nothing() {
    let (mut alice, mut bob) = changed_key("accept-unsaved");
    let key = alice.sessions.loaded_peer_key(&alice.key).expect("a key");
    alice.store().fail_snapshot_saves(true);
    assert_not_saved(&accept_unsaved(&mut alice, "bob", &key));
    alice.store().fail_snapshot_saves(false);
    let records = alice
        .store()
        .trust_records(&alice.key.protocol, &alice.key.account, "bob")
        .expect("records");
    assert!(
        !records.iter().any(|r| r.key == key),
        "not recorded as accepted"
    );
    for restarted in [false, true] {
        if restarted {
            alice.sessions.drop_memory();
        }
        assert_held_for_a_key(&mut alice, &format!("still held (restarted: {restarted})"));
    }
    let lines = bob.start();
    converse(&mut alice, "bob", &mut bob, "alice", lines);
    assert_held_for_a_key(
        &mut alice,
        "a new handshake with the key does not accept it",
    );
}

/// bob's key changed and alice has not accepted it: what comes in that session is read but not
/// shown as bob's words (a server that finished a handshake as bob writes there too); it is a
/// Sotto line naming the key. Once alice accepts the key, bob's messages are his words again.
#[test]
fn a_message_on_a_key_not_accepted_is_not_shown_as_the_contacts_words() {
    let (mut alice, mut bob) = changed_key("unaccepted-words");
    let lines = lines_of(bob.send("it's me, accept my key").0);
    let (_, _, shown) = alice.receive("bob", &lines);
    assert!(shown.is_empty(), "shown as bob's words: {shown:?}");
    let lines = lines_of(bob.send("click accept").0);
    let (_, _, fx) = alice.receive_as("bob", &lines);
    let key = alice.sessions.loaded_peer_key(&alice.key).expect("a key");
    assert!(
        fx.notices.iter().any(|n| matches!(n,
            Notice::UnacceptedMessage { fingerprint, text }
                if *fingerprint == key.fingerprint().to_string() && text == "click accept")),
        "{:?}",
        fx.notices
    );
    // Plaintext still passes through (with its warning), as in any encrypted conversation.
    let k = alice.key.clone();
    let (action, _) = alice
        .sessions
        .incoming(
            &k,
            "bob",
            "plain words",
            &settings(Policy::Manual),
            &mut alice.rng,
        )
        .expect("incoming");
    assert_eq!(action, ReceiveAction::PassThrough);
    accept(&mut alice, "bob", &key);
    let lines = lines_of(bob.send("now accepted").0);
    assert_eq!(alice.receive("bob", &lines).2, ["now accepted"]);
}

/// A server completes a handshake as bob with its own key (alice is held on it), while the real
/// bob, who knows nothing of it, goes on writing in his session, now alice's previous one: his
/// lines are his words (they used to be shown as the server key's), the server's are flagged.
#[test]
fn the_contacts_lines_in_the_replaced_session_stay_the_contacts_words() {
    let (mut alice, mut bob) = encrypted("replaced-session-words");
    let mut server = peer("replaced-session-words-server", "bob", "alice", 12);
    let lines = server.start();
    converse(&mut alice, "bob", &mut server, "alice", lines);
    let k = alice.key.clone();
    assert_eq!(
        alice.sessions.waiting(&k, "bob", &settings(Policy::Manual)),
        Some((0, true)),
        "held on the server's key"
    );
    let genuine = lines_of(bob.send("hello? everything OK?").0);
    assert_eq!(alice.receive("bob", &genuine).2, ["hello? everything OK?"]);
    let forged = lines_of(server.send("it's me, click accept").0);
    let (_, _, fx) = alice.receive_as("bob", &forged);
    assert!(
        fx.notices.iter().any(|n| matches!(n,
            Notice::UnacceptedMessage { text, .. } if text == "it's me, click accept")),
        "{:?}",
        fx.notices
    );
}

/// bob's new key accepted beside his old one; the user forgets the new one in the Known list:
/// the session that uses it is held at once (as its next handshake would be, and as it loads
/// after a restart) until the key is accepted again. Forgetting the old key holds nothing.
#[test]
fn forgetting_the_key_a_session_uses_holds_it_while_another_is_accepted() {
    let (mut alice, _bob) = changed_key("forget-current");
    let new_key = alice.sessions.loaded_peer_key(&alice.key).expect("a key");
    accept(&mut alice, "bob", &new_key);
    let record = |a: &Peer, k| {
        let c = &a.key;
        a.store()
            .trust_records(&c.protocol, &c.account, &c.peer)
            .unwrap()
            .into_iter()
            .find(|r| r.key == k)
            .expect("recorded")
    };
    let old_key = alice
        .store()
        .accepted_keys("prpl-test", "alice", "bob")
        .unwrap()
        .into_iter()
        .find(|k| *k != new_key)
        .expect("the old key");
    let forgotten = record(&alice, new_key);
    assert_eq!(
        alice
            .sessions
            .change_record(&forgotten, trust::Change::Forget)
            .done,
        trust::Changed::Held
    );
    for restarted in [false, true] {
        if restarted {
            alice.sessions.drop_memory();
        }
        let (out, fx) = alice.send_to("bob", "after forgetting", Policy::Manual);
        assert_eq!(out, Outgoing::Hold, "restarted: {restarted}");
        assert!(key_ids(&fx.inject).is_empty(), "restarted: {restarted}");
    }
    accept(&mut alice, "bob", &new_key);
    let old = record(&alice, old_key);
    assert_eq!(
        alice
            .sessions
            .change_record(&old, trust::Change::Forget)
            .done,
        trust::Changed::Done
    );
    let (out, _) = alice.send_to("bob", "the old key forgotten", Policy::Manual);
    assert_eq!(data_lines(&lines_of(out)), 1, "not held");
}

/// alice forgets (Known fingerprints) the key of her loaded session with bob: her key and it.
fn forget_the_loaded_key(alice: &mut Peer) -> (ConvKey, crate::protocol::IdentityPublic) {
    let key = alice.key.clone();
    let shown = alice.sessions.loaded_peer_key(&key).expect("a key");
    let record = alice
        .store()
        .trust_records(&key.protocol, &key.account, &key.peer)
        .unwrap()
        .into_iter()
        .find(|r| r.key == shown)
        .expect("recorded");
    assert_eq!(
        alice
            .sessions
            .change_record(&record, trust::Change::Forget)
            .done,
        trust::Changed::Done
    );
    (key, shown)
}

/// Marking a key verified is one write: the key recorded and verified together, or nothing.
/// It was two commits (the key recorded as accepted, then its trust set): when the second
/// failed, the user was told "storage problem" while the key was accepted on disk and not in
/// the loaded conversation, accepted after a restart (found by a read-only audit).
#[test]
fn marking_a_key_verified_is_all_or_nothing() {
    let (mut alice, _bob) = encrypted("verify-atomic");
    let (key, shown) = forget_the_loaded_key(&mut alice);
    // A disk that takes new rows but refuses changes to old ones (a trigger stands for it).
    alice.store().execute_raw(
        "CREATE TEMP TRIGGER refuse_updates BEFORE UPDATE ON trust \
         BEGIN SELECT RAISE(ABORT, 'test: the disk is full'); END",
    );
    let marked = alice.sessions.mark_verified(&key, &shown);
    let on_disk = alice
        .store()
        .accepted_keys(&key.protocol, &key.account, &key.peer)
        .unwrap()
        .contains(&shown);
    assert_eq!(
        marked.is_ok(),
        on_disk,
        "told {marked:?}, while the key is accepted on disk: {on_disk}"
    );
    // A disk that refuses the write itself: nothing recorded, and the user is told.
    let (mut alice, _bob) = encrypted("verify-atomic-refused");
    let (key, shown) = forget_the_loaded_key(&mut alice);
    alice.store().execute_raw(
        "CREATE TEMP TRIGGER refuse_inserts BEFORE INSERT ON trust \
         BEGIN SELECT RAISE(ABORT, 'test: the disk is full'); END",
    );
    assert!(alice.sessions.mark_verified(&key, &shown).is_err());
    assert!(!alice
        .store()
        .accepted_keys(&key.protocol, &key.account, &key.peer)
        .unwrap()
        .contains(&shown));
}

/// The user forgets bob's only key in the Known list, then compares fingerprints and marks it
/// verified: the loaded conversation accepts it again, as the store does. Its copy of the
/// accepted keys stayed without it, so after a stop a handshake from another key was taken as
/// a first one, with no warning (found by a read-only audit).
#[test]
fn marking_a_forgotten_key_verified_accepts_it_in_memory_too() {
    let (mut alice, _bob) = encrypted("verify-forgotten");
    let (key, shown) = forget_the_loaded_key(&mut alice);
    let in_memory = |a: &Peer| {
        a.sessions
            .sessions
            .get(&a.key)
            .map(|s| s.conv.known_peer_keys().to_vec())
            .unwrap_or_default()
    };
    assert!(!in_memory(&alice).contains(&shown));
    alice.sessions.mark_verified(&key, &shown).unwrap();
    assert!(in_memory(&alice).contains(&shown), "memory accepts it");
    assert!(
        alice
            .store()
            .accepted_keys(&key.protocol, &key.account, &key.peer)
            .unwrap()
            .contains(&shown),
        "as disk does"
    );
}

#[test]
fn accepting_takes_exactly_the_key_that_was_shown() {
    let (mut alice, mut bob) = changed_key("accept");
    let key = alice.key.clone();
    let shown = alice.sessions.loaded_peer_key(&key).expect("a key");
    alice.send_to("bob", "held until accepted", Policy::Manual);
    // A stale dialog: the key it showed is not the current one.
    let other = crate::protocol::IdentityKey::generate(&mut alice.rng).public();
    let refused = alice
        .sessions
        .accept_key(
            &key,
            "bob",
            &settings(Policy::Manual),
            &other,
            &mut alice.rng,
        )
        .expect("a conversation");
    assert!(
        matches!(refused, Err(trust::AcceptError::Different { current }) if current == shown),
        "refused, naming the key it has now"
    );
    assert_eq!(
        alice
            .sessions
            .waiting(&key, "bob", &settings(Policy::Manual)),
        Some((1, true)),
        "still held, still blocked"
    );
    let fx = accept(&mut alice, "bob", &shown);
    assert_eq!(
        bob.receive("alice", &fx.inject).2,
        vec!["held until accepted".to_owned()]
    );
}

#[test]
fn an_acceptance_that_cannot_be_recorded_is_not_made() {
    let (mut alice, mut bob) = changed_key("accept-untrusted");
    let key = alice.key.clone();
    let shown = alice.sessions.loaded_peer_key(&key).expect("a key");
    alice.send_to("bob", "held until accepted", Policy::Manual);
    // The trust table cannot take the key: the acceptance is one commit with the
    // conversation's save, so neither happens (a restart goes by the trust table).
    alice.store().execute_raw(
        "CREATE TRIGGER damaged BEFORE INSERT ON trust BEGIN SELECT RAISE(ABORT, 'damaged'); END",
    );
    let fx = accept_unsaved(&mut alice, "bob", &shown);
    assert_not_saved(&fx);
    assert!(key_ids(&fx.inject).is_empty(), "nothing held went out");
    for restarted in [false, true] {
        if restarted {
            alice.sessions.drop_memory();
        }
        assert_eq!(
            alice
                .sessions
                .waiting(&key, "bob", &settings(Policy::Manual)),
            Some((1, true)),
            "still held, still blocked (restarted: {restarted})"
        );
    }
    assert!(!alice
        .store()
        .accepted_keys("prpl-test", "alice", "bob")
        .unwrap()
        .contains(&shown));
    alice.store().execute_raw("DROP TRIGGER damaged");
    let fx = accept(&mut alice, "bob", &shown);
    assert_eq!(
        bob.receive("alice", &fx.inject).2,
        vec!["held until accepted".to_owned()]
    );
    alice.sessions.drop_memory();
    let (out, _) = alice.send_to("bob", "after a restart", Policy::Manual);
    assert_eq!(data_lines(&lines_of(out)), 1, "accepted on disk too");
}

#[test]
fn a_fingerprint_prefix_names_a_key() {
    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let fp = crate::protocol::IdentityKey::generate(&mut rng)
        .public()
        .fingerprint();
    let s = fp.to_string();
    let first = trust::accept_prefix(&s);
    assert_eq!(first.len(), 4 * 5 + 3, "four groups");
    assert!(trust::fingerprint_prefix_matches(&fp, &first));
    assert!(trust::fingerprint_prefix_matches(
        &fp,
        &first.to_lowercase()
    ));
    assert!(trust::fingerprint_prefix_matches(&fp, &s));
    assert!(
        !trust::fingerprint_prefix_matches(&fp, &first[..first.len() - 1]),
        "too short: a key made to match fewer digits is within a server's reach"
    );
    assert!(
        !trust::fingerprint_prefix_matches(&fp, &s[..5]),
        "one group (20 bits) is not enough"
    );
    assert!(!trust::fingerprint_prefix_matches(&fp, "00000 00000"));
    assert!(!trust::fingerprint_prefix_matches(&fp, ""));
    // As a contact dictates or pastes it: groups joined by dashes or colons, a full stop
    // after it (the one a Sotto line ends with). It was refused as a key that "may have
    // changed again" (found by a hostile review).
    for sep in ["-", ":", "."] {
        let typed = first.replace(' ', sep);
        assert!(trust::fingerprint_prefix_matches(&fp, &typed), "{typed}");
    }
    assert!(trust::fingerprint_prefix_matches(&fp, &format!("{s}.")));
    assert!(trust::fingerprint_prefix_matches(
        &fp,
        &format!(" {first}, ")
    ));
    // Anything else is not a fingerprint.
    assert!(!trust::fingerprint_prefix_matches(
        &fp,
        &format!("{first}x")
    ));
    assert!(!trust::fingerprint_prefix_matches(
        &fp,
        &first.replace(' ', "/")
    ));
}

/// alice asks bob a question and bob answers it right: what alice sends then, and her events.
fn asked_and_answered(alice: &mut Peer, bob: &mut Peer) -> (Vec<String>, Vec<Event>) {
    let fx = alice
        .sessions
        .act(
            &alice.key.clone(),
            "bob",
            &settings(Policy::Manual),
            &mut alice.rng,
            |c, rng| c.ask_question("our cat?", "Miso", rng),
        )
        .expect("ask");
    let (to_alice, _, _) = bob.receive("alice", &fx.inject);
    assert!(to_alice.is_empty());
    let fx = bob
        .sessions
        .act(
            &bob.key.clone(),
            "alice",
            &settings(Policy::Manual),
            &mut bob.rng,
            |c, rng| c.answer_question("Miso", rng),
        )
        .expect("answer");
    let (to_bob, events, _) = alice.receive_as("bob", &fx.inject);
    (to_bob, events)
}

#[test]
fn a_question_answered_right_accepts_and_verifies_a_changed_key_in_one_step() {
    let (mut alice, mut bob) = changed_key("qa");
    let key = alice.key.clone();
    alice.send_to("bob", "after the check", Policy::Manual);
    let (to_bob, events) = asked_and_answered(&mut alice, &mut bob);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::VerificationResult {
            success: true,
            we_asked: true,
            ..
        }
    )));
    assert_eq!(
        alice
            .sessions
            .waiting(&key, "bob", &settings(Policy::Manual)),
        Some((0, false)),
        "accepted: the held message left"
    );
    let (_, _, shown) = bob.receive("alice", &to_bob);
    assert_eq!(shown, vec!["after the check".to_owned()]);
    let records = alice
        .store()
        .trust_records(&key.protocol, &key.account, &key.peer)
        .expect("records");
    let current = alice.sessions.loaded_peer_key(&key).expect("key");
    let rec = records.iter().find(|r| r.key == current).expect("recorded");
    assert_eq!(rec.trust, crate::store::Trust::Verified);
}

/// The contact asks, alice answers, and the contact is renamed before any result (on IRC the
/// server can do it at will): the rename ends the run, and the notice says what an abort
/// would (no result came after her answer: do not answer again), not only that it ended.
#[test]
fn a_rename_after_our_answer_says_no_result_came() {
    let (mut alice, _bob) = encrypted("qa-answered");
    let mut mallory = encrypted_with_mallory(&mut alice, "qa-answered", 18);
    let fx = mallory.act_with("alice", |c, rng| c.ask_question("our cat?", "a guess", rng));
    let (_, events, _) = alice.receive_as("mallory", &fx.inject);
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::VerificationQuestion { .. })));
    alice.act_with("mallory", |c, rng| c.answer_question("Miso", rng));
    let notices = renamed(&mut alice, "mallory", "mallory_");
    assert!(
        notices.contains(&Notice::VerificationEnded {
            from: "mallory".into(),
            answered: true,
        }),
        "{notices:?}"
    );
}

/// alice asks mallory a question; before mallory answers, the server renames mallory onto the
/// name of bob (who left). The run ends with the rename, and the window says so: mallory's
/// right answer then verifies nobody. The hold on "bob" stays, what alice typed for bob stays
/// held, no key is recorded verified for "bob", and mallory is told the run was aborted.
#[test]
fn a_question_asked_before_a_rename_verifies_nobody_after_it() {
    let (mut alice, _bob) = encrypted("qa-rename");
    let mut mallory = encrypted_with_mallory(&mut alice, "qa-rename", 17);
    let fx = alice
        .sessions
        .act(
            &alice.key_for("mallory"),
            "mallory",
            &settings(Policy::Manual),
            &mut alice.rng,
            |c, rng| c.ask_question("our cat?", "Miso", rng),
        )
        .expect("ask");
    let (to_alice, events, _) = mallory.receive("alice", &fx.inject);
    assert!(to_alice.is_empty());
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::VerificationQuestion { .. })));
    rename(&mut alice, "bob", "bob_away");
    assert_eq!(
        renamed(&mut alice, "mallory", "bob"),
        vec![
            Notice::RenamedOntoAnother {
                from: "mallory".into()
            },
            Notice::VerificationEnded {
                from: "mallory".into(),
                answered: false,
            }
        ]
    );
    let (out, _) = alice.send_to("bob", "meant for bob", Policy::Manual);
    assert_eq!(out, Outgoing::Hold);
    let fx = mallory
        .sessions
        .act(
            &mallory.key.clone(),
            "alice",
            &settings(Policy::Manual),
            &mut mallory.rng,
            |c, rng| c.answer_question("Miso", rng),
        )
        .expect("answer");
    let (to_mallory, events, _) = alice.receive_as("bob", &fx.inject);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::VerificationResult { .. })),
        "{events:?}"
    );
    let key = alice.key_for("bob");
    assert_eq!(
        alice
            .sessions
            .waiting(&key, "bob", &settings(Policy::Manual)),
        Some((1, true)),
        "still held"
    );
    let records = alice
        .store()
        .trust_records(&key.protocol, &key.account, &key.peer)
        .expect("records");
    assert!(
        records
            .iter()
            .all(|r| r.trust != crate::store::Trust::Verified),
        "nothing verified for bob"
    );
    // mallory answered, and no result comes: told as unconfirmed (PROTOCOL.md §5.2).
    let (_, events, _) = mallory.receive("alice", &to_mallory);
    assert!(
        events.contains(&Event::VerificationUnconfirmed),
        "{events:?}"
    );
}

/// mallory, in plaintext, is renamed onto the name of bob, whose conversation is encrypted (bob
/// left; a hostile server can do this at any time). Whoever holds "bob" now gets nothing in
/// plaintext, typed or by `/msg`, in the renamed window or in bob's old one; bob's conversation
/// is parked, not lost; a restart keeps the mark; `/sotto stop` is the user's way out.
#[test]
fn a_plaintext_contact_renamed_onto_an_encrypted_name_gets_no_plaintext() {
    let (mut alice, _bob) = encrypted("displaced");
    plaintext_mallory_takes_bobs_name(&mut alice);
    assert!(!alice.plaintext_allowed("bob", Policy::Manual));
    assert!(!alice.plaintext_allowed("bob", Policy::Opportunistic));
    let (out, fx) = alice.send_to("bob", "for the real bob only", Policy::Manual);
    assert_eq!(out, Outgoing::Hold, "held, not plaintext");
    assert!(
        fx.notices.is_empty(),
        "told once, at the rename: {:?}",
        fx.notices
    );
    assert_eq!(
        fx.inject.len(),
        1,
        "a handshake with whoever holds the name"
    );
    assert!(fx.inject[0].starts_with("?S1") && !fx.inject[0].contains("real bob"));
    let parked = alice
        .store()
        .load_sessions_under("prpl-test", "alice", "bob\u{1f}")
        .unwrap();
    assert_eq!(parked.len(), 1, "bob's encrypted conversation is kept");

    // After a restart the name is still held, and the first send says why.
    alice.sessions.drop_memory();
    assert!(!alice.plaintext_allowed("bob", Policy::Manual));
    let (out, fx) = alice.send_to("bob", "after a restart", Policy::Manual);
    assert_eq!(out, Outgoing::Hold);
    assert!(
        fx.notices.contains(&Notice::NameTaken { from: None }),
        "{:?}",
        fx.notices
    );
    // The user decides: /sotto stop allows plaintext to the name's new holder.
    alice.stop();
    assert!(alice.plaintext_allowed("bob", Policy::Manual));
}

/// `/sotto start` in `p`'s conversation with `name`: the lines that go out.
fn start_with(p: &mut Peer, name: &str) -> Vec<String> {
    start_or_stop(p, name, true)
}

/// The user starts (`start`) or ends the conversation with `name`; the lines that sends.
fn start_or_stop(p: &mut Peer, name: &str, start: bool) -> Vec<String> {
    p.sessions
        .start_or_stop(
            &p.key_for(name),
            name,
            &settings(Policy::Manual),
            start,
            &mut p.rng,
        )
        .expect("start or stop")
        .inject
}

/// mallory, with an encrypted conversation of her own with `alice` (her key accepted for
/// "mallory").
fn encrypted_with_mallory(alice: &mut Peer, test: &str, seed: u64) -> Peer {
    let mut mallory = peer(test, "mallory", "alice", seed);
    let start = start_with(alice, "mallory");
    converse(&mut mallory, "alice", alice, "mallory", start);
    mallory
}

/// alice stops her conversation with mallory (her key stays accepted for "mallory"); mallory
/// takes bob's name; alice types `secret` to "bob", which is held. The start alice sends for it.
fn mallory_takes_bobs_name(alice: &mut Peer, secret: &str) -> Vec<String> {
    alice
        .sessions
        .start_or_stop(
            &alice.key_for("mallory"),
            "mallory",
            &settings(Policy::Manual),
            false,
            &mut alice.rng,
        )
        .expect("stop");
    rename(alice, "mallory", "bob");
    let (out, fx) = alice.send_to("bob", secret, Policy::Manual);
    assert_eq!(out, Outgoing::Hold);
    fx.inject
}

/// The same, with mallory running Sotto: she answers the handshake the held text starts. Her
/// key is checked against the keys accepted for "bob" (not the ones her conversation brought
/// from "mallory", and not trusted on first use): a changed key, named as mallory's, and the
/// held text stays held. Then the server renames in the other order too: a conversation that
/// took a marked name keeps the mark wherever it goes.
#[test]
fn a_contact_who_takes_an_encrypted_name_is_checked_against_its_keys() {
    let (mut alice, _bob) = encrypted("displaced-sotto");
    let mut mallory = encrypted_with_mallory(&mut alice, "displaced-sotto", 9);
    assert_eq!(
        alice.sessions.state(
            &alice.key_for("mallory"),
            "mallory",
            &settings(Policy::Manual)
        ),
        Some(ConvState::Encrypted)
    );
    let secret = "for the real bob only";
    let to_mallory = mallory_takes_bobs_name(&mut alice, secret);
    let (events, notices, shown) = answers_as_bob(&mut alice, &mut mallory, to_mallory);
    assert!(
        key_changed(&events),
        "mallory's key is a changed key for bob: {events:?}"
    );
    assert!(
        notices.iter().any(
            |n| matches!(n, Notice::KnownAs { names } if names.contains(&"mallory".to_owned()))
        ),
        "and named as mallory's: {notices:?}"
    );
    assert!(
        !shown.iter().any(|t| t == secret),
        "the held text stays held"
    );
    assert!(!alice.plaintext_allowed("bob", Policy::Manual));
    assert!(alice
        .store()
        .accepted_keys("prpl-test", "alice", "bob")
        .unwrap()
        .iter()
        .all(|k| Some(*k) != mallory_key(&mallory)));
}

/// alice starts an encrypted conversation with "bob", who never answers: the name has no
/// accepted key. The server renames mallory (in plaintext, running Sotto) onto "bob": the
/// start is parked and the name marked (or bob, his start with him, left the name first: it
/// keeps a mark). Whoever answers as "bob" now is checked like a changed key, never trusted on
/// first use, and so after a restart too (the rule lived in memory only:
/// after a restart mallory's key was taken on first use and the text held for bob went to
/// her).
#[test]
fn a_keyless_name_taken_by_a_rename_trusts_no_key_on_first_use_even_after_a_restart() {
    for (restarted, bob_left_first) in [(false, false), (true, false), (false, true), (true, true)]
    {
        let test = format!("keyless-displaced-{restarted}-{bob_left_first}");
        let mut alice = peer(&test, "alice", "bob", 1);
        let mut mallory = peer(&test, "mallory", "alice", 23);
        let _unanswered = start_with(&mut alice, "bob");
        if bob_left_first {
            // bob (his start with him) leaves the name, which keeps a mark; then mallory
            // takes it: nothing is parked, the mark stays.
            rename(&mut alice, "bob", "bob_away");
            alice.send_to("mallory", "hello mallory", Policy::Manual);
            rename(&mut alice, "mallory", "bob");
        } else {
            plaintext_mallory_takes_bobs_name(&mut alice);
        }
        if restarted {
            alice.sessions.drop_memory();
        }
        let secret = "for the real bob only";
        let (out, fx) = alice.send_to("bob", secret, Policy::Manual);
        assert_eq!(out, Outgoing::Hold, "restarted: {restarted}");
        let (events, _, shown) = answers_as_bob(&mut alice, &mut mallory, fx.inject);
        assert!(
            key_changed(&events),
            "mallory's key is not taken on first use (restarted: {restarted}, bob left first: \
             {bob_left_first}): {events:?}"
        );
        assert!(
            !shown.iter().any(|t| t == secret),
            "the held text stays held (restarted: {restarted})"
        );
        assert!(alice
            .store()
            .accepted_keys("prpl-test", "alice", "bob")
            .unwrap()
            .is_empty());
    }
}

/// alice talks to mallory in plaintext; the server renames mallory onto "bob", whose
/// conversation (or start) is parked: the name is taken.
fn plaintext_mallory_takes_bobs_name(alice: &mut Peer) {
    assert_eq!(
        alice.send_to("mallory", "hello mallory", Policy::Manual).0,
        Outgoing::Plaintext
    );
    assert_eq!(
        rename(alice, "mallory", "bob"),
        Notice::NameTaken {
            from: Some("mallory".into())
        }
    );
}

/// `to_mallory` (what alice sends "bob") reaches mallory, who answers as "bob", until neither
/// has more to say: alice's events and notices, and what mallory was shown.
fn answers_as_bob(
    alice: &mut Peer,
    mallory: &mut Peer,
    mut to_mallory: Vec<String>,
) -> (Vec<Event>, Vec<Notice>, Vec<String>) {
    let (mut events, mut notices, mut shown) = (Vec::new(), Vec::new(), Vec::new());
    while !to_mallory.is_empty() {
        let (to_alice, _, s) = mallory.receive("alice", &to_mallory);
        shown.extend(s);
        let (back, ev, fx) = alice.receive_as("bob", &to_alice);
        events.extend(ev);
        notices.extend(fx.notices);
        to_mallory = back;
    }
    (events, notices, shown)
}

/// The key of `p`'s identity on its account.
fn mallory_key(p: &Peer) -> Option<crate::protocol::IdentityPublic> {
    p.store()
        .load_or_create_identity(&p.key.protocol, &p.key.account, &mut rand_core::OsRng)
        .ok()
        .map(|(k, _)| k.public())
}

/// The server renames mallory (plaintext) onto "bob" before it renames bob away: bob's window,
/// renamed second, carries the conversation that took "bob", and it stays held (it used to be
/// renamed to bob_away as a plaintext conversation, and the real bob got plaintext).
#[test]
fn renames_in_a_hostile_order_leave_no_plaintext() {
    let (mut alice, _bob) = encrypted("displaced-order");
    assert_eq!(
        alice.send_to("mallory", "hello mallory", Policy::Manual).0,
        Outgoing::Plaintext
    );
    rename(&mut alice, "mallory", "bob");
    let notice = rename(&mut alice, "bob", "bob_away");
    assert_eq!(
        notice,
        Notice::Renamed {
            from: "bob".into(),
            encrypted: false
        }
    );
    for name in ["bob", "bob_away"] {
        assert!(!alice.plaintext_allowed(name, Policy::Manual), "{name}");
        assert_eq!(
            alice.send_to(name, "secret", Policy::Manual).0,
            Outgoing::Hold,
            "{name}"
        );
    }
    // A window left on a name an encrypted conversation moved away from (marked) is renamed
    // with whoever holds the name now: the mark goes with it.
    let (mut alice, _bob) = encrypted("moved-then-renamed");
    rename(&mut alice, "bob", "bob_away");
    // (Nothing typed yet: the conversation at "bob" is in plaintext, held only by its mark.)
    assert!(!alice.plaintext_allowed("bob", Policy::Manual));
    rename(&mut alice, "bob", "zed");
    assert!(!alice.plaintext_allowed("zed", Policy::Manual));
    assert_eq!(
        alice.send_to("zed", "meant for bob", Policy::Manual).0,
        Outgoing::Hold
    );
    // And a plaintext contact renamed onto a name an encrypted conversation moved away from
    // keeps that name's mark (the mark is not the arriving contact's to clear).
    let (mut alice, _bob) = encrypted("moved-then-taken");
    rename(&mut alice, "bob", "bob_away");
    assert_eq!(
        alice.send_to("carol", "hello carol", Policy::Manual).0,
        Outgoing::Plaintext
    );
    rename(&mut alice, "carol", "bob");
    assert!(!alice.plaintext_allowed("bob", Policy::Manual));
    assert_eq!(
        alice.send_to("bob", "meant for bob", Policy::Manual).0,
        Outgoing::Hold
    );
}

/// mallory has an encrypted conversation of her own with alice (her key accepted for
/// "mallory"). bob leaves his name; mallory takes it. Her conversation follows her, but "bob"
/// is a name whose accepted key is bob's: it is held like a changed key (not encrypted to
/// mallory under bob's name), says why, and stays so after a restart.
#[test]
fn an_encrypted_contact_renamed_onto_a_known_name_is_held_until_accepted() {
    let (mut alice, _bob) = encrypted("foreign-rename");
    let _mallory = encrypted_with_mallory(&mut alice, "foreign-rename", 11);
    rename(&mut alice, "bob", "bob_away");
    assert_eq!(
        rename(&mut alice, "mallory", "bob"),
        Notice::RenamedOntoAnother {
            from: "mallory".into()
        }
    );
    for restarted in [false, true] {
        if restarted {
            alice.sessions.drop_memory();
        }
        assert!(!alice.plaintext_allowed("bob", Policy::Manual));
        let (out, fx) = alice.send_to("bob", "meant for bob", Policy::Manual);
        assert_eq!(out, Outgoing::Hold, "restarted: {restarted}");
        assert!(
            key_ids(&fx.inject).is_empty(),
            "nothing encrypted to mallory"
        );
    }
}

/// The same, on a disk that is full for a moment, between the rename's commit and the save of
/// the held conversation after it: the hold stays, in this run (memory is kept, not reloaded
/// from the disk that missed it) and after a restart (a session whose key the name does not
/// accept loads held), until the user accepts the key.
#[test]
fn a_foreign_rename_whose_save_fails_stays_held_now_and_after_a_restart() {
    for restarted in [false, true] {
        let test = format!("foreign-rename-unsaved-{restarted}");
        let (mut alice, _bob) = encrypted(&test);
        let _mallory = encrypted_with_mallory(&mut alice, &test, 13);
        rename(&mut alice, "bob", "bob_away");
        alice.store().fail_snapshot_saves(true);
        assert_eq!(
            rename(&mut alice, "mallory", "bob"),
            Notice::RenamedOntoAnother {
                from: "mallory".into()
            }
        );
        alice.store().fail_snapshot_saves(false);
        if restarted {
            alice.sessions.drop_memory();
        }
        let (out, fx) = alice.send_to("bob", "meant for bob", Policy::Manual);
        assert_eq!(out, Outgoing::Hold, "restarted: {restarted}");
        assert!(
            key_ids(&fx.inject).is_empty(),
            "nothing encrypted to mallory (restarted: {restarted})"
        );
        // Once the user accepts mallory's key for "bob", the conversation sends again.
        let key = alice
            .sessions
            .loaded_peer_key(&alice.key_for("bob"))
            .expect("a session");
        accept(&mut alice, "bob", &key);
        let (out, _) = alice.send_to("bob", "to this key, knowingly", Policy::Manual);
        assert_eq!(data_lines(&lines_of(out)), 1, "encrypted once accepted");
    }
}

/// A rename that hands held text back is never carried on disk under the new name: the text
/// is saved out of the conversation before the move, and when that save fails (a full disk)
/// nothing moves and the text stays held for the old name. Once the disk works the rename hands
/// it back, and a restart right after finds nothing of it for mallory to read.
#[test]
fn text_handed_back_at_a_rename_is_never_carried_on_disk() {
    let (mut alice, _bob) = encrypted("handed-back-unsaved");
    let mut mallory = encrypted_with_mallory(&mut alice, "handed-back-unsaved", 14);
    let secret = "typed for the real bob, not carried";
    let start = mallory_takes_bobs_name(&mut alice, secret);
    alice.store().fail_snapshot_saves(true);
    let (old, new) = (alice.key_for("bob"), alice.key_for("mallory"));
    let refused = alice
        .sessions
        .rename(&old, &new, "mallory", &settings(Policy::Manual));
    assert!(matches!(refused, Some(Err(_))), "{refused:?}");
    assert_eq!(
        alice
            .sessions
            .waiting(&old, "bob", &settings(Policy::Manual))
            .map(|w| w.0),
        Some(1),
        "still held for bob"
    );
    alice.store().fail_snapshot_saves(false);
    let notices = renamed(&mut alice, "bob", "mallory");
    assert_handed_back(&notices, "bob", secret);
    alice.sessions.drop_memory();
    let mut to_mallory = start;
    let mut shown = Vec::new();
    while !to_mallory.is_empty() {
        let (to_alice, _, s) = mallory.receive("alice", &to_mallory);
        shown.extend(s);
        to_mallory = alice.receive_as("mallory", &to_alice).0;
    }
    assert!(!shown.iter().any(|t| t == secret), "{shown:?}");
}

/// mallory (runs Sotto, her key accepted for "mallory") takes bob's name; alice types to "bob",
/// which is held for a handshake checked against bob's keys. mallory renames back before
/// answering: the held text is handed back to alice (not carried to "mallory", whose keys are
/// mallory's), and when mallory then answers, she reads nothing alice typed for bob.
#[test]
fn text_held_for_a_marked_name_is_handed_back_when_the_conversation_moves_on() {
    let (mut alice, _bob) = encrypted("held-then-renamed");
    let mut mallory = encrypted_with_mallory(&mut alice, "held-then-renamed", 12);
    let secret = "typed for the real bob";
    let start = mallory_takes_bobs_name(&mut alice, secret);
    let notices = renamed(&mut alice, "bob", "mallory");
    assert_handed_back(&notices, "bob", secret);
    // mallory answers the start alice sent for the held text.
    let mut to_mallory = start;
    let mut shown = Vec::new();
    while !to_mallory.is_empty() {
        let (to_alice, _, s) = mallory.receive("alice", &to_mallory);
        shown.extend(s);
        to_mallory = alice.receive_as("mallory", &to_alice).0;
    }
    assert!(!shown.iter().any(|t| t == secret), "{shown:?}");
    // The old name keeps the mark naming bob's parked conversation.
    assert!(alice
        .store()
        .moved_to("prpl-test", "alice", "bob")
        .unwrap()
        .is_some_and(|m| crate::store::is_parked(&m)));
}

/// Whether the peer runs Sotto follows the name's record after a rename, in memory as after a
/// restart: a plaintext contact renamed onto a name recorded as running Sotto, and the reverse
/// (a contact known to run Sotto renamed onto a name recorded as not).
#[test]
fn runs_sotto_after_a_rename_is_the_new_names_in_memory_and_after_a_restart() {
    let (mut alice, _bob) = encrypted("runs-sotto-rename");
    assert_eq!(
        alice.send_to("carol", "hello carol", Policy::Manual).0,
        Outgoing::Plaintext
    );
    alice
        .store()
        .set_peer_runs_sotto("prpl-test", "alice", "dave")
        .unwrap();
    rename(&mut alice, "carol", "dave");
    let runs = |a: &Peer, name: &str| {
        a.sessions
            .sessions
            .get(&a.key_for(name))
            .map(|s| s.conv.peer_supports_sotto())
    };
    assert_eq!(runs(&alice, "dave"), Some(true), "in memory");
    alice.sessions.drop_memory();
    alice
        .sessions
        .state(&alice.key_for("dave"), "dave", &settings(Policy::Manual));
    assert_eq!(runs(&alice, "dave"), Some(true), "after a restart");

    // The reverse: erin is known to run Sotto (a query answered earlier, then she stopped),
    // "frank" has a record that says he does not (stopped).
    alice
        .store()
        .set_peer_runs_sotto("prpl-test", "alice", "erin")
        .unwrap();
    alice
        .store()
        .set_peer_runs_sotto("prpl-test", "alice", "frank")
        .unwrap();
    alice
        .store()
        .clear_peer_runs_sotto("prpl-test", "alice", "frank")
        .unwrap();
    alice
        .sessions
        .state(&alice.key_for("erin"), "erin", &settings(Policy::Manual));
    assert_eq!(runs(&alice, "erin"), Some(true));
    rename(&mut alice, "erin", "frank");
    let in_memory = runs(&alice, "frank");
    alice.sessions.drop_memory();
    alice
        .sessions
        .state(&alice.key_for("frank"), "frank", &settings(Policy::Manual));
    assert_eq!(
        in_memory,
        runs(&alice, "frank"),
        "memory and a restart agree"
    );
}

/// A hostile server empties a name of keys and moves bob there: alice's start to "x" (a user
/// of the server) is never answered and held; the server renames x away (the name "x" keeps a
/// mark, and has no key); then it renames bob, encrypted, onto "x" (his conversation settles
/// the name) and answers a handshake as "x" with its own key. That key used to be accepted on
/// first use, since "x" had none, and alice's next words to bob went to the server. The name
/// learns the key of the conversation that settles it, and a new session replacing one with
/// another key is a changed key, never a first use.
#[test]
fn a_server_cannot_empty_a_name_of_keys_and_take_the_encrypted_contact_it_moves_there() {
    let (mut alice, _bob) = encrypted("emptied-name");
    let (out, _) = alice.send_to("x", "hello x", Policy::Always);
    assert_eq!(out, Outgoing::Hold);
    rename(&mut alice, "x", "x2");
    rename(&mut alice, "bob", "x");
    the_server_answering_as_x_gets_nothing(&mut alice, "emptied-name");
}

/// The server starts a session as "x" with its own key: never accepted on first use, and what
/// alice types to "x" next is held.
fn the_server_answering_as_x_gets_nothing(alice: &mut Peer, test: &str) {
    let mut server = peer(test, "server", "alice", 21);
    let mut to_alice = server.start();
    let mut events = Vec::new();
    let mut shown = Vec::new();
    while !to_alice.is_empty() {
        let (to_server, ev, _) = alice.receive_as("x", &to_alice);
        events.extend(ev);
        let (back, _, s) = server.receive("alice", &to_server);
        shown.extend(s);
        to_alice = back;
    }
    assert!(
        !events.iter().any(|e| matches!(e, Event::NewPeerKey { .. })),
        "the server's key accepted on first use: {events:?}"
    );
    let (out, fx) = alice.send_to("x", "meant for bob", Policy::Manual);
    assert_eq!(out, Outgoing::Hold, "{events:?}");
    assert!(key_ids(&fx.inject).is_empty());
    assert!(!shown.iter().any(|t| t == "meant for bob"));
}

/// The same, with the disk refusing the name's learning of bob's key, and alice's client
/// restarted before bob's session ends. The move settled "x" (its mark cleared) and the key
/// was written after it, on its own: that write failing (or a kill between the two) left "x"
/// with neither mark nor key, and the server's handshake there, once the session ended, was
/// accepted on first use. The move and the key it teaches are one write now: both or neither.
#[test]
fn a_name_settled_by_a_rename_never_ends_up_with_neither_mark_nor_key() {
    let (mut alice, _bob) = encrypted("emptied-name-unsaved");
    let bobs_key = alice
        .sessions
        .peer_key(&alice.key_for("bob"), "bob", &settings(Policy::Manual))
        .expect("bob's key");
    let (out, _) = alice.send_to("x", "hello x", Policy::Always);
    assert_eq!(out, Outgoing::Hold);
    rename(&mut alice, "x", "x2");
    alice.store().fail_key_records_for("x", true);
    let moved = alice.sessions.rename(
        &alice.key_for("bob"),
        &alice.key_for("x"),
        "x",
        &settings(Policy::Manual),
    );
    alice.store().fail_key_records_for("x", false);
    alice.sessions.drop_memory();
    let keys = alice
        .store()
        .accepted_keys("prpl-test", "alice", "x")
        .unwrap();
    let mark = alice.store().moved_to("prpl-test", "alice", "x").unwrap();
    assert!(
        keys.contains(&bobs_key) || mark.is_some(),
        "the rename said {moved:?}; \"x\" has neither bob's key ({keys:?}) nor a mark"
    );
    // bob's session ends wherever it is; the server answers as "x" with its own key.
    let window = if matches!(moved, Some(Ok(_))) {
        "x"
    } else {
        "bob"
    };
    let _ = alice
        .sessions
        .start_or_stop(
            &alice.key_for(window),
            window,
            &settings(Policy::Manual),
            false,
            &mut alice.rng,
        )
        .expect("stop");
    the_server_answering_as_x_gets_nothing(&mut alice, "emptied-name-unsaved");
}

/// `/sotto start` on a name an encrypted conversation moved away from does not release it by
/// itself: nobody answers, the start expires, and what alice types there is still held (it used
/// to go out in plaintext under `manual`, the mark cleared by the start). When a session is up
/// with a key she accepts (here mallory's, accepted knowingly), the mark goes, and no "moved"
/// notice follows.
#[test]
fn a_start_on_a_marked_name_releases_it_only_with_an_accepted_session() {
    let (mut alice, _bob) = encrypted("start-marked");
    rename(&mut alice, "bob", "bob_away");
    let unanswered = start_with(&mut alice, "bob");
    assert!(!unanswered.is_empty());
    let later = Settings {
        now_secs: 10_000,
        ..settings(Policy::Manual)
    };
    let key = alice.key_for("bob");
    let (out, _) = alice
        .sessions
        .outgoing(
            &key,
            "bob",
            "after the start expired",
            &later,
            &mut alice.rng,
        )
        .expect("outgoing");
    assert_eq!(out, Outgoing::Hold, "plaintext to a marked name");
    assert!(!alice.plaintext_allowed("bob", Policy::Manual));

    // mallory (her own key accepted for "mallory") holds "bob" now and answers a start there:
    // a changed key for "bob"; alice accepts it knowingly. The name is settled.
    let mut mallory = encrypted_with_mallory(&mut alice, "start-marked", 15);
    let mut to_mallory = start_with(&mut alice, "bob");
    while !to_mallory.is_empty() {
        let (to_alice, _, _) = mallory.receive("alice", &to_mallory);
        to_mallory = alice.receive_as("bob", &to_alice).0;
    }
    let k = alice.sessions.loaded_peer_key(&key).expect("a session");
    accept(&mut alice, "bob", &k);
    assert_eq!(
        alice.store().moved_to("prpl-test", "alice", "bob").unwrap(),
        None
    );
    let (out, fx) = alice.send_to("bob", "to mallory, knowingly", Policy::Manual);
    assert_eq!(data_lines(&lines_of(out)), 1);
    assert!(
        !fx.notices
            .iter()
            .any(|n| matches!(n, Notice::Moved { .. } | Notice::NameTaken { .. })),
        "{:?}",
        fx.notices
    );
}

/// Everyday renames stay quiet. bob, encrypted, goes away and back; later the conversation is
/// in plaintext (stopped) and he goes away and back again: nothing is held, no mark is left on
/// either nick, and a fresh window with an old nick says where he is now.
#[test]
fn an_everyday_away_and_back_holds_nothing_once_the_conversation_is_plain() {
    let (mut alice, _bob) = encrypted("away-and-back");
    rename(&mut alice, "bob", "bob|away");
    rename(&mut alice, "bob|away", "bob");
    let stop = alice.stop();
    assert!(stop.inject.len() <= 1);
    assert_eq!(
        rename(&mut alice, "bob", "bob|away"),
        Notice::Renamed {
            from: "bob".into(),
            encrypted: false
        }
    );
    assert!(alice.plaintext_allowed("bob|away", Policy::Manual));
    assert_eq!(
        alice
            .send_to("bob|away", "plain, as agreed", Policy::Manual)
            .0,
        Outgoing::Plaintext
    );
    rename(&mut alice, "bob|away", "bob");
    assert!(alice.plaintext_allowed("bob", Policy::Manual));
    for name in ["bob", "bob|away"] {
        assert_eq!(
            alice.store().moved_to("prpl-test", "alice", name).unwrap(),
            None,
            "{name}"
        );
    }
    // Encrypted again, bob goes bob -> tmp -> bob2: the old nick's mark follows him.
    let (mut alice, _bob) = encrypted("marks-follow");
    rename(&mut alice, "bob", "tmp");
    rename(&mut alice, "tmp", "bob2");
    assert_eq!(
        alice
            .store()
            .moved_to("prpl-test", "alice", "bob")
            .unwrap()
            .as_deref(),
        Some("bob2")
    );
}

/// bob reinstalled: alice accepted his new key under "bob"; "bob|away" still knows only his
/// old one (copied at an earlier rename). The same contact going to his old nick is not
/// "another contact's name": nothing is blocked, and the nick learns his new key.
#[test]
fn the_same_contact_with_a_new_key_is_not_blocked_on_his_old_nick() {
    let (mut alice, _bob) = encrypted("reinstalled");
    let old_key = alice
        .sessions
        .peer_key(&alice.key_for("bob"), "bob", &settings(Policy::Manual))
        .expect("bob's key");
    // An earlier rename left bob's (then) key accepted for "bob|away".
    alice
        .store()
        .record_key_seen("prpl-test", "alice", "bob|away", &old_key)
        .unwrap();
    // bob reinstalls; alice accepts his new key under "bob".
    let mut reinstalled = peer("reinstalled2", "bob", "alice", 77);
    let start = alice
        .sessions
        .start_or_stop(
            &alice.key_for("bob"),
            "bob",
            &settings(Policy::Manual),
            true,
            &mut alice.rng,
        )
        .expect("start")
        .inject;
    converse(&mut reinstalled, "alice", &mut alice, "bob", start);
    let new_key = alice
        .sessions
        .peer_key(&alice.key_for("bob"), "bob", &settings(Policy::Manual))
        .expect("the new key");
    assert_ne!(new_key, old_key);
    accept(&mut alice, "bob", &new_key);
    assert_eq!(
        rename(&mut alice, "bob", "bob|away"),
        Notice::Renamed {
            from: "bob".into(),
            encrypted: true
        }
    );
    let (out, _) = alice.send_to("bob|away", "still to bob", Policy::Manual);
    assert!(matches!(out, Outgoing::Lines(_)), "not blocked: {out:?}");
    assert!(alice
        .store()
        .accepted_keys("prpl-test", "alice", "bob|away")
        .unwrap()
        .contains(&new_key));
}

/// An encrypted conversation renamed onto a name whose window holds text (typed to the old
/// holder of that name, waiting): the text is handed back, not dropped.
#[test]
fn text_held_in_a_replaced_conversation_is_handed_back() {
    let (mut alice, _bob) = encrypted("replaced-held");
    rename(&mut alice, "bob", "bob_away");
    let typed = "typed to the name bob";
    assert_eq!(
        alice.send_to("bob", typed, Policy::Manual).0,
        Outgoing::Hold
    );
    let notices = renamed(&mut alice, "bob_away", "bob");
    assert_handed_back(&notices, "bob", typed);
}

/// mallory has a handshake of alice's waiting (she never answers: no key of hers is known)
/// when she takes the name of bob, whose encrypted conversation is saved. Her conversation,
/// protected (it must not turn into plaintext under her old name), brings no key to check:
/// it must not settle bob's name. bob's conversation is parked, the name is held, and when
/// mallory's handshake expires nothing typed to "bob" leaves in plaintext, before or after a
/// restart. (It used to delete bob's saved conversation and fall back to plaintext.)
#[test]
fn a_handshake_without_a_key_does_not_take_an_encrypted_name() {
    let (mut alice, _bob) = encrypted("keyless-takes-name");
    let start = start_with(&mut alice, "mallory");
    assert!(!start.is_empty(), "a start went to mallory");
    let notice = rename(&mut alice, "mallory", "bob");
    assert!(
        !matches!(notice, Notice::Renamed { .. }),
        "not told the conversation simply continues: {notice:?}"
    );
    let later = Settings {
        now_secs: 100_000,
        ..settings(Policy::Manual)
    };
    for restarted in [false, true] {
        if restarted {
            alice.sessions.drop_memory();
        }
        let key = alice.key_for("bob");
        assert!(
            !alice.sessions.plaintext_allowed(&key, "bob", &later),
            "restarted: {restarted}"
        );
        let (out, _) = alice
            .sessions
            .outgoing(&key, "bob", "meant for bob", &later, &mut alice.rng)
            .expect("outgoing");
        assert_eq!(out, Outgoing::Hold, "restarted: {restarted}");
    }
    // bob's conversation is still on disk (parked), not deleted with the name.
    let parked = alice
        .store()
        .moved_to("prpl-test", "alice", "bob")
        .expect("read")
        .expect("the name is marked");
    assert!(alice
        .store()
        .load_session("prpl-test", "alice", &parked)
        .expect("read")
        .is_some());
}

/// The same, but mallory answers after taking bob's name: the handshake completes under "bob"
/// and is checked against bob's keys. It is a changed key, not a new contact's first use:
/// what alice types to "bob" is held, never encrypted to mallory's key without a decision.
#[test]
fn a_handshake_that_took_an_encrypted_name_is_checked_against_its_keys() {
    let (mut alice, _bob) = encrypted("keyless-answers");
    let mut mallory = peer("keyless-answers", "mallory", "alice", 13);
    let start = start_with(&mut alice, "mallory");
    rename(&mut alice, "mallory", "bob");
    converse(&mut mallory, "alice", &mut alice, "bob", start);
    let (out, fx) = alice.send_to("bob", "meant for bob", Policy::Manual);
    assert_eq!(out, Outgoing::Hold);
    assert!(
        key_ids(&fx.inject).is_empty(),
        "nothing encrypted to mallory"
    );
    assert!(!alice.plaintext_allowed("bob", Policy::Manual));
}

/// A contact whose conversation cannot be read (a damaged trust record) is renamed: the rename
/// fails, so the window sends nothing under the new name. It used to count as "nothing to
/// move": the new name then started blank, with no mark and no keys, and under `manual` the
/// next line left in plaintext.
#[test]
fn a_rename_whose_conversation_cannot_be_read_fails() {
    let (mut alice, _bob) = encrypted("rename-unreadable");
    alice.sessions.drop_memory();
    assert!(alice.store().execute_raw("UPDATE trust SET key = x'0102'") > 0);
    let (old, new) = (alice.key_for("bob"), alice.key_for("bob_away"));
    let moved = alice
        .sessions
        .rename(&old, &new, "bob_away", &settings(Policy::Manual));
    assert!(matches!(moved, Some(Err(_))), "{moved:?}");
}

/// The not-read notice the peer's client would send about alice's `line` (anyone can forge
/// one: it is unauthenticated).
fn not_read_notice(line: &str) -> String {
    let Ok(WireMessage::Data(m)) = WireMessage::decode(line) else {
        panic!("not a data line: {line}");
    };
    crate::protocol::wire::MessageRef::of(&m).not_read_line()
}

/// alice types `text` to `peer`, and a not-read notice names it: it waits to be sent again.
fn named_unread(alice: &mut Peer, peer: &str, text: &str) {
    let (out, _) = alice.send_to(peer, text, Policy::Manual);
    let line = lines_of(out).pop().expect("a line");
    let (_, events, _) = alice.receive_as(peer, &[not_read_notice(&line)]);
    assert!(
        events.contains(&Event::NotRead {
            text: Some(text.into()),
            incomplete: false,
        }),
        "{events:?}"
    );
}

/// What waited to be sent again (a not-read notice named it, here a forged one) was written
/// for whoever the name reached: it does not follow a conversation renamed onto a name whose
/// keys are another's (it went with the next session there, to mallory's key under bob's
/// name), and it is not lost with the conversation such a rename replaces. Both are handed
/// back.
#[test]
fn what_waited_to_be_sent_again_is_handed_back_at_a_rename_onto_another() {
    let (mut alice, _bob) = encrypted("rename-resend");
    let _mallory = encrypted_with_mallory(&mut alice, "rename-resend", 14);
    named_unread(&mut alice, "bob", "for bob");
    named_unread(&mut alice, "mallory", "for mallory");
    let notices = renamed(&mut alice, "mallory", "bob");
    assert_handed_back(&notices, "bob", "for bob");
    assert_handed_back(&notices, "mallory", "for mallory");
}

/// bob ended the session and alice typed to him (held, saved); after a restart his
/// conversation is on disk only when the server renames mallory (encrypted, her key accepted)
/// onto bob's name. What was held for bob is handed back, not deleted with his saved
/// conversation.
#[test]
fn what_was_held_for_a_name_on_disk_only_is_handed_back_when_another_takes_it() {
    let (mut alice, mut bob) = encrypted("unloaded-taken");
    let _mallory = encrypted_with_mallory(&mut alice, "unloaded-taken", 16);
    let end = bob.stop().inject;
    alice.receive_as("bob", &end);
    let (out, _) = alice.send_to("bob", "held for bob", Policy::Manual);
    assert_eq!(out, Outgoing::Hold);
    // A restart: nothing is in memory; bob's conversation (and its held text) is on disk.
    alice.sessions = Sessions::new(Err("closed for the restart".into()));
    alice.sessions = Sessions::new(Ok(Store::open(&alice.dir).expect("reopen")));
    let notices = renamed(&mut alice, "mallory", "bob");
    assert_handed_back(&notices, "bob", "held for bob");
}

/// A move asked for between two accounts (the account's own name edited) is refused: nothing
/// moves, and the old account's row stays where it was, not parked as another contact's.
#[test]
fn a_conversation_does_not_move_to_another_account() {
    let (mut alice, _bob) = encrypted("other-account");
    let old = alice.key_for("bob");
    let new = ConvKey {
        account: "alice2".into(),
        ..old.clone()
    };
    let moved = alice
        .sessions
        .rename(&old, &new, "bob", &settings(Policy::Manual));
    assert!(matches!(moved, Some(Err(_))), "{moved:?}");
    let rows = alice
        .store()
        .session_peers("prpl-test", "alice")
        .expect("rows");
    assert!(
        rows.iter().any(|n| n == "bob") && !rows.iter().any(|n| crate::store::is_parked(n)),
        "{rows:?}"
    );
    let (out, _) = alice.send_to("bob", "still in bob's session", Policy::Manual);
    assert_eq!(data_lines(&lines_of(out)), 1, "encrypted as before");
}

/// Whether `text` is anywhere in `p`'s store directory once its log is checkpointed (every
/// file: the database, its log).
fn on_disk(p: &mut Peer, text: &str) -> bool {
    p.sessions.checkpoint();
    let mut all = Vec::new();
    for entry in std::fs::read_dir(&p.dir).expect("store dir").flatten() {
        if entry.path().is_file() {
            all.extend(std::fs::read(entry.path()).expect("a store file"));
        }
    }
    all.windows(text.len()).any(|w| w == text.as_bytes())
}

/// The server renames carol (plaintext, no key) onto bob's name: bob's conversation is
/// parked (bob ended it; a text typed since is held and saved). The text is handed back to the user, and the parked row keeps no copy: nothing loads that row again, and the typed plaintext does not stay on disk
/// until a later decision deletes it.
#[test]
fn a_parked_conversation_keeps_no_copy_of_what_was_handed_back() {
    let (mut alice, mut bob) = encrypted("parked-wiped");
    let end = bob.stop().inject;
    alice.receive_as("bob", &end);
    let (out, _) = alice.send_to("bob", "held for bob", Policy::Manual);
    assert_eq!(out, Outgoing::Hold);
    assert!(on_disk(&mut alice, "held for bob"), "saved while held");
    let notices = renamed(&mut alice, "carol", "bob");
    assert_eq!(
        notices.first(),
        Some(&Notice::NameTaken {
            from: Some("carol".into())
        })
    );
    assert_handed_back(&notices, "bob", "held for bob");
    let parked = alice
        .store()
        .session_peers("prpl-test", "alice")
        .expect("rows")
        .into_iter()
        .filter(|p| crate::store::is_parked(p))
        .count();
    assert_eq!(parked, 1, "bob's conversation is parked, not deleted");
    assert!(
        !on_disk(&mut alice, "held for bob"),
        "handed back, and gone from disk"
    );
}

/// A hold ends (the contact's accepted key is back) in a call whose save fails: what waited
/// to be sent again, handed back with the hold's end, is not lost with the events the failure
/// rolls back (it is in memory only; the reload would not bring it back): it waits again, and
/// is handed back at the stop that follows.
#[test]
fn what_waits_to_be_sent_again_survives_a_failed_save_at_a_holds_end() {
    let (mut alice, mut bob) = encrypted("hold-end-unsaved");
    named_unread(&mut alice, "bob", "named unread");
    let mut stranger = peer("hold-end-unsaved-x", "bob", "alice", 12);
    let lines = stranger.start();
    converse(&mut alice, "bob", &mut stranger, "alice", lines);
    assert_held_for_a_key(&mut alice, "a stranger's key");
    let mut to_alice = bob.start();
    for _ in 0..4 {
        let confirm = to_alice.iter().any(|l| l.starts_with("?S1C"));
        alice.store().fail_writes(confirm);
        let (back, _, fx) = alice.receive_as("bob", &to_alice);
        alice.store().fail_writes(false);
        if confirm {
            assert_not_saved(&fx);
            let fx = alice.stop();
            assert!(
                fx.events.contains(&Event::NotResent {
                    text: "named unread".into()
                }),
                "{:?}",
                fx.events
            );
            return;
        }
        to_alice = bob.receive_as("alice", &back).0;
    }
    panic!("no confirm reached alice");
}

/// bob ended the session; a message to him waits to be sent again (a forged not-read notice
/// named it) and one typed since is held; the server renames bob onto mallory's name. With no
/// session, only the name's accepted keys say whose it is: they are mallory's, so what was
/// written for bob is handed back, never sent to mallory with the next session there.
#[test]
fn what_was_written_for_an_ended_contact_is_handed_back_at_a_rename_onto_another() {
    let (mut alice, mut bob) = encrypted("ended-rename");
    let _mallory = encrypted_with_mallory(&mut alice, "ended-rename", 15);
    named_unread(&mut alice, "bob", "for bob");
    let end = bob.stop().inject;
    alice.receive_as("bob", &end);
    let (out, _) = alice.send_to("bob", "typed after the end", Policy::Manual);
    assert_eq!(out, Outgoing::Hold);
    let notices = renamed(&mut alice, "bob", "mallory");
    assert_handed_back(&notices, "bob", "for bob");
    assert_handed_back(&notices, "bob", "typed after the end");
    assert_eq!(
        queued_for(&mut alice, "mallory"),
        Some(0),
        "nothing typed for bob waits for mallory's key"
    );
}

/// How many texts `p`'s conversation with `peer` holds.
fn queued_for(p: &mut Peer, peer: &str) -> Option<usize> {
    let key = p.key_for(peer);
    p.sessions
        .waiting(&key, peer, &settings(Policy::Manual))
        .map(|(queued, _)| queued)
}

/// bob is renamed to `new` while the store refuses to move any conversation: the rename fails.
fn rename_fails_in_the_store(alice: &mut Peer, new: &str) {
    alice.store().execute_raw(
        "CREATE TRIGGER no_rename BEFORE UPDATE OF peer ON session
         BEGIN SELECT RAISE(ABORT, 'damaged'); END",
    );
    let (old, new_key) = (alice.key_for("bob"), alice.key_for(new));
    let moved = alice
        .sessions
        .rename(&old, &new_key, new, &settings(Policy::Manual));
    assert!(matches!(moved, Some(Err(_))), "{moved:?}");
}

/// Text held on a marked name is taken out of the conversation (and saved so) before the move;
/// when the store then cannot move the conversation, nothing moved: the text is held again
/// for the old name, in memory and on disk. It used to be dropped without a word.
#[test]
fn text_held_on_a_marked_name_is_held_again_when_the_move_fails() {
    let (mut alice, _bob) = encrypted("held-move-fails");
    let _mallory = encrypted_with_mallory(&mut alice, "held-move-fails", 16);
    let secret = "typed for the real bob";
    mallory_takes_bobs_name(&mut alice, secret);
    rename_fails_in_the_store(&mut alice, "bob_away");
    for restarted in [false, true] {
        if restarted {
            alice.sessions.drop_memory();
        }
        assert_eq!(
            queued_for(&mut alice, "bob"),
            Some(1),
            "held again (restarted: {restarted})"
        );
    }
}

/// alice (who knows mallory) typed "typed for bob" under "always" while her start waited;
/// nobody answered and the start lapsed: the text is held in a conversation in plaintext.
fn lapsed_with_text_held(test: &str, seed: u64) -> Peer {
    use crate::protocol::session::HANDSHAKE_TIMEOUT_SECS;
    let mut alice = peer(test, "alice", "bob", seed);
    let _mallory = encrypted_with_mallory(&mut alice, test, seed + 100);
    let k = alice.key.clone();
    let at = |t: u64| Settings {
        now_secs: t,
        ..settings(Policy::Always)
    };
    let (out, _) = alice
        .sessions
        .outgoing(&k, "bob", "typed for bob", &at(0), &mut alice.rng)
        .expect("outgoing");
    assert_eq!(out, Outgoing::Hold);
    let later = at(2 * HANDSHAKE_TIMEOUT_SECS);
    alice
        .sessions
        .incoming(&k, "bob", "plain chatter", &later, &mut alice.rng)
        .expect("incoming");
    assert_eq!(
        alice.sessions.state(&k, "bob", &later),
        Some(ConvState::Plaintext),
        "the start lapsed"
    );
    alice
}

/// alice typed to bob under "always" while her start waited; nobody answered and the start
/// lapsed, leaving the text held in a conversation now in plaintext; then the server renames
/// bob onto mallory's known name. The text is handed back, and stays so after a restart: it
/// was taken out in memory only (a plaintext conversation with no event writes nothing), and
/// the row carried it to mallory's name, where her next session would have sent it to her.
#[test]
fn text_held_after_a_lapsed_start_is_handed_back_at_a_rename_onto_another_for_good() {
    let mut alice = lapsed_with_text_held("lapsed-rename", 33);
    let notices = renamed(&mut alice, "bob", "mallory");
    assert_handed_back(&notices, "bob", "typed for bob");
    alice.sessions.drop_memory();
    assert_eq!(
        queued_for(&mut alice, "mallory"),
        Some(0),
        "after a restart"
    );
}

/// The same held text, when the store then cannot move the conversation: it was saved out of
/// the conversation for the move, and is saved back in (written even in plaintext with no
/// event), held for bob now and after a restart.
#[test]
fn text_held_after_a_lapsed_start_is_kept_when_the_move_fails() {
    let mut alice = lapsed_with_text_held("lapsed-move-fails", 34);
    rename_fails_in_the_store(&mut alice, "mallory");
    alice.sessions.drop_memory();
    assert_eq!(queued_for(&mut alice, "bob"), Some(1), "after a restart");
}

/// The plugin unloads while a message waits to be sent again (in memory only) for a
/// conversation the unload does not end (here: something is held for bob too, so his
/// conversation is left as saved): `take_every_resend` hands it over, to be given back, where
/// it went with the plugin without a word (found by a read-only audit). Taken once.
#[test]
fn what_waits_to_be_sent_again_is_taken_at_unload() {
    let (mut alice, mut bob) = encrypted("unload-resend");
    named_unread(&mut alice, "bob", "named unread");
    let end = bob.stop().inject;
    alice.receive_as("bob", &end);
    let (out, _) = alice.send_to("bob", "held for bob", Policy::Manual);
    assert_eq!(out, Outgoing::Hold);
    assert!(
        alice.sessions.active().is_empty(),
        "the unload would end bob's conversation (and give it back there)"
    );
    let taken = alice.sessions.take_every_resend();
    let texts: Vec<(String, Vec<String>)> = taken
        .iter()
        .map(|(_, peer, t)| {
            (
                peer.clone(),
                t.iter().map(|s| s.as_str().to_owned()).collect(),
            )
        })
        .collect();
    assert_eq!(
        texts,
        vec![("bob".to_owned(), vec!["named unread".to_owned()])]
    );
    assert!(alice.sessions.take_every_resend().is_empty(), "taken once");
}

/// The user forgets bob's only key in the Known list, then asks bob a question he answers
/// right: the store records the key accepted and verified, and the loaded conversation now
/// accepts it too (as marking it verified does). Its copy of the accepted keys stayed without
/// it, so after a stop a handshake from another key under bob's name was taken as a first one,
/// "accepted on first use", with no warning (found by a read-only audit).
#[test]
fn a_question_answered_right_accepts_a_forgotten_key_in_memory_too() {
    let (mut alice, mut bob) = encrypted("qa-forgotten");
    let (key, shown) = forget_the_loaded_key(&mut alice);
    let (_, events) = asked_and_answered(&mut alice, &mut bob);
    assert!(trust::verified_by_us(&events), "{events:?}");
    assert!(alice
        .store()
        .accepted_keys(&key.protocol, &key.account, &key.peer)
        .unwrap()
        .contains(&shown));
    let in_memory = alice.sessions.sessions.get(&key).expect("loaded");
    assert!(
        in_memory.conv.known_peer_keys().contains(&shown),
        "memory accepts it, as disk does"
    );
    // A stop, then another key under bob's name: a changed key, never a first one.
    alice.stop();
    let mut mallory = peer("qa-forgotten-mallory", "bob", "alice", 9);
    let (mut lines, mut seen) = (mallory.start(), Vec::new());
    while !lines.is_empty() {
        let (to_mallory, events, _) = alice.receive_as("bob", &lines);
        seen.extend(events);
        lines = mallory.receive_as("alice", &to_mallory).0;
    }
    assert!(
        key_changed(&seen) && !seen.iter().any(|e| matches!(e, Event::NewPeerKey { .. })),
        "{seen:?}"
    );
}

/// A hostile server renames bob's encrypted conversation onto "mallory" (a name whose accepted
/// key is mallory's: held), then "mallory" onto a fresh name, and has mallory start there. The
/// fresh name took none of "mallory"'s keys with the held conversation: mallory's key is a
/// changed key in bob's window, held for the user to accept, never started on as accepted (it
/// used to be: "mallory"'s key was copied to the fresh name, and bob's window went on
/// encrypted to mallory with no word of a changed key), named as the key known as "mallory" (a
/// name the conversation passed through, but not with this key). The same after a restart.
#[test]
fn a_held_conversation_moving_on_takes_no_keys_of_the_name_it_leaves() {
    for restarted in [false, true] {
        let test = format!("held-moves-on-{restarted}");
        let (mut alice, _bob, mut mallory) = bob_renamed_onto_mallory(&test, 17);
        rename(&mut alice, "mallory", "carol");
        if restarted {
            alice.sessions.drop_memory();
        }
        let mut to_alice = start_with(&mut mallory, "alice");
        let (mut events, mut notices) = (Vec::new(), Vec::new());
        while !to_alice.is_empty() {
            let (back, ev, fx) = alice.receive_as("carol", &to_alice);
            events.extend(ev);
            notices.extend(fx.notices);
            to_alice = mallory.receive("alice", &back).0;
        }
        assert!(
            notices.iter().any(
                |n| matches!(n, Notice::KnownAs { names } if names == &["mallory".to_owned()])
            ),
            "restarted {restarted}: not named as mallory's key: {notices:?}"
        );
        assert!(
            key_changed(&events),
            "restarted {restarted}: mallory's key starts unannounced in bob's window: {events:?}"
        );
        let (out, fx) = alice.send_to("carol", "meant for bob", Policy::Manual);
        assert_eq!(out, Outgoing::Hold, "restarted {restarted}");
        assert!(
            key_ids(&fx.inject).is_empty(),
            "nothing encrypted to mallory"
        );
    }
}

/// Whether `events` tell of a changed key: held until the user accepts it, never taken on
/// first use.
fn key_changed(events: &[Event]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, Event::PeerKeyChanged { .. }))
}

/// The keys `p` accepts for `name` (on the account of its own conversations), as on disk.
fn accepted_at(p: &Peer, name: &str) -> Vec<IdentityPublic> {
    let k = p.key_for(name);
    p.store()
        .accepted_keys(&k.protocol, &k.account, name)
        .expect("keys")
}

/// `from` (a client of its own) starts with alice, who reads it as `name`, until neither sends
/// more: alice's events.
fn starts_at(alice: &mut Peer, from: &mut Peer, name: &str) -> Vec<Event> {
    let mut to_alice = from.start();
    let mut events = Vec::new();
    while !to_alice.is_empty() {
        let (back, got, _) = alice.receive_as(name, &to_alice);
        events.extend(got);
        to_alice = from.receive("alice", &back).0;
    }
    events
}

/// The server answers as bob with a key of its own (held at "bob" as a changed key), then
/// renames "bob" to a fresh name "x": the conversation takes none of bob's keys there (its key
/// is not one "bob" accepts), and no key is accepted at "x" on first use, across restarts: the
/// server answering as x with another key, ending that session (so no session's key is left for
/// a start to replace) and starting again after a restart gets a changed key each time, never a
/// first use (before the snapshot kept it, a restart made "x" a blank name: found by a hostile
/// review of the first versions).
#[test]
fn a_held_session_moved_to_a_fresh_name_accepts_no_key_on_first_use_across_restarts() {
    let test = "held-moves-fresh";
    let (mut alice, _bob) = encrypted(test);
    let events = stranger_starts_as(&mut alice, test, "bob");
    assert!(key_changed(&events), "{events:?}");
    rename(&mut alice, "bob", "x");
    assert!(
        accepted_at(&alice, "x").is_empty(),
        "bob's keys copied to a conversation on another key"
    );
    alice.sessions.drop_memory();
    let mut server = peer(test, "x", "alice", 23);
    server_starts_and_ends(&mut alice, &mut server, "x");
    alice.sessions.drop_memory();
    let events = starts_at(&mut alice, &mut server, "x");
    assert!(
        key_changed(&events) && !events.iter().any(|e| matches!(e, Event::NewPeerKey { .. })),
        "the server's key taken on first use at x: {events:?}"
    );
    let (out, fx) = alice.send_to("x", "meant for bob", Policy::Manual);
    assert_eq!(out, Outgoing::Hold);
    assert!(
        key_ids(&fx.inject).is_empty(),
        "nothing encrypted to the server"
    );
}

/// The server renames bob onto "mallory" (held there as another contact's), answers there with
/// a key of its own, ends that session, then renames "mallory" on to "carol": the conversation
/// came to "mallory" as another contact's, so "carol" takes none of mallory's keys, even with no
/// session left to say whose it is (it took them, and mallory's next start there would have been
/// accepted in bob's window: found by a third review).
#[test]
fn a_conversation_that_came_as_anothers_takes_no_keys_on_once_its_session_ended() {
    let test = "came-as-anothers";
    let (mut alice, _bob, _mallory) = bob_renamed_onto_mallory(test, 31);
    let mut server = peer(&format!("{test}-server"), "mallory", "alice", 37);
    server_starts_and_ends(&mut alice, &mut server, "mallory");
    rename(&mut alice, "mallory", "carol");
    assert!(
        accepted_at(&alice, "carol").is_empty(),
        "carol took the keys of the name the conversation came to as another's"
    );
}

/// alice encrypted with bob and with mallory (`seed`), then the server renames bob onto
/// "mallory", where the conversation is held as another contact's: alice, bob and mallory.
fn bob_renamed_onto_mallory(test: &str, seed: u64) -> (Peer, Peer, Peer) {
    let (mut alice, bob) = encrypted(test);
    let mallory = encrypted_with_mallory(&mut alice, test, seed);
    assert_eq!(
        rename(&mut alice, "bob", "mallory"),
        Notice::RenamedOntoAnother { from: "bob".into() }
    );
    (alice, bob, mallory)
}

/// `server` starts at `name` with a key alice holds as changed, then ends that session: no
/// session is left there to say whose the name is.
fn server_starts_and_ends(alice: &mut Peer, server: &mut Peer, name: &str) {
    let events = starts_at(alice, server, name);
    assert!(key_changed(&events), "{events:?}");
    let end = start_or_stop(server, "alice", false);
    alice.receive_as(name, &end);
}

/// The server renames bob onto "mallory" (held as another contact's); the user, taking it for
/// bob's own rename, accepts bob's key there, so "mallory" accepts both keys; the server renames
/// "mallory" on to "carol": carol learns bob's key (the session's, accepted) and not mallory's
/// (both were copied once the acceptance had ended the refusal, and mallory's start there would
/// have been accepted in bob's window: found by a fourth review).
#[test]
fn accepting_bobs_key_on_mallorys_name_does_not_carry_mallorys_key_on() {
    let test = "accept-on-anothers";
    let (mut alice, bob, _mallory) = bob_renamed_onto_mallory(test, 41);
    let bobs = mallory_key(&bob).expect("bob's key");
    accept(&mut alice, "mallory", &bobs);
    rename(&mut alice, "mallory", "carol");
    assert_eq!(
        accepted_at(&alice, "carol"),
        vec![bobs],
        "carol took mallory's key with bob's"
    );
}

/// alice's record of `name`'s `key`.
fn record_of(
    alice: &Peer,
    name: &str,
    key: &crate::protocol::IdentityPublic,
) -> Option<crate::store::TrustRecord> {
    let k = alice.key_for(name);
    alice
        .store()
        .trust_records(&k.protocol, &k.account, &k.peer)
        .unwrap()
        .into_iter()
        .find(|r| r.key == *key)
}

/// A rename copies the name's keys, verified ones too, to the name the contact takes; marking
/// the key unverified, or forgetting it, under one name does so under the copies too: left on
/// one, the withdrawal was undone by whoever holds the key (a stolen laptop) coming back under
/// the other nick, "(verified)" and all (found by a read-only review of identity, 2026-12-07).
/// Not under a name whose record of the key a session there made (a relay passing bob's
/// handshake on as "robert": that record warns "known as", and bob's own must not go with it;
/// a review of the first fix). Verifying marks the one record only.
#[test]
fn withdrawing_trust_in_a_key_reaches_the_copies_a_rename_made() {
    let (mut alice, _bob) = encrypted("withdraw");
    let key = alice.key.clone();
    let bobs = alice.sessions.loaded_peer_key(&key).expect("a key");
    let verify = record_of(&alice, "bob", &bobs).expect("recorded");
    assert_eq!(
        alice.sessions.change_record(&verify, trust::Change::Verify),
        trust::RecordChange {
            done: trust::Changed::Done,
            also: Vec::new()
        }
    );
    // bob goes away and comes back: both names hold his key, verified.
    rename(&mut alice, "bob", "bob_away");
    rename(&mut alice, "bob_away", "bob");
    let away = record_of(&alice, "bob_away", &bobs).expect("copied by the rename");
    assert_eq!(away.trust, crate::store::Trust::Verified);
    // robert's record of the key comes from a session of his own, later (verified, here, to
    // show a withdrawal does not reach it).
    let store = alice.store();
    store
        .record_key(&key.protocol, &key.account, "robert", &bobs, true)
        .unwrap();
    store.set_first_seen(
        &key.protocol,
        &key.account,
        "robert",
        &bobs,
        away.first_seen + 60,
    );
    let record = record_of(&alice, "bob", &bobs).expect("recorded");
    assert_eq!(
        alice
            .sessions
            .change_record(&record, trust::Change::Unverify),
        trust::RecordChange {
            done: trust::Changed::Done,
            also: vec![("bob_away".to_owned(), trust::Changed::Done)]
        }
    );
    for (name, trust) in [
        ("bob", crate::store::Trust::Unverified),
        ("bob_away", crate::store::Trust::Unverified),
        ("robert", crate::store::Trust::Verified),
    ] {
        let r = record_of(&alice, name, &bobs).expect("still recorded");
        assert_eq!(r.trust, trust, "{name}");
    }
    // Verifying under one name verifies that record only.
    let record = record_of(&alice, "bob_away", &bobs).expect("recorded");
    assert_eq!(
        alice
            .sessions
            .change_record(&record, trust::Change::Verify)
            .also,
        Vec::new()
    );
    let r = record_of(&alice, "bob", &bobs).expect("recorded");
    assert_eq!(r.trust, crate::store::Trust::Unverified);
    // Forgetting it under one name forgets the copies, not robert's.
    assert_eq!(
        alice
            .sessions
            .change_record(&record, trust::Change::Forget)
            .also
            .into_iter()
            .map(|(name, _)| name)
            .collect::<Vec<_>>(),
        vec!["bob".to_owned()]
    );
    assert!(record_of(&alice, "bob", &bobs).is_none());
    assert!(record_of(&alice, "bob_away", &bobs).is_none());
    assert!(record_of(&alice, "robert", &bobs).is_some(), "robert's own");
}
