#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The whole line, timed: writ-station -> writ-factory (HTTP, SQLite) -> writ-hsmd
# (SoftHSM, durable journal), with writ-devsim chips on Unix sockets, at 1, 4 and 16
# chips in parallel. Per run: devices/s, p50/p99 wall time per device, and the line's
# own overhead per device = the station's wall time for the device minus the time it
# spent waiting inside the chip simulator (lib/chip's chip_stats.wait_s); that
# overhead includes the factory round trips and the HSM behind them. Then, in the same
# run, the HSM alone as the limit (hsm_load: DACs over writ-hsmd's socket, 16 clients)
# and the ratio of the line's rate at 16 chips to it.
# The last line is line_overhead_p50_ms=<ms>: the overhead at p50 with 16 chips.
# BENCH_LINE_CHIPS_1/_4/_16 (default 6, 16, 64) chips per run; BENCH_FW_BYTES (default
# 1 MiB) the firmware size; BENCH_SECONDS (default 5) the hsm_load run.
# Usage: bash bench/bench_line.sh BUILD_DIR
set -u

src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: bench_line.sh BUILD_DIR}
build=$(cd "$build" && pwd) || exit 2
n1=${BENCH_LINE_CHIPS_1:-6}
n4=${BENCH_LINE_CHIPS_4:-16}
n16=${BENCH_LINE_CHIPS_16:-64}
seconds=${BENCH_SECONDS:-5}

for f in writ writ-hsmd writ-devsim writ-factory writ-station hsm_load; do
	if [[ ! -x $build/bin/$f ]]; then
		echo "bench_line: $build/bin/$f not built (cmake --build $build)" >&2
		exit 1
	fi
done
export WRIT_SRC=$src WRIT_BIN=$build/bin
export LINE_FW_BYTES=${BENCH_FW_BYTES:-1048576}
# shellcheck source=tests/integration/line_lib.sh
source "$src/tests/integration/line_lib.sh"
set +e
# under the build directory, not /tmp: a real disk, so fdatasync counts
TMPDIR=$build line_setup $((n1 + n4 + n16)) >/dev/null 2>"$build/bench-line.err" ||
	{ cat "$build/bench-line.err" >&2; exit 1; }
{ start_factory && enrol bench L1 bench.token; } >/dev/null 2>>"$build/bench-line.err" ||
	{ tail -n 5 "$build/bench-line.err" >&2; exit 1; }

# bench_run NAME CHIPS PARALLEL: provision CHIPS fresh chips, PARALLEL at a time
bench_run()
{
	local name=$1 chips=$2 par=$3
	start_farm "$name" "$chips" || exit 1
	"$STATION" run --factory "$FACTORY_URL" --token-file bench.token --job "$WRIT_ID" --port-dir "$WORK/$name" \
		--parallel "$par" --once >"$WORK/$name.out" 2>"$WORK/$name.err"
	local rc=$?
	stop_farm "$name"
	if [[ $rc -ne 0 ]]; then
		echo "bench_line: $name failed: $(tail -n 3 "$WORK/$name.err")" >&2
		exit 1
	fi
}

field() { sed -n "s/.* $2=\([0-9.]*\).*/\1/p" "$WORK/$1.out"; }

echo "bench_line: $(nproc) CPUs; per device: discover, keygen + CSR, DAC via writ-factory -> writ-hsmd"
echo "            (SoftHSM, durable), chain, factory data, wrapped OTA key via the factory, OTP,"
echo "            $((LINE_FW_BYTES / 1024)) KiB signed firmware, lock, verify (STATUS), record (SQLite)"
for p in 1 4 16; do
	case $p in 1) n=$n1 ;; 4) n=$n4 ;; 16) n=$n16 ;; esac
	bench_run "p$p" "$n" "$p"
	printf '  %2d in parallel (%3d chips): %7.2f devices/s  p50 %7.1f ms  p99 %7.1f ms  chip wait p50 %7.1f ms  factory p50 %6.1f ms  overhead p50 %6.1f ms\n' \
		"$p" "$n" "$(field "p$p" devices_per_s)" "$(field "p$p" p50_ms)" "$(field "p$p" p99_ms)" \
		"$(field "p$p" chip_wait_p50_ms)" "$(field "p$p" factory_p50_ms)" "$(field "p$p" overhead_p50_ms)"
done
r16=$(field p16 devices_per_s)

# the HSM alone: DACs over writ-hsmd's socket with 16 clients, its own writ
hid=$(mint hl.writ 200000 1 2>/dev/null)
"$WRIT" hsm load --socket hsm/hsmd.sock hl.writ >/dev/null 2>&1 || { echo "bench_line: hsm load failed" >&2; exit 1; }
hl=$("$WRIT_BIN/hsm_load" --socket hsm/hsmd.sock --writ "$hid" --threads 16 --count 200000 --csr-pool 256 \
	--seconds "$seconds" 2>"$WORK/hl.err") || { echo "bench_line: hsm_load failed: $(cat "$WORK/hl.err")" >&2; exit 1; }
hrate=$(sed -n 's/.* rate=\([0-9.]*\).*/\1/p' <<<"$hl")
echo "  HSM alone (hsm_load, 16 clients, ${seconds} s): $hl"
echo "line_devices_per_s_1=$(field p1 devices_per_s)"
echo "line_devices_per_s_4=$(field p4 devices_per_s)"
echo "line_devices_per_s_16=$r16"
echo "line_p50_ms_16=$(field p16 p50_ms)"
echo "line_p99_ms_16=$(field p16 p99_ms)"
echo "hsm_dacs_per_s_16=$hrate"
awk -v a="$r16" -v b="$hrate" 'BEGIN { if (b > 0) printf "line_ratio_to_hsm=%.3f\n", a / b }'
echo "line_overhead_p50_ms=$(field p16 overhead_p50_ms)"
