//! What the user sees: conversation markup read back as text (the comparison every test makes),
//! and fingerprints found in prose.

/// What a conversation shows for a message, as text: the comparison every test makes.
///
/// The plugin HTML-escapes decrypted plain text and turns `\n` into `<br>`; libpurple's own
/// plaintext path does the same, and libpurple's local echo of a sent message on an HTML
/// protocol (XMPP) wraps URLs and addresses in `<a href>` (`purple_markup_linkify`). So: the
/// `<a …>` and `</a>` tags are dropped (a link shows its text), `<br>` / `<br/>` / `<br />`
/// become `\n`, then the entities `&lt; &gt; &amp; &quot; &apos; &#NN; &#xHH;` are decoded.
/// Nothing else is touched: any other tag survives as literal `<...>`, and a peer's typed
/// `<a href>` arrives escaped, so markup that got rendered instead of shown fails an exact
/// comparison.
pub fn html_to_text(html: &str) -> String {
    let mut s = String::with_capacity(html.len());
    let lower = html.to_ascii_lowercase();
    let mut i = 0;
    while i < html.len() {
        let rest = &lower[i..];
        if let Some(b) = ["<br>", "<br/>", "<br />"]
            .iter()
            .find(|b| rest.starts_with(**b))
        {
            s.push('\n');
            i += b.len();
            continue;
        }
        if rest.starts_with("</a>") {
            i += 4;
            continue;
        }
        if rest.starts_with("<a ") {
            if let Some(end) = rest.find('>') {
                i += end + 1;
                continue;
            }
        }
        let c = html[i..].chars().next().expect("char");
        s.push(c);
        i += c.len_utf8();
    }
    decode_entities(&s)
}

fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let c = match name {
                "lt" => Some('<'),
                "gt" => Some('>'),
                "amp" => Some('&'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ if name.starts_with("#x") || name.starts_with("#X") => {
                    u32::from_str_radix(&name[2..], 16)
                        .ok()
                        .and_then(char::from_u32)
                }
                _ if name.starts_with('#') => name[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            };
            c.map(|c| (c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A Sotto fingerprint as shown to users: 8 groups of 5 hex digits separated by spaces.
pub fn find_fingerprint(text: &str) -> Option<String> {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || ":,;.()\"'".contains(c))
        .collect();
    let is_group = |w: &str| w.len() == 5 && w.chars().all(|c| c.is_ascii_hexdigit());
    words
        .windows(8)
        .find(|w| w.iter().all(|g| is_group(g)))
        .map(|w| w.join(" ").to_ascii_uppercase())
}
