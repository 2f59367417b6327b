#!/usr/bin/env bash
# Offline checks of the deployment files, for CI (.ci/run) and before a
# release. Exits non-zero on the first kind of problem it finds:
#
#   1. `kubectl kustomize infra/k8s` renders (kubectl, or Debian's
#      kubernetes-client installed with apt-get when there is none);
#   2. every rendered object validates against the Kubernetes JSON schemas
#      bundled in the PyPI package kubernetes-validate (strict: unknown
#      fields are errors too), with no cluster and no network;
#   3. the configs inlined into ConfigMaps match their sources
#      (infra/nats/cluster.conf, infra/otel/collector.yaml), since kustomize
#      cannot load files outside infra/k8s; and nats-server accepts the
#      NATS one (`-t`) when it is installed;
#   4. infra/prometheus/alerts.yaml: every rule has alert, expr, for,
#      labels.severity and annotations (summary, description, runbook), its
#      expression parses as PromQL (promql-parser), and its runbook anchor
#      exists in docs/operations.md.
#
#   KEYWAY_K8S_VENV   venv for the Python checkers (default: ~/.cache/keyway/k8s-venv)
#   PYTHON            interpreter used to create it (default: python3)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${KEYWAY_K8S_VENV:-$HOME/.cache/keyway/k8s-venv}"
python="${PYTHON:-python3}"
# Pinned: the schemas ship inside the wheel, so a version is a schema set.
requirements=("kubernetes-validate==1.37.0" "promql-parser==0.12.0" "PyYAML>=6")
# The Kubernetes version whose schemas are checked against.
k8s_version="${KEYWAY_K8S_VERSION:-1.30.0}"

log() { echo "check-k8s: $*" >&2; }

# --- tools -----------------------------------------------------------------

if ! command -v kubectl >/dev/null; then
    command -v apt-get >/dev/null || { log "kubectl is required (apt-get not found)"; exit 1; }
    log "installing Debian's kubernetes-client (kubectl)"
    sudo_cmd=""
    [[ "$(id -u)" == 0 ]] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq kubernetes-client >&2
fi

want="$(printf '%s\n' "${requirements[@]}" | sha256sum | cut -d' ' -f1)"
stamp="$venv/.keyway-k8s.sha256"
if [[ ! -x "$venv/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    log "installing ${requirements[*]} into $venv"
    mkdir -p "$(dirname "$venv")"
    [[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${requirements[@]}" >&2
    echo "$want" > "$stamp"
fi

# --- 1 and 2: render, then validate every object ----------------------------

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rendered="$work/rendered.yaml"

kubectl kustomize "$repo_root/infra/k8s" > "$rendered"
count="$(grep -c '^kind:' "$rendered")"
log "rendered $count objects from infra/k8s"

# The example Secret must never be applied by `kubectl apply -k`.
if grep -q 'REPLACE' "$rendered"; then
    log "the rendered manifests contain secret.example.yaml's placeholders"
    exit 1
fi

"$venv/bin/kubernetes-validate" --strict --quiet --kubernetes-version "$k8s_version" "$rendered"
log "all $count objects valid against the Kubernetes $k8s_version schemas (strict)"

# --- 3 and 4: inlined configs and alert rules -------------------------------

"$venv/bin/python" - "$repo_root" "$rendered" <<'PY'
import re, sys, yaml, promql_parser
from pathlib import Path

root, rendered = Path(sys.argv[1]), sys.argv[2]
objects = {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(open(rendered)) if o}
failures = []

def directives(text):
    """The NATS config without comments and blank lines."""
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]

nats_inlined = objects[("ConfigMap", "keyway-nats-config")]["data"]["nats.conf"]
if directives(nats_inlined) != directives((root / "infra/nats/cluster.conf").read_text()):
    failures.append("infra/k8s/nats-config.yaml differs from infra/nats/cluster.conf")
Path(rendered).with_name("nats.conf").write_text(nats_inlined)

otel_inlined = objects[("ConfigMap", "otel-collector-config")]["data"]["collector.yaml"]
if yaml.safe_load(otel_inlined) != yaml.safe_load((root / "infra/otel/collector.yaml").read_text()):
    failures.append("infra/k8s/otel-collector.yaml differs from infra/otel/collector.yaml")

# Every workload container has probes and resources.
for (kind, name), obj in objects.items():
    if kind not in ("Deployment", "StatefulSet"):
        continue
    for c in obj["spec"]["template"]["spec"]["containers"]:
        for field in ("readinessProbe", "livenessProbe", "resources"):
            if field not in c:
                failures.append(f"{kind} {name}: container {c['name']} has no {field}")
        if "requests" not in c.get("resources", {}):
            failures.append(f"{kind} {name}: container {c['name']} has no resource requests")

# Alert rules.
anchors = {
    re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
    for h in re.findall(r"^#+ (.+)$", (root / "docs/operations.md").read_text(), re.M)
}
alerts_path = root / "infra/prometheus/alerts.yaml"
try:
    doc = yaml.safe_load(alerts_path.read_text())
except yaml.YAMLError as e:
    sys.exit(f"check-k8s: {alerts_path} is not YAML: {e}")
rules, seen = 0, set()
for group in doc.get("groups") or []:
    if not group.get("name") or not group.get("rules"):
        failures.append(f"alerts: a group without a name or rules: {group.get('name')}")
        continue
    for rule in group["rules"]:
        name = rule.get("alert", "<no alert name>")
        rules += 1
        if name in seen:
            failures.append(f"alerts: {name} is defined twice")
        seen.add(name)
        for field in ("alert", "expr", "for", "labels", "annotations"):
            if field not in rule:
                failures.append(f"alerts: {name} has no {field}")
        if not re.fullmatch(r"\d+[smhdwy]", str(rule.get("for", ""))):
            failures.append(f"alerts: {name}: `for` is not a duration")
        if (rule.get("labels") or {}).get("severity") not in ("critical", "warning", "info"):
            failures.append(f"alerts: {name}: labels.severity must be critical, warning or info")
        notes = rule.get("annotations") or {}
        for field in ("summary", "description", "runbook"):
            if not notes.get(field):
                failures.append(f"alerts: {name} has no annotations.{field}")
        anchor = str(notes.get("runbook", "")).partition("#")[2]
        if anchor and anchor not in anchors:
            failures.append(f"alerts: {name}: no section #{anchor} in docs/operations.md")
        try:
            promql_parser.parse(str(rule.get("expr", "")))
        except Exception as e:  # the parser raises ValueError with the position
            failures.append(f"alerts: {name}: expr is not PromQL: {e}")
if rules == 0:
    failures.append("alerts: no rules")

for f in failures:
    print(f"check-k8s: {f}", file=sys.stderr)
if failures:
    sys.exit(1)
print(f"check-k8s: inlined NATS and collector configs match their sources; "
      f"{rules} alert rules well-formed", file=sys.stderr)
PY

# nats-server's own config test, with the values the StatefulSet gives it.
nats_server="$(command -v nats-server || { [[ -x /usr/sbin/nats-server ]] && echo /usr/sbin/nats-server; } || true)"
if [[ -n "$nats_server" ]]; then
    NATS_SERVER_NAME=keyway-nats-0 NATS_HOST=127.0.0.1 NATS_PORT=4222 NATS_HTTP_PORT=8222 \
    NATS_CLUSTER_PORT=6222 NATS_STORE_DIR="$work/js" \
    NATS_ROUTE_1=nats-route://127.0.0.1:6222 NATS_ROUTE_2=nats-route://127.0.0.1:6223 \
    NATS_ROUTE_3=nats-route://127.0.0.1:6224 \
        "$nats_server" -t -c "$work/nats.conf" >&2
    log "nats-server -t accepts the inlined NATS config"
else
    log "nats-server not installed: skipped its config test"
fi
log "ok"
