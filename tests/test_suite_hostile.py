"""Hostile and unlucky suite input that used to kill the process or corrupt the store
(issue 17): self-referential and exponentially shared outputs, grids too big to build,
strings with no UTF-8 form."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest

from trialrun import (
    BaseTestCase,
    BaseTestEvaluator,
    Evaluation,
    SuiteValidationError,
    run_test_suite,
)


@dataclasses.dataclass
class Case(BaseTestCase):
    name: str

    def hash(self) -> str:
        return self.name


@dataclasses.dataclass
class Message:
    text: str
    conversation: Conversation | None = None


@dataclasses.dataclass
class Conversation:
    messages: list


def self_referential(case):
    a = []
    a.append(a)
    a.append(a)
    return a


def conversation(case):
    talk = Conversation(messages=[])
    talk.messages.append(Message("hi", talk))
    talk.messages.append(Message("bye", talk))
    return talk


def shared_twice_per_level(case):
    # no cycle, but 2**40 paths: written naively it never ends
    node: list = []
    for _ in range(40):
        node = [node, node]
    return node


class Looks(BaseTestEvaluator):
    id = "looks"

    def evaluate_test_case(self, test_case, output):
        return Evaluation(score=1, metadata={"output": output})


@pytest.mark.parametrize("fn", [self_referential, conversation, shared_twice_per_level])
def test_outputs_that_refer_to_themselves_are_stored_bounded(fn, store_rows):
    started = time.monotonic()
    result = run_test_suite("hostile", [Case("a"), Case("b")], [Looks()], fn, quiet=True)
    assert time.monotonic() - started < 20
    assert result.status == "completed" and len(result) == 2
    rows = store_rows("SELECT output FROM case_results")
    assert len(rows) == 2
    for row in rows:
        assert len(row["output"]) < 300_000
        json.loads(row["output"])  # valid JSON
    metadata = store_rows("SELECT metadata FROM evaluation_results")
    assert all(len(m["metadata"]) < 300_000 for m in metadata)


def test_a_cycle_is_written_as_a_marker(store_rows):
    run_test_suite("cycle", [Case("a")], [], self_referential, quiet=True)
    [row] = store_rows("SELECT output FROM case_results")
    assert json.loads(row["output"]) == ["<cycle: list>", "<cycle: list>"]
    run_test_suite("talk", [Case("a")], [], conversation, quiet=True)
    stored = json.loads(
        store_rows(
            "SELECT output FROM case_results WHERE run_id = "
            "(SELECT id FROM runs WHERE suite_id = 'talk')"
        )[0]["output"]
    )
    assert stored == {
        "messages": [
            {"text": "hi", "conversation": "<cycle: Conversation>"},
            {"text": "bye", "conversation": "<cycle: Conversation>"},
        ]
    }


def test_exponential_sharing_is_cut_at_the_size_limit(store_rows):
    run_test_suite("shared", [Case("a")], [], shared_twice_per_level, quiet=True)
    [row] = store_rows("SELECT output FROM case_results")
    stored = json.loads(row["output"])
    assert isinstance(stored, str) and stored.endswith("[cut: more than 262144 bytes of JSON]")


def test_a_grid_too_big_to_build_is_refused_before_anything_runs(trialrun_home):
    calls = []
    with pytest.raises(SuiteValidationError, match="more than 10000 combinations"):
        run_test_suite(
            "huge-grid",
            [Case("a")],
            [],
            calls.append,
            grid_search_params={k: list(range(100)) for k in "abcde"},
            quiet=True,
        )
    assert calls == [] and not (trialrun_home / "trialrun.db").exists()


def test_too_many_cases_times_combinations_is_refused():
    cases = [Case(str(i)) for i in range(1000)]
    with pytest.raises(SuiteValidationError, match="1000 test cases .* x 10000 grid"):
        run_test_suite(
            "wide", cases, [], str, grid_search_params={"a": range(100), "b": range(100)}
        )


def test_a_repeat_count_too_big_is_refused_naming_the_case():
    from trialrun.testing.models import TestCaseConfig

    @dataclasses.dataclass
    class Repeated(BaseTestCase):
        test_case_config: TestCaseConfig

        def hash(self) -> str:
            return "r"

    with pytest.raises(SuiteValidationError, match=r"test_cases\[0\] .*more than the 5000000"):
        run_test_suite("many", [Repeated(TestCaseConfig(repeat_num_times=10**12))], [], str)


@pytest.mark.parametrize(
    "where", ["hash", "suite id", "evaluator id"], ids=["hash", "suite", "evaluator"]
)
def test_strings_with_a_lone_surrogate_are_refused_by_name(where):
    bad = "a\ud800b"

    class Ev(BaseTestEvaluator):
        id = bad if where == "evaluator id" else "ok"

        def evaluate_test_case(self, test_case, output):
            return Evaluation(score=1)

    suite = bad if where == "suite id" else "surrogates"
    cases = [Case(bad), Case("a\udc00b")] if where == "hash" else [Case("x")]
    expected = {
        "hash": r"test_cases\[0\] .*hash\(\)",
        "suite id": r"\bid is ",
        "evaluator id": "id",
    }
    with pytest.raises(SuiteValidationError, match=expected[where] + r".*lone surrogate"):
        run_test_suite(suite, cases, [Ev()], str)


def _raising(exc, is_async):
    def fn(case):
        if case.name == "1":
            raise exc()
        return case.name

    async def afn(case):
        return fn(case)

    return afn if is_async else fn


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_system_exit_in_fn_errors_its_case_and_the_suite_goes_on(is_async, store_rows):
    result = run_test_suite(
        "exits",
        [Case(str(i)) for i in range(4)],
        [],
        _raising(SystemExit, is_async),
        max_test_case_concurrency=1,
        quiet=True,
    )
    assert result.status == "completed" and len(result) == 4
    errors = {c.hash: c.error for c in result.cases}
    assert "SystemExit" in errors["1"] and errors["0"] is None and errors["3"] is None
    assert [r["status"] for r in store_rows("SELECT status FROM runs")] == ["completed"]


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_keyboard_interrupt_in_fn_interrupts_the_suite_as_ctrl_c(is_async, store_rows):
    with pytest.raises(KeyboardInterrupt):
        run_test_suite(
            "interrupts",
            [Case(str(i)) for i in range(4)],
            [],
            _raising(KeyboardInterrupt, is_async),
            max_test_case_concurrency=1,
            quiet=True,
        )
    [run] = store_rows("SELECT status FROM runs")
    assert run["status"] == "interrupted"
    stored = [r["hash"] for r in store_rows("SELECT hash FROM case_results ORDER BY idx")]
    assert stored[:1] == ["0"] and "2" not in stored and "3" not in stored
