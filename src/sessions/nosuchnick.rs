//! IRC's answer to a line for a nick that is not on the server: numeric 401, `ERR_NOSUCHNICK`
//! (RFC 2812 §5.2), one for each `PRIVMSG` the server could not deliver. libpurple's IRC
//! protocol writes "User is not logged in" for each (`irc_msg_nonick`), so a long message cut
//! into eight `?S1P` pieces got eight such lines, while the window still showed the text as
//! sent. This module decides which of our lines a 401 answers, without libpurple; the plugin
//! layer turns the answer into one "NOT delivered" line with the text given back, the way an
//! XMPP error bounce is told.
//!
//! * **What is kept.** Every line the IRC connection writes (the protocol's
//!   `irc-sending-text`, emitted as a line leaves libpurple's rate-limited queue) that a 401
//!   can answer and that names a nick: `PRIVMSG`, `NOTICE`, `WHOIS`, `INVITE`, `KILL` (never
//!   `ISON`, which libpurple polls with and which no server answers with a 401; never a
//!   channel). Each is kept for [`ANSWER_SECS`] with its nick as libpurple names it (the
//!   caller's `name`: libpurple's normalization, which names the nick's window) and under
//!   RFC 1459's case mapping ([`irc_fold`]), and what it was: a data line of ours (`?S1D`, or a
//!   piece `?S1P` of one), a handshake line or query (`?S1Q`/`?S1I`/`?S1R`/`?S1C`), or
//!   anything else. Lines only, never text: the text comes from the conversation's own memory
//!   of what it sent.
//! * **Which line a 401 answers.** A server answers in the order it reads, and a successful
//!   `PRIVMSG` gets no answer at all, so the lines a nick that left missed are the *last* ones
//!   sent to it. A 401 is taken for the newest line to that nick not yet answered: with a
//!   message delivered before the nick left and a long one after, every 401 falls on the long
//!   one's pieces, never on the delivered message. A line sent after the server wrote its 401,
//!   before the 401 arrived, is named one answer early: it goes to the same missing nick, and
//!   its own 401 follows (unless the nick came back in that moment: then a line is said not
//!   delivered that was).
//! * **Which nick.** The nick as libpurple names it first (it writes its own line for the 401
//!   into that nick's window): a server that does not fold `[` into `{` (ngircd) has `bob[`
//!   and `bob{` as two nicks, and a 401 for `bob{` must never fall on a line to `bob[` who is
//!   there. Only when no line to that name waits does RFC 1459's mapping find one (a server
//!   that folds may name the nick as it knows it).
//! * **Told once.** A message is told once however many of its pieces come back, and a start
//!   once per [`START_TOLD_SECS`]: `tell` in [`NoSuchNick`] says none was told yet, and the
//!   caller says when it wrote its line ([`SentToNicks::told`]). A line not written (nothing
//!   to say, or too soon after another) is not told: the next 401 for the same message is
//!   `tell` again, and libpurple's own line for the 401 stands. A 401 whose line is not ours
//!   (a plaintext message, a `WHOIS`), or that names a nick nothing was sent to lately, is
//!   `None`: libpurple's own handling stands. So is a start line the caller finds was no start
//!   asked for here (an answer to the contact's own start or query): only the caller knows the
//!   conversation.
//!
//! The server's word is all a 401 is: a hostile server can name any nick. It can at most take
//! each line sent to a nick in the last [`ANSWER_SECS`] as answered, once, so it makes at most
//! one line per message we sent there, with the text of a message really sent to that nick. It
//! could as well have dropped the message. Nothing here touches a session.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use sotto::sessions::nosuchnick::{no_such_nick, NoSuchNick, SentToNicks};
//!
//! // How libpurple names an IRC nick (its normalization: lower case).
//! let name = |nick: &str| nick.to_lowercase();
//! let mut sent = SentToNicks::default();
//! let t0 = Instant::now();
//! sent.sent("alice", "PRIVMSG bob :?S1DAAAAAAAAAAAAAAAAAAAAAAAA\r\n", t0, name);
//! let answer = ":irc.example 401 alice Bob :No such nick or channel name";
//! let nick = no_such_nick(answer).unwrap();
//! let later = t0 + Duration::from_millis(300);
//! let told = sent.answered("alice", nick, later, name).unwrap();
//! assert_eq!(
//!     told,
//!     NoSuchNick::Message {
//!         to: "bob".into(),
//!         name: "bob".into(),
//!         line: "?S1DAAAAAAAAAAAAAAAAAAAAAAAA".into(),
//!         tell: true,
//!     }
//! );
//! // The caller wrote its line for it.
//! sent.told("alice", &told, later);
//! // Every line to bob is answered now: a second 401 is libpurple's.
//! assert_eq!(sent.answered("alice", nick, later, name), None);
//! ```

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::protocol::session::HANDSHAKE_TIMEOUT_SECS;
use crate::protocol::wire::WireMessage;

/// How long a line sent stays one a 401 may answer. A server answers a `PRIVMSG` as soon as
/// it reads it; ngircd's own throttling of a burst of pieces delays that by seconds, not
/// minutes (the time is taken as the line leaves libpurple's queue, so libpurple's rate limiter
/// does not count).
pub const ANSWER_SECS: u64 = 60;
/// Lines kept per account (the oldest go first).
pub const LINES_KEPT: usize = 512;
/// Messages remembered as told, per account.
pub const TOLD_KEPT: usize = 64;
/// At most one "start NOT delivered" line per nick in this time: a start is told once, and a
/// start that lapses unanswered (after [`HANDSHAKE_TIMEOUT_SECS`]) and is tried again is told
/// again.
pub const START_TOLD_SECS: u64 = HANDSHAKE_TIMEOUT_SECS;

/// A 401 that answers one of our lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoSuchNick {
    /// A data line of ours (`?S1D`, or a piece `?S1P`): its message did not reach `to` (the
    /// nick as the line was sent to it). `line` names the message: the line itself, or its
    /// first piece as sent (the piece itself when the first is no longer kept). `tell`: no
    /// line was told for that message yet ([`SentToNicks::told`]); each of its other pieces'
    /// 401 is `false` once one was.
    Message {
        /// The nick as the line was addressed.
        to: String,
        /// `to` as libpurple names it (the caller's `name`): its window's name.
        name: String,
        /// The line that names the message.
        line: String,
        /// Whether no line was told for the message yet.
        tell: bool,
    },
    /// A handshake line or query (`?S1Q`/`?S1I`/`?S1R`/`?S1C`): a start, if it was one
    /// asked for here (the caller checks: an answer to the contact's own start is not), did
    /// not reach `to`. `tell`: no start to that nick was told in the last
    /// [`START_TOLD_SECS`] ([`SentToNicks::told`]).
    Start {
        /// The nick as the line was addressed.
        to: String,
        /// `to` as libpurple names it (the caller's `name`): its window's name.
        name: String,
        /// Whether no start to the nick was told lately.
        tell: bool,
    },
}

/// A nick under IRC's RFC 1459 case mapping, which most servers follow (ngircd does not):
/// `[`, `]`, `\`, `~` are the capitals of `{`, `}`, `|`, `^`. libpurple names an IRC contact by
/// its nick in ASCII lower case only.
pub fn irc_fold(nick: &str) -> String {
    nick.chars()
        .map(|c| match c {
            '[' => '{',
            ']' => '}',
            '\\' => '|',
            '~' => '^',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Why an IRC server says it did not deliver a line to a nick ([`not_delivered`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 401, `ERR_NOSUCHNICK`: the nick is not on the server.
    NoSuchNick,
    /// 486, `ERR_NONONREG` (Solanum, Charybdis, UnrealIRCd): the nick takes private messages
    /// only from users identified to services (user mode `+R`), which we are not.
    IdentifiedOnly,
    /// 531, `ERR_CANTSENDTOUSER` (InspIRCd, UnrealIRCd): the server does not let us send
    /// private messages to that user (its modes, or ours).
    CannotSendToUser,
    /// 716, `ERR_TARGUMODEG` (Solanum, Charybdis, Hybrid): the nick is in caller-id mode
    /// (`+g`) and has not accepted us; the message was dropped.
    CallerId,
    /// 477, `ERR_NEEDREGGEDNICK`, for a nick (InspIRCd's user mode `+R`): as 486, the nick
    /// takes private messages only from users identified to services. (For a channel, 477 is
    /// a join refused; no line of ours goes to a channel, so none is matched.)
    RegisteredOnly,
    /// 439, `ERR_TARGETTOOFAST` (ircu, Bahamut), or 707, `ERR_TARGCHANGE` (Solanum, Charybdis,
    /// ratbox): we wrote to too many different nicks in a short time; the message was dropped.
    TargetChangeTooFast,
}

/// The nick a server line says a line of ours did not reach (`:server 401 me nick :No such
/// nick`, or 486, 531, 716, 477, 439, 707 in the same shape), as the line spells it, and why; `None` for any
/// other line. Only the form libpurple's own parser takes (a prefix first, no IRCv3 tags), so
/// that the answer and libpurple's line go together. Each of them means the line was dropped:
/// a contact (or its server) that refuses it must not leave our message shown as sent, with
/// nothing on the contact's side to ask for it again.
pub fn not_delivered(line: &str) -> Option<(&str, Refusal)> {
    let line = line.trim_end_matches(['\r', '\n']);
    let rest = line.strip_prefix(':')?;
    let mut words = rest.split(' ').filter(|w| !w.is_empty());
    let (_prefix, command, _me, nick) =
        (words.next()?, words.next()?, words.next()?, words.next()?);
    let why = match command {
        "401" => Refusal::NoSuchNick,
        "486" => Refusal::IdentifiedOnly,
        "531" => Refusal::CannotSendToUser,
        "716" => Refusal::CallerId,
        "477" => Refusal::RegisteredOnly,
        "439" | "707" => Refusal::TargetChangeTooFast,
        _ => return None,
    };
    (!nick.starts_with(':')).then_some((nick, why))
}

/// The nick a server line says is not on the server (a 401: [`not_delivered`]).
pub fn no_such_nick(line: &str) -> Option<&str> {
    not_delivered(line)
        .filter(|(_, why)| *why == Refusal::NoSuchNick)
        .map(|(nick, _)| nick)
}

/// Whether `target` names a channel (RFC 2812's prefixes): no 401 to match there.
fn is_channel(target: &str) -> bool {
    target.starts_with(['#', '&', '+', '!'])
}

/// The nicks a line the client sends may be answered with a 401 for, and the text it carries
/// (`PRIVMSG` and `NOTICE` only).
pub(crate) fn addressed(raw: &str) -> Option<(Vec<&str>, Option<&str>)> {
    let line = raw.trim_end_matches(['\r', '\n']);
    let (head, text) = match line.split_once(" :") {
        Some((head, text)) => (head, Some(text)),
        None => (line, None),
    };
    let mut words = head.split(' ').filter(|w| !w.is_empty());
    let command = words.next()?.to_ascii_uppercase();
    let params: Vec<&str> = words.collect();
    let targets = match command.as_str() {
        "PRIVMSG" | "NOTICE" => params.first()?,
        // `WHOIS [server] nicks`, as libpurple writes it.
        "WHOIS" => params.last()?,
        "INVITE" | "KILL" => params.first()?,
        _ => return None,
    };
    let nicks = targets
        .split(',')
        .filter(|t| !t.is_empty() && !is_channel(t))
        .collect();
    let text = matches!(command.as_str(), "PRIVMSG" | "NOTICE")
        .then_some(text)
        .flatten();
    Some((nicks, text))
}

/// Which message a data line belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
enum MessageId {
    /// The pieces with this fragment id.
    Pieces(u32),
    /// This whole line.
    Whole(String),
}

/// What a kept line was.
#[derive(Clone, Debug)]
enum Kind {
    /// A data line of ours: which message, and the line that names it (the same for each of
    /// its pieces).
    Message { id: MessageId, names: String },
    /// A handshake line or query of ours.
    Start,
    /// Anything else a 401 may answer.
    Other,
}

/// One line sent to a nick.
struct Sent {
    /// The nick as libpurple names it (the caller's `name`).
    name: String,
    /// The nick, folded ([`irc_fold`]).
    nick: String,
    /// The nick as the line spelled it.
    to: String,
    at: Instant,
    kind: Kind,
    /// A 401 was taken for it.
    answered: bool,
}

/// What is kept for one account's connection.
#[derive(Default)]
struct Account {
    lines: VecDeque<Sent>,
    /// Messages told, by the nick's name and the line that names the message (the newest
    /// [`TOLD_KEPT`]).
    told: VecDeque<(String, String)>,
    /// When a start to each nick (by name) was last told.
    starts_told: HashMap<String, Instant>,
}

impl Account {
    /// What `text`, sent to the nick named `name`, is.
    fn kind(&self, name: &str, text: Option<&str>) -> Kind {
        let Some(line) = text.map(str::trim) else {
            return Kind::Other;
        };
        match line.as_bytes().get(..4) {
            Some([b'?', b'S', b'1', b'Q' | b'I' | b'R' | b'C']) => Kind::Start,
            Some(b"?S1D") => Kind::Message {
                id: MessageId::Whole(line.to_owned()),
                names: line.to_owned(),
            },
            Some(b"?S1P") => match WireMessage::decode(line) {
                Ok(WireMessage::Fragment(f)) => {
                    let id = MessageId::Pieces(f.id);
                    // The first piece left before the others (libpurple's queue keeps order).
                    let first = (f.index > 0)
                        .then(|| {
                            self.lines.iter().rev().find_map(|s| match &s.kind {
                                Kind::Message { id: i, names } if s.name == name && *i == id => {
                                    Some(names.clone())
                                }
                                _ => None,
                            })
                        })
                        .flatten();
                    Kind::Message {
                        id,
                        names: first.unwrap_or_else(|| line.to_owned()),
                    }
                }
                _ => Kind::Other,
            },
            _ => Kind::Other,
        }
    }

    /// Drops the lines no 401 may answer any more (sent more than [`ANSWER_SECS`] before
    /// `now`; they are in the order sent), and starts told long enough ago to be told again.
    fn forget_old(&mut self, now: Instant) {
        let window = Duration::from_secs(ANSWER_SECS);
        while self
            .lines
            .front()
            .is_some_and(|s| now.saturating_duration_since(s.at) > window)
        {
            self.lines.pop_front();
        }
        let quiet = Duration::from_secs(START_TOLD_SECS);
        self.starts_told
            .retain(|_, at| now.saturating_duration_since(*at) < quiet);
    }

    /// The newest line not yet answered whose nick is `nick`: first by libpurple's `name`,
    /// else by RFC 1459's mapping (see the module docs).
    fn newest_unanswered(&mut self, name: &str, nick: &str) -> Option<&mut Sent> {
        let at = self
            .lines
            .iter()
            .rposition(|s| !s.answered && s.name == name)
            .or_else(|| {
                let folded = irc_fold(nick);
                self.lines
                    .iter()
                    .rposition(|s| !s.answered && s.nick == folded)
            })?;
        self.lines.get_mut(at)
    }
}

/// The lines each IRC account sent lately that a 401 may answer (see the module docs).
#[derive(Default)]
pub struct SentToNicks {
    /// By account (the caller's key: protocol and normalized username).
    accounts: HashMap<String, Account>,
}

impl SentToNicks {
    /// The account `account`'s connection wrote the raw line `raw` at `now`. `name` is how
    /// libpurple names a nick on that account (its normalization).
    pub fn sent(&mut self, account: &str, raw: &str, now: Instant, name: impl Fn(&str) -> String) {
        let Some((nicks, text)) = addressed(raw) else {
            return;
        };
        if nicks.is_empty() {
            return;
        }
        let acct = self.accounts.entry(account.to_owned()).or_default();
        acct.forget_old(now);
        for to in nicks {
            let name = name(to);
            let kind = acct.kind(&name, text);
            if acct.lines.len() >= LINES_KEPT {
                acct.lines.pop_front();
            }
            acct.lines.push_back(Sent {
                name,
                nick: irc_fold(to),
                to: to.to_owned(),
                at: now,
                kind,
                answered: false,
            });
        }
    }

    /// The server of `account` says `nick` is not on it (a 401, at `now`): which line of ours
    /// that answers, if one does (see the module docs); `name` as for [`Self::sent`]. The
    /// line is taken as answered either way; nothing is recorded as told ([`Self::told`]).
    pub fn answered(
        &mut self,
        account: &str,
        nick: &str,
        now: Instant,
        name: impl Fn(&str) -> String,
    ) -> Option<NoSuchNick> {
        let acct = self.accounts.get_mut(account)?;
        acct.forget_old(now);
        let sent = acct.newest_unanswered(&name(nick), nick)?;
        sent.answered = true;
        let (to, name, kind) = (sent.to.clone(), sent.name.clone(), sent.kind.clone());
        match kind {
            Kind::Other => None,
            Kind::Start => Some(NoSuchNick::Start {
                tell: !acct.starts_told.contains_key(&name),
                to,
                name,
            }),
            Kind::Message { names, .. } => Some(NoSuchNick::Message {
                tell: !acct.told.iter().any(|(n, l)| *n == name && *l == names),
                to,
                name,
                line: names,
            }),
        }
    }

    /// The caller wrote its line for `answer` (from [`Self::answered`] on `account`, at
    /// `now`): the message's other 401s, and a start's for [`START_TOLD_SECS`], are not
    /// `tell`.
    pub fn told(&mut self, account: &str, answer: &NoSuchNick, now: Instant) {
        let acct = self.accounts.entry(account.to_owned()).or_default();
        match answer {
            NoSuchNick::Start { name, .. } => {
                acct.starts_told.insert(name.clone(), now);
            }
            NoSuchNick::Message { name, line, .. } => {
                let told = (name.clone(), line.clone());
                if !acct.told.contains(&told) {
                    if acct.told.len() >= TOLD_KEPT {
                        acct.told.pop_front();
                    }
                    acct.told.push_back(told);
                }
            }
        }
    }

    /// The account's connection went or came back: no 401 answers a line sent before.
    pub fn forget_account(&mut self, account: &str) {
        self.accounts.remove(account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::Fragment;

    const ME: &str = "alice";

    fn privmsg(to: &str, text: &str) -> String {
        format!("PRIVMSG {to} :{text}\r\n")
    }

    fn nosuch(nick: &str) -> String {
        format!(":irc.example 401 {ME} {nick} :No such nick or channel name")
    }

    /// A data line (its body need not decode: only its kind is read).
    fn data(n: u32) -> String {
        format!("?S1DAAAA{n:020}")
    }

    /// The `total` pieces of one long line, fragment id `id`.
    fn pieces(id: u32, total: u16) -> Vec<String> {
        (0..total)
            .map(|index| {
                WireMessage::Fragment(Fragment {
                    id,
                    index,
                    total,
                    chunk: format!("chunk{index}AAAAAAAAAAAAAAAA"),
                })
                .encode()
            })
            .collect()
    }

    /// How libpurple names a nick: `purple_normalize_nocase`, prpl-irc's normalization in
    /// 2.14 (`g_utf8_strdown`, then `g_utf8_normalize`), for the nicks here.
    fn lower(nick: &str) -> String {
        nick.to_lowercase()
    }

    impl SentToNicks {
        fn send(&mut self, account: &str, raw: &str, now: Instant) {
            self.sent(account, raw, now, lower);
        }
    }

    /// Each 401 for `nick` at `at`, `n` times, the caller writing its line for each it is to
    /// tell (as the plugin does when it has something to say).
    fn answers(s: &mut SentToNicks, nick: &str, n: usize, at: Instant) -> Vec<Option<NoSuchNick>> {
        (0..n)
            .map(|_| {
                let answer = s.answered(ME, no_such_nick(&nosuch(nick)).unwrap(), at, lower);
                if let Some(
                    a @ (NoSuchNick::Message { tell: true, .. }
                    | NoSuchNick::Start { tell: true, .. }),
                ) = &answer
                {
                    s.told(ME, a, at);
                }
                answer
            })
            .collect()
    }

    fn message(to: &str, line: &str, tell: bool) -> Option<NoSuchNick> {
        Some(NoSuchNick::Message {
            to: to.into(),
            name: lower(to),
            line: line.into(),
            tell,
        })
    }

    fn start(to: &str, tell: bool) -> Option<NoSuchNick> {
        Some(NoSuchNick::Start {
            to: to.into(),
            name: lower(to),
            tell,
        })
    }

    /// Numerics that drop a private message for other reasons than a missing nick are told
    /// too (found by a read-only audit: a contact's `+R` on Libera left every line of ours
    /// shown as sent, with one raw `486:` line per piece); not a channel's 404, nor 301.
    #[test]
    fn refusals_other_than_401_name_their_nick_and_why() {
        for (line, why) in [
            (
                ":srv 486 alice bob :You must log in with services to message this user",
                Refusal::IdentifiedOnly,
            ),
            (
                ":srv 531 alice bob :You are not permitted to send private messages to this user",
                Refusal::CannotSendToUser,
            ),
            (
                ":srv 716 alice bob :is in +g mode (server-side ignore).",
                Refusal::CallerId,
            ),
            (
                ":srv 477 alice bob :You need to be identified to a registered account to \
                 message this user",
                Refusal::RegisteredOnly,
            ),
            (
                ":srv 439 alice bob :Target change too fast. Please wait 104 seconds.",
                Refusal::TargetChangeTooFast,
            ),
            (
                ":srv 707 alice bob :Targets changing too fast, message dropped",
                Refusal::TargetChangeTooFast,
            ),
            (":srv 401 alice bob :No such nick", Refusal::NoSuchNick),
        ] {
            assert_eq!(not_delivered(line), Some(("bob", why)), "{line}");
        }
        assert_eq!(no_such_nick(":srv 486 alice bob :identify first"), None);
        for other in [
            ":srv 404 alice #chan :Cannot send to channel",
            ":srv 438 alice bob :Nick change too fast. Please wait 30 seconds.",
            ":srv 717 alice bob :has been informed that you messaged them.",
            ":srv 486 alice :You must log in",
        ] {
            assert_eq!(not_delivered(other), None, "{other}");
        }
    }

    #[test]
    fn a_401_names_its_nick_and_nothing_else_does() {
        let nick = |l: &str| no_such_nick(l).map(str::to_owned);
        assert_eq!(nick(&nosuch("bob")), Some("bob".into()));
        assert_eq!(
            nick(":irc.example 401 alice Bob[1] :No such nick/channel\r\n"),
            Some("Bob[1]".into())
        );
        // No reason at all is still a 401.
        assert_eq!(nick(":irc.example 401 alice bob"), Some("bob".into()));
        for other in [
            ":irc.example 404 alice #chan :Cannot send to channel",
            ":irc.example 301 alice bob :away",
            ":bob!b@h PRIVMSG alice :401 alice carol",
            ":irc.example 401 alice :No such nick",
            ":irc.example 401 alice",
            // libpurple's parser takes neither as a 401.
            "401 alice bob :No such nick",
            "@time=x :irc.example 401 alice bob :No such nick",
            "",
        ] {
            assert_eq!(nick(other), None, "{other:?}");
        }
    }

    /// The defect: a long message to a nick that left gets a 401 per piece. One line for the
    /// message, named by its first piece; every other piece's 401 is ours too (nothing told).
    #[test]
    fn a_long_message_to_a_missing_nick_is_told_once_by_its_first_piece() {
        let (mut s, t0) = (SentToNicks::default(), Instant::now());
        let lines = pieces(0xabcdef, 8);
        // libpurple's queue lets five go at once, the rest later.
        for l in &lines[..5] {
            s.send(ME, &privmsg("bob", l), t0);
        }
        let mut got = answers(&mut s, "bob", 3, t0 + Duration::from_millis(200));
        for l in &lines[5..] {
            s.send(ME, &privmsg("bob", l), t0 + Duration::from_secs(2));
        }
        got.extend(answers(&mut s, "bob", 5, t0 + Duration::from_secs(3)));
        assert_eq!(got[0], message("bob", &lines[0], true));
        for g in &got[1..] {
            assert_eq!(*g, message("bob", &lines[0], false));
        }
        // A ninth is not about any line of ours.
        assert_eq!(
            answers(&mut s, "bob", 1, t0 + Duration::from_secs(3)),
            [None]
        );
    }

    /// A message delivered before the nick left, then one after: the 401 is the last line's,
    /// never the delivered one's (the server answers only what it could not deliver).
    #[test]
    fn a_401_answers_the_newest_line_never_one_delivered_before() {
        let (mut s, t0) = (SentToNicks::default(), Instant::now());
        s.send(ME, &privmsg("bob", &data(1)), t0);
        s.send(ME, &privmsg("bob", &data(2)), t0 + Duration::from_secs(5));
        assert_eq!(
            answers(&mut s, "bob", 1, t0 + Duration::from_secs(6)),
            [message("bob", &data(2), true)]
        );
    }

    /// Two messages after the nick left: each is told once (the newer first: it was sent
    /// before the older's 401 came back), and no more lines than messages.
    #[test]
    fn each_message_is_told_once() {
        let (mut s, t0) = (SentToNicks::default(), Instant::now());
        let long = pieces(7, 3);
        s.send(ME, &privmsg("bob", &data(1)), t0);
        for l in &long {
            s.send(ME, &privmsg("bob", l), t0);
        }
        let got = answers(&mut s, "bob", 5, t0 + Duration::from_secs(1));
        let told: Vec<_> = got
            .iter()
            .filter_map(|g| match g {
                Some(NoSuchNick::Message {
                    line, tell: true, ..
                }) => Some(line.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(told, [long[0].clone(), data(1)]);
        assert_eq!(got[4], None);
    }

    /// A 401 for a nick nothing was sent to lately, or whose newest unanswered line is not a
    /// Sotto line (plaintext, a `WHOIS`, a `?S1E` notice), is libpurple's; so is one on
    /// another account, and one past the window.
    #[test]
    fn a_401_for_anything_else_is_left_to_libpurple() {
        let (mut s, t0) = (SentToNicks::default(), Instant::now());
        assert_eq!(answers(&mut s, "bob", 1, t0), [None]);
        s.send(ME, &privmsg("bob", &data(1)), t0);
        s.send(ME, &privmsg("bob", "hello in plaintext"), t0);
        s.send(ME, "WHOIS bob\r\n", t0);
        s.send(ME, &privmsg("bob", "?S1E could not read message ABCD"), t0);
        assert_eq!(answers(&mut s, "carol", 1, t0), [None]);
        assert_eq!(s.answered("alice2", "bob", t0, lower), None);
        assert_eq!(answers(&mut s, "bob", 3, t0), [None, None, None]);
        assert_eq!(
            answers(&mut s, "bob", 1, t0),
            [message("bob", &data(1), true)]
        );

        let late = t0 + Duration::from_secs(ANSWER_SECS + 1);
        s.send(ME, &privmsg("carol", &data(2)), t0);
        assert_eq!(answers(&mut s, "carol", 1, late), [None]);
    }

    /// `ISON` (libpurple's presence poll, never answered with a 401) and channel messages are
    /// not kept: they would take a 401 meant for our line.
    #[test]
    fn polls_and_channels_take_no_401() {
        let (mut s, t0) = (SentToNicks::default(), Instant::now());
        s.send(ME, &privmsg("bob", &data(1)), t0);
        s.send(ME, "ISON carol bob\r\n", t0);
        s.send(ME, &privmsg("#bob", "hi all"), t0);
        s.send(ME, "PING :irc.example\r\n", t0);
        assert_eq!(s.accounts[ME].lines.len(), 1);
        assert_eq!(
            answers(&mut s, "bob", 1, t0),
            [message("bob", &data(1), true)]
        );
        assert_eq!(answers(&mut s, "#bob", 1, t0), [None]);
    }

    /// The nick as the server spells it (another case, RFC 1459's brackets) finds the line;
    /// the answer names the nick as the line was sent to.
    #[test]
    fn the_nick_is_matched_as_the_server_matches_it() {
        let (mut s, t0) = (SentToNicks::default(), Instant::now());
        s.send(ME, &privmsg("Bob[1]", &data(1)), t0);
        assert_eq!(
            answers(&mut s, "bob{1}", 1, t0),
            [message("Bob[1]", &data(1), true)]
        );
    }

    /// ngircd has `bob[` and `bob{` as two nicks, and libpurple two windows: a 401 for `bob{`
    /// (gone) falls on the line to `bob{`, never on a newer one to `bob[` (there), whose window
    /// would say a message was NOT delivered that was.
    #[test]
    fn a_401_falls_on_the_nick_libpurple_names_before_rfc_1459s() {
        let (mut s, t0) = (SentToNicks::default(), Instant::now());
        s.send(ME, &privmsg("Bob{", &data(1)), t0);
        s.send(ME, &privmsg("bob[", &data(2)), t0);
        assert_eq!(
            answers(&mut s, "BOB{", 1, t0),
            [message("Bob{", &data(1), true)]
        );
        assert_eq!(
            answers(&mut s, "bob[", 1, t0),
            [message("bob[", &data(2), true)]
        );
    }

    /// A line the caller did not write for a 401 (nothing to say, or too soon after another)
    /// is not told: the next 401 of the same message is `tell` again (the plugin then leaves
    /// libpurple's line for it, which it took when it thought the message told).
    #[test]
    fn a_message_is_told_only_once_a_line_was_written() {
        let (mut s, t0) = (SentToNicks::default(), Instant::now());
        let long = pieces(5, 3);
        for l in &long {
            s.send(ME, &privmsg("bob", l), t0);
        }
        assert_eq!(
            s.answered(ME, "bob", t0, lower),
            message("bob", &long[0], true)
        );
        // Nothing written for it.
        assert_eq!(
            answers(&mut s, "bob", 2, t0),
            [
                message("bob", &long[0], true),
                message("bob", &long[0], false)
            ]
        );
    }

    /// A start line the caller finds was no start asked for here (its answer to a stranger's
    /// query, the stranger gone at once) is not told: a start of ours to that nick in the next
    /// minutes still is.
    #[test]
    fn a_start_line_not_told_leaves_the_next_start_to_tell() {
        let (mut s, t0) = (SentToNicks::default(), Instant::now());
        s.send(ME, &privmsg("mallory", "?S1IAAAAAAAAAAAAAAAAAAAA"), t0);
        // The plugin: no start asked for here, libpurple's 401.
        assert_eq!(s.answered(ME, "mallory", t0, lower), start("mallory", true));
        let t1 = t0 + Duration::from_secs(5);
        s.send(ME, &privmsg("mallory", "?S1Q please start"), t1);
        assert_eq!(answers(&mut s, "mallory", 1, t1), [start("mallory", true)]);
    }

    /// A start to a missing nick is told once, its other lines (a query then an init) not,
    /// until a start lapses and is tried again.
    #[test]
    fn a_start_is_told_once_per_attempt() {
        let (mut s, t0) = (SentToNicks::default(), Instant::now());
        let start = |tell| start("bob", tell);
        s.send(ME, &privmsg("bob", "?S1Q please start"), t0);
        s.send(ME, &privmsg("bob", "?S1IAAAAAAAAAAAAAAAAAAAA"), t0);
        assert_eq!(answers(&mut s, "bob", 2, t0), [start(true), start(false)]);
        let again = t0 + Duration::from_secs(START_TOLD_SECS);
        s.send(ME, &privmsg("bob", "?S1IAAAAAAAAAAAAAAAAAAAA"), again);
        assert_eq!(answers(&mut s, "bob", 1, again), [start(true)]);
    }

    /// A hostile server's 401s: at most one per line sent, one told line per message, and only
    /// for lines sent to that nick.
    #[test]
    fn forged_401s_tell_at_most_once_per_message_sent_to_that_nick() {
        let (mut s, t0) = (SentToNicks::default(), Instant::now());
        s.send(ME, &privmsg("bob", &data(1)), t0);
        s.send(ME, &privmsg("carol", &data(2)), t0);
        let got = answers(&mut s, "bob", 100, t0);
        assert_eq!(got[0], message("bob", &data(1), true));
        assert!(got[1..].iter().all(Option::is_none));
        assert_eq!(
            answers(&mut s, "carol", 1, t0),
            [message("carol", &data(2), true)]
        );
    }

    /// A piece whose first piece is no longer kept names the message by itself (the plugin
    /// then says a message was not delivered without its text); the log stays bounded.
    #[test]
    fn the_log_is_bounded() {
        let (mut s, t0) = (SentToNicks::default(), Instant::now());
        let long = pieces(9, 2);
        s.send(ME, &privmsg("bob", &long[0]), t0);
        for n in 0..LINES_KEPT {
            s.send(ME, &privmsg("carol", &data(n as u32)), t0);
        }
        s.send(ME, &privmsg("bob", &long[1]), t0);
        assert_eq!(s.accounts[ME].lines.len(), LINES_KEPT);
        assert_eq!(
            answers(&mut s, "bob", 1, t0),
            [message("bob", &long[1], true)]
        );
    }

    /// A reconnect forgets what was sent before.
    #[test]
    fn a_reconnect_forgets_the_lines_sent_before() {
        let (mut s, t0) = (SentToNicks::default(), Instant::now());
        s.send(ME, &privmsg("bob", &data(1)), t0);
        s.forget_account(ME);
        assert_eq!(answers(&mut s, "bob", 1, t0), [None]);
    }

    /// Several targets in one line (`/msg bob,carol`) are each kept.
    #[test]
    fn each_target_of_a_line_is_kept() {
        let (mut s, t0) = (SentToNicks::default(), Instant::now());
        s.send(ME, &privmsg("bob,carol", &data(1)), t0);
        assert_eq!(
            answers(&mut s, "carol", 1, t0),
            [message("carol", &data(1), true)]
        );
        assert_eq!(
            answers(&mut s, "bob", 1, t0),
            [message("bob", &data(1), true)]
        );
    }
}
