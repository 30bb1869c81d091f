#!/usr/bin/env bash
# start-cluster.sh — starts a session cluster on this machine, as Flink's
# bin/start-cluster.sh does: one flinc-jobmanager and N flinc-taskmanagers
# (default 1) in the background, then waits until the JobManager's REST API
# (GET /overview) counts N TaskManagers.
#
#   scripts/start-cluster.sh [N] [-D key=value]...
#
# Environment:
#   FLINC_BIN       directory of flinc-jobmanager and flinc-taskmanager
#                   (default: build/release of this source tree)
#   FLINC_CONF_DIR  its flinc.yaml, if present, is passed with --config
#   FLINC_LOG_DIR   logs and pid files (default: ./log):
#                   flinc-jobmanager.log/.pid, flinc-taskmanager-<i>.log/.pid
#   FLINC_START_TIMEOUT  seconds to wait for the cluster (default 60)
#
# -D arguments go to every process and override the file. Exit status: 0
# once the cluster is up; 1 when it did not come up (the processes that run
# are left running: scripts/stop-cluster.sh stops them); 2 on bad arguments.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=${FLINC_BIN:-$here/../build/release}
log_dir=${FLINC_LOG_DIR:-./log}
timeout_s=${FLINC_START_TIMEOUT:-60}

die() { # die MESSAGE [STATUS]
	echo "start-cluster.sh: $1" >&2
	exit "${2:-1}"
}
usage() { die "usage: start-cluster.sh [N] [-D key=value]..." 2; }

n=1
if [ $# -gt 0 ] && [[ $1 != -* ]]; then
	[[ $1 =~ ^[1-9][0-9]{0,3}$ ]] || die "the number of TaskManagers must be between 1 and 9999, not '$1'" 2
	n=$1
	shift
fi
dyn=()
while [ $# -gt 0 ]; do
	case $1 in
	-D)
		[ $# -ge 2 ] || die "-D needs key=value" 2
		[[ $2 == *=* ]] || die "-D needs key=value, not '$2'" 2
		dyn+=(-D "$2")
		shift 2
		;;
	-D*=*)
		dyn+=(-D "${1#-D}")
		shift
		;;
	-h | --help) usage ;;
	*) die "unknown argument '$1'" 2 ;;
	esac
done
[[ $timeout_s =~ ^[1-9][0-9]*$ ]] || die "FLINC_START_TIMEOUT must be a number of seconds, not '$timeout_s'" 2

for b in flinc-jobmanager flinc-taskmanager; do
	[ -x "$bin/$b" ] || die "no $bin/$b: build it (cmake --preset release && cmake --build --preset release) or set FLINC_BIN"
done
command -v curl >/dev/null || die "curl is needed to check that the cluster is up"

conf=()
conf_file=
if [ -n "${FLINC_CONF_DIR:-}" ] && [ -f "$FLINC_CONF_DIR/flinc.yaml" ]; then
	conf_file=$FLINC_CONF_DIR/flinc.yaml
	conf=(--config "$conf_file")
fi

# A key's value as the processes will see it: the last -D, else a flat
# "key: value" line of the file (nested keys are not read here), else def.
setting() {
	local key=$1 def=$2 v= i
	for ((i = 0; i < ${#dyn[@]}; i += 2)); do
		[[ ${dyn[i + 1]} == "$key="* ]] && v=${dyn[i + 1]#"$key="}
	done
	if [ -z "$v" ] && [ -n "$conf_file" ]; then
		v=$(sed -nE "s/^${key//./\\.}[[:space:]]*:[[:space:]]*\"?([^\"#]*[^\"#[:space:]])\"?.*$/\\1/p" "$conf_file" | tail -n 1)
	fi
	echo "${v:-$def}"
}
port=$(setting rest.port 8081)
host=$(setting rest.address "")
case $host in "" | 0.0.0.0 | "::") host=127.0.0.1 ;; esac
[[ $host == *:* ]] && host="[$host]"
url="http://$host:$port/overview"

mkdir -p "$log_dir"
log_dir=$(cd "$log_dir" && pwd)

# Refuses to start over processes of an earlier start that still run.
for pf in "$log_dir"/flinc-jobmanager.pid "$log_dir"/flinc-taskmanager-*.pid; do
	[ -f "$pf" ] || continue
	pid=$(cat "$pf" 2>/dev/null || true)
	if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
		die "$(basename "$pf" .pid) is already running (pid $pid, $pf): scripts/stop-cluster.sh stops it"
	fi
	rm -f "$pf"
done

# start NAME BINARY: one process in the background, its output appended
# to NAME.log, its pid in NAME.pid.
start() {
	local name=$1 binary=$2
	echo "Starting $name on $(hostname) (log: $log_dir/$name.log)."
	nohup "$bin/$binary" "${conf[@]}" "${dyn[@]}" </dev/null >>"$log_dir/$name.log" 2>&1 &
	echo $! >"$log_dir/$name.pid"
}

echo "Starting cluster."
start flinc-jobmanager flinc-jobmanager
for ((i = 1; i <= n; i++)); do
	start "flinc-taskmanager-$i" flinc-taskmanager
done

# Waits for GET /overview to count n TaskManagers; a process that ends
# meanwhile ends the wait at once.
deadline=$((SECONDS + timeout_s))
have=
while :; do
	reply=$(curl -fsS --max-time 2 "$url" 2>/dev/null || true)
	have=$(printf '%s' "$reply" | grep -oE '"taskmanagers"[[:space:]]*:[[:space:]]*[0-9]+' | grep -oE '[0-9]+$' || true)
	if [ -n "$have" ] && [ "$have" -ge "$n" ]; then
		echo "Cluster is up: REST API at http://$host:$port, $have TaskManager(s)."
		exit 0
	fi
	for pf in "$log_dir"/flinc-jobmanager.pid "$log_dir"/flinc-taskmanager-*.pid; do
		[ -f "$pf" ] || continue
		pid=$(cat "$pf")
		if ! kill -0 "$pid" 2>/dev/null; then
			name=$(basename "$pf" .pid)
			rm -f "$pf"
			echo "start-cluster.sh: $name (pid $pid) has exited: see $log_dir/$name.log" >&2
			tail -n 5 "$log_dir/$name.log" | sed 's/^/  /' >&2
			echo "start-cluster.sh: scripts/stop-cluster.sh stops the processes that still run" >&2
			exit 1
		fi
	done
	if [ "$SECONDS" -ge "$deadline" ]; then
		if [ -z "$have" ]; then
			what="the REST API at $url did not answer"
		else
			what="only $have of $n TaskManagers registered"
		fi
		die "the cluster did not come up within ${timeout_s} s: $what; see $log_dir/flinc-jobmanager.log (scripts/stop-cluster.sh stops what runs)"
	fi
	sleep 0.5
done
