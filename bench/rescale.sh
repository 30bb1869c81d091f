#!/usr/bin/env bash
# How long an in-place rescale takes (the adaptive scheduler, issue #10) on a
# cluster of processes on this machine (release build): a JobManager with
# jobmanager.scheduler: adaptive (cooldown and stabilization set to 0, so the
# figures are the mechanism's, not the waits Flink's defaults add) and one
# TaskManager of 2 slots runs bench/jobs/big_state.so at -p 4 with
# checkpoints every INTERVAL, the keyed state SIZE (1m: about 0.15 GB):
#   - a second TaskManager (2 more slots) started: from its start to the job
#     RUNNING at 4 (registration, the decision, cancelling, restoring);
#   - PUT /jobs/:jobid/resource-requirements with upper bounds of 1: from the
#     request to RUNNING at 1;
#   - upper bounds of 4 again: from the request to RUNNING at 4.
# Each line also gives the checkpoint restored and its size. Figures only.
# By default each rescale takes a checkpoint first and restarts from it
# (nothing replayed); ACTIVE_CHECKPOINT=false restarts from the latest one.
#
#   [ACTIVE_CHECKPOINT=false] bench/rescale.sh [1m|4m|8m [INTERVAL [RATE]]]
#   (defaults 1m, 2s, 200000)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SIZE=${1:-1m}
INTERVAL=${2:-2s}
RATE=${3:-200000}
B=${FLINC_BIN:-build/release}
source bench/lib.sh
bench_built "$B/flinc" "$B/flinc-jobmanager" "$B/flinc-taskmanager" "$B/bench/jobs/big_state.so"
bench_need curl jq
bench_workdir
bench_cluster_conf INFO
ADAPTIVE=(-D jobmanager.scheduler=adaptive
	-D jobmanager.adaptive-scheduler.submission.resource-stabilization-timeout=0ms
	-D jobmanager.adaptive-scheduler.executing.cooldown-after-rescaling=0ms
	-D jobmanager.adaptive-scheduler.executing.resource-stabilization-timeout=0ms
	-D "jobmanager.adaptive-scheduler.rescale-trigger.active-checkpoint.enabled=${ACTIVE_CHECKPOINT:-true}")
bench_jm "${ADAPTIVE[@]}" -D "execution.checkpointing.dir=$W/ckp"
start_tm() { bench_tm "tm$1" -D taskmanager.numberOfTaskSlots=2 -D "taskmanager.state.local.root-dirs=$W"; }
# until_parallelism P: polls until every vertex runs at P; prints the ms since T0.
until_parallelism() {
	for _ in $(seq 60000); do
		if api "/jobs/$JOB" | jq -e --argjson p "$1" \
			'.state == "RUNNING" and all(.vertices[]; .parallelism == $p and .status == "RUNNING")' >/dev/null; then
			echo $((($(date +%s%N) - T0) / 1000000))
			return 0
		fi
		sleep 0.005
	done
	echo "the job never ran at $1" >&2
	exit 1
}
restored() { # the checkpoint the last restore used, and its size
	api "/jobs/$JOB/checkpoints" | jq -r '.latest.restored as $r | .history[] | select(.id == $r.id) |
		"checkpoint \(.id), \((.state_size // 0) / 1e6 | floor) MB"' | head -n 1
}
put_upper() { # put_upper N: every vertex's bounds 1..N
	local body
	body=$(api "/jobs/$JOB/resource-requirements" | jq -c --argjson n "$1" 'map_values(.parallelism.upperBound = $n)')
	api "/jobs/$JOB/resource-requirements" -X PUT -H 'Content-Type: application/json' -d "$body" >/dev/null
}
wait_checkpoint() { # until a checkpoint completed after the last restore
	local n0
	n0=$(api "/jobs/$JOB/checkpoints" | jq -r '.counts.completed')
	for _ in $(seq 6000); do
		[ "$(api "/jobs/$JOB/checkpoints" | jq -r '.counts.completed')" -gt "$n0" ] && return 0
		sleep 0.05
	done
}

start_tm 1
wait_tms 1
"$B/flinc" run -m "127.0.0.1:$REST" -d -p 4 -D "execution.checkpointing.interval=$INTERVAL" \
	"$B/bench/jobs/big_state.so" "$SIZE" -1 "$RATE" >"$W/submit.out" 2>&1
JOB=$(grep -oE '[0-9a-f]{32}' "$W/submit.out" | head -n 1)
[ -n "$JOB" ] || { cat "$W/submit.out" >&2; exit 1; }
T0=$(date +%s%N)
until_parallelism 2 >/dev/null
printf 'big_state %s at -p 4 on 2 slots, checkpoints every %s, %d records/s, %s\n' "$SIZE" "$INTERVAL" "$RATE" \
	"$([ "${ACTIVE_CHECKPOINT:-true}" = true ] && echo "a checkpoint before each rescale" || echo "rescales from the latest checkpoint")"
# Let the state grow to its size: the generator cycles through the keys.
keys=$(case $SIZE in 1m) echo 1000000 ;; 4m) echo 4000000 ;; *) echo 8000000 ;; esac)
sleep "$(awk -v k="$keys" -v r="$RATE" 'BEGIN { printf "%.1f", k / r + 1 }')"
wait_checkpoint
T0=$(date +%s%N)
start_tm 2
ms=$(until_parallelism 4)
printf '%-48s %6d ms (%s)\n' "a second TaskManager: 2 -> 4" "$ms" "$(restored)"
wait_checkpoint
T0=$(date +%s%N)
put_upper 1
ms=$(until_parallelism 1)
printf '%-48s %6d ms (%s)\n' "PUT resource-requirements upper 1: 4 -> 1" "$ms" "$(restored)"
wait_checkpoint
T0=$(date +%s%N)
put_upper 4
ms=$(until_parallelism 4)
printf '%-48s %6d ms (%s)\n' "PUT resource-requirements upper 4: 1 -> 4" "$ms" "$(restored)"
api "/jobs/$JOB" -X PATCH >/dev/null
