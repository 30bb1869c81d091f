#!/usr/bin/env bash
# How long flinc-operator (issue #11) takes, on the e2e cluster (e2e/cluster up)
# with the image already on the node (FLINC_IMAGE, default flinc:<version>):
#   - from `kubectl apply` of a FlinkApplication (the streaming fraud detection
#     job, one TaskManager) to its status saying the job RUNNING;
#   - from `kubectl scale fapp/NAME --replicas=2` to the JobManager's "rescales ... to
#     [2,2]" line (the second TaskManager pod made and registered), then to status
#     saying RUNNING on 2 ready TaskManagers, with the adaptive scheduler's cooldown and
#     stabilization set to 1 s;
#   - from an edit of the spec (stateless upgrade) to the new job RUNNING.
# Each run installs the chart into its own namespace (BENCH_NAMESPACE, default
# flinc-bench-operator), and removes it at the end. Figures only, RUNS times each.
#
#   [RUNS=3] [FLINC_IMAGE=flinc:tag] bench/operator.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
eval "$(e2e/cluster env)"
: "${FLINC_IMAGE:=$(e2e/cluster env | sed -n 's/^export FLINC_IMAGE=//p')}"
NS=${BENCH_NAMESPACE:-flinc-bench-operator}
RUNS=${RUNS:-3}
KC=(kubectl -n "$NS")
now_ms() { date +%s%3N; }
# until_field NAME JSONPATH VALUE: polls every 50 ms (at most 5 minutes).
until_field() {
	local i
	for ((i = 0; i < 6000; i++)); do
		[[ $("${KC[@]}" get fapp "$1" -o jsonpath="$2" 2>/dev/null) == "$3" ]] && return 0
		sleep 0.05
	done
	echo "timed out waiting for $2 = $3" >&2
	return 1
}
kubectl delete namespace "$NS" --ignore-not-found --wait=true >/dev/null
kubectl create namespace "$NS" >/dev/null
trap 'helm uninstall flinc-operator -n "$NS" >/dev/null 2>&1; kubectl delete namespace "$NS" --wait=false >/dev/null 2>&1' EXIT
helm install flinc-operator charts/flinc-operator -n "$NS" --set "image.repository=${FLINC_IMAGE%:*}" \
	--set "image.tag=${FLINC_IMAGE##*:}" --set image.pullPolicy=Never --set "watchNamespaces={$NS}" \
	--wait --timeout 120s >/dev/null
app() {
	cat <<EOF
apiVersion: flinc.dev/v1alpha1
kind: FlinkApplication
metadata: {name: bench}
spec:
  image: $FLINC_IMAGE
  imagePullPolicy: Never
  flincConfiguration:
    jobmanager.adaptive-scheduler.executing.cooldown-after-rescaling: "1 s"
    jobmanager.adaptive-scheduler.executing.resource-stabilization-timeout: "1 s"
    jobmanager.adaptive-scheduler.submission.resource-stabilization-timeout: "1 s"
  jobManager: {resources: {cpu: 0.2, memory: 512Mi}}
  taskManager: {replicas: 1, slots: 1, resources: {cpu: 0.1, memory: 512Mi}}
  job:
    uri: local:///opt/flinc/usrlib/fraud_detection.so
    args: ["--count", "1000000000", "--rate", "$1"]
EOF
}
for ((r = 1; r <= RUNS; r++)); do
	t0=$(now_ms)
	app 100 | "${KC[@]}" apply -f - >/dev/null
	until_field bench '{.status.jobStatus.state}' RUNNING
	t1=$(now_ms)
	sleep 2 # past the 1 s cooldown
	t2=$(now_ms)
	"${KC[@]}" scale fapp/bench --replicas=2 >/dev/null
	jm=$("${KC[@]}" get pods -l app=bench,component=jobmanager -o jsonpath='{.items[0].metadata.name}')
	for ((i = 0; i < 6000; i++)); do
		"${KC[@]}" logs "$jm" 2>/dev/null | grep -q 'rescales from parallelism \[1,1\] to \[1,2\]' && break
		sleep 0.05
	done
	t2b=$(now_ms)
	until_field bench '{.status.jobStatus.state}/{.status.taskManager.readyReplicas}' RUNNING/2
	t3=$(now_ms)
	old=$("${KC[@]}" get fapp bench -o jsonpath='{.status.jobStatus.jobId}')
	t4=$(now_ms)
	app 50 | "${KC[@]}" apply -f - >/dev/null
	for ((i = 0; i < 6000; i++)); do
		[[ $("${KC[@]}" get fapp bench -o jsonpath='{.status.jobStatus.state}/{.status.jobStatus.jobId}') == RUNNING/* &&
			$("${KC[@]}" get fapp bench -o jsonpath='{.status.jobStatus.jobId}') != "$old" ]] && break
		sleep 0.05
	done
	t5=$(now_ms)
	printf 'run %d: apply -> RUNNING %d ms; scale 1 -> 2: the JobManager rescaling %d ms, RUNNING on 2 ready TaskManagers in status %d ms; stateless upgrade -> new job RUNNING %d ms\n' \
		"$r" $((t1 - t0)) $((t2b - t2)) $((t3 - t2)) $((t5 - t4))
	"${KC[@]}" delete fapp bench --wait=true >/dev/null
	for ((i = 0; i < 600; i++)); do
		[[ -z $("${KC[@]}" get deployments,pods,services,configmaps,secrets -l app=bench -o name 2>/dev/null) ]] && break
		sleep 0.2
	done
done
