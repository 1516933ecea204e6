//! The end-to-end rig: loopback servers, a TCP tap, and headless libpurple clients.
//!
//! Everything here is plain `std`: no async runtime, one thread per tap direction and one per
//! client's stdout. See `tests/README.md` for the picture; the short form:
//!
//! ```text
//!   sotto-testclient (alice) ──► Tap ──► ngircd / prosody ◄── Tap ◄── sotto-testclient (bob)
//!        stdin: send/cmd            records every byte            stdout: WRITE/TITLE/REQUEST…
//! ```
//!
//! Servers, taps and clients are killed when their handles drop, so a failing test leaves no
//! processes behind. Set `SOTTO_E2E_KEEP=1` to keep the temporary directories (client stderr,
//! libpurple debug output with `SOTTO_TESTCLIENT_DEBUG=1`, server logs) for inspection.
#![allow(dead_code)] // each e2e_*.rs uses a different part of the rig

pub mod scenarios;

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

// ------------------------------------------------------------------ paths and processes

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

fn which(program: &str) -> PathBuf {
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
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .expect("addr")
        .port()
}

/// Start a server in the foreground with its output in `dir/<program>.log`, and wait until it
/// listens on `port`.
fn spawn_server(program: &str, args: &[&OsStr], dir: &TempDir, port: u16) -> Child {
    let log = dir.path().join(format!("{program}.log"));
    let mut child = Command::new(which(program))
        .args(args)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&log).expect("server log"))
        .stderr(fs::File::create(dir.path().join(format!("{program}.err"))).expect("server log"))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
    wait_for_port(port, program, &mut child, &log);
    child
}

fn wait_for_port(port: u16, what: &str, child: &mut Child, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{what} exited ({status}) before listening on {port}:\n{}",
                tail(log, 40)
            );
        }
        thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "{what} did not listen on 127.0.0.1:{port} within 20 s:\n{}",
        tail(log, 40)
    );
}

/// The last `n` lines of a log file, for failure messages.
pub fn tail(path: &Path, n: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

// ------------------------------------------------------------------ servers

/// Which server a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Irc,
    Xmpp,
}

/// A loopback ngircd with a temporary config: no TLS, no DNS/ident lookups, nicks up to 31.
pub struct Ngircd {
    pub port: u16,
    child: Child,
    pub dir: TempDir,
}

impl Ngircd {
    pub fn start() -> Ngircd {
        let dir = TempDir::new("ngircd");
        let port = free_port();
        let conf = dir.path().join("ngircd.conf");
        let motd = dir.path().join("motd");
        fs::write(&motd, "Sotto e2e test server\n").expect("write motd");
        fs::write(
            &conf,
            format!(
                "[Global]\n\
                 Name = irc.sotto.test\n\
                 Info = Sotto end-to-end test server\n\
                 AdminInfo1 = Sotto e2e rig\n\
                 AdminInfo2 = loopback only\n\
                 AdminEMail = nobody@localhost\n\
                 Listen = 127.0.0.1\n\
                 Ports = {port}\n\
                 MotdFile = {motd}\n\
                 [Limits]\n\
                 MaxNickLength = 31\n\
                 MaxConnectionsIP = 0\n\
                 PingTimeout = 600\n\
                 PongTimeout = 600\n\
                 [Options]\n\
                 DNS = no\n\
                 Ident = no\n\
                 PAM = no\n\
                 [SSL]\n",
                motd = motd.display()
            ),
        )
        .expect("write ngircd.conf");
        // ngircd drops root to "nobody" after reading its config: that is fine, it only needs
        // the listening socket and the MOTD, both opened before it switches.
        let _ = fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        );
        let child = spawn_server(
            "ngircd",
            &[
                OsStr::new("--nodaemon"),
                OsStr::new("--config"),
                conf.as_os_str(),
            ],
            &dir,
            port,
        );
        Ngircd { port, child, dir }
    }
}

impl Drop for Ngircd {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

/// A loopback prosody with a temporary config and data dir: plaintext c2s allowed (only on
/// 127.0.0.1), PLAIN auth in the clear, no TLS, no s2s, virtual host `localhost`. Accounts are
/// registered with `prosodyctl register` against the same config before the server starts.
///
/// Running as root: prosody refuses unless the config says `run_as_root = true` (mod_posix),
/// and prosodyctl would otherwise switch to the `prosody` user and fail to read our files.
pub struct Prosody {
    pub port: u16,
    pub domain: String,
    child: Child,
    pub dir: TempDir,
}

impl Prosody {
    pub fn start(accounts: &[(&str, &str)]) -> Prosody {
        let dir = TempDir::new("prosody");
        let port = free_port();
        let data = dir.path().join("data");
        let certs = dir.path().join("certs");
        fs::create_dir_all(&data).expect("data dir");
        fs::create_dir_all(&certs).expect("certs dir");
        let conf = dir.path().join("prosody.cfg.lua");
        fs::write(
            &conf,
            format!(
                r#"run_as_root = true
daemonize = false
pidfile = "{pid}"
data_path = "{data}"
certificates = "{certs}"
admins = {{ }}
modules_enabled = {{ "roster"; "saslauth"; "disco"; "ping"; "posix"; "offline" }}
modules_disabled = {{ "s2s"; "tls"; "c2s_direct_tls" }}
c2s_ports = {{ {port} }}
c2s_interfaces = {{ "127.0.0.1" }}
c2s_direct_tls_ports = {{ }}
s2s_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
storage = "internal"
limits = {{ c2s = {{ rate = "10mb/s"; burst = "10mb" }} }}
log = {{ {{ levels = {{ min = "info" }}, to = "console" }} }}
VirtualHost "localhost"
"#,
                pid = dir.path().join("prosody.pid").display(),
                data = data.display(),
                certs = certs.display(),
            ),
        )
        .expect("write prosody config");
        let prosodyctl = which("prosodyctl");
        for (user, password) in accounts {
            let out = Command::new(&prosodyctl)
                .arg("--config")
                .arg(&conf)
                .args(["register", user, "localhost", password])
                .output()
                .expect("run prosodyctl");
            assert!(
                out.status.success(),
                "prosodyctl register {user} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let child = spawn_server(
            "prosody",
            &[OsStr::new("--config"), conf.as_os_str(), OsStr::new("-F")],
            &dir,
            port,
        );
        Prosody {
            port,
            domain: "localhost".into(),
            child,
            dir,
        }
    }
}

impl Drop for Prosody {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

// ------------------------------------------------------------------ the tap

/// Which way bytes went through a [`Tap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Client → server: what the server received from this client.
    Up,
    /// Server → client: what the server relayed to this client.
    Down,
}

#[derive(Default)]
struct TapLog {
    up: Vec<u8>,
    down: Vec<u8>,
    connections: usize,
}

/// A TCP proxy on a loopback port that forwards to `upstream` and records every byte in both
/// directions, across reconnects. Point a client at `tap.port` instead of the server.
pub struct Tap {
    pub port: u16,
    log: Arc<Mutex<TapLog>>,
    stop: Arc<AtomicBool>,
}

impl Tap {
    pub fn start(upstream: u16) -> Tap {
        let listener = TcpListener::bind("127.0.0.1:0").expect("tap bind");
        let port = listener.local_addr().expect("tap addr").port();
        let log = Arc::new(Mutex::new(TapLog::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log2, stop2) = (log.clone(), stop.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = conn else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                log2.lock().expect("tap lock").connections += 1;
                pump(
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                    log2.clone(),
                    Dir::Up,
                );
                pump(server, client, log2.clone(), Dir::Down);
            }
        });
        Tap { port, log, stop }
    }

    /// Everything recorded so far in one direction.
    pub fn bytes(&self, dir: Dir) -> Vec<u8> {
        let log = self.log.lock().expect("tap lock");
        match dir {
            Dir::Up => log.up.clone(),
            Dir::Down => log.down.clone(),
        }
    }

    /// Bytes recorded so far, per direction: a mark to slice later traffic with [`Tap::since`].
    pub fn mark(&self) -> (usize, usize) {
        let log = self.log.lock().expect("tap lock");
        (log.up.len(), log.down.len())
    }

    /// Bytes recorded in `dir` since `mark`.
    pub fn since(&self, mark: (usize, usize), dir: Dir) -> Vec<u8> {
        let all = self.bytes(dir);
        let from = if dir == Dir::Up { mark.0 } else { mark.1 };
        all[from.min(all.len())..].to_vec()
    }

    /// How many client connections went through (a reconnect counts again).
    pub fn connections(&self) -> usize {
        self.log.lock().expect("tap lock").connections
    }

    /// Does either direction contain `needle` (as UTF-8 bytes)?
    pub fn contains(&self, needle: &str) -> bool {
        let log = self.log.lock().expect("tap lock");
        find(&log.up, needle.as_bytes()).is_some() || find(&log.down, needle.as_bytes()).is_some()
    }

    /// The recorded text of one direction split into lines (lossy UTF-8, CR stripped).
    pub fn lines(&self, dir: Dir) -> Vec<String> {
        split_lines(&self.bytes(dir))
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wake the accept loop
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, log: Arc<Mutex<TapLog>>, dir: Dir) {
    thread::spawn(move || {
        let mut buf = [0u8; 16384];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            {
                // Record before forwarding: when the peer has seen a byte, the log has it.
                let mut log = log.lock().expect("tap lock");
                match dir {
                    Dir::Up => log.up.extend_from_slice(&buf[..n]),
                    Dir::Down => log.down.extend_from_slice(&buf[..n]),
                }
            }
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
        let _ = from.shutdown(Shutdown::Read);
    });
}

/// Position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

pub fn split_lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .split('\n')
        .map(|l| l.trim_end_matches('\r').to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

// ------------------------------------------------------------------ client output lines

/// libpurple's `PurpleMessageFlags` bits that the tests look at.
pub mod flags {
    pub const SEND: u32 = 0x0001;
    pub const RECV: u32 = 0x0002;
    pub const SYSTEM: u32 = 0x0004;
    pub const AUTO_RESP: u32 = 0x0008;
    pub const NO_LOG: u32 = 0x0040;
    pub const ERROR: u32 = 0x0200;
    pub const NOTIFY: u32 = 0x2000;
}

/// One line the test client printed: a tag and its unescaped fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub tag: String,
    pub fields: Vec<String>,
}

/// A `WRITE` line: something libpurple wrote into a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub conv: String,
    pub flags: u32,
    pub who: String,
    /// The message as the conversation got it: HTML markup.
    pub html: String,
}

impl Written {
    /// What the user sees: the markup with `<br>` as newlines and entities decoded.
    pub fn shown(&self) -> String {
        html_to_text(&self.html)
    }
    pub fn has(&self, f: u32) -> bool {
        self.flags & f == f
    }
    /// Is this conversation the one with `peer`? On XMPP libpurple may name it by the full JID.
    pub fn is_with(&self, peer: &str) -> bool {
        let bare = self.conv.split('/').next().unwrap_or("");
        bare.eq_ignore_ascii_case(peer)
    }
}

impl Line {
    fn parse(raw: &str) -> Line {
        let (tag, rest) = raw.split_once(' ').unwrap_or((raw, ""));
        let arity = match tag {
            "WRITE" | "NOTIFY" => 4,
            "REQUEST" => 5,
            "CMD" | "REQUEST_ITEM" => 3,
            "TITLE" | "ERROR" | "CRITICAL" | "WARNING" | "MENU" => 2,
            "READY" | "BYE" => 0,
            _ => 1,
        };
        let fields = if arity == 0 {
            Vec::new()
        } else {
            rest.splitn(arity, ' ').map(unescape_field).collect()
        };
        Line {
            tag: tag.to_string(),
            fields,
        }
    }

    pub fn field(&self, i: usize) -> &str {
        self.fields.get(i).map(String::as_str).unwrap_or("")
    }

    pub fn written(&self) -> Option<Written> {
        if self.tag != "WRITE" {
            return None;
        }
        Some(Written {
            conv: self.field(0).to_string(),
            flags: self.field(1).parse().unwrap_or(0),
            who: self.field(2).to_string(),
            html: self.field(3).to_string(),
        })
    }
}

fn unescape_field(f: &str) -> String {
    if f == "-" {
        return String::new();
    }
    let mut out = String::with_capacity(f.len());
    let mut it = f.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('s') => out.push(' '),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

/// [`Line`] parsing, exposed for the rig's self-test.
pub fn parse_line_for_tests(raw: &str) -> Line {
    Line::parse(raw)
}

/// Escape a command argument for the test client's stdin.
pub fn escape_arg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            ' ' => out.push_str("\\s"),
            c => out.push(c),
        }
    }
    out
}

/// What a conversation shows for a message, as text: the comparison every test makes.
///
/// The plugin HTML-escapes decrypted plain text and turns `\n` into `<br>`; libpurple's own
/// plaintext path does the same, and libpurple's local echo of a sent message on an HTML
/// protocol (XMPP) wraps URLs and addresses in `<a href>` (`purple_markup_linkify`). So: the
/// `<a …>` and `</a>` tags are dropped (a link shows its text), `<br>` / `<br/>` / `<br />`
/// become `\n`, then the entities `&lt; &gt; &amp; &quot; &apos; &#NN; &#xHH;` are decoded.
/// Nothing else is touched: any other tag survives as literal `<...>`, and a peer's typed
/// `<a href>` arrives escaped, so markup that got rendered instead of shown fails an exact
/// comparison.
pub fn html_to_text(html: &str) -> String {
    let mut s = String::with_capacity(html.len());
    let lower = html.to_ascii_lowercase();
    let mut i = 0;
    while i < html.len() {
        let rest = &lower[i..];
        if let Some(b) = ["<br>", "<br/>", "<br />"]
            .iter()
            .find(|b| rest.starts_with(**b))
        {
            s.push('\n');
            i += b.len();
            continue;
        }
        if rest.starts_with("</a>") {
            i += 4;
            continue;
        }
        if rest.starts_with("<a ") {
            if let Some(end) = rest.find('>') {
                i += end + 1;
                continue;
            }
        }
        let c = html[i..].chars().next().expect("char");
        s.push(c);
        i += c.len_utf8();
    }
    decode_entities(&s)
}

fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let c = match name {
                "lt" => Some('<'),
                "gt" => Some('>'),
                "amp" => Some('&'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ if name.starts_with("#x") || name.starts_with("#X") => {
                    u32::from_str_radix(&name[2..], 16)
                        .ok()
                        .and_then(char::from_u32)
                }
                _ if name.starts_with('#') => name[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            };
            c.map(|c| (c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A Sotto fingerprint as shown to users: 8 groups of 5 hex digits separated by spaces.
pub fn find_fingerprint(text: &str) -> Option<String> {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || ":,;.()\"'".contains(c))
        .collect();
    let is_group = |w: &str| w.len() == 5 && w.chars().all(|c| c.is_ascii_hexdigit());
    words
        .windows(8)
        .find(|w| w.iter().all(|g| is_group(g)))
        .map(|w| w.join(" ").to_ascii_uppercase())
}

// ------------------------------------------------------------------ the client

/// How to start one test client.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Short name for messages and temp dirs ("alice").
    pub name: String,
    pub protocol: String,
    pub username: String,
    pub password: String,
    pub opts: Vec<(String, String)>,
    pub prefs: Vec<(String, String)>,
    pub plugin: Option<PathBuf>,
}

struct Shared {
    lines: Vec<(Line, bool)>, // (line, consumed by an expectation)
    eof: bool,
}

/// One running `sotto-testclient` process and everything it printed.
pub struct Client {
    pub cfg: ClientConfig,
    pub dir: TempDir,
    child: Mutex<Option<Child>>,
    stdin: Option<ChildStdin>,
    shared: Arc<(Mutex<Shared>, Condvar)>,
    generation: usize,
}

/// GLib CRITICALs that libpurple itself raises on a legitimate path: (protocol, message, why).
/// Anything else fails the test.
pub const KNOWN_LIBPURPLE_CRITICALS: &[(&str, &str, &str)] = &[(
    "prpl-jabber",
    "purple_conversation_get_type: assertion 'conv != NULL' failed",
    "libpurple's jabber send_im asks jabber_conv_support_custom_smileys() about the IM window \
     and passes NULL when none is open: serv_send_im (the plugin's handshake reply) before \
     the peer's window exists. Harmless (no custom smileys); gone if the plugin opens the \
     conversation before it sends",
)];

/// Default wait for one expected event. Long IRC messages at libpurple's default rate limit
/// pass their own, longer timeout.
pub const WAIT: Duration = Duration::from_secs(30);

impl Client {
    pub fn start(cfg: ClientConfig) -> Client {
        let dir = TempDir::new(&cfg.name);
        let mut c = Client {
            cfg,
            dir,
            child: Mutex::new(None),
            stdin: None,
            shared: Arc::new((
                Mutex::new(Shared {
                    lines: Vec::new(),
                    eof: false,
                }),
                Condvar::new(),
            )),
            generation: 0,
        };
        c.spawn();
        c
    }

    /// (Re)start the process on the same purple user dir.
    fn spawn(&mut self) {
        self.generation += 1;
        // SOTTO_TESTCLIENT_WRAPPER="gdb -q -batch -ex run -ex bt --args" runs each client under
        // a debugger (its output lands in the transcript, stdout.log).
        let wrapper: Vec<String> = std::env::var("SOTTO_TESTCLIENT_WRAPPER")
            .map(|w| w.split_whitespace().map(String::from).collect())
            .unwrap_or_default();
        let mut cmd = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(testclient_path());
                c
            }
            None => Command::new(testclient_path()),
        };
        // Run in the client's temp dir: a core dump (`ulimit -c unlimited`) lands there.
        cmd.current_dir(self.dir.path());
        cmd.arg(self.dir.path().join("purple"))
            .arg(&self.cfg.protocol)
            .arg(&self.cfg.username)
            .arg(&self.cfg.password);
        for (k, v) in &self.cfg.opts {
            cmd.arg("--opt").arg(format!("{k}={v}"));
        }
        for (k, v) in &self.cfg.prefs {
            cmd.arg("--pref").arg(format!("{k}={v}"));
        }
        if let Some(p) = &self.cfg.plugin {
            cmd.arg("--plugin").arg(p);
        }
        if std::env::var_os("SOTTO_TESTCLIENT_DEBUG").is_some() {
            cmd.arg("--debug");
        }
        let stderr = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.stderr_path())
            .expect("stderr log");
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn sotto-testclient");
        let stdout = child.stdout.take().expect("stdout");
        self.stdin = child.stdin.take();
        *self.child.lock().expect("child lock") = Some(child);
        let shared = Arc::new((
            Mutex::new(Shared {
                lines: Vec::new(),
                eof: false,
            }),
            Condvar::new(),
        ));
        self.shared = shared.clone();
        let transcript = self.dir.path().join("stdout.log");
        let gen = self.generation;
        thread::spawn(move || {
            let mut log = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(transcript)
                .ok();
            if let Some(f) = log.as_mut() {
                let _ = writeln!(f, "--- process {gen} ---");
            }
            for raw in BufReader::new(stdout).lines() {
                let Ok(raw) = raw else { break };
                if let Some(f) = log.as_mut() {
                    let _ = writeln!(f, "{raw}");
                }
                let (lock, cv) = &*shared;
                lock.lock()
                    .expect("client lock")
                    .lines
                    .push((Line::parse(&raw), false));
                cv.notify_all();
            }
            let (lock, cv) = &*shared;
            lock.lock().expect("client lock").eof = true;
            cv.notify_all();
        });
    }

    pub fn stderr_path(&self) -> PathBuf {
        self.dir.path().join("stderr.log")
    }

    /// The purple user dir (`~/.purple` of this client).
    pub fn purple_dir(&self) -> PathBuf {
        self.dir.path().join("purple")
    }

    /// Does any file under this client's libpurple log dir (`<user dir>/logs`) contain `needle`?
    pub fn logs_contain(&self, needle: &str) -> bool {
        fn walk(dir: &Path, needle: &[u8]) -> bool {
            let Ok(entries) = fs::read_dir(dir) else {
                return false;
            };
            entries.flatten().any(|e| {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, needle)
                } else {
                    fs::read(&p).is_ok_and(|b| find(&b, needle).is_some())
                }
            })
        }
        walk(&self.purple_dir().join("logs"), needle.as_bytes())
    }

    /// Write one raw command line to the client's stdin.
    pub fn command(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("client not running");
        if let Err(e) = writeln!(stdin, "{line}").and_then(|_| stdin.flush()) {
            panic!(
                "[{}] stdin closed ({e}); it printed:\n{}",
                self.cfg.name,
                self.dump()
            );
        }
    }

    /// The user types `text` into the IM window with `buddy` and presses Enter.
    pub fn send(&mut self, buddy: &str, text: &str) {
        self.command(&format!("send {} {}", escape_arg(buddy), escape_arg(text)));
    }

    /// Send markup as is (as if the user had used the formatting toolbar).
    pub fn send_raw(&mut self, buddy: &str, markup: &str) {
        self.command(&format!(
            "sendraw {} {}",
            escape_arg(buddy),
            escape_arg(markup)
        ));
    }

    /// Run `/<cmdline>` in the IM window with `buddy`; returns the CMD line whatever its status
    /// (0 ok, 1 failed, 2 no such command, 3 wrong args, 4 wrong protocol, 5 wrong type).
    pub fn cmd_status(&mut self, buddy: &str, cmdline: &str) -> Line {
        self.command(&format!(
            "cmd {} {}",
            escape_arg(buddy),
            escape_arg(cmdline)
        ));
        self.expect(&format!("CMD result of /{cmdline}"), WAIT, |l| {
            l.tag == "CMD"
        })
    }

    /// Run `/<cmdline>` in the IM window with `buddy`; fails unless it ran (status 0).
    pub fn cmd(&mut self, buddy: &str, cmdline: &str) -> Line {
        let line = self.cmd_status(buddy, cmdline);
        assert_eq!(
            line.field(1),
            "0",
            "[{}] /{cmdline} did not run (status {}: 2 = no such command, 3 = wrong args; error {:?}). Output:\n{}",
            self.cfg.name,
            line.field(1),
            line.field(2),
            self.dump()
        );
        line
    }

    /// Run `/<cmdline>` like [`Client::cmd`] and return what it wrote synchronously: the WRITE
    /// lines between the command and its result (consumed, so later expectations skip them).
    pub fn cmd_output(&mut self, buddy: &str, cmdline: &str) -> Vec<Written> {
        let start = self.shared.0.lock().expect("client lock").lines.len();
        self.cmd(buddy, cmdline);
        let mut g = self.shared.0.lock().expect("client lock");
        let end = (start..g.lines.len())
            .find(|&i| g.lines[i].0.tag == "CMD")
            .unwrap_or(g.lines.len());
        let mut out = Vec::new();
        for (line, used) in &mut g.lines[start..end] {
            if let Some(w) = line.written() {
                *used = true;
                out.push(w);
            }
        }
        out
    }

    pub fn pref(&mut self, path: &str, value: &str) {
        self.command(&format!("pref {} {}", escape_arg(path), escape_arg(value)));
    }

    pub fn answer(&mut self, request: &str, value: &str) {
        self.command(&format!("answer {request} {}", escape_arg(value)));
    }

    /// Round-trip through the client's stdin: every command sent before has been run.
    pub fn sync(&mut self) {
        static N: AtomicUsize = AtomicUsize::new(0);
        let token = format!("sync-{}", N.fetch_add(1, Ordering::SeqCst));
        self.command(&format!("echo {token}"));
        self.expect("ECHO barrier", WAIT, |l| {
            l.tag == "ECHO" && l.field(0) == token
        });
    }

    /// Wait for the first not-yet-consumed line that matches, consume it and return it.
    /// On timeout, panic with `what` and everything the client printed.
    pub fn expect(
        &self,
        what: &str,
        timeout: Duration,
        mut pred: impl FnMut(&Line) -> bool,
    ) -> Line {
        match self.wait(timeout, &mut pred) {
            Some(l) => l,
            None => panic!(
                "[{}] timed out after {:?} waiting for: {what}\n--- process: {} ---\n--- what it printed ---\n{}\n--- stderr (tail) ---\n{}",
                self.cfg.name,
                timeout,
                self.process_state(),
                self.dump(),
                tail(&self.stderr_path(), 30)
            ),
        }
    }

    /// "running", or how the process ended (a crash shows as a signal).
    pub fn process_state(&self) -> String {
        use std::os::unix::process::ExitStatusExt;
        match self
            .child
            .lock()
            .expect("child lock")
            .as_mut()
            .map(Child::try_wait)
        {
            None => "not running (killed by the test)".into(),
            Some(Ok(None)) => "running".into(),
            Some(Ok(Some(st))) => match st.signal() {
                Some(sig) => format!(
                    "DIED from signal {sig}{}",
                    if st.core_dumped() {
                        " (core dumped)"
                    } else {
                        ""
                    }
                ),
                None => format!("exited with {st}"),
            },
            Some(Err(e)) => format!("unknown ({e})"),
        }
    }

    /// Like [`Client::expect`] but returns `None` on timeout.
    pub fn wait(&self, timeout: Duration, pred: &mut impl FnMut(&Line) -> bool) -> Option<Line> {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.shared;
        let mut g = lock.lock().expect("client lock");
        loop {
            if let Some((line, used)) = g.lines.iter_mut().find(|(l, used)| !*used && pred(l)) {
                *used = true;
                return Some(line.clone());
            }
            let now = Instant::now();
            if now >= deadline || g.eof {
                return None;
            }
            g = cv.wait_timeout(g, deadline - now).expect("client lock").0;
        }
    }

    /// Wait for a WRITE line that matches.
    pub fn expect_write(
        &self,
        what: &str,
        timeout: Duration,
        mut pred: impl FnMut(&Written) -> bool,
    ) -> Written {
        self.expect(what, timeout, |l| l.written().is_some_and(|w| pred(&w)))
            .written()
            .expect("WRITE")
    }

    /// Wait until the conversation with `peer` shows a received message that reads exactly `text`.
    pub fn expect_received(&self, peer: &str, text: &str, timeout: Duration) -> Written {
        self.expect_write(
            &format!("a received message from {peer} reading exactly {text:?}"),
            timeout,
            |w| w.has(flags::RECV) && w.is_with(peer) && w.shown() == text,
        )
    }

    /// Wait until the conversation with `peer` shows our own message `text` as sent.
    pub fn expect_sent(&self, peer: &str, text: &str, timeout: Duration) -> Written {
        self.expect_write(
            &format!("our sent message to {peer} reading exactly {text:?}"),
            timeout,
            |w| w.has(flags::SEND) && w.is_with(peer) && w.shown() == text,
        )
    }

    /// Wait for a system line in the conversation with `peer` whose text satisfies `pred`.
    pub fn expect_system(
        &self,
        peer: &str,
        what: &str,
        timeout: Duration,
        mut pred: impl FnMut(&str) -> bool,
    ) -> Written {
        self.expect_write(what, timeout, |w| {
            w.has(flags::SYSTEM) && w.is_with(peer) && pred(&w.shown())
        })
    }

    /// All lines printed by the current process so far (consumed or not).
    pub fn lines(&self) -> Vec<Line> {
        self.shared
            .0
            .lock()
            .expect("client lock")
            .lines
            .iter()
            .map(|(l, _)| l.clone())
            .collect()
    }

    /// All WRITE lines so far.
    pub fn writes(&self) -> Vec<Written> {
        self.lines().iter().filter_map(Line::written).collect()
    }

    /// Everything the current process printed, one per line, for failure messages.
    pub fn dump(&self) -> String {
        let mut s = String::new();
        for (l, used) in &self.shared.0.lock().expect("client lock").lines {
            let mut text = format!("{} {:?}", l.tag, l.fields);
            if text.len() > 600 {
                let mut cut = 600;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
                text.push('…');
            }
            let _ = writeln!(s, "  {}{}", if *used { "✓ " } else { "  " }, text);
        }
        s
    }

    /// Start-up: wait for READY, the plugin result (when a plugin was given) and SIGNED_ON.
    pub fn expect_online(&self) {
        self.expect("READY", WAIT, |l| l.tag == "READY");
        if self.cfg.plugin.is_some() {
            let l = self.expect("PLUGIN_LOADED or PLUGIN_FAILED", WAIT, |l| {
                l.tag == "PLUGIN_LOADED" || l.tag == "PLUGIN_FAILED"
            });
            assert_eq!(
                l.tag,
                "PLUGIN_LOADED",
                "[{}] the plugin did not load: {:?}\n{}",
                self.cfg.name,
                l.fields,
                tail(&self.stderr_path(), 30)
            );
            assert_eq!(l.field(0), "core-sotto", "plugin id");
        }
        self.expect("SIGNED_ON", WAIT, |l| l.tag == "SIGNED_ON");
    }

    /// Fail if the client printed a GLib CRITICAL (a bug in the plugin or in libpurple's use of
    /// it), except the known libpurple ones in [`KNOWN_LIBPURPLE_CRITICALS`], which are noted.
    pub fn assert_no_criticals(&self) {
        let mut bad = Vec::new();
        for l in self.lines().into_iter().filter(|l| l.tag == "CRITICAL") {
            match KNOWN_LIBPURPLE_CRITICALS
                .iter()
                .find(|(proto, msg, _)| *proto == self.cfg.protocol && l.field(1) == *msg)
            {
                Some((_, msg, why)) => eprintln!(
                    "[rig] {}: known libpurple CRITICAL {msg:?}: {why}",
                    self.cfg.name
                ),
                None => bad.push(l),
            }
        }
        assert!(
            bad.is_empty(),
            "[{}] GLib CRITICALs:\n{:#?}",
            self.cfg.name,
            bad
        );
    }

    /// SIGKILL the process (no goodbye to the server, no chance to save anything).
    pub fn kill(&mut self) {
        self.stdin = None;
        if let Some(mut c) = self.child.lock().expect("child lock").take() {
            kill(&mut c);
        }
    }

    /// Start again on the same user dir (after [`Client::kill`] or [`Client::quit`]).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Ask the client to sign off and exit; wait for it.
    pub fn quit(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = writeln!(stdin, "quit");
        }
        if let Some(mut c) = self.child.lock().expect("child lock").take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                thread::sleep(Duration::from_millis(50));
            }
            kill(&mut c);
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("[rig] {} printed:\n{}", self.cfg.name, self.dump());
        }
        self.kill();
    }
}

// ------------------------------------------------------------------ a two-party setup

/// Options for [`Pair::start`].
#[derive(Clone, Debug)]
pub struct PairOptions {
    /// Load `build/sotto.so` into both clients.
    pub plugin: bool,
    /// Load the plugin into bob too (false: bob is a contact without Sotto).
    pub bob_plugin: bool,
    /// Relax libpurple's IRC rate limiter (`ratelimit-interval=0`): on by default, since the
    /// default limiter (a burst of 5, then one line per 2 s) makes long messages take long.
    pub fast_irc: bool,
    pub alice_nick: String,
    pub bob_nick: String,
    /// Extra preferences for alice / bob (set before the plugin loads).
    pub alice_prefs: Vec<(String, String)>,
    pub bob_prefs: Vec<(String, String)>,
}

impl Default for PairOptions {
    fn default() -> Self {
        PairOptions {
            plugin: true,
            bob_plugin: true,
            fast_irc: true,
            alice_nick: "alice".into(),
            bob_nick: "bob".into(),
            alice_prefs: Vec::new(),
            bob_prefs: Vec::new(),
        }
    }
}

/// Either server, kept alive for the pair's lifetime.
pub enum Server {
    Irc(Ngircd),
    Xmpp(Prosody),
}

/// One side of a [`Pair`]: its client, its tap, and the name the *other* side uses for it.
pub struct Peer {
    pub client: Client,
    pub tap: Tap,
    /// How the other client addresses this one: an IRC nick, or a bare JID.
    pub address: String,
}

/// A server, two taps and two clients (alice and bob), signed on and ready.
pub struct Pair {
    pub proto: Proto,
    pub alice: Peer,
    pub bob: Peer,
    pub server: Server,
}

pub const PASSWORD: &str = "correct horse";

impl Pair {
    pub fn start(proto: Proto, o: PairOptions) -> Pair {
        let plugin = if o.plugin { Some(plugin_path()) } else { None };
        testclient_path();
        let (server, upstream) = match proto {
            Proto::Irc => {
                let s = Ngircd::start();
                let p = s.port;
                (Server::Irc(s), p)
            }
            Proto::Xmpp => {
                let s = Prosody::start(&[(&o.alice_nick, PASSWORD), (&o.bob_nick, PASSWORD)]);
                let p = s.port;
                (Server::Xmpp(s), p)
            }
        };
        let make = |nick: &str, prefs: &[(String, String)], plugin: Option<PathBuf>| -> Peer {
            let tap = Tap::start(upstream);
            let (protocol, username, password, address, mut opts) = match proto {
                Proto::Irc => (
                    "prpl-irc",
                    format!("{nick}@127.0.0.1"),
                    String::new(),
                    nick.to_string(),
                    vec![("port".to_string(), tap.port.to_string())],
                ),
                Proto::Xmpp => (
                    "prpl-jabber",
                    format!("{nick}@localhost/e2e"),
                    PASSWORD.to_string(),
                    format!("{nick}@localhost"),
                    vec![
                        ("connect_server".to_string(), "127.0.0.1".to_string()),
                        ("port".to_string(), tap.port.to_string()),
                        (
                            "connection_security".to_string(),
                            "opportunistic_tls".to_string(),
                        ),
                        ("auth_plain_in_clear".to_string(), "true".to_string()),
                    ],
                ),
            };
            if proto == Proto::Irc && o.fast_irc {
                opts.push(("ratelimit-interval".into(), "0".into()));
            }
            // Log IMs as Pidgin users commonly do, so the tests can check what reaches the logs.
            let mut all_prefs = vec![("/purple/logging/log_ims".to_string(), "true".to_string())];
            all_prefs.extend(prefs.iter().cloned());
            let client = Client::start(ClientConfig {
                name: nick.to_string(),
                protocol: protocol.to_string(),
                username,
                password,
                opts,
                prefs: all_prefs,
                plugin,
            });
            Peer {
                client,
                tap,
                address,
            }
        };
        let alice = make(&o.alice_nick, &o.alice_prefs, plugin.clone());
        let bob = make(&o.bob_nick, &o.bob_prefs, plugin.filter(|_| o.bob_plugin));
        alice.client.expect_online();
        bob.client.expect_online();
        Pair {
            proto,
            alice,
            bob,
            server,
        }
    }

    /// Both clients' libpurple logs contain `needle` (what: a name for the failure message).
    pub fn assert_logged(&self, needle: &str, what: &str) {
        for c in [&self.alice.client, &self.bob.client] {
            assert!(
                c.logs_contain(needle),
                "[{}] the log lacks {what} ({needle:?})",
                c.cfg.name
            );
        }
    }

    /// Both clients: no GLib CRITICALs so far.
    pub fn assert_no_criticals(&self) {
        self.alice.client.assert_no_criticals();
        self.bob.client.assert_no_criticals();
    }
}

impl Drop for Pair {
    /// On a failure (or with `SOTTO_E2E_KEEP`), save what each tap recorded next to the
    /// client's transcripts: `tap-up.log` (what the server received), `tap-down.log`.
    fn drop(&mut self) {
        if !thread::panicking() && std::env::var_os("SOTTO_E2E_KEEP").is_none() {
            return;
        }
        for peer in [&self.alice, &self.bob] {
            let dir = peer.client.dir.path();
            let _ = fs::write(dir.join("tap-up.log"), peer.tap.bytes(Dir::Up));
            let _ = fs::write(dir.join("tap-down.log"), peer.tap.bytes(Dir::Down));
        }
    }
}

// ------------------------------------------------------------------ assertions on the wire

/// Assert that no byte sequence of `needle` went through either tap, in either direction.
/// `what` names the message for the failure text.
pub fn assert_not_on_wire(taps: &[&Tap], needle: &str, what: &str) {
    for (i, tap) in taps.iter().enumerate() {
        for dir in [Dir::Up, Dir::Down] {
            let bytes = tap.bytes(dir);
            if let Some(at) = find(&bytes, needle.as_bytes()) {
                let from = at.saturating_sub(120);
                let to = (at + needle.len() + 120).min(bytes.len());
                panic!(
                    "PLAINTEXT ON THE WIRE: {what}: {needle:?} found in tap {i} ({dir:?}) at byte {at}:\n…{}…",
                    String::from_utf8_lossy(&bytes[from..to])
                );
            }
        }
    }
}

/// Distinctive pieces of `text` to look for on the wire: each contains a space (which never
/// occurs inside a base64url run), up to `n` pieces spread over the text, each ≤ 24 bytes and
/// free of characters a protocol would escape (`<>&"'` and newline), so the raw form is what
/// a leak would look like on IRC and inside an XMPP `<body>`.
pub fn needles(text: &str, n: usize) -> Vec<String> {
    let mut pairs: Vec<String> = Vec::new();
    for seg in text.split(|c: char| "<>&\"'\n".contains(c)) {
        let words: Vec<&str> = seg.split(' ').filter(|w| !w.is_empty()).collect();
        for p in words.windows(2) {
            let mut s = format!("{} {}", p[0], p[1]);
            let mut cut = s.len().min(24);
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
            pairs.push(s);
        }
    }
    let step = (pairs.len() / n.max(1)).max(1);
    let mut out: Vec<String> = pairs.iter().step_by(step).take(n).cloned().collect();
    if let Some(last) = pairs.last() {
        if !out.contains(last) {
            out.push(last.clone());
        }
    }
    out
}

/// A Sotto line on an IRC wire: the payload of a PRIVMSG whose text starts with `?S1`.
#[derive(Clone, Debug)]
pub struct IrcSottoLine {
    /// The whole IRC line as it crossed the wire (without CRLF).
    pub raw: String,
    /// The PRIVMSG target.
    pub target: String,
    /// The Sotto type letter after `?S1`.
    pub kind: char,
    /// The text after `:` (the Sotto wire line).
    pub payload: String,
}

/// All PRIVMSG lines carrying Sotto text in raw IRC `bytes` (either direction).
pub fn irc_sotto_lines(bytes: &[u8]) -> Vec<IrcSottoLine> {
    split_lines(bytes)
        .into_iter()
        .filter_map(|raw| {
            let body = if raw.starts_with(':') {
                raw.split_once(' ')?.1
            } else {
                raw.as_str()
            };
            let rest = body.strip_prefix("PRIVMSG ")?;
            let (target, text) = rest.split_once(" :")?;
            let kind = text.strip_prefix("?S1")?.chars().next()?;
            Some(IrcSottoLine {
                raw: raw.clone(),
                target: target.to_string(),
                kind,
                payload: text.to_string(),
            })
        })
        .collect()
}

/// Sotto wire lines in raw XMPP bytes: the text of each `<body>` that starts with `?S1`.
pub fn xmpp_sotto_bodies(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = Vec::new();
    let mut rest: &str = &text;
    while let Some(i) = rest.find("<body>") {
        rest = &rest[i + 6..];
        if let Some(j) = rest.find("</body>") {
            if rest[..j].starts_with("?S1") {
                out.push(rest[..j].to_string());
            }
            rest = &rest[j..];
        }
    }
    out
}

/// Log a timing line for the suite's budget (`make e2e` shows them with --nocapture).
pub fn note(what: &str, since: Instant) {
    eprintln!("[rig] {what}: {:.1} s", since.elapsed().as_secs_f64());
}

// ------------------------------------------------------------------ Sotto lines (docs/PROTOCOL.md)

/// Every Sotto wire line a client gave the server (`Dir::Up`) on this tap, in order, whichever
/// the protocol: IRC PRIVMSG payloads or XMPP `<body>` texts.
pub fn sotto_lines(proto: Proto, bytes: &[u8]) -> Vec<String> {
    match proto {
        Proto::Irc => irc_sotto_lines(bytes)
            .into_iter()
            .map(|l| l.payload)
            .collect(),
        Proto::Xmpp => xmpp_sotto_bodies(bytes),
    }
}

/// Whole Sotto lines: `?S1P` fragments (PROTOCOL.md §6: `?S1P` ‖ id (4) ‖ index (2) ‖ total (2)
/// ‖ chunk, numbers in base64url digits) reassembled, every other line as is. Incomplete
/// fragment sets are left out.
pub fn reassemble(lines: &[String]) -> Vec<String> {
    fn num(s: &str) -> Option<usize> {
        s.bytes()
            .try_fold(0usize, |acc, c| Some(acc * 64 + b64u_value(c)? as usize))
    }
    let mut out = Vec::new();
    let mut parts: std::collections::HashMap<String, (usize, Vec<Option<String>>)> =
        Default::default();
    for l in lines {
        let Some(rest) = l.strip_prefix("?S1P") else {
            out.push(l.clone());
            continue;
        };
        if rest.len() < 8 {
            continue;
        }
        let (id, index, total) = (&rest[..4], num(&rest[4..6]), num(&rest[6..8]));
        let (Some(index), Some(total)) = (index, total) else {
            continue;
        };
        if index >= total {
            continue;
        }
        let entry = parts
            .entry(id.to_string())
            .or_insert_with(|| (total, vec![None; total]));
        if entry.0 != total {
            continue;
        }
        entry.1[index] = Some(rest[8..].to_string());
        if entry.1.iter().all(Option::is_some) {
            let whole: String = entry.1.iter().flatten().map(String::as_str).collect();
            parts.remove(id);
            out.push(whole);
        }
    }
    out
}

fn b64u_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    }
}

/// base64url without padding.
pub fn b64u_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        acc = (acc << 6) | u32::from(b64u_value(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The header of a data message `?S1D` (PROTOCOL.md §2: `sid (4) ‖ rk (32) ‖ pn varint ‖
/// n varint ‖ ct`): what determines its message key and nonce is (sid, rk, n).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DataHeader {
    pub sid: Vec<u8>,
    pub rk: Vec<u8>,
    pub n: u64,
}

/// Parse a whole `?S1D` line into its header and ciphertext.
pub fn parse_data(line: &str) -> Option<(DataHeader, Vec<u8>)> {
    let body = b64u_decode(line.strip_prefix("?S1D")?.split_whitespace().next()?)?;
    let (sid, rest) = (body.get(..4)?, body.get(4..)?);
    let (rk, mut rest) = (rest.get(..32)?, rest.get(32..)?);
    let mut varint = || -> Option<u64> {
        let mut v = 0u64;
        for i in 0..5 {
            let b = *rest.first()?;
            rest = &rest[1..];
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    };
    let _pn = varint()?;
    let n = varint()?;
    Some((
        DataHeader {
            sid: sid.to_vec(),
            rk: rk.to_vec(),
            n,
        },
        rest.to_vec(),
    ))
}
