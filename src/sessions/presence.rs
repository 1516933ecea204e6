//! The contact's clients coming and going (XMPP presence): a line for the client that holds the
//! session is never sent while that client is seen gone.
//!
//! The session's lines go to the full JID of the client that holds it (`Session::holder`). When
//! that client goes offline and another client of the contact stays online, the server hands
//! what is sent to the gone full JID to the other client (RFC 6121 §8.5.3.2.1), which cannot read
//! it and says nothing: the user's window shows it as sent, and it is lost. So:
//!
//! * **Held.** An unavailable presence from exactly the holder's full JID, while the session is
//!   up, holds what is typed (`Conversation::set_holder_away`); so does, at the next text,
//!   having seen presences of the contact's clients but never the holder's since the
//!   conversation was loaded (`Session::note_holder_unseen`: a holder gone before this side
//!   signed on sends no unavailable presence). A presence is the server's word,
//!   not the contact's: a server that fakes one only delays messages, which it can always do.
//! * **Released by the contact's client only.** A line that authenticates in the session, or a
//!   handshake that completes, releases what is held, to the client it came from (the holder
//!   moves there). An available presence from the holder's own full JID (the same resource back)
//!   releases it too: the lines go where they would have gone anyway.
//! * **Asked for.** A client that reconnects gets a new resource the server makes up: its
//!   available presence from another full JID releases nothing (anyone can be a resource), but
//!   while something is held that address is sent a query (`?S1Q`), addressed to it alone, once
//!   each time it comes online (a status change is not that), at most 32 in a time away; and
//!   every client that came online since the holder's last authenticated line is asked at the
//!   first text held (the holder may be back before its old address is seen going). The Sotto
//!   client that holds the session answers a query with a handshake; once that completes with
//!   the key the user accepted, what is held goes into the new session. A client without Sotto
//!   sees a query line, as after any start.
//!
//! * **A line the server kept is no sign of life.** A line the contact's client wrote while
//!   this side was offline reaches it at its next login from the server's offline storage
//!   (XMPP: XEP-0160), stamped with a XEP-0203 delay; its client may have gone since. The
//!   transport says so ([`Sessions::kept_by_server`]) and the line is read and shown as any
//!   other, and moves the holder's address to where it came from (the last place that client
//!   wrote from), but unless presences already say that address is online it does not count
//!   as the holder seen: it releases nothing held, a handshake it completes holds what is
//!   typed as for an away holder (`Conversation::receive_kept`), and with presences of the
//!   contact's other clients seen, the next text is held as after a restart. The stamp is the
//!   server's word: one that strips it gets what a line written now gets (it could as well
//!   have held that line back and delivered it live), one that adds it to a line written now
//!   only delays what is typed, which it can always do.
//!
//! Nothing here is saved. After a restart, text held in a session that is up and not blocked
//! is taken as held for an away holder (`Conversation::restore`) until that client is back; a
//! holder already gone before this side signed on is taken as away once other clients of the
//! contact are seen online but it is not (with no presence at all, as there until seen going).
//! This side's own account signing off or on again (a network drop, a server restart) forgets
//! what was seen of the contact's clients ([`Sessions::forget_presence`]): while it was
//! offline the holder may have gone without a presence reaching it, so the same rule applies
//! after a reconnect as after a restart.

use rand_core::CryptoRngCore;

use crate::protocol::wire::WireMessage;
use crate::protocol::ConvState;

use super::{digest, ConvKey, Effects, Session, Sessions, Settings};

/// Most queries (`?S1Q`) in one time away of the holder, per conversation: an address is
/// asked once each time it comes online, and a server inventing resources gets no more.
const PROBES_PER_AWAY: u8 = 32;

/// Most addresses of the contact's other clients remembered as online, per conversation (the
/// most recent kept).
const ONLINE_KEPT: usize = 16;

/// Whether two XMPP full JIDs name the same client: the bare JIDs without regard to ASCII case
/// (libpurple and servers spell them either way), the resources exactly (RFC 7622: a resource
/// keeps its case).
fn same_client(a: &str, b: &str) -> bool {
    match (a.split_once('/'), b.split_once('/')) {
        (Some((a_bare, a_res)), Some((b_bare, b_res))) => {
            a_bare.eq_ignore_ascii_case(b_bare) && a_res == b_res
        }
        (None, None) => a.eq_ignore_ascii_case(b),
        _ => false,
    }
}

impl Session {
    /// Whether what is typed is held because the client holding the session went offline,
    /// with something waiting.
    fn held_for_away_holder(&self) -> bool {
        self.conv.holder_away() && self.conv.queued() > 0
    }

    /// Queries for the contact's clients online at `candidates` while what is typed is held
    /// for the holder that went away: each address once while it stays online (at most
    /// [`PROBES_PER_AWAY`] in that time away), never the holder's own or another client with a
    /// session of its own. Each as (address, line), for [`Effects::elsewhere`].
    fn probes<'a>(
        &mut self,
        candidates: impl IntoIterator<Item = &'a str>,
    ) -> Vec<(String, String)> {
        if !self.held_for_away_holder() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for address in candidates {
            let asked = self.probed.iter().any(|a| same_client(a, address));
            let holder = self.holder().is_some_and(|h| same_client(h, address));
            let other = self.others.iter().any(|o| same_client(&o.address, address));
            if asked || holder || other || self.probes >= PROBES_PER_AWAY {
                continue;
            }
            self.probes += 1;
            self.probed.push(address.to_owned());
            out.push((address.to_owned(), WireMessage::Query.encode()));
        }
        out
    }

    /// [`Session::probes`] for every client of the contact that came online since the
    /// holder's last authenticated line (what was typed was just held: one of them may be the
    /// holder back under a new address, online before the old address was seen going).
    pub(super) fn probe_online(&mut self) -> Vec<(String, String)> {
        let online = std::mem::take(&mut self.online);
        let out = self.probes(online.iter().map(String::as_str));
        self.online = online;
        out
    }
}

impl Session {
    /// Whether presences of the contact's clients (available or not) came since this side
    /// loaded the conversation (or its account last signed on or off) but the holder's address
    /// was never seen online, nor wrote a line the server did not keep (a holder gone before
    /// this side signed on sends no unavailable presence). Only with a session whose holder is
    /// known, where clients are addressed one by one.
    pub(super) fn holder_unseen(&self) -> bool {
        self.addressable
            && self.presence_seen
            && !self.holder_seen
            && self.holder().is_some()
            && self.conv.state() == ConvState::Encrypted
    }

    /// Whether the transport says the contact's client at `address` is online now: the
    /// holder's address seen online (or writing a line the server did not keep) and not seen
    /// going, or another client's address seen coming online and not seen going.
    pub(super) fn online_now(&self, address: &str) -> bool {
        let holder = self.holder().is_some_and(|h| same_client(h, address));
        (holder && self.holder_seen) || self.present.iter().any(|a| same_client(a, address))
    }

    /// This side's account signed off or on again: nothing seen of the contact's clients
    /// before still holds (the holder may have gone while no presence could reach this side).
    /// Presences are followed afresh, as after a restart; the away mark stays (the holder is
    /// not known back), and so does the count of queries in this time away (a server that
    /// drops the connection over and over gets no more), while the addresses already asked
    /// are asked again when seen coming online.
    fn forget_presence(&mut self) {
        self.presence_seen = false;
        self.holder_seen = false;
        self.present.clear();
        self.online.clear();
        self.probed.clear();
        // Also what late answers count as a client coming online (`lapsed.rs`): one that left
        // and came back at the same address meanwhile is coming online again.
        self.seen_online.clear();
        self.online_while_starting = false;
    }

    /// Before a text is typed: a holder not seen ([`Session::holder_unseen`]) is taken as away,
    /// as if it had been seen going.
    pub(super) fn note_holder_unseen(&mut self, rng: &mut impl CryptoRngCore) {
        if self.holder_unseen() && !self.conv.holder_away() {
            let _ = self.conv.set_holder_away(true, rng);
        }
    }
}

impl Sessions {
    /// The transport says the contact's client at `from` (an XMPP full JID) is `available`, or
    /// went offline. Only where clients are addressed one by one, and only for a conversation
    /// with a session whose client is known (in memory, or with a holder on disk: then loaded,
    /// a few reads, once per contact at a login). `None`: nothing to do. Effects: what was held, sent
    /// (the holder is back at the same address), or a query for `from` in
    /// [`Effects::elsewhere`] (another client of the contact came online while something is
    /// held).
    pub fn presence(
        &mut self,
        key: &ConvKey,
        from: &str,
        available: bool,
        settings: &Settings,
        rng: &mut impl CryptoRngCore,
    ) -> Option<Effects> {
        let bare = from.split_once('/')?.0;
        if !self.sessions.contains_key(key) {
            let store = self.store.as_ref()?;
            match store.holder(&key.protocol, &key.account, &key.peer) {
                Ok(Some(_)) => {}
                Ok(None) => return None,
                Err(e) => {
                    self.note(format!("reading where a session's client is: {e}"));
                    return None;
                }
            }
        }
        let s = self.session(key, bare, settings)?;
        if !s.addressable || s.unrestorable.is_some() {
            return None;
        }
        let holder = s.holder().is_some_and(|h| same_client(h, from));
        s.presence_seen = true;
        if holder {
            s.holder_seen = available;
        }
        let away = s.conv.holder_away();
        if !away {
            // A new time away asks every address again.
            s.probed.clear();
            s.probes = 0;
        }
        // Only a client's coming online counts (a status change of one already online, a
        // phone's "away", is another available presence): it is asked, not one there all along.
        let arrived = available && !holder && !s.present.iter().any(|a| same_client(a, from));
        if arrived {
            for list in [&mut s.present, &mut s.online] {
                if list.len() >= ONLINE_KEPT {
                    list.remove(0);
                }
                list.push(from.to_owned());
            }
        }
        if !available {
            // Gone: asked again if it comes back.
            for list in [&mut s.present, &mut s.online, &mut s.probed] {
                list.retain(|a| !same_client(a, from));
            }
            if holder && !away && s.conv.state() == ConvState::Encrypted {
                let _ = s.conv.set_holder_away(true, rng);
                self.note("the client holding the session went offline: sending is held".into());
            }
            return None;
        }
        if holder {
            if !away {
                return None;
            }
            let peer_raw = s.peer_raw.clone();
            self.note("the client holding the session is back: what was held goes".into());
            let mut fx = self.act(key, &peer_raw, settings, rng, |conv, rng| {
                conv.set_holder_away(false, rng)
            })?;
            // Nothing the user did: no window is opened for it but by what it sent.
            fx.force_window = false;
            return Some(fx);
        }
        if !arrived {
            return None;
        }
        let elsewhere = s.probes([from]);
        if elsewhere.is_empty() {
            return None;
        }
        self.note("another client of the contact came online while sending is held: asked".into());
        Some(Effects {
            reply_to: self.reply_to(key, from),
            elsewhere,
            ..Effects::default()
        })
    }

    /// The transport says the line it hands over next, `line` from `from` in `key`'s
    /// conversation, was kept by the server while this side was offline and is delivered now
    /// (XMPP offline storage: a XEP-0203 `<delay/>` on the message, or the older
    /// `jabber:x:delay`). Taken by the next [`Sessions::incoming`], whichever line it reads:
    /// only that very line, from that address in that conversation, is read as kept (module
    /// doc).
    pub fn kept_by_server(&mut self, key: &ConvKey, from: &str, line: &str) {
        let line = crate::protocol::wire::without_replay_stamp(line);
        self.kept = Some((key.clone(), from.to_owned(), digest(line.trim().as_bytes())));
    }

    /// Whether `text` from `from` in `key`'s conversation, which [`Sessions::incoming`] reads
    /// now, is the line [`Sessions::kept_by_server`] named. The note is taken either way.
    pub(super) fn take_kept(&mut self, key: &ConvKey, from: &str, text: &str) -> bool {
        self.kept.take().is_some_and(|(k, f, line)| {
            k == *key && same_client(&f, from) && line == digest(text.trim().as_bytes())
        })
    }

    /// This side's account (`account` on `protocol`, as keys name it) signed off, or on again:
    /// each of its loaded conversations forgets what it saw of the contact's clients
    /// (`Session::forget_presence`), so that after a reconnect a holder gone meanwhile is
    /// taken as away once the contact's other clients are seen and it is not, as after a
    /// restart.
    pub fn forget_presence(&mut self, protocol: &str, account: &str) {
        for (_, s) in self
            .sessions
            .iter_mut()
            .filter(|(k, _)| k.protocol == protocol && k.account == account)
        {
            s.forget_presence();
        }
    }

    /// Whether a presence of `key`'s contact's clients can matter (see [`Sessions::presence`]):
    /// its conversation is in memory, or one with a known client is on disk. One read of the
    /// store at most.
    pub fn follows_presence(&self, key: &ConvKey) -> bool {
        self.sessions.contains_key(key)
            || self.store.as_ref().is_some_and(|st| {
                st.holder(&key.protocol, &key.account, &key.peer)
                    .is_ok_and(|h| h.is_some())
            })
    }

    /// Whether what is typed to `key`'s contact is held because the client holding the session
    /// went offline, with something waiting (the menu offers to give it back).
    pub fn held_for_away_holder(&self, key: &ConvKey) -> bool {
        self.sessions
            .get(key)
            .is_some_and(Session::held_for_away_holder)
    }

    /// The user takes back what is held while the session's client is away: handed back, the
    /// session going on (`Conversation::give_back_held`). `None`: no conversation could be had.
    pub fn give_back_held(
        &mut self,
        key: &ConvKey,
        peer_raw: &str,
        settings: &Settings,
        rng: &mut impl CryptoRngCore,
    ) -> Option<Effects> {
        self.act(key, peer_raw, settings, rng, |conv, _| {
            conv.give_back_held()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::same_client;

    #[test]
    fn a_client_is_its_bare_jid_in_any_case_and_its_exact_resource() {
        assert!(same_client(
            "Bob@Example.org/Laptop",
            "bob@example.org/Laptop"
        ));
        assert!(!same_client(
            "bob@example.org/Laptop",
            "bob@example.org/laptop"
        ));
        assert!(!same_client("bob@example.org/laptop", "bob@example.org"));
        assert!(!same_client(
            "bob@example.org/laptop",
            "eve@example.org/laptop"
        ));
    }
}
