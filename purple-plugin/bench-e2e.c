/*
 * bench-e2e: what Sotto adds to each message on libpurple's main loop, measured through real
 * libpurple 2.x (issue 13; docs/PERFORMANCE.md "End to end through libpurple"). A measuring
 * tool: it prints figures and asserts nothing.
 *
 *   build/sotto-bench-e2e [PLUGIN.so [MESSAGE_BYTES [USER_DIR [quick]]]]     (make bench-e2e)
 *
 * One process, headless libpurple on USER_DIR (default: a new temporary directory, left
 * behind; the store, and so the durable saves, live there: put it on the disk you care about),
 * two accounts, alice and bob, on a loopback protocol compiled in here ("prpl-bench":
 * send_im queues the line for the other account, nothing else; no network, so what is timed is
 * libpurple and the plugin, not a server). Two phases, each with bursts of 1 message (repeated
 * 200 times), 100 messages (repeated 5 times) and 10,000 messages:
 *
 *   baseline   without the plugin: the same calls, plaintext;
 *   sotto      PLUGIN.so probed and loaded, policy "always" on both sides, one warm-up message
 *              so the session is up (handshake and first save done) before timing.
 *
 * Timed per message, in microseconds, with CLOCK_MONOTONIC:
 *   send     purple_conv_im_send(alice's window, text) until the protocol's send_im is handed
 *            the line: "sending-im-msg" (Sotto encrypts and saves: synced when the send sets
 *            the next 32 message keys aside, one send in 33, else committed without the
 *            fsync) and serv_send_im.
 *   receive  serv_got_im(bob, "alice", line) until the conversation UI's write_conv is called
 *            with the message for bob's window: "receiving-im-msg" (Sotto decrypts and commits
 *            the save; the fsync of a message that was only read is asked for at the end of the
 *            main-loop turn and runs on the store's worker thread), then libpurple's own writing.
 *   loop     per burst received: from the first line's delivery until the main loop has run
 *            everything pending after the last (Sotto's one request for the burst's fsync
 *            included; the fsync itself runs on a worker thread), divided by the messages shown.
 * A burst sends all its messages first (the lines queue up; between two sends the GLib main
 * context runs whatever is pending, untimed, as a main loop would), then delivers them all in
 * one main-loop turn, the way a backlog read from the network arrives. The tables give, per
 * burst size, the median and 90th percentile of each and the median Sotto adds (sotto -
 * baseline).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <glib.h>

#include <purple.h>

#include "headless.h"

#define UI_ID "sotto-bench-e2e"
#define PRPL_ID "prpl-bench"

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void
die(const char *what)
{
	fprintf(stderr, "bench-e2e: %s\n", what);
	exit(1);
}

/* ------------------------------------------------------- the loopback protocol */

static PurpleAccount *alice, *bob;

typedef struct {
	PurpleAccount *to;
	char *from;
	char *text;
} Line;

static GQueue wire = G_QUEUE_INIT; /* lines in flight */
static double handed_at;           /* when send_im was last called */
static unsigned long handed_count;

static const char *
bench_list_icon(PurpleAccount *account, PurpleBuddy *buddy)
{
	return "bench";
}

/* libpurple gives an account a presence only when its protocol has status types. */
static GList *
bench_status_types(PurpleAccount *account)
{
	GList *types = NULL;

	types = g_list_append(types,
	                      purple_status_type_new(PURPLE_STATUS_AVAILABLE, NULL, NULL, TRUE));
	types = g_list_append(types, purple_status_type_new(PURPLE_STATUS_OFFLINE, NULL, NULL, TRUE));
	return types;
}

static void
bench_login(PurpleAccount *account)
{
	purple_connection_set_state(purple_account_get_connection(account), PURPLE_CONNECTED);
}

static void
bench_close(PurpleConnection *gc)
{
}

static int
bench_send_im(PurpleConnection *gc, const char *who, const char *message,
              PurpleMessageFlags flags)
{
	PurpleAccount *from = purple_connection_get_account(gc);
	Line *l = g_new0(Line, 1);

	handed_at = now_us();
	handed_count++;
	l->to = from == alice ? bob : alice;
	l->from = g_strdup(purple_account_get_username(from));
	l->text = g_strdup(message);
	g_queue_push_tail(&wire, l);
	return 1;
}

static PurplePluginProtocolInfo prpl_info = {
	.options = OPT_PROTO_NO_PASSWORD,
	.list_icon = bench_list_icon,
	.status_types = bench_status_types,
	.login = bench_login,
	.close = bench_close,
	.send_im = bench_send_im,
	.struct_size = sizeof(PurplePluginProtocolInfo),
};

static PurplePluginInfo prpl_plugin_info = {
	.magic = PURPLE_PLUGIN_MAGIC,
	.major_version = PURPLE_MAJOR_VERSION,
	.minor_version = PURPLE_MINOR_VERSION,
	.type = PURPLE_PLUGIN_PROTOCOL,
	.priority = PURPLE_PRIORITY_DEFAULT,
	.id = PRPL_ID,
	.name = "Sotto bench loopback",
	.version = "1",
	.summary = "Loopback protocol for bench-e2e",
	.description = "send_im hands the line to the other local account",
	.extra_info = &prpl_info,
};

/* ------------------------------------------------------- conversation UI: the window */

static double written_at;
static unsigned long written_count;

static void
write_conv(PurpleConversation *conv, const char *who, const char *alias, const char *message,
           PurpleMessageFlags flags, time_t mtime)
{
	if ((flags & PURPLE_MESSAGE_RECV) && purple_conversation_get_account(conv) == bob) {
		written_at = now_us();
		written_count++;
	}
}

static PurpleConversationUiOps conversation_ops = {
	.write_conv = write_conv,
};

/* ------------------------------------------------------- driving */

static void
pump(void)
{
	while (g_main_context_iteration(NULL, FALSE))
		;
}

/* Delivers one line; returns the time from serv_got_im to the window, or -1 when the line
 * wrote nothing to bob's window (protocol traffic, a fragment). */
static double
deliver_one(void)
{
	Line *l = g_queue_pop_head(&wire);
	unsigned long before = written_count;
	double t0, t;

	if (!l)
		return -1;
	t0 = now_us();
	serv_got_im(purple_account_get_connection(l->to), l->from, l->text, 0, time(NULL));
	t = written_count != before ? written_at - t0 : -1;
	g_free(l->from);
	g_free(l->text);
	g_free(l);
	return t;
}

/* Delivers everything in flight, replies included, until the wire is quiet. */
static void
deliver_all(void)
{
	for (int quiet = 0; quiet < 3;) {
		pump();
		if (g_queue_is_empty(&wire)) {
			quiet++;
			g_usleep(2000);
		} else {
			quiet = 0;
			deliver_one();
		}
	}
}

static PurpleConversation *
window_for(PurpleAccount *account, const char *peer)
{
	PurpleConversation *conv =
	    purple_find_conversation_with_account(PURPLE_CONV_TYPE_IM, peer, account);

	return conv ? conv : purple_conversation_new(PURPLE_CONV_TYPE_IM, account, peer);
}

typedef struct {
	GArray *send, *recv; /* doubles, microseconds */
	GArray *loop;        /* per burst: the main loop's whole time on its delivery / messages */
} Samples;

static void
samples_init(Samples *s)
{
	s->send = g_array_new(FALSE, FALSE, sizeof(double));
	s->recv = g_array_new(FALSE, FALSE, sizeof(double));
	s->loop = g_array_new(FALSE, FALSE, sizeof(double));
}

/* One burst of n messages from alice to bob: all sent, then all delivered. */
static void
burst(PurpleConversation *conv, int n, const char *text, Samples *s)
{
	for (int i = 0; i < n; i++) {
		unsigned long before = handed_count;
		double t0 = now_us(), t;

		purple_conv_im_send(PURPLE_CONV_IM(conv), text);
		if (handed_count == before)
			die("a message was not handed to the protocol (held? refused?)");
		t = handed_at - t0;
		g_array_append_val(s->send, t);
		pump();
	}
	/* Delivered as a backlog read from the network is: every line in one main-loop turn,
	 * then whatever the main loop runs after them (Sotto's one fsync for the lot), timed. */
	{
		double r0 = now_us(), total;
		unsigned got = 0;

		while (!g_queue_is_empty(&wire)) {
			double t = deliver_one();

			if (t >= 0) {
				g_array_append_val(s->recv, t);
				got++;
			}
		}
		pump();
		total = now_us() - r0;
		if (got) {
			total /= got;
			g_array_append_val(s->loop, total);
		}
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
percentile(GArray *a, double p)
{
	if (a->len == 0)
		return -1;
	qsort(a->data, a->len, sizeof(double), cmp_double);
	return g_array_index(a, double, (guint)((a->len - 1) * p + 0.5));
}

static double
mean(GArray *a)
{
	double sum = 0;

	for (guint i = 0; i < a->len; i++)
		sum += g_array_index(a, double, i);
	return a->len ? sum / a->len : -1;
}

static int BURSTS[] = { 1, 100, 10000 };
static int REPEATS[] = { 200, 5, 1 };
#define NBURSTS 3

static void
run_phase(PurpleConversation *conv, const char *text, Samples out[NBURSTS])
{
	for (int b = 0; b < NBURSTS; b++) {
		samples_init(&out[b]);
		for (int r = 0; r < REPEATS[b]; r++) {
			burst(conv, BURSTS[b], text, &out[b]);
			/* A pause between bursts, as between a user's messages. */
			if (BURSTS[b] == 1)
				g_usleep(1000);
		}
		deliver_all();
	}
}

int
main(int argc, char **argv)
{
	const char *plugin_path = argc > 1 ? argv[1] : "build/sotto.so";
	int bytes = argc > 2 ? atoi(argv[2]) : 64;
	const char *user_dir = argc > 3 && argv[3][0] ? argv[3] : NULL;

	/* "quick": 10x fewer messages, for profiling under valgrind. */
	if (argc > 4 && strcmp(argv[4], "quick") == 0) {
		BURSTS[2] = 1000;
		REPEATS[0] = 20;
		REPEATS[1] = 1;
	}
	Samples base[NBURSTS], with[NBURSTS];
	PurplePlugin *prpl, *sotto;
	PurpleConversation *conv;
	char *dir, *text;
	unsigned long got;

	if (bytes < 1 || bytes > 4096)
		die("MESSAGE_BYTES: 1 to 4096");
	text = g_malloc(bytes + 1);
	for (int i = 0; i < bytes; i++)
		text[i] = "abcdefghijklmnopqrstuvwxyz "[i % 27];
	text[bytes] = '\0';

	purple_conversations_set_ui_ops(&conversation_ops);
	dir = sotto_headless_init(UI_ID, user_dir, FALSE);
	if (!dir)
		die("libpurple did not start");

	prpl = purple_plugin_new(TRUE, NULL);
	prpl->info = &prpl_plugin_info;
	if (!purple_plugin_load(prpl) || !purple_plugin_register(prpl))
		die("the loopback protocol did not register");
	/* libpurple lists registered protocol plugins at the end of a probe; this probes no file
	 * (no file has that extension), only that. */
	purple_plugins_probe("sotto-bench-no-such-extension");

	if (!purple_find_prpl(PRPL_ID))
		die("the loopback protocol is not found by id");
	alice = purple_account_new("alice", PRPL_ID);
	bob = purple_account_new("bob", PRPL_ID);
	purple_accounts_add(alice);
	purple_accounts_add(bob);
	purple_account_set_enabled(alice, UI_ID, TRUE);
	purple_account_set_enabled(bob, UI_ID, TRUE);
	purple_account_connect(alice);
	purple_account_connect(bob);
	pump();
	if (!purple_account_is_connected(alice) || !purple_account_is_connected(bob))
		die("the loopback accounts did not connect");
	conv = window_for(alice, "bob");

	printf("bench-e2e: libpurple %d.%d.%d, user dir %s, %d-byte messages\n",
	       purple_major_version, purple_minor_version, purple_micro_version, dir, bytes);

	/* Baseline: no plugin. */
	run_phase(conv, text, base);

	/* Sotto: loaded (it wraps every protocol's send_im, ours included), policy "always", one
	 * warm-up message so the handshake and the first saves are done before timing. */
	sotto = purple_plugin_probe(plugin_path);
	if (!sotto || !purple_plugin_load(sotto))
		die("the plugin did not load");
	purple_prefs_set_string("/plugins/core/sotto/policy", "always");
	got = written_count;
	purple_conv_im_send(PURPLE_CONV_IM(conv), "warm-up");
	deliver_all();
	if (written_count == got)
		die("the warm-up message never reached bob's window (no session?)");
	{
		/* The next line must be encrypted: look at what goes on the wire. */
		unsigned long before = handed_count;
		Line *l;

		purple_conv_im_send(PURPLE_CONV_IM(conv), "probe");
		l = handed_count != before ? g_queue_peek_tail(&wire) : NULL;
		if (!l || strncmp(l->text, "?S1", 3) != 0)
			die("the plugin is loaded but the line is not a Sotto line");
		deliver_all();
	}
	run_phase(conv, text, with);

	printf("\nmicroseconds per message (median / p90); added = sotto median - baseline median\n");
	printf("| burst | messages timed | send baseline | send sotto | send added | receive baseline "
	       "| receive sotto | receive added | added per message (send + receive) |\n");
	printf("|---|---|---|---|---|---|---|---|---|\n");
	for (int b = 0; b < NBURSTS; b++) {
		double sb = percentile(base[b].send, 0.5), sb9 = percentile(base[b].send, 0.9);
		double ss = percentile(with[b].send, 0.5), ss9 = percentile(with[b].send, 0.9);
		double rb = percentile(base[b].recv, 0.5), rb9 = percentile(base[b].recv, 0.9);
		double rs = percentile(with[b].recv, 0.5), rs9 = percentile(with[b].recv, 0.9);

		printf("| %d | %u | %.1f / %.1f | %.1f / %.1f | %.1f | %.1f / %.1f | %.1f / %.1f | %.1f "
		       "| %.1f |\n",
		       BURSTS[b], with[b].send->len, sb, sb9, ss, ss9, ss - sb, rb, rb9, rs, rs9,
		       rs - rb, (ss - sb) + (rs - rb));
	}
	printf("\nreceive, the main loop's whole time per message: a burst's lines delivered in one "
	       "turn and everything the loop ran after them (Sotto's fsync request included) / "
	       "messages; median over the bursts (200 / 5 / 1 of them)\n");
	printf("| burst | baseline | sotto | added |\n|---|---|---|---|\n");
	for (int b = 0; b < NBURSTS; b++) {
		double lb = percentile(base[b].loop, 0.5), ls = percentile(with[b].loop, 0.5);

		printf("| %d | %.1f | %.1f | %.1f |\n", BURSTS[b], lb, ls, ls - lb);
	}
	printf("\nmeans, microseconds per message (the synced saves a median can hide: one send in "
	       "33 waits for the disk)\n");
	printf("| burst | send added | receive added | receive main loop added |\n|---|---|---|---|\n");
	for (int b = 0; b < NBURSTS; b++)
		printf("| %d | %.1f | %.1f | %.1f |\n", BURSTS[b],
		       mean(with[b].send) - mean(base[b].send), mean(with[b].recv) - mean(base[b].recv),
		       mean(with[b].loop) - mean(base[b].loop));
	purple_plugin_unload(sotto);
	purple_core_quit();
	g_free(dir);
	g_free(text);
	return 0;
}
