#!/usr/bin/env bash
# Apache Flink 2.3.0's own figures for bench/cluster.sh's table, on this
# machine: a standalone session cluster started from Maven Central's jars the
# way Flink's bin/ scripts start it (JobManager with the default
# jobmanager.memory.process.size 1600m; TaskManagers with 1728m and the JVM
# options and dynamic properties Flink's BashJavaUtils computes for them).
#   - RSS of an idle JobManager and TaskManager;
#   - start of the JobManager to its REST API answering and a TaskManager
#     registered;
#   - `flink run -d` (Flink's CliFrontend) of the keyed job to the job
#     RUNNING;
#   - the keyed pipeline (bench/flink/src/KeyedSum.java) at p=2 across two
#     TaskManager processes of one slot each: records/s from the job's
#     duration, CPU seconds of all processes.
#
#   bench/flink_cluster.sh [RECORDS]    (default 50 M)
#
# Java is the benchmark peer only; classes and the job jar are built under
# ~/.cache/flinc/flink-bench, the cluster's files in a temporary directory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${1:-50000000}
source bench/lib.sh
bench_need java javac jar curl jq
CP=$(flink_classpath)
classes=$(flink_classes "$CP" KeyedSum)
JAR=$classes.jar
if [ ! -e "$JAR" ]; then
	jar cfe "$JAR.tmp.$$" KeyedSum -C "$classes" .
	mv "$JAR.tmp.$$" "$JAR"
fi

bench_workdir

RPC=$(free_port)
REST=$(free_port)
mkdir -p "$W/conf"
cp bench/flink/log4j2.properties "$W/conf/"
# Flink's default memory sizes (its distribution's config.yaml).
cat >"$W/conf/config.yaml" <<EOF
jobmanager:
  rpc: {address: 127.0.0.1, port: $RPC}
  bind-host: 127.0.0.1
  memory: {process: {size: 1600m}}
taskmanager:
  bind-host: 127.0.0.1
  host: 127.0.0.1
  numberOfTaskSlots: 1
  memory: {process: {size: 1728m}}
rest: {address: 127.0.0.1, bind-address: 127.0.0.1, port: $REST}
EOF
# The module options of Flink's default env.java.opts.all (Java 17), then
# the log configuration: in every JVM, as Flink's scripts pass them.
LOG=(--add-exports=java.base/sun.net.util=ALL-UNNAMED --add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED
	--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED
	--add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.net=ALL-UNNAMED
	--add-opens=java.base/java.io=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED
	--add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/java.lang.reflect=ALL-UNNAMED
	--add-opens=java.base/java.text=ALL-UNNAMED --add-opens=java.base/java.time=ALL-UNNAMED
	--add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.util.concurrent=ALL-UNNAMED
	--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED
	--add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED
	-Dlog4j.configurationFile="$W/conf/log4j2.properties")
# The JVM options and dynamic properties bin/taskmanager.sh would use.
mapfile -t tm_params < <(java "${LOG[@]}" -cp "$CP" org.apache.flink.runtime.util.bash.BashJavaUtils \
	GET_TM_RESOURCE_PARAMS --configDir "$W/conf" 2>/dev/null | sed -n 's/^BASH_JAVA_UTILS_EXEC_RESULT://p')
[ "${#tm_params[@]}" = 2 ] || { echo "BashJavaUtils gave no TaskManager parameters" >&2; exit 1; }
read -r -a TM_JVM <<<"${tm_params[0]}"
read -r -a TM_DYN <<<"${tm_params[1]}"
JM_JVM=(-Xmx1073741824 -Xms1073741824 -XX:MaxMetaspaceSize=268435456)

ms() { echo $((($(date +%s%N) - $1) / 1000000)); }
rss_mb() { awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
start_tm() {
	java "${TM_JVM[@]}" "${LOG[@]}" -cp "$CP" org.apache.flink.runtime.taskexecutor.TaskManagerRunner \
		--configDir "$W/conf" "${TM_DYN[@]}" >"$W/tm$1.log" 2>&1 &
	TMS+=($!)
	PIDS+=($!)
}
wait_tms() {
	for _ in $(seq 600); do
		[ "$(api /overview | jq -r .taskmanagers 2>/dev/null)" = "$1" ] && return 0
		sleep 0.05
	done
	echo "Flink's TaskManagers did not register" >&2
	exit 1
}

echo "== Apache Flink 2.3.0 standalone session cluster (Maven Central's jars, default memory sizes)"
t0=$(date +%s%N)
java "${JM_JVM[@]}" "${LOG[@]}" -cp "$CP" org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint \
	--configDir "$W/conf" >"$W/jm.log" 2>&1 &
JM=$!
PIDS+=($JM)
TMS=()
until api /overview >/dev/null 2>&1 && [ -n "$(api /overview)" ]; do sleep 0.02; done
printf 'JobManager start to REST answering: %d ms\n' "$(ms "$t0")"
start_tm 1
wait_tms 1
printf 'JobManager start to a TaskManager (started with it) registered: %d ms\n' "$(ms "$t0")"
sleep 5
printf 'RSS idle: JobManager %s MB, TaskManager %s MB\n' "$(rss_mb "$JM")" "$(rss_mb "${TMS[0]}")"

export FLINK_CONF_DIR=$W/conf
for i in 1 2 3; do
	t0=$(date +%s%N)
	java "${LOG[@]}" -cp "$CP" org.apache.flink.client.cli.CliFrontend run -d "$JAR" 0 1 1 >"$W/run.out" 2>&1 ||
		{ cat "$W/run.out" >&2; exit 1; }
	sub=$(ms "$t0")
	JOB=$(grep -oE '[0-9a-f]{32}' "$W/run.out" | head -n 1)
	until [ "$(api "/jobs/$JOB" | jq -r .state)" = RUNNING ]; do sleep 0.005; done
	printf 'flink run -d (CliFrontend JVM, build the JobGraph, submit), run %d: %d ms; to RUNNING: %d ms\n' \
		"$i" "$sub" "$(ms "$t0")"
	curl -s -X PATCH "http://127.0.0.1:$REST/jobs/$JOB?mode=cancel" >/dev/null
	until [[ $(api "/jobs/$JOB" | jq -r .state) =~ ^(CANCELED|FAILED)$ ]]; do sleep 0.05; done
done
printf 'RSS after 3 jobs: JobManager %s MB, TaskManager %s MB\n' "$(rss_mb "$JM")" "$(rss_mb "${TMS[0]}")"

echo "== the keyed pipeline across 2 TaskManager processes (1 slot each, Netty over loopback)"
start_tm 2
wait_tms 2
for i in 1 2; do
	c0=$(cpu_ticks "$JM" "${TMS[@]}")
	java "${LOG[@]}" -cp "$CP" org.apache.flink.client.cli.CliFrontend run -d -p 2 "$JAR" "$N" 1 1 >"$W/run.out" 2>&1 ||
		{ cat "$W/run.out" >&2; exit 1; }
	JOB=$(grep -oE '[0-9a-f]{32}' "$W/run.out" | head -n 1)
	until [[ $(api "/jobs/$JOB" | jq -r .state) =~ ^(FINISHED|FAILED|CANCELED)$ ]]; do sleep 0.2; done
	c1=$(cpu_ticks "$JM" "${TMS[@]}")
	api "/jobs/$JOB" >"$W/job.json"
	secs=$(jq -r '(.timestamps.FINISHED - .timestamps.RUNNING) / 1000' "$W/job.json")
	printf 'run %d (%s): %d records in %.2f s = %.2f M records/s, %.2f s CPU in all processes (%.0f ns per record)\n' \
		"$i" "$(jq -r .state "$W/job.json")" "$N" "$secs" \
		"$(awk -v n="$N" -v s="$secs" 'BEGIN { print n / s / 1e6 }')" \
		"$(awk -v a="$c0" -v b="$c1" -v hz="$(getconf CLK_TCK)" 'BEGIN { print (b - a) / hz }')" \
		"$(awk -v a="$c0" -v b="$c1" -v hz="$(getconf CLK_TCK)" -v n="$N" 'BEGIN { print (b - a) / hz * 1e9 / n }')"
done
