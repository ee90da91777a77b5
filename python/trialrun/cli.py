"""The `trialrun` command.

    trialrun run [--junit PATH] [--shard I/N] [--resume] [--cache] FILE.py [ARGS | -- ARGS]
                                          run the suites FILE.py defines (it calls run_test_suite)
    trialrun rescore RUN FILE.py          judge RUN's stored outputs with FILE.py's evaluators
    trialrun cache [clear] [--suite ID]   the cached fn outputs: sizes, or delete them
    trialrun demo                         run the built-in demo on the embedded defaults
    trialrun steps PATH/e2e.py [--reset]  run a step sequence (e2e.py calls TestRunner.run)
    trialrun runs [--suite ID]            list stored runs
    trialrun show [RUN]                   one run's cases and evaluations, failures first
    trialrun compare [BASE] [HEAD]        compare two runs by test-case hash
    trialrun review [RUN] [CASE --grade G] a run's human review queue; grade a case
    trialrun export [RUN] --format F      json, csv, junit or a standalone html report
    trialrun gc --keep N [--dry-run]      delete old runs (or list what would go)
    trialrun merge SOURCE...              make a suite's shards (stores, exports) one run
    trialrun ui [--port N]                the local web viewer on 127.0.0.1

Exit codes: 0 every suite passed (compare: no regression), 1 an evaluation failed or
errored, fn raised, (compare) a case regressed, or (steps) a step failed or errored; 2
usage, validation or lookup error, or (steps) a config or data error; 3 (steps) a worker
failed to start or died; 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import signal
import sys
import traceback
from typing import NoReturn

from trialrun._exit_codes import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_PASSED,
    EXIT_USAGE,
    EXIT_WORKER,  # noqa: F401  (kept as cli.EXIT_WORKER: `trialrun steps` exits with it)
)


class _Parser(argparse.ArgumentParser):
    """argparse with a "did you mean" for mistyped commands, options and choices."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        hint = _did_you_mean(self, message)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}{hint}\n")


def _did_you_mean(parser: argparse.ArgumentParser, message: str) -> str:
    """' (did you mean X?)' for the first unknown word in an argparse message, if one is close."""
    import difflib
    import re

    candidates: list[str] = []
    for action in parser._actions:
        candidates.extend(action.option_strings)
        if action.choices:
            candidates.extend(str(c) for c in action.choices)
    for word in re.findall(r"'([^']+)'|(-{1,2}[\w-]+)", message):
        typed = (word[0] or word[1]).split("=", 1)[0]
        if typed in candidates:
            continue
        close = difflib.get_close_matches(typed, candidates, n=1, cutoff=0.6)
        if close:
            return f" (did you mean {close[0]}?)"
    return ""


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="trialrun", description="A test engine for AI agents.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = sub.add_parser("run", help="run the suites a Python file defines")
    run.add_argument(
        "file",
        help="a Python file that calls run_test_suite (run as __main__); options go before it",
    )
    run.add_argument(
        "args",
        nargs=argparse.REMAINDER,
        help="arguments passed on to FILE; trialrun run's own options there are refused, "
        "so pass such a name to FILE after --",
    )
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summaries")
    run.add_argument("--junit", metavar="PATH", help="also write JUnit XML of the runs to PATH")
    run.add_argument(
        "--suite",
        action="append",
        metavar="TEXT",
        help="run only suites whose id contains TEXT (repeatable; sets TRIALRUN_SUITES)",
    )
    run.add_argument(
        "--shard",
        metavar="I/N",
        help="run part I of N of each suite's cases (sets TRIALRUN_SHARD); "
        "`trialrun merge` makes the parts one run",
    )
    run.add_argument(
        "--resume",
        action="store_true",
        help="continue each suite's latest run where it did not complete: finished cases "
        "are kept, the rest run (sets TRIALRUN_RESUME)",
    )
    run.add_argument(
        "--cache",
        action="store_true",
        help="take fn's outputs from the cache when the same fn already ran a case, and "
        "cache new ones (sets TRIALRUN_CACHE; `trialrun cache clear` empties it)",
    )

    rescore = sub.add_parser(
        "rescore",
        help="judge a stored run's outputs again with the evaluators FILE.py now defines "
        "(fn is not called)",
    )
    rescore.add_argument("run", help="run id, unique prefix, or latest")
    rescore.add_argument(
        "file", help="the Python file that runs the run's suite (run_test_suite), run as __main__"
    )
    rescore.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summaries")

    cache = sub.add_parser("cache", help="the cache of fn's outputs: sizes per suite, or clear")
    cache.add_argument(
        "action",
        nargs="?",
        choices=["list", "clear"],
        default="list",
        help="list: outputs and size per suite (the default); clear: delete them",
    )
    cache.add_argument("--suite", help="only this suite's cached outputs")

    demo = sub.add_parser("demo", help="run the built-in demo (no API keys, no network)")
    demo.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summaries")

    steps = sub.add_parser(
        "steps", help="run a step sequence (an e2e.py that calls TestRunner.run)"
    )
    steps.add_argument(
        "file", help="the sequence's script, e.g. tests/e2e.py (run as __main__, in its package)"
    )
    steps.add_argument(
        "--reset", action="store_true", help="clear the saved state and reload the data first"
    )
    steps.add_argument(
        "--from", dest="from_step", metavar="STEP", help="start at STEP in the current round"
    )
    steps.add_argument("--only", nargs="+", metavar="STEP", help="run only these steps")
    steps.add_argument("--junit", metavar="PATH", help="also write JUnit XML of the run to PATH")
    steps.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")

    runs = sub.add_parser("runs", help="list stored runs, newest first")
    runs.add_argument("--suite", help="only this suite's runs")
    runs.add_argument("--limit", type=int, default=20, help="how many (default 20)")

    show = sub.add_parser("show", help="one run's cases and evaluations, failures first")
    show.add_argument("run", nargs="?", default="latest", help="run id, unique prefix, or latest")
    show.add_argument("--suite", help="resolve 'latest' within this suite")

    compare = sub.add_parser(
        "compare",
        help="compare two runs by test-case hash (default: the previous run against the latest)",
    )
    compare.add_argument(
        "base",
        nargs="?",
        help="base run, or a run exported as JSON (default: the run before HEAD)",
    )
    compare.add_argument(
        "head", nargs="?", help="head run, or a run exported as JSON (default: latest)"
    )
    compare.add_argument("--suite", help="resolve defaults within this suite")
    compare.add_argument(
        "--max-score-drop",
        type=float,
        metavar="X",
        help="also a regression: any score dropping by more than X",
    )
    compare.add_argument(
        "--removed", action="store_true", help="also a regression: a case missing from HEAD"
    )
    compare.add_argument(
        "--ignore-newly-failing",
        action="store_true",
        help="a newly failing evaluation is not a regression",
    )
    compare.add_argument(
        "--ignore-errors", action="store_true", help="fn newly raising is not a regression"
    )
    compare.add_argument(
        "--alpha",
        type=float,
        default=0.05,
        metavar="P",
        help="with repeated trials: a case's pass-rate drop is a regression when a one-sided "
        "Fisher exact test gives p < P (default 0.05)",
    )
    compare.add_argument("--json", action="store_true", help="print the comparison as JSON")
    compare.add_argument(
        "--html", metavar="PATH", help="also write a standalone HTML report to PATH"
    )

    review = sub.add_parser(
        "review",
        help="a run's human review queue (fields and grades); with CASE and --grade, grade it",
    )
    review.add_argument("run", nargs="?", default="latest", help="run id, unique prefix, or latest")
    review.add_argument("case", nargs="?", help="the hash of the case to grade")
    review.add_argument("--grade", choices=["pass", "fail"], help="the case's grade")
    review.add_argument("--score", type=float, help="an optional score from 0 to 1")
    review.add_argument("--note", help="an optional note")

    export = sub.add_parser(
        "export", help="write a run as json, csv, junit XML or a standalone html report"
    )
    export.add_argument("run", nargs="?", default="latest", help="run id, unique prefix, or latest")
    export.add_argument(
        "--format",
        choices=["json", "csv", "junit", "html"],
        default="json",
        help="json (default), csv, junit XML or a standalone html report",
    )
    export.add_argument("-o", "--output", metavar="PATH", help="file to write (default: stdout)")
    export.add_argument("--suite", help="resolve 'latest' within this suite")

    gc = sub.add_parser(
        "gc", help="delete all but the newest N runs of each suite and grid combination"
    )
    gc.add_argument(
        "--keep", type=int, required=True, metavar="N", help="how many runs of each to keep"
    )
    gc.add_argument(
        "--dry-run", action="store_true", help="list the runs that would be deleted; delete none"
    )

    merge = sub.add_parser(
        "merge",
        help="make the shards of each suite (run with --shard, from stores or JSON exports) "
        "one run per suite and grid combination",
    )
    merge.add_argument(
        "sources",
        nargs="+",
        metavar="SOURCE",
        help="a run store (.trialrun/trialrun.db) or a run exported with `trialrun export`",
    )
    merge.add_argument(
        "--into",
        metavar="STORE",
        help="the run store to write the merged runs to (default: this folder's store)",
    )
    merge.add_argument(
        "--allow-mixed-commits",
        action="store_true",
        help="merge shards that ran at different git commits",
    )

    ui = sub.add_parser("ui", help="serve the local web viewer on 127.0.0.1 until Ctrl-C")
    ui.add_argument(
        "--port", type=int, default=8321, help="port on 127.0.0.1 (default 8321; 0: any free port)"
    )
    ui.add_argument("--no-browser", action="store_true", help="do not open a browser")
    serve = sub.add_parser(
        "serve",
        help="run the call server: answer every inbound call, log its events, record it (until Ctrl-C)",
    )
    serve.add_argument(
        "--port", type=int, default=8765, help="port to listen on (default 8765; 0: any free port)"
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.add_argument(
        "--public-url", help="base URL Twilio reaches this server by (e.g. an https tunnel)"
    )
    serve.add_argument(
        "--record", metavar="DIR", help="write each call's two-channel WAV recording here"
    )
    serve.add_argument(
        "--no-signature-check",
        action="store_true",
        help="accept unsigned webhooks (local experiments only; otherwise TWILIO_AUTH_TOKEN is needed)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # Named by the subcommand's own usage, so the options it does take are shown.
        where = _subparser(parser, args.command) if args.command else parser
        where.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command == "run":
        raw = list(sys.argv[1:] if argv is None else argv)
        args.args = _script_args(parser, args.file, args.args, raw)
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
        if args.suite:
            os.environ["TRIALRUN_SUITES"] = json.dumps(args.suite)
        if args.shard is not None:
            from trialrun import _core, _selection

            try:
                i, n = _selection.shard(args.shard)  # type: ignore[misc]
            except _core.SuiteValidationError as error:
                _subparser(parser, "run").error(f"--shard: {error}")
            os.environ[_selection.SHARD_VAR] = f"{i}/{n}"
        if args.resume:
            os.environ["TRIALRUN_RESUME"] = "1"
        if args.cache:
            os.environ["TRIALRUN_CACHE"] = "1"
        return _run_file(args.file, args.args, args.junit)
    if args.command == "rescore":
        return _rescore(args)

    if args.command == "steps":
        return _run_steps(args)
    if args.command == "serve":
        return _serve(args)
    if args.command == "demo":
        from trialrun import demo

        return demo.main()
    from trialrun import _core

    try:
        handler = _cache if args.command == "cache" else _HISTORY_COMMANDS[args.command]
        return handler(args)
    except (LookupError, _core.StoreError, ValueError, OSError) as e:
        print(f"trialrun: error: {e}", file=sys.stderr)
        return EXIT_USAGE


# trialrun run's own options: after FILE they would silently reach the script instead.
_RUN_OPTIONS = ("-q", "--quiet", "--junit", "--suite", "--shard", "--resume", "--cache")


def _script_args(
    parser: argparse.ArgumentParser, file: str, args: list[str], raw: list[str]
) -> list[str]:
    """The arguments for FILE: everything after it, but a name of trialrun run's own options
    is refused (it would silently not apply); what follows `--` passes as it is."""
    verbatim: list[str] = []
    if "--" in raw:
        # argparse drops a leading `--` from the remainder in some Python versions and keeps
        # it in others: what follows the first `--` on the command line is taken as given.
        tail = raw[raw.index("--") + 1 :]
        if len(tail) <= len(args) and args[len(args) - len(tail) :] == tail:
            verbatim, args = tail, args[: len(args) - len(tail)]
            if args and args[-1] == "--":
                args = args[:-1]
    for arg in args:
        name = arg.split("=", 1)[0]
        if name in _RUN_OPTIONS:
            value = "" if name in ("-q", "--quiet") or "=" in arg else " VALUE"
            _subparser(parser, "run").error(
                f"{name} comes after {file}, so it would go to {file}, not to trialrun: "
                f"put it before FILE (trialrun run {arg}{value} {file}), or, if {file} takes "
                f"{name} itself, pass it after -- (trialrun run {file} -- {arg})"
            )
    return args + verbatim


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    raise LookupError(name)


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
        alpha=args.alpha,
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
    render = {"json": run.to_json, "csv": run.to_csv, "junit": run.junit_xml, "html": run.html}[
        args.format
    ]
    text = render()
    if args.output:
        _write(args.output, text)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return EXIT_PASSED


def _gc(args: argparse.Namespace) -> int:
    from trialrun import history

    if args.dry_run:
        from trialrun import _core

        if args.keep < 0:
            raise ValueError(f"keep must be >= 0, got {args.keep}")
        old = _core.old_runs(args.keep)
        for run_id in old:
            print(run_id)
        print(
            f"would delete {len(old)} run{'' if len(old) == 1 else 's'} (dry run: nothing deleted)"
        )
        return EXIT_PASSED
    deleted = history.gc(args.keep)
    print(f"deleted {deleted} run{'' if deleted == 1 else 's'}")
    return EXIT_PASSED


def _merge(args: argparse.Namespace) -> int:
    from trialrun import _core

    merged = _core.merge_shards(
        args.sources, args.into, allow_mixed_commits=args.allow_mixed_commits
    )
    for run in merged:
        grid = f" grid {run['grid']}" if run["grid"] else ""
        print(
            f"{run['run_id']}  {run['suite_id']}{grid}: {run['shards']} shards, "
            f"{run['cases']} cases, {run['status']}"
        )
    print(f"merged into {len(merged)} run{'' if len(merged) == 1 else 's'}")
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


def _serve(args: argparse.Namespace) -> int:
    import asyncio

    from trialrun.telephony import CallServer

    async def log_call(call) -> None:
        async for event in call:
            if event.kind == "audio":
                continue
            if event.kind == "ended":
                where = f", recording {event.recording_path}" if event.recording_path else ""
                detail = f" ({event.detail})" if event.detail else ""
                print(
                    f"[{call.id[:8]}] ended: {event.reason}{detail} after {event.duration_ms / 1000:.1f} s{where}",
                    flush=True,
                )
            else:
                print(
                    f"[{call.id[:8]}] {event.kind}: {event.status or event.call_sid or event.name or event.digit or ''}",
                    flush=True,
                )

    async def serve() -> None:
        with CallServer(
            host=args.host,
            port=args.port,
            public_url=args.public_url,
            validate_signatures=not args.no_signature_check,
            recordings_dir=args.record,
        ) as server:
            print(
                f"trialrun call server: voice webhook {server.inbound_voice_url} (Ctrl-C to stop)",
                flush=True,
            )
            tasks = set()
            while True:
                # One inbound call is always expected; once it arrives, it is logged in the
                # background and the next one is expected.
                call = server.expect_call()
                first = await call.next_event()
                if first is None:
                    continue
                print(
                    f"[{call.id[:8]}] {first.kind}: {first.call_sid or first.status or ''}",
                    flush=True,
                )
                task = asyncio.ensure_future(log_call(call))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    except ValueError as e:
        print(f"trialrun: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    # The server has stopped and every line is flushed. Exit now rather than finalize the
    # interpreter while the call runtime's threads still hand back events of calls that
    # ended at Ctrl-C: that race aborted the process (SIGABRT) now and then.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_PASSED)


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _review(args: argparse.Namespace) -> int:
    from trialrun import _core, _review, history

    if args.case is None:
        if args.grade or args.score is not None or args.note is not None:
            raise ValueError("name the case to grade: trialrun review RUN CASE --grade pass|fail")
        print(_review.queue_text(history.run(args.run)), end="")
        return EXIT_PASSED
    if args.grade is None:
        raise ValueError(f"say how case {args.case!r} fares: --grade pass or --grade fail")
    _core.grade_case(args.run, args.case, args.grade, args.score, args.note)
    print(f"graded case {args.case}: {args.grade}")
    return EXIT_PASSED


_HISTORY_COMMANDS = {
    "runs": _runs,
    "review": _review,
    "show": _show,
    "compare": _compare,
    "export": _export,
    "gc": _gc,
    "merge": _merge,
    "ui": _ui,
}


def _run_script(run, usage_error: type, describe, raised: str) -> int | None:
    """Runs a user's script; the exit code when it stopped early (its own usage error, Ctrl-C,
    sys.exit with a code, an exception), None when it ran to its end."""
    try:
        run()
    except usage_error as e:
        print(f"trialrun: error: {describe(e)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except SystemExit as e:
        if e.code not in (None, 0):
            return e.code if isinstance(e.code, int) else EXIT_USAGE
    except BaseException:
        traceback.print_exc()
        print(f"trialrun: error: {raised}", file=sys.stderr)
        return EXIT_USAGE
    return None


def _rescore(args: argparse.Namespace) -> int:
    """Runs FILE.py with the run's suite judging the run's stored outputs (other suites
    are skipped)."""
    from trialrun import _core, _stored

    try:
        context = _stored.rescoring(args.run)
        with context:
            return _run_file(args.file, [])
    except (LookupError, _core.StoreError) as e:
        print(f"trialrun: error: {e}", file=sys.stderr)
        return EXIT_USAGE


def _cache(args: argparse.Namespace) -> int:
    from trialrun import _core

    if args.action == "clear":
        n = _core.clear_cache(args.suite)
        which = f"suite {args.suite}" if args.suite else "every suite"
        print(f"deleted {n} cached outputs of {which}")
        return EXIT_PASSED
    sizes = [row for row in _core.cache_sizes() if args.suite in (None, row[0])]
    if not sizes:
        print("no cached outputs")
    for suite, count, size in sizes:
        print(f"{suite}: {count} outputs, {size / 1e6:.1f} MB")
    return EXIT_PASSED


def _run_file(path: str, file_args: list[str], junit: str | None = None) -> int:
    from trialrun._run import collect_results

    if not os.path.isfile(path):
        print(f"trialrun: error: {path}: no such file", file=sys.stderr)
        return EXIT_USAGE
    sys.argv = [path, *file_args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    # SIGTERM (CI timeouts, docker stop) stops the suites as Ctrl-C does: what finished is
    # kept and the runs are recorded as interrupted.
    previous = signal.signal(signal.SIGTERM, _as_ctrl_c)
    try:
        with collect_results() as results:
            failed = _run_suites(path)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if failed is not None:
        return failed
    if junit and results:
        from trialrun.history import _junit

        _write(junit, _junit(results))
    return exit_code(results, path)


def _run_suites(path: str) -> int | None:
    from trialrun import SuiteValidationError

    return _run_script(
        lambda: runpy.run_path(path, run_name="__main__"),
        SuiteValidationError,
        lambda e: f"{path}: {e}",
        f"{path} raised before its suites finished",
    )


def _as_ctrl_c(signum: int, frame: object) -> None:
    """A SIGTERM handler: the process gets a SIGINT, handled as Ctrl-C wherever it lands
    (asyncio's runner cancels the suite; elsewhere KeyboardInterrupt). A process started
    in the background by a shell ignores SIGINT, so there SIGTERM raises KeyboardInterrupt
    itself, which interrupts the suite where it lands."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        raise KeyboardInterrupt()
    os.kill(os.getpid(), signal.SIGINT)


def _run_steps(args: argparse.Namespace) -> int:
    """Runs e2e.py as __main__ inside its package (so `from .steps import steps` works),
    with --reset/--from/--only applied to the TestRunner.run() calls it makes."""

    from trialrun import steps as steps_module
    from trialrun.steps import runner as steps_runner

    path = os.path.abspath(args.file)
    if not os.path.isfile(path):
        print(f"trialrun: error: {args.file}: no such file", file=sys.stderr)
        return EXIT_USAGE
    options = {
        "reset": args.reset,
        "from_step": args.from_step,
        "only": args.only or [],
        "results": [],
    }
    steps_runner._cli = options
    sys.argv = [path]
    # A SIGTERM to trialrun stops the workers too, as Ctrl-C does.
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)

    def run() -> None:
        module, root = _module_name(path)
        sys.path.insert(0, root)
        if module:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(path, run_name="__main__")

    try:
        failed = _run_script(
            run,
            steps_module.StepsConfigError,
            str,
            f"{args.file} raised before its sequence finished",
        )
        if failed is not None:
            return failed
    finally:
        steps_runner._cli = None
        signal.signal(signal.SIGTERM, previous)
    results = options["results"]
    if not results:
        print(
            f"trialrun: error: {args.file} ran no step sequence (it must call TestRunner.run)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.junit:
        from trialrun import _core

        _write(args.junit, _core.junit_for_runs([r.run_id for r in results if r.run_id]))
    return next((r.exit_code for r in results if r.exit_code != EXIT_PASSED), EXIT_PASSED)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt()


def _module_name(path: str) -> tuple:
    """(dotted module name, folder to import it from) for a file inside packages
    (folders with __init__.py); ("", its folder) for a lone script."""
    folder, name = os.path.split(path)
    parts = [os.path.splitext(name)[0]]
    while os.path.isfile(os.path.join(folder, "__init__.py")):
        folder, package = os.path.split(folder)
        parts.insert(0, package)
    if len(parts) == 1:
        return "", folder
    return ".".join(parts), folder


def exit_code(results: list, path: str) -> int:
    if not results:
        print(
            f"trialrun: error: {path} ran no suite (it must call run_test_suite)", file=sys.stderr
        )
        return EXIT_USAGE
    if all(r.status == "skipped" for r in results):
        print(
            f"trialrun: error: {path} ran no suite: the suite filters skipped every one "
            f"({results[0].skip_reason})",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if any(r.status == "interrupted" for r in results):
        return EXIT_INTERRUPTED
    return EXIT_PASSED if all(r.passed for r in results) else EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
