{{- define "flinc-operator.name" -}}
{{- printf "%s" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "flinc-operator.labels" -}}
app.kubernetes.io/name: flinc-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The namespaces the job service account goes into. */}}
{{- define "flinc-operator.jobNamespaces" -}}
{{- if .Values.watchNamespaces -}}
{{- join "," .Values.watchNamespaces -}}
{{- else -}}
{{- .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{/* The operator's rules: least privilege. Secrets: create only (each cluster's
token), never read. */}}
{{- define "flinc-operator.rules" -}}
- apiGroups: ["flinc.dev"]
  resources: ["flinkapplications"]
  verbs: ["get", "list", "watch", "patch"]   # patch: the finalizer flinc.dev/finalizer
- apiGroups: ["flinc.dev"]
  resources: ["flinkapplications/status"]
  verbs: ["get", "update", "patch"]
- apiGroups: ["flinc.dev"]
  resources: ["flinkapplications/finalizers"]
  verbs: ["update"]
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "delete"]
- apiGroups: [""]
  resources: ["configmaps", "services"]
  verbs: ["get", "list", "create", "delete"]   # list: a deletion waits for them to go
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["create"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
# The JobManager's log, read when it runs no job: why its application failed.
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create"]
{{- end -}}
