//! The store and the logs (issues 3 and 4): a store that cannot save stops the ciphertext, a store
//! that cannot be opened never means a new identity, and decrypted messages are ordinary
//! messages in the window yet never reach libpurple's logs. Real libpurple, real servers. Needs
//! build/sotto.so: run with `make e2e` (see tests/README.md).
//!
//! A read-only store: the tests run as root (permissions do not stop root), so the store's
//! directory and its files are made immutable with `chattr +i` (ext4, xfs, btrfs...). SQLite then
//! cannot write its write-ahead log: every write fails while reads still work, which is what a
//! full or read-only disk looks like to the plugin. Not root: `chmod 0500` on the directory
//! only stops SQLite creating files, which a store in WAL mode (its log already open) does not
//! need, so these tests want root.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

/// Makes a directory read-only until dropped (also when the test fails: an immutable directory
/// would outlive the temp-dir cleanup).
struct ReadOnly(PathBuf);

impl ReadOnly {
    fn new(dir: &Path) -> ReadOnly {
        assert!(dir.is_dir(), "no store directory at {}", dir.display());
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        if root {
            // The files too, not only the directory: the store keeps its write-ahead log open
            // (WAL mode), and a write to an open file is refused only when the file itself is
            // immutable.
            let st = Command::new("chattr")
                .arg("+i")
                .args(files_in(dir))
                .arg(dir)
                .status()
                .expect("run chattr");
            assert!(
                st.success(),
                "chattr +i {} failed: as root the test needs a filesystem with the immutable \
                 attribute (ext4, xfs, btrfs)",
                dir.display()
            );
        } else {
            let st = Command::new("chmod")
                .arg("0500")
                .arg(dir)
                .status()
                .expect("run chmod");
            assert!(st.success());
        }
        ReadOnly(dir.to_path_buf())
    }
}

/// The files directly in `dir`.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default()
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        let _ = Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .args(files_in(&self.0))
            .status();
        let _ = Command::new("chmod").arg("0700").arg(&self.0).status();
    }
}

fn store_dir(c: &Client) -> PathBuf {
    c.purple_dir().join("sotto")
}

/// No Sotto line at all in what this tap's client gave the server since `mark`.
fn assert_no_sotto_since(proto: Proto, tap: &Tap, mark: (usize, usize), what: &str) {
    let lines = sotto_lines(proto, &tap.since(mark, Dir::Up));
    assert!(
        lines.is_empty(),
        "{what}: Sotto lines went out although the store could not save: {lines:?}"
    );
}

fn is_save_notice(t: &str) -> bool {
    t.contains("could not save")
}

/// A session, then alice's store turns read-only mid-conversation. What she types is refused
/// with a notice that shows her text back, and not one Sotto line leaves her client: not the
/// message, not a reply to bob's message (which she still reads). Once the store is writable
/// again the conversation goes on without a new handshake, and no message key was used twice.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_store_that_cannot_save_sends_nothing() {
    let t0 = Instant::now();
    let proto = Proto::Xmpp;
    let (mut p, _) = encrypted_pair(proto, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    {
        let Pair { alice, bob, .. } = &mut p;
        exchange(
            proto,
            alice,
            bob,
            "before",
            "before the disk fails, alice writes",
        );
        exchange(
            proto,
            bob,
            alice,
            "before",
            "before the disk fails, bob writes",
        );
    }
    let marks = (p.alice.tap.mark(), p.bob.tap.mark());
    let guard = ReadOnly::new(&store_dir(&p.alice.client));

    let typed = "typed while the disk refuses every write";
    p.alice.client.send(&bob, typed);
    let notice = p.alice.client.expect_system(
        &bob,
        "a notice that the message was not sent because the store cannot save",
        WAIT,
        |t| is_save_notice(t) && t.contains("NOT sent") && t.contains(typed),
    );
    assert!(
        notice.has(flags::NO_LOG),
        "state lines are not logged: {notice:?}"
    );
    // A second message: refused again (the rolled-back session is not stuck half-way).
    let typed2 = "a second try while the disk still refuses";
    p.alice.client.send(&bob, typed2);
    p.alice
        .client
        .expect_system(&bob, "the second refusal", WAIT, |t| {
            is_save_notice(t) && t.contains(typed2)
        });

    // bob's message still reads at alice; nothing answers it.
    let from_bob = "bob writes while alice's disk is read-only";
    p.bob.client.send(&alice, from_bob);
    p.alice.client.expect_received(&bob, from_bob, WAIT);
    p.alice
        .client
        .expect_system(&bob, "the notice on receive", WAIT, is_save_notice);
    std::thread::sleep(Duration::from_secs(2));
    assert_no_sotto_since(proto, &p.alice.tap, marks.0, "alice");
    for t in [typed, typed2] {
        assert_hidden(&[&p.alice.tap, &p.bob.tap], t, "refused message");
        assert!(
            !p.bob.client.writes().iter().any(|w| w.shown().contains(t)),
            "bob shows a message alice's Sotto refused to send: {t:?}"
        );
    }
    let _ = p.alice.client.cmd_output(&bob, "sotto status");

    drop(guard);
    let Pair {
        alice: a, bob: b, ..
    } = &mut p;
    exchange(proto, a, b, "after", "the disk works again, alice writes");
    exchange(proto, b, a, "after", "the disk works again, bob writes");
    assert_no_handshake_since(&p, marks, "the store recovered");
    assert_no_key_reuse(&p);
    p.alice.client.assert_no_criticals();
    p.bob.client.assert_no_criticals();
    note("Xmpp: store that cannot save", t0);
}

/// A store that cannot be opened when the plugin loads: a notice, every message refused and no
/// Sotto line on the wire, and above all no new identity. Once it opens again, the same
/// fingerprint and the same session (no handshake).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_store_that_cannot_open_never_makes_a_new_identity() {
    let t0 = Instant::now();
    let proto = Proto::Xmpp;
    let (mut p, _) = encrypted_pair(proto, PairOptions::default());
    let bob = p.bob.address.clone();
    {
        let Pair { alice, bob, .. } = &mut p;
        exchange(
            proto,
            alice,
            bob,
            "before",
            "before the store breaks, alice writes",
        );
    }
    let fingerprint = own_fingerprint(&mut p.alice.client, &bob);

    p.alice.client.kill();
    let marks = (p.alice.tap.mark(), p.bob.tap.mark());
    let guard = restart_with_a_closed_store(&mut p.alice.client);
    let typed = "typed while the store cannot be opened";
    p.alice.client.send(&bob, typed);
    p.alice
        .client
        .expect_system(&bob, "the refusal", WAIT, |t| t.contains("NOT sent"));
    // Bob's session is fine: what he sends is reported, never shown as raw ciphertext.
    let alice_addr = p.alice.address.clone();
    p.bob
        .client
        .send(&alice_addr, "bob writes while alice's store is closed");
    p.alice.client.expect_system(
        &bob,
        "an unreadable-right-now notice instead of raw ciphertext",
        WAIT,
        |t| t.contains("cannot read right now"),
    );
    let out = p.alice.client.cmd_output(&bob, "sotto fingerprint");
    for w in &out {
        if let Some(fp) = find_fingerprint(&w.shown()) {
            assert_eq!(
                fp, fingerprint,
                "a different identity while the store is closed"
            );
        }
    }
    std::thread::sleep(Duration::from_secs(1));
    assert_no_sotto_since(proto, &p.alice.tap, marks.0, "alice");
    assert_hidden(&[&p.alice.tap, &p.bob.tap], typed, "refused message");

    p.alice.client.kill();
    drop(guard);
    p.alice.client.restart();
    p.alice.client.expect_online();
    assert_eq!(
        own_fingerprint(&mut p.alice.client, &bob),
        fingerprint,
        "the identity changed across an unopenable store"
    );
    let Pair {
        alice: a, bob: b, ..
    } = &mut p;
    exchange(proto, a, b, "after", "the store opens again, alice writes");
    exchange(proto, b, a, "after", "the store opens again, bob writes");
    assert_no_handshake_since(&p, marks, "the store reopened");
    assert!(
        !p.bob
            .client
            .writes()
            .iter()
            .any(|w| w.shown().contains("changed")),
        "bob was told alice's key changed"
    );
    p.alice.client.assert_no_criticals();
    p.bob.client.assert_no_criticals();
    note("Xmpp: store that cannot open", t0);
}

/// Plaintext arriving while Sotto has no conversation state (here its store cannot be opened)
/// is shown as one line of plain text: markup cannot paint a line of Sotto's where Sotto
/// cannot check the conversation. It was shown with the sender's markup (found by a hostile
/// review). The window was never marked encrypted in this run: no warning line is asked for.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_plaintext_while_the_store_cannot_open_is_one_plain_line() {
    let mut p = Pair::start(Proto::Xmpp, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.bob.client.command("unload");
    p.bob.client.expect("bob's plugin unloaded", WAIT, |l| {
        l.tag == "PLUGIN_UNLOADED"
    });
    p.alice.client.kill();
    let guard = restart_with_a_closed_store(&mut p.alice.client);
    p.bob
        .client
        .send_raw(&alice, "<b>bold</b> words<br>and a second line");
    let w = p.alice.client.expect_write("bob's plaintext", WAIT, |w| {
        w.has(flags::RECV) && w.is_with(&bob) && w.shown().contains("second line")
    });
    assert!(!w.html.contains('<'), "shown with markup: {:?}", w.html);
    assert!(
        w.shown().starts_with("bold words") && !w.shown().contains('\n'),
        "{:?}",
        w.shown()
    );
    drop(guard);
    p.alice.client.assert_no_criticals();
    p.bob.client.assert_no_criticals();
}

/// A verification asked while the store cannot be opened says that nothing was done: the
/// window said nothing, and the user waited for a question that never went. `/sotto status`
/// says that nothing typed is sent, and why: it said "not encrypted", as for any conversation.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_verification_while_the_store_cannot_open_says_nothing_was_done() {
    let mut p = Pair::start(Proto::Xmpp, PairOptions::default());
    let bob = p.bob.address.clone();
    p.alice.client.kill();
    let guard = restart_with_a_closed_store(&mut p.alice.client);
    let out = p
        .alice
        .client
        .cmd_output(&bob, "sotto verify Where did we meet? | Lisbon");
    assert!(
        out.iter().any(|w| w
            .shown()
            .contains("nothing was done: Sotto has no access to its keys")),
        "{out:#?}"
    );
    let out = p.alice.client.cmd_output(&bob, "sotto status");
    assert!(
        out.iter().any(|w| {
            let t = w.shown();
            t.contains("not usable") && t.contains("cannot open its key store")
        }),
        "{out:#?}"
    );
    drop(guard);
    p.alice.client.assert_no_criticals();
}

/// alice's `sotto.db` is deleted while her client is down (`sotto.generation` beside it names
/// the database that was): at the next start a message box says Sotto made new keys and what
/// follows for her contacts. It made them without a word. A first start and a restart say
/// nothing of the kind. Killed as soon as the box is up (before she could read it), the next
/// start on the same store says it again; once it has been up a while, a restart says nothing
/// (the record is written before the box is drawn: a crash in the moments between left the
/// next start silent; found by a hostile review).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_deleted_store_is_made_again_with_a_notice() {
    // The sweep that marks the box seen: every 2 s.
    let (mut p, _) = encrypted_pair(
        Proto::Xmpp,
        PairOptions {
            alice_env: vec![("SOTTO_TEST_CHECKPOINT_SECS".into(), "2".into())],
            ..PairOptions::default()
        },
    );
    let made_new = |l: &Line| l.is_box_with("made new keys");
    assert!(
        !p.alice.client.lines().iter().any(made_new),
        "a first start"
    );
    p.alice.client.kill();
    p.alice.client.restart();
    p.alice.client.expect_online();
    p.alice.client.sync();
    assert!(!p.alice.client.lines().iter().any(made_new), "a restart");
    p.alice.client.kill();
    let dir = store_dir(&p.alice.client);
    std::fs::remove_file(dir.join("sotto.db")).expect("delete the store");
    let _ = std::fs::remove_file(dir.join("sotto.db-wal"));
    p.alice.client.restart();
    p.alice
        .client
        .expect("a box saying new keys were made", WAIT, made_new);
    p.alice.client.kill();
    p.alice.client.restart();
    p.alice
        .client
        .expect("the box again, the last one not seen", WAIT, made_new);
    std::thread::sleep(Duration::from_secs(5));
    p.alice.client.kill();
    p.alice.client.restart();
    p.alice.client.expect_online();
    p.alice.client.sync();
    assert!(
        !p.alice.client.lines().iter().any(made_new),
        "a restart after the box was up a while"
    );
    p.alice.client.assert_no_criticals();
}

/// alice's `sotto` folder is the mount point of an encrypted volume, not mounted when her
/// client starts (here: the real folder moved aside while her client is down): Sotto makes a
/// store beneath, and the box says so, what she types to her contacts may go NOT encrypted,
/// and which files to move away. She quits and "mounts" the real one: the box says her usual
/// store is back. Then the one beneath again (the volume not mounted at a later start): the
/// box says this is not the store used last. Each time the client is killed as soon as the
/// box is up: the record of the store used last is on disk before anything is told. The
/// policy alice chooses after the first box (`always`) stays with the profile when her usual
/// store is back (a line to carol, without Sotto, is held). The
/// first version told the first time only (a flag, "this profile had a store"): the store
/// beneath, opened again, was used without a word (found by a hostile review); the second kept
/// the record in libpurple's preferences, saved 5 s after a change (killed before, the next
/// start on the store beneath was silent again; found by a read-only review); before them,
/// nothing at all was said (the record that tells a store was replaced lived in the folder).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_a_store_folder_gone_is_made_again_with_a_notice() {
    let (mut p, _) = encrypted_pair(
        Proto::Xmpp,
        PairOptions {
            more_accounts: vec!["carol".into()],
            ..PairOptions::default()
        },
    );
    let carol = p.another("carol", false);
    let dir = store_dir(&p.alice.client);
    let (real, beneath) = (dir.with_extension("real"), dir.with_extension("beneath"));
    for (step, (aside, back)) in [
        (None, None),
        (Some(&beneath), Some(&real)),
        (Some(&real), Some(&beneath)),
    ]
    .into_iter()
    .enumerate()
    {
        p.alice.client.kill();
        match (aside, back) {
            (Some(aside), Some(back)) => {
                std::fs::rename(&dir, aside).expect("the folder set aside");
                std::fs::rename(back, &dir).expect("the other folder in its place");
            }
            _ => std::fs::rename(&dir, &real).expect("the real folder set aside"),
        }
        p.alice.client.restart();
        let (what, needle) = match step {
            0 => ("a store made beneath: new keys", "move away the files"),
            1 => ("the usual store back", "opened its usual key store again"),
            _ => (
                "not the store used last",
                "not the one this profile used last",
            ),
        };
        p.alice.client.expect(what, WAIT, |l| l.is_box_with(needle));
        match step {
            // As the box advises where nothing can be put back: nothing unencrypted, for now.
            0 => {
                p.alice.client.pref("/plugins/core/sotto/policy", "always");
                p.alice.client.sync();
            }
            // The usual store back: the policy chosen meanwhile is the profile's, not the
            // store's, and the kill came before libpurple saved its preferences. A line to
            // carol (no Sotto) is held.
            1 => {
                p.alice.client.expect_online();
                let text = "typed to carol once the usual store is back";
                held_under_always(&mut p.alice, &carol, text);
            }
            _ => {}
        }
    }
    p.alice.client.assert_no_criticals();
}

/// The profile's record of which store it used last cannot be read (here: a folder in its
/// place): that is no first start, which says nothing. The box says Sotto cannot tell whether
/// the store it opened holds the keys the contacts saw (found by a hostile review: every start
/// was a silent first one).
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_an_unreadable_profile_record_is_told() {
    let (mut p, _) = encrypted_pair(Proto::Xmpp, PairOptions::default());
    p.alice.client.kill();
    let record = p.alice.client.purple_dir().join("sotto-profile");
    std::fs::remove_file(&record).expect("the record written at the first start");
    std::fs::create_dir(&record).expect("a folder in its place");
    p.alice.client.restart();
    p.alice
        .client
        .expect("a box saying the record cannot be read", WAIT, |l| {
            l.is_box_with("could not read its record")
        });
    p.alice.client.assert_no_criticals();
}

/// A second copy of Sotto under another file name (an older build kept as `sotto-old.so` in
/// the other plugin folder; libpurple itself refuses a second file of the same name) enabled
/// too: libpurple loaded both, each with its own SQLite, whose lock does not conflict within
/// one process, so both opened the store and wrote it, and one's checkpoint emptied the
/// other's log (found by a read-only review of the store). The second copy stays off, says so
/// in a box, and the first goes on encrypting.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_a_second_copy_of_the_plugin_in_one_client_stays_off() {
    let (mut p, _) = encrypted_pair(Proto::Irc, PairOptions::default());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let dir = TempDir::new("second-copy");
    let copy = dir.path().join("sotto-old.so");
    std::fs::copy(plugin_path(), &copy).expect("copy the plugin");
    p.alice.client.command(&format!(
        "loadcopy {}",
        escape_arg(&copy.display().to_string())
    ));
    let refused = p
        .alice
        .client
        .expect("the second copy loaded or refused", WAIT, |l| {
            l.tag == "COPY_FAILED" || l.tag == "COPY_LOADED"
        });
    assert_eq!(refused.tag, "COPY_FAILED", "the second copy loaded");
    p.alice
        .client
        .expect("a box saying another copy is loaded", WAIT, |l| {
            l.is_box_with("already loaded")
        });
    let text = "still encrypted by the first copy";
    p.alice.client.send(&bob, text);
    p.bob.client.expect_received(&alice, text, WAIT);
    assert_hidden(
        &[&p.alice.tap],
        text,
        "sent after a second copy was refused",
    );
    p.alice.client.assert_no_criticals();
}

/// Restarts the (killed) client `c` with its store directory read-only: Sotto cannot open its
/// store and says so. The guard makes the directory writable again when dropped.
fn restart_with_a_closed_store(c: &mut Client) -> ReadOnly {
    let guard = ReadOnly::new(&store_dir(c));
    c.restart();
    c.expect("a notice that the store cannot be opened", WAIT, |l| {
        l.is_box_with("cannot open its key store")
    });
    c.expect_online();
    guard
}

fn own_fingerprint(c: &mut Client, buddy: &str) -> String {
    c.cmd_output(buddy, "sotto fingerprint")
        .iter()
        .find_map(|w| find_fingerprint(&w.shown()))
        .expect("/sotto fingerprint shows a fingerprint")
}

/// Decrypted messages are ordinary received messages (`RECV`, without `NO_LOG`: Pidgin draws
/// `NO_LOG` lines grey, without name or time), also in a window libpurple opens for the message
/// itself (after a restart), and yet never reach the logs: the window's logging is off while
/// encrypted and back on after the session ends.
#[test]
#[ignore = "e2e: run via make e2e"]
fn xmpp_decrypted_messages_are_ordinary_and_unlogged() {
    ordinary_and_unlogged(Proto::Xmpp);
}

#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_decrypted_messages_are_ordinary_and_unlogged() {
    ordinary_and_unlogged(Proto::Irc);
}

fn assert_ordinary(w: &Written, f: u32, who: &str) {
    assert!(
        w.has(f) && !w.has(flags::NO_LOG) && !w.has(flags::SYSTEM) && !w.who.is_empty(),
        "[{who}] an encrypted message must be an ordinary message with a sender ({f:#x}, no \
         NO_LOG): {w:?}"
    );
}

fn ordinary_and_unlogged(proto: Proto) {
    let t0 = Instant::now();
    // Manual: after `/sotto stop` alice's next message is plaintext.
    let (mut p, _) = encrypted_pair(proto, both_manual());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());

    let first = "first encrypted words in an open window";
    p.alice.client.send(&bob, first);
    let got = p.bob.client.expect_received(&alice, first, WAIT);
    assert_ordinary(&got, flags::RECV, "bob");
    let sent = p.alice.client.expect_sent(&bob, first, WAIT);
    assert_ordinary(&sent, flags::SEND, "alice");

    // bob restarts: no window; libpurple opens one for alice's next message.
    p.bob.client.kill();
    p.bob.client.restart();
    p.bob.client.expect_online();
    let second = "encrypted words that open a new window";
    p.alice.client.send(&bob, second);
    let got = p.bob.client.expect_received(&alice, second, WAIT);
    assert_ordinary(&got, flags::RECV, "bob");
    let reply = "an encrypted reply from the new window";
    p.bob.client.send(&alice, reply);
    let got = p.alice.client.expect_received(&bob, reply, WAIT);
    assert_ordinary(&got, flags::RECV, "alice");
    for text in [first, second, reply] {
        assert_hidden(&[&p.alice.tap, &p.bob.tap], text, "encrypted message");
        for c in [&p.alice.client, &p.bob.client] {
            for n in needles(text, 4) {
                assert!(
                    !c.logs_contain(&n),
                    "[{}] encrypted text in the libpurple logs: {n:?}",
                    c.cfg.name
                );
            }
        }
    }

    // Ended: logging is back on, plaintext is logged as before.
    end_then_plaintext_is_logged(&mut p);
    note(&format!("{proto:?}: ordinary and unlogged"), t0);
}

/// With "log all IMs" on, libpurple sets a new window's logging before the window is listed
/// or drawn: Sotto turns it off there too, without the line it says once (it would be
/// dropped). So when the user then ticks Enable Logging in that window, it is turned off again
/// and said, once. Before, the one line was spent on the window being made, and the user's
/// tick was undone without a word (found by a review of the FFI layer).
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_logging_turned_on_in_a_window_opened_by_a_message_is_said_once() {
    let (mut p, _) = encrypted_pair(Proto::Irc, both_manual());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.alice.client.close_window(&bob);
    let read = "read in a window the message opened";
    p.bob.client.send(&alice, read);
    p.alice.client.expect_received(&bob, read, WAIT);
    let told = |p: &Pair| {
        p.alice
            .client
            .writes()
            .iter()
            .filter(|w| w.is_with(&bob) && w.shown().contains("NOT logged, whatever"))
            .count()
    };
    assert_eq!(told(&p), 0, "not said for the window being made");
    for tick in 0..2 {
        assert!(
            !p.alice.client.set_logging(&bob, true),
            "logging is off again at once (tick {tick})"
        );
    }
    assert_eq!(told(&p), 1, "said once: {}", p.alice.client.dump());
    std::thread::sleep(Duration::from_millis(500));
    for n in needles(read, 4) {
        assert!(
            !p.alice.client.logs_contain(&n),
            "encrypted text in the libpurple logs: {n:?}"
        );
    }
    p.assert_no_criticals();
}

/// Pidgin turns logging back on for a conversation at every switch between conversations
/// merged into one tab (from the tab's Enable Logging checkbox), and Finch for every
/// conversation with one contact; the test client does what they do. Sotto turns it off again
/// at once and says so once: nothing typed or read in the encrypted conversation reaches the
/// logs (before, everything alice typed after a switch was logged in plaintext). Once the
/// session ends, logging is as the host wanted it.
#[test]
#[ignore = "e2e: run via make e2e"]
fn irc_logging_the_host_turns_back_on_is_turned_off_again() {
    let (mut p, _) = encrypted_pair(Proto::Irc, both_manual());
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    for switch in 0..3 {
        assert!(
            !p.alice.client.set_logging(&bob, true),
            "logging is off again at once (switch {switch})"
        );
    }
    let typed = "typed after the tab switched back";
    let read = "read after the tab switched back";
    p.alice.client.send(&bob, typed);
    p.bob.client.expect_received(&alice, typed, WAIT);
    p.bob.client.send(&alice, read);
    p.alice.client.expect_received(&bob, read, WAIT);
    let told = p
        .alice
        .client
        .writes()
        .iter()
        .filter(|w| w.is_with(&bob) && w.shown().contains("NOT logged, whatever"))
        .count();
    assert_eq!(told, 1, "said once: {}", p.alice.client.dump());
    std::thread::sleep(Duration::from_millis(500));
    for text in [typed, read] {
        for n in needles(text, 4) {
            assert!(
                !p.alice.client.logs_contain(&n),
                "encrypted text in the libpurple logs: {n:?}"
            );
        }
    }

    end_then_plaintext_is_logged(&mut p);
}

/// alice ends the session; her plaintext after it is logged again (logging is given back),
/// and nothing went wrong on either side.
fn end_then_plaintext_is_logged(p: &mut Pair) {
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    p.alice.client.cmd(&bob, "sotto stop");
    p.alice
        .client
        .expect_system(&bob, "ended", WAIT, |t| t.contains("ended"));
    p.bob
        .client
        .expect_system(&alice, "ended", WAIT, |t| t.contains("ended"));
    let plain = "plaintext after the end is logged again";
    p.alice.client.send(&bob, plain);
    p.bob.client.expect_received(&alice, plain, WAIT);
    std::thread::sleep(Duration::from_millis(500));
    p.assert_logged(plain, "plaintext after the session ended");
    p.assert_no_criticals();
}

/// alice logs encrypted conversations, then unticks "Log encrypted conversations" during a
/// session: what either side writes from then on is not logged at once (the window kept
/// logging until the session's next event, so what alice typed was logged); ticked again, the
/// window logs again.
#[test]
#[ignore = "e2e: needs ngircd"]
fn irc_unticking_log_encrypted_stops_logging_at_once() {
    const LOG: &str = "/plugins/core/sotto/log_encrypted";
    let mut o = both_manual();
    o.alice_prefs.push((LOG.to_string(), "true".to_string()));
    let (mut p, _) = encrypted_pair(Proto::Irc, o);
    let (alice, bob) = (p.alice.address.clone(), p.bob.address.clone());
    let logged = "walrus words while logging is wanted";
    p.alice.client.send(&bob, logged);
    p.bob.client.expect_received(&alice, logged, WAIT);
    std::thread::sleep(Duration::from_millis(500));
    assert!(p.alice.client.logs_contain(logged), "not logged as asked");

    p.alice.client.pref(LOG, "false");
    let (typed, read) = (
        "walrus words typed after unticking",
        "walrus reply after unticking",
    );
    both_ways(&mut p, typed, read);
    std::thread::sleep(Duration::from_millis(500));
    for text in [typed, read] {
        assert!(
            !p.alice.client.logs_contain(text),
            "logged after unticking: {text:?}"
        );
    }

    p.alice.client.pref(LOG, "true");
    let again = "walrus words once ticked again";
    p.alice.client.send(&bob, again);
    p.bob.client.expect_received(&alice, again, WAIT);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        p.alice.client.logs_contain(again),
        "not logged once ticked again"
    );
    p.alice.client.assert_no_criticals();
}

/// alice has "Log encrypted conversations" ticked, but Pidgin's own IM logging is off: the
/// line that says the session started says the conversation is not logged. It said "This
/// conversation is being logged." from Sotto's preference alone, and someone relying on a
/// record found none (found by a hostile review of the user-facing texts).
#[test]
#[ignore = "e2e: needs ngircd"]
fn irc_the_start_says_not_logged_when_pidgin_does_not_log() {
    const LOG: &str = "/plugins/core/sotto/log_encrypted";
    for pidgin_logs in [false, true] {
        let mut o = both_manual();
        o.alice_prefs.push((LOG.to_string(), "true".to_string()));
        o.alice_prefs.push((
            "/purple/logging/log_ims".to_string(),
            pidgin_logs.to_string(),
        ));
        let (p, _) = encrypted_pair(Proto::Irc, o);
        let started = p.alice.client.shown_with("encrypted conversation started");
        let said = if pidgin_logs {
            "This conversation is being logged."
        } else {
            "This conversation is not logged."
        };
        assert!(
            !started.is_empty() && started.iter().all(|t| t.contains(said)),
            "Pidgin logs: {pidgin_logs}: {started:?}"
        );
        p.assert_no_criticals();
    }
}
