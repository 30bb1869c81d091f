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
# A source's chain beside a network-fed one (Flink's MultipleInputStreamTask
# with a chained source): --mode mixed runs the orders' generator at the
# job's parallelism chained into the co-map, the payments' at parallelism 1
# rebalanced into a map chained into it too: one task reads its input gate
# between its source's turns; the co-map's watermark is the minimum of the
# source's and the network's (the payments' runs ahead).
#   MP `flinc plan`: the map, the generator and the co-map are one vertex
#      with two heads, fed by the payments' vertex, three vertices in all;
#   M1, M2 --local at parallelism 1 and 2, paced, checkpoints every 100 ms:
#      the counts exact against the same awk reference as G, checkpoints
#      completed, the task ran as one (p subtasks);
#   ML --local at parallelism 2, the chained source failing once: the local
#      cluster restarts the job from its latest checkpoint (restart-strategy
#      fixed-delay); every window printed, each with its exact counts;
#   SM the session cluster: stopped with a savepoint in the middle (the
#      trigger holds the chained source until the gate's barrier came),
#      restored at parallelism 3 into LMDB: no window twice, together exact.
#   FM there, the chained source failing once (checkpoints every 100 ms):
#      the job restarts from its latest checkpoint; windows fired between
#      that checkpoint and the failure print again, but every window's
#      counts are exact (the source's position and the operators' state
#      were taken at one point).
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

# --- M: a generator's chain beside a network-fed one ----------------------
plan_flinc MP -p 2 "$JOB_SO" --mode mixed
check "MP: flinc plan succeeds" test "$RC" -eq 0
check "MP: the map, the orders' generator and the co-map are one task" \
	grep -qx 'Vertex 2: Map -> Source: Generator -> Co-Map' "$WORK/MP.out"
check "MP: three vertices: the payments' source, that task, the keyed counts" \
	test "$(grep -c '^Vertex ' "$WORK/MP.out")" -eq 3
check "MP: the payments enter the map over the network" \
	grep -qx '  input: vertex 1 (Source: Generator) via REBALANCE into Map' "$WORK/MP.out"
check "MP: the task has two heads, the map and the generator" \
	test "$(sed -n '/^Vertex 2:/,/^$/p' "$WORK/MP.out" | grep -Ec '^  head  (Map \[map ti_same\(\)\]|Source: Generator \[generator ti_gen_a\(\)\])$')" -eq 2
check "MP: the co-map is chained after both" \
	grep -qx '  chain Co-Map \[co-map ti_side_a() input 2 ti_side_b()\] <- input 1 Source: Generator, input 2 Map' "$WORK/MP.out"
for p in 1 2; do
	# Checkpoints every 100 ms: each trigger holds the chained source
	# until the network channels' barriers came.
	run_flinc "M$p" -p $p -D 'pipeline.auto-watermark-interval=20 ms' \
		-D 'execution.checkpointing.interval=100 ms' -D "execution.checkpointing.dir=$WORK/ck-m$p" \
		"$JOB_SO" --count $NG --rate 6000 --mode mixed
	check_finished "M$p"
	check "M$p: checkpoints completed while it ran" \
		grep -q 'Completed checkpoint [0-9]* of job' "$(log_of "M$p")"
	strip_prefix <"$WORK/M$p.out" | LC_ALL=C sort >"$WORK/M$p.sorted"
	same_file "M$p: the counts per key and window exact, at parallelism $p" \
		"$WORK/expected-g" "$WORK/M$p.sorted"
	check "M$p: the map, the generator and the co-map ran as one task ($p subtasks of it)" \
		test "$(grep -c 'task=Map -> Source: Generator -> Co-Map ([0-9]/'"$p"') switched from RUNNING to FINISHED' "$(log_of "M$p")")" -eq "$p"
done

# The same failure on the local cluster, which restarts a job as a
# cluster's dispatcher does (restart-strategy.*).
TI_FAIL_MARKER=$WORK/failed-once-local run_flinc ML -p 2 -D 'pipeline.auto-watermark-interval=20 ms' \
	-D 'execution.checkpointing.interval=100 ms' -D "execution.checkpointing.dir=$WORK/ck-ml" \
	-D restart-strategy.type=fixed-delay -D restart-strategy.fixed-delay.delay=100ms \
	"$JOB_SO" --count $NG --rate 6000 --mode mixed --fail-once
check_finished ML
check "ML: the chained source failed once" test -e "$WORK/failed-once-local"
check "ML: the local cluster restarted the job" \
	grep -q 'switched from state FAILING to RESTARTING: restart 1 in 100 ms' "$(log_of ML)"
check "ML: the restarted attempt restored a checkpoint" \
	grep -q "restores checkpoint [0-9]* from $WORK/ck-ml/" "$(log_of ML)"
strip_prefix <"$WORK/ML.out" | LC_ALL=C sort -u >"$WORK/ML.sorted"
same_file "ML: every window printed, each with its exact counts" "$WORK/expected-g" "$WORK/ML.sorted"

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
export TI_FAIL_MARKER=$WORK/failed-once # read by FM's generator in the TaskManagers
mkdir -p "$WORK/state"
start_tm tm-a -D "taskmanager.state.local.root-dirs=$WORK/state"
start_tm tm-b -D "taskmanager.state.local.root-dirs=$WORK/state"
check "/overview reports 2 TaskManagers" wait_overview 2 20
upload "$JOB_SO"
T=$'\t'
declare -A MARK
mark_logs() { local t; for t in tm-a tm-b; do MARK[$t]=$(wc -l <"$WORK/$t.log"); done; }
# What the jobs print: --mode chained's rows, the windows of --mode sources
# and mixed, the running counts of --mode files.
ROWS="^[AB]${T}[0-9]+${T}[0-9]+${T}[0-9]+\$"
WINDOWS="^[0-9]+${T}[0-9]+${T}[0-9]+${T}[0-9]+\$"
COUNTS="^[0-9]+${T}[0-9]+\$"
printed() { # printed RE OUT: the rows matching RE printed since mark_logs, sorted
	local t
	for t in tm-a tm-b; do tail -n +$((MARK[$t] + 1)) "$WORK/$t.log"; done | strip_prefix |
		grep -E "$1" | LC_ALL=C sort >"$2" || true
}
some_printed() { # some_printed RE N: N such rows printed within 30 s
	for _ in $(seq 300); do
		printed "$1" "$WORK/probe"
		[ "$(wc -l <"$WORK/probe")" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
# stop_restore TAG WHAT RE N EXPECTED ARGS RESTORE_ARGS [CONF]: the job of
# ARGS (JSON list items; CONF: JSON members of its configuration) at
# parallelism 2, stopped with a savepoint once N rows matching RE (WHAT:
# their name) were printed, then RESTORE_ARGS restored from it at 3 into
# LMDB: no row printed by both runs, together EXPECTED exactly.
stop_restore() {
	local tag=$1 what=$2 re=$3 min=$4 exp=$5 args=$6 rargs=$7 conf=${8:-} n1
	mark_logs
	run_jar "$JAR" "{\"parallelism\": 2, \"programArgsList\": [$args], \"flinkConfiguration\": {$conf}}" ||
		{ fail "$tag: not submitted"; return 0; }
	local j1=$JOB
	wait_state "$j1" RUNNING 20 || fail "$tag: the job is not RUNNING: $STATE"
	check "$tag: ${what}s printed" some_printed "$re" "$min"
	stop_with_savepoint "$tag" "$j1" "$WORK/sp-$tag"
	printed "$re" "$WORK/$tag-1.lines"
	n1=$(wc -l <"$WORK/$tag-1.lines")
	check "$tag: the job stopped in the middle ($n1 of $(wc -l <"$exp") ${what}s)" \
		test "$n1" -gt 0 -a "$n1" -lt "$(wc -l <"$exp")"
	mark_logs
	run_jar "$JAR" "{\"parallelism\": 3, \"programArgsList\": [$rargs], \"flinkConfiguration\": {\"execution.savepoint.path\": \"$SP\", \"state.backend.type\": \"lmdb\"}}" ||
		{ fail "$tag: restore not submitted"; return 0; }
	local j2=$JOB
	if wait_state "$j2" 'FINISHED|FAILED|CANCELED' 120 && [ "$STATE" = FINISHED ]; then
		pass "$tag: restored at parallelism 3 into LMDB: FINISHED"
		printed "$re" "$WORK/$tag-2.lines"
		check "$tag: no $what printed by both runs" \
			test "$(comm -12 "$WORK/$tag-1.lines" "$WORK/$tag-2.lines" | wc -l)" -eq 0
		# A file, not <(...): same_file reads it twice on a mismatch.
		LC_ALL=C sort "$WORK/$tag-1.lines" "$WORK/$tag-2.lines" >"$WORK/$tag.both"
		same_file "$tag: together every $what once, exact" "$exp" "$WORK/$tag.both"
	else
		fail "$tag: the restored job ended $STATE" "$(job_why "$j2")"
	fi
}
WM="\"pipeline.auto-watermark-interval\": \"20 ms\""

# S: the chained process function's keyed counts continued after the restore.
stop_restore S line "$ROWS" 500 "$WORK/expected" \
	"\"--count\", \"$N\", \"--rate\", \"1500\", \"--mode\", \"chained\"" \
	"\"--count\", \"$N\", \"--mode\", \"chained\""
# SG: the two chained generators.
stop_restore SG window "$WINDOWS" 100 "$WORK/expected-g" \
	"\"--count\", \"$NG\", \"--rate\", \"3000\", \"--mode\", \"sources\"" \
	"\"--count\", \"$NG\", \"--mode\", \"sources\"" "$WM"
# SM: the source's chain beside the network-fed one (the trigger holds the
# chained source until the gate's barrier came; the stop, until it completed).
stop_restore SM window "$WINDOWS" 100 "$WORK/expected-g" \
	"\"--count\", \"$NG\", \"--rate\", \"3000\", \"--mode\", \"mixed\"" \
	"\"--count\", \"$NG\", \"--mode\", \"mixed\"" "$WM"
# SF: the two chained text file sources, paced by their co-map.
stop_restore SF count "$COUNTS" 2000 "$WORK/expected-f" \
	"\"--mode\", \"files\", \"--paced\", \"--files\", \"$WORK/fa.txt\", \"$WORK/fb.txt\"" \
	"\"--mode\", \"files\", \"--files\", \"$WORK/fa.txt\", \"$WORK/fb.txt\""

# --- FM: the source chained beside the network-fed chain fails once -------
mark_logs
run_jar "$JAR" "{\"parallelism\": 2, \"programArgsList\": [\"--count\", \"$NG\", \"--rate\", \"6000\", \"--mode\", \"mixed\", \"--fail-once\"], \"flinkConfiguration\": {\"pipeline.auto-watermark-interval\": \"20 ms\", \"execution.checkpointing.interval\": \"100 ms\", \"execution.checkpointing.dir\": \"$WORK/ck-fm\", \"restart-strategy.type\": \"fixed-delay\", \"restart-strategy.fixed-delay.delay\": \"100 ms\"}}" ||
	fail "FM: not submitted"
J1=$JOB
if wait_state "$J1" 'FINISHED|FAILED|CANCELED' 120 && [ "$STATE" = FINISHED ]; then
	pass "FM: FINISHED after the failure"
else
	fail "FM: the job ended $STATE" "$(job_why "$J1")"
fi
check "FM: the chained source failed once" test -e "$WORK/failed-once"
check "FM: the restarted attempt restored a checkpoint" \
	grep -q "($J1) restores checkpoint [0-9]* from $WORK/ck-fm/$J1/chk-" "$WORK/jm.log"
printed "$WINDOWS" "$WORK/FM.lines"
LC_ALL=C sort -u "$WORK/FM.lines" >"$WORK/FM.distinct"
same_file "FM: every window printed, each with its exact counts" "$WORK/expected-g" "$WORK/FM.distinct"

stop_all
logs_clean "$WORK"/*.err "$WORK"/jm.log "$WORK"/tm-*.log
it_finish
