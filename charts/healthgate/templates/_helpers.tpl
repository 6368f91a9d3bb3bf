{{/* Names, truncated to 63 characters (DNS labels). */}}
{{- define "healthgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "healthgate.fullname" -}}
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

{{- define "healthgate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: name and instance only, since a Deployment's selector is immutable. */}}
{{- define "healthgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "healthgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "healthgate.labels" -}}
helm.sh/chart: {{ include "healthgate.chart" . }}
{{ include "healthgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/component: health-server
app.kubernetes.io/part-of: healthgate
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "healthgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "healthgate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "healthgate.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/*
healthgate.seconds: a duration as the schema allows it (500ms, 2s, 1m30s, 1h) to whole seconds, rounded up.
*/}}
{{- define "healthgate.seconds" -}}
{{- $d := toString . -}}
{{- $ms := 0 -}}
{{- if regexMatch "^[0-9]+ms$" $d -}}
{{- $ms = trimSuffix "ms" $d | atoi -}}
{{- else -}}
{{- $h := regexFind "[0-9]+h" $d | trimSuffix "h" | default "0" | atoi -}}
{{- $m := regexFind "[0-9]+m" $d | trimSuffix "m" | default "0" | atoi -}}
{{- $s := regexFind "[0-9]+s" $d | trimSuffix "s" | default "0" | atoi -}}
{{- $ms = add (mul $h 3600000) (mul $m 60000) (mul $s 1000) -}}
{{- end -}}
{{- div (add $ms 999) 1000 -}}
{{- end -}}

{{/* The server section with healthgate's defaults filled in (DESIGN.md §3). */}}
{{- define "healthgate.server" -}}
{{- $s := dict "shutdown_delay" "5s" "shutdown_timeout" "10s" "details" "never" -}}
{{- $s = merge (deepCopy (.Values.config.server | default dict)) $s -}}
{{- $_ := set $s "listen" (printf ":%d" (int .Values.containerPorts.http)) -}}
{{- if .Values.grpc.enabled -}}
{{- $_ := set $s "grpc_listen" (printf ":%d" (int .Values.grpc.port)) -}}
{{- end -}}
{{- if eq $s.details "token" -}}
{{- $_ := set $s "details_token" "${HEALTHGATE_DETAILS_TOKEN:-}" -}}
{{- end -}}
{{- toYaml $s -}}
{{- end -}}

{{- define "healthgate.defaults" -}}
{{- $d := dict "interval" "5s" "timeout" "2s" "failure_threshold" 2 "success_threshold" 1 -}}
{{- toYaml (merge (deepCopy (.Values.config.defaults | default dict)) $d) -}}
{{- end -}}

{{/*
healthgate.configYAML: the healthgate.yaml the pods read. Refuses inline passwords and ${VAR}s that nothing
provides, since either would only show at run time.
*/}}
{{- define "healthgate.configYAML" -}}
{{- $envNames := list -}}
{{- range .Values.env }}{{ $envNames = append $envNames .name }}{{ end -}}
{{- if eq (include "healthgate.server" . | fromYaml).details "token" }}{{ $envNames = append $envNames "HEALTHGATE_DETAILS_TOKEN" }}{{ end -}}
{{- $names := dict -}}
{{- range $i, $c := .Values.checks -}}
{{- if hasKey $names $c.name -}}
{{- fail (printf "checks[%d]: duplicate check name %q" $i $c.name) -}}
{{- end -}}
{{- $_ := set $names $c.name true -}}
{{- $url := $c.url | default "" | toString -}}
{{- if and (regexMatch "://[^/@:]*:[^/@]+@" $url) (not (regexMatch "://[^/@:]*:\\$\\{[^}]+\\}@" $url)) -}}
{{- fail (printf "checks[%d] %q: url has an inline password; put the URL (or the password) in a Secret and write ${VAR} (env valueFrom.secretKeyRef) or url_file" $i $c.name) -}}
{{- end -}}
{{- if regexMatch "(^|\\s)password=[^$\\s]" $url -}}
{{- fail (printf "checks[%d] %q: url has an inline password=; use ${VAR} from a Secret or url_file" $i $c.name) -}}
{{- end -}}
{{- range $h, $v := ($c.headers | default dict) -}}
{{- if and (regexMatch "(?i)(authorization|token|key|secret|cookie|password)" $h) (not (regexMatch "^((?i:bearer|basic|token) )?\\$\\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\\}$" (toString $v))) -}}
{{- fail (printf "checks[%d] %q: header %s holds a literal value; write ${VAR} (or Bearer ${VAR}) and set VAR from a Secret (env valueFrom.secretKeyRef)" $i $c.name $h) -}}
{{- end -}}
{{- end -}}
{{- if and $.Values.deployment.enabled (not $.Values.envFrom) -}}
{{- range $ref := regexFindAll "\\$\\{[A-Za-z_][A-Za-z0-9_]*\\}" (toYaml $c) -1 -}}
{{- $var := trimSuffix "}" (trimPrefix "${" $ref) -}}
{{- if not (has $var $envNames) -}}
{{- fail (printf "checks[%d] %q uses %s but no env entry %s (e.g. valueFrom.secretKeyRef) nor envFrom provides it" $i $c.name $ref $var) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
server:
{{ include "healthgate.server" . | indent 2 }}
defaults:
{{ include "healthgate.defaults" . | indent 2 }}
{{- if .Values.checks }}
checks:
{{ toYaml .Values.checks | indent 2 }}
{{- else }}
checks: []
{{- end }}
{{- end -}}

{{/*
Probe period, in whole seconds: half the shortest check interval (at least 1). healthgate's state can change
once per interval at most; probing twice per interval bounds the kubelet's extra delay to about half an
interval while probes stay free (they read a cached snapshot). See README.md "Probe timing".
*/}}
{{- define "healthgate.minInterval" -}}
{{- $d := include "healthgate.defaults" . | fromYaml -}}
{{- $def := include "healthgate.seconds" $d.interval | atoi -}}
{{- $min := -1 -}}
{{- range .Values.checks -}}
{{- $i := $def -}}
{{- if .interval }}{{ $i = include "healthgate.seconds" .interval | atoi }}{{ end -}}
{{- if or (lt $min 0) (lt $i $min) }}{{ $min = $i }}{{ end -}}
{{- end -}}
{{- if lt $min 0 }}{{ $min = $def }}{{ end -}}
{{- $min -}}
{{- end -}}

{{- define "healthgate.probePeriod" -}}
{{- $i := include "healthgate.minInterval" . | atoi -}}
{{- max 1 (div (add $i 1) 2) -}}
{{- end -}}

{{- define "healthgate.terminationGracePeriodSeconds" -}}
{{- $s := include "healthgate.server" . | fromYaml -}}
{{- $drain := add (include "healthgate.seconds" $s.shutdown_delay | atoi) (include "healthgate.seconds" $s.shutdown_timeout | atoi) -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds -}}
{{- add $drain 5 -}}
{{- else if le (int .Values.terminationGracePeriodSeconds) $drain -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be longer than config.server.shutdown_delay + shutdown_timeout (%s + %s = %ds), or kubelet kills pods that are still draining" (int .Values.terminationGracePeriodSeconds) $s.shutdown_delay $s.shutdown_timeout $drain) -}}
{{- else -}}
{{- int .Values.terminationGracePeriodSeconds -}}
{{- end -}}
{{- end -}}

{{/* Restricted Pod Security, shared by the server and the test pod. */}}
{{- define "healthgate.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "healthgate.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
