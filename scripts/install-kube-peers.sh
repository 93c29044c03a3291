#!/usr/bin/env bash
# Installs the Kubernetes control plane the Kubernetes store's integration tests run
# against into .tools/bin (gitignored): kube-apiserver, etcd and kubectl (for the
# manifests' server-side dry runs), built from the Go module proxy in the wrapper modules
# under scripts/go-tools/ (their go.mod pins k8s.io/kubernetes v1.30.14 with every k8s.io
# staging module replaced by v0.30.14, and etcd's server v3.5.21). kubectl is built from
# kube-apiserver's module, so it links from the packages that build already compiled.
#
# It also generates the two Prometheus Operator CRDs the manifests use (ServiceMonitor,
# PrometheusRule, monitoring.coreos.com/v1) into .tools/crds/, for the server-side dry
# runs: the way the operator's Makefile makes them (`controller-gen crd:crdVersions=v1`)
# from the Go types of github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring
# v0.93.0, with controller-gen v0.21.0 (the one that release used), both pinned in
# scripts/go-tools/monitoring-crds. Nothing of them is committed.
#
# A build is slow (kube-apiserver: about ten minutes on two busy cores, 115 MB), so each
# binary is also kept by version in a per-user cache,
#   ${XDG_CACHE_HOME:-$HOME/.cache}/token-rotator/go-tools/<name>-<version>,
# and a checkout whose .tools/bin lacks it links to the cached copy instead of building:
# a fresh clone on the same machine (CI) then takes a second. Skipped entirely when
# .tools/bin/<name>.version already says the pinned version.
#
# Go: $GO, else `go` on PATH, else /usr/local/go/bin/go; never another toolchain
# (GOTOOLCHAIN=local), no cgo, modules resolved from the wrapper's go.mod/go.sum.
set -euo pipefail
cd "$(dirname "$0")/.."

KUBE_APISERVER_VERSION=v1.30.14
KUBECTL_VERSION=$KUBE_APISERVER_VERSION
ETCD_VERSION=v3.5.21
PROMETHEUS_OPERATOR_VERSION=v0.93.0

TOOLS="$PWD/.tools/bin"
CACHE="${XDG_CACHE_HOME:-${HOME:-$PWD/.tools}/.cache}/token-rotator/go-tools"
mkdir -p "$TOOLS" "$CACHE"

go_bin() {
  if [ -n "${GO:-}" ]; then echo "$GO"
  elif command -v go >/dev/null 2>&1; then command -v go
  elif [ -x /usr/local/go/bin/go ]; then echo /usr/local/go/bin/go
  else echo "install-kube-peers: Go is needed to build kube-apiserver and etcd (https://go.dev/dl/)" >&2; return 1
  fi
}

# build NAME PACKAGE VERSION [LDFLAGS] [MODULE]: builds PACKAGE in scripts/go-tools/MODULE
# (default NAME) into the cache (unless there), then links .tools/bin/NAME to it.
build() {
  local name=$1 package=$2 version=$3 ldflags=${4:-} module=${5:-$1}
  if [ -x "$TOOLS/$name" ] && [ "$(cat "$TOOLS/$name.version" 2>/dev/null)" = "$version" ]; then return 0; fi
  local cached="$CACHE/$name-$version"
  if [ ! -x "$cached" ]; then
    local go
    go=$(go_bin)
    if [ -z "${HOME:-}" ] && [ -z "${GOPATH:-}" ]; then
      export GOPATH="$PWD/.tools/go" GOCACHE="$PWD/.tools/go-build" GOFLAGS="${GOFLAGS:-} -modcacherw"
    fi
    echo "install-kube-peers: building $name $version (minutes; cached in $CACHE afterwards)" >&2
    # Into a temporary name first, so an interrupted build never leaves a cached binary.
    (cd "scripts/go-tools/$module" &&
      GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=mod" \
        nice -n 10 "$go" build -trimpath -ldflags="-s -w $ldflags" -o "$cached.partial" "$package")
    mv -f "$cached.partial" "$cached"
  fi
  ln -sfn "$cached" "$TOOLS/$name"
  echo "$version" > "$TOOLS/$name.version"
}

# The -X settings Kubernetes' own build makes, so /version reports what was built.
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$KUBE_APISERVER_VERSION" "\
-X k8s.io/component-base/version.gitVersion=$KUBE_APISERVER_VERSION \
-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=30"
build etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
# kubectl's own build (hack/lib/version.sh) sets the version in both packages: client-go's
# is what `kubectl version` prints as the client, component-base's what its flags report.
build kubectl k8s.io/kubernetes/cmd/kubectl "$KUBECTL_VERSION" "\
-X k8s.io/client-go/pkg/version.gitVersion=$KUBECTL_VERSION \
-X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=30 \
-X k8s.io/component-base/version.gitVersion=$KUBECTL_VERSION \
-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=30" kube-apiserver

# crds: the ServiceMonitor and PrometheusRule CRDs, cached by version like the binaries.
crds() {
  local version=$PROMETHEUS_OPERATOR_VERSION dir="$PWD/.tools/crds"
  if [ "$(cat "$dir/monitoring.coreos.com.version" 2>/dev/null)" = "$version" ]; then return 0; fi
  local cached="$CACHE/monitoring-crds-$version"
  if [ ! -d "$cached" ]; then
    local go out
    go=$(go_bin)
    out=$(mktemp -d)
    echo "install-kube-peers: generating the monitoring.coreos.com CRDs $version (a minute)" >&2
    (cd scripts/go-tools/monitoring-crds &&
      GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=mod" \
        nice -n 10 "$go" build -trimpath -o "$out/controller-gen" sigs.k8s.io/controller-tools/cmd/controller-gen &&
      GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -mod=mod" "$out/controller-gen" crd:crdVersions=v1 \
        paths=github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1 output:crd:dir="$out/crds")
    mkdir -p "$cached.partial"
    cp "$out/crds/monitoring.coreos.com_servicemonitors.yaml" "$out/crds/monitoring.coreos.com_prometheusrules.yaml" \
      "$cached.partial/"
    rm -rf "$out" "$cached"
    mv "$cached.partial" "$cached"
  fi
  mkdir -p "$dir"
  ln -sfn "$cached" "$dir/monitoring.coreos.com"
  echo "$version" > "$dir/monitoring.coreos.com.version"
}
crds

echo "kube peers: $("$TOOLS/kube-apiserver" --version 2>&1 | head -n1), etcd $("$TOOLS/etcd" --version 2>&1 | head -n1)," \
  "kubectl $("$TOOLS/kubectl" version --client -o json 2>/dev/null | sed -n 's/.*"gitVersion": *"\([^"]*\)".*/\1/p' | head -n1)"
