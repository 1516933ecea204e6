//! A conversation follows the contact, not the name the server gives them.
//!
//! Names are the server's: an IRC nick changes (`bob` → `bob|away`, a forced "Guest" rename),
//! and the same name may later belong to someone else. Sotto's promise rests on keys, so:
//!
//! * When the host renames a window (libpurple renames an open IRC query on `NICK`), the
//!   conversation moves with it: its session, queue and state, with the accepted keys and
//!   "runs Sotto" copied to the new name when no key is recorded for it ([`Sessions::rename`]; a
//!   known name keeps exactly its own keys). Confidentiality never depended on the name: what is
//!   encrypted can only be read by the key holder, wherever the server routes it.
//! * A contact without a session (in plaintext, or in a handshake nobody answered yet: it
//!   brings no key to check) renamed onto a name whose conversation was saved (encrypted, or
//!   starting) does not inherit it: that conversation is parked in the store and the name is
//!   marked as below ([`Notice::NameTaken`]), so no window with it sends plaintext.
//! * The old name keeps a mark: an encrypted conversation moved away from it. Until the user
//!   decides (`/sotto start` with whoever holds it now, or `/sotto stop`), it is held as under
//!   `always`: whoever answers gets a handshake checked against the keys accepted for that name,
//!   never plaintext.
//! * A new session's key that is also accepted under another name of the account is named
//!   ([`Notice::KnownAs`]): a relaying user who borrows someone's handshake shows up, and so
//!   does a contact whose key a rename left on a name it took for a moment.

use crate::protocol::{ConvState, Event, IdentityPublic};

use super::{trust, ConvKey, Effects, Notice, Sessions, Settings};
use crate::store::{Learn, Renamed};

impl Sessions {
    /// Whether an encrypted conversation moved away from `key` (`None`: the store is unreadable).
    pub(super) fn load_moved(&mut self, key: &ConvKey) -> Option<Option<String>> {
        let store = self.store.as_ref()?;
        match store.moved_to(&key.protocol, &key.account, &key.peer) {
            Ok(m) => Some(m),
            Err(e) => {
                self.note(format!("loading a moved mark: {e}"));
                None
            }
        }
    }

    /// Forget that a conversation moved away from `key` (the user decided).
    pub(super) fn clear_moved(&mut self, key: &ConvKey) {
        let marked = self.sessions.get(key).is_some_and(|s| s.moved_to.is_some());
        let Some(store) = self.store.as_ref() else {
            return;
        };
        if let Err(e) = store.clear_moved(&key.protocol, &key.account, &key.peer) {
            self.note(format!("clearing a moved mark: {e}"));
            return;
        }
        if marked {
            if let Some(s) = self.sessions.get_mut(key) {
                s.moved_to = None;
            }
        }
    }

    /// After a saved decision: a session that started with a key already accepted for this name,
    /// or whose new key the user accepted, settles the name (no moved mark), and a new session's
    /// key that is also accepted under other names of the account is named.
    pub(super) fn after_start(&mut self, key: &ConvKey, events: &[Event], fx: &mut Effects) {
        // A marked name whose conversation now sends encrypted (a key accepted for it: the
        // session started with one, or the user accepted the new one) is settled.
        let settled = self.sessions.get(key).is_some_and(|s| {
            s.moved_to.is_some() && s.conv.state() == ConvState::Encrypted && !s.conv.is_blocked()
        });
        if settled {
            self.clear_moved(key);
        }
        let Some(started) = events.iter().find_map(|e| match e {
            Event::Started { peer, .. } => Some(*peer),
            _ => None,
        }) else {
            return;
        };
        // A client seen coming online during a start is spent: a session is up.
        if let Some(s) = self.sessions.get_mut(key) {
            s.online_while_starting = false;
        }
        let new_for_name = events.iter().any(|e| {
            matches!(
                e,
                Event::NewPeerKey { .. }
                    | Event::PeerKeyChanged { .. }
                    | Event::NamesMismatch { .. }
            )
        });
        // A key not accepted for this name before this session (not a names mismatch: an honest
        // contact's start racing his own rename states a name a moment old).
        let new_key = events
            .iter()
            .any(|e| matches!(e, Event::NewPeerKey { .. } | Event::PeerKeyChanged { .. }));
        // A new session: whatever a restored backup left is settled (the new session is saved
        // already; if the mark cannot be cleared, the next load drops it and re-keys again,
        // which is the safe side).
        if self.sessions.get(key).is_some_and(|s| s.rekey) {
            if let Some(store) = self.store.as_ref() {
                if let Err(e) = store.clear_rekey(&key.protocol, &key.account, &key.peer) {
                    self.note(format!("clearing a re-key mark: {e}"));
                }
            }
        }
        if let Some(s) = self.sessions.get_mut(key) {
            s.rekey = false;
        }
        if !new_for_name {
            self.clear_moved(key);
        }
        // Named also when the key is already accepted for this name: a rename copies the
        // contact's keys to a name that has none (`Sessions::rename`), so a contact who took a
        // plaintext friend's name for a moment (`/nick bob` and back) left its key accepted
        // there, and its next session as that name started with no word that the key is the
        // one known as "mallory" (found by a hostile review of renames). Not named: the names
        // this conversation itself moved through to here (their marks name this one: an honest
        // contact's `/nick bob|away` and back), which the window said at each rename; unless the
        // key is new or changed for this name: then the conversation did not carry it through
        // them (a server renaming bob's held conversation across mallory's name, whose key then
        // starts here: found by a hostile review of renames), and every name it has is said.
        let Some(store) = self.store.as_ref() else {
            return;
        };
        let names = store
            .peers_with_key(&key.protocol, &key.account, &started, &key.peer)
            .and_then(|names| {
                let passed = store.moved_here(&key.protocol, &key.account, &key.peer)?;
                Ok(names
                    .into_iter()
                    .filter(|n| new_key || !passed.contains(n))
                    .collect::<Vec<_>>())
            });
        match names {
            Ok(names) if !names.is_empty() => fx.notices.push(Notice::KnownAs { names }),
            Ok(_) => {}
            Err(e) => self.note(format!("looking a key up: {e}")),
        }
    }

    /// The host renamed the contact's window from `old` to `new` (`new_raw` as it spells it): the
    /// conversation moves along, on disk first. `None` when nothing moved (the same name, or no
    /// store); `Err` when the store could not do it, or could not read the conversation (then
    /// nothing moved in memory either). The
    /// notices to show, in order: what happened to the name, then each held text handed back.
    pub fn rename(
        &mut self,
        old: &ConvKey,
        new: &ConvKey,
        new_raw: &str,
        settings: &Settings,
    ) -> Option<Result<Vec<Notice>, String>> {
        if old == new {
            return None;
        }
        // A conversation is one account's: the store moves rows within the old one, so a move
        // to another account (its own name edited) would park the old account's row as another
        // contact's and carry a session its key never stated. The host never asks for one
        // (`service::track` refuses the window instead).
        if old.protocol != new.protocol || old.account != new.account {
            return Some(Err(
                "a conversation does not move to another account".to_owned()
            ));
        }
        // A name the store's row names could be taken for (see `Sessions::session`): nothing
        // moves there; the renamed window reads nothing and sends nothing.
        if new.peer.contains(['\n', '\u{1f}']) {
            return Some(Err(
                "the new name cannot be a conversation's name".to_owned()
            ));
        }
        let has_store = self.store.is_some();
        let Some(s) = self.session(old, new_raw, settings) else {
            // With a store, the conversation could not be read (a damaged row, a read error):
            // nothing can move, and the new name must not start blank (no mark, no keys, no
            // "runs Sotto": plaintext under `manual`). Without one, every send is refused.
            return has_store.then(|| Err("its saved conversation could not be read".to_owned()));
        };
        let encrypted = s.conv.state() == ConvState::Encrypted;
        let held_on_a_mark =
            s.moved_to.as_ref().is_some_and(|m| *m != new.peer) && s.conv.queued() > 0;
        let known_for_old = s.conv.known_peer_keys().to_vec();
        // What must never turn into plaintext on the way: a session, a restored backup's
        // conversation (its keys dropped, a new one due), one that could not be restored, text
        // still held. The old name is marked for any of them.
        let protected = s.conv.state() != ConvState::Plaintext
            || s.rekey
            || s.unrestorable.is_some()
            || s.conv.queued() > 0;
        let arriving_key = s.conv.peer_identity();
        let came_as_anothers = s.conv.first_use_refused();
        // Whether the session that moves is on a key the user accepted (under the old name):
        // only such a session is the contact's, settles a name, and teaches the new name its
        // key. One held on a key nobody accepted (a stranger answering as a name the server
        // renamed, a changed key not accepted yet) stays held under the new name: renamed onto
        // a name whose keys it lacks, it would otherwise have had its key recorded there as
        // accepted, and the hold lifted at the next handshake without a word.
        let accepted =
            !s.conv.is_blocked() && arriving_key.is_some_and(|k| known_for_old.contains(&k));
        // Without a session (ended, or a start under way) nothing says whose the new name is
        // but its accepted keys: keys that are not all the old name's (or that cannot be read)
        // are another contact's (a hostile rename onto a known name), and the next session
        // there is checked against them. What was written for the old name, typed and held or
        // waiting to be sent again, is handed back: it used to go to that other contact with
        // the next session. (A name with no key of its own learns the old name's at the move.)
        let another_contact = arriving_key.is_none()
            && self.store.as_ref().is_some_and(|st| {
                st.accepted_keys(&new.protocol, &new.account, &new.peer)
                    .map_or(true, |keys| keys.iter().any(|k| !known_for_old.contains(k)))
            });
        // A session on a key the old name does not accept may be another contact's (one the
        // server renamed onto the old name, held there, moving on): the old name's keys, policy
        // and "runs Sotto" are not known to be its contact's. Copied to a fresh name, whoever
        // holds those keys (a stranger the server had the old name be once will do) would start
        // a session there as an accepted key, with no word of a changed key, in the window the
        // user had with the other contact (found by a hostile review of renames). The new name
        // takes none of them, and no key is accepted there on first use, in the snapshot too
        // (a restart made it a blank name, where the next key was taken unasked: found by two
        // reviews of the first versions).
        // So does one that came to the old name as another contact's (held there at an earlier
        // rename: [`Conversation::refuse_first_use`], kept until a key is accepted in it where it
        // had none), also once its session ended (found by a third review).
        let not_the_olds =
            arriving_key.is_some_and(|k| !known_for_old.contains(&k)) || came_as_anothers;
        // The new name's own conversation, when it is on disk only (after a restart, say):
        // loaded, so that what was held for it, or waits to be sent again, is handed back below
        // instead of being deleted with its row. One that cannot be read stops the move
        // (nothing moved; the user is told).
        if has_store
            && !self.sessions.contains_key(new)
            && self.session(new, new_raw, settings).is_none()
        {
            return Some(Err(
                "the conversation saved under the new name could not be read".to_owned(),
            ));
        }
        let s = self.sessions.get_mut(old)?;
        // Text held on a marked name (typed for whoever held it, waiting for a handshake
        // checked against that name's keys) is handed back, not carried: from now on the
        // conversation answers to another name and its keys, and the text was not meant for
        // them; so is text held for a contact whose name goes to another's keys. It is taken
        // out and saved so before the move (written even in plaintext, where nothing else
        // is), which then carries no copy of it (a restart before a later save would find it
        // queued under the new name). When that save fails, nothing moves.
        let handed_back: Vec<crate::protocol::SecretString> = if held_on_a_mark || another_contact {
            s.conv.take_held()
        } else {
            Vec::new()
        };
        if !handed_back.is_empty() {
            if let Err(reason) = self.persist_forced(old) {
                self.note(format!("saving a conversation before a rename: {reason}"));
                // Memory reloads what disk holds: the text, still held there.
                self.unload(old, Vec::new());
                return Some(Err(reason));
            }
        }
        let store = self.store.as_ref()?;
        let (p, a) = (&old.protocol, &old.account);
        // Only a session on an accepted key brings a key the name's can be checked against:
        // nothing else settles a name (a handshake nobody answered yet, a session held on a
        // key nobody accepted, do not take an encrypted one or delete its parked row).
        // The key the name learns is written with the move, in its transaction: written after
        // it, a failure (or a kill) in between left a name settled, its mark cleared, with no
        // key, where the next handshake would be a first use.
        let mut learn =
            |here: &[IdentityPublic]| match arrival(here, &known_for_old, arriving_key, accepted) {
                Arrival::Learns(k) => Some(k),
                Arrival::Foreign | Arrival::Nothing => None,
            };
        let keyed = accepted.then_some(&mut learn as Learn<'_>);
        let renamed =
            store.rename_peer(p, a, &old.peer, &new.peer, protected, keyed, !not_the_olds);
        // Rows moved or parked, their marks with them: the list of those a stranger began is
        // read again at its next need.
        self.marked.forget_account(p, a);
        let renamed = match renamed {
            Ok(renamed) => renamed,
            Err(e) => {
                self.note(format!("moving a conversation to a new name: {e}"));
                // Nothing moved: the text taken out for the move is the old name's, held
                // again (it was saved out of the conversation just now: saved back in, or
                // kept in memory for the next save).
                if !handed_back.is_empty() {
                    if let Some(s) = self.sessions.get_mut(old) {
                        s.conv.put_back_held(handed_back);
                    }
                    if let Err(reason) = self.persist_forced(old) {
                        self.note(format!(
                            "holding text again after a failed rename: {reason}"
                        ));
                    }
                }
                return Some(Err(e.to_string()));
            }
        };
        let mut moved = self.sessions.remove(old)?;
        moved.peer_raw = new_raw.to_owned();
        // Where a start held back came from was an address of the old name: its answer goes
        // to the new name, as any (found by a review of the address's first version).
        moved.held_back_from = None;
        // What was held for the name's previous conversation (loaded above if it was on disk
        // only: its text was typed for whoever held the name then) is handed back, not dropped
        // with it. So is what it waited to send again (a not-read notice named it; also what
        // was kept aside while it was out of memory, which the load took in), its other
        // clients' too: told they would go again, they used to be dropped with it.
        let mut replaced = self.sessions.remove(new);
        let replaced_held: Vec<String> = replaced
            .as_mut()
            .map(|s| {
                let resend = s.take_all_resend();
                s.conv
                    .take_held()
                    .into_iter()
                    .chain(resend.into_iter().map(|w| w.text))
                    .map(|t| t.to_string())
                    .collect()
            })
            .unwrap_or_default();
        // That conversation's row was parked by the move with what it held. Nothing loads a
        // parked row again, and the texts are the user's again from here: it is written
        // without them, or the typed plaintext would stay in the store until a later decision
        // deletes the row. A write that fails leaves the copy where it was (logged); the user
        // gets the texts back all the same.
        if let (Renamed::Displaced(parked), Some(s)) = (&renamed, &replaced) {
            if !replaced_held.is_empty() && s.unrestorable.is_none() {
                let mut rows = vec![(parked.clone(), s.conv.snapshot())];
                rows.extend(
                    s.others
                        .iter()
                        .filter(|o| o.saved.is_some())
                        .map(|o| (super::clients::row_name(parked, o.slot), o.row())),
                );
                let batch: Vec<(&str, &[u8])> = rows
                    .iter()
                    .map(|(name, row)| (name.as_str(), row.as_slice()))
                    .collect();
                if let Err(e) = store.save_sessions(p, a, &batch) {
                    self.log.push(format!(
                        "writing a parked conversation without the texts handed back: {e}"
                    ));
                }
            }
        }
        let displaced = matches!(renamed, Renamed::Displaced(_));
        // Told now, in the renamed window, when the name's encrypted conversation was parked;
        // a mark kept or carried is told at the first send, as any mark.
        moved.moved_noticed = displaced;
        moved.moved_to = renamed.mark().map(str::to_owned);
        moved.instance = None;
        // A question-and-answer run began with the contact under its old name: its answer
        // would verify the key for the new one (and lift a hold the rename puts on it, as a
        // verified changed key does), though the question was asked of whoever held the old
        // name. It ends here, without a message, as at a restart (§5.2): a reply the peer
        // still sends is answered with an abort, so an asking peer is told.
        let answered = moved.conv.verification_answered();
        let verification_ended = moved.conv.drop_verification();
        // The conversation answers to the new name now: its next handshake is checked against
        // the keys accepted for that name (never the keys it brings, never on first use where
        // the name held an encrypted conversation), as it will be after a restart.
        let refreshed = trust::push_accepted(store, new, &mut moved.conv);
        // Whether the peer runs Sotto is the new name's too, as the peer table says (the move
        // copied the old name's only to a name with nothing recorded), as a load would decide.
        match store.peer_runs_sotto(&new.protocol, &new.account, &new.peer) {
            Ok(runs) => moved.conv.set_peer_supports_sotto(runs),
            Err(e) => self.log.push(format!("loading a peer for a new name: {e}")),
        }
        // A name an encrypted conversation (or a start) left, or was parked on: whoever answers
        // as it is never trusted on first use (as a load decides from the mark).
        if displaced || moved.moved_to.is_some() {
            moved.conv.set_first_use(false);
        }
        // The name's keys as the move left them (with any it learned): whose the name is.
        let foreign = refreshed.is_ok()
            && matches!(
                arrival(
                    moved.conv.known_peer_keys(),
                    &known_for_old,
                    arriving_key,
                    accepted
                ),
                Arrival::Foreign
            );
        // A session on a key nobody accepted stays held (it was, under the old name).
        let held_key = arriving_key.is_some() && !accepted;
        // It took none of the old name's keys (above), or arrived as another contact's: nothing
        // is accepted at the new name on first use (saved below with the hold), its own key is
        // the user's to accept there.
        if not_the_olds || foreign {
            moved.conv.refuse_first_use();
        }
        // What waited to be sent again (a not-read notice, which anyone can forge, named it)
        // was written for the contact the old name reached: sent again only if the same
        // contact goes on under the new name, else handed back (a hold's end hands it back
        // too, PROTOCOL.md §5.1).
        let mut handed_back: Vec<String> = handed_back.iter().map(|t| t.to_string()).collect();
        if foreign || held_key || another_contact {
            handed_back.extend(moved.take_all_resend().iter().map(|w| w.text.to_string()));
        }
        if foreign || held_key {
            let _ = moved.conv.set_blocked(true, &mut rand_core::OsRng);
        }
        // The new name's previous conversation is gone (its row parked or deleted by the move);
        // what was held for it or waited to be sent again was handed back above.
        self.sessions.insert(new.clone(), moved);
        if let Err(e) = refreshed {
            // Held all the same: the keys load again from the store at the next start.
            self.note(format!("loading the keys accepted for a new name: {e}"));
            self.unload(new, Vec::new());
        }
        if foreign || held_key {
            if let Err(reason) = self.persist(new, &[]) {
                // Memory is kept: it holds more than disk (blocked), and the next save writes
                // it. Reloading what disk holds would release the hold in this run; after a
                // restart the load holds a session whose key the name does not accept all the
                // same (`Sessions::load`).
                self.note(format!("saving a renamed conversation: {reason}"));
            }
        }
        let first = if displaced {
            Notice::NameTaken {
                from: Some(old.peer.clone()),
            }
        } else if foreign {
            Notice::RenamedOntoAnother {
                from: old.peer.clone(),
            }
        } else {
            Notice::Renamed {
                from: old.peer.clone(),
                // Held on a key not accepted: it does not go on as it was (the window's title
                // says the key is not accepted).
                encrypted: encrypted && !held_key,
            }
        };
        let mut notices = vec![first];
        notices.extend(handed_back.into_iter().map(|text| Notice::HandedBack {
            held_for: old.peer.clone(),
            text,
        }));
        notices.extend(replaced_held.into_iter().map(|text| Notice::HandedBack {
            held_for: new.peer.clone(),
            text,
        }));
        if verification_ended {
            notices.push(Notice::VerificationEnded {
                from: old.peer.clone(),
                answered,
            });
        }
        Some(Ok(notices))
    }
}

/// What a conversation moving onto a name does there, on its session's key `arriving`
/// (`accepted` under the old name, whose accepted keys were `before`, or not), given the keys
/// accepted for the name once the move copied any (`here`).
enum Arrival {
    /// The name's keys are another contact's (it has some, `arriving` is not among them): as
    /// far as the user knows, the name belongs to someone else. Held like a changed key until
    /// the user accepts this key for the name (`/sotto accept`) or stops.
    Foreign,
    /// The name learns the key of the authenticated conversation that settles it: any
    /// accepted key on a name that has none (else a handshake there later, from whoever the
    /// server lets answer as that name, would be a first use), or the same contact's changed
    /// key (every key accepted for the name is one of the old name's too; his new one was
    /// accepted under the old name).
    Learns(IdentityPublic),
    /// The name knows the key already, or there is no accepted session to teach it.
    Nothing,
}

fn arrival(
    here: &[IdentityPublic],
    before: &[IdentityPublic],
    arriving: Option<IdentityPublic>,
    accepted: bool,
) -> Arrival {
    let Some(k) = arriving.filter(|k| !here.contains(k)) else {
        return Arrival::Nothing;
    };
    let same_contact = accepted && here.iter().all(|h| before.contains(h));
    if !here.is_empty() && !same_contact {
        Arrival::Foreign
    } else if accepted {
        Arrival::Learns(k)
    } else {
        Arrival::Nothing
    }
}
