//! The steps of an encrypted conversation, shared by the scenarios and the e2e tests: the
//! messages the tests type, starting a session (and a pair that has one), one message each way,
//! a message that must be held.

use std::time::{Duration, Instant};

use super::{
    assert_handshake_lines, assert_hidden, find_fingerprint, flags, note, Client, Pair,
    PairOptions, Peer, Proto, Written, WAIT,
};

/// The messages every direction of every protocol carries.
pub fn messages(from: &str) -> Vec<(&'static str, String)> {
    vec![
        ("short", format!("short walrus note from {from}")),
        ("long", long_text(5000, from)),
        (
            "unicode",
            format!("unicode from {from}: héllo wörld ✓ — 日本語のテキスト 🔐👍🏽 ünïcödé tail"),
        ),
        (
            "html",
            format!(
                "<b>x</b> & \"q\" 'a' <script>alert(\"sotto\")</script> html specials from {from}"
            ),
        ),
        (
            "multiline",
            format!("first line from {from}\nsecond line of three\n\nfourth after a blank line"),
        ),
        (
            "url",
            format!("a link from {from}: https://example.com/a?b=c&d=e#f and mail bob@example.org"),
        ),
    ]
}

/// `len` bytes of numbered words (each 6-word window is unique), ending in a marker.
pub fn long_text(len: usize, from: &str) -> String {
    let mut s = format!("long message from {from} ");
    let mut i = 0;
    while s.len() < len {
        s.push_str(&format!("w{i:04} "));
        i += 1;
    }
    s.truncate(len - 8);
    s.push_str(" the end");
    s
}

/// Wait for the "encrypted conversation started" line with `peer`; returns the fingerprint.
pub fn expect_started(client: &Client, peer: &str, timeout: Duration) -> String {
    let w = client.expect_system(
        peer,
        &format!("a system line saying the encrypted conversation with {peer} started, with a fingerprint"),
        timeout,
        |t| t.to_lowercase().contains("started") && find_fingerprint(t).is_some(),
    );
    assert!(
        w.has(flags::NO_LOG),
        "the started line must not be logged (NO_LOG): {w:?}"
    );
    find_fingerprint(&w.shown()).expect("fingerprint")
}

pub(super) fn is_started(w: &Written) -> bool {
    w.has(flags::SYSTEM)
        && w.shown().to_lowercase().contains("started")
        && find_fingerprint(&w.shown()).is_some()
}

/// `/sotto start` from alice; both sides show the started line; the handshake used only
/// one-line messages (IRC: each is a single PRIVMSG, relayed intact). Returns the fingerprints
/// (the one alice shows for bob, the one bob shows for alice).
pub fn start_session(p: &mut Pair) -> (String, String) {
    let t0 = Instant::now();
    let marks = (p.alice.tap.mark(), p.bob.tap.mark());
    let bob = p.bob.address.clone();
    let alice = p.alice.address.clone();
    p.alice.client.cmd(&bob, "sotto start");
    let fp_bob = expect_started(&p.alice.client, &bob, WAIT);
    let fp_alice = expect_started(&p.bob.client, &alice, WAIT);
    note(&format!("{:?}: handshake", p.proto), t0);
    assert_ne!(
        fp_bob, fp_alice,
        "both sides show the same fingerprint: each must show the *peer's* key"
    );

    p.alice
        .client
        .expect("the conversation title marked as encrypted", WAIT, |l| {
            l.tag == "TITLE" && {
                let t = l.field(1).to_lowercase();
                t.contains("encrypt") || t.contains('🔒')
            }
        });
    assert_handshake_lines(p, marks);
    (fp_bob, fp_alice)
}

/// A [`Pair`] whose session is already encrypted: [`Pair::start`], then [`start_session`] with
/// all its checks. Returns the pair and what `start_session` returned (the fingerprint alice
/// shows for bob, the one bob shows for alice).
pub fn encrypted_pair(proto: Proto, o: PairOptions) -> (Pair, (String, String)) {
    let mut p = Pair::start(proto, o);
    let fingerprints = start_session(&mut p);
    (p, fingerprints)
}

/// One message, typed by `from` to `to`: the receiver shows exactly the text, the sender's
/// window shows it as sent, and neither tap ever carried a distinctive piece of it.
pub fn exchange(proto: Proto, from: &mut Peer, to: &mut Peer, label: &str, text: &str) {
    let t0 = Instant::now();
    let timeout = if text.len() > 1000 {
        Duration::from_secs(120)
    } else {
        WAIT
    };
    from.client.send(&to.address, text);
    to.client.expect_received(&from.address, text, timeout);
    from.client.expect_sent(&to.address, text, WAIT);
    note(
        &format!(
            "{proto:?}: {label} ({} bytes) {} → {}",
            text.len(),
            from.client.cfg.name,
            to.client.cfg.name
        ),
        t0,
    );
    assert_hidden(&[&from.tap, &to.tap], text, label);
}

/// Both sides on the `manual` policy: a session starts only when asked, and after `/sotto stop`
/// the next message is plaintext (under `opportunistic` it could start a new session by itself
/// with a peer known to run Sotto).
pub fn both_manual() -> PairOptions {
    let manual = vec![(
        "/plugins/core/sotto/policy".to_string(),
        "manual".to_string(),
    )];
    PairOptions {
        alice_prefs: manual.clone(),
        bob_prefs: manual,
        ..Default::default()
    }
}

/// Alice on the `always` policy (bob on the default): what she types before a session is held.
pub fn alice_always() -> PairOptions {
    PairOptions {
        alice_prefs: vec![(
            "/plugins/core/sotto/policy".to_string(),
            "always".to_string(),
        )],
        ..Default::default()
    }
}

/// Under `always`, a held message may start the session by itself; if `client` shows no
/// started line within 3 s, the user starts it with `/sotto start` in the window with `peer`.
/// Either way `client`'s side is started when this returns.
pub fn start_unless_started(client: &mut Client, peer: &str) {
    let auto = client.wait(Duration::from_secs(3), &mut |l| {
        l.written().is_some_and(|w| is_started(&w))
    });
    if auto.is_none() {
        client.cmd(peer, "sotto start");
        expect_started(client, peer, WAIT);
    }
}

/// Every message of [`messages`] typed once each way, alice first, with [`exchange`]'s checks.
pub fn exchange_all(p: &mut Pair) {
    let proto = p.proto;
    for ((label, a), (_, b)) in messages("alice").into_iter().zip(messages("bob")) {
        let Pair { alice, bob, .. } = p;
        exchange(proto, alice, bob, label, &a);
        exchange(proto, bob, alice, label, &b);
    }
}

/// alice writes `first`, bob reads it; bob answers `reply`, alice reads it.
pub fn both_ways(p: &mut Pair, first: &str, reply: &str) {
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.alice.client.send(&bob, first);
    p.bob.client.expect_received(&alice, first, WAIT);
    p.bob.client.send(&alice, reply);
    p.alice.client.expect_received(&bob, reply, WAIT);
}

/// bob ends the encrypted conversation (`/sotto stop`) and alice's window says so: what she
/// types next is held.
pub fn bob_ends(p: &mut Pair) {
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.bob.client.cmd(&alice, "sotto stop");
    p.alice
        .client
        .expect_system(&bob, "bob ended the encrypted conversation", WAIT, |t| {
            t.contains("ended the encrypted conversation")
        });
}

/// Alice (or bob) types `text`; it must be held: a system line with "held" in the sender's
/// window, and after 2 s (time for a leak to reach the server) nothing of it on either tap.
pub fn send_expect_held(p: &mut Pair, from_alice: bool, text: &str, why: &str) {
    let (from, to) = if from_alice {
        (&mut p.alice, &p.bob)
    } else {
        (&mut p.bob, &p.alice)
    };
    from.client.send(&to.address, text);
    from.client
        .expect_system(&to.address, &format!("a 'held' line: {why}"), WAIT, |t| {
            t.to_lowercase().contains("held")
        });
    std::thread::sleep(Duration::from_secs(2));
    assert_hidden(&[&p.alice.tap, &p.bob.tap], text, why);
}
