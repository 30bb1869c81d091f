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
# Two sources chained (issue #9 (a)): --mode sources runs both generators at
# the job's parallelism into a co-map (one task, one thread serving both
# sources in turns), keyed by key into a process function counting each
# input's records per key and 100 ms window of event time (the operator's
# watermark must be the minimum of both sources': the payments' event time
# runs twice as fast).
#   GP `flinc plan`: the two generators and the co-map are one vertex with
#      two heads, two vertices in all;
#   G1, G2 --local at parallelism 1 and 2, paced, watermarks every 20 ms:
#      the counts exact against awk, the chained task ran as one (p
#      subtasks);
#   FP, F1..F3 two text file sources (several splits each) co-mapped in one
#      task, keyed running counts: the plan shows one task, every line once
#      and the counts exact against awk at parallelism 1, 2 and 3;
#   SG the session cluster: at parallelism 2, paced, stopped with a
#      savepoint in the middle (both sources' positions and the pending
#      windows in it), restored at parallelism 3 into LMDB: no window
#      printed by both runs, together every window once, exact.
#   SF the same with the two text file sources (paced by their co-map): both
#      files' split positions in the savepoint, the running counts continued
#      after the restore at 3: no count printed twice, together exact.
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

# --- G: two generators chained with a co-map ------------------------------
NG=12000
awk -v n="$NG" 'BEGIN {
	for (o = 0; o < n; o++) { rel = 2 * o + (o * 7919) % 1000; a[o % 40 "\t" rel - rel % 100]++ }
	for (o = 0; o < int(n / 2); o++) { rel = 4 * o + (o * 104729) % 1000; b[o % 40 "\t" rel - rel % 100]++ }
	for (k in a) seen[k] = 1
	for (k in b) seen[k] = 1
	for (k in seen) {
		split(k, p, "\t")
		printf "%d\t%.0f\t%d\t%d\n", p[1], 1700000000000 + p[2], a[k] + 0, b[k] + 0
	}
}' | LC_ALL=C sort >"$WORK/expected-g"

plan_flinc GP -p 2 "$JOB_SO" --mode sources
check "GP: flinc plan succeeds" test "$RC" -eq 0
check "GP: both generators and the co-map are one task" \
	grep -qx 'Vertex 1: Source: Generator -> Source: Generator -> Co-Map' "$WORK/GP.out"
check "GP: two vertices: that task and the keyed counts" \
	test "$(grep -c '^Vertex ' "$WORK/GP.out")" -eq 2
check "GP: the task has two heads, one per generator" \
	test "$(grep -c '^  head  Source: Generator \[generator ti_gen_[ab]()\]$' "$WORK/GP.out")" -eq 2
check "GP: the co-map is chained after both" \
	grep -qx '  chain Co-Map \[co-map ti_side_a() input 2 ti_side_b()\] <- input 1 Source: Generator, input 2 Source: Generator' "$WORK/GP.out"
for p in 1 2; do
	# Paced, with frequent watermarks: a watermark above either
	# source's would make that source's records late (windows twice).
	run_flinc "G$p" -p $p -D 'pipeline.auto-watermark-interval=20 ms' "$JOB_SO" \
		--count $NG --rate 6000 --mode sources
	check_finished "G$p"
	strip_prefix <"$WORK/G$p.out" | LC_ALL=C sort >"$WORK/G$p.sorted"
	same_file "G$p: the counts per key and window exact, at parallelism $p" \
		"$WORK/expected-g" "$WORK/G$p.sorted"
	check "G$p: the two sources and the co-map ran as one task ($p subtasks of it)" \
		test "$(grep -c 'task=Source: Generator -> Source: Generator -> Co-Map ([0-9]/'"$p"') switched from RUNNING to FINISHED' "$(log_of "G$p")")" -eq "$p"
done

# --- F: two text file sources chained with a co-map ----------------------
# 200,000 and 90,000 lines (several splits per file): each key's running
# count 1..n exact whatever the order the splits and the files interleave.
awk 'BEGIN { for (i = 0; i < 200000; i++) printf "%d\tA line %d of the first file\n", (i * 7) % 97, i }' >"$WORK/fa.txt"
awk 'BEGIN { for (i = 0; i < 90000; i++) printf "%d\tB line %d\n", (i * 13) % 89, i }' >"$WORK/fb.txt"
awk -F'\t' '{ n[$1]++ } END { for (k in n) for (c = 1; c <= n[k]; c++) printf "%d\t%d\n", k, c }' \
	"$WORK/fa.txt" "$WORK/fb.txt" | LC_ALL=C sort >"$WORK/expected-f"
plan_flinc FP -p 2 "$JOB_SO" --mode files --files "$WORK/fa.txt" "$WORK/fb.txt"
check "FP: both text file sources and the co-map are one task" \
	grep -qx 'Vertex 1: Source: Text File -> Source: Text File -> Co-Map' "$WORK/FP.out"
check "FP: two vertices" test "$(grep -c '^Vertex ' "$WORK/FP.out")" -eq 2
for p in 1 2 3; do
	run_flinc "F$p" -p $p "$JOB_SO" --mode files --files "$WORK/fa.txt" "$WORK/fb.txt"
	check_finished "F$p"
	strip_prefix <"$WORK/F$p.out" | LC_ALL=C sort >"$WORK/F$p.sorted"
	same_file "F$p: every line once, each key's running counts exact, at parallelism $p" \
		"$WORK/expected-f" "$WORK/F$p.sorted"
	check "F$p: the two text sources and the co-map ran as one task ($p subtasks of it)" \
		test "$(grep -c 'task=Source: Text File -> Source: Text File -> Co-Map ([0-9]/'"$p"') switched from RUNNING to FINISHED' "$(log_of "F$p")")" -eq "$p"
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

# --- SG: the two chained generators stopped and restored at 3 -------------
glines() { # glines OUT: the windows printed since mark_logs
	local t
	for t in tm-a tm-b; do tail -n +$((MARK[$t] + 1)) "$WORK/$t.log"; done | strip_prefix |
		grep -E "^[0-9]+${T}[0-9]+${T}[0-9]+${T}[0-9]+\$" | LC_ALL=C sort >"$1" || true
}
some_windows() {
	for _ in $(seq 300); do
		glines "$WORK/probe"
		[ "$(wc -l <"$WORK/probe")" -ge 100 ] && return 0
		sleep 0.1
	done
	return 1
}
mark_logs
run_jar "$JAR" "{\"parallelism\": 2, \"programArgsList\": [\"--count\", \"$NG\", \"--rate\", \"3000\", \"--mode\", \"sources\"], \"flinkConfiguration\": {\"pipeline.auto-watermark-interval\": \"20 ms\"}}" ||
	fail "SG: not submitted"
J1=$JOB
wait_state "$J1" RUNNING 20 || fail "SG: the job is not RUNNING: $STATE"
check "SG: windows printed" some_windows
api POST "/jobs/$J1/stop" -H 'Content-Type: application/json' -d "{\"targetDirectory\": \"$WORK/sp-g\"}"
TRIGGER=$(json '."request-id"')
wait_savepoint "$J1" "$TRIGGER" 30 || true
check "SG: the stop's savepoint completes" test "$STATUS" = COMPLETED
wait_state "$J1" 'FINISHED|FAILED|CANCELED' 20 || true
check "SG: the stopped job FINISHED" test "$STATE" = FINISHED
glines "$WORK/SG-1.lines"
N1=$(wc -l <"$WORK/SG-1.lines")
check "SG: the job stopped in the middle ($N1 of $(wc -l <"$WORK/expected-g") windows)" \
	test "$N1" -gt 0 -a "$N1" -lt "$(wc -l <"$WORK/expected-g")"
mark_logs
run_jar "$JAR" "{\"parallelism\": 3, \"programArgsList\": [\"--count\", \"$NG\", \"--mode\", \"sources\"], \"flinkConfiguration\": {\"execution.savepoint.path\": \"$SP\", \"state.backend.type\": \"lmdb\"}}" ||
	fail "SG: restore not submitted"
J2=$JOB
if wait_state "$J2" 'FINISHED|FAILED|CANCELED' 120 && [ "$STATE" = FINISHED ]; then
	pass "SG: restored at parallelism 3 into LMDB: FINISHED"
	glines "$WORK/SG-2.lines"
	check "SG: no window printed by both runs" \
		test "$(comm -12 "$WORK/SG-1.lines" "$WORK/SG-2.lines" | wc -l)" -eq 0
	LC_ALL=C sort "$WORK/SG-1.lines" "$WORK/SG-2.lines" >"$WORK/SG.both"
	same_file "SG: together every window once, exact" "$WORK/expected-g" "$WORK/SG.both"
else
	fail "SG: the restored job ended $STATE" "$(job_why "$J2")"
fi

# --- SF: the two chained text file sources stopped and restored at 3 ------
flines() { # flines OUT: the running counts printed since mark_logs
	local t
	for t in tm-a tm-b; do tail -n +$((MARK[$t] + 1)) "$WORK/$t.log"; done | strip_prefix |
		grep -E "^[0-9]+${T}[0-9]+\$" | LC_ALL=C sort >"$1" || true
}
some_counts() {
	for _ in $(seq 300); do
		flines "$WORK/probe"
		[ "$(wc -l <"$WORK/probe")" -ge 2000 ] && return 0
		sleep 0.1
	done
	return 1
}
mark_logs
run_jar "$JAR" "{\"parallelism\": 2, \"programArgsList\": [\"--mode\", \"files\", \"--paced\", \"--files\", \"$WORK/fa.txt\", \"$WORK/fb.txt\"]}" ||
	fail "SF: not submitted"
J1=$JOB
wait_state "$J1" RUNNING 20 || fail "SF: the job is not RUNNING: $STATE"
check "SF: counts printed" some_counts
api POST "/jobs/$J1/stop" -H 'Content-Type: application/json' -d "{\"targetDirectory\": \"$WORK/sp-f\"}"
TRIGGER=$(json '."request-id"')
wait_savepoint "$J1" "$TRIGGER" 30 || true
check "SF: the stop's savepoint completes" test "$STATUS" = COMPLETED
wait_state "$J1" 'FINISHED|FAILED|CANCELED' 20 || true
check "SF: the stopped job FINISHED" test "$STATE" = FINISHED
flines "$WORK/SF-1.lines"
N1=$(wc -l <"$WORK/SF-1.lines")
check "SF: the job stopped in the middle ($N1 of $(wc -l <"$WORK/expected-f") lines)" \
	test "$N1" -gt 0 -a "$N1" -lt "$(wc -l <"$WORK/expected-f")"
mark_logs
run_jar "$JAR" "{\"parallelism\": 3, \"programArgsList\": [\"--mode\", \"files\", \"--files\", \"$WORK/fa.txt\", \"$WORK/fb.txt\"], \"flinkConfiguration\": {\"execution.savepoint.path\": \"$SP\", \"state.backend.type\": \"lmdb\"}}" ||
	fail "SF: restore not submitted"
J2=$JOB
if wait_state "$J2" 'FINISHED|FAILED|CANCELED' 120 && [ "$STATE" = FINISHED ]; then
	pass "SF: restored at parallelism 3 into LMDB: FINISHED"
	flines "$WORK/SF-2.lines"
	check "SF: no count printed by both runs" \
		test "$(comm -12 "$WORK/SF-1.lines" "$WORK/SF-2.lines" | wc -l)" -eq 0
	LC_ALL=C sort "$WORK/SF-1.lines" "$WORK/SF-2.lines" >"$WORK/SF.both"
	same_file "SF: together every line counted once, exact" "$WORK/expected-f" "$WORK/SF.both"
else
	fail "SF: the restored job ended $STATE" "$(job_why "$J2")"
fi
stop_all
logs_clean "$WORK"/*.err "$WORK"/jm.log "$WORK"/tm-*.log
it_finish
