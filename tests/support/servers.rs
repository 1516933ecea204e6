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
    let mut cmd = Command::new(which(program));
    cmd.args(args);
    spawn_server_cmd(cmd, program, dir, port)
}

/// [`spawn_server`] for a command already built; `program` names its logs.
fn spawn_server_cmd(mut cmd: Command, program: &str, dir: &TempDir, port: u16) -> Child {
    let log = dir.path().join(format!("{program}.log"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(fs::File::create(&log).expect("server log"))
        .stderr(fs::File::create(dir.path().join(format!("{program}.err"))).expect("server log"))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
    wait_for_port(port, program, &mut child, &log);
    child
}

/// [`spawn_server`] for a server that refuses root (or waits before running as root): as
/// root (CI), it runs as `nobody` through `setpriv`, which execs (killing it kills the
/// server), its `dir` given to `nobody`.
fn spawn_as_nobody(program: &str, args: &[&OsStr], dir: &TempDir, port: u16) -> Child {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if !root {
        return spawn_server(program, args, dir, port);
    }
    let status = Command::new("chown")
        .args([
            OsStr::new("-R"),
            OsStr::new("nobody"),
            dir.path().as_os_str(),
        ])
        .status()
        .unwrap_or_else(|e| panic!("chown the {program} dir: {e}"));
    assert!(status.success(), "chown the {program} dir");
    let _ = fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    );
    let bin = which(program);
    let mut setpriv = vec![
        OsStr::new("--reuid=nobody"),
        OsStr::new("--regid=nogroup"),
        OsStr::new("--clear-groups"),
        OsStr::new("--"),
        bin.as_os_str(),
    ];
    setpriv.extend(args);
    spawn_server("setpriv", &setpriv, dir, port)
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
    /// ngircd, or the server `SOTTO_E2E_IRCD` names (`inspircd`, `hybrid`): the IRC tests run against
    /// another server's numerics, limits and replies with the same code.
    pub fn start() -> Ngircd {
        match std::env::var("SOTTO_E2E_IRCD").as_deref() {
            Ok("inspircd") => return Self::inspircd(),
            Ok("hybrid") => return Self::hybrid(),
            Ok("ngircd") | Err(_) => {}
            Ok(other) => panic!("SOTTO_E2E_IRCD={other}: ngircd, inspircd or hybrid"),
        }
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

    /// InspIRCd 3 (Debian's `inspircd`) with its core commands only: no DNS or ident lookups,
    /// no command throttling, nicks up to 31.
    fn inspircd() -> Ngircd {
        let dir = TempDir::new("inspircd");
        let port = free_port();
        let d = dir.path().display();
        let conf = dir.path().join("inspircd.conf");
        fs::write(dir.path().join("motd"), "Sotto e2e test server\n").expect("write motd");
        fs::write(
            &conf,
            format!(
                "<server name=\"irc.sotto.test\" description=\"Sotto e2e\" network=\"SottoTest\">\n\
                 <admin name=\"Sotto\" nick=\"sotto\" email=\"nobody@localhost\">\n\
                 <bind address=\"127.0.0.1\" port=\"{port}\" type=\"clients\">\n\
                 <connect allow=\"*\" timeout=\"60\" pingfreq=\"600\" hardsendq=\"1048576\" \
                   softsendq=\"65536\" recvq=\"65536\" localmax=\"1000\" globalmax=\"1000\" \
                   threshold=\"1000\" commandrate=\"1000000\" fakelag=\"no\" useident=\"no\" \
                   resolvehostnames=\"no\">\n\
                 <files motd=\"{d}/motd\">\n\
                 <pid file=\"{d}/inspircd.pid\">\n\
                 <dns server=\"127.0.0.1\" timeout=\"1\">\n\
                 <limits maxnick=\"31\">\n\
                 <log method=\"file\" type=\"* -USERINPUT -USEROUTPUT\" level=\"default\" target=\"{d}/inspircd-own.log\">\n"
            ),
        )
        .expect("write inspircd.conf");
        let child = spawn_server(
            "inspircd",
            &[
                OsStr::new("--nofork"),
                OsStr::new("--runasroot"),
                OsStr::new("--config"),
                conf.as_os_str(),
            ],
            &dir,
            port,
        );
        Ngircd { port, child, dir }
    }

    /// ircd-hybrid 8 with its own defaults where they are limits a real network keeps (ten
    /// lines a second to a target, five nick changes in 20 s, nicks up to 30), no connection
    /// throttle (the tests reconnect at once). It refuses to run as root: as root it runs as
    /// `nobody`, as ZNC does.
    fn hybrid() -> Ngircd {
        let dir = TempDir::new("hybrid");
        let port = free_port();
        let d = dir.path().display();
        let conf = dir.path().join("ircd.conf");
        fs::write(dir.path().join("motd"), "Sotto e2e test server\n").expect("write motd");
        fs::write(
            &conf,
            format!(
                "serverinfo {{ name = \"irc.sotto.test\"; sid = \"0ST\"; description = \"Sotto e2e\";\n\
                   network_name = \"SottoTest\"; network_description = \"Sotto e2e\"; hub = no;\n\
                   default_max_clients = 10000; max_nick_length = 30; }};\n\
                 admin {{ name = \"Sotto\"; description = \"loopback\"; email = \"<nobody@localhost>\"; }};\n\
                 class {{ name = \"users\"; ping_time = 600 seconds; number_per_ip_local = 1000;\n\
                   number_per_ip_global = 1000; max_number = 10000; sendq = 1 megabyte; recvq = 8000 bytes; }};\n\
                 motd {{ mask = \"*\"; file = \"{d}/motd\"; }};\n\
                 listen {{ host = \"127.0.0.1\"; port = {port}; }};\n\
                 auth {{ user = \"*@*\"; class = \"users\"; }};\n\
                 general {{ disable_auth = yes; throttle_count = 1000; throttle_time = 0; }};\n\
                 modules {{ path = \"/usr/lib/ircd-hybrid/modules\";\n\
                   path = \"/usr/lib/ircd-hybrid/modules/autoload\"; }};\n"
            ),
        )
        .expect("write ircd.conf");
        let log = dir.path().join("ircd.log");
        let pid = dir.path().join("ircd.pid");
        let child = spawn_as_nobody(
            "ircd-hybrid",
            &[
                OsStr::new("-foreground"),
                OsStr::new("-configfile"),
                conf.as_os_str(),
                OsStr::new("-logfile"),
                log.as_os_str(),
                OsStr::new("-pidfile"),
                pid.as_os_str(),
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
        let datadir = dir.path().as_os_str();
        let child = spawn_as_nobody(
            "znc",
            &[OsStr::new("--datadir"), datadir, OsStr::new("--foreground")],
            &dir,
            port,
        );
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
    /// How to stop a server whose child is not the server itself (ejabberd's node).
    stop: Option<Box<dyn FnOnce()>>,
}

impl Prosody {
    /// prosody, or the server `SOTTO_E2E_XMPPD` names (`ejabberd`): the XMPP tests run against
    /// another server's routing, offline storage, carbons and archive with the same code.
    pub fn start(accounts: &[(&str, &str)]) -> Prosody {
        match std::env::var("SOTTO_E2E_XMPPD").as_deref() {
            Ok("ejabberd") => return Self::ejabberd(accounts),
            Ok("prosody") | Err(_) => {}
            Ok(other) => panic!("SOTTO_E2E_XMPPD={other}: prosody or ejabberd"),
        }
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
            stop: None,
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

impl Prosody {
    /// ejabberd (Debian's, 23.01) with a temporary config and database, its own Erlang node
    /// (`sotto<port>@localhost`), the modules a typical server runs (roster, offline storage,
    /// carbons, archive, stream management, rooms), plaintext c2s on loopback, its database
    /// (Mnesia) in `dir/data`, where prosody keeps its own. Accounts are registered with
    /// `ejabberdctl register` once it has started. `ejabberdctl` runs the node as the
    /// `ejabberd` user through `su`: [`Drop`] stops it with `ejabberdctl stop` and waits until
    /// it has.
    fn ejabberd(accounts: &[(&str, &str)]) -> Prosody {
        let dir = TempDir::new("ejabberd");
        let port = free_port();
        let d = dir.path();
        for sub in ["logs", "data"] {
            fs::create_dir_all(d.join(sub)).expect("ejabberd dirs");
        }
        fs::write(
            d.join("ejabberd.yml"),
            format!(
                "hosts: [localhost]\n\
                 loglevel: info\n\
                 certfiles: []\n\
                 listen:\n  - port: {port}\n    ip: \"127.0.0.1\"\n    module: ejabberd_c2s\n\
                 \x20   starttls: false\n    max_stanza_size: 1048576\n    shaper: none\n\
                 auth_method: internal\n\
                 auth_password_format: plain\n\
                 s2s_access: none\n\
                 shaper: {{}}\n\
                 access_rules: {{c2s: {{allow: all}}}}\n\
                 modules:\n  mod_roster: {{}}\n  mod_disco: {{}}\n  mod_ping: {{}}\n  mod_offline: {{}}\n\
                 \x20 mod_carboncopy: {{}}\n  mod_mam: {{default: always}}\n  mod_stream_mgmt: {{}}\n\
                 \x20 mod_muc: {{host: \"conference.localhost\"}}\n"
            ),
        )
        .expect("write ejabberd.yml");
        let node = format!("sotto{port}@localhost");
        fs::write(
            d.join("ejabberdctl.cfg"),
            format!(
                "EJABBERD_CONFIG_PATH={}\nEJABBERD_PID_PATH={}\nERLANG_NODE={node}\n",
                d.join("ejabberd.yml").display(),
                d.join("data").join("ejabberd.pid").display()
            ),
        )
        .expect("write ejabberdctl.cfg");
        // The node runs as `ejabberd`: its database and logs are its own; the configs stay
        // root's (ejabberdctl, run as root here, reads its own as a shell script).
        for sub in ["logs", "data"] {
            let status = Command::new("chown")
                .args([OsStr::new("-R"), OsStr::new("ejabberd")])
                .arg(d.join(sub))
                .status()
                .expect("chown the ejabberd dirs");
            assert!(status.success(), "chown the ejabberd dirs");
        }
        let _ = fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o755));
        let (home, name) = (d.to_path_buf(), node.clone());
        let ctl = move |args: &[&str]| {
            let mut c = Command::new(which("ejabberdctl"));
            c.arg("--ctl-config")
                .arg(home.join("ejabberdctl.cfg"))
                .arg("--logs")
                .arg(home.join("logs"))
                .arg("--spool")
                .arg(home.join("data"))
                .args(["--node", &name])
                .args(args);
            c
        };
        let child = spawn_server_cmd(ctl(&["foreground"]), "ejabberd", &dir, port);
        let stopper = ctl.clone();
        // Made before the accounts, so a failed registration still stops the node.
        let server = Prosody {
            port,
            domain: "localhost".into(),
            child,
            dir,
            stop: Some(Box::new(move || {
                let _ = stopper(&["stop"]).output();
                let _ = stopper(&["stopped"]).output();
            })),
        };
        let started = ctl(&["started"]).output().expect("ejabberdctl started");
        assert!(started.status.success(), "ejabberd did not start");
        for (user, password) in accounts {
            let out = ctl(&["register", user, "localhost", password])
                .output()
                .expect("ejabberdctl register");
            assert!(
                out.status.success(),
                "ejabberdctl register {user}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        server
    }
}

impl Drop for Prosody {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop();
        }
        kill(&mut self.child);
    }
}
