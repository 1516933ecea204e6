//! A stable identity per IM window, so a conversation follows the window when the server renames
//! the contact.
//!
//! libpurple 2.x has no "conversation renamed" signal. What it does have, and what this file
//! relies on (checked in libpurple 2.14's source):
//!
//! * On an IRC `NICK`, `irc_msg_nick` renames the open query window in place
//!   (`purple_conversation_set_name`): the same `PurpleConversation`, with the same data table.
//!   `set_name` then calls `autoset_title`, which emits `conversation-updated` with
//!   `PURPLE_CONV_UPDATE_TITLE` while the window already carries the new name.
//! * `purple_conversation_set_data` survives the rename and is dropped with the window
//!   (`deleting-conversation` is emitted while it is still readable).
//!
//! So every IM window gets a number stored in it ([`DATA_KEY`]); the plugin state remembers which
//! conversation (normalized name) that window showed. Whenever a window is seen (its title
//! changes, a message arrives in it, the user sends or runs a command in it) and its name no longer
//! normalizes to what its number remembers, the contact was renamed, and the conversation moves
//! to the new name (`service::track`, then [`crate::sessions::Sessions::rename`]) before anything
//! else is decided. XMPP's switches between bare and full JIDs normalize to the same name and
//! move nothing.
//!
//! Why this is sound: what was encrypted can only be read by the holder of the contact's key,
//! wherever the server delivers it, so following the server's rename never exposes text; not
//! following it is what leaked (the renamed window fell back to a fresh, plaintext conversation).
//! When the move cannot be made (the store refuses), the window's sends are refused with a line.

use std::ffi::{c_void, CStr, CString};

use crate::protocol::Policy;

use super::bindings as sys;
use super::boundary::ffi_boundary;
use super::glue::{self, ConvKey, ConvRef, BUDDY_POLICY};
use super::state::{with_state, Tag};

/// The window-data key holding a window's number.
const DATA_KEY: &std::ffi::CStr = c"sotto-window";

/// The window's number (0: not tagged yet).
///
/// # Safety
/// `conv` must be a live conversation.
unsafe fn number(conv: *mut sys::PurpleConversation) -> usize {
    // SAFETY: per the caller; the value is a small integer we stored, never dereferenced.
    unsafe { sys::purple_conversation_get_data(conv, DATA_KEY.as_ptr()) as usize }
}

/// Give `conv` a number for `r`'s conversation.
///
/// # Safety
/// `conv` must be a live conversation.
pub(crate) unsafe fn tag(conv: *mut sys::PurpleConversation, r: &ConvRef) {
    // SAFETY: per the caller.
    unsafe { tag_as(conv, r.key(), None) };
}

/// Give `conv` a number for the conversation `key` ([`tag`]; after a reload, the one it
/// showed before, with the policy it carried then).
///
/// # Safety
/// `conv` must be a live conversation.
unsafe fn tag_as(conv: *mut sys::PurpleConversation, key: ConvKey, carried: Option<Policy>) {
    let id = with_state(|s| {
        s.last_tag = s.last_tag.wrapping_add(1).max(1);
        let id = s.last_tag;
        s.tags.insert(
            id,
            Tag {
                key,
                carried_policy: carried,
                rename_failed_told: None,
                menu_built_for: None,
                user_acted: false,
            },
        );
        id
    });
    if let Some(id) = id {
        // SAFETY: per the caller; the value is an integer, freed by nobody.
        unsafe { sys::purple_conversation_set_data(conv, DATA_KEY.as_ptr(), id as *mut c_void) };
    }
}

/// What the plugin remembers of `conv`'s window: its number and tag (`None`: not tagged).
///
/// # Safety
/// `conv` must be a live conversation.
pub(crate) unsafe fn known(conv: *mut sys::PurpleConversation) -> Option<(usize, Tag)> {
    // SAFETY: per the caller.
    let id = unsafe { number(conv) };
    if id == 0 {
        return None;
    }
    with_state(|s| s.tags.get(&id).cloned().map(|t| (id, t))).flatten()
}

/// The conversation window `id` shows now, if it is still open.
pub(crate) fn key_of(id: usize) -> Option<ConvKey> {
    with_state(|s| s.tags.get(&id).map(|t| t.key.clone())).flatten()
}

/// The conversation window `id` (the one a dialog was opened in) shows now, when a rename
/// took it from `key`'s: a dialog's answer about `key` must not be applied to that name.
pub(crate) fn renamed_from(id: Option<usize>, key: &ConvKey) -> Option<ConvKey> {
    id.and_then(key_of).filter(|now| now != key)
}

/// Whether window `id` is yet to say that its conversation could not follow the contact to
/// `new` (and from now on, it has).
pub(crate) fn first_rename_failure(id: usize, new: &ConvKey) -> bool {
    with_state(|s| {
        s.tags.get_mut(&id).is_some_and(|t| {
            let first = t.rename_failed_told.as_ref() != Some(new);
            t.rename_failed_told = Some(new.clone());
            first
        })
    })
    .unwrap_or(true)
}

/// Whether the user did something in `conv`'s window's conversation since it was tagged
/// ([`Tag::user_acted`]).
///
/// # Safety
/// `conv` must be a live conversation.
pub(crate) unsafe fn user_acted_in(conv: *mut sys::PurpleConversation) -> bool {
    // SAFETY: per the caller.
    unsafe { known(conv) }.is_some_and(|(_, t)| t.user_acted)
}

/// The user did something in `key`'s conversation: its windows vouch for its name.
pub(crate) fn users_now(key: &ConvKey) {
    let _ = with_state(|s| {
        for t in s.tags.values_mut().filter(|t| t.key == *key) {
            t.user_acted = true;
        }
    });
}

/// Window `id` is in step with its conversation again: a later failure to follow is told.
pub(crate) fn rename_settled(id: usize) {
    let _ = with_state(|s| {
        if let Some(t) = s.tags.get_mut(&id) {
            t.rename_failed_told = None;
        }
    });
}

/// Window `id` now shows `new`'s conversation, with `carried` policy; its decorations follow.
pub(crate) fn moved(id: usize, old: &ConvKey, new: &ConvKey, carried: Option<Policy>) {
    let _ = with_state(|s| {
        if let Some(t) = s.tags.get_mut(&id) {
            t.key = new.clone();
            t.carried_policy = carried;
            t.rename_failed_told = None;
        }
        if let Some(w) = s.windows.remove(old) {
            s.windows.insert(new.clone(), w);
        }
        s.answer_dialogs.moved(old, new);
        if s.allow_next.as_ref().is_some_and(|a| a.key == *old) {
            s.allow_next = None;
        }
    });
    // A question asked under either name ended with the move (`Sessions::rename` ends the
    // moving conversation's run and parks the one the new name had): a dialog still open for
    // it would answer a question nobody waits on.
    close_answer_dialog(old);
    close_answer_dialog(new);
}

/// Closes the answer dialog open for the conversation `key` names, if any: nothing it would
/// send is sent.
pub(crate) fn close_answer_dialog(key: &ConvKey) {
    let open = with_state(|state| {
        let (id, _) = state.answer_dialog(key)?;
        state.dialogs.remove(&id).map(|_| id)
    })
    .flatten();
    if let Some(id) = open {
        // SAFETY: the owner handle the dialog was opened with (its number, see
        // `dialogs::answer`); libpurple closes the requests it still has with it, none when the
        // user closed it already. Its Pending is gone: a callback would do nothing.
        unsafe { sys::purple_request_close_with_handle(id as *mut c_void) };
    }
}

/// The buddy policy of `r`'s name, if it has a buddy with one.
pub(crate) fn buddy_policy(r: &ConvRef) -> Option<Policy> {
    // A value this version does not know (a newer Sotto's): the strictest.
    glue::buddy_setting(r, BUDDY_POLICY).map(|s| Policy::parse(&s).unwrap_or(Policy::Always))
}

/// Window `id` keeps "always" over its new name's own weaker setting (`service::follow`).
pub(crate) fn carry_always(id: usize) {
    let _ = with_state(|s| {
        if let Some(t) = s.tags.get_mut(&id) {
            t.carried_policy = Some(Policy::Always);
        }
    });
}

/// The policy carried by `r`'s window from the buddy it was opened for, if it was renamed away
/// from that buddy.
pub(crate) fn carried_policy(r: &ConvRef) -> Option<Policy> {
    let conv = r.conversation();
    if conv.is_null() {
        return None;
    }
    // SAFETY: looked up just now: live.
    let id = unsafe { number(conv) };
    with_state(|s| s.tags.get(&id).and_then(|t| t.carried_policy)).flatten()
}

/// The user chose a policy for `r`'s contact (or "the global setting"): the one its window
/// carried over from the buddy it was opened for no longer counts. It outranked the global
/// setting, so "Use the global setting" in a renamed window changed nothing.
pub(crate) fn drop_carried_policy(r: &ConvRef) {
    let conv = r.conversation();
    if conv.is_null() {
        return;
    }
    // SAFETY: looked up just now: live.
    let id = unsafe { number(conv) };
    let _ = with_state(|s| {
        if let Some(t) = s.tags.get_mut(&id) {
            t.carried_policy = None;
        }
    });
}

/// The window is going away: forget its number, and what Sotto changed about it once no other
/// window shows its conversation.
///
/// # Safety
/// `conv` must be a live conversation.
pub(crate) unsafe fn forget(conv: *mut sys::PurpleConversation) {
    // SAFETY: per the caller.
    if let Some((account, _, name)) = unsafe { irc_window(conv) } {
        // SAFETY: per the caller; `conv` is still open (and skipped).
        unsafe { name_left(account, &name, conv) };
    }
    // SAFETY: per the caller.
    let id = unsafe { number(conv) };
    if id != 0 {
        let _ = with_state(|s| {
            // What Sotto changed about the window goes with its last window: the state kept
            // per window stays as many as the windows open.
            if let Some(tag) = s.tags.remove(&id) {
                if !s.tags.values().any(|t| t.key == tag.key) {
                    s.windows.remove(&tag.key);
                }
            }
        });
    }
}

/// An IRC IM window's account, its name and that name normalized (raw bytes, as libpurple
/// keeps them); `None` for any other window. Only IRC renames a contact onto the name of a
/// window still open (a `NICK`), and its normalization depends on nothing but the name: an
/// XMPP room occupant's window normalizes to the room once it is left, so a window entered in
/// libpurple's lookup under one name would be removed from it under another, leaving an entry
/// for a closed window behind.
///
/// # Safety
/// `conv` must be a live conversation.
unsafe fn irc_window(
    conv: *mut sys::PurpleConversation,
) -> Option<(*mut sys::PurpleAccount, CString, CString)> {
    // SAFETY: per the caller; the strings are libpurple's (the normalized one a static buffer),
    // copied at once.
    unsafe {
        if sys::purple_conversation_get_type(conv) != sys::PURPLE_CONV_TYPE_IM {
            return None;
        }
        let account = sys::purple_conversation_get_account(conv);
        if account.is_null() {
            return None;
        }
        let protocol = sys::purple_account_get_protocol_id(account);
        if protocol.is_null() || CStr::from_ptr(protocol) != c"prpl-irc" {
            return None;
        }
        let name = sys::purple_conversation_get_name(conv);
        if name.is_null() {
            return None;
        }
        let name = CStr::from_ptr(name).to_owned();
        let normalized = sys::purple_normalize(account, name.as_ptr());
        if normalized.is_null() {
            return None;
        }
        Some((account, name, CStr::from_ptr(normalized).to_owned()))
    }
}

/// Most names waiting to be looked at by [`relink`] (a few at a time in practice).
const RELINK_KEPT: usize = 64;

/// An IRC window of `account` no longer holds the name `normalized` in libpurple's lookup (it is
/// closing, or was renamed away): when another open window (not `leaving`) still shows that
/// name, [`relink`] enters it again once the main loop is back.
///
/// libpurple 2.14 keeps one lookup entry per name: `purple_conversation_set_name` (a `NICK` onto
/// the name of an open window) replaces that window's entry with the renamed one's, and both
/// `purple_conversation_destroy` and a later `set_name` of the renamed window remove the entry
/// for the name whichever window it holds. The other window stayed open but was not found by
/// name: the contact's next message opened a second window beside it, and Sotto's lines about
/// what was typed in it (a text held, a refusal) went to no window at all.
///
/// # Safety
/// `leaving` must be null or a live conversation; `account` is only compared.
pub(crate) unsafe fn name_left(
    account: *mut sys::PurpleAccount,
    normalized: &CStr,
    leaving: *mut sys::PurpleConversation,
) {
    let shown = glue::open_ims().into_iter().any(|other| {
        // SAFETY: listed from libpurple's open conversations just now.
        other != leaving
            && unsafe { irc_window(other) }
                .is_some_and(|(a, _, n)| a == account && *n == *normalized)
    });
    if !shown {
        return;
    }
    let _ = with_state(|s| {
        if s.relink_names.len() < RELINK_KEPT {
            s.relink_names
                .push((account as usize, normalized.to_owned()));
        }
        if s.relink_due.is_none() {
            s.relink_due = Some(super::service::Timeout::soon(relink));
        }
    });
}

/// The 0 ms timeout [`name_left`] set: each open IRC window showing one of the names it noted,
/// that libpurple's lookup does not find by its own name, is entered again
/// (`purple_conversation_set_name` with that name, which also sets its title again). A window
/// the lookup finds is left alone: of two that still share the name, the one libpurple finds
/// stays the one it finds (a window the contact's message opened meanwhile keeps it).
unsafe extern "C" fn relink(_data: sys::gpointer) -> sys::gboolean {
    ffi_boundary!(0, {
        let names = with_state(|s| {
            if let Some(due) = s.relink_due.take() {
                due.ran();
            }
            std::mem::take(&mut s.relink_names)
        })
        .unwrap_or_default();
        for conv in glue::open_ims() {
            // (A name set on one window emits signals that may have another closed.)
            if !glue::still_open(conv) {
                continue;
            }
            // SAFETY: in libpurple's open conversations just now.
            let Some((account, name, normalized)) = (unsafe { irc_window(conv) }) else {
                continue;
            };
            if !names
                .iter()
                .any(|(a, n)| *a == account as usize && *n == normalized)
            {
                continue;
            }
            // SAFETY: a live conversation and its account; `set_name` is given a copy of the
            // name (it frees the conversation's own before copying the new one).
            unsafe {
                let found = sys::purple_find_conversation_with_account(
                    sys::PURPLE_CONV_TYPE_IM,
                    name.as_ptr(),
                    account,
                );
                if found.is_null() {
                    sys::purple_conversation_set_name(conv, name.as_ptr());
                }
            }
        }
        0
    })
}

/// Other open IM windows (not window `except`) that show `key`'s conversation: after a rename
/// onto a name such a window still carries, it is stale (its contact left and someone else now
/// has the name).
pub(crate) fn others_showing(key: &ConvKey, except: usize) -> Vec<*mut sys::PurpleConversation> {
    glue::open_ims()
        .into_iter()
        .filter(|&conv| {
            // SAFETY: listed from libpurple's open conversations just now.
            unsafe { known(conv) }.is_some_and(|(id, tag)| id != except && tag.key == *key)
        })
        .collect()
}

/// The window-data key holding, while Sotto is unloaded, the conversation a window showed and
/// the policy it carried (`protocol\x01account\x01policy\x01peer`, GLib-owned; taken and
/// freed at the next load).
const KEPT_KEY: &std::ffi::CStr = c"sotto-kept-key";

/// At unload: each open window keeps the conversation it showed, in its own data, for the
/// next load ([`track_all`]). The plugin's memory goes with the unload, and a window's name
/// can stand for another conversation by then: an XMPP private chat `room@server/bob`, the
/// room left, normalizes to `room@server` (the memory of rooms left is what kept it bob's),
/// and an IRC contact renamed while Sotto was unloaded has a new name. Tagged from its name
/// at the load, such a window was a blank conversation: what was typed there next went out
/// in plaintext (found by a read-only review). A window closed while Sotto is unloaded
/// leaves its few bytes unfreed.
pub(crate) fn keep_for_reload() {
    for conv in glue::open_ims() {
        // SAFETY: listed from libpurple's open conversations just now.
        let Some((_, t)) = (unsafe { known(conv) }) else {
            continue;
        };
        let kept = kept_text(&t.key, t.carried_policy);
        // SAFETY: live conversation; the value is a GLib string only Sotto reads, and any
        // earlier one (an unload whose load never took it) is freed first.
        unsafe {
            free_kept(conv);
            sys::purple_conversation_set_data(
                conv,
                KEPT_KEY.as_ptr(),
                glue::g_strdup(&kept).cast(),
            );
        }
    }
}

/// Frees and clears what [`keep_for_reload`] left in `conv`, returning the conversation and the
/// policy the window carried.
///
/// # Safety
/// `conv` must be a live conversation.
unsafe fn free_kept(conv: *mut sys::PurpleConversation) -> Option<(ConvKey, Option<Policy>)> {
    // SAFETY: per the caller; the value is null or a GLib string Sotto stored.
    unsafe {
        let p =
            sys::purple_conversation_get_data(conv, KEPT_KEY.as_ptr()).cast::<std::ffi::c_char>();
        if p.is_null() {
            return None;
        }
        let kept = CStr::from_ptr(p).to_str().ok().map(str::to_owned);
        sys::purple_conversation_set_data(conv, KEPT_KEY.as_ptr(), std::ptr::null_mut());
        sys::g_free(p.cast());
        parse_kept(&kept?)
    }
}

/// What a window keeps across an unload ([`keep_for_reload`]): its conversation and the
/// policy it carried, as `protocol\x01account\x01policy\x01peer` (the policy empty for
/// none; the peer last, so a name with the separator in it survives whole).
fn kept_text(key: &ConvKey, carried: Option<Policy>) -> String {
    let carried = carried.map_or("", Policy::as_str);
    format!(
        "{}\u{1}{}\u{1}{carried}\u{1}{}",
        key.protocol, key.account, key.peer
    )
}

/// [`kept_text`] read back; `None` for anything it did not write.
fn parse_kept(kept: &str) -> Option<(ConvKey, Option<Policy>)> {
    let mut parts = kept.splitn(4, '\u{1}');
    let (protocol, account) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    // A policy this version does not know (another version's, before a downgrade) is carried
    // as the strictest: what the window carried may have kept plaintext out.
    let carried = match parts.next()? {
        "" => None,
        p => Some(Policy::parse(p).unwrap_or(Policy::Always)),
    };
    let key = ConvKey {
        protocol,
        account,
        peer: parts.next()?.to_owned(),
    };
    Some((key, carried))
}

/// Number every IM window already open (the plugin was loaded into a running client). A
/// window that kept the conversation it showed before an unload ([`keep_for_reload`]) shows
/// it again, with the policy it carried: an XMPP occupant of a room left since is remembered
/// again as one; any other name that now stands for another conversation is a rename,
/// followed or refused here (`service::track`) before any line is read or sent, as if Sotto
/// had been loaded all along (followed later, another window under the old name, one a
/// stranger who took it opened meanwhile, read in the moved conversation until then).
pub(crate) fn track_all() {
    let mut kept_windows = Vec::new();
    for conv in glue::open_ims() {
        // SAFETY: listed from libpurple's open conversations just now.
        unsafe {
            let kept = free_kept(conv);
            let Some(r) = ConvRef::from_conversation(conv) else {
                continue;
            };
            match kept {
                Some((kept, carried)) => {
                    glue::remember_left_occupant(&r, &kept);
                    tag_as(conv, kept.clone(), carried);
                    kept_windows.push((conv, kept, r.key()));
                }
                None => tag(conv, &r),
            }
        }
    }
    // In the order the renames happened, as far as the names tell: a window whose name now
    // is another kept window's old name follows after that one (carol became dave, then bob
    // became carol: carol's conversation moves to dave before bob's takes "carol"; the other
    // way round, bob's conversation would end up under dave). A cycle (two names swapped)
    // cannot be ordered: its windows follow in libpurple's order, each as a rename.
    while !kept_windows.is_empty() {
        let next = kept_windows
            .iter()
            .position(|(conv, _, now)| {
                !kept_windows
                    .iter()
                    .any(|(other, old, _)| other != conv && old == now)
            })
            .unwrap_or(0);
        let (conv, _, _) = kept_windows.remove(next);
        // (Still open: following one window's rename writes lines, which another plugin
        // could answer by closing a window.)
        if glue::open_ims().contains(&conv) {
            // SAFETY: in libpurple's list of open conversations just now: live.
            unsafe { super::service::track(conv) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_window_keeps_across_an_unload_reads_back_as_it_was() {
        let key = |peer: &str| ConvKey {
            protocol: "prpl-jabber".into(),
            account: "alice@localhost".into(),
            peer: peer.into(),
        };
        for carried in [None, Some(Policy::Always), Some(Policy::Manual)] {
            for peer in ["room@muc.localhost/bob", "odd\u{1}name", ""] {
                let text = kept_text(&key(peer), carried);
                assert_eq!(parse_kept(&text), Some((key(peer), carried)), "{text:?}");
            }
        }
        // A policy this version does not know: the conversation is kept, carried as "always".
        assert_eq!(
            parse_kept("prpl-jabber\u{1}alice@localhost\u{1}sometimes\u{1}bob"),
            Some((key("bob"), Some(Policy::Always)))
        );
        // Not what keep_for_reload writes: nothing is made of it.
        for foreign in [
            "",
            "prpl-irc",
            "prpl-irc\u{1}alice",
            "prpl-irc\u{1}alice\u{1}",
        ] {
            assert_eq!(parse_kept(foreign), None, "{foreign:?}");
        }
    }
}
