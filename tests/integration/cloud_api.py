#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The writ-cloud loop with real processes (cloud_flow.sh starts the cloud and the orgs).

OEM sets up -> ODM prepares -> OEM approves -> ODM creates batches (in parallel, through
every instance given) -> the writ reaches a real writ-hsmd -> DACs -> the HSM's journal
and the factory's records are pushed and verified -> revocation and its acknowledgement.
Along the way: every role and tenant that must be refused is refused (every operation of
docs/openapi.yaml, its x-roles, against every caller, a second factory with its own HSM
among them), and bad input (tampered journals, forks, gaps, forged records, bad firmware
signatures, oversized bodies, malformed JSON) gets a clear error, changes nothing and
raises the alert it should (and a retried push none).

Environment: WRIT_BIN, WORK, CLOUD_URLS (space-separated), TOKENS_FILE (JSON of the
users' tokens), SOFTHSM2_CONF and the HSM PINs. Debian's python3 (cbor2) runs it.
"""
import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import cbor2

from hsm_client import hsm_call
import yaml

BIN = os.environ["WRIT_BIN"]
WORK = os.environ["WORK"]
ENGINE = os.environ.get("CLOUD_ENGINE", "sqlite")
DB = os.environ.get("CLOUD_DB", "")
SPEC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "openapi.yaml")
URLS = os.environ["CLOUD_URLS"].split()
URL = URLS[0]
TOK = json.load(open(os.environ["TOKENS_FILE"]))
PASSED = 0
FAILED = 0


def check(what, cond, detail=""):
    global PASSED, FAILED
    if cond:
        PASSED += 1
        print("ok:", what)
    else:
        FAILED += 1
        print("FAIL:", what, detail, file=sys.stderr)


def req(method, path, token=None, body=None, raw=None, url=None, ctype=None):
    data = None
    headers = {}
    if body is not None:
        data = json.dumps(body).encode() if not isinstance(body, (bytes, str)) else (
            body.encode() if isinstance(body, str) else body)
        headers["Content-Type"] = "application/json"
    if raw is not None:
        data = raw
        headers["Content-Type"] = ctype or "application/octet-stream"
    if token:
        headers["Authorization"] = "Bearer " + token
    r = urllib.request.Request((url or URL) + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(r, timeout=60) as resp:
            st, b, ct = resp.status, resp.read(), resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        st, b, ct = e.code, e.read(), e.headers.get("Content-Type", "")
    if ct.startswith("application/json"):
        return st, json.loads(b)
    return st, b


def expect(what, st, want, ans, code=None):
    ok = st == want and (code is None or (isinstance(ans, dict) and ans.get("code") == code))
    check(f"{what}: {want}" + (f" {code}" if code else ""), ok, f"got {st} {str(ans)[:300]}")
    return ans


def run(*args, env=None, input=None):
    p = subprocess.run(list(args), capture_output=True, text=True, env=env, input=input)
    return p.returncode, p.stdout, p.stderr


def sql(stmt):
    """A statement on the cloud's store: to count what the API does not show, or to fake
    what it cannot make."""
    if ENGINE == "postgresql":
        p = subprocess.run(["psql", DB, "-qAtX", "-c", stmt], capture_output=True, text=True)
    else:
        p = subprocess.run(["sqlite3", DB[len("sqlite:"):], stmt], capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(f"sql {stmt}: {p.stderr}")
    return p.stdout.strip()


def in_parallel(fn, n):
    """fn(0) .. fn(n-1), each in its own thread, all at once; returns when all are done."""
    threads = [threading.Thread(target=fn, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


STORED = ("journal", "frecords", "devices", "firmware", "hsms", "batches", "writs", "alerts")


def stored():
    """How many rows each table a refused request must not touch holds."""
    return {t: int(sql(f"SELECT count(*) FROM {t}")) for t in STORED}


class Alerts:
    """The OEM's alerts raised since the last look: one kind per occurrence, a new alert's
    or one folded into an open alert (its count grew), by alert id."""

    def __init__(self, tok):
        self.tok = tok
        self.counts = {}
        self.new()

    def new(self):
        st, a = req("GET", "/v1/alerts", self.tok)
        got = []
        for x in sorted(a.get("alerts", []) if st == 200 else [], key=lambda x: x["id"]):
            got += [x["kind"]] * (x["count"] - self.counts.get(x["id"], 0))
            self.counts[x["id"]] = x["count"]
        return got

    def expect(self, what, want):
        kinds = self.new()
        shown = f"{len(want)} x {want[0]!r}" if len(want) > 3 and len(set(want)) == 1 else str(want)
        check(f"{what}: alerts {shown}", kinds == want, f"got {kinds}")


# ---- the HSM socket (op 4 journal) ----
def journal(sock_path, since):
    entries = []
    while True:
        r = hsm_call(sock_path, {1: 4, 6: since, 7: 512})
        got = r.get(7, [])
        entries += got
        since += len(got)
        if len(got) < 512:
            return entries


def b64(b):
    return base64.b64encode(b).decode()


# The dashboard's own files outside /v1: types, security headers, revalidation, and
# what else a browser or a scanner may ask for.
def dashboard_files():
    def raw(method, path, headers=None):
        r = urllib.request.Request(URL + path, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(r, timeout=30) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()
    want = {"/": "text/html", "/app.js": "text/javascript", "/app.css": "text/css", "/favicon.svg": "image/svg+xml"}
    for path, ctype in want.items():
        st, h, b = raw("GET", path)
        csp = h.get("Content-Security-Policy", "")
        check(f"dashboard {path}: {ctype} with CSP, nosniff, DENY, ETag", st == 200 and h.get("Content-Type", "")
              .startswith(ctype) and "script-src 'self'" in csp and "unsafe" not in csp and
              h.get("X-Content-Type-Options") == "nosniff" and h.get("X-Frame-Options") == "DENY" and
              h.get("ETag") and h.get("Cache-Control") == "no-cache" and len(b) > 50, f"{st} {dict(h)}")
    st, h, _ = raw("GET", "/app.js")
    st2, _, b2 = raw("GET", "/app.js", {"If-None-Match": h.get("ETag", "")})
    check("dashboard: If-None-Match with its ETag is 304", st2 == 304 and b2 == b"", str(st2))
    st, h, b = raw("GET", "/")
    check("the page loads no inline script", b"<script>" not in b and b"onclick" not in b and b"style=" not in b)
    st, h, _ = raw("HEAD", "/app.css")
    check("HEAD of a file", st == 200, str(st))
    for path in ("/nope", "/index.htm", "/app.js/x", "/..%2fcloud.db", "/%2e%2e/etc/passwd", "//app.js",
                 "/" + "a" * 600, "/v1", "/v2/me", "/web/app.js"):
        st, h, _ = raw("GET", path)
        check(f"dashboard: {path[:40]!r} is 404 with the headers", st == 404 and h.get("X-Content-Type-Options") == "nosniff"
              and "default-src 'none'" in h.get("Content-Security-Policy", ""), f"{st} {dict(h)}")
    # libmicrohttpd decodes %00 into the path, which then ends there: the same file or none
    st, h, b = raw("GET", "/app.js%00")
    check("dashboard: '/app.js%00' is that file or nothing", st in (200, 404), str(st))
    for m in ("POST", "PUT", "DELETE"):
        st, h, _ = raw(m, "/")
        check(f"dashboard: {m} / is 405", st == 405 and "GET" in h.get("Allow", ""), str(st))
    st, h, _ = raw("GET", "/v1/health")
    check("API answers carry nosniff, DENY and a CSP too", h.get("X-Content-Type-Options") == "nosniff" and
          h.get("X-Frame-Options") == "DENY" and "default-src 'none'" in h.get("Content-Security-Policy", ""), str(dict(h)))


def main():
    oem, sec, odm = TOK["oem"], TOK["sec"], TOK["odm"]
    oem2, odm2 = TOK["oem2"], TOK["odm2"]
    now = int(time.time())

    dashboard_files()

    # ---- OEM sets up ----
    st, a = req("GET", "/v1/me", oem)
    expect("whoami", st, 200, a)
    st, a = req("POST", "/v1/users", oem, {"name": "sally", "role": "oem-security"})
    expect("OEM admin adds a security user", st, 201, a)
    sec = a.get("token", sec)
    st, a = req("GET", "/v1/tokens?user=sally", oem)
    check("an OEM admin lists another user's tokens", st == 200 and len(a.get("tokens", [])) == 1, str(a))
    sally_tok = a["tokens"][0]["id"] if st == 200 and a.get("tokens") else 0
    st, a = req("GET", "/v1/tokens?user=sally", sec)
    expect("oem-security cannot list another user's tokens", st, 403, a, "forbidden")
    st, a = req("GET", "/v1/tokens?user=sally", oem2)
    check("another OEM's admin sees none of them", st == 200 and a.get("tokens") == [], str(a))
    st, a = req("DELETE", f"/v1/tokens/{sally_tok}", oem2)
    expect("another OEM's admin cannot revoke it", st, 404, a, "not_found")
    st, a = req("POST", "/v1/tokens", sec, {"label": "spare"})
    spare = expect("a user makes a second token", st, 201, a)
    st, a = req("DELETE", f"/v1/tokens/{spare.get('id', 0)}", oem)
    expect("the OEM admin revokes it", st, 200, a)
    st, a = req("GET", "/v1/me", spare.get("token"))
    expect("a revoked token is refused", st, 401, a, "unauthenticated")
    st, a = req("POST", "/v1/users", odm, {"name": "eve", "role": "oem-admin"})
    expect("an ODM cannot add an OEM admin", st, 400, a, "bad_request")
    st, a = req("POST", "/v1/products", oem,
                {"id": "lamp", "name": "Smart lamp", "vid": 0xFFF1, "pid": 0x8000, "quota": 100})
    prod = expect("product created", st, 201, a)
    for role, t in (("oem-security", sec), ("odm-engineer", odm)):
        st, a = req("POST", "/v1/products", t, {"id": "x" + role, "name": "x", "vid": 1, "pid": 1, "quota": 1})
        expect(f"{role} cannot create a product", st, 403, a, "forbidden")
    st, a = req("POST", "/v1/products", oem, {"id": "lamp", "name": "again", "vid": 1, "pid": 1, "quota": 1})
    expect("duplicate product id", st, 409, a, "conflict")
    st, a = req("POST", "/v1/products", oem, {"id": "bulb", "name": "B", "vid": 1, "pid": 1, "quota": 0})
    expect("quota 0 refused", st, 400, a, "bad_request")
    st, a = req("POST", "/v1/products", oem, {"id": "bulb", "name": "B", "vid": 1, "pid": 1, "quota": 5, "x": 1})
    expect("unknown field refused", st, 400, a, "bad_request")
    st, a = req("POST", "/v1/products", oem, '{"id": "bulb", "id": "b2"}')
    expect("duplicate JSON key refused", st, 400, a, "bad_request")
    st, a = req("POST", "/v1/products", oem, "[1,2")
    expect("malformed JSON refused", st, 400, a, "bad_request")
    st, a = req("POST", "/v1/products", oem, "{" + " " * (70 * 1024) + "}")
    expect("oversized JSON body refused", st, 413, a, "too_big")

    # tenant isolation before the invitation
    st, a = req("GET", "/v1/products/lamp", odm)
    expect("an uninvited ODM does not see the product", st, 404, a, "not_found")
    st, a = req("GET", "/v1/products/lamp", oem2)
    expect("another OEM does not see the product", st, 404, a, "not_found")
    st, a = req("GET", "/v1/products", oem2)
    check("another OEM's product list is empty", st == 200 and a["products"] == [], str(a))
    st, a = req("POST", "/v1/products/lamp/invites", sec, {"odm": "foxy"})
    expect("oem-security cannot invite", st, 403, a, "forbidden")
    st, a = req("POST", "/v1/products/lamp/invites", oem2, {"odm": "foxy"})
    expect("another OEM cannot invite to it", st, 404, a, "not_found")
    st, a = req("POST", "/v1/products/lamp/invites", oem, {"odm": "foxy"})
    expect("OEM invites the ODM", st, 201, a)
    st, a = req("GET", "/v1/products/lamp", odm)
    expect("the invited ODM sees the product", st, 200, a)
    st, a = req("GET", "/v1/products/lamp", odm2)
    expect("another ODM does not", st, 404, a, "not_found")

    # factory and HSM enrolment
    st, a = req("POST", "/v1/factories", odm, {"id": "foxy-sz1", "odm": "foxy"})
    expect("an ODM cannot register a factory", st, 403, a, "forbidden")
    st, a = req("POST", "/v1/factories", oem, {"id": "foxy-sz1", "odm": "foxy"})
    fac = expect("OEM registers the factory", st, 201, a)
    code = fac.get("code", "")
    st, a = req("GET", "/v1/enrol/" + "A" * 20)
    expect("unknown enrolment code", st, 401, a, "unauthenticated")
    st, info = req("GET", "/v1/enrol/" + code)
    expect("enrolment info", st, 200, info)
    pem = os.path.join(WORK, "oem.pem")
    open(pem, "w").write(info["writ_signing_pem"])
    rc, out, err = run(BIN + "/writ-hsmd", "init", "--state", WORK + "/hsm", "--factory", "foxy-sz1",
                       "--oem-key", pem)
    check("writ-hsmd init pinned to the OEM's key", rc == 0, err)
    enrol_bundle = open(WORK + "/hsm/enrolment.cbor", "rb").read()
    hsmd = subprocess.Popen([BIN + "/writ-hsmd", "serve", "--state", WORK + "/hsm"],
                            stdout=open(WORK + "/hsmd.log", "w"), stderr=subprocess.STDOUT)
    sock = WORK + "/hsm/hsmd.sock"
    for _ in range(200):
        if os.path.exists(sock):
            break
        time.sleep(0.05)
    try:
        flow(oem, sec, odm, oem2, odm2, code, enrol_bundle, sock, now)
    finally:
        hsmd.kill()
        hsmd.wait()
    print(f"{PASSED} passed, {FAILED} failed")
    sys.exit(0 if FAILED == 0 and PASSED > 0 else 1)


def flow(oem, sec, odm, oem2, odm2, code, enrol_bundle, sock, now):
    tampered = bytearray(enrol_bundle)
    tampered[len(tampered) // 2] ^= 1
    st, a = req("POST", "/v1/enrol", None, {"code": code, "enrolment": b64(bytes(tampered))})
    expect("a tampered enrolment bundle", st, 422, a)
    st, a = req("POST", "/v1/enrol", None, {"code": code, "enrolment": b64(enrol_bundle)})
    en = expect("HSM enrolled with the one-time code", st, 201, a)
    ftok, hsm = en.get("token", ""), en.get("hsm", "")
    st, a = req("POST", "/v1/enrol", None, {"code": code, "enrolment": b64(enrol_bundle)})
    expect("the code is used up", st, 401, a, "unauthenticated")
    st, a = req("GET", "/v1/products", ftok)
    expect("a factory credential cannot list products", st, 403, a, "forbidden")

    # ---- ODM prepares: firmware and version ----
    image = os.urandom(3000)
    st, a = req("POST", "/v1/products/lamp/firmware?fw_version=3&signature=" + "00" * 64, odm, raw=image)
    expect("firmware with a bad signature", st, 422, a, "bad_signature")
    st, a = req("GET", "/v1/products/lamp/firmware", odm)
    check("nothing stored after the bad signature", st == 200 and a["firmware"] == [], str(a))
    st, a = req("POST", "/v1/products/lamp/firmware?fw_version=3&sign=portal", odm, raw=image)
    expect("an ODM cannot sign with the portal's key", st, 403, a, "forbidden")
    st, a = req("POST", "/v1/products/lamp/firmware?fw_version=3&sign=portal", sec, raw=image)
    fw = expect("OEM security signs the image in the portal", st, 201, a)
    st, a = req("POST", "/v1/products/lamp/firmware?fw_version=3&signature=" + fw["signature"], odm, raw=image)
    expect("the ODM uploads the same signed image again (content-addressed)", st, 200, a)
    st, a = req("POST", "/v1/products/lamp/firmware?fw_version=4&signature=" + fw["signature"], odm, raw=image)
    expect("a signature for another fw_version", st, 422, a, "bad_signature")
    st, a = req("POST", "/v1/products/lamp/firmware?fw_version=3&signature=" + fw["signature"], odm,
                raw=b"\0" * (4 * 1024 * 1024 + 1))
    expect("an oversized image", st, 413, a, "too_big")
    st, a = req("GET", "/v1/products/lamp/firmware", odm)
    check("nothing stored after the oversized image: one image, one firmware row",
          st == 200 and [f["sha256"] for f in a.get("firmware", [])] == [fw["sha256"]] and
          sql("SELECT count(*) FROM firmware") == "1", str(a)[:300])
    st, a = req("POST", "/v1/products/lamp/firmware?fw_version=3&signature=" + fw["signature"], odm2, raw=image)
    expect("an uninvited ODM cannot upload", st, 404, a, "not_found")

    settings = "vendor_id = 0xFFF1\nproduct_id = 0x8000\nvendor_name = Acme\nproduct_name = Lamp\nmfg_date = 2026-11-23\nhw_ver = 1\n"
    st, a = req("POST", "/v1/products/lamp/versions", odm,
                {"name": "1.0.0", "firmware": fw["sha256"], "settings": "vendor_id = 0x1234\n"})
    expect("settings for another VID", st, 400, a, "bad_request")
    st, a = req("POST", "/v1/products/lamp/versions", odm,
                {"name": "1.0.0", "firmware": "00" * 32, "settings": settings})
    expect("a version of unknown firmware", st, 404, a, "not_found")
    st, a = req("POST", "/v1/products/lamp/versions", odm,
                {"name": "1.0.0", "firmware": fw["sha256"], "settings": settings, "serial_prefix": "LMP-"})
    ver = expect("ODM creates the version", st, 201, a)
    st, a = req("POST", "/v1/products/lamp/versions", odm,
                {"name": "1.0.0", "firmware": fw["sha256"], "settings": settings})
    expect("versions are immutable", st, 409, a, "conflict")
    st, bundle = req("GET", "/v1/products/lamp/versions/1.0.0/bundle", odm)
    check("the bundle's digest is the version digest",
          st == 200 and hashlib.sha256(cbor2.loads(bundle).value[2] if hasattr(cbor2.loads(bundle), "value")
                                       else cbor2.loads(bundle)[2]).hexdigest() == ver["digest"], str(st))

    st, hsm_list = req("GET", "/v1/factories", odm)
    check("the ODM sees its factory and HSM", st == 200 and hsm_list["factories"][0]["hsms"][0]["id"] == hsm,
          str(hsm_list))
    batch = {"product": "lamp", "version": "1.0.0", "factory": "foxy-sz1", "hsm": hsm, "quantity": 5,
             "not_before": now - 60, "not_after": now + 86400}
    st, a = req("POST", "/v1/batches", odm, batch)
    expect("a batch for an unapproved version", st, 409, a, "state")
    st, a = req("POST", "/v1/products/lamp/versions/1.0.0/approve", odm, {})
    expect("an ODM cannot approve", st, 403, a, "forbidden")
    st, a = req("POST", "/v1/products/lamp/versions/1.0.0/approve", oem2, {})
    expect("another OEM cannot approve", st, 404, a, "not_found")
    st, a = req("POST", "/v1/products/lamp/versions/1.0.0/approve", sec, {})
    expect("OEM security approves", st, 200, a)
    st, a = req("POST", "/v1/products/lamp/versions/1.0.0/reject", oem, {"reason": "late"})
    expect("a decided version cannot be decided again", st, 409, a, "state")

    # ---- batches under the quota ----
    st, a = req("POST", "/v1/batches", oem, batch)
    expect("an OEM does not create batches", st, 403, a, "forbidden")
    st, a = req("POST", "/v1/batches", odm2, batch)
    expect("an uninvited ODM cannot create a batch", st, 404, a, "not_found")
    st, a = req("POST", "/v1/batches", odm, dict(batch, quantity=101))
    expect("a batch over quota", st, 409, a, "quota")
    st, a = req("POST", "/v1/batches", odm, dict(batch, quantity=16 * 1024 * 1024 + 1))
    expect("a batch larger than one HSM writ can hold", st, 400, a, "bad_request")
    st, a = req("POST", "/v1/batches", odm, dict(batch, hsm="ab" * 32))
    expect("a batch for an HSM not at that factory", st, 404, a, "not_found")
    st, b1 = req("POST", "/v1/batches", odm, batch)
    expect("ODM creates a batch of 5", st, 201, b1)
    st, p = req("GET", "/v1/products/lamp", oem)
    check("allocated 5 of 100", p.get("allocated") == 5, str(p))

    # parallel batch creation through every instance: never over the quota
    results = []
    lock = threading.Lock()

    def make(i):
        s, ans = req("POST", "/v1/batches", odm, dict(batch, quantity=10), url=URLS[i % len(URLS)])
        with lock:
            results.append((s, ans, i % len(URLS)))

    in_parallel(make, 16)
    made = [a for s, a, _ in results if s == 201]
    over = [a for s, a, _ in results if s == 409 and a.get("code") == "quota"]
    check(f"16 parallel batches of 10 with 95 left: 9 made, 7 over quota (got {len(made)}, {len(over)})",
          len(made) == 9 and len(over) == 7, str([s for s, _, _ in results]))
    if len(URLS) == 2:
        # the requests alternate, 8 through each instance: 9 made means both made some
        per = [sum(1 for s, _, u in results if u == n and s == 201) for n in range(2)]
        check(f"both instances made batches in the race (made per instance: {per})", min(per) >= 1,
              str([(s, u) for s, _, u in results]))
    st, p = req("GET", "/v1/products/lamp", oem)
    check("allocated exactly 95 of 100 after the race", p.get("allocated") == 95, str(p))
    ranges = sorted((a["serial_first"], a["serial_last"]) for a in made + [b1])
    check("serial ranges never overlap", all(ranges[i][1] < ranges[i + 1][0] for i in range(len(ranges) - 1)),
          str(ranges))

    for who, tok, want in (("the ODM", odm, 10), ("the OEM", oem, 10), ("another ODM", odm2, 0),
                           ("another OEM", oem2, 0)):
        st, a = req("GET", "/v1/batches", tok)
        check(f"{who} lists {want} batches", st == 200 and len(a.get("batches", [])) == want, str(st))

    # ---- the writ reaches the HSM ----
    st, feed = req("GET", "/v1/sync/writs?since=0", ftok)
    check("the factory pulls 10 writs", st == 200 and len(feed["writs"]) == 10, str(st))
    st, a = req("GET", "/v1/sync/writs?since=0", odm)
    expect("an ODM user cannot use the sync API", st, 403, a, "forbidden")
    w1 = next(w for w in feed["writs"] if w["id"] == b1["id"])
    open(WORK + "/b1.writ", "wb").write(base64.b64decode(w1["sealed"]))
    rc, out, err = run(BIN + "/writ", "hsm", "load", "--socket", sock, WORK + "/b1.writ")
    check("the HSM loads the cloud's writ", rc == 0, err + out)
    st, bb = req("GET", "/v1/sync/bundles/" + w1["version_digest"], ftok)
    check("the factory pulls the version's bundle", st == 200 and bb == bundle, str(st))
    st, a = req("GET", "/v1/sync/bundles/" + "00" * 32, ftok)
    expect("an unknown bundle", st, 404, a, "not_found")

    uids = []
    for i in range(6):
        csr = WORK + f"/csr{i}.der"
        subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", "/dev/null", "-subj", "/CN=d", "-outform", "DER", "-out", csr],
                       capture_output=True, check=True)
        uid = os.urandom(16).hex()
        rc, out, err = run(BIN + "/writ", "hsm", "issue", "--socket", sock, "--writ", b1["id"], "--csr", csr,
                           "--uid", uid, "--out", WORK + f"/dac{i}.der")
        if i < 5:
            check(f"DAC {i + 1} of 5", rc == 0, err)
            uids.append(uid)
        else:
            check("the 6th DAC is refused by the HSM", rc != 0, out)

    # ---- the journal comes back ----
    rc, out, err = run(BIN + "/writ", "hsm", "checkpoint", "--socket", sock)
    check("the HSM signs its journal", rc == 0, err)
    entries = journal(sock, 0)
    st, cur = req("GET", f"/v1/sync/hsms/{hsm}/cursor", ftok)
    check("a fresh HSM's cursor is 0", st == 200 and cur["next"] == 0, str(cur))
    al = Alerts(oem)
    bad = list(entries)
    flip = bytearray(bad[3])
    flip[-1] ^= 1
    bad[3] = bytes(flip)
    st, a = req("POST", "/v1/sync/journal", ftok, {"hsm": hsm, "entries": [b64(e) for e in bad]})
    expect("a tampered journal", st, 422, a, "bad_journal")
    al.expect("a tampered journal", ["bad_journal"])
    st, a = req("POST", "/v1/sync/journal", ftok, {"hsm": hsm, "entries": [b64(e) for e in entries[2:]]})
    expect("a journal that starts after the cursor", st, 409, a, "gap")
    al.expect("a journal that starts after the cursor", [])
    st, a = req("POST", "/v1/sync/journal", ftok, {"hsm": hsm, "entries": [b64(e) for e in entries[:2] + entries[3:]]})
    expect("a journal with a hole", st, 422, a, "bad_journal")
    al.expect("a journal with a hole", ["bad_journal"])
    st, a = req("POST", "/v1/sync/journal", ftok, {"hsm": hsm, "entries": ["!!"]})
    expect("an entry that is not base64", st, 400, a, "bad_request")
    al.expect("an entry that is not base64", [])
    st, a = req("GET", f"/v1/sync/hsms/{hsm}/cursor", ftok)
    check("the refused journals moved nothing", a == cur and sql("SELECT count(*) FROM journal") == "0", str(a))
    st, a = req("POST", "/v1/sync/journal", ftok, {"hsm": hsm, "entries": [b64(e) for e in entries]})
    ok = expect("the journal is verified and stored", st, 200, a)
    check("every entry accepted", ok.get("accepted") == len(entries), str(ok))
    st, a = req("POST", "/v1/sync/journal", ftok, {"hsm": hsm, "entries": [b64(e) for e in entries]})
    check("a retried push is idempotent", st == 200 and a.get("duplicate") == len(entries) and a.get("accepted") == 0,
          str(a))
    al.expect("an accepted journal and its retry", [])
    forged = bytearray(entries[-2])
    forged[-1] ^= 1
    st, a = req("POST", "/v1/sync/journal", ftok, {"hsm": hsm, "entries": [b64(e) for e in entries[:-2]] +
                                                    [b64(bytes(forged)), b64(entries[-1])]})
    expect("other bytes for an accepted entry", st, 409, a, "fork")
    al.expect("other bytes for an accepted entry", ["fork"])
    st, a = req("GET", "/v1/alerts", odm)
    expect("ODM users do not read OEM alerts", st, 403, a, "forbidden")
    st, a = req("GET", "/v1/alerts", oem2)
    check("another OEM sees none of these alerts", st == 200 and a["alerts"] == [], str(a))
    st, bat = req("GET", "/v1/batches/" + b1["id"], oem)
    check("the batch counts 5 produced from the verified journal", bat.get("produced") == 5, str(bat))
    st, p = req("GET", "/v1/products/lamp", oem)
    check("the product counts 5 produced", p.get("produced") == 5, str(p))

    # ---- factory records ----
    hsm_entries = [cbor2.loads(e) for e in entries]
    dacs = [(e[1], e[5]) for e in hsm_entries if e[4] == 4]
    prev = "0" * 64
    recs = []
    for n, (seq, body) in enumerate(dacs, start=1):
        r = {"seq": n, "prev": prev, "time": now, "factory": "foxy-sz1", "line": "L1", "station": "st1",
             "writ": b1["id"], "product": "lamp", "version": "1.0.0", "version_digest": ver["digest"],
             "firmware_version": 3, "uid": body[3].hex(), "device_serial": body[4], "dac_serial": body[5].hex(),
             "dac_sha256": body[6].hex(), "hsm_id": hsm, "hsm_seq": seq, "operation": "provision",
             "result": "ok", "step": "", "reason": "", "qr": "MT:TEST", "manual": "12345678901"}
        r["hash"] = hashlib.sha256(json.dumps(r, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        prev = r["hash"]
        recs.append(json.dumps(r, sort_keys=True, separators=(",", ":")))
    forged = json.loads(recs[1])
    forged["qr"] = "MT:FORGED"
    st, a = req("POST", "/v1/sync/records", ftok, {"records": [recs[0], json.dumps(forged)] + recs[2:]})
    expect("a forged record", st, 422, a, "bad_record")
    al.expect("a forged record", ["bad_record"])
    st, a = req("POST", "/v1/sync/records", ftok, {"records": [recs[1], recs[0]] + recs[2:]})
    check("reordered records (starting past the cursor): 409 gap with the position to resume at",
          st == 409 and a.get("code") == "gap" and a.get("next") == 1, str(a))
    al.expect("reordered records", ["reordered"])
    st, a = req("POST", "/v1/sync/records", ftok, {"records": [recs[0], recs[2], recs[1]] + recs[3:]})
    expect("records out of order after the first", st, 422, a, "bad_record")
    al.expect("records out of order after the first", ["bad_record"])
    st, a = req("GET", "/v1/sync/records/cursor", ftok)
    check("the refused records moved nothing", st == 200 and a.get("next") == 1 and
          sql("SELECT count(*) FROM frecords") == "0", str(a))
    st, a = req("POST", "/v1/sync/records", ftok, {"records": recs})
    ok = expect("the factory's records are verified against the journal", st, 200, a)
    check("5 records accepted", ok.get("accepted") == 5, str(ok))
    st, a = req("POST", "/v1/sync/records", ftok, {"records": recs})
    check("records re-sent are duplicates", st == 200 and a.get("duplicate") == 5, str(a))
    st, a = req("POST", "/v1/sync/records", ftok, {"records": recs[3:]})
    check("a retry of the last records alone: duplicates", st == 200 and a.get("duplicate") == 2 and
          a.get("accepted") == 0, str(a))
    al.expect("accepted records and their retries", [])
    changed = json.loads(recs[1])
    changed["qr"] = "MT:OTHER"
    changed["hash"] = hashlib.sha256(json.dumps({k: v for k, v in changed.items() if k != "hash"}, sort_keys=True,
                                                separators=(",", ":")).encode()).hexdigest()
    st, a = req("POST", "/v1/sync/records", ftok, {"records": [recs[0], json.dumps(changed, sort_keys=True,
                                                                                    separators=(",", ":"))]})
    expect("a stored record resent changed (its hash recomputed)", st, 409, a, "fork")
    al.expect("a stored record resent changed", ["fork"])
    bulk_limits(ftok, hsm, entries, recs, al)
    st, devs = req("GET", "/v1/records?batch=" + b1["id"], oem)
    check("5 device records with the station's QR", st == 200 and len(devs["records"]) == 5 and
          all(d.get("qr") == "MT:TEST" for d in devs["records"]), str(devs)[:300])
    st, csv = req("GET", "/v1/records?batch=" + b1["id"] + "&format=csv", odm)
    check("CSV export for the ODM", st == 200 and csv.count(b"\n") == 6, str(csv[:200]))
    st, a = req("GET", "/v1/records?batch=" + b1["id"], odm2)
    check("another ODM sees no records", st == 200 and a["records"] == [], str(a)[:200])
    st, a = req("GET", "/v1/devices?uid=" + uids[0], oem)
    check("device search by UID", st == 200 and len(a["devices"]) == 1 and a["devices"][0]["result"] == "ok", str(a))
    st, a = req("GET", "/v1/devices?uid=" + uids[0], oem2)
    check("another OEM cannot find it", st == 200 and a["devices"] == [], str(a))
    dashboard_reads(oem, odm, oem2, odm2, ftok, devs["records"], uids)

    # ---- revocation: quota returns only with the HSM's signed acknowledgement ----
    b2 = made[0]
    w2 = next(w for w in feed["writs"] if w["id"] == b2["id"])
    open(WORK + "/b2.writ", "wb").write(base64.b64decode(w2["sealed"]))
    run(BIN + "/writ", "hsm", "load", "--socket", sock, WORK + "/b2.writ")
    rc, out, err = run(BIN + "/writ", "hsm", "issue", "--socket", sock, "--writ", b2["id"], "--csr",
                       WORK + "/csr5.der", "--uid", os.urandom(16).hex(), "--out", WORK + "/dacb2.der")
    check("one DAC under the second batch", rc == 0, err)
    st, a = req("POST", f"/v1/batches/{b2['id']}/revoke", odm2, {})
    expect("another ODM cannot revoke", st, 404, a, "not_found")
    st, a = req("POST", f"/v1/batches/{b2['id']}/revoke", sec, {})
    rv = expect("OEM security revokes the batch", st, 200, a)
    st, p = req("GET", "/v1/products/lamp", oem)
    check("units are not given back before the HSM acknowledges", p.get("allocated") == 95, str(p))
    st, feed2 = req("GET", f"/v1/sync/writs?since={feed['next']}", ftok)
    rw = [w for w in feed2.get("writs", []) if w["id"] == rv.get("revocation")]
    check("the revocation writ is in the factory's feed", len(rw) == 1 and rw[0]["kind"] == 3, str(feed2)[:300])
    if rw:
        open(WORK + "/rev.writ", "wb").write(base64.b64decode(rw[0]["sealed"]))
        rc, out, err = run(BIN + "/writ", "hsm", "load", "--socket", sock, WORK + "/rev.writ")
        check("the HSM accepts the revocation", rc == 0, err)
    run(BIN + "/writ", "hsm", "checkpoint", "--socket", sock)
    st, cur = req("GET", f"/v1/sync/hsms/{hsm}/cursor", ftok)
    more = journal(sock, cur["next"])
    # a record for the new DAC, pushed before the journal that holds it
    seq, body = next((e[1], e[5]) for e in map(cbor2.loads, more) if e[4] == 4)
    r = {"seq": len(recs) + 1, "prev": prev, "time": now, "factory": "foxy-sz1", "line": "L1", "station": "st1",
         "writ": b2["id"], "product": "lamp", "version": "1.0.0", "version_digest": ver["digest"],
         "firmware_version": 3, "uid": body[3].hex(), "device_serial": body[4], "dac_serial": body[5].hex(),
         "dac_sha256": body[6].hex(), "hsm_id": hsm, "hsm_seq": seq, "operation": "provision",
         "result": "ok", "step": "", "reason": "", "qr": "MT:TEST2", "manual": "12345678901"}
    r["hash"] = hashlib.sha256(json.dumps(r, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    early = json.dumps(r, sort_keys=True, separators=(",", ":"))
    st, a = req("POST", "/v1/sync/records", ftok, {"records": [early]})
    expect("a record ahead of the journal", st, 409, a, "journal_first")
    st, a = req("GET", "/v1/sync/records/cursor", ftok)
    check("the refused record moved nothing", st == 200 and a.get("next") == len(recs) + 1, str(a))
    st, a = req("POST", "/v1/sync/journal", ftok, {"hsm": hsm, "entries": [b64(e) for e in more]})
    expect("the acknowledgement is pushed", st, 200, a)
    st, a = req("POST", "/v1/sync/records", ftok, {"records": [early]})
    expect("the record is accepted once its DAC is verified", st, 200, a)
    st, b2s = req("GET", "/v1/batches/" + b2["id"], oem)
    check("the batch is revoked with final count 1", b2s.get("state") == "revoked" and b2s.get("final_count") == 1,
          str(b2s))
    st, p = req("GET", "/v1/products/lamp", oem)
    check("9 unused units went back to the quota", p.get("allocated") == 86, str(p))
    st, a = req("POST", f"/v1/batches/{b2['id']}/revoke", sec, {})
    expect("a revoked batch cannot be revoked again", st, 409, a, "state")

    # units come back to the quota, serial numbers never do: a new batch's range is past
    # every earlier batch's, the revoked one's included
    st, b3 = req("POST", "/v1/batches", odm, dict(batch, quantity=9))
    expect("a batch from the units given back", st, 201, b3)
    earlier = sorted((x["serial_first"], x["serial_last"]) for x in made + [b1])
    new = (b3.get("serial_first", 0), b3.get("serial_last", -1))
    check("its serial range overlaps no earlier batch's, the revoked one's included",
          new[1] - new[0] + 1 == 9 and b2["serial_first"] <= b2["serial_last"] and
          all(new[1] < f or new[0] > l for f, l in earlier), f"{new} {earlier}")
    st, lst = req("GET", "/v1/batches", oem)
    ranges = sorted((x["serial_first"], x["serial_last"]) for x in lst.get("batches", []))
    check("the 11 stored ranges never overlap", len(ranges) == 11 and
          all(ranges[i][1] < ranges[i + 1][0] for i in range(len(ranges) - 1)), str(ranges))

    ftok2 = other_factory(oem, ftok, hsm, enrol_bundle, entries, recs, ver, b1, al)
    st, grant = req("POST", "/v1/rework", sec, {"product": "lamp", "factory": "foxy-sz1", "hsm": hsm,
                                                "perms": ["debug"], "limit": 1, "days": 1, "session": 60})
    expect("a rework grant (for the authorization matrix)", st, 201, grant)
    st, a = req("GET", "/v1/rework", ftok2)
    check("factory B's rework list holds none of A's rights", st == 200 and a.get("rework") == [], str(a)[:200])
    st, code = req("POST", "/v1/factories/foxy-sz1/codes", oem, {})
    expect("a fresh enrolment code (for the authorization matrix)", st, 201, code)

    tokens = {"oem-admin": oem, "oem-security": sec, "odm-engineer": odm, "factory": ftok,
              "other-oem": oem2, "other-odm": odm2, "other-factory": ftok2, "anonymous": None}
    authz_matrix(tokens, hsm, b1["id"], b2["id"], ver["digest"], grant.get("id", "0" * 32), code.get("code", ""))
    json_fuzz(tokens, hsm)


# A second factory of the same OEM and ODM, with its own HSM. Factory A's HSM cannot be
# enrolled there (nor re-enrolled at A): the answer says why and nothing changes, the
# enrolment code included. Factory B's credential reaches nothing of A's: its HSM's
# cursor and journal, its writs, batches, bundles; A's records pushed by B are a forgery
# (an alert), B's own records naming A's HSM match no DAC it may claim. Returns B's token.
def other_factory(oem, ftok, hsm, enrol_bundle, entries, recs, ver, b1, al):
    def hsms_of():
        st, a = req("GET", "/v1/factories", oem)
        return {f["id"]: [h["id"] for h in f["hsms"]] for f in a.get("factories", [])}

    st, fb = req("POST", "/v1/factories", oem, {"id": "foxy-sz2", "odm": "foxy"})
    expect("OEM registers a second factory", st, 201, fb)
    code2 = fb.get("code", "")
    n0, h0 = stored(), hsms_of()
    st, a = req("POST", "/v1/enrol", None, {"code": code2, "enrolment": b64(enrol_bundle)})
    expect("factory A's HSM enrolled with factory B's code", st, 422, a, "bad_enrolment")
    st, a = req("GET", "/v1/enrol/" + code2)
    check("B's code is not used up", st == 200 and a.get("factory") == "foxy-sz2", str(a)[:200])
    st, c = req("POST", "/v1/factories/foxy-sz1/codes", oem, {})
    st, a = req("POST", "/v1/enrol", None, {"code": c.get("code", ""), "enrolment": b64(enrol_bundle)})
    expect("factory A's HSM enrolled again at A", st, 409, a, "conflict")
    st, a = req("GET", "/v1/enrol/" + c.get("code", ""))
    expect("that code is not used up either", st, 200, a)
    st, a = req("POST", "/v1/sync/hsms", ftok, {"enrolment": b64(enrol_bundle)})
    expect("factory A adds its own HSM again", st, 409, a, "conflict")
    check("nothing changed: A holds its HSM, B none, no row added",
          hsms_of() == h0 and h0.get("foxy-sz1") == [hsm] and h0.get("foxy-sz2") == [] and stored() == n0,
          f"{h0} {hsms_of()} {n0} {stored()}")

    pem = os.path.join(WORK, "oem.pem")
    rc, out, err = run(BIN + "/writ-hsmd", "init", "--state", WORK + "/hsm2", "--token", "writ-hsm2", "--factory",
                       "foxy-sz2", "--oem-key", pem)
    check("a second writ-hsmd for factory B", rc == 0, err)
    bundle2 = open(WORK + "/hsm2/enrolment.cbor", "rb").read() if rc == 0 else b""
    st, a = req("POST", "/v1/enrol", None, {"code": code2, "enrolment": b64(bundle2)})
    en2 = expect("factory B enrols its own HSM with its code", st, 201, a)
    ftok2, hsm2 = en2.get("token", ""), en2.get("hsm", "")
    n0, h0 = stored(), hsms_of()
    st, a = req("POST", "/v1/sync/hsms", ftok2, {"enrolment": b64(enrol_bundle)})
    expect("factory B adds factory A's HSM", st, 422, a, "bad_enrolment")
    # the factory id in the bundle is not the only guard: with the names swapped in the
    # store behind the API's back, the HSM is still bound to A for good (UNIQUE hsm_id)
    sql("UPDATE factories SET name = 'foxy-swap' WHERE name = 'foxy-sz1'")
    sql("UPDATE factories SET name = 'foxy-sz1' WHERE name = 'foxy-sz2'")
    try:
        st, a = req("POST", "/v1/sync/hsms", ftok2, {"enrolment": b64(enrol_bundle)})
    finally:
        sql("UPDATE factories SET name = 'foxy-sz2' WHERE name = 'foxy-sz1'")
        sql("UPDATE factories SET name = 'foxy-sz1' WHERE name = 'foxy-swap'")
    expect("factory B adds factory A's HSM under A's name", st, 409, a, "conflict")
    check("nothing changed: A holds its HSM, B its own", hsms_of() == h0 and h0.get("foxy-sz1") == [hsm] and
          h0.get("foxy-sz2") == [hsm2] and stored() == n0, f"{h0} {hsms_of()}")
    al.expect("the refused enrolments", [])

    # B's credential and A's things
    n0 = stored()
    _, jc0 = req("GET", f"/v1/sync/hsms/{hsm}/cursor", ftok)
    _, rc0 = req("GET", "/v1/sync/records/cursor", ftok)
    st, a = req("GET", f"/v1/sync/hsms/{hsm}/cursor", ftok2)
    expect("B reads A's HSM cursor", st, 404, a, "not_found")
    st, a = req("POST", "/v1/sync/journal", ftok2, {"hsm": hsm, "entries": [b64(e) for e in entries]})
    expect("B pushes A's journal for A's HSM", st, 404, a, "not_found")
    st, a = req("POST", "/v1/sync/journal", ftok2, {"hsm": hsm2, "entries": [b64(e) for e in entries]})
    expect("B pushes A's journal as its own HSM's", st, 422, a, "bad_journal")
    al.expect("A's journal as B's HSM's", ["bad_journal"])
    st, a = req("GET", "/v1/sync/writs?since=0", ftok2)
    check("B's writ feed holds none of A's writs", st == 200 and a.get("writs") == [], str(a)[:200])
    st, a = req("GET", "/v1/batches", ftok2)
    check("B lists none of A's batches", st == 200 and a.get("batches") == [], str(a)[:200])
    for what, path in (("A's batch", f"/v1/batches/{b1['id']}"), ("A's writ", f"/v1/batches/{b1['id']}/writ"),
                       ("A's version bundle", "/v1/sync/bundles/" + ver["digest"])):
        st, a = req("GET", path, ftok2)
        expect(f"B fetches {what}", st, 404, a, "not_found")
    st, a = req("GET", "/v1/factories", ftok2)
    check("B sees only itself", st == 200 and [f["id"] for f in a.get("factories", [])] == ["foxy-sz2"], str(a)[:200])
    st, a = req("POST", "/v1/sync/records", ftok2, {"records": recs})
    expect("B pushes A's records", st, 422, a, "bad_record")
    al.expect("A's records pushed by B", ["bad_record"])
    mine = dict(json.loads(recs[0]), factory="foxy-sz2", prev="0" * 64, seq=1)
    del mine["hash"]
    mine["hash"] = hashlib.sha256(json.dumps(mine, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    st, a = req("POST", "/v1/sync/records", ftok2, {"records": [json.dumps(mine, sort_keys=True,
                                                                           separators=(",", ":"))]})
    expect("B's own record naming A's HSM and DAC", st, 409, a, "journal_first")
    al.expect("B's record naming A's DAC", [])
    st, a = req("GET", "/v1/sync/records/cursor", ftok2)
    check("B's record position has not moved", st == 200 and a.get("next") == 1, str(a))
    _, jc1 = req("GET", f"/v1/sync/hsms/{hsm}/cursor", ftok)
    _, rc1 = req("GET", "/v1/sync/records/cursor", ftok)
    n1 = stored()
    n1["alerts"] -= 2  # the two raised above
    check("nothing of B's pushes was stored: A's cursors and every row as they were",
          jc0 == jc1 and rc0 == rc1 and n0 == n1, f"{jc0} {jc1} {rc0} {rc1} {n0} {n1}")
    alert_folding(oem, ftok2, hsm2, entries, al)
    return ftok2


# Repeats of an alert fold into one row (docs/cloud-api.md "Records, devices, alerts"):
# a factory that repeats a refused push, one request after the other or many at once
# through every instance, grows a count, not the table. Its key is (org, factory, HSM,
# kind); a row stays open for 24 h after its first occurrence, then the next repeat
# opens a new one. /metrics counts occurrences.
def alert_folding(oem, ftok2, hsm2, entries, al):
    def rows():
        st, a = req("GET", "/v1/alerts", oem)
        return a.get("alerts", []) if st == 200 else []

    def row(factory, kind):
        mine = [x for x in rows() if x["factory"] == factory and x["kind"] == kind and x["open"]]
        return mine[0] if len(mine) == 1 else {"rows": mine}

    bad = {"hsm": hsm2, "entries": [b64(e) for e in entries]}  # A's journal as B's HSM's: bad_journal
    n0 = int(sql("SELECT count(*) FROM alerts"))
    base = row("foxy-sz2", "bad_journal")
    check("B's first bad_journal opened an alert of its own: count 1, first and last seen alike",
          base.get("count") == 1 and base.get("first_seen") == base.get("last_seen") == base.get("time") and
          base.get("detail") == base.get("last_detail") != "", str(base))
    t0 = time.time()
    for i in range(49):
        st, a = req("POST", "/v1/sync/journal", ftok2, bad)
        if st != 422:
            break
    check("the same bad push 49 times more: 422 each", st == 422, f"{st} {str(a)[:200]}")
    fold = row("foxy-sz2", "bad_journal")
    check("50 bad pushes: one alert, count 50, the first one's message and time kept",
          fold.get("id") == base.get("id") and fold.get("count") == 50 and fold.get("detail") == base["detail"] and
          fold.get("first_seen") == base["first_seen"] and fold.get("last_seen", 0) >= int(t0) and
          fold.get("last_detail") == base["detail"], str(fold))
    check("... and no row added", int(sql("SELECT count(*) FROM alerts")) == n0, sql("SELECT count(*) FROM alerts"))
    al.expect("49 bad pushes more", ["bad_journal"] * 49)
    a_row, rec_row = row("foxy-sz1", "bad_journal"), row("foxy-sz2", "bad_record")
    check("another factory and HSM, or another kind, keep alerts of their own",
          a_row.get("id") not in (None, fold["id"]) and rec_row.get("id") not in (None, fold["id"], a_row["id"]) and
          rec_row.get("count") == 1, f"{a_row} {rec_row}")

    # concurrent raises, through every instance: one row, the exact count
    res = []

    def push(i):
        res.append(req("POST", "/v1/sync/journal", ftok2, bad, url=URLS[i % len(URLS)])[0])

    in_parallel(push, 20)
    check(f"20 concurrent bad pushes through {len(URLS)} instance(s): 422 each", res == [422] * 20, str(res))
    fold = row("foxy-sz2", "bad_journal")
    check("... fold into the same alert: count 70, no row added",
          fold.get("id") == base.get("id") and fold.get("count") == 70 and
          int(sql("SELECT count(*) FROM alerts")) == n0, str(fold))
    al.expect("20 concurrent bad pushes", ["bad_journal"] * 20)
    # ... and when the key has no alert yet: the concurrent first raises make one row
    res.clear()
    ahead = {"records": [json.dumps({"seq": 5})]}  # past B's position (1): reordered

    def push_ahead(i):
        res.append(req("POST", "/v1/sync/records", ftok2, ahead, url=URLS[i % len(URLS)])[0])

    in_parallel(push_ahead, 20)
    check("20 concurrent records pushes past B's position: 409 each", res == [409] * 20, str(res))
    first = [x for x in rows() if x["factory"] == "foxy-sz2" and x["kind"] == "reordered"]
    check("... a new key raised 20 times at once: one alert, count 20, one row added",
          len(first) == 1 and first[0]["count"] == 20 and first[0]["open"] and
          int(sql("SELECT count(*) FROM alerts")) == n0 + 1, str(first))
    al.expect("20 concurrent first raises", ["reordered"] * 20)
    n0 += 1

    # the window: 24 h after its first occurrence the alert is closed and a repeat opens a new one
    sql(f"UPDATE alerts SET time = time - 86400 WHERE id = {int(base.get('id', 0))}")
    old = [x for x in rows() if x["id"] == base.get("id")]
    check("24 h after its first occurrence an alert is shown closed, before any repeat",
          len(old) == 1 and old[0]["open"] is False and old[0]["count"] == 70, str(old))
    st, a = req("POST", "/v1/sync/journal", ftok2, bad)
    expect("the bad push a day after the first", st, 422, a, "bad_journal")
    new = row("foxy-sz2", "bad_journal")
    old = [x for x in rows() if x["id"] == base.get("id")]
    check("a repeat 24 h after the first occurrence opens a new alert; the old one is closed with its count",
          new.get("id", 0) > base.get("id", 0) and new.get("count") == 1 and len(old) == 1 and
          not old[0]["open"] and old[0]["count"] == 70, f"{new} {old}")
    al.expect("a repeat after the window", ["bad_journal"])
    occurrences = int(sql("SELECT sum(occurrences) FROM alerts WHERE kind = 'bad_journal'"))
    check("the stored occurrences of bad_journal are every refusal", occurrences == sum(
        x["count"] for x in rows() if x["kind"] == "bad_journal"), str(occurrences))


# Sync pushes over their limits (docs/cloud-api.md "Factory sync"): a body over 4 MiB +
# 64 KiB (refused before it is read), more than 8192 journal entries, more than 4096
# records. Each is 413 too_big saying which limit, and nothing is stored: the cursors,
# the rows and the alerts stay as they were.
def bulk_limits(ftok, hsm, entries, recs, al):
    bulk_max = 4 * 1024 * 1024 + 64 * 1024
    pad = " " * (bulk_max + 1)
    _, jc0 = req("GET", f"/v1/sync/hsms/{hsm}/cursor", ftok)
    _, rc0 = req("GET", "/v1/sync/records/cursor", ftok)
    n0 = stored()
    for what, path, body, why in (
            ("a journal push over 4 MiB + 64 KiB", "/v1/sync/journal",
             '{"hsm": "%s", "entries": [%s]%s}' % (hsm, ",".join('"%s"' % b64(e) for e in entries), pad),
             "request body too large"),
            ("a records push over 4 MiB + 64 KiB", "/v1/sync/records",
             '{"records": [%s]%s}' % (",".join(json.dumps(r) for r in recs), pad), "request body too large"),
            ("8193 journal entries", "/v1/sync/journal",
             json.dumps({"hsm": hsm, "entries": [b64(entries[-1])] * 8193}), "at most 8192 entries per push"),
            ("4097 records", "/v1/sync/records", json.dumps({"records": [recs[-1]] * 4097}),
             "at most 4096 records per push")):
        st, a = req("POST", path, ftok, body)
        check(f"{what}: 413 too_big, {why!r}", st == 413 and isinstance(a, dict) and a.get("code") == "too_big" and
              why in a.get("error", ""), f"{st} {str(a)[:200]}")
    _, jc1 = req("GET", f"/v1/sync/hsms/{hsm}/cursor", ftok)
    _, rc1 = req("GET", "/v1/sync/records/cursor", ftok)
    n1 = stored()
    check("the oversized pushes stored nothing: cursors and rows unchanged", jc0 == jc1 and rc0 == rc1 and n0 == n1,
          f"{jc0} {jc1} {rc0} {rc1} {n0} {n1}")
    al.expect("the oversized pushes", [])


# The dashboard's reads: a device's page and label, production per factory over time,
# and garbage in each of their path segments and query arguments.
def dashboard_reads(oem, odm, oem2, odm2, ftok, recs, uids):
    d0 = recs[0]
    st, d = req("GET", f"/v1/devices/{d0['id']}", odm)
    expect("the device page for the invited ODM", st, 200, d)
    roles = [c.get("role") for c in d.get("chain", [])]
    check("its chain: the DAC from the journal, the HSM's PAI and the portal's PAA", roles == ["dac", "pai", "paa"]
          and d["chain"][0]["sha256"] == d0["dac_sha256"] and "PAI" in d["chain"][1].get("subject", "")
          and d["chain"][1].get("issuer") == d["chain"][2].get("subject"), str(d.get("chain"))[:400])
    check("its UID whole (16 bytes) and its operations", len(d.get("uid", "")) == 32 and d["uid"] == uids[0]
          and [o["id"] for o in d.get("operations", [])] == [d0["id"]] and d.get("version") == "1.0.0", str(d)[:300])
    for who, tok in (("another OEM", oem2), ("another ODM", odm2)):
        st, a = req("GET", f"/v1/devices/{d0['id']}", tok)
        expect(f"{who} cannot open the device", st, 404, a, "not_found")
        st, a = req("GET", f"/v1/devices/{d0['id']}/label.svg", tok)
        expect(f"{who} cannot read its label", st, 404, a, "not_found")
    st, a = req("GET", f"/v1/devices/{d0['id']}/label.svg", oem)
    expect("a record whose QR is not a Matter payload makes no label", st, 409, a, "state")
    for bad in ("0", "-1", "abc", "1x", "99999999999999999999", "%00", "1%2F2", "%201", "+1", "0x1"):
        st, a = req("GET", f"/v1/devices/{bad}", oem)
        check(f"device id {bad!r}: refused", st in (400, 404, 405) and isinstance(a, dict) and a.get("code"), f"{st} {a}")
    st, a = req("GET", "/v1/devices/999999", oem)
    expect("an unknown device", st, 404, a, "not_found")
    st, a = req("GET", f"/v1/devices/{d0['id']}/other", oem)
    expect("an unknown device sub-path", st, 405, a, "method")
    st, a = req("POST", f"/v1/devices/{d0['id']}", oem, {})
    check("POST to a device: refused before it is read", st in (405, 413), f"{st} {a}")
    st, a = req("GET", f"/v1/devices/{d0['id']}", ftok)
    expect("a factory credential does not read device pages", st, 403, a, "forbidden")
    # production per factory over time
    now = int(time.time())
    st, p = req("GET", f"/v1/production?since={now - 3600}&bucket=60", oem)
    ok = expect("production per factory, per minute", st, 200, p)
    f = ok.get("factories", [])
    check("5 devices at foxy-sz1, in buckets of 60 s from a bucket start", len(f) == 1 and f[0]["factory"] == "foxy-sz1"
          and sum(n for _, n in f[0]["points"]) == 5 and f[0]["devices"] == 5 and f[0]["awaiting_record"] == 0
          and all(t % 60 == 0 and t >= ok["since"] for t, _ in f[0]["points"]) and ok["since"] % 60 == 0, str(ok))
    st, p = req("GET", "/v1/production", odm)
    check("the ODM sees the same production (default window)", st == 200 and
          sum(n for x in p["factories"] for _, n in x["points"]) == 5, str(p))
    for tok in (oem2, odm2):
        st, p = req("GET", "/v1/production", tok)
        check("other tenants see no production", st == 200 and p["factories"] == [], str(p))
    for q in ("bucket=0", "bucket=59", "bucket=abc", "bucket=", "bucket=2678401", "since=-1", f"since={now + 100}",
              "since=0&bucket=60", "since=1x", "since=99999999999999999999", "bucket=60&since=%00", "since=%2B5",
              "bucket=%2060"):
        st, a = req("GET", "/v1/production?" + q, oem)
        expect(f"production?{q}", st, 400, a, "bad_request")
    st, a = req("POST", "/v1/production", oem, {})
    check("a body to /v1/production: 413 before it is read", st == 413, f"{st} {a}")
    st, a = req("GET", "/v1/production", ftok)
    expect("a factory credential does not read production", st, 403, a, "forbidden")


# Who each caller of the matrices is: its role, and whether it is of another tenant than
# the objects the rows name (product lamp of OEM acme, invited ODM foxy, factory foxy-sz1).
CALLERS = {"oem-admin": "oem-admin", "oem-security": "oem-security", "odm-engineer": "odm-engineer",
           "factory": "factory", "other-oem": "oem-admin", "other-odm": "odm-engineer", "other-factory": "factory",
           "anonymous": None}
OTHERS = {"other-oem", "other-odm", "other-factory"}


def spec_operations():
    """{"METHOD /path/{template}": the roles docs/openapi.yaml lets call it (x-roles), or
    None for a public operation (security: [])}."""
    spec = yaml.safe_load(open(SPEC))
    ops = {}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in ("get", "put", "post", "delete", "patch"):
                ops[f"{method.upper()} {path}"] = None if op.get("security") == [] else set(op.get("x-roles") or [])
    return ops


def authz_check(name, t, cases, complete):
    """Every caller of t against every case: {"METHOD /template": [(path, body, scope)]}.

    The roles allowed are docs/openapi.yaml's x-roles, not this table's. scope says whose
    object the path names: "mine" (the first tenant's: the other-* callers are refused
    404, indistinguishable from nothing), "any" (a collection, or nobody's object: every
    caller with an allowed role gets past authorization), "absent" (like "any", for an
    object that does not exist, so an allowed caller's answer is 404) or "mine-absent"
    (one that does not exist under the first tenant's: both); "public" marks each
    operation the spec makes public (security: []), and only those. Allowed callers
    must get neither 401 nor 403 (nor 404 unless "absent"); the others get 401
    unauthenticated without a token, 403 forbidden (or 404) for a role that may never,
    404 not_found for another tenant. A public operation answers every caller, with a
    token or none, the same. complete: every operation of the spec must have a case, so
    a new endpoint cannot go untested."""
    ops = spec_operations()
    if complete:
        missing = sorted(set(ops) - set(cases))
        check(f"{name}: every operation of docs/openapi.yaml has a case", not missing,
              "none for: " + ", ".join(missing))
    stale = sorted(set(cases) - set(ops))
    check(f"{name}: every case is an operation of docs/openapi.yaml", not stale, ", ".join(stale))
    bad = []
    n = 0
    for key, rows in cases.items():
        if key not in ops:
            continue
        method, tmpl = key.split(" ", 1)
        pat = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/?]+", re.escape(tmpl)) + r"(\?.*)?$")
        roles = ops[key]
        for path, body, scope in rows:
            if not pat.match(path) or scope not in ("mine", "any", "absent", "mine-absent", "public"):
                bad.append(f"{key}: case {path} {scope} is not that operation")
                continue
            if (scope == "public") != (roles is None):
                bad.append(f"{key}: public in the spec (security: []) and in this table, or in neither")
                continue
            public = set()
            for caller, tok in t.items():
                raw = body if isinstance(body, bytes) else None
                st, a = req(method, path, tok, None if raw is not None else body, raw=raw)
                n += 1
                code = a.get("code") if isinstance(a, dict) else None
                role = CALLERS[caller]
                if roles is None:
                    public.add((st, code))
                    ok = st not in (401, 403)
                elif role in roles and not (scope.startswith("mine") and caller in OTHERS):
                    ok = st not in (401, 403) and (st != 404 or scope.endswith("absent"))
                elif tok is None:
                    ok = st == 401 and code == "unauthenticated"
                elif role in roles:
                    ok = st == 404 and code == "not_found"
                else:
                    ok = (st, code) in ((403, "forbidden"), (404, "not_found"))
                if not ok:
                    bad.append(f"{caller} {method} {path}: {st} {str(a)[:120]}")
            if len(public) > 1:
                bad.append(f"public {method} {path}: answers differ by caller {sorted(public)}")
    check(f"{name}: {len(cases)} operations, {n} calls by {len(t)} callers", not bad, "\n".join(bad[:30]))


# Every operation of docs/openapi.yaml, every caller (authz_check). The bodies are chosen
# so that getting past authorization changes nothing or little: most fail validation
# right after it.
def authz_matrix(t, hsm, b1, b2, digest, grant, code):
    c = {
        "GET /v1/health": [("/v1/health", None, "public")],
        "GET /v1/me": [("/v1/me", None, "any")],
        "GET /v1/users": [("/v1/users", None, "any")],
        "POST /v1/users": [("/v1/users", {"name": "", "role": "x"}, "any")],
        "GET /v1/tokens": [("/v1/tokens", None, "any")],
        "POST /v1/tokens": [("/v1/tokens", {"label": ""}, "any")],
        "DELETE /v1/tokens/{id}": [("/v1/tokens/999999", None, "absent")],
        "GET /v1/products": [("/v1/products", None, "any")],
        "POST /v1/products": [("/v1/products", {"id": ""}, "any")],
        "GET /v1/products/{product}": [("/v1/products/lamp", None, "mine")],
        "POST /v1/products/{product}/invites": [("/v1/products/lamp/invites", {"odm": "foxy"}, "mine")],
        "DELETE /v1/products/{product}/invites/{odm}": [("/v1/products/lamp/invites/shady", None,
                                                         "mine-absent")],
        "POST /v1/products/{product}/debug-rotate": [("/v1/products/lamp/debug-rotate", {}, "mine")],
        "PUT /v1/products/{product}/rework-policy": [("/v1/products/lamp/rework-policy", {"perms": "x"}, "mine")],
        "GET /v1/products/{product}/firmware": [("/v1/products/lamp/firmware", None, "mine")],
        "POST /v1/products/{product}/firmware": [("/v1/products/lamp/firmware?fw_version=x", b"x", "mine")],
        "GET /v1/products/{product}/versions": [("/v1/products/lamp/versions", None, "mine")],
        "POST /v1/products/{product}/versions": [("/v1/products/lamp/versions", {"x": 1}, "mine")],
        "GET /v1/products/{product}/versions/{version}": [("/v1/products/lamp/versions/1.0.0", None, "mine")],
        "GET /v1/products/{product}/versions/{version}/bundle": [("/v1/products/lamp/versions/1.0.0/bundle", None,
                                                                  "mine")],
        "POST /v1/products/{product}/versions/{version}/approve": [("/v1/products/lamp/versions/1.0.0/approve",
                                                                    {"x": 1}, "mine")],
        "POST /v1/products/{product}/versions/{version}/reject": [("/v1/products/lamp/versions/1.0.0/reject",
                                                                   {"x": 1}, "mine")],
        "GET /v1/products/{product}/pai/{hsm}/csr": [(f"/v1/products/lamp/pai/{hsm}/csr", None, "mine")],
        "PUT /v1/products/{product}/pai/{hsm}": [(f"/v1/products/lamp/pai/{hsm}", {"pai": "!"}, "mine")],
        "GET /v1/factories": [("/v1/factories", None, "any")],
        "POST /v1/factories": [("/v1/factories", {"id": ""}, "any")],
        "POST /v1/factories/{factory}/codes": [("/v1/factories/foxy-sz1/codes", {}, "mine")],
        "PUT /v1/factories/{factory}/release-pin": [("/v1/factories/foxy-sz1/release-pin", {"version": "!"}, "mine")],
        "GET /v1/releases/latest": [("/v1/releases/latest?channel=NOT-A-CHANNEL", None, "any")],
        "GET /v1/releases/{channel}/{version}/files/{name}": [("/v1/releases/stable/9.9.9/files/writ-factory", None,
                                                               "absent")],
        "POST /v1/enrol": [("/v1/enrol", {"code": "A" * 20}, "public")],
        "GET /v1/enrol/{code}": [("/v1/enrol/" + code, None, "public")],
        "GET /v1/batches": [("/v1/batches", None, "any")],
        "POST /v1/batches": [("/v1/batches", {"x": 1}, "any")],
        "GET /v1/batches/{id}": [(f"/v1/batches/{b1}", None, "mine")],
        "GET /v1/batches/{id}/writ": [(f"/v1/batches/{b1}/writ", None, "mine")],
        "POST /v1/batches/{id}/revoke": [(f"/v1/batches/{b2}/revoke", {}, "mine")],
        "GET /v1/rework": [("/v1/rework", None, "any"), ("/v1/rework?product=lamp", None, "any")],
        "POST /v1/rework": [("/v1/rework", {"x": 1}, "any")],
        "GET /v1/rework/{id}": [(f"/v1/rework/{grant}", None, "mine")],
        "POST /v1/rework/{id}/revoke": [(f"/v1/rework/{grant}/revoke", {}, "mine")],
        "POST /v1/factory/tls/renew": [("/v1/factory/tls/renew", {"csr": "x"}, "any")],
        "GET /v1/sync/writs": [("/v1/sync/writs?since=0", None, "any")],
        "GET /v1/sync/bundles/{digest}": [("/v1/sync/bundles/" + digest, None, "mine")],
        "POST /v1/sync/hsms": [("/v1/sync/hsms", {"enrolment": "!"}, "any")],
        "GET /v1/sync/hsms/{hsm}/cursor": [(f"/v1/sync/hsms/{hsm}/cursor", None, "mine")],
        "POST /v1/sync/journal": [("/v1/sync/journal", {"hsm": hsm, "entries": []}, "mine")],
        "GET /v1/sync/records/cursor": [("/v1/sync/records/cursor", None, "any")],
        "POST /v1/sync/records": [("/v1/sync/records", {"records": []}, "any")],
        "POST /v1/sync/telemetry": [("/v1/sync/telemetry", {"buckets": []}, "any")],
        "GET /v1/records": [("/v1/records", None, "any")],
        "GET /v1/devices": [("/v1/devices?serial=1", None, "any")],
        "GET /v1/devices/{device}": [("/v1/devices/1", None, "mine")],
        "GET /v1/devices/{device}/label.svg": [("/v1/devices/1/label.svg", None, "mine")],
        "GET /v1/alerts": [("/v1/alerts", None, "any")],
        "GET /v1/production": [("/v1/production", None, "any")],
        "GET /v1/telemetry": [("/v1/telemetry?factory=foxy-sz1", None, "mine")],
    }
    authz_check("authorization matrix", t, c, complete=True)


# Mutated JSON bodies to every POST/PUT endpoint: never a 5xx, always writ's error shape,
# and the sync cursors and the quota do not move.
def json_fuzz(t, hsm):
    import random
    rnd = random.Random(int(os.environ.get("FUZZ_SEED", "7")))
    targets = [
        ("POST", "/v1/products", t["oem-admin"], {"id": "fz", "name": "f", "vid": 1, "pid": 1, "quota": 5}),
        ("POST", "/v1/users", t["oem-admin"], {"name": "fz", "role": "oem-security"}),
        ("POST", "/v1/products/lamp/versions", t["odm-engineer"], {"name": "fz", "firmware": "00" * 32,
                                                                   "settings": "vendor_id = 1\n"}),
        ("POST", "/v1/batches", t["odm-engineer"], {"product": "lamp", "version": "1.0.0", "factory": "foxy-sz1",
                                                    "hsm": hsm, "quantity": 1000, "not_before": 0,
                                                    "not_after": 1}),
        ("POST", "/v1/sync/journal", t["factory"], {"hsm": hsm, "entries": ["AAAA"]}),
        ("POST", "/v1/sync/records", t["factory"], {"records": ["{}"]}),
        ("POST", "/v1/sync/telemetry", t["factory"],
         {"buckets": [{"station": "st1", "line": "L1", "bucket": {
             "run": "00000000000000f1", "start": (int(time.time()) // 60 - 2) * 60, "window": 60, "total": 1,
             "ok": 1, "fail": {}, "reasons": [], "other_reasons": 0, "cycle_ms_sum": 5,
             "cycle_hist": [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]}}]}),
        ("POST", "/v1/enrol", None, {"code": "A" * 20, "enrolment": "AAAA"}),
        ("PUT", f"/v1/products/lamp/pai/{hsm}", t["oem-admin"], {"pai": "AAAA"}),
    ]
    junk = [None, True, -1, 2 ** 63, -2 ** 64, 1.5, "", "\u0000", "x" * 70000, [], {}, [[[[[]]]]], "é", "../..",
            "' OR 1=1 --"]
    _, before = req("GET", "/v1/products/lamp", t["oem-admin"])
    _, cur0 = req("GET", f"/v1/sync/hsms/{hsm}/cursor", t["factory"])
    _, rc0 = req("GET", "/v1/sync/records/cursor", t["factory"])
    bad = []
    sent = 0
    for method, path, tok, good in targets:
        for i in range(40):
            m = dict(good)
            op = rnd.randrange(5)
            if op == 0 and m:
                m[rnd.choice(list(m))] = rnd.choice(junk)
            elif op == 1 and m:
                del m[rnd.choice(list(m))]
            elif op == 2:
                m["extra%d" % i] = rnd.choice(junk)
            body = json.dumps(m)
            if op == 3:
                body = body[:rnd.randrange(len(body))]
            elif op == 4:
                b = bytearray(body.encode())
                for _ in range(rnd.randrange(1, 6)):
                    b[rnd.randrange(len(b))] = rnd.randrange(256)
                body = bytes(b)
            st, a = req(method, path, tok, body)
            sent += 1
            if st >= 500 or (st >= 400 and not (isinstance(a, dict) and a.get("error") and a.get("code"))):
                bad.append(f"{method} {path} {body[:80]!r}: {st} {str(a)[:120]}")
    _, after = req("GET", "/v1/products/lamp", t["oem-admin"])
    _, cur1 = req("GET", f"/v1/sync/hsms/{hsm}/cursor", t["factory"])
    _, rc1 = req("GET", "/v1/sync/records/cursor", t["factory"])
    check(f"{sent} mutated bodies: no 5xx, every refusal with error and code", not bad, "\n".join(bad[:10]))
    check("garbage moved neither the quota nor the sync cursors",
          before.get("allocated") == after.get("allocated") and cur0 == cur1 and rc0 == rc1,
          f"{before.get('allocated')} {after.get('allocated')} {cur0} {cur1} {rc0} {rc1}")


if __name__ == "__main__":
    main()
