"""Write or check requirements.lock against the distributions installed in this interpreter.

    python tools/check_lock.py requirements.lock           # after `make install`: exit 1 on any drift
    python tools/check_lock.py --write requirements.lock   # `make lock`: pin what the scratch venv resolved

`pip install -c LOCK` only pins what the lock names: a dependency added to a pyproject without
`make lock` would install at whatever version the index serves that day, which is how a fresh clone
used to get an environment CI never tested. The check closes that gap. Editable installs (benchbench
and its plugins, which live in this repository) are not pinned.
"""

from __future__ import annotations

import sys
from pathlib import Path

from benchbench.environment import installed_distributions, lock_drift, read_lock

HEADER = """\
# The repo's full environment: every distribution `make install` puts in .venv, pinned.
# Written by `make lock` (tools/check_lock.py --write) from pyproject.toml's ranges and constraints.txt;
# `make install` installs with `-c requirements.lock`, then checks that nothing else was installed.
# CPython 3.11, linux x86_64 (torch/torchvision from this machine's disk). Do not edit by hand.
"""


def main(argv: list[str]) -> int:
    paths = [a for a in argv if not a.startswith("--")]
    if len(paths) != 1:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    lock, have = Path(paths[0]), installed_distributions()
    if "--write" in argv:
        lock.write_text(HEADER + "".join(f"{n}=={v}\n" for n, v in have.items()))
        print(f"{lock}: {len(have)} distributions pinned")
        return 0
    drift = lock_drift(read_lock(lock), have)
    if drift:
        print(f"{lock}: the install differs from the lock in {len(drift)} distribution(s): " + "; ".join(drift[:10])
              + " — run `make lock` after changing a dependency, and commit requirements.lock", file=sys.stderr)
        return 1
    print(f"{lock}: install matches the lock ({len(have)} distributions)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
