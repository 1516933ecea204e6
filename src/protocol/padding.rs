//! Length hiding for plaintexts.
//!
//! The plaintext inside every data message is `type ‖ content ‖ 0x80 ‖ 0x00*` (ISO/IEC 7816-4
//! padding). Its total length `L` (type byte, content and the 0x80 marker) is padded to
//! [`padded_len`]: a multiple of 8 up to 64 bytes, then Padmé (Nikitin et al., PURBs), which
//! leaks O(log log L) bits and costs at most 12 % overhead.

use super::secret::SecretBytes;

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
pub fn pad(kind: u8, content: &[u8]) -> SecretBytes {
    pad_with_spare(kind, content, 0)
}

/// [`pad`], in a buffer with `spare` bytes of capacity left after the padded plaintext, so an
/// AEAD tag can be appended in place without moving (and leaving behind an unwiped copy of)
/// the plaintext.
pub fn pad_with_spare(kind: u8, content: &[u8], spare: usize) -> SecretBytes {
    let mut out = SecretBytes::default();
    pad_into(kind, content, spare, &mut out);
    out
}

/// [`pad_with_spare`] into `out` (emptied first), which grows, if it must, before the first
/// byte is written: no reallocation moves (and leaves behind) a part of the plaintext.
pub(crate) fn pad_into(kind: u8, content: &[u8], spare: usize, out: &mut Vec<u8>) {
    pad_after(&[], kind, content, spare, out);
}

/// [`pad_into`] after `head` (a data message's header: what is sealed for a line is the line's
/// whole body, header first): `out` is `head` ‖ the padded plaintext, grown, if it must, before
/// the first byte is written.
pub(crate) fn pad_after(head: &[u8], kind: u8, content: &[u8], spare: usize, out: &mut Vec<u8>) {
    let padded = padded_len(content.len() + 2);
    out.clear();
    out.reserve_exact(head.len() + padded + spare);
    out.extend_from_slice(head);
    out.push(kind);
    out.extend_from_slice(content);
    out.push(0x80);
    out.resize(head.len() + padded, 0);
}

/// Splits a padded plaintext into (type, content). `None` if the framing is malformed
/// (PROTOCOL.md §4, "bad framing"): no 0x80 marker after the content, a length other than
/// exactly `padded_len(|content| + 2)`, or a text (type 0x00) that is not UTF-8. A message
/// with bad framing is refused like a forged one, so it changes no state.
pub fn unpad(buf: &[u8]) -> Option<(u8, &[u8])> {
    let (kind, len) = unpad_frame(buf)?;
    let content = buf.get(1..1 + len)?;
    if kind == TEXT && std::str::from_utf8(content).is_err() {
        return None;
    }
    Some((kind, content))
}

/// [`unpad`] without its UTF-8 check: (type, content length). The ratchet checks a text's
/// UTF-8 once, as it makes the `String` (`ratchet::Plaintext`).
pub(crate) fn unpad_frame(buf: &[u8]) -> Option<(u8, usize)> {
    let (&kind, rest) = buf.split_first()?;
    let end = last_nonzero(rest)?;
    if rest[end] != 0x80 || buf.len() != padded_len(end + 2) {
        return None;
    }
    Some((kind, end))
}

/// Index of the last non-zero byte: eight bytes at a time over the zeros (the padding is up
/// to 12 % of a message: about 250 bytes at 4 KiB), then byte by byte.
fn last_nonzero(bytes: &[u8]) -> Option<usize> {
    let mut end = bytes.len();
    while let Some(word) = end.checked_sub(8).and_then(|start| bytes.get(start..end)) {
        if word.iter().fold(0u8, |acc, &b| acc | b) != 0 {
            break;
        }
        end -= 8;
    }
    bytes.get(..end)?.iter().rposition(|&b| b != 0)
}

/// The inner type of a text message, whose content must be UTF-8.
pub(crate) const TEXT: u8 = 0x00;

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

        #[test]
        fn word_scan_finds_the_last_nonzero_byte(
            head in proptest::collection::vec(any::<u8>(), 0..40),
            zeros in 0usize..300,
        ) {
            let mut bytes = head;
            bytes.resize(bytes.len() + zeros, 0);
            prop_assert_eq!(last_nonzero(&bytes), bytes.iter().rposition(|&b| b != 0));
        }
    }
}
