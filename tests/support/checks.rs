//! What must hold after each step: nothing typed ever on the wire, the handshake and every Sotto
//! line intact, nothing wrong shown to the user, no message key used twice.

use super::{
    find, flags, irc_sotto_lines, loop_messages, parse_data, reassemble, sip_messages, sotto_lines,
    split_lines, Client, DataHeader, Dir, Pair, Peer, Proto, Tap, WAIT,
};

/// Assert that no byte sequence of `needle` went through either tap, in either direction.
/// `what` names the message for the failure text.
pub fn assert_not_on_wire(taps: &[&Tap], needle: &str, what: &str) {
    for (i, tap) in taps.iter().enumerate() {
        for dir in [Dir::Up, Dir::Down] {
            let bytes = tap.bytes(dir);
            if let Some(at) = find(&bytes, needle.as_bytes()) {
                let from = at.saturating_sub(120);
                let to = (at + needle.len() + 120).min(bytes.len());
                panic!(
                    "PLAINTEXT ON THE WIRE: {what}: {needle:?} found in tap {i} ({dir:?}) at byte {at}:\n…{}…",
                    String::from_utf8_lossy(&bytes[from..to])
                );
            }
        }
    }
}

/// Distinctive pieces of `text` to look for on the wire: each contains a space (which never
/// occurs inside a base64url run), up to `n` pieces spread over the text, each ≤ 24 bytes and
/// free of characters a protocol would escape (`<>&"'` and newline), so the raw form is what
/// a leak would look like on IRC and inside an XMPP `<body>`.
pub fn needles(text: &str, n: usize) -> Vec<String> {
    let mut pairs: Vec<String> = Vec::new();
    for seg in text.split(|c: char| "<>&\"'\n".contains(c)) {
        let words: Vec<&str> = seg.split(' ').filter(|w| !w.is_empty()).collect();
        for p in words.windows(2) {
            let mut s = format!("{} {}", p[0], p[1]);
            let mut cut = s.len().min(24);
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
            pairs.push(s);
        }
    }
    let step = (pairs.len() / n.max(1)).max(1);
    let mut out: Vec<String> = pairs.iter().step_by(step).take(n).cloned().collect();
    if let Some(last) = pairs.last() {
        if !out.contains(last) {
            out.push(last.clone());
        }
    }
    out
}

/// The handshake on the wire: only query/handshake types, each message in one line, or (an `R` or
/// `C` longer than the line limit: SMS between phone numbers) in `?S1P` pieces of one.
pub(super) fn assert_handshake_lines(p: &Pair, marks: ((usize, usize), (usize, usize))) {
    let sent: Vec<String> = match p.proto {
        Proto::Irc => {
            let a = irc_sotto_lines(&p.alice.tap.since(marks.0, Dir::Up));
            let b = irc_sotto_lines(&p.bob.tap.since(marks.1, Dir::Up));
            for l in a.iter().chain(b.iter()) {
                assert!(
                    "QIRC".contains(l.kind),
                    "a handshake message was fragmented or is not a handshake type ({}): {}",
                    l.kind,
                    l.raw
                );
                assert!(
                    l.raw.len() + 2 <= 512,
                    "IRC line over 512 bytes: {} bytes",
                    l.raw.len() + 2
                );
            }
            assert_irc_relayed_intact(&p.alice.tap, marks.0, &p.bob.tap, marks.1);
            assert_irc_relayed_intact(&p.bob.tap, marks.1, &p.alice.tap, marks.0);
            a.into_iter().chain(b).map(|l| l.payload).collect()
        }
        Proto::Xmpp | Proto::Loop(_) | Proto::Sip(_) => {
            let a = sotto_lines(p.proto, &p.alice.tap.since(marks.0, Dir::Up));
            let b = sotto_lines(p.proto, &p.bob.tap.since(marks.1, Dir::Up));
            for body in a.iter().chain(b.iter()) {
                let kind = body[3..].chars().next().unwrap_or('?');
                if kind == 'P' {
                    // A first piece (index 0) names what it is a piece of.
                    assert!(
                        body.get(8..10) != Some("AA")
                            || body.get(12..16).is_some_and(|t| t == "?S1R" || t == "?S1C"),
                        "a piece of something else than R or C during the handshake: {body}"
                    );
                    continue;
                }
                assert!(
                    "QIRC".contains(kind),
                    "unexpected message type {kind} during the handshake: {body}"
                );
            }
            a.into_iter().chain(b).collect()
        }
    };
    // A line in pieces counts once, as what its first piece carries.
    let kinds: String = sent
        .iter()
        .filter_map(|s| match s.get(3..4) {
            Some("P") if s.get(8..10) == Some("AA") => s.get(15..16),
            Some("P") => None,
            kind => kind,
        })
        .collect();
    assert!(
        kinds.contains('I') && kinds.contains('R'),
        "no I/R handshake messages seen on the wire: {kinds:?}"
    );
    let sizes: Vec<usize> = sent.iter().map(String::len).collect();
    eprintln!(
        "[rig] {:?}: handshake on the wire: types {kinds}, sizes {sizes:?}",
        p.proto
    );
}

/// Every Sotto line the sender's client gave the IRC server arrived at the receiver's client
/// byte for byte (nothing cut at 512 bytes, nothing re-split).
pub fn assert_irc_relayed_intact(
    sender: &Tap,
    smark: (usize, usize),
    receiver: &Tap,
    rmark: (usize, usize),
) {
    let sent = irc_sotto_lines(&sender.since(smark, Dir::Up));
    let got: Vec<String> = irc_sotto_lines(&receiver.since(rmark, Dir::Down))
        .into_iter()
        .map(|l| l.payload)
        .collect();
    for l in &sent {
        assert!(
            got.contains(&l.payload),
            "a Sotto line alice/bob sent was not relayed intact by the IRC server:\n  sent: {}\n  relayed lines: {}",
            l.raw,
            got.len()
        );
    }
    for l in irc_sotto_lines(&receiver.since(rmark, Dir::Down)) {
        assert!(
            l.raw.len() + 2 <= 512,
            "relayed IRC line over 512 bytes ({}): {}",
            l.raw.len() + 2,
            l.raw
        );
    }
}

/// No distinctive piece of `text` on any tap (raw, and HTML-escaped for the special characters).
pub fn assert_hidden(taps: &[&Tap], text: &str, label: &str) {
    for n in needles(text, 8) {
        assert_not_on_wire(taps, &n, label);
    }
    for special in [
        "<script>",
        "&lt;script&gt;",
        "<b>x</b>",
        "&lt;b&gt;x",
        "日本語",
        "🔐",
        "héllo",
        "h&#233;llo",
    ] {
        if text.contains(special) || (special.starts_with("&lt;") && text.contains('<')) {
            assert_not_on_wire(taps, special, label);
        }
    }
}

/// `from` types `text` to `to` (without Sotto) under the policy `always`: held, said so in the
/// window, and on neither tap.
pub fn held_under_always(from: &mut Peer, to: &Peer, text: &str) {
    from.client.send(&to.address, text);
    from.client
        .expect_system(&to.address, "held under always", WAIT, |t| {
            t.contains("never sends plaintext")
        });
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_hidden(&[&from.tap, &to.tap], text, "under always");
}

/// After a session: every IM between the two on the wire was Sotto text (no plaintext PRIVMSG or
/// `<body>` at all since `marks`).
pub fn assert_only_sotto_since(p: &Pair, marks: ((usize, usize), (usize, usize))) {
    for (who, tap, mark) in [
        ("alice", &p.alice.tap, marks.0),
        ("bob", &p.bob.tap, marks.1),
    ] {
        let up = tap.since(mark, Dir::Up);
        match p.proto {
            Proto::Irc => {
                for line in split_lines(&up) {
                    if let Some(rest) = line.strip_prefix("PRIVMSG ") {
                        let text = rest.split_once(" :").map(|x| x.1).unwrap_or("");
                        assert!(
                            text.starts_with("?S1"),
                            "{who} sent a non-Sotto PRIVMSG while encrypted: {line}"
                        );
                    }
                }
            }
            Proto::Sip(_) => {
                for text in sip_messages(&up) {
                    assert!(
                        text.starts_with("?S1"),
                        "{who} sent a non-Sotto MESSAGE while encrypted: {text}"
                    );
                }
            }
            Proto::Loop(_) => {
                for text in loop_messages(&up) {
                    assert!(
                        text.starts_with("?S1"),
                        "{who} sent a non-Sotto message while encrypted: {text}"
                    );
                }
            }
            Proto::Xmpp => {
                let s = String::from_utf8_lossy(&up);
                let mut rest: &str = &s;
                while let Some(i) = rest.find("<body>") {
                    rest = &rest[i + 6..];
                    assert!(
                        rest.starts_with("?S1"),
                        "{who} sent a non-Sotto <body> while encrypted: {}",
                        &rest[..rest.len().min(80)]
                    );
                }
            }
        }
    }
}

/// No line on either side says something went wrong.
pub fn assert_no_trouble(p: &Pair) {
    for c in [&p.alice.client, &p.bob.client] {
        assert_client_untroubled(c);
    }
}

/// One client: no libpurple CRITICAL, no error line and no system line that says something
/// went wrong (could not, not encrypted, error, failed, not sent) in any window, no `ERROR`
/// reported by the client.
pub fn assert_client_untroubled(c: &Client) {
    c.assert_no_criticals();
    for w in c.writes() {
        let t = w.shown().to_lowercase();
        let bad = w.has(flags::ERROR)
            || (w.has(flags::SYSTEM)
                && ["could not", "not encrypted", "error", "failed", "not sent"]
                    .iter()
                    .any(|word| t.contains(word)));
        assert!(!bad, "[{}] trouble in the conversation: {w:?}", c.cfg.name);
    }
    for l in c.lines() {
        assert!(
            l.tag != "ERROR",
            "[{}] the client reported {:?}",
            c.cfg.name,
            l.fields
        );
    }
}

/// Neither side sent handshake traffic (`?S1Q/I/R/C`) since `marks` (alice's, bob's): the
/// session went on as it was. `after` names the event for the failure message.
pub fn assert_no_handshake_since(p: &Pair, marks: ((usize, usize), (usize, usize)), after: &str) {
    for (who, tap, mark) in [
        ("alice", &p.alice.tap, marks.0),
        ("bob", &p.bob.tap, marks.1),
    ] {
        let kinds: String = sotto_lines(p.proto, &tap.since(mark, Dir::Up))
            .iter()
            .filter_map(|l| l[3..].chars().next())
            .collect();
        assert!(
            !kinds.contains(['Q', 'I', 'R', 'C']),
            "{who} sent handshake traffic after {after} ({kinds}): sessions must go on"
        );
    }
}

/// No two different data messages that either client gave the server share (session id, ratchet
/// key, message number), i.e. a message key and nonce. Returns how many data messages there were.
pub fn assert_no_key_reuse(p: &Pair) -> usize {
    no_key_reuse_in(
        p.proto,
        &[
            ("alice", p.alice.tap.bytes(Dir::Up)),
            ("bob", p.bob.tap.bytes(Dir::Up)),
        ],
    )
}

/// [`assert_no_key_reuse`] over any set of streams (who sent them, what the server received):
/// each stream is read on its own, so give one per connection when a tap carried several.
pub fn no_key_reuse_in(proto: Proto, streams: &[(&str, Vec<u8>)]) -> usize {
    let mut seen: std::collections::HashMap<DataHeader, Vec<u8>> = Default::default();
    let mut count = 0;
    for (who, bytes) in streams {
        for line in reassemble(&sotto_lines(proto, bytes)) {
            let Some((header, ct)) = parse_data(&line) else {
                continue;
            };
            count += 1;
            if let Some(other) = seen.insert(header.clone(), ct.clone()) {
                assert_eq!(
                    other, ct,
                    "{who} sent two different ciphertexts under one message key/nonce: {header:?}"
                );
            }
        }
    }
    eprintln!(
        "[rig] {count} data messages on the wire, {} distinct keys",
        seen.len()
    );
    count
}
