#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Enforce the dependency rule of lib/ (docs/architecture.md): each layer includes only
# the layers it may use, and lib/base makes no OS calls and no allocations.
set -euo pipefail
cd "${WRIT_SRC:?}"

fail=0
pass=0
check() { # layer allowed-layers...
	local layer=$1; shift
	local allowed="$*" bad
	bad=$(grep -HnoE '#include "[a-z0-9_]+/' lib/"$layer"/*.[ch] | sed -E 's/.*#include "([a-z0-9_]+)\/.*/\1/' |
		sort -u | while read -r dep; do
			[ "$dep" = "$layer" ] && continue
			case " $allowed " in *" $dep "*) ;; *) echo "$dep" ;; esac
		done)
	if [ -n "$bad" ]; then
		echo "FAIL: lib/$layer includes from: $bad (allowed: $layer $allowed)"
		fail=$((fail + 1))
	else
		pass=$((pass + 1))
	fi
}
check base
check crypto base
check p11 base
check host base
check wire base crypto
check matter base crypto
check chip base
check db base host
check web base host tls
check tls base host p11 crypto
# factory/ (writ-factory) is a program: it may use every library, but it never opens a
# PKCS#11 token (only writ-hsmd holds keys)
if grep -nE '#include "p11/' factory/*.[ch]; then
	echo "FAIL: factory/ includes lib/p11: only writ-hsmd opens a token"
	fail=$((fail + 1))
else
	pass=$((pass + 1))
fi

# lib/base: portable C99, no OS calls, no malloc
if grep -nE '\b(malloc|calloc|realloc|free|open|read|write|printf|fopen)\s*\(' lib/base/*.c; then
	echo "FAIL: lib/base calls the OS or allocates"
	fail=$((fail + 1))
else
	pass=$((pass + 1))
fi
# device/ (libwrit-device, not devsim): portable C99 on lib/base and Mbed TLS only; no
# allocation and no mutable globals (the caller allocates every context)
bad=$(grep -HnE '#include' device/*.[ch] | grep -vE '#include (<(stddef|stdint|string|limits)\.h>|<mbedtls/[a-z0-9_]+\.h>|"base/[a-z0-9_]+\.h"|"wdev(_pal)?\.h")' || true)
if [ -n "$bad" ]; then
	echo "FAIL: device/ includes something other than lib/base, Mbed TLS or the C library:"
	echo "$bad"
	fail=$((fail + 1))
else
	pass=$((pass + 1))
fi
if grep -nE '\b(malloc|calloc|realloc|free)\s*\(' device/*.c; then
	echo "FAIL: device/ allocates"
	fail=$((fail + 1))
else
	pass=$((pass + 1))
fi
if grep -nE '^(static +)?(volatile +)?(unsigned|signed|int|char|long|short|uint[0-9]+_t|int[0-9]+_t|size_t|struct +[a-z_]+|enum +[a-z_]+)\b[^(]*(=.*)?;\s*$' device/*.c ||
	grep -nP '^\s+static\s+(?!const\b)' device/*.c; then
	echo "FAIL: device/ defines mutable globals or statics"
	fail=$((fail + 1))
else
	pass=$((pass + 1))
fi
# banned functions everywhere
if grep -nE '\b(sprintf|strcpy|strcat|strtok|atoi|gets)\s*\(' lib/*/*.c hsm/*.c cli/*.c factory/*.c station/*.c device/*.c device/devsim/*.c; then
	echo "FAIL: banned function used"
	fail=$((fail + 1))
else
	pass=$((pass + 1))
fi
# no code path reads a private key's value: the only CKA_VALUE read in the tree is the
# derived ECDH secret in lib/p11 (documented in docs/architecture.md)
reads=$(grep -rnE '\{ *CKA_VALUE *,' lib hsm cli | wc -l)
if [ "$reads" -ne 1 ] || ! grep -B12 -nE '\{ *CKA_VALUE *,' lib/p11/p11.c | grep -q 'derive'; then
	echo "FAIL: CKA_VALUE is read in $reads places; only the derived ECDH secret may be"
	fail=$((fail + 1))
else
	pass=$((pass + 1))
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
