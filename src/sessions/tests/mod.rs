//! The sessions service's decisions, without libpurple: two services, each over its own real
//! store in a temp dir, talk by handing each other the lines they inject.
//!
//! * `save`: a save made to fail for real (`Store::fail_writes`: SQLite refuses writes, as on a
//!   read-only disk): what was sent, what memory holds against disk, no message key twice.
//! * `names`: renames, the moved mark, keys known under other names, accepting exactly the key
//!   that was checked.
//! * `siblings`: another conversation of the same buddy-list contact, encrypted, holds back a
//!   plaintext line until the user confirms in a dialog (`super::siblings`), with the
//!   conversations' real states.

mod clients;
mod hostile;
mod lapsed;
mod logins;
mod names;
mod save;
mod siblings;

use std::path::PathBuf;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::*;
use crate::protocol::testkit::key_ids;
pub(super) use crate::protocol::wire::WireMessage;
use crate::protocol::ReceiveAction;

const LINE: usize = 16_000;

struct Peer {
    sessions: Sessions,
    key: ConvKey,
    name: &'static str,
    dir: PathBuf,
    rng: ChaCha20Rng,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn settings(policy: Policy) -> Settings {
    Settings {
        policy,
        max_line: LINE,
        names: Names::default(),
        now_secs: 0,
        addressable: true,
        in_order: false,
    }
}

/// A service for `me` talking to `other`, over a fresh store.
fn peer(test: &str, me: &'static str, other: &str, seed: u64) -> Peer {
    let dir =
        std::env::temp_dir().join(format!("sotto-sessions-{test}-{me}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir).expect("store");
    Peer {
        sessions: Sessions::new(Ok(store)),
        key: ConvKey {
            protocol: "prpl-test".into(),
            account: me.into(),
            peer: other.into(),
        },
        name: me,
        dir,
        rng: ChaCha20Rng::seed_from_u64(seed),
    }
}

impl Peer {
    fn store(&self) -> &Store {
        self.sessions.store().expect("store")
    }

    /// What memory holds for the conversation, and what disk holds, each as a restart would
    /// restore it (a snapshot saved with a sending reservation restores with the chain moved
    /// past it).
    fn memory_and_disk(&self) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
        let restored = |b: &[u8]| {
            // The identity key is not part of the snapshot: any restores the same bytes.
            Conversation::restore(crate::protocol::IdentityKey::from_bytes(&[0; 32]), b)
                .expect("restore")
                .snapshot()
                .to_vec()
        };
        let memory = self
            .sessions
            .sessions
            .get(&self.key)
            .map(|s| restored(&s.conv.snapshot()));
        let k = &self.key;
        let disk = self
            .store()
            .load_session(&k.protocol, &k.account, &k.peer)
            .expect("read")
            .map(|b| restored(&b));
        (memory, disk)
    }

    fn receive(&mut self, from: &str, lines: &[String]) -> (Vec<String>, Vec<Event>, Vec<String>) {
        self.receive_at(from, lines, 0)
    }

    /// Like `receive`, with the host's clock at `now_secs`.
    fn receive_at(
        &mut self,
        from: &str,
        lines: &[String],
        now_secs: u64,
    ) -> (Vec<String>, Vec<Event>, Vec<String>) {
        let (mut inject, mut events, mut shown) = (Vec::new(), Vec::new(), Vec::new());
        let at = Settings {
            now_secs,
            ..settings(Policy::Manual)
        };
        for line in lines {
            let (action, fx) = self
                .sessions
                .incoming(&self.key, from, line, &at, &mut self.rng)
                .expect("incoming");
            if let ReceiveAction::Display(text) = action {
                shown.push(text.to_string());
            }
            inject.extend(fx.inject);
            events.extend(fx.events);
        }
        (inject, events, shown)
    }

    fn send(&mut self, text: &str) -> (Outgoing, Effects) {
        self.sessions
            .outgoing(
                &self.key,
                "peer",
                text,
                &settings(Policy::Manual),
                &mut self.rng,
            )
            .expect("outgoing")
    }

    /// The conversation with `peer` on this account.
    fn key_for(&self, peer: &str) -> ConvKey {
        ConvKey {
            peer: peer.into(),
            ..self.key.clone()
        }
    }

    /// Like `receive`, for the conversation with `peer` (who writes from that name).
    fn receive_as(&mut self, peer: &str, lines: &[String]) -> (Vec<String>, Vec<Event>, Effects) {
        let key = self.key_for(peer);
        let (mut inject, mut events, mut last) = (Vec::new(), Vec::new(), Effects::default());
        for line in lines {
            let (_, fx) = self
                .sessions
                .incoming(&key, peer, line, &settings(Policy::Manual), &mut self.rng)
                .expect("incoming");
            inject.extend(fx.inject.iter().cloned());
            events.extend(fx.events.iter().cloned());
            last.notices.extend(fx.notices.iter().cloned());
        }
        (inject, events, last)
    }

    /// `/sotto start` in the conversation with its peer: the lines that go out.
    fn start(&mut self) -> Vec<String> {
        let (key, peer) = (self.key.clone(), self.key.peer.clone());
        self.sessions
            .start_or_stop(&key, &peer, &settings(Policy::Manual), true, &mut self.rng)
            .expect("start")
            .inject
    }

    /// `/sotto stop` in the conversation with its peer.
    fn stop(&mut self) -> Effects {
        let (key, peer) = (self.key.clone(), self.key.peer.clone());
        self.sessions
            .start_or_stop(&key, &peer, &settings(Policy::Manual), false, &mut self.rng)
            .expect("stop")
    }

    /// Like `send`, to `peer` under `policy`.
    /// The user's action `act` in the conversation with `peer` (policy `manual`), as the host
    /// runs it.
    fn act_with(
        &mut self,
        peer: &str,
        act: impl FnOnce(&mut Conversation, &mut ChaCha20Rng) -> crate::protocol::ReceiveOutcome,
    ) -> Effects {
        let key = self.key_for(peer);
        self.sessions
            .act(&key, peer, &settings(Policy::Manual), &mut self.rng, act)
            .expect("act")
    }

    fn send_to(&mut self, peer: &str, text: &str, policy: Policy) -> (Outgoing, Effects) {
        let key = self.key_for(peer);
        self.sessions
            .outgoing(&key, peer, text, &settings(policy), &mut self.rng)
            .expect("outgoing")
    }

    /// Whether a line that bypasses `outgoing` (IRC's `/msg`) may go to `peer` in plaintext.
    fn plaintext_allowed(&mut self, peer: &str, policy: Policy) -> bool {
        let key = self.key_for(peer);
        self.sessions
            .plaintext_allowed(&key, peer, &settings(policy))
    }
}

/// alice and bob with an encrypted session.
fn encrypted(test: &str) -> (Peer, Peer) {
    let mut alice = peer(test, "alice", "bob", 1);
    let mut bob = peer(test, "bob", "alice", 2);
    let lines = alice.start();
    converse(&mut bob, "alice", &mut alice, "bob", lines);
    for p in [&mut alice, &mut bob] {
        let s = p
            .sessions
            .state(&p.key.clone(), "x", &settings(Policy::Manual));
        assert_eq!(s, Some(ConvState::Encrypted), "{} encrypted", p.name);
    }
    (alice, bob)
}

/// `fx` tells the user that something could not be saved.
fn assert_not_saved(fx: &Effects) {
    assert!(
        fx.notices
            .iter()
            .any(|n| matches!(n, Notice::NotSaved { .. })),
        "{:?}",
        fx.notices
    );
}

fn lines_of(out: Outgoing) -> Vec<String> {
    match out {
        Outgoing::Lines(lines) => lines.into(),
        other => panic!("expected lines, got {other:?}"),
    }
}

/// Hands lines back and forth until neither side sends more: `a` gets `lines` as written by
/// `a_sees` (the name `a` sees the other side under), its answers go to `b` as written by
/// `b_sees`, and so on. Returns the notices each side got (`a`'s, `b`'s).
fn converse(
    a: &mut Peer,
    a_sees: &str,
    b: &mut Peer,
    b_sees: &str,
    mut lines: Vec<String>,
) -> (Vec<Notice>, Vec<Notice>) {
    let (mut na, mut nb) = (Vec::new(), Vec::new());
    while !lines.is_empty() {
        let (to_b, _, fx) = a.receive_as(a_sees, &lines);
        na.extend(fx.notices);
        let (to_a, _, fx) = b.receive_as(b_sees, &to_b);
        nb.extend(fx.notices);
        lines = to_a;
    }
    (na, nb)
}
