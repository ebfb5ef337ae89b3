#!/usr/bin/env bash
# Validates the Kubernetes manifests under deploy/kubernetes against the Kubernetes schemas, offline
# (kubernetes-validate from PyPI ships them), strictly: unknown fields are errors. A broken copy of
# the Job is shown first and must be rejected, so that a validator that checks nothing cannot pass.
set -euo pipefail
cd "$(dirname "$0")/.."
KUBERNETES_VALIDATE_VERSION=1.37.0
venv=target/ci/tools/k8s-venv
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
fi
broken="$(mktemp --suffix=.yaml)"
trap 'rm -f "$broken"' EXIT
sed 's/^  completionMode: Indexed$/  completionMode: Indexed\n  completionz: 4/' deploy/kubernetes/job.yaml > "$broken"
if "$venv/bin/kubernetes-validate" --strict --quiet "$broken" >/dev/null 2>&1; then
  echo "kubernetes-validate accepted a Job with an unknown field: it checks nothing" >&2
  exit 1
fi
"$venv/bin/kubernetes-validate" --strict deploy/kubernetes/*.yaml
