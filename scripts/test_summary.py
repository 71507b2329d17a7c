#!/usr/bin/env python3
"""Prints "N passed, N failed, N skipped" from meson's testlog.json, counting each TAP test case.

A case with a SKIP directive ("ok 3 - name # SKIP reason", any case, with or without the space) is skipped,
never passed; a "not ok" case is a failure whatever its directive says, except TODO. A whole test that
skipped itself ("1..0 # SKIP reason" or exit code 77) counts as one skipped.
Exit status is 1 if anything failed (or nothing ran), else 0.
"""
import json
import re
import sys

TAP = re.compile(r"^(not ok|ok)\b(.*)$")
# The directive after the description: "# SKIP", "#skip", "# Skipped: ..." (TAP 13/14).
SKIP = re.compile(r"#\s*skip", re.IGNORECASE)
TODO = re.compile(r"#\s*todo", re.IGNORECASE)


def main(path: str) -> int:
    passed = failed = skipped = 0
    with open(path, encoding="utf-8") as f:
        entries = [json.loads(line) for line in f if line.strip()]
    for e in entries:
        result = e.get("result", "")
        out = e.get("stdout") or ""
        tap = [TAP.match(line) for line in out.splitlines()]
        tap = [m for m in tap if m]
        if tap:
            bad = 0
            for m in tap:
                rest = m.group(2)
                if m.group(1) == "ok" and SKIP.search(rest):
                    skipped += 1
                elif m.group(1) == "ok" or TODO.search(rest):
                    passed += 1
                else:
                    bad += 1
            failed += bad
            if bad == 0 and result not in ("OK", "SKIP", "EXPECTEDFAIL"):
                failed += 1  # crashed or timed out after its last reported case
        elif result == "SKIP" or re.search(r"^1\.\.0\b", out, re.M):
            skipped += 1
        elif result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        else:
            failed += 1
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "build/meson-logs/testlog.json"))
