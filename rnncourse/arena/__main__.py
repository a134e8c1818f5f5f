"""``python -m rnncourse.arena`` (``make arena``): train and measure chapter 9's models,
write the results."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from rnncourse.arena import QUICK, Budget, cache_path, run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Train and measure chapter 9's models; write the cached results."
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where to write the JSON (default: rnncourse/arena/results.json)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a tiny budget, to check that everything runs",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=2,
        help="models measured at once, one thread each (default 2)",
    )
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    torch.set_num_threads(min(2, torch.get_num_threads()))
    results = run(QUICK if args.quick else Budget(), jobs=args.jobs)
    out = args.out or cache_path()
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
