//! How long one wire line may be on each protocol (`Conversation::set_max_line`).
//!
//! Wire lines are ASCII (a prefix and base64), so characters and bytes are the same here.
//!
//! * IRC: two limits apply. libpurple's IRC prpl splits a PRIVMSG argument at
//!   `512 - len(target) - 64` bytes. The server relays the line to the peer as
//!   `:nick!user@host PRIVMSG target :text\r\n`, which must fit 512 bytes (ngircd cuts longer
//!   lines), so the sender's nick, user and host count too. User and host are not known to the
//!   client, so we budget their maximum and keep a margin.
//! * XMPP: stanzas are large (prosody's default limit is 256 KiB); 8,000 keeps one message per line.
//! * Anything else: the `fragment_size_default` preference (default [`DEFAULT_UNKNOWN`]).

/// Conservative default for protocols we know nothing about.
pub(crate) const DEFAULT_UNKNOWN: usize = 300;
/// XMPP line size.
pub(crate) const XMPP: usize = 8000;
/// Smallest line we ever ask the core for (a handshake message must fit one line).
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
/// `fragment_size_default`.
pub(crate) fn for_protocol(
    protocol: &str,
    own_nick: Option<&str>,
    peer: &str,
    default_pref: i64,
) -> usize {
    match protocol {
        "prpl-irc" => {
            // Without a connection we do not know our nick: assume a long one (30).
            let own = own_nick.map_or(30, str::len);
            irc(own, peer.len())
        }
        "prpl-jabber" => XMPP,
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
    }

    #[test]
    fn irc_never_below_minimum() {
        assert_eq!(irc(400, 400), MIN_LINE);
    }

    #[test]
    fn per_protocol() {
        assert_eq!(for_protocol("prpl-jabber", None, "bob@x", 300), XMPP);
        assert_eq!(for_protocol("prpl-foo", None, "bob", 300), 300);
        assert_eq!(for_protocol("prpl-foo", None, "bob", 10), MIN_LINE);
        assert_eq!(for_protocol("prpl-foo", None, "bob", -5), DEFAULT_UNKNOWN);
        assert_eq!(
            for_protocol("prpl-irc", Some("alice"), "bob", 300),
            irc(5, 3)
        );
    }
}
