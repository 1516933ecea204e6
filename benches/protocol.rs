//! Timings of the protocol core against the targets of issue 2 (see `docs/PERFORMANCE.md`).
//!
//! ```text
//! cargo bench --no-default-features --bench protocol            # everything, ~2 minutes
//! cargo bench --no-default-features --bench protocol -- burst   # one group
//! ```
//!
//! Groups:
//! * `handshake`: CPU of both sides together, from nothing to both sides able to send:
//!   `core` (the `handshake` module plus `DoubleRatchet::new`), `conversation` (the full
//!   `Conversation` start/receive loop: wire text, events, ratchet set-up) and the anchor
//!   `snow_xx` (Noise_XX_25519_ChaChaPoly_SHA256 with the `snow` crate).
//! * `alternating`: A → B, then B → A, one 256-byte message per iteration, each one a DH
//!   ratchet step. Criterion's time is per message.
//! * `primitives`: what one alternating message costs in primitives, one at a time. The
//!   ratchet step of `ratchet.rs` is 1 keygen + 2 DH + 2 root (HKDF) steps; a message adds
//!   one chain step on each side and one seal + open of the padded plaintext (272 bytes for
//!   256 bytes of text). `docs/PERFORMANCE.md` adds them up.
//! * `burst`: A → B only, 256-byte messages, encrypt + decrypt per message (no DH).
//!
//! Timings are reported, never asserted: size limits are guarded in `tests/wire_size.rs`.

use std::time::Duration;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::ChaCha20Poly1305;
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use hkdf::Hkdf;
use rand_core::OsRng;
use sha2::Sha256;
use sotto::protocol::ratchet::DoubleRatchet;
use sotto::protocol::session::DEFAULT_MAX_LINE;
use sotto::protocol::testkit::{self, Setup};
use sotto::protocol::wire::{DataMessage, WireMessage};
use sotto::protocol::IdentityKey;
use x25519_dalek::{PublicKey, StaticSecret};

mod common;
use common::{core_handshake, deliver, established, Floor, RatchetPair};

/// The message size of the issue's targets.
const MSG: usize = 256;

fn text() -> String {
    "x".repeat(MSG)
}

fn bench_handshake(c: &mut Criterion) {
    let mut g = c.benchmark_group("handshake");
    let alice = IdentityKey::generate(&mut OsRng);
    let bob = IdentityKey::generate(&mut OsRng);

    g.bench_function("core", |b| {
        b.iter(|| {
            let (est_a, est_b) = core_handshake(&alice, &bob);
            let ra = DoubleRatchet::new(&est_a, &mut OsRng).expect("ratchet a");
            let rb = DoubleRatchet::new(&est_b, &mut OsRng).expect("ratchet b");
            black_box((ra, rb))
        })
    });

    g.bench_function("conversation", |b| {
        b.iter_batched(
            || Setup::default().pair(alice.clone(), bob.clone()),
            |(mut a, mut bb)| {
                testkit::handshake(&mut a, &mut bb, &mut OsRng);
                black_box((a, bb))
            },
            BatchSize::SmallInput,
        )
    });

    // Anchor: the same pattern and primitives in snow (its default resolver: curve25519-dalek,
    // RustCrypto's chacha20poly1305 and sha2, the same crates we use).
    let params: snow::params::NoiseParams = "Noise_XX_25519_ChaChaPoly_SHA256"
        .parse()
        .expect("noise params");
    let ka = snow::Builder::new(params.clone())
        .generate_keypair()
        .expect("keypair");
    let kb = snow::Builder::new(params.clone())
        .generate_keypair()
        .expect("keypair");
    g.bench_function("snow_xx", |b| {
        b.iter(|| {
            let mut i = snow::Builder::new(params.clone())
                .local_private_key(&ka.private)
                .and_then(|x| x.build_initiator())
                .expect("initiator");
            let mut r = snow::Builder::new(params.clone())
                .local_private_key(&kb.private)
                .and_then(|x| x.build_responder())
                .expect("responder");
            let mut msg = [0u8; 256];
            let mut out = [0u8; 256];
            let n = i.write_message(&[], &mut msg).expect("-> e");
            r.read_message(&msg[..n], &mut out).expect("-> e");
            let n = r.write_message(&[], &mut msg).expect("<- e, ee, s, es");
            i.read_message(&msg[..n], &mut out)
                .expect("<- e, ee, s, es");
            let n = i.write_message(&[], &mut msg).expect("-> s, se");
            r.read_message(&msg[..n], &mut out).expect("-> s, se");
            black_box((
                i.into_transport_mode().expect("split"),
                r.into_transport_mode().expect("split"),
            ))
        })
    });
    g.finish();
}

/// The line limits the conversation benches run at: none reached (XMPP), and IRC's 400
/// characters, at which a 256-byte message is two fragments.
const LINE_LIMITS: [(&str, usize); 2] = [
    ("conversation_256B_per_msg", 100_000),
    ("conversation_256B_400char_lines_per_msg", DEFAULT_MAX_LINE),
];

fn bench_alternating(c: &mut Criterion) {
    let mut g = c.benchmark_group("alternating");
    let content = text();

    // Each iteration is one message; the direction flips every time, so every message
    // carries a new ratchet key and costs its receiver a DH ratchet step.
    for (name, max_line) in LINE_LIMITS {
        let (mut a, mut b) = established(max_line);
        let mut a_turn = true;
        g.bench_function(name, |bn| {
            bn.iter(|| {
                if a_turn {
                    deliver(&mut a, &mut b, &content);
                } else {
                    deliver(&mut b, &mut a, &content);
                }
                a_turn = !a_turn;
            })
        });
    }

    let mut p = RatchetPair::new();
    let mut a_turn = true;
    g.bench_function("ratchet_256B_per_msg", |bn| {
        bn.iter(|| {
            if a_turn {
                p.a_to_b(content.as_bytes());
            } else {
                p.b_to_a(content.as_bytes());
            }
            a_turn = !a_turn;
        })
    });
    g.finish();
}

fn bench_primitives(c: &mut Criterion) {
    let mut g = c.benchmark_group("primitives");
    let peer = PublicKey::from(&StaticSecret::random_from_rng(OsRng)).to_bytes();
    let secret = StaticSecret::random_from_rng(OsRng);

    // As ratchet.rs makes its new ratchet key: random scalar, then its public key.
    g.bench_function("x25519_keygen", |b| {
        b.iter(|| {
            let s = Box::new(StaticSecret::random_from_rng(OsRng));
            black_box(PublicKey::from(s.as_ref()).to_bytes())
        })
    });

    // As ratchet.rs's dh(): shared secret plus the contributory check.
    g.bench_function("x25519_dh", |b| {
        b.iter(|| {
            let s = secret.diffie_hellman(&PublicKey::from(black_box(peer)));
            black_box(s.was_contributory().then(|| s.to_bytes()))
        })
    });

    // As kdf.rs's hkdf2 for the root step: 64 bytes out of salt = root key, ikm = DH output.
    let root = [7u8; 32];
    let dh_out = [9u8; 32];
    g.bench_function("hkdf_sha256_root_step", |b| {
        b.iter(|| {
            let hk = Hkdf::<Sha256>::new(Some(black_box(&root)), black_box(&dh_out));
            let mut okm = [0u8; 64];
            hk.expand(b"Sotto v1 ratchet", &mut okm).expect("64 bytes");
            black_box(okm)
        })
    });

    // As kdf.rs's chain_step: HMAC(ck, 0x01) and HMAC(ck, 0x02) from one keyed state.
    let ck = [5u8; 32];
    g.bench_function("hmac_sha256_chain_step", |b| {
        b.iter(|| black_box(Floor::chain_step(black_box(&ck))))
    });

    // Seal + open of 256 bytes of text as padding.rs pads it (272 bytes), with the
    // associated data ratchet.rs binds (handshake hash ‖ header): `ring`, as ratchet.rs.
    let floor = Floor::new(MSG);
    let key = [1u8; 32];
    g.bench_function("chacha20poly1305_seal_open_272B", |b| {
        b.iter(|| floor.aead(black_box(&key)))
    });

    // The same with RustCrypto's chacha20poly1305, which the handshake uses (and data
    // messages did before issue 13): compare the two in one run.
    let padded = sotto::protocol::padding::pad(0, text().as_bytes());
    let ad = [3u8; 72];
    g.bench_function("rustcrypto_chacha20poly1305_seal_open_272B", |b| {
        b.iter(|| {
            let nonce = [0u8; 12];
            let cipher = ChaCha20Poly1305::new(black_box(&key).into());
            let ct = cipher
                .encrypt(
                    &nonce.into(),
                    Payload {
                        msg: &padded,
                        aad: &ad,
                    },
                )
                .expect("seal");
            let cipher = ChaCha20Poly1305::new(black_box(&key).into());
            black_box(
                cipher
                    .decrypt(&nonce.into(), Payload { msg: &ct, aad: &ad })
                    .expect("open"),
            )
        })
    });

    // The wire codec's share of a conversation message: encode + decode of a 256-byte
    // message's ?S1D line (base64url of ~330 bytes).
    let mut p = RatchetPair::new();
    let data: DataMessage = p.a.encrypt(p.id, &p.hash, 0, text().as_bytes());
    let line = WireMessage::Data(data.clone()).encode();
    g.bench_function("wire_encode_decode_data_256B", |b| {
        b.iter(|| {
            let l = WireMessage::Data(black_box(&data).clone()).encode();
            black_box(WireMessage::decode(black_box(&line)).expect("decode"));
            black_box(l)
        })
    });
    g.finish();
}

fn bench_burst(c: &mut Criterion) {
    let mut g = c.benchmark_group("burst");
    let content = text();

    for (name, max_line) in LINE_LIMITS {
        let (mut a, mut b) = established(max_line);
        g.bench_function(name, |bn| bn.iter(|| deliver(&mut a, &mut b, &content)));
    }

    let mut p = RatchetPair::new();
    g.bench_function("ratchet_256B_per_msg", |bn| {
        bn.iter(|| p.a_to_b(content.as_bytes()))
    });

    // The sizes of issue 13, each beside its floor (benches/common: two chain steps, seal,
    // open; then base64url encode + decode). `benches/burst.rs` runs them beside libotr.
    for size in [16usize, 4096] {
        let text = "x".repeat(size);
        let (mut a, mut b) = established(1_000_000);
        g.bench_function(format!("conversation_{size}B_per_msg"), |bn| {
            bn.iter(|| deliver(&mut a, &mut b, &text))
        });
    }
    for size in [16usize, 256, 4096] {
        let floor = Floor::new(size);
        let mut ck = [7u8; 32];
        g.bench_function(format!("floor_crypto_{size}B"), |bn| {
            bn.iter(|| floor.crypto(&mut ck))
        });
        g.bench_function(format!("floor_codec_{size}B"), |bn| {
            bn.iter(|| floor.codec())
        });
    }
    g.finish();
}

fn config() -> Criterion {
    // Short runs: `cargo bench` should finish in a few minutes on a 2-core machine.
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_handshake, bench_alternating, bench_primitives, bench_burst
}
criterion_main!(benches);
