#!/usr/bin/env bash
# Peak memory of a keyed job as the parallelism grows (bench/jobs/fanout.c:
# 1 KiB rows, every producer feeding every consumer, a slow consumer so that
# buffers queue). Network buffers come from one pool per TaskManager, so
# the peak is bounded by the configured pool plus a fixed overhead, not by
# the square of the parallelism. Prints, per parallelism: the pool, the
# buffers the job needs (Flink's formula), the peak RSS; and what the
# default 64 MiB pool says. Figures only; nothing is asserted.
#
#   bench/keyed_rss.sh [RECORDS_PER_PRODUCER]   (default 3000; uses build/release)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
per=${1:-3000}
bin=build/release
if [[ ! -x $bin/flinc || ! -e $bin/bench/jobs/fanout.so ]]; then
	cmake --preset release >/dev/null
	cmake --build --preset release
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '%-4s %-10s %-16s %-12s %s\n' p records pool "needs (MiB)" "peak RSS"
for p in 1 4 16 32 64; do
	# Flink's required buffers: per producer p+1, per consumer 2p+1.
	need=$((p * (p + 1) + p * (2 * p + 1)))
	need_mib=$(((need * 32 + 1023) / 1024))
	pool_mib=$((need_mib < 64 ? 64 : need_mib + 8))
	n=$((per * p))
	if /usr/bin/time -f '%M' -o "$work/rss" "$bin/flinc" run --local --no-progress -p "$p" \
		-D taskmanager.memory.network.min=${pool_mib}mb -D taskmanager.memory.network.max=${pool_mib}mb \
		-D log.file="$work/log" "$bin/bench/jobs/fanout.so" "$n" >/dev/null 2>"$work/err"; then
		printf '%-4s %-10s %-16s %-12s %.1f MB\n' "$p" "$n" "${pool_mib} MiB" "$need_mib" \
			"$(awk '{ print $1 / 1024 }' "$work/rss")"
	else
		printf '%-4s %-10s FAILED: %s\n' "$p" "$n" "$(tail -1 "$work/err")"
	fi
done
echo
echo "with the default pool (64 MiB, as Flink's MiniCluster):"
for p in 16 32 64; do
	if "$bin/flinc" run --local --no-progress -p "$p" -D log.file="$work/log" \
		"$bin/bench/jobs/fanout.so" 1000 >/dev/null 2>"$work/err"; then
		echo "  p=$p: runs"
	else
		echo "  p=$p: $(tail -1 "$work/err" | sed 's/.*FAILED: //' | cut -c1-150)"
	fi
done
