"""The ``smoothlearn`` command line.

Every user mistake (a bad value, path, file or combination, missing data) ends in one line on
stderr that names the culprit and the fix, exit status 2, no traceback; internal errors keep
theirs. Everything a command needs is checked before its first run starts, so a mistake
never costs a sweep.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np

if TYPE_CHECKING:
    from smoothlearn.sweep import Execution


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


def _count(minimum: int) -> Callable[[str], int]:
    """argparse type for counts: a whole number >= ``minimum``, else a one-line error."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(
                f"{value} must be at least 1" if minimum == 1 else f"{value} must be 0 or more")
        return value

    return parse


#: Seeds, steps, workers: at least 1. Offsets and display counts (--show, --seed): 0 or more.
_positive, _nonnegative = _count(1), _count(0)


# ---------------------------------------------------------------- user mistakes
class UsageError(Exception):
    """A user mistake the CLI finds itself: one line on stderr, exit status 2."""


def _one_line(err: BaseException) -> str:
    """A (possibly multi-line) library message as one line: what went wrong, then the fix."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    return lines[0] if len(lines) == 1 else f"{lines[0]} {lines[-1]}"


def _output_dir(path: Path, flag: str) -> Path:
    """Create ``path`` (with parents) or say in one line why it cannot hold results."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path}: exists and is not a directory; choose a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise UsageError(f"{flag} {path}: cannot create or write there "
                         f"({err.strerror or err}); choose another folder") from None
    return path


def _output_file(path: Path, flag: str) -> Path:
    """``path`` must be a file we can create: its folder exists and it is not a folder."""
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a directory; give a file name, e.g. {path}/out.csv")
    if not path.parent.is_dir():
        raise UsageError(f"{flag} {path}: folder {path.parent} does not exist; create it first")
    return path


def _use_data_dir(args: argparse.Namespace) -> None:
    """``--data-dir`` is the library's own setting (SMOOTHLEARN_DATA) for this invocation, so
    that worker processes see it too."""
    if getattr(args, "data_dir", None):
        folder = Path(args.data_dir)
        if not folder.is_dir():
            raise UsageError(f"--data-dir {folder}: no such directory; give the folder that "
                             "holds mnist/ and fashion-mnist/")
        os.environ["SMOOTHLEARN_DATA"] = str(folder.resolve())


def _check_data(datasets: Iterable[str]) -> None:
    """Every real dataset a plan needs is loadable, checked once before any run starts."""
    from smoothlearn import data

    for name in sorted(set(datasets)):
        if data.dataset_info(name).real:
            data.load_dataset(name)


def _check_scheduler(address: str) -> None:
    """A Dask scheduler that nobody answers at is found in 2 s, before any progress bar."""
    host, _, port = address.removeprefix("tcp://").rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--scheduler {address}: expected tcp://HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError as err:
        raise UsageError(f"--scheduler {address}: no Dask scheduler answers there "
                         f"({err.strerror or err}); start one or leave --scheduler out") from None


def _execution(args: argparse.Namespace) -> Execution:
    """The execution flags shared by run, reproduce and robustness, checked once."""
    from smoothlearn.sweep import Execution

    if args.scheduler:
        _check_scheduler(args.scheduler)
    return Execution(engine=args.engine, executor=args.executor, workers=args.workers,
                     scheduler=args.scheduler, quiet=args.quiet, device=args.device)


# ---------------------------------------------------------------- commands
def cmd_streams(args: argparse.Namespace) -> int:
    """Show what each smoothness condition does to one dataset: label runs, and for real
    inputs the mean cosine similarity of consecutive inputs (one axis for both kinds of
    smoothness). An ordered stream (e.g. moving-mnist) has one order: its own."""
    from smoothlearn import data, streams
    from smoothlearn.experiments import make_config
    from smoothlearn.runs import dataset_for

    try:  # every condition is checked before anything is printed
        conditions = [str(streams.parse_condition(c)) for c in args.conditions]
    except ValueError as err:
        raise UsageError(f"--conditions: {err}") from None
    inputs = None
    if args.dataset == "toy":
        labels = np.repeat(np.arange(4), [5, 6, 7, 8])
    else:
        given = data.dataset_info(args.dataset).ordered  # its order is the data
        ds = dataset_for(make_config(dataset=args.dataset,
                                     condition="given" if given else "random"))
        labels, inputs = ds.y_train, ds.X_train
        conditions = ["given"] if given else conditions
    print(f"{args.dataset}: {labels.size} items, {np.unique(labels).size} categories, "
          f"category order (seed {args.seed}): "
          f"{streams.category_order(labels, args.seed).tolist()}")
    header = (f"{'condition':<12} {'mean run':>9} {'same-pair':>10} {'input cos':>10} "
              f"{'1st class out':>14}  first labels")
    print(header)
    print("-" * len(header))
    for condition in conditions:
        order = streams.order(labels, condition, args.seed)
        seq = labels[order]
        m = streams.smoothness(seq, None if inputs is None else inputs[order])
        out_at = streams.first_exhaustion_step(labels, condition, args.seed)
        shown = "".join(str(int(c)) if c < 10 else "+" for c in seq[: args.show])
        print(f"{condition:<12} {m['mean_run_length']:>9.2f} {m['same_label_fraction']:>10.3f} "
              f"{m.get('input_cosine', float('nan')):>10.3f} {out_at:>14}  {shown}")
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


def _plan_line(configs: Sequence[Any], out: Path) -> str:
    """What ``run`` would train: counts by dataset and model, and what the store has."""
    from collections import Counter

    from smoothlearn import results

    done = 0
    if (out / results.MANIFEST).is_file() or (out / results.RUNS).is_dir():
        finished = set(results.status_table(out).query("status in @results.FINISHED")["run_id"])
        done = sum(c.run_id() in finished for c in configs)
    datasets = ", ".join(f"{n} {d}" for d, n in sorted(Counter(c.dataset for c in configs)
                                                      .items()))
    models = ", ".join(f"{n} {m}" for m, n in sorted(Counter(c.model for c in configs).items()))
    return (f"{len(configs)} runs ({datasets}; {models}); {done} already done in {out}; "
            "nothing trained (--dry-run)")


def cmd_run(args: argparse.Namespace) -> int:
    from smoothlearn import study
    from smoothlearn.sweep import run_sweep

    overrides = _overrides(args.set)
    if args.dataset:
        overrides["dataset"] = args.dataset
    if args.steps:
        overrides["steps"] = args.steps
    exp, configs, hypotheses = study.plan(args.experiment, args.seeds, overrides)
    execution = _execution(args)
    out = Path(args.out or Path("runs") / exp.name)
    if args.dry_run:
        print(_plan_line(configs, out))
        return 0
    _output_dir(out, "--out")
    _check_data(c.dataset for c in configs)
    if hypotheses is not None:  # declared before any run starts: pre-registration
        study.record(out, hypotheses)
    summary = run_sweep(configs, out, execution)
    print(summary.line())
    return 1 if summary.failed else 0


def cmd_results(args: argparse.Namespace) -> int:
    """Summary table (or CSV, or per-run status); unreadable files are named, exit 2."""
    import warnings

    from smoothlearn import results

    if args.status:
        table = results.status_table(args.directory)
        print(table.to_string(index=False, max_colwidth=80))
        return 0
    if args.csv:
        _output_file(Path(args.csv), "--csv")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", results.StoreWarning)
        frame = results.load(args.directory)
    if args.csv:
        frame.to_csv(args.csv, index=False)
        print(f"wrote {len(frame)} rows to {args.csv}")
    else:
        print(results.summary(frame).to_string())
    problems = [w.message for w in caught if isinstance(w.message, results.StoreWarning)]
    if problems:
        raise UsageError(f"{_one_line(problems[0])} (see `smoothlearn results "
                         f"{args.directory} --status`)")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Verdicts of a study's hypotheses on its store; claims.json and report.html there."""
    from smoothlearn import study

    result = study.check(args.directory, args.claims)
    print(study.verdict_table(result))
    if result.warning:
        print(f"smoothlearn check: warning: {result.warning}", file=sys.stderr)
    print(f"wrote {result.json_path} and {result.html_path}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    """0 when every experiment ran (or was skipped for missing MNIST), else 1."""
    from smoothlearn.reproduce import DEFAULT_OUT, ReproduceOptions, reproduce

    options = ReproduceOptions(
        out=Path(args.out or DEFAULT_OUT), quick=args.quick,
        experiments=tuple(args.only) if args.only else None,
        skip_models=tuple(args.skip_models or ()), robustness=args.robustness,
    )
    execution = _execution(args)
    _output_dir(options.out, "--out")
    done = reproduce(options, execution)
    print(f"report: {done.report}")
    if done.failed:
        print(f"failed experiments: {', '.join(done.failed)}")
    return 1 if done.failed else 0


def cmd_robustness(args: argparse.Namespace) -> int:
    """Run the sweep, print its summary and where the outputs are."""
    from smoothlearn.robustness import DEFAULT_OUT, RobustnessOptions, run

    options = RobustnessOptions(
        out=Path(args.out or DEFAULT_OUT), quick=args.quick, seeds=args.seeds,
        cells=tuple(args.cells) if args.cells else None,
    )
    execution = _execution(args)
    _output_dir(options.out, "--out")
    _check_data(["mnist"])
    res = run(options, execution)
    print(res.sweep.line())
    for line in res.summary:
        print(line.replace("**", ""))
    print(f"matrix: {res.png}\nclaims: {res.markdown}")
    return 0


def _is_checkout(folder: Path) -> bool:
    """The project's own checkout: publish writes its docs/ and README.md by default."""
    project = folder / "pyproject.toml"
    return project.is_file() and 'name = "smoothlearn"' in project.read_text()


def cmd_publish(args: argparse.Namespace) -> int:
    from smoothlearn.report.publish import publish

    out = Path(args.out)
    if not (out / "claims.json").is_file() and not (out / "landscape.json").is_file():
        raise UsageError(f"{out}: no claims.json or landscape.json here; give the folder of a "
                         "finished `smoothlearn reproduce --out DIR` or `smoothlearn landscape "
                         "--out DIR`")
    if (args.docs is None or args.readme is None) and not _is_checkout(Path.cwd()):
        raise UsageError("publish writes into docs/ and README.md of the smoothlearn checkout: "
                         "run it from the checkout, or give both --docs DIR and --readme FILE "
                         "('' to skip the README)")
    docs = _output_dir(Path(args.docs or "docs"), "--docs")
    readme = "README.md" if args.readme is None else args.readme
    written = publish(out, docs, Path(readme) if readme else None)
    print(f"wrote {len(written)} files: " + ", ".join(str(p) for p in written[-3:]))
    return 0


def cmd_landscape(args: argparse.Namespace) -> int:
    """Where smooth training helps: plan (and its projected cost), train, table, heatmaps."""
    from smoothlearn.landscape import DEFAULT_OUT, STICKY, LandscapeOptions, run

    options = LandscapeOptions(
        mode="quick" if args.quick else "full" if args.full else "default",
        out=Path(args.out or DEFAULT_OUT), seeds=args.seeds,
        datasets=tuple(args.dataset) if args.dataset else None,
        smoothness=STICKY if args.sticky else None,
        store=Path(args.store) if args.store else None, plan_only=args.plan)
    execution = _execution(args)
    if not options.plan_only:
        _output_dir(options.out, "--out")
    result = run(options, execution)
    if result.sweep is not None:
        print(result.sweep.line())
        for line in result.findings:
            print("- " + line.replace("**", ""))
        print(f"table: {result.files['csv']}\nlandscape: {result.files['markdown']}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from smoothlearn.bench import DEFAULT_OUT, run_benchmarks
    from smoothlearn.machine import cpu_info

    out = _output_dir(Path(args.out) if args.out else DEFAULT_OUT, "--out")
    print(cpu_info().line(), flush=True)
    res = run_benchmarks(args.quick, out)
    print(res.table)
    print(f"wrote {res.json_path} and {res.markdown_path}")
    return 0


# ---------------------------------------------------------------- parser
class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line naming the culprit (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _add_execution_args(p: argparse.ArgumentParser) -> None:
    """Where and how runs are trained: shared by run, reproduce and robustness."""
    p.add_argument("--engine", choices=["fast", "reference"], default="fast",
                   help="fast: the compiled engine (default); reference: the readable "
                        "PyTorch trainer, slow, for checking")
    p.add_argument("--executor", choices=["local", "dask"], default="local",
                   help="local: a process pool on this machine (default); dask: a Dask "
                        "cluster (local, or --scheduler)")
    p.add_argument("--workers", type=_positive, default=None,
                   help="worker processes (default: cores)")
    p.add_argument("--scheduler", default=None,
                   help="tcp://HOST:PORT of an existing Dask cluster (implies --executor dask)")
    p.add_argument("--device", default=None, metavar="DEVICE",
                   help="train every run as batched torch ensembles on this device: cuda, "
                        "cuda:N (a GPU) or cpu (default: the compiled CPU engine)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_data_dir(p)


def _add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="folder holding mnist/ and fashion-mnist/ (default: $SMOOTHLEARN_DATA, "
                        "then the user cache, then the mirrors)")


def _version() -> str:
    from smoothlearn import __version__

    return f"smoothlearn {__version__}"


def _streams_parser(sub: Any) -> None:
    p = sub.add_parser("streams", help="print orders and smoothness metrics of each condition")
    p.add_argument("--dataset", default="toy",
                   help="toy (26 labels), mnist, fashion-mnist, synthetic-categories, ...")
    p.add_argument("--seed", type=_nonnegative, default=0, help="order seed (default 0)")
    p.add_argument("--show", type=_nonnegative, default=40,
                   help="how many labels of each order to print (default 40)")
    p.add_argument("--conditions", nargs="+",
                   default=["random", "repeat-1", "repeat-3", "repeat-5", "sticky-0.8"],
                   help="random, repeat-N (N items of a category in a row) or sticky-P (stay "
                        "with probability P)")
    _add_data_dir(p)
    p.set_defaults(func=cmd_streams)


def _data_parser(sub: Any) -> None:
    from smoothlearn.data import REAL_DATASETS

    p = sub.add_parser("data", help="fetch datasets or show where they are")
    dsub = p.add_subparsers(dest="data_command", required=True, metavar="{fetch,info}")
    f = dsub.add_parser("fetch", help="download and verify a dataset into the cache")
    f.add_argument("name", choices=REAL_DATASETS, help="the dataset to fetch")
    _add_data_dir(f)
    i = dsub.add_parser("info", help="where each dataset is found, and whether it verifies")
    _add_data_dir(i)
    p.set_defaults(func=cmd_data)


def _run_parser(sub: Any) -> None:
    p = sub.add_parser("run", help="run a built-in experiment or a TOML file, resumably")
    p.add_argument("experiment", help="built-in name (see 'smoothlearn list') or path/to/exp.toml")
    p.add_argument("--dataset", default=None, help="override the dataset")
    p.add_argument("--seeds", type=_positive, default=None,
                   help="number of seeds (default: the paper's)")
    p.add_argument("--steps", type=_positive, default=None, help="truncate every run to N steps")
    p.add_argument("--out", default=None, help="output directory (default runs/EXPERIMENT)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set lr=0.005 (repeatable)")
    p.add_argument("--dry-run", action="store_true",
                   help="check every setting and print the plan; train nothing")
    _add_execution_args(p)
    p.set_defaults(func=cmd_run)


def _results_parser(sub: Any) -> None:
    p = sub.add_parser("results", help="summarise a results directory")
    p.add_argument("directory", help="a store written by run, reproduce or robustness")
    p.add_argument("--csv", default=None, help="export the tidy table to this CSV file")
    p.add_argument("--status", action="store_true",
                   help="list every run as done/diverged/failed/corrupt/missing with its error")
    p.set_defaults(func=cmd_results)


def _check_parser(sub: Any) -> None:
    p = sub.add_parser("check", help="judge a study's runs against its hypotheses ([[claims]]): "
                                     "verdicts, claims.json, report.html")
    p.add_argument("directory", help="a store written by 'smoothlearn run STUDY.toml'")
    p.add_argument("--claims", default=None, metavar="FILE",
                   help="a TOML with [[claims]] (default: those recorded by run)")
    p.set_defaults(func=cmd_check)


def _reproduce_parser(sub: Any) -> None:
    p = sub.add_parser("reproduce", help="run every experiment of the paper; figures, claims "
                       "table and report.html")
    p.add_argument("--quick", action="store_true",
                   help="a few minutes: fewer seeds and steps (see docs/report.md)")
    p.add_argument("--out", default=None, help="output directory (default runs/reproduce)")
    p.add_argument("--only", nargs="+", default=None, metavar="EXPERIMENT",
                   help="run only these built-in experiments")
    p.add_argument("--skip-models", nargs="+", default=None, metavar="MODEL",
                   help="leave out these models' runs, e.g. lstm")
    p.add_argument("--robustness", action=argparse.BooleanOptionalAction, default=None,
                   help="include the robustness sweep (default: in full runs, not in --quick)")
    _add_execution_args(p)
    p.set_defaults(func=cmd_reproduce)


def _robustness_parser(sub: Any) -> None:
    p = sub.add_parser("robustness", help="which claims hold under which of the paper's "
                       "unstated choices (matrix, claims.md)")
    p.add_argument("--quick", action="store_true", help="8 seeds, 8k steps: minutes, indicative")
    p.add_argument("--out", default=None, help="output directory (default runs/robustness)")
    p.add_argument("--seeds", type=_positive, default=None, help="seeds per cell (default 10)")
    p.add_argument("--cells", nargs="+", default=None, metavar="CELL",
                   help="run only these cells, e.g. literal 'RMSprop'")
    _add_execution_args(p)
    p.set_defaults(func=cmd_robustness)


def _publish_parser(sub: Any) -> None:
    p = sub.add_parser("publish", help="copy a finished reproduction's claims table and "
                       "figures (or a finished landscape) into docs/ and the README")
    p.add_argument("out", help="the reproduce or landscape output directory, e.g. "
                   "runs/reproduce or runs/landscape")
    p.add_argument("--docs", default=None,
                   help="docs folder to write (default: docs/ of the checkout you are in)")
    p.add_argument("--readme", default=None,
                   help="README to update (default: README.md of the checkout; '' to skip)")
    p.set_defaults(func=cmd_publish)


def _bench_parser(sub: Any) -> None:
    p = sub.add_parser("bench", help="benchmark the fast trainers against their naive baselines")
    p.add_argument("--quick", action="store_true", help="fewer steps and repeats (indicative)")
    p.add_argument("--out", default=None, help="folder for bench_engine.json/.md "
                   "(default runs/bench)")
    p.set_defaults(func=cmd_bench)


def _landscape_parser(sub: Any) -> None:
    p = sub.add_parser("landscape", help="where smooth training helps: leak x smoothness "
                       "heatmaps per reset rule, rate and dataset (landscape.md)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true",
                      help="MNIST, lr 0.01, 5 seeds, 6k steps: minutes, indicative")
    size.add_argument("--full", action="store_true",
                      help="every axis (~24k runs, hours): meant for a Dask cluster")
    p.add_argument("--out", default=None, help="output directory (default runs/landscape)")
    p.add_argument("--dataset", nargs="+", default=None, help="e.g. mnist fashion-mnist")
    p.add_argument("--seeds", type=_positive, default=None, help="seeds per cell (default 12)")
    p.add_argument("--sticky", action="store_true",
                   help="smoothness axis sticky-P (by mean run length), not repeat-N")
    p.add_argument("--store", default=None, help="sweep store to reuse (default OUT/store)")
    p.add_argument("--plan", action="store_true", help="print the projected cost and stop")
    _add_execution_args(p)
    p.set_defaults(func=cmd_landscape)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="smoothlearn",
        description="Learning from temporally smooth data streams (reproduction toolkit).",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    for add in (_streams_parser, _data_parser, _list_parser, _run_parser, _results_parser,
                _check_parser, _reproduce_parser, _robustness_parser, _landscape_parser,
                _publish_parser, _bench_parser):
        add(sub)
    return parser


def _list_parser(sub: Any) -> None:
    p = sub.add_parser("list", help="list the built-in experiments")
    p.set_defaults(func=cmd_list)


def _quiet_broken_pipe() -> int:
    """``smoothlearn results DIR | head``: the reader left; stop quietly (Python's advice)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: user mistakes are one line on stderr and exit status 2; internal errors
    keep their traceback."""
    from smoothlearn.data import DataError
    from smoothlearn.experiments import ConfigError
    from smoothlearn.kernel_choice import EvalKernelError, forced_eval_kernel
    from smoothlearn.results import NoFinishedRuns

    args = build_parser().parse_args(argv)
    try:
        _use_data_dir(args)
        forced_eval_kernel()  # a mistyped SMOOTHLEARN_EVAL_KERNEL stops before any work
        return int(args.func(args) or 0)
    except (UsageError, ConfigError, DataError, NoFinishedRuns, EvalKernelError,
            FileNotFoundError, NotADirectoryError, IsADirectoryError) as err:
        print(f"smoothlearn {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except KeyboardInterrupt:
        print("smoothlearn: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
