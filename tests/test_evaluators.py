"""The built-in evaluators: configuration, scores, metadata, and use in real suites."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest

from trialrun import BaseTestCase, BaseTestEvaluator, Evaluation, Threshold, run_test_suite
from trialrun.evaluators import HasAllSubstrings, IsEquals, IsValidJSON, MatchesRegex


@dataclasses.dataclass
class QA(BaseTestCase):
    question: str
    expected: Any = None
    phrases: list[str] = dataclasses.field(default_factory=list)
    pattern: str = ".*"

    def hash(self) -> str:
        return self.question


CASE = QA("q", expected="yes", phrases=["Alpha", "beta"], pattern=r"^\d+$")


# --- HasAllSubstrings -------------------------------------------------------------------


def test_has_all_substrings_fixed_list():
    ev = HasAllSubstrings(["hello", "world"])
    assert isinstance(ev, BaseTestEvaluator)
    assert ev.id == "has-all-substrings"
    full = ev.evaluate_test_case(CASE, "hello big world")
    assert full.score == 1 and full.passed() is True and full.metadata is None
    half = ev.evaluate_test_case(CASE, "hello there")
    assert half.score == 0.5 and half.passed() is False
    assert half.metadata == {"missing": ["world"]}
    none = ev.evaluate_test_case(CASE, "nothing")
    assert none.score == 0 and none.metadata == {"missing": ["hello", "world"]}


def test_has_all_substrings_accepts_a_tuple():
    ev = HasAllSubstrings(("a", "b", "c"))
    assert ev.evaluate_test_case(CASE, "a-c").score == pytest.approx(2 / 3)


def test_has_all_substrings_from_attribute_name():
    ev = HasAllSubstrings("phrases")
    assert ev.evaluate_test_case(CASE, "Alpha and beta").score == 1
    result = ev.evaluate_test_case(CASE, "alpha and beta")  # case-sensitive by default
    assert result.score == 0.5 and result.metadata == {"missing": ["Alpha"]}


def test_has_all_substrings_from_callable():
    ev = HasAllSubstrings(lambda case: [case.question.upper(), "!"])
    assert ev.evaluate_test_case(CASE, "Q!").score == 1
    assert ev.evaluate_test_case(CASE, "q!").metadata == {"missing": ["Q"]}


def test_has_all_substrings_case_insensitive():
    ev = HasAllSubstrings(["HeLLo", "World"], case_sensitive=False)
    assert ev.case_sensitive is False
    ok = ev.evaluate_test_case(CASE, "hello WORLD")
    assert ok.score == 1 and ok.passed() is True
    # metadata names the missing substrings as configured
    assert ev.evaluate_test_case(CASE, "hello").metadata == {"missing": ["World"]}


def test_has_all_substrings_output_mapper_threshold_and_id():
    ev = HasAllSubstrings(
        ["a", "b", "c", "d"],
        id="mostly-there",
        threshold=Threshold(gte=0.75),
        output_mapper=lambda out: out["text"],
        max_concurrency=3,
    )
    assert ev.id == "mostly-there" and ev.max_concurrency == 3
    three = ev.evaluate_test_case(CASE, {"text": "a b c"})
    assert three.score == 0.75 and three.threshold == Threshold(gte=0.75) and three.passed() is True
    assert ev.evaluate_test_case(CASE, {"text": "a b"}).passed() is False


def test_has_all_substrings_without_threshold_reports_only():
    ev = HasAllSubstrings(["x"], threshold=None)
    assert ev.evaluate_test_case(CASE, "y").passed() is None


def test_has_all_substrings_with_nothing_expected_scores_one():
    assert HasAllSubstrings([]).evaluate_test_case(CASE, "").score == 1


def test_has_all_substrings_stringifies_non_str_outputs():
    assert HasAllSubstrings(["42"]).evaluate_test_case(CASE, 1042).score == 1


@pytest.mark.parametrize("source", [42, None, 3.5])
def test_expected_source_of_wrong_type_is_refused(source):
    with pytest.raises(TypeError):
        HasAllSubstrings(source)
    with pytest.raises(TypeError):
        IsEquals(source)


# --- IsEquals ---------------------------------------------------------------------------


def test_is_equals_from_attribute_name():
    ev = IsEquals("expected")
    assert ev.id == "is-equals"
    same = ev.evaluate_test_case(CASE, "yes")
    assert same.score == 1 and same.passed() is True and same.metadata is None
    other = ev.evaluate_test_case(CASE, "no")
    assert other.score == 0 and other.passed() is False
    assert other.metadata == {"expected": repr("yes"), "actual": repr("no")}


def test_is_equals_from_callable_with_mapper_threshold_and_id():
    ev = IsEquals(
        lambda case: len(case.question),
        id="length",
        output_mapper=lambda out: len(out),
        threshold=Threshold(gt=0.5),
    )
    assert ev.id == "length"
    assert ev.evaluate_test_case(CASE, "x").passed() is True
    miss = ev.evaluate_test_case(CASE, "xyz")
    assert miss.passed() is False and miss.metadata == {"expected": "1", "actual": "3"}
    assert miss.threshold == Threshold(gt=0.5)


def test_is_equals_compares_structures():
    ev = IsEquals(lambda case: {"a": [1, 2]})
    assert ev.evaluate_test_case(CASE, {"a": [1, 2]}).score == 1
    assert ev.evaluate_test_case(CASE, {"a": [2, 1]}).score == 0


# --- IsValidJSON --------------------------------------------------------------------------


@pytest.mark.parametrize("text", ['{"a": 1}', "[1, 2]", "3", '"s"', "null", b'{"b": true}'])
def test_is_valid_json_accepts_json(text):
    ev = IsValidJSON()
    assert ev.id == "is-valid-json"
    result = ev.evaluate_test_case(CASE, text)
    assert result.score == 1 and result.passed() is True and result.metadata is None


@pytest.mark.parametrize("text", ["{a: 1}", "", "[1, 2", "{'a': 1}"])
def test_is_valid_json_rejects_invalid_with_the_parse_error(text):
    result = IsValidJSON().evaluate_test_case(CASE, text)
    assert result.score == 0 and result.passed() is False
    with pytest.raises(ValueError) as info:
        json.loads(text)
    assert result.metadata == {"error": str(info.value)}


@pytest.mark.parametrize("output, type_name", [({"a": 1}, "dict"), (None, "NoneType"), (12, "int")])
def test_is_valid_json_rejects_non_text_outputs(output, type_name):
    result = IsValidJSON().evaluate_test_case(CASE, output)
    assert result.score == 0
    assert type_name in result.metadata["error"]


def test_is_valid_json_output_mapper_threshold_and_id():
    ev = IsValidJSON(id="body-json", output_mapper=lambda out: out["body"], threshold=None)
    assert ev.id == "body-json"
    assert ev.evaluate_test_case(CASE, {"body": "[]"}).score == 1
    assert ev.evaluate_test_case(CASE, {"body": "]"}).passed() is None


# --- MatchesRegex -------------------------------------------------------------------------


def test_matches_regex_search_is_the_default():
    ev = MatchesRegex(r"\d{3}")
    assert ev.id == "matches-regex" and ev.mode == "search"
    assert ev.evaluate_test_case(CASE, "call 555 now").passed() is True
    miss = ev.evaluate_test_case(CASE, "call 55 now")
    assert miss.score == 0 and miss.metadata == {"pattern": r"\d{3}", "mode": "search"}


def test_matches_regex_fullmatch_mode():
    ev = MatchesRegex(r"\d{3}", mode="fullmatch")
    assert ev.evaluate_test_case(CASE, "555").score == 1
    miss = ev.evaluate_test_case(CASE, "call 555 now")
    assert miss.score == 0 and miss.metadata["mode"] == "fullmatch"


def test_matches_regex_flags():
    assert MatchesRegex("hello").evaluate_test_case(CASE, "HELLO").score == 0
    assert MatchesRegex("hello", flags=re.IGNORECASE).evaluate_test_case(CASE, "HELLO").score == 1
    assert MatchesRegex("^b", flags=re.MULTILINE).evaluate_test_case(CASE, "a\nb").score == 1


def test_matches_regex_compiled_pattern():
    ev = MatchesRegex(re.compile("abc", re.IGNORECASE))
    assert ev.evaluate_test_case(CASE, "xABCx").score == 1


def test_matches_regex_pattern_from_test_case():
    ev = MatchesRegex(lambda case: case.pattern, id="from-case", flags=re.ASCII)
    assert ev.id == "from-case"
    assert ev.evaluate_test_case(CASE, "123").score == 1
    miss = ev.evaluate_test_case(CASE, "12a")
    assert miss.score == 0 and miss.metadata["pattern"] == CASE.pattern


def test_matches_regex_output_mapper_and_threshold():
    ev = MatchesRegex("ok", output_mapper=lambda out: out[0], threshold=Threshold(lte=0))
    # an inverted threshold: passes when the pattern does not match
    assert ev.evaluate_test_case(CASE, ["nope"]).passed() is True
    assert ev.evaluate_test_case(CASE, ["ok"]).passed() is False


@pytest.mark.parametrize("pattern", ["(unclosed", "[z-a]", "*oops"])
def test_bad_regex_raises_at_construction(pattern):
    with pytest.raises(re.error):
        MatchesRegex(pattern)


def test_bad_mode_raises_at_construction():
    with pytest.raises(ValueError, match="mode"):
        MatchesRegex("x", mode="match")


# --- repr ---------------------------------------------------------------------------------


def test_repr_names_class_and_id():
    assert repr(IsEquals("expected", id="eq")) == "IsEquals(id='eq')"


# --- in real suites -------------------------------------------------------------------------


def answer(case: QA) -> str:
    """A tiny agent: JSON for most questions, a bug for the 'bad' one."""
    if case.question == "bad":
        return "not json"
    return json.dumps({"answer": case.expected, "note": "Alpha beta 123"})


SUITE_CASES = [
    QA("good", expected="yes", phrases=["Alpha", "beta"], pattern=r"\d+"),
    QA("partial", expected="no", phrases=["Alpha", "gamma"], pattern=r"\d+"),
    QA("bad", expected="x", phrases=["Alpha"], pattern=r"^\{"),
]


def field(name: str):
    def mapper(output: str) -> Any:
        try:
            return json.loads(output)[name]
        except ValueError:
            return None

    return mapper


def test_built_ins_in_a_real_suite():
    result = run_test_suite(
        id="built-ins",
        test_cases=SUITE_CASES,
        evaluators=[
            IsValidJSON(),
            IsEquals("expected", output_mapper=field("answer")),
            HasAllSubstrings(
                "phrases", output_mapper=lambda out: str(field("note")(out)), case_sensitive=False
            ),
            MatchesRegex(lambda case: case.pattern),
        ],
        fn=answer,
        quiet=True,
    )
    by_hash = {c.hash: c for c in result.cases}
    verdicts = {h: {e.evaluator_id: e.verdict for e in c.evaluations} for h, c in by_hash.items()}
    assert verdicts["good"] == {
        "is-valid-json": "passed",
        "is-equals": "passed",
        "has-all-substrings": "passed",
        "matches-regex": "passed",
    }
    assert verdicts["partial"]["has-all-substrings"] == "failed"
    assert by_hash["partial"].evaluation("has-all-substrings").metadata == {"missing": ["gamma"]}
    assert by_hash["partial"].evaluation("has-all-substrings").score == 0.5
    assert verdicts["bad"] == {
        "is-valid-json": "failed",
        "is-equals": "failed",
        "has-all-substrings": "failed",
        "matches-regex": "failed",
    }
    assert "error" in by_hash["bad"].evaluation("is-valid-json").metadata
    assert by_hash["bad"].evaluation("is-equals").metadata == {"expected": "'x'", "actual": "None"}
    assert [c.hash for c in result.failures()] == ["partial", "bad"]
    totals = result.totals["evaluators"]
    assert totals["is-valid-json"]["passed"] == 2 and totals["is-valid-json"]["failed"] == 1
    assert result.passed is False


@pytest.mark.parametrize(
    "make, output, passes",
    [
        (lambda: HasAllSubstrings(["Alpha"]), "Alpha", True),
        (lambda: HasAllSubstrings(["Alpha"]), "alpha", False),
        (lambda: IsEquals(lambda c: "x"), "x", True),
        (lambda: IsEquals(lambda c: "x"), "y", False),
        (lambda: IsValidJSON(), "{}", True),
        (lambda: IsValidJSON(), "{", False),
        (lambda: MatchesRegex("^a+$"), "aaa", True),
        (lambda: MatchesRegex("^a+$"), "aab", False),
    ],
)
def test_each_built_in_decides_a_suite(make, output, passes, store_rows):
    ev = make()
    result = run_test_suite("one-built-in", [QA("only")], [ev], lambda case: output, quiet=True)
    assert result.passed is passes
    [row] = store_rows("SELECT evaluator_id, verdict, threshold FROM evaluations")
    assert row["evaluator_id"] == ev.id
    assert row["verdict"] == ("passed" if passes else "failed")
    assert json.loads(row["threshold"]) == {"gte": 1}


def test_two_instances_need_distinct_ids():
    from trialrun import SuiteValidationError

    with pytest.raises(SuiteValidationError, match="is-valid-json"):
        run_test_suite("dup", [QA("q")], [IsValidJSON(), IsValidJSON()], lambda c: "{}", quiet=True)
    result = run_test_suite(
        "distinct",
        [QA("q")],
        [IsValidJSON(), IsValidJSON(id="json-again")],
        lambda c: "{}",
        quiet=True,
    )
    assert result.passed and len(result.cases[0].evaluations) == 2


def test_built_in_max_concurrency_is_validated():
    from trialrun import SuiteValidationError

    with pytest.raises(SuiteValidationError, match="max_concurrency"):
        run_test_suite(
            "limit", [QA("q")], [IsValidJSON(max_concurrency=0)], lambda c: "{}", quiet=True
        )


def test_evaluation_type_is_the_public_one():
    assert isinstance(IsValidJSON().evaluate_test_case(CASE, "{}"), Evaluation)


def test_an_evaluation_pickles_with_all_it_holds():
    """An evaluator run in another process (a Ray task) sends its Evaluation back pickled;
    regression: Evaluation could not be pickled, so such evaluators errored."""
    import pickle

    from trialrun._models import Assertion

    assertions = [Assertion(passed=False, required=True, criterion="cites a source")]
    e = Evaluation(
        score=0.25, threshold=Threshold(gte=0.5), metadata={"why": ["x"]}, assertions=assertions
    )
    back = pickle.loads(pickle.dumps(e))
    assert (back.score, back.threshold, back.metadata) == (0.25, Threshold(gte=0.5), {"why": ["x"]})
    assert back.assertions == assertions and back.passed() is False
    bare = pickle.loads(pickle.dumps(Evaluation(score=1)))
    assert (bare.threshold, bare.metadata, bare.assertions, bare.passed()) == (
        None,
        None,
        None,
        None,
    )
