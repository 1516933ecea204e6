//! The two KDFs of the double ratchet, and the HKDF used by the handshake.
//!
//! * Root step: `HKDF-SHA256(salt = root key, ikm = DH output, info = "Sotto v1 ratchet")`,
//!   64 bytes: new root key ‖ new chain key.
//! * Chain step: `HMAC-SHA256(chain key, 0x01)` is the message key,
//!   `HMAC-SHA256(chain key, 0x02)` the next chain key (Signal's recommendation).

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

/// A 32-byte key (root, chain, message, handshake), wiped on drop in one bulk fill (zeroize's
/// slice fill and optimisation barrier): `Zeroizing<[u8; 32]>` wipes an array one volatile
/// byte store at a time, 32 stores for each of the keys every message drops (a fifth of
/// `DoubleRatchet::seal`'s own time in a `perf` profile of `make bench-burst`). No `Debug`.
#[derive(Clone)]
pub(crate) struct Key32([u8; 32]);

impl Key32 {
    /// Takes `bytes` as a key: from here on they are wiped on drop.
    pub(crate) fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl core::ops::Deref for Key32 {
    type Target = [u8; 32];
    fn deref(&self) -> &[u8; 32] {
        &self.0
    }
}

impl core::ops::DerefMut for Key32 {
    fn deref_mut(&mut self) -> &mut [u8; 32] {
        &mut self.0
    }
}

impl Zeroize for Key32 {
    fn zeroize(&mut self) {
        // The slice's bulk fill and optimisation barrier, not the array's per-byte stores.
        self.0[..].zeroize();
    }
}

impl Drop for Key32 {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl zeroize::ZeroizeOnDrop for Key32 {}

/// Info label of the root KDF.
pub(crate) const RATCHET_INFO: &[u8] = b"Sotto v1 ratchet";

/// HKDF-SHA256 with 64 bytes of output split into two keys.
pub(crate) fn hkdf2(salt: &[u8], ikm: &[u8], info: &[u8]) -> (Key32, Key32) {
    let hk = Hkdf::<Sha256>::new(Some(salt), ikm);
    let mut okm = Zeroizing::new([0u8; 64]);
    // 64 bytes is far below HKDF-SHA256's 8160-byte limit: this cannot fail.
    let _ = hk.expand(info, okm.as_mut());
    let mut a = Key32::new([0u8; 32]);
    let mut b = Key32::new([0u8; 32]);
    a.copy_from_slice(&okm[..32]);
    b.copy_from_slice(&okm[32..]);
    (a, b)
}

/// SHA-256's initial state (FIPS 180-4 §5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// A SHA-256 chaining state keyed with a chain key (HMAC's inner or outer key block already
/// hashed), wiped on drop.
struct KeyedState([u32; 8]);

impl KeyedState {
    /// The state after the 64-byte block `key ‖ 0*32`, each byte XORed with `pad`.
    fn new(key: &[u8; 32], pad: u8) -> Self {
        // Built in whole 16-byte words, as the compression loads it: byte stores (what a loop
        // over the bytes compiled to) stall those loads.
        let word = |i: usize| -> [u8; 16] { core::array::from_fn(|j| key[16 * i + j] ^ pad) };
        let (mut k0, mut k1) = (word(0), word(1));
        let mut block = [pad; 64];
        block[..16].copy_from_slice(&k0);
        block[16..32].copy_from_slice(&k1);
        let mut state = SHA256_IV;
        compress(&mut state, &block);
        for wiped in [&mut k0[..], &mut k1[..], &mut block[..]] {
            wiped.zeroize();
        }
        Self(state)
    }

    /// The state after one more block, `block` (the last one, padded).
    fn after(&self, block: &[u8; 64]) -> Self {
        let mut state = Self(self.0);
        compress(&mut state.0, block);
        state
    }
}

impl Drop for KeyedState {
    fn drop(&mut self) {
        self.0[..].zeroize();
    }
}

/// One SHA-256 compression of `block` into `state` (SHA-NI where the CPU has it, as `Sha256`).
fn compress(state: &mut [u32; 8], block: &[u8; 64]) {
    sha2::compress256(
        state,
        core::slice::from_ref(sha2::digest::generic_array::GenericArray::from_slice(block)),
    );
}

/// The last block of a hash whose `len` bytes end with `data_len` bytes in this block: room
/// for the data, SHA-256's padding (0x80, zeros, the bit length).
const fn last_block(data_len: usize, len: u64) -> [u8; 64] {
    let mut block = [0u8; 64];
    block[data_len] = 0x80;
    let bits = (len * 8).to_be_bytes();
    let mut i = 0;
    while i < 8 {
        block[56 + i] = bits[i];
        i += 1;
    }
    block
}

/// The last block of HMAC's inner hash of the one-byte message `label` (key block and label:
/// 65 bytes).
const fn inner_block(label: u8) -> [u8; 64] {
    let mut block = last_block(1, 64 + 1);
    block[0] = label;
    block
}

/// The last block of HMAC's outer hash: the inner digest goes in front (key block and digest:
/// 96 bytes).
const OUTER_BLOCK: [u8; 64] = last_block(32, 64 + 32);

const MESSAGE_KEY_BLOCK: [u8; 64] = inner_block(0x01);
const CHAIN_KEY_BLOCK: [u8; 64] = inner_block(0x02);

/// HMAC's outer hash over the inner `digest`: the output key.
fn outer(outer: &KeyedState, digest: &KeyedState) -> Key32 {
    let mut block = OUTER_BLOCK;
    for (b, w) in block.chunks_exact_mut(4).zip(digest.0) {
        b.copy_from_slice(&w.to_be_bytes());
    }
    let state = outer.after(&block);
    block[..32].zeroize();
    let mut key = Key32::new([0u8; 32]);
    for (b, w) in key.chunks_exact_mut(4).zip(state.0) {
        b.copy_from_slice(&w.to_be_bytes());
    }
    key
}

/// One symmetric-ratchet step: (message key, next chain key).
///
/// HMAC-SHA256 (RFC 2104) written out over SHA-256's compression function, six compressions as
/// `Hmac<Sha256>` makes them: the inner and the outer key block once for both outputs, then an
/// inner and an outer block for each. Made in that order, the two compressions of each pair
/// are independent and the CPU overlaps them (SHA-NI's rounds are latency-bound), and the
/// inner blocks are constants: 0.2 µs less per 16-byte message sent and read in
/// `make bench-burst` than through `hmac` (docs/PERFORMANCE.md). The states and blocks it owns
/// are wiped (best effort: copies the compiler or sha2's software compression leave on the
/// stack are not; `hmac` wipes none). The tests hold it to the `hmac` crate's output and to a
/// fixed vector.
pub(crate) fn chain_step(chain_key: &[u8; 32]) -> (Key32, Key32) {
    let inner = KeyedState::new(chain_key, 0x36);
    let outer_key = KeyedState::new(chain_key, 0x5c);
    let mk_inner = inner.after(&MESSAGE_KEY_BLOCK);
    let ck_inner = inner.after(&CHAIN_KEY_BLOCK);
    (outer(&outer_key, &mk_inner), outer(&outer_key, &ck_inner))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};

    /// RFC 5869 test case 1 (HKDF-SHA256), checked through the same `hkdf` crate calls we use.
    #[test]
    fn rfc5869_case1() {
        let ikm = [0x0bu8; 22];
        let salt: Vec<u8> = (0x00..=0x0c).collect();
        let info: Vec<u8> = (0xf0..=0xf9).collect();
        let hk = Hkdf::<Sha256>::new(Some(&salt), &ikm);
        let mut okm = [0u8; 42];
        hk.expand(&info, &mut okm).unwrap();
        assert_eq!(
            hex::encode(okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
        // And our 64-byte split agrees with the first 64 bytes of the same expansion.
        let mut long = [0u8; 64];
        hk.expand(&info, &mut long).unwrap();
        let (a, b) = hkdf2(&salt, &ikm, &info);
        assert_eq!(&a[..], &long[..32]);
        assert_eq!(&b[..], &long[32..]);
    }

    /// The chain step of the key 00 01 .. 1f, as Python's `hmac` module computes HMAC-SHA256
    /// of it over the byte 01 and the byte 02 (RFC 4231 has no 32-byte key with a one-byte
    /// message).
    #[test]
    fn chain_step_matches_a_fixed_vector() {
        let key: [u8; 32] = std::array::from_fn(|i| i as u8);
        let (mk, ck) = chain_step(&key);
        assert_eq!(
            hex::encode(*mk),
            "9b4c8120a4823a95f47cde17a244f4507244ee6e3957d1fab9fa29b44d3829b7"
        );
        assert_eq!(
            hex::encode(*ck),
            "4304c22c84a53755ab08ead8d97a8d429be5efa480682d7ad1da27f73e1fbe1d"
        );
    }

    /// The chain step is HMAC-SHA256 as the `hmac` crate computes it.
    #[test]
    fn chain_step_is_hmac_sha256() {
        let hmac = |key: &[u8; 32], label: u8| {
            let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
            m.update(&[label]);
            <[u8; 32]>::from(m.finalize().into_bytes())
        };
        let mut key = [0u8; 32];
        for round in 0..200u32 {
            let (mk, ck) = chain_step(&key);
            assert_eq!(*mk, hmac(&key, 0x01), "round {round}");
            assert_eq!(*ck, hmac(&key, 0x02), "round {round}");
            key = *ck;
            key[round as usize % 32] ^= round as u8;
        }
        let (mk, ck) = chain_step(&[0xff; 32]);
        assert_eq!(
            (*mk, *ck),
            (hmac(&[0xff; 32], 0x01), hmac(&[0xff; 32], 0x02))
        );
    }

    #[test]
    fn chain_step_outputs_differ_and_are_deterministic() {
        let ck = [7u8; 32];
        let (mk1, ck1) = chain_step(&ck);
        let (mk2, ck2) = chain_step(&ck);
        assert_eq!(*mk1, *mk2);
        assert_eq!(*ck1, *ck2);
        assert_ne!(*mk1, *ck1);
        assert_ne!(*ck1, ck);
    }
}
