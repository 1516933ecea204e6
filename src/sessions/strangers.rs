//! Answers to names never talked to, counted per account.
//!
//! A query (`?S1Q`) is answered with a start, a start (`?S1I`) with its answer, a data line or
//! a first piece that names no session here with a not-read notice. Each conversation answers
//! at most [`crate::protocol::session::ANSWER_BURST`] starts per
//! [`crate::protocol::session::ANSWER_WINDOW_SECS`] (and 8 not-read notices per 30 s), but
//! that budget is per name: anyone able to write from many names (IRC nicks, their own XMPP
//! domain) had every one of them answered. On IRC each answer is a line in libpurple's one
//! rate-limited send queue for the account (by default a burst of 5, then one line every
//! 2 s): forty nicks each sending one query put about 80 s of Sotto's answers ahead of the
//! user's own next line, and an `?S1I` costs an X25519 and a save each.
//!
//! So a name never talked to (no saved conversation, no key accepted, nothing under way:
//! [`super::Session`]'s "takes no pieces") is answered only while its account has answered
//! fewer than [`STRANGER_ANSWERS`] other such names in the current window of
//! [`STRANGER_WINDOW_SECS`] (one of those goes on under its own budget). Past that, its Sotto
//! lines are dropped before the conversation reads them: no state, no row, no line
//! sent, no word in a window (a log line says so). Plaintext is never dropped. A name the user
//! talks to, or has started with, or whose key is accepted is not a stranger and keeps its own
//! budget only. A real newcomer caught in a flood is answered when it starts again (its Sotto
//! says the start was not answered).
#![forbid(unsafe_code)]

use std::collections::HashMap;

/// Names never talked to that one account answers per [`STRANGER_WINDOW_SECS`] at most:
/// within libpurple's default IRC burst, so a flood delays the user's next line by a few
/// seconds at most per window.
pub const STRANGER_ANSWERS: usize = 5;

/// The window, in seconds, over which [`STRANGER_ANSWERS`] is counted.
pub const STRANGER_WINDOW_SECS: u64 = 60;

/// Per account, (protocol, account) → when its window began and the names never talked to
/// it answered in it (at most [`STRANGER_ANSWERS`]).
#[derive(Default)]
pub(crate) struct StrangerAnswers {
    per_account: HashMap<(String, String), (u64, Vec<String>)>,
}

impl StrangerAnswers {
    /// Whether the account answered [`STRANGER_ANSWERS`] other names never talked to than
    /// `name` within the window that holds `now_secs` (a clock that went back starts a new
    /// window). A name answered in the window goes on under its own budget.
    pub(crate) fn spent(&self, protocol: &str, account: &str, name: &str, now_secs: u64) -> bool {
        self.per_account
            .get(&(protocol.to_owned(), account.to_owned()))
            .is_some_and(|(start, names)| {
                !Self::over(*start, now_secs)
                    && names.len() >= STRANGER_ANSWERS
                    && !names.iter().any(|n| n == name)
            })
    }

    /// Counts an answer to `name`, never talked to.
    pub(crate) fn answered(&mut self, protocol: &str, account: &str, name: &str, now_secs: u64) {
        let (start, names) = self
            .per_account
            .entry((protocol.to_owned(), account.to_owned()))
            .or_insert((now_secs, Vec::new()));
        if Self::over(*start, now_secs) {
            (*start, *names) = (now_secs, Vec::new());
        }
        if names.len() < STRANGER_ANSWERS && !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }

    fn over(start: u64, now_secs: u64) -> bool {
        now_secs < start || now_secs - start >= STRANGER_WINDOW_SECS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_answers_a_few_strangers_per_window() {
        let mut a = StrangerAnswers::default();
        for i in 0..STRANGER_ANSWERS {
            let name = format!("m{i}");
            assert!(!a.spent("irc", "alice", &name, 10), "answer {i}");
            a.answered("irc", "alice", &name, 10);
            a.answered("irc", "alice", &name, 11);
        }
        assert!(a.spent("irc", "alice", "x", 10));
        assert!(
            !a.spent("irc", "alice", "m0", 10),
            "a name answered goes on"
        );
        assert!(a.spent("irc", "alice", "x", 10 + STRANGER_WINDOW_SECS - 1));
        assert!(
            !a.spent("irc", "carol", "x", 10),
            "another account has its own"
        );
        assert!(
            !a.spent("xmpp", "alice", "x", 10),
            "another protocol's account too"
        );
        assert!(!a.spent("irc", "alice", "x", 10 + STRANGER_WINDOW_SECS));
        assert!(!a.spent("irc", "alice", "x", 9), "a clock that went back");
        a.answered("irc", "alice", "y", 10 + STRANGER_WINDOW_SECS);
        assert!(
            !a.spent("irc", "alice", "x", 10 + STRANGER_WINDOW_SECS),
            "a new window"
        );
    }
}
