//! The test client process driver: one `sotto-testclient` (tests/client/) per [`Client`], its
//! stdin written as a user types, its stdout collected as [`Line`]s that expectations consume.

use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::{escape_arg, find, flags, kill, tail, testclient_path, Line, TempDir, Written};

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
    /// A protocol plugin to load first (the transform test protocol, `--prpl`).
    pub prpl: Option<PathBuf>,
    /// Other libpurple plugins loaded before Sotto, as a user runs them beside it (the
    /// purple-xmpp-carbons plugin).
    pub also_plugins: Vec<PathBuf>,
    /// Use this purple user dir instead of one of its own (a second process on one profile).
    pub purple_dir: Option<PathBuf>,
    /// Extra environment for the process.
    pub env: Vec<(String, String)>,
    /// More accounts signed on by the same process, with the same password and options (a
    /// load test's many conversations); commands reach them with [`Client::send_as`].
    pub also_accounts: Vec<String>,
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
pub const KNOWN_LIBPURPLE_CRITICALS: &[(&str, &str, &str)] = &[
    (
        "prpl-jabber",
        "purple_conversation_get_type: assertion 'conv != NULL' failed",
        "libpurple's jabber send_im asks jabber_conv_support_custom_smileys() about the IM window \
     and passes NULL when none is open: serv_send_im (the plugin's handshake reply) before \
     the peer's window exists. Harmless (no custom smileys); gone if the plugin opens the \
     conversation before it sends",
    ),
    (
        "prpl-jabber",
        "jabber_presence_parse: assertion 'presence.jb != NULL' failed",
        "libpurple's own check on a presence from an address it cannot parse (a hostile \
         server's, injected by a test): it drops the stanza",
    ),
];

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
        cmd.arg(self.purple_dir())
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
        if let Some(p) = &self.cfg.prpl {
            cmd.arg("--prpl").arg(p);
        }
        for p in &self.cfg.also_plugins {
            cmd.arg("--also-plugin").arg(p);
        }
        for a in &self.cfg.also_accounts {
            cmd.arg("--also-account").arg(a);
        }
        if std::env::var_os("SOTTO_TESTCLIENT_DEBUG").is_some() {
            cmd.arg("--debug");
        }
        let stderr = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.stderr_path())
            .expect("stderr log");
        // The client takes its locale from the environment, as Pidgin and Finch do: one known
        // locale for every client whatever the caller's (libpurple's own lines are translated,
        // and tests read some of them), unless the test gives its own (`cfg.env`, after).
        cmd.env("LC_ALL", "C.UTF-8").env_remove("LANGUAGE");
        cmd.envs(self.cfg.env.iter().map(|(k, v)| (k, v)));
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
        self.cfg
            .purple_dir
            .clone()
            .unwrap_or_else(|| self.dir.path().join("purple"))
    }

    /// This client's Sotto store, opened by the test (the client must not be running: the
    /// store is one writer per profile), and the account name its rows are saved under (an
    /// XMPP username without its resource).
    pub fn sotto_store(&self) -> (sotto::store::Store, String) {
        let store = sotto::store::Store::open(&self.purple_dir().join("sotto")).expect("store");
        let username = &self.cfg.username;
        let account = username.split('/').next().unwrap_or(username).to_owned();
        (store, account)
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

    /// Hands `text` for `to` to `serv_send_im` as `verb` does (`servsend`: an auto-reply's
    /// call; `pounce`: a buddy pounce's, written as sent first; `autoreply`: all of an
    /// auto-reply), waits for its result and returns what `send_im` returned.
    pub fn serv_send(&mut self, verb: &str, to: &str, text: &str) -> i32 {
        self.command(&format!("{verb} {} {}", escape_arg(to), escape_arg(text)));
        let prefix = format!("{verb} ");
        // "ECHO <verb> RC" (the rig reads an ECHO's fields as one).
        let echo = self.expect(&format!("{verb}'s result"), Duration::from_secs(30), |l| {
            l.tag == "ECHO" && l.field(0).starts_with(&prefix)
        });
        echo.field(0)[prefix.len()..]
            .trim()
            .parse()
            .expect("a number")
    }

    /// Writes `markup` into the window with `peer` as received from `peer`, the way a protocol
    /// plugin does itself without `serv_got_im` (`imwrite`), and waits until it was written.
    pub fn im_write(&mut self, peer: &str, markup: &str) {
        self.command(&format!(
            "imwrite {} {}",
            escape_arg(peer),
            escape_arg(markup)
        ));
        self.expect("imwrite's write", Duration::from_secs(30), |l| {
            l.tag == "ECHO" && l.field(0) == "imwrite"
        });
    }

    /// [`Client::send`] as the account `username` (one of [`ClientConfig::also_accounts`], or
    /// the first account's username).
    pub fn send_as(&mut self, username: &str, buddy: &str, text: &str) {
        self.command(&format!(
            "as {username} send {} {}",
            escape_arg(buddy),
            escape_arg(text)
        ));
    }

    /// The process id while it runs (for `/proc` figures).
    pub fn pid(&self) -> Option<u32> {
        self.child
            .lock()
            .expect("child lock")
            .as_ref()
            .map(Child::id)
    }

    /// The user types `text` into the IM window with `buddy` and presses Enter.
    pub fn send(&mut self, buddy: &str, text: &str) {
        self.command(&format!("send {} {}", escape_arg(buddy), escape_arg(text)));
    }

    /// The last title the client printed for the window with `peer` (an XMPP window named by a
    /// full JID counts for its bare JID).
    pub fn last_title(&self, peer: &str) -> Option<String> {
        self.lines()
            .into_iter()
            .rev()
            .find(|l| l.tag == "TITLE" && l.field(0).split('/').next() == Some(peer))
            .map(|l| l.field(1).to_string())
    }

    /// [`Client::send`], typed in the other IM window named `buddy` when two are (the one
    /// `send` does not pick: a window left over from a rename); an `ERROR` line when there is
    /// none.
    pub fn send_in_other_window(&mut self, buddy: &str, text: &str) {
        self.command(&format!(
            "sendother {} {}",
            escape_arg(buddy),
            escape_arg(text)
        ));
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

    /// Run `/<cmdline>` in the group chat `room`'s window; returns the CMD line whatever its
    /// status (as [`Client::cmd_status`]).
    pub fn chat_cmd_status(&mut self, room: &str, cmdline: &str) -> Line {
        self.command(&format!("chatcmd {room} {}", escape_arg(cmdline)));
        self.expect(&format!("CMD result of /{cmdline} in {room}"), WAIT, |l| {
            l.tag == "CMD" && l.field(0) == room
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

    /// Asks to see `who`'s presence (an XMPP roster add with a subscription request); the
    /// contact's test client allows it by itself (an `AUTHORIZED` line there). Answered with
    /// an `ECHO subscribe` line.
    pub fn subscribe(&mut self, who: &str) {
        self.command(&format!("subscribe {}", escape_arg(who)));
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

    /// Asserts the client process is still running (not crashed, not exited).
    pub fn assert_running(&self) {
        let state = self.process_state();
        assert!(
            state.contains("running"),
            "{}'s client died: {state}",
            self.cfg.name
        );
    }

    /// How many lines written so far show `needle`.
    pub fn writes_showing(&self, needle: &str) -> usize {
        self.shown_with(needle).len()
    }

    /// What every line written so far with `needle` in it shows (consumed or not).
    pub fn shown_with(&self, needle: &str) -> Vec<String> {
        self.writes()
            .iter()
            .map(Written::shown)
            .filter(|t| t.contains(needle))
            .collect()
    }

    /// How many message boxes (`NOTIFY`) so far have `needle` in a field.
    pub fn boxes_with(&self, needle: &str) -> usize {
        self.lines()
            .iter()
            .filter(|l| l.is_box_with(needle))
            .count()
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

    /// Types `text` in the group chat `room`'s window, as Pidgin's entry hands on a line that
    /// is no command libpurple ran (the test client's `chatsend`).
    pub fn chatsend(&mut self, room: &str, text: &str) {
        self.command(&format!("chatsend {room} {}", escape_arg(text)));
    }

    /// Wait until the conversation `conv` (a room, a channel, a contact) shows a line that
    /// contains `text`: one of Sotto's saying it was NOT sent when `refused`, any other write
    /// otherwise.
    pub fn expect_in(&self, conv: &str, text: &str, refused: bool) -> Written {
        let what = format!("{conv}: {text:?}{}", if refused { " NOT sent" } else { "" });
        self.expect_write(&what, WAIT, |w| {
            w.is_with(conv)
                && w.shown().contains(text)
                && (!refused || (w.has(flags::SYSTEM) && w.shown().contains("NOT sent")))
        })
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

    /// Tools > Plugins: Sotto unloaded.
    pub fn unload_plugin(&mut self) {
        self.command("unload");
        self.expect("the plugin unloaded", WAIT, |l| l.tag == "PLUGIN_UNLOADED");
    }

    /// Tools > Plugins: Sotto loaded.
    pub fn load_plugin(&mut self) {
        self.command("load");
        self.expect("the plugin loaded", WAIT, |l| l.tag == "PLUGIN_LOADED");
    }

    /// Close the window with `peer` (Pidgin's close button) and wait until it is closed.
    pub fn close_window(&mut self, peer: &str) {
        self.command(&format!("close {}", escape_arg(peer)));
        self.expect("the window closed", WAIT, |l| {
            l.tag == "ECHO" && l.field(0) == "close"
        });
    }

    /// Turn logging of the window with `peer` on or off as Pidgin does at a switch between
    /// conversations merged into one tab (and Finch for every conversation with one contact):
    /// whether the window logs right after.
    pub fn set_logging(&mut self, peer: &str, on: bool) -> bool {
        self.set_logging_in("logging", peer, on)
    }

    /// [`Self::set_logging`] in the other window named `peer`, the one a lookup by name does
    /// not find (left over from a rename onto a name it still carries).
    pub fn set_logging_in_other_window(&mut self, peer: &str, on: bool) -> bool {
        self.set_logging_in("loggingother", peer, on)
    }

    fn set_logging_in(&mut self, verb: &str, peer: &str, on: bool) -> bool {
        self.command(&format!("{verb} {} {}", escape_arg(peer), u8::from(on)));
        // One field: `ECHO` lines are read with arity 1 ("logging 0").
        let echo = self.expect("logging set", WAIT, |l| {
            l.tag == "ECHO" && l.field(0).starts_with(&format!("{verb} "))
        });
        echo.field(0) == format!("{verb} 1")
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

    /// How many IM windows named `peer` are open, and whether libpurple's lookup by name (where
    /// the contact's next message goes) finds one of them.
    pub fn windows_named(&mut self, peer: &str) -> (usize, bool) {
        self.command(&format!("windows {}", escape_arg(peer)));
        let echo = self.expect("the windows counted", WAIT, |l| {
            l.tag == "ECHO" && l.field(0).starts_with("windows ")
        });
        let f: Vec<&str> = echo.field(0).split(' ').collect();
        (
            f.get(1).and_then(|n| n.parse().ok()).expect("a count"),
            f.get(2) == Some(&"1"),
        )
    }

    /// The user edits the account's username to `name` (Pidgin's Modify Account) while its
    /// windows are open and it is connected.
    pub fn set_username(&mut self, name: &str) {
        self.command(&format!("setusername {}", escape_arg(name)));
        self.expect("the username set", WAIT, |l| {
            l.tag == "ECHO" && l.field(0).starts_with("setusername ")
        });
    }

    /// Deletes the client's account (`deleteaccount`: Manage Accounts > Delete) and waits until
    /// it is done; only `quit`, `answer`, `dismiss` and `echo` work after it.
    pub fn delete_account(&mut self) {
        self.command("deleteaccount");
        self.expect("the account deleted", WAIT, |l| {
            l.tag == "ECHO" && l.field(0) == "deleteaccount"
        });
    }

    /// Takes the client's account offline (libpurple disconnects it) and waits until it has.
    pub fn go_offline(&mut self) {
        self.command("offline");
        self.expect("offline", WAIT, |l| {
            l.tag == "ECHO" && l.field(0) == "offline"
        });
    }

    /// Signs the client's account on again after [`Client::go_offline`] (the same process,
    /// plugins and windows) and waits until it is connected.
    pub fn go_online(&mut self) {
        self.command("online");
        self.expect("online", WAIT, |l| {
            l.tag == "ECHO" && l.field(0) == "online"
        });
        self.expect("SIGNED_ON again", WAIT, |l| l.tag == "SIGNED_ON");
    }

    /// Asserts that nothing written into any window so far shows `needle`.
    pub fn assert_no_write_shows(&self, needle: &str, label: &str) {
        let shown: Vec<String> = self
            .writes()
            .iter()
            .map(Written::shown)
            .filter(|t| t.contains(needle))
            .collect();
        assert!(shown.is_empty(), "{label}: {shown:#?}");
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

/// The IM window's menus with `buddy` as the client lists them now: `More/...` (the buddy menu,
/// Pidgin's Conversation > More) and `Options/...` paths.
pub fn menu_items(c: &mut Client, buddy: &str) -> Vec<String> {
    listed_menus(c, "menu", buddy)
}

/// What the client's `verb` (`menu`, `menuopen`) lists for `buddy`'s window.
fn listed_menus(c: &mut Client, verb: &str, buddy: &str) -> Vec<String> {
    let before = c.lines().len();
    c.command(&format!("{verb} {}", escape_arg(buddy)));
    c.sync();
    c.lines()
        .iter()
        .skip(before)
        .filter(|l| l.tag == "MENU")
        .map(|l| l.field(1).to_string())
        .collect()
}

/// Build the IM window's menus with `buddy` as Pidgin does, keep them, and list them: Options/...
/// for the conversation, More/... for the buddy, or for a buddy made up for the window when
/// the contact is not in the buddy list (Pidgin's, never added to it, never renamed).
/// [`menu_pick`] runs one of them later, on the objects they were built for.
pub fn menu_open(c: &mut Client, buddy: &str) -> Vec<String> {
    listed_menus(c, "menuopen", buddy)
}

/// Build Finch's buddy-list menu of `buddy`'s contact row (at the contact; its items are handed
/// the contact's priority buddy, as Finch does), keep it, and list it as `More/...`.
pub fn finch_menu_open(c: &mut Client, buddy: &str) -> Vec<String> {
    listed_menus(c, "finchmenuopen", buddy)
}

/// Choose `path` from the menus [`menu_open`] built last, handing its callback the object the
/// menu was built for, as Pidgin does (closed or removed since, maybe).
pub fn menu_pick(c: &mut Client, path: &str) {
    let before = c.lines().len();
    c.command(&format!("menupick {}", escape_arg(path)));
    c.sync();
    let lines = c.lines();
    let error = lines
        .iter()
        .skip(before)
        .find(|l| l.tag == "ERROR" && l.field(0) == "menupick");
    assert!(error.is_none(), "no menu item {path:?} in the kept menus");
}

/// The path of the first menu item under More/ whose label contains `label` (any case).
pub fn menu_item(c: &mut Client, buddy: &str, label: &str) -> String {
    let items = menu_items(c, buddy);
    items
        .iter()
        .find(|path| path.starts_with("More/") && path.to_lowercase().contains(label))
        .cloned()
        .unwrap_or_else(|| panic!("no More/…/{label:?} menu item; the menus were: {items:#?}"))
}
