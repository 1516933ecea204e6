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

use std::ffi::c_void;

use crate::protocol::Policy;

use super::bindings as sys;
use super::glue::{self, ConvKey, ConvRef, BUDDY_POLICY};
use super::state::{with_state, Pending, Tag};

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
    let id = with_state(|s| {
        s.last_tag = s.last_tag.wrapping_add(1).max(1);
        let id = s.last_tag;
        s.tags.insert(
            id,
            Tag {
                key: r.key(),
                carried_policy: None,
                rename_failed_told: None,
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
        let id = state.dialogs.iter().find_map(|(id, p)| {
            matches!(p, Pending::Answer { r, .. } if r.key() == *key).then_some(*id)
        })?;
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

/// Number every IM window already open (the plugin was loaded into a running client).
pub(crate) fn track_all() {
    for conv in glue::open_ims() {
        // SAFETY: listed from libpurple's open conversations just now.
        unsafe {
            if let Some(r) = ConvRef::from_conversation(conv) {
                tag(conv, &r);
            }
        }
    }
}
