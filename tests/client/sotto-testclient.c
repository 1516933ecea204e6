/*
 * sotto-testclient: a headless libpurple client driven over stdin/stdout.
 *
 * One account, one GLib main loop, no GTK (the headless start-up and event
 * loop are headless.c's). The end-to-end tests start two of these (alice and
 * bob), load build/sotto.so into each, and type into them the way a user types
 * into Pidgin. Everything libpurple would show the user is printed as one
 * machine-readable line on stdout. The protocol is described in
 * tests/README.md; the summary:
 *
 *   sotto-testclient USERDIR PROTOCOL USERNAME PASSWORD
 *                    [--opt key=value]... [--pref /path=value]... [--plugin PATH]
 *                    [--prpl PATH] [--also-plugin PATH]... [--also-account USERNAME]...
 *                    [--debug]
 *
 * stdin, one command per line (arguments escaped: \n \t \r \s \\):
 *   send <buddy> <text>        type <text> in the IM window and press Enter
 *                              (escaped to markup the way Pidgin's entry does)
 *   sendraw <buddy> <markup>   same, but <markup> is passed as is
 *   cmd <buddy> <cmdline>      run "/<cmdline>" in the IM window
 *   pref <path> <value>        set a preference
 *   menu <buddy>               list the conversation's extended menu
 *   menuact <buddy> <label>    activate a menu item (path "Sub/Item" allowed)
 *   menuopen <buddy>           build and keep the window's menus as Pidgin does
 *   finchmenuopen <buddy>      the same for Finch's contact row (More/ only)
 *   menupick <path>            run a kept item on the object it was built for
 *   answer <n> <value>         answer request n (action index, choice value,
 *                              input text, or fields "id=value;id=value")
 *   cancel <n>                 cancel request n
 *   action <label>             run a plugin action (Tools > plugin > label)
 *   echo <text>                print "ECHO <text>" (a barrier for the driver)
 *   close <buddy>              close the IM window with <buddy>
 *   sendother <buddy> <text>   as send, typed in the other IM window named <buddy> when two
 *                              are (the one send does not pick); ERROR when there is one
 *   unload / load              unload / load again the --plugin plugin, as Tools > Plugins
 *                              does (prints PLUGIN_UNLOADED / PLUGIN_LOADED or PLUGIN_FAILED)
 *   autoreply <buddy> <markup> an auto-reply as serv_got_im makes it: serv_send_im, then the
 *                              window writes it as sent whatever that returned (ECHO autoreply <rc>)
 *   pounce <buddy> <markup>    a buddy pounce's message: written as sent, then serv_send_im
 *   imwrite <buddy> <markup>   write <markup> into the window as received from <buddy>, as a
 *                              protocol plugin does itself without serv_got_im (ECHO imwrite)
 *   servsend <buddy> <markup>  hand <markup> to serv_send_im as libpurple's auto-reply does
 *                              (ECHO servsend <what send_im returned>)
 *                              (no sending-im-msg); prints ECHO servsend
 *   as <username> <command>    run <command> as the account <username> (one named
 *                              by --also-account; the others use the first account)
 *   join <room@server> <nick>  join an XMPP group chat as <nick> (prints JOINED <room>)
 *   leave <room@server>        close the group chat's window, which leaves the room
 *   chatcmd <room> <command>   run a /command typed in the group chat's window (prints CMD)
 *   chatsend <room> <text>     send <text> in the group chat's window as Pidgin's entry hands
 *                              it on (escaped markup), after no command ran (prints ECHO)
 *   merge <buddy> <other>      put <other>'s buddy into <buddy>'s contact, as dragging one
 *                              buddy onto another in Pidgin's buddy list does (both added
 *                              first if needed): Pidgin then shows their conversations in one
 *                              tab, Finch in one window (prints ECHO merge); a conversation
 *                              opened after it shares the UI data (ui_data) of an open one
 *                              of its contact, as in Pidgin, also after a rename
 *   unbuddy <buddy>            take the buddy off the buddy list (as libpurple's XMPP roster
 *                              code does on a server's remove push, or a move to another
 *                              group, which replaces the buddy): its settings go with it
 *   subscribe <buddy>          add the buddy and ask to see its presence (XMPP subscription);
 *                              every client allows such requests by itself (prints AUTHORIZED
 *                              <who> when it does)
 *   dismiss <n>                close request <n>'s window (its close button): an action
 *                              request calls nothing, the others their cancel callback
 *   offline / online           disconnect the account (the network drops) / connect it
 *                              again in the same process (prints SIGNED_ON once connected)
 *   deleteaccount              delete the account, as Manage Accounts > Delete does (only
 *                              quit, answer, dismiss and echo work after it)
 *   quit                       sign off and exit
 *
 * stdout, one event per line, fields escaped the same way:
 *   READY, SIGNED_ON <account>, PLUGIN_LOADED <id>, PLUGIN_FAILED <reason>,
 *   WRITE <conv> <flags> <who> <text>, TITLE <conv> <title>,
 *   CMD <conv> <status> <error>, REQUEST <n> <kind> <title> <primary> <secondary>,
 *   REQUEST_ITEM <n> <index-or-id> <label>, REQUEST_CLOSED <n>,
 *   NOTIFY <type> <title> <primary> <secondary>, MENU <conv> <path>,
 *   ERROR <what> <detail>, CRITICAL <domain> <message>, WARNING <domain> <message>,
 *   ECHO <text>, JOINED <room>, AUTHORIZED <who>, BYE
 */

#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <glib-unix.h>

#include <purple.h>

#include "headless.h"

#define UI_ID "sotto-testclient"

static GMainLoop *main_loop;
/* The account commands act as: the first one, or the one an "as" command names. */
static PurpleAccount *the_account;
/* Every account this client signs on (the first, then --also-account ones). */
static GPtrArray *accounts;
/* The plugin --plugin loaded (NULL when none): "unload" and "load" act on it. */
static PurplePlugin *the_plugin;
/* SOTTO_TESTCLIENT_CANCEL_PREFIX: a sending-im-msg handler that runs after the plugin's
 * cancels every message starting with it, as another plugin may (prints CANCELLED <buddy>). */
static const char *cancel_prefix;
/* SOTTO_TESTCLIENT_SIGNATURE / SOTTO_TESTCLIENT_HEADER: a sending-im-msg handler that runs
 * after the plugin's puts one after / the other before every message, as a signature plugin
 * may (prints SIGNED <buddy>). */
static const char *signature, *header;
/* SOTTO_TESTCLIENT_SEND_ELSEWHERE: a sending-im-msg handler that runs after the plugin's and,
 * for every message, sends "a side note" to this name (the receiver's own, or another) with
 * serv_send_im, as another plugin may (prints ELSEWHERE <receiver>). */
static const char *send_elsewhere;

/* ---------------------------------------------------------------- output */

/* Escape one field: backslash, newline, tab and CR always; space too unless
 * the field is the last one on the line. NULL and "" become "-" in the
 * middle of a line, "" at the end. */
static void
put_field(GString *line, const char *s, gboolean last)
{
	const char *p;

	if (line->len > 0)
		g_string_append_c(line, ' ');
	if (s == NULL || *s == '\0') {
		if (!last)
			g_string_append_c(line, '-');
		return;
	}
	for (p = s; *p; p++) {
		switch (*p) {
		case '\\': g_string_append(line, "\\\\"); break;
		case '\n': g_string_append(line, "\\n"); break;
		case '\t': g_string_append(line, "\\t"); break;
		case '\r': g_string_append(line, "\\r"); break;
		case ' ':
			g_string_append(line, last ? " " : "\\s");
			break;
		default: g_string_append_c(line, *p);
		}
	}
}

/* emit("WRITE", n, f1, ..., fn): the last field keeps its spaces. */
static void
emit(const char *tag, int n, ...)
{
	GString *line = g_string_new(tag);
	va_list ap;
	int i;

	va_start(ap, n);
	for (i = 0; i < n; i++)
		put_field(line, va_arg(ap, const char *), i == n - 1);
	va_end(ap);
	g_string_append_c(line, '\n');
	fputs(line->str, stdout);
	fflush(stdout);
	g_string_free(line, TRUE);
}

static char *
unescape(const char *s)
{
	GString *out = g_string_new(NULL);
	const char *p;

	for (p = s; *p; p++) {
		if (*p != '\\' || p[1] == '\0') {
			g_string_append_c(out, *p);
			continue;
		}
		p++;
		switch (*p) {
		case 'n': g_string_append_c(out, '\n'); break;
		case 't': g_string_append_c(out, '\t'); break;
		case 'r': g_string_append_c(out, '\r'); break;
		case 's': g_string_append_c(out, ' '); break;
		default: g_string_append_c(out, *p); break;
		}
	}
	return g_string_free(out, FALSE);
}

/* GLib log messages: CRITICALs are bugs, in the plugin or in libpurple. The
 * driver fails a test on any CRITICAL line; SOTTO_TESTCLIENT_FATAL=1 makes
 * them abort the process instead (for gdb). */
static void
log_handler(const gchar *domain, GLogLevelFlags level, const gchar *message,
            gpointer data)
{
	if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
		emit("CRITICAL", 2, domain ? domain : "-", message);
	else if (level & G_LOG_LEVEL_WARNING)
		emit("WARNING", 2, domain ? domain : "-", message);
	else
		g_log_default_handler(domain, level, message, data);
}

/* libpurple's debug output goes through g_print: keep it off the event stream. */
static void
print_to_stderr(const gchar *text)
{
	fputs(text, stderr);
}

/* ------------------------------------------------------- conversations */

/* SOTTO_TEST_UI=finch: the client draws a window shared by several conversations as Finch
 * does (finch_write_common): only the active conversation's lines are drawn; a line sent or
 * received makes its conversation the active one, and a system line counts as neither unless
 * it also carries NOTIFY. A line dropped so is printed as DROPPED, not WRITE. Its UI id is
 * Finch's ("gnt-purple"). */
static gboolean finch_ui;
/* Set while a command typed in a window runs (Finch: a key press is being handled). Finch
 * raises a window made then, and one presented then (gnt_wm_new_window_real, event_stack;
 * gnt_window_present): the window that takes the keyboard is printed as FOCUS <conv>. */
static gboolean key_press;

typedef struct Window Window;
static void window_set_active(PurpleConversation *conv);
static PurpleConversation *window_active(PurpleConversation *conv);

static void
write_conv(PurpleConversation *conv, const char *who, const char *alias,
           const char *message, PurpleMessageFlags flags, time_t mtime)
{
	char flagstr[16];

	g_snprintf(flagstr, sizeof(flagstr), "%d", (int)flags);
	if (finch_ui) {
		PurpleMessageFlags drawn = flags;

		if ((drawn & PURPLE_MESSAGE_SYSTEM) && !(drawn & PURPLE_MESSAGE_NOTIFY))
			drawn &= ~(PURPLE_MESSAGE_SEND | PURPLE_MESSAGE_RECV);
		if (window_active(conv) != conv) {
			if (drawn & (PURPLE_MESSAGE_SEND | PURPLE_MESSAGE_RECV)) {
				window_set_active(conv);
			} else {
				emit("DROPPED", 4, purple_conversation_get_name(conv), flagstr, who,
				     message);
				return;
			}
		}
	}
	emit("WRITE", 4, purple_conversation_get_name(conv), flagstr, who, message);
}

/* A protocol registers a custom smiley the peer sent (XMPP XHTML-IM <img src='cid:'>): in
 * Pidgin it would be drawn in place of its text in the window, Sotto's lines included. */
static gboolean
custom_smiley_add(PurpleConversation *conv, const char *smile, gboolean remote)
{
	emit("SMILEY", 2, purple_conversation_get_name(conv), smile);
	return TRUE;
}

/* A conversation window, as the UI data Pidgin 2.x gives a conversation (its PidginConversation):
 * the IM conversations of one buddy-list contact share one, as Pidgin puts a new conversation
 * into the tab of an open one with another buddy of its contact (pidgin_conv_find_gtkconv; Finch's
 * find_conv_with_contact likewise), and a renamed conversation (an IRC nick change) keeps it. */
struct Window {
	GList *convs;
	/* The conversation typed into and drawn (Finch's active_conv); Pidgin draws them all. */
	PurpleConversation *active;
};

static void
window_set_active(PurpleConversation *conv)
{
	Window *w = conv->ui_data;

	if (w != NULL)
		w->active = conv;
}

static PurpleConversation *
window_active(PurpleConversation *conv)
{
	Window *w = conv->ui_data;

	return w != NULL && w->active != NULL ? w->active : conv;
}

/* The window of an open IM conversation with another buddy of conv's contact, if any. */
static Window *
contact_window(PurpleConversation *conv)
{
	PurpleAccount *account = purple_conversation_get_account(conv);
	PurpleBuddy *buddy = purple_find_buddy(account, purple_conversation_get_name(conv));
	PurpleContact *contact = buddy ? purple_buddy_get_contact(buddy) : NULL;
	PurpleBlistNode *node;

	if (contact == NULL)
		return NULL;
	for (node = purple_blist_node_get_first_child((PurpleBlistNode *)contact); node != NULL;
	     node = purple_blist_node_get_sibling_next(node)) {
		PurpleConversation *other;

		/* Not the conversation's own buddy (Finch's find_conv_with_contact skips it too): an
		 * older window under the same name keeps a window of its own. */
		if (!PURPLE_BLIST_NODE_IS_BUDDY(node) || node == (PurpleBlistNode *)buddy)
			continue;
		other = purple_find_conversation_with_account(PURPLE_CONV_TYPE_IM,
		        purple_buddy_get_name((PurpleBuddy *)node),
		        purple_buddy_get_account((PurpleBuddy *)node));
		if (other != NULL && other != conv && other->ui_data != NULL)
			return other->ui_data;
	}
	return NULL;
}

static void
create_conversation(PurpleConversation *conv)
{
	Window *w = NULL;

	if (purple_conversation_get_type(conv) == PURPLE_CONV_TYPE_IM)
		w = contact_window(conv);
	if (w == NULL)
		w = g_new0(Window, 1);
	w->convs = g_list_prepend(w->convs, conv);
	/* Finch makes a new conversation in a shared window the active one. */
	w->active = conv;
	conv->ui_data = w;
	if (finch_ui && key_press)
		emit("FOCUS", 1, purple_conversation_get_name(conv));
}

static void
present_conversation(PurpleConversation *conv)
{
	if (finch_ui && key_press)
		emit("FOCUS", 1, purple_conversation_get_name(conv));
}

static void
destroy_conversation(PurpleConversation *conv)
{
	Window *w = conv->ui_data;

	if (w == NULL)
		return;
	conv->ui_data = NULL;
	w->convs = g_list_remove(w->convs, conv);
	if (w->active == conv)
		w->active = w->convs != NULL ? w->convs->data : NULL;
	if (w->convs == NULL)
		g_free(w);
}

static PurpleConversationUiOps conversation_ops = {
	.create_conversation = create_conversation,
	.destroy_conversation = destroy_conversation,
	.write_conv = write_conv,
	.custom_smiley_add = custom_smiley_add,
	.present = present_conversation,
};

static void
conversation_updated(PurpleConversation *conv, PurpleConvUpdateType type)
{
	if (type == PURPLE_CONV_UPDATE_TITLE)
		emit("TITLE", 2, purple_conversation_get_name(conv),
		     purple_conversation_get_title(conv));
}

static void
chat_joined(PurpleConversation *conv, gpointer data)
{
	(void)data;
	emit("JOINED", 1, purple_conversation_get_name(conv));
}

/* The IM window the user would type into: an open one for this buddy (on
 * XMPP, one that libpurple renamed to the buddy's full JID counts too), or a
 * new one, as when the user double-clicks the buddy. */
static PurpleConversation *
im_window(const char *buddy)
{
	PurpleConversation *conv;
	GList *l;
	size_t n = strlen(buddy);

	conv = purple_find_conversation_with_account(PURPLE_CONV_TYPE_IM, buddy,
	                                             the_account);
	if (conv != NULL)
		return conv;
	/* A window named exactly so that libpurple's lookup misses (filed under what the name
	 * normalized to when it opened: an XMPP room occupant once the room is left): the
	 * window the user sees and types in. */
	for (l = purple_get_ims(); l != NULL; l = l->next) {
		if (purple_conversation_get_account(l->data) == the_account &&
		    strcmp(purple_conversation_get_name(l->data), buddy) == 0)
			return l->data;
	}
	for (l = purple_get_ims(); l != NULL; l = l->next) {
		const char *name = purple_conversation_get_name(l->data);

		if (purple_conversation_get_account(l->data) == the_account &&
		    g_ascii_strncasecmp(name, buddy, n) == 0 && name[n] == '/')
			return l->data;
	}
	return purple_conversation_new(PURPLE_CONV_TYPE_IM, the_account, buddy);
}

/* The IM window named <buddy> that im_window does not pick, when two windows have that
 * name (a renamed contact took the name of an older window): NULL when there is no other. */
static PurpleConversation *
other_im_window(const char *buddy)
{
	PurpleConversation *first = im_window(buddy);
	char *want = g_strdup(purple_normalize(the_account, buddy));
	PurpleConversation *other = NULL;
	GList *l;

	for (l = purple_get_ims(); l != NULL; l = l->next) {
		const char *name = purple_conversation_get_name(l->data);

		if (l->data != first &&
		    purple_conversation_get_account(l->data) == the_account &&
		    strcmp(purple_normalize(the_account, name), want) == 0)
			other = l->data;
	}
	g_free(want);
	return other;
}

/* ------------------------------------------------------- requests */

typedef struct {
	int n;
	PurpleRequestType type;
	GCallback ok_cb;
	GCallback cancel_cb;
	void *user_data;
	GArray *actions;             /* request_action: PurpleRequestActionCb */
	PurpleRequestFields *fields; /* request_fields */
} Request;

static GHashTable *requests; /* n -> Request */
static int next_request = 1;

static Request *
request_new(PurpleRequestType type, const char *kind, const char *title,
            const char *primary, const char *secondary, void *user_data)
{
	Request *r = g_new0(Request, 1);
	char nstr[16];

	r->n = next_request++;
	r->type = type;
	r->user_data = user_data;
	g_hash_table_insert(requests, GINT_TO_POINTER(r->n), r);
	g_snprintf(nstr, sizeof(nstr), "%d", r->n);
	emit("REQUEST", 5, nstr, kind, title, primary, secondary);
	return r;
}

static void
request_item(Request *r, const char *key, const char *label)
{
	char nstr[16];

	g_snprintf(nstr, sizeof(nstr), "%d", r->n);
	emit("REQUEST_ITEM", 3, nstr, key, label);
}

static void *
request_input(const char *title, const char *primary, const char *secondary,
              const char *default_value, gboolean multiline, gboolean masked,
              gchar *hint, const char *ok_text, GCallback ok_cb,
              const char *cancel_text, GCallback cancel_cb,
              PurpleAccount *account, const char *who,
              PurpleConversation *conv, void *user_data)
{
	Request *r = request_new(PURPLE_REQUEST_INPUT, "input", title, primary,
	                         secondary, user_data);

	r->ok_cb = ok_cb;
	r->cancel_cb = cancel_cb;
	request_item(r, "default", default_value);
	/* Pidgin's one-line box takes Enter as OK; a multi-line one takes it as a new line. */
	request_item(r, "multiline", multiline ? "1" : "0");
	return r;
}

static void *
request_choice(const char *title, const char *primary, const char *secondary,
               int default_value, const char *ok_text, GCallback ok_cb,
               const char *cancel_text, GCallback cancel_cb,
               PurpleAccount *account, const char *who,
               PurpleConversation *conv, void *user_data, va_list choices)
{
	Request *r = request_new(PURPLE_REQUEST_CHOICE, "choice", title, primary,
	                         secondary, user_data);
	const char *label;

	r->ok_cb = ok_cb;
	r->cancel_cb = cancel_cb;
	while ((label = va_arg(choices, const char *)) != NULL) {
		char vstr[16];

		g_snprintf(vstr, sizeof(vstr), "%d", va_arg(choices, int));
		request_item(r, vstr, label);
	}
	return r;
}

static void *
request_action(const char *title, const char *primary, const char *secondary,
               int default_action, PurpleAccount *account, const char *who,
               PurpleConversation *conv, void *user_data, size_t action_count,
               va_list actions)
{
	Request *r = request_new(PURPLE_REQUEST_ACTION, "action", title, primary,
	                         secondary, user_data);
	size_t i;

	r->actions = g_array_new(FALSE, TRUE, sizeof(GCallback));
	for (i = 0; i < action_count; i++) {
		const char *label = va_arg(actions, const char *);
		GCallback cb = va_arg(actions, GCallback);
		char istr[16];

		g_array_append_val(r->actions, cb);
		g_snprintf(istr, sizeof(istr), "%u", (unsigned)i);
		request_item(r, istr, label);
	}
	return r;
}

static void *
request_action_with_icon(const char *title, const char *primary,
                         const char *secondary, int default_action,
                         PurpleAccount *account, const char *who,
                         PurpleConversation *conv, gconstpointer icon_data,
                         gsize icon_size, void *user_data, size_t action_count,
                         va_list actions)
{
	return request_action(title, primary, secondary, default_action, account,
	                      who, conv, user_data, action_count, actions);
}

static void *
request_fields(const char *title, const char *primary, const char *secondary,
               PurpleRequestFields *fields, const char *ok_text, GCallback ok_cb,
               const char *cancel_text, GCallback cancel_cb,
               PurpleAccount *account, const char *who,
               PurpleConversation *conv, void *user_data)
{
	Request *r = request_new(PURPLE_REQUEST_FIELDS, "fields", title, primary,
	                         secondary, user_data);
	GList *g, *f;

	r->ok_cb = ok_cb;
	r->cancel_cb = cancel_cb;
	r->fields = fields;
	for (g = purple_request_fields_get_groups(fields); g; g = g->next) {
		for (f = purple_request_field_group_get_fields(g->data); f; f = f->next) {
			PurpleRequestField *field = f->data;
			GString *label = g_string_new(purple_request_field_get_label(field));
			GList *l;

			if (purple_request_field_get_type(field) == PURPLE_REQUEST_FIELD_CHOICE) {
				int i = 0;

				for (l = purple_request_field_choice_get_labels(field); l; l = l->next)
					g_string_append_printf(label, " [%d=%s]", i++, (char *)l->data);
			} else if (purple_request_field_get_type(field) == PURPLE_REQUEST_FIELD_LIST) {
				for (l = purple_request_field_list_get_items(field); l; l = l->next)
					g_string_append_printf(label, " [%s]", (char *)l->data);
			} else if (purple_request_field_get_type(field) == PURPLE_REQUEST_FIELD_STRING) {
				const char *v = purple_request_field_string_get_default_value(field);

				if (v != NULL)
					g_string_append_printf(label, " [default=%s]", v);
			} else if (purple_request_field_get_type(field) == PURPLE_REQUEST_FIELD_BOOLEAN) {
				g_string_append_printf(label, " [default=%s]",
					purple_request_field_bool_get_default_value(field) ? "true" : "false");
			}
			request_item(r, purple_request_field_get_id(field), label->str);
			g_string_free(label, TRUE);
		}
	}
	return r;
}

static void
request_forget(Request *r)
{
	g_hash_table_remove(requests, GINT_TO_POINTER(r->n));
	if (r->actions)
		g_array_free(r->actions, TRUE);
	g_free(r);
}

/* libpurple closes a request (purple_request_close, or after our callback). */
static void
close_request(PurpleRequestType type, void *handle)
{
	Request *r = handle;
	char nstr[16];

	if (g_hash_table_lookup(requests, GINT_TO_POINTER(r->n)) != r)
		return;
	g_snprintf(nstr, sizeof(nstr), "%d", r->n);
	emit("REQUEST_CLOSED", 1, nstr);
	request_forget(r);
}

static PurpleRequestUiOps request_ops = {
	.request_input = request_input,
	.request_choice = request_choice,
	.request_action = request_action,
	.request_fields = request_fields,
	.close_request = close_request,
	.request_action_with_icon = request_action_with_icon,
};

/* A contact asks to see this account's presence (an XMPP subscription request): always
 * allowed, as a user who knows the contact would, so that the contact's client sees this
 * one come and go (the e2e tests of a session holder going offline need presence).
 * libpurple frees its request record when authorize_cb runs, and writes the handle we return
 * into it afterwards: the callback runs from the main loop, never inside this call. */
typedef struct {
	PurpleAccountRequestAuthorizationCb authorize_cb;
	void *user_data;
	char *who;
	guint source;
} Authorization;

static gboolean
authorize_later(gpointer data)
{
	Authorization *a = data;

	a->authorize_cb(a->user_data);
	emit("AUTHORIZED", 1, a->who);
	g_free(a->who);
	g_free(a);
	return FALSE;
}

static void *
request_authorize(PurpleAccount *account, const char *remote_user, const char *id,
		  const char *alias, const char *message, gboolean on_list,
		  PurpleAccountRequestAuthorizationCb authorize_cb,
		  PurpleAccountRequestAuthorizationCb deny_cb, void *user_data)
{
	Authorization *a = g_new0(Authorization, 1);

	(void)account; (void)id; (void)alias; (void)message; (void)on_list; (void)deny_cb;
	a->authorize_cb = authorize_cb;
	a->user_data = user_data;
	a->who = g_strdup(remote_user ? remote_user : "");
	a->source = g_idle_add(authorize_later, a);
	return a;
}

/* libpurple closes a request it no longer needs (the account goes) before it was answered:
 * the answer must not run on its freed record. (Once answered, libpurple forgets the request:
 * this is not called for it.) */
static void
close_account_request(void *ui_handle)
{
	Authorization *a = ui_handle;

	g_source_remove(a->source);
	g_free(a->who);
	g_free(a);
}

static PurpleAccountUiOps account_ops = {
	.request_authorize = request_authorize,
	.close_account_request = close_account_request,
};

/* Set "id=value;id=value" into a fields request. */
static gboolean
fill_fields(PurpleRequestFields *fields, const char *spec)
{
	gchar **pairs = g_strsplit(spec, ";", -1);
	gboolean ok = TRUE;
	int i;

	for (i = 0; pairs[i] && ok; i++) {
		gchar **kv = g_strsplit(pairs[i], "=", 2);
		PurpleRequestField *field;

		if (kv[0] == NULL || kv[1] == NULL ||
		    (field = purple_request_fields_get_field(fields, kv[0])) == NULL) {
			ok = *pairs[i] == '\0';
			g_strfreev(kv);
			continue;
		}
		switch (purple_request_field_get_type(field)) {
		case PURPLE_REQUEST_FIELD_STRING:
			purple_request_field_string_set_value(field, kv[1]);
			break;
		case PURPLE_REQUEST_FIELD_INTEGER:
			purple_request_field_int_set_value(field, atoi(kv[1]));
			break;
		case PURPLE_REQUEST_FIELD_BOOLEAN:
			purple_request_field_bool_set_value(field,
				g_ascii_strcasecmp(kv[1], "true") == 0 || strcmp(kv[1], "1") == 0);
			break;
		case PURPLE_REQUEST_FIELD_CHOICE:
			purple_request_field_choice_set_value(field, atoi(kv[1]));
			break;
		case PURPLE_REQUEST_FIELD_LIST:
			/* As Pidgin and Finch do: the choice replaces what was preselected. */
			purple_request_field_list_clear_selected(field);
			purple_request_field_list_add_selected(field, kv[1]);
			break;
		default:
			ok = FALSE;
		}
		g_strfreev(kv);
	}
	g_strfreev(pairs);
	return ok;
}

static void
answer_request(int n, const char *value, gboolean cancel)
{
	Request *r = g_hash_table_lookup(requests, GINT_TO_POINTER(n));

	if (r == NULL) {
		emit("ERROR", 2, "answer", "no such request");
		return;
	}
	switch (r->type) {
	case PURPLE_REQUEST_ACTION: {
		int i = cancel ? -1 : atoi(value);

		if (i < 0 || (guint)i >= r->actions->len) {
			emit("ERROR", 2, "answer", "no such action");
			return;
		}
		/* As Pidgin does (pidgin_request_action_with_icon adds the buttons in reverse and
		 * action_response_cb passes the reversed place): the button listed i-th is called
		 * with count - 1 - i. Finch passes i. A plugin must not read the index. */
		if (g_array_index(r->actions, GCallback, i))
			((PurpleRequestActionCb)g_array_index(r->actions, GCallback, i))(
				r->user_data, (int)r->actions->len - 1 - i);
		break;
	}
	case PURPLE_REQUEST_INPUT:
		if (cancel && r->cancel_cb)
			((PurpleRequestInputCb)r->cancel_cb)(r->user_data, value);
		else if (!cancel && r->ok_cb)
			((PurpleRequestInputCb)r->ok_cb)(r->user_data, value);
		break;
	case PURPLE_REQUEST_CHOICE:
		if (cancel && r->cancel_cb)
			((PurpleRequestChoiceCb)r->cancel_cb)(r->user_data, 0);
		else if (!cancel && r->ok_cb)
			((PurpleRequestChoiceCb)r->ok_cb)(r->user_data, atoi(value));
		break;
	case PURPLE_REQUEST_FIELDS:
		if (!cancel && !fill_fields(r->fields, value)) {
			emit("ERROR", 2, "answer", "bad fields");
			return;
		}
		if (cancel && r->cancel_cb)
			((PurpleRequestFieldsCb)r->cancel_cb)(r->user_data, r->fields);
		else if (!cancel && r->ok_cb)
			((PurpleRequestFieldsCb)r->ok_cb)(r->user_data, r->fields);
		break;
	default:
		break;
	}
	/* As a real UI does: the dialog goes away once answered (unless the
	 * callback already closed it, which freed r). */
	if (g_hash_table_lookup(requests, GINT_TO_POINTER(n)) == r)
		purple_request_close(r->type, r);
}

/* The dialog's window is closed (its close button, Escape): as Pidgin does, an action
 * request calls none of its callbacks; the others call their cancel callback. */
static void
dismiss_request(int n)
{
	Request *r = g_hash_table_lookup(requests, GINT_TO_POINTER(n));

	if (r == NULL) {
		emit("ERROR", 2, "dismiss", "no such request");
		return;
	}
	if (r->type == PURPLE_REQUEST_ACTION)
		purple_request_close(r->type, r);
	else
		answer_request(n, "", TRUE);
}

/* ------------------------------------------------------- notify */

static void *
notify_message(PurpleNotifyMsgType type, const char *title, const char *primary,
               const char *secondary)
{
	static const char *names[] = { "error", "warning", "info" };

	emit("NOTIFY", 4, (unsigned)type < 3 ? names[type] : "other", title,
	     primary, secondary);
	return NULL;
}

static void *
notify_formatted(const char *title, const char *primary, const char *secondary,
                 const char *text)
{
	static int shown;

	emit("NOTIFY", 4, "formatted", title, primary, text);
	/* Pidgin and Finch return their window: libpurple returns NULL to the caller only
	 * when the UI showed nothing (the plugin then falls back to a plain message box). */
	return &shown;
}

static PurpleNotifyUiOps notify_ops = {
	.notify_message = notify_message,
	.notify_formatted = notify_formatted,
};

/* ------------------------------------------------------- menus */

static void
print_menu(const char *conv, GList *items, const char *prefix)
{
	for (; items; items = items->next) {
		PurpleMenuAction *act = items->data;
		char *path;

		if (act == NULL)
			continue; /* separator */
		path = prefix ? g_strdup_printf("%s/%s", prefix, act->label)
		              : g_strdup(act->label);
		emit("MENU", 2, conv, path);
		print_menu(conv, act->children, path);
		g_free(path);
	}
}

static PurpleMenuAction *
find_menu(GList *items, const char *path, const char *prefix)
{
	for (; items; items = items->next) {
		PurpleMenuAction *act = items->data, *found;
		char *here;

		if (act == NULL)
			continue;
		here = prefix ? g_strdup_printf("%s/%s", prefix, act->label)
		              : g_strdup(act->label);
		found = strcmp(here, path) == 0 ? act : find_menu(act->children, path, here);
		g_free(here);
		if (found)
			return found;
	}
	return NULL;
}

/* The IM window libpurple's lookup by name finds for `buddy`, or a new one (as Pidgin's pounce
 * and a protocol plugin writing a message itself get theirs). */
static PurpleConversation *
open_im(const char *buddy)
{
	PurpleConversation *conv =
		purple_find_conversation_with_account(PURPLE_CONV_TYPE_IM, buddy, the_account);

	return conv ? conv : purple_conversation_new(PURPLE_CONV_TYPE_IM, the_account, buddy);
}

/* The buddy `name` on the account, added to the buddy list when it is not there yet. */
static PurpleBuddy *
find_or_add_buddy(const char *name)
{
	PurpleBuddy *buddy = purple_find_buddy(the_account, name);

	if (buddy == NULL) {
		buddy = purple_buddy_new(the_account, name, NULL);
		purple_blist_add_buddy(buddy, NULL, NULL, NULL);
	}
	return buddy;
}

/* Pidgin's Conversation > More is the buddy's blist-node-extended-menu, and
 * the Options menu the conversation-extended-menu: both built now, the first
 * listed under "More/", the second under "Options/". */
static GList *
more_and_options(PurpleConversation *conv, PurpleBuddy *buddy)
{
	PurpleMenuAction *more, *options;
	GList *menus = NULL;

	more = purple_menu_action_new("More", NULL, NULL,
		purple_blist_node_get_extended_menu((PurpleBlistNode *)buddy));
	options = purple_menu_action_new("Options", NULL, NULL,
		purple_conversation_get_extended_menu(conv));
	menus = g_list_append(menus, more);
	menus = g_list_append(menus, options);
	return menus;
}

/* Runs the item at `path` of `menus` as the host does: Options/ items are
 * handed the conversation, More/ items the buddy (whatever they have become
 * since the menu was built). */
static void
run_menu_item(GList *menus, const char *path, PurpleConversation *conv,
              PurpleBuddy *buddy, const char *verb)
{
	PurpleMenuAction *act = find_menu(menus, path, NULL);
	gpointer target = g_str_has_prefix(path, "Options/") ? (gpointer)conv : (gpointer)buddy;

	if (act && act->callback)
		((void (*)(gpointer, gpointer))act->callback)(target, act->data);
	else
		emit("ERROR", 2, verb, "no such menu item");
}

static void
free_menus(GList *items)
{
	for (GList *l = items; l; l = l->next)
		if (l->data)
			purple_menu_action_free(l->data);
	g_list_free(items);
}

/* A menu built now and chosen from later, as Pidgin does: Options > Sotto is
 * built for the window's conversation at a tab switch or when the Conversation
 * menu opens, and kept (with that conversation's address, even once it is
 * closed); Conversation > More is built for the buddy, or, when the contact is
 * not in the buddy list, for a buddy made up for the window once
 * ("transient_buddy", never added to the list, never renamed with the window).
 * `menuopen` builds and lists them and keeps them with their objects;
 * `menupick` runs one of the kept items on the object it was built for. */
static GList *open_menus;
static PurpleConversation *open_menus_conv;
static PurpleBuddy *open_menus_buddy;
static GHashTable *transient_buddies; /* conversation address -> PurpleBuddy */

static GList *
pidgin_like_menus(PurpleConversation *conv)
{
	PurpleBuddy *buddy = purple_find_buddy(the_account, purple_conversation_get_name(conv));

	if (buddy == NULL) {
		if (transient_buddies == NULL)
			transient_buddies = g_hash_table_new(g_direct_hash, g_direct_equal);
		buddy = g_hash_table_lookup(transient_buddies, conv);
		if (buddy == NULL) {
			buddy = purple_buddy_new(the_account, purple_conversation_get_name(conv), NULL);
			purple_blist_node_set_flags((PurpleBlistNode *)buddy,
			                            PURPLE_BLIST_NODE_FLAG_NO_SAVE);
			g_hash_table_insert(transient_buddies, conv, buddy);
		}
	}
	open_menus_buddy = buddy;
	open_menus_conv = conv;
	return more_and_options(conv, buddy);
}

/* ------------------------------------------------------- preferences */

static void
set_pref(const char *path, const char *value)
{
	PurplePrefType type = purple_prefs_get_type(path);
	char *end = NULL;
	long num;

	if (type == PURPLE_PREF_NONE && !purple_prefs_exists(path)) {
		/* Not created yet (the plugin adds its prefs when it loads, and
		 * purple_prefs_add_* keeps an existing value): create the parents
		 * and guess the type from the value. */
		gchar **parts = g_strsplit(path + 1, "/", -1);
		GString *walk = g_string_new(NULL);
		int i;

		for (i = 0; parts[i] && parts[i + 1]; i++) {
			g_string_append_printf(walk, "/%s", parts[i]);
			if (!purple_prefs_exists(walk->str))
				purple_prefs_add_none(walk->str);
		}
		g_string_free(walk, TRUE);
		g_strfreev(parts);
		num = strtol(value, &end, 10);
		if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0)
			purple_prefs_add_bool(path, strcmp(value, "true") == 0);
		else if (*value && end && *end == '\0')
			purple_prefs_add_int(path, (int)num);
		else
			purple_prefs_add_string(path, value);
		return;
	}
	switch (type) {
	case PURPLE_PREF_BOOLEAN:
		purple_prefs_set_bool(path, strcmp(value, "true") == 0 || strcmp(value, "1") == 0);
		break;
	case PURPLE_PREF_INT:
		purple_prefs_set_int(path, atoi(value));
		break;
	case PURPLE_PREF_STRING:
	case PURPLE_PREF_PATH:
		purple_prefs_set_string(path, value);
		break;
	default:
		emit("ERROR", 2, "pref", "unsupported preference type");
	}
}

/* ------------------------------------------------------- another plugin's wrapper */

/* What a second plugin that wraps a protocol's send_im after Sotto does: it keeps the
 * function it found (Sotto's wrapper) and calls it. Two such plugins (`wrapsend`,
 * `wrapsend2`), each with its own saved function. */
typedef int (*send_im_fn)(PurpleConnection *, const char *, const char *, PurpleMessageFlags);
static send_im_fn wrapped_by_other[2];
/* How many calls each has passed on (`wrapcalls`). */
static unsigned long calls_through_other[2];

static int
other_send_im(PurpleConnection *gc, const char *who, const char *message,
              PurpleMessageFlags flags)
{
	calls_through_other[0]++;
	return wrapped_by_other[0](gc, who, message, flags);
}

static int
third_send_im(PurpleConnection *gc, const char *who, const char *message,
              PurpleMessageFlags flags)
{
	calls_through_other[1]++;
	return wrapped_by_other[1](gc, who, message, flags);
}

/* `wrapcalls`: how many calls each other plugin's wrapper has passed on. */
static void
report_wrapper_calls(const char *verb)
{
	char *first = g_strdup_printf("%lu", calls_through_other[0]);
	char *second = g_strdup_printf("%lu", calls_through_other[1]);

	emit("ECHO", 3, verb, first, second);
	g_free(first);
	g_free(second);
}

static void
wrap_send_im(const char *verb, int which)
{
	PurplePlugin *prpl = purple_find_prpl(purple_account_get_protocol_id(the_account));
	PurplePluginProtocolInfo *info = prpl ? PURPLE_PLUGIN_PROTOCOL_INFO(prpl) : NULL;

	if (info == NULL || info->send_im == NULL || wrapped_by_other[which] != NULL) {
		emit("ERROR", 2, verb, "cannot wrap send_im");
		return;
	}
	wrapped_by_other[which] = info->send_im;
	info->send_im = which == 0 ? other_send_im : third_send_im;
	emit("ECHO", 1, verb);
}

/* libpurple says a plugin unloaded: one whose file is the module that holds `code` (as
 * libpurple's plugins are; here, this program), or `path` when `code` is NULL. */
static void
say_plugin_unloaded(void *code, const char *path)
{
	static PurplePlugin gone;
	Dl_info where;

	memset(&gone, 0, sizeof gone);
	gone.path = (char *)path;
	if (code != NULL && dladdr(code, &where) != 0)
		gone.path = (char *)where.dli_fname;
	purple_signal_emit(purple_plugins_get_handle(), "plugin-unload", &gone);
}

/* The other plugin unloads and puts back the function it found (taking any wrapper put on
 * top of its own out of the chain, and clearing its saved pointer), and libpurple says that
 * plugin unloaded. */
static void
unwrap_send_im(const char *verb, int which)
{
	PurplePlugin *prpl = purple_find_prpl(purple_account_get_protocol_id(the_account));
	PurplePluginProtocolInfo *info = prpl ? PURPLE_PLUGIN_PROTOCOL_INFO(prpl) : NULL;

	if (info == NULL || wrapped_by_other[which] == NULL) {
		emit("ERROR", 2, verb, "nothing to unwrap");
		return;
	}
	info->send_im = wrapped_by_other[which];
	wrapped_by_other[which] = NULL;
	say_plugin_unloaded((void *)(which == 0 ? other_send_im : third_send_im), NULL);
	emit("ECHO", 1, verb);
}

/* The first other plugin unloads politely (`leavesend`): on top, it puts back what it found;
 * under another wrapper, it cannot take itself out, so it stays in the chain and passes calls
 * on (its saved pointer kept, its code still loaded). libpurple says it unloaded. */
static void
leave_send_im(const char *verb)
{
	PurplePlugin *prpl = purple_find_prpl(purple_account_get_protocol_id(the_account));
	PurplePluginProtocolInfo *info = prpl ? PURPLE_PLUGIN_PROTOCOL_INFO(prpl) : NULL;

	if (info == NULL || wrapped_by_other[0] == NULL) {
		emit("ERROR", 2, verb, "nothing to unwrap");
		return;
	}
	if (info->send_im == other_send_im) {
		info->send_im = wrapped_by_other[0];
		wrapped_by_other[0] = NULL;
	}
	say_plugin_unloaded((void *)other_send_im, NULL);
	emit("ECHO", 1, verb);
}

/* A plugin that has nothing to do with send_im unloads (`pluginunload`): libpurple says so. */
static void
unrelated_plugin_unloads(const char *verb)
{
	say_plugin_unloaded(NULL, "/usr/lib/purple-2/unrelated.so");
	emit("ECHO", 1, verb);
}

/* ------------------------------------------------------- account */

static void
set_account_option(PurpleAccount *account, const char *key, const char *value)
{
	PurplePlugin *prpl = purple_find_prpl(purple_account_get_protocol_id(account));
	PurplePluginProtocolInfo *info = prpl ? PURPLE_PLUGIN_PROTOCOL_INFO(prpl) : NULL;
	PurplePrefType type = PURPLE_PREF_STRING;
	GList *l;

	for (l = info ? info->protocol_options : NULL; l; l = l->next) {
		if (strcmp(purple_account_option_get_setting(l->data), key) == 0) {
			type = purple_account_option_get_type(l->data);
			break;
		}
	}
	if (l == NULL)
		emit("WARNING", 2, "option", key); /* not a protocol option: set as string */
	switch (type) {
	case PURPLE_PREF_BOOLEAN:
		purple_account_set_bool(account, key,
			strcmp(value, "true") == 0 || strcmp(value, "1") == 0);
		break;
	case PURPLE_PREF_INT:
		purple_account_set_int(account, key, atoi(value));
		break;
	default:
		purple_account_set_string(account, key, value);
	}
}

static void
signed_on(PurpleConnection *gc)
{
	emit("SIGNED_ON", 1, purple_account_get_username(purple_connection_get_account(gc)));
}

static void
connection_error(PurpleConnection *gc, PurpleConnectionError err, const gchar *desc)
{
	emit("ERROR", 2, "connection", desc);
}

static void
cancel_sending(PurpleAccount *account, const char *receiver, char **message, gpointer data)
{
	if (cancel_prefix != NULL && message != NULL && *message != NULL &&
	    g_str_has_prefix(*message, cancel_prefix)) {
		g_free(*message);
		*message = NULL;
		emit("CANCELLED", 1, receiver);
	}
}

static void
sign_sending(PurpleAccount *account, const char *receiver, char **message, gpointer data)
{
	if (message != NULL && *message != NULL) {
		char *signed_message = g_strconcat(header ? header : "", *message,
		                                   signature ? signature : "", NULL);

		g_free(*message);
		*message = signed_message;
		emit("SIGNED", 1, receiver);
	}
}

static void
send_elsewhere_too(PurpleAccount *account, const char *receiver, char **message, gpointer data)
{
	PurpleConnection *gc = purple_account_get_connection(account);

	if (send_elsewhere != NULL && gc != NULL && message != NULL && *message != NULL) {
		serv_send_im(gc, send_elsewhere, "a side note", 0);
		emit("ELSEWHERE", 1, receiver);
	}
}

/* ------------------------------------------------------- stdin commands */

/* Run the escaped /command line `escaped` as typed in `conv`; prints CMD <conv> <status> <error>. */
static void
do_command(PurpleConversation *conv, const char *escaped)
{
	char *cmdline = unescape(escaped), *markup, *error = NULL, status[16];
	PurpleCmdStatus st;

	markup = g_markup_escape_text(cmdline, -1);
	key_press = TRUE;
	st = purple_cmd_do_command(conv, cmdline, markup, &error);
	key_press = FALSE;
	g_snprintf(status, sizeof(status), "%d", (int)st);
	emit("CMD", 3, purple_conversation_get_name(conv), status, error);
	g_free(error);
	g_free(markup);
	g_free(cmdline);
}

static void
run_command(char *line)
{
	char *verb = line, *arg1, *rest;

	arg1 = strchr(line, ' ');
	if (arg1)
		*arg1++ = '\0';
	rest = arg1 ? strchr(arg1, ' ') : NULL;
	if (rest)
		*rest++ = '\0';

	if (strcmp(verb, "quit") == 0) {
		g_main_loop_quit(main_loop);
	} else if (the_account == NULL && strcmp(verb, "answer") != 0 &&
	           strcmp(verb, "dismiss") != 0 && strcmp(verb, "echo") != 0) {
		emit("ERROR", 2, verb, "the account was deleted");
	} else if (strcmp(verb, "deleteaccount") == 0) {
		/* The user deletes the account (Accounts > Manage Accounts > Delete): libpurple
		 * disables it (the connection signs off), then destroys its windows and frees it.
		 * Nothing but quit works after it. */
		purple_accounts_delete(the_account);
		the_account = NULL;
		emit("ECHO", 1, verb);
	} else if (strcmp(verb, "pounce") == 0) {
		/* A buddy pounce's "send a message", as pidgin/gtkpounce.c and finch/gntpounce.c do
		 * it: the text written into the window as sent first, then serv_send_im with no
		 * flags. Prints ECHO pounce <rc>. */
		char *buddy, *markup, *rc_text;
		PurpleConversation *conv;
		int rc;

		if (!arg1 || !rest) {
			emit("ERROR", 2, verb, "usage: pounce <buddy> <markup>");
			return;
		}
		buddy = unescape(arg1);
		markup = unescape(rest);
		conv = open_im(buddy);
		purple_conversation_write(conv, NULL, markup, PURPLE_MESSAGE_SEND, time(NULL));
		rc = serv_send_im(purple_account_get_connection(the_account), buddy, markup, 0);
		rc_text = g_strdup_printf("%d", rc);
		emit("ECHO", 2, verb, rc_text);
		g_free(rc_text);
		g_free(markup);
		g_free(buddy);
	} else if (strcmp(verb, "imwrite") == 0) {
		/* A protocol plugin writing a message it received into the window itself, without
		 * serv_got_im (signald's copy from another device, VK's history, MRIM):
		 * purple_conv_im_write as from <buddy>, flagged RECV. Prints ECHO imwrite. */
		char *buddy, *markup;
		PurpleConversation *conv;

		if (!arg1 || !rest) {
			emit("ERROR", 2, verb, "usage: imwrite <buddy> <markup>");
			return;
		}
		buddy = unescape(arg1);
		markup = unescape(rest);
		conv = open_im(buddy);
		purple_conv_im_write(PURPLE_CONV_IM(conv), buddy, markup, PURPLE_MESSAGE_RECV, time(NULL));
		emit("ECHO", 1, verb);
		g_free(markup);
		g_free(buddy);
	} else if (strcmp(verb, "servsend") == 0 || strcmp(verb, "autoreply") == 0) {
		/* servsend: serv_send_im as libpurple's auto-reply calls it. autoreply: all that
		 * serv_got_im does for an auto-reply while away: that, then the window writes it as
		 * sent, whatever send_im returned (server.c). Both print ECHO <verb> <rc>. */
		char *buddy, *markup, *rc_text;
		int rc;

		if (!arg1 || !rest) {
			emit("ERROR", 2, verb, "usage: servsend|autoreply <buddy> <markup>");
			return;
		}
		buddy = unescape(arg1);
		markup = unescape(rest);
		rc = serv_send_im(purple_account_get_connection(the_account), buddy, markup,
		                  PURPLE_MESSAGE_AUTO_RESP);
		if (strcmp(verb, "autoreply") == 0) {
			PurpleConversation *conv = purple_find_conversation_with_account(
				PURPLE_CONV_TYPE_IM, buddy, the_account);

			if (conv == NULL)
				conv = purple_conversation_new(PURPLE_CONV_TYPE_IM, the_account, buddy);
			purple_conv_im_write(PURPLE_CONV_IM(conv), NULL, markup,
			                     PURPLE_MESSAGE_SEND | PURPLE_MESSAGE_AUTO_RESP, time(NULL));
		}
		rc_text = g_strdup_printf("%d", rc);
		emit("ECHO", 2, verb, rc_text);
		g_free(rc_text);
		g_free(markup);
		g_free(buddy);
	} else if (strcmp(verb, "sendxml") == 0) {
		/* A raw stanza on the wire (XMPP): what a hostile client or server can send. */
		PurpleConnection *gc = purple_account_get_connection(the_account);
		PurplePlugin *prpl = gc ? purple_connection_get_prpl(gc) : NULL;
		PurplePluginProtocolInfo *info = prpl ? PURPLE_PLUGIN_PROTOCOL_INFO(prpl) : NULL;
		char *xml, *rc_text;
		int rc;

		if (!arg1 || !info || !info->send_raw) {
			emit("ERROR", 2, verb, "usage: sendxml <escaped stanza> (a protocol with send_raw)");
			return;
		}
		xml = unescape(arg1);
		rc = info->send_raw(gc, xml, strlen(xml));
		rc_text = g_strdup_printf("%d", rc);
		emit("ECHO", 2, verb, rc_text);
		g_free(rc_text);
		g_free(xml);
	} else if (strcmp(verb, "close") == 0) {
		char *buddy;
		PurpleConversation *conv;

		if (!arg1) {
			emit("ERROR", 2, verb, "usage: close <buddy>");
			return;
		}
		buddy = unescape(arg1);
		conv = purple_find_conversation_with_account(PURPLE_CONV_TYPE_IM, buddy, the_account);
		if (conv != NULL)
			purple_conversation_destroy(conv);
		emit("ECHO", 1, verb);
		g_free(buddy);
	} else if (strcmp(verb, "windows") == 0) {
		/* How many IM windows named <buddy> are open, and whether libpurple's lookup by
		 * name finds one of them: "windows N 1". */
		char *buddy, *want, *out;
		PurpleConversation *found;
		GList *l;
		int n = 0;

		if (!arg1) {
			emit("ERROR", 2, verb, "usage: windows <buddy>");
			return;
		}
		buddy = unescape(arg1);
		want = g_strdup(purple_normalize(the_account, buddy));
		for (l = purple_get_ims(); l != NULL; l = l->next) {
			const char *name = purple_conversation_get_name(l->data);

			if (purple_conversation_get_account(l->data) == the_account &&
			    strcmp(purple_normalize(the_account, name), want) == 0)
				n++;
		}
		found = purple_find_conversation_with_account(PURPLE_CONV_TYPE_IM, buddy,
		                                              the_account);
		out = g_strdup_printf("%d %d", n, found != NULL);
		emit("ECHO", 2, verb, out);
		g_free(out);
		g_free(want);
		g_free(buddy);
	} else if (strcmp(verb, "setusername") == 0) {
		/* The user edits the account's username (Pidgin's Modify Account) while its
		 * windows are open and it is connected. */
		char *name;

		if (!arg1) {
			emit("ERROR", 2, verb, "usage: setusername <name>");
			return;
		}
		name = unescape(arg1);
		purple_account_set_username(the_account, name);
		emit("ECHO", 2, verb, purple_account_get_username(the_account));
		g_free(name);
	} else if (strcmp(verb, "offline") == 0) {
		/* The connection drops (the user's network, or Accounts > Disable). */
		purple_account_disconnect(the_account);
		emit("ECHO", 1, verb);
	} else if (strcmp(verb, "online") == 0) {
		/* The account signs on again after "offline" (the network is back): the same
		 * process, plugins and windows; SIGNED_ON is printed once it is connected. */
		purple_account_connect(the_account);
		emit("ECHO", 1, verb);
	} else if (strcmp(verb, "logging") == 0 || strcmp(verb, "loggingother") == 0) {
		/* What Pidgin does at a switch between conversations merged into one tab (the tab's
		 * Enable Logging checkbox), and Finch to every conversation with one contact;
		 * `loggingother`: in the window of that name a lookup by name does not find (one left
		 * over from a rename). */
		char *buddy, *now;
		PurpleConversation *conv;

		if (!arg1 || !rest) {
			emit("ERROR", 2, verb, "usage: logging <buddy> <0|1>");
			return;
		}
		buddy = unescape(arg1);
		conv = strcmp(verb, "loggingother") == 0 ? other_im_window(buddy) : im_window(buddy);
		g_free(buddy);
		if (conv == NULL) {
			emit("ERROR", 2, verb, "no such window");
			return;
		}
		purple_conversation_set_logging(conv, atoi(rest) != 0);
		now = g_strdup_printf("%d", purple_conversation_is_logging(conv));
		emit("ECHO", 2, verb, now);
		g_free(now);
	} else if (strcmp(verb, "wrapsend") == 0 || strcmp(verb, "wrapsend2") == 0) {
		wrap_send_im(verb, verb[8] == '2');
	} else if (strcmp(verb, "unwrapsend") == 0 || strcmp(verb, "unwrapsend2") == 0) {
		unwrap_send_im(verb, verb[10] == '2');
	} else if (strcmp(verb, "leavesend") == 0) {
		leave_send_im(verb);
	} else if (strcmp(verb, "pluginunload") == 0) {
		unrelated_plugin_unloads(verb);
	} else if (strcmp(verb, "wrapcalls") == 0) {
		report_wrapper_calls(verb);
	} else if (strcmp(verb, "unload") == 0) {
		if (the_plugin == NULL || !purple_plugin_unload(the_plugin))
			emit("ERROR", 2, verb, "cannot unload the plugin");
		else
			emit("PLUGIN_UNLOADED", 1, purple_plugin_get_id(the_plugin));
	} else if (strcmp(verb, "load") == 0) {
		if (the_plugin == NULL)
			emit("ERROR", 2, verb, "no plugin");
		else if (!purple_plugin_load(the_plugin))
			emit("PLUGIN_FAILED", 1, the_plugin->error ? the_plugin->error : "load failed");
		else
			emit("PLUGIN_LOADED", 1, purple_plugin_get_id(the_plugin));
	} else if (strcmp(verb, "loadcopy") == 0) {
		/* A second copy of a plugin, from another file (Sotto installed both in
		 * ~/.purple/plugins and in the system's plugin directory, both enabled in Tools >
		 * Plugins): probed and loaded as libpurple does. Prints COPY_LOADED <id> or
		 * COPY_FAILED <reason>. */
		char *path;
		PurplePlugin *copy;

		if (!arg1) {
			emit("ERROR", 2, verb, "usage: loadcopy <path>");
			return;
		}
		path = unescape(arg1);
		copy = purple_plugin_probe(path);
		g_free(path);
		if (copy == NULL)
			emit("COPY_FAILED", 1, "probe failed");
		else if (!purple_plugin_load(copy))
			emit("COPY_FAILED", 1, copy->error ? copy->error : "load failed");
		else
			emit("COPY_LOADED", 1, purple_plugin_get_id(copy));
	} else if (strcmp(verb, "as") == 0) {
		/* Load tests: one process signs on many accounts, as a user with many accounts in
		 * one Pidgin does. The username is matched exactly as given on the command line. */
		PurpleAccount *saved = the_account, *as = NULL;
		guint i;

		if (!arg1 || !rest) {
			emit("ERROR", 2, verb, "usage: as <username> <command>");
			return;
		}
		for (i = 0; i < accounts->len && as == NULL; i++)
			if (strcmp(purple_account_get_username(g_ptr_array_index(accounts, i)), arg1) == 0)
				as = g_ptr_array_index(accounts, i);
		if (as == NULL) {
			emit("ERROR", 2, verb, "no such account");
			return;
		}
		the_account = as;
		run_command(rest);
		the_account = saved;
	} else if (strcmp(verb, "away") == 0) {
		/* away <message>: the account's status becomes away with that message (IRC sends
		 * AWAY :message, and the server then answers each PRIVMSG to us with numeric 301);
		 * away alone: available again. Prints ECHO away. */
		if (arg1) {
			char *text = unescape(arg1);

			purple_account_set_status(the_account, "away", TRUE, "message", text, NULL);
			g_free(text);
		} else {
			purple_account_set_status(the_account, "available", TRUE, NULL);
		}
		emit("ECHO", 1, verb);
	} else if (strcmp(verb, "echo") == 0) {
		char *text = g_strjoin(" ", arg1 ? arg1 : "", rest, NULL);

		emit("ECHO", 1, g_strstrip(text));
		g_free(text);
	} else if (strcmp(verb, "send") == 0 || strcmp(verb, "sendraw") == 0 ||
	           strcmp(verb, "sendother") == 0) {
		char *buddy, *text, *markup;
		PurpleConversation *conv;

		if (!arg1 || !rest) {
			emit("ERROR", 2, verb, "usage: send <buddy> <text>");
			return;
		}
		buddy = unescape(arg1);
		conv = strcmp(verb, "sendother") == 0 ? other_im_window(buddy) : im_window(buddy);
		if (conv == NULL) {
			emit("ERROR", 2, verb, strcmp(verb, "sendother") == 0 ?
			     "no other window with that name" : "no account or window for that name");
			g_free(buddy);
			return;
		}
		text = unescape(rest);
		/* Pidgin's entry hands libpurple escaped markup, newline as <br>. */
		if (strcmp(verb, "sendraw") != 0) {
			gchar *escaped = g_markup_escape_text(text, -1);
			gchar **lines = g_strsplit(escaped, "\n", -1);

			markup = g_strjoinv("<br>", lines);
			g_strfreev(lines);
			g_free(escaped);
		} else {
			markup = g_strdup(text);
		}
		/* Typed there: the user switched to it (Finch's window sends to its active one). */
		window_set_active(conv);
		purple_conv_im_send(PURPLE_CONV_IM(conv), markup);
		g_free(markup);
		g_free(text);
		g_free(buddy);
	} else if (strcmp(verb, "cmd") == 0) {
		char *buddy;
		PurpleConversation *conv;

		if (!arg1 || !rest) {
			emit("ERROR", 2, verb, "usage: cmd <buddy> <command line>");
			return;
		}
		buddy = unescape(arg1);
		conv = im_window(buddy);
		/* Typed there: the user switched to it. */
		if (conv != NULL)
			window_set_active(conv);
		do_command(conv, rest);
		g_free(buddy);
	} else if (strcmp(verb, "join") == 0) {
		/* As Pidgin's "Join a Chat" dialog does for XMPP: room, server, handle. */
		char *room, *at, *nick;
		GHashTable *components;

		if (!arg1 || !rest || !(at = strchr(arg1, '@'))) {
			emit("ERROR", 2, verb, "usage: join <room@server> <nick>");
			return;
		}
		room = unescape(arg1);
		nick = unescape(rest);
		at = strchr(room, '@');
		*at = '\0';
		components = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
		g_hash_table_insert(components, g_strdup("room"), g_strdup(room));
		g_hash_table_insert(components, g_strdup("server"), g_strdup(at + 1));
		g_hash_table_insert(components, g_strdup("handle"), g_strdup(nick));
		serv_join_chat(purple_account_get_connection(the_account), components);
		g_hash_table_destroy(components);
		emit("ECHO", 1, verb);
		g_free(nick);
		g_free(room);
	} else if (strcmp(verb, "leave") == 0 || strcmp(verb, "chatcmd") == 0 ||
	           strcmp(verb, "chatsend") == 0) {
		char *room;
		PurpleConversation *conv;

		if (!arg1 || (strcmp(verb, "leave") != 0 && !rest)) {
			emit("ERROR", 2, verb,
			     "usage: leave <room> | chatcmd <room> <command line> | chatsend <room> <text>");
			return;
		}
		room = unescape(arg1);
		conv = purple_find_conversation_with_account(PURPLE_CONV_TYPE_CHAT, room, the_account);
		g_free(room);
		if (conv == NULL) {
			emit("ERROR", 2, verb, "no such group chat");
			return;
		}
		if (strcmp(verb, "leave") == 0) {
			purple_conversation_destroy(conv);
			emit("ECHO", 1, verb);
			return;
		}
		if (strcmp(verb, "chatsend") == 0) {
			/* Pidgin's entry: a line that is no command libpurple ran (an unknown /word on
			 * a protocol without slash commands of its own, a line with a blank first)
			 * goes to purple_conv_chat_send as escaped markup. */
			char *text = unescape(rest), *markup = g_markup_escape_text(text, -1);

			purple_conv_chat_send(PURPLE_CONV_CHAT(conv), markup);
			emit("ECHO", 1, verb);
			g_free(markup);
			g_free(text);
			return;
		}
		do_command(conv, rest);
	} else if (strcmp(verb, "write") == 0) {
		/* What another plugin or path writes into the IM window (a carbons plugin's copy of a
		 * message sent from another client, a protocol's echo): purple_conv_im_write, which
		 * emits writing-im-msg. Usage: write <buddy> <flags> <markup>. */
		char *buddy, *rest2, *text;
		PurpleConversation *conv;
		long flags;

		if (!arg1 || !rest || !(rest2 = strchr(rest, ' '))) {
			emit("ERROR", 2, verb, "usage: write <buddy> <flags> <markup>");
			return;
		}
		*rest2++ = '\0';
		flags = strtol(rest, NULL, 10);
		buddy = unescape(arg1);
		text = unescape(rest2);
		conv = im_window(buddy);
		purple_conv_im_write(PURPLE_CONV_IM(conv), buddy, text, (PurpleMessageFlags)flags, time(NULL));
		emit("ECHO", 1, verb);
		g_free(text);
		g_free(buddy);
	} else if (strcmp(verb, "alias") == 0 || strcmp(verb, "serveralias") == 0) {
		/* The buddy's local alias (what the user types in Pidgin's Alias dialog), or its
		 * server alias as libpurple sets it when the contact publishes a nickname (XMPP's
		 * usernick.c calls serv_got_alias): both end up in the window title. */
		char *buddy, *alias;
		PurpleBuddy *b;

		if (!arg1 || !rest) {
			emit("ERROR", 2, verb, "usage: alias <buddy> <alias>");
			return;
		}
		buddy = unescape(arg1);
		alias = unescape(rest);
		b = find_or_add_buddy(buddy);
		if (strcmp(verb, "alias") == 0)
			purple_blist_alias_buddy(b, alias);
		else
			serv_got_alias(purple_account_get_connection(the_account), buddy, alias);
		emit("ECHO", 1, verb);
		g_free(alias);
		g_free(buddy);
	} else if (strcmp(verb, "subscribe") == 0) {
		/* Ask to see the contact's presence (an XMPP roster add and subscription request;
		 * the contact's test client allows it, see request_authorize). Usage: subscribe
		 * <buddy>. */
		char *buddy;
		PurpleBuddy *b;

		if (!arg1) {
			emit("ERROR", 2, verb, "usage: subscribe <buddy>");
			return;
		}
		buddy = unescape(arg1);
		b = find_or_add_buddy(buddy);
		purple_account_add_buddy(the_account, b);
		emit("ECHO", 1, verb);
		g_free(buddy);
	} else if (strcmp(verb, "merge") == 0) {
		/* Pidgin's buddy list: a buddy dragged onto another joins its contact
		 * (purple_blist_merge_contact moves every buddy of the source contact). */
		char *name, *other;
		PurpleBuddy *b, *o;

		if (!arg1 || !rest) {
			emit("ERROR", 2, verb, "usage: merge <buddy> <other buddy>");
			return;
		}
		name = unescape(arg1);
		other = unescape(rest);
		b = find_or_add_buddy(name);
		o = find_or_add_buddy(other);
		purple_blist_merge_contact(purple_buddy_get_contact(o), (PurpleBlistNode *)b);
		if (purple_buddy_get_contact(o) != purple_buddy_get_contact(b))
			emit("ERROR", 2, verb, "the buddies are not in one contact");
		else
			emit("ECHO", 1, verb);
		g_free(other);
		g_free(name);
	} else if (strcmp(verb, "unbuddy") == 0) {
		char *buddy;
		GSList *found, *l;

		if (!arg1) {
			emit("ERROR", 2, verb, "usage: unbuddy <buddy>");
			return;
		}
		buddy = unescape(arg1);
		found = purple_find_buddies(the_account, buddy);
		for (l = found; l; l = l->next)
			purple_blist_remove_buddy((PurpleBuddy *)l->data);
		g_slist_free(found);
		emit("ECHO", 1, verb);
		g_free(buddy);
	} else if (strcmp(verb, "pref") == 0) {
		char *path, *value;

		if (!arg1 || !rest) {
			emit("ERROR", 2, verb, "usage: pref <path> <value>");
			return;
		}
		path = unescape(arg1);
		value = unescape(rest);
		set_pref(path, value);
		g_free(path);
		g_free(value);
	} else if (strcmp(verb, "menu") == 0 || strcmp(verb, "menuact") == 0) {
		char *buddy;
		PurpleConversation *conv;
		PurpleBuddy *b;
		GList *menus;

		if (!arg1) {
			emit("ERROR", 2, verb, "usage: menu <buddy> [label path]");
			return;
		}
		buddy = unescape(arg1);
		conv = im_window(buddy);
		/* The test client's own shortcut: the buddy is added to the list. */
		b = find_or_add_buddy(purple_conversation_get_name(conv));
		menus = more_and_options(conv, b);
		if (strcmp(verb, "menu") == 0) {
			print_menu(purple_conversation_get_name(conv), menus, NULL);
		} else {
			char *path = rest ? unescape(rest) : g_strdup("");

			run_menu_item(menus, path, conv, b, verb);
			g_free(path);
		}
		free_menus(menus);
		g_free(buddy);
	} else if (strcmp(verb, "menuopen") == 0) {
		char *buddy;
		PurpleConversation *conv;

		if (!arg1) {
			emit("ERROR", 2, verb, "usage: menuopen <buddy>");
			return;
		}
		buddy = unescape(arg1);
		conv = im_window(buddy);
		free_menus(open_menus);
		open_menus = pidgin_like_menus(conv);
		print_menu(purple_conversation_get_name(conv), open_menus, NULL);
		g_free(buddy);
	} else if (strcmp(verb, "finchmenuopen") == 0) {
		/* Finch's buddy list on the (collapsed) contact row of <buddy>: the
		 * extended menu is built at the contact, and its items are handed the
		 * contact's priority buddy (finch/gntblist.c draw_context_menu,
		 * context_menu_callback). Kept for menupick as More/... */
		char *buddy;
		PurpleBuddy *b;
		PurpleContact *contact;
		PurpleMenuAction *more;

		if (!arg1) {
			emit("ERROR", 2, verb, "usage: finchmenuopen <buddy>");
			return;
		}
		buddy = unescape(arg1);
		b = find_or_add_buddy(buddy);
		contact = purple_buddy_get_contact(b);
		free_menus(open_menus);
		open_menus_conv = NULL;
		open_menus_buddy = purple_contact_get_priority_buddy(contact);
		more = purple_menu_action_new("More", NULL, NULL,
			purple_blist_node_get_extended_menu((PurpleBlistNode *)contact));
		open_menus = g_list_append(NULL, more);
		print_menu(buddy, open_menus, NULL);
		g_free(buddy);
	} else if (strcmp(verb, "menupick") == 0) {
		/* The objects are the ones the menu was built for: maybe freed since,
		 * as in Pidgin (the plugin must not read them then). */
		char *full = arg1 ? unescape(arg1) : g_strdup("");

		run_menu_item(open_menus, full, open_menus_conv, open_menus_buddy, verb);
		emit("ECHO", 1, verb);
		g_free(full);
	} else if (strcmp(verb, "action") == 0) {
		/* Tools > <plugin> > <label>: run a loaded plugin's action, as Pidgin's
		 * Tools menu and Finch's "Plugin Actions" do. */
		char *label;
		GList *l;
		gboolean found = FALSE;

		if (!arg1) {
			emit("ERROR", 2, verb, "usage: action <label>");
			return;
		}
		label = unescape(arg1);
		for (l = purple_plugins_get_loaded(); l != NULL && !found; l = l->next) {
			PurplePlugin *plugin = l->data;
			GList *acts, *a;

			if (!PURPLE_PLUGIN_HAS_ACTIONS(plugin))
				continue;
			acts = PURPLE_PLUGIN_ACTIONS(plugin, NULL);
			for (a = acts; a != NULL; a = a->next) {
				PurplePluginAction *act = a->data;

				if (act == NULL)
					continue;
				if (!found && strcmp(act->label, label) == 0) {
					act->plugin = plugin;
					act->context = NULL;
					if (act->callback)
						act->callback(act);
					found = TRUE;
				}
				purple_plugin_action_free(act);
			}
			g_list_free(acts);
		}
		if (!found)
			emit("ERROR", 2, "action", "no such plugin action");
		g_free(label);
	} else if (strcmp(verb, "dismiss") == 0 && arg1) {
		dismiss_request(atoi(arg1));
	} else if (strcmp(verb, "answer") == 0 || strcmp(verb, "cancel") == 0) {
		char *value = rest ? unescape(rest) : g_strdup("");

		if (!arg1) {
			emit("ERROR", 2, verb, "usage: answer <n> <value>");
		} else {
			answer_request(atoi(arg1), value, strcmp(verb, "cancel") == 0);
		}
		g_free(value);
	} else if (*verb != '\0') {
		emit("ERROR", 2, "command", verb);
	}
}

static gboolean
stdin_ready(GIOChannel *channel, GIOCondition cond, gpointer data)
{
	gchar *line = NULL;
	gsize term = 0;
	GIOStatus status;

	while ((status = g_io_channel_read_line(channel, &line, NULL, &term, NULL))
	       == G_IO_STATUS_NORMAL) {
		line[term] = '\0';
		run_command(line);
		g_free(line);
		line = NULL;
	}
	if (status == G_IO_STATUS_EOF || status == G_IO_STATUS_ERROR) {
		g_main_loop_quit(main_loop);
		return FALSE;
	}
	return TRUE;
}

/* ------------------------------------------------------- main */

static void
usage(void)
{
	fprintf(stderr,
	        "usage: sotto-testclient USERDIR PROTOCOL USERNAME PASSWORD\n"
	        "       [--opt key=value]... [--pref /path=value]... [--plugin PATH] [--prpl PATH] [--also-plugin PATH]...\n"
	        "       [--also-account USERNAME]... [--debug]\n");
	exit(2);
}

static gboolean
on_sigterm(gpointer data)
{
	g_main_loop_quit(main_loop);
	return G_SOURCE_REMOVE;
}

int
main(int argc, char **argv)
{
	const char *userdir, *protocol, *username, *password, *plugin_path = NULL;
	const char *prpl_path = NULL;
	GPtrArray *also_plugins = g_ptr_array_new();
	GPtrArray *usernames = g_ptr_array_new();
	char *dir;
	GPtrArray *opts = g_ptr_array_new(), *prefs = g_ptr_array_new();
	gboolean debug = FALSE;
	GIOChannel *in;
	PurpleSavedStatus *status;
	guint i;
	int a;

	if (argc < 5)
		usage();
	userdir = argv[1];
	protocol = argv[2];
	username = argv[3];
	password = argv[4];
	g_ptr_array_add(usernames, (gpointer)username);
	accounts = g_ptr_array_new();
	for (a = 5; a < argc; a++) {
		if (strcmp(argv[a], "--opt") == 0 && a + 1 < argc)
			g_ptr_array_add(opts, argv[++a]);
		else if (strcmp(argv[a], "--pref") == 0 && a + 1 < argc)
			g_ptr_array_add(prefs, argv[++a]);
		else if (strcmp(argv[a], "--plugin") == 0 && a + 1 < argc)
			plugin_path = argv[++a];
		else if (strcmp(argv[a], "--prpl") == 0 && a + 1 < argc)
			prpl_path = argv[++a];
		else if (strcmp(argv[a], "--also-plugin") == 0 && a + 1 < argc)
			g_ptr_array_add(also_plugins, argv[++a]);
		else if (strcmp(argv[a], "--also-account") == 0 && a + 1 < argc)
			g_ptr_array_add(usernames, argv[++a]);
		else if (strcmp(argv[a], "--debug") == 0)
			debug = TRUE;
		else
			usage();
	}

	/* The user's locale, as Pidgin and Finch take it (setlocale(LC_ALL, "") in gtkmain.c and
	 * finch.c): libpurple lowercases names in it (an IRC nick, purple_normalize_nocase). */
	setlocale(LC_ALL, "");
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	g_log_set_default_handler(log_handler, NULL);
	g_set_print_handler(print_to_stderr);
	if (g_getenv("SOTTO_TESTCLIENT_FATAL"))
		g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL);
	main_loop = g_main_loop_new(NULL, FALSE);
	g_unix_signal_add(SIGTERM, on_sigterm, NULL);
	g_unix_signal_add(SIGINT, on_sigterm, NULL);
	requests = g_hash_table_new(g_direct_hash, g_direct_equal);

	purple_conversations_set_ui_ops(&conversation_ops);
	purple_request_set_ui_ops(&request_ops);
	purple_notify_set_ui_ops(&notify_ops);
	purple_accounts_set_ui_ops(&account_ops);
	finch_ui = g_strcmp0(g_getenv("SOTTO_TEST_UI"), "finch") == 0;
	dir = sotto_headless_init(finch_ui ? "gnt-purple" : UI_ID, userdir,
		debug || g_getenv("SOTTO_TESTCLIENT_DEBUG") != NULL);
	if (dir == NULL) {
		emit("ERROR", 2, "core", "purple_core_init failed");
		return 1;
	}
	g_free(dir);
	purple_blist_load();
	purple_prefs_load();

	purple_signal_connect(purple_connections_get_handle(), "signed-on", &the_account,
	                      PURPLE_CALLBACK(signed_on), NULL);
	purple_signal_connect(purple_connections_get_handle(), "connection-error", &the_account,
	                      PURPLE_CALLBACK(connection_error), NULL);
	purple_signal_connect(purple_conversations_get_handle(), "conversation-updated",
	                      &the_account, PURPLE_CALLBACK(conversation_updated), NULL);
	purple_signal_connect(purple_conversations_get_handle(), "chat-joined",
	                      &the_account, PURPLE_CALLBACK(chat_joined), NULL);

	for (i = 0; i < prefs->len; i++) {
		gchar **kv = g_strsplit(g_ptr_array_index(prefs, i), "=", 2);

		if (kv[0] && kv[1])
			set_pref(kv[0], kv[1]);
		else
			usage();
		g_strfreev(kv);
	}

	/* Protocols libpurple does not ship (the rig's transform test protocol, tests/prpl/) load
	 * before Sotto, as a system-wide protocol plugin does in Pidgin. */
	if (prpl_path != NULL) {
		/* A probed protocol plugin waits in libpurple's load queue until the next
		 * purple_plugins_probe(ext), which loads and lists the queued protocols after
		 * probing the search paths for files ending in ext; none ends in this one. */
		if (purple_plugin_probe(prpl_path) == NULL)
			emit("ERROR", 2, "prpl", "cannot probe the protocol plugin");
		purple_plugins_probe(".sotto-no-such-extension");
	}

	/* libpurple never seeds rand(), and SIMPLE draws its SIP Call-IDs, tags and branches from
	 * it: two clients would send identical ids, and a SIP server drops the second as a
	 * retransmission. Pidgin users run one client each; the rig runs several. */
	srand((unsigned)getpid() ^ (unsigned)time(NULL) ^ (unsigned)g_random_int());

	/* Other plugins a user runs beside Sotto (the carbons plugin), loaded first. */
	for (i = 0; i < also_plugins->len; i++) {
		PurplePlugin *other = purple_plugin_probe(g_ptr_array_index(also_plugins, i));

		if (other == NULL || !purple_plugin_load(other))
			emit("ERROR", 2, "also-plugin", "cannot load the plugin");
		else
			emit("ALSO_LOADED", 1, purple_plugin_get_id(other));
	}
	g_ptr_array_free(also_plugins, TRUE);

	if (plugin_path != NULL) {
		PurplePlugin *plugin = purple_plugin_probe(plugin_path);

		if (plugin == NULL)
			emit("PLUGIN_FAILED", 1, "probe failed (not a libpurple plugin, or dlopen error)");
		else if (!purple_plugin_load(plugin))
			emit("PLUGIN_FAILED", 1, plugin->error ? plugin->error : "load failed");
		else {
			the_plugin = plugin;
			emit("PLUGIN_LOADED", 1, purple_plugin_get_id(plugin));
		}
	}

	/* Another plugin's handler that runs after Sotto's: libpurple calls handlers of equal
	 * priority in the reverse order of connection (g_list_insert_sorted puts a new one before
	 * its equals), so one connected later needs a later priority to come after. */
	cancel_prefix = g_getenv("SOTTO_TESTCLIENT_CANCEL_PREFIX");
	if (cancel_prefix != NULL)
		purple_signal_connect_priority(purple_conversations_get_handle(), "sending-im-msg",
		                               &cancel_prefix, PURPLE_CALLBACK(cancel_sending), NULL,
		                               PURPLE_SIGNAL_PRIORITY_DEFAULT + 1);
	send_elsewhere = g_getenv("SOTTO_TESTCLIENT_SEND_ELSEWHERE");
	if (send_elsewhere != NULL)
		purple_signal_connect_priority(purple_conversations_get_handle(), "sending-im-msg",
		                               &send_elsewhere, PURPLE_CALLBACK(send_elsewhere_too),
		                               NULL, PURPLE_SIGNAL_PRIORITY_DEFAULT + 1);
	signature = g_getenv("SOTTO_TESTCLIENT_SIGNATURE");
	header = g_getenv("SOTTO_TESTCLIENT_HEADER");
	if (signature != NULL || header != NULL)
		purple_signal_connect_priority(purple_conversations_get_handle(), "sending-im-msg",
		                               &signature, PURPLE_CALLBACK(sign_sending), NULL,
		                               PURPLE_SIGNAL_PRIORITY_DEFAULT + 1);

	/* A restarted client finds its accounts in accounts.xml. Every account has the same
	 * password and options. */
	for (i = 0; i < usernames->len; i++) {
		const char *name = g_ptr_array_index(usernames, i);
		PurpleAccount *account = purple_accounts_find(name, protocol);
		guint o;

		if (account == NULL) {
			account = purple_account_new(name, protocol);
			purple_accounts_add(account);
		} else if (strcmp(purple_account_get_username(account), name) != 0) {
			/* The same account under another spelling: on XMPP, another resource (a
			 * client that comes back under a new one). */
			purple_account_set_username(account, name);
		}
		purple_account_set_password(account, password);
		purple_account_set_remember_password(account, TRUE);
		for (o = 0; o < opts->len; o++) {
			gchar **kv = g_strsplit(g_ptr_array_index(opts, o), "=", 2);

			if (kv[0] && kv[1])
				set_account_option(account, kv[0], kv[1]);
			else
				usage();
			g_strfreev(kv);
		}
		purple_account_set_enabled(account, purple_core_get_ui(), TRUE);
		g_ptr_array_add(accounts, account);
	}
	g_ptr_array_free(usernames, TRUE);
	the_account = g_ptr_array_index(accounts, 0);
	status = purple_savedstatus_new(NULL, PURPLE_STATUS_AVAILABLE);
	purple_savedstatus_activate(status);

	in = g_io_channel_unix_new(0);
	g_io_channel_set_flags(in, G_IO_FLAG_NONBLOCK, NULL);
	g_io_add_watch(in, G_IO_IN | G_IO_HUP | G_IO_ERR, stdin_ready, NULL);
	emit("READY", 0);

	g_main_loop_run(main_loop);

	purple_core_quit();
	emit("BYE", 0);
	return 0;
}
