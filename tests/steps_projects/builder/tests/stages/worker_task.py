"""Stage for executing worker tasks (prometheus-test's real API: runner and worker)."""

import requests

from trialrun.steps.utils import create_signature


def prepare(runner, worker):
    """Prepare data for worker task"""
    db = runner.mongo_client[runner.config.mongodb["database"]]
    todos = list(db.todos.find({"taskId": runner.config.task_id}).sort("title", 1))
    if runner.current_round > len(todos):
        print(f"✓ No todo left for {worker.get('name')} - continuing")
        return None
    todo = todos[runner.current_round - 1]
    payload = {
        "taskId": runner.get("task_id"),
        "roundNumber": runner.get("current_round"),
        "action": "fetch-todo",
        "todoUuid": todo["uuid"],
        "githubUsername": worker.get_env("GITHUB_USERNAME"),
        "stakingKey": worker.get_key("staking_public"),
        "pubKey": worker.get_key("main_public"),
    }
    return {**payload, "signature": create_signature(worker.get_key("staking_signing"), payload)}


def execute(runner, worker, data):
    """Execute worker task step"""
    if not data:
        return {"success": True, "message": "No todo found"}
    url = f"{worker.get('url')}/worker-task/{runner.get('current_round')}"
    response = requests.post(url, json=data)
    result = response.json()

    if result.get("success") and "pr_url" in result["result"]["data"]:
        # Store PR URL in state
        runner.set(
            f"pr_urls.{worker.get('name')}",
            result["result"]["data"]["pr_url"],
            scope="round",
        )
    return result
