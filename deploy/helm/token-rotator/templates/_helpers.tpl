{{/* The chart's name (app.kubernetes.io/name). */}}
{{- define "token-rotator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: the prefix of every object's name. */}}
{{- define "token-rotator.fullname" -}}
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

{{/* The mode, checked: cronjob or daemon (values.schema.json says so too). */}}
{{- define "token-rotator.mode" -}}
{{- if not (has .Values.mode (list "cronjob" "daemon")) }}
{{- fail (printf "mode must be cronjob or daemon, not %q" (toString .Values.mode)) }}
{{- end }}
{{- .Values.mode }}
{{- end }}

{{/* Labels that select this release's pods. */}}
{{- define "token-rotator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "token-rotator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: {{ include "token-rotator.mode" . }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "token-rotator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "token-rotator.selectorLabels" . }}
app.kubernetes.io/part-of: token-rotator
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "token-rotator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "token-rotator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The config file's text: config as given (text), or a map written as YAML. */}}
{{- define "token-rotator.configText" -}}
{{- if kindIs "string" .Values.config }}
{{- .Values.config }}
{{- else }}
{{- toYaml .Values.config }}
{{- end }}
{{- end }}

{{/* The config, parsed, as JSON (include returns text): checked for what the chart reads. */}}
{{- define "token-rotator.configJson" -}}
{{- $config := fromYaml (include "token-rotator.configText" .) }}
{{- if hasKey $config "Error" }}
{{- fail (printf "config is not valid YAML: %s" $config.Error) }}
{{- end }}
{{- if not (kindIs "map" $config.store) }}
{{- fail "config: store is required" }}
{{- end }}
{{- if eq (toString $config.store.kind) "file" }}
{{- fail "config: store.kind file keeps records on one host's disk: use vault or aws under Kubernetes" }}
{{- end }}
{{- toJson $config }}
{{- end }}

{{/* The image reference. */}}
{{- define "token-rotator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
The pod spec both modes share: restricted pod security (non-root, read-only root
filesystem, no capabilities, seccomp RuntimeDefault), the config from the ConfigMap,
credentials from existing Secrets only, a projected token for Vault, a small /tmp.
Called with (dict "root" $ "args" LIST "grace" SECONDS "restartPolicy" POLICY "daemon" BOOL).
*/}}
{{- define "token-rotator.podSpec" -}}
{{- $root := .root }}
{{- $config := include "token-rotator.configJson" $root | fromJson }}
{{- $auth := default dict $config.store.auth }}
{{- $vaultToken := and (eq (toString $config.store.kind) "vault") (eq (toString $auth.method) "kubernetes") }}
{{- $jwtFile := default "/var/run/secrets/vault/token" $auth.jwt_file -}}
serviceAccountName: {{ include "token-rotator.serviceAccountName" $root }}
automountServiceAccountToken: false
{{- with .restartPolicy }}
restartPolicy: {{ . }}
{{- end }}
terminationGracePeriodSeconds: {{ .grace }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  runAsNonRoot: true
  runAsUser: 1000
  runAsGroup: 1000
  fsGroup: 1000
  seccompProfile:
    type: RuntimeDefault
{{- if and .daemon $root.Values.daemon.spreadOverNodes }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "token-rotator.selectorLabels" $root | nindent 8 }}
{{- end }}
{{- with $root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
containers:
  - name: token-rotator
    image: {{ include "token-rotator.image" $root | quote }}
    imagePullPolicy: {{ $root.Values.image.pullPolicy }}
    # With the image's ENTRYPOINT: node dist/runtimes/bin.js <args>
    args: {{ toJson .args }}
    {{- with $root.Values.secretEnv }}
    env:
      {{- range . }}
      - name: {{ .name }}
        valueFrom:
          secretKeyRef:
            name: {{ .secretKeyRef.name }}
            key: {{ .secretKeyRef.key }}
      {{- end }}
    {{- end }}
    {{- if .daemon }}
    ports:
      - name: metrics
        containerPort: {{ $root.Values.daemon.port }}
        protocol: TCP
    # Alive while the process serves HTTP.
    livenessProbe:
      httpGet:
        path: /healthz
        port: metrics
      periodSeconds: 20
      timeoutSeconds: 3
      failureThreshold: 3
    # Ready while the store answers and the schedule runs; an expired token (a vendor
    # down) is in the metrics, not here.
    readinessProbe:
      httpGet:
        path: /readyz
        port: metrics
      periodSeconds: 10
      timeoutSeconds: 3
      failureThreshold: 3
    {{- end }}
    {{- with $root.Values.resources }}
    resources:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      runAsNonRoot: true
      capabilities:
        drop: ["ALL"]
    volumeMounts:
      - name: config
        mountPath: /etc/token-rotator
        readOnly: true
      {{- range $index, $secret := $root.Values.existingSecrets }}
      - name: {{ printf "credentials-%d" $index }}
        mountPath: {{ $secret.mountPath }}
        readOnly: true
      {{- end }}
      {{- if $vaultToken }}
      - name: vault-token
        mountPath: {{ dir $jwtFile }}
        readOnly: true
      {{- end }}
      - name: tmp
        mountPath: /tmp
volumes:
  - name: config
    configMap:
      name: {{ include "token-rotator.fullname" $root }}-config
  {{- range $index, $secret := $root.Values.existingSecrets }}
  - name: {{ printf "credentials-%d" $index }}
    secret:
      secretName: {{ $secret.name }}
      defaultMode: 288 # 0440: root:fsGroup, readable by the rotator's group only
  {{- end }}
  {{- if $vaultToken }}
  - name: vault-token
    projected:
      sources:
        - serviceAccountToken:
            audience: {{ $root.Values.vaultToken.audience }}
            expirationSeconds: {{ $root.Values.vaultToken.expirationSeconds }}
            path: {{ base $jwtFile }}
  {{- end }}
  # The root filesystem is read-only; Node and its libraries get a small /tmp.
  - name: tmp
    emptyDir:
      sizeLimit: 16Mi
{{- end }}

{{/* Pod template metadata: labels, and the config's checksum so a changed config rolls the pods. */}}
{{- define "token-rotator.podMetadata" -}}
labels:
  {{- include "token-rotator.labels" . | nindent 2 }}
  {{- with .Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
annotations:
  checksum/config: {{ include "token-rotator.configText" . | sha256sum }}
  {{- with .Values.podAnnotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}

{{/* The Pushgateway's TCP port, from pushgateway.url (its explicit port, else 80 or 443). */}}
{{- define "token-rotator.pushgatewayPort" -}}
{{- $url := urlParse .Values.pushgateway.url }}
{{- if not (has $url.scheme (list "http" "https")) }}
{{- fail (printf "pushgateway.url must be an http(s) URL, e.g. http://pushgateway.monitoring:9091 (got %q)" .Values.pushgateway.url) }}
{{- end }}
{{- $hostPort := splitList ":" $url.host }}
{{- if gt (len $hostPort) 1 }}{{ last $hostPort }}{{ else if eq $url.scheme "https" }}443{{ else }}80{{ end }}
{{- end }}
