#!/usr/bin/env bash
# Re-capture the README's two relay transcripts from a real binary:
#   - "## Running a relay: `sbrp relay`": the `sbrp relay --dev` session (the relay's terminal,
#     stdout and stderr as they interleave there, then the third terminal's command line);
#   - "### Relay: a decrypted transcript of a live session": the capture/keylog walkthrough.
#
# Usage, from the repo root:
#   cargo build --release
#   bash docs/readme-relay.sh target/release/sbrp > /tmp/relay-transcripts.md
#
# stdout: the three ```console blocks, ready to paste, in README order. Progress and errors of
# this script go to stderr, prefixed "readme-relay.sh:".
#
# Needs: bash, curl, jq and column (util-linux). jq is not always installed: `apt-get install -y jq`.
#
# It works in a fresh `mktemp -d` (removed on exit; a fresh SBRP_HOME in it, SBRP_PINS and
# SBRP_TOKEN unset), talks to 127.0.0.1 only, and uses the ports the README shows, 8787 (relay)
# and 9187 (metrics): if either is taken it stops with an error naming the port. `sbrp` in the
# commands is the binary given as $1 (a symlink named `sbrp` first on PATH), and each command is
# run exactly as printed. Not printed: the walkthrough's two identity keys, made beforehand with
# `sbrp keygen -o issuer.pem` and `sbrp keygen -o daemon.pem`. Between commands the script waits
# for what a person at the terminal would wait for (the daemon connected, the session ended);
# `kill %2 %1` is done as the README says, the daemon first (waited for), then the relay.
# `--dev` keeps its throwaway keys under the system temporary directory (/tmp/sbrp-relay-dev-…,
# as the README shows); the relay removes them when it stops. Output is as on a terminal, except
# that the blanks `column -t` pads its last column with are cut.
set -euo pipefail

die() {
    echo "readme-relay.sh: $*" >&2
    exit 1
}
note() { echo "readme-relay.sh: $*" >&2; }

[[ $# -eq 1 ]] || die "usage: bash docs/readme-relay.sh PATH/TO/sbrp (run from the repo root)"
[[ -f Cargo.toml && -f README.md ]] || die "run me from the repo root"
BIN=$(realpath -- "$1") || die "no such binary: $1"
[[ -x $BIN ]] || die "not an executable: $BIN"
for tool in curl jq column; do
    command -v "$tool" >/dev/null || die "needs $tool (jq: apt-get install -y jq)"
done

RELAY_PORT=8787
METRICS_PORT=9187
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$RELAY_PORT" "$METRICS_PORT"; do
    port_free "$p" || die "127.0.0.1:$p is in use; the README's commands need it: stop what listens there (ss -ltnp 'sport = :$p')"
done

WORK=$(mktemp -d)
PIDS=()
DEV_DIR=
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    [[ -n $DEV_DIR && -d $DEV_DIR ]] && rm -rf -- "$DEV_DIR"
    rm -rf -- "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$WORK/bin" "$WORK/home" "$WORK/dev" "$WORK/walk"
ln -s "$BIN" "$WORK/bin/sbrp"
export PATH="$WORK/bin:$PATH" SBRP_HOME="$WORK/home" NO_COLOR=1
unset SBRP_PINS SBRP_TOKEN

# Wait (up to 20 s) until FILE contains the extended regex RE.
wait_for_log() {
    local file=$1 re=$2 i
    for ((i = 0; i < 400; i++)); do
        grep -Eq -- "$re" "$file" 2>/dev/null && return 0
        sleep 0.05
    done
    note "timed out waiting for /$re/ in $file:"
    cat "$file" >&2 || true
    exit 1
}
# Wait (up to 20 s) until the relay's metrics contain the line RE (an extended regex).
wait_for_metric() {
    local re=$1 i
    for ((i = 0; i < 400; i++)); do
        curl -s "127.0.0.1:$METRICS_PORT/metrics" 2>/dev/null | grep -Eq -- "$re" && return 0
        sleep 0.05
    done
    die "timed out waiting for the metric /$re/"
}
# Wait for PID to exit; its exit status must be 0.
wait_ok() {
    local pid=$1 what=$2 rc=0
    wait "$pid" || rc=$?
    PIDS=("${PIDS[@]/$pid/}")
    [[ $rc -eq 0 ]] || die "$what exited with $rc"
}
# Print "$ CMD" (CMD as the README shows it), then run it here, stdout and stderr to stdout.
show() {
    printf '$ %s\n' "$1"
    eval "$1" 2>&1
}

# ---------------------------------------------------------------------------------------------
# 1. `sbrp relay --dev`, the relay's terminal; its printed commands run in two other terminals.
note "--dev session"
cd "$WORK/dev"
sbrp relay --dev >relay.out 2>&1 &
RELAY=$!
PIDS+=("$RELAY")
wait_for_log relay.out 'event="listening"'
mapfile -t CMDS < <(sed -n 's/^  \(sbrp .*\)$/\1/p' relay.out)
[[ ${#CMDS[@]} -eq 2 ]] || die "expected 2 command lines from sbrp relay --dev, got ${#CMDS[@]}: $(cat relay.out)"
DEV_DIR=$(grep -o '/[^ ]*sbrp-relay-dev-[0-9a-f]*' relay.out | head -n1)
# The second terminal: the daemon (its own output is not in the README).
eval "${CMDS[0]} >daemon.out 2>&1 &"
DAEMON=$!
PIDS+=("$DAEMON")
wait_for_log relay.out 'event="connection_opened".*role="daemon"'
# The third terminal: mint a client token && open a session, one command line.
show "${CMDS[1]}" >third.out || die "the third terminal's command failed: $(cat third.out)"
wait_for_log relay.out 'event="connection_closed".*role="client"'
# SIGTERM the relay first, then end the daemon.
kill -TERM "$RELAY"
wait_ok "$RELAY" "sbrp relay --dev"
kill -TERM "$DAEMON" 2>/dev/null || true
wait "$DAEMON" 2>/dev/null || true
PIDS=()
[[ ! -e $DEV_DIR ]] || die "sbrp relay --dev left $DEV_DIR behind"

echo '```console'
echo '$ sbrp relay --dev'
cat relay.out
echo '```'
echo
echo '```console'
cat third.out
echo '```'
echo

# ---------------------------------------------------------------------------------------------
# 2. The walkthrough: capture + capture log + metrics + both key logs, then `sbrp decode`.
note "walkthrough"
cd "$WORK/walk"
for p in "$RELAY_PORT" "$METRICS_PORT"; do
    port_free "$p" || die "127.0.0.1:$p is still in use after the --dev relay stopped"
done
sbrp keygen -o issuer.pem >/dev/null 2>&1 || die "sbrp keygen -o issuer.pem failed"
sbrp keygen -o daemon.pem >/dev/null 2>&1 || die "sbrp keygen -o daemon.pem failed"

echo '```console'
show 'sbrp token jwks issuer.pem > jwks.json'
show 'sbrp relay --listen 127.0.0.1:8787 --jwks jwks.json --iss sbrp --metrics 127.0.0.1:9187 \
      --capture relay.cap --capture-log relay.jsonl 2> relay.err &'
RELAY=$!
PIDS+=("$RELAY")
wait_for_log relay.err 'event="metrics"'
show 'sbrp token mint --key issuer.pem --role daemon --did daemon-001 -o daemon.jwt'
show 'sbrp peer daemon --key daemon.pem --daemon-id daemon-001 --relay ws://127.0.0.1:8787 \
      --token-file daemon.jwt --keylog daemon.keys 2> daemon.err &'
DAEMON=$!
PIDS+=("$DAEMON")
wait_for_metric '^sbrp_relay_connections\{role="daemon"\} 1$'
show 'sbrp token mint --key issuer.pem --role client --did daemon-001 --sid 42 -o client.jwt'
show 'sbrp peer client --daemon-id daemon-001 --identity-key "$(sbrp pubkey daemon.pem)" \
      --relay ws://127.0.0.1:8787 --token-file client.jwt --keylog client.keys \
      --message "hello through the relay"'
wait_for_metric '^sbrp_relay_connections\{role="client"\} 0$'
wait_for_metric '^sbrp_relay_sessions_ended_total\{state="paired"\} 1$'
show "curl -s 127.0.0.1:9187/metrics | grep -E '^sbrp_relay_(connections|sessions|frames_forwarded|controls_sent|handshake_latency_seconds_count)'"
echo '$ kill %2 %1      # the daemon, then the relay (SIGTERM: 1001 to anyone left, captures flushed, exit 0)'
kill -TERM "$DAEMON"
wait "$DAEMON" 2>/dev/null || true
wait_for_metric '^sbrp_relay_connections\{role="daemon"\} 0$'
kill -TERM "$RELAY"
wait_ok "$RELAY" "sbrp relay"
PIDS=()
show 'sbrp decode --keylog client.keys relay.cap'
# `column -t` pads the last column with blanks, invisible on a terminal: they are cut here.
show $'jq -r \'select(.record=="frame") | [.time[11:23], .conn, .from+"→"+.to, .type, .length, .action, .control // ""] | @tsv\' relay.jsonl | column -t' |
    sed 's/[[:space:]]*$//'
echo '```'

# What the prose around the walkthrough quotes: the relay log's last line, and the claim that
# the daemon's key log decodes to the same transcript.
note "relay.err, last line: $(tail -n1 relay.err)"
if cmp -s <(sbrp decode --keylog client.keys relay.cap) <(sbrp decode --keylog daemon.keys relay.cap); then
    note "sbrp decode --keylog daemon.keys relay.cap: the same transcript"
else
    note "sbrp decode --keylog daemon.keys relay.cap: DIFFERS from the client key log's"
fi
note "modes: relay.cap $(stat -c %a relay.cap), relay.jsonl $(stat -c %a relay.jsonl)"
note "relay.err:"
sed 's/^/    /' relay.err >&2
