#!/usr/bin/env python3
"""The plugin list lives in one place, src/app/registry.cc; everything else is checked against it.

  plugin_list.py table OPDBUS          prints the plugin table of docs/state-format.md from the registry
                                       (`op-dbus plugins --json`): paste it there after changing the registry
  plugin_list.py check OPDBUS SRCDIR [REGISTRY_DUMP]
                                       TAP: every other list agrees with the registry. REGISTRY_DUMP (the
                                       test build's registry_dump) reads the registry without probing the
                                       host; without it, `op-dbus plugins --json` is used:
      plugins/meson.build      a subdir and a library for each implemented plugin, nothing else
      schemas/meson.build      a schema file for each plugin (plus state), nothing else
      state.schema.json        a property under "plugins" for each plugin, nothing else (via `op-dbus schema`)
      `op-dbus schema NAME`    answers for each plugin
      docs/state-format.md     the plugin table, names, pages and `after` edges, in registry order
      README.md                the status table names each plugin once
"""
import json
import os
import re
import subprocess
import sys


def registry(opdbus, dump=None):
    cmd = [dump] if dump else [opdbus, "plugins", "--json"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60).stdout
    return json.loads(out)


def table(plugins):
    lines = ["| plugin | page | runs after |", "| --- | --- | --- |"]
    for p in plugins:
        name = p["name"]
        page = f"[plugins/{name}.md](plugins/{name}.md)" if p["implemented"] else "(not implemented yet)"
        after = ", ".join(p["after"]) or "—"
        lines.append(f"| {name} | {page} | {after} |")
    return "\n".join(lines) + "\n"


def doc_table(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^\| plugin \| page \| runs after \|\n(?:\|.*\|\n)+", text, re.M)
    return m.group(0) if m else ""


def check(opdbus, src, dump=None):
    plugins = registry(opdbus, dump)
    names = [p["name"] for p in plugins]
    implemented = sorted(p["name"] for p in plugins if p["implemented"])
    results = []

    def case(name, ok, detail=""):
        results.append((name, ok, detail))

    with open(os.path.join(src, "plugins", "meson.build"), encoding="utf-8") as f:
        meson = f.read()
    subdirs = sorted(re.findall(r"^subdir\('([^']+)'\)", meson, re.M))
    libs_m = re.search(r"^plugin_libs = \[([^\]]*)\]", meson, re.M)
    libs = sorted(re.findall(r"(\w+)_plugin_lib", libs_m.group(1))) if libs_m else []
    case("plugins/meson.build has a subdir for each implemented plugin, and only those", subdirs == implemented,
         f"subdirs {subdirs}, implemented in the registry {implemented}")
    case("plugins/meson.build links each implemented plugin's library", libs == implemented,
         f"plugin_libs {libs}, implemented in the registry {implemented}")

    with open(os.path.join(src, "schemas", "meson.build"), encoding="utf-8") as f:
        schemas = sorted(re.findall(r"'v1/([a-z0-9_-]+)\.schema\.json'", f.read()))
    case("schemas/meson.build lists state plus one schema per registered plugin", schemas == sorted(names + ["state"]),
         f"schemas {schemas}, registry {sorted(names)}")

    state = json.loads(
        subprocess.run([opdbus, "schema"], check=True, capture_output=True, text=True, timeout=60).stdout)
    props = sorted(state["properties"]["plugins"]["properties"])
    case("state.schema.json has one property under plugins per registered plugin", props == sorted(names),
         f"properties {props}, registry {sorted(names)}")
    missing = [n for n in names
               if subprocess.run([opdbus, "schema", n], capture_output=True, timeout=60).returncode != 0]
    case("`op-dbus schema NAME` answers for every registered plugin", not missing, f"no schema for {missing}")

    want = table(plugins)
    got = doc_table(os.path.join(src, "docs", "state-format.md"))
    case("docs/state-format.md's plugin table matches the registry (names, pages, after edges, order)",
         got == want, "docs/state-format.md has:\n" + got + "the registry gives (scripts/plugin_list.py table):\n" + want)

    with open(os.path.join(src, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    status = re.search(r"^\| plugin \| status \|\n(?:\|.*\|\n)+", readme, re.M)
    rows = status.group(0).splitlines()[2:] if status else []
    listed = sorted(n.strip() for row in rows for n in row.split("|")[1].split(","))
    case("README.md's status table names each registered plugin once", listed == sorted(names),
         f"README lists {listed}, registry {sorted(names)}")

    failed = 0
    for i, (name, ok, detail) in enumerate(results, 1):
        print(f"{'ok' if ok else 'not ok'} {i} - {name}")
        if not ok:
            failed += 1
            for line in detail.splitlines():
                print(f"# {line}")
    print(f"1..{len(results)}")
    return 1 if failed else 0


def main(argv):
    if len(argv) == 3 and argv[1] == "table":
        sys.stdout.write(table(registry(argv[2])))
        return 0
    if len(argv) in (4, 5) and argv[1] == "check":
        return check(argv[2], argv[3], argv[4] if len(argv) == 5 else None)
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
