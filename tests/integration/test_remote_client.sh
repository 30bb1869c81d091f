#!/usr/bin/env bash
# The client against a session cluster (`flinc run -m`, list, cancel), as
# a user runs it: refusals before anything is sent (job ids, files that are
# no shared object, bad addresses), bounded failures (a closed port, a
# JobManager that never answers), the address from the configuration, and,
# against a fake JobManager that answers with Flink's REST shapes
# (tools/fake_jobmanager.c), attached and detached runs, FAILED, list,
# cancel, and SIGINT/SIGTERM with and without -sae. The end-to-end tests
# against a real flinc-jobmanager live with it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_setup
WC=$EXAMPLES/wordcount.so
IT_TIMEOUT=60
ID='[0-9a-f]{32}'
FAKE_ID=f00dfeedf00dfeedf00dfeedf00dfeed

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

# A port with nobody listening: bound by a shell redirection is not
# possible, so take one the kernel hands out and free it again.
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

# --------------------------------------------------- bounded failures
cli closed run -m "127.0.0.1:$CLOSED" "$WC"
expect_rc closed 3 "^flinc: cannot reach the JobManager at 127\.0\.0\.1:$CLOSED \(is one running there\? -m HOST:PORT names another\): "
check "closed: failed within 15 s (${TOOK_MS} ms)" test "$TOOK_MS" -lt 15000

cli closed-url list -m "http://127.0.0.1:$CLOSED/"
expect_rc closed-url 3 "^flinc: cannot reach the JobManager at 127\.0\.0\.1:$CLOSED "
check "closed-url: 'Waiting for response...' on stdout first, as Flink's list" \
	grep -qx 'Waiting for response...' "$WORK/closed-url.out"

cli closed-cancel cancel -m "127.0.0.1:$CLOSED" 0123456789abcdef0123456789abcdef
expect_rc closed-cancel 3 "cannot reach the JobManager at 127\.0\.0\.1:$CLOSED "

# The address from the configuration: rest.address and rest.port, then
# jobmanager.rpc.address when rest.address is empty.
mkdir -p "$WORK/conf"
printf 'rest.port: %s\n' "$CLOSED" >"$WORK/conf/flinc.yaml"
FLINC_CONF_DIR=$WORK/conf cli conf-port list
expect_rc conf-port 3 "cannot reach the JobManager at localhost:$CLOSED "
cli conf-D list -D rest.address=127.0.0.1 -D "rest.port=$CLOSED"
expect_rc conf-D 3 "cannot reach the JobManager at 127\.0\.0\.1:$CLOSED "
cli conf-rpc list -D jobmanager.rpc.address=127.0.0.1 -D "rest.port=$CLOSED"
expect_rc conf-rpc 3 "cannot reach the JobManager at 127\.0\.0\.1:$CLOSED "
cli conf-m-port list -D "rest.port=$CLOSED" -m 127.0.0.1
expect_rc conf-m-port 3 "cannot reach the JobManager at 127\.0\.0\.1:$CLOSED "
cli bad-timeout list -D client.timeout=0 -m "127.0.0.1:$CLOSED"
expect_rc bad-timeout 2 "client\.timeout"

if [ -z "${FAKE_JM:-}" ] || [ ! -x "${FAKE_JM:-}" ]; then
	echo "SKIP: the fake JobManager tests (FAKE_JM is not set: run through ctest)"
	it_finish
	exit $?
fi

# ------------------------------------------------- a fake JobManager
JM_PID=
JM_PORT=
# start_jm TAG ARGS...: the fake on a free port, its requests (printed
# when it stops) in $WORK/TAG.jm.
start_jm() {
	local tag=$1 i
	shift
	rm -f "$WORK/$tag.port"
	"$FAKE_JM" --port-file "$WORK/$tag.port" "$@" >"$WORK/$tag.jm" 2>&1 &
	JM_PID=$!
	for ((i = 0; i < 200; i++)); do
		[ -s "$WORK/$tag.port" ] && break
		sleep 0.05
	done
	JM_PORT=$(cat "$WORK/$tag.port")
	JM=127.0.0.1:$JM_PORT
}
stop_jm() {
	kill -TERM "$JM_PID" 2>/dev/null || true
	wait "$JM_PID" 2>/dev/null || true
}
stop_jm_on_exit() { [ -n "$JM_PID" ] && kill -TERM "$JM_PID" 2>/dev/null || true; }
trap 'rc=$?; stop_jm_on_exit; (exit $rc); it_cleanup' EXIT

# A JobManager that accepts and never answers: client.timeout bounds it.
start_jm silent --mode silent
cli silent list -m "$JM" -D client.timeout=1s
expect_rc silent 3 "^flinc: the JobManager at $JM did not answer GET /jobs/overview within 1 s \(client\.timeout\)$"
check "silent: gave up after about 1 s (${TOOK_MS} ms)" test "$TOOK_MS" -ge 900 -a "$TOOK_MS" -lt 10000
stop_jm

# Something else on the port (an HTML page), and a reply too large.
start_jm garbage --mode garbage
cli garbage list -m "$JM"
expect_rc garbage 3 "^flinc: listing jobs: the JobManager at $JM sent a reply flinc cannot use: the reply is not JSON: '<html><body>Welcome</body></html>'$"
stop_jm
start_jm huge --mode huge
cli huge list -m "$JM"
expect_rc huge 3 "^flinc: the JobManager at $JM answered GET /jobs/overview with more than 16 MiB: refused$"
stop_jm

# Flink's errors array, printed.
start_jm refuse --mode refuse
cli refuse run -m "$JM" "$WC"
expect_rc refuse 1 "^flinc: uploading job 'wordcount\.so': the JobManager at $JM answered HTTP 400: refused by the fake$"
check "refuse: the second error on its own line" grep -qx '  second line' "$WORK/refuse.err"
stop_jm

# Attached: submitted, followed to FINISHED; the final line is last.
start_jm attached --states CREATED,RUNNING,RUNNING,FINISHED
cli attached run -m "$JM" --no-progress "$WC" --mode batch
expect_rc attached 0 "^Job has been submitted with JobID $FAKE_ID$"
check "attached: stderr is the job id and the final line, nothing else" \
	test "$(cat "$WORK/attached.err")" = "Job has been submitted with JobID $FAKE_ID
Job 'Fake WordCount' ($FAKE_ID) FINISHED in 9000 ms"
check "attached: nothing on stdout" test ! -s "$WORK/attached.out"
stop_jm
check "attached: upload, run, then GET /jobs/<id> until it ended" \
	bash -c "head -n 3 '$WORK/attached.jm' | tr '\n' ' ' | grep -Eq '^POST /jars/upload POST /jars/1_wordcount\.so/run GET /jobs/$FAKE_ID \$'"
check "attached: the job was polled four times" test "$(grep -c "^GET /jobs/$FAKE_ID\$" "$WORK/attached.jm")" -eq 4

# Detached, then list and cancel it.
start_jm detached --states RUNNING
cli detached run -m "$JM" -d -p 2 -D parallelism.default=3 "$WC"
expect_rc detached 0 "^Job has been submitted with JobID $FAKE_ID$"
check "detached: that line only" test "$(wc -l <"$WORK/detached.err")" -eq 1
cli list list -m "$JM"
check "list: Flink's layout" bash -c "[ $RC -eq 0 ] && diff <(sed -E 's/^[0-9]{2}\.[0-9]{2}\.[0-9]{4} [0-9:]{8} /DATE /' '$WORK/list.out') - <<'EOF'
Waiting for response...
------------------ Running/Restarting Jobs -------------------
DATE : $FAKE_ID : Fake WordCount (RUNNING)
--------------------------------------------------------------
No scheduled jobs.
EOF"
cli list-a list -m "$JM" -a
check "list -a: the terminated section too" \
	grep -Eq '^[0-9]{2}\.[0-9]{2}\.[0-9]{4} [0-9:]{8} : 0000000000000000000000000000d0e5 : Done Job \(FINISHED\)$' "$WORK/list-a.out"
cli list-r list -m "$JM" -r
check "list -r: no scheduled section" bash -c "[ $RC -eq 0 ] && ! grep -q 'scheduled' '$WORK/list-r.out'"
cli cancel cancel -m "$JM" "$FAKE_ID"
check "cancel: Flink's two lines, exit 0" bash -c "[ $RC -eq 0 ] && [ \"\$(cat '$WORK/cancel.out')\" = 'Cancelling job $FAKE_ID.
Cancelled job $FAKE_ID.' ]"
cli cancel-unknown cancel -m "$JM" 0123456789abcdef0123456789abcdef
expect_rc cancel-unknown 1 "answered HTTP 404: Job 0123456789abcdef0123456789abcdef not found$"
stop_jm
check "detached: the job was never polled" bash -c "! grep -q '^GET /jobs/$FAKE_ID' '$WORK/detached.jm'"
check "cancel: PATCH /jobs/<id>?mode=cancel" grep -qx "PATCH /jobs/$FAKE_ID?mode=cancel" "$WORK/detached.jm"

# FAILED: the cause, then the final line.
start_jm failed --states RUNNING,FAILED --exception $'UserError: division by zero\n\tat map (job.c:7)'
cli failed run -m "$JM" --no-progress "$WC"
stop_jm
expect_rc failed 1 "^Cause: UserError: division by zero$"
check "failed: the final line is last and names the cause" \
	test "$(last_err failed)" = "Job 'Fake WordCount' ($FAKE_ID) FAILED: UserError: division by zero"

# ------------------------------------------------------------- signals
# start_cli TAG ARGS...: flinc in the background in a session of its own,
# SIGINT and SIGTERM at their defaults (as from a terminal), stdin from
# /dev/null (no terminal to ask on); its pid in BG_PID.
start_cli() {
	local tag=$1
	shift
	setsid env --default-signal=INT,TERM "$FLINC" "$@" </dev/null >"$WORK/$tag.out" 2>"$WORK/$tag.err" &
	BG_PID=$!
}

# Without -sae: the job goes on, and the line says how to cancel it.
start_jm sigint --states RUNNING
start_cli sigint run -m "$JM" --no-progress "$WC"
if wait_line sigint "^Job has been submitted with JobID" 20; then
	sleep 0.7
	kill -INT "$BG_PID"
fi
wait_flinc 20
stop_jm
expect_last sigint 130 "^Job $FAKE_ID goes on running on the cluster; to cancel it: flinc cancel -m $JM $FAKE_ID$"
check "sigint: no cancel request was sent" bash -c "! grep -q '^PATCH' '$WORK/sigint.jm'"

# With -sae: SIGTERM cancels the job and waits for its end.
start_jm sae --states RUNNING
start_cli sae run -m "$JM" -sae --no-progress "$WC"
if wait_line sae "^Job has been submitted with JobID" 20; then
	sleep 0.7
	kill -TERM "$BG_PID"
fi
wait_flinc 20
stop_jm
expect_last sae 143 "^Job 'Fake WordCount' \($FAKE_ID\) CANCELED after 9000 ms$"
check "sae: 'Cancelling job <id>.' was printed" grep -qx "Cancelling job $FAKE_ID." "$WORK/sae.err"
check "sae: the cancel request was sent" grep -qx "PATCH /jobs/$FAKE_ID?mode=cancel" "$WORK/sae.jm"

# Interrupted while the JobManager does not answer: no wait for it.
start_jm sig-silent --mode silent
start_cli sig-silent list -m "$JM"
sleep 1
kill -INT "$BG_PID"
wait_flinc 10
stop_jm
expect_last sig-silent 130 "^Interrupted by SIGINT: exiting$"
check "sig-silent: exited within 5 s of the signal (${WAITED_MS} ms)" test "$WAITED_MS" -lt 5000

it_finish
