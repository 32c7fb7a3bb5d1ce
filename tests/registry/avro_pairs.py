#!/usr/bin/python3
"""avro_pairs.py SEED COUNT - random Avro (reader, writer) schema pairs with
python3-avro's compatibility answer, one JSON line each:

    {"reader": ..., "writer": ..., "compatible": true|false, "note": "..."}

The writer is a random record (fields of every type, nested records,
arrays, maps, unions, enums, fixed, sometimes a recursive list); the reader
is the writer mutated the ways schemas evolve: fields added with and
without defaults, removed, renamed with aliases, promoted or changed types,
enum symbols added/removed with and without an enum default, union branches
added/removed, a type wrapped into a union, fixed sizes and names changed,
records renamed with and without aliases.

"note" is present when the pair is a case where python3-avro is known to
differ from the Avro specification (the C test excludes and counts them):
  alias_relative_to_namespace - a reader alias without a dot on a named
    type in a namespace. The spec ("Names": "A type alias may be specified
    either as a fully namespace-qualified, or relative to the namespace of
    the name it is an alias for") makes alias "W" of "ns.R" mean "ns.W";
    python3-avro compares the alias text "W" to the writer's full name.
    For those pairs "spec_compatible" is python's answer with the reader's
    aliases written out in full as the spec reads them, which the C test
    asserts we give.

The answer is avro.compatibility.ReaderWriterCompatibilityChecker's, used by
tests/registry/test_avro_crosscheck.c to cross-check our can_read.
"""
import copy
import json
import random
import sys

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

PRIMS = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"]
SYMS = ["A", "B", "C", "D", "E", "F"]
PROMOTE = {"int": ["long", "float", "double"], "long": ["float", "double"],
           "float": ["double"], "string": ["bytes"], "bytes": ["string"]}


class Gen:
    def __init__(self, rnd):
        self.r = rnd
        self.n = 0
        self.ns = ""

    def fresh(self, base):
        self.n += 1
        return "%s%d" % (base, self.n)

    def prim(self):
        return self.r.choice(PRIMS[1:])

    def typ(self, depth):
        r = self.r
        k = r.random()
        if depth > 2 or k < 0.45:
            t = self.prim()
            if r.random() < 0.1:  # a logical type on its primitive
                if t == "int":
                    return {"type": "int", "logicalType": "date"}
                if t == "long":
                    return {"type": "long", "logicalType": "timestamp-millis"}
                if t == "string":
                    return {"type": "string", "logicalType": "uuid"}
            return t
        if k < 0.55:
            e = {"type": "enum", "name": self.fresh("E"),
                 "symbols": r.sample(SYMS, r.randint(1, 4))}
            if r.random() < 0.3:
                e["default"] = r.choice(e["symbols"])
            return e
        if k < 0.6:
            return {"type": "fixed", "name": self.fresh("F"), "size": r.randint(1, 4)}
        if k < 0.7:
            return {"type": "array", "items": self.typ(depth + 1)}
        if k < 0.77:
            return {"type": "map", "values": self.typ(depth + 1)}
        if k < 0.9:
            return self.union(depth)
        return self.record(depth + 1)

    def union(self, depth):
        r = self.r
        kinds = r.sample(PRIMS, r.randint(1, 3))
        if r.random() < 0.5 and "null" not in kinds:
            kinds.insert(0, "null")
        if r.random() < 0.3:
            kinds.append(self.record(depth + 1))
        return kinds

    def record(self, depth, name=None):
        r = self.r
        rec = {"type": "record", "name": name or self.fresh("R"), "fields": []}
        for i in range(r.randint(1, 5)):
            f = {"name": "f%d" % i, "type": self.typ(depth)}
            if r.random() < 0.4:
                f["default"] = None  # filled in by fix_defaults
            rec["fields"].append(f)
        return rec


def kind(t):
    if isinstance(t, list):
        return "union"
    if isinstance(t, dict):
        if t["type"] in ("record", "enum", "fixed"):
            return t["name"]
        return t["type"]
    return t


def default_for(t):
    """A valid default for type t (a union's: of its first branch)."""
    if isinstance(t, list):
        return default_for(t[0])
    if isinstance(t, dict):
        ty = t["type"]
        if ty in PRIMS:
            return default_for(ty)
        if ty == "enum":
            return t["symbols"][0]
        if ty == "fixed":
            return "a" * t["size"]
        if ty == "array":
            return []
        if ty == "map":
            return {}
        if ty == "record":
            return {f["name"]: default_for(f["type"]) for f in t["fields"]}
    return {"null": None, "boolean": True, "int": 7, "long": -3, "float": 1.5,
            "double": 2.25, "bytes": "\u00ff", "string": "s"}.get(t)


def fix_defaults(t):
    """Defaults valid for the (maybe mutated) types, enum defaults symbols."""
    if isinstance(t, list):
        for b in t:
            fix_defaults(b)
    elif isinstance(t, dict):
        ty = t["type"]
        if ty == "record":
            for f in t["fields"]:
                fix_defaults(f["type"])
                if "default" in f:
                    f["default"] = default_for(f["type"])
        elif ty == "enum":
            if "default" in t and t["default"] not in t["symbols"]:
                t["default"] = t["symbols"][0]
        elif ty == "array":
            fix_defaults(t["items"])
        elif ty == "map":
            fix_defaults(t["values"])


class Mut:
    def __init__(self, g):
        self.g = g
        self.r = g.r

    def typ(self, t, depth):
        r = self.r
        if r.random() < 0.6:
            return self.inner(t, depth)
        k = r.random()
        if k < 0.35:
            # promotion or its reverse
            base = t if isinstance(t, str) else None
            if base in PROMOTE:
                return r.choice(PROMOTE[base])
            for w, rs in PROMOTE.items():
                if base in rs:
                    return w
        if k < 0.55 and not isinstance(t, list):
            u = ["null", t] if kind(t) != "null" else ["null", "string"]
            if r.random() < 0.3:
                u.reverse()
            return u
        if k < 0.7:
            return self.g.prim()
        return self.inner(t, depth)

    def inner(self, t, depth):
        r = self.r
        if isinstance(t, list):
            u = [self.typ(b, depth + 1) if isinstance(b, dict) and r.random() < 0.3 else b
                 for b in t]
            k = r.random()
            if k < 0.3 and len(u) > 1:
                del u[r.randrange(len(u))]
            elif k < 0.6:
                have = {kind(b) for b in u}
                free = [p for p in PRIMS if p not in have]
                if free:
                    u.insert(r.randint(0, len(u)), r.choice(free))
            elif k < 0.7 and len(u) == 1:
                return u[0] if not isinstance(u[0], list) else u
            # a union may not hold two of a kind nor a union
            seen, out = set(), []
            for b in u:
                if isinstance(b, list) or kind(b) in seen:
                    continue
                seen.add(kind(b))
                out.append(b)
            return out or ["null"]
        if not isinstance(t, dict):
            return t
        ty = t["type"]
        if ty == "enum":
            k = r.random()
            if k < 0.3:
                free = [s for s in SYMS if s not in t["symbols"]]
                if free:
                    t["symbols"].append(r.choice(free))
            elif k < 0.6 and len(t["symbols"]) > 1:
                t["symbols"].remove(r.choice(t["symbols"]))
            elif k < 0.75:
                if "default" in t:
                    del t["default"]
                else:
                    t["default"] = t["symbols"][0]
            elif k < 0.85:
                self.rename(t)
            return t
        if ty == "fixed":
            k = r.random()
            if k < 0.4:
                t["size"] = r.randint(1, 4)
            elif k < 0.6:
                self.rename(t)
            return t
        if ty == "array":
            t["items"] = self.typ(t["items"], depth + 1)
            return t
        if ty == "map":
            t["values"] = self.typ(t["values"], depth + 1)
            return t
        if ty == "record":
            self.record(t, depth + 1)
        return t

    def rename(self, t):
        old = t["name"]
        t["name"] = self.g.fresh(old + "x")
        if self.r.random() < 0.6:
            # In a namespace, half the aliases are written in full.
            ns = self.g.ns
            t["aliases"] = [ns + "." + old if ns and self.r.random() < 0.5 else old]

    def record(self, rec, depth):
        r = self.r
        fs = rec["fields"]
        for f in list(fs):
            k = r.random()
            if k < 0.12 and len(fs) > 1:
                fs.remove(f)
            elif k < 0.2:
                old = f["name"]
                f["name"] = self.g.fresh("g")
                if r.random() < 0.7:
                    f["aliases"] = [old]
            elif k < 0.6:
                f["type"] = self.typ(f["type"], depth)
        if r.random() < 0.35:
            nf = {"name": self.g.fresh("n"), "type": self.g.typ(depth + 1)}
            if r.random() < 0.6:
                nf["default"] = None
            fs.insert(r.randint(0, len(fs)), nf)
        if r.random() < 0.05:
            self.rename(rec)


def recursive_pair(g):
    r = g.r
    w = {"type": "record", "name": "Node", "fields": [
        {"name": "v", "type": "int"},
        {"name": "next", "type": ["null", "Node"], "default": None}]}
    rd = copy.deepcopy(w)
    k = r.random()
    if k < 0.3:
        rd["fields"][0]["type"] = "long"
    elif k < 0.5:
        rd["fields"][0]["type"] = "string"
    elif k < 0.7:
        rd["fields"].append({"name": "extra", "type": "string"})
    elif k < 0.85:
        rd["fields"].append({"name": "extra", "type": "string", "default": ""})
    return rd, w


def relative_aliases(t, ns=""):
    """Does t have a named type in a namespace with an alias without a dot?
    Rewrites such aliases in full (the spec's reading) as it goes."""
    found = False
    if isinstance(t, list):
        for b in t:
            found |= relative_aliases(b, ns)
    elif isinstance(t, dict):
        ty = t["type"]
        if ty in ("record", "enum", "fixed"):
            ns = t.get("namespace", ns)
            if ns and "aliases" in t:
                full = [a if "." in a else ns + "." + a for a in t["aliases"]]
                found |= full != t["aliases"]
                t["aliases"] = full
        if ty == "record":
            for f in t["fields"]:
                found |= relative_aliases(f["type"], ns)
        elif ty == "array":
            found |= relative_aliases(t["items"], ns)
        elif ty == "map":
            found |= relative_aliases(t["values"], ns)
    return found


def pair(g):
    r = g.r
    if r.random() < 0.05:
        rd, w = recursive_pair(g)
        return rd, w, None
    g.ns = "com.example" if r.random() < 0.2 else ""
    w = g.record(0)
    if g.ns:
        w["namespace"] = g.ns
    rd = copy.deepcopy(w)
    Mut(g).record(rd, 0)
    if r.random() < 0.03:
        # The reader renamed to a record in a namespace, with a relative
        # alias naming the old record (in the null namespace).
        w.pop("namespace", None)
        g.ns = ""
        rd["namespace"] = "ns"
        rd["aliases"] = [w["name"]]
        rd["name"] = g.fresh("Renamed")
    fix_defaults(w)
    fix_defaults(rd)
    if r.random() < 0.5:
        rd, w = w, rd  # both directions of every evolution
    return rd, w, None


def main():
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    g = Gen(random.Random(seed))
    out = sys.stdout
    made = 0
    while made < count:
        g.n = 0
        rd, w, note = pair(g)
        try:
            rs = avro.schema.parse(json.dumps(rd))
            ws = avro.schema.parse(json.dumps(w))
        except Exception:  # a mutation python refuses: draw another pair
            continue
        res = ReaderWriterCompatibilityChecker().get_compatibility(rs, ws)
        line = {"reader": rd, "writer": w,
                "compatible": res.compatibility is SchemaCompatibilityType.compatible}
        spec = copy.deepcopy(rd)
        note = "alias_relative_to_namespace" if relative_aliases(spec) else None
        if note:
            res = ReaderWriterCompatibilityChecker().get_compatibility(
                avro.schema.parse(json.dumps(spec)), ws)
            line["note"] = note
            line["spec_compatible"] = res.compatibility is SchemaCompatibilityType.compatible
        out.write(json.dumps(line) + "\n")
        made += 1


if __name__ == "__main__":
    main()
