//! Reading the recorded bytes: lines, IRC PRIVMSGs and XMPP `<body>`s that carry Sotto text, and
//! Sotto lines themselves (fragments, data headers) as docs/PROTOCOL.md defines them.

use super::Proto;

/// Position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Recorded bytes as lines: lossy UTF-8, CR stripped, empty lines left out.
pub fn split_lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .split('\n')
        .map(|l| l.trim_end_matches('\r').to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// A Sotto line on an IRC wire: the payload of a PRIVMSG whose text starts with `?S1`.
#[derive(Clone, Debug)]
pub struct IrcSottoLine {
    /// The whole IRC line as it crossed the wire (without CRLF).
    pub raw: String,
    /// The PRIVMSG target.
    pub target: String,
    /// The Sotto type letter after `?S1`.
    pub kind: char,
    /// The text after `:` (the Sotto wire line).
    pub payload: String,
}

/// All PRIVMSG lines carrying Sotto text in raw IRC `bytes` (either direction).
pub fn irc_sotto_lines(bytes: &[u8]) -> Vec<IrcSottoLine> {
    split_lines(bytes)
        .into_iter()
        .filter_map(|raw| {
            let body = if raw.starts_with(':') {
                raw.split_once(' ')?.1
            } else {
                raw.as_str()
            };
            let rest = body.strip_prefix("PRIVMSG ")?;
            let (target, text) = rest.split_once(" :")?;
            let kind = text.strip_prefix("?S1")?.chars().next()?;
            Some(IrcSottoLine {
                raw: raw.clone(),
                target: target.to_string(),
                kind,
                payload: text.to_string(),
            })
        })
        .collect()
}

/// Sotto wire lines in raw XMPP bytes: the text of each `<body>` that starts with `?S1`.
pub fn xmpp_sotto_bodies(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = Vec::new();
    let mut rest: &str = &text;
    while let Some(i) = rest.find("<body>") {
        rest = &rest[i + 6..];
        if let Some(j) = rest.find("</body>") {
            if rest[..j].starts_with("?S1") {
                out.push(rest[..j].to_string());
            }
            rest = &rest[j..];
        }
    }
    out
}

/// The texts of the transform test protocol's messages in relay `bytes` (either direction:
/// `MSG <name> <text>` and the relay's `SENT <to> self|other <text>`), unescaped, in order.
pub fn loop_messages(bytes: &[u8]) -> Vec<String> {
    split_lines(bytes)
        .into_iter()
        .filter_map(|l| {
            let text = match l.strip_prefix("MSG ") {
                Some(rest) => rest.split_once(' ')?.1.to_string(),
                None => l.strip_prefix("SENT ")?.splitn(3, ' ').nth(2)?.to_string(),
            };
            let mut out = String::with_capacity(text.len());
            let mut chars = text.chars();
            while let Some(c) = chars.next() {
                match (c, c == '\\') {
                    (_, true) => match chars.next() {
                        Some('n') => out.push('\n'),
                        Some('r') => out.push('\r'),
                        Some(o) => out.push(o),
                        None => out.push('\\'),
                    },
                    (c, false) => out.push(c),
                }
            }
            Some(out)
        })
        .collect()
}

/// Every Sotto wire line a client gave the server (`Dir::Up`) on this tap, in order, whichever
/// the protocol: IRC PRIVMSG payloads, XMPP `<body>` texts, the relay's message texts, SIP
/// MESSAGE bodies.
pub fn sotto_lines(proto: Proto, bytes: &[u8]) -> Vec<String> {
    match proto {
        Proto::Irc => irc_sotto_lines(bytes)
            .into_iter()
            .map(|l| l.payload)
            .collect(),
        Proto::Xmpp => xmpp_sotto_bodies(bytes),
        Proto::Loop(_) => loop_messages(bytes)
            .into_iter()
            .filter(|t| t.starts_with("?S1"))
            .collect(),
        Proto::Sip(_) => super::sip_messages(bytes)
            .into_iter()
            .filter(|t| t.starts_with("?S1"))
            .collect(),
    }
}

/// Whole Sotto lines: `?S1P` fragments (PROTOCOL.md §6: `?S1P` ‖ id (4) ‖ index (2) ‖ total (2)
/// ‖ chunk, numbers in base64url digits) reassembled, every other line as is. Incomplete
/// fragment sets are left out.
pub fn reassemble(lines: &[String]) -> Vec<String> {
    fn num(s: &str) -> Option<usize> {
        s.bytes()
            .try_fold(0usize, |acc, c| Some(acc * 64 + b64u_value(c)? as usize))
    }
    let mut out = Vec::new();
    let mut parts: std::collections::HashMap<String, (usize, Vec<Option<String>>)> =
        Default::default();
    for l in lines {
        let Some(rest) = l.strip_prefix("?S1P") else {
            out.push(l.clone());
            continue;
        };
        if rest.len() < 8 {
            continue;
        }
        let (id, index, total) = (&rest[..4], num(&rest[4..6]), num(&rest[6..8]));
        let (Some(index), Some(total)) = (index, total) else {
            continue;
        };
        if index >= total {
            continue;
        }
        let entry = parts
            .entry(id.to_string())
            .or_insert_with(|| (total, vec![None; total]));
        if entry.0 != total {
            continue;
        }
        entry.1[index] = Some(rest[8..].to_string());
        if entry.1.iter().all(Option::is_some) {
            let whole: String = entry.1.iter().flatten().map(String::as_str).collect();
            parts.remove(id);
            out.push(whole);
        }
    }
    out
}

fn b64u_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    }
}

/// base64url without padding.
pub fn b64u_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        acc = (acc << 6) | u32::from(b64u_value(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The header of a data message `?S1D` (PROTOCOL.md §2: `sid (4) ‖ rk (32) ‖ pn varint ‖
/// n varint ‖ ct`): what determines its message key and nonce is (sid, rk, n).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DataHeader {
    pub sid: Vec<u8>,
    pub rk: Vec<u8>,
    pub n: u64,
}

/// Parse a whole `?S1D` line into its header and ciphertext.
pub fn parse_data(line: &str) -> Option<(DataHeader, Vec<u8>)> {
    let body = b64u_decode(line.strip_prefix("?S1D")?.split_whitespace().next()?)?;
    let (sid, rest) = (body.get(..4)?, body.get(4..)?);
    let (rk, mut rest) = (rest.get(..32)?, rest.get(32..)?);
    let mut varint = || -> Option<u64> {
        let mut v = 0u64;
        for i in 0..5 {
            let b = *rest.first()?;
            rest = &rest[1..];
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    };
    let _pn = varint()?;
    let n = varint()?;
    Some((
        DataHeader {
            sid: sid.to_vec(),
            rk: rk.to_vec(),
            n,
        },
        rest.to_vec(),
    ))
}
