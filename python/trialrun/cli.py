"""The `trialrun` command.

    trialrun run FILE.py    run the suites FILE.py defines (it calls run_test_suite)
    trialrun demo           run the built-in demo on the embedded defaults

Exit codes: 0 every suite passed, 1 an evaluation failed or errored (or fn raised),
2 usage or validation error, 130 interrupted.
"""

from __future__ import annotations

import argparse
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
    run.add_argument("file", help="a Python file that calls run_test_suite (run as __main__)")
    run.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed on to FILE")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summaries")
    demo = sub.add_parser("demo", help="run the built-in demo (no API keys, no network)")
    demo.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summaries")
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
    os.environ["TRIALRUN_QUIET"] = "1" if args.quiet else "0"
    if args.command == "run":
        return _run_file(args.file, args.args)
    if args.command == "demo":
        from trialrun import demo

        return demo.main()
    parser.error(f"unknown command {args.command!r}")
    return EXIT_USAGE


def _run_file(path: str, file_args: List[str]) -> int:
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
