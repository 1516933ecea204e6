//! A two-party setup: one server, two taps, alice and bob signed on.

use std::fs;
use std::path::PathBuf;
use std::thread;

use super::{
    free_port_both, plugin_path, sip, testclient_path, Client, ClientConfig, Dir, Kamailio, Ngircd,
    Prosody, Proto, Relay, SipTransport, Tap, Znc,
};

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
    /// More XMPP accounts to create on the server, for [`Pair::another`] (IRC needs none).
    pub more_accounts: Vec<String>,
    /// Extra environment for alice's process.
    pub alice_env: Vec<(String, String)>,
    /// Extra account options for alice / bob (e.g. the transform test protocol's behaviours).
    pub alice_opts: Vec<(String, String)>,
    pub bob_opts: Vec<(String, String)>,
    /// XMPP: load the purple-xmpp-carbons plugin (XEP-0280) into every client, as many users
    /// run it beside Sotto.
    pub carbons: bool,
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
            more_accounts: Vec::new(),
            alice_env: Vec::new(),
            alice_opts: Vec::new(),
            bob_opts: Vec::new(),
            carbons: false,
        }
    }
}

/// Either server, kept alive for the pair's lifetime.
pub enum Server {
    Irc(Ngircd),
    Xmpp(Prosody),
    Loop(Relay),
    Sip(Kamailio),
}

impl Server {
    /// The port clients (through their taps) connect to.
    fn port(&self) -> u16 {
        match self {
            Server::Irc(s) => s.port,
            Server::Xmpp(s) => s.port,
            Server::Loop(s) => s.port,
            Server::Sip(s) => s.port,
        }
    }
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
    fast_irc: bool,
    also_plugins: Vec<PathBuf>,
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
                let mut accounts = vec![
                    (o.alice_nick.as_str(), PASSWORD),
                    (o.bob_nick.as_str(), PASSWORD),
                ];
                accounts.extend(o.more_accounts.iter().map(|a| (a.as_str(), PASSWORD)));
                let s = Prosody::start(&accounts);
                let p = s.port;
                (Server::Xmpp(s), p)
            }
            Proto::Loop(_) => {
                let s = Relay::start();
                let p = s.port;
                (Server::Loop(s), p)
            }
            Proto::Sip(_) => {
                let s = Kamailio::start();
                let p = s.port;
                (Server::Sip(s), p)
            }
        };
        let also_plugins: Vec<PathBuf> = if o.carbons {
            vec![carbons_plugin_path()]
        } else {
            Vec::new()
        };
        let login = |nick: &str| Login {
            nick: nick.to_string(),
            resource: "e2e".to_string(),
            also_plugins: also_plugins.clone(),
            password: None,
        };
        let make = |nick: &str, prefs: &[(String, String)], plugin: Option<PathBuf>, env, opts| {
            client_peer(
                proto,
                upstream,
                o.fast_irc,
                &login(nick),
                prefs,
                plugin,
                env,
                opts,
            )
        };
        let alice = make(
            &o.alice_nick,
            &o.alice_prefs,
            plugin.clone(),
            o.alice_env.clone(),
            &o.alice_opts,
        );
        let bob = make(
            &o.bob_nick,
            &o.bob_prefs,
            plugin.filter(|_| o.bob_plugin),
            Vec::new(),
            &o.bob_opts,
        );
        alice.client.expect_online();
        bob.client.expect_online();
        Pair {
            proto,
            alice,
            bob,
            server,
            fast_irc: o.fast_irc,
            also_plugins,
        }
    }

    /// IRC: a third client, with Sotto, that reaches the server through `bouncer` (its own
    /// tap between the client and the bouncer), signed on as the bouncer's user.
    pub fn another_through(&self, bouncer: &Znc) -> Peer {
        assert_eq!(self.proto, Proto::Irc, "a bouncer is IRC's");
        let login = Login {
            nick: bouncer.nick.clone(),
            resource: "e2e".to_string(),
            also_plugins: self.also_plugins.clone(),
            password: Some(bouncer.password()),
        };
        let peer = client_peer(
            self.proto,
            bouncer.port,
            self.fast_irc,
            &login,
            &[],
            Some(plugin_path()),
            Vec::new(),
            &[],
        );
        peer.client.expect_online();
        peer
    }

    /// The IRC server's port (a bouncer connects there).
    pub fn server_port(&self) -> u16 {
        self.server.port()
    }

    /// A third client on the same server (IRC: any nick; XMPP: an account named in
    /// [`PairOptions::more_accounts`]), with its own tap, signed on; with the plugin or not.
    pub fn another(&self, nick: &str, plugin: bool) -> Peer {
        let upstream = self.server.port();
        let plugin = plugin.then(plugin_path);
        let login = Login {
            nick: nick.to_string(),
            resource: "e2e".to_string(),
            also_plugins: self.also_plugins.clone(),
            password: None,
        };
        let peer = client_peer(
            self.proto,
            upstream,
            self.fast_irc,
            &login,
            &[],
            plugin,
            Vec::new(),
            &[],
        );
        peer.client.expect_online();
        peer
    }

    /// XMPP: another login of the account `nick` (bob on a second machine): its own client
    /// with Sotto, tap, purple directory and Sotto store, on the resource `resource`, signed
    /// on, with `prefs`. Its `address` is the full JID.
    pub fn another_login(&self, nick: &str, resource: &str, prefs: &[(String, String)]) -> Peer {
        self.another_login_with(nick, resource, prefs, true)
    }

    /// [`Pair::another_login`], with Sotto or without it (`plugin`): a client without it sends
    /// whatever is typed as is, which is how a test injects lines under the contact's account.
    pub fn another_login_with(
        &self,
        nick: &str,
        resource: &str,
        prefs: &[(String, String)],
        plugin: bool,
    ) -> Peer {
        assert_eq!(self.proto, Proto::Xmpp, "resources are XMPP's");
        let login = Login {
            nick: nick.to_string(),
            resource: resource.to_string(),
            also_plugins: self.also_plugins.clone(),
            password: None,
        };
        let mut peer = client_peer(
            self.proto,
            self.server.port(),
            self.fast_irc,
            &login,
            prefs,
            plugin.then(plugin_path),
            Vec::new(),
            &[],
        );
        peer.address = format!("{nick}@localhost/{resource}");
        peer.client.expect_online();
        peer
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

/// Who signs on: the account's name, the XMPP resource, other plugins beside Sotto.
struct Login {
    nick: String,
    resource: String,
    also_plugins: Vec<PathBuf>,
    /// The account's password, when the protocol's default is not it (a bouncer's login).
    password: Option<String>,
}

/// Where Debian's purple-xmpp-carbons package puts its plugin.
pub fn carbons_plugin_path() -> PathBuf {
    let p = PathBuf::from("/usr/lib/purple-2/carbons.so");
    assert!(
        p.exists(),
        "{} missing: install purple-xmpp-carbons (scripts/deps.sh)",
        p.display()
    );
    p
}

/// The account options of an XMPP client that connects to prosody through the tap on `port`:
/// loopback, no TLS, PLAIN in the clear.
pub fn xmpp_opts(port: u16) -> Vec<(String, String)> {
    vec![
        ("connect_server".to_string(), "127.0.0.1".to_string()),
        ("port".to_string(), port.to_string()),
        (
            "connection_security".to_string(),
            "opportunistic_tls".to_string(),
        ),
        ("auth_plain_in_clear".to_string(), "true".to_string()),
    ]
}

/// One client with its own tap to the server at `upstream`.
#[allow(clippy::too_many_arguments)]
fn client_peer(
    proto: Proto,
    upstream: u16,
    fast_irc: bool,
    login: &Login,
    prefs: &[(String, String)],
    plugin: Option<PathBuf>,
    env: Vec<(String, String)>,
    extra_opts: &[(String, String)],
) -> Peer {
    let nick = login.nick.as_str();
    let tap = match proto {
        Proto::Sip(SipTransport::Udp) => Tap::start_udp(upstream),
        _ => Tap::start(upstream),
    };
    let mut prpl = None;
    let mut proto_prefs = Vec::new();
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
            format!("{nick}@localhost/{}", login.resource),
            PASSWORD.to_string(),
            format!("{nick}@localhost"),
            xmpp_opts(tap.port),
        ),
        Proto::Sip(transport) => {
            proto_prefs = sip::client_prefs(free_port_both());
            (
                "prpl-simple",
                format!("{nick}@127.0.0.1"),
                // Kamailio asks for none, but SIMPLE does not sign on without one.
                PASSWORD.to_string(),
                format!("sip:{nick}@127.0.0.1"),
                vec![
                    ("port".to_string(), tap.port.to_string()),
                    (
                        "udp".to_string(),
                        (transport == SipTransport::Udp).to_string(),
                    ),
                    ("dopublish".to_string(), "false".to_string()),
                ],
            )
        }
        Proto::Loop(build) => {
            prpl = Some(build.path());
            (
                build.id(),
                nick.to_string(),
                String::new(),
                nick.to_string(),
                vec![("port".to_string(), tap.port.to_string())],
            )
        }
    };
    let password = login.password.clone().unwrap_or(password);
    opts.extend(extra_opts.iter().cloned());
    if proto == Proto::Irc && fast_irc {
        opts.push(("ratelimit-interval".into(), "0".into()));
    }
    // Log IMs as Pidgin users commonly do, so the tests can check what reaches the logs.
    let mut all_prefs = vec![("/purple/logging/log_ims".to_string(), "true".to_string())];
    all_prefs.extend(proto_prefs);
    all_prefs.extend(prefs.iter().cloned());
    let client = Client::start(ClientConfig {
        name: if login.resource == "e2e" {
            nick.to_string()
        } else {
            format!("{nick}-{}", login.resource)
        },
        protocol: protocol.to_string(),
        username,
        password,
        opts,
        prefs: all_prefs,
        plugin,
        prpl,
        purple_dir: None,
        also_plugins: login.also_plugins.clone(),
        env,
        also_accounts: Vec::new(),
    });
    Peer {
        client,
        tap,
        address,
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
