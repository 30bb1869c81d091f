#!/usr/bin/env bash
# Restoring jobs (issue #8): a session cluster of real processes (a
# JobManager, two TaskManagers of 2 slots) runs jobs/checkpointed.so keyed
# (the running sum of offsets per key, printed) and:
#   - stops it with a savepoint (Flink's stop-with-savepoint) at
#     parallelism 2 in the middle: it FINISHES;
#   - restores that savepoint at parallelism 4, then, moved to another
#     directory, at parallelism 1: each time every key's final sum equals
#     that of a run that never stopped (sums only grow, so a key's largest
#     printed sum is its final one; a source that started over would push
#     it above, lost state below);
#   - recovers a job whose source fails once from its latest checkpoint
#     (restart-strategy defaults to exponential-delay when checkpointing),
#     with the same exact sums;
#   - refuses a missing savepoint, a damaged _metadata, state of an operator
#     the program no longer has (unless allowNonRestoredState) and another
#     max parallelism, naming what is wrong; a damaged state file fails the
#     job at restore, naming the file, before it processes anything.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_setup
source "$(dirname "$0")/cluster.sh"
JOB_SO=$JOBS/checkpointed.so
[ -e "$JOB_SO" ] || { echo "missing $JOB_SO (build the project first)" >&2; exit 1; }
N=40000
M=50

start_jm jm -D execution.checkpointing.dir="file://$WORK/ckp" -D restart-strategy.exponential-delay.initial-backoff=100ms
export CKP_FAIL_MARKER=$WORK/failed-once # read by the job's functions in the TaskManagers
mkdir -p "$WORK/state"
start_tm tm-a -D "taskmanager.state.local.root-dirs=$WORK/state"
start_tm tm-b -D "taskmanager.state.local.root-dirs=$WORK/state"
check "/overview reports 2 TaskManagers" wait_overview 2 20
upload "$JOB_SO"
CKP_JAR=$JAR

# Every key's sum of the offsets 0..N-1 it gets (offset % M).
awk -v n=$N -v m=$M 'BEGIN { for (o = 0; o < n; o++) s[o % m] += o; for (k = 0; k < m; k++) print k, s[k] }' \
	>"$WORK/expected"

declare -A MARK
mark_logs() { local t; for t in tm-a tm-b; do MARK[$t]=$(wc -l <"$WORK/$t.log"); done; }
# finals FILE: per key, the largest sum the TaskManagers printed since mark_logs.
finals() {
	local t
	for t in tm-a tm-b; do tail -n +$((MARK[$t] + 1)) "$WORK/$t.log"; done |
		sed -nE 's/^([0-9]+> )?(-?[0-9]+)\t([0-9]+)$/\3 \2/p' |
		awk '{ if (!($1 in m) || $2 > m[$1]) m[$1] = $2 } END { for (k in m) print k, m[k] }' |
		sort -n >"$1"
}
# exact NAME FILE: the finals are the reference.
exact() {
	if cmp -s "$WORK/expected" "$2"; then
		pass "$1: every one of the $M keys' sums is exact"
	else
		fail "$1: sums differ from a run that never stopped" "$(diff "$WORK/expected" "$2" | head -8)"
	fi
}
# run_and_finish NAME JSON: run, wait FINISHED.
run_and_finish() {
	run_jar "$CKP_JAR" "$2" || { fail "$1: not submitted"; return 1; }
	if wait_state "$JOB" 'FINISHED|FAILED|CANCELED' 60 && [ "$STATE" = FINISHED ]; then
		pass "$1: FINISHED"
	else
		fail "$1: ended $STATE" "$(curl -s "http://127.0.0.1:$REST_PORT/jobs/$JOB/exceptions" | head -c 600)"
		return 1
	fi
}
ARGS="\"--keyed\", \"--print\", \"--count\", \"$N\", \"--mod\", \"$M\""

# ------------------------------------------- a savepoint in the middle, p=2
mark_logs
run_jar "$CKP_JAR" "{\"parallelism\": 2, \"programArgsList\": [$ARGS, \"--rate\", \"8000\"], \"flinkConfiguration\": {\"execution.checkpointing.interval\": \"300 ms\"}}"
FIRST=$JOB
wait_state "$JOB" RUNNING 20 || fail "the first job is not RUNNING: $STATE"
wait_count "/jobs/$JOB/checkpoints" .counts.completed 1 20 || fail "no checkpoint completed"
# Flink's stop-with-savepoint: the sources take the savepoint, emit nothing
# after it, and end once it completed; the job FINISHES.
api POST "/jobs/$JOB/stop" -H 'Content-Type: application/json' \
	-d "{\"targetDirectory\": \"$WORK/sp\", \"drain\": false}"
TRIGGER=$(json '."request-id"')
wait_savepoint "$FIRST" "$TRIGGER" 20 || true
check "stop-with-savepoint: the savepoint completes" test "$STATUS,$(json '.operation."failure-cause" // "none"')" = "COMPLETED,none"
if wait_state "$FIRST" 'FINISHED|CANCELED|FAILED' 20 && [ "$STATE" = FINISHED ]; then
	pass "stop-with-savepoint: the job FINISHED"
else
	fail "stop-with-savepoint: the job ended $STATE"
fi
finals "$WORK/first"
if [ "$(wc -l <"$WORK/first")" = "$M" ] && ! cmp -s "$WORK/expected" "$WORK/first"; then
	pass "the first job stopped in the middle (its sums are not the totals yet)"
else
	fail "the first job: $(wc -l <"$WORK/first") keys printed, or it ran to the end" "$(head -3 "$WORK/first")"
fi

# ------------------------------------------------ restored at p=4, then p=1
mark_logs
if run_and_finish "restored at parallelism 4" "{\"parallelism\": 4, \"programArgsList\": [$ARGS, \"--rate\", \"0\"], \"flinkConfiguration\": {\"execution.savepoint.path\": \"$SP\"}}"; then
	finals "$WORK/p4"
	exact "restored at parallelism 4" "$WORK/p4"
fi
# The heap backend wrote the savepoint; LMDB reads it (the file format is
# the backends' common one). Named as its status names it: file:/...
mark_logs
if run_and_finish "restored at parallelism 3 into LMDB" "{\"parallelism\": 3, \"programArgsList\": [$ARGS, \"--rate\", \"0\"], \"flinkConfiguration\": {\"execution.savepoint.path\": \"file:$SP\", \"state.backend.type\": \"lmdb\"}}"; then
	finals "$WORK/p3-lmdb"
	exact "restored at parallelism 3 into LMDB" "$WORK/p3-lmdb"
fi
api GET "/jobs/$JOB/checkpoints"
check "/checkpoints says the job was restored from the savepoint" \
	test "$(json '.latest.restored.external_path')" = "$SP"
grep -q "restores savepoint [0-9]* from $SP" "$WORK/jm.log" &&
	pass "the JobManager logs what the attempt restores" || fail "no restore line in the JobManager's log"

mv "$SP" "$WORK/moved-sp"
mark_logs
if run_and_finish "moved elsewhere and restored at parallelism 1" "{\"parallelism\": 1, \"programArgsList\": [$ARGS, \"--rate\", \"0\"], \"flinkConfiguration\": {\"execution.savepoint.path\": \"file://$WORK/moved-sp/_metadata\"}}"; then
	finals "$WORK/p1"
	exact "restored at parallelism 1 from the moved savepoint" "$WORK/p1"
fi
check "the savepoint is still there (restoring never removes it)" test -s "$WORK/moved-sp/_metadata"
check "LMDB's files went with their tasks" test -z "$(ls -A "$WORK/state")"

# ----------------------------------------- recovery from the latest checkpoint
mark_logs
if run_and_finish "a source failing once at offset 25000" "{\"parallelism\": 2, \"programArgsList\": [$ARGS, \"--rate\", \"10000\", \"--fail-once\"], \"flinkConfiguration\": {\"execution.checkpointing.interval\": \"200 ms\"}}"; then
	finals "$WORK/recovered"
	exact "recovered from the latest checkpoint after a failure" "$WORK/recovered"
fi
check "the source did fail once" test -e "$WORK/failed-once"
grep -q "($JOB) restores checkpoint [0-9]* from $WORK/ckp/$JOB/chk-" "$WORK/jm.log" &&
	pass "the restarted attempt restores the latest checkpoint" ||
	fail "no checkpoint restore for the restarted attempt" "$(grep -i restor "$WORK/jm.log" | tail -3)"

# ------------------------------------------------------------- bad input
run_refused() { # run_refused NAME JSON GREP
	api POST "/jars/$CKP_JAR/run" -H 'Content-Type: application/json' -d "$2"
	if [ "$CODE" = 400 ] && grep -q -- "$3" "$WORK/api.out"; then
		pass "$1: refused (400) naming it"
	else
		fail "$1: $CODE" "$(head -c 600 "$WORK/api.out")"
	fi
}
run_refused "a savepoint path that does not exist" \
	"{\"programArgsList\": [$ARGS], \"flinkConfiguration\": {\"execution.savepoint.path\": \"$WORK/nothing-here\"}}" \
	"$WORK/nothing-here"
run_refused "state of operators the program no longer has" \
	"{\"programArgsList\": [$ARGS, \"--uid-suffix\", \"-v2\"], \"flinkConfiguration\": {\"execution.savepoint.path\": \"$WORK/moved-sp\"}}" \
	"Cannot map checkpoint/savepoint state for operator .* --allowNonRestoredState"
mark_logs
run_and_finish "the same with allowNonRestoredState (starts empty)" \
	"{\"parallelism\": 2, \"programArgsList\": [$ARGS, \"--rate\", \"0\", \"--uid-suffix\", \"-v2\"], \"flinkConfiguration\": {\"execution.savepoint.path\": \"$WORK/moved-sp\", \"execution.savepoint.ignore-unclaimed-state\": \"true\"}}" &&
	{ finals "$WORK/fresh"; exact "allowNonRestoredState, nothing restored" "$WORK/fresh"; }
run_refused "another max parallelism" \
	"{\"programArgsList\": [$ARGS], \"flinkConfiguration\": {\"execution.savepoint.path\": \"$WORK/moved-sp\", \"pipeline.max-parallelism\": \"64\"}}" \
	"max parallelism 128, the operator in the new program 64"
cp -r "$WORK/moved-sp" "$WORK/bad-meta"
printf 'X' | dd of="$WORK/bad-meta/_metadata" bs=1 seek=20 conv=notrunc status=none
run_refused "a damaged _metadata" \
	"{\"programArgsList\": [$ARGS], \"flinkConfiguration\": {\"execution.savepoint.path\": \"$WORK/bad-meta\"}}" \
	"bad-meta/_metadata.*checksum"
cp -r "$WORK/moved-sp" "$WORK/bad-state"
STATE_FILE=$(find "$WORK/bad-state" -name 'sums-*.state' | head -n 1)
size=$(stat -c %s "$STATE_FILE")
printf 'X' | dd of="$STATE_FILE" bs=1 seek=$((size / 2)) conv=notrunc status=none
run_jar "$CKP_JAR" "{\"parallelism\": 2, \"programArgsList\": [$ARGS], \"flinkConfiguration\": {\"execution.savepoint.path\": \"$WORK/bad-state\"}}"
if wait_state "$JOB" 'FINISHED|FAILED|CANCELED' 30 && [ "$STATE" = FAILED ]; then
	api GET "/jobs/$JOB/exceptions"
	if json '."root-exception"' | grep -q "restoring from checkpoint .*$(basename "$STATE_FILE")"; then
		pass "a damaged state file fails the job at restore, naming the file"
	else
		fail "the damaged state file's failure does not name it" "$(head -c 600 "$WORK/api.out")"
	fi
else
	fail "a damaged state file: the job ended $STATE"
fi

# ------------------------------------------------------------ flinc stop
run_jar "$CKP_JAR" "{\"parallelism\": 2, \"programArgsList\": [$ARGS, \"--rate\", \"4000\"]}"
wait_state "$JOB" RUNNING 20 || fail "the job for flinc stop is not RUNNING: $STATE"
RC=0
timeout -k 10 120 "$FLINC" stop -m "127.0.0.1:$REST_PORT" -p "$WORK/sp-cli" "$JOB" </dev/null \
	>"$WORK/stop.out" 2>"$WORK/stop.err" || RC=$?
CLI_SP=$(sed -n 's/^Savepoint completed\. Path: file:\(.*\)$/\1/p' "$WORK/stop.out")
if [ "$RC" = 0 ] && [ "$(head -n 1 "$WORK/stop.out")" = "Suspending job \"$JOB\" with a CANONICAL savepoint." ] &&
	[ -s "$CLI_SP/_metadata" ] && wait_state "$JOB" 'FINISHED|CANCELED|FAILED' 20 && [ "$STATE" = FINISHED ]; then
	pass "flinc stop -p DIR JOBID: Flink's lines, the savepoint in DIR, the job FINISHED"
else
	fail "flinc stop (exit $RC, job $STATE)" "$(cat "$WORK/stop.out" "$WORK/stop.err" | head -n 10)"
fi
RC=0
"$FLINC" stop -m "127.0.0.1:$REST_PORT" </dev/null >"$WORK/stop2.out" 2>"$WORK/stop2.err" || RC=$?
if [ "$RC" = 2 ] && grep -q "stop: no job id given" "$WORK/stop2.err"; then
	pass "flinc stop without a job id: a usage error (exit 2) saying so"
else
	fail "flinc stop without a job id: exit $RC" "$(head -c 300 "$WORK/stop2.err")"
fi

stop_all
logs_clean "$WORK"/jm.log "$WORK"/tm-*.log
it_finish
