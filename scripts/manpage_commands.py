#!/usr/bin/env python3
"""Writes a help2man include file for op-dbus(1): a COMMANDS section with every command's own --help (so the
man page never drifts from the program), followed by the hand-written sections of an extra file.

usage: manpage_commands.py OPDBUS EXTRA_FILE > include
"""
import re
import subprocess
import sys


def help_text(exe, args):
    out = subprocess.run([exe, *args, "--help"], check=True, capture_output=True, text=True).stdout
    return out


def subcommands(text):
    """The names listed under 'Subcommands:' in CLI11's help."""
    names, inside = [], False
    for line in text.splitlines():
        if line.startswith("Subcommands:"):
            inside = True
            continue
        if inside:
            if not line.strip():
                break
            m = re.match(r"^  (\S+)\s", line)
            if m:
                names.append(m.group(1))
    return names


def roff(text):
    """Plain text as literal roff lines: backslashes escaped, no line taken as a request."""
    lines = []
    for line in text.rstrip("\n").splitlines():
        line = line.replace("\\", "\\e")
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line)
    return "\n".join(lines)


def body(text):
    """A command's help without the footer every command repeats (exit codes, colour, documentation)."""
    keep = []
    for line in text.splitlines():
        if line.startswith(("Exit codes:", "Colour is used", "Documentation:")):
            continue
        keep.append(line)
    return "\n".join(keep).strip("\n")


def main():
    exe, extra = sys.argv[1], sys.argv[2]
    top = help_text(exe, [])
    out = ["[COMMANDS]"]
    out.append("Every command takes the global options above (before or after its name) and prints its own "
               "help with \\fB\\-\\-help\\fR.")
    for name in subcommands(top):
        text = help_text(exe, [name])
        out += [".SS " + name, ".nf", roff(body(text)), ".fi"]
        for sub in subcommands(text):
            out += [".SS " + name + " " + sub, ".nf", roff(body(help_text(exe, [name, sub]))), ".fi"]
    with open(extra, encoding="utf-8") as f:
        out.append(f.read().rstrip("\n"))
    print("\n".join(out))


if __name__ == "__main__":
    main()
