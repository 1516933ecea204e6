//! The preferences frame shown by Tools > Plugins > Sotto > Configure Plugin (Pidgin and Finch).

use std::ffi::c_void;

use super::bindings as sys;
use super::fragsize;
use super::glue::{cstring, prefs};

/// Build the frame. libpurple owns and frees it; choice labels and values are static strings
/// (libpurple keeps those pointers).
pub(crate) fn build() -> *mut sys::PurplePluginPrefFrame {
    let policy = cstring(prefs::POLICY);
    let log = cstring(prefs::LOG_ENCRYPTED);
    let frag = cstring(prefs::FRAGMENT_SIZE_DEFAULT);
    // SAFETY: valid strings (names and labels are copied; choice labels/values are 'static).
    unsafe {
        let frame = sys::purple_plugin_pref_frame_new();
        let p = sys::purple_plugin_pref_new_with_name_and_label(
            policy.as_ptr(),
            c"When to encrypt".as_ptr(),
        );
        sys::purple_plugin_pref_set_type(p, sys::PURPLE_PLUGIN_PREF_CHOICE);
        for (label, value) in [
            (c"Manual: only when I or my contact start it", c"manual"),
            (
                c"Opportunistic: automatically with contacts seen running Sotto",
                c"opportunistic",
            ),
            (c"Always: never send anything unencrypted", c"always"),
        ] {
            sys::purple_plugin_pref_add_choice(p, label.as_ptr(), value.as_ptr() as *mut c_void);
        }
        sys::purple_plugin_pref_frame_add(frame, p);

        let p = sys::purple_plugin_pref_new_with_name_and_label(
            log.as_ptr(),
            c"Log encrypted conversations".as_ptr(),
        );
        sys::purple_plugin_pref_frame_add(frame, p);

        let p = sys::purple_plugin_pref_new_with_name_and_label(
            frag.as_ptr(),
            c"Line size for other protocols (characters)".as_ptr(),
        );
        sys::purple_plugin_pref_set_bounds(p, fragsize::MIN_LINE as i32, fragsize::MAX_LINE as i32);
        sys::purple_plugin_pref_frame_add(frame, p);
        frame
    }
}
