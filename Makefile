# wxpay — build, test and run the WeChat Pay serverless bundle.
#
#   make test     the whole suite: unit + integration (starts moto_server and
#                 redis-server on loopback itself; nothing is skipped when CI=true)
#   make install  the wxpay CLI into $(go env GOBIN) or $(go env GOPATH)/bin (progress while it builds)
#   make start    install, then `wxpay up`: the bundle in the background, returning once it answers;
#   make stop     stops it (`wxpay down`)
#   make run      every function locally on one port, with the simulator in-process (foreground)
#                 WEBHOOK_URL=… sends merchant events there (make start WEBHOOK_URL=… too)
#   make bench    benchmarks, printed with their ratios against in-run baselines
#   make build    AWS Lambda only: arm64 Linux bootstraps in build/<fn>/ (sam build uses
#                 build-<Name>Function), plus the host CLI build/wxpay. No SCF binaries:
#   make package  Tencent SCF: x86-64 zips in build/scf/<fn>.zip (HTTP functions: the scfweb build
#                 with scf_bootstrap; jobs: the scfevent build, also in build/scf/jobs/)
#   make lint     go vet of every main's configuration, gofmt, cfn-lint
#   make deploy-aws / deploy-tencent   sam deploy / scf deploy of the whole bundle
#   make sizes    every bootstrap's and zip's size;  make startup  exec→ready vs hello-world
#   make soak     10,000 notifications against a real `wxpay serve` on bbolt and Redis,
#                 with kill -9 and a Redis restart mid-storm (loopback, bounded, ~2 min)
#   make dst      the deterministic simulation of the bundle's money (internal/dst):
#                 SEEDS=n histories from a fresh random seed, or SEED=n to replay (and shrink) one

GO          ?= go
TESTFLAGS   ?=
ADDR        ?= 127.0.0.1:8080
KEYS_DIR    ?= .wxpay/sim
# A function is a folder functions/<name> with a Lambda main (cmd/lambda); each becomes
# build/<name>/bootstrap.
FUNCTIONS   := $(patsubst functions/%/cmd/lambda/main.go,%,$(wildcard functions/*/cmd/lambda/main.go))
LAMBDA_ENV  := CGO_ENABLED=0 GOOS=linux GOARCH=arm64
LDFLAGS     := -s -w

.PHONY: all test test-short bench fuzz run install start stop build lint package sizes startup clean deploy-aws deploy-tencent tools soak dst

all: lint test build

test:
	$(GO) vet ./...
	$(GO) test $(TESTFLAGS) -count=1 -timeout 30m ./...

# Unit tests only: integration tests that need real servers skip themselves
# when WXPAY_SHORT is set (never in CI).
test-short:
	WXPAY_SHORT=1 $(GO) test $(TESTFLAGS) -count=1 -short ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 30m ./shared/... ./functions/... ./internal/dst

# The deterministic simulation (internal/dst, README "Deterministic simulation"):
# SEEDS histories from a fresh random seed, each failing seed printed; SEED=n replays
# one and shrinks it when it fails. BACKEND=redis or dynamodb starts its server. It
# ends with one line: dst: N histories, F failed, R histories/min.
SEEDS   ?= 1000
SEED    ?=
BACKEND ?= bolt
dst:
	@$(GO) build -o build/dst ./internal/dst/cmd
	@build/dst -backend $(BACKEND) $(if $(SEED),-seed $(SEED),-seeds $(SEEDS))

# Each fuzz target a short while; seed corpora live in testdata/fuzz.
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s $$pkg || exit 1; \
	  done; \
	done

# The wxpay CLI, where `go install` puts it: $GOBIN, else the first $GOPATH entry's bin.
GOBIN_DIR   := $(or $(shell $(GO) env GOBIN),$(firstword $(subst :, ,$(shell $(GO) env GOPATH)))/bin)
WXPAY       := $(GOBIN_DIR)/wxpay
WEBHOOK_URL ?=
SERVE_FLAGS  = --addr $(ADDR) --keys-dir $(KEYS_DIR)$(if $(WEBHOOK_URL), --webhook-url '$(WEBHOOK_URL)')

# go install -v names each package it compiles: counted against the build's package
# list, that is the progress of the first (cold) build, which compiles every dependency.
# Other lines (compile errors) pass through; go's exit status is kept. -trimpath keeps
# the build cache valid for any checkout, so a second clone builds in seconds.
install:
	@total=$$($(GO) list -deps ./cmd/wxpay | wc -l | tr -d ' '); rc=$$(mktemp); tty=; [ -t 1 ] && tty=1; \
	{ $(GO) install -trimpath -v ./cmd/wxpay 2>&1; echo $$? > "$$rc"; } | awk -v total="$$total" -v tty="$$tty" ' \
	  /^[A-Za-z0-9._\/-]+$$/ { n++; \
	    if (n == 1) print "building wxpay: compiling what the Go build cache lacks of its " total " packages (all of them the first time: a few minutes)"; \
	    if (tty) printf "\r  %d compiled: %-60.60s", n, $$0; else if (n % 25 == 0) printf "  %d compiled…\n", n; \
	    fflush(); next } \
	  { if (tty && n) printf "\n"; print } \
	  END { if (n && tty) printf "\r  compiled %d of %d packages%-40s\n", n, total, ""; else if (n) printf "  compiled %d of %d packages\n", n, total }'; \
	status=$$(cat "$$rc"); rm -f "$$rc"; [ "$$status" = 0 ] || exit $$status; \
	echo "wxpay installed: $(WXPAY)"; \
	case ":$$PATH:" in *":$(GOBIN_DIR):"*) ;; *) echo "  to type wxpay, put $(GOBIN_DIR) on your PATH: export PATH=\"$(GOBIN_DIR):\$$PATH\"";; esac

start: install
	@$(WXPAY) up $(SERVE_FLAGS)

stop:
	@if [ -x "$(WXPAY)" ]; then $(WXPAY) down --keys-dir $(KEYS_DIR); else echo "wxpay is not installed ($(WXPAY)): nothing was started by make start"; fi

run: install
	$(WXPAY) serve $(SERVE_FLAGS)

# ---------------------------------------------------------------------------
# Builds. Every functions/<name>/cmd/lambda/main.go is a function; nothing below names
# one, so a new function is built, packaged and tested by adding its mains.
#
# No build tags: what a binary contains is what its main imports. Each function has a
# main per platform (shared/host says which drivers each lists):
#   functions/<fn>/cmd/lambda    AWS Lambda (make build, sam build)
#   functions/<fn>/cmd/scfweb    SCF web function (make package; HTTP functions)
#   functions/<fn>/cmd/scfevent  SCF event function (make package for jobs; HTTP functions
#                                behind API gateway or function URL event triggers)
#   functions/<fn>/cmd/local     a plain server, or one run of a job
# lambda.norpc is aws-lambda-go's own tag: no net/rpc for the retired go1.x runtime.
GO_TAGS := lambda.norpc
# SCF: an HTTP function (one that has a web-function main) deploys as a web function
# (scf_bootstrap starts the binary on 0.0.0.0:9000); a scheduled one as an event
# function on the Go1 runtime.
SCF_WEB_FUNCTIONS := $(patsubst functions/%/cmd/scfweb/main.go,%,$(wildcard functions/*/cmd/scfweb/main.go))
scf_main = ./functions/$(1)/cmd/$(if $(filter $(1),$(SCF_WEB_FUNCTIONS)),scfweb,scfevent)

# The soak (cmd/wxpay-soak): SOAKFLAGS e.g. -backends bolt -orders 1000 -notifications 3000 -keep.
SOAKFLAGS ?=
soak:
	$(GO) run ./cmd/wxpay-soak $(SOAKFLAGS)

build: $(FUNCTIONS:%=build/%/bootstrap) build/wxpay

# Lambda (provided.al2023, arm64): build/<fn>/bootstrap.
build/%/bootstrap: FORCE
	$(LAMBDA_ENV) $(GO) build -trimpath -tags $(GO_TAGS) -ldflags '$(LDFLAGS)' -o $@ ./functions/$*/cmd/lambda

build/wxpay: FORCE
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/wxpay

FORCE:

# sam build (BuildMethod: makefile) runs `make build-<LogicalId>` with ARTIFACTS_DIR
# set. Logical ids are <Name>Function, <Name> the function's folder in any case
# (CreateOrderFunction → functions/createorder/cmd/lambda).
build-%Function:
	$(LAMBDA_ENV) $(GO) build -trimpath -tags $(GO_TAGS) -ldflags '$(LDFLAGS)' -o $(ARTIFACTS_DIR)/bootstrap ./functions/$(shell echo '$*' | tr A-Z a-z)/cmd/lambda

# Every main is in ./..., so one vet covers every configuration the Makefile builds;
# the second is the builds' own tag set.
lint:
	$(GO) vet ./...
	$(GO) vet -tags $(GO_TAGS) ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@if command -v cfn-lint >/dev/null; then cfn-lint template.yaml; else echo "cfn-lint not installed: template.yaml not linted"; fi

# Tencent SCF (x86-64): build/scf/<fn>.zip holding bootstrap (the function's scfweb
# build if it has one, else its scfevent build) and, for a web function, scf_bootstrap — 0755, #!/bin/bash, LF endings, exec'ing the binary,
# which listens on 0.0.0.0:9000 (https://cloud.tencent.com/document/product/583/56126).
# SCF_KEYS_DIR=<dir> copies a keys directory into every package as keys/ (PEM files
# do not fit SCF's 4 KB environment; set WXPAY_KEYS_DIR=/var/user/keys).
SCF_ENV := CGO_ENABLED=0 GOOS=linux GOARCH=amd64
SCF_KEYS_DIR ?=
package: $(FUNCTIONS:%=build/scf/%.zip) build/scf/jobs

build/scf/%.zip: FORCE
	@rm -rf build/scf/$* $@ && mkdir -p build/scf/$*
	$(SCF_ENV) $(GO) build -trimpath -tags $(GO_TAGS) -ldflags '$(LDFLAGS)' -o build/scf/$*/bootstrap $(call scf_main,$*)
	@if [ -n "$(filter $*,$(SCF_WEB_FUNCTIONS))" ]; then \
	  printf '%s\n' '#!/bin/bash' '# SCF web function: the scfweb build serves on 0.0.0.0:9000.' \
	    'cd "$$(dirname "$$0")"' 'exec ./bootstrap' > build/scf/$*/scf_bootstrap; \
	  chmod 0755 build/scf/$*/scf_bootstrap; \
	fi
	@if [ -n "$(SCF_KEYS_DIR)" ]; then mkdir -p build/scf/$*/keys && cp -R "$(SCF_KEYS_DIR)"/. build/scf/$*/keys/ && chmod -R go-rwx build/scf/$*/keys; fi
	@cd build/scf/$* && zip -q -9 -X -r ../$*.zip . && echo "$@ ($$(wc -c < ../$*.zip) bytes)"

# The jobs' folder for the top-level serverless.yml (multi-scf): each job's binary under
# its own name (the Go1 handler), keys/ when packaged. multi-scf re-zips a function that
# has its own src without the exec bit; a shared folder is uploaded as the CLI zipped it,
# modes kept (serverless.yml says where in their sources).
SCF_JOBS := $(filter-out $(SCF_WEB_FUNCTIONS),$(FUNCTIONS))
build/scf/jobs: $(SCF_JOBS:%=build/scf/%.zip) FORCE
	@rm -rf $@ && mkdir -p $@
	@for f in $(SCF_JOBS); do cp -p build/scf/$$f/bootstrap $@/$$f && chmod 0755 $@/$$f; done
	@if [ -n "$(SCF_KEYS_DIR)" ]; then cp -Rp build/scf/$(firstword $(SCF_JOBS))/keys $@/keys; fi

# Sizes of every Lambda bootstrap and SCF zip, then exec→ready start-up of each
# function's binary against a hello-world Go HTTP server (median of STARTUP_RUNS).
STARTUP_RUNS ?= 15
sizes: build package
	@for f in $(FUNCTIONS); do \
	  printf '%-12s lambda bootstrap %9d bytes   scf zip %9d bytes (binary %d)\n' $$f \
	    $$(wc -c < build/$$f/bootstrap) $$(wc -c < build/scf/$$f.zip) $$(wc -c < build/scf/$$f/bootstrap); \
	done

startup:
	$(GO) run ./internal/startup -runs $(STARTUP_RUNS)

deploy-aws:
	sam build && sam deploy --guided --capabilities CAPABILITY_IAM

# Tencent: Tencent's serverless-cloud-framework (its command is `scf`; README "Deploy to
# Tencent Cloud" installs the pinned version) deploys each deploy/tencent/<fn>/serverless.yml
# (scf: an HTTP function behind its Function URL) and the top-level serverless.yml
# (multi-scf: the jobs and their timers); the top-level file says why. Every deploy runs
# from the repository's root (HTTP functions with --target), so the root's .env is the
# one the CLI reads for all of them; preflight names what is missing first. FN=notify
# deploys one HTTP function, FN=jobs (or FN=reconcile, FN=billfetch) the top-level file.
# Secrets come from Tencent SSM (WXPAY_TENCENT_SECRET_NAME); SCF_KEYS_DIR=<keys dir>
# packages a keys dir instead (set WXPAY_KEYS_DIR=/var/user/keys then).
SCF_CLI_VERSION := 1.3.0
SCF_HTTP_DEPLOYS := $(patsubst deploy/tencent/%/serverless.yml,%,$(wildcard deploy/tencent/*/serverless.yml))
FN ?= $(SCF_HTTP_DEPLOYS) jobs
deploy-tencent:
	@command -v scf >/dev/null || { echo "scf not found: npm i -g serverless-cloud-framework@$(SCF_CLI_VERSION) (README: Deploy to Tencent Cloud)"; exit 1; }
	@[ -z "$(SCF_KEYS_DIR)" ] || [ -d "$(SCF_KEYS_DIR)" ] || { echo "SCF_KEYS_DIR=$(SCF_KEYS_DIR) is not a directory"; exit 1; }
	$(MAKE) package SCF_KEYS_DIR="$(SCF_KEYS_DIR)"
	$(GO) run ./deploy/preflight $(foreach f,$(FN),$(if $(wildcard deploy/tencent/$(f)/serverless.yml),deploy/tencent/$(f)/serverless.yml,serverless.yml))
	@deployed_jobs=; for f in $(FN); do \
	  if [ -f deploy/tencent/$$f/serverless.yml ]; then echo "scf deploy --target deploy/tencent/$$f" && scf deploy --target deploy/tencent/$$f || exit 1; \
	  elif [ "$$f" = jobs ] || [ -d functions/$$f ]; then \
	    if [ -z "$$deployed_jobs" ]; then deployed_jobs=1; echo "scf deploy: serverless.yml (jobs)"; scf deploy || exit 1; fi; \
	  else echo "FN=$$f: no such function"; exit 1; fi; \
	done

clean:
	rm -rf build .aws-sam
