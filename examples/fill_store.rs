//! Fills a Sotto store with established sessions, for measuring the plugin's load time with many
//! stored sessions (`make loadtime`, docs/PERFORMANCE.md "Plugin load"), and measures the synced
//! save on the send path. A report, not a test: it asserts nothing.
//!
//! ```text
//! cargo run --release --no-default-features --example fill_store -- <purple user dir> [sessions] [saves]
//! ```
//!
//! Each session is real: the account's stored identity (`prpl-irc`, `alice@127.0.0.1`) completes a
//! handshake with a fresh peer, one message goes each way, and the account's side is saved with
//! the store API, together with the peer's trust record and "runs Sotto" mark, as the plugin
//! saves them. Then `saves` more messages are encrypted on one session and each snapshot is saved
//! as `persist` saves it before a ciphertext leaves (one synced SQLite commit per message).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rand_core::OsRng;
use sotto::protocol::testkit;
use sotto::protocol::{Conversation, IdentityKey, Policy, SendAction};
use sotto::store::Store;

const PROTOCOL: &str = "prpl-irc";
const ACCOUNT: &str = "alice@127.0.0.1";

/// `from` sends `text` to `to`.
fn send(from: &mut Conversation, to: &mut Conversation, text: &str) {
    if let SendAction::Replace(lines) = from.send(text, &mut OsRng).action {
        for line in &lines {
            to.receive(line, 0, &mut OsRng);
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: fill_store <purple user dir> [n] [saves]")?,
    );
    let n: usize = args.next().map_or(Ok(1000), |s| s.parse())?;
    let saves: usize = args.next().map_or(Ok(200), |s| s.parse())?;

    let store = Store::open(&dir.join("sotto"))?;
    let (key, tag) = store.load_or_create_identity(PROTOCOL, ACCOUNT, &mut OsRng)?;
    let before = store.session_count()?;
    let t0 = Instant::now();
    let mut last = None;
    for i in 0..n {
        let peer = format!("peer{i:04}");
        let mut a = Conversation::new(key.clone(), tag, Policy::Opportunistic);
        a.set_peer_supports_sotto(true);
        let mut b = Conversation::new(IdentityKey::generate(&mut OsRng), 7, Policy::Manual);
        testkit::handshake(&mut a, &mut b, &mut OsRng);
        send(&mut a, &mut b, "hello from the fill");
        send(&mut b, &mut a, "hello back");
        store.save_session(PROTOCOL, ACCOUNT, &peer, &a.snapshot())?;
        store.set_peer_runs_sotto(PROTOCOL, ACCOUNT, &peer)?;
        if let Some(k) = a.peer_identity() {
            store.record_key_seen(PROTOCOL, ACCOUNT, &peer, &k)?;
        }
        last = Some((a, b, peer));
    }
    let db = store.path().to_path_buf();
    println!(
        "store {}: {} sessions (was {before}), {} bytes on disk; filled in {:.1} s",
        db.display(),
        store.session_count()?,
        std::fs::metadata(&db)?.len(),
        t0.elapsed().as_secs_f64()
    );

    // What lazy loading avoids: reading and restoring every stored session at start-up.
    let t = Instant::now();
    let mut restored = 0;
    for i in 0..n {
        if let Some(bytes) = store.load_session(PROTOCOL, ACCOUNT, &format!("peer{i:04}"))? {
            if Conversation::restore(key.clone(), &bytes).is_ok() {
                restored += 1;
            }
        }
    }
    if n > 0 {
        println!(
            "eager alternative: load_session + restore of all {n} sessions: {:.2} ms ({restored} restored)",
            t.elapsed().as_secs_f64() * 1e3
        );
    }

    // The per-message save: encrypt one message (as `Conversation::send` does on the send path),
    // then save the snapshot synchronously, as `engine::persist` does before the line leaves.
    let Some((mut a, _b, peer)) = last else {
        return Ok(());
    };
    let (mut snap_t, mut save_t) = (Vec::new(), Vec::new());
    let mut size = 0;
    for i in 0..saves {
        let _ = a.send(&format!("message {i} on the send path"), &mut OsRng);
        let t = Instant::now();
        let snapshot = a.snapshot();
        snap_t.push(t.elapsed());
        size = snapshot.len();
        let t = Instant::now();
        store.save_session(PROTOCOL, ACCOUNT, &peer, &snapshot)?;
        save_t.push(t.elapsed());
    }
    if saves > 0 {
        for (what, v) in [
            ("snapshot()", &mut snap_t),
            ("save_session (synced)", &mut save_t),
        ] {
            v.sort();
            let mean = v.iter().sum::<Duration>() / v.len() as u32;
            println!(
                "{what}: {saves} messages, snapshot {size} B: median {:.1} µs, mean {:.1} µs, \
                 p90 {:.1} µs, min {:.1} µs, max {:.1} µs",
                percentile(v, 0.5).as_secs_f64() * 1e6,
                mean.as_secs_f64() * 1e6,
                percentile(v, 0.9).as_secs_f64() * 1e6,
                percentile(v, 0.0).as_secs_f64() * 1e6,
                percentile(v, 1.0).as_secs_f64() * 1e6,
            );
        }
    }
    Ok(())
}
