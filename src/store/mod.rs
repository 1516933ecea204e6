//! Persistence of identities, trust records and sessions: one SQLite database,
//! `<purple user dir>/sotto/sotto.db`, kept open for the plugin's lifetime.
//!
//! Why SQLite (bundled, through rusqlite) rather than files renamed into place: every send
//! must make "this message key is used" durable *before* the ciphertext leaves, which is one
//! small transaction per message; SQLite's journal gives atomic, crash-safe commits of that
//! (and of several rows together) without us re-implementing fsync-and-rename for each file,
//! and a schema version with migrations comes for free (`PRAGMA user_version`).
//!
//! * The database file and its journal are created 0600 inside a 0700 directory.
//! * `synchronous = FULL`: a commit is on disk when `save_session` returns.
//! * A database that cannot be opened or has an unknown schema is reported as
//!   [`StoreError`]: the caller shows a notice and refuses to encrypt; it never silently
//!   creates a new identity over an unreadable one.
//!
//! ```
//! use sotto::store::Store;
//! let dir = std::env::temp_dir().join(format!("sotto-doc-{}", std::process::id()));
//! let store = Store::open(&dir).unwrap();
//! let (key, tag) = store.load_or_create_identity("prpl-irc", "alice@127.0.0.1", &mut rand_core::OsRng).unwrap();
//! let (again, tag2) = store.load_or_create_identity("prpl-irc", "alice@127.0.0.1", &mut rand_core::OsRng).unwrap();
//! assert_eq!((key.public(), tag), (again.public(), tag2));
//! # std::fs::remove_dir_all(dir).ok();
//! ```
#![forbid(unsafe_code)]

use std::fs;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand_core::CryptoRngCore;
use rusqlite::{params, Connection, OptionalExtension};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::protocol::{Fingerprint, IdentityKey, IdentityPublic};

/// Current schema version (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 1;

/// The database file name inside the data directory.
pub const DB_FILE: &str = "sotto.db";

/// Why the store could not do what was asked.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The directory or database could not be created, opened, read or written.
    #[error("storage error: {0}")]
    Io(String),
    /// The database was written by a newer Sotto.
    #[error("the Sotto database has schema version {0}, newer than this Sotto ({SCHEMA_VERSION})")]
    NewerSchema(i64),
    /// A stored value is malformed (the row is left untouched).
    #[error("the Sotto database holds a malformed {0}")]
    Corrupt(&'static str),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}

/// How much the user trusts a peer's identity key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trust {
    /// Seen, accepted on first use, not verified.
    Unverified,
    /// Verified by the user (fingerprint compared or question answered).
    Verified,
}

/// What the store knows of one peer key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustRecord {
    /// The local account (`protocol/account`).
    pub account: String,
    /// The peer's normalized name.
    pub peer: String,
    /// The peer's identity key.
    pub key: IdentityPublic,
    /// Its fingerprint.
    pub fingerprint: Fingerprint,
    /// Trust level.
    pub trust: Trust,
    /// Unix time first seen.
    pub first_seen: i64,
    /// Unix time last seen.
    pub last_seen: i64,
}

impl TrustRecord {
    /// The protocol id and account username of [`TrustRecord::account`] (protocol ids hold no
    /// `/`; usernames may, e.g. an XMPP resource).
    pub fn protocol_and_account(&self) -> Option<(&str, &str)> {
        self.account.split_once('/')
    }
}

/// The open store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl core::fmt::Debug for Store {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn account_key(protocol: &str, account: &str) -> String {
    format!("{protocol}/{account}")
}

impl Store {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        let path = dir.join(DB_FILE);
        // Create the file 0600 ourselves so SQLite never creates it with the umask's mode.
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
        let conn = Connection::open(&path)?;
        conn.busy_timeout(std::time::Duration::from_secs(2))?;
        // DELETE journal (not WAL): one file plus a transient journal, both in the 0700 dir.
        conn.pragma_update(None, "journal_mode", "DELETE")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "secure_delete", "ON")?;
        let store = Self { conn, path };
        store.migrate()?;
        Ok(store)
    }

    /// Make every later write fail as a read-only disk would (SQLite's `query_only`): the
    /// tests of the fail-closed paths use it to make a save fail for real.
    #[cfg(test)]
    pub(crate) fn fail_writes(&self, fail: bool) {
        self.conn
            .pragma_update(None, "query_only", fail)
            .expect("query_only");
    }

    /// Where the database lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema(version));
        }
        if version < 1 {
            self.conn.execute_batch(
                "BEGIN;
                 CREATE TABLE IF NOT EXISTS identity (
                     account TEXT PRIMARY KEY,
                     secret BLOB NOT NULL,
                     instance_tag INTEGER NOT NULL,
                     created INTEGER NOT NULL);
                 CREATE TABLE IF NOT EXISTS session (
                     account TEXT NOT NULL,
                     peer TEXT NOT NULL,
                     snapshot BLOB NOT NULL,
                     updated INTEGER NOT NULL,
                     PRIMARY KEY (account, peer));
                 CREATE TABLE IF NOT EXISTS trust (
                     account TEXT NOT NULL,
                     peer TEXT NOT NULL,
                     key BLOB NOT NULL,
                     trust INTEGER NOT NULL,
                     first_seen INTEGER NOT NULL,
                     last_seen INTEGER NOT NULL,
                     PRIMARY KEY (account, peer, key));
                 CREATE TABLE IF NOT EXISTS peer (
                     account TEXT NOT NULL,
                     peer TEXT NOT NULL,
                     runs_sotto INTEGER NOT NULL,
                     PRIMARY KEY (account, peer));
                 PRAGMA user_version = 1;
                 COMMIT;",
            )?;
        }
        Ok(())
    }

    /// The account's identity key and instance tag, created on first use.
    pub fn load_or_create_identity(
        &self,
        protocol: &str,
        account: &str,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(IdentityKey, u32), StoreError> {
        let acct = account_key(protocol, account);
        let row: Option<(Zeroizing<Vec<u8>>, i64)> = self
            .conn
            .query_row(
                "SELECT secret, instance_tag FROM identity WHERE account = ?1",
                params![acct],
                |r| Ok((Zeroizing::new(r.get::<_, Vec<u8>>(0)?), r.get(1)?)),
            )
            .optional()?;
        if let Some((secret, tag)) = row {
            let bytes: [u8; 32] = secret
                .as_slice()
                .try_into()
                .map_err(|_| StoreError::Corrupt("identity key"))?;
            let tag = u32::try_from(tag)
                .ok()
                .filter(|t| *t != 0)
                .ok_or(StoreError::Corrupt("instance tag"))?;
            return Ok((IdentityKey::from_bytes(bytes), tag));
        }
        let key = IdentityKey::generate(rng);
        let tag = loop {
            let t = rng.next_u32();
            if t != 0 {
                break t;
            }
        };
        self.conn.execute(
            "INSERT INTO identity (account, secret, instance_tag, created) VALUES (?1, ?2, ?3, ?4)",
            params![acct, key.to_bytes().as_slice(), i64::from(tag), now()],
        )?;
        Ok((key, tag))
    }

    /// The saved conversation snapshot with `peer`, if any.
    pub fn load_session(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT snapshot FROM session WHERE account = ?1 AND peer = ?2",
                params![account_key(protocol, account), peer],
                |r| r.get::<_, Vec<u8>>(0),
            )
            .optional()?
            .map(Zeroizing::new))
    }

    /// Saves (durably: the commit is synced) the conversation snapshot with `peer`.
    pub fn save_session(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
        snapshot: &[u8],
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO session (account, peer, snapshot, updated) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (account, peer) DO UPDATE SET snapshot = excluded.snapshot, updated = excluded.updated",
            params![account_key(protocol, account), peer, snapshot, now()],
        )?;
        Ok(())
    }

    /// Number of saved sessions (all accounts).
    pub fn session_count(&self) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM session", [], |r| r.get::<_, i64>(0))?
            as u64)
    }

    /// Whether `peer` has been seen running Sotto.
    pub fn peer_runs_sotto(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
    ) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT runs_sotto FROM peer WHERE account = ?1 AND peer = ?2",
                params![account_key(protocol, account), peer],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .unwrap_or(0)
            != 0)
    }

    /// Records that `peer` runs Sotto.
    pub fn set_peer_runs_sotto(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO peer (account, peer, runs_sotto) VALUES (?1, ?2, 1)
             ON CONFLICT (account, peer) DO UPDATE SET runs_sotto = 1",
            params![account_key(protocol, account), peer],
        )?;
        Ok(())
    }

    /// All keys recorded for `peer`, most recently seen first.
    pub fn trust_records(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
    ) -> Result<Vec<TrustRecord>, StoreError> {
        let acct = account_key(protocol, account);
        let mut stmt = self.conn.prepare(
            "SELECT account, peer, key, trust, first_seen, last_seen FROM trust
             WHERE account = ?1 AND peer = ?2 ORDER BY last_seen DESC",
        )?;
        let rows = stmt.query_map(params![acct, peer], raw_trust_row)?;
        rows.map(|row| trust_record(row?)).collect()
    }

    /// The keys of `peer` the user has accepted, least recently seen first (the order in which
    /// the protocol core keeps them).
    pub fn accepted_keys(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
    ) -> Result<Vec<IdentityPublic>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT account, peer, key, trust, first_seen, last_seen FROM trust
             WHERE account = ?1 AND peer = ?2 ORDER BY last_seen ASC",
        )?;
        let rows = stmt.query_map(params![account_key(protocol, account), peer], raw_trust_row)?;
        rows.map(|row| trust_record(row?).map(|t| t.key)).collect()
    }

    /// Every recorded key of every contact of every account (the "Known fingerprints" view),
    /// ordered by account, contact, then most recently seen first.
    pub fn all_trust_records(&self) -> Result<Vec<TrustRecord>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT account, peer, key, trust, first_seen, last_seen FROM trust
             ORDER BY account, peer, last_seen DESC",
        )?;
        let rows = stmt.query_map([], raw_trust_row)?;
        rows.map(|row| trust_record(row?)).collect()
    }

    /// Records that `peer` presented `key` now (new keys start unverified).
    pub fn record_key_seen(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
        key: &IdentityPublic,
    ) -> Result<(), StoreError> {
        let t = now();
        self.conn.execute(
            "INSERT INTO trust (account, peer, key, trust, first_seen, last_seen) VALUES (?1, ?2, ?3, 0, ?4, ?4)
             ON CONFLICT (account, peer, key) DO UPDATE SET last_seen = excluded.last_seen",
            params![account_key(protocol, account), peer, key.to_bytes().as_slice(), t],
        )?;
        Ok(())
    }

    /// Sets the trust level of `peer`'s `key`.
    pub fn set_trust(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
        key: &IdentityPublic,
        trust: Trust,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE trust SET trust = ?4 WHERE account = ?1 AND peer = ?2 AND key = ?3",
            params![
                account_key(protocol, account),
                peer,
                key.to_bytes().as_slice(),
                i64::from(trust == Trust::Verified)
            ],
        )?;
        Ok(())
    }

    /// Forgets one recorded key of `peer`.
    pub fn forget_key(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
        key: &IdentityPublic,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "DELETE FROM trust WHERE account = ?1 AND peer = ?2 AND key = ?3",
            params![
                account_key(protocol, account),
                peer,
                key.to_bytes().as_slice()
            ],
        )?;
        Ok(())
    }
}

type RawTrustRow = (String, String, Vec<u8>, i64, i64, i64);

fn raw_trust_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawTrustRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn trust_record(row: RawTrustRow) -> Result<TrustRecord, StoreError> {
    let (account, peer, key, trust, first_seen, last_seen) = row;
    let key: [u8; 32] = key
        .as_slice()
        .try_into()
        .map_err(|_| StoreError::Corrupt("peer key"))?;
    let key = IdentityPublic::from_bytes(key);
    Ok(TrustRecord {
        account,
        peer,
        fingerprint: key.fingerprint(),
        key,
        trust: if trust == 1 {
            Trust::Verified
        } else {
            Trust::Unverified
        },
        first_seen,
        last_seen,
    })
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Conversation, Policy};
    use rand_chacha::rand_core::SeedableRng;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sotto-store-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn files_are_private() {
        let d = tmp("perm");
        let s = Store::open(&d).unwrap();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        s.load_or_create_identity("prpl-irc", "a", &mut rng)
            .unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&d), 0o700);
        assert_eq!(mode(s.path()), 0o600);
        fs::remove_dir_all(d).ok();
    }

    #[test]
    fn identity_survives_reopen() {
        let d = tmp("ident");
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
        let (k1, t1) = Store::open(&d)
            .unwrap()
            .load_or_create_identity("prpl-irc", "a", &mut rng)
            .unwrap();
        let (k2, t2) = Store::open(&d)
            .unwrap()
            .load_or_create_identity("prpl-irc", "a", &mut rng)
            .unwrap();
        assert_eq!((k1.public(), t1), (k2.public(), t2));
        let (k3, _) = Store::open(&d)
            .unwrap()
            .load_or_create_identity("prpl-jabber", "a", &mut rng)
            .unwrap();
        assert_ne!(k1.public(), k3.public());
        fs::remove_dir_all(d).ok();
    }

    #[test]
    fn sessions_and_trust_roundtrip() {
        let d = tmp("sess");
        let s = Store::open(&d).unwrap();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        let (k, tag) = s
            .load_or_create_identity("prpl-irc", "a", &mut rng)
            .unwrap();
        let c = Conversation::new(k.clone(), tag, Policy::Always);
        s.save_session("prpl-irc", "a", "bob", &c.snapshot())
            .unwrap();
        let back = s.load_session("prpl-irc", "a", "bob").unwrap().unwrap();
        assert_eq!(&back[..], &c.snapshot()[..]);
        assert!(s.load_session("prpl-irc", "a", "carol").unwrap().is_none());
        let peer = IdentityKey::generate(&mut rng).public();
        s.record_key_seen("prpl-irc", "a", "bob", &peer).unwrap();
        s.set_trust("prpl-irc", "a", "bob", &peer, Trust::Verified)
            .unwrap();
        let recs = Store::open(&d)
            .unwrap()
            .trust_records("prpl-irc", "a", "bob")
            .unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].trust, Trust::Verified);
        assert!(!s.peer_runs_sotto("prpl-irc", "a", "bob").unwrap());
        s.set_peer_runs_sotto("prpl-irc", "a", "bob").unwrap();
        assert!(s.peer_runs_sotto("prpl-irc", "a", "bob").unwrap());
        fs::remove_dir_all(d).ok();
    }

    #[test]
    fn all_trust_records_lists_every_account_and_contact() {
        let d = tmp("all");
        let s = Store::open(&d).unwrap();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(4);
        assert!(s.all_trust_records().unwrap().is_empty());
        let k1 = IdentityKey::generate(&mut rng).public();
        let k2 = IdentityKey::generate(&mut rng).public();
        let k3 = IdentityKey::generate(&mut rng).public();
        s.record_key_seen("prpl-jabber", "a@x/res", "bob@x", &k1)
            .unwrap();
        s.record_key_seen("prpl-jabber", "a@x/res", "bob@x", &k2)
            .unwrap();
        s.record_key_seen("prpl-irc", "a", "carol", &k3).unwrap();
        s.set_trust("prpl-irc", "a", "carol", &k3, Trust::Verified)
            .unwrap();
        let all = s.all_trust_records().unwrap();
        assert_eq!(all.len(), 3);
        // Ordered by account: prpl-irc first.
        assert_eq!(all[0].protocol_and_account(), Some(("prpl-irc", "a")));
        assert_eq!(
            (all[0].peer.as_str(), all[0].trust),
            ("carol", Trust::Verified)
        );
        assert_eq!(all[0].fingerprint, k3.fingerprint());
        assert!(all[1..].iter().all(|r| r.peer == "bob@x"
            && r.trust == Trust::Unverified
            && r.protocol_and_account() == Some(("prpl-jabber", "a@x/res"))));
        let keys: Vec<_> = all[1..].iter().map(|r| r.key).collect();
        assert!(keys.contains(&k1) && keys.contains(&k2));
        // The per-contact query agrees, and forgetting removes exactly one key.
        assert_eq!(
            s.trust_records("prpl-jabber", "a@x/res", "bob@x")
                .unwrap()
                .len(),
            2
        );
        s.forget_key("prpl-jabber", "a@x/res", "bob@x", &k1)
            .unwrap();
        let all = s.all_trust_records().unwrap();
        assert_eq!(all.len(), 2);
        assert!(all.iter().all(|r| r.key != k1));
        fs::remove_dir_all(d).ok();
    }

    #[test]
    fn garbage_database_is_an_error_not_a_new_identity() {
        let d = tmp("corrupt");
        fs::create_dir_all(&d).unwrap();
        fs::write(
            d.join(DB_FILE),
            b"this is not a database at all, not even close............",
        )
        .unwrap();
        assert!(Store::open(&d).is_err());
        fs::remove_dir_all(d).ok();
    }

    #[test]
    fn newer_schema_is_refused() {
        let d = tmp("newer");
        drop(Store::open(&d).unwrap());
        let c = Connection::open(d.join(DB_FILE)).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
        drop(c);
        assert!(matches!(Store::open(&d), Err(StoreError::NewerSchema(99))));
        fs::remove_dir_all(d).ok();
    }
}
