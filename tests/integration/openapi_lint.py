#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Lint docs/openapi.yaml against itself, docs/cloud-api.md and the server (cloud/*.c).

Checks:
- the YAML parses (duplicate keys refused) and is OpenAPI 3.0.x with info, paths, components;
- every $ref resolves (local JSON pointers) and every component is used;
- every operation: a unique operationId, a 2xx answer, an explicit security decision
  (bearer, or [] exactly on the routes cloud/http.c serves without authentication),
  x-roles on authenticated ones, and the error answers it may give: 503 always, 401
  when authenticated, 400 and 413 with a request body, 404 with a path parameter
  (authenticated ones: an open endpoint's bad code is 401), 403 or 404 when some role may not call it; every error answer is the Error shape
  with its codes listed (so 409/422 name theirs); path parameters declared both ways;
  JSON request objects closed (additionalProperties: false), required fields defined;
  patterns compile; each path item says what other methods get (x-other-methods);
- every (method, path) in the tables of docs/cloud-api.md is in the YAML and back;
- every resource the server routes (routes[] in cloud/http.c) has a path, every path
  a route; bodyless routes (max body 0) have no request bodies;
- every error code the server emits (cloud/*.c) is in ErrorCode, each (status, code)
  pair appears as an answer, and the doc's error table lists exactly ErrorCode.
Then it mutates the spec in memory a few ways and checks each break is caught.

Usage: openapi_lint.py [--yaml F] [--doc F] [--cloud DIR] [--no-self-test]
Needs Debian's python3-yaml (scripts/deps.sh); run with /usr/bin/python3.
"""
import argparse
import copy
import glob
import os
import re
import sys

try:
    import yaml
except ImportError:
    sys.stderr.write("openapi_lint: needs python3-yaml (scripts/deps.sh); run with /usr/bin/python3\n")
    sys.exit(2)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
ROLES = {"oem-admin", "oem-security", "odm-engineer", "factory"}
OPEN_OPS = {("GET", "/v1/health"), ("POST", "/v1/enrol"), ("GET", "/v1/enrol/{}")}
# statuses whose (status, code) pairs must appear as answers (414 and 500 are in the
# info text and ErrorCode only)
PAIR_STATUSES = {400, 401, 403, 404, 405, 409, 413, 422, 503}


class UniqueKeyLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, "duplicate key %r" % (key,), key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep)


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def norm_path(p):
    """/v1/products/{p}/versions/{v}?x=1 -> /v1/products/{}/versions/{}"""
    p = p.split("?", 1)[0].strip()
    return re.sub(r"\{[^}]*\}", "{}", p)


def resolve(spec, ref):
    if not isinstance(ref, str) or not ref.startswith("#/"):
        raise KeyError("not a local reference: %r" % (ref,))
    node = spec
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(ref)
    return node


def deref(spec, node, depth=0):
    while isinstance(node, dict) and "$ref" in node and depth < 32:
        node = resolve(spec, node["$ref"])
        depth += 1
    return node


def walk(node, path=()):
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, path + (str(k),))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, path + (str(i),))


def schema_refs_error(spec, schema, depth=0):
    """Does this schema include #/components/schemas/Error (directly, allOf, oneOf)?"""
    if depth > 16 or not isinstance(schema, dict):
        return False
    if schema.get("$ref") == "#/components/schemas/Error":
        return True
    if "$ref" in schema:
        try:
            return schema_refs_error(spec, resolve(spec, schema["$ref"]), depth + 1)
        except KeyError:
            return False
    for comb in ("allOf", "oneOf", "anyOf"):
        for sub in schema.get(comb, []) or []:
            if schema_refs_error(spec, sub, depth + 1):
                return True
    return False


def schema_codes(spec, schema, depth=0):
    """The `code` values a response schema restricts itself to (None: unrestricted)."""
    if depth > 16 or not isinstance(schema, dict):
        return None
    if "$ref" in schema:
        if schema["$ref"] == "#/components/schemas/Error":
            return None
        try:
            return schema_codes(spec, resolve(spec, schema["$ref"]), depth + 1)
        except KeyError:
            return None
    code = (schema.get("properties") or {}).get("code")
    if isinstance(code, dict) and isinstance(code.get("enum"), list):
        return set(code["enum"])
    if "oneOf" in schema or "anyOf" in schema:
        out = set()
        for sub in schema.get("oneOf", []) + schema.get("anyOf", []):
            c = schema_codes(spec, sub, depth + 1)
            if c is None:
                return None
            out |= c
        return out
    found = None
    for sub in schema.get("allOf", []) or []:
        c = schema_codes(spec, sub, depth + 1)
        if c is not None:
            found = c if found is None else found & c
    return found


def parse_doc_tables(text):
    """(method, normalised path) from every markdown table whose first header cell is 'method, path'."""
    ops, in_table = set(), False
    for line in text.splitlines():
        s = line.strip()
        if not s.startswith("|"):
            in_table = False
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", s.strip("|"))]
        if cells and cells[0].lower() == "method, path":
            in_table = True
            continue
        if not in_table or re.fullmatch(r"[-: ]*", cells[0]):
            continue
        m = re.match(r"(GET|PUT|POST|DELETE|PATCH|HEAD|OPTIONS)\s+(/\S+)", cells[0].replace("`", ""))
        if m:
            ops.add((m.group(1), norm_path(m.group(2))))
    return ops


def parse_doc_error_codes(text):
    """Codes in the Conventions' `| status | code | when |` table."""
    codes, in_table = set(), False
    for line in text.splitlines():
        s = line.strip()
        if not s.startswith("|"):
            in_table = False
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", s.strip("|"))]
        if len(cells) >= 2 and cells[0] == "status" and cells[1] == "code":
            in_table = True
            continue
        if in_table and re.fullmatch(r"\d{3}", cells[0]):
            codes |= set(re.findall(r"`([a-z_]+)`", cells[1]))
    return codes


def parse_routes(http_c):
    """routes[] of cloud/http.c: {prefix: (open, max_body)}."""
    m = re.search(r"static const struct route routes\[\]\s*=\s*\{(.*?)\n\};", http_c, re.S)
    if not m:
        return None
    routes = {}
    for first, open_, max_body in re.findall(r'\{\s*"([a-z]+)"\s*,\s*h_\w+\s*,\s*(\d)\s*,\s*(\w+)\s*\}', m.group(1)):
        routes[first] = (open_ == "1", max_body)
    return routes


def parse_c_errors(sources):
    """(pairs of (status, code), all codes) the server can answer with."""
    pairs, codes = set(), set()
    for text in sources:
        for st, code in re.findall(r'(?:fail|quick)\(\s*(?:k|&k|conn)\s*,\s*(\d{3})\s*,\s*"([a-z_]+)"', text):
            pairs.add((int(st), code))
        for s1, s2, c1, c2 in re.findall(
                r'(?:fail|quick)\(\s*(?:k|&k|conn)\s*,\s*[^,;?]*\?\s*(\d{3})\s*:\s*(\d{3})\s*,'
                r'\s*[^,;?]*\?\s*"([a-z_]+)"\s*:\s*"([a-z_]+)"', text):
            pairs |= {(int(s1), c1), (int(s2), c2)}
        for st, code in re.findall(r'->status\s*=\s*(\d{3});\s*\w+->code\s*=\s*"([a-z_]+)"', text):
            pairs.add((int(st), code))
        for st, code in re.findall(r'answer\(k,\s*(\d{3}),\s*json_pack\([^;]*?"code",\s*"([a-z_]+)"', text, re.S):
            pairs.add((int(st), code))
        codes |= set(re.findall(r'"code",\s*"([a-z_]+)"', text))
        fc = re.search(r"fault_code\([^)]*\)\s*\{(.*?)\n\}", text, re.S)
        if fc:
            codes |= set(re.findall(r'return "([a-z_]+)";', fc.group(1)))
    codes |= {c for _, c in pairs}
    return pairs, codes


def check_request_schema(spec, schema, where, errs, depth=0):
    """JSON request objects are closed and their required fields defined."""
    if depth > 16 or not isinstance(schema, dict):
        return
    if "$ref" in schema:
        try:
            schema = resolve(spec, schema["$ref"])
        except KeyError:
            return  # reported by the $ref check
    if schema.get("type") == "object" or "properties" in schema:
        if schema.get("additionalProperties") is not False:
            errs.append("%s: a JSON request object must say additionalProperties: false" % where)
        props = schema.get("properties") or {}
        for r in schema.get("required", []) or []:
            if r not in props:
                errs.append("%s: required field %r is not in properties" % (where, r))
        for name, sub in props.items():
            check_request_schema(spec, sub, "%s.%s" % (where, name), errs, depth + 1)
    if schema.get("type") == "array" and "items" in schema:
        check_request_schema(spec, schema["items"], where + "[]", errs, depth + 1)


def lint(spec, doc_text, http_c, c_sources):
    errs = []
    if not isinstance(spec, dict):
        return ["the YAML is not a mapping"]

    # ---- the document ----
    if not re.fullmatch(r"3\.0\.\d+", str(spec.get("openapi", ""))):
        errs.append("openapi: want 3.0.x, have %r" % spec.get("openapi"))
    info = spec.get("info")
    if not isinstance(info, dict) or not info.get("title") or not info.get("version"):
        errs.append("info: title and version are required")
    paths = spec.get("paths")
    comps = spec.get("components")
    if not isinstance(paths, dict) or not paths:
        errs.append("paths: missing or empty")
        paths = {}
    if not isinstance(comps, dict):
        errs.append("components: missing")
        comps = {}
    schemes = comps.get("securitySchemes") or {}
    bearer = schemes.get("bearerAuth")
    if not (isinstance(bearer, dict) and bearer.get("type") == "http" and bearer.get("scheme") == "bearer"):
        errs.append("components.securitySchemes.bearerAuth: want type http, scheme bearer")
    err_schema = (comps.get("schemas") or {}).get("Error")
    if not (isinstance(err_schema, dict) and set(err_schema.get("required", [])) >= {"error", "code"}
            and {"error", "code"} <= set((err_schema.get("properties") or {}).keys())):
        errs.append("components.schemas.Error: want properties error and code, both required")
    try:
        code_enum = set(deref(spec, (comps.get("schemas") or {}).get("ErrorCode") or {}).get("enum") or [])
    except KeyError:
        code_enum = set()
    if not code_enum:
        errs.append("components.schemas.ErrorCode: want an enum of the error codes")

    # ---- $refs resolve; components used ----
    used = set()
    for where, node in walk(spec):
        if isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            try:
                resolve(spec, ref)
                used.add(ref)
            except KeyError:
                errs.append("%s: $ref %r does not resolve" % ("/".join(where) or "(root)", ref))
        if isinstance(node, dict) and "pattern" in node and isinstance(node["pattern"], str):
            try:
                re.compile(node["pattern"])
            except re.error as e:
                errs.append("%s: pattern %r: %s" % ("/".join(where), node["pattern"], e))
    for kind in ("schemas", "responses", "parameters", "requestBodies"):
        for name in (comps.get(kind) or {}):
            if "#/components/%s/%s" % (kind, name) not in used:
                errs.append("components.%s.%s is never used" % (kind, name))

    # ---- operations ----
    routes = parse_routes(http_c)
    if not routes:
        errs.append("cloud/http.c: routes[] not found")
        routes = {}
    op_ids, yaml_ops, answered = set(), set(), set()
    for path, item in paths.items():
        if not isinstance(item, dict):
            errs.append("%s: not a path item" % path)
            continue
        if not path.startswith("/v1/"):
            errs.append("%s: every path is under /v1/" % path)
        first = path[4:].split("/", 1)[0]
        route = routes.get(first)
        if routes and route is None:
            errs.append("%s: cloud/http.c routes no resource %r" % (path, first))
        other = item.get("x-other-methods")
        try:
            other_r = deref(spec, other) if other else None
            other_st = schema_codes(spec, ((other_r or {}).get("content") or {}).get("application/json", {}).get("schema"))
        except KeyError:
            other_r, other_st = None, None
        if not other_r or not other_st or not other_st <= {"method", "not_found"}:
            errs.append("%s: x-other-methods must reference the 405 `method` or 404 `not_found` answer" % path)
        elif other_st:
            answered |= {(405 if c == "method" else 404, c) for c in other_st}
        templ = set(re.findall(r"\{([^}]+)\}", path))
        path_params = item.get("parameters", []) or []
        ops = [(m, item[m]) for m in item if m in METHODS]
        if not ops:
            errs.append("%s: no operations" % path)
        for m in item:
            if m not in METHODS and m not in ("parameters", "summary", "description", "servers") \
                    and not m.startswith("x-"):
                errs.append("%s: unknown key %r in a path item" % (path, m))
        for method, op in ops:
            where = "%s %s" % (method.upper(), path)
            key = (method.upper(), norm_path(path))
            yaml_ops.add(key)
            if not isinstance(op, dict):
                errs.append("%s: not an operation" % where)
                continue
            oid = op.get("operationId")
            if not oid:
                errs.append("%s: no operationId" % where)
            elif oid in op_ids:
                errs.append("%s: operationId %r is not unique" % (where, oid))
            op_ids.add(oid)
            # parameters, path ones both ways
            declared = set()
            try:
                params = [deref(spec, p) for p in path_params + (op.get("parameters", []) or [])]
            except KeyError:
                params = []
            for p in params:
                if p.get("in") == "path":
                    declared.add(p.get("name"))
                    if p.get("required") is not True:
                        errs.append("%s: path parameter %r must be required" % (where, p.get("name")))
            if declared != templ:
                errs.append("%s: path parameters declared %s, in the path %s" % (where, sorted(declared), sorted(templ)))
            # security decision, explicit
            if "security" not in op:
                errs.append("%s: no explicit security decision (security: [] or bearerAuth)" % where)
                sec = None
            else:
                sec = op["security"]
                for req in sec or []:
                    for name in req:
                        if name not in schemes:
                            errs.append("%s: security scheme %r is not defined" % (where, name))
            is_open = sec == []
            if sec is not None and not is_open and sec != [{"bearerAuth": []}]:
                errs.append("%s: security must be [] or [{bearerAuth: []}]" % where)
            if sec is not None and is_open != (key in OPEN_OPS):
                errs.append("%s: %s, but the open endpoints are exactly %s" % (
                    where, "open" if is_open else "authenticated", sorted(" ".join(o) for o in OPEN_OPS)))
            if route and sec is not None and route[0] != is_open:
                errs.append("%s: cloud/http.c serves /v1/%s %s" % (
                    where, first, "without authentication" if route[0] else "with authentication"))
            roles = op.get("x-roles")
            if not is_open:
                if not isinstance(roles, list) or not roles or not set(roles) <= ROLES:
                    errs.append("%s: x-roles must list who may call it (of %s)" % (where, sorted(ROLES)))
                    roles = list(ROLES)
            # answers
            resps = op.get("responses")
            if not isinstance(resps, dict) or not resps:
                errs.append("%s: no responses" % where)
                continue
            statuses = set()
            for st, r in resps.items():
                st = str(st)
                if not re.fullmatch(r"[1-5]\d\d", st):
                    errs.append("%s: response %r is not a status code" % (where, st))
                    continue
                statuses.add(int(st))
                try:
                    r = deref(spec, r)
                except KeyError:
                    continue
                if not isinstance(r, dict) or not r.get("description"):
                    errs.append("%s %s: a response needs a description" % (where, st))
                    continue
                if int(st) >= 400:
                    sch = ((r.get("content") or {}).get("application/json") or {}).get("schema")
                    if not schema_refs_error(spec, sch):
                        errs.append("%s %s: an error answer is the Error schema (application/json)" % (where, st))
                        continue
                    codes = schema_codes(spec, sch)
                    if not codes:
                        errs.append("%s %s: the error answer must list its codes (code: enum)" % (where, st))
                        continue
                    if code_enum and not codes <= code_enum:
                        errs.append("%s %s: codes %s are not in ErrorCode" % (where, st, sorted(codes - code_enum)))
                    answered |= {(int(st), c) for c in codes}
            if not any(200 <= s < 300 for s in statuses):
                errs.append("%s: no 2xx answer" % where)
            need = {503}
            if not is_open:
                need.add(401)
            if "requestBody" in op:
                need |= {400, 413}
            if templ and not is_open:
                need.add(404)  # an open endpoint's bad path parameter (an enrolment code) is 401
            for s in sorted(need - statuses):
                errs.append("%s: missing the %d answer it may give" % (where, s))
            if not is_open and roles and set(roles) != ROLES and not statuses & {403, 404}:
                errs.append("%s: not every role may call it (x-roles), so it answers 403 or 404" % where)
            # request bodies
            if "requestBody" in op:
                try:
                    rb = deref(spec, op["requestBody"])
                except KeyError:
                    rb = {}
                content = rb.get("content") or {}
                if not content:
                    errs.append("%s: requestBody without content" % where)
                for ctype, media in content.items():
                    if ctype == "application/json":
                        check_request_schema(spec, media.get("schema"), where + " body", errs)
                    elif ctype == "application/octet-stream":
                        s = deref(spec, media.get("schema") or {})
                        if s.get("type") != "string" or s.get("format") != "binary":
                            errs.append("%s: an octet-stream body is type string, format binary" % where)
                if route and route[1] == "0":
                    errs.append("%s: cloud/http.c takes no body on /v1/%s" % (where, first))

    # ---- the doc's tables ----
    doc_ops = parse_doc_tables(doc_text)
    if not doc_ops:
        errs.append("docs/cloud-api.md: no 'method, path' tables found")
    for m, p in sorted(doc_ops - yaml_ops):
        errs.append("docs/cloud-api.md lists %s %s; docs/openapi.yaml does not" % (m, p))
    for m, p in sorted(yaml_ops - doc_ops):
        errs.append("docs/openapi.yaml has %s %s; the tables of docs/cloud-api.md do not" % (m, p))

    # ---- the server's routes ----
    firsts = {p[4:].split("/", 1)[0] for p in paths}
    for r in sorted(set(routes) - firsts):
        errs.append("cloud/http.c routes /v1/%s; docs/openapi.yaml has no path under it" % r)

    # ---- the server's error codes ----
    pairs, c_codes = parse_c_errors(c_sources)
    if not pairs:
        errs.append("cloud/*.c: no error answers found (fail(k, STATUS, \"code\", ...))")
    for c in sorted(c_codes - code_enum):
        errs.append("cloud/*.c answers code %r; ErrorCode does not list it" % c)
    for st, c in sorted(pairs):
        if st in PAIR_STATUSES and (st, c) not in answered:
            errs.append("cloud/*.c answers %d %r; no operation in docs/openapi.yaml lists it" % (st, c))
    for c in sorted(code_enum - {c for _, c in answered} - {"internal"}):
        errs.append("ErrorCode %r is never answered by an operation" % c)
    doc_codes = parse_doc_error_codes(doc_text)
    if doc_codes != code_enum:
        if doc_codes - code_enum:
            errs.append("docs/cloud-api.md's error table has codes %s not in ErrorCode" % sorted(doc_codes - code_enum))
        if code_enum - doc_codes:
            errs.append("docs/cloud-api.md's error table lacks codes %s" % sorted(code_enum - doc_codes))
    return errs


def self_test(spec, doc_text, http_c, c_sources):
    """Each break must be caught; returns the mutations that were not."""
    def first_op(s, path, method):
        return s["paths"][path][method]

    mutations = []

    def m(name):
        def deco(fn):
            mutations.append((name, fn))
            return fn
        return deco

    @m("a path removed")
    def _(s):
        del s["paths"]["/v1/alerts"]

    @m("a dangling $ref")
    def _(s):
        first_op(s, "/v1/me", "get")["responses"]["200"]["content"]["application/json"]["schema"]["$ref"] = \
            "#/components/schemas/NoSuchThing"

    @m("a 503 answer removed")
    def _(s):
        del first_op(s, "/v1/products", "get")["responses"]["503"]

    @m("a 401 answer removed")
    def _(s):
        del first_op(s, "/v1/batches", "post")["responses"]["401"]

    @m("a security decision removed")
    def _(s):
        del first_op(s, "/v1/records", "get")["security"]

    @m("an authenticated endpoint made open")
    def _(s):
        first_op(s, "/v1/users", "get")["security"] = []

    @m("an open endpoint made authenticated")
    def _(s):
        first_op(s, "/v1/health", "get")["security"] = [{"bearerAuth": []}]

    @m("a request object left open")
    def _(s):
        del s["components"]["schemas"]["BatchCreate"]["additionalProperties"]

    @m("a method not in the doc")
    def _(s):
        s["paths"]["/v1/me"]["delete"] = copy.deepcopy(s["paths"]["/v1/me"]["get"])
        s["paths"]["/v1/me"]["delete"]["operationId"] = "deleteMe"

    @m("a route prefix without a path")
    def _(s):
        for p in [p for p in s["paths"] if p.startswith("/v1/devices")]:
            del s["paths"][p]

    @m("a 409 without its codes")
    def _(s):
        first_op(s, "/v1/batches", "post")["responses"]["409"]["content"]["application/json"]["schema"] = \
            {"$ref": "#/components/schemas/Error"}

    @m("an error code dropped from ErrorCode")
    def _(s):
        s["components"]["schemas"]["ErrorCode"]["enum"].remove("journal_first")

    @m("a path parameter not declared")
    def _(s):
        s["paths"]["/v1/tokens/{id}"]["parameters"] = []

    @m("not OpenAPI 3.0")
    def _(s):
        s["openapi"] = "3.1.0"

    missed = []
    for name, fn in mutations:
        s = copy.deepcopy(spec)
        try:
            fn(s)
        except (KeyError, TypeError, ValueError) as e:
            missed.append("%s (the mutation itself failed: %r; update the self-test)" % (name, e))
            continue
        if not lint(s, doc_text, http_c, c_sources):
            missed.append(name)
    # and the doc side: a row dropped from the doc is caught
    row = "| GET /v1/alerts |"
    if row in doc_text and not lint(spec, doc_text.replace(row, "| GET /v1/alertz |"), http_c, c_sources):
        missed.append("a doc row renamed")
    return missed, len(mutations) + 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--yaml", default=os.path.join(ROOT, "docs", "openapi.yaml"))
    ap.add_argument("--doc", default=os.path.join(ROOT, "docs", "cloud-api.md"))
    ap.add_argument("--cloud", default=os.path.join(ROOT, "cloud"))
    ap.add_argument("--no-self-test", action="store_true")
    a = ap.parse_args()
    try:
        with open(a.yaml, encoding="utf-8") as f:
            spec = yaml.load(f, Loader=UniqueKeyLoader)
    except (OSError, yaml.YAMLError) as e:
        print("FAIL %s does not parse: %s" % (a.yaml, e))
        return 1
    with open(a.doc, encoding="utf-8") as f:
        doc_text = f.read()
    with open(os.path.join(a.cloud, "http.c"), encoding="utf-8") as f:
        http_c = f.read()
    c_sources = []
    for fn in sorted(glob.glob(os.path.join(a.cloud, "*.c"))):
        with open(fn, encoding="utf-8") as f:
            c_sources.append(f.read())
    errs = lint(spec, doc_text, http_c, c_sources)
    for e in errs:
        print("FAIL " + e)
    if errs:
        print("openapi_lint: %d problem(s) in %s" % (len(errs), a.yaml))
        return 1
    n_ops = sum(1 for item in spec["paths"].values() for m in item if m in METHODS)
    print("openapi_lint: %s: %d paths, %d operations: ok" % (a.yaml, len(spec["paths"]), n_ops))
    if not a.no_self_test:
        missed, n = self_test(spec, doc_text, http_c, c_sources)
        for x in missed:
            print("FAIL self-test: this break was not caught: " + x)
        if missed:
            return 1
        print("openapi_lint: self-test: %d deliberate breaks, each caught" % n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
