//! The names each side states inside the encrypted handshake, so a conversation is bound to who
//! both sides believe they are, not only to keys.
//!
//! Keys alone leave a gap (identity misbinding): mallory can forward alice's handshake to bob
//! under his own name, and bob's "mallory" window then runs on alice's key. So each side puts
//! into its encrypted payload (`?S1R` for the responder, `?S1C` for the initiator) the name it
//! believes it has on the network and the name it believes it talks to. The payload is
//! authenticated by the sender's identity key, so nobody on the path can change it.
//!
//! ```text
//! payload = len_a (1) ‖ own name (len_a bytes) ‖ len_b (1) ‖ peer name (len_b bytes) ‖ reserved
//! ```
//!
//! Names are the host's normalized forms (libpurple's `purple_normalize`: an IRC nick
//! lower-cased, an XMPP bare JID), UTF-8. A name longer than 255 bytes is stated as
//! `sha256:` and the 64 lower-case hex digits of its SHA-256 (both sides compute the same). An
//! empty name means "not known" (a side that is offline, say) and is not compared. Bytes after
//! the second name are reserved: ignored. An empty payload (a side that states no names) is
//! accepted and compares nothing.
//!
//! The receiver compares what the peer states with what it sees: the peer's own name with the
//! name the handshake came from, and the name the peer believes it talks to with its own. A
//! mismatch does not abort the handshake (IRC nicks churn): sending is held, as for a changed
//! key, until the user acknowledges it.

use sha2::{Digest, Sha256};

/// What one side believes: its own name and the peer's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Names {
    /// The name this side has on the network, as the host normalizes it.
    pub me: String,
    /// The name this side talks to, as the host normalizes it.
    pub peer: String,
}

/// A name as it is stated: itself when it fits one length byte, else its SHA-256.
pub fn canonical(name: &str) -> String {
    if name.len() <= 255 {
        return name.to_owned();
    }
    let digest = Sha256::digest(name.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

impl Names {
    /// The handshake payload stating these names.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(2 + self.me.len() + self.peer.len());
        for name in [&self.me, &self.peer] {
            let name = canonical(name);
            out.push(name.len() as u8);
            out.extend_from_slice(name.as_bytes());
        }
        out
    }

    /// The names a payload states; `None` when it states none (empty) or is malformed.
    pub fn decode(payload: &[u8]) -> Option<Names> {
        let (me, rest) = take(payload)?;
        let (peer, _reserved) = take(rest)?;
        Some(Names { me, peer })
    }

    /// What the peer states (`stated`), compared with what this side sees (`self`): `None`
    /// when they agree (or a name is not known to one side).
    pub fn mismatch(&self, stated: &Names) -> Option<NameMismatch> {
        let differs = |a: &str, b: &str| !a.is_empty() && !b.is_empty() && canonical(a) != b;
        let self_differs = differs(&self.peer, &stated.me);
        let peer_differs = differs(&self.me, &stated.peer);
        (self_differs || peer_differs).then(|| NameMismatch {
            stated_self: stated.me.clone(),
            stated_peer: stated.peer.clone(),
        })
    }
}

fn take(b: &[u8]) -> Option<(String, &[u8])> {
    let (&len, rest) = b.split_first()?;
    let len = usize::from(len);
    let name = rest.get(..len)?;
    Some((String::from_utf8(name.to_vec()).ok()?, rest.get(len..)?))
}

/// The peer states names that are not the ones this side sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameMismatch {
    /// The name the peer says it has.
    pub stated_self: String,
    /// The name the peer says it talks to.
    pub stated_peer: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(me: &str, peer: &str) -> Names {
        Names {
            me: me.into(),
            peer: peer.into(),
        }
    }

    #[test]
    fn payload_bytes() {
        assert_eq!(n("alice", "bob").encode(), b"\x05alice\x03bob".to_vec());
        assert_eq!(n("", "").encode(), vec![0, 0]);
        assert_eq!(Names::decode(b"\x05alice\x03bob"), Some(n("alice", "bob")));
        assert_eq!(
            Names::decode(b"\x05alice\x03bobreserved"),
            Some(n("alice", "bob"))
        );
        assert_eq!(Names::decode(b""), None);
        assert_eq!(Names::decode(b"\x05ali"), None);
        assert_eq!(Names::decode(b"\x01\xff\x00"), None, "not UTF-8");
    }

    #[test]
    fn long_names_are_stated_by_their_hash() {
        let long = "x".repeat(300);
        let c = canonical(&long);
        assert_eq!(c.len(), 71);
        assert!(c.starts_with("sha256:"));
        let stated = Names::decode(&n(&long, "bob").encode()).expect("decodes");
        assert_eq!(n("bob", &long).mismatch(&stated), None);
    }

    #[test]
    fn a_relay_is_a_mismatch_on_both_sides() {
        // alice talks to "mallory", who relays to bob as himself.
        let alice_states = n("alice", "mallory");
        let bob_sees = n("bob", "mallory");
        assert_eq!(
            bob_sees.mismatch(&alice_states),
            Some(NameMismatch {
                stated_self: "alice".into(),
                stated_peer: "mallory".into()
            })
        );
        let bob_states = n("bob", "mallory");
        let alice_sees = n("alice", "mallory");
        assert!(alice_sees.mismatch(&bob_states).is_some());
        // The honest case, and names one side does not know.
        assert_eq!(n("bob", "alice").mismatch(&n("alice", "bob")), None);
        assert_eq!(n("bob", "alice").mismatch(&n("alice", "")), None);
        assert_eq!(n("", "alice").mismatch(&n("alice", "carol")), None);
    }
}
