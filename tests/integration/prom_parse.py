#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A strict reader of the Prometheus text exposition format 0.0.4, for the ops tests.

  prom_parse.py check FILE             exit 0 when FILE is well-formed, 1 (and why) if not
  prom_parse.py get FILE NAME [k=v..]  the sum of NAME's samples whose labels match (0 if none)
  prom_parse.py label FILE NAME KEY    the values of label KEY on NAME's samples, one a line
  prom_parse.py selftest               malformed expositions must be refused

Strict means: every sample belongs to a family announced by one # TYPE line before it,
a family's samples are contiguous, label names are valid and not repeated, label values
use only the escapes \\\\, \\" and \\n, no series appears twice, counters are not
negative, and a histogram's buckets are cumulative, end with le="+Inf", and that
bucket equals its _count.
"""
import math
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LNAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class Bad(Exception):
    pass


def parse_value(s):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", s):
        raise Bad("not a number: %r" % s)
    return float(s)


def parse_labels(s, i, lineno):
    """s[i] == '{'; returns (labels dict, index after '}')."""
    labels = {}
    i += 1
    while True:
        if s[i:i + 1] == "}":
            return labels, i + 1
        m = LNAME.match(s, i)
        if not m:
            raise Bad("line %d: bad label name at %r" % (lineno, s[i:i + 20]))
        key = m.group(0)
        i = m.end()
        if s[i:i + 2] != '="':
            raise Bad("line %d: expected =\" after label %s" % (lineno, key))
        i += 2
        val = []
        while True:
            if i >= len(s):
                raise Bad("line %d: unterminated label value" % lineno)
            c = s[i]
            if c == "\\":
                nxt = s[i + 1:i + 2]
                if nxt == "\\":
                    val.append("\\")
                elif nxt == '"':
                    val.append('"')
                elif nxt == "n":
                    val.append("\n")
                else:
                    raise Bad("line %d: bad escape \\%s in a label value" % (lineno, nxt))
                i += 2
            elif c == '"':
                i += 1
                break
            else:
                val.append(c)
                i += 1
        if key in labels:
            raise Bad("line %d: label %s twice" % (lineno, key))
        labels[key] = "".join(val)
        if s[i:i + 1] == ",":
            i += 1
        elif s[i:i + 1] != "}":
            raise Bad("line %d: expected , or } after label %s" % (lineno, key))


def family_of(name, types):
    if name in types:
        return name
    for suf in ("_bucket", "_sum", "_count"):
        if name.endswith(suf) and types.get(name[:-len(suf)]) in ("histogram", "summary"):
            return name[:-len(suf)]
    return None


def parse(text):
    """Returns [(name, labels, value)]; raises Bad."""
    if text and not text.endswith("\n"):
        raise Bad("the exposition does not end with a newline")
    types, helps, done, samples, seen = {}, set(), set(), [], set()
    current = None
    for lineno, line in enumerate(text.split("\n")[:-1], 1):
        if line == "":
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not NAME.fullmatch(name):
                    raise Bad("line %d: bad metric name %r" % (lineno, name))
                if parts[1] == "HELP":
                    if name in helps:
                        raise Bad("line %d: second HELP for %s" % (lineno, name))
                    helps.add(name)
                    text_ = parts[3] if len(parts) > 3 else ""
                    if re.search(r"\\[^\\n]", text_.replace("\\\\", "")):
                        raise Bad("line %d: bad escape in HELP" % lineno)
                else:
                    if name in types:
                        raise Bad("line %d: second TYPE for %s" % (lineno, name))
                    if len(parts) != 4 or parts[3] not in TYPES:
                        raise Bad("line %d: bad TYPE line" % lineno)
                    if name in done or name == current:
                        raise Bad("line %d: TYPE for %s after its samples" % (lineno, name))
                    types[name] = parts[3]
            continue
        m = NAME.match(line)
        if not m:
            raise Bad("line %d: no metric name: %r" % (lineno, line[:40]))
        name = m.group(0)
        i = m.end()
        labels = {}
        if line[i:i + 1] == "{":
            labels, i = parse_labels(line, i, lineno)
        if line[i:i + 1] != " ":
            raise Bad("line %d: expected a space before the value" % lineno)
        rest = line[i + 1:].split(" ")
        if len(rest) not in (1, 2) or rest[0] == "":
            raise Bad("line %d: expected VALUE [TIMESTAMP]" % lineno)
        value = parse_value(rest[0])
        if len(rest) == 2 and not re.fullmatch(r"-?\d+", rest[1]):
            raise Bad("line %d: bad timestamp" % lineno)
        fam = family_of(name, types)
        if fam is None:
            raise Bad("line %d: sample %s has no TYPE before it" % (lineno, name))
        if fam != current:
            if fam in done:
                raise Bad("line %d: samples of %s are not contiguous" % (lineno, fam))
            if current is not None:
                done.add(current)
            current = fam
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            raise Bad("line %d: series %s%s twice" % (lineno, name, labels))
        seen.add(key)
        if types[fam] == "counter" and value < 0:
            raise Bad("line %d: negative counter" % lineno)
        if types[fam] == "histogram" and name == fam:
            raise Bad("line %d: a histogram's sample must be _bucket, _sum or _count" % lineno)
        if name.endswith("_bucket") and types[fam] == "histogram" and "le" not in labels:
            raise Bad("line %d: a bucket without le" % lineno)
        samples.append((name, labels, value))
    check_histograms(samples, types)
    return samples


def check_histograms(samples, types):
    groups = {}
    for name, labels, value in samples:
        fam = family_of(name, types)
        if types.get(fam) != "histogram":
            continue
        base = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        g = groups.setdefault((fam, base), {"buckets": [], "count": None, "sum": None})
        if name.endswith("_bucket"):
            g["buckets"].append((parse_value(labels["le"]), value))
        elif name.endswith("_count"):
            g["count"] = value
        else:
            g["sum"] = value
    for (fam, base), g in groups.items():
        b = g["buckets"]
        if not b or b[-1][0] != math.inf:
            raise Bad("%s%s: the last bucket is not le=\"+Inf\"" % (fam, dict(base)))
        for (le0, v0), (le1, v1) in zip(b, b[1:]):
            if not le0 < le1 or v1 < v0:
                raise Bad("%s%s: buckets not cumulative in ascending le" % (fam, dict(base)))
        if g["count"] is None or g["sum"] is None or g["count"] != b[-1][1]:
            raise Bad("%s%s: _count missing or not the +Inf bucket" % (fam, dict(base)))


def matches(labels, want):
    return all(labels.get(k) == v for k, v in want.items())


def main(argv):
    if len(argv) >= 2 and argv[1] == "selftest":
        return selftest()
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[2], encoding="utf-8") as f:
        text = f.read()
    try:
        samples = parse(text)
    except Bad as e:
        print("malformed exposition: %s" % e, file=sys.stderr)
        return 1
    if argv[1] == "check":
        print("%d samples" % len(samples))
        return 0
    if argv[1] == "get":
        want = dict(a.split("=", 1) for a in argv[4:])
        total = sum(v for n, l, v in samples if n == argv[3] and matches(l, want))
        print(int(total) if total == int(total) else total)
        return 0
    if argv[1] == "label":
        for n, l, v in samples:
            if n == argv[3] and argv[4] in l:
                print(l[argv[4]])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


BAD = [
    "x 1\n",                                            # no TYPE
    "# TYPE x gauge\nx 1",                              # no final newline
    "# TYPE x gauge\nx{a=\"b\\q\"} 1\n",                # bad escape
    "# TYPE x gauge\nx{a=\"b\"\"} 1\n",                 # stray quote
    "# TYPE x gauge\nx{a=\"1\",a=\"2\"} 1\n",           # label twice
    "# TYPE x gauge\nx 1\nx 2\n",                       # series twice
    "# TYPE x gauge\n# TYPE y gauge\nx 1\ny 1\nx{a=\"1\"} 1\n",  # not contiguous
    "# TYPE x counter\nx -1\n",                         # negative counter
    "# TYPE x gauge\nx one\n",                          # not a number
    "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 0\nh_count 1\n",
    "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 0\nh_count 1\n",
    "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 0\nh_count 3\n",
    "# TYPE x gauge\n# TYPE x gauge\nx 1\n",           # TYPE twice
    "# TYPE x gauge\nx{9a=\"1\"} 1\n",                  # bad label name
]
GOOD = "# HELP x a \\\\ help\\n line\n# TYPE x gauge\nx{a=\"q\\\"b\\\\c\\nd\"} 1.5\n" \
       "# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.3\nh_count 2\n"


def selftest():
    bad = 0
    for t in BAD:
        try:
            parse(t)
            print("selftest: accepted a malformed exposition: %r" % t, file=sys.stderr)
            bad += 1
        except Bad:
            pass
    s = parse(GOOD)
    if s[0][1] != {"a": 'q"b\\c\nd'}:
        print("selftest: label unescaped wrong: %r" % s[0][1], file=sys.stderr)
        bad += 1
    print("selftest: %d malformed refused, well-formed read" % (len(BAD)) if not bad else "selftest failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
