# TransparentSocks: developer and CI entry points. CI runs `.ci/run`, which runs `make test`.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

DOTNET ?= dotnet
CONFIGURATION ?= Release
RESULTS_DIR ?= artifacts/test-results
# A hung test is killed after this long and named in the output; a dump of the test host is opt-in.
HANG_TIMEOUT ?= 5m
HANG_DUMP ?= none

# The real peers the integration tests drive (nft, ip, microsocks, danted, tinyproxy for HTTP CONNECT upstreams,
# curl, ncat, socat, iperf3; for UDP v2ray, dnsmasq, dig and PySocks) and clang, which NativeAOT links with.
# dnsmasq-base is the bare binary: the dnsmasq package would also install a system service answering on port 53.
# tinyproxy's package installs a service too (port 8888 on every address); the tests run their own tinyproxy in the
# foreground on loopback or in their namespaces, so deps stops and disables the service.
APT_PACKAGES := nftables iproute2 clang microsocks dante-server tinyproxy curl ncat socat iperf3 procps ca-certificates \
	v2ray dnsmasq-base bind9-dnsutils python3-socks
# What building the .deb and booting it under systemd add (packaging/, the booted-systemd test and demo).
APPLIANCE_PACKAGES := dpkg-dev binutils lintian debootstrap systemd-container python3
# What `make fuzz` adds: afl-fuzz drives the SharpFuzz harness (libFuzzer's .NET driver is not packaged for Debian).
FUZZ_PACKAGES := afl++
# Seconds per fuzz target: `make fuzz SECONDS=N`; `make test` runs the short smoke.
SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 10
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps fuzz-deps check-dotnet build publish test test-unit fuzz fuzz-run demo deb bench

# `make test` runs the booted-systemd packaging test too, so it installs what that test needs as well: the README's
# test command is then all a fresh machine needs.
deps: check-dotnet
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(APT_PACKAGES) $(APPLIANCE_PACKAGES) $(FUZZ_PACKAGES)
	# Best effort: a machine without the service (or without an init to ask) must still get its dependencies.
	if [ -d /run/systemd/system ]; then $(SUDO) systemctl disable --now tinyproxy || true; \
	else { $(SUDO) update-rc.d tinyproxy disable || true; }; { $(SUDO) /etc/init.d/tinyproxy stop 2>/dev/null || true; }; fi

check-dotnet:
	@command -v $(DOTNET) >/dev/null || { \
		echo "error: '$(DOTNET)' not found on PATH. Install the .NET SDK named in global.json (https://dot.net)." >&2; \
		exit 1; }
	@$(DOTNET) --version

build: check-dotnet
	$(DOTNET) build TransparentSocks.sln -c $(CONFIGURATION)

# The summary runs even when dotnet test or the fuzz smoke fails, so it stays the last line, and it fails the target
# when no tests ran. The smoke runs every fuzz target for FUZZ_SMOKE_SECONDS under afl-fuzz; a crash fails the run.
test: deps
	rm -rf $(RESULTS_DIR)
	status=0; \
	$(DOTNET) test TransparentSocks.sln -c $(CONFIGURATION) \
		--logger trx --logger "console;verbosity=normal" \
		--results-directory $(RESULTS_DIR) \
		--blame-hang-timeout $(HANG_TIMEOUT) --blame-hang-dump-type $(HANG_DUMP) \
		|| status=$$?; \
	fuzz=0; $(MAKE) --no-print-directory fuzz-run SECONDS=$(FUZZ_SMOKE_SECONDS) || fuzz=$$?; \
	summary=0; bash .ci/trx-summary $(RESULTS_DIR) || summary=$$?; \
	if [ "$$status" -ne 0 ]; then echo "dotnet test exited with $$status" >&2; exit 1; fi; \
	if [ "$$fuzz" -ne 0 ]; then echo "the fuzz smoke failed; see artifacts/fuzz/" >&2; exit 1; fi; \
	exit $$summary

# Only the tests tagged Category=Unit: no root, no namespaces, no peer programs, so no deps to install.
test-unit: check-dotnet
	$(DOTNET) test TransparentSocks.sln -c $(CONFIGURATION) --filter Category=Unit

# Each SharpFuzz target under afl-fuzz for SECONDS seconds, one after the other (FUZZ_TARGETS to pick some): it prints
# per target the executions and crashes, copies crash inputs to artifacts/fuzz/crashes/<target>/ and fails on any.
fuzz: fuzz-deps
	$(MAKE) --no-print-directory fuzz-run

fuzz-deps: check-dotnet
	command -v afl-fuzz >/dev/null || $(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(FUZZ_PACKAGES)

# The sharpfuzz instrumenter is a dotnet tool, kept in artifacts/ rather than installed for the user.
artifacts/tools/sharpfuzz:
	$(DOTNET) tool install SharpFuzz.CommandLine --version 2.3.0 --tool-path artifacts/tools

fuzz-run: check-dotnet artifacts/tools/sharpfuzz
	bash tests/TransparentSocks.Fuzz/fuzz.sh $(SECONDS) $(CONFIGURATION) $(FUZZ_TARGETS)

# Every transparent proxy side by side in one run (issue 9), as root: iperf3 with 1 and 4 streams, short connections
# per second, idle and held memory; bench/results/bench-latest.md and .json. It installs what it needs and builds the
# daemon itself; settings are environment variables (see bench/README.md), e.g. `sudo REPEATS=1 make bench`. The
# daemon's path is handed down because sudo resets PATH.
bench: check-dotnet
	$(SUDO) env DOTNET="$$(command -v $(DOTNET))" bash bench/bench.sh

# NativeAOT binaries of the daemon and the CLI (clang links them).
publish: check-dotnet
	$(DOTNET) publish src/TransparentSocks.Daemon -c Release -r linux-x64 -o artifacts/publish
	$(DOTNET) publish src/TransparentSocks.Cli -c Release -r linux-x64 -o artifacts/publish

# The loopback demo, then the appliance: the .deb installed in a Debian 12 booted under systemd, as the gateway
# of a client and a target, with the checks the packaging test makes.
demo: deps publish deb
	bash tests/demo.sh
	$(SUDO) bash tests/TransparentSocks.Packaging.Tests/booted-systemd.sh artifacts/deb/transparentsocks_*_amd64.deb

# The Debian package (NativeAOT daemon and CLI, unit, sysusers.d, man pages) in artifacts/deb/; see packaging/.
deb: deps
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(APPLIANCE_PACKAGES)
	bash packaging/build-deb.sh artifacts/deb
