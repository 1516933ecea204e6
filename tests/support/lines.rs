//! The test client's stdout: one tagged line per event (tests/README.md lists them), parsed into
//! [`Line`]s and `WRITE`s into [`Written`]s; and the escaping of arguments on its stdin.

use super::html_to_text;

/// libpurple's `PurpleMessageFlags` bits that the tests look at.
pub mod flags {
    pub const SEND: u32 = 0x0001;
    pub const RECV: u32 = 0x0002;
    pub const SYSTEM: u32 = 0x0004;
    pub const AUTO_RESP: u32 = 0x0008;
    pub const NO_LOG: u32 = 0x0040;
    pub const ERROR: u32 = 0x0200;
    pub const NOTIFY: u32 = 0x2000;
}

/// One line the test client printed: a tag and its unescaped fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub tag: String,
    pub fields: Vec<String>,
}

/// A `WRITE` line: something libpurple wrote into a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub conv: String,
    pub flags: u32,
    pub who: String,
    /// The message as the conversation got it: HTML markup.
    pub html: String,
}

impl Written {
    /// What the user sees: the markup with `<br>` as newlines and entities decoded.
    pub fn shown(&self) -> String {
        html_to_text(&self.html)
    }
    pub fn has(&self, f: u32) -> bool {
        self.flags & f == f
    }
    /// Is this conversation the one with `peer`? On XMPP libpurple may name it by the full JID.
    pub fn is_with(&self, peer: &str) -> bool {
        let bare = self.conv.split('/').next().unwrap_or("");
        // A full JID as the peer (a group chat's occupant, `room@server/nick`) names exactly one.
        bare.eq_ignore_ascii_case(peer) || self.conv.eq_ignore_ascii_case(peer)
    }
}

impl Line {
    /// Whether this is a message box (`NOTIFY`) with `needle` in one of its fields.
    pub fn is_box_with(&self, needle: &str) -> bool {
        self.tag == "NOTIFY" && self.fields.iter().any(|f| f.contains(needle))
    }

    pub(super) fn parse(raw: &str) -> Line {
        let (tag, rest) = raw.split_once(' ').unwrap_or((raw, ""));
        let arity = match tag {
            "WRITE" | "DROPPED" | "NOTIFY" => 4,
            "REQUEST" => 5,
            "CMD" | "REQUEST_ITEM" => 3,
            "TITLE" | "ERROR" | "CRITICAL" | "WARNING" | "MENU" => 2,
            "READY" | "BYE" => 0,
            _ => 1,
        };
        let fields = if arity == 0 {
            Vec::new()
        } else {
            rest.splitn(arity, ' ').map(unescape_field).collect()
        };
        Line {
            tag: tag.to_string(),
            fields,
        }
    }

    pub fn field(&self, i: usize) -> &str {
        self.fields.get(i).map(String::as_str).unwrap_or("")
    }

    pub fn written(&self) -> Option<Written> {
        if self.tag != "WRITE" {
            return None;
        }
        Some(Written {
            conv: self.field(0).to_string(),
            flags: self.field(1).parse().unwrap_or(0),
            who: self.field(2).to_string(),
            html: self.field(3).to_string(),
        })
    }
}

fn unescape_field(f: &str) -> String {
    if f == "-" {
        return String::new();
    }
    let mut out = String::with_capacity(f.len());
    let mut it = f.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('s') => out.push(' '),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

/// [`Line`] parsing, exposed for the rig's self-test.
pub fn parse_line_for_tests(raw: &str) -> Line {
    Line::parse(raw)
}

/// Escape a command argument for the test client's stdin.
pub fn escape_arg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            ' ' => out.push_str("\\s"),
            c => out.push(c),
        }
    }
    out
}
