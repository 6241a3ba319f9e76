#!/usr/bin/env python3
"""uap_subset.py FULL OUT < AGENTS: writes OUT, uap-core's regexes.yaml FULL cut down to the
entries that match one of the user agents on stdin (one a line), in their order, so that
beacond compiles it in a fraction of a second instead of seconds on every restart.

Each agent keeps the result it has with FULL: per section the first entry that matches wins
(uap-core semantics), and that entry is kept, with only non-matching entries removed before
it. An entry Python's re cannot compile is kept (it may match under PCRE). The entries are
copied as text, so OUT parses as FULL does.
"""
import re
import sys

import yaml

SECTIONS = ("user_agent_parsers", "os_parsers", "device_parsers")


def matches(entry, agents):
    flags = re.IGNORECASE if entry.get("regex_flag") == "i" else 0
    try:
        pattern = re.compile(entry["regex"], flags)
    except re.error:
        return True
    return any(pattern.search(agent) for agent in agents)


def entry_texts(lines):
    """Splits FULL's lines into (section name or None, [entry texts]) in file order."""
    sections, current = [], None
    for line in lines:
        top = re.match(r"^([a-z_]+):\s*$", line)
        if top:
            current = (top.group(1), [])
            sections.append(current)
        elif current is not None and line.startswith("  - regex:"):
            current[1].append(line)
        elif current is not None and current[1] and not line.lstrip().startswith("#"):
            current[1][-1] += line
    return sections


def main():
    full, out = sys.argv[1], sys.argv[2]
    agents = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    with open(full, encoding="utf-8") as f:
        text = f.read()
    parsed = yaml.safe_load(text)
    result = []
    for name, texts in entry_texts(text.splitlines(keepends=True)):
        if name not in SECTIONS:
            continue
        entries = parsed[name]
        if len(entries) != len(texts):
            sys.exit(f"uap_subset: {name}: {len(entries)} entries parsed, {len(texts)} found")
        kept = [t for e, t in zip(entries, texts) if matches(e, agents)]
        result.append(f"{name}:\n" + "".join(t if t.endswith("\n") else t + "\n" for t in kept))
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(result))


if __name__ == "__main__":
    main()
