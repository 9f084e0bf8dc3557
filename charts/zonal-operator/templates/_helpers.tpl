{{/* Names. */}}
{{- define "zonal-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "zonal-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "zonal-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object; selector labels are the stable subset the Deployment selects. */}}
{{- define "zonal-operator.labels" -}}
helm.sh/chart: {{ include "zonal-operator.chart" . }}
{{ include "zonal-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: zonal-operator
{{- end }}

{{- define "zonal-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "zonal-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "zonal-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "zonal-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "zonal-operator.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
RBAC rules, least privilege and no wildcards. What needs each rule:
- zonalworkloads: kopf watches them; the controller reads them.
- zonalworkloads/status: the controller reports status (a merge patch of the status subresource).
- zonalworkloads/finalizers: the per-zone Deployments are owned by their ZonalWorkload with
  blockOwnerDeletion=true, which the OwnerReferencesPermissionEnforcement admission plugin only
  allows to whoever may update the owner's finalizers.
- deployments: the per-zone Deployments (kopf watches them; the controller writes them).
- pods, pods/eviction: reading pods and evicting them out of a failing zone (zone failover).
- events: the controller records events on ZonalWorkloads (core/v1 today; events.k8s.io/v1 is
  the same objects through the newer API).
- nodes (read-only): zone membership and health.
- customresourcedefinitions (read-only): kopf watches CRDs to notice its resources appear.
- namespaces (read-only, namespaced mode only): kopf lists and watches namespaces to match its
  --namespace patterns; cluster-wide it does not look at them.
- leases (the release namespace only, a Role of its own: rbac.yaml): leader election. `create`
  cannot be limited to a name (the name is not known to the authorizer at creation); `get`,
  `update`, and `list`/`watch` of it by name (a standby's watch) are limited to its own Lease.
*/}}
{{- define "zonal-operator.namespacedRules" -}}
- apiGroups: ["zonal.dev"]
  resources: ["zonalworkloads"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["zonal.dev"]
  resources: ["zonalworkloads/status"]
  verbs: ["get", "patch", "update"]
- apiGroups: ["zonal.dev"]
  resources: ["zonalworkloads/finalizers"]
  verbs: ["update"]
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
# spec.disruptionBudget: one PodDisruptionBudget per zone Deployment (the verbs it uses).
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["list", "watch", "create", "update", "delete"]
# delete: Spread placement removes its pods stranded on a failed zone's nodes, as taint-based
# eviction would; pods/eviction: it rebalances through the Eviction API.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch", "delete"]
- apiGroups: [""]
  resources: ["pods/eviction"]
  verbs: ["create"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{- define "zonal-operator.clusterRules" -}}
- apiGroups: [""]
  resources: ["nodes"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["get", "list", "watch"]
# ZoneShifts: people write them; the operator reads them and writes their status.
- apiGroups: ["zonal.dev"]
  resources: ["zoneshifts"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["zonal.dev"]
  resources: ["zoneshifts/status"]
  verbs: ["patch"]
{{- if .Values.operator.autoShift }}
# Automatic shifts of a gray-failed zone: created, and deleted (its own only) once ended.
- apiGroups: ["zonal.dev"]
  resources: ["zoneshifts"]
  verbs: ["create", "delete"]
{{- end }}
{{- if .Values.operator.zoneLossForecast }}
# The zone-loss forecast: every pod bound to a node holds some of its room.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
{{- end }}
# PriorityClasses, to check a headroom setting (spec.failover.headroom) can work.
- apiGroups: ["scheduling.k8s.io"]
  resources: ["priorityclasses"]
  verbs: ["get", "list", "watch"]
# Namespaces' labels, for the ZoneShifts' namespaceSelector (and --namespace globs).
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["get", "list", "watch"]
{{- end }}

{{- define "zonal-operator.leaseName" -}}
{{- default (include "zonal-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}
