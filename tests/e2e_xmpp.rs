//! Sotto over XMPP: real libpurple (prpl-jabber), a loopback prosody, a tap on each client.
//! Needs build/sotto.so: run with `make e2e` (see tests/README.md).

mod support;

use support::scenarios::*;
use support::*;

/// `/sotto start`, then short, 5,000-character, unicode, HTML-special and multi-line messages
/// both ways: shown exactly, never on the wire (no plaintext `<body>` at all).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_encrypted_conversation_both_ways() {
    full_conversation(Proto::Xmpp);
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
    let start = menu_item(&mut p.alice.client, &bob, "start encrypted conversation");
    p.alice.client.command(&format!(
        "menuact {} {}",
        escape_arg(&bob),
        escape_arg(&start)
    ));
    expect_started(&p.alice.client, &bob, WAIT);
    expect_started(&p.bob.client, &alice, WAIT);
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

/// The path of the first menu item under More/ whose label contains `label` (any case).
fn menu_item(c: &mut Client, buddy: &str, label: &str) -> String {
    c.command(&format!("menu {}", escape_arg(buddy)));
    c.sync();
    let items: Vec<String> = c
        .lines()
        .iter()
        .filter(|l| l.tag == "MENU")
        .map(|l| l.field(1).to_string())
        .collect();
    items
        .iter()
        .rev()
        .find(|path| path.starts_with("More/") && path.to_lowercase().contains(label))
        .cloned()
        .unwrap_or_else(|| panic!("no More/…/{label:?} menu item; the menus were: {items:#?}"))
}
