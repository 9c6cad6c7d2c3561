#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The line end to end with real processes on loopback: writ-hsmd (SoftHSM), writ-factory
# (SQLite; the writ and the product-version bundle arrive through its file drop), two
# writ-station runs in parallel (two lines, each with its own enrolled credential) and
# 200 writ-devsim chips (two farms of 100). Then: every chip is locked with every flag
# and the firmware version, every DAC the stations saved chains to the PAA, every
# device has exactly one record (ok), the HSM counted exactly as many DACs as there are
# ok records, and the labels exist. Helpers in line_lib.sh.
source "${WRIT_SRC:?}/tests/integration/line_lib.sh"

N=${LINE_E2E_CHIPS:-100} # per farm
line_setup $((2 * N))
start_factory
enrol station-a L1 a.token
SA=$STATION_ID
enrol station-b L2 b.token
SB=$STATION_ID
check "two stations enrolled with distinct ids" -n "$SA" -a -n "$SB" -a "$SA" != "$SB"
check "the token file is mode 0600" "$(stat -c %a a.token)" = 600
mes_token
start_farm farm-a "$N"
start_farm farm-b "$N"
mkdir -p labels-a labels-b

"$STATION" run --factory "$FACTORY_URL" --token-file a.token --job "$WRIT_ID" --port-dir "$WORK/farm-a" \
	--parallel 8 --once --label-dir labels-a >a.out 2>a.err &
pa=$!
"$STATION" run --factory "$FACTORY_URL" --token-file b.token --job "$WRIT_ID" --port-dir "$WORK/farm-b" \
	--parallel 8 --once --label-dir labels-b >b.out 2>b.err &
pb=$!
rca=0
wait $pa || rca=$?
rcb=0
wait $pb || rcb=$?
check "line A exits 0 ($(tail -n 3 a.err))" "$rca" = 0
check "line B exits 0 ($(tail -n 3 b.err))" "$rcb" = 0
check_grep "line A's summary: $N devices, ok $N" "^devices=$N ok=$N failed=0 " a.out
check_grep "line B's summary: $N devices, ok $N" "^devices=$N ok=$N failed=0 " b.out
check_grep "the summary on stderr has p50/p99" "per device p50 [0-9]+ ms, p99 [0-9]+ ms" a.err
check_grep "a progress line (not a tty: every 10 %)" '^line: done [0-9]+, failed 0, remaining' a.err

# the token never appears in an output, a log or the factory's store as itself
tok=$(tr -d '\n' <a.token)
leaks=0
for f in a.out a.err b.out b.err fac/factory.log; do
	grep -qF -- "$tok" "$f" 2>/dev/null && leaks=$((leaks + 1))
done
grep -qaF -- "$tok" fac/* 2>/dev/null && leaks=$((leaks + 1))
check "the station token is in no output, log or store file" "$leaks" = 0

# every chip locked, holding every flag and the job's firmware version
check "farm A: all $N chips secured (keys..locked, firmware $FW_VERSION)" "$(locked_count "$WORK/farm-a")" = "$N"
check "farm B: all $N chips secured (keys..locked, firmware $FW_VERSION)" "$(locked_count "$WORK/farm-b")" = "$N"

# every DAC the stations saved chains to the PAA under a Matter-profile PAI
PAA=auth/paa.der
bad=0
ndac=0
for d in labels-a/*.dac.der labels-b/*.dac.der; do
	ndac=$((ndac + 1))
	"$WRIT" matter check-chain --paa "$PAA" --pai pai.der --dac "$d" >/dev/null 2>chain.err || {
		bad=$((bad + 1))
		head -n 1 chain.err >&2
	}
done
check "$((2 * N)) DACs saved next to the labels" "$ndac" = $((2 * N))
check "every saved DAC chains to the PAA (writ matter check-chain)" "$bad" = 0
check "a PNG and an SVG label per device" "$(ls labels-a/*.png labels-b/*.png | wc -l):$(ls labels-a/*.svg labels-b/*.svg | wc -l)" = "$((2 * N)):$((2 * N))"
check "a label is a PNG" "$(head -c 8 "$(ls labels-a/*.png | head -n 1)" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a

# the records: one per device, ok, each naming its UID once, from the right station
records
/usr/bin/python3 - "$WORK" "$N" "$SA" "$SB" <<'PY' >rec.out 2>&1
import glob, json, os, sys
w, n, sa, sb = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
recs = [json.loads(l) for l in open(os.path.join(w, "records.jsonl")) if l.strip()]
uids = [r["uid"] for r in recs]
dacs = {os.path.basename(p)[:-8] for p in glob.glob(os.path.join(w, "labels-*", "*.dac.der"))}
print("records", len(recs))
print("ok", sum(1 for r in recs if r["result"] == "ok"))
print("unique_uids", len(set(uids)))
print("uids_match_dacs", set(uids) == dacs)
print("seq_contiguous", [r["seq"] for r in recs] == list(range(recs[0]["seq"], recs[0]["seq"] + len(recs))) if recs else False)
by = {r["uid"]: r.get("station") for r in recs}
la = {os.path.basename(p)[:-8] for p in glob.glob(os.path.join(w, "labels-a", "*.dac.der"))}
lb = {os.path.basename(p)[:-8] for p in glob.glob(os.path.join(w, "labels-b", "*.dac.der"))}
print("stations", all(by.get(u) == "station-a" for u in la) and all(by.get(u) == "station-b" for u in lb))
print("hsm_seqs_unique", len({(r.get("hsm_id"), r.get("hsm_seq")) for r in recs}) == len(recs))
PY
check "$((2 * N)) records" "$(sed -n 's/^records //p' rec.out)" = $((2 * N))
check "all ok" "$(sed -n 's/^ok //p' rec.out)" = $((2 * N))
check "every UID recorded exactly once" "$(sed -n 's/^unique_uids //p' rec.out)" = $((2 * N))
check "the recorded UIDs are the devices whose DACs were saved" "$(sed -n 's/^uids_match_dacs //p' rec.out)" = True
check "records are numbered without gaps" "$(sed -n 's/^seq_contiguous //p' rec.out)" = True
check "each record names the station that made it" "$(sed -n 's/^stations //p' rec.out)" = True
check "each record names a distinct HSM journal entry" "$(sed -n 's/^hsm_seqs_unique //p' rec.out)" = True

# the HSM's count equals the ok records
check "the HSM issued exactly $((2 * N)) DACs (= ok records)" "$(counts hsm "$WRIT_ID")" = "issued $((2 * N)) remaining 0"

# a third run finds nothing left: the job is spent. A factory that still serves a spent
# job lets the station finish chips holding its DACs: every chip here is already recorded
# (exit 0, none counted as new); an older one refuses the job (exit 1). Either way no new
# record and no DAC.
records
nrec0=$(grep -c . records.jsonl)
station a.token --port-dir "$WORK/farm-a" --once
check "a run on a spent job: no new device (exit $RC)" "$RC" = 1 -o "$RC" = 0
check_grep "and says the job has no quantity left" 'no quantity left|not runnable|404|no job|quantity' "$ERR"
if [[ $RC = 0 ]]; then
	check "every chip counted as already recorded, none as new" "$(summary "$OUT")" = "ok=0 failed=0 already=$N"
fi
records
check "no record was added" "$(grep -c . records.jsonl)" = "$nrec0"
check "and no DAC issued" "$(counts hsm "$WRIT_ID")" = "issued $((2 * N)) remaining 0"
finish
