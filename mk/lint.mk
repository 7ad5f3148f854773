# Linters for files that are not Go. actionlint is built into $(BIN) from the
# module in tools/lint, whose go.mod is the one place its version is pinned
# (upgrade: cd tools/lint && go get github.com/rhysd/actionlint@VERSION).
# It is built the way mk/tools.mk builds the other tools, with its
# stamped-build and source-hash helpers, so the stamp logic lives once: rebuilt
# only when the binary is missing or its pin (version, tools/lint sources, Go
# version) changed.

# Recursive, so go list runs only when a recipe needs the version, and
# mk/tools.mk, which defines the helpers, can be included after this file.
ACTIONLINT_VERSION = $(shell cd '$(TOOLS_DIR)/lint' && $(GO) list -m -f '{{.Version}}' github.com/rhysd/actionlint)
ACTIONLINT_PIN     = $(ACTIONLINT_VERSION) src:$(call source-hash,$(TOOLS_DIR)/lint,.) $(go-version)
WORKFLOWS         := $(wildcard $(ROOT)/.github/workflows/*.yml)
# Scripts the workflows call: actionlint sees only their names, not their code.
WORKFLOW_SCRIPTS  := $(wildcard $(ROOT)/.github/scripts/*.sh)

# actionlint reports "unknown" as its version when built from another module,
# so the version is stamped in with -ldflags.
define build-actionlint
cd '$(TOOLS_DIR)/lint'; \
$(GO) build -o '$(BIN)/actionlint.tmp' -ldflags '-X github.com/rhysd/actionlint.version=$(ACTIONLINT_VERSION)' \
	github.com/rhysd/actionlint/cmd/actionlint; \
mv -f '$(BIN)/actionlint.tmp' '$(BIN)/actionlint'
endef

# Phony although it names a file: the recipe itself decides from the stamp,
# which file timestamps alone cannot (a Go upgrade changes no file here).
.PHONY: $(BIN)/actionlint lint-workflows

$(BIN)/actionlint: go-check
	$(call stamped-build,actionlint,$(ACTIONLINT_PIN),$(BIN)/actionlint,build-actionlint)

# actionlint runs shellcheck on every run: script only when shellcheck is on
# PATH, and silently skips it otherwise, so the output says which it was.
lint-workflows: $(BIN)/actionlint ## Check .github/workflows/*.yml with actionlint, and run: scripts with shellcheck if installed.
	@[[ -n '$(WORKFLOWS)' ]] || { echo 'lint-workflows: no .github/workflows/*.yml to check'; exit 1; }
	@if sc=$$(command -v shellcheck); then \
		echo "lint-workflows: actionlint $$('$(BIN)/actionlint' -version | head -n1) with $$sc $$(shellcheck --version | sed -n 's/^version: //p') on run: scripts and .github/scripts"; \
	else \
		echo "lint-workflows: actionlint $$('$(BIN)/actionlint' -version | head -n1) WITHOUT shellcheck (not on PATH): run: scripts and .github/scripts are not checked; apt-get install shellcheck to check them"; \
	fi
	'$(BIN)/actionlint' $(WORKFLOWS:$(ROOT)/%=%)
	@if command -v shellcheck >/dev/null && [[ -n '$(WORKFLOW_SCRIPTS)' ]]; then \
		echo "shellcheck $(WORKFLOW_SCRIPTS:$(ROOT)/%=%)"; shellcheck $(WORKFLOW_SCRIPTS:$(ROOT)/%=%); \
	fi
	@echo 'lint-workflows: no findings'

# `make lint` (and so `make test`) checks the workflows too; this also builds
# bin/actionlint before `make e2e` runs internal/workflowcheck, which needs it.
lint: lint-workflows
