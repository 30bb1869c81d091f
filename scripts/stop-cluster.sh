#!/usr/bin/env bash
# stop-cluster.sh — stops the session cluster that scripts/start-cluster.sh
# started, as Flink's bin/stop-cluster.sh: the TaskManagers, then the
# JobManager, each with SIGTERM; whatever still runs 10 s later gets
# SIGKILL. Only processes named by the pid files of $FLINC_LOG_DIR
# (default ./log) that still run the flinc binary they were started as are
# signalled (a pid reused by another program is left alone); the pid files
# are removed.
#
#   scripts/stop-cluster.sh
set -euo pipefail

log_dir=${FLINC_LOG_DIR:-./log}
grace_s=10

# is_ours PID KIND: PID runs flinc-KIND (its program or, for a wrapper
# script, the script is named so), not a program that reused the pid.
is_ours() {
	[ -r "/proc/$1/cmdline" ] || return 0 # no /proc: trust the pid file
	tr '\0' '\n' <"/proc/$1/cmdline" | head -n 2 | grep -qE "(^|/)flinc-$2\$"
}

pids=()
stopped_any=no
# TaskManagers first, then the JobManager, as Flink stops them.
for pf in "$log_dir"/flinc-taskmanager-*.pid "$log_dir"/flinc-jobmanager.pid; do
	[ -f "$pf" ] || continue
	name=$(basename "$pf" .pid)
	kind=${name#flinc-}
	kind=${kind%%-*}
	pid=$(cat "$pf" 2>/dev/null || true)
	if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && is_ours "$pid" "$kind"; then
		echo "Stopping $name (pid $pid)."
		kill -TERM "$pid" 2>/dev/null || true
		pids+=("$pid:$name")
		stopped_any=yes
	else
		echo "No $name to stop (pid file $pf is stale)."
	fi
	rm -f "$pf"
done
if [ "$stopped_any" = no ]; then
	echo "No cluster to stop in $log_dir."
	exit 0
fi

# Up to grace_s seconds for all of them, then SIGKILL.
deadline=$((SECONDS + grace_s))
for entry in "${pids[@]}"; do
	pid=${entry%%:*}
	name=${entry#*:}
	while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
		sleep 0.2
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "$name (pid $pid) did not stop within ${grace_s} s: killing it."
		kill -KILL "$pid" 2>/dev/null || true
	fi
done
