//! What protocol plugins do to a Sotto line on its way, undone (PROTOCOL.md §2, "Hosts that
//! rewrite text").
//!
//! A line's body is base64url, whose only character with a meaning in chat markdown is `_`.
//! Plugins that speak markdown rewrite it, and leave a trace where they do:
//!
//! | what the plugin did | seen by Sotto | restored |
//! |---|---|---|
//! | `_x_` read as italics (purple-discord, slack-libpurple) | `<i>x</i>` (or `<em>`) | `_x_` |
//! | `__x__` read as underline (purple-discord) | `<u>x</u>` | `__x__` |
//! | a `_` ending a word escaped on sending, kept on receiving (purple-discord) | `\_` | `_` |
//!
//! None of `<`, `>`, `&` or `\` ever occurs in a Sotto line, so each trace is unambiguous: the
//! line is restored exactly, with no change to the wire and nothing to negotiate. A restoration
//! that went wrong could not make a message say something else: every line that carries keys or
//! text is authenticated, so a wrong one is refused like any damaged line.
//!
//! ```text
//! ?S1DaB<i>cd</i>e<u>f</u>\_   →   ?S1DaB_cd_e__f___
//! hello <i>there</i>           →   (not a Sotto line: left to the caller)
//! ```

use crate::protocol::wire::is_sotto_text;

/// The types whose body is base64url: a trace found in one of them is a plugin's.
fn has_base64_body(line: &str) -> bool {
    matches!(
        line.as_bytes().get(..4),
        Some([b'?', b'S', b'1', b'I' | b'R' | b'C' | b'D' | b'P'])
    )
}

/// What a tag stands for inside a Sotto line: `_` for italics, `__` for underline, nothing for
/// any other tag (a font, a span, a line break a plugin added).
fn tag_stands_for(tag: &str) -> &'static str {
    let name = tag
        .trim_start_matches('/')
        .split(|c: char| c.is_whitespace() || c == '/')
        .next()
        .unwrap_or("");
    if name.eq_ignore_ascii_case("i") || name.eq_ignore_ascii_case("em") {
        "_"
    } else if name.eq_ignore_ascii_case("u") {
        "__"
    } else {
        ""
    }
}

/// Decode the character entities a plugin may have written (`&amp;`, `&#95;` ...); an unknown
/// one is kept as written.
fn push_text(out: &mut String, text: &str) {
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp..];
        // Only the next 11 bytes are looked at: a `;` far on is not this entity's, and looking
        // for it would scan the rest of the line once per `&` (quadratic on a hostile line).
        let end = after.bytes().take(11).position(|b| b == b';');
        let decoded = end.and_then(|end| {
            let name = &after[1..end];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                // Digits only: Rust's parsers also take a leading `+` (`&#+95;`), which
                // PROTOCOL.md §2 keeps as written.
                _ => name
                    .strip_prefix("#x")
                    .or_else(|| name.strip_prefix("#X"))
                    .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| {
                        name.strip_prefix('#')
                            .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
                            .and_then(|d| d.parse().ok())
                    })
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, end + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &after[len..];
            }
            None => {
                out.push('&');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
}

/// The Sotto line in `received` (markup or text, as a protocol plugin delivered or wrote it),
/// with every plugin's trace undone; `None` when it is not a line with a base64url body (other
/// text, a query, an error notice), which the caller treats as before.
pub(crate) fn sotto_line(received: &str) -> Option<String> {
    // Most messages are not Sotto lines: one pass to find that out.
    if !received.contains("?S") {
        return None;
    }
    let mut text = String::with_capacity(received.len());
    let mut rest = received;
    while let Some(lt) = rest.find('<') {
        push_text(&mut text, &rest[..lt]);
        let Some(gt) = rest[lt..].find('>') else {
            push_text(&mut text, &rest[lt..]);
            rest = "";
            break;
        };
        text.push_str(tag_stands_for(&rest[lt + 1..lt + gt]));
        rest = &rest[lt + gt + 1..];
    }
    push_text(&mut text, rest);
    let line = text.trim();
    if !is_sotto_text(line) || !has_base64_body(line) {
        return None;
    }
    // A `\` is never part of a line: it escaped the `_` after it.
    Some(line.replace("\\_", "_"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// purple-discord's treatment of a line, written from its documented behaviour (markdown.c:
    /// `markdown_escape_md` on sending, `markdown_convert_markdown` on receiving, for a text
    /// with no space, `*`, `~`, `` ` `` or `|`, which a Sotto line never has): the oracle the
    /// restoration must invert. The end-to-end tests run the C emulation of the same rules
    /// (tests/prpl/sotto-loop.c) through real libpurple.
    fn discord(line: &str) -> String {
        // Sending: a `_` at the start or end of the (one) word is escaped.
        let b = line.as_bytes();
        let mut sent = String::new();
        for (i, &c) in b.iter().enumerate() {
            if c == b'_' && (i == 0 || i + 1 == b.len()) {
                sent.push('\\');
            }
            sent.push(c as char);
        }
        // Receiving.
        let s = sent.as_bytes();
        let word_ends_in_underscore = |from: usize| -> bool {
            let mut k = from;
            while k < s.len() {
                if s[k] == b'_' {
                    return k + 1 == s.len();
                }
                k += 1;
            }
            false
        };
        let (mut italics, mut underline) = (false, false);
        let mut out = String::new();
        let mut i = 0;
        while i < s.len() {
            let c = s[i];
            if c == b'\\' && i + 1 < s.len() {
                i += 1;
                let next = s[i];
                let matters = next == b'_'
                    && (s.get(i + 1) == Some(&b'_') || italics || word_ends_in_underscore(i + 1));
                if next != b'_' || !matters {
                    out.push('\\');
                }
                out.push(next as char);
            } else if c == b'_' && s.get(i + 1) == Some(&b'_') {
                out.push_str(if underline { "</u>" } else { "<u>" });
                underline = !underline;
                i += 1;
            } else if c == b'_' && (italics || word_ends_in_underscore(i + 1)) {
                out.push_str(if italics { "</i>" } else { "<i>" });
                italics = !italics;
            } else {
                out.push(c as char);
            }
            i += 1;
        }
        out
    }

    #[test]
    fn markdown_traces_are_undone() {
        for (seen, line) in [
            ("?S1DaB<u>cd</u>e", "?S1DaB__cd__e"),
            ("?S1Dab<i>cd\\_", "?S1Dab_cd_"),
            ("?S1Dabcd\\_", "?S1Dabcd_"),
            ("?S1Da<U>b</U>c<em>d</em>", "?S1Da__b__c_d_"),
            ("<span style='x'>?S1Pabc<i>d</i>e</span>", "?S1Pabc_d_e"),
            ("?S1Iab&#95;c", "?S1Iab_c"),
            ("?S1Iab&#x000005F;c", "?S1Iab_c"),
            // Longer than 10 characters from `&` to `;`: not an entity, kept as written.
            ("?S1Iab&#x0000005F;c", "?S1Iab&#x0000005F;c"),
            // Digits only (Rust's parsers take a sign).
            ("?S1Iab&#+95;c", "?S1Iab&#+95;c"),
            ("?S1Iab&#x+5f;c", "?S1Iab&#x+5f;c"),
            ("?S1Iab&#X5F;c", "?S1Iab_c"),
            ("  ?S1Rabc\n", "?S1Rabc"),
        ] {
            assert_eq!(sotto_line(seen).as_deref(), Some(line), "{seen}");
        }
    }

    #[test]
    fn other_text_is_left_to_the_caller() {
        for text in [
            "hello",
            "<b>hello</b> ?S",
            "?S1Q Sotto end-to-end encryption requested",
            "?S1E some <i>notice</i>",
            "say ?S1Dabc to me",
            "<i>?S1Dabc</i>",
        ] {
            assert_eq!(sotto_line(text), None, "{text}");
        }
    }

    #[test]
    fn a_plain_line_is_unchanged() {
        let line = "?S1D_PgkZRT-NWj9fsmB9CfHgHzm5Af-fV4oje0mFON9EUiDaPcYAABDifPby8q9nUoacffbu7PhXbCp49FAYbI";
        assert_eq!(sotto_line(line).as_deref(), Some(line));
    }

    #[test]
    fn the_oracle_changes_lines() {
        assert_eq!(discord("?S1Dab__cd"), "?S1Dab<u>cd");
        assert_eq!(discord("?S1Da_bc_"), "?S1Da<i>bc_");
        assert_eq!(discord("?S1Dabc_"), "?S1Dabc\\_");
        assert_eq!(discord("?S1Da_b_c"), "?S1Da_b_c");
    }

    proptest! {
        #[test]
        fn every_discord_rewrite_is_undone(
            kind in prop::sample::select(vec!['I', 'R', 'C', 'D', 'P']),
            body in "[A-Za-z0-9_-]{1,400}",
        ) {
            let line = format!("?S1{kind}{body}");
            prop_assert_eq!(sotto_line(&discord(&line)), Some(line));
        }

        #[test]
        fn underscore_heavy_lines_are_undone(body in "[a_]{1,60}") {
            let line = format!("?S1D{body}");
            prop_assert_eq!(sotto_line(&discord(&line)), Some(line));
        }
    }
}
