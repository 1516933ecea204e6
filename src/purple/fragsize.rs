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

#[cfg(test)]
mod tests {
    use super::*;

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
