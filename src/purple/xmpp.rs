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
//! What any window shows of a Sotto line that reaches it another way (a carbon copy, an echo,
//! history) is `super::echo`'s.

use std::ffi::c_void;

use crate::protocol::wire::is_sotto_text;

use super::bindings as sys;
use super::boundary::{ffi_boundary, non_null};
use super::glue::cstr_to_string;

/// `jabber-sending-xmlnode(gc, &packet)`.
pub(crate) unsafe extern "C" fn sending_xmlnode(
    _gc: *mut sys::PurpleConnection,
    packet: *mut *mut sys::xmlnode,
    _data: *mut c_void,
) {
    ffi_boundary!((), {
        non_null!(packet);
        // SAFETY: libpurple's out-parameter, non-null.
        let node = unsafe { *packet };
        non_null!(node);
        // SAFETY: a live node for this callback; children and data are copied out at once.
        unsafe {
            if cstr_to_string((*node).name).as_deref() != Some("message") {
                return;
            }
            let body = sys::xmlnode_get_child(node, c"body".as_ptr());
            if body.is_null() {
                return;
            }
            let data = sys::xmlnode_get_data(body);
            let text = cstr_to_string(data).unwrap_or_default();
            if !data.is_null() {
                sys::g_free(data.cast());
            }
            if !is_sotto_text(&text) {
                return;
            }
            let private = sys::xmlnode_new_child(node, c"private".as_ptr());
            sys::xmlnode_set_namespace(private, c"urn:xmpp:carbons:2".as_ptr());
            let hint = sys::xmlnode_new_child(node, c"no-permanent-store".as_ptr());
            sys::xmlnode_set_namespace(hint, c"urn:xmpp:hints".as_ptr());
            let eme = sys::xmlnode_new_child(node, c"encryption".as_ptr());
            sys::xmlnode_set_namespace(eme, c"urn:xmpp:eme:0".as_ptr());
            sys::xmlnode_set_attrib(eme, c"namespace".as_ptr(), c"urn:sotto:1".as_ptr());
            sys::xmlnode_set_attrib(eme, c"name".as_ptr(), c"Sotto".as_ptr());
        }
    })
}
