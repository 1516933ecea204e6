//! The operations the host calls: what the user sends, what arrives, what the user does. Each
//! one loads the conversation if needed, lets the protocol core decide, saves before anything
//! leaves, and fails closed when the save fails (`Sessions::persist`, `Sessions::fail_closed`).

use rand_core::CryptoRngCore;

use crate::protocol::{
    ConvState, Conversation, Event, ReceiveAction, ReceiveOutcome, SendAction, UnreadableReason,
};

use super::{
    digest, strangers, trust, ConvKey, Doing, Effects, Notice, Outgoing, Save, Session, Sessions,
    Settings,
};

/// For the end-to-end test of the panic boundary: panics when the typed (or received, or a
/// group chat's) text is
/// the value of `SOTTO_TEST_PANIC_ON_TEXT` (read from the process environment; unset in any
/// real use). The plugin layer must survive it, send nothing (show nothing it did not check),
/// and reload every conversation from disk. Its message quotes the text, as a slicing bug's
/// would: the plugin's panic hook must print only where it happened.
#[allow(clippy::panic)]
pub(crate) fn test_panic_on(text: &str) {
    if let Some(trigger) = std::env::var_os("SOTTO_TEST_PANIC_ON_TEXT") {
        if !trigger.is_empty() && trigger == text {
            panic!("SOTTO_TEST_PANIC_ON_TEXT: a panic inside a callback, on purpose, at {text:?}");
        }
    }
}

/// Most lines remembered as shown while unsaved.
const SHOWN_UNSAVED_MAX: usize = 256;

impl Sessions {
    /// The user (or an auto-reply) sends `text` to `peer_raw`. `None`: no conversation could be
    /// had (no store, unreadable store): the caller must not send.
    pub fn outgoing(
        &mut self,
        key: &ConvKey,
        peer_raw: &str,
        text: &str,
        settings: &Settings,
        rng: &mut impl CryptoRngCore,
    ) -> Option<(Outgoing, Effects)> {
        // Typed here: plaintext allowed elsewhere because of this conversation is asked for
        // again (`siblings`).
        self.siblings.spoke_in(key);
        let s = self.session(key, peer_raw, settings)?;
        // Where the transport does not address each client, the name the user writes to is
        // the conversation's (see `incoming`): a spelling kept from an earlier line is
        // replaced by it.
        if !s.addressable && s.peer_raw != peer_raw {
            s.peer_raw = peer_raw.to_owned();
            // The settings were made for that name: its line size.
            s.conv.set_max_line(settings.max_line);
        }
        if let Some(reason) = s.unrestorable.clone() {
            s.unrestorable_told = true;
            let mut fx = Effects::default();
            fx.notices.push(Notice::Unrestorable {
                reason,
                unsent: Some(text.trim().to_owned()),
            });
            fx.reply_to = s.peer_raw.clone();
            return Some((Outgoing::Hold, fx));
        }
        let ticked = s.conv.tick(settings.now_secs);
        s.note_holder_unseen(rng);
        // Under `opportunistic` the core starts a handshake by itself, but only with a peer it
        // knows runs Sotto: nobody else gets unsolicited traffic.
        let mut out = s.conv.send(text, rng);
        out.events.splice(0..0, ticked.events);
        // The contact's other clients that read get the same text, each under its own session.
        // Held for the holder that went away: every client of the contact seen online is asked
        // once (the holder may be back under a new address already).
        let elsewhere = match &out.action {
            SendAction::Replace(lines) if !lines.is_empty() => {
                Self::fan_out(s, text, settings.now_secs, rng)
            }
            SendAction::Hold => s.probe_online(),
            _ => Vec::new(),
        };
        // Memory is now ahead of disk (a message key used, not saved): the worst moment to fail.
        test_panic_on(text);
        let moved = match &s.moved_to {
            Some(to) if !std::mem::replace(&mut s.moved_noticed, true) => Some(to.clone()),
            _ => None,
        };
        let pending = std::mem::take(&mut s.pending);
        // Data lines and nothing else, under a sending reservation a synced save already made
        // durable: the save need not wait for the disk (`Conversation::reserve_sending`).
        let covered = matches!(&out.action, SendAction::Replace(lines) if !lines.is_empty())
            && out.inject.is_empty()
            && out.events.is_empty()
            && elsewhere.is_empty()
            && !s.conv.reserve_sending();
        let save = if covered {
            Save::Unsynced
        } else {
            Save::Synced
        };
        let saved = self.persist_as(key, &out.events, save);
        let mut fx = Effects {
            notices: pending,
            elsewhere,
            ..Effects::default()
        };
        fx.absorb(out.inject, out.events);
        if let Some(to) = moved {
            fx.notices.push(if crate::store::is_parked(&to) {
                Notice::NameTaken { from: None }
            } else {
                Notice::Moved { to }
            });
        }
        let mut decision = match out.action {
            SendAction::SendPlaintext => Outgoing::Plaintext,
            SendAction::Replace(lines) if lines.is_empty() => Outgoing::Hold,
            SendAction::Replace(lines) => Outgoing::Lines(lines),
            SendAction::Hold => Outgoing::Hold,
        };
        if let Err(reason) = saved {
            // The typed text is neither sent nor queued: it is shown back so it is not lost.
            let doing = Doing::Sending(text.trim().to_owned());
            fx.elsewhere.clear();
            self.fail_closed(key, settings, &mut fx, reason, doing);
            decision = Outgoing::Hold;
        }
        fx.reply_to = self.reply_to(key, peer_raw);
        fx.starts_to_every_client(self.addressable(key));
        Some((decision, fx))
    }

    /// A message arrived from `peer_raw` (text already stripped of markup). Every message goes to
    /// the conversation (loaded from the store after a restart), so a plaintext message during an
    /// encrypted session is flagged; plaintext chatter creates no stored state.
    pub fn incoming(
        &mut self,
        key: &ConvKey,
        peer_raw: &str,
        text: &str,
        settings: &Settings,
        rng: &mut impl CryptoRngCore,
    ) -> Option<(ReceiveAction, Effects)> {
        // What goes to strangers is counted per account (`strangers`): past the budget, their
        // Sotto lines are dropped unread.
        let familiar = self.familiar.take().is_some_and(|k| k == *key);
        // What this line saves first is a conversation the user did not begin: marked
        // (`strangers`), whatever the host knows of the name (a window any line opens, a buddy:
        // those keep it from being forgotten while so, not for good).
        let (unknown, unasked) = self
            .session(key, peer_raw, settings)
            .map_or((false, false), |s| (s.is_stranger(), s.unasked()));
        let stranger = !familiar && unknown;
        let (protocol, account, now) = (&key.protocol, &key.account, settings.now_secs);
        if stranger
            && crate::protocol::wire::is_sotto_text(crate::protocol::wire::without_replay_stamp(
                text,
            ))
            && self.strangers.spent(protocol, account, now)
        {
            // The transport's word about this line is about this line only.
            let _ = self.take_kept(key, peer_raw, text);
            self.log.push(format!(
                "a Sotto line from a name the user does not know, not read: this account sent \
                 {} lines to such names in the last {} s",
                strangers::STRANGER_LINES,
                strangers::STRANGER_WINDOW_SECS
            ));
            // Not read: a copy of it after the window (an XMPP stream resumed, a bouncer's
            // playback, offline storage) is read then, not dropped as one already read.
            let fx = Effects {
                reply_to: peer_raw.to_owned(),
                not_taken: true,
                ..Effects::default()
            };
            return Some((ReceiveAction::Swallow, fx));
        }
        let out = self.read_line(key, peer_raw, text, settings, rng);
        if stranger {
            if let Some((_, fx)) = &out {
                let lines = fx.inject.len() + fx.elsewhere.len();
                self.strangers.sent(protocol, account, lines, now);
            }
        }
        // Its first save: a conversation a stranger began (kept, the newest few).
        if unasked && self.sessions.get(key).is_some_and(|s| s.saved.is_some()) {
            self.keep_stranger(key, now);
        }
        // Shown in its window (which a message makes the active one where several
        // conversations share it): plaintext allowed elsewhere because of this conversation
        // is asked for again (`siblings`). Sotto's own lines, swallowed, show nothing.
        if matches!(
            out,
            Some((ReceiveAction::Display(_) | ReceiveAction::PassThrough, _))
        ) {
            self.siblings.spoke_in(key);
        }
        out
    }

    /// [`Sessions::incoming`], but for what it does to the contact's other conversations.
    fn read_line(
        &mut self,
        key: &ConvKey,
        peer_raw: &str,
        text: &str,
        settings: &Settings,
        rng: &mut impl CryptoRngCore,
    ) -> Option<(ReceiveAction, Effects)> {
        test_panic_on(text);
        // A line an IRC bouncer plays back with its time in front is the line (PROTOCOL.md §2).
        let text = crate::protocol::wire::without_replay_stamp(text);
        // Whether the transport said the server kept this line while this side was offline.
        let kept = self.take_kept(key, peer_raw, text);
        let s = self.session(key, peer_raw, settings)?;
        // Where answers go. Where the transport addresses the contact's clients one by one (an
        // XMPP full JID, which the server vouches for), the client that wrote. Elsewhere the
        // conversation's own name (the name the user last wrote to; the host passes the open
        // window's name as `peer_raw` when there is one), never the spelling a line came
        // under: libpurple folds names (IRC: every letter, Unicode too, to lower case) where a
        // server may not, so `Élodie` can be another person writing into élodie's window;
        // answers and the rest of a long line went to whoever wrote last, a handshake
        // included.
        if s.addressable {
            // Lines of no session kept to be answered named another client's messages: their
            // notices would now go to this one, which never sent them (told of a message it
            // cannot name, while the one that sent them never learns): let go, as before they
            // were kept (found by a hostile review).
            if s.peer_raw != peer_raw {
                s.conv.drop_unanswered();
            }
            s.peer_raw = peer_raw.to_owned();
        }
        let answer_to = s.peer_raw.clone();
        if let Some(reason) = s.unrestorable.clone() {
            // Plaintext is shown as always; Sotto lines cannot be read and are not answered.
            let mut fx = Effects {
                reply_to: answer_to,
                ..Effects::default()
            };
            if !crate::protocol::wire::is_sotto_text(text) {
                // Shown, with the warning any plaintext gets where encryption is expected.
                fx.events.push(Event::PlaintextWhileEncrypted);
                return Some((ReceiveAction::PassThrough, fx));
            }
            s.unrestorable_told = true;
            fx.notices.push(Notice::Unrestorable {
                reason,
                unsent: None,
            });
            return Some((ReceiveAction::Swallow, fx));
        }
        // Pieces of a long line from a name never talked to (no row, no key accepted, nothing
        // under way) are not kept: a long line only follows a handshake, and each name may
        // buffer up to 896 KiB (for 300 s without progress, an hour with), so anyone able to
        // write from many names (their own XMPP domain, IRC nicks) could make memory grow
        // without bound. Dropped, but the first piece of a data line is answered with a
        // not-read notice, as the whole line would be (a contact whose session this side lost
        // learns it and starts again).
        if text.trim_start().starts_with("?S1P") && s.takes_no_pieces() {
            let fx = Effects {
                reply_to: answer_to,
                inject: s
                    .conv
                    .not_read_from_first_piece(text, settings.now_secs)
                    .into_iter()
                    .collect(),
                ..Effects::default()
            };
            return Some((ReceiveAction::Swallow, fx));
        }
        let line = digest(text.trim().as_bytes());
        if self.shown_unsaved.contains(&line) {
            let fx = Effects {
                reply_to: answer_to,
                ..Effects::default()
            };
            return Some((ReceiveAction::Swallow, fx));
        }
        self.prune_others(key, settings.now_secs);
        let for_another_client = self.elsewhere_lines.contains(&line);
        if let Some(done) =
            self.other_client_line(key, peer_raw, text, for_another_client, settings, rng)
        {
            // Another client's message shown although its save failed: remembered, as the
            // main session's below (the reload rolls its session back, and a copy replayed
            // then would decrypt and show again).
            let unsaved = done
                .1
                .notices
                .iter()
                .any(|n| matches!(n, Notice::NotSaved { .. }));
            // Shown as the contact's words, or in a line that says its key is not accepted
            // (that one was not remembered, and showed again at each copy; found by a hostile
            // review).
            let shown = matches!(done.0, ReceiveAction::Display(_))
                || done.1.notices.iter().any(|n| {
                    matches!(
                        n,
                        Notice::OtherClient {
                            what: super::OtherClient::UnacceptedMessage { .. },
                            ..
                        }
                    )
                });
            if unsaved && shown {
                self.remember_shown_unsaved(line);
                if let Some((slot, m)) = done.1.read_message {
                    self.remember_shown_unsaved(message_digest(key, Some(slot), &m));
                }
            }
            return Some(done);
        }
        let s = self.sessions.get_mut(key)?;
        let was_up = s.conv.state() == ConvState::Encrypted;
        let ticked = s.conv.tick(settings.now_secs);
        // A line the server kept while this side was offline says nothing of whether its
        // client is there now, unless the transport already said so (`presence`): where the
        // contact's clients are followed one by one, it neither releases what is held nor
        // counts as the holder seen (`presence` module doc).
        let there = !(kept && s.addressable) || s.online_now(peer_raw);
        let held_back = s.conv.held_back_start();
        let mut out = if !there {
            s.conv
                .receive_kept(text, settings.now_secs, for_another_client, rng)
        } else if for_another_client {
            s.conv
                .receive_for_another_client(text, settings.now_secs, rng)
        } else {
            s.conv.receive(text, settings.now_secs, rng)
        };
        // A start held back by this line is answered later, to the client that sent it.
        match s.conv.held_back_start() {
            None => s.held_back_from = None,
            now if now != held_back && s.addressable => s.held_back_from = Some(peer_raw.into()),
            _ => {}
        }
        // A message shown while its conversation could not be saved, come again in another
        // encoding (text after its token, a one-piece `?S1P`, its pieces in another order: the
        // line's digest above misses those): read again from the state rolled back (which
        // catches up), not shown again (found by a read-only review).
        if let (ReceiveAction::Display(_), Some(m)) = (&out.action, out.read_message) {
            if !self.shown_unsaved.is_empty()
                && self.shown_unsaved.contains(&message_digest(key, None, &m))
            {
                out.action = ReceiveAction::Swallow;
            }
        }
        if for_another_client && was_up {
            // Made for another client of this account (the server handed it here: that client
            // left). Whether the contact also made this client a copy of its own only the
            // contact knows (it makes none for a client whose key its user has not accepted),
            // so the conversation answers it with the plain not-read notice, and the contact
            // ignores that from a client it sends copies to (PROTOCOL.md §3.3). The contact
            // has a session with this client too: this client's user is not told about
            // another client's line.
            out.events.retain(|e| {
                !matches!(
                    e,
                    Event::Unreadable {
                        reason: UnreadableReason::UnknownSession
                    }
                )
            });
        }
        if !was_up {
            s.heard_start(peer_raw, text);
        }
        out.events.splice(0..0, ticked.events);
        trust::accept_if_verified(&mut s.conv, &mut out, rng);
        let moved_holder = note_instance(s, peer_raw, &out, there);
        // Only a session on an accepted key: the instance tag a start names is anyone's to
        // copy, and a key the user has not accepted is nobody's client yet (once accepted,
        // `accept_key` supersedes).
        let superseded = if out
            .events
            .iter()
            .any(|e| matches!(e, Event::Started { .. }))
            && !s.conv.is_blocked()
        {
            let (gone, _) = s.superseded_by_main(true);
            // Its row goes in this operation's save (`gone_rows`).
            s.gone_rows.extend(gone.iter().copied());
            // What waited to be sent again to that client goes now, over this new session.
            let waiting = s.conv.send_waiting(rng);
            out.inject.extend(waiting.inject);
            out.events.extend(waiting.events);
            gone
        } else {
            Vec::new()
        };
        let held = Self::fan_out_held(s, &out.events, settings.now_secs, rng);
        let pending = std::mem::take(&mut s.pending);
        // A message read in a session that was already up, and nothing else: no line leaves
        // from this state, so its save need not wait for the disk.
        let read_only = was_up
            && matches!(out.action, ReceiveAction::Display(_))
            && out.inject.is_empty()
            && out.events.is_empty()
            && held.is_empty()
            && moved_holder.is_none()
            && superseded.is_empty();
        let save = if read_only {
            Save::Unsynced
        } else {
            Save::Synced
        };
        // Where the holder is now, learned from a data line of the session that is up, is
        // recorded before the save, not after it: the line authenticated in that very session,
        // so the address is true whatever becomes of the save; written after it, a kill (or a
        // failed write) in between left the old address on disk, with the session's own tag,
        // and after a restart the session's lines went there. Learned from a handshake that
        // completed, it is recorded once that session is saved: a start naming the main
        // client's tag comes from any address, and a save that fails rolls back to the
        // previous session, whose client that address is not.
        let started = out
            .events
            .iter()
            .any(|e| matches!(e, Event::Started { .. }));
        if !started {
            self.record_holder(key, moved_holder.as_ref());
        }
        let saved = self.persist_as(key, &out.events, save);
        let mut fx = Effects {
            notices: pending,
            ..Effects::default()
        };
        if saved.is_ok() {
            fx.elsewhere = held;
            // A question we asked answered right: the store now has the key accepted
            // (`trust::record_events`); so does the loaded conversation, whose copy of the
            // accepted keys a next handshake is judged by (the key may have been forgotten
            // before: a copy without it took another key, after a stop, as a first one).
            if trust::verified_by_us(&out.events) {
                if let (Some(store), Some(s)) = (self.store.as_ref(), self.sessions.get_mut(key)) {
                    match trust::push_accepted(store, key, &mut s.conv) {
                        Ok(()) => {
                            Self::hold_unaccepted_others(s);
                        }
                        Err(e) => self.log.push(format!("loading the accepted keys: {e}")),
                    }
                }
            }
            if started {
                self.record_holder(key, moved_holder.as_ref());
            }
        }
        if saved.is_ok() {
            self.after_start(key, &out.events, &mut fx);
        }
        fx.absorb(out.inject, out.events);
        if started && saved.is_ok() {
            // The contact's other clients that started while this one won get their answer.
            self.answer_heard(key, settings, rng, &mut fx);
        }
        if let Err(reason) = saved {
            // A decrypted message is still shown (the peer's ratchet has moved on: it would be
            // lost); replies the protocol wanted to send are not. Shown once: remembered.
            if matches!(out.action, ReceiveAction::Display(_)) {
                self.remember_shown_unsaved(line);
                if let Some(m) = out.read_message {
                    self.remember_shown_unsaved(message_digest(key, None, &m));
                }
            }
            // Other lines may come again and are read then (a decrypted one is remembered
            // above instead: its key is used up).
            fx.not_taken = !matches!(out.action, ReceiveAction::Display(_));
            let doing = Doing::Receiving;
            let warned = fx.events.contains(&Event::PlaintextWhileEncrypted);
            self.fail_closed(key, settings, &mut fx, reason, doing);
            if warned {
                // About the line shown, not about a state rolled back: it stays.
                fx.events.push(Event::PlaintextWhileEncrypted);
            }
        }
        fx.reply_to = answer_to;
        let mut action = out.action;
        // Read in a session whose key is not accepted for this name: not shown as the
        // contact's words (as another client's with such a key).
        if let Some((fingerprint, text)) = trust::unaccepted_words(out.unaccepted_key, &mut action)
        {
            fx.notices
                .push(Notice::UnacceptedMessage { fingerprint, text });
        }
        if matches!(action, ReceiveAction::PassThrough) {
            // Plaintext from a client of the contact we have no session with (a late login):
            // it is asked for one, once.
            if let Some(more) = self.greet_new_client(key, peer_raw, settings, rng) {
                fx.elsewhere.extend(more.elsewhere);
                fx.notices.extend(more.notices);
            }
        }
        Some((action, fx))
    }

    /// A user action on the conversation (start, stop, verify...). `None`: no conversation could
    /// be had.
    pub fn act<R: CryptoRngCore>(
        &mut self,
        key: &ConvKey,
        peer_raw: &str,
        settings: &Settings,
        rng: &mut R,
        act: impl FnOnce(&mut Conversation, &mut R) -> ReceiveOutcome,
    ) -> Option<Effects> {
        self.act_saved(key, peer_raw, settings, rng, &[], |s, rng| {
            act(&mut s.conv, rng)
        })
        .map(|(fx, _)| fx)
    }

    /// [`Sessions::act`], and whether what the action decided was saved (`false` also for a
    /// saved conversation that cannot be restored: nothing was decided). `record`: trust
    /// events written in the save's own transaction besides the action's (never shown).
    pub(super) fn act_saved<R: CryptoRngCore>(
        &mut self,
        key: &ConvKey,
        peer_raw: &str,
        settings: &Settings,
        rng: &mut R,
        record: &[Event],
        act: impl FnOnce(&mut Session, &mut R) -> ReceiveOutcome,
    ) -> Option<(Effects, bool)> {
        let reply = self.reply_to(key, peer_raw);
        let s = self.session(key, peer_raw, settings)?;
        if let Some(reason) = s.unrestorable.clone() {
            s.unrestorable_told = true;
            let mut fx = Effects::default();
            fx.notices.push(Notice::Unrestorable {
                reason,
                unsent: None,
            });
            fx.reply_to = reply;
            fx.force_window = true;
            return Some((fx, false));
        }
        let ticked = s.conv.tick(settings.now_secs);
        // An action may release what is held (a key accepted, a verification that accepts
        // one): a holder not seen since this side's restart is taken as away first, as before
        // a text typed, so that it goes nowhere the holder may have left.
        s.note_holder_unseen(rng);
        let mut out = act(s, rng);
        out.events.splice(0..0, ticked.events);
        let mut held = Self::fan_out_held(s, &out.events, settings.now_secs, rng);
        // Still held for the holder that went away: every client of the contact seen online is
        // asked once (the holder may be back under a new address already), as at a text typed.
        if s.conv.holder_away() && s.conv.queued() > 0 {
            held.extend(s.probe_online());
        }
        let shown = out.events.len();
        out.events.extend_from_slice(record);
        let saved = self.persist(key, &out.events);
        out.events.truncate(shown);
        let mut fx = Effects::default();
        if saved.is_ok() {
            fx.elsewhere = held;
            self.after_start(key, &out.events, &mut fx);
        }
        fx.absorb(out.inject, out.events);
        let done = saved.is_ok();
        if let Err(reason) = saved {
            self.fail_closed(key, settings, &mut fx, reason, Doing::Acting);
        }
        fx.reply_to = reply;
        fx.force_window = true;
        fx.starts_to_every_client(self.addressable(key));
        Some((fx, done))
    }

    /// A decrypted line shown although its save failed: the newest [`SHOWN_UNSAVED_MAX`] are
    /// remembered, so a copy of one (replayed after the reload rolled its session back) is not
    /// shown again.
    fn remember_shown_unsaved(&mut self, line: [u8; 32]) {
        if self.shown_unsaved.len() >= SHOWN_UNSAVED_MAX {
            self.shown_unsaved.pop_front();
        }
        self.shown_unsaved.push_back(line);
    }
}

/// What [`Sessions::remember_shown_unsaved`] keeps of a message read in `key`'s conversation
/// (`slot`: another client's place; `None`: the main session), apart from any line's digest:
/// the message its header names and its tag, bound to where it was read.
pub(super) fn message_digest(
    key: &ConvKey,
    slot: Option<u8>,
    m: &crate::protocol::ReadMessage,
) -> [u8; 32] {
    let index = m.id.index.to_be_bytes();
    let field = |s: &str| (s.len() as u64).to_be_bytes();
    let place = slot.map_or([0, 0], |n| [1, n]);
    *crate::protocol::kdf::sha256(&[
        b"sotto shown unsaved message",
        &field(&key.protocol),
        key.protocol.as_bytes(),
        &field(&key.account),
        key.account.as_bytes(),
        &field(&key.peer),
        key.peer.as_bytes(),
        &place,
        &m.session,
        &m.id.session_id,
        &m.id.ratchet_key,
        &index,
        &m.tag,
    ])
}

impl Sessions {
    /// The user allows plaintext where a restored backup left a conversation waiting for a new
    /// session: its row (keys already used on the wire, dropped from memory but still on disk)
    /// is deleted, so no restart brings them back, and it no longer holds what is typed.
    fn end_rekey(&mut self, key: &ConvKey) {
        if !self.sessions.get(key).is_some_and(|s| s.rekey) {
            return;
        }
        let Some(store) = self.store.as_ref() else {
            return;
        };
        match store.delete_session(&key.protocol, &key.account, &key.peer) {
            Ok(()) => {
                if let Some(s) = self.sessions.get_mut(key) {
                    s.rekey = false;
                    s.saved = None;
                }
            }
            // Still held: the user is told by the next send, as before.
            Err(e) => self.note(format!("forgetting a restored session: {e}")),
        }
    }

    /// The user asked to start (`true`) or stop encryption.
    pub fn start_or_stop(
        &mut self,
        key: &ConvKey,
        peer_raw: &str,
        settings: &Settings,
        start: bool,
        rng: &mut impl CryptoRngCore,
    ) -> Option<Effects> {
        // Allowing plaintext is the user's decision about a name a conversation moved away
        // from. Starting is not yet: the mark stays until a session with a key the user
        // accepts is up (`after_start`), so a start nobody answers leaves the name held, never
        // plaintext. Either replaces a saved conversation that could not be restored.
        if !start {
            self.clear_moved(key);
        }
        // A conversation already in memory whose row could not be restored: the user was
        // told why when it loaded (the first start or stop after a restart only says so, as
        // any operation on it does), and this one replaces it.
        let replaced = self
            .sessions
            .get_mut(key)
            .filter(|s| s.unrestorable_told)
            .is_some_and(|s| s.unrestorable.take().is_some());
        // Loaded first: right after a restart the conversation is not in memory yet.
        let still_unrestorable = self
            .session(key, peer_raw, settings)
            .is_some_and(|s| s.unrestorable.is_some());
        if !start && !still_unrestorable {
            self.end_rekey(key);
            // In any state (from plaintext too: a handshake that expired, where no session
            // ended and no event says so), in the stop's own commit.
            if let Some(s) = self.sessions.get_mut(key) {
                s.forget_runs_sotto = true;
            }
        }
        let (ended, unsent) = if start || still_unrestorable {
            (Vec::new(), Vec::new())
        } else {
            self.end_others(key, rng)
        };
        let (mut fx, saved) = self.act_saved(key, peer_raw, settings, rng, &[], |s, rng| {
            if start {
                s.conv.start(rng)
            } else {
                s.conv.stop(rng)
            }
        })?;
        if saved && (!start || replaced) {
            // Rows of the contact's clients kept unread (they could not be restored, or their
            // conversation's could not) hold no session to end: a stop ends them all, and a
            // start that replaces the conversation takes them with it, once what it decided is
            // saved (a failed save rolls back to a disk that still has them). A client that
            // writes gets a handshake, as any new one (left, they held places and came back
            // after a restart beside the clients found since).
            self.delete_kept_rows(key);
        }
        fx.elsewhere.extend(ended);
        fx.events.extend(unsent);
        Some(fx)
    }

    /// The plugin unloads while running: the conversation's sessions end as at a stop (the
    /// contact and its other clients get an end line, what was held is handed back), but
    /// nothing a stop decides for the user is decided: "runs Sotto", the mark on a name a
    /// conversation moved away from, a restored backup's wait for a new session and rows kept
    /// unread all stay. Under `opportunistic` the next line typed after Sotto is loaded again
    /// starts a session and waits for it; after an unload counted as a stop it went in
    /// plaintext, and a marked name was released (found by a hostile review). Nothing for a
    /// conversation whose row could not be restored (nothing of it is live).
    pub fn end_at_unload(
        &mut self,
        key: &ConvKey,
        peer_raw: &str,
        settings: &Settings,
        rng: &mut impl CryptoRngCore,
    ) -> Option<Effects> {
        if self
            .session(key, peer_raw, settings)
            .is_none_or(|s| s.unrestorable.is_some())
        {
            return None;
        }
        let (ended, unsent) = self.end_others(key, rng);
        let (mut fx, _) =
            self.act_saved(key, peer_raw, settings, rng, &[], |s, rng| s.conv.stop(rng))?;
        fx.elsewhere.extend(ended);
        fx.events.extend(unsent);
        Some(fx)
    }

    /// Records where `key`'s session holder was heard from, when that moved (`note_instance`).
    fn record_holder(&mut self, key: &ConvKey, moved: Option<&(u32, String)>) {
        let (Some((tag, address)), Some(store)) = (moved, self.store.as_ref()) else {
            return;
        };
        if let Err(e) = store.set_holder(&key.protocol, &key.account, &key.peer, *tag, address) {
            self.log.push(format!("recording the holder: {e}"));
        }
    }
}

/// Which of the peer's clients holds the session, from what just authenticated: a handshake
/// that completed (from the client that sent its last message) or a data message that
/// decrypted in the current session. Unauthenticated lines (starts, garbage, lines of the
/// previous session) teach nothing. `there`: whether that client is known to be online now
/// (not a line the server kept while this side was offline, or one from an address the
/// transport says is online): only then is the holder seen.
///
/// Returns the new holder when it changed (to be recorded once the decision is saved).
fn note_instance(
    s: &mut Session,
    peer_raw: &str,
    out: &ReceiveOutcome,
    there: bool,
) -> Option<(u32, String)> {
    let (sid, tag) = s.conv.session_instance()?;
    let started = out
        .events
        .iter()
        .any(|e| matches!(e, Event::Started { .. }));
    // A data message of the current session that decrypted (also one put together from
    // pieces): never an unauthenticated line.
    let decrypted = out.read_in == Some(sid) && out.read_in_current;
    if started || decrypted {
        // The holder is there now: a client of the contact already online is not the holder
        // back under a new address, should it go (`presence`: only those seen online since
        // are asked then; the phone without Sotto is not, at every time away). A line the
        // server kept says nothing of that: any of them may still be the holder back.
        if there {
            s.online.clear();
        }
        s.holder_seen = there;
    }
    let now = Some((tag, peer_raw.to_owned()));
    // Heard again where another client was heard since (`holder_left`): recorded again too.
    if (started || decrypted) && (s.instance != now || s.holder_left) {
        s.instance.clone_from(&now);
        s.holder_left = false;
        return now;
    }
    None
}

/// Most lines remembered as addressed to another client of this account.
const ELSEWHERE_MAX: usize = 64;

impl Sessions {
    /// The transport says `line` was addressed to another client of this account (an XMPP
    /// message whose `to` names another resource): if it names no session here, it is that
    /// client's and is dropped without a not-read notice.
    pub fn addressed_elsewhere(&mut self, line: &str) {
        if self.elsewhere_lines.len() >= ELSEWHERE_MAX {
            self.elsewhere_lines.pop_front();
        }
        self.elsewhere_lines
            .push_back(digest(line.trim().as_bytes()));
    }
}
