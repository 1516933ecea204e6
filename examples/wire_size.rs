//! Wire-size and memory report for issue 2's targets. A report, not a test: it asserts
//! nothing (the deterministic size limits are guarded in `tests/wire_size.rs`).
//!
//! ```text
//! cargo run --release --no-default-features --example wire_size
//! ```
//!
//! Memory is counted by wrapping the system allocator (`stats_alloc`): the heap bytes still
//! live after creating N idle, established conversations (into a `Vec` sized beforehand, so
//! its buffer is not counted), divided by N, plus the inline `size_of::<Conversation>()`.
//! That is what Rust asked for; malloc adds a header and rounding per block, estimated
//! beside, and the growth of the process RSS is shown as an upper bound (it also holds
//! handshake garbage that was freed but stays cached in the allocator).

use std::alloc::System;

use rand_core::OsRng;
use sotto::protocol::fragment::COMPLETED_KEPT_SECS;
use sotto::protocol::session::{DEFAULT_MAX_LINE, SENT_KEPT_SECS};
use sotto::protocol::testkit::{self, Setup};
use sotto::protocol::{ConvState, Conversation, IdentityKey, SendAction};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Sessions created for the memory measurement (pairs × 2).
const PAIRS: usize = 500;

/// The wire lines `from` sends for `text`, delivered to `to`.
fn send(from: &mut Conversation, to: &mut Conversation, text: &str) -> Vec<String> {
    let SendAction::Replace(lines) = from.send(text, &mut OsRng).action else {
        return Vec::new();
    };
    for line in &lines {
        to.receive(line, 0, &mut OsRng);
    }
    lines.into()
}

/// A fresh established pair, Alice knowing that Bob runs Sotto (no query round trip).
fn established() -> (Conversation, Conversation) {
    Setup::default().established(
        IdentityKey::generate(&mut OsRng),
        IdentityKey::generate(&mut OsRng),
        &mut OsRng,
    )
}

/// Largest plaintext (ASCII bytes) whose data message is one line of at most `max` characters,
/// as the first message of a fresh session.
fn max_plaintext_in_line(max: usize) -> usize {
    let mut best = 0;
    for n in 0..max {
        let (mut a, mut b) = established();
        let lines = send(&mut a, &mut b, &"x".repeat(n));
        if lines.len() == 1 && lines[0].len() <= max && lines[0].starts_with("?S1D") {
            best = n;
        } else {
            break;
        }
    }
    best
}

fn rss_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// glibc's chunk for a request: 8-byte header, 16-byte alignment, 32-byte minimum.
fn malloc_chunk(size: usize) -> usize {
    (size + 8).div_ceil(16).max(2) * 16
}

fn row(what: &str, value: String, target: &str) {
    println!("| {what:<62} | {value:>12} | {target:<22} |");
}

fn main() {
    println!("Sotto wire sizes (characters on the wire, prefix included) and memory\n");
    println!(
        "| {:<62} | {:>12} | {:<22} |",
        "what", "measured", "target (issue 2)"
    );
    println!("|{:-<64}|{:->14}|{:-<24}|", "", "", "");

    // The query: Alice does not know yet whether Bob runs Sotto.
    let query = Setup {
        peer_known: false,
        ..Setup::default()
    };
    let (mut a, mut b) = query.pair(
        IdentityKey::generate(&mut OsRng),
        IdentityKey::generate(&mut OsRng),
    );
    let lines = testkit::handshake(&mut a, &mut b, &mut OsRng);
    for line in &lines {
        let kind = &line[..4.min(line.len())];
        let target = if kind == "?S1Q" {
            "≤ 350 (human text)"
        } else {
            "≤ 350"
        };
        row(
            &format!("handshake message {kind}"),
            line.len().to_string(),
            target,
        );
    }
    row(
        "handshake total, query start (Q, I, R, C)",
        lines.iter().map(String::len).sum::<usize>().to_string(),
        "",
    );

    let (mut a, mut b) = established();
    let hi = send(&mut a, &mut b, "hi");
    row(
        "\"hi\" as a data message (?S1D)",
        hi.iter().map(String::len).sum::<usize>().to_string(),
        "≤ 90",
    );
    for n in [0usize, 16, 62, 63, 100, 200, 230, 256] {
        let lines = send(&mut a, &mut b, &"x".repeat(n));
        let total: usize = lines.iter().map(String::len).sum();
        row(
            &format!("{n} B text: characters (lines at 400 per line)"),
            format!("{total} ({})", lines.len()),
            "",
        );
    }
    row(
        "max plaintext bytes in one 400-character line",
        max_plaintext_in_line(DEFAULT_MAX_LINE).to_string(),
        "≥ 230",
    );

    // Snapshots: right after the handshake (the responder has no receiving chain yet) and
    // after one message each way (both chains present): the steady idle state.
    let (mut a, mut b) = established();
    row(
        "snapshot, initiator, just after handshake (bytes)",
        a.snapshot().len().to_string(),
        "≤ 400",
    );
    row(
        "snapshot, responder, just after handshake (bytes)",
        b.snapshot().len().to_string(),
        "≤ 400",
    );
    send(&mut a, &mut b, "hi");
    send(&mut b, &mut a, "hi");
    for (who, c) in [("initiator", &a), ("responder", &b)] {
        row(
            &format!("snapshot, {who}, idle after one message each way (bytes)"),
            c.snapshot().len().to_string(),
            "≤ 400",
        );
    }

    // Live memory per idle established session.
    let n = PAIRS * 2;
    let alice = IdentityKey::generate(&mut OsRng);
    let bob = IdentityKey::generate(&mut OsRng);
    let inline = std::mem::size_of::<Conversation>();
    // The rows with a tidy: what the host's periodic sweep (`Conversation::tidy`) leaves of an
    // idle conversation at that time (every line was read at 0): at once, the buffers kept for
    // the next message go; past SENT_KEPT_SECS, the texts sent; past COMPLETED_KEPT_SECS (a
    // day), the lines put together from pieces (a 400-byte text is two pieces at 400
    // characters a line).
    let long = "x".repeat(400);
    for (label, text, tidy_at) in [
        ("idle after handshake", None, None),
        ("idle after one message each way", Some("hi"), None),
        ("msg each way + tidy at once", Some("hi"), Some(0)),
        (
            "msg each way + tidy at 600 s",
            Some("hi"),
            Some(SENT_KEPT_SECS + 1),
        ),
        ("long (2-piece) msg each way", Some(long.as_str()), None),
        (
            "long msg each way + tidy at 600 s",
            Some(long.as_str()),
            Some(SENT_KEPT_SECS + 1),
        ),
        (
            "long msg each way + tidy at 1 day",
            Some(long.as_str()),
            Some(COMPLETED_KEPT_SECS + 1),
        ),
    ] {
        let rss0 = rss_bytes();
        let mut sessions: Vec<Conversation> = Vec::with_capacity(n);
        let region = Region::new(GLOBAL);
        for _ in 0..PAIRS {
            let (mut a, mut b) = Setup::default().pair(alice.clone(), bob.clone());
            testkit::handshake(&mut a, &mut b, &mut OsRng);
            if let Some(text) = text {
                send(&mut a, &mut b, text);
                send(&mut b, &mut a, text);
            }
            if let Some(now) = tidy_at {
                a.tidy(now);
                b.tidy(now);
            }
            sessions.push(a);
            sessions.push(b);
        }
        let change = region.change();
        let all_established = sessions.iter().all(|c| c.state() == ConvState::Encrypted);
        let heap = change
            .bytes_allocated
            .saturating_sub(change.bytes_deallocated) as f64
            / n as f64;
        let blocks = change.allocations.saturating_sub(change.deallocations) as f64 / n as f64;
        row(
            &format!("live memory per session, {label} (B)"),
            format!("{:.0}", inline as f64 + heap),
            "≤ 1024",
        );
        row(
            "  inline size_of::<Conversation>() (B)",
            inline.to_string(),
            "",
        );
        row(
            &format!("  heap: bytes requested in {blocks:.1} live blocks (B)"),
            format!("{heap:.0}"),
            "",
        );
        // glibc adds a header and rounding to each block; assume blocks of the average size.
        let avg = if blocks > 0.0 {
            (heap / blocks).round() as usize
        } else {
            0
        };
        let est = inline as f64 + blocks * malloc_chunk(avg) as f64;
        row(
            "  same with glibc chunk overhead, estimated (B)",
            format!("{est:.0}"),
            "",
        );
        if let (Some(r0), Some(r1)) = (rss0, rss_bytes()) {
            row(
                "  process RSS growth / session, upper bound (B)",
                format!("{:.0}", (r1.saturating_sub(r0)) as f64 / n as f64),
                "",
            );
        }
        if !all_established {
            println!("(warning: not every session reached Encrypted)");
        }
        drop(sessions);
    }
    println!("\nN = {n} sessions per memory row; 400 = the default line limit (IRC with a 30-character nick).");
}
