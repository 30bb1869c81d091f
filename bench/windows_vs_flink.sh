#!/usr/bin/env bash
# Keyed event-time windows side by side with Apache Flink 2.3.0 on this
# machine (issue #9): the same job in both, parallelism 1, one TaskManager,
# the heap state backend — a generator of (offset % KEYS, 1, offset / 10),
# event time from the third field (10 records per ms) with a bounded
# out-of-orderness of 100 ms, key_by field 0, then
#   tumbling   a 1 s tumbling window reducing the count, or
#   sliding    a 10 s / 1 s sliding window aggregating (count, sum),
# into a discarding sink. flinc's is bench/bench_timers.c's job (the local
# cluster in its own process), Flink's bench/flink/src/WindowCount.java on a
# local MiniCluster (jars from Maven Central in ~/.m2).
#
#   bench/windows_vs_flink.sh [RECORDS [KEYS [REPEATS]]]   (default 2 M, 100 K, 3)
#
# Build the release preset first. Java is the benchmark peer only; its one
# source is compiled into ~/.cache/flinc/flink-bench, never into the
# repository. Each case runs REPEATS times, interleaved; the median is
# printed. Figures: records/s (wall) and CPU ns per record, of the whole
# process for flinc, of the JVM for Flink's second run in that JVM (warm:
# class loading and the JIT paid by the first).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${1:-2000000}
KEYS=${2:-100000}
REPEATS=${3:-3}
B=${FLINC_BIN:-build/release}
source bench/lib.sh
bench_built "$B/bench/bench_timers"
bench_need java javac
CP=$(flink_classpath)
classes=$(flink_classes "$CP" WindowCount)

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
export TMPDIR=$W # flinc's local cluster writes its log and state there

# flinc_case KIND: bench_timers' line for the job, its two figures recorded.
flinc_case() {
	local what line
	what=$([ "$1" = tumbling ] && echo "tumbling 1 s count hashmap" || echo "sliding 10 s / 1 s aggregate hashmap")
	line=$("$B/bench/bench_timers" 1 "$N" "$KEYS" "$what" 2>/dev/null | grep -E "records/s")
	record "flinc-$1-mps" "$(sed -nE 's/.*: ([0-9.]+) M records\/s.*/\1/p' <<<"$line")"
	record "flinc-$1-ns" "$(sed -nE 's/.* ([0-9]+) CPU ns\/record.*/\1/p' <<<"$line")"
}

# flink_case KIND: WindowCount's second (warm) run, its two figures recorded.
flink_case() {
	local line
	line=$(java -Dlog4j.configurationFile=bench/flink/log4j2.properties -cp "$classes:$CP" \
		WindowCount "$N" "$KEYS" 2 "$1" 2>/dev/null | grep "run 2:")
	record "flink-$1-mps" "$(sed -nE 's/.* = ([0-9.]+) M records\/s.*/\1/p' <<<"$line")"
	record "flink-$1-ns" "$(sed -nE 's/.* ([0-9]+) CPU ns\/record.*/\1/p' <<<"$line")"
}

for kind in tumbling sliding; do
	for ((r = 1; r <= REPEATS; r++)); do
		flinc_case "$kind"
		flink_case "$kind"
		echo "$kind run $r: flinc $(tail -n 1 "$W/flinc-$kind-mps") M/s $(tail -n 1 "$W/flinc-$kind-ns") ns," \
			"Flink $(tail -n 1 "$W/flink-$kind-mps") M/s $(tail -n 1 "$W/flink-$kind-ns") ns" >&2
	done
	printf '%-8s %s records, %s keys: flinc %s M records/s, %s CPU ns/record; Flink %s M records/s, %s CPU ns/record (medians of %d)\n' \
		"$kind" "$N" "$KEYS" "$(median <"$W/flinc-$kind-mps")" "$(median <"$W/flinc-$kind-ns")" \
		"$(median <"$W/flink-$kind-mps")" "$(median <"$W/flink-$kind-ns")" "$REPEATS"
done
