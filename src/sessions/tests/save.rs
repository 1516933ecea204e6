//! Fail-closed saves: nothing leaves that is not on disk.

use std::collections::HashSet;

use super::*;

#[test]
fn a_failed_save_on_send_sends_nothing_and_memory_equals_disk() {
    let (mut alice, mut bob) = encrypted("send");
    let first = lines_of(alice.send("one").0);
    let (memory, disk) = alice.memory_and_disk();
    assert_eq!(memory, disk);

    alice.store().fail_writes(true);
    let (out, fx) = alice.send("two: never leaves");
    assert_eq!(out, Outgoing::Hold, "nothing to send instead of the text");
    assert!(fx.inject.is_empty(), "no injected line");
    assert!(fx.events.is_empty(), "no event about a rolled-back state");
    assert_eq!(
        fx.notices,
        vec![Notice::NotSaved {
            doing: Doing::Sending("two: never leaves".into()),
            reason: fx_reason(&fx),
        }]
    );
    let (memory_after, disk_after) = alice.memory_and_disk();
    assert_eq!(memory_after, disk_after, "rolled back to what disk holds");
    assert_eq!(disk_after, disk, "disk unchanged by the failed save");

    alice.store().fail_writes(false);
    let third = lines_of(alice.send("three").0);
    let mut sent = key_ids(&first);
    sent.extend(key_ids(&third));
    let distinct: HashSet<_> = sent.iter().collect();
    assert_eq!(
        distinct.len(),
        sent.len(),
        "no message key on the wire twice"
    );

    let mut all = first;
    all.extend(third);
    let (_, events, shown) = bob.receive("alice", &all);
    assert_eq!(shown, vec!["one".to_owned(), "three".to_owned()]);
    assert!(
        !events.iter().any(|e| matches!(e, Event::Unreadable { .. })),
        "{events:?}"
    );
}

fn fx_reason(fx: &Effects) -> String {
    match fx.notices.first() {
        Some(Notice::NotSaved { reason, .. }) => {
            assert!(reason.contains("readonly"), "SQLite's own reason: {reason}");
            reason.clone()
        }
        other => panic!("expected a NotSaved notice, got {other:?}"),
    }
}

#[test]
fn a_failed_save_on_receive_shows_the_message_but_answers_nothing() {
    let (mut alice, mut bob) = encrypted("receive");
    alice.store().fail_writes(true);
    // A message is still shown (bob's ratchet has moved on: it would be lost otherwise).
    let msg = lines_of(bob.send("hello").0);
    let (inject, _, shown) = alice.receive("bob", &msg);
    assert_eq!(shown, vec!["hello".to_owned()]);
    assert!(inject.is_empty());
    let (memory, disk) = alice.memory_and_disk();
    assert_eq!(memory, disk);

    // bob restarts the session: alice's answer (?S1R) would be an injected line, and her
    // unsaved handshake state must not leave.
    let fx = bob
        .sessions
        .start_or_stop(
            &bob.key.clone(),
            "alice",
            &settings(Policy::Manual),
            true,
            &mut bob.rng,
        )
        .expect("restart");
    assert_eq!(fx.inject.len(), 1, "bob's ?S1I");
    let (inject, events, _) = alice.receive("bob", &fx.inject);
    assert!(inject.is_empty(), "no ?S1R from an unsaved state");
    assert!(events.is_empty(), "{events:?}");
    let (memory_after, disk_after) = alice.memory_and_disk();
    assert_eq!(memory_after, disk_after);
    assert_eq!(disk_after, disk);

    // Once the store works again, the same line is answered.
    alice.store().fail_writes(false);
    let (inject, _, _) = alice.receive("bob", &fx.inject);
    assert_eq!(inject.len(), 1);
}

#[test]
fn a_failed_save_on_start_injects_no_handshake() {
    let mut alice = peer("start", "alice", "bob", 3);
    // Create the identity first: a read-only store cannot create one.
    assert!(alice.sessions.identity("prpl-test", "alice").is_some());
    alice.store().fail_writes(true);
    let fx = alice
        .sessions
        .start_or_stop(
            &alice.key.clone(),
            "bob",
            &settings(Policy::Manual),
            true,
            &mut alice.rng,
        )
        .expect("a conversation");
    assert!(fx.inject.is_empty(), "no ?S1 line leaves unsaved");
    assert!(matches!(
        fx.notices.as_slice(),
        [Notice::NotSaved {
            doing: Doing::Acting,
            ..
        }]
    ));
    assert_eq!(
        alice
            .sessions
            .state(&alice.key.clone(), "bob", &settings(Policy::Manual)),
        Some(ConvState::Plaintext)
    );
}

/// alice's query, bob's start, alice's answer, bob's confirm (bob's session is up; `seed` and
/// the next one their keys): alice, and the confirm on its way to her, whose reading finishes
/// her session and takes bob's key on first use.
fn confirm_on_its_way(test: &str, seed: u64) -> (Peer, Vec<String>) {
    let mut alice = peer(test, "alice", "bob", seed);
    let mut bob = peer(test, "bob", "alice", seed + 1);
    let query = alice.start();
    let (init, _, _) = bob.receive_as("alice", &query);
    let (response, _, _) = alice.receive_as("bob", &init);
    let (confirm, _, _) = bob.receive_as("alice", &response);
    assert_eq!(confirm.len(), 1, "{confirm:?}");
    (alice, confirm)
}

/// The trust record a decision makes (a key taken on first use) cannot be written, though the
/// session row can (a damaged trust table: the statement fails, the transaction stays open):
/// the save fails as a whole. The session used to commit without the record, and once it
/// ended the next key was taken as a first one, with no "key changed" warning.
#[test]
fn a_trust_record_that_cannot_be_written_fails_the_save() {
    let (mut alice, confirm) = confirm_on_its_way("trust-fails", 4);
    alice.store().execute_raw(
        "CREATE TRIGGER damaged BEFORE INSERT ON trust BEGIN SELECT RAISE(ABORT, 'damaged'); END",
    );
    // The confirm finishes alice's session and takes bob's key on first use.
    let (_, _, fx) = alice.receive_as("bob", &confirm);
    assert_not_saved(&fx);
    let key = alice.key.clone();
    let state = |alice: &mut Peer| alice.sessions.state(&key, "bob", &settings(Policy::Manual));
    assert_ne!(state(&mut alice), Some(ConvState::Encrypted), "memory");
    alice.sessions.drop_memory();
    assert_ne!(state(&mut alice), Some(ConvState::Encrypted), "disk");
}

/// A trust record whose statement makes SQLite roll the save's whole transaction back (a full
/// disk on a cache spill, an I/O error: here a trigger's `RAISE(ROLLBACK)`): the records after
/// it are not written either. They ran with no transaction open and each committed on its own:
/// bob's key recorded as seen on disk while the save said it failed and memory rolled back
/// (found by a read-only review of the store).
#[test]
fn a_save_whose_transaction_sqlite_rolled_back_records_no_key() {
    let (mut alice, confirm) = confirm_on_its_way("trust-rollback", 6);
    alice.store().execute_raw(
        "CREATE TRIGGER full BEFORE UPDATE ON peer BEGIN SELECT RAISE(ROLLBACK, 'disk full'); END",
    );
    alice.store().execute_raw(
        "CREATE TRIGGER full_new BEFORE INSERT ON peer BEGIN SELECT RAISE(ROLLBACK, 'disk full'); END",
    );
    // The confirm finishes alice's session: bob runs Sotto (refused, rolling back), and his
    // key is taken on first use (not to be written once the transaction is gone).
    let (_, _, fx) = alice.receive_as("bob", &confirm);
    assert_not_saved(&fx);
    let k = alice.key.clone();
    assert!(
        alice
            .store()
            .accepted_keys(&k.protocol, &k.account, "bob")
            .expect("keys")
            .is_empty(),
        "bob's key recorded on disk by a save that failed"
    );
}

#[test]
fn no_store_means_no_conversation_and_no_send() {
    let mut s = Sessions::new(Err("no disk".into()));
    let key = ConvKey {
        protocol: "prpl-test".into(),
        account: "alice".into(),
        peer: "bob".into(),
    };
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    for policy in [Policy::Manual, Policy::Opportunistic, Policy::Always] {
        assert!(s
            .outgoing(&key, "bob", "hi", &settings(policy), &mut rng)
            .is_none());
    }
    assert!(s.state(&key, "bob", &settings(Policy::Manual)).is_none());
}

#[test]
fn held_text_survives_a_failed_save_only_if_it_was_saved() {
    let mut alice = peer("held", "alice", "bob", 5);
    let always = &settings(Policy::Always);
    let key = alice.key.clone();
    let (out, fx) = alice
        .sessions
        .outgoing(&key, "bob", "first", always, &mut alice.rng)
        .expect("outgoing");
    assert_eq!(out, Outgoing::Hold);
    assert_eq!(fx.inject.len(), 1, "a query or handshake start");
    alice.store().fail_writes(true);
    let (out, fx) = alice
        .sessions
        .outgoing(&key, "bob", "second", always, &mut alice.rng)
        .expect("outgoing");
    assert_eq!(out, Outgoing::Hold);
    assert!(matches!(
        fx.notices.as_slice(),
        [Notice::NotSaved { doing: Doing::Sending(t), .. }] if t == "second"
    ));
    assert_eq!(
        alice.sessions.waiting(&key, "bob", always),
        Some((1, false))
    );
    // After a restart (memory dropped), the same: one held message, the saved one.
    alice.sessions.drop_memory();
    assert_eq!(
        alice.sessions.waiting(&key, "bob", always),
        Some((1, false))
    );
}

#[test]
fn dropping_memory_reloads_exactly_what_disk_holds() {
    let (mut alice, mut bob) = encrypted("reload");
    let a = lines_of(alice.send("before").0);
    let (memory, _) = alice.memory_and_disk();
    alice.sessions.drop_memory();
    assert!(alice.sessions.sessions.is_empty());
    let b = lines_of(alice.send("after").0);
    assert_ne!(memory, alice.memory_and_disk().0);
    let mut all = a;
    all.extend(b);
    assert_eq!(
        bob.receive("alice", &all).2,
        vec!["before".to_owned(), "after".to_owned()]
    );
}

#[test]
fn the_trust_table_is_the_one_source_of_accepted_keys() {
    let (mut alice, _bob) = encrypted("trust");
    let k = alice.key.clone();
    let records = alice
        .store()
        .trust_records(&k.protocol, &k.account, &k.peer)
        .unwrap();
    assert_eq!(records.len(), 1, "bob's key recorded on first use");
    let loaded = |a: &Sessions| {
        a.sessions
            .get(&k)
            .map(|s| s.conv.known_peer_keys().to_vec())
            .unwrap_or_default()
    };
    assert_eq!(loaded(&alice.sessions), vec![records[0].key]);

    // Forgetting it empties the loaded conversation's copy at once, and after a restart too:
    // the snapshot's copy does not bring it back.
    assert_eq!(
        alice
            .sessions
            .change_record(&records[0], trust::Change::Forget)
            .done,
        trust::Changed::Done
    );
    assert!(loaded(&alice.sessions).is_empty());
    alice.sessions.drop_memory();
    alice
        .sessions
        .state(&k, "bob", &settings(Policy::Manual))
        .expect("reloaded");
    assert!(loaded(&alice.sessions).is_empty());

    // A second copy of the list, opened before: its record is gone, so it changes nothing and
    // says so (it said "now marked verified").
    for change in [
        trust::Change::Verify,
        trust::Change::Unverify,
        trust::Change::Forget,
    ] {
        assert_eq!(
            alice.sessions.change_record(&records[0], change).done,
            trust::Changed::Gone,
            "{change:?}"
        );
    }
    assert!(alice
        .store()
        .trust_records(&k.protocol, &k.account, &k.peer)
        .unwrap()
        .is_empty());
}

#[test]
fn a_message_read_is_committed_at_once_and_synced_once_for_all_before_anything_leaves() {
    let (mut alice, mut bob) = encrypted("unsynced");
    // The handshake's saves came before lines left: synced.
    assert!(!alice.store().unsynced() && !bob.store().unsynced());

    let one = lines_of(alice.send("one").0);
    assert!(
        !alice.store().unsynced(),
        "a send is synced before it leaves"
    );
    let (inject, events, shown) = bob.receive("alice", &one);
    assert_eq!(shown, vec!["one".to_owned()]);
    assert!(
        inject.is_empty() && events.is_empty(),
        "{inject:?} {events:?}"
    );
    let (memory, disk) = bob.memory_and_disk();
    assert_eq!(memory, disk, "committed: every later read sees it");
    assert!(
        bob.sessions.needs_sync(),
        "read only: committed without its fsync"
    );
    bob.sessions.sync();
    assert!(!bob.sessions.needs_sync());

    // Two more read, then bob answers: the answer's synced commit covers both reads.
    let mut more = lines_of(alice.send("two").0);
    more.extend(lines_of(alice.send("three").0));
    let (_, _, shown) = bob.receive("alice", &more);
    assert_eq!(shown, vec!["two".to_owned(), "three".to_owned()]);
    assert!(bob.sessions.needs_sync());
    let reply = lines_of(bob.send("four").0);
    assert!(
        !bob.sessions.needs_sync(),
        "the send's fsync made the reads durable too"
    );
    let (memory, disk) = bob.memory_and_disk();
    assert_eq!(memory, disk);

    // alice reads bob's answer: a new ratchet key from the peer, still nothing leaves.
    let (_, _, shown) = alice.receive("bob", &reply);
    assert_eq!(shown, vec!["four".to_owned()]);
    assert!(alice.sessions.needs_sync());
    // A message read from a state reopened after the process died (the commit is in the
    // kernel, not lost with the process) decrypts the next line: the store kept it.
    let dir = alice.dir.clone();
    drop(std::mem::replace(
        &mut alice.sessions,
        Sessions::new(Err("closed".into())),
    ));
    alice.sessions = Sessions::new(Ok(Store::open(&dir).expect("reopen")));
    let five = lines_of(bob.send("five").0);
    let (_, events, shown) = alice.receive("bob", &five);
    assert_eq!(shown, vec!["five".to_owned()], "{events:?}");
}

/// An encrypted pair whose bob reads alice's "one" while his disk refuses writes (shown, not
/// saved; his disk still refusing): alice, bob, and the line.
fn one_read_unsaved(test: &str) -> (Peer, Peer, Vec<String>) {
    let (mut alice, mut bob) = encrypted(test);
    let one = lines_of(alice.send("one").0);
    bob.store().fail_writes(true);
    let (_, _, shown) = bob.receive("alice", &one);
    assert_eq!(
        shown,
        vec!["one".to_owned()],
        "read, shown, though not saved"
    );
    (alice, bob, one)
}

#[test]
fn a_read_whose_save_fails_is_shown_once_and_nothing_is_left_unsynced() {
    let (_, mut bob, one) = one_read_unsaved("unsynced-fail");
    assert!(!bob.sessions.needs_sync(), "no commit was made");
    let (memory, disk) = bob.memory_and_disk();
    assert_eq!(memory, disk, "rolled back to what disk holds");
    bob.store().fail_writes(false);
    let (_, _, shown) = bob.receive("alice", &one);
    assert!(shown.is_empty(), "the same line again is not shown twice");
}

/// The same message in another encoding, after its read was shown with a failed save: text
/// after its token, a one-piece `?S1P` around it (also while the disk still fails). Each was
/// shown again, as a new message (only a byte-identical copy was caught; found by a read-only
/// review). The state catches up all the same: the next message is read.
#[test]
fn a_read_whose_save_fails_is_shown_once_whatever_its_line_looks_like() {
    use crate::protocol::wire::{Fragment, WireMessage};
    let (mut alice, mut bob, one) = one_read_unsaved("unsynced-variants");
    assert_eq!(one.len(), 1);
    let suffixed = vec![format!("{} and more", one[0])];
    let (_, _, shown) = bob.receive("alice", &suffixed);
    assert!(
        shown.is_empty(),
        "text after the token, disk failing: {shown:?}"
    );
    bob.store().fail_writes(false);
    let piece = WireMessage::Fragment(Fragment {
        id: 7,
        index: 0,
        total: 1,
        chunk: one[0].clone(),
    })
    .encode();
    for variant in [suffixed, vec![piece]] {
        let (_, _, shown) = bob.receive("alice", &variant);
        assert!(shown.is_empty(), "{variant:?} shown again: {shown:?}");
    }
    let two = lines_of(alice.send("two").0);
    let (_, _, shown) = bob.receive("alice", &two);
    assert_eq!(shown, vec!["two".to_owned()]);
}

#[test]
fn sends_wait_for_the_disk_once_per_reservation_and_a_clean_stop_leaves_no_gap() {
    let (mut alice, mut bob) = encrypted("reserve");
    let mut synced = Vec::new();
    let mut lines = Vec::new();
    for i in 0..100 {
        // Each send starts from a synced store, so `unsynced` tells how this one was saved.
        alice.sessions.sync();
        let sent = lines_of(alice.send(&format!("m{i}")).0);
        if !alice.store().unsynced() {
            synced.push(i);
        }
        lines.extend(sent);
    }
    assert_eq!(
        synced,
        vec![0, 33, 66, 99],
        "one synced save per 33 messages"
    );
    let (_, _, shown) = bob.receive("alice", &lines);
    assert_eq!(shown.len(), 100);
    let last = key_ids(&lines).last().map(|k| k.2);
    assert_eq!(last, Some(99));

    // A clean stop saves the exact index: the next start continues at 100.
    alice.sessions.release_reservations();
    let reopen = |p: &mut Peer| {
        let dir = p.dir.clone();
        drop(std::mem::replace(
            &mut p.sessions,
            Sessions::new(Err("closed".into())),
        ));
        p.sessions = Sessions::new(Ok(Store::open(&dir).expect("reopen")));
    };
    reopen(&mut alice);
    let next = lines_of(alice.send("after a clean stop").0);
    assert_eq!(key_ids(&next)[0].2, 100);

    // Killed instead (no release): the next start skips to the reservation (101 + 32), and the
    // peer still reads it.
    reopen(&mut alice);
    let next2 = lines_of(alice.send("after a kill").0);
    assert_eq!(key_ids(&next2)[0].2, 133);
    let mut both = next;
    both.extend(next2);
    let (_, events, shown) = bob.receive("alice", &both);
    assert_eq!(
        shown,
        vec!["after a clean stop", "after a kill"],
        "{events:?}"
    );
}

/// Answering a contact's start (`?S1I` with `?S1R`, `?S1Q` with `?S1I`) leaves a handshake
/// only this side holds until the contact's next line: for a contact talked to before, it is on
/// disk before the answer leaves, so a crash right after (memory dropped) still finishes the
/// session the contact goes on to have. (It was only in memory: after a crash the contact had
/// a session this side did not, and what it typed over it could not be read.) Names never
/// talked to still write nothing (`the_sweep_lets_go_of_names_that_hold_nothing`).
#[test]
fn an_answered_start_is_saved_before_the_answer_leaves() {
    for bob_knows in [true, false] {
        let (mut alice, mut bob) = encrypted(&format!("answer-saved-{bob_knows}"));
        // bob ends the conversation, and alice too (she is back in plaintext).
        let end = bob.stop().inject;
        let (_, _, _) = alice.receive("bob", &end);
        alice.stop();
        assert_eq!(
            alice
                .sessions
                .state(&alice.key.clone(), "bob", &settings(Policy::Manual)),
            Some(ConvState::Plaintext)
        );
        if bob_knows {
            let k = bob.key.clone();
            bob.store()
                .set_peer_runs_sotto(&k.protocol, &k.account, &k.peer)
                .unwrap();
            // Loaded again with what the store now says.
            bob.sessions.drop_memory();
        }
        let start = bob.start();
        assert_eq!(
            start[0].starts_with("?S1I"),
            bob_knows,
            "{bob_knows}: {start:?}"
        );
        let (answer, events, _) = alice.receive("bob", &start);
        assert!(events.is_empty(), "{bob_knows}: {events:?}");
        assert!(!answer.is_empty(), "{bob_knows}: no answer");
        let (memory, disk) = alice.memory_and_disk();
        assert!(memory.is_some(), "{bob_knows}");
        assert_eq!(
            memory, disk,
            "{bob_knows}: the answering handshake is on disk before the answer leaves"
        );
        alice.sessions.drop_memory();
        let mut to_alice = answer;
        let mut started = false;
        while !to_alice.is_empty() {
            let (to_bob, _, _) = bob.receive("alice", &to_alice);
            let (back, events, _) = alice.receive("bob", &to_bob);
            started |= events.iter().any(|e| matches!(e, Event::Started { .. }));
            to_alice = back;
        }
        assert!(
            started,
            "{bob_knows}: alice's side of the session never started"
        );
        let (out, _) = bob.send("typed after alice's crash");
        let (_, _, shown) = alice.receive("bob", &lines_of(out));
        assert_eq!(shown, ["typed after alice's crash"], "{bob_knows}");
    }
}

/// Messages held in an earlier run (their conversations on disk only): counted for the
/// unload's box without loading the conversations or writing anything; a loaded conversation
/// is left to the count from memory.
#[test]
fn messages_held_on_disk_are_counted_without_a_load_or_a_write() {
    let mut alice = peer("held-on-disk", "alice", "bob", 7);
    for (to, text) in [("bob", "held for bob"), ("carol", "held for carol")] {
        assert_eq!(alice.send_to(to, text, Policy::Always).0, Outgoing::Hold);
    }
    assert_eq!(
        alice.send_to("bob", "again", Policy::Always).0,
        Outgoing::Hold
    );
    alice.sessions.drop_memory();
    let on_disk = |alice: &Peer| {
        alice
            .store()
            .load_session("prpl-test", "alice", "bob")
            .expect("read")
    };
    let before = on_disk(&alice);
    let account = alice.key.clone();
    let mut held = alice.sessions.held_on_disk(&account);
    held.sort();
    assert_eq!(held, [("bob".to_owned(), 2), ("carol".to_owned(), 1)]);
    assert!(alice.sessions.sessions.is_empty(), "nothing loaded");
    assert_eq!(on_disk(&alice), before, "nothing written");
    assert_eq!(
        alice.send_to("bob", "third", Policy::Always).0,
        Outgoing::Hold
    );
    assert_eq!(
        alice.sessions.held_on_disk(&account),
        [("carol".to_owned(), 1)]
    );
}

/// The user deletes the account: every message its conversations hold, loaded or loaded
/// from disk for it, is handed back once, with its contact, and saved without (it stayed
/// saved, to go out by itself if the account came back and the contact answered).
#[test]
fn a_deleted_accounts_held_messages_are_handed_back_and_saved_without() {
    let mut alice = peer("account-deleted", "alice", "bob", 7);
    for (to, text) in [("bob", "held for bob"), ("carol", "held for carol")] {
        assert_eq!(alice.send_to(to, text, Policy::Always).0, Outgoing::Hold);
    }
    // bob's conversation on disk only, carol's loaded.
    alice.sessions.drop_memory();
    assert_eq!(
        alice.send_to("carol", "again for carol", Policy::Always).0,
        Outgoing::Hold
    );
    let account = alice.key.clone();
    for (peer, _) in alice.sessions.held_on_disk(&account) {
        let key = ConvKey {
            peer: peer.clone(),
            ..account.clone()
        };
        let _ = alice.sessions.state(&key, &peer, &settings(Policy::Always));
    }
    let (taken, saved) = alice.sessions.take_account_texts(&account);
    assert!(saved);
    let mut taken: Vec<(String, Vec<String>)> = taken
        .into_iter()
        .map(|(peer, texts)| (peer, texts.iter().map(|t| t.to_string()).collect()))
        .collect();
    taken.sort();
    assert_eq!(
        taken,
        [
            ("bob".to_owned(), vec!["held for bob".to_owned()]),
            (
                "carol".to_owned(),
                vec!["held for carol".to_owned(), "again for carol".to_owned()]
            ),
        ]
    );
    assert!(
        alice.sessions.take_account_texts(&account).0.is_empty(),
        "once"
    );
    alice.sessions.drop_memory();
    assert!(
        alice.sessions.held_on_disk(&account).is_empty(),
        "saved without them"
    );
}

/// Settings as the plugin makes them on IRC (clients not addressed one by one), with the line
/// size `max_line`.
fn irc(max_line: usize) -> Settings {
    Settings {
        max_line,
        addressable: false,
        ..settings(Policy::Manual)
    }
}

/// An encrypted pair on IRC terms, alice having written to bob under the conversation's own
/// name (its line size `LINE`, saved): alice, bob and alice's key for the conversation.
fn irc_pair_written_to(test: &str) -> (Peer, Peer, ConvKey) {
    let (mut alice, bob) = encrypted(test);
    let key = alice.key.clone();
    let (out, _) = alice
        .sessions
        .outgoing(&key, "bob", "hello", &irc(LINE), &mut alice.rng)
        .expect("outgoing");
    assert!(matches!(out, Outgoing::Lines(_)), "{out:?}");
    (alice, bob, key)
}

/// On IRC a line's size counts the nick it is addressed to: the conversation's own name (where
/// the transport does not address clients one by one, answers go there, never to the spelling
/// a line came under). A line that came under another spelling of that name (libpurple folds
/// names where a server may not: `Élodie`, an accent written apart), sized by the plugin for
/// that spelling, resized the conversation and so changed its snapshot: a synced write for a
/// line that changed nothing, and a long answer cut for the wrong nick (found by a read-only
/// review).
#[test]
fn a_line_under_another_spelling_neither_resizes_nor_writes() {
    let (mut alice, _bob, key) = irc_pair_written_to("spelling-size");
    let (_, disk) = alice.memory_and_disk();
    // Any write from here on fails, and would say so.
    alice.store().fail_writes(true);
    let (action, fx) = alice
        .sessions
        .incoming(
            &key,
            "BOB\u{301}",
            "just chatting",
            &irc(LINE - 3),
            &mut alice.rng,
        )
        .expect("incoming");
    assert_eq!(action, ReceiveAction::PassThrough);
    assert!(fx.notices.is_empty(), "a write was tried: {:?}", fx.notices);
    alice.store().fail_writes(false);
    let (memory, disk_after) = alice.memory_and_disk();
    assert_eq!(disk_after, disk);
    assert_eq!(memory, disk, "the conversation in memory was resized");
    // A spelling of the same length gives the same size for the same nicks: settings made
    // for it are taken (alice's own nick grew meanwhile: her lines are cut shorter).
    alice
        .sessions
        .incoming(
            &key,
            "Bob",
            "still chatting",
            &irc(LINE - 20),
            &mut alice.rng,
        )
        .expect("incoming");
    let size = alice.sessions.sessions.get(&key).map(|s| s.conv.max_line());
    assert_eq!(size, Some(LINE - 20));
}

/// As above, and the line under the other spelling changes the conversation while its save
/// fails: the conversation is put back as the store holds it, with the line size for its own
/// name. It was reloaded with the size made for the spelling the line came under, and kept
/// it (lines under that spelling no longer resize it): a long answer was cut for the wrong
/// nick until a line under a name of the conversation's length came (found by a hostile
/// review of the change above).
#[test]
fn a_roll_back_keeps_the_line_size_of_the_conversations_name() {
    let (mut alice, mut bob, key) = irc_pair_written_to("spelling-roll-back");
    let size = |alice: &Peer| alice.sessions.sessions.get(&key).map(|s| s.conv.max_line());
    assert_eq!(size(&alice), Some(LINE));
    let line = lines_of(bob.send("from bob, never saved at alice's").0).remove(0);
    alice.store().fail_writes(true);
    let other = "BOB\u{301}";
    let (_, fx) = alice
        .sessions
        .incoming(&key, other, &line, &irc(LINE - 3), &mut alice.rng)
        .expect("incoming");
    assert_not_saved(&fx);
    alice.store().fail_writes(false);
    assert_eq!(
        size(&alice),
        Some(LINE),
        "rolled back to another nick's size"
    );
    // Lines under that spelling leave it so.
    alice
        .sessions
        .incoming(&key, other, "just chatting", &irc(LINE - 3), &mut alice.rng)
        .expect("incoming");
    assert_eq!(size(&alice), Some(LINE));
}
