//! The encrypted-conversation scenarios, written once and run on IRC and on XMPP.
//!
//! What the plugin must show for these to pass (the exact phrases are the purple layer's,
//! the tests only rely on this much):
//! - session start: a system line (`SYSTEM | NO_LOG`) in the IM conversation on *both* sides that
//!   contains the word "started" and the peer's fingerprint (8 groups of 5 hex digits);
//! - while encrypted: the conversation title contains "encrypt" (or a 🔒);
//! - a held message: a system line containing "held";
//! - an ended session: a system line containing "ended";
//! - decrypted text written as a `RECV` message whose markup, read back with
//!   [`html_to_text`](super::html_to_text), is exactly what the peer typed;
//! - the sender's own window shows what was typed (`SEND`), also for messages sent later from
//!   the hold queue;
//! - never a system line saying a message "could not be read", "was NOT encrypted" or "error".

use std::time::{Duration, Instant};

use super::*;

/// The full round: start, every message both ways, the wire checked throughout.
pub fn full_conversation(proto: Proto) {
    let t0 = Instant::now();
    let mut p = Pair::start(proto, PairOptions::default());
    let marks = (p.alice.tap.mark(), p.bob.tap.mark());
    start_session(&mut p);
    exchange_all(&mut p);
    assert_only_sotto_since(&p, marks);
    if proto == Proto::Irc {
        assert_irc_relayed_intact(&p.alice.tap, marks.0, &p.bob.tap, marks.1);
        assert_irc_relayed_intact(&p.bob.tap, marks.1, &p.alice.tap, marks.0);
    }
    // Each started line was written once, not once per message.
    for c in [&p.alice.client, &p.bob.client] {
        let n = c.writes().iter().filter(|w| is_started(w)).count();
        assert_eq!(
            n, 1,
            "[{}] {n} 'started' lines: state lines are written once per change",
            c.cfg.name
        );
    }
    // Encrypted conversations are not logged (log_encrypted is off by default).
    for (_, text) in messages("alice").into_iter().chain(messages("bob")) {
        for n in needles(&text, 4) {
            for c in [&p.alice.client, &p.bob.client] {
                assert!(
                    !c.logs_contain(&n),
                    "[{}] the log holds {n:?} of an encrypted message",
                    c.cfg.name
                );
            }
        }
    }
    assert_no_trouble(&p);
    note(&format!("{proto:?}: full conversation"), t0);
}

/// Policy `always` on alice: a message typed before any session is held (not on the wire, the
/// user told so), then delivered encrypted once the session is up, and shown as sent.
pub fn always_holds_then_delivers(proto: Proto) {
    let t0 = Instant::now();
    let mut p = Pair::start(proto, alice_always());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let held = "held walrus message typed before any session";
    send_expect_held(&mut p, true, held, "held message");
    // `always` may start the session by itself and deliver meanwhile (XMPP is quick), but bob
    // must never see the message before his side of the session is up.
    let bob_writes = p.bob.client.writes();
    let shown = bob_writes
        .iter()
        .position(|w| w.has(flags::RECV) && w.shown().contains("walrus"));
    let started = bob_writes.iter().position(is_started);
    if let Some(shown) = shown {
        assert!(
            started.is_some_and(|s| s < shown),
            "bob was shown the held message before a session existed: {:?}",
            bob_writes[shown]
        );
    }

    // `always` may start the handshake by itself; if it did not, the user starts it.
    start_unless_started(&mut p.alice.client, &bob);
    expect_started(&p.bob.client, &alice, WAIT);
    p.bob.client.expect_received(&alice, held, WAIT);
    p.alice.client.expect_sent(&bob, held, WAIT);
    assert_hidden(
        &[&p.alice.tap, &p.bob.tap],
        held,
        "held message after delivery",
    );

    // And the session works on: one more each way.
    let Pair {
        alice: a, bob: b, ..
    } = &mut p;
    exchange(
        proto,
        a,
        b,
        "after hold",
        "second walrus line after the hold",
    );
    exchange(proto, b, a, "reply", "bob replies with a quiet zebra");
    assert_no_trouble(&p);
    note(&format!("{proto:?}: always policy"), t0);
}

/// `/sotto stop` from alice: both sides say it ended; bob's next message is held (his peer ended
/// the session) and not on the wire; alice's next message goes out as plaintext (her choice).
pub fn stop_ends_on_both_sides(proto: Proto) {
    // `manual` on both: under `opportunistic` alice's next message could legitimately restart
    // the session by itself (bob is known to run Sotto), which is not what this test is about.
    let (mut p, _) = encrypted_pair(proto, both_manual());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    {
        let Pair {
            alice: a, bob: b, ..
        } = &mut p;
        exchange(
            proto,
            a,
            b,
            "before stop",
            "one encrypted walrus before stop",
        );
    }
    p.alice.client.cmd(&bob, "sotto stop");
    p.alice
        .client
        .expect_system(&bob, "alice: the encrypted conversation ended", WAIT, |t| {
            t.to_lowercase().contains("ended")
        });
    p.bob.client.expect_system(
        &alice,
        "bob: alice ended the encrypted conversation",
        WAIT,
        |t| t.to_lowercase().contains("ended"),
    );

    let blocked = "bob types a lonely zebra after the end";
    send_expect_held(&mut p, false, blocked, "message typed after the peer ended");

    let plain = "alice now writes plain words on purpose";
    p.alice.client.send(&bob, plain);
    p.bob.client.expect_received(&alice, plain, WAIT);
    assert!(
        p.alice.tap.contains("plain words"),
        "after /sotto stop alice's message should be plaintext on the wire"
    );
    p.assert_no_criticals();
}

/// `opportunistic` (the default) with a contact never seen running Sotto: plaintext goes out as
/// typed, and no Sotto line (query, whitespace tag, handshake) is ever sent unasked.
pub fn opportunistic_sends_nothing_unsolicited(proto: Proto) {
    let mut p = Pair::start(proto, PairOptions::default());
    both_ways(
        &mut p,
        "plain hello under the default policy",
        "plain reply under the default policy",
    );
    std::thread::sleep(Duration::from_secs(1));
    for (who, tap) in [("alice", &p.alice.tap), ("bob", &p.bob.tap)] {
        let up = tap.bytes(Dir::Up);
        assert!(
            find(&up, b"?S1").is_none(),
            "{who} sent Sotto traffic to a contact not known to run Sotto"
        );
        assert!(
            find(&up, b" \t  \t\t").is_none() && find(&up, b"\t  \t\t").is_none(),
            "{who} sent something that looks like a whitespace tag"
        );
    }
    assert_no_trouble(&p);
}

/// Messages typed right after `/sotto start`, while the handshake is still running, are held
/// (one "held" line, not one per message), then delivered encrypted, in the order typed.
pub fn typed_during_handshake_arrive_in_order(proto: Proto) {
    let mut p = Pair::start(proto, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let texts: Vec<String> = (1..=4)
        .map(|i| format!("queued walrus number {i} of four"))
        .collect();
    p.alice.client.cmd(&bob, "sotto start");
    for t in &texts {
        p.alice.client.send(&bob, t);
    }
    expect_started(&p.alice.client, &bob, WAIT);
    expect_started(&p.bob.client, &alice, WAIT);
    for t in &texts {
        p.bob.client.expect_received(&alice, t, WAIT);
        p.alice.client.expect_sent(&bob, t, WAIT);
    }
    let order: Vec<String> = p
        .bob
        .client
        .writes()
        .into_iter()
        .filter(|w| w.has(flags::RECV) && w.shown().starts_with("queued walrus"))
        .map(|w| w.shown())
        .collect();
    if proto == Proto::Sip(SipTransport::Udp) {
        // SIP over UDP promises no order, and a proxy with several workers (the rig's Kamailio
        // has two, as deployments have many) can swap two datagrams that arrive together.
        // Sotto reads them in any order (skipped keys); that each arrived is checked above.
        let (mut got, mut want) = (order.clone(), texts.clone());
        got.sort();
        want.sort();
        assert_eq!(got, want, "bob got other queued messages than typed");
    } else {
        assert_eq!(order, texts, "bob got the queued messages out of order");
    }
    let held_lines = p
        .alice
        .client
        .writes()
        .iter()
        .filter(|w| w.has(flags::SYSTEM) && w.shown().to_lowercase().contains("held"))
        .count();
    assert!(
        held_lines <= 1,
        "{held_lines} 'held' lines for one wait: state lines are written once per change"
    );
    for t in &texts {
        assert_hidden(
            &[&p.alice.tap, &p.bob.tap],
            t,
            "message typed during the handshake",
        );
    }
    assert_no_trouble(&p);
}

/// Bob does not run Sotto. Under the default policy alice and bob talk in plaintext as before;
/// when alice asks for encryption bob reads the query's explanation (not base64 noise), and
/// what alice types while waiting for an answer that never comes is held, never sent in clear.
pub fn peer_without_sotto(proto: Proto) {
    let mut p = Pair::start(
        proto,
        PairOptions {
            bob_plugin: false,
            ..Default::default()
        },
    );
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let hello = "hello to a contact without sotto";
    p.alice.client.send(&bob, hello);
    p.bob.client.expect_received(&alice, hello, WAIT);
    let reply = "reply from a client without sotto";
    p.bob.client.send(&alice, reply);
    p.alice.client.expect_received(&bob, reply, WAIT);

    p.alice.client.cmd(&bob, "sotto start");
    p.bob
        .client
        .expect_write("bob reads the query's explanation", WAIT, |w| {
            w.has(flags::RECV)
                && w.shown().contains("?S1Q")
                && w.shown().to_lowercase().contains("sotto")
        });
    send_expect_held(
        &mut p,
        true,
        "patient walrus waits quietly here",
        "typed while the peer never answers",
    );
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        !p.bob
            .client
            .writes()
            .iter()
            .any(|w| w.shown().contains("patient walrus")),
        "bob was shown a message that should wait for encryption"
    );
    p.assert_no_criticals();
}

/// A session; SIGKILL alice mid-conversation, restart her on the same purple user dir: both
/// directions go on with no new handshake on the wire and no error shown. Then bob. Returns
/// the pair, still encrypted.
pub fn session_survives_restarts(proto: Proto) -> Pair {
    let t0 = Instant::now();
    let (mut p, _) = encrypted_pair(proto, PairOptions::default());
    {
        let Pair { alice, bob, .. } = &mut p;
        exchange(
            proto,
            alice,
            bob,
            "before restarts",
            "before any restart, from alice",
        );
        exchange(
            proto,
            bob,
            alice,
            "before restarts",
            "before any restart, from bob",
        );
    }
    for victim in ["alice", "bob"] {
        let marks = (p.alice.tap.mark(), p.bob.tap.mark());
        {
            let v = if victim == "alice" {
                &mut p.alice
            } else {
                &mut p.bob
            };
            v.client.kill();
            v.client.restart();
            v.client.expect_online();
        }
        let Pair { alice, bob, .. } = &mut p;
        let a = format!("after {victim} was killed and restarted, alice writes");
        let b = format!("after {victim} was killed and restarted, bob writes");
        exchange(proto, alice, bob, "after restart", &a);
        exchange(proto, bob, alice, "after restart", &b);
        assert_no_handshake_since(&p, marks, &format!("{victim}'s restart"));
        assert_no_trouble(&p);
        note(&format!("{proto:?}: {victim} killed and restarted"), t0);
    }
    p
}

/// Options for a pair where alice's clock runs under libfaketime (the returned directory's
/// `offset` file moves it; kept alive with the pair), her Sotto sweeps every second, and her
/// policy is `always`.
pub fn alice_always_on_a_clock() -> (PairOptions, TempDir) {
    let clock = TempDir::new("clock");
    let mut alice_env = faketime_env(clock.path());
    alice_env.push(("SOTTO_TEST_CHECKPOINT_SECS".into(), "1".into()));
    let o = PairOptions {
        alice_env,
        ..alice_always()
    };
    (o, clock)
}

/// alice ([`alice_always_on_a_clock`]) and bob had an encrypted conversation over `proto`,
/// which bob ended before signing off; with `see_presence` (XMPP only) alice sees bob's
/// presence (he is in her roster). While bob is offline alice starts again (`/sotto start`)
/// and types `texts`, her clock moved 150 s on after each: each text is held, each start
/// lapses (told), and typing after a lapse sends a new start. On XMPP bob's server keeps every
/// start (IRC's answers each with a 401). Returns the pair and the clock's directory.
pub fn started_while_bob_is_offline(
    proto: Proto,
    see_presence: bool,
    texts: &[String],
) -> (Pair, TempDir) {
    let (o, clock) = alice_always_on_a_clock();
    // (IRC: libpurple's `ISON` poll would see bob leave only at its next round, 45 s.)
    assert!(
        proto == Proto::Xmpp || !see_presence,
        "presence is XMPP's here"
    );
    let (mut p, _) = encrypted_pair(proto, o);
    let bob = p.bob.address.clone();
    if see_presence {
        p.alice.client.subscribe(&bob);
        p.bob
            .client
            .expect("bob allows alice to see his presence", WAIT, |l| {
                l.tag == "AUTHORIZED"
            });
    }
    bob_ends(&mut p);
    p.bob.client.quit();
    std::thread::sleep(Duration::from_secs(1));
    let mark = p.alice.tap.mark();
    p.alice.client.cmd(&bob, "sotto start");
    for (i, text) in texts.iter().enumerate() {
        p.alice.client.send(&bob, text);
        p.alice
            .client
            .expect_system(&bob, "the text is held", WAIT, |t| t.contains("held"));
        let deadline = std::time::Instant::now() + WAIT;
        while starts_sent(proto, &p, mark) <= i {
            assert!(
                std::time::Instant::now() < deadline,
                "start {} never reached the wire",
                i + 1
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let offset = format!("+{}\n", 150 * (i + 1));
        std::fs::write(clock.path().join("offset"), offset).expect("move alice's clock");
        p.alice
            .client
            .expect_system(&bob, "the start lapses", WAIT, |t| {
                t.contains("did not start")
            });
    }
    (p, clock)
}

/// The `?S1I` lines alice sent since `mark`.
pub fn starts_sent(proto: Proto, p: &Pair, mark: (usize, usize)) -> usize {
    sotto_lines(proto, &p.alice.tap.since(mark, Dir::Up))
        .iter()
        .filter(|l| l.starts_with("?S1I"))
        .count()
}

/// bob signs on again, and reads each of `texts` (in order, each within `wait`) without alice
/// typing again; none of them was ever on the wire, and alice's window never said a start
/// failed.
pub fn bob_reads_what_was_held(p: &mut Pair, texts: &[String], wait: Duration) {
    let alice = p.alice.address.clone();
    p.bob.client.restart();
    p.bob.client.expect_online();
    for t in texts {
        p.bob.client.expect_received(&alice, t, wait);
    }
    let shown: Vec<String> = p
        .bob
        .client
        .writes()
        .iter()
        .map(Written::shown)
        .filter(|w| texts.iter().any(|t| w.contains(t.as_str())))
        .collect();
    assert!(
        shown.len() == texts.len() && shown.iter().zip(texts).all(|(w, t)| w.contains(t.as_str())),
        "not once each, in order: {shown:?}"
    );
    for t in texts {
        assert_hidden(&[&p.alice.tap, &p.bob.tap], t, "held for bob");
    }
    p.alice
        .client
        .assert_no_write_shows("could not start", "alice's window");
    p.assert_no_criticals();
}
