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
app.kubernetes.io/name: {{ include "healthgate.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end -}}

{{/* The `helm test` pod's name and instance labels (the NetworkPolicy admits it by them). */}}
{{- define "healthgate.testSelectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-test" (include "healthgate.name" . | trunc 58 | trimSuffix "-") }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end -}}

{{/*
The image tag (or appVersion) as a label value: a tag may have 128 characters and start with '_', a label
value at most 63 that start and end with a letter or digit, so it is cut to 63 and trimmed at both ends.
*/}}
{{- define "healthgate.versionLabel" -}}
{{- $v := .Values.image.tag | default .Chart.AppVersion | toString | trunc 63 -}}
{{- regexReplaceAll "[^A-Za-z0-9]+$" (regexReplaceAll "^[^A-Za-z0-9]+" $v "") "" -}}
{{- end -}}

{{- define "healthgate.labels" -}}
helm.sh/chart: {{ include "healthgate.chart" . }}
{{ include "healthgate.selectorLabels" . }}
app.kubernetes.io/version: {{ include "healthgate.versionLabel" . | quote }}
app.kubernetes.io/component: health-server
app.kubernetes.io/part-of: healthgate
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
healthgate.labelsWith: the chart's labels merged with an object's own extra labels (list $ctx $extra), the
extra winning: one mapping, so a key in both commonLabels and podLabels (or metrics.*.labels, say
release: prometheus) is written once, not twice (a duplicate key fails the install or silently keeps the last).
*/}}
{{- define "healthgate.labelsWith" -}}
{{- $ctx := index . 0 -}}
{{- toYaml (mergeOverwrite (include "healthgate.labels" $ctx | fromYaml) (deepCopy (index . 1 | default dict))) -}}
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
healthgate.nanoseconds: a duration as the schema allows it, a Go duration (500ms, 1.5s, 1m30s, 250us, 1h) in
nanoseconds, as time.ParseDuration reads it: each number-unit pair, its whole part times the unit, plus its
fraction (at most 18 digits) times the unit over the fraction's scale, the part of a nanosecond dropped
(0.3s is 300000000; 99.9999999ms is 99999999, under healthgate's 100ms floor; 0.5ns is 0). A text that is
none reads as 0.
healthgate.milliseconds: the same in whole milliseconds, rounded down. healthgate.seconds: in whole seconds,
rounded up.
*/}}
{{- define "healthgate.nanoseconds" -}}
{{- $ns := 0 -}}
{{- $per := dict "ns" 1 "us" 1000 "µs" 1000 "μs" 1000 "ms" 1000000 "s" 1000000000 "m" 60000000000 "h" 3600000000000 -}}
{{- range regexFindAll "(?:[0-9]+\\.?[0-9]*|\\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h)" (toString .) -1 -}}
{{- $unit := regexFind "(?:ns|us|µs|μs|ms|s|m|h)$" . -}}
{{- $num := trimSuffix $unit . -}}
{{- $per1 := get $per $unit -}}
{{- $ns = add $ns (mul (regexReplaceAll "\\..*$" $num "" | default "0" | atoi) $per1) -}}
{{- $frac := regexReplaceAll "^[0-9]*\\.?" $num "" | trunc 18 -}}
{{- if $frac -}}
{{- $scale := 1.0 -}}
{{- range until (len $frac) }}{{ $scale = mulf $scale 10 }}{{ end -}}
{{- $ns = add $ns (floor (mulf (atoi $frac) (divf $per1 $scale)) | int64) -}}
{{- end -}}
{{- end -}}
{{- $ns -}}
{{- end -}}

{{- define "healthgate.milliseconds" -}}
{{- div (include "healthgate.nanoseconds" . | atoi) 1000000 -}}
{{- end -}}

{{- define "healthgate.seconds" -}}
{{- div (add (include "healthgate.milliseconds" . | atoi) 999) 1000 -}}
{{- end -}}

{{/* The server section with healthgate's defaults filled in (docs/design.md §3). */}}
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

{{/* The headless Service whose A records are the pods (fleet-aware readiness), within 63 characters. */}}
{{- define "healthgate.peersName" -}}
{{- printf "%s-peers" (include "healthgate.fullname" . | trunc 57 | trimSuffix "-") -}}
{{- end -}}

{{/*
healthgate.scaled: "true" when an autoscaler owns the Deployment's pod count: the chart's HorizontalPodAutoscaler
(autoscaling.enabled) or a scaler outside the chart (autoscaling.external: a KEDA ScaledObject makes its own
HPA). The Deployment then renders no replicas, which every helm upgrade would otherwise set back, and where
the chart reasons about the pod count it takes autoscaling.minReplicas, the fewest pods there may be.
*/}}
{{- define "healthgate.scaled" -}}
{{- if or .Values.autoscaling.enabled .Values.autoscaling.external -}}true{{- end -}}
{{- end -}}

{{/* "true" when the fleet token comes from a Secret (HEALTHGATE_FLEET_TOKEN). */}}
{{- define "healthgate.fleetToken" -}}
{{- if and .Values.fleet.enabled .Values.fleet.token.secretName -}}true{{- end -}}
{{- end -}}

{{/* "true" when the old fleet token of a rotation comes from a Secret (HEALTHGATE_FLEET_PREVIOUS_TOKEN). */}}
{{- define "healthgate.fleetPreviousToken" -}}
{{- if and .Values.fleet.enabled (.Values.fleet.previousToken | default dict).secretName -}}true{{- end -}}
{{- end -}}

{{/*
healthgate.yaml `fleet:` (README.md "Fleet"): peers is the headless Service by its full DNS name, rooted
(namespace, cluster domain and a final dot: with the pods' ndots:5 a name of four dots is first tried
against each of the three search domains, three failed lookups before every real one) on the pods' own
health port; the other
fields only when set in values, else healthgate's defaults hold. The token is only ever a ${VAR} reference.
*/}}
{{- define "healthgate.fleet" -}}
{{- $f := dict "peers" (printf "dns:///%s.%s.svc.%s.:%d" (include "healthgate.peersName" .) .Release.Namespace (trimSuffix "." .Values.fleet.clusterDomain) (int .Values.containerPorts.http)) -}}
{{- range $k := list "fail_open_ratio" "min_pods" "sample" "timeout" -}}
{{- if not (kindIs "invalid" (index $.Values.fleet $k)) -}}
{{- $_ := set $f $k (index $.Values.fleet $k) -}}
{{- end -}}
{{- end -}}
{{- if include "healthgate.fleetToken" . -}}
{{- $_ := set $f "token" "${HEALTHGATE_FLEET_TOKEN:-}" -}}
{{- end -}}
{{- if include "healthgate.fleetPreviousToken" . -}}
{{- if not (include "healthgate.fleetToken" .) -}}
{{- fail "fleet.previousToken needs fleet.token: previousToken is the old token of a rotation, accepted while the pods move to the new one in fleet.token" -}}
{{- end -}}
{{- $_ := set $f "previous_token" "${HEALTHGATE_FLEET_PREVIOUS_TOKEN:-}" -}}
{{- end -}}
{{- toYaml $f -}}
{{- end -}}

{{- define "healthgate.defaults" -}}
{{- $d := dict "interval" "5s" "timeout" "2s" "failure_threshold" 2 "success_threshold" 1 -}}
{{- toYaml (merge (deepCopy (.Values.config.defaults | default dict)) $d) -}}
{{- end -}}

{{/*
Secrets. The same rules as tools/policy (configMapSecrets, envSecrets), so the chart refuses at `helm template`
what CI would refuse in the rendered manifest. A secret-looking name is one that contains, in any case, a word
of config/secrets.go's list (config's TestChartSecretWords keeps this copy equal to it): pass, pw, secret,
token, key, auth, bearer, sig, credential, session, jwt, cookie. A few libpq parameters contain such a word but hold
no secret (config.NotSecretNames: sslkey and passfile are file paths, target_session_attrs and require_auth
keywords). A check's own fields are not judged by their names but by their kind's list of secret fields
(healthgate.secretFields, _kinds.tpl). A value is a reference when it is ${VAR} or ${VAR:-}: a non-empty
default would put the literal back into the ConfigMap.
*/}}
{{- define "healthgate.secretNameRE" -}}(?i)(pass|pw|secret|token|key|auth|bearer|sig|credential|session|jwt|cookie){{- end -}}
{{- define "healthgate.refRE" -}}^\$\{[A-Za-z_][A-Za-z0-9_]*(:-)?\}${{- end -}}
{{/*
URL schemes whose lone user name (scheme://NAME@host, no password) is a token: config.TokenUserSchemes
(config's TestChartTokenUserSchemes keeps this copy equal to it), which healthgate redacts.
*/}}
{{- define "healthgate.tokenSchemeRE" -}}^(http|https|nats|tls|mqtt|mqtts|tcp|ssl)${{- end -}}
{{/* A Kubernetes dependent variable in an env value, $(NAME): tools/policy's kubeRef (TestChartSecretRules). */}}
{{- define "healthgate.kubeRefRE" -}}\$\(([A-Za-z_][A-Za-z0-9_]*)\){{- end -}}
{{/*
The patterns healthgate.secretProblem reads values by; tools/policy's urlUserinfo, userinfoParts and
mysqlDSN are the same text (its TestChartSecretRules keeps them equal). urlRE: scheme (1) and userinfo (2)
of a URL; after the user, the password runs to the last '@' before the host ('/', '?', '#', '@' included,
as the drivers read it). userinfoRE: user (1) and password (2), split at the first ':' outside a ${VAR:-default}.
mysqlDSNRE: go-sql-driver/mysql's DSN, user:password@net(addr)/db?params, the password (1) up to the last
'@' before the last '/'.
*/}}
{{- define "healthgate.urlRE" -}}^([A-Za-z][A-Za-z0-9+.-]*)://((?:[^/?#@:]*:.*)|[^/?#@]*)@[^@/?#]*(?:[/?#].*)?${{- end -}}
{{- define "healthgate.portThenPathRE" -}}^[0-9]*[/?#]{{- end -}}
{{- define "healthgate.userinfoRE" -}}(?s)^((?:\$\{[^}]*\}|[^:])*)(?::(.*))?${{- end -}}
{{- define "healthgate.mysqlDSNRE" -}}^(?:\$\{[^}\s]*\}|[^\s:@/?#])*:(\S*)@(?:[A-Za-z][A-Za-z0-9_]*(?:\(\S*\))?)?/[^\s/@]*${{- end -}}

{{/* healthgate.isSecretName: "true" when a query, DSN or env name looks secret (see above). */}}
{{- define "healthgate.isSecretName" -}}
{{- if and (regexMatch (include "healthgate.secretNameRE" .) .) (not (has (lower .) (list "sslkey" "passfile" "target_session_attrs" "require_auth"))) -}}
true
{{- end -}}
{{- end -}}

{{/*
healthgate.secretProblem: what literal secret a URL, DSN or other string holds ("" when none): a password in
the URL's userinfo or a go-sql-driver/mysql DSN, a lone user name in a URL of a token scheme
(nats://TOKEN@host, mqtt://TOKEN@host), a secret-looking query parameter, or a secret-looking field of a
libpq key=value DSN, with a value that is not a ${VAR} reference; or any of these in the default of a
${VAR:-default}, which the ConfigMap holds as written. tools/policy's secretProblem is the same
rule (its TestChartSecretProblem renders this one and compares).
*/}}
{{- define "healthgate.secretProblem" -}}
{{- $v := toString . -}}
{{- $ref := include "healthgate.refRE" . -}}
{{- $problem := "" -}}
{{- $url := include "healthgate.urlRE" . -}}
{{- if regexMatch $url $v -}}
{{- $scheme := regexReplaceAll $url $v "${1}" | lower -}}
{{- $userinfo := regexReplaceAll $url $v "${2}" -}}
{{- $parts := include "healthgate.userinfoRE" . -}}
{{- $user := regexReplaceAll $parts $userinfo "${1}" -}}
{{- if ne $user $userinfo -}}
{{- $pw := regexReplaceAll $parts $userinfo "${2}" -}}
{{- if regexMatch (include "healthgate.portThenPathRE" .) $pw -}}
{{- /* http://h:8080?email=a@b: a port, then a path or query that holds an '@': no userinfo */ -}}
{{- else if and $pw (not (regexMatch $ref $pw)) (regexMatch "[/?#@]" $pw) -}}
{{- $problem = "an inline password (or, after host:port, an '@' in the path or query: write it %40)" -}}
{{- else if and $pw (not (regexMatch $ref $pw)) -}}
{{- $problem = "an inline password" -}}
{{- end -}}
{{- else if and $user (regexMatch (include "healthgate.tokenSchemeRE" .) $scheme) (not (regexMatch $ref $user)) -}}
{{- $problem = printf "an inline token (the user name of a %s:// URL)" $scheme -}}
{{- end -}}
{{- else if and (not (contains "://" $v)) (regexMatch (include "healthgate.mysqlDSNRE" .) $v) -}}
{{- $pw := regexReplaceAll (include "healthgate.mysqlDSNRE" .) $v "${1}" -}}
{{- if and $pw (not (regexMatch $ref $pw)) -}}
{{- $problem = "an inline password" -}}
{{- end -}}
{{- end -}}
{{- if and (not $problem) (regexMatch "^\\s*[A-Za-z_][A-Za-z0-9_]*\\s*=" $v) -}}
{{- range $f := regexFindAll "(^|\\s)[A-Za-z_][A-Za-z0-9_]*\\s*=\\s*('[^']*'|[^\\s']*)" $v -1 -}}
{{- $f = trim $f -}}
{{- $name := regexReplaceAll "\\s*=.*$" $f "" -}}
{{- $val := regexReplaceAll "^[^=]*=\\s*" $f "" | trimPrefix "'" | trimSuffix "'" -}}
{{- if and (not $problem) (include "healthgate.isSecretName" $name) $val (not (regexMatch $ref $val)) -}}
{{- $problem = printf "an inline %s=" $name -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and (not $problem) (regexMatch "^[^#]*\\?" $v) -}}
{{- $query := regexReplaceAll "^[^?]*\\?" (regexReplaceAll "#.*$" $v "") "" -}}
{{- range $p := splitList "&" $query -}}
{{- $name := regexReplaceAll "=.*$" $p "" -}}
{{- $val := "" -}}
{{- if contains "=" $p }}{{ $val = regexReplaceAll "^[^=]*=" $p "" }}{{ end -}}
{{- if and (not $problem) (include "healthgate.isSecretName" $name) $val (not (regexMatch $ref $val)) -}}
{{- $problem = printf "a literal secret in query parameter %q" $name -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- /* A default lands in the ConfigMap as written: ${DATABASE_URL:-postgres://app:pw@db/app} holds a password.
It ends at the first '}' (as healthgate reads it), so it holds no complete ${...}: one level of recursion. */ -}}
{{- if not $problem -}}
{{- range $r := regexFindAll "\\$\\{[A-Za-z_][A-Za-z0-9_]*:-[^}]+\\}" $v -1 -}}
{{- if not $problem -}}
{{- $def := regexReplaceAll "^\\$\\{[A-Za-z_][A-Za-z0-9_]*:-" $r "" | trimSuffix "}" -}}
{{- with include "healthgate.secretProblem" $def -}}
{{- $problem = printf "%s in the default of %s" . (regexReplaceAll ":-.*$" $r "}") -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $problem -}}
{{- end -}}

{{/*
healthgate.headerIsPlain: "true" for the few standard request headers whose value is never a credential; any
other header's value must be a ${VAR} reference (or "Bearer ${VAR}"). Header values are secrets by default
(docs/design.md §8 redacts them all), and a custom header (X-Auth, X-Internal, ...) is exactly where an API key
hides under a name no pattern guesses.
*/}}
{{- define "healthgate.headerIsPlain" -}}
{{- if has (lower .) (list "accept" "accept-charset" "accept-encoding" "accept-language" "cache-control" "connection" "content-type" "host" "origin" "pragma" "referer" "user-agent" "x-forwarded-for" "x-forwarded-host" "x-forwarded-proto" "x-request-id" "x-requested-with") -}}
true
{{- end -}}
{{- end -}}

{{/*
healthgate.notSecretEnv: libpq's variables (pgx reads them) for the parameters that are no secret though their
names hold a secret word (config.NotSecretNames): PGSSLKEY and PGPASSFILE are file paths, PGTARGETSESSIONATTRS
and PGREQUIREAUTH keywords. tools/policy's notSecretEnv is this list (TestChartNotSecretEnv).
*/}}
{{- define "healthgate.notSecretEnv" -}}PGPASSFILE PGSSLKEY PGTARGETSESSIONATTRS PGREQUIREAUTH{{- end -}}

{{/*
healthgate.envSecrets: a literal env[].value lands in the Deployment, readable by anyone who can read it:
refuse one that holds a URL password, a secret query parameter or DSN field, or whose name looks secret
(but for healthgate.notSecretEnv's, whose values are paths and keywords).
*/}}
{{- define "healthgate.envSecrets" -}}
{{- range $i, $e := .Values.env -}}
{{- if and (hasKey $e "value") $e.value -}}
{{- /* $(NAME): Kubernetes' dependent variable, replaced by the kubelet with NAME's value set above it
(a valueFrom.secretKeyRef's too), so it is a reference, as ${NAME} is. Whether NAME is set is not the
chart's to say: a Service's variables (enableServiceLinks) can be referred to as well. */ -}}
{{- $v := regexReplaceAll (include "healthgate.kubeRefRE" $) (toString $e.value) "$${${1}}" -}}
{{- $problem := include "healthgate.secretProblem" $v -}}
{{- if $problem -}}
{{- $problem = printf "value has %s" $problem -}}
{{- else if and (include "healthgate.isSecretName" $e.name) (not (has $e.name (splitList " " (include "healthgate.notSecretEnv" $)))) (not (include "healthgate.onlyRefs" $v)) -}}
{{- $problem = "a secret-looking name with a literal value" -}}
{{- end -}}
{{- if $problem -}}
{{- fail (printf "env[%d] %s: %s; a literal value lands in the Deployment: put it in a Secret and use valueFrom.secretKeyRef (or envFrom)" $i $e.name $problem) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
healthgate.onlyRefs: "true" when a value is ${VAR} references only, none with a non-empty default, optionally
after an auth scheme (Bearer ${TOKEN}): tools/policy's isOnlyRefs. An env value $(DB_PASSWORD), read as
${DB_PASSWORD}, is one: a secret-looking name that only refers to another variable holds no literal.
*/}}
{{- define "healthgate.onlyRefs" -}}
{{- $refs := "\\$\\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\\}" -}}
{{- if and (regexMatch $refs .) (not (regexMatch "\\$\\{[A-Za-z_][A-Za-z0-9_]*:-[^}]+\\}" .)) (regexMatch "(?i)^(bearer|basic|token)?$" (trim (regexReplaceAll $refs . ""))) -}}
true
{{- end -}}
{{- end -}}

{{/*
healthgate.envUnique: a container's env names must be unique. Kubernetes keeps the last of two entries of one
name without a word (the API server only warns), so a second DATABASE_URL, or an env entry named as one the
chart sets from a Secret (the details and fleet tokens), would silently replace the first.
*/}}
{{/*
extraVolumesClear fails on an extra volume named config, or an extra mount at /etc/healthgate: those are
the chart's own (its configuration), and the API server refuses a pod with two volumes of one name or two
mounts at one path, at install time, after the chart rendered clean. A mount below it at healthgate.yaml (a
subPath mount of a file of one's own), or at the ConfigMap volume's own ..data through which that file
links, the API server takes: it shadows the chart's configuration, and healthgate ran another one than
rendered, its checksum rolling no pod. Paths are compared cleaned (/etc//healthgate/./healthgate.yaml).
*/}}
{{- define "healthgate.extraVolumesClear" -}}
{{- range $i, $v := .Values.extraVolumes -}}
{{- if eq (toString $v.name) "config" -}}
{{- fail (printf "extraVolumes[%d]: the name config is the chart's own volume (its configuration): pick another name" $i) -}}
{{- end -}}
{{- end -}}
{{- range $i, $m := .Values.extraVolumeMounts -}}
{{- $mp := clean (toString $m.mountPath) -}}
{{- if eq $mp "/etc/healthgate" -}}
{{- fail (printf "extraVolumeMounts[%d]: /etc/healthgate is where the chart mounts its configuration: mount below it (/etc/healthgate/secrets) or elsewhere" $i) -}}
{{- end -}}
{{- if or (eq $mp "/etc/healthgate/healthgate.yaml") (hasPrefix "/etc/healthgate/healthgate.yaml/" $mp) (hasPrefix "/etc/healthgate/.." $mp) -}}
{{- fail (printf "extraVolumeMounts[%d]: %s is the chart's configuration file, or the ConfigMap volume's own path to it (..data): mounted over, it would shadow the configuration the chart renders; mount elsewhere below /etc/healthgate (/etc/healthgate/secrets)" $i $mp) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "healthgate.envUnique" -}}
{{- $seen := dict -}}
{{- if eq (include "healthgate.server" . | fromYaml).details "token" -}}
{{- $_ := set $seen "HEALTHGATE_DETAILS_TOKEN" "the chart (from detailsToken, with config.server.details: token)" -}}
{{- end -}}
{{- if include "healthgate.fleetToken" . -}}
{{- $_ := set $seen "HEALTHGATE_FLEET_TOKEN" "the chart (from fleet.token)" -}}
{{- end -}}
{{- if include "healthgate.fleetPreviousToken" . -}}
{{- $_ := set $seen "HEALTHGATE_FLEET_PREVIOUS_TOKEN" "the chart (from fleet.previousToken)" -}}
{{- end -}}
{{- range $i, $e := .Values.env -}}
{{- with get $seen $e.name -}}
{{- fail (printf "env[%d]: %s is already set by %s; Kubernetes would keep only the last of the two, silently: set each variable once" $i $e.name .) -}}
{{- end -}}
{{- $_ := set $seen $e.name (printf "env[%d]" $i) -}}
{{- end -}}
{{- end -}}

{{/*
healthgate.timing: refuses what healthgate's own Validate refuses in the timing (docs/design.md §2), since a config
healthgate rejects renders fine but leaves the pods crash-looping (exit 2). $what names the mapping; $i and
$t are the effective interval and timeout (a check's own, else the defaults'). The floors are
config.MinInterval and config.MinTimeout (config's TestChartMinTiming keeps these copies equal to them).
*/}}
{{- define "healthgate.minIntervalMS" -}}100{{- end -}}
{{- define "healthgate.minTimeoutMS" -}}10{{- end -}}
{{- define "healthgate.timing" -}}
{{- $what := index . 0 -}}{{- $i := index . 1 | toString -}}{{- $t := index . 2 | toString -}}
{{- $ins := include "healthgate.nanoseconds" $i | atoi -}}
{{- $tns := include "healthgate.nanoseconds" $t | atoi -}}
{{- $minI := include "healthgate.minIntervalMS" . | atoi -}}
{{- $minT := include "healthgate.minTimeoutMS" . | atoi -}}
{{- if lt $ins (mul $minI 1000000) -}}
{{- fail (printf "%s: interval (%s) must be at least %dms: a shorter one would hammer the dependency (healthgate refuses this config and its pods would crash-loop)" $what $i $minI) -}}
{{- end -}}
{{- if lt $tns (mul $minT 1000000) -}}
{{- fail (printf "%s: timeout (%s) must be at least %dms: no real dependency answers faster (healthgate refuses this config and its pods would crash-loop)" $what $t $minT) -}}
{{- end -}}
{{- if ge $tns $ins -}}
{{- fail (printf "%s: timeout (%s) must be shorter than interval (%s), so one run ends before the next starts (healthgate refuses this config and its pods would crash-loop)" $what $t $i) -}}
{{- end -}}
{{- end -}}

{{/*
healthgate.configYAML: the healthgate.yaml the pods read. Refuses inline secrets, ${VAR}s that nothing
provides, timing healthgate refuses and clashing ports, since each would only show at run time.
*/}}
{{- define "healthgate.configYAML" -}}
{{- $secretHint := "put the secret in a Secret and write ${VAR} here, with VAR set from it by env (valueFrom.secretKeyRef) or envFrom" -}}
{{- $ref := include "healthgate.refRE" . -}}
{{- if and .Values.grpc.probes (not .Values.grpc.enabled) -}}
{{- fail "grpc.probes is true but grpc.enabled is false: the probes would ask a gRPC port nothing listens on; set grpc.enabled: true or grpc.probes: false" -}}
{{- end -}}
{{- if and .Values.grpc.enabled (eq (int .Values.grpc.port) (int .Values.containerPorts.http)) -}}
{{- fail (printf "grpc.port (%d) must differ from containerPorts.http (%d): healthgate serves HTTP and gRPC on separate listeners" (int .Values.grpc.port) (int .Values.containerPorts.http)) -}}
{{- end -}}
{{- $envNames := list -}}
{{- $optionalEnv := list -}}
{{- range $e := .Values.env }}{{ $envNames = append $envNames $e.name -}}
{{- with $e.valueFrom }}{{ if or (and .secretKeyRef .secretKeyRef.optional) (and .configMapKeyRef .configMapKeyRef.optional) }}{{ $optionalEnv = append $optionalEnv $e.name }}{{ end }}{{ end -}}
{{- end -}}
{{- /* An envFrom source that is not optional may provide any name: then the ${VAR}s are not checked. When
every source is optional, a name no env entry provides is unset whenever those sources are missing. */ -}}
{{- $fromRequired := false -}}
{{- range $f := .Values.envFrom }}{{ if not (or (and $f.secretRef $f.secretRef.optional) (and $f.configMapRef $f.configMapRef.optional)) }}{{ $fromRequired = true }}{{ end }}{{ end -}}
{{- if eq (include "healthgate.server" . | fromYaml).details "token" }}{{ $envNames = append $envNames "HEALTHGATE_DETAILS_TOKEN" }}{{ end -}}
{{- if include "healthgate.fleetToken" . }}{{ $envNames = append $envNames "HEALTHGATE_FLEET_TOKEN" }}{{ end -}}
{{- if include "healthgate.fleetPreviousToken" . }}{{ $envNames = append $envNames "HEALTHGATE_FLEET_PREVIOUS_TOKEN" }}{{ end -}}
{{- $d := include "healthgate.defaults" . | fromYaml -}}
{{- include "healthgate.timing" (list "config.defaults" $d.interval $d.timeout) -}}
{{- if and .Values.fleet.enabled (not .Values.deployment.enabled) -}}
{{- fail "fleet.enabled needs deployment.enabled: the peers Service selects this chart's pods. In shape B, give your own pods a headless Service (publishNotReadyAddresses: true) and write healthgate.yaml's fleet section yourself (README.md \"Fleet\")" -}}
{{- end -}}
{{- if .Values.fleet.enabled -}}
{{- $minPods := .Values.fleet.min_pods | default 3 | int -}}
{{- $sample := .Values.fleet.sample | default 10 | int -}}
{{- if gt $minPods (add1 $sample) -}}
{{- fail (printf "fleet.min_pods (%d) is more than a round can hear, the pod and at most fleet.sample (%d) peers: no check could ever fail open (healthgate refuses this config and the pods would crash-loop); raise sample or lower min_pods" $minPods $sample) -}}
{{- end -}}
{{- if and .Values.fleet.timeout (eq (include "healthgate.nanoseconds" .Values.fleet.timeout | atoi) 0) -}}
{{- fail (printf "fleet.timeout (%s) must be greater than 0: it bounds each request to a peer (healthgate refuses this config and the pods would crash-loop); leave it null for healthgate's default" .Values.fleet.timeout) -}}
{{- end -}}
{{- end -}}
{{- $names := dict -}}
{{- range $i, $c := .Values.checks -}}
{{- if hasKey $names $c.name -}}
{{- fail (printf "checks[%d]: duplicate check name %q" $i $c.name) -}}
{{- end -}}
{{- $_ := set $names $c.name true -}}
{{- if and (eq (toString $c.scope) "shared") (not $.Values.fleet.enabled) -}}
{{- fail (printf "checks[%d] %q: scope shared needs fleet.enabled: true (the peers to ask); without it healthgate refuses the config and the pods crash-loop" $i $c.name) -}}
{{- end -}}
{{- /* Only a shared critical check asks the peers (a non-critical one fails nothing open), so only its
interval bounds fleet.timeout, as healthgate's own validation has it (config/fleet.go asksPeers). */ -}}
{{- if and (eq (toString $c.scope) "shared") (ne (toString $c.critical) "false") $.Values.fleet.enabled $.Values.fleet.timeout -}}
{{- $ci := $c.interval | default $d.interval -}}
{{- if ge (include "healthgate.nanoseconds" $.Values.fleet.timeout | atoi) (include "healthgate.nanoseconds" $ci | atoi) -}}
{{- fail (printf "fleet.timeout (%s) must be shorter than the interval (%s) of shared critical check checks[%d] %q: a round of peer requests must end before the next" $.Values.fleet.timeout $ci $i $c.name) -}}
{{- end -}}
{{- end -}}
{{- include "healthgate.timing" (list (printf "checks[%d] %q" $i $c.name) ($c.interval | default $d.interval) ($c.timeout | default $d.timeout)) -}}
{{- with include "healthgate.secretProblem" ($c.url | default "") -}}
{{- fail (printf "checks[%d] %q: url has %s; %s (or use url_file)" $i $c.name . $secretHint) -}}
{{- end -}}
{{- $secretFields := get (include "healthgate.secretFields" . | fromJson) (toString $c.type) | default list -}}
{{- range $k, $v := $c -}}
{{- if and (kindIs "string" $v) $v (has $k $secretFields) (not (regexMatch $ref $v)) -}}
{{- fail (printf "checks[%d] %q: %s holds a literal value; %s (or use %s_file)" $i $c.name $k $secretHint $k) -}}
{{- end -}}
{{- end -}}
{{- /* AMQP carries a queue name as a short string, at most 255 bytes, and healthgate counts bytes (checks/amqp.go),
as len does here: the schema's maxLength counts characters, fewer than bytes in another alphabet (129 × é is
258 bytes). A name behind a ${VAR} is healthgate's to judge. */ -}}
{{- if and (eq (toString $c.type) "amqp") (kindIs "string" $c.queue) (not (contains "$" (toString $c.queue))) (gt (len $c.queue) 255) -}}
{{- fail (printf "checks[%d] %q: queue is %d bytes long: a queue name is at most 255 bytes (AMQP counts bytes: a letter of another alphabet takes two or more); healthgate refuses this config and its pods would crash-loop" $i $c.name (len $c.queue)) -}}
{{- end -}}
{{- /* Header names, in headers and headers_file alike, as healthgate reads them (checks/http.go): a token each,
and each header once, whatever its case (Authorization and authorization are one header; one in headers and
headers_file both is given twice). Not quoted when not a token: the name may hold a value pasted into it. */ -}}
{{- $headerNames := dict -}}
{{- range $field := list "headers" "headers_file" -}}
{{- range $h, $_ := (get $c $field | default dict) -}}
{{- if not (regexMatch `^[!#$%&'*+.^_\x60|~0-9A-Za-z-]+$` $h) -}}
{{- fail (printf "checks[%d] %q: %s: a header name that is not one: letters, digits and !#$%%&'*+-.^_`|~ only, no space nor ':' (not shown: it may hold a value); healthgate refuses this config and its pods would crash-loop" $i $c.name $field) -}}
{{- end -}}
{{- with get $headerNames (lower $h) -}}
{{- fail (printf "checks[%d] %q: header %s is set twice, as %s and %s %s (header names are case-insensitive): keep one; healthgate refuses this config and its pods would crash-loop" $i $c.name $h . $field $h) -}}
{{- end -}}
{{- $_ := set $headerNames (lower $h) (printf "%s %s" $field $h) -}}
{{- end -}}
{{- end -}}
{{- range $h, $v := ($c.headers | default dict) -}}
{{- if and (not (include "healthgate.headerIsPlain" $h)) (not (regexMatch (printf "^((?i:bearer|basic|token) )?%s" (trimPrefix "^" $ref)) (toString $v))) -}}
{{- fail (printf "checks[%d] %q: header %s holds a literal value (only standard headers such as Accept or User-Agent may); %s (Bearer ${VAR} works too)" $i $c.name $h $secretHint) -}}
{{- end -}}
{{- end -}}
{{- /* A *_file path under /etc/healthgate, the config volume (a ConfigMap holding healthgate.yaml alone), exists
only inside an extraVolumeMounts mount: without one healthgate cannot read it and exits 2. (Paths elsewhere
may be the image's own, such as its CA bundle.) */ -}}
{{- if $.Values.deployment.enabled -}}
{{- range $m := regexFindAll ":\\s+[\"']?/etc/healthgate/[^\\s\"']+" (toYaml $c) -1 -}}
{{- $path := regexReplaceAll "^:\\s+[\"']?" $m "" -}}
{{- $mounted := false -}}
{{- range $.Values.extraVolumeMounts -}}
{{- $mp := trimSuffix "/" (toString .mountPath) -}}
{{- if or (eq $path $mp) (hasPrefix (printf "%s/" $mp) $path) }}{{ $mounted = true }}{{ end -}}
{{- end -}}
{{- if not $mounted -}}
{{- fail (printf "checks[%d] %q reads %s, but no extraVolumeMounts entry mounts it: /etc/healthgate holds only the chart's ConfigMap (healthgate.yaml), so healthgate could not read the file and its pods would crash-loop; mount the Secret there (extraVolumes and extraVolumeMounts)" $i $c.name $path) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- /* Every ${ must open a variable as healthgate reads it (config/expand.go): a name of letters, digits and
_, not starting with a digit, and a default only as :-. ${DB.URL}, ${DB-URL}, ${A:=b} render but healthgate
refuses them. Not quoted: a default there may be a secret. */ -}}
{{- range $m := regexFindAll "\\$\\{[^}]*\\}?" (regexReplaceAll "\\$\\$" (toYaml $c) "") -1 -}}
{{- if not (regexMatch "^\\$\\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\\}$" $m) -}}
{{- fail (printf "checks[%d] %q: a ${ that opens no variable healthgate reads: a name is letters, digits and _, not starting with a digit, closed by }, and a default is written ${NAME:-default} (healthgate refuses this config and its pods would crash-loop; write $$ for a literal $)" $i $c.name) -}}
{{- end -}}
{{- end -}}
{{- /* A whole value $NAME, as a shell or Compose reads it, is not expanded: healthgate refuses it when NAME
is set or written as environment variables are (config/expand.go's unbracedVariable). */ -}}
{{- range $m := regexFindAll `(?m):[ \t]+["']?\$[A-Za-z_][A-Za-z0-9_]*["']?$` (toYaml $c) -1 -}}
{{- $name := regexReplaceAll `^:[ \t]+["']?\$([A-Za-z_][A-Za-z0-9_]*)["']?$` $m "${1}" -}}
{{- if or (has $name $envNames) (and (eq (upper $name) $name) (regexMatch "[A-Z]" $name)) -}}
{{- fail (printf "checks[%d] %q: a value written $%s is not expanded: write ${%s} (healthgate refuses this config and its pods would crash-loop)" $i $c.name $name $name) -}}
{{- end -}}
{{- end -}}
{{- if and $.Values.deployment.enabled (not $fromRequired) -}}
{{- /* $$ is a literal $ (healthgate's escape): $${VAR} names no variable, $$${VAR} does. */ -}}
{{- range $r := regexFindAll "\\$\\{[A-Za-z_][A-Za-z0-9_]*\\}" (regexReplaceAll "\\$\\$" (toYaml $c) "") -1 -}}
{{- $var := trimSuffix "}" (trimPrefix "${" $r) -}}
{{- if and (not (has $var $envNames)) $.Values.envFrom -}}
{{- fail (printf "checks[%d] %q uses %s, which no env entry provides and only optional envFrom sources could: without them, Kubernetes leaves %s unset, and healthgate refuses a ${VAR} that is unset (the pods would crash-loop); drop optional: true, add an env entry, or write ${%s:-...} with a default" $i $c.name $r $var $var) -}}
{{- end -}}
{{- if not (has $var $envNames) -}}
{{- fail (printf "checks[%d] %q uses %s but no env entry %s (e.g. valueFrom.secretKeyRef) nor envFrom provides it" $i $c.name $r $var) -}}
{{- end -}}
{{- if has $var $optionalEnv -}}
{{- fail (printf "checks[%d] %q uses %s, whose env entry is optional: without its Secret or key, Kubernetes leaves %s unset, and healthgate refuses a ${VAR} that is unset (the pods would crash-loop); drop optional: true, or write ${%s:-...} with a default" $i $c.name $r $var $var) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
server:
{{ include "healthgate.server" . | indent 2 }}
defaults:
{{ include "healthgate.defaults" . | indent 2 }}
{{- if .Values.fleet.enabled }}
fleet:
{{ include "healthgate.fleet" . | indent 2 }}
{{- end }}
{{- if .Values.checks }}
checks:
{{ toYaml .Values.checks | indent 2 }}
{{- else }}
checks: []
{{- end }}
{{- end -}}

{{/*
Probe timing (README.md "Probe timing"). Probes read healthgate's cached snapshot, so probing often costs the
dependencies nothing; what a long period costs is delay. healthgate's state changes at most once per check
interval, so readiness probes every half of the shortest interval, but never less often than every 10 s: with
`interval: 2m` an uncapped period of 60 s would keep a new pod out of the Service for up to a minute after
healthgate is ready, and the same after a dependency recovers. The startupProbe runs only until it first
passes (then the kubelet stops it), so it probes every second: the pod turns Ready about a second after the
first passing run whatever the interval, and its failureThreshold stretches the budget to
probes.startup.window, at least the longest check timeout (the first run must be able to finish).
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

{{- define "healthgate.readinessPeriod" -}}
{{- $i := include "healthgate.minInterval" . | atoi -}}
{{- min 10 (max 1 (div (add $i 1) 2)) -}}
{{- end -}}

{{- define "healthgate.startupPeriod" -}}1{{- end -}}

{{- define "healthgate.startupFailureThreshold" -}}
{{- $d := include "healthgate.defaults" . | fromYaml -}}
{{- $budget := include "healthgate.seconds" .Values.probes.startup.window | atoi -}}
{{- $period := include "healthgate.startupPeriod" . | atoi -}}
{{- range .Values.checks -}}
{{- $t := add (include "healthgate.seconds" (.timeout | default $d.timeout) | atoi) $period -}}
{{- if gt $t $budget }}{{ $budget = $t }}{{ end -}}
{{- end -}}
{{- max 1 (div (add $budget $period -1) $period) -}}
{{- end -}}

{{- define "healthgate.terminationGracePeriodSeconds" -}}
{{- $s := include "healthgate.server" . | fromYaml -}}
{{- /* The drain in nanoseconds, as healthgate waits it: each part rounded up to seconds on its own would add up
to almost 2 s too much (1500ms + 1500ms is 3 s, not 4), refusing a grace period that is long enough; each
cut to milliseconds, up to 2 ms too little (1500.5ms + 1499.9ms is over 3 s), taking one that is not. */ -}}
{{- $drainNS := add (include "healthgate.nanoseconds" $s.shutdown_delay | atoi) (include "healthgate.nanoseconds" $s.shutdown_timeout | atoi) -}}
{{- $drainMS := div $drainNS 1000000 -}}
{{- $drain := ternary (printf "%ds" (div $drainMS 1000)) (printf "%dms" $drainMS) (eq (mod $drainNS 1000000000) 0) -}}
{{- if ne (mod $drainNS 1000000) 0 }}{{ $drain = printf "%dns" $drainNS }}{{ end -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds -}}
{{- add (div (add $drainNS 999999999) 1000000000) 5 -}}
{{- else if le (mul (int .Values.terminationGracePeriodSeconds) 1000000000) $drainNS -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be longer than config.server.shutdown_delay + shutdown_timeout (%s + %s = %s), or kubelet kills pods that are still draining" (int .Values.terminationGracePeriodSeconds) $s.shutdown_delay $s.shutdown_timeout $drain) -}}
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

{{/* The effective ServiceMonitor settings: metrics.serviceMonitor, overridden by the deprecated top-level
serviceMonitor keys a values file still sets. Returned as YAML (include can only return a string). */}}
{{- define "healthgate.serviceMonitor" -}}
{{- $sm := deepCopy .Values.metrics.serviceMonitor -}}
{{- with .Values.serviceMonitor }}{{- $sm = mergeOverwrite $sm (deepCopy .) -}}{{- end -}}
{{- toYaml $sm -}}
{{- end -}}

{{/* The PromQL label matchers of this release's healthgate series (see metrics.prometheusRule.selector). */}}
{{- define "healthgate.metricsSelector" -}}
{{- .Values.metrics.prometheusRule.selector | default (printf "job=%q,namespace=%q" (include "healthgate.fullname" .) .Release.Namespace) -}}
{{- end -}}
