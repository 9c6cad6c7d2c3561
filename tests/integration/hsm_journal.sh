#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# writ-hsmd's journal under damage (format in hsm/journal.h). A torn tail — the last
# frame cut short, or a partial frame appended, as an interrupted write leaves it — is
# cut at start ("torn" in the log) and the DAC count is what the intact entries say,
# never more. Damage with intact data after it (a flipped byte in an early entry, a
# frame cut out of the middle), too much trailing garbage, or another HSM's journal
# makes `serve` refuse to start, exit non-zero and leave the file as it was.
source "${WRIT_SRC:?WRIT_SRC must point at the source tree}/tests/integration/hsm_lib.sh"

hsm_setup
S=hsm/hsmd.sock

# frame_offsets FILE: the offset of every complete frame (u32be length || entry || check4);
# a zero length is where the zeros the journal reserves after its frames begin
frame_offsets()
{
	local f=$1 off=0 size len
	size=$(stat -c %s "$f")
	while ((off + 4 <= size)); do
		len=$(od -An -tu1 -j "$off" -N4 "$f" | awk '{print $1*16777216 + $2*65536 + $3*256 + $4}')
		((len > 0 && off + len + 8 <= size)) || break
		echo "$off"
		off=$((off + len + 8))
	done
}

# data_end FILE: just past the last non-zero byte: where writ-hsmd's torn-tail count
# ends
data_end() { python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); print(len(d.rstrip(b"\0")))' "$1"; }

# frames_end FILE: just past the last complete frame
frames_end()
{
	local f=$1 last len
	last=$(frame_offsets "$f" | tail -n 1)
	len=$(od -An -tu1 -j "$last" -N4 "$f" | awk '{print $1*16777216 + $2*65536 + $3*256 + $4}')
	echo $((last + len + 8))
}

# cut_data FILE N: zero the last N bytes of the frames, as a write that never reached
# the disk leaves the reserve
cut_data()
{
	local end
	end=$(frames_end "$1")
	dd if=/dev/zero of="$1" bs=1 seek=$((end - $2)) count="$2" conv=notrunc status=none
}

# append_data FILE: write stdin right after the frames, over the reserve
append_data()
{
	dd of="$1" bs=1 seek="$(frames_end "$1")" conv=notrunc status=none
}

# torn_start DESCRIPTION: the daemon must start on the damaged journal and log the cut.
torn_start()
{
	: >hsm/hsmd.log
	if start_hsmd hsm; then
		pass "$1: writ-hsmd starts"
	else
		fail "$1: writ-hsmd did not start (exit ${HSMD_RC:-?}): $(tail -n 3 hsm/hsmd.log)"
		return 0
	fi
	check_grep "$1: logs the torn tail of $2 bytes" "cutting a torn tail of $2 bytes" hsm/hsmd.log
}

# refused_start DESCRIPTION WORDS: serve must exit non-zero, say WORDS, and leave the
# journal byte for byte as it was.
refused_start()
{
	local what=$1 words=$2
	cp hsm/journal journal.before
	: >hsm/hsmd.log
	if start_hsmd hsm; then
		fail "$what: writ-hsmd started"
		stop_hsmd hsm KILL
	else
		check "$what: serve exits non-zero" "${HSMD_RC:-0}" != 0
		check_grep "$what: logs /$words/" "$words" hsm/hsmd.log
	fi
	check "$what: no socket left behind" ! -e "$S"
	check "$what: the journal was not touched" "$(cmp -s journal.before hsm/journal && echo same)" = same
}

# verify_ok DESCRIPTION ENTRIES [torn]: writ-hsmd verify-journal exits 0 with ENTRIES
# entries and, if asked, reports the torn tail.
verify_ok()
{
	local what=$1 n=$2 torn=${3:-} want
	if [[ -n $torn ]]; then
		want="^journal ok: $n entries, [0-9]* signed checkpoints, last time [0-9]*, torn tail present"
	else
		want="^journal ok: $n entries, [0-9]* signed checkpoints, last time [0-9]*$"
	fi
	run "$HSMD" verify-journal --state hsm
	if [[ $RC -eq 0 ]] && grep -Eq "$want" "$OUT"; then
		pass "$what: verify-journal passes with $n entries${torn:+ and reports the torn tail}"
	else
		fail "$what: verify-journal exit $RC: $(cat "$OUT" "$ERR") (want /$want/)"
	fi
}

make_authority auth
make_hsm hsm
make_hsm hsm2 writ-hsm2
certify hsm pai.der
ID=$(mint w.cose 10 1000)
start_hsmd hsm
must "$WRIT" hsm load --socket "$S" w.cose
for i in 1 2 3; do
	mkcsr "csr$i.der"
	must "$WRIT" hsm issue --socket "$S" --writ "$ID" --csr "csr$i.der" --uid "0a00000$i" --out "dac$i.der"
done
# SIGKILL: no closing checkpoint, so the last frame is the third DAC entry
stop_hsmd hsm KILL
cp hsm/journal journal.killed
verify_ok "after SIGKILL" 7  # genesis, checkpoint, start, writ, 3 DACs

# ---- torn tails ----
last=$(frame_offsets hsm/journal | tail -n 1)
cut_data hsm/journal 3
verify_ok "last DAC frame cut by 3 bytes" 6 torn
torn_start "last DAC frame cut by 3 bytes" $(($(data_end hsm/journal) - last))
check "torn last DAC: the count is what is durable (2 of 10)" "$(counts hsm "$ID")" = "issued 2 remaining 8"
check "torn tail cut: the file ends at the last intact frame plus the new start entry" \
	"$(frame_offsets hsm/journal | sed -n 7p)" = "$last"
mkcsr csr4.der
run "$WRIT" hsm issue --socket "$S" --writ "$ID" --csr csr4.der --uid 0a000004 --out dac4.der
check "after recovery issuing goes on" "$RC:$(counts hsm "$ID")" = "0:issued 3 remaining 7"
stop_hsmd hsm TERM
verify_ok "after torn-tail recovery and a clean stop" 9  # 6 + start + DAC + checkpoint
cp hsm/journal journal.clean

cut_data hsm/journal 3
verify_ok "closing checkpoint cut by 3 bytes" 8 torn
torn_start "closing checkpoint cut by 3 bytes" $(($(data_end hsm/journal) - $(frame_offsets journal.clean | tail -n 1)))
check "torn checkpoint: every DAC is still counted" "$(counts hsm "$ID")" = "issued 3 remaining 7"
stop_hsmd hsm TERM
verify_ok "after the second recovery" 10  # 8 + start + checkpoint
cp hsm/journal journal.clean

printf '\x00\x00\x01\x00\xa5\x01\x07' | append_data hsm/journal  # a frame of 256 bytes, 3 written
verify_ok "a partial frame appended" 10 torn
torn_start "a partial frame appended" 7
check "partial frame: the count did not move" "$(counts hsm "$ID")" = "issued 3 remaining 7"
stop_hsmd hsm TERM
printf '\x00\x07' | append_data hsm/journal  # half a length field (a frame of 1792+ bytes)
torn_start "half a frame header appended" 2
check "half header: the count did not move" "$(counts hsm "$ID")" = "issued 3 remaining 7"
stop_hsmd hsm TERM
verify_ok "after the partial-frame recoveries" 14
cp hsm/journal journal.clean

# ---- damage that is not a torn write ----
flip_byte hsm/journal 40
run "$HSMD" verify-journal --state hsm
check "byte 40 flipped: verify-journal exits 1, \"does NOT verify\"" \
	"$RC:$(grep -c "does NOT verify" "$ERR")" = "1:1"
refused_start "byte 40 flipped" "does not verify.*refusing to start"
check_grep "byte 40 flipped: explains why it is not torn" "damaged and intact data follows" hsm/hsmd.log

cp journal.clean hsm/journal
mapfile -t offs < <(frame_offsets hsm/journal)
flip_byte hsm/journal $((offs[5] + 20))  # inside the second DAC entry
refused_start "a byte flipped in a middle DAC entry" "does not verify.*refusing to start"

cp journal.clean hsm/journal
{ head -c "${offs[5]}" journal.clean; tail -c +$((offs[6] + 1)) journal.clean; } >hsm/journal
refused_start "a whole DAC frame cut out of the middle" "entry 6 found where 5 was expected"

cp journal.clean hsm/journal
head -c $((4 * 1024 * 1024)) /dev/urandom | append_data hsm/journal
refused_start "4 MiB of garbage after the frames (more than a torn write can leave)" "does not verify.*refusing to start"

cp hsm2/journal hsm/journal
run "$HSMD" verify-journal --state hsm
check "another HSM's journal is self-consistent (verify-journal alone passes)" "$RC" = 0
refused_start "another HSM's journal swapped in" "genesis names other keys"
check_grep "swapped journal: refuses to start" "does not verify.*refusing to start" hsm/hsmd.log

cp journal.clean hsm/journal
if start_hsmd hsm; then
	pass "the intact journal restored: writ-hsmd starts"
	check "restored: the count is back" "$(counts hsm "$ID")" = "issued 3 remaining 7"
	stop_hsmd hsm TERM
else
	fail "the restored journal does not start: $(cat hsm/hsmd.log)"
fi

finish
