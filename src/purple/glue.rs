//! Safe wrappers over the libpurple calls the plugin makes.
//!
//! Rules kept here so the rest of `src/purple` can stay mostly safe:
//! * every pointer from libpurple is null-checked before it is dereferenced;
//! * strings are copied out (`String`) immediately, never borrowed across a callback;
//! * libpurple objects are found again by name ([`ConvRef`]) instead of being stored.

use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr;

use crate::protocol::Policy;
pub(crate) use crate::sessions::{ConvKey, ConvRef};

use super::bindings as sys;
use super::state::Injecting;

/// Copy a C string owned by libpurple into a Rust `String` (lossy on invalid UTF-8).
/// NULL gives `None`.
pub(crate) fn cstr_to_string(p: *const c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: libpurple passes NUL-terminated strings that live at least for the callback; we copy
    // the bytes out before returning.
    let s = unsafe { CStr::from_ptr(p) };
    Some(s.to_string_lossy().into_owned())
}

/// A `CString` for passing to C. Interior NULs (which C could not see anyway) are dropped.
pub(crate) fn cstring(s: &str) -> CString {
    match CString::new(s) {
        Ok(c) => c,
        Err(_) => CString::new(s.replace('\0', "")).unwrap_or_default(),
    }
}

/// Duplicate `s` into GLib-owned memory (the caller of a `char **` out-parameter frees it with
/// `g_free`).
pub(crate) fn g_strdup(s: &str) -> *mut c_char {
    let c = cstring(s);
    // SAFETY: `c` is a valid NUL-terminated string; g_strdup copies it.
    unsafe { sys::g_strdup(c.as_ptr()) }
}

/// Replace a GLib-owned `*message` with `new` (or NULL), freeing the old string.
///
/// # Safety
/// `slot` must be null or point to a `char *` that is NULL or was allocated with GLib.
pub(crate) unsafe fn replace_gstring(slot: *mut *mut c_char, new: Option<&str>) {
    if slot.is_null() {
        return;
    }
    // SAFETY: the caller guarantees `slot` points to a GLib-owned string pointer.
    unsafe {
        let old = *slot;
        *slot = match new {
            Some(s) => g_strdup(s),
            None => ptr::null_mut(),
        };
        if !old.is_null() {
            sys::g_free(old.cast());
        }
    }
}

fn debug(level: u8, msg: &str) {
    let cat = c"sotto";
    let fmt = c"%s\n";
    let text = cstring(msg);
    // SAFETY: the variadic debug functions receive a "%s" format and one valid C string.
    unsafe {
        match level {
            0 => sys::purple_debug_info(cat.as_ptr(), fmt.as_ptr(), text.as_ptr()),
            1 => sys::purple_debug_warning(cat.as_ptr(), fmt.as_ptr(), text.as_ptr()),
            _ => sys::purple_debug_error(cat.as_ptr(), fmt.as_ptr(), text.as_ptr()),
        }
    }
}

/// Debug-log lines never contain plaintext or key material: callers pass only states and names.
pub(crate) fn debug_info(msg: &str) {
    debug(0, msg);
}
pub(crate) fn debug_warning(msg: &str) {
    debug(1, msg);
}
pub(crate) fn debug_error(msg: &str) {
    debug(2, msg);
}

/// A message box titled Sotto (`error`: shown as an error), for what has no window to go to.
/// `handle` owns it: libpurple closes it when that plugin unloads.
pub(crate) fn notify(handle: *mut c_void, error: bool, primary: &str, text: &str) {
    let (primary, text) = (cstring(primary), cstring(text));
    let kind = if error {
        sys::PURPLE_NOTIFY_MSG_ERROR
    } else {
        sys::PURPLE_NOTIFY_MSG_INFO
    };
    // SAFETY: valid strings (libpurple copies them); no callback.
    unsafe {
        sys::purple_notify_message(
            handle,
            kind,
            c"Sotto".as_ptr(),
            primary.as_ptr(),
            text.as_ptr(),
            None,
            ptr::null_mut(),
        );
    }
}

/// A notification whose body is `text` (plain text, any length: escaped here), in a box that
/// scrolls (Pidgin's formatted notification, Finch's text view): a plain message box cuts its
/// body at about 2 KB in Pidgin and does not scroll in Finch.
pub(crate) fn notify_long(handle: *mut c_void, primary: &str, text: &str) {
    let body = super::markup::text_to_html(text);
    let (primary_c, body) = (cstring(primary), cstring(&body));
    // SAFETY: valid strings (libpurple copies them); no callback.
    let shown = unsafe {
        sys::purple_notify_formatted(
            handle,
            c"Sotto".as_ptr(),
            primary_c.as_ptr(),
            ptr::null(),
            body.as_ptr(),
            None,
            ptr::null_mut(),
        )
    };
    // A UI without formatted notifications shows nothing (libpurple returns NULL): the plain
    // box then, cut or not, rather than nothing.
    if shown.is_null() {
        notify(handle, true, primary, text);
    }
}

/// Plain text from the markup libpurple gives (`<br>` becomes `\n`, entities are decoded, links
/// become their text).
///
/// What it is given is often a message's text: the copies made on the way (the C string
/// handed to libpurple, libpurple's result) are wiped before they are freed. libpurple strips
/// in place in a copy of the whole input, so the bytes after the result's end still hold the
/// input's last ones: its whole allocation is wiped (as the allocator sizes it: GLib's
/// `g_malloc` is the C library's `malloc` since GLib 2.46), not only up to the NUL (found by
/// the hostile review of the first version).
pub(crate) fn markup_to_text(markup: &str) -> String {
    let c = crate::protocol::SecretBytes::new(cstring(markup).into_bytes_with_nul());
    // SAFETY: `c` is NUL-terminated with no interior NUL (`cstring`); purple_markup_strip_html
    // takes a valid C string and returns a new g_malloc'd string (or NULL), which we copy, wipe
    // over the allocation `malloc_usable_size` reports for it (writable whole) and free.
    unsafe {
        let out = sys::purple_markup_strip_html(c.as_ptr().cast());
        if out.is_null() {
            return String::new();
        }
        let s = cstr_to_string(out).unwrap_or_default();
        std::ptr::write_bytes(out, 0, libc::malloc_usable_size(out.cast()));
        sys::g_free(out.cast());
        s
    }
}

/// `name` as libpurple names it on `account` (the protocol's normalization: IRC's is
/// `purple_normalize_nocase`), copied.
pub(crate) fn normalize(account: *mut sys::PurpleAccount, name: &str) -> String {
    let c = cstring(name);
    // SAFETY: `account` is a live account (or NULL, which purple_normalize accepts); the result
    // points into a static buffer that we copy at once.
    let out = unsafe { sys::purple_normalize(account, c.as_ptr()) };
    cstr_to_string(out).unwrap_or_else(|| name.to_owned())
}

/// A contact's name as state is keyed and handshakes state it: libpurple's normalization, then
/// what a protocol puts in front of the same name on some paths only. SIMPLE (`prpl-simple`)
/// writes what it receives as from `sip:bob@host` and sends to `bob@host` as typed in a new
/// window: both are the one contact `bob@host`.
///
/// XMPP (`prpl-jabber`) keys a contact by its bare JID, except an occupant of a group chat,
/// `room@server/nick`, whom libpurple's normalization keeps whole only while the account is in
/// that room: once it is left (closed, kicked, disconnected) the same window's name normalizes
/// to `room@server`, one name for every occupant, whose conversation is another (in plaintext).
/// Rooms the account has been in are remembered, and an occupant stays `room@server/nick`.
/// A contact's address written with the DNS root's dot after its domain is the address without
/// it ([`without_root_dot`]); an occupant keeps its room's address as libpurple names the room
/// (a room joined as `room@muc.example.` is looked up under that name).
fn contact_name(protocol: &str, account: *mut sys::PurpleAccount, name: &str) -> String {
    let n = normalize(account, name);
    match protocol {
        "prpl-simple" => sip_contact(&n),
        "prpl-jabber" => {
            let contact = occupant_name(
                account as usize,
                name,
                n,
                |bare| {
                    // A buddy is never a room, also under the address with the root dot (a
                    // "room" a server made at `alice@example.org.` is alice's address).
                    // (`account` is null or live, per the callers.)
                    let is_buddy = |name: &str| {
                        !account.is_null() && !find_buddy_exact(account, name).is_null()
                    };
                    is_buddy(bare) || is_buddy(&without_root_dot(bare.to_owned()))
                },
                |room| in_chat(account, room),
            );
            if contact.contains('/') {
                contact
            } else {
                without_root_dot(contact)
            }
        }
        _ => n,
    }
}

/// After a reload: `r`'s window showed the XMPP occupant `kept` (`room@server/nick`) before
/// the unload, and its name now normalizes to the room's own (the room was left): the room
/// and the occupant are remembered again, as when the account was in it
/// ([`occupant_name`]), so the name keys to the occupant again.
pub(crate) fn remember_left_occupant(r: &ConvRef, kept: &ConvKey) {
    let now = r.key();
    if now.protocol != "prpl-jabber" || kept.protocol != now.protocol || kept.account != now.account
    {
        return;
    }
    if let Some((room, _)) = kept.peer.split_once('/') {
        if is_room_address(room, &now.peer) && r.peer.contains('/') {
            super::state::remember_occupant(r.account() as usize, room, &r.peer, &kept.peer);
        }
    }
}

/// Our nick in the XMPP group chat `room` on `account`, while we are in it, spelled as the room
/// spells it (as its occupants see us: `room@server/Alice`).
///
/// libpurple keeps the chat's own nick normalized (`purple_conv_chat_set_nick`), and XMPP's
/// normalization reads a bare nick as a domain and lower-cases it: "Alice" is kept as "alice".
/// The occupant list has the nick as the room sent it; the one occupant whose name normalizes
/// to ours is us. Several (the room has both "Alice" and "alice") leave the normalized nick,
/// which at worst makes the occupant see names that do not match: a warning, never a wrong key.
fn room_nick(account: *mut sys::PurpleAccount, room: &str) -> Option<String> {
    let conv = chat_window(account, room);
    if conv.is_null() {
        return None;
    }
    // SAFETY: the chat conversation found just now is live, its chat data belongs to it, and
    // the nick and occupant names are copied at once.
    let (nick, occupants) = unsafe {
        let chat = sys::purple_conversation_get_chat_data(conv);
        if chat.is_null() {
            return None;
        }
        let nick = cstr_to_string(sys::purple_conv_chat_get_nick(chat))?;
        let mut occupants = Vec::new();
        let mut l = sys::purple_conv_chat_get_users(chat);
        while !l.is_null() {
            let cb: *mut sys::PurpleConvChatBuddy = (*l).data.cast();
            l = (*l).next;
            if !cb.is_null() {
                occupants.extend(cstr_to_string(sys::purple_conv_chat_cb_get_name(cb)));
            }
        }
        (nick, occupants)
    };
    Some(as_the_room_spells(&nick, occupants, |n| {
        normalize(account, n)
    }))
}

/// The one name in `occupants` that `normalize`s to `nick`, else `nick` (see [`room_nick`]).
fn as_the_room_spells(
    nick: &str,
    occupants: Vec<String>,
    normalize: impl Fn(&str) -> String,
) -> String {
    // XMPP's normalization lower-cases an ASCII nick and does nothing else to it: compared
    // without it (a message in a room of hundreds costs no normalization per occupant).
    let mut ours = occupants.into_iter().filter(|o| {
        if o.is_ascii() && nick.is_ascii() {
            o.eq_ignore_ascii_case(nick)
        } else {
            normalize(o) == nick
        }
    });
    match (ours.next(), ours.next()) {
        (Some(one), None) => one,
        _ => nick.to_owned(),
    }
}

/// Whether `account` is in the group chat `room` now (its chat window is open).
fn in_chat(account: *mut sys::PurpleAccount, room: &str) -> bool {
    !chat_window(account, room).is_null()
}

/// The group chat `room`'s conversation on `account` (null for none, or a null account).
fn chat_window(account: *mut sys::PurpleAccount, room: &str) -> *mut sys::PurpleConversation {
    if account.is_null() {
        return std::ptr::null_mut();
    }
    let name = cstring(room);
    // SAFETY: a live account (per the callers) and a valid name.
    unsafe {
        sys::purple_find_conversation_with_account(
            sys::PURPLE_CONV_TYPE_CHAT,
            name.as_ptr(),
            account,
        )
    }
}

/// `normalized` (libpurple's normalization of the XMPP name `raw`), or the occupant
/// `room@server/nick` of a room `account` has been in (see [`contact_name`]), as libpurple
/// normalized it in the room. A name in the buddy list (`is_buddy`, given the bare JID) is a
/// contact, never a room: joining a "room" at a contact's address (an invitation from a hostile
/// server) cannot make that contact's resources separate conversations after it is left.
///
/// A normalized name with a resource is an occupant only while the account is in that room
/// (`in_room`): libpurple also keeps the whole name, resource and all, when its XMPP
/// normalization rejects it (`jabber_normalize` returns NULL and `purple_normalize` falls back
/// to the name as given). A server's presence from `bob@x/a<TAB>` (an invalid resource), with
/// bob taken off the roster, made `bob@x` a room: every later full JID of bob's a conversation
/// of its own, in plaintext, where a forged message was shown without a warning.
fn occupant_name(
    account: usize,
    raw: &str,
    normalized: String,
    is_buddy: impl Fn(&str) -> bool,
    in_room: impl Fn(&str) -> bool,
) -> String {
    if let Some((room, _)) = normalized.split_once('/') {
        // Kept whole: an occupant of a room the account is in, or a name libpurple could not
        // normalize (remembered as nothing).
        if !is_buddy(room) && in_room(room) {
            super::state::remember_occupant(account, room, raw, &normalized);
        }
        return normalized;
    }
    if !raw.contains('/') {
        return normalized;
    }
    match super::state::occupant_of_left_room(account, &normalized, raw) {
        Some(occupant) if !is_buddy(&normalized) => occupant,
        _ => normalized,
    }
}

/// Whether the contact `peer` (a key's peer) is the XMPP room `room` (as libpurple names it:
/// maybe with the root dot, which a contact's address loses, [`without_root_dot`]).
pub(crate) fn is_room_address(room: &str, peer: &str) -> bool {
    room == peer || without_root_dot(room.to_owned()) == peer
}

/// An XMPP address without the DNS root's dot at the end of its domain: `bob@example.org.` is
/// `bob@example.org` (RFC 7622 §3.2: a server strips it before routing, as Prosody does).
/// libpurple's XMPP normalization keeps the dot, so a window opened at `bob@example.org.` (an
/// address pasted from the end of a sentence, an `xmpp:` link) was a conversation of its own,
/// with no session, policy or key, while the server delivered what was typed there to bob, in
/// plaintext (found by a read-only review).
fn without_root_dot(jid: String) -> String {
    let (bare, resource) = match jid.split_once('/') {
        Some((bare, resource)) => (bare, Some(resource)),
        None => (jid.as_str(), None),
    };
    let stripped = bare
        .strip_suffix('.')
        // One dot, after a domain (not `bob@.`, `bob@example..`, or a lone `.`).
        .filter(|b| !b.is_empty() && !b.ends_with(['.', '@']))
        .map(|b| match resource {
            Some(r) => format!("{b}/{r}"),
            None => b.to_owned(),
        });
    stripped.unwrap_or(jid)
}

/// The SIP contact a name stands for: without the `sip:`/`sips:` scheme, without URI
/// parameters (`;transport=tcp`), and with the host in lower case (RFC 3261 §19.1.4 compares
/// hosts without case; the user part keeps its case). libpurple's SIMPLE normalizes nothing, so
/// `sip:bob@HOST;transport=tcp` from a proxy was a conversation of its own, in plaintext, beside
/// bob's encrypted one, and a reply typed there reached bob in plaintext.
fn sip_contact(name: &str) -> String {
    let bare = strip_sip_scheme(name);
    // Parameters and headers follow the host; the user part may hold ';' and '?' itself
    // (`sip:alice;day=tuesday@atlanta.com`).
    match bare.rsplit_once('@') {
        Some((user, host)) => {
            let host = host.split([';', '?']).next().unwrap_or(host);
            format!("{user}@{}", host.to_ascii_lowercase())
        }
        None => bare.to_owned(),
    }
}

/// `bob@host` from `sip:bob@host` or `sips:bob@host` (any case); other names as they are.
fn strip_sip_scheme(name: &str) -> &str {
    for scheme in ["sip:", "sips:"] {
        if name
            .get(..scheme.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
        {
            return &name[scheme.len()..];
        }
    }
    name
}

/// An account's protocol id and its username normalized, as [`ConvRef::key`] names them.
///
/// # Safety
/// `account` must be null or a live `PurpleAccount`.
pub(crate) unsafe fn account_key(account: *mut sys::PurpleAccount) -> Option<(String, String)> {
    if account.is_null() {
        return None;
    }
    // SAFETY: `account` is non-null and live per the caller; the strings are copied at once.
    let (protocol, user) = unsafe {
        (
            cstr_to_string(sys::purple_account_get_protocol_id(account))?,
            cstr_to_string(sys::purple_account_get_username(account))?,
        )
    };
    let normalized = normalize(account, &user);
    Some((protocol, normalized))
}

impl ConvRef {
    /// The same account's conversation with `peer` (another name of the contact, another
    /// contact).
    pub(crate) fn with_peer(&self, peer: impl Into<String>) -> ConvRef {
        ConvRef {
            protocol: self.protocol.clone(),
            account: self.account.clone(),
            peer: peer.into(),
        }
    }

    /// Names for `peer` on `account`.
    ///
    /// # Safety
    /// `account` must be null or a live `PurpleAccount`.
    pub(crate) unsafe fn from_account(
        account: *mut sys::PurpleAccount,
        peer: &str,
    ) -> Option<ConvRef> {
        if account.is_null() || peer.is_empty() {
            return None;
        }
        // SAFETY: `account` is non-null and live per the caller.
        let (protocol, user) = unsafe {
            (
                cstr_to_string(sys::purple_account_get_protocol_id(account))?,
                cstr_to_string(sys::purple_account_get_username(account))?,
            )
        };
        Some(ConvRef {
            protocol,
            account: user,
            peer: peer.to_owned(),
        })
    }

    /// Names for an IM conversation (None for chats or NULL).
    ///
    /// # Safety
    /// `conv` must be null or a live `PurpleConversation`.
    pub(crate) unsafe fn from_conversation(conv: *mut sys::PurpleConversation) -> Option<ConvRef> {
        if conv.is_null() {
            return None;
        }
        // SAFETY: `conv` is non-null and live per the caller.
        unsafe {
            if sys::purple_conversation_get_type(conv) != sys::PURPLE_CONV_TYPE_IM {
                return None;
            }
            let account = sys::purple_conversation_get_account(conv);
            let name = cstr_to_string(sys::purple_conversation_get_name(conv))?;
            Self::from_account(account, &name)
        }
    }

    /// The live account, looked up again by name.
    pub(crate) fn account(&self) -> *mut sys::PurpleAccount {
        self.known_account().0
    }

    /// The live account (NULL when there is none) and its username normalized (`None` then).
    ///
    /// `purple_accounts_find` normalizes every account's name on every call, and one message
    /// asks for the account a dozen times: accounts found are remembered (see
    /// `state::known_account`; an entry goes when libpurple destroys its account) and used
    /// while they still have exactly this username and protocol.
    fn known_account(&self) -> (*mut sys::PurpleAccount, Option<String>) {
        if let Some(known) = super::state::known_account(&self.protocol, &self.account) {
            let account = known.address as *mut sys::PurpleAccount;
            // SAFETY: a remembered account is live (removed at `account-destroying`).
            if unsafe { account_has(account, &self.protocol, &self.account) } {
                return (account, Some(known.normalized));
            }
            super::state::remember_account(&self.protocol, &self.account, None);
        }
        let user = cstring(&self.account);
        let proto = cstring(&self.protocol);
        // SAFETY: both are valid C strings; the result is a live account or NULL.
        let account = unsafe { sys::purple_accounts_find(user.as_ptr(), proto.as_ptr()) };
        if account.is_null() {
            return (account, None);
        }
        let normalized = normalize(account, &self.account);
        super::state::remember_account(
            &self.protocol,
            &self.account,
            Some(super::state::KnownAccount {
                address: account as usize,
                normalized: normalized.clone(),
            }),
        );
        (account, Some(normalized))
    }

    /// The normalized key for session state: one contact is one key, however the protocol
    /// spelled its name this time (see `contact_name`).
    pub(crate) fn key(&self) -> ConvKey {
        let (account, normalized) = self.known_account();
        ConvKey {
            protocol: self.protocol.clone(),
            account: normalized.unwrap_or_else(|| normalize(account, &self.account)),
            peer: contact_name(&self.protocol, account, &self.peer),
        }
    }

    /// The names a handshake states for this conversation: our name on the network (the
    /// connection's display name, an IRC nick or an XMPP JID; on SIP the account's address,
    /// `alice@host`, as peers see it, where the display name is only `alice`) and the peer's,
    /// both normalized as `key` does. Empty when not connected.
    pub(crate) fn names(&self) -> crate::protocol::names::Names {
        let account = self.account();
        let me = match self.protocol.as_str() {
            "prpl-simple" => self
                .own_display_name()
                .map(|_| contact_name(&self.protocol, account, &self.account)),
            // Each contact names us as they saved us ("Mom"): no name of ours is the one they
            // see, so none is stated (an empty name is never compared). The display name
            // caused a names warning in every session.
            "prpl-telegram" | "telegram-tdlib" => None,
            _ => self.own_display_name().map(|n| normalize(account, &n)),
        }
        .unwrap_or_default();
        let peer = contact_name(&self.protocol, account, &self.peer);
        // A private chat in an XMPP group chat: the occupant sees us as `room@server/our-nick`,
        // not as our JID (which the room may hide).
        let me = match (self.protocol.as_str(), peer.split_once('/')) {
            // Normalized as the occupant normalizes the address our lines come from.
            ("prpl-jabber", Some((room, _))) => room_nick(account, room)
                .map(|nick| normalize(account, &format!("{room}/{nick}")))
                .unwrap_or(me),
            _ => me,
        };
        crate::protocol::names::Names { me, peer }
    }

    /// The open IM conversation with the peer, if any.
    pub(crate) fn conversation(&self) -> *mut sys::PurpleConversation {
        let account = self.account();
        if account.is_null() {
            return ptr::null_mut();
        }
        let conv = find_im(account, &self.peer);
        match self.occupant_key() {
            Some(key) => occupant_window(conv, &key),
            None => self.named_window(conv),
        }
    }

    /// `found` (libpurple's lookup), or when it found none, an open window named exactly as
    /// this conversation, if there is one. libpurple's lookup goes by what the name normalizes
    /// to now, and misses a window filed under what it normalized to when the window opened (an
    /// XMPP private chat `room@server/nick`, the room left and its address on the roster): the
    /// window's own lines (the refusal of what was typed, with the text) went to no window.
    /// A window libpurple does find is kept (an IRC window renamed onto a nick in another case
    /// than an older window's is the nick's, with its own policy).
    fn named_window(&self, found: *mut sys::PurpleConversation) -> *mut sys::PurpleConversation {
        if !found.is_null() {
            return found;
        }
        ims_named(self)
            .into_iter()
            .next()
            .unwrap_or(ptr::null_mut())
    }

    /// [`Self::conversation_or_new`] when `may_open`, else [`Self::conversation`]: only a window
    /// already open (a line about something the user did not just do, which must not reopen
    /// a window the user closed).
    pub(crate) fn conversation_opening_if(&self, may_open: bool) -> *mut sys::PurpleConversation {
        if may_open {
            self.conversation_or_new()
        } else {
            self.conversation()
        }
    }

    /// The open IM conversation, created when missing (e.g. the user started from the buddy list).
    pub(crate) fn conversation_or_new(&self) -> *mut sys::PurpleConversation {
        let conv = self.conversation();
        if !conv.is_null() {
            return conv;
        }
        let account = self.account();
        // SAFETY: live account (checked); libpurple needs a connection for a new conversation.
        if account.is_null() || unsafe { sys::purple_account_get_connection(account) }.is_null() {
            return ptr::null_mut();
        }
        // libpurple hands back the window it finds under the name's normalization instead of
        // opening one: for an occupant of a room that was left, another occupant's window.
        if self.occupant_key().is_some() && !find_im(account, &self.peer).is_null() {
            return ptr::null_mut();
        }
        let name = cstring(&self.peer);
        // SAFETY: valid, connected account and name; libpurple owns the new conversation.
        unsafe { sys::purple_conversation_new(sys::PURPLE_CONV_TYPE_IM, account, name.as_ptr()) }
    }

    /// The key of an occupant of an XMPP group chat (`room@server/nick`, see [`contact_name`]),
    /// `None` for any other name (a contact's resource is its bare JID's conversation).
    ///
    /// libpurple finds a window by the name's normalization *now*, and files it under the one
    /// it had when the window opened: once the room is left, `room@server/nick` normalizes to
    /// `room@server`, so its lookup misses the occupant's window (Sotto's lines about it went
    /// nowhere) or finds a window opened since for another occupant of the room.
    fn occupant_key(&self) -> Option<ConvKey> {
        if self.protocol != "prpl-jabber" || !self.peer.contains('/') {
            return None;
        }
        Some(self.key()).filter(|k| k.peer.contains('/'))
    }

    /// Whether the account is live and has a connection (a line can be sent).
    pub(crate) fn connected(&self) -> bool {
        let account = self.account();
        // SAFETY: a live account (looked up just now); the connection may be NULL when offline.
        !account.is_null() && !unsafe { sys::purple_account_get_connection(account) }.is_null()
    }

    /// Whether the account is signed on (connected, not still connecting): a line sent now
    /// reaches the server.
    pub(crate) fn signed_on(&self) -> bool {
        let account = self.account();
        // SAFETY: a live account (looked up just now).
        !account.is_null() && unsafe { sys::purple_account_is_connected(account) } != 0
    }

    /// Our display name (nick) on the account's connection, when connected.
    pub(crate) fn own_display_name(&self) -> Option<String> {
        let account = self.account();
        if account.is_null() {
            return None;
        }
        // SAFETY: `account` is live; the connection may be NULL when offline.
        unsafe {
            let gc = sys::purple_account_get_connection(account);
            if gc.is_null() {
                return None;
            }
            cstr_to_string(sys::purple_connection_get_display_name(gc))
        }
    }

    /// Send one wire line straight to the protocol. `serv_send_im` emits no signal, so the line
    /// does not come back through our `sending-im-msg` handler; the `send_im` wrapper lets it
    /// through because [`Injecting`] marks it as ours.
    pub(crate) fn send_raw(&self, line: &str) -> bool {
        let account = self.account();
        if account.is_null() {
            return false;
        }
        let name = cstring(&self.peer);
        let text = cstring(line);
        // SAFETY: account is live; the connection is checked; strings are valid for the call.
        let rc = unsafe {
            let gc = sys::purple_account_get_connection(account);
            if gc.is_null() {
                return false;
            }
            let _ours = Injecting::enter();
            sys::serv_send_im(gc, name.as_ptr(), text.as_ptr(), 0)
        };
        rc >= 0
    }

    /// Send `markup` in the open conversation as if the user had typed it and pressed Enter
    /// (`purple_conv_im_send`): through `sending-im-msg`, and so through Sotto's own checks
    /// again, then written into the window as sent. `false` when no conversation is open.
    pub(crate) fn send_typed(&self, markup: &str) -> bool {
        let conv = self.conversation();
        if conv.is_null() {
            return false;
        }
        let text = cstring(markup);
        // SAFETY: `conv` is a live IM conversation (looked up just now); its IM data is
        // libpurple's; the string is valid for the call (libpurple copies it).
        unsafe {
            let im = sys::purple_conversation_get_im_data(conv);
            if im.is_null() {
                return false;
            }
            sys::purple_conv_im_send(im, text.as_ptr());
        }
        true
    }

    /// Run `cmdline` (a command without its `/`: `me waves`) in the open conversation as if
    /// the user had typed it there (`purple_cmd_do_command`): through Sotto's command overrides
    /// again. `Err` with libpurple's reason (if any) when it did not run, or no conversation
    /// is open.
    pub(crate) fn run_command(&self, cmdline: &str) -> Result<(), Option<String>> {
        let conv = self.conversation();
        if conv.is_null() {
            return Err(None);
        }
        let (line, markup) = (
            cstring(cmdline),
            cstring(&super::markup::text_to_html(cmdline)),
        );
        let mut error: *mut c_char = ptr::null_mut();
        // SAFETY: a live conversation (looked up just now), valid strings, and an error
        // out-parameter libpurple fills with a GLib string (or leaves NULL), freed here.
        let (status, reason) = unsafe {
            let status =
                sys::purple_cmd_do_command(conv, line.as_ptr(), markup.as_ptr(), &mut error);
            let reason = cstr_to_string(error);
            if !error.is_null() {
                sys::g_free(error.cast());
            }
            (status, reason)
        };
        if status == sys::PURPLE_CMD_STATUS_OK {
            Ok(())
        } else {
            Err(reason)
        }
    }

    /// Write `html` into the conversation window (creating none) with `flags`.
    pub(crate) fn write(&self, who: Option<&str>, html: &str, flags: sys::PurpleMessageFlags) {
        let conv = self.conversation();
        if conv.is_null() {
            return;
        }
        // SAFETY: `conv` is live (looked up just now).
        unsafe { write_to(conv, who, html, flags) };
    }

    /// Write one Sotto state line (system, never logged). `text` is plain text: escaped here.
    pub(crate) fn system_line(&self, text: &str) {
        self.own_line(
            text,
            sys::PURPLE_MESSAGE_SYSTEM | sys::PURPLE_MESSAGE_NO_LOG,
        );
    }

    /// One line of Sotto's own (`text`, plain: escaped here) with `flags`.
    ///
    /// In Finch, a window shared by a contact's merged buddies draws only its active
    /// conversation's lines, and a system line without `NOTIFY` never makes its conversation the
    /// active one (`finch_write_common`): a line about the other conversation (the contact
    /// ended the session, a message NOT delivered with its text) was dropped without a trace.
    /// There it is written as [`Self::arrival_line`] is (`NOTIFY` and `RECV`), which makes its
    /// conversation the active one, as a message from the contact would, and draws it; and
    /// as a message read there does, it ends what "Send unencrypted" allowed elsewhere in the
    /// window because of this conversation (the user is looking at it now: a plaintext line
    /// typed after switching back is asked about again).
    fn own_line(&self, text: &str, flags: sys::PurpleMessageFlags) {
        let html = sotto_html(text);
        let _own = OwnLine::writing();
        let conv = self.conversation();
        if conv.is_null() {
            return;
        }
        let flags = if finch_shares_window(self) {
            super::service::shown_in(self);
            flags | sys::PURPLE_MESSAGE_NOTIFY | sys::PURPLE_MESSAGE_RECV
        } else {
            flags
        };
        // SAFETY: `conv` is live (looked up just now; `finch_shares_window` writes nothing).
        unsafe { write_to(conv, None, &html, flags) };
    }

    /// A Sotto line about a message libpurple writes next, received in this conversation
    /// (the warning that it was NOT encrypted): a system line that also makes the
    /// conversation the active one where several share a window, as the message will.
    /// Finch draws no line for a conversation that is not active, and a system line
    /// (`SYSTEM` without `NOTIFY` loses `RECV` there) never makes one active: in a window
    /// shared by a contact's merged buddies the warning was dropped while the message after it
    /// made its conversation active and was shown under the title "(encrypted)" (found by a
    /// read-only audit). `NOTIFY` keeps `RECV`; Pidgin switches to the conversation too, as
    /// for the message, and draws it as any system line.
    pub(crate) fn arrival_line(&self, text: &str) {
        self.own_line(
            text,
            sys::PURPLE_MESSAGE_SYSTEM
                | sys::PURPLE_MESSAGE_NOTIFY
                | sys::PURPLE_MESSAGE_RECV
                | sys::PURPLE_MESSAGE_NO_LOG,
        );
    }

    /// Sotto's own text of several lines (the help, the list of known keys): one system line
    /// per line, as no line break survives [`line_html`].
    pub(crate) fn system_lines(&self, text: &str) {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            self.system_line(line);
        }
    }

    /// A failure the user must learn of, from an action taken where no window may be open
    /// (the buddy list, the Known fingerprints list): the contact's window says it if it is
    /// open, else an error box does (a line to no window is lost).
    pub(crate) fn failure_line(&self, text: &str) {
        self.line_or_box(text, true);
    }

    /// The outcome of something the user did where no window may be open (the buddy list, the
    /// Known fingerprints list): the contact's window says it if it is open, else a message
    /// box does (a line to no window is lost, and the user is left wondering whether it was
    /// done).
    pub(crate) fn outcome_line(&self, text: &str) {
        self.line_or_box(text, false);
    }

    /// `text` as a line in the contact's window if it is open, else in a message box (`error`:
    /// an error box, else an information box): [`Self::failure_line`], [`Self::outcome_line`].
    fn line_or_box(&self, text: &str, error: bool) {
        if self.conversation().is_null() {
            notify(super::state::plugin_handle(), error, "Sotto", text);
        } else {
            self.system_line(text);
        }
    }
}

/// libpurple's open IM conversation on `account` under `name`'s normalization (NULL: none).
fn find_im(account: *mut sys::PurpleAccount, name: &str) -> *mut sys::PurpleConversation {
    let name = cstring(name);
    // SAFETY: a live account (per the callers) and a valid name; the result is NULL or a live
    // conversation.
    unsafe {
        sys::purple_find_conversation_with_account(sys::PURPLE_CONV_TYPE_IM, name.as_ptr(), account)
    }
}

/// The open IM window showing the room occupant `key`: `found` (libpurple's lookup) when it
/// shows that occupant, else the first open window that does (see [`ConvRef::occupant_key`]).
fn occupant_window(
    found: *mut sys::PurpleConversation,
    key: &ConvKey,
) -> *mut sys::PurpleConversation {
    // SAFETY: `conv` is in libpurple's list of open IMs, just now: live.
    let shows = |conv| unsafe { ConvRef::from_conversation(conv) }.is_some_and(|w| w.key() == *key);
    let open = open_ims();
    // libpurple's lookup can even hand back a window closed after the room was left (it is
    // dropped from the lookup under the name's normalization then, not the one it was filed
    // under) once the room is joined again: only a window still in the list is used.
    if open.contains(&found) && shows(found) {
        return found;
    }
    open.into_iter()
        .find(|&conv| shows(conv))
        .unwrap_or(ptr::null_mut())
}

/// Every open IM window of `r`'s account named exactly `r.peer` (as libpurple hands the name to
/// the send path), whatever that name normalizes to now: libpurple's own lookup normalizes the
/// name as the server lets it today (an XMPP room occupant once the room is left, a room's
/// address on the roster), and misses a window filed under what it normalized to when it
/// opened.
pub(crate) fn ims_named(r: &ConvRef) -> Vec<*mut sys::PurpleConversation> {
    let account = r.account();
    if account.is_null() {
        return Vec::new();
    }
    open_ims()
        .into_iter()
        .filter(|&conv| {
            // SAFETY: in libpurple's list of open IMs just now: live.
            let (a, name) = unsafe {
                (
                    sys::purple_conversation_get_account(conv),
                    cstr_to_string(sys::purple_conversation_get_name(conv)),
                )
            };
            a == account && name.as_deref() == Some(r.peer.as_str())
        })
        .collect()
}

/// Every account libpurple has (enabled or not), copied out: live until one is deleted.
pub(crate) fn accounts() -> Vec<*mut sys::PurpleAccount> {
    // SAFETY: libpurple's list of accounts (PurpleAccount pointers), live for this call.
    unsafe { list_items(sys::purple_accounts_get_all()) }
}

/// Every open IM window (libpurple's list, newest first), copied out: live until the caller
/// closes one.
pub(crate) fn open_ims() -> Vec<*mut sys::PurpleConversation> {
    // SAFETY: libpurple's list of IM conversations (PurpleConversation pointers), live for this
    // call.
    unsafe { list_items(sys::purple_get_ims()) }
}

/// Whether `conv` is still one of libpurple's open IM windows. For a loop over windows listed
/// before a step that may close one: a line written, a title or logging set, a name changed
/// each emit a signal that another plugin may answer by closing a conversation, and the next
/// window of the list would then be a freed one (found by a review of the FFI layer).
pub(crate) fn still_open(conv: *mut sys::PurpleConversation) -> bool {
    !conv.is_null() && open_ims().contains(&conv)
}

/// Whether `conv` is still one of libpurple's open conversations of any kind (an IM, a group
/// chat): [`still_open`] for a window that may be a chat's.
pub(crate) fn still_listed(conv: *mut sys::PurpleConversation) -> bool {
    // SAFETY: libpurple's list of all conversations (PurpleConversation pointers), live for
    // this call.
    !conv.is_null() && unsafe { list_items(sys::purple_get_conversations()) }.contains(&conv)
}

/// Another loaded plugin with `plugin`'s id (another copy of this one, from another file):
/// its path.
///
/// # Safety
/// `plugin` must be libpurple's plugin being loaded.
pub(crate) unsafe fn another_loaded_copy(plugin: *mut sys::PurplePlugin) -> Option<String> {
    // SAFETY: per the caller; libpurple returns the id it holds (or NULL).
    let id = unsafe { cstr_to_string(sys::purple_plugin_get_id(plugin)) }?;
    // SAFETY: libpurple's list of loaded plugins (PurplePlugin pointers), live for this call.
    let loaded: Vec<*mut sys::PurplePlugin> =
        unsafe { list_items(sys::purple_plugins_get_loaded()) };
    loaded.into_iter().filter(|p| *p != plugin).find_map(|p| {
        // SAFETY: a loaded plugin of libpurple's: its id and path are its own strings.
        let same =
            unsafe { cstr_to_string(sys::purple_plugin_get_id(p)) }.as_deref() == Some(id.as_str());
        // SAFETY: as above (`path` is NULL or a string libpurple owns).
        same.then(|| unsafe { cstr_to_string((*p).path) }.unwrap_or_default())
    })
}

/// The items of a list libpurple owns, NULL ones left out, copied out.
///
/// # Safety
/// `list` must be NULL or a live `GList` whose items are `T` pointers, not changed meanwhile.
unsafe fn list_items<T>(list: *mut sys::GList) -> Vec<*mut T> {
    let mut out = Vec::new();
    let mut l = list;
    while !l.is_null() {
        // SAFETY: a live link of the list, per the caller.
        let item: *mut T = unsafe { (*l).data.cast() };
        // SAFETY: as above.
        l = unsafe { (*l).next };
        if !item.is_null() {
            out.push(item);
        }
    }
    out
}

/// A Sotto line as written into a window: "Sotto: " and `text` on one line ([`line_html`]).
fn sotto_html(text: &str) -> String {
    line_html(&format!("Sotto: {text}"))
}

/// A line of Sotto's own as the window's HTML: escaped, and on one line. Names the server or
/// the contact chose (a nick, a resource, an alias) appear in many of these lines: every
/// character that would start a line Sotto did not write (`\n`, `\r`, form feed, NEL, U+2028,
/// U+2029: GTK breaks lines on them), reorder it (bidi controls) or hide part of it (zero-width
/// and tag characters) is a space, as in [`super::texts::one_line`]. Sotto's own texts of
/// several lines are written one line at a time (`ConvRef::system_lines`).
fn line_html(text: &str) -> String {
    let text: String = super::texts::one_line(text).collect();
    super::markup::text_to_html(&text)
}

/// Write `html` into the conversation `conv` with `flags`.
///
/// # Safety
/// `conv` must be a live conversation.
pub(crate) unsafe fn write_to(
    conv: *mut sys::PurpleConversation,
    who: Option<&str>,
    html: &str,
    flags: sys::PurpleMessageFlags,
) {
    let text = cstring(html);
    let who_c = who.map(cstring);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // SAFETY: per the caller; strings valid for the call.
    unsafe {
        sys::purple_conversation_write(
            conv,
            who_c.as_ref().map_or(ptr::null(), |c| c.as_ptr()),
            text.as_ptr(),
            flags,
            now as sys::time_t,
        );
    }
}

/// Write one Sotto state line (plain text, escaped here) into the conversation `conv`. In a
/// Finch window shared with another open IM it is written as [`ConvRef::own_line`] writes
/// there (`NOTIFY` and `RECV`: drawn, and its conversation made the active one): the lines
/// written so (the window's account changed, its name taken by another contact, logging
/// turned off) were dropped without a trace while the other conversation was the active one
/// (found by a read-only review of Finch).
///
/// # Safety
/// `conv` must be a live conversation.
pub(crate) unsafe fn system_line_to(conv: *mut sys::PurpleConversation, text: &str) {
    let html = sotto_html(text);
    let mut flags = sys::PURPLE_MESSAGE_SYSTEM | sys::PURPLE_MESSAGE_NO_LOG;
    // SAFETY: per the caller.
    if unsafe { finch_shares_window_of(conv) } {
        // As `own_line`: the user is looking at this conversation now. (What its name stands
        // for now, if the window no longer follows it: an allowance ended there too asks again,
        // which is the safe side.)
        // SAFETY: per the caller.
        if let Some(r) = unsafe { ConvRef::from_conversation(conv) } {
            super::service::shown_in(&r);
        }
        flags |= sys::PURPLE_MESSAGE_NOTIFY | sys::PURPLE_MESSAGE_RECV;
    }
    let _own = OwnLine::writing();
    // SAFETY: per the caller.
    unsafe { write_to(conv, None, &html, flags) };
}

/// [`system_line_to`], as an arrival line ([`ConvRef::arrival_line`]: `NOTIFY` and `RECV`,
/// which makes the conversation the active one where several share a window, as the message
/// it is about will).
///
/// # Safety
/// `conv` must be a live conversation.
pub(crate) unsafe fn arrival_line_to(conv: *mut sys::PurpleConversation, text: &str) {
    let html = sotto_html(text);
    let flags = sys::PURPLE_MESSAGE_SYSTEM
        | sys::PURPLE_MESSAGE_NOTIFY
        | sys::PURPLE_MESSAGE_RECV
        | sys::PURPLE_MESSAGE_NO_LOG;
    let _own = OwnLine::writing();
    // SAFETY: per the caller.
    unsafe { write_to(conv, None, &html, flags) };
}

thread_local! {
    /// Set while Sotto writes one of its own state lines (they may quote what the user typed,
    /// a Sotto line included: "not sent: …").
    static OWN_LINE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The last command error Sotto handed the host ([`set_error`]), and when: the host writes
    /// it into the window itself, after the command returned ([`take_own_error`]).
    static OWN_ERROR: std::cell::RefCell<Option<(String, std::time::Instant)>> =
        const { std::cell::RefCell::new(None) };
}

/// Whether the write under way is the command error Sotto just handed the host (exactly its
/// text, within 2 seconds): a line of Sotto's own, though the host writes it (taken: once).
pub(crate) fn take_own_error(html: &str) -> bool {
    OWN_ERROR.with(|e| {
        let Ok(mut e) = e.try_borrow_mut() else {
            return false;
        };
        let own = e
            .as_ref()
            .is_some_and(|(text, at)| text == html && at.elapsed().as_secs() < 2);
        if own {
            *e = None;
        }
        own
    })
}

/// While alive, the write under way is one of Sotto's own state lines ([`writing_own_line`]).
struct OwnLine(bool);

impl OwnLine {
    fn writing() -> Self {
        Self(OWN_LINE.with(|o| o.replace(true)))
    }
}

impl Drop for OwnLine {
    fn drop(&mut self) {
        OWN_LINE.with(|o| o.set(self.0));
    }
}

/// Whether the write under way is one of Sotto's own state lines, never another plugin's.
pub(crate) fn writing_own_line() -> bool {
    OWN_LINE.with(std::cell::Cell::get)
}

/// Whether `account` has exactly this protocol id and username (its username can change:
/// `purple_account_set_username`).
///
/// # Safety
/// `account` must be a live `PurpleAccount`.
unsafe fn account_has(account: *mut sys::PurpleAccount, protocol: &str, username: &str) -> bool {
    // SAFETY: per the caller; the strings are the account's own, read at once.
    unsafe {
        cstr_to_string(sys::purple_account_get_protocol_id(account)).as_deref() == Some(protocol)
            && cstr_to_string(sys::purple_account_get_username(account)).as_deref()
                == Some(username)
    }
}

/// Borrow a `PurpleConversation`'s title.
///
/// # Safety
/// `conv` must be a live conversation.
pub(crate) unsafe fn conversation_title(conv: *mut sys::PurpleConversation) -> Option<String> {
    // SAFETY: per the caller.
    unsafe { cstr_to_string(sys::purple_conversation_get_title(conv)) }
}

/// Preference accessors under `/plugins/core/sotto/`.
pub(crate) mod prefs {
    use super::{cstr_to_string, cstring, sys};

    pub(crate) const ROOT: &str = "/plugins/core/sotto";
    pub(crate) const POLICY: &str = "/plugins/core/sotto/policy";
    pub(crate) const LOG_ENCRYPTED: &str = "/plugins/core/sotto/log_encrypted";
    pub(crate) const FRAGMENT_SIZE_DEFAULT: &str = "/plugins/core/sotto/fragment_size_default";
    /// Which store this profile used last (its `meta.incarnation`, in decimal; empty before
    /// any), as builds before 2026-12-07 (late) kept it: read where the record beside the
    /// store's folder (`store::ProfileRecord`) is not there yet, emptied once it is.
    pub(crate) const STORE_ID: &str = "/plugins/core/sotto/store_id";

    /// Register the preferences with their defaults (existing values are kept).
    pub(crate) fn register() {
        let root = cstring(ROOT);
        let policy = cstring(POLICY);
        let log = cstring(LOG_ENCRYPTED);
        let frag = cstring(FRAGMENT_SIZE_DEFAULT);
        let store_id = cstring(STORE_ID);
        // SAFETY: valid C strings; the add_* functions only add when missing.
        unsafe {
            sys::purple_prefs_add_none(root.as_ptr());
            sys::purple_prefs_add_string(policy.as_ptr(), c"opportunistic".as_ptr());
            sys::purple_prefs_add_bool(log.as_ptr(), 0);
            sys::purple_prefs_add_string(store_id.as_ptr(), c"".as_ptr());
            sys::purple_prefs_add_int(
                frag.as_ptr(),
                super::super::fragsize::DEFAULT_UNKNOWN as i32,
            );
        }
    }

    pub(crate) fn string(path: &str) -> Option<String> {
        let p = cstring(path);
        // SAFETY: valid path; returns a pointer owned by the prefs store, copied at once.
        unsafe { cstr_to_string(sys::purple_prefs_get_string(p.as_ptr())) }
    }

    pub(crate) fn set_string(path: &str, value: &str) {
        let (p, v) = (cstring(path), cstring(value));
        // SAFETY: valid path (registered by `register`) and value; libpurple copies the value.
        unsafe { sys::purple_prefs_set_string(p.as_ptr(), v.as_ptr()) }
    }

    pub(crate) fn boolean(path: &str) -> bool {
        let p = cstring(path);
        // SAFETY: valid path.
        unsafe { sys::purple_prefs_get_bool(p.as_ptr()) != 0 }
    }

    pub(crate) fn set_boolean(path: &str, value: bool) {
        let p = cstring(path);
        // SAFETY: valid path (registered by `register`).
        unsafe { sys::purple_prefs_set_bool(p.as_ptr(), value.into()) }
    }

    /// The preferences that keep plaintext out, kept in the profile's record beside the store
    /// (`store::ProfileRecord`): libpurple saves `prefs.xml` whole from each process's memory,
    /// 5 s after any change, and a second client on the profile, refused the store (Finch
    /// beside Pidgin), put its older copy back over what the user chose in the first (the
    /// global policy back to `opportunistic` after the user chose `always`; encrypted
    /// conversations logged again), and the next start used it without a word (found by a
    /// read-only review of two clients on one profile).
    pub(crate) const KEPT: [&str; 2] = [POLICY, LOG_ENCRYPTED];

    /// A kept preference's value, as the record writes it.
    pub(crate) fn value_of(path: &str) -> Option<String> {
        if path == LOG_ENCRYPTED {
            Some(boolean(path).to_string())
        } else {
            string(path)
        }
    }

    /// A kept preference whose value in `prefs.xml` at load was not the one last chosen while
    /// Sotto ran (the record's): both, and the value kept (the stricter).
    pub(crate) struct Kept {
        pub(crate) path: &'static str,
        pub(crate) in_prefs: String,
        pub(crate) recorded: String,
        pub(crate) kept: String,
    }

    /// At load, by the process that holds the store: each kept preference against `record`.
    /// Where `prefs.xml` and the record differ, the stricter value is kept in both (a value
    /// changed behind Sotto's back may be the user's own edit, or a stale copy another client
    /// saved: either way never a weaker one); each such difference is returned, to be told
    /// (also when the stricter was `prefs.xml`'s: the user's last choice was undone). Where
    /// the record has none, it takes the preference's.
    pub(crate) fn settle(record: &mut crate::store::ProfileRecord) -> Vec<Kept> {
        let mut told = Vec::new();
        for path in KEPT {
            let Some(here) = value_of(path) else {
                continue;
            };
            let recorded = record.setting(path).map(str::to_owned);
            let kept = crate::store::ProfileRecord::stricter(
                path == LOG_ENCRYPTED,
                recorded.as_deref(),
                &here,
            )
            .to_owned();
            if kept != here {
                if path == LOG_ENCRYPTED {
                    set_boolean(path, kept == "true");
                } else {
                    set_string(path, &kept);
                }
            }
            if let Some(recorded) = recorded.filter(|r| *r != here) {
                super::debug_warning(&format!(
                    "preference {path}: {here:?} in prefs.xml, {recorded:?} last chosen: \
                     {kept:?} kept"
                ));
                told.push(Kept {
                    path,
                    in_prefs: here,
                    recorded,
                    kept: kept.clone(),
                });
            }
            record.set(path, &kept);
        }
        told
    }

    pub(crate) fn int(path: &str) -> i64 {
        let p = cstring(path);
        // SAFETY: valid path.
        i64::from(unsafe { sys::purple_prefs_get_int(p.as_ptr()) })
    }
}

/// A boolean option of `r`'s account (SIMPLE's `udp`); false when the account is gone.
pub(crate) fn account_bool(r: &ConvRef, key: &str) -> bool {
    let account = r.account();
    if account.is_null() {
        return false;
    }
    let k = cstring(key);
    // SAFETY: a live account (looked up just now) and a valid key.
    unsafe { sys::purple_account_get_bool(account, k.as_ptr(), 0) != 0 }
}

/// Blist setting on a buddy holding its per-contact policy.
pub(crate) const BUDDY_POLICY: &str = "sotto-policy";

/// The global policy preference (default `opportunistic`).
pub(crate) fn global_policy() -> Policy {
    let set = prefs::string(prefs::POLICY);
    match set.as_deref().map(Policy::parse) {
        Some(Some(p)) => p,
        // Unset: the default.
        None => Policy::Opportunistic,
        // A value this version does not know (a hand-edited prefs.xml, a newer Sotto's): the
        // strictest, never a weaker one than the user may have meant.
        Some(None) => {
            // Said once a run: this is read for every message.
            static WARNED: std::sync::atomic::AtomicBool =
                std::sync::atomic::AtomicBool::new(false);
            if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
                debug_warning("the policy preference holds an unknown value: 'always' used");
            }
            Policy::Always
        }
    }
}

/// Find the buddy for a conversation (for its per-contact settings).
pub(crate) fn find_buddy(r: &ConvRef) -> *mut sys::PurpleBuddy {
    find_buddy_keyed(r, || r.key())
}

/// [`find_buddy`], with `r`'s key (`key()`, wanted only when libpurple's lookup of `r`'s name
/// misses) from a caller that has it at hand: the line-by-line path needs no second
/// normalization.
pub(crate) fn find_buddy_keyed(
    r: &ConvRef,
    key: impl FnOnce() -> ConvKey,
) -> *mut sys::PurpleBuddy {
    let account = r.account();
    if account.is_null() {
        return ptr::null_mut();
    }
    listed_buddy(account, r, key).0
}

/// `r`'s buddy as libpurple looks it up by `r`'s name, else by the contact's own address
/// ([`buddy_name_for`]; `key()` is wanted only then), and that address when it was the one
/// looked up (the buddy NULL: none under either).
fn listed_buddy(
    account: *mut sys::PurpleAccount,
    r: &ConvRef,
    key: impl FnOnce() -> ConvKey,
) -> (*mut sys::PurpleBuddy, Option<String>) {
    let buddy = find_buddy_exact(account, &r.peer);
    if !buddy.is_null() {
        return (buddy, None);
    }
    match buddy_name_for(r, key) {
        Some(contact) => (find_buddy_exact(account, &contact), Some(contact)),
        None => (buddy, None),
    }
}

/// libpurple's buddy of `account` named `name`, as libpurple looks it up (NULL: none).
fn find_buddy_exact(account: *mut sys::PurpleAccount, name: &str) -> *mut sys::PurpleBuddy {
    let name = cstring(name);
    // SAFETY: `account` is live (per the callers); result NULL or a live buddy.
    unsafe { sys::purple_find_buddy(account, name.as_ptr()) }
}

/// The contact's own address to look `r`'s buddy up by when libpurple's lookup of `r`'s name
/// misses it: XMPP, a name written with the DNS root's dot (`bob@example.org.`), which Sotto
/// keys as bob ([`without_root_dot`]) while libpurple's lookup keeps the dot. Not for a
/// room's occupant (its key keeps its room's name).
fn buddy_name_for(r: &ConvRef, key: impl FnOnce() -> ConvKey) -> Option<String> {
    if r.protocol != "prpl-jabber" || !r.peer.contains('.') {
        return None;
    }
    let contact = key().peer;
    (!contact.contains('/') && contact != r.peer).then_some(contact)
}

/// The name libpurple shows for the buddy of `r` (the user's alias, else the server's, e.g.
/// Slack's display name, else the name), if `r` is a buddy.
pub(crate) fn buddy_alias(r: &ConvRef) -> Option<String> {
    buddy_text(r, sys::purple_buddy_get_alias)
}

/// The names of `account`'s buddies that `wanted` (lower case) names: by their name, their
/// server alias or the alias libpurple shows, whatever the case.
pub(crate) fn buddies_named(account: *mut sys::PurpleAccount, wanted: &str) -> Vec<String> {
    let is_wanted = |s: Option<String>| s.is_some_and(|s| s.to_lowercase() == wanted);
    let mut out = Vec::new();
    each_buddy(account, |buddy| {
        // SAFETY: a live buddy of the list, read within this call.
        unsafe {
            if let Some(name) = cstr_to_string(sys::purple_buddy_get_name(buddy)) {
                if name.to_lowercase() == wanted
                    || is_wanted(cstr_to_string(sys::purple_buddy_get_server_alias(buddy)))
                    || is_wanted(cstr_to_string(sys::purple_buddy_get_alias(buddy)))
                {
                    out.push(name);
                }
            }
        }
    });
    out
}

/// The names of all of `account`'s buddies.
pub(crate) fn buddy_names(account: *mut sys::PurpleAccount) -> Vec<String> {
    let mut out = Vec::new();
    each_buddy(account, |buddy| {
        // SAFETY: a live buddy of the list, read within this call.
        out.extend(unsafe { cstr_to_string(sys::purple_buddy_get_name(buddy)) });
    });
    out
}

/// The conversations that may share `r`'s window, `r`'s own left out: the other buddies of the
/// buddy-list contacts `r`'s buddy belongs to (one buddy can be in several groups, each time in
/// a contact of its own: all are walked), as the conversations they name, on their own
/// accounts, any protocol; and every open IM conversation the UI shows in `r`'s window
/// ([`window_of`]), whatever its name. Pidgin shows a contact's conversations in one tab and
/// Finch in one window; the window stays when a conversation is renamed (an IRC nick change:
/// `bob` becomes `bob|away`), and the buddy list then names no conversation of it, nor it a
/// buddy: only the window still ties them.
pub(crate) fn contact_siblings(r: &ConvRef) -> Vec<ConvRef> {
    let mut out = buddy_siblings(r);
    out.extend(window_siblings(r));
    others_once(r, out)
}

/// The other accounts of `r`'s buddy-list contact (each buddy of every contact `r` is a buddy
/// of), open or not; empty when `r` is no buddy or its contact has no other.
pub(crate) fn contact_accounts(r: &ConvRef) -> Vec<ConvRef> {
    others_once(r, buddy_siblings(r))
}

/// `found` without `r` and without repeats, in order.
fn others_once(r: &ConvRef, mut found: Vec<ConvRef>) -> Vec<ConvRef> {
    let mut seen = vec![r.key()];
    found.retain(|s| {
        let key = s.key();
        let new = !seen.contains(&key);
        seen.push(key);
        new
    });
    found
}

/// The window the UI shows `conv` in: the address of its `ui_data`, 0 when it has none (a
/// headless client, a UI that keeps none). Pidgin 2.x gives every IM conversation it puts into
/// an existing tab (one of the same contact's, `pidgin_conv_find_gtkconv`) that tab's
/// `PidginConversation` as `ui_data`, and Finch its `FinchConv` likewise
/// (`find_conv_with_contact`); a conversation renamed (`purple_conversation_set_name`) keeps
/// it. An address, compared only, never dereferenced.
///
/// # Safety
/// `conv` must be a live `PurpleConversation`.
unsafe fn window_of(conv: *mut sys::PurpleConversation) -> usize {
    // SAFETY: per the caller; `ui_data` is a plain pointer field libpurple's UIs set.
    unsafe { (*conv).ui_data as usize }
}

/// The UI's id (`purple_core_get_ui`): "gtk-gaim" for Pidgin, "gnt-purple" for Finch.
fn ui_id() -> Option<String> {
    // SAFETY: a static string of libpurple's (the UI id given to `purple_core_init`), or NULL.
    unsafe { cstr_to_string(sys::purple_core_get_ui()) }
}

/// Whether the UI is Finch and shows `r`'s conversation in a window with another open IM
/// conversation: see [`ConvRef::own_line`].
fn finch_shares_window(r: &ConvRef) -> bool {
    let conv = r.conversation();
    // SAFETY: looked up just now: live (or NULL, checked inside).
    !conv.is_null() && unsafe { finch_shares_window_of(conv) }
}

/// [`finch_shares_window`] for the conversation `conv`, however it is named now.
///
/// # Safety
/// `conv` must be a live conversation.
unsafe fn finch_shares_window_of(conv: *mut sys::PurpleConversation) -> bool {
    if ui_id().as_deref() != Some("gnt-purple") {
        return false;
    }
    // SAFETY: per the caller.
    let window = unsafe { window_of(conv) };
    window != 0
        && open_ims()
            .into_iter()
            // SAFETY: each in libpurple's list of open IMs, just now: live.
            .any(|other| other != conv && unsafe { window_of(other) } == window)
}

/// `text` as a menu label shows it: Pidgin makes its menu items with GTK mnemonics, where a
/// `_` marks the next letter and is not drawn (`bob_`, an IRC alternate nick, showed as
/// `bob`): each is doubled there. Finch draws labels as they are.
pub(crate) fn menu_label(text: &str) -> CString {
    cstring(&as_menu_label(text, ui_id().as_deref() == Some("gtk-gaim")))
}

/// `text` as a label for a UI that reads GTK mnemonics (`mnemonics`: Pidgin) or not.
fn as_menu_label(text: &str, mnemonics: bool) -> String {
    if mnemonics {
        text.replace('_', "__")
    } else {
        text.to_owned()
    }
}

/// The other open IM conversations shown in `r`'s window ([`window_of`]), as they are named
/// now. Empty when `r`'s window is not open or has no UI data.
fn window_siblings(r: &ConvRef) -> Vec<ConvRef> {
    let own = r.conversation();
    if own.is_null() {
        return Vec::new();
    }
    // SAFETY: looked up just now: live.
    let window = unsafe { window_of(own) };
    if window == 0 {
        return Vec::new();
    }
    open_ims()
        .into_iter()
        // SAFETY: each in libpurple's list of open IMs, just now: live.
        .filter(|&conv| conv != own && unsafe { window_of(conv) } == window)
        // SAFETY: as above.
        .filter_map(|conv| unsafe { ConvRef::from_conversation(conv) })
        .collect()
}

/// The buddies in the buddy list with `r`'s name on `r`'s account, each with its contact (null
/// for none): libpurple's, live until the list changes.
pub(crate) fn buddies_of(r: &ConvRef) -> Vec<(*mut sys::PurpleBuddy, *mut sys::PurpleContact)> {
    let account = r.account();
    if account.is_null() {
        return Vec::new();
    }
    // (A name with the root dot: the contact's own address, as [`find_buddy`] looks it up.)
    let (_, contact) = listed_buddy(account, r, || r.key());
    let name = cstring(contact.as_deref().unwrap_or(&r.peer));
    let mut out = Vec::new();
    // SAFETY: a live account and a valid name; the list's links are ours to free, the buddies
    // libpurple's, read within this call.
    unsafe {
        let list = sys::purple_find_buddies(account, name.as_ptr());
        let mut link = list;
        while !link.is_null() {
            let buddy = (*link).data.cast::<sys::PurpleBuddy>();
            link = (*link).next;
            if !buddy.is_null() {
                out.push((buddy, sys::purple_buddy_get_contact(buddy)));
            }
        }
        sys::g_slist_free(list);
    }
    out
}

/// The buddy-list half of [`contact_siblings`] (duplicates and `r` itself not taken out).
fn buddy_siblings(r: &ConvRef) -> Vec<ConvRef> {
    let mut contacts: Vec<*mut sys::PurpleContact> = Vec::new();
    for (_, contact) in buddies_of(r) {
        if !contact.is_null() && !contacts.contains(&contact) {
            contacts.push(contact);
        }
    }
    let mut out: Vec<ConvRef> = Vec::new();
    for contact in contacts {
        // SAFETY: a live contact of the list (found just now; nothing since could change the
        // list); a PurpleContact starts with its PurpleBlistNode, as libpurple's own casts
        // assume. Its children are buddies (and, in principle, other nodes: skipped), each
        // read within this loop.
        unsafe {
            let mut node = sys::purple_blist_node_get_first_child(contact.cast());
            while !node.is_null() {
                if sys::purple_blist_node_get_type(node) == sys::PURPLE_BLIST_BUDDY_NODE {
                    let buddy = node.cast::<sys::PurpleBuddy>();
                    let name = cstr_to_string(sys::purple_buddy_get_name(buddy));
                    let r = name.and_then(|n| {
                        ConvRef::from_account(sys::purple_buddy_get_account(buddy), &n)
                    });
                    out.extend(r);
                }
                node = sys::purple_blist_node_get_sibling_next(node);
            }
        }
    }
    out
}

/// The name of `r`'s protocol as libpurple shows it ("XMPP", "IRC"), else its id.
pub(crate) fn protocol_name(r: &ConvRef) -> String {
    let account = r.account();
    if account.is_null() {
        return r.protocol.clone();
    }
    // SAFETY: a live account; the name is the protocol plugin's static string (or NULL).
    unsafe { cstr_to_string(sys::purple_account_get_protocol_name(account)) }
        .unwrap_or_else(|| r.protocol.clone())
}

/// Calls `f` with each of `account`'s buddies (live for the call only).
fn each_buddy(account: *mut sys::PurpleAccount, mut f: impl FnMut(*mut sys::PurpleBuddy)) {
    if account.is_null() {
        return;
    }
    // SAFETY: a live account; the list's links are ours to free, the buddies libpurple's, used
    // within this call.
    unsafe {
        let list = sys::purple_find_buddies(account, std::ptr::null());
        let mut link = list;
        while !link.is_null() {
            f((*link).data.cast::<sys::PurpleBuddy>());
            link = (*link).next;
        }
        sys::g_slist_free(list);
    }
}

/// The alias the server gave the buddy of `r` (Slack's display name, an XMPP nickname), if
/// `r` is a buddy and it has one: what the server knows the contact as besides its name, which
/// the user's own alias hides from [`buddy_alias`].
pub(crate) fn buddy_server_alias(r: &ConvRef) -> Option<String> {
    buddy_text(r, sys::purple_buddy_get_server_alias)
}

/// A string libpurple keeps on the buddy of `r` (`get`: one of its `purple_buddy_get_*`
/// getters), copied, if `r` is a buddy and the string is set.
fn buddy_text(
    r: &ConvRef,
    get: unsafe extern "C" fn(*mut sys::PurpleBuddy) -> *const c_char,
) -> Option<String> {
    let buddy = find_buddy(r);
    if buddy.is_null() {
        return None;
    }
    // SAFETY: a live buddy; libpurple owns the string (or NULL), copied here.
    unsafe { cstr_to_string(get(buddy)) }
}

/// The per-contact policy override stored on the buddy (`sotto-policy`), if any.
pub(crate) fn buddy_setting(r: &ConvRef, key: &str) -> Option<String> {
    let buddy = find_buddy(r);
    if buddy.is_null() {
        return None;
    }
    let k = cstring(key);
    // SAFETY: a PurpleBuddy starts with its PurpleBlistNode, as libpurple's own casts assume.
    unsafe { cstr_to_string(sys::purple_blist_node_get_string(buddy.cast(), k.as_ptr())) }
}

/// Store (or, with `None`, remove) a per-contact setting on the buddy. False when not a buddy.
pub(crate) fn set_buddy_setting(r: &ConvRef, key: &str, value: Option<&str>) -> bool {
    let buddy = find_buddy(r);
    if buddy.is_null() {
        return false;
    }
    let k = cstring(key);
    // SAFETY: see `buddy_setting`.
    unsafe {
        match value {
            Some(v) => {
                let v = cstring(v);
                sys::purple_blist_node_set_string(buddy.cast(), k.as_ptr(), v.as_ptr());
            }
            None => sys::purple_blist_node_remove_setting(buddy.cast(), k.as_ptr()),
        }
    }
    true
}

/// `purple_user_dir()`, e.g. `~/.purple`, byte for byte: a folder name that is not UTF-8 (a
/// Latin-1 home directory) read lossily named another folder, beside the profile, for the
/// store (found by a read-only review of the store).
pub(crate) fn user_dir() -> Option<std::path::PathBuf> {
    use std::os::unix::ffi::OsStrExt as _;
    // SAFETY: returns a static string owned by libpurple, or NULL.
    let dir = unsafe { sys::purple_user_dir() };
    if dir.is_null() {
        return None;
    }
    // SAFETY: a NUL-terminated string libpurple keeps for the life of the process.
    let bytes = unsafe { std::ffi::CStr::from_ptr(dir) }.to_bytes();
    (!bytes.is_empty()).then(|| std::ffi::OsStr::from_bytes(bytes).into())
}

/// A `PurpleCallback`-shaped pointer from any `extern "C"` function pointer.
///
/// # Safety
/// `f` must be an `extern "C"` function whose real signature matches what libpurple will call it
/// with (the signal's or menu's documented marshaller).
pub(crate) unsafe fn callback(f: *const c_void) -> sys::PurpleCallback {
    // SAFETY: function pointers and data pointers have the same size on every platform libpurple
    // runs on; the caller guarantees the signature.
    unsafe { std::mem::transmute::<*const c_void, sys::PurpleCallback>(f) }
}

/// Unregisters a command when dropped (plugin unload).
pub(crate) struct CommandGuard(sys::PurpleCmdId);

impl CommandGuard {
    /// Guard an id returned by `purple_cmd_register`.
    pub(crate) fn new(id: sys::PurpleCmdId) -> Self {
        CommandGuard(id)
    }
}

impl Drop for CommandGuard {
    fn drop(&mut self) {
        // SAFETY: an id returned by purple_cmd_register, unregistered once.
        unsafe { sys::purple_cmd_unregister(self.0) };
    }
}

/// Argument `index` of a command ("" when absent).
///
/// # Safety
/// `args` must be null or libpurple's NULL-terminated argument vector.
pub(crate) unsafe fn arg(args: *mut *mut c_char, index: usize) -> String {
    if args.is_null() {
        return String::new();
    }
    for i in 0..=index {
        // SAFETY: per the caller, entries up to the terminating NULL are valid; we stop there.
        let p = unsafe { *args.add(i) };
        if p.is_null() {
            return String::new();
        }
        if i == index {
            return cstr_to_string(p).unwrap_or_default();
        }
    }
    String::new()
}

/// Report a command error (libpurple shows it and frees it with `g_free`).
///
/// # Safety
/// `error` must be null or libpurple's error out-parameter.
pub(crate) unsafe fn set_error(error: *mut *mut c_char, msg: &str) {
    if !error.is_null() {
        // Pidgin writes a command's error into the window as HTML, and the names in Sotto's
        // errors are the server's choice: escaped as Sotto's lines are (Finch decodes the
        // entities as it strips markup).
        let html = line_html(msg);
        // SAFETY: per the caller.
        unsafe { *error = g_strdup(&html) };
        OWN_ERROR.with(|e| {
            if let Ok(mut e) = e.try_borrow_mut() {
                *e = Some((html, std::time::Instant::now()));
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    /// Pidgin draws a menu label's `_` as a mnemonic mark, not a character: a name with one
    /// (`bob_`, an IRC alternate nick) is shown as typed only with each doubled; Finch draws
    /// labels as they are.
    #[test]
    fn a_name_in_a_pidgin_menu_label_keeps_its_underscores() {
        assert_eq!(
            as_menu_label("Sotto: bob_ (IRC)", true),
            "Sotto: bob__ (IRC)"
        );
        assert_eq!(as_menu_label("a__b_", true), "a____b__");
        assert_eq!(
            as_menu_label("Sotto: bob_ (IRC)", false),
            "Sotto: bob_ (IRC)"
        );
    }

    /// A name in a Sotto line (a nick, a resource: the server's or the contact's choice) cannot
    /// start a line of its own, or reorder one; Sotto's own line breaks stay.
    #[test]
    fn a_name_in_a_sotto_line_cannot_break_it() {
        for fake in [
            "\n",
            "\r",
            "\r\n",
            "\u{c}",
            "\u{b}",
            "\u{1c}",
            "\u{85}",
            "\u{9b}",
            "\u{2028}",
            "\u{2029}",
            "\u{202E}",
            "\u{200B}",
            "\u{2060}",
            "\u{e0041}",
            "\u{feff}",
        ] {
            let html = sotto_html(&format!("bob{fake}Sotto: encrypted conversation started"));
            assert_eq!(
                html, "Sotto: bob Sotto: encrypted conversation started",
                "{fake:?}"
            );
        }
        // Not even Sotto's own line breaks: a text of several lines is written line by line.
        assert!(!sotto_html("one\ntwo").contains("<br"));
        assert!(!line_html("one\ntwo").contains("<br"));
    }

    /// A command's error names a conversation (the server's choice of name): Pidgin writes it
    /// as HTML, so it is escaped and cannot draw a line of its own or a link.
    #[test]
    fn a_command_error_is_written_as_text() {
        let mut error: *mut c_char = std::ptr::null_mut();
        let name = "<br>Sotto: encrypted conversation started <a href='x'>(verified)</a>";
        // SAFETY: a local out-parameter; freed below with g_free.
        unsafe { set_error(&mut error, &format!("Sotto: not sent to {name}")) };
        let written = cstr_to_string(error).expect("an error");
        // SAFETY: g_strdup's copy.
        unsafe { sys::g_free(error.cast()) };
        assert!(
            !written.contains('<') && !written.contains('\''),
            "{written}"
        );
        assert!(written.contains("&lt;br&gt;Sotto:"), "{written}");
        // SAFETY: a null out-parameter is ignored.
        unsafe { set_error(std::ptr::null_mut(), "ignored") };
    }

    /// Our own nick in a room, as its occupants see it: the room's spelling of the one occupant
    /// whose name normalizes to libpurple's (lower-cased) copy of it.
    #[test]
    fn our_room_nick_is_spelled_as_the_room_spells_it() {
        let lower = |n: &str| n.to_ascii_lowercase();
        let occupants = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert_eq!(
            as_the_room_spells("alice", occupants(&["Bob", "Alice", "carol"]), lower),
            "Alice"
        );
        // Not in the list (yet): libpurple's copy.
        assert_eq!(
            as_the_room_spells("alice", occupants(&["Bob"]), lower),
            "alice"
        );
        // Two occupants could be us: neither is guessed.
        assert_eq!(
            as_the_room_spells("alice", occupants(&["Alice", "alice", "Bob"]), lower),
            "alice"
        );
    }

    #[test]
    fn sip_scheme_is_not_part_of_the_contact() {
        assert_eq!(strip_sip_scheme("sip:bob@host"), "bob@host");
        assert_eq!(strip_sip_scheme("SIPS:bob@host"), "bob@host");
        assert_eq!(strip_sip_scheme("bob@host"), "bob@host");
        assert_eq!(strip_sip_scheme("sipbob@host"), "sipbob@host");
        assert_eq!(strip_sip_scheme("sí"), "sí");
        // One contact however the proxy spells it; the user part keeps its case.
        for spelled in [
            "bob@host",
            "sip:bob@HOST",
            "SIP:bob@Host;transport=tcp",
            "bob@host;lr",
        ] {
            assert_eq!(sip_contact(spelled), "bob@host", "{spelled}");
        }
        assert_eq!(sip_contact("Bob@host"), "Bob@host");
        assert_eq!(sip_contact("bob@HOST?subject=x"), "bob@host");
        // A user part with parameters is the user part (RFC 3261's own example).
        assert_eq!(
            sip_contact("sip:alice;day=tuesday@Atlanta.com;lr"),
            "alice;day=tuesday@atlanta.com"
        );
        assert_eq!(sip_contact("nobody"), "nobody");
    }

    /// An XMPP address with the DNS root's dot after its domain is the address without it; a
    /// dot in a resource, or one that is not after a domain, stays.
    #[test]
    fn an_xmpp_address_ending_in_the_root_dot_is_the_address_without_it() {
        for (written, is) in [
            ("bob@example.org.", "bob@example.org"),
            ("bob@example.org./laptop", "bob@example.org/laptop"),
            ("example.org.", "example.org"),
            (
                "room@conference.example./bob",
                "room@conference.example/bob",
            ),
            ("bob@example.org", "bob@example.org"),
            ("bob@example.org/laptop.", "bob@example.org/laptop."),
            ("bob@example.org/a/b.", "bob@example.org/a/b."),
            ("bob@example..", "bob@example.."),
            ("bob@.", "bob@."),
            (".", "."),
            ("", ""),
        ] {
            assert_eq!(without_root_dot(written.to_owned()), is, "{written}");
        }
        // A room joined under a name with the dot is the contact without it.
        assert!(is_room_address("room@muc.example.", "room@muc.example"));
        assert!(is_room_address("room@muc.example", "room@muc.example"));
        assert!(!is_room_address("room@muc.example", "room@muc.example."));
        assert!(!is_room_address("room@muc.example", "bob@muc.example"));
    }

    /// An occupant of an XMPP room stays `room@server/nick` after the room is left (libpurple
    /// then normalizes the name to `room@server`); a contact's full JID stays its bare JID.
    #[test]
    fn a_room_occupant_stays_itself_after_the_room_is_left() {
        let account = 0x5150;
        let room = "lounge@conference.example";
        let no_buddy = |_: &str| false;
        let in_room = |r: &str| r == room;
        let name = |raw: &str, normalized: &str| {
            occupant_name(account, raw, normalized.to_owned(), no_buddy, in_room)
        };
        // A contact writing from a resource, before any room: the bare JID.
        assert_eq!(name("bob@example/laptop", "bob@example"), "bob@example");
        let bob = format!("{room}/bob");
        assert_eq!(name(&bob, &bob), bob);
        // A nick spelled another way (a combining accent) that the room normalized.
        let decomposed = format!("{room}/jose\u{301}");
        let composed = format!("{room}/jos\u{e9}");
        assert_eq!(name(&decomposed, &composed), composed);
        // Left: libpurple says `room@server`; the occupant is still the occupant, as the room
        // normalized it.
        assert_eq!(name(&bob, room), bob);
        assert_eq!(name(&decomposed, room), composed);
        assert_eq!(
            name(&format!("{room}/carol"), room),
            format!("{room}/carol")
        );
        // The room itself, another account, other contacts: unchanged.
        assert_eq!(name(room, room), room);
        assert_eq!(
            occupant_name(account + 1, &bob, room.into(), no_buddy, in_room),
            room
        );
        assert_eq!(name("bob@example/laptop", "bob@example"), "bob@example");
        // A buddy is a contact, never a room: not remembered, and not split after.
        let buddy = |bare: &str| bare == "bob@example";
        assert_eq!(
            occupant_name(
                account,
                "bob@example/laptop",
                "bob@example/laptop".into(),
                buddy,
                in_room
            ),
            "bob@example/laptop"
        );
        assert_eq!(
            occupant_name(
                account,
                "bob@example/laptop",
                "bob@example".into(),
                buddy,
                in_room
            ),
            "bob@example"
        );
        assert_eq!(
            occupant_name(
                account,
                "bob@example/laptop",
                "bob@example".into(),
                no_buddy,
                in_room
            ),
            "bob@example"
        );
        super::super::state::forget_account(account);
        assert_eq!(name(&bob, room), room);
    }

    /// A name libpurple's XMPP normalization rejects comes back whole, resource and all, as an
    /// occupant's does; outside a room the account is in, it makes no room of the bare JID: the
    /// contact's other full JIDs stay the contact (found by a read-only audit).
    #[test]
    fn a_name_libpurple_cannot_normalize_makes_no_room() {
        let account = 0x5151;
        let (no_buddy, in_no_room) = (|_: &str| false, |_: &str| false);
        let invalid = "bob@example/x\t";
        assert_eq!(
            occupant_name(account, invalid, invalid.into(), no_buddy, in_no_room),
            invalid
        );
        assert_eq!(
            occupant_name(
                account,
                "bob@example/phone",
                "bob@example".into(),
                no_buddy,
                in_no_room
            ),
            "bob@example",
            "bob's phone split off bob"
        );
        super::super::state::forget_account(account);
    }

    #[test]
    fn arg_reads_up_to_the_terminating_null() {
        let a = CString::new("bob").unwrap();
        let b = CString::new("hello there").unwrap();
        let mut v = [
            a.as_ptr().cast_mut(),
            b.as_ptr().cast_mut(),
            std::ptr::null_mut(),
        ];
        // SAFETY: a NULL-terminated vector of valid C strings, as libpurple passes.
        unsafe {
            assert_eq!(arg(v.as_mut_ptr(), 0), "bob");
            assert_eq!(arg(v.as_mut_ptr(), 1), "hello there");
            assert_eq!(arg(v.as_mut_ptr(), 2), "");
            assert_eq!(arg(v.as_mut_ptr(), 5), "");
            assert_eq!(arg(std::ptr::null_mut(), 0), "");
        }
    }
}
