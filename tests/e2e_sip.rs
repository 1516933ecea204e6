//! SIP, the third real protocol (issue 12): libpurple's SIMPLE (`prpl-simple`) through a
//! loopback Kamailio, over TCP (SIMPLE's default) and over UDP, with the same end-to-end checks
//! as IRC and XMPP: both directions, every kind of message, long ones, the hold queue, a peer
//! without Sotto, restarts, and a tap on each client's connection to the server.
//!
//! SIMPLE names the contact `sip:bob@127.0.0.1` when a message arrives from it; the tests type
//! into that window, as a user answering does. `sip_one_contact_is_one_conversation` types into
//! `bob@127.0.0.1`, the window a user opens from the buddy list.

mod support;

use std::time::Instant;

use support::scenarios;
use support::*;

const TCP: Proto = Proto::Sip(SipTransport::Tcp);
const UDP: Proto = Proto::Sip(SipTransport::Udp);

#[test]
#[ignore = "e2e: run via make e2e"]
fn sip_tcp_full_conversation() {
    scenarios::full_conversation(TCP);
}

#[test]
#[ignore = "e2e: run via make e2e"]
fn sip_udp_full_conversation() {
    scenarios::full_conversation(UDP);
}

#[test]
#[ignore = "e2e: run via make e2e"]
fn sip_tcp_always_policy_holds_then_delivers() {
    scenarios::always_holds_then_delivers(TCP);
}

#[test]
#[ignore = "e2e: run via make e2e"]
fn sip_udp_always_policy_holds_then_delivers() {
    scenarios::always_holds_then_delivers(UDP);
}

#[test]
#[ignore = "e2e: run via make e2e"]
fn sip_tcp_stop_ends_on_both_sides() {
    scenarios::stop_ends_on_both_sides(TCP);
}

#[test]
#[ignore = "e2e: run via make e2e"]
fn sip_udp_opportunistic_sends_nothing_unsolicited() {
    scenarios::opportunistic_sends_nothing_unsolicited(UDP);
}

#[test]
#[ignore = "e2e: run via make e2e"]
fn sip_tcp_peer_without_sotto() {
    scenarios::peer_without_sotto(TCP);
}

#[test]
#[ignore = "e2e: run via make e2e"]
fn sip_udp_messages_typed_during_handshake_arrive_in_order() {
    scenarios::typed_during_handshake_arrive_in_order(UDP);
}

#[test]
#[ignore = "e2e: run via make e2e"]
fn sip_tcp_session_survives_sigkill_of_either_side() {
    scenarios::session_survives_restarts(TCP);
}

#[test]
#[ignore = "e2e: run via make e2e"]
fn sip_udp_session_survives_sigkill_of_either_side() {
    scenarios::session_survives_restarts(UDP);
}

/// The line sizes (src/purple/fragsize.rs) on the wire: over TCP a 5,000-character message is
/// one MESSAGE (no `?S1P` burst for SIMPLE's one-message-per-read() reader to stall on); over
/// UDP no MESSAGE body is longer than 800 characters.
fn line_sizes(proto: Proto) {
    let t0 = Instant::now();
    let (mut p, _) = encrypted_pair(proto, PairOptions::default());
    let mark = p.alice.tap.mark();
    let text = long_text(5000, "alice");
    let Pair { alice, bob, .. } = &mut p;
    exchange(proto, alice, bob, "long", &text);
    let lines = sotto_lines(proto, &p.alice.tap.since(mark, Dir::Up));
    let longest = lines.iter().map(String::len).max().unwrap_or(0);
    eprintln!(
        "[rig] {proto:?}: a 5,000-character message as {} MESSAGE(s), the longest {longest} characters",
        lines.len()
    );
    match proto {
        Proto::Sip(SipTransport::Tcp) => {
            assert_eq!(
                lines.len(),
                1,
                "over TCP one message is one line: {lines:?}"
            );
            assert!(lines[0].starts_with("?S1D"), "not fragmented");
        }
        _ => {
            assert!(lines.len() > 1, "over UDP a long message is fragmented");
            assert!(longest <= 800, "a line of {longest} characters over UDP");
        }
    }
    assert_no_trouble(&p);
    note(&format!("{proto:?}: line sizes"), t0);
}

#[test]
#[ignore = "e2e: run via make e2e"]
fn sip_tcp_long_message_is_one_line() {
    line_sizes(TCP);
}

#[test]
#[ignore = "e2e: run via make e2e"]
fn sip_udp_lines_fit_a_datagram() {
    line_sizes(UDP);
}

/// SIMPLE spells one contact two ways: `bob@127.0.0.1` in the window the user opens, and
/// `sip:bob@127.0.0.1` in the one its messages arrive in. Both are one conversation: alice
/// (policy `always`) types in the first window, the message is held, she starts the session
/// there, bob's answers arrive under the second name, and the held message is delivered.
#[test]
#[ignore = "e2e: run via make e2e"]
fn sip_one_contact_is_one_conversation() {
    let mut p = Pair::start(TCP, alice_always());
    let alice = p.alice.address.clone();
    let bob_plain = "bob@127.0.0.1";
    let held = "typed in the window opened from the buddy list";
    p.alice.client.send(bob_plain, held);
    p.alice
        .client
        .expect_system(bob_plain, "a 'held' line", WAIT, |t| {
            t.to_lowercase().contains("held")
        });
    start_unless_started(&mut p.alice.client, bob_plain);
    expect_started(&p.bob.client, &alice, WAIT);
    p.bob.client.expect_received(&alice, held, WAIT);
    assert_hidden(&[&p.alice.tap, &p.bob.tap], held, "held message");
    // Bob answers; alice's next message from the first window goes out encrypted at once.
    let reply = "bob answers the contact with two names";
    p.bob.client.send(&alice, reply);
    p.alice.client.expect_received(&p.bob.address, reply, WAIT);
    let again = "a second line from the buddy list window";
    p.alice.client.send(bob_plain, again);
    p.bob.client.expect_received(&alice, again, WAIT);
    assert_hidden(&[&p.alice.tap, &p.bob.tap], again, "second message");
    assert_hidden(&[&p.alice.tap, &p.bob.tap], reply, "reply");
    assert_no_trouble(&p);
}
