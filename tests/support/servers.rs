//! The servers: ngircd (IRC) and prosody (XMPP) on a free loopback port, each with a temporary
//! config, killed when its handle drops. The system's own ngircd/prosody are neither used nor
//! touched.

use std::ffi::OsStr;
use std::fs;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::{free_port, kill, tail, which, TempDir};

/// Which server a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Irc,
    Xmpp,
    /// The transform test protocol (`tests/prpl/`) through the loopback [`super::Relay`].
    Loop(super::LoopPrpl),
    /// SIP (libpurple's SIMPLE) through a loopback [`super::Kamailio`].
    Sip(super::SipTransport),
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

pub(super) fn wait_for_port(port: u16, what: &str, child: &mut Child, log: &Path) {
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

/// A loopback ZNC (an IRC bouncer, as many IRC users run one) with one user, `nick`, whose one
/// network is the IRC server on `upstream`: it stays on IRC as `nick` while the user's client
/// is away, keeps what comes meanwhile, and plays it back when the client comes (ZNC's
/// defaults: the time put in front of each line, `[HH:MM:SS] `, for a client without
/// `server-time`, which libpurple never asks for). ZNC will not run as root without a 30 s
/// pause, so as root it runs as `nobody` (`setpriv`, which execs: killing it kills ZNC).
pub struct Znc {
    pub port: u16,
    pub nick: String,
    child: Child,
    pub dir: TempDir,
}

impl Znc {
    const PASSWORD: &'static str = "bouncer-secret";

    pub fn start(upstream: u16, nick: &str) -> Znc {
        let dir = TempDir::new("znc");
        let port = free_port();
        let configs = dir.path().join("configs");
        fs::create_dir_all(&configs).expect("znc configs dir");
        fs::write(
            configs.join("znc.conf"),
            format!(
                "Version = 1.8.2\n\
                 <Listener l>\n\
                 \tPort = {port}\n\
                 \tIPv4 = true\n\
                 \tIPv6 = false\n\
                 \tSSL = false\n\
                 \tHost = 127.0.0.1\n\
                 </Listener>\n\
                 <User {nick}>\n\
                 \t<Pass password>\n\
                 \t\tMethod = plain\n\
                 \t\tHash = {password}\n\
                 \t\tSalt = x\n\
                 \t</Pass>\n\
                 \tNick = {nick}\n\
                 \tAltNick = {nick}_\n\
                 \tIdent = {nick}\n\
                 \tRealName = {nick}\n\
                 \t<Network test>\n\
                 \t\tServer = 127.0.0.1 {upstream}\n\
                 \t</Network>\n\
                 </User>\n",
                password = Self::PASSWORD,
            ),
        )
        .expect("write znc.conf");
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
        let datadir = dir.path().as_os_str();
        let znc = [OsStr::new("--datadir"), datadir, OsStr::new("--foreground")];
        let child = if root {
            let status = Command::new("chown")
                .args([OsStr::new("-R"), OsStr::new("nobody"), datadir])
                .status()
                .expect("chown the znc dir");
            assert!(status.success(), "chown the znc dir");
            let _ = fs::set_permissions(
                dir.path(),
                std::os::unix::fs::PermissionsExt::from_mode(0o755),
            );
            let mut args = vec![
                OsStr::new("--reuid=nobody"),
                OsStr::new("--regid=nogroup"),
                OsStr::new("--clear-groups"),
                OsStr::new("--"),
            ];
            let bin = which("znc");
            args.push(bin.as_os_str());
            args.extend(znc);
            spawn_server("setpriv", &args, &dir, port)
        } else {
            spawn_server("znc", &znc, &dir, port)
        };
        Znc {
            port,
            nick: nick.to_string(),
            child,
            dir,
        }
    }

    /// What the user's client logs in with (IRC `PASS`): user, network, password.
    pub fn password(&self) -> String {
        format!("{}/test:{}", self.nick, Self::PASSWORD)
    }
}

impl Drop for Znc {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

/// A loopback prosody with a temporary config and data dir: plaintext c2s allowed (only on
/// 127.0.0.1), PLAIN auth in the clear, no TLS, no s2s, virtual host `localhost`. As a typical
/// deployment: offline storage, message carbons (XEP-0280) and a message archive (XEP-0313,
/// every chat message kept) are on, and group chats (XEP-0045) at `conference.localhost`.
/// Accounts are registered with `prosodyctl register` against the same config before the
/// server starts.
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
modules_enabled = {{ "roster"; "saslauth"; "disco"; "ping"; "posix"; "offline"; "carbons"; "mam" }}
default_archive_policy = true
archive_expires_after = "never"
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
Component "conference.localhost" "muc"
"#,
                pid = dir.path().join("prosody.pid").display(),
                data = data.display(),
                certs = certs.display(),
            ),
        )
        .expect("write prosody config");
        register(&conf, &data, accounts);
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

/// Registers `accounts` for prosody (before it starts): the first with `prosodyctl register`,
/// the rest by writing the file `prosodyctl` wrote for the first (`internal_plain` storage keeps
/// one `data/localhost/accounts/<name>.dat` per account), once that file is seen to be exactly
/// what this function would write. A load test's 400 accounts then take milliseconds instead of
/// a `prosodyctl` run each (0.12 s). Names outside `[a-z0-9_-]` (which prosody would encode in
/// the file name), passwords that would need quoting, or a file that does not match go through
/// `prosodyctl`.
fn register(conf: &Path, data: &Path, accounts: &[(&str, &str)]) {
    let prosodyctl = which("prosodyctl");
    let by_prosodyctl = |user: &str, password: &str| {
        let out = Command::new(&prosodyctl)
            .arg("--config")
            .arg(conf)
            .args(["register", user, "localhost", password])
            .output()
            .expect("run prosodyctl");
        assert!(
            out.status.success(),
            "prosodyctl register {user} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let dir = data.join("localhost").join("accounts");
    let plain = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    };
    let quotable = |s: &str| !s.contains(['"', '\\', '\n', '\r']);
    let file = |password: &str| format!("return {{\n\t[\"password\"] = \"{password}\";\n}};\n");
    let mut written_matches = false;
    for (i, (user, password)) in accounts.iter().enumerate() {
        if i > 0 && written_matches && plain(user) && quotable(password) {
            fs::write(dir.join(format!("{user}.dat")), file(password)).expect("write account");
            continue;
        }
        by_prosodyctl(user, password);
        if i == 0 && plain(user) && quotable(password) {
            written_matches = fs::read_to_string(dir.join(format!("{user}.dat")))
                .is_ok_and(|f| f == file(password));
        }
    }
}

impl Drop for Prosody {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}
