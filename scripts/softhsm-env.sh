# SPDX-License-Identifier: Apache-2.0
# Sourced, not run: a private SoftHSM2 token store for one demo, test or benchmark run.
#   writ_softhsm_env DIR   creates DIR/tokens and DIR/softhsm2.conf, exports SOFTHSM2_CONF
#   writ_test_pins         exports the fixed PINs the tests and benchmarks use (never
#                          production PINs: writ's programs read PINs from the
#                          environment or a file, never from their command line)

writ_softhsm_env()
{
	local dir=$1
	mkdir -p "$dir/tokens"
	printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$dir" \
		>"$dir/softhsm2.conf"
	export SOFTHSM2_CONF=$dir/softhsm2.conf
}

writ_test_pins()
{
	export WRIT_AUTHORITY_PIN=1234 WRIT_AUTHORITY_SO_PIN=5678 WRIT_HSM_PIN=4321 WRIT_HSM_SO_PIN=8765
}
