//! Every sentence Sotto shows the user, one function each: conversation lines, dialog texts,
//! command help. A translation (as pidgin-otr's `_()`) is a one-file job, and the end-to-end
//! tests' "what the plugin must print" points here.
//!
//! Functions return plain text. Conversation lines are escaped by
//! `ConvRef::system_line` (which adds the "Sotto: " prefix); dialog texts are
//! handed to `purple_request_*` as plain text (Pidgin escapes them itself), with peer-controlled
//! parts already cleaned by the caller.

use crate::protocol::session::HoldReason;
use crate::protocol::{ConvState, Event, Policy};
use crate::sessions::{Doing, Notice};
use crate::store::Trust;

/// Suffix on the title of an encrypted conversation.
pub(crate) const TITLE_SUFFIX: &str = " (encrypted)";

/// Title, primary and secondary text of a dialog.
pub(crate) struct Dialog {
    pub title: String,
    pub primary: String,
    pub secondary: String,
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
pub(crate) fn started(peer: &str, fingerprint: &str, verified: bool, logged: bool) -> String {
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
            "until the encrypted session is up (policy: never send plaintext)"
        }
        HoldReason::EndedByPeer => {
            "because the peer ended the encrypted conversation (/sotto start or /sotto stop)"
        }
        HoldReason::Blocked => "until you acknowledge the peer's new key",
    };
    format!("message held {why}; {queued} waiting. It will be sent encrypted, in order.")
}

/// A typed message will not be sent.
pub(crate) fn not_sent(text: &str) -> String {
    format!("not sent: {text}")
}

/// The contact's key is not the one accepted before.
pub(crate) fn key_changed(peer: &str, fingerprint: &str) -> String {
    format!(
        "WARNING: {peer}'s key changed; the new fingerprint is {fingerprint}. This can be a new \
         device or someone in the middle. Your messages are held: check the fingerprint with \
         {peer} over another channel, then /sotto accept (or /sotto stop)."
    )
}

/// The contact asks a verification question.
pub(crate) fn question_asked(peer: &str, question: &str) -> String {
    format!(
        "{peer} asks you to verify them: \"{question}\". Reply with /sotto answer <your answer>, \
         or in the dialog."
    )
}

/// The line for an event that needs no more than a line (`None`: nothing to show).
pub(crate) fn event(peer: &str, event: &Event) -> Option<String> {
    Some(match event {
        Event::HandshakeStarted => format!("starting an encrypted conversation with {peer}…"),
        Event::Ended { by_peer: true } => format!(
            "{peer} ended the encrypted conversation. Your messages are held: /sotto stop to \
             send in plaintext, or /sotto start to encrypt again."
        ),
        Event::Ended { by_peer: false } => {
            "encrypted conversation ended. Messages are now sent unencrypted.".to_owned()
        }
        Event::Unreadable { reason } => {
            format!("an encrypted message from {peer} could not be read ({reason}).")
        }
        Event::PeerError { text } => format!("{peer}'s Sotto reported an error: {text}"),
        Event::PlaintextWhileEncrypted => {
            format!("the next message from {peer} was NOT encrypted.")
        }
        Event::HandshakeFailed { reason } => {
            format!("could not start the encrypted conversation: {reason}")
        }
        // Trust on first use; accepted keys are recorded by the sessions service.
        Event::NewPeerKey { .. } => format!(
            "{peer}'s key is new to Sotto: accepted on first use, not verified yet \
             (/sotto verify)."
        ),
        Event::VerificationResult { success: true, .. } => format!(
            "verification succeeded: {peer} gave the same answer in this encrypted session."
        ),
        Event::VerificationResult { success: false, .. } => format!(
            "verification FAILED: the answers differ. Do not trust this session with {peer} \
             until you have checked fingerprints."
        ),
        Event::VerificationAborted => "verification did not complete.".to_owned(),
        // Recorded in the store; nothing to show.
        Event::PeerSupportsSotto => return None,
        // Written by the presenter with more than a line (or a dialog).
        Event::Started { .. }
        | Event::Held { .. }
        | Event::QueuedSent { .. }
        | Event::Unsent { .. }
        | Event::PeerKeyChanged { .. }
        | Event::VerificationQuestion { .. } => return None,
    })
}

/// A notice of the sessions service.
pub(crate) fn notice(peer: &str, notice: &Notice) -> String {
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
    }
}

// ---- send and receive paths ----------------------------------------------------------------

/// Typed text refused: no conversation state could be had.
pub(crate) fn send_refused_no_state() -> &'static str {
    "message NOT sent: Sotto cannot read its keys or its session with this contact (see the \
     debug log)."
}

/// A Sotto line arrived while the store is unavailable.
pub(crate) fn unreadable_no_state() -> &'static str {
    "an encrypted message arrived that Sotto cannot read right now (its storage is \
     unavailable, see the notice); it is not shown"
}

/// An IRC command that cannot be carried encrypted.
pub(crate) fn irc_command_refused(command: &str, peer: &str) -> String {
    format!(
        "Sotto: /{command} would reach {peer} unencrypted, and your conversation with them is \
         encrypted (or the policy is 'always'): not sent."
    )
}

/// An IRC command's text could not be encrypted (no key store).
pub(crate) fn irc_command_no_key() -> &'static str {
    "Sotto: not sent (no key for this account)"
}

/// The plugin loaded without its key store.
pub(crate) fn store_unavailable(error: &str) -> String {
    format!(
        "Sotto cannot open its key store ({error}). Nothing will be encrypted, and messages \
         will not be sent while the plugin is loaded. Fix the file or disable the plugin."
    )
}

// ---- /sotto --------------------------------------------------------------------------------

/// `/sotto help`.
pub(crate) const HELP: &str = "/sotto start: start (or restart) an encrypted conversation\n\
/sotto stop: end it (messages are then sent unencrypted)\n\
/sotto status: whether this conversation is encrypted, the policy, logging\n\
/sotto fingerprint: your fingerprint and your contact's\n\
/sotto verify: verify your contact (compare fingerprints, or ask a question) in a dialog\n\
/sotto verify QUESTION | ANSWER: ask your contact a question only they can answer\n\
/sotto answer ANSWER: answer your contact's question\n\
/sotto accept: accept your contact's changed key (after checking its fingerprint)\n\
/sotto fingerprints: every contact key Sotto knows (verify or forget them in a dialog)\n\
/sotto help: this text";

/// The command's one-line summary in libpurple's `/help` (markup: libpurple shows it as is).
pub(crate) fn command_help() -> String {
    format!(
        "sotto &lt;start|stop|status|fingerprint|fingerprints|verify|answer|accept|help&gt;: \
         Sotto end-to-end encryption.\n{HELP}"
    )
}

/// An unknown `/sotto` word.
pub(crate) fn unknown_command(word: &str) -> String {
    format!("unknown Sotto command '{word}': try /sotto help")
}

/// `/sotto answer` without an answer.
pub(crate) fn answer_usage() -> &'static str {
    "usage: /sotto answer ANSWER"
}

/// `/sotto verify` with arguments that are not `QUESTION | ANSWER`.
pub(crate) fn verify_usage() -> &'static str {
    "to verify your contact, compare fingerprints over another channel (/sotto fingerprint \
     shows both), or ask a question only they can answer: /sotto verify QUESTION | ANSWER (or \
     /sotto verify alone for a dialog)"
}

/// The account has no identity key (no store).
pub(crate) fn no_identity() -> &'static str {
    "no identity key is available for this account."
}

/// `/sotto status`.
pub(crate) fn status(
    peer: &str,
    state: Option<ConvState>,
    trust: Option<Trust>,
    waiting: Option<(usize, bool)>,
    policy: Policy,
    logged: bool,
) -> String {
    let state_text = match state {
        Some(ConvState::Encrypted) => "encrypted",
        Some(ConvState::Handshaking) => "starting encryption (waiting for the peer)",
        Some(ConvState::Finished) => "ended by the peer (messages held)",
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
        Some((n, true)) => {
            format!(" {n} message(s) held until you accept {peer}'s changed key (/sotto accept).")
        }
        Some((n, false)) => format!(
            " {n} message(s) held ({why}).",
            why = match state {
                Some(ConvState::Finished) => {
                    "the peer ended the session: /sotto start or /sotto stop"
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

/// `/sotto fingerprint`.
pub(crate) fn fingerprints(peer: &str, ours: &str, theirs: Option<&str>) -> String {
    match theirs {
        Some(theirs) => format!("your fingerprint: {ours}. {peer}'s fingerprint: {theirs}."),
        None => format!(
            "your fingerprint: {ours}. {peer}'s is known once an encrypted conversation starts."
        ),
    }
}

// ---- trust dialogs and their outcomes --------------------------------------------------------

/// "Verify contact..." before any session.
pub(crate) fn verify_needs_session(peer: &str) -> String {
    format!(
        "to verify {peer}, start an encrypted conversation first (/sotto start): Sotto knows \
         their key once one has started."
    )
}

/// "Verify contact...": choose how.
pub(crate) fn verify_dialog(peer: &str) -> Dialog {
    dialog(
        "Sotto: verify contact",
        format!("Verify {peer}"),
        format!(
            "Make sure you are really talking to {peer} and nobody sits in the middle. Either \
             compare fingerprints with {peer} over another channel (in person, by phone), or \
             ask a question only {peer} can answer; the answer is checked inside this encrypted \
             conversation and never sent."
        ),
    )
}

/// Compare fingerprints without a session.
pub(crate) fn nothing_to_compare() -> &'static str {
    "no fingerprints to compare: start an encrypted conversation first."
}

/// Both fingerprints side by side.
pub(crate) fn compare_dialog(peer: &str, ours: &str, theirs: &str) -> Dialog {
    dialog(
        "Sotto: compare fingerprints",
        format!("Compare fingerprints with {peer}"),
        format!(
            "Your fingerprint:\n{ours}\n\n{peer}'s fingerprint (this conversation):\n{theirs}\n\n\
             Ask {peer} to read their own fingerprint (/sotto fingerprint) to you over another \
             channel: in person or by phone, not in this chat. Mark it verified only if every \
             group matches."
        ),
    )
}

/// The user marked a key verified after comparing.
pub(crate) fn compared_verified(peer: &str, fingerprint: &str) -> String {
    format!("you compared fingerprints: {peer}'s key {fingerprint} is now verified.")
}

/// A key could not be marked verified.
pub(crate) fn not_marked_verified(why: &str) -> String {
    format!("the key could not be marked verified ({why}).")
}

/// The question form needs a session.
pub(crate) fn ask_needs_session() -> &'static str {
    "a question can only be asked in an encrypted conversation (/sotto start)."
}

/// The question-and-answer form.
pub(crate) fn ask_dialog(peer: &str) -> Dialog {
    dialog(
        "Sotto: ask a question",
        format!("Ask {peer} a question only they can answer"),
        format!(
            "{peer} sees the question and types the answer. Sotto compares the two answers \
             without sending either: a wrong answer reveals nothing but \"no match\". Choose \
             something an eavesdropper cannot guess or look up."
        ),
    )
}

/// Labels of the question form's fields.
pub(crate) const ASK_QUESTION_LABEL: &str = "Question";
/// Label of the expected-answer field.
pub(crate) const ASK_ANSWER_LABEL: &str = "The answer you expect";

/// A question without its answer (or the reverse).
pub(crate) fn ask_incomplete() -> &'static str {
    "a verification needs both a question and the answer you expect."
}

/// The question went out.
pub(crate) fn asked(peer: &str, question: &str) -> String {
    format!("asked {peer}: \"{question}\". Waiting for their answer.")
}

/// The contact's question, waiting for an answer.
pub(crate) fn answer_dialog(peer: &str, question: &str) -> Dialog {
    dialog(
        "Sotto: a question from your contact",
        format!("{peer} asks: {question}"),
        format!(
            "{peer} wants to make sure it is really you. Type the answer; Sotto checks it \
             against theirs inside this encrypted conversation without sending it. Both of you \
             see whether the answers matched. Decline if you did not expect this question."
        ),
    )
}

/// The key-change dialog.
pub(crate) fn key_changed_dialog(peer: &str, fingerprint: &str) -> Dialog {
    dialog(
        "Sotto: key changed",
        format!("{peer}'s encryption key has changed"),
        format!(
            "The key {peer} uses for Sotto is not the one you accepted before.\n\
             New fingerprint: {fingerprint}\n\n\
             Usually this means {peer} reinstalled, uses a new computer or lost their Sotto \
             data. It can also mean that someone is intercepting the conversation and \
             pretending to be {peer}.\n\n\
             Until you decide, what you type to {peer} is held, not sent. Ask {peer} over \
             another channel (in person, by phone) whether their key changed, and compare the \
             fingerprint. Accepting does not mark the new key verified."
        ),
    )
}

/// "Keep holding messages" in the key-change dialog.
pub(crate) fn still_holding(peer: &str) -> String {
    format!(
        "messages to {peer} stay held until you accept the new key (/sotto accept) or end the \
         conversation (/sotto stop)."
    )
}

/// The changed key was accepted.
pub(crate) fn key_accepted(peer: &str) -> String {
    format!("{peer}'s current key is accepted.")
}

/// `/sotto fingerprints` with nothing recorded.
pub(crate) fn no_known_keys() -> &'static str {
    "no contact keys recorded yet."
}

/// `/sotto fingerprints`: one label per line.
pub(crate) fn known_keys(labels: &[String]) -> String {
    format!("known fingerprints:\n{}", labels.join("\n"))
}

/// One line of the Known fingerprints view.
pub(crate) fn known_key_label(
    peer: &str,
    fingerprint: &str,
    trust: Trust,
    last_seen: &str,
    account: &str,
    protocol: &str,
) -> String {
    let trust = match trust {
        Trust::Verified => "verified",
        Trust::Unverified => "unverified",
    };
    format!("{peer} - {fingerprint} - {trust} - last seen {last_seen} - {account} ({protocol})")
}

/// The Known fingerprints view when it is empty (a notification).
pub(crate) fn no_known_keys_notice() -> &'static str {
    "No contact keys recorded yet: they are recorded when an encrypted conversation starts."
}

/// The Known fingerprints view's explanation.
pub(crate) fn known_keys_dialog() -> Dialog {
    dialog(
        "Sotto: known fingerprints",
        "Known fingerprints".to_owned(),
        "Every contact key Sotto has recorded, per account. Select a key to mark it verified \
         (only after comparing fingerprints with the contact over another channel), unverified, \
         or to forget it (the next conversation then accepts the contact's key as new)."
            .to_owned(),
    )
}

/// What became of a recorded key.
pub(crate) fn record_changed(peer: &str, fingerprint: &str, done: bool, change: u8) -> String {
    let what = match (done, change) {
        (false, _) => "could not be changed (storage problem)",
        (true, 0) => "is now marked verified",
        (true, 1) => "is now marked unverified",
        (true, _) => "is forgotten",
    };
    format!("{peer}'s key {fingerprint} {what}.")
}

// ---- menus and settings ---------------------------------------------------------------------

/// The per-contact settings dialog.
pub(crate) fn settings_dialog(peer: &str, global: Policy) -> Dialog {
    dialog(
        "Sotto settings",
        format!("Encryption with {peer}"),
        format!(
            "When should Sotto encrypt conversations with {peer}? The global setting is '{}'.",
            global.as_str()
        ),
    )
}

/// The per-contact policy was saved.
pub(crate) fn policy_saved(peer: &str, policy: Option<Policy>) -> String {
    let shown = policy.map_or("the global setting", Policy::as_str);
    format!("policy for {peer} is now: {shown}.")
}

/// A per-contact setting needs a buddy.
pub(crate) fn policy_needs_buddy(peer: &str) -> String {
    format!("add {peer} to your buddy list to keep a setting for this contact.")
}

/// Tools > Sotto > Show my fingerprints with no account.
pub(crate) fn no_accounts() -> &'static str {
    "No accounts yet."
}

/// One account's line in Show my fingerprints.
pub(crate) fn account_fingerprint(user: &str, protocol: &str, fingerprint: &str) -> String {
    format!("{user} ({protocol}): {fingerprint}")
}
