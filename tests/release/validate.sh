#!/usr/bin/env bash
# Static validation of the release artifacts, without Docker, a registry or a cluster:
# the workflows (.github/workflows/verify.yml, release.yml), the Dockerfile and
# .dockerignore, compose.yaml, the chart's version, the release manifest generator
# (.github/scripts/release_manifest.py) against docs/release/release-manifest.schema.json,
# and release-values.yaml rendered with the chart. Then the cases that must fail (a
# mismatched chart version, a root USER, a manifest without a digest, ...) are run against
# temporary copies of the files. See tests/release/validate.py for every check.
#
# Installs what it needs on first use into a cache directory shared with
# tests/helm/validate.sh: helm as that script pins it (the same binary), and a virtualenv
# with tests/release/requirements.txt. Runs from any directory; exits non-zero on any
# failure.
#
# Environment: CLOUDGRID_HELM_CACHE (default $HOME/.cache/cloudgrid-helm),
# CLOUDGRID_HELM_BIN (a helm binary to use instead of the pinned one).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${CLOUDGRID_HELM_CACHE:-$HOME/.cache/cloudgrid-helm}"

mkdir -p "$CACHE"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# --- helm: the one tests/helm/validate.sh pins, at the same place in the cache -------
# shellcheck source=../helm/helm-tool.sh
source "$ROOT/tests/helm/helm-tool.sh"
HELM="${CLOUDGRID_HELM_BIN:-$(install_helm)}"

# --- Python with the pinned requirements --------------------------------------------
REQUIREMENTS="$HERE/requirements.txt"
VENV="$CACHE/venv-release-$(sha256sum "$REQUIREMENTS" | cut -c1-12)"
if [ ! -f "$VENV/.installed" ]; then
  echo "installing tests/release/requirements.txt into $VENV" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV" || { echo "python3 -m venv failed (on Debian: apt-get install python3-venv)" >&2; rm -rf "$VENV"; exit 1; }
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  touch "$VENV/.installed"
fi

status=0
"$VENV/bin/python" "$HERE/validate.py" --root "$ROOT" --helm "$HELM" --work "$WORK" "$@" || status=$?
exit "$status"
