"""Stage for handling worker submissions."""

import requests

from trialrun.steps.utils import create_signature


def prepare(runner, worker):
    """Prepare data for worker submission"""
    pr_url = runner.get(f"pr_urls.{worker.get('name')}")
    if pr_url is None:
        print(f"✓ No pr_urls.{worker.get('name')} found - continuing")
        return None

    # Get submission data from worker (the worker's HTTP helper)
    response = worker.get(f"/submission/{runner.current_round}")
    response.raise_for_status()
    submission_data = response.json()

    submitter_payload = {
        "taskId": runner.config.task_id,
        "roundNumber": runner.current_round,
        "stakingKey": worker.staking_public_key,
        "pubKey": worker.public_key,
        "action": "audit",
        **submission_data,
    }
    return {
        **submission_data,
        "signature": create_signature(worker.staking_signing_key, submitter_payload),
        "stakingKey": worker.staking_public_key,
        "pubKey": worker.public_key,
    }


def execute(runner, worker, data):
    """Submit to the middle server"""
    if not data:
        return {"success": True, "message": "No PR to submit"}
    response = requests.post(f"{runner.config.middle_server_url}/summarizer/submit", json=data)
    result = response.json()
    if result.get("success"):
        runner.set(f"submission_data.{worker.get('name')}", data, scope="round")
    return result
