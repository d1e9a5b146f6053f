"""Summarise a py-spy raw profile (``py-spy record --format raw``, collapsed stacks) per process.

    python bench/spy_summary.py PROFILE.raw [--top 25] [--within FUNCTION]

For each process (a py-spy ``--subprocesses`` profile roots each stack at ``process PID:"cmdline"``)
prints its share of all on-CPU samples, then the functions with the largest inclusive share
(the function or anything it called; frames on every one of its stacks left out) and self
share (the function itself), as percentages of that process's samples. ``--within`` keeps only stacks passing through a function whose name
contains the text (e.g. ``events_since``). Samples of idle thread-pool workers are left out.
Used for the profiles in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter, defaultdict

#: A thread-pool worker's own frame at the top of a stack: it waits for work (a lock py-spy
#: does not always see as idle); such samples are left out.
_POOL_WAIT = "_worker thread.py"
_FRAME = re.compile(r"^(?P<name>[^ ]+) \((?P<file>[^:)]+)")


def frame_name(frame: str) -> str:
    """``function (path/file.py:line)`` → ``function file.py``; other frames as they are."""
    match = _FRAME.match(frame)
    return f"{match['name']} {match['file'].rsplit('/', 1)[-1]}" if match else frame


def summarise(path: str, top: int, within: str) -> str:
    inclusive: dict[str, Counter[str]] = defaultdict(Counter)
    own: dict[str, Counter[str]] = defaultdict(Counter)
    samples: Counter[str] = Counter()
    with open(path) as lines:
        for line in lines:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack or not count.isdigit():
                continue
            frames = stack.split(";")
            process = frames[0] if frames[0].startswith("process ") else "process"
            names = [frame_name(f) for f in frames[1:] if not f.startswith("thread ")]
            if within and not any(within in n for n in names):
                continue
            if names and names[-1] == _POOL_WAIT:  # an idle pool thread waiting for work
                continue
            samples[process] += int(count)
            for name in set(names):
                inclusive[process][name] += int(count)
            if names:
                own[process][names[-1]] += int(count)
    total = sum(samples.values()) or 1
    out = []
    for process, n in samples.most_common():
        out.append(f"## {process[:120]}: {n} samples, {100 * n / total:.1f} % of all")
        for title, counter in (("inclusive", inclusive[process]), ("self", own[process])):
            out.append(f"  {title}:")
            # frames on every stack (the loop, the server's wrappers) say nothing: left out
            rows = [(name, c) for name, c in counter.most_common() if c < n][:top]
            out.extend(f"    {100 * c / n:5.1f} %  {name}" for name, c in rows)
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--within", default="", help="only stacks through a function containing this text")
    args = parser.parse_args()
    print(summarise(args.profile, args.top, args.within))


if __name__ == "__main__":
    main()
