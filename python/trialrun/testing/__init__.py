"""Autoblocks-compatible module paths: `autoblocks.testing.X` becomes `trialrun.testing.X`."""
