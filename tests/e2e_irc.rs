//! Sotto over IRC: real libpurple (prpl-irc), a loopback ngircd, a tap on each client.
//! Needs build/sotto.so: run with `make e2e` (see tests/README.md).

mod support;

use std::time::{Duration, Instant};
use support::scenarios::*;
use support::*;

/// `/sotto start`, then short, 5,000-character, unicode, HTML-special and multi-line messages
/// both ways: shown exactly, never on the wire; handshake messages one PRIVMSG line each.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_encrypted_conversation_both_ways() {
    full_conversation(Proto::Irc);
}

#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_always_policy_holds_then_delivers() {
    always_holds_then_delivers(Proto::Irc);
}

#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_stop_ends_session_on_both_sides() {
    stop_ends_on_both_sides(Proto::Irc);
}

/// A contact's policy set with a command (Finch's conversation window has no plugin menu, and a
/// contact not in the buddy list has no buddy menu): `/sotto policy always` holds what is typed
/// with no session, `/sotto policy` says it, and `/sotto policy global` lets plaintext go again.
/// Before, Finch had no way to set a policy for one contact (found by a read-only audit).
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_contacts_policy_is_set_with_a_command() {
    let mut p = Pair::start(Proto::Irc, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let said = |c: &mut Client, cmdline: &str| {
        c.cmd_output(&bob, cmdline)
            .iter()
            .map(Written::shown)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let set = said(&mut p.alice.client, "sotto policy always");
    assert!(set.contains("is now: always"), "{set}");
    let now = said(&mut p.alice.client, "sotto policy");
    assert!(now.contains(&format!("policy for {bob}: always")), "{now}");
    let held = "held by a policy set with a command";
    p.alice.client.send(&bob, held);
    p.alice
        .client
        .expect_system(&bob, "the message held", WAIT, |t| {
            t.to_lowercase().contains("held")
        });
    std::thread::sleep(Duration::from_secs(1));
    assert_not_on_wire(&[&p.alice.tap, &p.bob.tap], held, "a message under always");
    let back = said(&mut p.alice.client, "sotto policy global");
    assert!(back.contains("is now: the global setting"), "{back}");
    let refused = said(&mut p.alice.client, "sotto policy never");
    assert!(refused.contains("Set it with /sotto policy"), "{refused}");
    p.alice.client.send(&bob, "plaintext again");
    p.bob
        .client
        .expect_received(&alice, "plaintext again", WAIT);
    // What was held under "always" never leaves in plaintext for the policy's change.
    std::thread::sleep(Duration::from_secs(1));
    assert_not_on_wire(
        &[&p.alice.tap, &p.bob.tap],
        held,
        "a message held under always, after the policy changed",
    );
    p.assert_no_criticals();
}

/// 30-character nicks (the longest prefix ngircd relays, so the shortest room for the text)
/// and libpurple's default rate limiter (a burst of 5 lines, then one per 2 s): a 5,000-character
/// message each way arrives intact, every line within 512 bytes as relayed.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_thirty_char_nicks_long_message_default_ratelimit() {
    let t0 = Instant::now();
    let alice_nick = "alice_with_a_very_long_nick_30";
    let bob_nick = "bob_has_an_even_longer_nick_30";
    assert_eq!((alice_nick.len(), bob_nick.len()), (30, 30));
    let mut p = Pair::start(
        Proto::Irc,
        PairOptions {
            fast_irc: false,
            alice_nick: alice_nick.into(),
            bob_nick: bob_nick.into(),
            ..Default::default()
        },
    );
    let marks = (p.alice.tap.mark(), p.bob.tap.mark());
    start_session(&mut p);
    let (a, b) = (long_text(5000, "alice"), long_text(5000, "bob"));
    {
        let Pair { alice, bob, .. } = &mut p;
        exchange(Proto::Irc, alice, bob, "long at default rate limit", &a);
        exchange(Proto::Irc, bob, alice, "long at default rate limit", &b);
    }
    assert_only_sotto_since(&p, marks);
    assert_irc_relayed_intact(&p.alice.tap, marks.0, &p.bob.tap, marks.1);
    assert_irc_relayed_intact(&p.bob.tap, marks.1, &p.alice.tap, marks.0);
    assert_no_trouble(&p);
    note("Irc: 30-char nicks, default rate limit", t0);
    assert!(
        t0.elapsed() < Duration::from_secs(240),
        "too slow for the suite budget"
    );
}

/// IRC's `/me` goes straight to the server as a CTCP ACTION, past `sending-im-msg`: while a
/// session is up it must still never leave in plaintext, and bob must see the action's words.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_me_action_is_encrypted() {
    let (mut p, _) = encrypted_pair(Proto::Irc, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let action = "waves a secret walrus flag";
    p.alice.client.cmd(&bob, &format!("me {action}"));
    p.bob
        .client
        .expect_write("bob shows alice's action", WAIT, |w| {
            w.has(flags::RECV) && w.is_with(&alice) && w.shown().contains(action)
        });
    std::thread::sleep(Duration::from_secs(1));
    assert_hidden(&[&p.alice.tap, &p.bob.tap], action, "/me action");
    assert!(
        !p.alice.tap.contains("\u{1}ACTION"),
        "a CTCP ACTION went to the server during an encrypted session"
    );
    assert_no_trouble(&p);
}

#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_opportunistic_sends_nothing_unsolicited() {
    opportunistic_sends_nothing_unsolicited(Proto::Irc);
}

/// libpurple's IRC commands that write to the server directly (no `send_im`, no signal) must not
/// leak during a session: `/msg` and `/query` with text arrive decrypted at bob, as typed, `/notice` and
/// `/ctcp` (which have no encrypted form) are refused; none of their words reach the wire.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_direct_commands_never_leak_during_a_session() {
    let (mut p, _) = encrypted_pair(Proto::Irc, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    // As typed, characters markup would take for its own included (they were eaten).
    for (verb, words) in [
        ("msg", "quiet msg walrus words <3 & a<b>c &amp; d"),
        ("query", "quiet query walrus words"),
    ] {
        p.alice.client.cmd(&bob, &format!("{verb} {bob} {words}"));
        p.bob
            .client
            .expect_write(&format!("bob shows the /{verb} text"), WAIT, |w| {
                w.has(flags::RECV) && w.is_with(&alice) && w.shown() == words
            });
    }
    // `/version` takes one nick; IRC puts its whole argument where the target goes
    // (`PRIVMSG bob loud version walrus words :\x01VERSION\x01`), which some servers deliver
    // as text: refused with more than the nick (found by a read-only audit).
    for (verb, words) in [
        ("notice", "loud notice walrus words"),
        ("ctcp", "loud ctcp walrus words"),
        ("version", "loud version walrus words"),
    ] {
        let status = p
            .alice
            .client
            .cmd_status(&bob, &format!("{verb} {bob} {words}"));
        eprintln!(
            "[rig] /{verb} during a session: CMD status {} {:?}",
            status.field(1),
            status.field(2)
        );
        if verb == "version" {
            assert!(
                status.field(1) != "0"
                    && status.field(2).contains("takes one nick")
                    && status.field(2).contains(words),
                "/version with words not refused with what was typed: {status:?}"
            );
        }
    }
    std::thread::sleep(Duration::from_secs(2));
    for words in [
        "quiet msg walrus",
        "quiet query walrus",
        "loud notice walrus",
        "loud ctcp walrus",
        "loud version walrus",
    ] {
        assert_not_on_wire(&[&p.alice.tap, &p.bob.tap], words, "an IRC command's text");
    }
    // `/version bob` alone is IRC's own CTCP request, as before.
    let mark = p.alice.tap.mark();
    p.alice.client.cmd_status(&bob, &format!("version {bob}"));
    p.alice.tap.wait_for(
        mark,
        Dir::Up,
        &format!("PRIVMSG {bob} :\u{1}VERSION\u{1}"),
        WAIT,
        &format!("/version {bob} sent nothing"),
    );
    assert!(
        !p.bob
            .client
            .writes()
            .iter()
            .any(|w| w.shown().contains("loud")),
        "bob was shown a /notice or /ctcp sent during the session"
    );
    p.assert_no_criticals();
}

/// On IRC the handshake takes a few seconds (libpurple flushes its send queue once a second):
/// what alice types meanwhile waits and then arrives, in order.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_messages_typed_during_handshake_arrive_in_order() {
    typed_during_handshake_arrive_in_order(Proto::Irc);
}

#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_peer_without_sotto() {
    peer_without_sotto(Proto::Irc);
}

/// IRC servers answer every PRIVMSG to an away user with numeric 301, which libpurple shows as
/// an automatic reply from the contact: in an encrypted conversation that drew a "NOT
/// encrypted" warning at every line sent (each piece of a long message too), which teaches
/// users to skip the warning. It is one Sotto line saying what it is, once per text (found by
/// a hostile review).
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_the_servers_away_reply_is_one_labelled_line_not_a_warning_per_line() {
    let (mut p, _) = encrypted_pair(Proto::Irc, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.bob
        .client
        .command(&format!("away {}", escape_arg("gone fishing")));
    p.bob.client.sync();
    // The AWAY line reaches the server before alice writes.
    std::thread::sleep(Duration::from_secs(1));
    for n in 0..3 {
        let text = format!("walrus {n} while bob is away");
        p.alice.client.send(&bob, &text);
        p.bob.client.expect_received(&alice, &text, WAIT);
    }
    p.alice.client.expect_system(
        &bob,
        "the server's away reply, said for what it is",
        WAIT,
        |t| t.contains("automatic reply") && t.contains("gone fishing"),
    );
    std::thread::sleep(Duration::from_secs(1));
    let writes = p.alice.client.writes();
    let replies: Vec<&Written> = writes
        .iter()
        .filter(|w| w.is_with(&bob) && w.shown().contains("gone fishing"))
        .collect();
    assert_eq!(replies.len(), 1, "one line per away text: {replies:#?}");
    assert!(
        !writes
            .iter()
            .any(|w| w.is_with(&bob) && w.shown().contains("was NOT encrypted")),
        "a warning per line:\n{}",
        p.alice.client.dump()
    );
    p.assert_no_criticals();
}

/// A message a protocol plugin writes into the window itself as received, never through
/// `serv_got_im` (signald's copy from another device, VK's history, MRIM do so), is one Sotto
/// never read: in a window marked encrypted it was shown among the contact's encrypted words
/// with no warning, its markup drawing what it liked (found by a review of the paths other
/// protocols take, 2026-12-06). A line says it was NOT encrypted, and it is one line of plain
/// text; the contact's encrypted words after it carry no warning.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_message_written_past_the_receive_path_is_said_not_encrypted() {
    let (mut p, _) = encrypted_pair(Proto::Irc, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let forged = "the code is <b>4711</b><br>(14:02:11) bob: walrus";
    p.alice.client.im_write(&bob, forged);
    let warning = p.alice.client.expect_write("the warning", WAIT, |w| {
        w.is_with(&bob)
            && w.has(flags::SYSTEM)
            && w.shown().contains("was NOT encrypted")
            && w.shown().contains("without passing through Sotto")
    });
    // As the warning for plaintext received is: `NOTIFY` too, which a Finch window shared by
    // a contact's merged buddies needs to draw it (found by the hostile review of the first
    // version, which wrote a plain system line).
    assert!(warning.has(flags::NOTIFY), "{warning:?}");
    let writes = p.alice.client.writes();
    let written: Vec<&Written> = writes
        .iter()
        .filter(|w| w.is_with(&bob) && w.has(flags::RECV) && w.shown().contains("4711"))
        .collect();
    assert_eq!(written.len(), 1, "{written:#?}");
    assert!(
        !written[0].html.contains("<b>") && !written[0].shown().contains('\n'),
        "its markup drew: {:?}",
        written[0]
    );
    // The contact's own encrypted words: no warning.
    p.bob.client.send(&alice, "real words after it");
    p.alice
        .client
        .expect_received(&bob, "real words after it", WAIT);
    std::thread::sleep(Duration::from_millis(500));
    // (alice's only window is bob's.)
    let warnings = p.alice.client.writes_showing("was NOT encrypted");
    assert_eq!(warnings, 1, "{}", p.alice.client.dump());
    p.assert_no_criticals();
}

/// bob's client quits: from now on the server answers each line sent to him with numeric 401
/// (`ERR_NOSUCHNICK`).
fn bob_quits(p: &mut Pair) {
    p.bob.client.quit();
    // `quit` returns once bob's client has exited: its QUIT has reached the server.
    std::thread::sleep(Duration::from_secs(2));
}

/// Once the server has answered with a 401 every Sotto line alice sent to `bob` since `mark`
/// (at least one): alice's window with bob shows exactly one line saying `needle`, and
/// libpurple wrote none of its own lines for the 401s ("User is not logged in" per line, or a
/// dialog per line where no window is open). Returns how many lines were answered.
fn one_line_for_every_401(p: &Pair, bob: &str, mark: (usize, usize), needle: &str) -> usize {
    // libpurple paces IRC (a burst of 5 lines, then one every 2 s): the pieces sent so far are
    // not all of them until no new one has left for a while.
    const SETTLED: Duration = Duration::from_secs(5);
    let deadline = Instant::now() + 3 * WAIT;
    let (mut last_sent, mut changed) = (0, Instant::now());
    let answered = loop {
        let sent = irc_sotto_lines(&p.alice.tap.since(mark, Dir::Up))
            .iter()
            .filter(|l| l.target.eq_ignore_ascii_case(bob))
            .count();
        if sent != last_sent {
            (last_sent, changed) = (sent, Instant::now());
        }
        let answered = split_lines(&p.alice.tap.since(mark, Dir::Down))
            .iter()
            .filter(|l| l.split(' ').nth(1) == Some("401"))
            .count();
        if sent > 0 && answered >= sent && changed.elapsed() >= SETTLED {
            break sent;
        }
        assert!(
            Instant::now() < deadline,
            "{answered} of {sent} lines to {bob} answered with 401:\n{}",
            p.alice.client.dump()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // Whatever libpurple or Sotto would write for the last 401 is written by now.
    std::thread::sleep(Duration::from_secs(1));
    let ours: Vec<Written> = p
        .alice
        .client
        .writes()
        .into_iter()
        .filter(|w| w.is_with(bob) && w.shown().contains(needle))
        .collect();
    assert_eq!(ours.len(), 1, "one line for {answered} 401s: {ours:#?}");
    let libpurples: Vec<Line> = p
        .alice
        .client
        .lines()
        .into_iter()
        .filter(|l| {
            (l.tag == "WRITE" || l.tag == "NOTIFY")
                && l.fields
                    .iter()
                    .any(|f| f.contains("User is not logged in") || f.contains("No such nick"))
        })
        .collect();
    assert!(
        libpurples.is_empty(),
        "libpurple's lines for the 401s: {libpurples:#?}"
    );
    answered
}

/// An encrypted message to a contact who has just left the server: the server answers each of
/// its pieces with numeric 401, and libpurple wrote "User is not logged in" once per piece
/// while the window still showed the text as sent. Now alice's window says once that the
/// message was NOT delivered, with its text given back, as for an XMPP bounce; libpurple's
/// per-piece lines are not written; the text is never on the wire.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_long_message_to_a_nick_that_left_is_one_not_delivered_line_with_its_text() {
    let (mut p, _) = encrypted_pair(Proto::Irc, PairOptions::default());
    let bob = p.bob.address.clone();
    bob_quits(&mut p);
    let mark = p.alice.tap.mark();
    let text = long_text(2500, "alice");
    p.alice.client.send(&bob, &text);
    p.alice.client.expect_system(
        &bob,
        "the message said NOT delivered, with its text",
        WAIT,
        |t| t.contains("NOT delivered") && t.contains("no such nick") && t.contains(&text),
    );
    let pieces = one_line_for_every_401(&p, &bob, mark, "NOT delivered");
    assert!(
        pieces > 1,
        "the message went as {pieces} line(s), not pieces"
    );
    assert_hidden(&[&p.alice.tap], &text, "a message to a nick that left");
    p.alice.client.assert_no_criticals();
}

/// A contact whose server refuses our private messages for another reason than a missing nick
/// (Libera's `+R`: only users identified to services; here the server's 486 is written by the
/// test's tap): the window said nothing but libpurple's raw `486:` line, and the message stayed
/// shown as sent, with nothing on bob's side to ask for it again (found by a read-only audit).
/// Now it says NOT delivered, with the reason and the text, as for a 401.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_message_the_server_refuses_to_deliver_is_said_not_delivered() {
    let (mut p, _) = encrypted_pair(Proto::Irc, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    // Libera's 486; Solanum's 707 for too many new nicks in a row (ircu says 439); InspIRCd's
    // 477 for its `+R` (libpurple takes every 477 for a channel's and opens a dialog).
    for (text, numeric, reason) in [
        (
            "a message for identified users only",
            "486 {alice} {bob} :You must log in with services to message this user",
            "identified to services",
        ),
        (
            "a message after writing to many nicks",
            "707 {alice} {bob} :Targets changing too fast, message dropped",
            "write to many in a row",
        ),
        (
            "a message to an InspIRCd +R user",
            "477 {alice} {bob} :You need to be identified to a registered account to message \
             this user",
            "identified to a registered account",
        ),
    ] {
        let mark = p.alice.tap.mark();
        p.alice.client.send(&bob, text);
        p.alice.tap.wait_for(
            mark,
            Dir::Up,
            &format!("PRIVMSG {bob} :?S1D"),
            WAIT,
            "alice's line never left",
        );
        let numeric = numeric.replace("{alice}", &alice).replace("{bob}", &bob);
        p.alice.tap.inject_down(&format!(":irc.example {numeric}"));
        p.alice.client.expect_system(
            &bob,
            "the message said NOT delivered, with the reason and its text",
            WAIT,
            |t| t.contains("NOT delivered") && t.contains(reason) && t.contains(text),
        );
    }
    p.alice.client.assert_no_criticals();
}

/// libpurple's default IRC rate limiter (a burst of 5 lines, then one every 2 s).
fn default_ratelimit() -> PairOptions {
    PairOptions {
        fast_irc: false,
        ..Default::default()
    }
}

/// An encrypted IRC conversation under libpurple's default rate limiter.
fn paced_pair() -> Pair {
    let mut p = Pair::start(Proto::Irc, default_ratelimit());
    start_session(&mut p);
    p
}

/// Queries from forty nicks never talked to, under libpurple's default rate limiter: each
/// name was answered within its own budget, so forty `?S1I` lines waited in alice's one send
/// queue ahead of her next message to bob (about 70 s at one line every 2 s). An account
/// sends six lines a minute to names nothing ties to the user; the rest are dropped unread,
/// and her message to bob leaves within seconds.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_flood_of_queries_from_many_nicks_never_delays_the_users_line() {
    flood_of_queries_from_many_nicks(|_| None, false);
}

/// The same flood, each nick saying "hello" in plaintext first: libpurple opens a window for
/// each, and an open window made its name one the user knows, outside the budget for
/// strangers (found by a read-only review): forty answers queued ahead of alice's line. A
/// window opened by a line and left alone by the user no longer does.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_hello_from_each_nick_of_a_flood_does_not_lift_the_budget() {
    flood_of_queries_from_many_nicks(|i| Some(format!("hello from m{i}")), true);
}

/// The same flood, each nick sending a start with an all-zero key first, which Sotto reads as
/// a failed handshake: it used to tell of it in a window it opened, and a first fix of the
/// hello's bypass still took such a window for one the user opened, and lifted the budget
/// (found by a read-only review). Only a window the user did something in vouches for its
/// name; and a failed start nobody asked for opens no window at all now (found by a later
/// review).
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_forged_start_from_each_nick_of_a_flood_does_not_lift_the_budget() {
    let zero_key_start =
        sotto::protocol::wire::WireMessage::Init(sotto::protocol::wire::InitMessage {
            initiator_tag: 0x0bad_0bad,
            ephemeral: [0; 32],
        })
        .encode();
    let p = flood_of_queries_from_many_nicks(|_| Some(zero_key_start.clone()), false);
    p.alice
        .client
        .assert_no_write_shows("could not start", "a failed start nobody asked for");
}

/// Forty nicks send alice a query, each after the line `first` gives it (if any, which
/// `opens` a window); at most six lines answer them, and her next line to bob leaves within
/// seconds. The pair, for more checks.
fn flood_of_queries_from_many_nicks(first: impl Fn(usize) -> Option<String>, opens: bool) -> Pair {
    let mut p = paced_pair();
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    // The limiter's burst back after the session's start.
    std::thread::sleep(Duration::from_secs(12));
    let mark = p.alice.tap.mark();
    for i in 0..40 {
        if let Some(line) = first(i) {
            p.alice
                .tap
                .inject_down(&format!(":m{i}!m@flood.example PRIVMSG {alice} :{line}"));
        }
        p.alice.tap.inject_down(&format!(
            ":m{i}!m@flood.example PRIVMSG {alice} :?S1Q Sotto end-to-end encryption requested \
             (your chat client does not run Sotto yet)"
        ));
    }
    if opens {
        // A first line opens a window (the first nick's is written in it).
        p.alice
            .client
            .expect_write("the first nick's first line is told", WAIT, |w| {
                w.is_with("m0")
            });
    }
    // Each query is read (libpurple parses a line as it comes) before alice types.
    std::thread::sleep(Duration::from_secs(1));
    let typed = Instant::now();
    p.alice.client.send(&bob, "a line after the flood");
    p.alice.tap.wait_for(
        mark,
        Dir::Up,
        &format!("PRIVMSG {bob} :?S1D"),
        Duration::from_secs(20),
        "alice's line to bob waited behind answers to strangers",
    );
    let waited = typed.elapsed();
    std::thread::sleep(Duration::from_secs(3));
    let up = String::from_utf8_lossy(&p.alice.tap.since(mark, Dir::Up)).into_owned();
    let answers = up
        .lines()
        .filter(|l| l.starts_with("PRIVMSG m") && l.contains(" :?S1"))
        .count();
    assert!(
        (1..=6).contains(&answers),
        "{answers} answers to strangers; alice's line left after {waited:?}"
    );
    p.bob
        .client
        .expect_received(&alice, "a line after the flood", WAIT);
    p.alice.client.assert_no_criticals();
    p
}

/// The line saying how long a message takes: its pieces and seconds.
fn slow_line(t: &str) -> Option<(usize, u64)> {
    let number_after = |word: &str| -> Option<u64> {
        let rest = &t[t.find(word)? + word.len()..];
        rest.split_whitespace().next()?.parse().ok()
    };
    let pieces = number_after("goes out in ")?;
    let seconds = number_after("in about ")?;
    Some((usize::try_from(pieces).ok()?, seconds))
}

/// With libpurple's default rate limiter, a long message's pieces trickle out for tens of
/// seconds while the window shows it as sent: one line, after the message, says in how many
/// pieces it goes and about how long it takes; then it arrives intact, within that time.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_long_message_at_the_default_rate_says_how_long_it_takes() {
    let mut p = paced_pair();
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let marks = (p.alice.tap.mark(), p.bob.tap.mark());
    let text = long_text(4000, "alice");
    let t0 = Instant::now();
    p.alice.client.send(&bob, &text);
    let w = p.alice.client.expect_system(
        &bob,
        "a line saying in how many pieces the message goes and how long it takes",
        WAIT,
        |t| slow_line(t).is_some(),
    );
    let (pieces, seconds) = slow_line(&w.shown()).unwrap_or_default();
    assert!(
        pieces > 5 && seconds > 4,
        "{pieces} pieces, {seconds} s: {}",
        w.shown()
    );
    // Written after libpurple's own line for the message, not before it.
    let writes = p.alice.client.writes();
    let sent = writes
        .iter()
        .position(|w| w.has(flags::SEND) && w.shown().contains("the end"));
    let said = writes.iter().position(|x| x.html == w.html);
    assert!(
        sent.is_some() && sent < said,
        "the line came before the message: {sent:?} {said:?}"
    );
    p.bob
        .client
        .expect_received(&alice, &text, Duration::from_secs(120));
    let took = t0.elapsed().as_secs();
    assert!(
        took + 4 >= seconds && took <= seconds + 6,
        "said about {seconds} s, took {took} s"
    );
    let lines = irc_sotto_lines(&p.alice.tap.since(marks.0, Dir::Up));
    assert_eq!(lines.len(), pieces, "the pieces said are the pieces sent");
    assert_hidden(&[&p.alice.tap, &p.bob.tap], &text, "a long paced message");
    // Every piece was followed out: signing off now tells nothing (a piece never ticked off,
    // a line matched to the wrong message, would say NOT delivered here).
    p.alice.client.go_offline();
    std::thread::sleep(Duration::from_secs(1));
    p.alice.client.sync();
    let told: Vec<_> = p
        .alice
        .client
        .writes()
        .into_iter()
        .filter(|w| w.shown().contains("NOT delivered"))
        .collect();
    assert!(
        told.is_empty(),
        "a delivered message said cut off: {told:#?}"
    );
    p.alice.client.go_online();
    assert_no_trouble(&p);
}

/// How alice's connection goes in [`cut_off`].
#[derive(Clone, Copy, PartialEq)]
enum Cut {
    /// She signs off (`offline`).
    SignOff,
    /// She closes the window with bob first, then signs off.
    SignOffWindowClosed,
    /// The network goes: the tap cuts her TCP connection.
    Network,
    /// She deletes the account (Manage Accounts > Delete): libpurple signs it off, then
    /// destroys its windows in the same turn, before anyone can read a line there.
    DeleteAccount,
}

/// Alice sends `text` (long: many pieces) to bob, and a few seconds later, while libpurple
/// still holds pieces, her connection goes (`how`): the line in her window with bob (opened
/// again if closed) saying it was NOT delivered in full, with the text.
fn cut_off(p: &mut Pair, text: &str, how: Cut) -> Written {
    let bob = p.bob.address.clone();
    p.alice.client.send(&bob, text);
    if how == Cut::SignOffWindowClosed {
        p.alice.client.close_window(&bob);
    }
    // The first burst leaves; the rest waits in libpurple's queue.
    std::thread::sleep(Duration::from_secs(3));
    match how {
        Cut::Network => p.alice.tap.cut(),
        Cut::DeleteAccount => {
            p.alice.client.delete_account();
            // The line went into a window destroyed at once: a box says it, with the text.
            p.alice.client.expect(
                "a box saying NOT delivered in full, with the text",
                WAIT,
                |l| l.is_box_with("NOT delivered in full") && l.is_box_with(text),
            );
            let boxes = p.alice.client.boxes_with("NOT delivered");
            assert_eq!(boxes, 1, "{}", p.alice.client.dump());
        }
        _ => p.alice.client.go_offline(),
    }
    let w = p.alice.client.expect_system(
        &bob,
        "the message said NOT delivered in full, with its text",
        WAIT,
        |t| t.contains("NOT delivered in full") && t.contains(text),
    );
    let told = p.alice.client.writes_showing("NOT delivered");
    assert_eq!(told, 1, "{}", p.alice.client.dump());
    assert_hidden(&[&p.alice.tap, &p.bob.tap], text, "a message cut off");
    p.alice.client.assert_no_criticals();
    w
}

/// A long message whose account drops while libpurple still holds some of its pieces (they are
/// dropped with the connection): alice's window says once that it was NOT delivered in full,
/// with its text; nothing of it is sent again by itself when she is back, and the text never
/// crosses the wire in plaintext.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_long_message_cut_off_by_a_disconnect_is_given_back_not_delivered() {
    let mut p = paced_pair();
    let mark = p.alice.tap.mark();
    let text = long_text(4000, "alice");
    let w = cut_off(&mut p, &text, Cut::SignOff);
    assert!(w.has(flags::NO_LOG), "{w:?}");
    let sent = irc_sotto_lines(&p.alice.tap.since(mark, Dir::Up))
        .iter()
        .filter(|l| l.kind == 'P')
        .count();
    assert!(sent >= 1, "no piece left before the disconnect");
    // "… while W of its N pieces were still waiting": N - W is what the server had.
    let said = w.shown();
    let number_before = |word: &str| -> Option<usize> {
        said[..said.find(word)?]
            .split_whitespace()
            .last()?
            .parse()
            .ok()
    };
    let number_after = |word: &str| -> Option<usize> {
        said[said.find(word)? + word.len()..]
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    let (waiting, pieces) = (number_before(" of its "), number_after(" of its "));
    assert_eq!(
        (
            waiting,
            pieces.map(|n| n.saturating_sub(waiting.unwrap_or(0)))
        ),
        (waiting, Some(sent)),
        "the pieces said to have gone are the pieces the server had: {said}"
    );
    assert!(said.contains("then do not type it again"), "{said}");
    // Back online: nothing of it is sent again by itself.
    let back = p.alice.tap.mark();
    p.alice.client.go_online();
    std::thread::sleep(Duration::from_secs(6));
    let again = irc_sotto_lines(&p.alice.tap.since(back, Dir::Up))
        .iter()
        .filter(|l| matches!(l.kind, 'P' | 'D'))
        .count();
    assert_eq!(again, 0, "a data line went out again by itself");
    p.bob
        .client
        .assert_no_write_shows("the end", "bob showed the cut message");
}

/// The same with alice's window closed before the connection drops: the window opens again to
/// say it (the connection is still there while it signs off).
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_message_cut_off_with_its_window_closed_opens_it_to_say_so() {
    let mut p = paced_pair();
    cut_off(&mut p, &long_text(3000, "alice"), Cut::SignOffWindowClosed);
}

/// The same when the network drops alice's connection (libpurple reads the end of the stream:
/// "Server closed the connection"): the same one line, with the text.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_message_cut_off_by_a_lost_connection_is_given_back_not_delivered() {
    let mut p = paced_pair();
    cut_off(&mut p, &long_text(3000, "alice"), Cut::Network);
}

/// The same when alice deletes her account: libpurple signs it off (the line is written) and
/// destroys its windows in the same turn, before she could read it: a box says it, once, with
/// the text (before 2026-12-06 the line went with the window, and the text with it).
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_message_cut_off_by_deleting_the_account_is_given_back_in_a_box() {
    let mut p = paced_pair();
    cut_off(&mut p, &long_text(3000, "alice"), Cut::DeleteAccount);
}

/// bob changes nick while pieces of alice's long message still wait in libpurple's queue: they
/// were queued addressed to `bob` and leave so (to whoever holds the nick then, or nowhere).
/// alice's window, now bob_'s, says once that it may NOT be delivered in full, with the text
/// (before, it showed the message as sent, and nothing said otherwise when no piece had
/// reached him; found by a read-only review).
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_rename_while_pieces_wait_says_the_message_may_not_arrive() {
    let mut p = paced_pair();
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    // IRC sends a NICK only to those who share a channel with the one renamed.
    p.alice.client.cmd(&bob, "join #sotto-pace");
    p.bob.client.cmd(&alice, "join #sotto-pace");
    std::thread::sleep(Duration::from_secs(4));
    let text = long_text(3000, "alice");
    p.alice.client.send(&bob, &text);
    std::thread::sleep(Duration::from_secs(1));
    p.bob.client.cmd(&alice, "nick bob_");
    p.alice.client.expect_system(
        "bob_",
        "the message said maybe NOT delivered in full, with its text",
        WAIT,
        |t| t.contains("may NOT be delivered in full") && t.contains(&text),
    );
    std::thread::sleep(Duration::from_secs(2));
    p.alice.client.sync();
    let told = p.alice.client.writes_showing("may NOT be delivered");
    assert_eq!(told, 1, "{}", p.alice.client.dump());
    assert_hidden(
        &[&p.alice.tap, &p.bob.tap],
        &text,
        "a message cut by a rename",
    );
    p.alice.client.assert_no_criticals();
}

/// Sotto turned off (Tools › Plugins) while pieces of a long message still wait in libpurple's
/// queue: they still go (bob reads the message), and alice's window says nobody follows them
/// any more.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_unloading_while_a_message_goes_out_says_it_goes_on_unfollowed() {
    unloading_while_a_message_goes_out(false);
}

/// The same with alice's window closed first: the warning goes into a box (it was written
/// only into an open window, so with none it was said nowhere: found by a read-only review).
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_unloading_while_a_message_goes_out_of_a_closed_window_says_so_in_a_box() {
    unloading_while_a_message_goes_out(true);
}

/// alice sends bob a long message at the default rate and turns Sotto off while its pieces
/// wait (her window with bob closed first when `closed`): she is told, bob gets it whole.
fn unloading_while_a_message_goes_out(closed: bool) {
    let mut p = paced_pair();
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let text = long_text(3000, "alice");
    p.alice.client.send(&bob, &text);
    std::thread::sleep(Duration::from_secs(2));
    if closed {
        p.alice.client.close_window(&bob);
    }
    p.alice.client.command("unload");
    let what = "the message still goes, unfollowed";
    if closed {
        p.alice.client.expect(what, WAIT, |l| {
            l.is_box_with("still going out") && l.is_box_with(&bob)
        });
    } else {
        p.alice.client.expect_system(&bob, what, WAIT, |t| {
            t.contains("turned off") && t.contains("still going out")
        });
    }
    p.bob
        .client
        .expect_received(&alice, &text, Duration::from_secs(120));
    assert_hidden(
        &[&p.alice.tap, &p.bob.tap],
        &text,
        "a message going out at unload",
    );
}

/// `/msg #channel text` and `/me` in a channel under `always`: a channel is a room, which
/// Sotto does not encrypt, and the line goes to it as one typed in its window does. `#linux`
/// was read as a prefixed nick `linux`, and under `always` (where no nick takes plaintext)
/// every `/msg` to a channel was refused, with advice to write to the nick instead (found by a
/// read-only review). No Sotto line reaches the channel.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_msg_to_a_channel_goes_to_the_channel_under_always() {
    let mut p = Pair::start(Proto::Irc, alice_always());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let channel = "#sotto-rooms";
    p.alice.client.cmd(&bob, &format!("join {channel}"));
    p.bob.client.cmd(&alice, &format!("join {channel}"));
    std::thread::sleep(Duration::from_secs(2));
    let text = "hello everyone in the room";
    let res = p
        .alice
        .client
        .cmd_status(&bob, &format!("msg {channel} {text}"));
    assert_eq!(res.field(1), "0", "/msg to the channel: {res:?}");
    p.bob.client.expect_in(channel, text, false);
    let status = p
        .alice
        .client
        .chat_cmd_status(channel, "me waves at the room");
    assert_eq!(status.field(1), "0", "/me in the channel: {status:?}");
    p.bob.client.expect_in(channel, "waves at the room", false);
    p.alice.client.sync();
    assert_not_on_wire(
        &[&p.alice.tap, &p.bob.tap],
        &format!("PRIVMSG {channel} :?S1"),
        "a Sotto line to the channel",
    );
    p.assert_no_criticals();
}

/// Finch raises a window made while it handles a key press: `/msg bob …` typed in a channel,
/// held under `always` (no session yet), opened bob's window over the channel, and the next
/// line alice typed, meant for the channel, went to bob (found by a read-only review of
/// Finch). The channel keeps the keyboard (presented again within the key press). alice runs as
/// Finch (the test client's `SOTTO_TEST_UI`, which prints each window that takes the keyboard
/// while a command runs, as FOCUS).
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_finch_keeps_the_channel_in_front_after_a_held_msg() {
    let mut p = Pair::start(
        Proto::Irc,
        PairOptions {
            alice_env: vec![("SOTTO_TEST_UI".into(), "finch".into())],
            ..alice_always()
        },
    );
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let channel = "#sotto-focus";
    // Joined from a window of nobody in particular: bob's is not open.
    p.alice.client.cmd("nobody", &format!("join {channel}"));
    p.bob.client.cmd(&alice, &format!("join {channel}"));
    std::thread::sleep(Duration::from_secs(2));
    let text = "held for bob, typed in the channel";
    let res = p
        .alice
        .client
        .chat_cmd_status(channel, &format!("msg {bob} {text}"));
    assert_eq!(res.field(1), "0", "/msg bob: {res:?}");
    p.alice
        .client
        .expect_system(&bob, "the text is held, in bob's window", WAIT, |t| {
            t.contains("message held")
        });
    let focus: Vec<String> = p
        .alice
        .client
        .lines()
        .into_iter()
        .filter(|l| l.tag == "FOCUS")
        .map(|l| l.field(0).to_string())
        .collect();
    assert!(
        focus.iter().any(|f| f == &bob),
        "bob's window was not made during the command: {focus:?}"
    );
    assert_eq!(
        focus.last().map(String::as_str),
        Some(channel),
        "bob's window kept the keyboard: {focus:?}"
    );
    assert_hidden(&[&p.alice.tap], text, "held under always");
    p.assert_no_criticals();
}

/// A start to a contact who has just left the server: alice is told once that it did not
/// reach bob, instead of waiting two minutes for an answer that cannot come (and instead of
/// libpurple's "User is not logged in" per line).
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_start_to_a_nick_that_left_is_told_once() {
    let mut p = Pair::start(Proto::Irc, both_manual());
    let bob = p.bob.address.clone();
    bob_quits(&mut p);
    let mark = p.alice.tap.mark();
    p.alice.client.cmd(&bob, "sotto start");
    p.alice
        .client
        .expect_system(&bob, "the start said NOT delivered", WAIT, |t| {
            t.contains("starting the encrypted conversation") && t.contains("NOT delivered")
        });
    one_line_for_every_401(&p, &bob, mark, "NOT delivered");
    p.alice.client.assert_no_criticals();
}

/// bob is offline when alice writes under `always`: her start comes back with a 401 (told NOT
/// delivered) and lapses after two minutes, her text held. She puts him on her buddy list
/// (libpurple asks the server with `ISON` at once and every 45 s). When bob signs on again, his
/// sign-on tries her start again (a new `?S1I`), his client answers it, and he reads what she
/// held, without her typing again. It used to stay held until she typed again: only XMPP
/// presences tried a lapsed start again.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_what_is_held_for_a_buddy_offline_reaches_him_when_he_signs_on() {
    let texts = ["typed while bob is off irc 6614".to_string()];
    let (mut p, _clock) = started_while_bob_is_offline(Proto::Irc, false, &texts);
    let bob = p.bob.address.clone();
    // bob on alice's buddy list now, while he is away: libpurple asks at once (`ISON`), and
    // the answer does not name him.
    let asked = p.alice.tap.mark();
    p.alice.client.subscribe(&bob);
    let deadline = Instant::now() + WAIT;
    while !String::from_utf8_lossy(&p.alice.tap.since(asked, Dir::Down)).contains(" 303 ") {
        assert!(Instant::now() < deadline, "no answer to alice's ISON");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        p.alice.client.writes().iter().any(|w| w.has(flags::SYSTEM)
            && w.is_with(&bob)
            && w.shown().contains("NOT delivered")),
        "alice's start was not said NOT delivered while bob was away"
    );
    let mark = p.alice.tap.mark();
    // The next ISON poll sees him: up to 45 s after his sign-on.
    bob_reads_what_was_held(&mut p, &texts, Duration::from_secs(45) + WAIT);
    assert!(
        starts_sent(Proto::Irc, &p, mark) >= 1,
        "bob's sign-on did not try alice's start again"
    );
}

/// What alice held for bob, away (her start lapsed), stays saved while she restarts; bob
/// signs on meanwhile, and once she is back libpurple finds him online (`ISON`: at her login
/// for the buddies she has; the test client keeps no buddy list across a restart, so she adds
/// him then, which asks at once): his sign-on loads the conversation that holds text and tries
/// her start again, and he reads what she held without her typing again. It stayed held until
/// she typed: after a restart nothing is in memory, and the sign-on found nothing to try
/// (though the unload's box says held messages stay saved "until Sotto is loaded again").
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_what_was_held_before_a_restart_reaches_a_buddy_when_he_signs_on() {
    let texts = ["typed before alice restarts 27d5".to_string()];
    let (mut p, _clock) = started_while_bob_is_offline(Proto::Irc, false, &texts);
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    // Gone from the server before she comes back (ngircd's penalty time can hold her QUIT a
    // few seconds after her many lines; back sooner she would sign on as "alice1").
    let left = p.alice.tap.mark();
    p.alice.client.quit();
    let deadline = Instant::now() + WAIT;
    while !String::from_utf8_lossy(&p.alice.tap.since(left, Dir::Down)).contains("ERROR :") {
        assert!(Instant::now() < deadline, "alice's QUIT was never answered");
        std::thread::sleep(Duration::from_millis(100));
    }
    p.bob.client.restart();
    p.bob.client.expect_online();
    let mark = p.alice.tap.mark();
    p.alice.client.restart();
    p.alice.client.expect_online();
    p.alice.client.subscribe(&bob);
    p.bob.client.expect_received(&alice, &texts[0], WAIT);
    assert_hidden(&[&p.alice.tap, &p.bob.tap], &texts[0], "held for bob");
    assert!(
        starts_sent(Proto::Irc, &p, mark) >= 1,
        "bob's sign-on did not try alice's start again"
    );
    p.alice
        .client
        .assert_no_write_shows("could not start", "alice's window");
    p.assert_no_criticals();
}

/// The same, but bob signs on again while alice's start is still in flight (its 401 came back,
/// so it is lost): her next `ISON` sees him, and the start cannot be tried again then. When it
/// lapses (her clock moved on), it is tried again, and bob reads what she held, without her
/// typing again. It stayed held: his sign-on had been counted as used (found by a hostile
/// review of the sign-on retry).
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_buddy_back_while_the_start_is_in_flight_gets_it_when_it_lapses() {
    let (o, clock) = alice_always_on_a_clock();
    let (mut p, _) = encrypted_pair(Proto::Irc, o);
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    bob_ends(&mut p);
    p.bob.client.quit();
    std::thread::sleep(Duration::from_secs(1));
    // On her buddy list while he is away: libpurple asks at once, and the answer lacks him.
    let ison_answered = |p: &Pair, since: (usize, usize), with_bob: bool, what: &str| {
        let deadline = Instant::now() + Duration::from_secs(45) + WAIT;
        loop {
            let down = String::from_utf8_lossy(&p.alice.tap.since(since, Dir::Down)).into_owned();
            let named = down
                .lines()
                .any(|l| l.contains(" 303 ") && l.trim_end().ends_with(&format!(":{bob}")));
            if down.contains(" 303 ") && named == with_bob {
                return;
            }
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let asked = p.alice.tap.mark();
    p.alice.client.subscribe(&bob);
    ison_answered(&p, asked, false, "no answer to alice's ISON");
    let mark = p.alice.tap.mark();
    p.alice.client.cmd(&bob, "sotto start");
    let text = "typed while bob is away 5530".to_string();
    p.alice.client.send(&bob, &text);
    p.alice
        .client
        .expect_system(&bob, "the text is held", WAIT, |t| t.contains("held"));
    p.alice
        .client
        .expect_system(&bob, "the start's 401", WAIT, |t| {
            t.contains("NOT delivered")
        });
    // bob back within the start's two minutes; alice's next poll names him.
    let polled = p.alice.tap.mark();
    p.bob.client.restart();
    p.bob.client.expect_online();
    ison_answered(&p, polled, true, "alice's ISON never saw bob back");
    std::fs::write(clock.path().join("offset"), "+150\n").expect("move alice's clock");
    p.bob.client.expect_received(&alice, &text, WAIT);
    assert_hidden(&[&p.alice.tap, &p.bob.tap], &text, "held for bob");
    assert!(
        starts_sent(Proto::Irc, &p, mark) >= 2,
        "the start was not tried again"
    );
    p.assert_no_criticals();
}
