//! The wire codec: every Sotto message is one line of ASCII text.
//!
//! ```text
//! ?S1<T><body>
//!  │ │ │  └─ base64url without padding (RFC 4648 §5), or human text for Q and E
//!  │ │ └──── type: Q query, I init, R response, C confirm, D data, E error, P fragment
//!  │ └────── protocol version 1
//!  └──────── marker: '?' and 'S' survive HTML escaping, whitespace stripping and linkification
//! ```
//!
//! | type | body (binary, before base64url)                                              | bytes |
//! |------|------------------------------------------------------------------------------|-------|
//! | Q    | human-readable text (ignored by Sotto)                                       | —     |
//! | I    | initiator tag u32be ‖ initiator ephemeral (32)                               | 36    |
//! | R    | responder tag ‖ initiator tag ‖ responder ephemeral (32) ‖ enc. static (48) ‖ enc. payload (16 + names) | 104–616 |
//! | C    | initiator tag ‖ responder tag ‖ enc. static (48) ‖ enc. payload (16 + names) | 72–584 |
//! | D    | session id (4) ‖ ratchet key (32) ‖ pn varint ‖ n varint ‖ ciphertext+tag    | ≥ 62  |
//! | E    | human-readable text                                                          | —     |
//! | P    | id (4 chars) ‖ index (2 chars) ‖ total (2 chars) ‖ chunk of another line     | text  |
//!
//! Base64url has no `<`, `>`, `&`, `"`, `'`, spaces, `.`, `:` or `@`, so HTML escaping,
//! trailing-whitespace stripping and URL/e-mail linkification leave it untouched.
//! No account name ever appears on the wire in the clear: the names a side states (`names`) are
//! inside the encrypted payloads of R and C.

use base64_simd::URL_SAFE_NO_PAD;
use thiserror::Error;

/// Marker and version that start every Sotto line.
pub const PREFIX: &str = "?S1";

/// Longest encrypted handshake payload in `?S1R` and `?S1C`: the payload plus its 16-byte tag.
pub const MAX_SEALED_PAYLOAD: usize = super::handshake::MAX_PAYLOAD + 16;

/// Human text of the query message: what a contact without Sotto sees.
pub const QUERY_TEXT: &str =
    "Sotto end-to-end encryption requested (your chat client does not run Sotto yet)";

/// Why a line could not be decoded.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The line does not start with `?S1` and a known type letter.
    #[error("not a Sotto message")]
    NotSotto,
    /// The body is not valid base64url.
    #[error("malformed encoding")]
    Base64,
    /// The body has the wrong length or malformed fields.
    #[error("malformed message")]
    Malformed,
    /// `?S` and another protocol version (2 to 9) and a type letter: Sotto traffic this
    /// client cannot read. Never shown raw, never answered (PROTOCOL.md §2).
    #[error("it was sent by another version of Sotto (version {0}), which this one cannot read")]
    UnknownVersion(u8),
}

/// A handshake start: `?S1I`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitMessage {
    /// The initiator's instance tag.
    pub initiator_tag: u32,
    /// The initiator's ephemeral X25519 public key.
    pub ephemeral: [u8; 32],
}

/// The handshake response: `?S1R`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseMessage {
    /// The responder's instance tag.
    pub responder_tag: u32,
    /// The initiator's instance tag, echoed.
    pub initiator_tag: u32,
    /// The responder's ephemeral public key.
    pub ephemeral: [u8; 32],
    /// The responder's static (identity) key, encrypted.
    pub encrypted_static: [u8; 48],
    /// The responder's payload (the names it states), encrypted: 16 bytes of tag plus up to
    /// [`MAX_PAYLOAD`](super::handshake::MAX_PAYLOAD). Doubles as key confirmation.
    pub encrypted_payload: Vec<u8>,
}

/// The last handshake message: `?S1C`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfirmMessage {
    /// The initiator's instance tag.
    pub initiator_tag: u32,
    /// The responder's instance tag.
    pub responder_tag: u32,
    /// The initiator's static (identity) key, encrypted.
    pub encrypted_static: [u8; 48],
    /// The initiator's payload (the names it states), encrypted, as in `?S1R`.
    pub encrypted_payload: Vec<u8>,
}

/// An encrypted message: `?S1D`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataMessage {
    /// First 4 bytes of the handshake hash: which session this belongs to.
    pub session_id: [u8; 4],
    /// The sender's current ratchet public key.
    pub ratchet_key: [u8; 32],
    /// Number of messages in the sender's previous sending chain.
    pub previous_chain_len: u32,
    /// Index of this message in its chain.
    pub index: u32,
    /// ChaCha20-Poly1305 ciphertext with its 16-byte tag.
    pub ciphertext: Vec<u8>,
}

/// One piece of a long line: `?S1P`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// Random 24-bit id shared by the pieces of one line.
    pub id: u32,
    /// 0-based index of this piece.
    pub index: u16,
    /// Number of pieces (1..=4095).
    pub total: u16,
    /// This piece of the original line.
    pub chunk: String,
}

/// Any Sotto line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireMessage {
    /// `?S1Q`: please start an encrypted session.
    Query,
    /// `?S1I`: handshake message 1.
    Init(InitMessage),
    /// `?S1R`: handshake message 2.
    Response(ResponseMessage),
    /// `?S1C`: handshake message 3.
    Confirm(ConfirmMessage),
    /// `?S1D`: an encrypted message.
    Data(DataMessage),
    /// `?S1E`: an unauthenticated error notice.
    Error(String),
    /// `?S1P`: a fragment of a longer line.
    Fragment(Fragment),
}

/// Does `text` look like Sotto traffic (so it must never be shown raw)?
pub fn is_sotto_text(text: &str) -> bool {
    let t = text.trim_start();
    other_version(t).is_some()
        || t.starts_with(PREFIX)
            && matches!(
                t.as_bytes().get(PREFIX.len()),
                Some(b'Q' | b'I' | b'R' | b'C' | b'D' | b'E' | b'P')
            )
}

/// Whether `text` carries a Sotto line that does not start it and ends it: one of the types a
/// `b64u` body follows (`I`, `R`, `C`, `D`, `P`), at least 16 body characters running to the
/// end of the text (white space aside), after other text of at most [`MAX_ADDED_PREFIX`] bytes
/// (a service's "EDIT: ", a pin mark, a quote's first line). Such a text is a line the service
/// changed (PROTOCOL.md §2). A line with more words after it is someone's words around a
/// quote of one (a Telegram reply quoting it): not this.
pub fn has_embedded_line(text: &str) -> bool {
    // Invisible characters a service or a forger may add after the line count as white space.
    let t = text
        .trim_start()
        .trim_end_matches(|c: char| c.is_whitespace() || is_invisible(c));
    if is_sotto_text(t) {
        return false;
    }
    // The prefix may start at most MAX_ADDED_PREFIX bytes in.
    let window = t.len().min(MAX_ADDED_PREFIX + PREFIX.len());
    let b64u = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_';
    t.as_bytes()[..window]
        .windows(PREFIX.len())
        .enumerate()
        .filter(|(_, w)| *w == PREFIX.as_bytes())
        .any(|(at, _)| {
            let rest = &t.as_bytes()[at + PREFIX.len()..];
            matches!(rest.first(), Some(b'I' | b'R' | b'C' | b'D' | b'P'))
                && rest.len() > 16
                && rest[1..].iter().all(b64u)
        })
}

/// Characters that show nothing (or break a line where none shows), so never part of what a
/// text says: Unicode's default-ignorable code points (the soft hyphen, zero-width and joiner
/// characters, bidi marks, embeddings, overrides and isolates, the deprecated format characters,
/// variation selectors, Hangul fillers, tag characters, the byte order mark), the line and
/// paragraph separators, the interlinear annotation marks, and the Mongolian todo soft hyphen
/// (U+1806, a soft hyphen that stringprep, and so SILC's servers, drop as the others).
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{ad}'
            | '\u{34f}'
            | '\u{61c}'
            | '\u{115f}'..='\u{1160}'
            | '\u{17b4}'..='\u{17b5}'
            | '\u{1806}'
            | '\u{180b}'..='\u{180f}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{3164}'
            | '\u{fe00}'..='\u{fe0f}'
            | '\u{feff}'
            | '\u{ffa0}'
            | '\u{fff0}'..='\u{fffb}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0000}'..='\u{e0fff}'
    )
}

/// `text` with every Sotto line in it (`?S`, a version digit and a type letter, then `b64u`
/// characters, a `\` a service escaped one with included) replaced by `[encrypted line]`:
/// words around a quoted line are shown, the line never raw.
pub fn mask_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("?S") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        match line_after_prefix(after) {
            Some(len) => {
                out.push_str("[encrypted line]");
                rest = &after[len..];
            }
            None => {
                out.push_str("?S");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether [`mask_lines`] would change `text` (without copying it: the text may be decrypted
/// words, which are kept only in wiped buffers).
pub fn has_line(text: &str) -> bool {
    text.match_indices("?S")
        .any(|(at, _)| line_after_prefix(&text[at + 2..]).is_some())
}

/// After a `?S`: the length of the rest of a Sotto line there (a version digit, a type letter
/// of this version or any capital for a later one, as `is_sotto_text`, and a body of at least
/// 16 `b64u` characters or `\`, a service's escape), if one is: "what does ?S1D mean?" is
/// words.
fn line_after_prefix(after: &str) -> Option<usize> {
    let body_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '\\';
    let b = after.as_bytes();
    let typed = match (b.first(), b.get(1)) {
        (Some(b'1'), Some(t)) => b"QIRCDEP".contains(t),
        (Some(b'2'..=b'9'), Some(t)) => t.is_ascii_uppercase(),
        _ => false,
    };
    if !typed {
        return None;
    }
    let body = &after[2..];
    let end = body.find(|c: char| !body_char(c)).unwrap_or(body.len());
    (end >= 16).then_some(2 + end)
}

/// `text` without the time stamp an IRC bouncer puts in front of a line it plays back to a
/// client that did not ask for IRCv3 `server-time` (libpurple never does): ZNC's default,
/// `[HH:MM:SS] ` (or `[HH:MM] `, hours of one or two digits), when a Sotto line follows it
/// (PROTOCOL.md §2). Any other text is returned as it is.
pub fn without_replay_stamp(text: &str) -> &str {
    let t = text.trim_start();
    let Some(rest) = t.strip_prefix('[') else {
        return text;
    };
    let Some((stamp, line)) = rest.split_once("] ") else {
        return text;
    };
    let digits = |s: &str, n: std::ops::RangeInclusive<usize>| {
        n.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    let mut parts = stamp.split(':');
    let stamped = parts.next().is_some_and(|h| digits(h, 1..=2))
        && parts.next().is_some_and(|m| digits(m, 2..=2))
        && parts.next().is_none_or(|s| digits(s, 2..=2))
        && parts.next().is_none();
    if stamped && is_sotto_text(line) {
        line
    } else {
        text
    }
}

/// The most text a service is taken to have put in front of a Sotto line
/// ([`has_embedded_line`]).
pub const MAX_ADDED_PREFIX: usize = 64;

/// Which data message a not-read notice (PROTOCOL.md §2.2) is about: its session id, the first
/// 4 bytes of its ratchet public key and its index, all from the message's cleartext header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageRef {
    /// `sid`.
    pub session_id: [u8; 4],
    /// The first 4 bytes of `rk`.
    pub ratchet_key: [u8; 4],
    /// `n`.
    pub index: u32,
}

/// What a not-read notice says before the message reference.
const NOT_READ: &str = "could not read message ";
/// What a not-read notice says after the reference: no session names it.
const NO_SESSION: &str = "(no encrypted session)";
/// What a not-read notice says after the reference: it arrived during a handshake.
const UNFINISHED: &str = "(handshake not finished)";
/// What a not-read notice says after the reference: some of its pieces never came.
const INCOMPLETE: &str = "(arrived incomplete)";

impl MessageRef {
    /// The reference of a data message.
    pub fn of(m: &DataMessage) -> Self {
        DataHead::of(m).reference()
    }

    /// The not-read notice for this message: `?S1E could not read message <sid>.<rk>.<n>
    /// (no encrypted session)`, `sid` and `rk` as 8 lower-case hex digits, `n` in decimal.
    pub fn not_read_line(&self) -> String {
        self.notice(NO_SESSION)
    }

    /// `?S1E could not read message <sid>.<rk>.<n> <tail>`.
    fn notice(&self, tail: &str) -> String {
        let hex = |b: &[u8; 4]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        format!(
            "{PREFIX}E {NOT_READ}{}.{}.{} {tail}",
            hex(&self.session_id),
            hex(&self.ratchet_key),
            self.index
        )
    }

    /// The not-read notice for a data message that arrived while this side waited, as
    /// responder, for the handshake's last line (`?S1C`): `?S1E could not read message
    /// <sid>.<rk>.<n> (handshake not finished)`. The line most likely overtook that `?S1C` on
    /// the way (a transport that reorders); its sender may send it again over the same session
    /// (PROTOCOL.md §2.2).
    pub fn unfinished_line(&self) -> String {
        self.notice(UNFINISHED)
    }

    /// Whether the text of a `?S1E` line is a not-read notice that says the handshake was not
    /// finished ([`MessageRef::unfinished_line`]): after the reference, exactly one space and
    /// `(handshake not finished)`.
    pub fn says_unfinished(text: &str) -> bool {
        Self::says(text, UNFINISHED)
    }

    /// The not-read notice for a data message whose line came cut into `?S1P` pieces and was
    /// dropped before every piece arrived (PROTOCOL.md §6): `?S1E could not read message
    /// <sid>.<rk>.<n> (arrived incomplete)`. Read as any not-read notice; the tail only says
    /// why.
    pub fn incomplete_line(&self) -> String {
        self.notice(INCOMPLETE)
    }

    /// Whether the text of a `?S1E` line is a not-read notice that says the line arrived
    /// incomplete ([`MessageRef::incomplete_line`]), exactly as for
    /// [`MessageRef::says_unfinished`].
    pub fn says_incomplete(text: &str) -> bool {
        Self::says(text, INCOMPLETE)
    }

    /// Whether `text` is a not-read notice whose reference is followed by exactly one space and
    /// `tail`.
    fn says(text: &str, tail: &str) -> bool {
        Self::from_error_text(text).is_some()
            && text
                .trim()
                .strip_prefix(NOT_READ)
                .and_then(|rest| rest.split_once(' '))
                .is_some_and(|(reference, after)| {
                    !reference.contains(char::is_whitespace) && after == tail
                })
    }

    /// The reference in the text of a `?S1E` line, if it is a not-read notice (the reference
    /// ends at whitespace or the end of the text; what follows the whitespace is ignored).
    /// Strict: lower-case hex, a decimal without leading zeros.
    pub fn from_error_text(text: &str) -> Option<Self> {
        // The reference follows the prefix at once (its one space, no more).
        let token = text
            .trim()
            .strip_prefix(NOT_READ)?
            .split(char::is_whitespace)
            .next()
            .filter(|t| !t.is_empty())?;
        let mut parts = token.split('.');
        let (sid, rk, n) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let hex4 = |h: &str| -> Option<[u8; 4]> {
            let b = h.as_bytes();
            if b.len() != 8 || !b.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
                return None;
            }
            let mut out = [0u8; 4];
            for (i, o) in out.iter_mut().enumerate() {
                *o = u8::from_str_radix(h.get(2 * i..2 * i + 2)?, 16).ok()?;
            }
            Some(out)
        };
        if n.is_empty()
            || !n.bytes().all(|c| c.is_ascii_digit())
            || (n.len() > 1 && n.starts_with('0'))
        {
            return None;
        }
        Some(Self {
            session_id: hex4(sid)?,
            ratchet_key: hex4(rk)?,
            index: n.parse().ok()?,
        })
    }
}

/// The session id (`sid`) a `?S1D` line names, read from its first 8 base64url characters
/// without decoding the rest; `None` for any other line. Says nothing about whether the line
/// is authentic: only a decryption does.
pub fn data_session_id(text: &str) -> Option<[u8; 4]> {
    let t = text.trim_start();
    let token = t
        .strip_prefix(PREFIX)?
        .strip_prefix('D')?
        .as_bytes()
        .get(..8)?;
    let mut head = [0u8; 6];
    URL_SAFE_NO_PAD
        .decode(token, base64_simd::Out::from_slice(&mut head))
        .ok()?;
    array(&head)
}

/// The reference of the `?S1D` line that `text` begins (a whole line, or the first piece of
/// one cut into `?S1P` pieces, whose chunk begins it), read from its header alone: the first
/// 64 characters at most. Says nothing about whether the line is authentic.
pub fn data_ref_from_head(text: &str) -> Option<MessageRef> {
    data_head(text).map(|h| h.reference())
}

/// What the header of a data message says of its place in the session: `sid`, the whole
/// ratchet public key `rk` and the index `n` (a first piece tells no more of its line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataHead {
    /// `sid`.
    pub session_id: [u8; 4],
    /// `rk`.
    pub ratchet_key: [u8; 32],
    /// `n`.
    pub index: u32,
}

impl DataHead {
    /// The header of a data message.
    pub fn of(m: &DataMessage) -> Self {
        Self {
            session_id: m.session_id,
            ratchet_key: m.ratchet_key,
            index: m.index,
        }
    }

    /// The reference a not-read notice names the message by.
    pub fn reference(&self) -> MessageRef {
        let mut ratchet_key = [0u8; 4];
        ratchet_key.copy_from_slice(&self.ratchet_key[..4]);
        MessageRef {
            session_id: self.session_id,
            ratchet_key,
            index: self.index,
        }
    }
}

/// The header of the `?S1D` line that `text` begins, as [`data_ref_from_head`] reads it.
pub fn data_head(text: &str) -> Option<DataHead> {
    let token = text.trim_start().strip_prefix(PREFIX)?.strip_prefix('D')?;
    let token = token.as_bytes();
    let end = token
        .iter()
        .take(64)
        .position(u8::is_ascii_whitespace)
        .unwrap_or(token.len().min(64));
    let quads = &token[..end - end % 4];
    let mut head = [0u8; 48];
    let n = URL_SAFE_NO_PAD
        .decode(quads, base64_simd::Out::from_slice(&mut head))
        .ok()?
        .len();
    let head = &head[..n];
    let session_id = array(head)?;
    let ratchet_key = array(head.get(4..)?)?;
    let (_, used) = get_varint(head.get(36..)?)?;
    let (index, _) = get_varint(head.get(36 + used..)?)?;
    Some(DataHead {
        session_id,
        ratchet_key,
        index,
    })
}

/// The version of a line of another Sotto version: `?S`, a digit 2 to 9, an upper-case ASCII
/// letter (PROTOCOL.md §2).
fn other_version(t: &str) -> Option<u8> {
    match t.as_bytes() {
        [b'?', b'S', v @ b'2'..=b'9', b'A'..=b'Z', ..] => Some(v - b'0'),
        _ => None,
    }
}

/// Characters of base64url, used for the fragment header numbers (6 bits each).
const DIGITS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn push_digits(out: &mut String, value: u32, count: usize) {
    for i in (0..count).rev() {
        out.push(DIGITS[((value >> (6 * i)) & 63) as usize] as char);
    }
}

fn read_digits(s: &[u8]) -> Option<u32> {
    s.iter().try_fold(0u32, |acc, &c| {
        let d = DIGITS.iter().position(|&x| x == c)? as u32;
        Some((acc << 6) | d)
    })
}

/// Writes `v` as minimal unsigned LEB128 at the start of `out` (room for 5 bytes); returns the
/// bytes it takes (1 to 5).
fn write_varint(out: &mut [u8], mut v: u32) -> usize {
    let mut n = 0;
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if let Some(slot) = out.get_mut(n) {
            *slot = if v == 0 { byte } else { byte | 0x80 };
        }
        n += 1;
        if v == 0 {
            return n;
        }
    }
}

/// Bytes of `v` as a minimal unsigned LEB128.
fn varint_len(v: u32) -> usize {
    match v {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        0x20_0000..=0xfff_ffff => 4,
        _ => 5,
    }
}

/// Reads a minimal unsigned LEB128 u32; returns (value, bytes used).
fn get_varint(buf: &[u8]) -> Option<(u32, usize)> {
    let mut value: u64 = 0;
    for (i, &b) in buf.iter().enumerate().take(5) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            if i > 0 && b == 0 {
                return None; // non-minimal encoding
            }
            return u32::try_from(value).ok().map(|v| (v, i + 1));
        }
    }
    None
}

fn array<const N: usize>(buf: &[u8]) -> Option<[u8; N]> {
    buf.get(..N)?.try_into().ok()
}

fn u32be(buf: &[u8]) -> Option<u32> {
    array::<4>(buf).map(u32::from_be_bytes)
}

/// Largest buffer [`WireMessage::decode_reusing`] hands back to its caller after a line it
/// could not decode, and the largest a caller keeps between lines (`Conversation::received`):
/// a hostile line of base64url garbage grows the buffer to its size, which must not stay held.
pub(crate) const REUSED_KEPT: usize = 16 * 1024;

/// A data message header, on the stack: it is built for every message sent and received (as the
/// associated data and on the wire), so it never costs an allocation.
#[derive(Clone, Copy)]
pub struct HeaderBytes {
    buf: [u8; HeaderBytes::MAX],
    len: usize,
}

impl HeaderBytes {
    /// Most bytes a header takes: session id (4), ratchet key (32), two varints of at most 5
    /// bytes each.
    pub const MAX: usize = 4 + 32 + 5 + 5;
}

impl core::ops::Deref for HeaderBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl DataMessage {
    /// The header bytes: everything before the ciphertext. They are authenticated as
    /// associated data.
    pub fn header_bytes(&self) -> HeaderBytes {
        let mut out = HeaderBytes {
            buf: [0u8; HeaderBytes::MAX],
            len: 0,
        };
        out.len = self.write_header(&mut out.buf);
        out
    }

    /// Writes the header bytes at the start of `out` (room for [`HeaderBytes::MAX`]) and
    /// returns their length: no staging buffer and no copy of variable length (this runs three
    /// times for every message sent or received).
    pub(crate) fn write_header(&self, out: &mut [u8]) -> usize {
        if let Some(d) = out.get_mut(..4) {
            d.copy_from_slice(&self.session_id);
        }
        if let Some(d) = out.get_mut(4..36) {
            d.copy_from_slice(&self.ratchet_key);
        }
        let pn = write_varint(
            out.get_mut(36..).unwrap_or_default(),
            self.previous_chain_len,
        );
        let index = write_varint(out.get_mut(36 + pn..).unwrap_or_default(), self.index);
        36 + pn + index
    }

    /// Length of the header bytes, without writing them.
    fn header_len(&self) -> usize {
        36 + varint_len(self.previous_chain_len) + varint_len(self.index)
    }

    /// Parses the header at the start of `body`: the message without its ciphertext, and the
    /// header's length.
    fn decode_header(body: &[u8]) -> Option<(Self, usize)> {
        let session_id = array::<4>(body)?;
        let ratchet_key = array::<32>(body.get(4..)?)?;
        let (previous_chain_len, a) = get_varint(body.get(36..)?)?;
        let (index, b) = get_varint(body.get(36 + a..)?)?;
        let header = Self {
            session_id,
            ratchet_key,
            previous_chain_len,
            index,
            ciphertext: Vec::new(),
        };
        Some((header, 36 + a + b))
    }

    /// The message of `header` with its ciphertext, if that is long enough to be one.
    fn with_ciphertext(self, ciphertext: Vec<u8>) -> Option<Self> {
        (ciphertext.len() >= 16 + 8).then_some(Self { ciphertext, ..self })
    }

    /// Decodes the base64url token of a `?S1D` line: the whole token in one pass of the
    /// decoder, into `buf`'s allocation (emptied first: a receiver's buffer of the last line,
    /// for no allocation per line), then the header is parsed from its front and the
    /// ciphertext moved down over it (a copy within the buffer, cheaper than a second pass of
    /// the decoder). Invalid base64url anywhere is [`DecodeError::Base64`], a bad header or a
    /// short ciphertext [`DecodeError::Malformed`]. After a base64 or header error `buf` gets
    /// the buffer back, unless it grew past [`REUSED_KEPT`] (a long bad line's buffer is let
    /// go); after a short ciphertext it is dropped (the next line allocates anew). Every
    /// `?S1D` line is allocated for at its decoded size before it is checked (a hostile long
    /// line costs that allocation once, as long as libpurple holds the line itself).
    #[inline]
    fn decode_token(token: &[u8], buf: &mut Vec<u8>) -> Result<Self, DecodeError> {
        let mut body = std::mem::take(buf);
        body.clear();
        // Exact room (the decoder's own reserve would grow it geometrically).
        body.reserve_exact(token.len() / 4 * 3 + 2);
        let decoded = URL_SAFE_NO_PAD.decode_append(token, &mut body);
        let parsed = match decoded {
            Ok(_) => Self::decode_header(&body).ok_or(DecodeError::Malformed),
            Err(_) => Err(DecodeError::Base64),
        };
        match parsed {
            Ok((header, len)) => {
                body.drain(..len);
                header.with_ciphertext(body).ok_or(DecodeError::Malformed)
            }
            Err(e) => {
                if body.capacity() <= REUSED_KEPT {
                    *buf = body;
                }
                Err(e)
            }
        }
    }

    /// Appends the base64url of header ‖ `ciphertext` to `out` without building the body: the
    /// header and the first ciphertext bytes up to a multiple of 3 are encoded together, and
    /// the rest of the ciphertext, starting on a whole group, is encoded in place.
    fn encode_body(&self, ciphertext: &[u8], out: &mut String) {
        let header = self.header_bytes();
        let k = (3 - header.len() % 3) % 3;
        let (first, rest) = ciphertext.split_at(k.min(ciphertext.len()));
        let mut lead = [0u8; HeaderBytes::MAX + 2];
        let lead_len = header.len() + first.len();
        lead[..header.len()].copy_from_slice(&header);
        lead[header.len()..lead_len].copy_from_slice(first);
        URL_SAFE_NO_PAD.encode_append(&lead[..lead_len], out);
        URL_SAFE_NO_PAD.encode_append(rest, out);
    }

    /// Characters of the `?S1D` line with a ciphertext of `ciphertext_len` bytes.
    fn encoded_len(&self, ciphertext_len: usize) -> usize {
        PREFIX.len() + 1 + URL_SAFE_NO_PAD.encoded_length(self.header_len() + ciphertext_len)
    }

    /// The `?S1D` line of this message's header with `ciphertext` (the message's own
    /// `ciphertext` is not read): what [`WireMessage::encode`] makes of the whole message, for
    /// a ciphertext sealed in a buffer of its own. One allocation, the line.
    pub(crate) fn line_with(&self, ciphertext: &[u8]) -> String {
        let mut out = String::with_capacity(self.encoded_len(ciphertext.len()));
        out.push_str(PREFIX);
        out.push('D');
        self.encode_body(ciphertext, &mut out);
        out
    }
}

impl DataMessage {
    /// The `?S1D` line of a whole body (header ‖ ciphertext, as the ratchet seals a message
    /// for a line: `DoubleRatchet::seal_line`): what [`WireMessage::encode`] makes of the
    /// message, in one pass of the encoder. One allocation, the line.
    pub(crate) fn line_of_body(body: &[u8]) -> String {
        let mut out =
            String::with_capacity(PREFIX.len() + 1 + URL_SAFE_NO_PAD.encoded_length(body.len()));
        out.push_str(PREFIX);
        out.push('D');
        URL_SAFE_NO_PAD.encode_append(body, &mut out);
        out
    }
}

impl Fragment {
    /// Parses the token of a `?S1P` line (ASCII): header digits, then the chunk.
    fn from_token(token: &str) -> Result<Self, DecodeError> {
        let raw = token.as_bytes();
        if raw.len() <= 8 {
            return Err(DecodeError::Malformed);
        }
        let id = read_digits(&raw[..4]).ok_or(DecodeError::Malformed)?;
        let index = read_digits(&raw[4..6]).ok_or(DecodeError::Malformed)? as u16;
        let total = read_digits(&raw[6..8]).ok_or(DecodeError::Malformed)? as u16;
        if total == 0 || index >= total {
            return Err(DecodeError::Malformed);
        }
        Ok(Self {
            id,
            index,
            total,
            chunk: token[8..].to_owned(),
        })
    }
}

impl WireMessage {
    /// The line of text to send.
    pub fn encode(&self) -> String {
        let (kind, body): (char, Vec<u8>) = match self {
            WireMessage::Query => return format!("{PREFIX}Q {QUERY_TEXT}"),
            WireMessage::Error(text) => {
                let clean: String = text.chars().filter(|c| !c.is_control()).collect();
                return format!("{PREFIX}E {clean}");
            }
            WireMessage::Fragment(f) => {
                let mut out = String::with_capacity(12 + f.chunk.len());
                out.push_str(PREFIX);
                out.push('P');
                push_digits(&mut out, f.id & 0xff_ffff, 4);
                push_digits(&mut out, u32::from(f.index), 2);
                push_digits(&mut out, u32::from(f.total), 2);
                out.push_str(&f.chunk);
                return out;
            }
            // The per-message path: one allocation, the line itself.
            WireMessage::Data(m) => return m.line_with(&m.ciphertext),
            WireMessage::Init(m) => {
                let mut b = Vec::with_capacity(36);
                b.extend_from_slice(&m.initiator_tag.to_be_bytes());
                b.extend_from_slice(&m.ephemeral);
                ('I', b)
            }
            WireMessage::Response(m) => {
                let mut b = Vec::with_capacity(88 + m.encrypted_payload.len());
                b.extend_from_slice(&m.responder_tag.to_be_bytes());
                b.extend_from_slice(&m.initiator_tag.to_be_bytes());
                b.extend_from_slice(&m.ephemeral);
                b.extend_from_slice(&m.encrypted_static);
                b.extend_from_slice(&m.encrypted_payload);
                ('R', b)
            }
            WireMessage::Confirm(m) => {
                let mut b = Vec::with_capacity(56 + m.encrypted_payload.len());
                b.extend_from_slice(&m.initiator_tag.to_be_bytes());
                b.extend_from_slice(&m.responder_tag.to_be_bytes());
                b.extend_from_slice(&m.encrypted_static);
                b.extend_from_slice(&m.encrypted_payload);
                ('C', b)
            }
        };
        let mut out =
            String::with_capacity(PREFIX.len() + 1 + URL_SAFE_NO_PAD.encoded_length(body.len()));
        out.push_str(PREFIX);
        out.push(kind);
        URL_SAFE_NO_PAD.encode_append(&body, &mut out);
        out
    }

    /// The type letter of a Sotto line and what follows it (the line trimmed), or why the
    /// line is not one.
    fn kind_and_rest(text: &str) -> Result<(u8, &str), DecodeError> {
        let t = text.trim();
        if let Some(version) = other_version(t) {
            return Err(DecodeError::UnknownVersion(version));
        }
        if !is_sotto_text(t) {
            return Err(DecodeError::NotSotto);
        }
        Ok((t.as_bytes()[PREFIX.len()], &t[PREFIX.len() + 1..]))
    }

    /// Parses one line.
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        Self::decode_reusing(text, &mut Vec::new())
    }

    /// [`Self::decode`], a data message's ciphertext decoded into `buf`'s allocation (which
    /// the message then owns; the caller may hand it back for the next line).
    #[inline]
    pub(crate) fn decode_reusing(text: &str, buf: &mut Vec<u8>) -> Result<Self, DecodeError> {
        let (kind, rest) = Self::kind_and_rest(text)?;
        match kind {
            b'Q' => return Ok(WireMessage::Query),
            b'E' => return Ok(WireMessage::Error(rest.trim().to_owned())),
            // A b64u body starts right after the type letter (§2): `?S1D <body>` has an empty
            // body, which is malformed, as an implementation of the spec alone reads it.
            _ if rest.chars().next().is_none_or(char::is_whitespace) => {
                return Err(DecodeError::Malformed)
            }
            b'P' => {
                // The token must be ASCII: a non-ASCII character in it makes it malformed.
                let token = first_token(rest, |b| b.is_ascii() && !char::from(b).is_whitespace())
                    .ok_or(DecodeError::Malformed)?;
                return Fragment::from_token(token).map(WireMessage::Fragment);
            }
            _ => {}
        }
        // A real line is one token of base64url and nothing else (it was trimmed above), so
        // it is decoded at once: the SIMD decoder is the only pass over it. Only when that
        // fails is the token looked for, the way `split_whitespace` would (text after a space
        // is ignored), and decoded again: whitespace is not base64url, so a line with any
        // fails the first decode as `Base64`, and every other result is already final.
        match Self::decode_body(kind, rest, buf) {
            Err(DecodeError::Base64) => {
                let token = first_token(rest, is_base64url).ok_or(DecodeError::Base64)?;
                if token.len() == rest.len() {
                    return Err(DecodeError::Base64);
                }
                Self::decode_body(kind, token, buf)
            }
            result => result,
        }
    }

    /// Decodes the base64url body of an I, R, C or D line.
    #[inline]
    fn decode_body(kind: u8, token: &str, buf: &mut Vec<u8>) -> Result<Self, DecodeError> {
        if kind == b'D' {
            return DataMessage::decode_token(token.as_bytes(), buf).map(WireMessage::Data);
        }
        let body = URL_SAFE_NO_PAD
            .decode_to_vec(token)
            .map_err(|_| DecodeError::Base64)?;
        let msg = match kind {
            b'I' if body.len() == 36 => WireMessage::Init(InitMessage {
                initiator_tag: u32be(&body).ok_or(DecodeError::Malformed)?,
                ephemeral: array(&body[4..]).ok_or(DecodeError::Malformed)?,
            }),
            b'R' if (88 + 16..=88 + MAX_SEALED_PAYLOAD).contains(&body.len()) => {
                WireMessage::Response(ResponseMessage {
                    responder_tag: u32be(&body).ok_or(DecodeError::Malformed)?,
                    initiator_tag: u32be(&body[4..]).ok_or(DecodeError::Malformed)?,
                    ephemeral: array(&body[8..]).ok_or(DecodeError::Malformed)?,
                    encrypted_static: array(&body[40..]).ok_or(DecodeError::Malformed)?,
                    encrypted_payload: body[88..].to_vec(),
                })
            }
            b'C' if (56 + 16..=56 + MAX_SEALED_PAYLOAD).contains(&body.len()) => {
                WireMessage::Confirm(ConfirmMessage {
                    initiator_tag: u32be(&body).ok_or(DecodeError::Malformed)?,
                    responder_tag: u32be(&body[4..]).ok_or(DecodeError::Malformed)?,
                    encrypted_static: array(&body[8..]).ok_or(DecodeError::Malformed)?,
                    encrypted_payload: body[56..].to_vec(),
                })
            }
            _ => return Err(DecodeError::Malformed),
        };
        Ok(msg)
    }
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// The first whitespace-separated token of `rest`: `rest.split_whitespace().next()` (empty if
/// there is none), found byte by byte instead of decoding every character. `allowed` is the set
/// of bytes the token may hold: `None` when it holds anything else, which the caller rejects as
/// it would have rejected that token.
fn first_token(rest: &str, allowed: impl Fn(u8) -> bool) -> Option<&str> {
    let rest = rest.trim_start();
    let bytes = rest.as_bytes();
    // Whole 16-byte blocks with a branch-free test first (the compiler vectorizes it), then
    // the block that holds the end byte by byte.
    let mut start = 0;
    for block in bytes.chunks_exact(16) {
        if !block.iter().fold(true, |ok, &b| ok & allowed(b)) {
            break;
        }
        start += 16;
    }
    let end = bytes[start..]
        .iter()
        .position(|&b| !allowed(b))
        .map_or(bytes.len(), |i| start + i);
    // The token ends at the first whitespace character (ASCII or not), as for split_whitespace;
    // any other character outside `allowed` is part of the token, which is then rejected.
    match rest.get(end..).and_then(|r| r.chars().next()) {
        None => Some(rest),
        Some(c) if c.is_whitespace() => rest.get(..end),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {

    /// A bouncer's play-back stamp comes off a Sotto line, and only off one.
    #[test]
    fn a_bouncers_time_stamp_comes_off_a_sotto_line() {
        let line = "?S1DAAAAAAAAAAAAAAAAAAAA";
        for stamped in [
            format!("[12:34:56] {line}"),
            format!("[9:05] {line}"),
            format!(" [23:59:59] {line}"),
        ] {
            assert_eq!(without_replay_stamp(&stamped), line, "{stamped}");
        }
        for kept in [
            format!("[12:34:56]{line}"),
            format!("[123:34] {line}"),
            format!("[12:3] {line}"),
            format!("[12:34:56:78] {line}"),
            format!("[ab:cd] {line}"),
            format!("(12:34) {line}"),
            "[12:34] hello".to_owned(),
            format!("EDIT: {line}"),
            line.to_owned(),
        ] {
            assert_eq!(without_replay_stamp(&kept), kept, "{kept}");
        }
    }

    use super::*;

    /// A line a service wrote again with words in front is a changed line; the same line with
    /// words after it is someone's words around a quote of it (a Telegram reply), not one.
    #[test]
    fn an_embedded_line_must_end_the_text() {
        let line = "?S1DLNzFrkQkzTol6lTqrvxQPsY5G8XaoHDXPqbsFC2kWuzYck9fAAGHiXir4MKl2KmYi8Xe";
        for changed in [
            format!("EDIT: {line}"),
            format!("\u{1f4cc} {line}  "),
            format!("> bob wrote:\n> {line}\n"),
        ] {
            assert!(has_embedded_line(&changed), "{changed:?}");
        }
        for words in [
            format!("> bob wrote:\n> {line}\nmy phone can't read this"),
            format!("EDIT: {line} (sorry)"),
            line.to_owned(),
            "no line here at all".to_owned(),
        ] {
            assert!(!has_embedded_line(&words), "{words:?}");
        }
        assert_eq!(
            mask_lines(&format!("> bob wrote:\n> {line}\nmy phone can't read this")),
            "> bob wrote:\n> [encrypted line]\nmy phone can't read this"
        );
        assert_eq!(mask_lines("a ?S1 and ?S1x stay"), "a ?S1 and ?S1x stay");
        assert!(!has_line("a ?S1 and ?S1x stay, ?S1D means?"));
        assert!(has_line(&format!(
            "> bob wrote:\n> {line}\nmy phone can't read this"
        )));
        assert_eq!(
            mask_lines(
                "?S2KabcdEFabcdEFabcd and ?S1DLNz\\_Fr-kQ0123456789 done, ?S é, ?S1D means?"
            ),
            "[encrypted line] and [encrypted line] done, ?S é, ?S1D means?"
        );
        // Invisible characters after the line do not make it someone's words.
        assert!(has_embedded_line(&format!("EDIT: {line}\u{200b}\u{feff}")));
        assert!(has_embedded_line(&format!("EDIT: {line}\u{ad} \u{2060}\n")));
        // Leading white space does not count toward the 64 bytes in front; anything else does.
        let front = "x".repeat(MAX_ADDED_PREFIX);
        assert!(has_embedded_line(&format!(" \t\n{front}{line}")));
        assert!(!has_embedded_line(&format!("{front}y{line}")));
        assert!(!has_embedded_line(&format!("\u{200b}{front}{line}")));
        // Nothing may break the body: white space or an invisible character inside it makes
        // the text someone's words.
        let (head, tail) = line.split_at(30);
        assert!(!has_embedded_line(&format!("EDIT: {head} {tail}")));
        assert!(!has_embedded_line(&format!("EDIT: {head}\u{200b}{tail}")));
    }

    /// A query and an error notice need no space after the type letter (PROTOCOL.md §2): the
    /// sender writes one, the receiver does not require it.
    #[test]
    fn query_and_notice_need_no_space() {
        for q in ["?S1Q", "?S1Qx", "?S1Q anything", " ?S1Q\t"] {
            assert_eq!(WireMessage::decode(q), Ok(WireMessage::Query), "{q:?}");
        }
        for (line, text) in [
            ("?S1Etext", "text"),
            ("?S1E text", "text"),
            ("?S1E  spaced out  ", "spaced out"),
            ("?S1E", ""),
        ] {
            assert_eq!(
                WireMessage::decode(line),
                Ok(WireMessage::Error(text.into())),
                "{line:?}"
            );
        }
    }
    use proptest::prelude::*;

    #[test]
    fn not_read_notices_name_exactly_one_message() {
        let id = MessageRef {
            session_id: [0x5e, 0x55, 0x87, 0x7a],
            ratchet_key: [0xfc, 0xec, 0x1a, 0x06],
            index: 3,
        };
        let line = id.not_read_line();
        assert_eq!(
            line,
            "?S1E could not read message 5e55877a.fcec1a06.3 (no encrypted session)"
        );
        let Ok(WireMessage::Error(text)) = WireMessage::decode(&line) else {
            panic!("not an error line: {line}");
        };
        assert_eq!(MessageRef::from_error_text(&text), Some(id));
        for bad in [
            "could not read message 5E55877A.fcec1a06.3",
            "could not read message 5e55877a.fcec1a06.03",
            "could not read message 5e55877a.fcec1a06",
            "could not read message 5e55877a.fcec1a06.3.4",
            "could not read message 5e55877a.fcec1a0.3",
            "could not read message 5e55877a.fcec1a06.4294967296",
            "could not read message 5e55877a.fcec1a06.-1",
            // The reference ends at whitespace or the end (PROTOCOL.md §2.2).
            "could not read message 5e55877a.fcec1a06.3)",
            "could not read message 5e55877a.fcec1a06.3.",
            "could not read message 5e55877a.fcec1a06.3(no encrypted session)",
            // It follows `message ` at once.
            "could not read message  5e55877a.fcec1a06.3",
            "could not read message\u{3000}5e55877a.fcec1a06.3",
            "message could not be read",
            "",
        ] {
            assert_eq!(MessageRef::from_error_text(bad), None, "{bad}");
        }
        for good in [
            "could not read message 5e55877a.fcec1a06.3",
            "could not read message 5e55877a.fcec1a06.3\tanything (at all)",
        ] {
            assert_eq!(MessageRef::from_error_text(good), Some(id), "{good}");
        }
        assert_eq!(
            MessageRef::from_error_text("could not read message 00000000.ffffffff.4294967295"),
            Some(MessageRef {
                session_id: [0; 4],
                ratchet_key: [0xff; 4],
                index: u32::MAX
            })
        );
    }

    /// The notices for a line that came during a handshake and for one that arrived incomplete
    /// (§6) name the message as the plain one does, each saying so in exactly one way.
    #[test]
    fn unfinished_notices_are_told_apart() {
        let id = MessageRef {
            session_id: [0x5e, 0x55, 0x87, 0x7a],
            ratchet_key: [0xfc, 0xec, 0x1a, 0x06],
            index: 3,
        };
        let unfinished = (id.unfinished_line(), "handshake not finished");
        let incomplete = (id.incomplete_line(), "arrived incomplete");
        for (line, tail) in [&unfinished, &incomplete] {
            assert_eq!(
                *line,
                format!("?S1E could not read message 5e55877a.fcec1a06.3 ({tail})")
            );
            let Ok(WireMessage::Error(text)) = WireMessage::decode(line) else {
                panic!("not an error line: {line}");
            };
            assert_eq!(MessageRef::from_error_text(&text), Some(id));
            let (is_unfinished, is_incomplete) = (
                MessageRef::says_unfinished(&text),
                MessageRef::says_incomplete(&text),
            );
            assert_eq!(
                (is_unfinished, is_incomplete),
                (line == &unfinished.0, line == &incomplete.0),
                "{line}"
            );
        }
        for other in [
            "could not read message 5e55877a.fcec1a06.3  (arrived incomplete)",
            "could not read message 5e55877a.fcec1a06.3 (arrived incomplete) now",
            "could not read message 5e55877a.fcec1a06.3 (no encrypted session)",
        ] {
            assert!(!MessageRef::says_incomplete(other), "{other}");
        }
        let Ok(WireMessage::Error(plain)) = WireMessage::decode(&id.not_read_line()) else {
            panic!("not an error line");
        };
        assert!(!MessageRef::says_unfinished(&plain));
        for other in [
            "could not read message 5e55877a.fcec1a06.3  (handshake not finished)",
            "could not read message 5e55877a.fcec1a06.3 (handshake not finished) now",
            "could not read message 5e55877a.fcec1a06.3 (Handshake not finished)",
            "could not read message 5e55877a.fcec1a06.3\t(handshake not finished)",
            "could not read message 5e55877a.fcec1a06.03 (handshake not finished)",
            "could not read message 5e55877a.fcec1a06.3",
            "could not read message 5e55877a.fcec1a06.3\tjunk (handshake not finished)",
        ] {
            assert!(!MessageRef::says_unfinished(other), "{other}");
        }
    }

    fn arb_data() -> impl Strategy<Value = DataMessage> {
        (
            any::<[u8; 4]>(),
            any::<[u8; 32]>(),
            any::<u32>(),
            any::<u32>(),
            proptest::collection::vec(any::<u8>(), 24..600),
        )
            .prop_map(
                |(session_id, ratchet_key, previous_chain_len, index, ciphertext)| DataMessage {
                    session_id,
                    ratchet_key,
                    previous_chain_len,
                    index,
                    ciphertext,
                },
            )
    }

    fn arb_message() -> impl Strategy<Value = WireMessage> {
        prop_oneof![
            Just(WireMessage::Query),
            (any::<u32>(), any::<[u8; 32]>()).prop_map(|(t, e)| WireMessage::Init(InitMessage {
                initiator_tag: t,
                ephemeral: e
            })),
            (
                any::<u32>(),
                any::<u32>(),
                any::<[u8; 32]>(),
                proptest::collection::vec(any::<u8>(), 48),
                proptest::collection::vec(any::<u8>(), 16..=MAX_SEALED_PAYLOAD)
            )
                .prop_map(|(a, b, e, s, p)| {
                    WireMessage::Response(ResponseMessage {
                        responder_tag: a,
                        initiator_tag: b,
                        ephemeral: e,
                        encrypted_static: s.try_into().unwrap(),
                        encrypted_payload: p,
                    })
                }),
            (
                any::<u32>(),
                any::<u32>(),
                proptest::collection::vec(any::<u8>(), 48),
                proptest::collection::vec(any::<u8>(), 16..=MAX_SEALED_PAYLOAD)
            )
                .prop_map(|(a, b, s, p)| {
                    WireMessage::Confirm(ConfirmMessage {
                        initiator_tag: a,
                        responder_tag: b,
                        encrypted_static: s.try_into().unwrap(),
                        encrypted_payload: p,
                    })
                }),
            arb_data().prop_map(WireMessage::Data),
            "[a-zA-Z0-9 .,]{1,80}".prop_map(|s| WireMessage::Error(s.trim().to_owned())),
            (0u32..(1 << 24), 1u16..4096, "[A-Za-z0-9_-]{1,300}").prop_flat_map(
                |(id, total, chunk)| {
                    (0..total).prop_map(move |index| {
                        WireMessage::Fragment(Fragment {
                            id,
                            index,
                            total,
                            chunk: chunk.clone(),
                        })
                    })
                }
            ),
        ]
    }

    proptest! {
            #[test]
        fn roundtrip(m in arb_message()) {
            let text = m.encode();
            prop_assert!(is_sotto_text(&text));
            prop_assert!(text.is_ascii());
            prop_assert!(!text.contains(['<', '>', '&', '"', '\'', '\n']));
            prop_assert_eq!(WireMessage::decode(&text), Ok(m));
        }

        #[test]
        fn decode_never_panics(s in "\\PC{0,200}") {
            let _ = WireMessage::decode(&s);
            let _ = WireMessage::decode(&format!("?S1D{s}"));
            let _ = WireMessage::decode(&format!("?S1P{s}"));
        }
    }

    /// The decoder as §2 describes it, before byte-level scanning and split base64 decoding
    /// (the `base64` crate on the text after the type letter up to the first whitespace; an
    /// empty body is malformed): the real one must give the same result, error kinds included,
    /// on every line.
    fn reference_decode(text: &str) -> Result<WireMessage, DecodeError> {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD as REF;
        use base64::Engine;
        let (kind, rest) = WireMessage::kind_and_rest(text)?;
        // §2: the body is the text right after the type letter, up to the first whitespace.
        let token = rest.split(char::is_whitespace).next().unwrap_or("");
        match kind {
            b'Q' => return Ok(WireMessage::Query),
            b'E' => return Ok(WireMessage::Error(rest.trim().to_owned())),
            _ if token.is_empty() => return Err(DecodeError::Malformed),
            b'P' if !token.is_ascii() => return Err(DecodeError::Malformed),
            b'P' => return Fragment::from_token(token).map(WireMessage::Fragment),
            _ => {}
        }
        let body = REF.decode(token).map_err(|_| DecodeError::Base64)?;
        if kind == b'D' {
            let (h, len) = DataMessage::decode_header(&body).ok_or(DecodeError::Malformed)?;
            return h
                .with_ciphertext(body[len..].to_vec())
                .map(WireMessage::Data)
                .ok_or(DecodeError::Malformed);
        }
        // I, R and C decode through the same code as before; only the token and the base64
        // engine differ, so compare through the new decoder on the re-encoded token.
        WireMessage::decode(&format!("{PREFIX}{}{}", kind as char, REF.encode(&body)))
    }

    /// Lines close to real ones: a valid line of each type, then cut, extended, with a
    /// character replaced (base64url, whitespace of every kind, '=', non-ASCII, control).
    fn arb_line() -> impl Strategy<Value = String> {
        let edits = proptest::collection::vec(
            (
                any::<proptest::sample::Index>(),
                prop_oneof![
                    Just(' '),
                    Just('\t'),
                    Just('\u{b}'),
                    Just('\u{85}'),
                    Just('\u{a0}'),
                    Just('\u{3000}'),
                    Just('='),
                    Just('+'),
                    Just('é'),
                    Just('\u{1}'),
                    Just('A'),
                    Just('_'),
                ],
                0..3u8,
            ),
            0..3,
        );
        (arb_message(), edits, 0..40usize).prop_map(|(m, edits, cut)| {
            let mut chars: Vec<char> = m.encode().chars().collect();
            for (at, c, op) in edits {
                let i = at.index(chars.len() + 1);
                match op {
                    0 => chars.insert(i, c),
                    1 if i < chars.len() => chars[i] = c,
                    _ => chars.truncate(chars.len().saturating_sub(cut)),
                }
            }
            chars.into_iter().collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        #[test]
        fn decode_agrees_with_reference(line in arb_line()) {
            prop_assert_eq!(WireMessage::decode(&line), reference_decode(&line));
        }
    }

    #[test]
    fn data_header_lengths_and_alignments() {
        // Every header length (38 to 46 bytes) against every ciphertext length mod 3, so each
        // split of the encoder and decoder is exercised.
        for pn in [0u32, 200, 40_000, 3_000_000, u32::MAX] {
            for n in [0u32, 300, 70_000, u32::MAX] {
                for len in 24..30 {
                    let m = DataMessage {
                        session_id: [1, 2, 3, 4],
                        ratchet_key: [9; 32],
                        previous_chain_len: pn,
                        index: n,
                        ciphertext: (0..len as u8).collect(),
                    };
                    let line = WireMessage::Data(m.clone()).encode();
                    assert_eq!(line.len(), m.encoded_len(m.ciphertext.len()));
                    assert_eq!(WireMessage::decode(&line), Ok(WireMessage::Data(m.clone())));
                    assert_eq!(reference_decode(&line), Ok(WireMessage::Data(m)));
                }
            }
        }
    }

    #[test]
    fn a_data_lines_head_names_it() {
        for (index, previous_chain_len, len) in [(0, 0, 24), (127, 5, 40), (300, 70_000, 900)] {
            let ratchet_key = [index as u8 ^ 0x5a; 32];
            let m = DataMessage {
                session_id: [1, 2, 3, 4],
                ratchet_key,
                previous_chain_len,
                index,
                ciphertext: vec![9; len],
            };
            let line = WireMessage::Data(m.clone()).encode();
            let want = Some(MessageRef::of(&m));
            assert_eq!(data_ref_from_head(&line), want, "{index}");
            // The first 64 characters are enough: what the first piece of a cut line holds.
            assert_eq!(data_ref_from_head(&line[..4 + 64]), want, "{index}");
        }
        for not in ["", "?S1D", "?S1DAAAA", "?S1Q", "?S1Iabcdefgh", "hello"] {
            assert_eq!(data_ref_from_head(not), None, "{not:?}");
        }
    }

    #[test]
    fn varint_minimal() {
        for v in [0u32, 1, 127, 128, 300, u32::MAX] {
            let mut b = [0u8; 5];
            let n = write_varint(&mut b, v);
            assert_eq!(get_varint(&b[..n]), Some((v, n)));
        }
        assert_eq!(get_varint(&[0x80, 0x00]), None);
        assert_eq!(get_varint(&[0xff, 0xff, 0xff, 0xff, 0x7f]), None); // > u32
    }

    #[test]
    fn not_sotto() {
        assert_eq!(WireMessage::decode("hello"), Err(DecodeError::NotSotto));
        assert_eq!(WireMessage::decode("?S1Z"), Err(DecodeError::NotSotto));
        assert_eq!(
            WireMessage::decode("  ?S2Dabc"),
            Err(DecodeError::UnknownVersion(2))
        );
        assert!(is_sotto_text("?S9Q hello"));
        assert!(!is_sotto_text("?S2 is it?"));
        assert!(!is_sotto_text("?S0D"));
        assert_eq!(WireMessage::decode("?S1I!!!"), Err(DecodeError::Base64));
        assert_eq!(WireMessage::decode("?S1IAAAA"), Err(DecodeError::Malformed));
    }
}
