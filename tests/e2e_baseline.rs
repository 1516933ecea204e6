//! The rig proves itself, without the plugin: plaintext typed by alice is shown by bob's
//! libpurple, and the tap between each client and the server sees it. If these fail, no
//! "the wire never contains the plaintext" assertion elsewhere means anything.

mod support;

use std::time::Instant;
use support::*;

#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_plaintext_without_plugin_reaches_peer_and_tap() {
    baseline(Proto::Irc);
}

#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_plaintext_without_plugin_reaches_peer_and_tap() {
    baseline(Proto::Xmpp);
}

fn baseline(proto: Proto) {
    let t0 = Instant::now();
    let mut p = Pair::start(
        proto,
        PairOptions {
            plugin: false,
            ..Default::default()
        },
    );
    note(&format!("{proto:?}: servers and two clients online"), t0);

    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let hello = "plain walrus tango from alice";
    p.alice.client.send(&bob, hello);
    p.bob.client.expect_received(&alice, hello, WAIT);
    p.alice.client.expect_sent(&bob, hello, WAIT);

    let reply = "plain zebra quartz from bob";
    p.bob.client.send(&alice, reply);
    p.alice.client.expect_received(&bob, reply, WAIT);

    // What the server saw: alice's tap carried her words up, bob's tap carried them down.
    assert!(
        find(&p.alice.tap.bytes(Dir::Up), b"walrus tango").is_some(),
        "alice's tap (up) lacks her message"
    );
    assert!(
        find(&p.bob.tap.bytes(Dir::Down), b"walrus tango").is_some(),
        "bob's tap (down) lacks alice's message"
    );
    assert!(
        find(&p.bob.tap.bytes(Dir::Up), b"zebra quartz").is_some(),
        "bob's tap (up) lacks his reply"
    );
    assert!(
        find(&p.alice.tap.bytes(Dir::Down), b"zebra quartz").is_some(),
        "alice's tap (down) lacks bob's reply"
    );

    // And the assertion the encrypted tests rely on really fails on a leak.
    let taps = [&p.alice.tap, &p.bob.tap];
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {})); // the panic below is the expected outcome
    let caught = std::panic::catch_unwind(|| assert_not_on_wire(&taps, "walrus tango", "probe"));
    std::panic::set_hook(hook);
    assert!(
        caught.is_err(),
        "assert_not_on_wire did not notice plaintext on the wire"
    );
    for n in needles(hello, 4) {
        assert!(
            p.alice.tap.contains(&n),
            "needle {n:?} of a plaintext message not found on the wire"
        );
    }

    // libpurple logs this plaintext conversation (the encrypted tests check theirs is not).
    p.assert_logged("walrus tango", "the plaintext message");

    // HTML specials travel as text, and the comparison un-escapes them exactly.
    let special = r#"<b>x</b> & "q" 'a' <script>"#;
    p.alice.client.send(&bob, special);
    p.bob.client.expect_received(&alice, special, WAIT);

    // Timing reference for the encrypted tests: one long plaintext message. IRC splits it into
    // ~12 PRIVMSG lines (so bob sees several messages); XMPP sends one stanza.
    let t1 = Instant::now();
    let long = support::long_text(5000, "alice");
    p.alice.client.send(&bob, &long);
    let tail_words = &long[long.len() - 30..];
    p.bob
        .client
        .expect_write("the end of the long plaintext message", WAIT, |w| {
            w.has(flags::RECV) && w.shown().ends_with(tail_words)
        });
    note(
        &format!("{proto:?}: 5,000 plaintext characters delivered"),
        t1,
    );

    p.assert_no_criticals();
    p.alice.client.quit();
    p.bob.client.quit();
    note(&format!("{proto:?}: baseline total"), t0);
}
