//! Trust records: which keys of each contact the user accepted, and how much they trust each.
//! The sessions service (`crate::sessions::trust`) is their only writer.

use rusqlite::{params, OptionalExtension};

use crate::protocol::IdentityPublic;

use super::{account_key, now, Store, StoreError, Trust, TrustRecord};

impl Store {
    /// All keys recorded for `peer`, most recently seen first.
    pub fn trust_records(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
    ) -> Result<Vec<TrustRecord>, StoreError> {
        let acct = account_key(protocol, account);
        let mut stmt = self.conn.prepare_cached(
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
        let mut stmt = self.conn.prepare_cached(
            "SELECT account, peer, key, trust, first_seen, last_seen FROM trust
             WHERE account = ?1 AND peer = ?2 ORDER BY last_seen ASC",
        )?;
        let rows = stmt.query_map(params![account_key(protocol, account), peer], raw_trust_row)?;
        rows.map(|row| trust_record(row?).map(|t| t.key)).collect()
    }

    /// Every recorded key of every contact of every account (the "Known fingerprints" view),
    /// ordered by account, contact, then most recently seen first; and how many records are
    /// damaged (not shown: one such row must not hide every other key).
    pub fn all_trust_records(&self) -> Result<(Vec<TrustRecord>, usize), StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT account, peer, key, trust, first_seen, last_seen FROM trust
             ORDER BY account, peer, last_seen DESC",
        )?;
        let mut records = Vec::new();
        let mut damaged = 0;
        for row in stmt.query_map([], raw_trust_row)? {
            match trust_record(row?) {
                Ok(t) => records.push(t),
                Err(StoreError::Corrupt(_)) => damaged += 1,
                Err(e) => return Err(e),
            }
        }
        Ok((records, damaged))
    }

    /// Records that `peer` presented `key` now (new keys start unverified).
    pub fn record_key_seen(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
        key: &IdentityPublic,
    ) -> Result<(), StoreError> {
        self.record_key(protocol, account, peer, key, false)
    }

    /// Records `peer`'s `key` as seen now (accepted), and verified if `verified`, in one
    /// statement: a key marked verified is accepted and verified together, or neither when the
    /// write fails. Never takes a verification away.
    pub fn record_key(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
        key: &IdentityPublic,
        verified: bool,
    ) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO trust (account, peer, key, trust, first_seen, last_seen) VALUES (?1, ?2, ?3, ?5, ?4, ?4)
             ON CONFLICT (account, peer, key) DO UPDATE SET last_seen = excluded.last_seen,
                 trust = max(trust, excluded.trust)",
            params![
                account_key(protocol, account),
                peer,
                key.to_bytes().as_slice(),
                now(),
                i64::from(verified)
            ],
        )?;
        Ok(())
    }

    /// Sets the trust level of `peer`'s `key`; `false` when no such key is recorded.
    pub fn set_trust(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
        key: &IdentityPublic,
        trust: Trust,
    ) -> Result<bool, StoreError> {
        let rows = self.exec(
            "UPDATE trust SET trust = ?4 WHERE account = ?1 AND peer = ?2 AND key = ?3",
            params![
                account_key(protocol, account),
                peer,
                key.to_bytes().as_slice(),
                i64::from(trust == Trust::Verified)
            ],
        )?;
        Ok(rows > 0)
    }

    /// Withdraws the user's trust in `peer`'s `key` (marks it unverified, or forgets it when
    /// `forget`) under `peer` and under the copies a rename made of that record: a rename copies
    /// a name's keys, verified ones too, to the name the contact takes, and a withdrawal left
    /// on one name was undone by that contact (or whoever holds the key now) coming back under
    /// the other. A copy keeps the first-seen time of the record it was copied from, which
    /// tells it from a record of the same key that a session under another name made (a relay
    /// passing the contact's handshake on under its own name: that record is what warns "this
    /// key is the one you know as", and the contact's own must not go with it). One
    /// statement: all of them or none. `None` when `peer` does not hold the key (nothing
    /// changed); else the other names changed, in order.
    pub fn withdraw_trust(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
        key: &IdentityPublic,
        forget: bool,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let acct = account_key(protocol, account);
        let key = key.to_bytes();
        let first_seen: Option<i64> = self
            .conn
            .prepare_cached(
                "SELECT first_seen FROM trust WHERE account = ?1 AND peer = ?2 AND key = ?3",
            )?
            .query_row(params![acct, peer, key.as_slice()], |r| r.get(0))
            .optional()?;
        let Some(first_seen) = first_seen else {
            return Ok(None);
        };
        // The other names the statement below changes: every copy to forget it, the verified
        // ones to mark it unverified.
        let others: Vec<String> = self
            .conn
            .prepare_cached(
                "SELECT peer FROM trust WHERE account = ?1 AND key = ?3 AND first_seen = ?4
                 AND peer != ?2 AND (?5 OR trust = 1) ORDER BY peer",
            )?
            .query_map(
                params![acct, peer, key.as_slice(), first_seen, forget],
                |r| r.get(0),
            )?
            .collect::<Result<_, _>>()?;
        let sql = if forget {
            "DELETE FROM trust WHERE account = ?1 AND key = ?2 AND first_seen = ?3"
        } else {
            "UPDATE trust SET trust = 0 WHERE account = ?1 AND key = ?2 AND first_seen = ?3"
        };
        self.exec(sql, params![acct, key.as_slice(), first_seen])?;
        Ok(Some(others))
    }

    /// Sets the first-seen time of `peer`'s `key` (tests: a record made at another time).
    #[cfg(test)]
    pub(crate) fn set_first_seen(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
        key: &IdentityPublic,
        at: i64,
    ) {
        self.exec(
            "UPDATE trust SET first_seen = ?4 WHERE account = ?1 AND peer = ?2 AND key = ?3",
            params![
                account_key(protocol, account),
                peer,
                key.to_bytes().as_slice(),
                at
            ],
        )
        .expect("first seen set");
    }

    /// Forgets one recorded key of `peer`; `false` when it was not recorded.
    pub fn forget_key(
        &self,
        protocol: &str,
        account: &str,
        peer: &str,
        key: &IdentityPublic,
    ) -> Result<bool, StoreError> {
        let rows = self.exec(
            "DELETE FROM trust WHERE account = ?1 AND peer = ?2 AND key = ?3",
            params![
                account_key(protocol, account),
                peer,
                key.to_bytes().as_slice()
            ],
        )?;
        Ok(rows > 0)
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
