//! The TCP tap: a recording proxy between a client and its server. What the tap saw is what the
//! server saw; `wire.rs` reads it. On a line protocol (IRC) it can also drop lines on their way
//! to the client, as a server or a bouncer that loses them does ([`Tap::drop_down`]).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::{find, split_lines};

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
    /// The same bytes per TCP connection (up, down), in the order connections came: what one
    /// stream carried, unmixed with the others' (a load test's client has hundreds).
    per_connection: Vec<(Vec<u8>, Vec<u8>)>,
    /// Lines the server sent that the tap did not pass on ([`Tap::drop_down`]): recorded in
    /// `down` too (the server sent them).
    dropped: Vec<String>,
}

/// Says of a line on its way to the client whether the tap drops it ([`Tap::drop_down`]).
pub type DropLine = Box<dyn Fn(&str) -> bool + Send>;

/// The tap's [`DropLine`], when set.
type LineFilter = Arc<Mutex<Option<DropLine>>>;

/// A TCP proxy on a loopback port that forwards to `upstream` and records every byte in both
/// directions, across reconnects. Point a client at `tap.port` instead of the server.
pub struct Tap {
    pub port: u16,
    log: Arc<Mutex<TapLog>>,
    stop: Arc<AtomicBool>,
    drop_down: LineFilter,
    /// The client side of every connection, to cut them ([`Tap::cut`]).
    clients: Arc<Mutex<Vec<TcpStream>>>,
}

impl Tap {
    pub fn start(upstream: u16) -> Tap {
        let listener = TcpListener::bind("127.0.0.1:0").expect("tap bind");
        let port = listener.local_addr().expect("tap addr").port();
        let log = Arc::new(Mutex::new(TapLog::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let drop_down: LineFilter = Arc::default();
        let clients: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (log2, stop2, filter) = (log.clone(), stop.clone(), drop_down.clone());
        let clients2 = clients.clone();
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
                if let Ok(c) = client.try_clone() {
                    clients2.lock().expect("tap lock").push(c);
                }
                let index = {
                    let mut log = log2.lock().expect("tap lock");
                    log.connections += 1;
                    log.per_connection.push(Default::default());
                    log.per_connection.len() - 1
                };
                pump(
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                    log2.clone(),
                    (Dir::Up, None),
                    index,
                );
                pump(
                    server,
                    client,
                    log2.clone(),
                    (Dir::Down, Some(filter.clone())),
                    index,
                );
            }
        });
        Tap {
            port,
            log,
            stop,
            drop_down,
            clients,
        }
    }

    /// Cuts every connection through the tap now, as a network that goes does: the client
    /// reads the end of the stream (libpurple: "Server closed the connection").
    pub fn cut(&self) {
        for c in self.clients.lock().expect("tap lock").drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    /// From now on, lines from the server for which `drop` is true do not reach the client
    /// (`None`: every line passes again). For line protocols (IRC): while a filter is set, the
    /// bytes of a line are held until its end arrives. Lines dropped are listed by
    /// [`Tap::dropped`] and still recorded as sent by the server. TCP only.
    pub fn drop_down(&self, drop: Option<DropLine>) {
        *self.drop_down.lock().expect("tap lock") = drop;
    }

    /// Writes `line` (CR LF added) to the client of the newest connection, as if its server had
    /// sent it: a hostile server's own line. Recorded as sent down. Call it while the server is
    /// quiet (its lines and this one are not ordered). TCP only.
    pub fn inject_down(&self, line: &str) {
        let bytes = format!("{line}\r\n");
        let clients = self.clients.lock().expect("tap lock");
        let client = clients.last().expect("a connection through the tap");
        (&*client)
            .write_all(bytes.as_bytes())
            .expect("write to the client");
        let mut log = self.log.lock().expect("tap lock");
        log.down.extend_from_slice(bytes.as_bytes());
        if let Some(last) = log.per_connection.last_mut() {
            last.1.extend_from_slice(bytes.as_bytes());
        }
    }

    /// The lines dropped so far ([`Tap::drop_down`]), CR and LF stripped.
    pub fn dropped(&self) -> Vec<String> {
        self.log.lock().expect("tap lock").dropped.clone()
    }

    /// The same for datagrams (SIP over UDP): a loopback UDP port that forwards each datagram
    /// to `upstream` from a socket of its own, records it (`Dir::Up`), and passes what comes
    /// back to that socket on to the client (`Dir::Down`). A server that answers the address
    /// a request names (SIP's Via and Contact) rather than its source bypasses the tap on the
    /// way down.
    pub fn start_udp(upstream: u16) -> Tap {
        let front = UdpSocket::bind("127.0.0.1:0").expect("udp tap bind");
        let port = front.local_addr().expect("udp tap addr").port();
        let back = UdpSocket::bind("127.0.0.1:0").expect("udp tap bind");
        back.connect(("127.0.0.1", upstream))
            .expect("udp tap connect");
        for s in [&front, &back] {
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .expect("udp timeout");
        }
        let log = Arc::new(Mutex::new(TapLog::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let client: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        {
            let (front, back) = (
                front.try_clone().expect("clone"),
                back.try_clone().expect("clone"),
            );
            let (log, stop, client) = (log.clone(), stop.clone(), client.clone());
            thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                while !stop.load(Ordering::SeqCst) {
                    let Ok((n, from)) = front.recv_from(&mut buf) else {
                        continue;
                    };
                    {
                        let mut log = log.lock().expect("tap lock");
                        log.up.extend_from_slice(&buf[..n]);
                        let mut c = client.lock().expect("tap lock");
                        if *c != Some(from) {
                            log.connections += 1;
                            *c = Some(from);
                        }
                    }
                    let _ = back.send(&buf[..n]);
                }
            });
        }
        {
            let (log, stop) = (log.clone(), stop.clone());
            thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                while !stop.load(Ordering::SeqCst) {
                    let Ok(n) = back.recv(&mut buf) else {
                        continue;
                    };
                    log.lock()
                        .expect("tap lock")
                        .down
                        .extend_from_slice(&buf[..n]);
                    if let Some(to) = *client.lock().expect("tap lock") {
                        let _ = front.send_to(&buf[..n], to);
                    }
                }
            });
        }
        Tap {
            port,
            log,
            stop,
            drop_down: Arc::default(),
            clients: Arc::default(),
        }
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

    /// Waits until what was recorded in `dir` since `mark` holds `needle`; panics with `what`
    /// after `timeout`.
    pub fn wait_for(
        &self,
        mark: (usize, usize),
        dir: Dir,
        needle: &str,
        timeout: Duration,
        what: &str,
    ) {
        let deadline = std::time::Instant::now() + timeout;
        while !String::from_utf8_lossy(&self.since(mark, dir)).contains(needle) {
            assert!(std::time::Instant::now() < deadline, "{what}");
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The first line dropped ([`Tap::drop_down`]), once one is; panics with `what` after
    /// `timeout`.
    pub fn first_dropped(&self, timeout: Duration, what: &str) -> String {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(l) = self.dropped().into_iter().next() {
                return l;
            }
            assert!(std::time::Instant::now() < deadline, "{what}");
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// What each TCP connection carried in `dir`, one entry per connection in the order they
    /// came (TCP only).
    pub fn per_connection(&self, dir: Dir) -> Vec<Vec<u8>> {
        let log = self.log.lock().expect("tap lock");
        log.per_connection
            .iter()
            .map(|(up, down)| match dir {
                Dir::Up => up.clone(),
                Dir::Down => down.clone(),
            })
            .collect()
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

fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    log: Arc<Mutex<TapLog>>,
    (dir, filter): (Dir, Option<LineFilter>),
    index: usize,
) {
    thread::spawn(move || {
        let mut buf = [0u8; 16384];
        // The start of a line held while a filter is set.
        let mut held = Vec::new();
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            {
                // Record before forwarding: when the peer has seen a byte, the log has it.
                let mut log = log.lock().expect("tap lock");
                let log = &mut *log;
                let (all, mine) = match dir {
                    Dir::Up => (&mut log.up, &mut log.per_connection[index].0),
                    Dir::Down => (&mut log.down, &mut log.per_connection[index].1),
                };
                all.extend_from_slice(&buf[..n]);
                mine.extend_from_slice(&buf[..n]);
            }
            let pass = match &filter {
                Some(filter) => passed(filter, &mut held, &buf[..n], &log),
                None => buf[..n].to_vec(),
            };
            if to.write_all(&pass).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
        let _ = from.shutdown(Shutdown::Read);
    });
}

/// What of `chunk` goes on to the client: with no filter set, what was held and the chunk; with
/// one, the whole lines (up to LF) it does not drop, the rest held for the next chunk.
fn passed(filter: &LineFilter, held: &mut Vec<u8>, chunk: &[u8], log: &Mutex<TapLog>) -> Vec<u8> {
    held.extend_from_slice(chunk);
    let filter = filter.lock().expect("tap lock");
    let Some(drop) = filter.as_ref() else {
        return std::mem::take(held);
    };
    let mut out = Vec::new();
    while let Some(end) = held.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = held.drain(..=end).collect();
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if drop(text) {
            log.lock().expect("tap lock").dropped.push(text.to_owned());
        } else {
            out.extend_from_slice(&line);
        }
    }
    out
}
