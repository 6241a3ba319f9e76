#!/usr/bin/env python3
"""Picks a small replay corpus from a libFuzzer merge: greedy set cover of coverage edges.

-merge=1 keeps every file that adds a feature, often several hundred; the saved corpus is
capped (README.md). Usage, after `<target> -merge=1 -use_counters=0
-merge_control_file=CTL empty_dir inputs...`:
    select_corpus.py CTL OUT_DIR MAX_FILES [MAX_BYTES]
copies up to MAX_FILES inputs (MAX_BYTES in all, default 150000) covering the most edges.
Run it where the merge ran: the control file names inputs by the paths given to libFuzzer.
"""
import os
import shutil
import sys


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    control, out_dir, max_files = sys.argv[1], sys.argv[2], int(sys.argv[3])
    max_bytes = int(sys.argv[4]) if len(sys.argv) == 5 else 150_000
    lines = open(control).read().split('\n')
    count = int(lines[0])
    files = lines[2:2 + count]
    edges = {}
    for line in lines[2 + count:]:
        if line.startswith('COV '):
            parts = line.split()
            edges[int(parts[1])] = set(parts[2:])
    every_edge = set().union(*edges.values()) if edges else set()
    chosen, covered, total = [], set(), 0
    while len(chosen) < max_files:
        best, gain = None, 0
        for index, covers in edges.items():
            size = os.path.getsize(files[index])
            new = len(covers - covered)
            if total + size <= max_bytes and new > gain:
                best, gain = index, new
        if best is None:
            break
        chosen.append(best)
        covered |= edges[best]
        total += os.path.getsize(files[best])
    os.makedirs(out_dir, exist_ok=True)
    for index in chosen:
        shutil.copy(files[index], out_dir)
    print(f'{len(chosen)} files, {total} bytes, {len(covered)}/{len(every_edge)} edges')


if __name__ == '__main__':
    main()
