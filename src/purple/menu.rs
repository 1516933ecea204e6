//! The "Sotto" submenu (buddy menu, Conversation > More, conversation Options) and the
//! per-contact settings dialog.
//!
//! Menu items carry only an action code; the buddy or conversation they act on is the object
//! libpurple hands the callback, looked up again when the item is chosen.

use std::ffi::{c_int, c_void, CStr};

use crate::protocol::{ConvState, Policy};

use super::bindings as sys;
use super::boundary::{ffi_boundary, non_null};
use super::glue::{self, cstr_to_string, ConvRef};
use super::texts::Shown;
use super::{present, service, texts};

const START: usize = 1;
const STOP: usize = 2;
const SETTINGS: usize = 3;
const FINGERPRINT: usize = 4;
const VERIFY: usize = 5;
const GIVE_BACK: usize = 6;

/// What waits in a conversation with no session, that `/sotto stop` would release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Held {
    /// Nothing typed waits.
    Nothing,
    /// Typed messages wait for a start that did not finish (stop hands them back).
    Messages,
    /// Typed messages wait, in an encrypted conversation, for the contact's client that holds
    /// the session and went offline (given back without ending the session).
    ForAwayClient,
}

/// The submenu's items for a conversation in `state`: each label names the action it takes, so
/// "Start" shows only while not encrypted, "Restart" and "End" only while a session exists (or
/// is starting, or was ended by the peer). With no session, what the window said `/sotto stop`
/// releases (`held`) has its own item, so a user of the menus is never told of a command alone.
fn items(state: Option<ConvState>, held: Held) -> Vec<(&'static CStr, usize)> {
    let mut items = match state {
        Some(ConvState::Plaintext) | None => vec![(c"Start encrypted conversation", START)],
        Some(ConvState::Handshaking | ConvState::Encrypted | ConvState::Finished) => vec![
            (c"Restart encrypted conversation", START),
            (c"End encrypted conversation", STOP),
        ],
    };
    if matches!(state, Some(ConvState::Plaintext) | None) && held == Held::Messages {
        items.push((c"Stop waiting (give back held messages)", STOP));
    }
    if state == Some(ConvState::Encrypted) && held == Held::ForAwayClient {
        items.push((c"Stop waiting (give back held messages)", GIVE_BACK));
    }
    items.extend([
        (c"Verify contact...", VERIFY),
        (c"Show fingerprints", FINGERPRINT),
        (c"Settings for this contact...", SETTINGS),
    ]);
    items
}

/// Append the "Sotto" submenu for the conversation with `r` with `callback` (called as
/// `callback(object, action_code)`).
///
/// # Safety
/// `menu` must be a valid `GList **`; `callback` must take `(gpointer object, gpointer data)`.
unsafe fn append_submenu(menu: *mut *mut sys::GList, callback: *const c_void, r: &ConvRef) {
    let held = if service::held_for_away_holder(r) {
        Held::ForAwayClient
    } else if service::waiting(r).is_some_and(|(n, _)| n > 0) {
        Held::Messages
    } else {
        Held::Nothing
    };
    let items = items(service::conv_state(r), held);
    // SAFETY: per the caller; labels are static and copied by libpurple.
    unsafe {
        let cb = glue::callback(callback);
        let mut children: *mut sys::GList = std::ptr::null_mut();
        for (label, code) in items {
            let act = sys::purple_menu_action_new(
                label.as_ptr(),
                cb,
                code as *mut c_void,
                std::ptr::null_mut(),
            );
            children = sys::g_list_append(children, act.cast());
        }
        let sub =
            sys::purple_menu_action_new(c"Sotto".as_ptr(), None, std::ptr::null_mut(), children);
        *menu = sys::g_list_append(*menu, sub.cast());
    }
}

/// The buddy a blist node stands for: a buddy, or a contact's priority buddy (Finch hands
/// contacts).
///
/// # Safety
/// `node` must be null or a live blist node.
unsafe fn buddy_ref(node: *mut sys::PurpleBlistNode) -> Option<ConvRef> {
    if node.is_null() {
        return None;
    }
    // SAFETY: live node; buddies and contacts start with their PurpleBlistNode.
    unsafe {
        let buddy: *mut sys::PurpleBuddy = match sys::purple_blist_node_get_type(node) {
            sys::PURPLE_BLIST_BUDDY_NODE => node.cast(),
            sys::PURPLE_BLIST_CONTACT_NODE => sys::purple_contact_get_priority_buddy(node.cast()),
            _ => return None,
        };
        if buddy.is_null() {
            return None;
        }
        let account = sys::purple_buddy_get_account(buddy);
        let name = cstr_to_string(sys::purple_buddy_get_name(buddy))?;
        ConvRef::from_account(account, &name)
    }
}

/// `blist-node-extended-menu(node, &menu)`.
pub(crate) unsafe extern "C" fn blist_node_extended_menu(
    node: *mut sys::PurpleBlistNode,
    menu: *mut *mut sys::GList,
    _data: *mut c_void,
) {
    ffi_boundary!((), {
        non_null!(menu);
        // SAFETY: live node for this callback.
        let Some(r) = (unsafe { buddy_ref(node) }) else {
            return;
        };
        // SAFETY: live node.
        if unsafe { sys::purple_blist_node_get_type(node) } == sys::PURPLE_BLIST_CONTACT_NODE {
            remember_target(node as usize, &r);
        }
        // SAFETY: valid menu; `blist_action` takes (node, data).
        unsafe { append_submenu(menu, blist_action as *const c_void, &r) };
    })
}

/// A contact's menu was built for `r`, its priority buddy now ([`State::menu_targets`]).
///
/// [`State::menu_targets`]: super::state::State::menu_targets
fn remember_target(node: usize, r: &ConvRef) {
    let _ = super::state::with_state(|s| {
        s.menu_targets.retain(|(n, _)| *n != node);
        if s.menu_targets.len() >= super::state::MENU_TARGETS_KEPT {
            s.menu_targets.pop_front();
        }
        s.menu_targets.push_back((node, r.clone()));
    });
}

/// The buddy an item of `node`'s menu acts on: the one its menu was built for when `node` is a
/// contact (its priority buddy may have changed since), else the buddy `node` is.
///
/// # Safety
/// `node` must be null or a live blist node.
unsafe fn action_target(node: *mut sys::PurpleBlistNode) -> Option<ConvRef> {
    // Only a contact's entry: a buddy node never has one, also one at the address of a
    // contact since freed.
    // SAFETY: per the caller, live when not null.
    let contact = !node.is_null()
        && unsafe { sys::purple_blist_node_get_type(node) } == sys::PURPLE_BLIST_CONTACT_NODE;
    if !contact {
        // SAFETY: per the caller.
        return unsafe { buddy_ref(node) };
    }
    let built = super::state::with_state(|s| {
        s.menu_targets
            .iter()
            .find(|(n, _)| *n == node as usize)
            .map(|(_, r)| r.clone())
    })
    .flatten();
    // SAFETY: per the caller.
    built.or_else(|| unsafe { buddy_ref(node) })
}

/// `conversation-extended-menu(conv, &menu)`.
pub(crate) unsafe extern "C" fn conversation_extended_menu(
    conv: *mut sys::PurpleConversation,
    menu: *mut *mut sys::GList,
    _data: *mut c_void,
) {
    ffi_boundary!((), {
        non_null!(menu);
        // SAFETY: live conversation for this callback.
        let Some(r) = (unsafe { ConvRef::from_conversation(conv) }) else {
            return;
        };
        // SAFETY: valid menu; `conv_action` takes (conv, data).
        unsafe { append_submenu(menu, conv_action as *const c_void, &r) };
    })
}

unsafe extern "C" fn blist_action(node: *mut sys::PurpleBlistNode, data: *mut c_void) {
    ffi_boundary!((), {
        // SAFETY: the node the menu was built for, live while its menu is shown.
        if let Some(r) = unsafe { action_target(node) } {
            // The buddy's window, when one is open, may have had its account changed under it:
            // nothing is done there as the new account (as in the window's own menu).
            let conv = r.conversation();
            let changed = if conv.is_null() {
                None
            } else {
                // SAFETY: looked up just now: live.
                unsafe { super::service::account_changed(conv) }
            };
            if let Some(line) = changed {
                r.system_line(&line);
                return;
            }
            run(&r, data as usize);
        }
    })
}

unsafe extern "C" fn conv_action(conv: *mut sys::PurpleConversation, data: *mut c_void) {
    ffi_boundary!((), {
        // SAFETY: the conversation the menu was built for.
        if let Some(r) = unsafe { ConvRef::from_conversation(conv) } {
            // As `/sotto`: nothing is done as the new account in a window whose account
            // changed under it.
            // SAFETY: likewise.
            if let Some(line) = unsafe { super::service::account_changed(conv) } {
                r.system_line(&line);
                return;
            }
            run(&r, data as usize);
        }
    })
}

fn run(r: &ConvRef, code: usize) {
    match code {
        START | STOP => {
            if let Some(fx) = service::start_or_stop(r, code == START) {
                present::apply_start_or_stop(r, fx, code == START);
            } else {
                // As `/sotto start` says it: the menu did nothing, and the window says why.
                r.conversation_or_new();
                r.system_line(texts::no_identity());
            }
        }
        FINGERPRINT => {
            r.conversation_or_new();
            r.system_line(&present::fingerprint_text(r));
        }
        VERIFY => super::dialogs::verify(r),
        SETTINGS => settings_dialog(r),
        GIVE_BACK => super::commands::give_back(r),
        _ => {}
    }
}

/// Choices of the per-contact dialog, in order (index = choice value).
const CHOICES: [(&CStr, Option<Policy>); 4] = [
    (c"Use the global setting (Tools > Plugins > Sotto)", None),
    (
        c"Manual: encrypt only when I or my contact start it",
        Some(Policy::Manual),
    ),
    (
        c"Opportunistic: encrypt automatically once this contact is seen running Sotto",
        Some(Policy::Opportunistic),
    ),
    (
        c"Always: never send this contact anything unencrypted",
        Some(Policy::Always),
    ),
];

/// What a settings dialog was opened for: the contact, its window's number, and the other
/// accounts of its buddy-list contact the dialog offers to set too.
struct SettingsFor {
    r: ConvRef,
    /// The window's number: a contact renamed while the dialog is open takes the window
    /// along, and the choice made for the old name must not land on it (or on whoever takes
    /// it).
    window: Option<usize>,
    /// Each with its window's number, for the same reason; the dialog's box for the one at
    /// index `i` is [`also_id`]`(i)`.
    others: Vec<(ConvRef, Option<usize>)>,
}

/// The number of `r`'s window, when it is open.
fn window_number(r: &ConvRef) -> Option<usize> {
    let conv = r.conversation();
    if conv.is_null() {
        return None;
    }
    // SAFETY: looked up just now: live.
    unsafe { super::windows::known(conv) }.map(|(id, _)| id)
}

/// The id of the settings dialog's box for the contact's other account at `i`.
fn also_id(i: usize) -> std::ffi::CString {
    glue::cstring(&format!("also{i}"))
}

fn settings_dialog(r: &ConvRef) {
    // The dialog shows the contact's policy as its choice: one it could not read would show as
    // "Use the global setting", and saving that would erase it.
    if !service::contact_policy_readable(r) {
        r.failure_line(&texts::policy_unreadable(&Shown::new(&r.peer)));
        return;
    }
    let current = service::contact_policy(r);
    let default = CHOICES.iter().position(|(_, p)| *p == current).unwrap_or(0);
    // The buddy-list contact's other accounts (bob's IRC nick merged with his XMPP account):
    // "Settings for this contact" reads as the whole contact, while a policy is one account's.
    // One whose policy cannot be read is not offered (saving over it would erase it unseen).
    let (others, unreadable): (Vec<ConvRef>, Vec<ConvRef>) = glue::contact_accounts(r)
        .into_iter()
        .partition(service::contact_policy_readable);
    let mut text = texts::settings_dialog(&super::siblings::label(r, r), glue::global_policy());
    if !unreadable.is_empty() {
        let labels: Vec<Shown> = unreadable
            .iter()
            .map(|o| super::siblings::label(r, o))
            .collect();
        text.secondary
            .push_str(&texts::settings_not_offered(&labels));
    }
    let title = glue::cstring(&text.title);
    let primary = glue::cstring(&text.primary);
    let secondary = glue::cstring(&text.secondary);
    let who = glue::cstring(&r.peer);
    // One box per other account, naming it and its policy now; ticked only where that policy
    // is this one's (a box ticked over another policy would change it on a Save unlooked at).
    let boxes: Vec<(std::ffi::CString, std::ffi::CString, bool)> = others
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let now = service::contact_policy(o);
            let label = texts::settings_also(&super::siblings::label(r, o), now);
            (also_id(i), glue::cstring(&label), now == current)
        })
        .collect();
    let user_data = Box::into_raw(Box::new(SettingsFor {
        r: r.clone(),
        window: window_number(r),
        others: others
            .iter()
            .map(|o| (o.clone(), window_number(o)))
            .collect(),
    }));
    let handle = super::state::plugin_handle();
    if boxes.is_empty() {
        // SAFETY: all strings valid for the call (libpurple copies them); the choice list is
        // (label, int value) pairs terminated by NULL, as purple_request_choice requires (its
        // values are ours in both UIs); the callbacks have the (user_data, choice) signature
        // and free `user_data`.
        unsafe {
            let ok = glue::callback(settings_ok as *const c_void);
            let cancel = glue::callback(settings_cancel as *const c_void);
            sys::purple_request_choice(
                handle,
                title.as_ptr(),
                primary.as_ptr(),
                secondary.as_ptr(),
                default as c_int,
                c"Save".as_ptr(),
                ok,
                c"Cancel".as_ptr(),
                cancel,
                r.account(),
                who.as_ptr(),
                r.conversation(),
                user_data.cast::<c_void>(),
                CHOICES[0].0.as_ptr(),
                0 as c_int,
                CHOICES[1].0.as_ptr(),
                1 as c_int,
                CHOICES[2].0.as_ptr(),
                2 as c_int,
                CHOICES[3].0.as_ptr(),
                3 as c_int,
                std::ptr::null::<std::ffi::c_char>(),
            );
        }
        return;
    }
    // A list read back by label, not a choice field: a fields dialog's choice is the index in
    // Pidgin and the index plus one in Finch (see `super::known::KNOWN_ACTIONS`).
    // SAFETY: strings valid for the calls (copied by libpurple); the fields object is handed to
    // purple_request_fields, which owns it; the callbacks have PurpleRequestFieldsCb's
    // (user_data, fields) signature and free `user_data`.
    unsafe {
        let fields = sys::purple_request_fields_new();
        let group = sys::purple_request_field_group_new(std::ptr::null());
        sys::purple_request_fields_add_group(fields, group);
        let labels = CHOICES.iter().map(|(label, _)| *label);
        let list =
            super::known::picked_list(SETTINGS_POLICY, c"Encrypt", labels, CHOICES[default].0);
        sys::purple_request_field_group_add_field(group, list);
        for (id, label, ticked) in &boxes {
            let b = sys::purple_request_field_bool_new(
                id.as_ptr(),
                label.as_ptr(),
                c_int::from(*ticked),
            );
            sys::purple_request_field_group_add_field(group, b);
        }
        sys::purple_request_fields(
            handle,
            title.as_ptr(),
            primary.as_ptr(),
            secondary.as_ptr(),
            fields,
            c"Save".as_ptr(),
            glue::callback(settings_fields_ok as *const c_void),
            c"Cancel".as_ptr(),
            glue::callback(settings_fields_cancel as *const c_void),
            r.account(),
            who.as_ptr(),
            r.conversation(),
            user_data.cast::<c_void>(),
        );
    }
}

/// The id of the settings dialog's policy list when it has fields (a merged contact).
const SETTINGS_POLICY: &CStr = c"policy";

unsafe extern "C" fn settings_ok(user_data: *mut c_void, choice: c_int) {
    ffi_boundary!((), {
        non_null!(user_data);
        // SAFETY: the Box leaked in `settings_dialog`, reclaimed exactly once (ok or cancel).
        let settings = *unsafe { Box::from_raw(user_data.cast::<SettingsFor>()) };
        // A choice that is not one of the list changes nothing.
        let chosen = usize::try_from(choice).ok().filter(|i| *i < CHOICES.len());
        save_settings(settings, chosen, &[]);
    })
}

unsafe extern "C" fn settings_cancel(user_data: *mut c_void, _choice: c_int) {
    ffi_boundary!((), {
        non_null!(user_data);
        // SAFETY: as in `settings_ok`.
        drop(unsafe { Box::from_raw(user_data.cast::<SettingsFor>()) });
    })
}

unsafe extern "C" fn settings_fields_ok(
    user_data: *mut c_void,
    fields: *mut sys::PurpleRequestFields,
) {
    ffi_boundary!((), {
        non_null!(user_data);
        // SAFETY: as in `settings_ok`.
        let settings = *unsafe { Box::from_raw(user_data.cast::<SettingsFor>()) };
        non_null!(fields);
        // SAFETY: the live fields of this callback, with the ids `settings_dialog` gave them.
        let picked = unsafe { super::known::selected(fields, SETTINGS_POLICY) };
        let chosen = CHOICES
            .iter()
            .position(|(label, _)| picked.iter().any(|p| p.as_bytes() == label.to_bytes()));
        let ticked: Vec<bool> = (0..settings.others.len())
            // SAFETY: as above.
            .map(|i| unsafe { sys::purple_request_fields_get_bool(fields, also_id(i).as_ptr()) } != 0)
            .collect();
        save_settings(settings, chosen, &ticked);
    })
}

unsafe extern "C" fn settings_fields_cancel(
    user_data: *mut c_void,
    _fields: *mut sys::PurpleRequestFields,
) {
    ffi_boundary!((), {
        non_null!(user_data);
        // SAFETY: as in `settings_ok`.
        drop(unsafe { Box::from_raw(user_data.cast::<SettingsFor>()) });
    })
}

/// The user saved the policy at `chosen` (an index into [`CHOICES`]; `None`: none picked) for
/// the dialog's contact, and for each other account whose box is ticked in `ticked`.
fn save_settings(settings: SettingsFor, chosen: Option<usize>, ticked: &[bool]) {
    let SettingsFor { r, window, others } = settings;
    let also: Vec<&(ConvRef, Option<usize>)> = others
        .iter()
        .zip(ticked)
        .filter_map(|(o, t)| t.then_some(o))
        .collect();
    // The contact was renamed since the dialog opened: nothing is saved, and its window (now
    // under the new name) says so.
    if let Some(now) = super::windows::renamed_from(window, &r.key()) {
        let renamed = r.with_peer(now.peer.as_str());
        renamed.system_line(&texts::policy_not_saved_renamed(&r.peer, &now.peer));
        if !also.is_empty() {
            renamed.system_line(texts::policy_others_not_saved());
        }
        return;
    }
    let Some(&(_, policy)) = chosen.and_then(|i| CHOICES.get(i)) else {
        r.outcome_line(texts::policy_none_chosen());
        return;
    };
    if !service::set_contact_policy(&r, policy) {
        // Chosen from the buddy list, maybe with no window open: a policy not saved is said
        // all the same (the user would believe the contact protected).
        r.failure_line(&texts::policy_not_saved(&Shown::new(&r.peer)));
        if !also.is_empty() {
            r.failure_line(texts::policy_others_not_saved());
        }
        return;
    }
    let (mut saved, mut failed) = (Vec::new(), Vec::new());
    for (other, other_window) in also {
        if let Some(now) = super::windows::renamed_from(*other_window, &other.key()) {
            r.failure_line(&texts::policy_not_saved_renamed(&other.peer, &now.peer));
            continue;
        }
        let label = super::siblings::label(&r, other);
        if service::set_contact_policy(other, policy) {
            saved.push(label);
        } else {
            failed.push(label);
        }
    }
    // Chosen from the buddy list too: said with no window open.
    r.outcome_line(&texts::policy_saved(&Shown::new(&r.peer), policy, &saved));
    for label in failed {
        r.failure_line(&texts::policy_not_saved(&label));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(state: Option<ConvState>) -> Vec<String> {
        labels_held(state, Held::Nothing)
    }

    fn labels_held(state: Option<ConvState>, held: Held) -> Vec<String> {
        items(state, held)
            .into_iter()
            .map(|(l, _)| l.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn menu_offers_only_the_actions_that_apply() {
        for plain in [None, Some(ConvState::Plaintext)] {
            let l = labels(plain);
            assert!(l.contains(&"Start encrypted conversation".to_owned()));
            assert!(!l.iter().any(|x| x.contains("End") || x.contains("Restart")));
        }
        for s in [
            ConvState::Handshaking,
            ConvState::Encrypted,
            ConvState::Finished,
        ] {
            let l = labels(Some(s));
            assert!(!l.contains(&"Start encrypted conversation".to_owned()));
            assert!(l.contains(&"Restart encrypted conversation".to_owned()));
            assert!(l.contains(&"End encrypted conversation".to_owned()));
        }
        assert!(labels(None).contains(&"Verify contact...".to_owned()));
        assert!(labels(None).contains(&"Settings for this contact...".to_owned()));
    }

    /// Messages held with no session (after a start that got no answer), which the window
    /// says `/sotto stop` gives back, can be had back from the menu too: it offered "Start"
    /// alone, and a user of the menus could not have them back.
    #[test]
    fn menu_releases_what_is_held_without_a_session() {
        let stop = |state, held| {
            items(state, held)
                .into_iter()
                .filter(|&(_, code)| code == STOP)
                .map(|(l, _)| l.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        };
        for plain in [None, Some(ConvState::Plaintext)] {
            assert_eq!(
                stop(plain, Held::Messages),
                ["Stop waiting (give back held messages)"]
            );
            assert!(stop(plain, Held::Nothing).is_empty());
            assert!(labels_held(plain, Held::Messages)
                .contains(&"Start encrypted conversation".to_owned()));
        }
        // With a session the one "End" item does it.
        assert_eq!(
            stop(Some(ConvState::Encrypted), Held::Messages),
            ["End encrypted conversation"]
        );
    }

    /// Messages held in an encrypted conversation for the contact's client that went offline
    /// can be had back from the menu without ending the conversation: its item is not "End".
    #[test]
    fn menu_gives_back_what_waits_for_a_client_gone_offline() {
        let give_back = |state| {
            items(state, Held::ForAwayClient)
                .into_iter()
                .filter(|&(_, code)| code == GIVE_BACK)
                .map(|(l, _)| l.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            give_back(Some(ConvState::Encrypted)),
            ["Stop waiting (give back held messages)"]
        );
        assert!(labels(Some(ConvState::Encrypted))
            .iter()
            .all(|l| !l.starts_with("Stop waiting")));
    }
}
