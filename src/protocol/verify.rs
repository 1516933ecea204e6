//! Verifying a contact by a question only they can answer, in band, bound to the session.
//!
//! A password-authenticated key exchange, SPAKE2 over Edwards25519 exactly as RustCrypto's
//! `spake2` 0.4 computes it (written out in `docs/PROTOCOL.md` §5.2, checked against an
//! independent computation in the tests below), with the normalized answer as the password and
//! the session's handshake hash plus both identity keys as the SPAKE2 identities, then key
//! confirmation both ways:
//!
//! ```text
//! asker                                                answerer
//! 0x10 ask:    spake_A (33) ‖ question (UTF-8)   ──▶   (user types the answer)
//!                                                ◀──   0x11 reply:  spake_B (33) ‖ mac_B (32)
//! 0x12 result: mac_A (32)                        ──▶
//! mac_X = HMAC-SHA256(mk, label_X ‖ h)
//! mk    = HKDF(salt = "", ikm = key, "Sotto v1 verify confirm", 64)[0..32]
//!         (key: SPAKE2's hash of its transcript, PROTOCOL.md §5.2)
//! ```
//!
//! All three travel as encrypted data messages of the session (inner types 0x10–0x13), so
//! only the session's peer sees them. A wrong answer yields unrelated keys on the two sides:
//! both confirmations fail and neither side learns anything but "no match"; each run allows one
//! online guess. A man in the middle holds two sessions with two different handshake hashes,
//! so relaying the exchange fails too. Only the asker's trust changes on success (the answerer
//! did not choose the secret).
//!
//! A peer's SPAKE2 point is checked before use (canonical encoding, on the curve, in the
//! prime-order subgroup, not the identity): `spake2` 0.4 only decompresses it.
//!
//! The computation is written here on curve25519-dalek rather than called from `spake2` 0.4:
//! that crate keeps the normalized answer, the password scalar and its ephemeral scalar in
//! plain fields it never wipes, and they live from a question until its reply. [`Spake`] holds
//! the same values in fields wiped when it drops. The tests check it against `spake2` 0.4 byte
//! for byte, and the vectors (`paths-v1.txt` §8) against the independent implementation of
//! §5.2.

use caseless::Caseless;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use unicode_normalization::UnicodeNormalization;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::identity::IdentityPublic;
use super::kdf::{hkdf, hkdf2, hmac, sha256};
use super::secret::SecretString;

/// Inner type: the question and the asker's SPAKE2 message.
pub const KIND_ASK: u8 = 0x10;
/// Inner type: the answerer's SPAKE2 message and confirmation.
pub const KIND_REPLY: u8 = 0x11;
/// Inner type: the asker's confirmation.
pub const KIND_RESULT: u8 = 0x12;
/// Inner type: the other side gave up (or got a message that fits no run).
pub const KIND_ABORT: u8 = 0x13;

/// A SPAKE2 message: side byte (`'A'` or `'B'`) ‖ compressed Edwards point.
pub const SPAKE_LEN: usize = 33;
const MAC_LEN: usize = 32;
/// Longest question sent or accepted, in bytes of UTF-8.
pub const MAX_QUESTION: usize = 512;
/// Side byte of the asker's SPAKE2 message.
const SIDE_A: u8 = b'A';
/// Side byte of the answerer's SPAKE2 message.
const SIDE_B: u8 = b'B';

/// `M` of §5.2 (python-spake2's `arbitrary_element("M")`, encoded): blinds the asker's point.
const M: [u8; 32] = [
    0x15, 0xcf, 0xd1, 0x8e, 0x38, 0x59, 0x52, 0x98, 0x2b, 0x6a, 0x8f, 0x8c, 0x78, 0x54, 0x96, 0x3b,
    0x58, 0xe3, 0x43, 0x88, 0xc8, 0xe6, 0xda, 0xe8, 0x91, 0xdb, 0x75, 0x64, 0x81, 0xa0, 0x23, 0x12,
];
/// `N` of §5.2: blinds the answerer's point.
const N: [u8; 32] = [
    0xf0, 0x4f, 0x2e, 0x7e, 0xb7, 0x34, 0xb2, 0xa8, 0xf8, 0xb4, 0x72, 0xea, 0xf9, 0xc3, 0xc6, 0x32,
    0x57, 0x6a, 0xc6, 0x4a, 0xea, 0x65, 0x0b, 0x49, 0x6a, 0x8a, 0x20, 0xff, 0x00, 0xe5, 0x83, 0xc3,
];

fn constant(encoded: &[u8; 32]) -> Option<EdwardsPoint> {
    CompressedEdwardsY(*encoded).decompress()
}

/// `w` of §5.2: HKDF(salt = "", ikm = pw, info = "SPAKE2 pw", 48) as a big-endian integer,
/// reduced mod L.
fn password_scalar(pw: &[u8]) -> Zeroizing<Scalar> {
    let mut okm = Zeroizing::new([0u8; 48]);
    // 48 bytes is within HKDF-SHA256's limit: this cannot fail.
    let _ = hkdf(&[], pw, b"SPAKE2 pw", okm.as_mut());
    let mut wide = Zeroizing::new([0u8; 64]);
    for (dst, src) in wide.iter_mut().zip(okm.iter().rev()) {
        *dst = *src;
    }
    Zeroizing::new(Scalar::from_bytes_mod_order_wide(&wide))
}

/// One side of a SPAKE2 run (§5.2), from its message until the peer's: the secrets in it are
/// wiped when it drops.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct Spake {
    /// This side's ephemeral scalar (`x` or `y`).
    ephemeral: Scalar,
    /// `w`, from the answer.
    w: Scalar,
    /// SHA-256 of the normalized answer, for the transcript: it allows offline guessing.
    pw_hash: [u8; 32],
    /// SHA-256(id_A) ‖ SHA-256(id_B): public.
    #[zeroize(skip)]
    ids: [u8; 64],
    /// This side's encoded point (`enc(X)` or `enc(Y)`): public.
    #[zeroize(skip)]
    own: [u8; 32],
    /// `SIDE_A` or `SIDE_B`.
    #[zeroize(skip)]
    side: u8,
}

impl Spake {
    /// Starts `side` of a run with the normalized answer `pw`; returns the state and the
    /// message to send (side byte ‖ encoded point). Draws 64 random bytes.
    fn start(
        side: u8,
        pw: &[u8],
        id_a: &[u8],
        id_b: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Option<(Spake, [u8; SPAKE_LEN])> {
        let blind = constant(if side == SIDE_A { &M } else { &N })?;
        let mut draw = Zeroizing::new([0u8; 64]);
        rng.fill_bytes(draw.as_mut());
        let ephemeral = Zeroizing::new(Scalar::from_bytes_mod_order_wide(&draw));
        let w = password_scalar(pw);
        // Each part alone tests guesses at the answer (`X - w·M` is `x·G`): wiped, not left on
        // the stack. Only the sum leaves.
        let blinded = Zeroizing::new(blind * *w);
        let public = Zeroizing::new(EdwardsPoint::mul_base(&ephemeral));
        let point = *public + *blinded;
        let own = point.compress().to_bytes();
        let mut ids = [0u8; 64];
        ids[..32].copy_from_slice(&Sha256::digest(id_a));
        ids[32..].copy_from_slice(&Sha256::digest(id_b));
        let mut msg = [0u8; SPAKE_LEN];
        msg[0] = side;
        msg[1..].copy_from_slice(&own);
        let spake = Spake {
            ephemeral: *ephemeral,
            w: *w,
            pw_hash: *sha256(&[pw]),
            ids,
            own,
            side,
        };
        Some((spake, msg))
    }

    /// The shared key from the peer's message (already checked by [`valid_spake_message`]):
    /// `HASH(HASH(pw) ‖ HASH(id_A) ‖ HASH(id_B) ‖ enc(X) ‖ enc(Y) ‖ K)`.
    fn finish(&self, peer_msg: &[u8]) -> Option<Zeroizing<[u8; 32]>> {
        let peer_bytes: [u8; 32] = peer_msg.get(1..SPAKE_LEN)?.try_into().ok()?;
        let peer = CompressedEdwardsY(peer_bytes).decompress()?;
        let unblind = constant(if self.side == SIDE_A { &N } else { &M })?;
        // `w·N` tests guesses at the answer, the peer's unblinded point and `K` are the key's
        // inputs: each wiped.
        let blinded = Zeroizing::new(unblind * self.w);
        let unblinded = Zeroizing::new(peer - *blinded);
        let k_point = Zeroizing::new(*unblinded * self.ephemeral);
        let k = Zeroizing::new(k_point.compress().to_bytes());
        let (x, y) = if self.side == SIDE_A {
            (&self.own, &peer_bytes)
        } else {
            (&peer_bytes, &self.own)
        };
        let key = sha256(&[&self.pw_hash, &self.ids, x, y, k.as_ref()]);
        Some(Zeroizing::new(*key))
    }
}

/// Verification in progress.
pub(crate) enum Verify {
    /// We asked; waiting for the reply. `sent` is our 0x10's SPAKE2 message, kept to settle
    /// crossing questions; `content` the whole 0x10 content, kept to send it again when the
    /// peer asks while our question waits (it may have lost ours: a restart, a rename).
    Asked {
        spake: Box<Spake>,
        sent: [u8; SPAKE_LEN],
        content: Vec<u8>,
    },
    /// We were asked; waiting for our user's answer.
    Question { spake_a: Vec<u8>, question: String },
    /// We replied; waiting for the asker's confirmation. `asked` is the question's SPAKE2
    /// message: a copy of that question (its asker sends it again when questions cross) is
    /// the same run.
    Replied {
        key: Zeroizing<[u8; 32]>,
        asked: Vec<u8>,
    },
}

/// The answer as compared (PROTOCOL.md §5.2): Unicode compatibility caseless form
/// (`NFKC(CaseFold(NFKD(CaseFold(NFD(answer)))))`, full case folding), then every run of
/// `White_Space` characters made one U+0020 and the ends trimmed. So "  Paris ", "PARIS",
/// "ｐａｒｉｓ" and "paris" match, "Straße" matches "STRASSE", and an NFC and an NFD spelling
/// of "café" match.
pub fn normalize_answer(answer: &str) -> SecretString {
    // Grown by hand: a `String` collected from the iterator frees each smaller buffer it
    // outgrows without wiping it (a prefix of the answer each time).
    let mut folded = SecretString::new(String::with_capacity(answer.len() + 16));
    for c in answer
        .nfd()
        .default_case_fold()
        .nfkd()
        .default_case_fold()
        .nfkc()
    {
        if folded.len() + c.len_utf8() > folded.capacity() {
            let mut bigger = SecretString::new(String::with_capacity(folded.capacity() * 2));
            bigger.push_str(&folded);
            folded = bigger; // the smaller buffer is wiped as it is dropped
        }
        folded.push(c);
    }
    // Never longer than `folded`: no growth.
    let mut out = SecretString::new(String::with_capacity(folded.len()));
    for word in folded.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// The question as sent: the longest prefix of at most [`MAX_QUESTION`] bytes that ends on a
/// character boundary.
pub fn bounded_question(question: &str) -> &str {
    let mut end = question.len().min(MAX_QUESTION);
    while !question.is_char_boundary(end) {
        end -= 1;
    }
    &question[..end]
}

/// Whether `msg` is a SPAKE2 message from `side` whose point may be used: the side byte, a
/// canonical encoding of a point on the curve, in the prime-order subgroup, not the identity.
pub(crate) fn valid_spake_message(msg: &[u8], side: u8) -> bool {
    let (Some(&s), Some(point)) = (msg.first(), msg.get(1..SPAKE_LEN)) else {
        return false;
    };
    if msg.len() != SPAKE_LEN || s != side {
        return false;
    }
    let Ok(bytes) = <[u8; 32]>::try_from(point) else {
        return false;
    };
    let Some(p) = CompressedEdwardsY(bytes).decompress() else {
        return false;
    };
    p.compress().as_bytes() == &bytes && p.is_torsion_free() && !p.is_small_order()
}

/// `id_A` and `id_B` of §5.2.
fn identities(
    h: &[u8; 32],
    asker: &IdentityPublic,
    answerer: &IdentityPublic,
) -> (Vec<u8>, Vec<u8>) {
    let mut a = b"Sotto v1 verify asker".to_vec();
    a.extend_from_slice(h);
    a.extend_from_slice(&asker.to_bytes());
    let mut b = b"Sotto v1 verify answerer".to_vec();
    b.extend_from_slice(h);
    b.extend_from_slice(&answerer.to_bytes());
    (a, b)
}

fn confirm(key: &[u8; 32], label: &[u8], h: &[u8; 32]) -> [u8; MAC_LEN] {
    let (mac_key, _) = hkdf2(&[], key, b"Sotto v1 verify confirm");
    *hmac(&mac_key[..], &[label, h])
}

/// Starts a verification: returns the state to keep and the content of the 0x10 message.
/// The question is cut to [`bounded_question`]. `None` only if the constants did not decode,
/// which they do (a test says so).
pub(crate) fn ask(
    question: &str,
    answer: &str,
    h: &[u8; 32],
    me: &IdentityPublic,
    peer: &IdentityPublic,
    rng: &mut impl CryptoRngCore,
) -> Option<(Verify, Vec<u8>)> {
    let (id_a, id_b) = identities(h, me, peer);
    let pw = normalize_answer(answer);
    let (spake, sent) = Spake::start(SIDE_A, pw.as_bytes(), &id_a, &id_b, rng)?;
    let mut content = sent.to_vec();
    content.extend_from_slice(bounded_question(question).as_bytes());
    Some((
        Verify::Asked {
            spake: Box::new(spake),
            sent,
            content: content.clone(),
        },
        content,
    ))
}

/// Parses a 0x10 message: (SPAKE2 message, question); `None` unless the point is valid and
/// the question is UTF-8 of at most [`MAX_QUESTION`] bytes.
pub(crate) fn parse_ask(content: &[u8]) -> Option<(Vec<u8>, String)> {
    if content.len() < SPAKE_LEN || content.len() > SPAKE_LEN + MAX_QUESTION {
        return None;
    }
    if !valid_spake_message(&content[..SPAKE_LEN], SIDE_A) {
        return None;
    }
    let question = std::str::from_utf8(&content[SPAKE_LEN..]).ok()?.to_owned();
    Some((content[..SPAKE_LEN].to_vec(), question))
}

/// The answerer's side: returns the state to keep and the content of the 0x11 message, or
/// `None` if the asker's message is malformed.
pub(crate) fn reply(
    spake_a: &[u8],
    answer: &str,
    h: &[u8; 32],
    me: &IdentityPublic,
    peer: &IdentityPublic,
    rng: &mut impl CryptoRngCore,
) -> Option<(Verify, Vec<u8>)> {
    if !valid_spake_message(spake_a, SIDE_A) {
        return None;
    }
    let (id_a, id_b) = identities(h, peer, me);
    let pw = normalize_answer(answer);
    let (spake, msg) = Spake::start(SIDE_B, pw.as_bytes(), &id_a, &id_b, rng)?;
    let key = spake.finish(spake_a)?;
    let mut content = msg.to_vec();
    content.extend_from_slice(&confirm(&key, b"answerer", h));
    Some((
        Verify::Replied {
            key,
            asked: spake_a.to_vec(),
        },
        content,
    ))
}

/// What the asker makes of a 0x11 message.
pub(crate) enum AskerOutcome {
    /// The reply was well formed: whether `mac_B` matched, and the content of the 0x12 to send
    /// (sent either way: under a wrong answer it is a MAC under a key the peer cannot derive).
    Finished { success: bool, result: Vec<u8> },
    /// Wrong length, side byte or point: the run fails and the peer is sent 0x13.
    Malformed,
}

/// The asker receives 0x11.
pub(crate) fn finish_asker(spake: &Spake, content: &[u8], h: &[u8; 32]) -> AskerOutcome {
    if content.len() != SPAKE_LEN + MAC_LEN || !valid_spake_message(&content[..SPAKE_LEN], SIDE_B) {
        return AskerOutcome::Malformed;
    }
    let Some(key) = spake.finish(&content[..SPAKE_LEN]) else {
        return AskerOutcome::Malformed;
    };
    let success: bool = confirm(&key, b"answerer", h)
        .ct_eq(&content[SPAKE_LEN..])
        .into();
    AskerOutcome::Finished {
        success,
        result: confirm(&key, b"asker", h).to_vec(),
    }
}

/// The answerer receives 0x12: success?
pub(crate) fn finish_answerer(key: &[u8; 32], content: &[u8], h: &[u8; 32]) -> bool {
    content.len() == MAC_LEN && bool::from(confirm(key, b"asker", h).ct_eq(content))
}

#[cfg(test)]
/// The normalisation table of PROTOCOL.md §5.2 (also in docs/vectors/paths-v1.txt).
pub(crate) const NORMALIZATION: &[(&str, &str)] = &[
    ("  Paris ", "paris"),
    ("PARIS", "paris"),
    ("\u{ff30}\u{ff41}\u{ff52}\u{ff49}\u{ff53}", "paris"),
    ("caf\u{e9}", "caf\u{e9}"),
    ("cafe\u{301}", "caf\u{e9}"),
    ("Stra\u{df}e", "strasse"),
    ("\u{1e9e}", "ss"),
    (
        "\u{3a3}\u{39f}\u{3a6}\u{399}\u{391}",
        "\u{3c3}\u{3bf}\u{3c6}\u{3b9}\u{3b1}",
    ),
    (
        "\u{3c3}\u{3bf}\u{3c6}\u{3af}\u{3b1}\u{3c2}",
        "\u{3c3}\u{3bf}\u{3c6}\u{3af}\u{3b1}\u{3c3}",
    ),
    ("\u{fb01}ne", "fine"),
    ("\u{216b}", "xii"),
    ("\u{130}stanbul", "i\u{307}stanbul"),
    ("new\tyork\u{a0}\u{a0}city\u{3000}", "new york city"),
    ("two\nlines\r\n", "two lines"),
    ("\u{2460}\u{2461}", "12"),
    (" \t ", ""),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::IdentityKey;
    use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
    use rand_chacha::rand_core::SeedableRng;

    fn run(h_asker: [u8; 32], h_answerer: [u8; 32], a: &str, b: &str) -> (bool, bool) {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let alice = IdentityKey::generate(&mut rng).public();
        let bob = IdentityKey::generate(&mut rng).public();
        let Some((Verify::Asked { spake, sent, .. }, ask_msg)) =
            ask("q?", a, &h_asker, &alice, &bob, &mut rng)
        else {
            panic!()
        };
        assert_eq!(&ask_msg[..SPAKE_LEN], &sent[..]);
        let (spake_a, q) = parse_ask(&ask_msg).unwrap();
        assert_eq!(q, "q?");
        let (Verify::Replied { key, .. }, reply_msg) =
            reply(&spake_a, b, &h_answerer, &bob, &alice, &mut rng).unwrap()
        else {
            panic!()
        };
        let AskerOutcome::Finished { success, result } = finish_asker(&spake, &reply_msg, &h_asker)
        else {
            panic!("well-formed reply")
        };
        (success, finish_answerer(&key, &result, &h_answerer))
    }

    #[test]
    fn same_answer_same_session_matches() {
        assert_eq!(run([1; 32], [1; 32], "Paris ", "paris"), (true, true));
        assert_eq!(run([1; 32], [1; 32], "STRASSE", "Straße"), (true, true));
    }

    #[test]
    fn different_answer_fails_both_sides() {
        assert_eq!(run([1; 32], [1; 32], "paris", "london"), (false, false));
    }

    /// A man in the middle holds two sessions with different handshake hashes: relaying the
    /// exchange between them fails even with the right answer on both ends.
    #[test]
    fn relayed_across_sessions_fails() {
        assert_eq!(run([1; 32], [2; 32], "paris", "paris"), (false, false));
    }

    #[test]
    fn normalization_table() {
        for (input, want) in super::NORMALIZATION {
            assert_eq!(normalize_answer(input).as_str(), *want, "{input:?}");
            // Idempotent: a normalized answer normalizes to itself.
            assert_eq!(normalize_answer(want).as_str(), *want);
        }
    }

    /// The buffer grown by hand gives what collecting the iterator gives, also for answers
    /// that expand many times over (U+FDFA is 18 characters after NFKD) and for long ones.
    #[test]
    fn normalization_grown_by_hand_is_the_plain_one() {
        use caseless::Caseless as _;
        use unicode_normalization::UnicodeNormalization as _;
        let plain = |a: &str| {
            let s: String = a
                .nfd()
                .default_case_fold()
                .nfkd()
                .default_case_fold()
                .nfkc()
                .collect();
            s.split_whitespace().collect::<Vec<_>>().join(" ")
        };
        for a in [
            String::new(),
            "  Straße \u{A0} ＰＡＲＩＳ  ".to_owned(),
            "\u{FDFA}".repeat(50),
            "ǅ ß ﬃ ".repeat(400),
        ] {
            assert_eq!(normalize_answer(&a).as_str(), plain(&a), "{a:?}");
        }
    }

    #[test]
    fn long_questions_are_cut_on_a_character_boundary() {
        let q = "\u{e9}".repeat(300); // 600 bytes
        assert_eq!(bounded_question(&q).len(), 512);
        let q = format!("x{}", "\u{e9}".repeat(300)); // 601 bytes: 511 is a boundary
        assert_eq!(bounded_question(&q).len(), 511);
        assert_eq!(bounded_question("short"), "short");
    }

    #[test]
    fn points_are_validated() {
        let good = ED25519_BASEPOINT_POINT.compress().to_bytes();
        let with_side = |side: u8, p: [u8; 32]| {
            let mut m = vec![side];
            m.extend_from_slice(&p);
            m
        };
        assert!(valid_spake_message(&with_side(b'A', good), b'A'));
        assert!(!valid_spake_message(&with_side(b'B', good), b'A'), "side");
        assert!(!valid_spake_message(&good, b'A'), "length");
        // The identity and a point with a torsion component.
        let identity = EIGHT_TORSION[0].compress().to_bytes();
        assert!(!valid_spake_message(&with_side(b'A', identity), b'A'));
        let torsion = (ED25519_BASEPOINT_POINT + EIGHT_TORSION[1])
            .compress()
            .to_bytes();
        assert!(!valid_spake_message(&with_side(b'A', torsion), b'A'));
        // Non-canonical: y + p for y = 1 (the identity's y) does not round-trip.
        let mut non_canonical = [0xff; 32];
        non_canonical[0] = 0xee;
        non_canonical[31] = 0x7f;
        assert!(!valid_spake_message(&with_side(b'A', non_canonical), b'A'));
        // Not on the curve (y = 2 has no x).
        let mut off = [0u8; 32];
        off[0] = 2;
        assert!(!valid_spake_message(&with_side(b'A', off), b'A'));
    }

    #[test]
    fn malformed_messages_fail_cleanly() {
        assert!(parse_ask(&[0u8; 5]).is_none());
        assert!(parse_ask(&[0u8; 40]).is_none(), "invalid point");
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(8);
        let k = IdentityKey::generate(&mut rng).public();
        assert!(reply(&[0u8; 33], "x", &[0; 32], &k, &k, &mut rng).is_none());
        assert!(!finish_answerer(&[0; 32], &[0; 31], &[0; 32]));
        let Some((Verify::Asked { spake, .. }, _)) = ask("q", "a", &[0; 32], &k, &k, &mut rng)
        else {
            panic!()
        };
        assert!(matches!(
            finish_asker(&spake, &[0u8; 65], &[0; 32]),
            AskerOutcome::Malformed
        ));
    }

    /// The constants decode (so `ask` and `reply` never return `None` for them), and they are
    /// the encodings of `spake2` 0.4's M and N.
    #[test]
    fn the_constants_are_spake2s() {
        assert!(constant(&M).is_some() && constant(&N).is_some());
        let pw = spake2::Password::new(b"x");
        let (id_a, id_b) = (spake2::Identity::new(b"a"), spake2::Identity::new(b"b"));
        // With a zero ephemeral scalar a SPAKE2 message is w·M (or w·N) alone.
        struct Zeros;
        impl rand_core::RngCore for Zeros {
            fn next_u32(&mut self) -> u32 {
                0
            }
            fn next_u64(&mut self) -> u64 {
                0
            }
            fn fill_bytes(&mut self, dest: &mut [u8]) {
                dest.fill(0);
            }
            fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
                dest.fill(0);
                Ok(())
            }
        }
        impl rand_core::CryptoRng for Zeros {}
        let w = password_scalar(b"x");
        for (side, blind) in [(SIDE_A, &M), (SIDE_B, &N)] {
            let (_, theirs) = if side == SIDE_A {
                spake2::Spake2::<spake2::Ed25519Group>::start_a_with_rng(&pw, &id_a, &id_b, Zeros)
            } else {
                spake2::Spake2::<spake2::Ed25519Group>::start_b_with_rng(&pw, &id_a, &id_b, Zeros)
            };
            let ours = (constant(blind).unwrap() * *w).compress().to_bytes();
            assert_eq!(&theirs[1..], &ours[..], "side {}", side as char);
        }
    }

    /// Byte for byte what `spake2` 0.4 computes, from the same random draws: both messages
    /// and the key, on both sides, for many answers and identities, matching or not.
    #[test]
    fn the_computation_is_spake2s() {
        use spake2::{Ed25519Group, Identity, Password, Spake2};
        for seed in 0..12u64 {
            let pw_a = format!("answer {}", seed % 5);
            let pw_b = format!("answer {}", seed % 3);
            let id_a = format!("asker {seed}").into_bytes();
            let id_b = format!("answerer {}", seed * 7).into_bytes();
            let rng = |n: u64| rand_chacha::ChaCha20Rng::seed_from_u64(n);

            let (our_a, our_msg_a) =
                Spake::start(SIDE_A, pw_a.as_bytes(), &id_a, &id_b, &mut rng(seed)).unwrap();
            let (their_a, their_msg_a) = Spake2::<Ed25519Group>::start_a_with_rng(
                &Password::new(pw_a.as_bytes()),
                &Identity::new(&id_a),
                &Identity::new(&id_b),
                rng(seed),
            );
            assert_eq!(
                &our_msg_a[..],
                &their_msg_a[..],
                "asker's message, seed {seed}"
            );

            let (our_b, our_msg_b) =
                Spake::start(SIDE_B, pw_b.as_bytes(), &id_a, &id_b, &mut rng(seed + 1000)).unwrap();
            let (their_b, their_msg_b) = Spake2::<Ed25519Group>::start_b_with_rng(
                &Password::new(pw_b.as_bytes()),
                &Identity::new(&id_a),
                &Identity::new(&id_b),
                rng(seed + 1000),
            );
            assert_eq!(
                &our_msg_b[..],
                &their_msg_b[..],
                "answerer's message, seed {seed}"
            );

            let ours_a = our_a.finish(&our_msg_b).unwrap();
            let ours_b = our_b.finish(&our_msg_a).unwrap();
            let theirs_a = their_a.finish(&their_msg_b).unwrap();
            let theirs_b = their_b.finish(&their_msg_a).unwrap();
            assert_eq!(&ours_a[..], &theirs_a[..], "asker's key, seed {seed}");
            assert_eq!(&ours_b[..], &theirs_b[..], "answerer's key, seed {seed}");
            assert_eq!(ours_a == ours_b, pw_a == pw_b, "keys agree iff answers do");
        }
    }

    /// Dropping a run wipes its secrets (the point of not using `spake2`'s state).
    #[test]
    fn a_run_wipes_its_secrets() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(9);
        let (mut spake, _) = Spake::start(SIDE_A, b"paris", b"a", b"b", &mut rng).unwrap();
        assert_ne!(spake.ephemeral, Scalar::ZERO);
        spake.zeroize();
        assert_eq!(spake.ephemeral, Scalar::ZERO);
        assert_eq!(spake.w, Scalar::ZERO);
        assert_eq!(spake.pw_hash, [0u8; 32]);
    }
}
