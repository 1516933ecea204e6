//! What an account sends to names that nothing ties to the user, counted per account.
//!
//! A query (`?S1Q`) is answered with a start, a start (`?S1I`) with its answer, a data line or
//! a first piece that names no session here with a not-read notice. Each conversation answers
//! at most [`crate::protocol::session::ANSWER_BURST`] starts per
//! [`crate::protocol::session::ANSWER_WINDOW_SECS`] (and 8 not-read notices per 30 s), but
//! that budget is per name: anyone able to write from many names (IRC nicks, their own XMPP
//! domain) had every one of them answered. On IRC each answer is a line in libpurple's one rate-limited send queue for
//! the account (by default a burst of 5, then one line every 2 s, 30 a minute): forty nicks
//! each sending one query put about 80 s of Sotto's answers ahead of the user's own next line,
//! and every `?S1I` answered costs an X25519 and a save.
//!
//! So the lines an account sends to **strangers** are counted: names with no saved
//! conversation, no key accepted, no other client, no start the user asked for (a handshake
//! Sotto only answers is not one), that the host does not know either (no open window, not in
//! the buddy list: the caller says so, [`super::Sessions::familiar`]). At most
//! [`STRANGER_LINES`] per [`STRANGER_WINDOW_SECS`]; past that, a stranger's Sotto lines are
//! dropped before the conversation reads them: no state, no row, no line sent, no word in a
//! window (a log line says so). Plaintext is never dropped. A newcomer's handshake costs two
//! lines (the answer to its query, the confirmation of its answer); one caught in a flood is
//! answered when it starts again once the window is over.
#![forbid(unsafe_code)]

use std::collections::HashMap;

/// Lines one account sends to strangers per [`STRANGER_WINDOW_SECS`] at most: about libpurple's
/// default IRC burst, so a flood delays the user's next line by a few seconds per window.
pub const STRANGER_LINES: usize = 6;

/// The window, in seconds, over which [`STRANGER_LINES`] is counted.
pub const STRANGER_WINDOW_SECS: u64 = 60;

/// Per account, (protocol, account) → when its window began and the lines sent to strangers
/// in it.
#[derive(Default)]
pub(crate) struct StrangerLines {
    per_account: HashMap<(String, String), (u64, usize)>,
}

impl StrangerLines {
    /// Whether the account sent [`STRANGER_LINES`] lines to strangers within the window that
    /// holds `now_secs` (a clock that went back starts a new window).
    pub(crate) fn spent(&self, protocol: &str, account: &str, now_secs: u64) -> bool {
        self.per_account
            .get(&(protocol.to_owned(), account.to_owned()))
            .is_some_and(|&(start, lines)| !Self::over(start, now_secs) && lines >= STRANGER_LINES)
    }

    /// Counts `lines` sent to a stranger.
    pub(crate) fn sent(&mut self, protocol: &str, account: &str, lines: usize, now_secs: u64) {
        if lines == 0 {
            return;
        }
        let (start, count) = self
            .per_account
            .entry((protocol.to_owned(), account.to_owned()))
            .or_insert((now_secs, 0));
        if Self::over(*start, now_secs) {
            (*start, *count) = (now_secs, 0);
        }
        *count = count.saturating_add(lines);
    }

    fn over(start: u64, now_secs: u64) -> bool {
        now_secs < start || now_secs - start >= STRANGER_WINDOW_SECS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_sends_a_few_lines_to_strangers_per_window() {
        let mut a = StrangerLines::default();
        a.sent("irc", "alice", 0, 10);
        assert!(!a.spent("irc", "alice", 10));
        for i in 0..STRANGER_LINES {
            assert!(!a.spent("irc", "alice", 10), "line {i}");
            a.sent("irc", "alice", 1, 10);
        }
        assert!(a.spent("irc", "alice", 10));
        assert!(a.spent("irc", "alice", 10 + STRANGER_WINDOW_SECS - 1));
        assert!(!a.spent("irc", "carol", 10), "another account has its own");
        assert!(
            !a.spent("xmpp", "alice", 10),
            "another protocol's account too"
        );
        assert!(!a.spent("irc", "alice", 10 + STRANGER_WINDOW_SECS));
        assert!(!a.spent("irc", "alice", 9), "a clock that went back");
        a.sent("irc", "alice", 1, 10 + STRANGER_WINDOW_SECS);
        assert!(
            !a.spent("irc", "alice", 10 + STRANGER_WINDOW_SECS),
            "a new window"
        );
        a.sent("irc", "alice", STRANGER_LINES, 10 + STRANGER_WINDOW_SECS);
        assert!(
            a.spent("irc", "alice", 10 + STRANGER_WINDOW_SECS),
            "lines, not calls"
        );
    }
}
