//! Load (issue 10): 200 conversations of 50 messages each between two headless clients over
//! XMPP, every conversation starting under the `always` policy, all of them at once; and a
//! flood of 10,000 garbage lines into one encrypted conversation. Real libpurple and prosody,
//! a tap on every connection. Needs build/sotto.so: run with `make e2e` (see tests/README.md).
//!
//! Both print what they measured (`[load] …` on stderr, `--nocapture` to see it):
//! docs/PERFORMANCE.md quotes those lines. `SOTTO_LOAD_BASELINE=1` runs the first test once
//! more without the plugin first, for the figures libpurple costs on its own.

mod support;

use std::collections::HashMap;
use std::fs;
use std::thread;
use std::time::{Duration, Instant};

use support::*;

const MESSAGES: usize = 50;

/// 200; `SOTTO_LOAD_CONVERSATIONS` changes it (to see how a cost grows with it).
fn conversations() -> usize {
    std::env::var("SOTTO_LOAD_CONVERSATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

/// CPU time (user + system) and resident memory of a process, from `/proc`.
#[derive(Clone, Copy, Debug)]
struct Usage {
    cpu: Duration,
    /// Of `cpu`, the part spent in the kernel (system calls: the socket, the store's writes and
    /// fsyncs).
    sys: Duration,
    rss_kib: u64,
}

fn usage(c: &Client) -> Usage {
    let pid = c.pid().expect("client running");
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // The fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("stat format")
        .1
        .split_whitespace()
        .collect();
    let stime: u64 = fields[12].parse().expect("stime");
    let ticks: u64 = fields[11].parse::<u64>().expect("utime") + stime;
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS");
    Usage {
        // USER_HZ is 100 on every Linux this runs on (the kernel's ABI, not CONFIG_HZ).
        cpu: Duration::from_millis(ticks * 10),
        sys: Duration::from_millis(stime * 10),
        rss_kib,
    }
}

/// One side of the load test: a client process signed on to [`conversations`] accounts.
struct Side {
    client: Client,
    tap: Tap,
    /// The accounts' usernames (with resource), as `as` commands name them.
    usernames: Vec<String>,
}

fn names(prefix: char) -> Vec<String> {
    (0..conversations())
        .map(|i| format!("{prefix}{i:03}"))
        .collect()
}

fn bare(name: &str) -> String {
    format!("{name}@localhost")
}

fn start_side(label: &str, prefix: char, server: &Prosody, plugin: bool) -> Side {
    let tap = Tap::start(server.port);
    let usernames: Vec<String> = names(prefix)
        .iter()
        .map(|n| format!("{n}@localhost/load"))
        .collect();
    let client = Client::start(ClientConfig {
        name: label.to_string(),
        protocol: "prpl-jabber".into(),
        username: usernames[0].clone(),
        password: PASSWORD.into(),
        opts: xmpp_opts(tap.port),
        prefs: vec![(
            "/plugins/core/sotto/policy".to_string(),
            "always".to_string(),
        )],
        plugin: plugin.then(plugin_path),
        prpl: None,
        also_plugins: Vec::new(),
        purple_dir: None,
        env: Vec::new(),
        also_accounts: usernames[1..].to_vec(),
    });
    Side {
        client,
        tap,
        usernames,
    }
}

/// Waits until every account of `side` has signed on.
fn wait_signed_on(side: &Side) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let lines = side.client.lines();
        let on = lines.iter().filter(|l| l.tag == "SIGNED_ON").count();
        if on == conversations() {
            return;
        }
        let failed: Vec<_> = lines
            .iter()
            .filter(|l| l.tag == "ERROR" || l.tag == "PLUGIN_FAILED")
            .collect();
        assert!(failed.is_empty(), "[{}] {failed:?}", side.client.cfg.name);
        assert!(
            Instant::now() < deadline,
            "[{}] {on} of {} accounts signed on in 180 s",
            side.client.cfg.name,
            conversations()
        );
        thread::sleep(Duration::from_millis(200));
    }
}

/// The text of message `m` of conversation `i`: unique, and carrying `tag`, so one search of
/// the wire for `tag` finds any plaintext leak.
fn text(tag: &str, i: usize, m: usize) -> String {
    format!("{tag} conversation {i:03} message {m:02}")
}

/// What each conversation of `side` showed with `flag` (received or sent) and `tag`, in order:
/// peer's bare JID → texts.
fn shown(side: &Side, flag: u32, tag: &str) -> HashMap<String, Vec<String>> {
    let mut by_peer: HashMap<String, Vec<String>> = HashMap::new();
    for w in side.client.writes() {
        if w.has(flag) && w.shown().contains(tag) {
            let peer = w.conv.split('/').next().unwrap_or("").to_lowercase();
            by_peer.entry(peer).or_default().push(w.shown());
        }
    }
    by_peer
}

/// What the load run measured on one side.
struct Figures {
    cpu: Duration,
    sys: Duration,
    rss_kib: i64,
}

/// 200 conversations × 50 messages (alternating: a→b, b→a, …), all sent at once. Returns the
/// figures of both sides; asserts delivery always, and secrecy when `plugin`.
fn run_load(plugin: bool) -> (Figures, Figures, Duration) {
    let tag = format!("walrusload{}", std::process::id());
    let (a_names, b_names) = (names('a'), names('b'));
    let t0 = Instant::now();
    let accounts: Vec<(&str, &str)> = a_names
        .iter()
        .chain(&b_names)
        .map(|n| (n.as_str(), PASSWORD))
        .collect();
    let server = Prosody::start(&accounts);
    note(
        &format!("load: prosody with {} accounts", accounts.len()),
        t0,
    );
    let t0 = Instant::now();
    let mut a = start_side("load-a", 'a', &server, plugin);
    let mut b = start_side("load-b", 'b', &server, plugin);
    wait_signed_on(&a);
    wait_signed_on(&b);
    note(
        &format!("load: {} accounts signed on", 2 * conversations()),
        t0,
    );
    let (a0, b0) = (usage(&a.client), usage(&b.client));

    let t0 = Instant::now();
    for m in 0..MESSAGES {
        for i in 0..conversations() {
            let t = text(&tag, i, m);
            if m % 2 == 0 {
                let from = a.usernames[i].clone();
                a.client.send_as(&from, &bare(&b_names[i]), &t);
            } else {
                let from = b.usernames[i].clone();
                b.client.send_as(&from, &bare(&a_names[i]), &t);
            }
        }
    }
    // Until every message has arrived, or nothing has moved for a minute.
    let per_side = conversations() * MESSAGES / 2;
    let (mut last, mut moved) = (0, Instant::now());
    loop {
        let got = [&a, &b]
            .iter()
            .map(|s| {
                shown(s, flags::RECV, &tag)
                    .values()
                    .map(Vec::len)
                    .sum::<usize>()
            })
            .sum::<usize>();
        if got >= 2 * per_side {
            break;
        }
        if got != last {
            (last, moved) = (got, Instant::now());
        }
        if moved.elapsed() > Duration::from_secs(60) {
            break;
        }
        thread::sleep(Duration::from_millis(500));
    }
    let elapsed = t0.elapsed();
    // Settle: anything late or duplicated would show now.
    thread::sleep(Duration::from_secs(2));
    let (a1, b1) = (usage(&a.client), usage(&b.client));

    // Every message arrived exactly once, in the order typed; every sender shows each once.
    for (receiver, sender, sender_names, receiver_names, parity) in [
        (&a, &b, &b_names, &a_names, 1),
        (&b, &a, &a_names, &b_names, 0),
    ] {
        let received = shown(receiver, flags::RECV, &tag);
        let sent = shown(sender, flags::SEND, &tag);
        for i in 0..conversations() {
            let expected: Vec<String> = (0..MESSAGES)
                .filter(|m| m % 2 == parity)
                .map(|m| text(&tag, i, m))
                .collect();
            let from = bare(&sender_names[i]);
            let to = bare(&receiver_names[i]);
            assert_eq!(
                received.get(&from).cloned().unwrap_or_default(),
                expected,
                "[{}] conversation {i}: what {to} showed from {from}",
                receiver.client.cfg.name
            );
            assert_eq!(
                sent.get(&to).cloned().unwrap_or_default(),
                expected,
                "[{}] conversation {i}: what {from} showed as sent to {to}",
                sender.client.cfg.name
            );
        }
    }

    if plugin {
        let mut streams = Vec::new();
        for (who, side) in [("a", &a), ("b", &b)] {
            // Not one plaintext message on any connection, either way.
            for dir in [Dir::Up, Dir::Down] {
                for (n, bytes) in side.tap.per_connection(dir).iter().enumerate() {
                    assert!(
                        find(bytes, tag.as_bytes()).is_none(),
                        "[{who}] connection {n} ({dir:?}) carried plaintext"
                    );
                }
            }
            // Every message body on the wire is a Sotto line.
            for bytes in side.tap.per_connection(Dir::Up) {
                let s = String::from_utf8_lossy(&bytes).into_owned();
                for body in s.split("<body>").skip(1) {
                    assert!(
                        body.starts_with("?S1"),
                        "[{who}] a non-Sotto <body>: {}",
                        &body[..body.len().min(80)]
                    );
                }
                streams.push((who, bytes));
            }
        }
        let data = no_key_reuse_in(Proto::Xmpp, &streams);
        assert!(
            data >= 2 * per_side,
            "{data} data messages on the wire for {} typed",
            2 * per_side
        );
        // Nothing went wrong anywhere (held-message notices are expected; trouble is not).
        for side in [&a, &b] {
            assert_client_untroubled(&side.client);
        }
    }
    if !plugin {
        // The leak check above would fire: without Sotto the texts are on the wire.
        assert!(
            a.tap
                .per_connection(Dir::Up)
                .iter()
                .any(|bytes| find(bytes, tag.as_bytes()).is_some()),
            "the baseline's plaintext is not on the wire: the leak check could not fail"
        );
    }
    let figures = |u0: Usage, u1: Usage| Figures {
        cpu: u1.cpu - u0.cpu,
        sys: u1.sys - u0.sys,
        rss_kib: u1.rss_kib as i64 - u0.rss_kib as i64,
    };
    let fa = figures(a0, a1);
    let fb = figures(b0, b1);
    for (name, f, u1) in [("a", &fa, a1), ("b", &fb, b1)] {
        eprintln!(
            "[load] plugin={plugin} side {name}: {} conversations, {} messages sent + {} received \
             in {:.1} s; CPU {:.2} s (system {:.2} s) = {:.0} µs per message handled; RSS {} KiB at the end, \
             +{} KiB over the run = {:.1} KiB per conversation",
            conversations(),
            per_side,
            per_side,
            elapsed.as_secs_f64(),
            f.cpu.as_secs_f64(),
            f.sys.as_secs_f64(),
            f.cpu.as_secs_f64() * 1e6 / (2 * per_side) as f64,
            u1.rss_kib,
            f.rss_kib,
            f.rss_kib as f64 / conversations() as f64,
        );
    }
    a.client.quit();
    b.client.quit();
    (fa, fb, elapsed)
}

/// 200 conversations at once, each starting under `always` with a message typed before any
/// session (both sides type, so half of them start from both ends at once), 50 messages each:
/// none lost, none shown twice, none out of order, not one plaintext byte on any connection,
/// no message key used twice.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_200_conversations_of_50_messages_lose_nothing_and_leak_nothing() {
    if std::env::var_os("SOTTO_LOAD_BASELINE").is_some() {
        run_load(false);
    }
    run_load(true);
}

/// 10,000 garbage Sotto lines under bob's account (another resource of his, without Sotto)
/// into alice's encrypted conversation with bob: alice writes nothing to her store, shows at
/// most a few lines about it, spends bounded CPU per line, and the conversation goes on.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_flood_of_10000_garbage_lines_costs_bounded_cpu_no_writes_and_few_lines() {
    const FLOOD: usize = 10_000;
    // What the handshake and the exchange saved is checkpointed within a second (the plugin's
    // timer, every 30 s otherwise, ran during a slow flood and read as a write of it); the
    // checkpoint runs only when something was saved since the last.
    let o = PairOptions {
        alice_env: vec![("SOTTO_TEST_CHECKPOINT_SECS".into(), "1".into())],
        ..both_manual()
    };
    let (mut p, _) = encrypted_pair(Proto::Xmpp, o);
    let alice = p.alice.address.clone();
    let mut flood = p.another_login_with("bob", "flood", &[], false);
    thread::sleep(Duration::from_secs(3));
    let dir = p.alice.client.purple_dir().join("sotto");
    // A commit lands in the write-ahead log (sotto.db-wal), the database file only at a
    // checkpoint: watch both.
    let modified = || {
        ["sotto.db", "sotto.db-wal"].map(|f| {
            fs::metadata(dir.join(f))
                .map(|m| (m.modified().ok(), m.len()))
                .ok()
        })
    };
    let before = modified();
    let writes_before = p.alice.client.writes().len();
    let u0 = usage(&p.alice.client);
    let t0 = Instant::now();
    for i in 0..FLOOD {
        flood.client.send(
            &alice,
            &format!("?S1Dgarbage{i:05}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        );
    }
    // Until the last garbage line has reached alice's connection, then until her client has
    // used no CPU for a second (it has read everything the server gave it).
    let last = format!("?S1Dgarbage{:05}", FLOOD - 1);
    let deadline = Instant::now() + Duration::from_secs(300);
    while find(&p.alice.tap.bytes(Dir::Down), last.as_bytes()).is_none() {
        assert!(
            Instant::now() < deadline,
            "the flood did not reach alice in 300 s"
        );
        thread::sleep(Duration::from_millis(500));
    }
    let mut cpu = usage(&p.alice.client).cpu;
    loop {
        thread::sleep(Duration::from_secs(1));
        let now = usage(&p.alice.client).cpu;
        if now == cpu {
            break;
        }
        cpu = now;
    }
    let elapsed = t0.elapsed();
    let u1 = usage(&p.alice.client);
    assert_eq!(
        modified(),
        before,
        "alice's store was written while reading garbage"
    );
    let new: Vec<Written> = p.alice.client.writes()[writes_before..].to_vec();
    let unreadable = new
        .iter()
        .filter(|w| w.has(flags::SYSTEM) && w.shown().contains("could not be read"))
        .count();
    assert!(
        (1..=3).contains(&unreadable) && new.len() <= 4,
        "{} window lines ({unreadable} about unreadable lines) for {FLOOD} garbage lines: {new:?}",
        new.len()
    );
    let per_line = (u1.cpu - u0.cpu).as_secs_f64() * 1e6 / FLOOD as f64;
    eprintln!(
        "[load] flood: {FLOOD} garbage lines read by alice in {:.1} s; her CPU {:.2} s = {per_line:.0} \
         µs per line (libpurple's XMPP parsing included); {} window lines; RSS {} → {} KiB; \
         store untouched",
        elapsed.as_secs_f64(),
        (u1.cpu - u0.cpu).as_secs_f64(),
        new.len(),
        u0.rss_kib,
        u1.rss_kib
    );
    // Bounded: far below what a synced save per line cost before (0.5-5 ms on this disk).
    // Not under a wrapper (`make e2e-valgrind`: memcheck multiplies every instruction's cost).
    if std::env::var_os("SOTTO_TESTCLIENT_WRAPPER").is_none() {
        assert!(
            per_line < 1000.0,
            "{per_line:.0} µs of alice's CPU per garbage line"
        );
    }
    // The encrypted conversation goes on.
    let Pair {
        alice: a, bob: b, ..
    } = &mut p;
    exchange(
        Proto::Xmpp,
        b,
        a,
        "after the flood",
        "after the flood walrus",
    );
    exchange(
        Proto::Xmpp,
        a,
        b,
        "after the flood",
        "after the flood reply",
    );
    p.assert_no_criticals();
}
