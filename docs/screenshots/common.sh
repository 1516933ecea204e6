# Shared by take.sh (Pidgin) and finch.sh (Finch): sourced, not run. The caller defines
# log/die, $TMP and the PIDS array (every process started here is appended to it).

# wait_for FILE REGEX SECONDS: until a line of FILE matches (grep -E).
wait_for() {
    local file=$1 pat=$2 secs=$3 i
    for ((i = 0; i < secs * 10; i++)); do
        grep -qE -- "$pat" "$file" 2>/dev/null && return 0
        sleep 0.1
    done
    log "waited ${secs}s for /$pat/ in $file; last lines:"
    tail -n 20 "$file" >&2 || true
    return 1
}

free_port() {
    local p
    for _ in $(seq 200); do
        p=$((20000 + RANDOM % 20000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
    done
    die "no free port"
}

# start_ngircd WHO: a private ngircd on a free loopback port, in the foreground; sets PORT.
start_ngircd() {
    PORT=$(free_port)
    echo "Sotto $1 server (loopback only)" >"$TMP/motd"
    cat >"$TMP/ngircd.conf" <<NGIRCD
[Global]
Name = irc.sotto.test
Info = Sotto $1 server
AdminInfo1 = Sotto docs/screenshots
AdminInfo2 = loopback only
AdminEMail = nobody@localhost
Listen = 127.0.0.1
Ports = $PORT
MotdFile = $TMP/motd
[Limits]
MaxNickLength = 31
MaxConnectionsIP = 0
PingTimeout = 600
PongTimeout = 600
[Options]
DNS = no
Ident = no
PAM = no
[SSL]
NGIRCD
    chmod 644 "$TMP/ngircd.conf" "$TMP/motd"
    ngircd --nodaemon --config "$TMP/ngircd.conf" >"$TMP/ngircd.log" 2>&1 </dev/null &
    PIDS+=($!)
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
        kill -0 "${PIDS[-1]}" 2>/dev/null || { cat "$TMP/ngircd.log" >&2; die "ngircd exited"; }
        sleep 0.1
    done
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || die "ngircd not listening on $PORT"
    log "ngircd on 127.0.0.1:$PORT"
}

# write_account CFG UI: alice's IRC account on $PORT (auto-login for UI) and bob as her buddy.
write_account() {
    local cfg=$1 ui=$2
    cat >"$cfg/accounts.xml" <<ACCOUNTS
<?xml version='1.0' encoding='UTF-8' ?>
<account version='1.0'>
 <account>
  <protocol>prpl-irc</protocol>
  <name>alice@127.0.0.1</name>
  <alias>Alice</alias>
  <settings>
   <setting name='port' type='int'>$PORT</setting>
   <setting name='ssl' type='bool'>0</setting>
   <setting name='ratelimit-interval' type='int'>0</setting>
   <setting name='username' type='string'>alice</setting>
   <setting name='realname' type='string'>Alice</setting>
  </settings>
  <settings ui='$ui'>
   <setting name='auto-login' type='bool'>1</setting>
  </settings>
 </account>
</account>
ACCOUNTS
    cat >"$cfg/blist.xml" <<'BLIST'
<?xml version='1.0' encoding='UTF-8' ?>
<purple version='1.0'>
 <blist>
  <group name='Buddies'>
   <setting name='collapsed' type='bool'>0</setting>
   <contact>
    <buddy account='alice@127.0.0.1' proto='prpl-irc'>
     <name>bob</name>
    </buddy>
   </contact>
  </group>
 </blist>
 <privacy>
  <account proto='prpl-irc' name='alice@127.0.0.1' mode='1'/>
 </privacy>
</purple>
BLIST
}

# start_bob NAME: bob@127.0.0.1, the test client with the plugin at $CFG/plugins/sotto.so, on
# $PORT, its stdin the FIFO $TMP/NAME.in (held open on fd 7: `bob LINE` sends a command), its
# output in $TMP/NAME.out and .err; returns once it loaded the plugin and signed on. The user
# dir is always $TMP/bob (a second start is the same profile).
start_bob() {
    mkfifo "$TMP/$1.in"
    "$CLIENT" "$TMP/bob" prpl-irc bob@127.0.0.1 '' \
        --opt "port=$PORT" --opt ratelimit-interval=0 --plugin "$CFG/plugins/sotto.so" \
        <"$TMP/$1.in" >"$TMP/$1.out" 2>"$TMP/$1.err" &
    PIDS+=($!)
    exec 7>"$TMP/$1.in"
    wait_for "$TMP/$1.out" '^PLUGIN_(LOADED|FAILED)' 20 || die "bob's client did not load the plugin"
    grep -q '^PLUGIN_LOADED' "$TMP/$1.out" || die "bob: $(grep PLUGIN_FAILED "$TMP/$1.out")"
    wait_for "$TMP/$1.out" '^SIGNED_ON' 30 || die "bob did not sign on"
}
bob() { printf '%s\n' "$*" >&7; }
