/*
 * headless: libpurple without a user interface. See headless.h.
 */
#include <stdio.h>

#include <glib.h>

#include <purple.h>

#include "headless.h"

/* ---------------------------------------------------------- eventloop on GLib */

typedef struct {
	PurpleInputFunction func;
	gpointer data;
} InputClosure;

/* The conditions Pidgin's gtkeventloop.c maps: a hang-up or error wakes a reader and a
 * writer alike, so libpurple's read or write sees the failure. */
#define READ_COND (G_IO_IN | G_IO_HUP | G_IO_ERR)
#define WRITE_COND (G_IO_OUT | G_IO_HUP | G_IO_ERR | G_IO_NVAL)

static gboolean
input_dispatch(GIOChannel *source, GIOCondition condition, gpointer data)
{
	InputClosure *closure = data;
	int cond = 0;

	if (condition & READ_COND)
		cond |= PURPLE_INPUT_READ;
	if (condition & WRITE_COND)
		cond |= PURPLE_INPUT_WRITE;
	closure->func(closure->data, g_io_channel_unix_get_fd(source),
	              (PurpleInputCondition)cond);
	return TRUE;
}

static guint
input_add(gint fd, PurpleInputCondition cond, PurpleInputFunction func,
          gpointer data)
{
	InputClosure *closure = g_new0(InputClosure, 1);
	GIOChannel *channel = g_io_channel_unix_new(fd);
	GIOCondition watch = 0;
	guint id;

	closure->func = func;
	closure->data = data;
	if (cond & PURPLE_INPUT_READ)
		watch |= READ_COND;
	if (cond & PURPLE_INPUT_WRITE)
		watch |= WRITE_COND;
	id = g_io_add_watch_full(channel, G_PRIORITY_DEFAULT, watch,
	                         input_dispatch, closure, g_free);
	g_io_channel_unref(channel);
	return id;
}

static PurpleEventLoopUiOps eventloop_ops = {
	.timeout_add = g_timeout_add,
	.timeout_remove = g_source_remove,
	.input_add = input_add,
	.input_remove = g_source_remove,
	.timeout_add_seconds = g_timeout_add_seconds,
};

/* ---------------------------------------------------------- start-up */

char *
sotto_headless_init(const char *ui_id, const char *user_dir, gboolean debug)
{
	char *dir;

	if (user_dir != NULL) {
		dir = g_strdup(user_dir);
	} else {
		char *template = g_strdup_printf("%s-XXXXXX", ui_id);
		GError *error = NULL;

		dir = g_dir_make_tmp(template, &error);
		g_free(template);
		if (dir == NULL) {
			/* Never fall back to the default ~/.purple: a check must not touch real data. */
			fprintf(stderr, "%s: no temporary purple user dir: %s\n", ui_id,
			        error->message);
			g_error_free(error);
			return NULL;
		}
	}
	purple_util_set_user_dir(dir);
	purple_debug_set_enabled(debug);
	purple_eventloop_set_ui_ops(&eventloop_ops);
	if (!purple_core_init(ui_id)) {
		g_free(dir);
		return NULL;
	}
	purple_set_blist(purple_blist_new());
	return dir;
}
