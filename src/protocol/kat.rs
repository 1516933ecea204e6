//! Known-answer tests for the primitives, through the same crate calls the protocol makes.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::ChaCha20Poly1305;
use x25519_dalek::{PublicKey, StaticSecret};

fn h32(s: &str) -> [u8; 32] {
    hex::decode(s).unwrap().try_into().unwrap()
}

/// RFC 7748 §6.1.
#[test]
fn x25519_rfc7748() {
    let a = StaticSecret::from(h32(
        "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
    ));
    let b = StaticSecret::from(h32(
        "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
    ));
    let a_pub = PublicKey::from(&a);
    let b_pub = PublicKey::from(&b);
    assert_eq!(
        hex::encode(a_pub.as_bytes()),
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    );
    assert_eq!(
        hex::encode(b_pub.as_bytes()),
        "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
    );
    let k = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
    assert_eq!(hex::encode(a.diffie_hellman(&b_pub).as_bytes()), k);
    assert_eq!(hex::encode(b.diffie_hellman(&a_pub).as_bytes()), k);
    // A low-order point gives a non-contributory result, which the protocol rejects.
    assert!(!a
        .diffie_hellman(&PublicKey::from([0u8; 32]))
        .was_contributory());
}

/// RFC 8439 §2.8.2.
#[test]
fn chacha20poly1305_rfc8439() {
    let key: Vec<u8> = (0x80..=0x9f).collect();
    let nonce = hex::decode("070000004041424344454647").unwrap();
    let aad = hex::decode("50515253c0c1c2c3c4c5c6c7").unwrap();
    let pt = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
    let cipher = ChaCha20Poly1305::new(key.as_slice().into());
    let ct = cipher
        .encrypt(nonce.as_slice().into(), Payload { msg: pt, aad: &aad })
        .unwrap();
    assert_eq!(
        hex::encode(&ct),
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116\
         1ae10b594f09e26a7e902ecbd0600691"
    );
    let back = cipher
        .decrypt(
            nonce.as_slice().into(),
            Payload {
                msg: &ct,
                aad: &aad,
            },
        )
        .unwrap();
    assert_eq!(back, pt);
}

/// RFC 8439 §2.8.2 through `ring`, the AEAD of data messages (`ratchet.rs`), sealed in place
/// with the tag apart as `MessageKey::encrypt` does, and opened the same way.
#[test]
fn chacha20poly1305_rfc8439_ring() {
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
    let key: Vec<u8> = (0x80..=0x9f).collect();
    let nonce: [u8; 12] = hex::decode("070000004041424344454647")
        .unwrap()
        .try_into()
        .unwrap();
    let aad = hex::decode("50515253c0c1c2c3c4c5c6c7").unwrap();
    let pt = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
    let k = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &key).unwrap());
    let mut buf = pt.to_vec();
    let tag = k
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&aad),
            &mut buf,
        )
        .unwrap();
    assert_eq!(
        hex::encode(&buf),
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116"
    );
    assert_eq!(
        hex::encode(tag.as_ref()),
        "1ae10b594f09e26a7e902ecbd0600691"
    );
    let opened = k
        .open_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&aad),
            tag,
            &mut buf,
            0..,
        )
        .unwrap();
    assert_eq!(opened, &pt[..]);
}
