//go:build tools

// Both binaries come from this one module: kubectl then links from the packages (and the
// Go build cache) of kube-apiserver's build, at the very same k8s.io/* versions.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
