#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Independent reader of the factory-data images `writ matter factory-data` writes.

Written from the format descriptions only (ESP-IDF NVS page layout, Nordic's schema,
docs/device-protocol.md for WFD1), sharing no code with lib/matter:
  - ESP-IDF NVS image: page headers and their CRC32, entry-state bitmaps, every entry's
    CRC32, string and blob data CRCs, namespace "chip-factory", blobs reassembled from
    BLOB_DATA chunks via BLOB_IDX; the last page must be left erased.
  - the mfg CSV must say exactly what the NVS image holds.
  - the nRF CBOR map: schema-required keys (except dac_key, which must be absent) with
    the right types and bounds, strings as byte strings.
  - WFD1: magic, length, CRC-32, ascending TLVs.
  - the SPAKE2+ verifier is recomputed here (hashlib PBKDF2 + python3-cryptography).
Usage: matter_formats.py --nvs F --csv F --cbor F --wfd F --schema F --passcode N
       [--expect-passcode]
"""
import argparse
import base64
import csv
import hashlib
import json
import struct
import sys
import zlib

import cbor2
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import serialization

P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
PAGE = 4096


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def esp_crc(data):
    # ESP-IDF's CRC32 as its generator computes it: zlib's crc32 seeded with 0xFFFFFFFF
    return zlib.crc32(bytes(data), 0xFFFFFFFF) & 0xFFFFFFFF


def read_nvs(img):
    if len(img) % PAGE:
        fail("NVS image is not a whole number of pages")
    npages = len(img) // PAGE
    if img[(npages - 1) * PAGE:] != b"\xff" * PAGE:
        fail("the last NVS page is not left erased")
    namespaces = {}
    items = {}
    chunks = {}
    indexes = {}
    seqs = []
    for p in range(npages):
        page = img[p * PAGE:(p + 1) * PAGE]
        state = struct.unpack_from("<I", page, 0)[0]
        if state == 0xFFFFFFFF:
            if page != b"\xff" * PAGE:
                fail("page %d is uninitialised but not erased" % p)
            continue
        if state not in (0xFFFFFFFE, 0xFFFFFFFC):
            fail("page %d state 0x%08x is neither ACTIVE nor FULL" % (p, state))
        seq, version = struct.unpack_from("<IB", page, 4)
        if version != 0xFE:
            fail("page %d version 0x%02x, want 0xFE (NVS v2)" % (p, version))
        if page[9:28] != b"\xff" * 19:
            fail("page %d reserved header bytes not 0xFF" % p)
        if struct.unpack_from("<I", page, 28)[0] != esp_crc(page[4:28]):
            fail("page %d header CRC" % p)
        seqs.append(seq)
        bitmap = page[32:64]

        def estate(i):
            return (bitmap[i // 4] >> ((i % 4) * 2)) & 3

        i = 0
        while i < 126:
            st = estate(i)
            if st == 3:
                ent = page[64 + 32 * i:64 + 32 * (i + 1)]
                if ent != b"\xff" * 32:
                    fail("page %d entry %d marked empty but written" % (p, i))
                i += 1
                continue
            if st != 2:
                fail("page %d entry %d state %d" % (p, i, st))
            ent = page[64 + 32 * i:64 + 32 * (i + 1)]
            ns, typ, span, chunk = ent[0], ent[1], ent[2], ent[3]
            crc = struct.unpack_from("<I", ent, 4)[0]
            if crc != esp_crc(ent[0:4] + ent[8:32]):
                fail("page %d entry %d CRC" % (p, i))
            key = ent[8:24].split(b"\x00")[0].decode("ascii")
            if ent[8 + len(key):24] != b"\x00" * (16 - len(key)):
                fail("key %s not zero-padded" % key)
            if span < 1 or i + span > 126:
                fail("page %d entry %d span %d" % (p, i, span))
            for k in range(1, span):
                if estate(i + k) != 2:
                    fail("data slot of %s not marked written" % key)
            data = ent[24:32]
            if typ == 0x01 and ns == 0:
                namespaces[data[0]] = key
                if data[1:] != b"\xff" * 7:
                    fail("namespace entry padding")
            elif typ in (0x01, 0x02, 0x04):
                size = {0x01: 1, 0x02: 2, 0x04: 4}[typ]
                if data[size:] != b"\xff" * (8 - size):
                    fail("%s: primitive padding" % key)
                items[(ns, key)] = ("u%d" % (size * 8), int.from_bytes(data[:size], "little"))
            elif typ in (0x21, 0x42):
                size = struct.unpack_from("<H", data, 0)[0]
                if data[2:4] != b"\xff\xff":
                    fail("%s: reserved bytes" % key)
                dcrc = struct.unpack_from("<I", data, 4)[0]
                if span != 1 + (size + 31) // 32:
                    fail("%s: span %d for %d bytes" % (key, span, size))
                raw = page[64 + 32 * (i + 1):64 + 32 * (i + span)]
                val = raw[:size]
                if raw[size:] != b"\xff" * (len(raw) - size):
                    fail("%s: data padding" % key)
                if esp_crc(val) != dcrc:
                    fail("%s: data CRC" % key)
                if typ == 0x21:
                    if chunk != 0xFF or not val.endswith(b"\x00"):
                        fail("%s: string chunk index or missing NUL" % key)
                    items[(ns, key)] = ("string", val[:-1].decode("utf-8"))
                else:
                    chunks[(ns, key, chunk)] = val
            elif typ == 0x48:
                size, count, start = struct.unpack_from("<IBB", data, 0)
                if data[6:8] != b"\xff\xff" or span != 1 or chunk != 0xFF:
                    fail("%s: blob index fields" % key)
                indexes[(ns, key)] = (size, count, start)
            else:
                fail("%s: unexpected entry type 0x%02x" % (key, typ))
            i += span
    if sorted(seqs) != list(range(len(seqs))):
        fail("page sequence numbers %s" % seqs)
    for (ns, key), (size, count, start) in indexes.items():
        blob = b"".join(chunks.pop((ns, key, start + c)) for c in range(count))
        if len(blob) != size:
            fail("%s: blob size %d, index says %d" % (key, len(blob), size))
        items[(ns, key)] = ("hex2bin", blob)
    if chunks:
        fail("blob chunks without an index: %s" % list(chunks))
    if namespaces != {1: "chip-factory"}:
        fail("namespaces %s" % namespaces)
    return {key: v for (ns, key), v in items.items() if ns == 1}


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if rows[0] != ["key", "type", "encoding", "value"]:
        fail("CSV header %s" % rows[0])
    if rows[1] != ["chip-factory", "namespace", "", ""]:
        fail("CSV namespace row %s" % rows[1])
    out = {}
    for key, typ, enc, value in rows[2:]:
        if typ != "data":
            fail("CSV %s type %s" % (key, typ))
        if key in out:
            fail("CSV key %s twice" % key)
        if enc == "u32":
            out[key] = ("u32", int(value))
        elif enc == "string":
            out[key] = ("string", value)
        elif enc == "hex2bin":
            out[key] = ("hex2bin", bytes.fromhex(value))
        else:
            fail("CSV %s encoding %s" % (key, enc))
    return out


def verifier(passcode, salt, it):
    ws = hashlib.pbkdf2_hmac("sha256", struct.pack("<I", passcode), salt, it, 80)
    w0 = int.from_bytes(ws[:40], "big") % P256_N
    w1 = int.from_bytes(ws[40:], "big") % P256_N
    L = ec.derive_private_key(w1, ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return w0.to_bytes(32, "big") + L


def read_wfd(b):
    if b[:4] != b"WFD1":
        fail("WFD magic")
    n = struct.unpack(">H", b[4:6])[0]
    if n != len(b) - 10:
        fail("WFD length %d for %d bytes" % (n, len(b)))
    if struct.unpack(">I", b[-4:])[0] != zlib.crc32(b[:-4]) & 0xFFFFFFFF:
        fail("WFD CRC")
    off, last, out = 6, 0, {}
    while off < 6 + n:
        t, ln = struct.unpack(">HH", b[off:off + 4])
        if t <= last or t > 0x10:
            fail("WFD type order/unknown: %d after %d" % (t, last))
        last = t
        out[t] = b[off + 4:off + 4 + ln]
        if len(out[t]) != ln:
            fail("WFD TLV runs past the end")
        off += 4 + ln
    for t in (1, 2, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15):
        if t not in out:
            fail("WFD misses required type %d" % t)
    return out


def main():
    ap = argparse.ArgumentParser()
    for a in ("--nvs", "--csv", "--cbor", "--wfd", "--schema"):
        ap.add_argument(a, required=True)
    ap.add_argument("--passcode", type=int, required=True)
    ap.add_argument("--expect-passcode", action="store_true")
    args = ap.parse_args()

    nvs = read_nvs(open(args.nvs, "rb").read())
    csvd = read_csv(args.csv)
    if nvs != csvd:
        fail("CSV and NVS differ:\n  nvs %s\n  csv %s" % (sorted(nvs), sorted(csvd)))
    for k in ("discriminator", "iteration-count", "salt", "verifier", "dac-cert", "pai-cert", "vendor-id",
              "product-id", "hardware-ver", "mfg-date", "serial-num", "rd-id-uid"):
        if k not in nvs:
            fail("NVS misses %s" % k)
    if "dac-key" in nvs:
        fail("NVS holds a DAC private key")
    if ("pin-code" in nvs) != args.expect_passcode:
        fail("pin-code presence is wrong")
    salt = base64.b64decode(nvs["salt"][1], validate=True)
    ver = base64.b64decode(nvs["verifier"][1], validate=True)
    if ver != verifier(args.passcode, salt, nvs["iteration-count"][1]):
        fail("the SPAKE2+ verifier does not recompute")

    schema = json.load(open(args.schema))
    m = cbor2.loads(open(args.cbor, "rb").read())
    if not isinstance(m, dict):
        fail("nRF CBOR is not a map")
    if "dac_key" in m:
        fail("nRF CBOR holds dac_key")
    for k in schema["required"]:
        if k != "dac_key" and k not in m:
            fail("nRF CBOR misses required %s" % k)
    for k, v in m.items():
        if not isinstance(k, str):
            fail("nRF CBOR key %r is not text" % (k,))
        prop = schema["properties"].get(k)
        if prop is None:
            fail("nRF CBOR key %s not in the schema" % k)
        if prop["type"] == "integer":
            if not isinstance(v, int) or isinstance(v, bool):
                fail("%s is not an integer" % k)
            if v < prop.get("minimum", v) or v > prop.get("maximum", v):
                fail("%s=%d out of the schema's range" % (k, v))
        elif prop["type"] == "string":
            if not isinstance(v, bytes):
                fail("%s is not a byte string" % k)
            hexed = prop.get("pattern", "").startswith("^hex:")
            n = 4 + 2 * len(v) if hexed else len(v)
            if n < prop.get("minLength", 0) or n > prop.get("maxLength", n):
                fail("%s length %d outside the schema" % (k, n))
    if ("passcode" in m) != args.expect_passcode:
        fail("nRF passcode presence is wrong")
    same = [("sn", "serial-num"), ("date", "mfg-date")]
    for ck, nk in same:
        if m[ck].decode() != nvs[nk][1]:
            fail("nRF %s != NVS %s" % (ck, nk))
    if m["vendor_id"] != nvs["vendor-id"][1] or m["product_id"] != nvs["product-id"][1] or \
            m["discriminator"] != nvs["discriminator"][1] or m["spake2_it"] != nvs["iteration-count"][1] or \
            m["spake2_salt"] != salt or m["spake2_verifier"] != ver or m["dac_cert"] != nvs["dac-cert"][1] or \
            m["pai_cert"] != nvs["pai-cert"][1] or m["rd_uid"] != nvs["rd-id-uid"][1]:
        fail("nRF and NVS values differ")

    w = read_wfd(open(args.wfd, "rb").read())
    checks = {1: struct.pack(">H", nvs["vendor-id"][1]), 2: struct.pack(">H", nvs["product-id"][1]),
              5: nvs["serial-num"][1].encode(), 6: nvs["mfg-date"][1].encode(),
              9: struct.pack(">H", nvs["discriminator"][1]), 10: struct.pack(">I", nvs["iteration-count"][1]),
              11: salt, 12: ver, 13: nvs["rd-id-uid"][1], 14: nvs["dac-cert"][1], 15: nvs["pai-cert"][1]}
    for t, v in checks.items():
        if w[t] != v:
            fail("WFD type %d differs from NVS" % t)
    print("ok: NVS (%d items), CSV, nRF CBOR (%d keys), WFD1 (%d TLVs) agree" % (len(nvs), len(m), len(w)))


if __name__ == "__main__":
    main()
