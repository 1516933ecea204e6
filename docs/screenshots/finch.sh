#!/usr/bin/env bash
# docs/screenshots/finch.sh: Sotto in Finch (libpurple's terminal client), captured as text.
#
#   make build testclient && docs/screenshots/finch.sh
#
# About 30 s. Needs ngircd, finch and tmux (Debian packages of the same names). Everything lives
# in a temp dir, nothing system-wide is touched:
#   1. a private ngircd on a free loopback port (temp config, run in the foreground);
#   2. `finch -c <temp>/finch` inside a detached tmux session of 120x40 on a private tmux socket,
#      with a pre-seeded config: an IRC account alice@127.0.0.1 on that port, bob in her buddy
#      list, build/sotto.so copied into <config>/plugins/ and enabled through the
#      /finch/plugins/loaded pref;
#   3. build/sotto-testclient as the peer bob@127.0.0.1 with the same plugin (tests/README.md);
#   4. bob sends alice a plaintext line so Finch opens the IM window; `tmux send-keys` types
#      `/sotto start` there; bob and alice exchange one line each; alice types `/sotto status`;
#   5. `tmux capture-pane -p` is saved to docs/screenshots/finch-session.txt.
#
# Exit status: 0 captured as planned; 2 captured but a step fell short (printed as WARNING:
# read the capture before committing it); 1 failed; 124 timed out.
#
# Environment:
#   SOTTO_PLUGIN=path        plugin to show (default build/sotto.so)
#   SOTTO_FINCH_KEEP=1       keep the temp dir (finch config, bob's transcript, ngircd log)
#   SOTTO_FINCH_TIMEOUT=N    whole-run limit in seconds (default 120)
#   SOTTO_FINCH_OUT=file     where the capture goes (default: finch-session.txt next to this)
#   SOTTO_FINCH_PAUSE_AT=conv  stop for 300 s once bob's IM window has the focus (debugging:
#                            `tmux -S <temp>/tmux.sock attach` is printed; kill that sleep to go on)
#   SOTTO_FINCH_PAUSE=N      stay up N seconds at the end (debugging)
#
# Every process it starts (ngircd, the tmux server holding finch, bob) is killed on exit (also
# on the timeout and on Ctrl-C), each by its pid.

set -euo pipefail

# shellcheck source=docs/screenshots/common.sh
. "$(dirname "$0")/common.sh"

log() { printf 'finch.sh: %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
SHORT=()
short() { log "WARNING: $*"; SHORT+=("$*"); }

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${SOTTO_FINCH_OUT:-$HERE/finch-session.txt}
PLUGIN=${SOTTO_PLUGIN:-$ROOT/build/sotto.so}
CLIENT=$ROOT/build/sotto-testclient

if [ -z "${SOTTO_FINCH_INNER:-}" ]; then
    for c in ngircd finch tmux timeout; do
        command -v "$c" >/dev/null || die "$c not found (apt-get install ngircd finch tmux)"
    done
    exec timeout --kill-after=15 "${SOTTO_FINCH_TIMEOUT:-120}" \
        env SOTTO_FINCH_INNER=1 bash "$0" "$@"
fi

[ -f "$PLUGIN" ] || die "no plugin at $PLUGIN: run 'make build' first"
[ -x "$CLIENT" ] || die "no test client at $CLIENT: run 'make testclient' first"

TMP=$(mktemp -d /tmp/sotto-finch.XXXXXX)
chmod 755 "$TMP"   # ngircd drops root to nobody; it must still reach its MOTD
PIDS=()
SOCK=$TMP/tmux.sock
TMUX_PID=""
T() { tmux -S "$SOCK" "$@"; }

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    exec 7>&- 2>/dev/null || true
    # The tmux server (and with it finch): by the server's pid, on our private socket only.
    if [ -n "$TMUX_PID" ]; then
        kill "$TMUX_PID" 2>/dev/null || true
        PIDS+=("$TMUX_PID")
    fi
    local i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill "${PIDS[i]}" 2>/dev/null || true
    done
    sleep 0.5
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill -9 "${PIDS[i]}" 2>/dev/null || true
        wait "${PIDS[i]}" 2>/dev/null || true
    done
    if [ -n "${SOTTO_FINCH_KEEP:-}" ] || [ "$rc" -ne 0 ]; then
        log "kept $TMP (finch/, bob.out, bob.err, ngircd.log, pane-*.txt)"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 124' TERM


pane() { T capture-pane -p -t sotto; }

# wait_pane REGEX SECONDS: until the finch pane shows REGEX.
wait_pane() {
    local pat=$1 secs=$2 i
    for ((i = 0; i < secs * 10; i++)); do
        pane 2>/dev/null | grep -qE -- "$pat" && return 0
        sleep 0.1
    done
    log "waited ${secs}s for /$pat/ in the finch pane; it shows:"
    pane >&2 || true
    return 1
}


type_line() { # type_line TEXT: type into finch's focused entry, then Enter
    T send-keys -t sotto -l -- "$1"
    sleep 0.3
    T send-keys -t sotto Enter
}

# ------------------------------------------------------------------ 1. ngircd
start_ngircd "Finch capture"

# ------------------------------------------------------------------ 2. Finch's config
CFG=$TMP/finch
mkdir -p "$CFG/plugins" "$TMP/home"
cp "$PLUGIN" "$CFG/plugins/sotto.so"

write_account "$CFG" gnt-purple

cat >"$CFG/prefs.xml" <<EOF
<?xml version='1.0' encoding='UTF-8' ?>
<pref version='1' name='/'>
 <pref name='purple'>
  <pref name='logging'>
   <pref name='log_ims' type='bool' value='0'/>
   <pref name='log_chats' type='bool' value='0'/>
   <pref name='log_system' type='bool' value='0'/>
  </pref>
  <pref name='away'>
   <pref name='idle_reporting' type='string' value='none'/>
   <pref name='away_when_idle' type='bool' value='0'/>
  </pref>
 </pref>
 <pref name='finch'>
  <pref name='plugins'>
   <pref name='loaded' type='pathlist'>
    <item value='$CFG/plugins/sotto.so'/>
   </pref>
  </pref>
  <pref name='sound'>
   <pref name='method' type='string' value='nosound'/>
  </pref>
  <pref name='blist'>
   <pref name='idletime' type='bool' value='0'/>
  </pref>
  <pref name='conversations'>
   <pref name='size'>
    <pref name='width' type='int' value='112'/>
    <pref name='height' type='int' value='30'/>
   </pref>
  </pref>
 </pref>
</pref>
EOF

# ------------------------------------------------------------------ 3. Finch (alice) in tmux
# A private tmux server (-S socket in the temp dir), one detached 120x40 session running finch.
cat >"$TMP/run-finch.sh" <<EOF
#!/bin/sh
export HOME='$TMP/home' TERM=screen LANG=C.UTF-8 LC_ALL=C.UTF-8
exec finch -c '$CFG' 2>'$TMP/finch.err'
EOF
chmod 755 "$TMP/run-finch.sh"
T -f /dev/null new-session -d -s sotto -x 120 -y 40 "$TMP/run-finch.sh"
TMUX_PID=$(T display-message -p '#{pid}')
T set-option -t sotto remain-on-exit on >/dev/null
T resize-window -t sotto -x 120 -y 40 2>/dev/null || true
log "finch in tmux (server pid $TMUX_PID, socket $SOCK), config $CFG"

wait_pane 'Buddy List' 20 || die "finch's buddy list did not appear"
wait_for "$TMP/ngircd.log" 'User "alice!.*registered' 30 || die "alice (finch) did not sign on"
log "alice (finch) signed on"

# ------------------------------------------------------------------ 4. bob (test client)
start_bob bob
log "bob signed on"
sleep 2

# ------------------------------------------------------------------ 5. the IM window
# bob writes first (plaintext: no session yet): Finch opens the IM window with him.
bob "send alice Hi Alice, can we talk privately?"
wait_pane 'can we talk privately' 15 || die "finch did not show bob's first line"
sleep 1
# Give that window the keyboard: Finch draws the focused window's title white on blue
# (GNT_COLOR_TITLE); Alt+n moves the focus to the next window until it is bob's.
conv_focused() {
    T capture-pane -p -e -t sotto | grep -qE $'\e\\[37m\e\\[44mbob \\(alice@127\\.0\\.0\\.1 -- IRC\\)'
}
focused=""
for _ in 1 2 3 4 5 6; do
    if conv_focused; then focused=1; break; fi
    T send-keys -t sotto M-n
    sleep 0.7
done
[ -n "$focused" ] || die "could not give bob's IM window the focus"
pane >"$TMP/pane-1-opened.txt"
log "bob's IM window is open and focused"
if [ -n "${SOTTO_FINCH_PAUSE_AT:-}" ]; then log "pausing: tmux -S $SOCK attach"; sleep 300 & wait $! || true; fi

# ------------------------------------------------------------------ 6. /sotto start
type_line '/sotto start'
if wait_for "$TMP/bob.out" '^WRITE .*started' 30; then
    log "session started (bob's side)"
else
    short "bob printed no 'started' line"
fi
wait_pane '[Ss]tarted' 15 || short "finch shows no 'started' line"
sleep 1
bob "send alice Hi Alice, this line is end-to-end encrypted."
wait_pane 'this line is end-to-end' 15 || short "finch did not show bob's encrypted line"
sleep 1
type_line 'Hi Bob! The server only sees ciphertext now.'
wait_for "$TMP/bob.out" '^WRITE alice [0-9]+ .*ciphertext now' 15 \
    || short "bob did not show alice's line"
sleep 1
type_line '/sotto status'
sleep 2
pane >"$OUT"
log "wrote $OUT"
# What the capture must show (wrapped lines are joined first).
joined=$(LC_ALL=C.UTF-8 sed 's/[│▒]//g' "$OUT" | tr '\n' ' ' | tr -s ' ')
for pat in 'Sotto: encrypted conversation started\. bob.s fingerprint is( [0-9A-F]{5}){8}' \
    'bob: Hi Alice, this line is end-to-end encrypted\.' \
    'Alice: Hi Bob! The server only sees ciphertext now\.' \
    'Sotto: this conversation is encrypted\.'; do
    grep -qE -- "$pat" <<<"$joined" || short "the capture lacks /$pat/"
done

if [ -n "${SOTTO_FINCH_PAUSE:-}" ]; then
    log "pausing ${SOTTO_FINCH_PAUSE}s: tmux -S $SOCK attach"
    sleep "$SOTTO_FINCH_PAUSE" &
    wait $! || true
fi
# What bob's client saw, for the record.
grep -E '^(WRITE|TITLE|CRITICAL|ERROR)' "$TMP/bob.out" | cut -c1-160 | sed 's/^/  bob: /' >&2 || true
if [ ${#SHORT[@]} -gt 0 ]; then
    log "done, but ${#SHORT[@]} step(s) fell short:"
    printf '  - %s\n' "${SHORT[@]}" >&2
    exit 2
fi
log "done"
