# SPDX-License-Identifier: Apache-2.0
# An independent implementation (Debian's python3-cryptography and python3-cbor2, not
# writ's C code) of what a chip does around a secret wrap and a firmware signature,
# used by hsm_wrap.sh. It plays the chip: makes the attestation and key-agreement keys,
# the CSR and the ENC_BINDING, unwraps WRAPPED per docs/device-protocol.md, and checks
# a `writ firmware sign` signature. Subcommands:
#   keys DIR UID_HEX         dev.key/enc.key (PEM), csr.der, enc_pub.bin, binding.der
#   bind DIR UID_HEX ENCPUB  binding over another ENC_PUB file -> stdout (DER)
#   badpoint                 65 bytes that are not a P-256 point -> stdout (hex)
#   foreign-dac DIR          a DAC for dev.key signed by a CA that is not the HSM's PAI
#   unwrap DIR UID_HEX LABEL WRAPPED SECRET   exit 0 iff WRAPPED opens to SECRET
#   fwverify PUB_HEX VERSION IMAGE SIG        exit 0 iff the signature verifies
#   raw SOCKET HEXCBOR       send one raw request, print the response map
import datetime
import hashlib
import os
import socket
import struct
import sys

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import NameOID

UNCOMP = serialization.PublicFormat.UncompressedPoint
RAW = serialization.Encoding.X962


def load_key(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


def save_key(key, path):
    with open(path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))


def binding(dev, uid, enc_pub):
    return dev.sign(b"writ enc-key v1" + uid + enc_pub, ec.ECDSA(hashes.SHA256()))


def main(argv):
    cmd = argv[1]
    if cmd == "keys":
        d, uid = argv[2], bytes.fromhex(argv[3])
        dev, enc = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
        save_key(dev, os.path.join(d, "dev.key"))
        save_key(enc, os.path.join(d, "enc.key"))
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, uid.hex())]))
               .sign(dev, hashes.SHA256()))
        open(os.path.join(d, "csr.der"), "wb").write(csr.public_bytes(serialization.Encoding.DER))
        enc_pub = enc.public_key().public_bytes(RAW, UNCOMP)
        open(os.path.join(d, "enc_pub.bin"), "wb").write(enc_pub)
        open(os.path.join(d, "binding.der"), "wb").write(binding(dev, uid, enc_pub))
        return 0
    if cmd == "bind":
        d, uid = argv[2], bytes.fromhex(argv[3])
        sys.stdout.buffer.write(binding(load_key(os.path.join(d, "dev.key")), uid, open(argv[4], "rb").read()))
        return 0
    if cmd == "badpoint":
        pub = bytearray(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(RAW, UNCOMP))
        pub[64] ^= 1  # y off by one: not on the curve
        print(bytes(pub).hex())
        return 0
    if cmd == "foreign-dac":
        d = argv[2]
        ca = ec.generate_private_key(ec.SECP256R1())
        dev = load_key(os.path.join(d, "dev.key"))
        now = datetime.datetime.now(datetime.timezone.utc)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not this HSM's PAI")])
        cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dac")]))
                .issuer_name(name).public_key(dev.public_key()).serial_number(7)
                .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
                .sign(ca, hashes.SHA256()))
        sys.stdout.buffer.write(cert.public_bytes(serialization.Encoding.DER))
        return 0
    if cmd == "unwrap":
        d, uid, label = argv[2], bytes.fromhex(argv[3]), argv[4].encode()
        w, secret = open(argv[5], "rb").read(), open(argv[6], "rb").read()
        enc = load_key(os.path.join(d, "enc.key"))
        eph = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), w[:65])
        z = enc.exchange(ec.ECDH(), eph)
        key = HKDF(hashes.SHA256(), 32, uid, b"writ secret wrap v1" + label).derive(z)
        nonce, ct = w[65:77], w[77:]
        pt = AESGCM(key).decrypt(nonce, ct, b"writ-wrap-v1" + uid + label)
        if len(w) != 65 + 12 + len(secret) + 16:
            print("WRAPPED has %d bytes, want %d" % (len(w), 93 + len(secret)))
            return 1
        print("unwrapped %d bytes, %s" % (len(pt), "equal to the writ's secret" if pt == secret else "DIFFERENT"))
        return 0 if pt == secret else 1
    if cmd == "fwverify":
        pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), bytes.fromhex(argv[2]))
        version, image, sig = int(argv[3]), open(argv[4], "rb").read(), open(argv[5], "rb").read()
        msg = b"writ fw v1" + struct.pack(">II", version, len(image)) + image
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        try:
            pub.verify(der, msg, ec.ECDSA(hashes.SHA256()))
        except Exception:
            print("firmware signature does NOT verify")
            return 1
        print("firmware signature verifies (sha256 of the message %s)" % hashlib.sha256(msg).hexdigest()[:16])
        return 0
    if cmd == "raw":
        s = socket.socket(socket.AF_UNIX)
        s.connect(argv[2])
        req = bytes.fromhex(argv[3])
        s.sendall(struct.pack(">I", len(req)) + req)
        hdr = b""
        while len(hdr) < 4:
            hdr += s.recv(4 - len(hdr))
        n, body = struct.unpack(">I", hdr)[0], b""
        while len(body) < n:
            body += s.recv(n - len(body))
        print(cbor2.loads(body))
        return 0
    print("unknown command", cmd)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
