//! Restored backups. Sessions are saved before every message leaves, so a `sotto.db` copied
//! back from a backup holds ratchet states whose message keys were already used on the wire:
//! encrypting from them again would reuse keys (a two-time pad under the constant nonce).
//!
//! The database counts its saves (`meta.generation`, bumped in the same transaction as every
//! session save, and every delete of a session row: `Store::delete_session`) and carries a random `meta.incarnation`. Beside it, `sotto.generation` holds
//! the last count this machine wrote (written after each synced commit, or once the store
//! learns of the sync that covered commits made without one, and not synced itself: after a
//! crash it can only be behind, which is the safe side). At open, a database whose count is
//! behind the file's, for the same incarnation, is a restored copy; so is one of another
//! incarnation than the file's (a backup from before generations existed gets a new incarnation
//! when it is migrated): every saved session is marked `needs_rekey`, and the sessions service drops such a session's keys when it loads it and
//! starts a new handshake before anything is sent. The mark stays through saves until a new
//! session is up (`Store::clear_rekey`), or the user stops and the row is deleted.
//!
//! The database also records which file it is: `meta.copy` and `meta.born`, the inode and the
//! birth time of `sotto.db` when it was last opened. A database found in another file than
//! that (the database alone copied into a new profile or onto a new machine, also into a file
//! that got the inode number of one deleted just before; a whole profile copied to another
//! directory or machine with its record: `rsync`, a synced folder, `pidgin -c` over a copy)
//! counts as restored, so a copy used beside the original never encrypts from the same chain
//! indices. The mark and the new file's identity are one transaction in the database itself:
//! made once, even when `sotto.generation` cannot be written. The machine is not compared: a
//! home directory on a network file system is the same file from any machine. A database from
//! before `meta.copy` existed gets it at its first open, unmarked when its record is beside
//! it (a live profile), marked when there is none and it holds sessions (copied alone; also a
//! live profile of a version from before the record existed, schema 2: the two cannot be told
//! apart, and each re-keys once).
//!
//! What this cannot see: a backup copied back over the files in place together with
//! `sotto.generation` (the same file), a file-system or virtual-machine snapshot rolled back
//! (the same file, the same record). A file system whose inode numbers change at every mount
//! (vfat, exFAT, sshfs without `use_ino`, CIFS with `noserverino`) re-keys every session at
//! every start: the safe side. The README says so.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt};

use rand_core::RngCore;
use rusqlite::{params, Connection, OptionalExtension};

use super::{Store, StoreError};

/// The file beside the database holding `incarnation generation`.
pub const GENERATION_FILE: &str = "sotto.generation";

/// Which file `path` is: its inode number, and its birth time in nanoseconds since the epoch
/// (0 where the file system does not keep one); `None` when it cannot be looked at.
fn this_file(path: &std::path::Path) -> Option<(i64, i64)> {
    let m = fs::metadata(path).ok()?;
    let born = m
        .created()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_nanos()).ok())
        .unwrap_or(0);
    Some((m.ino() as i64, born))
}

/// Adds what generations need to a version-2 database (schema version 3).
impl Store {
    pub(super) fn migrate_to_generations(&self) -> Result<(), StoreError> {
        let incarnation = (rand_core::OsRng.next_u64() >> 1) as i64;
        self.conn.execute_batch(&format!(
            "BEGIN;
             ALTER TABLE session ADD COLUMN needs_rekey INTEGER NOT NULL DEFAULT 0;
             CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
             INSERT OR IGNORE INTO meta (key, value) VALUES ('incarnation', {incarnation});
             INSERT OR IGNORE INTO meta (key, value) VALUES ('generation', 0);
             PRAGMA user_version = 3;
             COMMIT;"
        ))?;
        Ok(())
    }

    fn meta(&self, key: &str) -> Result<i64, StoreError> {
        self.row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
            r.get(0)
        })
        .optional()?
        .ok_or(StoreError::Corrupt("meta"))
    }

    /// How many saves the database has counted (each synced commit of sessions adds one).
    pub fn generation(&self) -> Result<i64, StoreError> {
        self.meta("generation")
    }

    fn generation_file(&self) -> std::path::PathBuf {
        self.path.with_file_name(GENERATION_FILE)
    }

    /// At open: is this database behind what this machine last wrote? Then it is a restored
    /// copy, and every saved session is marked for a re-key (and the count moves past the
    /// file's, so the mark is made once).
    pub(super) fn check_generation(&self) -> Result<(), StoreError> {
        let incarnation = self.meta("incarnation")?;
        let mut generation = self.meta("generation")?;
        let recorded = self.generation_recorded();
        // Behind the count this machine wrote for this database; or another database than
        // the one it wrote it for, with sessions in it: a backup from before generations
        // existed (migrated just now, under a new incarnation), or one of another database's.
        // Nothing says its keys were not used: they are not used again. (A database made new
        // here has no sessions: nothing is marked.)
        let behind = recorded
            .and_then(|(inc, last)| (inc != incarnation || last > generation).then_some(last));
        // Or found in another file than the one it was last opened as: a copy. A file is its
        // inode and its birth time (a file made anew may get the inode number of one deleted
        // just before, as `rm -rf` then a restore does on ext4; its birth time is new).
        // Unknown (the file cannot be looked at): nothing is compared or recorded.
        let here = this_file(&self.path);
        let meta = |key: &str| -> Result<Option<i64>, StoreError> {
            Ok(self
                .row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                    r.get(0)
                })
                .optional()?)
        };
        let (file, born) = (meta("copy")?, meta("born")?);
        let copied = here.is_some_and(|(inode, birth)| {
            file.is_some_and(|f| f != inode)
                || born.is_some_and(|b| b != birth && b != 0 && birth != 0)
        });
        // A database that never recorded its file (older than this), with no record beside it
        // and sessions in it: copied alone into a new profile, or onto a new machine (a live
        // profile of an older version has its record). Once: the file is recorded now.
        let unrecorded = file.is_none() && recorded.is_none() && self.has_sessions()?;
        let mark = behind.is_some() || copied || unrecorded;
        // The file as recorded is not this one, or not recorded in full (a birth time the file
        // system now tells and did not).
        let record = here.filter(|&(inode, birth)| {
            file != Some(inode) || born.is_none() || (born == Some(0) && birth != 0)
        });
        let write = |generation: Option<i64>| -> Result<(), StoreError> {
            let tx = self.conn.unchecked_transaction()?;
            if let Some(generation) = generation {
                tx.execute("UPDATE session SET needs_rekey = 1", [])?;
                tx.execute(
                    "UPDATE meta SET value = ?1 WHERE key = 'generation'",
                    params![generation],
                )?;
            }
            if let Some((inode, birth)) = record {
                tx.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('copy', ?1), ('born', ?2)",
                    params![inode, birth],
                )?;
            }
            self.commit(tx)?;
            Ok(())
        };
        if mark {
            // Past both counts: a copy of this database taken before now is behind it.
            generation = generation.max(behind.unwrap_or(0)) + 1;
            write(Some(generation))?;
        } else if record.is_some() {
            // Recording the file alone is best effort (a full disk must not keep the keys
            // from opening): tried again at the next open.
            let _ = write(None);
        }
        // The count read may be an unsynced commit's that a kill left in the kernel's cache
        // only: recorded before it is on disk, a power loss would leave the file ahead of the
        // database, as a restored backup looks (every session re-keyed). The log is synced
        // first; when it cannot be, the file keeps its older count (the safe side).
        if self.log_on_disk() {
            self.note_generation(generation);
        }
        Ok(())
    }

    /// What `sotto.generation` records: `(incarnation, generation)`, if it can be read.
    pub(super) fn generation_recorded(&self) -> Option<(i64, i64)> {
        fs::read_to_string(self.generation_file())
            .ok()
            .and_then(|s| {
                let mut it = s.split_whitespace().map(str::parse::<i64>);
                Some((it.next()?.ok()?, it.next()?.ok()?))
            })
    }

    /// Whether any session is saved.
    fn has_sessions(&self) -> Result<bool, StoreError> {
        Ok(self.row("SELECT EXISTS (SELECT 1 FROM session)", [], |r| r.get(0))?)
    }

    /// Whether every commit in the write-ahead log is on disk (synced now; no log: none).
    fn log_on_disk(&self) -> bool {
        if !self.wal {
            return true;
        }
        match fs::File::open(&self.log) {
            Ok(log) => log.sync_data().is_ok(),
            Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        }
    }

    /// Records `generation` in the file beside the database (best effort, not synced).
    ///
    /// Overwritten in place, at a fixed width: a new file renamed over the old one costs a new
    /// inode and two directory entries that the next WAL fsync has to journal (+0.37 ms a save,
    /// measured with `make save-cost`), in place +0.03 ms. A torn write can only make the file
    /// unreadable, which counts as "no record": the database's own record of its file still
    /// tells a copy.
    pub(super) fn note_generation(&self, generation: i64) {
        let Ok(incarnation) = self.meta("incarnation") else {
            return;
        };
        let written = fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .mode(0o600)
            .open(self.generation_file())
            .and_then(|mut f| {
                f.write_all(format!("{incarnation:020} {generation:020}\n").as_bytes())
            });
        drop(written);
    }

    /// A new session settled the conversation with `peer`: its row no longer waits for a
    /// re-key (a save leaves the mark as it is).
    pub fn clear_rekey(&self, protocol: &str, account: &str, peer: &str) -> Result<(), StoreError> {
        self.exec(
            "UPDATE session SET needs_rekey = 0 WHERE account = ?1 AND peer = ?2",
            params![super::account_key(protocol, account), peer],
        )?;
        Ok(())
    }

    /// Whether the saved session with `peer` comes from a restored backup (its keys may have
    /// been used already): drop them and start a new handshake before sending.
    pub fn needs_rekey(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
    ) -> Result<bool, StoreError> {
        self.peer_flag(
            "SELECT needs_rekey FROM session WHERE account = ?1 AND peer = ?2",
            protocol,
            account,
            peer,
        )
    }
}

/// Counts one more save, inside the save's transaction; returns the new count.
pub(super) fn bump(conn: &Connection) -> Result<i64, StoreError> {
    conn.prepare_cached("UPDATE meta SET value = value + 1 WHERE key = 'generation'")?
        .execute([])?;
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = 'generation'")?
        .query_row([], |r| r.get(0))?)
}
