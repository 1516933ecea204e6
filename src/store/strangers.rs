//! Conversations the user did not begin: marked on their saved row, so the sessions service
//! can keep only the newest few (`crate::sessions::strangers`).
//!
//! A name that completes a handshake the user did not ask for leaves a saved conversation,
//! whose row can hold up to 2,000 skipped message keys (about 136 KB). Anyone able to write
//! from many names (IRC nicks, an XMPP domain of their own) could grow the store and memory
//! without bound, a few conversations a minute within the stranger line budget. The row's
//! `stranger` column says when such a conversation was first saved (0: not such a one); the
//! mark moves with the row (a rename, a parking) and is cleared by what the user does to keep
//! the conversation. Keys and "runs Sotto" are never deleted with it.
//!
//! The column is added without a schema version (as `contact_policy`): an older Sotto of the
//! same version writes rows naming their columns and leaves it as it is. A store that cannot
//! add it (read-only) marks nothing and keeps every conversation, as before.

use rusqlite::{params, OptionalExtension};

use super::names::client_rows;
use super::{account_key, generation, Store, StoreError};

impl Store {
    /// Whether `session` has the `stranger` column.
    fn has_stranger_column(&self) -> bool {
        self.conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM pragma_table_info('session')
                 WHERE name = 'stranger')",
                [],
                |r| r.get(0),
            )
            .unwrap_or(false)
    }

    /// Adds the `stranger` column to `session` if it is not there (best effort).
    pub(super) fn add_stranger_column(&self) {
        if !self.has_stranger_column() {
            let _ = self.conn.execute_batch(
                "ALTER TABLE session ADD COLUMN stranger INTEGER NOT NULL DEFAULT 0;",
            );
        }
    }

    /// Marks `peer`'s saved conversation as begun by a stranger at `since` (seconds, the
    /// store's clock), unless it is marked already. `false` when there is no such row, or no
    /// column to mark it in.
    pub fn mark_stranger(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
        since: u64,
    ) -> Result<bool, StoreError> {
        if !self.has_stranger_column() {
            return Ok(false);
        }
        let since = i64::try_from(since.max(1)).unwrap_or(i64::MAX);
        let marked = self.exec(
            "UPDATE session SET stranger = ?3 WHERE account = ?1 AND peer = ?2 AND stranger = 0",
            params![account_key(protocol, account), peer, since],
        )?;
        Ok(marked > 0)
    }

    /// The user did something in `peer`'s conversation: it is no longer a stranger's.
    pub fn unmark_stranger(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
    ) -> Result<(), StoreError> {
        self.exec(
            "UPDATE session SET stranger = 0 WHERE account = ?1 AND peer = ?2 AND stranger != 0",
            params![account_key(protocol, account), peer],
        )?;
        Ok(())
    }

    /// The account's conversations a stranger began, oldest first (parked ones included; the
    /// rows of the contact's other clients are not conversations of their own). Empty when the
    /// store has no `stranger` column.
    pub fn strangers(&self, protocol: &str, account: &str) -> Result<Vec<String>, StoreError> {
        if !self.has_stranger_column() {
            return Ok(Vec::new());
        }
        self.names(
            "SELECT peer FROM session WHERE account = ?1 AND stranger > 0
             AND instr(peer, char(10)) = 0 ORDER BY stranger, peer",
            params![account_key(protocol, account)],
        )
    }

    /// The names a mark holds for `peer`'s conversation (it moved away from them, or was
    /// parked when another took them): windows with those names may still show it.
    pub fn marks_to(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
    ) -> Result<Vec<String>, StoreError> {
        self.names(
            "SELECT peer FROM moved WHERE account = ?1 AND to_peer = ?2 ORDER BY peer",
            params![account_key(protocol, account), peer],
        )
    }

    /// Forgets the conversation a stranger began under `peer`, in one durable transaction: its
    /// saved rows (the other clients' too), where its holder was heard from, and the marks it
    /// made (names it moved away from since its mark: they hold no plaintext for it any more;
    /// a mark made before, for a conversation it displaced, stays). Counts as a save ([`generation`]). Keys and "runs Sotto"
    /// stay, whoever brought them: the trust table cannot tell a stranger's key from a
    /// contact's under a name the stranger took, and a key deleted there would let an
    /// impostor be taken on first use. Nothing happens unless the row is still marked (the
    /// user may have acted in it meanwhile): `false` then.
    pub fn forget_stranger(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
    ) -> Result<bool, StoreError> {
        self.usable()?;
        self.durable()?;
        let acct = account_key(protocol, account);
        let tx = self.conn.unchecked_transaction()?;
        // When it was marked, read before the row goes (none: not marked).
        let Some(since) = tx
            .query_row(
                "SELECT stranger FROM session WHERE account = ?1 AND peer = ?2 AND stranger > 0",
                params![acct, peer],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
        else {
            return Ok(false);
        };
        tx.execute(
            "DELETE FROM session WHERE account = ?1 AND peer = ?2",
            params![acct, peer],
        )?;
        let (low, high) = client_rows(peer);
        tx.execute(
            "DELETE FROM session WHERE account = ?1 AND peer >= ?2 AND peer < ?3",
            params![acct, low, high],
        )?;
        tx.execute(
            "DELETE FROM holder WHERE account = ?1 AND peer = ?2",
            params![acct, peer],
        )?;
        // Only the marks it made (its own renames, since its mark): one made before names a
        // conversation that held the name earlier (a contact it displaced), and stays.
        tx.execute(
            "DELETE FROM moved WHERE account = ?1 AND to_peer = ?2 AND at >= ?3",
            params![acct, peer, since],
        )?;
        let generation = generation::bump(&tx)?;
        self.commit(tx)?;
        self.unsynced.set(None);
        self.note_generation(generation);
        Ok(true)
    }
}
