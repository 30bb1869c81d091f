#!/usr/bin/env bash
# kill -9 of TaskManagers at random moments (issue #8): a session cluster
# (a JobManager, two TaskManagers of 2 slots) runs jobs/checkpointed.so
# keyed at parallelism 2 — every key's running sum of offsets, printed —
# checkpointing every 200 ms, its keyed state in LMDB (STATE_BACKEND=hashmap
# for the heap). Ten times, at a random moment, a random
# TaskManager is killed with SIGKILL and a replacement started; the job
# restarts from its latest checkpoint each time and ends FINISHED with
# every key's final sum exact (sums only grow, so a key's largest printed
# sum over all TaskManagers' output is its final one: a replay that
# started too early would print above it, lost state never reach it).
# Prints how long each recovery took, from the kill to the job RUNNING
# again (a figure, not a check).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_setup
source "$(dirname "$0")/cluster.sh"
JOB_SO=$JOBS/checkpointed.so
[ -e "$JOB_SO" ] || { echo "missing $JOB_SO (build the project first)" >&2; exit 1; }
N=${KILL_RECORDS:-300000}
M=50
KILLS=${KILLS:-10}

start_jm jm -D execution.checkpointing.dir="file://$WORK/ckp" \
	-D restart-strategy.type=fixed-delay -D restart-strategy.fixed-delay.attempts=1000 \
	-D restart-strategy.fixed-delay.delay=100ms
TAGS=(tm-0 tm-1)
BACKEND=${STATE_BACKEND:-lmdb}
# LMDB's files: a killed TaskManager leaves its own behind, in the test's directory.
TM_ARGS=(-D "taskmanager.state.local.root-dirs=$WORK/state")
mkdir -p "$WORK/state"
start_tm tm-0 "${TM_ARGS[@]}"
start_tm tm-1 "${TM_ARGS[@]}"
check "/overview reports 2 TaskManagers" wait_overview 2 20
upload "$JOB_SO"
awk -v n=$N -v m=$M 'BEGIN { for (o = 0; o < n; o++) s[o % m] += o; for (k = 0; k < m; k++) print k, s[k] }' \
	>"$WORK/expected"

run_jar "$JAR" "{\"parallelism\": 2, \"programArgsList\": [\"--keyed\", \"--print\", \"--count\", \"$N\", \"--mod\", \"$M\", \"--rate\", \"15000\"], \"flinkConfiguration\": {\"execution.checkpointing.interval\": \"200 ms\", \"state.backend.type\": \"$BACKEND\"}}"
wait_state "$JOB" RUNNING 20 || fail "the job is not RUNNING: $STATE"

kills=0
next=2
: >"$WORK/recoveries"
while [ "$kills" -lt "$KILLS" ]; do
	sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.4 + r / 32768 * 1.2 }')"
	api GET "/jobs/$JOB"
	[ "$(json .state)" = FINISHED ] && break
	# A random live TaskManager.
	live=()
	for t in "${TAGS[@]}"; do ours "${TM_PID[$t]}" && live+=("$t"); done
	victim=${live[$((RANDOM % ${#live[@]}))]}
	kill -9 "${TM_PID[$victim]}"
	t0=$(date +%s%N)
	kills=$((kills + 1))
	tag=tm-$next
	next=$((next + 1))
	start_tm "$tag" "${TM_ARGS[@]}"
	TAGS+=("$tag")
	# Until it runs again (or ended): the recovery time.
	for _ in $(seq 300); do
		api GET "/jobs/$JOB"
		s=$(json .state)
		[ "$s" = RUNNING ] && [ "$(json '[.vertices[].status] | all(. == "RUNNING")')" = true ] && break
		[ "$s" = FINISHED ] || [ "$s" = FAILED ] && break
		sleep 0.05
	done
	echo "kill $kills ($victim): RUNNING again after $((($(date +%s%N) - t0) / 1000000)) ms" | tee -a "$WORK/recoveries"
done
if wait_state "$JOB" 'FINISHED|FAILED|CANCELED' 180 && [ "$STATE" = FINISHED ]; then
	pass "the job ends FINISHED after $kills kills of a TaskManager ($BACKEND state backend)"
else
	fail "the job ended $STATE after $kills kills" "$(curl -s "http://127.0.0.1:$REST_PORT/jobs/$JOB/exceptions" | head -c 600)"
fi
check "at least 5 kills landed while the job ran ($kills)" test "$kills" -ge 5
api GET "/jobs/$JOB/checkpoints"
restored=$(json '.counts.restored')
check "it restored from a checkpoint after the kills ($restored times)" test "$restored" -ge 1
for t in "${TAGS[@]}"; do cat "$WORK/$t.log"; done |
	sed -nE 's/^([0-9]+> )?(-?[0-9]+)\t([0-9]+)$/\3 \2/p' |
	awk '{ if (!($1 in m) || $2 > m[$1]) m[$1] = $2 } END { for (k in m) print k, m[k] }' |
	sort -n >"$WORK/finals"
if cmp -s "$WORK/expected" "$WORK/finals"; then
	pass "every one of the $M keys' final sums is exact: nothing lost, nothing counted twice"
else
	fail "final sums differ from the reference" "$(diff "$WORK/expected" "$WORK/finals" | head -8)"
fi
sort -t' ' -k7 -n "$WORK/recoveries" | awk '{ print "recovery: " $0 }'

stop_all
logs_clean "$WORK"/jm.log "$WORK"/tm-*.log
it_finish
