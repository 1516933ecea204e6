//! Persistence of identities, trust records and sessions: one SQLite database,
//! `<purple user dir>/sotto/sotto.db`, kept open for the plugin's lifetime.
//!
//! Why SQLite (bundled, through rusqlite) rather than files renamed into place: every send
//! must make "this message key is used" durable *before* the ciphertext leaves, which is one
//! small transaction per message; SQLite's journal gives atomic, crash-safe commits of that
//! (and of several rows together) without us re-implementing fsync-and-rename for each file,
//! and a schema version with migrations comes for free (`PRAGMA user_version`).
//!
//! * The database file and its write-ahead log are created 0600 inside a 0700 directory
//!   (SQLite gives `sotto.db-wal` the database file's mode; under the exclusive lock there is
//!   no `-shm` file).
//! * `synchronous = FULL`: a commit is on disk when `save_session` returns; the one exception
//!   is [`Store::save_sessions_unsynced`] (below).
//!
//! # The synced save
//!
//! Every save before a send is one transaction in WAL mode with `synchronous = FULL`: the new
//! pages are appended to `sotto.db-wal` and that file is fsynced once, so the commit is on disk
//! (and survives a crash or power loss) when `save_session` returns. Measured on the project's
//! VM (`make save-cost`; `docs/PERFORMANCE.md`, "The synced save"): 0.18-0.29 ms per commit,
//! against 0.58-0.78 ms for the rollback journal (`DELETE`: four fsyncs, and a journal file
//! created and unlinked per save) it replaces, and 1.05 ms for WAL with a checkpoint inside
//! each save.
//!
//! The WAL holds earlier states of a session (old chain, root and skipped keys) until a
//! checkpoint copies the pages into the database file (where they overwrite the old ones, and
//! `secure_delete` zeroes freed space) and empties it: [`Store::checkpoint`], which the caller
//! runs after the line has been handed on, off the send path (the plugin: a 30 s timer). The
//! open store checkpoints once at start (after a crash), and SQLite's own checkpoint every
//! 1,000 pages bounds the WAL if nobody calls it. Blocks freed by a truncation or an unlink
//! keep their bytes until the file system reuses them, so the checkpoint first overwrites the
//! log with zeros where it lies (once every frame is in the database file), and the store's
//! `Drop` runs a last checkpoint before SQLite's close, which unlinks the log as it is. Not
//! covered: a copy-on-write file system (btrfs, ZFS) or an SSD's own remapping writes the
//! zeros elsewhere and leaves the old blocks as they were.
//!
//! A checkpoint then fills the emptied WAL with zeros (as much as the saves since the last one
//! used, at least [`WAL_RESERVE_MIN`], at most [`WAL_RESERVE_MAX`]), and `journal_size_limit` is left unset so SQLite never
//! truncates it: later commits overwrite those zeros in place instead of growing the file, and
//! an fsync of a file that does not grow is cheaper here by 0.1-0.2 ms a save (0.19-0.23 ms
//! against 0.30-0.39, `docs/PERFORMANCE.md`, "The synced save"). The zeros hold no state, and
//! SQLite's recovery stops at the first frame whose checksum fails, which a zero frame does.
//! The price: after SQLite's own checkpoint restarts the log, frames older than the restart
//! stay in the file beyond the new ones until the next [`Store::checkpoint`] (with
//! `journal_size_limit = 0`, as before, SQLite cut them off at the restart); the plugin's timer
//! bounds that to about 30 s, as it bounded the WAL before.
//! * A database that cannot be opened or has an unknown schema is reported as
//!   [`StoreError`]: the caller shows a notice and refuses to encrypt; it never silently
//!   creates a new identity over an unreadable one.
//!
//! # Durable before it leaves
//!
//! What must be on disk before anything more happens is every state from which a line left:
//! a session restored from an older one would encrypt under message keys already used on the
//! wire. A message that was only *read* leaves nothing: the state it produced (the receiving
//! chain moved on, skipped keys, a new ratchet key pair no line has used yet) may be lost to
//! a power loss without any key being used twice, since the older state it falls back to can
//! read the same messages again and draws a fresh key pair for its next send. So the plugin
//! saves a plainly read message with [`Store::save_sessions_unsynced`] (a commit, without its
//! fsync: it survives the process being killed, not a power loss) and calls
//! [`Store::sync_in_background`] once the main loop has read what arrived together, one fsync
//! for a backlog of messages instead of one each, run on a worker thread (`syncer.rs`) so that
//! the main loop does not wait for the disk. Any synced commit before that (a send) covers it
//! too, since the WAL is written in order. What a power loss in that short window costs: the messages read in it
//! could be read, and shown, a second time if the server delivered them again.
//!
//! Sends are the same once a synced save has set sending indices aside
//! (`Conversation::reserve_sending`, `docs/PROTOCOL.md` §4 "Sending reservations"): one synced
//! save reserves the next 32 indices of the sending chain, the 32 messages that use them are
//! committed without the fsync, and a state restored after a crash that lost those commits
//! skips its chain past the reservation, so no message key is used twice; the peer sees a gap
//! of at most 32 indices.
//!
//! # A failed sync is not retried
//!
//! When the disk fails an fsync of the store (an `EIO` from our fsync, SQLite's
//! `SQLITE_IOERR_FSYNC` at a commit or a checkpoint, a background sync that failed), the store
//! is broken for the rest of its life: Linux reports a failed write-back once and marks the
//! pages it could not write clean, so the next fsync succeeds without them, and a save after it
//! would look durable while a power loss could still take the database back to before the
//! failure, and a session back to message keys already on the wire. Every later commit is
//! refused (a commit hook on the connection, so no write of any function gets through) with an
//! error that says why and that a restart (the store opened anew) ends it; reads go on. No
//! checkpoint runs either, ours or SQLite's own at close: the log stays for the next open. The
//! plugin shows that error where the save was needed, and a message whose save fails is not
//! sent. A write the kernel refuses at once (a read-only or immutable file:
//! `SQLITE_IOERR_WRITE`), a full disk (`SQLITE_FULL`) and a refused statement are not such
//! failures: nothing was taken that a later fsync could pass over, SQLite rolled the
//! transaction back, and once the disk takes writes again they are as good as before. Not
//! covered: SQLite's own automatic checkpoint (every 1,000 pages of log) keeps its error to
//! itself; the plugin's checkpoint every 30 s comes long before it.
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
use rusqlite::config::DbConfig;
use rusqlite::{params, Connection, OptionalExtension};
use thiserror::Error;

use crate::protocol::{Fingerprint, IdentityKey, IdentityPublic, SecretBytes};

mod generation;
mod names;
mod profile_record;
pub use generation::GENERATION_FILE;
pub use names::{is_parked, Learn, Renamed};
pub use profile_record::{ProfileRecord, Unreadable, Verdict, PROFILE_RECORD_FILE};
mod strangers;
mod syncer;
#[cfg(test)]
mod tests;
mod trust;

/// Current schema version (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 4;

/// The database file name inside the data directory.
pub const DB_FILE: &str = "sotto.db";
/// The write-ahead log beside it (SQLite's name).
const WAL_FILE: &str = "sotto.db-wal";
/// Zeros written into an emptied write-ahead log, at least (see "The synced save").
pub const WAL_RESERVE_MIN: u64 = 256 * 1024;
/// At most.
pub const WAL_RESERVE_MAX: u64 = 4 * 1024 * 1024;

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
    /// Another program (a second Pidgin or Finch on the same profile) holds the store. Two
    /// writers would restore the same sessions and encrypt under the same message keys.
    #[error(
        "another program (a second Pidgin or Finch on this profile?) is using Sotto's keys; \
         only one may, or the two would reuse message keys"
    )]
    Locked,
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

#[cfg(test)]
thread_local! {
    /// [`Store::fail_checkpoints`].
    static FAIL_CHECKPOINTS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// [`Store::stop_checkpoints_after_zeroing`].
    static STOP_AFTER_ZEROING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// [`Store::stop_zeroing_after_the_header`].
    static STOP_AFTER_HEADER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// [`Store::fail_full_sync`].
    static FAIL_FULL_SYNC: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// [`Store::fail_syncs`].
    static FAIL_SYNC: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The open store.
pub struct Store {
    /// The worker that syncs the log for [`Store::sync_in_background`], started at its first
    /// use. First, so that it is dropped (stopped and joined) before the connection closes.
    syncer: std::cell::OnceCell<Option<syncer::Syncer>>,
    /// Holds SQLite's exclusive lock on the database for its whole life (`locking_mode =
    /// EXCLUSIVE`): one writer per profile.
    conn: Connection,
    path: PathBuf,
    /// The write-ahead log, where SQLite keeps it: beside the file it opened (`path`, or the
    /// target of the symbolic link `path` is).
    log: PathBuf,
    /// A commit was made without its fsync ([`Store::save_sessions_unsynced`]) and no sync has
    /// covered it since: the generation it counted, for `sotto.generation` once it is synced.
    unsynced: std::cell::Cell<Option<i64>>,
    /// Why a background sync failed, noticed by a call that could not report it.
    sync_failed: std::cell::Cell<Option<String>>,
    /// The database is in WAL mode (commits without an fsync are safe only there).
    wal: bool,
    /// SQLite's count of rows written (inserted, updated, deleted) by this connection when the
    /// last checkpoint succeeded: [`Store::written_since_checkpoint`].
    checked: std::cell::Cell<u64>,
    /// The connection may still be at `synchronous = NORMAL` (an unsynced save whose reset to
    /// `FULL` failed, or was skipped by a panic): a synced save sets `FULL` again first, and
    /// fails when it cannot (a commit it calls synced must be on disk).
    relaxed: std::cell::Cell<bool>,
    /// The database was made new where another had been, and the user was not told yet
    /// ([`Store::replaced_another`]; kept in `meta` too, until told).
    replaced: std::cell::Cell<bool>,
    /// This open made the database (it had no schema): see [`Store::made_now`].
    made: bool,
    /// Why the disk failed to sync this store (an fsync's error), once it has: from then on
    /// every commit is refused (the connection's commit hook reads it too), until the store is
    /// opened anew. See "A failed sync is not retried" in the module doc.
    broken: std::sync::Arc<std::sync::OnceLock<String>>,
}

impl core::fmt::Debug for Store {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Drop for Store {
    /// A last checkpoint before SQLite closes the connection: SQLite's own close copies the
    /// log into the database file and unlinks it as it is, and the blocks of an unlinked file
    /// keep their bytes (earlier states of sessions: old chain, root and skipped keys) until
    /// the file system reuses them. Ours overwrites the log where it lies first. Skipped when
    /// nothing was written since the last one (the log holds zeros), or when the disk has
    /// failed a sync (nothing more is recorded as durable then).
    ///
    /// A broken store also turns SQLite's own checkpoint at close off: it would copy the log
    /// into the database file from pages whose write-back failed (no checksum is checked
    /// then), sync it and delete the log, and the next start would take every commit as
    /// durable. Left as it is, the log is read at the next open by SQLite's recovery, which
    /// stops at the first frame whose checksum fails (found by a read-only review, 2026-12-07).
    ///
    /// The background sync is stopped first and its last failure read (one not yet told would
    /// otherwise go unseen), and the store is looked at again after the last checkpoint, whose
    /// own fsync may be the one told of a failed write-back (a review of this change).
    fn drop(&mut self) {
        if let Some(Some(worker)) = self.syncer.take() {
            if let Some(why) = worker.stop() {
                let _ = self.broken.set(why);
            }
        }
        if self.wal && self.broken.get().is_none() && self.written_since_checkpoint() {
            let _ = self.checkpoint_then(false);
        }
        if self.broken.get().is_some() {
            let _ = self
                .conn
                .set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true);
        }
    }
}

pub(crate) fn account_key(protocol: &str, account: &str) -> String {
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
        // Create the file 0600 ourselves so SQLite never creates it with the umask's mode. Only
        // when it is not there: closing a descriptor of a file drops every POSIX lock this
        // process holds on it, SQLite's exclusive lock of a store open here included (SQLite
        // guards its own descriptors against that, not ours): a second process could then
        // take the keys beside it (found by a review of the store; no path opens a store
        // twice in one process, but nothing here depends on that).
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(_) => {}
            // A symbolic link to a file not there yet (the user moved the store elsewhere):
            // made through the link (nothing holds a lock on a file that is not there).
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && !path.exists() => {
                fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .mode(0o600)
                    .open(&path)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
        let conn = Connection::open(&path)?;
        // Before anything else reads or writes: a second process is refused at once.
        take_exclusive_lock(&conn)?;
        // Durability and what is left on disk: see "The synced save" in the module doc.
        // WAL entered under the exclusive lock keeps its index in memory: no -shm file.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // A file system without WAL support leaves the rollback journal, under which a commit
        // without its fsync could corrupt the database on a power loss: then every save syncs.
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        let wal = mode.eq_ignore_ascii_case("wal");
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "secure_delete", "ON")?;
        // Statement journals and temporary tables in memory: a multi-row update inside a
        // transaction (the re-key marks of a restored backup) otherwise spills the old pages,
        // snapshots with their keys, to an unlinked file in the system's temporary directory,
        // outside the private directory and out of reach of `secure_delete`.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // Never truncated by SQLite: a checkpoint fills it with zeros that commits overwrite.
        conn.pragma_update(None, "journal_size_limit", -1)?;
        // Where SQLite keeps the log: beside the database file it opened, which is the link's
        // target when `sotto.db` is a symbolic link (a user who moved the file elsewhere).
        // (`Connection::path` is `None` for a path that is not UTF-8: the link resolved as
        // SQLite's `unixFullPathname` does, then.)
        let log = conn
            .path()
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .or_else(|| fs::canonicalize(&path).ok())
            .map(|db| {
                let mut name = db.into_os_string();
                name.push("-wal");
                PathBuf::from(name)
            })
            .unwrap_or_else(|| path.with_file_name(WAL_FILE));
        // SQLite gives a log it creates the database file's mode, but keeps the mode of one
        // that exists and is not empty (this one never is: zeroed, not truncated): a log
        // copied with the profile under a looser umask, or one beside a linked database
        // outside the private directory, stays readable by others, with old snapshots in it.
        // So does the generation file. Both are made private here.
        for companion in [log.clone(), path.with_file_name(GENERATION_FILE)] {
            if companion.exists() {
                fs::set_permissions(companion, fs::Permissions::from_mode(0o600))?;
            }
        }
        let mut store = Self {
            syncer: std::cell::OnceCell::new(),
            conn,
            path,
            log,
            unsynced: std::cell::Cell::new(None),
            sync_failed: std::cell::Cell::new(None),
            wal,
            checked: std::cell::Cell::new(0),
            relaxed: std::cell::Cell::new(false),
            replaced: std::cell::Cell::new(false),
            made: false,
            broken: std::sync::Arc::default(),
        };
        // Every write of the store, whichever function makes it, is refused once the disk has
        // failed one: the hook turns the commit into a rollback (reads commit nothing and go
        // on).
        let broken = std::sync::Arc::clone(&store.broken);
        store.conn.commit_hook(Some(move || broken.get().is_some()));
        // A database with no schema yet is made new now; `sotto.generation` beside it was
        // written for another (deleted, emptied, lost): read before the check rewrites it.
        let fresh: i64 = store
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let replaced = fresh == 0 && store.generation_recorded().is_some();
        store.made = fresh == 0;
        store.migrate()?;
        // Kept until the user is told (an open that fails after this, or a kill, must not
        // lose it: the next open finds a schema and would not tell). Best effort.
        if replaced {
            let _ = store.conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('replaced', 1)",
                [],
            );
        }
        store.replaced.set(
            replaced
                || store
                    .row(
                        "SELECT EXISTS (SELECT 1 FROM meta WHERE key = 'replaced')",
                        [],
                        |r| r.get(0),
                    )
                    .unwrap_or(false),
        );
        store.check_generation()?;
        // Whatever a crash left in the WAL goes into the database now, and the WAL is emptied
        // and filled with zeros (256 KiB at least: about 1 ms of the plugin's load here).
        // Best effort: a disk too full for the database file to grow by the log's pages must
        // not cost the keys (every read goes through the log meanwhile); the periodic
        // checkpoint tries again (the store counts as written until one succeeds).
        if store.checkpoint().is_err() {
            store.checked.set(u64::MAX);
        }
        Ok(store)
    }

    /// Whether this open made a new database (new keys for every account) where this profile
    /// had another: `sotto.generation` beside it was written for one, which is gone or was
    /// emptied. Contacts will see every key of this profile as changed; the user must be told.
    pub fn replaced_another(&self) -> bool {
        self.replaced.get()
    }

    /// Which database this is: its random `meta.incarnation` (made with it; kept by copies
    /// and backups of it). `None` when it cannot be read.
    pub fn incarnation(&self) -> Option<i64> {
        self.row(
            "SELECT value FROM meta WHERE key = 'incarnation'",
            [],
            |r| r.get(0),
        )
        .ok()
    }

    /// Whether this open made the database anew (it had no schema: a first start, or a store
    /// deleted with its `sotto.generation`, or a folder that is not the one it was, such as
    /// an encrypted volume not mounted yet). The host, which may know the profile had a store
    /// (a preference outside this folder), tells the user then.
    pub fn made_now(&self) -> bool {
        self.made
    }

    /// The user was told of [`Store::replaced_another`]: not said again.
    pub fn replaced_told(&self) {
        self.replaced.set(false);
        let _ = self
            .conn
            .execute("DELETE FROM meta WHERE key = 'replaced'", []);
    }

    /// Moves every committed save from the WAL into the database file and empties the WAL
    /// (`wal_checkpoint(TRUNCATE)`), then fills it with zeros (see "The synced save" in the
    /// module doc): afterwards no earlier state of any session, old chain, root or skipped keys,
    /// is left in a file of the store's directory. It costs a write and an fsync of the
    /// database file, and the zeros' write and fsync (a few ms here): run it when the
    /// conversation goes quiet, after the lines have gone out, never between a save and its
    /// send (a save is durable without it).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.checkpoint_then(true)
    }

    /// [`Store::checkpoint`]; `reserve`: the emptied log is given its zeros (not at close,
    /// where SQLite unlinks it).
    fn checkpoint_then(&self, reserve: bool) -> Result<(), StoreError> {
        #[cfg(test)]
        if FAIL_CHECKPOINTS.with(std::cell::Cell::get) {
            return Err(StoreError::Io("test: the disk is full".to_owned()));
        }
        // Not once the disk failed a sync: a checkpoint would copy the log into the database
        // from pages whose write-back failed, then empty the log and count every commit as
        // durable (`now_synced`), which a broken store never does again.
        self.usable()?;
        // How much of the log the saves since its last restart used: the zeros are sized on
        // that (the file's own length would include the previous zeros and never shrink).
        // The checkpoint syncs the log before it copies it: an fsync that may be the one told
        // of a failed write-back, which breaks the store as at a commit.
        let (busy, frames, copied): (i64, i64, i64) = self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .map_err(|e| self.sqlite_failed(e))?;
        let page: i64 = self.conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        let wal = &self.log;
        if busy == 0 && frames == copied {
            // Every frame is in the database file, which the checkpoint synced: the log's
            // bytes are overwritten where they lie before the truncation frees their blocks
            // (a freed block keeps its bytes until the file system reuses it). A crash from
            // here on leaves a log of zeros, which SQLite reads as empty, beside a complete
            // database.
            zero_in_place(wal);
        }
        #[cfg(test)]
        if STOP_AFTER_ZEROING.with(std::cell::Cell::get) {
            return Err(StoreError::Io("test: stopped after the zeros".to_owned()));
        }
        self.empty_wal()?;
        // The checkpoint synced the log before copying it: every commit is durable.
        self.now_synced();
        self.checked.set(self.conn.total_changes());
        if busy == 0 && reserve {
            // A WAL frame is a 24-byte header and a page; the log starts with a 32-byte header.
            let used = 32 + frames.max(0).saturating_mul(24 + page.max(0));
            reserve_wal(wal, (used as u64).clamp(WAL_RESERVE_MIN, WAL_RESERVE_MAX));
        }
        Ok(())
    }

    /// `wal_checkpoint(TRUNCATE)`: every committed save into the database file, the WAL cut to
    /// nothing.
    fn empty_wal(&self) -> Result<(), StoreError> {
        let busy: i64 = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
            .map_err(|e| self.sqlite_failed(e))?;
        if busy != 0 {
            return Err(StoreError::Io("the checkpoint was blocked".to_owned()));
        }
        Ok(())
    }

    /// Make every later write fail as a read-only disk would (SQLite's `query_only`): the
    /// tests of the fail-closed paths use it to make a save fail for real.
    #[cfg(test)]
    pub(crate) fn fail_writes(&self, fail: bool) {
        self.conn
            .pragma_update(None, "query_only", fail)
            .expect("query_only");
    }

    /// Runs `sql` on the store's connection: the tests that need a damaged row make one.
    #[cfg(test)]
    pub(crate) fn execute_raw(&self, sql: &str) -> usize {
        self.conn.execute(sql, []).expect("test statement")
    }

    /// Whether anything was written since the last successful checkpoint (a save, a trust
    /// record, a deleted row: the log may hold an earlier state of it), or none has succeeded
    /// since the store opened after a crash left the log full.
    pub fn written_since_checkpoint(&self) -> bool {
        self.conn.total_changes() != self.checked.get()
    }

    /// Make every later checkpoint on this thread stop once the log is overwritten with zeros,
    /// before it is truncated: what a crash at that point leaves.
    #[cfg(test)]
    pub(crate) fn stop_checkpoints_after_zeroing(stop: bool) {
        STOP_AFTER_ZEROING.with(|f| f.set(stop));
    }

    /// Make every later zeroing of the log on this thread stop once its header is zeroed and
    /// synced: what a power loss right after leaves.
    #[cfg(test)]
    pub(crate) fn stop_zeroing_after_the_header(stop: bool) {
        STOP_AFTER_HEADER.with(|f| f.set(stop));
    }

    /// Make every later checkpoint on this thread fail, also the one at open, as a disk too
    /// full for the database file to take the log's pages would.
    #[cfg(test)]
    pub(crate) fn fail_checkpoints(fail: bool) {
        FAIL_CHECKPOINTS.with(|f| f.set(fail));
    }

    /// Make every later `synchronous = FULL` on this thread fail, as a statement that cannot
    /// run (out of memory, a busy connection) would.
    #[cfg(test)]
    pub(crate) fn fail_full_sync(fail: bool) {
        FAIL_FULL_SYNC.with(|f| f.set(fail));
    }

    /// Make every later [`Store::sync`] on this thread fail as the disk's write-back would (an
    /// EIO from the fsync).
    #[cfg(test)]
    pub(crate) fn fail_syncs(fail: bool) {
        FAIL_SYNC.with(|f| f.set(fail));
    }

    /// Make every later conversation save fail (and nothing else: a rename, trust records),
    /// as a disk that fills up between two writes would.
    #[cfg(test)]
    pub(crate) fn fail_snapshot_saves(&self, fail: bool) {
        let sql = if fail {
            "CREATE TEMP TRIGGER IF NOT EXISTS test_fail_saves BEFORE INSERT ON session
             BEGIN SELECT RAISE(ABORT, 'test: the disk is full'); END;"
        } else {
            "DROP TRIGGER IF EXISTS temp.test_fail_saves;"
        };
        self.conn.execute_batch(sql).expect("test trigger");
    }

    /// Make every later write of a conversation row fail, inserts and updates alike (a rename's
    /// too), as a disk that fills up just then would; other tables are written as before.
    #[cfg(test)]
    pub(crate) fn fail_session_writes(&self) {
        self.conn
            .execute_batch(
                "CREATE TEMP TRIGGER IF NOT EXISTS test_fail_inserts BEFORE INSERT ON session
                 BEGIN SELECT RAISE(ABORT, 'test: the disk is full'); END;
                 CREATE TEMP TRIGGER IF NOT EXISTS test_fail_updates BEFORE UPDATE ON session
                 BEGIN SELECT RAISE(ABORT, 'test: the disk is full'); END;",
            )
            .expect("test trigger");
    }

    /// Make every later key recorded for `peer` (a trust row) fail, and nothing else, as a disk
    /// that fills up just then would; `false` lets them succeed again.
    #[cfg(test)]
    pub(crate) fn fail_key_records_for(&self, peer: &str, fail: bool) {
        let sql = if fail {
            format!(
                "CREATE TEMP TRIGGER IF NOT EXISTS test_fail_keys BEFORE INSERT ON trust
                 WHEN NEW.peer = '{}'
                 BEGIN SELECT RAISE(ABORT, 'test: the disk is full'); END;",
                peer.replace('\'', "''")
            )
        } else {
            "DROP TRIGGER IF EXISTS temp.test_fail_keys;".to_owned()
        };
        self.conn.execute_batch(&sql).expect("test trigger");
    }

    /// Mark every row of another client (`bob\n<slot>`) as a restored backup's (its keys may
    /// have been used on the wire), as `generation.rs` marks every row.
    #[cfg(test)]
    pub(crate) fn mark_other_client_rows_restored(&self) {
        self.conn
            .execute_batch("UPDATE session SET needs_rekey = 1 WHERE instr(peer, char(10)) > 0;")
            .expect("marked");
    }

    /// Make every later delete of another client's row (`bob\n<slot>`) fail, and nothing else,
    /// as a disk that fills up just then would.
    #[cfg(test)]
    pub(crate) fn fail_other_client_deletes(&self, fail: bool) {
        let sql = if fail {
            "CREATE TEMP TRIGGER IF NOT EXISTS test_fail_deletes BEFORE DELETE ON session
             WHEN instr(OLD.peer, char(10)) > 0
             BEGIN SELECT RAISE(ABORT, 'test: the disk is full'); END;"
        } else {
            "DROP TRIGGER IF EXISTS temp.test_fail_deletes;"
        };
        self.conn.execute_batch(sql).expect("test trigger");
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
        if version < 2 {
            // Version 2: names a conversation moved away from (a contact renamed), so a window
            // that was encrypted never falls back to plaintext under the old name.
            self.conn.execute_batch(
                "BEGIN;
                 CREATE TABLE IF NOT EXISTS moved (
                     account TEXT NOT NULL,
                     peer TEXT NOT NULL,
                     to_peer TEXT NOT NULL,
                     at INTEGER NOT NULL,
                     PRIMARY KEY (account, peer));
                 PRAGMA user_version = 2;
                 COMMIT;",
            )?;
        }
        if version < 3 {
            self.migrate_to_generations()?;
        }
        if version < 4 {
            // Version 4: which of the contact's clients holds a conversation's session (its
            // instance tag and wire name, learned from a line that authenticated), so that
            // after a restart its lines go there at once (sessions `clients`).
            self.conn.execute_batch(
                "BEGIN;
                 CREATE TABLE IF NOT EXISTS holder (
                     account TEXT NOT NULL,
                     peer TEXT NOT NULL,
                     tag INTEGER NOT NULL,
                     address TEXT NOT NULL,
                     PRIMARY KEY (account, peer));
                 PRAGMA user_version = 4;
                 COMMIT;",
            )?;
        }
        // Per-contact policies (`Store::contact_policy`): a table an older Sotto of the same
        // schema version ignores, so the version stays. Best effort: a store that cannot be
        // written (read-only, full) still opens, and has no policy to read either.
        let _ = self.conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS contact_policy (
                 account TEXT NOT NULL,
                 peer TEXT NOT NULL,
                 policy TEXT NOT NULL,
                 PRIMARY KEY (account, peer));",
        );
        // Which saved conversations a stranger began (`strangers`): best effort likewise.
        self.add_stranger_column();
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
        let row: Option<(SecretBytes, i64)> = self
            .row(
                "SELECT secret, instance_tag FROM identity WHERE account = ?1",
                params![acct],
                |r| Ok((SecretBytes::new(r.get::<_, Vec<u8>>(0)?), r.get(1)?)),
            )
            .optional()?;
        if let Some((secret, tag)) = row {
            let bytes: &[u8; 32] = secret
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
        self.exec(
            "INSERT INTO identity (account, secret, instance_tag, created) VALUES (?1, ?2, ?3, ?4)",
            params![acct, key.to_bytes().as_slice(), i64::from(tag), now()],
        )?;
        Ok((key, tag))
    }

    /// Whether the account has an identity key (none is created). Every saved conversation
    /// of the account was made with it: an account without one has none.
    pub fn has_identity(&self, protocol: &str, account: &str) -> Result<bool, StoreError> {
        Ok(self
            .row(
                "SELECT 1 FROM identity WHERE account = ?1",
                params![account_key(protocol, account)],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// The saved conversation snapshot with `peer`, if any.
    pub fn load_session(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
    ) -> Result<Option<SecretBytes>, StoreError> {
        Ok(self
            .row(
                "SELECT snapshot FROM session WHERE account = ?1 AND peer = ?2",
                params![account_key(protocol, account), peer],
                |r| r.get::<_, Vec<u8>>(0),
            )
            .optional()?
            .map(SecretBytes::new))
    }

    /// Saves (durably: the commit is synced) the conversation snapshot with `peer`.
    pub fn save_session(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
        snapshot: &[u8],
    ) -> Result<(), StoreError> {
        self.save_sessions(protocol, account, &[(peer, snapshot)])
    }

    /// Saves several conversation snapshots in one synced transaction (a message fanned out to
    /// the contact's other clients costs one commit, not one per client): all or none.
    pub fn save_sessions(
        &self,
        protocol: &str,
        account: &str,
        rows: &[(&str, &[u8])],
    ) -> Result<(), StoreError> {
        self.save_sessions_with(protocol, account, rows, true, &mut || Ok(()))
    }

    /// Saves like [`Store::save_sessions`], but commits without the fsync: the rows are in the
    /// database for every later read, and survive the process being killed (the bytes are in
    /// the kernel), but not a power loss or a kernel crash until [`Store::sync`], or any synced
    /// commit, covers them. SQLite's WAL keeps commits in order, so what such a crash loses is
    /// always a suffix of the unsynced commits, never an older one, and the database stays
    /// whole. For a save no line waits on (see "Durable before it leaves" in the module doc).
    /// Synced all the same when the database could not be put in WAL mode.
    pub fn save_sessions_unsynced(
        &self,
        protocol: &str,
        account: &str,
        rows: &[(&str, &[u8])],
    ) -> Result<(), StoreError> {
        self.save_sessions_with(protocol, account, rows, false, &mut || Ok(()))
    }

    /// [`Store::save_sessions`] (`synced`) or [`Store::save_sessions_unsynced`], running `also`
    /// (more writes of this store: the trust records the same decision makes) inside the same
    /// transaction, so a crash keeps both or neither; an error from `also` fails the save
    /// (nothing is committed).
    pub fn save_sessions_with(
        &self,
        protocol: &str,
        account: &str,
        rows: &[(&str, &[u8])],
        synced: bool,
        also: &mut dyn FnMut() -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.usable()?;
        if synced || !self.wal {
            self.durable()?;
            let generation = self.write_sessions(protocol, account, rows, also)?;
            // The WAL is appended to in order: this fsync made every earlier commit durable
            // too.
            self.unsynced.set(None);
            self.note_generation(generation);
            return Ok(());
        }
        self.set_synchronous("NORMAL")?;
        let written = self.write_sessions(protocol, account, rows, also);
        // Every other write of the store stays synced, whatever happened above.
        let restored = self.set_synchronous("FULL");
        let generation = written?;
        // `sotto.generation` waits for the sync: written now, it could reach the disk before
        // the commit, and a power loss would leave the database behind the file, which is how
        // a restored backup looks (every session would be re-keyed).
        self.unsynced.set(Some(generation));
        restored?;
        Ok(())
    }

    /// Whether a commit made by [`Store::save_sessions_unsynced`] is not yet known to be on
    /// disk (a sync asked of [`Store::sync_in_background`] counts once it has finished).
    pub fn unsynced(&self) -> bool {
        if let Err(e) = self.settle() {
            // Reported by the next `sync_in_background`, which is what asks to be told.
            self.sync_failed.set(Some(e.to_string()));
        }
        self.unsynced.get().is_some()
    }

    /// Like [`Store::sync`], but the fsync runs on a worker thread and this returns at once
    /// (`src/store/syncer.rs` says why that is safe for what is left unsynced). The store
    /// learns at its next call whether the sync covered the commits (then `sotto.generation`
    /// counts them). `Err` reports a background sync that failed since the last call, which
    /// broke the store ("A failed sync is not retried" in the module doc).
    /// Where no thread can be started, syncs here.
    pub fn sync_in_background(&self) -> Result<(), StoreError> {
        if let Some(reason) = self.sync_failed.take() {
            return Err(StoreError::Io(reason));
        }
        self.settle()?;
        let Some(generation) = self.unsynced.get() else {
            return Ok(());
        };
        let wal = self.log.clone();
        let started = || {
            let worker = syncer::Syncer::start(wal).ok();
            #[cfg(test)]
            if let Some(w) = &worker {
                if FAIL_SYNC.with(std::cell::Cell::get) {
                    w.fail_syncs();
                }
            }
            worker
        };
        match self.syncer.get_or_init(started) {
            Some(worker) => {
                worker.request(generation);
                Ok(())
            }
            None => self.sync(),
        }
    }

    /// Takes in what the worker of [`Store::sync_in_background`] has done since the last call.
    fn settle(&self) -> Result<(), StoreError> {
        let Some(Some(worker)) = self.syncer.get() else {
            return Ok(());
        };
        let (synced, failed) = worker.progress();
        if self.unsynced.get().is_some_and(|g| g <= synced) {
            self.now_synced();
        }
        match failed {
            Some(reason) => Err(self.broke(reason)),
            None => Ok(()),
        }
    }

    /// Waits for the worker of [`Store::sync_in_background`] to finish what it was asked.
    #[cfg(test)]
    pub(crate) fn background_sync_idle(&self) {
        if let Some(Some(worker)) = self.syncer.get() {
            worker.idle();
        }
    }

    /// Makes every commit so far durable (an fsync of the write-ahead log, where a synced commit
    /// would have made it), if one was made without it.
    pub fn sync(&self) -> Result<(), StoreError> {
        if !self.unsynced() {
            return Ok(());
        }
        // Linux syncs the file, not the descriptor: SQLite's pages written through its own
        // descriptor are flushed by this one.
        #[cfg(test)]
        if FAIL_SYNC.with(std::cell::Cell::get) {
            return Err(self.broke("test: Input/output error (os error 5)".to_owned()));
        }
        fs::File::open(&self.log)?
            .sync_data()
            .map_err(|e| self.broke(e.to_string()))?;
        self.now_synced();
        Ok(())
    }

    /// The disk failed to sync the store (`why`): noted for good, and the error to
    /// report. Linux reports a failed write-back once, and marks the pages it could not write
    /// clean: a later fsync succeeds without them, so a later save would look durable while a
    /// power loss could still take the store back to before the failure, and a session back
    /// to message keys already used on the wire. So nothing is saved, and no line that needs
    /// a save is sent, until the store is opened anew (Pidgin or Finch restarted).
    fn broke(&self, why: String) -> StoreError {
        let _ = self.broken.set(why);
        self.usable().err().unwrap_or(StoreError::Io(String::new()))
    }

    /// `Err` once the disk has failed to sync this store ([`Store::broke`]).
    pub(super) fn usable(&self) -> Result<(), StoreError> {
        match self.broken.get() {
            None => Ok(()),
            Some(why) => Err(StoreError::Io(format!(
                "the disk failed to sync Sotto's state ({why}); so that no message key is \
                 ever used twice, Sotto saves nothing more, and sends nothing that needs a \
                 save, until it is loaded again: restart Pidgin or Finch once the disk is \
                 sound"
            ))),
        }
    }

    /// Commits `tx`; a commit the disk failed ([`disk_failed`]) breaks the store.
    pub(super) fn commit(&self, tx: rusqlite::Transaction<'_>) -> Result<(), StoreError> {
        // A background sync that failed since the last look breaks the store now, not at the
        // next incoming message (`settle`); refused with the reason, rather than by the
        // commit hook's bare "constraint failed".
        self.settle()?;
        self.usable()?;
        tx.commit().map_err(|e| self.sqlite_failed(e))
    }

    /// `e` as a [`StoreError`], breaking the store when the disk failed ([`Store::broke`]).
    fn sqlite_failed(&self, e: rusqlite::Error) -> StoreError {
        if disk_failed(&e) {
            self.broke(e.to_string())
        } else {
            e.into()
        }
    }

    /// Every commit so far is on disk: `sotto.generation` may now count the last unsynced one.
    fn now_synced(&self) {
        if let Some(generation) = self.unsynced.take() {
            self.note_generation(generation);
        }
    }

    fn set_synchronous(&self, level: &str) -> Result<(), StoreError> {
        // Marked before the change and cleared only once `FULL` is in force: a failure or a
        // panic in between leaves the mark, and the next synced save restores `FULL` first.
        if level != "FULL" {
            self.relaxed.set(true);
        }
        #[cfg(test)]
        if level == "FULL" && FAIL_FULL_SYNC.with(std::cell::Cell::get) {
            return Err(StoreError::Io("test: synchronous not set".to_owned()));
        }
        self.conn
            .prepare_cached(&format!("PRAGMA synchronous = {level}"))?
            .execute([])?;
        if level == "FULL" {
            self.relaxed.set(false);
        }
        Ok(())
    }

    /// The rows in one transaction, committed as `synchronous` says; the new generation.
    /// Whether a transaction is open on the store's connection.
    #[cfg(test)]
    pub(crate) fn in_transaction(&self) -> bool {
        !self.conn.is_autocommit()
    }

    fn write_sessions(
        &self,
        protocol: &str,
        account: &str,
        rows: &[(&str, &[u8])],
        also: &mut dyn FnMut() -> Result<(), StoreError>,
    ) -> Result<i64, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        // On this connection, so inside this transaction. An error there fails the save (the
        // transaction rolls back when `tx` drops): a statement that failed by itself (a
        // damaged table) would otherwise leave the rows below to commit without the records
        // that go with them. An error that made SQLite roll the transaction back (a full
        // disk, an I/O error) fails it too: the rows would otherwise be committed one by one,
        // outside any transaction.
        also()?;
        if self.conn.is_autocommit() {
            return Err(StoreError::Io(
                "the save's transaction was rolled back".to_owned(),
            ));
        }
        for (peer, snapshot) in rows {
            // A row's re-key mark stays until a new session settles it
            // (`Store::clear_rekey`): a snapshot saved meanwhile (the keys already dropped)
            // still waits for that session, and no restart may release it.
            tx.prepare_cached(
                "INSERT INTO session (account, peer, snapshot, updated, needs_rekey)
                 VALUES (?1, ?2, ?3, ?4, 0)
                 ON CONFLICT (account, peer) DO UPDATE SET snapshot = excluded.snapshot,
                     updated = excluded.updated",
            )?
            .execute(params![
                account_key(protocol, account),
                peer,
                snapshot,
                now()
            ])?;
        }
        let generation = generation::bump(&tx)?;
        self.commit(tx)?;
        Ok(generation)
    }

    /// Deletes saved snapshots in the transaction of a save: only from the `also` of
    /// [`Store::save_sessions_with`], so that they go in the commit that saves what replaces
    /// them (in a commit of their own, a kill between the two brought both back). Outside a
    /// transaction, an error and nothing deleted.
    pub fn delete_sessions_in_save(
        &self,
        protocol: &str,
        account: &str,
        peers: &[String],
    ) -> Result<(), StoreError> {
        if peers.is_empty() {
            return Ok(());
        }
        if self.conn.is_autocommit() {
            return Err(StoreError::Io(
                "a delete meant for a save's transaction was asked for outside one".to_owned(),
            ));
        }
        for peer in peers {
            self.exec(
                "DELETE FROM session WHERE account = ?1 AND peer = ?2",
                params![account_key(protocol, account), peer],
            )?;
        }
        Ok(())
    }

    /// The names of an account's saved snapshots (its other clients' rows included) and the
    /// names an encrypted conversation moved away from (`moved`: they get no plaintext).
    pub fn session_peers(&self, protocol: &str, account: &str) -> Result<Vec<String>, StoreError> {
        self.names(
            "SELECT peer FROM session WHERE account = ?1
             UNION SELECT peer FROM moved WHERE account = ?1 ORDER BY peer",
            params![account_key(protocol, account)],
        )
    }

    /// The names `sql` (one query selecting one text column) lists under `params`.
    pub(super) fn names(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params, |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The names with a policy of their own for the account (`contact_policy`; none when the
    /// table could not be created in this store).
    pub fn policy_peers(&self, protocol: &str, account: &str) -> Result<Vec<String>, StoreError> {
        let exists: bool = self.row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master
             WHERE type = 'table' AND name = 'contact_policy')",
            [],
            |r| r.get(0),
        )?;
        if !exists {
            return Ok(Vec::new());
        }
        self.names(
            "SELECT peer FROM contact_policy WHERE account = ?1 ORDER BY peer",
            params![account_key(protocol, account)],
        )
    }

    /// Deletes the saved snapshot named `peer` (durably), and counts it as a save
    /// ([`generation`]): a backup from before the delete, copied back, is then behind and
    /// re-keys. Deleting another client's row (`/sotto stop`) seals that session's end line
    /// under its next key, and nothing else may bump the count then (the main conversation
    /// unchanged writes nothing): such a backup brought the row back unnoticed, and a later
    /// message was sealed under the same key and nonce as the end line.
    pub fn delete_session(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
    ) -> Result<(), StoreError> {
        self.usable()?;
        self.durable()?;
        let tx = self.conn.unchecked_transaction()?;
        let deleted = tx.execute(
            "DELETE FROM session WHERE account = ?1 AND peer = ?2",
            params![account_key(protocol, account), peer],
        )?;
        if deleted == 0 {
            return Ok(());
        }
        let generation = generation::bump(&tx)?;
        self.commit(tx)?;
        // Synced (`durable`): every earlier commit is on disk too.
        self.unsynced.set(None);
        self.note_generation(generation);
        Ok(())
    }

    /// Every saved snapshot whose name starts with `prefix` (`prefix` must end in a character
    /// below U+007F), with its name and whether it comes from a restored backup.
    pub fn load_sessions_under(
        &self,
        protocol: &str,
        account: &str,
        prefix: &str,
    ) -> Result<Vec<SavedRow>, StoreError> {
        let Some(last) = prefix.chars().last().filter(|c| (*c as u32) < 0x7f) else {
            return Ok(Vec::new());
        };
        // Names under the prefix sort between it and the prefix with its last character bumped.
        let mut upper = prefix[..prefix.len() - last.len_utf8()].to_owned();
        upper.push(char::from(last as u8 + 1));
        let mut stmt = self.conn.prepare_cached(
            "SELECT peer, snapshot, needs_rekey FROM session
             WHERE account = ?1 AND peer >= ?2 AND peer < ?3 ORDER BY peer",
        )?;
        let rows = stmt.query_map(
            params![account_key(protocol, account), prefix, upper],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    SecretBytes::new(r.get::<_, Vec<u8>>(1)?),
                    r.get::<_, i64>(2)? != 0,
                ))
            },
        )?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Which of `peer`'s clients holds the session with it: its instance tag and wire name.
    pub fn holder(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
    ) -> Result<Option<(u32, String)>, StoreError> {
        Ok(self
            .row(
                "SELECT tag, address FROM holder WHERE account = ?1 AND peer = ?2",
                params![account_key(protocol, account), peer],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()?
            .and_then(|(tag, address)| Some((u32::try_from(tag).ok()?, address))))
    }

    /// Records which of `peer`'s clients holds the session (an empty `address`: it left the
    /// address it was heard at last, and the client is still known by its tag). The caller
    /// writes an address learned from a data line before that line's save (the line
    /// authenticated in the session that is up: the address is true whatever becomes of the
    /// save), one learned from a completed handshake after that session's save. A record lost
    /// to a failed write leaves the previous address, where the session's lines go until the
    /// next authenticated line, or until the holder, not seen online since a restart, is taken
    /// as away.
    pub fn set_holder(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
        tag: u32,
        address: &str,
    ) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO holder (account, peer, tag, address) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (account, peer) DO UPDATE SET tag = excluded.tag,
                 address = excluded.address",
            params![
                account_key(protocol, account),
                peer,
                i64::from(tag),
                address
            ],
        )?;
        Ok(())
    }

    /// Number of saved sessions (all accounts).
    pub fn session_count(&self) -> Result<u64, StoreError> {
        Ok(self.row("SELECT COUNT(*) FROM session", [], |r| r.get::<_, i64>(0))? as u64)
    }

    /// Whether `peer` has been seen running Sotto.
    pub fn peer_runs_sotto(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
    ) -> Result<bool, StoreError> {
        self.peer_flag(
            "SELECT runs_sotto FROM peer WHERE account = ?1 AND peer = ?2",
            protocol,
            account,
            peer,
        )
    }

    /// A 0/1 column of the row `sql` selects for (account, peer); false when there is no row.
    pub(crate) fn peer_flag(
        &self,
        sql: &str,
        protocol: &str,
        account: &str,
        peer: &str,
    ) -> Result<bool, StoreError> {
        Ok(self
            .row(sql, params![account_key(protocol, account), peer], |r| {
                r.get::<_, i64>(0)
            })
            .optional()?
            .unwrap_or(0)
            != 0)
    }

    /// Forgets that `peer` runs Sotto (the user ended the conversation).
    pub fn clear_peer_runs_sotto(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
    ) -> Result<(), StoreError> {
        self.exec(
            "UPDATE peer SET runs_sotto = 0 WHERE account = ?1 AND peer = ?2",
            params![account_key(protocol, account), peer],
        )?;
        Ok(())
    }

    /// The policy the user chose for `peer` (Sotto's own record: a buddy-list setting goes
    /// with the buddy, which the server can remove), if any.
    pub fn contact_policy(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
    ) -> Result<Option<String>, StoreError> {
        self.peer_text(
            "SELECT policy FROM contact_policy WHERE account = ?1 AND peer = ?2",
            protocol,
            account,
            peer,
        )
    }

    /// A text column of the row `sql` selects for (account, peer), if there is one.
    pub(crate) fn peer_text(
        &self,
        sql: &str,
        protocol: &str,
        account: &str,
        peer: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .row(sql, params![account_key(protocol, account), peer], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Records the policy the user chose for `peer` (`None`: the global one).
    pub fn set_contact_policy(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
        policy: Option<&str>,
    ) -> Result<(), StoreError> {
        let acct = account_key(protocol, account);
        match policy {
            Some(p) => self.exec(
                "INSERT INTO contact_policy (account, peer, policy) VALUES (?1, ?2, ?3)
                 ON CONFLICT (account, peer) DO UPDATE SET policy = ?3",
                params![acct, peer, p],
            )?,
            None => self.exec(
                "DELETE FROM contact_policy WHERE account = ?1 AND peer = ?2",
                params![acct, peer],
            )?,
        };
        Ok(())
    }

    /// Records that `peer` runs Sotto.
    pub fn set_peer_runs_sotto(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
    ) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO peer (account, peer, runs_sotto) VALUES (?1, ?2, 1)
             ON CONFLICT (account, peer) DO UPDATE SET runs_sotto = 1",
            params![account_key(protocol, account), peer],
        )?;
        Ok(())
    }
}

impl Store {
    /// One row from a statement in the connection's cache: the SQL is parsed once per store,
    /// not on every save and load (it was a fifth of the plugin's time per message).
    fn row<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.conn.prepare_cached(sql)?.query_row(params, f)
    }

    /// One statement from the connection's cache, executed.
    fn exec(&self, sql: &str, params: impl rusqlite::Params) -> Result<usize, StoreError> {
        // A write of its own (not one inside a save's transaction, which runs at the level
        // the save chose): durable, never at a `NORMAL` left over.
        if self.conn.is_autocommit() {
            self.usable()?;
            self.durable()?;
        }
        self.conn
            .prepare_cached(sql)?
            .execute(params)
            .map_err(|e| self.sqlite_failed(e))
    }

    /// `synchronous = FULL` again if an unsynced save left the connection relaxed (its
    /// `relaxed` mark): before any write that must be on disk once it returns.
    pub(super) fn durable(&self) -> Result<(), StoreError> {
        if self.relaxed.get() {
            self.set_synchronous("FULL")?;
        }
        Ok(())
    }
}

/// Whether SQLite says the disk failed to sync what it had taken (`SQLITE_IOERR_FSYNC`,
/// `SQLITE_IOERR_DIR_FSYNC`): the failed write-back Linux reports once. A write the kernel
/// refused at once (`SQLITE_IOERR_WRITE`: a read-only or immutable file, no space), a full disk,
/// a constraint or a damaged row leave nothing behind that a later fsync could pass over, and
/// later writes are as good as before.
fn disk_failed(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_IOERR_FSYNC
                || f.extended_code == rusqlite::ffi::SQLITE_IOERR_DIR_FSYNC
    )
}

/// A saved snapshot as [`Store::load_sessions_under`] returns it: its name, its bytes, and
/// whether it comes from a restored backup.
pub type SavedRow = (String, SecretBytes, bool);

/// The write-ahead log's header (SQLite's `WAL_HDRSIZE`).
const WAL_HEADER: u64 = 32;

/// Overwrites the whole of `wal` with zeros where it lies and syncs them (best effort: its
/// frames are all in the database file already, and the truncation that follows comes
/// whatever this does). Not the reserve: written into the blocks the file has now.
///
/// The header first, synced on its own: without it SQLite reads the log as empty. Zeroed in
/// one go, a power loss could put some of the zeros on disk and not the header's (the kernel
/// writes dirty pages in any order), and SQLite's recovery would then replay the frames before
/// the first zeroed one, older pages, over the newer database file.
fn zero_in_place(wal: &Path) {
    let Ok(mut f) = fs::OpenOptions::new().write(true).open(wal) else {
        return;
    };
    let Ok(len) = f.metadata().map(|m| m.len()) else {
        return;
    };
    let header = len.min(WAL_HEADER);
    if write_zeros(&mut f, header).is_err() || f.sync_data().is_err() {
        return;
    }
    #[cfg(test)]
    if STOP_AFTER_HEADER.with(std::cell::Cell::get) {
        return;
    }
    if write_zeros(&mut f, len - header).is_ok() {
        let _ = f.sync_data();
    }
}

/// Writes `len` zeros at `f`'s position.
fn write_zeros(f: &mut fs::File, len: u64) -> std::io::Result<()> {
    use std::io::Write as _;
    let zeros = [0u8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        f.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// Fills the write-ahead log at `wal`, which a checkpoint has just emptied, with `len` zero
/// bytes, synced. Best effort: on any failure, or if the log is not empty (SQLite holds frames
/// in it), nothing is written and commits grow the log as they did before.
fn reserve_wal(wal: &Path, len: u64) {
    let Ok(mut f) = fs::OpenOptions::new().write(true).open(wal) else {
        return;
    };
    if f.metadata().map_or(true, |m| m.len() != 0) {
        return;
    }
    if write_zeros(&mut f, len).is_ok() {
        let _ = f.sync_data();
    }
}

/// One writer per profile: take SQLite's exclusive lock on the database now and keep it for the
/// connection's life (`locking_mode = EXCLUSIVE`). A second process that restored the same
/// sessions would encrypt under the same message keys (a two-time pad); it gets
/// [`StoreError::Locked`] instead, at once. SQLite's locks are POSIX record locks: they belong to
/// the process (a child libpurple forks to resolve names does not inherit them, unlike `flock`)
/// and go with it, also on a crash.
fn take_exclusive_lock(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(std::time::Duration::ZERO)?;
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    match conn.execute_batch("BEGIN EXCLUSIVE; COMMIT;") {
        Ok(()) => {}
        Err(rusqlite::Error::SqliteFailure(e, _))
            if matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            return Err(StoreError::Locked)
        }
        Err(e) => return Err(e.into()),
    }
    conn.busy_timeout(std::time::Duration::from_secs(2))?;
    Ok(())
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
