//! The "Sotto" submenu (buddy menu, Conversation > More, conversation Options) and the
//! per-contact settings dialog.
//!
//! A menu is built when the host decides, not when it is opened, and an item runs later still:
//! Pidgin builds Options > Sotto at a tab switch or when the Conversation menu opens, and keeps
//! it (and the conversation's address) while the conversation starts, ends, is renamed or is
//! closed (and the address becomes a new window's); a buddy menu can outlive its buddy. So each
//! submenu is numbered and remembered with what it was built for, and its items carry that
//! number and their action code. Chosen, an item runs only while the object the host hands is
//! still the one it was built for (an open IM window with the same window number and
//! conversation; a buddy, or a contact holding it, still in the list: the address is not read
//! before that), and only if the menu built now would offer it (each label has its own code:
//! "Stop waiting" chosen after the session came up must not end it).

use std::ffi::{c_int, c_void, CStr};

use crate::protocol::{ConvState, Policy};

use super::bindings as sys;
use super::boundary::{ffi_boundary, non_null};
use super::glue::{self, cstr_to_string, ConvRef};
use super::state::{BuddyMenu, MENUS_KEPT};
use super::texts::Shown;
use super::{present, service, texts};

const START: usize = 1;
const END: usize = 2;
const SETTINGS: usize = 3;
const FINGERPRINT: usize = 4;
const VERIFY: usize = 5;
const GIVE_BACK: usize = 6;
const RESTART: usize = 7;
const STOP_WAITING: usize = 8;
const STOP_WAITING_HELD: usize = 9;
const ACCEPT: usize = 10;

/// Each action's label: one label per code, so the code says which label was clicked.
fn label(code: usize) -> &'static CStr {
    match code {
        START => c"Start encrypted conversation",
        RESTART => c"Restart encrypted conversation",
        END => c"End encrypted conversation",
        STOP_WAITING => {
            c"Stop waiting (give back held messages; what you type then goes unencrypted)"
        }
        STOP_WAITING_HELD | GIVE_BACK => c"Stop waiting (give back held messages)",
        ACCEPT => c"Review the key and accept it...",
        VERIFY => c"Verify contact...",
        FINGERPRINT => c"Show fingerprints",
        SETTINGS => c"Settings for this contact...",
        _ => c"?",
    }
}

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
    /// The encrypted conversation is held on a key the user has not accepted for the name (a
    /// changed key), or for names that do not match: the dialog that accepts it, which the
    /// user may have closed, is offered again (it was `/sotto accept` alone then; a review of
    /// trust, 2026-12-07).
    OnKey,
}

/// The submenu's items for a conversation in `state`: each label names the action it takes, so
/// "Start" shows only while not encrypted, "Restart" and "End" only while a session exists (or
/// is starting, or was ended by the peer). With no session, what the window said `/sotto stop`
/// releases (`held`) has its own item, so a user of the menus is never told of a command alone.
///
/// With no session, stopping is `/sotto stop`: it allows plaintext from then on (also to a
/// name a renamed contact left, which the window said), unless the policy is 'always'
/// (`always`): the label says which.
fn items(state: Option<ConvState>, held: Held, always: bool) -> Vec<(&'static CStr, usize)> {
    let mut codes = match state {
        Some(ConvState::Plaintext) | None => vec![START],
        Some(ConvState::Handshaking | ConvState::Encrypted | ConvState::Finished) => {
            vec![RESTART, END]
        }
    };
    if matches!(state, Some(ConvState::Plaintext) | None) && held == Held::Messages {
        codes.push(if always {
            STOP_WAITING_HELD
        } else {
            STOP_WAITING
        });
    }
    if state == Some(ConvState::Encrypted) && held == Held::ForAwayClient {
        codes.push(GIVE_BACK);
    }
    if state == Some(ConvState::Encrypted) && held == Held::OnKey {
        codes.push(ACCEPT);
    }
    codes.extend([VERIFY, FINGERPRINT, SETTINGS]);
    codes.into_iter().map(|code| (label(code), code)).collect()
}

/// The items the submenu for the conversation with `r` offers now.
fn offered(r: &ConvRef) -> Vec<(&'static CStr, usize)> {
    let state = service::conv_state(r);
    let held = if state == Some(ConvState::Encrypted)
        && service::waiting(r).is_some_and(|(_, blocked)| blocked)
    {
        Held::OnKey
    } else if service::held_for_away_holder(r) {
        Held::ForAwayClient
    } else if service::waiting(r).is_some_and(|(n, _)| n > 0) {
        Held::Messages
    } else {
        Held::Nothing
    };
    let always = service::policy(r) == Policy::Always;
    let mut offered = items(state, held, always);
    // Held on the key and for a client gone away too: both ways out are offered.
    if held == Held::OnKey && service::held_for_away_holder(r) {
        offered.extend(
            items(state, Held::ForAwayClient, always)
                .into_iter()
                .filter(|&(_, code)| code == GIVE_BACK),
        );
    }
    offered
}

/// How an item's data carries its menu's number and its action code.
const CODE_BITS: u32 = 4;

/// An item's data: its menu's number and its action code.
fn item_data(menu: usize, code: usize) -> usize {
    (menu << CODE_BITS) | code
}

/// The menu number and the action code an item's data carries.
fn from_item_data(data: usize) -> (usize, usize) {
    (data >> CODE_BITS, data & ((1 << CODE_BITS) - 1))
}

/// Remember a buddy menu's submenu built for `built`: its number, which its items carry.
fn remember(built: BuddyMenu) -> usize {
    super::state::with_state(|s| {
        // Numbers wrap long after the menus holding them are gone (`MENUS_KEPT`); 0 is none.
        s.last_menu = (s.last_menu % (usize::MAX >> CODE_BITS)) + 1;
        if s.menus.len() >= MENUS_KEPT {
            s.menus.pop_front();
        }
        s.menus.push_back((s.last_menu, built));
        s.last_menu
    })
    .unwrap_or(0)
}

/// What the buddy menu's submenu numbered `menu` was built for, if it is one of those
/// remembered.
fn built(menu: usize) -> Option<BuddyMenu> {
    super::state::with_state(|s| {
        s.menus
            .iter()
            .find(|(n, _)| *n == menu)
            .map(|(_, b)| b.clone())
    })
    .flatten()
}

/// Append the "Sotto" submenu for the conversation with `r`, numbered `number` (a buddy menu's
/// number, or the window's), with `callback` (called as `callback(object, item_data)`).
///
/// # Safety
/// `menu` must be a valid `GList **`; `callback` must take `(gpointer object, gpointer data)`.
unsafe fn append_submenu(
    menu: *mut *mut sys::GList,
    callback: *const c_void,
    r: &ConvRef,
    number: usize,
) {
    let items = offered(r);
    // A buddy-list contact with several buddies: Pidgin puts their conversations in one tab
    // and keeps Options > Sotto bound to the one it was built for while a message (or a
    // conversation joining the tab) makes another the active one, and a contact row's menu
    // acts on the buddy that was the priority one. The submenu names the conversation its
    // items act on, from the first build on (a conversation joins the tab later).
    let title = if glue::contact_siblings(r).is_empty() {
        c"Sotto".to_owned()
    } else {
        glue::menu_label(&format!("Sotto: {}", super::siblings::label(r, r)))
    };
    // SAFETY: per the caller; labels are copied by libpurple.
    unsafe {
        let cb = glue::callback(callback);
        let mut children: *mut sys::GList = std::ptr::null_mut();
        for (label, code) in items {
            let act = sys::purple_menu_action_new(
                label.as_ptr(),
                cb,
                item_data(number, code) as *mut c_void,
                std::ptr::null_mut(),
            );
            children = sys::g_list_append(children, act.cast());
        }
        let sub = sys::purple_menu_action_new(title.as_ptr(), None, std::ptr::null_mut(), children);
        *menu = sys::g_list_append(*menu, sub.cast());
    }
}

/// The buddy a blist node stands for: a buddy, or a contact's priority buddy (Pidgin hands an
/// expanded contact's row). `None` for a buddy not in the buddy list: Pidgin's Conversation >
/// More menu of a window whose contact is not a buddy is built for a buddy it made up for the
/// window (a "transient" one), kept for the window's life and never renamed with it: after an
/// IRC `/nick` its items would act on the old name, whoever holds it now (Options > Sotto,
/// built for the conversation itself, serves such a window).
///
/// # Safety
/// `node` must be null or a live blist node.
unsafe fn buddy_ref(node: *mut sys::PurpleBlistNode) -> Option<(*mut sys::PurpleBuddy, ConvRef)> {
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
        if buddy.is_null() || sys::purple_buddy_get_contact(buddy).is_null() {
            return None;
        }
        let account = sys::purple_buddy_get_account(buddy);
        let name = cstr_to_string(sys::purple_buddy_get_name(buddy))?;
        ConvRef::from_account(account, &name).map(|r| (buddy, r))
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
        let Some((buddy, r)) = (unsafe { buddy_ref(node) }) else {
            return;
        };
        let number = remember(BuddyMenu {
            node: node as usize,
            buddy: buddy as usize,
            r: r.clone(),
        });
        // SAFETY: valid menu; `blist_action` takes (node, data).
        unsafe { append_submenu(menu, blist_action as *const c_void, &r, number) };
    })
}

/// Whether `node` is still a buddy named as `r` on `r`'s account, or a contact holding one, in
/// the buddy list. `node` is never read: it may be freed.
fn still_in_list(node: usize, r: &ConvRef) -> bool {
    glue::buddies_of(r)
        .into_iter()
        .any(|(buddy, contact)| buddy as usize == node || contact as usize == node)
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
        // The conversation's window number is the menu's (a freed conversation's address can
        // be a new conversation's, never its number while Sotto runs): given now if it has
        // none. Its Tag keeps the conversation the menu was built for (Pidgin replaces a
        // tab's Options menu when it builds another).
        // SAFETY: live conversation.
        let window = unsafe {
            if super::windows::known(conv).is_none() {
                super::windows::tag(conv, &r);
            }
            super::windows::known(conv)
        }
        .map(|(id, _)| id);
        let Some(window) = window else {
            return;
        };
        let key = r.key();
        let _ = super::state::with_state(|s| {
            if let Some(tag) = s.tags.get_mut(&window) {
                tag.menu_built_for = Some(key);
            }
        });
        // SAFETY: valid menu; `conv_action` takes (conv, data).
        unsafe { append_submenu(menu, conv_action as *const c_void, &r, window) };
    })
}

/// Whether an item may run at all: not once the plugin's state is gone (unloaded while a menu
/// stayed open: Finch's and Pidgin's buddy menus keep their items).
fn loaded() -> bool {
    let loaded = super::state::with_state(|_| ()).is_some();
    if !loaded {
        glue::debug_error("a Sotto menu item was chosen with Sotto not running: nothing done");
    }
    loaded
}

/// An item of a menu that outlived what it was built for: nothing is done, and nothing can be
/// said where (the debug log says it).
fn outlived() {
    glue::debug_error("a Sotto menu outlived what it was built for: nothing done");
}

unsafe extern "C" fn blist_action(node: *mut sys::PurpleBlistNode, data: *mut c_void) {
    ffi_boundary!((), {
        if !loaded() {
            return;
        }
        let (number, code) = from_item_data(data as usize);
        // The buddy the menu was built for, while the node handed is still it (or its
        // contact) in the list: the server can remove a buddy while its menu is open, and the
        // host hands the freed address. Pidgin hands the node the menu was built at; Finch,
        // for a contact's, the priority buddy it was built for.
        let Some(BuddyMenu { node: at, buddy, r }) = built(number) else {
            return outlived();
        };
        let handed = node as usize;
        if (handed != at && handed != buddy) || !still_in_list(handed, &r) {
            return outlived();
        }
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
        run(&r, code, Menu::Buddy);
    })
}

unsafe extern "C" fn conv_action(conv: *mut sys::PurpleConversation, data: *mut c_void) {
    ffi_boundary!((), {
        if !loaded() {
            return;
        }
        let (window, code) = from_item_data(data as usize);
        // Pidgin keeps Options > Sotto, and the conversation it was built for, until the
        // window's menus are built again: a conversation closed since (the account deleted;
        // one of a tab's merged conversations closed) is a freed address, never read, and may
        // be a new window's since, with another number.
        // SAFETY: read only once found in libpurple's list of open IM windows.
        let same = glue::open_ims().contains(&conv)
            && unsafe { super::windows::known(conv) }.map(|(id, _)| id) == Some(window);
        if !same {
            return outlived();
        }
        // SAFETY: live: in libpurple's list of open IM windows just now.
        let Some(r) = (unsafe { ConvRef::from_conversation(conv) }) else {
            return;
        };
        // As `/sotto`: nothing is done as the new account in a window whose account changed
        // under it.
        // SAFETY: likewise.
        if let Some(line) = unsafe { super::service::account_changed(conv) } {
            r.system_line(&line);
            return;
        }
        // Nor in one whose conversation could not follow its contact.
        // SAFETY: likewise.
        if !unsafe { super::service::track(conv) } {
            // In this window (the conversation `r` names now may have one of its own), if the
            // lines `track` wrote left it open.
            if glue::still_open(conv) {
                // SAFETY: in libpurple's open conversations just now.
                unsafe { glue::system_line_to(conv, texts::not_run_here()) };
            }
            return;
        }
        // The window's contact was renamed since the menu was built (its labels were made
        // for the other name's conversation), or the window's menu was built again since.
        let built_for = super::state::with_state(|s| {
            s.tags.get(&window).and_then(|t| t.menu_built_for.clone())
        })
        .flatten();
        if built_for != Some(r.key()) {
            r.system_line(&texts::menu_out_of_date(
                &label(code).to_string_lossy(),
                &Shown::new(&r.peer),
                true,
            ));
            return;
        }
        run(&r, code, Menu::Conversation);
    })
}

/// Which kind of menu an item was chosen from: where its out-of-date line goes, and how the
/// line says to have a menu made anew.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Menu {
    /// Options > Sotto, the window's own (its window is open).
    Conversation,
    /// A buddy's (the buddy list's, Conversation > More), maybe with no window open.
    Buddy,
}

fn run(r: &ConvRef, code: usize, menu: Menu) {
    // The menu was built earlier, for what the conversation was then: an item it would not
    // offer now does nothing ("Stop waiting" after the session came up would end it; "Start"
    // would throw a new session away). Said in the window, or a box when none is open (no
    // window is opened for it).
    if !offered(r).iter().any(|&(_, c)| c == code) {
        r.outcome_line(&texts::menu_out_of_date(
            &label(code).to_string_lossy(),
            &Shown::new(&r.peer),
            menu == Menu::Conversation,
        ));
        return;
    }
    match code {
        START | RESTART | END | STOP_WAITING | STOP_WAITING_HELD => {
            let start = matches!(code, START | RESTART);
            if start {
                service::user_acted(r);
            }
            if let Some(fx) = service::start_or_stop(r, start) {
                present::apply_start_or_stop(r, fx, start);
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
        ACCEPT => super::dialogs::review_held_key(r),
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
    // The account is gone (deleted, or its username changed, while the dialog was open):
    // nothing is saved under a name no account has, and a box says so (its window went too).
    if r.account().is_null() {
        glue::notify(
            std::ptr::null_mut(),
            true,
            "Nothing was done: the account is gone",
            &texts::account_gone(&Shown::new(&r.peer), None),
        );
        return;
    }
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
        // (An account of the contact's deleted meanwhile: nothing saved under its name.)
        if !other.account().is_null() && service::set_contact_policy(other, policy) {
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
        items(state, held, false)
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
        // A conversation held on its key offers the dialog that accepts it (it could be had
        // again with `/sotto accept` alone once closed), and only then.
        let accept = "Review the key and accept it...".to_owned();
        assert!(labels_held(Some(ConvState::Encrypted), Held::OnKey).contains(&accept));
        assert!(!labels(Some(ConvState::Encrypted)).contains(&accept));
        assert!(!labels_held(Some(ConvState::Finished), Held::OnKey).contains(&accept));
    }

    /// Messages held with no session (after a start that got no answer), which the window
    /// says `/sotto stop` gives back, can be had back from the menu too: it offered "Start"
    /// alone, and a user of the menus could not have them back. The label says what
    /// stopping does to what is typed next: unencrypted, unless the policy is 'always'.
    #[test]
    fn menu_releases_what_is_held_without_a_session() {
        let stop = |state, held, always| {
            items(state, held, always)
                .into_iter()
                .filter(|&(_, code)| matches!(code, STOP_WAITING | STOP_WAITING_HELD | END))
                .map(|(l, _)| l.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        };
        for plain in [None, Some(ConvState::Plaintext)] {
            assert_eq!(
                stop(plain, Held::Messages, false),
                ["Stop waiting (give back held messages; what you type then goes unencrypted)"]
            );
            assert_eq!(
                stop(plain, Held::Messages, true),
                ["Stop waiting (give back held messages)"]
            );
            assert!(stop(plain, Held::Nothing, false).is_empty());
            assert!(labels_held(plain, Held::Messages)
                .contains(&"Start encrypted conversation".to_owned()));
        }
        // With a session the one "End" item does it.
        assert_eq!(
            stop(Some(ConvState::Encrypted), Held::Messages, false),
            ["End encrypted conversation"]
        );
    }

    /// An item's code says which label was clicked (a stale menu's item is checked against
    /// the menu as it would be now): no menu shows two items with one code or one label, and
    /// an item's data gives back its menu's number and its code.
    #[test]
    fn each_item_of_a_menu_has_its_own_code_and_label() {
        let states = [
            None,
            Some(ConvState::Plaintext),
            Some(ConvState::Handshaking),
            Some(ConvState::Encrypted),
            Some(ConvState::Finished),
        ];
        for state in states {
            for (held, always) in [
                Held::Nothing,
                Held::Messages,
                Held::ForAwayClient,
                Held::OnKey,
            ]
            .into_iter()
            .flat_map(|h| [(h, false), (h, true)])
            {
                let menu = items(state, held, always);
                for (i, (l, c)) in menu.iter().enumerate() {
                    assert_eq!(label(*c), *l);
                    assert!(*c < 1 << CODE_BITS);
                    assert!(menu[i + 1..].iter().all(|(l2, c2)| l2 != l && c2 != c));
                }
            }
        }
        for (number, code) in [(0, START), (1, STOP_WAITING), (usize::MAX >> CODE_BITS, 15)] {
            assert_eq!(from_item_data(item_data(number, code)), (number, code));
        }
    }

    /// Messages held in an encrypted conversation for the contact's client that went offline
    /// can be had back from the menu without ending the conversation: its item is not "End".
    #[test]
    fn menu_gives_back_what_waits_for_a_client_gone_offline() {
        let give_back = |state| {
            items(state, Held::ForAwayClient, false)
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
