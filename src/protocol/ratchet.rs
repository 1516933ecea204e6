//! The double ratchet (Signal's Double Ratchet spec, revision 4) over X25519, HKDF-SHA256 and
//! ChaCha20-Poly1305.
//!
//! * [`RootKey`] and [`ChainKey`] advance through the KDFs in `kdf.rs`.
//! * A [`MessageKey`] encrypts exactly one message: `encrypt(self)`/`decrypt(self)` consume it,
//!   so the compiler forbids reuse, and the AEAD nonce can therefore be the constant zero.
//! * Associated data: the session's handshake hash ‖ the message header.
//! * Out of order: up to [`MAX_GAP`] messages may be skipped in one chain; at most
//!   [`MAX_SKIPPED`] skipped keys are kept (oldest dropped first).
//! * A message that fails to decrypt leaves the ratchet exactly as it was: all new state is
//!   computed aside and committed only after the tag verifies.
//! * Replays fail: a used message key is deleted, and indices below the chain position are
//!   refused.

use std::collections::VecDeque;

use rand_core::CryptoRngCore;
use ring::aead::{Aad, LessSafeKey, Nonce, Tag, UnboundKey, CHACHA20_POLY1305};
use thiserror::Error;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, Zeroizing};

use super::handshake::{Established, Role};
use super::kdf::{chain_step, hkdf2, Key32, RATCHET_INFO};
use super::padding;
use super::secret::{SecretBytes, SecretString};
use super::snapshot::{put_opt32, Reader};
use super::wire::{DataMessage, HeaderBytes};

/// Most messages that may be skipped within one chain by a single incoming message.
pub const MAX_GAP: u32 = 1000;
/// Most skipped message keys stored per session.
pub const MAX_SKIPPED: usize = 2000;
/// Largest buffer kept between messages sent (`DoubleRatchet::sealed`).
const SEALED_KEPT: usize = 16 * 1024;

/// Why an incoming data message was not decrypted. The ratchet state is unchanged.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum DecryptError {
    /// The message was altered, forged, replayed on an old chain, or not meant for us.
    #[error("message authentication failed")]
    Authentication,
    /// The message was already received (its key is used up).
    #[error("duplicate message")]
    Duplicate,
    /// More than [`MAX_GAP`] messages are missing before this one.
    #[error("too many missing messages")]
    TooFarAhead,
    /// The plaintext framing inside a valid ciphertext was malformed.
    #[error("malformed plaintext")]
    Malformed,
}

/// The root key: advanced by each DH ratchet step.
pub(crate) struct RootKey(Key32);
/// A sending or receiving chain key.
#[derive(Clone)]
pub(crate) struct ChainKey(Key32);
/// A single-use message key.
pub(crate) struct MessageKey(Key32);

impl RootKey {
    fn step(&self, dh_out: &[u8; 32]) -> (RootKey, ChainKey) {
        let (rk, ck) = hkdf2(self.0.as_ref(), dh_out, RATCHET_INFO);
        (RootKey(rk), ChainKey(ck))
    }
}

impl ChainKey {
    fn step(&self) -> (MessageKey, ChainKey) {
        let (mk, ck) = chain_step(&self.0);
        (MessageKey(mk), ChainKey(ck))
    }
}

const ZERO_NONCE: [u8; 12] = [0u8; 12];
/// Bytes of the Poly1305 tag after each ciphertext.
const TAG_LEN: usize = 16;

impl MessageKey {
    /// ChaCha20-Poly1305 (RFC 8439) from `ring`: BoringSSL's assembly, picked at run time for
    /// the CPU (AVX2 and SSE4.1 on x86-64, NEON on ARM, portable C otherwise) in every build,
    /// with no `--cfg` for a packager or a library user to forget. `ring` keeps no copy of the
    /// key beyond this call's stack frame; our copy (`self`) is wiped on drop.
    fn aead(&self) -> Option<LessSafeKey> {
        UnboundKey::new(&CHACHA20_POLY1305, self.0.as_ref())
            .ok()
            .map(LessSafeKey::new)
    }

    /// Encrypts `buf[at..]` (the padded plaintext, after `at` bytes of the message's header,
    /// with [`TAG_LEN`] bytes of spare capacity) in place and appends the tag: the plaintext's
    /// buffer becomes the ciphertext, no copy, and every plaintext byte is overwritten. If
    /// sealing fails the plaintext is wiped and `buf` left empty.
    fn encrypt(self, ad: &[u8], buf: &mut Vec<u8>, at: usize) {
        let sealed = self.aead().and_then(|key| {
            key.seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(ZERO_NONCE),
                Aad::from(ad),
                buf.get_mut(at..)?,
            )
            .ok()
        });
        match sealed {
            // Now ciphertext: nothing secret is left in it.
            Some(tag) => buf.extend_from_slice(tag.as_ref()),
            // Fails only for a key of the wrong length or inputs beyond 256 GiB (fragmenting
            // has long refused those). The buffer is wiped and emptied; the caller would still
            // send the bare `?S1D` line, which the peer refuses as malformed (nothing leaks;
            // the step is spent).
            None => buf.zeroize(),
        }
    }

    /// Decrypts `ciphertext` (with its tag) into a new buffer of the plaintext's size, wiped on
    /// drop: the one copy a borrowed message needs. (Opening the decoded buffer in place saves
    /// that copy in `make bench-burst`, 1-2 %, but through libpurple it cost 3 µs a message
    /// in `make bench-e2e`'s burst of 10,000: the text then lives in the line's larger buffer
    /// and glibc's allocator takes its slow path more often.)
    fn decrypt(self, ad: &[u8], ciphertext: &[u8]) -> Result<SecretBytes, DecryptError> {
        let split = ciphertext
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(DecryptError::Authentication)?;
        let (body, tag) = ciphertext.split_at(split);
        let tag = Tag::try_from(tag).map_err(|_| DecryptError::Authentication)?;
        let key = self.aead().ok_or(DecryptError::Authentication)?;
        let mut buf = SecretBytes::new(body.to_vec());
        key.open_in_place_separate_tag(
            Nonce::assume_unique_for_key(ZERO_NONCE),
            Aad::from(ad),
            tag,
            buf.as_mut_slice(),
            0..,
        )
        .map_err(|_| DecryptError::Authentication)?;
        Ok(buf)
    }
}

/// A message key kept for a message not read yet. The key is boxed: the list of them grows,
/// shifts and is built in one place and moved to another, and each move of an inline key
/// would leave a copy in the memory the list frees or no longer uses (found by a read-only
/// review); a boxed key stays where it was allocated and is wiped there when dropped.
struct SkippedKey {
    ratchet_key: [u8; 32],
    index: u32,
    key: Box<Key32>,
}

fn dh(secret: &StaticSecret, public: &[u8; 32]) -> Option<Zeroizing<[u8; 32]>> {
    let s = secret.diffie_hellman(&PublicKey::from(*public));
    s.was_contributory().then(|| Zeroizing::new(s.to_bytes()))
}

/// One session's ratchet state.
pub struct DoubleRatchet {
    root: RootKey,
    dhs: Box<StaticSecret>,
    dhs_pub: [u8; 32],
    dhr: Option<[u8; 32]>,
    cks: ChainKey,
    ns: u32,
    pn: u32,
    ckr: Option<ChainKey>,
    nr: u32,
    skipped: VecDeque<SkippedKey>,
    /// The sending index this chain has set aside up to (see [`DoubleRatchet::reserve`]);
    /// 0 for none. Not part of the ratchet's bytes: the conversation's snapshot carries it.
    reserved: u32,
    /// The buffer the last message sent was sealed in, kept for the next one (no allocation
    /// per message). It holds a header (when sealed for a line: `seal_line`) and ciphertext,
    /// nothing secret: a plaintext is padded into it and sealed in
    /// place, every byte overwritten (`MessageKey::encrypt`). Not part of the ratchet's bytes.
    sealed: Vec<u8>,
}

/// The buffer a plaintext is padded into and sealed in place ([`DoubleRatchet::seal`]), wiped
/// (its whole allocation) if it is dropped: only a panic between padding and sealing drops it,
/// since a seal that returns disarms it (`mem::forget`: a borrow, nothing leaks). It costs
/// nothing on the way that does not unwind.
struct WipeOnUnwind<'a>(&'a mut Vec<u8>);

impl Drop for WipeOnUnwind<'_> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// A decrypted message: inner type and content.
pub struct Decrypted {
    /// Inner message type (see `session/mod.rs`).
    pub kind: u8,
    /// The content, wiped on drop.
    pub content: Plaintext,
}

/// Decrypted content, wiped on drop, never copied out of the buffer it was decrypted in: a
/// text (inner type 0x00) is made a `String` in that buffer as it is decrypted, its UTF-8
/// checked once (the type byte moved out in place); any other content is read through a
/// window that leaves out the type byte and the padding.
pub struct Plaintext(Content);

enum Content {
    Text(SecretString),
    Bytes { padded: SecretBytes, end: usize },
}

impl core::ops::Deref for Plaintext {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            Content::Text(text) => text.as_bytes(),
            Content::Bytes { padded, end } => padded.get(1..*end).unwrap_or_default(),
        }
    }
}

impl Plaintext {
    /// The content of `padded` (whose framing `padding::unpad_frame` accepted, content ending
    /// at `end`) with inner type `kind`. `None` (the buffer wiped) for a text that is not
    /// UTF-8, which the ratchet refuses as bad framing.
    fn new(kind: u8, padded: SecretBytes, end: usize) -> Option<Self> {
        let content = Content::Bytes { padded, end };
        if kind != padding::TEXT {
            return Some(Self(content));
        }
        Self(content).into_text().map(|t| Self(Content::Text(t)))
    }

    /// The content as text, wiped on drop, in the buffer it was decrypted in. `None` (the
    /// buffer wiped) if the content is not UTF-8.
    pub fn into_text(self) -> Option<SecretString> {
        let (mut padded, end) = match self.0 {
            Content::Text(text) => return Some(text),
            Content::Bytes { padded, end } => (padded, end),
        };
        padded.truncate(end);
        if !padded.is_empty() {
            padded.copy_within(1.., 0);
            padded.pop();
        }
        match String::from_utf8(std::mem::take(&mut *padded)) {
            Ok(text) => Some(SecretString::new(text)),
            Err(e) => {
                drop(SecretBytes::new(e.into_bytes()));
                None
            }
        }
    }
}

impl DoubleRatchet {
    /// The ratchet right after a handshake. The initiator makes the first DH ratchet step at
    /// once (against the responder's ephemeral), as Signal's Alice does against Bob's prekey;
    /// the responder may send at once on the responder chain.
    pub fn new(est: &Established, rng: &mut impl CryptoRngCore) -> Option<Self> {
        let rk0 = RootKey(Key32::new(**est.root_key()));
        let responder_chain = ChainKey(Key32::new(**est.responder_chain()));
        let responder_ephemeral = est.responder_ephemeral();
        match est.role() {
            Role::Initiator => {
                let dhs = Box::new(StaticSecret::random_from_rng(rng));
                let (root, cks) = rk0.step(&*dh(&dhs, &responder_ephemeral)?);
                let dhs_pub = PublicKey::from(dhs.as_ref()).to_bytes();
                Some(Self {
                    root,
                    dhs,
                    dhs_pub,
                    dhr: Some(responder_ephemeral),
                    cks,
                    ns: 0,
                    pn: 0,
                    ckr: Some(responder_chain),
                    nr: 0,
                    skipped: VecDeque::new(),
                    reserved: 0,
                    sealed: Vec::new(),
                })
            }
            Role::Responder => {
                let dhs = Box::new(est.responder_ephemeral_secret()?.clone());
                Some(Self {
                    root: rk0,
                    dhs_pub: responder_ephemeral,
                    dhs,
                    dhr: None,
                    cks: responder_chain,
                    ns: 0,
                    pn: 0,
                    ckr: None,
                    nr: 0,
                    skipped: VecDeque::new(),
                    reserved: 0,
                    sealed: Vec::new(),
                })
            }
        }
    }

    /// Encrypts one message (inner `kind` + `content`, padded).
    pub fn encrypt(
        &mut self,
        session_id: [u8; 4],
        handshake_hash: &[u8; 32],
        kind: u8,
        content: &[u8],
    ) -> DataMessage {
        let mut msg = self.seal(kind, content, (session_id, handshake_hash));
        msg.ciphertext = std::mem::take(&mut self.sealed);
        msg
    }

    /// [`Self::encrypt`], the ciphertext left in the ratchet's own buffer
    /// (`sealed`) instead of the message, whose `ciphertext` is empty: what the
    /// conversation sends, encoded straight from there into the line. The session's id and
    /// handshake hash come last, as a pair.
    pub(crate) fn seal(
        &mut self,
        kind: u8,
        content: &[u8],
        session: ([u8; 4], &[u8; 32]),
    ) -> DataMessage {
        self.seal_in_buffer(kind, content, session, false)
    }

    /// [`Self::seal`]; `with_header`: the header bytes are written first in the buffer, the
    /// ciphertext after them (the whole body of the `?S1D` line, for [`Self::seal_line`]).
    fn seal_in_buffer(
        &mut self,
        kind: u8,
        content: &[u8],
        (session_id, handshake_hash): ([u8; 4], &[u8; 32]),
        with_header: bool,
    ) -> DataMessage {
        let msg = DataMessage {
            session_id,
            ratchet_key: self.dhs_pub,
            previous_chain_len: self.pn,
            index: self.ns,
            ciphertext: Vec::new(),
        };
        // The associated data before the chain step, as `decrypt` has it: by the time
        // Poly1305 reads them its bytes have left the store queue, whose narrow stores cannot
        // be forwarded to Poly1305's wider loads (a stall each).
        let ad = AssociatedData::new(handshake_hash, &msg);
        let (mk, next) = self.cks.step();
        self.cks = next;
        self.ns = self.ns.saturating_add(1);
        // The header is the associated data's own bytes after the hash.
        let head = if with_header { ad.header() } else { &[] };
        self.seal_with(mk, &ad, head, kind, content, MessageKey::encrypt);
        msg
    }

    /// Pads `content` into the ratchet's buffer (`sealed`) after `head` and seals it there with
    /// `encrypt` (the message key's own, or a test's that panics): from the first plaintext
    /// byte written until the seal returns, the buffer is wiped if anything unwinds
    /// ([`WipeOnUnwind`]).
    fn seal_with(
        &mut self,
        mk: MessageKey,
        ad: &[u8],
        head: &[u8],
        kind: u8,
        content: &[u8],
        encrypt: impl FnOnce(MessageKey, &[u8], &mut Vec<u8>, usize),
    ) {
        // A long message's buffer is not kept for the short ones after it (also let go
        // right after its line is made: `Self::seal_line`).
        if self.sealed.capacity() > SEALED_KEPT {
            self.sealed = Vec::new();
        }
        let guard = WipeOnUnwind(&mut self.sealed);
        // Room for all of it before a plaintext byte is written: no reallocation leaves a
        // copy of the plaintext behind (what the buffer held before is ciphertext).
        padding::pad_after(head, kind, content, TAG_LEN, guard.0);
        encrypt(mk, ad, guard.0, head.len());
        // Ciphertext now (or wiped by a failed seal): nothing to wipe.
        std::mem::forget(guard);
    }

    /// [`Self::seal`] and the `?S1D` line of the message, encoded in one pass from the
    /// ratchet's buffer, where the header was written before the ciphertext; a long message's
    /// buffer is let go once its line is made, not kept until the next seal.
    #[inline]
    pub(crate) fn seal_line(
        &mut self,
        kind: u8,
        content: &[u8],
        session: ([u8; 4], &[u8; 32]),
    ) -> (DataMessage, String) {
        let header = self.seal_in_buffer(kind, content, session, true);
        let line = DataMessage::line_of_body(&self.sealed);
        if self.sealed.capacity() > SEALED_KEPT {
            self.sealed = Vec::new();
        }
        (header, line)
    }

    /// The ciphertext and tag of the last message [`Self::seal`] made (tests: a line is made
    /// by [`Self::seal_line`]).
    #[cfg(test)]
    pub(crate) fn sealed(&self) -> &[u8] {
        &self.sealed
    }

    /// Decrypts one message; commits the new state only if it authenticates.
    pub fn decrypt(
        &mut self,
        handshake_hash: &[u8; 32],
        msg: &DataMessage,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Decrypted, DecryptError> {
        let ad = AssociatedData::new(handshake_hash, msg);
        let open = |mk: MessageKey| -> Result<Decrypted, DecryptError> {
            let padded = mk.decrypt(&ad, &msg.ciphertext)?;
            let (kind, len) = padding::unpad_frame(&padded).ok_or(DecryptError::Malformed)?;
            let content = Plaintext::new(kind, padded, 1 + len).ok_or(DecryptError::Malformed)?;
            Ok(Decrypted { kind, content })
        };

        // 1. A key we skipped earlier.
        if let Some(pos) = self
            .skipped
            .iter()
            .position(|s| s.ratchet_key == msg.ratchet_key && s.index == msg.index)
        {
            let mk = MessageKey(Key32::new(**self.skipped[pos].key));
            let out = open(mk)?;
            self.skipped.remove(pos);
            return Ok(out);
        }

        // 2. The current receiving chain.
        if self.dhr == Some(msg.ratchet_key) {
            let ckr = self.ckr.as_ref().ok_or(DecryptError::Authentication)?;
            if msg.index < self.nr {
                return Err(DecryptError::Duplicate);
            }
            // The last index a chain can have: nothing follows it (a contact that skipped its
            // way up there must not wrap the count, nor panic a debug build).
            let Some(after) = msg.index.checked_add(1) else {
                return Err(DecryptError::TooFarAhead);
            };
            // The next message in order (the usual case) skips nothing: no copy of the chain.
            let (new_skipped, (mk, next)) = if msg.index == self.nr {
                (Vec::new(), ckr.step())
            } else {
                let (skipped, ck) = advance(ckr, msg.ratchet_key, self.nr, msg.index)?;
                (skipped, ck.step())
            };
            let out = open(mk)?;
            self.ckr = Some(next);
            self.nr = after;
            if !new_skipped.is_empty() {
                self.store_skipped(new_skipped);
            }
            return Ok(out);
        }

        // 3. A new ratchet key from the peer: a DH ratchet step, computed aside. The cheap
        // bound on the new chain first: both gaps give the same error, and a line over it
        // costs no walk of the closing chain (up to MAX_GAP HMACs).
        if msg.index > MAX_GAP {
            return Err(DecryptError::TooFarAhead);
        }
        // The closing chain is walked only if there is one (a responder that has read nothing
        // has none) and only up to `pn` when that is ahead of it: a `pn` at or below `Nr`
        // skips nothing, whatever its size (PROTOCOL.md §4 "Limits"). Its bound is checked
        // now; the walk waits until the line authenticated (its keys are only kept then): a
        // forged line costs the new chain's walk, never the closing one's too (found by a
        // hostile review: up to 2 * MAX_GAP HMACs per forged line, half of them avoidable).
        let closing = match (&self.ckr, self.dhr) {
            (Some(_), Some(_)) if msg.previous_chain_len > self.nr => {
                if msg.previous_chain_len - self.nr > MAX_GAP {
                    return Err(DecryptError::TooFarAhead);
                }
                true
            }
            _ => false,
        };
        let dh_recv = dh(&self.dhs, &msg.ratchet_key).ok_or(DecryptError::Authentication)?;
        let (root1, ckr_new) = self.root.step(&dh_recv);
        let (chain_skipped, ck) = advance(&ckr_new, msg.ratchet_key, 0, msg.index)?;
        let (mk, next) = ck.step();
        let out = open(mk)?;
        let mut new_skipped = Vec::new();
        if let (true, Some(ckr), Some(dhr)) = (closing, &self.ckr, self.dhr) {
            new_skipped = advance(ckr, dhr, self.nr, msg.previous_chain_len)?.0;
        }

        let dhs_new = Box::new(StaticSecret::random_from_rng(rng));
        let dh_send = dh(&dhs_new, &msg.ratchet_key).ok_or(DecryptError::Authentication)?;
        let (root2, cks_new) = root1.step(&dh_send);
        new_skipped.extend(chain_skipped);
        self.store_skipped(new_skipped);
        self.pn = self.ns;
        self.ns = 0;
        self.nr = msg.index + 1;
        self.dhr = Some(msg.ratchet_key);
        self.ckr = Some(next);
        self.root = root2;
        self.dhs_pub = PublicKey::from(dhs_new.as_ref()).to_bytes();
        self.dhs = dhs_new;
        self.cks = cks_new;
        // A new sending chain: nothing of it is set aside yet.
        self.reserved = 0;
        Ok(out)
    }

    /// Whether any message of the peer was read in this session (every read leaves the
    /// receiving index above 0, also the one that makes a DH ratchet step).
    pub(crate) fn has_read(&self) -> bool {
        self.nr > 0
    }

    /// Lets go of the buffer kept for the next message sealed (`sealed`: ciphertext only,
    /// nothing to wipe), for a session that went idle; the next message sealed allocates it
    /// again.
    pub(crate) fn release_buffer(&mut self) {
        self.sealed = Vec::new();
    }

    /// Whether the peer's message with ratchet key `ratchet_key` and index `index` may still be
    /// read here, from its header alone: its key is skipped and kept, it is at or past the
    /// next index of the current receiving chain (within [`MAX_GAP`]), or it is on a chain
    /// not seen yet (so an earlier chain's message, whose chain is not remembered, counts as
    /// one that may be).
    /// `false` for a message of the current chain already read or given up. Changes nothing.
    pub(crate) fn may_read(&self, ratchet_key: &[u8; 32], index: u32) -> bool {
        // The cheap answers first: the skipped keys (up to MAX_SKIPPED) are looked through
        // only for a message that is neither ahead on its chain nor on a chain not seen.
        let ahead = match self.dhr {
            Some(dhr) if dhr == *ratchet_key => {
                index >= self.nr && index - self.nr <= MAX_GAP && index < u32::MAX
            }
            _ => index <= MAX_GAP,
        };
        ahead
            || self
                .skipped
                .iter()
                .any(|s| s.ratchet_key == *ratchet_key && s.index == index)
    }

    /// Whether every message sent on the current sending chain has an index below a
    /// reservation the caller already made durable; if not, sets aside the next `ahead` indices
    /// and returns `true`: the caller must then save synced before the message leaves.
    ///
    /// Why: a state restored after a crash skips its sending chain to the reservation
    /// ([`DoubleRatchet::skip_sending_to`]), so a message key used after the last synced save
    /// is never used again, although the saves in between were not synced. The peer sees a
    /// gap of at most `ahead` indices, as after lost messages (`docs/PROTOCOL.md` §1.1).
    pub(crate) fn reserve(&mut self, ahead: u32) -> bool {
        if self.ns <= self.reserved {
            return false;
        }
        self.reserved = self.ns.saturating_add(ahead);
        true
    }

    /// The reservation, when it is ahead of the chain (what a snapshot must carry).
    pub(crate) fn reservation(&self) -> Option<u32> {
        (self.reserved > self.ns).then_some(self.reserved)
    }

    /// Drops the reservation: the next snapshot holds the exact sending index (a clean stop
    /// saves it synced, so the next start has no gap), and the next send reserves again.
    pub(crate) fn release(&mut self) {
        self.reserved = 0;
    }

    /// Restoring a state saved with a reservation: the sending chain moves on to it, its keys
    /// discarded, since messages up to it may have left after this state was saved. `None`
    /// when `to` is not ahead of the chain or further than [`MAX_GAP`] (not written by us).
    pub(crate) fn skip_sending_to(&mut self, to: u32) -> Option<()> {
        if to <= self.ns || to - self.ns > MAX_GAP {
            return None;
        }
        for _ in self.ns..to {
            let (_, next) = self.cks.step();
            self.cks = next;
        }
        self.ns = to;
        self.reserved = 0;
        Some(())
    }

    fn store_skipped(&mut self, keys: Vec<SkippedKey>) {
        for k in keys {
            if self.skipped.len() >= MAX_SKIPPED {
                self.skipped.pop_front();
            }
            self.skipped.push_back(k);
        }
    }

    /// Number of skipped keys held.
    pub fn skipped_len(&self) -> usize {
        self.skipped.len()
    }

    pub(crate) fn to_bytes(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.root.0.as_ref());
        out.extend_from_slice(self.dhs.as_bytes());
        put_opt32(out, self.dhr.as_ref());
        out.extend_from_slice(self.cks.0.as_ref());
        out.extend_from_slice(&self.ns.to_be_bytes());
        out.extend_from_slice(&self.pn.to_be_bytes());
        put_opt32(out, self.ckr.as_ref().map(|c| &*c.0));
        out.extend_from_slice(&self.nr.to_be_bytes());
        out.extend_from_slice(&(self.skipped.len() as u32).to_be_bytes());
        for s in &self.skipped {
            out.extend_from_slice(&s.ratchet_key);
            out.extend_from_slice(&s.index.to_be_bytes());
            out.extend_from_slice(&s.key[..]);
        }
    }

    pub(crate) fn from_reader(r: &mut Reader<'_>) -> Option<Self> {
        let root = RootKey(Key32::new(r.array::<32>()?));
        let dhs = Box::new(StaticSecret::from(*Zeroizing::new(r.array::<32>()?)));
        let dhr = r.opt32()?;
        let cks = ChainKey(Key32::new(r.array::<32>()?));
        let ns = r.u32()?;
        let pn = r.u32()?;
        let ckr = r.opt32()?.map(|k| ChainKey(Key32::new(k)));
        let nr = r.u32()?;
        let count = r.u32()? as usize;
        if count > MAX_SKIPPED {
            return None;
        }
        let mut skipped = VecDeque::with_capacity(count);
        for _ in 0..count {
            skipped.push_back(SkippedKey {
                ratchet_key: r.array::<32>()?,
                index: r.u32()?,
                key: Box::new(Key32::new(r.array::<32>()?)),
            });
        }
        let dhs_pub = PublicKey::from(dhs.as_ref()).to_bytes();
        Some(Self {
            root,
            dhs,
            dhs_pub,
            dhr,
            cks,
            ns,
            pn,
            ckr,
            nr,
            skipped,
            reserved: 0,
            sealed: Vec::new(),
        })
    }
}

/// AD = handshake hash ‖ header bytes, on the stack (at most 32 + 46 bytes).
struct AssociatedData {
    buf: [u8; 32 + HeaderBytes::MAX],
    len: usize,
}

impl AssociatedData {
    fn new(handshake_hash: &[u8; 32], msg: &DataMessage) -> Self {
        let mut buf = [0u8; 32 + HeaderBytes::MAX];
        let (hash, header) = buf.split_at_mut(32);
        hash.copy_from_slice(handshake_hash);
        let len = 32 + msg.write_header(header);
        Self { buf, len }
    }
}

impl AssociatedData {
    /// The message's header bytes (after the handshake hash).
    fn header(&self) -> &[u8] {
        self.buf.get(32..self.len).unwrap_or_default()
    }
}

impl core::ops::Deref for AssociatedData {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Walks `chain` (currently at index `from`) to index `to`: the keys for `from..to` become
/// skipped keys; returns them and the chain key at `to`.
fn advance(
    chain: &ChainKey,
    ratchet_key: [u8; 32],
    from: u32,
    to: u32,
) -> Result<(Vec<SkippedKey>, ChainKey), DecryptError> {
    if to.saturating_sub(from) > MAX_GAP {
        return Err(DecryptError::TooFarAhead);
    }
    let mut ck = chain.clone();
    let mut skipped = Vec::with_capacity(to.saturating_sub(from) as usize);
    for index in from..to {
        let (mk, next) = ck.step();
        skipped.push(SkippedKey {
            ratchet_key,
            index,
            key: Box::new(mk.0),
        });
        ck = next;
    }
    Ok((skipped, ck))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::{MessageRef, WireMessage};

    /// A skipped key is held by pointer: the list of them shifting or growing moves no key
    /// (inline, an entry is 68 bytes, 32 of them the key).
    #[test]
    fn a_skipped_key_is_held_by_pointer() {
        assert!(core::mem::size_of::<SkippedKey>() <= 32 + 4 + core::mem::size_of::<usize>() + 4);
    }

    fn plaintext(kind: u8, content: &[u8]) -> Option<Plaintext> {
        let padded = padding::pad(kind, content);
        let (_, len) = padding::unpad_frame(&padded)?;
        Plaintext::new(kind, padded, 1 + len)
    }

    #[test]
    fn plaintext_reads_the_content_and_becomes_text_in_place() {
        for kind in [0, 2] {
            for text in ["", "h", "héllo, wörld", &"x".repeat(300)] {
                let p = plaintext(kind, text.as_bytes()).expect("well framed");
                assert_eq!(&*p, text.as_bytes());
                assert_eq!(p.into_text().as_deref().map(String::as_str), Some(text));
            }
        }
        // Not UTF-8: refused as a text, carried as other content (whose reader decides).
        assert!(plaintext(0, &[0xff, 0xfe]).is_none());
        let bytes = plaintext(2, &[0xff, 0xfe]).expect("not a text");
        assert_eq!(&*bytes, &[0xff, 0xfe]);
        assert!(bytes.into_text().is_none());
    }

    type Pair = (
        DoubleRatchet,
        DoubleRatchet,
        [u8; 4],
        [u8; 32],
        rand_chacha::ChaCha20Rng,
    );

    /// The initiator's and the responder's ratchets right after a handshake, the session's id
    /// and hash, and the RNG.
    fn pair(seed: u64) -> Pair {
        use crate::protocol::handshake::{Initiator, Responder};
        use crate::protocol::IdentityKey;
        use rand_chacha::rand_core::SeedableRng;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        let (alice, bob) = (
            IdentityKey::generate(&mut rng),
            IdentityKey::generate(&mut rng),
        );
        let (init, m1) = Initiator::start(1, &mut rng);
        let (resp, m2) = Responder::respond(&bob, 2, &m1, &[], &mut rng).expect("respond");
        let (est_a, m3) = init.finish(&alice, &m2, &[]).expect("finish");
        let est_b = resp.finish(&bob, &m3).expect("finish");
        let a = DoubleRatchet::new(&est_a, &mut rng).expect("a");
        let b = DoubleRatchet::new(&est_b, &mut rng).expect("b");
        (a, b, est_a.session_id(), est_a.handshake_hash(), rng)
    }

    /// Whether a message may still be read is told from its header alone, and changes
    /// nothing: read ones are not, skipped ones are, and so are ones ahead on the chain (within
    /// [`MAX_GAP`]) or on a chain not seen.
    #[test]
    fn may_read_tells_read_messages_from_the_others() {
        let (mut a, mut b, id, hash, mut rng) = pair(44);
        let sent: Vec<DataMessage> = (0..3u8)
            .map(|i| a.encrypt(id, &hash, 0, &[b'm', i]))
            .collect();
        let rk = sent[0].ratchet_key;
        assert!(b.may_read(&rk, 0), "a chain not seen");
        assert!(b.decrypt(&hash, &sent[0], &mut rng).is_ok());
        assert!(b.decrypt(&hash, &sent[2], &mut rng).is_ok());
        assert!(!b.may_read(&rk, 0) && !b.may_read(&rk, 2), "read");
        assert!(b.may_read(&rk, 1), "skipped, kept");
        assert!(b.may_read(&rk, 3) && b.may_read(&rk, 3 + MAX_GAP));
        assert!(!b.may_read(&rk, 4 + MAX_GAP), "too far ahead");
        assert!(b.may_read(&[7; 32], MAX_GAP) && !b.may_read(&[7; 32], MAX_GAP + 1));
        assert!(b.decrypt(&hash, &sent[1], &mut rng).is_ok());
        assert!(!b.may_read(&rk, 1));
    }

    /// Sealing in the ratchet's kept buffer (what a conversation sends) gives the bytes a
    /// fresh buffer gives, after a longer message and a shorter one alike, and they decrypt.
    #[test]
    fn sealing_in_the_kept_buffer_matches_a_fresh_one() {
        let (mut a, mut b, id, hash, mut rng) = pair(45);
        let (mut fresh, _, _, _, _) = pair(45);
        let (mut lined, _, _, _, _) = pair(45);
        for len in [300, 5, 0, 40, 3000, 17, 17] {
            let content = vec![b'w'; len];
            let header = a.seal(0, &content, (id, &hash));
            let expected = fresh.encrypt(id, &hash, 0, &content);
            assert_eq!(a.sealed(), expected.ciphertext.as_slice(), "{len}");
            assert_eq!(
                header.line_with(a.sealed()),
                WireMessage::Data(expected.clone()).encode()
            );
            // The line's own path: header and ciphertext in the buffer, encoded in one pass.
            let (h, line) = lined.seal_line(0, &content, (id, &hash));
            assert_eq!(h, header, "{len}");
            assert_eq!(line, WireMessage::Data(expected.clone()).encode(), "{len}");
            let d = b.decrypt(&hash, &expected, &mut rng).expect("decrypts");
            assert_eq!(&*d.content, content.as_slice());
        }
    }

    /// A panic between padding and sealing (here: in a stand-in for the seal, the plaintext
    /// padded in the buffer) leaves the plaintext's buffer in the ratchet, wiped, not freed
    /// with the plaintext in it; a seal that returns leaves its ciphertext.
    #[test]
    fn a_panic_before_the_seal_wipes_the_padded_plaintext() {
        let (mut a, _, _, _, _) = pair(46);
        let secret = b"the plaintext of a message";
        let padded = padding::padded_len(secret.len() + 2);
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let (mk, _) = a.cks.step();
            a.seal_with(mk, b"ad", &[], 0, secret, |_, _, buf, _| {
                assert_eq!(buf.get(1..1 + secret.len()), Some(&secret[..]));
                panic!("between padding and sealing");
            });
        }));
        assert!(unwound.is_err());
        assert!(a.sealed.is_empty(), "wiped (Vec::zeroize empties it)");
        assert!(
            a.sealed.capacity() >= padded,
            "the buffer stayed with the ratchet: {}",
            a.sealed.capacity()
        );
        let (mk, _) = a.cks.step();
        a.seal_with(mk, b"ad", &[], 0, secret, MessageKey::encrypt);
        assert_eq!(a.sealed.len(), padded + TAG_LEN);
        assert!(a.sealed.windows(secret.len()).all(|w| w != secret));
    }

    /// A long message's buffer is let go as soon as its line is made (it was kept until the
    /// next message was sealed); a short one's is kept for the next.
    #[test]
    fn a_long_message_buffer_is_let_go_after_its_line() {
        let (mut a, mut b, id, hash, mut rng) = pair(47);
        for (len, kept) in [(64 * 1024, false), (16, true)] {
            let content = vec![b'l'; len];
            let (header, line) = a.seal_line(0, &content, (id, &hash));
            assert_eq!(a.sealed.capacity() > 0, kept, "{len}");
            assert!(a.sealed.capacity() <= SEALED_KEPT, "{len}");
            let Ok(WireMessage::Data(m)) = WireMessage::decode(&line) else {
                panic!("{len}: a data line");
            };
            assert_eq!(MessageRef::of(&m), MessageRef::of(&header));
            let d = b.decrypt(&hash, &m, &mut rng).expect("decrypts");
            assert_eq!(&*d.content, content.as_slice());
        }
    }

    /// `pn` is bounded against a receiving chain that is being closed, and only then
    /// (PROTOCOL.md §4 "Limits"): a responder that has read nothing has no chain and skips
    /// nothing for any `pn`; a `pn` at or below `Nr` skips nothing; one more than
    /// [`MAX_GAP`] past `Nr` is refused, as is an `n` over it on the new chain.
    #[test]
    fn pn_is_bounded_only_against_a_receiving_chain() {
        let (mut a, mut b, id, hash, mut rng) = pair(43);
        // The responder has no receiving chain: a first message claiming 5,000 earlier ones.
        a.pn = 5000;
        let first = a.encrypt(id, &hash, 0, b"first");
        assert!(b.decrypt(&hash, &first, &mut rng).is_ok());
        assert_eq!(b.skipped_len(), 0);
        for text in [&b"second"[..], b"third"] {
            let m = a.encrypt(id, &hash, 0, text);
            assert!(b.decrypt(&hash, &m, &mut rng).is_ok());
        }
        assert_eq!(b.nr, 3);
        // b answers; a's next chain claims a previous chain of 1 (below b's Nr of 3).
        let reply = b.encrypt(id, &hash, 0, b"reply");
        assert!(a.decrypt(&hash, &reply, &mut rng).is_ok());
        a.pn = 1;
        let low = a.encrypt(id, &hash, 0, b"low pn");
        let before = b.skipped_len();
        assert!(b.decrypt(&hash, &low, &mut rng).is_ok());
        assert_eq!(b.skipped_len(), before, "pn <= Nr skips nothing");
        // Against a chain that exists: Nr + 1000 is accepted, Nr + 1001 refused, state kept.
        let reply = b.encrypt(id, &hash, 0, b"again");
        assert!(a.decrypt(&hash, &reply, &mut rng).is_ok());
        a.pn = b.nr + MAX_GAP + 1;
        let far = a.encrypt(id, &hash, 0, b"far");
        let mut state = Vec::new();
        b.to_bytes(&mut state);
        assert_eq!(
            b.decrypt(&hash, &far, &mut rng).err(),
            Some(DecryptError::TooFarAhead)
        );
        let mut after = Vec::new();
        b.to_bytes(&mut after);
        assert_eq!(state, after);
        // n over MAX_GAP on the new chain, with a pn that would be accepted: refused too.
        a.pn = b.nr;
        a.ns = MAX_GAP + 1;
        let ahead = a.encrypt(id, &hash, 0, b"ahead");
        assert_eq!(
            b.decrypt(&hash, &ahead, &mut rng).err(),
            Some(DecryptError::TooFarAhead)
        );
        // Exactly MAX_GAP past Nr is accepted (a's chain stands at index 2: two keys of the new
        // chain are skipped too).
        a.pn = b.nr + MAX_GAP;
        a.ns = 2;
        let edge = a.encrypt(id, &hash, 0, b"edge");
        assert!(b.decrypt(&hash, &edge, &mut rng).is_ok());
        assert_eq!(b.skipped_len(), before + MAX_GAP as usize + 2);
    }

    /// A contact that skipped its way up to the last index a chain can have: a message there
    /// is refused, and the receiving count does not wrap (it panicked a debug build).
    #[test]
    fn the_last_index_of_a_chain_is_refused_without_wrapping() {
        let (mut a, mut b, id, hash, mut rng) = pair(41);
        let first = a.encrypt(id, &hash, 0, b"first");
        assert!(b.decrypt(&hash, &first, &mut rng).is_ok());
        // Both chains stand at the same key; only the counts move to the end (the contact's
        // 4.3 million authenticated messages of 1,000 skipped indices each, in short).
        a.ns = u32::MAX;
        b.nr = u32::MAX;
        let last = a.encrypt(id, &hash, 0, b"last");
        assert_eq!(last.index, u32::MAX);
        assert!(matches!(
            b.decrypt(&hash, &last, &mut rng),
            Err(DecryptError::TooFarAhead)
        ));
        assert_eq!(b.nr, u32::MAX, "no wrap");
    }
}
