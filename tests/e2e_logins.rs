//! XMPP citizenship (issue 9): Sotto's stanzas tell servers and other clients what they are,
//! and a raw Sotto line that reaches a window by another path than Sotto's own receive path
//! (a carbons plugin's copy, an echo, history) is never shown. Real libpurple and prosody.
//! Needs build/sotto.so: run with `make e2e` (see tests/README.md).

mod support;

use support::*;

/// Every `<message>` alice sends with a Sotto body carries XEP-0280 `<private/>` (no carbon
/// copies to her other clients, which could not read it), XEP-0334 `<no-permanent-store/>` (not
/// archived) and XEP-0380 `<encryption/>` naming Sotto.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_sotto_stanzas_carry_carbon_archive_and_encryption_hints() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    {
        let Pair { alice, bob, .. } = &mut p;
        exchange(Proto::Xmpp, alice, bob, "hinted", "a hinted walrus");
    }
    let up = String::from_utf8_lossy(&p.alice.tap.bytes(Dir::Up)).into_owned();
    let (mut checked, mut readable) = (0, 0);
    for stanza in up.split("<message").skip(1) {
        let stanza = stanza.split("</message>").next().unwrap_or("");
        if !stanza.contains("<body>?S1") {
            continue;
        }
        checked += 1;
        for (what, needle) in [
            ("carbons private", "<private xmlns='urn:xmpp:carbons:2'/>"),
            (
                "no-permanent-store",
                "<no-permanent-store xmlns='urn:xmpp:hints'/>",
            ),
        ] {
            assert!(
                stanza.contains(needle),
                "a Sotto stanza without {what}: {stanza}"
            );
        }
        // XEP-0380 clients show "encrypted with Sotto" instead of the body: every base64 line
        // says so; the invitation (`?S1Q`) and error reports (`?S1E`), written for people, do
        // not, or a client without Sotto would hide them.
        let eme = "<encryption xmlns='urn:xmpp:eme:0' namespace='urn:sotto:1' name='Sotto'/>";
        let for_people = stanza.contains("<body>?S1Q") || stanza.contains("<body>?S1E");
        if for_people {
            readable += 1;
        }
        assert_eq!(
            stanza.contains(eme),
            !for_people,
            "EME on a Sotto stanza: {stanza}"
        );
    }
    assert!(checked >= 3, "only {checked} Sotto stanzas seen");
    assert!(readable >= 1, "no ?S1Q or ?S1E stanza seen");
    p.assert_no_criticals();
}

/// Another path writes a raw Sotto line into alice's window (as the carbons plugin writes a copy
/// of a message sent from another of her clients, or a protocol echoes what was sent): the
/// window shows a short note, never the line.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_raw_sotto_line_written_by_another_path_is_never_shown() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let bob = p.bob.address.clone();
    let raw = "?S1DAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    // Also as services write one of ours again with words in front (purple-discord's pin mark
    // and "EDIT: ", skypeweb's "Edited: "): it used to be shown raw, as plaintext sent from
    // another client of alice's.
    let (pinned, edited) = (format!("\u{1f4cc} {raw}"), format!("Edited: {raw}"));
    for (line, flags, what) in [
        (raw, flags::SEND, "sent from another client"),
        (raw, flags::RECV, "read elsewhere"),
        (pinned.as_str(), flags::SEND, "pinned"),
        (edited.as_str(), flags::SEND, "edited"),
    ] {
        p.alice
            .client
            .command(&format!("write {bob} {flags} {}", escape_arg(line)));
        let w = p.alice.client.expect_write(
            &format!("alice's window shows a note for a line {what}"),
            WAIT,
            |w| w.is_with(&bob) && w.shown().contains("Sotto-encrypted message"),
        );
        assert!(!w.shown().contains("?S1"), "{w:?}");
    }
    // A plugin's own system line quoting a message (purple-discord's reply quote) with a
    // line inside: written with the line masked, the words kept.
    let quote = format!("> bob: {raw} what was that?");
    p.alice.client.command(&format!(
        "write {bob} {} {}",
        flags::SYSTEM,
        escape_arg(&quote)
    ));
    let w = p.alice.client.expect_write("the quote, masked", WAIT, |w| {
        w.is_with(&bob) && w.shown().contains("what was that?")
    });
    assert!(w.shown().contains("[encrypted line]"), "{w:?}");
    assert!(
        !p.alice
            .client
            .writes()
            .iter()
            .any(|w| w.shown().contains("?S1D")),
        "a raw Sotto line was shown"
    );
    p.assert_no_criticals();
}

/// bob's words, encrypted, end with a Sotto line he pasted ("did you get this? ?S1D…"): alice
/// reads them whole, and bob's own window shows them as sent. The window's guard against
/// services that write a line again with words in front hid both (the words were lost: their
/// message key was used).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_encrypted_words_that_end_with_a_sotto_line_are_shown() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let words = format!("did you get this? ?S1D{}", "Qx".repeat(30));
    p.bob.client.send(&alice, &words);
    p.alice.client.expect_received(&bob, &words, WAIT);
    p.bob.client.expect_sent(&alice, &words, WAIT);
    assert_hidden(
        &[&p.alice.tap, &p.bob.tap],
        "did you get this",
        "bob's words",
    );
    p.assert_no_criticals();
}

/// Another path writes plaintext as sent into alice's encrypted window: the XMPP carbons
/// plugin's copy of what another client of hers (without Sotto) sent bob, written with `SEND`
/// alone, or a forged carbon. A warning comes first: it looked like what alice sent over the
/// session. What alice types herself, and what Sotto shows as sent, gets none.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_plaintext_written_as_ours_by_another_path_is_flagged() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let bob = p.bob.address.clone();
    exchange(
        Proto::Xmpp,
        &mut p.alice,
        &mut p.bob,
        "typed over the session",
        "typed by alice over the session",
    );
    let copy = "sent by alice's phone in plaintext";
    p.alice
        .client
        .command(&format!("write {bob} {} {}", flags::SEND, escape_arg(copy)));
    p.alice.client.expect_sent(&bob, copy, WAIT);
    let shown: Vec<String> = p
        .alice
        .client
        .writes()
        .iter()
        .filter(|w| w.is_with(&bob))
        .map(|w| w.shown())
        .collect();
    let warned: Vec<usize> = (0..shown.len())
        .filter(|&i| shown[i].contains("was NOT encrypted"))
        .collect();
    let at = shown.iter().position(|t| t == copy);
    assert_eq!(warned.len(), 1, "{shown:?}");
    assert!(
        Some(warned[0]) < at,
        "the warning does not come first: {shown:?}"
    );
    p.assert_no_criticals();
}

fn policy(p: &str) -> Vec<(String, String)> {
    vec![("/plugins/core/sotto/policy".to_string(), p.to_string())]
}

/// alice and bob over XMPP, both `manual`, after alice's `/sotto start` (alice says started);
/// the `manual` preference, for another login.
fn started_under_manual() -> (Pair, Vec<(String, String)>) {
    let manual = policy("manual");
    let mut p = Pair::start(
        Proto::Xmpp,
        PairOptions {
            alice_prefs: manual.clone(),
            bob_prefs: manual.clone(),
            ..Default::default()
        },
    );
    let bob = p.bob.address.clone();
    p.alice.client.cmd(&bob, "sotto start");
    expect_started(&p.alice.client, &bob, WAIT);
    (p, manual)
}

/// alice and bob over XMPP under `manual`, encrypted; bob logs in a second time ("desktop")
/// and writes: alice is told about its key, which she has not accepted, and the second login
/// has its session. Returns the pair, the second login and its key's fingerprint.
fn a_second_login() -> (Pair, Peer, String) {
    let (p, manual) = started_under_manual();
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let mut desktop = p.another_login("bob", "desktop", &manual);
    desktop.client.send(&alice, "hello from a second login");
    let notice = p.alice.client.expect_system(
        &bob,
        "alice is told about the second login's key",
        WAIT,
        |t| t.contains("is also logged in at"),
    );
    let fingerprint = fingerprint_to_accept(&notice.shown());
    expect_started(&desktop.client, &alice, WAIT);
    (p, desktop, fingerprint)
}

/// alice and bob over XMPP under `manual`, encrypted; bob logs in a second time ("desktop"),
/// alice accepts its key from the dialog, and both of bob's logins read her next message.
/// Returns the pair, the second login and its key's fingerprint.
fn a_second_login_accepted() -> (Pair, Peer, String) {
    let (mut p, desktop, fingerprint) = a_second_login();
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let dialog = expect_dialog(&mut p.alice.client, "another client");
    dialog.read();
    p.alice
        .client
        .answer(&dialog.n, &dialog.item("accept this client"));
    let both = "both of bob's logins read this";
    p.alice.client.send(&bob, both);
    p.bob.client.expect_received(&alice, both, WAIT);
    desktop.client.expect_received(&alice, both, WAIT);
    (p, desktop, fingerprint)
}

/// Whether any window of `c` says something "could not" be done.
fn says_could_not(c: &Client) -> bool {
    c.writes()
        .iter()
        .any(|w| w.shown().to_lowercase().contains("could not"))
}

/// How many "encrypted conversation started" lines `c` shows for `peer`.
fn started_lines(c: &Client, peer: &str) -> usize {
    c.writes()
        .iter()
        .filter(|w| {
            w.has(flags::SYSTEM) && w.is_with(peer) && w.shown().to_lowercase().contains("started")
        })
        .count()
}

/// The fingerprint a notice tells the user to accept (`/sotto accept <fingerprint>`).
fn fingerprint_to_accept(shown: &str) -> String {
    let fingerprint: String = shown
        .split("/sotto accept ")
        .nth(1)
        .expect("the notice names the command")
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || *c == ' ')
        .collect();
    fingerprint.trim().to_owned()
}

/// No window of `clients` shows a raw Sotto line, "could not" or "failed".
fn assert_no_failure_shown(clients: &[&Client]) {
    for c in clients {
        for w in c.writes() {
            let l = w.shown().to_lowercase();
            assert!(
                !w.shown().contains("?S1") && !l.contains("could not") && !l.contains("failed"),
                "[{}] {w:?}",
                c.cfg.name
            );
        }
    }
}

/// Every file under `dir`, read as text (prosody's data: accounts, offline store, archive).
fn all_text_under(dir: &std::path::Path) -> String {
    let mut out = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
    }
    out
}

/// Wait until `tap` carried `needle` upwards (the client sent it), or fail after `WAIT`.
fn expect_up(tap: &Tap, needle: &str, what: &str) {
    let deadline = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < deadline {
        if String::from_utf8_lossy(&tap.bytes(Dir::Up)).contains(needle) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{what}: {needle:?} never sent");
}

/// The `to` of every `<message>` the tap carried upwards whose body is a Sotto data line or
/// fragment (from `since`).
fn data_stanza_targets(tap: &Tap, since: (usize, usize)) -> Vec<String> {
    stanza_targets(tap, since, &["?S1D", "?S1P"])
}

/// The `to` of every message stanza sent through `tap` since `since` whose body begins with
/// one of `kinds`.
fn stanza_targets(tap: &Tap, since: (usize, usize), kinds: &[&str]) -> Vec<String> {
    let up = String::from_utf8_lossy(&tap.since(since, Dir::Up)).into_owned();
    up.split("<message")
        .skip(1)
        .filter(|s| {
            let body = s.split("</message>").next().unwrap_or("");
            kinds.iter().any(|k| body.contains(&format!("<body>{k}")))
        })
        .map(|s| {
            let to = s.split("to='").nth(1).or_else(|| s.split("to=\"").nth(1));
            to.and_then(|t| t.split(['\'', '"']).next())
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

/// bob is logged in twice (two machines, two Sotto stores, equal priorities: the server gives
/// a bare-JID message to both), everyone runs the carbons plugin, the server keeps carbons, an
/// archive and offline storage. alice starts: both of bob's clients answer; the first answered
/// holds the conversation's session, and the other gets a session of its own right after, its
/// key shown to alice and trusted by nobody. Until alice accepts that key, the other client
/// gets nothing she types, and what it writes is shown as from an unaccepted key, never as
/// bob's words. Once accepted, each of 8 typed messages is read on both of bob's clients, one
/// data line addressed to each client's full JID, none to the bare JID, no raw line, no "could
/// not be read" anywhere. Both clients answer and alice reads both. The archive holds no Sotto
/// line (it does hold plaintext: it is on). The session's client signs off: the server hands
/// its copy of alice's next message to the other client, which drops it silently and reads its
/// own. Then both are away; what alice types waits offline and is read by the session's client
/// when it comes back, with no new handshake and no notice about the other client's copy.
fn two_logins(alice_policy: &str) {
    let manual = policy("manual");
    let mut p = Pair::start(
        Proto::Xmpp,
        PairOptions {
            carbons: true,
            alice_prefs: policy(alice_policy),
            bob_prefs: manual.clone(),
            ..Default::default()
        },
    );
    let mut desktop = p.another_login("bob", "desktop", &manual);
    for (name, tap) in [
        ("alice", &p.alice.tap),
        ("bob", &p.bob.tap),
        ("bob-desktop", &desktop.tap),
    ] {
        expect_up(
            tap,
            "<enable xmlns='urn:xmpp:carbons:2'/>",
            &format!("{name}'s carbons plugin enables carbons"),
        );
    }
    let bob = p.bob.address.clone();
    let alice = p.alice.address.clone();

    // Plaintext before any session: the archive is on and keeps it.
    let plain = "plain hello before encryption";
    p.bob.client.send(&alice, plain);
    p.alice.client.expect_received(&bob, plain, WAIT);

    p.alice.client.cmd(&bob, "sotto start");
    expect_started(&p.alice.client, &bob, WAIT);
    let notice = p.alice.client.expect_system(
        &bob,
        "alice is told about bob's other client and its key",
        WAIT,
        |t| t.contains("is also logged in at") && t.contains("not accepted"),
    );
    let shown = notice.shown();
    let fingerprint = fingerprint_to_accept(&shown);
    assert_eq!(fingerprint.replace(' ', "").len(), 40, "{shown}");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let on_laptop = started_lines(&p.bob.client, &alice);
    let on_desktop = started_lines(&desktop.client, &alice);
    assert_eq!(
        (on_laptop, on_desktop, started_lines(&p.alice.client, &bob)),
        (1, 1, 1),
        "each of bob's clients has one session; alice says started once"
    );
    let Pair {
        alice: a,
        bob: laptop,
        server,
        ..
    } = &mut p;
    // The other client is the one the notice names.
    let desktop_jid = desktop.client.cfg.username.clone();
    let (winner, loser) = if shown.contains(&desktop_jid) {
        (laptop, &mut desktop)
    } else {
        (&mut desktop, laptop)
    };
    let winner_jid = winner.client.cfg.username.clone();
    let loser_jid = loser.client.cfg.username.clone();
    assert!(shown.contains(&loser_jid), "{shown} names {loser_jid}");

    // Before the key is accepted: nothing typed goes to the other client, and what it writes
    // is not shown as bob's words.
    let before = "typed before accepting";
    a.client.send(&bob, before);
    winner.client.expect_received(&alice, before, WAIT);
    let unaccepted = "words under an unaccepted key";
    loser.client.send(&alice, unaccepted);
    a.client.expect_system(
        &bob,
        "alice sees the unaccepted client's words marked as such",
        WAIT,
        |t| t.contains("have not accepted") && t.contains(unaccepted),
    );
    assert!(
        !a.client
            .writes()
            .iter()
            .any(|w| w.has(flags::RECV) && w.shown().contains(unaccepted)),
        "shown as bob's words"
    );
    assert!(
        !loser
            .client
            .writes()
            .iter()
            .any(|w| w.shown().contains(before)),
        "the other client read a message before its key was accepted"
    );

    a.client.cmd(&bob, &format!("sotto accept {fingerprint}"));
    a.client
        .expect_system(&bob, "alice accepted the other client's key", WAIT, |t| {
            t.contains("key accepted") && t.contains(&loser_jid)
        });

    let mark = a.tap.mark();
    let typed: Vec<String> = (1..=8).map(|i| format!("walrus {i} for bob")).collect();
    for t in &typed {
        a.client.send(&bob, t);
        winner.client.expect_received(&alice, t, WAIT);
        loser.client.expect_received(&alice, t, WAIT);
        a.client.expect_sent(&bob, t, WAIT);
    }
    for (i, c) in [&mut *winner, &mut *loser].into_iter().enumerate() {
        let t = format!("bob answers from client {i}");
        c.client.send(&alice, &t);
        a.client.expect_received(&bob, &t, WAIT);
    }
    let targets = data_stanza_targets(&a.tap, mark);
    let to_winner = targets.iter().filter(|t| **t == winner_jid).count();
    let to_loser = targets.iter().filter(|t| **t == loser_jid).count();
    assert!(
        to_winner >= typed.len() && to_loser >= typed.len(),
        "one line per client per message: {targets:?}"
    );
    assert_eq!(
        to_winner + to_loser,
        targets.len(),
        "a data line went elsewhere than bob's two clients: {targets:?}"
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    for t in &typed {
        assert_hidden(&[&a.tap, &winner.tap, &loser.tap], t, "a typed message");
    }
    for c in [&a.client, &winner.client, &loser.client] {
        for w in c.writes() {
            let l = w.shown().to_lowercase();
            assert!(
                !w.shown().contains("?S1")
                    && !l.contains("could not")
                    && !l.contains("failed")
                    && !l.contains("sotto-encrypted message"),
                "[{}] {w:?}",
                c.cfg.name
            );
        }
    }

    // The archive is on (it kept the plaintext) and holds no Sotto line.
    let Server::Xmpp(prosody) = server else {
        unreachable!("an XMPP pair")
    };
    let data = all_text_under(&prosody.dir.path().join("data"));
    assert!(
        data.contains(plain),
        "the archive kept no plaintext: is it on?"
    );
    assert!(!data.contains("?S1"), "a Sotto line was archived or stored");

    // The session's client signs off while the other stays: the server hands it the copy made
    // for the client that left; it drops that one silently and reads its own.
    winner.client.quit();
    std::thread::sleep(std::time::Duration::from_secs(1));
    let gone = "a walrus while one client is gone";
    a.client.send(&bob, gone);
    a.client.expect_sent(&bob, gone, WAIT);
    loser.client.expect_received(&alice, gone, WAIT);
    std::thread::sleep(std::time::Duration::from_secs(2));
    for c in [&a.client, &loser.client] {
        assert!(
            !c.writes()
                .iter()
                .any(|w| w.shown().to_lowercase().contains("could not")),
            "[{}] a notice about the other client's copy",
            c.cfg.name
        );
    }
    assert_hidden(&[&a.tap, &loser.tap], gone, "the message");

    // Both of bob's clients are away; alice's next message waits offline and is read by the
    // session's client when it is back (no new handshake, nothing said about the other copy).
    loser.client.quit();
    std::thread::sleep(std::time::Duration::from_secs(1));
    let away = "while both logins were away";
    a.client.send(&bob, away);
    a.client.expect_sent(&bob, away, WAIT);
    std::thread::sleep(std::time::Duration::from_secs(1));
    winner.client.restart();
    winner.client.expect_online();
    winner.client.expect_received(&alice, away, WAIT);
    std::thread::sleep(std::time::Duration::from_secs(2));
    // (`writes` holds what the restarted process printed.)
    assert_eq!(started_lines(&winner.client, &alice), 0, "a new handshake");
    assert!(
        !says_could_not(&winner.client),
        "the restarted client reported the other client's copy"
    );
    assert!(
        !a.client
            .writes()
            .iter()
            .any(|w| w.shown().to_lowercase().contains("could not")),
        "alice was told a message was not read"
    );
    p.assert_no_criticals();
    desktop.client.assert_no_criticals();
}

#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_two_logins_every_client_reads_under_manual() {
    two_logins("manual");
}

#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_two_logins_every_client_reads_under_opportunistic() {
    two_logins("opportunistic");
}

/// bob's second client signs on later, with a fresh store, and writes to alice in plaintext
/// while alice and bob's first client are encrypted: alice's Sotto asks that client for a
/// session at once (one query, addressed to it), the client's next message is encrypted, alice
/// is told once about its key (a line and a dialog), and after she accepts it in the dialog
/// both of bob's clients read what she types, also after alice's client is killed and restarted (no new handshake).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_late_login_gets_a_session_right_away() {
    let (mut p, manual) = started_under_manual();
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    expect_started(&p.bob.client, &alice, WAIT);
    let first = "before the second login";
    p.alice.client.send(&bob, first);
    p.bob.client.expect_received(&alice, first, WAIT);

    let mut desktop = p.another_login("bob", "desktop", &manual);
    let desktop_jid = desktop.client.cfg.username.clone();
    let plain = "hello from a client that signed on later";
    desktop.client.send(&alice, plain);
    p.alice.client.expect_received(&bob, plain, WAIT);
    let notice = p.alice.client.expect_system(
        &bob,
        "alice is told about the late login's key",
        WAIT,
        |t| t.contains("is also logged in at") && t.contains(&desktop_jid),
    );
    expect_started(&desktop.client, &alice, WAIT);
    let shown = notice.shown();
    let fingerprint = fingerprint_to_accept(&shown);

    // Its next message is encrypted; alice sees it marked as from a key she has not accepted.
    let next = "the late login now writes encrypted";
    desktop.client.send(&alice, next);
    p.alice
        .client
        .expect_system(&bob, "the late login's words, marked", WAIT, |t| {
            t.contains(next) && t.contains("have not accepted")
        });
    assert_hidden(
        &[&desktop.tap, &p.alice.tap],
        next,
        "the late login's message",
    );

    // Pidgin asks in a dialog too, bound to exactly this key: alice accepts there.
    let dialog = expect_dialog(&mut p.alice.client, "another client");
    assert!(
        dialog.text().contains(fingerprint.trim()),
        "the dialog shows the fingerprint: {:?}",
        dialog.text()
    );
    let accept = dialog.item("accept this client");
    dialog.item("not now");
    dialog.read();
    p.alice.client.answer(&dialog.n, &accept);
    p.alice
        .client
        .expect_system(&bob, "alice accepted the key", WAIT, |t| {
            t.contains("key accepted")
        });
    let both = "now for both of bob's clients";
    p.alice.client.send(&bob, both);
    p.bob.client.expect_received(&alice, both, WAIT);
    desktop.client.expect_received(&alice, both, WAIT);
    assert_hidden(
        &[&desktop.tap, &p.alice.tap, &p.bob.tap],
        both,
        "alice's message",
    );
    std::thread::sleep(std::time::Duration::from_secs(1));

    // One notice about the new client; no raw line, no failure anywhere.
    let about_it = p
        .alice
        .client
        .writes()
        .iter()
        .filter(|w| w.has(flags::SYSTEM) && w.shown().contains("is also logged in at"))
        .count();
    assert_eq!(about_it, 1, "notices about the late login");
    assert_no_failure_shown(&[&p.alice.client, &p.bob.client, &desktop.client]);
    // alice's client is killed and restarted: both sessions come back from her store, the
    // next message is read on both of bob's clients with no new handshake anywhere.
    p.alice.client.restart();
    p.alice.client.expect_online();
    let after = "after alice's client was killed";
    p.alice.client.send(&bob, after);
    p.bob.client.expect_received(&alice, after, WAIT);
    desktop.client.expect_received(&alice, after, WAIT);
    assert_hidden(
        &[&desktop.tap, &p.alice.tap, &p.bob.tap],
        after,
        "alice's message after her restart",
    );
    for (c, n) in [(&p.bob.client, 1), (&desktop.client, 1)] {
        assert_eq!(
            started_lines(c, &alice),
            n,
            "[{}] a new handshake",
            c.cfg.name
        );
    }
    assert_eq!(
        started_lines(&p.alice.client, &bob),
        0,
        "alice started again"
    );
    std::thread::sleep(std::time::Duration::from_secs(1));

    p.assert_no_criticals();
    desktop.client.assert_no_criticals();
}

/// bob's late login is accepted and reads; alice then forgets its key in Tools > Sotto > Known
/// fingerprints (a client she should not have accepted). What she types from then on reaches
/// bob's first login only (never the forgotten key's client, nor its tap), the window says
/// so and how to undo it, and `/sotto accept` with the key lets that client read again.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_forgetting_another_clients_key_stops_what_reaches_it() {
    let (mut p, desktop, fingerprint) = a_second_login_accepted();
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());

    let known = open_known(&mut p.alice.client);
    known_do(&mut p.alice.client, &known, &fingerprint, "Forget this key");
    p.alice
        .client
        .expect_system(&bob, "alice: that client gets nothing now", WAIT, |t| {
            t.to_lowercase().contains("another client of") && t.contains("/sotto accept")
        });
    let only_first = "for bob's first login only";
    p.alice.client.send(&bob, only_first);
    p.bob.client.expect_received(&alice, only_first, WAIT);
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(
        !desktop
            .client
            .writes()
            .iter()
            .any(|w| w.shown().contains(only_first)),
        "the client whose key alice forgot shows what she typed after"
    );
    assert_hidden(
        &[&desktop.tap, &p.alice.tap, &p.bob.tap],
        only_first,
        "alice's message after forgetting a key",
    );

    p.alice
        .client
        .cmd(&bob, &format!("sotto accept {fingerprint}"));
    p.alice
        .client
        .expect_system(&bob, "alice accepted the key again", WAIT, |t| {
            t.contains("key accepted")
        });
    let again = "both read again";
    p.alice.client.send(&bob, again);
    p.bob.client.expect_received(&alice, again, WAIT);
    desktop.client.expect_received(&alice, again, WAIT);
    p.assert_no_criticals();
    desktop.client.assert_no_criticals();
}

/// A dialog about another client's key that goes stale: bob's late login ends its session
/// before alice clicks "Accept this client's key". Nothing is accepted, alice is told the client
/// is gone, and no false "key changed" warning about bob's own accepted key follows (it did: the
/// stale key was compared with the main session's and a key-change dialog opened).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_stale_dialog_about_another_client_warns_of_nothing() {
    let (mut p, manual) = started_under_manual();
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let mut desktop = p.another_login("bob", "desktop", &manual);
    desktop.client.send(&alice, "hello from a second login");
    expect_started(&desktop.client, &alice, WAIT);
    let dialog = expect_dialog(&mut p.alice.client, "another client");
    let accept = dialog.item("accept this client");
    desktop.client.cmd(&alice, "sotto stop");
    p.alice
        .client
        .expect_system(&bob, "alice: the other client ended", WAIT, |t| {
            t.contains(&desktop.client.cfg.username) && t.contains("ended")
        });
    dialog.read();
    p.alice.client.answer(&dialog.n, &accept);
    let refused = p
        .alice
        .client
        .expect_system(&bob, "alice: nothing accepted", WAIT, |t| {
            t.contains("NOT accepted")
        });
    std::thread::sleep(std::time::Duration::from_secs(1));
    p.alice.client.sync();
    let warnings = p
        .alice
        .client
        .lines()
        .iter()
        .filter(|l| l.tag == "REQUEST" && l.field(2).to_lowercase().contains("key changed"))
        .count();
    assert_eq!(warnings, 0, "a key-change dialog about bob's accepted key");
    assert!(
        refused.shown().contains("any more"),
        "the line says the client is gone: {}",
        refused.shown()
    );
    let after = "still to bob, unchanged";
    p.alice.client.send(&bob, after);
    p.bob.client.expect_received(&alice, after, WAIT);
    p.assert_no_criticals();
    desktop.client.assert_no_criticals();
}

/// What already worked must keep working now that lines for another resource of ours are told
/// apart: bob signs off, alice's message waits offline (addressed to the resource bob had), bob
/// signs on again under a new resource and reads it with no new handshake and no notice
/// anywhere; alice's next lines go to the new resource once bob's client writes from it.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_new_resource_after_a_reconnect_reads_what_waited() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    {
        let Pair {
            alice: a, bob: b, ..
        } = &mut p;
        exchange(Proto::Xmpp, a, b, "before", "a walrus before the reconnect");
        exchange(
            Proto::Xmpp,
            b,
            a,
            "before",
            "bob answers before the reconnect",
        );
    }
    p.bob.client.quit();
    std::thread::sleep(std::time::Duration::from_secs(1));
    let away = "a walrus that waited offline";
    p.alice.client.send(&bob, away);
    p.alice.client.expect_sent(&bob, away, WAIT);
    std::thread::sleep(std::time::Duration::from_secs(1));

    let old = p.bob.client.cfg.username.clone();
    let new = old.replace("/e2e", "/phone");
    assert_ne!(old, new);
    p.bob.client.cfg.username = new.clone();
    p.bob.client.restart();
    let online = p
        .bob
        .client
        .expect("bob signed on under the new resource", WAIT, |l| {
            l.tag == "SIGNED_ON"
        });
    assert!(online.field(0).ends_with("/phone"), "{online:?}");
    p.bob.client.expect_received(&alice, away, WAIT);

    let reply = "bob writes from the new resource";
    p.bob.client.send(&alice, reply);
    p.alice.client.expect_received(&bob, reply, WAIT);
    let mark = p.alice.tap.mark();
    let next = "alice answers the new resource";
    p.alice.client.send(&bob, next);
    p.bob.client.expect_received(&alice, next, WAIT);
    let targets = data_stanza_targets(&p.alice.tap, mark);
    assert!(
        !targets.is_empty() && targets.iter().all(|t| *t == new),
        "alice's lines after the reconnect went to {targets:?}, not {new}"
    );
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(started_lines(&p.bob.client, &alice), 0, "a new handshake");
    assert_no_failure_shown(&[&p.alice.client, &p.bob.client]);
    for t in [away, reply, next] {
        assert_hidden(&[&p.alice.tap, &p.bob.tap], t, "a message");
    }
    p.assert_no_criticals();
}

/// alice's window says what she typed waits for bob's laptop, and no data line left since
/// `mark`.
fn assert_held_for_the_laptop(p: &Pair, mark: (usize, usize)) {
    p.alice.client.expect_system(
        &p.bob.address,
        "alice is told her message waits for bob's laptop",
        WAIT,
        |t| t.contains("held") && t.contains("not seen online"),
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(
        data_stanza_targets(&p.alice.tap, mark).is_empty(),
        "a data line left while the holder was offline"
    );
}

/// An encrypted pair on XMPP where bob is logged in twice, his laptop with Sotto (holding the
/// session: it wrote last) and a phone without it, and alice sees bob's presence. The phone.
fn laptop_and_phone_seen() -> (Pair, Peer) {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    let bob = p.bob.address.clone();
    let phone = p.another_login_with("bob", "phone", &[], false);
    p.alice.client.subscribe(&bob);
    p.bob
        .client
        .expect("bob's laptop allows alice to see it", WAIT, |l| {
            l.tag == "AUTHORIZED"
        });
    {
        let Pair {
            alice: a, bob: b, ..
        } = &mut p;
        exchange(Proto::Xmpp, b, a, "before", "bob writes from his laptop");
    }
    (p, phone)
}

/// bob is logged in twice: his laptop with Sotto (it holds the session) and a phone without
/// it; alice sees bob's presence. The laptop signs off while the phone stays: what alice types
/// is held, with a line saying why, and nothing goes out for the phone (before this was
/// fixed, the server handed the phone the lines addressed to the gone laptop; it cannot read
/// them and said nothing, while alice's window showed them as sent). The laptop signs on
/// again under a new resource: alice's Sotto asks that resource alone, bob's Sotto answers
/// with a handshake, and what was held reaches the laptop, in order.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_what_is_typed_while_the_holder_is_offline_waits_for_it() {
    let (mut p, phone) = laptop_and_phone_seen();
    let bob = p.bob.address.clone();
    std::thread::sleep(std::time::Duration::from_secs(1));
    p.bob.client.quit();
    std::thread::sleep(std::time::Duration::from_secs(2));

    let mark = p.alice.tap.mark();
    let held = ["typed while the laptop is away", "and a second one"];
    for t in held {
        p.alice.client.send(&bob, t);
    }
    assert_held_for_the_laptop(&p, mark);
    phone
        .client
        .assert_no_write_shows("?S1", "the phone (a Sotto line)");

    the_laptop_back_reads_what_was_held(&mut p, &phone, mark, &held);
    phone
        .client
        .assert_no_write_shows("?S1", "the phone (a Sotto line)");
    p.assert_no_criticals();
}

/// bob's laptop (holding the session) asks alice a question and signs off before she answers;
/// his phone, without Sotto, stays. Her answer is not sent (sealed in the session, it went to
/// the laptop's gone resource, which the server hands to the phone, and her run waited for a
/// result that could not come: found by a hostile review of several logins, 2026-12-06): her
/// window says so, and nothing reaches the phone.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_an_answer_to_a_laptop_gone_away_is_not_sent() {
    let (mut p, phone) = laptop_and_phone_seen();
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.bob
        .client
        .cmd(&alice, "sotto verify where did we meet | lisbon");
    expect_dialog(&mut p.alice.client, "where did we meet");
    p.bob.client.quit();
    std::thread::sleep(std::time::Duration::from_secs(2));

    let mark = p.alice.tap.mark();
    p.alice.client.cmd(&bob, "sotto answer lisbon");
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(
        data_stanza_targets(&p.alice.tap, mark),
        Vec::<String>::new(),
        "a data line left while the laptop was offline"
    );
    phone
        .client
        .assert_no_write_shows("?S1", "the phone (a Sotto line)");
    p.alice
        .client
        .expect_system(&bob, "alice is told her answer was not sent", WAIT, |t| {
            t.contains("answer was NOT sent") && t.contains("not seen online")
        });
    p.assert_no_criticals();
}

/// The same, with alice restarting while bob's laptop is off: after her restart only the
/// phone's presence comes (a client gone before she signed on sends no unavailable presence).
/// What she types is held, not sent to the laptop's gone resource (the server would hand it
/// to the phone); when the laptop signs on under a new resource it is asked, and what was held
/// reaches it.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_holder_gone_before_a_restart_is_waited_for() {
    let (mut p, phone) = laptop_and_phone_seen();
    let bob = p.bob.address.clone();
    p.bob.client.quit();
    p.alice.client.quit();
    p.alice.client.restart();
    p.alice.client.expect_online();
    std::thread::sleep(std::time::Duration::from_secs(2));

    let mark = p.alice.tap.mark();
    let held = "typed after alice's restart, the laptop away";
    p.alice.client.send(&bob, held);
    assert_held_for_the_laptop(&p, mark);

    the_laptop_back_reads_what_was_held(&mut p, &phone, mark, &[held]);
    p.assert_no_criticals();
}

/// bob's laptop, gone, signs on again under a new resource: alice's Sotto asks it, by a query
/// addressed to that resource alone (not to bob's bare name, which the phone would get too),
/// it answers with a handshake, and each of `held` (typed by alice since `mark`) reaches it
/// there, in order; no data line, and nothing of what was held, reaches the phone.
fn the_laptop_back_reads_what_was_held(
    p: &mut Pair,
    phone: &Peer,
    mark: (usize, usize),
    held: &[&str],
) {
    let alice = p.alice.address.clone();
    let old = p.bob.client.cfg.username.clone();
    let new = old.replace("/e2e", "/laptop2");
    assert_ne!(old, new);
    p.bob.client.cfg.username = new.clone();
    let back = p.alice.tap.mark();
    p.bob.client.restart();
    p.bob.client.expect_online();
    for t in held {
        p.bob.client.expect_received(&alice, t, WAIT);
    }
    let writes = p.bob.client.writes();
    let at = |t: &str| writes.iter().position(|w| w.shown().contains(t));
    assert!(
        held.windows(2).all(|w| at(w[0]) < at(w[1])),
        "held lines out of order"
    );
    let targets = data_stanza_targets(&p.alice.tap, mark);
    assert!(
        !targets.is_empty() && targets.iter().all(|t| *t == new),
        "alice's held lines went to {targets:?}, not {new}"
    );
    assert_eq!(
        stanza_targets(&p.alice.tap, back, &["?S1Q"]),
        [new.as_str()]
    );
    for t in held {
        assert_hidden(&[&p.alice.tap, &p.bob.tap], t, "held for the laptop");
        phone.client.assert_no_write_shows(t, "the phone");
    }
    phone
        .client
        .assert_no_write_shows("?S1D", "the phone (a data line)");
}

/// alice is offline while bob's laptop (holding the session) writes to her: the server keeps
/// the line. The laptop signs off; alice signs on, sees only the phone's presence and gets the
/// kept line, stamped with a XEP-0203 delay: it is shown, but it is no sign that the laptop is
/// online now. What alice types next is held (the kept line used to count as the laptop
/// seen, and her text went to the laptop's gone resource, which the server hands to the
/// phone); the laptop back under a new resource gets it.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_line_the_server_kept_is_no_sign_the_laptop_is_online() {
    let (mut p, phone) = laptop_and_phone_seen();
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.alice.client.quit();
    std::thread::sleep(std::time::Duration::from_secs(1));
    let kept = "written by the laptop while alice was offline";
    p.bob.client.send(&alice, kept);
    p.bob.client.expect_sent(&alice, kept, WAIT);
    std::thread::sleep(std::time::Duration::from_secs(1));
    p.bob.client.quit();
    std::thread::sleep(std::time::Duration::from_secs(1));

    let login = p.alice.tap.mark();
    p.alice.client.restart();
    p.alice.client.expect_online();
    p.alice.client.expect_received(&bob, kept, WAIT);
    let down = String::from_utf8_lossy(&p.alice.tap.since(login, Dir::Down)).into_owned();
    assert!(
        down.contains("urn:xmpp:delay") || down.contains("jabber:x:delay"),
        "the server delivered the kept line without a delay stamp: the test shows nothing"
    );
    std::thread::sleep(std::time::Duration::from_secs(2));

    let mark = p.alice.tap.mark();
    let held = "typed after the kept line, the laptop gone";
    p.alice.client.send(&bob, held);
    assert_held_for_the_laptop(&p, mark);
    the_laptop_back_reads_what_was_held(&mut p, &phone, mark, &[held]);
    assert_hidden(&[&p.alice.tap, &p.bob.tap], kept, "the kept line");
    p.assert_no_criticals();
}

/// alice's own connection drops and comes back (same process) while bob's laptop, seen online
/// and holding the session, signs off: no unavailable presence could reach her. After the
/// reconnect only the phone's presence comes: what she types is held (the laptop seen before
/// the drop used to count still, and her text went to its gone resource, which the server
/// hands to the phone); the laptop back under a new resource gets it.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_alices_reconnect_forgets_that_the_laptop_was_online() {
    let (mut p, phone) = laptop_and_phone_seen();
    let bob = p.bob.address.clone();
    p.alice.client.go_offline();
    std::thread::sleep(std::time::Duration::from_secs(1));
    p.bob.client.quit();
    std::thread::sleep(std::time::Duration::from_secs(1));
    p.alice.client.go_online();
    std::thread::sleep(std::time::Duration::from_secs(2));

    let mark = p.alice.tap.mark();
    let held = "typed after alice's reconnect, the laptop gone";
    p.alice.client.send(&bob, held);
    assert_held_for_the_laptop(&p, mark);
    the_laptop_back_reads_what_was_held(&mut p, &phone, mark, &[held]);
    p.assert_no_criticals();
}

/// bob's second login signs off and comes back under the resource "tablet" (its store and
/// session kept).
fn reconnect_as_tablet(desktop: &mut Peer) {
    desktop.client.quit();
    std::thread::sleep(std::time::Duration::from_secs(1));
    let old = desktop.client.cfg.username.clone();
    let new = old.replace("/desktop", "/tablet");
    assert_ne!(old, new);
    desktop.client.cfg.username = new;
    desktop.client.restart();
    desktop.client.expect_online();
}

/// bob's second login, its key accepted, reconnects under another resource (its store and
/// session kept) and its first words there are long enough to be cut into pieces (XMPP lines
/// are cut past 8,000 characters). alice reads them in that client's session, and her next
/// message reaches it at its new address. They used to be put together by the main session,
/// which has no such session: lost, and bob's client told alice had not read them.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_another_login_under_a_new_resource_writes_a_long_message() {
    let (mut p, mut desktop, _) = a_second_login_accepted();
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    reconnect_as_tablet(&mut desktop);
    let long: String = (0..1500).map(|i| format!("w{i:04} ")).collect::<String>() + "end";
    assert!(long.len() > 8_000, "its line is cut into pieces");
    let mark = desktop.tap.mark();
    desktop.client.send(&alice, &long);
    p.alice.client.expect_received(&bob, &long, WAIT);
    assert!(
        String::from_utf8_lossy(&desktop.tap.since(mark, Dir::Up)).contains("?S1P"),
        "the message was not cut into pieces"
    );
    let next = "alice answers the tablet";
    p.alice.client.send(&bob, next);
    desktop.client.expect_received(&alice, next, WAIT);
    p.bob.client.expect_received(&alice, next, WAIT);
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_no_failure_shown(&[&p.alice.client, &p.bob.client, &desktop.client]);
    let marked: Vec<String> = p
        .alice
        .client
        .shown_with("have not accepted")
        .into_iter()
        .filter(|t| t.contains("w0001"))
        .collect();
    assert!(
        marked.is_empty(),
        "shown as from a key not accepted: {marked:?}"
    );
    assert_hidden(
        &[&p.alice.tap, &desktop.tap],
        &long[..64],
        "the long message",
    );
    p.assert_no_criticals();
    desktop.client.assert_no_criticals();
}

/// bob's second login, its key accepted, reconnects under another resource (its store kept)
/// and starts again (`/sotto start`): alice keeps one session with it (found by the instance
/// tag its start names), answered at its new address, and each of bob's logins reads her next
/// message exactly once, one data line addressed to each login's current address. With the
/// previous plugin alice's line for it still went to the address it had before (it arrived only
/// because the server hands a message for a gone resource to the others); in the unit rig the
/// same start made a second session beside the first (every message twice).
#[test]
#[ignore = "e2e: needs prosody"]
fn xmpp_another_login_starting_again_under_a_new_resource_reads_once() {
    let (mut p, mut desktop, _) = a_second_login_accepted();
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    reconnect_as_tablet(&mut desktop);
    desktop.client.cmd(&alice, "sotto start");
    // Done once alice's side says the client's session started at its new address (the
    // tablet's own window may still show the line from before its restart).
    p.alice
        .client
        .expect_system(&bob, "the session with the tablet started", WAIT, |t| {
            t.contains("bob@localhost/tablet") && t.contains("started too")
        });
    let next = "alice writes once to each login";
    let mark = p.alice.tap.mark();
    p.alice.client.send(&bob, next);
    desktop.client.expect_received(&alice, next, WAIT);
    p.bob.client.expect_received(&alice, next, WAIT);
    std::thread::sleep(std::time::Duration::from_secs(3));
    for (who, c) in [("the tablet", &desktop.client), ("bob", &p.bob.client)] {
        let n = c
            .writes()
            .iter()
            .filter(|w| w.has(flags::RECV) && w.shown().contains(next))
            .count();
        assert_eq!(n, 1, "{who} read it {n} times");
    }
    // One data line per login, none to the address the second login had before.
    let mut targets = data_stanza_targets(&p.alice.tap, mark);
    targets.sort();
    assert_eq!(
        targets,
        vec![
            "bob@localhost/e2e".to_owned(),
            "bob@localhost/tablet".to_owned()
        ],
        "where alice's message went"
    );
    assert_no_failure_shown(&[&p.alice.client, &p.bob.client, &desktop.client]);
    p.assert_no_criticals();
    desktop.client.assert_no_criticals();
}

/// bob's first login ends its session and alice closes the window; bob's second login, whose
/// own session goes on, writes: libpurple opens a window for it that logs (`log_ims`), since
/// the conversation's main session is not encrypted. The decrypted words are shown and never
/// reach alice's libpurple logs (they did).
#[test]
#[ignore = "e2e: needs prosody"]
fn xmpp_another_clients_words_are_not_logged_in_a_new_window() {
    let (mut p, mut desktop, _) = a_second_login_accepted();
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    bob_ends(&mut p);
    p.alice.client.close_window(&bob);
    let words = "walrus words from the second login";
    desktop.client.send(&alice, words);
    let w = p.alice.client.expect_received(&bob, words, WAIT);
    assert_ordinary(&w);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        !p.alice.client.logs_contain(words),
        "decrypted words in the libpurple logs"
    );
    p.assert_no_criticals();
    desktop.client.assert_no_criticals();
}

/// A decrypted message is written as an ordinary received one: with its sender and never
/// `NO_LOG`, which Pidgin draws as a grey bold line without name or time, the look of a
/// Sotto line (the window's logging is off instead).
fn assert_ordinary(w: &Written) {
    assert!(
        w.has(flags::RECV) && !w.has(flags::NO_LOG) && !w.has(flags::SYSTEM) && !w.who.is_empty(),
        "not an ordinary message with a sender: {w:?}"
    );
}

/// The same with alice's window open: the main session ended, the window's logging came
/// back, and the second login's words were written `NO_LOG` so as not to be logged: Pidgin
/// drew them without name or time, so words of the contact's such as "Sotto: encrypted
/// conversation started. bob's fingerprint is … (verified)" read as Sotto's own line (found by
/// a read-only audit). The window does not log while another client's session reads, also
/// when the host turns its logging back on (a switch between conversations merged into one
/// tab): Sotto turned it off again only for an encrypted conversation, and the words were
/// written `NO_LOG` again (found by another audit).
#[test]
#[ignore = "e2e: needs prosody"]
fn xmpp_another_clients_words_after_the_main_session_ended_are_ordinary() {
    let (mut p, mut desktop, _) = a_second_login_accepted();
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    bob_ends(&mut p);
    assert!(
        !p.alice.client.set_logging(&bob, true),
        "the window logs again while the second login's session reads"
    );
    p.alice
        .client
        .expect_system(&bob, "the window says why it is not logged", WAIT, |t| {
            t.contains("NOT logged while another client of your contact")
        });
    let words = "Sotto: walrus words posing as a line of Sotto's";
    desktop.client.send(&alice, words);
    let w = p.alice.client.expect_received(&bob, words, WAIT);
    assert_ordinary(&w);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        !p.alice.client.logs_contain("walrus words posing"),
        "decrypted words in the libpurple logs"
    );
    p.assert_no_criticals();
    desktop.client.assert_no_criticals();
}

/// bob's second login has a session with alice whose key she has not accepted (so she makes it
/// no copy of what she types); bob's first login, which holds the conversation, signs off. The
/// server hands alice's next message for it to the second login, which cannot read it: alice
/// is told which message was not read (it was dropped there without a word, and lost).
#[test]
#[ignore = "e2e: needs prosody"]
fn xmpp_a_message_for_a_gone_login_reaching_an_unaccepted_one_is_named() {
    let (mut p, desktop, _) = a_second_login();
    let bob = p.bob.address.clone();
    p.bob.client.quit();
    std::thread::sleep(std::time::Duration::from_secs(1));
    let lost = "a walrus for the login that left";
    p.alice.client.send(&bob, lost);
    p.alice
        .client
        .expect_system(&bob, "alice is told it was not read", WAIT, |t| {
            t.contains("could not read your message") && t.contains(lost)
        });
    assert!(
        !says_could_not(&desktop.client),
        "the second login's user was told about another login's line"
    );
    desktop.client.assert_no_criticals();
}
