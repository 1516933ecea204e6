//! Per-account identity keys and instance tags, in `<purple user dir>/sotto/`.
//!
//! One file per account, `<protocol>.<account>.identity` (names percent-escaped), created 0600
//! in a 0700 directory on first use:
//!
//! ```text
//! sotto-identity-v1
//! <base64 of the 32-byte X25519 secret>
//! <instance tag, decimal, non-zero>
//! ```
//!
//! A simple file for now; the trust-and-continuity issue replaces it with the real store.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use crate::protocol::IdentityKey;

const MAGIC: &str = "sotto-identity-v1";

/// An account's long-term identity and its persistent instance tag.
#[derive(Clone)]
pub(crate) struct AccountIdentity {
    pub key: IdentityKey,
    pub instance_tag: u32,
}

/// Why an identity file could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KeyFileError {
    /// The file or directory could not be read or written.
    #[error("identity file I/O: {0}")]
    Io(#[from] io::Error),
    /// The file exists but is not a Sotto identity file (it is left untouched).
    #[error("identity file is malformed")]
    Malformed,
}

/// Escape a name for use in a file name: keep `[A-Za-z0-9._-]`, percent-encode everything else.
fn escape(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (b == b'.' && !out.is_empty()) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The file holding `account`'s identity under `dir`.
pub(crate) fn path_for(dir: &Path, protocol: &str, account: &str) -> PathBuf {
    dir.join(format!("{}.{}.identity", escape(protocol), escape(account)))
}

/// Load the account's identity, creating it (with `rng`) when there is none yet.
pub(crate) fn load_or_create(
    dir: &Path,
    protocol: &str,
    account: &str,
    rng: &mut impl CryptoRngCore,
) -> Result<AccountIdentity, KeyFileError> {
    let path = path_for(dir, protocol, account);
    match fs::File::open(&path) {
        Ok(mut f) => {
            let mut text = Zeroizing::new(String::new());
            f.read_to_string(&mut text)?;
            parse(&text)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => create(dir, &path, rng),
        Err(e) => Err(e.into()),
    }
}

fn parse(text: &str) -> Result<AccountIdentity, KeyFileError> {
    let mut lines = text.lines();
    if lines.next() != Some(MAGIC) {
        return Err(KeyFileError::Malformed);
    }
    let secret = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(lines.next().ok_or(KeyFileError::Malformed)?.trim())
            .map_err(|_| KeyFileError::Malformed)?,
    );
    let bytes: [u8; 32] = secret
        .as_slice()
        .try_into()
        .map_err(|_| KeyFileError::Malformed)?;
    let bytes = Zeroizing::new(bytes);
    let instance_tag: u32 = lines
        .next()
        .ok_or(KeyFileError::Malformed)?
        .trim()
        .parse()
        .map_err(|_| KeyFileError::Malformed)?;
    if instance_tag == 0 {
        return Err(KeyFileError::Malformed);
    }
    Ok(AccountIdentity {
        key: IdentityKey::from_bytes(*bytes),
        instance_tag,
    })
}

fn create(
    dir: &Path,
    path: &Path,
    rng: &mut impl CryptoRngCore,
) -> Result<AccountIdentity, KeyFileError> {
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    let key = IdentityKey::generate(rng);
    let mut instance_tag = 0;
    while instance_tag == 0 {
        instance_tag = rng.next_u32();
    }
    let secret = key.to_bytes();
    let text = Zeroizing::new(format!(
        "{MAGIC}\n{}\n{instance_tag}\n",
        base64::engine::general_purpose::STANDARD.encode(secret.as_slice())
    ));
    // Write a temporary file created 0600, then rename: never a world-readable or half-written key.
    let tmp = path.with_extension("identity.tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)?;
    Ok(AccountIdentity { key, instance_tag })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    fn tempdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sotto-keys-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn creates_0600_and_reloads_same_key() {
        let dir = tempdir("reload").join("sotto");
        let a = load_or_create(&dir, "prpl-irc", "alice@localhost", &mut OsRng).unwrap();
        let path = path_for(&dir, "prpl-irc", "alice@localhost");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(dmode, 0o700);
        let b = load_or_create(&dir, "prpl-irc", "alice@localhost", &mut OsRng).unwrap();
        assert_eq!(a.key.public(), b.key.public());
        assert_eq!(a.instance_tag, b.instance_tag);
        assert_ne!(a.instance_tag, 0);
        // Another account gets another key.
        let c = load_or_create(&dir, "prpl-jabber", "alice@localhost", &mut OsRng).unwrap();
        assert_ne!(a.key.public(), c.key.public());
        let _ = fs::remove_dir_all(dir.parent().unwrap());
    }

    #[test]
    fn malformed_file_is_an_error_not_a_new_key() {
        let dir = tempdir("bad");
        fs::create_dir_all(&dir).unwrap();
        fs::write(path_for(&dir, "p", "a"), "garbage").unwrap();
        assert!(matches!(
            load_or_create(&dir, "p", "a", &mut OsRng),
            Err(KeyFileError::Malformed)
        ));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn names_are_escaped() {
        assert_eq!(escape("bob@x/y z"), "bob%40x%2Fy%20z");
        assert_eq!(escape("..evil"), "%2E.evil");
    }
}
