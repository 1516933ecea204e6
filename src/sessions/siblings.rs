//! One window, several conversations: the rule that keeps a line meant for an encrypted
//! conversation from leaving in plaintext to another account of the same person.
//!
//! Pidgin and Finch show the conversations with the buddies of one buddy-list *contact* (bob's
//! XMPP and IRC buddies, merged into one contact) in one tab or window, and send what is typed
//! to whichever of them the window has active; a message from one of them makes it the active
//! one. A user who believes they are writing in the encrypted conversation can so send a line
//! in plaintext to another of the contact's accounts. The plugin layer finds the contact's other
//! conversations that are open (its *siblings*) and each one's [`SiblingState`]; this module
//! decides, without libpurple.
//!
//! The rule ([`SiblingGuard::check`]), asked only for plaintext the user typed (Sotto's own lines
//! and auto-replies never ask):
//!
//! * A sibling *guards* when what is typed in it would not go out in plaintext: it is encrypted,
//!   or a session is being set up, text is held, the contact ended it, its policy is `always`
//!   (or would start a session for what is typed), or its state could not be read. With no
//!   sibling that guards, the line goes: nothing changes for anyone who does not merge contacts,
//!   nor for a contact none of whose other conversations guards.
//! * Otherwise the line is not sent, the user is told (with the text given back) and asked,
//!   in a dialog that names where the line would go, whether to send it unencrypted. Only that
//!   answer ([`SiblingGuard::confirm`]) lets it go: sending the same line again is held back
//!   again. Everywhere else in Sotto a line NOT sent is safe to send again (it goes encrypted
//!   or is held again); here the same gesture would mean "send it in plaintext", and a user
//!   who retries without reading would leak the line.
//! * Once confirmed, the conversation has an *allowance*: the held line goes (the caller sends
//!   it again, and the check lets it through), and so does every line after it while each
//!   comes within [`ALLOWANCE_SECS`] of the one before: a user who chats in plaintext on
//!   purpose is asked once, not at every line.
//! * An allowance covers the siblings it was asked against, as they were: an encrypted one in
//!   the same session only (a new session asks again), one being set up in whatever session it
//!   comes to, one whose state could not be read only while it still cannot be (whatever it
//!   turns out to be asks again). A sibling that guards and that it does not cover asks again;
//!   one that no longer guards is dropped from it, and with none left the allowance goes.
//! * Anything typed or read in a sibling a confirmed allowance was granted against ends it
//!   ([`SiblingGuard::spoke_in`]): the window has been on that conversation since, and the next
//!   line typed may be meant for it. A question still open is not ended by that: its dialog
//!   names the conversation the line goes to, so the answer does not depend on what the window
//!   shows.
//!
//! ```
//! use sotto::sessions::siblings::{SiblingGuard, SiblingState, Verdict, ALLOWANCE_SECS};
//! use sotto::sessions::ConvKey;
//!
//! let key = |protocol: &str, peer: &str| ConvKey {
//!     protocol: protocol.into(),
//!     account: "alice".into(),
//!     peer: peer.into(),
//! };
//! let (irc, xmpp) = (key("prpl-irc", "bob"), key("prpl-jabber", "bob@example.org"));
//! let siblings = [(xmpp.clone(), SiblingState::Encrypted([1, 2, 3, 4]))];
//! let mut guard = SiblingGuard::default();
//! let refused = |v: Verdict| matches!(v, Verdict::Refuse { .. });
//! // The first plaintext line to IRC bob is held back, naming the encrypted conversation;
//! // sent again, it is held back again: a retry is not a confirmation.
//! assert!(refused(guard.check(&irc, &siblings, 100)));
//! assert!(refused(guard.check(&irc, &siblings, 101)));
//! // The user answers the dialog "Send unencrypted": the line sent for it goes, and so do the
//! // lines after it.
//! assert!(guard.confirm(&irc, 110));
//! assert_eq!(guard.check(&irc, &siblings, 110), Verdict::Send);
//! assert_eq!(guard.check(&irc, &siblings, 111), Verdict::Send);
//! // Once something is read in the encrypted conversation, the next line asks again.
//! guard.spoke_in(&xmpp);
//! assert!(refused(guard.check(&irc, &siblings, 120)));
//! // So does a line typed after the allowance lapsed.
//! assert!(guard.confirm(&irc, 121));
//! assert_eq!(guard.check(&irc, &siblings, 121), Verdict::Send);
//! let later = 121 + ALLOWANCE_SECS + 1;
//! assert!(refused(guard.check(&irc, &siblings, later)));
//! ```
#![forbid(unsafe_code)]

use std::collections::HashMap;

use super::ConvKey;

/// How long an allowance lasts after the user confirmed, or after the last line sent under it.
pub const ALLOWANCE_SECS: u64 = 10 * 60;

/// Most allowances kept (one per conversation the user was asked about); lapsed ones go first.
const MAX_ALLOWANCES: usize = 256;

/// What another conversation of the same contact does with what is typed in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SiblingState {
    /// What is typed goes out in plaintext: nothing under way, nothing held, a policy that
    /// starts nothing. It does not guard.
    Open,
    /// Encrypted, in the session with this id (the first bytes of its handshake hash: a
    /// public name of the session, carried in its data messages).
    Encrypted([u8; 4]),
    /// Keeps plaintext out without a session up: one being set up, text held until there is
    /// one, a session the contact ended (what is typed there is held), or a policy (`always`,
    /// or a name held as under it) that would hold what is typed and start one.
    Guarded,
    /// Its state could not be read (the store did not answer): taken as guarding.
    Unknown,
}

impl SiblingState {
    fn guards(self) -> bool {
        self != SiblingState::Open
    }

    /// Which sibling a refusal names first: an encrypted one, then one that holds.
    fn rank(self) -> u8 {
        match self {
            SiblingState::Encrypted(_) => 0,
            SiblingState::Guarded => 1,
            SiblingState::Unknown => 2,
            SiblingState::Open => 3,
        }
    }
}

/// What [`SiblingGuard::check`] decided for a plaintext line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No sibling guards, or a confirmed allowance covers the line: it goes.
    Send,
    /// Not sent: tell the user and ask (only [`SiblingGuard::confirm`] lets a line go), naming
    /// `sibling`, the first that guards (one a confirmed allowance does not cover, an encrypted
    /// one before others), which is in `state`.
    Refuse {
        sibling: ConvKey,
        state: SiblingState,
    },
}

/// A sibling as it was when the user was asked: what an allowance covers of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Then {
    /// Encrypted in this session.
    Session([u8; 4]),
    /// Being set up, or holding (see [`SiblingState::Guarded`]): covered in the session it
    /// comes to, which it then takes.
    SettingUp,
    /// Not readable: covered only while it still cannot be read.
    Unknown,
}

impl Then {
    fn of(state: SiblingState) -> Then {
        match state {
            SiblingState::Encrypted(id) => Then::Session(id),
            SiblingState::Unknown => Then::Unknown,
            SiblingState::Guarded | SiblingState::Open => Then::SettingUp,
        }
    }

    /// Whether the user, asked about the sibling as it was then, was asked about it as it is
    /// `now`. Session ids are public (every data message carries its own): compared plainly.
    fn covers(self, now: SiblingState) -> bool {
        match (self, now) {
            (Then::Session(then), SiblingState::Encrypted(now)) => then == now,
            (Then::SettingUp, SiblingState::Encrypted(_)) => true,
            (Then::Session(_) | Then::SettingUp, SiblingState::Guarded) => true,
            (Then::Unknown, SiblingState::Unknown) => true,
            (_, SiblingState::Open) => true,
            (Then::Unknown, _) | (Then::Session(_) | Then::SettingUp, SiblingState::Unknown) => {
                false
            }
        }
    }
}

/// One conversation's allowance: plaintext may go despite siblings that guard, once the user
/// confirmed; before that, the question the user was asked.
#[derive(Debug)]
struct Allowance {
    /// When the user was asked or confirmed, or the last line went under it (seconds).
    last: u64,
    /// The siblings it was asked against, each as it was then.
    against: Vec<(ConvKey, Then)>,
    /// The user answered "send unencrypted": lines go.
    confirmed: bool,
}

impl Allowance {
    fn fresh(&self, now: u64) -> bool {
        // A clock set back is not trusted to say how long ago it was: lapsed.
        now >= self.last && now - self.last <= ALLOWANCE_SECS
    }

    /// Whether it was asked against `sibling` as it is now (`state`).
    fn covers(&self, sibling: &ConvKey, state: SiblingState) -> bool {
        self.against
            .iter()
            .any(|(k, then)| k == sibling && then.covers(state))
    }

    /// A confirmed allowance still in force that covers `sibling` as it is now.
    fn lets_through(&self, sibling: &ConvKey, state: SiblingState, now: u64) -> bool {
        self.confirmed && self.fresh(now) && self.covers(sibling, state)
    }
}

/// The allowances of the conversations whose users were asked (see the module doc). In
/// memory only: a restart asks again.
#[derive(Debug, Default)]
pub struct SiblingGuard {
    allowances: HashMap<ConvKey, Allowance>,
}

impl SiblingGuard {
    /// The user typed a line that would go to `key` in plaintext at `now` (seconds), while
    /// `siblings` (the contact's other open conversations, each with its state) are as given:
    /// whether it goes. After a refusal the caller must tell the user, give the text back and
    /// ask; a "send unencrypted" answer is [`SiblingGuard::confirm`], and then the line sent
    /// again goes. The line's text plays no part: sending it again is no answer.
    pub fn check(
        &mut self,
        key: &ConvKey,
        siblings: &[(ConvKey, SiblingState)],
        now: u64,
    ) -> Verdict {
        let guarding: Vec<&(ConvKey, SiblingState)> = siblings
            .iter()
            .filter(|(k, s)| k != key && s.guards())
            .collect();
        if guarding.is_empty() {
            self.allowances.remove(key);
            return Verdict::Send;
        }
        if let Some(a) = self.allowances.get_mut(key) {
            if guarding.iter().all(|(k, s)| a.lets_through(k, *s, now)) {
                a.last = now;
                // Siblings that no longer guard leave it; one being set up then takes the
                // session it came to (a later session asks again).
                a.against
                    .retain(|(k, _)| guarding.iter().any(|(g, _)| g == k));
                for (k, then) in &mut a.against {
                    if *then == Then::SettingUp {
                        if let Some((_, SiblingState::Encrypted(id))) =
                            guarding.iter().find(|(g, _)| g == k)
                        {
                            *then = Then::Session(*id);
                        }
                    }
                }
                return Verdict::Send;
            }
        }
        // The refusal names what it is about: a sibling a confirmed allowance (if any) does
        // not cover.
        let named = guarding
            .iter()
            .filter(|(k, s)| {
                !self
                    .allowances
                    .get(key)
                    .is_some_and(|a| a.lets_through(k, *s, now))
            })
            .min_by_key(|(_, s)| s.rank())
            .or_else(|| guarding.iter().min_by_key(|(_, s)| s.rank()));
        let Some(&&(ref sibling, state)) = named else {
            return Verdict::Send;
        };
        self.make_room(key, now);
        self.allowances.insert(
            key.clone(),
            Allowance {
                last: now,
                against: guarding
                    .iter()
                    .map(|(k, s)| (k.clone(), Then::of(*s)))
                    .collect(),
                confirmed: false,
            },
        );
        Verdict::Refuse {
            sibling: sibling.clone(),
            state,
        }
    }

    /// The user answered the question about the line held back for `key` with "send
    /// unencrypted", at `now`: the allowance starts, against the siblings as they were when
    /// the user was asked (a line checked now goes only if they still are). `false` when
    /// there is no question to answer (none was asked, or it was dropped for room): then
    /// nothing is allowed.
    pub fn confirm(&mut self, key: &ConvKey, now: u64) -> bool {
        match self.allowances.get_mut(key) {
            Some(a) => {
                a.confirmed = true;
                a.last = now;
                true
            }
            None => false,
        }
    }

    /// Something was typed or read in the conversation `key`: every confirmed allowance
    /// granted against it ends (the window was on it since). A question still open stays.
    pub fn spoke_in(&mut self, key: &ConvKey) {
        self.allowances
            .retain(|_, a| !a.confirmed || !a.against.iter().any(|(k, _)| k == key));
    }

    /// Room for one more allowance (for `key`): lapsed ones go, then, if still full, the
    /// oldest.
    fn make_room(&mut self, key: &ConvKey, now: u64) {
        if self.allowances.len() < MAX_ALLOWANCES || self.allowances.contains_key(key) {
            return;
        }
        self.allowances.retain(|_, a| a.fresh(now));
        while self.allowances.len() >= MAX_ALLOWANCES {
            let Some(oldest) = self
                .allowances
                .iter()
                .min_by_key(|(_, a)| a.last)
                .map(|(k, _)| k.clone())
            else {
                return;
            };
            self.allowances.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(protocol: &str, account: &str, peer: &str) -> ConvKey {
        ConvKey {
            protocol: protocol.into(),
            account: account.into(),
            peer: peer.into(),
        }
    }

    fn irc() -> ConvKey {
        key("prpl-irc", "alice@irc.example", "bob")
    }

    fn xmpp() -> ConvKey {
        key("prpl-jabber", "alice@example.org", "bob@example.org")
    }

    const S1: SiblingState = SiblingState::Encrypted([1, 1, 1, 1]);
    const S2: SiblingState = SiblingState::Encrypted([2, 2, 2, 2]);

    fn refused(v: &Verdict) -> bool {
        matches!(v, Verdict::Refuse { .. })
    }

    /// `g` refuses a line for `k` at `now`; the user confirms, and the line sent for it goes
    /// at `now + 1`.
    fn confirm(g: &mut SiblingGuard, k: &ConvKey, sibs: &[(ConvKey, SiblingState)], now: u64) {
        assert!(refused(&g.check(k, sibs, now)), "refused first");
        assert!(g.confirm(k, now + 1), "a question to answer");
        assert_eq!(g.check(k, sibs, now + 1), Verdict::Send, "confirmed");
    }

    /// No change for anyone who does not merge contacts, or whose merged contact has nothing
    /// encrypted: no sibling, or siblings in plaintext, never hold a line.
    #[test]
    fn nothing_is_held_without_a_sibling_that_guards() {
        let mut g = SiblingGuard::default();
        for now in [0, 1, 10_000] {
            assert_eq!(g.check(&irc(), &[], now), Verdict::Send);
            let open = [(xmpp(), SiblingState::Open)];
            assert_eq!(g.check(&irc(), &open, now), Verdict::Send);
        }
        // The conversation itself, listed among its siblings, is not one.
        assert_eq!(g.check(&irc(), &[(irc(), S1)], 5), Verdict::Send);
        assert!(g.allowances.is_empty());
    }

    /// The first line is refused, naming the encrypted sibling; confirmed, it goes; after it a
    /// deliberate plaintext chat is asked no more, however long, while each line comes within
    /// the window.
    #[test]
    fn asked_once_then_a_plaintext_chat_goes_on() {
        let mut g = SiblingGuard::default();
        let sibs = [(xmpp(), S1)];
        assert_eq!(
            g.check(&irc(), &sibs, 1_000),
            Verdict::Refuse {
                sibling: xmpp(),
                state: S1
            }
        );
        // Answered long after: the dialog named where the line goes; the allowance starts now.
        let mut now = 1_000 + 3 * ALLOWANCE_SECS;
        assert!(g.confirm(&irc(), now));
        assert_eq!(g.check(&irc(), &sibs, now), Verdict::Send, "the held line");
        for _ in 0..10 {
            now += ALLOWANCE_SECS - 1;
            assert_eq!(g.check(&irc(), &sibs, now), Verdict::Send);
        }
    }

    /// Sending a line again (the gesture that retries every other line Sotto did not send) is
    /// no confirmation: however often, it is held back, and only the answer lets lines go.
    #[test]
    fn sending_again_is_no_confirmation() {
        let mut g = SiblingGuard::default();
        let sibs = [(xmpp(), S1)];
        for now in 10..20 {
            assert!(refused(&g.check(&irc(), &sibs, now)), "at {now}");
        }
        assert!(g.confirm(&irc(), 20));
        assert_eq!(g.check(&irc(), &sibs, 20), Verdict::Send);
        assert_eq!(g.check(&irc(), &sibs, 21), Verdict::Send);
    }

    /// An answer with no question (none asked, or another conversation's) allows nothing.
    #[test]
    fn an_answer_without_a_question_allows_nothing() {
        let mut g = SiblingGuard::default();
        let sibs = [(xmpp(), S1)];
        assert!(!g.confirm(&irc(), 10));
        assert!(refused(&g.check(&irc(), &sibs, 11)));
        let other = key("prpl-irc", "alice@irc.example", "bobby");
        assert!(!g.confirm(&other, 12));
        assert!(refused(&g.check(&other, &sibs, 13)));
    }

    /// Confirmed, and nothing sent within the window after (or the clock went back): asked
    /// again.
    #[test]
    fn the_allowance_lapses() {
        let mut g = SiblingGuard::default();
        let sibs = [(xmpp(), S1)];
        confirm(&mut g, &irc(), &sibs, 1_000);
        assert!(
            refused(&g.check(&irc(), &sibs, 1_002 + ALLOWANCE_SECS)),
            "idle too long"
        );
        confirm(&mut g, &irc(), &sibs, 3_000);
        assert!(refused(&g.check(&irc(), &sibs, 500)), "clock set back");
    }

    /// Anything typed or read in the encrypted sibling ends the allowance (an incoming message
    /// made the window show it; the next line may be meant for it); a line in another
    /// conversation, or in the plaintext one itself, does not. A question still open is not
    /// ended: its answer names where the line goes.
    #[test]
    fn a_line_in_the_encrypted_sibling_ends_the_allowance() {
        let mut g = SiblingGuard::default();
        let sibs = [(xmpp(), S1)];
        confirm(&mut g, &irc(), &sibs, 10);
        g.spoke_in(&irc());
        g.spoke_in(&key("prpl-irc", "alice@irc.example", "carol"));
        assert_eq!(g.check(&irc(), &sibs, 12), Verdict::Send);
        g.spoke_in(&xmpp());
        assert!(refused(&g.check(&irc(), &sibs, 13)));
        // Asked at 13; bob writes in the encrypted one before the user answers.
        g.spoke_in(&xmpp());
        assert!(g.confirm(&irc(), 14));
        assert_eq!(g.check(&irc(), &sibs, 14), Verdict::Send);
    }

    /// A new session of the sibling (ended and started again, or restarted) asks again; a
    /// sibling that was being set up when the user was asked is covered in the session it
    /// comes to, and only in that one; one that changed while the question was open asks
    /// again.
    #[test]
    fn a_sibling_encrypted_anew_asks_again() {
        let mut g = SiblingGuard::default();
        confirm(&mut g, &irc(), &[(xmpp(), S1)], 10);
        // Ended by the contact: it holds what is typed; still covered.
        let held = [(xmpp(), SiblingState::Guarded)];
        assert_eq!(g.check(&irc(), &held, 12), Verdict::Send);
        assert!(refused(&g.check(&irc(), &[(xmpp(), S2)], 13)));

        let mut g = SiblingGuard::default();
        confirm(&mut g, &irc(), &held, 10);
        assert_eq!(g.check(&irc(), &[(xmpp(), S1)], 12), Verdict::Send);
        assert_eq!(g.check(&irc(), &[(xmpp(), S1)], 13), Verdict::Send);
        assert!(refused(&g.check(&irc(), &[(xmpp(), S2)], 14)));

        // Asked while S1; a new session came before the answer: the line is asked for again.
        let mut g = SiblingGuard::default();
        assert!(refused(&g.check(&irc(), &[(xmpp(), S1)], 10)));
        assert!(g.confirm(&irc(), 11));
        assert!(refused(&g.check(&irc(), &[(xmpp(), S2)], 11)));
    }

    /// An allowance asked against a sibling whose state could not be read covers it only
    /// while it still cannot be read: whatever it turns out to be (an encrypted session, one
    /// being set up) asks again. An encrypted one that becomes unreadable asks again too.
    #[test]
    fn an_unreadable_sibling_is_covered_only_while_unreadable() {
        let unknown = [(xmpp(), SiblingState::Unknown)];
        for now_state in [S1, SiblingState::Guarded] {
            let mut g = SiblingGuard::default();
            confirm(&mut g, &irc(), &unknown, 10);
            assert_eq!(g.check(&irc(), &unknown, 12), Verdict::Send);
            assert!(
                refused(&g.check(&irc(), &[(xmpp(), now_state)], 13)),
                "{now_state:?}"
            );
        }
        let mut g = SiblingGuard::default();
        confirm(&mut g, &irc(), &[(xmpp(), S1)], 10);
        assert!(refused(&g.check(&irc(), &unknown, 12)));
    }

    /// A sibling that stops guarding (the user ended encryption there) leaves the allowance;
    /// guarding again later, it asks again. A line sent meanwhile with no sibling guarding
    /// forgets the allowance altogether.
    #[test]
    fn a_sibling_that_stops_and_starts_again_asks_again() {
        let mut g = SiblingGuard::default();
        let other = key("prpl-jabber", "alice@example.org", "bob@work.example");
        let both = [(xmpp(), S1), (other.clone(), S2)];
        confirm(&mut g, &irc(), &both, 10);
        let one = [(xmpp(), SiblingState::Open), (other.clone(), S2)];
        assert_eq!(g.check(&irc(), &one, 12), Verdict::Send);
        let held = [(xmpp(), SiblingState::Guarded), (other.clone(), S2)];
        assert!(refused(&g.check(&irc(), &held, 13)), "xmpp guards anew");

        let mut g = SiblingGuard::default();
        let sibs = [(xmpp(), SiblingState::Guarded)];
        confirm(&mut g, &irc(), &sibs, 10);
        let open = [(xmpp(), SiblingState::Open)];
        assert_eq!(g.check(&irc(), &open, 12), Verdict::Send);
        assert!(refused(&g.check(&irc(), &sibs, 13)));
    }

    /// A sibling that guards and was not there when the user confirmed asks again, naming it;
    /// a refusal names an encrypted sibling first; each conversation is asked for on its own.
    #[test]
    fn each_sibling_and_each_conversation_is_asked_for() {
        let mut g = SiblingGuard::default();
        let work = key("prpl-jabber", "alice@work.example", "bob@work.example");
        confirm(&mut g, &irc(), &[(xmpp(), S1)], 10);
        let more = [(work.clone(), SiblingState::Unknown), (xmpp(), S1)];
        assert_eq!(
            g.check(&irc(), &more, 12),
            Verdict::Refuse {
                sibling: work.clone(),
                state: SiblingState::Unknown
            }
        );
        let mixed = [
            (work.clone(), SiblingState::Guarded),
            (xmpp(), SiblingState::Open),
            (key("prpl-irc", "alice@irc.example", "bob_"), S2),
        ];
        let nick = key("prpl-irc", "alice@irc.example", "bobby");
        assert_eq!(
            g.check(&nick, &mixed, 13),
            Verdict::Refuse {
                sibling: key("prpl-irc", "alice@irc.example", "bob_"),
                state: S2
            }
        );
        assert!(g.confirm(&nick, 14));
        assert_eq!(g.check(&nick, &mixed, 14), Verdict::Send);
        // Another conversation of the contact is asked for on its own.
        let other = key("prpl-irc", "alice@irc.example", "bob__");
        assert!(refused(&g.check(&other, &mixed, 15)));
    }

    /// Memory is bounded: the oldest allowance goes first.
    #[test]
    fn allowances_are_bounded() {
        let mut g = SiblingGuard::default();
        let sibs = [(xmpp(), S1)];
        for i in 0..(MAX_ALLOWANCES as u64 + 10) {
            let k = key("prpl-irc", "alice@irc.example", &format!("bob{i}"));
            assert!(refused(&g.check(&k, &sibs, 1_000 + i)));
        }
        assert_eq!(g.allowances.len(), MAX_ALLOWANCES);
        let newest = key(
            "prpl-irc",
            "alice@irc.example",
            &format!("bob{}", MAX_ALLOWANCES + 9),
        );
        assert!(g.confirm(&newest, 1_300));
        assert_eq!(g.check(&newest, &sibs, 1_300), Verdict::Send);
        let oldest = key("prpl-irc", "alice@irc.example", "bob0");
        assert!(!g.confirm(&oldest, 1_301), "its question was dropped");
        assert!(refused(&g.check(&oldest, &sibs, 1_301)));
    }
}
