#!/usr/bin/env bash
# A session cluster of real processes on loopback: one flinc-jobmanager and
# two flinc-taskmanager with 2 slots each. Jobs are uploaded and run through
# the REST API (curl here; the flinc CLI's remote commands have their own
# test), their libraries fetched by the TaskManagers from the JobManager.
# Checks: registration (/overview, /taskmanagers), WordCount at p=4 exact
# against an independent reference, two jobs at once and cancelling one,
# REST error answers, a TaskManager killed mid-job, not enough slots, and
# clean shutdown on SIGTERM.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_setup
source "$(dirname "$0")/cluster.sh"
WC=$EXAMPLES/wordcount.so
SLOW=$JOBS/slow_sink.so
[ -e "$SLOW" ] || { echo "missing $SLOW (build the project first)" >&2; exit 1; }

# ------------------------------------------------------------- cluster up
start_jm jm
check "the JobManager serves REST and RPC on bound ports ($REST_PORT, $RPC_PORT)" test -n "$REST_PORT"
start_tm tm-a
TM_A=$LAST_TM
start_tm tm-b
check "/overview reports 2 TaskManagers" wait_overview 2 20
if [ "$(json '."slots-total"')" = 4 ] && [ "$(json '."slots-available"')" = 4 ]; then
	pass "/overview: 4 slots, 4 available"
else
	fail "/overview slots" "$(cat "$WORK/api.out")"
fi
api GET /taskmanagers
if [ "$CODE" = 200 ] && [ "$(json '[.taskmanagers[].id] | sort | join(",")')" = "tm-a,tm-b" ] &&
	[ "$(json '[.taskmanagers[].slotsNumber] | add')" = 4 ]; then
	pass "/taskmanagers lists tm-a and tm-b with 2 slots each"
else
	fail "/taskmanagers" "$(cat "$WORK/api.out")"
fi

# ------------------------------------------------------- WordCount at p=4
awk 'BEGIN { srand(7); for (l = 0; l < 20000; l++) { n = 1 + int(rand() * 12); s = "";
	for (i = 0; i < n; i++) s = s sprintf("w%d ", int(rand() * rand() * 3000)); print s } }' >"$WORK/in.txt"
tr -cs 'A-Za-z0-9' '\n' <"$WORK/in.txt" | tr 'A-Z' 'a-z' | grep -v '^$' | sort | uniq -c |
	awk '{print $2 "," $1}' | sort >"$WORK/expected.txt"
upload "$WC"
check "upload of wordcount.so answers with its id" test -n "$JAR"
api GET /jars
check "/jars lists the upload" grep -q "\"$JAR\"" "$WORK/api.out"
run_jar "$JAR" "{\"programArgsList\": [\"--input\", \"$WORK/in.txt\", \"--output\", \"$WORK/wc-out\", \"--mode\", \"batch\"], \"parallelism\": 4}"
if wait_state "$JOB" 'FINISHED|FAILED|CANCELED' 60 && [ "$STATE" = FINISHED ]; then
	pass "WordCount p=4 on 2 TaskManagers FINISHED"
else
	fail "WordCount p=4 ended $STATE" "$(cat "$WORK/api.out" | head -c 600)"
fi
cat "$WORK"/wc-out/part-* 2>/dev/null | tr '\t' ',' | sort >"$WORK/got.txt" || true
same_file "WordCount p=4 output equals the reference" "$WORK/expected.txt" "$WORK/got.txt"
api GET "/jobs/$JOB"
if [ "$(json '.vertices | length')" -ge 2 ] && [ "$(json '[.vertices[].parallelism] | max')" = 4 ] &&
	[ "$(json '[.vertices[].metrics."read-records"] | add > 0')" = true ] &&
	[ "$(json '[.vertices[].metrics."read-bytes"] | add > 0')" = true ] &&
	[ "$(json '[.vertices[].metrics."write-bytes"] | add > 0')" = true ]; then
	pass "/jobs/:id shows the vertices at parallelism 4 with records and bytes read and written"
else
	fail "/jobs/:id details" "$(head -c 800 "$WORK/api.out")"
fi
api GET "/jobs/$JOB/checkpoints"
[ "$CODE" = 404 ] && grep -q 'Checkpointing is not enabled' "$WORK/api.out" &&
	pass "a batch job has no checkpoints: Flink's 404" || fail "checkpoints of a batch job: $CODE" "$(cat "$WORK/api.out")"
grep -q 'Fetched job library' "$WORK/tm-a.log" && grep -q 'Fetched job library' "$WORK/tm-b.log" &&
	pass "both TaskManagers fetched the library from the JobManager by hash" ||
	fail "library fetch" "$(grep -h 'library' "$WORK"/tm-*.log | head -5)"
check "the slots are free again" wait_overview 2 5

[ "$(json '."slots-available"')" = 4 ] && pass "4 slots available after the job" ||
	fail "slots after the job" "$(cat "$WORK/api.out")"

# ----------------------------------------------- a plan, nothing run
api GET /jobs
jobs_before=$(json '.jobs | length')
api POST "/jars/$JAR/plan" -H 'Content-Type: application/json' \
	-d "{\"programArgsList\": [\"--input\", \"$WORK/in.txt\", \"--output\", \"$WORK/wc-plan\", \"--mode\", \"batch\"], \"parallelism\": 3, \"jobId\": \"00112233445566778899aabbccddeeff\"}"
if [ "$CODE" = 200 ] && [ "$(json .plan.jid)" = 00112233445566778899aabbccddeeff ] &&
	[ "$(json .plan.type)" = BATCH ] && [ "$(json '[.plan.nodes[].parallelism] | max')" = 3 ] &&
	[ "$(json '[.plan.nodes[].inputs[]?.ship_strategy] | index("HASH") != null')" = true ]; then
	pass "POST /jars/:id/plan: the job graph at parallelism 3 under the given job id, a HASH input"
else
	fail "POST /jars/:id/plan: $CODE" "$(head -c 800 "$WORK/api.out")"
fi
api GET /jobs
check "planning ran no job" test "$(json '.jobs | length')" = "$jobs_before"
check "planning wrote no output" test ! -e "$WORK/wc-plan"
api POST "/jars/$JAR/plan" -H 'Content-Type: application/json' -d '{"jobId": "nope"}'
[ "$CODE" = 400 ] && grep -q 'jobId' "$WORK/api.out" && pass "a plan with a malformed jobId: 400 naming jobId" ||
	fail "plan with a bad jobId: $CODE" "$(cat "$WORK/api.out")"
api POST /jars/nope_job.so/plan -H 'Content-Type: application/json' -d '{}'
check "planning an unknown jar: 404" test "$CODE" = 404

# ------------------------------------------------------------ co-location
upload "$JOBS/colocated.so"
run_jar "$JAR" '{"parallelism": 2, "jobId": "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0"}'
check "run with a jobId: the job has that id" test "$JOB" = c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0
api POST "/jars/$JAR/run" -H 'Content-Type: application/json' -d '{"jobId": "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0"}'
[ "$CODE" = 400 ] && grep -q 'already been submitted' "$WORK/api.out" && pass "a second run with the same jobId: 400, already submitted" ||
	fail "duplicate jobId: $CODE" "$(cat "$WORK/api.out")"
if wait_state "$JOB" RUNNING 20; then
	api GET "/jobs/$JOB/vertices/${JOB:0:24}00000000"
	json '[.subtasks[] | "\(.subtask) \(."taskmanager-id") \(.slot)"] | join(";")' >"$WORK/coloc-src.txt"
	api GET "/jobs/$JOB/vertices/${JOB:0:24}00000001"
	json '[.subtasks[] | "\(.subtask) \(."taskmanager-id") \(.slot)"] | join(";")' >"$WORK/coloc-map.txt"
	if cmp -s "$WORK/coloc-src.txt" "$WORK/coloc-map.txt" && grep -q 'tm-' "$WORK/coloc-src.txt"; then
		pass "co-located source and map: subtask i of each in the same slot ($(cat "$WORK/coloc-src.txt"))"
	else
		fail "co-location" "source: $(cat "$WORK/coloc-src.txt")" "map: $(cat "$WORK/coloc-map.txt")"
	fi
	api PATCH "/jobs/$JOB?mode=cancel"
	wait_state "$JOB" CANCELED 20 || fail "the co-located job did not cancel: $STATE"
else
	fail "the co-located job is not RUNNING: $STATE"
fi

# ------------------------------------------- two jobs, cancelling one
upload "$SLOW"
SLOW_JAR=$JAR
run_jar "$SLOW_JAR" '{"programArgsList": ["--count", "100000000"], "parallelism": 1}'
JOB1=$JOB
run_jar "$JAR" '{"programArgsList": ["--count", "100000000"], "parallelism": 1}'
JOB2=$JOB
wait_state "$JOB1" RUNNING 20 && wait_state "$JOB2" RUNNING 20 &&
	pass "two jobs RUNNING at once" || fail "two jobs running ($STATE)" "$(job_why "$JOB1" "$JOB2")"
api PATCH "/jobs/$JOB1?mode=cancel"
check "PATCH /jobs/:id?mode=cancel answers 202" test "$CODE" = 202
if wait_state "$JOB1" CANCELED 20; then pass "the cancelled job is CANCELED"; else fail "cancelled job: $STATE"; fi
api GET "/jobs/$JOB2"
check "the other job keeps RUNNING" test "$(json .state)" = RUNNING
api PATCH "/jobs/$JOB1?mode=cancel"
check "cancelling an ended job is 409" test "$CODE" = 409

# ---------------------------------------------------------- REST errors
api GET /jobs/0123456789abcdef0123456789abcdef
[ "$CODE" = 404 ] && grep -q '"errors"' "$WORK/api.out" && pass "unknown job: 404 with errors" ||
	fail "unknown job: $CODE" "$(cat "$WORK/api.out")"
api GET /jobs/not-a-job
[ "$CODE" = 400 ] && grep -q '"errors"' "$WORK/api.out" && pass "malformed job id: 400 with errors" ||
	fail "malformed job id: $CODE" "$(cat "$WORK/api.out")"
api GET /no/such/path
check "unknown path: 404" test "$CODE" = 404
api POST /jars/upload -F "jarfile=@/etc/hostname"
[ "$CODE" = 400 ] && grep -q 'ELF' "$WORK/api.out" && pass "a non-ELF upload: 400 naming ELF" ||
	fail "non-ELF upload: $CODE" "$(cat "$WORK/api.out")"
api POST /jars/nope_job.so/run -H 'Content-Type: application/json' -d '{}'
check "running an unknown jar: 404" test "$CODE" = 404
api POST "/jars/$SLOW_JAR/run" -H 'Content-Type: application/json' -d '{"parallelism": '
check "malformed JSON body: 400" test "$CODE" = 400
api POST "/jars/$SLOW_JAR/run" -H 'Content-Type: application/json' -d '{"parallelism": 0}'
check "parallelism 0: 400" test "$CODE" = 400
api POST "/jars/$SLOW_JAR/run" -H 'Content-Type: application/json' -d '{"flinkConfiguration": {"heartbeat.timeout": "soon"}}'
[ "$CODE" = 400 ] && grep -q 'heartbeat.timeout' "$WORK/api.out" && pass "a bad configuration value: 400 naming the key" ||
	fail "bad configuration: $CODE" "$(cat "$WORK/api.out")"

# ------------------------------------------------- a TaskManager killed
api GET "/jobs/$JOB2/vertices/${JOB2:0:24}00000000"
check "/jobs/:id/vertices/:vid answers" test "$CODE" = 200
kill -9 "$TM_A" 2>/dev/null || true
wait "$TM_A" 2>/dev/null || true
# Its slot held one of the jobs' tasks or not: either way the cluster
# notices the loss. The running job fails only if it ran there.
check "the JobManager forgets the killed TaskManager" wait_overview 1 15
api PATCH "/jobs/$JOB2?mode=cancel"
wait_state "$JOB2" 'CANCELED|FAILED' 20 && pass "the remaining job ended ($STATE)" || fail "remaining job: $STATE"
upload "$WC"
run_jar "$JAR" "{\"programArgsList\": [\"--input\", \"$WORK/in.txt\"], \"parallelism\": 3}"
if wait_state "$JOB" 'FAILED' 30; then
	api GET "/jobs/$JOB/exceptions"
	grep -q 'needs 3 slots' "$WORK/api.out" && pass "not enough slots: FAILED naming 3 slots needed" ||
		fail "not-enough-slots message" "$(cat "$WORK/api.out")"
else
	fail "a p=3 job on 2 slots: $STATE"
fi

# ------------------------------------------ restart after a lost TaskManager
# A paced job spread over two TaskManagers, one of them killed mid-job and a
# replacement started: with fixed-delay restarts the job runs again from
# the start (no checkpoints yet) on the slots there are, and ends exact.
start_tm tm-c
check "a second TaskManager joins" wait_overview 2 20
upload "$JOBS/paced_sum.so"
run_jar "$JAR" "{\"programArgsList\": [\"--count\", \"3000\", \"--rate\", \"500\", \"--output\", \"$WORK/paced\"], \"parallelism\": 2, \"flinkConfiguration\": {\"restart-strategy.type\": \"fixed-delay\", \"restart-strategy.fixed-delay.attempts\": \"10\", \"restart-strategy.fixed-delay.delay\": \"500 ms\"}}"
wait_state "$JOB" RUNNING 20 || true
sleep 1.5
api GET "/jobs/$JOB/vertices/${JOB:0:24}00000000"
VICTIM=$(json '.subtasks[0]."taskmanager-id"')
VICTIM_PID=
case $VICTIM in tm-b | tm-c) VICTIM_PID=${TM_PID[$VICTIM]} ;; esac
if [ -n "$VICTIM_PID" ]; then
	# Metrics while the job runs: the JobManager's on its REST port, each
# TaskManager's on its own.
api GET /metrics
if [ "$CODE" = 200 ] && grep -q '^flinc_jobmanager_taskmanagers 2$' "$WORK/api.out" &&
	grep -q '^flinc_jobmanager_jobs{state="running"} 1$' "$WORK/api.out" &&
	grep -Eq '^flinc_process_resident_memory_bytes\{component="jobmanager"\} [1-9][0-9]*$' "$WORK/api.out" &&
	grep -Eq '^flinc_jobmanager_taskmanagers_lost_total [1-9][0-9]*$' "$WORK/api.out" &&
	grep -Eq '^flinc_jobmanager_heartbeats_missed_total [0-9]+$' "$WORK/api.out"; then
	pass "the JobManager's /metrics: TaskManagers, running jobs, process RSS, the killed TaskManager counted lost, heartbeats missed"
else
	fail "JobManager /metrics" "$(head -c 800 "$WORK/api.out")"
fi
MP=$(metrics_port "$VICTIM")
curl -s "http://127.0.0.1:$MP/metrics" >"$WORK/tm-metrics.txt" || true
if grep -Eq "^flinc_operator_records_out_total\{job_id=\"$JOB\",task_name=\"Source: Generator \([12]/2\)\",operator_name=\"Source: Generator\",subtask_index=\"[01]\"\} [1-9][0-9]*$" "$WORK/tm-metrics.txt" &&
	grep -q '^flinc_taskmanager_slots{tm_id="'"$VICTIM"'"} 2$' "$WORK/tm-metrics.txt" &&
	grep -q '^flinc_process_threads{component="taskmanager"' "$WORK/tm-metrics.txt"; then
	pass "$VICTIM's /metrics: the source's records out, slots, threads"
else
	fail "TaskManager /metrics (port $MP)" "$(head -c 1200 "$WORK/tm-metrics.txt")"
fi
# Network I/O per task (Flink's numBytesIn/Out, numBuffersIn/Out and
# back-pressured time) on both TaskManagers, which exchange the keyed
# records, and the heartbeats-missed counters.
tm_series() { # tm_series FILE NAME: the sum of NAME over the job's tasks
	grep -E "^flinc_taskmanager_job_task_$2\{[^}]*job_id=\"$JOB\"" "$1" | awk '{ s += $NF } END { print s + 0 }'
}
io_ok=true
io_why=
for tm in tm-b tm-c; do
	curl -s "http://127.0.0.1:$(metrics_port "$tm")/metrics" >"$WORK/io-$tm.txt" || true
	for series in numBytesIn numBytesOut numBuffersIn numBuffersOut; do
		v=$(tm_series "$WORK/io-$tm.txt" "$series")
		[ "$v" -gt 0 ] 2>/dev/null || { io_ok=false; io_why+="$tm $series=$v; "; }
	done
	for series in accumulatedBackPressuredTimeMs backPressuredTimeMsPerSecond; do
		grep -Eq "^flinc_taskmanager_job_task_$series\{[^}]*job_id=\"$JOB\"[^}]*\} [0-9.]+$" "$WORK/io-$tm.txt" ||
			{ io_ok=false; io_why+="$tm: no $series; "; }
	done
	for from in jobmaster resourcemanager; do
		grep -Eq "^flinc_taskmanager_heartbeats_missed_total\{tm_id=\"$tm\",from=\"$from\"\} [0-9]+$" "$WORK/io-$tm.txt" ||
			{ io_ok=false; io_why+="$tm: no heartbeats missed from $from; "; }
	done
done
if $io_ok; then
	pass "both TaskManagers' /metrics: bytes and buffers in/out per task non-zero, back-pressured time, heartbeats missed"
else
	fail "per-task I/O metrics: $io_why" "$(grep -h 'job_task\|heartbeats' "$WORK"/io-tm-*.txt | head -c 1500)"
fi
kill -9 "$VICTIM_PID"
	pass "killed $VICTIM (pid $VICTIM_PID), which ran the job's source"
else
	fail "no TaskManager to kill (the source ran on '$VICTIM')"
fi
start_tm tm-d
if wait_state "$JOB" 'FINISHED|FAILED|CANCELED' 90 && [ "$STATE" = FINISHED ]; then
	pass "the job restarted and FINISHED"
else
	fail "restarted job ended $STATE" "$(head -c 600 "$WORK/api.out")"
fi
awk 'BEGIN { for (o = 0; o < 3000; o++) s[o % 10] += o; for (k = 0; k < 10; k++) print k "," s[k] }' | sort >"$WORK/paced-expected.txt"
cat "$WORK"/paced/part-* 2>/dev/null | tr '\t' ',' | sort >"$WORK/paced-got.txt" || true
same_file "the restarted job's output is exact" "$WORK/paced-expected.txt" "$WORK/paced-got.txt"
api GET "/jobs/$JOB/exceptions"
[ "$(json '.exceptionHistory.entries | length')" -ge 1 ] && pass "the exception history keeps the failure that restarted it" ||
	fail "exception history" "$(head -c 600 "$WORK/api.out")"
api GET "/jobs/$JOB/config"
grep -q 'Restart with fixed delay (500 ms)' "$WORK/api.out" && pass "/jobs/:id/config names the restart strategy" ||
	fail "restart strategy in /jobs/:id/config" "$(cat "$WORK/api.out")"
grep -q "switched from state FAILING to RESTARTING" "$WORK/jm.log" && pass "the JobManager logged the restart" ||
	fail "no restart in the JobManager's log"

# ------------------------------------------------- the JobManager comes back
# Killed and started again on the same RPC port: its TaskManagers notice
# the new session and register with it.
api GET /overview
ALIVE=$(json .taskmanagers)
kill -9 "$JM_PID"
wait "$JM_PID" 2>/dev/null || true
mv "$WORK/jm.log" "$WORK/jm-first.log"
start_jm jm -D jobmanager.rpc.port="$RPC_PORT"
if wait_overview "$ALIVE" 20; then
	pass "a restarted JobManager has its $ALIVE TaskManagers back"
else
	fail "after the JobManager's restart: $(json .taskmanagers) TaskManagers, not $ALIVE"
fi

# ---------------------------------- a user function that ignores cancel
# A TaskManager whose task does not end within task.cancellation.timeout
# exits, as Flink's does; the cancelled job ends all the same.
for t in tm-b tm-c tm-d; do kill -TERM "${TM_PID[$t]}" 2>/dev/null || true; done
check "the other TaskManagers left" wait_overview 0 30
start_tm tm-stuck -D task.cancellation.interval=200ms -D task.cancellation.timeout=2s
STUCK_PID=$LAST_TM
check "a TaskManager with a 2 s cancellation timeout joins" wait_overview 1 20
upload "$JOBS/faults.so"
run_jar "$JAR" '{"programArgsList": ["stuck"], "parallelism": 1}'
wait_state "$JOB" RUNNING 20 || true
sleep 1
T0=$(date +%s%N)
api PATCH "/jobs/$JOB?mode=cancel"
# The task ignores the cancel for 2 s: meanwhile every endpoint shows the
# job CANCELLING, the list as the job's details.
api GET "/jobs/$JOB"
shown=$(json .state)
api GET /jobs
listed=$(json ".jobs[] | select(.id == \"$JOB\") | .status")
[ "$shown" = CANCELLING ] && [ "$listed" = CANCELLING ] &&
	pass "while the stuck task is cancelled, /jobs/:id and /jobs both show CANCELLING" ||
	fail "state during the cancellation: /jobs/:id $shown, /jobs $listed"
if wait_state "$JOB" 'CANCELED|FAILED' 30; then
	pass "the job with a stuck user function ended ($STATE) $((($(date +%s%N) - T0) / 1000000)) ms after the cancel"
else
	fail "the stuck job did not end: $STATE"
fi
for _ in $(seq 100); do kill -0 "$STUCK_PID" 2>/dev/null || break; sleep 0.1; done
RC=0
kill -0 "$STUCK_PID" 2>/dev/null && RC=running
wait "$STUCK_PID" 2>/dev/null || RC=$?
[ "$RC" = 1 ] && grep -q 'did not exit gracefully.*the TaskManager exits' "$WORK/tm-stuck.log" &&
	pass "the TaskManager exited 1 naming the stuck task" ||
	fail "stuck TaskManager: exit $RC" "$(grep -m2 -E 'gracefully|ERROR' "$WORK/tm-stuck.log")"

# --------------------------------------------------------------- shutdown
kill -TERM "$JM_PID"
for _ in $(seq 100); do kill -0 "$JM_PID" 2>/dev/null || break; sleep 0.1; done
RC=0
wait "$JM_PID" || RC=$?
check "the JobManager exits 0 on SIGTERM" test "$RC" = 0
stop_all

# ------------------------------------------------------- application mode
# The JobManager runs the job's main() and exits with its result; a
# TaskManager joins once the JobManager's RPC port is known.
run_app() { # run_app TAG JOB.so [job args...]: exit code in RC
	local tag=$1 job=$2
	shift 2
	"$JM_BIN" "${COMMON[@]}" -D jobmanager.rpc.port=0 -D rest.port=0 -D rest.address=127.0.0.1 \
		-D slot.request.timeout=30s --application "$job" -- "$@" >"$WORK/$tag.log" 2>&1 &
	local pid=$!
	for _ in $(seq 200); do
		grep -q '^flinc-jobmanager: rest port' "$WORK/$tag.log" && break
		sleep 0.05
	done
	RPC_PORT=$(sed -nE 's/^flinc-jobmanager: rest port [0-9]+ rpc tcp:\/\/.*:([0-9]+)$/\1/p' "$WORK/$tag.log")
	PIDS=()
	start_tm "$tag-tm"
	RC=0
	for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
	wait "$pid" || RC=$?
	stop_all
	wait 2>/dev/null || true
}
run_app app-ok "$WC" --input "$WORK/in.txt" --output "$WORK/app-out" --mode batch
cat "$WORK"/app-out/part-* 2>/dev/null | tr '\t' ',' | sort >"$WORK/app-got.txt" || true
check "application mode: exit 0" test "$RC" = 0
same_file "application mode: output equals the reference" "$WORK/expected.txt" "$WORK/app-got.txt"
run_app app-fail "$JOBS/fail_map.so"
if [ "$RC" != 0 ] && grep -q "The application's job did not finish: .*FAILED\|The application's job did not finish" "$WORK/app-fail.log" &&
	grep -q 'switched from state RUNNING to FAILING: ' "$WORK/app-fail.log"; then
	pass "application mode with a failing job: exit $RC and the cause in the log"
else
	fail "application mode, failing job: exit $RC" "$(tail -n 5 "$WORK/app-fail.log")"
fi

logs_clean "$WORK"/jm.log "$WORK"/jm-first.log "$WORK"/tm-*.log "$WORK"/app-*.log
it_finish
