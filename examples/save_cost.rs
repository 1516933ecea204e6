//! What one durable save costs under each SQLite setting the store could use, measured side by
//! side (issue 13; `docs/PERFORMANCE.md`, "The synced save"). A report, not a test.
//!
//! ```text
//! cargo run --release --no-default-features --example save_cost -- [DIR] [SAVES] [ROUNDS]
//! ```
//!
//! DIR (default: a new directory under /tmp) must be on the disk you care about: the cost is
//! the disk's fsync latency. Each round measures every setting once, in turn, on a fresh
//! database holding 1,000 sessions, saving one session's 301-byte snapshot SAVES times (as
//! the plugin saves before each send); the table gives the median save of each round, then the
//! median over ROUNDS rounds. The `Store` rows are [`sotto::store::Store`] itself (WAL, FULL,
//! exclusive lock, and the `sotto.generation` file it rewrites after each save); the others are
//! the same table through plain rusqlite.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rusqlite::{params, Connection};
use sotto::store::Store;

const UPSERT: &str = "INSERT INTO session (account, peer, snapshot, updated) VALUES (?1, ?2, ?3, ?4)
     ON CONFLICT (account, peer) DO UPDATE SET snapshot = excluded.snapshot, updated = excluded.updated";

/// What follows each save besides the commit.
#[derive(Clone, Copy, PartialEq)]
enum After {
    Nothing,
    /// `PRAGMA wal_checkpoint(TRUNCATE)`.
    Checkpoint,
    /// A small file written and renamed into place beside the database, not synced (as
    /// `sotto.generation` is after each save since issue 10).
    RenamedFile,
    /// The same small file overwritten in place (same inode), not synced.
    OverwrittenFile,
}

/// (name, journal_mode, synchronous, after each save)
const RAW: [(&str, &str, &str, After); 7] = [
    (
        "DELETE + FULL (before issue 13)",
        "DELETE",
        "FULL",
        After::Nothing,
    ),
    ("TRUNCATE + FULL", "TRUNCATE", "FULL", After::Nothing),
    ("WAL + FULL", "WAL", "FULL", After::Nothing),
    (
        "WAL + FULL + checkpoint(TRUNCATE) in each save",
        "WAL",
        "FULL",
        After::Checkpoint,
    ),
    (
        "WAL + FULL + a file renamed beside it",
        "WAL",
        "FULL",
        After::RenamedFile,
    ),
    (
        "WAL + FULL + a file overwritten in place beside it",
        "WAL",
        "FULL",
        After::OverwrittenFile,
    ),
    (
        "WAL + NORMAL (not durable per save: reference)",
        "WAL",
        "NORMAL",
        After::Nothing,
    ),
];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn fresh(dir: &Path, name: &str) -> PathBuf {
    let d = dir.join(name.replace(|c: char| !c.is_ascii_alphanumeric(), "_"));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn raw(dir: &Path, mode: &str, sync: &str, after: After, saves: usize) -> rusqlite::Result<f64> {
    std::fs::create_dir_all(dir).ok();
    let c = Connection::open(dir.join("sotto.db"))?;
    c.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    c.pragma_update(None, "journal_mode", mode)?;
    c.pragma_update(None, "synchronous", sync)?;
    c.pragma_update(None, "secure_delete", "ON")?;
    c.execute_batch(
        "CREATE TABLE session (account TEXT NOT NULL, peer TEXT NOT NULL, snapshot BLOB NOT NULL,
         updated INTEGER NOT NULL, PRIMARY KEY (account, peer));",
    )?;
    for i in 0..1000 {
        c.execute(
            UPSERT,
            params!["prpl-irc/alice", format!("peer{i:04}"), [1u8; 301], 0],
        )?;
    }
    let mut t = Vec::with_capacity(saves);
    for i in 0..saves {
        let s = Instant::now();
        c.execute(
            UPSERT,
            params!["prpl-irc/alice", "peer0500", [i as u8; 301], i as i64],
        )?;
        match after {
            After::Nothing => {}
            After::Checkpoint => c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?,
            After::RenamedFile => {
                let tmp = dir.join("beside.tmp");
                let _ = std::fs::write(&tmp, format!("{i:20}\n"))
                    .and_then(|()| std::fs::rename(&tmp, dir.join("beside")));
            }
            After::OverwrittenFile => {
                use std::io::{Seek, Write};
                let _ = std::fs::OpenOptions::new()
                    .create(true)
                    .write(true)
                    .truncate(false)
                    .open(dir.join("beside"))
                    .and_then(|mut f| {
                        f.rewind()?;
                        f.write_all(format!("{i:20}\n").as_bytes())
                    });
            }
        }
        t.push(s.elapsed().as_secs_f64() * 1e3);
    }
    Ok(median(t))
}

/// The store itself: medians of (save, save right after a checkpoint, the checkpoint).
fn store(dir: &Path, saves: usize) -> Result<(f64, f64, f64), sotto::store::StoreError> {
    let s = Store::open(dir)?;
    for i in 0..1000 {
        s.save_session("prpl-irc", "alice", &format!("peer{i:04}"), &[1u8; 301])?;
    }
    s.checkpoint()?;
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    let (mut save, mut after, mut ckpt) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..saves {
        let t = Instant::now();
        s.save_session("prpl-irc", "alice", "peer0500", &[i as u8; 301])?;
        save.push(ms(t));
    }
    for i in 0..saves {
        let t = Instant::now();
        s.checkpoint()?;
        ckpt.push(ms(t));
        let t = Instant::now();
        s.save_session("prpl-irc", "alice", "peer0500", &[i as u8; 301])?;
        after.push(ms(t));
    }
    Ok((median(save), median(after), median(ckpt)))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().map_or_else(
        || std::env::temp_dir().join(format!("sotto-save-cost-{}", std::process::id())),
        PathBuf::from,
    );
    let saves: usize = args.next().map_or(Ok(200), |s| s.parse())?;
    let rounds: usize = args.next().map_or(Ok(5), |s| s.parse())?;
    let mut raw_ms: Vec<Vec<f64>> = RAW.iter().map(|_| Vec::new()).collect();
    let (mut save_ms, mut after_ms, mut ckpt_ms) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..rounds {
        eprint!("round {}/{rounds}\r", r + 1);
        for (i, (name, mode, sync, after)) in RAW.iter().enumerate() {
            raw_ms[i].push(raw(&fresh(&dir, name), mode, sync, *after, saves)?);
        }
        let (s, a, c) = store(&fresh(&dir, "store"), saves)?;
        save_ms.push(s);
        after_ms.push(a);
        ckpt_ms.push(c);
    }
    eprintln!();
    let _ = std::fs::remove_dir_all(&dir);
    println!("durable save of a 301-byte snapshot, ms: median of {rounds} rounds of {saves} saves");
    println!("| setting | median save | rounds |");
    println!("|---|---|---|");
    let row = |name: &str, v: &[f64]| {
        let each: Vec<String> = v.iter().map(|x| format!("{x:.3}")).collect();
        println!(
            "| {name} | {:.3} | {} |",
            median(v.to_vec()),
            each.join(" ")
        );
    };
    for (i, (name, ..)) in RAW.iter().enumerate() {
        row(name, &raw_ms[i]);
    }
    row(
        "Store::save_session (the store: WAL + FULL, sotto.generation)",
        &save_ms,
    );
    row(
        "Store::save_session right after a Store::checkpoint",
        &after_ms,
    );
    row("Store::checkpoint (off the send path)", &ckpt_ms);
    Ok(())
}
