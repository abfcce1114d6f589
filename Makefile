# TransparentSocks: developer and CI entry points. CI runs `.ci/run`, which runs `make test`.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

DOTNET ?= dotnet
CONFIGURATION ?= Release
RESULTS_DIR ?= artifacts/test-results
# A hung test is killed after this long and named in the output; a dump of the test host is opt-in.
HANG_TIMEOUT ?= 5m
HANG_DUMP ?= none

# The real peers the integration tests drive (nft, ip, microsocks, danted, curl, ncat, socat, iperf3)
# and clang, which NativeAOT links with.
APT_PACKAGES := nftables iproute2 clang microsocks dante-server curl ncat socat iperf3 procps ca-certificates
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps check-dotnet build publish test demo

deps: check-dotnet
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(APT_PACKAGES)

check-dotnet:
	@command -v $(DOTNET) >/dev/null || { \
		echo "error: '$(DOTNET)' not found on PATH. Install the .NET SDK named in global.json (https://dot.net)." >&2; \
		exit 1; }
	@$(DOTNET) --version

build: check-dotnet
	$(DOTNET) build TransparentSocks.sln -c $(CONFIGURATION)

# The summary runs even when dotnet test fails, and it fails the target when no tests ran.
test: deps
	rm -rf $(RESULTS_DIR)
	status=0; \
	$(DOTNET) test TransparentSocks.sln -c $(CONFIGURATION) \
		--logger trx --logger "console;verbosity=normal" \
		--results-directory $(RESULTS_DIR) \
		--blame-hang-timeout $(HANG_TIMEOUT) --blame-hang-dump-type $(HANG_DUMP) \
		|| status=$$?; \
	summary=0; bash .ci/trx-summary $(RESULTS_DIR) || summary=$$?; \
	if [ "$$status" -ne 0 ]; then echo "dotnet test exited with $$status" >&2; exit 1; fi; \
	exit $$summary

# NativeAOT binaries of the daemon and the CLI (clang links them).
publish: check-dotnet
	$(DOTNET) publish src/TransparentSocks.Daemon -c Release -r linux-x64 -o artifacts/publish
	$(DOTNET) publish src/TransparentSocks.Cli -c Release -r linux-x64 -o artifacts/publish

demo: deps publish
	bash tests/demo.sh
