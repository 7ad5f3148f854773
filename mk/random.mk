# pulumi-random plugin: the real one when it can be had, else the offline stand-in
# from tools/provider-random (RandomPassword only; see its README.md).
#
# The engine prefers any pulumi-resource-random on PATH over its plugin cache,
# and $(BIN) is on PATH, so the stand-in must be absent from $(BIN) whenever the
# real plugin is used.

RANDOM_VERSION := 4.21.2
RANDOM_SRC     := $(ROOT)/tools/provider-random
RANDOM_PLUGIN  := $(BIN)/pulumi-resource-random
RANDOM_STAMP   := $(BIN)/.stamps/pulumi-resource-random
# The download is given this long; offline it usually fails well before.
RANDOM_INSTALL_TIMEOUT ?= 60
# Never let the go command fetch another toolchain, as mk/tools.mk does.
RANDOM_GO      := GOTOOLCHAIN=local go

.PHONY: random-provider random-provider-test

# The stamp records the choice. An offline stamp holds a hash of the stand-in's
# sources and the Go version (edits rebuild) and whether $(BIN)/pulumi existed:
# a choice made before the CLI was built is made again once it is, so the
# download gets tried (and an unchanged stand-in is kept, not rebuilt). Offline,
# later runs do not retry the download; to retry it: rm $(RANDOM_STAMP).
random-provider: ## pulumi-random 4.21.2: the real plugin if installable, else the offline stand-in in bin/.
	@start=$$(date +%s%N); \
	elapsed() { echo "$$(( ($$(date +%s%N) - start) / 1000000 ))ms"; }; \
	use_real() { \
		rm -f '$(RANDOM_PLUGIN)'; \
		mkdir -p '$(dir $(RANDOM_STAMP))'; \
		echo '$(RANDOM_VERSION)-real' > '$(RANDOM_STAMP)'; \
		echo "random-provider: using the real pulumi-random $(RANDOM_VERSION) plugin ($$1; no stand-in in bin/) [$$(elapsed)]"; \
	}; \
	cli=absent; [[ -x '$(BIN)/pulumi' ]] && cli=present; \
	if [[ $$cli == present ]] && '$(BIN)/pulumi' plugin ls 2>/dev/null \
			| awk '$$1 == "random" && $$2 == "resource" && $$3 == "$(RANDOM_VERSION)" { found = 1 } END { exit !found }'; then \
		use_real "already in the plugin cache"; exit 0; \
	fi; \
	built="$(RANDOM_VERSION)-offline src:$$( { cd '$(RANDOM_SRC)' && find . -type f \( -name '*.go' ! -name '*_test.go' -o -name go.mod -o -name go.sum -o -name '*.json' \) \
			-print0 | LC_ALL=C sort -z | xargs -0 sha256sum; $(RANDOM_GO) env GOVERSION; } | sha256sum | cut -c1-16)"; \
	stamp="$$(cat '$(RANDOM_STAMP)' 2>/dev/null || true)"; \
	if [[ -x '$(RANDOM_PLUGIN)' && "$$stamp" == "$$built pulumi-cli:$$cli" ]]; then \
		echo "random-provider: offline stand-in $(RANDOM_PLUGIN) is up to date ($$built) [$$(elapsed)]"; exit 0; \
	fi; \
	if [[ $$cli == present ]]; then \
		echo "random-provider: trying pulumi plugin install resource random $(RANDOM_VERSION) (timeout $(RANDOM_INSTALL_TIMEOUT)s)"; \
		if timeout '$(RANDOM_INSTALL_TIMEOUT)' '$(BIN)/pulumi' plugin install resource random '$(RANDOM_VERSION)' >/dev/null 2>&1; then \
			use_real "just installed"; exit 0; \
		fi; \
		echo "random-provider: the install failed (offline?); using the offline stand-in"; \
	else \
		echo "random-provider: $(BIN)/pulumi is not built yet, so the real plugin cannot be installed; using the offline stand-in"; \
	fi; \
	if [[ -x '$(RANDOM_PLUGIN)' && "$$stamp" == "$$built "* ]]; then \
		echo "random-provider: keeping the unchanged stand-in $(RANDOM_PLUGIN)"; \
	else \
		echo "random-provider: building $(RANDOM_PLUGIN) ($$built) from tools/provider-random"; \
		rm -f '$(RANDOM_STAMP)'; mkdir -p '$(BIN)' '$(dir $(RANDOM_STAMP))'; \
		(cd '$(RANDOM_SRC)' && $(RANDOM_GO) build -o '$(RANDOM_PLUGIN).tmp' .); \
		mv -f '$(RANDOM_PLUGIN).tmp' '$(RANDOM_PLUGIN)'; \
	fi; \
	echo "$$built pulumi-cli:$$cli" > '$(RANDOM_STAMP)'; \
	echo "random-provider: using the OFFLINE FALLBACK $(RANDOM_PLUGIN) (RandomPassword only), not the real pulumi-random [$$(elapsed)]"

random-provider-test: ## Tests of the offline pulumi-random stand-in (engine test runs only if bin/pulumi exists).
	cd '$(RANDOM_SRC)' && $(RANDOM_GO) test -count=1 ./...
