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
//! the buddy list: the caller says so, [`super::Sessions::familiar`]; an open window vouches
//! only once the user did something in it, since any line that arrives can open one). At most
//! [`STRANGER_LINES`] per [`STRANGER_WINDOW_SECS`]; past that, a stranger's Sotto lines are
//! dropped before the conversation reads them: no state, no row, no line sent, no word in a
//! window (a log line says so). Plaintext is never dropped. A newcomer's handshake costs two
//! lines (the answer to its query, the confirmation of its answer); one caught in a flood is
//! answered when it starts again once the window is over.
//!
//! The conversations strangers leave behind are bounded too. A handshake the user did not ask
//! for that completes leaves a saved conversation (up to 2,000 skipped message keys, about
//! 136 KB, on disk and in memory): within the line budget a few a minute, thousands a day,
//! kept for good. Such a conversation is marked on its row when first saved
//! (`Store::mark_stranger`), whether or not its key was known; what the user does to keep it
//! (types, starts, accepts or verifies a key, asks or answers a question, chooses its policy)
//! clears the mark. Each account keeps the [`STRANGERS_KEPT`] newest marked conversations; an
//! older one is forgotten, on disk and in memory (`Store::forget_stranger`): its rows and the
//! marks naming it, never a key (the trust table cannot tell whose key it is under a name a
//! stranger took, and a deleted key would let an impostor be taken on first use). A
//! forgotten conversation's next line cannot be read; its user, told so, starts again and the
//! line goes again, on the key already known.
#![forbid(unsafe_code)]

use std::collections::HashMap;

use super::{ConvKey, Sessions};

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

/// Conversations a stranger began that each account keeps (the newest).
pub const STRANGERS_KEPT: usize = 64;

/// How often, at most, an account over [`STRANGERS_KEPT`] whose oldest are all in use is
/// looked at again without a new stranger (seconds): each look asks the host about every
/// marked name.
pub const TRIM_EVERY_SECS: u64 = 30;

/// Per account, (protocol, account) → the names of its conversations a stranger began,
/// oldest first, as the store lists them (read from the store at the account's first need),
/// and when they were last trimmed.
#[derive(Default)]
pub(crate) struct Marked {
    per_account: Vec<AccountMarks>,
}

/// One account's entry in [`Marked`].
struct AccountMarks {
    protocol: String,
    account: String,
    /// Its conversations a stranger began, oldest first.
    names: Vec<String>,
    /// When they were last trimmed.
    trimmed: Option<u64>,
    /// A conversation was marked since the last trim: the next one runs whenever asked.
    marked_since: bool,
    /// Rows moved since `names` was read (a rename): read again at the next need.
    stale: bool,
}

impl AccountMarks {
    fn is(&self, protocol: &str, account: &str) -> bool {
        self.protocol == protocol && self.account == account
    }
}

impl Marked {
    fn entry(&mut self, protocol: &str, account: &str) -> Option<&mut AccountMarks> {
        self.per_account
            .iter_mut()
            .find(|m| m.is(protocol, account))
    }

    fn find(&mut self, protocol: &str, account: &str) -> Option<&mut Vec<String>> {
        self.entry(protocol, account).map(|m| &mut m.names)
    }

    /// Whether the account's list may be trimmed at `now_secs` (a stranger was marked since
    /// the last trim, or the last one was [`TRIM_EVERY_SECS`] ago or more), noted as trimmed.
    fn trim_due(&mut self, protocol: &str, account: &str, now_secs: u64) -> bool {
        let Some(m) = self.entry(protocol, account) else {
            return false;
        };
        let due = std::mem::take(&mut m.marked_since)
            || match m.trimmed {
                None => true,
                Some(t) => now_secs < t || now_secs - t >= TRIM_EVERY_SECS,
            };
        if due {
            m.trimmed = Some(now_secs);
        }
        due
    }

    /// The account's list is read again at its next need (a rename moved or parked rows);
    /// when it was last trimmed is kept (renames must not make every line trim).
    pub(crate) fn forget_account(&mut self, protocol: &str, account: &str) {
        if let Some(m) = self.entry(protocol, account) {
            m.stale = true;
        }
    }
}

impl Sessions {
    /// The account's marked conversations, read from the store if not read yet (`None`: no
    /// store, or it could not be read).
    fn marked(&mut self, protocol: &str, account: &str) -> Option<&mut Vec<String>> {
        let read = self.marked.entry(protocol, account).map(|m| m.stale);
        if read != Some(false) {
            let names = match self.store.as_ref()?.strangers(protocol, account) {
                Ok(names) => names,
                Err(e) => {
                    self.log
                        .push(format!("listing strangers' conversations: {e}"));
                    return None;
                }
            };
            match self.marked.entry(protocol, account) {
                Some(m) => {
                    m.names = names;
                    m.stale = false;
                }
                None => self.marked.per_account.push(AccountMarks {
                    protocol: protocol.to_owned(),
                    account: account.to_owned(),
                    names,
                    trimmed: None,
                    marked_since: false,
                    stale: false,
                }),
            }
        }
        self.marked.find(protocol, account)
    }

    /// A stranger's conversation was saved for the first time: marked (the caller then trims
    /// the account's, [`Sessions::trim_strangers`]).
    pub(super) fn keep_stranger(&mut self, key: &ConvKey, now_secs: u64) {
        let (p, a) = (&key.protocol, &key.account);
        let Some(store) = self.store.as_ref() else {
            return;
        };
        match store.mark_stranger(p, a, &key.peer, now_secs) {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                self.log
                    .push(format!("marking a stranger's conversation: {e}"));
                return;
            }
        }
        if let Some(names) = self.marked(p, a) {
            if !names.contains(&key.peer) {
                names.push(key.peer.clone());
            }
        }
        if let Some(m) = self.marked.entry(p, a) {
            m.marked_since = true;
        }
    }

    /// Whether the account has more than `kept` (the host's [`STRANGERS_KEPT`]) conversations a
    /// stranger began and a trim is due ([`Sessions::trim_strangers`]): a stranger was marked
    /// since the last, or [`TRIM_EVERY_SECS`] went by (a window closed since can let its
    /// conversation go). Asked after every line read; a yes counts as the trim made.
    pub fn trim_due(&mut self, protocol: &str, account: &str, now_secs: u64, kept: usize) -> bool {
        let over = self
            .marked(protocol, account)
            .is_some_and(|names| names.len() > kept);
        over && self.marked.trim_due(protocol, account, now_secs)
    }

    /// Forgets the account's oldest conversations a stranger began beyond `kept`, except those
    /// `in_use` says the host shows or knows, under their name or a name a mark holds for them
    /// (an open window, which may say "encrypted" and take the user's next line; a name in
    /// the buddy list): kept while so.
    pub fn trim_strangers(
        &mut self,
        protocol: &str,
        account: &str,
        kept: usize,
        in_use: impl Fn(&str) -> bool,
    ) {
        let Some(names) = self.marked(protocol, account) else {
            return;
        };
        let mut over = names.len().saturating_sub(kept);
        let names = names.clone();
        let mut gone = Vec::new();
        for peer in names {
            if over == 0 {
                break;
            }
            // A window may show the conversation under its name, or under a name a mark holds
            // for it (one it moved away from; the name it was parked from): forgotten, the
            // mark would go and that window's next line with it, in plaintext.
            let held = match self
                .store
                .as_ref()
                .map(|s| s.marks_to(protocol, account, &peer))
            {
                Some(Ok(held)) => held,
                Some(Err(e)) => {
                    self.log.push(format!("reading a stranger's marks: {e}"));
                    continue;
                }
                None => return,
            };
            if !in_use(&peer) && !held.iter().any(|n| in_use(n)) {
                gone.push(peer);
                over -= 1;
            }
        }
        for peer in gone {
            self.forget_stranger(&ConvKey {
                protocol: protocol.to_owned(),
                account: account.to_owned(),
                peer,
            });
        }
    }

    /// Forgets a stranger's conversation, on disk and in memory (the store's rows first: one
    /// that cannot be deleted stays, in memory too, and is tried again at the next stranger).
    fn forget_stranger(&mut self, key: &ConvKey) {
        let (p, a) = (&key.protocol, &key.account);
        let Some(store) = self.store.as_ref() else {
            return;
        };
        match store.forget_stranger(p, a, &key.peer) {
            // Not marked on disk (any more): not forgotten, only no longer listed.
            Ok(false) => {
                if let Some(names) = self.marked.find(p, a) {
                    names.retain(|n| *n != key.peer);
                }
            }
            Ok(true) => {
                self.sessions.remove(key);
                self.kept_resend.remove(key);
                self.kept_away.remove(key);
                if let Some(names) = self.marked.find(p, a) {
                    names.retain(|n| *n != key.peer);
                }
                self.log
                    .push("forgot the oldest conversation a stranger began".to_owned());
            }
            Err(e) => self
                .log
                .push(format!("forgetting a stranger's conversation: {e}")),
        }
    }

    /// The user did something in `key`'s conversation to keep it (typed, started, accepted or
    /// verified a key, asked or answered a question, chose its policy): it is not a
    /// stranger's any more.
    pub fn user_acted(&mut self, key: &ConvKey) {
        // Typed in a window whose name a mark holds for a conversation that moved away (held
        // there): that conversation is the user's too.
        let moved = match self.sessions.get(key) {
            Some(s) => s.moved_to.clone(),
            // Not loaded yet (the first line after a restart): the store's mark says.
            None => self.store.as_ref().and_then(|st| {
                st.moved_to(&key.protocol, &key.account, &key.peer)
                    .ok()
                    .flatten()
            }),
        }
        .filter(|to| *to != key.peer);
        self.unmark(key);
        if let Some(peer) = moved {
            self.unmark(&ConvKey {
                peer,
                ..key.clone()
            });
        }
    }

    /// `key`'s conversation is not a stranger's any more, if it was.
    fn unmark(&mut self, key: &ConvKey) {
        let Some(names) = self.marked(&key.protocol, &key.account) else {
            return;
        };
        let Some(at) = names.iter().position(|n| *n == key.peer) else {
            return;
        };
        let Some(store) = self.store.as_ref() else {
            return;
        };
        match store.unmark_stranger(&key.protocol, &key.account, &key.peer) {
            Ok(()) => {
                if let Some(names) = self.marked.find(&key.protocol, &key.account) {
                    names.remove(at);
                }
            }
            Err(e) => self
                .log
                .push(format!("unmarking a stranger's conversation: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An account over the count is trimmed after a stranger was marked, else at most every
    /// `TRIM_EVERY_SECS` (a window closed since lets its conversation go then).
    #[test]
    fn a_trim_runs_after_a_mark_or_once_in_a_while() {
        let mut m = Marked::default();
        assert!(!m.trim_due("irc", "alice", 10), "no list read yet");
        m.per_account.push(AccountMarks {
            protocol: "irc".into(),
            account: "alice".into(),
            names: Vec::new(),
            trimmed: None,
            marked_since: false,
            stale: false,
        });
        assert!(m.trim_due("irc", "alice", 10), "never trimmed");
        assert!(!m.trim_due("irc", "alice", 11));
        if let Some(e) = m.entry("irc", "alice") {
            e.marked_since = true;
        }
        assert!(m.trim_due("irc", "alice", 12), "a stranger was marked");
        assert!(!m.trim_due("irc", "alice", 12 + TRIM_EVERY_SECS - 1));
        assert!(m.trim_due("irc", "alice", 12 + TRIM_EVERY_SECS));
        assert!(m.trim_due("irc", "alice", 5), "a clock that went back");
        m.forget_account("irc", "alice");
        assert!(
            !m.trim_due("irc", "alice", 6),
            "a rename keeps when it was trimmed"
        );
    }

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
