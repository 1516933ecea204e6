//! Byte buffers and text that are wiped when dropped, at the speed of a memory fill.
//!
//! `zeroize::Zeroizing<Vec<u8>>` and `Zeroizing<String>` wipe element by element, one
//! volatile byte store each: about 1 µs for a 4 KiB message on the machine in
//! `docs/PERFORMANCE.md`, and every message's text and padded plaintext went through one. These
//! two types wipe with `zeroize`'s bulk fill of a slice instead (a plain fill followed by an
//! optimisation barrier, so the compiler cannot drop it): the initialised bytes, then the
//! spare capacity, then the allocation is freed. Like `Zeroizing`, they cannot wipe copies a
//! reallocation left behind: secret buffers here are allocated at their final size.
//!
//! Neither implements `Display`; `Debug` shows the length only, so a stray `{:?}` in a log
//! line or a test failure never prints a message or a key.

use core::fmt;
use core::ops::{Deref, DerefMut};

use zeroize::{Zeroize, ZeroizeOnDrop};

/// Wipes all of `v`'s allocation in one bulk fill and empties it (its capacity stays).
fn wipe(v: &mut Vec<u8>) {
    // Bytes have no destructor: emptied first, the spare capacity is the whole allocation.
    v.clear();
    if v.capacity() != 0 {
        v.spare_capacity_mut().zeroize();
    }
}

/// Secret bytes (a padded plaintext, a session snapshot), wiped on drop.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Takes ownership of `bytes`: from here on they are wiped on drop.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// An empty buffer with room for `capacity` bytes (allocated once, so nothing secret is
    /// left behind by a reallocation while it stays within that).
    pub fn with_capacity(capacity: usize) -> Self {
        Self(Vec::with_capacity(capacity))
    }
}

impl Deref for SecretBytes {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl DerefMut for SecretBytes {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

impl Zeroize for SecretBytes {
    fn zeroize(&mut self) {
        wipe(&mut self.0);
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

impl ZeroizeOnDrop for SecretBytes {}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes({} bytes)", self.0.len())
    }
}

/// Secret text (what the user typed or reads), wiped on drop.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Takes ownership of `text`: from here on it is wiped on drop.
    pub fn new(text: String) -> Self {
        Self(text)
    }
}

impl From<&str> for SecretString {
    fn from(text: &str) -> Self {
        Self(text.to_owned())
    }
}

impl Deref for SecretString {
    type Target = String;
    fn deref(&self) -> &String {
        &self.0
    }
}

impl DerefMut for SecretString {
    fn deref_mut(&mut self) -> &mut String {
        &mut self.0
    }
}

impl Zeroize for SecretString {
    fn zeroize(&mut self) {
        // Through the bytes: an all-zero buffer of length 0 is a valid (empty) String.
        let mut bytes = core::mem::take(&mut self.0).into_bytes();
        wipe(&mut bytes);
        // The emptied allocation is kept, as `String::zeroize` keeps it.
        self.0 = String::from_utf8(bytes).unwrap_or_default();
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        wipe(&mut core::mem::take(&mut self.0).into_bytes());
    }
}

impl ZeroizeOnDrop for SecretString {}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretString({} bytes)", self.0.len())
    }
}

/// What `Debug` shows of a message's text (or a question) kept outside these types: its length
/// only, so a stray `{:?}` never prints a message.
pub(crate) struct Redacted(usize);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0)
    }
}

/// [`Redacted`] for `text`.
pub(crate) fn redacted(text: &str) -> Redacted {
    Redacted(text.len())
}

/// `name { field: value, … }` written to `f` as a derived `Debug` writes it (just `name` when
/// there are no fields), for the hand-written `Debug`s of types that carry a message's text:
/// each of them passes such a field as [`redacted`], never as it is.
pub(crate) fn debug_fields(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    fields: &[(&str, &dyn fmt::Debug)],
) -> fmt::Result {
    let mut s = f.debug_struct(name);
    for (field, value) in fields {
        s.field(field, value);
    }
    s.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `wipe` empties the buffer and keeps its allocation (so `Zeroize` on a live value leaves
    /// it reusable, as `zeroize`'s own impls do). That the spare capacity is filled too is
    /// `zeroize`'s slice impl, tested there; reading it here would take `unsafe`.
    #[test]
    fn wipe_empties_and_keeps_the_allocation() {
        let mut b = SecretBytes::with_capacity(64);
        b.extend_from_slice(&[0xa5; 48]);
        b.truncate(40);
        b.zeroize();
        assert!(b.is_empty());
        assert_eq!(b.capacity(), 64);
        let mut s = SecretString::from("walrus and carpenter");
        let cap = s.capacity();
        s.zeroize();
        assert!(s.is_empty());
        assert_eq!(s.capacity(), cap);
    }

    #[test]
    fn debug_shows_the_length_only() {
        let s = SecretString::from("walrus");
        assert_eq!(format!("{s:?}"), "SecretString(6 bytes)");
        let b = SecretBytes::new(b"key material".to_vec());
        assert_eq!(format!("{b:?}"), "SecretBytes(12 bytes)");
        assert_eq!(s.as_str(), "walrus");
        let mut z = s.clone();
        z.zeroize();
        assert!(z.is_empty());
    }
}
