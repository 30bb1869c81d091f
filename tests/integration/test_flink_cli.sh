#!/usr/bin/env bash
# Apache Flink's own command line client against a flinc JobManager:
# org.apache.flink.client.cli.CliFrontend of Flink 2.3.0 (the `flink`
# command of Flink's distribution), resolved from Maven Central by
# tests/flink-cli/classpath.sh and run with Java 17 as bin/flink runs it.
# A real session cluster on loopback runs a long job (slow_sink.so, uploaded
# and started through the REST API); Flink's client must list it RUNNING
# with its id, name and start time, cancel it, and list it CANCELED with -a;
# then take a savepoint of a checkpointed job, dispose of it (its directory
# must be gone) and stop the job with a savepoint.
# What the client prints and logs is copied into this test's log.
#
# Without Java 17 or Maven, or when the jars cannot be resolved (no Maven
# Central and a cold ~/.m2), the test fails saying what is missing: it never
# skips.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_setup
SLOW=$JOBS/slow_sink.so
[ -e "$SLOW" ] || { echo "missing $SLOW (build the project first)" >&2; exit 1; }
FLINK_CLI_DIR=$FLINC_SOURCE_DIR/tests/flink-cli
FLINK_CLI_TIMEOUT=${FLINK_CLI_TIMEOUT:-120}

# ------------------------------------------------ Java 17 and the jars
# Java: FLINK_CLI_JAVA, else Debian's OpenJDK 17, else `java` on PATH; it
# must be 17, the Java this compatibility is measured with.
JAVA=${FLINK_CLI_JAVA:-}
if [ -z "$JAVA" ]; then
	for j in /usr/lib/jvm/java-17-openjdk-*/bin/java "$(command -v java || true)"; do
		[ -n "$j" ] && [ -x "$j" ] && { JAVA=$j; break; }
	done
fi
JAVA_VERSION=
[ -n "$JAVA" ] && JAVA_VERSION=$("$JAVA" -version 2>&1 | sed -nE '1s/.*version "([^"]*)".*/\1/p' || true)
if [ -z "$JAVA" ] || [ "${JAVA_VERSION%%.*}" != 17 ]; then
	fail "Java 17 is needed to run Apache Flink's CLI (found: ${JAVA:-no java}${JAVA_VERSION:+ version $JAVA_VERSION})" \
		"install Debian's openjdk-17-jre-headless (scripts/install-deps.sh) or set FLINK_CLI_JAVA to a Java 17"
	it_finish
fi
pass "Java $JAVA_VERSION ($JAVA)"

start=$(date +%s%N)
CP_RC=0
CP=$("$FLINK_CLI_DIR/classpath.sh" 2>"$WORK/classpath.err") || CP_RC=$?
CP_MS=$((($(date +%s%N) - start) / 1000000))
if [ "$CP_RC" != 0 ] || [ -z "$CP" ]; then
	fail "the jars of Apache Flink's CLI (org.apache.flink:flink-clients:2.3.0 and its dependencies) could not be had (classpath.sh exit $CP_RC)" \
		"$(cat "$WORK/classpath.err")"
	it_finish
fi
sed 's/^/    /' "$WORK/classpath.err"
pass "Flink's CLI classpath: $(tr ':' '\n' <<<"$CP" | wc -l) jars in $CP_MS ms"

# Flink's distribution layout, empty but for the configuration: the CLI
# reads FLINK_CONF_DIR/config.yaml, looks for plugins in FLINK_PLUGINS_DIR
# and writes its JAAS file under io.tmp.dirs.
FLINK_HOME=$WORK/flink
mkdir -p "$FLINK_HOME/conf" "$FLINK_HOME/lib" "$FLINK_HOME/plugins" "$FLINK_HOME/log" "$FLINK_HOME/tmp"
# A request that fails is tried twice more, 500 ms apart (Flink: 20 times,
# 3 s apart), so that a failing check fails in seconds, not minutes.
cat >"$FLINK_HOME/conf/config.yaml" <<EOF
io:
  tmp:
    dirs: $FLINK_HOME/tmp
rest:
  retry:
    max-attempts: 2
    delay: 500 ms
EOF
# bin/flink's log4j-cli.properties: the client's log in a file.
cat >"$FLINK_HOME/conf/log4j-cli.properties" <<'EOF'
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FileAppender
appender.file.name = FileAppender
appender.file.type = FILE
appender.file.append = true
appender.file.fileName = ${sys:log.file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n
EOF

# flink TAG ARGS...: Flink's CLI as bin/flink starts it, under a timeout,
# stdin from /dev/null; stdout/stderr in $WORK/TAG.out/.err (copied into
# this log), its log in $WORK/TAG.log, exit code in RC, time in TOOK_MS.
# TZ=UTC so that the start times it prints can be checked.
flink() {
	local tag=$1 start
	shift
	RC=0
	start=$(date +%s%N)
	TZ=UTC FLINK_CONF_DIR=$FLINK_HOME/conf FLINK_LIB_DIR=$FLINK_HOME/lib FLINK_PLUGINS_DIR=$FLINK_HOME/plugins \
		FLINK_BIN_DIR=$FLINK_HOME/bin FLINK_OPT_DIR=$FLINK_HOME/opt \
		timeout -k 10 "$FLINK_CLI_TIMEOUT" "$JAVA" -Xmx256m -XX:+UseSerialGC \
		-Dlog.file="$WORK/$tag.log" -Dlog4j.configurationFile=file:"$FLINK_HOME/conf/log4j-cli.properties" \
		-classpath "$CP" org.apache.flink.client.cli.CliFrontend "$@" \
		</dev/null >"$WORK/$tag.out" 2>"$WORK/$tag.err" || RC=$?
	TOOK_MS=$((($(date +%s%N) - start) / 1000000))
	echo "---- flink $* (exit $RC, $TOOK_MS ms)"
	sed 's/^/    | /' "$WORK/$tag.out"
	sed 's/^/    ! /' "$WORK/$tag.err"
}
# client_log TAG: the client's WARN and ERROR log lines, for a failure.
client_log() { grep -E ' (WARN|ERROR) ' "$WORK/$1.log" 2>/dev/null | grep -v FlinkYarnSessionCli | head -n 8 | cut -c1-300; }

# section TAG TITLE: the lines of TAG's stdout between Flink's header
# "---- TITLE ----" and the next line of dashes.
section() {
	awk -v t="$2" '/^-+ .* -+$/ { inside = index($0, " " t " ") > 0; next }
		/^-+$/ { inside = 0; next } inside' "$WORK/$1.out"
}

# ------------------------------------------------------ cluster, long job
source "$(dirname "$0")/cluster.sh"
start_jm jm
check "the JobManager serves REST on port $REST_PORT" test -n "$REST_PORT"
start_tm tm-a
check "/overview reports 1 TaskManager" wait_overview 1 20
upload "$SLOW"
run_jar "$JAR" '{"programArgsList": ["--count", "100000000"], "parallelism": 1}'
if wait_state "$JOB" RUNNING 30; then
	pass "slow_sink.so RUNNING as job $JOB"
else
	fail "slow_sink.so did not reach RUNNING ($STATE)" "$(head -c 600 "$WORK/api.out")"
fi
# /jobs/overview as Flink's JobDetails: what `flink list` reads.
# overview_tasks STATE: within 10 s, the job's 3 tasks (2 sources, the
# map chained to the sink) are all in STATE, and the counts add up.
overview_tasks() {
	local ok=false
	for _ in $(seq 100); do
		api GET /jobs/overview
		[ "$CODE" = 200 ] && ok=$(json ".jobs[] | select(.jid == \"$JOB\") | .tasks |
			(.total == 3) and (.$1 == 3) and ((del(.total) | add) == 3) and (keys | length == 11)")
		[ "$ok" = true ] && break
		sleep 0.1
	done
	echo "    GET /jobs/overview: $(head -c 600 "$WORK/api.out")"
	[ "$ok" = true ]
}
check "/jobs/overview: the job's 3 tasks running (total, and the 10 ExecutionStates in lower case)" overview_tasks running
START_MS=$(json ".jobs[] | select(.jid == \"$JOB\") | .\"start-time\"")
START_TEXT=$(TZ=UTC date -d "@$((START_MS / 1000))" '+%d.%m.%Y %H:%M:%S')
NAME=SlowSink

# -------------------------------------------------------------- list
flink list list -m "127.0.0.1:$REST_PORT"
running=$(section list "Running/Restarting Jobs")
if [ "$RC" = 0 ] && [ "$running" = "$START_TEXT : $JOB : $NAME (RUNNING)" ]; then
	pass "flink list: '$running' under Running/Restarting Jobs ($TOOK_MS ms)"
else
	fail "flink list: expected '$START_TEXT : $JOB : $NAME (RUNNING)' under Running/Restarting Jobs (exit $RC)" \
		"$(cat "$WORK/list.out" "$WORK/list.err" | head -n 20)" "$(client_log list)"
fi
check "flink list: No scheduled jobs." grep -qx 'No scheduled jobs.' "$WORK/list.out"

# ------------------------------------------------------------ cancel
flink cancel cancel -m "127.0.0.1:$REST_PORT" "$JOB"
if [ "$RC" = 0 ] && grep -qx "Cancelling job $JOB." "$WORK/cancel.out" &&
	grep -qx "Cancelled job $JOB." "$WORK/cancel.out"; then
	pass "flink cancel: 'Cancelling job $JOB.' then 'Cancelled job $JOB.', exit 0 ($TOOK_MS ms)"
else
	fail "flink cancel $JOB: expected exit 0 and 'Cancelled job $JOB.' (exit $RC)" \
		"$(cat "$WORK/cancel.out" "$WORK/cancel.err" | head -n 20)" "$(client_log cancel)"
fi
if wait_state "$JOB" CANCELED 20; then
	pass "GET /jobs/$JOB: CANCELED"
else
	fail "the job did not end CANCELED after flink cancel ($STATE)"
fi
check "/jobs/overview: the job's 3 tasks canceled" overview_tasks canceled

# -------------------------------------------------- list and list -a
flink list-after list -m "127.0.0.1:$REST_PORT"
if [ "$RC" = 0 ] && grep -qx 'No running jobs.' "$WORK/list-after.out" &&
	grep -qx 'No scheduled jobs.' "$WORK/list-after.out" && ! grep -q "$JOB" "$WORK/list-after.out"; then
	pass "flink list after the cancel: No running jobs. No scheduled jobs."
else
	fail "flink list after the cancel (exit $RC)" "$(cat "$WORK/list-after.out" "$WORK/list-after.err" | head -n 20)"
fi
flink list-all list -a -m "127.0.0.1:$REST_PORT"
terminated=$(section list-all "Terminated Jobs")
if [ "$RC" = 0 ] && [ "$terminated" = "$START_TEXT : $JOB : $NAME (CANCELED)" ] &&
	[ -z "$(section list-all "Running/Restarting Jobs")" ]; then
	pass "flink list -a: '$terminated' under Terminated Jobs"
else
	fail "flink list -a: expected '$START_TEXT : $JOB : $NAME (CANCELED)' under Terminated Jobs (exit $RC)" \
		"$(cat "$WORK/list-all.out" "$WORK/list-all.err" | head -n 20)" "$(client_log list-all)"
fi

# --------------------------------------------- savepoint and stop
# A job whose operators take checkpoints (a paced generator, a map).
upload "$JOBS/checkpointed.so"
run_jar "$JAR" '{"programArgsList": ["--rate", "2000"], "parallelism": 1}'
CKP_JOB=$JOB
wait_state "$CKP_JOB" RUNNING 30 || fail "checkpointed.so did not reach RUNNING ($STATE)"
flink savepoint savepoint -m "127.0.0.1:$REST_PORT" "$CKP_JOB" "$WORK/sp"
SP=$(sed -n 's/^Savepoint completed\. Path: file:\(.*\)$/\1/p' "$WORK/savepoint.out")
if [ "$RC" = 0 ] && [ -n "$SP" ] && [ -s "$SP/_metadata" ]; then
	pass "flink savepoint: 'Savepoint completed. Path: file:$SP', its _metadata written ($TOOK_MS ms)"
else
	fail "flink savepoint $CKP_JOB (exit $RC)" "$(cat "$WORK/savepoint.out" "$WORK/savepoint.err" | head -n 20)" \
		"$(client_log savepoint)"
fi
# Flink's `savepoint --dispose`: POST /v1/savepoint-disposal, then its
# status until COMPLETED.
flink dispose savepoint -m "127.0.0.1:$REST_PORT" --dispose "$SP"
if [ "$RC" = 0 ] && [ -n "$SP" ] && grep -qx "Disposing savepoint '$SP'." "$WORK/dispose.out" &&
	grep -qx "Savepoint '$SP' disposed." "$WORK/dispose.out" && [ ! -e "$SP" ]; then
	pass "flink savepoint --dispose: 'Savepoint '$SP' disposed.', its directory gone ($TOOK_MS ms)"
else
	fail "flink savepoint --dispose $SP (exit $RC)" "$(cat "$WORK/dispose.out" "$WORK/dispose.err" | head -n 20)" \
		"$(client_log dispose)"
fi
# A failed disposal fails Flink's client too; it cannot show the cause: it
# reads only a Java-serialized throwable, which flinc does not send (flinc's
# CLI and the status JSON name it).
flink dispose-again savepoint -m "127.0.0.1:$REST_PORT" --dispose "$SP"
if [ "$RC" != 0 ] && ! grep -q "disposed\.$" "$WORK/dispose-again.out" &&
	grep -q "Failed to dispose the savepoint '$SP'" "$WORK/dispose-again.out" "$WORK/dispose-again.err"; then
	pass "flink savepoint --dispose of a savepoint gone: exit $RC, 'Failed to dispose the savepoint'"
else
	fail "flink savepoint --dispose of a missing savepoint: expected a non-zero exit (exit $RC)" \
		"$(cat "$WORK/dispose-again.out" "$WORK/dispose-again.err" | head -n 20)"
fi
flink stop stop -m "127.0.0.1:$REST_PORT" --savepointPath "$WORK/sp-stop" "$CKP_JOB"
SP=$(sed -n 's/^Savepoint completed\. Path: file:\(.*\)$/\1/p' "$WORK/stop.out")
if [ "$RC" = 0 ] && [ -n "$SP" ] && [ -s "$SP/_metadata" ] && wait_state "$CKP_JOB" 'CANCELED|FINISHED|FAILED' 20 &&
	[ "$STATE" = FINISHED ]; then
	pass "flink stop --savepointPath: the savepoint completed and the job FINISHED, as Flink's does"
else
	fail "flink stop $CKP_JOB (exit $RC)" "$(cat "$WORK/stop.out" "$WORK/stop.err" | head -n 20)" \
		"$(client_log stop)"
fi

# ------------------------------------------------- what goes wrong
# A job that has ended cannot be cancelled: Flink's client exits non-zero
# with the JobManager's answer; an unknown job id likewise.
# (The last job, stopped with a savepoint above, FINISHED.)
flink cancel-again cancel -m "127.0.0.1:$REST_PORT" "$JOB"
if [ "$RC" != 0 ] && grep -q 'already in the terminal state FINISHED' "$WORK/cancel-again.out" "$WORK/cancel-again.err"; then
	pass "flink cancel of the FINISHED job: exit $RC with the JobManager's reason"
else
	fail "flink cancel of a FINISHED job: expected a non-zero exit naming the terminal state (exit $RC)" \
		"$(cat "$WORK/cancel-again.out" "$WORK/cancel-again.err" | head -n 20)"
fi

stop_all
logs_clean "$WORK"/jm.log "$WORK"/tm-*.log
it_finish
