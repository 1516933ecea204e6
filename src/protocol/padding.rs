//! Length hiding for plaintexts.
//!
//! The plaintext inside every data message is `type ‖ content ‖ 0x80 ‖ 0x00*` (ISO/IEC 7816-4
//! padding). Its total length `L` (type byte, content and the 0x80 marker) is padded to
//! [`padded_len`]: a multiple of 8 up to 64 bytes, then Padmé (Nikitin et al., PURBs), which
//! leaks O(log log L) bits and costs at most 12 % overhead.

use zeroize::Zeroizing;

/// Length after padding for `len` bytes (type + content + marker).
pub fn padded_len(len: usize) -> usize {
    if len <= 64 {
        return len.max(1).div_ceil(8) * 8;
    }
    let e = usize::BITS - 1 - len.leading_zeros(); // floor(log2 len)
    let s = u32::BITS - (e.leading_zeros()); // floor(log2 e) + 1
    let last_bits = e - s;
    let mask = (1usize << last_bits) - 1;
    (len + mask) & !mask
}

/// Frames and pads `content` with inner type `kind`.
pub fn pad(kind: u8, content: &[u8]) -> Zeroizing<Vec<u8>> {
    pad_with_spare(kind, content, 0)
}

/// [`pad`], in a buffer with `spare` bytes of capacity left after the padded plaintext, so an
/// AEAD tag can be appended in place without moving (and leaving behind an unwiped copy of)
/// the plaintext.
pub fn pad_with_spare(kind: u8, content: &[u8], spare: usize) -> Zeroizing<Vec<u8>> {
    let len = content.len() + 2;
    let mut out = Zeroizing::new(Vec::with_capacity(padded_len(len) + spare));
    out.push(kind);
    out.extend_from_slice(content);
    out.push(0x80);
    out.resize(padded_len(len), 0);
    out
}

/// Splits a padded plaintext into (type, content). `None` if the framing is malformed
/// (PROTOCOL.md §4, "bad framing"): no 0x80 marker after the content, a length other than
/// exactly `padded_len(|content| + 2)`, or a text (type 0x00) that is not UTF-8. A message
/// with bad framing is refused like a forged one, so it changes no state.
pub fn unpad(buf: &[u8]) -> Option<(u8, &[u8])> {
    let (&kind, rest) = buf.split_first()?;
    let end = rest.iter().rposition(|&b| b != 0)?;
    if rest[end] != 0x80 || buf.len() != padded_len(end + 2) {
        return None;
    }
    let content = &rest[..end];
    if kind == TEXT && std::str::from_utf8(content).is_err() {
        return None;
    }
    Some((kind, content))
}

/// The inner type of a text message, whose content must be UTF-8.
const TEXT: u8 = 0x00;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn buckets() {
        assert_eq!(padded_len(1), 8);
        assert_eq!(padded_len(4), 8);
        assert_eq!(padded_len(9), 16);
        assert_eq!(padded_len(64), 64);
        assert_eq!(padded_len(65), 72);
        assert_eq!(padded_len(232), 240);
        assert_eq!(padded_len(256), 256);
        assert_eq!(padded_len(257), 272);
    }

    #[test]
    fn bad_framing_is_refused() {
        let mut over = pad(1, b"x").to_vec();
        over.resize(over.len() + 8, 0);
        assert_eq!(unpad(&over), None, "padded beyond padded_len");
        assert_eq!(unpad(&[1, 0, 0, 0, 0, 0, 0, 0]), None, "no marker");
        assert_eq!(unpad(&pad(0x00, &[0xff])), None, "text not UTF-8");
        assert_eq!(unpad(&pad(0x02, &[0xff])), Some((0x02, &[0xff][..])));
    }

    proptest! {
        #[test]
        fn roundtrip(kind in 1u8.., content in proptest::collection::vec(any::<u8>(), 0..3000)) {
            let p = pad(kind, &content);
            prop_assert_eq!(p.len(), padded_len(content.len() + 2));
            prop_assert!(p.len() * 100 <= (content.len() + 2) * 112 + 800);
            let (k, c) = unpad(&p).unwrap();
            prop_assert_eq!(k, kind);
            prop_assert_eq!(c, &content[..]);
        }
    }
}
