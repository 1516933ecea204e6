/*
 * headless: libpurple without a user interface, for the C programs that drive it in tests and
 * measurements: tests/client/sotto-testclient.c (the e2e rig's client), purple-plugin/loadcheck.c
 * (make loadcheck) and purple-plugin/loadtime.c (make loadtime).
 *
 * libpurple leaves the event loop to its UI (timeouts and file descriptor watches); Pidgin takes
 * it from GTK, these programs from GLib's default main context. What every headless start-up
 * does before its own work is here once: the purple user dir, debug output, the event loop ops,
 * purple_core_init and an empty buddy list (as Pidgin's libpurple/tests/check_libpurple.c and
 * libpurple's nullclient do).
 */
#ifndef SOTTO_HEADLESS_H
#define SOTTO_HEADLESS_H

#include <glib.h>

/*
 * Start libpurple headless as `ui_id` on `user_dir`, or, when `user_dir` is NULL, on a new
 * temporary directory named "<ui_id>-XXXXXX" (left behind, for inspection). `debug` turns
 * libpurple's debug output on (it goes through g_print). Install any other UI ops (core,
 * conversations, requests, notifications) before calling this: purple_core_init uses them.
 *
 * Returns the user dir in use, newly allocated (g_free it), or NULL when no temporary directory
 * could be made (said on stderr) or purple_core_init failed (left to the caller to report).
 */
char *sotto_headless_init(const char *ui_id, const char *user_dir, gboolean debug);

#endif /* SOTTO_HEADLESS_H */
