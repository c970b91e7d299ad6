# aas — autoscaling as a service.
GO        ?= go
BIN       := bin/ctl
PKGS      := ./...
TRACES    ?= ../shared/traces
export CGO_ENABLED ?= 0

.PHONY: all build run dev demo test test-short e2e bench bench-elasticity lint vet fmt-check tidy-check import-check clean lab-up lab-down

all: build

build:
	$(GO) build -o $(BIN) ./cmd/ctl

## demo: the README's first command — a dev agent, the demo tenant and one
## NASA day replayed in three minutes, every scaling action with its reason.
demo: build
	$(GO) run ./e2e/demo -ctl $(BIN) -trace $(TRACES)/nasa_http_1995.csv

## run / dev: the dev agent (single node, no root).
run dev: build
	./$(BIN) agent -dev

## test: everything CI runs — static checks, then the whole suite under -race.
test: vet fmt-check import-check
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 25m $(PKGS)
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 10m -tags libvirt ./nodes/...

test-short:
	$(GO) test -short -count=1 $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1x -timeout 30m $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## import-check: fsm and scaler import nothing of the project outside their
## own tree; nodes and netcfg never import cluster.
import-check:
	@fail=0; \
	for tree in fsm scaler nodes netcfg; do \
	  for p in $$($(GO) list ./$$tree/...); do \
	    for i in $$($(GO) list -f '{{join .Imports " "}} {{join .TestImports " "}}' $$p); do \
	      case "$$tree:$$i" in \
	        fsm:aas/fsm|fsm:aas/fsm/*|scaler:aas/scaler|scaler:aas/scaler/*) ;; \
	        fsm:aas|fsm:aas/*|scaler:aas|scaler:aas/*) echo "import-check: $$p imports $$i ($$tree must stay pure)"; fail=1;; \
	        nodes:aas/cluster|nodes:aas/cluster/*|netcfg:aas/cluster|netcfg:aas/cluster/*) echo "import-check: $$p imports $$i ($$tree must not import cluster)"; fail=1;; \
	      esac; \
	    done; \
	  done; \
	done; \
	exit $$fail

tidy-check:
	@cp go.mod /tmp/aas-go.mod.bak; cp go.sum /tmp/aas-go.sum.bak; \
	$(GO) mod tidy; \
	if ! cmp -s go.mod /tmp/aas-go.mod.bak || ! cmp -s go.sum /tmp/aas-go.sum.bak; then \
	  echo "go.mod/go.sum not tidy (run go mod tidy)"; cp /tmp/aas-go.mod.bak go.mod; cp /tmp/aas-go.sum.bak go.sum; exit 1; fi

lint: vet fmt-check import-check tidy-check

clean:
	rm -rf bin

## bench-elasticity: the simulator on every trace in $(TRACES) against the baselines; writes docs/elasticity.md.
bench-elasticity: build
	TRACES=$(TRACES) CTL=./$(BIN) bash scripts/bench-elasticity.sh

## lab-up / lab-down: the three-cloud lab in network namespaces (root).
lab-up: build
	$(GO) run ./e2e/lab up -clouds 3 -ctl $(BIN)

lab-down:
	$(GO) run ./e2e/lab down
