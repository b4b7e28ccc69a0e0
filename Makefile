# wxpay — build, test and run the WeChat Pay serverless bundle.
#
#   make test     the whole suite: unit + integration (starts moto_server and
#                 redis-server on loopback itself; nothing is skipped when CI=true)
#   make run      every function locally on one port, with the simulator in-process
#   make bench    benchmarks, printed with their ratios against in-run baselines
#   make build    arm64 Linux binaries for Lambda (bootstrap) and SCF, in build/
#   make soak     10,000 notifications against a real `wxpay serve` on bbolt and Redis,
#                 with kill -9 and a Redis restart mid-storm (loopback, bounded, ~2 min)

GO          ?= go
TESTFLAGS   ?=
ADDR        ?= 127.0.0.1:8080
KEYS_DIR    ?= .wxpay/sim
# Functions that have a main package; each becomes build/<name>/bootstrap.
FUNCTIONS   := $(patsubst functions/%/cmd/main.go,%,$(wildcard functions/*/cmd/main.go))
LAMBDA_ENV  := CGO_ENABLED=0 GOOS=linux GOARCH=arm64
LDFLAGS     := -s -w
BUILD_TAGS  := lambda.norpc,wxpay_noscf

.PHONY: all test test-short bench fuzz run build lint package clean deploy-aws deploy-tencent tools soak

all: lint test build

test:
	$(GO) vet ./...
	$(GO) test $(TESTFLAGS) -count=1 -timeout 30m ./...

# Unit tests only: integration tests that need real servers skip themselves
# when WXPAY_SHORT is set (never in CI).
test-short:
	WXPAY_SHORT=1 $(GO) test $(TESTFLAGS) -count=1 -short ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 30m ./shared/...

# Each fuzz target a short while; seed corpora live in testdata/fuzz.
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s $$pkg || exit 1; \
	  done; \
	done

run:
	$(GO) run ./cmd/wxpay serve --addr $(ADDR) --keys-dir $(KEYS_DIR)

# The soak (cmd/wxpay-soak): SOAKFLAGS e.g. -backends bolt -orders 1000 -notifications 3000 -keep.
SOAKFLAGS ?=
soak:
	$(GO) run ./cmd/wxpay-soak $(SOAKFLAGS)

build: $(FUNCTIONS:%=build/%/bootstrap) build/wxpay

build/%/bootstrap: FORCE
	$(LAMBDA_ENV) $(GO) build -trimpath -tags $(BUILD_TAGS) -ldflags '$(LDFLAGS)' -o $@ ./functions/$*/cmd

build/wxpay: FORCE
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/wxpay

FORCE:

# sam build (BuildMethod: makefile) calls build-<LogicalId> with ARTIFACTS_DIR set.
build-NotifyFunction:
	$(LAMBDA_ENV) $(GO) build -trimpath -tags $(BUILD_TAGS) -ldflags '$(LDFLAGS)' -o $(ARTIFACTS_DIR)/bootstrap ./functions/notify/cmd

lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@if command -v cfn-lint >/dev/null; then cfn-lint template.yaml; else echo "cfn-lint not installed: template.yaml not linted"; fi

# SCF's Go1 runtime is linux/amd64: build/scf/<fn>/bootstrap, zipped for upload.
SCF_ENV := CGO_ENABLED=0 GOOS=linux GOARCH=amd64
package: build
	@for f in $(FUNCTIONS); do \
	  mkdir -p build/scf/$$f && \
	  $(SCF_ENV) $(GO) build -trimpath -tags lambda.norpc,wxpay_noeventbridge -ldflags '$(LDFLAGS)' -o build/scf/$$f/bootstrap ./functions/$$f/cmd && \
	  (cd build/scf/$$f && rm -f ../$$f.zip && zip -q -9 ../$$f.zip bootstrap) && echo "build/scf/$$f.zip"; \
	done

deploy-aws:
	sam build && sam deploy --guided

deploy-tencent: package
	sls deploy

clean:
	rm -rf build .aws-sam
