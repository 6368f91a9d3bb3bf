{{/*
healthgate.secretFields: each check kind's fields whose values are secrets, as JSON. Rendered from the
registry (secret:"true" in checks/*.go, less url) by `go test ./checks -run TestChartSecretFields -update`:
do not edit; the test fails when this file differs.
*/}}
{{- define "healthgate.secretFields" -}}
{"amqp":[],"dns":[],"grpc":[],"http":["headers"],"memcached":["password"],"mqtt":[],"mysql":[],"nats":[],"postgres":[],"redis":[],"tcp":[]}
{{- end -}}
