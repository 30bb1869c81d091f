#!/usr/bin/env bash
# Checkpoints against a bad file system (issue #8, "Bad input"): a session
# cluster of real processes (a JobManager, two TaskManagers of 2 slots, and
# a third whose view of one directory is read-only) runs
# jobs/checkpointed.so keyed at parallelism 2, checkpointing every 200 ms.
# The script runs in a mount namespace of its own, so that
# execution.checkpointing.dir can be a 1 MiB tmpfs it fills and frees.
#   - a full disk: every checkpoint fails, its cause naming the state file
#     and "No space left on device" (/checkpoints' failure_message and the
#     TaskManager's log); a job within its tolerable failures stays RUNNING
#     with no restart; one with 2 tolerable failures fails over after the
#     3rd in a row ("Exceeded checkpoint tolerable failure threshold"),
#     restores the last completed checkpoint, and is given 3 failures again
#     after each restart (Flink resets the count when it fails the job);
#     no failed chk-N is left (no directory without _metadata, no partial
#     file); with the space back, checkpoints complete again;
#   - a checkpoint directory a TaskManager sees read-only: its subtasks
#     decline naming the state file and "Read-only file system", the job
#     runs on;
#   - a checkpoint directory whose path runs through a regular file: each
#     checkpoint the JobManager cannot create a directory for is shown
#     FAILED naming the path (a trigger failure, not counted against the
#     tolerable failures, as in Flink), the job runs on, and checkpoints
#     complete once the path is usable; a savepoint there fails naming it;
#   - half a checkpoint (a chk-N whose state files are there but whose
#     _metadata is not, or only as the temporary file of a write cut short)
#     is refused as a savepoint path, naming it, by the REST API and by
#     flinc run -s. A savepoint path that does not exist is refused in
#     test_restore.sh and test_checkpoints.sh (REST, flinc run -m / --local,
#     an application cluster).
set -euo pipefail

# A mount namespace of our own (as root; otherwise in a user namespace):
# the tmpfs and the read-only bind mount below are seen by this script and
# its children only, and go when they end.
if [ -z "${CKFAULT_IN_NS:-}" ]; then
	ns=(unshare -m --propagation private)
	[ "$(id -u)" = 0 ] || ns=(unshare -r -m --propagation private)
	if ! why=$("${ns[@]}" true 2>&1); then
		echo "FAIL: this test needs a mount namespace of its own ('${ns[*]}' failed: $why)"
		echo "0 passed, 1 failed"
		exit 1
	fi
	CKFAULT_IN_NS=1 exec "${ns[@]}" bash "$0" "$@"
fi

source "$(dirname "$0")/lib.sh"
it_setup
source "$(dirname "$0")/cluster.sh"
JOB_SO=$JOBS/checkpointed.so
[ -e "$JOB_SO" ] || { echo "missing $JOB_SO (build the project first)" >&2; exit 1; }

# The checkpoints' disk: 1 MiB of tmpfs, in this namespace only.
T=$WORK/t
RO=$WORK/ro-ckp
mkdir -p "$T" "$RO"
mount -t tmpfs -o size=1m flinc-ckfault "$T"
FILLER=
trap 'rm -f "$WORK/filling"; [ -z "$FILLER" ] || wait "$FILLER"; stop_all; umount "$T" 2>/dev/null; it_cleanup' EXIT

start_jm jm -D execution.checkpointing.dir="file://$T"
start_tm tm-a
start_tm tm-b
check "/overview reports 2 TaskManagers" wait_overview 2 20
upload "$JOB_SO"

# job_json TOLERABLE [EXTRA_CONFIG_JSON]: a keyed job at p=2, a checkpoint
# every 200 ms, the last one kept when cancelled.
job_json() {
	local extra=${2:-}
	[ -n "$extra" ] || extra='{}'
	jq -nc --arg tol "$1" --argjson extra "$extra" '{parallelism: 2,
		programArgsList: ["--keyed", "--mod", "50", "--rate", "2000"],
		flinkConfiguration: ({"execution.checkpointing.interval": "200 ms",
			"execution.checkpointing.tolerable-failed-checkpoints": $tol,
			"execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION"}
			+ $extra)}'
}
ckp() { api GET "/jobs/$1/checkpoints"; }
# wait_failed JOB N SECONDS: until N checkpoints of JOB failed.
wait_failed() { wait_count "/jobs/$1/checkpoints" .counts.failed "$2" "$3"; }
# wait_completed_after JOB ID SECONDS: until a checkpoint newer than ID completed.
wait_completed_after() {
	local _
	for _ in $(seq $(($3 * 10))); do
		ckp "$1"
		[ "$(json '.latest.completed.id // 0')" -gt "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
# orphans DIR MAX_ID: the chk-N under DIR with N <= MAX_ID (ended) that have
# no _metadata, with what they hold; or a temporary metadata file anywhere.
orphans() {
	local d id
	for d in "$1"/chk-*; do
		[ -d "$d" ] || continue
		id=${d##*/chk-}
		[ "$id" -le "$2" ] && [ ! -e "$d/_metadata" ] && echo "$d: $(ls -A "$d" | tr '\n' ' ')"
	done
	find "$1" -name '._metadata.inprogress' 2>/dev/null
	return 0
}
restarts_of() { grep -c "($1) switched from state FAILING to RESTARTING" "$WORK/jm.log" || true; }

# ------------------------------------------------------ two jobs on the tmpfs
run_jar "$JAR" "$(job_json 100)"
A=$JOB
run_jar "$JAR" "$(job_json 2 '{"restart-strategy.type": "fixed-delay",
	"restart-strategy.fixed-delay.attempts": "20", "restart-strategy.fixed-delay.delay": "100 ms"}')"
B=$JOB
for j in "$A" "$B"; do
	wait_state "$j" RUNNING 20 || fail "job $j is not RUNNING: $STATE"
	wait_count "/jobs/$j/checkpoints" .counts.completed 1 20 || fail "no checkpoint of $j completed"
done

# ------------------------------- a checkpoint directory a TaskManager sees read-only
# A and B hold the 4 slots of tm-a and tm-b: job D can only go to tm-ro,
# which sees $RO read-only (a bind mount in a namespace of its own), while
# the JobManager creates D's chk-N there as usual.
cat >"$WORK/tm-ro.sh" <<EOF
#!/bin/sh
exec unshare -m --propagation private sh -c 'mount --bind "\$0" "\$0" && mount -o remount,bind,ro "\$0" && exec "\$@"' "$RO" "$TM_BIN" "\$@"
EOF
chmod +x "$WORK/tm-ro.sh"
TM_REAL=$TM_BIN
TM_BIN=$WORK/tm-ro.sh
start_tm tm-ro
TM_BIN=$TM_REAL
check "/overview reports 3 TaskManagers" wait_overview 3 20
run_jar "$JAR" "$(job_json 100 "{\"execution.checkpointing.dir\": \"$RO\"}")"
D=$JOB
wait_state "$D" RUNNING 20 || fail "job D is not RUNNING: $STATE"
wait_failed "$D" 2 20 || true
msg=$(json '.latest.failed.failure_message // ""')
if [ "$COUNT" -ge 2 ] && [ "$(json .counts.completed)" = 0 ] &&
	grep -Eq "$RO/$D/chk-[0-9]+/sums-[01]\.state: Read-only file system" <<<"$msg"; then
	pass "read-only for the TaskManager: each checkpoint fails ($COUNT so far), the cause naming the state file: ${msg:0:160}"
else
	fail "read-only for the TaskManager: $COUNT failed" "$(head -c 900 "$WORK/api.out")"
fi
grep -Eq "declines checkpoint [0-9]+: cannot create $RO/$D/chk-[0-9]+/sums-[01]\.state: Read-only file system" "$WORK/tm-ro.log" &&
	pass "tm-ro's log says which file it could not create and why" ||
	fail "no decline naming the file in tm-ro's log" "$(grep -m3 declines "$WORK/tm-ro.log")"
api GET "/jobs/$D"
check "the job with the read-only directory runs on, never restarted" \
	test "$(json .state),$(restarts_of "$D")" = "RUNNING,0"
api PATCH "/jobs/$D?mode=cancel"
wait_state "$D" CANCELED 20 || fail "job D did not cancel: $STATE"
check "nothing of its failed checkpoints is left in $RO" test -z "$(find "$RO" -mindepth 2)"

# ------------------------------------------------------------------ a full disk
# A filler takes every free page of the tmpfs, and goes on taking what is
# freed (a checkpoint completing as the disk fills removes the one it
# subsumes) until the space is given back.
: >"$WORK/filling"
(while [ -e "$WORK/filling" ]; do
	dd if=/dev/zero of="$T/filler" bs=4k oflag=append conv=notrunc 2>/dev/null || true
	sleep 0.05
done) &
FILLER=$!
avail() { df --output=avail "$T" | tail -n 1 | tr -d ' '; }
for _ in $(seq 100); do
	[ "$(avail)" = 0 ] && break
	sleep 0.05
done
check "the tmpfs is full" test "$(avail)" = 0
ckp "$A"
A_BEFORE=$(json .counts.failed)
# B: 2 tolerable failures, restarted by fixed-delay: two failovers.
for _ in $(seq 300); do
	[ "$(restarts_of "$B")" -ge 2 ] && break
	sleep 0.1
done
wait_failed "$A" $((A_BEFORE + 4)) 20 || true
ckp "$A"
A_FAILED=$(json '.latest.failed.id // 0')
# Mostly a task's state file is what does not fit; when a subsumed
# checkpoint's pages came free, its _metadata (written by the JobManager).
msg=$(json "[.history[] | select(.status == \"FAILED\") | .failure_message |
	select(test(\"declined checkpoint [0-9]+: .*$T/$A/chk-[0-9]+/sums-[01]\\\\.state.*No space left on device\"))] | first // \"\"")
if [ "$COUNT" -ge $((A_BEFORE + 4)) ] && [ -n "$msg" ]; then
	pass "a full disk: checkpoints fail ($((COUNT - A_BEFORE)) so far), the cause naming the state file: ${msg:0:200}"
else
	fail "a full disk: $((COUNT - A_BEFORE)) checkpoints failed, none naming a state file" "$(head -c 900 "$WORK/api.out")"
fi
grep -Eqh "declines checkpoint [0-9]+: .*$T/$A/chk-[0-9]+/sums-[01]\.state.*No space left on device" "$WORK"/tm-a.log "$WORK"/tm-b.log &&
	pass "the TaskManager's log names the state file and 'No space left on device'" ||
	fail "no decline naming the state file in the TaskManagers' logs" "$(grep -h -m3 declines "$WORK"/tm-[ab].log)"
api GET "/jobs/$A"
check "within its tolerable failures (100) the job stays RUNNING, never restarted" \
	test "$(json .state),$(restarts_of "$A")" = "RUNNING,0"
left=$(orphans "$T/$A" "$A_FAILED")
[ -z "$left" ] && pass "no failed chk-N is left: none without _metadata, no partial file" ||
	fail "failed checkpoints left behind" "$left"

# B failed over after 3 failures in a row, and again after 3 more: the
# counted failures (declines, a _metadata that could not be written) since
# its last completed checkpoint, at each failover.
grep -E "\\($B\\) switched from state FAILING to RESTARTING|Completed checkpoint [0-9]+ of job $B |Checkpoint [0-9]+ of job $B failed: .*(declined|cannot write)" "$WORK/jm.log" |
	awk '/RESTARTING/ { print n; n = 0; next } /Completed/ { n = 0; next } { n++ }' >"$WORK/b-runs"
if [ "$(head -n 2 "$WORK/b-runs" | tr '\n' ' ')" = "3 3 " ]; then
	pass "2 tolerable failures: the job fails over at the 3rd in a row, and after its restart again at the 3rd (Flink resets the count)"
else
	fail "failures in a row of B at each failover: $(tr '\n' ' ' <"$WORK/b-runs") (want 3 3)" \
		"$(grep -E "\\($B\\) switched|of job $B failed" "$WORK/jm.log" | head -n 12 | cut -c1-220)"
fi
api GET "/jobs/$B/exceptions"
json '[.exceptionHistory.entries[].stacktrace] | .[]' |
	grep -Eq "Exceeded checkpoint tolerable failure threshold.*$T/$B/chk-[0-9]+/(sums-[01]\.state|\._metadata\.inprogress).*No space left on device" &&
	pass "the failover's cause: Flink's 'Exceeded checkpoint tolerable failure threshold', with the last failure naming the file" ||
	fail "B's exceptions do not hold the threshold" "$(head -c 900 "$WORK/api.out")"
# Each restart restores the latest checkpoint completed before it.
restores=$(grep -E "Completed checkpoint [0-9]+ of job $B |\\($B\\) restores checkpoint" "$WORK/jm.log" |
	awk '/Completed/ { for (i = 1; i <= NF; i++) if ($i == "checkpoint") last = $(i + 1); next }
	{ for (i = 1; i <= NF; i++) if ($i == "restores") print $(i + 2), last }')
if [ "$(wc -l <<<"$restores")" -ge 2 ] && awk '$1 != $2 { exit 1 }' <<<"$restores"; then
	pass "each restart restores the latest completed checkpoint, never a failed one ($(awk '{ print $1 }' <<<"$restores" | sort -u | tr '\n' ' '))"
else
	fail "B's restores (restored, latest completed): $(tr '\n' ';' <<<"$restores")"
fi

# ------------------------------------------------------------- space again
rm "$WORK/filling"
wait "$FILLER"
FILLER=
rm -f "$T/filler"
wait_completed_after "$A" "$A_FAILED" 20 &&
	pass "space freed: A's checkpoints complete again ($(json .latest.completed.id))" ||
	fail "A: no checkpoint completed after the space came back" "$(head -c 600 "$WORK/api.out")"
wait_state "$B" RUNNING 20 || true
ckp "$B"
wait_completed_after "$B" "$(json '.latest.failed.id // 0')" 20 && [ "$STATE" = RUNNING ] &&
	pass "space freed: B is RUNNING again and its checkpoints complete" ||
	fail "B after the space came back: $STATE" "$(head -c 600 "$WORK/api.out")"
for j in "$A" "$B"; do
	api PATCH "/jobs/$j?mode=cancel"
	wait_state "$j" CANCELED 20 || fail "job $j did not cancel: $STATE"
done
# RETAIN_ON_CANCELLATION: what stays is the last completed checkpoint of
# each, whole, and nothing else.
want=$(for j in "$A" "$B"; do
	c=$(find "$T/$j" -mindepth 1 -maxdepth 1 -name 'chk-*' | head -n 1)
	printf '%s\n' "$T/$j" "$c" "$c/_metadata" "$c/sums-0.state" "$c/sums-1.state"
done | sort)
got=$(find "$T" -mindepth 1 | sort)
if [ "$got" = "$want" ] && [ "$(find "$T" -mindepth 2 -maxdepth 2 | wc -l)" = 2 ]; then
	pass "cancelled: the tmpfs holds each job's last completed checkpoint, whole, and nothing else"
else
	fail "what is left on the tmpfs" "$(diff <(echo "$want") <(echo "$got") | head -n 10)"
fi
KEPT=$(find "$T/$A" -mindepth 1 -maxdepth 1 -name 'chk-*')

# -------------------------- a checkpoint directory the JobManager cannot create
# Its path runs through a regular file (tests run as root: modes would not
# stop a write).
BLOCKED=$WORK/blocked
echo "not a directory" >"$BLOCKED"
run_jar "$JAR" "$(job_json 0 "{\"execution.checkpointing.dir\": \"file://$BLOCKED/ckp\"}")"
C=$JOB
wait_state "$C" RUNNING 20 || fail "job C is not RUNNING: $STATE"
wait_failed "$C" 2 20 || true
msg=$(json '.latest.failed.failure_message // ""')
if [ "$COUNT" -ge 2 ] && grep -Fq "cannot create $BLOCKED/ckp/$C/chk-" <<<"$msg" && grep -q "Not a directory" <<<"$msg"; then
	pass "a path through a file: each checkpoint is shown FAILED ($COUNT so far), naming the path: ${msg:0:160}"
else
	fail "a path through a file: $COUNT failed" "$(head -c 900 "$WORK/api.out")"
fi
grep -Eq "WARN.*Checkpoint [0-9]+ of job $C failed: cannot create $BLOCKED/ckp/$C/chk-[0-9]+: Not a directory" "$WORK/jm.log" &&
	pass "the JobManager's log warns naming the path" ||
	fail "no warning naming the path in the JobManager's log" "$(grep -m3 "$C" "$WORK/jm.log" | cut -c1-200)"
api GET "/jobs/$C"
check "a trigger failure is not counted (tolerable 0, as in Flink): the job runs on, never restarted" \
	test "$(json .state),$(restarts_of "$C")" = "RUNNING,0"
api POST "/jobs/$C/savepoints" -H 'Content-Type: application/json' -d "{\"target-directory\": \"$BLOCKED/sp\"}"
TRIGGER=$(json '."request-id"')
for _ in $(seq 100); do
	api GET "/jobs/$C/savepoints/$TRIGGER"
	[ "$(json .status.id)" = COMPLETED ] && break
	sleep 0.1
done
json '.operation."failure-cause"."stack-trace" // ""' | grep -Fq "cannot create $BLOCKED/sp/savepoint-${C:0:6}-" &&
	pass "a savepoint there fails, its failure-cause naming the path" ||
	fail "a savepoint into $BLOCKED/sp" "$(head -c 600 "$WORK/api.out")"
ckp "$C"
C_FAILED=$(json '.latest.failed.id // 0')
rm -f "$BLOCKED"
wait_completed_after "$C" "$C_FAILED" 20 && [[ $(json .latest.completed.external_path) == "$BLOCKED/ckp/$C/chk-"* ]] &&
	pass "the path usable again: checkpoints complete" ||
	fail "C: no checkpoint completed once the path was usable" "$(head -c 600 "$WORK/api.out")"
api PATCH "/jobs/$C?mode=cancel"
wait_state "$C" CANCELED 20 || fail "job C did not cancel: $STATE"

# ------------------------------------------------------- half a checkpoint
# A chk-N with its state files but no _metadata (its completion never
# happened, or was cut short mid-write) is no checkpoint to start from.
HALF=$WORK/half
cp -r "$KEPT" "$HALF"
rm "$HALF/_metadata"
HALF2=$WORK/half-inprogress
cp -r "$KEPT" "$HALF2"
mv "$HALF2/_metadata" "$HALF2/._metadata.inprogress"
for h in "$HALF" "$HALF2"; do
	api POST "/jars/$JAR/run" -H 'Content-Type: application/json' \
		-d "$(jq -nc --arg p "$h" '{programArgsList: ["--keyed", "--mod", "50"], savepointPath: $p}')"
	if [ "$CODE" = 400 ] && json '.errors[0]' | grep -Fq "cannot read $h/_metadata: No such file or directory (not a completed checkpoint or savepoint)"; then
		pass "half a checkpoint ($(ls -A "$h" | tr '\n' ' ')) as savepointPath: 400 naming $h/_metadata"
	else
		fail "half a checkpoint $h: $CODE" "$(head -c 600 "$WORK/api.out")"
	fi
done
RC=0
timeout -k 10 120 "$FLINC" run -m "127.0.0.1:$REST_PORT" -s "$HALF" "$JOB_SO" --keyed </dev/null \
	>"$WORK/run-half.out" 2>"$WORK/run-half.err" || RC=$?
[ "$RC" = 1 ] && grep -Fq "$HALF/_metadata" "$WORK/run-half.err" && grep -q "not a completed checkpoint" "$WORK/run-half.err" &&
	pass "flinc run -s HALF: exit 1 naming $HALF/_metadata" ||
	fail "flinc run -s of half a checkpoint (exit $RC)" "$(head -n 5 "$WORK/run-half.err")"
api GET /jobs/overview
check "no job started from half a checkpoint (4 jobs, A B C D, all CANCELED)" \
	test "$(json '[.jobs[] | .state] | join(",")')" = "CANCELED,CANCELED,CANCELED,CANCELED"

stop_all
logs_clean "$WORK"/jm.log "$WORK"/tm-*.log "$WORK"/*.err
it_finish
