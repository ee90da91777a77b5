"""The same stages in prometheus-test's documented API: prepare(context) and
execute(context, prepare_data), raising when a call fails."""

import pymongo
import requests

from trialrun.steps.utils import create_signature


def _signed(context, payload):
    key = context.worker.get_key("staking_signing")
    return {**payload, "signature": create_signature(key, payload)}


def task_prepare(context):
    with pymongo.MongoClient(context.mongo_uri) as client:
        todos = list(
            client[context.database].todos.find({"taskId": context.config.task_id}).sort("title", 1)
        )
    if context.round > len(todos):
        context.skip("no todo left")
    return _signed(
        context,
        {
            "taskId": context.config.task_id,
            "roundNumber": context.round,
            "action": "fetch-todo",
            "todoUuid": todos[context.round - 1]["uuid"],
            "githubUsername": context.worker.get_env("GITHUB_USERNAME"),
            "stakingKey": context.worker.staking_public_key,
            "pubKey": context.worker.main_public_key,
        },
    )


def task_execute(context, prepare_data):
    response = requests.post(f"{context.worker.url}/worker-task/{context.round}", json=prepare_data)
    result = response.json()
    if not result.get("success"):
        raise Exception(f"Failed to execute step: {result.get('error')}")
    context.round_state.setdefault("pr_urls", {})[context.worker.name] = result["result"]["data"][
        "pr_url"
    ]
    return result


def submission_prepare(context):
    if context.worker.name not in context.round_state.get("pr_urls", {}):
        context.skip("no PR this round")
    response = requests.get(f"{context.worker.url}/submission/{context.round}")
    response.raise_for_status()
    submission = response.json()
    payload = {
        "taskId": context.config.task_id,
        "roundNumber": context.round,
        "stakingKey": context.worker.staking_public_key,
        "pubKey": context.worker.public_key,
        "action": "audit",
        **submission,
    }
    return {
        **submission,
        "signature": _signed(context, payload)["signature"],
        "stakingKey": context.worker.staking_public_key,
        "pubKey": context.worker.public_key,
    }


def submission_execute(context, prepare_data):
    url = f"{context.config.middle_server_url}/summarizer/submit"
    result = requests.post(url, json=prepare_data).json()
    if not result.get("success"):
        raise Exception(f"Failed to submit: {result.get('message')}")
    context.round_state.setdefault("submission_data", {})[context.worker.name] = prepare_data
    return result


def audit_prepare(context, target_name):
    submission = context.round_state.get("submission_data", {}).get(target_name)
    if submission is None:
        context.skip(f"no submission from {target_name}")
    return _signed(
        context,
        {
            "taskId": context.config.task_id,
            "roundNumber": context.round,
            "prUrl": submission["prUrl"],
            "submitterKey": submission["stakingKey"],
            "stakingKey": context.worker.staking_public_key,
            "action": "audit",
        },
    )


def audit_execute(context, prepare_data):
    url = f"{context.config.middle_server_url}/summarizer/audit"
    result = requests.post(url, json=prepare_data).json()
    assert result.get("success") and result.get("approved"), f"audit failed: {result}"
    with pymongo.MongoClient(context.mongo_uri) as client:
        client[context.database].audits.insert_one(
            {"taskId": context.config.task_id, "round": context.round, "approved": True}
        )
    context.global_state["audited"] = context.global_state.get("audited", 0) + 1
    return result
