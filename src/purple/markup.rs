//! The canonical plaintext and its display form.
//!
//! Inside the ciphertext, a message is plain UTF-8 text: what the user typed, with newlines as
//! `\n` and no markup. On the way in, libpurple's markup is stripped (`glue::markup_to_text`, which
//! is libpurple's own `purple_markup_strip_html`: `<br>` → `\n`, entities decoded, a linkified
//! `<a>` reduced to its text). On the way out, [`text_to_html`] escapes the decrypted text so a
//! peer's `<b>` or `<script>` is shown as typed, never rendered.

/// Escape plain text for a libpurple conversation (which renders HTML): `& < > " '` become
/// entities, newlines become `<br>`, carriage returns are dropped.
pub(crate) fn text_to_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("<br>"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Whether incoming text may carry markup or entities that must be stripped before the core sees
/// it. IRC and XMPP deliver received text HTML-escaped; Sotto's wire text itself never contains
/// `<` or `&`.
pub(crate) fn needs_strip(text: &str) -> bool {
    text.contains('<') || text.contains('&')
}

/// Whether outgoing markup carries an image (`<IMG ID="n">` for one inserted in Pidgin, an
/// `<img src=…>` from another source): stripping drops it, so encrypted it would not go.
pub(crate) fn has_image(markup: &str) -> bool {
    let lower = markup.to_ascii_lowercase();
    lower.match_indices("<img").any(|(i, m)| {
        lower[i + m.len()..]
            .chars()
            .next()
            .is_none_or(|c| c.is_ascii_whitespace() || c == '>' || c == '/')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_html_specials_and_newlines() {
        assert_eq!(
            text_to_html("<b>x</b> & \"q\" 'a'\nline2\r\n"),
            "&lt;b&gt;x&lt;/b&gt; &amp; &quot;q&quot; &apos;a&apos;<br>line2<br>"
        );
    }

    #[test]
    fn keeps_unicode_and_emoji() {
        assert_eq!(text_to_html("héllo 🌍 日本"), "héllo 🌍 日本");
    }

    #[test]
    fn images_are_found_in_markup() {
        assert!(has_image("look <IMG ID=\"3\">"));
        assert!(has_image("<img src='x.png'/>"));
        assert!(has_image("a<img\nsrc=x>"));
        assert!(!has_image("<imgur link> and &lt;img&gt;"));
        assert!(!has_image("no image here"));
    }

    #[test]
    fn strip_needed_only_for_markup() {
        assert!(!needs_strip("?S1 abc+/="));
        assert!(needs_strip("a &amp; b"));
        assert!(needs_strip("<a href='x'>x</a>"));
    }
}
