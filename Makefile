# otsetl: build, run, test, bench, deploy. Every target needs only Go (deploy also needs `s`).
GO      ?= go
DIST    := dist
BINARY  := $(DIST)/otsetl

.PHONY: build run test bench deploy clean

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

## bench: the Go benchmarks.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## deploy: build, then deploy the function and its trigger with Serverless Devs (s.yaml).
deploy: build
	s deploy -y

clean:
	rm -rf $(DIST)
