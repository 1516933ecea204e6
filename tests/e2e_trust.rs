//! Trust (issue 4): fingerprints shown the same everywhere, question-and-answer verification, and
//! a changed key that blocks sending until the user accepts it. On XMPP (quick to set up; the
//! trust logic does not depend on the protocol). Needs build/sotto.so: run with `make e2e`.
//!
//! What the plugin must print, beyond tests/support/scenarios.rs:
//! - `/sotto fingerprint`: a system line with "your fingerprint" and ours (8 groups of 5 hex);
//! - `/sotto verify QUESTION | ANSWER`: the peer gets a system line containing the question;
//!   `/sotto answer ANSWER` on the peer; then both sides get a system line with "succeeded" (or
//!   "success"), or, for a wrong answer, one with "fail";
//! - `/sotto status`: a system line that says "verified" once the asker's trust is verified, and
//!   "unverified" / "not verified" otherwise;
//! - a changed key: a system line with "key" and "changed"; messages typed then are held (a
//!   "held" line, nothing on the wire) until `/sotto accept`, then delivered.

mod support;

use support::scenarios::*;
use support::*;

/// Our own fingerprint, from `/sotto fingerprint`.
fn own_fingerprint(c: &mut Client, peer: &str) -> String {
    let text = shown(&c.cmd_output(peer, "sotto fingerprint"));
    let at = text
        .to_lowercase()
        .find("your fingerprint")
        .unwrap_or_else(|| panic!("/sotto fingerprint printed no 'your fingerprint': {text:?}"));
    find_fingerprint(&text[at..])
        .unwrap_or_else(|| panic!("/sotto fingerprint printed no fingerprint: {text:?}"))
}

/// What `/sotto status` printed, lowercased.
fn status(c: &mut Client, peer: &str) -> String {
    let text = shown(&c.cmd_output(peer, "sotto status")).to_lowercase();
    assert!(!text.is_empty(), "/sotto status printed nothing");
    text
}

fn shown(writes: &[Written]) -> String {
    writes
        .iter()
        .map(Written::shown)
        .collect::<Vec<_>>()
        .join("\n")
}

fn says_verified(status: &str) -> bool {
    status.contains("verified")
        && !status.contains("unverified")
        && !status.contains("not verified")
}

fn verify(p: &mut Pair, question: &str, secret: &str, answer: &str) {
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.alice
        .client
        .cmd(&bob, &format!("sotto verify {question} | {secret}"));
    p.bob
        .client
        .expect_system(&alice, "bob sees alice's question", WAIT, |t| {
            t.contains(question)
        });
    p.bob.client.cmd(&alice, &format!("sotto answer {answer}"));
}

fn is_success(t: &str) -> bool {
    let t = t.to_lowercase();
    t.contains("succeeded") || t.contains("success")
}

/// Each side's started line shows the other's fingerprint exactly as the other's
/// `/sotto fingerprint` shows its own.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_fingerprints_match_across_both_sides() {
    let mut p = Pair::start(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let (bob_as_alice_sees_it, alice_as_bob_sees_it) = start_session(&mut p);
    assert_eq!(
        own_fingerprint(&mut p.bob.client, &alice),
        bob_as_alice_sees_it
    );
    assert_eq!(
        own_fingerprint(&mut p.alice.client, &bob),
        alice_as_bob_sees_it
    );
    assert_no_trouble(&p);
}

/// The right answer: both sides see success; the asker's trust becomes verified (and the
/// answer never crosses the wire in plaintext). Prints what the exchange cost on the wire.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_question_and_answer_verifies() {
    question_and_answer_verifies(Proto::Xmpp);
}

/// The same over IRC, where every Sotto line must fit the server's 512-byte line.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_question_and_answer_verifies() {
    question_and_answer_verifies(Proto::Irc);
}

fn question_and_answer_verifies(proto: Proto) {
    let mut p = Pair::start(proto, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    start_session(&mut p);
    let before = status(&mut p.alice.client, &bob);
    assert!(
        !says_verified(&before),
        "verified before any verification: {before:?}"
    );
    let marks = (p.alice.tap.mark(), p.bob.tap.mark());
    verify(
        &mut p,
        "where did we first meet",
        "the walrus cafe",
        "the walrus cafe",
    );
    p.alice
        .client
        .expect_system(&bob, "alice: verification succeeded", WAIT, is_success);
    p.bob
        .client
        .expect_system(&alice, "bob: verification succeeded", WAIT, is_success);
    // The wire cost of the exchange (issue 4 asks for it in docs/PERFORMANCE.md).
    let mut sizes = Vec::new();
    for (tap, mark) in [(&p.alice.tap, marks.0), (&p.bob.tap, marks.1)] {
        sizes.extend(
            sotto_lines(proto, &tap.since(mark, Dir::Up))
                .iter()
                .map(String::len),
        );
    }
    eprintln!(
        "[rig] {proto:?}: question-and-answer verification on the wire: {} lines, {} characters in total, sizes {sizes:?}",
        sizes.len(),
        sizes.iter().sum::<usize>()
    );
    if proto == Proto::Irc {
        assert_irc_relayed_intact(&p.alice.tap, marks.0, &p.bob.tap, marks.1);
        assert_irc_relayed_intact(&p.bob.tap, marks.1, &p.alice.tap, marks.0);
    }
    let after = status(&mut p.alice.client, &bob);
    assert!(
        says_verified(&after),
        "alice's status after a correct answer: {after:?}"
    );
    assert_hidden(
        &[&p.alice.tap, &p.bob.tap],
        "the walrus cafe",
        "verification answer",
    );
    assert_hidden(
        &[&p.alice.tap, &p.bob.tap],
        "where did we first meet",
        "verification question",
    );
    assert_no_trouble(&p);
}

/// A wrong answer: both sides see a failure, and the asker's trust stays unverified.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_wrong_answer_fails_on_both_sides() {
    let mut p = Pair::start(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    start_session(&mut p);
    verify(&mut p, "name of my first cat", "marmalade", "pickles");
    let fail = |t: &str| t.to_lowercase().contains("fail") && !is_success(t);
    p.alice
        .client
        .expect_system(&bob, "alice: verification failed", WAIT, fail);
    p.bob
        .client
        .expect_system(&alice, "bob: verification failed", WAIT, fail);
    let after = status(&mut p.alice.client, &bob);
    assert!(
        !says_verified(&after),
        "verified after a wrong answer: {after:?}"
    );
    p.assert_no_criticals();
}

/// Bob loses his identity (new install) and starts again. Alice is told his key changed, her
/// next message is held (not on the wire) until she accepts, then delivered; the verification
/// she had done before is gone.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_changed_key_blocks_until_accepted() {
    let mut p = Pair::start(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    start_session(&mut p);
    verify(&mut p, "favourite colour", "teal", "teal");
    p.alice
        .client
        .expect_system(&bob, "alice: verification succeeded", WAIT, is_success);

    p.bob.client.kill();
    let store = p.bob.client.purple_dir().join("sotto");
    std::fs::remove_dir_all(&store).unwrap_or_else(|e| panic!("remove {}: {e}", store.display()));
    p.bob.client.restart();
    p.bob.client.expect_online();
    p.bob.client.cmd(&alice, "sotto start");
    p.alice
        .client
        .expect_system(&bob, "alice: a warning that bob's key changed", WAIT, |t| {
            let t = t.to_lowercase();
            t.contains("key") && t.contains("changed")
        });

    let held = "a careful walrus waits for acceptance";
    send_expect_held(&mut p, true, held, "message held on a key change");
    assert!(
        !p.bob
            .client
            .writes()
            .iter()
            .any(|w| w.has(flags::RECV) && w.shown() == held),
        "bob got the message before alice accepted his new key"
    );

    p.alice.client.cmd(&bob, "sotto accept");
    p.bob.client.expect_received(&alice, held, WAIT);
    let after = status(&mut p.alice.client, &bob);
    assert!(
        !says_verified(&after),
        "still verified after a key change: {after:?}"
    );
    assert_hidden(
        &[&p.alice.tap, &p.bob.tap],
        held,
        "message held on a key change",
    );
    p.assert_no_criticals();
}
