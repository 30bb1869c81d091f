#!/usr/bin/env bash
# Checkpoints on a session cluster of real processes (issue #8, first
# part): a JobManager and two TaskManagers; jobs/checkpointed.so at p=2 (a
# paced generator rebalanced to a map: barriers cross local and network
# channels and align at the map). Periodic checkpoints complete (the
# sources' positions in each _metadata), only the retained one stays on
# disk, Flink's /checkpoints statistics say so; a savepoint taken through
# Flink's REST operations completes into its own directory and survives
# the job; a job with keyed state writes each subtask's key groups to a
# snapshot file named in the metadata; a job with a text sink has its
# checkpoints complete, each committing the sink's part files while the job
# runs, and its cancel leaves them (and nothing in progress); cancelling
# removes the checkpoints, as without externalized checkpoints Flink does.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_setup
source "$(dirname "$0")/cluster.sh"
CKP_JOB=$JOBS/checkpointed.so
[ -e "$CKP_JOB" ] || { echo "missing $CKP_JOB (build the project first)" >&2; exit 1; }
CKP_DIR=$WORK/checkpoints
SP_DIR=$WORK/savepoints

start_jm jm -D execution.checkpointing.dir="file://$CKP_DIR"
start_tm tm-a
start_tm tm-b
check "/overview reports 2 TaskManagers" wait_overview 2 20
upload "$CKP_JOB"
CKP_JAR=$JAR

# ------------------------------------------------------ periodic checkpoints
# A 1 s interval: the checks below read the latest checkpoint's files,
# which the next one (num-retained 1) removes when it completes.
run_jar "$CKP_JAR" '{"parallelism": 2, "programArgsList": ["--rate", "4000"], "flinkConfiguration": {"execution.checkpointing.interval": "1 s"}}'
wait_state "$JOB" RUNNING 20 || fail "the checkpointed job is not RUNNING: $STATE"
wait_count "/jobs/$JOB/checkpoints" .counts.completed 3 30 || true
completed=$COUNT
if [ "$completed" -ge 3 ] && [ "$(json '.counts.failed')" = 0 ] &&
	[ "$(json '.latest.completed.num_acknowledged_subtasks')" = 4 ]; then
	pass "periodic checkpoints complete: $completed so far, none failed, 4 subtasks acknowledged each"
else
	fail "periodic checkpoints: $completed completed" "$(head -c 900 "$WORK/api.out")"
fi
LATEST=$(json '.latest.completed.external_path')
LATEST_ID=$(json '.latest.completed.id')
check "the latest completed checkpoint has its _metadata" test -s "$LATEST/_metadata"
check "it is Flink's layout: <dir>/<job id>/chk-<id>" test "$LATEST" = "$CKP_DIR/$JOB/chk-$LATEST_ID"
check "only the retained checkpoint (num-retained 1) stays on disk" \
	test "$(find "$CKP_DIR/$JOB" -mindepth 1 -maxdepth 1 -name 'chk-*' | wc -l)" -le 2
api GET "/jobs/$JOB/checkpoints/details/$LATEST_ID"
check "checkpoints/details/:id of the latest: COMPLETED" test "$(json .status)" = COMPLETED
# The sources' positions are in the metadata: 2 subtask states of uid
# "numbers", 8 bytes each; the map is stateless.
if grep -c numbers "$LATEST/_metadata" >/dev/null && [ "$(grep -ao numbers "$LATEST/_metadata" | wc -l)" = 2 ]; then
	pass "_metadata names the source 'numbers' once per subtask"
else
	fail "_metadata content" "$(od -c "$LATEST/_metadata" | head -20)"
fi
grep -q "Completed checkpoint $LATEST_ID of job $JOB" "$WORK/jm.log" &&
	pass "the JobManager logs each completed checkpoint" || fail "no completion line in the JobManager's log"

# ------------------------------------------------------------ a savepoint
api POST "/jobs/$JOB/savepoints" -H 'Content-Type: application/json' \
	-d "{\"target-directory\": \"$SP_DIR\", \"cancel-job\": false}"
TRIGGER=$(json '."request-id"')
check "POST /jobs/:id/savepoints: 202 with a request id" test "$CODE,${#TRIGGER}" = "202,32"
wait_savepoint "$JOB" "$TRIGGER" 10 || true
if [ "$STATUS" = COMPLETED ] && [ -s "$SP/_metadata" ] && [[ $SP == "$SP_DIR"/savepoint-${JOB:0:6}-* ]]; then
	pass "the savepoint completed into $SP_DIR/savepoint-${JOB:0:6}-<random>"
else
	fail "savepoint: $STATUS" "$(cat "$WORK/api.out")"
fi
api GET "/jobs/$JOB/checkpoints"
check "/checkpoints: the savepoint is the latest savepoint" test "$(json '.latest.savepoint.is_savepoint')" = true
api GET "/jobs/$JOB/savepoints/0123456789abcdef0123456789abcdef"
check "an unknown trigger id: 404" test "$CODE" = 404
api POST "/jobs/$JOB/savepoints" -H 'Content-Type: application/json' -d '{"formatType": "ZIP"}'
check "a bad formatType: 400" test "$CODE" = 400

# flinc's own savepoint command: Flink's lines on stdout.
# cli TAG ARGS...: flinc ARGS, stdout/stderr in $WORK/TAG.out/.err, exit in RC.
cli() {
	local tag=$1
	shift
	RC=0
	timeout -k 10 120 "$FLINC" "$@" </dev/null >"$WORK/$tag.out" 2>"$WORK/$tag.err" || RC=$?
}
cli savepoint savepoint -m "127.0.0.1:$REST_PORT" "$JOB" "$SP_DIR"
CLI_SP=$(sed -n 's/^Savepoint completed\. Path: file:\(.*\)$/\1/p' "$WORK/savepoint.out")
if [ "$RC" = 0 ] && [ "$(head -n 2 "$WORK/savepoint.out")" = "Triggering savepoint for job $JOB.
Waiting for response..." ] && [ -s "$CLI_SP/_metadata" ] &&
	grep -qx 'You can resume your program from this savepoint with the run command.' "$WORK/savepoint.out"; then
	pass "flinc savepoint JOBID DIR: Flink's lines, 'Savepoint completed. Path: file:$CLI_SP'"
else
	fail "flinc savepoint $JOB (exit $RC)" "$(cat "$WORK/savepoint.out" "$WORK/savepoint.err" | head -n 20)"
fi

api PATCH "/jobs/$JOB?mode=cancel"
wait_state "$JOB" CANCELED 20 || fail "the checkpointed job did not cancel: $STATE"
check "cancelled without externalized checkpoints: its checkpoints are gone" \
	test ! -e "$CKP_DIR/$JOB"
check "the savepoint stays" test -s "$SP/_metadata"

# ------------------------------------------------- disposing savepoints
# dispose PATH [PREFIX]: POST PREFIX/savepoint-disposal, then its status
# until COMPLETED (10 s); the trigger's code in DCODE, its id in DTRIGGER,
# the last status in api.out.
dispose() {
	api POST "${2:-}/savepoint-disposal" -H 'Content-Type: application/json' \
		-d "$(jq -n --arg p "$1" '{"savepoint-path": $p}')"
	DCODE=$CODE
	DTRIGGER=$(json '."request-id"')
	for _ in $(seq 100); do
		api GET "${2:-}/savepoint-disposal/$DTRIGGER"
		[ "$(json .status.id)" = COMPLETED ] && break
		sleep 0.1
	done
}
# failure_cause: the failure-cause's stack-trace of the last status.
failure_cause() { json '.operation."failure-cause"."stack-trace" // ""'; }
touch "$SP/notes.txt" # not flinc's: stays, and so does the directory
dispose "$SP" /v1
if [ "$DCODE" = 202 ] && [ ${#DTRIGGER} = 32 ] && [ "$(json .status.id)" = COMPLETED ] &&
	[ "$(json '.operation | has("failure-cause")')" = false ] && [ ! -e "$SP/_metadata" ] &&
	[ -z "$(find "$SP" -name '*.state')" ] && [ -e "$SP/notes.txt" ]; then
	pass "POST /v1/savepoint-disposal: 202, COMPLETED; _metadata and state files removed, a file flinc did not write kept with the directory"
else
	fail "disposing $SP: $DCODE" "$(cat "$WORK/api.out")" "$(ls -la "$SP" 2>&1)"
fi
grep -q "kept the directory: it holds 1 other entry flinc did not write (e.g. 'notes.txt')" "$WORK/jm.log" &&
	pass "the JobManager's log says why the directory stays" || fail "no line about the kept directory in the JobManager's log"
dispose "$SP"
if [ "$DCODE" = 202 ] && [ "$(json .status.id)" = COMPLETED ] && failure_cause | grep -qF "$SP" &&
	failure_cause | grep -q "no _metadata" && [ "$(json '.operation."failure-cause".class')" = flinc.SavepointDisposalFailure ] &&
	[ -e "$SP/notes.txt" ]; then
	pass "disposing a directory without _metadata: 202, then a failure-cause naming the path and why; nothing deleted"
else
	fail "disposing $SP again: $DCODE" "$(cat "$WORK/api.out")"
fi
dispose "$WORK/no-such-savepoint"
failure_cause | grep -qF "'$WORK/no-such-savepoint': No such file or directory" &&
	pass "disposing a missing path: the failure-cause names it" || fail "a missing path" "$(cat "$WORK/api.out")"
mkdir -p "$WORK/fake-sp"
printf 'FLCKMETA-but-not-really' >"$WORK/fake-sp/_metadata"
touch "$WORK/fake-sp/precious.state"
dispose "$WORK/fake-sp/_metadata"
failure_cause | grep -q "nothing was deleted" && [ -e "$WORK/fake-sp/precious.state" ] && [ -e "$WORK/fake-sp/_metadata" ] &&
	pass "a damaged _metadata: refused, nothing deleted" || fail "a damaged _metadata" "$(cat "$WORK/api.out")"
# Disposals asked for in a row queue on the one worker; each keeps its own
# outcome.
ids=()
for k in 1 2 3 4 5 6; do
	api POST /savepoint-disposal -H 'Content-Type: application/json' -d "{\"savepoint-path\": \"$WORK/gone-$k\"}"
	ids+=("$(json '."request-id"')")
done
ok=true
for k in 1 2 3 4 5 6; do
	for _ in $(seq 100); do
		api GET "/savepoint-disposal/${ids[$((k - 1))]}"
		[ "$(json .status.id)" = COMPLETED ] && break
		sleep 0.05
	done
	failure_cause | grep -qF "'$WORK/gone-$k': No such file" || ok=false
done
[ "$ok" = true ] && pass "six disposals in a row: each completes with its own cause" ||
	fail "disposals in a row" "$(cat "$WORK/api.out")"
for body in '' '{}' '{"savepoint-path": ""}' '{"savepoint-path": 7}' '[1]'; do
	api POST /savepoint-disposal -H 'Content-Type: application/json' -d "$body"
	[ "$CODE" = 400 ] && json '.errors[0]' | grep -q savepoint-path ||
		fail "POST /savepoint-disposal with '$body': $CODE" "$(cat "$WORK/api.out")"
done
pass "POST /savepoint-disposal without a savepoint-path string: 400 naming it"
api GET /savepoint-disposal/0123456789abcdef0123456789abcdef
[ "$CODE" = 404 ] && json '.errors[0]' | grep -q 'no savepoint disposal operation' &&
	pass "an unknown disposal trigger id: 404" || fail "unknown disposal trigger: $CODE" "$(cat "$WORK/api.out")"
# flinc savepoint --dispose: Flink's lines, or the cause and exit 1.
cli dispose savepoint -m "127.0.0.1:$REST_PORT" --dispose "$CLI_SP"
if [ "$RC" = 0 ] && [ "$(cat "$WORK/dispose.out")" = "Disposing savepoint '$CLI_SP'.
Waiting for response...
Savepoint '$CLI_SP' disposed." ] && [ ! -e "$CLI_SP" ]; then
	pass "flinc savepoint --dispose: Flink's three lines, the savepoint's directory gone"
else
	fail "flinc savepoint --dispose $CLI_SP (exit $RC)" "$(cat "$WORK/dispose.out" "$WORK/dispose.err" | head -n 20)"
fi
cli dispose-again savepoint -m "127.0.0.1:$REST_PORT" -d "$CLI_SP"
if [ "$RC" = 1 ] && grep -qF "flinc: Disposing the savepoint '$CLI_SP' failed: Cannot dispose savepoint '$CLI_SP': No such file or directory" "$WORK/dispose-again.err"; then
	pass "flinc savepoint -d of a savepoint gone: exit 1 with the JobManager's cause"
else
	fail "flinc savepoint -d of a missing savepoint (exit $RC)" "$(cat "$WORK/dispose-again.out" "$WORK/dispose-again.err" | head -n 20)"
fi

# ------------------------------------------------ keyed state in checkpoints
run_jar "$CKP_JAR" '{"parallelism": 2, "programArgsList": ["--rate", "4000", "--keyed"], "flinkConfiguration": {"execution.checkpointing.interval": "200 ms", "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION"}}'
wait_state "$JOB" RUNNING 20 || fail "the keyed job is not RUNNING: $STATE"
wait_count "/jobs/$JOB/checkpoints" .counts.completed 2 10 || true
completed=$COUNT
failed=$(json '.counts.failed')
KEYED_JOB=$JOB
# Newer checkpoints keep subsuming older ones while the job runs: look at
# what RETAIN_ON_CANCELLATION keeps once it is cancelled.
api PATCH "/jobs/$JOB?mode=cancel"
wait_state "$JOB" CANCELED 20 || fail "the keyed job did not cancel: $STATE"
KEPT=$(find "$CKP_DIR/$JOB" -mindepth 1 -maxdepth 1 -name 'chk-*' 2>/dev/null)
if [ "$completed" -ge 2 ] && [ "$failed" = 0 ] && [ "$(wc -l <<<"$KEPT")" = 1 ] && [ -s "$KEPT/_metadata" ] &&
	[ "$(head -c 7 "$KEPT/sums-0.state")" = FLSTATE ] && [ "$(head -c 7 "$KEPT/sums-1.state")" = FLSTATE ]; then
	pass "keyed state: checkpoints hold both subtasks' key groups in snapshot files (sums-0.state, sums-1.state); RETAIN_ON_CANCELLATION keeps the last one"
else
	fail "keyed checkpoints: $completed completed, $failed failed" "$(head -c 900 "$WORK/api.out")" "kept: $KEPT" "$(ls -la $KEPT 2>&1)"
fi
# A retained checkpoint is disposed as a savepoint is: its keyed state
# files, _metadata, then the directory.
dispose "file://$KEPT"
if [ "$(json .status.id)" = COMPLETED ] && [ "$(json '.operation | has("failure-cause")')" = false ] &&
	[ -n "$KEPT" ] && [ ! -e "$KEPT" ] && [ -d "$CKP_DIR/$JOB" ]; then
	pass "disposing the retained keyed checkpoint (file:// URI): its state files and directory are gone"
else
	fail "disposing $KEPT" "$(cat "$WORK/api.out")" "$(ls -la "$KEPT" 2>&1)"
fi

# ------------------------------- a text sink takes part in checkpoints
TEXT_OUT=$WORK/text-out
run_jar "$CKP_JAR" "{\"parallelism\": 2, \"programArgsList\": [\"--rate\", \"2000\", \"--text\", \"$TEXT_OUT\"], \"flinkConfiguration\": {\"execution.checkpointing.interval\": \"200 ms\"}}"
wait_state "$JOB" RUNNING 20 || fail "the text-sink job is not RUNNING: $STATE"
TEXT_RUN=${JOB:0:16}
wait_count "/jobs/$JOB/checkpoints" .counts.completed 3 20 || true
completed=$COUNT
# Committed at the checkpoints: part-<run>-<subtask>-<n>, visible while it runs.
COMMITTED=$(cd "$TEXT_OUT" && ls -d part-"$TEXT_RUN"-*-* 2>/dev/null || true)
if [ "$completed" -ge 3 ] && [ "$(json '.counts.failed')" = 0 ] && [ -n "$COMMITTED" ]; then
	pass "a text sink: checkpoints complete ($completed so far, none failed), each committing part files while the job runs ($(wc -l <<<"$COMMITTED") so far)"
else
	fail "text-sink checkpoints: $completed completed" "$(head -c 900 "$WORK/api.out")" "$(ls -A "$TEXT_OUT" 2>&1 | head)"
fi
api PATCH "/jobs/$JOB?mode=cancel"
wait_state "$JOB" CANCELED 20 || fail "the text-sink job did not cancel: $STATE"
kept=0
for f in $COMMITTED; do [ -s "$TEXT_OUT/$f" ] && kept=$((kept + 1)); done
# In progress: .part-<run>-<s>.inprogress.<attempt>, or a link made at the
# end of input (....end); pending files (-<s>-<n>.inprogress.<attempt>) stay.
if [ "$kept" = "$(wc -w <<<"$COMMITTED")" ] &&
	! ls -A "$TEXT_OUT" | grep -Eq '^\.part-[0-9a-f]{16}-[0-9]+\.inprogress\.[0-9a-f]{16}$|\.end$' &&
	[ ! -e "$TEXT_OUT/_SUCCESS" ]; then
	pass "cancelled: the committed part files stay, nothing in progress is left, no _SUCCESS"
else
	fail "after the cancel: $kept of the committed files kept" "$(ls -A "$TEXT_OUT" | head)"
fi

# ------------------------- cancel markers (Flink's CancelCheckpointMarker)
# Checkpoints that expire after 1 ms are given up while barriers are still
# on their way: a task whose barrier comes after the abort, or that was
# aligning when it came, gives the checkpoint up and sends its cancel marker
# downstream (unit.align has each case of the handler). The job's sums are
# exact all the same. Its input takes 2 s (100000 records/s in all), so
# about 40 checkpoints are tried: at 400000 a run under TSan tried so few
# that once none was given up.
run_jar "$CKP_JAR" '{"parallelism": 2, "programArgsList": ["--rate", "100000", "--count", "200000", "--keyed", "--print"], "flinkConfiguration": {"execution.checkpointing.interval": "50 ms", "execution.checkpointing.timeout": "1 ms", "execution.checkpointing.tolerable-failed-checkpoints": "100000"}}'
if wait_state "$JOB" 'FINISHED|FAILED|CANCELED' 60 && [ "$STATE" = FINISHED ]; then
	pass "a job whose checkpoints all expire after 1 ms ends FINISHED"
else
	fail "the job with expiring checkpoints ended $STATE" "$(curl -s "http://127.0.0.1:$REST_PORT/jobs/$JOB/exceptions" | head -c 600)"
fi
MARKERS=$(grep -h "job=$JOB" "$WORK"/tm-*.log | grep -c "was given up (.*): its cancel marker goes downstream" || true)
[ "$MARKERS" -ge 1 ] && pass "tasks gave expired checkpoints up and sent their cancel markers downstream ($MARKERS times)" ||
	fail "no task gave an expired checkpoint up" "$(grep -h "job=$JOB" "$WORK"/tm-*.log | grep -m3 -i 'checkpoint')"
# Every key's largest printed sum is its final one (sums only grow).
SUMS=$(cat "$WORK"/tm-a.log "$WORK"/tm-b.log | sed -nE 's/^([0-9]+> )?(-?[0-9]+)\t([0-9]+)$/\3 \2/p' |
	awk '{ if (!($1 in m) || $2 > m[$1]) m[$1] = $2 } END { for (k in m) s += m[k]; printf "%.0f\n", s }')
check "the sums are exact: every offset once (sum $SUMS)" test "$SUMS" = "$((200000 * 199999 / 2))"

# ------------------------- AT_LEAST_ONCE: barriers are tracked, not aligned
run_jar "$CKP_JAR" '{"parallelism": 2, "programArgsList": ["--rate", "20000", "--count", "20000", "--keyed"], "flinkConfiguration": {"execution.checkpointing.interval": "100 ms", "execution.checkpointing.mode": "AT_LEAST_ONCE"}}'
api GET "/jobs/$JOB/checkpoints/config"
check "checkpoints/config: mode at_least_once" test "$(json .mode)" = at_least_once
for _ in $(seq 100); do
	api GET "/jobs/$JOB/checkpoints"
	[ "$(json '.counts.completed')" -ge 2 ] 2>/dev/null && break
	sleep 0.1
done
check "AT_LEAST_ONCE checkpoints complete ($(json '.counts.completed'))" test "$(json '.counts.completed')" -ge 2
wait_state "$JOB" 'FINISHED|FAILED|CANCELED' 60
check "the AT_LEAST_ONCE job ends FINISHED" test "$STATE" = FINISHED

# ------------------------- bounded sources end the job FINISHED, not FAILED
# Checkpoints in flight when a source ends are aborted without counting
# against the tolerable failures (0 here), as Flink's are.
run_jar "$CKP_JAR" '{"parallelism": 2, "programArgsList": ["--rate", "3000", "--count", "3000", "--keyed"], "flinkConfiguration": {"execution.checkpointing.interval": "50 ms"}}'
if wait_state "$JOB" 'FINISHED|FAILED|CANCELED' 30 && [ "$STATE" = FINISHED ]; then
	pass "a bounded job checkpointing every 50 ms ends FINISHED"
else
	fail "the bounded checkpointed job ended $STATE" "$(curl -s "http://127.0.0.1:$REST_PORT/jobs/$JOB/exceptions" | head -c 600)"
fi
check "its checkpoints are gone with it (FINISHED)" test ! -e "$CKP_DIR/$JOB"
api POST "/jars/$CKP_JAR/run" -H 'Content-Type: application/json' \
	-d '{"flinkConfiguration": {"execution.checkpointing.interval": "1 s", "execution.checkpointing.dir": ""}}'
[ "$CODE" = 400 ] && grep -q 'execution.checkpointing.dir' "$WORK/api.out" &&
	pass "periodic checkpoints without a directory: refused (400) naming the key" ||
	fail "interval without a directory: $CODE" "$(cat "$WORK/api.out")"
api POST "/jobs/$KEYED_JOB/savepoints" -H 'Content-Type: application/json' -d "{\"target-directory\": \"$SP_DIR\"}"
check "a savepoint of an ended job: 409" test "$CODE" = 409

# ------------------------------- what a run starts from (-s, savepointPath)
# The path given reaches the job's configuration (execution.savepoint.path):
# a path that is no savepoint is refused naming it, at submission (400) or
# as the job's failure. Whichever flinc does, the path must be named.
NOSP=$WORK/no-such-savepoint
# run_names_nosp: the last POST /jars/:id/run was refused naming $NOSP, or
# its job failed naming it.
run_names_nosp() {
	if [ "$CODE" = 400 ]; then
		json '.errors[0]' | grep -qF "$NOSP"
	elif [ "$CODE" = 200 ]; then
		JOB=$(json .jobid)
		wait_state "$JOB" 'FAILED|FINISHED|CANCELED' 30 && [ "$STATE" = FAILED ] &&
			curl -s "http://127.0.0.1:$REST_PORT/jobs/$JOB/exceptions" | grep -qF "$NOSP"
	else
		return 1
	fi
}
api POST "/jars/$CKP_JAR/run" -H 'Content-Type: application/json' \
	-d "{\"programArgsList\": [\"--count\", \"10\"], \"savepointPath\": \"$NOSP\", \"allowNonRestoredState\": true, \"restoreMode\": \"claim\"}"
run_names_nosp && pass "POST /jars/:id/run with savepointPath: the job is refused naming the path ($CODE)" ||
	fail "savepointPath did not reach the job: $CODE" "$(cat "$WORK/api.out")"
# Fields of the wrong type or value are refused naming them.
for body in '{"savepointPath": 5}' '{"allowNonRestoredState": "yes"}' '{"restoreMode": "LEGACY"}' \
	'{"claimMode": 1}' '{"claimMode": "NONE"}'; do
	field=$(jq -r 'keys[0]' <<<"$body")
	api POST "/jars/$CKP_JAR/run" -H 'Content-Type: application/json' -d "$body"
	[ "$CODE" = 400 ] && json '.errors[0]' | grep -q "^$field" ||
		fail "POST /jars/:id/run with $body: $CODE" "$(cat "$WORK/api.out")"
done
json '.errors[0]' | grep -q 'execution.savepoint-restore-mode.*one of NO_CLAIM, CLAIM' &&
	pass "run request fields of the wrong type or value: 400 naming the field (and the key)" ||
	fail "claimMode NONE" "$(cat "$WORK/api.out")"

# flinc run -s on the cluster sends them in the run request.
cli run-s run -m "127.0.0.1:$REST_PORT" -s "$NOSP" -n --restoreMode CLAIM "$CKP_JOB" --count 10
[ "$RC" = 1 ] && grep -qF "$NOSP" "$WORK/run-s.err" &&
	pass "flinc run -m ... -s PATH: exit 1 naming the path" ||
	fail "flinc run -s on the cluster (exit $RC)" "$(cat "$WORK/run-s.err" | head -n 20)"
cli run-rm run -m "127.0.0.1:$REST_PORT" -rm LEGACY "$CKP_JOB"
[ "$RC" = 2 ] && grep -qF -- "-rm takes CLAIM or NO_CLAIM, not 'LEGACY'" "$WORK/run-rm.err" &&
	pass "flinc run -rm LEGACY: refused before anything is sent (exit 2)" ||
	fail "flinc run -rm LEGACY (exit $RC)" "$(cat "$WORK/run-rm.err")"
# ... and into the local cluster's configuration.
cli run-local-s run --local --no-progress -D "log.file=$WORK/local-s.log" -s "$NOSP" "$CKP_JOB" --count 10
[ "$RC" != 0 ] && grep -qF "$NOSP" "$WORK/run-local-s.err" &&
	pass "flinc run --local -s PATH: exit $RC naming the path" ||
	fail "flinc run --local -s (exit $RC)" "$(cat "$WORK/run-local-s.err" | head -n 20)"
# ... and into an application cluster's (flinc-jobmanager --application).
RC=0
timeout -k 10 120 "$JM_BIN" "${COMMON[@]}" -D jobmanager.rpc.port=0 -D rest.port=0 -D rest.address=127.0.0.1 \
	-D slot.request.timeout=4s -s "$NOSP" --allowNonRestoredState --application "$CKP_JOB" -- --count 10 \
	>"$WORK/app-s.log" 2>&1 || RC=$?
[ "$RC" = 1 ] && grep -qF "$NOSP" "$WORK/app-s.log" &&
	pass "flinc-jobmanager -s PATH --application: exit 1 naming the path" ||
	fail "an application cluster with -s (exit $RC)" "$(tail -n 5 "$WORK/app-s.log")"

# ------------------------------------------ the local cluster checkpoints too
RC=0
timeout -k 10 120 "$FLINC" run --local --no-progress -p 2 -D "log.file=$WORK/local.log" \
	-D execution.checkpointing.interval=200ms -D "execution.checkpointing.dir=$WORK/local-ckp" \
	-D execution.checkpointing.externalized-checkpoint-retention=RETAIN_ON_CANCELLATION \
	"$CKP_JOB" --count 6000 --rate 4000 >"$WORK/local.out" 2>"$WORK/local.err" || RC=$?
LOCAL_JOB=$(sed -n 's/^Job has been submitted with JobID \([0-9a-f]*\).*/\1/p' "$WORK/local.err")
if [ "$RC" = 0 ] && [ -n "$LOCAL_JOB" ] && grep -q "Completed checkpoint [0-9]* of job $LOCAL_JOB" "$WORK/local.log" &&
	[ ! -e "$WORK/local-ckp/$LOCAL_JOB" ]; then
	pass "flinc run --local: checkpoints complete; the job FINISHED, so even RETAIN_ON_CANCELLATION removes them (Flink's discardFinished)"
else
	fail "local checkpoints: exit $RC" "$(tail -3 "$WORK/local.err")" "$(find "$WORK/local-ckp" | head)"
fi

stop_all
logs_clean "$WORK"/jm.log "$WORK"/tm-*.log "$WORK"/app-s.log "$WORK"/*.err
it_finish
