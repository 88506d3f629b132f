{{/* The name of every object, and of the Lease the replicas elect a leader on. */}}
{{- define "gpu-scheduler.fullname" -}}
{{- default "gpu-scheduler" .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object: manifests/' name label, and Helm's. */}}
{{- define "gpu-scheduler.labels" -}}
app.kubernetes.io/name: gpu-scheduler
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The scheduler Pods' labels, which the Deployment, the PDB and the Service select. */}}
{{- define "gpu-scheduler.selectorLabels" -}}
app.kubernetes.io/name: gpu-scheduler
app.kubernetes.io/component: scheduler
{{- end -}}

{{/*
The KubeSchedulerConfiguration: files/scheduler-config.yaml without its clientConnection (in a
cluster the ServiceAccount's), with leader election on the release's Lease, and the first profile
given the scheduler name, weights and args of the values.
*/}}
{{- define "gpu-scheduler.config" -}}
{{- $cfg := .Files.Get "files/scheduler-config.yaml" | fromYaml -}}
{{- if hasKey $cfg "Error" }}{{ fail (printf "files/scheduler-config.yaml: %s" $cfg.Error) }}{{ end -}}
{{- $_ := unset $cfg "clientConnection" -}}
{{- $le := dict "leaderElect" true "leaseDuration" .Values.leaderElection.leaseDuration "renewDeadline" .Values.leaderElection.renewDeadline
  "retryPeriod" .Values.leaderElection.retryPeriod "resourceLock" "leases" "resourceName" (include "gpu-scheduler.fullname" .)
  "resourceNamespace" .Release.Namespace -}}
{{- $_ := set $cfg "leaderElection" $le -}}
{{- $profile := first $cfg.profiles -}}
{{- $_ := set $profile "schedulerName" .Values.schedulerName -}}
{{- if not (kindIs "invalid" .Values.percentageOfNodesToScore) -}}
{{- $_ := set $profile "percentageOfNodesToScore" .Values.percentageOfNodesToScore -}}
{{- end -}}
{{- $weighted := dict -}}
{{- range $profile.plugins.multiPoint.enabled -}}
{{- if hasKey $.Values.pluginWeights .name -}}
{{- $_ := set . "weight" (get $.Values.pluginWeights .name) -}}
{{- $_ := set $weighted .name true -}}
{{- end -}}
{{- end -}}
{{- range $name, $_ := .Values.pluginWeights -}}
{{- if not (hasKey $weighted $name) }}{{ fail (printf "pluginWeights.%s: no such plugin in the profile's multiPoint list" $name) }}{{ end -}}
{{- end -}}
{{- $configured := dict -}}
{{- range $profile.pluginConfig -}}
{{- if hasKey $.Values.pluginArgs .name -}}
{{- $_ := set . "args" (mergeOverwrite (default dict .args) (get $.Values.pluginArgs .name)) -}}
{{- $_ := set $configured .name true -}}
{{- end -}}
{{- end -}}
{{- range $name, $args := .Values.pluginArgs -}}
{{- if not (hasKey $configured $name) -}}
{{- $_ := set $profile "pluginConfig" (append $profile.pluginConfig (dict "name" $name "args" $args)) -}}
{{- end -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}
