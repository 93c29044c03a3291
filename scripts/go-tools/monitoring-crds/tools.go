//go:build tools

// The Prometheus Operator's CRDs (ServiceMonitor, PrometheusRule), generated the way its
// own Makefile does (`controller-gen crd:crdVersions=v1 paths=./v1/.`) from the Go types
// of the pinned API module, for the manifests' server-side dry runs.
package tools

import (
	_ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
)
