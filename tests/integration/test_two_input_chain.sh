#!/usr/bin/env bash
# A two-input operator chained with both its inputs (issue #9, "two-input
# operators chain at any position"): jobs/two_inputs.so --mode chained keys
# orders into a process function that counts each key's records in keyed
# state, rebalances payments into a map, and joins both with a co-map on
# forward edges at the job's parallelism: the process function, the map
# and the co-map are one task (a chain that is a DAG).
#   P  `flinc plan` shows that task: one vertex after the two sources, its
#      two heads, the co-map's feeders, no fourth vertex;
#   C1, C2 --local at parallelism 1 and 2: every record once, the keyed
#      counts exact, against a reference computed here with awk;
#   S  a session cluster of processes: at parallelism 2, paced, stopped
#      with a savepoint in the middle, restored at parallelism 3 into LMDB
#      (the chained process function's keyed state moves by key group):
#      no line printed by both runs, together every line once, exact.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_setup
JOB_SO=$JOBS/two_inputs.so
[ -e "$JOB_SO" ] || { echo "missing $JOB_SO (build the project first)" >&2; exit 1; }
N=6000

# The reference: order o is (key o % 40, count o / 40 + 1), payment o is
# (key o % 40, 0).
awk -v n=$N 'BEGIN {
	for (o = 0; o < n; o++) printf "A\t%d\t%d\t%d\n", o % 40, o, int(o / 40) + 1
	for (o = 0; o < int(n / 2); o++) printf "B\t%d\t%d\t0\n", o % 40, o
}' | LC_ALL=C sort >"$WORK/expected"

plan_flinc P -p 2 "$JOB_SO" --mode chained
check "P: flinc plan succeeds" test "$RC" -eq 0
check "P: the process function, the map, the co-map and the sink are one task" \
	grep -qx 'Vertex 3: KeyedProcess -> Map -> Co-Map -> Sink: Print to Std. Out' "$WORK/P.out"
check "P: three vertices: the two sources and that task" \
	test "$(grep -c '^Vertex ' "$WORK/P.out")" -eq 3
check "P: the orders enter the process function" \
	grep -qx '  input: vertex 1 (Source: Generator) via HASH (key field 0) into KeyedProcess' "$WORK/P.out"
check "P: the payments enter the map" \
	grep -qx '  input: vertex 2 (Source: Generator) via REBALANCE into Map' "$WORK/P.out"
check "P: the task has two heads" test "$(grep -c '^  head ' "$WORK/P.out")" -eq 4
check "P: the co-map is chained after both" \
	grep -qx '  chain Co-Map \[co-map ti_same() input 2 ti_same()\] <- input 1 KeyedProcess, input 2 Map' "$WORK/P.out"

for p in 1 2; do
	run_flinc "C$p" -p $p "$JOB_SO" --count $N --mode chained
	check_finished "C$p"
	strip_prefix <"$WORK/C$p.out" | LC_ALL=C sort >"$WORK/C$p.sorted"
	same_file "C$p: every record once, keyed counts exact, at parallelism $p" \
		"$WORK/expected" "$WORK/C$p.sorted"
	check "C$p: the chained task ran as one ($p subtasks of it)" \
		test "$(grep -c 'task=KeyedProcess -> Map -> Co-Map -> Sink: Print to Std. Out ([0-9]/'"$p"') switched from RUNNING to FINISHED' "$(log_of "C$p")")" -eq "$p"
done

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
		grep -E "^[AB]${T}[0-9]+${T}[0-9]+${T}[0-9]+\$" | LC_ALL=C sort >"$1" || true
}
some_printed() {
	for _ in $(seq 300); do
		lines "$WORK/probe"
		[ "$(wc -l <"$WORK/probe")" -ge 500 ] && return 0
		sleep 0.1
	done
	return 1
}

mark_logs
run_jar "$JAR" "{\"parallelism\": 2, \"programArgsList\": [\"--count\", \"$N\", \"--rate\", \"1500\", \"--mode\", \"chained\"]}" ||
	fail "S: not submitted"
J1=$JOB
wait_state "$J1" RUNNING 20 || fail "S: the job is not RUNNING: $STATE"
check "S: lines printed" some_printed
api POST "/jobs/$J1/stop" -H 'Content-Type: application/json' -d "{\"targetDirectory\": \"$WORK/sp\"}"
TRIGGER=$(json '."request-id"')
wait_savepoint "$J1" "$TRIGGER" 30 || true
check "S: the stop's savepoint completes" test "$STATUS" = COMPLETED
wait_state "$J1" 'FINISHED|FAILED|CANCELED' 20 || true
check "S: the stopped job FINISHED" test "$STATE" = FINISHED
lines "$WORK/S-1.lines"
N1=$(wc -l <"$WORK/S-1.lines")
check "S: the job stopped in the middle ($N1 of $(wc -l <"$WORK/expected") lines)" \
	test "$N1" -gt 0 -a "$N1" -lt "$(wc -l <"$WORK/expected")"
mark_logs
run_jar "$JAR" "{\"parallelism\": 3, \"programArgsList\": [\"--count\", \"$N\", \"--mode\", \"chained\"], \"flinkConfiguration\": {\"execution.savepoint.path\": \"$SP\", \"state.backend.type\": \"lmdb\"}}" ||
	fail "S: restore not submitted"
J2=$JOB
if wait_state "$J2" 'FINISHED|FAILED|CANCELED' 120 && [ "$STATE" = FINISHED ]; then
	pass "S: restored at parallelism 3 into LMDB: FINISHED"
	lines "$WORK/S-2.lines"
	check "S: no line printed by both runs" \
		test "$(comm -12 "$WORK/S-1.lines" "$WORK/S-2.lines" | wc -l)" -eq 0
	# A file, not <(...): same_file reads it twice on a mismatch.
	LC_ALL=C sort "$WORK/S-1.lines" "$WORK/S-2.lines" >"$WORK/S.both"
	same_file "S: together every line once, the keyed counts exact" "$WORK/expected" "$WORK/S.both"
else
	fail "S: the restored job ended $STATE" "$(job_why "$J2")"
fi
stop_all
logs_clean "$WORK"/*.err "$WORK"/jm.log "$WORK"/tm-*.log
it_finish
