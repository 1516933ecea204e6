/*
 * Sotto's C shim: only what Rust cannot express.
 *
 * - the static PurplePluginInfo / PurplePluginUiInfo tables libpurple reads by address;
 * - the PURPLE_INIT_PLUGIN macro body.
 *
 * Everything else (load, unload, prefs frame, actions) is Rust, declared in the cbindgen-generated
 * "sotto.h". build.rs compiles this file with -Dpurple_init_plugin=sotto_shim_init_plugin: the macro
 * then defines sotto_shim_init_plugin, and Rust exports the real purple_init_plugin (inside its panic
 * boundary) so that the cdylib's exported symbols are exactly the Rust #[no_mangle] functions.
 */
#include <glib.h>

#include <plugin.h>
#include <version.h>

#include "sotto.h"

#define SOTTO_PLUGIN_ID "core-sotto"

static PurplePluginUiInfo sotto_prefs_info = {
	sotto_plugin_pref_frame, /* get_plugin_pref_frame */
	0,                       /* page_num (reserved) */
	NULL,                    /* frame (reserved) */
	NULL, NULL, NULL, NULL
};

static PurplePluginInfo sotto_info = {
	PURPLE_PLUGIN_MAGIC,
	PURPLE_MAJOR_VERSION,
	PURPLE_MINOR_VERSION,
	PURPLE_PLUGIN_STANDARD,
	NULL,                     /* ui_requirement: none, a core plugin for every UI */
	0,                        /* flags */
	NULL,                     /* dependencies */
	PURPLE_PRIORITY_DEFAULT,
	SOTTO_PLUGIN_ID,
	"Sotto",
	SOTTO_VERSION,
	"End-to-end encryption for one-to-one instant messages",
	"Encrypts one-to-one instant messages end to end on IRC, XMPP and the other protocols "
	"libpurple speaks (not group chats): a forward-secret handshake and a double ratchet, "
	"carried as plain text lines. Use /sotto help in a conversation, or the Sotto menu.",
	"Sotto developers",
	NULL,                     /* homepage: none yet (both UIs skip a NULL one; an empty string
	                             would show gettext's catalog header: _("")) */
	sotto_plugin_load,
	sotto_plugin_unload,
	NULL,                     /* destroy */
	NULL,                     /* ui_info */
	NULL,                     /* extra_info */
	&sotto_prefs_info,
	sotto_plugin_actions,
	NULL, NULL, NULL, NULL
};

static void
sotto_init(PurplePlugin *plugin)
{
	sotto_plugin_init(plugin);
}

PURPLE_INIT_PLUGIN(sotto, sotto_init, sotto_info)
