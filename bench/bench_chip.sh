#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Time per device through the station's chip driver (writ chip provision) with a real
# writ-hsmd (SoftHSM, durable journal) and writ-devsim chips: keys + CSR, DAC, chain,
# factory data, a wrapped secret, 1 MiB of signed firmware, OTP, lock. Runs 1 chip at a
# time (the baseline) and 16 chips in parallel, and prints devices/s, the share of time
# spent waiting on the chip simulator, in HSM calls and in the rest (the station's own
# work: Matter data, framing), and the parallel speed-up over the baseline.
# BENCH_CHIPS_1 / BENCH_CHIPS_16 set how many chips each run provisions (default 8, 48).
# Usage: bash bench/bench_chip.sh BUILD_DIR
set -u

src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: bench_chip.sh BUILD_DIR}
build=$(cd "$build" && pwd) || exit 2
n1=${BENCH_CHIPS_1:-8}
n16=${BENCH_CHIPS_16:-48}

for f in writ writ-hsmd writ-devsim; do
	if [[ ! -x $build/bin/$f ]]; then
		echo "bench_chip: $build/bin/$f not built (cmake --build $build)" >&2
		exit 1
	fi
done
export WRIT_SRC=$src WRIT_BIN=$build/bin
# the fixtures of the chip tests: authority, HSM, writ with a secret, firmware, settings
# shellcheck source=tests/integration/chip_lib.sh
source "$src/tests/integration/chip_lib.sh"
set +e
TMPDIR=$build chip_setup $((n1 + n16)) >/dev/null 2>"$build/bench-chip.err" ||
	{ cat "$build/bench-chip.err" >&2; exit 1; }

# run NAME CHIPS PARALLEL: provision CHIPS fresh chips, PARALLEL at a time
bench_run() {
	local name=$1 chips=$2 par=$3 pid i
	mkdir -p "$WORK/$name"
	"$DEVSIM" --count "$chips" --dir "$WORK/$name" >"$WORK/$name.ready" 2>"$WORK/$name.log" &
	pid=$!
	DEVSIM_PIDS[$name]=$pid
	for ((i = 0; i < 400; i++)); do
		[[ $(grep -c '^ready ' "$WORK/$name.ready" 2>/dev/null) -ge $chips ]] && break
		sleep 0.05
	done
	"$WRIT" chip provision --connect-dir "$WORK/$name" --parallel "$par" --hsm hsm/hsmd.sock \
		--writ "$WRIT_ID" --settings settings.txt --firmware fw.bin --fw-version "$FW_VERSION" \
		--fw-sig fw.sig --sb-pub "$SB_PUB" --debug-root-hash "$DBG_HASH" --secret ota-key \
		--iterations 1000 >"$WORK/$name.out" 2>"$WORK/$name.err"
	local rc=$?
	stop_devsim "$name"
	if [[ $rc -ne 0 ]]; then
		echo "bench_chip: $name failed: $(tail -n 3 "$WORK/$name.err")" >&2
		exit 1
	fi
}

rate_of() { sed -n 's/.*: \([0-9.]*\) devices\/s$/\1/p' "$WORK/$1.out"; }

echo "bench_chip: $(nproc) CPUs; per device: keygen + CSR, DAC (SoftHSM, durable), chain, factory data,"
echo "            wrapped secret, 1 MiB signed firmware in 4000-byte frames, OTP, lock"
bench_run one "$n1" 1
bench_run many "$n16" 16
r1=$(rate_of one)
r16=$(rate_of many)
echo "1 chip at a time ($n1 chips):"
sed 's/^/  /' "$WORK/one.out"
echo "16 chips in parallel ($n16 chips):"
sed 's/^/  /' "$WORK/many.out"
echo "chip_devices_per_s_1=$r1"
echo "chip_devices_per_s_16=$r16"
awk -v a="$r16" -v b="$r1" 'BEGIN { if (b > 0) printf "chip_parallel_speedup=%.2f\n", a / b }'
