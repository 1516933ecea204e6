//! An independent implementation of `docs/PROTOCOL.md`, written from the document alone: the
//! handshake (§3), the ratchet's KDFs and data messages (§4) and SPAKE2 as §5.2 writes it out.
//! It shares no code with the protocol modules (only the primitives' crates), so when the
//! vectors built by the real code equal what this builds, the document was enough.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::ChaCha20Poly1305;
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};

pub(super) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut d = Sha256::new();
    for p in parts {
        d.update(p);
    }
    d.finalize().into()
}

pub(super) fn hkdf(salt: &[u8], ikm: &[u8], info: &[u8], len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, &mut out)
        .unwrap();
    out
}

pub(super) fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

pub(super) fn x25519(secret: &[u8; 32], public: &[u8; 32]) -> [u8; 32] {
    StaticSecret::from(*secret)
        .diffie_hellman(&PublicKey::from(*public))
        .to_bytes()
}

pub(super) fn x25519_public(secret: &[u8; 32]) -> [u8; 32] {
    PublicKey::from(&StaticSecret::from(*secret)).to_bytes()
}

fn aead(key: &[u8], nonce: [u8; 12], ad: &[u8], msg: &[u8]) -> Vec<u8> {
    ChaCha20Poly1305::new(key.into())
        .encrypt(&nonce.into(), Payload { msg, aad: ad })
        .unwrap()
}

pub(super) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// §3's symmetric state, with a log of every intermediate value.
pub(super) struct Sym {
    pub ck: [u8; 32],
    pub h: [u8; 32],
    k: Option<[u8; 32]>,
    n: u64,
    pub log: Vec<String>,
}

impl Sym {
    pub(super) fn new() -> Self {
        let h = sha256(&[b"Sotto_XX_25519_ChaChaPoly_SHA256_v1"]);
        let mut s = Self {
            ck: h,
            h,
            k: None,
            n: 0,
            log: vec![format!("h = ck = HASH(protocol name): {}", hex::encode(h))],
        };
        s.mix_hash(b"Sotto v1", "prologue");
        s
    }

    pub(super) fn mix_hash(&mut self, x: &[u8], what: &str) {
        self.h = sha256(&[&self.h, x]);
        self.log
            .push(format!("MixHash({what}): h = {}", hex::encode(self.h)));
    }

    pub(super) fn mix_key(&mut self, ikm: &[u8], what: &str) {
        let out = hkdf(&self.ck, ikm, b"", 64);
        self.ck.copy_from_slice(&out[..32]);
        let mut k = [0u8; 32];
        k.copy_from_slice(&out[32..]);
        self.k = Some(k);
        self.n = 0;
        self.log.push(format!(
            "MixKey({what} = {}): ck = {}, k = {}",
            hex::encode(ikm),
            hex::encode(self.ck),
            hex::encode(k)
        ));
    }

    pub(super) fn encrypt_and_hash(&mut self, p: &[u8], what: &str) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&self.n.to_le_bytes());
        let c = aead(&self.k.unwrap(), nonce, &self.h, p);
        self.n += 1;
        self.mix_hash(&c, what);
        c
    }
}

/// A whole handshake as §3 describes it, from both sides' secrets.
pub(super) struct Handshake {
    pub init: String,
    pub response: String,
    pub confirm: String,
    pub h: [u8; 32],
    pub rk0: [u8; 32],
    pub ck_r: [u8; 32],
    pub log: Vec<String>,
}

pub(super) struct HandshakeInput<'a> {
    pub tag_i: u32,
    pub tag_r: u32,
    pub s_i: [u8; 32],
    pub s_r: [u8; 32],
    pub e_i: [u8; 32],
    pub e_r: [u8; 32],
    pub payload_i: &'a [u8],
    pub payload_r: &'a [u8],
    /// The bytes sent for `s_i` / `s_r` where they are not its public key (must-reject lines).
    pub sent: (Option<[u8; 32]>, Option<[u8; 32]>),
}

pub(super) fn handshake(x: &HandshakeInput<'_>) -> Handshake {
    let (ti, tr) = (x.tag_i.to_be_bytes(), x.tag_r.to_be_bytes());
    let e_i_pub = x25519_public(&x.e_i);
    let e_r_pub = x25519_public(&x.e_r);
    let s = Sym::new();
    let mut s = s;
    // Message 1.
    s.mix_hash(&[&b"I"[..], &ti].concat(), "'I' ‖ tag_i");
    s.mix_hash(&e_i_pub, "e_i");
    let init = format!("?S1I{}", b64(&[&ti[..], &e_i_pub].concat()));
    // Message 2.
    s.mix_hash(&[&b"R"[..], &tr, &ti].concat(), "'R' ‖ tag_r ‖ tag_i");
    s.mix_hash(&e_r_pub, "e_r");
    s.mix_key(&x25519(&x.e_r, &e_i_pub), "DH(e_r, e_i)");
    let s_r_sent = x.sent.1.unwrap_or_else(|| x25519_public(&x.s_r));
    let enc_s_r = s.encrypt_and_hash(&s_r_sent, "enc_s_r");
    s.mix_key(&x25519(&x.s_r, &e_i_pub), "DH(s_r, e_i)");
    let enc_p_r = s.encrypt_and_hash(x.payload_r, "enc_p (R)");
    let response = format!(
        "?S1R{}",
        b64(&[&tr[..], &ti, &e_r_pub, &enc_s_r, &enc_p_r].concat())
    );
    // Message 3.
    s.mix_hash(&[&b"C"[..], &ti, &tr].concat(), "'C' ‖ tag_i ‖ tag_r");
    let s_i_sent = x.sent.0.unwrap_or_else(|| x25519_public(&x.s_i));
    let enc_s_i = s.encrypt_and_hash(&s_i_sent, "enc_s_i");
    s.mix_key(&x25519(&x.s_i, &e_r_pub), "DH(s_i, e_r)");
    let enc_p_i = s.encrypt_and_hash(x.payload_i, "enc_p (C)");
    let confirm = format!("?S1C{}", b64(&[&ti[..], &tr, &enc_s_i, &enc_p_i].concat()));
    // Split.
    let out = hkdf(&s.ck, &s.h, b"Sotto v1 split", 64);
    let (mut rk0, mut ck_r) = ([0u8; 32], [0u8; 32]);
    rk0.copy_from_slice(&out[..32]);
    ck_r.copy_from_slice(&out[32..]);
    let mut log = s.log;
    log.push(format!(
        "split: RK0 = {}, CK_r = {}, sid = {}",
        hex::encode(rk0),
        hex::encode(ck_r),
        hex::encode(&s.h[..4])
    ));
    Handshake {
        init,
        response,
        confirm,
        h: s.h,
        rk0,
        ck_r,
        log,
    }
}

/// `KDF_RK`: (RK', CK).
pub(super) fn kdf_rk(rk: &[u8; 32], dh: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    let out = hkdf(rk, dh, b"Sotto v1 ratchet", 64);
    let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
    a.copy_from_slice(&out[..32]);
    b.copy_from_slice(&out[32..]);
    (a, b)
}

/// `KDF_CK`: (mk, CK').
pub(super) fn kdf_ck(ck: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    (hmac(ck, &[&[0x01]]), hmac(ck, &[&[0x02]]))
}

/// §4's padded length.
pub(super) fn padded_len(l: usize) -> usize {
    if l <= 64 {
        return l.max(1).div_ceil(8) * 8;
    }
    let e = l.ilog2();
    let s = e.ilog2() + 1;
    let step = 1usize << (e - s);
    l.div_ceil(step) * step
}

fn varint(mut v: u32, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// One data message: `plaintext` is the framed, padded `P` (so tests can also build bad ones).
pub(super) struct Data<'a> {
    pub sid: [u8; 4],
    pub h: &'a [u8; 32],
    pub rk: [u8; 32],
    pub pn: u32,
    pub n: u32,
    pub mk: [u8; 32],
    pub plaintext: &'a [u8],
}

pub(super) fn data_line(d: &Data<'_>) -> String {
    let mut header = d.sid.to_vec();
    header.extend_from_slice(&d.rk);
    varint(d.pn, &mut header);
    varint(d.n, &mut header);
    let ad = [&d.h[..], &header].concat();
    let ct = aead(&d.mk, [0u8; 12], &ad, d.plaintext);
    format!("?S1D{}", b64(&[header, ct].concat()))
}

/// The not-read notice (§2.2) a client without the session answers a data line with:
/// `sid`, the first 4 bytes of `rk` in lower-case hex, `n` in decimal.
/// §6: the 12-character header of piece `index` of `total` of the line whose random u32 was
/// `draw` (its low 24 bits are the id), numbers in base64url digits, most significant first.
pub(super) fn fragment_header(draw: u32, index: usize, total: usize) -> String {
    const DIGITS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let digits = |v: u32, n: u32| -> String {
        (0..n)
            .rev()
            .map(|i| char::from(DIGITS[((v >> (6 * i)) & 63) as usize]))
            .collect()
    };
    format!(
        "?S1P{}{}{}",
        digits(draw & 0x00FF_FFFF, 4),
        digits(index as u32, 2),
        digits(total as u32, 2)
    )
}

pub(super) fn not_read_line(data: &str) -> String {
    let body = URL_SAFE_NO_PAD.decode(&data[4..]).unwrap();
    let (_, _, n) = data_header(data);
    let hex: String = body[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "?S1E could not read message {}.{}.{n} (no encrypted session)",
        &hex[..8],
        &hex[8..]
    )
}

/// `type ‖ content ‖ 0x80 ‖ 0x00*` padded to `padded_len`.
pub(super) fn frame(kind: u8, content: &[u8]) -> Vec<u8> {
    let mut p = vec![kind];
    p.extend_from_slice(content);
    p.push(0x80);
    p.resize(padded_len(content.len() + 2), 0);
    p
}

// ---- SPAKE2 (§5.2) ----

/// `p = 2^255 - 19` as little-endian 64-bit limbs.
const P: [u64; 4] = [
    0xffff_ffff_ffff_ffed,
    0xffff_ffff_ffff_ffff,
    0xffff_ffff_ffff_ffff,
    0x7fff_ffff_ffff_ffff,
];

fn ge(a: &[u64; 4], b: &[u64; 4]) -> bool {
    for i in (0..4).rev() {
        if a[i] != b[i] {
            return a[i] > b[i];
        }
    }
    true
}

fn sub_p(a: &mut [u64; 4]) {
    let mut borrow = 0i128;
    for i in 0..4 {
        let v = i128::from(a[i]) - i128::from(P[i]) + borrow;
        a[i] = v as u64;
        borrow = if v < 0 { -1 } else { 0 };
    }
}

/// A big-endian byte string as an integer mod p.
fn mod_p_be(bytes: &[u8]) -> [u64; 4] {
    let mut r = [0u64; 4];
    for &byte in bytes {
        // r = r * 256 + byte, then fold bits 255.. back in (2^255 = 19 mod p).
        let mut t = [0u64; 5];
        let mut carry = u128::from(byte);
        for i in 0..4 {
            let v = (u128::from(r[i]) << 8) | carry;
            t[i] = v as u64;
            carry = v >> 64;
        }
        t[4] = carry as u64;
        let hi = (t[4] << 1) | (t[3] >> 63);
        t[3] &= 0x7fff_ffff_ffff_ffff;
        let mut c = u128::from(hi) * 19;
        for i in 0..4 {
            let v = u128::from(t[i]) + c;
            r[i] = v as u64;
            c = v >> 64;
        }
        while ge(&r, &P) {
            sub_p(&mut r);
        }
    }
    r
}

fn le_bytes(limbs: &[u64; 4]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, l) in limbs.iter().enumerate() {
        out[8 * i..8 * i + 8].copy_from_slice(&l.to_le_bytes());
    }
    out
}

/// python-spake2's `arbitrary_element(seed)`, as §5.2 describes it.
pub(super) fn arbitrary_element(seed: &[u8]) -> EdwardsPoint {
    let okm = hkdf(b"", seed, b"SPAKE2 arbitrary element", 48);
    let mut y = mod_p_be(&okm);
    loop {
        if let Some(p) = CompressedEdwardsY(le_bytes(&y)).decompress() {
            let p8 = p.mul_by_cofactor();
            if !p8.is_small_order() {
                return p8;
            }
        }
        // Next y: y + 1 mod p.
        let mut carry = 1u128;
        for limb in y.iter_mut() {
            let v = u128::from(*limb) + carry;
            *limb = v as u64;
            carry = v >> 64;
        }
        if ge(&y, &P) {
            sub_p(&mut y);
        }
    }
}

/// `w`: HKDF(salt = "", ikm = password, info = "SPAKE2 pw", 48), big-endian, mod L.
pub(super) fn password_scalar(pw: &[u8]) -> Scalar {
    let okm = hkdf(b"", pw, b"SPAKE2 pw", 48);
    let mut wide = [0u8; 64];
    for (i, b) in okm.iter().rev().enumerate() {
        wide[i] = *b;
    }
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// A SPAKE2 message: side ‖ (x·G + w·blind), for the 64 random bytes `draw`.
pub(super) fn spake_message(
    side: u8,
    draw: &[u8; 64],
    w: &Scalar,
    blind: &EdwardsPoint,
) -> Vec<u8> {
    let x = Scalar::from_bytes_mod_order_wide(draw);
    let pt = ED25519_BASEPOINT_POINT * x + blind * w;
    [&[side][..], pt.compress().as_bytes()].concat()
}

/// The SPAKE2 key: HASH(HASH(pw) ‖ HASH(id_A) ‖ HASH(id_B) ‖ X ‖ Y ‖ K), with
/// K = x·(peer − w·unblind). `x_msg`/`y_msg` are the asker's and answerer's points.
#[allow(clippy::too_many_arguments)]
pub(super) fn spake_key(
    draw: &[u8; 64],
    w: &Scalar,
    pw: &[u8],
    peer_point: &[u8],
    unblind: &EdwardsPoint,
    id_a: &[u8],
    id_b: &[u8],
    x_msg: &[u8],
    y_msg: &[u8],
) -> ([u8; 32], [u8; 32]) {
    let x = Scalar::from_bytes_mod_order_wide(draw);
    let peer = CompressedEdwardsY(peer_point.try_into().unwrap())
        .decompress()
        .unwrap();
    let k = ((peer - unblind * w) * x).compress().to_bytes();
    let key = sha256(&[
        &sha256(&[pw]),
        &sha256(&[id_a]),
        &sha256(&[id_b]),
        x_msg,
        y_msg,
        &k,
    ]);
    (k, key)
}

// ---- the double ratchet's state (§4), mirrored from the outside ----

/// One side's ratchet state, as §4 states it. It is fed the same random draws the real side
/// made, so every line it builds must equal the real side's.
#[derive(Clone)]
pub(super) struct Ratchet {
    pub sid: [u8; 4],
    pub h: [u8; 32],
    pub rk: [u8; 32],
    pub dhs: [u8; 32],
    pub dhr: Option<[u8; 32]>,
    pub cks: [u8; 32],
    pub ns: u32,
    pub pn: u32,
    pub ckr: Option<[u8; 32]>,
    pub nr: u32,
    pub skipped: Vec<([u8; 32], u32, [u8; 32])>,
    pub log: Vec<String>,
}

impl Ratchet {
    /// The initiator: `(RK, CKs) = KDF_RK(RK0, DH(A1, e_r))`, `CKr = CK_r`.
    pub(super) fn initiator(hs: &Handshake, a1: [u8; 32], e_r_pub: [u8; 32]) -> Self {
        let dh = x25519(&a1, &e_r_pub);
        let (rk, cks) = kdf_rk(&hs.rk0, &dh);
        let log = vec![format!(
            "initiator: A1 public = {}, DH(A1, e_r) = {}, (RK, CKs) = KDF_RK(RK0, ·) = ({}, {})",
            hex::encode(x25519_public(&a1)),
            hex::encode(dh),
            hex::encode(rk),
            hex::encode(cks)
        )];
        Self {
            sid: hs.h[..4].try_into().unwrap(),
            h: hs.h,
            rk,
            dhs: a1,
            dhr: Some(e_r_pub),
            cks,
            ns: 0,
            pn: 0,
            ckr: Some(hs.ck_r),
            nr: 0,
            skipped: Vec::new(),
            log,
        }
    }

    /// The responder: `RK = RK0`, `DHs = e_r`, `CKs = CK_r`.
    pub(super) fn responder(hs: &Handshake, e_r: [u8; 32]) -> Self {
        Self {
            sid: hs.h[..4].try_into().unwrap(),
            h: hs.h,
            rk: hs.rk0,
            dhs: e_r,
            dhr: None,
            cks: hs.ck_r,
            ns: 0,
            pn: 0,
            ckr: None,
            nr: 0,
            skipped: Vec::new(),
            log: Vec::new(),
        }
    }

    /// Sends `P` (already framed): the next message key of the sending chain.
    pub(super) fn seal_framed(&mut self, plaintext: &[u8]) -> String {
        let (mk, next) = kdf_ck(&self.cks);
        self.log.push(format!(
            "send n={} pn={}: CKs = {}, mk = {}, P = {}",
            self.ns,
            self.pn,
            hex::encode(self.cks),
            hex::encode(mk),
            hex::encode(plaintext)
        ));
        let line = data_line(&Data {
            sid: self.sid,
            h: &self.h,
            rk: x25519_public(&self.dhs),
            pn: self.pn,
            n: self.ns,
            mk,
            plaintext,
        });
        self.cks = next;
        self.ns += 1;
        line
    }

    pub(super) fn seal(&mut self, kind: u8, content: &[u8]) -> String {
        self.seal_framed(&frame(kind, content))
    }

    fn skip(&mut self, until: u32) {
        let (Some(mut ck), Some(dhr)) = (self.ckr, self.dhr) else {
            return;
        };
        while self.nr < until {
            let (mk, next) = kdf_ck(&ck);
            self.skipped.push((dhr, self.nr, mk));
            ck = next;
            self.nr += 1;
        }
        self.ckr = Some(ck);
    }

    /// Receives the header `(rk, pn, n)` of a message that authenticates; `fresh` is the key
    /// pair the real receiver drew if this is a new ratchet key. Returns the message key.
    pub(super) fn receive(
        &mut self,
        rk: [u8; 32],
        pn: u32,
        n: u32,
        fresh: Option<[u8; 32]>,
    ) -> [u8; 32] {
        if let Some(i) = self.skipped.iter().position(|s| s.0 == rk && s.1 == n) {
            return self.skipped.remove(i).2;
        }
        if self.dhr != Some(rk) {
            self.skip(pn);
            let dh = x25519(&self.dhs, &rk);
            let (rk1, ckr) = kdf_rk(&self.rk, &dh);
            let new = fresh.unwrap();
            let (rk2, cks) = kdf_rk(&rk1, &x25519(&new, &rk));
            self.log.push(format!(
                "DH ratchet step on {}: (RK, CKr) = ({}, {}); new DHs public {}; (RK, CKs) = ({}, {})",
                hex::encode(rk),
                hex::encode(rk1),
                hex::encode(ckr),
                hex::encode(x25519_public(&new)),
                hex::encode(rk2),
                hex::encode(cks)
            ));
            self.pn = self.ns;
            self.ns = 0;
            self.nr = 0;
            self.dhr = Some(rk);
            self.ckr = Some(ckr);
            self.rk = rk2;
            self.dhs = new;
            self.cks = cks;
        }
        self.skip(n);
        let (mk, next) = kdf_ck(&self.ckr.unwrap());
        self.ckr = Some(next);
        self.nr = n + 1;
        mk
    }
}

/// The header fields of a `?S1D` line: (rk, pn, n).
pub(super) fn data_header(line: &str) -> ([u8; 32], u32, u32) {
    let body = URL_SAFE_NO_PAD.decode(&line[4..]).unwrap();
    let rk: [u8; 32] = body[4..36].try_into().unwrap();
    let mut pos = 36;
    let mut read = || {
        let mut v = 0u32;
        let mut shift = 0;
        loop {
            let b = body[pos];
            pos += 1;
            v |= u32::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                return v;
            }
        }
    };
    let pn = read();
    let n = read();
    (rk, pn, n)
}
