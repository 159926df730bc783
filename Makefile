# arlab: the two commands a newcomer needs are `make demo` and `make test`.
GO       ?= go
BIN      := bin/arlab
PKGS     := ./...
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
STATICCHECK_VERSION := v0.8.2
# Short fuzzing of every parser in `make test` (an execution count: a duration
# limit can end while a worker is mid-input and fail with "context deadline
# exceeded"); `make fuzz FUZZTIME=1m` for a longer run.
FUZZTIME ?= 1000x

.PHONY: all build test unit fuzz lint vet fmt demo lab bench clean help

all: build

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 12

build: ## build bin/arlab
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/arlab

test: unit fuzz ## unit, integration, real-peer and e2e tests with -race, then short fuzzing

unit: ## go test -race over every package
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

fuzz: ## run each fuzz target for FUZZTIME
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$t ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg >/tmp/arlab-fuzz.log 2>&1 || { cat /tmp/arlab-fuzz.log; exit 1; }; \
	  done; \
	done

vet: ## go vet
	$(GO) vet $(PKGS)

lint: vet ## go vet plus staticcheck
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

fmt: ## gofmt every file
	gofmt -w $$(git ls-files '*.go')

demo: build ## run the recording demos and print the summary table
	$(BIN) demo

lab: build ## bring up the lab (Ctrl-C stops it)
	$(BIN) lab up

bench: build ## hot-path micro-benchmarks (allocs/op), then a short arlab load run on a lab
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/... | tee bench.out | grep -E '^(Benchmark|ok|PASS|FAIL)'
	$(BIN) --log-level warn load --calls 50 --cps 25 --hold 5s

clean: ## remove build output
	rm -rf bin bench.out
