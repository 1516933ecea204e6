//! Paths, temporary directories and child processes: what the rest of the rig stands on.
//!
//! A missing `build/sotto-testclient`, `build/sotto.so`, `ngircd` or `prosody` is a loud failure
//! that says what to build or install, never a skip.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Instant;

/// The repository root (where `build/` lives).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `build/sotto-testclient`, which `make testclient` builds. Missing → a loud failure.
pub fn testclient_path() -> PathBuf {
    let p = root().join("build/sotto-testclient");
    assert!(
        p.exists(),
        "{} is missing: run `make testclient` (or `make e2e`, which builds it)",
        p.display()
    );
    p
}

/// `build/sotto.so`, the plugin under test. Missing → a loud failure, never a skip.
pub fn plugin_path() -> PathBuf {
    let p = std::env::var_os("SOTTO_PLUGIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("build/sotto.so"));
    assert!(
        p.exists(),
        "{} is missing: run `make build` (or `make e2e`, which builds it)",
        p.display()
    );
    p.canonicalize().unwrap_or(p)
}

pub(super) fn which(program: &str) -> PathBuf {
    for dir in [
        "/usr/sbin",
        "/usr/bin",
        "/usr/local/sbin",
        "/usr/local/bin",
        "/sbin",
        "/bin",
    ] {
        let p = Path::new(dir).join(program);
        if p.exists() {
            return p;
        }
    }
    panic!("{program} is not installed: run `make e2e` (it installs the Debian packages the rig needs)");
}

/// A fresh directory under the system temp dir, removed on drop unless `SOTTO_E2E_KEEP` is set
/// or the thread is panicking (then its path is printed, so the logs can be read).
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("sotto-e2e-{}-{n}-{label}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if thread::panicking() || std::env::var_os("SOTTO_E2E_KEEP").is_some() {
            eprintln!("[rig] kept {}", self.0.display());
        } else {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// A loopback port that was free a moment ago.
///
/// The port is below the kernel's ephemeral range (`ip_local_port_range`) and never handed out
/// twice by one test process: whoever binds it binds it a moment later, and meanwhile an
/// outgoing connection (a tap's, Kamailio's, another client's) could take a port from the
/// ephemeral range as its local port. Seen once in CI: SIMPLE's "Unable to create listen
/// socket" for the port picked for alice. It is checked free on every address (`0.0.0.0`), as
/// libpurple's `purple_network_listen_range` binds it (a socket on another address holding it
/// makes that bind fail while one on 127.0.0.1 succeeds).
pub fn free_port() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    const LOWEST: usize = 10_000;
    let ephemeral = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<usize>().ok())
        .unwrap_or(32_768)
        .min(usize::from(u16::MAX));
    if ephemeral < LOWEST + 1_000 {
        return TcpListener::bind("127.0.0.1:0")
            .expect("bind 127.0.0.1:0")
            .local_addr()
            .expect("addr")
            .port();
    }
    let span = ephemeral - LOWEST;
    if NEXT.load(Ordering::SeqCst) == 0 {
        // Where this process starts: its pid and the clock, so test binaries run one after
        // another start far apart.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as usize)
            .unwrap_or(0);
        let start = (std::process::id() as usize)
            .wrapping_mul(7_919)
            .wrapping_add(nanos)
            % span;
        let _ = NEXT.compare_exchange(0, start + 1, Ordering::SeqCst, Ordering::SeqCst);
    }
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let port = (LOWEST + n % span) as u16;
        if TcpListener::bind(("0.0.0.0", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free on every address between {LOWEST} and {ephemeral}");
}

/// The last `n` lines of a log file, for failure messages.
pub fn tail(path: &Path, n: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

pub(super) fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Log a timing line for the suite's budget (`make e2e` shows them with --nocapture).
pub fn note(what: &str, since: Instant) {
    eprintln!("[rig] {what}: {:.1} s", since.elapsed().as_secs_f64());
}

/// `rel` under this machine's multiarch library directory (`/usr/lib/x86_64-linux-gnu`,
/// `/usr/lib/aarch64-linux-gnu`, ...: never another architecture's), if it is there.
pub fn multiarch_lib(rel: &str) -> Option<PathBuf> {
    fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|d| {
            d.file_name()
                .to_string_lossy()
                .starts_with(&format!("{}-linux-", std::env::consts::ARCH))
        })
        .map(|d| d.path().join(rel))
        .find(|p| p.exists())
}

/// libfaketime, preloaded into a client (alice's, in the tests of the 120-second timeouts): its
/// clock is `+N s` from the file `dir/offset`, read at every call, so the test can move that
/// client's wall clock forward while it runs (glib's monotonic timers are left alone).
/// Debian's `libfaketime`, installed by `scripts/deps.sh`, in this machine's multiarch
/// directory (`/usr/lib/x86_64-linux-gnu`, `/usr/lib/aarch64-linux-gnu`, ...: not another
/// architecture's, which a preload would refuse).
pub fn faketime_env(dir: &Path) -> Vec<(String, String)> {
    let lib = multiarch_lib("faketime/libfaketime.so.1")
        .map(|p| p.display().to_string())
        .expect(
            "/usr/lib/*/faketime/libfaketime.so.1 missing: scripts/deps.sh installs libfaketime",
        );
    let offset = dir.join("offset");
    fs::write(&offset, "+0\n").expect("offset file");
    [
        ("LD_PRELOAD", lib),
        ("FAKETIME_TIMESTAMP_FILE", offset.display().to_string()),
        ("FAKETIME_NO_CACHE", "1".into()),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1".into()),
    ]
    .map(|(k, v)| (k.to_string(), v))
    .to_vec()
}
