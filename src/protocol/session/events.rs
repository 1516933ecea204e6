//! What the state machine hands back: the outcomes of sending and receiving, and the [`Event`]s
//! the UI turns into sentences.
//!
//! Reasons inside events are typed, so callers can tell failures apart without parsing text;
//! their `Display` is the exact sentence the plugin shows (end-to-end tests match it).

use core::fmt;

use thiserror::Error;

use crate::protocol::fragment::Lines;
use crate::protocol::handshake::HandshakeError;
use crate::protocol::identity::{Fingerprint, IdentityPublic};
use crate::protocol::ratchet::DecryptError;
use crate::protocol::secret::SecretString;
use crate::protocol::wire::{DecodeError, MessageRef};

/// Why a message was held rather than sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldReason {
    /// The handshake is not finished yet.
    Handshaking,
    /// Policy `always` and no session yet.
    PolicyAlways,
    /// The peer ended the session.
    EndedByPeer,
    /// Sending is blocked (the peer's key changed and the user has not acknowledged it).
    Blocked,
    /// Sending is blocked on a key the user accepted: the names the session's handshake
    /// stated are not the ones this side sees (a relay, or a rename during the handshake),
    /// until the user acknowledges them.
    NamesMismatch,
    /// The peer's client that holds the session went offline (the host saw it go: an XMPP
    /// unavailable presence from its full JID). Lines sent now would reach another client of
    /// the peer that cannot read them, or none: held until a line authenticates in the
    /// session, a handshake completes, or the host sees that client back.
    HolderAway,
}

/// Why a typed message will not be sent ([`Event::Unsent`]): the user is told, with the text
/// (their input box was cleared).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnsentReason {
    /// It was held, and the conversation was ended ([`Conversation::stop`]: the user's `stop`,
    /// or the plugin's at unload for a loaded conversation) before it could go: held text is
    /// handed back, never sent unencrypted.
    ///
    /// [`Conversation::stop`]: super::Conversation::stop
    Stopped,
    /// Longer than [`MAX_PLAINTEXT`](super::MAX_PLAINTEXT) bytes.
    TooLong,
    /// [`MAX_QUEUE`](super::MAX_QUEUE) messages were already held.
    QueueFull,
    /// Its encrypted line would need more pieces than one message may have on this line
    /// limit ([`MAX_FRAGMENTS`](crate::protocol::fragment::MAX_FRAGMENTS)): only a held text
    /// longer than [`MAX_PLAINTEXT`](super::MAX_PLAINTEXT) (a damaged or hostile saved queue)
    /// gets there.
    TooManyPieces,
    /// Typed while sending was held on a key the user had not accepted (a changed key, or
    /// names that did not match), and that hold ended because the contact finished a session
    /// with a key the user accepted: it was typed for whoever held the earlier session, under
    /// its warning, and never goes to this one.
    HoldEnded,
    /// Held while the peer's client that holds the session was away, and taken back by the
    /// user ([`Conversation::give_back_held`]): the session goes on.
    ///
    /// [`Conversation::give_back_held`]: super::Conversation::give_back_held
    GivenBack,
}

/// Something the UI should tell the user about.
///
/// `Debug` is written by hand: it prints the length of a message's text and of a verification
/// question, never the words, so a stray `{:?}` in a log line or a test failure never prints
/// a message (as [`SecretString`]'s does not).
#[derive(Clone, PartialEq, Eq)]
pub enum Event {
    /// We sent a handshake start or a query; waiting for the peer.
    HandshakeStarted,
    /// A handshake asked for here (by the user or the policy) was not finished in time and was
    /// abandoned ([`HANDSHAKE_TIMEOUT_SECS`](super::HANDSHAKE_TIMEOUT_SECS)). Messages still held
    /// stay held (never sent in plaintext): the next message typed, or a start, tries again,
    /// and a late answer to a start of ours completes it (PROTOCOL.md §3.2, "Late answers").
    /// One that only answered the peer's line (which anyone can forge) ends without a word: its
    /// end changes nothing for what is held.
    HandshakeExpired {
        /// Messages still held.
        queued: usize,
        /// A re-key lapsed: the session it would have replaced goes on (nothing is held for
        /// the lapse). `false`: no session, and what is typed is held and the start tried
        /// again (a start of this side lapsed).
        session_goes_on: bool,
    },
    /// The encrypted session is up.
    Started {
        /// The peer's long-term identity key.
        peer: IdentityPublic,
        /// Its fingerprint.
        fingerprint: Fingerprint,
    },
    /// The session ended.
    Ended {
        /// The peer ended it (sending is now held until the user acts).
        by_peer: bool,
    },
    /// A typed message was queued, not sent.
    Held {
        /// Messages now waiting.
        queued: usize,
        /// Why.
        reason: HoldReason,
    },
    /// A previously held message has now been sent encrypted.
    QueuedSent {
        /// What the user had typed.
        text: String,
    },
    /// A message the peer's client could not read (a not-read notice named it) was sent
    /// again: over a new session, or over the same one when the peer's client had it before
    /// the handshake's last line (`same_session`).
    Resent {
        /// What the user had typed.
        text: String,
        /// Sent again over the session it was first sent in (PROTOCOL.md §2.2).
        same_session: bool,
    },
    /// A typed message will not be sent (session ended by the user, queue full, too long, a
    /// hold that ended).
    Unsent {
        /// What the user had typed.
        text: String,
        /// Why.
        why: UnsentReason,
    },
    /// A message the peer's client said it could not read (a not-read notice named it) will
    /// not be sent again by itself: the user ended the conversation, a hold ended (it was
    /// written for whoever held the conversation before), or it was already sent a second
    /// time. Handed back to the user. In memory only: a host that undoes the operation (a
    /// failed save) keeps it waiting to be sent again, as for [`Event::Resent`].
    NotResent {
        /// What the user had typed.
        text: String,
    },
    /// The peer runs Sotto (it sent a query or a handshake message).
    PeerSupportsSotto,
    /// An encrypted message could not be read. No state changed.
    Unreadable {
        /// Why (its `Display` is the sentence to show).
        reason: UnreadableReason,
    },
    /// The peer sent a Sotto error notice (unauthenticated).
    PeerError {
        /// Its text.
        text: String,
    },
    /// A plaintext message arrived while a session was up.
    PlaintextWhileEncrypted,
    /// The peer's client could not read a message we sent (it holds no session with us: another
    /// of the peer's logins, or it lost its state; or the message arrived there incomplete), as
    /// its unauthenticated not-read notice says (PROTOCOL.md §2.2). Nothing changes here; the
    /// user decides.
    NotRead {
        /// The message, when still remembered (in memory, for [`super::SENT_KEPT_SECS`]).
        text: Option<String>,
        /// The notice says some pieces of the message's line never came (`(arrived
        /// incomplete)`, PROTOCOL.md §6), not that no session reads it.
        incomplete: bool,
    },
    /// A handshake message was rejected. No state changed.
    HandshakeFailed {
        /// Why (its `Display` is the sentence to show).
        reason: HandshakeError,
    },
    /// First session with this peer: its key is accepted on first use, unverified.
    NewPeerKey {
        /// The key's fingerprint.
        fingerprint: Fingerprint,
    },
    /// The peer's key is not one accepted before: sending is blocked until the user
    /// acknowledges it
    /// ([`Conversation::acknowledge_peer_key`](super::Conversation::acknowledge_peer_key)).
    PeerKeyChanged {
        /// The new key's fingerprint.
        fingerprint: Fingerprint,
    },
    /// The peer states, inside its authenticated handshake payload, names that are not the ones
    /// we see: someone may be relaying another person's handshake under their own name (or an
    /// IRC nick changed meanwhile). Sending is blocked as for a changed key.
    NamesMismatch {
        /// The name the peer says it has.
        stated_self: String,
        /// The name the peer says it talks to.
        stated_peer: String,
    },
    /// The peer asks us a verification question: the user should answer it
    /// ([`Conversation::answer_question`](super::Conversation::answer_question)).
    VerificationQuestion {
        /// The question, as the peer typed it (plain text, escape before display).
        question: String,
    },
    /// A verification finished.
    VerificationResult {
        /// Both sides used the same answer, in this session.
        success: bool,
        /// We asked (so on success *our* trust in the peer's key may become verified).
        we_asked: bool,
        /// The peer key that was verified (or not).
        peer: IdentityPublic,
    },
    /// The peer abandoned a verification, or one could not proceed.
    VerificationAborted,
    /// Our answer to the peer's question left, and the run ended without the asker's result
    /// (an abort, another question, a new session or the end of this one, from the peer). An
    /// impostor asking only to test a guess stops just here: it learned from the answer whether
    /// its guess was right, and a result would have shown the user a failure.
    VerificationUnconfirmed,
}

use crate::protocol::secret::{debug_fields, redacted};

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `Name { field: value, … }`, as derived.

        match self {
            Event::HandshakeStarted => debug_fields(f, "HandshakeStarted", &[]),
            Event::HandshakeExpired {
                queued,
                session_goes_on,
            } => debug_fields(
                f,
                "HandshakeExpired",
                &[("queued", queued), ("session_goes_on", session_goes_on)],
            ),
            Event::Started { peer, fingerprint } => debug_fields(
                f,
                "Started",
                &[("peer", peer), ("fingerprint", fingerprint)],
            ),
            Event::Ended { by_peer } => debug_fields(f, "Ended", &[("by_peer", by_peer)]),
            Event::Held { queued, reason } => {
                debug_fields(f, "Held", &[("queued", queued), ("reason", reason)])
            }
            Event::QueuedSent { text } => {
                debug_fields(f, "QueuedSent", &[("text", &redacted(text))])
            }
            Event::Resent { text, same_session } => debug_fields(
                f,
                "Resent",
                &[("text", &redacted(text)), ("same_session", same_session)],
            ),
            Event::Unsent { text, why } => {
                debug_fields(f, "Unsent", &[("text", &redacted(text)), ("why", why)])
            }
            Event::NotResent { text } => debug_fields(f, "NotResent", &[("text", &redacted(text))]),
            Event::PeerSupportsSotto => debug_fields(f, "PeerSupportsSotto", &[]),
            Event::Unreadable { reason } => debug_fields(f, "Unreadable", &[("reason", reason)]),
            // A notice's text is on the wire in the clear: nothing secret.
            Event::PeerError { text } => debug_fields(f, "PeerError", &[("text", text)]),
            Event::PlaintextWhileEncrypted => debug_fields(f, "PlaintextWhileEncrypted", &[]),
            Event::NotRead { text, incomplete } => debug_fields(
                f,
                "NotRead",
                &[
                    ("text", &text.as_deref().map(redacted)),
                    ("incomplete", incomplete),
                ],
            ),
            Event::HandshakeFailed { reason } => {
                debug_fields(f, "HandshakeFailed", &[("reason", reason)])
            }
            Event::NewPeerKey { fingerprint } => {
                debug_fields(f, "NewPeerKey", &[("fingerprint", fingerprint)])
            }
            Event::PeerKeyChanged { fingerprint } => {
                debug_fields(f, "PeerKeyChanged", &[("fingerprint", fingerprint)])
            }
            Event::NamesMismatch {
                stated_self,
                stated_peer,
            } => debug_fields(
                f,
                "NamesMismatch",
                &[("stated_self", stated_self), ("stated_peer", stated_peer)],
            ),
            Event::VerificationQuestion { question } => debug_fields(
                f,
                "VerificationQuestion",
                &[("question", &redacted(question))],
            ),
            Event::VerificationResult {
                success,
                we_asked,
                peer,
            } => debug_fields(
                f,
                "VerificationResult",
                &[("success", success), ("we_asked", we_asked), ("peer", peer)],
            ),
            Event::VerificationAborted => debug_fields(f, "VerificationAborted", &[]),
            Event::VerificationUnconfirmed => debug_fields(f, "VerificationUnconfirmed", &[]),
        }
    }
}

/// What to do with the text the user typed.
#[derive(Debug, PartialEq, Eq)]
pub enum SendAction {
    /// No session and the policy allows plaintext: send the text unchanged.
    SendPlaintext,
    /// Send these lines instead of the text, in order (already fragmented).
    Replace(Lines),
    /// Do not send the text now (queued, or refused: see the events).
    Hold,
}

/// Result of [`Conversation::send`](super::Conversation::send).
#[derive(Debug)]
pub struct SendOutcome {
    /// What to do with the typed text.
    pub action: SendAction,
    /// Lines to send first, in order (e.g. a handshake start).
    pub inject: Vec<String>,
    /// What to tell the user.
    pub events: Vec<Event>,
}

/// What to do with an incoming message.
#[derive(Debug, PartialEq, Eq)]
pub enum ReceiveAction {
    /// Not Sotto traffic: show it as is.
    PassThrough,
    /// Sotto traffic with nothing to show: swallow it.
    Swallow,
    /// Decrypted text to show instead (plain UTF-8, to be escaped by the UI).
    Display(SecretString),
}

/// Result of [`Conversation::receive`](super::Conversation::receive) and of the user actions.
#[derive(Debug)]
pub struct ReceiveOutcome {
    /// What to do with the incoming message.
    pub action: ReceiveAction,
    /// Lines to send now, in order.
    pub inject: Vec<String>,
    /// What to tell the user.
    pub events: Vec<Event>,
    /// With a [`ReceiveAction::Display`]: the key of the session that decrypted it, when that
    /// key is not accepted for this name (the current session while sending is held on it, or
    /// a previous session whose key is not among the accepted ones). Such words are shown as
    /// such, never as the contact's. `None` for words of an accepted key (also those of the
    /// previous session that go on arriving while the current one is held).
    pub unaccepted_key: Option<IdentityPublic>,
    /// The session (its id) a data message in this line decrypted in, whatever it carried (a
    /// text, an end, a verification step): the line authenticated there. A line put together
    /// from pieces counts as the line it makes.
    pub read_in: Option<[u8; 4]>,
    /// Whether [`Self::read_in`] is the current session (two sessions may carry one `sid`: a
    /// line the previous session read teaches nothing about the current one's client).
    pub read_in_current: bool,
    /// With [`Self::read_in`]: which data message decrypted, however its line was encoded
    /// (text after the token, pieces): one message, many lines.
    pub read_message: Option<ReadMessage>,
}

/// A data message that decrypted, told apart from any other: the session that decrypted it
/// (its whole handshake hash: a forged session can grind a 4-byte `sid` and ratchet key prefix
/// to match, and knows its own message keys, so it can match a tag too, but not the hash),
/// the message its header names, and its authentication tag. Every encoding of its line
/// (text after the token, pieces) gives the same.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ReadMessage {
    /// Its `sid`, the first 4 bytes of its ratchet key, its index.
    pub id: MessageRef,
    /// The last 16 bytes of its ciphertext: the Poly1305 tag.
    pub tag: [u8; 16],
    /// The handshake hash of the session that decrypted it.
    pub session: [u8; 32],
}

impl fmt::Debug for ReadMessage {
    /// The message's reference only: the handshake hash is not printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadMessage")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl ReceiveOutcome {
    /// Nothing to show, send or tell (yet): the start of every outcome.
    pub(super) fn swallow() -> Self {
        Self {
            action: ReceiveAction::Swallow,
            inject: Vec::new(),
            events: Vec::new(),
            unaccepted_key: None,
            read_in: None,
            read_in_current: false,
            read_message: None,
        }
    }
}

/// Why an encrypted message could not be read ([`Event::Unreadable`]).
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum UnreadableReason {
    /// A Sotto line whose encoding or fields are malformed.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Reassembled fragments that do not form a Sotto line (never shown raw).
    #[error("malformed fragments")]
    MalformedFragments,
    /// Reassembled fragments that form another fragment.
    #[error("nested fragment")]
    NestedFragment,
    /// A data message for neither the current nor the previous session.
    #[error("it belongs to no encrypted session we know (restart the session)")]
    UnknownSession,
    /// A data message for no session we know, while this side waited as responder for the
    /// handshake's last line: it most likely overtook that line, and the peer is asked to send
    /// it again (PROTOCOL.md §2.2).
    #[error("it came before the encrypted conversation was set up; asked for again")]
    BeforeConfirm,
    /// A text message that authenticated but is not UTF-8.
    #[error("not UTF-8 text")]
    NotUtf8,
    /// The ratchet refused the message.
    #[error(transparent)]
    Decrypt(#[from] DecryptError),
    /// A Sotto line with other text in front of it (a service's "EDIT: ", a pin mark, a quoted
    /// or forwarded message): the service changed it, and it is not shown raw.
    #[error("the chat service changed it on the way (text added in front)")]
    Rewritten,
    /// A long line came cut into pieces and some never came (PROTOCOL.md §6 "Lines that do not
    /// complete"): dropped unfinished, unread. Reported at most once per interval for every
    /// line lost since.
    #[error("it arrived incomplete: part of a long message was lost on the way")]
    Incomplete {
        /// The sender's client was asked for the message a first piece named (a not-read
        /// notice went).
        asked: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `{:?}` on an event never prints a message's text or a question (a log line, a test
    /// failure): only its length. Events derived `Debug` and printed them.
    #[test]
    fn debug_never_prints_a_message() {
        let secret = "meet me at the old mill";
        let texts = [
            Event::QueuedSent {
                text: secret.into(),
            },
            Event::Resent {
                text: secret.into(),
                same_session: true,
            },
            Event::Unsent {
                text: secret.into(),
                why: UnsentReason::TooLong,
            },
            Event::NotResent {
                text: secret.into(),
            },
            Event::NotRead {
                text: Some(secret.into()),
                incomplete: true,
            },
            Event::VerificationQuestion {
                question: secret.into(),
            },
        ];
        for event in texts {
            let shown = format!("{event:?} {event:#?}");
            assert!(!shown.contains(secret), "{shown}");
            assert!(shown.contains("<23 bytes>"), "{shown}");
        }
        let outcome = SendOutcome {
            action: SendAction::Hold,
            inject: Vec::new(),
            events: vec![Event::Unsent {
                text: secret.into(),
                why: UnsentReason::QueueFull,
            }],
        };
        assert!(!format!("{outcome:?}").contains(secret));
        // The reason is no secret: it is printed.
        assert_eq!(
            format!(
                "{:?}",
                Event::Unsent {
                    text: secret.into(),
                    why: UnsentReason::Stopped
                }
            ),
            "Unsent { text: <23 bytes>, why: Stopped }"
        );
        assert_eq!(
            format!("{:?}", Event::Ended { by_peer: true }),
            "Ended { by_peer: true }"
        );
        assert_eq!(
            format!(
                "{:?}",
                Event::NotRead {
                    text: None,
                    incomplete: false
                }
            ),
            "NotRead { text: None, incomplete: false }"
        );
        assert_eq!(format!("{:?}", Event::HandshakeStarted), "HandshakeStarted");
    }

    /// The plugin shows these sentences and end-to-end tests match them: they were free text
    /// before the reasons were typed, and must read the same.
    #[test]
    fn reasons_read_as_before() {
        let unreadable = [
            (UnreadableReason::MalformedFragments, "malformed fragments"),
            (UnreadableReason::NestedFragment, "nested fragment"),
            (
                UnreadableReason::UnknownSession,
                "it belongs to no encrypted session we know (restart the session)",
            ),
            (
                UnreadableReason::BeforeConfirm,
                "it came before the encrypted conversation was set up; asked for again",
            ),
            (UnreadableReason::NotUtf8, "not UTF-8 text"),
            (DecodeError::Base64.into(), "malformed encoding"),
            (DecodeError::Malformed.into(), "malformed message"),
            (
                DecryptError::Authentication.into(),
                "message authentication failed",
            ),
            (DecryptError::Duplicate.into(), "duplicate message"),
            (
                DecryptError::TooFarAhead.into(),
                "too many missing messages",
            ),
            (DecryptError::Malformed.into(), "malformed plaintext"),
        ];
        for (reason, text) in unreadable {
            assert_eq!(reason.to_string(), text);
        }
        for (reason, text) in [
            (
                HandshakeError::WrongInstance,
                "handshake message for another instance",
            ),
            (HandshakeError::NonContributory, "invalid public key"),
            (
                HandshakeError::Authentication,
                "handshake authentication failed",
            ),
            (
                HandshakeError::OwnKey,
                "the other side's key is your own: a message of yours was handed back to you",
            ),
            (
                HandshakeError::NonCanonicalKey,
                "invalid identity key encoding",
            ),
        ] {
            assert_eq!(reason.to_string(), text);
        }
    }
}
