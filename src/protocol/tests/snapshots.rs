//! Snapshots: a restored conversation carries on, corrupt bytes are refused, and the bytes of
//! every shape a conversation can be saved in match a committed fixture (they sit on users'
//! disks, so version 1 must never change).

use super::*;
use crate::protocol::testkit::key_ids;

#[test]
fn snapshot_restore_continues_conversation() {
    let (mut a, mut b, mut rng) = established(9);
    for i in 0..3 {
        let l = send(&mut a, &format!("a{i}"), &mut rng);
        deliver(&mut b, l, &mut rng);
        let l = send(&mut b, &format!("b{i}"), &mut rng);
        deliver(&mut a, l, &mut rng);
    }
    let skipped = send(&mut a, "late", &mut rng);
    let a_id = IdentityKey::from_bytes(&[1; 32]);
    let b_id = IdentityKey::from_bytes(&[2; 32]);
    let mut a2 = Conversation::restore(a_id, &a.snapshot()).unwrap();
    let mut b2 = Conversation::restore(b_id, &b.snapshot()).unwrap();
    let l = send(&mut a2, "after restart", &mut rng);
    assert_eq!(
        deliver(&mut b2, l, &mut rng).0,
        vec!["after restart".to_owned()]
    );
    assert_eq!(
        deliver(&mut b2, skipped, &mut rng).0,
        vec!["late".to_owned()]
    );
    let l = send(&mut b2, "reply", &mut rng);
    assert_eq!(deliver(&mut a2, l, &mut rng).0, vec!["reply".to_owned()]);
}

#[test]
fn corrupt_snapshots_are_refused_not_panicking() {
    let (a, _, _) = established(10);
    let snap = a.snapshot();
    for len in 0..snap.len() {
        assert!(Conversation::restore(IdentityKey::from_bytes(&[1; 32]), &snap[..len]).is_err());
    }
    let mut bad = snap.to_vec();
    bad[0] = 99;
    assert!(Conversation::restore(IdentityKey::from_bytes(&[1; 32]), &bad).is_err());
}

/// Snapshots of every shape a conversation can be saved in (each handshake role, re-keying,
/// a previous session, skipped keys, a queue, blocked, finished), from a fixed-seed scenario.
fn snapshot_scenario() -> Vec<(String, Vec<u8>)> {
    let mut rng = rng(0x5a47);
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut a = Conversation::new(
        IdentityKey::from_bytes(&[0x11; 32]),
        0x0000_0a11,
        Policy::Always,
    );
    let mut b = Conversation::new(
        IdentityKey::from_bytes(&[0x22; 32]),
        0x0000_0b22,
        Policy::Manual,
    );
    out.push(("fresh, policy always".into(), a.snapshot().to_vec()));
    b.set_max_line(120);
    b.set_policy(Policy::Opportunistic);
    out.push((
        "fresh, opportunistic, max line 120".into(),
        b.snapshot().to_vec(),
    ));
    let held = a.send("held while the query is out", &mut rng);
    out.push((
        "query sent, one message queued".into(),
        a.snapshot().to_vec(),
    ));
    let init = b.receive(&held.inject[0], 0, &mut rng).inject;
    out.push((
        "peer runs Sotto, initiator waiting".into(),
        b.snapshot().to_vec(),
    ));
    let resp = a.receive(&init[0], 0, &mut rng).inject;
    out.push(("responder waiting".into(), a.snapshot().to_vec()));
    let confirm = b.receive(&resp[0], 0, &mut rng).inject;
    out.push(("initiator established".into(), b.snapshot().to_vec()));
    let flushed = a.receive(&confirm[0], 0, &mut rng).inject;
    out.push((
        "responder established, queue sent".into(),
        a.snapshot().to_vec(),
    ));
    deliver(&mut b, flushed, &mut rng);
    let _lost = send(&mut a, "lost", &mut rng);
    let _late = send(&mut a, "late", &mut rng);
    let last = send(&mut a, "last", &mut rng);
    deliver(&mut b, last, &mut rng);
    out.push(("two skipped keys".into(), b.snapshot().to_vec()));
    let restart = b.start(&mut rng).inject;
    out.push((
        "rekeying: initiator with a session".into(),
        b.snapshot().to_vec(),
    ));
    let resp = a.receive(&restart[0], 0, &mut rng).inject;
    out.push((
        "rekeying: responder with a session".into(),
        a.snapshot().to_vec(),
    ));
    let confirm = b.receive(&resp[0], 0, &mut rng).inject;
    a.receive(&confirm[0], 0, &mut rng);
    out.push((
        "re-keyed: previous session kept".into(),
        a.snapshot().to_vec(),
    ));
    let mut c = Conversation::new(
        IdentityKey::from_bytes(&[0x33; 32]),
        0x0000_0c33,
        Policy::Manual,
    );
    c.set_peer_supports_sotto(true);
    let start = c.start(&mut rng).inject;
    let (_, to_c, _) = deliver(&mut a, start, &mut rng);
    let (_, to_a, _) = deliver(&mut c, to_c, &mut rng);
    deliver(&mut a, to_a, &mut rng);
    a.send("for the new key only", &mut rng);
    out.push((
        "key changed: blocked, one held".into(),
        a.snapshot().to_vec(),
    ));
    a.acknowledge_peer_key(&mut rng);
    out.push(("acknowledged: two known keys".into(), a.snapshot().to_vec()));
    let end = c.stop(&mut rng).inject;
    deliver(&mut a, end, &mut rng);
    out.push(("ended by the peer".into(), a.snapshot().to_vec()));
    let q = c.start(&mut rng).inject;
    deliver(&mut a, q, &mut rng);
    out.push((
        "ended by the peer, peer restarting".into(),
        a.snapshot().to_vec(),
    ));
    out
}

/// Regenerate (only after a deliberate, versioned format change) with
/// `SOTTO_WRITE_VECTORS=1 cargo test --no-default-features snapshot_bytes`.
const FIXTURE: &str = include_str!("snapshots-v1.txt");

fn fixture_text(snapshots: &[(String, Vec<u8>)]) -> String {
    snapshots
        .iter()
        .map(|(title, bytes)| format!("# {title}\n{}\n", hex::encode(bytes)))
        .collect()
}

#[test]
fn snapshot_bytes_match_fixture() {
    let text = fixture_text(&snapshot_scenario());
    if std::env::var_os("SOTTO_WRITE_VECTORS").is_some() {
        std::fs::write(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/src/protocol/tests/snapshots-v1.txt"
            ),
            &text,
        )
        .unwrap();
        return;
    }
    assert_eq!(
        text, FIXTURE,
        "snapshot format changed: users' saved sessions would no longer restore"
    );
}

/// Every committed snapshot restores, and saves again to the very same bytes.
#[test]
fn fixture_snapshots_restore_to_the_same_bytes() {
    let mut lines = FIXTURE.lines();
    while let (Some(title), Some(hex)) = (lines.next(), lines.next()) {
        let bytes = hex::decode(hex).unwrap();
        let restored = Conversation::restore(IdentityKey::from_bytes(&[4; 32]), &bytes)
            .unwrap_or_else(|e| panic!("{title}: {e}"));
        assert_eq!(restored.snapshot().to_vec(), bytes, "{title}");
    }
}

/// A session that the peer has ended is dropped at once, so no snapshot holds both: one that
/// does was not written by Sotto and is refused.
#[test]
fn finished_with_a_session_is_refused() {
    let (a, _, _) = established(26);
    let mut bytes = a.snapshot().to_vec();
    assert_eq!(bytes[10] & 2, 0);
    bytes[10] |= 2;
    assert_eq!(
        Conversation::restore(IdentityKey::from_bytes(&[1; 32]), &bytes).err(),
        Some(crate::protocol::SnapshotError::Corrupt)
    );
}

#[test]
fn a_snapshot_is_written_without_growing_its_buffer() {
    // A buffer that grows reallocates and leaves an unwiped copy of the keys written so far:
    // the capacity asked for up front must hold the whole snapshot, skipped keys included.
    let (mut a, mut b, mut rng) = established(77);
    let mut lines = Vec::new();
    for i in 0..40 {
        lines.push(send(&mut a, &format!("message {i}"), &mut rng));
    }
    // Deliver only the last one: 39 skipped keys at bob.
    deliver(&mut b, lines.pop().unwrap(), &mut rng);
    for _ in 0..5 {
        b.send("held? no: encrypted", &mut rng);
    }
    for c in [&a, &b] {
        let s = c.snapshot();
        assert!(s.len() <= s.capacity());
        assert_eq!(s.capacity(), c.snapshot_capacity_for_tests());
    }
}

/// The plugin saves synced only when `reserve_sending` says so; the other saves are committed
/// without an fsync, and a power loss can lose any suffix of them. Whatever state survives (the
/// last synced one, or any later one), the restored conversation never encrypts under a
/// message key already used, and the peer reads everything from both sides of the crash.
#[test]
fn a_crash_that_loses_unsynced_saves_never_reuses_a_message_key() {
    for crash_after in [1usize, 2, 20, 33, 34, 45, 70] {
        for keep_latest in [false, true] {
            let (mut a, mut b, mut rng) = established(91);
            let a_id = IdentityKey::from_bytes(&[1; 32]);
            let mut durable = a.snapshot().to_vec();
            let mut synced = 0;
            let mut sent: Vec<String> = Vec::new();
            for i in 0..crash_after {
                let lines = send(&mut a, &format!("m{i}"), &mut rng);
                if a.reserve_sending() {
                    durable = a.snapshot().to_vec();
                    synced += 1;
                }
                let (shown, _, _) = deliver(&mut b, lines.clone(), &mut rng);
                assert_eq!(shown, vec![format!("m{i}")]);
                sent.extend(lines);
                if i == 25 {
                    // A reply: alice's next send starts a new sending chain (reserved afresh);
                    // the read itself is an unsynced save.
                    let reply = send(&mut b, "reply", &mut rng);
                    assert_eq!(deliver(&mut a, reply, &mut rng).0, vec!["reply".to_owned()]);
                }
            }
            let expected_synced = match crash_after {
                n if n <= 26 => n.div_ceil(33),
                n => 1 + (n - 26).div_ceil(33),
            };
            assert_eq!(
                synced, expected_synced,
                "synced saves after {crash_after} sends"
            );
            let survivor = if keep_latest {
                a.snapshot().to_vec()
            } else {
                durable
            };
            let mut a2 = Conversation::restore(a_id.clone(), &survivor).unwrap();
            let mut after = Vec::new();
            for i in 0..5 {
                let lines = send(&mut a2, &format!("after{i}"), &mut rng);
                a2.reserve_sending();
                after.extend(lines);
            }
            let mut all = key_ids(&sent);
            all.extend(key_ids(&after));
            let distinct: std::collections::HashSet<_> = all.iter().collect();
            assert_eq!(
                distinct.len(),
                all.len(),
                "no message key twice (crash after {crash_after}, latest {keep_latest})"
            );
            let (shown, _, events) = deliver(&mut b, after, &mut rng);
            assert_eq!(
                shown,
                (0..5).map(|i| format!("after{i}")).collect::<Vec<_>>(),
                "{events:?}"
            );
        }
    }
}

#[test]
fn a_reservation_is_saved_as_version_2_and_restores_past_it() {
    let (mut a, mut b, mut rng) = established(92);
    let v1 = a.snapshot().to_vec();
    assert_eq!(v1[0], 1);
    let first = send(&mut a, "one", &mut rng);
    assert!(a.reserve_sending(), "the first send reserves");
    let v2 = a.snapshot().to_vec();
    assert_eq!(v2[0], 2, "a reservation ahead of the chain: version 2");
    assert_eq!(
        &v2[v2.len() - 4..],
        &33u32.to_be_bytes(),
        "1 sent + 32 set aside"
    );
    assert!(!a.reserve_sending(), "covered: nothing more to set aside");

    // Restored, it continues at index 33, and saves as version 1 again.
    let mut a2 = Conversation::restore(IdentityKey::from_bytes(&[1; 32]), &v2).unwrap();
    assert_eq!(a2.snapshot()[0], 1);
    let next = send(&mut a2, "two", &mut rng);
    assert_eq!(key_ids(&next)[0].2, 33);
    let mut lines = first;
    lines.extend(next);
    assert_eq!(deliver(&mut b, lines, &mut rng).0, vec!["one", "two"]);

    // Released (a clean stop): version 1, exact index, no gap at the next start.
    a.release_reservation();
    let clean = a.snapshot().to_vec();
    assert_eq!(clean[0], 1);
    let mut a3 = Conversation::restore(IdentityKey::from_bytes(&[1; 32]), &clean).unwrap();
    assert_eq!(key_ids(&send(&mut a3, "three", &mut rng))[0].2, 1);

    // Not written by Sotto: a reservation not ahead of the chain, too far, or cut short.
    let with = |reserved: u32| {
        let mut bytes = v1.clone();
        bytes[0] = 2;
        bytes.extend_from_slice(&reserved.to_be_bytes());
        Conversation::restore(IdentityKey::from_bytes(&[1; 32]), &bytes).err()
    };
    let corrupt = Some(crate::protocol::SnapshotError::Corrupt);
    assert_eq!(with(0), corrupt, "not ahead");
    assert_eq!(with(1001), corrupt, "beyond MAX_GAP");
    assert_eq!(with(5), None);
    assert_eq!(
        Conversation::restore(IdentityKey::from_bytes(&[1; 32]), &v2[..v2.len() - 1]).err(),
        corrupt
    );
}

/// `is_blank` says exactly when a snapshot is a new conversation's with the same settings and
/// the same facts from the store (runs Sotto, accepted keys): what lets the plugin save no row
/// for a name that only sent lines it could not read.
#[test]
fn a_conversation_is_blank_exactly_when_its_snapshot_is_a_new_ones() {
    // The tag is the one `pair` and `established` give each side.
    let as_new = |c: &Conversation, tag: u32| {
        let mut n = Conversation::new(IdentityKey::from_bytes(&[7; 32]), tag, c.policy());
        n.set_peer_supports_sotto(c.peer_supports_sotto());
        n.set_known_peer_keys(c.known_peer_keys().to_vec());
        n.snapshot().to_vec()
    };
    let check_tag = |c: &Conversation, tag: u32, blank: bool, what: &str| {
        assert_eq!(c.is_blank(), blank, "{what}");
        assert_eq!(c.snapshot().to_vec() == as_new(c, tag), blank, "{what}");
    };
    let check = |c: &Conversation, blank: bool, what: &str| check_tag(c, 0x0000_00a1, blank, what);
    let mut rng = rng(0xb1a);
    let (mut a, _) = pair(&mut rng, Policy::Manual);
    check(&a, true, "new");
    for garbage in [
        "?S1Dxx",
        "?S1E anything",
        "?S2Dsomething",
        "?S1R@@@",
        "?S1C@@@",
    ] {
        a.receive(garbage, 0, &mut rng);
        check(&a, true, garbage);
    }
    let (_, b, _) = established(0xb1b);
    let unknown = send(&mut established(0xb1c).0, "not for a", &mut rng);
    let out = a.receive(&unknown[0], 0, &mut rng);
    assert_eq!(out.inject.len(), 1, "answered with a not-read notice");
    check(&a, true, "a data line of an unknown session");
    a.set_peer_supports_sotto(true);
    check(&a, true, "runs Sotto (the store's peer table says so)");
    a.set_policy(Policy::Always);
    a.send("held", &mut rng);
    check(&a, false, "a handshake and held text");
    a.stop(&mut rng);
    check(&a, true, "stopped");
    a.receive("?S1Q", 0, &mut rng);
    check(&a, false, "answering a query");
    check_tag(&b, 0x0000_00b2, false, "encrypted");
    let mut b = b;
    b.stop(&mut rng);
    check_tag(&b, 0x0000_00b2, true, "encrypted, then stopped");
    b.refuse_first_use();
    check_tag(&b, 0x0000_00b2, false, "first use refused (flag 32)");
}

/// A conversation that refuses first use keeps refusing it across a restore (snapshot flag 32);
/// one that does not is restored as before (no bit written).
#[test]
fn first_use_refused_survives_a_restore() {
    let mut rng = rng(0xf32);
    let (mut a, _) = pair(&mut rng, Policy::Manual);
    let id = || IdentityKey::from_bytes(&[7; 32]);
    let plain = a.snapshot().to_vec();
    assert!(!Conversation::restore(id(), &plain)
        .unwrap()
        .first_use_refused());
    a.refuse_first_use();
    let refused = a.snapshot().to_vec();
    assert_eq!(refused.len(), plain.len(), "one bit, no new bytes");
    assert!(Conversation::restore(id(), &refused)
        .unwrap()
        .first_use_refused());
}
