# SPDX-License-Identifier: Apache-2.0
# The PKCS#11 backend of writ-hsmd in the integration tests (sourced, not run; by
# hsm_lib.sh, and by hsm_crash.sh, which does not use hsm_lib.sh). WRIT_TEST_P11 picks it;
# hsm_backend_setup needs $WORK (a throw-away directory) and sets HSM_MODULE, HSM_TCTI;
# hsm_module_args prints the matching `writ-hsmd init` arguments; stop_swtpm stops what
# it started. See hsm_lib.sh's header for the two backends.

WRIT_TEST_P11=${WRIT_TEST_P11:-softhsm}
SWTPM_PID=

# The module writ-hsmd init records (HSM_MODULE; empty = the build's SoftHSM).
HSM_MODULE=
HSM_TCTI=

hsm_backend_setup()
{
	case $WRIT_TEST_P11 in
	softhsm) HSM_MODULE= ;;
	tpm2)
		HSM_MODULE=${WRIT_TPM2_P11_MODULE:-}
		if [[ -z $HSM_MODULE ]]; then
			local m
			for m in /usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so \
				/usr/lib/aarch64-linux-gnu/pkcs11/libtpm2_pkcs11.so /usr/lib/pkcs11/libtpm2_pkcs11.so; do
				[[ -e $m ]] && HSM_MODULE=$m && break
			done
		fi
		if [[ -z $HSM_MODULE ]]; then
			echo "FAIL: tpm2-pkcs11 not installed (Debian package libtpm2-pkcs11-1)" >&2
			exit 1
		fi
		command -v swtpm >/dev/null || { echo "FAIL: swtpm missing (Debian package swtpm)" >&2; exit 1; }
		local t
		for t in dbus-daemon tpm2-abrmd; do
			command -v "$t" >/dev/null || [[ -x /usr/sbin/$t ]] ||
				{ echo "FAIL: $t missing (Debian packages dbus-daemon, tpm2-abrmd)" >&2; exit 1; }
		done
		mkdir -p "$WORK/p11store"
		start_swtpm
		start_abrmd
		HSM_TCTI="tabrmd:bus_type=session,bus_name=$ABRMD_NAME"
		export TPM2_PKCS11_STORE=$WORK/p11store TPM2_PKCS11_TCTI=$HSM_TCTI
		export TPM2_PKCS11_LOG_LEVEL=0
		# Under ASan: tpm2-pkcs11 1.9 loses one OpenSSL ASN1_STRING per C_Sign (not writ's;
		# SoftHSM loses none). Its stack stops in libcrypto (the fast unwinder; whole
		# stacks make every test ~6x slower), so for this backend only, leaks from
		# ASN1_STRING_set are suppressed (tests/lsan_tpm2.supp); the same writ code is
		# leak-checked in full on SoftHSM. (No effect in a normal build.)
		export LSAN_OPTIONS=suppressions=$WRIT_SRC/tests/lsan_tpm2.supp:print_suppressions=0
		# a start under ASan opens the token and the TPM key (PBKDF2, a salted session,
		# one ECDH): start_hsmd waits up to 60 s
		HSMD_START_TICKS=1200
		;;
	*)
		echo "FAIL: WRIT_TEST_P11=$WRIT_TEST_P11: want softhsm or tpm2" >&2
		exit 1
		;;
	esac
}

# start_swtpm: a software TPM 2.0 for this test, state in $WORK/tpm, listening on the Unix
# socket $WORK/tpm/sock (TPM2_Startup done by swtpm itself). Sets TPM_TCTI.
start_swtpm()
{
	local i
	mkdir -p "$WORK/tpm"
	rm -f "$WORK/tpm/sock" "$WORK/tpm/sock.ctrl"
	swtpm socket --tpm2 --tpmstate dir="$WORK/tpm" --server type=unixio,path="$WORK/tpm/sock" \
		--ctrl type=unixio,path="$WORK/tpm/sock.ctrl" --flags not-need-init,startup-clear \
		>>"$WORK/tpm/swtpm.log" 2>&1 &
	SWTPM_PID=$!
	TPM_TCTI="swtpm:path=$WORK/tpm/sock"
	for ((i = 0; i < 100; i++)); do
		[[ -S $WORK/tpm/sock ]] && return 0
		sleep 0.05
	done
	echo "FAIL: swtpm did not listen: $(cat "$WORK/tpm/swtpm.log")" >&2
	exit 1
}

# start_abrmd: a private D-Bus session bus ($WORK/bus) and tpm2-abrmd on it, owning
# ABRMD_NAME, talking to the swtpm of start_swtpm.
ABRMD_PID=
DBUS_PID=
start_abrmd()
{
	local i abrmd root=()
	abrmd=$(command -v tpm2-abrmd || echo /usr/sbin/tpm2-abrmd)
	cat >"$WORK/dbus.conf" <<-EOF
		<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
		 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
		<busconfig><type>session</type><listen>unix:path=$WORK/bus</listen><auth>EXTERNAL</auth>
		<policy context="default"><allow send_destination="*"/><allow receive_sender="*"/><allow own="*"/></policy></busconfig>
	EOF
	dbus-daemon --config-file="$WORK/dbus.conf" --nofork --nopidfile >>"$WORK/dbus.log" 2>&1 &
	DBUS_PID=$!
	for ((i = 0; i < 100; i++)); do
		[[ -S $WORK/bus ]] && break
		sleep 0.05
	done
	export DBUS_SESSION_BUS_ADDRESS=unix:path=$WORK/bus
	ABRMD_NAME=com.intel.tss2.Tabrmd.writ$$
	[[ $(id -u) -eq 0 ]] && root=(--allow-root)
	"$abrmd" --session "${root[@]}" --dbus-name="$ABRMD_NAME" --tcti="$TPM_TCTI" --flush-all \
		>>"$WORK/abrmd.log" 2>&1 &
	ABRMD_PID=$!
	for ((i = 0; i < 100; i++)); do
		if dbus-send --session --print-reply --reply-timeout=1000 --dest=org.freedesktop.DBus /org/freedesktop/DBus \
			org.freedesktop.DBus.NameHasOwner "string:$ABRMD_NAME" 2>/dev/null | grep -q 'boolean true'; then
			return 0
		fi
		sleep 0.05
	done
	echo "FAIL: tpm2-abrmd did not come up: $(cat "$WORK/abrmd.log")" >&2
	exit 1
}

stop_swtpm()
{
	local p
	for p in ${ABRMD_PID:-} ${DBUS_PID:-}; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	ABRMD_PID= DBUS_PID=
	[[ -n ${SWTPM_PID:-} ]] || return 0
	kill -TERM "$SWTPM_PID" 2>/dev/null || true
	wait "$SWTPM_PID" 2>/dev/null || true
	SWTPM_PID=
}

# The backend's arguments of writ-hsmd init, one per line: none for SoftHSM (the
# default); for tpm2-pkcs11 its module, and the key-agreement key made in the TPM itself
# (--kex tpm: tpm2-pkcs11 1.9 lacks CKM_ECDH1_DERIVE), reached through the same
# tpm2-abrmd as the token.
hsm_module_args()
{
	if [[ -n $HSM_MODULE ]]; then
		echo "--module"
		echo "$HSM_MODULE"
	fi
	if [[ $WRIT_TEST_P11 == tpm2 ]]; then
		printf '%s\n' --kex tpm --tpm-tcti "$HSM_TCTI"
	fi
}

