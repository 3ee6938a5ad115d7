{{/*
Shared helpers of the CloudGrid chart: names, labels, the image, Secrets, the
environment blocks each service takes a share of, and the pod template every service
renders with its own arguments.
*/}}

{{- define "cloudgrid.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cloudgrid.fullname" -}}
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

{{/* Name of a service's resources: (dict "root" $ "component" "bff") */}}
{{- define "cloudgrid.componentName" -}}
{{- printf "%s-%s" (include "cloudgrid.fullname" .root | trunc 40 | trimSuffix "-") .component -}}
{{- end -}}

{{/* Labels selecting every pod of this release. */}}
{{- define "cloudgrid.releaseSelectorLabels" -}}
app.kubernetes.io/name: {{ include "cloudgrid.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels selecting one service's pods: (dict "root" $ "component" "bff") */}}
{{- define "cloudgrid.selectorLabels" -}}
{{ include "cloudgrid.releaseSelectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Labels of every resource: (dict "root" $ "component" "bff"); component may be "". */}}
{{- define "cloudgrid.labels" -}}
{{- $root := .root -}}
helm.sh/chart: {{ printf "%s-%s" $root.Chart.Name $root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "cloudgrid.releaseSelectorLabels" $root }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
app.kubernetes.io/part-of: cloudgrid
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
{{- with $root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
The image: repository@digest when a digest is set, else repository:tag. A profile that
sets image.requireDigest refuses to render without a digest.
*/}}
{{- define "cloudgrid.image" -}}
{{- $img := .Values.image -}}
{{- if $img.requireDigest -}}
{{- $_ := required "image.digest is required by this profile: pin the image by digest (--set image.digest=sha256:<64 hex digits>)" $img.digest -}}
{{- end -}}
{{- if $img.digest -}}
{{- if not (regexMatch "^sha256:[a-f0-9]{64}$" $img.digest) -}}
{{- fail (printf "image.digest must look like sha256:<64 lowercase hex digits>, got %q" $img.digest) -}}
{{- end -}}
{{- printf "%s@%s" $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository (default $.Chart.AppVersion $img.tag) -}}
{{- end -}}
{{- end -}}

{{/*
The name of a credentials Secret: the group's existingSecret, else the one the chart
makes. (dict "root" $ "existing" .Values.x.existingSecret "suffix" "x" "what" "x.existingSecret")
With requireExistingSecrets, an empty existingSecret stops the rendering.
*/}}
{{- define "cloudgrid.secretName" -}}
{{- if .root.Values.requireExistingSecrets -}}
{{- required (printf "%s is required by this profile: name the Secret that holds these credentials (the chart makes none)" .what) .existing -}}
{{- else if .existing -}}
{{- .existing -}}
{{- else -}}
{{- printf "%s-%s" (include "cloudgrid.fullname" .root | trunc 40 | trimSuffix "-") .suffix -}}
{{- end -}}
{{- end -}}

{{- define "cloudgrid.serviceTokenSecret" -}}
{{- include "cloudgrid.secretName" (dict "root" . "existing" .Values.serviceToken.existingSecret "suffix" "service-token" "what" "serviceToken.existingSecret") -}}
{{- end -}}
{{- define "cloudgrid.surrealSecret" -}}
{{- include "cloudgrid.secretName" (dict "root" . "existing" .Values.surreal.auth.existingSecret "suffix" "surreal" "what" "surreal.auth.existingSecret") -}}
{{- end -}}
{{- define "cloudgrid.natsSecret" -}}
{{- include "cloudgrid.secretName" (dict "root" . "existing" .Values.nats.existingSecret "suffix" "nats" "what" "nats.existingSecret") -}}
{{- end -}}
{{- define "cloudgrid.oidcSecret" -}}
{{- include "cloudgrid.secretName" (dict "root" . "existing" .Values.oidc.existingSecret "suffix" "oidc" "what" "oidc.existingSecret") -}}
{{- end -}}
{{- define "cloudgrid.smtpSecret" -}}
{{- include "cloudgrid.secretName" (dict "root" . "existing" .Values.smtp.auth.existingSecret "suffix" "smtp" "what" "smtp.auth.existingSecret") -}}
{{- end -}}
{{- define "cloudgrid.providerKeySecret" -}}
{{- include "cloudgrid.secretName" (dict "root" . "existing" .Values.providerSecretKey.existingSecret "suffix" "provider-secret-key" "what" "providerSecretKey.existingSecret") -}}
{{- end -}}

{{/* Whether the control plane gets a provider-secret key. */}}
{{- define "cloudgrid.providerKeyEnabled" -}}
{{- if or .Values.requireExistingSecrets .Values.providerSecretKey.existingSecret .Values.providerSecretKey.key -}}true{{- end -}}
{{- end -}}

{{/*
A value the chart keeps in a Secret it makes: the given one, else what the Secret
already holds (upgrades), else a new random one.
(dict "root" $ "secret" "name" "key" "token" "given" "")
*/}}
{{- define "cloudgrid.keepOrGenerate" -}}
{{- if .given -}}
{{- .given -}}
{{- else -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .secret -}}
{{- if and $existing $existing.data (hasKey $existing.data .key) -}}
{{- index $existing.data .key | b64dec -}}
{{- else -}}
{{- randAlphaNum 48 -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* One env entry when the value is set: (dict "name" "CLOUDGRID_X" "value" .Values.x) */}}
{{- define "cloudgrid.envIfSet" -}}
{{- if and (not (kindIs "invalid" .value)) (ne (toString .value) "") }}
- name: {{ .name }}
  value: {{ toString .value | quote }}
{{- end }}
{{- end -}}

{{/* One env entry from a Secret: (dict "name" "X" "secret" "s" "key" "k" "optional" false) */}}
{{- define "cloudgrid.envFromSecret" }}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ .key }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end -}}

{{/* Self-observability settings of one service: (dict "root" $ "component" "x"). */}}
{{- define "cloudgrid.env.selfObservability" }}
{{- $so := .root.Values.selfObservability }}
{{- if $so.enabled }}
{{- $secret := required "selfObservability.existingSecret is required when selfObservability.enabled: the Secret holding the receiving project's ingest key" $so.existingSecret }}
- name: CLOUDGRID_SELF_OTLP_ENDPOINT
  value: {{ $so.endpoint | default (printf "http://%s:4318" (include "cloudgrid.componentName" (dict "root" .root "component" "collector"))) | quote }}
{{- include "cloudgrid.envFromSecret" (dict "name" "CLOUDGRID_SELF_OTLP_KEY" "secret" $secret "key" $so.secretKey) }}
- name: CLOUDGRID_SELF_OTLP_INTERVAL_MS
  value: {{ $so.intervalMs | int | toString | quote }}
- name: CLOUDGRID_SELF_OTLP_SERVICE_NAME
  value: {{ printf "cloudgrid-%s" .component | quote }}
{{- end }}
{{- end -}}

{{/* What every service gets: services mode, the log filter, the admin address. */}}
{{- define "cloudgrid.env.common" }}
- name: CLOUDGRID_DEPLOYMENT_MODE
  value: deployed
- name: CLOUDGRID_ADMIN_ADDR
  value: "0.0.0.0:9464"
{{- include "cloudgrid.envIfSet" (dict "name" "CLOUDGRID_LOG" "value" .Values.log) }}
{{- end -}}

{{/* SurrealDB: the URL, the credentials, and what every storage service must agree on. */}}
{{- define "cloudgrid.env.surreal" }}
{{- $url := required "surreal.url is required: ws://HOST:PORT or wss://HOST:PORT of the SurrealDB server" .Values.surreal.url }}
{{- if not (regexMatch "^wss?://" $url) }}
{{- fail (printf "surreal.url must be ws:// or wss:// (a SurrealDB server shared by the services), got %q" $url) }}
{{- end }}
- name: CLOUDGRID_SURREAL_URL
  value: {{ $url | quote }}
{{- include "cloudgrid.envFromSecret" (dict "name" "CLOUDGRID_SURREAL_USER" "secret" (include "cloudgrid.surrealSecret" .) "key" "username") }}
{{- include "cloudgrid.envFromSecret" (dict "name" "CLOUDGRID_SURREAL_PASSWORD" "secret" (include "cloudgrid.surrealSecret" .) "key" "password") }}
{{- include "cloudgrid.envIfSet" (dict "name" "CLOUDGRID_ROLLUP_TIERS" "value" .Values.storage.rollupTiers) }}
{{- include "cloudgrid.envIfSet" (dict "name" "CLOUDGRID_CHUNK_SPAN_MS" "value" .Values.storage.chunkSpanMs) }}
{{- end -}}

{{/* NATS: (dict "root" $ "key" "url") — the key of the NATS Secret this service reads. */}}
{{- define "cloudgrid.env.nats" }}
{{- include "cloudgrid.envFromSecret" (dict "name" "CLOUDGRID_NATS_URL" "secret" (include "cloudgrid.natsSecret" .root) "key" (default "url" .key)) }}
{{- include "cloudgrid.envIfSet" (dict "name" "CLOUDGRID_NATS_NAMESPACE" "value" .root.Values.nats.namespace) }}
{{- include "cloudgrid.envIfSet" (dict "name" "CLOUDGRID_NATS_MAX_BYTES" "value" .root.Values.nats.maxBytes) }}
{{- end -}}

{{/*
The internal gRPC credential: (dict "root" $ "role" "bff"|"collector"|"server" "peers" (list "bff")).
Clients send the shared token, or their own with peer tokens; servers take the shared
token and, with peer tokens, the own token of each caller in `peers` (CLOUDGRID_SERVICE_PEER_TOKENS, composed
from the Secret's keys by Kubernetes' $(VAR) expansion).
*/}}
{{- define "cloudgrid.env.serviceToken" }}
{{- $secret := include "cloudgrid.serviceTokenSecret" .root }}
{{- $peers := .root.Values.serviceToken.peerTokens.enabled }}
{{- if and $peers (ne .role "server") }}
{{- include "cloudgrid.envFromSecret" (dict "name" "CLOUDGRID_SERVICE_TOKEN" "secret" $secret "key" (printf "%s-token" .role)) }}
{{- else }}
{{- include "cloudgrid.envFromSecret" (dict "name" "CLOUDGRID_SERVICE_TOKEN" "secret" $secret "key" "token") }}
{{- end }}
{{- if and $peers (eq .role "server") }}
{{- $list := list }}
{{- range $peer := .peers }}
{{- $var := printf "PEER_TOKEN_%s" ($peer | upper) }}
{{- include "cloudgrid.envFromSecret" (dict "name" $var "secret" $secret "key" (printf "%s-token" $peer)) }}
{{- $list = append $list (printf "%s=$(%s)" $peer $var) }}
{{- end }}
- name: CLOUDGRID_SERVICE_PEER_TOKENS
  value: {{ join "," $list | quote }}
{{- end }}
{{- end -}}

{{/* Where clients dial the control plane and storage-read: the Services' names (host:port). */}}
{{- define "cloudgrid.controlPlaneAddr" -}}
{{- printf "%s:%v" (include "cloudgrid.componentName" (dict "root" . "component" "control-plane")) .Values.controlPlane.service.port -}}
{{- end -}}
{{- define "cloudgrid.storageReadAddr" -}}
{{- printf "%s:%v" (include "cloudgrid.componentName" (dict "root" . "component" "storage-read")) .Values.storageRead.service.port -}}
{{- end -}}

{{- define "cloudgrid.serviceAccountName" -}}
{{- if .root.Values.serviceAccount.create -}}
{{- include "cloudgrid.componentName" . -}}
{{- else -}}
default
{{- end -}}
{{- end -}}

{{/*
The pod template of a service.
(dict "root" $ "component" "bff" "svc" .Values.bff "env" <rendered env list>
      "ports" <rendered containerPort list> "preStop" true|false "extraLabels" map)
*/}}
{{- define "cloudgrid.podTemplate" -}}
{{- $root := .root -}}
{{- $svc := .svc -}}
metadata:
  labels:
    {{- include "cloudgrid.labels" (dict "root" $root "component" .component) | nindent 4 }}
    {{- with .extraLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    {{- with $svc.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $svc.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  serviceAccountName: {{ include "cloudgrid.serviceAccountName" (dict "root" $root "component" .component) }}
  automountServiceAccountToken: false
  enableServiceLinks: false
  terminationGracePeriodSeconds: {{ $svc.terminationGracePeriodSeconds }}
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- range . }}
    - name: {{ . }}
    {{- end }}
  {{- end }}
  securityContext:
    {{- toYaml $root.Values.podSecurityContext | nindent 4 }}
  {{- with $svc.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $svc.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $svc.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $svc.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: {{ .component }}
      image: {{ include "cloudgrid.image" $root | quote }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      {{- with $root.Values.image.command }}
      command:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      args:
        - {{ .component }}
      env:
        {{- include "cloudgrid.env.common" $root | trim | nindent 8 }}
        {{- with (include "cloudgrid.env.selfObservability" (dict "root" $root "component" .component) | trim) }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- with (.env | trim) }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- with $root.Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- with $svc.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        - name: admin
          containerPort: 9464
          protocol: TCP
        {{- with (.ports | trim) }}
        {{- . | nindent 8 }}
        {{- end }}
      startupProbe:
        httpGet:
          path: /healthz
          port: admin
        periodSeconds: 5
        failureThreshold: {{ div $root.Values.probes.startupTimeoutSeconds 5 | max 1 }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: admin
        periodSeconds: {{ $root.Values.probes.livenessPeriodSeconds }}
        failureThreshold: {{ $root.Values.probes.livenessFailureThreshold }}
        timeoutSeconds: 2
      readinessProbe:
        httpGet:
          path: /readyz
          port: admin
        periodSeconds: {{ $root.Values.probes.readinessPeriodSeconds }}
        failureThreshold: {{ $root.Values.probes.readinessFailureThreshold }}
        timeoutSeconds: 2
      {{- if and .preStop (gt (int $root.Values.preStopSleepSeconds) 0) }}
      lifecycle:
        preStop:
          sleep:
            seconds: {{ int $root.Values.preStopSleepSeconds }}
      {{- end }}
      resources:
        {{- toYaml $svc.resources | nindent 8 }}
      securityContext:
        {{- toYaml $root.Values.containerSecurityContext | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
{{- end -}}

{{/* A PodDisruptionBudget: (dict "root" $ "component" "bff" "svc" .Values.bff) */}}
{{- define "cloudgrid.pdb" -}}
{{- if .svc.pdb.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "cloudgrid.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "cloudgrid.labels" . | nindent 4 }}
spec:
  maxUnavailable: {{ .svc.pdb.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "cloudgrid.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}

{{/* A HorizontalPodAutoscaler of a Deployment: (dict "root" $ "component" "bff" "svc" .Values.bff) */}}
{{- define "cloudgrid.hpa" -}}
{{- if .svc.autoscaling.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "cloudgrid.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "cloudgrid.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "cloudgrid.componentName" . }}
  minReplicas: {{ .svc.autoscaling.minReplicas }}
  maxReplicas: {{ .svc.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .svc.autoscaling.targetCPUUtilizationPercentage }}
  behavior:
    scaleDown:
      # Scale in slowly: live sessions and WebSockets move when a pod goes.
      stabilizationWindowSeconds: 300
{{- end }}
{{- end -}}

{{/*
A Deployment: (dict "root" $ "component" "bff" "svc" .Values.bff "env" ... "ports" ...
"preStop" bool "autoscaled" bool)
*/}}
{{- define "cloudgrid.deployment" -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "cloudgrid.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "cloudgrid.labels" . | nindent 4 }}
spec:
  {{- if not .autoscaled }}
  replicas: {{ .svc.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "cloudgrid.selectorLabels" . | nindent 6 }}
  strategy:
    {{- if .recreate }}
    type: Recreate
    {{- else }}
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 1
    {{- end }}
  template:
    {{- include "cloudgrid.podTemplate" . | nindent 4 }}
{{- end -}}

{{/* NetworkPolicy egress rules to NATS. */}}
{{- define "cloudgrid.egress.nats" }}
- to:
    {{- toYaml .Values.nats.networkPolicy.peers | nindent 4 }}
  ports:
    {{- toYaml .Values.nats.networkPolicy.ports | nindent 4 }}
{{- end -}}

{{/* NetworkPolicy egress rules to SurrealDB. */}}
{{- define "cloudgrid.egress.surreal" }}
- to:
    {{- toYaml .Values.surreal.networkPolicy.peers | nindent 4 }}
  ports:
    {{- toYaml .Values.surreal.networkPolicy.ports | nindent 4 }}
{{- end -}}

{{/* NetworkPolicy egress rule to one of the chart's services: (dict "root" $ "component" "x" "port" 4320) */}}
{{- define "cloudgrid.egress.component" }}
- to:
    - podSelector:
        matchLabels:
          {{- include "cloudgrid.selectorLabels" . | nindent 10 }}
  ports:
    - port: {{ .port }}
      protocol: TCP
{{- end -}}

{{/* NetworkPolicy ingress rule for scraping /metrics. */}}
{{- define "cloudgrid.ingress.metrics" }}
{{- with .Values.networkPolicy.metricsPeers }}
- from:
    {{- toYaml . | nindent 4 }}
  ports:
    - port: 9464
      protocol: TCP
{{- end }}
{{- end -}}

{{/*
A service's NetworkPolicy: (dict "root" $ "component" "x" "svc" .Values.x
"ingress" <rendered rules> "egress" <rendered rules>). Everything not listed stays
denied by the release's default-deny policy.
*/}}
{{- define "cloudgrid.networkPolicy" -}}
{{- if .root.Values.networkPolicy.enabled }}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "cloudgrid.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "cloudgrid.labels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "cloudgrid.selectorLabels" . | nindent 6 }}
  policyTypes:
    - Ingress
    - Egress
  {{- $ingress := printf "%s%s" (include "cloudgrid.ingress.metrics" .root) .ingress | trim }}
  {{- if $ingress }}
  ingress:
    {{- $ingress | nindent 4 }}
  {{- else }}
  ingress: []
  {{- end }}
  egress:
    {{- .egress | trim | nindent 4 }}
    {{- if and .root.Values.selfObservability.enabled (not .root.Values.selfObservability.endpoint) (ne .component "collector") }}
    {{- include "cloudgrid.egress.component" (dict "root" .root "component" "collector" "port" 4318) | trim | nindent 4 }}
    {{- end }}
    {{- with .svc.networkPolicy.extraEgress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}
{{- end -}}
