from trialrun._core import md5

__all__ = ["md5"]
