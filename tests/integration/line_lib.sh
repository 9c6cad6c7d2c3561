# SPDX-License-Identifier: Apache-2.0
# Helpers of the line tests (line_e2e.sh, line_faults.sh) and of bench/bench_line.sh, on
# top of hsm_lib.sh (sourced, not run): the whole line on loopback with real processes,
# an authority with a product-version bundle, a writ-hsmd (SoftHSM), a writ-factory
# (SQLite) fed through its file drop, enrolled writ-station credentials, and
# writ-devsim chip farms. Every wait is bounded; every process started here is stopped
# by pid when the script exits.
#
#   line_setup QUANTITY [mint args...]  # authority, HSM, bundle, writ ($WRIT_ID) dropped
#   start_factory                       # writ-factory serve on $FACTORY_URL, waits for it
#   stop_factory [SIG]
#   enrol NAME LINE TOKEN_FILE          # a one-time code from writ-factory, writ-station enrol
#   mes_token                           # $WORK/mes.hdr: "Authorization: Bearer ..." for curl -H @
#   records                             # GET /v1/records as JSONL into $WORK/records.jsonl
#   start_farm NAME COUNT [devsim args] # writ-devsim --count COUNT --dir $WORK/NAME
#   stop_farm NAME [SIG]
#   station TOKEN_FILE [run args...]    # writ-station run in the foreground (RC, $OUT, $ERR)
source "${WRIT_SRC:?}/tests/integration/hsm_lib.sh"

DEVSIM=$WRIT_BIN/writ-devsim
FACTORYD=$WRIT_BIN/writ-factory
STATION=$WRIT_BIN/writ-station
declare -A FARM_PIDS=()
FACTORY_PID=

_line_cleanup()
{
	local n
	for n in "${!FARM_PIDS[@]}"; do
		kill -KILL "${FARM_PIDS[$n]}" 2>/dev/null || true
		wait "${FARM_PIDS[$n]}" 2>/dev/null || true
	done
	if [[ -n $FACTORY_PID ]]; then
		kill -KILL "$FACTORY_PID" 2>/dev/null || true
		wait "$FACTORY_PID" 2>/dev/null || true
	fi
	_cleanup
}

# line_setup QUANTITY [extra mint args]: sets WRIT_ID, FW_VERSION; the writ and the bundle
# wait in $WORK/drop for the factory to pick them up.
line_setup()
{
	local q=$1
	shift
	hsm_setup
	trap _line_cleanup EXIT
	local tool
	for tool in "$DEVSIM" "$FACTORYD" "$STATION"; do
		[[ -x $tool ]] || { echo "FAIL: $tool not built" >&2; exit 1; }
	done
	make_authority auth
	make_hsm hsm
	certify hsm pai.der
	head -c 32 /dev/urandom >ota.key
	head -c "${LINE_FW_BYTES:-262144}" /dev/urandom >fw.bin
	FW_VERSION=3
	cat >settings.txt <<SET
# product-level Matter data; the line makes serial, passcode, discriminator per device
vendor_id = 0x$VID
product_id = 0x$PID
vendor_name = Acme
product_name = Lamp
mfg_date = 2026-11-23
hw_ver = 1
hw_ver_str = rev-A
SET
	must "$WRIT" authority bundle --dir auth --product lamp --version 1.4.0 --firmware fw.bin \
		--fw-version "$FW_VERSION" --settings settings.txt --secret ota-key --iterations 1000 \
		--serial-prefix SN --out lamp.wbundle
	LINE_VD=$(sed -n 's/^version-digest //p' "$OUT")
	LINE_FD=$(sed -n 's/^firmware-digest //p' "$OUT")
	WRIT_ID=$(mint w.writ "$q" 1000 --secret ota-key=ota.key --version-digest "$LINE_VD" --firmware-digest "$LINE_FD" "$@")
	start_hsmd hsm
	mkdir -p drop fac
	cp lamp.wbundle w.writ drop/
	must "$FACTORYD" init --state fac --oem-key auth/writ-signing.pub.pem --factory "$FACTORY"
	FACTORY_PORT=$(free_port)
	FACTORY_URL=http://127.0.0.1:$FACTORY_PORT
}

# start_factory: serve, wait (at most 20 s) for /v1/status and for the drop to be loaded.
start_factory()
{
	local i
	"$FACTORYD" serve --insecure-http --state fac --listen "127.0.0.1:$FACTORY_PORT" --hsm hsm/hsmd.sock --drop drop \
		>>fac/factory.log 2>&1 &
	FACTORY_PID=$!
	for ((i = 0; i < 400; i++)); do
		if curl -s -o /dev/null "$FACTORY_URL/v1/status" && [[ ! -e drop/w.writ && ! -e drop/lamp.wbundle ]]; then
			return 0
		fi
		kill -0 "$FACTORY_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "writ-factory did not come up (or did not load the drop): $(tail -n 5 fac/factory.log)" >&2
	ls -R drop >&2
	cat drop/refused/*.reason >&2 2>/dev/null || true
	return 1
}

stop_factory()
{
	local sig=${1:-TERM}
	[[ -n $FACTORY_PID ]] || return 0
	kill -"$sig" "$FACTORY_PID" 2>/dev/null || true
	wait "$FACTORY_PID" 2>/dev/null || true
	FACTORY_PID=
}

# drop_writ NAME QUANTITY [mint args]: another writ for the same bundle, through the
# running factory's drop; waits (10 s) until it was handled; prints its id.
drop_writ()
{
	local name=$1 q=$2 id i
	shift 2
	id=$(mint "$name.writ" "$q" 5000 --secret ota-key=ota.key --version-digest "$LINE_VD" \
		--firmware-digest "$LINE_FD" "$@")
	cp "$name.writ" drop/
	for ((i = 0; i < 200; i++)); do
		[[ -e drop/$name.writ ]] || break
		sleep 0.05
	done
	echo "$id"
}

# enrol NAME LINE TOKEN_FILE: prints nothing; the token lands in TOKEN_FILE (0600).
enrol()
{
	local name=$1 line=$2 tok=$3 code
	must "$FACTORYD" station add --state fac --name "$name" --line "$line"
	code=$(grep -Eo '[A-Za-z0-9_-]{6,}' "$OUT" | tail -n 1)
	# the one-time code from a file (mode 0600), never on the command line
	(umask 077 && printf '%s\n' "$code" >"$WORK/$name.code")
	must "$STATION" enrol --factory "$FACTORY_URL" --code-file "$WORK/$name.code" --name "$name" --line "$line" \
		--out "$tok"
	rm -f "$WORK/$name.code"
	STATION_ID=$(sed -n 's/^station //p' "$OUT")
}

mes_token()
{
	local t
	must "$FACTORYD" token add --state fac --role mes
	t=$(grep -Eo '[A-Za-z0-9_-]{40,}' "$OUT" | tail -n 1)
	printf 'Authorization: Bearer %s\n' "$t" >"$WORK/mes.hdr"
	chmod 600 "$WORK/mes.hdr"
}

# records: every record, oldest first, into records.jsonl (pages of 1000).
records()
{
	local since=0 n
	: >records.jsonl
	while :; do
		curl -s -f -H @"$WORK/mes.hdr" "$FACTORY_URL/v1/records?since=$since&limit=1000&format=jsonl" >page.jsonl ||
			{ echo "GET /v1/records failed" >&2; return 1; }
		n=$(grep -c . page.jsonl || true)
		[[ $n -gt 0 ]] || break
		cat page.jsonl >>records.jsonl
		since=$(tail -n 1 page.jsonl | /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["seq"])')
		[[ $n -ge 1000 ]] || break
	done
}

# start_farm NAME COUNT [writ-devsim args]: COUNT chips in $WORK/NAME (chip-I.sock/.state).
start_farm()
{
	local name=$1 count=$2 i
	shift 2
	mkdir -p "$WORK/$name"
	: >"$WORK/$name.ready" # a restarted farm: never read the last run's ready lines
	"$DEVSIM" --count "$count" --dir "$WORK/$name" "$@" >"$WORK/$name.ready" 2>>"$WORK/$name.log" &
	FARM_PIDS[$name]=$!
	for ((i = 0; i < 400; i++)); do
		[[ $(grep -c '^ready ' "$WORK/$name.ready" 2>/dev/null) -ge $count ]] && return 0
		kill -0 "${FARM_PIDS[$name]}" 2>/dev/null || break
		sleep 0.05
	done
	echo "writ-devsim farm $name did not become ready: $(tail -n 3 "$WORK/$name.log")" >&2
	return 1
}

stop_farm()
{
	local name=$1 sig=${2:-TERM} pid
	pid=${FARM_PIDS[$name]:-}
	[[ -n $pid ]] || return 0
	kill -"$sig" "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	unset "FARM_PIDS[$name]"
}

# station TOKEN_FILE [run args]: writ-station run for the writ, in the foreground.
station()
{
	local tok=$1
	shift
	run "$STATION" run --factory "$FACTORY_URL" --token-file "$tok" --job "$WRIT_ID" "$@"
}

# summary FILE: "ok=N failed=N already=N" from writ-station's key=value summary line
summary()
{
	local f=$1
	printf '%s %s %s\n' "$(grep -Eo '\<ok=[0-9]+' "$f" | tail -n 1)" "$(grep -Eo '\<failed=[0-9]+' "$f" | tail -n 1)" \
		"$(grep -Eo '\<already=[0-9]+' "$f" | tail -n 1)"
}

# locked_count DIR: how many chips of a farm report secured + every flag + the firmware
# version (while the farm runs, through `writ chip status`).
locked_count()
{
	local dir=$1 n=0 s
	for s in "$dir"/chip-*.sock; do
		if "$WRIT" chip status --connect "unix:$s" >"$WORK/st.out" 2>/dev/null &&
			grep -q '^lifecycle secured$' "$WORK/st.out" &&
			grep -q '^state keys,chain,factory-data,secret,firmware,otp,locked$' "$WORK/st.out" &&
			grep -q "^firmware-version $FW_VERSION\$" "$WORK/st.out"; then
			n=$((n + 1))
		fi
	done
	echo "$n"
}
