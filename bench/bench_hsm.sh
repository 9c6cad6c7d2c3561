#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# DAC issuance through writ-hsmd's socket API, durable (the real daemon: every DAC is
# fdatasync'd in the journal before it is returned), with 1, 4 and 16 concurrent
# clients (hsm_load with a pre-made CSR pool, BENCH_SECONDS each, default 8), and in
# the same run the ceilings on this machine (bench_limit): raw OpenSSL P-256 sign and
# verify, writ's CSR check, SoftHSM token signatures, and the SoftHSM-backed limit
# 1 / (1/csr_verify + 1/softhsm_sign). The last line is hsm_ratio_to_limit=R, the rate
# with 16 clients divided by that limit: the median of BENCH_ROUNDS (default 3) rounds
# that measure the two in alternation, so that CPU steal on a shared machine hits both
# sides alike. BENCH_HSMD_ARGS adds options to writ-hsmd serve (e.g. "--workers 2").
# Usage: bash bench/bench_hsm.sh BUILD_DIR
set -u

src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: bench_hsm.sh BUILD_DIR}
build=$(cd "$build" && pwd) || exit 2
bin=$build/bin
seconds=${BENCH_SECONDS:-8}
rounds=${BENCH_ROUNDS:-3}
# enough for every run at ~8,000 DACs/s: the 1- and 4-client runs and each round
quantity=$(((rounds + 2) * 8000 * seconds))
daemon_pid=

for f in writ writ-hsmd hsm_load bench_limit; do
	if [[ ! -x $bin/$f ]]; then
		echo "bench_hsm: $bin/$f not built (cmake --build $build)" >&2
		exit 1
	fi
done

# under the build directory, not /tmp: it must be a real disk for fdatasync to count
tmp=$(mktemp -d "$build/bench-hsm.XXXXXX")
cleanup() {
	[[ -n $daemon_pid ]] && kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp" || exit 1

die() {
	echo "bench_hsm: $*" >&2
	[[ -f hsmd.log ]] && tail -n 5 hsmd.log >&2
	exit 1
}

# shellcheck source=scripts/softhsm-env.sh
source "$src/scripts/softhsm-env.sh"
writ_softhsm_env "$tmp"
writ_test_pins
sock=$tmp/hsm/hsmd.sock

{
	"$bin/writ" authority init --dir auth --vid FFF1 &&
		"$bin/writ-hsmd" init --state hsm --factory bench-fab --oem-key auth/writ-signing.pub.pem &&
		"$bin/writ" authority certify --dir auth --enrolment hsm/enrolment.cbor --vid FFF1 --out pai.der
} >setup.log 2>&1 || die "setup failed: $(tail -n 3 setup.log)"
id=$("$bin/writ" authority mint --dir auth --enrolment hsm/enrolment.cbor --pai pai.der --product bench \
	--vid FFF1 --pid 8000 --quantity $quantity --serial-first 1 --out w.cose 2>>setup.log) ||
	die "mint failed: $(tail -n 3 setup.log)"
"$bin/writ-hsmd" serve --state hsm ${BENCH_HSMD_ARGS:-} 2>hsmd.log &
daemon_pid=$!
for _ in $(seq 200); do
	[[ -S $sock ]] && break
	sleep 0.05
done
[[ -S $sock ]] || die "writ-hsmd serve did not come up"
"$bin/writ" hsm load --socket "$sock" w.cose >/dev/null 2>>setup.log || die "writ hsm load failed"

# steal% of the machine while CMD runs: time the hypervisor gave this VM's CPUs to others
steal_of() {
	local s0 t0 s1 t1
	read -r s0 t0 < <(awk '/^cpu /{t=0; for(i=2;i<=NF;i++) t+=$i; print $9, t}' /proc/stat)
	"$@"
	read -r s1 t1 < <(awk '/^cpu /{t=0; for(i=2;i<=NF;i++) t+=$i; print $9, t}' /proc/stat)
	steal=$(awk -v s=$((s1 - s0)) -v t=$((t1 - t0)) 'BEGIN { printf "%.0f", t ? 100 * s / t : 0 }')
}

load_run() { # load_run CLIENTS: sets out (hsm_load's line) and rate
	out=$("$bin/hsm_load" --socket "$sock" --writ "$id" --threads "$1" --count $quantity --csr-pool 512 \
		--seconds "$seconds" 2>load.err) || die "hsm_load with $1 clients failed: $(cat load.err)"
	rate=$(sed -n 's/.* rate=\([0-9.]*\).*/\1/p' <<<"$out")
	[[ -n $rate ]] || die "no rate in: $out"
	grep -q ' errors=0 ' <<<"$out" || die "errors with $1 clients: $out"
}

limit_run() { # sets limits (bench_limit's lines) and limit
	limits=$("$bin/bench_limit" --seconds 2) || die "bench_limit failed"
	limit=$(sed -n 's/^softhsm_limit_dacs_per_s=//p' <<<"$limits")
	[[ -n $limit ]] || die "no SoftHSM-backed limit measured"
}

echo "machine: $(nproc) CPUs, $(uname -m), $(openssl version 2>/dev/null | cut -d' ' -f1-2)"
echo "DAC issuance via the socket API, durable, ${seconds} s per run, CSR pool 512:"
declare -A rate_of
for clients in 1 4; do
	steal_of load_run $clients
	echo "  clients $clients: $out (steal ${steal}%)"
	rate_of[$clients]=$rate
done

# The ratio compares two measurements; on a shared machine either can be hit by CPU
# steal. So the 16-client rate and the limit are measured in alternation, $rounds
# times, and the median of the per-round ratios is reported. The daemon stays up; the
# limit's own token is a separate one in bench_limit.
ratios=()
for ((r = 1; r <= rounds; r++)); do
	steal_of load_run 16
	echo "  round $r, clients 16: $out (steal ${steal}%)"
	rate16=$rate
	steal_of limit_run
	echo "  round $r, limits (bench_limit, 2 s per figure, steal ${steal}%):"
	sed 's/^/    /' <<<"$limits"
	ratios+=("$(awk -v a="$rate16" -v b="$limit" 'BEGIN { printf "%.3f %s %s", a / b, a, b }')")
done
kill -TERM "$daemon_pid"
wait "$daemon_pid"
daemon_pid=
"$bin/writ-hsmd" verify-journal --state hsm >/dev/null || die "the journal does not verify after the benchmark"

median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ a[NR] = $0 } END { print a[int((NR + 1) / 2)] }')
read -r ratio rate16 limit <<<"$median"
echo "per-round ratios: $(printf '%s\n' "${ratios[@]}" | awk '{ printf "%s ", $1 }')"
echo "dacs_per_s_clients_1=${rate_of[1]}"
echo "dacs_per_s_clients_4=${rate_of[4]}"
echo "dacs_per_s_clients_16=$rate16"
echo "softhsm_limit_dacs_per_s=$limit"
echo "hsm_ratio_to_limit=$ratio"
