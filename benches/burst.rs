//! One-direction burst per message, Sotto beside libotr in the same run (issue 13).
//!
//! ```text
//! make bench-burst                                   # builds benches/libotr, then this
//! cargo bench --no-default-features --bench burst -- [ROUNDS [MESSAGES]]
//! cargo bench --no-default-features --bench burst -- callgrind WHAT SIZE MESSAGES
//! ```
//!
//! For each of ROUNDS (default 5) rounds, for each size (16 B, 256 B, 4 KiB), in this order:
//! libotr (`benches/libotr/otr_bench burst SIZE MESSAGES`, a separate process: AES-128-CTR +
//! HMAC-SHA1 over a 1536-bit DH session), Sotto through `Conversation` (send, wire text,
//! receive: what the plugin calls per line, on XMPP where no line is cut), Sotto's ratchet
//! alone, and the floor (see `common::Floor`). Each figure is the median batch of 21 batches
//! (so a batch the VM preempted does not count), in wall-clock microseconds per message, the
//! batches of Sotto, the ratchet and the floor's two parts interleaved (until 2026-12-05 each
//! ran its 21 batches after the other's, and a slower stretch of the VM could fall on one
//! only); ratios are taken within each round, and the table shows the median over rounds. The
//! machine is shared and noisy: read the ratios, and the callgrind counts (instructions, which
//! do not depend on load) in `docs/PERFORMANCE.md`.
//!
//! `callgrind WHAT SIZE MESSAGES` (WHAT: `conversation`, `ratchet`, `crypto`, `codec`) runs one
//! of them only, with the measured loop in `burst_loop`, for `valgrind --tool=callgrind
//! --collect-atstart=no --toggle-collect='*burst_loop*'` (`make bench-burst-callgrind`).
//!
//! Nothing is asserted: speed targets live here, never in tests.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

mod common;
use common::{established, Floor, RatchetPair};

const SIZES: [usize; 3] = [16, 256, 4096];
const BATCHES: usize = 21;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Median over batches of microseconds per call of each of `fs`, after a warm-up, their
/// batches interleaved (batch `i` of each, then batch `i + 1`): a stretch of a slower or faster machine (another VM's load, a clock change)
/// falls on all of them alike, and a ratio of two is taken between batches run side by side.
fn per_call_interleaved<const N: usize>(
    messages: usize,
    mut fs: [&mut dyn FnMut(); N],
) -> [f64; N] {
    let per = (messages / BATCHES).max(1);
    for f in fs.iter_mut() {
        for _ in 0..per.min(200) {
            f();
        }
    }
    let mut times: [Vec<f64>; N] = std::array::from_fn(|_| Vec::with_capacity(BATCHES));
    for _ in 0..BATCHES {
        for (f, t) in fs.iter_mut().zip(times.iter_mut()) {
            let start = Instant::now();
            for _ in 0..per {
                f();
            }
            t.push(start.elapsed().as_secs_f64() * 1e6 / per as f64);
        }
    }
    times.map(median)
}

/// The measured loop for callgrind: `messages` calls of `f`.
#[inline(never)]
fn burst_loop(messages: usize, mut f: impl FnMut()) {
    for _ in 0..messages {
        f();
    }
}

/// `callgrind WHAT SIZE MESSAGES`: 100 messages of warm-up (the receiver's first message makes
/// its DH ratchet step), then `burst_loop`, which callgrind alone counts.
fn callgrind(what: &str, size: usize, messages: usize) {
    let text = "x".repeat(size);
    match what {
        "conversation" => {
            let (mut a, mut b) = established(1_000_000);
            let mut f = || common::deliver(&mut a, &mut b, &text);
            (0..100).for_each(|_| f());
            burst_loop(messages, f);
        }
        "ratchet" => {
            let mut p = RatchetPair::new();
            let mut f = || p.a_to_b(text.as_bytes());
            (0..100).for_each(|_| f());
            burst_loop(messages, f);
        }
        "crypto" => {
            let floor = Floor::new(size);
            let mut ck = [7u8; 32];
            burst_loop(messages, || floor.crypto(&mut ck));
        }
        "codec" => {
            let floor = Floor::new(size);
            burst_loop(messages, || floor.codec());
        }
        _ => eprintln!("callgrind: conversation, ratchet, crypto or codec"),
    }
}

/// libotr's figure (wall µs per message), or `None` when its bench is not built.
fn libotr(size: usize, messages: usize) -> Option<f64> {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/libotr/otr_bench");
    let out = Command::new(&bin)
        .args(["burst", &size.to_string(), &messages.to_string()])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().nth(2)?.parse().ok()
}

/// Messages per measurement for a size: about the same time for each.
fn messages_for(size: usize, messages: usize) -> usize {
    if size > 1024 {
        messages / 4
    } else {
        messages
    }
}

struct Round {
    libotr: Option<f64>,
    sotto: f64,
    ratchet: f64,
    crypto: f64,
    codec: f64,
}

fn round(size: usize, messages: usize) -> Round {
    let text = "x".repeat(size);
    let n = messages_for(size, messages);
    let libotr = libotr(size, n);
    let (mut a, mut b) = established(1_000_000);
    let mut p = RatchetPair::new();
    let floor = Floor::new(size);
    let mut ck = [7u8; 32];
    let [sotto, ratchet, crypto, codec] = per_call_interleaved(
        n,
        [
            &mut || common::deliver(&mut a, &mut b, &text),
            &mut || p.a_to_b(text.as_bytes()),
            &mut || floor.crypto(&mut ck),
            &mut || floor.codec(),
        ],
    );
    Round {
        libotr,
        sotto,
        ratchet,
        crypto,
        codec,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; keep only our own arguments.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if args.first().map(String::as_str) == Some("callgrind") {
        let what = args.get(1).map_or("conversation", String::as_str);
        let size = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(256);
        let messages = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1000);
        callgrind(what, size, messages);
        return;
    }
    let rounds: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(5);
    let messages: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(42_000);

    let mut results: Vec<Vec<Round>> = SIZES.iter().map(|_| Vec::new()).collect();
    for r in 0..rounds {
        eprint!("round {}/{rounds}\r", r + 1);
        for (i, &size) in SIZES.iter().enumerate() {
            results[i].push(round(size, messages));
        }
    }
    eprintln!();
    if results[0].iter().all(|r| r.libotr.is_none()) {
        println!("libotr: benches/libotr/otr_bench not built (make -C benches/libotr otr_bench)");
    }
    println!(
        "burst, µs per message (encrypt + decrypt), median of {rounds} rounds; ratios within each round"
    );
    println!(
        "| size | libotr | Sotto | Sotto / libotr | ratchet only | crypto floor | Sotto / crypto floor | codec | Sotto / (crypto + codec) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (i, &size) in SIZES.iter().enumerate() {
        let rs = &results[i];
        let col = |f: &dyn Fn(&Round) -> Option<f64>| median(rs.iter().filter_map(f).collect());
        let fmt = |x: f64| {
            if x.is_nan() {
                "—".to_owned()
            } else {
                format!("{x:.2}")
            }
        };
        println!(
            "| {size} B | {} | {} | {} | {} | {} | {} | {} | {} |",
            fmt(col(&|r| r.libotr)),
            fmt(col(&|r| Some(r.sotto))),
            fmt(col(&|r| r.libotr.map(|l| r.sotto / l))),
            fmt(col(&|r| Some(r.ratchet))),
            fmt(col(&|r| Some(r.crypto))),
            fmt(col(&|r| Some(r.sotto / r.crypto))),
            fmt(col(&|r| Some(r.codec))),
            fmt(col(&|r| Some(r.sotto / (r.crypto + r.codec)))),
        );
    }
}
