#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# DAC issuance through writ-hsmd's socket API, durable (the real daemon: every DAC is
# fdatasync'd in the journal before it is returned), with 1, 4 and 16 concurrent
# clients (hsm_load with a pre-made CSR pool, BENCH_SECONDS each, default 8), and in
# the same run the ceilings on this machine (bench_limit): raw OpenSSL P-256 sign and
# verify, writ's CSR check, SoftHSM token signatures, and the SoftHSM-backed limit
# 1 / (1/csr_verify + 1/softhsm_sign). The last line is hsm_ratio_to_limit=R, the rate
# with 16 clients divided by that limit. Usage: bash bench/bench_hsm.sh BUILD_DIR
set -u

src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: bench_hsm.sh BUILD_DIR}
build=$(cd "$build" && pwd) || exit 2
bin=$build/bin
seconds=${BENCH_SECONDS:-8}
quantity=200000
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
"$bin/writ-hsmd" serve --state hsm 2>hsmd.log &
daemon_pid=$!
for _ in $(seq 200); do
	[[ -S $sock ]] && break
	sleep 0.05
done
[[ -S $sock ]] || die "writ-hsmd serve did not come up"
"$bin/writ" hsm load --socket "$sock" w.cose >/dev/null 2>>setup.log || die "writ hsm load failed"

echo "machine: $(nproc) CPUs, $(uname -m), $(openssl version 2>/dev/null | cut -d' ' -f1-2)"
echo "DAC issuance via the socket API, durable, ${seconds} s per run, CSR pool 512:"
declare -A rate
for clients in 1 4 16; do
	out=$("$bin/hsm_load" --socket "$sock" --writ "$id" --threads $clients --count $quantity --csr-pool 512 \
		--seconds "$seconds" 2>load.err) || die "hsm_load with $clients clients failed: $(cat load.err)"
	echo "  clients $clients: $out"
	rate[$clients]=$(sed -n 's/.* rate=\([0-9.]*\).*/\1/p' <<<"$out")
	[[ -n ${rate[$clients]} ]] || die "no rate in: $out"
	grep -q ' errors=0 ' <<<"$out" || die "errors with $clients clients: $out"
done
kill -TERM "$daemon_pid"
wait "$daemon_pid"
daemon_pid=
"$bin/writ-hsmd" verify-journal --state hsm >/dev/null || die "the journal does not verify after the benchmark"

# the ceilings, measured now that the daemon is idle (its own token is not touched)
echo "limits on this machine (bench_limit, 2 s per figure):"
limits=$("$bin/bench_limit" --seconds 2) || die "bench_limit failed"
sed 's/^/  /' <<<"$limits"
limit=$(sed -n 's/^softhsm_limit_dacs_per_s=//p' <<<"$limits")
[[ -n $limit ]] || die "no SoftHSM-backed limit measured"

for clients in 1 4 16; do
	echo "dacs_per_s_clients_$clients=${rate[$clients]}"
done
echo "softhsm_limit_dacs_per_s=$limit"
awk -v r="${rate[16]}" -v l="$limit" 'BEGIN { printf "hsm_ratio_to_limit=%.3f\n", r / l }'
