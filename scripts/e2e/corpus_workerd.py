#!/usr/bin/env python3
"""The conformance corpus through the Vigil edge worker in a real workerd (stdlib only).

Usage: corpus_workerd.py [--verbose] [DIRS or FILES...]   (default: corpus)

The same cases and the same checks as corpus_envoy.py (whose selection, sending and checking
this imports): each HTTP-expressible case is sent to examples/edge-worker/worker.mjs running in
workerd (npm) with the test file's policy bound as text, in front of an echo origin; the
status, the {error, reason} body, the response headers, and on a forwarded request the
upstream identity headers are compared with `expect`. One workerd serves every file (one
worker and one 127.0.0.1 socket per file). The worker's DECISION_HEADER binding tells
whether it decided (a request workerd's HTTP parser refuses never reaches it: counted
separately, as Envoy's codec refusals are) and whether a dry-run denial was forwarded.
Prints `N passed, N failed, N skipped`; exit 1 on any failure.
"""

import argparse
import json
import os
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus_envoy as corpus  # noqa: E402
import workerd  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dirs", nargs="*", default=["corpus"])
    ap.add_argument("--verbose", "-v", action="store_true")
    args = ap.parse_args()
    for need in (workerd.WORKERD, os.path.join(workerd.WEB, "vigil_bg.wasm")):
        if not os.path.exists(need):
            print(f"missing {need}", file=sys.stderr)
            return 2
    res = corpus.Results(args.verbose, proxy="workerd")
    started = time.time()
    runs = []  # (file, name, todo cases)
    for f, doc, err in corpus.test_files(args.dirs):
        name = corpus.display(f)
        if err:
            res.failed += 1
            print(f"FAIL {name}: {err}")
            continue
        try:
            policy = corpus.load_policy(f, doc)
        except (OSError, ValueError) as e:
            res.failed += 1
            print(f"FAIL {name}: policy: {e}")
            continue
        why = corpus.file_skip(f, doc, policy)
        todo = []
        for i, case in enumerate(doc["cases"]):
            cname = case.get("name", f"cases[{i}]")
            reason = why or corpus.case_skip(case)
            if reason:
                res.skip(name, cname, reason)
            else:
                todo.append((cname, case))
        if todo:
            runs.append((name, json.dumps(policy), todo))
    origin = corpus.Echo()
    try:
        with tempfile.TemporaryDirectory(prefix="vigil-corpus-workerd-") as work:
            extra = ['(name = "ORIGIN", service = "origin")',
                     f'(name = "DECISION_HEADER", text = "{workerd.DECISION_HEADER}")']
            wd = workerd.Workerd(work, [(f"w{i}", pol, extra) for i, (_, pol, _) in enumerate(runs)],
                                 {"origin": origin.port})
            try:
                wd.start()
                for i, (name, _, todo) in enumerate(runs):
                    port = wd.ports[f"w{i}"]
                    for cname, case in todo:
                        run_case(port, name, cname, case, res)
                if res.failed and args.verbose:
                    for ln in [ln for ln in wd.log().splitlines() if "vigil" in ln.lower()][-8:]:
                        print(f"    workerd log: {ln[:800]}")
            finally:
                wd.stop()
    finally:
        origin.stop()
    res.report(time.time() - started if args.verbose else None)
    return 1 if res.failed else 0


def run_case(port, name, cname, case, res):
    try:
        status, hdrs, body = corpus.send(port, case["request"])
    except Exception as e:  # a reset or timeout is a failure, not a crash
        res.fail(name, cname, case, [f"no answer: {e!r}"])
        return
    mark = hdrs.pop(workerd.DECISION_HEADER, None)
    decided = 1 if mark else 0
    dry = 0
    if mark:
        m = json.loads(mark[0])
        dry = 1 if m.get("dryRun") and m.get("decision") != "allow" else 0
    kind, fails = corpus.check(case, status, hdrs, body, decided, dry)
    if kind == "envoy":
        res.codec(name, cname, case, status)
    elif kind == "rewritten":
        res.skip(name, cname, "target rewritten by workerd before the worker",
                 f"worker answered {status} on workerd's reading of it")
    elif fails:
        res.fail(name, cname, case, fails)
    else:
        res.ok()


if __name__ == "__main__":
    sys.exit(main())
