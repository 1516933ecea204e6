//! How long one wire line may be on each protocol (`Conversation::set_max_line`).
//!
//! Wire lines are ASCII (a prefix and base64), so characters and bytes are the same here. A
//! line longer than the limit is cut into `?S1P` fragments (PROTOCOL.md §6), a handshake line
//! too (`?S1R` is 156 characters for the names `alice`/`bob`, 178 for two phone numbers: two
//! pieces on SMS).
//!
//! | protocol | id (and account option) | line | why |
//! |---|---|---|---|
//! | IRC | `prpl-irc` | 160 to 394, from both nicks | libpurple splits a PRIVMSG at `512 - len(target) - 64` bytes, and the relayed line (`:nick!user@host PRIVMSG target :text`) must fit the server's 512 |
//! | XMPP | `prpl-jabber` | 8,000 | stanzas are large (prosody: 256 KiB): one message per line |
//! | SIP over TCP | `prpl-simple` (`udp` off, SIMPLE's default) | 16,000 | libpurple's SIMPLE reads one SIP message per `read()`, so messages that arrive together (a burst of fragments) wait until more bytes come: one line per message instead; Kamailio carries it |
//! | SIP over UDP | `prpl-simple` (`udp` on) | 800 | a MESSAGE should stay near 1,300 bytes (RFC 3428); datagrams arrive one by one |
//! | Discord | `prpl-eionrobb-discord` | 1,990 | purple-discord refuses over 2,000 bytes after escaping markdown (a trailing `_` gains a `\`) |
//! | Telegram | `prpl-telegram`, `telegram-tdlib` | 4,096 | the message limit; telegram-purple splits longer text |
//! | Slack | `prpl-slack` | 4,000 | slack-libpurple's limit |
//! | SMS | `prpl-mm-sms` | 160 | one SMS each (longer lines are split into several, or cost two) |
//! | anything else | | the `fragment_size_default` preference (default [`DEFAULT_UNKNOWN`]) | |
//!
//! Under any of these, a protocol whose plugin refused a line of Sotto's as too large
//! (`-E2BIG`) gets smaller lines from then on ([`Caps`]), while Sotto stays loaded.
//!
//! The IRC figure budgets the sender's user and host, which the client does not know, at their
//! maximum, and keeps a margin. On SIP over TCP a burst Sotto cannot avoid (messages queued
//! during a handshake, sent together) can still stall SIMPLE's reader until the next message.

/// Conservative default for protocols we know nothing about.
pub(crate) const DEFAULT_UNKNOWN: usize = 300;
/// XMPP line size.
pub(crate) const XMPP: usize = 8000;
/// SIP over TCP: one line per message (fragment bursts stall libpurple's SIMPLE reader).
pub(crate) const SIP_TCP: usize = MAX_LINE;
/// SIP over UDP: a MESSAGE request near RFC 3428's 1,300 bytes.
pub(crate) const SIP_UDP: usize = 800;
/// Discord: 2,000 bytes once purple-discord has escaped the line's markdown.
pub(crate) const DISCORD: usize = 1990;
/// Telegram's message limit.
pub(crate) const TELEGRAM: usize = 4096;
/// Slack's message limit.
pub(crate) const SLACK: usize = 4000;
/// One SMS.
pub(crate) const SMS: usize = 160;
/// Smallest line we ever ask the core for (one SMS; IRC's handshake lines fit it whole with
/// nicks of a few characters, and are cut into pieces beyond that).
pub(crate) const MIN_LINE: usize = 160;
/// Largest line for any protocol.
pub(crate) const MAX_LINE: usize = 16_000;

/// The IRC message limit, including `\r\n`.
const IRC_MAX: usize = 512;
/// libpurple's reserve in its PRIVMSG split (`512 - len(target) - 64`).
const LIBPURPLE_IRC_RESERVE: usize = 64;
/// Budget for `user` in the relayed prefix (ngircd accepts idents up to 63; clients send short ones,
/// libpurple the account's username).
const IRC_USER_BUDGET: usize = 20;
/// Budget for `host` in the relayed prefix (a hostname or an IPv6 address).
const IRC_HOST_BUDGET: usize = 64;
/// Extra safety margin.
const IRC_MARGIN: usize = 16;

/// Longest wire line that arrives intact from `own_nick` to `peer_nick` on IRC.
pub(crate) fn irc(own_nick_len: usize, peer_nick_len: usize) -> usize {
    let libpurple = IRC_MAX.saturating_sub(peer_nick_len + LIBPURPLE_IRC_RESERVE);
    // ":" nick "!" user "@" host " PRIVMSG " target " :" ... "\r\n"
    let relayed_overhead = 1
        + own_nick_len
        + 1
        + IRC_USER_BUDGET
        + 1
        + IRC_HOST_BUDGET
        + " PRIVMSG ".len()
        + peer_nick_len
        + " :".len()
        + "\r\n".len();
    let relayed = IRC_MAX.saturating_sub(relayed_overhead);
    libpurple
        .min(relayed)
        .saturating_sub(IRC_MARGIN)
        .max(MIN_LINE)
}

/// Line size for a protocol id (`prpl-irc`, `prpl-jabber`, ...). `default_pref` is the user's
/// `fragment_size_default`; `option` reads one of the account's boolean options (SIMPLE's
/// `udp`).
pub(crate) fn for_protocol(
    protocol: &str,
    own_nick: Option<&str>,
    peer: &str,
    default_pref: i64,
    option: impl Fn(&str) -> bool,
) -> usize {
    match protocol {
        "prpl-irc" => {
            // Without a connection we do not know our nick: assume a long one (30).
            let own = own_nick.map_or(30, str::len);
            irc(own, peer.len())
        }
        "prpl-jabber" => XMPP,
        "prpl-simple" if option("udp") => SIP_UDP,
        "prpl-simple" => SIP_TCP,
        "prpl-eionrobb-discord" => DISCORD,
        "prpl-telegram" | "telegram-tdlib" => TELEGRAM,
        "prpl-slack" => SLACK,
        "prpl-mm-sms" => SMS,
        _ => usize::try_from(default_pref)
            .unwrap_or(DEFAULT_UNKNOWN)
            .clamp(MIN_LINE, MAX_LINE),
    }
}

/// Line sizes learned from protocols that refused a line of Sotto's as too large (their
/// `send_im` returned `-E2BIG`, libpurple's "message is too large"; purple-discord and
/// slack-libpurple do, over their limits), for as long as Sotto stays loaded: each
/// protocol's lines are at most its cap here, whatever the table above or the
/// `fragment_size_default` preference says.
#[derive(Debug, Default)]
pub(crate) struct Caps(std::collections::HashMap<String, usize>);

/// A line of ours that a protocol refused as too large ([`Caps::refused`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The refused line's length.
    pub refused: usize,
    /// The protocol's cap now, when it is below the refused line's length: made again, the
    /// line goes in smaller pieces. `None` when the line was already at the smallest size
    /// Sotto makes ([`MIN_LINE`]): nothing smaller can be tried.
    pub cut_to: Option<usize>,
}

impl Caps {
    /// `protocol`'s cap, if it ever refused a line.
    pub(crate) fn cap(&self, protocol: &str) -> Option<usize> {
        self.0.get(protocol).copied()
    }

    /// `max_line` for `protocol`, under its cap.
    pub(crate) fn apply(&self, protocol: &str, max_line: usize) -> usize {
        self.cap(protocol).map_or(max_line, |cap| max_line.min(cap))
    }

    /// `protocol` refused a line of `len` characters as too large: its lines are cut to two
    /// thirds of that from now on (a few refusals reach any limit from 16,000), never below
    /// [`MIN_LINE`]. A line longer than the cap was made before it: it lowers nothing.
    pub(crate) fn refused(&mut self, protocol: &str, len: usize) -> Refusal {
        let cap = self.cap(protocol);
        if cap.is_none_or(|cap| len <= cap) {
            let to = (len.saturating_mul(2) / 3).max(MIN_LINE);
            self.0
                .insert(protocol.to_owned(), cap.map_or(to, |cap| cap.min(to)));
        }
        Refusal {
            refused: len,
            cut_to: self.cap(protocol).filter(|&cap| cap < len),
        }
    }
}

/// The lines to send in place of `lines[at]`, which the protocol refused as too large, cut to
/// at most `cut` characters: the line itself in `?S1P` pieces; or, for the first piece of a
/// line cut before, that line put together again from its pieces (all of them there, in order,
/// from `at` on) and cut again under a new piece id. The receiver puts pieces back together
/// into the very line (PROTOCOL.md §6): its message number, keys and text are the same, so
/// nothing else changes. With how many of `lines` they stand for. `None` when it cannot be cut
/// smaller: a later piece (earlier ones left already), pieces not all in `lines`, a line not
/// longer than `cut` already, or more pieces than a line may have.
pub(crate) fn recut(
    lines: &[String],
    at: usize,
    cut: usize,
    rng: &mut impl rand_core::CryptoRngCore,
) -> Option<(Vec<String>, usize)> {
    use crate::protocol::wire::WireMessage;
    let refused = lines.get(at)?;
    if cut >= refused.len() {
        return None;
    }
    let (whole, stands_for) = match WireMessage::decode(refused) {
        Ok(WireMessage::Fragment(first)) => {
            if first.index != 0 {
                return None;
            }
            let total = usize::from(first.total);
            let mut whole = String::new();
            for (k, line) in lines.get(at..at.checked_add(total)?)?.iter().enumerate() {
                match WireMessage::decode(line) {
                    Ok(WireMessage::Fragment(piece))
                        if piece.id == first.id
                            && usize::from(piece.index) == k
                            && piece.total == first.total =>
                    {
                        whole.push_str(&piece.chunk);
                    }
                    _ => return None,
                }
            }
            (whole, total)
        }
        _ => (refused.clone(), 1),
    };
    let pieces: Vec<String> = crate::protocol::fragment::split(whole, cut, rng)
        .ok()?
        .into_iter()
        .collect();
    (pieces.len() > 1).then_some((pieces, stands_for))
}

/// How many lines from `lines[at]` on are the pieces of one line, when it is a line's first
/// piece (those of its pieces that follow it, in order); else 1.
pub(crate) fn piece_group_len(lines: &[String], at: usize) -> usize {
    use crate::protocol::wire::WireMessage;
    let first = match lines.get(at).map(|l| WireMessage::decode(l)) {
        Some(Ok(WireMessage::Fragment(f))) if f.index == 0 => f,
        _ => return 1,
    };
    let rest = lines[at + 1..]
        .iter()
        .take(usize::from(first.total).saturating_sub(1))
        .take_while(
            |l| matches!(WireMessage::decode(l), Ok(WireMessage::Fragment(p)) if p.id == first.id),
        )
        .count();
    1 + rest
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The line `pieces` put back together (one line each in order), as the receiver does.
    fn joined(pieces: &[String]) -> String {
        use crate::protocol::wire::WireMessage;
        let mut id = None;
        pieces
            .iter()
            .enumerate()
            .map(|(k, p)| match WireMessage::decode(p) {
                Ok(WireMessage::Fragment(f)) => {
                    assert_eq!(usize::from(f.index), k);
                    assert_eq!(usize::from(f.total), pieces.len());
                    assert_eq!(*id.get_or_insert(f.id), f.id, "one id");
                    f.chunk
                }
                other => panic!("not a piece: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_refused_line_is_cut_again_into_pieces_that_make_the_same_line() {
        use rand_core::SeedableRng;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let line = format!("?S1D{}", "A".repeat(296));
        let other = "?S1Eother".to_string();
        // A whole line: its pieces, each at most the cut, make the line again.
        let lines = vec![other.clone(), line.clone(), other.clone()];
        let (pieces, stands_for) = recut(&lines, 1, 200, &mut rng).expect("cut");
        assert_eq!(stands_for, 1);
        assert!(pieces.len() == 2 && pieces.iter().all(|p| p.len() <= 200));
        assert_eq!(joined(&pieces), line);
        // The first piece of a line cut before: all its pieces put together, cut smaller,
        // under a new id; what follows them is left.
        let mut lines = vec![other.clone()];
        lines.extend(pieces.iter().cloned());
        lines.push(other.clone());
        let (again, stands_for) = recut(&lines, 1, MIN_LINE, &mut rng).expect("cut again");
        assert_eq!(stands_for, 2);
        assert!(again.len() == 3 && again.iter().all(|p| p.len() <= MIN_LINE));
        assert_eq!(joined(&again), line);
        assert_ne!(again[0][4..8], pieces[0][4..8], "a new piece id");
        // Not cut: a later piece (the first left already), pieces not all there, a cut not
        // below the line's length, and any line that is not one of Sotto's is still cut.
        assert_eq!(recut(&lines, 2, MIN_LINE, &mut rng), None);
        assert_eq!(recut(&lines[..2], 1, MIN_LINE, &mut rng), None);
        assert_eq!(
            recut(&lines, 0, MIN_LINE, &mut rng),
            None,
            "?S1Eother is short"
        );
        assert_eq!(
            recut(std::slice::from_ref(&line), 0, line.len(), &mut rng),
            None
        );
        // A group's length from its first piece: its pieces that follow, in order.
        assert_eq!(piece_group_len(&lines, 1), 2);
        assert_eq!(piece_group_len(&lines, 2), 1, "a later piece");
        assert_eq!(piece_group_len(&lines, 0), 1, "not a piece");
        assert_eq!(piece_group_len(&lines[..2], 1), 1, "the rest not there");
        assert_eq!(recut(&[line], 5, MIN_LINE, &mut rng), None);
    }

    #[test]
    fn a_refused_line_lowers_its_protocols_cap_until_the_smallest_line() {
        let mut caps = Caps::default();
        assert_eq!(caps.apply("prpl-x", 300), 300);
        let r = caps.refused("prpl-x", 300);
        assert_eq!(r.cut_to, Some(200));
        assert_eq!(caps.apply("prpl-x", 300), 200);
        assert_eq!(caps.apply("prpl-x", 120), 120, "a cap never raises a size");
        assert_eq!(
            caps.apply("prpl-y", 300),
            300,
            "other protocols keep theirs"
        );
        // A longer line refused later (made before the cap) keeps the cap, and is made again
        // under it.
        assert_eq!(caps.refused("prpl-x", 290).cut_to, Some(200));
        assert_eq!(caps.apply("prpl-x", 300), 200);
        assert_eq!(caps.refused("prpl-x", 200).cut_to, Some(MIN_LINE));
        assert_eq!(caps.apply("prpl-x", 300), MIN_LINE);
        // At the smallest line there is nothing smaller to try.
        assert_eq!(caps.refused("prpl-x", MIN_LINE).cut_to, None);
        assert_eq!(caps.refused("prpl-x", 100).cut_to, None);
        assert_eq!(caps.apply("prpl-x", 300), MIN_LINE);
        // From the largest line, a handful of refusals reach the smallest.
        let mut caps = Caps::default();
        let mut len = MAX_LINE;
        let mut steps = 0;
        while let Some(to) = caps.refused("prpl-z", len).cut_to {
            len = to;
            steps += 1;
        }
        assert_eq!(len, MIN_LINE);
        assert!(steps <= 12, "{steps} refusals from {MAX_LINE}");
    }

    #[test]
    fn irc_fits_both_limits_with_long_nicks() {
        let line = irc(30, 30);
        // ngircd's relayed line: prefix + line + CRLF <= 512 with the largest user/host we budget.
        let relayed = 1 + 30 + 1 + 20 + 1 + 64 + 9 + 30 + 2 + line + 2;
        assert!(relayed <= 512, "relayed {relayed}");
        // libpurple's split.
        assert!(line <= 512 - 30 - 64);
        assert_eq!(line, 336);
    }

    #[test]
    fn irc_short_nicks_get_more_room() {
        assert!(irc(5, 5) > irc(30, 30));
        assert_eq!(irc(5, 5), 386);
        // The most any pair of nicks gets (PROTOCOL.md §6 states the range).
        assert_eq!(irc(1, 1), 394);
    }

    #[test]
    fn irc_never_below_minimum() {
        assert_eq!(irc(400, 400), MIN_LINE);
    }

    #[test]
    fn per_protocol() {
        let no = |_: &str| false;
        assert_eq!(for_protocol("prpl-jabber", None, "bob@x", 300, no), XMPP);
        assert_eq!(for_protocol("prpl-foo", None, "bob", 300, no), 300);
        assert_eq!(for_protocol("prpl-foo", None, "bob", 10, no), MIN_LINE);
        assert_eq!(
            for_protocol("prpl-foo", None, "bob", -5, no),
            DEFAULT_UNKNOWN
        );
        assert_eq!(
            for_protocol("prpl-irc", Some("alice"), "bob", 300, no),
            irc(5, 3)
        );
    }

    #[test]
    fn sip_depends_on_the_transport() {
        let udp = |k: &str| k == "udp";
        assert_eq!(
            for_protocol("prpl-simple", None, "sip:bob@h", 300, |_| false),
            16_000
        );
        assert_eq!(
            for_protocol("prpl-simple", None, "sip:bob@h", 300, udp),
            800
        );
    }

    #[test]
    fn third_party_plugins() {
        let no = |_: &str| false;
        for (id, line) in [
            ("prpl-eionrobb-discord", 1990),
            ("prpl-telegram", 4096),
            ("telegram-tdlib", 4096),
            ("prpl-slack", 4000),
            ("prpl-mm-sms", 160),
        ] {
            assert_eq!(for_protocol(id, None, "bob", 300, no), line, "{id}");
            assert!((MIN_LINE..=MAX_LINE).contains(&line));
        }
    }
}
