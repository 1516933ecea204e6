//! Names that change: a contact renamed (an IRC nick change, a forced rename) takes its
//! conversation, accepted keys and "runs Sotto" along, and the old name keeps a record that an
//! encrypted conversation moved away from it.

use rand_core::{OsRng, RngCore};
use rusqlite::{params, OptionalExtension};

use super::{account_key, now, Store, StoreError};
use crate::protocol::IdentityPublic;

/// Separates a parked conversation's name from the name it was parked from (a control
/// character no protocol puts in a contact's name).
const PARKED: char = '\u{1f}';

/// Whether `name` is where a conversation was parked when another contact took its name.
pub fn is_parked(name: &str) -> bool {
    name.contains(PARKED)
}

/// What a rename left on the new name ([`Store::rename_peer`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Renamed {
    /// No mark: the conversation there goes on under the user's policy.
    Settled,
    /// The name's saved conversation was parked under this name, and the name is marked as
    /// moved to it: a plaintext contact took the name of an encrypted one.
    Displaced(String),
    /// The name keeps (or the arriving conversation brings) this mark.
    Held(String),
}

impl Renamed {
    /// The mark on the new name, if any.
    pub fn mark(&self) -> Option<&str> {
        match self {
            Renamed::Settled => None,
            Renamed::Displaced(m) | Renamed::Held(m) => Some(m),
        }
    }
}

/// Given the keys accepted for a name a conversation with a key moves onto, once the move
/// copied any: the key the name learns, if any ([`Store::rename_peer`]).
pub type Learn<'a> = &'a mut dyn FnMut(&[IdentityPublic]) -> Option<IdentityPublic>;

impl Store {
    /// `old` is now called `new` on this account: in one transaction, the saved conversation
    /// moves to `new` (one already saved under `new` is parked under a name no lookup finds, so
    /// nothing is lost), and, when `protected` (the conversation is encrypted, or held: it must
    /// never turn into plaintext on the way), `old` is marked as moved to `new`.
    ///
    /// What is known about `new` is never overwritten by what was known about `old`: the
    /// accepted keys and "runs Sotto" are copied only to a name with no key recorded and no
    /// mark (the old name keeps them: whoever takes it next is checked against them). A contact
    /// who renames onto a known contact's name and back does not leave his key accepted for it.
    ///
    /// The mark on `new` afterwards (see [`Renamed`]): a conversation arriving with a session
    /// (`keyed`: its peer's key authenticated) settles the name (its mark is cleared; the caller
    /// checks that key against the name's), and the key `keyed` picks, given the keys accepted
    /// for `new` once the move copied any, is recorded for `new` in the same transaction. Any
    /// other never does, protected or not (a handshake nobody answered yet, a restored
    /// backup's conversation: no key to check): it is held there if the name had a saved
    /// conversation (encrypted, or starting: it is parked, and `new` is marked as moved to the
    /// parked row), if `new` already had a mark (an encrypted conversation moved away from it), or
    /// if it carries a mark itself (it took a name held for an encrypted conversation and moves on:
    /// the mark goes with it, whatever order the server sends the renames in). Whoever holds a
    /// marked name gets no plaintext until the user decides, and a handshake that completes there
    /// is checked against the name's keys.
    ///
    /// `carries` says whether what is known about `old` may go to a `new` with nothing of its
    /// own at all. Not for a conversation held on a key `old` does not accept (a contact the
    /// server renamed onto a name whose key is another's, moving on): `old`'s keys are not that
    /// conversation's contact's, and copied to a fresh name they would let whoever holds them
    /// start a session there with no word of a changed key.
    #[allow(clippy::too_many_arguments)]
    pub fn rename_peer(
        &self,
        protocol: &str,
        account: &str,
        old: &str,
        new: &str,
        protected: bool,
        keyed: Option<Learn<'_>>,
        carries: bool,
    ) -> Result<Renamed, StoreError> {
        let acct = account_key(protocol, account);
        let t = now();
        // Unique even for two parkings of one name within a second.
        let parked = format!("{new}{PARKED}parked-{t}-{:08x}", OsRng.next_u32());
        self.durable()?;
        let tx = self.conn.unchecked_transaction()?;
        let mark_of = |peer: &str| -> rusqlite::Result<Option<String>> {
            tx.prepare_cached("SELECT to_peer FROM moved WHERE account = ?1 AND peer = ?2")?
                .query_row(params![acct, peer], |r| r.get(0))
                .optional()
        };
        // A mark that names where this conversation goes (`old` moved to `new` before: it is
        // coming back) or the name it leaves (`new` moved to `old`: the same) is about this very
        // conversation, and holds nothing.
        let old_mark = mark_of(old)?.filter(|m| m != new);
        let new_mark_was = mark_of(new)?;
        let new_mark = new_mark_was.clone().filter(|m| m != old);
        let displaced = tx.execute(
            "UPDATE session SET peer = ?3 WHERE account = ?1 AND peer = ?2",
            params![acct, new, parked],
        )? > 0;
        // The sessions with the contact's other clients go with their conversation: the
        // name's own are parked with it (or, with no conversation of the name's to go with,
        // deleted: nothing would load them again); the moving one's follow it. A row left
        // under the old name would be loaded again if the contact came back to it (a restart,
        // a reload), at a state its later messages had already moved past: the same message
        // key used twice.
        if displaced {
            move_client_rows(&tx, &acct, new, &parked)?;
            // The marks naming `new` were made for the conversation it held (its own renames),
            // not for the one arriving: dated before any, so that forgetting the arriving one
            // as a stranger (`forget_stranger`, which deletes the marks made since its own
            // mark) keeps them. Told apart by time, a mark the displaced contact made after
            // the stranger's (its rename onto the name, then it left and the stranger took
            // it) went with the stranger, and the name it named was open to a first use
            // (found by a read-only review of clocks, 2026-12-07).
            tx.execute(
                "UPDATE moved SET at = 0 WHERE account = ?1 AND to_peer = ?2",
                params![acct, new],
            )?;
        } else {
            delete_client_rows(&tx, &acct, new)?;
        }
        tx.execute(
            "UPDATE session SET peer = ?3 WHERE account = ?1 AND peer = ?2",
            params![acct, old, new],
        )?;
        move_client_rows(&tx, &acct, old, new)?;
        // Where each name's session holder was last heard from goes with neither: the moving
        // conversation learns its holder again from its next authenticated line (as in
        // memory), and the name's previous holder is not the arriving contact's client.
        tx.execute(
            "DELETE FROM holder WHERE account = ?1 AND (peer = ?2 OR peer = ?3)",
            params![acct, old, new],
        )?;
        let new_is_known: bool = tx
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM trust WHERE account = ?1 AND peer = ?2)")?
            .query_row(params![acct, new], |r| r.get(0))?;
        // Nor into a name held for an encrypted conversation (marked, or whose conversation was
        // just parked): its holder is checked against the keys of the one it was held for.
        if carries && !new_is_known && new_mark.is_none() && !displaced {
            tx.execute(
                "INSERT OR IGNORE INTO trust (account, peer, key, trust, first_seen, last_seen)
                 SELECT account, ?3, key, trust, first_seen, last_seen FROM trust
                 WHERE account = ?1 AND peer = ?2",
                params![acct, old, new],
            )?;
            tx.execute(
                "INSERT OR IGNORE INTO peer (account, peer, runs_sotto)
                 SELECT account, ?3, runs_sotto FROM peer
                 WHERE account = ?1 AND peer = ?2 AND runs_sotto = 1",
                params![acct, old, new],
            )?;
            // The user's policy for the contact goes with it, as its keys do, to a name with
            // nothing of its own (the old name keeps it too: it may be someone else's now).
            // A store opened without the table (it could not be created) still renames; any
            // other failure fails the rename (an error ignored here could have rolled the
            // transaction back, and what follows would then commit by itself).
            let policies: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master
                 WHERE type = 'table' AND name = 'contact_policy')",
                [],
                |r| r.get(0),
            )?;
            if policies {
                tx.execute(
                    "INSERT OR IGNORE INTO contact_policy (account, peer, policy)
                     SELECT account, ?3, policy FROM contact_policy
                     WHERE account = ?1 AND peer = ?2",
                    params![acct, old, new],
                )?;
            }
        }
        // A conversation with a key settles the name (below): the key it teaches the name (as
        // `keyed` picks it) is written in this transaction, or a failure (a kill) between two
        // writes would leave the name with neither its mark nor a key, a first use for whoever
        // answers there next.
        let keyed = if let Some(learn) = keyed {
            let here = self.accepted_keys(protocol, account, new)?;
            if let Some(k) = learn(&here) {
                // With the first-seen time of the old name's record of the key, if it has one:
                // a copy, which a withdrawal of trust there reaches (`withdraw_trust`).
                tx.execute(
                    "INSERT INTO trust (account, peer, key, trust, first_seen, last_seen)
                     VALUES (?1, ?3, ?4, 0, COALESCE((SELECT first_seen FROM trust
                         WHERE account = ?1 AND peer = ?2 AND key = ?4), ?5), ?5)
                     ON CONFLICT (account, peer, key) DO UPDATE SET last_seen = excluded.last_seen",
                    params![acct, old, new, k.to_bytes().as_slice(), super::now()],
                )?;
            }
            true
        } else {
            false
        };
        let renamed = if keyed {
            Renamed::Settled
        } else if displaced {
            Renamed::Displaced(parked.clone())
        } else if let Some(carried) = old_mark {
            Renamed::Held(carried)
        } else if let Some(kept) = new_mark {
            Renamed::Held(kept)
        } else {
            Renamed::Settled
        };
        tx.execute(
            "DELETE FROM moved WHERE account = ?1 AND peer = ?2",
            params![acct, new],
        )?;
        if let Some(mark) = renamed.mark() {
            tx.execute(
                "INSERT INTO moved (account, peer, to_peer, at) VALUES (?1, ?2, ?3, ?4)",
                params![acct, new, mark, t],
            )?;
        }
        if keyed && displaced {
            // Replaced by a conversation that is not to become plaintext: no mark names the
            // parked row, nothing will read it again, and it holds old keys.
            tx.execute(
                "DELETE FROM session WHERE account = ?1 AND peer = ?2",
                params![acct, parked],
            )?;
            delete_client_rows(&tx, &acct, &parked)?;
        }
        if protected {
            // Marks follow the conversation they name ("moved to bob|away", then "to bob"), so
            // a window with an old name says where it is now.
            tx.execute(
                "UPDATE moved SET to_peer = ?3 WHERE account = ?1 AND to_peer = ?2",
                params![acct, old, new],
            )?;
            // A mark the old name already has stays (it may name a parked conversation, which is
            // deleted with its last mark).
            tx.execute(
                "INSERT INTO moved (account, peer, to_peer, at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (account, peer) DO NOTHING",
                params![acct, old, new, t],
            )?;
        }
        // A parked conversation that the mark on `new` named, and no mark names now (a
        // conversation with a key settled the name): deleted, as with the last mark cleared
        // ([`Store::clear_moved`]): nothing reads it again, and it holds old keys.
        if let Some(mark) = new_mark_was {
            delete_if_unnamed(&tx, &acct, &mark)?;
        }
        self.commit(tx)?;
        Ok(renamed)
    }

    /// Where the encrypted conversation once held under `peer` moved to, if it did.
    pub fn moved_to(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
    ) -> Result<Option<String>, StoreError> {
        self.peer_text(
            "SELECT to_peer FROM moved WHERE account = ?1 AND peer = ?2",
            protocol,
            account,
            peer,
        )
    }

    /// The user decided about `peer` (started a session with whoever holds the name now, or
    /// allowed plaintext): forget that a conversation moved away from it.
    ///
    /// A conversation parked when another contact took the name is deleted with the last mark
    /// that names it: nothing reads it again, and it holds old keys.
    pub fn clear_moved(&self, protocol: &str, account: &str, peer: &str) -> Result<(), StoreError> {
        let acct = account_key(protocol, account);
        self.durable()?;
        let tx = self.conn.unchecked_transaction()?;
        let mark: Option<String> = tx
            .prepare_cached("SELECT to_peer FROM moved WHERE account = ?1 AND peer = ?2")?
            .query_row(params![acct, peer], |r| r.get(0))
            .optional()?;
        tx.execute(
            "DELETE FROM moved WHERE account = ?1 AND peer = ?2",
            params![acct, peer],
        )?;
        if let Some(mark) = mark {
            delete_if_unnamed(&tx, &acct, &mark)?;
        }
        self.commit(tx)?;
        Ok(())
    }

    /// The names whose encrypted conversation moved to `peer` (their marks name it): names a
    /// contact held on the way here.
    pub fn moved_here(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
    ) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT peer FROM moved WHERE account = ?1 AND to_peer = ?2")?;
        let rows = stmt.query_map(params![account_key(protocol, account), peer], |r| {
            r.get::<_, String>(0)
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Other contacts of this account that `key` is recorded for (a key the store already knows
    /// under another name).
    pub fn peers_with_key(
        &self,
        protocol: &str,
        account: &str,
        key: &crate::protocol::IdentityPublic,
        except: &str,
    ) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT peer FROM trust WHERE account = ?1 AND key = ?2 AND peer != ?3 ORDER BY peer",
        )?;
        let rows = stmt.query_map(
            params![
                account_key(protocol, account),
                key.to_bytes().as_slice(),
                except
            ],
            |r| r.get::<_, String>(0),
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Deletes the parked conversation `mark` names (when it names one) if no mark names it any
/// more: nothing reads it again, and it holds old keys.
fn delete_if_unnamed(
    tx: &rusqlite::Transaction<'_>,
    acct: &str,
    mark: &str,
) -> rusqlite::Result<()> {
    if is_parked(mark) {
        let deleted = tx.execute(
            "DELETE FROM session WHERE account = ?1 AND peer = ?2
             AND NOT EXISTS (SELECT 1 FROM moved WHERE account = ?1 AND to_peer = ?2)",
            params![acct, mark],
        )?;
        if deleted > 0 {
            delete_client_rows(tx, acct, mark)?;
        }
    }
    Ok(())
}

/// The bounds of the rows of `peer`'s other clients (`peer`, a newline, the slot: the sessions
/// service's names for them): every such name sorts at or after the first bound and before
/// the second.
pub(super) fn client_rows(peer: &str) -> (String, String) {
    (format!("{peer}\n"), format!("{peer}\u{b}"))
}

/// Renames the rows of `from`'s other clients to `to`'s, slot for slot.
fn move_client_rows(
    tx: &rusqlite::Transaction<'_>,
    acct: &str,
    from: &str,
    to: &str,
) -> rusqlite::Result<usize> {
    let (low, high) = client_rows(from);
    // `substr` and `length` count characters alike: what follows `from` (the newline, the
    // slot) is kept.
    tx.execute(
        "UPDATE session SET peer = ?4 || substr(peer, length(?2))
         WHERE account = ?1 AND peer >= ?2 AND peer < ?3",
        params![acct, low, high, to],
    )
}

/// Deletes the rows of `peer`'s other clients.
fn delete_client_rows(
    tx: &rusqlite::Transaction<'_>,
    acct: &str,
    peer: &str,
) -> rusqlite::Result<usize> {
    let (low, high) = client_rows(peer);
    tx.execute(
        "DELETE FROM session WHERE account = ?1 AND peer >= ?2 AND peer < ?3",
        params![acct, low, high],
    )
}
