/*
 * sotto-loadtime: how long real libpurple takes to load build/sotto.so with a given purple user
 * dir (e.g. one whose Sotto store holds 1,000 sessions: `make loadtime`). Prints the times; asserts
 * nothing (a timing is never a test).
 *
 *   build/sotto-loadtime USERDIR /abs/path/to/sotto.so [RUNS]
 *
 * Headless libpurple on USERDIR (tests/client/headless.c: GLib eventloop ops; no UI, no
 * account), then RUNS times:
 * purple_plugin_probe (dlopen and the plugin's init, first run only: libpurple keeps the plugin),
 * purple_plugin_load (what Pidgin calls at start-up for an enabled plugin, and when the user
 * ticks it), purple_plugin_unload. The first load is the start-up case; later ones reuse the
 * process (page cache and allocator warm).
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>

#include <purple.h>

#include "headless.h"

static double
ms_since(gint64 t0)
{
	return (double)(g_get_monotonic_time() - t0) / 1000.0;
}

int
main(int argc, char **argv)
{
	PurplePlugin *plugin;
	char *dir;
	gint64 t0;
	int runs = argc > 3 ? atoi(argv[3]) : 5, i;

	if (argc < 3 || runs < 1) {
		fprintf(stderr, "usage: %s USERDIR /absolute/path/to/sotto.so [RUNS]\n", argv[0]);
		return 2;
	}
	dir = sotto_headless_init("sotto-loadtime", argv[1], g_getenv("SOTTO_DEBUG") != NULL);
	if (dir == NULL) {
		fprintf(stderr, "libpurple failed to initialize\n");
		return 1;
	}
	g_free(dir);

	t0 = g_get_monotonic_time();
	plugin = purple_plugin_probe(argv[2]);
	printf("probe (dlopen + init): %.3f ms\n", ms_since(t0));
	if (plugin == NULL) {
		fprintf(stderr, "could not probe %s\n", argv[2]);
		return 1;
	}
	for (i = 0; i < runs; i++) {
		gboolean ok;
		double load;
		t0 = g_get_monotonic_time();
		ok = purple_plugin_load(plugin);
		load = ms_since(t0);
		if (!ok) {
			fprintf(stderr, "purple_plugin_load failed: %s\n",
			        plugin->error ? plugin->error : "(no reason)");
			return 1;
		}
		t0 = g_get_monotonic_time();
		purple_plugin_unload(plugin);
		printf("load %d: %.3f ms (unload %.3f ms)\n", i + 1, load, ms_since(t0));
	}
	purple_core_quit();
	return 0;
}
