"""Stage for worker audits: one worker audits another's submission."""

import requests

from trialrun.steps.utils import create_signature


def prepare(runner, worker, target_name):
    """Prepare data for worker audit"""
    submission = runner.get(f"submission_data.{target_name}")
    if submission is None:
        print(f"✓ No submission from {target_name} to audit - continuing")
        return None
    payload = {
        "taskId": runner.config.task_id,
        "roundNumber": runner.current_round,
        "prUrl": submission["prUrl"],
        "submitterKey": submission["stakingKey"],
        "stakingKey": worker.get_key("staking_public"),
        "action": "audit",
    }
    return {**payload, "signature": create_signature(worker.get_key("staking_signing"), payload)}


def execute(runner, worker, data):
    """Execute worker audit"""
    if not data:
        return {"success": True, "message": "Nothing to audit"}
    url = f"{runner.config.middle_server_url}/summarizer/audit"
    result = requests.post(url, json=data).json()
    if result.get("success"):
        db = runner.mongo_client[runner.config.mongodb["database"]]
        db.audits.insert_one(
            {
                "taskId": runner.config.task_id,
                "round": runner.current_round,
                "prUrl": data["prUrl"],
                "approved": result["approved"],
            }
        )
        runner.set("audited", (runner.get("audited") or 0) + 1, scope="global")
    return result


def validate(runner, result):
    """The audit must approve the submission."""
    assert result.get("approved", True), f"the audit rejected the submission: {result}"
