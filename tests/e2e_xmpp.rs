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
