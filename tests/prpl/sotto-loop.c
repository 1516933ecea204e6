/*
 * sotto-loop: the transform test protocol. A libpurple protocol plugin that talks to a loopback
 * relay (tests/support/relay.rs) and does to text what popular third-party protocol plugins do,
 * each behaviour switched on by an account option, so the end-to-end tests cover every one of
 * them with real libpurple and no real service:
 *
 *   markdown      purple-discord's markdown round trip: on send, a '_' at the start or end of
 *                 a word becomes "\_" and '*' becomes "\*"; on receive "__" toggles <u>, a '_'
 *                 whose word ends in '_' toggles <i>, "\_" stays "\_" unless the '_' would
 *                 matter ("**" <b>, "~~" <s>, '`' <code> too)
 *   own_echo      send_im returns 0 and the server's echo of what we sent is written into the
 *                 window with purple_conv_im_write(PURPLE_MESSAGE_SEND), as telegram-purple,
 *                 tdlib-purple and slack-libpurple do
 *   other_device  what our account sent from another client is written into the window as
 *                 outgoing (SEND | REMOTE_SEND | DELAYED), as purple-discord, skypeweb and
 *                 purple-facebook do
 *   other_device_got_im
 *                 the same lines handed to serv_got_im with those flags instead (libpurple
 *                 adds RECV and writes them as sent), as a plugin may that delivers
 *                 everything it hears one way
 *   split_at      outgoing text longer than this many characters goes out as several messages
 *                 of at most that many (an SMS modem's 160, telegram-purple's 4,096)
 *   refuse_over   send_im fails with -E2BIG over this many bytes (purple-discord's 2,000)
 *   refuse_errno  the error refuse_over returns instead of E2BIG (a connection that refuses
 *                 a long line for another reason)
 *   duplicate     every incoming message is delivered twice
 *   reorder       incoming messages are delivered in swapped pairs (a lone one after 400 ms)
 *   sync_local    libpurple's own nullprpl: a message to another account of this protocol
 *                 signed on in the same process is handed to it at once, by serv_got_im inside
 *                 send_im (a copy goes to the relay for "<who>.local", which nobody holds, so
 *                 the tap records what was sent)
 *
 * As prpl-slack it also registers slack-libpurple's commands that send text past send_im
 * (/me, /msg, /dm, /shrug, /remind, /edit, /thread, /th): each sends "/cmd args" to the
 * window's contact.
 *
 * The protocol id and the defaults of these options are chosen at build time (tests/rig.mk), so
 * the plugin can stand in for a given third-party plugin as far as Sotto can tell: it chooses
 * line sizes from the protocol id.
 *
 * The relay protocol, one line each way, text escaped (\\ \n \r):
 *   client → relay   LOGIN <name>         MSG <to> <text>
 *   relay → client   OK                   MSG <from> <text>
 *                    SENT <to> self <text>   (the echo of what this connection sent)
 *                    SENT <to> other <text>  (what another connection of our name sent)
 */

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include <purple.h>

#ifndef LOOP_ID
#define LOOP_ID "prpl-sotto-loop"
#endif
#ifndef LOOP_NAME
#define LOOP_NAME "Sotto loopback"
#endif
#ifndef LOOP_MARKDOWN
#define LOOP_MARKDOWN FALSE
#endif
#ifndef LOOP_OWN_ECHO
#define LOOP_OWN_ECHO FALSE
#endif
#ifndef LOOP_OTHER_DEVICE
#define LOOP_OTHER_DEVICE FALSE
#endif
#ifndef LOOP_SPLIT_AT
#define LOOP_SPLIT_AT 0
#endif
#ifndef LOOP_REFUSE_OVER
#define LOOP_REFUSE_OVER 0
#endif

typedef struct {
	char *from;
	char *html;
} Held;

typedef struct {
	PurpleConnection *gc;
	PurpleProxyConnectData *connecting;
	int fd;
	guint watch;
	GString *inbuf;
	Held *held;          /* reorder: the message waiting for the next one */
	guint held_timer;
} Loop;

static gboolean
opt_bool(PurpleAccount *account, const char *key, gboolean def)
{
	return purple_account_get_bool(account, key, def);
}

/* ------------------------------------------------------------------ escaping on the relay */

static char *
relay_escape(const char *s)
{
	GString *out = g_string_new(NULL);

	for (; *s; s++) {
		switch (*s) {
		case '\\': g_string_append(out, "\\\\"); break;
		case '\n': g_string_append(out, "\\n"); break;
		case '\r': g_string_append(out, "\\r"); break;
		default: g_string_append_c(out, *s);
		}
	}
	return g_string_free(out, FALSE);
}

static char *
relay_unescape(const char *s)
{
	GString *out = g_string_new(NULL);

	for (; *s; s++) {
		if (*s != '\\' || s[1] == '\0') {
			g_string_append_c(out, *s);
			continue;
		}
		s++;
		switch (*s) {
		case 'n': g_string_append_c(out, '\n'); break;
		case 'r': g_string_append_c(out, '\r'); break;
		default: g_string_append_c(out, *s);
		}
	}
	return g_string_free(out, FALSE);
}

/* ------------------------------------------------------------------ markdown, Discord's way */

/* Does the word starting at s (up to a space or the end) contain a '_' that ends the word? Only
 * the first '_' found counts. */
static gboolean
word_ends_in_underscore(const char *s)
{
	for (; *s && *s != ' '; s++)
		if (*s == '_')
			return s[1] == '\0' || s[1] == ' ';
	return FALSE;
}

/* Would the '_' at s toggle formatting? */
static gboolean
underscore_matters(const char *s, gboolean italics)
{
	return s[1] == '_' || italics || word_ends_in_underscore(s + 1);
}

/* Sending: escape what markdown would eat. Links and code spans are left alone. */
static char *
markdown_escape(const char *text)
{
	GString *out = g_string_new(NULL);
	gboolean code = FALSE, link = FALSE;
	size_t i, n = strlen(text);

	for (i = 0; i < n; i++) {
		char c = text[i];

		if (c == '`')
			code = !code;
		if (!code && !link && (g_str_has_prefix(text + i, "http://") ||
		                       g_str_has_prefix(text + i, "https://")))
			link = TRUE;
		if (link && c == ' ')
			link = FALSE;
		if (!code && !link) {
			gboolean edge = i == 0 || text[i - 1] == ' ' || text[i + 1] == '\0' ||
			                text[i + 1] == ' ';

			if ((c == '_' && edge) || c == '*' || (c == '~' && text[i + 1] == '~'))
				g_string_append_c(out, '\\');
		}
		g_string_append_c(out, c);
	}
	return g_string_free(out, FALSE);
}

static void
toggle(GString *out, gboolean *state, const char *open, const char *close)
{
	g_string_append(out, *state ? close : open);
	*state = !*state;
}

/* Receiving: markdown (already HTML-escaped) to markup. */
static char *
markdown_to_html(const char *md)
{
	GString *out = g_string_new(NULL);
	gboolean bold = FALSE, italics = FALSE, underline = FALSE, strike = FALSE, code = FALSE;
	size_t i, n = strlen(md);

	for (i = 0; i < n; i++) {
		char c = md[i];

		if (code && c != '`') {
			g_string_append_c(out, c);
		} else if (c == '\\' && i + 1 < n) {
			char next = md[++i];
			gboolean escapable = strchr("\\*~_`", next) != NULL;

			if (next == '_' && !underscore_matters(md + i, italics))
				escapable = FALSE;
			if (!escapable)
				g_string_append_c(out, '\\');
			g_string_append_c(out, next);
		} else if (c == '*' && md[i + 1] == '*') {
			toggle(out, &bold, "<b>", "</b>");
			i++;
		} else if (c == '*') {
			gboolean unspaced = italics ? (i > 0 && md[i - 1] != ' ') : md[i + 1] != ' ';
			gboolean balanced = italics;
			size_t j;

			for (j = i + 1; j < n && !balanced; j++)
				balanced = md[j] == '*' && md[j - 1] != ' ';
			if (unspaced && balanced)
				toggle(out, &italics, "<i>", "</i>");
			else
				g_string_append_c(out, c);
		} else if (c == '~' && md[i + 1] == '~') {
			toggle(out, &strike, "<s>", "</s>");
			i++;
		} else if (c == '_' && md[i + 1] == '_') {
			toggle(out, &underline, "<u>", "</u>");
			i++;
		} else if (c == '_') {
			if (italics || word_ends_in_underscore(md + i + 1))
				toggle(out, &italics, "<i>", "</i>");
			else
				g_string_append_c(out, c);
		} else if (c == '`') {
			toggle(out, &code, "<code>", "</code>");
		} else if (c == '\n') {
			g_string_append(out, "<br>");
		} else {
			g_string_append_c(out, c);
		}
	}
	return g_string_free(out, FALSE);
}

/* Text from the relay to the markup libpurple shows. */
static char *
incoming_html(PurpleAccount *account, const char *text)
{
	char *escaped = purple_markup_escape_text(text, -1);
	char *html;

	if (opt_bool(account, "markdown", LOOP_MARKDOWN)) {
		html = markdown_to_html(escaped);
	} else {
		gchar **lines = g_strsplit(escaped, "\n", -1);

		html = g_strjoinv("<br>", lines);
		g_strfreev(lines);
	}
	g_free(escaped);
	return html;
}

/* ------------------------------------------------------------------ the relay connection */

static gboolean
relay_send(Loop *loop, const char *line)
{
	size_t len = strlen(line), done = 0;

	while (done < len) {
		ssize_t w = write(loop->fd, line + done, len - done);

		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w <= 0)
			return FALSE;
		done += (size_t)w;
	}
	return write(loop->fd, "\n", 1) == 1;
}

static void
deliver(Loop *loop, const char *from, const char *html)
{
	PurpleAccount *account = purple_connection_get_account(loop->gc);
	/* Flags some protocols hand libpurple with the contact's text (purple-teams and skypeweb
	 * flag some message types PURPLE_MESSAGE_SYSTEM). */
	PurpleMessageFlags flags = purple_account_get_int(account, "incoming_flags", 0);

	serv_got_im(loop->gc, from, html, flags, time(NULL));
	if (opt_bool(account, "duplicate", FALSE))
		serv_got_im(loop->gc, from, html, flags, time(NULL));
}

static void
held_free(Held *h)
{
	g_free(h->from);
	g_free(h->html);
	g_free(h);
}

static gboolean
flush_held(gpointer data)
{
	Loop *loop = data;
	Held *h = loop->held;

	loop->held_timer = 0;
	loop->held = NULL;
	if (h != NULL) {
		deliver(loop, h->from, h->html);
		held_free(h);
	}
	return G_SOURCE_REMOVE;
}

static void
got_message(Loop *loop, const char *from, const char *text)
{
	PurpleAccount *account = purple_connection_get_account(loop->gc);
	char *html = incoming_html(account, text);

	if (!opt_bool(account, "reorder", FALSE)) {
		deliver(loop, from, html);
		g_free(html);
		return;
	}
	if (loop->held == NULL) {
		loop->held = g_new0(Held, 1);
		loop->held->from = g_strdup(from);
		loop->held->html = html;
		loop->held_timer = purple_timeout_add(400, flush_held, loop);
		return;
	}
	/* The second of a pair goes first. */
	deliver(loop, from, html);
	g_free(html);
	purple_timeout_remove(loop->held_timer);
	flush_held(loop);
}

/* The server tells us what our account sent, from this connection or another one. */
static void
got_sent(Loop *loop, const char *to, gboolean self, const char *text)
{
	PurpleAccount *account = purple_connection_get_account(loop->gc);
	PurpleConversation *conv;
	PurpleMessageFlags flags;
	char *html;

	if (self && !opt_bool(account, "own_echo", LOOP_OWN_ECHO))
		return;
	if (!self && !opt_bool(account, "other_device", LOOP_OTHER_DEVICE))
		return;
	flags = self ? PURPLE_MESSAGE_SEND
	             : PURPLE_MESSAGE_SEND | PURPLE_MESSAGE_REMOTE_SEND | PURPLE_MESSAGE_DELAYED;
	if (!self && opt_bool(account, "other_device_got_im", FALSE)) {
		html = incoming_html(account, text);
		serv_got_im(loop->gc, to, html, flags, time(NULL));
		g_free(html);
		return;
	}
	conv = purple_find_conversation_with_account(PURPLE_CONV_TYPE_IM, to, account);
	if (conv == NULL)
		conv = purple_conversation_new(PURPLE_CONV_TYPE_IM, account, to);
	html = incoming_html(account, text);
	purple_conv_im_write(PURPLE_CONV_IM(conv), purple_account_get_username(account), html,
	                     flags, time(NULL));
	g_free(html);
}

static void
relay_line(Loop *loop, char *line)
{
	char *verb = line, *a1, *a2 = NULL, *rest = NULL;

	if (strcmp(line, "OK") == 0) {
		purple_connection_set_state(loop->gc, PURPLE_CONNECTED);
		return;
	}
	a1 = strchr(verb, ' ');
	if (a1 != NULL) {
		*a1++ = '\0';
		a2 = strchr(a1, ' ');
		if (a2 != NULL)
			*a2++ = '\0';
	}
	if (strcmp(verb, "MSG") == 0 && a1 && a2) {
		char *text = relay_unescape(a2);

		got_message(loop, a1, text);
		g_free(text);
	} else if (strcmp(verb, "SENT") == 0 && a1 && a2 && (rest = strchr(a2, ' ')) != NULL) {
		char *text;

		*rest++ = '\0';
		text = relay_unescape(rest);
		got_sent(loop, a1, strcmp(a2, "self") == 0, text);
		g_free(text);
	} else {
		purple_debug_warning(LOOP_ID, "unknown relay line: %s\n", verb);
	}
}

static void
relay_readable(gpointer data, gint fd, PurpleInputCondition cond)
{
	Loop *loop = data;
	char buf[8192];
	ssize_t n = read(fd, buf, sizeof(buf));
	char *nl;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		purple_connection_error_reason(loop->gc, PURPLE_CONNECTION_ERROR_NETWORK_ERROR,
		                               "the relay closed the connection");
		return;
	}
	g_string_append_len(loop->inbuf, buf, n);
	while ((nl = memchr(loop->inbuf->str, '\n', loop->inbuf->len)) != NULL) {
		size_t len = (size_t)(nl - loop->inbuf->str);
		char *line = g_strndup(loop->inbuf->str, len);

		g_string_erase(loop->inbuf, 0, (gssize)len + 1);
		relay_line(loop, line);
		g_free(line);
		/* The connection may be gone (an error above): stop reading. */
		if (!PURPLE_CONNECTION_IS_VALID(loop->gc) || loop->fd < 0)
			return;
	}
}

static void
connected(gpointer data, gint fd, const gchar *error)
{
	Loop *loop = data;
	char *login;
	gboolean ok;

	loop->connecting = NULL;
	if (fd < 0) {
		purple_connection_error_reason(loop->gc, PURPLE_CONNECTION_ERROR_NETWORK_ERROR,
		                               error ? error : "cannot reach the relay");
		return;
	}
	loop->fd = fd;
	loop->watch = purple_input_add(fd, PURPLE_INPUT_READ, relay_readable, loop);
	login = g_strdup_printf("LOGIN %s",
		purple_account_get_username(purple_connection_get_account(loop->gc)));
	ok = relay_send(loop, login);
	g_free(login);
	if (!ok)
		purple_connection_error_reason(loop->gc, PURPLE_CONNECTION_ERROR_NETWORK_ERROR,
		                               "cannot write to the relay");
}

/* ------------------------------------------------------------------ protocol functions */

static const char *
loop_list_icon(PurpleAccount *account, PurpleBuddy *buddy)
{
	return "irc";
}

static GList *
loop_status_types(PurpleAccount *account)
{
	GList *types = NULL;

	types = g_list_append(types, purple_status_type_new(PURPLE_STATUS_AVAILABLE, NULL, NULL, TRUE));
	types = g_list_append(types, purple_status_type_new(PURPLE_STATUS_OFFLINE, NULL, NULL, TRUE));
	types = g_list_append(types, purple_status_type_new_with_attrs(PURPLE_STATUS_AWAY, "away",
		NULL, TRUE, TRUE, FALSE, "message", "Message", purple_value_new(PURPLE_TYPE_STRING),
		NULL));
	return types;
}

static void
loop_login(PurpleAccount *account)
{
	PurpleConnection *gc = purple_account_get_connection(account);
	Loop *loop = g_new0(Loop, 1);

	loop->gc = gc;
	loop->fd = -1;
	/* As nullprpl and the protocols whose servers do not answer for an away user (AIM, ICQ):
	 * libpurple sends the away message itself, from serv_got_im. */
	if (opt_bool(account, "sync_local", FALSE))
		gc->flags |= PURPLE_CONNECTION_AUTO_RESP;
	loop->inbuf = g_string_new(NULL);
	purple_connection_set_protocol_data(gc, loop);
	purple_connection_update_progress(gc, "Connecting", 0, 2);
	loop->connecting = purple_proxy_connect(gc, account,
		purple_account_get_string(account, "host", "127.0.0.1"),
		purple_account_get_int(account, "port", 0), connected, loop);
	if (loop->connecting == NULL)
		purple_connection_error_reason(gc, PURPLE_CONNECTION_ERROR_NETWORK_ERROR,
		                               "cannot connect to the relay");
}

static void
loop_close(PurpleConnection *gc)
{
	Loop *loop = purple_connection_get_protocol_data(gc);

	if (loop == NULL)
		return;
	if (loop->connecting != NULL)
		purple_proxy_connect_cancel(loop->connecting);
	if (loop->watch)
		purple_input_remove(loop->watch);
	if (loop->held_timer)
		purple_timeout_remove(loop->held_timer);
	if (loop->held != NULL)
		held_free(loop->held);
	if (loop->fd >= 0)
		close(loop->fd);
	g_string_free(loop->inbuf, TRUE);
	g_free(loop);
	purple_connection_set_protocol_data(gc, NULL);
}

static gboolean
send_piece(Loop *loop, const char *who, const char *piece)
{
	char *escaped = relay_escape(piece);
	char *line = g_strdup_printf("MSG %s %s", who, escaped);
	gboolean ok = relay_send(loop, line);

	g_free(line);
	g_free(escaped);
	return ok;
}

/* sync_local: another account of this protocol, signed on in this process, named `who`. */
static PurpleConnection *
local_peer(PurpleAccount *from, const char *who)
{
	PurpleAccount *to = purple_accounts_find(who, LOOP_ID);

	if (to == NULL || to == from || !purple_account_is_connected(to))
		return NULL;
	return purple_account_get_connection(to);
}

static int
loop_send_im(PurpleConnection *gc, const char *who, const char *message,
             PurpleMessageFlags flags)
{
	Loop *loop = purple_connection_get_protocol_data(gc);
	PurpleAccount *account = purple_connection_get_account(gc);
	int split_at = purple_account_get_int(account, "split_at", LOOP_SPLIT_AT);
	int refuse_over = purple_account_get_int(account, "refuse_over", LOOP_REFUSE_OVER);
	char *text;
	gboolean ok = TRUE;

	if (loop == NULL || loop->fd < 0)
		return -ENOTCONN;
	if (opt_bool(account, "markdown", LOOP_MARKDOWN)) {
		char *md = markdown_escape(message);

		text = purple_markup_strip_html(md);
		g_free(md);
	} else {
		text = purple_markup_strip_html(message);
	}
	if (refuse_over > 0 && strlen(text) > (size_t)refuse_over) {
		int refuse_errno = purple_account_get_int(account, "refuse_errno", 0);

		g_free(text);
		return -(refuse_errno > 0 ? refuse_errno : E2BIG);
	}
	if (opt_bool(account, "sync_local", FALSE) && local_peer(account, who) != NULL) {
		char *copy_to = g_strdup_printf("%s.local", who);
		char *html = g_markup_escape_text(text, -1);

		ok = send_piece(loop, copy_to, text);
		serv_got_im(local_peer(account, who), purple_account_get_username(account), html, 0,
		            time(NULL));
		g_free(html);
		g_free(copy_to);
		g_free(text);
		return ok ? 1 : -EIO;
	}
	if (split_at > 0 && g_utf8_strlen(text, -1) > split_at) {
		glong len = g_utf8_strlen(text, -1), start;

		for (start = 0; start < len && ok; start += split_at) {
			char *piece = g_utf8_substring(text, start, MIN(len, start + split_at));

			ok = send_piece(loop, who, piece);
			g_free(piece);
		}
	} else {
		ok = send_piece(loop, who, text);
	}
	g_free(text);
	if (!ok)
		return -EIO;
	return opt_bool(account, "own_echo", LOOP_OWN_ECHO) ? 0 : 1;
}

/*
 * Standing in for slack-libpurple (prpl-slack), the commands it registers that put text on the
 * wire past send_im (it hands them to Slack's chat.command, chat.update or posts them itself),
 * registered the way it registers them (priority PURPLE_CMD_P_PRPL, one argument, any
 * arguments allowed). Here the text goes straight to the window's contact as "/cmd args", so a
 * test sees on the wire whatever such a command lets out.
 */
static GSList *slack_cmds;

static PurpleCmdRet
slack_cmd(PurpleConversation *conv, const gchar *cmd, gchar **args, gchar **error, void *data)
{
	PurpleConnection *gc = purple_conversation_get_gc(conv);
	Loop *loop = gc != NULL ? purple_connection_get_protocol_data(gc) : NULL;
	char *text;
	gboolean ok;

	if (loop == NULL || loop->fd < 0)
		return PURPLE_CMD_RET_FAILED;
	text = g_strdup_printf("/%s %s", cmd, args != NULL && args[0] != NULL ? args[0] : "");
	ok = send_piece(loop, purple_conversation_get_name(conv), text);
	g_free(text);
	return ok ? PURPLE_CMD_RET_OK : PURPLE_CMD_RET_FAILED;
}

static gboolean
loop_load(PurplePlugin *plugin)
{
	static const char *names[] = {
		"me", "msg", "dm", "shrug", "remind", "edit", "thread", "th", NULL
	};
	const char **n;

	if (strcmp(LOOP_ID, "prpl-slack") != 0)
		return TRUE;
	for (n = names; *n != NULL; n++) {
		PurpleCmdId id = purple_cmd_register(*n, "s", PURPLE_CMD_P_PRPL,
			PURPLE_CMD_FLAG_IM | PURPLE_CMD_FLAG_CHAT | PURPLE_CMD_FLAG_PRPL_ONLY |
			PURPLE_CMD_FLAG_ALLOW_WRONG_ARGS, LOOP_ID, slack_cmd, "slack-libpurple's", NULL);

		slack_cmds = g_slist_prepend(slack_cmds, GUINT_TO_POINTER(id));
	}
	return TRUE;
}

static gboolean
loop_unload(PurplePlugin *plugin)
{
	while (slack_cmds != NULL) {
		purple_cmd_unregister(GPOINTER_TO_UINT(slack_cmds->data));
		slack_cmds = g_slist_delete_link(slack_cmds, slack_cmds);
	}
	return TRUE;
}

static PurplePluginProtocolInfo prpl_info = {
	.options = OPT_PROTO_NO_PASSWORD,
	.list_icon = loop_list_icon,
	.status_types = loop_status_types,
	.login = loop_login,
	.close = loop_close,
	.send_im = loop_send_im,
	.struct_size = sizeof(PurplePluginProtocolInfo),
};

static PurplePluginInfo info = {
	.magic = PURPLE_PLUGIN_MAGIC,
	.major_version = PURPLE_MAJOR_VERSION,
	.minor_version = PURPLE_MINOR_VERSION,
	.type = PURPLE_PLUGIN_PROTOCOL,
	.priority = PURPLE_PRIORITY_DEFAULT,
	.id = LOOP_ID,
	.name = LOOP_NAME,
	.version = "1",
	.summary = "Sotto's transform test protocol",
	.description = "A loopback protocol whose account options do to text what third-party "
	               "protocol plugins do (tests only)",
	.load = loop_load,
	.unload = loop_unload,
	.extra_info = &prpl_info,
};

static void
add_bool(const char *label, const char *key, gboolean def)
{
	prpl_info.protocol_options = g_list_append(prpl_info.protocol_options,
		purple_account_option_bool_new(label, key, def));
}

static void
add_int(const char *label, const char *key, int def)
{
	prpl_info.protocol_options = g_list_append(prpl_info.protocol_options,
		purple_account_option_int_new(label, key, def));
}

static void
init_plugin(PurplePlugin *plugin)
{
	prpl_info.protocol_options = g_list_append(prpl_info.protocol_options,
		purple_account_option_string_new("Relay host", "host", "127.0.0.1"));
	add_int("Relay port", "port", 0);
	add_bool("Markdown round trip (purple-discord)", "markdown", LOOP_MARKDOWN);
	add_bool("send_im returns 0, the server echoes (telegram-purple)", "own_echo", LOOP_OWN_ECHO);
	add_bool("Messages from other devices shown as sent", "other_device", LOOP_OTHER_DEVICE);
	add_bool("... handed to serv_got_im flagged as sent", "other_device_got_im", FALSE);
	add_int("Split outgoing text at (characters, 0: never)", "split_at", LOOP_SPLIT_AT);
	add_int("Refuse outgoing text over (bytes, 0: never)", "refuse_over", LOOP_REFUSE_OVER);
	add_int("... with this error instead of E2BIG (errno, 0: E2BIG)", "refuse_errno", 0);
	add_bool("Deliver every message twice", "duplicate", FALSE);
	add_bool("Deliver messages in swapped pairs", "reorder", FALSE);
	add_bool("Hand messages to accounts in this process at once (nullprpl)", "sync_local", FALSE);
	add_int("Flags of every message delivered (PurpleMessageFlags)", "incoming_flags", 0);
}

PURPLE_INIT_PLUGIN(sotto_loop, init_plugin, info)
