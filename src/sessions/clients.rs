//! The contact's other clients (issue 9): a contact logged in from several places (XMPP
//! resources, each with its own store, key and instance tag) gets what the user types on every
//! client that runs Sotto, not only on the one that holds the conversation's session.
//!
//! The conversation's own session (the *main* one: the window's state, its queue, verification,
//! key changes) is with the first client that answered. Each other client that shows up gets a
//! session of its own, kept beside it (an [`Other`]), at most [`MAX_OTHER_CLIENTS`]:
//!
//! * **Found** when a line comes from a client that is not the main session's (only where the
//!   transport addresses one client by name: `Settings::addressable`) while the main session is
//!   up and its key accepted: a handshake answer that lost the start race (`?S1R`), a start of
//!   its own (`?S1I`, `?S1Q`), or plaintext (a late login, whose store is new). We start a
//!   handshake with that client, addressed to it; its answers come back from it.
//! * **Trusted only by the user.** Its key is checked against the keys the user accepted for
//!   the contact, never accepted on first use (`Conversation::set_first_use`): a second client's
//!   key is shown with its fingerprint and gets nothing until the user accepts it
//!   (`/sotto accept`, or the dialog, each taking exactly the key it names); what it writes
//!   meanwhile is shown as from a key not accepted, never as the contact's words. A server that invents a resource
//!   gets a handshake and nothing else.
//! * **Fanned out to.** Each text the user types is encrypted once more for each other client
//!   whose session is up and whose key is accepted, and addressed to it
//!   ([`super::Effects::elsewhere`]). Never plaintext: a client without a session gets nothing.
//! * **Read from.** A data line goes to the session its `sid` names, whichever client it is;
//!   other Sotto lines from an other client's address go to its session (not from the
//!   address the main session's client was heard at last: two clients are never at one
//!   address at once, and the one heard there last has it), and so do the pieces
//!   of a line whose first piece names its `sid` from an address no client has (it came back
//!   under another resource).
//! * **Durable like the main session**: saved in the same synced commit before anything made
//!   from it leaves, in rows named after the contact (`<peer>\n<slot>`), with the address.
//! * **Gone quietly**: a handshake that fails or expires, or a client that ends its session,
//!   removes it (one line when it had been up); `/sotto stop` ends all of them.
//!
//! * **Held messages** the main session sends later go to each other client that reads then.
//! * **Bounded**: at most [`MAX_OTHER_CLIENTS`]; a handshake that is not finished frees its place
//!   when it expires, and a client whose key was never accepted gives its place to a new one.
//!
//! What this does not do: a client whose session comes up after held messages were sent does
//! not get them; verification (question and answer) runs with the main client only (a question
//! from another client is aborted at once).

use rand_core::CryptoRngCore;

use crate::protocol::session::{ANSWER_BURST, ANSWER_WINDOW_SECS};
use crate::protocol::wire::{data_session_id, MessageRef, WireMessage};
use crate::protocol::{
    ConvState, Conversation, Event, Policy, ReceiveAction, SecretBytes, SendAction,
};

use super::{digest, ConvKey, Effects, Notice, OtherClient, Session, Sessions, Settings};

/// Most other clients of one contact with a session of their own.
pub const MAX_OTHER_CLIENTS: usize = 3;

/// Most lines in pieces routed to an other client by their first piece (`Session::other_for`)
/// remembered at once: as many as a conversation puts together at once (PROTOCOL.md §6).
const MAX_PIECE_ROUTES: usize = 8;

/// Most typed messages whose copies to the contact's clients are remembered
/// (`Session::copies`): twice as many as a conversation remembers texts it sent.
pub(super) const COPIES_KEPT: usize = 2 * crate::protocol::session::SENT_KEPT;

/// The copies of one typed message (`Session::copies`): each copy's message, with the slot of
/// the other client it went to (`None`: the main session's).
pub(super) type Copies = Vec<(Option<u8>, MessageRef)>;

/// What a saved other client's row starts with.
const ROW_MAGIC: &[u8; 4] = b"SOC1";

/// Another client of the contact, with its own session.
pub(super) struct Other {
    /// Which row it is saved in (`<peer>\n<slot>`).
    pub(super) slot: u8,
    pub(super) conv: Conversation,
    /// Its name on the wire (an XMPP full JID): its lines go there. Updated from lines that
    /// authenticated in its current session (a start that completed, a message it decrypted).
    pub(super) address: String,
    /// SHA-256 of the row the store holds (`None`: not saved yet).
    pub(super) saved: Option<[u8; 32]>,
}

impl Other {
    /// The row the store keeps it in.
    pub(super) fn row(&self) -> SecretBytes {
        let snapshot = self.conv.snapshot();
        let address = self.address.as_bytes();
        let len = u16::try_from(address.len()).unwrap_or(u16::MAX);
        let mut row = SecretBytes::with_capacity(6 + address.len() + snapshot.len());
        row.extend_from_slice(ROW_MAGIC);
        row.extend_from_slice(&len.to_be_bytes());
        row.extend_from_slice(&address[..usize::from(len)]);
        row.extend_from_slice(&snapshot);
        row
    }

    /// Whether its place may go to a new client when all are taken, and how readily (lower
    /// first): its session is up but its key was never accepted (0), it ended (1), or it never
    /// had a session and its handshake is still under way (2). A server that invents clients
    /// cannot keep a real late login out by filling the places: not with sessions on keys of
    /// its own, and not with handshakes it never finishes (a start sent again every minute
    /// keeps a handshake from expiring). A client whose key the user accepted keeps its place,
    /// also while a session on another key (a server's) holds it: its own is the previous one.
    fn eviction_rank(&self) -> Option<u8> {
        match self.conv.state() {
            ConvState::Encrypted => {
                (self.conv.is_blocked() && !self.conv.keeps_accepted_previous()).then_some(0)
            }
            // Ended, kept only to read its previous session's late lines: not pinned by them,
            // unless that session is on a key the user accepted (what ended was a server's
            // session on a key of its own, pushed in front of the client's).
            ConvState::Finished => (!self.conv.keeps_accepted_previous()).then_some(1),
            _ if self.conv.session_instance().is_none() => Some(2),
            _ => None,
        }
    }

    fn evictable(&self) -> bool {
        self.eviction_rank().is_some()
    }

    /// Whether it still has a session or a handshake under way.
    fn alive(&self) -> bool {
        self.conv.state() != ConvState::Plaintext
            || self.conv.handshake_in_flight()
            || self.conv.queued() > 0
    }

    /// Whether what it types may go there: a session up, its key accepted.
    fn reads(&self) -> bool {
        self.conv.state() == ConvState::Encrypted && !self.conv.is_blocked()
    }
}

/// Where a not-read notice about another client's copy goes ([`Session::not_read_route`]).
enum NotReadRoute {
    /// Nowhere: the client that sent it read its own copy.
    Drop,
    /// To the main conversation, whose message it names.
    Main,
    /// To this other client's conversation, whose message it names.
    Other(usize),
}

/// The name of an other client's row: the contact's name, a newline (in no chat name), the slot.
pub(super) fn row_name(peer: &str, slot: u8) -> String {
    format!("{peer}\n{slot}")
}

/// The prefix every other client's row of `peer` starts with.
pub(super) fn row_prefix(peer: &str) -> String {
    format!("{peer}\n")
}

/// A saved row: the address and the snapshot.
pub(super) fn decode_row(row: &[u8]) -> Option<(String, &[u8])> {
    let rest = row.strip_prefix(ROW_MAGIC)?;
    let (len, rest) = rest.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes(*len));
    let address = std::str::from_utf8(rest.get(..len)?).ok()?.to_owned();
    Some((address, rest.get(len..)?))
}

/// The effects of a line of another client dropped unread (no place or budget for it now): a
/// copy of it later is read, not dropped as one already read.
fn not_taken() -> Effects {
    Effects {
        not_taken: true,
        ..Effects::default()
    }
}

/// The instance tag of the contact's client that sent a handshake line (`?S1I` and `?S1C`:
/// the initiator's, `?S1R`: the responder's).
fn sender_tag(text: &str) -> Option<u32> {
    match WireMessage::decode(text).ok()? {
        WireMessage::Init(m) => Some(m.initiator_tag),
        WireMessage::Response(m) => Some(m.responder_tag),
        WireMessage::Confirm(m) => Some(m.initiator_tag),
        _ => None,
    }
}

/// The letter after `?S1` of a Sotto line, if it is one.
fn kind(text: &str) -> Option<u8> {
    let t = text.trim_start();
    t.strip_prefix("?S1").and_then(|r| r.bytes().next())
}

impl Session {
    /// The other client whose session a line from `from` belongs to: a data line by its `sid`,
    /// a piece by the address it came from or, from an address no other client has, by the
    /// `sid` its line's first piece names (remembered for the line's later pieces), any other
    /// Sotto line by the address it came from.
    /// Where a not-read notice (PROTOCOL.md §2.2) from `from` goes when it names a message of
    /// a session of another of the contact's clients than `from`'s: the server handed that
    /// client's copy to `from` (that client left). If `from` is a client this side sends its
    /// own copies to (its session reads), it read its own: dropped without a word. Else (one
    /// whose key the user has not accepted gets no copy) the message's own conversation names
    /// it and sends it again later, as for any message not read. `None`: not such a notice
    /// (one about `from`'s own session, or naming no session here: the usual routing).
    ///
    /// "Reads" is whether it was sent a copy of that message, not whether it reads now: a
    /// client whose key was accepted (or whose session came up) after the message went got no
    /// copy, and its notice, crossing that moment, was taken for one about a copy it had read:
    /// the message was read by nobody and never named (found by a read-only review).
    fn not_read_route(&self, from: &str, text: &str) -> Option<NotReadRoute> {
        let Ok(WireMessage::Error(notice)) = WireMessage::decode(text) else {
            return None;
        };
        let id = crate::protocol::wire::MessageRef::from_error_text(&notice)?;
        let owner = if self.conv.has_session(id.session_id) {
            None
        } else {
            Some(
                self.others
                    .iter()
                    .position(|o| o.conv.has_session(id.session_id))?,
            )
        };
        // `from` is another client when one has its address; else it is the main client.
        let sender = self.client_at(from);
        if sender == owner {
            return None;
        }
        // It reads, and was sent a copy of its own of that message: it read that copy.
        let read_its_own = match sender {
            Some(j) => self.others[j].reads(),
            None => self.conv.state() == ConvState::Encrypted && !self.conv.is_blocked(),
        } && self.sent_a_copy(owner, sender, &id);
        Some(match (read_its_own, owner) {
            (true, _) => NotReadRoute::Drop,
            (false, None) => NotReadRoute::Main,
            (false, Some(i)) => NotReadRoute::Other(i),
        })
    }

    /// Whether the client `sender` (an other client's index; `None`: the main session's) was
    /// sent a copy of its own of the message `id` that `owner` sent. As recorded in
    /// [`Session::copies`]; a message with no copies recorded that `owner` still remembers
    /// sending first went to it alone. One it no longer remembers, or a second sending (made
    /// for one client, whose copies are not recorded), is taken as copied, as before: nothing
    /// could name the first, and a false "not read" for a message the contact read is what
    /// the second would risk.
    fn sent_a_copy(&self, owner: Option<usize>, sender: Option<usize>, id: &MessageRef) -> bool {
        let slot = |i: Option<usize>| i.and_then(|i| self.others.get(i)).map(|o| o.slot);
        let conv = |i: Option<usize>| match i.and_then(|i| self.others.get(i)) {
            Some(o) => &o.conv,
            None => &self.conv,
        };
        let (owner_slot, sender_slot) = (slot(owner), slot(sender));
        match self.copies.iter().find(|g| g.contains(&(owner_slot, *id))) {
            // Its copy, in the session it has now (a slot given to a new client since is not
            // the client the copy went to).
            Some(copies) => copies
                .iter()
                .any(|(s, copy)| *s == sender_slot && conv(sender).has_session(copy.session_id)),
            None => !conv(owner).remembers_first_sending(id),
        }
    }

    /// The other client at `from`, by its address: none at the address the main session's
    /// client was heard at last, also where another client was recorded before (two clients
    /// are never at one address at once: the one heard there last has it; see
    /// `other_client_line` for the other way round).
    fn client_at(&self, from: &str) -> Option<usize> {
        if self.holder() == Some(from) {
            return None;
        }
        self.others.iter().position(|o| o.address == from)
    }

    fn other_for(&mut self, from: &str, text: &str) -> Option<usize> {
        match kind(text)? {
            b'P' => self
                .client_at(from)
                .or_else(|| self.other_for_piece(from, text)),
            b'D' => {
                let sid = data_session_id(text)?;
                if self.conv.has_session(sid) {
                    return None;
                }
                self.others.iter().position(|o| o.conv.has_session(sid))
            }
            letter @ (b'I' | b'R' | b'C') => self.other_for_handshake(letter, from, text),
            b'Q' | b'E' => self.client_at(from),
            _ => None,
        }
    }

    /// The other client a handshake line belongs to, by the address it came from and the
    /// instance tag it names: a client that reconnected under another address (a new XMPP
    /// resource) and starts again is the client it was, not a new one (it used to get a second
    /// session beside its first, and every message twice); the main session's client starting
    /// from an address another client had before (a resource name used again) is not taken for
    /// that one. The tag is as unauthenticated as the address: a forged line reaches a session
    /// that then has to authenticate it, as a line forged from the address would. A `?S1I`,
    /// `?S1R` or `?S1C` naming the main session's tag goes to the main session from any address.
    ///
    /// * `?S1I`: the main session's tag is the main session's, from any address; from the
    ///   address of a client we know (another client's, or the main session's), that client's;
    ///   from an address nobody has, the client whose tag it names, if one does.
    /// * `?S1R` answers a start: the main session's tag, the main session's; else the other
    ///   client's own start if it has one in flight (found by
    ///   address or tag); an answer from a client whose key the user has not accepted goes to
    ///   its session, where it is stale, never to the main session (it would take over the
    ///   main session with a key the user was shown as not accepted); else the main session's
    ///   (a start of ours goes to every client, and an accepted client may win it).
    /// * `?S1C` naming the main session's tag completes the main client's start; else a start
    ///   the other client made: its address, else its tag.
    fn other_for_handshake(&self, letter: u8, from: &str, text: &str) -> Option<usize> {
        let by_address = self.others.iter().position(|o| o.address == from);
        let Some(tag) = sender_tag(text) else {
            // Not a handshake line that reads: whoever has the address reports it.
            return by_address;
        };
        let main_tag = self.conv.session_instance().map(|(_, t)| t);
        let by_tag = if main_tag == Some(tag) {
            None
        } else {
            self.others
                .iter()
                .position(|o| o.conv.session_instance().map(|(_, t)| t) == Some(tag))
        };
        let in_flight = |i: &usize| self.others[*i].conv.handshake_in_flight();
        match letter {
            // The main session's client, from any address: its answer never completes a
            // start made for another (a server could hand it one, then hand the answer back
            // from that client's address: the main client got a second session beside its
            // first, and every line twice). Its `?S1C` completes its own new start, also from
            // an address another client was recorded at (it went to that client, which had no
            // start in flight: the main client's new session was never made here).
            b'I' | b'R' | b'C' if main_tag == Some(tag) => None,
            b'I' if by_address.is_some() || self.holder() == Some(from) => by_address,
            b'I' => by_tag,
            b'R' => by_address
                .filter(in_flight)
                .or_else(|| by_tag.filter(|i| in_flight(i) || !self.others[*i].reads())),
            _ => by_address.or_else(|| by_tag.filter(in_flight)),
        }
    }

    /// A piece from an address no other client has (one of them back under another resource,
    /// its session kept, writing a long line before any short one): its line's first piece
    /// names the session (a `?S1D` line's `sid` is in its first 12 characters, and a first
    /// piece carries at least 52); the line's later pieces, from the same address with the same
    /// `id` and `total`, follow it. Pieces from the main session's own address are the main
    /// session's.
    ///
    /// Unauthenticated, like the address: a forged copy of a first piece must not take the
    /// real line's pieces away from the session that can read them (§6: a forged copy only
    /// adds a candidate). So a first piece that names the main session is remembered too, and
    /// two first pieces of one line that name different sessions send the line's pieces to the
    /// main session, as if none had been routed (where they went before routing existed).
    fn other_for_piece(&mut self, from: &str, text: &str) -> Option<usize> {
        if self.others.is_empty() || self.holder() == Some(from) {
            return None;
        }
        let Ok(WireMessage::Fragment(piece)) = WireMessage::decode(text) else {
            return None;
        };
        let line = (piece.id, piece.total);
        let known = self
            .piece_routes
            .iter()
            .position(|(f, l, _)| f == from && *l == line);
        let target = if piece.index == 0 {
            // The other client whose session the line names (`None`: the main session's, or
            // none, which the main session answers).
            let named = data_session_id(&piece.chunk)
                .filter(|sid| !self.conv.has_session(*sid))
                .and_then(|sid| self.others.iter().find(|o| o.conv.has_session(sid)))
                .map(|o| o.slot);
            match known {
                Some(i) => {
                    let route = &mut self.piece_routes[i].2;
                    if *route != named {
                        *route = None;
                    }
                    *route
                }
                None => {
                    if self.piece_routes.len() >= MAX_PIECE_ROUTES {
                        self.piece_routes.remove(0);
                    }
                    self.piece_routes.push((from.to_owned(), line, named));
                    named
                }
            }
        } else {
            known.and_then(|i| self.piece_routes[i].2)
        };
        let slot = target?;
        self.others.iter().position(|o| o.slot == slot)
    }

    /// Whether a line from `from` shows a client of the contact we have no session with, that
    /// should get one: the main session up with its key accepted and its client known, `from`
    /// another name, room for one more.
    fn new_client(&self, from: &str) -> bool {
        self.unknown_client(from) && self.room_for_a_client()
    }

    /// `from` is a client of the contact that has no session here (the main session up with
    /// its key accepted and its client known, `from` another name).
    fn unknown_client(&self, from: &str) -> bool {
        self.addressable
            && self.conv.state() == ConvState::Encrypted
            && !self.conv.is_blocked()
            && !self.conv.known_peer_keys().is_empty()
            && self.others.iter().all(|o| o.address != from)
            && self.holder_known()
            && self.holder() != Some(from)
    }

    /// A free slot (one neither a client nor a kept row that could not be restored holds), or
    /// a client that may give its place up: what [`Sessions::add_other`] takes. (Counting the
    /// clients alone let a kept row's slot look free: the new client found none, and its start
    /// went to the main session.)
    fn room_for_a_client(&self) -> bool {
        self.free_slot().is_some() || self.others.iter().any(Other::evictable)
    }

    /// A line that came while no session was up: a start from a client (kept, the latest per
    /// client, to answer once the session with the client answered first is up).
    pub(super) fn heard_start(&mut self, from: &str, text: &str) {
        if !self.addressable || kind(text) != Some(b'I') {
            return;
        }
        self.heard.retain(|(address, _)| address != from);
        if self.heard.len() >= MAX_OTHER_CLIENTS {
            self.heard.remove(0);
        }
        self.heard.push((from.to_owned(), text.trim().to_owned()));
    }

    /// The main session just started: a client that now holds it needs no session of its own
    /// beside it (it would get every message twice). Returns the slots of the saved ones
    /// removed (their rows go in the main's save, `gone_rows`, in its commit).
    /// What waited to be sent again to such a client waits in the main conversation, which
    /// may send it over this session (new to those texts): see
    /// [`Conversation::send_waiting`].
    ///
    /// The same client is the same instance tag *and* the same key: a tag is anyone's to copy.
    /// Also says whether any such text moved. `by_address`: a client at the address the main
    /// session's client is heard from goes too (as a session starts; at a load, only the same
    /// client does: the address may be old).
    pub(super) fn superseded_by_main(&mut self, by_address: bool) -> (Vec<u8>, bool) {
        let main = self.holder().filter(|_| by_address).map(str::to_owned);
        let main_tag = self.conv.session_instance().map(|(_, tag)| tag);
        let main_key = self.conv.peer_identity();
        let mut gone = Vec::new();
        let mut waiting = Vec::new();
        self.others.retain_mut(|o| {
            let same_address = main.as_deref() == Some(o.address.as_str());
            let same_client = main_tag.is_some()
                && o.conv.session_instance().map(|(_, t)| t) == main_tag
                && o.conv.peer_identity() == main_key;
            let keep = !same_address && !same_client;
            if !keep {
                waiting.extend(o.conv.take_resend());
                if o.saved.is_some() {
                    gone.push(o.slot);
                }
            }
            keep
        });
        let moved = !waiting.is_empty();
        self.conv.put_back_resend(waiting);
        (gone, moved)
    }

    /// Whether a new other client may be taken at `now` (at most [`ANSWER_BURST`] per
    /// [`ANSWER_WINDOW_SECS`], a budget as large as a session's, kept apart from the main
    /// session's); counts it.
    fn may_take_new_client(&mut self, now: u64) -> bool {
        let (start, count) = &mut self.new_clients;
        if now.saturating_sub(*start) >= ANSWER_WINDOW_SECS || now < *start {
            (*start, *count) = (now, 0);
        }
        *count = count.saturating_add(1);
        *count <= ANSWER_BURST
    }

    fn free_slot(&self) -> Option<u8> {
        (0..u8::try_from(MAX_OTHER_CLIENTS).unwrap_or(u8::MAX)).find(|slot| {
            self.others.iter().all(|o| o.slot != *slot)
                && !self.kept_rows.iter().any(|k| *k == slot.to_string())
        })
    }
}

impl Sessions {
    /// A conversation with another client of the contact, for `slot`, trusting only the keys
    /// the user accepted for the contact.
    fn new_other(&mut self, key: &ConvKey, address: &str, slot: u8) -> Option<Other> {
        let identity = self.identity(&key.protocol, &key.account)?;
        let s = self.sessions.get(key)?;
        let mut conv = Conversation::new(identity.key, identity.instance_tag, Policy::Manual);
        conv.set_known_peer_keys(s.conv.known_peer_keys().to_vec());
        conv.set_peer_supports_sotto(true);
        Some(Other {
            slot,
            conv,
            address: address.to_owned(),
            saved: None,
        })
    }

    /// Settings the main conversation gets on every call, given to each other client's too.
    pub(super) fn refresh_others(s: &mut Session, settings: &Settings) {
        for o in &mut s.others {
            o.conv.set_max_line(settings.max_line);
            o.conv.set_names(settings.names.clone());
            o.conv.set_in_order(settings.in_order);
            o.conv.set_first_use(false);
        }
        Self::hold_unaccepted_others(s);
    }

    /// Gives the contact's other clients the keys accepted for the contact (the main
    /// conversation's list) and holds each whose session uses a key no longer among them (the
    /// user forgot it in the Known list; after a restart, as it was left): it gets nothing
    /// typed until the key is accepted again (`accept_other_client`). Whether one was held now.
    pub(super) fn hold_unaccepted_others(s: &mut Session) -> bool {
        let known = s.conv.known_peer_keys().to_vec();
        let mut held = false;
        for o in &mut s.others {
            if o.conv.known_peer_keys() != known.as_slice() {
                o.conv.set_known_peer_keys(known.clone());
            }
            held |= super::trust::hold_unaccepted(&mut o.conv);
        }
        held
    }

    /// A line from `from` that is another client's: handled by its session (or by a new one),
    /// saved, and its effects returned. `None`: the main conversation handles it.
    pub(super) fn other_client_line(
        &mut self,
        key: &ConvKey,
        from: &str,
        text: &str,
        for_another_client: bool,
        settings: &Settings,
        rng: &mut impl CryptoRngCore,
    ) -> Option<(ReceiveAction, Effects)> {
        let s = self.sessions.get_mut(key)?;
        let letter = kind(text)?;
        let routed = if letter == b'E' {
            s.not_read_route(from, text)
        } else {
            None
        };
        let found = match routed {
            Some(NotReadRoute::Drop) => {
                let fx = Effects {
                    reply_to: from.to_owned(),
                    ..Effects::default()
                };
                return Some((ReceiveAction::Swallow, fx));
            }
            Some(NotReadRoute::Main) => return None,
            Some(NotReadRoute::Other(i)) => Some(i),
            None => s.other_for(from, text),
        };
        let index = match found {
            Some(i) => i,
            // The main session's own client writing from a new address (it reconnected under
            // another resource) is the main session's, not a new client.
            None if matches!(letter, b'R' | b'I' | b'Q')
                && s.new_client(from)
                && sender_tag(text) != s.conv.session_instance().map(|(_, t)| t) =>
            {
                // Every new client gets a fresh answer budget of its own: the contact's new
                // clients share one (as large as a session's, counted apart from the main
                // session's), so
                // a server inventing an address per line cannot make each cost a handshake
                // and a synced write.
                let s = self.sessions.get_mut(key)?;
                if !s.may_take_new_client(settings.now_secs) {
                    self.note(
                        "a handshake line from a new client of the contact dropped: too many new \
                         clients at once"
                            .to_owned(),
                    );
                    return Some((ReceiveAction::Swallow, not_taken()));
                }
                // It answered a start another client won: it gets a start of its own.
                let start = letter == b'R';
                // No place after all: dropped, as below, never handed to the main session.
                let Some((index, started)) =
                    self.add_other(key, from, settings, start.then_some(true), rng)
                else {
                    self.note(
                        "a line from a new client of the contact dropped: no place for it"
                            .to_owned(),
                    );
                    return Some((ReceiveAction::Swallow, not_taken()));
                };
                if let Some(inject) = started {
                    return Some(self.finish_other(key, index, inject, Vec::new(), None, None));
                }
                index
            }
            // A client with no session here and no place for one (every place held by a client
            // whose key the user accepted): its handshake line would otherwise reach the main
            // session, and a start or an answer there moves the main session to that client
            // (held on a key not accepted, or taking the conversation from the client the user
            // talks to). Dropped; the client gets a place when one frees.
            None if matches!(letter, b'R' | b'I' | b'Q')
                && s.unknown_client(from)
                && sender_tag(text) != s.conv.session_instance().map(|(_, t)| t) =>
            {
                self.note(format!(
                    "a line from another client of the contact dropped: all {MAX_OTHER_CLIENTS} \
                     places are taken"
                ));
                return Some((ReceiveAction::Swallow, not_taken()));
            }
            None => return None,
        };
        let s = self.sessions.get_mut(key)?;
        Self::refresh_others(s, settings);
        let o = s.others.get_mut(index)?;
        // A start from the client under a new address (found by its tag) is answered there:
        // its old address may be gone. The address itself moves only once a line from the
        // new one authenticates.
        let answer_to = (letter == b'I' && o.address != from).then(|| from.to_owned());
        let ticked = o.conv.tick(settings.now_secs);
        // A line the transport addressed to another client of this account is never taken for
        // one that overtook a handshake of this client's (as for the main session).
        let mut out = if for_another_client {
            o.conv
                .receive_for_another_client(text, settings.now_secs, rng)
        } else {
            o.conv.receive(text, settings.now_secs, rng)
        };
        // As for the main session (`read_line`): a message shown while it could not be saved,
        // come again in another encoding, is not shown again.
        if let (ReceiveAction::Display(_), Some(m)) = (&out.action, out.read_message) {
            if !self.shown_unsaved.is_empty()
                && self
                    .shown_unsaved
                    .contains(&super::operations::message_digest(key, Some(o.slot), &m))
            {
                out.action = ReceiveAction::Swallow;
            }
        }
        out.events.splice(0..0, ticked.events);
        if o.conv.pending_question().is_some() {
            // Verification runs with the main client only: the asker is told at once that
            // this side will not answer, instead of waiting for an answer nobody is asked for.
            let aborted = o.conv.abort_verification(rng);
            out.inject.extend(aborted.inject);
        }
        // A handshake that completed (a data message that decrypted, also one put together from
        // pieces, is `read_in`: a piece not yet completing a line proves nothing).
        let started = out
            .events
            .iter()
            .any(|e| matches!(e, Event::Started { .. }));
        // The address moves with a line of the current session only, as the main session's
        // (`note_instance`): a previous session may be one a server pushed in front of the
        // client's, with a key of its own, and its line from another address would have moved
        // every copy meant for the client there (found by a read-only review of several
        // logins).
        if started || (out.read_in.is_some() && out.read_in_current) {
            o.address = from.to_owned();
        }
        // Two clients are never at one address at once: the main session's client, last heard
        // at this one, has left it if a client whose key the user accepted authenticated here
        // since, in its current session (a previous one may be a session a server pushed in
        // front of the client's). The address is that client's alone (its pieces and queries
        // go to its session) until the main client is heard again, wherever it is.
        let took_holders_address = (started || (out.read_in.is_some() && out.read_in_current))
            && !o.conv.is_blocked()
            && s.holder() == Some(from);
        let index = if started {
            Self::one_place_per_client(s, index, &mut out, rng)
        } else {
            index
        };
        let slot = s.others.get(index).map_or(u8::MAX, |o| o.slot);
        let read_message = out.read_message.map(|m| (slot, m));
        let mut action = out.action;
        // Read, but not shown as the contact's words: its key is not one the user accepted (a
        // server can make up a client). Shown as a Sotto line that says so.
        let unaccepted = super::trust::unaccepted_words(out.unaccepted_key, &mut action).map(
            |(fingerprint, text)| Notice::OtherClient {
                address: from.to_owned(),
                what: OtherClient::UnacceptedMessage { fingerprint, text },
            },
        );
        if took_holders_address {
            self.forget_holder(key);
        }
        let (action, mut fx) =
            self.finish_other(key, index, out.inject, out.events, Some(action), answer_to);
        fx.notices.extend(unaccepted);
        fx.read_message = read_message;
        Some((action, fx))
    }

    /// The other client at `index` started a session that reads: a place of that same client
    /// under another address (its instance tag and its key: one of the contact's clients back
    /// under a new XMPP resource that answered a start of ours there, or the server's relay of
    /// that client's lines from a made-up address, which needs that client's key) goes, as a
    /// client's does when the main session starts with it (`superseded_by_main`): two sessions
    /// with one client had it read every message twice, for good. What waited to be sent again
    /// to it goes now, over this new session (`out`). The rows of the places that went go in
    /// the save of this one (`gone_rows`): a kill between two commits brought them back, and
    /// that client read every message twice again. The index of this place after.
    fn one_place_per_client(
        s: &mut Session,
        index: usize,
        out: &mut crate::protocol::ReceiveOutcome,
        rng: &mut impl CryptoRngCore,
    ) -> usize {
        let Some(o) = s.others.get(index).filter(|o| o.reads()) else {
            return index;
        };
        let (slot, peer) = (o.slot, o.conv.peer_identity());
        let Some(tag) = o.conv.session_instance().map(|(_, t)| t) else {
            return index;
        };
        let mut superseded = Vec::new();
        let mut waiting = Vec::new();
        s.others.retain_mut(|other| {
            let again = other.slot != slot
                && other.conv.session_instance().map(|(_, t)| t) == Some(tag)
                && other.conv.peer_identity() == peer;
            if again {
                waiting.extend(other.conv.take_resend());
                if other.saved.is_some() {
                    superseded.push(other.slot);
                }
            }
            !again
        });
        s.gone_rows.extend(superseded);
        // (Its own place stays: only others went.)
        let index = s
            .others
            .iter()
            .position(|other| other.slot == slot)
            .unwrap_or(index);
        if !waiting.is_empty() {
            if let Some(o) = s.others.get_mut(index) {
                o.conv.put_back_resend(waiting);
                let sent = o.conv.send_waiting(rng);
                out.inject.extend(sent.inject);
                out.events.extend(sent.events);
            }
        }
        index
    }

    /// The main session's client is no longer where it was last heard from (`holder_left`; on
    /// disk, its record keeps the tag without an address, so that after a restart it is still
    /// known: a late login elsewhere is then another client, not the main session's). Its
    /// lines go where the host points until one of its lines authenticates again.
    fn forget_holder(&mut self, key: &ConvKey) {
        let Some(s) = self.sessions.get_mut(key) else {
            return;
        };
        s.holder_left = true;
        let Some((tag, _)) = s.instance.clone() else {
            return;
        };
        if let Some(Err(e)) = self
            .store
            .as_ref()
            .map(|st| st.set_holder(&key.protocol, &key.account, &key.peer, tag, ""))
        {
            self.note(format!("recording that a client left its address: {e}"));
        }
    }

    /// Adds a session with the contact's client at `from`; with `start`, starts its handshake
    /// (a start when it is known to run Sotto, else a query a person can read). Returns its
    /// index, and the lines the start made.
    fn add_other(
        &mut self,
        key: &ConvKey,
        from: &str,
        settings: &Settings,
        start: Option<bool>,
        rng: &mut impl CryptoRngCore,
    ) -> Option<(usize, Option<Vec<String>>)> {
        let s = self.sessions.get_mut(key)?;
        let slot = match s.free_slot() {
            Some(slot) => slot,
            None => {
                // A session on a key never accepted goes first, then an ended client (kept for
                // its accepted previous session's late lines), then a handshake never finished;
                // the oldest of its kind.
                let oldest = s
                    .others
                    .iter()
                    .enumerate()
                    .filter_map(|(i, o)| o.eviction_rank().map(|rank| (rank, i)))
                    .min()
                    .map(|(_, i)| i)?;
                let mut gone = s.others.remove(oldest);
                // What waited to be sent again to it (the user was told it would be) goes to
                // the main session, as for a client that is gone: never dropped.
                s.conv.take_over_resend(gone.conv.take_resend());
                // Its row goes in the next save (the new client's, in this slot): a save that
                // fails reloads it.
                if gone.saved.is_some() {
                    s.gone_rows.push(gone.slot);
                }
                self.note(format!(
                    "another client's session (never accepted, ended, or never up) dropped for a \
                     new one: slot {}",
                    gone.slot
                ));
                gone.slot
            }
        };
        let other = self.new_other(key, from, slot)?;
        self.note(format!("another client of the contact: slot {slot}"));
        let s = self.sessions.get_mut(key)?;
        s.others.push(other);
        Self::refresh_others(s, settings);
        let index = s.others.len() - 1;
        let started = start.map(|runs_sotto| {
            let o = &mut s.others[index];
            o.conv.set_peer_supports_sotto(runs_sotto);
            o.conv.tick(settings.now_secs);
            o.conv.start(rng).inject
        });
        Some((index, started))
    }

    /// The main session just started: each other client whose start was ignored meanwhile (the
    /// race of §3.3 lost) gets a session of its own, its start answered now.
    pub(super) fn answer_heard(
        &mut self,
        key: &ConvKey,
        settings: &Settings,
        rng: &mut impl CryptoRngCore,
        fx: &mut Effects,
    ) {
        let Some(s) = self.sessions.get_mut(key) else {
            return;
        };
        for (from, line) in std::mem::take(&mut s.heard) {
            // A start kept from a client of the contact: no data line, nothing rerouted.
            if let Some((_, more)) = self.other_client_line(key, &from, &line, false, settings, rng)
            {
                fx.elsewhere.extend(more.elsewhere);
                fx.notices.extend(more.notices);
            }
        }
    }

    /// Plaintext came from `from`, a client of the contact we have no session with while the
    /// main session is up (a late login, whose store is new): it is asked for a session of its
    /// own, once per address while loaded, with a query a person without Sotto can read.
    pub(super) fn greet_new_client(
        &mut self,
        key: &ConvKey,
        from: &str,
        settings: &Settings,
        rng: &mut impl CryptoRngCore,
    ) -> Option<Effects> {
        let s = self.sessions.get_mut(key)?;
        if !s.new_client(from) || s.greeted.iter().any(|g| g == from) {
            return None;
        }
        // The new clients' one budget, as for a handshake line from a new address: a server
        // inventing an address per plaintext line gets no query, client and synced write for
        // each (nor pushes a real late login's handshake out of its place). An address passed
        // over is not marked greeted: its next line, within the budget, is.
        if !s.may_take_new_client(settings.now_secs) {
            self.note(
                "plaintext from a new client of the contact not answered with a query: too many \
                 new clients at once"
                    .to_owned(),
            );
            return None;
        }
        if s.greeted.len() >= 16 {
            s.greeted.remove(0);
        }
        s.greeted.push(from.to_owned());
        let (index, inject) = self.add_other(key, from, settings, Some(false), rng)?;
        let (_, fx) = self.finish_other(
            key,
            index,
            inject.unwrap_or_default(),
            Vec::new(),
            None,
            None,
        );
        Some(fx)
    }

    /// Other clients whose handshake expired are removed (a slot is not held forever by a
    /// client that never answered, or by a name a server made up).
    pub(super) fn prune_others(&mut self, key: &ConvKey, now_secs: u64) {
        self.keep_others(key, |o| {
            o.conv.tick(now_secs);
            o.alive()
        });
    }

    /// Keeps the other clients `keep` says yes to; the others' saved rows are deleted.
    fn keep_others(&mut self, key: &ConvKey, mut keep: impl FnMut(&mut Other) -> bool) {
        let Some(s) = self.sessions.get_mut(key) else {
            return;
        };
        let mut gone = Vec::new();
        let mut waiting = Vec::new();
        s.others.retain_mut(|o| {
            let kept = keep(o);
            if !kept {
                // What waited to be sent again to it goes to the main session: never dropped
                // without a word.
                waiting.extend(o.conv.take_resend());
                if o.saved.is_some() {
                    gone.push(o.slot);
                }
            }
            kept
        });
        s.conv.take_over_resend(waiting);
        self.delete_other_rows(key, gone);
    }

    /// Deletes the rows of other clients that were not restored (`Session::kept_rows`): the
    /// user begins afresh (`/sotto stop`, or a start replacing a conversation that could not
    /// be restored). A row that cannot go stays kept.
    pub(super) fn delete_kept_rows(&mut self, key: &ConvKey) {
        let Some(s) = self.sessions.get_mut(key) else {
            return;
        };
        for suffix in std::mem::take(&mut s.kept_rows) {
            let row = format!("{}{suffix}", row_prefix(&key.peer));
            let deleted = self
                .store
                .as_ref()
                .map(|store| store.delete_session(&key.protocol, &key.account, &row));
            if let Some(Err(e)) = deleted {
                self.log
                    .push(format!("removing another client's session: {e}"));
                s.kept_rows.push(suffix);
            }
        }
    }

    /// Deletes the saved rows of other clients no longer kept.
    pub(super) fn delete_other_rows(&mut self, key: &ConvKey, slots: Vec<u8>) {
        let Some(store) = self.store.as_ref() else {
            return;
        };
        for slot in slots {
            let row = row_name(&key.peer, slot);
            if let Err(e) = store.delete_session(&key.protocol, &key.account, &row) {
                self.log
                    .push(format!("removing another client's session: {e}"));
            }
        }
    }

    /// After an other client's session decided: what the user is told (one line per change,
    /// never a dialog), whether it stays, the save, and where its lines go.
    fn finish_other(
        &mut self,
        key: &ConvKey,
        index: usize,
        inject: Vec<String>,
        events: Vec<Event>,
        action: Option<ReceiveAction>,
        answer_to: Option<String>,
    ) -> (ReceiveAction, Effects) {
        let mut fx = Effects::default();
        let mut action = action.unwrap_or(ReceiveAction::Swallow);
        let Some(s) = self.sessions.get_mut(key) else {
            return (ReceiveAction::Swallow, fx);
        };
        fx.reply_to = s.peer_raw.clone();
        let Some(o) = s.others.get_mut(index) else {
            return (ReceiveAction::Swallow, fx);
        };
        let address = o.address.clone();
        let mut gone = false;
        // Names it states that are not the ones the user sees: said with the start.
        let mismatch = events.iter().find_map(|e| match e {
            Event::NamesMismatch {
                stated_self,
                stated_peer,
            } => Some((stated_self.clone(), stated_peer.clone())),
            _ => None,
        });
        for event in events {
            match event {
                Event::Started { fingerprint, .. } => fx.notices.push(Notice::OtherClient {
                    address: address.clone(),
                    what: match (&mismatch, o.conv.is_blocked()) {
                        (Some((stated_self, stated_peer)), _) => OtherClient::NamesMismatch {
                            fingerprint: fingerprint.to_string(),
                            stated_self: stated_self.clone(),
                            stated_peer: stated_peer.clone(),
                        },
                        (None, true) => OtherClient::KeyNotAccepted {
                            fingerprint: fingerprint.to_string(),
                        },
                        (None, false) => OtherClient::Started,
                    },
                }),
                // Gone, unless the end was on a key the user had not accepted (a server that
                // finished a handshake at the client's address): the client's own session, on
                // an accepted key, kept as the previous one, still reads its lines. (Its place
                // can go to a new client: see `evictable`.)
                Event::Ended { .. } => {
                    gone = !o.conv.keeps_accepted_previous();
                    fx.notices.push(Notice::OtherClient {
                        address: address.clone(),
                        what: OtherClient::Ended,
                    });
                }
                // A handshake that failed or lapsed ends a client only if it had no session:
                // anyone can start one at its address, and finish it badly.
                Event::HandshakeFailed { .. } | Event::HandshakeExpired { .. }
                    if o.conv.state() != ConvState::Encrypted =>
                {
                    gone = true
                }
                // What its session reads is shown like the main session's.
                e @ (Event::Unreadable { .. }
                | Event::PlaintextWhileEncrypted
                | Event::NotRead { .. }
                | Event::NotResent { .. }
                | Event::Resent { .. }) => fx.events.push(e),
                // A text to send again that can no longer be (too many pieces now): handed back
                // as one that went once and is not sent again (it was dropped; found by a
                // hostile review). Not "NOT sent": the main client and this one had a copy.
                Event::Unsent { text, .. } => fx.events.push(Event::NotResent { text }),
                // Key changes are said once above; verification runs with the main client only.
                _ => {}
            }
        }
        if !o.alive() {
            gone = true;
        }
        if gone {
            let mut o = s.others.remove(index);
            // What waited to be sent again to it (the user was told it would be) goes to the
            // main session, as for a client pushed out: never dropped without a word.
            s.conv.take_over_resend(o.conv.take_resend());
            // Its row goes in the save below, with what took its texts over (a save that fails
            // reloads it, as it was).
            if o.saved.is_some() {
                s.gone_rows.push(o.slot);
            }
            // Its last lines (an answer, an end) still go out.
        }
        if let Err(reason) = self.persist(key, &[]) {
            self.log
                .push(format!("saving another client's session: {reason}"));
            // Nothing made from a state that is not on disk leaves; the reload drops it. What
            // the client's session sent again (a "handshake not finished" notice named it)
            // goes with it, so it waits again, for that client (the main session when the
            // client is gone), carried across the reload; the user is told nothing was saved,
            // never that it was sent again.
            let resent = super::resent_texts(&fx.events);
            if let Some(s) = self.sessions.get_mut(key) {
                match s.others.iter_mut().find(|o| o.address == address) {
                    Some(o) => o.conv.put_back_resend(resent),
                    None => s.conv.put_back_resend(resent),
                }
            }
            self.unload(key, Vec::new());
            fx.events.retain(|e| {
                !matches!(
                    e,
                    Event::NotRead { .. } | Event::Resent { .. } | Event::NotResent { .. }
                )
            });
            fx.notices.push(Notice::NotSaved {
                doing: super::Doing::Receiving,
                reason,
            });
            if matches!(action, ReceiveAction::Display(_)) {
                // The peer's ratchet moved on: shown anyway, like the main session's.
            } else {
                // Rolled back: a copy of the line later (a redelivery once the store works)
                // is read then, as the main session's (it was kept as read and dropped, and
                // the client kept a session this side does not have; found by a hostile
                // review of the receive paths).
                fx.not_taken = true;
                action = ReceiveAction::Swallow;
            }
            return (action, fx);
        }
        let to = answer_to.unwrap_or(address);
        fx.elsewhere
            .extend(inject.into_iter().map(|line| (to.clone(), line)));
        (action, fx)
    }

    /// The user typed `text`, sent to the main client at `now_secs`: each other client that
    /// reads gets its own lines (not yet saved: the caller saves before anything leaves).
    pub(super) fn fan_out(
        s: &mut Session,
        text: &str,
        now_secs: u64,
        rng: &mut impl CryptoRngCore,
    ) -> Vec<(String, String)> {
        let mut lines = Vec::new();
        let mut copies: Copies = Vec::new();
        for o in s.others.iter_mut().filter(|o| o.reads()) {
            // Its clock first, as the main conversation's: each copy is remembered with the
            // time it went, for a not-read notice to name it. A conversation loaded from disk
            // has the clock 0 until something ticks it (the sweep, every 30 s): a copy sent
            // before that was forgotten at once as ten minutes old, and never sent again.
            // What the tick expires is the sweep's to say, as in `prune_others`.
            let _ = o.conv.tick(now_secs);
            if let SendAction::Replace(out) = o.conv.send(text, rng).action {
                lines.extend(out.into_iter().map(|l| (o.address.clone(), l)));
                // Sent just now: the newest with these words.
                copies.extend(o.conv.sent_ids(text).next().map(|id| (Some(o.slot), id)));
            }
        }
        // Which client was sent which copy, for a not-read notice to be judged by
        // (`not_read_route`): only when another client got one. The main conversation may
        // have sent several messages with these words at once (held ones, "ok" twice): the
        // newest not recorded yet (which of them pairs with which copy does not matter: all
        // went to the same clients), never a second sending of an earlier one (it went to
        // the main client alone, in the same flush, after the held ones).
        if !copies.is_empty() {
            let recorded = |id: &MessageRef| s.copies.iter().any(|g| g.contains(&(None, *id)));
            let main = s
                .conv
                .sent_ids(text)
                .find(|id| !recorded(id) && s.conv.remembers_first_sending(id));
            copies.extend(main.map(|id| (None, id)));
            if s.copies.len() >= COPIES_KEPT {
                s.copies.pop_front();
            }
            s.copies.push_back(copies);
        }
        lines
    }

    /// Messages the main session held and has now sent (its session came up, its key was
    /// accepted) go to each other client that reads, too.
    pub(super) fn fan_out_held(
        s: &mut Session,
        events: &[Event],
        now_secs: u64,
        rng: &mut impl CryptoRngCore,
    ) -> Vec<(String, String)> {
        let mut lines = Vec::new();
        for e in events {
            if let Event::QueuedSent { text } = e {
                lines.extend(Self::fan_out(s, text, now_secs, rng));
            }
        }
        lines
    }

    /// The user ended the conversation: every other client's session ends too (each is told).
    pub(super) fn end_others(
        &mut self,
        key: &ConvKey,
        rng: &mut impl CryptoRngCore,
    ) -> (Vec<(String, String)>, Vec<Event>) {
        let mut lines = Vec::new();
        let mut unsent = Vec::new();
        let Some(s) = self.sessions.get_mut(key) else {
            return (Vec::new(), Vec::new());
        };
        // A client whose row could not go stays as it is, in memory as on disk (its session
        // would come back from the row at the next load): what waits to be sent again to it
        // keeps waiting for it, with the sessions it must not go over (dropped, it went without
        // a word; handed to the main conversation, a stop that is rolled back loses which
        // sessions those were). A later stop, once the row can go, ends it and hands them back.
        let mut kept = Vec::new();
        for mut o in std::mem::take(&mut s.others) {
            // Its row goes first: a row left on disk would bring the session back at the key
            // its end line used (a second message under one key and the constant nonce).
            // When it cannot go, nothing is sealed and the client is told nothing.
            if o.saved.is_some() {
                let row = row_name(&key.peer, o.slot);
                let deleted = self
                    .store
                    .as_ref()
                    .map(|store| store.delete_session(&key.protocol, &key.account, &row));
                if let Some(Err(e)) = &deleted {
                    self.log
                        .push(format!("removing another client's session: {e}"));
                }
                if !matches!(deleted, Some(Ok(()))) {
                    kept.push(o);
                    continue;
                }
            }
            let out = o.conv.stop(rng);
            lines.extend(out.inject.into_iter().map(|l| (o.address.clone(), l)));
            // What waited to be sent again to it (a not-read notice named it) is handed back.
            unsent.extend(
                out.events
                    .into_iter()
                    .filter(|e| matches!(e, Event::Unsent { .. } | Event::NotResent { .. })),
            );
        }
        s.others = kept;
        (lines, unsent)
    }

    /// The key of the contact's other client whose key's fingerprint is `fingerprint` and waits
    /// for the user's acceptance.
    pub fn other_client_key(
        &self,
        key: &ConvKey,
        fingerprint: &str,
    ) -> Option<crate::protocol::IdentityPublic> {
        self.sessions.get(key)?.others.iter().find_map(|o| {
            let k = o.conv.peer_identity()?;
            (o.conv.is_blocked() && k.fingerprint().to_string() == fingerprint).then_some(k)
        })
    }

    /// The contact's other clients with a session: address, whether it reads what is typed
    /// (session up, key accepted), its key's fingerprint.
    pub fn other_clients(&self, key: &ConvKey) -> Vec<(String, bool, Option<String>)> {
        self.sessions.get(key).map_or_else(Vec::new, |s| {
            s.others
                .iter()
                .map(|o| {
                    let fp = o.conv.peer_identity().map(|k| k.fingerprint().to_string());
                    (o.address.clone(), o.reads(), fp)
                })
                .collect()
        })
    }

    /// Loads the other clients' sessions saved for `key` (with `restore`; without, when the
    /// conversation's own row cannot be restored, none is), and the row names' suffixes (after
    /// `<peer>\n`) of rows that are not restored, kept untouched. A row from a restored backup is
    /// dropped: its keys may have been used; the client gets a new handshake when it writes.
    /// `None`: the rows could not be read (the conversation does not load, as for its own
    /// row).
    pub(super) fn load_others(
        &mut self,
        key: &ConvKey,
        restore: bool,
    ) -> Option<(Vec<Other>, Vec<String>)> {
        let Some(identity) = self.identity(&key.protocol, &key.account) else {
            return Some((Vec::new(), Vec::new()));
        };
        let Some(store) = self.store.as_ref() else {
            return Some((Vec::new(), Vec::new()));
        };
        let rows =
            match store.load_sessions_under(&key.protocol, &key.account, &row_prefix(&key.peer)) {
                Ok(rows) => rows,
                Err(e) => {
                    self.log.push(format!("loading other clients: {e}"));
                    return None;
                }
            };
        let prefix = row_prefix(&key.peer);
        let mut others = Vec::new();
        let mut kept = Vec::new();
        for (name, bytes, rekey) in rows {
            let suffix = name.strip_prefix(&prefix).unwrap_or_default().to_owned();
            // The conversation's own row cannot be restored: its clients' rows are kept as
            // they are, with it, until the user decides (start or stop).
            if !restore {
                kept.push(suffix);
                continue;
            }
            let slot = suffix
                .parse::<u8>()
                .ok()
                .filter(|s| usize::from(*s) < MAX_OTHER_CLIENTS);
            let restored = decode_row(&bytes).and_then(|(address, snapshot)| {
                let conv = Conversation::restore(identity.key.clone(), snapshot).ok()?;
                Some((address, conv))
            });
            match (slot, restored) {
                (Some(slot), Some((address, conv))) if !rekey => others.push(Other {
                    slot,
                    conv,
                    address,
                    saved: Some(digest(&bytes)),
                }),
                // From a restored backup: its keys may have been used on the wire.
                (_, Some(_)) if rekey => {
                    self.log
                        .push("another client's session from a backup dropped".to_owned());
                    if let Err(e) = store.delete_session(&key.protocol, &key.account, &name) {
                        self.log
                            .push(format!("removing another client's session: {e}"));
                        // Still on disk, marked: its slot is not given to a new client, whose
                        // save would update the row and keep the mark, and whose session the
                        // next load would then drop as a backup's (found by a read-only
                        // review, 2026-12-07). A later load tries the delete again.
                        kept.push(suffix);
                    }
                }
                // Written by a newer Sotto, or damaged: kept untouched (it may hold keys a
                // newer Sotto can still use), its slot never reused.
                _ => {
                    self.log
                        .push("another client's saved session unreadable; kept".to_owned());
                    kept.push(suffix);
                }
            }
        }
        Some((others, kept))
    }
}

impl Sessions {
    /// The user accepts the key of another client of the contact whose fingerprint starts with
    /// `typed` (its first four groups or more): that client gets what is typed from now on, and the
    /// key is recorded as accepted for the contact. `None`: no other client waits with such a
    /// key (the caller then tries the main session's key).
    pub fn accept_other_client(
        &mut self,
        key: &ConvKey,
        peer_raw: &str,
        settings: &Settings,
        typed: &str,
        rng: &mut impl CryptoRngCore,
    ) -> Option<Effects> {
        self.user_acted(key);
        let s = self.session(key, peer_raw, settings)?;
        let index = s.others.iter().position(|o| {
            o.conv.is_blocked()
                && o.conv.peer_identity().is_some_and(|k| {
                    super::trust::fingerprint_prefix_matches(&k.fingerprint(), typed)
                })
        })?;
        let o = &mut s.others[index];
        let accepted = o.conv.peer_identity()?;
        // Its session holds nothing typed, but may send again what a not-read notice named
        // (its `resend`): those lines go to it once the decision is saved, never dropped.
        // Its clock first, as in `fan_out`: loaded from disk since the last sweep, it would
        // stamp what it sends again with 0, forgotten at the next notice about it.
        let _ = o.conv.tick(settings.now_secs);
        let out = o.conv.acknowledge_peer_key(rng);
        let address = o.address.clone();
        let resent: Vec<(String, String)> = out
            .inject
            .into_iter()
            .map(|line| (address.clone(), line))
            .collect();
        let resent_events: Vec<Event> = out
            .events
            .into_iter()
            .filter(|e| matches!(e, Event::Resent { .. }))
            .collect();
        let mut fx = Effects {
            reply_to: s.peer_raw.clone(),
            force_window: true,
            ..Effects::default()
        };
        // The key is recorded as accepted in the save's own transaction (as a session's
        // start records its key): a save that fails records nothing, and the hold stays.
        let started = Event::Started {
            peer: accepted,
            fingerprint: accepted.fingerprint(),
        };
        match self.persist(key, &[started]) {
            Ok(()) => {
                // The contact's conversations learn the key the store now lists.
                if let (Some(store), Some(s)) = (self.store.as_ref(), self.sessions.get_mut(key)) {
                    if let Err(e) = super::trust::push_accepted(store, key, &mut s.conv) {
                        self.log
                            .push(format!("accepting another client's key: {e}"));
                    }
                    Self::refresh_others(s, settings);
                }
                fx.elsewhere = resent;
                fx.events = resent_events;
                fx.notices.push(Notice::OtherClient {
                    address,
                    what: OtherClient::Accepted,
                });
            }
            Err(reason) => {
                // What its session was to send again waits again, for the reload to carry.
                let texts = super::resent_texts(&resent_events);
                if let Some(o) = self
                    .sessions
                    .get_mut(key)
                    .and_then(|s| s.others.get_mut(index))
                {
                    o.conv.put_back_resend(texts);
                }
                self.roll_back(key, settings, Vec::new());
                fx.notices.push(Notice::NotSaved {
                    doing: super::Doing::Acting,
                    reason,
                });
            }
        }
        Some(fx)
    }
}
