//! For tests, benches and examples only, not part of Sotto's API: sets up a pair of
//! conversations and runs a handshake between them, the one loop they all need.
//!
//! It lives in the library (hidden from the docs) so that unit tests, integration tests,
//! benches and examples share one implementation; it needs nothing beyond the library's own
//! dependencies: the caller brings the identity keys and the random number generator.
//!
//! ```
//! use sotto::protocol::testkit::Setup;
//! use sotto::protocol::{ConvState, IdentityKey};
//! let mut rng = rand_core::OsRng;
//! let (alice, bob) = Setup::default().established(
//!     IdentityKey::generate(&mut rng),
//!     IdentityKey::generate(&mut rng),
//!     &mut rng,
//! );
//! assert_eq!(alice.state(), ConvState::Encrypted);
//! assert_eq!(bob.state(), ConvState::Encrypted);
//! ```

use rand_core::CryptoRngCore;

use super::identity::IdentityKey;
use super::session::{Conversation, Policy};

/// Alice's instance tag in the default set-up.
pub const TAG_A: u32 = 0x0101_0101;
/// Bob's instance tag in the default set-up.
pub const TAG_B: u32 = 0x0202_0202;

/// Most round trips [`exchange`] runs: a handshake takes two, and a conversation that keeps
/// answering itself must not hang a test.
const MAX_ROUNDS: usize = 10;

/// How Alice's and Bob's conversations are made.
#[derive(Clone, Copy, Debug)]
pub struct Setup {
    /// Alice's and Bob's instance tags.
    pub tags: (u32, u32),
    /// Both sides' policy.
    pub policy: Policy,
    /// Alice knows Bob runs Sotto, so she starts with `?S1I` rather than a query.
    pub peer_known: bool,
    /// Both sides' wire line limit (`None`: the default).
    pub max_line: Option<usize>,
}

impl Default for Setup {
    /// Tags [`TAG_A`] and [`TAG_B`], policy `manual`, Bob known to run Sotto, default lines.
    fn default() -> Self {
        Self {
            tags: (TAG_A, TAG_B),
            policy: Policy::Manual,
            peer_known: true,
            max_line: None,
        }
    }
}

impl Setup {
    /// Alice's and Bob's conversations, in plaintext.
    pub fn pair(&self, alice: IdentityKey, bob: IdentityKey) -> (Conversation, Conversation) {
        let mut a = Conversation::new(alice, self.tags.0, self.policy);
        let mut b = Conversation::new(bob, self.tags.1, self.policy);
        if self.peer_known {
            a.set_peer_supports_sotto(true);
        }
        if let Some(chars) = self.max_line {
            a.set_max_line(chars);
            b.set_max_line(chars);
        }
        (a, b)
    }

    /// Alice's and Bob's conversations after Alice started a [`handshake`]. Whether they
    /// reached `Encrypted` is for the caller to check.
    pub fn established(
        &self,
        alice: IdentityKey,
        bob: IdentityKey,
        rng: &mut impl CryptoRngCore,
    ) -> (Conversation, Conversation) {
        let (mut a, mut b) = self.pair(alice, bob);
        handshake(&mut a, &mut b, rng);
        (a, b)
    }
}

/// Alice starts a handshake and the two talk until both fall silent. Returns every line sent,
/// in order.
pub fn handshake(
    alice: &mut Conversation,
    bob: &mut Conversation,
    rng: &mut impl CryptoRngCore,
) -> Vec<String> {
    let first = alice.start(rng).inject;
    exchange(alice, bob, first, rng)
}

/// Delivers `first` to `bob`, his answers to `alice`, hers to him, and so on until both fall
/// silent (at most a few round trips). Returns every line sent, in order.
pub fn exchange(
    alice: &mut Conversation,
    bob: &mut Conversation,
    first: Vec<String>,
    rng: &mut impl CryptoRngCore,
) -> Vec<String> {
    let mut sent = Vec::new();
    let mut to_bob = first;
    for _ in 0..MAX_ROUNDS {
        if to_bob.is_empty() {
            break;
        }
        let mut to_alice = Vec::new();
        for line in to_bob.drain(..) {
            to_alice.extend(bob.receive(&line, 0, rng).inject);
            sent.push(line);
        }
        for line in to_alice {
            to_bob.extend(alice.receive(&line, 0, rng).inject);
            sent.push(line);
        }
    }
    sent
}

/// The message keys the data lines among `lines` use: (session, ratchet key, index), for
/// tests that check no key reaches the wire twice.
pub fn key_ids(lines: &[String]) -> Vec<([u8; 4], [u8; 32], u32)> {
    use super::wire::WireMessage;
    lines
        .iter()
        .filter_map(|l| match WireMessage::decode(l) {
            Ok(WireMessage::Data(m)) => Some((m.session_id, m.ratchet_key, m.index)),
            _ => None,
        })
        .collect()
}

/// One chain step as the ratchet computes it (HMAC-SHA256 of the chain key over the labels 1
/// and 2: message key, next chain key), for the burst bench's floor: the floor's primitives
/// must cost what Sotto's cost, or the ratchet would run below its own floor.
pub fn chain_step(chain_key: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    let (mk, ck) = super::kdf::chain_step(chain_key);
    (*mk, *ck)
}
