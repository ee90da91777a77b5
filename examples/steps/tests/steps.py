"""The example's steps: items made on worker1, copied to worker2, checked on both."""

import json
import urllib.error
import urllib.request
from functools import partial

from trialrun.steps import TestStep


def call(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def prepare_item(context):
    return {"name": f"{context.config.task_id}-round-{context.round}"}


def create_item(context, prepare_data, expected_status=201):
    status, body = call("POST", f"{context.worker.url}/items", prepare_data)
    if status == 409:  # made by an earlier, interrupted run: nothing left to do
        context.skip(f"item {prepare_data['name']!r} exists already")
    assert status == expected_status, (status, body)
    context.round_state["item"] = body
    context.global_state.setdefault("made", []).append(body["name"])
    return body


async def copy_item(context, prepare_data):
    # Sync helpers are fine inside async steps for a loopback call this small.
    item = context.round_state["item"]
    status, body = call("POST", f"{context.worker.url}/items", {"name": item["name"]})
    assert status in (201, 409), (status, body)
    return body


def check_both(context, prepare_data):
    name = context.round_state["item"]["name"]
    for worker in context.workers.values():
        status, items = call("GET", f"{worker.url}/items")
        assert status == 200 and name in [i["name"] for i in items], (worker.name, items)
    return {"checked": name, "made_so_far": len(context.global_state["made"])}


def check_users(context, prepare_data):
    if context.mongo_uri is None:
        context.skip("no MongoDB configured")
    import pymongo

    with pymongo.MongoClient(context.mongo_uri) as client:
        users = list(client[context.database].users.find({}, {"_id": 0, "name": 1, "checked": 1}))
    assert sorted(u["name"] for u in users) == ["ada", "grace"], users
    assert all(u.get("checked") for u in users), "post_load_callback ran"
    return users


steps = [
    TestStep(
        "create_item",
        "make an item on worker1",
        prepare_item,
        partial(create_item, expected_status=201),
        "worker1",
    ),
    TestStep("copy_item", "copy it to worker2", None, copy_item, "worker2"),
    TestStep("check_both", "both workers list it", None, check_both, "worker1", timeout=10),
    TestStep("check_users", "the MongoDB data was loaded", None, check_users, "worker2"),
]
