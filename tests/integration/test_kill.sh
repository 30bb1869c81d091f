#!/usr/bin/env bash
# kill -9 of TaskManagers at random moments (issue #8): a session cluster
# (a JobManager, two TaskManagers of 2 slots) runs jobs/checkpointed.so
# keyed at parallelism 2 — every key's running sum of offsets, written by
# the exactly-once text sink; one generator subtask, so every key's updates
# are known — checkpointing every 200 ms, once with its keyed state in LMDB
# and once on the heap. Ten times per run (KILLS), at a random moment, a
# random TaskManager is killed with SIGKILL and a replacement started; the
# job restarts from its latest checkpoint each time and ends FINISHED, and
# its committed output holds every update of every key exactly once:
# nothing lost, nothing twice.
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
# LMDB's files and the job libraries: a killed TaskManager leaves its own
# behind, in the test's directories, and the next one to start removes them.
TM_ARGS=(-D "taskmanager.state.local.root-dirs=$WORK/state")
mkdir -p "$WORK/state" "$WORK/tmp"
export TMPDIR=$WORK/tmp
start_tm tm-0 "${TM_ARGS[@]}"
start_tm tm-1 "${TM_ARGS[@]}"
check "/overview reports 2 TaskManagers" wait_overview 2 20
upload "$JOB_SO"
# Every update of every key, "sum<TAB>key", sorted.
awk -v n=$N -v m=$M 'BEGIN { for (o = 0; o < n; o++) { s[o % m] += o; print s[o % m] "\t" o % m } }' |
	sort >"$WORK/expected"

next=2
: >"$WORK/recoveries"
# Each run: a state backend, "+incremental" for incremental checkpoints.
for VARIANT in ${STATE_BACKENDS:-lmdb hashmap lmdb+incremental hashmap+incremental}; do
	BACKEND=${VARIANT%+incremental}
	INC=false
	[ "$VARIANT" != "$BACKEND" ] && INC=true
	BACKEND_SHOWN=$BACKEND
	$INC && BACKEND_SHOWN="$BACKEND, incremental checkpoints"
	run_jar "$JAR" "{\"parallelism\": 2, \"programArgsList\": [\"--keyed\", \"--text\", \"$WORK/out-$VARIANT\", \"--source-parallelism\", \"1\", \"--count\", \"$N\", \"--mod\", \"$M\", \"--rate\", \"15000\"], \"flinkConfiguration\": {\"execution.checkpointing.interval\": \"200 ms\", \"state.backend.type\": \"$BACKEND\", \"execution.checkpointing.incremental\": \"$INC\"}}"
	wait_state "$JOB" RUNNING 20 || fail "the job is not RUNNING: $STATE"
	# Incremental: a retained checkpoint builds on the files of an earlier
	# one, whose directory then holds them without a _metadata of its own.
	if $INC; then
		shared=""
		for _ in $(seq 100); do
			for d in "$WORK/ckp/$JOB"/chk-*; do
				[ -d "$d" ] && [ ! -e "$d/_metadata" ] && ls "$d"/*.state >/dev/null 2>&1 &&
					! [ "$d" = "$(ls -d "$WORK/ckp/$JOB"/chk-* | sort -t- -k2 -n | tail -n1)" ] &&
					shared=$d && break
			done
			[ -n "$shared" ] && break
			sleep 0.05
		done
		[ -n "$shared" ] && pass "incremental: the retained checkpoint shares the state files of an earlier one (${shared##*/} kept without its _metadata)" ||
			fail "incremental: no earlier checkpoint's files are shared" "$(ls -R "$WORK/ckp/$JOB" | head -20)"
	fi

	kills=0
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
		wait "${TM_PID[$victim]}" 2>/dev/null || true # gone: its locks are free
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
		pass "the job ends FINISHED after $kills kills of a TaskManager ($BACKEND_SHOWN)"
	else
		fail "the job ended $STATE after $kills kills" "$(curl -s "http://127.0.0.1:$REST_PORT/jobs/$JOB/exceptions" | head -c 600)"
	fi
	check "at least 5 kills landed while the job ran ($kills)" test "$kills" -ge 5
	api GET "/jobs/$JOB/checkpoints"
	restored=$(json '.counts.restored')
	check "it restored from a checkpoint after the kills ($restored times)" test "$restored" -ge 1
	cat "$WORK/out-$VARIANT"/part-* 2>/dev/null | sort >"$WORK/got" || true
	if cmp -s "$WORK/expected" "$WORK/got"; then
		pass "the committed output holds every update of the $M keys exactly once ($N lines): nothing lost, nothing twice ($BACKEND_SHOWN)"
	else
		fail "the committed output differs from the reference" \
			"$(comm -23 "$WORK/expected" "$WORK/got" | wc -l) update(s) missing, $(uniq -d "$WORK/got" | wc -l) twice, $(comm -13 "$WORK/expected" "$WORK/got" | wc -l) not in the reference"
	fi
done
sort -t' ' -k7 -n "$WORK/recoveries" | awk '{ print "recovery: " $0 }'
# Every killed TaskManager's directories were removed by one started after
# it: what is left is the live TaskManagers' job libraries, and no state.
live=0
for t in "${TAGS[@]}"; do ours "${TM_PID[$t]}" && live=$((live + 1)); done
left_state=$(find "$WORK/state" -maxdepth 1 -name 'flinc-state-*' | wc -l)
left_blobs=$(find "$WORK/tmp" -maxdepth 1 -name 'flinc-tm-blobs-*' | wc -l)
check "the killed TaskManagers' LMDB directories are gone ($left_state left)" test "$left_state" = 0
check "job-library directories: one per live TaskManager ($left_blobs for $live)" test "$left_blobs" = "$live"
grep -q "left by a process that is gone" "$WORK"/tm-*.log &&
	pass "a TaskManager's log names what it removed" || fail "no TaskManager logged a removal"

stop_all
logs_clean "$WORK"/jm.log "$WORK"/tm-*.log
it_finish
