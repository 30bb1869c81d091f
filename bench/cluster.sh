#!/usr/bin/env bash
# Figures of a cluster of processes on this machine (release build):
#   - RSS of an idle flinc-jobmanager and an idle flinc-taskmanager;
#   - time from `flinc run -m -d` to the job RUNNING on an idle session
#     cluster, and the JobManager's own part of it (CREATED -> RUNNING);
#   - time from starting `flinc-jobmanager --application` to RUNNING;
#   - the keyed pipeline (generator -> key_by -> sum -> discard, p=2) across
#     two TaskManager processes (loopback TCP) and inside one (local
#     channels): records/s, payload MB/s and CPU seconds of the processes.
#
#   bench/cluster.sh [RECORDS [keyed]]   (default 50 M; build with the release preset first)
#
# With `keyed`, only the keyed pipeline's two lines (bench/keyed_vs_flink.sh
# takes its across-processes figures from them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${1:-50000000}
ONLY=${2:-all}
case $ONLY in all | keyed) ;; *) echo "usage: bench/cluster.sh [RECORDS [keyed]]" >&2; exit 2 ;; esac
B=${FLINC_BIN:-build/release}
source bench/lib.sh
bench_built "$B/flinc" "$B/flinc-jobmanager" "$B/flinc-taskmanager" "$B/bench/jobs/keyed_sum.so"
bench_need curl jq
bench_workdir
bench_cluster_conf WARN

start_cluster() { # start_cluster TMS SLOTS
	RPC=$(free_port)
	REST=$(free_port)
	"$B/flinc-jobmanager" "${C[@]}" -D jobmanager.rpc.port="$RPC" -D rest.port="$REST" >"$W/jm.log" 2>&1 &
	JM=$!
	PIDS+=("$JM")
	TMS=()
	for i in $(seq "$1"); do
		"$B/flinc-taskmanager" "${C[@]}" -D jobmanager.rpc.port="$RPC" \
			-D taskmanager.numberOfTaskSlots="$2" >"$W/tm$i.log" 2>&1 &
		TMS+=($!)
		PIDS+=($!)
	done
	wait_tms "$1"
}
stop_cluster() {
	local p
	for p in "$JM" "${TMS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "$JM" "${TMS[@]}"; do wait "$p" 2>/dev/null || true; done
	PIDS=()
}
wait_state() { # wait_state JOB REGEX [POLL_SECONDS]: polling costs CPU, so
	# throughput runs poll slowly (their times come from the JobManager)
	local s
	for _ in $(seq 20000); do
		s=$(api "/jobs/$1" | jq -r .state 2>/dev/null || true)
		[[ $s =~ ^($2)$ ]] && return 0
		sleep "${3:-0.001}"
	done
	return 1
}
submit() { # submit ARGS...: the job id in JOB
	"$B/flinc" run -m "127.0.0.1:$REST" -d "$@" >"$W/submit.out" 2>&1
	JOB=$(grep -oE '[0-9a-f]{32}' "$W/submit.out" | head -n 1)
}
keyed() { # keyed LABEL TMS SLOTS
	start_cluster "$2" "$3"
	local c0 t0 t1 c1 secs cpu
	c0=$(cpu_ticks "$JM" "${TMS[@]}")
	submit -p 2 "$B/bench/jobs/keyed_sum.so" "$N"
	wait_state "$JOB" 'FINISHED|FAILED|CANCELED' 0.2
	c1=$(cpu_ticks "$JM" "${TMS[@]}")
	api "/jobs/$JOB" >"$W/job.json"
	secs=$(jq -r '(.timestamps.FINISHED - .timestamps.RUNNING) / 1000' "$W/job.json")
	cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / hz }')
	printf '%-58s %s: %d records in %.2f s = %.1f M records/s, %.0f MB/s of rows (%s s CPU in all processes)\n' \
		"keyed sum p=2, $1" "$(jq -r .state "$W/job.json")" "$N" "$secs" \
		"$(awk -v n="$N" -v s="$secs" 'BEGIN { print n / s / 1e6 }')" \
		"$(awk -v n="$N" -v s="$secs" 'BEGIN { print n * 18 / s / 1e6 }')" "$cpu"
	stop_cluster
}

if [ "$ONLY" = keyed ]; then
	keyed "across 2 TaskManager processes (1 slot each, TCP)" 2 1
	keyed "inside 1 TaskManager process (2 slots, local channels)" 1 2
	exit 0
fi

echo "== idle processes and submission (one JobManager, one TaskManager with 2 slots)"
start_cluster 1 2
sleep 1
printf 'RSS idle: flinc-jobmanager %d kB, flinc-taskmanager %d kB\n' "$(rss_kb "$JM")" "$(rss_kb "${TMS[0]}")"
for i in 1 2 3; do
	t0=$(date +%s%N)
	submit -p 2 "$B/bench/jobs/keyed_sum.so" 0
	t1=$(date +%s%N)
	wait_state "$JOB" RUNNING
	api "/jobs/$JOB" >"$W/job.json"
	printf 'flinc run -m -d (upload, run main() in the JobManager, submit), run %d: %d ms; then CREATED -> RUNNING in the JobManager: %s ms\n' \
		"$i" $(((t1 - t0) / 1000000)) "$(jq -r '.timestamps.RUNNING - .timestamps.CREATED' "$W/job.json")"
	curl -s -X PATCH "http://127.0.0.1:$REST/jobs/$JOB?mode=cancel" >/dev/null
	wait_state "$JOB" 'CANCELED|FAILED'
done
printf 'RSS after 3 jobs: flinc-jobmanager %d kB, flinc-taskmanager %d kB\n' "$(rss_kb "$JM")" "$(rss_kb "${TMS[0]}")"
stop_cluster

echo "== application mode: start of flinc-jobmanager --application to RUNNING (a TaskManager started with it)"
for i in 1 2 3; do
	RPC=$(free_port)
	t0=$(date +%s%N)
	"$B/flinc-jobmanager" "${C[@]}" -D log.level=INFO -D jobmanager.rpc.port="$RPC" -D rest.port=0 \
		--application "$PWD/$B/bench/jobs/keyed_sum.so" -- 1000000 >"$W/app.log" 2>&1 &
	APP=$!
	"$B/flinc-taskmanager" "${C[@]}" -D jobmanager.rpc.port="$RPC" -D taskmanager.numberOfTaskSlots=2 \
		>"$W/tm-app.log" 2>&1 &
	TM=$!
	wait "$APP" || true
	kill -TERM "$TM" 2>/dev/null || true
	wait "$TM" 2>/dev/null || true
	# The log's own time stamp of the RUNNING line (UTC, milliseconds).
	ts=$(grep -m1 'switched from state CREATED to RUNNING' "$W/app.log" | cut -d' ' -f1)
	t1=$(date -d "$ts" +%s%N)
	printf 'application run %d: %d ms from exec to RUNNING\n' "$i" $(((t1 - t0) / 1000000))
done

echo "== the keyed pipeline"
keyed "across 2 TaskManager processes (1 slot each, TCP)" 2 1
keyed "inside 1 TaskManager process (2 slots, local channels)" 1 2
