# SPDX-License-Identifier: Apache-2.0
# Helpers of the tests that run writ-cloud with a factory (factory_sync.sh, tele_outage.sh,
# ops_metrics.sh); sourced after the test has set WORK, CLOUDD, CDB, CPORT, CURL_CLOUD,
# RESP and PY. Each wait is bounded.
#
#   capi METHOD PATH TOKEN [JSON | @FILE]   the cloud's API: sets CODE, the answer in $RESP
#   cmust WANT METHOD PATH TOKEN [BODY]     the same, aborting the test unless HTTP WANT
#   jr FILTER                               jq -r FILTER over the last answer
#   start_cloud / stop_cloud [SIGNAL]       writ-cloud serve on 127.0.0.1:$CPORT (CLOUD_PID)
#   start_proxy                             cut_proxy.py on $PPORT to $CPORT (PROXY_URL,
#                                           PROXY_PID); `proxy pass|refuse|...` steers it

capi()
{
	local args=(-s -o "$RESP" -w '%{http_code}' -X "$1")
	[[ -z $3 ]] || args+=(-H "Authorization: Bearer $3")
	if [[ -n ${4:-} ]]; then
		if [[ $4 == @* ]]; then
			args+=(-H 'Content-Type: application/octet-stream' --data-binary "$4")
		else
			args+=(-H 'Content-Type: application/json' --data-binary "$4")
		fi
	fi
	CODE=$(curl "${args[@]}" "$CURL_CLOUD$2") || CODE=000
}

cmust()
{
	local want=$1
	shift
	capi "$@"
	if [[ $CODE != "$want" ]]; then
		echo "FAIL (setup): $1 $2: HTTP $CODE, want $want: $(head -c 300 "$RESP")" >&2
		exit 1
	fi
}

jr() { jq -r "$1" "$RESP"; }

start_cloud()
{
	local i
	: >cloud.out
	"$CLOUDD" serve --insecure-http --db "$CDB" --listen "127.0.0.1:$CPORT" --threads 4 >cloud.out 2>>cloud.log &
	CLOUD_PID=$!
	for ((i = 0; i < 100; i++)); do
		grep -q 'listening on' cloud.out && return 0
		kill -0 "$CLOUD_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "FAIL: writ-cloud did not start: $(tail -n 5 cloud.log)" >&2
	exit 1
}

stop_cloud()
{
	[[ -n $CLOUD_PID ]] || return 0
	kill -"${1:-TERM}" "$CLOUD_PID" 2>/dev/null || true
	wait "$CLOUD_PID" 2>/dev/null || true
	CLOUD_PID=
}

start_proxy()
{
	PPORT=$(free_port)
	PROXY_URL=http://127.0.0.1:$PPORT
	echo pass >proxy.ctl
	: >proxy.log
	$PY "$WRIT_SRC/tests/integration/cut_proxy.py" "$PPORT" "$CPORT" proxy.ctl proxy.log &
	PROXY_PID=$!
	wait_for 10 grep -q listening proxy.log || { echo "FAIL: the proxy did not start" >&2; exit 1; }
}
proxy() { echo "$*" >proxy.ctl; }
