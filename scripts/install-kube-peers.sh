#!/usr/bin/env bash
# Installs the Kubernetes control plane the Kubernetes store's integration tests run
# against into .tools/bin (gitignored): kube-apiserver and etcd, built from the Go module
# proxy in the wrapper modules under scripts/go-tools/ (their go.mod pins k8s.io/kubernetes
# v1.30.14 with every k8s.io staging module replaced by v0.30.14, and etcd's server v3.5.21).
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
ETCD_VERSION=v3.5.21

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

# build NAME PACKAGE VERSION [LDFLAGS]: builds PACKAGE in scripts/go-tools/NAME into the
# cache (unless there), then links .tools/bin/NAME to it.
build() {
  local name=$1 package=$2 version=$3 ldflags=${4:-}
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
    (cd "scripts/go-tools/$name" &&
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

echo "kube peers: $("$TOOLS/kube-apiserver" --version 2>&1 | head -n1), etcd $("$TOOLS/etcd" --version 2>&1 | head -n1)"
