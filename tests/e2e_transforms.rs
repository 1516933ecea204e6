//! End to end through the transform test protocol (`tests/prpl/sotto-loop.c`): what popular
//! third-party protocol plugins do to text, each behaviour on its own, with real libpurple, the
//! real plugin, and a loopback relay behind a tap (issue 12).
//!
//! | test | plugin it stands in for | behaviour |
//! |---|---|---|
//! | `loop_full_conversation` | none (`prpl-sotto-loop`) | the rig itself: the shared scenario |
//! | `reordered_delivery_is_read` | a server that reorders | messages in swapped pairs |

mod support;

use support::scenarios;
use support::*;

fn loop_pair(build: LoopPrpl, alice_opts: &[(&str, &str)], bob_opts: &[(&str, &str)]) -> Pair {
    let own = |o: &[(&str, &str)]| -> Vec<(String, String)> {
        o.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    Pair::start(
        Proto::Loop(build),
        PairOptions {
            alice_opts: own(alice_opts),
            bob_opts: own(bob_opts),
            ..Default::default()
        },
    )
}

#[test]
#[ignore = "e2e: run via make e2e"]
fn loop_full_conversation() {
    scenarios::full_conversation(Proto::Loop(LoopPrpl::Generic));
}

/// A server that delivers messages in swapped pairs: handshake, short and fragmented messages
/// are all read.
#[test]
#[ignore = "e2e: run via make e2e"]
fn reordered_delivery_is_read() {
    let swapped = [("reorder", "true")];
    let mut p = loop_pair(LoopPrpl::Generic, &swapped, &swapped);
    let proto = p.proto;
    start_session(&mut p);
    for ((label, a), (_, b)) in messages("alice").into_iter().zip(messages("bob")) {
        let Pair {
            alice: pa, bob: pb, ..
        } = &mut p;
        exchange(proto, pa, pb, label, &a);
        exchange(proto, pb, pa, label, &b);
    }
    assert_no_trouble(&p);
}
