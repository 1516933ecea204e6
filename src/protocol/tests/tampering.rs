//! Tampering: forged, altered, replayed and hostile input is rejected, never shown, and
//! leaves the state exactly as it was.

use super::*;
use crate::protocol::fragment;

#[test]
fn replay_rejected_also_after_restore() {
    let (mut a, mut b, mut rng) = established(7);
    let lines = send(&mut a, "once", &mut rng);
    assert_eq!(
        deliver(&mut b, lines.clone(), &mut rng).0,
        vec!["once".to_owned()]
    );
    let before = state_of(&b);
    let (shown, _, ev) = deliver(&mut b, lines.clone(), &mut rng);
    assert!(shown.is_empty());
    assert!(matches!(ev.as_slice(), [Event::Unreadable { .. }]));
    assert_eq!(state_of(&b), before);
    let identity = IdentityKey::from_bytes(&[9; 32]); // restore takes the identity separately
    let mut restored = Conversation::restore(identity, &b.snapshot()).unwrap();
    assert_eq!(state_of(&restored), before);
    assert!(deliver(&mut restored, lines, &mut rng).0.is_empty());
}

#[test]
fn replay_of_skipped_key_rejected() {
    let (mut a, mut b, mut rng) = established(8);
    let m1 = send(&mut a, "m1", &mut rng);
    let m2 = send(&mut a, "m2", &mut rng);
    assert_eq!(
        deliver(&mut b, m2.clone(), &mut rng).0,
        vec!["m2".to_owned()]
    );
    assert_eq!(
        deliver(&mut b, m1.clone(), &mut rng).0,
        vec!["m1".to_owned()]
    );
    assert!(deliver(&mut b, m1, &mut rng).0.is_empty());
    assert!(deliver(&mut b, m2, &mut rng).0.is_empty());
}

/// Re-encodes a decoded line after `f` mutates its binary body.
fn body_variants(line: &str) -> Vec<String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let (prefix, b64) = line.split_at(4);
    let body = URL_SAFE_NO_PAD.decode(b64).unwrap();
    let mut out = Vec::new();
    for bit in 0..body.len() * 8 {
        let mut b = body.clone();
        b[bit / 8] ^= 1 << (bit % 8);
        out.push(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(&b)));
    }
    for len in 0..body.len() {
        out.push(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(&body[..len])));
    }
    for len in 0..line.len() {
        out.push(line[..len].to_owned());
    }
    out
}

/// Every bit flip and truncation of R, C and D is rejected and changes nothing.
#[test]
fn tampering_is_rejected_and_changes_nothing() {
    let mut rng = rng(11);
    let (mut a, mut b) = pair(&mut rng, Policy::Manual);
    a.set_peer_supports_sotto(true);
    let init = a.start(&mut rng).inject;
    let resp = b.receive(&init[0], 0, &mut rng).inject;
    // Tampered ?S1R at the initiator.
    let before = state_of(&a);
    for v in body_variants(&resp[0]) {
        let out = a.receive(&v, 0, &mut rng);
        assert!(out.inject.is_empty(), "tampered response accepted: {v}");
        assert_ne!(a.state(), ConvState::Encrypted);
        assert_eq!(state_of(&a), before);
    }
    let confirm = a.receive(&resp[0], 0, &mut rng).inject;
    assert_eq!(a.state(), ConvState::Encrypted);
    // Tampered ?S1C at the responder.
    let before = state_of(&b);
    for v in body_variants(&confirm[0]) {
        b.receive(&v, 0, &mut rng);
        assert_eq!(state_of(&b), before, "tampered confirm changed state: {v}");
    }
    b.receive(&confirm[0], 0, &mut rng);
    assert_eq!(b.state(), ConvState::Encrypted);
    // Tampered ?S1D, on a fresh chain (DH ratchet path) and on a continuing chain.
    for _ in 0..2 {
        let line = send(&mut a, "tamper me", &mut rng).remove(0);
        let before = state_of(&b);
        for v in body_variants(&line) {
            let out = b.receive(&v, 0, &mut rng);
            assert!(
                !matches!(out.action, ReceiveAction::Display(_)),
                "tampered data shown: {v}"
            );
            assert_eq!(state_of(&b), before);
        }
        assert_eq!(
            deliver(&mut b, vec![line], &mut rng).0,
            vec!["tamper me".to_owned()]
        );
    }
}

/// A tampered ?S1I cannot be detected by the responder (it is unauthenticated), but the
/// handshake it starts can never complete and the initiator's state does not change.
#[test]
fn tampered_init_never_completes() {
    let mut rng = rng(12);
    let (mut a, mut b) = pair(&mut rng, Policy::Manual);
    a.set_peer_supports_sotto(true);
    let init = a.start(&mut rng).inject;
    let before = state_of(&a);
    for v in body_variants(&init[0]).into_iter().step_by(7) {
        let mut b2 =
            Conversation::restore(IdentityKey::from_bytes(&[3; 32]), &b.snapshot()).unwrap();
        let resp = b2.receive(&v, 0, &mut rng).inject;
        for r in resp {
            let out = a.receive(&r, 0, &mut rng);
            assert!(out.inject.is_empty());
        }
        assert_eq!(state_of(&a), before);
    }
    let _ = &mut b;
}

#[test]
fn hostile_text_is_reported_not_shown() {
    let (_, mut b, mut rng) = established(13);
    let before = state_of(&b);
    for junk in [
        "?S1D",
        "?S1Dxyz",
        "?S1R!!",
        "?S1C",
        "?S1PAAAAAAAB",
        "?S1I",
        "?S1PAAAAAB",
    ] {
        let out = b.receive(junk, 0, &mut rng);
        assert!(
            !matches!(
                out.action,
                ReceiveAction::Display(_) | ReceiveAction::PassThrough
            ),
            "{junk}"
        );
        assert_eq!(state_of(&b), before);
    }
    let out = b.receive("plain hello", 0, &mut rng);
    assert_eq!(out.action, ReceiveAction::PassThrough);
    assert_eq!(out.events, vec![Event::PlaintextWhileEncrypted]);
}

#[test]
fn gap_bound_enforced() {
    let (mut a, mut b, mut rng) = established(15);
    let mut last = Vec::new();
    for _ in 0..=crate::protocol::ratchet::MAX_GAP + 1 {
        last = send(&mut a, "x", &mut rng);
    }
    let (shown, _, ev) = deliver(&mut b, last, &mut rng);
    assert!(shown.is_empty());
    assert!(matches!(ev.as_slice(), [Event::Unreadable { .. }]));
}

/// The bound is exactly `MAX_GAP` (docs/PROTOCOL.md §4): a message `MAX_GAP` ahead of the
/// next expected index is read, in the current chain and in the previous chain at a DH
/// ratchet step (`pn − Nr`); one more is refused there too (the current chain's refusal is
/// `gap_bound_enforced`). Fails if either comparison becomes `>=`.
#[test]
fn gap_bound_is_exactly_max_gap_in_both_chains() {
    use crate::protocol::ratchet::MAX_GAP;
    let (mut a, mut b, mut rng) = established(16);
    let mut last = Vec::new();
    for _ in 0..=MAX_GAP {
        last = send(&mut a, "x", &mut rng);
    }
    assert_eq!(
        deliver(&mut b, last, &mut rng).0,
        ["x"],
        "n = next + MAX_GAP"
    );
    for (unread, readable) in [(MAX_GAP, true), (MAX_GAP + 1, false)] {
        let (mut a, mut b, mut rng) = established(17);
        let first = send(&mut a, "first", &mut rng);
        assert_eq!(deliver(&mut b, first, &mut rng).0, ["first"]);
        for _ in 0..unread {
            send(&mut a, "never delivered", &mut rng);
        }
        let reply = send(&mut b, "reply", &mut rng);
        assert_eq!(deliver(&mut a, reply, &mut rng).0, ["reply"]);
        let before = state_of(&b);
        let next = send(&mut a, "in the next chain", &mut rng);
        let (shown, _, events) = deliver(&mut b, next, &mut rng);
        if readable {
            assert_eq!(shown, ["in the next chain"], "pn - Nr = {unread}");
        } else {
            assert!(shown.is_empty(), "pn - Nr = {unread}");
            assert!(matches!(events.as_slice(), [Event::Unreadable { .. }]));
            assert_eq!(state_of(&b), before);
        }
    }
}

/// Fragments: changing any character of any piece (to another base64url character) or
/// dropping its tail makes the reassembled message fail, and changes nothing.
#[test]
fn tampered_fragments_are_rejected_and_change_nothing() {
    let (mut a, mut b, mut rng) = established(25);
    a.set_max_line(120);
    let pieces = send(&mut a, &"fragmented secret ".repeat(12), &mut rng);
    assert!(pieces.len() > 3);
    let before = state_of(&b);
    for (i, piece) in pieces.iter().enumerate() {
        let mut variants = Vec::new();
        for pos in 12..piece.len() {
            let mut bytes = piece.clone().into_bytes();
            bytes[pos] = if bytes[pos] == b'A' { b'B' } else { b'A' };
            variants.push(String::from_utf8(bytes).unwrap());
        }
        variants.push(piece[..piece.len() - 1].to_owned());
        for v in variants.into_iter().step_by(3) {
            let mut fresh =
                Conversation::restore(IdentityKey::from_bytes(&[6; 32]), &b.snapshot()).unwrap();
            let mut all = pieces.clone();
            all[i] = v.clone();
            let mut shown = Vec::new();
            for l in all {
                let out = fresh.receive(&l, 0, &mut rng);
                assert_ne!(
                    out.action,
                    ReceiveAction::PassThrough,
                    "a piece was shown raw: {v}"
                );
                if let ReceiveAction::Display(t) = out.action {
                    shown.push(t);
                }
            }
            assert!(shown.is_empty(), "tampered fragment accepted: {v}");
            assert_eq!(state_of(&fresh), before);
        }
    }
    assert_eq!(deliver(&mut b, pieces, &mut rng).0.len(), 1);
}

/// A forged copy of a data line's first piece that makes the line read as a query, an error
/// notice or a start (kinds that are never sent in pieces, PROTOCOL.md §6), delivered before
/// the real pieces: it is not answered or shown, and the real line is read.
#[test]
fn a_forged_first_piece_of_another_kind_does_not_win() {
    use crate::protocol::wire::{Fragment, WireMessage};
    let piece = |line: &str| match WireMessage::decode(line) {
        Ok(WireMessage::Fragment(f)) => f,
        other => panic!("not a piece: {other:?}"),
    };
    for (seed, kind) in [(93, "Q"), (94, "E"), (95, "I")] {
        let (mut a, b, mut rng) = established(seed);
        a.set_max_line(64);
        let pieces = send(&mut a, "hi", &mut rng);
        assert_eq!(pieces.len(), 2, "two pieces");
        let (first, second) = (piece(&pieces[0]), piece(&pieces[1]));
        // `?S1Q` and `?S1E` read anything after them; a start needs 48 base64url characters
        // in all, the real second piece's included.
        let chunk = match kind {
            "I" => format!("?S1I{}", "A".repeat(48 - second.chunk.len())),
            _ => format!("?S1{kind}forged"),
        };
        let forged = WireMessage::Fragment(Fragment { chunk, ..first }).encode();
        let before = state_of(&b);
        for order in [
            [&forged, &pieces[0], &pieces[1]],
            [&forged, &pieces[1], &pieces[0]],
        ] {
            let mut fresh =
                Conversation::restore(IdentityKey::from_bytes(&[6; 32]), &before).unwrap();
            let (shown, back, events) =
                deliver(&mut fresh, order.map(String::clone).to_vec(), &mut rng);
            assert_eq!(shown, ["hi"], "{kind}: the real line is read");
            assert!(back.is_empty(), "{kind}: nothing answered: {back:?}");
            assert!(
                events.iter().all(|e| matches!(e, Event::Unreadable { .. })),
                "{kind}: {events:?}"
            );
            assert!(!fresh.handshake_in_flight(), "{kind}");
        }
    }
}

/// Pieces of a line that never completes are dropped by the clock alone (a tick), not only
/// when another piece arrives.
#[test]
fn stale_pieces_expire_on_a_tick() {
    let (mut a, mut b, mut rng) = established(96);
    a.set_max_line(64);
    let pieces = send(&mut a, "hi", &mut rng);
    assert!(deliver(&mut b, pieces[..1].to_vec(), &mut rng).0.is_empty());
    assert!(b.fragments_buffered() > 0);
    let _ = b.tick(fragment::MAX_AGE_SECS);
    assert!(b.fragments_buffered() > 0, "not stale yet");
    let _ = b.tick(fragment::MAX_AGE_SECS + 1);
    assert_eq!(b.fragments_buffered(), 0);
}

/// A line whose 16 candidates were all rejected can offer nothing more: its pieces are dropped
/// then (PROTOCOL.md §6), not kept until another copy arrives or they expire.
#[test]
fn a_line_whose_candidates_are_spent_is_dropped() {
    let (mut a, mut b, mut rng) = established(97);
    a.set_max_line(64);
    let pieces = send(&mut a, &"a line cut into four pieces ".repeat(3), &mut rng);
    assert_eq!(pieces.len(), 4);
    // Two forged copies of every piece (the last character changed two ways): 2^4 = 16
    // candidates, each rejected.
    let forge = |p: &String, c: u8| {
        let mut bytes = p.clone().into_bytes();
        let last = bytes.len() - 1;
        bytes[last] = if bytes[last] == c { b'z' } else { c };
        String::from_utf8(bytes).unwrap()
    };
    let mut forged: Vec<String> = pieces.iter().map(|p| forge(p, b'A')).collect();
    forged.extend(pieces.iter().map(|p| forge(p, b'B')));
    let (shown, _, events) = deliver(&mut b, forged, &mut rng);
    assert!(shown.is_empty());
    assert!(!events.is_empty(), "reported");
    assert_eq!(b.fragments_buffered(), 0);
}

/// A line this side cannot place (its session is gone here) and a forged copy of its first
/// piece with another ratchet key: both ways to put it together name no session we know. The
/// not-read notice names the message whose outcome is reported (the real one, tried first),
/// so the sender sends that one again; it used to name the forged candidate tried last,
/// which the sender could not place (or, forged to name an old message, sent that again).
#[test]
fn the_not_read_notice_names_the_line_it_reports_not_a_forged_candidate() {
    use crate::protocol::wire::{Fragment, MessageRef, WireMessage};
    let piece = |line: &str| match WireMessage::decode(line) {
        Ok(WireMessage::Fragment(f)) => f,
        other => panic!("not a piece: {other:?}"),
    };
    let (mut a, _b, mut rng) = established(97);
    let (_other, mut lost, _) = established(98);
    a.set_max_line(64);
    let pieces = send(&mut a, "hi", &mut rng);
    assert_eq!(pieces.len(), 2, "two pieces");
    let (first, second) = (piece(&pieces[0]), piece(&pieces[1]));
    let whole = format!("{}{}", first.chunk, second.chunk);
    let Ok(WireMessage::Data(real)) = WireMessage::decode(&whole) else {
        panic!("the pieces make a data line: {whole}");
    };
    // One base64url character of the ratchet key's first bytes changed: still a data line.
    let mut chunk = first.chunk.clone().into_bytes();
    chunk[12] = if chunk[12] == b'A' { b'B' } else { b'A' };
    let chunk = String::from_utf8(chunk).expect("ASCII");
    let Ok(WireMessage::Data(fake)) = WireMessage::decode(&format!("{chunk}{}", second.chunk))
    else {
        panic!("the forged piece makes a data line");
    };
    assert_ne!(MessageRef::of(&fake), MessageRef::of(&real));
    let forged = WireMessage::Fragment(Fragment { chunk, ..first }).encode();
    let mut back = Vec::new();
    let mut events = Vec::new();
    for line in [&pieces[0], &forged, &pieces[1]] {
        let out = lost.receive(line, 0, &mut rng);
        back.extend(out.inject);
        events.extend(out.events);
    }
    assert_eq!(back, [MessageRef::of(&real).not_read_line()], "{events:?}");
}
