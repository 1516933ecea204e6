//! SIP: a loopback Kamailio (Debian's `kamailio`) as registrar and MESSAGE relay, for
//! libpurple's SIMPLE protocol (`prpl-simple`), over TCP or UDP; and reading SIP from a tap.
//!
//! What a SIMPLE client needs from the rig (each one seen failing without it):
//! * its own port: SIMPLE binds its listening socket in 5060–5160 with `SO_REUSEADDR`, so two
//!   clients on one machine both get UDP 5060 and one of them never hears anything. Each
//!   client gets `/purple/network/ports_range_*` set to a port of its own
//!   ([`client_prefs`]);
//! * its own random numbers: SIMPLE draws Call-IDs, tags and branches from `rand()`, which
//!   libpurple never seeds; two clients would send identical ids and Kamailio would drop the
//!   second client's requests as retransmissions (the test client seeds it);
//! * a Contact address Kamailio can reach: SIMPLE puts `purple_network_get_my_ip()` there, the
//!   machine's first non-loopback address unless `/purple/network/public_ip` is set.
//!
//! Kamailio relays each MESSAGE to the recipient's registered Contact, which SIMPLE listens on
//! itself: over TCP on a connection Kamailio opens to it, over UDP as a datagram to it. So a
//! client's tap records everything the client gave the server (`Dir::Up`: every REGISTER and
//! MESSAGE), and what reaches the recipient does not pass its own tap.

use std::fs;
use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::servers::wait_for_port;
use super::{free_port, multiarch_lib, which, TempDir};

/// SIMPLE's transport (its `udp` account option).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SipTransport {
    /// SIMPLE's default.
    Tcp,
    Udp,
}

/// A port free for both TCP and UDP on every address a moment ago (SIMPLE binds `0.0.0.0`).
pub fn free_port_both() -> u16 {
    for _ in 0..50 {
        let p = free_port();
        if UdpSocket::bind(("0.0.0.0", p)).is_ok() {
            return p;
        }
    }
    panic!("no port free for both TCP and UDP on 127.0.0.1");
}

/// A loopback Kamailio: registrar (in memory) and MESSAGE relay on one port, TCP and UDP.
/// Every other request (SUBSCRIBE, PUBLISH, OPTIONS) is answered 405.
pub struct Kamailio {
    pub port: u16,
    child: Child,
    pub dir: TempDir,
}

impl Kamailio {
    pub fn start() -> Kamailio {
        let dir = TempDir::new("kamailio");
        let port = free_port_both();
        let conf = dir.path().join("kamailio.cfg");
        // Debian's, in this machine's multiarch directory whatever the architecture, or an
        // older layout's.
        let modules = multiarch_lib("kamailio/modules/tm.so")
            .and_then(|tm| tm.parent().map(|d| d.display().to_string()))
            .or_else(|| {
                let old = "/usr/lib/kamailio/modules";
                std::path::Path::new(old)
                    .join("tm.so")
                    .exists()
                    .then(|| old.to_owned())
            })
            .expect("kamailio's modules (tm.so) not found: install kamailio (scripts/deps.sh)");
        fs::write(
            &conf,
            format!(
                r#"#!KAMAILIO
debug=2
log_stderror=yes
children=2
tcp_children=2
auto_aliases=no
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
mpath="{modules}/"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "xlog.so"
modparam("usrloc", "db_mode", 0)

request_route {{
	if (!mf_process_maxfwd_header("10")) {{
		sl_send_reply("483", "Too Many Hops");
		exit;
	}}
	xlog("L_INFO", "$rm $fu -> $ru over $proto\n");
	if (is_method("REGISTER")) {{
		if (!save("location")) {{
			sl_reply_error();
		}}
		exit;
	}}
	if (is_method("MESSAGE")) {{
		if (!lookup("location")) {{
			sl_send_reply("404", "Not Found");
			exit;
		}}
		if (!t_relay()) {{
			sl_reply_error();
		}}
		exit;
	}}
	sl_send_reply("405", "Method Not Allowed");
}}
"#
            ),
        )
        .expect("write kamailio.cfg");
        let log = dir.path().join("kamailio.log");
        // Its own process group, so that its worker processes go with it (see Drop).
        let mut child = std::os::unix::process::CommandExt::process_group(
            Command::new(which("kamailio"))
                .arg("-f")
                .arg(&conf)
                .args(["-DD", "-E", "-Y"])
                .arg(dir.path())
                .arg("-P")
                .arg(dir.path().join("kamailio.pid"))
                .arg("-w")
                .arg(dir.path())
                .stdin(Stdio::null())
                .stdout(fs::File::create(&log).expect("kamailio log"))
                .stderr(fs::File::create(dir.path().join("kamailio.err")).expect("log")),
            0,
        )
        .spawn()
        .expect("spawn kamailio");
        // Its stderr: kamailio logs there (-E).
        let err = dir.path().join("kamailio.err");
        wait_for_port(port, "kamailio", &mut child, &err);
        Kamailio { port, child, dir }
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        // TERM lets the main process stop its workers; the group is killed in case it cannot.
        let group = format!("-{}", self.child.id());
        let kill = |signal: &str| {
            let _ = Command::new("kill")
                .args([signal, "--", &group])
                .stderr(Stdio::null())
                .status();
        };
        kill("-TERM");
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
        kill("-KILL");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The preferences a SIMPLE client needs in the rig: its own port (`port`, free for TCP and
/// UDP) and 127.0.0.1 as its address in Via and Contact.
pub fn client_prefs(port: u16) -> Vec<(String, String)> {
    [
        ("/purple/network/auto_ip", "false".to_string()),
        ("/purple/network/public_ip", "127.0.0.1".to_string()),
        ("/purple/network/ports_range_use", "true".to_string()),
        ("/purple/network/ports_range_start", port.to_string()),
        ("/purple/network/ports_range_end", port.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// One SIP request in recorded bytes: its method and body.
#[derive(Clone, Debug)]
pub struct SipRequest {
    pub method: String,
    pub content_type: String,
    pub body: String,
}

/// Every SIP request in `bytes` (a TCP stream, or datagrams one after the other), parsed by
/// `Content-Length`; responses are skipped.
pub fn sip_requests(bytes: &[u8]) -> Vec<SipRequest> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = Vec::new();
    let mut rest: &str = text.trim_start_matches(['\r', '\n']);
    while let Some(end) = rest.find("\r\n\r\n") {
        let head = &rest[..end];
        let mut length = 0usize;
        let mut content_type = String::new();
        for h in head.lines().skip(1) {
            let Some((name, value)) = h.split_once(':') else {
                continue;
            };
            let name = name.trim().to_ascii_lowercase();
            if name == "content-length" || name == "l" {
                length = value.trim().parse().unwrap_or(0);
            } else if name == "content-type" || name == "c" {
                content_type = value.trim().to_string();
            }
        }
        let body_start = end + 4;
        let body_end = (body_start + length).min(rest.len());
        let first = head.lines().next().unwrap_or("");
        if !first.starts_with("SIP/2.0") {
            out.push(SipRequest {
                method: first.split(' ').next().unwrap_or("").to_string(),
                content_type,
                body: rest.get(body_start..body_end).unwrap_or("").to_string(),
            });
        }
        rest = rest
            .get(body_end..)
            .unwrap_or("")
            .trim_start_matches(['\r', '\n']);
    }
    out
}

/// The texts of the instant messages in `bytes`: bodies of MESSAGE requests in `text/plain`
/// (typing notifications, `application/im-iscomposing+xml`, left out).
pub fn sip_messages(bytes: &[u8]) -> Vec<String> {
    sip_requests(bytes)
        .into_iter()
        .filter(|r| r.method == "MESSAGE" && r.content_type.starts_with("text/plain"))
        .map(|r| r.body)
        .collect()
}
