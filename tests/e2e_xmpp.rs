//! Sotto over XMPP: real libpurple (prpl-jabber), a loopback prosody, a tap on each client.
//! Needs build/sotto.so: run with `make e2e` (see tests/README.md).

mod support;

use std::time::Duration;
use support::scenarios::*;
use support::*;

/// `/sotto start`, then short, 5,000-character, unicode, HTML-special and multi-line messages
/// both ways: shown exactly, never on the wire (no plaintext `<body>` at all).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_encrypted_conversation_both_ways() {
    full_conversation(Proto::Xmpp);
}

/// Words that begin like a Sotto line (asking about one: "?S1Q is what I got", a pasted
/// `?S1D…`) are a person's words once decrypted: shown to the reader, and to the writer as
/// sent (both windows hid them as raw lines, "sent from another of your clients").
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_words_that_look_like_a_sotto_line_are_shown() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    for words in [
        "?S1Q is what my other client shows",
        "?S1DAAAAbbbbCCCCdddd what is this walrus",
        "?S1Q isn't it at https://example.com/a?b=1&c=2 <here>",
    ] {
        p.bob.client.send(&alice, words);
        p.alice.client.expect_received(&bob, words, WAIT);
        p.bob.client.expect_sent(&alice, words, WAIT);
    }
    // Held, then sent once a session is up: shown when it goes.
    bob_ends(&mut p);
    let held = "?S1Q held while bob was away";
    send_expect_held(&mut p, true, held, "held after bob ended");
    p.alice.client.cmd(&bob, "sotto start");
    p.bob.client.expect_received(&alice, held, WAIT);
    p.alice.client.expect_sent(&bob, held, WAIT);
    for c in [&p.alice.client, &p.bob.client] {
        let hidden: Vec<String> = c
            .writes()
            .iter()
            .map(|w| w.shown())
            .filter(|t| t.contains("cannot be read here") || t.contains("another of your"))
            .collect();
        assert!(hidden.is_empty(), "hidden as a raw line: {hidden:?}");
    }
    p.assert_no_criticals();
}

/// alice ends the encrypted conversation while offline: the end cannot go out, and the window
/// says bob's client was not told (it said only "ended", and bob's client kept encrypting to a
/// session alice no longer has; found by a read-only audit).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_an_end_that_cannot_go_out_says_bob_was_not_told() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let bob = p.bob.address.clone();
    p.alice.client.go_offline();
    p.alice.client.cmd(&bob, "sotto stop");
    p.alice
        .client
        .expect_system(&bob, "the end was not told", WAIT, |t| {
            t.contains("was NOT told") && t.contains("/sotto start")
        });
    p.alice.client.assert_no_criticals();
}

/// A message with an image typed into an encrypted conversation is refused with a notice
/// that says why and shows the words back: nothing leaves, and the words, with or without
/// the image, are not on the wire. The image was stripped and only the words went, while the
/// window showed the image as sent (found by a read-only audit).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_an_image_in_an_encrypted_conversation_is_refused() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.bob
        .client
        .send_raw(&alice, "look at this walrus <IMG ID=\"1\"> now");
    p.bob
        .client
        .expect_system(&alice, "the refusal", WAIT, |t| {
            t.contains("images cannot be sent encrypted") && t.contains("look at this walrus")
        });
    // The words alone still go.
    p.bob.client.send(&alice, "words after the image");
    p.alice
        .client
        .expect_received(&bob, "words after the image", WAIT);
    p.alice
        .client
        .assert_no_write_shows("walrus", "the image's words reached alice");
    p.assert_no_criticals();
}

#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_always_policy_holds_then_delivers() {
    always_holds_then_delivers(Proto::Xmpp);
}

#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_stop_ends_session_on_both_sides() {
    stop_ends_on_both_sides(Proto::Xmpp);
}

/// The "Sotto" submenu of Conversation > More (the buddy's `blist-node-extended-menu`) names
/// the action it takes: "Start encrypted conversation" while plaintext, "End encrypted
/// conversation" while encrypted; choosing it does exactly that on both sides.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_buddy_menu_starts_and_ends_encryption() {
    let mut p = Pair::start(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let listed = menu_items(&mut p.alice.client, &bob);
    assert!(
        !listed.iter().any(|l| {
            let l = l.to_lowercase();
            l.contains("end encrypted") || l.contains("restart encrypted")
        }),
        "'End'/'Restart' offered while not encrypted: {listed:#?}"
    );
    let start = menu_item(&mut p.alice.client, &bob, "start encrypted conversation");
    p.alice.client.command(&format!(
        "menuact {} {}",
        escape_arg(&bob),
        escape_arg(&start)
    ));
    expect_started(&p.alice.client, &bob, WAIT);
    expect_started(&p.bob.client, &alice, WAIT);
    // Only the actions that apply: no "Start" while encrypted ("Restart" instead), and no
    // "End" while plaintext (checked on the first listing by `menu_item`'s caller above).
    let listed = menu_items(&mut p.alice.client, &bob);
    assert!(
        !listed
            .iter()
            .any(|l| l.to_lowercase().ends_with("/start encrypted conversation")),
        "'Start' offered while encrypted: {listed:#?}"
    );
    assert!(
        listed.iter().any(|l| l
            .to_lowercase()
            .ends_with("/restart encrypted conversation")),
        "no 'Restart' while encrypted: {listed:#?}"
    );
    let end = menu_item(&mut p.alice.client, &bob, "end encrypted conversation");
    p.alice.client.command(&format!(
        "menuact {} {}",
        escape_arg(&bob),
        escape_arg(&end)
    ));
    for (c, peer) in [(&p.alice.client, &bob), (&p.bob.client, &alice)] {
        c.expect_system(peer, "the ended line", WAIT, |t| {
            t.to_lowercase().contains("ended")
        });
    }
    assert_no_trouble(&p);
}

#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_opportunistic_sends_nothing_unsolicited() {
    opportunistic_sends_nothing_unsolicited(Proto::Xmpp);
}

/// Sotto's data under the purple user dir (keys, sessions) is readable by its owner only.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_sotto_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let (p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let mut checked = 0;
    for c in [&p.alice.client, &p.bob.client] {
        let dir = c.purple_dir().join("sotto");
        let mode = std::fs::metadata(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o077,
            0,
            "{} is mode {:o}",
            dir.display(),
            mode & 0o777
        );
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
                let path = entry.expect("dir entry").path();
                let mode = std::fs::metadata(&path)
                    .expect("metadata")
                    .permissions()
                    .mode();
                if path.is_dir() {
                    stack.push(path.clone());
                }
                assert_eq!(
                    mode & 0o077,
                    0,
                    "{} is mode {:o}: group/other may read it",
                    path.display(),
                    mode & 0o777
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 2,
        "no Sotto files found under the purple user dirs"
    );
}

/// With `log_encrypted` on, encrypted conversations do go to libpurple's logs (the user asked),
/// and the started line says the conversation is logged.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_log_encrypted_pref_logs_encrypted_conversations() {
    let log = vec![(
        "/plugins/core/sotto/log_encrypted".to_string(),
        "true".to_string(),
    )];
    let mut p = Pair::start(
        Proto::Xmpp,
        PairOptions {
            alice_prefs: log.clone(),
            bob_prefs: log,
            ..Default::default()
        },
    );
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.alice.client.cmd(&bob, "sotto start");
    let started = p
        .alice
        .client
        .expect_system(&bob, "the started line", WAIT, |t| {
            t.to_lowercase().contains("started")
        });
    let t = started.shown().to_lowercase();
    assert!(
        t.contains("logged") && !t.contains("not logged"),
        "the started line should say it is logged: {t:?}"
    );
    expect_started(&p.bob.client, &alice, WAIT);
    let text = "a logged walrus, as the user asked";
    p.alice.client.send(&bob, text);
    p.bob.client.expect_received(&alice, text, WAIT);
    std::thread::sleep(Duration::from_millis(500));
    p.assert_logged("logged walrus", "the encrypted message");
    assert_hidden(&[&p.alice.tap, &p.bob.tap], text, "logged message");
}

#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_messages_typed_during_handshake_arrive_in_order() {
    typed_during_handshake_arrive_in_order(Proto::Xmpp);
}

/// The per-contact override, from the buddy menu: More > Sotto > "Settings for this contact..."
/// opens a `purple_request_choice` dialog; choosing "Always" makes the next message to that
/// contact wait for a session (held, not on the wire), and it arrives once the session is up.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_contact_settings_dialog_sets_always() {
    let mut p = Pair::start(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    choose_always(&mut p.alice.client, &bob);

    let held = "per-contact always keeps this walrus waiting";
    send_expect_held(&mut p, true, held, "message held by the per-contact policy");
    if p.alice
        .client
        .wait(Duration::from_secs(2), &mut |l| {
            l.written()
                .is_some_and(|w| w.has(flags::SYSTEM) && w.shown().contains("started"))
        })
        .is_none()
    {
        p.alice.client.cmd(&bob, "sotto start");
    }
    p.bob.client.expect_received(&alice, held, WAIT);
    assert_hidden(
        &[&p.alice.tap, &p.bob.tap],
        held,
        "message held by the per-contact policy",
    );
    assert_no_trouble(&p);
}

/// alice chooses "Always" for `bob` in the per-contact settings dialog (buddy menu: More >
/// Sotto > "Settings for this contact...") and is told so.
fn choose_always(c: &mut Client, bob: &str) {
    let settings = menu_item(c, bob, "settings for this contact");
    c.command(&format!(
        "menuact {} {}",
        escape_arg(bob),
        escape_arg(&settings)
    ));
    let req = c.expect("a request dialog", WAIT, |l| l.tag == "REQUEST");
    let n = req.field(0).to_string();
    c.sync();
    let items: Vec<Line> = c
        .lines()
        .into_iter()
        .filter(|l| l.tag == "REQUEST_ITEM" && l.field(0) == n)
        .collect();
    let always = items
        .iter()
        .find(|l| l.field(2).to_lowercase().starts_with("always"))
        .unwrap_or_else(|| panic!("no 'Always' choice in the dialog {req:?}: {items:#?}"));
    c.answer(&n, always.field(1));
    c.expect_system(bob, "a line confirming the new policy", WAIT, |t| {
        t.to_lowercase().contains("always")
    });
}

/// "Always" chosen for bob, then his buddy goes: libpurple's roster code removes it on the
/// server's remove push, and replaces it (settings lost) when the entry moves to another
/// group, which the user's other client or the server can do. The policy is Sotto's own
/// record, not the buddy's: the next message is held, never plaintext (it left in plaintext
/// under the default policy), and after a restart the contact's policy is still "always".
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_contact_policy_outlives_its_buddy() {
    let mut p = Pair::start(Proto::Xmpp, PairOptions::default());
    let bob = p.bob.address.clone();
    choose_always(&mut p.alice.client, &bob);
    p.alice
        .client
        .command(&format!("unbuddy {}", escape_arg(&bob)));
    p.alice.client.expect("the buddy removed", WAIT, |l| {
        l.tag == "ECHO" && l.field(0) == "unbuddy"
    });
    send_expect_held(
        &mut p,
        true,
        "a walrus for bob without a buddy entry",
        "held by the contact's policy with the buddy gone",
    );
    p.alice.client.kill();
    p.alice.client.restart();
    p.alice.client.expect_online();
    let status = p.alice.client.cmd_output(&bob, "sotto status");
    assert!(
        status
            .iter()
            .any(|w| w.shown().to_lowercase().contains("policy: always")),
        "the policy did not survive: {status:?}"
    );
    p.assert_no_criticals();
}

#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_peer_without_sotto() {
    peer_without_sotto(Proto::Xmpp);
}

/// Words after a `/sotto` command that takes none (`/sotto status`, Shift+Enter, a line) are
/// shown back as not sent, never lost without a word; and a command pasted with a mark that
/// shows nothing before its slash (a left-to-right mark) is refused like any mistyped one,
/// never sent to bob in plaintext with its answer (both found by a read-only review of the
/// commands).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_words_after_a_command_and_a_marked_command_are_never_lost_or_sent() {
    let mut p = Pair::start(Proto::Xmpp, PairOptions::default());
    let bob = p.bob.address.clone();
    let (plan, later) = ("here is the plan for friday", "see you at six");
    // After a command that takes nothing; after an answer (no question waits here: said so),
    // not taken into it.
    for (command, second) in [("sotto status", plan), ("sotto answer Lisbon", later)] {
        p.alice.client.cmd(&bob, &format!("{command}\n{second}"));
        p.alice
            .client
            .expect_system(&bob, "the second line shown back", WAIT, |t| {
                t.contains("NOT sent") && t.contains(second)
            });
    }
    let answer = "the answer is Lisbon";
    p.alice
        .client
        .send(&bob, &format!("\u{200E}/sotto answer {answer}"));
    p.alice
        .client
        .expect_system(&bob, "the marked command refused", WAIT, |t| {
            t.contains(answer)
        });
    p.alice.client.send(&bob, "an ordinary line after them");
    p.bob
        .client
        .expect_received(&p.alice.address, "an ordinary line after them", WAIT);
    for secret in [plan, later, answer] {
        assert_not_on_wire(&[&p.alice.tap], secret, "typed after a command, or marked");
    }
    p.assert_no_criticals();
}

/// alice creates the group chat `room` as `alice_nick` and bob joins it as `bob_nick`; alice
/// starts an encrypted private chat with bob. Returns their addresses in the room (bob's,
/// alice's).
fn encrypted_in_a_new_room(
    p: &mut Pair,
    room: &str,
    alice_nick: &str,
    bob_nick: &str,
) -> (String, String) {
    in_a_new_room(p, room, alice_nick, bob_nick);
    let (to_bob, to_alice) = (format!("{room}/{bob_nick}"), format!("{room}/{alice_nick}"));
    p.alice.client.cmd(&to_bob, "sotto start");
    expect_started(&p.alice.client, &to_bob, WAIT);
    expect_started(&p.bob.client, &to_alice, WAIT);
    (to_bob, to_alice)
}

/// alice creates the group chat `room` as `alice_nick` and bob joins it as `bob_nick`.
fn in_a_new_room(p: &mut Pair, room: &str, alice_nick: &str, bob_nick: &str) {
    // The server keeps a new room locked until it is configured.
    p.alice.client.command(&format!("join {room} {alice_nick}"));
    let create = expect_dialog(&mut p.alice.client, "create new room");
    p.alice
        .client
        .answer(&create.n, &create.item("accept defaults"));
    let joined = |l: &Line| l.tag == "JOINED" && l.field(0) == room;
    p.alice.client.expect("alice in the room", WAIT, joined);
    p.alice.client.expect("the room configured", WAIT, |l| {
        l.tag == "REQUEST_CLOSED" && l.field(0) == create.n
    });
    // The configuration reaches the server after the dialog closes; a join before it is refused.
    std::thread::sleep(Duration::from_secs(1));
    p.bob.client.command(&format!("join {room} {bob_nick}"));
    p.bob.client.expect("bob in the room", WAIT, joined);
}

/// A `/sotto` command mistyped in a group chat's window (another case, a blank first, the
/// blank forgotten) is the user's words for Sotto, a verification's secret perhaps: libpurple
/// runs no command there, and Pidgin hands such a line to the room as a message on XMPP. It is
/// never sent; the room's window says so, with the text (also for a line Sotto faulted on).
/// An ordinary line still reaches the room.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_mistyped_sotto_command_in_a_group_chat_is_never_sent() {
    let faults = "a room line that faults walrus";
    let mut p = Pair::start(
        Proto::Xmpp,
        PairOptions {
            alice_env: vec![("SOTTO_TEST_PANIC_ON_TEXT".into(), faults.into())],
            ..PairOptions::default()
        },
    );
    let room = "study@conference.localhost";
    in_a_new_room(&mut p, room, "alice", "bob");
    for typed in [
        "/Sotto verify the capital | walrus secret",
        " /sotto answer walrus answer",
        "/sottoanswer walrus glued",
        // A fault in Sotto while it looks at a room line (a panic, caught): not sent (it may
        // be a secret), and given back (it was dropped without a word; a hostile review).
        faults,
    ] {
        p.alice.client.chatsend(room, typed);
        p.alice.client.expect_in(room, typed.trim(), true);
    }
    p.alice.client.chatsend(room, "an ordinary room line");
    p.bob.client.expect_in(room, "an ordinary room line", false);
    // A Sotto line pasted into the room (to ask what it is): the user's words to the room,
    // sent as they are, without the one-to-one hints (XEP-0380 clients showed "encrypted
    // with Sotto" instead, and the room's archive dropped it: found by a read-only review).
    let pasted = "?S1DAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygp";
    p.alice.client.chatsend(room, pasted);
    p.bob.client.expect_in(room, pasted, false);
    p.alice.client.sync();
    for hint in ["urn:xmpp:eme:0", "no-permanent-store"] {
        assert_not_on_wire(&[&p.alice.tap], hint, "a line pasted into a room");
    }
    let leaked = p.bob.client.shown_with("walrus");
    assert!(leaked.is_empty(), "bob saw a mistyped command: {leaked:?}");
    assert_not_on_wire(
        &[&p.alice.tap, &p.bob.tap],
        "walrus",
        "a mistyped command in a group chat",
    );
    p.assert_no_criticals();
}

/// Private chats in an XMPP group chat (`room@server/nick`) are contacts like any other:
/// encrypted on request, and `/msg nick text` typed in the group chat's window (which libpurple
/// sends with no signal) goes through the same session. Once alice has left the room (closed
/// it; a kick or a disconnect does the same), libpurple names that contact `room@server`, the
/// room's own name: what she types to bob is still his encrypted conversation's, never
/// plaintext (it used to be a new, plaintext conversation shared by every occupant).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_group_chat_private_messages_never_leak() {
    let mut p = Pair::start(Proto::Xmpp, PairOptions::default());
    let room = "lounge@conference.localhost";
    let (to_bob, to_alice) = encrypted_in_a_new_room(&mut p, room, "alice", "bob");
    p.alice.client.send(&to_bob, "typed walrus words");
    p.bob
        .client
        .expect_received(&to_alice, "typed walrus words", WAIT);
    p.alice.client.command(&format!(
        "chatcmd {room} {}",
        escape_arg("msg bob by msg walrus words")
    ));
    let status = p.alice.client.expect("/msg in the room ran", WAIT, |l| {
        l.tag == "CMD" && l.field(0) == room
    });
    assert_eq!(
        status.field(1),
        "0",
        "/msg in the room: {:?}",
        status.field(2)
    );
    p.bob
        .client
        .expect_received(&to_alice, "by msg walrus words", WAIT);
    p.alice.client.command(&format!("leave {room}"));
    std::thread::sleep(Duration::from_secs(1));
    p.alice.client.send(&to_bob, "after leaving walrus words");
    // The room hands the line back: the window says it was not delivered, with its text,
    // and no dialog shows the encrypted line.
    p.alice
        .client
        .expect_system(&to_bob, "the line handed back, not delivered", WAIT, |t| {
            t.contains("NOT delivered") && t.contains("after leaving walrus words")
        });
    std::thread::sleep(Duration::from_secs(3));
    let dialogs: Vec<Line> = p
        .alice
        .client
        .lines()
        .into_iter()
        .filter(|l| l.is_box_with("?S1"))
        .collect();
    assert!(
        dialogs.is_empty(),
        "a dialog with a Sotto line: {dialogs:?}"
    );
    assert_not_on_wire(
        &[&p.alice.tap, &p.bob.tap],
        "walrus",
        "a private chat's text",
    );
    p.assert_no_criticals();
}

/// The same private chat, encrypted; alice leaves the room, and then the room's own address
/// lands on her roster (a roster push: here her account adds it, as the server could at any
/// time). libpurple's name for bob's window, `room@server/bob`, now normalizes to the buddy
/// `room@server`, and its lookup by name misses the window: what alice types in bob's window
/// went out in plaintext, under a new conversation of that buddy's (found by a read-only
/// review). The window sends nothing now, says why, and shows the text back (followed onto
/// the contact's name, bob's session would have served every other occupant's window too).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_room_on_the_roster_never_turns_a_private_chat_plaintext() {
    let mut p = Pair::start(Proto::Xmpp, PairOptions::default());
    let room = "annex@conference.localhost";
    let (to_bob, _) = encrypted_in_a_new_room(&mut p, room, "alice", "bob");
    p.alice.client.command(&format!("leave {room}"));
    std::thread::sleep(Duration::from_secs(1));
    p.alice.client.command(&format!("subscribe {room}"));
    p.alice.client.expect("the room on the roster", WAIT, |l| {
        l.tag == "ECHO" && l.field(0) == "subscribe"
    });
    std::thread::sleep(Duration::from_secs(1));
    p.alice
        .client
        .send(&to_bob, "after the roster walrus words");
    // Not sent: the window's name stands for the contact now, not for bob; it says so, and
    // shows the text back.
    p.alice
        .client
        .expect_system(&to_bob, "the window refuses, and says why", WAIT, |t| {
            t.contains("its address is now a contact")
        });
    p.alice
        .client
        .expect_system(&to_bob, "the text shown back", WAIT, |t| {
            t.contains("after the roster walrus words")
        });
    // Nor is a `/sotto` command run there: it acted on the room contact's conversation (a
    // status of that one, a start with it; found by a hostile review).
    for command in ["sotto status", "sotto start"] {
        p.alice.client.cmd(&to_bob, command);
        p.alice
            .client
            .expect_system(&to_bob, "the command is not run there", WAIT, |t| {
                t.contains("could not follow its contact")
            });
    }
    // A buddy pounce (written as sent first, then handed to `serv_send_im`; libpurple's
    // lookup by name opens a second window under the name for it) is not sent either, and
    // the windows say so with its text: it was left looking sent (found by a review of the
    // paths other protocols and plugins take).
    assert_eq!(
        p.alice
            .client
            .serv_send("pounce", &to_bob, "a pounce walrus"),
        0,
        "nothing sent"
    );
    p.alice
        .client
        .expect_system(&to_bob, "the pounce is said not sent", WAIT, |t| {
            t.contains("not sent") && t.contains("a pounce walrus")
        });
    assert_not_on_wire(
        &[&p.alice.tap, &p.bob.tap],
        "walrus",
        "a private chat's text",
    );
    p.assert_no_criticals();
}

/// bob's address written with the DNS root's dot (`bob@localhost.`: pasted from the end of a
/// sentence, an `xmpp:` link): the server routes it to bob (RFC 7622 §3.2), and libpurple's
/// normalization keeps the dot, so the window was a conversation of its own, and what alice
/// typed there reached bob in plaintext (found by a read-only review). It is bob's
/// conversation: encrypted, and read by bob.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_an_address_with_the_root_dot_is_the_contacts_conversation() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let dotted = format!("{bob}.");
    p.alice.client.send(&dotted, "to the dotted walrus address");
    p.bob
        .client
        .expect_received(&alice, "to the dotted walrus address", WAIT);
    assert_not_on_wire(
        &[&p.alice.tap, &p.bob.tap],
        "walrus",
        "text typed to the contact's address with the root dot",
    );
    p.assert_no_criticals();
}

/// A private chat with a room's occupant, the room left, then Sotto unloaded and loaded again
/// (Tools > Plugins, an upgrade): the memory of rooms left went with the unload, and the
/// window, tagged from its name at the load (`room@server`: a blank conversation), sent what
/// was typed there next in plaintext (found by a read-only review). The window keeps the
/// conversation it showed across the reload: the text waits for bob's next session.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_private_chat_of_a_left_room_stays_bobs_across_a_reload() {
    let mut p = Pair::start(Proto::Xmpp, PairOptions::default());
    let room = "atrium@conference.localhost";
    let (to_bob, _) = encrypted_in_a_new_room(&mut p, room, "alice", "bob");
    // Bob's conversation only ever encrypted: the unload ends it, and what is typed after
    // waits for a new one.
    p.alice.client.cmd(&to_bob, "sotto policy always");
    p.alice
        .client
        .expect_system(&to_bob, "the policy set", WAIT, |t| t.contains("always"));
    p.alice.client.command(&format!("leave {room}"));
    std::thread::sleep(Duration::from_secs(1));
    p.alice.client.unload_plugin();
    p.alice.client.load_plugin();
    p.alice
        .client
        .send(&to_bob, "after the reload walrus words");
    std::thread::sleep(Duration::from_secs(2));
    assert_not_on_wire(
        &[&p.alice.tap, &p.bob.tap],
        "walrus",
        "a private chat's text after a reload",
    );
    p.alice.client.expect_system(
        &to_bob,
        "the text is held for bob's conversation",
        WAIT,
        |t| t.contains("held"),
    );
    p.assert_no_criticals();
}

/// A private chat in a group chat with nicks the way people write them ("Alice", "Bob"):
/// libpurple keeps our own nick in the room lower-cased ("alice"), while the occupant sees
/// `room/Alice`; the handshake states the room's spelling, so neither side warns that names do
/// not match (it did, and held every message). A `/msg Bob …` typed in the room while the
/// conversation holds text opens the private window, where the held line says so (it was held
/// with no word anywhere). After leaving the room, the private window still gets Sotto's lines
/// (libpurple's own lookup no longer finds it then: they went nowhere).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_group_chat_private_chat_with_capital_nicks_and_after_leaving() {
    let mut p = Pair::start(Proto::Xmpp, PairOptions::default());
    let room = "parlour@conference.localhost";
    let (to_bob, to_alice) = encrypted_in_a_new_room(&mut p, room, "Alice", "Bob");
    p.alice.client.send(&to_bob, "capital walrus words");
    p.bob
        .client
        .expect_received(&to_alice, "capital walrus words", WAIT);
    p.bob.client.send(&to_alice, "capital reply");
    p.alice
        .client
        .expect_received(&to_bob, "capital reply", WAIT);
    for c in [&p.alice.client, &p.bob.client] {
        let warned: Vec<String> = c
            .writes()
            .iter()
            .map(|w| w.shown())
            .filter(|t| t.contains("names do not match"))
            .collect();
        assert!(warned.is_empty(), "a names warning: {warned:?}");
    }

    // Bob ends the conversation: what Alice types to him is held.
    p.bob.client.cmd(&to_alice, "sotto stop");
    p.alice
        .client
        .expect_system(&to_bob, "Bob ended the conversation", WAIT, |t| {
            t.contains("ended the encrypted conversation")
        });
    p.alice.client.close_window(&to_bob);
    p.alice.client.command(&format!(
        "chatcmd {room} {}",
        escape_arg("msg Bob held by msg walrus words")
    ));
    let status = p.alice.client.expect("/msg in the room ran", WAIT, |l| {
        l.tag == "CMD" && l.field(0) == room
    });
    assert_eq!(status.field(1), "0", "/msg: {:?}", status.field(2));
    p.alice
        .client
        .expect_system(&to_bob, "the /msg held, in Bob's window", WAIT, |t| {
            t.contains("message held") && t.contains("1 waiting")
        });

    // Left: the window is still Bob's, and Sotto's lines still reach it.
    p.alice.client.command(&format!("leave {room}"));
    std::thread::sleep(Duration::from_secs(1));
    p.alice.client.command("unload");
    p.alice
        .client
        .expect_system(&to_bob, "the unload line in Bob's window", WAIT, |t| {
            t.contains("Sotto was unloaded") && t.contains("1 message(s) held")
        });
    assert_not_on_wire(
        &[&p.alice.tap, &p.bob.tap],
        "walrus",
        "a private chat's text",
    );
    p.assert_no_criticals();
}

/// bob is offline (alice sees his presence) when alice writes under `always`: her start goes
/// to his server, which keeps it, and lapses after two minutes. When bob signs on, his
/// presence tries her start again (a new `?S1I`), his client answers it (and the start his
/// server kept), and he reads what she held, without her typing again. It used to stay held:
/// bob's answer to the kept start was dropped as stale, and his presence did nothing.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_what_is_held_for_a_contact_offline_reaches_him_when_he_signs_on() {
    let texts = ["typed while bob is offline 7713".to_string()];
    let (mut p, _clock) = started_while_bob_is_offline(Proto::Xmpp, true, &texts);
    let mark = p.alice.tap.mark();
    bob_reads_what_was_held(&mut p, &texts, WAIT);
    assert!(
        starts_sent(Proto::Xmpp, &p, mark) >= 1,
        "bob's presence did not try alice's start again"
    );
}

/// The same without bob's presence (he is not in alice's roster), and five starts kept (alice
/// typed five times, each start lapsing): bob's client answers the first four at once (the
/// answer limit) and the newest ten seconds later; alice's newest start completes with that
/// answer (the others complete nothing and say nothing), without a new start of hers, and bob
/// reads all five, in order. The newest used to go unanswered and every answer was dropped.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_the_newest_of_the_starts_kept_for_a_contact_offline_completes_when_he_signs_on() {
    let texts: Vec<String> = (1..=5)
        .map(|i| format!("held {i} while bob is offline 8842"))
        .collect();
    let (mut p, _clock) = started_while_bob_is_offline(Proto::Xmpp, false, &texts);
    // bob's sweep every second: his held-back answer goes as soon as its window is over.
    p.bob
        .client
        .cfg
        .env
        .push(("SOTTO_TEST_CHECKPOINT_SECS".into(), "1".into()));
    let mark = p.alice.tap.mark();
    bob_reads_what_was_held(&mut p, &texts, WAIT);
    assert_eq!(
        starts_sent(Proto::Xmpp, &p, mark),
        0,
        "the late answer completed the start alice kept"
    );
}
