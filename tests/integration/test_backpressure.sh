#!/usr/bin/env bash
# Back-pressure: a fast generator (2 subtasks, ~1 KiB rows, 400k records =
# ~400 MB) feeding a slow map (1 subtask, ~10 µs per record on average) must
# be slowed down by credit-based flow control, so memory stays bounded —
# inside one TaskManager (local channels) and across two (TCP data plane).
#
# Measured (Debian 12, 2 cores, asan-ubsan build, quarantine 16 MB):
# peak RSS 34.5 MB with 1 TaskManager, 36.7 MB with 2; the runs take ~7 s.
# Without back-pressure the generator, which runs at ~1 GB/s, would have
# queued most of the 400 MB before the map got through a fraction of it
# (peak RSS > 400 MB). The bound, 150 MB, is 4x the measured value and far
# below the unbounded case.
#
# ASan keeps freed memory in a quarantine (256 MB by default) that counts in
# RSS whatever the runtime does; it is capped at 16 MB here so that VmHWM
# reflects live memory.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_setup
export ASAN_OPTIONS="${ASAN_OPTIONS}:quarantine_size_mb=16"

BOUND_KB=$((150 * 1024))
COUNT=400000
JOB=$JOBS/slow_sink.so

for tms in 1 2; do
	tag=slow-${tms}tm
	start=$(date +%s%N)
	run_flinc "$tag" -D local.number-taskmanager=$tms "$JOB" --count $COUNT
	ms=$((($(date +%s%N) - start) / 1000000))
	check_finished "$tag"
	records=$(sed -n 's/^records=//p' "$WORK/$tag.out")
	rss=$(sed -n 's/^peak_rss_kb=//p' "$WORK/$tag.out")
	echo "$tag: $records records through the slow map in $ms ms, peak RSS ${rss:-?} KB"
	check "$tag: the slow map saw all $COUNT records" test "${records:-0}" -eq $COUNT
	if [ -n "$rss" ] && [ "$rss" -gt 0 ] && [ "$rss" -lt $BOUND_KB ]; then
		pass "$tag: peak RSS ${rss} KB < $BOUND_KB KB"
	else
		fail "$tag: peak RSS ${rss:-unknown} KB, bound $BOUND_KB KB"
	fi
	if [ "$tms" = 2 ]; then
		check "$tag: data went over a TCP data connection" \
			grep -q "data connection .* established" "$(log_of "$tag")"
	fi
done

it_finish
