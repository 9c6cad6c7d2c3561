#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Make N devices' worth of production through writ-factory's station API, fast: for each
device a DAC (POST /v1/jobs/{writ}/dac, a fresh UID, one CSR reused: the HSM counts
UIDs, not keys) and its ok record (POST /v1/records). P processes, each with one
keep-alive connection. Used by bench_cloud.sh to queue records for the cloud.

usage: factory_load.py URL TOKEN_FILE WRIT_ID CSR.der COUNT [PROCS]
Prints "devices=N seconds=S rate=R".
"""
import base64
import http.client
import json
import multiprocessing
import os
import sys
import time
import urllib.parse


def worker(args):
    url, token, writ, csr, count = args
    u = urllib.parse.urlparse(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    h = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    done = 0
    for _ in range(count):
        uid = os.urandom(16).hex()
        c.request("POST", f"/v1/jobs/{writ}/dac", json.dumps({"uid": uid, "csr": csr}), h)
        r = c.getresponse()
        d = json.loads(r.read())
        if r.status != 200:
            raise SystemExit(f"dac: {r.status} {d}")
        rec = {"writ": writ, "uid": uid, "result": "ok", "dac_sha256": d["dac_sha256"], "serial": d["serial"],
               "hsm_seq": d["hsm_seq"], "qr": "MT:BENCH", "manual": "34970112332", "firmware_version": 1}
        c.request("POST", "/v1/records", json.dumps(rec), h)
        r = c.getresponse()
        body = r.read()
        if r.status not in (200, 201):
            raise SystemExit(f"record: {r.status} {body[:200]}")
        done += 1
    return done


def main():
    url, tok_file, writ, csr_file, count = sys.argv[1:6]
    procs = int(sys.argv[6]) if len(sys.argv) > 6 else 4
    token = open(tok_file).read().strip()
    csr = base64.b64encode(open(csr_file, "rb").read()).decode()
    count = int(count)
    share = [count // procs + (1 if i < count % procs else 0) for i in range(procs)]
    t0 = time.time()
    with multiprocessing.Pool(procs) as p:
        n = sum(p.map(worker, [(url, token, writ, csr, s) for s in share]))
    dt = time.time() - t0
    print(f"devices={n} seconds={dt:.2f} rate={n / dt:.0f}")


if __name__ == "__main__":
    main()
