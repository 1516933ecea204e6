//! The trust dialogs' texts (verify, compare, question and answer, key changes, names, the Known
//! fingerprints view) and the lines their outcomes write.

use crate::sessions::trust::{Change, Changed};
use crate::store::Trust;

use super::{dialog, Dialog, Shown};

/// "Verify contact..." before any session.
pub(crate) fn verify_needs_session(peer: &Shown) -> String {
    format!(
        "to verify {peer}, start an encrypted conversation first (/sotto start): Sotto knows \
         their key once one has started."
    )
}

/// "Verify contact...": choose how.
pub(crate) fn verify_dialog(peer: &Shown) -> Dialog {
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
pub(crate) fn compare_dialog(peer: &Shown, ours: &str, theirs: &str) -> Dialog {
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
pub(crate) fn compared_verified(peer: &Shown, fingerprint: &str) -> String {
    format!("you compared fingerprints: {peer}'s key {fingerprint} is now verified.")
}

/// A key could not be marked verified.
pub(crate) fn not_marked_verified(why: &str) -> String {
    format!("the key could not be marked verified ({why}).")
}

/// "Verify contact..." was answered after the contact `old` was renamed to `new` (the window
/// went with the contact; the old name may be someone else's now): nothing was done.
pub(crate) fn verify_renamed(old: &str, new: &str) -> String {
    let (old, new) = (Shown::new(old), Shown::new(new));
    format!(
        "{old} is now known as {new}: nothing was compared or asked. Open \"Verify \
         contact...\" again to verify {new}."
    )
}

/// The question form needs a session.
pub(crate) fn ask_needs_session() -> &'static str {
    "a question can only be asked in an encrypted conversation (/sotto start)."
}

/// The question-and-answer form.
pub(crate) fn ask_dialog(peer: &Shown) -> Dialog {
    dialog(
        "Sotto: ask a question",
        format!("Ask {peer} a question only they can answer"),
        format!(
            "{peer} sees the question and types the answer. Sotto compares the two answers \
             without sending either: a wrong answer reveals nothing but \"no match\". Choose \
             something an eavesdropper cannot guess or look up. Upper and lower case and extra \
             spaces do not count; accents and punctuation do (\"café\" is not \"cafe\", nor a \
             straight apostrophe a curly one): pick an answer with neither."
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

/// The question form was answered after the contact's key changed.
pub(crate) fn ask_key_changed(peer: &Shown) -> String {
    format!(
        "question NOT asked: {peer}'s key changed while the form was open (a new session, or \
         another client). Check which key you are talking to (/sotto status, /sotto \
         fingerprint), then ask again."
    )
}

/// Our answer's line was not taken by the connection.
pub(crate) fn answer_not_sent(peer: &Shown) -> String {
    format!(
        "your answer was NOT sent (the connection did not take it; offline?), so the question-\
         and-answer check with {peer} ended unfinished. Ask {peer} to ask again once you are \
         back online."
    )
}

/// Our answer was not sent: the contact's client that asked, which holds the encrypted
/// conversation, is not seen online. The question still waits.
pub(crate) fn answer_held_for_away_client(peer: &Shown) -> String {
    format!(
        "your answer was NOT sent: {peer}'s client that asked the question (the one holding the \
         encrypted conversation) is not seen online, and would not get it. The question still \
         waits: answer it once that client is back (/sotto answer). If it comes back with a new \
         encrypted session, the check ends and {peer} asks again."
    )
}

/// The question went out.
pub(crate) fn asked(peer: &Shown, question: &str) -> String {
    format!("asked {peer}: \"{question}\". Waiting for their answer.")
}

/// The contact's question, waiting for an answer.
pub(crate) fn answer_dialog(peer: &Shown, question: &str, unaccepted: bool, spent: u32) -> Dialog {
    let mut d = answer_dialog_fresh(peer, question, unaccepted);
    if spent > 0 {
        d.secondary.push_str(&format!(
            "\n\nCareful: {spent} of your answers in this conversation already went to a \
             question that failed or was never settled. Each one told whoever asked whether one guess \
             at your answer was right; someone who is not {peer} can ask again and again to \
             guess. Decline unless you have spoken with {peer} about it."
        ));
    }
    d
}

/// [`answer_dialog`] with no answer spent before.
fn answer_dialog_fresh(peer: &Shown, question: &str, unaccepted: bool) -> Dialog {
    if unaccepted {
        return dialog(
            "Sotto: a question from a key NOT accepted",
            format!("A key not accepted for {peer} asks: \"{question}\""),
            format!(
                "The encrypted session this question came in uses a key you have not accepted \
                 for {peer}: whoever holds it is not known to be {peer}. Do not answer with a \
                 secret you share with {peer}; decline unless you know why you are asked. \
                 Answering does not check this key (ask your own question for that)."
            ),
        );
    }
    dialog(
        "Sotto: a question from your contact",
        format!("{peer} asks: \"{question}\""),
        format!(
            "{peer} wants to make sure it is really you. Type the answer and click Answer \
             (Enter does not answer here); Sotto checks it against theirs inside this \
             encrypted conversation without sending it. Both of you see whether the answers \
             matched. Decline if you did not expect this question."
        ),
    )
}

/// Another client of the contact, with a key the user has not accepted.
pub(crate) fn other_client_key_dialog(peer: &Shown, address: &str, fingerprint: &str) -> Dialog {
    let peer = peer.split('/').next().unwrap_or(peer);
    dialog(
        "Sotto: another client",
        format!("{peer} is also logged in from another client"),
        format!(
            "{peer} is also logged in at {address}, and that client has its own Sotto key, \
             one you have not accepted for {peer}.\n\
             Its fingerprint: {fingerprint}\n\n\
             Usually this is {peer}'s other computer or phone. It can also be someone the \
             server lets pose as another client of {peer}.\n\n\
             Until you accept it, that client gets nothing you type (what you type still \
             reaches {peer}'s client you accepted). Ask {peer} over another channel to read out the fingerprint \
             their other client shows (/sotto fingerprint there). Accepting does not mark the \
             key verified."
        ),
    )
}

/// The key-change dialog.
pub(crate) fn key_changed_dialog(peer: &Shown, fingerprint: &str) -> Dialog {
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
pub(crate) fn still_holding(peer: &Shown, fingerprint: &str) -> String {
    format!(
        "messages to {peer} stay held until you accept the new key (/sotto accept {first}, \
         after checking it) or end the conversation (/sotto stop).",
        first = crate::sessions::trust::accept_prefix(fingerprint)
    )
}

/// `/sotto accept` without a fingerprint.
pub(crate) fn accept_usage(peer: &Shown, fingerprint: &str, waiting: bool) -> String {
    if waiting {
        let first = crate::sessions::trust::accept_prefix(fingerprint);
        format!(
            "{peer}'s key {fingerprint} waits for you to accept it. Check it with {peer} over \
             another channel, then type /sotto accept {first} (its first four groups, or more) \
             to accept exactly this key."
        )
    } else {
        format!("{peer}'s key {fingerprint} is already accepted: nothing waits for you.")
    }
}

/// Accepting could not be saved (rolled back): how to try again.
/// `other`: the key of another of the contact's clients (only that client waits).
pub(crate) fn accept_not_saved(peer: &Shown, fingerprint: &str, other: bool) -> String {
    let first = crate::sessions::trust::accept_prefix(fingerprint);
    let held = if other {
        format!("that client of {peer} still gets nothing you type")
    } else {
        format!("{peer}'s messages stay held")
    };
    format!(
        "NOT accepted: the decision could not be saved, so {held}. Once Sotto can save again, \
         accept the key with /sotto accept {first}"
    )
}

/// Accepting refused: the key is not the one the user checked.
/// `held`: messages wait for the decision (said only then).
pub(crate) fn accept_refused(peer: &Shown, checked: &str, current: &str, held: bool) -> String {
    format!(
        "NOT accepted: {peer}'s key is now {current}, not the {checked} you checked. It may have \
         changed again; check the new one with {peer} before accepting it.{}",
        if held { " Messages stay held." } else { "" }
    )
}

/// A key accepted in a dialog (or by fingerprint) that no session waits for any more: another
/// client of the contact that is gone.
pub(crate) fn accept_gone(peer: &Shown, checked: &str) -> String {
    format!(
        "NOT accepted: no client of {peer} uses the key {checked} any more (that client ended \
         its session or logged out). Nothing changed; {peer}'s current key is accepted."
    )
}

/// `/sotto accept` with fewer digits than it needs.
/// `held`: messages wait for the decision (said only then).
pub(crate) fn accept_too_short(peer: &Shown, typed: &str, held: bool) -> String {
    format!(
        "NOT accepted: {typed} is too short to name {peer}'s key (a key can be made to match a \
         few digits). Type at least the first four groups of the fingerprint you checked.{}",
        if held { " Messages stay held." } else { "" }
    )
}

/// `/sotto accept` with something that is not a fingerprint (a character other than its
/// digits and the separators it is written with).
/// `held`: messages wait for the decision (said only then).
pub(crate) fn accept_not_a_fingerprint(peer: &Shown, typed: &str, held: bool) -> String {
    format!(
        "NOT accepted: {typed} is not a fingerprint (those are digits 0-9 and letters A-F, in \
         groups). Type the fingerprint of {peer}'s key you checked, at least its first four \
         groups.{}",
        if held { " Messages stay held." } else { "" }
    )
}

/// Nothing to accept.
pub(crate) fn nothing_to_accept(peer: &Shown) -> String {
    format!("there is no key of {peer} to accept: start an encrypted conversation first.")
}

/// The other client's key dialog was answered after that client stopped waiting for it,
/// while the conversation's own session is held (its key not accepted): [`accept_gone`]
/// without its last words, which would not be true.
pub(crate) fn other_client_gone(peer: &Shown, checked: &str) -> String {
    format!(
        "NOT accepted: no client of {peer} uses the key {checked} any more (that client ended \
         its session or logged out). Nothing changed."
    )
}

/// The changed key was accepted.
pub(crate) fn key_accepted(peer: &Shown) -> String {
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
    peer: &Shown,
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

/// Apply in the Known fingerprints view with no key or no action chosen.
pub(crate) fn known_nothing_chosen() -> &'static str {
    "Nothing was changed: choose a key in the list and what to do with it, then Apply."
}

/// The Known fingerprints view's explanation.
pub(crate) fn known_keys_dialog(damaged: usize) -> Dialog {
    let mut secondary = "Every contact key Sotto has recorded, per account. Select a key to mark \
                         it verified (only after comparing fingerprints with the contact over \
                         another channel), unverified, or to forget it (the next conversation \
                         then accepts the contact's key as new)."
        .to_owned();
    if damaged > 0 {
        secondary.push(' ');
        secondary.push_str(&known_keys_damaged(damaged));
    }
    dialog(
        "Sotto: known fingerprints",
        "Known fingerprints".to_owned(),
        secondary,
    )
}

/// The record of keys could not be read at all.
pub(crate) fn known_keys_unreadable(why: &str) -> String {
    format!(
        "Sotto could not read its record of contact keys ({why}). Nothing was changed; \
         conversations with contacts whose keys cannot be read send nothing."
    )
}

/// Some recorded keys are damaged and not listed.
pub(crate) fn known_keys_damaged(damaged: usize) -> String {
    let (n, s) = if damaged == 1 {
        ("One recorded key is", "its contact's conversations send")
    } else {
        (
            "Some recorded keys are",
            "their contacts' conversations send",
        )
    };
    format!(
        "{n} damaged and not listed ({damaged}); {s} nothing (the details are in Help > Debug \
         Window, or Finch's debug window)."
    )
}

/// What became of a recorded key.
pub(crate) fn record_changed(
    peer: &Shown,
    fingerprint: &str,
    done: Changed,
    change: Change,
) -> String {
    let what = match (done, change) {
        (Changed::Failed, _) => "could not be changed (storage problem)",
        (Changed::Gone, _) => {
            "is no longer recorded (it was forgotten meanwhile): nothing was changed"
        }
        (_, Change::Verify) => "is now marked verified",
        (_, Change::Unverify) => "is now marked unverified",
        (_, Change::Forget) => "is forgotten",
    };
    format!("{peer}'s key {fingerprint} {what}.")
}

/// The other names of the account a withdrawal reached with the record (a rename had carried
/// the record there); `None` when none.
pub(crate) fn record_changed_also(also: &[String], change: Change) -> Option<String> {
    if also.is_empty() {
        return None;
    }
    let what = match change {
        Change::Forget => "forgotten",
        Change::Verify | Change::Unverify => "marked unverified",
    };
    Some(format!(
        "The same key is {what} under {} too, where a rename of the contact had carried it.",
        super::known_as(also)
    ))
}

/// The key just forgotten is the one another client of the contact uses (the main session goes
/// on).
pub(crate) fn other_held_after_forget(peer: &Shown, fingerprint: &str) -> String {
    format!(
        "Another client of {peer} uses that key: it gets nothing you type until you accept the \
         key again (/sotto accept {fingerprint})."
    )
}

/// The key just forgotten is the one the conversation's session uses, and the contact has
/// another accepted key.
pub(crate) fn held_after_forget(peer: &Shown, fingerprint: &str) -> String {
    format!(
        "Your encrypted conversation with {peer} uses that key: what you type is held until \
         you accept it again (/sotto accept {fingerprint}) or end the conversation \
         (/sotto stop)."
    )
}
