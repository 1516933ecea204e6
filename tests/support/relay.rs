//! The transform test protocol's server: a loopback relay for `tests/prpl/sotto-loop.c`, and the
//! builds of that protocol plugin ([`LoopPrpl`]), each standing in for a third-party plugin.
//!
//! The relay is a thread of the test process. It routes one line per message between the
//! connections logged in under each name and echoes what a connection sent: `SENT <to> self` to
//! that connection (the server echo telegram-purple writes), `SENT <to> other` to the name's
//! other connections (what purple-discord shows of your other devices). What the plugin does to
//! text (markdown, splitting, duplicates, reordering) happens in the plugin, as in the real ones;
//! the relay only carries bytes, and a [`super::Tap`] in front of it records them.
//!
//! ```text
//!   client → relay   LOGIN <name>       MSG <to> <text>
//!   relay → client   OK                 MSG <from> <text>     SENT <to> self|other <text>
//! ```
//!
//! Text is escaped on the relay's lines (`\\`, `\n`, `\r`), so one message is one line.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use super::root;

/// One build of the transform test protocol (`tests/rig.mk` builds them all with
/// `make testclient`): the protocol id Sotto sees, and the defaults of the plugin it stands in
/// for. Every behaviour can still be switched with account options in any build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoopPrpl {
    /// `prpl-sotto-loop`: nothing on by default (a protocol Sotto knows nothing about).
    Generic,
    /// `prpl-eionrobb-discord`: markdown both ways, other devices' messages shown as sent,
    /// send refused over 2,000 bytes.
    Discord,
    /// `prpl-telegram`: `send_im` returns 0 and the server's echo is written; other devices'
    /// messages shown as sent; text split into 4,096-character messages.
    Telegram,
    /// `prpl-slack`: the same echo pattern; send refused over 4,000 bytes.
    Slack,
    /// `prpl-mm-sms`: text split into 160-character messages.
    Sms,
}

impl LoopPrpl {
    /// The protocol id the build registers.
    pub fn id(self) -> &'static str {
        match self {
            LoopPrpl::Generic => "prpl-sotto-loop",
            LoopPrpl::Discord => "prpl-eionrobb-discord",
            LoopPrpl::Telegram => "prpl-telegram",
            LoopPrpl::Slack => "prpl-slack",
            LoopPrpl::Sms => "prpl-mm-sms",
        }
    }

    /// The built plugin (a missing build is a failure saying what to build).
    pub fn path(self) -> PathBuf {
        let name = match self {
            LoopPrpl::Generic => "sotto-loop.so",
            LoopPrpl::Discord => "sotto-loop-discord.so",
            LoopPrpl::Telegram => "sotto-loop-telegram.so",
            LoopPrpl::Slack => "sotto-loop-slack.so",
            LoopPrpl::Sms => "sotto-loop-sms.so",
        };
        let p = root().join("build").join(name);
        assert!(
            p.exists(),
            "{} is missing: run `make testclient` (tests/rig.mk builds the transform test protocol)",
            p.display()
        );
        p
    }
}

type Conns = Arc<Mutex<HashMap<String, Vec<(usize, TcpStream)>>>>;

/// The relay: a loopback port, every connection's name, and what it routed.
pub struct Relay {
    pub port: u16,
    conns: Conns,
    stop: Arc<AtomicBool>,
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

fn send_line(conns: &Conns, name: &str, only: Option<usize>, skip: Option<usize>, line: &str) {
    let mut map = conns.lock().expect("relay lock");
    if let Some(list) = map.get_mut(name) {
        list.retain_mut(|(id, stream)| {
            if only.is_some_and(|o| o != *id) || skip == Some(*id) {
                return true;
            }
            writeln!(stream, "{line}")
                .and_then(|_| stream.flush())
                .is_ok()
        });
    }
}

impl Relay {
    pub fn start() -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("relay bind");
        let port = listener.local_addr().expect("relay addr").port();
        let conns: Conns = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (conns2, stop2) = (conns.clone(), stop.clone());
        let next = Arc::new(AtomicUsize::new(1));
        thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = conn else { continue };
                let id = next.fetch_add(1, Ordering::SeqCst);
                let conns = conns2.clone();
                thread::spawn(move || serve(id, stream, conns));
            }
        });
        Relay { port, conns, stop }
    }

    /// The server tells every connection of `account` that it sent `text` to `to` from another
    /// device (as Discord, Skype and Facebook report what you sent from your phone).
    pub fn sent_from_other_device(&self, account: &str, to: &str, text: &str) {
        let line = format!("SENT {to} other {}", escape(text));
        send_line(&self.conns, account, None, None, &line);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wake the accept loop
        for list in self.conns.lock().expect("relay lock").values() {
            for (_, s) in list {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }
}

/// One connection: `LOGIN` first, then messages until it closes.
fn serve(id: usize, stream: TcpStream, conns: Conns) {
    let _ = stream.set_nodelay(true);
    let Ok(writer) = stream.try_clone() else {
        return;
    };
    let mut name: Option<String> = None;
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { break };
        let line = line.trim_end_matches('\r');
        if let Some(who) = line.strip_prefix("LOGIN ") {
            let Ok(mut w) = writer.try_clone() else { break };
            if writeln!(w, "OK").and_then(|_| w.flush()).is_err() {
                break;
            }
            conns
                .lock()
                .expect("relay lock")
                .entry(who.to_string())
                .or_default()
                .push((id, w));
            name = Some(who.to_string());
        } else if let (Some(from), Some(rest)) = (&name, line.strip_prefix("MSG ")) {
            let Some((to, text)) = rest.split_once(' ') else {
                continue;
            };
            // `text` is still escaped: it is passed on as it came.
            send_line(&conns, to, None, None, &format!("MSG {from} {text}"));
            send_line(
                &conns,
                from,
                Some(id),
                None,
                &format!("SENT {to} self {text}"),
            );
            send_line(
                &conns,
                from,
                None,
                Some(id),
                &format!("SENT {to} other {text}"),
            );
        }
    }
    if let Some(n) = name {
        if let Some(list) = conns.lock().expect("relay lock").get_mut(&n) {
            list.retain(|(i, _)| *i != id);
        }
    }
}
