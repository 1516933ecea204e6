/* Anchor for docs/PERFORMANCE.md: libotr (Debian's libotr5, OTRv3) measured on this machine.
 *
 * Two userstates in one process talk through an in-memory queue (inject_message appends,
 * the pump delivers to the other side). Measured, each as CPU time of both sides together
 * (CLOCK_PROCESS_CPUTIME_ID) and wall time:
 *   - the AKE: Alice's query, then DH-commit, DH-key, Reveal-sig, Sig, until both sides are
 *     ENCRYPTED (contexts forgotten between rounds, so each round is a full AKE);
 *   - a one-direction burst of 256-byte messages (encrypt + decrypt per message);
 *   - alternating 256-byte messages (each reply makes OTR's next DH key current);
 *   - characters on the wire of each AKE message and of "hi".
 * DSA keys and instance tags are made once, before any timing, into a temporary directory.
 * This is a measuring tool, not product code: it aborts on any error.
 *
 *   otr_bench [ROUNDS [MESSAGES]]        the report above (256-byte messages)
 *   otr_bench burst SIZE MESSAGES         one line for benches/burst.rs: a burst of SIZE-byte
 *                                         messages after one AKE and 100 warm-up messages:
 *                                         "burst SIZE <wall us/msg> <cpu us/msg>", medians of 21 batches */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <gcrypt.h>
#include <libotr/proto.h>
#include <libotr/userstate.h>
#include <libotr/privkey.h>
#include <libotr/instag.h>
#include <libotr/message.h>
#include <libotr/context.h>

#define PROTO "prpl-bench"
#define MSG_LEN 256
#define MAX_MSG_LEN 65536

struct party { const char *name; const char *peer; OtrlUserState us; int idx; };
static struct party P[2] = { { "alice", "bob", NULL, 0 }, { "bob", "alice", NULL, 1 } };

/* The wire: messages in flight, each to a party index. */
struct item { int to; char *text; struct item *next; };
static struct item *head, *tail;
static int record_sizes; /* print the size of each injected message */

/* A name for a line on the wire, from OTRv3's message type byte (base64 "AAM" + type). */
static const char *kind(const char *m) {
    if (strncmp(m, "?OTR:AAM", 8) != 0) return strncmp(m, "?OTR", 4) == 0 ? "query (?OTRv23? + HTML)" : "other";
    switch (m[8]) {
    case 'C': return "DH-commit (0x02)";
    case 'K': return "DH-key (0x0a)";
    case 'R': return "Reveal-signature (0x11)";
    case 'S': return "Signature (0x12)";
    case 'D': return "Data (0x03)";
    default: return "other";
    }
}

static void die(const char *what) { fprintf(stderr, "otr_bench: %s\n", what); exit(1); }

static void push(int to, const char *text) {
    struct item *it = calloc(1, sizeof *it);
    if (!it || !(it->text = strdup(text))) die("out of memory");
    it->to = to;
    if (tail) tail->next = it; else head = it;
    tail = it;
}

static OtrlPolicy op_policy(void *o, ConnContext *c) { (void)o; (void)c; return OTRL_POLICY_DEFAULT; }
static int op_logged_in(void *o, const char *a, const char *p, const char *r) { (void)o; (void)a; (void)p; (void)r; return 1; }
static void op_inject(void *o, const char *a, const char *p, const char *r, const char *m) {
    (void)a; (void)p; (void)r;
    struct party *from = o;
    if (record_sizes) printf("| %-28s | %6zu |\n", kind(m), strlen(m));
    push(1 - from->idx, m);
}
static void op_noop_ctx(void *o, ConnContext *c) { (void)o; (void)c; }
static void op_still(void *o, ConnContext *c, int r) { (void)o; (void)c; (void)r; }
static void op_update(void *o) { (void)o; }
static void op_newfp(void *o, OtrlUserState us, const char *a, const char *p, const char *u, unsigned char f[20]) {
    (void)o; (void)us; (void)a; (void)p; (void)u; (void)f;
}
static void op_msg_event(void *o, OtrlMessageEvent e, ConnContext *c, const char *m, gcry_error_t err) {
    (void)o; (void)c; (void)m; (void)err;
    if (e == OTRL_MSGEVENT_RCVDMSG_UNREADABLE || e == OTRL_MSGEVENT_RCVDMSG_MALFORMED ||
        e == OTRL_MSGEVENT_ENCRYPTION_ERROR) die("libotr message event: error");
}
static void op_create_instag(void *o, const char *a, const char *p) { (void)o; (void)a; (void)p; die("no instag"); }
static void op_create_privkey(void *o, const char *a, const char *p) { (void)o; (void)a; (void)p; die("no key"); }

static OtrlMessageAppOps ops = {
    .policy = op_policy, .create_privkey = op_create_privkey, .is_logged_in = op_logged_in,
    .inject_message = op_inject, .update_context_list = op_update, .new_fingerprint = op_newfp,
    .write_fingerprints = op_update, .gone_secure = op_noop_ctx, .gone_insecure = op_noop_ctx,
    .still_secure = op_still, .handle_msg_event = op_msg_event, .create_instag = op_create_instag,
};

/* Delivers everything in flight, including what the deliveries inject. Returns the
 * number of messages shown to a user (decrypted data). */
static int pump(void) {
    int shown = 0;
    while (head) {
        struct item *it = head;
        head = it->next;
        if (!head) tail = NULL;
        struct party *to = &P[it->to];
        char *out = NULL;
        OtrlTLV *tlvs = NULL;
        int internal = otrl_message_receiving(to->us, &ops, to, to->name, PROTO, to->peer,
                                              it->text, &out, &tlvs, NULL, NULL, NULL);
        if (!internal && out) shown++;
        if (out) otrl_message_free(out);
        if (tlvs) otrl_tlv_free(tlvs);
        free(it->text);
        free(it);
    }
    return shown;
}

static int encrypted(struct party *p) {
    ConnContext *c = otrl_context_find(p->us, p->peer, p->name, PROTO, OTRL_INSTAG_BEST, 0, NULL, NULL, NULL);
    return c && c->msgstate == OTRL_MSGSTATE_ENCRYPTED;
}

static void ake(void) {
    char *query = otrl_proto_default_query_msg(P[0].name, OTRL_POLICY_DEFAULT);
    if (!query) die("query");
    if (record_sizes) printf("| %-28s | %6zu |\n", kind(query), strlen(query));
    push(1, query);
    free(query);
    pump();
    if (!encrypted(&P[0]) || !encrypted(&P[1])) die("AKE did not finish");
}

/* Encrypts text from party `from`; the ciphertext goes on the wire. */
static void send_text(int from, const char *text, size_t *len) {
    char *out = NULL;
    gcry_error_t err = otrl_message_sending(P[from].us, &ops, &P[from], P[from].name, PROTO,
                                            P[from].peer, OTRL_INSTAG_BEST, text, NULL, &out,
                                            OTRL_FRAGMENT_SEND_SKIP, NULL, NULL, NULL);
    if (err || !out) die("otrl_message_sending");
    if (len) *len = strlen(out);
    push(1 - from, out);
    otrl_message_free(out);
}

static double now(clockid_t clk) {
    struct timespec ts;
    clock_gettime(clk, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The measured loop of a burst, on its own so that callgrind can count it alone
 * (--toggle-collect=burst_loop). Returns the number of messages shown. */
__attribute__((noinline)) static int burst_loop(const char *text, int msgs) {
    int shown = 0;
    for (int i = 0; i < msgs; i++) { send_text(0, text, NULL); shown += pump(); }
    return shown;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A burst of `msgs` messages of `size` bytes, Alice to Bob, in BATCHES batches: the median
 * batch's time per message (a batch the VM preempted does not move the median). */
#define BATCHES 21
static void burst_line(int size, int msgs) {
    if (size < 1 || size > MAX_MSG_LEN || msgs < BATCHES) die("burst: SIZE 1..65536, MESSAGES >= 21");
    char *text = malloc((size_t)size + 1);
    if (!text) die("out of memory");
    memset(text, 'x', (size_t)size);
    text[size] = '\0';
    ake();
    if (burst_loop(text, 100) != 100) die("burst: warm-up messages lost");
    double wall[BATCHES], cpu[BATCHES];
    int per = msgs / BATCHES;
    for (int b = 0; b < BATCHES; b++) {
        double c0 = now(CLOCK_PROCESS_CPUTIME_ID), w0 = now(CLOCK_MONOTONIC);
        if (burst_loop(text, per) != per) die("burst: messages lost");
        cpu[b] = (now(CLOCK_PROCESS_CPUTIME_ID) - c0) / per * 1e6;
        wall[b] = (now(CLOCK_MONOTONIC) - w0) / per * 1e6;
    }
    qsort(wall, BATCHES, sizeof wall[0], cmp_double);
    qsort(cpu, BATCHES, sizeof cpu[0], cmp_double);
    printf("burst %d %.4f %.4f\n", size, wall[BATCHES / 2], cpu[BATCHES / 2]);
    free(text);
}

int main(int argc, char **argv) {
    int burst_mode = argc > 1 && strcmp(argv[1], "burst") == 0;
    int rounds = argc > 1 && !burst_mode ? atoi(argv[1]) : 50;
    int msgs = argc > 2 && !burst_mode ? atoi(argv[2]) : 20000;
    char dir[] = "/tmp/otr_bench.XXXXXX";
    if (!mkdtemp(dir)) die("mkdtemp");
    OTRL_INIT;
    if (!burst_mode)
        printf("libotr %s (OTRv3: DSA-1024, 1536-bit DH, AES-128-CTR, HMAC-SHA1)\n\n", otrl_version());
    for (int i = 0; i < 2; i++) {
        char key[256], tag[256];
        snprintf(key, sizeof key, "%s/%s.key", dir, P[i].name);
        snprintf(tag, sizeof tag, "%s/%s.instag", dir, P[i].name);
        P[i].us = otrl_userstate_create();
        if (otrl_privkey_generate(P[i].us, key, P[i].name, PROTO)) die("privkey_generate");
        if (otrl_instag_generate(P[i].us, tag, P[i].name, PROTO)) die("instag_generate");
        unlink(key);
        unlink(tag);
    }
    rmdir(dir);

    if (burst_mode) {
        if (argc != 4) die("usage: otr_bench burst SIZE MESSAGES");
        burst_line(atoi(argv[2]), atoi(argv[3]));
        otrl_userstate_free(P[0].us);
        otrl_userstate_free(P[1].us);
        return 0;
    }

    printf("Characters on the wire (no fragmentation):\n| %-28s | %6s |\n", "message", "chars");
    record_sizes = 1;
    ake();
    record_sizes = 0;
    size_t hi_len = 0;
    send_text(0, "hi", &hi_len);
    if (pump() != 1) die("hi not shown");
    printf("| %-28s | %6zu |\n\n", "\"hi\" as Data (0x03)", hi_len);

    /* AKE: forget both sides' contexts, then a full AKE. */
    double cpu_total = 0, cpu_min = 1e9, wall_total = 0;
    for (int r = 0; r < rounds; r++) {
        otrl_context_forget_all(P[0].us);
        otrl_context_forget_all(P[1].us);
        double c0 = now(CLOCK_PROCESS_CPUTIME_ID), w0 = now(CLOCK_MONOTONIC);
        ake();
        double c = now(CLOCK_PROCESS_CPUTIME_ID) - c0, w = now(CLOCK_MONOTONIC) - w0;
        cpu_total += c;
        wall_total += w;
        if (c < cpu_min) cpu_min = c;
    }
    printf("AKE, both sides, %d rounds: CPU mean %.0f us, min %.0f us; wall mean %.0f us\n",
           rounds, cpu_total / rounds * 1e6, cpu_min * 1e6, wall_total / rounds * 1e6);

    char text[MSG_LEN + 1];
    memset(text, 'x', MSG_LEN);
    text[MSG_LEN] = '\0';
    /* Warm-up, then the burst: Alice to Bob only. */
    for (int i = 0; i < 100; i++) { send_text(0, text, NULL); pump(); }
    double c0 = now(CLOCK_PROCESS_CPUTIME_ID), w0 = now(CLOCK_MONOTONIC);
    int shown = 0;
    for (int i = 0; i < msgs; i++) { send_text(0, text, NULL); shown += pump(); }
    double c = now(CLOCK_PROCESS_CPUTIME_ID) - c0, w = now(CLOCK_MONOTONIC) - w0;
    if (shown != msgs) die("burst: messages lost");
    printf("burst, %d B, %d messages: CPU %.2f us/msg, wall %.2f us/msg (encrypt + decrypt)\n",
           MSG_LEN, msgs, c / msgs * 1e6, w / msgs * 1e6);

    int alt = msgs / 20;
    c0 = now(CLOCK_PROCESS_CPUTIME_ID);
    w0 = now(CLOCK_MONOTONIC);
    shown = 0;
    for (int i = 0; i < alt; i++) { send_text(i & 1, text, NULL); shown += pump(); }
    c = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
    w = now(CLOCK_MONOTONIC) - w0;
    if (shown != alt) die("alternating: messages lost");
    printf("alternating, %d B, %d messages: CPU %.2f us/msg, wall %.2f us/msg (encrypt + decrypt)\n",
           MSG_LEN, alt, c / alt * 1e6, w / alt * 1e6);

    otrl_userstate_free(P[0].us);
    otrl_userstate_free(P[1].us);
    return 0;
}
