from trialrun._core import Evaluation, Threshold
from trialrun._models import BaseTestCase, BaseTestEvaluator

__all__ = ["BaseTestCase", "BaseTestEvaluator", "Evaluation", "Threshold"]
