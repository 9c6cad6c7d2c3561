#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# An independent check of a release manifest (docs/releases.md) with code that is not
# writ's: Debian's python3-cbor2 and python3-cryptography verify the COSE_Sign1 (RFC 9052
# Sig_structure, ES256 raw r||s) under the release key PEM, check the kid, decode the
# payload and print "VERSION CHANNEL name:size:sha256hex ..." for the caller to compare.
import hashlib
import sys

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def main(manifest_path, pem_path):
    msg = cbor2.loads(open(manifest_path, "rb").read())
    assert isinstance(msg, cbor2.CBORTag) and msg.tag == 18, "not a tagged COSE_Sign1"
    prot, unprot, payload, sig = msg.value
    hdr = cbor2.loads(prot)
    assert hdr[1] == -7, "not ES256"
    pub = serialization.load_pem_public_key(open(pem_path, "rb").read())
    point = pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    assert hdr[4] == hashlib.sha256(point).digest(), "kid is not the release key's id"
    tbs = cbor2.dumps(["Signature1", prot, b"", payload])
    assert len(sig) == 64
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    pub.verify(der, tbs, ec.ECDSA(hashes.SHA256()))  # raises on a bad signature
    m = cbor2.loads(payload)
    assert m[1] == "writ-factory-side"
    files = " ".join("%s:%d:%s" % (f[1], f[3], f[2].hex()) for f in m[5])
    print(m[2], m[3], files)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
