//! The C API the shim (`purple-plugin/sotto-plugin.c`) calls: cbindgen turns this file, and only
//! this file, into `include/sotto.h`.
//!
//! Exported symbols of `build/sotto.so`: `purple_init_plugin` (libpurple's entry point) and the
//! `sotto_plugin_*` functions below. Each body runs inside the panic boundary.

use std::ffi::c_void;

use crate::store::{ProfileRecord, Store, StoreError, Verdict, PROFILE_RECORD_FILE};

use super::bindings::{gboolean, GList, PurplePlugin, PurplePluginPrefFrame};
use super::boundary::{ffi_boundary, non_null, quietly};
use super::glue::CommandGuard;
use super::{
    actions, commands, direct_cmds, echo, glue, prefs_frame, present, prpl, service, signals,
    state, texts,
};

extern "C" {
    /// The `PURPLE_INIT_PLUGIN` body, compiled in the C shim under this name (see build.rs).
    fn sotto_shim_init_plugin(plugin: *mut PurplePlugin) -> gboolean;
}

/// What a loaded plugin holds; dropping it undoes the load (disconnects, unregisters, restores).
/// Kept in the plugin state from load to unload ([`state::hold_loaded`]); fields drop in order.
struct Loaded {
    _hooks: Vec<signals::SignalHook>,
    _command: Option<CommandGuard>,
    _direct_commands: Vec<CommandGuard>,
    _wraps: prpl::SendImWraps,
    _echoes: echo::Guard,
    _checkpoints: service::Timeout,
    _lapses: service::Timeout,
}

/// Open the store in `<purple user dir>/sotto/`; on failure, the reason and what to tell the
/// user.
fn open_store() -> Result<Store, (String, String)> {
    let dir = glue::user_dir()
        .ok_or_else(|| "libpurple has no user directory".to_owned())
        .map_err(|e| {
            (
                e.clone(),
                texts::store_unavailable(&e, "sotto in your profile"),
            )
        })?
        .join("sotto");
    Store::open(&dir).map_err(|e| {
        let (reason, shown) = (e.to_string(), dir.display().to_string());
        let notice = match e {
            StoreError::NewerSchema(_) => texts::store_newer(&reason, &shown),
            _ => texts::store_unavailable(&reason, &shown),
        };
        (reason, notice)
    })
}

/// libpurple's entry point: registers the plugin (info from the shim).
///
/// # Safety
/// Called by libpurple with the new plugin object.
#[no_mangle]
pub unsafe extern "C" fn purple_init_plugin(plugin: *mut PurplePlugin) -> gboolean {
    ffi_boundary!(0, {
        non_null!(plugin, 0);
        // SAFETY: the shim's init sets plugin->info to its static info and registers the plugin.
        unsafe { sotto_shim_init_plugin(plugin) }
    })
}

/// Called once when libpurple probes the plugin: registers the preferences and their defaults.
///
/// # Safety
/// Called by the shim with the plugin object.
#[no_mangle]
pub unsafe extern "C" fn sotto_plugin_init(plugin: *mut PurplePlugin) {
    ffi_boundary!((), {
        non_null!(plugin);
        glue::prefs::register();
    })
}

/// Plugin load: connect signals, register `/sotto`, wrap every protocol's `send_im`.
///
/// # Safety
/// Called by libpurple (through the shim's info table) with the plugin being loaded.
#[no_mangle]
pub unsafe extern "C" fn sotto_plugin_load(plugin: *mut PurplePlugin) -> gboolean {
    // A fault caught here fails the load (`UndoLoad` below takes back what it installed), and
    // libpurple says nothing of a load that returns "failed": at a start, Sotto was simply not
    // running, every message went in plaintext under any policy, and no window said so (found
    // by a read-only review). The box is owned by no plugin (one owned by Sotto's handle
    // could be closed with it).
    ffi_boundary!(
        {
            quietly(|| glue::debug_error("load: a fault stopped the load; Sotto is not running"));
            quietly(|| {
                glue::notify(
                    std::ptr::null_mut(),
                    true,
                    "Sotto did not start",
                    texts::load_faulted(),
                )
            });
            0
        },
        {
            non_null!(plugin, 0);
            super::boundary::quiet_panics();
            // A second copy under another file name (libpurple refuses one of the same name:
            // an older build kept as sotto-old.so) enabled too: libpurple loads both, each with
            // its own SQLite, whose lock does not conflict within one process, so both would
            // open the store, each write it from its own memory, and one checkpoint empty the
            // other's log (found by a read-only review of the store): saves lost at a crash,
            // message keys used again. The second copy stays off.
            // SAFETY: `plugin` is the plugin being loaded.
            if let Some(path) = unsafe { glue::another_loaded_copy(plugin) } {
                load_error(
                    plugin,
                    &format!("load: another copy of Sotto is loaded ({path})"),
                    "Sotto is already loaded",
                    &texts::another_copy_loaded(&path),
                );
                return 0;
            }
            // What an unload that did not finish left (nothing, normally) goes before anything new
            // exists: dropped later, it would disconnect the new handlers and unwrap `send_im`.
            state::remove();
            glue::prefs::register();
            let (store, error) = match open_store() {
                Ok(store) => (Ok(store), None),
                Err((reason, notice)) => (Err(reason.clone()), Some((reason, notice))),
            };
            // Not the store this profile used last: made anew where it had one
            // (`sotto.generation` beside it says so), or, with the whole folder gone, or a
            // mount point whose volume is not mounted yet (a store made on the disk beneath,
            // then opened again at a later start, or the real one once mounted), the record
            // beside the folder naming the stores used last (`store::ProfileRecord`). Judged
            // and recorded here, by the process that holds the store, before anything is told;
            // so are the preferences the record keeps.
            let told = store.as_ref().ok().and_then(|s| {
                let this = s.incarnation()?;
                let path = glue::user_dir()?.join(PROFILE_RECORD_FILE);
                let on_file = ProfileRecord::read(&path);
                let recorded = match &on_file {
                    // Kept in a preference by earlier builds (read until the file is made).
                    Ok(None) => Ok(glue::prefs::string(glue::prefs::STORE_ID)
                        .and_then(|id| id.parse().ok())
                        .map(ProfileRecord::only)),
                    other => other.clone(),
                };
                let (made, replaced) = (s.made_now(), s.replaced_another());
                let verdict = ProfileRecord::judge(
                    recorded.as_ref().map(Option::as_ref),
                    this,
                    made,
                    replaced,
                );
                let previous = recorded.as_ref().ok().and_then(Option::as_ref);
                // A box the last start showed, on this same store, the user may not have seen.
                let verdict = ProfileRecord::to_tell(previous, verdict);
                let mut next = ProfileRecord::after(previous, this, made || replaced);
                next.untold = matches!(verdict, Verdict::Made | Verdict::Back | Verdict::Other)
                    .then_some(verdict);
                let kept = glue::prefs::settle(&mut next);
                if on_file.as_ref().ok().and_then(Option::as_ref) != Some(&next) {
                    match next.write(&path) {
                        // The preference earlier builds kept is read no more.
                        Ok(()) => glue::prefs::set_string(glue::prefs::STORE_ID, ""),
                        Err(e) => glue::debug_warning(&format!("store: record not written: {e}")),
                    }
                }
                service::box_untold(next.untold.is_some());
                if replaced {
                    s.replaced_told();
                }
                let dir = s.path().parent().unwrap_or(s.path()).display().to_string();
                let why = on_file.err().map(|e| (path.display().to_string(), e.0));
                Some((verdict, dir, why, kept))
            });
            state::install(plugin.cast(), store);
            // A fault caught from here on fails the load, and libpurple runs no unload for a plugin
            // that did not load: what the load installed goes with it (the state stayed, and the
            // log preference's callback kept redecorating windows for a plugin libpurple took for
            // unloaded; a next load connected a second one; found by a review of the FFI layer).
            let undo = UndoLoad(plugin);
            test_fault_in_load();
            // Keys other than the ones this profile used last: said once, at this load; and
            // preferences `prefs.xml` had otherwise than last chosen.
            if let Some((verdict, dir, why, kept)) = told {
                let store_box = match (verdict, why) {
                    (Verdict::Made, _) => {
                        Some(("Sotto made new keys", texts::store_replaced(&dir)))
                    }
                    (Verdict::Back, _) => {
                        Some(("Sotto's usual key store is back", texts::store_back(&dir)))
                    }
                    (Verdict::Other, _) => {
                        Some(("Sotto opened another key store", texts::store_other(&dir)))
                    }
                    (Verdict::Unknown, Some((record, why))) => Some((
                        "Sotto cannot tell which key store this profile used",
                        texts::store_record_unreadable(&record, &why, &dir),
                    )),
                    _ => None,
                };
                if let Some((title, text)) = store_box {
                    glue::debug_warning("store: not the one this profile used last");
                    glue::notify(plugin.cast(), false, title, &text);
                }
                for k in kept {
                    let text = texts::setting_kept(k.path, &k.in_prefs, &k.recorded, &k.kept);
                    glue::notify(plugin.cast(), false, "Sotto kept a stricter setting", &text);
                }
            }
            if let Some((error, notice)) = error {
                // Without the store there are no keys: nothing can be encrypted, and sends to a
                // contact fail closed. Tell the user once, plainly.
                load_error(
                    plugin,
                    &format!("store: {error}"),
                    "Sotto cannot open its key store",
                    &notice,
                );
            }
            super::windows::track_all();
            // SAFETY: `plugin` is the plugin being loaded.
            let hooks = unsafe { signals::connect_all(plugin) };
            // Followed only when both ends are heard: what leaves, and the connection's end.
            let irc_writes = hooks.iter().any(|h| h.is(c"irc-sending-text"))
                && hooks.iter().any(|h| h.is(c"signing-off"));
            let _ = state::with_state(|s| s.pacing_on = irc_writes);
            // SAFETY: `plugin` is the plugin being loaded (libpurple disconnects it at unload).
            unsafe { present::follow_log_preference(plugin) };
            // SAFETY: as above.
            unsafe { present::keep_preferences_in_record(plugin) };
            let loaded = Loaded {
                _hooks: hooks,
                _command: commands::register(),
                _direct_commands: direct_cmds::register(),
                _wraps: prpl::wrap_all(),
                _echoes: echo::Guard::new(),
                _checkpoints: service::Timeout::checkpoints(),
                _lapses: present::lapse_timer(),
            };
            state::hold_loaded(Box::new(loaded));
            // Windows already open (Sotto enabled from Tools > Plugins, or loaded again after an
            // unload that could not end a session: one not loaded then, or a caught panic): each
            // is marked and its logging set as its conversation's state says now. Left as they
            // were, a window whose conversation is still encrypted in the store kept logging on,
            // and libpurple wrote what the user typed there into ~/.purple/logs.
            // Each window on its own: a fault marking one (caught) leaves it unlogged and said,
            // and the load goes on. Caught only by the boundary, it made the load return "failed"
            // with the hooks live: Sotto ran while libpurple took it for not loaded, so no unload
            // ever ran (no reservation released, no last checkpoint; found by a read-only review).
            for conv in glue::open_ims() {
                // (Marking one window may have had another closed.)
                if !glue::still_open(conv) {
                    continue;
                }
                let marked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    test_panic_at_load();
                    // SAFETY: in libpurple's open conversations just now.
                    if let Some(r) = unsafe { glue::ConvRef::from_conversation(conv) } {
                        present::redecorate(&r);
                    }
                }));
                if let Err(payload) = marked {
                    // Each step behind a catch of its own (a second fault must not fail the load
                    // after all, nor leave the next windows unmarked), the logging first; the
                    // payload leaked, not dropped: its drop could fault too.
                    std::mem::forget(payload);
                    // What faulted may have had the window closed (another plugin answering a
                    // signal it emitted): only a window still open is touched.
                    // SAFETY: in libpurple's open conversations just now.
                    quietly(|| unsafe {
                        if glue::still_open(conv) {
                            super::bindings::purple_conversation_set_logging(conv, 0);
                        }
                    });
                    quietly(|| {
                        glue::debug_error(
                            "load: marking a window panicked; its logging is turned off",
                        )
                    });
                    quietly(state::after_panic);
                    // SAFETY: as above, looked up again (setting the logging emits a signal).
                    quietly(|| unsafe {
                        if glue::still_open(conv) {
                            glue::system_line_to(conv, texts::not_marked_after_a_fault())
                        }
                    });
                }
            }
            glue::debug_info("Sotto loaded");
            std::mem::forget(undo);
            1
        }
    )
}

/// Something the load must tell: `debug` to the debug log, and an error box for the user.
fn load_error(plugin: *mut PurplePlugin, debug: &str, primary: &str, text: &str) {
    glue::debug_error(debug);
    glue::notify(plugin.cast(), true, primary, text);
}

/// Undoes a load that a caught fault fails (dropped while unwinding; forgotten once loaded).
struct UndoLoad(*mut PurplePlugin);

impl Drop for UndoLoad {
    fn drop(&mut self) {
        // What `track_all` took from the windows (the conversation each showed) is kept for
        // the next load, as an unload keeps it: dropped with the state, a window whose contact
        // was renamed (or whose room was left) meanwhile was taken at the next load for the
        // conversation its name stands for now, blank.
        quietly(super::windows::keep_for_reload);
        quietly(state::remove);
        // SAFETY: the plugin being loaded; libpurple takes the handle only to find callbacks.
        quietly(|| unsafe { super::bindings::purple_prefs_disconnect_by_handle(self.0.cast()) });
    }
}

/// For the end-to-end test of a load that faults marking a window: panics when
/// `SOTTO_TEST_PANIC_AT_LOAD` is set and not empty (read from the process environment; unset
/// in any real use).
#[allow(clippy::panic)]
fn test_panic_at_load() {
    if std::env::var_os("SOTTO_TEST_PANIC_AT_LOAD").is_some_and(|v| !v.is_empty()) {
        panic!("SOTTO_TEST_PANIC_AT_LOAD: a panic marking a window at load, on purpose");
    }
}

/// Plugin unload: when the user unloads the plugin in a running client, end every encrypted
/// session (the peers are told) and restore the windows; when the client quits, keep the sessions
/// (they are in the store) for the next start. Then disconnect everything.
///
/// # Safety
/// Called by libpurple with the plugin being unloaded.
#[no_mangle]
pub unsafe extern "C" fn sotto_plugin_unload(plugin: *mut PurplePlugin) -> gboolean {
    ffi_boundary!(1, {
        non_null!(plugin, 1);
        // Each step before the load is undone runs on its own: whatever one of them does, the
        // load is undone. (libpurple takes the plugin for unloaded and disconnects its signals
        // by handle; a load left in place by a step that panicked made the next load deaf:
        // dropping it then disconnected the new handlers and put the protocols' own `send_im`
        // back, and what was typed to an encrypted contact left in plaintext.)
        if !state::is_quitting() {
            survive("ending the sessions", || {
                test_panic_at_unload();
                // Before the sessions end: the end line queues behind what is still going out.
                super::pace::stop();
                present::stop_all();
            });
            survive(
                "giving back what waited to be sent again",
                present::give_back_resends,
            );
            // Done by `stop_all` at its end; again here (it finds nothing left to do then) for
            // an unload whose sessions' end panicked: no window keeps "(encrypted)" or its
            // logging turned off once Sotto is gone.
            survive("restoring the windows", present::undecorate_all);
        }
        survive("releasing reservations", service::release_reservations);
        if !state::is_quitting() {
            // Each window keeps the conversation it showed, for the next load.
            survive(
                "keeping the windows' conversations",
                super::windows::keep_for_reload,
            );
        }
        // Each key dialog is its own owner (not the plugin): closed by its own handle.
        survive("closing dialogs", super::dialogs::close_all_own_dialogs);
        state::remove();
        // SAFETY: closes any settings dialog we opened (its user data is then leaked, not freed
        // twice).
        unsafe { super::bindings::purple_request_close_with_handle(plugin.cast()) };
        glue::debug_info("Sotto unloaded");
        1
    })
}

/// Runs one step of the unload, a panic in it caught and logged: the steps after it, and the
/// undoing of the load, still run. As at the panic boundary, memory may have run ahead of
/// disk: every loaded conversation is dropped first, so no later step saves a half-made
/// change (`release_reservations` saves what is loaded).
fn survive(what: &str, step: impl FnOnce()) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(step)).is_err() {
        glue::debug_error(&format!(
            "unload: {what} panicked; the plugin unloads all the same"
        ));
        state::after_panic();
    }
}

/// For the end-to-end test of a load that faults: panics when the file that
/// `SOTTO_TEST_FAULT_IN_LOAD_IF` names exists (read from the process environment; unset in any
/// real use), so a test can have a later load of a running client fault.
#[allow(clippy::panic)]
fn test_fault_in_load() {
    if let Some(path) = std::env::var_os("SOTTO_TEST_FAULT_IN_LOAD_IF").filter(|v| !v.is_empty()) {
        if std::path::Path::new(&path).exists() {
            panic!("SOTTO_TEST_FAULT_IN_LOAD_IF: a fault in the load, on purpose");
        }
    }
}

/// For the end-to-end test of an unload that panics: panics when `SOTTO_TEST_PANIC_AT_UNLOAD`
/// is set and not empty (read from the process environment; unset in any real use).
#[allow(clippy::panic)]
fn test_panic_at_unload() {
    if std::env::var_os("SOTTO_TEST_PANIC_AT_UNLOAD").is_some_and(|v| !v.is_empty()) {
        panic!("SOTTO_TEST_PANIC_AT_UNLOAD: a panic in the unload, on purpose");
    }
}

/// The "Configure Plugin" frame: policy, logging, line size for unknown protocols.
///
/// # Safety
/// Called by libpurple with the plugin.
#[no_mangle]
pub unsafe extern "C" fn sotto_plugin_pref_frame(
    plugin: *mut PurplePlugin,
) -> *mut PurplePluginPrefFrame {
    ffi_boundary!(std::ptr::null_mut(), {
        non_null!(plugin, std::ptr::null_mut());
        prefs_frame::build()
    })
}

/// Plugin actions (Tools > Sotto).
///
/// # Safety
/// Called by libpurple with the plugin; `context` is unused (NULL for standard plugins).
#[no_mangle]
pub unsafe extern "C" fn sotto_plugin_actions(
    plugin: *mut PurplePlugin,
    context: *mut c_void,
) -> *mut GList {
    let _ = context;
    ffi_boundary!(std::ptr::null_mut(), {
        non_null!(plugin, std::ptr::null_mut());
        actions::list()
    })
}
