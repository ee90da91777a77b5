from trialrun.evaluators import HasAllSubstrings, IsEquals, IsValidJSON, MatchesRegex

__all__ = ["HasAllSubstrings", "IsEquals", "IsValidJSON", "MatchesRegex"]
