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

use super::*;

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

fn is_started(w: &Written) -> bool {
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

/// The handshake on the wire: only query/handshake types, each message in one line.
fn assert_handshake_lines(p: &Pair, marks: ((usize, usize), (usize, usize))) {
    let sent: Vec<String> = match p.proto {
        Proto::Irc => {
            let a = irc_sotto_lines(&p.alice.tap.since(marks.0, Dir::Up));
            let b = irc_sotto_lines(&p.bob.tap.since(marks.1, Dir::Up));
            for l in a.iter().chain(b.iter()) {
                assert!(
                    "QIRC".contains(l.kind),
                    "a handshake message was fragmented or is not a handshake type ({}): {}",
                    l.kind,
                    l.raw
                );
                assert!(
                    l.raw.len() + 2 <= 512,
                    "IRC line over 512 bytes: {} bytes",
                    l.raw.len() + 2
                );
            }
            assert_irc_relayed_intact(&p.alice.tap, marks.0, &p.bob.tap, marks.1);
            assert_irc_relayed_intact(&p.bob.tap, marks.1, &p.alice.tap, marks.0);
            a.into_iter().chain(b).map(|l| l.payload).collect()
        }
        Proto::Xmpp => {
            let a = xmpp_sotto_bodies(&p.alice.tap.since(marks.0, Dir::Up));
            let b = xmpp_sotto_bodies(&p.bob.tap.since(marks.1, Dir::Up));
            for body in a.iter().chain(b.iter()) {
                let kind = body[3..].chars().next().unwrap_or('?');
                assert!(
                    "QIRC".contains(kind),
                    "unexpected message type {kind} during the handshake: {body}"
                );
            }
            a.into_iter().chain(b).collect()
        }
    };
    let kinds: String = sent.iter().filter_map(|s| s[3..].chars().next()).collect();
    assert!(
        kinds.contains('I') && kinds.contains('R'),
        "no I/R handshake messages seen on the wire: {kinds:?}"
    );
    let sizes: Vec<usize> = sent.iter().map(String::len).collect();
    eprintln!(
        "[rig] {:?}: handshake on the wire: types {kinds}, sizes {sizes:?}",
        p.proto
    );
}

/// Every Sotto line the sender's client gave the IRC server arrived at the receiver's client
/// byte for byte (nothing cut at 512 bytes, nothing re-split).
pub fn assert_irc_relayed_intact(
    sender: &Tap,
    smark: (usize, usize),
    receiver: &Tap,
    rmark: (usize, usize),
) {
    let sent = irc_sotto_lines(&sender.since(smark, Dir::Up));
    let got: Vec<String> = irc_sotto_lines(&receiver.since(rmark, Dir::Down))
        .into_iter()
        .map(|l| l.payload)
        .collect();
    for l in &sent {
        assert!(
            got.contains(&l.payload),
            "a Sotto line alice/bob sent was not relayed intact by the IRC server:\n  sent: {}\n  relayed lines: {}",
            l.raw,
            got.len()
        );
    }
    for l in irc_sotto_lines(&receiver.since(rmark, Dir::Down)) {
        assert!(
            l.raw.len() + 2 <= 512,
            "relayed IRC line over 512 bytes ({}): {}",
            l.raw.len() + 2,
            l.raw
        );
    }
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

/// No distinctive piece of `text` on any tap (raw, and HTML-escaped for the special characters).
pub fn assert_hidden(taps: &[&Tap], text: &str, label: &str) {
    for n in needles(text, 8) {
        assert_not_on_wire(taps, &n, label);
    }
    for special in [
        "<script>",
        "&lt;script&gt;",
        "<b>x</b>",
        "&lt;b&gt;x",
        "日本語",
        "🔐",
        "héllo",
        "h&#233;llo",
    ] {
        if text.contains(special) || (special.starts_with("&lt;") && text.contains('<')) {
            assert_not_on_wire(taps, special, label);
        }
    }
}

/// After a session: every IM between the two on the wire was Sotto text (no plaintext PRIVMSG or
/// `<body>` at all since `marks`).
pub fn assert_only_sotto_since(p: &Pair, marks: ((usize, usize), (usize, usize))) {
    for (who, tap, mark) in [
        ("alice", &p.alice.tap, marks.0),
        ("bob", &p.bob.tap, marks.1),
    ] {
        let up = tap.since(mark, Dir::Up);
        match p.proto {
            Proto::Irc => {
                for line in split_lines(&up) {
                    if let Some(rest) = line.strip_prefix("PRIVMSG ") {
                        let text = rest.split_once(" :").map(|x| x.1).unwrap_or("");
                        assert!(
                            text.starts_with("?S1"),
                            "{who} sent a non-Sotto PRIVMSG while encrypted: {line}"
                        );
                    }
                }
            }
            Proto::Xmpp => {
                let s = String::from_utf8_lossy(&up);
                let mut rest: &str = &s;
                while let Some(i) = rest.find("<body>") {
                    rest = &rest[i + 6..];
                    assert!(
                        rest.starts_with("?S1"),
                        "{who} sent a non-Sotto <body> while encrypted: {}",
                        &rest[..rest.len().min(80)]
                    );
                }
            }
        }
    }
}

/// No line on either side says something went wrong.
pub fn assert_no_trouble(p: &Pair) {
    for c in [&p.alice.client, &p.bob.client] {
        c.assert_no_criticals();
        for w in c.writes() {
            let t = w.shown().to_lowercase();
            let bad = w.has(flags::ERROR)
                || (w.has(flags::SYSTEM)
                    && (t.contains("could not")
                        || t.contains("not encrypted")
                        || t.contains("error")
                        || t.contains("failed")));
            assert!(!bad, "[{}] trouble in the conversation: {w:?}", c.cfg.name);
        }
        for l in c.lines() {
            assert!(
                l.tag != "ERROR",
                "[{}] the client reported {:?}",
                c.cfg.name,
                l.fields
            );
        }
    }
}

/// The full round: start, every message both ways, the wire checked throughout.
pub fn full_conversation(proto: Proto) {
    let t0 = Instant::now();
    let mut p = Pair::start(proto, PairOptions::default());
    let marks = (p.alice.tap.mark(), p.bob.tap.mark());
    start_session(&mut p);
    for ((label, a), (_, b)) in messages("alice").into_iter().zip(messages("bob")) {
        let Pair { alice, bob, .. } = &mut p;
        exchange(proto, alice, bob, label, &a);
        exchange(proto, bob, alice, label, &b);
    }
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
    let always = vec![(
        "/plugins/core/sotto/policy".to_string(),
        "always".to_string(),
    )];
    let mut p = Pair::start(
        proto,
        PairOptions {
            alice_prefs: always,
            ..Default::default()
        },
    );
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
    let auto = p.alice.client.wait(Duration::from_secs(3), &mut |l| {
        l.written().is_some_and(|w| is_started(&w))
    });
    if auto.is_none() {
        p.alice.client.cmd(&bob, "sotto start");
        expect_started(&p.alice.client, &bob, WAIT);
    }
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

/// Neither side sent handshake traffic (`?S1Q/I/R/C`) since `marks` (alice's, bob's): the
/// session went on as it was. `after` names the event for the failure message.
pub fn assert_no_handshake_since(p: &Pair, marks: ((usize, usize), (usize, usize)), after: &str) {
    for (who, tap, mark) in [
        ("alice", &p.alice.tap, marks.0),
        ("bob", &p.bob.tap, marks.1),
    ] {
        let kinds: String = sotto_lines(p.proto, &tap.since(mark, Dir::Up))
            .iter()
            .filter_map(|l| l[3..].chars().next())
            .collect();
        assert!(
            !kinds.contains(['Q', 'I', 'R', 'C']),
            "{who} sent handshake traffic after {after} ({kinds}): sessions must go on"
        );
    }
}

/// No two different data messages that either client gave the server share (session id, ratchet
/// key, message number), i.e. a message key and nonce. Returns how many data messages there were.
pub fn assert_no_key_reuse(p: &Pair) -> usize {
    let mut seen: std::collections::HashMap<DataHeader, Vec<u8>> = Default::default();
    let mut count = 0;
    for (who, tap) in [("alice", &p.alice.tap), ("bob", &p.bob.tap)] {
        for line in reassemble(&sotto_lines(p.proto, &tap.bytes(Dir::Up))) {
            let Some((header, ct)) = parse_data(&line) else {
                continue;
            };
            count += 1;
            if let Some(other) = seen.insert(header.clone(), ct.clone()) {
                assert_eq!(
                    other, ct,
                    "{who} sent two different ciphertexts under one message key/nonce: {header:?}"
                );
            }
        }
    }
    eprintln!(
        "[rig] {count} data messages on the wire, {} distinct keys",
        seen.len()
    );
    count
}

/// `/sotto stop` from alice: both sides say it ended; bob's next message is held (his peer ended
/// the session) and not on the wire; alice's next message goes out as plaintext (her choice).
pub fn stop_ends_on_both_sides(proto: Proto) {
    // `manual` on both: under `opportunistic` alice's next message could legitimately restart
    // the session by itself (bob is known to run Sotto), which is not what this test is about.
    let mut p = Pair::start(proto, both_manual());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    start_session(&mut p);
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
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let hello = "plain hello under the default policy";
    p.alice.client.send(&bob, hello);
    p.bob.client.expect_received(&alice, hello, WAIT);
    let reply = "plain reply under the default policy";
    p.bob.client.send(&alice, reply);
    p.alice.client.expect_received(&bob, reply, WAIT);
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
    assert_eq!(order, texts, "bob got the queued messages out of order");
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

/// The IM window's menus with `buddy` as the client lists them now: `More/...` (the buddy menu,
/// Pidgin's Conversation > More) and `Options/...` paths.
pub fn menu_items(c: &mut Client, buddy: &str) -> Vec<String> {
    let before = c.lines().len();
    c.command(&format!("menu {}", escape_arg(buddy)));
    c.sync();
    c.lines()
        .iter()
        .skip(before)
        .filter(|l| l.tag == "MENU")
        .map(|l| l.field(1).to_string())
        .collect()
}

/// The path of the first menu item under More/ whose label contains `label` (any case).
pub fn menu_item(c: &mut Client, buddy: &str, label: &str) -> String {
    let items = menu_items(c, buddy);
    items
        .iter()
        .find(|path| path.starts_with("More/") && path.to_lowercase().contains(label))
        .cloned()
        .unwrap_or_else(|| panic!("no More/…/{label:?} menu item; the menus were: {items:#?}"))
}
