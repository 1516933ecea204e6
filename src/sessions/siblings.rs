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
//! * Otherwise the line is not sent and the user is told, once: telling grants an *allowance*,
//!   and the conversation's next plaintext line within [`ALLOWANCE_SECS`] goes, as does every
//!   line after it while each comes within [`ALLOWANCE_SECS`] of the one before (a user who
//!   chats in plaintext on purpose is asked once, not at every line).
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
//! // The first plaintext line to IRC bob is held back, naming the encrypted conversation...
//! assert!(matches!(guard.check(&irc, &siblings, 100), Verdict::Refuse { .. }));
//! // ...the next one, typed again after the user was told, goes.
//! assert_eq!(guard.check(&irc, &siblings, 110), Verdict::Send);
//! // Once something is read in the encrypted conversation, the next line asks again.
//! guard.spoke_in(&xmpp);
//! assert!(matches!(guard.check(&irc, &siblings, 120), Verdict::Refuse { .. }));
//! // So does a line typed after the allowance lapsed.
//! assert_eq!(guard.check(&irc, &siblings, 121), Verdict::Send);
//! let later = 121 + ALLOWANCE_SECS + 1;
//! assert!(matches!(guard.check(&irc, &siblings, later), Verdict::Refuse { .. }));
//! ```
#![forbid(unsafe_code)]

use std::collections::HashMap;

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
    /// No sibling guards, or the user was told and this line is covered: it goes.
    Send,
    /// Not sent: tell the user (this grants the allowance), naming `sibling`, the first that
    /// guards (an encrypted one before others), which is in `state`.
    Refuse {
        sibling: ConvKey,
        state: SiblingState,
    },
}

/// One conversation's allowance: plaintext may go despite siblings that guard.
#[derive(Debug)]
struct Allowance {
    /// When the user was told, or the last line went under it (seconds).
    last: u64,
    /// The siblings it was granted against, each with the session it was encrypted in then
    /// (`None`: being set up, or not readable, then).
    against: Vec<(ConvKey, Option<[u8; 4]>)>,
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
    /// The user typed a line that would go to `key` in plaintext at `now` (seconds), while
    /// `siblings` (the contact's other open conversations, each with its state) are as given:
    /// whether it goes. A refusal grants the allowance: the caller must tell the user.
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
            if a.fresh(now) && guarding.iter().all(|(k, s)| a.covers(k, *s)) {
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

    /// No change for anyone who does not merge contacts, or whose merged contact has nothing
    /// encrypted: no sibling, or siblings in plaintext, never hold a line.
    #[test]
    fn nothing_is_held_without_a_sibling_that_guards() {
        let mut g = SiblingGuard::default();
        for now in [0, 1, 10_000] {
            assert_eq!(g.check(&irc(), &[], now), Verdict::Send);
            assert_eq!(
                g.check(&irc(), &[(xmpp(), SiblingState::Open)], now),
                Verdict::Send
            );
        }
        // The conversation itself, listed among its siblings, is not one.
        assert_eq!(g.check(&irc(), &[(irc(), S1)], 5), Verdict::Send);
        assert!(g.allowances.is_empty());
    }

    /// The first line is refused, naming the encrypted sibling; the next goes; a deliberate
    /// plaintext chat is asked once, however long, while each line comes within the window.
    #[test]
    fn told_once_then_a_plaintext_chat_goes_on() {
        let mut g = SiblingGuard::default();
        let sibs = [(xmpp(), S1)];
        assert_eq!(
            g.check(&irc(), &sibs, 1_000),
            Verdict::Refuse {
                sibling: xmpp(),
                state: S1
            }
        );
        let mut now = 1_000 + ALLOWANCE_SECS;
        assert_eq!(g.check(&irc(), &sibs, now), Verdict::Send, "at the edge");
        for _ in 0..10 {
            now += ALLOWANCE_SECS - 1;
            assert_eq!(g.check(&irc(), &sibs, now), Verdict::Send);
        }
    }

    /// Told, and nothing sent within the window (or the clock went back): asked again.
    #[test]
    fn the_allowance_lapses() {
        let mut g = SiblingGuard::default();
        let sibs = [(xmpp(), S1)];
        assert!(refused(&g.check(&irc(), &sibs, 1_000)));
        assert!(refused(&g.check(&irc(), &sibs, 1_001 + ALLOWANCE_SECS)));
        assert_eq!(
            g.check(&irc(), &sibs, 1_002 + ALLOWANCE_SECS),
            Verdict::Send
        );
        assert!(refused(&g.check(&irc(), &sibs, 500)), "clock set back");
    }

    /// Anything typed or read in the encrypted sibling ends the allowance (an incoming message
    /// made the window show it; the next line may be meant for it); a line in another
    /// conversation, or in the plaintext one itself, does not.
    #[test]
    fn a_line_in_the_encrypted_sibling_ends_the_allowance() {
        let mut g = SiblingGuard::default();
        let sibs = [(xmpp(), S1)];
        assert!(refused(&g.check(&irc(), &sibs, 10)));
        g.spoke_in(&irc());
        g.spoke_in(&key("prpl-irc", "alice@irc.example", "carol"));
        assert_eq!(g.check(&irc(), &sibs, 11), Verdict::Send);
        g.spoke_in(&xmpp());
        assert!(refused(&g.check(&irc(), &sibs, 12)));
        assert_eq!(g.check(&irc(), &sibs, 13), Verdict::Send);
    }

    /// A new session of the sibling (ended and started again, or restarted) asks again; a
    /// sibling that was being set up when the user was told is covered in the session it
    /// comes to, and only in that one.
    #[test]
    fn a_sibling_encrypted_anew_asks_again() {
        let mut g = SiblingGuard::default();
        assert!(refused(&g.check(&irc(), &[(xmpp(), S1)], 10)));
        assert_eq!(g.check(&irc(), &[(xmpp(), S1)], 11), Verdict::Send);
        // Ended by the contact: it holds what is typed; still covered.
        let held = [(xmpp(), SiblingState::Guarded)];
        assert_eq!(g.check(&irc(), &held, 12), Verdict::Send);
        assert!(refused(&g.check(&irc(), &[(xmpp(), S2)], 13)));

        let mut g = SiblingGuard::default();
        assert!(refused(&g.check(&irc(), &held, 10)));
        assert_eq!(g.check(&irc(), &[(xmpp(), S1)], 11), Verdict::Send);
        assert_eq!(g.check(&irc(), &[(xmpp(), S1)], 12), Verdict::Send);
        assert!(refused(&g.check(&irc(), &[(xmpp(), S2)], 13)));
    }

    /// A sibling that stops guarding (the user ended encryption there) leaves the allowance;
    /// encrypted again later, it asks again. A line sent meanwhile with no sibling guarding
    /// forgets the allowance altogether.
    #[test]
    fn a_sibling_that_stops_and_starts_again_asks_again() {
        let mut g = SiblingGuard::default();
        let other = key("prpl-jabber", "alice@example.org", "bob@work.example");
        let both = [(xmpp(), S1), (other.clone(), S2)];
        assert!(refused(&g.check(&irc(), &both, 10)));
        assert_eq!(g.check(&irc(), &both, 11), Verdict::Send);
        let one = [(xmpp(), SiblingState::Open), (other.clone(), S2)];
        assert_eq!(g.check(&irc(), &one, 12), Verdict::Send);
        let held = [(xmpp(), SiblingState::Guarded), (other.clone(), S2)];
        assert!(refused(&g.check(&irc(), &held, 13)), "xmpp guards anew");

        let mut g = SiblingGuard::default();
        let sibs = [(xmpp(), SiblingState::Guarded)];
        assert!(refused(&g.check(&irc(), &sibs, 10)));
        assert_eq!(
            g.check(&irc(), &[(xmpp(), SiblingState::Open)], 11),
            Verdict::Send
        );
        assert!(refused(&g.check(&irc(), &sibs, 12)));
    }

    /// A sibling that guards and was not there when the user was told asks again, naming
    /// the encrypted one first; each conversation has its own allowance.
    #[test]
    fn each_sibling_and_each_conversation_is_asked_for() {
        let mut g = SiblingGuard::default();
        let work = key("prpl-jabber", "alice@work.example", "bob@work.example");
        assert!(refused(&g.check(&irc(), &[(xmpp(), S1)], 10)));
        let more = [(work.clone(), SiblingState::Unknown), (xmpp(), S1)];
        assert_eq!(g.check(&irc(), &[(xmpp(), S1)], 11), Verdict::Send);
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
        assert_eq!(g.check(&newest, &sibs, 1_300), Verdict::Send);
        let oldest = key("prpl-irc", "alice@irc.example", "bob0");
        assert!(refused(&g.check(&oldest, &sibs, 1_301)));
    }
}
