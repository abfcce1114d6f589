#!/usr/bin/env bash
# Runs each fuzz target under afl-fuzz for SECONDS seconds, one after the other, and fails if any crashed.
# Usage: fuzz.sh SECONDS CONFIGURATION [TARGET...]   (every target when none is named). `make fuzz` calls it.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

seconds=${1:?usage: fuzz.sh SECONDS CONFIGURATION [TARGET...]}
configuration=${2:?usage: fuzz.sh SECONDS CONFIGURATION [TARGET...]}
shift 2
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	targets=(socks5-server socks5-client udp-header http-connect http-request config sniff)
fi

harness=tests/TransparentSocks.Fuzz
work=artifacts/fuzz
bin=$work/bin

started=$(date +%s)
dotnet build "$harness" -c "$configuration" --nologo -v quiet
# Instrument a copy: sharpfuzz rewrites the dll in place and refuses one it already instrumented, and the build's own
# output must stay a plain build for the next incremental build and for the replay test.
rm -rf "$bin"
mkdir -p "$work"
cp -r "$harness/bin/$configuration/net10.0" "$bin"
artifacts/tools/sharpfuzz "$bin/TransparentSocks.Core.dll"

# dotnet is not an AFL-instrumented binary (SharpFuzz speaks the fork-server protocol from inside the process);
# these machines have no CPU frequency governor, share their cores and may pipe core dumps to a handler.
export AFL_SKIP_BIN_CHECK=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

total_execs=0
total_crashes=0
report=()
for target in "${targets[@]}"; do
	corpus=$harness/corpus/$target
	[ -d "$corpus" ] || { echo "fuzz: no corpus for target '$target' ($corpus)" >&2; exit 2; }
	out=$work/out/$target
	mkdir -p "$work/out"
	dict=()
	[ -f "$harness/dictionaries/$target.dict" ] && dict=(-x "$harness/dictionaries/$target.dict")
	echo "fuzz: $target for ${seconds}s"
	# On a loaded machine afl-fuzz's dry run now and then sees an empty trace from the first execution of a freshly
	# started runtime and aborts with "No instrumentation detected" (seen once in about twenty starts, at a load of 16 on 2 cores); starting
	# it again was fine.
	for attempt in 1 2 3; do
		rm -rf "$out"
		status=0
		afl-fuzz -i "$corpus" -o "$out" -V "$seconds" -t 10000 -m none "${dict[@]}" -- dotnet "$bin/TransparentSocks.Fuzz.dll" "$target" \
			> "$work/$target.log" 2>&1 || status=$?
		grep -q 'No instrumentation detected' "$work/$target.log" || break
		echo "fuzz: afl-fuzz saw no instrumentation on start $attempt for $target; starting it again" >&2
	done
	stats=$out/default/fuzzer_stats
	if [ ! -f "$stats" ]; then
		tail -n 30 "$work/$target.log" >&2
		echo "fuzz: afl-fuzz did not start for $target (exit $status); log: $work/$target.log" >&2
		exit 1
	fi

	execs=$(awk -F' *: *' '$1 == "execs_done" { print $2 }' "$stats")
	crashes=$(awk -F' *: *' '$1 == "saved_crashes" { print $2 }' "$stats")
	hangs=$(awk -F' *: *' '$1 == "saved_hangs" { print $2 }' "$stats")
	corpus_count=$(awk -F' *: *' '$1 == "corpus_count" { print $2 }' "$stats")
	total_execs=$((total_execs + execs))
	total_crashes=$((total_crashes + crashes))
	for kind in crashes hangs; do
		found=("$out"/default/$kind/id:*)
		if [ -e "${found[0]}" ]; then
			mkdir -p "$work/$kind/$target"
			cp "${found[@]}" "$work/$kind/$target/"
		fi
	done
	report+=("$(printf '%-14s %12s execs %4s crashes %4s hangs %6s paths' "$target" "$execs" "$crashes" "$hangs" "$corpus_count")")
done

echo "fuzz: ${seconds}s per target"
printf '  %s\n' "${report[@]}"
echo "fuzz: $total_execs execs, $total_crashes crashes in $(( $(date +%s) - started ))s"
if [ "$total_crashes" -ne 0 ]; then
	echo "fuzz: crash inputs are in $work/crashes/<target>/; replay one with" >&2
	echo "  dotnet $harness/bin/$configuration/net10.0/TransparentSocks.Fuzz.dll TARGET FILE" >&2
	echo "then fix it and add it under $harness/regressions/<target>/ with a regression test" >&2
	exit 1
fi
