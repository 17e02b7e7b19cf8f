# otsetl: build, run, test, bench, deploy. Every target needs only Go (deploy also needs `s`).
GO      ?= go
DIST    := dist
BINARY  := $(DIST)/otsetl

.PHONY: build run test bench fuzz deploy clean

## build: the function binary for FC (linux/amd64, static) in dist/, the code package of s.yaml.
build:
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags "-s -w" -o $(BINARY) ./cmd/otsetl

## run: replay the scenario in testdata/ on an embedded local Tablestore and print the result table.
run:
	$(GO) run ./cmd/otsetl replay testdata/scenario

## test: vet and the whole test suite with the race detector (needs a C toolchain for -race).
test:
	$(GO) vet ./...
	$(GO) test -race ./...

## bench: the end-to-end benchmark against otslocal with 1 ms latency (a few minutes); writes
## its tables into docs/performance.md. Smoke test: go run ./cmd/bench -events 2 -records 100 -runs 1 -rss=false
bench:
	$(GO) run ./cmd/bench -doc docs/performance.md

## fuzz: every fuzz target in turn, FUZZTIME each (make fuzz FUZZTIME=5m); failing inputs land in testdata/fuzz.
FUZZTIME ?= 60s
fuzz:
	GO=$(GO) scripts/fuzz.sh $(FUZZTIME)

## deploy: build, then deploy the function and its trigger with Serverless Devs (s.yaml).
deploy: build
	s deploy -y

clean:
	rm -rf $(DIST)
