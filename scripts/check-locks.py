#!/usr/bin/env python3
"""Say at once when a lock file is older than what it is made from.

Every `name==version` pin of pyproject.toml (dependencies, the dev extra, the build
system) and of requirements/tools.txt must be in its lock under requirements/ at the
same version. `make` runs this before installing anything, so a dependency added
without `make lock` fails with that advice instead of an ImportError later.
Python standard library only (it runs before any virtualenv exists).
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
EPILOG = """
environment:
  none

exit codes:
  0   every lock has every pin of its source
  1   a lock is out of date: run `make lock`
  64  bad command line
"""
PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;#]+)")
LOCKED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", re.M)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(requirements: list[str]) -> dict[str, str]:
    found = {}
    for line in requirements:
        match = PIN.match(line)
        if match:
            found[canonical(match.group(1))] = match.group(2)
    return found


def sources(root: Path) -> dict[str, list[str]]:
    """{lock name: the requirement lines it is made from} (as `make lock` makes them)."""
    project = tomllib.loads((root / "pyproject.toml").read_text())
    runtime = project["project"]["dependencies"]
    dev = project["project"].get("optional-dependencies", {}).get("dev", [])
    tools = (root / "requirements" / "tools.txt").read_text().splitlines()
    return {
        "runtime": runtime,
        "dev": runtime + dev,
        "build": project["build-system"]["requires"] + [r for r in dev if r.startswith("uv==")],
        "tools": tools,
    }


def stale(root: Path) -> list[str]:
    problems = []
    for name, lines in sources(root).items():
        lock = root / "requirements" / f"{name}.lock"
        if not lock.exists():
            problems.append(f"requirements/{name}.lock is missing")
            continue
        locked = {canonical(n): v for n, v in LOCKED.findall(lock.read_text())}
        for package, version in pins(lines).items():
            if locked.get(package) != version:
                have = locked.get(package, "nothing")
                problems.append(f"requirements/{name}.lock has {have} for {package}=={version}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/check-locks.py",
        description="Check that requirements/*.lock agree with pyproject.toml and tools.txt.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository to check")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 64 if exc.code == 2 else int(exc.code or 0)
    problems = stale(args.root)
    for problem in problems:
        print(f"stale lock: {problem}", file=sys.stderr)
    if problems:
        print("run `make lock` (needs PyPI); commit the locks with pyproject.toml", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
