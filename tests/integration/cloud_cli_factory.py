#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The factory's side for cloud_cli.sh, as writ-factory would push it: the HSM's signed
journal (read from writ-hsmd's socket, op 4), one factory record per DAC of the batch
(chained, hashed as lib/factory/record.c does) and one telemetry bucket, each pushed
with the factory credential. Prints what the portal answered to each push as JSON.

usage: cloud_cli_factory.py URL FACTORY_TOKEN_FILE HSM_SOCKET HSM_ID BATCH VERSION_DIGEST QR MANUAL
"""
import base64
import hashlib
import json
import sys
import time
import urllib.error
import urllib.request

import cbor2

from hsm_client import hsm_call


def journal(sock_path):
    entries, since = [], 0
    while True:
        got = hsm_call(sock_path, {1: 4, 6: since, 7: 512}).get(7, [])
        entries += got
        since += len(got)
        if len(got) < 512:
            return entries


def post(url, token, path, body):
    r = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                               headers={"Content-Type": "application/json", "Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(r, timeout=30) as a:
            return a.status, json.loads(a.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def main():
    url, tok_file, sock, hsm, batch, digest, qr, manual = sys.argv[1:9]
    tok = open(tok_file).read().strip()
    now = int(time.time())
    entries = journal(sock)
    out = {}
    out["journal"] = post(url, tok, "/v1/sync/journal",
                          {"hsm": hsm, "entries": [base64.b64encode(e).decode() for e in entries]})
    prev, recs = "0" * 64, []
    for e in (cbor2.loads(x) for x in entries):
        if e[4] != 4:
            continue  # a DAC (the HSM holds only this batch's writ)
        body = e[5]
        r = {"seq": len(recs) + 1, "prev": prev, "time": now, "factory": "foxy-sz1", "line": "L1", "station": "st1",
             "writ": batch, "product": "lamp", "version": "1.0.0", "version_digest": digest, "firmware_version": 3,
             "uid": body[3].hex(), "device_serial": body[4], "dac_serial": body[5].hex(), "dac_sha256": body[6].hex(),
             "hsm_id": hsm, "hsm_seq": e[1], "operation": "provision", "result": "ok", "step": "", "reason": "",
             "qr": qr, "manual": manual}
        r["hash"] = hashlib.sha256(json.dumps(r, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        prev = r["hash"]
        recs.append(json.dumps(r, sort_keys=True, separators=(",", ":")))
    out["records"] = post(url, tok, "/v1/sync/records", {"records": recs})
    start = now - now % 60 - 120
    bucket = {"run": "0123456789abcdef", "start": start, "window": 60, "total": 3, "ok": 2, "fail": {"dac": 1},
              "reasons": [{"step": "dac", "reason": "quantity spent", "n": 1}], "other_reasons": 0,
              "cycle_ms_sum": 1500, "cycle_hist": [0, 1, 1, 0, 0, 0, 0, 0, 0, 0]}
    out["telemetry"] = post(url, tok, "/v1/sync/telemetry",
                            {"buckets": [{"station": "st1", "line": "L1", "bucket": bucket}]})
    out["telemetry_start"] = start
    print(json.dumps(out))


if __name__ == "__main__":
    main()
