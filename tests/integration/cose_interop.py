# SPDX-License-Identifier: Apache-2.0
"""COSE interoperability between writ (lib/crypto/cose.c, through cose_tool) and an
independent implementation written here on Debian's python3-cbor2 and
python3-cryptography: Python verifies / decrypts what C makes, C verifies / decrypts
what Python makes, and both sides refuse tampered or foreign objects with the expected
writ error. Run with /usr/bin/python3 (Debian's interpreter) and the cose_tool path:

    /usr/bin/python3 tests/integration/cose_interop.py build/tests/cose_tool
"""
import hashlib
import os
import subprocess
import sys
import tempfile

import cbor2
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (decode_dss_signature,
                                                             encode_dss_signature)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# writ_err values (lib/base/err.h)
E_FORMAT, E_TOOBIG, E_BADSIG, E_DECRYPT, E_NOTFOUND, E_UNSUPPORTED = -4, -5, -7, -8, -10, -13
COSE_MAX_MESSAGE = 1024 * 1024

TOOL = sys.argv[1] if len(sys.argv) > 1 else None
WORK = None
failures = []


def check(cond, what):
    if cond:
        print("ok   " + what)
    else:
        print("FAIL " + what)
        failures.append(what)


# ---- independent COSE (RFC 9052 / 9053) -----------------------------------------------

def pub_bytes(key):
    return key.public_key().public_bytes(serialization.Encoding.X962,
                                         serialization.PublicFormat.UncompressedPoint)


def key_id(pub65):
    return hashlib.sha256(pub65).digest()


def py_sign1(priv, payload, kid=None, alg=-7, order=(1, 4), tag=18):
    if kid is None:
        kid = key_id(pub_bytes(priv))
    fields = {1: alg, 4: kid}
    prot = cbor2.dumps({label: fields[label] for label in order})
    tbs = cbor2.dumps(["Signature1", prot, b"", payload])
    r, s = decode_dss_signature(priv.sign(tbs, ec.ECDSA(hashes.SHA256())))
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    body = [prot, {}, payload, sig]
    return cbor2.dumps(cbor2.CBORTag(tag, body) if tag is not None else body)


def py_verify1(pub65, msg):
    """Payload of a writ-profile COSE_Sign1, or raise ValueError / InvalidSignature."""
    obj = cbor2.loads(msg)
    if not isinstance(obj, cbor2.CBORTag) or obj.tag != 18 or len(obj.value) != 4:
        raise ValueError("not a tagged COSE_Sign1")
    prot, unprot, payload, sig = obj.value
    hdr = cbor2.loads(prot)
    if hdr != {1: -7, 4: key_id(pub65)} or unprot != {} or len(sig) != 64:
        raise ValueError("unexpected headers")
    tbs = cbor2.dumps(["Signature1", prot, b"", payload])
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), pub65)
    pub.verify(der, tbs, ec.ECDSA(hashes.SHA256()))
    return payload


def kdf_context(rprot):
    return cbor2.dumps([3, [None, None, None], [None, None, None], [256, rprot]])


def cek_from(z, rprot):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=kdf_context(rprot)).derive(z)


def py_encrypt(pub65, pt, kid=None, body_alg=3):
    recipient = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), pub65)
    eph = ec.generate_private_key(ec.SECP256R1())
    epub = pub_bytes(eph)
    z = eph.exchange(ec.ECDH(), recipient)
    rprot = cbor2.dumps({1: -25})
    cek = cek_from(z, rprot)
    iv = os.urandom(12)
    bprot = cbor2.dumps({1: body_alg})
    aad = cbor2.dumps(["Encrypt", bprot, b""])
    ct = AESGCM(cek).encrypt(iv, pt, aad)
    epk = {1: 2, -1: 1, -2: epub[1:33], -3: epub[33:]}
    runprot = {-1: epk, 4: key_id(pub65) if kid is None else kid}
    return cbor2.dumps(cbor2.CBORTag(96, [bprot, {5: iv}, ct, [[rprot, runprot, b""]]]))


def py_decrypt(priv, msg):
    obj = cbor2.loads(msg)
    if not isinstance(obj, cbor2.CBORTag) or obj.tag != 96 or len(obj.value) != 4:
        raise ValueError("not a tagged COSE_Encrypt")
    bprot, bunprot, ct, recipients = obj.value
    if cbor2.loads(bprot) != {1: 3} or set(bunprot) != {5} or len(recipients) != 1:
        raise ValueError("unexpected body headers")
    rprot, runprot, rct = recipients[0]
    if cbor2.loads(rprot) != {1: -25} or set(runprot) != {-1, 4} or rct != b"":
        raise ValueError("unexpected recipient headers")
    if runprot[4] != key_id(pub_bytes(priv)):
        raise ValueError("not for this key")
    epk = runprot[-1]
    if epk[1] != 2 or epk[-1] != 1:
        raise ValueError("not an EC2 P-256 key")
    eph = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + epk[-2] + epk[-3])
    z = priv.exchange(ec.ECDH(), eph)
    aad = cbor2.dumps(["Encrypt", bprot, b""])
    return AESGCM(cek_from(z, rprot)).decrypt(bunprot[5], ct, aad)


# ---- the C side -----------------------------------------------------------------------

def path(name):
    return os.path.join(WORK, name)


def put(name, data):
    with open(path(name), "wb") as f:
        f.write(data)
    return path(name)


def get(name):
    with open(path(name), "rb") as f:
        return f.read()


def tool(*args):
    """(0, output bytes) or (writ_err, None)."""
    out = path("tool.out")
    if os.path.exists(out):
        os.unlink(out)
    p = subprocess.run([TOOL] + list(args) + [out], capture_output=True, text=True)
    if p.returncode == 0:
        return 0, get("tool.out")
    words = p.stderr.split()
    if p.returncode == 1 and len(words) >= 2 and words[0] == "error":
        return int(words[1]), None
    raise RuntimeError("cose_tool %s: rc=%d %s" % (args[0], p.returncode, p.stderr))


def write_key(name, key, fmt):
    put(name + ".pem", key.private_bytes(serialization.Encoding.PEM, fmt,
                                         serialization.NoEncryption()))
    put(name + ".pub", pub_bytes(key).hex().encode() + b"\n")
    return path(name + ".pem"), path(name + ".pub")


def main():
    global WORK
    if not TOOL or not os.access(TOOL, os.X_OK):
        print("usage: cose_interop.py /path/to/cose_tool")
        return 2
    with tempfile.TemporaryDirectory(prefix="writ-cose-interop-") as WORK:
        run_all()
    if failures:
        print("%d interop check(s) failed" % len(failures))
        return 1
    print("all interop checks passed")
    return 0


def run_all():
    ka = ec.generate_private_key(ec.SECP256R1())
    kb = ec.generate_private_key(ec.SECP256R1())
    ka_pem, ka_pub = write_key("a", ka, serialization.PrivateFormat.PKCS8)
    kb_pem, kb_pub = write_key("b", kb, serialization.PrivateFormat.TraditionalOpenSSL)
    pa, pb = pub_bytes(ka), pub_bytes(kb)

    # (1) C makes, Python checks
    for n in (0, 1, 24, 1000, 100000):
        payload = os.urandom(n)
        rc, msg = tool("sign", ka_pem, put("p.bin", payload))
        check(rc == 0, "C signs %d bytes" % n)
        try:
            ok = py_verify1(pa, msg) == payload
        except (ValueError, InvalidSignature):
            ok = False
        check(ok, "Python verifies C's Sign1 of %d bytes" % n)

        rc, msg = tool("encrypt", kb_pub, put("p.bin", payload))
        check(rc == 0, "C encrypts %d bytes" % n)
        try:
            ok = py_decrypt(kb, msg) == payload
        except (ValueError, InvalidTag):
            ok = False
        check(ok, "Python decrypts C's Encrypt of %d bytes" % n)

    # the Python checker is not a rubber stamp
    rc, msg = tool("sign", ka_pem, put("p.bin", b"writ scope"))
    bad = bytearray(msg)
    bad[-1] ^= 1
    try:
        py_verify1(pa, bytes(bad))
        ok = False
    except InvalidSignature:
        ok = True
    check(ok, "Python rejects C's Sign1 with a changed signature")
    try:
        py_verify1(pb, msg)
        ok = False
    except (ValueError, InvalidSignature):
        ok = True
    check(ok, "Python rejects C's Sign1 under another key")
    rc, msg = tool("encrypt", kb_pub, put("p.bin", b"secret"))
    bad = bytearray(msg)
    bad[30] ^= 1  # inside the ciphertext
    try:
        py_decrypt(kb, bytes(bad))
        ok = False
    except InvalidTag:
        ok = True
    check(ok, "Python rejects C's Encrypt with a changed ciphertext")

    # the writ shape: Sign1 inside Encrypt, both made by C, opened by Python
    rc, signed = tool("sign", ka_pem, put("p.bin", b"\xa1\x01\x02"))
    rc2, sealed = tool("encrypt", kb_pub, put("s.bin", signed))
    check(rc == 0 and rc2 == 0 and py_verify1(pa, py_decrypt(kb, sealed)) == b"\xa1\x01\x02",
          "Python opens C's Sign1-in-Encrypt")

    # (2) Python makes, C checks
    for n in (0, 1, 24, 1000, 100000):
        payload = os.urandom(n)
        rc, out = tool("verify", ka_pub, put("m.bin", py_sign1(ka, payload)))
        check(rc == 0 and out == payload, "C verifies Python's Sign1 of %d bytes" % n)
        rc, out = tool("decrypt", kb_pem, put("m.bin", py_encrypt(pb, payload)))
        check(rc == 0 and out == payload, "C decrypts Python's Encrypt (SEC1 PEM key) of %d bytes" % n)
        rc, out = tool("decrypt", ka_pem, put("m.bin", py_encrypt(pa, payload)))
        check(rc == 0 and out == payload, "C decrypts Python's Encrypt (PKCS#8 PEM key) of %d bytes" % n)

    rc, out = tool("verify", ka_pub, put("m.bin", py_sign1(ka, b"abc", order=(4, 1))))
    check(rc == 0 and out == b"abc", "C verifies Python's Sign1 with kid before alg")
    rc, out = tool("kid", put("m.bin", py_sign1(ka, b"abc")))
    check(rc == 0 and out == key_id(pa), "C reads the kid of Python's Sign1")

    # (3) C refuses what it must refuse, with the documented error
    rc, _ = tool("verify", kb_pub, put("m.bin", py_sign1(ka, b"abc")))
    check(rc == E_BADSIG, "C: Sign1 under another key -> BADSIG (%d)" % rc)
    rc, _ = tool("verify", kb_pub, put("m.bin", py_sign1(ka, b"abc", kid=key_id(pb))))
    check(rc == E_BADSIG, "C: Sign1 claiming another kid -> BADSIG (%d)" % rc)
    rc, _ = tool("verify", ka_pub, put("m.bin", py_sign1(ka, b"abc", alg=-35)))
    check(rc == E_UNSUPPORTED, "C: Sign1 with ES384 alg -> UNSUPPORTED (%d)" % rc)
    rc, _ = tool("verify", ka_pub, put("m.bin", py_sign1(ka, b"abc", alg="ES256")))
    check(rc == E_UNSUPPORTED, "C: Sign1 with a text alg -> UNSUPPORTED (%d)" % rc)
    rc, _ = tool("verify", ka_pub, put("m.bin", py_sign1(ka, b"abc", tag=None)))
    check(rc == E_FORMAT, "C: untagged Sign1 -> FORMAT (%d)" % rc)
    rc, _ = tool("verify", ka_pub, put("m.bin", py_sign1(ka, b"abc", tag=98)))
    check(rc == E_FORMAT, "C: Sign1 body under tag 98 -> FORMAT (%d)" % rc)
    good = py_sign1(ka, b"abc")
    rc, _ = tool("verify", ka_pub, put("m.bin", good + b"\x00"))
    check(rc == E_FORMAT, "C: Sign1 with a trailing byte -> FORMAT (%d)" % rc)
    bad = bytearray(good)
    bad[-5] ^= 0x40
    rc, _ = tool("verify", ka_pub, put("m.bin", bytes(bad)))
    check(rc == E_BADSIG, "C: Python's Sign1 with a changed signature -> BADSIG (%d)" % rc)
    rc, _ = tool("verify", ka_pub, put("m.bin", py_sign1(ka, os.urandom(COSE_MAX_MESSAGE))))
    check(rc == E_TOOBIG, "C: Sign1 over the size bound -> TOOBIG (%d)" % rc)

    rc, _ = tool("decrypt", ka_pem, put("m.bin", py_encrypt(pb, b"x")))
    check(rc == E_NOTFOUND, "C: Encrypt for another key -> NOTFOUND (%d)" % rc)
    rc, _ = tool("decrypt", ka_pem, put("m.bin", py_encrypt(pb, b"x", kid=key_id(pa))))
    check(rc == E_DECRYPT, "C: Encrypt for another key under our kid -> DECRYPT (%d)" % rc)
    rc, _ = tool("decrypt", kb_pem, put("m.bin", py_encrypt(pb, b"x", body_alg=1)))
    check(rc == E_UNSUPPORTED, "C: Encrypt with A128GCM -> UNSUPPORTED (%d)" % rc)
    enc = bytearray(py_encrypt(pb, b"0123456789"))
    enc[30] ^= 1
    rc, _ = tool("decrypt", kb_pem, put("m.bin", bytes(enc)))
    check(rc == E_DECRYPT, "C: Python's Encrypt with a changed ciphertext -> DECRYPT (%d)" % rc)
    rc, _ = tool("decrypt", kb_pem, put("m.bin", os.urandom(300)))
    check(rc < 0, "C: random bytes do not decrypt (%d)" % rc)


if __name__ == "__main__":
    sys.exit(main())
