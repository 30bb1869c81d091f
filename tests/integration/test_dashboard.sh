#!/usr/bin/env bash
# integration.dashboard — Apache Flink's own web dashboard (2.3.0's
# flink-runtime-web, fetched by scripts/fetch-web.sh) served by a real
# flinc-jobmanager at / and fed by its REST API alone, rendered by headless
# Chromium: the overview, the job lists, a running job's graph, its
# vertices and exceptions, an adaptive job's Rescales tab, the TaskManagers
# and one TaskManager's page, and the JobManager's configuration must show
# this cluster's data (the job's name, id and state, the vertex names and
# parallelism, the TaskManager ids), not just load. Screenshots stay in the work directory and are
# copied to $FLINC_BUILD_DIR/dashboard-screenshots/.
#
# Chromium or the dashboard's files missing is a failure that says how to
# get them (scripts/install-deps.sh, scripts/fetch-web.sh), never a skip.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_setup

CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
WEB_DIR=$("$FLINC_SOURCE_DIR/scripts/fetch-web.sh" --dir 2>"$WORK/fetch-web.err" || true)
if [ -z "$CHROMIUM" ]; then
	fail "headless Chromium is needed: install Debian's chromium (scripts/install-deps.sh)"
fi
if [ -z "$WEB_DIR" ]; then
	fail "the dashboard's files are missing: run scripts/fetch-web.sh" "$(cat "$WORK/fetch-web.err")"
fi
if [ -z "$CHROMIUM" ] || [ -z "$WEB_DIR" ]; then
	it_finish || exit 1
fi

source "$(dirname "$0")/cluster.sh"
SLOW=$JOBS/slow_sink.so
[ -e "$SLOW" ] || { echo "missing $SLOW (build the project first)" >&2; exit 1; }
SHOTS=$WORK/screenshots
mkdir -p "$SHOTS"

# page NAME FRAGMENT: renders http://127.0.0.1:$REST_PORT/#FRAGMENT; the DOM
# after the scripts ran in $WORK/NAME.html, a screenshot in $SHOTS/NAME.png.
# Each page gets a profile of its own (a second Chromium on one profile
# hands its work to the first and exits) and a process group of its own,
# ended afterwards with whatever helpers outlived the browser. Chromium's
# own network traffic is off (its update, sign-in and time services would
# look up Google's hosts: every name resolves to nothing), so it talks to
# the JobManager only; its net log ($WORK/NAME.netlog.json) proves it.
declare -A FRAG
page() {
	local name=$1 frag=$2 pid try
	FRAG[$name]=$frag
	for try in 1 2 3; do
		rm -rf "$WORK/chromium-$name"
		setsid "$CHROMIUM" --headless=new --no-sandbox --disable-gpu \
			--user-data-dir="$WORK/chromium-$name" --no-first-run --disable-background-networking \
			--disable-component-update --disable-sync --disable-default-apps --no-pings \
			--host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" \
			--disable-features=OptimizationHints,AutofillServerCommunication,MediaRouter,Translate \
			--disable-client-side-phishing-detection --disable-domain-reliability \
			--window-size=1400,900 --virtual-time-budget=10000 \
			--log-net-log="$WORK/$name.netlog.json" \
			--screenshot="$SHOTS/$name.png" --dump-dom \
			"http://127.0.0.1:$REST_PORT/#$frag" >"$WORK/$name.html" 2>"$WORK/$name.chromium.log" &
		pid=$!
		for _ in $(seq 300); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL -- "-$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		if [ -s "$SHOTS/$name.png" ] && [ -s "$WORK/$name.html" ]; then
			echo "screenshot: $SHOTS/$name.png"
			return 0
		fi
		# Seen on a loaded machine: headless Chromium's virtual clock
		# stalls after the scripts load, and the page never asks for its
		# data. Another browser gets it.
		echo "no page $name after 30 s (attempt $try): $(grep -v dbus "$WORK/$name.chromium.log" | tail -n 2)"
	done
}

# shows NAME TEXT...: the rendered page NAME has every TEXT (HTML-escaped
# as the DOM holds it, e.g. "-&gt;"). A page rendered empty (seen under load:
# the frame drawn, the virtual clock stalled before the route's data came) is
# rendered again, twice at most; what a page lacks after that fails.
shows() {
	local name=$1 t missing=() again
	shift
	for again in 0 1 2; do
		missing=()
		for t in "$@"; do
			grep -qF -- "$t" "$WORK/$name.html" || missing+=("$t")
		done
		[ ${#missing[@]} -eq 0 ] || [ "$again" = 2 ] && break
		echo "page $name lacks ${missing[*]}: rendered again"
		page "$name" "${FRAG[$name]}"
	done
	if [ ${#missing[@]} -eq 0 ]; then
		pass "$name page shows: $*"
	else
		fail "$name page lacks: ${missing[*]}" "DOM in $WORK/$name.html (KEEP=1 keeps it)" \
			"$(sed 's/<[^>]*>/ /g' "$WORK/$name.html" | tr -s ' \n' ' ' | cut -c1-600)"
	fi
}

# ---------------------------------------------- without the dashboard's files
# No web.static-dir, an empty cache: / says how to get the files.
FLINC_CACHE=$WORK/no-cache start_jm jm-noweb
api GET /
if [ "$CODE" = 404 ] && json '.errors[0]' | grep -q 'scripts/fetch-web.sh'; then
	pass "without the dashboard's files, / is a JSON 404 naming scripts/fetch-web.sh"
else
	fail "without the dashboard's files, / answers $CODE" "$(head -c 300 "$WORK/api.out")"
fi
api GET /overview
check "the REST API answers all the same" test "$CODE" = 200
kill -TERM "$JM_PID"
wait "$JM_PID" 2>/dev/null || true
# Gone: stop_all must not signal its pid, which another process may reuse.
LIVE=()
for p in "${PIDS[@]}"; do [ "$p" = "$JM_PID" ] || LIVE+=("$p"); done
PIDS=("${LIVE[@]}")
mkdir -p "$WORK/empty"
RC=0
timeout 20 "$JM_BIN" "${COMMON[@]}" -D jobmanager.rpc.port=0 -D rest.port=0 \
	-D web.static-dir="$WORK/empty" >"$WORK/jm-badweb.log" 2>&1 || RC=$?
if [ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] && grep -q "web.static-dir: $WORK/empty holds no readable index.html" "$WORK/jm-badweb.log"; then
	pass "a web.static-dir without index.html stops the JobManager, naming the key (exit $RC)"
else
	fail "web.static-dir without index.html: exit $RC" "$(tail -n 3 "$WORK/jm-badweb.log")"
fi

# ----------------------------------------------------------- the cluster
start_jm jm -D web.static-dir="$WEB_DIR" -D web.cancel.enable=false
start_tm tm-a
start_tm tm-b
check "/overview reports 2 TaskManagers" wait_overview 2 20
api GET /
if [ "$CODE" = 200 ] && grep -q '<flink-root>' "$WORK/api.out"; then
	pass "/ serves Flink's dashboard (index.html)"
else
	fail "/ answers $CODE" "$(head -c 300 "$WORK/api.out")"
fi
api GET /config
check "/config: web-submit on, web-cancel off (web.cancel.enable=false)" \
	test "$(json '[.features."web-submit", .features."web-cancel"] | @csv')" = "true,false"

# A job that finishes, for the completed lists, then one that runs.
upload "$SLOW"
run_jar "$JAR" '{"programArgsList": ["--count", "2000", "--sleep-us", "0"]}'
DONE=$JOB
check "a short job FINISHED" wait_state "$DONE" FINISHED 60
# The same under the adaptive scheduler, its rescales kept: the Rescales tab.
run_jar "$JAR" '{"programArgsList": ["--count", "2000", "--sleep-us", "0"], "flinkConfiguration": {"jobmanager.scheduler": "adaptive", "web.adaptive-scheduler.rescale-history.size": "4", "jobmanager.adaptive-scheduler.submission.resource-stabilization-timeout": "100 ms"}}'
ADONE=$JOB
check "a short adaptive job FINISHED" wait_state "$ADONE" FINISHED 60
check "/jobs/:jobid names its scheduler (schedulerType Adaptive)" test "$(json .schedulerType)" = Adaptive
run_jar "$JAR" '{"programArgsList": ["--count", "1000000000", "--sleep-us", "1000", "--every", "100"]}'
check "the job runs" wait_state "$JOB" RUNNING 30
V0=$(json '.vertices[0].id')
V1=$(json '.vertices[1].id')
api GET "/jobs/$JOB/vertices/$V1"
MAP_TM=$(json '.subtasks[0]."taskmanager-id"')
# Records flow before the pages are taken (the JobMaster's metrics rounds).
for _ in $(seq 100); do
	api GET "/jobs/$JOB"
	[ "$(json '.vertices[0].metrics."write-records"')" != 0 ] && break
	sleep 0.1
done
check "the source vertex reports records out" test "$(json '.vertices[0].metrics."write-records"')" != 0

# ------------------------------------------- the endpoints the pages read
api GET /jobs/overview
check "/jobs/overview counts the running job's 3 subtasks (Flink's lower-case keys)" \
	test "$(json ".jobs[] | select(.jid == \"$JOB\") | [.tasks.running, .tasks.total] | @csv")" = "3,3"
api GET /applications/overview
check "/applications/overview lists the running job as an application" \
	test "$(json ".applications[] | select(.id == \"$JOB\") | .status")" = RUNNING
api GET "/applications/$DONE"
check "/applications/<id> of the finished one: FINISHED with its job" \
	test "$(json '[.status, .jobs[0].jid] | @csv')" = "\"FINISHED\",\"$DONE\""
api GET "/jobs/$JOB/vertices/$V0/subtasks/metrics?get=numRecordsOut,busyTimeMsPerSecond"
check "subtasks/metrics: numRecordsOut's sum, nothing for what flinc does not measure" \
	test "$(json 'map(.id) | @csv'),$(json '.[0].sum > 0')" = '"numRecordsOut",true'
api GET "/jobs/$JOB/vertices/$V1/taskmanagers"
check "a vertex's subtasks by TaskManager" test "$(json '.taskmanagers | length')" = 1
api GET "/jobs/$JOB/checkpoints"
check "checkpoints: a streaming job without periodic checkpoints has none yet, in Flink's shape" \
	test "$CODE,$(json '[.counts.total, .counts.completed, (.latest.completed == null), (.history | length)] | @csv')" = "200,0,0,true,0"
api GET "/jobs/$JOB/checkpoints/config"
check "checkpoints/config: exactly once, periodic checkpoints off (Flink's Long.MAX_VALUE)" \
	test "$CODE,$(json '[.mode, (.interval > 1e18), .max_concurrent, .externalization.enabled] | @csv')" = '200,"exactly_once",true,1,false'
api GET "/jobs/$JOB/checkpoints/details/7"
check "checkpoints/details of a checkpoint that never was: 404" test "$CODE" = 404
api GET "/jobs/$JOB/vertices/$V1/backpressure"
check "back-pressure: Flink's answer when there are no statistics" test "$(json .status)" = deprecated
api GET /taskmanagers/tm-a
check "a TaskManager's detail: metrics, memory configuration, the job's slot there" \
	test "$(json "[(.metrics | type), (.memoryConfiguration.managedMemory > 0), ([.allocatedSlots[] | select(.jobId == \"$JOB\")] | length)] | @csv")" = '"object",true,1'
api GET /taskmanagers
check "the TaskManagers' assignedTasks add up to the job's 3 running subtasks" \
	test "$(json '[.taskmanagers[].assignedTasks] | add')" = 3
api GET "/jobmanager/metrics?get=taskSlotsTotal"
check "/jobmanager/metrics: taskSlotsTotal 4" test "$(json '.[0].value')" = 4

# ---------------------------------------------------- the pages, rendered
page overview /overview
shows overview "Running Application List" SlowSink RUNNING "Total Task Slots"
page jobs-running /job/running
shows jobs-running SlowSink RUNNING
page jobs-completed /job/completed
shows jobs-completed SlowSink FINISHED
page job "/job/running/$JOB/overview"
shows job "$JOB" SlowSink RUNNING "Source: Fast Generator" "Slow Map -&gt; Sink: Discard" \
	"Parallelism: 2" "Parallelism: 1" REBALANCE
if grep -q 'Cancel Job' "$WORK/job.html"; then
	fail "the job page offers Cancel Job although web.cancel.enable=false"
else
	pass "no Cancel Job button (web.cancel.enable=false)"
fi
page vertex "/job/running/$JOB/overview/$V1/subtasks"
shows vertex "Slow Map -&gt; Sink: Discard" "$MAP_TM"
page exceptions "/job/running/$JOB/exceptions"
shows exceptions "$JOB" "Exception History"
page rescales "/job/completed/$ADONE/rescales"
shows rescales "$ADONE" "Trigger Cause:" INITIAL_SCHEDULE "Terminal State:" COMPLETED "Scheduler State History" WaitingForResources
page taskmanagers /task-manager
shows taskmanagers tm-a tm-b
page taskmanager "/task-manager/tm-a/metrics"
shows taskmanager tm-a "Managed Memory" "$JOB"
page jobmanager-config /job-manager/config
shows jobmanager-config high-availability.cluster-id it-cluster web.static-dir

# Chromium connected to nothing but the JobManager and looked up no name
# (its own services' requests fail at the resolver rule, before DNS).
outside=0
for f in "$WORK"/*.netlog.json; do
	n=$(jq '.constants.logEventTypes as $t
		| [.events[] | select(.phase == 1)
		   | select((.type == $t.TCP_CONNECT_ATTEMPT and (.params.address // "127.0.0.1:" | startswith("127.0.0.1:") | not))
			 or (.type == $t.HOST_RESOLVER_MANAGER_REQUEST and (.params.host | test("^https?://(~notfound|127\\.0\\.0\\.1)(:|$)") | not)))]
		| length' "$f" 2>/dev/null || echo "unreadable")
	[ "$n" = 0 ] || { outside=1; echo "$f: $n connections or look-ups elsewhere"; }
done
check "Chromium reached only the JobManager (its net logs)" test "$outside" = 0

# No page may have upset the cluster: the job ran throughout.
api GET "/jobs/$JOB"
check "the job is still RUNNING after the pages" test "$(json .state)" = RUNNING
check "the JobManager's log has no sanitizer report" sanitizer_clean "$WORK/jm.log"
if [ -n "${FLINC_BUILD_DIR:-}" ]; then
	mkdir -p "$FLINC_BUILD_DIR/dashboard-screenshots"
	cp "$SHOTS"/*.png "$FLINC_BUILD_DIR/dashboard-screenshots/"
	echo "screenshots copied to $FLINC_BUILD_DIR/dashboard-screenshots/"
fi
it_finish
