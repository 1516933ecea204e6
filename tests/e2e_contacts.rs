//! One window for several of a contact's accounts: alice's buddy-list contact groups bob's two
//! accounts (merged as Pidgin's buddy list does), whose conversations Pidgin shows in one tab
//! and Finch in one window, sending what is typed to whichever is active. With the one
//! encrypted, a plaintext line to the other is held back and given back, and goes when sent
//! again; anything read or typed in the encrypted one asks again. Strangers and contacts with
//! nothing encrypted are untouched. Real libpurple, prosody and ngircd, taps.
//! Needs build/sotto.so: run with `make e2e` (see tests/README.md).

mod support;

use std::thread;
use std::time::Duration;

use support::*;

/// alice's buddy list puts `other` into `buddy`'s contact (the test client's `merge`).
fn merge(c: &mut Client, buddy: &str, other: &str) {
    c.command(&format!(
        "merge {} {}",
        escape_arg(buddy),
        escape_arg(other)
    ));
    c.expect("the buddies merged into one contact", WAIT, |l| {
        l.tag == "ECHO" && l.field(0) == "merge"
    });
}

/// alice types `text` to `to` (whose contact shares a window with `encrypted`, encrypted):
/// her window with `to` says it was NOT sent, names `encrypted`, and gives the text back;
/// after a moment, no tap carried it and `to` shows nothing of it.
fn held_back(alice: &mut Peer, to: &mut Peer, encrypted: &str, text: &str) {
    alice.client.send(&to.address, text);
    alice.client.expect_system(
        &to.address,
        &format!("the NOT-sent line naming {encrypted}, with the text given back"),
        WAIT,
        |t| {
            t.contains("message NOT sent: your conversation with")
                && t.contains(encrypted)
                && t.contains("is encrypted")
                && t.contains("send the same message again here")
                && t.ends_with(&format!("Your message: {text}"))
        },
    );
    // Had it gone, the server would have relayed it by now.
    thread::sleep(Duration::from_secs(2));
    alice.client.sync();
    to.client.sync();
    assert_hidden(
        &[&alice.tap, &to.tap],
        text,
        "a line held back for the encrypted sibling",
    );
    to.client.assert_no_write_shows(
        text,
        "the held-back line reached the contact's other account",
    );
    let shown_sent = writes_with(&alice.client, flags::SEND, text);
    assert!(shown_sent.is_empty(), "shown as sent: {shown_sent:#?}");
}

/// What `c` wrote with `flag` that shows `text`.
fn writes_with(c: &Client, flag: u32, text: &str) -> Vec<Written> {
    c.writes()
        .into_iter()
        .filter(|w| w.has(flag) && w.shown().contains(text))
        .collect()
}

/// alice types `text` to `to` and it goes in plaintext, as typed, with no Sotto line about it
/// (one from before, that held it back, aside).
fn goes_plain(alice: &mut Peer, to: &mut Peer, text: &str) {
    let before = writes_with(&alice.client, flags::SYSTEM, text).len();
    alice.client.send(&to.address, text);
    to.client.expect_received(&alice.address, text, WAIT);
    alice.client.expect_sent(&to.address, text, WAIT);
    let warned = writes_with(&alice.client, flags::SYSTEM, text);
    assert!(
        warned.len() == before,
        "a Sotto line about {text:?}: {:#?}",
        &warned[before.min(warned.len())..]
    );
}

/// XMPP: alice's contact "bob" groups bob@localhost and bob's second account bob2@localhost
/// (a client without Sotto). Before anything is encrypted, lines to both go as ever. With
/// bob@localhost encrypted, alice's first plaintext line to bob2 is NOT sent (the tap never
/// carries it; her window names the encrypted conversation and gives the text back), nor is
/// a second typed at once; the last one, sent again, goes, and so do the next. bob writing
/// encrypted (which makes his conversation the window's active one in Pidgin) asks again, and
/// so does alice typing there. carol, not in the contact, gets plaintext throughout.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_merged_contact_holds_a_plaintext_line_back_once() {
    let mut p = Pair::start(
        Proto::Xmpp,
        PairOptions {
            more_accounts: vec!["bob2".into(), "carol".into()],
            ..both_manual()
        },
    );
    let mut bob2 = p.another("bob2", false);
    let mut carol = p.another("carol", false);
    let bob = p.bob.address.clone();
    merge(&mut p.alice.client, &bob, &bob2.address);

    // Nothing encrypted: the merged contact changes nothing.
    goes_plain(&mut p.alice, &mut p.bob, "plain hello before anything");
    goes_plain(
        &mut p.alice,
        &mut bob2,
        "second account greeting unencrypted",
    );

    start_session(&mut p);
    held_back(&mut p.alice, &mut bob2, &bob, "quokka umbrella marmalade");
    // Typed at once, before reading why the first did not go: held back too.
    held_back(&mut p.alice, &mut bob2, &bob, "the vault code is 4711");
    // Sent again, the line held back goes; so does what follows.
    goes_plain(&mut p.alice, &mut bob2, "the vault code is 4711");
    goes_plain(
        &mut p.alice,
        &mut bob2,
        "chatting on unencrypted afterwards",
    );
    // A stranger, not in the contact: untouched.
    goes_plain(
        &mut p.alice,
        &mut carol,
        "stranger gets plaintext untouched",
    );

    // bob writes encrypted (in Pidgin the window now shows his conversation), then alice
    // writes there: each time, the next line to bob2 asks again.
    for (bob_writes, encrypted, held, next) in [
        (
            true,
            "bob encrypted ocelot news",
            "pangolin lantern riddle",
            "deliberate follow-up number two",
        ),
        (
            false,
            "alice encrypted heron answer",
            "axolotl compass meadow",
            "deliberate follow-up number three",
        ),
    ] {
        let (from, to) = if bob_writes {
            (&mut p.bob, &mut p.alice)
        } else {
            (&mut p.alice, &mut p.bob)
        };
        exchange(
            Proto::Xmpp,
            from,
            to,
            "a line in the encrypted one",
            encrypted,
        );
        held_back(&mut p.alice, &mut bob2, &bob, held);
        goes_plain(&mut p.alice, &mut bob2, held);
        goes_plain(&mut p.alice, &mut bob2, next);
    }

    p.assert_no_criticals();
    bob2.client.assert_no_criticals();
    carol.client.assert_no_criticals();
}

/// IRC: alice's contact groups bob and bob's other nick bobby (a client without Sotto). With
/// bob encrypted, `/me` typed in bobby's window (IRC's own command, past `send_im`) is held
/// back once as a typed line is, and goes when typed again.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_merged_contact_holds_an_action_back_once() {
    let (mut p, _) = encrypted_pair(Proto::Irc, both_manual());
    let mut bobby = p.another("bobby", false);
    let bob = p.bob.address.clone();
    merge(&mut p.alice.client, &bob, &bobby.address);
    // alice's window with bobby is open (a line from bobby opens it).
    bobby
        .client
        .send(&p.alice.address, "hello from the other nick");
    p.alice
        .client
        .expect_received(&bobby.address, "hello from the other nick", WAIT);

    let action = "waves a capybara banner";
    let line = p.alice.client.cmd(&bobby.address, &format!("me {action}"));
    assert_eq!(line.field(1), "0", "{line:?}");
    p.alice.client.expect_system(
        &bobby.address,
        "the NOT-sent line for the action, naming bob's encrypted conversation",
        WAIT,
        |t| {
            t.contains("message NOT sent: your conversation with bob (IRC)")
                && t.contains("is encrypted")
                && t.ends_with(&format!("Your message: /me {action}"))
        },
    );
    thread::sleep(Duration::from_secs(2));
    bobby.client.sync();
    assert_hidden(&[&p.alice.tap, &bobby.tap], action, "an action held back");

    p.alice.client.cmd(&bobby.address, &format!("me {action}"));
    bobby
        .client
        .expect_write("the action, in plaintext", WAIT, |w| {
            w.has(flags::RECV) && w.shown().contains(action)
        });
    p.assert_no_criticals();
    bobby.client.assert_no_criticals();
}
