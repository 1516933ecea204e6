//! What a decision of the sessions service asks the host to do, once the service is no longer
//! borrowed: lines to send, events to show, notices. The presenter (`crate::purple::present`)
//! carries them out; nothing here knows how.

use std::fmt;

use crate::protocol::secret::{debug_fields, redacted};
use crate::protocol::{Event, Lines};

/// What the send path should do with the user's text.
#[derive(Debug, PartialEq, Eq)]
pub enum Outgoing {
    /// Let the text go out unchanged (the policy allows plaintext, no session).
    Plaintext,
    /// Send these lines instead, in order.
    Lines(Lines),
    /// Do not send (queued, or refused).
    Hold,
}

/// What the service was doing when a save failed (the notice says what did not happen).
/// (`Debug` prints no text the user typed.)
#[derive(Clone, PartialEq, Eq)]
pub enum Doing {
    /// Sending this typed text (shown back to the user so it is not lost).
    Sending(String),
    /// Reading a message from the peer (it was shown; nothing was answered).
    Receiving,
    /// A user action (start, stop, verify...).
    Acting,
}

/// Something the service itself has to tell the user (protocol events are in
/// [`Effects::events`]). (`Debug` prints no message text: typed, handed back or decrypted.)
#[derive(Clone, PartialEq, Eq)]
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
    /// A contact in plaintext was renamed onto this name, which had an encrypted conversation
    /// (now parked in the store, never lost): whoever holds the name now gets nothing in
    /// plaintext until the user decides (`/sotto start` or `/sotto stop`). `from` is the name
    /// the contact had, when known (at the rename; not after a restart).
    NameTaken {
        /// The contact's previous name.
        from: Option<String>,
    },
    /// An encrypted conversation was renamed onto a name whose accepted keys are another
    /// contact's: it is held like a changed key until the user accepts its key for this name
    /// (`/sotto accept`) or stops.
    RenamedOntoAnother {
        /// The contact's previous name.
        from: String,
    },
    /// A question-and-answer verification was under way when the contact was renamed: it
    /// ended unfinished, since a check made with `from` says nothing about the new name.
    VerificationEnded {
        /// The contact's previous name.
        from: String,
        /// Our answer to the contact's question had left, and no result came
        /// (`Event::VerificationUnconfirmed`'s warning applies).
        answered: bool,
    },
    /// A text typed for whoever held the name `held_for` (a marked name: it waited for a
    /// handshake checked against that name's keys) is handed back unsent: the conversation was
    /// renamed, and answers to another name now.
    HandedBack {
        /// The name it was typed for.
        held_for: String,
        /// The text.
        text: String,
    },
    /// A new session's key is one the store also accepts under other names of this account
    /// ("this key is the one you know as alice").
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
    /// The conversation is held on a key the user has not accepted for this name (a changed
    /// key, names that do not match, a key forgotten or renamed in) and a message came in that
    /// session: read, but shown as such, never as the contact's words (whoever holds that key,
    /// a server among them, wrote it).
    UnacceptedMessage {
        /// The session key's fingerprint.
        fingerprint: String,
        /// What it wrote.
        text: String,
    },
    /// On IRC, the contact's nick is, to servers that follow RFC 1459's case mapping, the nick
    /// of `twin`, whose conversation is encrypted (or held): spelled otherwise (`[]\~` for
    /// `{}|^`), it would have let `unsent` out in plaintext to the same person. Not sent.
    SameIrcNick {
        /// The encrypted conversation's name.
        twin: String,
        /// What was typed, shown back.
        unsent: String,
    },
    /// Something about another client of the contact (`crate::sessions` `clients`).
    OtherClient {
        /// Its name on the wire (an XMPP full JID).
        address: String,
        /// What happened.
        what: OtherClient,
    },
    /// The contact was renamed; the conversation followed.
    Renamed {
        /// The old name.
        from: String,
        /// Whether the conversation was encrypted (or starting, or ended by the peer).
        encrypted: bool,
    },
}

/// What happened with another client of the contact. (`Debug` prints no message text.)
#[derive(Clone, PartialEq, Eq)]
pub enum OtherClient {
    /// A session with it is up, its key accepted: what is typed goes there too.
    Started,
    /// A session with it is up, but its key is not one the user accepted for the contact:
    /// nothing goes there until the user accepts this fingerprint.
    KeyNotAccepted {
        /// The key's fingerprint.
        fingerprint: String,
    },
    /// A session with it is up, but it states other names than the ones the user sees
    /// (PROTOCOL.md §3.1: someone may be passing another person's session off as the
    /// contact's client): nothing goes there until the user accepts this fingerprint.
    NamesMismatch {
        /// The key's fingerprint.
        fingerprint: String,
        /// The name it says it has.
        stated_self: String,
        /// The name it says it talks to.
        stated_peer: String,
    },
    /// It wrote, but its key is not one the user accepted: its words are shown as such, never
    /// as the contact's.
    UnacceptedMessage {
        /// The key's fingerprint.
        fingerprint: String,
        /// What it wrote.
        text: String,
    },
    /// The user accepted its key: what is typed goes there too.
    Accepted,
    /// It ended its session: nothing goes there any more.
    Ended,
}

impl fmt::Debug for Doing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sending(text) => f.debug_tuple("Sending").field(&redacted(text)).finish(),
            Self::Receiving => f.write_str("Receiving"),
            Self::Acting => f.write_str("Acting"),
        }
    }
}

impl fmt::Debug for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `Name { field: value, … }`, as derived, with every message text redacted.

        match self {
            Self::NotSaved { doing, reason } => {
                debug_fields(f, "NotSaved", &[("doing", doing), ("reason", reason)])
            }
            Self::Moved { to } => debug_fields(f, "Moved", &[("to", to)]),
            Self::NameTaken { from } => debug_fields(f, "NameTaken", &[("from", from)]),
            Self::RenamedOntoAnother { from } => {
                debug_fields(f, "RenamedOntoAnother", &[("from", from)])
            }
            Self::VerificationEnded { from, answered } => debug_fields(
                f,
                "VerificationEnded",
                &[("from", from), ("answered", answered)],
            ),
            Self::HandedBack { held_for, text } => debug_fields(
                f,
                "HandedBack",
                &[("held_for", held_for), ("text", &redacted(text))],
            ),
            Self::KnownAs { names } => debug_fields(f, "KnownAs", &[("names", names)]),
            Self::Unrestorable { reason, unsent } => debug_fields(
                f,
                "Unrestorable",
                &[
                    ("reason", reason),
                    ("unsent", &unsent.as_deref().map(redacted)),
                ],
            ),
            Self::RestoredBackup => f.write_str("RestoredBackup"),
            Self::UnacceptedMessage { fingerprint, text } => debug_fields(
                f,
                "UnacceptedMessage",
                &[("fingerprint", fingerprint), ("text", &redacted(text))],
            ),
            Self::SameIrcNick { twin, unsent } => debug_fields(
                f,
                "SameIrcNick",
                &[("twin", twin), ("unsent", &redacted(unsent))],
            ),
            Self::OtherClient { address, what } => {
                debug_fields(f, "OtherClient", &[("address", address), ("what", what)])
            }
            Self::Renamed { from, encrypted } => {
                debug_fields(f, "Renamed", &[("from", from), ("encrypted", encrypted)])
            }
        }
    }
}

impl fmt::Debug for OtherClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `Name { field: value, … }`, as derived, with the message text redacted.

        match self {
            Self::Started => f.write_str("Started"),
            Self::KeyNotAccepted { fingerprint } => {
                debug_fields(f, "KeyNotAccepted", &[("fingerprint", fingerprint)])
            }
            Self::NamesMismatch {
                fingerprint,
                stated_self,
                stated_peer,
            } => debug_fields(
                f,
                "NamesMismatch",
                &[
                    ("fingerprint", fingerprint),
                    ("stated_self", stated_self),
                    ("stated_peer", stated_peer),
                ],
            ),
            Self::UnacceptedMessage { fingerprint, text } => debug_fields(
                f,
                "UnacceptedMessage",
                &[("fingerprint", fingerprint), ("text", &redacted(text))],
            ),
            Self::Accepted => f.write_str("Accepted"),
            Self::Ended => f.write_str("Ended"),
        }
    }
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
    /// Lines for the contact's other clients, each with the name it is addressed to, sent
    /// after `inject`.
    pub elsewhere: Vec<(String, String)>,
    /// `inject` starts a handshake this side asked for (not an answer): where the transport
    /// addresses clients one by one, it goes to the contact's name for every client (an XMPP
    /// bare JID), so that each client of the contact that runs Sotto answers (§3.3).
    pub to_every_client: bool,
    /// The line received was not taken in: its conversation could not be saved and was rolled
    /// back, or it came from a stranger past the account's budget and was dropped unread. A
    /// copy of it later (a redelivery once the store works or the budget's window has passed)
    /// is to be read, not dropped as one already read.
    pub not_taken: bool,
    /// The data message another client's line decrypted, if any (however its line was
    /// encoded), with that client's place: a message shown while its save failed is
    /// remembered by it, not only by its line.
    pub read_message: Option<(u8, crate::protocol::ReadMessage)>,
}

impl Effects {
    /// Marks a start this side asked for (the core said [`Event::HandshakeStarted`]) to go to
    /// every client of the contact.
    pub(crate) fn starts_to_every_client(&mut self, addressable: bool) {
        self.to_every_client = addressable
            && self
                .events
                .iter()
                .any(|e| matches!(e, Event::HandshakeStarted));
    }

    pub(crate) fn absorb(&mut self, inject: Vec<String>, events: Vec<Event>) {
        self.inject.extend(inject);
        self.events.extend(events);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `{:?}` reads as a derived `Debug` would, message texts aside (their length only).
    #[test]
    fn debug_reads_as_derived() {
        let n = Notice::NotSaved {
            doing: Doing::Sending("hi".into()),
            reason: "disk full".into(),
        };
        assert_eq!(
            format!("{n:?}"),
            "NotSaved { doing: Sending(<2 bytes>), reason: \"disk full\" }"
        );
        let n = Notice::OtherClient {
            address: "bob@localhost/desktop".into(),
            what: OtherClient::NamesMismatch {
                fingerprint: "AAAA".into(),
                stated_self: "eve".into(),
                stated_peer: "alice".into(),
            },
        };
        assert_eq!(
            format!("{n:?}"),
            "OtherClient { address: \"bob@localhost/desktop\", what: NamesMismatch { \
             fingerprint: \"AAAA\", stated_self: \"eve\", stated_peer: \"alice\" } }"
        );
        assert_eq!(format!("{:?}", Notice::RestoredBackup), "RestoredBackup");
        assert_eq!(
            format!(
                "{:?}",
                Notice::Unrestorable {
                    reason: "damaged".into(),
                    unsent: None
                }
            ),
            "Unrestorable { reason: \"damaged\", unsent: None }"
        );
    }

    /// No notice prints a message text in `{:?}` (typed, handed back, decrypted).
    #[test]
    fn debug_never_prints_a_message() {
        let secret = "walrus secret words";
        let notices = [
            Notice::NotSaved {
                doing: Doing::Sending(secret.into()),
                reason: "disk full".into(),
            },
            Notice::HandedBack {
                held_for: "bob".into(),
                text: secret.into(),
            },
            Notice::Unrestorable {
                reason: "damaged".into(),
                unsent: Some(secret.into()),
            },
            Notice::UnacceptedMessage {
                fingerprint: "AAAA".into(),
                text: secret.into(),
            },
            Notice::SameIrcNick {
                twin: "bob[x]".into(),
                unsent: secret.into(),
            },
            Notice::OtherClient {
                address: "bob@localhost/desktop".into(),
                what: OtherClient::UnacceptedMessage {
                    fingerprint: "AAAA".into(),
                    text: secret.into(),
                },
            },
        ];
        for n in notices {
            let shown = format!("{n:?}");
            assert!(!shown.contains(secret), "{shown}");
            assert!(
                shown.contains(&format!("<{} bytes>", secret.len())),
                "{shown}"
            );
        }
    }
}
