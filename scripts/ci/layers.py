#!/usr/bin/env python3
"""Checks that the headers under include/attune include only downwards through attune's layers.

    scripts/ci/layers.py               check the tree this script sits in
    scripts/ci/layers.py --root DIR    check DIR/include/attune
    scripts/ci/layers.py --self-test   plant violations in a temporary copy and check each is found

Every folder and top-level header of include/attune belongs to one layer of LAYERS (a "unit").
A header may include its own unit and any unit of a lower layer. An include of a higher layer, or
of another unit of the same layer that ALLOWED_PEERS does not list, is a violation, reported as
file:line with both units and layers; so is a folder or top-level header that no layer lists, and
an include of an attune header that does not exist. Exit status 1 when anything is reported.
Python 3 standard library only.
"""

import argparse
import os
import re
import shutil
import sys
import tempfile

# Lowest first. (name, units, what the layer is and why it sits there.)
LAYERS = [
    ("core", ["core", "version.hpp"],
     "types, views, errors, checked arithmetic, the policy kinds and traits (is_none_v, "
     "validate_policy): depends on nothing else of attune"),
    ("blocks", ["simd", "exec"],
     "building blocks on core alone: SIMD vectors, math and the GEMM micro-kernel per arch; "
     "executors and parallel regions. Independent of each other"),
    ("policies", ["mask", "score", "sink", "router", "family", "quant"],
     "the extension points: one folder per policy kind, each on core and the blocks only, so a "
     "policy can be read (and written) without the engine; quant/: the storage formats of K/V rows"),
    ("kernel", ["kernel"],
     "the tile engine: the problem and work plan, stages, micro-kernels, per-thread scratch, the "
     "driver; it calls the policies' hooks"),
    ("variant", ["hooks.hpp", "variant.hpp", "testing.hpp"],
     "composing and checking policies: the hook list and its checks, variant<P...> with each "
     "kind's default, the checker a user runs on a mask of their own"),
    ("entry points", ["attention.hpp", "batch.hpp", "quantized.hpp", "merge.hpp", "reference", "probe", "linear"],
     "public functions on the kernel: attention(), ragged and paged batches, attention over quantized K/V, the merge "
     "of partial results, the float64 reference, probes of the probability matrix, the linear-attention family"),
    ("composed", ["prepass", "calibration", "sparse"],
     "functions built on the entry points: QK-LayerNorm attention, sink calibration (ACT, VAR), "
     "gather / top-k / recycled sparse attention"),
    ("caches", ["cache"],
     "stateful KV caches: each step appends and calls attention() or a sparse function"),
    ("aggregates", ["attune.hpp", "cache.hpp", "sparse.hpp", "calibration.hpp", "linear.hpp"],
     "one include per feature, for users; no header below includes them"),
    ("distributed", ["distributed"],
     "context-parallel attention and sharded decode over MPI, on the public entry points; optional "
     "(only users who link MPI include it), so nothing else of attune may include it"),
]

# Same-layer includes between different units that are allowed: (from, to) -> why.
ALLOWED_PEERS = {
    ("batch.hpp", "attention.hpp"): "a batch call shares attention()'s options and checks",
    ("quantized.hpp", "attention.hpp"): "attention over quantized K/V shares attention()'s options and checks",
    ("quantized.hpp", "batch.hpp"): "paged attention over quantized pools shares the batch call's checks",
    ("variant.hpp", "hooks.hpp"): "a variant checks each policy's hooks",
    ("sparse.hpp", "cache.hpp"): "the sparse aggregate re-exports the caches the sparse functions run on",
}

# Upward includes not yet removed, each with what removes it: (header, included) -> why. Listed
# ones are counted, not failed; one that no longer occurs fails, so the list can only shrink.
EXCEPTIONS = {}

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def layer_of():
    table = {}
    for rank, (name, units, _) in enumerate(LAYERS):
        for unit in units:
            if unit in table:
                raise SystemExit("layers.py: unit %s is listed twice in LAYERS" % unit)
            table[unit] = (rank, name)
    return table


def unit_of(rel):
    """rel: a path under include/attune ('mask/causal.hpp', 'attune.hpp'); its unit."""
    parts = rel.split("/")
    return parts[0] if len(parts) > 1 else rel


def describe(unit, table):
    rank, name = table[unit]
    shown = unit + "/" if not unit.endswith(".hpp") else unit
    return "%s (layer %d, %s)" % (shown, rank, name)


def check(root):
    """Returns (violations, headers, includes, excepted): violations as 'path:line: message'
    strings, excepted the EXCEPTIONS that occurred."""
    table = layer_of()
    base = os.path.join(root, "include", "attune")
    if not os.path.isdir(base):
        raise SystemExit("layers.py: no include/attune under %s" % root)
    headers = []
    for d, dirs, files in os.walk(base):
        dirs.sort()
        for f in sorted(files):
            if f.endswith((".hpp", ".h")):
                headers.append(os.path.relpath(os.path.join(d, f), base).replace(os.sep, "/"))
    violations = []
    includes = 0
    excepted = set()
    for rel in headers:
        shown = "include/attune/" + rel
        unit = unit_of(rel)
        if unit not in table:
            what = "folder %s/" % unit if unit != rel else "top-level header %s" % unit
            violations.append("%s:1: %s is in no layer (add it to LAYERS in scripts/ci/layers.py)" % (shown, what))
            continue
        here = os.path.dirname(rel)
        with open(os.path.join(base, rel), encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                m = INCLUDE_RE.match(line)
                if not m:
                    continue
                bracket, name = m.groups()
                if name.startswith("attune/"):
                    target = name[len("attune/"):]
                elif bracket == '"' and os.path.exists(os.path.join(base, here, name)):
                    target = os.path.normpath(os.path.join(here, name)).replace(os.sep, "/")
                    if target.startswith(".."):
                        continue  # outside include/attune
                else:
                    continue  # the standard library or a third-party header
                includes += 1
                if not os.path.isfile(os.path.join(base, target)):
                    violations.append("%s:%d: includes attune/%s, which does not exist" % (shown, lineno, target))
                    continue
                to = unit_of(target)
                if to == unit:
                    continue
                if to not in table:
                    continue  # reported once, as a header of its own
                (r_from, _), (r_to, _) = table[unit], table[to]
                if r_to < r_from or (unit, to) in ALLOWED_PEERS:
                    continue
                if (rel, target) in EXCEPTIONS:
                    excepted.add((rel, target))
                    continue
                why = "runs up the layers" if r_to > r_from else "crosses to another unit of its layer (not in ALLOWED_PEERS)"
                violations.append("%s:%d: %s includes attune/%s of %s: %s" %
                                  (shown, lineno, describe(unit, table), target, describe(to, table), why))
    for (rel, target) in sorted(set(EXCEPTIONS) - excepted):
        violations.append("include/attune/%s:1: no longer includes attune/%s: remove the entry from EXCEPTIONS" % (rel, target))
    return violations, headers, includes, excepted


def report(root):
    violations, headers, includes, excepted = check(root)
    for v in violations:
        print(v)
    for (rel, target) in sorted(excepted):
        print("listed exception: include/attune/%s includes attune/%s (%s)" % (rel, target, EXCEPTIONS[(rel, target)]))
    print("layers: %d headers, %d attune includes, %d violation%s, %d listed exception%s" %
          (len(headers), includes, len(violations), "" if len(violations) == 1 else "s",
           len(excepted), "" if len(excepted) == 1 else "s"))
    return 1 if violations else 0


def self_test(root):
    """Copies include/attune, plants one violation of each kind and checks that each is reported
    with its file and line, and that nothing else changes: the check cannot pass by finding nothing."""
    failures = []
    with tempfile.TemporaryDirectory(prefix="attune-layers-") as tmp:
        shutil.copytree(os.path.join(root, "include", "attune"), os.path.join(tmp, "include", "attune"))
        before, headers, includes, _ = check(tmp)
        if not headers or includes == 0:
            failures.append("the copy has no headers or no attune includes to check")
        base = os.path.join(tmp, "include", "attune")

        def plant(rel, text):
            path = os.path.join(base, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            lines = open(path, encoding="utf-8").read().splitlines(True) if os.path.exists(path) else []
            lines.append(text + "\n")
            with open(path, "w", encoding="utf-8") as fh:
                fh.writelines(lines)
            return "include/attune/%s:%d:" % (rel, len(lines))

        # One plant per rule; each expects a message at exactly that file:line containing `needle`.
        expected = [
            (plant("core/types.hpp", '#include "attune/kernel/problem.hpp"'), "runs up the layers"),
            (plant("mask/causal.hpp", '#  include <attune/cache/kv_cache.hpp>'), "runs up the layers"),
            (plant("score/alibi.hpp", '#include "attune/sink/sink.hpp"'), "crosses to another unit"),
            (plant("kernel/problem.hpp", '#include "../attention.hpp"'), "runs up the layers"),
            (plant("sparse/topk.hpp", '#include "attune/router/duo_cache.hpp"'), "does not exist"),
            (plant("planted/new.hpp", '#include "attune/core/types.hpp"'), "in no layer"),
        ]
        # An include inside a comment or of the standard library is not one.
        plant("core/view.hpp", '// #include "attune/attention.hpp"')
        plant("core/error.hpp", "#include <vector>")
        after, _, _, _ = check(tmp)
        new = [v for v in after if v not in before]
        for where, needle in expected:
            hits = [v for v in new if v.startswith(where) and needle in v]
            if len(hits) != 1:
                failures.append("planted %s (%s): reported %d times" % (where, needle, len(hits)))
        if len(new) != len(expected):
            failures.append("%d new reports for %d planted violations:\n  %s" % (len(new), len(expected), "\n  ".join(new)))
        if [v for v in before if v not in after]:
            failures.append("planting removed earlier reports")
        # A listed exception is counted, not reported; once its include is gone it is reported, so
        # the list cannot go stale. Tried on the planted core/types.hpp -> kernel/problem.hpp.
        planted = ("core/types.hpp", "kernel/problem.hpp")
        EXCEPTIONS[planted] = "self-test"
        try:
            listed, _, _, excepted = check(tmp)
            if planted not in excepted or any(v.startswith(expected[0][0]) for v in listed):
                failures.append("a listed exception is still reported")
            path = os.path.join(base, planted[0])
            text = open(path, encoding="utf-8").read()
            with open(path, "w", encoding="utf-8") as fh:
                fh.write("\n".join(l for l in text.split("\n") if not (INCLUDE_RE.match(l) and "attune/" + planted[1] in l)))
            stale, _, _, _ = check(tmp)
            if not any(v.startswith("include/attune/%s:1: no longer includes attune/%s" % planted) for v in stale):
                failures.append("a stale exception is not reported")
        finally:
            del EXCEPTIONS[planted]
        # The allowed peers and the table itself: every listed unit is named once.
        for (a, b) in ALLOWED_PEERS:
            if unit_of(a) not in layer_of() or unit_of(b) not in layer_of():
                failures.append("ALLOWED_PEERS names %s -> %s outside LAYERS" % (a, b))
    for f in failures:
        print("layers self-test: FAILED: " + f)
    if not failures:
        print("layers self-test: %d planted violations reported at their file:line, nothing else; a listed "
              "exception counted, and reported once stale" % len(expected))
    return 1 if failures else 0


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=os.path.normpath(os.path.join(here, "..", "..")),
                    help="the repository root (holds include/attune)")
    ap.add_argument("--self-test", action="store_true", help="check that planted violations are reported")
    ap.add_argument("--table", action="store_true", help="print the layers and exit")
    args = ap.parse_args()
    if args.table:
        for rank, (name, units, what) in enumerate(LAYERS):
            print("%d %-13s %s\n  %s" % (rank, name, ", ".join(u if u.endswith(".hpp") else u + "/" for u in units), what))
        for (a, b), why in ALLOWED_PEERS.items():
            print("allowed: %s -> %s (%s)" % (a, b, why))
        return 0
    return self_test(args.root) if args.self_test else report(args.root)


if __name__ == "__main__":
    sys.exit(main())
