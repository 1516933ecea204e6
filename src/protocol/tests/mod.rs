//! Whole-protocol tests through the public [`Conversation`] API, one file per concern:
//! sessions (handshake paths, policies, ordering, ending), tampering (forgery, replay,
//! hostile input), snapshots (restore, byte-exact fixtures) and trust (key changes,
//! verification). The helpers here drive two conversations against each other.

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::session::{
    ConvState, Conversation, Event, Policy, ReceiveAction, SendAction, UnsentReason,
};
use super::testkit::{self, Setup};
use super::IdentityKey;

mod hostile;
mod instances;
mod late;
mod names;
mod pieces;
mod sessions;
mod snapshots;
mod tampering;
mod trust;

pub(crate) fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// Alice's and Bob's set-up in these tests: Alice does not know yet that Bob runs Sotto.
fn setup(policy: Policy) -> Setup {
    Setup {
        tags: (0x0000_00a1, 0x0000_00b2),
        policy,
        peer_known: false,
        max_line: None,
    }
}

pub(crate) fn pair(rng: &mut ChaCha20Rng, policy: Policy) -> (Conversation, Conversation) {
    setup(policy).pair(IdentityKey::generate(rng), IdentityKey::generate(rng))
}

/// Delivers `lines` to `to`; returns what `to` displayed and what it sent back.
fn deliver(
    to: &mut Conversation,
    lines: Vec<String>,
    rng: &mut ChaCha20Rng,
) -> (Vec<String>, Vec<String>, Vec<Event>) {
    let mut shown = Vec::new();
    let mut back = Vec::new();
    let mut events = Vec::new();
    for l in lines {
        let out = to.receive(&l, 0, rng);
        if let ReceiveAction::Display(t) = out.action {
            shown.push(t.to_string());
        }
        back.extend(out.inject);
        events.extend(out.events);
    }
    (shown, back, events)
}

pub(crate) fn established(seed: u64) -> (Conversation, Conversation, ChaCha20Rng) {
    let mut rng = rng(seed);
    let (a, b) = setup(Policy::Manual).established(
        IdentityKey::generate(&mut rng),
        IdentityKey::generate(&mut rng),
        &mut rng,
    );
    assert_eq!(a.state(), ConvState::Encrypted);
    assert_eq!(b.state(), ConvState::Encrypted);
    (a, b, rng)
}

/// A hold on `a` just ended (`events`, with the lines `sent` meanwhile): `text`, typed during
/// it (or waiting to be sent again), was handed back to the user (as typed during a hold that
/// ended, [`UnsentReason::HoldEnded`]) and never reached `b`.
fn assert_handed_back(
    a: &Conversation,
    events: &[Event],
    sent: Vec<String>,
    text: &str,
    b: &mut Conversation,
    rng: &mut ChaCha20Rng,
) {
    assert!(!a.is_blocked(), "still held: {events:?}");
    assert!(
        events.contains(&Event::Unsent {
            text: text.into(),
            why: UnsentReason::HoldEnded
        }) || events.contains(&Event::NotResent { text: text.into() }),
        "{events:?}"
    );
    assert!(deliver(b, sent, rng).0.is_empty(), "held text sent");
}

/// `to` receives `lines`: the text it shows last, with the key it names when that key is not
/// accepted (`ReceiveOutcome::unaccepted_key`).
fn shown_with_key(
    to: &mut Conversation,
    lines: Vec<String>,
    rng: &mut ChaCha20Rng,
) -> Option<(String, Option<crate::protocol::IdentityPublic>)> {
    let mut shown = None;
    for l in lines {
        let o = to.receive(&l, 0, rng);
        if let ReceiveAction::Display(t) = o.action {
            shown = Some((t.to_string(), o.unaccepted_key));
        }
    }
    shown
}

fn send(c: &mut Conversation, text: &str, rng: &mut ChaCha20Rng) -> Vec<String> {
    match c.send(text, rng).action {
        SendAction::Replace(lines) => lines.into(),
        other => panic!("expected encrypted lines, got {other:?}"),
    }
}

/// A snapshot fingerprint of the whole state (including skipped keys and queue).
fn state_of(c: &Conversation) -> Vec<u8> {
    c.snapshot().to_vec()
}
