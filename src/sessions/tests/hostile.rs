//! Hostile input and host faults at the service level: a line that changes nothing writes
//! nothing, a saved conversation that cannot be restored is kept and held, a message shown
//! while unsaved is not shown twice, and "runs Sotto" is forgotten when the user ends it.

use super::*;
use crate::protocol::session::HANDSHAKE_TIMEOUT_SECS;
use crate::protocol::UnreadableReason;

#[test]
fn a_line_that_changes_nothing_writes_nothing() {
    let (mut alice, _bob) = encrypted("nowrite");
    // With every write failing, a garbage line and plaintext chatter still cause no failure:
    // no write was even tried.
    alice.store().fail_writes(true);
    for line in ["?S1Dgarbage", "?S1R@@@", "just plaintext while encrypted"] {
        let (_, _, fx) = alice.receive_as("bob", &[line.to_owned()]);
        assert!(fx.notices.is_empty(), "{line}: {:?}", fx.notices);
    }
}

#[test]
fn a_saved_conversation_that_cannot_be_restored_is_kept_and_held() {
    for start in [true, false] {
        let mut alice = peer(&format!("unrestorable-{start}"), "alice", "bob", 20);
        assert!(alice.sessions.identity("prpl-test", "alice").is_some());
        let k = alice.key.clone();
        let damaged = b"\x09 written by a future Sotto".to_vec();
        alice
            .store()
            .save_session(&k.protocol, &k.account, &k.peer, &damaged)
            .unwrap();
        for policy in [Policy::Manual, Policy::Opportunistic] {
            assert!(
                !alice.plaintext_allowed("bob", policy),
                "no /msg in plaintext"
            );
            let (out, fx) = alice.send_to("bob", "typed", policy);
            assert_eq!(out, Outgoing::Hold, "never plaintext");
            assert!(fx.inject.is_empty());
            assert!(matches!(
                fx.notices.as_slice(),
                [Notice::Unrestorable { unsent: Some(t), .. }] if t == "typed"
            ));
        }
        let (_, _, fx) = alice.receive_as("bob", &["?S1Dsomething".to_owned()]);
        assert!(matches!(
            fx.notices.as_slice(),
            [Notice::Unrestorable { .. }]
        ));
        // Plaintext is shown, with the warning every plaintext line in a conversation the user
        // expects encrypted gets (and so as one flat line): it used to pass with no word.
        let (_, events, _) = alice.receive_as("bob", &["<b>it's me</b>".to_owned()]);
        assert_eq!(events, [Event::PlaintextWhileEncrypted]);
        let row = alice
            .store()
            .load_session(&k.protocol, &k.account, &k.peer)
            .unwrap()
            .unwrap();
        assert_eq!(row.to_vec(), damaged, "the row is kept as it was");
        // The user decides: a new start replaces it, and so does `/sotto stop` (which leaves a
        // conversation in plaintext with no event: the row used to stay, held again after a
        // restart, although the notice says stop allows plaintext).
        if start {
            assert_eq!(alice.start().len(), 1);
        } else {
            alice.stop();
            alice.sessions.drop_memory();
            assert!(
                alice.plaintext_allowed("bob", Policy::Manual),
                "after a restart"
            );
        }
        let row = alice
            .store()
            .load_session(&k.protocol, &k.account, &k.peer)
            .unwrap()
            .unwrap();
        assert_ne!(row.to_vec(), damaged, "start: {start}");
    }
}

/// Plaintext while encrypted, in a call whose save fails (here the tick before it lapsed a
/// re-key of ours, so the conversation changed): the save's failure rolls back what the line
/// changed, but the line is still shown, and so still with its warning (it used to be dropped
/// with the other events: raw markup, no word).
#[test]
fn plaintext_while_encrypted_keeps_its_warning_when_the_save_fails() {
    let (mut alice, _bob) = encrypted("plain-unsaved");
    assert_eq!(alice.start().len(), 1, "a re-key of ours");
    alice.store().fail_writes(true);
    let key = alice.key.clone();
    let later = Settings {
        now_secs: HANDSHAKE_TIMEOUT_SECS + 10,
        ..settings(Policy::Manual)
    };
    let (action, fx) = alice
        .sessions
        .incoming(&key, "bob", "<b>plain</b>", &later, &mut alice.rng)
        .expect("incoming");
    assert_eq!(action, ReceiveAction::PassThrough);
    assert_not_saved(&fx);
    assert!(
        fx.events.contains(&Event::PlaintextWhileEncrypted),
        "{:?}",
        fx.events
    );
}

/// An IRC bouncer (ZNC) plays back what came while the client was away with its time in
/// front (`[12:34:56] `: libpurple does not ask for `server-time`). The line is read: it used
/// to be taken for a line the service changed ("changed on the way"), not shown, and lost.
#[test]
fn a_line_a_bouncer_plays_back_with_its_time_in_front_is_read() {
    let (mut alice, mut bob) = encrypted("bouncer");
    let lines: Vec<String> = lines_of(bob.send("while you were away").0)
        .into_iter()
        .map(|l| format!("[12:34:56] {l}"))
        .collect();
    let (inject, events, shown) = alice.receive("bob", &lines);
    assert_eq!(shown, ["while you were away"], "{events:?}");
    assert!(inject.is_empty() && events.is_empty(), "{events:?}");
}

#[test]
fn a_message_shown_while_unsaved_is_not_shown_again_on_replay() {
    let (mut alice, mut bob) = encrypted("replay");
    let msg = lines_of(bob.send("only once").0);
    alice.store().fail_writes(true);
    assert_eq!(alice.receive("bob", &msg).2, vec!["only once".to_owned()]);
    let (inject, events, shown) = alice.receive("bob", &msg);
    assert!(
        shown.is_empty() && inject.is_empty() && events.is_empty(),
        "{events:?}"
    );
}

#[test]
fn ending_a_conversation_forgets_that_the_peer_runs_sotto() {
    let (mut alice, _bob) = encrypted("forget");
    let k = alice.key.clone();
    assert!(alice
        .store()
        .peer_runs_sotto(&k.protocol, &k.account, &k.peer)
        .unwrap());
    alice
        .sessions
        .start_or_stop(&k, "bob", &settings(Policy::Manual), false, &mut alice.rng)
        .expect("stop");
    assert!(!alice
        .store()
        .peer_runs_sotto(&k.protocol, &k.account, &k.peer)
        .unwrap());
    assert_eq!(
        alice.send_to("bob", "plain now", Policy::Opportunistic).0,
        Outgoing::Plaintext
    );
}

/// Sotto unloaded while running (disabled in Tools > Plugins, to load a new build): the
/// session ends as at a stop (the contact gets its end line), but the unload is not the user's
/// stop. That the contact runs Sotto stays, so under `opportunistic` the first text after the
/// next load starts a new session and waits for it. The unload counted as a stop, and that
/// text went in plaintext (found by a hostile review).
#[test]
fn an_unload_ends_the_session_and_keeps_that_the_peer_runs_sotto() {
    let (mut alice, mut bob) = encrypted("unload");
    let k = alice.key.clone();
    let fx = alice
        .sessions
        .end_at_unload(&k, "bob", &settings(Policy::Opportunistic), &mut alice.rng)
        .expect("ended");
    assert!(
        fx.events.contains(&Event::Ended { by_peer: false }),
        "{:?}",
        fx.events
    );
    let (_, events, _) = bob.receive("alice", &fx.inject);
    assert!(
        events.contains(&Event::Ended { by_peer: true }),
        "bob told: {events:?}"
    );
    assert!(alice
        .store()
        .peer_runs_sotto(&k.protocol, &k.account, &k.peer)
        .unwrap());
    // The next load.
    alice.sessions.drop_memory();
    let (out, fx) = alice.send_to("bob", "after the reload", Policy::Opportunistic);
    assert_eq!(out, Outgoing::Hold, "held for the new session");
    assert!(
        fx.inject.iter().any(|l| l.starts_with("?S1I")),
        "a start went: {:?}",
        fx.inject
    );
}

/// The stop and the forgetting that the contact runs Sotto are one commit. They were two: a
/// kill between them (here: the second write refused) left the stop saved and the mark on
/// disk, and after a restart the store's mark (which decides) had the next text held and a
/// start sent to a contact the user had just stopped with (found by a review of the store).
/// Now the stop is saved whole or not at all (the user told so); saved, it lasts a restart.
#[test]
fn a_stop_and_forgetting_that_the_peer_runs_sotto_are_one_commit() {
    let (mut alice, _bob) = encrypted("forget-one-commit");
    let k = alice.key.clone();
    let runs = |alice: &Peer| {
        alice
            .store()
            .peer_runs_sotto(&k.protocol, &k.account, &k.peer)
            .unwrap()
    };
    alice.store().execute_raw(
        "CREATE TEMP TRIGGER killed BEFORE UPDATE ON peer \
         BEGIN SELECT RAISE(ABORT, 'test: killed before the second write'); END",
    );
    let fx = alice
        .sessions
        .start_or_stop(&k, "bob", &settings(Policy::Manual), false, &mut alice.rng)
        .expect("stop");
    alice.store().execute_raw("DROP TRIGGER killed");
    alice.sessions.drop_memory();
    let state = alice
        .sessions
        .state(&k, "bob", &settings(Policy::Opportunistic));
    assert!(
        state == Some(ConvState::Encrypted) && runs(&alice),
        "half a stop on disk: {state:?}, runs Sotto: {}",
        runs(&alice)
    );
    assert_not_saved(&fx);
    alice
        .sessions
        .start_or_stop(&k, "bob", &settings(Policy::Manual), false, &mut alice.rng)
        .expect("stop");
    alice.sessions.drop_memory();
    assert!(!runs(&alice));
    assert_eq!(
        alice.send_to("bob", "plain now", Policy::Opportunistic).0,
        Outgoing::Plaintext
    );
}

#[test]
fn no_store_says_why() {
    let s = Sessions::new(Err("another program is using Sotto's keys".into()));
    assert_eq!(
        s.unavailable(),
        Some("another program is using Sotto's keys")
    );
}

/// alice sends bob a message, backs her store up, sends another, then restores the backup:
/// the two messages' lines (both read by bob).
fn restore_a_backup(alice: &mut Peer, bob: &mut Peer) -> (Vec<String>, Vec<String>) {
    restore_a_backup_as(alice, bob, Backup::Current)
}

/// What a restore brings back.
#[derive(Clone, Copy, Debug)]
enum Backup {
    /// The database as this version saved it, `sotto.generation` left as it is.
    Current,
    /// The database as an older Sotto (schema 2: no generations, no holders) left it.
    BeforeGenerations,
    /// The database alone, copied into a profile without `sotto.generation` (a new machine,
    /// a fresh profile): another file than the one it was last opened as.
    WithoutGenerationFile,
    /// The same, into a file made anew where the old one was deleted (`rm -rf`, then the
    /// restore): ext4 gives it the old inode number, not the old birth time.
    IntoARecreatedFile,
    /// The same, from a backup taken before the database recorded its file.
    BeforeTheFileWasRecorded,
}

/// The same, with the backup as `how` says.
fn restore_a_backup_as(
    alice: &mut Peer,
    bob: &mut Peer,
    how: Backup,
) -> (Vec<String>, Vec<String>) {
    let first = lines_of(alice.send("before the backup").0);
    bob.receive("alice", &first);
    let db = alice.dir.join(crate::store::DB_FILE);
    alice.sessions = Sessions::new(Err("closed for the copy".into()));
    let backup = if matches!(how, Backup::BeforeGenerations) {
        let copy = alice.dir.join("backup.db");
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute("VACUUM INTO ?1", [copy.to_str().unwrap()])
            .unwrap();
        let old = rusqlite::Connection::open(&copy).unwrap();
        old.execute_batch(
            "DROP TABLE holder; DROP TABLE meta;
             ALTER TABLE session DROP COLUMN needs_rekey;
             PRAGMA user_version = 2;",
        )
        .unwrap();
        std::fs::read(&copy).unwrap()
    } else {
        std::fs::read(&db).unwrap()
    };
    alice.sessions = Sessions::new(Ok(Store::open(&alice.dir).unwrap()));
    let after = lines_of(alice.send("after the backup").0);
    bob.receive("alice", &after);
    alice.sessions = Sessions::new(Err("closed for the restore".into()));
    let record = alice.dir.join(crate::store::GENERATION_FILE);
    match how {
        Backup::Current | Backup::BeforeGenerations => std::fs::write(&db, &backup).unwrap(),
        Backup::WithoutGenerationFile | Backup::BeforeTheFileWasRecorded => {
            // A new file (written beside, then renamed over: never the old one's inode).
            let copy = alice.dir.join("copied.db");
            std::fs::write(&copy, &backup).unwrap();
            if matches!(how, Backup::BeforeTheFileWasRecorded) {
                let c = rusqlite::Connection::open(&copy).unwrap();
                c.execute("DELETE FROM meta WHERE key IN ('copy', 'born')", [])
                    .unwrap();
            }
            std::fs::rename(&copy, &db).unwrap();
            std::fs::remove_file(&record).unwrap();
        }
        Backup::IntoARecreatedFile => {
            std::fs::remove_file(&db).unwrap();
            std::fs::remove_file(&record).unwrap();
            std::fs::write(&db, &backup).unwrap();
        }
    }
    alice.sessions = Sessions::new(Ok(Store::open(&alice.dir).unwrap()));
    (first, after)
}

/// Also a backup taken before the store counted its saves (schema 2, no incarnation): its
/// migration draws a new incarnation, which must not pass for a new database. And the database
/// alone, copied into a profile without `sotto.generation` (it passed for a database that had
/// never been restored: its keys were used again; found by a read-only audit), also into a
/// file made anew with the old one's inode number, and from before the database recorded its
/// file (found by a hostile review of the first fix).
#[test]
fn a_store_restored_from_a_backup_never_reuses_a_message_key() {
    for how in [
        Backup::Current,
        Backup::BeforeGenerations,
        Backup::WithoutGenerationFile,
        Backup::IntoARecreatedFile,
        Backup::BeforeTheFileWasRecorded,
    ] {
        restored_backup_never_reuses_a_message_key(how);
    }
}

fn restored_backup_never_reuses_a_message_key(how: Backup) {
    let (mut alice, mut bob) = encrypted(&format!("backup-{how:?}"));
    let (first, sent_after_backup) = restore_a_backup_as(&mut alice, &mut bob, how);
    // The restored conversation does not encrypt from its old keys: it holds, says why, and
    // starts a new handshake. Nor does IRC's `/msg` go around it in plaintext.
    assert!(!alice.plaintext_allowed("bob", Policy::Manual));
    let (out, fx) = alice.send_to("bob", "after the restore", Policy::Manual);
    assert_eq!(out, Outgoing::Hold);
    assert!(
        fx.notices.contains(&Notice::RestoredBackup),
        "{:?}",
        fx.notices
    );
    assert!(
        key_ids(&fx.inject).is_empty(),
        "no data line from restored keys"
    );
    // The handshake runs; alice's held message goes out in the new session, and bob reads it.
    let mut from_alice = fx.inject;
    let mut all_from_alice = first;
    all_from_alice.extend(sent_after_backup);
    let mut shown = Vec::new();
    while !from_alice.is_empty() {
        all_from_alice.extend(from_alice.clone());
        let (to_alice, _, s) = bob.receive("alice", &from_alice);
        shown.extend(s);
        from_alice = alice.receive("bob", &to_alice).0;
    }
    assert_eq!(shown, vec!["after the restore".to_owned()]);
    let ids = key_ids(&all_from_alice);
    let distinct: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "a message key on the wire twice");
    assert!(ids.len() >= 3);
}

/// A restored backup's conversation saved before its new session is up (bob's line from the
/// session alice's copy lost cannot be read; that changes what alice holds, so it is saved)
/// still waits for that session after a restart: it used to load as an ordinary plaintext
/// conversation, and under `manual` the next line left unencrypted. Once the new session is up,
/// a restart keeps it.
#[test]
fn a_restored_backup_still_waits_for_a_new_session_after_a_save_and_a_restart() {
    let (mut alice, mut bob) = encrypted("backup-saved");
    restore_a_backup(&mut alice, &mut bob);
    let from_bob = lines_of(bob.send("bob, unaware of the restore").0);
    let (_, events, _) = alice.receive("bob", &from_bob);
    assert!(
        events.iter().any(|e| matches!(e, Event::Unreadable { .. })),
        "{events:?}"
    );
    alice.sessions.drop_memory();
    assert!(!alice.plaintext_allowed("bob", Policy::Manual));
    let (out, fx) = alice.send_to("bob", "after the restart", Policy::Manual);
    assert_eq!(out, Outgoing::Hold);
    assert!(key_ids(&fx.inject).is_empty(), "no data line");
    let mut from_alice = fx.inject;
    let mut shown = Vec::new();
    while !from_alice.is_empty() {
        let (to_alice, _, s) = bob.receive("alice", &from_alice);
        shown.extend(s);
        from_alice = alice.receive("bob", &to_alice).0;
    }
    assert_eq!(shown, vec!["after the restart".to_owned()]);
    alice.sessions.drop_memory();
    let (out, _) = alice.send_to("bob", "in the new session", Policy::Manual);
    assert_eq!(
        key_ids(&lines_of(out)).len(),
        1,
        "the new session survives a restart"
    );
}

/// alice's store restored from a backup: bob's conversation waits for a new session. Renamed,
/// it still marks the old name (it used to count as plaintext there, and `/msg bob` went out
/// unencrypted); `/sotto stop` is a way out that lasts: the row with the used keys is deleted,
/// and plaintext is allowed, also after a restart.
#[test]
fn a_restored_backup_conversation_marks_a_name_it_leaves_and_stop_releases_it() {
    let (mut alice, mut bob) = encrypted("backup-rename");
    restore_a_backup(&mut alice, &mut bob);

    let (old, new) = (alice.key_for("bob"), alice.key_for("bob_away"));
    alice
        .sessions
        .rename(&old, &new, "bob_away", &settings(Policy::Manual))
        .expect("moved")
        .expect("saved");
    assert!(
        !alice.plaintext_allowed("bob", Policy::Manual),
        "the old name"
    );
    assert!(
        !alice.plaintext_allowed("bob_away", Policy::Manual),
        "the new"
    );

    // The user allows plaintext to bob_away: held no more, and the used keys are gone.
    alice
        .sessions
        .start_or_stop(
            &new,
            "bob_away",
            &settings(Policy::Manual),
            false,
            &mut alice.rng,
        )
        .expect("stop");
    assert!(alice.plaintext_allowed("bob_away", Policy::Manual));
    assert!(alice
        .store()
        .load_session("prpl-test", "alice", "bob_away")
        .unwrap()
        .is_none());
    alice.sessions.drop_memory();
    assert!(
        alice.plaintext_allowed("bob_away", Policy::Manual),
        "after a restart"
    );
    assert!(
        !alice.plaintext_allowed("bob", Policy::Manual),
        "bob is still marked"
    );
}

/// Right after a restart (nothing loaded yet), `/sotto stop` on a restored backup's
/// conversation releases it at once (it used to take a second `/sotto stop`).
#[test]
fn stop_releases_a_restored_backup_right_after_a_restart() {
    let (mut alice, mut bob) = encrypted("backup-stop");
    restore_a_backup(&mut alice, &mut bob);
    alice.stop();
    assert!(alice.plaintext_allowed("bob", Policy::Manual));
    assert_eq!(
        alice.send_to("bob", "plain now", Policy::Manual).0,
        Outgoing::Plaintext
    );
}

/// The store's database and write-ahead log, byte for byte (a commit lands in the log, the
/// database file only at a checkpoint).
fn store_files(p: &Peer) -> Vec<Option<Vec<u8>>> {
    let db = crate::store::DB_FILE;
    [db.to_owned(), format!("{db}-wal")]
        .iter()
        .map(|f| std::fs::read(p.dir.join(f)).ok())
        .collect()
}

/// Names never talked to send garbage: malformed lines, error notices, a newer version's
/// lines and data lines of a session they have not (each a "could not be read" for the user).
/// Nothing is saved for them (no row; the database and its log untouched), nothing can fail to
/// be saved (no "not saved" notice, which opens a window, on a read-only disk), and the
/// automatic not-read replies go at most NOT_READ_NOTICES times per 30 seconds per name,
/// not once per line. (Names the host knows, here: a window open with each. Others'
/// lines are dropped unread past the account's budget for strangers:
/// `an_account_sends_few_lines_to_strangers_in_a_while`.)
#[test]
fn garbage_from_a_name_never_talked_to_writes_nothing() {
    let (mut alice, mut bob) = encrypted("stranger");
    let data = lines_of(bob.send("for alice, in a session mallory has not").0);
    let garbage = [
        "?S1Dxx".to_owned(),
        "?S1E something went wrong".to_owned(),
        "?S2Dfrom a newer Sotto".to_owned(),
        data[0].clone(),
    ];
    alice.sessions.sync();
    alice.sessions.checkpoint();
    let before = store_files(&alice);
    assert!(before.iter().all(Option::is_some), "both files exist");
    for (stranger, read_only) in [("mallory", false), ("trudy", true)] {
        alice.store().fail_writes(read_only);
        let key = alice.key_for(stranger);
        let (mut replies, mut unreadable) = (0, 0);
        for i in 0..1000u64 {
            let now = Settings {
                now_secs: 1_000_000 + i,
                ..settings(Policy::Manual)
            };
            let line = &garbage[(i % 4) as usize];
            alice.sessions.familiar(&key);
            let (_, fx) = alice
                .sessions
                .incoming(&key, stranger, line, &now, &mut alice.rng)
                .expect("incoming");
            assert!(
                fx.notices.is_empty(),
                "{stranger}: {line}: {:?}",
                fx.notices
            );
            replies += fx.inject.iter().filter(|l| l.starts_with("?S1E")).count();
            unreadable += fx
                .events
                .iter()
                .filter(|e| matches!(e, Event::Unreadable { .. }))
                .count();
        }
        assert!(
            unreadable >= 750,
            "{stranger}: each line reported ({unreadable})"
        );
        assert!(
            (1..=(1000 / 30 + 1) * crate::protocol::NOT_READ_NOTICES as usize).contains(&replies),
            "{stranger}: {replies} not-read replies to 250 data lines over 1000 s"
        );
        let k = &key;
        assert!(
            alice
                .store()
                .load_session(&k.protocol, &k.account, &k.peer)
                .unwrap()
                .is_none(),
            "{stranger}: no row"
        );
    }
    alice.store().fail_writes(false);
    assert!(!alice.sessions.needs_sync(), "nothing committed unsynced");
    assert!(
        store_files(&alice) == before,
        "the store's files were written"
    );
}

/// Under `opportunistic`, a handshake to a contact known to run Sotto (who no longer does)
/// expires, and the user says `/sotto stop` in what is now plaintext: "runs Sotto" is forgotten
/// in memory and in the store, so after a restart what is typed goes in plaintext again (no
/// more `?S1I`). Held text is handed back unsent, as any stop does. Also when nothing was held
/// (the expiry saved the conversation with the flag set, and the stop changes nothing else).
#[test]
fn stop_in_plaintext_forgets_that_the_peer_runs_sotto_also_after_a_restart() {
    for held in [true, false] {
        let mut alice = peer("stop-plain", "alice", "bob", 31);
        let k = alice.key.clone();
        assert!(alice.sessions.identity(&k.protocol, &k.account).is_some());
        alice
            .store()
            .set_peer_runs_sotto(&k.protocol, &k.account, &k.peer)
            .unwrap();
        let at = |t: u64| Settings {
            now_secs: t,
            ..settings(Policy::Opportunistic)
        };
        let inject = if held {
            let (out, fx) = alice
                .sessions
                .outgoing(&k, "bob", "typed", &at(0), &mut alice.rng)
                .expect("outgoing");
            assert_eq!(out, Outgoing::Hold);
            fx.inject
        } else {
            alice
                .sessions
                .start_or_stop(&k, "bob", &at(0), true, &mut alice.rng)
                .expect("start")
                .inject
        };
        assert!(inject.iter().any(|l| l.starts_with("?S1I")), "{inject:?}");
        // The handshake expires (plaintext from bob arrives two hours later).
        let later = at(2 * 3600);
        alice
            .sessions
            .incoming(&k, "bob", "hello, I uninstalled it", &later, &mut alice.rng)
            .expect("incoming");
        assert_eq!(
            alice.sessions.state(&k, "bob", &later),
            Some(ConvState::Plaintext)
        );
        let fx = alice
            .sessions
            .start_or_stop(&k, "bob", &later, false, &mut alice.rng)
            .expect("stop");
        let unsent: Vec<&Event> = fx
            .events
            .iter()
            .filter(|e| matches!(e, Event::Unsent { .. }))
            .collect();
        assert_eq!(
            unsent.len(),
            usize::from(held),
            "held: {held}: {:?}",
            fx.events
        );
        assert!(fx.inject.is_empty(), "held: {held}: {:?}", fx.inject);
        assert!(
            !alice
                .store()
                .peer_runs_sotto(&k.protocol, &k.account, &k.peer)
                .unwrap(),
            "held: {held}: forgotten in the store"
        );
        assert!(alice.plaintext_allowed("bob", Policy::Opportunistic));
        alice.sessions.drop_memory();
        assert!(
            alice.plaintext_allowed("bob", Policy::Opportunistic),
            "held: {held}: after a restart"
        );
        let (out, fx) = alice
            .sessions
            .outgoing(&k, "bob", "plain now", &at(2 * 3600 + 1), &mut alice.rng)
            .expect("outgoing");
        assert_eq!(out, Outgoing::Plaintext, "held: {held}: {:?}", fx.inject);
        assert!(fx.inject.is_empty());
    }
}

/// `/sotto start` under `manual`, nothing typed, nobody answers: once the start lapsed, what
/// the user types is held and a new start goes out (no line in plaintext), in this run and
/// after a restart, and `/msg` is refused; `/sotto stop` makes plaintext the user's again.
#[test]
fn a_start_that_lapsed_holds_the_next_line_in_this_run_and_after_a_restart() {
    for restart in [false, true] {
        let mut alice = peer(&format!("lapsed-{restart}"), "alice", "bob", 32);
        let k = alice.key.clone();
        let at = |t: u64| Settings {
            now_secs: t,
            ..settings(Policy::Manual)
        };
        let fx = alice
            .sessions
            .start_or_stop(&k, "bob", &at(0), true, &mut alice.rng)
            .expect("start");
        assert_eq!(fx.inject.len(), 1);
        let later = at(2 * HANDSHAKE_TIMEOUT_SECS);
        alice
            .sessions
            .incoming(&k, "bob", "plain chatter", &later, &mut alice.rng)
            .expect("incoming");
        if restart {
            alice.sessions.drop_memory();
        }
        assert!(!alice.sessions.plaintext_allowed(&k, "bob", &later));
        assert_eq!(alice.sessions.start_lapsed(&k, "bob", &later), Some(true));
        let (out, fx) = alice
            .sessions
            .outgoing(&k, "bob", "a secret", &later, &mut alice.rng)
            .expect("outgoing");
        assert_eq!(out, Outgoing::Hold, "restart: {restart}");
        assert!(
            fx.inject.iter().all(|l| l.starts_with("?S1")) && fx.inject.len() == 1,
            "a new start only: {:?}",
            fx.inject
        );
        alice.stop();
        assert_eq!(alice.sessions.start_lapsed(&k, "bob", &later), Some(false));
        let (out, _) = alice
            .sessions
            .outgoing(&k, "bob", "plain now", &later, &mut alice.rng)
            .expect("outgoing");
        assert_eq!(out, Outgoing::Plaintext, "restart: {restart}");
    }
}

/// A name never talked to sends the same client's start again every 100 s, and a piece each
/// time: each start is answered (and each answer gets its full wait to be confirmed, as an
/// honest repeat needs), so the name is never blank, and it kept the pieces its answered start
/// let in, up to the whole fragment budget, for as long as it kept that up (found by a
/// read-only audit). Its pieces go once the first answer to that client is older than a
/// handshake may wait; the handshake itself still waits.
#[test]
fn a_repeated_start_keeps_a_handshake_waiting_but_not_its_pieces() {
    let (mut alice, _bob) = encrypted("restart");
    let t0 = 1_000_000;
    let key = alice.key_for("repeater");
    let mut seed = alice.rng.clone();
    let incoming = |alice: &mut Peer, line: &str, now_secs: u64| {
        let at = Settings {
            now_secs,
            ..settings(Policy::Manual)
        };
        alice
            .sessions
            .incoming(&key, "repeater", line, &at, &mut alice.rng)
            .expect("incoming");
    };
    let buffered = |alice: &Peer| {
        alice
            .sessions
            .sessions
            .get(&alice.key_for("repeater"))
            .map(|s| s.conv.fragments_buffered())
    };
    // The same client's start (one tag), again every 100 s, and a new piece each time.
    for round in 0..4u16 {
        let now = t0 + u64::from(round) * 100;
        let (_, init) = crate::protocol::handshake::Initiator::start(0x5157, &mut seed);
        incoming(
            &mut alice,
            &crate::protocol::wire::WireMessage::Init(init).encode(),
            now,
        );
        let piece = crate::protocol::wire::WireMessage::Fragment(crate::protocol::wire::Fragment {
            id: 7,
            index: round,
            total: 4095,
            chunk: "x".repeat(100),
        })
        .encode();
        incoming(&mut alice, &piece, now);
        assert!(
            buffered(&alice).is_some_and(|n| n > 0),
            "round {round}: kept"
        );
        alice.sessions.sweep(now + 50);
        let first_lapsed = now + 50 - t0 > crate::protocol::session::HANDSHAKE_TIMEOUT_SECS;
        let kept = buffered(&alice).expect("the name stays: its latest start waits");
        assert_eq!(
            kept > 0,
            !first_lapsed,
            "round {round}: pieces kept only until the first answer is older than a handshake \
             may wait ({kept})"
        );
    }
}

/// Piece `index` of a partial line `id` that claims 4,095 pieces.
fn piece_of_a_long_line(id: u32, index: u16) -> String {
    crate::protocol::wire::WireMessage::Fragment(crate::protocol::wire::Fragment {
        id,
        index,
        total: 4095,
        chunk: "x".repeat(100),
    })
    .encode()
}

/// A name whose key is kept but that has nothing to read a line with (a stranger's forgotten
/// conversation, a contact whose row is gone) keeps no pieces of long lines: its key reads
/// nothing without a session, and every stranger whose handshake completed leaves such a
/// name. Each kept up to about 0.9 MB of a server's pieces, for up to an hour (found by a
/// read-only review). The first piece of a data line is still answered with a not-read notice.
#[test]
fn a_name_with_a_kept_key_and_nothing_to_read_with_keeps_no_pieces() {
    let (mut alice, _bob) = encrypted("kept-key-pieces");
    let key = IdentityKey::generate(&mut alice.rng).public();
    alice
        .store()
        .record_key_seen("prpl-test", "alice", "keyed", &key)
        .unwrap();
    let now = 1_000_000;
    let at = Settings {
        now_secs: now,
        ..settings(Policy::Manual)
    };
    for id in 0..8u32 {
        let piece = piece_of_a_long_line(id, 1);
        let out = alice.sessions.incoming(
            &alice.key_for("keyed"),
            "keyed",
            &piece,
            &at,
            &mut alice.rng,
        );
        assert!(matches!(out, Some((ReceiveAction::Swallow, _))));
    }
    let s = &alice.sessions.sessions[&alice.key_for("keyed")];
    assert!(
        !s.conv.known_peer_keys().is_empty(),
        "the name's key is loaded"
    );
    alice.sessions.sweep(now + 10);
    assert!(
        !alice
            .sessions
            .sessions
            .contains_key(&alice.key_for("keyed")),
        "no pieces kept: the name is let go"
    );
}

/// Names a hostile server writes from do not stay in memory: after the sweep (the checkpoint
/// timer's), a name that sent only garbage, or pieces of lines (from a name never talked to,
/// pieces are not even kept), is gone, while an encrypted conversation and one holding typed
/// text stay. (Pieces kept from a contact expire: `fragment` tests.)
#[test]
fn the_sweep_lets_go_of_names_that_hold_nothing() {
    let (mut alice, _bob) = encrypted("sweep");
    let at = |now_secs| Settings {
        now_secs,
        ..settings(Policy::Manual)
    };
    let t0 = 1_000_000;
    let incoming = |alice: &mut Peer, name: &str, line: &str, now: u64| {
        let key = alice.key_for(name);
        alice
            .sessions
            .incoming(&key, name, line, &at(now), &mut alice.rng)
            .expect("incoming");
    };
    incoming(&mut alice, "garbage", "?S1Dxx", t0);
    // Eight partial lines, each claiming 4,095 pieces.
    for id in 0..8u32 {
        let piece = piece_of_a_long_line(id, 0);
        incoming(&mut alice, "pieces", &piece, t0);
    }
    for (name, policy, expected) in [
        ("plain", Policy::Manual, Outgoing::Plaintext),
        ("held", Policy::Always, Outgoing::Hold),
    ] {
        let (out, _) = alice
            .sessions
            .outgoing(
                &alice.key_for(name),
                name,
                "typed",
                &Settings {
                    now_secs: t0,
                    ..settings(policy)
                },
                &mut alice.rng,
            )
            .expect("outgoing");
        assert_eq!(out, expected, "{name}");
    }
    // Starts from names never talked to, never finished: answered (a handshake waits).
    let query = crate::protocol::wire::WireMessage::Query.encode();
    incoming(&mut alice, "query", &query, t0);
    let (_, init) = crate::protocol::handshake::Initiator::start(0x5157, &mut alice.rng.clone());
    let init = crate::protocol::wire::WireMessage::Init(init).encode();
    incoming(&mut alice, "init", &init, t0);
    let rows = |alice: &Peer, name: &str| {
        alice
            .store()
            .load_session("prpl-test", "alice", name)
            .unwrap()
            .is_some()
    };
    let loaded =
        |alice: &Peer, name: &str| alice.sessions.sessions.contains_key(&alice.key_for(name));
    assert!(loaded(&alice, "garbage") && loaded(&alice, "pieces"));
    assert!(loaded(&alice, "query") && loaded(&alice, "init"));
    assert!(
        !rows(&alice, "query") && !rows(&alice, "init"),
        "nothing saved for them"
    );
    alice.sessions.sweep(t0 + 10);
    assert!(!loaded(&alice, "garbage"), "garbage only: let go");
    assert!(!loaded(&alice, "plain"), "plaintext chatter: let go");
    assert!(loaded(&alice, "held"), "held text stays");
    assert!(
        !loaded(&alice, "pieces"),
        "pieces from a name never talked to are not kept: let go"
    );
    assert!(loaded(&alice, "bob"), "the encrypted conversation stays");
    // The unanswered start let "init"'s pieces in; once it lapses, the pieces go with the
    // name, however fresh (they kept it, and its fragment budget, as long as they grew).
    let piece = piece_of_a_long_line(9, 0);
    incoming(&mut alice, "init", &piece, t0 + 100);
    alice.sessions.sweep(t0 + 250);
    assert!(
        !loaded(&alice, "init"),
        "a lapsed start's name lets go of its pieces, and goes"
    );
    alice.sessions.sweep(t0 + 10_000);
    for name in ["query", "init"] {
        assert!(
            !loaded(&alice, name),
            "{name}: an unanswered start expires, then the name goes"
        );
        assert!(!rows(&alice, name), "{name}: no row left");
    }
    assert!(loaded(&alice, "bob"));
    // And the encrypted conversation still works after the sweep.
    let (out, _) = alice.send("after the sweep");
    assert!(matches!(out, Outgoing::Lines(_)));
}

/// A line received while its conversation cannot be saved is not taken in (rolled back, the
/// user told): the caller is told so, and the same line once the store works is read.
#[test]
fn a_line_that_could_not_be_saved_is_read_when_it_comes_again() {
    let (mut alice, _bob) = encrypted("not-taken");
    let mut carol = peer("not-taken", "carol", "alice", 21);
    // alice asks carol; carol's start (`?S1I`) is the line alice must save a handshake for.
    let key = alice.key_for("carol");
    let query = alice
        .sessions
        .start_or_stop(
            &key,
            "carol",
            &settings(Policy::Manual),
            true,
            &mut alice.rng,
        )
        .expect("start")
        .inject;
    let (start, _, _) = carol.receive("alice", &query);
    let receive = |alice: &mut Peer| {
        let mut taken = (Vec::new(), false);
        for line in &start {
            let (_, fx) = alice
                .sessions
                .incoming(
                    &key,
                    "carol",
                    line,
                    &settings(Policy::Manual),
                    &mut alice.rng,
                )
                .expect("incoming");
            taken.0.extend(fx.inject);
            taken.1 |= fx.not_taken;
        }
        taken
    };
    alice.store().fail_writes(true);
    let (answer, not_taken) = receive(&mut alice);
    assert!(not_taken, "the caller is told the line was not taken in");
    assert!(answer.is_empty(), "nothing answered from an unsaved state");
    alice.store().fail_writes(false);
    let (answer, not_taken) = receive(&mut alice);
    assert!(!not_taken);
    assert!(!answer.is_empty(), "read and answered the second time");
}

/// bob's client lost its store (a reinstall) while alice's session with it goes on: alice's
/// long message comes in pieces, which a name with nothing here does not keep, but its first
/// piece is answered with a not-read notice, as the whole line would be, so alice learns it
/// was not read (and which message) and can start again.
#[test]
fn the_first_piece_to_a_client_that_lost_its_store_is_answered_not_read() {
    let (mut alice, _bob) = encrypted("lost-store-pieces");
    let mut bob = peer("lost-store-pieces-new", "bob", "alice", 9);
    let long = "a long walrus message ".repeat(20);
    let key = alice.key.clone();
    let (out, _) = alice
        .sessions
        .outgoing(
            &key,
            "bob",
            &long,
            &Settings {
                max_line: 120,
                ..settings(Policy::Manual)
            },
            &mut alice.rng,
        )
        .expect("outgoing");
    let pieces = lines_of(out);
    assert!(pieces.len() > 2 && pieces.iter().all(|p| p.starts_with("?S1P")));
    let (answers, _, shown) = bob.receive("alice", &pieces);
    assert!(shown.is_empty());
    assert_eq!(answers.len(), 1, "one notice for the message: {answers:?}");
    assert!(answers[0].starts_with("?S1E could not read message "));
    let (_, events, _) = alice.receive("bob", &answers);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::NotRead { text: Some(t), .. } if *t == long)),
        "alice is told which message: {events:?}"
    );
}

/// bob's client lost its state (a fresh profile under his name; alice a buddy, so no
/// stranger's budget) and alice sends a burst of 20
/// in the session it lost: 8 are answered at once, and the host's sweep, which runs between
/// the burst and the end of the notices' interval, keeps the conversation (it holds nothing
/// else: no row, no session) so that the other 12 are named at its next runs. Before, the
/// sweep let the blank conversation go with what it kept (found by a hostile review).
#[test]
fn a_burst_to_a_client_that_lost_its_state_is_named_whole_through_the_sweep() {
    let (mut alice, _bob) = encrypted("burst-lost");
    let mut fresh = peer("burst-lost-fresh", "bob", "alice", 7);
    // (alice sends at 0: her texts are remembered for 10 minutes.)
    let t0 = 100;
    let mut lines = Vec::new();
    for i in 0..20 {
        lines.extend(lines_of(alice.send(&format!("gannet {i}")).0));
    }
    assert_eq!(lines.len(), 20);
    // alice is a buddy of bob's (a name the host knows: no stranger's line budget).
    let key = fresh.key.clone();
    let mut notices = Vec::new();
    for line in &lines {
        fresh.sessions.familiar(&key);
        let (inject, _, shown) = fresh.receive_at("alice", std::slice::from_ref(line), t0);
        assert!(shown.is_empty());
        notices.extend(inject);
    }
    assert_eq!(notices.len(), crate::protocol::NOT_READ_NOTICES as usize);
    fresh.sessions.sweep(t0 + 10);
    assert!(fresh.sessions.incomplete(t0 + 10).is_empty());
    for now in [t0 + 31, t0 + 62] {
        fresh.sessions.sweep(now);
        let listed = fresh.sessions.incomplete(now);
        assert_eq!(listed, [(key.clone(), "alice".to_owned())], "at {now}");
        let at = Settings {
            now_secs: now,
            ..settings(Policy::Manual)
        };
        let fx = fresh
            .sessions
            .act(&key, "alice", &at, &mut fresh.rng, |c, _| {
                c.tell_incomplete(now)
            })
            .expect("act");
        notices.extend(fx.inject);
    }
    assert_eq!(notices.len(), 20, "{notices:?}");
    fresh.sessions.sweep(t0 + 93);
    assert!(fresh.sessions.incomplete(t0 + 93).is_empty());
    // alice is told of each, with its text.
    let (_, events, _) = alice.receive_at("bob", &notices, t0 + 94);
    let named: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::NotRead {
                text: Some(text), ..
            } => Some(text.clone()),
            _ => None,
        })
        .collect();
    let expected: Vec<String> = (0..20).map(|i| format!("gannet {i}")).collect();
    assert_eq!(named, expected);
}

/// alice's long message stops coming halfway (her connection dropped with libpurple still
/// holding its last pieces). With no other line coming, the periodic sweep finds it lost 300 s
/// on (the checkpoint's sweep, run first, keeps it to be told), and telling it, as the host's
/// timer does, shows one line and asks alice's client for the message without writing to
/// disk; alice is told which message was not read, and why. On a transport that keeps the
/// order of one sender's lines, a later line from alice tells it at once.
#[test]
fn a_long_message_that_stops_coming_is_told_by_the_sweep() {
    let (mut alice, mut bob) = encrypted("pieces-sweep");
    let t0 = 1_000_000;
    let at = |now_secs: u64, in_order: bool| Settings {
        now_secs,
        max_line: 120,
        in_order,
        ..settings(Policy::Manual)
    };
    // What `p` sends at `now`, and what it answers and tells of `lines` from its peer.
    let sends = |p: &mut Peer, text: &str, now: u64| {
        let key = p.key.clone();
        let (out, _) = p
            .sessions
            .outgoing(&key, &key.peer, text, &at(now, false), &mut p.rng)
            .expect("outgoing");
        lines_of(out)
    };
    let gets = |p: &mut Peer, lines: &[String], settings: &Settings| {
        let (key, from) = (p.key.clone(), p.key.peer.clone());
        let (mut inject, mut events) = (Vec::new(), Vec::new());
        for line in lines {
            let (_, fx) = p
                .sessions
                .incoming(&key, &from, line, settings, &mut p.rng)
                .expect("incoming");
            inject.extend(fx.inject);
            events.extend(fx.events);
        }
        (inject, events)
    };
    let long = "a long walrus message cut short ".repeat(20);
    let pieces = sends(&mut alice, &long, t0);
    assert!(pieces.len() > 3 && pieces.iter().all(|p| p.starts_with("?S1P")));
    let bob_key = bob.key.clone();
    let (inject, events) = gets(&mut bob, &pieces[..pieces.len() - 2], &at(t0, false));
    assert!(inject.is_empty() && events.is_empty());
    assert!(bob.sessions.incomplete(t0 + 10).is_empty());
    let lapse = t0 + crate::protocol::fragment::MAX_AGE_SECS + 1;
    bob.sessions.sweep(lapse);
    let listed = bob.sessions.incomplete(lapse);
    assert_eq!(listed, [(bob.key.clone(), "alice".to_owned())]);
    bob.sessions.checkpoint();
    let fx = bob
        .sessions
        .act(
            &bob_key,
            "alice",
            &at(lapse, false),
            &mut bob.rng,
            |c, _| c.tell_incomplete(lapse),
        )
        .expect("act");
    assert!(
        !bob.store().written_since_checkpoint(),
        "telling writes nothing"
    );
    assert_eq!(
        fx.events,
        [Event::Unreadable {
            reason: UnreadableReason::Incomplete { asked: true }
        }]
    );
    assert_eq!(fx.inject.len(), 1);
    assert!(
        fx.inject[0].ends_with(" (arrived incomplete)"),
        "{:?}",
        fx.inject
    );
    assert!(bob.sessions.incomplete(lapse + 1).is_empty(), "told once");
    let (_, told) = gets(&mut alice, &fx.inject, &at(lapse, false));
    assert!(
        told.contains(&Event::NotRead {
            text: Some(long.clone()),
            incomplete: true
        }),
        "{told:?}"
    );
    // In order: the next line from alice tells it at once.
    let later = lapse + 100;
    let again = sends(&mut alice, &long, later);
    let (inject, _) = gets(&mut bob, &again[..1], &at(later, true));
    assert!(inject.is_empty());
    let short = sends(&mut alice, "short", later + 1);
    let (inject, events) = gets(&mut bob, &short, &at(later + 1, true));
    assert_eq!(inject.len(), 1, "{inject:?}");
    assert!(events.contains(&Event::Unreadable {
        reason: UnreadableReason::Incomplete { asked: true }
    }));
}

/// IRC: libpurple folds names (every letter, Unicode too, to lower case) where a server may not,
/// so `Élodie` writing into élodie's window can be someone else. Answers (a handshake's too) and
/// the pieces of a long line go to the conversation's own name, never to the spelling the last
/// line came under: they went to whoever wrote last, so a stranger could take the handshake,
/// and all but the last piece of a long message.
#[test]
fn answers_go_to_the_conversations_name_not_the_spelling_a_line_came_under() {
    let mut alice = peer("spelling", "alice", "élodie", 31);
    let mut mallory = peer("spelling-m", "mallory", "alice", 32);
    let irc = Settings {
        addressable: false,
        ..settings(Policy::Manual)
    };
    let key = alice.key.clone();
    // The first line after a restart is the stranger's: with no window open, libpurple opens
    // one under that spelling. Once the user writes to élodie, that is the name.
    let (_, fx) = alice
        .sessions
        .incoming(&key, "Élodie", "hi, it's me", &irc, &mut alice.rng)
        .expect("incoming");
    assert_eq!(fx.reply_to, "Élodie");
    let (_, fx) = alice
        .sessions
        .outgoing(&key, "élodie", "hello", &irc, &mut alice.rng)
        .expect("outgoing");
    assert_eq!(fx.reply_to, "élodie");
    let mut lines = vec!["still me".to_owned()];
    lines.extend(mallory.start());
    let mut answered = 0;
    for line in lines {
        let (_, fx) = alice
            .sessions
            .incoming(&key, "Élodie", &line, &irc, &mut alice.rng)
            .expect("incoming");
        answered += fx.inject.len();
        assert_eq!(fx.reply_to, "élodie", "after {line}");
    }
    assert!(answered > 0, "the start was answered");
    let (_, fx) = alice
        .sessions
        .outgoing(&key, "élodie", &"long ".repeat(200), &irc, &mut alice.rng)
        .expect("outgoing");
    assert_eq!(fx.reply_to, "élodie");
    // Where the transport names each client and vouches for it (XMPP), answers go to the
    // client that wrote.
    let (_, fx) = alice
        .sessions
        .incoming(
            &key,
            "Élodie",
            "plain",
            &settings(Policy::Manual),
            &mut alice.rng,
        )
        .expect("incoming");
    assert_eq!(fx.reply_to, "Élodie");
}

/// The names an RFC 1459 twin check compares a plaintext IRC window with include a contact with
/// a policy of its own and nothing else (set to `always`, never written to, or after a
/// restart): `/msg bob{x}` reached `bob[x]` in plaintext though `bob[x]` keeps plaintext out.
#[test]
fn a_contact_known_only_by_its_policy_is_a_twin_candidate() {
    let alice = peer("policy-twin", "alice", "carol", 33);
    let key = alice.key.clone();
    alice
        .store()
        .set_contact_policy(&key.protocol, &key.account, "bob[x]", Some("always"))
        .unwrap();
    let peers = alice.sessions.known_peers(&key).expect("listed");
    assert!(peers.iter().any(|p| p == "bob[x]"), "{peers:?}");
}

/// A name that writes a query and quits at once is answered (as any name is), and the server
/// says our answer found nobody: no start was asked for here, so the plugin leaves that 401 to
/// libpurple and opens nothing. A start of ours is one, also once it lapsed; a name never
/// talked to is none, and is not loaded to find out.
#[test]
fn only_a_start_asked_for_here_is_one() {
    let mut alice = peer("startasked", "alice", "bob", 21);
    let mallory = alice.key_for("mallory");
    let (answer, _, _) = alice.receive_as("mallory", &[WireMessage::Query.encode()]);
    assert!(answer[0].starts_with("?S1I"), "{answer:?}");
    assert!(!alice.sessions.start_asked(&mallory));
    let nobody = alice.key_for("nobody");
    assert!(!alice.sessions.start_asked(&nobody));
    assert!(!alice.sessions.sessions.contains_key(&nobody), "not loaded");
    assert_eq!(alice.start().len(), 1);
    let bob = alice.key.clone();
    assert!(alice.sessions.start_asked(&bob));
    let lapse = Settings {
        now_secs: HANDSHAKE_TIMEOUT_SECS + 1,
        ..settings(Policy::Manual)
    };
    alice
        .sessions
        .tick(&bob, "bob", &lapse, &mut alice.rng)
        .expect("tick");
    assert!(alice.sessions.start_asked(&bob), "lapsed");
    alice
        .sessions
        .tick(&mallory, "mallory", &lapse, &mut alice.rng)
        .expect("tick");
    assert!(!alice.sessions.start_asked(&mallory));
}

/// Anyone able to write from many names (IRC nicks, an XMPP domain of their own) had each
/// name's Sotto lines answered within that name's own budget: on IRC every answer waits in the account's one
/// rate-limited send queue, ahead of the user's next line. An account sends
/// [`strangers::STRANGER_LINES`] lines per window to names nothing ties to the user; their
/// further Sotto lines are dropped unread (no conversation state, no row). A contact, a name
/// the host knows (an open window, a buddy), plaintext, and the next window are untouched.
#[test]
fn an_account_sends_few_lines_to_strangers_in_a_while() {
    use super::strangers::{STRANGER_LINES, STRANGER_WINDOW_SECS};
    let (mut alice, mut bob) = encrypted("strangers");
    let query = "?S1Q Sotto end-to-end encryption requested".to_owned();
    let at = |now_secs| Settings {
        now_secs,
        ..settings(Policy::Manual)
    };
    let incoming = |alice: &mut Peer, from: &str, line: &str, now: u64| {
        let key = alice.key_for(from);
        alice
            .sessions
            .incoming(&key, from, line, &at(now), &mut alice.rng)
            .expect("incoming")
    };
    let mut answered = Vec::new();
    for i in 0..12 {
        let from = format!("mallory{i}");
        let (action, fx) = incoming(&mut alice, &from, &query, 5);
        assert_eq!(action, ReceiveAction::Swallow);
        // A line dropped unread is not one read: a copy of it after the window (an XMPP
        // stream resumed, a bouncer's playback) is read then, not dropped as a copy.
        assert_eq!(fx.not_taken, fx.inject.is_empty(), "{from}");
        if !fx.inject.is_empty() {
            answered.push(from);
        }
    }
    let first: Vec<String> = (0..STRANGER_LINES).map(|i| format!("mallory{i}")).collect();
    assert_eq!(answered, first, "the first few, then none");
    // A data line for no session from a stranger: no not-read notice either.
    let data = bob.send("x").1.inject.concat();
    let (_, fx) = incoming(&mut alice, "mallory20", &data, 6);
    assert!(fx.inject.is_empty() && fx.notices.is_empty());
    // Dropped unread: nothing under way for those names, nothing saved.
    for i in STRANGER_LINES..12 {
        let key = alice.key_for(&format!("mallory{i}"));
        assert!(alice
            .sessions
            .sessions
            .get(&key)
            .is_none_or(|s| s.takes_no_pieces()));
        assert!(alice
            .store()
            .load_session(&key.protocol, &key.account, &key.peer)
            .unwrap()
            .is_none());
    }
    // Plaintext from a stranger is shown; the contact is answered, and so is a name the host
    // knows (a plaintext contact with an open window who starts Sotto).
    let (action, _) = incoming(&mut alice, "mallory30", "hello there", 7);
    assert!(matches!(action, ReceiveAction::PassThrough), "{action:?}");
    let (_, fx) = incoming(&mut alice, "bob", &query, 7);
    assert!(!fx.inject.is_empty(), "bob is no stranger");
    alice.sessions.familiar(&alice.key_for("dave"));
    let (_, fx) = incoming(&mut alice, "dave", &query, 7);
    assert!(!fx.inject.is_empty(), "dave is known to the host");
    let (_, fx) = incoming(&mut alice, "erin", &query, 7);
    assert!(
        fx.inject.is_empty(),
        "the host's word was for dave's line only"
    );

    let t0 = 5 + STRANGER_WINDOW_SECS;
    // The next window answers again.
    let (_, fx) = incoming(&mut alice, "mallory11", &query, t0 + STRANGER_WINDOW_SECS);
    assert!(!fx.inject.is_empty());
}

/// Strangers (names nothing ties to the user) who complete a handshake, one in each line
/// budget window, some saying something too: each account keeps the newest
/// `STRANGERS_KEPT` of their conversations, on disk and in memory, with their keys and
/// marks, but one whose window is open; the user's contact and a stranger the user wrote to
/// are kept.
#[test]
fn what_strangers_leave_behind_is_bounded() {
    use super::strangers::{STRANGERS_KEPT, STRANGER_WINDOW_SECS};
    let (mut alice, mut bob) = encrypted("stranger-rows");
    let at = |now_secs| Settings {
        now_secs,
        ..settings(Policy::Manual)
    };
    // Lines `name` wrote, read by alice at `now`: what she showed, and her answers.
    let read = |alice: &mut Peer, name: &str, lines: Vec<String>, now: u64| {
        let key = alice.key_for(name);
        let (mut shown, mut answers) = (Vec::new(), Vec::new());
        for line in lines {
            let (action, fx) = alice
                .sessions
                .incoming(&key, name, &line, &at(now), &mut alice.rng)
                .expect("incoming");
            if let ReceiveAction::Display(t) = action {
                shown.push(t.to_string());
            }
            answers.extend(fx.inject);
        }
        (shown, answers)
    };
    // `m` writes `lines` to alice, who reads them under `name` at `now`, and so on back and
    // forth; `m`'s user starts again when told a line was not read. What alice showed.
    let exchange = |alice: &mut Peer, m: &mut Peer, name: &str, lines: Vec<String>, now: u64| {
        let (mut lines, mut seen) = (lines, Vec::new());
        for _ in 0..8 {
            let (shown, to_m) = read(alice, name, std::mem::take(&mut lines), now);
            seen.extend(shown);
            let (answers, events, _) = m.receive_as("alice", &to_m);
            lines = answers;
            if events
                .iter()
                .any(|e| matches!(e, Event::NotRead { text: Some(_), .. }))
            {
                // What was not read goes with the next session.
                lines.extend(m.start());
            }
        }
        seen
    };
    // The handshake `m` starts, read by alice under `name` at `now`; then `m`'s `words`.
    let complete = |alice: &mut Peer, m: &mut Peer, name: &str, now: u64, words: &[&str]| {
        let start = m.start();
        let mut shown = exchange(alice, m, name, start, now);
        for word in words {
            let (out, _) = m.send(word);
            shown.extend(exchange(alice, m, name, lines_of(out), now));
        }
        shown
    };
    let total = STRANGERS_KEPT + 12;
    let names: Vec<&'static str> = (0..total)
        .map(|i| &*Box::leak(format!("mallory{i}").into_boxed_str()))
        .collect();
    let (mut newest, mut first) = (None, None);
    for (i, name) in names.iter().enumerate() {
        let mut m = peer("stranger-rows", name, "alice", 1000 + i as u64);
        let now = 100 + i as u64 * STRANGER_WINDOW_SECS;
        let words: &[&str] = if i % 2 == 0 { &["buy now"] } else { &[] };
        let shown = complete(&mut alice, &mut m, name, now, words);
        // As the host does after every line: mallory3's window is open.
        if alice
            .sessions
            .trim_due("prpl-test", "alice", now, STRANGERS_KEPT)
        {
            alice
                .sessions
                .trim_strangers("prpl-test", "alice", STRANGERS_KEPT, |peer| {
                    peer == "mallory3"
                });
        }
        assert_eq!(shown, words, "{name}");
        if i == 1 {
            // The user writes to this one: no stranger's conversation any more.
            alice.sessions.user_acted(&alice.key_for(name));
            let (out, _) = alice.send_to(name, "who are you?", Policy::Manual);
            assert!(matches!(out, Outgoing::Lines(_)), "{out:?}");
        }
        if i == 0 {
            first = Some(m);
        } else {
            newest = Some(m);
        }
    }
    let store = alice.store();
    let rows = store.session_peers("prpl-test", "alice").expect("rows");
    assert_eq!(
        rows.len(),
        STRANGERS_KEPT + 2,
        "the newest strangers' (one with its window open), the one written to, bob's: {rows:?}"
    );
    assert!(rows.contains(&"bob".to_owned()) && rows.contains(&"mallory1".to_owned()));
    for (i, name) in names.iter().enumerate() {
        let kept = i == 1 || i == 3 || i > total - STRANGERS_KEPT;
        assert_eq!(rows.contains(&(*name).to_owned()), kept, "{name}");
        assert_eq!(
            alice.sessions.sessions.contains_key(&alice.key_for(name)),
            kept,
            "{name} in memory"
        );
        // Its key stays: whose key it is under a name cannot be told, and a key deleted
        // would let an impostor be taken on first use.
        let keys = store
            .trust_records("prpl-test", "alice", name)
            .expect("trust");
        assert_eq!(keys.len(), 1, "{name}'s key");
    }
    // The newest stranger's conversation and bob's still work.
    let mut m = newest.expect("a stranger");
    let name = names[total - 1];
    let (out, _) = m.send("still here");
    let seen = exchange(&mut alice, &mut m, name, lines_of(out), 10_000_000);
    assert_eq!(seen, ["still here"]);
    // The first stranger, forgotten, writes again: told its line was not read, it starts
    // again, its client sends the line again, and it is read.
    let mut m = first.expect("the first stranger");
    let (out, _) = m.send("remember me?");
    let seen = exchange(&mut alice, &mut m, names[0], lines_of(out), 20_000_000);
    assert_eq!(seen, ["remember me?"]);
    // Its new conversation (on a key already known) is marked again: bounded like the first.
    let store = alice.store();
    assert!(store
        .strangers("prpl-test", "alice")
        .unwrap()
        .contains(&names[0].to_owned()));
    let (out, _) = bob.send("hi alice");
    let (_, _, shown) = alice.receive("bob", &lines_of(out));
    assert_eq!(shown, ["hi alice"]);
}

/// A stranger's conversation, begun with a window open (any line opens one: the host knows
/// the name, but nothing ties it to the user), is marked all the same; moved to another name
/// (an IRC nick change), it is kept while a window with the name it left is open: a mark holds
/// that name for it, and forgetting it would drop the mark, and that window's next line would
/// go in plaintext.
#[test]
fn a_strangers_conversation_shown_under_a_name_it_left_is_kept() {
    let mut alice = peer("stranger-moved", "alice", "bob", 60);
    let mut m = peer("stranger-moved", "mallory", "alice", 61);
    let at = Settings {
        now_secs: 100,
        ..settings(Policy::Manual)
    };
    let key = alice.key_for("mallory");
    let mut lines = m.start();
    while !lines.is_empty() {
        let mut to_m = Vec::new();
        for line in std::mem::take(&mut lines) {
            // A window is open (the host vouches for the name): still a stranger's, marked.
            alice.sessions.familiar(&key);
            let (_, fx) = alice
                .sessions
                .incoming(&key, "mallory", &line, &at, &mut alice.rng)
                .expect("incoming");
            to_m.extend(fx.inject);
        }
        lines = m.receive_as("alice", &to_m).0;
    }
    assert_eq!(
        alice.sessions.state(&key, "mallory", &at),
        Some(ConvState::Encrypted)
    );
    let moved = alice.key_for("mallory_");
    let renamed = alice.sessions.rename(&key, &moved, "mallory_", &at);
    assert!(matches!(renamed, Some(Ok(_))), "{renamed:?}");
    let store = alice.store();
    assert_eq!(store.strangers("prpl-test", "alice").unwrap(), ["mallory_"]);

    // The window still named "mallory" is open: kept, though alice keeps none.
    assert!(alice.sessions.trim_due("prpl-test", "alice", 200, 0));
    alice
        .sessions
        .trim_strangers("prpl-test", "alice", 0, |n| n == "mallory");
    assert!(alice.sessions.sessions.contains_key(&moved));
    assert_eq!(
        alice
            .store()
            .moved_to("prpl-test", "alice", "mallory")
            .unwrap()
            .as_deref(),
        Some("mallory_")
    );
    // Closed: forgotten, and the mark with it.
    assert!(
        !alice.sessions.trim_due("prpl-test", "alice", 201, 0),
        "not again so soon"
    );
    assert!(alice.sessions.trim_due("prpl-test", "alice", 300, 0));
    alice
        .sessions
        .trim_strangers("prpl-test", "alice", 0, |_| false);
    assert!(!alice.sessions.sessions.contains_key(&moved));
    let store = alice.store();
    assert!(store.strangers("prpl-test", "alice").unwrap().is_empty());
    assert_eq!(
        store.moved_to("prpl-test", "alice", "mallory").unwrap(),
        None
    );
    for name in ["mallory", "mallory_"] {
        assert_eq!(
            store
                .trust_records("prpl-test", "alice", name)
                .unwrap()
                .len(),
            1,
            "{name}: keys stay"
        );
    }
}
