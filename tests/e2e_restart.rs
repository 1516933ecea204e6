//! Sessions that survive restarts and crashes (issue 4, "Trust and continuity"): real libpurple,
//! real servers, SIGKILL. Needs build/sotto.so: run with `make e2e` (see tests/README.md).

mod support;

use std::time::{Duration, Instant};
use support::scenarios;
use support::*;

/// A session on IRC; SIGKILL alice mid-conversation, restart her on the same purple user dir:
/// both directions go on with no new handshake on the wire and no error shown. Then bob.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_session_survives_sigkill_of_either_side() {
    scenarios::session_survives_restarts(Proto::Irc);
}

/// The same on XMPP, plus: a message alice sends while bob is down is stored by the server
/// (offline messages) and bob reads it when he comes back.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_session_survives_sigkill_and_reads_offline_messages() {
    let mut p = scenarios::session_survives_restarts(Proto::Xmpp);
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.bob.client.kill();
    std::thread::sleep(Duration::from_millis(500)); // prosody notices the closed stream
    let away = "written while bob was away, kept by the server";
    p.alice.client.send(&bob, away);
    p.alice.client.expect_sent(&bob, away, WAIT);
    std::thread::sleep(Duration::from_secs(1));
    p.bob.client.restart();
    p.bob.client.expect_online();
    p.bob.client.expect_received(&alice, away, WAIT);
    assert_hidden(&[&p.alice.tap, &p.bob.tap], away, "offline message");
    assert_no_trouble(&p);
}

/// 50 SIGKILLs at random moments around sends and receives (either side, 0–400 ms after a
/// message is typed), each followed by a restart. After every one the conversation goes on both
/// ways; at the end no two data messages on the wire share a message key and nonce, i.e. no
/// two different ciphertexts carry the same (session id, ratchet key, message number).
/// `SOTTO_CRASH_ITERATIONS` / `SOTTO_CRASH_SEED` change the count and the seed.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_random_sigkills_never_reuse_a_message_key() {
    let t0 = Instant::now();
    let iterations: usize = env_or("SOTTO_CRASH_ITERATIONS", 50);
    let mut rng = XorShift(env_or("SOTTO_CRASH_SEED", 20_261_129));
    eprintln!(
        "[rig] crash points: {iterations} iterations, SOTTO_CRASH_SEED={}",
        rng.0
    );
    let proto = Proto::Xmpp;
    let (mut p, _) = encrypted_pair(proto, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    for i in 0..iterations {
        let kill_alice = rng.next() & 1 == 0;
        let alice_sends = rng.next() & 1 == 0;
        let delay = Duration::from_millis(rng.next() % 400);
        let text = format!("crash point {i} message");
        if alice_sends {
            p.alice.client.send(&bob, &text);
        } else {
            p.bob.client.send(&alice, &text);
        }
        std::thread::sleep(delay);
        let victim = if kill_alice { &mut p.alice } else { &mut p.bob };
        victim.client.kill();
        victim.client.restart();
        victim.client.expect_online();

        let a = format!("alice after crash {i}");
        p.alice.client.send(&bob, &a);
        p.bob.client.expect_received(&alice, &a, WAIT);
        let b = format!("bob after crash {i}");
        p.bob.client.send(&alice, &b);
        p.alice.client.expect_received(&bob, &b, WAIT);
    }
    note(&format!("{proto:?}: {iterations} crash points"), t0);

    let count = assert_no_key_reuse(&p);
    assert!(
        count >= 2 * iterations,
        "too few data messages on the wire: {count}"
    );
    for c in [&p.alice.client, &p.bob.client] {
        c.assert_no_criticals();
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A small deterministic generator: the run can be replayed from its seed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A power loss, as the disk would keep it: alice's first message after the handshake is saved
/// synced with 32 message keys set aside; the store's files are copied then (what the disk
/// holds for sure); ten more messages go out, their saves committed without an fsync; alice is
/// killed and her store put back to the copy, as if the kernel had lost every write since the
/// last fsync. She restarts on it: the session goes on both ways without a new handshake, bob
/// reads everything, and no message key is on the wire twice (the restored state skipped past
/// the reservation instead of sending again under the keys of the ten lost saves).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_power_loss_that_drops_unsynced_saves_reuses_no_key() {
    power_loss_after_unsynced_saves(Proto::Xmpp);
}

/// The same on IRC.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_power_loss_that_drops_unsynced_saves_reuses_no_key() {
    power_loss_after_unsynced_saves(Proto::Irc);
}

fn power_loss_after_unsynced_saves(proto: Proto) {
    let t0 = Instant::now();
    let (mut p, _) = encrypted_pair(proto, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let first = "first after the handshake: saved synced, 32 keys set aside";
    p.alice.client.send(&bob, first);
    p.bob.client.expect_received(&alice, first, WAIT);
    let store = p.alice.client.purple_dir().join("sotto");
    let files = ["sotto.db", "sotto.db-wal", "sotto.generation"];
    let synced: Vec<(&str, Vec<u8>)> = files
        .iter()
        .filter_map(|f| std::fs::read(store.join(f)).ok().map(|b| (*f, b)))
        .collect();
    assert!(
        synced.iter().any(|(f, _)| *f == "sotto.db-wal"),
        "the store runs in WAL mode"
    );
    for i in 0..10 {
        let text = format!("unsynced save {i}");
        p.alice.client.send(&bob, &text);
        p.bob.client.expect_received(&alice, &text, WAIT);
    }
    p.alice.client.kill();
    for (f, bytes) in &synced {
        std::fs::write(store.join(f), bytes).expect("put the synced files back");
    }
    let marks = (p.alice.tap.mark(), p.bob.tap.mark());
    p.alice.client.restart();
    p.alice.client.expect_online();
    for j in 0..3 {
        let text = format!("after the power loss {j}");
        p.alice.client.send(&bob, &text);
        p.bob.client.expect_received(&alice, &text, WAIT);
    }
    let reply = "bob answers the restored alice";
    p.bob.client.send(&alice, reply);
    p.alice.client.expect_received(&bob, reply, WAIT);
    assert_no_handshake_since(&p, marks, "the restore");
    let count = assert_no_key_reuse(&p);
    assert!(count >= 15, "too few data messages on the wire: {count}");
    assert_no_trouble(&p);
    note(
        &format!("{proto:?}: a power loss after 10 unsynced saves"),
        t0,
    );
}

/// bob's client lost its conversation with alice (its saved session is gone; his key is not).
/// What alice sends next cannot be read there: bob's client tells alice's (unauthenticated),
/// alice's window names the message and says it is sent again by itself, and once a new
/// session is up it is, once, and bob reads it. Nothing lost, nothing in plaintext (issue 9's
/// "the sender learns", through libpurple).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_message_the_peer_could_not_read_is_named_and_sent_again() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, both_manual());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.bob.client.kill();
    {
        let (store, account) = p.bob.client.sotto_store();
        store
            .delete_session("prpl-jabber", &account, &alice)
            .expect("forget the session");
    }
    p.bob.client.restart();
    p.bob.client.expect_online();
    let lost = "a gnu that bob cannot read yet";
    // A burst: each message is named (one notice per 30 s left the second unread without a
    // word, found by a read-only audit).
    let also = "and a second gnu right after";
    p.alice.client.send(&bob, lost);
    p.alice.client.send(&bob, also);
    for text in [lost, also] {
        p.alice.client.expect_system(
            &bob,
            "alice is told which message was not read, and that it goes again",
            WAIT,
            |t| t.contains("could not read your message") && t.contains(text),
        );
    }
    assert!(
        !p.bob
            .client
            .writes()
            .iter()
            .any(|w| w.shown().contains(lost)),
        "bob could not have read it"
    );
    p.alice.client.cmd(&bob, "sotto start");
    p.alice.client.expect_system(
        &bob,
        "alice: the message is sent again over the new session",
        WAIT,
        |t| t.contains("sent again over the new encrypted conversation") && t.contains(lost),
    );
    p.bob.client.expect_received(&alice, lost, WAIT);
    p.bob.client.expect_received(&alice, also, WAIT);
    std::thread::sleep(Duration::from_secs(1));
    let shown = p
        .bob
        .client
        .writes()
        .iter()
        .filter(|w| w.shown() == lost)
        .count();
    assert_eq!(shown, 1, "read once");
    assert_hidden(
        &[&p.alice.tap, &p.bob.tap],
        lost,
        "not read, then sent again",
    );
    p.assert_no_criticals();
}

/// carol is on IRC through a bouncer (ZNC, as many IRC users are), with a session with bob.
/// She closes Pidgin; ZNC stays on IRC for her and keeps what bob writes meanwhile, then plays
/// it back when she comes back, with the time in front of each line (`[HH:MM:SS] ?S1D…`:
/// libpurple does not ask for `server-time`). She reads bob's words, with no new handshake and
/// no "changed on the way" notice (she used to lose every one of them under that notice).
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_what_a_bouncer_kept_while_away_is_read_when_back() {
    let mut p = Pair::start(Proto::Irc, PairOptions::default());
    let bouncer = Znc::start(p.server_port(), "carol");
    let mut carol = p.another_through(&bouncer);
    carol.client.cmd("bob", "sotto start");
    expect_started(&carol.client, "bob", WAIT);
    exchange(Proto::Irc, &mut carol, &mut p.bob, "before", "a puffin");
    exchange(Proto::Irc, &mut p.bob, &mut carol, "before", "a gannet");
    let mark = p.bob.tap.mark();

    carol.client.quit();
    std::thread::sleep(Duration::from_secs(1));
    let kept = ["while carol was away 5150", "and a second line 5151"];
    for t in kept {
        p.bob.client.send("carol", t);
        p.bob.client.expect_sent("carol", t, WAIT);
    }
    std::thread::sleep(Duration::from_secs(1));
    carol.client.restart();
    carol.client.expect_online();
    for t in kept {
        carol.client.expect_received("bob", t, WAIT);
    }
    let replayed = String::from_utf8_lossy(&carol.tap.bytes(Dir::Down)).into_owned();
    assert!(
        replayed.contains("] ?S1D"),
        "the bouncer played back no stamped Sotto line"
    );
    std::thread::sleep(Duration::from_secs(1));
    for w in carol.client.writes() {
        let shown = w.shown().to_lowercase();
        assert!(
            !shown.contains("changed")
                && !shown.contains("could not")
                && !w.shown().contains("?S1"),
            "{w:?}"
        );
    }
    assert_eq!(
        sotto_lines(Proto::Irc, &p.bob.tap.since(mark, Dir::Up))
            .iter()
            .filter(|l| l.starts_with("?S1I") || l.starts_with("?S1R"))
            .count(),
        0,
        "a new handshake"
    );
    for t in kept {
        assert_hidden(&[&p.bob.tap, &carol.tap], t, "kept by the bouncer");
    }
    carol.client.assert_no_criticals();
    p.assert_no_criticals();
}
