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
//! * A sibling *guards* when it is encrypted, or keeps plaintext out otherwise (a session being
//!   set up, text held, ended by the contact and holding what is typed), or its state could
//!   not be read. With no sibling that guards, the line goes: nothing changes for anyone who
//!   does not merge contacts, nor for a contact none of whose other conversations is encrypted.
//! * Otherwise the line is not sent and the user is told, with the text given back. Sending
//!   *the same message* again in that conversation within [`ALLOWANCE_SECS`] confirms it: it
//!   goes, and so does every line after it while each comes within [`ALLOWANCE_SECS`] of the one
//!   before (an *allowance*: a user who chats in plaintext on purpose is asked once, not at
//!   every line). Another line instead (typed before the user read why the first did not go:
//!   "hi", then what was meant for the encrypted conversation) is held back too, and is the one
//!   to send again.
//! * An allowance covers the siblings it was granted against, as they were: an encrypted one in
//!   the same session only (a new session asks again), one being set up in whatever session it
//!   comes to. A sibling that guards and that it does not cover asks again; one that no longer
//!   guards is dropped from it, and with none left the allowance goes (a sibling encrypted
//!   anew later asks again).
//! * Anything typed or read in a sibling the allowance was granted against ends it
//!   ([`SiblingGuard::spoke_in`]): the window has been on that conversation since, and the next
//!   line typed may be meant for it.
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
//! // so is another typed at once (the user has not read why yet)...
//! assert!(refused(guard.check(&irc, &siblings, "hi", 100)));
//! assert!(refused(guard.check(&irc, &siblings, "the code is 4711", 101)));
//! // ...sent again, it goes, and so do the lines after it.
//! assert_eq!(guard.check(&irc, &siblings, "the code is 4711", 110), Verdict::Send);
//! assert_eq!(guard.check(&irc, &siblings, "and more", 111), Verdict::Send);
//! // Once something is read in the encrypted conversation, the next line asks again.
//! guard.spoke_in(&xmpp);
//! assert!(refused(guard.check(&irc, &siblings, "again", 120)));
//! // So does a line typed after the allowance lapsed.
//! assert_eq!(guard.check(&irc, &siblings, "again", 121), Verdict::Send);
//! let later = 121 + ALLOWANCE_SECS + 1;
//! assert!(refused(guard.check(&irc, &siblings, "later", later)));
//! ```
#![forbid(unsafe_code)]

use std::collections::HashMap;

use sha2::Digest as _;
use subtle::ConstantTimeEq as _;

use super::ConvKey;

/// How long an allowance lasts after the user was told, or after the last line sent under it.
pub const ALLOWANCE_SECS: u64 = 10 * 60;

/// Most allowances kept (one per conversation the user was told about); lapsed ones go first.
const MAX_ALLOWANCES: usize = 256;

/// What another conversation of the same contact does with what is typed in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SiblingState {
    /// Plaintext: nothing under way, nothing held. It does not guard.
    Open,
    /// Encrypted, in the session with this id (the first bytes of its handshake hash: a
    /// public name of the session, carried in its data messages).
    Encrypted([u8; 4]),
    /// Keeps plaintext out without a session up: one being set up, text held until there is
    /// one, or a session the contact ended (what is typed there is held).
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

    fn session(self) -> Option<[u8; 4]> {
        match self {
            SiblingState::Encrypted(id) => Some(id),
            _ => None,
        }
    }
}

/// What [`SiblingGuard::check`] decided for a plaintext line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No sibling guards, or the user was told and sent the line again, or an allowance covers
    /// it: it goes.
    Send,
    /// Not sent: tell the user (sending the same line again then confirms), naming `sibling`,
    /// the first that guards (one the allowance does not cover, an encrypted one before
    /// others), which is in `state`.
    Refuse {
        sibling: ConvKey,
        state: SiblingState,
    },
}

/// One conversation's allowance: plaintext may go despite siblings that guard, once the user
/// confirmed.
#[derive(Debug)]
struct Allowance {
    /// When the user was told, or the last line went under it (seconds).
    last: u64,
    /// The siblings it was granted against, each with the session it was encrypted in then
    /// (`None`: being set up, or not readable, then).
    against: Vec<(ConvKey, Option<[u8; 4]>)>,
    /// The user sent the line they were told about again: lines go.
    confirmed: bool,
    /// SHA-256 of the last line held back (trimmed): sending it again confirms. A digest, so
    /// that no plaintext stays in memory for it.
    held: [u8; 32],
}

impl Allowance {
    fn fresh(&self, now: u64) -> bool {
        // A clock set back is not trusted to say how long ago it was: lapsed.
        now >= self.last && now - self.last <= ALLOWANCE_SECS
    }

    /// Whether it was granted against `sibling` as it is now (`state`).
    fn covers(&self, sibling: &ConvKey, state: SiblingState) -> bool {
        // Session ids are public (every data message carries its own): compared plainly.
        self.against.iter().any(|(k, session)| {
            k == sibling
                && match (state.session(), session) {
                    (Some(now), Some(then)) => now == *then,
                    _ => true,
                }
        })
    }
}

/// The allowances of the conversations whose users were told (see the module doc). In
/// memory only: a restart asks again.
#[derive(Debug, Default)]
pub struct SiblingGuard {
    allowances: HashMap<ConvKey, Allowance>,
}

impl SiblingGuard {
    /// The user typed `text`, a line that would go to `key` in plaintext at `now` (seconds),
    /// while `siblings` (the contact's other open conversations, each with its state) are as
    /// given: whether it goes. After a refusal the caller must tell the user (and give the text
    /// back): the same text sent again then goes.
    pub fn check(
        &mut self,
        key: &ConvKey,
        siblings: &[(ConvKey, SiblingState)],
        text: &str,
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
        let typed: [u8; 32] = sha2::Sha256::digest(text.trim().as_bytes()).into();
        if let Some(a) = self.allowances.get_mut(key) {
            // The user's own text, compared without a timing difference all the same.
            let again = bool::from(a.held.ct_eq(&typed));
            if a.fresh(now)
                && (a.confirmed || again)
                && guarding.iter().all(|(k, s)| a.covers(k, *s))
            {
                a.confirmed = true;
                a.last = now;
                // Siblings that no longer guard leave it; one being set up then takes the
                // session it came to (a later session asks again).
                a.against
                    .retain(|(k, _)| guarding.iter().any(|(g, _)| g == k));
                for (k, session) in &mut a.against {
                    if session.is_none() {
                        *session = guarding
                            .iter()
                            .find(|(g, _)| g == k)
                            .and_then(|(_, s)| s.session());
                    }
                }
                return Verdict::Send;
            }
        }
        // The refusal names what it is about: a sibling the allowance (if any) does not cover.
        let named = guarding
            .iter()
            .filter(|(k, s)| {
                !self
                    .allowances
                    .get(key)
                    .is_some_and(|a| a.fresh(now) && a.covers(k, *s))
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
                    .map(|(k, s)| (k.clone(), s.session()))
                    .collect(),
                confirmed: false,
                held: typed,
            },
        );
        Verdict::Refuse {
            sibling: sibling.clone(),
            state,
        }
    }

    /// Something was typed or read in the conversation `key`: every allowance granted against
    /// it ends (the window was on it since).
    pub fn spoke_in(&mut self, key: &ConvKey) {
        self.allowances
            .retain(|_, a| !a.against.iter().any(|(k, _)| k == key));
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

    /// `g` refuses `text` for `k` at `now`, then lets it go sent again at `now + 1`.
    fn confirm(g: &mut SiblingGuard, k: &ConvKey, sibs: &[(ConvKey, SiblingState)], now: u64) {
        assert!(
            refused(&g.check(k, sibs, "confirm me", now)),
            "refused first"
        );
        assert_eq!(
            g.check(k, sibs, " confirm me ", now + 1),
            Verdict::Send,
            "sent again"
        );
    }

    /// No change for anyone who does not merge contacts, or whose merged contact has nothing
    /// encrypted: no sibling, or siblings in plaintext, never hold a line.
    #[test]
    fn nothing_is_held_without_a_sibling_that_guards() {
        let mut g = SiblingGuard::default();
        for now in [0, 1, 10_000] {
            assert_eq!(g.check(&irc(), &[], "hi", now), Verdict::Send);
            let open = [(xmpp(), SiblingState::Open)];
            assert_eq!(g.check(&irc(), &open, "hi", now), Verdict::Send);
        }
        // The conversation itself, listed among its siblings, is not one.
        assert_eq!(g.check(&irc(), &[(irc(), S1)], "hi", 5), Verdict::Send);
        assert!(g.allowances.is_empty());
    }

    /// The first line is refused, naming the encrypted sibling; sent again it goes; after it a
    /// deliberate plaintext chat is asked no more, however long, while each line comes within
    /// the window.
    #[test]
    fn told_once_then_a_plaintext_chat_goes_on() {
        let mut g = SiblingGuard::default();
        let sibs = [(xmpp(), S1)];
        assert_eq!(
            g.check(&irc(), &sibs, "hello bob", 1_000),
            Verdict::Refuse {
                sibling: xmpp(),
                state: S1
            }
        );
        let mut now = 1_000 + ALLOWANCE_SECS;
        assert_eq!(
            g.check(&irc(), &sibs, "hello bob", now),
            Verdict::Send,
            "sent again, at the edge of the window"
        );
        for i in 0..10 {
            now += ALLOWANCE_SECS - 1;
            assert_eq!(
                g.check(&irc(), &sibs, &format!("line {i}"), now),
                Verdict::Send
            );
        }
    }

    /// Lines typed before the user read why the first did not go ("hi", then what was meant
    /// for the encrypted conversation) are held back too, each then the one to send again:
    /// only the last line held back, sent again, confirms.
    #[test]
    fn only_the_line_held_back_sent_again_confirms() {
        let mut g = SiblingGuard::default();
        let sibs = [(xmpp(), S1)];
        assert!(refused(&g.check(&irc(), &sibs, "hi", 10)));
        assert!(refused(&g.check(&irc(), &sibs, "the code is 4711", 11)));
        assert!(refused(&g.check(&irc(), &sibs, "hi", 12)), "not the last");
        assert!(refused(&g.check(&irc(), &sibs, "the code is 4711", 13)));
        assert_eq!(
            g.check(&irc(), &sibs, "the code is 4711", 14),
            Verdict::Send
        );
        assert_eq!(g.check(&irc(), &sibs, "anything now", 15), Verdict::Send);
    }

    /// Told, and nothing sent again within the window (or the clock went back): asked again.
    #[test]
    fn the_allowance_lapses() {
        let mut g = SiblingGuard::default();
        let sibs = [(xmpp(), S1)];
        assert!(refused(&g.check(&irc(), &sibs, "a", 1_000)));
        assert!(refused(&g.check(
            &irc(),
            &sibs,
            "a",
            1_001 + ALLOWANCE_SECS
        )));
        assert_eq!(
            g.check(&irc(), &sibs, "a", 1_002 + ALLOWANCE_SECS),
            Verdict::Send
        );
        assert!(
            refused(&g.check(&irc(), &sibs, "b", 3_000)),
            "idle too long"
        );
        assert_eq!(g.check(&irc(), &sibs, "b", 3_001), Verdict::Send);
        assert!(refused(&g.check(&irc(), &sibs, "c", 500)), "clock set back");
    }

    /// Anything typed or read in the encrypted sibling ends the allowance (an incoming message
    /// made the window show it; the next line may be meant for it); a line in another
    /// conversation, or in the plaintext one itself, does not.
    #[test]
    fn a_line_in_the_encrypted_sibling_ends_the_allowance() {
        let mut g = SiblingGuard::default();
        let sibs = [(xmpp(), S1)];
        confirm(&mut g, &irc(), &sibs, 10);
        g.spoke_in(&irc());
        g.spoke_in(&key("prpl-irc", "alice@irc.example", "carol"));
        assert_eq!(g.check(&irc(), &sibs, "still", 12), Verdict::Send);
        g.spoke_in(&xmpp());
        assert!(refused(&g.check(&irc(), &sibs, "still", 13)));
        assert_eq!(g.check(&irc(), &sibs, "still", 14), Verdict::Send);
    }

    /// A new session of the sibling (ended and started again, or restarted) asks again; a
    /// sibling that was being set up when the user was told is covered in the session it
    /// comes to, and only in that one.
    #[test]
    fn a_sibling_encrypted_anew_asks_again() {
        let mut g = SiblingGuard::default();
        confirm(&mut g, &irc(), &[(xmpp(), S1)], 10);
        // Ended by the contact: it holds what is typed; still covered.
        let held = [(xmpp(), SiblingState::Guarded)];
        assert_eq!(g.check(&irc(), &held, "x", 12), Verdict::Send);
        assert!(refused(&g.check(&irc(), &[(xmpp(), S2)], "x", 13)));

        let mut g = SiblingGuard::default();
        confirm(&mut g, &irc(), &held, 10);
        assert_eq!(g.check(&irc(), &[(xmpp(), S1)], "x", 12), Verdict::Send);
        assert_eq!(g.check(&irc(), &[(xmpp(), S1)], "x", 13), Verdict::Send);
        assert!(refused(&g.check(&irc(), &[(xmpp(), S2)], "x", 14)));
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
        assert_eq!(g.check(&irc(), &one, "x", 12), Verdict::Send);
        let held = [(xmpp(), SiblingState::Guarded), (other.clone(), S2)];
        assert!(
            refused(&g.check(&irc(), &held, "x", 13)),
            "xmpp guards anew"
        );

        let mut g = SiblingGuard::default();
        let sibs = [(xmpp(), SiblingState::Guarded)];
        confirm(&mut g, &irc(), &sibs, 10);
        let open = [(xmpp(), SiblingState::Open)];
        assert_eq!(g.check(&irc(), &open, "x", 12), Verdict::Send);
        assert!(refused(&g.check(&irc(), &sibs, "x", 13)));
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
            g.check(&irc(), &more, "x", 12),
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
            g.check(&nick, &mixed, "y", 13),
            Verdict::Refuse {
                sibling: key("prpl-irc", "alice@irc.example", "bob_"),
                state: S2
            }
        );
        assert_eq!(g.check(&nick, &mixed, "y", 14), Verdict::Send);
        // Another conversation of the contact is asked for on its own.
        let other = key("prpl-irc", "alice@irc.example", "bob__");
        assert!(refused(&g.check(&other, &mixed, "y", 15)));
    }

    /// Memory is bounded: the oldest allowance goes first.
    #[test]
    fn allowances_are_bounded() {
        let mut g = SiblingGuard::default();
        let sibs = [(xmpp(), S1)];
        for i in 0..(MAX_ALLOWANCES as u64 + 10) {
            let k = key("prpl-irc", "alice@irc.example", &format!("bob{i}"));
            assert!(refused(&g.check(&k, &sibs, "x", 1_000 + i)));
        }
        assert_eq!(g.allowances.len(), MAX_ALLOWANCES);
        let newest = key(
            "prpl-irc",
            "alice@irc.example",
            &format!("bob{}", MAX_ALLOWANCES + 9),
        );
        assert_eq!(g.check(&newest, &sibs, "x", 1_300), Verdict::Send);
        let oldest = key("prpl-irc", "alice@irc.example", "bob0");
        assert!(refused(&g.check(&oldest, &sibs, "x", 1_301)));
    }
}
