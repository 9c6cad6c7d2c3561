#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Every binary's --help, checked against its own source.

For each of writ, writ-cloud, writ-hsmd, writ-factory, writ-station and writ-devsim:
  - the options its parser accepts are read from its source (getopt_long tables
    `{ "name", has_arg, ...}`, the CLI's option table `[O_X] = { "name", ...}`, and
    hand-written parsers `strcmp(arg, "--name")`), and so are the environment
    variables it reads (string literals "WRIT_...");
  - `BIN --help`, and `BIN SUB... --help` for every subcommand its help names
    (recursively: `writ chip debug unlock`), must exit 0 and print to stdout;
  - every such option appears as --name, and every such variable by name, in the
    union of the binary's help pages;
  - the top page has the sections of a manual page: usage, environment (when it reads
    any), files (daemons), exit status and an example.
A new option without a word in --help fails this test.
"""
import glob
import os
import re
import subprocess
import sys

SRC = os.environ["WRIT_SRC"]
BIN = os.environ["WRIT_BIN"]

BINARIES = {
    "writ": ["cli/*.c", "cli/*.h"],
    "writ-cloud": ["cloud/main.c"],
    "writ-hsmd": ["hsm/main.c"],
    "writ-factory": ["factory/main.c", "factory/cloud_enrol.c"],
    "writ-station": ["station/station.c"],
    "writ-devsim": ["device/devsim/devsim.c"],
}
FILES_SECTION = {"writ-cloud", "writ-hsmd", "writ-factory", "writ-station", "writ-devsim"}

OPT_RES = [
    re.compile(r'\{\s*"([a-z][a-z0-9-]*)"\s*,\s*(?:[0-2]|no_argument|required_argument|optional_argument)\s*,'),
    re.compile(r'\[O_[A-Z0-9_]+\]\s*=\s*\{\s*"([a-z][a-z0-9-]*)"'),
    re.compile(r'strcmp\(\s*[\w\[\]\.>-]+\s*,\s*"--([a-z][a-z0-9-]*)"\s*\)'),
]
ENV_RE = re.compile(r'"(WRIT_[A-Z0-9_]+)"')
WORD = re.compile(r"[a-z][a-z0-9-]*(?:\|[a-z][a-z0-9-]*)*$")

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, file=sys.stderr)


def source_facts(patterns):
    opts, envs = set(), set()
    for pat in patterns:
        for path in sorted(glob.glob(os.path.join(SRC, pat))):
            text = open(path, encoding="utf-8").read()
            for r in OPT_RES:
                opts.update(r.findall(text))
            envs.update(ENV_RE.findall(text))
    return opts, envs


def run_help(argv):
    p = subprocess.run([os.path.join(BIN, argv[0])] + argv[1:] + ["--help"], capture_output=True, text=True,
                       timeout=30, stdin=subprocess.DEVNULL)
    name = " ".join(argv + ["--help"])
    if p.returncode != 0:
        fail("%s exits %d (want 0): %s" % (name, p.returncode, (p.stderr or p.stdout)[:200]))
    elif not p.stdout.strip():
        fail("%s prints nothing on stdout" % name)
    return p.stdout


def subcommands(path, text):
    """The subcommands a help page names below `path` (a list of words)."""
    found = set()
    prefix = " ".join(path)
    for line in text.splitlines():
        m = re.match(r"(?:usage:\s*|\s+)" + re.escape(prefix) + r"((?:\s+\S+)+)", line)
        if m:
            words = m.group(1).split()
            if words and WORD.match(words[0]):
                for alt in words[0].split("|"):
                    found.add(alt)
    # pages that list their subcommands as "  name   what it does" (usage: ... <command>)
    if re.search(r"usage:\s*" + re.escape(prefix) + r"\s+<(sub)?command>", text):
        for line in text.splitlines():
            m = re.match(r"  ([a-z][a-z0-9-]*)(?:\s{2,}|\s+--|\s+\[|$)", line)
            if m:
                found.add(m.group(1))
    return sorted(found)


def walk(path, depth, pages):
    text = run_help(path)
    pages.append(text)
    if depth == 0:
        return
    for sub in subcommands(path, text):
        walk(path + [sub], depth - 1, pages)


def main():
    total = 0
    for binary, patterns in BINARIES.items():
        opts, envs = source_facts(patterns)
        if not opts:
            fail("%s: no option found in its source (%s): the extraction is broken" % (binary, patterns))
        pages = []
        walk([binary], 3, pages)
        top, union = pages[0], "\n".join(pages)
        for o in sorted(opts):
            if not re.search(r"--" + re.escape(o) + r"(?![a-z0-9-])", union):
                fail("%s: the parser accepts --%s, no help page mentions it" % (binary, o))
        for e in sorted(envs):
            if e not in union:
                fail("%s: the source reads $%s, no help page mentions it" % (binary, e))
        sections = ["usage", "exit status", "example"]
        if envs:
            sections.append("environment")
        if binary in FILES_SECTION:
            sections.append("files")
        for s in sections:
            if not re.search(r"(?im)^\s*" + s + r"s?\b", top):
                fail("%s --help: no \"%s\" section" % (binary, s))
        total += len(pages)
        print("%s: %d help pages, %d options, %d environment variables" % (binary, len(pages), len(opts), len(envs)))
    if failures:
        print("%d problems" % len(failures), file=sys.stderr)
        return 1
    print("every binary's help is complete (%d pages)" % total)
    return 0


if __name__ == "__main__":
    sys.exit(main())
