# kubemesos — Kubernetes on Apache Mesos.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
export KUBEMESOS_BIN_DIR := $(BIN)

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: deps
deps: ## install the Debian packages the local cluster needs (containerd, runc, CNI plugins, busybox-static, iptables)
	@hack/install-deps.sh

.PHONY: tools
tools: ## build the pinned real Kubernetes components, etcd, the add-ons (CoreDNS) and the upstream test images' programs (nnp, ginkgo) into bin/ (cached per pin)
	@hack/build-tools.sh
	@hack/build-addons.sh
	@hack/build-test-images.sh

.PHONY: build
build: ## build bin/kubemesos
	CGO_ENABLED=0 $(GO) build -o $(BIN)/kubemesos ./cmd/kubemesos

.PHONY: images
images: build ## build the local container images (OCI layout tars) into _output/images
	$(BIN)/kubemesos images --out _output/images

.PHONY: up
up: deps tools images ## bring up a local kubemesos cluster (2 agents), run manifests/examples/hello.yaml, stay up until Ctrl-C
	@hack/up.sh

.PHONY: down
down: build ## stop a cluster left by `kubemesos up`
	$(BIN)/kubemesos down --dir .kubemesos

.PHONY: vet
vet: ## gofmt and go vet
	@files=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$files" ]; then echo "not gofmt-ed: $$files"; exit 1; fi
	$(GO) vet ./...

# Packages whose tests need no root: pure logic, and integration tests against a
# real API server and a real mesoslocal over loopback HTTP.
UNIT_PKGS := ./podtask/... ./offermatcher/... ./cmd/... ./migrate/... ./k8sapi/... ./bridge/... ./mesoslocal/... ./manifests/... ./internal/... ./bench/... ./conformance/report/... \
	./kubelet-executor/taskstate/... ./kubelet-executor/simnode/... ./devcluster/pki/... ./devcluster/proc/... ./devcluster/controlplane/... ./devcluster/images/...
# Packages whose tests build hosts: network namespaces, containerd, real kubelets. One at a time.
E2E_PKGS := ./kubelet-executor/... ./devcluster/node/... ./devcluster ./conformance

.PHONY: unit
unit: build ## pure and integration tests that need no containers (race detector on; simnode runs bin/kubemesos)
	KUBEMESOS_REQUIRE_BINARIES=1 $(GO) test -race -count=1 $(UNIT_PKGS)

.PHONY: e2e
e2e: build ## end-to-end tests on real hosts: kubelet-executor with a real kubelet, devcluster, conformance (root)
	KUBEMESOS_REQUIRE_BINARIES=1 $(GO) test -p 1 -count=1 -timeout 40m $(E2E_PKGS)

GOTESTSUM_VERSION := v1.13.0
CONFORMANCE_OUT ?= $(CURDIR)/_output/conformance

$(BIN)/gotestsum:
	GOBIN=$(BIN) $(GO) install gotest.tools/gotestsum@$(GOTESTSUM_VERSION)

.PHONY: conformance
conformance: build tools $(BIN)/gotestsum ## kubemesos' own scenarios with the fault scenarios on a fresh local cluster (root); JUnit XML and the table in _output/conformance; RUN=regexp narrows
	@mkdir -p $(CONFORMANCE_OUT)
	$(GO) build -o $(BIN)/conformance-report ./conformance/report/cmd/conformance-report
	@rc=0; KUBEMESOS_E2E_FAULTS=1 KUBEMESOS_REQUIRE_BINARIES=1 $(BIN)/gotestsum --format standard-verbose \
		--junitfile $(CONFORMANCE_OUT)/junit.xml --jsonfile $(CONFORMANCE_OUT)/test.json -- \
		-count=1 -timeout $(or $(TIMEOUT),120m) $(if $(RUN),-run '$(RUN)') ./conformance || rc=$$?; \
	KUBEMESOS_E2E_FAULTS=1 KUBEMESOS_REQUIRE_BINARIES=1 $(BIN)/gotestsum --format standard-verbose \
		--junitfile $(CONFORMANCE_OUT)/junit-bridge-scale.xml --jsonfile $(CONFORMANCE_OUT)/bridge-scale.json -- \
		-count=1 -timeout 30m -run '$(or $(RUN),^TestScale)' ./bridge || rc=$$?; \
	cat $(CONFORMANCE_OUT)/test.json $(CONFORMANCE_OUT)/bridge-scale.json | $(BIN)/conformance-report | tee $(CONFORMANCE_OUT)/table.txt; \
	echo "JUnit XML: $(CONFORMANCE_OUT)/junit.xml $(CONFORMANCE_OUT)/junit-bridge-scale.xml"; \
	exit $${rc}

.PHONY: conformance-upstream
conformance-upstream: build tools ## the upstream [Conformance] tests (e2e.test of the pinned module; kubemesos conformance --upstream), parallel then Serial/Disruptive, JUnit in _output/conformance; on the cluster of `make up UP_FLAGS=--test-images` or its own; FOCUS/SKIP/PROCS/SERIAL
	@hack/conformance-upstream.sh

.PHONY: bench
bench: build ## kubemesos bench: null binder, kube-scheduler and kubemesos on one API server (NODES=500 PODS=2000)
	$(BIN)/kubemesos bench --nodes $(or $(NODES),500) --pods $(or $(PODS),2000) --bin-dir $(BIN)

.PHONY: test
test: deps tools vet unit e2e ## everything CI runs: install, build, vet, unit + integration, end to end
