#!/usr/bin/env bash
# The socket text source (fl_socket_text, Flink's socketTextStream) against a
# real TCP server on loopback (tools/line_server.c), with `flinc run --local`:
#   A  two connections in turn (max_retry 1): every line of both, in order,
#      a CRLF ending and a last line without a newline included, then the
#      job FINISHED with the second connection's end;
#   B  nothing listening: FAILED naming the address and the refusal, at once
#      with max_retry 0, after two retries 500 ms apart with max_retry 2;
#   C  a parallelism other than 1 refused when the graph is built;
#   D  examples/socket_window_word_count.so: the counts of its processing-time
#      windows add up to each word's count in the input;
#   E  a connection that stays silent: checkpoints complete meanwhile (the
#      source keeps nothing), and SIGINT cancels the job at once.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_setup
SOCK=$JOBS/socket_lines.so
SWWC=$EXAMPLES/socket_window_word_count.so
SERVER=$FLINC_BUILD_DIR/tests/integration/line_server
for f in "$SOCK" "$SWWC" "$SERVER"; do
	[ -e "$f" ] || { echo "missing $f (build the project first)" >&2; exit 1; }
done
IT_TIMEOUT=120
ID='[0-9a-f]{32}'

# serve TAG HOLD_MS FILE...: a line server in the background (SERVER_PID),
# its port in PORT once it listens.
serve() {
	local tag=$1
	shift
	rm -f "$WORK/$tag.port"
	"$SERVER" "$WORK/$tag.port" "$@" 2>"$WORK/$tag.server.err" &
	SERVER_PID=$!
	for _ in $(seq 200); do
		[ -s "$WORK/$tag.port" ] && break
		sleep 0.05
	done
	PORT=$(cat "$WORK/$tag.port")
}

# ------------------------------------------------ A: two connections
seq 1 1000 | sed 's/^/first /' >"$WORK/a.txt"
{
	seq 1 499 | sed 's/^/second /'
	printf 'crlf line\r\nlast line without a newline'
} >"$WORK/b.txt"
{
	cat "$WORK/a.txt"
	seq 1 499 | sed 's/^/second /'
	printf 'crlf line\nlast line without a newline\n'
} >"$WORK/a-b.want"
serve a 0 "$WORK/a.txt" "$WORK/b.txt"
run_flinc two "$SOCK" 127.0.0.1 "$PORT" 1 --output "$WORK/out-two"
check_finished two
cat "$WORK/out-two"/part-* >"$WORK/two.got" 2>/dev/null || true
same_file "two: both connections' lines, in order" "$WORK/a-b.want" "$WORK/two.got"
check "two: the source connected again 500 ms after the first connection ended" \
	grep -q "the connection ended; retry 1 of 1 in 500 ms" "$(log_of two)"
wait "$SERVER_PID" || fail "two: the line server failed: $(cat "$WORK/a.server.err")"

# ------------------------------------------------ B: nothing listening
serve none 0 # exits at once: its port refuses connections
wait "$SERVER_PID" || true
run_flinc refused "$SOCK" 127.0.0.1 "$PORT" 0
expect_last refused 1 "^Job 'SocketLines' \($ID\) FAILED: source 'Source: Socket Stream': cannot connect to 127\.0\.0\.1:$PORT: Connection refused$"
start=$(date +%s%N)
run_flinc refused2 "$SOCK" 127.0.0.1 "$PORT" 2
took=$((($(date +%s%N) - start) / 1000000))
expect_last refused2 1 "FAILED: source 'Source: Socket Stream': cannot connect to 127\.0\.0\.1:$PORT: Connection refused$"
check "refused2: two retries 500 ms apart before it failed (${took} ms)" \
	test "$(grep -c "Connection refused; retry [12] of 2 in 500 ms" "$(log_of refused2)")" = 2 -a "$took" -ge 1000

# ------------------------------------------------ C: not a parallel source
run_flinc par "$SOCK" 127.0.0.1 9 0 --parallelism 2
expect_last par 1 "set_parallelism: 'Source: Socket Stream' is not a parallel operator: its parallelism must be 1, not 2"
run_flinc badport "$SOCK" 127.0.0.1 70000 0
expect_last badport 1 "socket_text: port 70000 is outside 1\.\.65535"

# ------------------------------------------------ D: windowed word count
awk 'BEGIN { srand(7); for (i = 0; i < 3000; i++) { n = 1 + int(rand() * 6); l = ""; for (j = 0; j < n; j++) l = l (j ? " " : "") "w" int(rand() * 40); print l } }' >"$WORK/words.txt"
tr ' ' '\n' <"$WORK/words.txt" | sort | uniq -c | awk '{print $2 "\t" $1}' >"$WORK/words.want"
# The connection stays open 1.5 s after the last line: every 200 ms window
# has fired before the input ends.
serve words 1500 "$WORK/words.txt"
run_flinc swwc "$SWWC" --hostname localhost --port "$PORT" --window-ms 200 --output "$WORK/out-swwc"
check_finished swwc
cat "$WORK/out-swwc"/part-* 2>/dev/null | awk -F'\t' '{s[$1] += $2} END {for (w in s) print w "\t" s[w]}' |
	sort >"$WORK/swwc.got" || true
same_file "swwc: the windows' counts add up to each word's count" "$WORK/words.want" "$WORK/swwc.got"
wait "$SERVER_PID" || fail "swwc: the line server failed: $(cat "$WORK/words.server.err")"

# ------------------------------------------------ E: silent, checkpointed, cancelled
printf 'one\ntwo\n' >"$WORK/few.txt"
serve silent -1 "$WORK/few.txt" # keeps the connection open until the peer closes it
start_flinc silent -D execution.checkpointing.interval=100ms -D execution.checkpointing.dir="file://$WORK/ckp" \
	"$SOCK" 127.0.0.1 "$PORT" 0
completed=0
if wait_line silent "^Job has been submitted with JobID" 30; then
	for _ in $(seq 200); do
		completed=$(grep -c "Completed checkpoint [0-9]* of job" "$(log_of silent)" 2>/dev/null || true)
		[ "$completed" -ge 3 ] && break
		sleep 0.05
	done
	kill -INT "$BG_PID"
fi
check "silent: checkpoints complete while the socket sends nothing ($completed)" test "$completed" -ge 3
wait_flinc 30
expect_last silent 130 "^Job 'SocketLines' \($ID\) CANCELED after [0-9]+ ms$"
check "silent: the lines that came were printed" test "$(strip_prefix <"$WORK/silent.out" | tr '\n' ' ')" = "one two "
wait "$SERVER_PID" || true

logs_clean "$WORK"/*.log "$WORK"/*.err
it_finish
