#!/usr/bin/env bash
# Checkpoints of large keyed state on a cluster of processes (a JobManager,
# one TaskManager of 2 slots), release build: bench/jobs/big_state.so keeps
# the latest 100-byte payload of each of 1, 4 or 8 M keys (about 0.15, 0.6
# or 1.2 GB of state) while the generator runs flat out. Once every key
# exists, checkpoints run every INTERVAL; the script samples the source's
# records every 200 ms and prints, per checkpoint, its size and duration,
# then the throughput while checkpoints were being taken against the
# throughput between them (the dip). Figures only, nothing asserted.
#
# With INCREMENTAL true, checkpoints are incremental: a key updated since
# the last checkpoint is written again, the rest is shared; the generator
# cycles through every key, so how much changed between two checkpoints is
# the records of one interval (capped by the key count).
#
# RATE paces the generator (records/s; 0: flat out): below the machine's
# capacity it leaves the snapshot writer a core's share to run on.
#
#   bench/checkpoint_dip.sh [1m|4m|8m [SECONDS [INTERVAL [BACKEND [INCREMENTAL [RATE]]]]]]
#   (defaults 4m, 40 s, 10 s, hashmap, false, 0)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SIZE=${1:-4m}
SECS=${2:-40}
INTERVAL=${3:-10s}
BACKEND=${4:-hashmap}
INCREMENTAL=${5:-false}
RATE=${6:-0}
B=${FLINC_BIN:-build/release}
source bench/lib.sh
bench_built "$B/flinc" "$B/flinc-jobmanager" "$B/flinc-taskmanager" "$B/bench/jobs/big_state.so"
bench_need curl jq
bench_workdir
bench_cluster_conf INFO
bench_jm -D "execution.checkpointing.dir=$W/ckp"
bench_tm tm -D taskmanager.numberOfTaskSlots=2 -D "taskmanager.state.local.root-dirs=$W" \
	-D taskmanager.memory.managed.size=256m
wait_tms 1

JOB=$("$B/flinc" run -m "127.0.0.1:$REST" -d -p 1 -D "execution.checkpointing.interval=$INTERVAL" \
	-D "state.backend.type=$BACKEND" -D "execution.checkpointing.incremental=$INCREMENTAL" \
	"$B/bench/jobs/big_state.so" "$SIZE" -1 "$RATE" 2>&1 |
	sed -n 's/^Job has been submitted with JobID \([0-9a-f]*\).*/\1/p')
[ -n "$JOB" ] || { echo "the job was not submitted" >&2; tail -5 "$W/jm.log" >&2; exit 1; }
src() { api "/jobs/$JOB" | jq -r '[.vertices[] | select(.name | startswith("Source")) | .metrics."write-records"] | add // 0'; }
echo "big_state $SIZE, $BACKEND backend, checkpoints every $INTERVAL (incremental: $INCREMENTAL), sampling ${SECS} s"
# Samples: monotonic ms and the source's records so far.
: >"$W/samples"
end=$(($(date +%s) + SECS))
while [ "$(date +%s)" -lt "$end" ]; do
	echo "$(($(date +%s%N) / 1000000)) $(src)" >>"$W/samples"
	sleep 0.2
done
api "/jobs/$JOB/checkpoints" >"$W/ckp.json"
rss=$(awk '/^VmHWM/ {print $2}' "/proc/$TM/status")
curl -s -X PATCH "http://127.0.0.1:$REST/jobs/$JOB?mode=cancel" >/dev/null
# Completed checkpoints: [trigger, end] in wall ms, size, duration.
jq -r '.history[] | select(.status == "COMPLETED") |
	"\(.trigger_timestamp) \(.latest_ack_timestamp) \(.state_size) \(.end_to_end_duration)"' \
	"$W/ckp.json" | sort -n >"$W/windows"
awk '{ printf "checkpoint: %.0f MB in %.2f s\n", $3 / 1e6, $4 / 1000 }' "$W/windows"
# Records/s in sampling intervals inside a checkpoint window and outside
# (the first 10 s, while keys are still being created, left out).
awk -v t0="$(head -n 1 "$W/samples" | cut -d' ' -f1)" '
	FNR == NR { s[++n] = $1; e[n] = $2; next }
	{ t[++m] = $1; r[m] = $2 }
	END {
		for (i = 2; i <= m; i++) {
			if (t[i] - t0 < 10000) continue
			dt = (t[i] - t[i - 1]) / 1000; dr = r[i] - r[i - 1]
			inside = 0
			for (k = 1; k <= n; k++) if (t[i] > s[k] && t[i - 1] < e[k]) inside = 1
			if (inside) { ti += dt; ri += dr } else { to += dt; ro += dr }
		}
		if (to > 0) printf "between checkpoints: %.2f M records/s over %.1f s\n", ro / to / 1e6, to
		if (ti > 0) printf "while a checkpoint is taken: %.2f M records/s over %.1f s\n", ri / ti / 1e6, ti
		if (to > 0 && ti > 0) printf "dip: %.0f%%\n", 100 * (1 - (ri / ti) / (ro / to))
	}' "$W/windows" "$W/samples"
echo "TaskManager peak RSS: $((rss / 1024)) MB"
