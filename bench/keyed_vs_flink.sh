#!/usr/bin/env bash
# The keyed pipeline side by side with Apache Flink 2.3.0 on this machine:
# generator -> keyBy -> sum -> discard at parallelism 2, the same record
# count, flinc (bench/jobs/keyed_sum.c) against Flink on a local MiniCluster
# (bench/flink/src/KeyedSum.java, jars from Maven Central in ~/.m2).
#
#   bench/keyed_vs_flink.sh [RECORDS [REPEATS]]   (default 50 M records, 3 repeats)
#
# Build the release preset first. Java is the benchmark peer only; its one
# source is compiled into ~/.cache/flinc/flink-bench (XDG_CACHE_HOME), never
# into the repository. Each case runs REPEATS times, interleaved; the median
# is printed, with CPU seconds (user + sys of the whole process, from
# /usr/bin/time, or of all cluster processes from /proc) as the figure that
# load on this shared machine disturbs least.
#
# Cases, each at 1 TaskManager (local channels) and 2 TaskManagers (the
# keyed exchange over loopback TCP: Netty for Flink, NNG streams for flinc):
#   flinc --local   `flinc run --local`, one process (mini cluster)
#   flinc cluster   flinc-jobmanager + TaskManager processes (bench/cluster.sh)
#   Flink, cold     the JVM's first run of the job: class loading, JIT
#   Flink, warm     a second run in the same JVM (a fresh MiniCluster),
#                   CPU of the JVM process during that run only
#   Flink, whole    the whole JVM, both runs and start-up, per record
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${1:-50000000}
REPEATS=${2:-3}
B=${FLINC_BIN:-build/release}
source bench/lib.sh
bench_built "$B/flinc" "$B/flinc-jobmanager" "$B/flinc-taskmanager" "$B/bench/jobs/keyed_sum.so"
bench_need java javac /usr/bin/time
CP=$(flink_classpath)
classes=$(flink_classes "$CP" KeyedSum)

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
export TMPDIR=$W # flinc --local writes its log file there


flinc_local() { # flinc_local TMS
	/usr/bin/time -f '%e %U %S' -o "$W/time" "$B/flinc" run --local --no-progress -p 2 \
		-D local.number-taskmanager="$1" -D log.level=WARN "$B/bench/jobs/keyed_sum.so" "$N" \
		>"$W/flinc.out" 2>&1 || { cat "$W/flinc.out" >&2; exit 1; }
	read -r wall u s <"$W/time"
	record "flinc-local-$1.wall" "$wall"
	record "flinc-local-$1.cpu" "$(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }')"
}

flinc_cluster() { # both TaskManager layouts in one call
	bench/cluster.sh "$N" keyed >"$W/cluster.out" 2>&1 || { cat "$W/cluster.out" >&2; exit 1; }
	local tms line
	for tms in 2 1; do
		if [ "$tms" = 2 ]; then line=$(grep 'across 2' "$W/cluster.out"); else line=$(grep 'inside 1' "$W/cluster.out"); fi
		grep -q FINISHED <<<"$line" || { cat "$W/cluster.out" >&2; exit 1; }
		record "flinc-cluster-$tms.wall" "$(sed -E 's/.* records in ([0-9.]+) s.*/\1/' <<<"$line")"
		record "flinc-cluster-$tms.cpu" "$(sed -E 's/.*\(([0-9.]+) s CPU.*/\1/' <<<"$line")"
	done
}

flink() { # flink TMS
	/usr/bin/time -f '%e %U %S %M' -o "$W/time" java -Dlog4j.configurationFile=bench/flink/log4j2.properties \
		-cp "$classes:$CP" KeyedSum "$N" 2 "$1" >"$W/flink.out" 2>"$W/flink.err" ||
		{ cat "$W/flink.err" >&2; exit 1; }
	local r wall cpu
	for r in 1 2; do
		wall=$(sed -nE "s/^flink run $r: [0-9]+ records in ([0-9.]+) s.*/\1/p" "$W/flink.out")
		cpu=$(sed -nE "s/^flink run $r: .* ([0-9.]+) s CPU.*/\1/p" "$W/flink.out")
		[ -n "$wall" ] && [ -n "$cpu" ] || { cat "$W/flink.out" "$W/flink.err" >&2; exit 1; }
		record "flink-run$r-$1.wall" "$wall"
		record "flink-run$r-$1.cpu" "$cpu"
	done
	read -r wall u s rss <"$W/time"
	record "flink-whole-$1.cpu" "$(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }')"
	record "flink-whole-$1.rss" "$rss"
}

printf 'keyed pipeline, %d records, %d repeats (medians); load average at start: %s\n' "$N" "$REPEATS" \
	"$(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$REPEATS"); do
	for tms in 1 2; do
		flinc_local "$tms"
		flink "$tms"
	done
	flinc_cluster
	echo "  repeat $i done (load $(cut -d' ' -f1 /proc/loadavg))" >&2
done

m() { median <"$W/$1"; }
# row LABEL WALLFILE CPUFILE RECORDS_FOR_CPU
row() {
	local wall cpu
	wall=${2:+$(m "$2")}
	cpu=$(m "$3")
	awk -v l="$1" -v w="$wall" -v c="$cpu" -v n="$N" -v nc="$4" 'BEGIN {
		rs = (w == "") ? "-" : sprintf("%.2f", n / w / 1e6)
		printf "%-44s %10s %9.2f %9.1f %11.2f\n", l, rs, c, c * 1e9 / nc, nc / c / 1e6 }'
}
echo
printf '%-44s %10s %9s %9s %11s\n' "case" "M rec/s" "CPU s" "ns CPU/r" "M rec/CPU-s"
for tms in 1 2; do
	if [ "$tms" = 1 ]; then echo "-- 1 TaskManager (local channels)"; else echo "-- 2 TaskManagers (loopback TCP)"; fi
	row "flinc, one process (run --local)" "flinc-local-$tms.wall" "flinc-local-$tms.cpu" "$N"
	row "flinc, JobManager + TaskManager processes" "flinc-cluster-$tms.wall" "flinc-cluster-$tms.cpu" "$N"
	row "Flink 2.3.0 MiniCluster, cold (1st run)" "flink-run1-$tms.wall" "flink-run1-$tms.cpu" "$N"
	row "Flink 2.3.0 MiniCluster, warm (2nd run)" "flink-run2-$tms.wall" "flink-run2-$tms.cpu" "$N"
	row "Flink 2.3.0, whole JVM (2 runs + start-up)" "" "flink-whole-$tms.cpu" "$((2 * N))"
done
echo
echo "records per CPU-second, flinc / Flink (higher: flinc does more with a CPU-second):"
for tms in 1 2; do
	awk -v tms="$tms" -v fl="$(m "flinc-local-$tms.cpu")" -v fc="$(m "flinc-cluster-$tms.cpu")" \
		-v cold="$(m "flink-run1-$tms.cpu")" -v warm="$(m "flink-run2-$tms.cpu")" \
		-v whole="$(m "flink-whole-$tms.cpu")" 'BEGIN {
		printf "  %d TaskManager(s): one process %.1fx warm Flink (%.1fx cold, %.1fx whole JVM); processes %.1fx warm Flink (%.1fx cold, %.1fx whole JVM)\n",
			tms, warm / fl, cold / fl, whole / 2 / fl, warm / fc, cold / fc, whole / 2 / fc }'
done
printf 'peak RSS of the Flink JVM: %s MB (median); load average at end: %s\n' \
	"$(awk -v k="$(m flink-whole-1.rss)" 'BEGIN { printf "%.0f", k / 1024 }')" "$(cut -d' ' -f1-3 /proc/loadavg)"
