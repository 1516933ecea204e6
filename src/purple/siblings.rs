//! One window for several of a contact's accounts: the libpurple half of
//! [`crate::sessions::siblings`].
//!
//! Pidgin puts the IM conversations with the buddies of one buddy-list contact in one tab
//! (`pidgin_conv_find_gtkconv` looks for an open conversation with another buddy of the
//! contact), Finch in one window, and both send what is typed to the conversation the window
//! has active, which a message from any of them makes active. Here: the conversations that
//! share the window (the contact's others that are open, and any open one the UI shows in the
//! same window, also after a rename took it out of the buddy list's reach), each one's state,
//! the rule's verdict, the line that says a message was held back, the dialog that asks whether
//! to send it unencrypted, and sending it when the user says so.

use crate::sessions::siblings::{SiblingState, Verdict};

use super::glue::{self, ConvKey, ConvRef};
use super::state::HeldLine;
use super::texts::{self, Dialog, Shown};
use super::{dialogs, service};

/// A line held back: what to tell the user in the window and, when there is something to
/// answer, the question to ask and the line to send if the answer is yes.
pub(crate) struct Refusal {
    line: String,
    ask: Option<(Dialog, HeldLine)>,
}

impl Refusal {
    /// Writes the line into `r`'s window (the text given back) and asks.
    pub(crate) fn tell(self, r: &ConvRef) {
        r.system_line(&self.line);
        if let Some((dialog, held)) = self.ask {
            dialogs::confirm_sibling(r, &dialog, held);
        }
    }
}

/// The user typed `text` in `r`'s window (`held` makes the line to send again if they confirm:
/// the markup typed, or the command line), and the sessions service would send it to `r` in
/// plaintext: `None` when it may go, else what to tell the user (the caller cancels the send,
/// then [`Refusal::tell`]s).
pub(crate) fn held_back(
    r: &ConvRef,
    text: &str,
    held: impl FnOnce() -> HeldLine,
) -> Option<Refusal> {
    let open = open_siblings(r);
    let states: Vec<(ConvKey, SiblingState)> =
        open.iter().map(|(s, state)| (s.key(), *state)).collect();
    let refused = |line| Some(Refusal { line, ask: None });
    let (sibling, how) = match service::check_siblings(r, &states) {
        Some(Verdict::Send) => return None,
        Some(Verdict::Refuse { sibling, state }) => (sibling, state),
        // The service could not be asked (never while a send runs): held back only where a
        // sibling keeps plaintext out.
        None if states.iter().all(|(_, s)| *s == SiblingState::Open) => return None,
        None => return refused(texts::not_sent(text)),
    };
    let named = open
        .iter()
        .zip(&states)
        .find_map(|((s, _), (k, _))| (*k == sibling).then_some(s));
    let Some(named) = named else {
        return refused(texts::not_sent(text));
    };
    let (this, other) = (label(r, r), label(r, named));
    Some(Refusal {
        line: texts::sibling_not_sent(&this, &other, how, text),
        ask: Some((texts::sibling_dialog(&this, &other, how, text), held())),
    })
}

/// The conversations open in `r`'s window besides `r`, each with its state. A renamed one
/// takes its conversation to its new name first; one that could not follow is unreadable (it
/// guards).
fn open_siblings(r: &ConvRef) -> Vec<(ConvRef, SiblingState)> {
    glue::contact_siblings(r)
        .into_iter()
        .filter_map(|s| {
            let conv = s.conversation();
            if conv.is_null() {
                return None;
            }
            // SAFETY: looked up just now: live.
            let followed = unsafe { service::track(conv) };
            let state = if followed {
                service::sibling_state(&s)
            } else {
                SiblingState::Unknown
            };
            Some((s, state))
        })
        .collect()
}

/// The user answered "Send unencrypted" about the line `held` held back for `r`: the allowance
/// starts and the line is sent again as typed, through the same checks (which now let it
/// through, as long as the other conversations are as they were when the user was asked;
/// otherwise it is held back and asked about again). Nothing is sent when `r`'s window went
/// away, when the account is offline, or when `r` itself no longer sends unencrypted (it was
/// encrypted meanwhile: the question was about plaintext); the window then says so, with the
/// text. Nor when the window with `r`'s name now is not `window`, the one the line was typed
/// in: the contact was renamed since (its window went with it) and someone else has the name
/// (IRC: a stranger took the nick and wrote); the window the line was typed in says so.
pub(crate) fn send_confirmed(r: &ConvRef, held: HeldLine, window: Option<usize>) {
    let shown = held.shown();
    let conv = r.conversation();
    // SAFETY: `conv` was looked up just now; `known` is called only when it is not null.
    let now = (!conv.is_null())
        .then(|| unsafe { super::windows::known(conv) })
        .flatten()
        .map(|(id, _)| id);
    if window.is_some() && now != window {
        // Told in the window the line was typed in, which has the contact's new name now (or,
        // if it is not known yet, in the one with the name: the text is the user's own,
        // shown in no message to anyone). A window closed since: a box gives the text back
        // (it was only in that window; it was lost without a word).
        let typed_in = window
            .and_then(super::windows::key_of)
            .filter(|k| k.account == r.key().account && k.protocol == r.key().protocol)
            .map(|k| r.with_peer(k.peer))
            .or_else(|| (!conv.is_null()).then(|| r.clone()));
        let said = texts::sibling_answer_renamed(&label(r, r), &shown);
        match typed_in {
            Some(typed_in) => typed_in.system_line(&said),
            None => r.failure_line(&said),
        }
        return;
    }
    if conv.is_null() {
        // No window to send from (closed): nothing is sent, and a box gives the text back.
        r.failure_line(&texts::sibling_answer_renamed(&label(r, r), &shown));
        return;
    }
    if !r.connected() {
        r.system_line(&texts::not_sent_offline(&shown));
        return;
    }
    if !service::track_name(r) {
        r.system_line(&texts::not_sent(&shown));
        return;
    }
    if !service::plaintext_allowed(r) {
        r.system_line(&texts::sibling_answer_stale(&label(r, r), &shown));
        return;
    }
    if !service::confirm_siblings(r) {
        glue::debug_info("a held-back line was confirmed with no question open; asking again");
    }
    match held {
        HeldLine::Message(markup) => {
            if !r.send_typed(&markup) {
                r.system_line(&texts::not_sent(&shown));
            }
        }
        HeldLine::Command(cmdline) => {
            if let Err(why) = r.run_command(&cmdline) {
                r.system_line(&match why {
                    Some(why) => texts::not_sent_why(&why, &shown),
                    None => texts::not_sent(&shown),
                });
            }
        }
    }
}

/// How the line names the conversation `of` for a user in `this`'s window: its contact's name
/// and protocol, and the user's account when it is another of the same protocol.
pub(crate) fn label(this: &ConvRef, of: &ConvRef) -> Shown {
    let protocol = glue::protocol_name(of);
    if of.protocol == this.protocol && of.key().account != this.key().account {
        Shown::with_suffix(
            &of.peer,
            &format!(" ({protocol}, your account {})", of.account),
        )
    } else {
        Shown::with_suffix(&of.peer, &format!(" ({protocol})"))
    }
}
