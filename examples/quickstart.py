"""The seed's example suite (Autoblocks' testing SDK docs), with only the imports changed,
run against a small deterministic agent function.

    python examples/quickstart.py          # or: trialrun run examples/quickstart.py
"""

import asyncio
import dataclasses

from trialrun.testing.models import BaseTestCase, BaseTestEvaluator, Evaluation, Threshold
from trialrun.testing.run import run_test_suite
from trialrun.testing.util import md5


@dataclasses.dataclass
class MyTestCase(BaseTestCase):
    # Input properties
    x: int
    y: int

    # Expectation properties
    expected_sum: int
    expected_product: int

    # I can add more properties here as my test case evolves
    # without losing the identity + history of the test case
    # expected_difference: int

    def hash(self) -> str:
        """My hash is only comprised of my input properties."""
        return md5(f"{self.x}-{self.y}")


def gen_test_cases() -> list:
    return [
        MyTestCase(x=x, y=y, expected_sum=x + y, expected_product=x * y)
        for x in range(1, 6)
        for y in range(1, 6)
    ]


async def test_fn(test_case: MyTestCase) -> str:
    """The agent under test: answers with the sum and the product, politely."""
    await asyncio.sleep(0.01)  # stands in for a model call
    x, y = test_case.x, test_case.y
    return f"Happy to help! {x} + {y} = {x + y} and {x} * {y} = {x * y}. Have a great day!"


class HasAllSubstrings(BaseTestEvaluator):
    id = "has-all-substrings"

    def evaluate_test_case(self, test_case: MyTestCase, output: str) -> Evaluation:
        expected = [str(test_case.expected_sum), str(test_case.expected_product)]
        missing = [s for s in expected if s not in output]
        return Evaluation(
            score=0 if missing else 1,
            threshold=Threshold(gte=1),
            metadata={"reason": f"missing {missing}"} if missing else None,
        )


class IsFriendly(BaseTestEvaluator):
    id = "is-friendly"
    max_concurrency = 5

    async def evaluate_test_case(self, test_case: MyTestCase, output: str) -> Evaluation:
        await asyncio.sleep(0.005)  # stands in for an LLM judge
        friendly = sum(
            phrase in output.lower() for phrase in ("happy to help", "great day", "please")
        )
        # two friendly phrases make a perfect score; one is enough to pass
        return Evaluation(score=min(1.0, friendly / 2), threshold=Threshold(gte=0.5))


if __name__ == "__main__":
    run_test_suite(
        id="my-test-suite",
        test_cases=gen_test_cases(),
        evaluators=[HasAllSubstrings(), IsFriendly()],
        fn=test_fn,
    )
