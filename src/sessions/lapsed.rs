//! A start of ours that lapsed unanswered, tried again when a client of the contact comes online;
//! and the timer that tells lapses and answers the start the answer limit held back.
//!
//! A contact offline when the user writes (XMPP: the server keeps the start, `?S1I`, for them)
//! cannot answer within the timeout: the start lapses, and what is typed stays held. When the
//! contact's client comes online, its server hands it the start it kept, and it answers; the
//! protocol core completes the lapsed start with that answer (PROTOCOL.md §3.2, "Late
//! answers"). The transport's word that a client of the contact came online (an XMPP available
//! presence from an address not seen online since: a status change is not that) tries the
//! start again too (`Conversation::peer_came_online`), at most once per timeout interval: so
//! what is held goes without the user typing again, whichever of the two comes. A presence is
//! the server's word, not the contact's: one it invents costs one `?S1I` per interval, and
//! releases nothing (what is held goes only into a session whose key the user accepted, as
//! after any handshake).

use rand_core::CryptoRngCore;

use super::{ConvKey, Effects, Sessions, Settings};
use crate::protocol::ConvState;

/// Most addresses remembered as online per conversation (the most recent kept).
const SEEN_KEPT: usize = 16;

/// Most conversations remembered as holding nothing on disk ([`Sessions::held_unloaded`]).
pub(super) const CHECKED_KEPT: usize = 4096;

impl Sessions {
    /// Time passes for `key`'s conversation (the host's periodic sweep, for the conversations
    /// [`Sessions::lapsing`] lists, and `/sotto status`): a start of ours may lapse, told; a
    /// start the answer limit held back is answered once its window is over
    /// (`Conversation::answer_held_back`: the newest of the starts a server kept for this
    /// client while it was offline). What that decided, saved, as a user action's effects.
    pub fn tick(
        &mut self,
        key: &ConvKey,
        peer_raw: &str,
        settings: &Settings,
        rng: &mut impl CryptoRngCore,
    ) -> Option<Effects> {
        // `act` ticks the conversation first. A client of the contact that came online while
        // a start of ours was in flight (`Sessions::contact_presence`) tries it again once
        // it is over, lapsed: not said again, its coming online would otherwise go unused (an
        // IRC contact back within two minutes of the 401 that answered the start).
        let online = self
            .sessions
            .get(key)
            .is_some_and(|s| s.online_while_starting);
        let mut retried = false;
        let mut fx = self.act(key, peer_raw, settings, rng, |conv, rng| {
            let mut out = conv.answer_held_back(rng);
            if online && conv.state() != ConvState::Handshaking {
                let again = conv.peer_came_online(rng);
                retried = !again.inject.is_empty();
                out.inject.extend(again.inject);
            }
            out
        })?;
        let addressable = retried && self.addressable(key);
        if let Some(s) = self.sessions.get_mut(key) {
            if s.conv.state() != ConvState::Handshaking || retried {
                s.online_while_starting = false;
            }
        }
        if retried {
            self.note("a client of the contact came online during a start: tried again".into());
            fx.to_every_client = addressable;
        }
        // The answer goes where the start held back came from (a transport that addresses
        // the contact's clients one by one sent it to whichever wrote last, a client without
        // Sotto maybe, and the start never completed; found by a hostile review). A save that
        // failed reloaded the conversation without it, and sends nothing.
        if let Some(s) = self.sessions.get_mut(key) {
            if s.conv.held_back_start().is_none() {
                if let Some(from) = s.held_back_from.take() {
                    if !fx.inject.is_empty() {
                        fx.reply_to = from;
                    }
                }
            }
        }
        Some(fx)
    }

    /// A client of `key`'s contact came online: whether its conversation is not in memory
    /// (after a restart none is) and its saved row holds typed text (behind a start of ours that
    /// lapsed, or one that did not finish before the restart). Then the host loads it
    /// ([`Sessions::load_held`]) before telling the presence, so that
    /// [`Sessions::contact_presence`] can try the start again and what was held goes without
    /// the user typing again. The unload's box says held messages "stay saved, unsent, until
    /// Sotto is loaded again"; they stayed held until the user typed (found by the review of
    /// the left-alone list, 2026-12-06). A row is read and restored to be looked at, as
    /// [`Sessions::held_on_disk`] counts them, and let go; one that holds nothing is not looked
    /// at again while its conversation stays out of memory (`checked_unheld`). So a login's
    /// burst of sign-ons loads only the conversations that hold text, and a server inventing
    /// presences loads each of those once (it then stays in memory) and reads each other row
    /// once.
    pub fn held_unloaded(&mut self, key: &ConvKey) -> bool {
        if self.sessions.contains_key(key) || self.checked_unheld.contains(key) {
            return false;
        }
        if self.held_in_row(key) > 0 {
            return true;
        }
        if self.checked_unheld.len() >= CHECKED_KEPT {
            self.checked_unheld.clear();
        }
        self.checked_unheld.insert(key.clone());
        false
    }

    /// Loads `key`'s conversation for a client of its contact that came online, when
    /// [`Sessions::held_unloaded`] said it holds text. `peer_raw`: the contact's name as the
    /// host has it (an XMPP contact's bare JID).
    pub fn load_held(&mut self, key: &ConvKey, peer_raw: &str, settings: &Settings) {
        if self.sessions.contains_key(key) {
            return;
        }
        self.note("a contact with messages held on disk came online: loaded".into());
        let _ = self.session(key, peer_raw, settings);
    }

    /// The transport says the contact's client at `from` (an XMPP full JID) is `available`, or
    /// went offline. Whether a client came online (an address not seen online since, or since
    /// it went) while `key`'s conversation is loaded and may want a start of ours tried again
    /// (one lapsed unanswered, or text is held): then [`Sessions::contact_online`]. Nothing is
    /// read from the store (a login brings a presence of every contact; a conversation that
    /// holds text on disk is loaded first: [`Sessions::held_unloaded`]).
    pub fn contact_presence(&mut self, key: &ConvKey, from: &str, available: bool) -> bool {
        let Some(s) = self.sessions.get_mut(key) else {
            return false;
        };
        let seen = s.seen_online.iter().position(|a| a == from);
        if !available {
            if let Some(i) = seen {
                s.seen_online.remove(i);
            }
            s.online_while_starting = false;
            return false;
        }
        let waits = s.unrestorable.is_none() && (s.conv.start_lapsed() || s.conv.queued() > 0);
        if seen.is_some() || !waits {
            return false;
        }
        // A start of ours in flight is not tried again now: once it lapses ([`Sessions::tick`]).
        // The client is not counted as seen meanwhile: its coming online is still to be used.
        if s.conv.state() == ConvState::Handshaking {
            s.online_while_starting = true;
            return false;
        }
        if s.seen_online.len() >= SEEN_KEPT {
            s.seen_online.remove(0);
        }
        s.seen_online.push(from.to_owned());
        true
    }

    /// A client of `key`'s contact came online ([`Sessions::contact_presence`]): a start of
    /// ours that lapsed, or text held behind one, with no handshake in flight, is tried again,
    /// to every client of the contact (`Conversation::peer_came_online`: a contact known to run
    /// Sotto, at most once per timeout interval). `None`: nothing to do. Not the user's doing:
    /// no window is opened for it.
    pub fn contact_online(
        &mut self,
        key: &ConvKey,
        settings: &Settings,
        rng: &mut impl CryptoRngCore,
    ) -> Option<Effects> {
        let peer_raw = self.sessions.get(key)?.peer_raw.clone();
        let mut fx = self.act(key, &peer_raw, settings, rng, |conv, rng| {
            conv.peer_came_online(rng)
        })?;
        // (Queries to clients online, `elsewhere`, made when what is held waits for a holder
        // not seen: counted as sent, they must go.)
        if fx.inject.is_empty()
            && fx.events.is_empty()
            && fx.notices.is_empty()
            && fx.elsewhere.is_empty()
        {
            return None;
        }
        if !fx.inject.is_empty() {
            self.note("a client of the contact came online: a lapsed start is tried again".into());
            fx.to_every_client = self.addressable(key);
        }
        fx.force_window = false;
        Some(fx)
    }
}
