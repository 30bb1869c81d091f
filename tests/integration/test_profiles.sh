#!/usr/bin/env bash
# Resource profiles on a session cluster of real processes (issue #7's
# "Co-location and resource profiles"): tm-small (2 slots, 2 CPU cores,
# defaults otherwise) and tm-big (2 slots, 4 cores, 4 GiB, 1 GiB managed).
# jobs/profiles.so puts its source in slot sharing group "source" (no
# profile) and its map and sink in "heavy" (2 cores, 512 MiB heap, 256 MiB
# managed). At p=2 the heavy slots fit only tm-big and take both its slots,
# so the source's default slots go to tm-small: checked through
# /jobs/:jobid/vertices (which TaskManager runs each subtask) and
# /taskmanagers/:tmid (its slots' profiles, its free resources), and the
# resources coming back when the job is cancelled. The same job asking for
# 16 cores fails after slot.request.timeout with the group and its profile
# in /jobs/:jobid/exceptions.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_setup
source "$(dirname "$0")/cluster.sh"
PROF=$JOBS/profiles.so
[ -e "$PROF" ] || { echo "missing $PROF (build the project first)" >&2; exit 1; }

start_jm jm
start_tm tm-small -D taskmanager.cpu.cores=2
start_tm tm-big -D taskmanager.cpu.cores=4 -D taskmanager.memory.process.size=4gb \
	-D taskmanager.memory.managed.size=1gb
check "/overview reports 2 TaskManagers" wait_overview 2 20
api GET /taskmanagers/tm-big
if [ "$(json '.totalResource.cpuCores')" = 4 ] && [ "$(json '.totalResource.managedMemory')" = 1024 ] &&
	[ "$(json '.freeResource.cpuCores')" = 4 ] && [ "$(json '.freeSlots')" = 2 ]; then
	pass "/taskmanagers/tm-big: 4 cores and 1024 MiB managed in total, all free"
else
	fail "/taskmanagers/tm-big before the job" "$(head -c 600 "$WORK/api.out")"
fi

# ------------------------------------------------ a plan whose profiles fit
upload "$PROF"
PROF_JAR=$JAR
run_jar "$PROF_JAR" '{"parallelism": 2}'
if wait_state "$JOB" RUNNING 20; then
	pass "the job whose profiles fit is RUNNING"
	api GET "/jobs/$JOB"
	SRC_V=$(json '.vertices[] | select(.name | startswith("Source")) | .id')
	HEAVY_V=$(json '.vertices[] | select(.name | startswith("Heavy Map")) | .id')
	api GET "/jobs/$JOB/vertices/$SRC_V"
	SRC_TMS=$(json '[.subtasks[]."taskmanager-id"] | unique | join(",")')
	api GET "/jobs/$JOB/vertices/$HEAVY_V"
	HEAVY_TMS=$(json '[.subtasks[]."taskmanager-id"] | unique | join(",")')
	if [ "$SRC_TMS" = tm-small ] && [ "$HEAVY_TMS" = tm-big ]; then
		pass "/jobs/:id: the heavy group runs on tm-big, the source's default slots on tm-small"
	else
		fail "placement: source on '$SRC_TMS', heavy on '$HEAVY_TMS'"
	fi
	api GET /taskmanagers/tm-big
	SLOTS=$(json "[.allocatedSlots[] | select(.jobId == \"$JOB\") | .resource | \"\\(.cpuCores)/\\(.taskHeapMemory)/\\(.managedMemory)\"] | join(\",\")")
	if [ "$SLOTS" = "2/512/256,2/512/256" ] && [ "$(json '.freeResource.cpuCores')" = 0 ] &&
		[ "$(json '.freeResource.managedMemory')" = 512 ] && [ "$(json '.freeSlots')" = 0 ]; then
		pass "/taskmanagers/tm-big: two dynamic slots of 2 cores, 512 MiB heap, 256 MiB managed; 0 cores and 512 MiB managed free"
	else
		fail "/taskmanagers/tm-big while the job runs: slots '$SLOTS'" "$(head -c 900 "$WORK/api.out")"
	fi
	api GET /taskmanagers/tm-small
	SMALL=$(json "[.allocatedSlots[] | select(.jobId == \"$JOB\") | .resource.cpuCores] | join(\",\")")
	if [ "$SMALL" = "1,1" ] && [ "$(json '.freeResource.cpuCores')" = 0 ]; then
		pass "/taskmanagers/tm-small: two default slots of 1 core (2 cores / 2 slots)"
	else
		fail "/taskmanagers/tm-small while the job runs: '$SMALL'" "$(head -c 900 "$WORK/api.out")"
	fi
	api PATCH "/jobs/$JOB?mode=cancel"
	wait_state "$JOB" CANCELED 20 || fail "the job did not cancel: $STATE"
	# The slots go back once the Dispatcher freed the job's JobMaster, which
	# waits for the references REST queries hold (each poll of
	# /taskmanagers takes one per job): up to 30 s under TSan on a busy
	# machine, where 10 s once was not enough.
	FREED=no
	for _ in $(seq 300); do
		api GET /taskmanagers/tm-big
		[ "$(json '.freeResource.cpuCores')" = 4 ] && [ "$(json '.freeSlots')" = 2 ] && { FREED=yes; break; }
		sleep 0.1
	done
	check "the cancelled job's dynamic slots went back to tm-big's free resources" test "$FREED" = yes
else
	fail "the job whose profiles fit is not RUNNING: $STATE" "$(grep -i 'resource\|slot' "$WORK/jm.log" | tail -n 5)"
fi

# -------------------------------------------------- a plan that cannot fit
run_jar "$PROF_JAR" '{"parallelism": 1, "programArgsList": ["--cpu", "16"]}'
if wait_state "$JOB" FAILED 30; then
	api GET "/jobs/$JOB/exceptions"
	if grep -q "slot sharing group 'heavy' needs 1 slot(s) of resource profile {cpuCores=16.0, taskHeapMemory=512 mb, taskOffHeapMemory=0 bytes, managedMemory=256 mb}" "$WORK/api.out" &&
		grep -q "Could not acquire the minimum required resources" "$WORK/api.out" &&
		grep -q "tm-big, has 4.0 CPU cores" "$WORK/api.out"; then
		pass "a profile no TaskManager fits fails after slot.request.timeout, naming the group, its profile and tm-big's free resources"
	else
		fail "the refusal does not name the profile" "$(head -c 900 "$WORK/api.out")"
	fi
else
	fail "the job that cannot fit did not FAIL: $STATE"
fi

stop_all
logs_clean "$WORK"/jm.log "$WORK"/tm-*.log
it_finish
