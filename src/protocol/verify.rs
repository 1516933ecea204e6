//! Verifying a contact by a question only they can answer, in band, bound to the session.
//!
//! A password-authenticated key exchange (SPAKE2 over Edwards25519, RustCrypto's `spake2`
//! crate) with the normalized answer as the password and the session's handshake hash plus both
//! identity keys as the SPAKE2 identities, then key confirmation both ways:
//!
//! ```text
//! asker                                                answerer
//! 0x10 ask:    spake_A (33) ‖ question (UTF-8)   ──▶   (user types the answer)
//!                                                ◀──   0x11 reply:  spake_B (33) ‖ mac_B (32)
//! 0x12 result: mac_A (32)                        ──▶
//! mac_X = HMAC-SHA256(HKDF(K, "", "Sotto v1 verify confirm"), label_X ‖ h)
//! ```
//!
//! All three travel as encrypted data messages of the session (inner types 0x10–0x13), so
//! only the session's peer sees them. A wrong answer yields unrelated keys on the two sides:
//! both confirmations fail and neither side learns anything but "no match"; each run allows one
//! online guess. A man in the middle holds two sessions with two different handshake hashes,
//! so relaying the exchange fails too. Only the asker's trust changes on success (the answerer
//! did not choose the secret).

use hmac::{Hmac, Mac};
use rand_core::CryptoRngCore;
use sha2::Sha256;
use spake2::{Ed25519Group, Identity, Password, Spake2};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::identity::IdentityPublic;
use super::kdf::hkdf2;

/// Inner type: the question and the asker's SPAKE2 message.
pub const KIND_ASK: u8 = 0x10;
/// Inner type: the answerer's SPAKE2 message and confirmation.
pub const KIND_REPLY: u8 = 0x11;
/// Inner type: the asker's confirmation.
pub const KIND_RESULT: u8 = 0x12;
/// Inner type: the other side gave up (or never saw a question).
pub const KIND_ABORT: u8 = 0x13;

const SPAKE_LEN: usize = 33;
const MAC_LEN: usize = 32;
/// Longest question accepted, in bytes.
pub const MAX_QUESTION: usize = 512;

/// Verification in progress.
pub(crate) enum Verify {
    /// We asked; waiting for the reply.
    Asked { spake: Box<Spake2<Ed25519Group>> },
    /// We were asked; waiting for our user's answer.
    Question { spake_a: Vec<u8>, question: String },
    /// We replied; waiting for the asker's confirmation.
    Replied { key: Zeroizing<[u8; 32]> },
}

/// The answer as compared: surrounding whitespace dropped, inner runs of whitespace made one
/// space, letters lower-cased, so "  Paris " and "paris" match.
pub fn normalize_answer(answer: &str) -> Zeroizing<String> {
    Zeroizing::new(
        answer
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase(),
    )
}

fn identities(
    h: &[u8; 32],
    asker: &IdentityPublic,
    answerer: &IdentityPublic,
) -> (Identity, Identity) {
    let mut a = b"Sotto v1 verify asker".to_vec();
    a.extend_from_slice(h);
    a.extend_from_slice(&asker.to_bytes());
    let mut b = b"Sotto v1 verify answerer".to_vec();
    b.extend_from_slice(h);
    b.extend_from_slice(&answerer.to_bytes());
    (Identity::new(&a), Identity::new(&b))
}

fn confirm(key: &[u8; 32], label: &[u8], h: &[u8; 32]) -> [u8; MAC_LEN] {
    let (mac_key, _) = hkdf2(&[], key, b"Sotto v1 verify confirm");
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(mac_key.as_ref()) else {
        return [0u8; MAC_LEN];
    };
    mac.update(label);
    mac.update(h);
    mac.finalize().into_bytes().into()
}

/// Starts a verification: returns the state to keep and the content of the 0x10 message.
pub(crate) fn ask(
    question: &str,
    answer: &str,
    h: &[u8; 32],
    me: &IdentityPublic,
    peer: &IdentityPublic,
    rng: &mut impl CryptoRngCore,
) -> (Verify, Vec<u8>) {
    let (id_a, id_b) = identities(h, me, peer);
    let pw = normalize_answer(answer);
    let (spake, msg) =
        Spake2::<Ed25519Group>::start_a_with_rng(&Password::new(pw.as_bytes()), &id_a, &id_b, rng);
    let mut content = msg;
    let mut q = question.to_owned();
    while q.len() > MAX_QUESTION {
        q.pop();
    }
    content.extend_from_slice(q.as_bytes());
    (
        Verify::Asked {
            spake: Box::new(spake),
        },
        content,
    )
}

/// Parses a 0x10 message: (SPAKE2 message, question).
pub(crate) fn parse_ask(content: &[u8]) -> Option<(Vec<u8>, String)> {
    if content.len() < SPAKE_LEN || content.len() > SPAKE_LEN + MAX_QUESTION {
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
    let (id_a, id_b) = identities(h, peer, me);
    let pw = normalize_answer(answer);
    let (spake, msg) =
        Spake2::<Ed25519Group>::start_b_with_rng(&Password::new(pw.as_bytes()), &id_a, &id_b, rng);
    let key = Zeroizing::new(spake.finish(spake_a).ok()?);
    let key: Zeroizing<[u8; 32]> = Zeroizing::new(key.as_slice().try_into().ok()?);
    let mut content = msg;
    content.extend_from_slice(&confirm(&key, b"answerer", h));
    Some((Verify::Replied { key }, content))
}

/// The asker receives 0x11: returns (success, content of the 0x12 message).
pub(crate) fn finish_asker(
    spake: Spake2<Ed25519Group>,
    content: &[u8],
    h: &[u8; 32],
) -> (bool, Vec<u8>) {
    if content.len() != SPAKE_LEN + MAC_LEN {
        return (false, vec![0u8; MAC_LEN]);
    }
    let Ok(key) = spake.finish(&content[..SPAKE_LEN]) else {
        return (false, vec![0u8; MAC_LEN]);
    };
    let key = Zeroizing::new(key);
    let Ok(key) = <[u8; 32]>::try_from(key.as_slice()) else {
        return (false, vec![0u8; MAC_LEN]);
    };
    let key = Zeroizing::new(key);
    let ok: bool = confirm(&key, b"answerer", h)
        .ct_eq(&content[SPAKE_LEN..])
        .into();
    (ok, confirm(&key, b"asker", h).to_vec())
}

/// The answerer receives 0x12: success?
pub(crate) fn finish_answerer(key: &[u8; 32], content: &[u8], h: &[u8; 32]) -> bool {
    content.len() == MAC_LEN && bool::from(confirm(key, b"asker", h).ct_eq(content))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::IdentityKey;
    use rand_chacha::rand_core::SeedableRng;

    fn run(h_asker: [u8; 32], h_answerer: [u8; 32], a: &str, b: &str) -> (bool, bool) {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let alice = IdentityKey::generate(&mut rng).public();
        let bob = IdentityKey::generate(&mut rng).public();
        let (Verify::Asked { spake }, ask_msg) = ask("q?", a, &h_asker, &alice, &bob, &mut rng)
        else {
            panic!()
        };
        let (spake_a, q) = parse_ask(&ask_msg).unwrap();
        assert_eq!(q, "q?");
        let (Verify::Replied { key }, reply_msg) =
            reply(&spake_a, b, &h_answerer, &bob, &alice, &mut rng).unwrap()
        else {
            panic!()
        };
        let (asker_ok, result) = finish_asker(*spake, &reply_msg, &h_asker);
        (asker_ok, finish_answerer(&key, &result, &h_answerer))
    }

    #[test]
    fn same_answer_same_session_matches() {
        assert_eq!(run([1; 32], [1; 32], "Paris ", "paris"), (true, true));
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
    fn malformed_messages_fail_cleanly() {
        assert!(parse_ask(&[0u8; 5]).is_none());
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(8);
        let k = IdentityKey::generate(&mut rng).public();
        assert!(reply(&[0u8; 33], "x", &[0; 32], &k, &k, &mut rng).is_none());
        assert!(!finish_answerer(&[0; 32], &[0; 31], &[0; 32]));
    }
}
