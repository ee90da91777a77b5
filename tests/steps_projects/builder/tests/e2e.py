"""End-to-end test for the builder task."""

import argparse
import uuid
from pathlib import Path

from trialrun.steps import TestRunner

from .steps import steps


def parse_args():
    parser = argparse.ArgumentParser(description="Run builder test sequence")
    parser.add_argument(
        "--reset",
        action="store_true",
        help="Force reset of all databases before running tests",
    )
    return parser.parse_args()


def add_uuids(db):
    """Post-load callback to process MongoDB data after JSON import"""
    issues = list(db.issues.find({"taskId": runner.config.task_id}))
    for issue in issues:
        if "uuid" not in issue:
            issue["uuid"] = str(uuid.uuid4())
        db.issues.replace_one({"_id": issue["_id"]}, issue)

    todos = list(db.todos.find({"taskId": runner.config.task_id}))
    todo_mapping = {}
    for todo in todos:
        if "uuid" not in todo:
            todo["uuid"] = str(uuid.uuid4())
        todo_mapping[todo["title"]] = todo["uuid"]
    for todo in todos:
        if "issueUuid" not in todo and issues:
            todo["issueUuid"] = issues[0]["uuid"]
        if "dependencyTasks" in todo:
            todo["dependencyTasks"] = [todo_mapping.get(t, t) for t in todo["dependencyTasks"]]
        db.todos.replace_one({"_id": todo["_id"]}, todo)


# Global reference to the test runner
runner = None


def main():
    global runner
    args = parse_args()

    base_dir = Path(__file__).parent
    runner = TestRunner(
        steps=steps,
        config_file=base_dir / "config.yaml",
        config_overrides={"post_load_callback": add_uuids},
    )
    runner.run(force_reset=args.reset)


if __name__ == "__main__":
    main()
