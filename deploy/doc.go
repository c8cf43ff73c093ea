// Package deploy holds clvflow's production deployment files and the test
// that keeps them structurally valid.
//
// The files themselves are not Go: deploy/compose/ has a multi-stage
// Dockerfile for the single clvflow image and a Docker Compose stack
// (PostgreSQL, Temporal, Temporal UI, MinIO, the clvflow worker and scoring
// server, and one-shot set-up services); deploy/k8s/ has plain Kubernetes
// manifests tied together by a kustomization.yaml. deploy/README.md is the
// operator's guide.
//
// The package's test parses every YAML document under compose/ and k8s/ and
// checks what a typo would break at deploy time rather than at review time:
// services and their dependencies, health checks, loopback-only port
// bindings, interpolated variables, pinned images, CLVFLOW_* variables
// against the known configuration keys, the Temporal search attributes,
// Deployment selectors, probe and Service ports, ConfigMap/Secret references
// and the kustomization's resource list. It needs no network and no Docker or
// Kubernetes tooling.
package deploy
