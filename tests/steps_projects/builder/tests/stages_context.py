"""The same stages in prometheus-test's older Context dialect (async functions taking a
Context: context.env, context.round_number, await context.storeGet / storeSet), as the
Koii summarizer and bug-finder tasks' stages were written."""

import pymongo
import requests

from trialrun.steps import Context
from trialrun.steps.utils import create_signature


def _signed(context: Context, payload: dict) -> dict:
    key = context.worker.get_key("staking_signing")
    return {**payload, "signature": create_signature(key, payload)}


async def task_prepare(context: Context):
    with pymongo.MongoClient(context.mongo_uri) as client:
        db = client[context.database]
        todos = list(db.todos.find({"taskId": context.config.task_id}).sort("title", 1))
    if context.round_number > len(todos):
        return None
    return _signed(
        context,
        {
            "taskId": context.config.task_id,
            "roundNumber": context.round_number,
            "action": "fetch-todo",
            "todoUuid": todos[context.round_number - 1]["uuid"],
            "githubUsername": context.env.get("GITHUB_USERNAME"),
            "stakingKey": context.worker.staking_public_key,
            "pubKey": context.worker.public_key,
        },
    )


async def task_execute(context: Context, prepare_data: dict):
    if not prepare_data:
        return True
    url = f"{context.worker.url}/worker-task/{context.round_number}"
    response = requests.post(url, json=prepare_data)
    result = response.json()
    if not result.get("success"):
        raise Exception(f"Failed to execute the task: {result.get('error')}")
    await context.storeSet(f"pr-{context.env.get('WORKER_ID')}", result["result"]["data"]["pr_url"])
    await context.storeSet(f"pr-round-{context.env.get('WORKER_ID')}", context.round_number)
    return True


async def submission_prepare(context: Context):
    staking_key = context.env.get("WORKER_ID")
    if await context.storeGet(f"pr-round-{staking_key}") != context.round_number:
        return None
    response = requests.get(f"{context.worker.url}/submission/{context.round_number}")
    response.raise_for_status()
    submission = response.json()
    payload = {
        "taskId": context.config.task_id,
        "roundNumber": context.round_number,
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


async def submission_execute(context: Context, prepare_data: dict):
    if not prepare_data:
        return True
    url = f"{context.config.middle_server_url}/summarizer/submit"
    result = requests.post(url, json=prepare_data).json()
    if not result.get("success"):
        raise Exception(f"Failed to submit: {result.get('message')}")
    await context.storeSet(f"submission-{context.env.get('WORKER_ID')}", prepare_data)
    return True


async def audit_prepare(context: Context, target_name: str):
    submission = await context.storeGet(f"submission-{target_name}")
    if not submission or submission["roundNumber"] != context.round_number:
        return None
    return _signed(
        context,
        {
            "taskId": context.config.task_id,
            "roundNumber": context.round_number,
            "prUrl": submission["prUrl"],
            "submitterKey": submission["stakingKey"],
            "stakingKey": context.worker.staking_public_key,
            "action": "audit",
        },
    )


async def audit_execute(context: Context, prepare_data: dict):
    if not prepare_data:
        return True
    url = f"{context.config.middle_server_url}/summarizer/audit"
    result = requests.post(url, json=prepare_data).json()
    if not result.get("success") or not result.get("approved"):
        raise Exception(f"Failed to audit: {result}")
    with pymongo.MongoClient(context.mongo_uri) as client:
        client[context.database].audits.insert_one(
            {"taskId": context.config.task_id, "round": context.round_number, "approved": True}
        )
    await context.storeSet("audited", (await context.storeGet("audited") or 0) + 1)
    return True
