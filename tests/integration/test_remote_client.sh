#!/usr/bin/env bash
# The client against a session cluster (`flinc run -m`, list, cancel), as a
# user runs it, against real processes: a flinc-jobmanager and two
# flinc-taskmanagers on loopback (cluster.sh).
#
# Without a cluster: refusals before anything is sent (job ids, files that
# are no shared object, bad addresses) and a closed port. Against the
# cluster: attached runs to FINISHED with exact output, detached runs, a
# job that FAILS, HTTP errors from the JobManager, list and its sections,
# cancel (running, ended, unknown and malformed ids), a job cancelled by
# someone else, SIGINT without -sae and SIGTERM with it, progress lines on
# a terminal, the address from the configuration, a JobManager that stops
# answering (SIGSTOP) and one that comes back (SIGCONT), one that stops
# for good (SIGTERM).
#
# Only what a real JobManager does not do on demand goes through
# tests/support/faultjm.c, a fault-injecting HTTP server (alone, or as a
# proxy in front of the real JobManager): an HTML page, a 17 MiB reply,
# 503s, JSON of the wrong shape.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_setup
# A missing part is a failure, never a skip.
source "$(dirname "$0")/cluster.sh"
: "${FAULT_JM:?FAULT_JM must name the faultjm binary (run through ctest)}"
WC=$EXAMPLES/wordcount.so
SLOW=$JOBS/slow_sink.so
FAIL=$JOBS/fail_map.so
for f in "$FAULT_JM" "$SLOW" "$FAIL"; do
	[ -e "$f" ] || { echo "missing $f (build the project first)" >&2; exit 1; }
done
command -v script >/dev/null || { echo "script (util-linux) is needed for the terminal checks" >&2; exit 1; }
IT_TIMEOUT=60
ID='[0-9a-f]{32}'
MANY=100000000 # records: a slow_sink that runs until it is cancelled

# cli TAG ARGS...: flinc ARGS under a timeout, stdin from /dev/null;
# stdout/stderr in $WORK/TAG.out/.err, exit code in RC, time in TOOK_MS.
cli() {
	local tag=$1 start
	shift
	RC=0
	start=$(date +%s%N)
	timeout -k 10 "$IT_TIMEOUT" "$FLINC" "$@" </dev/null >"$WORK/$tag.out" 2>"$WORK/$tag.err" || RC=$?
	TOOK_MS=$((($(date +%s%N) - start) / 1000000))
}

# expect_rc TAG RC REGEX: exit code, a stderr line matching REGEX, and no
# sanitizer report.
expect_rc() {
	local tag=$1 want=$2 re=$3
	if [ "$RC" -eq "$want" ] && grep -Eq -- "$re" "$WORK/$tag.err" && sanitizer_clean "$WORK/$tag.err"; then
		pass "$tag: exit $RC, $(grep -E -- "$re" "$WORK/$tag.err" | head -n 1 | cut -c1-160)"
	else
		fail "$tag: expected exit $want and a line matching /$re/ (exit $RC)" \
			"$(tail -n 4 "$WORK/$tag.err" | cut -c1-300)"
	fi
}

# same_text NAME FILE EXPECTED: FILE holds exactly EXPECTED (plus a newline).
same_text() {
	if [ "$(cat "$2")" = "$3" ]; then
		pass "$1"
	else
		fail "$1" "$(diff <(printf '%s\n' "$3") "$2" | head -n 12)"
	fi
}

# start_cli TAG ARGS...: flinc in the background in a session of its own,
# SIGINT and SIGTERM at their defaults (as from a terminal), stdin from
# /dev/null (no terminal to ask on); its pid in BG_PID.
start_cli() {
	local tag=$1
	shift
	setsid env --default-signal=INT,TERM "$FLINC" "$@" </dev/null >"$WORK/$tag.out" 2>"$WORK/$tag.err" &
	BG_PID=$!
}

# job_of TAG: the job id TAG's "submitted" line names, in JID.
job_of() { JID=$(sed -nE "s/^Job has been submitted with JobID ($ID)\$/\\1/p" "$WORK/$1.err" | head -n 1); }

# submitted TAG: waits (20 s) for TAG's job id, in JID.
submitted() {
	wait_line "$1" "^Job has been submitted with JobID $ID\$" 20 || return 1
	job_of "$1"
}

# A port with nobody listening.
closed_port() {
	local p
	for p in $(shuf -i 20000-60000 -n 50); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}
CLOSED=$(closed_port)

# ------------------------------------------------ refusals, nothing sent
cli bad-id cancel -m "127.0.0.1:$CLOSED" not-a-job-id
expect_rc bad-id 2 '^flinc: Cannot parse JobID from "not-a-job-id": a job id is 32 hexadecimal digits'
check "bad-id: refused before any connection (no 'cannot reach')" \
	bash -c "! grep -q 'cannot reach' '$WORK/bad-id.err'"

cli passwd run -m "127.0.0.1:$CLOSED" /etc/passwd
expect_rc passwd 2 "^flinc: job '/etc/passwd' is not an ELF file: a job is a shared object"
check "passwd: refused before any connection" bash -c "! grep -q 'cannot reach' '$WORK/passwd.err'"

cli exe run -m "127.0.0.1:$CLOSED" "$FLINC"
expect_rc exe 2 "^flinc: job '.*' is a position-independent executable, not a shared object|^flinc: job '.*' is an executable, not a shared object"

cli missing run -m "127.0.0.1:$CLOSED" "$WORK/no-such.so"
expect_rc missing 2 "^flinc: cannot read job '.*/no-such.so': No such file or directory$"

cli bad-addr list -m "localhost:http"
expect_rc bad-addr 2 "^flinc: JobManager address 'localhost:http': the port must be a number between 1 and 65535$"

cli sae-d run -m "127.0.0.1:$CLOSED" -d -sae "$WC"
expect_rc sae-d 2 "^flinc: run: -sae \(--shutdownOnAttachedExit\) applies to an attached run, not with -d$"

cli local-m run --local -m "127.0.0.1:$CLOSED" "$WC"
expect_rc local-m 2 "^flinc: run: --local and -m exclude each other"

cli bad-timeout list -D client.timeout=0 -m "127.0.0.1:$CLOSED"
expect_rc bad-timeout 2 "client\.timeout"

# ------------------------------------------------------- a closed port
cli closed run -m "127.0.0.1:$CLOSED" "$WC"
expect_rc closed 3 "^flinc: cannot reach the JobManager at 127\.0\.0\.1:$CLOSED \(is one running there\? -m HOST:PORT names another\): "
check "closed: failed within 15 s (${TOOK_MS} ms)" test "$TOOK_MS" -lt 15000

cli closed-url list -m "http://127.0.0.1:$CLOSED/"
expect_rc closed-url 3 "^flinc: cannot reach the JobManager at 127\.0\.0\.1:$CLOSED "
check "closed-url: 'Waiting for response...' on stdout first, as Flink's list" \
	grep -qx 'Waiting for response...' "$WORK/closed-url.out"

cli closed-cancel cancel -m "127.0.0.1:$CLOSED" 0123456789abcdef0123456789abcdef
expect_rc closed-cancel 3 "cannot reach the JobManager at 127\.0\.0\.1:$CLOSED "

# Without -m and without rest.address: localhost and rest.port.
mkdir -p "$WORK/conf"
printf 'rest.port: %s\n' "$CLOSED" >"$WORK/conf/flinc.yaml"
FLINC_CONF_DIR=$WORK/conf cli conf-port list
expect_rc conf-port 3 "cannot reach the JobManager at localhost:$CLOSED "

# ------------------------------------------------------- a real cluster
# Heartbeats tolerate the JobManager's SIGSTOPs below: the TaskManagers
# and their jobs must survive them for the client's sake.
HB=(-D heartbeat.timeout=30s)
start_jm jm "${HB[@]}"
start_tm tm-a "${HB[@]}"
start_tm tm-b "${HB[@]}"
check "a JobManager and two TaskManagers (4 slots) are up" wait_overview 2 30
JM=127.0.0.1:$REST_PORT
JMRE=127\\.0\\.0\\.1:$REST_PORT

# An empty cluster.
cli list-empty list -m "$JM"
same_text "list-empty: exit $RC, no running and no scheduled jobs" "$WORK/list-empty.out" \
	"Waiting for response...
No running jobs.
No scheduled jobs."
cli list-empty-a list -m "$JM" -a
same_text "list-empty-a: an empty terminated section prints nothing" "$WORK/list-empty-a.out" \
	"Waiting for response...
No running jobs.
No scheduled jobs."

# WordCount's input and an independent reference of its output.
awk 'BEGIN { srand(11); for (l = 0; l < 20000; l++) { n = 1 + int(rand() * 12); s = "";
	for (i = 0; i < n; i++) s = s sprintf("w%d ", int(rand() * rand() * 3000)); print s } }' >"$WORK/in.txt"
tr -cs 'A-Za-z0-9' '\n' <"$WORK/in.txt" | tr 'A-Z' 'a-z' | grep -v '^$' | sort | uniq -c |
	awk '{print $2 "," $1}' | sort >"$WORK/expected.txt"
wc_output() { cat "$WORK/$1"/part-* 2>/dev/null | tr '\t' ',' | sort >"$WORK/$1.txt" || true; }

# ------------------------------------------------------------ attached
# -D goes to the job's configuration (flinkConfiguration): parallelism 2.
cli attached run -m "$JM" --no-progress -D parallelism.default=2 "$WC" \
	--input "$WORK/in.txt" --output "$WORK/wc-attached" --mode batch
job_of attached
WC_JOB=$JID
api GET "/jobs/$WC_JOB"
DURATION=$(json .duration)
same_text "attached: exit $RC; stderr is the job id and the final line with the JobManager's duration" \
	"$WORK/attached.err" "Job has been submitted with JobID $WC_JOB
Job 'WordCount' ($WC_JOB) FINISHED in $DURATION ms"
check "attached: exit 0" test "$RC" = 0
check "attached: nothing on stdout" test ! -s "$WORK/attached.out"
wc_output wc-attached
same_file "attached: WordCount's output equals the reference" "$WORK/expected.txt" "$WORK/wc-attached.txt"
check "attached: -D parallelism.default=2 reached the job (every vertex at 2)" \
	test "$(json '[.vertices[].parallelism] | unique | join(",")')" = 2
api GET /jars
check "attached: the upload is listed as wordcount.so" \
	test "$(json '[.files[].name] | index("wordcount.so") != null')" = true

# A terminal on stderr: progress lines from the JobManager's metrics.
RC=0
timeout -k 10 "$IT_TIMEOUT" script -qec "'$FLINC' run -m $JM '$SLOW' --count 100000" /dev/null \
	</dev/null >"$WORK/tty.raw" 2>&1 || RC=$?
tr -d '\r' <"$WORK/tty.raw" | grep -v '^$' >"$WORK/tty.err" || true
if [ "$RC" = 0 ] &&
	grep -Eq '^\[ *[0-9]+\.[0-9]s\] Source: Fast Generator out=[0-9.KM]+ \| Slow Map -> Sink: Discard in=[0-9.KM]+$' "$WORK/tty.err" &&
	grep -Eq '^\[ *[0-9]+\.[0-9]s\] Source: Fast Generator out=100\.0K \| Slow Map -> Sink: Discard in=100\.0K$' "$WORK/tty.err" &&
	tail -n 1 "$WORK/tty.err" | grep -Eq "^Job 'SlowSink' \($ID\) FINISHED in [0-9]+ ms$"; then
	pass "tty: progress lines (sources out, sinks in) up to 100.0K, then FINISHED"
else
	fail "tty: progress lines (exit $RC)" "$(tail -n 5 "$WORK/tty.err")"
fi

# ------------------------------------------------------------ detached
cli detached run -m "$JM" -d "$SLOW" --count $MANY
job_of detached
SLOW_JOB=$JID
same_text "detached: exit $RC, the job id only" "$WORK/detached.err" \
	"Job has been submitted with JobID $SLOW_JOB"
if wait_state "$SLOW_JOB" RUNNING 20; then
	pass "detached: the job is RUNNING in /jobs/$SLOW_JOB"
else
	fail "detached: /jobs/$SLOW_JOB is $STATE"
fi

# ---------------------------------------------------------------- FAILED
cli failed run -m "$JM" --no-progress "$FAIL"
job_of failed
FAIL_JOB=$JID
expect_last failed 1 "^Job 'FailMap' \($FAIL_JOB\) FAILED: operator 'Checked Map': fail_map_checked_map\(\) failed: bad record 5000$"
check "failed: two lines on stderr" test "$(wc -l <"$WORK/failed.err")" -eq 2

# An HTTP error from the JobManager: its "errors", exit 1.
cli refused run -m "$JM" "$WC" --input "$WORK/no-such-input.txt"
expect_rc refused 1 "^flinc: running job 'wordcount\.so': the JobManager at $JMRE answered HTTP 400: .*cannot read '$WORK/no-such-input\.txt': No such file or directory$"

# ------------------------------------------------------------------ list
# date_free FILE: the list with its dates replaced by DATE.
date_free() { sed -E 's/^[0-9]{2}\.[0-9]{2}\.[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} : /DATE : /' "$1"; }
cli list list -m "$JM"
date_free "$WORK/list.out" >"$WORK/list.txt"
same_text "list: exit $RC, Flink's layout: the running job, no scheduled ones" "$WORK/list.txt" \
	"Waiting for response...
------------------ Running/Restarting Jobs -------------------
DATE : $SLOW_JOB : SlowSink (RUNNING)
--------------------------------------------------------------
No scheduled jobs."
# The terminated ones in the order they started.
api GET /jobs/overview
TERMINATED=$(json '[.jobs[] | select(.state == "FINISHED" or .state == "FAILED" or .state == "CANCELED")]
	| sort_by(."start-time", .state, .jid) | .[] | "DATE : \(.jid) : \(.name) (\(.state))"')
cli list-a list -m "$JM" -a
date_free "$WORK/list-a.out" >"$WORK/list-a.txt"
same_text "list-a: exit $RC, the terminated section too" "$WORK/list-a.txt" \
	"Waiting for response...
------------------ Running/Restarting Jobs -------------------
DATE : $SLOW_JOB : SlowSink (RUNNING)
--------------------------------------------------------------
No scheduled jobs.
---------------------- Terminated Jobs -----------------------
$TERMINATED
--------------------------------------------------------------"
check "list-a: WordCount FINISHED and FailMap FAILED among them" bash -c \
	"grep -qx 'DATE : $FAIL_JOB : FailMap (FAILED)' '$WORK/list-a.txt' &&
	grep -qx 'DATE : $WC_JOB : WordCount (FINISHED)' '$WORK/list-a.txt'"
START=$(curl -s "http://$JM/jobs/$SLOW_JOB" | jq -r '."start-time" / 1000 | floor')
check "list: the date is the job's start time in local time" \
	grep -q "^$(date -d "@$START" '+%d.%m.%Y %H:%M:%S') : $SLOW_JOB" "$WORK/list.out"
cli list-r list -m "$JM" -r
check "list-r: the running section only" bash -c "[ $RC -eq 0 ] && ! grep -q 'scheduled' '$WORK/list-r.out' && grep -q '$SLOW_JOB' '$WORK/list-r.out'"
cli list-s list -m "$JM" -s
same_text "list-s: the scheduled section only" "$WORK/list-s.out" "Waiting for response...
No scheduled jobs."

# --------------------------------------------------------------- cancel
cli cancel cancel -m "$JM" "$SLOW_JOB"
same_text "cancel: exit $RC, Flink's two lines" "$WORK/cancel.out" "Cancelling job $SLOW_JOB.
Cancelled job $SLOW_JOB."
check "cancel: exit 0, nothing on stderr" test "$RC" = 0 -a ! -s "$WORK/cancel.err"
if wait_state "$SLOW_JOB" CANCELED 20; then pass "cancel: the job is CANCELED"; else fail "cancel: $STATE"; fi
cli cancel-again cancel -m "$JM" "$SLOW_JOB"
expect_rc cancel-again 1 "^flinc: cancelling job $SLOW_JOB: the JobManager at $JMRE answered HTTP 409: Job $SLOW_JOB is already in the terminal state CANCELED$"
cli cancel-unknown cancel -m "$JM" 0123456789abcdef0123456789abcdef
expect_rc cancel-unknown 1 "^flinc: cancelling job 0123456789abcdef0123456789abcdef: the JobManager at $JMRE answered HTTP 404: Job 0123456789abcdef0123456789abcdef not found"
cli cancel-bad cancel -m "$JM" 0123456789abcdef0123456789abcdeg
expect_rc cancel-bad 2 '^flinc: Cannot parse JobID from "0123456789abcdef0123456789abcdeg": a job id is 32 hexadecimal digits'
check "cancel-bad: nothing on stdout (nothing was sent)" test ! -s "$WORK/cancel-bad.out"

# An attached run whose job someone else cancels: CANCELED, exit 1.
start_cli elsewhere run -m "$JM" --no-progress "$SLOW" --count $MANY
if submitted elsewhere && wait_state "$JID" RUNNING 20; then
	cli cancel-other cancel -m "$JM" "$JID"
fi
wait_flinc 30
expect_last elsewhere 1 "^Job 'SlowSink' \($JID\) CANCELED after [0-9]+ ms$"

# -------------------------------------------------------------- signals
# SIGINT without -sae: the job goes on; the line says how to cancel it.
start_cli sigint run -m "$JM" --no-progress "$SLOW" --count $MANY
submitted sigint && wait_state "$JID" RUNNING 20 && kill -INT "$BG_PID"
wait_flinc 20
expect_last sigint 130 "^Job $JID goes on running on the cluster; to cancel it: flinc cancel -m $JMRE $JID$"
sleep 1
api GET "/jobs/$JID"
check "sigint: the job is still RUNNING a second later" test "$(json .state)" = RUNNING
# The printed command, as a user pastes it.
read -r -a CMD <<<"$(last_err sigint | sed 's/.*to cancel it: flinc //')"
cli sigint-cancel "${CMD[@]}"
check "sigint: the printed command cancels it (exit $RC)" test "$RC" = 0
if wait_state "$JID" CANCELED 20; then pass "sigint: CANCELED after that"; else fail "sigint: $STATE"; fi

# SIGTERM with -sae: the job is cancelled and followed to its end.
start_cli sae run -m "$JM" -sae --no-progress "$SLOW" --count $MANY
submitted sae && wait_state "$JID" RUNNING 20 && kill -TERM "$BG_PID"
wait_flinc 30
expect_last sae 143 "^Job 'SlowSink' \($JID\) CANCELED after [0-9]+ ms$"
check "sae: 'Cancelling job <id>.' was printed" grep -qx "Cancelling job $JID." "$WORK/sae.err"
api GET "/jobs/$JID"
check "sae: /jobs/<id> says CANCELED" test "$(json .state)" = CANCELED

# ----------------------------------------------- the configuration's -m
printf 'rest.address: 127.0.0.1\nrest.port: %s\n' "$REST_PORT" >"$WORK/conf/flinc.yaml"
FLINC_CONF_DIR=$WORK/conf cli conf-rest list -a
check "conf-rest: rest.address and rest.port name the JobManager (exit $RC)" \
	grep -q " : $FAIL_JOB : FailMap (FAILED)$" "$WORK/conf-rest.out"
printf 'jobmanager.rpc.address: 127.0.0.1\nrest.port: %s\n' "$REST_PORT" >"$WORK/conf/flinc.yaml"
FLINC_CONF_DIR=$WORK/conf cli conf-rpc list -a
check "conf-rpc: without rest.address, jobmanager.rpc.address (exit $RC)" \
	grep -q " : $FAIL_JOB : FailMap (FAILED)$" "$WORK/conf-rpc.out"
cli conf-D list -a -D rest.address=127.0.0.1 -D "rest.port=$REST_PORT"
check "conf-D: -D rest.address/rest.port (exit $RC)" grep -q " : $FAIL_JOB : " "$WORK/conf-D.out"
cli conf-m-port list -a -D "rest.port=$REST_PORT" -m 127.0.0.1
check "conf-m-port: -m HOST takes rest.port (exit $RC)" grep -q " : $FAIL_JOB : " "$WORK/conf-m-port.out"

# ------------------------------------ a JobManager that stops answering
# SIGSTOP: connections are accepted by the kernel, nothing answers.
api GET /jobs/overview
N_BEFORE=$(json '.jobs | length')
kill -STOP "$JM_PID"
cli stopped-list list -m "$JM" -D client.timeout=1s
expect_rc stopped-list 3 "^flinc: the JobManager at $JMRE did not answer GET /jobs/overview within 1 s \(client\.timeout\)$"
check "stopped-list: gave up after about 1 s (${TOOK_MS} ms)" test "$TOOK_MS" -ge 900 -a "$TOOK_MS" -lt 10000
start_cli stopped-int list -m "$JM"
sleep 1
kill -INT "$BG_PID"
wait_flinc 10
expect_last stopped-int 130 "^Interrupted by SIGINT: exiting$"
check "stopped-int: exited within 5 s of the signal (${WAITED_MS} ms)" test "$WAITED_MS" -lt 5000
start_cli stopped-run run -m "$JM" "$WC" --input "$WORK/in.txt"
sleep 1
kill -INT "$BG_PID"
wait_flinc 10
expect_last stopped-run 130 "^Interrupted by SIGINT before the job was submitted: exiting$"
kill -CONT "$JM_PID"
sleep 1
api GET /jobs/overview
check "stopped-run: no job was started ($N_BEFORE jobs, as before)" test "$(json '.jobs | length')" = "$N_BEFORE"
check "stopped-run: no job is running" test "$(json '[.jobs[] | select(.state == "RUNNING")] | length')" = 0

# Stopped while an attached run follows its job: it gives up after
# client.timeout, naming the address and the job.
start_cli lost run -m "$JM" -D client.timeout=1s --no-progress "$SLOW" --count $MANY
if submitted lost && wait_state "$JID" RUNNING 20; then
	sleep 0.6
	kill -STOP "$JM_PID"
fi
wait_flinc 15
kill -CONT "$JM_PID"
expect_last lost 3 "^flinc: lost contact with the JobManager at $JMRE for 1 s \(client\.timeout\): the JobManager at $JMRE did not answer GET /jobs/$JID within 1 s \(client\.timeout\); job $JID may still be running \(flinc list -m $JMRE\)$"
check "lost: gave up within 5 s (${WAITED_MS} ms)" test "$WAITED_MS" -lt 5000
api GET "/jobs/$JID"
check "lost: the job still RUNNING once the JobManager goes on" test "$(json .state)" = RUNNING
api PATCH "/jobs/$JID?mode=cancel"
wait_state "$JID" CANCELED 20 || fail "lost: cancelling the job left behind: $STATE"

# Stopped for less than client.timeout: the run waits and ends FINISHED.
# -p wins over -D parallelism.default.
T0=$(date +%s%N)
start_cli back run -m "$JM" -D client.timeout=10s -p 3 -D parallelism.default=2 --no-progress "$WC" \
	--input "$WORK/in.txt" --output "$WORK/wc-back" --mode batch
if submitted back; then
	kill -STOP "$JM_PID"
	sleep 2.5
	kill -CONT "$JM_PID"
fi
wait_flinc 30
expect_last back 0 "^Job 'WordCount' \($JID\) FINISHED in [0-9]+ ms$"
TOOK_MS=$((($(date +%s%N) - T0) / 1000000))
check "back: the run outlasted the 2.5 s the JobManager was stopped (${TOOK_MS} ms)" test "$TOOK_MS" -ge 2500
wc_output wc-back
same_file "back: WordCount's output equals the reference" "$WORK/expected.txt" "$WORK/wc-back.txt"
api GET "/jobs/$JID"
check "back: -p 3 reached the job (every vertex at 3)" \
	test "$(json '[.vertices[].parallelism] | unique | join(",")')" = 3

# --------------------------------------------------- injected faults
# faultjm alone (every request gets the fault) or as a proxy in front of
# the real JobManager (the fault on after SIGUSR1, off after SIGUSR2).
FJ_PID=
start_fault() { # start_fault TAG ARGS...: FJ (its address), FJ_PID
	local tag=$1 i
	shift
	"$FAULT_JM" --port-file "$WORK/$tag.port" "$@" >"$WORK/$tag.fj" 2>&1 &
	FJ_PID=$!
	PIDS+=("$FJ_PID")
	for ((i = 0; i < 200; i++)); do
		[ -s "$WORK/$tag.port" ] && break
		sleep 0.05
	done
	FJ=127.0.0.1:$(cat "$WORK/$tag.port")
	FJRE=${FJ//./\\.}
}
stop_fault() {
	kill -TERM "$FJ_PID" 2>/dev/null || true
	wait "$FJ_PID" 2>/dev/null || true
}

start_fault html --fault html
cli html list -m "$FJ"
expect_rc html 3 "^flinc: listing jobs: the JobManager at $FJRE sent a reply flinc cannot use: the reply is not JSON: '<html><body>Welcome</body></html>'$"
stop_fault

start_fault huge --fault huge
cli huge list -m "$FJ"
expect_rc huge 3 "^flinc: the JobManager at $FJRE answered GET /jobs/overview with more than 16 MiB: refused$"
stop_fault

start_fault shape --fault shape
cli shape-list list -m "$FJ"
expect_rc shape-list 3 "^flinc: listing jobs: the JobManager at $FJRE sent a reply flinc cannot use: the reply has no \"jobs\" array$"
cli shape-run run -m "$FJ" "$WC"
expect_rc shape-run 3 "^flinc: uploading job 'wordcount\.so': the JobManager at $FJRE sent a reply flinc cannot use: the reply has no \"filename\"$"
stop_fault

# 503 for a while as an attached run follows its job: it retries for up
# to client.timeout and follows the job to its end.
start_fault retry --fault 503 --upstream "$REST_PORT" --off
start_cli retry run -m "$FJ" -D client.timeout=5s --no-progress "$WC" --input "$WORK/in.txt" --mode batch
if submitted retry; then
	kill -USR1 "$FJ_PID"
	sleep 1.5
	kill -USR2 "$FJ_PID"
fi
wait_flinc 30
stop_fault
expect_last retry 0 "^Job 'WordCount' \($JID\) FINISHED in [0-9]+ ms$"
check "retry: 'answered HTTP 503; retrying for up to 5 s'" \
	grep -qx "flinc: the JobManager at $FJ answered HTTP 503; retrying for up to 5 s" "$WORK/retry.err"
check "retry: 'answers again'" grep -qx "flinc: the JobManager at $FJ answers again" "$WORK/retry.err"
check "retry: the proxy answered 503s in between" grep -q "^GET /jobs/$JID -> fault$" "$WORK/retry.fj"

# 503 for good: it gives up after client.timeout; the job goes on.
start_fault gone --fault 503 --upstream "$REST_PORT" --off
start_cli gone run -m "$FJ" -D client.timeout=1s --no-progress "$SLOW" --count $MANY
submitted gone && kill -USR1 "$FJ_PID"
wait_flinc 20
stop_fault
expect_last gone 3 "^flinc: lost contact with the JobManager at $FJRE for 1 s \(client\.timeout\): the JobManager at $FJRE answered HTTP 503; job $JID may still be running \(flinc list -m $FJRE\)$"
check "gone: 'retrying for up to 1 s' first" \
	grep -qx "flinc: the JobManager at $FJ answered HTTP 503; retrying for up to 1 s" "$WORK/gone.err"
if wait_state "$JID" RUNNING 10; then pass "gone: the job RUNNING on the real JobManager"; else fail "gone: $STATE"; fi
api PATCH "/jobs/$JID?mode=cancel"
wait_state "$JID" CANCELED 20 || fail "gone: cancelling the job left behind: $STATE"

# JSON of the wrong shape while following a job, and for a FAILED job's
# exceptions.
start_fault shape-follow --fault shape --upstream "$REST_PORT" --off
start_cli shape-follow run -m "$FJ" --no-progress "$WC" --input "$WORK/in.txt" --mode batch
submitted shape-follow && kill -USR1 "$FJ_PID"
wait_flinc 20
stop_fault
expect_last shape-follow 3 "^flinc: following job $JID: the JobManager at $FJRE sent a reply flinc cannot use: a job has no \"jid\"$"
start_fault shape-exc --fault shape --upstream "$REST_PORT" --match /exceptions
cli shape-exc run -m "$FJ" --no-progress "$FAIL"
stop_fault
job_of shape-exc
expect_last shape-exc 1 "^Job 'FailMap' \($JID\) FAILED: the JobManager gave no cause$"

# ------------------------------------------- a JobManager that stops
# SIGTERM: it closes its port; an attached run retries, then gives up.
start_cli down run -m "$JM" -D client.timeout=2s --no-progress "$SLOW" --count $MANY
if submitted down && wait_state "$JID" RUNNING 20; then
	kill -TERM "$JM_PID"
fi
wait_flinc 30
JM_RC=0
for _ in $(seq 100); do kill -0 "$JM_PID" 2>/dev/null || break; sleep 0.1; done
wait "$JM_PID" || JM_RC=$?
expect_last down 3 "^flinc: lost contact with the JobManager at $JMRE for 2 s \(client\.timeout\): cannot reach the JobManager at $JMRE \(is one running there\? -m HOST:PORT names another\): .*; job $JID may still be running \(flinc list -m $JMRE\)$"
check "down: 'retrying for up to 2 s' first" grep -q "; retrying for up to 2 s$" "$WORK/down.err"
check "down: the JobManager exited 0 on SIGTERM" test "$JM_RC" = 0
cli down-list list -m "$JM"
expect_rc down-list 3 "^flinc: cannot reach the JobManager at $JMRE "
stop_all

logs_clean "$WORK"/jm.log "$WORK"/tm-*.log "$WORK"/*.err "$WORK"/*.fj "$WORK"/tty.raw
it_finish
