#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Rework (issue 6), the portal's side, with real processes (cloud_flow.sh starts the
cloud and the orgs; this script starts a writ-hsmd and a writ-factory that pulls writs
from the cloud and pushes the HSM's journal back every second).

The OEM sets the product's rework policy; an ODM batch carries rework rights only
within it. The OEM grants rework rights (a kind 2 writ) to the factory's HSM; the
factory loads it into the HSM; the HSM signs debug-unlock tokens (`writ hsm
debug-token`) under it until the limit; the journal comes back and the device shows its
rework history, the grant its use. Revocation: the HSM refuses afterwards. debug-rotate:
the next grant's delegate certificate carries the new key generation. A JT_DEBUG entry
under rights the portal did not issue raises bad_debug; rework records of the factory
are matched to JT_DEBUG entries. Every new endpoint: the authorization matrix (every
role and tenant) and garbage bodies.
"""
import json
import os
import socket
import subprocess
import sys
import time
import hashlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cloud_api as ca  # noqa: E402  (req, expect, check and the counters)

from cloud_api import req, expect, check, run, sql, BIN, WORK, TOK, ENGINE  # noqa: E402

PROCS = []


def wait(what, fn, seconds=40):
    end = time.time() + seconds
    v = None
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.2)
    check(what + " (waited)", False, str(v)[:300])
    return v


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


SOCK = WORK + "/hsm/hsmd.sock"


def token(writ, uid, perms="debug", op="debug", name="tok"):
    """Have the HSM sign a debug-unlock token; (rc, seq, chain bytes, stderr)."""
    rc, out, err = run(BIN + "/writ", "hsm", "debug-token", "--socket", SOCK, "--writ", writ, "--uid", uid,
                       "--challenge", os.urandom(32).hex(), "--perms", perms, "--op", op,
                       "--out", f"{WORK}/{name}.bin", "--chain-out", f"{WORK}/{name}.chain")
    seq = int(out.split()[1]) if rc == 0 and out.startswith("seq ") else None
    chain = open(f"{WORK}/{name}.chain", "rb").read() if rc == 0 else b""
    return rc, seq, chain, err + out


def key_gen_of(chain):
    """The key generation of the delegate certificate: WDC1 bytes 12..16, big-endian."""
    cert = chain[-209:]
    return int.from_bytes(cert[12:16], "big") if len(cert) == 209 and cert[:4] == b"WDC1" else None


def main():
    oem, odm, oem2, odm2 = TOK["oem"], TOK["odm"], TOK["oem2"], TOK["odm2"]
    now = int(time.time())
    st, a = req("POST", "/v1/users", oem, {"name": "sally", "role": "oem-security"})
    sec = expect("OEM admin adds a security user", st, 201, a).get("token")
    st, a = req("POST", "/v1/products", oem,
                {"id": "lamp", "name": "Smart lamp", "vid": 0xFFF1, "pid": 0x8000, "quota": 100})
    expect("product created", st, 201, a)
    check("a new product is at debug key generation 1 with no rework policy",
          a.get("debug_gen") is None or a.get("debug_gen") == 1, str(a))
    st, a = req("GET", "/v1/products/lamp", oem)
    check("GET product shows debug_gen 1 and rework_policy null",
          st == 200 and a.get("debug_gen") == 1 and a.get("rework_policy") is None, str(a))
    st, a = req("POST", "/v1/products/lamp/invites", oem, {"odm": "foxy"})
    expect("OEM invites the ODM", st, 201, a)
    st, fac = req("POST", "/v1/factories", oem, {"id": "foxy-sz1", "odm": "foxy"})
    expect("OEM registers the factory", st, 201, fac)
    st, info = req("GET", "/v1/enrol/" + fac["code"])
    pem = WORK + "/oem.pem"
    open(pem, "w").write(info["writ_signing_pem"])
    fd = os.open(WORK + "/code", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, fac["code"].encode())
    os.close(fd)
    rc, out, err = run(BIN + "/writ-hsmd", "init", "--state", WORK + "/hsm", "--factory", "foxy-sz1",
                       "--oem-key", pem)
    check("writ-hsmd init", rc == 0, err)
    PROCS.append(subprocess.Popen([BIN + "/writ-hsmd", "serve", "--state", WORK + "/hsm"],
                                  stdout=open(WORK + "/hsmd.log", "w"), stderr=subprocess.STDOUT))
    wait("the HSM's socket", lambda: os.path.exists(SOCK), 20)
    rc, out, err = run(BIN + "/writ-factory", "init", "--state", WORK + "/fac", "--oem-key", pem,
                       "--factory", "foxy-sz1")
    check("writ-factory init", rc == 0, err)
    rc, out, err = run(BIN + "/writ-factory", "enrol", "--cloud", ca.URL, "--code-file", WORK + "/code",
                       "--hsm", SOCK, "--token-out", WORK + "/fac.token")
    check("writ-factory enrols the HSM with the cloud", rc == 0, err)
    hsm = next((ln.split()[1] for ln in out.splitlines() if ln.startswith("hsm ")), "")
    ftok = open(WORK + "/fac.token").read().strip()
    fport = free_port()
    PROCS.append(subprocess.Popen([BIN + "/writ-factory", "serve", "--insecure-http", "--state", WORK + "/fac", "--listen",
                                   f"127.0.0.1:{fport}", "--hsm", SOCK, "--cloud", ca.URL,
                                   "--cloud-token-file", WORK + "/fac.token", "--sync-interval", "1"],
                                  stdout=open(WORK + "/factory.log", "w"), stderr=subprocess.STDOUT))
    st, fl = req("GET", "/v1/factories", oem)
    hsms = fl["factories"][0]["hsms"] if st == 200 and fl.get("factories") else [{}]
    debug_pub = hsms[0].get("debug_pub")
    check("the enrolment stored the HSM's debug delegate key", isinstance(debug_pub, str) and len(debug_pub) == 130,
          str(hsms))

    # ---- a version and a plain batch, so the HSM has made devices ----
    image = os.urandom(2000)
    st, fw = req("POST", "/v1/products/lamp/firmware?fw_version=3&sign=portal", sec, raw=image)
    expect("firmware signed in the portal", st, 201, fw)
    settings = ("vendor_id = 0xFFF1\nproduct_id = 0x8000\nvendor_name = Acme\nproduct_name = Lamp\n"
                "mfg_date = 2026-11-23\nhw_ver = 1\n")
    st, a = req("POST", "/v1/products/lamp/versions", odm, {"name": "1.0.0", "firmware": fw["sha256"],
                                                            "settings": settings})
    expect("version", st, 201, a)
    st, a = req("POST", "/v1/products/lamp/versions/1.0.0/approve", sec, {})
    expect("approved", st, 200, a)
    batch = {"product": "lamp", "version": "1.0.0", "factory": "foxy-sz1", "hsm": hsm, "quantity": 5,
             "not_before": now - 60, "not_after": now + 86400}
    st, b1 = req("POST", "/v1/batches", odm, batch)
    expect("a batch without rework rights", st, 201, b1)
    uids = [os.urandom(16).hex() for _ in range(3)]
    csr = WORK + "/csr.der"
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", "/dev/null", "-subj", "/CN=d", "-outform", "DER", "-out", csr],
                   capture_output=True, check=True)

    def issue(uid):
        return run(BIN + "/writ", "hsm", "issue", "--socket", SOCK, "--writ", b1["id"], "--csr", csr, "--uid", uid,
                   "--out", WORK + "/dac.der")[0] == 0
    check("the factory pulled the batch's writ into the HSM: a DAC", bool(wait("DAC", lambda: issue(uids[0]))))
    check("two more devices", issue(uids[1]) and issue(uids[2]))

    # ---- rework on an ODM batch: only within the OEM's policy ----
    rw = {"perms": ["debug"], "limit": 2, "days": 10, "session": 300}
    st, a = req("POST", "/v1/batches", odm, dict(batch, quantity=1, rework=rw))
    expect("an ODM batch with rework, no policy set", st, 403, a, "forbidden")
    policy = {"perms": ["debug"], "limit": 5, "days": 30, "session": 600}
    st, a = req("PUT", "/v1/products/lamp/rework-policy", odm, policy)
    expect("an ODM cannot set the rework policy", st, 403, a, "forbidden")
    st, a = req("PUT", "/v1/products/lamp/rework-policy", oem2, policy)
    expect("another OEM cannot set it", st, 404, a, "not_found")
    st, a = req("PUT", "/v1/products/lamp/rework-policy", sec, policy)
    check("OEM security sets the rework policy", st == 200 and a.get("rework_policy") == policy, str(a))
    st, a = req("GET", "/v1/products/lamp", odm)
    check("the ODM reads the policy in GET product", a.get("rework_policy") == policy, str(a))
    for what, r in (("a permission the policy lacks", dict(rw, perms=["debug", "reflash"])),
                    ("a limit above the policy", dict(rw, limit=6)),
                    ("days above the policy", dict(rw, days=31)),
                    ("a session above the policy", dict(rw, session=601))):
        st, a = req("POST", "/v1/batches", odm, dict(batch, quantity=1, rework=r))
        expect(f"ODM batch rework: {what}", st, 403, a, "forbidden")
    for what, r in (("unknown field", dict(rw, x=1)), ("perms a string", dict(rw, perms="debug")),
                    ("perms empty", dict(rw, perms=[])), ("unknown perm", dict(rw, perms=["root"])),
                    ("perm twice", dict(rw, perms=["debug", "debug"])), ("limit 0", dict(rw, limit=0)),
                    ("limit too big", dict(rw, limit=10 ** 7)), ("limit a string", dict(rw, limit="2")),
                    ("days 0", dict(rw, days=0)), ("session 0", dict(rw, session=0)),
                    ("session > 1 day", dict(rw, session=86401)),
                    ("devices in a batch", dict(rw, devices=[uids[0]])), ("rework not an object", [1])):
        st, a = req("POST", "/v1/batches", odm, dict(batch, quantity=1, rework=r))
        expect(f"ODM batch rework: {what}", st, 400, a, "bad_request")
    st, p0 = req("GET", "/v1/products/lamp", oem)
    st, b2 = req("POST", "/v1/batches", odm, dict(batch, quantity=1, rework=rw))
    expect("an ODM batch with rework rights within the policy", st, 201, b2)
    st, lst = req("GET", "/v1/rework?product=lamp", oem)
    r_b2 = next((x for x in lst.get("rework", []) if x["id"] == b2.get("id")), {})
    check("its rights are listed: kind batch, key_gen 1, limit 2, used 0",
          r_b2.get("kind") == "batch" and r_b2.get("key_gen") == 1 and r_b2.get("limit") == 2 and
          r_b2.get("used") == 0 and r_b2.get("batch") == b2.get("id") and r_b2.get("perms") == ["debug"], str(lst))
    st, p1 = req("GET", "/v1/products/lamp", oem)
    check("rights take only the batch's own quantity from the quota", p1["allocated"] == p0["allocated"] + 1,
          f"{p0['allocated']} {p1['allocated']}")

    # ---- rework grants (kind 2 writs) ----
    g = {"product": "lamp", "factory": "foxy-sz1", "hsm": hsm, "perms": ["debug", "reflash"], "limit": 2, "days": 1,
         "session": 600}
    st, a = req("POST", "/v1/rework", odm, g)
    expect("an ODM cannot grant rework", st, 403, a, "forbidden")
    st, a = req("POST", "/v1/rework", oem2, g)
    expect("another OEM cannot grant rework on the product", st, 404, a, "not_found")
    st, a = req("POST", "/v1/rework", ftok, g)
    expect("a factory cannot grant rework", st, 403, a, "forbidden")
    st, a = req("POST", "/v1/rework", sec, dict(g, hsm="ab" * 32))
    expect("a grant for an HSM not at that factory", st, 404, a, "not_found")
    st, a = req("POST", "/v1/rework", sec, dict(g, factory="nowhere"))
    expect("a grant for an unknown factory", st, 404, a, "not_found")
    garbage = [("unknown field", dict(g, x=1)), ("missing perms", {k: v for k, v in g.items() if k != "perms"}),
               ("missing hsm", {k: v for k, v in g.items() if k != "hsm"}), ("hsm not hex", dict(g, hsm="zz" * 32)),
               ("perms a string", dict(g, perms="debug")), ("unknown perm", dict(g, perms=["debug", "jtag"])),
               ("perm as a number", dict(g, perms=[0])), ("perms empty", dict(g, perms=[])),
               ("limit 0", dict(g, limit=0)), ("limit -1", dict(g, limit=-1)), ("limit too big", dict(g, limit=10 ** 6 + 1)),
               ("limit a float", dict(g, limit=1.5)), ("limit huge", dict(g, limit=2 ** 63)),
               ("days 3651", dict(g, days=3651)), ("session 0", dict(g, session=0)),
               ("devices not a list", dict(g, devices=uids[0])), ("devices empty", dict(g, devices=[])),
               ("device not hex", dict(g, devices=["g" * 32])), ("device short", dict(g, devices=[uids[0][:30]])),
               ("device zero", dict(g, devices=["00" * 16])), ("device twice", dict(g, devices=[uids[0], uids[0]])),
               ("device a number", dict(g, devices=[1])), ("65 devices", dict(g, devices=[os.urandom(16).hex()
                                                                                       for _ in range(65)])),
               ("product a number", dict(g, product=1))]
    for what, body in garbage:
        st, a = req("POST", "/v1/rework", sec, body)
        expect(f"grant garbage: {what}", st, 400, a, "bad_request")
    for what, body in (("malformed JSON", '{"product": "lamp",'), ("not an object", "[1]"),
                       ("duplicate key", '{"product": "lamp", "product": "lamp"}'), ("NUL", '{"product": "la\\u0000mp"}')):
        st, a = req("POST", "/v1/rework", sec, body)
        check(f"grant garbage: {what}: 400 or 404", st in (400, 404) and isinstance(a, dict) and a.get("code"), str(a))
    st, a = req("POST", "/v1/rework", sec, "{" + " " * (70 * 1024) + "}")
    expect("grant: oversized body", st, 413, a, "too_big")
    st, a = req("GET", "/v1/rework", sec)
    check("garbage made no grant", st == 200 and len(a["rework"]) == 1, str(a)[:300])

    st, g1 = req("POST", "/v1/rework", sec, g)
    expect("OEM security grants rework rights", st, 201, g1)
    check("the grant: kind grant, key_gen 1, limit 2, used 0, active",
          g1.get("kind") == "grant" and g1.get("key_gen") == 1 and g1.get("limit") == 2 and g1.get("used") == 0 and
          g1.get("state") == "active" and g1.get("perms") == ["debug", "reflash"] and g1.get("batch") is None, str(g1))
    st, gd = req("POST", "/v1/rework", oem, dict(g, perms=["debug"], limit=3, devices=[uids[2]]))
    expect("a grant naming one device", st, 201, gd)
    check("it lists the device", gd.get("devices") == [uids[2]], str(gd))
    st, g3 = req("POST", "/v1/rework", oem, dict(g, perms=["debug"], limit=1000))
    expect("a third grant (to be revoked)", st, 201, g3)
    st, p2 = req("GET", "/v1/products/lamp", oem)
    check("grants never touch the quota", p2["allocated"] == p1["allocated"], f"{p1} {p2}")
    st, feed = req("GET", "/v1/sync/writs?since=0", ftok)
    kinds = {w["id"]: w["kind"] for w in feed.get("writs", [])}
    check("the grants are on the factory's writ feed as kind 2", kinds.get(g1["id"]) == 2 and kinds.get(gd["id"]) == 2,
          str(kinds))

    # ---- the factory loads them; the HSM signs tokens under them ----
    res = wait("the factory loads the grant into the HSM", lambda: (lambda r: r if r[0] == 0 else None)(
        token(g1["id"], uids[0])))
    seq1, chain1 = (res[1], res[2]) if res else (None, b"")
    check("the delegate certificate carries key generation 1", key_gen_of(chain1) == 1, chain1[:16].hex())
    rc, seq2, _, err = token(g1["id"], uids[1], perms="reflash", op="reflash")
    check("a second token under the grant (re-flash)", rc == 0, err)
    rc, _, _, err = token(g1["id"], uids[2])
    check("the HSM refuses a third: the grant's limit of 2 is used", rc != 0, err)
    rc, _, _, err = token(g1["id"], os.urandom(16).hex())
    check("the HSM refuses a device it did not make", rc != 0, err)
    wait("the device-naming grant loaded", lambda: token(gd["id"], uids[2], name="td")[0] == 0)
    rc, _, _, err = token(gd["id"], uids[0])
    check("a grant naming one device refuses another", rc != 0, err)
    st, a = wait("the journal comes back: the grant counts 2 used",
                 lambda: (lambda r: r if r[1].get("used") == 2 else None)(req("GET", "/v1/rework/" + g1["id"], oem)))
    check("used 2, remaining 0", a.get("used") == 2 and a.get("remaining") == 0, str(a))
    st, a = req("GET", "/v1/rework/" + gd["id"], odm)
    check("the ODM running the factory reads a grant: used 1", st == 200 and a.get("used") == 1, str(a))
    st, a = req("GET", "/v1/devices?uid=" + uids[0], oem)
    dev = a["devices"][0] if st == 200 and a.get("devices") else {}
    hist = dev.get("rework", [])
    check("the device's rework history: one debug unlock under the grant at the journal's seq",
          len(hist) == 1 and hist[0]["writ"] == g1["id"] and hist[0]["operation"] == "debug" and
          hist[0]["hsm_seq"] == seq1 and hist[0]["factory"] == "foxy-sz1" and hist[0]["perms"] == ["debug"] and
          hist[0]["record"] is None, str(a)[:500])
    st, a = req("GET", f"/v1/devices/{dev.get('id', 0)}", odm)
    check("GET /v1/devices/{id} with rework history, for the invited ODM",
          st == 200 and len(a.get("rework", [])) == 1, str(a)[:300])
    st, a = req("GET", f"/v1/devices/{dev.get('id', 0)}", oem2)
    expect("another OEM does not see the device", st, 404, a, "not_found")
    st, a = req("GET", "/v1/devices/x1", oem)
    expect("a device id that is not a number", st, 400, a, "bad_request")
    st, a = req("GET", "/v1/devices?uid=" + uids[1], oem)
    h2 = a["devices"][0]["rework"] if st == 200 and a.get("devices") else []
    check("the second device shows a re-flash", len(h2) == 1 and h2[0]["operation"] == "reflash", str(a)[:300])
    for who, tk, n in (("the OEM", oem, 4), ("the ODM", odm, 4), ("the factory", ftok, 4), ("another OEM", oem2, 0),
                       ("another ODM", odm2, 0)):
        st, a = req("GET", "/v1/rework", tk)
        check(f"{who} lists {n} rework rights", st == 200 and len(a.get("rework", [])) == n, str(a)[:200])
    for who, tk in (("another OEM", oem2), ("another ODM", odm2)):
        st, a = req("GET", "/v1/rework/" + g1["id"], tk)
        expect(f"{who} cannot read the grant", st, 404, a, "not_found")

    # ---- re-provisioning under a grant with reprovision (a kind 2 writ with issue-dac) ----
    st, p_r0 = req("GET", "/v1/products/lamp", oem)
    st, gr = req("POST", "/v1/rework", sec, dict(g, perms=["debug", "reprovision"], limit=2))
    expect("a grant with reprovision", st, 201, gr)
    st, a = req("GET", "/v1/devices?uid=" + uids[2], oem)
    old = a["devices"][0] if st == 200 and a.get("devices") else {}
    csr2 = WORK + "/csr2.der"
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", "/dev/null", "-subj", "/CN=d", "-outform", "DER", "-out", csr2],
                   capture_output=True, check=True)

    def reprov():
        r = run(BIN + "/writ", "hsm", "issue", "--socket", SOCK, "--writ", gr["id"], "--csr", csr2, "--uid", uids[2],
                "--out", WORK + "/dac2.der")
        return r if r[0] == 0 else None
    res = wait("the grant loaded: the HSM re-provisions under it (the grant carries issue-dac)", reprov)
    sha2 = hashlib.sha256(open(WORK + "/dac2.der", "rb").read()).hexdigest() if res else ""

    def reprov_row():
        st, a = req("GET", "/v1/devices?uid=" + uids[2], oem)
        rows = a.get("devices", []) if st == 200 else []
        return rows if any(x.get("operation") == "reprovision" for x in rows) else None
    rows = wait("the journal comes back: JT_REPROVISION ingested", reprov_row) or []
    check("the device's newest row is the re-provisioned DAC (the new one), same serial, same batch",
          len(rows) == 2 and rows[-1]["operation"] == "reprovision" and rows[-1]["dac_sha256"] == sha2 and
          rows[-1]["serial"] == old.get("serial") and rows[-1]["batch"] == old.get("batch") and
          rows[-1]["index"] == old.get("index"), str(rows)[:600])
    check("the old DAC stays in its history", len(rows) == 2 and rows[0]["operation"] == "dac" and
          rows[0]["dac_sha256"] == old.get("dac_sha256"), str(rows)[:400])
    st, p_r1 = req("GET", "/v1/products/lamp", oem)
    check("re-provisioning is not production", p_r1.get("produced") == p_r0.get("produced"), f"{p_r0} {p_r1}")
    st, a = wait("the grant counts 1 used", lambda: (lambda r: r if r[1].get("used") == 1 else None)(
        req("GET", "/v1/rework/" + gr["id"], oem)))
    check("one unit of the grant used", a.get("used") == 1, str(a))
    hist = rows[-1].get("rework", []) if rows else []
    check("the device's rework history shows the re-provisioned DAC",
          any(h.get("operation") == "reprovision" and h.get("dac") and h.get("writ") == gr["id"] for h in hist),
          str(hist)[:400])
    st, al0 = req("GET", "/v1/alerts", oem)
    check("no bad_reprovision alert for it", not any(x["kind"] == "bad_reprovision" for x in al0["alerts"]), str(al0)[:300])
    # rights the portal did not issue with reprovision (changed behind the API's back): an alert
    sql(f"UPDATE reworks SET perms = {blob('00' * 15 + '01')} WHERE writ_id = {blob(gr['id'])}")
    check("the HSM re-provisions under the rights it holds", reprov() is not None)
    wait("a bad_reprovision alert", lambda: any(x["kind"] == "bad_reprovision" for x in
                                                req("GET", "/v1/alerts", oem)[1]["alerts"]))
    st, a = req("GET", "/v1/devices?uid=" + uids[2], oem)
    check("and no device row for it", st == 200 and len(a.get("devices", [])) == 2, str(a)[:300])

    # ---- revocation ----
    wait("the third grant loaded", lambda: token(g3["id"], uids[0], name="t3")[0] == 0)
    st, a = req("POST", f"/v1/rework/{g3['id']}/revoke", odm, {})
    expect("an ODM cannot revoke a grant", st, 403, a, "forbidden")
    st, a = req("POST", f"/v1/rework/{g3['id']}/revoke", oem2, {})
    expect("another OEM cannot revoke it", st, 404, a, "not_found")
    st, a = req("POST", f"/v1/rework/{b2['id']}/revoke", sec, {})
    expect("a batch's rights are revoked with the batch", st, 409, a, "state")
    st, rv = req("POST", f"/v1/rework/{g3['id']}/revoke", sec, {})
    check("OEM security revokes the grant", st == 200 and rv.get("state") == "revoking", str(rv))
    st, a = req("POST", f"/v1/rework/{g3['id']}/revoke", sec, {})
    expect("revoking twice", st, 409, a, "state")
    st, feed2 = req("GET", f"/v1/sync/writs?since={feed['next']}", ftok)
    check("the revocation writ is on the feed (kind 3)",
          any(w["id"] == rv.get("revocation") and w["kind"] == 3 for w in feed2.get("writs", [])), str(feed2)[:300])
    signed = []

    def after_revoke():
        r = token(g3["id"], uids[1], name="t3b")
        if r[0] == 0:
            signed.append(r[1])  # the factory has not delivered the revocation yet
            return None
        return r
    res = wait("the HSM refuses the revoked grant", after_revoke)
    check("with the reason revoked", res is not None and "revoked" in res[3], str(res)[:300])
    st, a = wait("the HSM's acknowledgement reaches the cloud",
                 lambda: (lambda r: r if r[1].get("state") == "revoked" else None)(
                     req("GET", "/v1/rework/" + g3["id"], oem)))
    check(f"the grant is revoked, {1 + len(signed)} used",
          a.get("state") == "revoked" and a.get("used") == 1 + len(signed), str(a))

    # ---- the debug key generation ----
    for who, tk, want, code in (("an ODM", odm, 403, "forbidden"), ("another OEM", oem2, 404, "not_found"),
                                ("a factory", ftok, 404, "not_found")):
        st, a = req("POST", "/v1/products/lamp/debug-rotate", tk, {})
        expect(f"{who} cannot rotate the debug key generation", st, want, a, code)
    st, a = req("POST", "/v1/products/lamp/debug-rotate", sec, {})
    check("OEM security rotates: generation 2", st == 200 and a.get("debug_gen") == 2, str(a))
    st, a = req("GET", "/v1/products/lamp", odm)
    check("GET product shows debug_gen 2", a.get("debug_gen") == 2, str(a))
    st, g4 = req("POST", "/v1/rework", oem, dict(g, perms=["debug"], limit=3))
    check("the next grant is at key generation 2", st == 201 and g4.get("key_gen") == 2, str(g4))
    res = wait("the new grant loaded", lambda: (lambda r: r if r[0] == 0 else None)(token(g4["id"], uids[1], name="t4")))
    check("its delegate certificate (WDC1 bytes 12..16) carries generation 2",
          res is not None and key_gen_of(res[2]) == 2, (res[2][:16].hex() if res else ""))

    # ---- a JT_DEBUG entry under rights the portal did not issue: bad_debug ----
    # (the store is changed behind the API's back: the HSM holds rights the cloud
    # never granted, as if minted elsewhere with the OEM's key)
    sql(f"UPDATE reworks SET perms = {blob('00' * 14 + '01' + '00')} WHERE writ_id = {blob(g4['id'])}")
    rc, _, _, err = token(g4["id"], uids[2], name="t5")
    check("the HSM signs under the rights it holds", rc == 0, err)
    wait("a bad_debug alert", lambda: any(x["kind"] == "bad_debug" for x in req("GET", "/v1/alerts", oem)[1]["alerts"]))
    st, a = req("GET", "/v1/alerts", oem2)
    check("another OEM does not see it", st == 200 and a["alerts"] == [], str(a))

    # ---- an HSM enrolled without a debug delegate key (before secure debug) ----
    sql(f"UPDATE hsms SET debug_pub = NULL WHERE hsm_id = {blob(hsm)}")
    st, a = req("POST", "/v1/rework", sec, g)
    check("no rework rights for an HSM without a debug key: 409 saying why",
          st == 409 and a.get("code") == "state" and "debug delegate key" in a.get("error", ""), str(a))
    st, a = req("POST", "/v1/batches", odm, dict(batch, quantity=1, rework=rw))
    expect("nor on a batch for it", st, 409, a, "state")
    sql(f"UPDATE hsms SET debug_pub = {blob(debug_pub)} WHERE hsm_id = {blob(hsm)}")

    # ---- rework records from the factory ----
    for p in PROCS[1:]:
        p.terminate()
        p.wait()
    del PROCS[1:]
    st, cur = req("GET", "/v1/sync/records/cursor", ftok)
    nxt, prev = cur.get("next", 1), cur.get("hash") or "0" * 64

    def record(n, prev, writ, uid, seq, step="rework-debug", result="ok", station="rw1"):
        r = {"seq": n, "prev": prev, "time": int(time.time()), "factory": "foxy-sz1", "line": "L9",
             "station": station, "writ": writ, "product": "lamp", "version": "", "version_digest": "",
             "firmware_version": 0, "uid": uid, "device_serial": 0, "dac_serial": "", "dac_sha256": "",
             "hsm_id": hsm, "hsm_seq": seq, "operation": "provision", "result": result, "step": step,
             "reason": "" if result == "ok" else "the chip did not answer", "qr": "", "manual": ""}
        r["hash"] = hashlib.sha256(json.dumps(r, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        return json.dumps(r, sort_keys=True, separators=(",", ":")), r["hash"]

    bad, _ = record(nxt, prev, g1["id"], uids[0], seq2)
    st, a = req("POST", "/v1/sync/records", ftok, {"records": [bad]})
    expect("a rework record that names another operation's entry", st, 422, a, "bad_record")
    bad, _ = record(nxt, prev, g1["id"], uids[1], seq1)
    st, a = req("POST", "/v1/sync/records", ftok, {"records": [bad]})
    expect("a rework record for another device than its entry", st, 422, a, "bad_record")
    bad, _ = record(nxt, prev, gd["id"], uids[0], seq1)
    st, a = req("POST", "/v1/sync/records", ftok, {"records": [bad]})
    expect("a rework record naming another writ", st, 422, a, "bad_record")
    st, al = req("GET", "/v1/alerts", oem)
    check("forged rework records raised bad_record", sum(x["count"] for x in al["alerts"] if x["kind"] == "bad_record") >= 3,
          str(al)[:300])
    bad, _ = record(nxt, prev, g1["id"], uids[0], 10 ** 6)
    st, a = req("POST", "/v1/sync/records", ftok, {"records": [bad]})
    expect("a rework record ahead of the journal", st, 409, a, "journal_first")
    r1, h1 = record(nxt, prev, g1["id"], uids[0], seq1)
    r2, h2_ = record(nxt + 1, h1, g1["id"], uids[1], seq2, step="rework-reflash", station="rw2")
    r3, h3 = record(nxt + 2, h2_, g1["id"], uids[2], 0, result="failed")
    st, a = req("POST", "/v1/sync/records", ftok, {"records": [r1, r2, r3]})
    check("ok and failed rework records are accepted", st == 200 and a.get("accepted") == 3, str(a))
    st, a = req("GET", "/v1/devices?uid=" + uids[0], oem)
    hist = a["devices"][0]["rework"] if st == 200 and a.get("devices") else []
    rec = hist[0].get("record") or {} if hist else {}
    check("the history shows who: line and station of the factory's record",
          rec.get("station") == "rw1" and rec.get("line") == "L9" and rec.get("step") == "rework-debug" and
          rec.get("result") == "ok", str(hist)[:400])
    st, a = req("GET", "/v1/devices?uid=" + uids[1], oem)
    rec = (a["devices"][0]["rework"][0].get("record") or {}) if st == 200 and a.get("devices") else {}
    check("the re-flash record is on the second device", rec.get("station") == "rw2", str(a)[:300])

    # ---- the writ CLI ----
    tf = WORK + "/sec.token"
    fd = os.open(tf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, sec.encode())
    os.close(fd)
    common = ["--cloud", ca.URL, "--token-file", tf]
    w = BIN + "/writ"
    rc, out, err = run(w, "rework", "list", "--product", "lamp", *common)
    check("writ rework list", rc == 0 and g1["id"] in out and gd["id"] in out, err + out)
    rc, out, err = run(w, "rework", "show", "--rework", g1["id"], *common)
    check("writ rework show: used 2 of 2", rc == 0 and "used: 2" in out and "limit: 2" in out, err + out)
    rc, out, err = run(w, "rework", "grant", "--product", "lamp", "--factory", "foxy-sz1", "--hsm", hsm, "--perms",
                       "debug,reflash", "--limit", "3", "--session", "120", "--devices", uids[0] + "," + uids[1],
                       *common)
    gid = out.split()[1] if rc == 0 and out.startswith("granted ") else ""
    check("writ rework grant", rc == 0 and len(gid) == 32, err + out)
    st, a = req("GET", "/v1/rework/" + gid, oem)
    check("the CLI's grant as asked", a.get("limit") == 3 and a.get("session") == 120 and
          a.get("devices") == [uids[0], uids[1]] and a.get("perms") == ["debug", "reflash"], str(a))
    rc, out, err = run(w, "rework", "revoke", "--rework", gid, *common)
    check("writ rework revoke", rc == 0 and "revoking" in out, err + out)
    rc, out, err = run(w, "product", "debug-rotate", "--product", "lamp", *common)
    st, a = req("GET", "/v1/products/lamp", oem)
    check("writ product debug-rotate", rc == 0 and a.get("debug_gen") == 3, err + out + str(a))
    rc, out, err = run(w, "product", "rework-policy", "--product", "lamp", "--perms", "none", *common)
    st, a = req("GET", "/v1/products/lamp", oem)
    check("writ product rework-policy --perms none clears it", rc == 0 and a.get("rework_policy") is None,
          err + out + str(a))
    rc, out, err = run(w, "product", "rework-policy", "--product", "lamp", "--perms", "debug", "--limit", "4", *common)
    st, a = req("GET", "/v1/products/lamp", oem)
    check("writ product rework-policy sets it", rc == 0 and (a.get("rework_policy") or {}).get("limit") == 4,
          err + out + str(a))
    for what, args in (("an unknown permission", ["rework", "grant", "--product", "lamp", "--factory", "f", "--hsm",
                                                  hsm, "--perms", "debug,jtag"]),
                       ("a device that is not 16 bytes", ["rework", "grant", "--product", "lamp", "--factory", "f",
                                                          "--hsm", hsm, "--perms", "debug", "--devices", "abcd"]),
                       ("limit 0", ["rework", "grant", "--product", "lamp", "--factory", "f", "--hsm", hsm, "--perms",
                                    "debug", "--limit", "0"]),
                       ("an id that is not hex", ["rework", "show", "--rework", "zz"]),
                       ("batch --limit without --rework-perms",
                        ["batch", "create", "--product", "lamp", "--version", "1.0.0", "--factory", "f", "--hsm", hsm,
                         "--quantity", "1", "--days", "1", "--limit", "2"])):
        rc, out, err = run(w, *args, *common)
        check(f"writ CLI usage error: {what}: exit 2", rc == 2, err + out)
    for c in ("rework grant", "rework list", "rework show", "rework revoke", "product debug-rotate",
              "product rework-policy"):
        rc, out, err = run(w, *c.split(), "--help")
        check(f"writ {c} --help", rc == 0 and out.startswith("usage: writ " + c), err + out)

    tokens = {"oem-admin": oem, "oem-security": sec, "odm-engineer": odm, "factory": ftok,
              "other-oem": oem2, "other-odm": odm2, "anonymous": None}
    authz(tokens, g3["id"], g1["id"], dev.get("id", 0))
    fuzz(tokens, hsm)


def blob(hexstr):
    return ("'\\x" + hexstr + "'::bytea") if ENGINE == "postgresql" else ("X'" + hexstr + "'")


# The rework endpoints with the grants, devices and rework history this flow made, every
# caller (cloud_api.authz_check: the roles allowed are docs/openapi.yaml's x-roles).
# cloud_api.py's matrix holds a case for every operation; these are more.
def authz(t, revoked, grant, dev_id):
    c = {
        "POST /v1/products/{product}/debug-rotate": [("/v1/products/lamp/debug-rotate", {}, "mine")],
        "PUT /v1/products/{product}/rework-policy": [("/v1/products/lamp/rework-policy", {"perms": "x"}, "mine")],
        "POST /v1/rework": [("/v1/rework", {"x": 1}, "any")],
        "GET /v1/rework": [("/v1/rework", None, "any"), ("/v1/rework?product=lamp", None, "any")],
        "GET /v1/rework/{id}": [(f"/v1/rework/{grant}", None, "mine")],
        "POST /v1/rework/{id}/revoke": [(f"/v1/rework/{revoked}/revoke", {}, "mine")],
        "GET /v1/devices/{device}": [(f"/v1/devices/{dev_id}", None, "mine")],
    }
    ca.authz_check("rework authorization matrix", t, c, complete=False)


def fuzz(t, hsm):
    import random
    rnd = random.Random(int(os.environ.get("FUZZ_SEED", "7")))
    targets = [
        ("POST", "/v1/rework", t["oem-admin"], {"product": "lamp", "factory": "foxy-sz1", "hsm": hsm,
                                                "perms": ["debug"], "limit": 0, "days": 0, "session": 0,
                                                "devices": ["01" * 16]}),
        ("PUT", "/v1/products/lamp/rework-policy", t["oem-admin"], {"perms": ["debug"], "limit": 0, "days": 0,
                                                                     "session": 0}),
        ("POST", "/v1/batches", t["odm-engineer"], {"product": "lamp", "version": "1.0.0", "factory": "foxy-sz1",
                                                    "hsm": hsm, "quantity": 1000, "not_before": int(time.time()) - 60,
                                                    "not_after": int(time.time()) + 3600,
                                                    "rework": {"perms": ["debug"], "limit": 0, "days": 0,
                                                               "session": 0}}),
    ]
    junk = [None, True, -1, 2 ** 63, -2 ** 64, 1.5, "", "\u0000", "x" * 70000, [], {}, [[[[[]]]]], "é", ["jtag"],
            ["00" * 16], {"perms": 1}]
    _, before = req("GET", "/v1/products/lamp", t["oem-admin"])
    _, n0 = req("GET", "/v1/rework", t["oem-admin"])
    bad = []
    sent = 0
    for method, path, tok, good in targets:
        for i in range(60):
            m = json.loads(json.dumps(good))
            op = rnd.randrange(6)
            if op == 0:
                m[rnd.choice(list(m))] = rnd.choice(junk)
            elif op == 1:
                del m[rnd.choice(list(m))]
            elif op == 2:
                m["extra%d" % i] = rnd.choice(junk)
            elif op == 5 and isinstance(m.get("rework"), dict):
                m["rework"][rnd.choice(["perms", "limit", "days", "session", "x"])] = rnd.choice(junk)
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
            if st >= 500 or st < 400 or not (isinstance(a, dict) and a.get("error") and a.get("code")):
                bad.append(f"{method} {path} {body[:80]!r}: {st} {str(a)[:120]}")
    _, after = req("GET", "/v1/products/lamp", t["oem-admin"])
    _, n1 = req("GET", "/v1/rework", t["oem-admin"])
    check(f"{sent} mutated rework bodies: each refused with error and code, no 5xx", not bad, "\n".join(bad[:10]))
    check("garbage moved neither the quota, the policy nor the rework list",
          before.get("allocated") == after.get("allocated") and before.get("rework_policy") ==
          after.get("rework_policy") and len(n0.get("rework", [])) == len(n1.get("rework", [])),
          f"{before} {after}")


if __name__ == "__main__":
    try:
        main()
    finally:
        for p in PROCS:
            p.kill()
            p.wait()
    print(f"{ca.PASSED} passed, {ca.FAILED} failed")
    sys.exit(0 if ca.FAILED == 0 and ca.PASSED > 0 else 1)
