//! Long lines whose pieces never all come (PROTOCOL.md §6 "Lines that do not complete"): the
//! receiver's window is told, the sender's client is asked for the message its first piece
//! names, and the sender sends it again; forged, flooded and replayed pieces get no more than
//! the budgets allow.

use super::*;
use crate::protocol::fragment::{self, MAX_AGE_SECS};
use crate::protocol::session::{ReceiveOutcome, UnreadableReason, NOT_READ_NOTICES};
use crate::protocol::wire::{data_ref_from_head, DataMessage, Fragment, MessageRef, WireMessage};

/// When the pieces arrive in these tests.
const T0: u64 = 1_000_000;

/// `to` receives `lines` at `now`: what each line's outcome was, in order.
fn receive_at(
    to: &mut Conversation,
    lines: &[String],
    now: u64,
    rng: &mut ChaCha20Rng,
) -> Vec<ReceiveOutcome> {
    lines.iter().map(|l| to.receive(l, now, rng)).collect()
}

/// What the outcomes showed, sent and told, all together.
fn gathered(outs: Vec<ReceiveOutcome>) -> (Vec<String>, Vec<String>, Vec<Event>) {
    let (mut shown, mut inject, mut events) = (Vec::new(), Vec::new(), Vec::new());
    for o in outs {
        if let ReceiveAction::Display(t) = o.action {
            shown.push(t.to_string());
        }
        inject.extend(o.inject);
        events.extend(o.events);
    }
    (shown, inject, events)
}

fn incomplete(asked: bool) -> Event {
    Event::Unreadable {
        reason: UnreadableReason::Incomplete { asked },
    }
}

/// The message a line cut into `pieces` carries, as its first piece names it.
fn named_by(pieces: &[String]) -> MessageRef {
    match WireMessage::decode(&pieces[0]) {
        Ok(WireMessage::Fragment(f)) if f.index == 0 => data_ref_from_head(&f.chunk).unwrap(),
        other => panic!("not a first piece: {other:?}"),
    }
}

/// `a` sends a text long enough for several pieces, at [`T0`], on a line limit of 100 (a first
/// piece of 64 characters is too short to name its message: a real limit is 160 or more).
fn long_message(a: &mut Conversation, text: &str, rng: &mut ChaCha20Rng) -> Vec<String> {
    let _ = a.tick(T0);
    a.set_max_line(100);
    let pieces = send(a, text, rng);
    assert!(pieces.len() >= 4, "{} pieces", pieces.len());
    pieces
}

/// `b` starts a new session with `a`: what `b` showed of what `a` sent while finishing it, and
/// what `a` was told.
fn rekey(
    a: &mut Conversation,
    b: &mut Conversation,
    rng: &mut ChaCha20Rng,
) -> (Vec<String>, Vec<Event>) {
    let (flushed, told) = super::trust::genuine_start(a, b, rng);
    (deliver(b, flushed, rng).0, told)
}

/// The sender's IRC connection drops while libpurple still holds the last pieces: the
/// receiver keeps the first ones. 300 s on, with no other line coming, the periodic sweep
/// finds the line lost (cheaply: nothing before), tells the window once and asks the sender
/// for the message its first piece names; no saved state changes. The sender shows which
/// message was not read, and why, and sends it again with the next session. Before, the
/// pieces were dropped without a word on either side.
#[test]
fn a_long_message_that_never_completes_is_told_and_asked_for() {
    let (mut a, mut b, mut rng) = established(301);
    let text = "the long message whose last pieces the server never got ".repeat(5);
    let pieces = long_message(&mut a, &text, &mut rng);
    let kept = &pieces[..pieces.len() - 2];
    let (shown, inject, events) = gathered(receive_at(&mut b, kept, T0, &mut rng));
    assert!(shown.is_empty() && inject.is_empty() && events.is_empty());
    let before = state_of(&b);
    for t in [T0 + 10, T0 + MAX_AGE_SECS] {
        assert!(!b.pieces_to_tell(t), "nothing to tell yet at {t}");
    }
    let lapse = T0 + MAX_AGE_SECS + 1;
    assert!(b.pieces_to_tell(lapse));
    let out = b.tell_incomplete(lapse);
    assert_eq!(out.action, ReceiveAction::Swallow);
    assert_eq!(out.events, [incomplete(true)]);
    assert_eq!(out.inject, [named_by(&pieces).incomplete_line()]);
    assert_eq!(
        out.inject[0],
        format!(
            "?S1E could not read message {} (arrived incomplete)",
            out.inject[0]
                .trim_start_matches("?S1E could not read message ")
                .split(' ')
                .next()
                .unwrap()
        )
    );
    assert_eq!(state_of(&b), before, "telling changes no saved state");
    assert_eq!(b.fragments_buffered(), 0);
    // Told once.
    assert!(!b.pieces_to_tell(lapse + 1000));
    let again = b.tell_incomplete(lapse + 1000);
    assert!(again.events.is_empty() && again.inject.is_empty());
    // The sender names the message, and why.
    let told = a.receive(&out.inject[0], lapse, &mut rng);
    assert_eq!(
        told.events,
        [Event::NotRead {
            text: Some(text.clone()),
            incomplete: true
        }]
    );
    assert!(
        told.inject.is_empty(),
        "an unauthenticated notice sends nothing at once"
    );
    // Sent again by itself over the next session, and read.
    let (shown, a_events) = rekey(&mut a, &mut b, &mut rng);
    assert_eq!(shown, std::slice::from_ref(&text));
    assert!(a_events.contains(&Event::Resent {
        text,
        same_session: false
    }));
}

/// The host did not send the last piece after all (another plugin changed it on its way: the
/// window said NOT sent, with the text, and the host had the conversation forget it): the
/// pieces that left are told incomplete as before, but the message is not sent again by itself
/// over the next session (the user was told to type it again: it came twice).
#[test]
fn a_message_the_host_did_not_send_after_all_is_not_sent_again() {
    host_did_not_send_after_all(false);
}

/// The same when the contact's notice came while the last piece was held (another plugin's
/// dialog), before the host refused it: the text already waited to go again, and went.
#[test]
fn a_message_refused_after_its_notice_came_is_not_sent_again() {
    host_did_not_send_after_all(true);
}

/// `a` sends a long message whose last piece the host refuses (`forget_sent_text`), before the
/// contact's notice that it arrived incomplete, or after it (`late`); an older message of the
/// same words went before it.
fn host_did_not_send_after_all(late: bool) {
    let (mut a, mut b, mut rng) = established(303);
    let text = "the long message another plugin signed on its way ".repeat(5);
    let older = long_message(&mut a, &text, &mut rng);
    let _ = gathered(receive_at(&mut b, &older, T0, &mut rng));
    let pieces = send(&mut a, &text, &mut rng);
    if !late {
        a.forget_sent_text(&text);
    }
    let kept = &pieces[..pieces.len() - 1];
    let _ = gathered(receive_at(&mut b, kept, T0, &mut rng));
    let lapse = T0 + MAX_AGE_SECS + 1;
    let out = b.tell_incomplete(lapse);
    assert_eq!(out.inject, [named_by(&pieces).incomplete_line()]);
    let told = a.receive(&out.inject[0], lapse, &mut rng);
    if late {
        a.forget_sent_text(&text);
    } else {
        assert!(
            !told
                .events
                .iter()
                .any(|e| matches!(e, Event::NotRead { text: Some(_), .. })),
            "{:?}",
            told.events
        );
    }
    let (shown, a_events) = rekey(&mut a, &mut b, &mut rng);
    assert!(shown.is_empty(), "sent again: {shown:?}");
    assert!(
        !a_events.iter().any(|e| matches!(e, Event::Resent { .. })),
        "{a_events:?}"
    );
}

/// `forget_sent_record` (a message the host gave back at once) forgets its record only: a text
/// of the same words that already waits to go again, because the contact's notice named it,
/// still goes with the next session, as the notice's line promised.
#[test]
fn forgetting_a_record_keeps_a_text_waiting_to_go_again() {
    let (mut a, mut b, mut rng) = established(304);
    let text = "the long message the contact could not read ".repeat(5);
    let pieces = long_message(&mut a, &text, &mut rng);
    let kept = &pieces[..pieces.len() - 1];
    let _ = gathered(receive_at(&mut b, kept, T0, &mut rng));
    let lapse = T0 + MAX_AGE_SECS + 1;
    let out = b.tell_incomplete(lapse);
    let _ = a.receive(&out.inject[0], lapse, &mut rng);
    // The same words typed again, given back at once (the host did not take them).
    let _ = send(&mut a, &text, &mut rng);
    a.forget_sent_record(&text);
    let (shown, a_events) = rekey(&mut a, &mut b, &mut rng);
    assert_eq!(shown, [text], "{a_events:?}");
    assert!(
        a_events.iter().any(|e| matches!(e, Event::Resent { .. })),
        "{a_events:?}"
    );
}

/// Lines lost meanwhile are told with the next line that comes, too (the host ticks, then
/// receives): not only by the sweep.
#[test]
fn the_next_line_tells_what_was_lost_before_it() {
    let (mut a, mut b, mut rng) = established(302);
    let pieces = long_message(&mut a, &"lost on the way ".repeat(12), &mut rng);
    let _ = receive_at(&mut b, &pieces[..1], T0, &mut rng);
    let next = send(&mut a, "and a short one", &mut rng);
    let later = T0 + MAX_AGE_SECS + 1;
    let ticked = b.tick(later);
    assert!(ticked.events.is_empty() && ticked.inject.is_empty());
    let (shown, inject, events) = gathered(receive_at(&mut b, &next, later, &mut rng));
    assert_eq!(shown, ["and a short one"]);
    assert_eq!(events, [incomplete(true)]);
    assert_eq!(inject, [named_by(&pieces).incomplete_line()]);
}

/// On a transport that keeps one sender's lines in order (IRC, XMPP), a later line of the same
/// session and chain, read, means the missing pieces are not coming: told at once, with that
/// line. Not on others (SMS reorders: the pieces may still come), not for a line of another
/// chain, and not for a forged line (it does not authenticate).
#[test]
fn in_order_a_later_line_read_tells_the_lost_one_at_once() {
    for in_order in [true, false] {
        let (mut a, mut b, mut rng) = established(303);
        b.set_in_order(in_order);
        let pieces = long_message(&mut a, &"the middle piece is dropped ".repeat(10), &mut rng);
        let mut arrived = pieces.clone();
        arrived.remove(1);
        let _ = receive_at(&mut b, &arrived, T0, &mut rng);
        let next = send(&mut a, "after the long one", &mut rng);
        // A forged copy of the later line first: it does not authenticate, nothing is told.
        let mut forged = next[0].clone();
        forged.truncate(forged.len() - 4);
        forged.push_str("AAAA");
        let (_, inject, events) = gathered(receive_at(&mut b, &[forged], T0 + 1, &mut rng));
        assert!(inject.is_empty(), "{in_order}: {inject:?}");
        assert!(
            !events.contains(&incomplete(true)),
            "{in_order}: {events:?}"
        );
        let (shown, inject, events) = gathered(receive_at(&mut b, &next, T0 + 2, &mut rng));
        assert_eq!(shown, ["after the long one"]);
        if in_order {
            assert_eq!(events, [incomplete(true)]);
            assert_eq!(inject, [named_by(&pieces).incomplete_line()]);
            assert_eq!(b.fragments_buffered(), 0);
        } else {
            assert!(events.is_empty() && inject.is_empty(), "{events:?}");
            assert!(b.fragments_buffered() > 0, "still waiting for its pieces");
            // The missing piece may still come: the line is read.
            let (shown, _, _) = gathered(receive_at(&mut b, &pieces[1..2], T0 + 3, &mut rng));
            assert_eq!(shown.len(), 1);
        }
    }
    // A later line of another chain (the sender read a reply in between) is not taken for
    // one of the same chain: the lost line waits for the clock.
    let (mut a, mut b, mut rng) = established(304);
    b.set_in_order(true);
    let pieces = long_message(&mut a, &"the middle piece is dropped ".repeat(10), &mut rng);
    let _ = receive_at(&mut b, &pieces[..1], T0, &mut rng);
    let reply = send(&mut b, "a reply", &mut rng);
    let _ = receive_at(&mut a, &reply, T0, &mut rng);
    let mut next = send(&mut a, "on a new chain", &mut rng);
    next.extend(send(&mut a, "its second message", &mut rng));
    let (shown, inject, events) = gathered(receive_at(&mut b, &next, T0 + 1, &mut rng));
    assert_eq!(shown, ["on a new chain", "its second message"]);
    assert!(events.is_empty() && inject.is_empty(), "{events:?}");
    assert!(b.pieces_to_tell(T0 + MAX_AGE_SECS + 1));
}

/// Pieces without their first one name no message: the window is told, nobody is asked.
#[test]
fn without_its_first_piece_a_lost_line_is_told_to_the_window_only() {
    let (mut a, mut b, mut rng) = established(305);
    let pieces = long_message(&mut a, &"the first piece never came ".repeat(10), &mut rng);
    let _ = receive_at(&mut b, &pieces[1..], T0, &mut rng);
    let out = b.tell_incomplete(T0 + MAX_AGE_SECS + 1);
    assert_eq!(out.events, [incomplete(false)]);
    assert!(out.inject.is_empty());
    // With no session at all, nothing: such a line could not have been read anyway.
    let mut rng2 = super::rng(306);
    let (_x, mut y) = pair(&mut rng2, Policy::Manual);
    let _ = receive_at(&mut y, &pieces[1..], T0, &mut rng2);
    let out = y.tell_incomplete(T0 + MAX_AGE_SECS + 1);
    assert!(out.events.is_empty() && out.inject.is_empty());
}

/// A first piece of a message already read (replayed by a server, or played back by a
/// bouncer), of a session this side does not have, of a handshake line, or of no Sotto line,
/// is dropped without a word; so are later pieces of a line put together lately.
#[test]
fn first_pieces_of_nothing_we_could_still_read_are_dropped_without_a_word() {
    let (mut a, mut b, mut rng) = established(307);
    let pieces = long_message(&mut a, &"read once, replayed after ".repeat(10), &mut rng);
    let (shown, _, _) = gathered(receive_at(&mut b, &pieces, T0, &mut rng));
    assert_eq!(shown.len(), 1);
    // Replayed in part: the first two pieces, and the last.
    let n = pieces.len();
    assert!(n >= 5, "{n} pieces");
    let _ = receive_at(&mut b, &pieces[..2], T0 + 1, &mut rng);
    let _ = receive_at(&mut b, &pieces[n - 1..], T0 + 1, &mut rng);
    let out = b.tell_incomplete(T0 + MAX_AGE_SECS + 2);
    assert!(out.events.is_empty() && out.inject.is_empty(), "{out:?}");
    // Only later pieces (a bouncer's playback that begins in the middle of the line): the
    // line was put together lately, so they are copies.
    let _ = receive_at(&mut b, &pieces[2..4], T0 + 400, &mut rng);
    let out = b.tell_incomplete(T0 + 400 + MAX_AGE_SECS + 1);
    assert!(out.events.is_empty() && out.inject.is_empty(), "{out:?}");
    // After a restart the pieces of lines read are no longer remembered, but the ratchet
    // still knows the message was read: a replayed first piece is told to nobody.
    let mut restored =
        Conversation::restore(IdentityKey::from_bytes(&[7; 32]), &state_of(&b)).unwrap();
    let _ = receive_at(&mut restored, &pieces[..2], T0 + 800, &mut rng);
    let out = restored.tell_incomplete(T0 + 800 + MAX_AGE_SECS + 1);
    assert!(out.events.is_empty() && out.inject.is_empty(), "{out:?}");
    // (Later pieces alone, after a restart, name nothing that could tell them from a line
    // lost: the window is told once, nobody is asked.)
    let _ = receive_at(&mut restored, &pieces[2..4], T0 + 1200, &mut rng);
    let out = restored.tell_incomplete(T0 + 1200 + MAX_AGE_SECS + 1);
    assert_eq!(out.events, [incomplete(false)]);
    assert!(out.inject.is_empty());
    // First pieces of a session we do not have, of a handshake line, of no Sotto line.
    let unknown = WireMessage::Data(DataMessage {
        session_id: [9, 9, 9, 9],
        ratchet_key: [5; 32],
        previous_chain_len: 0,
        index: 0,
        ciphertext: vec![0; 40],
    })
    .encode();
    for (id, first) in [
        (1, unknown.as_str()),
        (
            2,
            "?S1RAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ),
        (3, "hello there, not a Sotto line at all"),
    ] {
        let piece = WireMessage::Fragment(Fragment {
            id,
            index: 0,
            total: 2,
            chunk: first[..first.len().min(60)].to_owned(),
        })
        .encode();
        let _ = b.receive(&piece, T0 + 400, &mut rng);
    }
    let out = b.tell_incomplete(T0 + 400 + MAX_AGE_SECS + 1);
    assert!(out.events.is_empty() && out.inject.is_empty(), "{out:?}");
}

/// A piece 0 of a hostile server's (each naming a made-up message of the current session, on
/// a made-up chain, which the ratchet cannot rule out) in a flood of partial lines: at most
/// [`NOT_READ_NOTICES`] notices per interval, shared with the other not-read notices, and one
/// window line per interval, however many lines are lost. The lines of one interval over the
/// window's budget wait, and are told together in the next.
#[test]
fn forged_first_pieces_get_no_more_than_the_budgets() {
    let (_a, mut b, mut rng) = established(308);
    let sid = b.session_id().unwrap();
    let forged_first = |i: u32| {
        let line = WireMessage::Data(DataMessage {
            session_id: sid,
            ratchet_key: [u8::try_from(i % 200).unwrap() + 1; 32],
            previous_chain_len: 0,
            index: i % 500,
            ciphertext: vec![0; 40],
        })
        .encode();
        WireMessage::Fragment(Fragment {
            id: i,
            index: 0,
            total: 3,
            chunk: line[..60].to_owned(),
        })
        .encode()
    };
    let mut notices = 0;
    let mut lines_told = 0;
    for interval in 0..4u64 {
        let (mut n, mut l) = (0, 0);
        for i in 0..100u32 {
            let now = T0 + interval * 30 + u64::from(i / 5);
            let id = u32::try_from(interval).unwrap() * 1000 + i;
            let out = b.receive(&forged_first(id), now, &mut rng);
            n += out.inject.len();
            l += out.events.len();
            assert!(
                out.events.iter().all(|e| matches!(
                    e,
                    Event::Unreadable {
                        reason: UnreadableReason::Incomplete { .. }
                    }
                )),
                "{out:?}"
            );
        }
        assert!(n <= NOT_READ_NOTICES as usize, "{n} notices in an interval");
        assert!(l <= 1, "{l} window lines in an interval");
        notices += n;
        lines_told += l;
    }
    assert!(notices > 0 && lines_told > 0);
    assert!(b.fragments_buffered() <= fragment::MAX_BUFFERED_COST);
}

/// A first piece of the previous session (the sender re-keyed while the line was on the
/// way): its message is asked for while the previous session could still read it; a replay of
/// one it read is told to nobody.
#[test]
fn a_first_piece_of_the_previous_session() {
    let (mut a, mut b, mut rng) = established(309);
    let read = long_message(&mut a, &"read in the old session ".repeat(10), &mut rng);
    let lost = long_message(&mut a, &"lost in the old session ".repeat(10), &mut rng);
    let (shown, _, _) = gathered(receive_at(&mut b, &read, T0, &mut rng));
    assert_eq!(shown.len(), 1);
    let _ = receive_at(&mut b, &lost[..1], T0, &mut rng);
    let _ = rekey(&mut a, &mut b, &mut rng);
    assert!(b.keeps_accepted_previous());
    let _ = receive_at(&mut b, &read[..1], T0 + 1, &mut rng);
    let out = b.tell_incomplete(T0 + MAX_AGE_SECS + 2);
    assert_eq!(out.events, [incomplete(true)]);
    assert_eq!(out.inject, [named_by(&lost).incomplete_line()]);
    let told = a.receive(&out.inject[0], T0 + MAX_AGE_SECS + 2, &mut rng);
    assert!(
        matches!(&told.events[..], [Event::NotRead { text: Some(t), incomplete: true }] if t.starts_with("lost in the old")),
        "{:?}",
        told.events
    );
}

/// Lines lost within one interval after the window was told wait (their notices go at once):
/// the sweep finds nothing to tell until the interval is over, then tells them in one line.
#[test]
fn lines_lost_within_an_interval_are_told_together_after_it() {
    let (mut a, mut b, mut rng) = established(310);
    let first = long_message(&mut a, &"the first lost line ".repeat(10), &mut rng);
    let second = long_message(&mut a, &"the second lost line ".repeat(10), &mut rng);
    let third = long_message(&mut a, &"the third lost line ".repeat(10), &mut rng);
    let _ = receive_at(&mut b, &first[..1], T0, &mut rng);
    let _ = receive_at(&mut b, &second[..1], T0 + 10, &mut rng);
    let _ = receive_at(&mut b, &third[1..2], T0 + 12, &mut rng);
    let t1 = T0 + MAX_AGE_SECS + 1;
    let out = b.tell_incomplete(t1);
    assert_eq!(out.events, [incomplete(true)]);
    assert_eq!(out.inject, [named_by(&first).incomplete_line()]);
    let t2 = T0 + 10 + MAX_AGE_SECS + 1;
    assert!(b.pieces_to_tell(t2), "the second line was lost");
    let out = b.tell_incomplete(t2);
    assert!(out.events.is_empty(), "{:?}", out.events);
    assert_eq!(out.inject, [named_by(&second).incomplete_line()]);
    let t3 = T0 + 12 + MAX_AGE_SECS + 1;
    let out = b.tell_incomplete(t3);
    assert!(out.events.is_empty() && out.inject.is_empty());
    for t in [t3 + 1, t1 + 29] {
        assert!(!b.pieces_to_tell(t), "within the interval at {t}");
    }
    assert!(b.pieces_to_tell(t1 + 30));
    let out = b.tell_incomplete(t1 + 30);
    assert_eq!(out.events, [incomplete(true)], "both, in one line");
    assert!(out.inject.is_empty());
    assert!(!b.pieces_to_tell(t1 + 1000));
}
