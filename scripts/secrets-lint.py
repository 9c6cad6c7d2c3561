#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Source scan for the secrets-hygiene rules of docs/threat-model.md ("Secrets
hygiene"). Run from the source tree (or give it as the first argument); prints one line
per finding and exits 1 if there is any. The hardening test harden_secrets runs it.

Rules, each over the C of the host programs and libraries (lib/, hsm/, factory/,
cloud/, station/, cli/):
  R1 CKA_VALUE is read in exactly one place, p11_take_secret in lib/p11/p11.c, which
     reads the temporary secret-key object an ECDH derive made and checks its class
     (CKO_SECRET_KEY) first: nothing reads a private key.
  R2 every private-key template says CKA_SENSITIVE yes and CKA_EXTRACTABLE no; the only
     extractable object is that ECDH output (CKO_SECRET_KEY, CKA_TOKEN no).
  R3 no code serialises a private key (PEM/DER writers, raw private key getters).
  R4 no PIN or secret-value variable is an argument of a printf/log call (string
     literals are stripped first, so a message may say "PIN").
  R5 no command-line option takes a PIN or a secret itself: only a file names it
     (--secret takes LABEL=FILE or a label, --pin-file and --token-file a path).
  R6 every function that declares a PIN buffer also wipes it.
"""
import os
import re
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("WRIT_SRC", ".")
DIRS = ["lib", "hsm", "factory", "cloud", "station", "cli"]
findings = []


def c_files():
    for d in DIRS:
        for base, _, files in os.walk(os.path.join(ROOT, d)):
            for f in sorted(files):
                if f.endswith((".c", ".h")):
                    yield os.path.join(base, f)


def strip_comments_and_strings(text):
    """Blank out comments and string/char literals, keeping line numbers."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + " " * (min(j, n) - i - 1) + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def line_of(text, pos):
    return text.count("\n", 0, pos) + 1


sources = {p: open(p, encoding="utf-8", errors="replace").read() for p in c_files()}
code = {p: strip_comments_and_strings(t) for p, t in sources.items()}
rel = lambda p: os.path.relpath(p, ROOT)

# R1
for p, t in code.items():
    for m in re.finditer(r"\bCKA_VALUE\b(?!_)", t):
        ln = line_of(t, m.start())
        before = t[: m.start()]
        fn = re.findall(r"\n(?:static\s+)?[A-Za-z_][\w \*]*\b(\w+)\s*\([^;{]*\)\s*\{", before)
        where = fn[-1] if fn else "?"
        if not (rel(p) == "lib/p11/p11.c" and where == "p11_take_secret"):
            findings.append(f"R1 {rel(p)}:{ln}: CKA_VALUE read in {where}: only p11_take_secret may (ECDH output)")
p11 = code.get(os.path.join(ROOT, "lib/p11/p11.c"), "")
m = re.search(r"p11_take_secret\([^;{]*\)\s*\{(.*?)\n\}", p11, re.S)
if not m or "CKO_SECRET_KEY" not in m.group(1):
    findings.append("R1 lib/p11/p11.c: p11_take_secret does not check CKO_SECRET_KEY before reading CKA_VALUE")

# R2
for p, t in code.items():
    for m in re.finditer(r"CK_ATTRIBUTE\s+(\w+)\s*\[\s*\]\s*=\s*\{(.*?)\};", t, re.S):
        name, body = m.group(1), m.group(2)
        ln = line_of(t, m.start())
        if re.search(r"CKA_EXTRACTABLE\s*,\s*&\s*yes", body) or re.search(r"CKA_SENSITIVE\s*,\s*&\s*no", body):
            if not (re.search(r"CKA_CLASS\s*,\s*&\s*cls", body) and "CKO_SECRET_KEY" in t[max(0, m.start() - 600):m.start()]
                    and re.search(r"CKA_TOKEN\s*,\s*&\s*no", body)):
                findings.append(f"R2 {rel(p)}:{ln}: template {name} makes an extractable or non-sensitive key "
                                "that is not the session-only ECDH output")
        if "priv" in name and not (re.search(r"CKA_SENSITIVE\s*,\s*&\s*yes", body)
                                   and re.search(r"CKA_EXTRACTABLE\s*,\s*&\s*no", body)):
            findings.append(f"R2 {rel(p)}:{ln}: private-key template {name} lacks SENSITIVE yes / EXTRACTABLE no")

# R3
ser = re.compile(r"\b(PEM_write\w*PrivateKey\w*|i2d_\w*PrivateKey\w*|EVP_PKEY_get_raw_private_key|"
                 r"OSSL_PKEY_PARAM_PRIV_KEY|EC_KEY_get0_private_key|EVP_PKEY_todata|C_WrapKey)\b")
for p, t in code.items():
    for m in ser.finditer(t):
        findings.append(f"R3 {rel(p)}:{line_of(t, m.start())}: {m.group(1)} serialises or exports a private key")

# R4
out_call = re.compile(r"\b(log_(?:error|warn|info|debug|msg)|v?[fsd]?n?printf|puts|fputs|perror|syslog|err|warn|errx|warnx)\s*\(")
secret_ident = re.compile(r"(?<![\w.>])(pin|so_pin|pinbuf|pin_buf|user_pin|so|user)\b(?!\s*\()|"
                          r"(\.|->)value\b|\b(z|shared|secret_value|aes_key|cek)\b")
for p, t in code.items():
    for m in out_call.finditer(t):
        depth, j = 0, m.end() - 1
        while j < len(t):
            if t[j] == "(":
                depth += 1
            elif t[j] == ")":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        args = t[m.end():j]
        s = secret_ident.search(args)
        if s:
            findings.append(f"R4 {rel(p)}:{line_of(t, m.start())}: {m.group(1)}(...) is given `{s.group(0)}`")

# R5
for p, t in sources.items():
    for m in re.finditer(r'\{\s*"((?:so-)?pin|user-pin|token-value|secret-value|key-value|password)"\s*,', t):
        findings.append(f"R5 {rel(p)}:{line_of(t, m.start())}: option --{m.group(1)} would put a secret on argv")

# R6
for p, t in code.items():
    for m in re.finditer(r"\b(?:char|CK_UTF8CHAR)\s+([\w\[\], ]*?)\b(pin|so_pin|pinbuf|so|user)\s*\[\s*P11_PIN_MAX", t):
        var = m.group(2)
        start = t.rfind("\n{", 0, m.start())
        end = t.find("\n}", m.start())
        body = t[m.start():end]
        if not re.search(r"(writ_memzero|p11_pin_wipe)\s*\(\s*&?" + var + r"\b", body):
            findings.append(f"R6 {rel(p)}:{line_of(t, m.start())}: PIN buffer {var} is never wiped in its function")

for f in findings:
    print(f)
print(f"secrets-lint: {len(sources)} files, {len(findings)} findings")
sys.exit(1 if findings else 0)
