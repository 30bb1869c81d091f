#!/usr/bin/env bash
# Timers of keyed process functions (issue #9, step 2): a session cluster
# of real processes (a JobManager, two TaskManagers of 2 slots) runs
# jobs/timer_count.so, out-of-order event time (up to 999 ms of disorder
# under a 1000 ms bound), per-key counts of 100 ms windows printed by
# event-time timers, and one processing-time timer per key on the fake
# clock:
#   A  parallelism 2, paced: a savepoint with cancellation in the middle,
#      with event-time timers pending (windows whose records are all read
#      but that the watermark has not reached) and every key's
#      processing-time timer pending (the clock stays before them);
#   B  restored from it at parallelism 3 into LMDB, the clock past the
#      processing-time timers: every window B prints is exact and printed
#      once, and so is every window A printed (the print sink drops what it
#      still buffered at the cancellation, so A's part is not complete and
#      D makes the exact claim); every key's processing-time timer fired in
#      B once, none in A;
#   C  the same input in one run at parallelism 1: every window, exact;
#   D  a stop-with-savepoint (no drain, as Flink's default) in the middle,
#      which finishes the job with its output flushed, restored at
#      parallelism 3 into LMDB with event-time timers pending: the stopped
#      job fires no timer after its savepoint (its end is no final
#      watermark), no window prints in both runs, and together they print
#      every window exactly: no pending timer lost or doubled by the key
#      groups' move;
#   E  D with the same counts made by fl_window (--window): windows and
#      their timers survive the stop and the move to 3 subtasks in LMDB;
#   F  D with session windows of a 100 ms gap (--session): open sessions,
#      merged as records arrive out of order, survive it too (the reference:
#      each key's times sorted, split where the next is over 100 ms later).
#   G  D with sliding windows of 1000 ms every 500 ms (--sliding);
#   H  D with tumbling windows of 1000 ms and a count trigger of 3
#      (--trigger-count 3): a line per 3 records of a window with its count
#      so far, so the trigger's count and the window's contents survive the
#      move (the reference: 3, 6, ... per window, never its remainder);
#   I  D with a count evictor of 5 (--evictor-count 5): the window's records
#      and their timestamps survive it (the reference: min(count, 5));
#   J  D with a bound of 300 ms and an allowed lateness of 1000 ms
#      (--lateness): records are late, none dropped, each fires its window
#      again; which are late depends on when watermarks go out, so the
#      claim is on each window's last firing: its count exact, every window
#      there, no firing printed twice.
#   L  E stopped, restored with an allowed lateness of 500 ms (--lateness-ms:
#      no record is late, so the same windows fire once each): E's windows
#      imply their end timers (no lateness, the default trigger), L's must
#      get them from the restored windows; M the other way round, its
#      windows' cleanup timers past the restored job's cleanup time.
#   K  processing-time windows of 100 ms on the fake clock (--proc): the
#      clock stays at 5000 while the job runs and is stopped (nothing
#      fires), its windows and their timers restored at 3 into LMDB, where
#      the rest of the records join the same windows; once a marker record
#      of 40 more keys reached the windows after them (each creates a file),
#      the test moves the clock past the windows while the generator waits
#      for it: every key's records counted exactly once across both runs.
#   N  a processing-time timer 20 ms after each record (--proc-each), the
#      clock moved to the wall clock's time every few ms while the job runs
#      and is stopped, then restored at 3: the stopped job fires no timer
#      between its savepoint's barrier and its end (Flink quiesces a task's
#      processing-time service when a stop ends its input), so no timer
#      prints in both runs — one fired after the barrier was in the
#      savepoint too, and the restored job fired it again.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_setup
source "$(dirname "$0")/cluster.sh"
JOB_SO=$JOBS/timer_count.so
[ -e "$JOB_SO" ] || { echo "missing $JOB_SO (build the project first)" >&2; exit 1; }
N=30000
KEYS=40

CLOCK=$WORK/clock
set_clock() { echo "$1" >"$CLOCK.tmp" && mv "$CLOCK.tmp" "$CLOCK"; }
set_clock 1000
export FLINC_FAKE_CLOCK_FILE=$CLOCK

# The reference: per key and 100 ms window of event time, its count.
awk -v n=$N -v keys=$KEYS 'BEGIN {
	for (o = 0; o < n; o++) {
		rel = 2 * o + (o * 7919) % 1000
		c[o % keys "\t" rel - rel % 100]++
	}
	for (kw in c) {
		split(kw, p, "\t")
		printf "%d\t%.0f\t%d\n", p[1], 1700000000000 + p[2], c[kw]
	}
}' | sort >"$WORK/expected"
for k in $(seq 0 $((KEYS - 1))); do printf '%d\tproc\t1500\n' "$k"; done | sort >"$WORK/expected-proc"
awk -v n=$N -v keys=$KEYS 'BEGIN { for (o = 0; o < n; o++) print o % keys "\t" 2 * o + (o * 7919) % 1000 }' |
	sort -k1,1n -k2,2n | awk -F'\t' '
	function out() { printf "%d\t%.0f\t%d\n", k, 1700000000000 + s, c }
	$1 != k || $2 - l > 100 { if (c) out(); k = $1; s = $2; c = 0 }
	{ l = $2; c++ }
	END { if (c) out() }' | sort >"$WORK/expected-session"

start_jm jm -D execution.checkpointing.dir="file://$WORK/ckp"
mkdir -p "$WORK/state"
start_tm tm-a -D "taskmanager.state.local.root-dirs=$WORK/state"
start_tm tm-b -D "taskmanager.state.local.root-dirs=$WORK/state"
check "/overview reports 2 TaskManagers" wait_overview 2 20
upload "$JOB_SO"
TC_JAR=$JAR

T=$'\t'
declare -A MARK
mark_logs() { local t; for t in tm-a tm-b; do MARK[$t]=$(wc -l <"$WORK/$t.log"); done; }
lines() { # lines OUT: the job's printed rows since mark_logs, prefixes cut
	local t
	for t in tm-a tm-b; do tail -n +$((MARK[$t] + 1)) "$WORK/$t.log"; done |
		sed -E 's/^[0-9]+> //' |
		grep -E "^[0-9]+${T}([0-9]+${T}[0-9]+|proc${T}-?[0-9]+)\$" >"$1" || true
}
windows() { grep -v "${T}proc${T}" "$1" || true; }
procs() { grep "${T}proc${T}" "$1" || true; }
restored_timers() { # "EVENT PROC": the timers the restored subtasks logged since mark_logs
	local t
	for t in tm-a tm-b; do tail -n +$((MARK[$t] + 1)) "$WORK/$t.log"; done |
		sed -nE 's/.* ([0-9]+) event-time and ([0-9]+) processing-time timers restored.*/\1 \2/p' |
		awk '{ e += $1; p += $2 } END { print e + 0, p + 0 }'
}
some_printed() { # some_printed windows|procs MIN SECONDS: MIN such lines within SECONDS
	for _ in $(seq $(($3 * 10))); do
		lines "$WORK/probe"
		[ "$("$1" "$WORK/probe" | wc -l)" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
savepoint_cancel() {
	local job=$JOB trigger
	api POST "/jobs/$job/savepoints" -H 'Content-Type: application/json' \
		-d "{\"target-directory\": \"$WORK/$1\", \"cancel-job\": true}"
	trigger=$(json '."request-id"')
	wait_savepoint "$job" "$trigger" 30 || true
	check "$1: the savepoint completes" test "$STATUS,$(json '.operation."failure-cause" // "none"')" = "COMPLETED,none"
	wait_state "$job" CANCELED 20 || fail "$1: the job did not cancel: $STATE"
}
run_and_finish() { # run_and_finish NAME JSON
	run_jar "$TC_JAR" "$2" || { fail "$1: not submitted"; return 1; }
	if wait_state "$JOB" 'FINISHED|FAILED|CANCELED' 120 && [ "$STATE" = FINISHED ]; then
		pass "$1: FINISHED"
	else
		fail "$1: ended $STATE" "$(curl -s "http://127.0.0.1:$REST_PORT/jobs/$JOB/exceptions" | head -c 600)"
		return 1
	fi
}

mark_logs
run_jar "$TC_JAR" "{\"parallelism\": 2, \"programArgsList\": [\"--count\", \"$N\", \"--rate\", \"5000\"], \"flinkConfiguration\": {\"execution.checkpointing.interval\": \"300 ms\", \"pipeline.auto-watermark-interval\": \"20 ms\"}}"
wait_state "$JOB" RUNNING 20 || fail "A: the job is not RUNNING: $STATE"
check "A: windows printed by event-time timers" some_printed windows 200 30
savepoint_cancel sp1
lines "$WORK/a.lines"
windows "$WORK/a.lines" | sort -u >"$WORK/a.windows"
NA=$(wc -l <"$WORK/a.windows")
if [ "$NA" -gt 0 ] && [ "$NA" -lt "$(wc -l <"$WORK/expected")" ]; then
	pass "A: the job stopped in the middle ($NA of $(wc -l <"$WORK/expected") windows printed)"
else
	fail "A: $NA windows printed: not stopped in the middle"
fi
check "A: every window printed is exact" test "$(comm -23 "$WORK/a.windows" "$WORK/expected" | wc -l)" -eq 0
check "A: no processing-time timer fired (the clock is before them)" test "$(procs "$WORK/a.lines" | wc -l)" -eq 0

set_clock 2000
mark_logs
if run_and_finish "B: restored at parallelism 3 into LMDB" "{\"parallelism\": 3, \"programArgsList\": [\"--count\", \"$N\", \"--rate\", \"0\"], \"flinkConfiguration\": {\"execution.savepoint.path\": \"$SP\", \"state.backend.type\": \"lmdb\"}}"; then
	lines "$WORK/b.lines"
	windows "$WORK/b.lines" >"$WORK/b.windows"
	check "B: no window printed twice after the restore" test "$(sort "$WORK/b.windows" | uniq -d | wc -l)" -eq 0
	check "B: every window printed after the restore is exact" \
		test "$(sort "$WORK/b.windows" | comm -23 - "$WORK/expected" | wc -l)" -eq 0
	RESTORED=$(restored_timers)
	echo "B: timers restored (event-time, processing-time): $RESTORED"
	check "B: event-time timers were pending in the savepoint" test "${RESTORED% *}" -gt 0
	check "B: every key's processing-time timer was in it" test "${RESTORED#* }" -eq "$KEYS"
	check "B: every key's processing-time timer fired once, at its time" \
		diff -q "$WORK/expected-proc" <(procs "$WORK/b.lines" | sort)
fi

mark_logs
if run_and_finish "C: one run at parallelism 1" "{\"parallelism\": 1, \"programArgsList\": [\"--count\", \"$N\"]}"; then
	lines "$WORK/c.lines"
	check "C: every window once, its count exact" diff -q "$WORK/expected" <(windows "$WORK/c.lines" | sort)
fi

# G-J's references, over windows of 1000 ms: per key and window start its
# count n (sliding: every 500 ms), then what fires.
awk -v n=$N -v keys=$KEYS 'BEGIN {
	for (o = 0; o < n; o++) {
		rel = 2 * o + (o * 7919) % 1000
		for (s = rel - rel % 500; s > rel - 1000; s -= 500)
			c[o % keys "\t" s]++
	}
	for (kw in c) {
		split(kw, p, "\t")
		printf "%d\t%.0f\t%d\n", p[1], 1700000000000 + p[2], c[kw]
	}
}' | sort >"$WORK/expected-sliding"
awk -v n=$N -v keys=$KEYS 'BEGIN {
	for (o = 0; o < n; o++) {
		rel = 2 * o + (o * 7919) % 1000
		c[o % keys "\t" rel - rel % 1000]++
	}
	for (kw in c) {
		split(kw, p, "\t")
		printf "%d\t%.0f\t%d\n", p[1], 1700000000000 + p[2], c[kw]
	}
}' | sort >"$WORK/expected-1000"
awk -F'\t' '{ for (i = 3; i <= $3; i += 3) printf "%s\t%s\t%d\n", $1, $2, i }' \
	"$WORK/expected-1000" | sort >"$WORK/expected-trigger"
awk -F'\t' '{ printf "%s\t%s\t%d\n", $1, $2, ($3 > 5 ? 5 : $3) }' "$WORK/expected-1000" |
	sort >"$WORK/expected-evictor"
# last_firings FILE...: each window's line with the largest count.
last_firings() { sort -t "$T" -k1,1n -k2,2n -k3,3nr "$@" | awk -F'\t' '$1 "\t" $2 != w { print; w = $1 "\t" $2 }' | sort; }

# stop_and_restore TAG EXTRA_ARGS EXPECTED [last|-] [RESTORE_ARGS]: D, a stop-with-savepoint
# restored at 3 (with RESTORE_ARGS for EXTRA_ARGS when given)
stop_and_restore() {
	mark_logs
	run_jar "$TC_JAR" "{\"parallelism\": 2, \"programArgsList\": [\"--count\", \"$N\", \"--rate\", \"5000\"$2], \"flinkConfiguration\": {\"pipeline.auto-watermark-interval\": \"20 ms\"}}" ||
		{ fail "$1: not submitted"; return 0; }
	D=$JOB
	wait_state "$D" RUNNING 20 || fail "$1: the job is not RUNNING: $STATE"
	check "$1: windows printed by event-time timers" some_printed windows 200 30
	stop_with_savepoint "$1" "$D" "$WORK/sp-stop-$1"
	lines "$WORK/$1-d.lines"
	windows "$WORK/$1-d.lines" | sort >"$WORK/$1-d.windows"
	ND=$(wc -l <"$WORK/$1-d.windows")
	check "$1: the job stopped in the middle ($ND windows)" test "$ND" -gt 0 -a "$ND" -lt "$(wc -l <"$3")"
	mark_logs
	if run_and_finish "$1: restored from the stop's savepoint at parallelism 3 into LMDB" "{\"parallelism\": 3, \"programArgsList\": [\"--count\", \"$N\", \"--rate\", \"0\"${5-$2}], \"flinkConfiguration\": {\"execution.savepoint.path\": \"$SP\", \"state.backend.type\": \"lmdb\"}}"; then
		RESTORED=$(restored_timers)
		echo "$1: timers restored (event-time, processing-time): $RESTORED"
		check "$1: event-time timers were pending in the stop's savepoint" test "${RESTORED% *}" -gt 0
		lines "$WORK/$1-e.lines"
		windows "$WORK/$1-e.lines" | sort >"$WORK/$1-e.windows"
		check "$1: no window printed by both the stopped and the restored job" \
			test "$(comm -12 "$WORK/$1-d.windows" "$WORK/$1-e.windows" | wc -l)" -eq 0
		if [ "${4:-}" = last ]; then
			last_firings "$WORK/$1-d.windows" "$WORK/$1-e.windows" >"$WORK/$1-last"
			check "$1: together each window's last firing has its exact count" \
				diff -q "$3" "$WORK/$1-last"
			check "$1: windows fired again for late records" \
				test "$(sort "$WORK/$1-d.windows" "$WORK/$1-e.windows" | wc -l)" -gt "$(wc -l <"$3")"
		else
			check "$1: together every firing once, exact" \
				diff -q "$3" <(sort "$WORK/$1-d.windows" "$WORK/$1-e.windows")
		fi
	fi
}

stop_and_restore D "" "$WORK/expected"
stop_and_restore E ', "--window"' "$WORK/expected"
stop_and_restore F ', "--session"' "$WORK/expected-session"
stop_and_restore G ', "--sliding"' "$WORK/expected-sliding"
stop_and_restore H ', "--trigger-count", "3"' "$WORK/expected-trigger"
stop_and_restore I ', "--evictor-count", "5"' "$WORK/expected-evictor"
stop_and_restore J ', "--lateness"' "$WORK/expected-1000" last
stop_and_restore L ', "--window"' "$WORK/expected" - ', "--window", "--lateness-ms", "500"'
stop_and_restore M ', "--window", "--lateness-ms", "500"' "$WORK/expected" - ', "--window"'

# K: processing-time windows across a stop and a restore at 3.
set_clock 5000
rm -f "$CLOCK".k*
mark_logs
run_jar "$TC_JAR" "{\"parallelism\": 2, \"programArgsList\": [\"--count\", \"$N\", \"--rate\", \"3000\", \"--proc\"]}" ||
	fail "K: not submitted"
K=$JOB
wait_state "$K" RUNNING 20 || fail "K: the job is not RUNNING: $STATE"
sleep 2
stop_with_savepoint K "$K" "$WORK/sp-stop-K"
lines "$WORK/K-d.lines"
check "K: nothing fired before the clock moved" test "$(wc -l <"$WORK/K-d.lines")" -eq 0
mark_logs
# Each record flushed as it is made (a buffer timeout of 0 and a paced
# generator: an unpaced one flushes every 256 records): none is still in a
# buffer when the generator waits for the clock.
run_jar "$TC_JAR" "{\"parallelism\": 3, \"programArgsList\": [\"--count\", \"$N\", \"--rate\", \"200000\", \"--proc\"], \"flinkConfiguration\": {\"execution.savepoint.path\": \"$SP\", \"state.backend.type\": \"lmdb\", \"execution.buffer-timeout\": \"0 ms\"}}" ||
	fail "K: the restore was not submitted"
markers() { find "$WORK" -maxdepth 1 -name "clock.k*" | wc -l; }
for _ in $(seq 1200); do [ "$(markers)" -ge "$KEYS" ] && break; sleep 0.1; done
check "K: every record reached the windows (the $KEYS markers after them)" test "$(markers)" -eq "$KEYS"
set_clock 6000
sleep 1
set_clock 7000
if wait_state "$JOB" 'FINISHED|FAILED|CANCELED' 120 && [ "$STATE" = FINISHED ]; then
	pass "K: restored from the stop's savepoint at parallelism 3 into LMDB: FINISHED"
	RESTORED=$(restored_timers)
	echo "K: timers restored (event-time, processing-time): $RESTORED"
	check "K: processing-time timers were pending in the stop's savepoint" test "${RESTORED#* }" -gt 0
	lines "$WORK/K-e.lines"
	awk -F'\t' '$1 < 40 && $2 == 5000 { c[$1] += $3; n[$1]++ }
		END { for (k in c) printf "%d\t%d\t%d\n", k, n[k], c[k] }' "$WORK/K-e.lines" | sort -n >"$WORK/K-got"
	awk -v n=$N -v keys=$KEYS 'BEGIN { for (k = 0; k < keys; k++) printf "%d\t1\t%d\n", k, int(n / keys) + (k < n % keys) }' |
		sort -n >"$WORK/K-want"
	check "K: each key's window [5000, 5100) fired once with every record of the key" \
		diff -q "$WORK/K-want" "$WORK/K-got"
else
	fail "K: ended $STATE" "$(curl -s "http://127.0.0.1:$REST_PORT/jobs/$JOB/exceptions" | head -c 600)"
fi

# N: processing-time timers across a stop, on a clock that moves.
rm -f "$WORK/clock.moving"
touch "$WORK/clock.moving"
(
	while [ -e "$WORK/clock.moving" ]; do
		now=${EPOCHREALTIME/./}
		set_clock "${now%???}"
		sleep 0.002
	done
) &
CLOCK_PID=$!
mark_logs
run_jar "$TC_JAR" "{\"parallelism\": 2, \"programArgsList\": [\"--count\", \"$N\", \"--rate\", \"5000\", \"--proc-each\"]}" ||
	fail "N: not submitted"
wait_state "$JOB" RUNNING 20 || fail "N: the job is not RUNNING: $STATE"
check "N: processing-time timers fire while the job runs" some_printed procs 500 30
stop_with_savepoint N "$JOB" "$WORK/sp-stop-N"
lines "$WORK/N-d.lines"
procs "$WORK/N-d.lines" | sort >"$WORK/N-d.timers"
mark_logs
if run_and_finish "N: restored from the stop's savepoint at parallelism 3" "{\"parallelism\": 3, \"programArgsList\": [\"--count\", \"$N\", \"--rate\", \"5000\", \"--proc-each\"], \"flinkConfiguration\": {\"execution.savepoint.path\": \"$SP\"}}"; then
	RESTORED=$(restored_timers)
	echo "N: timers restored (event-time, processing-time): $RESTORED"
	check "N: processing-time timers were pending in the stop's savepoint" test "${RESTORED#* }" -gt 0
	lines "$WORK/N-e.lines"
	procs "$WORK/N-e.lines" | sort >"$WORK/N-e.timers"
	echo "N: timers fired: $(wc -l <"$WORK/N-d.timers") by the stopped job, $(wc -l <"$WORK/N-e.timers") by the restored one"
	check "N: no timer fired twice in a run" test "$(cat "$WORK/N-d.timers" "$WORK/N-e.timers" | uniq -d | wc -l)" -eq 0
	check "N: no timer fired by both the stopped and the restored job" \
		test "$(comm -12 "$WORK/N-d.timers" "$WORK/N-e.timers" | wc -l)" -eq 0
fi
rm -f "$WORK/clock.moving"
wait "$CLOCK_PID" 2>/dev/null || true

stop_all
logs_clean "$WORK"/jm.log "$WORK"/tm-*.log
it_finish
