//! One window for several of a contact's accounts: the libpurple half of
//! [`crate::sessions::siblings`].
//!
//! Pidgin puts the IM conversations with the buddies of one buddy-list contact in one tab
//! (`pidgin_conv_find_gtkconv` looks for an open conversation with another buddy of the
//! contact), Finch in one window, and both send what is typed to the conversation the window
//! has active, which a message from any of them makes active. Here: the contact's other
//! conversations that are open (only an open one shares the window), each one's state, the
//! rule's verdict, and the line that says a message was held back.

use crate::sessions::siblings::{SiblingState, Verdict};

use super::glue::{self, ConvKey, ConvRef};
use super::service;
use super::texts::{self, Shown};

/// The user typed `text` in `r`'s window, and the sessions service would send it to `r` in
/// plaintext: `None` when it may go, else the line that tells the user it was held back (the
/// caller writes it into `r`'s window, after cancelling the send).
pub(crate) fn held_back(r: &ConvRef, text: &str) -> Option<String> {
    let open: Vec<ConvRef> = glue::contact_siblings(r)
        .into_iter()
        .filter(|s| !s.conversation().is_null())
        .collect();
    let states: Vec<(ConvKey, SiblingState)> = open
        .iter()
        .map(|s| (s.key(), service::sibling_state(s)))
        .collect();
    let (sibling, how) = match service::check_siblings(r, &states, text) {
        Some(Verdict::Send) => return None,
        Some(Verdict::Refuse { sibling, state }) => (sibling, state),
        // The service could not be asked (never while a send runs): held back only where a
        // sibling keeps plaintext out.
        None if states.iter().all(|(_, s)| *s == SiblingState::Open) => return None,
        None => return Some(texts::not_sent(text)),
    };
    let named = open
        .iter()
        .zip(&states)
        .find_map(|(s, (k, _))| (*k == sibling).then_some(s));
    let Some(named) = named else {
        return Some(texts::not_sent(text));
    };
    Some(texts::sibling_not_sent(
        &label(r, r),
        &label(r, named),
        how,
        text,
    ))
}

/// How the line names the conversation `of` for a user in `this`'s window: its contact's name
/// and protocol, and the user's account when it is another of the same protocol.
fn label(this: &ConvRef, of: &ConvRef) -> Shown {
    let protocol = glue::protocol_name(of);
    if of.protocol == this.protocol && of.key().account != this.key().account {
        Shown::new(&format!(
            "{} ({protocol}, your account {})",
            of.peer, of.account
        ))
    } else {
        Shown::new(&format!("{} ({protocol})", of.peer))
    }
}
