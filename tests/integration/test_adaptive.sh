#!/usr/bin/env bash
# The adaptive scheduler (issue #10): a session cluster of real processes with
# jobmanager.scheduler: adaptive runs jobs/checkpointed.so keyed — one
# generator subtask, every key's running sum of offsets written by the
# exactly-once text sink, checkpoints every 200 ms — asked for parallelism 4
# with one TaskManager of 2 slots.
#   - It starts at the parallelism the slots give (the keyed vertex at 2);
#     GET /jobs/:jobid/resource-requirements shows Flink's default bounds
#     (1 .. the parallelism asked for).
#   - A second TaskManager: the job rescales in place to 4 (the upper bound),
#     restarting from its latest checkpoint, with no restart counted.
#   - PUT /jobs/:jobid/resource-requirements with an upper bound of 1: it
#     rescales down to 1.
#   - Bad bodies get 400 naming the vertex and the field; a job under the
#     default scheduler gets 400 saying so.
#   - The job ends FINISHED and its committed output holds every update of
#     every key exactly once across the three parallelisms.
#   - /jobs/:jobid/rescales/{config,overview,history,summary,details/:uuid}
#     (Flink 2.3, web.adaptive-scheduler.rescale-history.size 16) tell the
#     same story: the first schedule, the rescale for new slots and the one
#     for new requirements, completed at 2, 4 and 1; a default-scheduler job
#     has none (404).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_setup
source "$(dirname "$0")/cluster.sh"
JOB_SO=$JOBS/checkpointed.so
[ -e "$JOB_SO" ] || { echo "missing $JOB_SO (build the project first)" >&2; exit 1; }
N=${ADAPTIVE_RECORDS:-240000}
M=50

start_jm jm -D jobmanager.scheduler=adaptive -D execution.checkpointing.dir="file://$WORK/ckp" \
	-D web.adaptive-scheduler.rescale-history.size=16 \
	-D jobmanager.adaptive-scheduler.submission.resource-stabilization-timeout=300ms \
	-D jobmanager.adaptive-scheduler.executing.cooldown-after-rescaling=1s \
	-D jobmanager.adaptive-scheduler.executing.resource-stabilization-timeout=1s
start_tm tm-0
check "/overview reports 1 TaskManager" wait_overview 1 20
upload "$JOB_SO"
awk -v n=$N -v m=$M 'BEGIN { for (o = 0; o < n; o++) { s[o % m] += o; print s[o % m] "\t" o % m } }' |
	sort >"$WORK/expected"

# parallelism_is JOB "P1,P2": the vertices' parallelism, in order, and all RUNNING.
parallelism_is() {
	api GET "/jobs/$1"
	[ "$(json '.state')" = RUNNING ] &&
		[ "$(json '[.vertices[].parallelism | tostring] | join(",")')" = "$2" ] &&
		[ "$(json '[.vertices[].status] | all(. == "RUNNING")')" = true ]
}
wait_parallelism() { # wait_parallelism JOB "P1,P2" SECONDS
	for _ in $(seq $(($3 * 10))); do
		parallelism_is "$1" "$2" && return 0
		sleep 0.1
	done
	return 1
}

run_jar "$JAR" "{\"parallelism\": 4, \"programArgsList\": [\"--keyed\", \"--text\", \"$WORK/out\", \"--source-parallelism\", \"1\", \"--count\", \"$N\", \"--mod\", \"$M\", \"--rate\", \"12000\"], \"flinkConfiguration\": {\"execution.checkpointing.interval\": \"200 ms\"}}"
if wait_parallelism "$JOB" "1,2" 20; then
	pass "with 2 slots the job runs at the parallelism they give: source 1, keyed sum 2"
else
	fail "the job does not run at 1,2" "$(json '.state, [.vertices[] | .name + " " + (.parallelism | tostring) + " " + .status]')"
fi
api GET "/jobs/$JOB/resource-requirements"
bounds=$(json '[to_entries[] | "\(.value.parallelism.lowerBound)..\(.value.parallelism.upperBound)"] | join(",")')
check "GET resource-requirements: Flink's default bounds per vertex ($bounds)" test "$CODE/$bounds" = "200/1..1,1..4"
SRC=$(json 'keys_unsorted[0]')
SUM=$(json 'keys_unsorted[1]')
api GET "/jobs/$JOB"
check "the requirements name the job's vertex ids" test "$(json '[.vertices[].id] | join(",")')" = "$SRC,$SUM"

# More slots: up to the upper bound, after the cooldown.
api GET "/jobs/$JOB/checkpoints"
restored0=$(json '.counts.restored')
start_tm tm-1
if wait_parallelism "$JOB" "1,4" 30; then
	pass "a second TaskManager: the job rescaled in place to 1,4"
else
	fail "no rescale to 1,4" "$(json '.state, [.vertices[] | .name + " " + (.parallelism | tostring) + " " + .status]')"
fi
check "the JobManager logs the rescale" grep -q "rescales from parallelism \[1,2\] to \[1,4\]" "$WORK/jm.log"
# Flink's rescale-trigger.active-checkpoint: a checkpoint first, and the
# restart restores exactly that one.
taken=$(sed -nE 's|.* took a checkpoint for the rescale: .*/chk-([0-9]+)$|\1|p' "$WORK/jm.log" | tail -n 1)
restored_id=$(sed -nE "s|.*$JOB\) restores checkpoint ([0-9]+) from.*|\1|p" "$WORK/jm.log" | tail -n 1)
check "a checkpoint is taken for the rescale and restored (taken $taken, restored $restored_id)" \
	test -n "$taken" -a "$taken" = "$restored_id"

# Down through the REST API.
put_req() { # put_req BODY: CODE and the answer as api leaves them
	api PUT "/jobs/$1/resource-requirements" -H 'Content-Type: application/json' -d "$2"
}
req_body() { # req_body SRC_LO SRC_HI SUM_LO SUM_HI
	echo "{\"$SRC\": {\"parallelism\": {\"lowerBound\": $1, \"upperBound\": $2}}, \"$SUM\": {\"parallelism\": {\"lowerBound\": $3, \"upperBound\": $4}}}"
}
put_req "$JOB" "$(req_body 1 1 1 1)"
check "PUT resource-requirements with an upper bound of 1 is accepted ($CODE)" test "$CODE" = 200
if wait_parallelism "$JOB" "1,1" 30; then
	pass "the job rescaled down to 1,1"
else
	fail "no rescale to 1,1" "$(json '.state, [.vertices[] | .name + " " + (.parallelism | tostring)]')"
fi
api GET "/jobs/$JOB/resource-requirements"
check "GET shows the bounds PUT set" test "$(json "[.\"$SUM\".parallelism.lowerBound, .\"$SUM\".parallelism.upperBound] | map(tostring) | join(\"..\")")" = "1..1"

# Bad requests: 400 and what is wrong.
bad() { # bad LABEL BODY PATTERN
	put_req "$JOB" "$2"
	if [ "$CODE" = 400 ] && grep -q -- "$3" "$WORK/api.out"; then
		pass "$1: 400 ($(json '.errors[0]' | head -c 150))"
	else
		fail "$1: expected 400 naming '$3'" "$CODE $(cat "$WORK/api.out")"
	fi
}
bad "lower bound above the upper" "$(req_body 1 1 3 2)" "lower bound 3 is above the upper bound 2"
bad "upper bound above the max parallelism" "$(req_body 1 1 1 129)" "upperBound 129 is outside 1..128"
bad "a bound of 0" "$(req_body 1 1 0 1)" "lowerBound 0 is outside"
bad "a vertex missing" "{\"$SRC\": {\"parallelism\": {\"lowerBound\": 1, \"upperBound\": 1}}}" "has no resource requirements"
bad "an unknown vertex" "{\"0123456789abcdef0123456789abcdef\": {\"parallelism\": {\"lowerBound\": 1, \"upperBound\": 1}}}" "was not found"
bad "a bound that is not a number" "{\"$SRC\": {\"parallelism\": {\"lowerBound\": \"one\", \"upperBound\": 1}}}" "must be an integer"
bad "a body that is not JSON" "{" "not JSON"

if wait_state "$JOB" 'FINISHED|FAILED|CANCELED' 120 && [ "$STATE" = FINISHED ]; then
	pass "the job ends FINISHED"
else
	fail "the job ended $STATE" "$(curl -s "http://127.0.0.1:$REST_PORT/jobs/$JOB/exceptions" | head -c 600)"
fi
api GET "/jobs/$JOB/checkpoints"
restored=$(json '.counts.restored')
check "each rescale restored from a checkpoint ($restored0 before, $restored after)" test "$restored" -ge $((restored0 + 2))
check "no restart was counted (the exception history is empty)" \
	test "$(curl -s "http://127.0.0.1:$REST_PORT/jobs/$JOB/exceptions" | jq '.exceptionHistory.entries | length')" = 0
cat "$WORK/out"/part-* 2>/dev/null | sort >"$WORK/got" || true
if cmp -s "$WORK/expected" "$WORK/got"; then
	pass "the committed output holds every update of the $M keys exactly once ($N lines) across parallelisms 2, 4 and 1"
else
	fail "the committed output differs from the reference" \
		"$(comm -23 "$WORK/expected" "$WORK/got" | wc -l) update(s) missing, $(uniq -d "$WORK/got" | wc -l) twice, $(comm -13 "$WORK/expected" "$WORK/got" | wc -l) not in the reference"
fi

# The rescale history, newest first.
api GET "/jobs/$JOB/rescales/history"
story=$(json "[.[] | \"\\(.triggerCause)/\\(.terminalState)/\\(.vertices.\"$SUM\".preRescaleParallelism)->\\(.vertices.\"$SUM\".postRescaleParallelism)\"] | reverse | join(\" \")")
check "rescales/history: the first schedule, new slots, new requirements ($story)" test "$CODE/$story" = \
	"200/INITIAL_SCHEDULE/COMPLETED/null->2 NEW_RESOURCE_AVAILABLE/COMPLETED/2->4 UPDATE_REQUIREMENT/COMPLETED/4->1"
uuid=$(json '.[0].rescaleUuid')
latest=$(json '.[0]')
api GET "/jobs/$JOB/rescales/details/$uuid"
check "rescales/details/:uuid is the history's record" test "$CODE/$(json .)" = "200/$latest"
api GET "/jobs/$JOB/rescales/details/00000000-0000-4000-8000-000000000000"
check "rescales/details of an unknown uuid: 404 ($CODE)" test "$CODE/$(grep -c "Could not find rescale details" "$WORK/api.out")" = 404/1
api GET "/jobs/$JOB/rescales/overview"
check "rescales/overview: 3 completed, the latest the PUT's" \
	test "$CODE/$(json '[.rescalesCounts.completed, .rescalesCounts.inProgress, .rescalesCounts.ignored] | map(tostring) | join(",")')/$(json .latest.completed.rescaleUuid)" = "200/3,0,0/$uuid"
api GET "/jobs/$JOB/rescales/summary"
check "rescales/summary: durations of the 3 completed ($(json .completedRescalesDurationStatsInMillis.max) ms at most)" \
	test "$CODE/$(json '.rescalesCounts.completed')/$(json '.completedRescalesDurationStatsInMillis.max >= .completedRescalesDurationStatsInMillis.min')" = "200/3/true"
api GET "/jobs/$JOB/rescales/config"
check "rescales/config: the size and the cooldown set" \
	test "$CODE/$(json '[.rescaleHistoryMax, .executingCooldownTimeoutInMillis] | map(tostring) | join(",")')" = "200/16,1000"

# An unbounded generator rescaled above the ranges it was cut into: the
# subtasks without one stay RUNNING (as Flink's readers without splits) and
# checkpoints go on; finished, they would stop every later checkpoint.
# (This job rescales without a checkpoint first: from the latest one.)
run_jar "$JAR" "{\"parallelism\": 2, \"programArgsList\": [\"--keyed\", \"--rate\", \"4000\"], \"flinkConfiguration\": {\"execution.checkpointing.interval\": \"200 ms\", \"jobmanager.adaptive-scheduler.rescale-trigger.active-checkpoint.enabled\": \"false\"}}"
UNB=$JOB
wait_parallelism "$UNB" "2,2" 20 || fail "the unbounded job does not run at 2,2"
wait_count "/jobs/$UNB/checkpoints" '.counts.completed' 1 20 || true
api GET "/jobs/$UNB/resource-requirements"
put_req "$UNB" "$(jq -c 'map_values(.parallelism.upperBound = 4)' "$WORK/api.out")"
if wait_parallelism "$UNB" "4,4" 30; then
	sleep 1
	api GET "/jobs/$UNB"
	if [ "$(json '[.vertices[].tasks.RUNNING | tostring] | join(",")')" = "4,4" ]; then
		pass "an unbounded generator rescaled from 2 to 4 subtasks: the two without a range stay RUNNING"
	else
		fail "after the rescale to 4 some subtasks left RUNNING" "$(json '[.vertices[] | .name + " " + (.tasks | tostring)]')"
	fi
else
	fail "the unbounded job did not rescale to 4,4" "$(json '.state, [.vertices[] | .name + " " + (.parallelism | tostring) + " " + .status]')"
fi
api GET "/jobs/$UNB/checkpoints"
done0=$(json '.counts.completed')
if wait_count "/jobs/$UNB/checkpoints" '.counts.completed' $((done0 + 2)) 20; then
	pass "checkpoints go on after that rescale ($done0, then $COUNT completed)"
else
	fail "no checkpoint completed after the rescale ($COUNT)" "$(grep -E 'heckpoint' "$WORK/jm.log" | tail -n 3)"
fi
check "with active-checkpoint.enabled false the rescale restarts from the latest checkpoint" \
	grep -q "($UNB) rescales from parallelism \[2,2\] to \[4,4\] (vertex order): restarting from its latest checkpoint" "$WORK/jm.log"
api PATCH "/jobs/$UNB"
wait_state "$UNB" CANCELED 20 || fail "the unbounded job did not cancel: $STATE"

# A job under the default scheduler has fixed requirements.
run_jar "$JAR" "{\"parallelism\": 1, \"programArgsList\": [\"--count\", \"2000000000\", \"--rate\", \"1000\"], \"flinkConfiguration\": {\"jobmanager.scheduler\": \"default\"}}"
wait_state "$JOB" RUNNING 20 || true
api GET "/jobs/$JOB/resource-requirements"
if [ "$CODE" = 400 ] && grep -q "does not run under the adaptive scheduler" "$WORK/api.out"; then
	pass "a job under the default scheduler: 400 naming jobmanager.scheduler"
else
	fail "default scheduler: expected 400" "$CODE $(cat "$WORK/api.out")"
fi
api GET "/jobs/$JOB/rescales/config"
check "a job under the default scheduler: rescales/config 404 ($CODE)" test "$CODE/$(grep -c "AdaptiveScheduler is not enabled for this job" "$WORK/api.out")" = 404/1
api GET "/jobs/$JOB/rescales/history"
check "a job under the default scheduler: rescales/history 404 naming the option ($CODE)" \
	test "$CODE/$(grep -c "web.adaptive-scheduler.rescale-history.size" "$WORK/api.out")" = 404/1
api PATCH "/jobs/$JOB"
wait_state "$JOB" 'CANCELED' 20 || fail "the default-scheduler job did not cancel: $STATE"

stop_all
logs_clean "$WORK"/jm.log "$WORK"/tm-*.log
it_finish
