#!/usr/bin/env bash
# How fast flinc's native Kubernetes integration (issue #10) is on the local e2e
# cluster (e2e/cluster up; the image on the node: FLINC_IMAGE, default flinc:0.1.0,
# loaded by e2e/cluster image). RUNS times each (default 3), the median printed:
#   - submit: from `flinc run-application` to the job RUNNING (the JobManager's log:
#     "switched from state CREATED to RUNNING"; the clocks are this machine's);
#   - replace: a TaskManager pod deleted while the job runs, to the job RUNNING again
#     on the pod the JobManager creates in its place (restart-strategy fixed-delay
#     with a delay of 0, so the figure is the mechanism's);
#   - rescale up: PUT /jobs/:jobid/resource-requirements raising the upper bounds
#     2 -> 4 under the adaptive scheduler (cooldown and stabilization 0), to the job
#     RUNNING with its keyed vertex at 4 (its generator stays at 1): two TaskManager
#     pods created, started and registered, the job restarted from a checkpoint taken
#     for it;
#   - rescale down: upper bounds 4 -> 1, to RUNNING at 1 (no pod to wait for).
# The job is the image's fraud_detection.so (paced, unbounded for the run's length),
# checkpointing every second to a hostPath directory of the node (this machine) that
# every pod mounts through a pod template; pods ask for 0.2 CPU and 512 MB each.
# Figures only.
#
#   [RUNS=3] [FLINC_IMAGE=flinc:TAG] [BENCH_NAMESPACE=flinc-bench] bench/k8s.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNS=${RUNS:-3}
NS=${BENCH_NAMESPACE:-flinc-bench}
B=${FLINC_BIN:-build/release}
[ -x "$B/flinc" ] || B=build/asan-ubsan
source bench/lib.sh
bench_built "$B/flinc"
bench_need curl jq
eval "$(e2e/cluster env)"
: "${FLINC_IMAGE:=flinc:0.1.0}"
bench_need kubectl
bench_workdir
KC=(kubectl -n "$NS")
# A namespace left by an earlier run is still going: wait for it.
if [ "$(kubectl get namespace "$NS" -o jsonpath='{.status.phase}' 2>/dev/null)" = Terminating ]; then
	kubectl wait --for=delete "namespace/$NS" --timeout=180s >/dev/null
fi
kubectl get namespace "$NS" >/dev/null 2>&1 || kubectl create namespace "$NS" >/dev/null
kubectl apply -n "$NS" -f deploy/kubernetes-rbac.yaml >/dev/null
VOL=/var/tmp/flinc-bench-$NS
mkdir -p "$VOL"
chown 9999:9999 "$VOL"
cat >"$W/pod.yaml" <<EOF
spec:
  volumes: [{name: ckp, hostPath: {path: $VOL, type: Directory}}]
  containers:
  - name: flinc-main-container
    volumeMounts: [{name: ckp, mountPath: /ckp}]
EOF
COMMON=(-D "kubernetes.namespace=$NS" -D kubernetes.service-account=flinc
	-D "kubernetes.container.image=$FLINC_IMAGE" -D kubernetes.container.image.pull-policy=Never
	-D kubernetes.jobmanager.cpu=0.2 -D kubernetes.taskmanager.cpu=0.2
	-D jobmanager.memory.process.size=512m -D taskmanager.memory.process.size=512m
	-D "kubernetes.pod-template-file.default=$W/pod.yaml"
	-D execution.shutdown-on-application-finish=false -D execution.checkpointing.interval=1s
	-D execution.checkpointing.dir=file:///ckp
	-D restart-strategy.type=fixed-delay -D restart-strategy.fixed-delay.attempts=100
	-D restart-strategy.fixed-delay.delay=0s)
JOB=(local:///opt/flinc/usrlib/fraud_detection.so --count 100000000 --rate 1000)

now_ms() { date +%s%3N; }
# ms_of LINE: the UTC milliseconds of a log line's leading ISO time.
ms_of() { date -d "$(cut -c1-23 <<<"$1")Z" +%s%3N; }
# jm_line ID REGEX [AFTER_MS]: waits (2 min) for the first line of ID's JobManager log
# that matches REGEX and is later than AFTER_MS; prints it.
jm_line() {
	local l
	for _ in $(seq 1200); do
		while IFS= read -r l; do
			[ "$(ms_of "$l")" -gt "${3:-0}" ] && { echo "$l"; return 0; }
		done < <("${KC[@]}" logs "deployment/$1" 2>/dev/null | grep -E "$2")
		sleep 0.1
	done
	echo "no '$2' in the JobManager's log of $1" >&2
	return 1
}
cluster_gone() {
	"${KC[@]}" delete "deployment/$1" --ignore-not-found --wait=false >/dev/null 2>&1
	for _ in $(seq 120); do
		[ -z "$("${KC[@]}" get pods,services,configmaps -l "app=$1" -o name 2>/dev/null)" ] && return 0
		sleep 1
	done
}
# pf ID: kubectl port-forward to ID's REST API, REST its local port.
pf() {
	REST=$(free_port)
	kubectl port-forward -n "$NS" "service/$1-rest" "$REST:8081" >"$W/pf.log" 2>&1 &
	PF=$!
	PIDS+=("$PF")
	for _ in $(seq 100); do api /overview >/dev/null 2>&1 && return 0; sleep 0.1; done
	echo "no REST API through port-forward" >&2
	return 1
}
# at JOB P [T0]: ms from T0 (default now) until JOB RUNS, its last vertex at
# parallelism P (the job's generator runs at 1 throughout), 3 min at most.
at() {
	local t0=${3:-$(now_ms)}
	while [ $(($(now_ms) - t0)) -lt 180000 ]; do
		api "/jobs/$1" | jq -e --argjson p "$2" \
			'.state == "RUNNING" and .vertices[-1].parallelism == $p and all(.vertices[]; .status == "RUNNING")' \
			>/dev/null 2>&1 && { echo $(($(now_ms) - t0)); return 0; }
		sleep 0.02
	done
	echo "job $1 not RUNNING at parallelism $2 within 3 min" >&2
	return 1
}
# tm_running ID: how many TaskManager pods of ID run.
tm_running() {
	"${KC[@]}" get pods -l "app=$1,component=taskmanager" --field-selector=status.phase=Running -o name | grep -c . || true
}
# put_upper JOB U: upper bounds U for every vertex but those held at 1 (the generator);
# PUT_T0 is when the PUT was sent.
put_upper() {
	api "/jobs/$1/resource-requirements" | jq -c --argjson u "$2" \
		'with_entries(.value.parallelism = {lowerBound: 1,
			upperBound: (if .value.parallelism.upperBound == 1 then 1 else $u end)})' >"$W/body.json"
	PUT_T0=$(now_ms)
	api "/jobs/$1/resource-requirements" -X PUT -H 'Content-Type: application/json' \
		-d @"$W/body.json" >/dev/null
}

for r in $(seq "$RUNS"); do
	# submit and replace: one slot, one TaskManager pod.
	id=bench-submit-$r
	cluster_gone "$id"
	t0=$(now_ms)
	"$B/flinc" run-application --target kubernetes-application -D "kubernetes.cluster-id=$id" \
		"${COMMON[@]}" "${JOB[@]}" >"$W/ra.out" 2>&1 || { cat "$W/ra.out" >&2; exit 1; }
	l=$(jm_line "$id" 'switched from state CREATED to RUNNING')
	record submit $(($(ms_of "$l") - t0))
	sleep 3
	pod=$("${KC[@]}" get pods -l "app=$id,component=taskmanager" -o jsonpath='{.items[0].metadata.name}')
	t0=$(now_ms)
	"${KC[@]}" delete pod "$pod" --wait=false >/dev/null
	l=$(jm_line "$id" 'switched from state (RESTARTING|CREATED) to RUNNING' "$t0")
	record replace $(($(ms_of "$l") - t0))
	cluster_gone "$id"

	# rescale: adaptive, 2 -> 4 -> 1.
	id=bench-scale-$r
	cluster_gone "$id"
	"$B/flinc" run-application --target kubernetes-application -D "kubernetes.cluster-id=$id" \
		"${COMMON[@]}" -D jobmanager.scheduler=adaptive -D parallelism.default=2 \
		-D taskmanager.numberOfTaskSlots=1 -D resourcemanager.taskmanager-timeout=2s \
		-D jobmanager.adaptive-scheduler.submission.resource-stabilization-timeout=1min \
		-D jobmanager.adaptive-scheduler.executing.cooldown-after-rescaling=0ms \
		-D jobmanager.adaptive-scheduler.executing.resource-stabilization-timeout=0ms \
		"${JOB[@]}" >"$W/ra.out" 2>&1 || { cat "$W/ra.out" >&2; exit 1; }
	pf "$id"
	for _ in $(seq 600); do
		job=$(api /jobs/overview | jq -r '.jobs[0].jid // empty')
		[ -n "$job" ] && break
		sleep 0.1
	done
	at "$job" 2 >/dev/null
	sleep 3
	tms_before=$(tm_running "$id")
	# From the PUT request (its answer may come after the rescale began).
	put_upper "$job" 4
	record rescale_up "$(at "$job" 4 "$PUT_T0")"
	echo "run $r: $tms_before TaskManager pods at 2, $(tm_running "$id") at 4; $(api "/jobs/$job" | jq -c '[.vertices[].parallelism]')" >&2
	sleep 3
	put_upper "$job" 1
	record rescale_down "$(at "$job" 1 "$PUT_T0")"
	kill "$PF" 2>/dev/null || true
	cluster_gone "$id"
	echo "run $r: submit $(tail -n1 "$W/submit") ms, replace $(tail -n1 "$W/replace") ms," \
		"rescale 2->4 $(tail -n1 "$W/rescale_up") ms, 4->1 $(tail -n1 "$W/rescale_down") ms" >&2
done
kubectl delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
rm -rf "$VOL"

echo "flinc on Kubernetes ($FLINC_IMAGE, node $(kubectl get nodes -o jsonpath='{.items[0].metadata.name}'), $RUNS runs, median ms):"
printf '  %-58s %8s\n' "run-application to the job RUNNING" "$(median <"$W/submit")"
printf '  %-58s %8s\n' "TaskManager pod deleted to the job RUNNING on a new pod" "$(median <"$W/replace")"
printf '  %-58s %8s\n' "PUT upper bounds 2 -> 4 to RUNNING at 4 (2 new pods)" "$(median <"$W/rescale_up")"
printf '  %-58s %8s\n' "PUT upper bounds 4 -> 1 to RUNNING at 1" "$(median <"$W/rescale_down")"
echo "  (each run: $(paste -sd/ "$W/submit"), $(paste -sd/ "$W/replace"), $(paste -sd/ "$W/rescale_up"), $(paste -sd/ "$W/rescale_down"))"
