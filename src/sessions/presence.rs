//! The contact's clients coming and going (XMPP presence): a line for the client that holds the
//! session is never sent while that client is seen gone.
//!
//! The session's lines go to the full JID of the client that holds it (`Session::holder`). When
//! that client goes offline and another client of the contact stays online, the server hands
//! what is sent to the gone full JID to the other client (RFC 6121 §8.5.3.2.1), which cannot read
//! it and says nothing: the user's window shows it as sent, and it is lost. So:
//!
//! * **Held.** An unavailable presence from exactly the holder's full JID, while the session is
//!   up, holds what is typed (`Conversation::set_holder_away`). A presence is the server's word,
//!   not the contact's: a server that fakes one only delays messages, which it can always do.
//! * **Released by the contact's client only.** A line that authenticates in the session, or a
//!   handshake that completes, releases what is held, to the client it came from (the holder
//!   moves there). An available presence from the holder's own full JID (the same resource back)
//!   releases it too: the lines go where they would have gone anyway.
//! * **Asked for.** A client that reconnects gets a new resource the server makes up: its
//!   available presence from another full JID releases nothing (anyone can be a resource), but
//!   while something is held that address is sent a query (`?S1Q`), addressed to it alone, at
//!   most once per [`PROBE_INTERVAL_SECS`]. The Sotto client that holds the session answers a
//!   query with a handshake; once that completes with the key the user accepted, what is held
//!   goes into the new session. A client without Sotto sees a query line, as after any start.
//!
//! Nothing here is saved: after a restart the holder is taken to be there until it is seen going.

use rand_core::CryptoRngCore;

use crate::protocol::wire::WireMessage;
use crate::protocol::ConvState;

use super::{ConvKey, Effects, Sessions, Settings};

/// Least time between two queries to one address while something is held.
pub const PROBE_INTERVAL_SECS: u64 = 30;

/// Most addresses whose last query is remembered per conversation.
const PROBED_KEPT: usize = 8;

/// Whether two XMPP full JIDs name the same client: the bare JIDs without regard to ASCII case
/// (libpurple and servers spell them either way), the resources exactly (RFC 7622: a resource
/// keeps its case).
pub(super) fn same_client(a: &str, b: &str) -> bool {
    match (a.split_once('/'), b.split_once('/')) {
        (Some((a_bare, a_res)), Some((b_bare, b_res))) => {
            a_bare.eq_ignore_ascii_case(b_bare) && a_res == b_res
        }
        (None, None) => a.eq_ignore_ascii_case(b),
        _ => false,
    }
}

impl Sessions {
    /// The transport says the contact's client at `from` (an XMPP full JID) is `available`, or
    /// went offline. Only a conversation already in memory is looked at (a presence loads
    /// nothing: a login brings one per contact), and only where clients are addressed one by
    /// one. `None`: nothing to do. Effects: what was held, sent (the holder is back at the
    /// same address), or a query for `from` in [`Effects::elsewhere`] (another client of the
    /// contact came online while something is held).
    pub fn presence(
        &mut self,
        key: &ConvKey,
        from: &str,
        available: bool,
        settings: &Settings,
        rng: &mut impl CryptoRngCore,
    ) -> Option<Effects> {
        if !self.sessions.contains_key(key) {
            return None;
        }
        let s = self.session(key, from, settings)?;
        if !s.addressable || s.unrestorable.is_some() || !from.contains('/') {
            return None;
        }
        let holder = s.holder().is_some_and(|h| same_client(h, from));
        let away = s.conv.holder_away();
        if !available {
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
        let known_other = s.others.iter().any(|o| same_client(&o.address, from));
        if !away || s.conv.queued() == 0 || known_other {
            return None;
        }
        let now = settings.now_secs;
        let due = s
            .probed
            .iter()
            .find(|(address, _)| same_client(address, from))
            .map_or(true, |(_, at)| {
                now.saturating_sub(*at) >= PROBE_INTERVAL_SECS || now < *at
            });
        if !due {
            return None;
        }
        s.probed.retain(|(address, _)| !same_client(address, from));
        if s.probed.len() >= PROBED_KEPT {
            s.probed.remove(0);
        }
        s.probed.push((from.to_owned(), now));
        self.note("another client of the contact came online while sending is held: asked".into());
        Some(Effects {
            reply_to: self.reply_to(key, from),
            elsewhere: vec![(from.to_owned(), WireMessage::Query.encode())],
            ..Effects::default()
        })
    }

    /// Whether what is typed to `key`'s contact is held because the client holding the session
    /// went offline, with something waiting (the menu offers to give it back).
    pub fn held_for_away_holder(&self, key: &ConvKey) -> bool {
        self.sessions
            .get(key)
            .is_some_and(|s| s.conv.holder_away() && s.conv.queued() > 0)
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
