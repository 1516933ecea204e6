//! Every sentence Sotto shows the user, one function each: conversation lines, dialog texts,
//! command help (`trust.rs`: the trust dialogs and what they lead to). A translation (as pidgin-otr's `_()`) is a one-file job, and the end-to-end
//! tests' "what the plugin must print" points here.
//!
//! Functions return plain text. Conversation lines are escaped by
//! `ConvRef::system_line` (which adds the "Sotto: " prefix); dialog texts are
//! handed to `purple_request_*` as plain text (Pidgin escapes them itself), with peer-controlled
//! parts already cleaned by the caller. A contact's name comes in as a [`Shown`], cleaned once
//! where it was made.

use crate::protocol::ratchet::DecryptError;
use crate::protocol::session::{HoldReason, MAX_PLAINTEXT, MAX_QUEUE};
use crate::protocol::wire::DecodeError;
use crate::protocol::{ConvState, Event, Policy, UnreadableReason, UnsentReason};
use crate::sessions::nosuchnick::Refusal;
use crate::sessions::siblings::{SiblingState, ALLOWANCE_SECS};
use crate::sessions::{Doing, Notice, OtherClient};
use crate::store::Trust;

use super::state::Quiet;

/// Suffix on the title of an encrypted conversation.
pub(crate) const TITLE_SUFFIX: &str = " (encrypted)";
/// Suffix on the title of a plaintext conversation whose own title (an alias) ends like
/// [`TITLE_SUFFIX`].
pub(crate) const TITLE_NOT_ENCRYPTED: &str = " (NOT encrypted)";
/// Suffix on the title of an encrypted conversation held on a key the user has not accepted
/// for the contact (a changed key, say): what comes in is not shown as the contact's words.
pub(crate) const TITLE_KEY_NOT_ACCEPTED: &str = " (key NOT accepted)";
/// The title's mark for a conversation held on an accepted key because the names its session
/// states are not the ones seen here (see [`TITLE_SUFFIX`]).
pub(crate) const TITLE_NAMES_DIFFER: &str = " (names do NOT match)";

/// Title, primary and secondary text of a dialog.
#[derive(Clone)]
pub(crate) struct Dialog {
    pub title: String,
    pub primary: String,
    pub secondary: String,
}

mod trust;
pub(crate) use trust::*;

/// Longest peer-controlled string put into a line or a dialog.
const MAX_SHOWN: usize = 300;

/// Peer-controlled text (a question, a name, an error notice) made safe to show on one line:
/// control characters and the invisible ones that reorder or hide text (bidi overrides,
/// zero-width characters) become spaces, and it is cut to [`MAX_SHOWN`] characters. So a peer
/// cannot paint a fake second "Sotto: ..." line, or make one word read as another.
pub(crate) fn plain(s: &str) -> String {
    let mut chars = one_line(s);
    let mut out: String = chars.by_ref().take(MAX_SHOWN).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// Peer-controlled text shown between Sotto's quotation marks: [`plain`], with every quotation
/// mark in it (straight, curly, low, guillemets, full-width) made an apostrophe, so that it
/// cannot close Sotto's quotes and go on in Sotto's voice (`hi" (this key matches bob's
/// verified fingerprint) ("`).
pub(crate) fn quotable(s: &str) -> String {
    plain(s)
        .chars()
        .map(|c| if is_quotation_mark(c) { '\'' } else { c })
        .collect()
}

/// The characters a reader takes for a double quotation mark, opening or closing.
fn is_quotation_mark(c: char) -> bool {
    matches!(
        c,
        '"' | '\u{00AB}'
            | '\u{00BB}'
            | '\u{02BA}'
            | '\u{02DD}'
            | '\u{02EE}'
            | '\u{201C}'..='\u{201F}'
            | '\u{2033}'
            | '\u{2036}'
            | '\u{275D}'
            | '\u{275E}'
            | '\u{05F4}'
            | '\u{2760}'
            | '\u{2E42}'
            | '\u{3003}'
            | '\u{301D}'..='\u{301F}'
            | '\u{FF02}'
            | '\u{1F676}'..='\u{1F678}'
    )
}

/// Most names a "you know as" line lists: a key a server had stated under many names (room
/// occupants) cannot fill the window.
const KNOWN_AS_LISTED: usize = 5;

/// The names a key is known under, each as [`Shown`] shows a name (so one cannot pose as a list
/// of others: `x, bob@example.org` is one name, quoted), at most [`KNOWN_AS_LISTED`].
fn known_as(names: &[String]) -> String {
    let mut listed: Vec<String> = names
        .iter()
        .take(KNOWN_AS_LISTED)
        .map(|n| Shown::new(n).to_string())
        .collect();
    if names.len() > KNOWN_AS_LISTED {
        listed.push(format!("{} more", names.len() - KNOWN_AS_LISTED));
    }
    listed.join(", ")
}

/// A client's address (an XMPP resource is free text the server or the contact chooses: `bob@x/
/// phone (Sotto checked: key verified)`) between quotation marks it cannot close.
pub(crate) fn quoted_address(address: &str) -> String {
    format!("\"{}\"", quotable(address))
}

pub(crate) use shown::Shown;

mod shown {
    use std::fmt;

    /// A peer-controlled name as the texts show it, made only by [`Shown::new`]: cleaned by
    /// [`super::plain`] once, where it is made. A text that takes a `Shown` cannot show the
    /// name uncleaned, and a caller that holds one does not clean it again.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub(crate) struct Shown(String);

    impl Shown {
        /// `name` cleaned by [`super::plain`]; between quotation marks it cannot close
        /// ([`super::quoted_address`]) when it holds a space or a quotation mark. Names are
        /// put straight into Sotto's sentences ("bob's fingerprint is …"), and some are free
        /// text: an XMPP group chat's occupant `room@server/nick` named `x's fingerprint is
        /// 1111 … (verified).` read as Sotto's own words (found by a read-only audit).
        /// Addresses and nicks hold neither, and are shown as they are.
        pub(crate) fn new(name: &str) -> Self {
            let cleaned = super::plain(name);
            if cleaned
                .chars()
                .any(|c| c.is_whitespace() || super::is_quotation_mark(c))
            {
                Self(super::quoted_address(name))
            } else {
                Self(cleaned)
            }
        }

        /// `name` as [`Shown::new`] shows it, followed by Sotto's own `suffix` (" (IRC)").
        pub(crate) fn with_suffix(name: &str, suffix: &str) -> Self {
            Self(format!("{}{suffix}", Self::new(name).0))
        }
    }

    impl std::ops::Deref for Shown {
        type Target = str;

        fn deref(&self) -> &str {
            &self.0
        }
    }

    impl fmt::Display for Shown {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            fmt::Display::fmt(self.0.as_str(), f)
        }
    }
}

/// `s` with every character that breaks a line or hides or reorders text replaced by a space:
/// controls (C0, C1: `\n`, `\r`, NEL), the line and paragraph separators U+2028 and U+2029
/// (GTK breaks lines on them too), zero-width and joiner characters, bidi marks, embeddings,
/// overrides and isolates, and the byte order mark.
///
/// Every other space (the no-break, figure, narrow and ideographic spaces: Unicode's space
/// separators, and the blank Braille pattern U+2800) becomes a plain space too, and a run of
/// spaces one space: thousands of no-break spaces would make the window wrap whatever follows
/// them to its left edge, where it reads as a line of its own.
pub(crate) fn one_line(s: &str) -> impl Iterator<Item = char> + '_ {
    let hidden =
        |c: char| c.is_control() || crate::protocol::wire::is_invisible(c) || is_space_separator(c);
    let mut last_space = false;
    s.chars()
        .map(move |c| if hidden(c) { ' ' } else { c })
        .filter(move |&c| {
            let space = c == ' ';
            let keep = !(space && last_space);
            last_space = space;
            keep
        })
}

/// Unicode's space separators (general category Zs) and U+2800, which shows as a blank.
pub(crate) fn is_space_separator(c: char) -> bool {
    matches!(
        c,
        '\u{00A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' | '\u{2800}'
    )
}

/// `text` (several lines, unauthenticated) as one line: blank lines dropped, the others joined
/// by U+23CE, and nothing else that breaks a line or reorders text ([`one_line`]).
pub(crate) fn flat_line(text: &str) -> String {
    let lines = text
        .split(['\n', '\r'])
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join(" \u{23CE} ");
    one_line(&lines).collect()
}

fn dialog(title: &str, primary: String, secondary: String) -> Dialog {
    Dialog {
        title: title.to_owned(),
        primary,
        secondary,
    }
}

// ---- conversation lines about the session -------------------------------------------------

/// The session is up.
pub(crate) fn started(peer: &Shown, fingerprint: &str, verified: bool, logged: bool) -> String {
    let logging = if logged {
        "This conversation is being logged."
    } else {
        "This conversation is not logged."
    };
    let trust = if verified {
        "verified".to_owned()
    } else {
        format!("unverified: compare it with {peer} over another channel")
    };
    format!(
        "encrypted conversation started. {peer}'s fingerprint is {fingerprint} ({trust}). \
         {logging}"
    )
}

/// A typed message was held (written once per wait).
pub(crate) fn held(queued: usize, reason: HoldReason) -> String {
    let why = match reason {
        HoldReason::Handshaking => "until the encrypted session is up",
        HoldReason::PolicyAlways => {
            "until the encrypted session is up (this conversation never sends plaintext)"
        }
        HoldReason::EndedByPeer => "because your contact ended the encrypted conversation",
        HoldReason::Blocked => "until you accept your contact's new key (/sotto accept)",
        HoldReason::NamesMismatch => {
            "until you confirm the session: your contact's key is the one you accepted, but the \
             names their side states are not the ones you see (/sotto accept)"
        }
        HoldReason::HolderAway => {
            "because your contact's client that reads your encrypted messages is not seen online"
        }
    };
    let then = match reason {
        HoldReason::EndedByPeer => {
            "/sotto start sends it encrypted, in order, once the new session is up; /sotto stop \
             gives it back to you instead"
        }
        HoldReason::Blocked | HoldReason::NamesMismatch => {
            "it goes encrypted, in order, once you accept the key; /sotto stop gives it back to \
             you instead"
        }
        HoldReason::Handshaking | HoldReason::PolicyAlways => {
            "it goes encrypted, in order, once the session is up; /sotto stop gives it back to \
             you instead"
        }
        HoldReason::HolderAway => {
            "it goes encrypted, in order, when that client is back; Sotto menu › Stop waiting \
             (or /sotto giveback) gives it back to you, and the encrypted conversation goes on"
        }
    };
    format!("message held {why}; {queued} waiting. Nothing is sent unencrypted: {then}.")
}

/// Sotto is unloaded while `held` messages to `peer` wait for an encrypted conversation.
pub(crate) fn unloaded_with_held(peer: &Shown, held: usize) -> String {
    format!(
        "Sotto was unloaded: the {held} message(s) held for {peer} stay saved, unsent, until it \
         is loaded again. What you type here now is NOT encrypted."
    )
}

/// Sotto is unloaded with messages held for contacts whose window is closed: who, how many.
pub(crate) fn unloaded_with_held_unseen(held: &[(String, usize)]) -> String {
    let list: Vec<String> = held
        .iter()
        .map(|(peer, n)| format!("{peer} ({n})"))
        .collect();
    format!(
        "Messages held for {}: they stay saved, unsent, until Sotto is loaded again. What you \
         type to these contacts now is NOT encrypted, and goes before them.",
        list.join(", ")
    )
}

/// Sotto is unloaded while it kept plaintext from going to `peer` (nothing held).
pub(crate) fn unloaded_unprotected(peer: &Shown) -> String {
    format!("Sotto was unloaded: what you type to {peer} here now is NOT encrypted.")
}

/// A typed message was not sent, and Sotto cannot say more (its conversation could not be had):
/// the text shown back (the input box was cleared).
pub(crate) fn not_sent(text: &str) -> String {
    format!("not sent: {text}")
}

/// A line not sent for a reason libpurple gave (`why`, a command that failed), and the text.
pub(crate) fn not_sent_why(why: &str, text: &str) -> String {
    format!("NOT sent ({}): {text}", plain(why))
}

/// A refusal of a typed message, with the message shown back: Pidgin and Finch cleared the
/// input box, so a refusal without it lost what was typed (found by a read-only audit).
pub(crate) fn with_message(refusal: &str, text: &str) -> String {
    format!("{refusal} Your message: {text}")
}

/// A refused command (its error line), with the command as typed shown back: the input box
/// is cleared when a command fails.
pub(crate) fn with_command(refusal: &str, typed: &str) -> String {
    format!("{refusal} You typed: {typed}")
}

/// A typed line that reads as a `/sotto` command libpurple did not run
/// ([`super::commands::mistyped_command`]), shown back, not sent.
pub(crate) fn command_not_run(text: &str) -> String {
    not_sent_why(
        "it reads as a Sotto command, and none was run: a command is typed at the very start \
         of the line, in lower case, as /sotto help",
        text,
    )
}

/// A line typed in a group chat's window that reads as a `/sotto` command
/// ([`super::commands::mistyped_command`]): shown back, not sent to the room.
pub(crate) fn command_not_run_in_a_chat(text: &str) -> String {
    not_sent_why(
        "it reads as a Sotto command: Sotto encrypts one-to-one conversations, and its \
         commands work only there, not in group chats",
        text,
    )
}

/// A typed message will not be sent ([`Event::Unsent`]): why, what to do, and the text shown
/// back (the input box was cleared).
pub(crate) fn unsent(peer: &Shown, why: UnsentReason, text: &str) -> String {
    match why {
        UnsentReason::Stopped => format!(
            "not sent: it was held, and the encrypted conversation with {peer} was ended before \
             it could go (held messages are never sent unencrypted). Send it again if it still \
             matters: {text}"
        ),
        UnsentReason::TooLong => format!(
            "message NOT sent: it is longer than Sotto can send in one message ({} KiB); split \
             it and send the parts: {text}",
            MAX_PLAINTEXT / 1024
        ),
        UnsentReason::QueueFull => format!(
            "message NOT sent: {MAX_QUEUE} messages already wait to be sent encrypted to \
             {peer}, the most Sotto holds. They go when the encrypted conversation is up \
             (after a changed key, once you accept it); send this one again then, or have \
             them back with /sotto stop: {text}"
        ),
        UnsentReason::TooManyPieces => format!(
            "message NOT sent: encrypted, it would need more pieces than Sotto sends for one \
             message on this chat service (its lines are short); split it and send the parts: \
             {text}"
        ),
        UnsentReason::HoldEnded => format!(
            "not sent (it was typed while another key was shown, or a names warning, for \
             {peer}; that hold ended when {peer} came back with the key you accepted, and \
             nothing typed under its warning is sent). Send it again if you mean it for {peer}: \
             {text}"
        ),
        UnsentReason::GivenBack => format!(
            "not sent: you took it back while {peer}'s client that reads your encrypted messages \
             was away (the encrypted conversation goes on). Send it again if it still matters: \
             {text}"
        ),
    }
}

/// How to write to `peer` (already cleaned) unencrypted, as a sentence: `/sotto stop`, unless
/// the contact's policy is 'always' (`always`), which `/sotto stop` does not lift (what is
/// typed next just starts a new encrypted conversation and waits again).
fn to_plaintext(peer: &str, always: bool) -> String {
    if always {
        format!(
            "Your setting for {peer} is 'always' (never unencrypted): to write to {peer} \
             unencrypted, choose another (/sotto policy, or Sotto › Settings for this contact...), then /sotto \
             stop."
        )
    } else {
        format!("/sotto stop allows plaintext to {peer}.")
    }
}

/// Typed text with an image in it, refused: the image cannot go encrypted (only the words
/// would have, while the window showed the image as sent). `always`: the contact's policy is
/// 'always' (`/sotto stop` alone does not let it go unencrypted).
pub(crate) fn image_not_sent(peer: &Shown, text: &str, always: bool) -> String {
    let unencrypted = if always {
        format!(
            "; your setting for {peer} is 'always' (never unencrypted): to send it \
             unencrypted, choose another (/sotto policy, or Sotto › Settings for this contact...), then /sotto \
             stop"
        )
    } else {
        ", or end encryption (/sotto stop) to send it unencrypted".to_owned()
    };
    // An image alone has no words to show back.
    let text = text.trim();
    let shown = if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    };
    format!(
        "message NOT sent: images cannot be sent encrypted (only its words would have gone). \
         Send the words without the image{unencrypted}{shown}"
    )
}

/// A message the contact's client said it could not read, not sent again by itself
/// ([`crate::protocol::Event::NotResent`]).
pub(crate) fn not_resent(peer: &Shown, text: &str) -> String {
    format!(
        "{peer}'s client said it could not read this message, and it is not sent again by \
         itself (the conversation ended or changed hands, it was already sent twice, or more \
         than 32 messages waited to be sent again): send \
         it again yourself if it still matters: {text}"
    )
}

/// The plugin unloads while `text`, which `peer`'s client said it could not read, waited to be
/// sent again with the next session (in memory only).
pub(crate) fn unloaded_not_resent(peer: &Shown, text: &str) -> String {
    format!(
        "Sotto was unloaded: this message, which {peer}'s client said it could not read, is \
         NOT sent again by itself; send it again yourself if it still matters: {text}"
    )
}

/// The same for conversations with no window open: one box, each contact with its texts.
pub(crate) fn unloaded_not_resent_unseen(
    waiting: &[(String, Vec<crate::protocol::SecretString>)],
) -> String {
    let mut out = String::from(
        "Sotto was unloaded while these messages, which the contact's client said it could not \
         read, waited to be sent again; they are NOT sent again by themselves: send them again \
         yourself if they still matter.",
    );
    for (peer, texts) in waiting {
        for text in texts {
            out.push_str(&format!("\n{peer}: {}", text.as_str()));
        }
    }
    out
}

/// A held message whose encrypted line the protocol did not take (offline?).
pub(crate) fn not_sent_offline(text: &str) -> String {
    format!("NOT sent (the connection did not take it; offline?): {text}")
}

/// A protocol refused a line of Sotto's as too large: the line went in smaller pieces, and
/// its lines are cut smaller from now on (until Sotto is loaded again).
pub(crate) fn lines_cut_smaller(protocol: &str, refused: usize, now: usize) -> String {
    format!(
        "{protocol} took no line of {refused} characters (too large for it): Sotto now cuts \
         its lines there to {now} characters."
    )
}

/// A typed message whose line the protocol did not take: as too large (and it could not be
/// cut smaller), or else (offline?).
pub(crate) fn not_sent_refused(text: &str, too_large: bool) -> String {
    if too_large {
        format!(
            "NOT sent (the connection refused it as too large, even cut into smaller pieces): \
             {text}"
        )
    } else {
        not_sent_offline(text)
    }
}

/// The user's start did not go out (the connection did not take it).
pub(crate) fn start_not_sent(peer: &Shown) -> String {
    format!(
        "the start of the encrypted conversation was NOT sent to {peer} (the connection did \
         not take it; offline?): start again once connected (/sotto start)."
    )
}

/// The user ended the conversation, but the end did not go out: the contact's client keeps
/// its session and encrypts to it.
pub(crate) fn end_not_told(peer: &Shown) -> String {
    format!(
        "{peer}'s client was NOT told that the encrypted conversation ended (the connection \
         did not take it; offline?): what {peer} sends in it can no longer be read here, and \
         {peer}'s client is told so when it arrives. Start again with /sotto start."
    )
}

/// A key dialog's Accept chosen too soon after it opened (`dialogs::ARMED`): maybe by a key
/// meant for the conversation. Nothing was accepted (`other_client`: the key of another client
/// of the contact).
pub(crate) fn accept_too_soon(peer: &Shown, fingerprint: &str, other_client: bool) -> String {
    let whose = if other_client {
        format!("of {peer}'s other client")
    } else {
        format!("for {peer}")
    };
    format!(
        "the key {fingerprint} {whose} was NOT accepted: Accept was chosen a moment after its \
         dialog opened, maybe by a key you were typing for the conversation. Nothing changed. \
         Read the dialog's warning; to accept the key still, type /sotto accept {first}.",
        first = crate::sessions::trust::accept_prefix(fingerprint)
    )
}

/// Decline in a dialog that showed an earlier question of the contact's, who asks `current`
/// now: nothing was declined.
pub(crate) fn not_declined(peer: &Shown, current: &str) -> String {
    let current = quotable(current);
    format!(
        "nothing was declined: {peer} asked another question since that dialog opened: \
         \"{current}\". Reply with /sotto answer <your answer> (alone: in a dialog), or \
         /sotto cancel."
    )
}

/// The contact's key is not the one accepted before.
pub(crate) fn key_changed(peer: &Shown, fingerprint: &str) -> String {
    format!(
        "WARNING: {peer}'s key changed; the new fingerprint is {fingerprint}. This can be a new \
         device or someone in the middle. Your messages are held: check the fingerprint with \
         {peer} over another channel, then type /sotto accept {first} (or /sotto stop).",
        first = crate::sessions::trust::accept_prefix(fingerprint)
    )
}

/// The contact states other names than the ones we see (a relay, or a nick that changed).
pub(crate) fn names_mismatch(
    peer: &Shown,
    me: &Shown,
    stated_self: &str,
    stated_peer: &str,
    fingerprint: &str,
) -> String {
    let first = crate::sessions::trust::accept_prefix(fingerprint);
    let name = |n: &str| {
        if n.is_empty() {
            "(no name)".to_owned()
        } else {
            quotable(n)
        }
    };
    let (stated_self, stated_peer) = (name(stated_self), name(stated_peer));
    format!(
        "WARNING: names do not match. Inside the encrypted handshake, the contact you see as \
         {peer} says they are \"{stated_self}\" and that they are writing to \"{stated_peer}\" \
         (you are {me}). Someone may be passing another person's conversation on under their \
         own name. Your messages are held. If you expected this (a nick changed meanwhile), \
         /sotto accept {first}; otherwise /sotto stop, and verify {peer} (/sotto verify)."
    )
}

/// The names-mismatch dialog.
pub(crate) fn names_mismatch_dialog(
    peer: &Shown,
    me: &Shown,
    stated_self: &str,
    stated_peer: &str,
) -> Dialog {
    dialog(
        "Sotto: names do not match",
        format!("{peer} says they are \"{stated_self}\""),
        format!(
            "Inside the encrypted handshake, the contact you see as {peer} states that they are \
             \"{stated_self}\" and that they are writing to \"{stated_peer}\". You are {me}.\n\n\
             This happens when someone passes another person's conversation on under their own \
             name: you would be talking to \"{stated_self}\" while seeing {peer}. It also \
             happens when an IRC nick changed while the conversation started.\n\n\
             Until you decide, what you type to {peer} is held, not sent. Accept only if you \
             know why the names differ."
        ),
    )
}

/// The contact asks a verification question.
pub(crate) fn question_asked(peer: &Shown, question: &str, dialog: bool) -> String {
    let question = quotable(question);
    let (reply, dialog) = where_to_answer(dialog);
    format!(
        "{peer} asks you a question, to check that this encrypted session is with you: \
         \"{question}\". {reply}, or {dialog}. (Answering proves you to {peer}; it does not \
         check {peer}'s key.)"
    )
}

/// Where to answer the contact's question: the command, and the dialog (open, or not opened
/// for a question asked while others went unanswered: `AnswerDialogs::may_open`).
fn where_to_answer(dialog: bool) -> (&'static str, &'static str) {
    (
        "Reply with /sotto answer <your answer>",
        if dialog {
            "in the dialog"
        } else {
            "type /sotto answer alone for a dialog (while you answer none, questions open \
             their dialog only now and then: each takes your keyboard)"
        },
    )
}

/// `/sotto verify` that sent no question (no settled encrypted session, or offline).
pub(crate) fn question_not_sent(peer: &Shown) -> String {
    format!(
        "the question was not sent: there is no encrypted session with {peer} to ask it in yet \
         (or a new one is starting), the client of {peer} that holds the session went offline \
         (what you type waits for it too), or the connection did not take it. Ask again once \
         the conversation is encrypted and {peer} is back."
    )
}

/// A verification question arrives in a session whose key the user has not accepted.
pub(crate) fn question_asked_unaccepted(peer: &Shown, question: &str, dialog: bool) -> String {
    let question = quotable(question);
    let no_dialog = if dialog {
        ""
    } else {
        " (No dialog opened for it: while you answer none, questions open their dialog only \
         now and then; /sotto answer alone opens one.)"
    };
    format!(
        "a key NOT accepted for {peer} asks you a question: \"{question}\". Whoever holds it is \
         not known to be {peer}: do not answer with a secret you share with {peer}. Answering \
         does not check this key; to check it, ask your own question (/sotto verify).{no_dialog}"
    )
}

/// An answer typed in a dialog that showed an earlier question of the contact's.
pub(crate) fn question_changed(peer: &Shown, current: &str) -> String {
    let current = quotable(current);
    format!(
        "{peer} asked another question since that dialog opened; your answer was not sent. \
         The question now: \"{current}\". Reply with /sotto answer <your answer>, or in the \
         dialog."
    )
}

/// The line for an event that needs no more than a line (`None`: nothing to show).
pub(crate) fn event(peer: &Shown, event: &Event) -> Option<String> {
    Some(match event {
        Event::HandshakeStarted => format!("starting an encrypted conversation with {peer}…"),
        Event::HandshakeExpired {
            queued: 0,
            session_goes_on: true,
            ..
        } => format!(
            "the new encrypted session with {peer} did not start (no answer in time); the \
             current one goes on."
        ),
        Event::HandshakeExpired {
            queued,
            session_goes_on: true,
            ..
        } => format!(
            "the new encrypted session with {peer} did not start (no answer in time); the \
             current one goes on, and {queued} message(s) stay held as before."
        ),
        Event::HandshakeExpired { queued: 0, .. } => format!(
            "the encrypted conversation with {peer} did not start (no answer in time). What you \
             type to {peer} is held, never sent unencrypted, and the start is tried again; \
             /sotto stop ends the attempt (what you type then goes unencrypted, unless the \
             policy is 'always')."
        ),
        Event::HandshakeExpired { queued, .. } => format!(
            "the encrypted conversation with {peer} did not start (no answer in time). {queued} \
             message(s) stay held, never sent unencrypted: they go if {peer} answers later, and \
             what you type next tries again (/sotto start does too; /sotto stop gives them back \
             to you)."
        ),
        Event::Ended { by_peer: true } => format!(
            "{peer} ended the encrypted conversation. What you type now is held: /sotto start \
             to encrypt again (held messages then go), or /sotto stop to end it here too (held \
             messages are then given back to you)."
        ),
        Event::Ended { by_peer: false } => {
            "encrypted conversation ended. What you type now goes unencrypted, unless the \
             policy is 'always' (then it waits for a new encrypted conversation)."
                .to_owned()
        }
        Event::Unreadable { reason } => unreadable(peer, *reason),
        Event::PeerError { text } => format!(
            "{peer}'s Sotto reported an error (unauthenticated): \"{}\"",
            quotable(text)
        ),
        Event::PlaintextWhileEncrypted => {
            format!("the next message from {peer} was NOT encrypted.")
        }
        Event::NotRead {
            text: Some(text),
            incomplete: true,
        } => format!(
            "{peer}'s client could not read your message \"{text}\": it arrived there \
             incomplete (part of it was lost on the way; it says so unauthenticated). It is sent \
             again by itself as soon as a new encrypted conversation is up: /sotto start starts \
             one. (Only while this program runs: if you quit first, send it again yourself.)",
            text = plain(text)
        ),
        Event::NotRead {
            text: Some(text),
            incomplete: false,
        } => format!(
            "{peer}'s client could not read your message \"{text}\": that client holds no \
             encrypted conversation with you (another of {peer}'s logins, or it lost its state; \
             it says so unauthenticated). It is sent again by itself as soon as a new encrypted \
             conversation is up: /sotto start reaches the client {peer} uses now. (Only while \
             this program runs: if you quit first, send it again yourself.)",
            text = plain(text)
        ),
        Event::Resent {
            text,
            same_session: false,
        } => format!(
            "sent again over the new encrypted conversation (it had not been read): \"{text}\"",
            text = plain(text)
        ),
        Event::Resent {
            text,
            same_session: true,
        } => format!(
            "sent again: {peer}'s client had it before the encrypted conversation was set up \
             (the two crossed on the way) and could not read it: \"{text}\"",
            text = plain(text)
        ),
        Event::NotRead {
            text: None,
            incomplete: true,
        } => format!(
            "{peer}'s client could not read a message you sent earlier: it arrived there \
             incomplete (part of it was lost on the way; it says so unauthenticated). Which one \
             is no longer known here: send it again if it mattered."
        ),
        Event::NotRead {
            text: None,
            incomplete: false,
        } => format!(
            "{peer}'s client could not read a message you sent earlier: that client holds no \
             encrypted conversation with you (it says so unauthenticated). /sotto start to \
             reach the client {peer} uses now."
        ),
        Event::HandshakeFailed { reason } => {
            format!("could not start the encrypted conversation: {reason}")
        }
        // Trust on first use; accepted keys are recorded by the sessions service.
        Event::NewPeerKey { .. } => format!(
            "{peer}'s key is new to Sotto: accepted on first use, not verified yet \
             (/sotto verify)."
        ),
        Event::VerificationResult {
            success: true,
            we_asked: true,
            ..
        } => format!(
            "verification succeeded: {peer} gave the answer you expected in this encrypted \
             session; their key is now verified."
        ),
        // The asker chose the question and the answer: this proves us to them, not them to us.
        Event::VerificationResult { success: true, .. } => format!(
            "verification succeeded for {peer}: you gave the answer they expected, so they can \
             trust your key. It does not check theirs: for that, ask a question of your own \
             (/sotto verify QUESTION | ANSWER)."
        ),
        Event::VerificationResult { success: false, .. } => format!(
            "verification FAILED: the answers differ. Do not trust this session with {peer} \
             until you have checked fingerprints."
        ),
        Event::VerificationAborted => "verification did not complete.".to_owned(),
        Event::VerificationUnconfirmed => format!(
            "verification did not complete: {peer} did not say whether your answers matched \
             (the run ended after your answer, before its result). Someone asking only to test \
             a guess at your answer would stop just here: do not answer that question again \
             until you have checked with {peer} another way (by phone, in person)."
        ),
        // Recorded in the store; nothing to show.
        Event::PeerSupportsSotto => return None,
        // Written by the presenter with more than a line (or a dialog).
        Event::Started { .. }
        | Event::Held { .. }
        | Event::QueuedSent { .. }
        | Event::Unsent { .. }
        | Event::NotResent { .. }
        | Event::PeerKeyChanged { .. }
        | Event::NamesMismatch { .. }
        | Event::VerificationQuestion { .. } => return None,
    })
}

/// An encrypted message could not be read ([`Event::Unreadable`]): why, and what to do where
/// the reason does not say it. Most such lines are unauthenticated (anyone can send one): the
/// step is for a message of the contact's that is missing, and a restart only if it goes on.
fn unreadable(peer: &Shown, reason: UnreadableReason) -> String {
    let next = match reason {
        // Told from its header alone, before anything authenticates it (an exact copy of a
        // line read is dropped before it gets here): a replay, a line made to look like one, or
        // a real message so late that its key was given up.
        UnreadableReason::Decrypt(DecryptError::Duplicate) => {
            return format!(
                "an encrypted message from {peer} came at a place in the conversation already \
                 used (a copy of one already read, or a line made to look like one); it is not \
                 shown. If a message from {peer} is missing, ask them to send it again."
            )
        }
        // Authenticated: the contact's own client wrote it so (a newer or broken one); asked
        // for again it would come the same way.
        UnreadableReason::NotUtf8 | UnreadableReason::Decrypt(DecryptError::Malformed) => {
            format!(
                " {peer}'s client sent it in a form this Sotto cannot show: if it goes on, one \
                 of you may need to update Sotto."
            )
        }
        // The reason says what to do (restart), or that it was asked for again.
        UnreadableReason::UnknownSession | UnreadableReason::BeforeConfirm => String::new(),
        // Its first piece named it: the sender's client was told which message it was.
        UnreadableReason::Incomplete { asked: true } => format!(
            " {peer}'s client was asked for it: if it still has the message, it tells {peer} \
             and sends it again with the next encrypted conversation (/sotto start)."
        ),
        UnreadableReason::Incomplete { asked: false } => {
            format!(" If a message from {peer} is missing, ask them to send it again.")
        }
        UnreadableReason::Decode(DecodeError::UnknownVersion(_)) => format!(
            " To read such messages, {peer} and you need versions of Sotto that speak the same \
             protocol: update the older one."
        ),
        UnreadableReason::Rewritten => format!(
            " If a message from {peer} is missing, ask them to send it again (not quoted, edited \
             or forwarded)."
        ),
        // Asked for again, it would be as far ahead (its index is checked before anything
        // authenticates it: anyone can send one, so only a restart if messages are missing).
        UnreadableReason::Decrypt(DecryptError::TooFarAhead) => format!(
            " If messages from {peer} are missing, restart the encrypted conversation (/sotto \
             start), then ask them to send those again."
        ),
        _ => format!(
            " Anyone on the way can send such lines. If a message from {peer} is missing, ask \
             them to send it again; if this keeps happening, restart the encrypted conversation \
             (/sotto start)."
        ),
    };
    format!("an encrypted message from {peer} could not be read ({reason}).{next}")
}

/// A line of a kind kept quiet in floods, saying how many of that kind were not written
/// before it.
pub(crate) fn with_unreported(line: String, kind: Quiet, unreported: usize) -> String {
    if unreported == 0 {
        return line;
    }
    let what = match kind {
        Quiet::Unreadable => "more could not be read",
        Quiet::PeerError => "more such reports came",
        Quiet::HandshakeFailed => "more attempts failed",
        Quiet::Undelivered => "more came back",
        Quiet::Unrestorable => "more encrypted lines came and were not read",
    };
    format!("{line} ({unreported} {what} since the last such line.)")
}

/// A line of ours to `peer` came back undelivered (an XMPP error with `condition`, the
/// server's reason; an IRC 401, [`NO_SUCH_NICK`]): with its `text` when that is still
/// remembered.
pub(crate) fn undelivered(peer: &Shown, text: Option<&str>, condition: &str) -> String {
    let why = if condition.is_empty() {
        String::new()
    } else {
        format!(" (the server said: {condition})")
    };
    match text {
        Some(text) => format!(
            "your encrypted message to {peer} was NOT delivered{why}: \"{text}\". It is not \
             sent again by itself."
        ),
        None => format!(
            "an encrypted message to {peer} was NOT delivered{why}; which one is no longer \
             known."
        ),
    }
}

/// The reason [`undelivered`] gives for a line an IRC server answered with numeric 401
/// (`ERR_NOSUCHNICK`): the nick is not on the server.
pub(crate) const NO_SUCH_NICK: &str = "no such nick";

/// The reason [`undelivered`] gives for a line an IRC server refused with `why`.
pub(crate) fn irc_refusal(why: Refusal) -> &'static str {
    match why {
        Refusal::NoSuchNick => NO_SUCH_NICK,
        Refusal::IdentifiedOnly => {
            "this nick takes private messages only from users identified to services"
        }
        Refusal::CannotSendToUser => "you may not send private messages to this user",
        Refusal::CallerId => "this nick ignores messages from users it has not accepted (+g)",
        Refusal::RegisteredOnly => {
            "this nick takes private messages only from users identified to a registered account"
        }
        Refusal::TargetChangeTooFast => {
            "the server drops messages to new nicks for a while when you write to many in a row: \
             wait a minute, then send it again"
        }
    }
}

/// An encrypted message to `peer` on IRC will take a while to arrive: it goes out in
/// `pieces` lines, and libpurple's rate limiter (with what waits ahead of it) lets its last
/// one leave in about `seconds`.
pub(crate) fn slow_to_arrive(peer: &Shown, pieces: usize, seconds: u64) -> String {
    let what = if pieces > 1 {
        format!("your message to {peer} goes out in {pieces} pieces")
    } else {
        format!("your message to {peer} waits behind the ones before it")
    };
    format!(
        "{what}, and the IRC connection sends only a few lines at a time, so {peer} will have \
         it in about {seconds} seconds. If the connection drops while pieces of it still wait \
         here, this window says so and gives the text back (a piece already sent can still be \
         lost on the way: {peer}'s Sotto then reports the message incomplete)."
    )
}

/// The connection went while `waiting` of the `pieces` lines of an encrypted message to
/// `peer` still waited in libpurple's queue, which dropped them: the contact cannot read it.
/// With its `text` while it is kept. When some pieces went, the contact's Sotto reports the
/// message incomplete and this one sends it again with the next session (the not-read
/// notice's rule, PROTOCOL.md §6): the user is told not to type it again (two copies); when
/// none went, the contact knows nothing of it, and only the user can send it again.
pub(crate) fn not_delivered_in_full(
    peer: &Shown,
    waiting: usize,
    pieces: usize,
    text: Option<&str>,
) -> String {
    let some_went = waiting < pieces;
    let what = if some_went {
        format!(
            "NOT delivered in full: the connection dropped while {waiting} of its {pieces} \
             pieces were still waiting to go out, so {peer} cannot read it"
        )
    } else {
        "NOT delivered: the connection dropped before any of it went out".to_owned()
    };
    let then = if some_went {
        format!(
            "When {peer}'s Sotto reports it incomplete, a line here says so and Sotto sends it \
             again with the next encrypted conversation: then do not type it again (it would \
             reach {peer} twice). If no such line comes within a few minutes of being back \
             online, send it again yourself"
        )
    } else {
        "Send it again once you are connected; Sotto does not send it again by itself".to_owned()
    };
    match text {
        Some(text) => format!("your encrypted message to {peer} was {what}: \"{text}\". {then}."),
        None => format!(
            "your encrypted message to {peer} was {what}. {then}. Its text is no longer kept \
             here: look for it above."
        ),
    }
}

/// Sotto stops while `waiting` lines of an encrypted message to `peer` still wait in
/// libpurple's queue: they still go, but nothing follows them any more.
pub(crate) fn still_going_out(peer: &Shown, waiting: usize) -> String {
    format!(
        "being turned off while an encrypted message of yours to {peer} is still going out \
         ({waiting} pieces left to send). They still go, but if the connection drops before \
         they are out, {peer} will not get the message, and nothing will tell you."
    )
}

/// A handshake line or query of ours to `peer` came back from the IRC server: `peer` is not on
/// it (numeric 401), or the server refused it (`why`). The start is left as it is: it lapses
/// as an unanswered one.
pub(crate) fn start_not_delivered(peer: &Shown, why: Refusal) -> String {
    if why == Refusal::NoSuchNick {
        return format!(
            "a line starting the encrypted conversation with {peer} was NOT delivered (the \
             server said: {NO_SUCH_NICK}): {peer} is not on the server now, and the \
             conversation cannot start until {peer} is back."
        );
    }
    format!(
        "a line starting the encrypted conversation with {peer} was NOT delivered (the server \
         said: {}): the conversation cannot start while the server refuses your lines to \
         {peer}.",
        irc_refusal(why)
    )
}

/// A message shown as ours, sent from another of our clients in plaintext, in an encrypted
/// conversation with `peer`.
pub(crate) fn remote_plaintext(peer: &Shown) -> String {
    format!(
        "the next message shown as yours was NOT encrypted: it was sent to {peer} from another \
         of your clients (or the server says so), not through this encrypted conversation."
    )
}

/// A message written into an encrypted conversation's window as received from `peer` that
/// never passed Sotto (written by the protocol or another plugin, not received through it).
pub(crate) fn received_unread(peer: &Shown) -> String {
    format!(
        "the next message shown as from {peer} was NOT encrypted: it was written into this \
         window without passing through Sotto (by the protocol or another plugin), so nothing \
         says who wrote it."
    )
}

/// A notice of the sessions service. `always`: the policy of the conversation whose
/// `/sotto stop` the notice would offer as the way to plaintext is 'always' (the contact's; for
/// [`Notice::SameIrcNick`], the other spelling's): it says how to lift that instead.
pub(crate) fn notice(peer: &str, notice: &Notice, always: bool) -> String {
    // The name as it came, to compare with another name as it came (`SameIrcNick`).
    let raw_peer = peer;
    let peer = &Shown::new(peer);
    match notice {
        Notice::NotSaved { doing, reason } => {
            let what = match doing {
                Doing::Sending(text) => format!("message NOT sent ({text})"),
                Doing::Receiving => format!("{peer}'s message was read but nothing was answered"),
                Doing::Acting => "nothing was done or sent".to_owned(),
            };
            format!(
                "{what}: Sotto could not save its encryption state ({reason}), and it sends \
                 nothing it has not saved. Check the disk and the permissions of ~/.purple/sotto."
            )
        }
        Notice::Moved { to } => {
            let to = Shown::new(to);
            format!(
                "your encrypted conversation with {peer} moved to {to} when they were renamed. \
             {peer} may be someone else now, so nothing is sent here unencrypted: what you type \
             is held and an encrypted conversation is started, checked against the key you \
             accepted for {peer}. {plaintext}",
                plaintext = to_plaintext(peer, always)
            )
        }
        Notice::NameTaken { from } => {
            let who = match from.as_deref().map(Shown::new) {
                Some(from) => format!("{from} is now known as {peer}, a name"),
                None => format!("the name {peer}"),
            };
            format!(
                "{who} that had an encrypted conversation with another contact (kept, unused). \
                 {peer} may be someone else now, so nothing is sent here unencrypted: what you \
                 type is held and an encrypted conversation is started, checked against the key \
                 you accepted for {peer}. {plaintext}",
                plaintext = to_plaintext(peer, always)
            )
        }
        // Held for the name this window now has: its earlier holder's, the name another's now.
        Notice::HandedBack { held_for, text } if held_for.eq_ignore_ascii_case(raw_peer) => {
            format!(
                "message NOT sent ({text}): it was typed for the earlier {peer}, and that \
                 name now belongs to another contact; nothing waiting is sent to another \
                 contact. Type it again where you mean it to go.",
                text = plain(text)
            )
        }
        Notice::HandedBack { held_for, text } => format!(
            "message NOT sent ({text}): it was typed for whoever held the name {held_for}, which \
             is {peer} now; nothing waiting is sent to another name. Type it again where you \
             mean it to go.",
            held_for = Shown::new(held_for),
            text = plain(text)
        ),
        Notice::VerificationEnded { from, answered } => {
            let from = Shown::new(from);
            let warning = if *answered {
                format!(
                    " You had answered {from}'s question, and no result came: someone testing \
                     a guess at your answer would stop just there (a rename ends the run as \
                     well as an abort does). Do not answer that question again until you have \
                     checked another way (by phone, in person)."
                )
            } else {
                String::new()
            };
            format!(
                "the question-and-answer verification with {from} ended unfinished: a check made \
                 with {from} says nothing about {peer}. Ask again to verify {peer}.{warning}"
            )
        }
        Notice::RenamedOntoAnother { from } => format!(
            "{from} is now known as {peer}, a name whose accepted key is another contact's. The \
             conversation keeps {from}'s key, but nothing you type is sent until you accept that \
             key for {peer} (type /sotto accept to see its fingerprint and how) or /sotto \
             stop.",
            from = Shown::new(from)
        ),
        Notice::KnownAs { names } => format!(
            "this key is the one you know as {}. If {peer} is not that contact, someone may be \
             relaying their conversation: verify before you trust it.",
            known_as(names)
        ),
        Notice::Renamed {
            from,
            encrypted: true,
        } => format!(
            "{from} is now known as {peer}; the encrypted conversation continues with the same \
             key.",
            from = Shown::new(from)
        ),
        Notice::Renamed {
            from,
            encrypted: false,
        } => format!("{from} is now known as {peer}.", from = Shown::new(from)),
        Notice::RestoredBackup => format!(
            "Sotto's store is not the one it last used here (restored from a backup, copied or \
             moved): the keys it held for {peer} may have been used already, so they were \
             dropped unused. Until a new encrypted conversation is up (checked against the key \
             you accepted), what you type is held. If it was restored from a backup, keys \
             accepted, verified or forgotten since then are as they were, and messages that \
             waited then wait again: check /sotto status and /sotto fingerprints."
        ),
        Notice::UnacceptedMessage { fingerprint, text } => {
            // Its words on one line, cut as other peer text: a line break, or a wrap after a
            // long run of blanks, cannot paint a line of Sotto's own; nor can a quotation mark
            // close Sotto's quotes.
            let text = quotable(text);
            format!(
                "a message came with a key not accepted for {peer} (fingerprint {fingerprint}: a \
                 changed key, or names that do not match), so it is not shown as {peer}'s words; \
                 it reads: \"{text}\" (/sotto accept {fingerprint} once you have checked the key \
                 with {peer})."
            )
        }
        Notice::OtherClient { address, what } => other_client(peer, address, what),
        Notice::SameIrcNick { twin, unsent } if twin == raw_peer => format!(
            "message NOT sent ({unsent}): Sotto could not read which of your IRC conversations \
             are encrypted (its store did not answer), and another spelling of {peer} may be \
             one of them. Try again in a moment."
        ),
        Notice::SameIrcNick { twin, unsent } => {
            let twin = Shown::new(twin);
            let instead = if always {
                format!(
                    "Write in the conversation with {twin} (your setting for {twin} is 'always': \
                     never unencrypted; to change it, /sotto policy or Sotto › Settings for this \
                     contact... there, then /sotto stop)."
                )
            } else {
                format!(
                    "Write in the conversation with {twin}, or end encryption there (/sotto \
                     stop) first."
                )
            };
            format!(
                "message NOT sent ({unsent}): the server delivers what is sent to {peer} to \
                 {twin} (nicks that differ only in case, or on IRC in [ ] \\ ~ and {{ }} | ^, \
                 are one; on IRC a leading @ + % & ~, a list with commas and nick!user@host \
                 reach the nick), and Sotto keeps unencrypted text away from {twin} (the \
                 conversation is encrypted, or waits for encryption), so this spelling would \
                 send it unencrypted to them. {instead}"
            )
        }
        Notice::Unrestorable { reason, unsent } => {
            let what = match unsent {
                Some(text) => format!("message NOT sent ({text})"),
                None => "nothing was read or sent".to_owned(),
            };
            let stop = unrestorable_stop(peer, always);
            format!(
                "{what}: Sotto cannot restore its saved encrypted conversation with {peer} \
                 ({reason}; written by a newer Sotto, or damaged). It keeps it untouched and \
                 sends nothing until you decide: /sotto start begins a new encrypted \
                 conversation (replacing the saved one), {stop}."
            )
        }
    }
}

/// `/sotto status` about another client of the contact.
pub(crate) fn other_client_status(address: &str, reads: bool, fingerprint: Option<&str>) -> String {
    let address = quoted_address(address);
    match (reads, fingerprint) {
        (true, _) => format!("Also encrypted with the contact's client at {address}."),
        (false, Some(fp)) => format!(
            "The contact's client at {address} has a key you have not accepted ({fp}): it gets \
             nothing you type (/sotto accept {fp})."
        ),
        (false, None) => format!("Starting an encrypted conversation with {address}."),
    }
}

/// What happened with another client of the contact (a second login). `peer` may name one of
/// the contact's clients (an XMPP window follows the client that wrote last): the contact is
/// named without it.
fn other_client(peer: &Shown, address: &str, what: &OtherClient) -> String {
    let peer = peer.split('/').next().unwrap_or(peer);
    let address = quoted_address(address);
    match what {
        OtherClient::Started => format!(
            "{peer} is also logged in at {address}: an encrypted conversation with that client \
             started too (a key you accepted), and what you type now goes to both."
        ),
        OtherClient::KeyNotAccepted { fingerprint } => format!(
            "{peer} is also logged in at {address}, with a key you have not accepted for {peer} \
             (fingerprint {fingerprint}). Nothing you type goes to that client until you accept \
             it: compare the fingerprint with {peer} (/sotto fingerprint on that client shows \
             it), then type /sotto accept {fingerprint}"
        ),
        OtherClient::NamesMismatch {
            fingerprint,
            stated_self,
            stated_peer,
        } => {
            let name = |n: &str| {
                if n.is_empty() {
                    "(no name)".to_owned()
                } else {
                    quotable(n)
                }
            };
            format!(
                "WARNING: {peer} is also logged in at {address} (fingerprint {fingerprint}), and \
                 inside the encrypted handshake that client says it is \"{stated_self}\", \
                 writing to \"{stated_peer}\": not the names you see. Someone may be passing \
                 another person's conversation off as {peer}'s client. Nothing you type goes to \
                 it; if you expected this (a nick changed meanwhile), compare the fingerprint \
                 with {peer} and type /sotto accept {fingerprint}",
                stated_self = name(stated_self),
                stated_peer = name(stated_peer),
            )
        }
        OtherClient::UnacceptedMessage { fingerprint, text } => {
            // Its words on one line, cut as other peer text: a line break, or a wrap after a
            // long run of blanks, cannot paint a line of Sotto's own; nor can a quotation mark
            // close Sotto's quotes.
            let text = quotable(text);
            format!(
                "{peer}'s client at {address}, whose key you have not accepted (fingerprint \
             {fingerprint}), wrote: \"{text}\" (/sotto accept {fingerprint} if you trust it)."
            )
        }
        OtherClient::Accepted => {
            format!("key accepted: what you type now also goes to {peer}'s client at {address}.")
        }
        OtherClient::Ended => format!(
            "{peer}'s client at {address} ended its encrypted conversation: nothing you type \
             goes there any more."
        ),
    }
}

/// What is typed in a window that still shows a name another contact now holds
/// ([`name_taken`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Taken {
    /// Encrypted to the renamed contact's key, which the user accepted for the name.
    Reaches,
    /// Held: the renamed contact's conversation is not encrypted (the name's encrypted one was
    /// parked). `always`: the name's policy is 'always' (`/sotto stop` alone does not allow
    /// plaintext to it).
    Held { always: bool },
    /// Held: the renamed contact's session is on a key the user has not accepted for the name
    /// (the name's accepted key is another contact's).
    KeyHeld,
    /// Sent unencrypted: the renamed contact's conversation is not encrypted, and plaintext to
    /// it is allowed.
    Plaintext,
}

/// A window still shows a name that now belongs to another contact (renamed from
/// `renamed_from`); `typed` says what becomes of what is typed there.
pub(crate) fn name_taken(name: &str, renamed_from: &str, typed: Taken) -> String {
    let name = &Shown::new(name);
    let renamed_from = &Shown::new(renamed_from);
    let typed = match typed {
        Taken::Held { always: true } => format!(
            "Nothing typed here is sent unencrypted: it is held until an encrypted conversation \
             is up (/sotto start). {}",
            to_plaintext(name, true)
        ),
        Taken::Held { always: false } => format!(
            "Nothing typed here is sent unencrypted: it is held until you start an encrypted \
             conversation (/sotto start) or allow plaintext to {name} (/sotto stop)."
        ),
        Taken::KeyHeld => format!(
            "Nothing typed here is sent: it is held until you accept {renamed_from}'s key for \
             {name} (/sotto accept) or /sotto stop."
        ),
        Taken::Reaches => format!("What you type here reaches {renamed_from}'s key holder."),
        Taken::Plaintext => format!(
            "What you type here goes to {renamed_from}, NOT encrypted (that conversation is not \
             encrypted)."
        ),
    };
    format!(
        "the name {name} now belongs to the contact who was {renamed_from} (the server renamed \
         them), so this window's conversation with the earlier {name} has ended. {typed} Close \
         this window to avoid a mix-up."
    )
}

/// A contact under 'always' was renamed onto a name with a weaker setting of its own (`weaker`,
/// the user's for whoever used the name before): the window keeps 'always' while it is open.
pub(crate) fn always_followed(old: &Shown, new: &Shown, weaker: Policy) -> String {
    format!(
        "{old} was under 'always' (never unencrypted); {new} has a setting of its own \
         ({weaker}, chosen for whoever used the name before). This window keeps 'always' \
         while it is open: type /sotto policy always to keep it for {new}, or /sotto policy \
         to choose another.",
        weaker = weaker.as_str()
    )
}

/// The contact was renamed and the conversation could not follow (the store refused).
pub(crate) fn rename_failed(from: &str, to: &str, reason: &str) -> String {
    let from = Shown::new(from);
    let to = Shown::new(to);
    format!(
        "{from} is now known as {to}, and Sotto could not move your conversation to the new name \
         ({reason}). Nothing is sent in this window until it can."
    )
}

/// The account's own name changed (`from` to `to`, Modify Account) while the window with `peer`
/// was open: no conversation moves to another account (`service::track`).
pub(crate) fn account_changed(from: &str, to: &str, peer: &str) -> String {
    let (from, to, peer) = (Shown::new(from), Shown::new(to), Shown::new(peer));
    format!(
        "This window's account is now {to} (it was {from}). Sotto keeps each account's \
         conversations apart and moves none to another account: nothing is sent in this \
         window, and its encrypted messages are not read. Close it and open a new one to write \
         to {peer} as {to}."
    )
}

/// A private chat with `occupant` (`room@server/nick`) whose room was left and whose room's
/// address, `room`, is now a contact on the roster: the window's name now stands for that
/// contact, and the private chat does not move onto it (`service::track`).
pub(crate) fn occupant_now_a_contact(occupant: &str, room: &str) -> String {
    let (occupant, room) = (Shown::new(occupant), Shown::new(room));
    format!(
        "The group chat {room} was left, and its address is now a contact in your buddy list: \
         this window's name stands for that contact now, not for {occupant}. Sotto does not \
         move this private conversation onto it: nothing is sent in this window, and its \
         encrypted messages are not read. Join the group chat again to write to {occupant}."
    )
}

/// A `/sotto` command or an Options > Sotto item in a window whose conversation could not
/// follow its contact (`service::track`: a rename the store refused, a room occupant's window
/// whose name now stands for a contact): run there, it acted on the conversation the window's
/// name stands for now, not the one the window shows.
/// No advice of its own: the line that said why the window could not follow says what to do
/// (wait for the rename to go through, join the group chat again); a new window with "the
/// contact" would be the conversation the window's name stands for now, maybe plaintext to
/// someone else (found by a review of the first version, which advised one).
pub(crate) fn not_run_here() -> &'static str {
    "NOT done: this window's conversation could not follow its contact, so Sotto's commands \
     and menu do nothing here (they would act on another conversation). What to do is in the \
     line that said why."
}

/// What Sotto refused for want of its conversation state ([`refused_no_state`]).
#[derive(Clone, Copy)]
pub(crate) enum Refused {
    /// A user action (verify, answer, cancel, accept): nothing was done.
    Action,
    /// Typed text: not sent, and never sent in plaintext instead.
    Send,
}

/// A user action that did nothing, or typed text refused (`refused`): no conversation state
/// could be had (`why`: the store's reason, when there is no store at all). The two texts
/// differ only in what was refused and, for typed text, that it never goes out in plaintext.
pub(crate) fn refused_no_state(refused: Refused, why: Option<&str>) -> String {
    let (what, never_plaintext) = match refused {
        Refused::Action => ("nothing was done", ""),
        Refused::Send => (
            "message NOT sent",
            ", and it never sends in plaintext what it cannot check",
        ),
    };
    match why {
        Some(why) => {
            format!("{what}: Sotto has no access to its keys ({why}){never_plaintext}.")
        }
        None => format!(
            "{what}: Sotto cannot read its keys or its record of this conversation (a damaged \
             record or a read error; the details are in Help > Debug Window, or Finch's debug \
             window){never_plaintext}."
        ),
    }
}

// ---- send and receive paths ----------------------------------------------------------------

/// What the user typed was refused after a fault in Sotto (a panic, caught), with its text
/// when it is known (`None`: only the encrypted line was at hand).
pub(crate) fn not_sent_after_a_fault(text: Option<&str>) -> String {
    let said = "a message was NOT sent, or not all of it: Sotto failed while sending it (a \
                fault in Sotto; the details are in the debug window)";
    match text {
        Some(text) => format!("{said}. Your message: {text}"),
        None => format!("{said}. Ask your contact what arrived before you send it again."),
    }
}

/// A typed message's line was handed to the connection, then Sotto failed (a panic, caught)
/// before it knew what came of it: the message most likely went.
pub(crate) fn handed_down_then_a_fault(text: &str) -> String {
    format!(
        "Sotto failed right after your message was handed to the connection (a fault in Sotto; \
         the details are in the debug window): it has most likely gone, though it is not shown \
         as sent. Ask your contact before you send it again. Your message: {text}"
    )
}

/// A command failed after a fault in Sotto (a panic, caught).
pub(crate) fn command_fault() -> &'static str {
    "Sotto failed while running this command (a fault in Sotto; the details are in the debug \
     window): it may not have been done, and a message it carried may NOT have been sent."
}

/// A dialog about the conversation with `peer` was answered after its account was deleted:
/// nothing was done; `held`, a line held back in that conversation's window, given back.
pub(crate) fn account_gone(peer: &Shown, held: Option<&str>) -> String {
    let said = format!(
        "The account of your conversation with {peer} no longer exists under its name (it was \
         deleted, or its username changed, while this dialog was open): nothing was done."
    );
    match held {
        Some(text) => format!("{said} Your message was NOT sent: {text}"),
        None => said,
    }
}

/// Lines held back for a sibling conversation (contact, text) whose account was deleted before
/// the user decided: NOT sent, given back.
pub(crate) fn held_back_account_gone(
    held: &[(String, crate::protocol::SecretString)],
) -> crate::protocol::SecretString {
    let mut out = String::from(
        "Your account was deleted while these messages, held back because another \
         conversation in their window is encrypted, waited for your decision; they were NOT \
         sent:",
    );
    for (peer, text) in held {
        out.push_str(&format!("\n{peer}: {}", text.as_str()));
    }
    crate::protocol::SecretString::new(out)
}

/// The account was deleted while its conversations held `held` (contact, text) to send: a
/// session being set up, or a not-read notice's resend. Given back, NOT sent.
/// `saved`: the conversations were saved without them (else they stay in the store).
pub(crate) fn held_account_deleted(
    held: &[(String, crate::protocol::SecretString)],
    saved: bool,
) -> crate::protocol::SecretString {
    let mut out = String::from(if saved {
        "You deleted an account while these messages waited to be sent encrypted (for a \
         session being set up, or to be sent again); they were NOT sent, and will not be:"
    } else {
        "You deleted an account while these messages waited to be sent encrypted (for a \
         session being set up, or to be sent again); they were NOT sent. Sotto could not save \
         that they are given back: they are still in its store, and would be sent if you \
         added this account again and the contact answered:"
    });
    for (peer, text) in held {
        out.push_str(&format!("\n{peer}: {}", text.as_str()));
    }
    crate::protocol::SecretString::new(out)
}

/// A message to `old` whose pieces still waited in the IRC queue when the contact became
/// `new`: `waiting` of its `pieces` leave addressed to the old nick. `text` when kept.
pub(crate) fn not_delivered_renamed(
    old: &Shown,
    new: &Shown,
    waiting: usize,
    pieces: usize,
    text: Option<&str>,
) -> String {
    let what = format!(
        "may NOT be delivered in full: {old} became {new} while {waiting} of its {pieces} \
         pieces still waited to go out, and they go to the name {old} (to whoever has it when \
         they leave)"
    );
    let then = if waiting < pieces {
        format!(
            "If {new}'s Sotto reports it incomplete, a line here says so and Sotto sends it \
             again with the next encrypted conversation: then do not type it again. If no such \
             line comes within a few minutes, ask {new} whether it arrived"
        )
    } else {
        format!("Ask {new} whether it arrived before you send it again")
    };
    match text {
        Some(text) => format!("your encrypted message to {old} {what}: \"{text}\". {then}."),
        None => format!("your encrypted message to {old} {what}. {then}. Look for it above."),
    }
}

/// Sotto, being loaded, faulted while marking an open window (a panic, caught): the window's
/// logging is turned off, as for an encrypted conversation, since its state is not known.
pub(crate) fn not_marked_after_a_fault() -> &'static str {
    "Sotto could not mark this window as it was loaded (a fault in Sotto; the details are in \
     the debug window): its logging is turned off to be safe. Check the encryption state \
     before you type (/sotto status)."
}

/// A message arrived and Sotto faulted while checking it (a panic, caught): it is not shown.
pub(crate) fn dropped_after_a_fault() -> &'static str {
    "a message arrived that Sotto failed to check (a fault in Sotto; the details are in the \
     debug window): it is not shown. Ask the sender to send it again."
}

/// A fault in Sotto (a panic, caught) while a received message was written into the window:
/// the write was cancelled.
pub(crate) fn not_shown_after_a_fault() -> &'static str {
    "a message arrived that Sotto failed to show (a fault in Sotto; the details are in the \
     debug window): it is not shown. Ask the sender to send it again."
}

/// A Sotto line arrived while its conversation cannot be had (the store is unavailable, the
/// conversation's record cannot be read, its window's contact was renamed and the
/// conversation could not follow).
pub(crate) fn unreadable_no_state() -> &'static str {
    "an encrypted message arrived that Sotto cannot read right now: its key store, or its \
     record of this conversation, cannot be read (a notice or a line above says why; the \
     details are in the debug window); it is not shown"
}

/// Plaintext arrived while the conversation cannot be had (its record cannot be read, or its
/// window's contact was renamed and the conversation could not follow), in a window that may
/// still say it is encrypted.
pub(crate) fn plaintext_no_state(peer: &Shown) -> String {
    format!(
        "the next message from {peer} was NOT encrypted, and Sotto cannot check this \
         conversation right now (its record cannot be read: a line above, or the debug window, \
         says why). It is shown as plain text; do not take the window's title for encryption \
         until Sotto can read the conversation again."
    )
}

/// The IRC server's away reply (numeric 301) to a line sent to `peer`, in an encrypted
/// conversation: said for what it is, once in a while, instead of a warning per line.
pub(crate) fn irc_away_reply(peer: &Shown, text: &str) -> String {
    format!(
        "{peer} is away. The IRC server's automatic reply (not encrypted, not authenticated; \
         shown once in five minutes): \"{text}\"",
        text = quotable(text)
    )
}

/// An IRC command that cannot be carried encrypted.
pub(crate) fn irc_command_refused(command: &str, peer: &Shown) -> String {
    format!(
        "Sotto: /{command} would reach {peer} unencrypted, and your conversation with them is \
         encrypted (or the policy is 'always'): not sent."
    )
}

/// `/version nick more words` (IRC): the command takes one nick, and IRC puts the whole
/// argument where the target goes, so the other words would go out in plaintext.
pub(crate) fn one_target_only(command: &str) -> String {
    format!(
        "Sotto: /{command} takes one nick alone; what follows it would be sent in plaintext \
         (IRC puts it all where the nick goes): not sent."
    )
}

/// `/msg a,b text` (or `/notice`, `/query`) with at least one encrypted target.
pub(crate) fn several_targets_refused(targets: &str) -> String {
    let targets: &str = &plain(targets);
    format!(
        "Sotto: not sent to {targets}: at least one of them has an encrypted conversation (or \
         Sotto cannot tell), and one line cannot be both encrypted and plaintext. Send to each \
         separately."
    )
}

/// `/msg nick!user@host text` (or another `msgto` spelling) to a contact who is not in
/// plaintext.
pub(crate) fn spelled_target_refused(target: &str, nick: &str) -> String {
    let target: &str = &plain(target);
    let nick: &str = &plain(nick);
    format!(
        "Sotto: not sent to {target}: it names {nick}, whose conversation is encrypted (or \
         Sotto cannot tell), and this spelling would send it in plaintext. Write to {nick} by \
         the nick alone (/msg {nick} ...)."
    )
}

/// What a window shows instead of a raw Sotto line that reached it another way than Sotto's own
/// receive path (a copy of what we sent from another client, history, another plugin).
pub(crate) fn hidden_sotto_line(sent: bool) -> &'static str {
    if sent {
        "(a Sotto-encrypted message sent from another of your clients: only that client can \
         show it)"
    } else {
        "(a Sotto-encrypted message that cannot be read here: only the client it was \
         encrypted for can show it)"
    }
}

/// A command's text could not be encrypted: no key store (`why`, when it is that), or the
/// record of this conversation cannot be read.
pub(crate) fn command_not_sent_no_store(why: Option<&str>) -> String {
    let why = why.map(|w| format!(" ({})", plain(w))).unwrap_or_default();
    format!(
        "Sotto: not sent, and nothing was sent unencrypted. Sotto cannot read its keys or its \
         record of this conversation right now{why}; the notice shown when it loaded, or Help › \
         Debug Window, says more. Try again once that is fixed."
    )
}

/// A command to a contact whose window was renamed and whose conversation could not follow.
pub(crate) fn command_not_sent_rename(peer: &Shown) -> String {
    format!(
        "Sotto: not sent, and nothing was sent unencrypted: this contact is now known as \
         {peer}, and Sotto could not move the conversation to that name (a line in the window \
         says why). Nothing is sent to {peer} until it can."
    )
}

/// An IRC command refused because the key store is unavailable: whether the target's
/// conversation is encrypted cannot be told.
pub(crate) fn command_refused_no_store(command: &str, peer: &Shown, why: &str) -> String {
    format!(
        "Sotto: /{command} not sent: Sotto cannot use its key store ({why}), so it cannot tell \
         whether your conversation with {peer} is encrypted, and it never sends what it cannot \
         check.",
        why = plain(why)
    )
}

/// The plugin loaded without its key store.
pub(crate) fn store_unavailable(error: &str, dir: &str) -> String {
    format!(
        "Sotto cannot open its key store ({error}). Until it can, nothing is encrypted and no \
         message is sent while the plugin is loaded. If another Pidgin or Finch uses this \
         profile, quit it; otherwise check the folder {dir} and its permissions. Then disable \
         and enable Sotto in Tools › Plugins. Do not delete the folder: it holds your keys and \
         the keys you verified."
    )
}

/// The store was written by a newer Sotto (an older package installed over a newer one).
pub(crate) fn store_newer(error: &str, dir: &str) -> String {
    format!(
        "Sotto's key store in {dir} was written by a newer version of Sotto than this one \
         ({error}). This version cannot use it: nothing is encrypted and no message is sent \
         while it is loaded. Install the newer Sotto again (or disable this one in Tools › \
         Plugins). Do not delete the folder: it holds your keys and the keys you verified."
    )
}

/// Another copy of Sotto (at `path`) is loaded in this Pidgin or Finch: this one refuses to load.
pub(crate) fn another_copy_loaded(path: &str) -> String {
    format!(
        "Another copy of Sotto is already loaded ({path}). Two copies would both write the \
         same key store and could encrypt two messages with one key: this one stays off. Keep \
         one copy enabled in Tools › Plugins, and remove the other file."
    )
}

/// A fault stopped Sotto's load: libpurple takes it for not loaded and says nothing itself.
pub(crate) fn load_faulted() -> &'static str {
    "Sotto did not start: an internal error stopped it while it loaded (the debug window, \
     Help › Debug Window, has the details). It is NOT running: what you type is sent NOT \
     encrypted, in every conversation, whatever its setting, and encrypted messages you \
     receive are not read. Enable it again in Tools › Plugins and check that it stays \
     ticked (a restart may leave it off without a word); if it fails again, keep it off and \
     send only what may go unencrypted."
}

/// The store was made new at load where this profile had one (deleted or emptied, or its
/// folder not the one it was).
pub(crate) fn store_replaced(dir: &str) -> String {
    format!(
        "Sotto's key store (sotto.db in {dir}) was missing or empty although this profile had \
         one: the keys it held are gone, and Sotto makes new ones as your accounts connect. \
         If that folder is on a volume that is not mounted yet (an encrypted folder), or you \
         have a backup of it, quit now, before your accounts connect, move away the files Sotto \
         just made in the folder (sotto.db, sotto.db-wal, sotto.generation: a volume may not \
         mount over them), mount it or put the backup back, and start again. Otherwise: Sotto no longer knows who you had encrypted \
         conversations with, so what you type to them goes as each conversation's setting \
         says, NOT encrypted under 'opportunistic' (the default), until you start encrypting \
         again there (/sotto start). Your contacts will be told that your key changed and must \
         check it again (verify with them); messages sent to you in the old encrypted \
         conversations cannot be read."
    )
}

/// The store that opened is the one this profile used before the last start, which made a
/// store anew (the usual store back: its volume mounted again, as the first box said).
pub(crate) fn store_back(dir: &str) -> String {
    format!(
        "Sotto opened its usual key store again (sotto.db in {dir}), the one this profile used \
         before the last start, when it was missing and Sotto made new keys. Contacts you wrote \
         to encrypted since then saw those other keys and will be told that your key changed; \
         everything else goes on as before. If the keys made then lie in the folder beneath a \
         volume's mount point, remove them while the volume is not mounted, so that they \
         cannot open at a start where it is not."
    )
}

/// The profile's record of which store it used last (`record`) could not be read (`why`): the
/// store in `dir` may or may not be that one.
pub(crate) fn store_record_unreadable(record: &str, why: &str, dir: &str) -> String {
    format!(
        "Sotto could not read its record of which key store this profile used last ({record}: \
         {why}), so it cannot tell whether the store it opened (sotto.db in {dir}) holds the \
         keys your contacts saw. If that folder is on a volume that is not mounted yet (an \
         encrypted folder), quit now, before your accounts connect, mount it and start again. \
         Sotto writes the record anew now; while it cannot, this box comes back at each start."
    )
}

/// A preference (`path`, one of `glue::prefs::KEPT`) was `in_prefs` in `prefs.xml` at load,
/// not `recorded`, the value last chosen while Sotto ran; `kept`, the stricter, is kept.
pub(crate) fn setting_kept(path: &str, in_prefs: &str, recorded: &str, kept: &str) -> String {
    let log = path.ends_with("log_encrypted");
    let what = if log {
        "'Log encrypted conversations' setting"
    } else {
        "encryption policy"
    };
    let shown = |v: &str| match (log, v) {
        (true, "true") => "on".to_owned(),
        (true, _) => "off".to_owned(),
        (false, v) => v.to_owned(),
    };
    let (in_prefs, recorded, kept) = (shown(in_prefs), shown(recorded), shown(kept));
    let other = if kept == in_prefs {
        &recorded
    } else {
        &in_prefs
    };
    format!(
        "Sotto's {what} in Pidgin's preferences file is '{in_prefs}', but the one last chosen \
         while Sotto ran was '{recorded}': the stricter, '{kept}', is kept. Another Pidgin or \
         Finch on this profile, refused Sotto's keys, may have saved its older copy, or the file \
         was edited. If you meant '{other}', choose it again in Tools › Plugins › Sotto › \
         Configure Plugin."
    )
}

/// The store that opened is not the one this profile used last, and was not made now (one
/// made beneath an encrypted volume's mount point at an earlier start, or the real one mounted
/// again after such a start).
pub(crate) fn store_other(dir: &str) -> String {
    format!(
        "Sotto opened a key store (sotto.db in {dir}) that is not the one this profile used last \
         time: a store made while the volume holding that folder was not mounted, or the real \
         one again after that, or another copy. Its keys are not the ones your contacts saw \
         last, and they will be told that your key changed. If your usual store is on a volume \
         that is not mounted, quit now, before your accounts connect, move away the files Sotto \
         made in the folder, mount the volume and start again. Otherwise: what you type to \
         contacts this store does not know goes as each conversation's setting says, NOT \
         encrypted under 'opportunistic' (the default), until you start encrypting again there \
         (/sotto start)."
    )
}

// ---- /sotto --------------------------------------------------------------------------------

/// `/sotto help`.
pub(crate) const HELP: &str = "/sotto start: start (or restart) an encrypted conversation\n\
/sotto stop: end it (what you type then goes unencrypted, unless the policy is 'always')\n\
/sotto status: whether this conversation is encrypted, the policy, logging\n\
/sotto fingerprint: your fingerprint and your contact's\n\
/sotto verify: verify your contact (compare fingerprints, or ask a question) in a dialog\n\
/sotto verify QUESTION | ANSWER: ask your contact a question only they can answer\n\
/sotto answer ANSWER: answer your contact's question (/sotto answer alone: in a dialog)\n\
/sotto accept FINGERPRINT: accept your contact's changed key, or the key of their other client (type at least its first four groups, after checking it)\n\
/sotto cancel: stop the question-and-answer check now running (yours or your contact's)\n\
/sotto fingerprints: every contact key Sotto knows (verify or forget them in a dialog)\n\
/sotto giveback: while your contact's client that reads your encrypted messages is offline, take back what waits for it (the encrypted conversation goes on)\n\
/sotto policy always|opportunistic|manual|global: this contact's policy (as Settings for this contact does)\n\
/sotto help: this text";

/// The command's one-line summary in libpurple's `/help` (markup: libpurple shows it as is).
pub(crate) fn command_help() -> String {
    format!(
        "sotto &lt;start|stop|status|fingerprint|fingerprints|verify|answer|accept|cancel|giveback|policy|help&gt;: \
         Sotto end-to-end encryption.\n{HELP}"
    )
}

/// Text typed after `/sotto {word}`, which takes none (or, for `policy`, after its one word):
/// shown back, never sent.
pub(crate) fn after_command_not_sent(word: &str, text: &str) -> String {
    format!("NOT sent (it followed /sotto {word}, which takes no more): {text}")
}

/// An unknown `/sotto` word.
pub(crate) fn unknown_command(word: &str) -> String {
    format!("unknown Sotto command '{word}': try /sotto help")
}

/// `/sotto cancel` after our answer to the contact's question left.
pub(crate) fn answer_already_sent(peer: &Shown) -> String {
    format!(
        "your answer to {peer}'s question had already been sent: {peer} may already see the \
         check's result; here it ends without one."
    )
}

/// `/sotto giveback` with nothing held for a client of the contact that went offline.
pub(crate) fn nothing_to_give_back(peer: &Shown) -> String {
    format!("nothing waits for {peer}'s client that reads your encrypted messages to come back.")
}

/// `/sotto cancel` with no verification running.
pub(crate) fn nothing_to_cancel(peer: &Shown) -> String {
    format!("no question-and-answer check with {peer} is running: nothing to cancel.")
}

/// `/sotto answer` alone while the dialog for the contact's question is open already.
pub(crate) fn answer_dialog_open(peer: &Shown) -> String {
    format!(
        "the dialog for {peer}'s question is open already (it may be behind other windows); \
         or reply here with /sotto answer <your answer>."
    )
}

/// `/sotto answer` while the contact's question is not waiting for one.
pub(crate) fn no_question(peer: &Shown) -> String {
    format!(
        "no question from {peer} waits for your answer (answered already, withdrawn, or \
         never asked): nothing was sent. To check {peer}, ask yours: /sotto verify QUESTION \
         | ANSWER."
    )
}

/// `/sotto verify` with arguments that are not `QUESTION | ANSWER`.
pub(crate) fn verify_usage() -> &'static str {
    "to verify your contact, compare fingerprints over another channel (/sotto fingerprint \
     shows both), or ask a question only they can answer: /sotto verify QUESTION | ANSWER (or \
     /sotto verify alone for a dialog)"
}

/// The last line of a message typed here reached the connection late or changed, after
/// Sotto encrypted it: another plugin's handler of the send held it up or rewrote it. Not sent;
/// the message is shown back (the input box was cleared).
pub(crate) fn changed_on_its_way(typed: &str) -> String {
    with_message(
        "NOT sent: after Sotto encrypted this message, another plugin held it back or changed \
         it on its way out (Offline Message Emulation, or a plugin that adds a signature or \
         formatting to every message), and what reached the connection was not the encrypted \
         line Sotto made, when it made it. Type it again; disable that plugin, or its option, \
         for encrypted conversations.",
        typed,
    )
}

/// Another plugin sent one of Sotto's encrypted lines again as text (a buddy pounce kept by
/// Offline Message Emulation).
pub(crate) fn resent_wire_line() -> &'static str {
    "NOT sent: another plugin (a buddy pounce, Offline Message Emulation) tried to send one of \
     Sotto's encrypted lines again, as text. What it carried cannot be read back here: type \
     the message again. (Offline Message Emulation does not work with Sotto: disable it.)"
}

/// A typed message that would have gone unencrypted to `this` (its conversation, as "bob
/// (IRC)"), held back because another conversation of the same buddy-list contact, shown in
/// the same window, is `sibling` ("bob@example.org (XMPP)") and keeps plaintext out (`how`):
/// the window sends to whichever conversation it has active, and a message from either
/// switches it. A dialog asks whether to send it unencrypted ([`sibling_dialog`]); sending it
/// again is no answer (every other NOT sent line may be answered that way: there it is safe).
/// The text is given back (the input box was cleared).
pub(crate) fn sibling_not_sent(
    this: &Shown,
    sibling: &Shown,
    how: SiblingState,
    text: &str,
) -> String {
    let why = match how {
        SiblingState::Encrypted(_) => {
            format!("your conversation with {sibling} in this window is encrypted, and")
        }
        SiblingState::Guarded | SiblingState::Open => format!(
            "your conversation with {sibling} in this window keeps what you type from going \
             unencrypted (an encrypted session is being set up, messages wait for one, or its \
             policy is to encrypt), and"
        ),
        SiblingState::Unknown => format!(
            "Sotto could not read whether your conversation with {sibling} in this window is \
             encrypted, and"
        ),
    };
    format!(
        "message NOT sent: {why} this one, with {this}, is NOT: it would have gone to {this} \
         unencrypted. Sotto asks in a dialog whether to send it unencrypted; sending it again \
         here does not send it (it is held back again). To send it encrypted, switch the window \
         to {sibling} (Send To in its menu) and send it there. Your message: {text}"
    )
}

/// The question [`sibling_not_sent`] announces: send the message held back to `this`
/// unencrypted, beside `sibling` (in state `how`), or not. What follows a yes (the allowance),
/// and how to send it encrypted instead. `text` is the user's message, shown cleaned.
pub(crate) fn sibling_dialog(
    this: &Shown,
    sibling: &Shown,
    how: SiblingState,
    text: &str,
) -> Dialog {
    let minutes = ALLOWANCE_SECS / 60;
    let (also, other) = match how {
        SiblingState::Encrypted(_) => (
            format!("This window is also your encrypted conversation with {sibling}."),
            "the encrypted one",
        ),
        SiblingState::Guarded | SiblingState::Open => (
            format!(
                "This window is also your conversation with {sibling}, which keeps what you \
                 type from going unencrypted."
            ),
            "that one",
        ),
        SiblingState::Unknown => (
            format!(
                "This window is also your conversation with {sibling}, and Sotto could not read \
                 whether it is encrypted."
            ),
            "that one",
        ),
    };
    dialog(
        "Sotto: send unencrypted?",
        format!("{also} Send this message to {this} unencrypted?"),
        format!(
            "Your message: {}\n\nThe window sends what you type to whichever of its \
             conversations is active, and a message from any of them makes it the active one. \
             If you send it, what you send to {this} after it goes unencrypted too while each \
             message comes within {minutes} minutes of the one before (until a message is read \
             or typed in {other}). Don't send: nothing is sent, and your message stays in the \
             window. To send it encrypted, switch the window to {sibling} (Send To in its menu) \
             and send it there.",
            plain(text)
        ),
    )
}

/// "Send unencrypted" was chosen too soon after its dialog opened (`dialogs::ARMED`):
/// maybe by a key meant for the conversation. Nothing was sent; the text given back.
pub(crate) fn sibling_answer_too_soon(text: &str) -> String {
    format!(
        "message NOT sent: \"Send unencrypted\" was chosen a moment after its dialog opened, \
         maybe by a key you were typing for the conversation. To send it \
         unencrypted, send it again and answer the dialog once you have read it. Your \
         message: {text}"
    )
}

/// The user answered "send unencrypted" for a message held back for `this`, but `this` no
/// longer sends unencrypted (it is encrypted now, or holds what is typed): not sent, the text
/// given back. Sending it again here is safe: it goes as the conversation sends now.
pub(crate) fn sibling_answer_stale(this: &Shown, text: &str) -> String {
    format!(
        "message NOT sent: you chose to send it to {this} unencrypted, but that conversation no \
         longer sends unencrypted (it is encrypted now, or holds what you type). Send it again \
         to send it as the conversation sends now. Your message: {text}"
    )
}

/// "Send unencrypted" was chosen for a line typed to `this`, but the window with that name now
/// is another, or none (the contact was renamed since, and someone else may have the name; or
/// the window was closed and opened again).
pub(crate) fn sibling_answer_renamed(this: &Shown, text: &str) -> String {
    format!(
        "message NOT sent: you chose to send it to {this} unencrypted, but the window you typed \
         it in no longer shows that conversation (the contact was renamed since you were asked, \
         and the name may be someone else's now; or the window was closed). Send it again to \
         send it where you mean it to go. Your message: {text}"
    )
}

/// The heading of a message box listing what was typed to `peer` and not sent (no window
/// could show it: offline, the window closed).
pub(crate) fn not_sent_to(peer: &Shown) -> String {
    format!("Messages to {peer} NOT sent")
}

/// Logging was turned on for a window of an encrypted conversation, and Sotto turned it off
/// (`encrypted`: the conversation is; else another client of the contact still has a session
/// that reads in it, the main one having ended).
pub(crate) fn still_not_logged(encrypted: bool) -> &'static str {
    if encrypted {
        "this encrypted conversation is NOT logged, whatever the Enable Logging menu shows \
         (Pidgin copies it between conversations shown in one tab). To log encrypted \
         conversations, tick \"Log encrypted conversations\" in Sotto's preferences."
    } else {
        "this conversation is NOT logged while another client of your contact still has an \
         encrypted session in it, whatever the Enable Logging menu shows (Pidgin copies it \
         between conversations shown in one tab). To log encrypted conversations, tick \"Log \
         encrypted conversations\" in Sotto's preferences."
    }
}

/// `/sotto verify` with more than one `|`.
pub(crate) fn verify_ambiguous() -> &'static str {
    "question NOT asked: more than one | makes it unclear where the question ends and the \
     answer begins. Use /sotto verify alone for a dialog with a field for each."
}

/// A Sotto menu item (`label`) was chosen that the menu would not offer now: the menu was built
/// before the conversation with `peer` changed (a session came up or ended, the contact was
/// renamed), and nothing was done. The window's own menu (`options`: Pidgin's Options) is
/// made anew at Pidgin's times, which are said; a buddy menu at each opening.
pub(crate) fn menu_out_of_date(label: &str, peer: &Shown, options: bool) -> String {
    let anew = if options {
        "Pidgin makes this menu anew when you open the Conversation menu or switch tabs"
    } else {
        "open the menu again"
    };
    format!(
        "The Sotto menu was out of date: \"{label}\" no longer applies to the conversation with \
         {peer}, which changed since the menu was made. Nothing was done ({anew}); /sotto \
         commands act on the conversation as it is."
    )
}

/// The account has no identity key (no store).
pub(crate) fn no_identity() -> &'static str {
    "Sotto has no key for this account: its key store could not be opened or read (the notice \
     shown when Sotto loaded, or Help › Debug Window, says why). Nothing is encrypted until it \
     can be; disable and enable Sotto in Tools › Plugins once that is fixed."
}

/// `/sotto status`.
pub(crate) fn status(
    peer: &Shown,
    state: Option<ConvState>,
    trust: Option<Trust>,
    waiting: Option<(usize, bool)>,
    names_held: bool,
    policy: Policy,
    logged: bool,
) -> String {
    let state_text = match state {
        Some(ConvState::Encrypted) => "encrypted",
        Some(ConvState::Handshaking) => "starting encryption (waiting for your contact)",
        Some(ConvState::Finished) => "ended by your contact (messages held)",
        Some(ConvState::Plaintext) | None => "not encrypted",
    };
    let logging = if logged {
        "encrypted conversations are logged"
    } else {
        "encrypted conversations are not logged"
    };
    let trust = match trust {
        Some(Trust::Verified) => format!(" {peer}'s key is verified."),
        Some(Trust::Unverified) => {
            format!(" {peer}'s key is unverified (/sotto verify, or compare /sotto fingerprint).")
        }
        None => String::new(),
    };
    let waiting = match waiting {
        Some((0, false)) | None => String::new(),
        Some((n, true)) if names_held => format!(
            " {n} message(s) held until you confirm the session: {peer}'s key is the one you \
             accepted, but the names their side states are not the ones you see (/sotto accept)."
        ),
        Some((n, true)) => {
            format!(" {n} message(s) held until you accept {peer}'s changed key (/sotto accept).")
        }
        Some((n, false)) => format!(
            " {n} message(s) held ({why}).",
            why = match state {
                Some(ConvState::Finished) => {
                    "your contact ended the session: /sotto start sends them encrypted, \
                     /sotto stop gives them back to you"
                }
                _ => "sent encrypted as soon as the session is up",
            }
        ),
    };
    format!(
        "this conversation is {state_text}.{trust}{waiting} Policy: {}; {logging}.",
        policy.as_str()
    )
}

/// `/sotto status` where Sotto has no conversation state: its store did not open (`why`), or
/// this conversation's record could not be read. Every send is refused then.
pub(crate) fn status_no_state(why: Option<&str>) -> String {
    match why {
        Some(why) => format!(
            "this conversation is not usable: Sotto cannot open its key store ({why}), so \
             nothing typed here is sent, encrypted or not. If another Pidgin or Finch uses this \
             profile, quit it; otherwise check the sotto folder in your profile (~/.purple/sotto) \
             and its permissions. Then disable and enable Sotto in Tools › Plugins."
        ),
        None => "this conversation is not usable: Sotto cannot read its keys or its record of \
                 this conversation (a damaged record or a read error; the details are in Help \
                 > Debug Window, or Finch's debug window), so nothing typed here is sent, \
                 encrypted or not."
            .to_owned(),
    }
}

/// `/sotto status` where the saved encrypted conversation cannot be restored
/// ([`Notice::Unrestorable`]'s advice).
pub(crate) fn status_unrestorable(peer: &Shown, reason: &str, always: bool) -> String {
    let stop = unrestorable_stop(peer, always);
    format!(
        "this conversation is on hold: Sotto cannot restore its saved encrypted conversation \
         with {peer} ({reason}; written by a newer Sotto, or damaged), so nothing typed here is \
         sent and nothing encrypted is read until you decide: /sotto start begins a new \
         encrypted conversation (replacing the saved one), {stop}."
    )
}

/// What `/sotto stop` does to a saved conversation that cannot be restored.
fn unrestorable_stop(peer: &impl std::fmt::Display, always: bool) -> String {
    if always {
        format!(
            "/sotto stop discards it (your setting for {peer} is 'always': to write unencrypted, \
             choose another too: /sotto policy, or Sotto › Settings for this contact...)"
        )
    } else {
        "/sotto stop allows plaintext".to_owned()
    }
}

/// `/sotto status` after a start of ours lapsed unanswered.
pub(crate) fn status_start_lapsed(peer: &Shown) -> String {
    format!(
        "Your start got no answer from {peer}: what you type is held, never sent unencrypted, \
         and the start is tried again; /sotto stop ends the attempt (what you type then goes \
         unencrypted, unless the policy is 'always')."
    )
}

/// `/sotto fingerprint`.
pub(crate) fn fingerprints(peer: &Shown, ours: &str, theirs: Option<&str>) -> String {
    match theirs {
        Some(theirs) => format!("your fingerprint: {ours}. {peer}'s fingerprint: {theirs}."),
        None => format!(
            "your fingerprint: {ours}. {peer}'s is known once an encrypted conversation starts."
        ),
    }
}

// ---- menus and settings ---------------------------------------------------------------------

/// The per-contact settings dialog.
pub(crate) fn settings_dialog(peer: &Shown, global: Policy) -> Dialog {
    dialog(
        "Sotto settings",
        format!("Encryption with {peer}"),
        format!(
            "When should Sotto encrypt conversations with {peer}? The global setting is '{}'.",
            global.as_str()
        ),
    )
}

/// The per-contact dialog's box that sets `other`, another account of the buddy-list
/// contact (named with its protocol, [`Shown`]), whose policy is `now`.
pub(crate) fn settings_also(other: &Shown, now: Option<Policy>) -> String {
    let now = now.map_or("the global setting", Policy::as_str);
    format!("The same for {other} (its setting now: {now})")
}

/// Appended to the per-contact dialog's text: the contact's other accounts whose setting could
/// not be read, so it offers no box for them.
pub(crate) fn settings_not_offered(others: &[Shown]) -> String {
    let names: Vec<&str> = others.iter().map(|o| &**o).collect();
    format!(
        "\n\nThe setting of {} (in this buddy-list contact too) could not be read; it is not \
         changed here.",
        names.join(", ")
    )
}

/// The per-contact dialog was saved with no setting picked.
pub(crate) fn policy_none_chosen() -> &'static str {
    "no setting was picked in the dialog: nothing was saved."
}

/// After [`policy_not_saved_renamed`] or [`policy_not_saved`] for the dialog's own contact:
/// the boxes ticked for other accounts were not saved either.
pub(crate) fn policy_others_not_saved() -> &'static str {
    "Nothing was saved for the other accounts ticked in that dialog either."
}

/// The per-contact policy was saved (for `also` too: the buddy-list contact's other accounts).
pub(crate) fn policy_saved(peer: &Shown, policy: Option<Policy>, also: &[Shown]) -> String {
    let shown = policy.map_or("the global setting", Policy::as_str);
    if also.is_empty() {
        return format!("policy for {peer} is now: {shown}.");
    }
    let names: Vec<&str> = also.iter().map(|o| &**o).collect();
    format!(
        "policy for {peer} is now: {shown}; the same for {}.",
        names.join(", ")
    )
}

/// `/sotto policy` with no (or an unknown) word: the contact's policy now, and how to set it.
pub(crate) fn policy_usage(peer: &Shown, chosen: Option<Policy>, in_force: Policy) -> String {
    let set = match chosen {
        None => format!("the global setting ({})", in_force.as_str()),
        // A window that kept 'always' over a rename (`service::follow`).
        Some(p) if p != in_force => format!(
            "{} (this window keeps '{}', carried over from the contact's earlier name, while it \
             is open)",
            p.as_str(),
            in_force.as_str()
        ),
        Some(p) => p.as_str().to_owned(),
    };
    format!(
        "policy for {peer}: {set}. Set it with /sotto policy always (never send {peer} anything \
         unencrypted), opportunistic, manual, or global."
    )
}

/// The contact of a settings dialog was renamed before the user saved it.
pub(crate) fn policy_not_saved_renamed(old: &str, new: &str) -> String {
    let old = Shown::new(old);
    let new = Shown::new(new);
    format!(
        "{old} is now known as {new}: the setting chosen for {old} was not saved. Open \
         \"Settings for this contact\" again to choose one for {new}."
    )
}

/// The settings dialog cannot show the contact's policy (the store cannot be read).
pub(crate) fn policy_unreadable(peer: &Shown) -> String {
    format!(
        "the policy for {peer} cannot be read now (Sotto's store cannot be read): it is left \
         as it is. Try again once the store works."
    )
}

/// A per-contact setting could not be saved (the store is unavailable or cannot be written).
pub(crate) fn policy_not_saved(peer: &Shown) -> String {
    format!(
        "the policy for {peer} could NOT be saved (Sotto's store cannot be written); the one \
         before stays."
    )
}

/// Tools > Sotto > Show my fingerprints with no account.
pub(crate) fn no_accounts() -> &'static str {
    "No accounts yet."
}

/// Tools > Sotto > Show my fingerprints without the key store.
pub(crate) fn no_fingerprints_no_store(why: &str) -> String {
    format!(
        "Sotto cannot read its keys: its key store could not be opened ({}). Help › Debug \
         Window says more.",
        plain(why)
    )
}

/// One account's line in Show my fingerprints.
pub(crate) fn account_fingerprint(user: &str, protocol: &str, fingerprint: &str) -> String {
    let user: &str = &plain(user);
    format!("{user} ({protocol}): {fingerprint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_removes_control_characters_and_bounds_length() {
        assert_eq!(plain("a\nb\u{1b}[31mc"), "a b [31mc");
        assert_eq!(plain("<b>kept as text</b>"), "<b>kept as text</b>");
        assert_eq!(plain("ab\u{202E}cd\u{200B}e"), "ab cd e");
        let long = "x".repeat(1_000);
        assert_eq!(plain(&long).chars().count(), MAX_SHOWN + 1);
    }

    /// A long IRC message: how long it takes, and what its window says when the connection
    /// drops before it is out (with the text, so nothing typed is lost).
    #[test]
    fn a_slow_or_cut_off_message_says_so_in_plain_words() {
        let bob = &Shown::new("bob");
        assert_eq!(
            slow_to_arrive(bob, 12, 23),
            "your message to bob goes out in 12 pieces, and the IRC connection sends only a few \
             lines at a time, so bob will have it in about 23 seconds. If the connection drops \
             while pieces of it still wait here, this window says so and gives the text back (a \
             piece already sent can still be lost on the way: bob's Sotto then reports the \
             message incomplete)."
        );
        // Some pieces went: bob's Sotto reports it, and this one sends it again; typing it
        // again would give two copies.
        assert_eq!(
            not_delivered_in_full(bob, 4, 12, Some("see you at 5")),
            "your encrypted message to bob was NOT delivered in full: the connection dropped \
             while 4 of its 12 pieces were still waiting to go out, so bob cannot read it: \
             \"see you at 5\". When bob's Sotto reports it incomplete, a line here says so and \
             Sotto sends it again with the next encrypted conversation: then do not type it \
             again (it would reach bob twice). If no such line comes within a few minutes of \
             being back online, send it again yourself."
        );
        // None went: bob knows nothing of it; only the user can send it again.
        assert_eq!(
            not_delivered_in_full(bob, 12, 12, Some("see you at 5")),
            "your encrypted message to bob was NOT delivered: the connection dropped before \
             any of it went out: \"see you at 5\". Send it again once you are connected; Sotto \
             does not send it again by itself."
        );
        assert!(not_delivered_in_full(bob, 1, 1, None).contains("NOT delivered: the connection"));
        // A rename while pieces waited: where they go, and what to do, by whether some went.
        let bob_ = &Shown::new("bob_");
        assert_eq!(
            not_delivered_renamed(bob, bob_, 4, 6, Some("hi")),
            "your encrypted message to bob may NOT be delivered in full: bob became bob_ while \
             4 of its 6 pieces still waited to go out, and they go to the name bob (to whoever \
             has it when they leave): \"hi\". If bob_'s Sotto reports it incomplete, a line \
             here says so and Sotto sends it again with the next encrypted conversation: then do \
             not type it again. If no such line comes within a few minutes, ask bob_ whether it \
             arrived."
        );
        assert!(not_delivered_renamed(bob, bob_, 6, 6, None)
            .ends_with("Ask bob_ whether it arrived before you send it again. Look for it above."));
    }

    /// The two texts for want of conversation state, word for word (the end-to-end tests match
    /// "nothing was done: Sotto has no access to its keys").
    #[test]
    fn refused_no_state_says_what_was_refused() {
        let unreadable = "Sotto cannot read its keys or its record of this conversation (a \
                          damaged record or a read error; the details are in Help > Debug \
                          Window, or Finch's debug window)";
        let never = ", and it never sends in plaintext what it cannot check.";
        assert_eq!(
            refused_no_state(Refused::Action, Some("read-only")),
            "nothing was done: Sotto has no access to its keys (read-only)."
        );
        assert_eq!(
            refused_no_state(Refused::Action, None),
            format!("nothing was done: {unreadable}.")
        );
        assert_eq!(
            refused_no_state(Refused::Send, Some("read-only")),
            format!("message NOT sent: Sotto has no access to its keys (read-only){never}")
        );
        assert_eq!(
            refused_no_state(Refused::Send, None),
            format!("message NOT sent: {unreadable}{never}")
        );
    }

    /// Every notice reads as one line of single-spaced sentences: a `\` lost at the end of a
    /// source line puts a run of spaces (or a line break) in what the user reads.
    #[test]
    fn notices_have_no_runs_of_spaces_or_line_breaks() {
        let fp = "AAAAA BBBBB CCCCC DDDDD EEEEE FFFFF GGGGG HHHHH";
        let bob = &Shown::new("bob");
        let mut texts = vec![
            command_not_sent_no_store(Some("locked")),
            command_not_sent_no_store(None),
            command_refused_no_store("notice", bob, "locked"),
            command_not_sent_rename(bob),
            notice("bob", &Notice::RestoredBackup, false),
            store_unavailable("locked", "/home/a/.purple/sotto"),
            store_newer("schema 9", "/home/a/.purple/sotto"),
            after_command_not_sent("start", "here is the plan"),
            store_other("/home/a/.purple/sotto"),
            no_identity().to_owned(),
            no_fingerprints_no_store("locked"),
            key_changed(bob, fp),
            still_holding(bob, fp),
            ask_key_changed(bob),
            answer_not_sent(bob),
            answer_held_for_away_client(bob),
            accept_refused(bob, "AAAAA", fp, true),
            accept_too_short(bob, "AAAAA", false),
            irc_command_refused("notice", bob),
            policy_usage(bob, None, Policy::Always),
            policy_usage(bob, Some(Policy::Manual), Policy::Manual),
            start_not_delivered(bob, Refusal::NoSuchNick),
            start_not_delivered(bob, Refusal::CallerId),
            undelivered(bob, Some("hi"), NO_SUCH_NICK),
            undelivered(bob, Some("hi"), irc_refusal(Refusal::IdentifiedOnly)),
            slow_to_arrive(bob, 12, 23),
            slow_to_arrive(bob, 1, 9),
            not_delivered_in_full(bob, 4, 12, Some("hi")),
            not_delivered_in_full(bob, 1, 1, None),
            still_going_out(bob, 3),
        ];
        for reason in [
            HoldReason::Handshaking,
            HoldReason::PolicyAlways,
            HoldReason::EndedByPeer,
            HoldReason::Blocked,
            HoldReason::NamesMismatch,
            HoldReason::HolderAway,
        ] {
            texts.push(held(2, reason));
        }
        for by_peer in [true, false] {
            texts.extend(event(bob, &Event::Ended { by_peer }));
        }
        for queued in [0, 2] {
            texts.extend(event(
                bob,
                &Event::HandshakeExpired {
                    queued,
                    session_goes_on: false,
                },
            ));
        }
        texts.push(status_start_lapsed(bob));
        for how in [
            SiblingState::Encrypted([0; 4]),
            SiblingState::Guarded,
            SiblingState::Unknown,
        ] {
            let sibling = &Shown::with_suffix("bob@example.org", " (XMPP)");
            texts.push(sibling_not_sent(bob, sibling, how, "hi"));
        }
        for state in [
            ConvState::Plaintext,
            ConvState::Handshaking,
            ConvState::Encrypted,
            ConvState::Finished,
        ] {
            for (waiting, names) in [((1, true), false), ((1, true), true), ((1, false), false)] {
                texts.push(status(
                    bob,
                    Some(state),
                    Some(Trust::Unverified),
                    Some(waiting),
                    names,
                    Policy::Manual,
                    false,
                ));
            }
        }
        for t in &texts {
            assert!(!t.contains("  ") && !t.contains('\n'), "{t:?}");
        }
    }

    /// A line held back for another conversation of the contact in the window says it was NOT
    /// sent, names both conversations and how the other one keeps plaintext out, says that a
    /// dialog asks and that sending it again does not send it, how to send it encrypted, and
    /// ends with the text as typed (the input box was cleared). It no longer tells the user to
    /// send the same message again (the gesture that retries every other NOT sent line).
    #[test]
    fn a_line_held_back_for_a_sibling_names_both_and_gives_the_text_back() {
        let this = &Shown::with_suffix("bob", " (IRC)");
        let sibling = &Shown::with_suffix("bob@example.org", " (XMPP)");
        let text = "meet me at the old mill";
        let encrypted = sibling_not_sent(this, sibling, SiblingState::Encrypted([1; 4]), text);
        assert!(
            encrypted.starts_with(
                "message NOT sent: your conversation with bob@example.org (XMPP) in this window \
                 is encrypted, and this one, with bob (IRC), is NOT"
            ),
            "{encrypted}"
        );
        for how in [
            SiblingState::Encrypted([1; 4]),
            SiblingState::Guarded,
            SiblingState::Unknown,
        ] {
            let t = sibling_not_sent(this, sibling, how, text);
            assert!(t.starts_with("message NOT sent: "), "{t}");
            assert!(t.contains("this one, with bob (IRC), is NOT"), "{t}");
            assert!(
                t.contains("Sotto asks in a dialog whether to send it unencrypted"),
                "{t}"
            );
            assert!(t.contains("sending it again here does not send it"), "{t}");
            assert!(!t.contains("send the same message again"), "{t}");
            assert!(
                t.contains("switch the window to bob@example.org (XMPP)"),
                "{t}"
            );
            assert!(t.ends_with(&format!("Your message: {text}")), "{t}");
        }
        let guarded = sibling_not_sent(this, sibling, SiblingState::Guarded, text);
        assert!(guarded.contains("keeps what you type from going unencrypted"));
        let unknown = sibling_not_sent(this, sibling, SiblingState::Unknown, text);
        assert!(unknown.contains("Sotto could not read whether"));
    }

    /// A merged contact's settings dialog names each other account it can set too, with its
    /// setting now, and the saved line names those it set; a contact alone reads as before.
    #[test]
    fn settings_for_a_merged_contact_name_its_other_accounts() {
        let irc = Shown::with_suffix("bob", " (IRC)");
        assert_eq!(
            settings_also(&irc, Some(Policy::Always)),
            "The same for bob (IRC) (its setting now: always)"
        );
        assert_eq!(
            settings_also(
                &Shown::with_suffix("bob2@localhost\u{202e}", " (XMPP)"),
                None
            ),
            "The same for \"bob2@localhost \" (XMPP) (its setting now: the global setting)"
        );
        let others = [irc, Shown::with_suffix("bob2@localhost", " (XMPP)")];
        assert!(settings_not_offered(&others)
            .contains("The setting of bob (IRC), bob2@localhost (XMPP) (in this buddy-list"));
        let bob = Shown::new("bob@localhost");
        assert_eq!(
            policy_saved(&bob, Some(Policy::Always), &others),
            "policy for bob@localhost is now: always; the same for bob (IRC), bob2@localhost \
             (XMPP)."
        );
        assert_eq!(
            policy_saved(&bob, None, &[]),
            "policy for bob@localhost is now: the global setting."
        );
        let d = settings_dialog(
            &Shown::with_suffix("bob@localhost", " (XMPP)"),
            Policy::Manual,
        );
        assert_eq!(d.primary, "Encryption with bob@localhost (XMPP)");
    }

    /// The question names the window's other conversation and where the message would go,
    /// shows the message (cleaned), and says what a yes allows after it.
    #[test]
    fn the_sibling_dialog_names_where_the_message_goes() {
        let this = &Shown::with_suffix("bob", " (IRC)");
        let sibling = &Shown::with_suffix("bob@localhost", " (XMPP)");
        let d = sibling_dialog(
            this,
            sibling,
            SiblingState::Encrypted([1; 4]),
            "the code\u{202e} is 4711",
        );
        assert_eq!(d.title, "Sotto: send unencrypted?");
        assert_eq!(
            d.primary,
            "This window is also your encrypted conversation with bob@localhost (XMPP). Send \
             this message to bob (IRC) unencrypted?"
        );
        assert!(
            d.secondary
                .starts_with("Your message: the code is 4711\n\n"),
            "{}",
            d.secondary
        );
        assert!(d.secondary.contains("within 10 minutes of the one before"));
        assert!(d.secondary.contains("Don't send: nothing is sent"));
        let guarded = sibling_dialog(this, sibling, SiblingState::Guarded, "x");
        assert!(guarded
            .primary
            .contains("keeps what you type from going unencrypted"));
        let unknown = sibling_dialog(this, sibling, SiblingState::Unknown, "x");
        assert!(unknown
            .primary
            .contains("Sotto could not read whether it is encrypted"));
    }

    /// Each reason a typed message is not sent reads its own way and says why (where the README
    /// names one, as it promises), keeps the "not sent" a reader (and the end-to-end trouble
    /// check) looks for, and ends with the text as typed: the input box was cleared. It used to
    /// be one bare "not sent: TEXT" for every reason.
    #[test]
    fn an_unsent_message_says_why_and_shows_the_text_back() {
        let bob = &Shown::new("bob");
        let text = "meet me at the old mill";
        let reasons = [
            (UnsentReason::Stopped, "was ended before it could go"),
            (
                UnsentReason::TooLong,
                "longer than Sotto can send in one message (64 KiB); split it",
            ),
            (
                UnsentReason::QueueFull,
                "200 messages already wait to be sent encrypted to bob",
            ),
            (UnsentReason::TooManyPieces, "more pieces than Sotto sends"),
            (UnsentReason::HoldEnded, "typed while another key was shown"),
            (UnsentReason::GivenBack, "you took it back"),
        ];
        let mut seen = std::collections::HashSet::new();
        for (why, says) in reasons {
            let line = unsent(bob, why, text);
            assert!(line.ends_with(&format!(": {text}")), "{line}");
            assert!(line.to_lowercase().contains("not sent"), "{line}");
            assert!(line.contains(says), "{why:?}: {line}");
            assert!(!line.contains("  ") && !line.contains('\n'), "{line:?}");
            assert!(seen.insert(line.replace(text, "")), "{line}");
        }
    }

    /// An unreadable message says what to do where its reason does not: ask again, and restart
    /// only if it goes on (most such lines are unauthenticated); too many missing messages need
    /// a restart; a line at a place already used is never vouched for as a copy. Every
    /// other one still says "could not be read" (end-to-end tests count those lines).
    #[test]
    fn an_unreadable_message_says_what_to_do() {
        let bob = &Shown::new("bob");
        let line = |reason: UnreadableReason| {
            event(bob, &Event::Unreadable { reason }).unwrap_or_default()
        };
        // Told from its header alone: never vouched for as a copy (a third review).
        let copy = line(DecryptError::Duplicate.into());
        assert!(
            copy.contains("a copy of one already read, or a line made to look like one")
                && copy.ends_with("ask them to send it again."),
            "{copy}"
        );
        let forged = line(DecryptError::Authentication.into());
        assert_eq!(
            forged,
            "an encrypted message from bob could not be read (message authentication failed). \
             Anyone on the way can send such lines. If a message from bob is missing, ask them \
             to send it again; if this keeps happening, restart the encrypted conversation \
             (/sotto start)."
        );
        // Authenticated: the contact's client wrote it so.
        assert!(line(UnreadableReason::NotUtf8).contains("may need to update Sotto"));
        assert!(line(DecryptError::TooFarAhead.into()).ends_with(
            "If messages from bob are missing, restart the encrypted conversation (/sotto \
             start), then ask them to send those again."
        ));
        assert!(line(UnreadableReason::Rewritten).contains("not quoted, edited or forwarded"));
        assert!(line(DecodeError::UnknownVersion(2).into()).contains("update the older one"));
        // Their reasons already say what happens next.
        for (reason, ends) in [
            (UnreadableReason::UnknownSession, "(restart the session))."),
            (UnreadableReason::BeforeConfirm, "asked for again)."),
        ] {
            assert!(line(reason).ends_with(ends), "{}", line(reason));
        }
        for reason in [
            UnreadableReason::MalformedFragments,
            UnreadableReason::NestedFragment,
            UnreadableReason::NotUtf8,
            UnreadableReason::Rewritten,
            DecodeError::Base64.into(),
            DecodeError::Malformed.into(),
            DecodeError::UnknownVersion(2).into(),
            DecryptError::Authentication.into(),
            DecryptError::TooFarAhead.into(),
            DecryptError::Malformed.into(),
        ] {
            let t = line(reason);
            assert!(t.contains("could not be read") && t.contains(" bob"), "{t}");
            assert!(!t.contains("  ") && !t.contains('\n'), "{t:?}");
        }
        assert!(
            !copy.contains("could not") && !copy.contains("restart"),
            "{copy}"
        );
    }

    /// A long message that arrived incomplete: the receiver's line says so, and whether the
    /// sender's client was asked for it; the sender's line names the message and the reason
    /// its notice gave (not "no encrypted conversation", which would send the user after a
    /// session problem that is not there).
    #[test]
    fn a_message_that_arrived_incomplete_says_so_on_both_sides() {
        let bob = &Shown::new("bob");
        let line = |e: Event| event(bob, &e).unwrap_or_default();
        let asked = line(Event::Unreadable {
            reason: UnreadableReason::Incomplete { asked: true },
        });
        assert_eq!(
            asked,
            "an encrypted message from bob could not be read (it arrived incomplete: part of a \
             long message was lost on the way). bob's client was asked for it: if it still has \
             the message, it tells bob and sends it again with the next encrypted conversation \
             (/sotto start)."
        );
        let unnamed = line(Event::Unreadable {
            reason: UnreadableReason::Incomplete { asked: false },
        });
        assert!(
            unnamed.contains("arrived incomplete")
                && unnamed
                    .ends_with("If a message from bob is missing, ask them to send it again."),
            "{unnamed}"
        );
        let named = line(Event::NotRead {
            text: Some("the long one".into()),
            incomplete: true,
        });
        assert!(
            named.starts_with(
                "bob's client could not read your message \"the long one\": it arrived there \
                 incomplete"
            ) && named.contains("sent again by itself")
                && !named.contains("holds no encrypted conversation"),
            "{named}"
        );
        let forgotten = line(Event::NotRead {
            text: None,
            incomplete: true,
        });
        assert!(
            forgotten.contains("arrived there incomplete")
                && !forgotten.contains("holds no encrypted conversation"),
            "{forgotten}"
        );
        // The plain notice reads as before.
        assert!(line(Event::NotRead {
            text: None,
            incomplete: false,
        })
        .contains("holds no encrypted conversation"));
        for t in [asked, unnamed, named, forgotten] {
            assert!(!t.contains("  ") && !t.contains('\n'), "{t:?}");
        }
    }

    /// Under the policy 'always' `/sotto stop` does not allow plaintext (what is typed next
    /// starts a new encrypted conversation and waits): no text promises that it does, and each
    /// says how to write unencrypted instead. Under the other policies they read as before.
    #[test]
    fn under_always_no_text_promises_plaintext_from_stop() {
        let bob = &Shown::new("bob");
        let notices = [
            Notice::Moved {
                to: "bob_away".to_owned(),
            },
            Notice::NameTaken {
                from: Some("mallory".to_owned()),
            },
            Notice::NameTaken { from: None },
            Notice::Unrestorable {
                reason: "newer version".to_owned(),
                unsent: Some("hi".to_owned()),
            },
            Notice::SameIrcNick {
                twin: "bob[x]".to_owned(),
                unsent: "hi".to_owned(),
            },
        ];
        let mut texts: Vec<(String, String)> = notices
            .iter()
            .map(|n| (notice("bob", n, false), notice("bob", n, true)))
            .collect();
        texts.push((
            name_taken("bob", "mallory", Taken::Held { always: false }),
            name_taken("bob", "mallory", Taken::Held { always: true }),
        ));
        texts.push((
            image_not_sent(bob, "hi", false),
            image_not_sent(bob, "hi", true),
        ));
        for (other, always) in &texts {
            assert!(
                other.contains("allows plaintext")
                    || other.contains("allow plaintext")
                    || other.contains("(/sotto stop) to send it unencrypted")
                    || other.contains("end encryption there (/sotto stop)"),
                "{other}"
            );
            for promise in [
                "allows plaintext",
                "allow plaintext",
                "(/sotto stop) to send it unencrypted",
                "end encryption there",
            ] {
                assert!(!always.contains(promise), "{always}");
            }
            assert!(
                always.contains("'always'") && always.contains("Settings for this contact..."),
                "{always}"
            );
            assert!(
                !always.contains("  ") && !always.contains('\n'),
                "{always:?}"
            );
            // No word of the end-to-end trouble check comes with it.
            let lower = always.to_lowercase();
            let before = other.to_lowercase();
            for word in ["could not", "not encrypted", "error", "failed", "not sent"] {
                assert_eq!(
                    lower.contains(word),
                    before.contains(word),
                    "{word}: {always}"
                );
            }
        }
        assert_eq!(
            notice("bob", &notices[0], false),
            "your encrypted conversation with bob moved to bob_away when they were renamed. bob \
             may be someone else now, so nothing is sent here unencrypted: what you type is held \
             and an encrypted conversation is started, checked against the key you accepted for \
             bob. /sotto stop allows plaintext to bob."
        );
    }

    /// A long run of no-break (or any other) spaces would wrap what follows to the window's
    /// left edge, where it reads as a Sotto line of its own.
    #[test]
    fn unusual_spaces_are_one_space_and_peer_text_is_cut() {
        for space in [
            "\u{a0}", "\u{2007}", "\u{202f}", "\u{3000}", "\u{2800}", "\u{1680}",
        ] {
            let fake = format!("{}Sotto: x", space.repeat(5_000));
            assert_eq!(plain(&fake), " Sotto: x", "{space:?}");
            assert_eq!(flat_line(&format!("hi{fake}")), "hi Sotto: x", "{space:?}");
        }
        let fake = format!("{}Sotto: x", "\u{a0}y".repeat(5_000));
        for line in [
            notice(
                "bob",
                &Notice::UnacceptedMessage {
                    fingerprint: "AAAAA".to_owned(),
                    text: fake.clone(),
                },
                false,
            ),
            notice(
                "bob",
                &Notice::OtherClient {
                    address: "bob@x/phone".to_owned(),
                    what: OtherClient::UnacceptedMessage {
                        fingerprint: "AAAAA".to_owned(),
                        text: fake.clone(),
                    },
                },
                false,
            ),
        ] {
            let quoted = line.split('"').nth(1).unwrap_or_default();
            assert!(
                !quoted.contains('\u{a0}') && !quoted.contains("  "),
                "{quoted:?}"
            );
            assert!(quoted.chars().count() <= MAX_SHOWN + 1, "{quoted:?}");
        }
    }

    /// Peer text between Sotto's quotation marks cannot close them and go on in Sotto's voice:
    /// the only quotation marks left in the line are Sotto's own (two per quoted text), with
    /// the peer's words between them.
    #[test]
    fn peer_text_cannot_close_sottos_quotes() {
        let peer = &Shown::new("bob");
        for mark in [
            '"', '\u{201D}', '\u{201C}', '\u{FF02}', '\u{00BB}', '\u{301E}', '\u{05F4}', '\u{3003}',
        ] {
            let fake = format!(
                "it's me, new phone{mark} (Sotto checked: this key matches bob's verified \
                 fingerprint, safe to /sotto accept AAAAA). ({mark}"
            );
            let unaccepted = |what| notice("bob", what, false);
            let lines = [
                unaccepted(&Notice::UnacceptedMessage {
                    fingerprint: "AAAAA".to_owned(),
                    text: fake.clone(),
                }),
                unaccepted(&Notice::OtherClient {
                    address: "bob@x/phone".to_owned(),
                    what: OtherClient::UnacceptedMessage {
                        fingerprint: "AAAAA".to_owned(),
                        text: fake.clone(),
                    },
                }),
                question_asked(peer, &fake, true),
                question_asked(peer, &fake, false),
                question_asked_unaccepted(peer, &fake, true),
                question_asked_unaccepted(peer, &fake, false),
                question_changed(peer, &fake),
                event(peer, &Event::PeerError { text: fake.clone() }).expect("a line"),
                irc_away_reply(peer, &fake),
                names_mismatch(peer, peer, &fake, &fake, "AAAAA"),
                answer_dialog(peer, &quotable(&fake), false, 0).primary,
                answer_dialog(peer, &quotable(&fake), true, 2).primary,
                other_client_status(&fake, true, None),
                notice(
                    "bob",
                    &Notice::OtherClient {
                        address: fake.clone(),
                        what: OtherClient::Started,
                    },
                    false,
                ),
            ];
            for line in lines {
                let marks: Vec<usize> = line
                    .char_indices()
                    .filter(|(_, c)| is_quotation_mark(*c))
                    .map(|(i, _)| i)
                    .collect();
                assert!(
                    marks.len() % 2 == 0 && !marks.is_empty(),
                    "{mark:?}: {line}"
                );
                for pair in marks.chunks(2) {
                    let inside = &line[pair[0] + 1..pair[1]];
                    assert!(
                        inside.starts_with("it's me") || inside == "bob" || inside == "bob@x/phone",
                        "{mark:?}: Sotto's quotes hold {inside:?} in {line}"
                    );
                }
            }
        }
    }

    /// A name the server or the contact chose (Bonjour, a SIP From, a third-party protocol
    /// validate none) is one short line wherever a text names it.
    #[test]
    fn a_name_is_one_bounded_line_in_every_text() {
        let fake = format!(
            "bob\n\u{c}\u{200b}Sotto: encrypted conversation started (verified){}",
            "x".repeat(2_000)
        );
        let fp = "AAAAA BBBBB";
        let shown = &Shown::new(&fake);
        let mut texts = vec![
            started(shown, fp, true, false),
            key_changed(shown, fp),
            names_mismatch(shown, shown, "x", "y", fp),
            still_holding(shown, fp),
            policy_not_saved_renamed(&fake, &fake),
            rename_failed(&fake, &fake, "busy"),
            name_taken(&fake, &fake, Taken::Held { always: false }),
            name_taken(&fake, &fake, Taken::KeyHeld),
            name_taken(&fake, &fake, Taken::Reaches),
            name_taken(&fake, &fake, Taken::Plaintext),
            name_taken(&fake, &fake, Taken::Held { always: true }),
            image_not_sent(shown, "hi", true),
            spelled_target_refused(&fake, &fake),
        ];
        let notices = [
            Notice::Moved { to: fake.clone() },
            Notice::NameTaken {
                from: Some(fake.clone()),
            },
            Notice::HandedBack {
                held_for: fake.clone(),
                text: "hi".to_owned(),
            },
            Notice::VerificationEnded {
                from: fake.clone(),
                answered: true,
            },
            Notice::RenamedOntoAnother { from: fake.clone() },
            Notice::Renamed {
                from: fake.clone(),
                encrypted: true,
            },
            Notice::Renamed {
                from: fake.clone(),
                encrypted: false,
            },
            Notice::SameIrcNick {
                twin: fake.clone(),
                unsent: "hi".to_owned(),
            },
        ];
        for always in [false, true] {
            texts.extend(notices.iter().map(|n| notice(&fake, n, always)));
        }
        texts.extend(event(shown, &Event::PlaintextWhileEncrypted));
        texts.extend(event(shown, &Event::HandshakeStarted));
        for t in &texts {
            assert!(
                !t.contains(['\n', '\u{c}', '\u{200b}']) && !t.contains(&"x".repeat(MAX_SHOWN + 1)),
                "{t:?}"
            );
        }
    }

    #[test]
    fn flat_line_marks_line_breaks_and_removes_every_other() {
        assert_eq!(
            flat_line("see you\n\n(12:01) bob: hi\r\nmore\u{2028}x"),
            "see you \u{23CE} (12:01) bob: hi \u{23CE} more x"
        );
        assert_eq!(flat_line("one line"), "one line");
    }

    #[test]
    fn peer_text_cannot_paint_a_second_line() {
        // Every character GTK breaks a line on: one line each time.
        for fake in [
            "\n", "\r", "\u{85}", "\u{2028}", "\u{2029}", "\u{b}", "\u{c}",
        ] {
            let shown = plain(&format!("oops{fake}Sotto: encrypted conversation started"));
            assert_eq!(
                shown, "oops Sotto: encrypted conversation started",
                "{fake:?}"
            );
        }
        // Characters that show nothing hide nothing either: tag characters, the deprecated
        // format characters, interlinear annotation marks, Hangul fillers, variation
        // selectors (Unicode's default-ignorables).
        for hidden in [
            "\u{e0041}",
            "\u{e007f}",
            "\u{206a}",
            "\u{206f}",
            "\u{fff9}",
            "\u{fffb}",
            "\u{115f}",
            "\u{3164}",
            "\u{ffa0}",
            "\u{fe0f}",
            "\u{34f}",
        ] {
            let shown = plain(&format!("ver{hidden}ified"));
            assert_eq!(shown, "ver ified", "{hidden:?}");
        }
        let fake = "oops\nSotto: encrypted conversation started (verified)";
        let bob = &Shown::new("bob");
        let line = question_asked(bob, fake, true);
        assert!(!line.contains('\n'), "{line:?}");
        let line = names_mismatch(bob, &Shown::new("alice"), fake, "x", "AAAAA BBBBB");
        assert!(!line.contains('\n'), "{line:?}");
        let line = event(
            bob,
            &Event::PeerError {
                text: fake.to_owned(),
            },
        )
        .unwrap_or_default();
        assert!(
            !line.contains('\n') && line.contains("unauthenticated"),
            "{line:?}"
        );
    }

    /// A free-text name (an XMPP group chat occupant's nick, which a stranger picks) that
    /// spells Sotto's own words is shown between quotation marks it cannot close: it read as
    /// Sotto's sentence, "…/x's fingerprint is 1111 … (verified). This conversation is not
    /// logged.'s fingerprint is <the real one>" (found by a read-only audit). Addresses and
    /// nicks without a space or a quotation mark read as before.
    #[test]
    fn a_name_that_spells_sottos_words_is_quoted() {
        let nick = "room@conf.example/x's fingerprint is 1111 2222 (verified). This \
                    conversation is not logged.";
        assert_eq!(
            key_accepted(&Shown::new(nick)),
            format!("\"{nick}\"'s current key is accepted.")
        );
        assert_eq!(
            Shown::new("x\" is verified. \u{201C}y").to_string(),
            "\"x' is verified. 'y\""
        );
        assert_eq!(
            Shown::new("x\u{201D}y").to_string(),
            "\"x'y\"",
            "a quotation mark alone"
        );
        for name in ["bob@example.org/phone", "bob", "room@conf.example/Zoë"] {
            assert_eq!(Shown::new(name).to_string(), name);
        }
        // The names a key is known under: one cannot pose as a list naming another contact,
        // and a key stated under many names does not fill the window.
        let known = |names: Vec<String>| notice("mallory", &Notice::KnownAs { names }, false);
        let line = known(vec!["room@conf/x, bob@example.org".into(), "carol".into()]);
        assert!(
            line.contains("you know as \"room@conf/x, bob@example.org\", carol."),
            "{line}"
        );
        let line = known((0..40).map(|i| format!("room@conf/n{i}")).collect());
        assert!(line.contains("room@conf/n4, 35 more."), "{line}");
        // Renames and ended verifications name the other name the same way.
        let renamed = Notice::Renamed {
            from: "room@conf/x is now verified. y".into(),
            encrypted: true,
        };
        assert!(notice("bob", &renamed, false)
            .starts_with("\"room@conf/x is now verified. y\" is now known as bob;"));
    }

    /// Names cut at [`MAX_SHOWN`], or carrying line breaks and bidi controls, read in these
    /// texts exactly as they did when each text cleaned its own name (the expected text was
    /// taken from that code), also where a caller had cleaned the name before (the Known
    /// fingerprints view, the names dialog, another client's line).
    #[test]
    fn cleaned_names_read_as_before() {
        let cut = |s: &str| format!("{s}…");
        let names = [
            ("ab".repeat(200), cut(&"ab".repeat(150)), 2248),
            (
                format!("{}\n\u{202E}{}", "x".repeat(299), "y".repeat(100)),
                cut(&format!("{} ", "x".repeat(299))),
                2248,
            ),
            (
                "bob\r\n\u{202E}eve\u{2066}\u{200B}  Sotto:\u{2028}x".to_owned(),
                "bob eve Sotto: x".to_owned(),
                526,
            ),
        ];
        for (name, shown, len) in &names {
            let peer = &Shown::new(name);
            // A name with a space (here where a line break was) is put between quotation
            // marks where a sentence names the contact; as it is where the text already
            // quotes it.
            let named = if shown.contains(' ') {
                format!("\"{shown}\"")
            } else {
                shown.clone()
            };
            assert_eq!(peer.to_string(), named);
            assert_eq!(
                key_accepted(peer),
                format!("{named}'s current key is accepted.")
            );
            assert_eq!(not_sent_to(peer), format!("Messages to {named} NOT sent"));
            assert_eq!(
                key_changed(peer, "AAAAA BBBBB CCCCC DDDDD"),
                format!(
                    "WARNING: {named}'s key changed; the new fingerprint is AAAAA BBBBB CCCCC \
                     DDDDD. This can be a new device or someone in the middle. Your messages are \
                     held: check the fingerprint with {named} over another channel, then type \
                     /sotto accept AAAAA BBBBB CCCCC DDDDD (or /sotto stop)."
                )
            );
            assert_eq!(
                known_key_label(peer, "AAAAA", Trust::Verified, "2024-01-01", "me@x", "XMPP"),
                format!("{named} - AAAAA - verified - last seen 2024-01-01 - me@x (XMPP)")
            );
            let other = Notice::OtherClient {
                address: name.clone(),
                what: OtherClient::Accepted,
            };
            assert_eq!(
                notice(name, &other, false),
                format!(
                    "key accepted: what you type now also goes to {named}'s client at \"{shown}\"."
                )
            );
            let d = names_mismatch_dialog(peer, peer, &plain(name), &plain("al"));
            assert_eq!(d.primary, format!("{named} says they are \"{shown}\""));
            let first = format!(
                "Inside the encrypted handshake, the contact you see as {named} states that they \
                 are \"{shown}\" and that they are writing to \"al\". You are {named}.\n\n"
            );
            assert!(d.secondary.starts_with(&first), "{:?}", d.secondary);
            if named == *shown {
                assert_eq!(d.secondary.len(), *len, "{shown:?}");
            }
        }
    }
}
