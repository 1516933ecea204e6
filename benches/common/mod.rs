//! What `benches/protocol.rs` (criterion) and `benches/burst.rs` (against libotr) both drive:
//! an established pair of conversations, one message through the wire text, and the two
//! ratchets of one session without the conversation around them.

#![allow(dead_code)] // each bench uses its own part

use criterion::black_box;
use rand_core::OsRng;
use sotto::protocol::handshake::{Established, Initiator, Responder};
use sotto::protocol::ratchet::DoubleRatchet;
use sotto::protocol::testkit::{Setup, TAG_A, TAG_B};
use sotto::protocol::{ConvState, Conversation, IdentityKey, ReceiveAction, SendAction};

/// An established pair of conversations with a given wire line limit (Alice knows Bob runs
/// Sotto: straight to ?S1I, no ?S1Q round trip).
pub fn established(max_line: usize) -> (Conversation, Conversation) {
    let setup = Setup {
        max_line: Some(max_line),
        ..Setup::default()
    };
    let (a, b) = setup.established(
        IdentityKey::generate(&mut OsRng),
        IdentityKey::generate(&mut OsRng),
        &mut OsRng,
    );
    assert_eq!(
        (a.state(), b.state()),
        (ConvState::Encrypted, ConvState::Encrypted)
    );
    (a, b)
}

/// Sends `text` from `from` to `to` through the wire text, fragments and all.
pub fn deliver(from: &mut Conversation, to: &mut Conversation, text: &str) {
    let SendAction::Replace(lines) = from.send(text, &mut OsRng).action else {
        panic!("not encrypted");
    };
    let mut shown = false;
    for line in &lines {
        shown |= matches!(
            to.receive(line, 0, &mut OsRng).action,
            ReceiveAction::Display(_)
        );
    }
    assert!(shown, "message not displayed");
}

/// Both sides of one core handshake, as `Conversation` drives it.
pub fn core_handshake(alice: &IdentityKey, bob: &IdentityKey) -> (Established, Established) {
    let (init, m1) = Initiator::start(TAG_A, &mut OsRng);
    // The names Conversation states (an IRC-sized pair), so the timing includes them.
    let (names_a, names_b) = (
        b"\x05alice\x03bob".as_slice(),
        b"\x03bob\x05alice".as_slice(),
    );
    let (resp, m2) = Responder::respond(bob, TAG_B, &m1, names_b, &mut OsRng).expect("respond");
    let (est_a, m3) = init.finish(alice, &m2, names_a).expect("initiator finish");
    let est_b = resp.finish(bob, &m3).expect("responder finish");
    (est_a, est_b)
}

/// The two ratchets of one session, and its handshake hash and id.
pub struct RatchetPair {
    pub a: DoubleRatchet,
    pub b: DoubleRatchet,
    pub hash: [u8; 32],
    pub id: [u8; 4],
}

impl RatchetPair {
    pub fn new() -> Self {
        let (est_a, est_b) = core_handshake(
            &IdentityKey::generate(&mut OsRng),
            &IdentityKey::generate(&mut OsRng),
        );
        Self {
            a: DoubleRatchet::new(&est_a, &mut OsRng).expect("ratchet a"),
            b: DoubleRatchet::new(&est_b, &mut OsRng).expect("ratchet b"),
            hash: est_a.handshake_hash(),
            id: est_a.session_id(),
        }
    }

    pub fn a_to_b(&mut self, content: &[u8]) {
        let m = self.a.encrypt(self.id, &self.hash, 0, content);
        black_box(self.b.decrypt(&self.hash, &m, &mut OsRng).expect("decrypt"));
    }

    pub fn b_to_a(&mut self, content: &[u8]) {
        let m = self.b.encrypt(self.id, &self.hash, 0, content);
        black_box(self.a.decrypt(&self.hash, &m, &mut OsRng).expect("decrypt"));
    }
}

/// The floor of one burst message: what the format makes every message cost in primitives,
/// with the crates Sotto uses, and nothing else. Crypto: two HMAC-SHA256 chain steps (sender
/// and receiver, `kdf.rs`'s own), one ChaCha20-Poly1305 seal and one open of the padded plaintext
/// with the 32 + header bytes of associated data (`ring`, as `ratchet.rs`). Codec: base64url
/// encode + decode of the body (`base64-simd`, as `wire.rs`).
pub struct Floor {
    padded: Vec<u8>,
    ad: [u8; 70],
    body: Vec<u8>,
    line: String,
}

impl Floor {
    pub fn new(text_len: usize) -> Self {
        let padded = sotto::protocol::padding::pad(0, &vec![b'x'; text_len]).to_vec();
        // A data message body: 38 header bytes (one-byte varints), ciphertext, tag.
        let body = vec![0x5a; 38 + padded.len() + 16];
        let line = base64_simd::URL_SAFE_NO_PAD.encode_to_string(&body);
        Self {
            padded,
            ad: [3u8; 70],
            body,
            line,
        }
    }

    /// One chain step, computed as the ratchet computes it (`kdf::chain_step`: HMAC-SHA256
    /// over SHA-256's compression function, the two outputs' compressions paired). Until
    /// 2026-12-03 the floor used the `hmac` crate, which the ratchet's own HMAC then undercut.
    pub fn chain_step(ck: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
        sotto::protocol::testkit::chain_step(ck)
    }

    /// Seal + open, as one message costs its two sides.
    pub fn aead(&self, key: &[u8; 32]) {
        use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
        let k = || LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, key).expect("key"));
        let mut buf = Vec::with_capacity(self.padded.len() + 16);
        buf.extend_from_slice(&self.padded);
        let tag = k()
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key([0; 12]),
                Aad::from(&self.ad),
                &mut buf,
            )
            .expect("seal");
        buf.extend_from_slice(tag.as_ref());
        let (ct, tag) = buf.split_at(self.padded.len());
        let mut out = ct.to_vec();
        k().open_in_place_separate_tag(
            Nonce::assume_unique_for_key([0; 12]),
            Aad::from(&self.ad),
            ring::aead::Tag::try_from(tag).expect("tag"),
            &mut out,
            0..,
        )
        .expect("open");
        black_box(out);
    }

    /// The crypto floor of one message: two chain steps, seal, open.
    pub fn crypto(&self, ck: &mut [u8; 32]) {
        let (mk, next) = Self::chain_step(black_box(ck));
        let (mk2, _) = Self::chain_step(black_box(ck));
        *ck = next;
        black_box(mk2);
        self.aead(&mk);
    }

    /// The codec floor of one message: encode the body, decode the line.
    pub fn codec(&self) {
        black_box(base64_simd::URL_SAFE_NO_PAD.encode_to_string(black_box(&self.body)));
        black_box(
            base64_simd::URL_SAFE_NO_PAD
                .decode_to_vec(black_box(&self.line))
                .expect("decode"),
        );
    }
}
