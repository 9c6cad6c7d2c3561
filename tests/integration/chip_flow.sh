#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One chip, end to end, through the station's driver: a real writ-hsmd (SoftHSM) and a
# writ-devsim chip (libwrit-device, Mbed TLS). Keys and CSR on the chip, the DAC from the
# HSM accepted by the chip, factory data, the OTA key wrapped by the HSM and unwrapped on
# the chip, OTP, a 1 MiB signed firmware image, lock. Then: the DAC chain checks out,
# the chip refuses a second run, the HSM counted exactly one device. The same driver
# over TCP and over a pty (tty:PATH / pty:PATH): discover, status, a full run on the pty.
source "${WRIT_SRC:?}/tests/integration/chip_lib.sh"

chip_setup 5
start_devsim c1

run "$WRIT" chip discover --connect "unix:$WORK/c1.sock"
check "discover: a blank chip" "$RC:$(grep -c '^lifecycle blank$' "$OUT")" = "0:1"
UID1=$(sed -n 's/^uid //p' "$OUT")
check "discover: a 32-hex-digit UID" "$(grep -Ec '^[0-9a-f]{32}$' <<<"$UID1")" = 1

provision "unix:$WORK/c1.sock"
check "provision exits 0 ($(head -c 300 "$ERR"))" "$RC" = 0
check_grep "provision reports 1 of 1" '^provisioned 1 of 1 chips' "$OUT"
check_grep "provision reports the time shares" '^time share: chip [0-9.]+% hsm [0-9.]+% rest' "$OUT"

run "$WRIT" chip status --connect "unix:$WORK/c1.sock"
check "status: secured" "$(grep -c '^lifecycle secured$' "$OUT")" = 1
check "status: every step done" \
	"$(sed -n 's/^state //p' "$OUT")" = "keys,chain,factory-data,secret,firmware,otp,locked"
check "status: firmware version $FW_VERSION" "$(grep -c "^firmware-version $FW_VERSION\$" "$OUT")" = 1

# the record of the device
check "one record" "$(wc -l <records.jsonl)" = 1
/usr/bin/python3 - "$UID1" <<'PY' >rec.out 2>&1
import json, sys
r = json.loads(open("records.jsonl").readline())
assert r["uid"] == sys.argv[1], r["uid"]
assert r["serial"] == 1000 and r["serial_number"] == "1000", r
assert r["qr"].startswith("MT:") and len(r["qr"]) == 22, r["qr"]
assert len(r["manual"]) == 11 and r["manual"].isdigit(), r["manual"]
assert 0 <= r["discriminator"] <= 4095
print("record ok")
PY
check_grep "the record names the chip, serial 1000 and onboarding codes" '^record ok$' rec.out

# the QR string decodes to the writ's VID/PID (independent base38 decode in Python)
QR=$(/usr/bin/python3 -c 'import json;print(json.loads(open("records.jsonl").readline())["qr"])')
/usr/bin/python3 - "$QR" <<'PY' >qr.out 2>&1
import sys
A = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-."
s = sys.argv[1][3:]
out = b""
for i in range(0, len(s), 5):
    chunk = s[i:i + 5]
    v = 0
    for c in reversed(chunk):
        v = v * 38 + A.index(c)
    n = {5: 3, 4: 2, 2: 1}[len(chunk)]
    out += v.to_bytes(n, "little")
bits = int.from_bytes(out, "little")
vid = (bits >> 3) & 0xFFFF
pid = (bits >> 19) & 0xFFFF
print("vid %04X pid %04X" % (vid, pid))
PY
check "the QR code carries VID $VID PID $PID" "$(cat qr.out)" = "vid $VID pid $PID"

# the chip's state file: what writ-devsim --show says, with the chip stopped
stop_devsim c1
run "$DEVSIM" --state "$WORK/c1.state" --show
check "devsim --show reads the state file" "$RC" = 0
check_grep "devsim --show: secured" 'secured' "$OUT"
# the OTA key reached the chip only wrapped: it is in none of the station's outputs,
# the HSM's journal or log (the chip's own flash holds it, as a chip's secure storage would)
leaks=$(/usr/bin/python3 - "$WORK" <<'PY'
import os, sys
key = open("ota.key", "rb").read()
w = sys.argv[1]
files = ["records.jsonl", ".out", ".err", "hsm/journal", "hsm/hsmd.log"]
print(sum(1 for f in files if os.path.exists(os.path.join(w, f)) and key in open(os.path.join(w, f), "rb").read()))
PY
)
check "the OTA key is in no output, journal or log" "$leaks" = 0

# the HSM counted one device
check "the HSM issued exactly 1 DAC" "$(counts hsm "$WRIT_ID")" = "issued 1 remaining 4"

# a second run on the same (locked) chip is refused, and costs no DAC
start_devsim c1
provision "unix:$WORK/c1.sock"
check "a locked chip is refused (exit 1)" "$RC" = 1
check_grep "the refusal says it is already provisioned" 'already provisioned' "$ERR"
check "still exactly 1 DAC" "$(counts hsm "$WRIT_ID")" = "issued 1 remaining 4"

# The same driver over TCP and over a serial line (a pty, raw mode): discover and status
# give the chip's UID and lifecycle, the same UID whichever way the line is named.
start_devsim t1 --listen tcp:127.0.0.1:0
TCP_ADDR=${DEVSIM_ADDR[t1]}
check "devsim announces tcp:127.0.0.1:PORT ($TCP_ADDR)" \
	"$(grep -Ec '^tcp:127\.0\.0\.1:[0-9]+$' <<<"$TCP_ADDR")" = 1
run "$WRIT" chip discover --connect "$TCP_ADDR"
check "discover over TCP: a blank chip ($(head -c 200 "$ERR"))" \
	"$RC:$(grep -c '^lifecycle blank$' "$OUT")" = "0:1"
UID_T=$(sed -n 's/^uid //p' "$OUT")
check "TCP: a 32-hex-digit UID" "$(grep -Ec '^[0-9a-f]{32}$' <<<"$UID_T")" = 1
check "TCP: another chip than c1" "$UID_T" != "$UID1"
run "$WRIT" chip status --connect "$TCP_ADDR"
check "status over TCP: the same UID, blank" \
	"$RC:$(sed -n 's/^uid //p' "$OUT"):$(grep -c '^lifecycle blank$' "$OUT")" = "0:$UID_T:1"

start_devsim p1 --listen pty
PTY_ADDR=${DEVSIM_ADDR[p1]}
PTY_PATH=${PTY_ADDR#pty:}
check "devsim announces pty:/dev/pts/N ($PTY_ADDR)" \
	"$(grep -Ec '^pty:/dev/pts/[0-9]+$' <<<"$PTY_ADDR")" = 1
run "$WRIT" chip discover --connect "$PTY_ADDR"
check "discover over the pty: a blank chip ($(head -c 200 "$ERR"))" \
	"$RC:$(grep -c '^lifecycle blank$' "$OUT")" = "0:1"
UID_P=$(sed -n 's/^uid //p' "$OUT")
check "pty: a 32-hex-digit UID" "$(grep -Ec '^[0-9a-f]{32}$' <<<"$UID_P")" = 1
check "pty: another chip than c1" "$UID_P" != "$UID1"
check "pty: another chip than t1" "$UID_P" != "$UID_T"
run "$WRIT" chip discover --connect "tty:$PTY_PATH"
check "discover as tty:PATH: the same chip" "$RC:$(sed -n 's/^uid //p' "$OUT")" = "0:$UID_P"
run "$WRIT" chip status --connect "tty:$PTY_PATH"
check "status over the pty: blank, no firmware" \
	"$RC:$(grep -c '^lifecycle blank$' "$OUT"):$(grep -c '^firmware-version 0$' "$OUT")" = "0:1:1"
# a whole run over the serial line: 1 MiB of firmware in 4000-byte chunks through a pty,
# which hands frames over in pieces
provision "$PTY_ADDR"
check "provision over the pty exits 0 ($(head -c 300 "$ERR"))" "$RC" = 0
run "$WRIT" chip status --connect "tty:$PTY_PATH"
check "status over the pty: secured, firmware $FW_VERSION" \
	"$(grep -c '^lifecycle secured$' "$OUT"):$(grep -c "^firmware-version $FW_VERSION\$" "$OUT")" = "1:1"
check "the pty chip's record names it" "$(grep -c "\"uid\": *\"$UID_P\"" records.jsonl)" = 1
check "the HSM issued 2 DACs" "$(counts hsm "$WRIT_ID")" = "issued 2 remaining 3"
stop_devsim t1
stop_devsim p1

# the journal verifies offline
stop_hsmd hsm
run "$HSMD" verify-journal --state hsm
check "verify-journal after the run" "$RC" = 0
finish
