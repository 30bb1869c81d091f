#!/usr/bin/env bash
# Two inputs (issue #9): jobs/two_inputs.so connects two event-time
# generators ("orders", "payments"; the second's event time runs twice as
# fast, so the operator's watermark must be the minimum of both inputs).
#   L1 --local at parallelism 1 and L2 at 2: a keyed co-process function
#      counting each input's records per key and 100 ms window in shared
#      keyed state, printed by event-time timers: exact against a reference
#      computed here with awk;
#   L3 co_map of both streams at parallelism 2: every record of each input
#      once, through its own function;
#   L4 keys of different types on the two inputs: the job FAILS naming both;
#   L5 an on_timer on unkeyed connected streams: refused when the graph is
#      built, saying why;
#   S  a session cluster of processes (a JobManager, two TaskManagers): the
#      co-process at parallelism 2, paced, stopped with a savepoint in the
#      middle (event-time timers pending), restored at parallelism 3 into
#      LMDB: the restored subtasks rebuild the timers of their key groups,
#      no window prints in both runs, together every window once, exact.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_setup
JOB_SO=$JOBS/two_inputs.so
[ -e "$JOB_SO" ] || { echo "missing $JOB_SO (build the project first)" >&2; exit 1; }
N=12000

# The reference of --mode co-process: per key and 100 ms window, each
# input's count (0 when it has none there).
reference() {
	awk -v n="$1" 'BEGIN {
		for (o = 0; o < n; o++) { rel = 2 * o + (o * 7919) % 1000; a[o % 40 "\t" rel - rel % 100]++ }
		for (o = 0; o < int(n / 2); o++) { rel = 4 * o + (o * 104729) % 1000; b[o % 40 "\t" rel - rel % 100]++ }
		for (k in a) seen[k] = 1
		for (k in b) seen[k] = 1
		for (k in seen) {
			split(k, p, "\t")
			printf "%d\t%.0f\t%d\t%d\n", p[1], 1700000000000 + p[2], a[k] + 0, b[k] + 0
		}
	}' | LC_ALL=C sort
}
reference $N >"$WORK/expected"

for p in 1 2; do
	run_flinc "L$p" -p $p "$JOB_SO" --count $N
	check_finished "L$p"
	same_file "L$p: co-process counts at parallelism $p" "$WORK/expected" \
		<(strip_prefix <"$WORK/L$p.out" | LC_ALL=C sort)
done

run_flinc L3 -p 2 "$JOB_SO" --count 3000 --mode co-map
check_finished L3
same_file "L3: co_map: each input's records once, each through its function" \
	<({ seq 0 2999 | sed 's/^/A\t/'; seq 0 1499 | sed 's/^/B\t/'; } | LC_ALL=C sort) \
	<(strip_prefix <"$WORK/L3.out" | LC_ALL=C sort)

run_flinc L4 -p 2 "$JOB_SO" --count 1000 --mode key-types
check "L4: keys of different types fail the job" test "$RC" -ne 0
check "L4: the failure names both key types" \
	grep -q "the keys of its two inputs differ in type: the first input's key is (int64), the second's (string)" "$WORK/L4.err"

run_flinc L5 "$JOB_SO" --count 10 --mode timer-unkeyed
check "L5: an on_timer on unkeyed inputs is refused" test "$RC" -ne 0
check "L5: the refusal says timers need keyed inputs" \
	grep -q "co_process: an on_timer function needs keyed inputs" "$WORK/L5.err"

# --- S: stop-with-savepoint and a restore at another parallelism ---------
source "$(dirname "$0")/cluster.sh"
start_jm jm
mkdir -p "$WORK/state"
start_tm tm-a -D "taskmanager.state.local.root-dirs=$WORK/state"
start_tm tm-b -D "taskmanager.state.local.root-dirs=$WORK/state"
check "/overview reports 2 TaskManagers" wait_overview 2 20
upload "$JOB_SO"
T=$'\t'
declare -A MARK
mark_logs() { local t; for t in tm-a tm-b; do MARK[$t]=$(wc -l <"$WORK/$t.log"); done; }
lines() { # lines OUT: the job's printed rows since mark_logs
	local t
	for t in tm-a tm-b; do tail -n +$((MARK[$t] + 1)) "$WORK/$t.log"; done | strip_prefix |
		grep -E "^[0-9]+${T}[0-9]+${T}[0-9]+${T}[0-9]+\$" | LC_ALL=C sort >"$1" || true
}
restored_timers() {
	local t
	for t in tm-a tm-b; do tail -n +$((MARK[$t] + 1)) "$WORK/$t.log"; done |
		sed -nE 's/.* ([0-9]+) event-time and ([0-9]+) processing-time timers restored.*/\1/p' |
		awk '{ e += $1 } END { print e + 0 }'
}
some_printed() {
	for _ in $(seq 300); do
		lines "$WORK/probe"
		[ "$(wc -l <"$WORK/probe")" -ge 100 ] && return 0
		sleep 0.1
	done
	return 1
}

mark_logs
run_jar "$JAR" "{\"parallelism\": 2, \"programArgsList\": [\"--count\", \"$N\", \"--rate\", \"3000\"], \"flinkConfiguration\": {\"pipeline.auto-watermark-interval\": \"20 ms\"}}" ||
	fail "S: not submitted"
S1=$JOB
wait_state "$S1" RUNNING 20 || fail "S: the job is not RUNNING: $STATE"
check "S: windows printed by the co-process's timers" some_printed
api POST "/jobs/$S1/stop" -H 'Content-Type: application/json' -d "{\"targetDirectory\": \"$WORK/sp\"}"
trigger=$(json '."request-id"')
status=
for _ in $(seq 300); do
	api GET "/jobs/$S1/savepoints/$trigger"
	status=$(json .status.id)
	[ "$status" = COMPLETED ] && break
	sleep 0.1
done
SP=$(json .operation.location)
SP=${SP#file:}
check "S: the stop's savepoint completes" test "$status" = COMPLETED
wait_state "$S1" 'FINISHED|FAILED|CANCELED' 20 || true
check "S: the stopped job FINISHED" test "$STATE" = FINISHED
lines "$WORK/s1.lines"
NS=$(wc -l <"$WORK/s1.lines")
check "S: the job stopped in the middle ($NS of $(wc -l <"$WORK/expected") windows)" \
	test "$NS" -gt 0 -a "$NS" -lt "$(wc -l <"$WORK/expected")"
mark_logs
run_jar "$JAR" "{\"parallelism\": 3, \"programArgsList\": [\"--count\", \"$N\"], \"flinkConfiguration\": {\"execution.savepoint.path\": \"$SP\", \"state.backend.type\": \"lmdb\"}}" ||
	fail "S: restore not submitted"
S2=$JOB
if wait_state "$S2" 'FINISHED|FAILED|CANCELED' 120 && [ "$STATE" = FINISHED ]; then
	pass "S: restored at parallelism 3 into LMDB: FINISHED"
	lines "$WORK/s2.lines"
	R=$(restored_timers)
	check "S: event-time timers were pending in the savepoint ($R restored)" test "$R" -gt 0
	check "S: no window printed by both runs" \
		test "$(comm -12 "$WORK/s1.lines" "$WORK/s2.lines" | wc -l)" -eq 0
	same_file "S: together every window once, exact" "$WORK/expected" \
		<(LC_ALL=C sort "$WORK/s1.lines" "$WORK/s2.lines")
else
	fail "S: the restored job ended $STATE" "$(job_why "$S2")"
fi
stop_all
logs_clean "$WORK"/*.err "$WORK"/jm.log "$WORK"/tm-*.log
it_finish
