//! Sotto's lines as other XMPP clients and servers see them.
//!
//! * **XMPP hints** (`jabber-sending-xmlnode`, run before libpurple's own handler serializes the
//!   stanza): every `<message>` whose body is a Sotto line gets
//!   - XEP-0280 `<private xmlns='urn:xmpp:carbons:2'/>`: no carbon copy to our other clients,
//!     which cannot read a line made for one session;
//!   - XEP-0334 `<no-permanent-store xmlns='urn:xmpp:hints'/>`: not kept in the server's
//!     archive (MAM), where any client reading history would show a blob; offline delivery still
//!     works (`no-store` would stop it);
//!   - XEP-0380 `<encryption xmlns='urn:xmpp:eme:0' namespace='urn:sotto:1' name='Sotto'/>`:
//!     other clients say "encrypted with Sotto" instead of showing the line.
//!
//! * **Addressed to the client that holds the session**: a data line (`?S1D`, or a fragment
//!   `?S1P`) goes to the full JID of the contact's client whose authenticated lines the session
//!   last came from (`Sessions::session_address`), not to wherever libpurple's window points.
//!   libpurple binds an IM window to the resource that wrote last (`handle_chat` in
//!   `message.c`) and unbinds it to the bare JID on any presence change; the server delivers a
//!   bare-JID message to every resource of top priority. Either way a contact logged in twice
//!   got lines on the client that cannot read them, and lost them on the one that can. A full
//!   JID whose resource has gone is treated by the server as the bare JID (RFC 6121 §8.5.3.2.1):
//!   with the contact's other clients online, one of them gets the line, and one without Sotto
//!   cannot read it and says nothing. So the holder's presence is followed
//!   (`jabber-receiving-xmlnode`, `Sessions::presence`): once it goes offline, what is typed is
//!   held until a line of the session authenticates (it moves the address), a handshake
//!   completes or that address is back, and a client of the contact that comes online while
//!   something is held is sent a query, to it alone: the holder back under a new resource
//!   answers it with a handshake.
//!
//! * **Lines for another client of ours** (`jabber-receiving-xmlnode`): see
//!   [`receiving_xmlnode`].
//!
//! * **Lines the server kept while we were offline** (`jabber-receiving-xmlnode`): a Sotto
//!   line delivered with a delay stamp is no sign that the client that wrote it is online
//!   now; see [`note_kept`].
//!
//! What any window shows of a Sotto line that reaches it another way (a carbon copy, an echo,
//! history) is `super::echo`'s.

use std::ffi::c_void;

use crate::protocol::wire::{is_sotto_text, WireMessage};

use super::bindings as sys;
use super::boundary::{ffi_boundary, non_null};
use super::glue::{self, cstr_to_string, cstring, ConvRef};
use super::present;
use super::service;
use super::state::{with_state, SentStanza, SENT_STANZAS_KEPT};

thread_local! {
    /// Lines being sent to another client of the contact, under a session of its own: their
    /// `to` is right as it is (see [`to_other_client`]).
    static TO_OTHER_CLIENT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `send` (which sends lines made for another client of the contact, addressed to it) so
/// that the stanzas keep their `to`: only the conversation's own session's data lines are
/// pointed at the client that holds it.
pub(crate) fn to_other_client<T>(send: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            TO_OTHER_CLIENT.with(|c| c.set(self.0));
        }
    }
    let _reset = Reset(TO_OTHER_CLIENT.with(|c| c.replace(true)));
    send()
}

/// `jabber-sending-xmlnode(gc, &packet)`.
pub(crate) unsafe extern "C" fn sending_xmlnode(
    gc: *mut sys::PurpleConnection,
    packet: *mut *mut sys::xmlnode,
    _data: *mut c_void,
) {
    ffi_boundary!((), {
        non_null!(packet);
        // SAFETY: libpurple's out-parameter, non-null.
        let node = unsafe { *packet };
        non_null!(node);
        // A group chat line is the user's own words to the room, whatever they look like (a
        // Sotto line pasted there to ask what it is): no hint that it is encrypted, and the
        // room's archive keeps it (found by a read-only review).
        // SAFETY: a live node for this callback; the string is copied at once.
        if unsafe { cstr_to_string(sys::xmlnode_get_attrib(node, c"type".as_ptr())) }.as_deref()
            == Some("groupchat")
        {
            return;
        }
        // SAFETY: a live node for this callback.
        let Some(text) = (unsafe { sotto_body(node) }) else {
            return;
        };
        // SAFETY: a live node for this callback; the children made are owned by it.
        unsafe {
            let private = sys::xmlnode_new_child(node, c"private".as_ptr());
            sys::xmlnode_set_namespace(private, c"urn:xmpp:carbons:2".as_ptr());
            let hint = sys::xmlnode_new_child(node, c"no-permanent-store".as_ptr());
            sys::xmlnode_set_namespace(hint, c"urn:xmpp:hints".as_ptr());
            // XEP-0380 clients (Conversations, Gajim, Dino) show "encrypted with Sotto"
            // instead of the body: right for the base64 lines, wrong for the two written for
            // people (the invitation `?S1Q` a client without Sotto shows, and `?S1E` reports).
            let kind = kind(&text);
            if !matches!(kind, Some(b'Q' | b'E')) {
                let eme = sys::xmlnode_new_child(node, c"encryption".as_ptr());
                sys::xmlnode_set_namespace(eme, c"urn:xmpp:eme:0".as_ptr());
                sys::xmlnode_set_attrib(eme, c"namespace".as_ptr(), c"urn:sotto:1".as_ptr());
                sys::xmlnode_set_attrib(eme, c"name".as_ptr(), c"Sotto".as_ptr());
            }
            if matches!(kind, Some(b'D' | b'P')) {
                address_to_session(gc, node);
                remember_sent(node, text);
            }
        }
    })
}

/// Keeps `node`'s id, `to` and `line` (see [`SentStanza`]).
///
/// # Safety
/// `node` must be a live stanza.
unsafe fn remember_sent(node: *mut sys::xmlnode, line: String) {
    // SAFETY: per the caller; the strings are copied at once.
    let (id, to) = unsafe {
        (
            cstr_to_string(sys::xmlnode_get_attrib(node, c"id".as_ptr())),
            cstr_to_string(sys::xmlnode_get_attrib(node, c"to".as_ptr())),
        )
    };
    let (Some(id), Some(to)) = (id, to) else {
        return;
    };
    let _ = with_state(|state| {
        if state.sent_stanzas.len() >= SENT_STANZAS_KEPT {
            state.sent_stanzas.pop_front();
        }
        state.sent_stanzas.push_back(SentStanza { id, to, line });
    });
}

/// The first piece of the line `piece` is a later piece of (`?S1P`, index above 0), as one of
/// the stanzas kept carried it: the piece that names the message. Any other line as it is.
fn first_piece(line: String) -> String {
    let Ok(WireMessage::Fragment(f)) = WireMessage::decode(&line) else {
        return line;
    };
    if f.index == 0 {
        return line;
    }
    with_state(|state| {
        state
            .sent_stanzas
            .iter()
            .rev()
            .find_map(|s| match WireMessage::decode(&s.line) {
                Ok(WireMessage::Fragment(g)) if g.id == f.id && g.index == 0 => {
                    Some(s.line.clone())
                }
                _ => None,
            })
    })
    .flatten()
    .unwrap_or(line)
}

/// The data line a stanza with `id`, sent to `from`'s bare JID, carried.
fn sent_in(id: &str, from: &str) -> Option<String> {
    let bare = |jid: &str| jid.split('/').next().unwrap_or(jid).to_ascii_lowercase();
    with_state(|state| {
        state
            .sent_stanzas
            .iter()
            .rev()
            .find(|s| s.id == id && bare(&s.to) == bare(from))
            .map(|s| s.line.clone())
    })
    .flatten()
}

/// `jabber-receiving-xmlnode(gc, &packet)`: a contact's client coming or going (`<presence>`)
/// is told to the sessions service ([`service::presence`]), which holds what is typed while the
/// client holding the session is gone. A Sotto line addressed to another client of this
/// account (its `to` names another resource: the server handed us a line for a client that has
/// gone, RFC 6121 §8.5.3.2.1) is noted, so that if it names no session here it is dropped
/// silently instead of answered with a not-read notice: the contact's Sotto made that line for
/// the other client, and made this client its own copy. A line that does name a session here
/// (this client came back under a new resource) is read as always. A Sotto line the server
/// kept while this account was offline is noted as such ([`note_kept`]).
pub(crate) unsafe extern "C" fn receiving_xmlnode(
    gc: *mut sys::PurpleConnection,
    packet: *mut *mut sys::xmlnode,
    _data: *mut c_void,
) {
    ffi_boundary!((), {
        non_null!(packet);
        non_null!(gc);
        // SAFETY: libpurple's in/out parameter, non-null.
        let node = unsafe { *packet };
        non_null!(node);
        // SAFETY: a live node and connection for this callback.
        if unsafe { handed_back(gc, node) } {
            // SAFETY: libpurple's in/out parameter: the stanza is the handler's to free, and
            // NULL tells libpurple it was handled.
            unsafe {
                sys::xmlnode_free(node);
                *packet = std::ptr::null_mut();
            }
            return;
        }
        // SAFETY: a live node for this callback.
        if unsafe { sotto_headline(node) || sotto_error(node) } {
            glue::debug_warning("a headline or error message carrying a Sotto line: dropped");
            // SAFETY: as above.
            unsafe {
                sys::xmlnode_free(node);
                *packet = std::ptr::null_mut();
            }
            return;
        }
        // SAFETY: a live node for this callback; strings are copied at once.
        if let Some((from, available)) = unsafe { presence_of(node) } {
            // SAFETY: the live connection of this callback.
            let account = unsafe { sys::purple_connection_get_account(gc) };
            // SAFETY: `account` is the connection's, live for this callback.
            if let Some(r) = unsafe { ConvRef::from_account(account, &from) } {
                // After a restart: a conversation holding text on disk, loaded first, so it
                // sees this presence as one in memory does.
                if available {
                    service::load_if_held(&r);
                }
                if let Some(fx) = service::presence(&r, available) {
                    present::apply(&r, fx);
                }
                // A start of ours that lapsed while the contact was away is tried again.
                if let Some(fx) = service::contact_presence(&r, available) {
                    present::apply(&r, fx);
                }
            }
            // libpurple still reads the presence (the buddy list shows it).
            return;
        }
        // SAFETY: a live node for this callback, before libpurple parses it.
        unsafe { drop_custom_smileys(node) };
        // SAFETY: a live node and connection for this callback; strings are copied at once.
        unsafe { note_kept(gc, node) };
        // SAFETY: a live node and connection for this callback; strings are copied at once.
        unsafe {
            let Some(to) = cstr_to_string(sys::xmlnode_get_attrib(node, c"to".as_ptr())) else {
                return;
            };
            let Some(own) = cstr_to_string(sys::purple_connection_get_display_name(gc)) else {
                return;
            };
            if !another_resource(&to, &own) {
                return;
            }
            if let Some(text) = sotto_body(node) {
                service::addressed_elsewhere(&text);
            }
        }
    })
}

/// A one-to-one `<message>` whose body is a Sotto line and that the server kept while this
/// account was offline (offline storage, XEP-0160: a XEP-0203 `<delay xmlns='urn:xmpp:delay'/>`
/// among its children, or the older `<x xmlns='jabber:x:delay'/>`, where libpurple's
/// `jabber_message_parse` looks for them too) is told to the sessions service
/// ([`service::kept_by_server`]) before libpurple reads it: `jabber_message_parse` then hands
/// its body to `serv_got_im` within this stanza's processing, and the note is taken by the
/// very next line read, and only if it is this line from this address. Such a line is read
/// and shown as any other, but is no sign that the contact's client that wrote it is online
/// now (`crate::sessions` `presence` module doc). libpurple 2 passes no delayed flag to
/// `receiving-im-msg` for a one-to-one message (only group chat messages get
/// `PURPLE_MESSAGE_DELAYED`), and the stamp's time is not in that signal: the stanza is the
/// only place to see it.
///
/// The stamp is the server's word, as everything in the stanza is: a server that strips it
/// gets what a line written now gets (it could as well have held the line back and delivered
/// it live), one that adds it to a line written now only delays what is typed.
///
/// # Safety
/// `gc` and `node` must be the live connection and stanza of a `jabber-receiving-xmlnode`
/// callback.
unsafe fn note_kept(gc: *mut sys::PurpleConnection, node: *mut sys::xmlnode) {
    // SAFETY: per the caller; strings are copied at once, the children walked within this
    // call.
    unsafe {
        if cstr_to_string(sys::xmlnode_get_attrib(node, c"type".as_ptr())).as_deref()
            == Some("groupchat")
            || !delay_stamped(node)
        {
            return;
        }
        let Some(text) = sotto_body(node) else {
            return;
        };
        let Some(from) = cstr_to_string(sys::xmlnode_get_attrib(node, c"from".as_ptr())) else {
            return;
        };
        let account = sys::purple_connection_get_account(gc);
        if let Some(r) = ConvRef::from_account(account, &from) {
            service::kept_by_server(&r, &text);
        }
    }
}

/// Whether `node` has a delay stamp among its own children (XEP-0203 `<delay>` in
/// `urn:xmpp:delay`, or XEP-0091's `<x>` in `jabber:x:delay`), as libpurple looks for one. One
/// deeper down (inside a forwarded message) stamps that message, not this one.
///
/// # Safety
/// `node` must be a live stanza.
unsafe fn delay_stamped(node: *mut sys::xmlnode) -> bool {
    // SAFETY: per the caller; the children are the node's own, walked within this call.
    unsafe {
        let mut child = (*node).child;
        while !child.is_null() {
            if (*child).type_ == sys::XMLNODE_TYPE_TAG {
                let name = cstr_to_string((*child).name);
                let ns = cstr_to_string(sys::xmlnode_get_namespace(child));
                match (name.as_deref(), ns.as_deref()) {
                    (Some("delay"), Some("urn:xmpp:delay"))
                    | (Some("x"), Some("jabber:x:delay")) => return true,
                    _ => {}
                }
            }
            child = (*child).next;
        }
        false
    }
}

/// A `<message type='error'>` handing back a stanza that carried one of our data lines (the
/// contact's server or a room could not deliver it: `service-unavailable`,
/// `remote-server-not-found`, `not-acceptable` from a room that was left), known by its id or by
/// the line in its body: the contact's window says the message was not delivered, with its text while it is
/// remembered ([`present::undelivered`]), and the stanza goes no further. libpurple showed the
/// encrypted line in an "XMPP Message Error" dialog when the server sent it back, nothing at all
/// when it did not (the window still showed the message as sent).
///
/// # Safety
/// `gc` and `node` must be the live connection and stanza of a `jabber-receiving-xmlnode`
/// callback.
unsafe fn handed_back(gc: *mut sys::PurpleConnection, node: *mut sys::xmlnode) -> bool {
    // SAFETY: per the caller; strings are copied at once.
    unsafe {
        if cstr_to_string((*node).name).as_deref() != Some("message")
            || cstr_to_string(sys::xmlnode_get_attrib(node, c"type".as_ptr())).as_deref()
                != Some("error")
        {
            return false;
        }
        let Some(from) = cstr_to_string(sys::xmlnode_get_attrib(node, c"from".as_ptr())) else {
            return false;
        };
        // The stanza we sent, by its id (a server need not send the body back); else the
        // body, if it is one of our lines. Data lines only: a handshake line handed back
        // lapses as any unanswered one does.
        let id = cstr_to_string(sys::xmlnode_get_attrib(node, c"id".as_ptr()));
        let sent = id.and_then(|id| sent_in(&id, &from));
        let ours = sent.is_some();
        let Some(line) = sent
            .or_else(|| sotto_body(node))
            .filter(|l| matches!(kind(l), Some(b'D' | b'P')))
            // The pieces of one long message name it by its first piece: one line for all.
            .map(first_piece)
        else {
            return false;
        };
        let Some(r) = ConvRef::from_account(sys::purple_connection_get_account(gc), &from) else {
            return false;
        };
        let condition = error_condition(node);
        // Told or not, the stanza goes no further (the same line again says nothing).
        let _ = present::undelivered(&r, &line, &condition, ours);
        true
    }
}

/// A `<message type='headline'>` that carries a Sotto line anywhere (its body, another body,
/// its XHTML-IM part, its subject): never one of a Sotto's (Sotto sends chat messages), and
/// libpurple would show it, raw, in a "Message from" dialog (it shows the XHTML-IM part
/// before the body, and takes the first body in its own namespace).
///
/// # Safety
/// `node` must be a live stanza.
unsafe fn sotto_headline(node: *mut sys::xmlnode) -> bool {
    // SAFETY: per the caller; strings are copied at once.
    unsafe {
        cstr_to_string((*node).name).as_deref() == Some("message")
            && cstr_to_string(sys::xmlnode_get_attrib(node, c"type".as_ptr())).as_deref()
                == Some("headline")
            && carries_line(node)
    }
}

/// Whether a Sotto line is anywhere in `node`: in its text as written, or once its markup is
/// taken away (a line cut by tags in an XHTML-IM part reads whole in a dialog).
///
/// # Safety
/// `node` must be a live node.
unsafe fn carries_line(node: *mut sys::xmlnode) -> bool {
    // SAFETY: per the caller; the serialized string is ours to free, copied at once.
    let xml = unsafe {
        let s = sys::xmlnode_to_str(node, std::ptr::null_mut());
        let xml = cstr_to_string(s).unwrap_or_default();
        if !s.is_null() {
            sys::g_free(s.cast());
        }
        xml
    };
    crate::protocol::wire::has_line(&xml)
        || crate::protocol::wire::has_line(&glue::markup_to_text(&xml))
}

/// A `<message type='error'>` carrying a Sotto line anywhere that [`handed_back`] did not take (a
/// handshake line bounced, or one from a name no conversation can be had with): libpurple
/// would show the raw line in an "XMPP Message Error" dialog. A start handed back lapses as an
/// unanswered one, and the user is told then.
///
/// # Safety
/// `node` must be a live stanza.
unsafe fn sotto_error(node: *mut sys::xmlnode) -> bool {
    // SAFETY: per the caller; strings are copied at once.
    unsafe {
        // Messages only: an iq or presence error dropped would leave libpurple waiting on it.
        cstr_to_string((*node).name).as_deref() == Some("message")
            && cstr_to_string(sys::xmlnode_get_attrib(node, c"type".as_ptr())).as_deref()
                == Some("error")
            && carries_line(node)
    }
}

/// The name of the RFC 6120 condition of `node`'s `<error>` (`service-unavailable`), or "";
/// only lower-case letters and '-' (it is the server's text), at most 40 of them.
///
/// # Safety
/// `node` must be a live stanza.
unsafe fn error_condition(node: *mut sys::xmlnode) -> String {
    // SAFETY: per the caller; the children are the node's own, walked within this call.
    unsafe {
        let error = sys::xmlnode_get_child(node, c"error".as_ptr());
        if error.is_null() {
            return String::new();
        }
        let mut child = (*error).child;
        while !child.is_null() {
            if (*child).type_ == sys::XMLNODE_TYPE_TAG {
                let name = cstr_to_string((*child).name).unwrap_or_default();
                if name != "text" {
                    return name
                        .chars()
                        .filter(|c| c.is_ascii_lowercase() || *c == '-')
                        .take(40)
                        .collect();
                }
            }
            child = (*child).next;
        }
        String::new()
    }
}

/// A one-to-one `<message>` whose XHTML-IM part carries custom smileys (`<img src='cid:…'
/// alt='…'>`, XEP-0231) loses that part before libpurple reads it, and is read from its plain
/// `<body>`. libpurple would register each as a smiley of the conversation, and Pidgin draws a
/// smiley's image wherever its text appears in the window: Sotto's own lines too. Anyone who
/// can send the user a message (a contact, the server) could then draw "NOT" out of "the
/// next message was NOT encrypted", or the server's own fingerprint over the contact's in the
/// "encrypted conversation started" line. Group-chat messages keep theirs (Sotto writes no
/// line in a room).
///
/// # Safety
/// `node` must be a live node that libpurple has not parsed yet.
unsafe fn drop_custom_smileys(node: *mut sys::xmlnode) {
    // SAFETY: per the caller; attribute strings are borrowed and compared at once.
    unsafe {
        if cstr_to_string((*node).name).as_deref() != Some("message")
            || cstr_to_string(sys::xmlnode_get_attrib(node, c"type".as_ptr())).as_deref()
                == Some("groupchat")
        {
            return;
        }
        // Every XHTML-IM part is looked at: libpurple takes the first that has a body, which
        // need not be the first one.
        let mut child = (*node).child;
        while !child.is_null() {
            let next = (*child).next;
            let xhtml = (*child).type_ == sys::XMLNODE_TYPE_TAG
                && cstr_to_string((*child).name).as_deref() == Some("html")
                && cstr_to_string(sys::xmlnode_get_namespace(child)).as_deref()
                    == Some("http://jabber.org/protocol/xhtml-im");
            if xhtml && has_cid_image(child, 0) {
                // Unlinks it from the message, then frees it (`next` was read before).
                sys::xmlnode_free(child);
            }
            child = next;
        }
    }
}

/// Whether `node` holds an `<img>` whose `src` is a `cid:` reference (at most 64 levels down:
/// libpurple's parser accepts any depth, a stanza deeper than that is dropped as if it had one).
///
/// # Safety
/// `node` must be a live node.
unsafe fn has_cid_image(node: *mut sys::xmlnode, depth: usize) -> bool {
    if depth > 64 {
        return true;
    }
    // SAFETY: per the caller; the tree is walked through libpurple's own links.
    unsafe {
        let mut child = (*node).child;
        while !child.is_null() {
            if (*child).type_ == sys::XMLNODE_TYPE_TAG {
                let is_cid_img =
                    cstr_to_string((*child).name).is_some_and(|n| n.eq_ignore_ascii_case("img"))
                        && cstr_to_string(sys::xmlnode_get_attrib(child, c"src".as_ptr()))
                            .is_some_and(|src| {
                                src.trim_start()
                                    .get(..4)
                                    .is_some_and(|p| p.eq_ignore_ascii_case("cid:"))
                            });
                if is_cid_img || has_cid_image(child, depth + 1) {
                    return true;
                }
            }
            child = (*child).next;
        }
        false
    }
}

/// The body of a `<message>` node, if it is a Sotto line.
///
/// # Safety
/// `node` must be a live node; its data is copied out at once.
unsafe fn sotto_body(node: *mut sys::xmlnode) -> Option<String> {
    // SAFETY: per the caller; the data string is ours to free.
    unsafe {
        if cstr_to_string((*node).name).as_deref() != Some("message") {
            return None;
        }
        let body = sys::xmlnode_get_child(node, c"body".as_ptr());
        if body.is_null() {
            return None;
        }
        let data = sys::xmlnode_get_data(body);
        let text = cstr_to_string(data).unwrap_or_default();
        if !data.is_null() {
            sys::g_free(data.cast());
        }
        is_sotto_text(&text).then_some(text)
    }
}

/// A `<presence>` from a contact's client: its `from` (a full JID) and whether it is available
/// (no `type`) or went offline (`type='unavailable'`). Any other type (subscription requests,
/// errors, probes) says nothing about whether the client is there, and a group chat occupant's
/// is no contact's client: `None`.
///
/// # Safety
/// `node` must be a live stanza.
unsafe fn presence_of(node: *mut sys::xmlnode) -> Option<(String, bool)> {
    // SAFETY: per the caller; strings are copied at once.
    unsafe {
        if cstr_to_string((*node).name).as_deref() != Some("presence") {
            return None;
        }
        let available = match cstr_to_string(sys::xmlnode_get_attrib(node, c"type".as_ptr())) {
            None => true,
            Some(t) if t == "unavailable" => false,
            Some(_) => return None,
        };
        // A group chat's occupant (its presence carries the room's `muc#user` part): never a
        // contact's client, and a big room sends many (each would cost a name lookup).
        let mut child = (*node).child;
        while !child.is_null() {
            if (*child).type_ == sys::XMLNODE_TYPE_TAG
                && cstr_to_string((*child).name).as_deref() == Some("x")
                && cstr_to_string(sys::xmlnode_get_namespace(child)).as_deref()
                    == Some("http://jabber.org/protocol/muc#user")
            {
                return None;
            }
            child = (*child).next;
        }
        let from = cstr_to_string(sys::xmlnode_get_attrib(node, c"from".as_ptr()))?;
        // Only a client's own full JID names one client (a bare JID is a server's or the
        // account's, for every client).
        from.contains('/').then_some((from, available))
    }
}

/// The kind of a Sotto line: the letter after `?S1`.
fn kind(line: &str) -> Option<u8> {
    line.trim_start().as_bytes().get(3).copied()
}

/// Whether `to` is a full JID of the same account as `own` with another resource.
fn another_resource(to: &str, own: &str) -> bool {
    match (to.split_once('/'), own.split_once('/')) {
        (Some((to_bare, to_res)), Some((own_bare, own_res))) => {
            to_bare.eq_ignore_ascii_case(own_bare) && to_res != own_res
        }
        _ => false,
    }
}

/// Points a data line's `to` at the contact's client that holds the session, if known and
/// different from where libpurple addressed it.
///
/// # Safety
/// `gc` must be null or the live connection of this callback; `node` a live `<message>` node.
unsafe fn address_to_session(gc: *mut sys::PurpleConnection, node: *mut sys::xmlnode) {
    if gc.is_null() {
        return;
    }
    // SAFETY: per the caller; attribute strings are borrowed from the node and copied at once.
    unsafe {
        let account = sys::purple_connection_get_account(gc);
        let Some(to) = cstr_to_string(sys::xmlnode_get_attrib(node, c"to".as_ptr())) else {
            return;
        };
        let Some(r) = ConvRef::from_account(account, &to) else {
            return;
        };
        // A line for another client of the contact stays addressed to it.
        if TO_OTHER_CLIENT.with(std::cell::Cell::get) {
            return;
        }
        let Some(address) = service::session_address(&r) else {
            return;
        };
        if address != to {
            let address = cstring(&address);
            sys::xmlnode_set_attrib(node, c"to".as_ptr(), address.as_ptr());
        }
    }
}
