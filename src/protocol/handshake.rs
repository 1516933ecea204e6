//! The Sotto handshake: Noise XX over X25519, ChaCha20-Poly1305 and SHA-256, three messages.
//!
//! ```text
//!   initiator                                   responder
//!   ?S1I  tag_i, e_i                  ──▶
//!                                     ◀──  ?S1R  tag_r, tag_i, e_r, ee, [s_r], es, [payload]
//!   ?S1C  tag_i, tag_r, [s_i], se, [payload] ──▶
//! ```
//!
//! It follows the Noise XX pattern (`-> e`, `<- e, ee, s, es`, `-> s, se`), with the
//! differences PROTOCOL.md §3 lists (a Noise library does not interoperate): among them, the
//! cleartext header of each message (type letter and both instance tags) is mixed into the
//! handshake hash before the message's keys, so the transcript binds the protocol version
//! (through the protocol name and prologue), both identity keys, both ephemerals and both
//! instance tags.
//! Authentication is by Diffie-Hellman only: no signatures, so either party could have
//! forged a transcript with the other (deniability, as in Noise and Signal).
//!
//! Every DH output is checked to be contributory (non-zero), so a low-order public key
//! cannot force a known secret.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::ChaCha20Poly1305;
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
use thiserror::Error;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::identity::{IdentityKey, IdentityPublic};
use super::kdf::{hkdf2, Key32};
use super::secret::SecretBytes;
use super::snapshot::Reader;
use super::wire::{ConfirmMessage, InitMessage, ResponseMessage};

/// Noise-style protocol name: hashed into the initial handshake hash.
pub const PROTOCOL_NAME: &[u8] = b"Sotto_XX_25519_ChaChaPoly_SHA256_v1";
/// Prologue mixed in after the protocol name.
pub const PROLOGUE: &[u8] = b"Sotto v1";
/// HKDF info for deriving the ratchet's first keys from the finished handshake.
pub const SPLIT_INFO: &[u8] = b"Sotto v1 split";

/// Why a handshake message was rejected. Nothing about the handshake state changes.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum HandshakeError {
    /// The message names instance tags that are not this handshake's.
    #[error("handshake message for another instance")]
    WrongInstance,
    /// A public key gave an all-zero (non-contributory) shared secret.
    #[error("invalid public key")]
    NonContributory,
    /// Decryption failed: the message was altered or not made for this handshake.
    #[error("handshake authentication failed")]
    Authentication,
    /// The peer's identity key is our own: a handshake message of ours was handed back to us
    /// (a server reflecting a start, or passing it to another of our own conversations).
    #[error("the other side's key is your own: a message of yours was handed back to you")]
    OwnKey,
    /// The peer's identity key is not in its canonical encoding (bit 255 set, or a u-coordinate
    /// not reduced modulo 2^255 - 19): X25519 reads such bytes as another key's, which would
    /// then have a second fingerprint.
    #[error("invalid identity key encoding")]
    NonCanonicalKey,
}

/// Noise's SymmetricState: chaining key, handshake hash, current cipher key and nonce.
#[derive(Clone)]
struct SymmetricState {
    ck: Key32,
    h: [u8; 32],
    k: Option<Key32>,
    n: u64,
}

impl SymmetricState {
    fn new() -> Self {
        let h: [u8; 32] = Sha256::digest(PROTOCOL_NAME).into();
        let mut s = Self {
            ck: Key32::new(h),
            h,
            k: None,
            n: 0,
        };
        s.mix_hash(PROLOGUE);
        s
    }

    fn mix_hash(&mut self, data: &[u8]) {
        let mut d = Sha256::new();
        d.update(self.h);
        d.update(data);
        self.h = d.finalize().into();
    }

    fn mix_key(&mut self, ikm: &[u8]) {
        let (ck, k) = hkdf2(self.ck.as_ref(), ikm, b"");
        self.ck = ck;
        self.k = Some(k);
        self.n = 0;
    }

    fn nonce(&self) -> [u8; 12] {
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&self.n.to_le_bytes());
        nonce
    }

    /// The nonce after this one; `None` when `n` is Noise's reserved 2⁶⁴ − 1: the key is
    /// used up and refuses further use. Never so in a handshake this code ran (`n` is at most
    /// 1), only in a snapshot not written by it.
    fn next_n(&self) -> Result<u64, HandshakeError> {
        self.n.checked_add(1).ok_or(HandshakeError::Authentication)
    }

    fn encrypt_and_hash(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, HandshakeError> {
        let Some(k) = &self.k else {
            self.mix_hash(plaintext);
            return Ok(plaintext.to_vec());
        };
        let next = self.next_n()?;
        let cipher = ChaCha20Poly1305::new(k.as_ref().into());
        let nonce = self.nonce();
        // Encryption with ChaCha20-Poly1305 fails only for inputs beyond 256 GiB.
        let ct = cipher
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: plaintext,
                    aad: &self.h,
                },
            )
            .unwrap_or_default();
        self.n = next;
        self.mix_hash(&ct);
        Ok(ct)
    }

    fn decrypt_and_hash(&mut self, ciphertext: &[u8]) -> Result<SecretBytes, HandshakeError> {
        let Some(k) = &self.k else {
            return Err(HandshakeError::Authentication);
        };
        let next = self.next_n()?;
        let cipher = ChaCha20Poly1305::new(k.as_ref().into());
        let nonce = self.nonce();
        let pt = cipher
            .decrypt(
                &nonce.into(),
                Payload {
                    msg: ciphertext,
                    aad: &self.h,
                },
            )
            .map_err(|_| HandshakeError::Authentication)?;
        self.n = next;
        self.mix_hash(ciphertext);
        Ok(SecretBytes::new(pt))
    }

    fn to_bytes(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.ck.as_ref());
        out.extend_from_slice(&self.h);
        match &self.k {
            Some(k) => {
                out.push(1);
                out.extend_from_slice(k.as_ref());
            }
            None => out.push(0),
        }
        out.extend_from_slice(&self.n.to_be_bytes());
    }

    fn from_reader(r: &mut Reader<'_>) -> Option<Self> {
        let ck = Key32::new(r.array::<32>()?);
        let h = r.array::<32>()?;
        let k = match r.u8()? {
            0 => None,
            1 => Some(Key32::new(r.array::<32>()?)),
            _ => return None,
        };
        let n = r.u64()?;
        Some(Self { ck, h, k, n })
    }
}

fn dh(secret: &StaticSecret, public: &[u8; 32]) -> Result<Zeroizing<[u8; 32]>, HandshakeError> {
    let shared = secret.diffie_hellman(&PublicKey::from(*public));
    if !shared.was_contributory() {
        return Err(HandshakeError::NonContributory);
    }
    Ok(Zeroizing::new(shared.to_bytes()))
}

/// The peer's identity key as received: only its canonical encoding (RFC 7748 ignores bit 255
/// and reduces u modulo p = 2^255 - 19, so other bytes name the same key, each with a
/// fingerprint of its own), never our own key.
fn peer_identity(bytes: &[u8; 32], own: &IdentityKey) -> Result<IdentityPublic, HandshakeError> {
    let top_bit = bytes[31] & 0x80 != 0;
    // u >= p: little-endian 0xed..=0xff, then 30 bytes of 0xff, then 0x7f.
    let unreduced =
        bytes[31] == 0x7f && bytes[1..31].iter().all(|&b| b == 0xff) && bytes[0] >= 0xed;
    if top_bit || unreduced {
        return Err(HandshakeError::NonCanonicalKey);
    }
    let key = IdentityPublic::from_bytes(*bytes);
    if key == own.public() {
        return Err(HandshakeError::OwnKey);
    }
    Ok(key)
}

/// A handshake ciphertext of the exact size its field has (48 or 16 bytes).
fn fixed<const N: usize>(v: &[u8]) -> Result<[u8; N], HandshakeError> {
    v.try_into().map_err(|_| HandshakeError::Authentication)
}

/// Longest handshake payload (plaintext) in `?S1R` and `?S1C`: two names of up to 255 bytes,
/// each with its length byte (see `names`).
pub const MAX_PAYLOAD: usize = 2 * (1 + 255);

/// `payload`, cut to [`MAX_PAYLOAD`] (callers build shorter ones; the cut keeps every line
/// decodable whatever they pass).
fn bounded(payload: &[u8]) -> &[u8] {
    &payload[..payload.len().min(MAX_PAYLOAD)]
}

fn header(kind: u8, a: u32, b: Option<u32>) -> Vec<u8> {
    let mut v = vec![kind];
    v.extend_from_slice(&a.to_be_bytes());
    if let Some(b) = b {
        v.extend_from_slice(&b.to_be_bytes());
    }
    v
}

/// Which side of the handshake we were.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We sent `?S1I`.
    Initiator,
    /// We answered with `?S1R`.
    Responder,
}

/// A finished handshake: everything the double ratchet starts from.
///
/// The secrets (root key, first chain key, the responder's ephemeral) stay private: only the
/// ratchet reads them ([`DoubleRatchet::new`](super::ratchet::DoubleRatchet::new)), through
/// crate-private accessors, and they are wiped when this value drops.
pub struct Established {
    role: Role,
    handshake_hash: [u8; 32],
    root_key: Key32,
    /// Chain key of the responder's first sending chain (responder → initiator).
    responder_chain: Key32,
    peer_identity: IdentityPublic,
    peer_tag: u32,
    responder_ephemeral: [u8; 32],
    /// The responder keeps its ephemeral secret as its first ratchet key.
    responder_ephemeral_secret: Option<Box<StaticSecret>>,
    /// The payload the peer sent, authenticated by its identity key (`?S1R`'s for the initiator,
    /// `?S1C`'s for the responder): the names it states (`names`).
    peer_payload: Vec<u8>,
}

impl Established {
    /// The payload the peer sent in its handshake message, authenticated by its identity key.
    pub fn peer_payload(&self) -> &[u8] {
        &self.peer_payload
    }

    fn split(ss: &SymmetricState) -> (Key32, Key32) {
        hkdf2(ss.ck.as_ref(), &ss.h, SPLIT_INFO)
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Final handshake hash: binds the whole transcript.
    pub fn handshake_hash(&self) -> [u8; 32] {
        self.handshake_hash
    }

    /// The session id: the first 4 bytes of the handshake hash.
    pub fn session_id(&self) -> [u8; 4] {
        let mut id = [0u8; 4];
        id.copy_from_slice(&self.handshake_hash[..4]);
        id
    }

    /// The peer's authenticated identity key.
    pub fn peer_identity(&self) -> IdentityPublic {
        self.peer_identity
    }

    /// The peer's instance tag.
    pub fn peer_tag(&self) -> u32 {
        self.peer_tag
    }

    /// The responder's ephemeral public key: its first ratchet key.
    pub fn responder_ephemeral(&self) -> [u8; 32] {
        self.responder_ephemeral
    }

    /// First root key.
    pub(crate) fn root_key(&self) -> &Key32 {
        &self.root_key
    }

    /// Chain key of the responder's first sending chain (responder → initiator).
    pub(crate) fn responder_chain(&self) -> &Key32 {
        &self.responder_chain
    }

    /// The responder's ephemeral secret (`None` on the initiator's side).
    pub(crate) fn responder_ephemeral_secret(&self) -> Option<&StaticSecret> {
        self.responder_ephemeral_secret.as_deref()
    }
}

/// Reads an ephemeral secret from a snapshot of a handshake in progress.
fn read_secret(r: &mut Reader<'_>) -> Option<Box<StaticSecret>> {
    Some(Box::new(StaticSecret::from(*Zeroizing::new(
        r.array::<32>()?,
    ))))
}

/// The initiator, waiting for `?S1R`.
#[derive(Clone)]
pub struct Initiator {
    ss: SymmetricState,
    ephemeral: Box<StaticSecret>,
    tag: u32,
}

impl Initiator {
    /// Starts a handshake; returns the state to keep and the `?S1I` to send.
    pub fn start(tag: u32, rng: &mut impl CryptoRngCore) -> (Self, InitMessage) {
        let ephemeral = Box::new(StaticSecret::random_from_rng(rng));
        let e_pub = PublicKey::from(ephemeral.as_ref()).to_bytes();
        let mut ss = SymmetricState::new();
        ss.mix_hash(&header(b'I', tag, None));
        ss.mix_hash(&e_pub);
        (
            Self { ss, ephemeral, tag },
            InitMessage {
                initiator_tag: tag,
                ephemeral: e_pub,
            },
        )
    }

    /// Our ephemeral public key (for resolving simultaneous starts).
    pub fn ephemeral_public(&self) -> [u8; 32] {
        PublicKey::from(self.ephemeral.as_ref()).to_bytes()
    }

    /// Appends this handshake state to a snapshot: symmetric state ‖ e (32) ‖ tag_i.
    pub(crate) fn to_bytes(&self, out: &mut Vec<u8>) {
        self.ss.to_bytes(out);
        out.extend_from_slice(self.ephemeral.as_bytes());
        out.extend_from_slice(&self.tag.to_be_bytes());
    }

    /// Reads what [`Initiator::to_bytes`] wrote.
    pub(crate) fn from_reader(r: &mut Reader<'_>) -> Option<Self> {
        Some(Self {
            ss: SymmetricState::from_reader(r)?,
            ephemeral: read_secret(r)?,
            tag: r.u32()?,
        })
    }

    /// Processes `?S1R`; on success returns the finished handshake and the `?S1C` to send.
    /// `self` is untouched on failure.
    pub fn finish(
        &self,
        identity: &IdentityKey,
        msg: &ResponseMessage,
        payload: &[u8],
    ) -> Result<(Established, ConfirmMessage), HandshakeError> {
        if msg.initiator_tag != self.tag {
            return Err(HandshakeError::WrongInstance);
        }
        let (mut ss, s_r, peer_payload) = self.read_response(msg)?;
        // Checked once the key's holder has proved it (`es`): a stranger cannot have a
        // message refused as one of our own.
        let peer_identity = peer_identity(&s_r, identity)?;
        let confirm = self.confirm(
            &mut ss,
            identity.secret(),
            &identity.public().to_bytes(),
            msg,
            payload,
        )?;
        let (root_key, responder_chain) = Established::split(&ss);
        Ok((
            Established {
                role: Role::Initiator,
                handshake_hash: ss.h,
                root_key,
                responder_chain,
                peer_identity,
                peer_tag: msg.responder_tag,
                responder_ephemeral: msg.ephemeral,
                responder_ephemeral_secret: None,
                peer_payload,
            },
            confirm,
        ))
    }
}

impl Initiator {
    /// `?S1R` read: the symmetric state after it, the responder's identity key as sent, and
    /// its payload.
    fn read_response(
        &self,
        msg: &ResponseMessage,
    ) -> Result<(SymmetricState, [u8; 32], Vec<u8>), HandshakeError> {
        let mut ss = self.ss.clone();
        ss.mix_hash(&header(b'R', msg.responder_tag, Some(msg.initiator_tag)));
        ss.mix_hash(&msg.ephemeral);
        ss.mix_key(dh(&self.ephemeral, &msg.ephemeral)?.as_ref());
        let s_r = ss.decrypt_and_hash(&msg.encrypted_static)?;
        let s_r: [u8; 32] = fixed(&s_r)?;
        ss.mix_key(dh(&self.ephemeral, &s_r)?.as_ref());
        let peer_payload = ss.decrypt_and_hash(&msg.encrypted_payload)?;
        Ok((ss, s_r, peer_payload.to_vec()))
    }

    /// `?S1C` stating `s_i` (our identity key's bytes) and proving it with `secret`; `ss`
    /// ends ready for the split.
    fn confirm(
        &self,
        ss: &mut SymmetricState,
        secret: &StaticSecret,
        s_i: &[u8; 32],
        msg: &ResponseMessage,
        payload: &[u8],
    ) -> Result<ConfirmMessage, HandshakeError> {
        ss.mix_hash(&header(b'C', self.tag, Some(msg.responder_tag)));
        let enc_static = ss.encrypt_and_hash(s_i)?;
        ss.mix_key(dh(secret, &msg.ephemeral)?.as_ref());
        let encrypted_payload = ss.encrypt_and_hash(bounded(payload))?;
        Ok(ConfirmMessage {
            initiator_tag: self.tag,
            responder_tag: msg.responder_tag,
            encrypted_static: fixed(&enc_static)?,
            encrypted_payload,
        })
    }
}

/// The responder, waiting for `?S1C`.
#[derive(Clone)]
pub struct Responder {
    ss: SymmetricState,
    ephemeral: Box<StaticSecret>,
    /// The public half of `ephemeral`, kept so that `finish` need not recompute it (a
    /// base-point multiplication, ~16 µs). Not in the snapshot: recomputed on restore.
    ephemeral_public: [u8; 32],
    tag: u32,
    peer_tag: u32,
    /// The initiator's ephemeral key of the start answered (`e_i`), to know a copy of that
    /// start. In memory only: not in the snapshot (`None` once restored).
    peer_ephemeral: Option<[u8; 32]>,
}

impl Responder {
    /// Answers `?S1I`; returns the state to keep and the `?S1R` to send.
    pub fn respond(
        identity: &IdentityKey,
        tag: u32,
        msg: &InitMessage,
        payload: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Result<(Self, ResponseMessage), HandshakeError> {
        let mut ss = SymmetricState::new();
        ss.mix_hash(&header(b'I', msg.initiator_tag, None));
        ss.mix_hash(&msg.ephemeral);
        let ephemeral = Box::new(StaticSecret::random_from_rng(rng));
        let e_pub = PublicKey::from(ephemeral.as_ref()).to_bytes();
        ss.mix_hash(&header(b'R', tag, Some(msg.initiator_tag)));
        ss.mix_hash(&e_pub);
        ss.mix_key(dh(&ephemeral, &msg.ephemeral)?.as_ref());
        let enc_static = ss.encrypt_and_hash(&identity.public().to_bytes())?;
        ss.mix_key(dh(identity.secret(), &msg.ephemeral)?.as_ref());
        let encrypted_payload = ss.encrypt_and_hash(bounded(payload))?;
        let response = ResponseMessage {
            responder_tag: tag,
            initiator_tag: msg.initiator_tag,
            ephemeral: e_pub,
            encrypted_static: fixed(&enc_static)?,
            encrypted_payload,
        };
        Ok((
            Self {
                ss,
                ephemeral,
                ephemeral_public: e_pub,
                tag,
                peer_tag: msg.initiator_tag,
                peer_ephemeral: Some(msg.ephemeral),
            },
            response,
        ))
    }

    /// The instance tag of the initiator this handshake answers.
    pub fn peer_tag(&self) -> u32 {
        self.peer_tag
    }

    /// Whether `msg` is the start this handshake answers (same `tag_i`, same `e_i`): a copy.
    /// Not known of a handshake restored from a snapshot.
    pub fn answers(&self, msg: &InitMessage) -> bool {
        self.peer_tag == msg.initiator_tag && self.peer_ephemeral == Some(msg.ephemeral)
    }

    /// Appends this handshake state to a snapshot: symmetric state ‖ e (32) ‖ tag_r ‖ tag_i.
    pub(crate) fn to_bytes(&self, out: &mut Vec<u8>) {
        self.ss.to_bytes(out);
        out.extend_from_slice(self.ephemeral.as_bytes());
        out.extend_from_slice(&self.tag.to_be_bytes());
        out.extend_from_slice(&self.peer_tag.to_be_bytes());
    }

    /// Reads what [`Responder::to_bytes`] wrote.
    pub(crate) fn from_reader(r: &mut Reader<'_>) -> Option<Self> {
        let ss = SymmetricState::from_reader(r)?;
        let ephemeral: Box<StaticSecret> = read_secret(r)?;
        Some(Self {
            ss,
            ephemeral_public: PublicKey::from(ephemeral.as_ref()).to_bytes(),
            ephemeral,
            tag: r.u32()?,
            peer_tag: r.u32()?,
            peer_ephemeral: None,
        })
    }

    /// Processes `?S1C` (`identity` is our own key, the one `?S1R` carried). `self` is
    /// untouched on failure.
    pub fn finish(
        &self,
        identity: &IdentityKey,
        msg: &ConfirmMessage,
    ) -> Result<Established, HandshakeError> {
        if msg.initiator_tag != self.peer_tag || msg.responder_tag != self.tag {
            return Err(HandshakeError::WrongInstance);
        }
        let mut ss = self.ss.clone();
        ss.mix_hash(&header(b'C', msg.initiator_tag, Some(msg.responder_tag)));
        let s_i = ss.decrypt_and_hash(&msg.encrypted_static)?;
        let s_i: [u8; 32] = fixed(&s_i)?;
        ss.mix_key(dh(&self.ephemeral, &s_i)?.as_ref());
        let peer_payload = ss.decrypt_and_hash(&msg.encrypted_payload)?;
        // Once the key's holder has proved it (`se`), as in `Initiator::finish`.
        let peer_identity = peer_identity(&s_i, identity)?;
        let (root_key, responder_chain) = Established::split(&ss);
        Ok(Established {
            role: Role::Responder,
            handshake_hash: ss.h,
            root_key,
            responder_chain,
            peer_identity,
            peer_tag: self.peer_tag,
            responder_ephemeral: self.ephemeral_public,
            responder_ephemeral_secret: Some(self.ephemeral.clone()),
            peer_payload: peer_payload.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn run(seed: u64) -> (Established, Established, IdentityKey, IdentityKey) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let alice = IdentityKey::generate(&mut rng);
        let bob = IdentityKey::generate(&mut rng);
        let (init, m1) = Initiator::start(11, &mut rng);
        let (resp, m2) = Responder::respond(&bob, 22, &m1, b"", &mut rng).unwrap();
        let (a, m3) = init.finish(&alice, &m2, b"").unwrap();
        let b = resp.finish(&bob, &m3).unwrap();
        (a, b, alice, bob)
    }

    /// A symmetric state whose nonce is used up (2⁶⁴ − 1, Noise's reserved value, which only a
    /// snapshot not written by us can hold) refuses to encrypt or decrypt and changes nothing.
    /// It used that nonce and then overflowed the count (a panic in a debug build).
    #[test]
    fn a_used_up_nonce_is_refused_without_overflow() {
        let mut ss = SymmetricState::new();
        ss.mix_key(&[7u8; 32]);
        ss.n = u64::MAX;
        let mut before = Vec::new();
        ss.to_bytes(&mut before);
        let k = ss.k.clone().expect("a key");
        let payload = Payload {
            msg: b"s",
            aad: &ss.h,
        };
        let ct = ChaCha20Poly1305::new(k.as_ref().into())
            .encrypt(&ss.nonce().into(), payload)
            .expect("encrypt");
        assert_eq!(
            ss.decrypt_and_hash(&ct).err(),
            Some(HandshakeError::Authentication)
        );
        assert_eq!(
            ss.encrypt_and_hash(b"s").err(),
            Some(HandshakeError::Authentication)
        );
        let mut after = Vec::new();
        ss.to_bytes(&mut after);
        assert_eq!(before, after);
    }

    #[test]
    fn both_sides_agree() {
        let (a, b, alice, bob) = run(1);
        assert_eq!(a.handshake_hash, b.handshake_hash);
        assert_eq!(*a.root_key, *b.root_key);
        assert_eq!(*a.responder_chain, *b.responder_chain);
        assert_eq!(a.peer_identity, bob.public());
        assert_eq!(b.peer_identity, alice.public());
        assert_eq!((a.peer_tag, b.peer_tag), (22, 11));
    }

    #[test]
    fn low_order_ephemeral_rejected() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let bob = IdentityKey::generate(&mut rng);
        let m1 = InitMessage {
            initiator_tag: 1,
            ephemeral: [0u8; 32],
        };
        assert_eq!(
            Responder::respond(&bob, 2, &m1, b"", &mut rng).err(),
            Some(HandshakeError::NonContributory)
        );
    }

    #[test]
    fn tampered_tags_fail() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let alice = IdentityKey::generate(&mut rng);
        let bob = IdentityKey::generate(&mut rng);
        let (init, mut m1) = Initiator::start(11, &mut rng);
        m1.initiator_tag = 12; // attacker rewrites the tag: the responder echoes it
        let (_, m2) = Responder::respond(&bob, 22, &m1, b"", &mut rng).unwrap();
        assert_eq!(
            init.finish(&alice, &m2, b"").err(),
            Some(HandshakeError::WrongInstance)
        );
        let mut m2b = m2.clone();
        m2b.initiator_tag = 11; // ...and fixing it up breaks authentication
        assert_eq!(
            init.finish(&alice, &m2b, b"").err(),
            Some(HandshakeError::Authentication)
        );
    }

    /// A start handed back to its sender (a server passing our `?S1I` to another of our own
    /// conversations, which answers it): the answer carries our own key, and is refused. A
    /// client without the check would confirm it: the responder refuses our own key too.
    #[test]
    fn a_handshake_with_our_own_key_is_refused_at_both_ends() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let alice = IdentityKey::generate(&mut rng);
        let (init, m1) = Initiator::start(11, &mut rng);
        let (resp, m2) = Responder::respond(&alice, 11, &m1, b"", &mut rng).unwrap();
        assert_eq!(
            init.finish(&alice, &m2, b"").err(),
            Some(HandshakeError::OwnKey)
        );
        let (mut ss, _, _) = init.read_response(&m2).expect("authentic");
        let s_i = alice.public().to_bytes();
        let m3 = init
            .confirm(&mut ss, alice.secret(), &s_i, &m2, b"")
            .expect("confirm");
        assert_eq!(resp.finish(&alice, &m3).err(), Some(HandshakeError::OwnKey));
    }

    /// X25519 ignores bit 255 of a key: the same key sent with it set works in every DH of
    /// the handshake, but would be another key, with another fingerprint. Refused; the
    /// canonical bytes of the same key pass.
    #[test]
    fn an_identity_key_in_another_encoding_is_refused() {
        let mut rng = ChaCha20Rng::seed_from_u64(8);
        let alice = IdentityKey::generate(&mut rng);
        let bob = IdentityKey::generate(&mut rng);
        let (init, m1) = Initiator::start(11, &mut rng);
        let (resp, m2) = Responder::respond(&bob, 22, &m1, b"", &mut rng).unwrap();
        let canonical = alice.public().to_bytes();
        let mut other = canonical;
        other[31] |= 0x80;
        for (s_i, want) in [
            (other, Err(HandshakeError::NonCanonicalKey)),
            (canonical, Ok(alice.public())),
        ] {
            let (mut ss, _, _) = init.read_response(&m2).expect("authentic");
            let m3 = init
                .confirm(&mut ss, alice.secret(), &s_i, &m2, b"")
                .expect("confirm");
            assert_eq!(resp.finish(&bob, &m3).map(|e| e.peer_identity), want);
        }
    }

    #[test]
    fn only_canonical_encodings_are_identity_keys() {
        let own = IdentityKey::generate(&mut ChaCha20Rng::seed_from_u64(9));
        // p - 1 = 2^255 - 20, the largest reduced u.
        let mut p_minus_1 = [0xff; 32];
        p_minus_1[0] = 0xec;
        p_minus_1[31] = 0x7f;
        let mut nine = [0; 32];
        nine[0] = 9;
        for u in [p_minus_1, nine] {
            assert!(peer_identity(&u, &own).is_ok(), "{u:?}");
            let mut high = u;
            high[31] |= 0x80;
            assert_eq!(
                peer_identity(&high, &own).err(),
                Some(HandshakeError::NonCanonicalKey)
            );
        }
        for low in [0xed, 0xee, 0xff] {
            let mut u = p_minus_1;
            u[0] = low;
            assert_eq!(
                peer_identity(&u, &own).err(),
                Some(HandshakeError::NonCanonicalKey),
                "{u:?}"
            );
        }
    }
}
