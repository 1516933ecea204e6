//! Hostile network, hostile host (issue 10): lines anyone can inject, two processes on one
//! profile, a store that cannot be used, a saved conversation that cannot be restored, a flood
//! of garbage. Real libpurple, ngircd and prosody, taps on every client.
//! Needs build/sotto.so: run with `make e2e` (see tests/README.md).

mod support;

use std::thread;
use std::time::Duration;

use sotto::protocol::wire::{InitMessage, MessageRef, WireMessage};
use sotto::protocol::IdentityKey;
use support::*;

/// A well-formed `?S1I` nobody will finish: what a server (or anyone who can send as the
/// contact) can inject.
fn forged_init() -> String {
    WireMessage::Init(InitMessage {
        initiator_tag: 0x0bad_0bad,
        ephemeral: IdentityKey::generate(&mut rand_core::OsRng)
            .public()
            .to_bytes(),
    })
    .encode()
}

/// The not-read notice naming the first data line `tap` carried up since `mark` (its clear
/// header is on the wire for anyone to forge one).
fn not_read_notice(proto: Proto, tap: &Tap, mark: (usize, usize)) -> String {
    sotto_lines(proto, &tap.since(mark, Dir::Up))
        .iter()
        .find_map(|l| match WireMessage::decode(l) {
            Ok(WireMessage::Data(m)) => Some(MessageRef::of(&m).not_read_line()),
            _ => None,
        })
        .expect("a data line on the wire")
}

/// `from` writes `line` to `to` as a raw IRC line (`/quote`), past Sotto: exactly what an
/// injected or replayed line looks like to the receiver.
fn inject_irc(from: &mut Peer, to: &str, line: &str) {
    from.client.cmd(to, &format!("quote PRIVMSG {to} :{line}"));
}

/// A forged `?S1I` "from alice" reaches bob mid-conversation. It used to put bob in a
/// handshake that nobody finishes, holding everything he typed, forever. Now: bob answers it
/// (once), his conversation stays encrypted, what he types is delivered, and alice's too.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_forged_start_does_not_stall_an_encrypted_conversation() {
    let (mut p, _) = encrypted_pair(Proto::Irc, both_manual());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let mark = p.bob.tap.mark();
    inject_irc(&mut p.alice, &bob, &forged_init());
    // Once bob answered it (?S1R on his wire), he has read it.
    p.bob.tap.wait_for(
        mark,
        Dir::Up,
        &format!("PRIVMSG {alice} :?S1R"),
        WAIT,
        "bob never read the forged start",
    );
    {
        let Pair { alice, bob, .. } = &mut p;
        exchange(
            Proto::Irc,
            bob,
            alice,
            "after a forged start",
            "not stalled at all",
        );
        exchange(
            Proto::Irc,
            alice,
            bob,
            "reply after a forged start",
            "nor am I",
        );
    }
    assert!(
        !p.bob
            .client
            .writes()
            .iter()
            .any(|w| w.has(flags::SYSTEM) && w.shown().contains("held")),
        "bob held a message after a forged start"
    );
    p.assert_no_criticals();
}

/// Someone injects a query "from carol", who runs no Sotto. It used to teach bob, for good,
/// that carol runs Sotto: everything he typed to her was then held and `?S1I` noise sent.
/// Now bob answers once, and what he types to carol arrives as he typed it (his policy allows
/// plaintext to contacts not known to run Sotto).
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_an_injected_query_teaches_nothing() {
    let mut p = Pair::start(Proto::Irc, PairOptions::default());
    let mut carol = p.another("carol", false);
    let bob = p.bob.address.clone();
    carol.client.send(
        &bob,
        "?S1Q Sotto end-to-end encryption requested (your chat client does not run Sotto yet)",
    );
    thread::sleep(Duration::from_secs(1));
    for text in ["first, after the injected query", "second, still plain"] {
        p.bob.client.send("carol", text);
        carol.client.expect_received(&bob, text, WAIT);
    }
    let starts = carol
        .tap
        .lines(Dir::Down)
        .iter()
        .filter(|l| l.contains("PRIVMSG carol :?S1"))
        .count();
    assert!(starts <= 1, "bob sent carol {starts} Sotto lines");
    p.assert_no_criticals();
}

/// A second client on alice's profile (Finch beside Pidgin), refused the store, goes on
/// running: libpurple saves `prefs.xml` whole from each process's memory, 5 s after any change.
/// alice chooses the policy `always` in the first (saved); the second saves its older copy
/// (`opportunistic`) later. At alice's next start a box says her stricter choice is kept, and
/// what she types to carol (no Sotto) is held, never on the wire: the profile's record, which
/// only the first writes, keeps the policy last chosen. It went to carol in plaintext, without
/// a word (found by a read-only review of two clients on one profile).
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_refused_second_client_does_not_put_its_older_policy_back() {
    let (mut p, _) = encrypted_pair(Proto::Irc, PairOptions::default());
    let carol = p.another("carol", false);
    let mut cfg = p.alice.client.cfg.clone();
    cfg.name = "alice-again".into();
    cfg.purple_dir = Some(p.alice.client.purple_dir());
    let mut second = Client::start(cfg);
    second.expect("the second process is refused", WAIT, |l| {
        l.is_box_with("another program")
    });
    p.alice.client.pref("/plugins/core/sotto/policy", "always");
    thread::sleep(Duration::from_secs(6));
    // Any change of the second's own makes libpurple save its whole tree, 5 s later.
    second.pref("/purple/logging/log_chats", "true");
    thread::sleep(Duration::from_secs(6));
    second.quit();
    p.alice.client.kill();
    let prefs =
        std::fs::read_to_string(p.alice.client.purple_dir().join("prefs.xml")).expect("prefs.xml");
    assert!(
        prefs.contains("value='opportunistic'"),
        "the second client's older copy was not saved: the test shows nothing"
    );
    p.alice.client.restart();
    p.alice
        .client
        .expect("a box saying the stricter policy is kept", WAIT, |l| {
            l.is_box_with("the stricter, 'always', is kept")
        });
    p.alice.client.expect_online();
    let text = "typed to carol after the second client saved its copy";
    held_under_always(&mut p.alice, &carol, text);
    p.alice.client.assert_no_criticals();
}

/// A second client on alice's profile (a second Pidgin, Finch beside Pidgin): it would restore
/// the same sessions and encrypt under the same message keys. Its Sotto refuses its store
/// (one writer per profile) and says why; it sends nothing to bob, not even by `/msg`, and
/// `/msg bob,carol` is refused too. The first client goes on.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_two_processes_on_one_profile_never_share_keys() {
    let (mut p, _) = encrypted_pair(Proto::Irc, both_manual());
    let bob = p.bob.address.clone();
    let mut cfg = p.alice.client.cfg.clone();
    cfg.name = "alice-again".into();
    cfg.purple_dir = Some(p.alice.client.purple_dir());
    let mut second = Client::start(cfg);
    second.expect(
        "the second process is told why Sotto cannot run",
        WAIT,
        |l| l.is_box_with("another program"),
    );
    second.expect_online();
    let text = "typed in the second process";
    second.send(&bob, text);
    // With the text: the input box was cleared, and a refusal without it lost what was typed.
    second.expect_system(&bob, "the send is refused, with the reason", WAIT, |t| {
        t.contains("NOT sent") && t.contains("another program") && t.contains(text)
    });
    // Each IRC command that would put text on the wire is refused, and says why (the store's
    // reason), not that the conversation is encrypted: this process cannot tell.
    for cmdline in [
        format!("msg {bob} {text}"),
        format!("query {bob} {text}"),
        format!("notice {bob} {text}"),
        format!("ctcp {bob} VERSION"),
    ] {
        let res = second.cmd_status(&bob, &cmdline);
        assert_ne!(res.field(1), "0", "/{cmdline} ran: {res:?}");
        assert!(
            res.field(2).contains("another program"),
            "/{cmdline} refused without the store's reason: {res:?}"
        );
        assert!(
            res.field(2).contains(&format!("/{cmdline}")),
            "/{cmdline} refused without what was typed: {res:?}"
        );
    }
    let res = second.cmd_status(&bob, &format!("msg {bob},carol {text}"));
    assert_ne!(res.field(1), "0", "/msg to two targets ran: {res:?}");
    assert!(res.field(2).contains(text), "{res:?}");
    // A buddy pounce writes its text as sent, then hands it to serv_send_im: refused, and
    // the window says so with the text (it was left looking sent).
    let pounced = "a pounce from the second process";
    second.command(&format!(
        "pounce {} {}",
        escape_arg(&bob),
        escape_arg(pounced)
    ));
    second.expect_system(
        &bob,
        "the pounce is said not sent, with its text",
        WAIT,
        |t| t.contains("not sent") && t.contains(pounced),
    );
    // The first client is unaffected.
    {
        let Pair { alice, bob, .. } = &mut p;
        exchange(
            Proto::Irc,
            alice,
            bob,
            "first process",
            "the first one goes on",
        );
    }
    thread::sleep(Duration::from_secs(1));
    assert_hidden(&[&p.alice.tap, &p.bob.tap], text, "second process");
    assert_hidden(
        &[&p.alice.tap, &p.bob.tap],
        pounced,
        "second process's pounce",
    );
    second.assert_no_criticals();
    p.assert_no_criticals();
}

/// `/msg bob,carol text` while bob's conversation is encrypted: IRC would send it to both in
/// plaintext. Refused as a whole.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_msg_to_several_targets_never_leaks() {
    let (mut p, _) = encrypted_pair(Proto::Irc, both_manual());
    let bob = p.bob.address.clone();
    let text = "to bob and carol at once";
    let res = p
        .alice
        .client
        .cmd_status(&bob, &format!("msg {bob},carol {text}"));
    assert_ne!(res.field(1), "0", "refused: {res:?}");
    assert!(res.field(2).contains("Send to each separately"), "{res:?}");
    thread::sleep(Duration::from_secs(1));
    assert_hidden(&[&p.alice.tap, &p.bob.tap], text, "several targets");
    // The same person under IRC's other spellings of a target (RFC 2812 `msgto`:
    // nick!user@host, nick@server): checked by the nick, refused like the list.
    for (i, spelled) in [
        format!("{bob}!{bob}@127.0.0.1"),
        format!("{bob}@localhost"),
        format!("{bob}!~{bob}@localhost,carol"),
    ]
    .iter()
    .enumerate()
    {
        let text = format!("to bob spelled another way {i}");
        let res = p
            .alice
            .client
            .cmd_status(&bob, &format!("msg {spelled} {text}"));
        assert_ne!(res.field(1), "0", "{spelled}: refused: {res:?}");
        thread::sleep(Duration::from_millis(500));
        assert_hidden(&[&p.alice.tap, &p.bob.tap], &text, spelled);
    }
    p.assert_no_criticals();
}

/// alice's saved XMPP conversation with `bob` replaced, with her client stopped, by a row no
/// Sotto of hers can restore (as a newer Sotto's or a damaged one reads); her client started
/// again. The row.
fn damage_alices_row(p: &mut Pair, bob: &str) -> Vec<u8> {
    p.alice.client.kill();
    let damaged = b"\x09 from a newer Sotto".to_vec();
    {
        let (store, account) = p.alice.client.sotto_store();
        store
            .save_session("prpl-jabber", &account, bob, &damaged)
            .expect("save");
    }
    p.alice.client.restart();
    p.alice.client.expect_online();
    damaged
}

/// alice's client stopped, her row for `bob` is still `damaged`, byte for byte.
fn assert_row_untouched(p: &mut Pair, bob: &str, damaged: &[u8]) {
    p.alice.client.kill();
    let (store, account) = p.alice.client.sotto_store();
    let row = store
        .load_session("prpl-jabber", &account, bob)
        .expect("read")
        .expect("row");
    assert_eq!(row.to_vec(), damaged, "the row is kept untouched");
}

/// alice's saved conversation with bob cannot be restored (a newer Sotto wrote it, or it is
/// damaged). It used to be dropped with a debug line, and the next line left in plaintext
/// under `manual`. Now the row is kept, what she types is refused with a line that shows it
/// back and says what to do, `/sotto status` says the same (it said "not encrypted"), and
/// nothing reaches the wire.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_conversation_that_cannot_be_restored_is_kept_and_held() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, both_manual());
    let bob = p.bob.address.clone();
    let damaged = damage_alices_row(&mut p, &bob);
    let text = "typed over a damaged session";
    p.alice.client.send(&bob, text);
    p.alice.client.expect_system(
        &bob,
        "the send is refused, the text shown back, what to do said",
        WAIT,
        |t| t.contains("NOT sent") && t.contains(text) && t.contains("/sotto start"),
    );
    // `/sotto status` says why nothing goes, and what to do: it read as an ordinary
    // conversation that is not encrypted.
    let out = p.alice.client.cmd_output(&bob, "sotto status");
    assert!(
        out.iter().any(|w| {
            let t = w.shown();
            t.contains("on hold") && t.contains("cannot restore") && t.contains("/sotto start")
        }),
        "{out:#?}"
    );
    thread::sleep(Duration::from_secs(1));
    assert_hidden(&[&p.alice.tap, &p.bob.tap], text, "damaged session");
    assert_row_untouched(&mut p, &bob, &damaged);
}

/// The same damaged row, and bob (whose session goes on) writes six encrypted messages: alice's
/// window says once that nothing was read and why, not once per line (each line wrote the
/// whole paragraph again: anyone can send Sotto lines under bob's name; found by a read-only
/// review). Nothing is answered, and the row stays untouched.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_lines_into_a_conversation_that_cannot_be_restored_are_said_once() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, both_manual());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let damaged = damage_alices_row(&mut p, &bob);
    let mark = p.alice.tap.mark();
    for i in 0..6 {
        p.bob
            .client
            .send(&alice, &format!("walrus line {i} to a damaged row"));
    }
    let deadline = std::time::Instant::now() + WAIT;
    while String::from_utf8_lossy(&p.alice.tap.since(mark, Dir::Down))
        .matches("?S1D")
        .count()
        < 6
    {
        assert!(
            std::time::Instant::now() < deadline,
            "bob's six lines never reached alice"
        );
        thread::sleep(Duration::from_millis(100));
    }
    thread::sleep(Duration::from_millis(500));
    p.alice.client.sync();
    let told = p
        .alice
        .client
        .writes()
        .iter()
        .filter(|w| w.is_with(&bob) && w.shown().contains("cannot restore"))
        .count();
    assert_eq!(told, 1, "alice told {told} times");
    assert_row_untouched(&mut p, &bob, &damaged);
}

/// 40 garbage Sotto lines from bob's connection (ngircd lets about one a second through after a
/// burst), undecryptable data and `?S1E` reports mixed: a few "could not be read" lines and a
/// few error-report lines in alice's window (one of each kind per half minute, with a count),
/// and not one write to her store.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_flood_of_garbage_costs_a_few_lines_and_no_writes() {
    let (mut p, _) = encrypted_pair(Proto::Irc, both_manual());
    let alice = p.alice.address.clone();
    let dir = p.alice.client.purple_dir().join("sotto");
    // The store writes a commit into its write-ahead log first (sotto.db-wal), the database
    // file only at a checkpoint: watch both (and the log's size, which a commit grows).
    let modified = || {
        ["sotto.db", "sotto.db-wal"].map(|f| {
            std::fs::metadata(dir.join(f))
                .map(|m| (m.modified().ok(), m.len()))
                .ok()
        })
    };
    let before = modified();
    // Half of them garbage data, half the peer software's unauthenticated error reports: each
    // kind is kept quiet on its own.
    for i in 0..40 {
        let line = if i % 2 == 0 {
            format!("?S1Dgarbage{i:04}AAAAAAAAAAAAAAAAAAAAAAAAAA")
        } else {
            format!("?S1E forged report number {i}")
        };
        inject_irc(&mut p.bob, &alice, &line);
    }
    // A plaintext barrier, sent the same way: once alice shows it she has read all the rest.
    inject_irc(&mut p.bob, &alice, "barrier after the flood");
    let bob = p.bob.address.clone();
    p.alice
        .client
        .expect_write("alice shows the barrier", Duration::from_secs(150), |w| {
            w.has(flags::RECV) && w.is_with(&bob) && w.shown().contains("barrier after the flood")
        });
    let writes = p.alice.client.writes();
    for (kind, says) in [
        ("unreadable", "could not be read"),
        ("error-report", "forged report number"),
    ] {
        let shown = writes
            .iter()
            .filter(|w| w.has(flags::SYSTEM) && w.shown().contains(says))
            .count();
        assert!((1..=3).contains(&shown), "{shown} {kind} lines for 20");
    }
    assert_eq!(
        modified(),
        before,
        "alice's store was written while reading garbage"
    );
    p.assert_no_criticals();
}

/// A panic inside a callback (forced, with the test-only SOTTO_TEST_PANIC_ON_TEXT, at the worst
/// moment: a message key used in memory, not yet saved): the client survives, the message is
/// not sent (the window says so, with the text: it was lost without a word), and the
/// conversation reloads from disk, so the next message goes out encrypted
/// under a key never used on the wire.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_panic_in_a_callback_is_survived_and_reloads_from_disk() {
    let o = panics_on("a deliberate panic walrus", both_manual());
    let (mut p, _) = encrypted_pair(Proto::Irc, o);
    let bob = p.bob.address.clone();
    p.alice.client.send(&bob, "a deliberate panic walrus");
    // Not lost without a word (the input box was cleared): the window gives the text back.
    p.alice.client.expect_system(
        &bob,
        "the window says the message was not sent, with its text",
        WAIT,
        |t| {
            t.contains("NOT sent")
                && t.contains("fault in Sotto")
                && t.ends_with("a deliberate panic walrus")
        },
    );
    thread::sleep(Duration::from_secs(1));
    p.alice.client.assert_running();
    // The panic's message quotes the text (as a slicing bug's would): stderr (a terminal, a
    // journal, ~/.xsession-errors) gets where it happened, never the message.
    let stderr = std::fs::read_to_string(p.alice.client.stderr_path()).expect("alice's stderr");
    assert!(
        stderr.contains("Sotto: a fault at src/sessions/operations.rs:"),
        "the fault's place is not on stderr: {stderr}"
    );
    assert!(
        !stderr.contains("walrus") && !stderr.contains("on purpose"),
        "the panic's message reached stderr: {stderr}"
    );
    {
        let Pair { alice, bob, .. } = &mut p;
        exchange(Proto::Irc, alice, bob, "after a panic", "after the panic");
        exchange(
            Proto::Irc,
            bob,
            alice,
            "reply after a panic",
            "reply after it",
        );
    }
    assert_hidden(
        &[&p.alice.tap, &p.bob.tap],
        "a deliberate panic walrus",
        "the panicking message",
    );
    assert_no_key_reuse(&p);
    // Reloaded from disk: alice's first message after the panic uses the key the panicking one
    // had taken in memory, so the indices of each of her sending chains on the wire have no gap
    // (without the reload, memory would have run one key ahead of disk).
    let mut chains: std::collections::HashMap<Vec<u8>, Vec<u64>> = Default::default();
    for line in reassemble(&sotto_lines(Proto::Irc, &p.alice.tap.bytes(Dir::Up))) {
        if let Some((h, _)) = parse_data(&line) {
            chains.entry(h.rk).or_default().push(h.n);
        }
    }
    for (_, mut ns) in chains {
        ns.sort_unstable();
        let expected: Vec<u64> = (0..ns.len() as u64).collect();
        assert_eq!(
            ns, expected,
            "a gap in a sending chain: memory ran ahead of disk"
        );
    }
    p.assert_no_criticals();
}

/// alice (`always`) and bob over the transform test protocol, alice's connection refusing
/// text over 200 bytes with an I/O error (`-EIO`): handshake lines and short data lines go
/// through, 300-character pieces do not, and not as too large (a line refused as too large is
/// made again in smaller pieces: `e2e_transforms::a_protocol_that_refuses_long_lines_is_sent_
/// smaller_ones`).
fn refusing_loop_pair() -> Pair {
    Pair::start(
        Proto::Loop(LoopPrpl::Generic),
        PairOptions {
            alice_opts: vec![
                ("refuse_over".into(), "200".into()),
                ("refuse_errno".into(), EIO.to_string()),
            ],
            ..alice_always()
        },
    )
}

/// `EIO` on Linux.
const EIO: i32 = 5;

/// [`refusing_loop_pair`] with its session up (alice's first message read): the pair, alice's
/// address and bob's.
fn refusing_loop_session() -> (Pair, String, String) {
    let mut p = refusing_loop_pair();
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.alice.client.send(&bob, "a short walrus first");
    p.bob
        .client
        .expect_received(&alice, "a short walrus first", WAIT);
    (p, alice, bob)
}

/// A held message whose line the connection does not take (the transform test protocol
/// refusing text over 200 bytes with an I/O error): alice,
/// on `always`, types a long message before any session; the handshake's lines (all under 200)
/// go through, the message's fragments (300) are refused. Alice is told it was NOT sent, with
/// its text; bob never shows it; nothing of it is on the wire; the session goes on.
#[test]
#[ignore = "e2e: run via make e2e"]
fn loop_a_held_message_the_connection_refuses_is_shown_as_not_sent() {
    let mut p = refusing_loop_pair();
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let long = format!("a refused walrus {}", "tusk ".repeat(200));
    p.alice.client.send(&bob, &long);
    p.alice
        .client
        .expect_system(&bob, "alice told the message was NOT sent", WAIT, |t| {
            t.contains("NOT sent") && t.contains("a refused walrus")
        });
    assert_hidden(&[&p.alice.tap, &p.bob.tap], &long, "the refused message");
    {
        let Pair {
            alice: a,
            bob: b,
            proto,
            ..
        } = &mut p;
        exchange(*proto, a, b, "after a refused line", "a short walrus");
        exchange(*proto, b, a, "after a refused line", "a short reply");
    }
    assert!(
        !p.bob
            .client
            .writes()
            .iter()
            .any(|w| w.is_with(&alice) && w.shown().contains("a refused walrus")),
        "bob showed the refused message"
    );
    p.assert_no_criticals();
}

/// A typed message of one line, in a session, that the connection refuses (over 200 bytes,
/// under the fragment size): libpurple writes nothing of it (at most "Unable to send message")
/// and the input box is empty. Sotto says it was NOT sent, with its text (it was lost without
/// a word; found by a read-only audit). Nothing of it is on the wire; the session goes on.
#[test]
#[ignore = "e2e: run via make e2e"]
fn loop_a_typed_line_the_connection_refuses_is_shown_as_not_sent() {
    let (mut p, alice, bob) = refusing_loop_session();
    let typed = format!("a refused one-line walrus {}", "tusk ".repeat(14));
    p.alice.client.send(&bob, &typed);
    p.alice
        .client
        .expect_system(&bob, "alice told the line was NOT sent", WAIT, |t| {
            t.contains("NOT sent") && t.contains("a refused one-line walrus")
        });
    assert_hidden(&[&p.alice.tap, &p.bob.tap], &typed, "the refused line");
    p.alice.client.send(&bob, "a short walrus after");
    p.bob
        .client
        .expect_received(&alice, "a short walrus after", WAIT);
    p.assert_no_criticals();
}

/// A line from outside the send path (an auto-reply, another plugin: `serv_send_im`) whose
/// lines the connection refuses is not reported sent: `send_im` returns 0 (it returned 1, and a
/// caller that shows what it sends showed a message that never left).
#[test]
#[ignore = "e2e: run via make e2e"]
fn loop_an_auto_reply_the_connection_refuses_is_not_reported_sent() {
    let (mut p, _, bob) = refusing_loop_session();
    let long = format!("a refused auto-reply {}", "tusk ".repeat(200));
    let rc = p.alice.client.serv_send("servsend", &bob, &long);
    assert!(
        rc <= 0,
        "send_im returned {rc} for lines the connection refused"
    );
    assert_hidden(&[&p.alice.tap, &p.bob.tap], &long, "the refused auto-reply");
    p.assert_no_criticals();
}

/// A buddy pounce's message (Pidgin writes it into the window as sent, then hands it to
/// `serv_send_im` with no flags) in a session, whose lines the connection refuses: the window
/// says it was NOT sent, with its text. Before, it stayed looking sent, with no word (found by a
/// read-only review). Nothing of it is on the wire; the session goes on.
#[test]
#[ignore = "e2e: run via make e2e"]
fn loop_a_pounce_the_connection_refuses_is_said_not_sent() {
    let (mut p, alice, bob) = refusing_loop_session();
    let long = format!("a refused pounce walrus {}", "tusk ".repeat(200));
    p.alice.client.serv_send("pounce", &bob, &long);
    p.alice
        .client
        .expect_system(&bob, "alice told the pounce was NOT sent", WAIT, |t| {
            t.contains("NOT sent") && t.contains("a refused pounce walrus")
        });
    assert_hidden(&[&p.alice.tap, &p.bob.tap], &long, "the refused pounce");
    p.alice.client.send(&bob, "a short walrus after the pounce");
    p.bob
        .client
        .expect_received(&alice, "a short walrus after the pounce", WAIT);
    p.assert_no_criticals();
}

/// A message typed in an encrypted conversation that another plugin's handler, after Sotto's,
/// cancels (libpurple then calls neither `send_im` nor `sent-im-msg`), and within the second
/// after it an auto-reply and a buddy pounce to the same contact: each is its own message,
/// encrypted and delivered. Before, each was taken for the typed message's line "changed on
/// its way" and dropped, the window saying so of the typed text (found by a read-only review).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_sends_right_after_a_cancelled_typed_message_are_their_own() {
    let o = PairOptions {
        // The handler sees the line Sotto made of the typed text: it cancels every one.
        alice_env: vec![("SOTTO_TESTCLIENT_CANCEL_PREFIX".into(), "?S1".into())],
        ..both_manual()
    };
    let mut p = Pair::start(Proto::Xmpp, o);
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    start_session(&mut p);
    let t0 = std::time::Instant::now();
    p.alice
        .client
        .send(&bob, "cancelled walrus typed and stopped");
    p.alice
        .client
        .expect("the other plugin cancelled the send", WAIT, |l| {
            l.tag == "CANCELLED"
        });
    let reply = "an auto-reply walrus of its own";
    p.alice.client.serv_send("servsend", &bob, reply);
    let pounced = "a pounce walrus of its own";
    p.alice.client.serv_send("pounce", &bob, pounced);
    eprintln!(
        "[rig] the auto-reply and the pounce within {:.2} s of the cancelled send",
        t0.elapsed().as_secs_f64()
    );
    p.bob.client.expect_received(&alice, reply, WAIT);
    p.bob.client.expect_received(&alice, pounced, WAIT);
    assert_hidden(&[&p.alice.tap, &p.bob.tap], reply, "the auto-reply");
    assert_hidden(&[&p.alice.tap, &p.bob.tap], pounced, "the pounce");
    assert!(
        !p.alice
            .client
            .writes()
            .iter()
            .any(|w| w.is_with(&bob) && w.shown().contains("held it back or changed")),
        "a later message was taken for the cancelled one"
    );
    p.assert_no_criticals();
}

/// A message held in a window the user then closes, and the plugin unloaded (Tools > Plugins)
/// before the session is up: bob is offline, alice on `always`, her handshake waits in the
/// server's offline storage. The conversation is not ended at unload, the held message is kept
/// in the store, and when bob comes back and answers, the plugin (loaded again) finishes the
/// handshake and delivers it, once, encrypted. At the unload a box names bob and the one
/// message held for him (no window was open to say it: nothing did, found by a read-only
/// audit).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_held_message_survives_a_closed_window_and_an_unload() {
    a_held_message_survives_a_closed_window_and_an_unload(false);
}

/// The same with alice's client killed and started again before the unload: the conversation
/// holding the message is on disk only (nothing in this run opened its window or read a line
/// of it). The box named only conversations loaded in this run: none (found by a read-only
/// review).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_message_held_in_an_earlier_run_is_named_at_an_unload() {
    a_held_message_survives_a_closed_window_and_an_unload(true);
}

/// alice (on `always`) types to bob while he is offline: held; she closes the window (and,
/// with `restart`, her client is killed and started again), then unloads Sotto: a box names bob
/// and the count; loaded again, the message goes once bob is back.
fn a_held_message_survives_a_closed_window_and_an_unload(restart: bool) {
    let mut p = Pair::start(Proto::Xmpp, alice_always());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.bob.client.kill();
    thread::sleep(Duration::from_millis(500)); // prosody notices the closed stream
    let held = "held through a closed window and an unload walrus";
    held_then_closed(&mut p.alice.client, &bob, held);
    if restart {
        p.alice.client.restart();
        p.alice.client.expect_online();
    }
    p.alice.client.unload_plugin();
    // No window says it: a box names the contact the message is held for.
    p.alice
        .client
        .expect("a box naming bob's held message", WAIT, |l| {
            l.is_box_with(&format!("{bob} (1)"))
        });
    // Once (the unload looks twice: it showed the box twice).
    p.alice.client.sync();
    assert_eq!(
        p.alice.client.boxes_with("messages held"),
        1,
        "boxes naming held messages"
    );
    p.alice.client.load_plugin();
    p.bob.client.restart();
    p.bob.client.expect_online();
    p.bob
        .client
        .expect_received(&alice, held, Duration::from_secs(60));
    p.alice.client.expect_sent(&bob, held, WAIT);
    assert_shown_once(&p.bob.client, held);
    assert_hidden(&[&p.alice.tap, &p.bob.tap], held, "the held message");
    assert_no_trouble(&p);
}

/// alice closed the window of her encrypted conversation with bob. A plaintext line "from bob"
/// (the server, or another of his clients, writes it past Sotto) opens the window with the
/// warning before the line, and a line that cannot be read opens it with its notice: both
/// used to be written to no window and dropped, and the window libpurple then opened for the
/// plaintext line was marked encrypted and showed it with no word.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_warning_for_a_closed_window_opens_it() {
    let (mut p, _) = encrypted_pair(Proto::Irc, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let close = |c: &mut Client| c.close_window(&bob);
    close(&mut p.alice.client);
    let forged = "send the code to this number";
    inject_irc(&mut p.bob, &alice, forged);
    let warning =
        p.alice
            .client
            .expect_system(&bob, "the warning about a plaintext line", WAIT, |t| {
                t.contains("NOT encrypted")
            });
    let shown = p.alice.client.expect_received(&bob, forged, WAIT);
    let writes = p.alice.client.writes();
    let at = |text: &str| writes.iter().position(|w| w.shown() == text);
    assert!(
        at(&warning.shown()) < at(&shown.shown()),
        "the warning comes before the plaintext line"
    );

    close(&mut p.alice.client);
    inject_irc(
        &mut p.bob,
        &alice,
        "?S1DAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    );
    p.alice.client.expect_system(
        &bob,
        "the notice about a line that could not be read",
        WAIT,
        |t| t.contains("could not be read"),
    );
    p.assert_no_criticals();
}

/// A send that another plugin cancels after Sotto approved it as plaintext (a handler that runs
/// after Sotto's empties the message: libpurple then calls neither the protocol's `send_im` nor
/// `sent-im-msg`, which would have disarmed the approval): once the conversation is encrypted,
/// an auto-reply with the identical text (`serv_send_im`, no `sending-im-msg`) is encrypted,
/// not waved through in plaintext on the stale approval. `pause`: how long after the cancelled
/// send the auto-reply comes, at least.
fn a_cancelled_send_leaves_no_approval_behind(proto: Proto, pause: Duration) {
    let o = PairOptions {
        alice_env: vec![("SOTTO_TESTCLIENT_CANCEL_PREFIX".into(), "cancelled".into())],
        ..both_manual()
    };
    let mut p = Pair::start(proto, o);
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let text = "cancelled walrus quokka zebra stale approval";
    let t0 = std::time::Instant::now();
    p.alice.client.send(&bob, text);
    p.alice
        .client
        .expect("the other plugin cancelled the send", WAIT, |l| {
            l.tag == "CANCELLED"
        });
    start_session(&mut p);
    if let Some(rest) = pause.checked_sub(t0.elapsed()) {
        thread::sleep(rest);
    }
    eprintln!(
        "[rig] {proto:?}: the auto-reply {:.2} s after the cancelled send",
        t0.elapsed().as_secs_f64()
    );
    p.alice.client.command(&format!(
        "servsend {} {}",
        escape_arg(&bob),
        escape_arg(text)
    ));
    p.bob
        .client
        .expect_received(&alice, text, Duration::from_secs(30));
    assert_hidden(&[&p.alice.tap, &p.bob.tap], text, "the auto-reply");
    p.assert_no_criticals();
}

/// Long after (1.5 s, past the approval's lifetime): fails with a lifetime of an hour.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_an_approval_left_by_a_cancelled_send_lets_nothing_through_later() {
    a_cancelled_send_leaves_no_approval_behind(Proto::Irc, Duration::from_millis(1500));
}

/// At once (XMPP's handshake takes a tenth of a second, so usually within the approval's
/// second): the plaintext approval is honoured only while the conversation is still in
/// plaintext. When the machine is slow this runs past the second and checks the lifetime.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_an_approval_left_by_a_cancelled_send_lets_nothing_through_at_once() {
    a_cancelled_send_leaves_no_approval_behind(Proto::Xmpp, Duration::ZERO);
}

/// Another plugin's `sending-im-msg` handler, after Sotto's, adds a signature to every message
/// (`SOTTO_TESTCLIENT_SIGNATURE` on alice): the line that reaches XMPP's `send_im` is not the
/// encrypted line Sotto made of what alice typed. It is not sent, and her window says so, with
/// her text. Before, it was refused as a Sotto line another plugin sent again, with "type the
/// message again" and not the text: Pidgin had cleared the input box, so what she typed was
/// gone (found by a read-only review).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_plugin_that_changes_the_encrypted_line_loses_nothing_typed() {
    a_plugin_that_changes_the_encrypted_line_loses_nothing_typed(
        "SOTTO_TESTCLIENT_SIGNATURE",
        " -- sent from my phone",
    );
}

/// Another plugin whose `sending-im-msg` handler, after Sotto's, sends a message of its own
/// (`serv_send_im`) while alice's typed message to bob is on its way, to another name or to bob
/// himself: that send took the approval Sotto had made for alice's line, and the line, arriving
/// without it, was refused as a Sotto line sent again ("type the message again", without the
/// text): what she typed was lost (found by a hostile review). Now only the line the approval
/// is for takes it: bob gets the message, encrypted; the note goes as that plugin sent it (to
/// bob: encrypted, as any message another plugin sends).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_another_plugins_send_during_a_typed_message_loses_nothing() {
    for (note_to, text) in [
        ("carol@localhost", "narwhal under the pack ice"),
        ("bob@localhost", "beluga under the pack ice"),
    ] {
        let o = PairOptions {
            alice_env: vec![("SOTTO_TESTCLIENT_SEND_ELSEWHERE".into(), note_to.into())],
            ..both_manual()
        };
        let (mut p, _) = encrypted_pair(Proto::Xmpp, o);
        let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
        assert!(note_to == "carol@localhost" || note_to == bob, "{bob}");
        p.alice.client.send(&bob, text);
        p.alice
            .client
            .expect("the other plugin sent its note", WAIT, |l| {
                l.tag == "ELSEWHERE"
            });
        p.bob.client.expect_received(&alice, text, WAIT);
        p.alice.client.expect_sent(&bob, text, WAIT);
        if note_to == bob {
            p.bob.client.expect_received(&alice, "a side note", WAIT);
            assert_hidden(
                &[&p.alice.tap, &p.bob.tap],
                "a side note",
                "the note to bob",
            );
        }
        assert_hidden(&[&p.alice.tap, &p.bob.tap], text, "the typed message");
        p.assert_no_criticals();
    }
}

/// The same with text put before the line ("[signed] ?S1D…"): not taken for a Sotto line at
/// all, it was encrypted again as a message of its own, bob was shown the header and a mark
/// for the line, and alice's window showed her text as sent.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_plugin_that_puts_text_before_the_encrypted_line_loses_nothing_typed() {
    a_plugin_that_changes_the_encrypted_line_loses_nothing_typed(
        "SOTTO_TESTCLIENT_HEADER",
        "[signed] ",
    );
}

/// alice types to bob in an encrypted conversation while a handler after Sotto's adds `added`
/// (the test client's `variable`) to every message.
fn a_plugin_that_changes_the_encrypted_line_loses_nothing_typed(variable: &str, added: &str) {
    let o = PairOptions {
        alice_env: vec![(variable.into(), added.into())],
        ..both_manual()
    };
    let (mut p, _) = encrypted_pair(Proto::Xmpp, o);
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let text = "narwhal under a signature";
    p.alice.client.send(&bob, text);
    p.alice
        .client
        .expect("the other plugin signed the line", WAIT, |l| {
            l.tag == "SIGNED"
        });
    p.alice
        .client
        .expect_system(&bob, "NOT sent, with what alice typed", WAIT, |t| {
            t.contains("NOT sent") && t.contains(text)
        });
    // (A line that left would have reached bob well within this.)
    thread::sleep(Duration::from_secs(1));
    let shown_to_bob: Vec<String> = p
        .bob
        .client
        .writes()
        .iter()
        .filter(|w| w.has(flags::RECV) && w.is_with(&alice))
        .map(|w| w.shown())
        .collect();
    assert!(shown_to_bob.is_empty(), "bob was shown {shown_to_bob:?}");
    assert!(
        !p.alice
            .client
            .writes()
            .iter()
            .any(|w| w.has(flags::SEND) && w.shown().contains(text)),
        "alice's window shows the text as sent"
    );
    assert_hidden(&[&p.alice.tap, &p.bob.tap], text, "the typed text");
    // The conversation goes on.
    {
        let Pair {
            alice: a, bob: b, ..
        } = &mut p;
        exchange(
            Proto::Xmpp,
            b,
            a,
            "bob after the refusal",
            "bob writes back",
        );
    }
    p.assert_no_criticals();
}

/// A Sotto line that reaches bob with text put in front of it (what purple-discord makes of an
/// edited message, "EDIT: …", or telegram-purple of a forwarded one; here alice's own data
/// line sent again by `/quote`, past Sotto): bob is told the service changed a message on the
/// way; he never sees the raw base64 as alice's words, is not told her next message was "NOT
/// encrypted", and the conversation goes on. Before 8a167fd the line showed raw, as plaintext.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_line_with_text_put_in_front_is_reported_not_shown() {
    let proto = Proto::Irc;
    let (mut p, _) = encrypted_pair(proto, both_manual());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let mark = p.alice.tap.mark();
    {
        let Pair { alice, bob, .. } = &mut p;
        exchange(
            proto,
            alice,
            bob,
            "the line to be edited",
            "walrus before the edit",
        );
    }
    let line = sotto_lines(proto, &p.alice.tap.since(mark, Dir::Up))
        .into_iter()
        .find(|l| l.starts_with("?S1D"))
        .expect("alice's data line on her wire");
    inject_irc(&mut p.alice, &bob, &format!("EDIT: {line}"));
    p.bob.client.expect_system(
        &alice,
        "the notice about a line the service changed",
        WAIT,
        |t| t.contains("changed it on the way"),
    );
    // Alice's next message, after the edited line on the same connection: read as usual.
    {
        let Pair { alice, bob, .. } = &mut p;
        exchange(proto, alice, bob, "after the edit", "quokka after the edit");
    }
    let writes = p.bob.client.writes();
    let raw: Vec<String> = writes
        .iter()
        .filter(|w| w.is_with(&alice) && w.shown().contains("?S1"))
        .map(|w| w.shown())
        .collect();
    assert!(raw.is_empty(), "bob was shown the raw line: {raw:?}");
    assert!(
        !writes.iter().any(|w| w.shown().contains("NOT encrypted")),
        "bob was told an encrypted line was not encrypted"
    );
    let title = p.bob.client.last_title(&alice).unwrap_or_default();
    assert!(
        title.contains("(encrypted)") && !title.contains("NOT"),
        "bob's window title: {title:?}"
    );
    p.assert_no_criticals();
}

/// `c` types `text` to `peer`, sees it held, and closes the window.
fn held_then_closed(c: &mut Client, peer: &str, text: &str) {
    c.send(peer, text);
    c.expect_system(peer, "the message is held", WAIT, |t| t.contains("held"));
    c.close_window(peer);
}

/// Alice (manual policy, her clock under libfaketime, Sotto's periodic sweep every
/// `sweep_secs`) and bob, whose client has no Sotto; alice has just run `/sotto start`. Also the clock's directory and alice's tap mark from
/// before the start.
fn started_with_a_contact_without_sotto(
    proto: Proto,
    sweep_secs: u32,
) -> (Pair, TempDir, (usize, usize)) {
    let clock = TempDir::new("clock");
    let mut alice_env = faketime_env(clock.path());
    alice_env.push(("SOTTO_TEST_CHECKPOINT_SECS".into(), sweep_secs.to_string()));
    let o = PairOptions {
        bob_plugin: false,
        alice_env,
        ..both_manual()
    };
    let mut p = Pair::start(proto, o);
    let bob = p.bob.address.clone();
    let mark = p.alice.tap.mark();
    p.alice.client.cmd(&bob, "sotto start");
    (p, clock, mark)
}

/// Alice asks for an encrypted conversation (`/sotto start`) with bob, whose client does not
/// run Sotto, and types nothing while it is under way. More than two minutes later (her clock
/// moved on by libfaketime) her window says the start lapsed, by itself; she types a secret:
/// it is held
/// and the start tried again, never sent in plaintext; an auto-reply too; and after a kill -9
/// and a restart. Before 27f73e8 the send path dropped the lapsed start and the secret left in
/// plaintext.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_start_nobody_answers_holds_what_is_typed_after_it_lapses() {
    let proto = Proto::Xmpp;
    let (mut p, clock, mark) = started_with_a_contact_without_sotto(proto, 1);
    let bob = p.bob.address.clone();
    let deadline = std::time::Instant::now() + WAIT;
    while !sotto_lines(proto, &p.alice.tap.since(mark, Dir::Up))
        .iter()
        .any(|l| l.starts_with("?S1"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "alice's start never reached the wire"
        );
        thread::sleep(Duration::from_millis(100));
    }
    std::fs::write(clock.path().join("offset"), "+150\n").expect("move alice's clock");
    // Told when it lapses (the sweep, every second here), not only at the next line.
    let lapse = p
        .alice
        .client
        .expect_system(&bob, "the lapse, told by itself", WAIT, |t| {
            t.contains("did not start")
        });
    let secret = "the walrus code is 4471";
    p.alice.client.send(&bob, secret);
    p.alice
        .client
        .expect_system(&bob, "the secret is held", WAIT, |t| t.contains("held"));
    // An auto-reply (`serv_send_im`, past the typed-text path) is refused too.
    p.alice.client.command(&format!(
        "servsend {} {}",
        escape_arg(&bob),
        escape_arg("away: the 4471 auto-reply")
    ));
    thread::sleep(Duration::from_secs(2));
    assert_hidden(&[&p.alice.tap, &p.bob.tap], secret, "typed after the lapse");
    assert_hidden(
        &[&p.alice.tap, &p.bob.tap],
        "4471",
        "an auto-reply after the lapse",
    );
    assert!(
        !p.bob
            .client
            .writes()
            .iter()
            .any(|w| w.shown().contains("4471")),
        "bob's client showed what alice typed after the lapse"
    );
    assert!(
        lapse.shown().contains("is held, never sent unencrypted"),
        "the lapse line says what happens to what is typed: {:?}",
        lapse.shown()
    );
    // Killed, and back more than two minutes later: still held (the lapse is saved).
    p.alice.client.kill();
    std::fs::write(clock.path().join("offset"), "+400\n").expect("move alice's clock");
    p.alice.client.restart();
    p.alice.client.expect_online();
    let after = "after the restart 4471 again";
    p.alice.client.send(&bob, after);
    p.alice.client.expect_system(
        &bob,
        "the line typed after the restart is held",
        WAIT,
        |t| t.contains("held"),
    );
    thread::sleep(Duration::from_secs(2));
    assert_hidden(&[&p.alice.tap, &p.bob.tap], "4471", "typed after a restart");
    p.assert_no_criticals();
}

/// Alice starts, types a line while the start is under way (held), and closes the window.
/// The start lapses: her window opens again and says the line stays held (the sweep's notice
/// used to go nowhere with the window closed: a message held with nothing saying so).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_lapse_with_messages_held_reopens_a_closed_window() {
    let (mut p, clock, _) = started_with_a_contact_without_sotto(Proto::Xmpp, 1);
    let bob = p.bob.address.clone();
    let held = "held while the start is under way 5521";
    held_then_closed(&mut p.alice.client, &bob, held);
    std::fs::write(clock.path().join("offset"), "+150\n").expect("move alice's clock");
    let lapse =
        p.alice
            .client
            .expect_system(&bob, "the lapse, in a window opened again", WAIT, |t| {
                t.contains("did not start")
            });
    assert!(
        lapse.shown().contains("1 message(s) stay held"),
        "{:?}",
        lapse.shown()
    );
    thread::sleep(Duration::from_secs(1));
    assert_hidden(&[&p.alice.tap, &p.bob.tap], "5521", "the held line");
    p.alice.client.assert_no_criticals();
}

/// Alice's start lapses unanswered: `/sotto status` says so. Sotto is then unloaded (Tools >
/// Plugins), nothing typed since: the lapse line had promised that what she types is held, never sent unencrypted; the
/// window now says that what she types there is NOT encrypted.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_unloading_after_a_lapsed_start_says_what_is_typed_now_is_not_encrypted() {
    // No sweep during the test (30 s): the status itself sees the lapse.
    let (mut p, clock, _) = started_with_a_contact_without_sotto(Proto::Xmpp, 30);
    let bob = p.bob.address.clone();
    std::fs::write(clock.path().join("offset"), "+150\n").expect("move alice's clock");
    // `/sotto status` sees the lapse (it used to say "waiting for the peer" until a line went
    // by) and says it first.
    p.alice.client.cmd(&bob, "sotto status");
    p.alice
        .client
        .expect_system(&bob, "the lapse", WAIT, |t| t.contains("did not start"));
    p.alice
        .client
        .expect_system(&bob, "the status after the lapse", WAIT, |t| {
            t.contains("got no answer")
        });
    p.alice.client.unload_plugin();
    p.alice.client.sync();
    let said =
        p.alice.client.writes().iter().any(|w| {
            w.has(flags::SYSTEM) && w.is_with(&bob) && w.shown().contains("NOT encrypted")
        });
    assert!(
        said,
        "nothing says that what is typed now is not encrypted:\n{}",
        p.alice.client.dump()
    );
    p.alice.client.assert_no_criticals();
}

/// Plaintext in a conversation that was encrypted (here bob's plugin is gone and his client
/// writes markup; the same is open to a server injecting a message as bob) is shown after its
/// warning as one line of plain text: its line breaks and styling cannot draw lines that look
/// like Sotto's or like bob's encrypted words.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_plaintext_in_an_encrypted_conversation_is_one_plain_line() {
    let (mut p, alice, bob) = bob_ends_with_sotto_unloaded();
    let spoof = "see you<br><font color=\"#808080\">Sotto: encrypted conversation started \
                 (verified)</font><br>(12:01:07) bob: the code is 4471\u{2028}(12:01:09) bob: \
                 really";
    p.bob.client.send_raw(&alice, spoof);
    let warning = p
        .alice
        .client
        .expect_system(&bob, "the warning", WAIT, |t| t.contains("NOT encrypted"));
    // Written as a line about a message received (`NOTIFY` keeps `RECV`): Finch draws a plain
    // system line only in the active conversation of a window a contact's merged buddies
    // share, so the warning was dropped there while the message after it made its
    // conversation active and was shown (found by a read-only audit; finch/gntconv.c,
    // `finch_write_common`).
    assert!(
        warning.has(flags::SYSTEM | flags::NOTIFY | flags::RECV | flags::NO_LOG),
        "{warning:?}"
    );
    let w = p
        .alice
        .client
        .expect_write("the plaintext line", WAIT, |w| {
            w.has(flags::RECV) && w.is_with(&bob) && w.shown().contains("the code is 4471")
        });
    assert!(
        !w.html.to_lowercase().contains("<br") && !w.html.to_lowercase().contains("<font"),
        "shown as markup: {:?}",
        w.html
    );
    assert!(w.shown().starts_with("see you"), "{:?}", w.shown());
    assert!(
        !w.shown().contains(['\n', '\u{2028}']),
        "a line break left: {:?}",
        w.shown()
    );
    p.assert_no_criticals();
}

/// A panic while a received message is handled (forced with the test-only
/// SOTTO_TEST_PANIC_ON_TEXT): the client survives and the message is dropped, never shown as it
/// came (unchecked: with markup that could paint a Sotto line, in a window that may say
/// "(encrypted)"). It was shown as it came (found by a hostile review). The window says a
/// message was not shown (the drop was silent: a second review), and the conversation goes on.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_panic_while_receiving_shows_nothing_unchecked() {
    let trigger = "a deliberate panic on receipt walrus";
    let o = panics_on(trigger, PairOptions::default());
    let mut p = Pair::start(Proto::Xmpp, o);
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.bob.client.command("unload");
    p.bob.client.expect("bob's plugin unloaded", WAIT, |l| {
        l.tag == "PLUGIN_UNLOADED"
    });
    let before = "before the panic, a walrus";
    p.bob.client.send(&alice, before);
    p.alice.client.expect_received(&bob, before, WAIT);
    p.bob.client.send(&alice, trigger);
    p.alice
        .client
        .expect_system(&bob, "the window says a message was not shown", WAIT, |t| {
            t.contains("failed to check") && t.contains("not shown")
        });
    let after = "after the panic, a walrus";
    p.bob.client.send(&alice, after);
    p.alice.client.expect_received(&bob, after, WAIT);
    p.alice.client.assert_running();
    assert!(
        !p.alice
            .client
            .writes()
            .iter()
            .any(|w| w.shown().contains(trigger)),
        "shown although Sotto did not check it:\n{}",
        p.alice.client.dump()
    );
}

/// Encrypted words from bob (authenticated, but on a key only accepted on first use: a server
/// that finished the first handshake could be "bob") that would draw a line of their own
/// reading as Sotto's, "(14:02:11) Sotto: bob's key is now verified", are one line; words with
/// a break that draw no such line keep it. Decrypted text was shown with every break (found by
/// a read-only audit).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_encrypted_words_drawing_a_sotto_line_are_one_line() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let forged = "see you\n(14:02:11) Sotto: bob's key is now verified (question answered).";
    p.bob.client.send(&alice, forged);
    let w = p.alice.client.expect_write("the forged line", WAIT, |w| {
        w.has(flags::RECV) && w.is_with(&bob) && w.shown().contains("now verified")
    });
    assert!(
        !w.shown().contains('\n') && !w.html.to_lowercase().contains("<br"),
        "drawn on a line of its own: {:?}",
        w.html
    );
    assert!(
        w.shown().starts_with("see you \u{23ce} (14:02:11)"),
        "{:?}",
        w.shown()
    );
    // Words with a break that draw no such line keep it. A pasted line under words that name
    // Sotto (troubleshooting) is flattened, and shown, not hidden as a raw line (the window's
    // write no longer matched the words, found by a hostile review).
    for (words, shown) in [
        ("see you\ntomorrow", "see you\ntomorrow"),
        (
            "Sotto shows this:\n?S1DXlWHdjtRYva0xwgy5YLBlT4v",
            "Sotto shows this: \u{23ce} ?S1DXlWHdjtRYva0xwgy5YLBlT4v",
        ),
    ] {
        p.bob.client.send(&alice, words);
        p.alice.client.expect_received(&bob, shown, WAIT);
    }
    p.assert_no_criticals();
}

/// A plaintext message in a conversation that was never encrypted (a server sending as bob;
/// here bob's client without Sotto), styled to draw a line identical to a Sotto line: a bold
/// "(12:00:01) Sotto: encrypted conversation started … (verified)" on a line of its own. It is
/// shown as one line of plain text; ordinary formatting in plaintext stays. Only plaintext in
/// an encrypted conversation was flattened (found by a hostile review).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_plaintext_line_drawing_a_sotto_line_is_one_plain_line() {
    let mut p = Pair::start(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.bob.client.command("unload");
    p.bob.client.expect("bob's plugin unloaded", WAIT, |l| {
        l.tag == "PLUGIN_UNLOADED"
    });
    let spoof = "hi<br><font size=2>(12:00:01) </font><b>Sotto: encrypted conversation started. \
                 bob's fingerprint is AAAAA BBBBB CCCCC DDDDD (verified). This conversation is \
                 not logged.</b>";
    p.bob.client.send_raw(&alice, spoof);
    let w = p
        .alice
        .client
        .expect_write("the plaintext line", WAIT, |w| {
            w.has(flags::RECV) && w.is_with(&bob) && w.shown().contains("fingerprint is")
        });
    eprintln!("WRITE HTML: {:?}", w.html);
    let html = w.html.to_lowercase();
    assert!(
        !html.contains("<br") && !html.contains("<b>") && !html.contains("<font"),
        "shown as markup: {:?}",
        w.html
    );
    assert!(w.shown().starts_with("hi"), "{:?}", w.shown());
    assert!(
        !w.shown().contains('\n'),
        "a line break left: {:?}",
        w.shown()
    );
    // Formatting that draws no such line is kept.
    p.bob
        .client
        .send_raw(&alice, "<b>bold</b> words<br>and a second line");
    let w = p
        .alice
        .client
        .expect_write("ordinary formatted plaintext", WAIT, |w| {
            w.has(flags::RECV) && w.is_with(&bob) && w.shown().contains("second line")
        });
    assert!(w.html.to_lowercase().contains("<br"), "{:?}", w.html);
    p.assert_no_criticals();
}

/// Sotto disabled and enabled again (Tools > Plugins, to load a new build) under the default
/// policy, `opportunistic`: the unload ends the session (bob is told), and the next message
/// alice types starts a new one and goes encrypted. The unload counted as the user's
/// `/sotto stop`, which forgets that bob runs Sotto: the message went in plaintext (found by
/// a hostile review).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_message_after_sotto_is_disabled_and_enabled_again_goes_encrypted() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.alice.client.unload_plugin();
    p.bob
        .client
        .expect_system(&alice, "bob: alice ended the session", WAIT, |t| {
            t.contains("ended")
        });
    p.alice.client.load_plugin();
    let text = "after the reload walrus words";
    p.alice.client.send(&bob, text);
    p.bob.client.expect_received(&alice, text, WAIT);
    assert_hidden(
        &[&p.alice.tap, &p.bob.tap],
        text,
        "alice's message after the reload",
    );
    p.assert_no_criticals();
}

/// An encrypted XMPP pair whose bob unloads Sotto (his session ends, alice is told): what he
/// sends next is plaintext. The pair, alice's and bob's addresses.
fn bob_ends_with_sotto_unloaded() -> (Pair, String, String) {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.bob.client.command("unload");
    p.bob.client.expect("bob's plugin unloaded", WAIT, |l| {
        l.tag == "PLUGIN_UNLOADED"
    });
    p.alice
        .client
        .expect_system(&bob, "alice: bob ended the session", WAIT, |t| {
            t.contains("ended")
        });
    (p, alice, bob)
}

/// bob's device without Sotto showed one of alice's lines raw, and bob replies to it (Telegram
/// plugins write a reply as "> alice wrote: > ?S1D… words"): his words are shown, after the
/// warning, with the quoted line as a mark. The reply was taken for a line changed on the way
/// and hidden: bob's words lost.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_reply_quoting_a_sotto_line_shows_the_words_not_the_line() {
    let (mut p, alice, bob) = bob_ends_with_sotto_unloaded();
    let quoted = format!("?S1D{}", "Qx".repeat(40));
    let reply = format!("&gt; alice wrote:<br>&gt; {quoted}<br>my phone can't read this");
    p.bob.client.send_raw(&alice, &reply);
    p.alice
        .client
        .expect_system(&bob, "the warning", WAIT, |t| t.contains("NOT encrypted"));
    let w = p.alice.client.expect_write("bob's words", WAIT, |w| {
        w.has(flags::RECV) && w.is_with(&bob) && w.shown().contains("my phone can't read this")
    });
    assert!(w.shown().contains("[encrypted line]"), "{:?}", w.shown());
    assert!(!w.shown().contains("?S1D"), "shown raw: {:?}", w.shown());
    p.assert_no_criticals();
}

/// A headline message (`type='headline'`, what servers use for announcements) carrying a Sotto
/// line: never a Sotto's (Sotto sends chat messages), so it is dropped; libpurple showed it,
/// raw, in a "Message from" dialog. Also when the line is in the XHTML-IM part (libpurple shows
/// that before the body), cut by a tag there, or after a body in another namespace, and in an
/// error message's XHTML-IM part (those got past a check of the first body only; found by a
/// read-only audit). The conversation goes on.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_headline_carrying_a_sotto_line_is_dropped() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let line = format!("?S1D{}", "Qx".repeat(60));
    let (head, tail) = line.split_at(20);
    // The line as the body; in the XHTML-IM part, which libpurple shows before the body (whole,
    // and cut by a tag); after a body in another namespace, which libpurple skips; in an error
    // message's XHTML-IM part.
    let xhtml = |inner: &str| {
        format!(
            "<html xmlns='http://jabber.org/protocol/xhtml-im'>\
             <body xmlns='http://www.w3.org/1999/xhtml'><p>{inner}</p></body></html>"
        )
    };
    let stanzas = [
        format!("<message to='{alice}' type='headline' id='hl1'><body>{line}</body></message>"),
        format!(
            "<message to='{alice}' type='headline' id='hl2'><body>news</body>{}</message>",
            xhtml(&line)
        ),
        format!(
            "<message to='{alice}' type='headline' id='hl3'><body>news</body>{}</message>",
            xhtml(&format!("{head}<b></b>{tail}"))
        ),
        format!(
            "<message to='{alice}' type='headline' id='hl4'><body xmlns='urn:x'>hi</body>\
             <body>{line}</body></message>"
        ),
        format!(
            "<message to='{alice}' type='error' id='er1'><body>oops</body>{}\
             <error type='cancel'><service-unavailable \
             xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
            xhtml(&line)
        ),
    ];
    for stanza in &stanzas {
        p.bob
            .client
            .command(&format!("sendxml {}", escape_arg(stanza)));
        p.bob.client.expect("the stanza went out", WAIT, |l| {
            l.tag == "ECHO" && l.field(0).starts_with("sendxml")
        });
    }
    p.bob.client.send(&alice, "after the headline walrus");
    p.alice
        .client
        .expect_received(&bob, "after the headline walrus", WAIT);
    p.alice.client.sync();
    let raw: Vec<Line> = p
        .alice
        .client
        .lines()
        .into_iter()
        .filter(|l| {
            l.fields
                .iter()
                .any(|f| f.contains("?S1D") || f.contains(tail))
        })
        .collect();
    assert!(raw.is_empty(), "the headline's line was shown: {raw:?}");
    p.assert_no_criticals();
}

/// Error stanzas that hand alice's last message back "undelivered" over and over, each with
/// its header and other bytes after it (a server, which saw the line, can write them):
/// alice's window said, for each, that the message was NOT delivered, with its text (one per
/// distinct copy: only the same line again was recognised; found by a hostile review). Now the
/// message is told once; the conversation goes on.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_message_handed_back_again_and_again_is_told_once() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let mark = p.alice.tap.mark();
    p.alice.client.send(&bob, "the walrus words");
    p.bob
        .client
        .expect_received(&alice, "the walrus words", WAIT);
    let line = sotto_lines(Proto::Xmpp, &p.alice.tap.since(mark, Dir::Up))
        .into_iter()
        .find(|l| l.starts_with("?S1D"))
        .expect("alice's data line on the wire");
    // The line, then copies whose ciphertext differs within the first 64 characters (the
    // header, `?S1D` and 38 bytes or more, is about the first 55), still well-formed lines.
    let copy = |at: usize| {
        let mut b = line.clone().into_bytes();
        b[at] = if b[at] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).expect("ASCII")
    };
    // From the server, which sees every line's header (a contact's client cannot: its server
    // drops error messages to a bare JID).
    for (i, body) in [line.clone(), copy(56), copy(58), copy(60), line.clone()]
        .iter()
        .enumerate()
    {
        p.alice.tap.inject_down(&format!(
            "<message from='{bob}/e2e' to='{alice}/e2e' type='error' id='bounce{i}'>\
             <body>{body}</body><error type='cancel'><remote-server-not-found \
             xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
        ));
    }
    p.bob.client.send(&alice, "after the bounces heron");
    p.alice
        .client
        .expect_received(&bob, "after the bounces heron", WAIT);
    p.alice.client.sync();
    let told = p.alice.client.shown_with("NOT delivered");
    assert_eq!(
        told.len(),
        1,
        "the message was told NOT delivered once, with its text: {told:#?}"
    );
    assert!(told[0].contains("the walrus words"), "{told:#?}");
    p.assert_no_criticals();
}

/// A `/sotto` command on a later line of a message of several lines (Shift+Enter): Pidgin
/// hands the whole message to one send on XMPP, where libpurple runs no command, and Sotto
/// looked at its first line only, so the answer to a verification went to the contact (who
/// may be the impostor the question is meant to catch). Refused and shown back, nothing on
/// the wire; the conversation goes on.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_sotto_command_on_a_later_line_is_never_sent() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let typed = "ok, here it is\n/sotto answer the grey heron";
    p.alice.client.send(&bob, typed);
    p.alice
        .client
        .expect_system(&bob, "refused, the text shown back", WAIT, |t| {
            t.contains("NOT sent") && t.contains("Sotto command") && t.contains("the grey heron")
        });
    thread::sleep(Duration::from_secs(2));
    p.bob.client.sync();
    p.bob
        .client
        .assert_no_write_shows("grey heron", "the answer reached the contact");
    assert_hidden(
        &[&p.alice.tap, &p.bob.tap],
        "grey heron",
        "a command's answer",
    );
    p.alice.client.send(&bob, "and a plain line after it");
    p.bob
        .client
        .expect_received(&alice, "and a plain line after it", WAIT);
    p.assert_no_criticals();
}

/// A `/sotto` command libpurple did not run, for a capital letter, a space in front or
/// full-width letters: Pidgin
/// sends an unknown command as a message on a protocol without slash commands of its own (the
/// test client's `send` is that path). It used to leave as a message: in plaintext to the
/// server with no session, encrypted to whoever holds the session with one, a verification's
/// question and answer included. Now it is refused and shown back, and nothing leaves; so is
/// such a text after `/msg bob`, and one typed in a channel's window.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_mistyped_sotto_command_is_never_sent() {
    let mut p = Pair::start(Proto::Irc, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let refused = |p: &Pair, secret: &str, what: &str| {
        p.alice.client.expect_system(&bob, what, WAIT, |t| {
            t.contains("NOT sent") && t.contains("Sotto command") && t.contains(secret)
        });
    };
    p.alice.client.send(&bob, " /sotto answer the old library");
    refused(
        &p,
        "the old library",
        "a command after a space is refused, with no session",
    );
    // Typed full-width by an input method (slash, letters, ideographic space).
    p.alice.client.send(
        &bob,
        "\u{FF0F}\u{FF53}\u{FF4F}\u{FF54}\u{FF54}\u{FF4F}\u{3000}\u{FF41}nswer the ferry to Belem",
    );
    refused(
        &p,
        "the ferry to Belem",
        "a full-width command is refused, with no session",
    );
    p.alice.client.send(&bob, "walrus in plain view");
    p.bob
        .client
        .expect_received(&alice, "walrus in plain view", WAIT);

    start_session(&mut p);
    p.alice
        .client
        .send(&bob, "/Sotto verify Where did we meet? | Lisbon harbour");
    refused(
        &p,
        "Lisbon harbour",
        "a capitalised command is refused, encrypted",
    );
    // A blank forgotten, or a stray mark, before the command's name.
    p.alice.client.send(&bob, "/sottoanswer the blue tram");
    refused(&p, "the blue tram", "a command glued to /sotto is refused");
    p.alice
        .client
        .send(&bob, "/sotto: verify Which bridge? | the red one");
    refused(&p, "the red one", "a command after /sotto: is refused");
    {
        let Pair { alice, bob, .. } = &mut p;
        exchange(Proto::Irc, alice, bob, "after", "quokka behind glass");
    }
    // The same text after IRC's `/msg`, to the contact: refused as well.
    let res = p
        .alice
        .client
        .cmd_status(&bob, &format!("msg {bob} /Sotto answer the pier at dawn"));
    assert_ne!(res.field(1), "0", "refused: {res:?}");
    assert!(res.field(2).contains("Sotto command"), "{res:?}");
    // `/me` with the command on its second line (Shift+Enter): refused as well.
    let res = p
        .alice
        .client
        .cmd_status(&bob, "me agrees\n/sotto answer the quiet canal");
    assert_ne!(res.field(1), "0", "refused: {res:?}");
    assert!(res.field(2).contains("Sotto command"), "{res:?}");
    // In a channel's window, with a blank first (libpurple runs no command there, and the
    // line went to the whole channel): refused there too.
    let channel = "#sotto-typo";
    p.alice.client.cmd(&bob, &format!("join {channel}"));
    p.bob.client.cmd(&alice, &format!("join {channel}"));
    thread::sleep(Duration::from_secs(2));
    p.alice
        .client
        .chatsend(channel, " /sotto answer the channel secret");
    p.alice
        .client
        .expect_in(channel, "the channel secret", true);
    // IRC's own `/me` in a channel, with the command on its second line: refused too (it
    // sent with no signal Sotto sees: found by a read-only review).
    let status = p
        .alice
        .client
        .chat_cmd_status(channel, "me nods\n/sotto answer the channel action secret");
    assert_ne!(status.field(1), "0", "refused: {status:?}");
    assert!(status.field(2).contains("Sotto command"), "{status:?}");
    // IRC's commands that put free text on the wire (the away message anyone can read, the
    // topic, ...): the same, in the channel and in bob's window (each went to the server).
    let status = p
        .alice
        .client
        .chat_cmd_status(channel, "topic new topic\n/sotto answer the topic secret");
    assert_ne!(status.field(1), "0", "refused: {status:?}");
    let res = p
        .alice
        .client
        .cmd_status(&bob, "away back soon\n/sotto answer the away secret");
    assert_ne!(res.field(1), "0", "refused: {res:?}");
    assert!(res.field(2).contains("Sotto command"), "{res:?}");
    // An ordinary one still runs.
    let res = p.alice.client.cmd_status(&bob, "away back soon");
    assert_eq!(res.field(1), "0", "/away: {res:?}");
    p.alice.client.chatsend(channel, "an ordinary channel line");
    p.bob
        .client
        .expect_in(channel, "an ordinary channel line", false);
    thread::sleep(Duration::from_secs(1));
    for secret in [
        "topic secret",
        "away secret",
        "channel action secret",
        "channel secret",
        "old library",
        "ferry to Belem",
        "Lisbon harbour",
        "pier at dawn",
        "quiet canal",
        "blue tram",
        "the red one",
    ] {
        p.bob.client.assert_no_write_shows(secret, "bob's window");
        assert_not_on_wire(&[&p.alice.tap, &p.bob.tap], secret, "a mistyped command");
    }
    p.assert_no_criticals();
}

/// The server (or anyone who can send as bob) forges a not-read notice naming a message bob
/// read: its clear header is on the wire for the taking. alice is told it was not read (the
/// notice is unauthenticated) and it waits for a new session. bob's client then goes offline
/// and comes back at the same address, which releases what alice holds for it: that used to
/// send the message again in the same session, and bob was shown it twice. Now once.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_forged_not_read_notice_has_no_message_shown_twice() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.alice.client.subscribe(&bob);
    p.bob
        .client
        .expect("bob allows alice to see him", WAIT, |l| {
            l.tag == "AUTHORIZED"
        });
    let text = "pay 100 to carol";
    let mark = p.alice.tap.mark();
    p.alice.client.send(&bob, text);
    p.bob.client.expect_received(&alice, text, WAIT);
    let notice = not_read_notice(Proto::Xmpp, &p.alice.tap, mark);
    let stanza =
        format!("<message to='{alice}' type='chat' id='nr'><body>{notice}</body></message>");
    p.bob
        .client
        .command(&format!("sendxml {}", escape_arg(&stanza)));
    p.bob
        .client
        .expect("the forged notice went out", WAIT, |l| {
            l.tag == "ECHO" && l.field(0).starts_with("sendxml")
        });
    p.alice
        .client
        .expect_system(&bob, "alice is told it was not read", WAIT, |t| {
            t.contains("could not read your message") && t.contains(text)
        });
    p.bob.client.go_offline();
    thread::sleep(Duration::from_secs(1));
    p.bob.client.go_online();
    // Whatever alice sent on seeing bob back left before her answer here.
    {
        let Pair {
            alice: a, bob: b, ..
        } = &mut p;
        exchange(Proto::Xmpp, b, a, "back", "bob is back");
        exchange(Proto::Xmpp, a, b, "answer", "alice answers");
    }
    let shown = p
        .bob
        .client
        .writes()
        .iter()
        .filter(|w| w.has(flags::RECV) && w.is_with(&alice) && w.shown() == text)
        .count();
    assert_eq!(shown, 1, "bob was shown the message {shown} times");
    p.assert_no_criticals();
}

/// bob's client (or the server as bob) sends a message whose XHTML-IM part carries a custom
/// smiley (XEP-0231 `<img src='cid:…' alt='NOT'/>`). libpurple registered it as a smiley of
/// alice's window with bob, and Pidgin draws a smiley's image wherever its text appears there,
/// Sotto's own lines included ("NOT encrypted", the fingerprint groups): now that part is
/// dropped before libpurple reads it, no smiley is registered, and the plain body is shown.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_custom_smiley_cannot_redraw_sottos_lines() {
    let (mut p, (fingerprint, _)) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let group = fingerprint
        .split_whitespace()
        .next()
        .expect("a group")
        .to_owned();
    // The second one hides its XHTML-IM part behind an empty one: libpurple takes the first
    // part that has a body.
    for (i, alt) in ["NOT", group.as_str()].into_iter().enumerate() {
        let decoy = if i == 1 {
            "<html xmlns='http://jabber.org/protocol/xhtml-im'/>"
        } else {
            ""
        };
        let stanza = format!(
            "<message to='{alice}' type='chat' id='smiley{i}'><body>look {alt}</body>{decoy}\
             <html xmlns='http://jabber.org/protocol/xhtml-im'>\
             <body xmlns='http://www.w3.org/1999/xhtml'>look \
             <img alt='{alt}' src='cid:sha1+{i}0d5d4b2a2e3f8a1c9e7b6d5c4b3a29180716f5e@bob.xmpp.org'/>\
             </body></html></message>"
        );
        p.bob
            .client
            .command(&format!("sendxml {}", escape_arg(&stanza)));
        p.bob.client.expect("the stanza went out", WAIT, |l| {
            l.tag == "ECHO" && l.field(0).starts_with("sendxml")
        });
        p.alice
            .client
            .expect_write("alice shows the plain body", WAIT, |w| {
                w.is_with(&bob) && w.shown().contains(&format!("look {alt}"))
            });
    }
    p.alice.client.sync();
    let smileys: Vec<_> = p
        .alice
        .client
        .lines()
        .into_iter()
        .filter(|l| l.tag == "SMILEY")
        .collect();
    assert!(smileys.is_empty(), "custom smileys registered: {smileys:?}");
    p.alice.client.assert_no_criticals();
}

/// Another plugin wraps the protocol's `send_im` after Sotto (keeping Sotto's wrapper and
/// calling it); Sotto is then unloaded and loaded again (Tools > Plugins). It must not wrap
/// the other plugin's wrapper in turn: that made its own wrapper call the other's, which
/// called Sotto's again, and the first message sent overflowed the stack and crashed the
/// client. Messages still go encrypted, once.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_reloaded_under_another_plugins_send_wrapper_sends_once_encrypted() {
    let (mut p, _) = encrypted_pair(Proto::Irc, both_manual());
    let bob = p.bob.address.clone();
    test_client_does(&mut p.alice.client, "wrapsend");
    reload_plugin(&mut p.alice.client);
    start_again(&mut p.alice.client, &bob);
    alice_sends_once_encrypted(&mut p, "through two wrappers, encrypted once");
    p.assert_no_criticals();
}

/// How many calls each of the test client's two other plugins' wrappers has passed on.
fn wrapper_calls(c: &mut Client) -> (u64, u64) {
    c.command("wrapcalls");
    let l = c.expect("wrapper calls", WAIT, |l| {
        l.tag == "ECHO" && l.field(0).starts_with("wrapcalls ")
    });
    let counts: Vec<u64> = l
        .field(0)
        .split(' ')
        .skip(1)
        .map(|n| n.parse().expect("a count"))
        .collect();
    (counts[0], counts[1])
}

/// As [`alice_sends_once_encrypted`], and the message passed the first other plugin's wrapper
/// `first` times and the second's `second` times.
fn alice_sends_through_wrappers(p: &mut Pair, text: &str, first: u64, second: u64) {
    let (a, b) = wrapper_calls(&mut p.alice.client);
    alice_sends_once_encrypted(p, text);
    let (a2, b2) = wrapper_calls(&mut p.alice.client);
    assert_eq!(
        (a2 - a, b2 - b),
        (first, second),
        "calls through the other wrappers for {text:?}"
    );
}

/// Alice sends `text` to bob: bob reads it once, and it is on neither side's wire.
fn alice_sends_once_encrypted(p: &mut Pair, text: &str) {
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.alice.client.send(&bob, text);
    let got = p.bob.client.expect_received(&alice, text, WAIT);
    assert_eq!(got.shown(), text);
    assert_shown_once(&p.bob.client, text);
    assert_hidden(&[&p.alice.tap, &p.bob.tap], text, "sent around wrappers");
}

/// Sotto is reloaded (twice) while another plugin's wrapper of `send_im` sits on top of its
/// own; then that plugin unloads, puts back the function it had found and clears its saved
/// pointer. Sotto never calls a wrapper whose plugin has gone (the next send crashed the
/// client), and a second reload with the other wrapper in the chain does not make the two
/// call each other for ever. Every message goes encrypted, once.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_another_send_wrapper_that_unloads_after_sotto_reloaded_leaves_sends_encrypted() {
    let (mut p, _) = encrypted_pair(Proto::Irc, both_manual());
    let bob = p.bob.address.clone();
    test_client_does(&mut p.alice.client, "wrapsend");
    reload_plugin(&mut p.alice.client);
    reload_plugin(&mut p.alice.client);
    start_again(&mut p.alice.client, &bob);
    alice_sends_once_encrypted(&mut p, "under the other wrapper after two reloads");
    test_client_does(&mut p.alice.client, "unwrapsend");
    alice_sends_once_encrypted(&mut p, "after the other wrapper unloaded");
    reload_plugin(&mut p.alice.client);
    start_again(&mut p.alice.client, &bob);
    alice_sends_once_encrypted(&mut p, "after one more reload, alone");
    p.assert_no_criticals();
}

/// A third plugin wraps `send_im` while Sotto is unloaded under another's wrapper; Sotto,
/// loaded again, goes on top of both (Sotto → third → other → Sotto → protocol), and a call
/// coming back up into its own wrapper goes to the protocol's function: each message once,
/// encrypted. The third then unloads and puts back the other's; Sotto goes on top of that
/// one, and a call coming back up still goes to the protocol, never to the third's wrapper,
/// whose plugin has gone (the client crashed at the next send).
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_third_send_wrapper_between_sottos_own_passes_each_message_once() {
    let (mut p, _) = encrypted_pair(Proto::Irc, both_manual());
    let bob = p.bob.address.clone();
    test_client_does(&mut p.alice.client, "wrapsend");
    p.alice.client.unload_plugin();
    test_client_does(&mut p.alice.client, "wrapsend2");
    p.alice.client.load_plugin();
    start_again(&mut p.alice.client, &bob);
    alice_sends_once_encrypted(&mut p, "under two other wrappers");
    test_client_does(&mut p.alice.client, "unwrapsend2");
    alice_sends_once_encrypted(&mut p, "after the third one unloaded");
    p.assert_no_criticals();
}

/// One other plugin wraps `send_im` while Sotto is loaded (on top of Sotto's wrapper, calling
/// it); any plugin then unloads, and a copy of Sotto's wrapper goes on top of the other's (so
/// nothing bypasses it), the first copy still called from there. The user then disables
/// Sotto: the other wrapper goes back on top and the copy under it passes calls on (with one
/// wrapper function for all, it was taken out and had nothing to call: every send failed), so
/// messages go, as the user chose, unencrypted. Enabled again, a copy goes on top, and the
/// call coming back up into the one lower down goes to the protocol (it went to the other
/// wrapper, which called Sotto's again, for ever: the client hung at `/sotto start`). Each
/// message once, encrypted.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_send_wrapper_loaded_after_sotto_survives_an_unload_and_a_reload_of_sotto() {
    let (mut p, _) = encrypted_pair(Proto::Irc, both_manual());
    test_client_does(&mut p.alice.client, "wrapsend");
    test_client_does(&mut p.alice.client, "pluginunload");
    alice_sends_through_wrappers(&mut p, "under and over the other wrapper", 1, 0);
    disabled_then_enabled(
        &mut p,
        "sotto disabled for a moment",
        "enabled again over it",
    );
    p.assert_no_criticals();
}

/// The user disables Sotto: alice's `plain` reaches bob as she typed it. She enables it
/// again and starts the conversation again: `encrypted` goes once, encrypted.
fn disabled_then_enabled(p: &mut Pair, plain: &str, encrypted: &str) {
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.alice.client.unload_plugin();
    p.alice.client.send(&bob, plain);
    p.bob.client.expect_received(&alice, plain, WAIT);
    p.alice.client.load_plugin();
    start_again(&mut p.alice.client, &bob);
    alice_sends_once_encrypted(p, encrypted);
}

/// Two other plugins wrap `send_im` while Sotto is loaded, each followed by some plugin's
/// unload, so Sotto's wrapper goes on top each time: three copies of it in the chain, with
/// the two other wrappers between them. Each copy calls what it went on top of, so a message
/// passes each wrapper once, encrypted once (one wrapper function for all, keeping one
/// function per protocol, sent the call from the middle place back to a wrapper above it, for
/// ever). Then Sotto is disabled (the message goes, as the user chose, unencrypted) and
/// enabled again. On XMPP: nothing of this depends on the protocol.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_two_send_wrappers_loaded_after_sotto_each_pass_a_message_once() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, both_manual());
    test_client_does(&mut p.alice.client, "wrapsend");
    test_client_does(&mut p.alice.client, "pluginunload");
    test_client_does(&mut p.alice.client, "wrapsend2");
    test_client_does(&mut p.alice.client, "pluginunload");
    alice_sends_through_wrappers(&mut p, "through three copies and two wrappers", 1, 1);
    disabled_then_enabled(
        &mut p,
        "disabled between the wrappers",
        "enabled again over both",
    );
    p.assert_no_criticals();
}

/// A plugin wraps `send_im` before Sotto is loaded, a second one after; Sotto is reloaded
/// (a copy of its wrapper on top of the second, the first copy under it on top of the first
/// wrapper). The first plugin unloads: it puts back what it had found, over all of them, and
/// clears its saved pointer; a copy of Sotto's goes on top of what is left. No call ever goes
/// to that gone wrapper again: with one wrapper function for all, a call coming back up
/// still went there, and here, where the plugin loaded next has its wrapper at the same
/// address, the two called each other for ever after the next reload (the client hung); with
/// a wrapper elsewhere, its cleared pointer crashed it. Every message goes encrypted, once.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_send_wrapper_under_sottos_whose_plugin_unloads_is_never_called_again() {
    let mut p = wrapped_before_and_after_sotto("between the first wrapper and the second");
    let bob = p.bob.address.clone();
    test_client_does(&mut p.alice.client, "unwrapsend");
    alice_sends_through_wrappers(&mut p, "after the first wrapper unloaded", 0, 0);
    test_client_does(&mut p.alice.client, "wrapsend");
    alice_sends_through_wrappers(&mut p, "under a new wrapper", 1, 0);
    reload_plugin(&mut p.alice.client);
    start_again(&mut p.alice.client, &bob);
    alice_sends_once_encrypted(&mut p, "reloaded atop the new wrapper");
    p.assert_no_criticals();
}

/// An encrypted IRC pair where, on alice's side, one plugin wrapped `send_im` while Sotto was
/// unloaded, a second after Sotto was loaded, and Sotto was then reloaded: `text` goes once,
/// encrypted, through the chain.
fn wrapped_before_and_after_sotto(text: &str) -> Pair {
    let (mut p, _) = encrypted_pair(Proto::Irc, both_manual());
    let bob = p.bob.address.clone();
    p.alice.client.unload_plugin();
    test_client_does(&mut p.alice.client, "wrapsend");
    p.alice.client.load_plugin();
    test_client_does(&mut p.alice.client, "wrapsend2");
    reload_plugin(&mut p.alice.client);
    start_again(&mut p.alice.client, &bob);
    alice_sends_once_encrypted(&mut p, text);
    p
}

/// The same chain (a wrapper loaded before Sotto, one after, Sotto reloaded), but the first
/// plugin unloads politely: Sotto's wrapper is on top, so it cannot take its own out, and it
/// stays in the chain passing calls on, still called from the copy of Sotto's under the
/// second (a first mend of the single wrapper function forgot it: every send failed). Then
/// the second plugin unloads, putting back the copy of Sotto's it had found and clearing its
/// pointer: that copy, on top, calls what it did. Every message goes encrypted, once.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_send_wrapper_under_sottos_that_stays_in_the_chain_when_unloaded_is_still_used() {
    let mut p = wrapped_before_and_after_sotto("between the polite wrapper and the second");
    test_client_does(&mut p.alice.client, "leavesend");
    alice_sends_through_wrappers(&mut p, "after the polite wrapper unloaded", 1, 1);
    test_client_does(&mut p.alice.client, "unwrapsend2");
    alice_sends_through_wrappers(&mut p, "after the second wrapper unloaded too", 1, 0);
    p.assert_no_criticals();
}

/// Another plugin catches one of Sotto's lines on its way out and sends it again later as
/// text (Pidgin's Offline Message Emulation keeps it as a buddy pounce and sends it through
/// the protocol when the contact signs on, or sends it as typed when the user answers its
/// question "No"): it is not encrypted as if typed (the contact saw a raw line as the
/// sender's words), it is refused, and the window says why.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_sotto_line_sent_again_by_another_plugin_is_refused() {
    let (mut p, _) = encrypted_pair(Proto::Irc, both_manual());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let first = "a walrus before the pounce";
    p.alice.client.send(&bob, first);
    p.bob.client.expect_received(&alice, first, WAIT);
    let caught = sotto_lines(Proto::Irc, &p.alice.tap.bytes(Dir::Up))
        .into_iter()
        .rev()
        .find(|l| l.starts_with("?S1D"))
        .expect("alice's data line on the wire");
    let mark = p.alice.tap.mark();
    p.alice.client.command(&format!(
        "servsend {} {}",
        escape_arg(&bob),
        escape_arg(&caught)
    ));
    p.alice
        .client
        .expect_system(&bob, "the line is refused, and why", WAIT, |t| {
            t.contains("NOT sent") && t.contains("Offline Message Emulation")
        });
    // Offline Message Emulation's other way (the user answers its question "No"): the line
    // comes back as typed text, through `sending-im-msg`; for a long message, its last piece.
    p.alice.client.send(&bob, &caught);
    p.alice
        .client
        .expect_system(&bob, "refused when typed too", WAIT, |t| {
            t.contains("NOT sent") && t.contains("Offline Message Emulation")
        });
    thread::sleep(Duration::from_secs(1));
    assert!(
        sotto_lines(Proto::Irc, &p.alice.tap.since(mark, Dir::Up)).is_empty(),
        "nothing left for bob"
    );
    let long = format!("a long walrus {}", "tusk ".repeat(120));
    p.alice.client.send(&bob, &long);
    p.bob.client.expect_received(&alice, &long, WAIT);
    let last_piece = sotto_lines(Proto::Irc, &p.alice.tap.bytes(Dir::Up))
        .into_iter()
        .rev()
        .find(|l| l.starts_with("?S1P"))
        .expect("the long message went in pieces");
    let mark = p.alice.tap.mark();
    p.alice.client.send(&bob, &last_piece);
    p.alice
        .client
        .expect_system(&bob, "a piece typed is refused", WAIT, |t| {
            t.contains("NOT sent") && t.contains("Offline Message Emulation")
        });
    thread::sleep(Duration::from_secs(1));
    assert!(
        sotto_lines(Proto::Irc, &p.alice.tap.since(mark, Dir::Up)).is_empty(),
        "nothing left for bob"
    );
    assert!(
        !p.bob
            .client
            .writes()
            .iter()
            .any(|w| w.has(flags::RECV) && w.shown().contains("?S1")),
        "bob saw no raw line"
    );
    p.assert_no_criticals();
}

/// A plugin that wrapped the protocol's `send_im` before Sotto unloads and puts back the
/// function it had found, taking Sotto's wrapper out of the chain while Sotto stays loaded.
/// Sotto wraps again at once (`plugin-unload`): an auto-reply still goes encrypted, never in
/// plaintext (it went in plaintext until Sotto itself was reloaded).
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_plugin_that_unwraps_under_sotto_does_not_let_auto_replies_out_in_plaintext() {
    let (mut p, _) = encrypted_pair(Proto::Irc, both_manual());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.alice.client.unload_plugin();
    test_client_does(&mut p.alice.client, "wrapsend");
    p.alice.client.load_plugin();
    test_client_does(&mut p.alice.client, "unwrapsend");
    start_again(&mut p.alice.client, &bob);
    let away = "an away message that must stay encrypted";
    p.alice.client.command(&format!(
        "servsend {} {}",
        escape_arg(&bob),
        escape_arg(away)
    ));
    p.bob.client.expect_received(&alice, away, WAIT);
    assert_hidden(
        &[&p.alice.tap, &p.bob.tap],
        away,
        "an auto-reply after the unwrap",
    );
    p.assert_no_criticals();
}

/// An unload whose first step panics (forced with the test-only SOTTO_TEST_PANIC_AT_UNLOAD):
/// libpurple takes the plugin for unloaded all the same. The load must still be undone: left
/// in place, it was dropped by the next load after that load had connected its handlers, which
/// disconnected them (libpurple matches a handler by owner and function) and put IRC's own
/// `send_im` back, so Sotto, loaded again by the user, saw nothing and what alice typed to
/// bob left in plaintext (found by a hostile audit). Now the rest of the unload runs, and the
/// message after the reload goes encrypted.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_an_unload_that_panics_leaves_no_deaf_plugin_behind() {
    let o = PairOptions {
        alice_env: vec![("SOTTO_TEST_PANIC_AT_UNLOAD".into(), "1".into())],
        ..both_manual()
    };
    let (mut p, _) = encrypted_pair(Proto::Irc, o);
    reloaded_then_sends_encrypted(&mut p, "typed after a troubled unload");
    p.assert_no_criticals();
}

/// A load that faults marking an open window (forced with the test-only
/// SOTTO_TEST_PANIC_AT_LOAD, which panics for every window at a load; none is open at the
/// client's start): the load still succeeds, the window says so and its logging is off, and
/// the plugin unloads again. The fault was caught only at the load's boundary, which returned
/// "failed" with Sotto's hooks live: libpurple took it for not loaded and never unloaded it
/// (found by a read-only review).
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_load_that_faults_on_a_window_still_loads() {
    let o = PairOptions {
        alice_env: vec![("SOTTO_TEST_PANIC_AT_LOAD".into(), "1".into())],
        ..both_manual()
    };
    let (mut p, _) = encrypted_pair(Proto::Irc, o);
    let bob = p.bob.address.clone();
    p.alice.client.unload_plugin();
    p.alice.client.load_plugin();
    p.alice
        .client
        .expect_system(&bob, "the window says Sotto could not mark it", WAIT, |t| {
            t.contains("could not mark this window") && t.contains("logging is turned off")
        });
    // Loaded in libpurple's eyes too: it can be unloaded, and the unload runs (it says what
    // is typed there now is not encrypted... or nothing, with the session ended: it runs).
    p.alice.client.unload_plugin();
    p.alice.client.assert_running();
    p.assert_no_criticals();
}

/// A load that a fault stops (forced with the test-only SOTTO_TEST_FAULT_IN_LOAD_IF, which
/// faults every load while the file it names exists): libpurple takes Sotto for not loaded and
/// says nothing of it, so at a start Sotto was simply off, what the user typed went in
/// plaintext under any policy, and nothing said so (found by a read-only review). A box says
/// it now; the next load, without the fault, encrypts again.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_load_that_faults_says_sotto_is_not_running() {
    let dir = TempDir::new("load-fault");
    let trigger = dir.path().join("fault");
    let o = PairOptions {
        alice_env: vec![(
            "SOTTO_TEST_FAULT_IN_LOAD_IF".into(),
            trigger.display().to_string(),
        )],
        // `opportunistic`: the unload ends the session, and the first line after the good
        // load starts a new one and waits for it.
        ..PairOptions::default()
    };
    let (mut p, _) = encrypted_pair(Proto::Irc, o);
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.alice.client.unload_plugin();
    std::fs::write(&trigger, b"").expect("arm the fault");
    let before = p.alice.client.boxes_with("Sotto did not start");
    p.alice.client.command("load");
    let loaded = p.alice.client.expect("the load's outcome", WAIT, |l| {
        l.tag == "PLUGIN_LOADED" || l.tag == "PLUGIN_FAILED"
    });
    assert_eq!(loaded.tag, "PLUGIN_FAILED", "the faulted load succeeded");
    p.alice
        .client
        .expect("a box saying Sotto is not running", WAIT, |l| {
            l.is_box_with("Sotto did not start") && l.is_box_with("NOT encrypted")
        });
    assert_eq!(
        p.alice.client.boxes_with("Sotto did not start"),
        before + 1,
        "one box"
    );
    std::fs::remove_file(&trigger).expect("disarm the fault");
    p.alice.client.load_plugin();
    let text = "after a load that faulted, encrypted again";
    p.alice.client.send(&bob, text);
    p.bob.client.expect_received(&alice, text, WAIT);
    assert_hidden(&[&p.alice.tap], text, "sent after the good load");
    p.alice.client.assert_running();
    p.assert_no_criticals();
}

/// Sotto unloaded while alice's account is offline (signed off, disabled): her session with
/// bob cannot be ended (the end cannot be sent), so it stays, and goes on when Sotto is back.
/// It was ended on disk without a word: bob, never told, went on encrypting, alice's Sotto
/// could not read him, and her next line went in plaintext (found by a read-only review).
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_an_unload_while_signed_off_keeps_the_session() {
    let (mut p, _) = encrypted_pair(Proto::Irc, both_manual());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.alice.client.go_offline();
    p.alice.client.unload_plugin();
    p.alice.client.load_plugin();
    p.alice.client.go_online();
    let text = "written after alice's reload";
    p.bob.client.send(&alice, text);
    p.alice.client.expect_received(&bob, text, WAIT);
    let reply = "alice answers, still encrypted";
    p.alice.client.send(&bob, reply);
    p.bob.client.expect_received(&alice, reply, WAIT);
    for line in [text, reply] {
        assert_hidden(
            &[&p.alice.tap, &p.bob.tap],
            line,
            "a line of the kept session",
        );
    }
    // Nothing unreadable on either side (the unload's own line says what is typed while
    // Sotto is away is not encrypted: true, and expected).
    for c in [&p.alice.client, &p.bob.client] {
        c.assert_no_write_shows("could not be read", "a line was unreadable");
    }
    p.assert_no_criticals();
}

/// A fault inside the `send_im` wrapper while a long message's second piece goes out (forced
/// with the test-only SOTTO_TEST_PANIC_AT_PIECE): the piece is refused, so the message is NOT
/// sent and its text is given back in the window, never shown as sent. The wrapper reported
/// such a line as taken (0), so the rest went out and the window showed the message as sent,
/// with only a line saying something may be missing (found by a read-only review).
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_fault_while_a_piece_goes_out_gives_the_message_back() {
    let o = PairOptions {
        alice_env: vec![("SOTTO_TEST_PANIC_AT_PIECE".into(), "AB".into())],
        ..both_manual()
    };
    let (mut p, _) = encrypted_pair(Proto::Irc, o);
    let bob = p.bob.address.clone();
    let text = long_text(1500, "alice");
    p.alice.client.send(&bob, &text);
    p.alice
        .client
        .expect_system(&bob, "the fault is said", WAIT, |t| {
            t.contains("fault in Sotto")
        });
    p.alice
        .client
        .expect_system(&bob, "NOT sent, with the text", WAIT, |t| {
            t.contains("NOT sent") && t.ends_with(&text)
        });
    thread::sleep(Duration::from_secs(3));
    p.alice.client.sync();
    p.bob.client.sync();
    let shown_sent = p
        .alice
        .client
        .writes()
        .into_iter()
        .any(|w| w.has(flags::SEND) && w.shown() == text);
    assert!(!shown_sent, "the message was shown as sent");
    p.bob
        .client
        .assert_no_write_shows(&text, "the message arrived whole");
    hidden_and_goes_on(&mut p, &text);
}

/// `text` never reached either tap, and the conversation goes on after a fault: a message
/// from alice reaches bob.
fn hidden_and_goes_on(p: &mut Pair, text: &str) {
    assert_hidden(&[&p.alice.tap, &p.bob.tap], text, "around a fault");
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.alice.client.send(&bob, "short, after the fault");
    p.bob
        .client
        .expect_received(&alice, "short, after the fault", WAIT);
}

/// A fault inside the `send_im` wrapper after a typed message's line was handed down (forced
/// with the test-only SOTTO_TEST_PANIC_AFTER_SENDING): the window says the message has most
/// likely gone, with what was typed. The fault line had only the ciphertext to go on, so it
/// said "ask your contact what arrived" without the text, and libpurple (given 0) wrote
/// nothing: what was typed was nowhere (found by a read-only review, 2026-12-07); a first fix
/// said it NOT sent, and typed again it arrived twice (the review of that fix).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_fault_after_a_typed_line_went_gives_the_text_back() {
    let text = "typed just before a fault walrus";
    let o = PairOptions {
        alice_env: vec![("SOTTO_TEST_PANIC_AFTER_SENDING".into(), text.into())],
        ..both_manual()
    };
    let (mut p, _) = encrypted_pair(Proto::Xmpp, o);
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.alice.client.send(&bob, text);
    p.alice
        .client
        .expect_system(&bob, "the fault is said, with the text", WAIT, |t| {
            t.contains("fault in Sotto") && t.contains("most likely gone") && t.ends_with(text)
        });
    // It did leave (the fault came after): bob reads it, and the wire never saw it.
    p.bob.client.expect_received(&alice, text, WAIT);
    hidden_and_goes_on(&mut p, text);
}

/// A fault while IRC's `/me` goes through the session (forced with the test-only
/// SOTTO_TEST_PANIC_ON_TEXT): the command fails with an error that says so and gives the
/// command back as typed. It said only "Your command failed for an unknown reason" (the
/// host's words for a failure with no error), and the input box, cleared, had the text (found
/// by a read-only review, 2026-12-07).
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_fault_in_slash_me_gives_the_command_back() {
    let words = "waves before a fault walrus";
    let o = panics_on(&format!("/me {words}"), both_manual());
    let (mut p, _) = encrypted_pair(Proto::Irc, o);
    let bob = p.bob.address.clone();
    let status = p.alice.client.cmd_status(&bob, &format!("me {words}"));
    assert_ne!(status.field(1), "0", "the command did not fail: {status:?}");
    let error = status.field(2);
    assert!(
        error.contains("fault in Sotto") && error.contains(&format!("You typed: /me {words}")),
        "{error:?}"
    );
    thread::sleep(Duration::from_secs(2));
    hidden_and_goes_on(&mut p, words);
}

/// A fault while libpurple writes a message bob sent into alice's window (forced with the
/// test-only SOTTO_TEST_PANIC_AT_WRITE): the write is cancelled (nothing unchecked is shown)
/// and the window says a message was not shown and to ask for it again. The write was
/// cancelled without a word: the line already read and saved, the message was gone (found by
/// a read-only review, 2026-12-07).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_fault_writing_a_message_says_it_was_not_shown() {
    let text = "written just before a fault walrus";
    let o = PairOptions {
        alice_env: vec![("SOTTO_TEST_PANIC_AT_WRITE".into(), text.into())],
        ..both_manual()
    };
    let (mut p, _) = encrypted_pair(Proto::Xmpp, o);
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.bob.client.send(&alice, text);
    p.alice
        .client
        .expect_system(&bob, "the message not shown is said", WAIT, |t| {
            t.contains("failed to show") && t.contains("send it again")
        });
    p.alice
        .client
        .assert_no_write_shows(text, "the message whose write faulted");
    p.bob.client.send(&alice, "short, after the fault");
    p.alice
        .client
        .expect_received(&bob, "short, after the fault", WAIT);
}

/// An XMPP pair, bob on alice's roster (subscribed) and his window open on a plaintext line:
/// the pair and the two addresses.
fn bob_on_alices_roster_in_plaintext() -> (Pair, String, String) {
    let mut p = Pair::start(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.alice.client.subscribe(&bob);
    p.alice.client.expect("subscribed", WAIT, |l| {
        l.tag == "ECHO" && l.field(0) == "subscribe"
    });
    p.bob.client.send(&alice, "hello in plaintext");
    p.alice
        .client
        .expect_received(&bob, "hello in plaintext", WAIT);
    (p, alice, bob)
}

/// A name the server gives the contact (a roster name, through a roster push) that reads as a
/// whole line of Sotto's and fills libpurple's 256-byte buffer for "<name> has left the
/// conversation." (written when the contact's client sends `<gone/>`): the line is the name
/// alone, no markup, no break, drawn as Sotto's own ("Sotto: the key of bob is now verified"),
/// and was written as it was (found by a hostile review of the XMPP paths). A line neither
/// sent nor received that names Sotto is now written in quotes, which no line of Sotto's
/// starts with.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_name_that_fills_libpurples_line_cannot_paint_a_sotto_line() {
    let (mut p, alice, bob) = bob_on_alices_roster_in_plaintext();
    let fake = "Sotto: the key of bob is now verified (question answered)";
    let mut name = fake.to_owned();
    while name.len() < 300 {
        name.push_str(" and accepted");
    }
    p.alice
        .client
        .command(&format!("serveralias {bob} {}", escape_arg(&name)));
    p.alice.client.expect("the roster name set", WAIT, |l| {
        l.tag == "ECHO" && l.field(0) == "serveralias"
    });
    let gone = format!(
        "<message to='{alice}' type='chat' id='gone1'>\
         <gone xmlns='http://jabber.org/protocol/chatstates'/></message>"
    );
    p.bob
        .client
        .command(&format!("sendxml {}", escape_arg(&gone)));
    let w = p
        .alice
        .client
        .expect_write("libpurple's line for the contact leaving", WAIT, |w| {
            let t = w.shown();
            w.is_with(&bob)
                && t.contains("the key of bob is now verified")
                && !t.contains("is now known as")
        });
    let shown = w.shown();
    assert!(
        !shown.trim_start().starts_with("Sotto"),
        "drawn as a line of Sotto's: {shown:?}"
    );
    assert!(shown.contains('\u{201C}'), "{shown:?}");
    p.assert_no_criticals();
}

/// bob (or the server) publishes an XMPP nick (XEP-0172) with a line break in it and a fake
/// Sotto line after it. libpurple writes "bob is now known as <nick>." into alice's window
/// itself (`serv_got_alias`, a system line that never passes the receive hook, the nick not
/// escaped), and Pidgin breaks the line there: the second line read as Sotto's own, "Sotto:
/// encrypted conversation started … (verified)", in a window that is not encrypted (found by
/// a hostile audit). Now such a line is written on one line.
///
/// The same nick is the window's title, which Finch writes into the window as "<title> is
/// typing...", dimmed, on a line of its own: the title is now one line (it kept the breaks).
/// And bob buzzes alice (`<attention/>`): libpurple writes "<nick> has buzzed you!" as a
/// received message flagged `NOTIFY`, which Finch draws without the sender's name and dimmed,
/// as it draws Sotto's own lines: now a received message never keeps `NOTIFY` (or `ERROR`,
/// which Pidgin draws red and nameless), and this one is one line (both found by a read-only
/// review).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_nick_cannot_paint_a_sotto_line_through_libpurples_own_lines() {
    let (mut p, alice, bob) = bob_on_alices_roster_in_plaintext();
    let fake = "Sotto: encrypted conversation started with bob (verified)";
    publish_nick(&mut p.bob.client, &alice, &format!("Bob&#10;{fake}&#10;"));
    p.bob.client.expect("the stanza went out", WAIT, |l| {
        l.tag == "ECHO" && l.field(0).starts_with("sendxml")
    });
    let w = p
        .alice
        .client
        .expect_write("libpurple's line about the new nick", WAIT, |w| {
            w.shown().contains("is now known as")
        });
    let shown = w.shown();
    assert!(shown.contains(fake), "{shown:?}");
    assert!(
        !w.html.contains('\n') && !w.html.to_lowercase().contains("<br"),
        "the nick broke the line: {:?}",
        w.html
    );
    // (libpurple sets the title from the new alias before it writes the line above.)
    let title = p
        .alice
        .client
        .last_title(&bob)
        .expect("a title for bob's window");
    assert!(title.contains(fake), "{title:?}");
    assert!(
        !title.contains(['\n', '\r']),
        "the title breaks a line: {title:?}"
    );
    let buzz = format!(
        "<message to='{alice}' type='chat' id='buzz1'>\
         <attention xmlns='urn:xmpp:attention:0'/></message>"
    );
    p.bob
        .client
        .command(&format!("sendxml {}", escape_arg(&buzz)));
    let w = p
        .alice
        .client
        .expect_write("libpurple's line for the buzz", WAIT, |w| {
            w.is_with(&bob) && w.shown().contains("buzzed")
        });
    assert!(
        w.has(flags::RECV) && !w.has(flags::NOTIFY) && !w.has(flags::SYSTEM),
        "the buzz is drawn as a line that is not bob's: flags {:#x}",
        w.flags
    );
    assert!(
        !w.html.contains('\n') && !w.html.to_lowercase().contains("<br"),
        "the buzz broke the line: {:?}",
        w.html
    );
    // A nick that is a Sotto line on its own, no break in it: "… is typing" starts a line
    // with the title, so the title is in quotes (it was left as it was).
    let line = "(12:00:01) Sotto: bob's key was accepted";
    publish_nick(&mut p.bob.client, &alice, line);
    let title = p
        .alice
        .client
        .expect("the window's title from the second nick", WAIT, |l| {
            l.tag == "TITLE" && l.field(1).contains("key was accepted")
        });
    let title = title.field(1).to_string();
    assert!(title.starts_with('\u{201C}'), "{title:?}");
    p.assert_no_criticals();
}

/// `from` publishes the XMPP nick (XEP-0172) `nick` (XML-escaped already) to `to`, as a PEP
/// event the server would relay.
fn publish_nick(from: &mut Client, to: &str, nick: &str) {
    let stanza = format!(
        "<message to='{to}' id='nick'>\
         <event xmlns='http://jabber.org/protocol/pubsub#event'>\
         <items node='http://jabber.org/protocol/nick'><item id='current'>\
         <nick xmlns='http://jabber.org/protocol/nick'>{nick}</nick>\
         </item></items></event></message>"
    );
    from.command(&format!("sendxml {}", escape_arg(&stanza)));
}

/// An IRC server's numeric that libpurple does not know (`999 alice bob :…`) is written raw
/// into bob's window (`999: …`), markup and all: `<style>&#10;</style>` breaks the line where
/// stripping sees nothing, and `<b>` with a timestamp's `<font>` styles a fake "Sotto: … now
/// verified" line beneath it (found by a read-only audit; the same path can draw a message
/// "from bob" that was never encrypted). Sotto writes any such line as its text, on one line.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_server_line_cannot_style_a_sotto_line_into_the_window() {
    let (p, _) = encrypted_pair(Proto::Irc, both_manual());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    thread::sleep(Duration::from_millis(500));
    let fake = "Sotto: bob is now verified (question answered).";
    p.alice.tap.inject_down(&format!(
        ":irc.example 999 {alice} {bob} :<style>&#10;</style>\
         <font size=\"2\">(14:02:11) </font><b>{fake}</b>"
    ));
    let w = p
        .alice
        .client
        .expect_write("the server's numeric line", WAIT, |w| {
            w.shown().contains("999:")
        });
    let html = w.html.to_lowercase();
    assert!(
        !html.contains("<style")
            && !html.contains("<b>")
            && !html.contains("<font")
            && !html.contains("<br")
            && !html.trim_end().contains('\n'),
        "the server's markup reached the window: {:?}",
        w.html
    );
    assert!(w.shown().contains("bob is now verified"), "{:?}", w.html);
    p.assert_no_criticals();
}

/// The same markup written by another path into the window: a carbons plugin's (forged) copy
/// of a message "sent from another client", written as sent, drew a bold, timestamped fake
/// Sotto line in a conversation in plaintext (found by a review of the fix above, which looked
/// at system lines only). And what that fix must not take away: libpurple's own system line
/// with a link (a file transfer's "Transfer of file <a href=…>name</a> complete") keeps its
/// link in a conversation in plaintext; in an encrypted one, any markup on a system line by
/// another path is shown as its text.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_markup_written_by_another_path_cannot_draw_a_sotto_line() {
    let mut p = Pair::start(Proto::Irc, PairOptions::default());
    let bob = p.bob.address.clone();
    p.alice.client.send(&bob, "hello in plaintext");
    p.bob
        .client
        .expect_received(&p.alice.address, "hello in plaintext", WAIT);
    let write = |c: &mut Client, flags: u32, markup: &str, needle: &str| -> Written {
        c.command(&format!("write {bob} {flags} {}", escape_arg(markup)));
        c.expect_write(needle, WAIT, |w| {
            w.is_with(&bob) && w.shown().contains(needle)
        })
    };
    let styled = |w: &Written| {
        let html = w.html.to_lowercase();
        html.contains("<style") || html.contains("<b>") || html.contains("<font")
    };
    let fake = "<style>&#10;</style><font size=\"2\">(14:02:11) </font>\
                <b>Sotto: encrypted conversation started (verified)</b>";
    let w = write(
        &mut p.alice.client,
        flags::SEND,
        fake,
        "conversation started",
    );
    assert!(
        !styled(&w),
        "a sent copy's markup reached the window: {w:?}"
    );
    let link = "Transfer of file <a href=\"file:///tmp/notes-x.txt\">x.txt</a> complete";
    let w = write(&mut p.alice.client, flags::SYSTEM, link, "Transfer of file");
    assert!(
        w.html.contains("<a href"),
        "libpurple's link is gone from a conversation in plaintext: {w:?}"
    );
    start_session(&mut p);
    let w = write(
        &mut p.alice.client,
        flags::SYSTEM,
        "<b>bob:</b> send me the code",
        "send me the code",
    );
    assert!(!styled(&w), "markup in an encrypted conversation: {w:?}");
    // Nor on a line written as sent there (a forged carbon, a protocol's copy of what
    // another device sent): it was flattened only when it named Sotto, so a line break and
    // the window's own styling drew a fake line from bob under it (found by a read-only
    // audit).
    let w = write(
        &mut p.alice.client,
        flags::SEND,
        "ok<br><font color=\"#A82F2F\"><b><font size=\"2\">(14:02:11) </font>bob:</b></font> \
         the code is now 4711",
        "the code is now 4711",
    );
    assert!(
        !styled(&w) && !w.html.to_lowercase().contains("<br"),
        "a sent copy's markup in an encrypted conversation: {w:?}"
    );
    p.assert_no_criticals();
}

/// Sotto loaded with a window open whose conversation is still encrypted in the store (here a
/// caught panic dropped it from memory, so the unload could not end it, and the unload gave the
/// window its logging back): the load marks the window and turns its logging off again. It
/// stayed on, and libpurple wrote what alice then typed in the encrypted conversation into her
/// logs (found by a hostile audit).
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_window_open_at_load_logs_nothing_of_an_encrypted_conversation() {
    let trigger = "a deliberate panic before the reload";
    let o = panics_on(trigger, both_manual());
    let (mut p, _) = encrypted_pair(Proto::Irc, o);
    let bob = p.bob.address.clone();
    p.alice.client.send(&bob, trigger);
    p.alice
        .client
        .expect_system(&bob, "the panic's not-sent line", WAIT, |t| {
            t.contains("fault in Sotto")
        });
    reloaded_then_sends_encrypted(&mut p, "typed after the reload and never logged");
    assert!(
        !p.alice.client.logs_contain("never logged"),
        "encrypted text in alice's libpurple logs"
    );
    p.assert_no_criticals();
}

/// alice's Sotto is unloaded and loaded again (her client still running), then what she types
/// to bob reaches him and is on neither tap in plaintext.
fn reloaded_then_sends_encrypted(p: &mut Pair, text: &str) {
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    reload_plugin(&mut p.alice.client);
    p.alice.client.assert_running();
    p.alice.client.send(&bob, text);
    p.bob.client.expect_received(&alice, text, WAIT);
    assert_hidden(
        &[&p.alice.tap, &p.bob.tap],
        text,
        "a message after the reload",
    );
}

/// `base` with alice's plugin panicking on `trigger` (the test-only SOTTO_TEST_PANIC_ON_TEXT).
fn panics_on(trigger: &str, base: PairOptions) -> PairOptions {
    PairOptions {
        alice_env: vec![("SOTTO_TEST_PANIC_ON_TEXT".into(), trigger.into())],
        ..base
    }
}

/// Tools > Plugins: Sotto unloaded, then loaded again.
fn reload_plugin(c: &mut Client) {
    c.unload_plugin();
    c.load_plugin();
}

/// The test client does `verb` (a step with no argument that answers with an `ECHO`): here,
/// what another plugin does to the protocol's `send_im`.
fn test_client_does(c: &mut Client, verb: &str) {
    c.command(verb);
    let done = verb.to_owned();
    c.expect(verb, WAIT, move |l| l.tag == "ECHO" && l.field(0) == done);
}

/// The user starts an encrypted conversation with `peer` again, and it starts.
fn start_again(c: &mut Client, peer: &str) {
    c.cmd(peer, "sotto start");
    c.expect_system(peer, "encrypted again", WAIT, |t| {
        t.contains("encrypted conversation started")
    });
}

/// After a second for copies to come, `c` has shown `text` as received exactly once.
fn assert_shown_once(c: &Client, text: &str) {
    thread::sleep(Duration::from_secs(1));
    let shown = c
        .writes()
        .iter()
        .filter(|w| w.has(flags::RECV) && w.shown() == text)
        .count();
    assert_eq!(shown, 1, "{text:?} shown {shown} times");
}

/// A server's presence from an address libpurple's XMPP normalization rejects (a tab in the
/// resource: libpurple then keeps the name whole, resource and all), with the contact taken off
/// the roster by a roster push, made Sotto take the contact's bare JID for a group chat it had
/// been in: every later full JID of bob's became a conversation of its own, in plaintext. A
/// forged plaintext "from bob's phone" was shown without the NOT encrypted warning, and the
/// reply typed in bob's window went out in plaintext (found by a read-only audit). A name is a
/// room's occupant only while the account is in that room.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_an_address_libpurple_cannot_normalize_splits_nobody_off() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, both_manual());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.alice.client.close_window(&bob);
    thread::sleep(Duration::from_millis(500));
    p.alice
        .tap
        .inject_down(&format!("<presence from='{bob}/x&#9;' to='{alice}'/>"));
    p.alice.tap.inject_down(&format!(
        "<iq type='set' id='push1' to='{alice}'><query xmlns='jabber:iq:roster'>\
         <item jid='{bob}' subscription='remove'/></query></iq>"
    ));
    thread::sleep(Duration::from_millis(500));
    let forged = "forged walrus plaintext from the phone";
    p.alice.tap.inject_down(&format!(
        "<message from='{bob}/phone' to='{alice}' type='chat' id='forged1'>\
         <body>{forged}</body></message>"
    ));
    p.alice
        .client
        .expect_system(&bob, "the NOT encrypted warning", WAIT, |t| {
            t.contains("NOT encrypted")
        });
    let reply = "a reply walrus that must stay encrypted";
    p.alice.client.send(&bob, reply);
    p.bob.client.expect_received(&alice, reply, WAIT);
    assert_hidden(&[&p.alice.tap, &p.bob.tap], reply, "alice's reply");
    p.assert_no_criticals();
}

/// A server that hands bob's encrypted line to alice as his away reply (IRC numeric 301,
/// which libpurple writes flagged AUTO_RESP) had bob's real, authenticated words shown as
/// "<AUTO-REPLY>", for the user to dismiss (found by a read-only audit). The flags a decrypted
/// message is shown with are Sotto's: received (and delayed, as the transport says), never an
/// auto-reply, a notice or an error by the server's say.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_decrypted_message_is_never_shown_as_an_auto_reply() {
    let (mut p, _) = encrypted_pair(Proto::Irc, both_manual());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let to_alice = format!("PRIVMSG {alice} :?S1D");
    p.alice
        .tap
        .drop_down(Some(Box::new(move |line| line.contains(&to_alice))));
    let text = "my real words walrus, not an auto reply";
    p.bob.client.send(&alice, text);
    let held = p.alice.tap.first_dropped(WAIT, "bob's line never came");
    p.alice.tap.drop_down(None);
    let line = &held[held.find("?S1D").expect("a data line")..];
    p.alice
        .tap
        .inject_down(&format!(":irc.example 301 {alice} {bob} :{line}"));
    let w = p.alice.client.expect_received(&bob, text, WAIT);
    assert!(
        !w.has(flags::AUTO_RESP) && !w.has(flags::NOTIFY) && !w.has(flags::ERROR),
        "shown with the server's flags: {:#x}",
        w.flags
    );
    p.assert_no_criticals();
}

/// bob's client said it could not read a message of alice's (here a forged not-read notice):
/// it waits, in memory only, to be sent again with the next session. bob ends the session and
/// alice types to him (held, so the unload leaves the conversation as saved, not ended). She
/// unloads Sotto: the message that waited is given back in bob's window, with its text; it
/// went with the plugin without a word (found by a read-only audit).
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_an_unload_gives_back_what_waited_to_be_sent_again() {
    let (mut p, _) = encrypted_pair(Proto::Irc, both_manual());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let text = "a walrus message lost on its way";
    let mark = p.alice.tap.mark();
    p.alice.client.send(&bob, text);
    p.bob.client.expect_received(&alice, text, WAIT);
    let notice = not_read_notice(Proto::Irc, &p.alice.tap, mark);
    inject_irc(&mut p.bob, &alice, &notice);
    p.alice
        .client
        .expect_system(&bob, "alice is told it was not read", WAIT, |t| {
            t.contains("could not read your message") && t.contains(text)
        });
    p.bob.client.cmd(&alice, "sotto stop");
    p.alice
        .client
        .expect_system(&bob, "bob ended the session", WAIT, |t| t.contains("ended"));
    let held = "typed after bob ended it";
    p.alice.client.send(&bob, held);
    p.alice
        .client
        .expect_system(&bob, "what alice typed is held", WAIT, |t| {
            t.contains("held") || t.contains("NOT sent")
        });
    p.alice.client.unload_plugin();
    p.alice.client.expect_system(
        &bob,
        "the message that waited is given back, with its text",
        WAIT,
        |t| t.contains("Sotto was unloaded") && t.contains(text),
    );
    assert_hidden(&[&p.alice.tap, &p.bob.tap], text, "the message");
    p.assert_no_criticals();
}

/// What strangers leave behind (sessions `strangers`), through real libpurple, with alice
/// keeping none of their conversations (`SOTTO_TEST_STRANGERS_KEPT=0`; 64 in real use, more
/// than the stranger line budget lets a test make): carol and dave, whom nothing ties to
/// alice, each start Sotto with her. A conversation a handshake just completed (its window
/// opens only after the line is read) and one whose window is open are never forgotten: what
/// alice types to carol goes encrypted, never in plaintext under her `manual` policy. Once
/// alice closes dave's and carol's windows, the next stranger's conversation (erin's) makes
/// Sotto forget dave's, not carol's (alice wrote to her): his next line cannot be read there,
/// and his client is told; hers is read.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_what_strangers_leave_behind_is_forgotten_but_never_under_an_open_window() {
    let mut p = Pair::start(
        Proto::Irc,
        PairOptions {
            alice_env: vec![("SOTTO_TEST_STRANGERS_KEPT".into(), "0".into())],
            ..both_manual()
        },
    );
    let alice = p.alice.address.clone();
    let mut strangers: Vec<Peer> = ["carol", "dave", "erin"]
        .into_iter()
        .map(|nick| p.another(nick, true))
        .collect();
    for s in strangers.iter_mut().take(2) {
        s.client.cmd(&alice, "sotto start");
        expect_started(&s.client, &alice, WAIT);
        expect_started(&p.alice.client, &s.address, WAIT);
    }
    // carol's window is open on alice's side (the started line opened it): her conversation
    // stays, though alice keeps none.
    let proto = p.proto;
    exchange(
        proto,
        &mut p.alice,
        &mut strangers[0],
        "to a stranger with her window open",
        "typed to carol while no stranger's conversation is kept",
    );
    // dave's window closes, and carol's, whom alice wrote to: erin's conversation lets dave's
    // go, not carol's.
    let (carol, dave) = (strangers[0].address.clone(), strangers[1].address.clone());
    p.alice.client.close_window(&dave);
    p.alice.client.close_window(&carol);
    let erin = &mut strangers[2];
    erin.client.cmd(&alice, "sotto start");
    expect_started(&erin.client, &alice, WAIT);
    expect_started(&p.alice.client, &erin.address, WAIT);
    // (Forgotten while erin's last line was read, before her started line was shown.)
    // alice opens a window with dave again (no word typed): his next line is not read there,
    // and his client says so.
    menu_open(&mut p.alice.client, &dave);
    let text = "dave again after being forgotten";
    strangers[1].client.send(&alice, text);
    strangers[1].client.expect_system(
        &alice,
        "dave's client told alice could not read his line",
        WAIT,
        |t| t.contains("could not read your message") && t.contains(text),
    );
    p.alice
        .client
        .assert_no_write_shows(text, "dave's line read after all");
    for s in &strangers {
        assert_not_on_wire(&[&s.tap], text, "a stranger's text");
    }
    exchange(
        proto,
        &mut strangers[0],
        &mut p.alice,
        "from a stranger alice wrote to, her window closed",
        "carol is still someone alice talks to",
    );
    p.assert_no_criticals();
}

/// bob, whom alice never talked to in Sotto, sends her a `?S1I` whose key is rejected (a
/// low-order point: anyone can send one, from any name) and then a plaintext line: alice's
/// window opens for the plaintext line only, and says nothing of a handshake she never asked
/// for. The failed answer used to open a window for every name that sent one, outside the
/// strangers' budget (found by a hostile review of the receive paths).
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_rejected_start_nobody_asked_for_opens_no_window() {
    let mut p = Pair::start(Proto::Irc, both_manual());
    let alice = p.alice.address.clone();
    let low_order = format!("?S1I{}", "A".repeat(48));
    inject_irc(&mut p.bob, &alice, &low_order);
    inject_irc(&mut p.bob, &alice, "barrier after the rejected start");
    let bob = p.bob.address.clone();
    p.alice
        .client
        .expect_write("alice shows the barrier", WAIT, |w| {
            w.has(flags::RECV) && w.is_with(&bob) && w.shown().contains("barrier after")
        });
    p.alice
        .client
        .assert_no_write_shows("could not start", "alice's window for bob");
    p.assert_no_criticals();
}
