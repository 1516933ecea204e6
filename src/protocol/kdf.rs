//! The two KDFs of the double ratchet, and the HKDF used by the handshake.
//!
//! * Root step: `HKDF-SHA256(salt = root key, ikm = DH output, info = "Sotto v1 ratchet")`,
//!   64 bytes: new root key ‖ new chain key.
//! * Chain step: `HMAC-SHA256(chain key, 0x01)` is the message key,
//!   `HMAC-SHA256(chain key, 0x02)` the next chain key (Signal's recommendation).
//!
//! SHA-256 (FIPS 180-4), HMAC (RFC 2104) and HKDF (RFC 5869) are written here over `sha2`'s
//! compression function alone, so that every state, key block and buffer that held a secret is
//! wiped when it is dropped: the `hmac`/`hkdf`/`sha2` 0.10-0.12 types wipe none of theirs (the
//! key block, the extracted key, the last block hashed). The tests hold them to the RFCs'
//! vectors and to those crates' output.

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
    let mut a = Key32::new([0u8; 32]);
    let mut b = Key32::new([0u8; 32]);
    let prk = hmac(salt, &[ikm]);
    let t1 = hmac(&prk[..], &[info, &[1]]);
    let t2 = hmac(&prk[..], &[&t1[..], info, &[2]]);
    a.copy_from_slice(&t1[..]);
    b.copy_from_slice(&t2[..]);
    (a, b)
}

/// HKDF-SHA256 (RFC 5869) of `out.len()` bytes into `out`, at most 255 blocks of 32 (8,160
/// bytes; the callers ask for 48 and 64). `None`, with `out` untouched, above that.
pub(crate) fn hkdf(salt: &[u8], ikm: &[u8], info: &[u8], out: &mut [u8]) -> Option<()> {
    if out.len() > 255 * 32 {
        return None;
    }
    let prk = hmac(salt, &[ikm]);
    let mut t = Key32::new([0u8; 32]);
    let mut previous = 0;
    for (counter, chunk) in (1u8..=255).zip(out.chunks_mut(32)) {
        t = hmac(&prk[..], &[&t[..previous], info, &[counter]]);
        chunk.copy_from_slice(&t[..chunk.len()]);
        previous = 32;
    }
    Some(())
}

/// HMAC-SHA256 (RFC 2104) of the concatenation of `parts` under `key` (of any length: a key
/// longer than the 64-byte block is hashed first, a shorter one padded with zeros).
pub(crate) fn hmac(key: &[u8], parts: &[&[u8]]) -> Key32 {
    let mut block = Zeroizing::new([0u8; 64]);
    if key.len() > block.len() {
        block[..32].copy_from_slice(&sha256(&[key])[..]);
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |block: &mut [u8; 64], pad: u8| block.iter_mut().for_each(|b| *b ^= pad);
    let mut inner = Sha256Wiped::new();
    pad(&mut block, 0x36);
    inner.update(&block[..]);
    for part in parts {
        inner.update(part);
    }
    let digest = inner.finish();
    let mut outer = Sha256Wiped::new();
    // 0x36 ^ 0x5c: from the inner pad to the outer one.
    pad(&mut block, 0x36 ^ 0x5c);
    outer.update(&block[..]);
    outer.update(&digest[..]);
    outer.finish()
}

/// SHA-256 of the concatenation of `parts`, wiped when dropped.
pub(crate) fn sha256(parts: &[&[u8]]) -> Key32 {
    let mut h = Sha256Wiped::new();
    for part in parts {
        h.update(part);
    }
    h.finish()
}

/// SHA-256 (FIPS 180-4) over `sha2`'s compression function, for secret input: its chaining
/// state and its partial block are wiped on drop (`sha2::Sha256` wipes neither).
pub(crate) struct Sha256Wiped {
    state: [u32; 8],
    block: [u8; 64],
    /// Bytes of `block` in use.
    filled: usize,
    /// Bytes hashed so far.
    len: u64,
}

impl Sha256Wiped {
    pub(crate) fn new() -> Self {
        Self {
            state: SHA256_IV,
            block: [0u8; 64],
            filled: 0,
            len: 0,
        }
    }

    pub(crate) fn update(&mut self, mut data: &[u8]) {
        self.len = self.len.wrapping_add(data.len() as u64);
        if self.filled > 0 {
            let take = data.len().min(64 - self.filled);
            self.block[self.filled..self.filled + take].copy_from_slice(&data[..take]);
            self.filled += take;
            data = &data[take..];
            if self.filled < 64 {
                return;
            }
            compress(&mut self.state, &self.block);
            self.filled = 0;
        }
        // Whole blocks straight from `data`, the rest kept for the next call.
        let mut blocks = data.chunks_exact(64);
        for block in &mut blocks {
            if let Ok(block) = block.try_into() {
                compress(&mut self.state, block);
            }
        }
        let rest = blocks.remainder();
        self.block[..rest.len()].copy_from_slice(rest);
        self.filled = rest.len();
    }

    /// The digest: SHA-256's padding (0x80, zeros, the length in bits, big-endian) and the
    /// state written out big-endian.
    pub(crate) fn finish(mut self) -> Key32 {
        let bits = self.len.wrapping_mul(8).to_be_bytes();
        self.block[self.filled] = 0x80;
        self.block[self.filled + 1..].fill(0);
        if self.filled >= 56 {
            compress(&mut self.state, &self.block);
            self.block.fill(0);
        }
        self.block[56..].copy_from_slice(&bits);
        compress(&mut self.state, &self.block);
        let mut digest = Key32::new([0u8; 32]);
        for (b, w) in digest.chunks_exact_mut(4).zip(self.state.iter()) {
            b.copy_from_slice(&w.to_be_bytes());
        }
        digest
    }
}

impl Drop for Sha256Wiped {
    fn drop(&mut self) {
        self.state[..].zeroize();
        self.block[..].zeroize();
    }
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
    use sha2::Sha256;

    /// RFC 5869 appendix A.1-A.3 (HKDF-SHA256): short input, 80-byte input with 82 bytes of
    /// output (three blocks, the last cut), empty salt and info.
    #[test]
    fn hkdf_matches_rfc5869() {
        // (ikm, salt, info, okm)
        type Case = (Vec<u8>, Vec<u8>, Vec<u8>, &'static str);
        let cases: [Case; 3] = [
            (
                vec![0x0b; 22],
                (0x00..=0x0c).collect(),
                (0xf0..=0xf9).collect(),
                "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
            ),
            (
                (0x00..=0x4f).collect(),
                (0x60..=0xaf).collect(),
                (0xb0..=0xff).collect(),
                "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c\
                 59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71\
                 cc30c58179ec3e87c14c01d5c1f3434f1d87",
            ),
            (
                vec![0x0b; 22],
                vec![],
                vec![],
                "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
            ),
        ];
        for (ikm, salt, info, okm) in cases {
            let mut out = vec![0u8; okm.len() / 2];
            assert_eq!(hkdf(&salt, &ikm, &info, &mut out), Some(()));
            assert_eq!(hex::encode(&out), okm);
            // The 64-byte split is the first 64 bytes of the same expansion.
            let mut long = [0u8; 64];
            assert_eq!(hkdf(&salt, &ikm, &info, &mut long), Some(()));
            let (a, b) = hkdf2(&salt, &ikm, &info);
            assert_eq!((&a[..], &b[..]), (&long[..32], &long[32..]));
        }
        let mut too_long = vec![7u8; 255 * 32 + 1];
        assert_eq!(hkdf(b"", b"", b"", &mut too_long), None);
        assert!(too_long.iter().all(|&b| b == 7));
        let mut longest = vec![0u8; 255 * 32];
        assert_eq!(hkdf(b"s", b"k", b"i", &mut longest), Some(()));
        let reference = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"s"), b"k");
        let mut expected = vec![0u8; 255 * 32];
        reference.expand(b"i", &mut expected).unwrap();
        assert_eq!(longest, expected);
    }

    /// RFC 4231 test cases 1-4, 6 and 7 (HMAC-SHA256; case 5 is a truncated output): short
    /// keys, a 25-byte key, 131-byte keys hashed first, data longer than a block.
    #[test]
    fn hmac_matches_rfc4231() {
        let cases: [(Vec<u8>, Vec<u8>, &str); 6] = [
            (
                vec![0x0b; 20],
                b"Hi There".to_vec(),
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe".to_vec(),
                b"what do ya want for nothing?".to_vec(),
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                vec![0xaa; 20],
                vec![0xdd; 50],
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            ),
            (
                (0x01..=0x19).collect(),
                vec![0xcd; 50],
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            ),
            (
                vec![0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
            (
                vec![0xaa; 131],
                b"This is a test using a larger than block-size key and a larger than \
                  block-size data. The key needs to be hashed before being used by the HMAC \
                  algorithm."
                    .to_vec(),
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ),
        ];
        for (key, data, mac) in cases {
            assert_eq!(hex::encode(*hmac(&key, &[&data])), mac);
            // Parts are hashed as their concatenation.
            let (a, b) = data.split_at(data.len() / 3);
            assert_eq!(hex::encode(*hmac(&key, &[a, &[], b])), mac);
        }
    }

    /// SHA-256 as `sha2` computes it, at every length around the padding's edges (55, 56, 63,
    /// 64 bytes) and over several blocks, fed in uneven pieces; and FIPS 180-2's "abc".
    #[test]
    fn sha256_matches_sha2() {
        use sha2::Digest as _;
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..=data.len() {
            let whole = &data[..len];
            let expected: [u8; 32] = sha2::Sha256::digest(whole).into();
            assert_eq!(*sha256(&[whole]), expected, "length {len}");
            let mut h = Sha256Wiped::new();
            for piece in whole.chunks(len % 13 + 1) {
                h.update(piece);
            }
            assert_eq!(*h.finish(), expected, "length {len} in pieces");
            // A part block, then whole blocks and a rest from one call.
            let (head, tail) = whole.split_at(len.min(5));
            assert_eq!(*sha256(&[head, tail]), expected, "length {len} in two");
        }
        assert_eq!(
            hex::encode(*sha256(&[b"abc"])),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
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
