# shellcheck shell=bash
# cluster.sh — a flinc session cluster of real processes on loopback, for
# integration tests: source it after lib.sh and it_setup.
#
#   start_jm TAG [ARGS...]   flinc-jobmanager on free ports (REST_PORT,
#                            RPC_PORT, JM_PID), its log in $WORK/TAG.log
#   start_tm TAG [ARGS...]   a flinc-taskmanager with 2 slots and resource id
#                            TAG registering there (LAST_TM, TM_PID[TAG]), log $WORK/TAG.log,
#                            /metrics on a free port (see metrics_port)
#   metrics_port TAG         the TaskManager's /metrics port, from its log
#   stop_all                 TERM, then KILL after 10 s, every process started
#   api METHOD PATH [curl args]  a REST call: body in $WORK/api.out, CODE
#   json JQ-FILTER           jq -r over the last answer
#   wait_overview N SECONDS  until /overview counts N TaskManagers
#   upload FILE              POST /jars/upload: the jar id in JAR
#   run_jar JAR JSON         POST /jars/JAR/run: the job id in JOB
#   wait_count PATH JQ MIN S  GET PATH until the number JQ picks reaches MIN
#   wait_state JOB REGEX SECONDS  until the job's state matches (STATE)
#   job_why JOB...           the jobs' states, root exceptions, the JobManager's
#                            last warnings: a FAIL line's details
#
# Every process shares COMMON: a random secret, cluster id, loopback
# addresses, heartbeats of 300 ms / 3 s; slot.request.timeout is 4 s.
BIN=$(dirname "$FLINC")
JM_BIN=$BIN/flinc-jobmanager
TM_BIN=$BIN/flinc-taskmanager
for f in "$JM_BIN" "$TM_BIN"; do
	[ -e "$f" ] || { echo "missing $f (build the project first)" >&2; exit 1; }
done
for t in curl jq; do
	command -v "$t" >/dev/null || { echo "$t is needed (scripts/install-deps.sh)" >&2; exit 1; }
done

TOKEN=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
COMMON=(-D "security.internal.token=$TOKEN" -D high-availability.cluster-id=it-cluster
	-D jobmanager.rpc.address=127.0.0.1 -D jobmanager.bind-host=127.0.0.1
	-D heartbeat.interval=300ms -D heartbeat.timeout=3s -D log.level=INFO)
PIDS=()
declare -A TM_PID # TaskManager pids by tag

# True while pid $1 is still one of the flinc processes started here: a pid
# that ended long ago may belong to someone else's process by now.
ours() {
	[ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q "flinc-\(jobmanager\|taskmanager\)"
}

stop_all() {
	local p
	for p in "${PIDS[@]}"; do ours "$p" && kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 100); do ours "$p" || break; sleep 0.1; done
		ours "$p" && kill -9 "$p" 2>/dev/null
	done
	return 0
}
trap 'stop_all; it_cleanup' EXIT

start_jm() { # start_jm TAG ARGS...
	local tag=$1
	shift
	"$JM_BIN" "${COMMON[@]}" -D jobmanager.rpc.port=0 -D rest.port=0 -D rest.address=127.0.0.1 \
		-D slot.request.timeout=4s "$@" >"$WORK/$tag.log" 2>&1 &
	JM_PID=$!
	PIDS+=("$JM_PID")
	for _ in $(seq 200); do
		grep -q '^flinc-jobmanager: rest port' "$WORK/$tag.log" && break
		sleep 0.05
	done
	REST_PORT=$(sed -nE 's/^flinc-jobmanager: rest port ([0-9]+) rpc .*/\1/p' "$WORK/$tag.log")
	RPC_PORT=$(sed -nE 's/^flinc-jobmanager: rest port [0-9]+ rpc tcp:\/\/.*:([0-9]+)$/\1/p' "$WORK/$tag.log")
	[ -n "$REST_PORT" ] && [ -n "$RPC_PORT" ]
}

start_tm() { # start_tm TAG ARGS...
	local tag=$1
	shift
	"$TM_BIN" "${COMMON[@]}" -D jobmanager.rpc.port="$RPC_PORT" -D taskmanager.host=127.0.0.1 \
		-D taskmanager.bind-host=127.0.0.1 -D taskmanager.numberOfTaskSlots=2 \
		-D taskmanager.resource-id="$tag" -D metrics.reporter.prom.port=0 "$@" >"$WORK/$tag.log" 2>&1 &
	LAST_TM=$!
	PIDS+=("$LAST_TM")
	TM_PID[$tag]=$LAST_TM
}

metrics_port() {
	sed -nE 's|.*Prometheus metrics at http://[^:]+:([0-9]+)/metrics.*|\1|p' "$WORK/$1.log" | head -n 1
}

api() { # api METHOD PATH [curl args...]: body in $WORK/api.out, status in CODE
	local m=$1 p=$2
	shift 2
	CODE=$(curl -s -o "$WORK/api.out" -w '%{http_code}' -X "$m" "http://127.0.0.1:$REST_PORT$p" "$@")
}
json() { jq -r "$1" "$WORK/api.out"; }

wait_overview() { # wait_overview TMS SECONDS
	for _ in $(seq $(($2 * 10))); do
		api GET /overview
		[ "$CODE" = 200 ] && [ "$(json .taskmanagers)" = "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

upload() { # upload FILE: the jar id in JAR
	api POST /jars/upload -F "jarfile=@$1"
	[ "$CODE" = 200 ] || { echo "upload failed: $CODE $(cat "$WORK/api.out")" >&2; return 1; }
	JAR=$(json '.filename | split("/") | last')
}

run_jar() { # run_jar JAR JSON: the job id in JOB
	api POST "/jars/$1/run" -H 'Content-Type: application/json' -d "$2"
	[ "$CODE" = 200 ] || { echo "run failed: $CODE $(cat "$WORK/api.out")" >&2; return 1; }
	JOB=$(json .jobid)
}

wait_count() { # wait_count PATH JQ MIN SECONDS: GET PATH until JQ >= MIN; COUNT is the last seen
	COUNT=0
	for _ in $(seq $(($4 * 10))); do
		api GET "$1"
		COUNT=$(json "$2" 2>/dev/null || echo 0)
		[ "$COUNT" -ge "$3" ] 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# job_why JOB...: each job's state and root exception, and the JobManager's
# warnings and errors, for a FAIL line's details (a run's logs are gone
# with it unless KEEP=1).
wait_savepoint() { # wait_savepoint JOB TRIGGER SECONDS: STATUS the last status seen, SP the path
	STATUS=
	for _ in $(seq $(($3 * 10))); do
		api GET "/jobs/$1/savepoints/$2"
		STATUS=$(json .status.id)
		[ "$STATUS" = COMPLETED ] && break
		sleep 0.1
	done
	SP=$(json .operation.location)
	SP=${SP#file:}
	[ "$STATUS" = COMPLETED ]
}

stop_with_savepoint() { # stop_with_savepoint TAG JOB DIR: POST /stop, checks; SP the path
	local trigger
	api POST "/jobs/$2/stop" -H 'Content-Type: application/json' -d "{\"targetDirectory\": \"$3\"}"
	trigger=$(json '."request-id"')
	wait_savepoint "$2" "$trigger" 30 || true
	check "$1: the stop's savepoint completes" test "$STATUS" = COMPLETED
	wait_state "$2" 'FINISHED|FAILED|CANCELED' 20 || true
	check "$1: the stopped job FINISHED" test "$STATE" = FINISHED
}

job_why() {
	local j
	for j in "$@"; do
		echo "job $j: $(curl -s "http://127.0.0.1:$REST_PORT/jobs/$j" | jq -r .state 2>/dev/null):" \
			"$(curl -s "http://127.0.0.1:$REST_PORT/jobs/$j/exceptions" | jq -r '."root-exception" // ""' 2>/dev/null | head -c 400)"
	done
	grep -h ' \(WARN\|ERROR\) ' "$WORK"/jm.log 2>/dev/null | tail -n 8 | cut -c1-300
}

wait_state() { # wait_state JOB REGEX SECONDS: STATE is the last seen
	for _ in $(seq $(($3 * 10))); do
		api GET "/jobs/$1"
		STATE=$(json .state 2>/dev/null || echo "?")
		[[ $STATE =~ ^($2)$ ]] && return 0
		sleep 0.1
	done
	return 1
}

