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
//! - dialogs (`purple_request_*`, printed as `REQUEST` lines): "Verify contact..." (More > Sotto,
//!   or `/sotto verify` alone) is an action dialog with "Compare fingerprints" / "Ask a question";
//!   the compare dialog shows both fingerprints and offers "They match"; the question form is a
//!   fields dialog with fields `question` and `answer`; the answerer's dialog is an input whose
//!   primary text contains the question; a changed key opens an action dialog mentioning "key",
//!   with "Accept the new key" / "Keep holding"; Known fingerprints is a fields dialog with a
//!   list `key` (one entry per key, with its fingerprint and "- verified -" / "- unverified -")
//!   and a choice `action` (0 verify, 1 unverify, 2 forget).

mod support;

use support::*;

use std::thread;
use std::time::Duration;

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

/// alice asks bob `question` (its answer: `secret`) and bob's window gets a line about it that
/// `seen` matches (`what` for the failure).
fn ask_and_see(
    p: &mut Pair,
    question: &str,
    secret: &str,
    what: &str,
    seen: impl Fn(&str) -> bool,
) {
    let (alice, bob) = (&p.alice.address, &p.bob.address);
    p.alice
        .client
        .cmd(bob, &format!("sotto verify {question} | {secret}"));
    p.bob.client.expect_system(alice, what, WAIT, seen);
}

fn verify(p: &mut Pair, question: &str, secret: &str, answer: &str) {
    ask_and_see(p, question, secret, "bob sees alice's question", |t| {
        t.contains(question)
    });
    let alice = p.alice.address.clone();
    p.bob.client.cmd(&alice, &format!("sotto answer {answer}"));
}

fn is_success(t: &str) -> bool {
    let t = t.to_lowercase();
    t.contains("succeeded") || t.contains("success")
}

/// Both windows get a system line about the other that `matches` (`what` for the failure).
fn both_see(p: &Pair, what: &str, matches: impl Fn(&str) -> bool + Copy) {
    let (alice, bob) = (&p.alice.address, &p.bob.address);
    p.alice
        .client
        .expect_system(bob, &format!("alice: {what}"), WAIT, matches);
    p.bob
        .client
        .expect_system(alice, &format!("bob: {what}"), WAIT, matches);
}

/// Both windows say the verification succeeded.
fn both_see_success(p: &Pair) {
    both_see(p, "verification succeeded", is_success);
}

/// Each side's started line shows the other's fingerprint exactly as the other's
/// `/sotto fingerprint` shows its own.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_fingerprints_match_across_both_sides() {
    let (mut p, (bob_as_alice_sees_it, alice_as_bob_sees_it)) =
        encrypted_pair(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
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
    let (mut p, _) = encrypted_pair(proto, PairOptions::default());
    let bob = p.bob.address.clone();
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
    both_see_success(&p);
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
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let bob = p.bob.address.clone();
    verify(&mut p, "name of my first cat", "marmalade", "pickles");
    let fail = |t: &str| t.to_lowercase().contains("fail") && !is_success(t);
    both_see(&p, "verification failed", fail);
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
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    verify(&mut p, "favourite colour", "teal", "teal");
    p.alice
        .client
        .expect_system(&bob, "alice: verification succeeded", WAIT, is_success);

    bob_gets_a_new_key(&mut p);
    let new_fp = new_key_warning(&mut p);

    let held = "a careful walrus waits for acceptance";
    held_from_bob(&mut p, held, "message held on a key change");

    // `/sotto accept` alone accepts nothing: it says what to type (the first four groups).
    let prefix = new_fp.split(' ').take(4).collect::<Vec<_>>().join(" ");
    p.alice.client.cmd(&bob, "sotto accept");
    p.alice
        .client
        .expect_system(&bob, "how to accept the key that was checked", WAIT, |t| {
            t.contains(&format!("/sotto accept {prefix}"))
        });
    // The key's first group alone is too little (a key made to match 20 bits is within a
    // server's reach), and four groups of which one differs name another key: both refused.
    let wrong_first = if new_fp.starts_with('0') {
        "11111"
    } else {
        "00000"
    };
    for wrong in [
        new_fp[..5].to_owned(),
        format!("{wrong_first}{}", &prefix[5..]),
    ] {
        p.alice.client.cmd(&bob, &format!("sotto accept {wrong}"));
        p.alice
            .client
            .expect_system(&bob, "a wrong or short fingerprint is refused", WAIT, |t| {
                t.contains("NOT accepted")
            });
    }
    // Not a fingerprint at all: said so, not taken for a key that changed again.
    p.alice.client.cmd(&bob, &format!("sotto accept {prefix}?"));
    p.alice
        .client
        .expect_system(&bob, "a typed key that is no fingerprint", WAIT, |t| {
            t.contains("is not a fingerprint") && !t.contains("changed again")
        });
    // The key as the contact dictates or pastes it (dashes, a full stop after it) is the key
    // checked (it was refused as one that "may have changed again").
    let dashed = prefix.replace(' ', "-");
    p.alice.client.cmd(&bob, &format!("sotto accept {dashed}."));
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

/// bob's key changed and alice has not accepted it: the window's title says so (not
/// "(encrypted)" alone), and what comes with that key is a Sotto line naming the key, never
/// bob's words (a server that finished a handshake as bob would write there too). Accepted,
/// the title is "(encrypted)" again and bob's messages are his words.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_words_on_a_key_not_accepted_are_not_the_contacts() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    bob_gets_a_new_key(&mut p);
    let new_fp = new_key_warning(&mut p);
    let title = |c: &Client| c.last_title(&bob).unwrap_or_default();
    p.alice.client.sync();
    assert!(
        title(&p.alice.client).ends_with("(key NOT accepted)"),
        "{:?}",
        title(&p.alice.client)
    );
    let words = "it is me, click accept";
    p.bob.client.send(&alice, words);
    p.alice
        .client
        .expect_system(&bob, "the words, as a line naming the key", WAIT, |t| {
            t.contains(words) && t.contains("not accepted") && t.contains(&new_fp)
        });
    assert!(
        !p.alice
            .client
            .writes()
            .iter()
            .any(|w| w.has(flags::RECV) && w.shown().contains(words)),
        "shown as bob's words"
    );
    let prefix = new_fp.split(' ').take(4).collect::<Vec<_>>().join(" ");
    p.alice.client.cmd(&bob, &format!("sotto accept {prefix}"));
    let after = "accepted now";
    p.bob.client.send(&alice, after);
    p.alice.client.expect_received(&bob, after, WAIT);
    p.alice.client.sync();
    assert!(
        title(&p.alice.client).ends_with("(encrypted)"),
        "{:?}",
        title(&p.alice.client)
    );
    p.assert_no_criticals();
}

/// Sotto is unloaded while a message waits on bob's changed key: the window gets libpurple's own
/// title back (it kept "(key NOT accepted)", or "(encrypted)" before, over a window that now
/// sends plaintext) and says that the held message stays saved and that what is typed now is
/// not encrypted.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_unloading_with_a_held_message_unmarks_the_window_and_says_so() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let bob = p.bob.address.clone();
    bob_gets_a_new_key(&mut p);
    new_key_warning(&mut p);
    held_from_bob(&mut p, "held while unloading", "a changed key");
    p.alice.client.command("unload");
    p.alice
        .client
        .expect("the plugin unloaded", WAIT, |l| l.tag == "PLUGIN_UNLOADED");
    p.alice.client.sync();
    let title = p.alice.client.last_title(&bob).unwrap_or_default();
    assert!(
        !title.contains("(encrypted)") && !title.contains("NOT accepted"),
        "the window still claims Sotto's state: {title:?}"
    );
    let said = p.alice.client.writes().iter().any(|w| {
        w.has(flags::SYSTEM)
            && w.shown().contains("Sotto was unloaded")
            && w.shown().contains("NOT encrypted")
    });
    assert!(said, "no line about the unload in the window");
    // Logging is given back, and stays (the conversation is still encrypted on disk: Sotto's
    // own handler for logging changes must not take it back while it unloads, with a line
    // saying the conversation is not logged).
    assert!(
        !p.alice
            .client
            .writes()
            .iter()
            .any(|w| w.shown().contains("NOT logged, whatever")),
        "a false line about logging: {}",
        p.alice.client.dump()
    );
    let plain = "plaintext after the unload is logged";
    p.alice.client.send(&bob, plain);
    p.alice.client.expect_sent(&bob, plain, WAIT);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(p.alice.client.logs_contain(plain), "logging was given back");
    p.alice.client.assert_no_criticals();
}

/// Alice's line warning that bob's key changed (after `bob_gets_a_new_key`): the new
/// fingerprint it shows.
fn new_key_warning(p: &mut Pair) -> String {
    let bob = p.bob.address.clone();
    let warning =
        p.alice
            .client
            .expect_system(&bob, "alice: a warning that bob's key changed", WAIT, |t| {
                let t = t.to_lowercase();
                t.contains("key") && t.contains("changed")
            });
    find_fingerprint(&warning.shown()).expect("the new fingerprint in the warning")
}

/// Alice types `text` to bob: held (a line says so), on no wire, and bob shows nothing.
fn held_from_bob(p: &mut Pair, text: &str, why: &str) {
    send_expect_held(p, true, text, why);
    assert!(
        !p.bob
            .client
            .writes()
            .iter()
            .any(|w| w.has(flags::RECV) && w.shown() == text),
        "bob got a message alice typed while it should be held: {why}"
    );
}

/// Activate More > Sotto > `label` in the IM window with `buddy`.
fn choose_menu(c: &mut Client, buddy: &str, label: &str) {
    let path = menu_item(c, buddy, &label.to_lowercase());
    c.command(&format!(
        "menuact {} {}",
        escape_arg(buddy),
        escape_arg(&path)
    ));
}

/// bob's key changed and alice closed the key dialog without deciding (its window's close
/// button, which calls nothing back: the test leaves it unanswered): More > Sotto offers
/// "Review the key and accept it...", which opens it again; accepted there, what she typed
/// meanwhile goes, encrypted. Once closed, the dialog could be had again only by typing
/// `/sotto accept` with the fingerprint (found by a read-only review of trust, 2026-12-07).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_key_dialog_closed_is_offered_again_in_the_menu() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    bob_gets_a_new_key(&mut p);
    new_key_warning(&mut p);
    let first = expect_dialog(&mut p.alice.client, "key");
    let held = "typed while the key waits walrus";
    held_from_bob(&mut p, held, "the key not accepted");
    choose_menu(&mut p.alice.client, &bob, "Review the key and accept it");
    let dialog = expect_dialog(&mut p.alice.client, "key");
    assert_ne!(dialog.n, first.n, "a dialog opened again");
    dialog.read();
    p.alice
        .client
        .answer(&dialog.n, &dialog.item("accept the new key"));
    p.bob.client.expect_received(&alice, held, WAIT);
    assert_hidden(&[&p.alice.tap, &p.bob.tap], held, "held, then accepted");
    let listed = menu_items(&mut p.alice.client, &bob);
    assert!(
        !listed
            .iter()
            .any(|l| l.to_lowercase().contains("review the key")),
        "offered once accepted: {listed:#?}"
    );
}

/// More > Sotto > "Verify contact..." > "Compare fingerprints" shows both fingerprints;
/// "They match: mark verified" makes the contact's key verified (status says so, a line says
/// so), on the clicking side only.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_fingerprint_dialog_marks_verified() {
    let (mut p, (bob_fp, _)) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let alice_fp = own_fingerprint(&mut p.alice.client, &bob);
    assert!(!says_verified(&status(&mut p.alice.client, &bob)));

    choose_menu(&mut p.alice.client, &bob, "verify contact");
    let choose = expect_dialog(&mut p.alice.client, "verify");
    assert_eq!(choose.kind, "action", "{:?}", choose.items);
    p.alice
        .client
        .answer(&choose.n, &choose.item("compare fingerprints"));
    let compare = expect_dialog(&mut p.alice.client, "compare fingerprints");
    assert_eq!(compare.kind, "action");
    let text = compare.text();
    assert!(
        text.contains(&alice_fp) && text.contains(&bob_fp),
        "the compare dialog must show both fingerprints ({alice_fp} and {bob_fp}): {text:?}"
    );
    p.alice
        .client
        .answer(&compare.n, &compare.item("they match"));
    p.alice
        .client
        .expect_system(&bob, "a line saying bob's key is verified", WAIT, |t| {
            t.contains(&bob_fp) && t.to_lowercase().contains("verified")
        });
    let after = status(&mut p.alice.client, &bob);
    assert!(
        says_verified(&after),
        "alice's status after comparing: {after:?}"
    );
    let bobs = status(&mut p.bob.client, &alice);
    assert!(!says_verified(&bobs), "bob's trust is his own: {bobs:?}");
    assert_no_trouble(&p);
}

/// The compare dialog answered "They match" after alice deleted her account (libpurple closes
/// the account's own dialogs, not Sotto's): nothing is done, and a box says so. It marked a key
/// verified, and made a new identity, under a name no account has, and its line went to no
/// window (found by a read-only review).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_dialog_answered_after_the_account_is_deleted_does_nothing() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let bob = p.bob.address.clone();
    let compare = open_compare(&mut p.alice.client, &bob);
    // The contact's settings too (More > Sotto > "Settings for this contact...").
    let settings = menu_item(&mut p.alice.client, &bob, "settings for this contact");
    p.alice.client.command(&format!(
        "menuact {} {}",
        escape_arg(&bob),
        escape_arg(&settings)
    ));
    let req = p
        .alice
        .client
        .expect("the settings dialog", WAIT, |l| l.tag == "REQUEST");
    let settings_n = req.field(0).to_string();
    p.alice.client.delete_account();
    p.alice
        .client
        .answer(&compare.n, &compare.item("they match"));
    p.alice
        .client
        .expect("a box saying nothing was done", WAIT, |l| {
            l.is_box_with("no longer exists")
        });
    // Its first choice saved: nothing is, under a name no account has.
    p.alice.client.answer(&settings_n, "0");
    p.alice.client.sync();
    let boxes = p.alice.client.boxes_with("no longer exists");
    assert_eq!(boxes, 2, "{}", p.alice.client.dump());
    p.alice.client.assert_no_write_shows(
        "is now verified",
        "a key marked verified after the deletion",
    );
    p.alice.client.assert_no_criticals();
}

/// More > Sotto > "Verify contact..." > "Compare fingerprints" in `c`'s window with `peer`:
/// the compare dialog.
fn open_compare(c: &mut Client, peer: &str) -> Dialog {
    choose_menu(c, peer, "verify contact");
    let choose = expect_dialog(c, "verify");
    c.answer(&choose.n, &choose.item("compare fingerprints"));
    expect_dialog(c, "compare fingerprints")
}

/// `/sotto verify` with no arguments opens the dialog; "Ask a question" opens a form; bob gets
/// the question in an input dialog (and, escaped, in a conversation line) and answers there;
/// both see success and alice's trust becomes verified. A second question declined in the
/// dialog ends with "did not complete" on both sides.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_question_and_answer_through_dialogs() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let question = "which <b>bakery</b> & café?";
    let secret = "the one by the canal";

    p.alice.client.cmd(&bob, "sotto verify");
    let choose = expect_dialog(&mut p.alice.client, "verify");
    p.alice
        .client
        .answer(&choose.n, &choose.item("ask a question"));
    let form = expect_dialog(&mut p.alice.client, "question");
    assert_eq!(form.kind, "fields", "{:?}", form.items);
    form.item("question");
    form.item("answer");
    p.alice
        .client
        .answer(&form.n, &format!("question={question};answer={secret}"));

    // Bob's window shows the question as text (escaped markup reads back exactly).
    p.bob
        .client
        .expect_system(&alice, "bob sees the question, as text", WAIT, |t| {
            t.contains(question)
        });
    let ask = expect_dialog(&mut p.bob.client, "asks");
    assert_eq!(ask.kind, "input");
    assert!(
        ask.primary.contains(question),
        "the answer dialog shows the question: {:?}",
        ask.primary
    );
    // It opens while bob may be typing a line to alice, and takes the keyboard: in Pidgin a
    // one-line box took that line's Enter as "Answer" (a wrong answer, the line gone;
    // docs/screenshots/take.sh shows it in the real Pidgin). A multi-line box does not.
    assert!(
        ask.items
            .contains(&("multiline".to_owned(), "1".to_owned())),
        "the answer box takes Enter as a new line, not as Answer: {:?}",
        ask.items
    );
    p.bob.client.answer(&ask.n, secret);
    both_see_success(&p);
    let after = status(&mut p.alice.client, &bob);
    assert!(
        says_verified(&after),
        "alice's status after the dialogs: {after:?}"
    );
    assert_hidden(&[&p.alice.tap, &p.bob.tap], secret, "verification answer");

    // Declining a question: both sides are told it did not complete.
    p.alice
        .client
        .cmd(&bob, "sotto verify second question here | yes");
    let ask = expect_dialog(&mut p.bob.client, "second question here");
    p.bob.client.command(&format!("cancel {}", ask.n));
    for (c, peer) in [(&p.alice.client, &bob), (&p.bob.client, &alice)] {
        c.expect_system(peer, "verification did not complete", WAIT, |t| {
            t.to_lowercase().contains("did not complete")
        });
    }
    assert_no_trouble(&p);
}

/// The question form asks only the key it was opened for. alice opens "Ask a question" for
/// bob; while she types, bob's key changes (a new install, or a server that restarts the
/// session with its own key). Her question is not sent to the new key (a right answer from it
/// would verify it): the window says so, and bob's client gets no question.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_question_form_asks_only_the_key_it_was_opened_for() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.alice.client.cmd(&bob, "sotto verify");
    let choose = expect_dialog(&mut p.alice.client, "verify");
    p.alice
        .client
        .answer(&choose.n, &choose.item("ask a question"));
    let form = expect_dialog(&mut p.alice.client, "question");
    bob_gets_a_new_key(&mut p);
    new_key_warning(&mut p);
    let question = "which walrus sang at the harbour?";
    p.alice
        .client
        .answer(&form.n, &format!("question={question};answer=the grey one"));
    p.alice.client.expect_system(
        &bob,
        "the question is not asked of the new key",
        WAIT,
        |t| t.contains("NOT asked") && t.contains("key changed"),
    );
    p.alice.client.sync();
    p.bob.client.sync();
    assert!(
        !p.bob
            .client
            .writes()
            .iter()
            .any(|w| w.is_with(&alice) && w.shown().contains(question)),
        "bob's new key was asked the question"
    );
    p.assert_no_criticals();
}

/// An answer whose line the connection does not take (bob went offline before he answered):
/// the run ends on his side, and his window says the answer was NOT sent (it said nothing, and
/// the run waited, its secrets kept, for a result that could not come).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_an_answer_that_did_not_leave_ends_the_run_and_says_so() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.alice.client.cmd(
        &bob,
        "sotto verify where did the walrus sleep? | on the pier",
    );
    p.bob
        .client
        .expect_system(&alice, "bob sees the question", WAIT, |t| {
            t.contains("where did the walrus sleep?")
        });
    p.bob.client.go_offline();
    p.bob.client.cmd(&alice, "sotto answer on the pier");
    p.bob
        .client
        .expect_system(&alice, "bob is told his answer did not leave", WAIT, |t| {
            t.contains("answer was NOT sent")
        });
    // Nothing runs any more: there is nothing to cancel.
    p.bob.client.cmd(&alice, "sotto cancel");
    p.bob
        .client
        .expect_system(&alice, "no run is left", WAIT, |t| {
            t.contains("nothing to cancel")
        });
    p.bob.client.assert_no_criticals();
}

/// bob's answer dialog is for the question it shows, and a contact asking question after
/// question takes bob's keyboard once, not with every line. alice asks, then asks again three
/// times before bob answers, once after he closed the window (each new question ends her run:
/// the dialog open for the first closes):
/// each is written in bob's window with how to answer, but no dialog opens for them (each took
/// the keyboard from whatever bob was typing, and a contact can ask with every line).
/// `/sotto answer` alone opens the dialog for the current question, whose answer verifies.
/// Once he has answered, alice's next question opens its dialog at once (`/sotto answer` alone
/// then says it is open). Then bob answers a
/// question with `/sotto answer` while its dialog is open: that dialog closes, and alice's next
/// question gets one (it got none while the stale one was open).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_the_answer_dialog_always_shows_the_question_asked_now() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    // alice asks `question` (its answer: `answer`); bob's dialog for it opens.
    let ask = |p: &mut Pair, question: &str, answer: &str| {
        p.alice
            .client
            .cmd(&bob, &format!("sotto verify {question} | {answer}"));
        expect_dialog(&mut p.bob.client, question)
    };
    // alice asks `question`, and bob's window says how to answer it without a dialog.
    let ask_no_dialog = |p: &mut Pair, question: &str, answer: &str| {
        ask_and_see(p, question, answer, "bob: a question with no dialog", |t| {
            t.contains(question) && t.contains("/sotto answer alone for a dialog")
        });
    };
    // bob's dialog `n` closes by itself.
    let closed = |p: &mut Pair, n: &str, what: &str| {
        let n = n.to_owned();
        p.bob.client.expect(what, WAIT, move |l| {
            l.tag == "REQUEST_CLOSED" && l.field(0) == n
        });
    };
    let answer_dialogs = |c: &mut Client| {
        c.sync();
        c.lines()
            .iter()
            .filter(|l| l.tag == "REQUEST" && l.field(2).contains("a question from"))
            .count()
    };
    let first = ask(&mut p, "the first question", "one");
    ask_no_dialog(&mut p, "the second question", "two");
    closed(&mut p, &first.n, "the first question's dialog closes");
    ask_no_dialog(&mut p, "the question after it", "two");
    // bob closes the window (the natural answer to a pest): the next question opens it
    // again to say so, but still no dialog.
    p.bob.client.close_window(&alice);
    ask_no_dialog(&mut p, "the question after the close", "two");
    assert_eq!(
        answer_dialogs(&mut p.bob.client),
        1,
        "four questions in a row took bob's keyboard more than once"
    );
    p.bob.client.cmd(&alice, "sotto answer");
    let current = expect_dialog(&mut p.bob.client, "the question after the close");
    p.bob.client.answer(&current.n, "two");
    both_see_success(&p);
    let after_answer = ask(&mut p, "a question after an answer", "six");
    let text = shown(&p.bob.client.cmd_output(&alice, "sotto answer"));
    assert!(text.contains("open already"), "{text:?}");
    p.bob.client.answer(&after_answer.n, "six");
    both_see_success(&p);

    let third = ask(&mut p, "the third question", "three");
    p.bob.client.cmd(&alice, "sotto answer three");
    closed(&mut p, &third.n, "the answered question's dialog closes");
    both_see_success(&p);
    let fourth = ask(&mut p, "the fourth question", "four");
    p.bob.client.answer(&fourth.n, "four");
    both_see_success(&p);
    // alice asks a fifth question and takes it back (`/sotto stop` ends the run, and the
    // session): bob's dialog for it closes.
    let fifth = ask(&mut p, "the fifth question", "five");
    p.alice.client.cmd(&bob, "sotto stop");
    closed(&mut p, &fifth.n, "the withdrawn question's dialog closes");
    assert_client_untroubled(&p.alice.client);
    p.bob.client.assert_no_criticals();
}

/// The asker takes a question back with `/sotto cancel` (nothing else ended a run of hers short
/// of `/sotto stop`): both windows say the check did not complete, bob's answer dialog closes,
/// an answer bob then types finds no question, and a new question works. `/sotto cancel` with
/// nothing running says so; the answerer can cancel too, and the asker's closed window opens
/// to say the check ended.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_question_can_be_cancelled_by_either_side() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let not_completed = |t: &str| t.contains("did not complete");
    let text = shown(&p.alice.client.cmd_output(&bob, "sotto cancel"));
    assert!(text.contains("nothing to cancel"), "{text:?}");

    p.alice
        .client
        .cmd(&bob, "sotto verify the cancelled question | one");
    let dialog = expect_dialog(&mut p.bob.client, "the cancelled question");
    p.alice.client.cmd(&bob, "sotto cancel");
    both_see(&p, "the check ended", not_completed);
    let n = dialog.n.clone();
    p.bob.client.expect("bob's dialog closes", WAIT, move |l| {
        l.tag == "REQUEST_CLOSED" && l.field(0) == n
    });
    let text = shown(&p.bob.client.cmd_output(&alice, "sotto answer one"));
    assert!(text.contains("no question"), "{text:?}");

    // bob cancels alice's next question from his side, after alice closed her window: it
    // opens again to say so (she would wait for a reply that never comes).
    // (Asked again before bob answered one: no dialog takes his keyboard this time, the
    // window says how to answer.)
    p.alice
        .client
        .cmd(&bob, "sotto verify the second question | two");
    p.bob
        .client
        .expect_system(&alice, "bob: the second question, no dialog", WAIT, |t| {
            t.contains("the second question") && t.contains("/sotto answer alone")
        });
    p.alice.client.close_window(&bob);
    p.bob.client.cmd(&alice, "sotto cancel");
    p.alice
        .client
        .expect_system(&bob, "alice: bob ended the check", WAIT, not_completed);

    verify(&mut p, "the third question", "three", "three");
    both_see_success(&p);
    p.assert_no_criticals();
}

/// Bob's key changes: besides the warning line alice gets a dialog that explains what it may
/// mean; "Accept the new key" there delivers the held message, as `/sotto accept` does.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_key_change_dialog_accept_delivers_held() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    bob_gets_a_new_key(&mut p);
    let dialog = expect_dialog(&mut p.alice.client, "key");
    assert_eq!(dialog.kind, "action");
    let text = dialog.text().to_lowercase();
    assert!(
        text.contains("changed") && text.contains("held") && text.contains("intercept"),
        "the key-change dialog explains itself: {text:?}"
    );
    let accept = dialog.item("accept the new key");
    dialog.item("keep holding");

    let held = "a patient walrus waits for the dialog";
    send_expect_held(&mut p, true, held, "message held on a key change");
    dialog.read();
    p.alice.client.answer(&dialog.n, &accept);
    p.bob.client.expect_received(&alice, held, WAIT);
    p.alice.client.expect_sent(&bob, held, WAIT);
    assert_hidden(
        &[&p.alice.tap, &p.bob.tap],
        held,
        "message held on a key change",
    );
    p.assert_no_criticals();
}

/// The button that keeps things as they are does just that, whichever index the UI hands the
/// callback (the test client passes Pidgin's, the reversed place: "Keep holding messages"
/// accepted the new key in Pidgin, "Cancel" marked a compared key verified). "Cancel" in the
/// comparison leaves bob's key unverified; "Keep holding messages" keeps what alice types
/// held and off the wire, says so, and accepts nothing; the first button of each dialog
/// still does its own action, but not the moment the dialog opens ("Accept" then accepts
/// nothing: a key typed for the conversation may have chosen it).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_each_trust_dialog_button_does_what_it_says() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let compare = open_compare(&mut p.alice.client, &bob);
    p.alice.client.answer(&compare.n, &compare.item("cancel"));
    p.alice.client.sync();
    thread::sleep(Duration::from_secs(1));
    let after = status(&mut p.alice.client, &bob);
    assert!(
        !says_verified(&after),
        "Cancel in the comparison marked bob verified: {after:?}"
    );

    bob_gets_a_new_key(&mut p);
    let fp = new_key_warning(&mut p);
    let dialog = expect_dialog(&mut p.alice.client, "key");
    let held = "a stubborn walrus stays held";
    send_expect_held(&mut p, true, held, "message held on a key change");
    p.alice
        .client
        .answer(&dialog.n, &dialog.item("keep holding"));
    p.alice
        .client
        .expect_system(&bob, "alice: still held, and how to go on", WAIT, |t| {
            t.contains("stay held until you accept the new key")
        });
    thread::sleep(Duration::from_secs(2));
    p.alice.client.sync();
    p.bob.client.sync();
    assert_hidden(&[&p.alice.tap, &p.bob.tap], held, "after Keep holding");
    p.bob
        .client
        .assert_no_write_shows(held, "Keep holding messages sent the held message");
    let now = status(&mut p.alice.client, &bob).to_lowercase();
    assert!(
        now.contains("held") || now.contains("not accepted"),
        "Keep holding messages accepted the new key {fp}: {now:?}"
    );
    // "Accept" chosen the moment the dialog opens (a key typed for the conversation, in
    // Pidgin, where the dialog takes the keyboard) accepts nothing, and the window says so.
    p.bob.client.cmd(&alice, "sotto start");
    let hasty = expect_dialog(&mut p.alice.client, "key");
    p.alice
        .client
        .answer(&hasty.n, &hasty.item("accept the new key"));
    p.alice
        .client
        .expect_system(&bob, "alice: Accept chosen too soon", WAIT, |t| {
            t.contains("was NOT accepted") && t.contains("a moment after its dialog opened")
        });
    thread::sleep(Duration::from_secs(1));
    p.bob.client.sync();
    p.bob
        .client
        .assert_no_write_shows(held, "Accept chosen too soon sent the held message");
    // The first button still accepts (the same dialog again, after the next start).
    p.bob.client.cmd(&alice, "sotto start");
    let again = expect_dialog(&mut p.alice.client, "key");
    again.read();
    p.alice
        .client
        .answer(&again.n, &again.item("accept the new key"));
    p.bob.client.expect_received(&alice, held, WAIT);
    assert_hidden(&[&p.alice.tap, &p.bob.tap], held, "once accepted");
    p.assert_no_criticals();
}

/// alice asks a question and closes her window before bob answers: the result opens it again
/// (it was written nowhere, so alice never learned whether bob's key checked out).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_questions_result_reaches_a_closed_window() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.alice
        .client
        .cmd(&bob, "sotto verify favourite tea | oolong");
    p.bob
        .client
        .expect_system(&alice, "bob sees alice's question", WAIT, |t| {
            t.contains("favourite tea")
        });
    p.alice.client.close_window(&bob);
    p.bob.client.cmd(&alice, "sotto answer oolong");
    both_see_success(&p);
    p.assert_no_criticals();
}

/// An auto-reply while bob's changed key waits for alice: libpurple sends it past the typed
/// path, then writes it into the window as sent whatever happened (`serv_got_im`). Held, it is
/// not shown as sent (it was, and shown again when it went); accepting the key sends it, shown
/// once.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_held_auto_reply_is_not_shown_as_sent() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    bob_gets_a_new_key(&mut p);
    let fp = new_key_warning(&mut p);
    let away = "away walrus: back at five";
    p.alice.client.command(&format!(
        "autoreply {} {}",
        escape_arg(&bob),
        escape_arg(away)
    ));
    p.alice.client.expect("the auto-reply ran", WAIT, |l| {
        l.tag == "ECHO" && l.field(0).starts_with("autoreply")
    });
    p.alice.client.sync();
    let shown_sent = |c: &Client| {
        c.writes()
            .iter()
            .filter(|w| w.has(flags::SEND) && w.shown() == away)
            .count()
    };
    assert_eq!(shown_sent(&p.alice.client), 0, "shown as sent while held");
    let prefix = fp.split(' ').take(4).collect::<Vec<_>>().join(" ");
    p.alice.client.cmd(&bob, &format!("sotto accept {prefix}"));
    p.bob.client.expect_received(&alice, away, WAIT);
    p.alice.client.expect_sent(&bob, away, WAIT);
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(shown_sent(&p.alice.client), 1, "shown once, when it went");
    assert_hidden(&[&p.alice.tap, &p.bob.tap], away, "a held auto-reply");
    p.assert_no_criticals();
}

/// Pidgin's key dialog closed with its window's close button calls nothing back: a later
/// change to another key still gets its dialog (it got none, for as long as Sotto ran), and
/// `/sotto accept` of that key closes the dialog showing it (its buttons would only ask again).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_key_dialog_closed_unanswered_leaves_room_for_the_next() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let bob = p.bob.address.clone();
    bob_gets_a_new_key(&mut p);
    new_key_warning(&mut p);
    let first = expect_dialog(&mut p.alice.client, "key");
    p.alice.client.command(&format!("dismiss {}", first.n));
    let n = first.n.clone();
    p.alice.client.expect("the dialog closed", WAIT, move |l| {
        l.tag == "REQUEST_CLOSED" && l.field(0) == n
    });

    bob_gets_a_new_key(&mut p);
    let second_fp = new_key_warning(&mut p);
    let second = expect_dialog(&mut p.alice.client, "key");
    assert!(
        second.text().contains(&second_fp),
        "the new dialog shows the new key {second_fp}: {:?}",
        second.text()
    );
    let prefix = second_fp.split(' ').take(4).collect::<Vec<_>>().join(" ");
    p.alice.client.cmd(&bob, &format!("sotto accept {prefix}"));
    let n = second.n.clone();
    p.alice
        .client
        .expect("the accepted key's dialog closed", WAIT, move |l| {
            l.tag == "REQUEST_CLOSED" && l.field(0) == n
        });
    p.assert_no_criticals();
}

/// bob's key changes twice while alice's dialog about the first new key is open: that dialog
/// closes, and the one about the second key opens only a moment later, never at once in its
/// place (it did: a server can complete a handshake every few seconds, and a click meant for
/// one key's Accept could land on the next one's).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_key_dialog_is_not_swapped_for_another_key_under_the_cursor() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    bob_gets_a_new_key(&mut p);
    new_key_warning(&mut p);
    let first = expect_dialog(&mut p.alice.client, "key");
    let mark = p.alice.client.lines().len();
    bob_gets_a_new_key(&mut p);
    let second_fp = new_key_warning(&mut p);
    let n = first.n.clone();
    p.alice
        .client
        .expect("the first dialog closed", WAIT, move |l| {
            l.tag == "REQUEST_CLOSED" && l.field(0) == n
        });
    let closed_at = std::time::Instant::now();
    let second = expect_dialog(&mut p.alice.client, "key");
    assert!(
        closed_at.elapsed() >= std::time::Duration::from_millis(1500),
        "the next dialog opened {:?} after the first closed",
        closed_at.elapsed()
    );
    assert!(
        second.text().contains(&second_fp),
        "the dialog shows the current key {second_fp}: {:?}",
        second.text()
    );
    let since: Vec<Line> = p.alice.client.lines().split_off(mark);
    assert_eq!(
        since.iter().filter(|l| l.tag == "REQUEST").count(),
        1,
        "{since:?}"
    );
    p.assert_no_criticals();
}

/// `/sotto fingerprints` lists bob's key with its trust; the Known fingerprints dialog marks
/// it verified (status agrees); Apply with the action the dialog preselects marks it
/// unverified (the least trusting: an action picked by a number meant "verify" or "unverify"
/// depending on the UI, and "unverify" forgot the key in Finch); the same view from the Tools
/// action forgets it (the list no longer has it), and an older copy of the list then changes
/// nothing and says so (it said "now marked verified").
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_known_fingerprints_verify_and_forget() {
    let (mut p, (bob_fp, _)) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let bob = p.bob.address.clone();

    let listed = shown(&p.alice.client.cmd_output(&bob, "sotto fingerprints"));
    let line = listed
        .lines()
        .find(|l| l.contains(&bob_fp))
        .unwrap_or_else(|| panic!("/sotto fingerprints does not list {bob_fp}: {listed:?}"));
    assert!(
        line.contains("unverified") && line.contains("last seen"),
        "{line:?}"
    );
    let known = expect_dialog(&mut p.alice.client, "known fingerprints");
    assert_eq!(known.kind, "fields");
    let ids: Vec<&str> = known.items.iter().map(|(k, _)| k.as_str()).collect();
    assert!(
        ids.contains(&"key") && ids.contains(&"action"),
        "{:?}",
        known.items
    );
    known_do(&mut p.alice.client, &known, &bob_fp, "Mark verified");
    p.alice
        .client
        .expect_system(&bob, "a line saying the key is now verified", WAIT, |t| {
            t.contains(&bob_fp) && t.contains("verified")
        });
    assert!(says_verified(&status(&mut p.alice.client, &bob)));
    let listed = shown(&p.alice.client.cmd_output(&bob, "sotto fingerprints"));
    assert!(
        listed
            .lines()
            .any(|l| l.contains(&bob_fp) && l.contains("- verified -")),
        "{listed:?}"
    );

    // That listing opened the dialog again: close it without a decision; then the same view
    // from Tools > Sotto > Known fingerprints... forgets the key.
    let known = known_from_tools(&mut p.alice.client);
    assert!(
        known.items.iter().any(|(_, l)| l.contains("- verified -")),
        "the Tools view shows the key as verified: {:?}",
        known.items
    );
    let label = known_list_entry(&known, &bob_fp);
    // Apply with the action left as the dialog offers it (Finch picks one unasked): the least
    // trusting, never "verified".
    p.alice.client.answer(&known.n, &format!("key={label}"));
    p.alice
        .client
        .expect_system(&bob, "a line saying the key is unverified", WAIT, |t| {
            t.contains(&bob_fp) && t.contains("now marked unverified")
        });
    assert!(!says_verified(&status(&mut p.alice.client, &bob)));

    // Two copies of the list: one forgets the key, the other, older, then changes nothing
    // and says so.
    let older = open_known(&mut p.alice.client);
    let known = open_known(&mut p.alice.client);
    known_do(&mut p.alice.client, &known, &bob_fp, "Forget this key");
    p.alice
        .client
        .expect_system(&bob, "a line saying the key is forgotten", WAIT, |t| {
            t.contains(&bob_fp) && t.contains("forgotten")
        });
    let listed = shown(&p.alice.client.cmd_output(&bob, "sotto fingerprints"));
    assert!(
        !listed.contains(&bob_fp),
        "a forgotten key is still listed: {listed:?}"
    );
    known_do(&mut p.alice.client, &older, &bob_fp, "Mark verified");
    p.alice
        .client
        .expect_system(&bob, "the older list changed nothing", WAIT, |t| {
            t.contains(&bob_fp) && t.contains("no longer recorded")
        });
    let listed = shown(&p.alice.client.cmd_output(&bob, "sotto fingerprints"));
    assert!(
        !listed.contains(&bob_fp),
        "a forgotten key came back: {listed:?}"
    );
    assert_no_trouble(&p);
}

/// Bob gets a new key and alice accepts it in the key-change dialog (she then has two accepted
/// keys for him); a message each way on it. Its fingerprint.
fn new_key_accepted(p: &mut Pair) -> String {
    bob_gets_a_new_key(p);
    let new_fp = new_key_warning(p);
    let dialog = expect_dialog(&mut p.alice.client, "key");
    dialog.read();
    p.alice
        .client
        .answer(&dialog.n, &dialog.item("accept the new key"));
    exchange(
        Proto::Xmpp,
        &mut p.alice,
        &mut p.bob,
        "after accepting",
        "the new key is accepted",
    );
    new_fp
}

/// Bob's key changed and alice accepted the new one, so she has two accepted keys for him.
/// Forgetting the new one, which the live session uses, in Tools > Sotto > Known fingerprints
/// holds the conversation at once (as it would load after a restart): the window says so and
/// how to undo it, what alice types then never reaches the wire, and accepting the key again
/// delivers it.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_forgetting_the_key_in_use_holds_what_is_typed() {
    let (mut p, (old_fp, _)) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let new_fp = new_key_accepted(&mut p);
    assert_ne!(new_fp, old_fp);
    let listed = shown(&p.alice.client.cmd_output(&bob, "sotto fingerprints"));
    assert!(
        listed.contains(&old_fp) && listed.contains(&new_fp),
        "both keys are known: {listed:?}"
    );
    // That listing opened the Known fingerprints dialog: close it, then forget the new key
    // from the Tools view.
    let known = known_from_tools(&mut p.alice.client);
    known_do(&mut p.alice.client, &known, &new_fp, "Forget this key");
    p.alice
        .client
        .expect_system(&bob, "a line saying what is typed is held", WAIT, |t| {
            t.contains("held until") && t.contains("/sotto accept")
        });

    let held = "a forgetful walrus keeps this to itself";
    held_from_bob(&mut p, held, "the key in use was forgotten");
    let prefix = new_fp.split(' ').take(4).collect::<Vec<_>>().join(" ");
    p.alice.client.cmd(&bob, &format!("sotto accept {prefix}"));
    p.bob.client.expect_received(&alice, held, WAIT);
    p.alice.client.expect_sent(&bob, held, WAIT);
    assert_hidden(
        &[&p.alice.tap, &p.bob.tap],
        held,
        "message held after forgetting the key in use",
    );
    p.assert_no_criticals();
}

/// The same with no window open (the Known fingerprints list is usually used with none): a
/// message box says the key was forgotten and that what alice types to bob is held. Both
/// lines went to no window and were lost (found by a read-only review).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_forgetting_the_key_in_use_with_no_window_says_so_in_a_box() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let bob = p.bob.address.clone();
    let new_fp = new_key_accepted(&mut p);
    p.alice.client.close_window(&bob);
    let known = open_known(&mut p.alice.client);
    known_do(&mut p.alice.client, &known, &new_fp, "Forget this key");
    p.alice
        .client
        .expect("a box saying what is typed is held", WAIT, |l| {
            l.tag == "NOTIFY"
                && l.fields
                    .iter()
                    .any(|f| f.contains("held until") && f.contains("/sotto accept"))
        });
    p.assert_no_criticals();
}

/// What a question proves, said to each side: bob asks, alice answers. Alice's window says her
/// answer proves her to bob and does not check bob's key; bob's says alice's key is verified.
/// Then bob reinstalls (a key alice has not accepted, as a server's own key would be) and asks
/// again: alice's line and dialog say the key is NOT accepted and warn against answering with
/// a shared secret. (Both used to say "bob asks you to verify them", and the answerer's result
/// "bob gave the same answer": a trust signal whoever holds the key could produce.)
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_question_says_what_it_proves_and_from_which_key() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.bob.client.cmd(&alice, "sotto verify our walrus | quokka");
    p.alice
        .client
        .expect_system(&bob, "alice sees bob's question", WAIT, |t| {
            t.contains("our walrus") && t.contains("does not check")
        });
    // Answered in the dialog, as in Pidgin (it closes; the next question gets its own).
    let d = expect_dialog(&mut p.alice.client, "our walrus");
    p.alice.client.answer(&d.n, "quokka");
    p.alice
        .client
        .expect_system(&bob, "alice: what her answer proved", WAIT, |t| {
            is_success(t) && t.contains("does not check theirs")
        });
    p.bob
        .client
        .expect_system(&alice, "bob: alice's key verified", WAIT, |t| {
            is_success(t) && t.contains("now verified")
        });

    bob_gets_a_new_key(&mut p);
    new_key_warning(&mut p);
    // Bob's new session is up on his side too (alice may be told first: she can finish it).
    p.bob
        .client
        .expect_system(&alice, "bob's new session", WAIT, |t| {
            t.contains("encrypted conversation started")
        });
    p.bob
        .client
        .cmd(&alice, "sotto verify our secret word | quokka");
    p.alice.client.expect_system(
        &bob,
        "alice: a question from a key not accepted",
        WAIT,
        |t| t.contains("NOT accepted") && t.contains("our secret word"),
    );
    let d = expect_dialog(&mut p.alice.client, "NOT accepted");
    assert!(
        d.secondary.contains("Do not answer with a secret"),
        "{}",
        d.secondary
    );
    p.assert_no_criticals();
}

/// `/sotto verify` with no encrypted session: the window says the question was not sent, never
/// "waiting for their answer" (it used to, after "verification did not complete", and waited
/// forever).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_question_with_no_session_is_not_sent_and_says_so() {
    let mut p = Pair::start(Proto::Xmpp, both_manual());
    let bob = p.bob.address.clone();
    p.alice.client.cmd(&bob, "sotto verify our walrus | quokka");
    p.alice
        .client
        .expect_system(&bob, "the question was not sent", WAIT, |t| {
            t.contains("was not sent")
        });
    p.alice.client.sync();
    let writes = p.alice.client.writes();
    assert!(
        !writes
            .iter()
            .any(|w| w.shown().contains("Waiting for their answer")),
        "alice was told she waits for an answer"
    );
    assert_hidden(
        &[&p.alice.tap, &p.bob.tap],
        "our walrus",
        "a question not sent",
    );
    p.assert_no_criticals();
}

/// A key dialog answered while offline, with the conversation's window closed: what was held
/// cannot go (no connection) and no window can open to say so. A message box shows each text
/// NOT sent (it used to vanish unseen), a formatted one (it scrolls; Pidgin cuts a plain
/// message box's body at about 2 KB, and this box is the text's only copy), with the text
/// whole: here over 2 KB, with characters that escaping lengthens.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_held_text_accepted_offline_with_the_window_closed_is_shown_not_sent() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let bob = p.bob.address.clone();
    bob_gets_a_new_key(&mut p);
    let dialog = expect_dialog(&mut p.alice.client, "key");
    let accept = dialog.item("accept the new key");
    let held = format!(
        "a walrus & a seal <typed> before the line dropped {}",
        "x".repeat(3000)
    );
    let held = held.as_str();
    send_expect_held(&mut p, true, held, "message held on a key change");
    p.alice.client.close_window(&bob);
    p.alice.client.go_offline();
    dialog.read();
    p.alice.client.answer(&dialog.n, &accept);
    let shown_escaped = held
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    p.alice
        .client
        .expect("a message box names the text NOT sent", WAIT, |l| {
            l.tag == "NOTIFY"
                && l.field(0) == "formatted"
                && l.field(2).contains("NOT sent")
                && l.field(3).contains(&shown_escaped)
        });
    p.alice.client.assert_no_criticals();
}
