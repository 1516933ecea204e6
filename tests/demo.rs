//! `make demo`: what Sotto does, in one screen.
//!
//! A loopback ngircd, two headless libpurple clients (alice and bob) with build/sotto.so loaded,
//! and a tap between each client and the server. A short scripted conversation is printed in
//! three columns: what alice typed and saw | what bob saw | what the IRC server received.
//! The first message goes before Sotto is started, so the difference is visible.
//!
//! Run: `make demo` (builds the plugin and the test client first). Width: `$COLUMNS` (default 150).

mod support;

use std::time::{Duration, Instant};
use support::scenarios::{assert_hidden, expect_started};
use support::*;

struct Screen {
    col: usize,
    alice_seen: usize,
    bob_seen: usize,
    marks: ((usize, usize), (usize, usize)),
}

impl Screen {
    fn new(p: &Pair) -> Screen {
        let width: usize = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(150)
            .max(90);
        Screen {
            col: (width - 6) / 3,
            alice_seen: p.alice.client.lines().len(),
            bob_seen: p.bob.client.lines().len(),
            marks: (p.alice.tap.mark(), p.bob.tap.mark()),
        }
    }

    fn header(&self) {
        println!();
        println!(
            "{} │ {} │ {}",
            pad("ALICE (▸ typed, then what her window shows)", self.col),
            pad("BOB (▸ typed, then what his window shows)", self.col),
            pad("IRC SERVER (received, via the taps)", self.col)
        );
        println!(
            "{}─┼─{}─┼─{}",
            "─".repeat(self.col),
            "─".repeat(self.col),
            "─".repeat(self.col)
        );
    }

    /// Print one step: what alice typed, then everything new on both clients and the wire.
    fn step(&mut self, p: &Pair, title: &str, alice_typed: Option<&str>, bob_typed: Option<&str>) {
        std::thread::sleep(Duration::from_millis(300)); // let late lines (echoes, titles) arrive
        let mut left: Vec<String> = alice_typed.map(|t| format!("▸ {t}")).into_iter().collect();
        left.extend(self.new_writes(&p.alice.client, true));
        let mut mid: Vec<String> = bob_typed.map(|t| format!("▸ {t}")).into_iter().collect();
        mid.extend(self.new_writes(&p.bob.client, false));
        let mut right = Vec::new();
        for (who, tap, mark) in [
            ("alice", &p.alice.tap, self.marks.0),
            ("bob", &p.bob.tap, self.marks.1),
        ] {
            for line in split_lines(&tap.since(mark, Dir::Up)) {
                if line.starts_with("PRIVMSG ") {
                    right.push(format!("{who}: {}", abbreviate(&line, self.col * 2 - 10)));
                }
            }
        }
        self.marks = (p.alice.tap.mark(), p.bob.tap.mark());
        let rule = (self.col * 3 + 6).saturating_sub(title.chars().count() + 4);
        println!("── {title} {}", "─".repeat(rule));
        let (l, m, r) = (
            wrap_all(&left, self.col),
            wrap_all(&mid, self.col),
            wrap_all(&right, self.col),
        );
        for i in 0..l.len().max(m.len()).max(r.len()) {
            let get = |v: &Vec<String>| v.get(i).cloned().unwrap_or_default();
            println!(
                "{} │ {} │ {}",
                pad(&get(&l), self.col),
                pad(&get(&m), self.col),
                pad(&get(&r), self.col)
            );
        }
    }

    fn new_writes(&mut self, c: &Client, alice: bool) -> Vec<String> {
        let lines = c.lines();
        let seen = if alice {
            &mut self.alice_seen
        } else {
            &mut self.bob_seen
        };
        let new: Vec<String> = lines[*seen..]
            .iter()
            .filter_map(|l| {
                if l.tag == "TITLE" {
                    return Some(format!("[window title: {}]", l.field(1)));
                }
                let w = l.written()?;
                let text = w.shown();
                Some(if w.has(flags::SYSTEM) {
                    format!("* {text}")
                } else if w.has(flags::SEND) {
                    format!("me: {text}")
                } else {
                    format!("{}: {text}", w.who)
                })
            })
            .collect();
        *seen = lines.len();
        new
    }
}

fn abbreviate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let head: String = s.chars().take(max - 14).collect();
    format!("{head}… ({} bytes)", s.len())
}

fn pad(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n >= w {
        s.chars().take(w).collect()
    } else {
        format!("{s}{}", " ".repeat(w - n))
    }
}

fn wrap_all(items: &[String], w: usize) -> Vec<String> {
    let mut out = Vec::new();
    for item in items {
        for para in item.split('\n') {
            let chars: Vec<char> = para.chars().collect();
            if chars.is_empty() {
                out.push(String::new());
            }
            for chunk in chars.chunks(w) {
                out.push(chunk.iter().collect());
            }
        }
    }
    out
}

#[test]
#[ignore = "demo: run via make demo"]
fn demo() {
    let t0 = Instant::now();
    println!(
        "\nSotto demo: a loopback ngircd, alice and bob in headless libpurple with build/sotto.so,"
    );
    println!("and a tap that records what the server receives. Starting…");
    let mut p = Pair::start(Proto::Irc, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let mut screen = Screen::new(&p);
    screen.header();

    let before = "hi bob, this line goes out BEFORE encryption";
    p.alice.client.send(&bob, before);
    p.bob.client.expect_received(&alice, before, WAIT);
    screen.step(
        &p,
        "1. no session yet: plaintext, and the server reads it",
        Some(before),
        None,
    );

    p.alice.client.cmd(&bob, "sotto start");
    expect_started(&p.alice.client, &bob, WAIT);
    expect_started(&p.bob.client, &alice, WAIT);
    screen.step(
        &p,
        "2. alice starts Sotto: a 3-message handshake, one IRC line each",
        Some("/sotto start"),
        None,
    );

    let script: Vec<(bool, &str, &str)> = vec![
        (
            true,
            "3. encrypted: the server sees only ?S1D… lines",
            "now the server cannot read this",
        ),
        (
            false,
            "4. HTML specials arrive as text, never as markup",
            "<b>not bold</b> & \"quotes\" <script>alert(1)</script>",
        ),
        (
            true,
            "5. newlines and unicode survive",
            "two lines:\nnaïve café ✓ 日本語 🔐",
        ),
    ];
    let mut secret = Vec::new();
    for (from_alice, title, text) in script {
        if from_alice {
            p.alice.client.send(&bob, text);
            p.bob.client.expect_received(&alice, text, WAIT);
            screen.step(&p, title, Some(text), None);
        } else {
            p.bob.client.send(&alice, text);
            p.alice.client.expect_received(&bob, text, WAIT);
            screen.step(&p, title, None, Some(text));
        }
        secret.push(text);
    }

    p.alice.client.cmd(&bob, "sotto stop");
    p.bob
        .client
        .expect_system(&alice, "the ended line", WAIT, |t| {
            t.to_lowercase().contains("ended")
        });
    screen.step(
        &p,
        "6. alice ends the encrypted conversation",
        Some("/sotto stop"),
        None,
    );

    for text in &secret {
        assert_hidden(&[&p.alice.tap, &p.bob.tap], text, "demo message");
    }
    println!();
    println!("Checked: none of the {} encrypted messages appears on the wire (both taps, both directions);", secret.len());
    println!(
        "the first, sent before /sotto start, does. Demo took {:.1} s.",
        t0.elapsed().as_secs_f64()
    );
    println!("Next: `make e2e` runs the full end-to-end suite (IRC and XMPP); tests/README.md explains the rig.");
}
