"""Runs the example sequence: python -m tests.e2e [--reset] (from examples/steps)."""

from pathlib import Path

from trialrun.steps import TestRunner

from .steps import steps


def post_load_callback(db):
    """Runs once the collections are loaded (db is a pymongo Database)."""
    for doc in db.users.find():
        db.users.update_one({"_id": doc["_id"]}, {"$set": {"checked": True}})


def main():
    base_dir = Path(__file__).parent
    runner = TestRunner(
        steps=steps,
        config_file=base_dir / "config.yaml",
        config_overrides={"post_load_callback": post_load_callback},
    )
    return runner.run(force_reset=False)


if __name__ == "__main__":
    main()
