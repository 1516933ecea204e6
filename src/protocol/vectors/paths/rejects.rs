//! Section 17 of `paths-v1.txt`: handshake and verification lines a receiver must reject, each
//! built by the independent implementation (`reference.rs`) with one value made hostile: a
//! low-order ephemeral key, the receiver's own identity key handed back, an identity key whose
//! bit 255 is set, damaged ciphertext, tags of another handshake, an over-long payload, and
//! SPAKE2 points that are not valid prime-order points. Section 10 covers data lines.

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use rand_chacha::rand_core::RngCore;

use super::{events, fragment_draw, fresh_start, k32, Out, TAG_A, TAG_B};
use crate::protocol::names::Names;
use crate::protocol::session::{Conversation, Event};
use crate::protocol::vectors::reference::{self as r, Ratchet};
use crate::protocol::verify::normalize_answer;

/// What a receiver reports, as written in the table.
fn told(ev: &[Event]) -> String {
    if ev.is_empty() {
        return "nothing".into();
    }
    ev.iter()
        .map(|e| match e {
            Event::HandshakeFailed { reason } => format!("handshake failed: {reason}"),
            Event::Unreadable { reason } => format!("unreadable: {reason}"),
            Event::VerificationResult { success, .. } => {
                format!(
                    "verification result: {}",
                    if *success { "match" } else { "no match" }
                )
            }
            other => format!("{other:?}"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `line` with the bytes of its body at `at` replaced by `with` (or XORed with it).
fn damaged(line: &str, at: usize, with: &[u8], xor: bool) -> String {
    let mut body = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        &line[4..],
    )
    .expect("base64url");
    for (i, b) in with.iter().enumerate() {
        body[at + i] = if xor { body[at + i] ^ b } else { *b };
    }
    format!("{}{}", &line[..4], r::b64(&body))
}

/// `c` receives each line; it must send nothing and keep its state byte for byte.
fn must_reject(o: &mut Out, c: &mut Conversation, cases: Vec<(&str, String)>) {
    o.line("case | reported to the user | line");
    for (case, line) in cases {
        let before = c.snapshot().to_vec();
        let (inject, ev) = events(c, &line, &mut o.rng);
        assert!(inject.is_empty(), "{case}: {inject:?}");
        assert!(
            !ev.iter().any(|e| matches!(e, Event::Started { .. })),
            "{case}"
        );
        assert_eq!(c.snapshot().to_vec(), before, "{case}: state changed");
        assert!(o.rng.draws.is_empty(), "{case}: a draw");
        o.line(format!("{case} | {} | {line}", told(&ev)));
    }
}

/// The five SPAKE2 points a receiver must refuse, with what each is.
fn bad_points() -> Vec<(&'static str, [u8; 32])> {
    let mut non_canonical = [0xff; 32];
    non_canonical[0] = 0xee; // y = p + 1: the identity's y, not reduced
    non_canonical[31] = 0x7f;
    // The smallest y whose x² is not a square: no point of the curve has it.
    let off_curve = (2u8..)
        .map(|y| {
            let mut b = [0u8; 32];
            b[0] = y;
            b
        })
        .find(|b| {
            curve25519_dalek::edwards::CompressedEdwardsY(*b)
                .decompress()
                .is_none()
        })
        .expect("a y off the curve");
    vec![
        ("the identity", EIGHT_TORSION[0].compress().to_bytes()),
        ("a point of order 8", EIGHT_TORSION[1].compress().to_bytes()),
        (
            "the base point plus a point of order 8 (not in the prime-order subgroup)",
            (ED25519_BASEPOINT_POINT + EIGHT_TORSION[1])
                .compress()
                .to_bytes(),
        ),
        ("a non-canonical encoding (y = p + 1)", non_canonical),
        ("not on the curve", off_curve),
    ]
}

pub(super) fn section(o: &mut Out, s_a: &[u8; 32], s_b: &[u8; 32]) {
    o.section(
        "17. must reject in the handshake and in verification: each line is the reference \
         implementation's with one value made hostile",
    );
    o.line("new conversations with no names set (each payload states none: 00 00); alice knows bob runs Sotto and initiates");
    let (mut alice, mut bob, init, e_i) = fresh_start(o, (s_a, s_b), None);
    let (response, _) = events(&mut bob, &init[0], &mut o.rng);
    let e_r = k32(&o.draws("bob")[0]);
    o.wire(
        "bob (held back until the lines below are read)",
        &response[0],
    );
    let none = Names::default().encode();
    let pub_a = r::x25519_public(s_a);
    let pub_b = r::x25519_public(s_b);
    let hs = |s_i: &[u8; 32], s_r: &[u8; 32], tag_i: u32, sent, payload_r: &[u8]| {
        r::handshake(&r::HandshakeInput {
            tag_i,
            tag_r: TAG_B,
            s_i: *s_i,
            s_r: *s_r,
            e_i,
            e_r,
            payload_i: &none,
            payload_r,
            sent,
        })
    };
    let honest = hs(s_a, s_b, TAG_A, (None, None), &none);
    assert_eq!((&honest.init, &honest.response), (&init[0], &response[0]));
    let mut high = pub_b;
    high[31] |= 0x80;
    // A point of order 8 on Curve25519 (u-coordinate, little-endian).
    let order8 = k32(&hex::decode(
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    )
    .expect("hex"));
    let mut u1 = [0u8; 32];
    u1[0] = 1;
    // R = tag_r ‖ tag_i ‖ e_r ‖ enc_s_r (48) ‖ enc_p; e_r at 8, enc_s_r at 40.
    o.line(
        "alice, waiting for bob's answer, receives each ?S1R below: she sends nothing and her \
         state (snapshot) is unchanged",
    );
    let r_cases = vec![
        (
            "R answering another start (tag_i not alice's): meant for another client, ignored",
            hs(s_a, s_b, TAG_A ^ 1, (None, None), &none).response,
        ),
        (
            "R with a low-order e_r (u = 0)",
            damaged(&honest.response, 8, &[0u8; 32], false),
        ),
        (
            "R with a low-order e_r (u = 1, order 4)",
            damaged(&honest.response, 8, &u1, false),
        ),
        (
            "R with a low-order e_r (order 8)",
            damaged(&honest.response, 8, &order8, false),
        ),
        (
            "R with a flipped bit in enc_s_r",
            damaged(&honest.response, 40, &[1], true),
        ),
        (
            "R carrying alice's own identity key (her start handed back and answered)",
            hs(s_a, s_a, TAG_A, (None, None), &none).response,
        ),
        (
            "R carrying bob's identity key with bit 255 set (a second encoding of his key)",
            hs(s_a, s_b, TAG_A, (None, Some(high)), &none).response,
        ),
        (
            "R with a payload of 513 bytes (at most 512)",
            hs(s_a, s_b, TAG_A, (None, None), &[0u8; 513]).response,
        ),
    ];
    must_reject(o, &mut alice, r_cases);
    let (confirm, _) = events(&mut alice, &response[0], &mut o.rng);
    let a1 = k32(&o.draws("alice: A1")[0]);
    assert_eq!(confirm, std::slice::from_ref(&honest.confirm));
    o.wire(
        "alice reads bob's own ?S1R (above) at last and confirms, as if nothing had come before",
        &confirm[0],
    );

    let mut high = pub_a;
    high[31] |= 0x80;
    // C = tag_i ‖ tag_r ‖ enc_s_i (48) ‖ enc_p; enc_p at 56.
    o.line(
        "bob, waiting for alice's confirm, receives each ?S1C below: he sends nothing and his \
         state (snapshot) is unchanged",
    );
    let mut other_tags = hs(s_a, s_b, TAG_A, (None, None), &none).confirm;
    other_tags = damaged(&other_tags, 4, &TAG_B.wrapping_add(1).to_be_bytes(), false);
    let c_cases = vec![
        (
            "C naming another handshake (tag_r not bob's): ignored",
            other_tags,
        ),
        (
            "C with a flipped bit in enc_p",
            damaged(&honest.confirm, 56, &[1], true),
        ),
        (
            "C carrying bob's own identity key (his answer's key handed back)",
            hs(s_b, s_b, TAG_A, (None, None), &none).confirm,
        ),
        (
            "C carrying alice's identity key with bit 255 set",
            hs(s_a, s_b, TAG_A, (Some(high), None), &none).confirm,
        ),
    ];
    must_reject(o, &mut bob, c_cases);
    let (_, ev) = events(&mut bob, &confirm[0], &mut o.rng);
    assert!(ev.iter().any(|e| matches!(e, Event::Started { .. })));
    o.line("bob, then alice's own ?S1C: the session is up");

    verification(o, (&mut alice, &mut bob), &honest, (a1, e_r));
}

/// The reference `m` reads `line` of the real side; a ratchet key it needs for a DH ratchet
/// step is drawn here (and listed).
fn forger_receives(o: &mut Out, m: &mut Ratchet, line: &str) {
    let (hk, pn, n) = r::data_header(line);
    let fresh = (m.dhr != Some(hk)).then(|| {
        let mut k = [0u8; 32];
        o.rng.fill_bytes(&mut k);
        o.draws("the reference bob: ratchet step");
        k
    });
    m.receive(hk, pn, n, fresh);
}

/// Questions and replies whose SPAKE2 point is not one to use: the receiver shows nothing of
/// the run and answers 0x13 (the answerer); the asker reports no match and answers 0x13.
fn verification(
    o: &mut Out,
    (alice, bob): (&mut Conversation, &mut Conversation),
    hs: &r::Handshake,
    (a1, e_r): ([u8; 32], [u8; 32]),
) {
    let ra = Ratchet::initiator(hs, a1, r::x25519_public(&e_r));
    let rb = Ratchet::responder(hs, e_r);
    let q = "Our first film?";

    // bob answers questions the reference alice forges.
    o.line(format!(
        "bob receives questions (0x10 = spake_A ‖ {q:?}) whose spake_A = 0x41 ‖ one of the \
         points below (each line the next message of alice's first chain): nothing is shown, \
         and he ends the run with 0x13"
    ));
    o.line("point | reported to bob | line | bob's answer");
    let (mut fa, mut fb) = (ra.clone(), rb.clone());
    for (what, point) in bad_points() {
        let content = [&[b'A'][..], &point, q.as_bytes()].concat();
        let line = fa.seal(0x10, &content);
        let (inject, ev) = events(bob, &line, &mut o.rng);
        let fresh = o.draws("bob: ratchet step").first().map(|d| k32(d));
        assert!(ev.is_empty(), "{what}: {ev:?}");
        let (hk, pn, n) = r::data_header(&line);
        fb.receive(hk, pn, n, fresh);
        assert_eq!(inject, vec![fb.seal(0x13, b"")], "{what}");
        fb.log.clear();
        o.line(format!("{what} | {} | {line} | {}", told(&ev), inject[0]));
    }

    // alice asks; the reference bob forges each reply. A fresh pair of mirrors: alice's real
    // state never saw the lines above.
    o.line(format!(
        "alice asks {q:?} (answer \"Alien\") and receives a reply (0x11 = spake_B ‖ mac_B, mac_B \
         32 zero bytes) whose spake_B = 0x42 ‖ one of the points: she reports no match and \
         answers 0x13; the reference bob draws the ratchet keys listed as his"
    ));
    o.line("point | reported to alice | alice's question | reply | alice's answer");
    let (mut ma, mut mb) = (ra, rb);
    let mpt = r::arbitrary_element(b"M");
    let wa = r::password_scalar(normalize_answer("Alien").as_bytes());
    for (what, point) in bad_points() {
        let ask = alice.ask_question(q, "Alien", &mut o.rng).inject;
        let xa: [u8; 64] = o.draws("alice: x")[..]
            .concat()
            .try_into()
            .expect("64 bytes");
        let msg_a = r::spake_message(b'A', &xa, &wa, &mpt);
        assert_eq!(ma.seal(0x10, &[&msg_a[..], q.as_bytes()].concat()), ask[0]);
        forger_receives(o, &mut mb, &ask[0]);
        let reply = mb.seal(0x11, &[&[b'B'][..], &point, &[0u8; 32]].concat());
        let (inject, ev) = events(alice, &reply, &mut o.rng);
        let fresh_a = o.draws("alice: ratchet step").first().map(|d| k32(d));
        assert!(
            matches!(&ev[..], [Event::VerificationResult { success: false, .. }]),
            "{what}: {ev:?}"
        );
        let (hk, pn, n) = r::data_header(&reply);
        ma.receive(hk, pn, n, fresh_a);
        assert_eq!(inject, vec![ma.seal(0x13, b"")], "{what}");
        forger_receives(o, &mut mb, &inject[0]);
        ma.log.clear();
        mb.log.clear();
        o.line(format!(
            "{what} | {} | {} | {reply} | {}",
            told(&ev),
            ask[0],
            inject[0]
        ));
    }
}

/// `who`'s `pieces`, checked to be the reference's `line` cut with fragment id `draw`, and
/// written out after the whole line.
fn pieces_of(o: &mut Out, who: &str, line: &str, pieces: &[String], draw: u32) {
    assert_eq!(pieces.iter().map(|p| &p[12..]).collect::<String>(), line);
    for (i, p) in pieces.iter().enumerate() {
        assert_eq!(p[..12], r::fragment_header(draw, i, pieces.len()));
    }
    o.line(format!(
        "{who}'s {} whole ({} chars): {line}",
        &line[..4],
        line.len()
    ));
    for p in pieces {
        o.wire(who, p);
    }
}

/// Section 18: the handshake over a transport whose lines hold 80 characters: `?S1R` and
/// `?S1C` in pieces, and a forged first piece of `?S1R` naming another start.
pub(super) fn handshake_in_pieces(o: &mut Out, s_a: &[u8; 32], s_b: &[u8; 32]) {
    o.section(
        "18. the handshake in pieces: both line limits are 80; ?S1R and ?S1C are cut (§6), a \
         forged first piece of ?S1R naming another start arrives first",
    );
    o.line("new conversations with no names set; alice knows bob runs Sotto and initiates");
    let (mut alice, mut bob, init, e_i) = fresh_start(o, (s_a, s_b), Some(80));
    let (response, _) = events(&mut bob, &init[0], &mut o.rng);
    let draw_r = fragment_draw(o);
    let draws = o.draws("bob: e_r, then the fragment id (its low 24 bits)");
    let e_r = k32(&draws[0]);
    let none = Names::default().encode();
    let hs = r::handshake(&r::HandshakeInput {
        tag_i: TAG_A,
        tag_r: TAG_B,
        s_i: *s_a,
        s_r: *s_b,
        e_i,
        e_r,
        payload_i: &none,
        payload_r: &none,
        sent: (None, None),
    });
    assert_eq!(hs.init, init[0]);
    pieces_of(o, "bob", &hs.response, &response, draw_r);
    // Piece 0 = header (12) ‖ "?S1R" ‖ body; the body's characters 5 to 10 carry tag_i.
    let mut forged = response[0].clone().into_bytes();
    forged[12 + 4 + 8] = if forged[12 + 4 + 8] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let forged = String::from_utf8(forged).expect("ASCII");
    o.wire("forger (bob's piece 0, another tag_i)", &forged);
    let mut confirm = Vec::new();
    let mut told = Vec::new();
    assert_eq!(response.len(), 3);
    for p in [&forged, &response[1], &response[2], &response[0]] {
        let (inject, ev) = events(&mut alice, p, &mut o.rng);
        confirm.extend(inject);
        told.extend(ev);
    }
    assert!(
        !told
            .iter()
            .any(|e| matches!(e, Event::HandshakeFailed { .. } | Event::Unreadable { .. })),
        "{told:?}"
    );
    let draw_c = fragment_draw(o);
    o.draws("alice: the fragment id of her ?S1C, then A1");
    o.line(
        "alice: given forged 0, 1, 2, then 0: the first candidate (forged 0, 1, 2) answers \
         another start, which counts as rejected (nothing said); the next (0, 1, 2) is bob's ?S1R",
    );
    pieces_of(o, "alice", &hs.confirm, &confirm, draw_c);
    let mut up = false;
    for p in confirm.iter().rev() {
        let (inject, ev) = events(&mut bob, p, &mut o.rng);
        assert!(inject.is_empty());
        up |= ev.iter().any(|e| matches!(e, Event::Started { .. }));
    }
    assert!(up);
    o.line("bob: given alice's pieces last first: the session is up");
}
