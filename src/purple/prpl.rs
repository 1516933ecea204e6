//! Fail-closed send path: every protocol plugin's `send_im` is wrapped.
//!
//! `sending-im-msg` sees what the user types, but text also leaves through `serv_send_im`
//! directly, with no signal: away auto-replies, other plugins. The wrapper sits under all of them.
//! It lets through (a) lines we inject ourselves ([`super::state::Injecting`]) and (b) the exact text our
//! `sending-im-msg` handler approved a moment earlier (`State::allow_next`). Anything else is run
//! through the session like a typed message: encrypted when a session is up, held when policy
//! says so, and only sent unchanged when the policy allows plaintext to that peer.
//!
//! The original pointers are restored on unload ([`SendImWraps`]'s `Drop`).

use std::ffi::{c_char, c_int};

use crate::protocol::wire::WireMessage;
use crate::sessions::Outgoing;

use super::bindings as sys;
use super::boundary::{ffi_boundary, non_null};
use super::glue::{self, cstr_to_string, ConvRef};
use super::state::{self, with_state, SendIm};
use super::{echo, present, service, texts};

/// The protocol-info struct of a protocol plugin, or NULL.
///
/// # Safety
/// `plugin` must be null or a live `PurplePlugin`.
unsafe fn prpl_info(plugin: *mut sys::PurplePlugin) -> *mut sys::PurplePluginProtocolInfo {
    if plugin.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: a live plugin's `info` is NULL or its static info; `extra_info` of a protocol plugin
    // is its PurplePluginProtocolInfo (libpurple's PURPLE_PLUGIN_PROTOCOL_INFO macro).
    unsafe {
        let info = (*plugin).info;
        if info.is_null() || (*info).type_ != sys::PURPLE_PLUGIN_PROTOCOL {
            return std::ptr::null_mut();
        }
        (*info).extra_info.cast()
    }
}

/// # Safety
/// `plugin` must be null or a live `PurplePlugin`.
unsafe fn plugin_id(plugin: *mut sys::PurplePlugin) -> Option<String> {
    if plugin.is_null() {
        return None;
    }
    // SAFETY: per the caller.
    unsafe {
        let info = (*plugin).info;
        if info.is_null() {
            return None;
        }
        cstr_to_string((*info).id)
    }
}

/// Wrap one protocol plugin's `send_im` (idempotent).
///
/// # Safety
/// `plugin` must be null or a live `PurplePlugin`.
pub(crate) unsafe fn wrap(plugin: *mut sys::PurplePlugin) {
    // SAFETY: per the caller.
    let (info, id) = unsafe { (prpl_info(plugin), plugin_id(plugin)) };
    let Some(id) = id else { return };
    if info.is_null() {
        return;
    }
    // A second copy of a protocol plugin under an id another plugin already holds (loaded only
    // to be destroyed, its library closed): never wrapped, so its `send_im` never replaces the
    // live plugin's original.
    let cid = glue::cstring(&id);
    // SAFETY: a valid C string; libpurple returns NULL or a live plugin.
    let live = unsafe { sys::purple_find_prpl(cid.as_ptr()) };
    if !live.is_null() && live != plugin {
        return;
    }
    // SAFETY: `info` is the protocol's static protocol info; libpurple reads `send_im` from it on
    // every send, on this same thread.
    unsafe {
        match (*info).send_im {
            Some(f) if f as usize == wrapped_send_im as SendIm as usize => {}
            // Another plugin's wrapper on top (it may call ours, left in its chain when Sotto
            // was unloaded): wrapped all the same, so nothing bypasses Sotto (Sotto hears of
            // no load or unload while unloaded, so it cannot know that ours is still in that
            // chain); a call coming back up into ours goes to what ours called when it was
            // left there (`wrapped_send_im`), and when that wrapper's plugin unloads, ours
            // calls that directly (`forget_unloaded`).
            Some(f) => {
                state::keep_original(id, f);
                (*info).send_im = Some(wrapped_send_im);
            }
            None => {}
        }
    }
}

/// Wrap every protocol loaded now. Protocols loaded later are wrapped from `plugin-load`.
pub(crate) fn wrap_all() -> SendImWraps {
    wrap_each();
    SendImWraps { _private: () }
}

/// Wraps every protocol loaded now where our wrapper is not on top: also after another plugin
/// unloads (`plugin-unload`), which may have put back the `send_im` it found before ours and
/// so taken ours out of the chain.
pub(crate) fn wrap_each() {
    // SAFETY: the list and its plugins are owned by libpurple and live for this call.
    unsafe {
        let mut l = sys::purple_plugins_get_protocols();
        while !l.is_null() {
            wrap((*l).data.cast());
            l = (*l).next;
        }
    }
}

/// Restores the protocols' own `send_im` when dropped (plugin unload).
pub(crate) struct SendImWraps {
    _private: (),
}

impl Drop for SendImWraps {
    fn drop(&mut self) {
        // SAFETY: as in `wrap_all`; we only write back the pointer we replaced.
        unsafe {
            let mut l = sys::purple_plugins_get_protocols();
            while !l.is_null() {
                let plugin: *mut sys::PurplePlugin = (*l).data.cast();
                let info = prpl_info(plugin);
                if let (false, Some(id)) = (info.is_null(), plugin_id(plugin)) {
                    match (*info).send_im {
                        Some(f) if f as usize == wrapped_send_im as SendIm as usize => {
                            // Ours on top of a wrapper that calls ours again lower down: that
                            // wrapper goes back on top, and ours there passes through.
                            if let Some(top) = state::step_down(&id) {
                                (*info).send_im = Some(top);
                            } else if let Some(orig) = state::take_original(&id) {
                                (*info).send_im = Some(orig);
                            }
                        }
                        // Another plugin wrapped send_im after us and calls our wrapper: keep
                        // the original so the (unloaded, hence pass-through) wrapper can still
                        // forward, and where a call coming back up into it goes.
                        Some(top) if state::original(&id).is_some() => {
                            state::leave_under(id, top);
                        }
                        _ => {}
                    }
                }
                l = (*l).next;
            }
        }
    }
}

/// `plugin` unloads: where our wrapper calls a wrapper of its code that calls ours in turn,
/// ours now calls what it called when it was left under that wrapper (the wrapper has put
/// back ours, or is about to, and may have cleared what it called: calling it crashed the
/// client at the next send).
///
/// # Safety
/// `plugin` must be null or a live `PurplePlugin`.
pub(crate) unsafe fn forget_unloaded(plugin: *mut sys::PurplePlugin) {
    if plugin.is_null() {
        return;
    }
    // SAFETY: a live plugin's path is NULL or a C string it owns.
    let Some(path) = (unsafe { cstr_to_string((*plugin).path) }) else {
        return;
    };
    let gone = |f: SendIm| module_of(f).is_some_and(|m| m == path);
    // SAFETY: the list and its plugins are owned by libpurple and live for this call.
    unsafe {
        let mut l = sys::purple_plugins_get_protocols();
        while !l.is_null() {
            if let Some(id) = plugin_id((*l).data.cast()) {
                state::wrapper_gone(&id, gone);
            }
            l = (*l).next;
        }
    }
}

/// The file of the loaded module that holds `f` (as it was opened: libpurple opens a plugin
/// by its `path`).
fn module_of(f: SendIm) -> Option<String> {
    // SAFETY: `Dl_info` is plain data, zeroed is a valid value; `dladdr` only fills it.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: any address may be asked about; `info` is a valid out-pointer.
    let found = unsafe { libc::dladdr(f as *const std::ffi::c_void, &mut info) };
    if found == 0 || info.dli_fname.is_null() {
        return None;
    }
    // `dli_fname` is a C string owned by the dynamic linker, live while the module is.
    cstr_to_string(info.dli_fname)
}

fn original_for(gc: *mut sys::PurpleConnection) -> Option<SendIm> {
    // SAFETY: `gc` is a live connection (checked by the caller); its prpl is a live plugin.
    let id = unsafe { plugin_id(sys::purple_connection_get_prpl(gc)) }?;
    state::original(&id)
}

/// The protocol's own `send_im` (see `state::innermost`).
fn innermost_for(gc: *mut sys::PurpleConnection) -> Option<SendIm> {
    // SAFETY: as in `original_for`.
    let id = unsafe { plugin_id(sys::purple_connection_get_prpl(gc)) }?;
    state::innermost(&id)
}

/// The wrapper installed as every protocol's `send_im`.
unsafe extern "C" fn wrapped_send_im(
    gc: *mut sys::PurpleConnection,
    who: *const c_char,
    message: *const c_char,
    flags: sys::PurpleMessageFlags,
) -> c_int {
    // A panic here must not send: report "not sent" (0), which libpurple shows nothing for, so
    // the window says it, with the text.
    ffi_boundary!(
        {
            if !gc.is_null() {
                // SAFETY: the callback's own arguments, still live (NULL checked inside).
                unsafe {
                    super::signals::not_sent_after_a_fault(
                        sys::purple_connection_get_account(gc),
                        who,
                        message,
                    )
                };
            }
            0
        },
        {
            non_null!(gc, -libc::EINVAL);
            non_null!(who, -libc::EINVAL);
            non_null!(message, -libc::EINVAL);
            let Some(orig) = original_for(gc) else {
                glue::debug_error("send_im wrapper: no original for this protocol; not sending");
                return -libc::EINVAL;
            };
            // Called back from below our own call: another plugin's wrapper that we call and that
            // calls ours (it wrapped after us, and Sotto was loaded again since). The text was
            // decided on the way down: on to the protocol's own function, or the two wrappers
            // would call each other for ever.
            let (who_s, text) = (
                cstr_to_string(who).unwrap_or_default(),
                cstr_to_string(message).unwrap_or_default(),
            );
            if state::passing(gc as usize, &who_s, &text) {
                let inner = innermost_for(gc).unwrap_or(orig);
                // SAFETY: the protocol's own function, with the arguments libpurple gave us.
                return unsafe { inner(gc, who, message, flags) };
            }
            // `ours`: a line of Sotto's, followed through IRC's rate limiter; plaintext that only
            // looks like one (pasted by the user) is not.
            let pass = |ours: bool| {
                let handing = if ours {
                    // SAFETY: the live connection of this call.
                    unsafe { super::pace::handing(gc, &who_s, &text) }
                } else {
                    None
                };
                let rc = {
                    let _below = state::Passing::enter(gc as usize, &who_s, &text);
                    // SAFETY: the original function of this protocol, with the arguments libpurple
                    // gave us.
                    unsafe { orig(gc, who, message, flags) }
                };
                // SAFETY: the same call: its connection is live.
                unsafe { super::pace::handed(handing, rc) };
                rc
            };
            // Our own lines, or the plugin is unloaded but another wrapper still calls us.
            if !state::is_loaded() {
                return pass(false);
            }
            if state::is_injecting() {
                let rc = {
                    let _below = state::Injecting::handed_down();
                    pass(true)
                };
                // Its echo, if the protocol writes one, is ours: hidden.
                echo::passed(&text, rc, true);
                return rc;
            }
            // SAFETY: live connection.
            let account = unsafe { sys::purple_connection_get_account(gc) };
            let Some(peer) = cstr_to_string(who) else {
                not_shown_as_sent(&text, flags);
                return -libc::EINVAL;
            };
            // SAFETY: the connection's account is live.
            let Some(r) = (unsafe { ConvRef::from_account(account, &peer) }) else {
                not_shown_as_sent(&text, flags);
                return -libc::EINVAL;
            };
            // The contact was renamed and its conversation could not follow: nothing goes (the
            // window said why), and an auto-reply is not shown as sent either.
            if !service::track_name(&r) {
                not_shown_as_sent(&text, flags);
                return 0;
            }
            let key = r.key();
            let approval =
                with_state(|s| s.allow_next.take().filter(|a| a.covers(&key, &text))).flatten();
            // Plaintext only while the conversation still is: a session that came up since (within
            // the approval's second) encrypts an identical later text.
            let approved = approval.filter(|a| {
                !a.plaintext
                    || service::conv_state(&r) == Some(crate::protocol::ConvState::Plaintext)
            });
            if let Some(approved) = approved {
                let rc = pass(!approved.plaintext);
                // Whether libpurple shows the typed text (rc > 0) or the protocol's echo will (0).
                echo::passed(&text, rc, false);
                // The protocol refused the typed message's last line: libpurple writes nothing of
                // the text (at most "Unable to send message"), and the input box is empty. Said
                // NOT sent, with the text, so nothing typed is lost.
                if let (true, Some(typed)) = (rc < 0, approved.typed.as_ref()) {
                    r.conversation_or_new();
                    r.system_line(&texts::not_sent_offline(typed));
                }
                // The contact's other clients get the message only once this client's went.
                if rc >= 0 {
                    present::send_elsewhere(&r, &approved.elsewhere);
                }
                return rc;
            }
            // Not from our send path: an auto-reply or another plugin. Run it through the session.
            let plain = glue::markup_to_text(&text);
            // A line of Sotto's own, caught on its way out by another plugin and sent again later
            // as text (Offline Message Emulation keeps it as a buddy pounce): encrypting it would
            // show the contact a raw line, and what it carried cannot be read back. Not sent.
            if matches!(
                WireMessage::decode(&plain),
                Ok(WireMessage::Data(_) | WireMessage::Fragment(_))
            ) {
                not_shown_as_sent(&text, flags);
                r.conversation_or_new();
                r.system_line(texts::resent_wire_line());
                return 0;
            }
            match service::outgoing(&r, &plain) {
                Some((Outgoing::Plaintext, fx)) => {
                    present::apply(&r, fx);
                    pass(false)
                }
                Some((Outgoing::Lines(lines), mut fx)) => {
                    fx.inject.extend(lines);
                    // Sent only if the connection took every line: a caller that shows what it
                    // sends (rc > 0) must not show a message that did not leave.
                    if present::apply(&r, fx) {
                        // A caller that shows what it sent (libpurple's auto-reply) writes it next.
                        // Only that one: a marker left by a caller that writes nothing (another
                        // plugin's `serv_send_im`) would let plaintext from another device, written
                        // as sent within its two seconds, pass without its warning.
                        if flags & sys::PURPLE_MESSAGE_AUTO_RESP != 0 {
                            echo::writing_sent(&r);
                        }
                        1
                    } else {
                        not_shown_as_sent(&text, flags);
                        0
                    }
                }
                Some((Outgoing::Hold, fx)) => {
                    not_shown_as_sent(&text, flags);
                    present::apply(&r, fx);
                    0
                }
                None => {
                    glue::debug_error("send_im wrapper: no session state; not sending");
                    not_shown_as_sent(&text, flags);
                    // A caller that wrote the text as sent before calling (Pidgin's and Finch's
                    // buddy pounces; their one-shot pounce is gone once it fired) must not leave
                    // it looking sent: the window says it was not, with the text. (An
                    // auto-reply's write is cancelled above.)
                    if flags & sys::PURPLE_MESSAGE_AUTO_RESP == 0 {
                        r.conversation_or_new();
                        r.system_line(&texts::refused_no_state(
                            texts::Refused::Send,
                            service::unavailable().as_deref(),
                        ));
                        r.system_line(&texts::not_sent(&plain));
                    }
                    0
                }
            }
        }
    )
}

/// `text`, an auto-reply when `flags` say so, did not go out (held, or refused): libpurple
/// writes an auto-reply into the window as sent whatever `send_im` returned, so that write is
/// cancelled (a held one is shown when it goes).
fn not_shown_as_sent(text: &str, flags: sys::PurpleMessageFlags) {
    if flags & sys::PURPLE_MESSAGE_AUTO_RESP != 0 {
        echo::auto_reply_held(text);
    }
}
