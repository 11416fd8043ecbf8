{{/* Chart name, truncated to a DNS label. */}}
{{- define "plano.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified app name: the release name, with the chart name unless it already holds it. */}}
{{- define "plano.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "plano.selectorLabels" -}}
app.kubernetes.io/name: {{ include "plano.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "plano.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "plano.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "plano.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "plano.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "plano.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The Secret of provider keys: an existing one, else the chart's own when values are given. */}}
{{- define "plano.providerKeysSecret" -}}
{{- if .Values.providerKeys.existingSecret -}}
{{- .Values.providerKeys.existingSecret -}}
{{- else if .Values.providerKeys.values -}}
{{- printf "%s-provider-keys" (include "plano.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/*
The gateway config as rendered into the ConfigMap: `config`, plus ratelimit_backend and
routing.session_cache from `redis.url` and state_storage from `postgresql.connectionString`
wherever `config` does not set them itself.
*/}}
{{- define "plano.config" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- with .Values.redis.url -}}
{{- if and $.Values.redis.ratelimitBackend (not (hasKey $cfg "ratelimit_backend")) -}}
{{- $_ := set $cfg "ratelimit_backend" (dict "type" "redis" "url" .) -}}
{{- end -}}
{{- if $.Values.redis.sessionCache -}}
{{- $routing := dict -}}
{{- if hasKey $cfg "routing" -}}{{- $routing = get $cfg "routing" -}}{{- end -}}
{{- if not (hasKey $routing "session_cache") -}}
{{- $_ := set $routing "session_cache" (dict "type" "redis" "url" .) -}}
{{- end -}}
{{- $_ := set $cfg "routing" $routing -}}
{{- end -}}
{{- end -}}
{{- with .Values.postgresql.connectionString -}}
{{- if not (hasKey $cfg "state_storage") -}}
{{- $_ := set $cfg "state_storage" (dict "type" "postgres" "connection_string" .) -}}
{{- end -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/*
The listener ports of `config` as YAML `{ports: [{name, port}]}`: model and prompt listeners are
named after their type (default ports 12000 and 10000), agent listeners agent-<port>.
*/}}
{{- define "plano.listenerPorts" -}}
{{- $ports := list -}}
{{- range .Values.config.listeners -}}
{{- $type := .type | default "model" -}}
{{- $port := .port | default (ternary 12000 10000 (eq $type "model")) | int -}}
{{- $name := $type -}}
{{- if eq $type "agent" -}}{{- $name = printf "agent-%d" $port -}}{{- end -}}
{{- $ports = append $ports (dict "name" $name "port" $port) -}}
{{- end -}}
{{- toYaml (dict "ports" $ports) -}}
{{- end -}}
