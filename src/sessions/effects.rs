//! What a decision of the sessions service asks the host to do, once the service is no longer
//! borrowed: lines to send, events to show, notices. The presenter (`crate::purple::present`)
//! carries them out; nothing here knows how.

use crate::protocol::Event;

/// What the send path should do with the user's text.
#[derive(Debug, PartialEq, Eq)]
pub enum Outgoing {
    /// Let the text go out unchanged (the policy allows plaintext, no session).
    Plaintext,
    /// Send these lines instead, in order.
    Lines(Vec<String>),
    /// Do not send (queued, or refused).
    Hold,
}

/// What the service was doing when a save failed (the notice says what did not happen).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Doing {
    /// Sending this typed text (shown back to the user so it is not lost).
    Sending(String),
    /// Reading a message from the peer (it was shown; nothing was answered).
    Receiving,
    /// A user action (start, stop, verify...).
    Acting,
}

/// Something the service itself has to tell the user (protocol events are in
/// [`Effects::events`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// The conversation could not be saved: nothing the operation produced was sent.
    NotSaved {
        /// What did not happen.
        doing: Doing,
        /// The store's reason.
        reason: String,
    },
    /// The encrypted conversation once held under this name moved to `to` (the contact was
    /// renamed): this name may be someone else now, so nothing is sent here in plaintext.
    Moved {
        /// The name the conversation moved to.
        to: String,
    },
    /// The contact's key, new for this name, is one the store knows under other names of this
    /// account ("this key is the one you know as alice").
    KnownAs {
        /// Those names.
        names: Vec<String>,
    },
    /// The saved conversation could not be restored (its row is kept): nothing is sent or read
    /// until the user starts afresh (`/sotto start`) or ends it (`/sotto stop`).
    Unrestorable {
        /// Why it could not be restored.
        reason: String,
        /// What the user typed and was not sent (shown back so it is not lost).
        unsent: Option<String>,
    },
    /// The conversation was loaded from a restored backup of the store: its keys may already
    /// have been used, so they were dropped unused and a new session starts before anything is
    /// sent.
    RestoredBackup,
    /// The contact was renamed; the conversation followed.
    Renamed {
        /// The old name.
        from: String,
        /// Whether the conversation was encrypted (or starting, or ended by the peer).
        encrypted: bool,
    },
}

/// What to do after a decision. (No `Debug`: events carry what the user typed.)
#[derive(Default)]
pub struct Effects {
    /// Protocol lines to send to the peer, in order.
    pub inject: Vec<String>,
    /// What to tell the user, one line (or dialog) each.
    pub events: Vec<Event>,
    /// The peer's name the lines go to and whose window shows the events.
    pub reply_to: String,
    /// Open a window for the events even when none is open (user-initiated actions).
    pub force_window: bool,
    /// Never open a window (plugin unload).
    pub never_open: bool,
    /// Lines to write after the events.
    pub notices: Vec<Notice>,
}

impl Effects {
    pub(crate) fn absorb(&mut self, inject: Vec<String>, events: Vec<Event>) {
        self.inject.extend(inject);
        self.events.extend(events);
    }
}
