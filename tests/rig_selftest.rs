//! Tests of the e2e rig's own helpers: no servers, no plugin, runs in plain `cargo test`.
//! The e2e assertions are only as good as these: the HTML comparison, the wire parsers, the tap.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use support::*;

#[test]
fn html_to_text_undoes_exactly_what_the_plugin_does() {
    assert_eq!(html_to_text("a<br>b<BR/>c<br />d"), "a\nb\nc\nd");
    assert_eq!(
        html_to_text("&lt;b&gt;x&lt;/b&gt; &amp; &quot;q&quot; &apos;a&apos; &#39;"),
        "<b>x</b> & \"q\" 'a' '"
    );
    assert_eq!(html_to_text("&#x1F510;&#233;"), "🔐é");
    // An escaped <br> is text, not a newline; a real tag stays visible (and fails a comparison).
    assert_eq!(html_to_text("&lt;br&gt;"), "<br>");
    assert_eq!(html_to_text("<b>bold</b>"), "<b>bold</b>");
    // libpurple's linkified echo shows the link text; an escaped <a> is text.
    assert_eq!(
        html_to_text(r#"see <A HREF="https://x.org/?a=1&b=2">https://x.org/?a=1&amp;b=2</A> ok"#),
        "see https://x.org/?a=1&b=2 ok"
    );
    assert_eq!(
        html_to_text("&lt;a href=&quot;x&quot;&gt;y&lt;/a&gt;"),
        r#"<a href="x">y</a>"#
    );
    // Stray ampersands survive.
    assert_eq!(
        html_to_text("fish & chips &nosuch; &"),
        "fish & chips &nosuch; &"
    );
}

#[test]
fn client_lines_parse_with_escapes() {
    let raw = r"WRITE bob 2 alice hello world\nsecond\\line\ttab";
    let l = support_line(raw);
    let w = l.written().expect("WRITE");
    assert_eq!(
        (w.conv.as_str(), w.flags, w.who.as_str()),
        ("bob", 2, "alice")
    );
    assert_eq!(w.html, "hello world\nsecond\\line\ttab");
    let t = support_line(r"TITLE alice@localhost/e2e bob\s(encrypted) x");
    assert_eq!(t.field(0), "alice@localhost/e2e");
    assert_eq!(t.field(1), "bob (encrypted) x");
    assert!(Written {
        conv: "alice@localhost/e2e".into(),
        flags: 0,
        who: String::new(),
        html: String::new()
    }
    .is_with("alice@localhost"));
    assert_eq!(escape_arg("a b\nc\\"), r"a\sb\nc\\");
}

fn support_line(raw: &str) -> Line {
    // Line::parse is private to the rig; go through the same path the client reader uses.
    support::parse_line_for_tests(raw)
}

#[test]
fn fingerprints_are_found_in_prose() {
    let t = "Sotto: encrypted conversation started. bob's fingerprint is 0A1B2 C3D4E 5F607 18293 A4B5C D6E7F 80912 3A4B5. (unverified)";
    assert_eq!(
        find_fingerprint(t).as_deref(),
        Some("0A1B2 C3D4E 5F607 18293 A4B5C D6E7F 80912 3A4B5")
    );
    assert_eq!(
        find_fingerprint("starting an encrypted conversation with bob…"),
        None
    );
}

#[test]
fn needles_contain_a_space_and_no_markup() {
    let n = needles("<b>x</b> & \"q\" the walrus tango\nis here", 8);
    assert!(n.contains(&"the walrus".to_string()), "{n:?}");
    assert!(
        n.iter()
            .all(|s| s.contains(' ') && !s.contains('<') && !s.contains('\n')),
        "{n:?}"
    );
    let long: String = (0..1000).map(|i| format!("w{i:04} ")).collect();
    let n = needles(&long, 8);
    assert!(
        n.len() >= 8 && n.contains(&"w0998 w0999".to_string()),
        "{n:?}"
    );
}

#[test]
fn irc_and_xmpp_wire_parsers() {
    let wire = b"PING :x\r\nPRIVMSG bob :?S1IAAAA\r\n:alice!~alice@127.0.0.1 PRIVMSG bob :?S1DBBBB\r\nPRIVMSG bob :hello\r\n";
    let l = irc_sotto_lines(wire);
    assert_eq!(l.len(), 2);
    assert_eq!(
        (l[0].kind, l[0].target.as_str(), l[0].payload.as_str()),
        ('I', "bob", "?S1IAAAA")
    );
    assert_eq!((l[1].kind, l[1].payload.as_str()), ('D', "?S1DBBBB"));
    let x = b"<message to='bob@localhost'><body>?S1RCCCC</body></message><message><body>plain</body></message>";
    assert_eq!(xmpp_sotto_bodies(x), vec!["?S1RCCCC".to_string()]);
}

#[test]
fn tap_forwards_and_records_both_directions() {
    let upstream = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = upstream.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = upstream.accept().expect("accept");
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).expect("read");
        s.write_all(b"pong!").expect("write");
        buf
    });
    let tap = Tap::start(port);
    let mut c = TcpStream::connect(("127.0.0.1", tap.port)).expect("connect tap");
    c.write_all(b"ping?").expect("write");
    let mut buf = [0u8; 5];
    c.read_exact(&mut buf).expect("read");
    assert_eq!(&buf, b"pong!");
    assert_eq!(&server.join().expect("server"), b"ping?");
    assert_eq!(tap.bytes(Dir::Up), b"ping?");
    assert_eq!(tap.bytes(Dir::Down), b"pong!");
    assert!(tap.contains("ng?") && tap.contains("ng!") && !tap.contains("nope"));
    assert_eq!(tap.connections(), 1);
    let caught = std::panic::catch_unwind(|| assert_not_on_wire(&[&tap], "ping", "probe"));
    assert!(caught.is_err());
}

/// A tap told to drop lines to its client drops exactly those, whole, even when a line comes
/// split across reads; it records them as sent by the server; with the filter gone, lines
/// pass again.
#[test]
fn tap_drops_the_lines_it_is_told_to() {
    let upstream = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = upstream.local_addr().expect("addr").port();
    let tap = Tap::start(port);
    tap.drop_down(Some(Box::new(|line| line.contains("drop me"))));
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let server = std::thread::spawn(move || {
        let (mut s, _) = upstream.accept().expect("accept");
        for chunk in [&b"keep 1\r\ndrop "[..], b"me\r\nkeep", b" 2\r\n"] {
            s.write_all(chunk).expect("write");
            s.flush().expect("flush");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        wait.recv().expect("go");
        s.write_all(b"drop me too\r\n").expect("write");
    });
    let mut c = TcpStream::connect(("127.0.0.1", tap.port)).expect("connect tap");
    let mut got = vec![0u8; "keep 1\r\nkeep 2\r\n".len()];
    c.read_exact(&mut got).expect("read");
    assert_eq!(got, b"keep 1\r\nkeep 2\r\n");
    assert_eq!(tap.dropped(), ["drop me"]);
    tap.drop_down(None);
    go.send(()).expect("go");
    let mut rest = vec![0u8; "drop me too\r\n".len()];
    c.read_exact(&mut rest).expect("read");
    assert_eq!(rest, b"drop me too\r\n");
    server.join().expect("server");
    assert_eq!(
        tap.bytes(Dir::Down),
        b"keep 1\r\ndrop me\r\nkeep 2\r\ndrop me too\r\n"
    );
}

#[test]
fn sotto_data_headers_parse_and_fragments_reassemble() {
    // The "hi" line of docs/PROTOCOL.md §7.
    let hi =
        "?S1Dro-5vhT-NWj9fsmB9CfHgHzm5Af-fV4oje0mFON9EUiDaPcYAAASJHBdNsXLZhFEBQHkK1vdi0wAz2Ie8kM";
    let (h, ct) = parse_data(hi).expect("data line");
    assert_eq!((h.sid.len(), h.rk.len(), h.n), (4, 32, 0));
    assert!(!ct.is_empty());
    assert_eq!(b64u_decode("AAEC").expect("b64u"), vec![0, 1, 2]);
    // Split `hi` into three fragments (id "AAAB", totals/indices in base64url digits), out of order.
    let (a, b, c) = (&hi[..30], &hi[30..60], &hi[60..]);
    let frags = vec![
        format!("?S1PAAABABAD{b}"),
        "?S1IAAAA".to_string(),
        format!("?S1PAAABACAD{c}"),
        format!("?S1PAAABAAAD{a}"),
    ];
    assert_eq!(
        reassemble(&frags),
        vec!["?S1IAAAA".to_string(), hi.to_string()]
    );
}
