//! The fixed-seed transcript in `docs/vectors/transcript-v1.txt`: regenerated here and compared
//! byte for byte. Every random draw is listed in the file, in order, so another implementation
//! can reproduce each wire line without our RNG. Regenerate (after a deliberate wire change)
//! with `SOTTO_WRITE_VECTORS=1 cargo test --no-default-features vectors`.

use std::fmt::Write as _;

use rand_chacha::rand_core::{CryptoRng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::names::Names;
use super::session::{Conversation, Policy, ReceiveAction, SendAction};
use super::IdentityKey;

mod paths;
mod reference;

const FILE: &str = include_str!("../../../docs/vectors/transcript-v1.txt");
const SEED: u64 = 0x5077_0001;

/// Wraps the RNG and logs every draw.
pub(super) struct Recording {
    pub(super) inner: ChaCha20Rng,
    pub(super) draws: Vec<String>,
}

impl RngCore for Recording {
    fn next_u32(&mut self) -> u32 {
        let v = self.inner.next_u32();
        self.draws.push(format!("u32 {v:08x}"));
        v
    }
    fn next_u64(&mut self) -> u64 {
        let v = self.inner.next_u64();
        self.draws.push(format!("u64 {v:016x}"));
        v
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.inner.fill_bytes(dest);
        self.draws.push(format!("bytes {}", hex::encode(&*dest)));
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_chacha::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for Recording {}

fn step(out: &mut String, rng: &mut Recording, title: &str, lines: &[String]) {
    let _ = writeln!(out, "\n## {title}");
    for d in rng.draws.drain(..) {
        let _ = writeln!(out, "random: {d}");
    }
    for l in lines {
        let _ = writeln!(out, "wire ({} chars): {l}", l.len());
    }
}

fn transcript() -> String {
    let mut rng = Recording {
        inner: ChaCha20Rng::seed_from_u64(SEED),
        draws: Vec::new(),
    };
    let mut out = String::new();
    let _ = writeln!(out, "# Sotto protocol v1 test transcript");
    let _ = writeln!(
        out,
        "# RNG: rand_chacha 0.3 ChaCha20Rng::seed_from_u64(0x{SEED:x}); every draw is listed."
    );
    let alice_id = IdentityKey::generate(&mut rng);
    let bob_id = IdentityKey::generate(&mut rng);
    let _ = writeln!(
        out,
        "alice identity secret: {}",
        hex::encode(*alice_id.to_bytes())
    );
    let _ = writeln!(
        out,
        "alice identity public: {}",
        hex::encode(alice_id.public().to_bytes())
    );
    let _ = writeln!(
        out,
        "alice fingerprint: {}",
        alice_id.public().fingerprint()
    );
    let _ = writeln!(
        out,
        "bob identity secret: {}",
        hex::encode(*bob_id.to_bytes())
    );
    let _ = writeln!(
        out,
        "bob identity public: {}",
        hex::encode(bob_id.public().to_bytes())
    );
    let _ = writeln!(out, "bob fingerprint: {}", bob_id.public().fingerprint());
    let _ = writeln!(
        out,
        "alice instance tag: 0xa11ce001; bob instance tag: 0x000b0b02"
    );
    let alice_names = Names {
        me: "alice".into(),
        peer: "bob".into(),
    };
    let bob_names = Names {
        me: "bob".into(),
        peer: "alice".into(),
    };
    let _ = writeln!(
        out,
        "alice states names me=alice peer=bob: payload {}",
        hex::encode(alice_names.encode())
    );
    let _ = writeln!(
        out,
        "bob states names me=bob peer=alice: payload {}",
        hex::encode(bob_names.encode())
    );
    rng.draws.clear();
    let mut alice = Conversation::new(alice_id, 0xa11c_e001, Policy::Manual);
    let mut bob = Conversation::new(bob_id, 0x000b_0b02, Policy::Manual);
    alice.set_names(alice_names);
    bob.set_names(bob_names);

    let q = alice.start(&mut rng).inject;
    step(
        &mut out,
        &mut rng,
        "1. alice: /sotto start (peer not yet known to run Sotto) -> query",
        &q,
    );
    let i = bob.receive(&q[0], 0, &mut rng).inject;
    step(
        &mut out,
        &mut rng,
        "2. bob receives the query -> handshake start (bob is initiator)",
        &i,
    );
    let r = alice.receive(&i[0], 0, &mut rng).inject;
    step(&mut out, &mut rng, "3. alice -> response", &r);
    let c = bob.receive(&r[0], 0, &mut rng).inject;
    step(
        &mut out,
        &mut rng,
        "4. bob -> confirm (bob makes his first DH ratchet step)",
        &c,
    );
    let none = alice.receive(&c[0], 0, &mut rng).inject;
    step(
        &mut out,
        &mut rng,
        "5. alice receives the confirm: session up",
        &none,
    );

    let msgs: [(bool, &str); 5] = [
        (true, "hi"),
        (true, "second message in the same chain"),
        (false, "hello alice"),
        (
            true,
            "<b>not bold</b> & \"quotes\" 'n' ünïcödé 😀\nnew line",
        ),
        (false, "x"),
    ];
    for (n, (from_alice, text)) in msgs.iter().enumerate() {
        let (s, r, who) = if *from_alice {
            (&mut alice, &mut bob, "alice")
        } else {
            (&mut bob, &mut alice, "bob")
        };
        let lines = match s.send(text, &mut rng).action {
            SendAction::Replace(l) => l.into(),
            _ => Vec::new(),
        };
        step(
            &mut out,
            &mut rng,
            &format!("{}. {who} sends {text:?}", n + 6),
            &lines,
        );
        for l in &lines {
            let shown = r.receive(l, 0, &mut rng);
            let ReceiveAction::Display(t) = shown.action else {
                let _ = writeln!(out, "NOT DECRYPTED");
                continue;
            };
            assert_eq!(t.as_str(), *text);
        }
        for d in rng.draws.drain(..) {
            let _ = writeln!(out, "random (receiver): {d}");
        }
    }
    out
}

#[test]
fn transcript_matches_committed_vectors() {
    let t = transcript();
    if std::env::var_os("SOTTO_WRITE_VECTORS").is_some() {
        std::fs::write(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/docs/vectors/transcript-v1.txt"
            ),
            &t,
        )
        .unwrap();
        return;
    }
    assert_eq!(
        t, FILE,
        "wire format changed: update docs/PROTOCOL.md and regenerate the vectors"
    );
}
