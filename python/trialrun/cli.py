"""The `trialrun` command.

    trialrun run [--junit PATH] FILE.py   run the suites FILE.py defines (it calls run_test_suite)
    trialrun demo                         run the built-in demo on the embedded defaults
    trialrun runs [--suite ID]            list stored runs
    trialrun show [RUN]                   one run's cases and evaluations, failures first
    trialrun compare [BASE] [HEAD]        compare two runs by test-case hash
    trialrun export [RUN] --format F      json, csv, junit or a standalone html report
    trialrun gc --keep N                  delete old runs
    trialrun ui [--port N]                the local web viewer on 127.0.0.1

Exit codes: 0 every suite passed (compare: no regression), 1 an evaluation failed or
errored, fn raised, or (compare) a case regressed; 2 usage, validation or lookup error;
130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import sys
import traceback
from typing import List, Optional

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trialrun", description="A test engine for AI agents.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run the suites a Python file defines")
    run.add_argument("file", help="a Python file that calls run_test_suite (run as __main__); options go before it")
    run.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed on to FILE")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summaries")
    run.add_argument("--junit", metavar="PATH", help="also write JUnit XML of the runs to PATH")

    demo = sub.add_parser("demo", help="run the built-in demo (no API keys, no network)")
    demo.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summaries")

    runs = sub.add_parser("runs", help="list stored runs, newest first")
    runs.add_argument("--suite", help="only this suite's runs")
    runs.add_argument("--limit", type=int, default=20, help="how many (default 20)")

    show = sub.add_parser("show", help="one run's cases and evaluations, failures first")
    show.add_argument("run", nargs="?", default="latest", help="run id, unique prefix, or latest")
    show.add_argument("--suite", help="resolve 'latest' within this suite")

    compare = sub.add_parser(
        "compare", help="compare two runs by test-case hash (default: the previous run against the latest)"
    )
    compare.add_argument("base", nargs="?", help="base run (default: the run before HEAD)")
    compare.add_argument("head", nargs="?", help="head run (default: latest)")
    compare.add_argument("--suite", help="resolve defaults within this suite")
    compare.add_argument(
        "--max-score-drop", type=float, metavar="X", help="also a regression: any score dropping by more than X"
    )
    compare.add_argument("--removed", action="store_true", help="also a regression: a case missing from HEAD")
    compare.add_argument(
        "--ignore-newly-failing", action="store_true", help="a newly failing evaluation is not a regression"
    )
    compare.add_argument("--ignore-errors", action="store_true", help="fn newly raising is not a regression")
    compare.add_argument("--json", action="store_true", help="print the comparison as JSON")
    compare.add_argument("--html", metavar="PATH", help="also write a standalone HTML report to PATH")

    export = sub.add_parser("export", help="write a run as json, csv, junit XML or a standalone html report")
    export.add_argument("run", nargs="?", default="latest", help="run id, unique prefix, or latest")
    export.add_argument("--format", choices=["json", "csv", "junit", "html"], default="json")
    export.add_argument("-o", "--output", metavar="PATH", help="file to write (default: stdout)")
    export.add_argument("--suite", help="resolve 'latest' within this suite")

    gc = sub.add_parser("gc", help="delete all but the newest N runs of each suite and grid combination")
    gc.add_argument("--keep", type=int, required=True, metavar="N")

    ui = sub.add_parser("ui", help="serve the local web viewer on 127.0.0.1 until Ctrl-C")
    ui.add_argument("--port", type=int, default=8321, help="port on 127.0.0.1 (default 8321; 0: any free port)")
    ui.add_argument("--no-browser", action="store_true", help="do not open a browser")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.version:
        from trialrun import __version__

        print(f"trialrun {__version__}")
        return EXIT_PASSED
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    # Summaries print whether or not stdout is a terminal (CI logs want them).
    os.environ["TRIALRUN_QUIET"] = "1" if getattr(args, "quiet", False) else "0"
    if args.command == "run":
        return _run_file(args.file, args.args, args.junit)
    if args.command == "demo":
        from trialrun import demo

        return demo.main()
    from trialrun import _core

    try:
        return _HISTORY_COMMANDS[args.command](args)
    except (LookupError, _core.StoreError, ValueError, OSError) as e:
        print(f"trialrun: error: {e}", file=sys.stderr)
        return EXIT_USAGE


def _runs(args: argparse.Namespace) -> int:
    from trialrun import history

    print(history.runs(args.suite, args.limit).text(), end="")
    return EXIT_PASSED


def _show(args: argparse.Namespace) -> int:
    from trialrun import history

    print(history.run(args.run, args.suite).text(), end="")
    return EXIT_PASSED


def _compare(args: argparse.Namespace) -> int:
    from trialrun import history

    comparison = history.compare(args.base, args.head, suite=args.suite)
    policy = dict(
        newly_failing=not args.ignore_newly_failing,
        newly_errored=not args.ignore_errors,
        max_score_drop=args.max_score_drop,
        removed_cases=args.removed,
    )
    if args.json:
        doc = comparison.to_dict()
        doc["regressions"] = comparison.regressions(**policy)
        print(json.dumps(doc, indent=2))
    else:
        print(comparison.text(**policy), end="")
    if args.html:
        _write(args.html, comparison.html())
    return EXIT_FAILED if comparison.regressions(**policy) else EXIT_PASSED


def _export(args: argparse.Namespace) -> int:
    from trialrun import history

    run = history.run(args.run, args.suite)
    render = {"json": run.to_json, "csv": run.to_csv, "junit": run.junit_xml, "html": run.html}[args.format]
    text = render()
    if args.output:
        _write(args.output, text)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return EXIT_PASSED


def _gc(args: argparse.Namespace) -> int:
    from trialrun import history

    deleted = history.gc(args.keep)
    print(f"deleted {deleted} run{'' if deleted == 1 else 's'}")
    return EXIT_PASSED


def _ui(args: argparse.Namespace) -> int:
    import time
    import webbrowser

    from trialrun._core import Viewer

    with Viewer(port=args.port) as viewer:
        print(f"trialrun viewer on {viewer.url} (Ctrl-C to stop)", flush=True)
        if not args.no_browser:
            webbrowser.open(viewer.url)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return EXIT_PASSED


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


_HISTORY_COMMANDS = {"runs": _runs, "show": _show, "compare": _compare, "export": _export, "gc": _gc, "ui": _ui}


def _run_file(path: str, file_args: List[str], junit: Optional[str] = None) -> int:
    from trialrun import SuiteValidationError
    from trialrun._run import collect_results

    if not os.path.isfile(path):
        print(f"trialrun: error: {path}: no such file", file=sys.stderr)
        return EXIT_USAGE
    sys.argv = [path, *file_args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    with collect_results() as results:
        try:
            runpy.run_path(path, run_name="__main__")
        except SuiteValidationError as e:
            print(f"trialrun: error: {path}: {e}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED
        except SystemExit as e:
            if e.code not in (None, 0):
                return e.code if isinstance(e.code, int) else EXIT_USAGE
        except BaseException:
            traceback.print_exc()
            print(f"trialrun: error: {path} raised before its suites finished", file=sys.stderr)
            return EXIT_USAGE
    if junit and results:
        from trialrun.history import _junit

        _write(junit, _junit(results))
    return exit_code(results, path)


def exit_code(results: list, path: str) -> int:
    if not results:
        print(f"trialrun: error: {path} ran no suite (it must call run_test_suite)", file=sys.stderr)
        return EXIT_USAGE
    if any(r.status == "interrupted" for r in results):
        return EXIT_INTERRUPTED
    return EXIT_PASSED if all(r.passed for r in results) else EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
