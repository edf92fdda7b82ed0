"""The ``smoothlearn`` command line. Every bad input ends in one clear line, never a traceback."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _parse_value(text: str) -> Any:
    """``--set`` values: TOML scalars/lists where they parse, else plain strings."""
    import tomllib

    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _overrides(pairs: Sequence[str]) -> dict[str, Any]:
    from smoothlearn.experiments import ConfigError

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {pair!r}: expected KEY=VALUE, e.g. --set lr=0.005")
        out[key.strip()] = _parse_value(value.strip())
    return out


def _positive(text: str) -> int:
    """argparse type for counts (seeds, steps, workers): a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


# ---------------------------------------------------------------- commands
def cmd_streams(args: argparse.Namespace) -> int:
    """Show what each smoothness condition does to one label set."""
    from smoothlearn import streams
    from smoothlearn.experiments import dataset_for, make_config

    if args.dataset == "toy":
        labels = np.repeat(np.arange(4), [5, 6, 7, 8])
    else:
        labels = dataset_for(make_config(dataset=args.dataset, condition="random")).y_train
    print(f"{args.dataset}: {labels.size} items, {np.unique(labels).size} categories, "
          f"category order (seed {args.seed}): "
          f"{streams.category_order(labels, args.seed).tolist()}")
    header = (f"{'condition':<12} {'mean run':>9} {'same-pair':>10} {'1st class out':>14}"
              "  first labels")
    print(header)
    print("-" * len(header))
    for condition in args.conditions:
        seq = labels[streams.order(labels, condition, args.seed)]
        m = streams.smoothness(seq)
        out_at = streams.first_exhaustion_step(labels, condition, args.seed)
        shown = "".join(str(int(c)) if c < 10 else "+" for c in seq[: args.show])
        print(f"{condition:<12} {m['mean_run_length']:>9.2f} {m['same_label_fraction']:>10.3f} "
              f"{out_at:>14}  {shown}")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from smoothlearn import data

    if args.data_command == "fetch":
        where = data.fetch(args.name, data_dir=args.data_dir)
        print(f"{args.name}: ready in {where}")
        return 0
    for row in data.info(data_dir=args.data_dir):
        print("  ".join(f"{k}={v}" for k, v in row.items()))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from smoothlearn.experiments import builtin_names, load_experiment

    for name in builtin_names():
        exp = load_experiment(name)
        runs = exp.runs()
        print(f"{name:<8} {exp.figure:<16} {len(runs):>5} runs  {exp.title}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from smoothlearn.experiments import load_experiment

    exp = load_experiment(args.experiment)
    overrides = _overrides(args.set)
    if args.dataset:
        overrides["dataset"] = args.dataset
    if args.steps:
        overrides["steps"] = args.steps
    configs = exp.runs(seeds=args.seeds, overrides=overrides)
    out = Path(args.out or Path("runs") / exp.name)
    from smoothlearn.sweep import run_sweep

    summary = run_sweep(
        configs, out, engine=args.engine, executor=args.executor, workers=args.workers,
        scheduler=args.scheduler, quiet=args.quiet,
    )
    print(summary)
    from smoothlearn.sweep import failed_count

    return 1 if failed_count(summary) else 0


def cmd_results(args: argparse.Namespace) -> int:
    from smoothlearn import results

    frame = results.load(args.directory)
    if args.csv:
        frame.to_csv(args.csv, index=False)
        print(f"wrote {len(frame)} rows to {args.csv}")
        return 0
    print(results.summary(frame).to_string())
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from smoothlearn.reproduce import main_reproduce

    return main_reproduce(args)


def cmd_robustness(args: argparse.Namespace) -> int:
    from smoothlearn.robustness import main_robustness

    return main_robustness(args)


def cmd_publish(args: argparse.Namespace) -> int:
    from smoothlearn.report import publish

    written = publish(Path(args.out), Path(args.docs), Path(args.readme) if args.readme else None)
    print(f"wrote {len(written)} files: " + ", ".join(str(p) for p in written[-3:]))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from smoothlearn.bench import DEFAULT_OUT, run_benchmarks

    res = run_benchmarks(args.quick, Path(args.out) if args.out else DEFAULT_OUT)
    print(res.table)
    print(f"wrote {res.json_path} and {res.markdown_path}")
    return 0


# ---------------------------------------------------------------- parser
def _add_execution_args(p: argparse.ArgumentParser) -> None:
    """Where and how runs are trained: shared by run, reproduce and robustness."""
    p.add_argument("--engine", choices=["fast", "reference"], default="fast")
    p.add_argument("--executor", choices=["local", "dask"], default="local")
    p.add_argument("--workers", type=_positive, default=None,
                   help="worker processes (default: cores)")
    p.add_argument("--scheduler", default=None,
                   help="tcp://HOST:PORT of an existing Dask cluster")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smoothlearn",
        description="Learning from temporally smooth data streams (reproduction toolkit).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("streams", help="print orders and smoothness metrics of each condition")
    p.add_argument("--dataset", default="toy", help="toy, mnist, synthetic-categories, ...")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--show", type=int, default=40, help="how many labels of each order to print")
    p.add_argument("--conditions", nargs="+",
                   default=["random", "repeat-1", "repeat-3", "repeat-5", "sticky-0.8"])
    p.set_defaults(func=cmd_streams)

    p = sub.add_parser("data", help="fetch datasets or show where they are")
    dsub = p.add_subparsers(dest="data_command", required=True)
    f = dsub.add_parser("fetch", help="download and verify a dataset into the cache")
    f.add_argument("name", choices=["mnist", "fashion-mnist"])
    f.add_argument("--data-dir", default=None)
    i = dsub.add_parser("info", help="where each dataset is found, and whether it verifies")
    i.add_argument("--data-dir", default=None)
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("list", help="list the built-in experiments")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("run", help="run a built-in experiment or a TOML file, resumably")
    p.add_argument("experiment", help="built-in name (see 'smoothlearn list') or path/to/exp.toml")
    p.add_argument("--dataset", default=None, help="override the dataset")
    p.add_argument("--seeds", type=_positive, default=None,
                   help="number of seeds (default: the paper's)")
    p.add_argument("--steps", type=_positive, default=None, help="truncate every run to N steps")
    p.add_argument("--out", default=None, help="output directory (default runs/EXPERIMENT)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set lr=0.005 (repeatable)")
    _add_execution_args(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("results", help="summarise a results directory")
    p.add_argument("directory")
    p.add_argument("--csv", default=None, help="export the tidy table to this CSV file")
    p.set_defaults(func=cmd_results)

    p = sub.add_parser("reproduce", help="run every experiment of the paper; figures, claims "
                       "table and report.html")
    p.add_argument("--quick", action="store_true",
                   help="a few minutes: fewer seeds and steps (see docs/report.md)")
    p.add_argument("--out", default=None, help="output directory (default runs/reproduce)")
    p.add_argument("--only", nargs="+", default=None, metavar="EXPERIMENT",
                   help="run only these built-in experiments")
    p.add_argument("--skip-models", nargs="+", default=None, metavar="MODEL",
                   help="leave out these models' runs, e.g. lstm (hours at paper settings)")
    p.add_argument("--robustness", action=argparse.BooleanOptionalAction, default=None,
                   help="include the robustness sweep (default: in full runs, not in --quick)")
    _add_execution_args(p)
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("robustness", help="which claims hold under which of the paper's "
                       "unstated choices (matrix, claims.md)")
    p.add_argument("--quick", action="store_true", help="8 seeds, 8k steps: minutes, indicative")
    p.add_argument("--out", default=None, help="output directory (default runs/robustness)")
    p.add_argument("--seeds", type=_positive, default=None, help="seeds per cell (default 10)")
    p.add_argument("--cells", nargs="+", default=None, metavar="CELL",
                   help="run only these cells, e.g. literal 'RMSprop'")
    _add_execution_args(p)
    p.set_defaults(func=cmd_robustness)

    p = sub.add_parser("publish", help="copy a finished reproduction's claims table and "
                       "figures into docs/ and the README")
    p.add_argument("out", help="the reproduce output directory, e.g. runs/reproduce")
    p.add_argument("--docs", default="docs")
    p.add_argument("--readme", default="README.md", help="README to update ('' to skip)")
    p.set_defaults(func=cmd_publish)

    p = sub.add_parser("bench", help="benchmark the fast engine against the naive loop")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=None)
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; known user errors become one line on stderr and exit status 2."""
    from smoothlearn.experiments import ConfigError

    known: tuple[type[BaseException], ...] = (ConfigError, FileNotFoundError)
    try:
        from smoothlearn.data import DataError

        known = (*known, DataError)
    except ImportError:  # pragma: no cover - data module always present in releases
        pass
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except known as err:
        print(f"smoothlearn: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("smoothlearn: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
