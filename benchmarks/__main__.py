"""``python -m benchmarks [suite ...] [--repeat N] [--quick]``: run suites, print tables, write JSON."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path

from benchmarks.harness import Options, render, write_json

ROOT = Path(__file__).resolve().parent


def available() -> list[str]:
    return sorted(
        m.name[len("bench_") :] for m in pkgutil.iter_modules([str(ROOT)]) if m.name.startswith("bench_")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("suites", nargs="*", help=f"suites to run (default: all of {', '.join(available())})")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per case (median reported)")
    parser.add_argument("--quick", action="store_true", help="small data sets, for a smoke run")
    args = parser.parse_args(argv)
    opts = Options(repeat=args.repeat, quick=args.quick)
    for suite in args.suites or available():
        if suite not in available():
            parser.error(f"unknown suite {suite!r}; available: {', '.join(available())}")
        module = importlib.import_module(f"benchmarks.bench_{suite}")
        cases = module.run(opts)
        print(render(suite, cases))
        print(f"\nJSON: {write_json(suite, cases, opts)}\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
