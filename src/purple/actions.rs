//! Plugin actions (Tools > Sotto in Pidgin; in Finch, the buddy list's menu (F10) > Plugins >
//! Sotto).

use super::bindings as sys;
use super::boundary::{ffi_boundary, non_null};
use super::glue::{self, cstr_to_string};
use super::state::plugin_handle;
use super::{service, texts};

/// The action list libpurple asks for (it frees the list and the actions).
pub(crate) fn list() -> *mut sys::GList {
    // SAFETY: static labels; both callbacks have PurplePluginAction's callback signature.
    unsafe {
        let mine = sys::purple_plugin_action_new(
            c"Show my fingerprints".as_ptr(),
            Some(show_fingerprints),
        );
        let known = sys::purple_plugin_action_new(
            c"Known fingerprints...".as_ptr(),
            Some(known_fingerprints),
        );
        let l = sys::g_list_append(std::ptr::null_mut(), mine.cast());
        sys::g_list_append(l, known.cast())
    }
}

/// Tools > Sotto > Known fingerprints...: every recorded contact key, to verify or forget.
unsafe extern "C" fn known_fingerprints(action: *mut sys::PurplePluginAction) {
    ffi_boundary!((), {
        non_null!(action);
        super::known::known_fingerprints(None);
    })
}

unsafe extern "C" fn show_fingerprints(action: *mut sys::PurplePluginAction) {
    ffi_boundary!((), {
        non_null!(action);
        let mut lines = Vec::new();
        for account in glue::accounts() {
            // SAFETY: libpurple's accounts, listed just now.
            let (user, proto) = unsafe {
                (
                    cstr_to_string(sys::purple_account_get_username(account)),
                    cstr_to_string(sys::purple_account_get_protocol_id(account)),
                )
            };
            if let (Some(user), Some(proto)) = (user, proto) {
                if let Some(fp) = service::account_fingerprint(&proto, &user) {
                    lines.push(texts::account_fingerprint(&user, &proto, &fp));
                }
            }
        }
        if lines.is_empty() {
            lines.push(match service::unavailable() {
                Some(why) => texts::no_fingerprints_no_store(&why),
                None => texts::no_accounts().to_owned(),
            });
        }
        glue::notify(
            plugin_handle(),
            false,
            "Your Sotto fingerprints",
            &lines.join("\n"),
        );
    })
}
