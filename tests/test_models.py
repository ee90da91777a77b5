"""Evaluation, Threshold, md5 and the Autoblocks-compatible module paths."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import pickle

import pytest

import trialrun
from trialrun.testing.models import BaseTestCase, BaseTestEvaluator, Evaluation, Threshold
from trialrun.testing.util import md5

# --- the seed's examples, verbatim -------------------------------------------------


def test_seed_evaluation_with_score_and_threshold_passes():
    # Evaluation with score and threshold
    evaluation = Evaluation(
        score=0.5,
        threshold=Threshold(lt=0.6),
    )
    assert evaluation.passed() is True


def test_seed_evaluation_with_metadata_fails_and_keeps_metadata():
    # Evaluation with score, threshold, and metadata
    evaluation = Evaluation(
        score=0,
        threshold=Threshold(gte=1),
        metadata={
            "reason": "An explanation of why the evaluation failed",
        },
    )
    assert evaluation.passed() is False
    assert evaluation.metadata == {"reason": "An explanation of why the evaluation failed"}
    assert evaluation.score == 0
    assert evaluation.threshold == Threshold(gte=1)


def test_seed_evaluation_with_score_only_has_no_verdict():
    # Evaluation with score only
    evaluation = Evaluation(score=0.5)
    assert evaluation.passed() is None
    assert evaluation.threshold is None
    assert evaluation.metadata is None


def test_seed_gte_one_fails_half():
    evaluation = Evaluation(
        score=0.5,
        # Score must greater than or equal to 1
        threshold=Threshold(gte=1),
    )
    assert evaluation.passed() is False


@pytest.mark.parametrize(
    "score, expected",
    [
        (0.5, True),
        (0.4, True),
        (0.6, False),
        (0.39, False),
        (0.599, True),
        (0.0, False),
        (1.0, False),
    ],
)
def test_seed_band_gte_and_lt(score, expected):
    evaluation = Evaluation(
        score=score,
        # Score must be:
        # - greater than or equal to 0.4 AND
        # - less than 0.6
        threshold=Threshold(
            gte=0.4,
            lt=0.6,
        ),
    )
    assert evaluation.passed() is expected


# --- bounds ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bound, at, below, above",
    [
        ("lt", False, True, False),
        ("lte", True, True, False),
        ("gt", False, False, True),
        ("gte", True, False, True),
    ],
)
def test_each_bound_is_strict_or_inclusive_as_named(bound, at, below, above):
    threshold = Threshold(**{bound: 0.5})
    assert getattr(threshold, bound) == 0.5
    assert Evaluation(score=0.5, threshold=threshold).passed() is at
    assert Evaluation(score=0.25, threshold=threshold).passed() is below
    assert Evaluation(score=0.75, threshold=threshold).passed() is above
    assert threshold.contains(0.5) is at


def test_unset_bounds_read_as_none():
    threshold = Threshold(gt=0.1)
    assert (threshold.lt, threshold.lte, threshold.gt, threshold.gte) == (None, None, 0.1, None)


def test_empty_threshold_gives_no_verdict():
    assert Evaluation(score=0.3, threshold=Threshold()).passed() is None


def test_lte_equal_gte_allows_exactly_one_score():
    threshold = Threshold(gte=0.5, lte=0.5)
    assert Evaluation(score=0.5, threshold=threshold).passed() is True
    assert Evaluation(score=0.51, threshold=threshold).passed() is False
    assert Evaluation(score=0.49, threshold=threshold).passed() is False


@pytest.mark.parametrize(
    "kwargs",
    [
        {"gt": 0.6, "lt": 0.4},
        {"gte": 0.5, "lt": 0.5},
        {"gt": 0.5, "lte": 0.5},
        {"gte": 0.8, "lte": 0.2},
        {"gt": 0.9, "lt": 0.1},
    ],
    ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()),
)
def test_impossible_threshold_raises_value_error_naming_both_bounds(kwargs):
    with pytest.raises(ValueError) as info:
        Threshold(**kwargs)
    message = str(info.value)
    for name, value in kwargs.items():
        assert f"{name}={value}" in message, message


@pytest.mark.parametrize(
    ("kwargs", "shown"),
    [
        ({"gt": 1}, "Threshold(gt=1)"),
        ({"lt": 0}, "Threshold(lt=0)"),
        ({"gte": 1.5}, "Threshold(gte=1.5)"),
        ({"lte": -0.1}, "Threshold(lte=-0.1)"),
        ({"gt": 1, "lt": 2}, "Threshold(gt=1)"),
    ],
    ids=lambda v: ",".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else "",
)
def test_threshold_outside_the_score_range_is_refused(kwargs, shown):
    # Scores lie in [0, 1]: the README promises thresholds no score can pass are refused.
    with pytest.raises(ValueError, match="can never pass") as info:
        Threshold(**kwargs)
    assert shown in str(info.value)


@pytest.mark.parametrize("kwargs", [{"gte": 1}, {"lte": 0}, {"gt": 0, "lt": 1}, {"lt": 5}])
def test_thresholds_at_the_edges_of_the_score_range_are_kept(kwargs):
    assert Threshold(**kwargs) == Threshold(**kwargs)


def test_nan_bound_is_refused():
    with pytest.raises(ValueError, match="NaN"):
        Threshold(lt=math.nan)


@pytest.mark.parametrize("score", [1.5, -0.1, 1.0000001, math.nan, math.inf, -math.inf])
def test_score_outside_unit_interval_raises_value_error(score):
    with pytest.raises(ValueError, match="between 0 and 1"):
        Evaluation(score=score)


@pytest.mark.parametrize("score", [0, 1, 0.0, 1.0, 0.123])
def test_scores_on_and_inside_the_unit_interval_are_kept(score):
    assert Evaluation(score=score).score == score


@pytest.mark.parametrize(
    "kwargs",
    [
        {"score": "0.5"},
        {"score": None},
        {"score": [0.5]},
        {"score": 0.5, "threshold": "gte=1"},
        {"score": 0.5, "threshold": {"gte": 1}},
        {"score": 0.5, "metadata": ["reason"]},
        {"score": 0.5, "metadata": "reason"},
    ],
)
def test_wrong_types_in_evaluation_raise_type_error(kwargs):
    with pytest.raises(TypeError):
        Evaluation(**kwargs)


@pytest.mark.parametrize("kwargs", [{"lt": "0.5"}, {"gte": [1]}, {"gt": object()}])
def test_wrong_types_in_threshold_raise_type_error(kwargs):
    with pytest.raises(TypeError):
        Threshold(**kwargs)


# --- repr, equality, pickling ----------------------------------------------------


@pytest.mark.parametrize(
    "threshold",
    [
        Threshold(lt=0.6),
        Threshold(gte=1),
        Threshold(gte=0.4, lt=0.6),
        Threshold(lte=0.25, gt=0.125),
        Threshold(),
    ],
)
def test_threshold_repr_round_trips(threshold):
    text = repr(threshold)
    assert text.startswith("Threshold(")
    assert eval(text, {"Threshold": Threshold}) == threshold


def test_threshold_repr_names_only_set_bounds():
    text = repr(Threshold(gte=0.4, lt=0.6))
    assert "gte=0.4" in text and "lt=0.6" in text
    assert "lte" not in text and "gt=" not in text


def test_threshold_equality():
    assert Threshold(gte=0.4, lt=0.6) == Threshold(lt=0.6, gte=0.4)
    assert Threshold(gte=0.4) != Threshold(gt=0.4)
    assert Threshold(gte=0.4) != Threshold(gte=0.5)
    assert Threshold(gte=0.4) != "Threshold(gte=0.4)"


@pytest.mark.parametrize("threshold", [Threshold(gte=0.4, lt=0.6), Threshold(lte=0.9), Threshold()])
def test_threshold_pickles(threshold):
    copy = pickle.loads(pickle.dumps(threshold))
    assert copy == threshold
    assert type(copy) is Threshold
    assert (copy.lt, copy.lte, copy.gt, copy.gte) == (
        threshold.lt,
        threshold.lte,
        threshold.gt,
        threshold.gte,
    )


def test_evaluation_repr_and_equality():
    a = Evaluation(score=0.5, threshold=Threshold(gte=0.4), metadata={"why": "ok"})
    b = Evaluation(score=0.5, threshold=Threshold(gte=0.4), metadata={"why": "ok"})
    assert a == b
    assert a != Evaluation(score=0.5, threshold=Threshold(gte=0.4), metadata={"why": "other"})
    assert a != Evaluation(score=0.5, threshold=Threshold(gte=0.3), metadata={"why": "ok"})
    assert a != Evaluation(score=0.6, threshold=Threshold(gte=0.4), metadata={"why": "ok"})
    assert a != Evaluation(score=0.5, threshold=Threshold(gte=0.4))
    text = repr(a)
    assert "0.5" in text and repr(Threshold(gte=0.4)) in text and "'why'" in text


# --- md5 and test case hashing -----------------------------------------------------


@pytest.mark.parametrize("text", ["", "1-2", "hello world", "naïve café ✓", "x" * 10_000])
def test_md5_matches_hashlib(text):
    assert md5(text) == hashlib.md5(text.encode("utf-8")).hexdigest()


@dataclasses.dataclass
class MyTestCase(BaseTestCase):
    # Input properties
    x: int
    y: int

    # Expectation properties
    expected_sum: int
    expected_product: int

    def hash(self) -> str:
        """My hash is only comprised of my input properties."""
        return md5(f"{self.x}-{self.y}")


def test_seed_test_case_hash_depends_on_inputs_only():
    a = MyTestCase(x=1, y=2, expected_sum=3, expected_product=2)
    b = MyTestCase(x=1, y=2, expected_sum=99, expected_product=99)
    c = MyTestCase(x=2, y=1, expected_sum=3, expected_product=2)
    assert a.hash() == b.hash() == hashlib.md5(b"1-2").hexdigest()
    assert a.hash() != c.hash()
    assert len(a.hash()) == 32 <= 100


def test_seed_test_case_serializes_its_dataclass_fields():
    case = MyTestCase(x=1, y=2, expected_sum=3, expected_product=2)
    assert case.serialize() == {"x": 1, "y": 2, "expected_sum": 3, "expected_product": 2}


def test_seed_test_case_runs_through_a_suite():
    class SumIsRight(BaseTestEvaluator):
        id = "sum-is-right"

        def evaluate_test_case(self, test_case: MyTestCase, output: int) -> Evaluation:
            return Evaluation(
                score=1 if output == test_case.expected_sum else 0, threshold=Threshold(gte=1)
            )

    cases = [
        MyTestCase(x=i, y=i + 1, expected_sum=2 * i + 1, expected_product=i * (i + 1))
        for i in range(5)
    ]
    result = trialrun.run_test_suite(
        id="seed-sums",
        test_cases=cases,
        evaluators=[SumIsRight()],
        fn=lambda c: c.x + c.y,
        quiet=True,
    )
    assert result.passed
    assert sorted(c.hash for c in result.cases) == sorted(md5(f"{c.x}-{c.y}") for c in cases)


def test_base_classes_are_abstract():
    with pytest.raises(TypeError):
        BaseTestCase()

    class NoHash(BaseTestCase):
        pass

    with pytest.raises(TypeError):
        NoHash()

    class NoEvaluate(BaseTestEvaluator):
        id = "x"

    with pytest.raises(TypeError):
        NoEvaluate()


def test_evaluator_default_max_concurrency_is_a_positive_int():
    class Ev(BaseTestEvaluator):
        id = "ev"

        def evaluate_test_case(self, test_case, output):
            return None

    assert isinstance(Ev().max_concurrency, int) and Ev().max_concurrency >= 1


# --- module paths ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "module, names",
    [
        (
            "trialrun.testing.models",
            ["BaseTestCase", "BaseTestEvaluator", "Evaluation", "Threshold"],
        ),
        ("trialrun.testing.run", ["run_test_suite", "run_test_suite_async", "grid_search_ctx"]),
        ("trialrun.testing.util", ["md5"]),
    ],
)
def test_autoblocks_module_paths_export_the_names(module, names):
    import importlib

    mod = importlib.import_module(module)
    exported = set(getattr(mod, "__all__", []))
    for name in names:
        assert name in exported, f"{module}.__all__ lacks {name}"
        obj = getattr(mod, name)
        # the same objects as the top-level package
        assert obj is getattr(trialrun, name)


def test_star_import_from_models():
    namespace: dict = {}
    exec("from trialrun.testing.models import *", namespace)
    assert {"BaseTestCase", "BaseTestEvaluator", "Evaluation", "Threshold"} <= set(namespace)
