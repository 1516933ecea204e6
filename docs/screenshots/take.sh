#!/usr/bin/env bash
# docs/screenshots/take.sh: screenshots of the real Pidgin with Sotto, taken headless.
#
#   make build testclient && docs/screenshots/take.sh
#
# About 25 s. Installs its Debian packages when missing (ngircd xvfb pidgin xdotool imagemagick
# openbox x11-utils x11-xserver-utils); everything else lives in a temp dir, nothing
# system-wide is touched:
#   1. a private ngircd on a free loopback port (temp config, run in the foreground);
#   2. Xvfb on a free display (-displayfd) with openbox, so windows get title bars;
#   3. real Pidgin (`pidgin --config <temp> --multiple`) with a pre-seeded config: an IRC account
#      alice@127.0.0.1 on that port, bob in her buddy list, build/sotto.so copied into
#      <config>/plugins/ and enabled through the /pidgin/plugins/loaded pref;
#   4. build/sotto-testclient as the peer bob@127.0.0.1 with the same plugin (tests/README.md);
#   5. xdotool opens an IM window alice -> bob (Ctrl+M), types `/sotto start`, bob answers
#      with the test client's `send`, alice types a line; `import -window root` takes the
#      screenshots, cropped with `convert` to the window and its open menus:
#        docs/screenshots/encrypted-conversation.png  the conversation, title and state lines
#        docs/screenshots/sotto-menu.png              Conversation > More > Sotto, open
#        docs/screenshots/buddy-menu.png              the buddy list's right-click > Sotto, open
#        docs/screenshots/answer-dialog.png           bob's question, asked while alice types
#        docs/screenshots/key-changed.png             the dialog when bob's key changes
#   6. bob asks a question while alice types a line: her Enter must not answer it (the run
#      fails if bob's client shows a verification result)
#   7. bob's key changes: Enter on that dialog ("Keep holding messages", its default) must keep
#      alice's line held; the run fails if bob's client shows it
#
# Exit status: 0 all shots taken as planned; 2 shots written but a step fell short (printed as
# WARNING: look at the PNGs before committing them); 1 failed; 124 timed out.
#
# Environment:
#   SOTTO_PLUGIN=path        plugin to show (default build/sotto.so)
#   SOTTO_SHOTS_KEEP=1       keep the temp dir (Pidgin config and log, bob's transcript, raw
#                            full-screen shots); it is always kept when the run falls short
#   SOTTO_SHOTS_TIMEOUT=N    whole-run limit in seconds (default 240)
#   SOTTO_SHOTS_OUT=dir      where the PNGs go (default: this script's directory)
#   SOTTO_SHOTS_PAUSE_AT=menu  stop for 600 s before the menus (debugging: DISPLAY is printed;
#                            kill that `sleep 600` to go on)
#   SOTTO_SHOTS_PAUSE=N      stay up N seconds at the end (debugging)
#
# Every process it starts is killed on exit (also on the timeout and on Ctrl-C), each by its pid.

set -euo pipefail

# shellcheck source=docs/screenshots/common.sh
. "$(dirname "$0")/common.sh"

log() { printf 'take.sh: %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
SHORT=()
short() { log "WARNING: $*"; SHORT+=("$*"); }   # a step fell short: go on, exit 2 at the end

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${SOTTO_SHOTS_OUT:-$HERE}
PLUGIN=${SOTTO_PLUGIN:-$ROOT/build/sotto.so}
CLIENT=$ROOT/build/sotto-testclient

if [ -z "${SOTTO_SHOTS_INNER:-}" ]; then
    # Debian packages, installed when missing (outside the timeout: apt may take a while).
    need=""
    for pair in ngircd:ngircd Xvfb:xvfb pidgin:pidgin xdotool:xdotool import:imagemagick \
        convert:imagemagick openbox:openbox xsetroot:x11-xserver-utils xwininfo:x11-utils \
        xprop:x11-utils; do
        command -v "${pair%%:*}" >/dev/null || need="$need ${pair#*:}"
    done
    if [ -n "$need" ]; then
        log "installing$need"
        SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $need >/dev/null
    fi
    # The whole run under one timeout: TERM reaches the trap below, which cleans up.
    exec timeout --kill-after=15 "${SOTTO_SHOTS_TIMEOUT:-240}" \
        env SOTTO_SHOTS_INNER=1 bash "$0" "$@"
fi

[ -f "$PLUGIN" ] || die "no plugin at $PLUGIN: run 'make build' first"
[ -x "$CLIENT" ] || die "no test client at $CLIENT: run 'make testclient' first"
mkdir -p "$OUT"

TMP=$(mktemp -d /tmp/sotto-shots.XXXXXX)
chmod 755 "$TMP"   # ngircd drops root to nobody; it must still reach its MOTD
PIDS=()

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    exec 7>&- 2>/dev/null || true
    # Newest first: bob, Pidgin, Xvfb, ngircd. Each by its own pid.
    local i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill "${PIDS[i]}" 2>/dev/null || true
    done
    sleep 0.5
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill -9 "${PIDS[i]}" 2>/dev/null || true
        wait "${PIDS[i]}" 2>/dev/null || true
    done
    if [ -n "${SOTTO_SHOTS_KEEP:-}" ] || [ "$rc" -ne 0 ]; then
        log "kept $TMP (pidgin.log, bob.out, bob.err, ngircd.log, raw-*.png)"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 124' TERM


# wait_win REGEX SECONDS: print the id of the first visible window whose name matches.
wait_win() {
    local pat=$1 secs=$2 i w
    for ((i = 0; i < secs * 10; i++)); do
        w=$(xdotool search --onlyvisible --name "$pat" 2>/dev/null | head -n 1 || true)
        if [ -n "$w" ]; then echo "$w"; return 0; fi
        sleep 0.1
    done
    log "no window named /$pat/ after ${secs}s; windows:"
    xwininfo -root -tree | grep -v 'has no name' >&2 || true
    return 1
}


shot() { # shot NAME: the whole screen into $TMP/raw-NAME.png
    import -display "$DISPLAY" -window root "$TMP/raw-$1.png"
}

# geometry WINDOW: sets X Y W H, the window on screen with its window-manager frame.
geometry() {
    local info l=0 r=0 t=0 b=0 ext
    info=$(xwininfo -id "$1")
    X=$(awk '/Absolute upper-left X/ {print $NF}' <<<"$info")
    Y=$(awk '/Absolute upper-left Y/ {print $NF}' <<<"$info")
    W=$(awk '/^ *Width:/ {print $NF}' <<<"$info")
    H=$(awk '/^ *Height:/ {print $NF}' <<<"$info")
    ext=$(xprop -id "$1" _NET_FRAME_EXTENTS 2>/dev/null | sed -n 's/.*= *//p' | tr -d ' ')
    if [ -n "$ext" ]; then IFS=, read -r l r t b <<<"$ext"; fi
    X=$((X - l)) Y=$((Y - t)) W=$((W + l + r)) H=$((H + t + b))
}

# open_menus: one line "id x y w h" per open menu. Under a reparenting window manager the only
# viewable Pidgin windows directly below the root are its popups (menus, tooltips).
open_menus() {
    local id
    for id in $(xdotool search --onlyvisible --maxdepth 1 --class '^Pidgin$' 2>/dev/null); do
        (
            eval "$(xdotool getwindowgeometry --shell "$id" 2>/dev/null)" || exit 0
            [ "${WIDTH:-0}" -gt 2 ] && [ "${HEIGHT:-0}" -gt 2 ] && echo "$id $X $Y $WIDTH $HEIGHT"
        ) || true
    done
}

# wait_menus N: until exactly N menus are open (1 s at most). Fails otherwise.
wait_menus() {
    local i
    for ((i = 0; i < 20; i++)); do
        [ "$(open_menus | wc -l)" -eq "$1" ] && return 0
        sleep 0.05
    done
    return 1
}

# add_menus: grow X Y W H to cover every open menu.
add_menus() {
    local x0=$X y0=$Y x1=$((X + W)) y1=$((Y + H)) id mx my mw mh
    while read -r id mx my mw mh; do
        [ -n "$id" ] || continue
        ((mx < x0)) && x0=$mx
        ((my < y0)) && y0=$my
        ((mx + mw > x1)) && x1=$((mx + mw))
        ((my + mh > y1)) && y1=$((my + mh))
    done < <(open_menus)
    X=$x0 Y=$y0 W=$((x1 - x0)) H=$((y1 - y0))
}

# close_menus: Escape until no menu is open.
close_menus() {
    local i
    for ((i = 0; i < 5; i++)); do
        [ "$(open_menus | wc -l)" -eq 0 ] && return 0
        xdotool key Escape
        sleep 0.3
    done
}

# crop NAME OUTFILE: cut X Y W H (plus a margin of desktop) out of $TMP/raw-NAME.png.
crop() {
    local m=10 x y w h
    x=$((X - m)) y=$((Y - m)) w=$((W + 2 * m)) h=$((H + 2 * m))
    ((x < 0)) && { w=$((w + x)); x=0; }
    ((y < 0)) && { h=$((h + y)); y=0; }
    convert "$TMP/raw-$1.png" -crop "${w}x${h}+${x}+${y}" +repage "$2"
    log "wrote $2 (${w}x${h})"
}

focus() { # focus WINDOW: raise it, give it the keyboard, park the pointer outside it
    xdotool windowactivate --sync "$1" 2>/dev/null || xdotool windowfocus --sync "$1"
    xdotool mousemove $((SCREEN_W - 5)) $((SCREEN_H - 5))
    sleep 0.4
}

type_line() { # type_line TEXT: type into the focused window and press Enter
    xdotool type --delay 25 -- "$1"
    sleep 0.2
    xdotool key Return
}

# ------------------------------------------------------------------ 1. ngircd
start_ngircd "screenshot"

# ------------------------------------------------------------------ 2. Xvfb
SCREEN_W=1280 SCREEN_H=800
Xvfb -displayfd 5 -screen 0 "${SCREEN_W}x${SCREEN_H}x24" -nolisten tcp -noreset \
    5>"$TMP/display" >"$TMP/xvfb.log" 2>&1 </dev/null &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$TMP/display" ] && break; sleep 0.1; done
[ -s "$TMP/display" ] || { cat "$TMP/xvfb.log" >&2; die "Xvfb did not start"; }
export DISPLAY=":$(head -n 1 "$TMP/display")"
log "Xvfb on $DISPLAY"
# A plain desktop and a real window manager (title bars show the conversation title).
xsetroot -solid '#4a5a66' 2>/dev/null || true
mkdir -p "$TMP/home"
HOME=$TMP/home XDG_CONFIG_HOME=$TMP/home/.config XDG_CACHE_HOME=$TMP/home/.cache \
    openbox --sm-disable >"$TMP/openbox.log" 2>&1 </dev/null &
PIDS+=($!)
for _ in $(seq 50); do
    xprop -root _NET_SUPPORTING_WM_CHECK 2>/dev/null | grep -q 'window id' && break
    sleep 0.1
done

# ------------------------------------------------------------------ 3. Pidgin's config
CFG=$TMP/pidgin
mkdir -p "$CFG/plugins" "$TMP/home"
cp "$PLUGIN" "$CFG/plugins/sotto.so"

write_account "$CFG" gtk-gaim

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
 <pref name='pidgin'>
  <pref name='plugins'>
   <pref name='loaded' type='pathlist'>
    <item value='$CFG/plugins/sotto.so'/>
   </pref>
  </pref>
  <pref name='sound'>
   <pref name='method' type='string' value='none'/>
  </pref>
  <pref name='docklet'>
   <pref name='show' type='string' value='never'/>
  </pref>
  <pref name='debug'>
   <pref name='enabled' type='bool' value='0'/>
  </pref>
  <pref name='blist'>
   <pref name='show_buddy_icons' type='bool' value='0'/>
   <pref name='show_empty_groups' type='bool' value='0'/>
   <pref name='show_offline_buddies' type='bool' value='1'/>
   <pref name='list_visible' type='bool' value='1'/>
   <pref name='list_maximized' type='bool' value='0'/>
   <pref name='x' type='int' value='960'/>
   <pref name='y' type='int' value='40'/>
   <pref name='width' type='int' value='240'/>
   <pref name='height' type='int' value='320'/>
  </pref>
  <pref name='conversations'>
   <pref name='tabs' type='bool' value='1'/>
   <pref name='im'>
    <pref name='x' type='int' value='20'/>
    <pref name='y' type='int' value='40'/>
    <pref name='width' type='int' value='600'/>
    <pref name='height' type='int' value='400'/>
    <pref name='entry_height' type='int' value='60'/>
   </pref>
  </pref>
 </pref>
</pref>
EOF

# One readable font for every run, whatever the machine's GTK defaults.
cat >"$TMP/gtkrc" <<'EOF'
gtk-font-name = "DejaVu Sans 10"
style "sotto-shots" { font_name = "DejaVu Sans 10" }
widget "*" style "sotto-shots"
EOF

# ------------------------------------------------------------------ 4. Pidgin (alice)
HOME=$TMP/home XDG_CONFIG_HOME=$TMP/home/.config XDG_CACHE_HOME=$TMP/home/.cache \
    XDG_DATA_HOME=$TMP/home/.local/share GTK2_RC_FILES=$TMP/gtkrc NO_AT_BRIDGE=1 \
    DBUS_SESSION_BUS_ADDRESS=disabled: \
    pidgin --config="$CFG" --multiple --force-online --debug \
    >"$TMP/pidgin.log" 2>&1 </dev/null &
PIDS+=($!)
PIDGIN_PID=${PIDS[-1]}
log "pidgin pid $PIDGIN_PID, config $CFG"

BLIST=$(wait_win '^Buddy List$' 30) || die "Pidgin's buddy list did not appear"
wait_for "$TMP/pidgin.log" 'Connection established|irc: .*001|signed on|Signed on' 30 \
    || log "no sign-on line in pidgin.log yet; going on"
# Right of where the conversation's menus open, so it stays out of that crop.
xdotool windowmove --sync "$BLIST" 960 40 2>/dev/null || true
# What Pidgin said about the plugin (a failed load also drops it from /pidgin/plugins/loaded).
grep -i 'sotto' "$TMP/pidgin.log" | grep -v -E '\) (prefs|util): ' | head -n 8 >&2 || true

# ------------------------------------------------------------------ 5. bob (test client)
start_bob bob
log "bob signed on"

# ------------------------------------------------------------------ 6. alice opens the IM window
# Buddies > New Instant Message (Ctrl+M), name "bob", Enter.
focus "$BLIST"
xdotool key ctrl+m
DLG=$(wait_win 'New Instant Message' 10) || die "no New Instant Message dialog"
focus "$DLG"
type_line bob
CONV=$(wait_win '^bob' 10) || die "no conversation window with bob"
log "conversation window $CONV"
# The window manager places new windows where it likes: put it top left, fully on screen.
xdotool windowmove --sync "$CONV" 20 30 2>/dev/null || xdotool windowmove "$CONV" 20 30
sleep 1

# ------------------------------------------------------------------ 7. /sotto start, a few lines
focus "$CONV"
type_line '/sotto start'
if wait_for "$TMP/bob.out" '^WRITE .*started' 30; then
    log "session started (bob's side)"
else
    short "bob printed no 'started' line: the screenshot shows whatever Pidgin shows"
fi
sleep 1
bob "send alice Hi Alice, this line is end-to-end encrypted."
wait_for "$TMP/bob.out" '^WRITE alice [0-9]+ .*end-to-end encrypted' 10 \
    || short "bob's first line was not written on his side"
sleep 1.5
focus "$CONV"
type_line 'Hi Bob! The server only sees ciphertext now.'
wait_for "$TMP/bob.out" '^WRITE alice [0-9]+ .*ciphertext now' 15 \
    || short "bob did not show alice's line"
bob "send alice <b>Tags</b> & accents arrive exactly as typed: café, naïve."
sleep 2

shot conversation
geometry "$CONV"
crop conversation "$OUT/encrypted-conversation.png"

# ------------------------------------------------------------------ 8. Conversation > More > Sotto
# Keyboard only: F10 opens the menu bar's first menu (Conversation). Insensitive items are
# skipped, so from the bottom: Up to Close, then Remove..., Block..., Alias..., More. Each
# step waits for its menu to be mapped (Pidgin builds More's submenu when it opens).
if [ "${SOTTO_SHOTS_PAUSE_AT:-}" = menu ]; then
    log "pausing before the menus: DISPLAY=$DISPLAY CONV=$CONV BLIST=$BLIST"
    sleep 600 &
    wait $! || true
fi
conversation_more_sotto() {
    close_menus
    focus "$CONV"
    xdotool key F10
    wait_menus 1 || return 1
    sleep 1
    for _ in 1 2 3 4 5; do xdotool key Up; sleep 0.15; done
    xdotool key Right         # More: its submenu opens with its first item, Sotto, selected
    wait_menus 2 || return 1
    sleep 0.3
    xdotool key Right         # Sotto: its submenu opens
    wait_menus 3 || return 1
    sleep 0.5
}
ok=""
for attempt in 1 2 3; do
    conversation_more_sotto && { ok=1; break; }
    log "menu attempt $attempt: $(open_menus | wc -l) of 3 menus open, retrying"
done
[ -n "$ok" ] || short "Conversation > More > Sotto did not open (is there a Sotto submenu?)"
shot menu
geometry "$CONV"
add_menus
crop menu "$OUT/sotto-menu.png"
close_menus

# ------------------------------------------------------------------ 9. the buddy menu (bonus)
# Right-click bob in the buddy list: Get Info, IM, Send File..., Add Buddy Pounce...,
# View Log, Show When Offline, then the plugins' items: Sotto is the 7th selectable item.
# The first buddy row sits under the menu bar and the "Buddies" group row. The buddy list
# moves next to the conversation first, so the submenus have room on the right.
xdotool windowmove --sync "$BLIST" 680 40 2>/dev/null || true
buddy_sotto() {
    close_menus
    focus "$BLIST"
    geometry "$BLIST"
    xdotool mousemove $((X + 60)) $((Y + 78)) click 3
    wait_menus 1 || return 1
    sleep 0.3
    for _ in 1 2 3 4 5 6 7; do xdotool key Down; sleep 0.15; done
    xdotool key Right
    wait_menus 2 || return 1
    sleep 0.5
}
ok=""
for attempt in 1 2 3; do
    buddy_sotto && { ok=1; break; }
    log "buddy menu attempt $attempt: $(open_menus | wc -l) of 2 menus open, retrying"
done
[ -n "$ok" ] || short "the buddy menu's Sotto submenu did not open"
shot buddy-menu
geometry "$BLIST"
add_menus
crop buddy-menu "$OUT/buddy-menu.png"
close_menus

# ------------------------------------------------------------------ 10. a question while alice types
# bob asks a question while alice is typing a line to him. Pidgin opens the answer dialog,
# and the window manager gives it the keyboard (it opened while she was using Pidgin): the
# rest of her line goes into the dialog's answer box. Her Enter must not answer with it: a
# single-line box took Enter as "Answer", sent her line as a (wrong) answer, told both sides
# "verification FAILED", and her line was gone. The answer box takes Enter as a new line:
# her words stay there, in sight, and nothing goes. A check, not only a shot: it fails the
# run when bob's client shows a result of the run, or when her line reached him as an answer.
focus "$CONV"
xdotool type --delay 25 -- 'Wait, '
bob "cmd alice sotto verify Which town did we first meet in? | Lyon"
ASKDLG=$(wait_win 'a question from' 15) || die "no answer dialog in Pidgin"
xdotool type --delay 25 -- 'I am typing this line to bob.'
sleep 0.2
xdotool key Return
sleep 3
if grep -qE 'verification (FAILED|succeeded)' "$TMP/bob.out"; then
    die "Enter in the answer dialog sent the line alice was typing as her answer"
fi
log "alice's Enter did not answer bob's question"
xdotool windowmove --sync "$ASKDLG" 60 120 2>/dev/null || true
sleep 0.5
shot answer-dialog
geometry "$ASKDLG"
crop answer-dialog "$OUT/answer-dialog.png"
# Decline (the dialog's other button): bob is told, nothing else goes. Then the start of
# her line, left in the conversation's entry, is cleared.
focus "$ASKDLG"
xdotool key Escape
sleep 1
focus "$CONV"
xdotool key ctrl+a BackSpace

# ------------------------------------------------------------------ 11. bob's key changes
# bob's client quits, loses its Sotto data and starts again: its new key finishes a handshake
# with alice, whose Pidgin warns and opens the key-changed dialog; a line she types is held.
# Enter on the dialog picks its default, "Keep holding messages": the line must stay held
# (Pidgin hands a button's callback its reversed place; Sotto once read that index, and this
# Enter accepted the new key and sent the line). A check, not only a shot: it fails the run.
BOB_PID=${PIDS[-1]}
bob "quit"
for _ in $(seq 50); do kill -0 "$BOB_PID" 2>/dev/null || break; sleep 0.1; done
exec 7>&-
rm -rf "$TMP/bob/sotto"
start_bob bob2
bob "cmd alice sotto start"
KEYDLG=$(wait_win 'key changed' 30) || die "no key-changed dialog in Pidgin"
focus "$CONV"
type_line 'This line waits for a key I have not accepted.'
sleep 1
xdotool windowmove --sync "$KEYDLG" 60 120 2>/dev/null || true
focus "$KEYDLG"
shot key-changed
geometry "$KEYDLG"
crop key-changed "$OUT/key-changed.png"
xdotool key Return
sleep 3
if grep -q 'waits for a key I have not accepted' "$TMP/bob2.out"; then
    die "Enter on the key-changed dialog (Keep holding messages) sent the held line to the new key"
fi
log "Keep holding messages kept the line held"

if [ -n "${SOTTO_SHOTS_PAUSE:-}" ]; then
    log "pausing ${SOTTO_SHOTS_PAUSE}s: DISPLAY=$DISPLAY TMP=$TMP CONV=$CONV"
    sleep "$SOTTO_SHOTS_PAUSE" &
    wait $! || true
fi
# What bob's client saw, for the record (WRITE lines: flags, who, markup).
grep -E '^(WRITE|TITLE|CRITICAL|ERROR)' "$TMP/bob.out" | cut -c1-160 | sed 's/^/  bob: /' >&2 || true
if [ ${#SHORT[@]} -gt 0 ]; then
    log "done, but ${#SHORT[@]} step(s) fell short:"
    printf '  - %s\n' "${SHORT[@]}" >&2
    exit 2
fi
log "done: $(cd "$OUT" && ls encrypted-conversation.png sotto-menu.png buddy-menu.png answer-dialog.png key-changed.png | tr '\n' ' ')"
