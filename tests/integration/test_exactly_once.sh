#!/usr/bin/env bash
# The exactly-once text file sink (issue #8): a session cluster of real
# processes (a JobManager, two TaskManagers of 2 slots) runs
# jobs/checkpointed.so keyed (one generator subtask, so every key's records
# reach its sum in offset order: each update the sum emits is known) with
# its text sink, and checks what is visible in the output directory:
#   - a job checkpointing every 200 ms whose source fails once at offset
#     25000 and recovers from its latest checkpoint ends FINISHED, and its
#     committed output holds every update of every key exactly once (the
#     running sums of the key's offsets; nothing lost, nothing twice); while
#     it ran, checkpoints committed part files, every visible file held
#     whole lines only and no line twice; nothing hidden is left;
#   - a savepoint in the middle at parallelism 2 (cancel-job), restored at
#     parallelism 4 into the same directory, a savepoint of that, restored
#     twice at parallelism 1 (the first cancelled at once, the second to
#     the end, with periodic checkpoints): the union of what the three jobs
#     committed is the reference exactly; each restore removed what the job
#     before left hidden, and nothing hidden is left at the end;
#   - a job that is not restored is still refused that directory (it holds
#     output: NO_OVERWRITE).
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
start_tm tm-a
start_tm tm-b
check "/overview reports 2 TaskManagers" wait_overview 2 20
upload "$JOB_SO"
CKP_JAR=$JAR

# Every update of every key, "sum<TAB>key", sorted: the running sum of key
# o % M after offset o.
awk -v n=$N -v m=$M 'BEGIN { for (o = 0; o < n; o++) { s[o % m] += o; print s[o % m] "\t" o % m } }' |
	sort >"$WORK/expected"

ARGS="\"--keyed\", \"--count\", \"$N\", \"--mod\", \"$M\", \"--source-parallelism\", \"1\""

# committed DIR FILE: every line of DIR's visible part files, sorted.
committed() { cat "$1"/part-* 2>/dev/null | sort >"$2" || true; }
# whole DIR: every visible part file ends with a whole line and no line is
# visible twice (committed files are never written again, so reading them
# while the job runs is safe).
whole() {
	local f
	for f in "$1"/part-*; do
		[ -e "$f" ] || continue
		[ ! -s "$f" ] || [ "$(tail -c 1 "$f" | wc -l)" = 1 ] || return 1
	done
	[ -z "$(cat "$1"/part-* 2>/dev/null | sort | uniq -d | head -n 1)" ]
}
# exact NAME DIR: DIR's committed output is the reference.
exact() {
	committed "$2" "$WORK/got"
	if cmp -s "$WORK/expected" "$WORK/got"; then
		pass "$1: the committed output holds every update of the $M keys exactly once ($N lines)"
	else
		fail "$1: the committed output differs from the reference" \
			"$(comm -23 "$WORK/expected" "$WORK/got" | wc -l) update(s) missing, $(uniq -d "$WORK/got" | wc -l) twice, $(comm -13 "$WORK/expected" "$WORK/got" | wc -l) not in the reference" \
			"$(ls -A "$2" | head -20)"
	fi
}
# partial NAME DIR [EMPTY_OK]: what DIR holds so far is whole and part of
# the reference (and not empty, unless EMPTY_OK).
partial() {
	committed "$2" "$WORK/got"
	if { [ -s "$WORK/got" ] || [ -n "${3:-}" ]; } && whole "$2" &&
		[ -z "$(comm -13 "$WORK/expected" "$WORK/got" | head -n 1)" ]; then
		pass "$1: $(wc -l <"$WORK/got") updates committed so far, whole, none twice, all in the reference"
	else
		fail "$1: the committed output so far is empty, broken or not the reference's" "$(ls -A "$2" | head -20)"
	fi
}
# hidden DIR [RUN]: DIR's hidden files (of run RUN).
hidden() { ls -A "$1" | grep "^\.part-${2:-}" || true; }
# savepoint_and_cancel JOB: a savepoint into $WORK/sp, then the cancel; SP its directory.
savepoint_and_cancel() {
	local trigger
	api POST "/jobs/$1/savepoints" -H 'Content-Type: application/json' \
		-d "{\"target-directory\": \"$WORK/sp\", \"cancel-job\": true}"
	trigger=$(json '."request-id"')
	wait_savepoint "$1" "$trigger" 30 || true
	[ "$STATUS,$(json '.operation."failure-cause" // "none"')" = "COMPLETED,none" ] &&
		wait_state "$1" CANCELED 20
}
# wait_restored JOB SECONDS: a TaskManager logged a text sink of JOB restored.
wait_restored() {
	for _ in $(seq $(($2 * 10))); do
		grep -q "job=$1 .*text file sink .* restored from checkpoint" "$WORK"/tm-*.log && return 0
		sleep 0.1
	done
	return 1
}

# ------------------------------------------------ a failure and a recovery
OUT=$WORK/out-failover
run_jar "$CKP_JAR" "{\"parallelism\": 2, \"programArgsList\": [$ARGS, \"--text\", \"$OUT\", \"--rate\", \"10000\", \"--fail-once\"], \"flinkConfiguration\": {\"execution.checkpointing.interval\": \"200 ms\"}}"
F=$JOB
RUN=${F:0:16}
# Watched while it runs: files that checkpoints committed, and every
# visible file whole, with no line twice.
while_running=0
broken=
for _ in $(seq 600); do
	api GET "/jobs/$F"
	STATE=$(json .state)
	[[ $STATE =~ ^(FINISHED|FAILED|CANCELED)$ ]] && break
	whole "$OUT" 2>/dev/null || { broken="$(ls -A "$OUT")"; break; }
	if [ "$STATE" = RUNNING ] && compgen -G "$OUT/part-$RUN-*-*" >/dev/null; then
		while_running=$((while_running + 1))
	fi
	sleep 0.1
done
wait_state "$F" 'FINISHED|FAILED|CANCELED' 60 || true
if [ "$STATE" = FINISHED ]; then
	pass "a source failing once at offset 25000, checkpointing every 200 ms: FINISHED"
else
	fail "the failing job ended $STATE" "$(curl -s "http://127.0.0.1:$REST_PORT/jobs/$F/exceptions" | head -c 600)"
fi
check "the source did fail once" test -e "$WORK/failed-once"
grep -q "($F) restores checkpoint [0-9]* from $WORK/ckp/$F/chk-" "$WORK/jm.log" &&
	pass "the restarted attempt restores the latest checkpoint" ||
	fail "no checkpoint restore for the restarted attempt" "$(grep -i restor "$WORK/jm.log" | tail -3)"
if [ -z "$broken" ] && [ "$while_running" -gt 0 ]; then
	pass "while it ran, checkpoints committed part files ($while_running looks), each whole and none twice"
else
	fail "while it ran: $while_running looks saw committed files" "${broken:-}"
fi
exact "recovered from its latest checkpoint" "$OUT"
others=$(ls -A "$OUT" | grep -Ev "^(part-$RUN-[01](-[0-9]+)?|_SUCCESS)$" || true)
if [ -z "$others" ] && [ -e "$OUT/_SUCCESS" ] && [ -e "$OUT/part-$RUN-0" ] && [ -e "$OUT/part-$RUN-1" ]; then
	pass "it leaves part-<run>-<subtask>-<n> (checkpoints), part-<run>-<subtask> (the end), _SUCCESS, and nothing hidden"
else
	fail "the directory holds more or less than expected" "$others" "$(ls -A "$OUT" | head -30)"
fi

# ------------------------------- savepoints, restored at p=4, then twice at p=1
OUT=$WORK/out-chain
run_jar "$CKP_JAR" "{\"parallelism\": 2, \"programArgsList\": [$ARGS, \"--text\", \"$OUT\", \"--rate\", \"8000\"]}"
A=$JOB
wait_state "$A" RUNNING 20 || fail "the first job is not RUNNING: $STATE"
sleep 1.5
if savepoint_and_cancel "$A"; then
	pass "the first job (p=2): a savepoint in the middle, then CANCELED"
else
	fail "the first job's savepoint or cancel: $STATE" "$(head -c 600 "$WORK/api.out")"
fi
SP1=$SP
# Its savepoint's completion commits its files, unless the cancel reached
# the sinks first: then the restore below does.
partial "the first job" "$OUT" empty-ok
# (In-progress files: .part-<run>-<s>.inprogress.<attempt>; links made at
# the end of input: ....end. Pending files, -<s>-<n>.inprogress.<attempt>,
# may stay for a restore.)
check "the first job left no in-progress file or link of its own" \
	test -z "$(hidden "$OUT" "${A:0:16}" | grep -E '^\.part-[0-9a-f]{16}-[0-9]+\.inprogress\.[0-9a-f]{16}$|\.end$')"

run_jar "$CKP_JAR" "{\"parallelism\": 4, \"programArgsList\": [$ARGS, \"--text\", \"$OUT\", \"--rate\", \"8000\"], \"flinkConfiguration\": {\"execution.savepoint.path\": \"$SP1\"}}"
B=$JOB
wait_state "$B" RUNNING 20 || fail "the second job is not RUNNING: $STATE"
sleep 1.5
if savepoint_and_cancel "$B"; then
	pass "restored at parallelism 4 into the same directory: a savepoint in the middle, then CANCELED"
else
	fail "the second job's savepoint or cancel: $STATE" "$(head -c 600 "$WORK/api.out")"
fi
SP2=$SP
partial "the second job" "$OUT"
check "the second job's restore removed everything the first left hidden" test -z "$(hidden "$OUT" "${A:0:16}")"

# Restored, and cancelled as soon as its sinks restored: committing the
# same savepoint again must be harmless.
run_jar "$CKP_JAR" "{\"parallelism\": 1, \"programArgsList\": [$ARGS, \"--text\", \"$OUT\", \"--rate\", \"1\"], \"flinkConfiguration\": {\"execution.savepoint.path\": \"$SP2\"}}"
C0=$JOB
wait_restored "$C0" 30 || fail "the third job's sink did not restore"
api PATCH "/jobs/$C0?mode=cancel"
wait_state "$C0" CANCELED 20 || fail "the third job did not cancel: $STATE"
check "the third job's restore removed everything the second left hidden, its cancel its own" \
	test -z "$(hidden "$OUT")"

run_jar "$CKP_JAR" "{\"parallelism\": 1, \"programArgsList\": [$ARGS, \"--text\", \"$OUT\", \"--rate\", \"0\"], \"flinkConfiguration\": {\"execution.savepoint.path\": \"$SP2\", \"execution.checkpointing.interval\": \"200 ms\"}}"
C=$JOB
if wait_state "$C" 'FINISHED|FAILED|CANCELED' 60 && [ "$STATE" = FINISHED ]; then
	pass "the same savepoint restored again at parallelism 1, checkpointing: FINISHED"
else
	fail "the last job ended $STATE" "$(curl -s "http://127.0.0.1:$REST_PORT/jobs/$C/exceptions" | head -c 600)"
fi
exact "p=2, then p=4, then p=1 into one directory" "$OUT"
check "nothing hidden is left, and the last job wrote _SUCCESS" test -z "$(hidden "$OUT")" -a -e "$OUT/_SUCCESS"

# ------------------------------------------ a fresh job is still refused
run_jar "$CKP_JAR" "{\"parallelism\": 1, \"programArgsList\": [$ARGS, \"--text\", \"$OUT\"]}"
if wait_state "$JOB" 'FINISHED|FAILED|CANCELED' 30 && [ "$STATE" = FAILED ] &&
	curl -s "http://127.0.0.1:$REST_PORT/jobs/$JOB/exceptions" | grep -q NO_OVERWRITE; then
	pass "a job not restored from a savepoint is refused the directory (NO_OVERWRITE)"
else
	fail "a fresh job into a directory holding output ended $STATE"
fi
exact "the refused job changed nothing" "$OUT"

# ---------------- stop-with-savepoint, then restored into the same directory
# The upgrade of a running job: flink stop (the job FINISHES and writes
# _SUCCESS), then the job started from that savepoint continues the
# directory; nothing after the savepoint was written, so nothing is twice.
OUT2=$WORK/out-stop
run_jar "$CKP_JAR" "{\"parallelism\": 2, \"programArgsList\": [$ARGS, \"--text\", \"$OUT2\", \"--rate\", \"8000\"], \"flinkConfiguration\": {\"execution.checkpointing.interval\": \"300 ms\"}}"
D=$JOB
wait_state "$D" RUNNING 20 || fail "the job to stop is not RUNNING: $STATE"
sleep 1
api POST "/jobs/$D/stop" -H 'Content-Type: application/json' -d "{\"targetDirectory\": \"$WORK/sp\"}"
trigger=$(json '."request-id"')
wait_savepoint "$D" "$trigger" 30 || true
SP3=$SP
if [ "$STATUS" = COMPLETED ] && wait_state "$D" 'FINISHED|FAILED|CANCELED' 20 && [ "$STATE" = FINISHED ] &&
	[ -e "$OUT2/_SUCCESS" ]; then
	pass "stop-with-savepoint: the savepoint completed, the job FINISHED and its output is published"
else
	fail "stop-with-savepoint: $STATUS, the job $STATE" "$(ls -A "$OUT2" | head)"
fi
partial "what the stopped job committed" "$OUT2"
run_jar "$CKP_JAR" "{\"parallelism\": 3, \"programArgsList\": [$ARGS, \"--text\", \"$OUT2\", \"--rate\", \"0\"], \"flinkConfiguration\": {\"execution.savepoint.path\": \"$SP3\", \"execution.checkpointing.interval\": \"300 ms\"}}"
if wait_state "$JOB" 'FINISHED|FAILED|CANCELED' 60 && [ "$STATE" = FINISHED ]; then
	pass "restored from the stop's savepoint at parallelism 3 into the same directory: FINISHED"
else
	fail "the job restored from the stop's savepoint ended $STATE" "$(curl -s "http://127.0.0.1:$REST_PORT/jobs/$JOB/exceptions" | head -c 600)"
fi
exact "stopped with a savepoint, then restored into one directory" "$OUT2"
check "nothing hidden is left, and the restored job wrote _SUCCESS" test -z "$(hidden "$OUT2")" -a -e "$OUT2/_SUCCESS"

# ---------------- stop-with-savepoint while a TaskManager is slow to answer
# Every TaskManager learns where a checkpoint goes before its sources are
# triggered; one held with SIGSTOP for 1.5 s makes that take that long,
# while the JobMaster looks at its checkpoints every 50 ms. A look that
# started no checkpoint once forgot that the one in flight was a
# stop-with-savepoint: the sources took it and went on, a periodic
# checkpoint after it committed what a job restored from it then wrote
# again (duplicates after kubectl scale of a FlinkApplication and an
# upgrade, issue #11). A cluster of its own, with heartbeats that outlast
# the hold: the TaskManager is slow, not lost.
stop_all
HB=(-D heartbeat.interval=2s -D heartbeat.timeout=30s)
start_jm jm2 -D execution.checkpointing.dir="file://$WORK/ckp2" "${HB[@]}"
start_tm tm-c "${HB[@]}"
start_tm tm-d "${HB[@]}"
check "a second cluster: /overview reports 2 TaskManagers" wait_overview 2 20
upload "$JOB_SO"
OUT3=$WORK/out-slow
run_jar "$JAR" "{\"parallelism\": 4, \"programArgsList\": [$ARGS, \"--text\", \"$OUT3\", \"--rate\", \"8000\"], \"flinkConfiguration\": {\"execution.checkpointing.interval\": \"300 ms\"}}"
S=$JOB
wait_state "$S" RUNNING 20 || fail "the job to stop is not RUNNING: $STATE"
sleep 1
kill -STOP "${TM_PID[tm-d]}"
api POST "/jobs/$S/stop" -H 'Content-Type: application/json' -d "{\"targetDirectory\": \"$WORK/sp\"}"
trigger=$(json '."request-id"')
sleep 1.5
kill -CONT "${TM_PID[tm-d]}"
wait_savepoint "$S" "$trigger" 30 || true
SP4=$SP
SPID=$(sed -nE "s/.*Triggering savepoint ([0-9]+) @ [0-9]+ for job $S: .*/\1/p" "$WORK/jm2.log" | tail -n 1)
wait_state "$S" 'FINISHED|FAILED|CANCELED' 20 || true
after=$(sed -nE "s/.*Completed checkpoint ([0-9]+) of job $S.*/\1/p" "$WORK/jm2.log" |
	awk -v s="${SPID:-0}" '$1 > s' | wc -l)
if [ "$STATUS" = COMPLETED ] && [ "$STATE" = FINISHED ] && [ -n "$SPID" ] && [ "$after" = 0 ] &&
	grep -q "job=$S task=.* stops after savepoint $SPID\$" "$WORK"/tm-c.log "$WORK"/tm-d.log; then
	pass "stop-with-savepoint with a TaskManager held 1.5 s: savepoint $SPID completed, the source stopped after it, no checkpoint after it, the job FINISHED"
else
	fail "stop-with-savepoint with a slow TaskManager: savepoint '$SPID' $STATUS, the job $STATE, $after checkpoint(s) completed after it" \
		"$(grep -h "job=$S" "$WORK"/tm-c.log "$WORK"/tm-d.log | grep -i savepoint | head -n 4)"
fi
run_jar "$JAR" "{\"parallelism\": 2, \"programArgsList\": [$ARGS, \"--text\", \"$OUT3\", \"--rate\", \"0\"], \"flinkConfiguration\": {\"execution.savepoint.path\": \"$SP4\"}}"
wait_state "$JOB" 'FINISHED|FAILED|CANCELED' 60 || true
check "restored from that savepoint: FINISHED" test "$STATE" = FINISHED
exact "stopped with a savepoint while a TaskManager was slow, then restored" "$OUT3"

stop_all
logs_clean "$WORK"/jm.log "$WORK"/jm2.log "$WORK"/tm-*.log
it_finish
