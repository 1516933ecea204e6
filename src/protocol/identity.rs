//! Long-term identity keys and their human-readable fingerprints.
//!
//! Each local account has one X25519 identity key. Authentication is by Diffie-Hellman only
//! (see [`crate::protocol::handshake`]), so transcripts stay deniable: nothing is ever signed.
//!
//! ```
//! use sotto::protocol::IdentityKey;
//! let key = IdentityKey::generate(&mut rand_core::OsRng);
//! let fp = key.public().fingerprint();
//! assert_eq!(fp.to_string().len(), 8 * 5 + 7); // 8 groups of 5 hex digits
//! ```

use core::fmt;

use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

/// Domain separation label for fingerprints.
const FINGERPRINT_LABEL: &[u8] = b"Sotto fingerprint v1";

/// A secret X25519 identity key. Zeroized on drop (x25519-dalek's `zeroize` feature), kept
/// boxed so moves leave no copies behind, and never printed.
#[derive(Clone)]
pub struct IdentityKey {
    secret: Box<StaticSecret>,
    /// Cached: the handshake needs it twice per run, and it costs a scalar multiplication.
    public: IdentityPublic,
}

impl IdentityKey {
    /// A fresh identity key from `rng`.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        Self::from_secret(Box::new(StaticSecret::random_from_rng(rng)))
    }

    /// Restores a key saved with [`IdentityKey::to_bytes`]. Borrowed, so that the caller's
    /// (wiped) copy is the only one besides the key itself: `StaticSecret` takes its bytes by
    /// value, the one unwiped temporary left.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self::from_secret(Box::new(StaticSecret::from(*bytes)))
    }

    fn from_secret(secret: Box<StaticSecret>) -> Self {
        let public = IdentityPublic(PublicKey::from(secret.as_ref()).to_bytes());
        Self { secret, public }
    }

    /// The secret bytes, for storage only.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes())
    }

    /// The public half.
    pub fn public(&self) -> IdentityPublic {
        self.public
    }

    pub(crate) fn secret(&self) -> &StaticSecret {
        &self.secret
    }
}

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityKey(public: {})", self.public().fingerprint())
    }
}

/// A peer's (or our own) public identity key.
#[derive(Clone, Copy, Eq)]
pub struct IdentityPublic([u8; 32]);

// Hash agrees with the constant-time `PartialEq`: both look at exactly the 32 bytes.
impl core::hash::Hash for IdentityPublic {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl IdentityPublic {
    /// From the 32 raw bytes of an X25519 public key.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 raw bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// The fingerprint shown to humans.
    pub fn fingerprint(&self) -> Fingerprint {
        let mut h = Sha256::new();
        h.update(FINGERPRINT_LABEL);
        h.update(self.0);
        let digest = h.finalize();
        let mut out = [0u8; FINGERPRINT_BYTES];
        out.copy_from_slice(&digest[..FINGERPRINT_BYTES]);
        Fingerprint(out)
    }
}

impl PartialEq for IdentityPublic {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for IdentityPublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityPublic({})", self.fingerprint())
    }
}

const FINGERPRINT_BYTES: usize = 20;

/// 160 bits of SHA-256 over the public key, shown as 8 groups of 5 upper-case hex digits,
/// e.g. `3F2A9 0C1DE 77B40 A9E21 5D3C8 04F6B 9A1E2 C7D05`. Hex (not base32) because users
/// read it aloud and compare it on paper: no letter/digit confusion beyond A-F.
#[derive(Clone, Copy, Eq)]
pub struct Fingerprint([u8; FINGERPRINT_BYTES]);

impl core::hash::Hash for Fingerprint {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl Fingerprint {
    /// The raw fingerprint bytes.
    pub fn as_bytes(&self) -> &[u8; FINGERPRINT_BYTES] {
        &self.0
    }

    /// Parses the display form, ignoring spaces and case.
    pub fn parse(s: &str) -> Option<Self> {
        let hex: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        if hex.len() != FINGERPRINT_BYTES * 2 {
            return None;
        }
        let mut out = [0u8; FINGERPRINT_BYTES];
        for (i, pair) in hex.chunks(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            out[i] = (hi * 16 + lo) as u8;
        }
        Some(Self(out))
    }
}

impl PartialEq for Fingerprint {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex: String = self.0.iter().map(|b| format!("{b:02X}")).collect();
        for (i, chunk) in hex.as_bytes().chunks(5).enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(core::str::from_utf8(chunk).map_err(|_| fmt::Error)?)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn fingerprint_format_and_parse() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let key = IdentityKey::generate(&mut rng);
        let fp = key.public().fingerprint();
        let s = fp.to_string();
        assert_eq!(s.split(' ').count(), 8);
        assert!(s.split(' ').all(|g| g.len() == 5));
        assert_eq!(Fingerprint::parse(&s.to_lowercase()), Some(fp));
        assert_eq!(Fingerprint::parse("ABC"), None);
    }

    #[test]
    fn key_roundtrip_and_debug_hides_secret() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
        let key = IdentityKey::generate(&mut rng);
        let again = IdentityKey::from_bytes(&key.to_bytes());
        assert_eq!(key.public(), again.public());
        let dbg = format!("{key:?}");
        let secret_hex: String = key.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert!(!dbg.to_lowercase().contains(&secret_hex[..10]));
    }
}
