"""What prometheus-test's stage code reads and writes on the runner while a sequence runs:
`get`/`set` with scopes and dotted keys, `state`, `config`, `current_round`, workers.

`TestRunner` inherits this; the runner handed to `prepare(runner, worker)` is the user's
own TestRunner, so an e2e.py's post_load_callback can read `runner.config` too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trialrun.steps.config import Config
from trialrun.steps.workers import Worker

__all__ = ["Live", "RunnerState"]

_EXECUTION = ("current_round", "last_completed_step")


class Live:
    """One running sequence's values, shared by its steps' runner and contexts."""

    def __init__(
        self,
        config: Config,
        config_values: dict[str, Any],
        workers: dict[str, Worker],
        uri: str | None,
        database: str | None,
    ) -> None:
        self.config, self.config_values, self.workers = config, config_values, workers
        self.uri, self.database = uri, database
        self.round = 1
        self.last_completed_step: str | None = None
        self.round_state: dict[str, Any] = {}
        self.global_state: dict[str, Any] = {}
        self.past_rounds: dict[str, Any] = {}
        self.mongo_client: Any = None

    def enter_step(
        self,
        round_no: int,
        round_state: dict[str, Any],
        global_state: dict[str, Any],
        past_rounds: dict[str, Any],
    ) -> None:
        if round_no != self.round:
            self.last_completed_step = None  # as the package's next_round does
        self.round = round_no
        self.round_state, self.global_state, self.past_rounds = (
            round_state,
            global_state,
            past_rounds,
        )

    def close(self) -> None:
        if self.mongo_client is not None:
            self.mongo_client.close()


def _dig(value: Any, parts: list[str]) -> tuple[bool, Any]:
    for part in parts:
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


class RunnerState:
    """The runner's surface for stage code (see the module's docstring)."""

    _live: Live | None = None

    def _running(self, what: str) -> Live:
        if self._live is None:
            raise RuntimeError(
                f"runner.{what} is available while the sequence runs (in steps and "
                "post_load_callback)"
            )
        return self._live

    @property
    def config(self) -> Config:
        """The configuration: config.yaml's keys (unknown ones included) as attributes."""
        return self._running("config").config

    @property
    def current_round(self) -> int:
        return self._running("current_round").round

    @property
    def round_number(self) -> int:
        return self._running("round_number").round

    @property
    def max_rounds(self) -> int:
        return int(self._running("max_rounds").config_values["max_rounds"])

    @property
    def data_dir(self) -> Path:
        return Path(self._running("data_dir").config_values["data_dir"])

    @property
    def state(self) -> dict[str, Any]:
        """prometheus-test's state: {"rounds": {"1": {...}, ...}, "global": {...},
        "current_round": n, "last_completed_step": name}. The current round's and the
        global dicts are live: changes to them are saved after the step."""
        live = self._running("state")
        rounds = dict(live.past_rounds)
        rounds[str(live.round)] = live.round_state
        return {
            "rounds": rounds,
            "global": live.global_state,
            "current_round": live.round,
            "last_completed_step": live.last_completed_step,
        }

    def get_round_state(self) -> dict[str, Any]:
        return self._running("get_round_state").round_state

    def get(self, key: str) -> Any:
        """The value of key (dots go into nested dicts): the current round's state, else
        the global state, else the configuration (config.yaml, `workers`: workers.json);
        None when none has it."""
        live = self._running("get")
        if key in _EXECUTION:
            return live.round if key == "current_round" else live.last_completed_step
        parts = key.split(".")
        for scope in (live.round_state, live.global_state, live.config_values):
            found, value = _dig(scope, parts)
            if found:
                return value
        return None

    def set(self, key: str, value: Any, scope: str = "round") -> None:
        """Stores value under key (dots create nested dicts) in the current round's state
        ("round", the default) or the global state ("global"); saved after the step."""
        live = self._running("set")
        if scope == "round":
            target = live.round_state
        elif scope == "global":
            target = live.global_state
        elif scope == "execution":
            raise ValueError(
                f"runner.set({key!r}, scope='execution'): trialrun moves the rounds and "
                "steps itself; set round or global values instead"
            )
        else:
            raise ValueError(f"Invalid scope: {scope!r} (round or global)")
        parts = key.split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value

    def save_state(self) -> None:
        """Kept for stage code that calls it: trialrun saves the state after each step."""
        self._running("save_state")

    def get_worker(self, name: str) -> Worker:
        workers = self._running("get_worker").workers
        if name not in workers:
            raise KeyError(f"No worker found with name: {name} (workers: {', '.join(workers)})")
        return workers[name]

    @property
    def mongo_client(self) -> Any:
        """A pymongo MongoClient on the sequence's MongoDB (the `steps` extra)."""
        live = self._running("mongo_client")
        if live.uri is None:
            raise RuntimeError("runner.mongo_client: config.yaml has no mongodb section")
        if live.mongo_client is None:
            import pymongo

            live.mongo_client = pymongo.MongoClient(live.uri, serverSelectionTimeoutMS=10000)
        return live.mongo_client


def config_values(config_json: str) -> dict[str, Any]:
    """The configuration as runner.get reads it: config.yaml's values and workers.json
    (`workers`), as prometheus-test keeps them in its global state."""
    values = json.loads(config_json)
    try:
        values["workers"] = json.loads(Path(values["workers_config"]).read_text())
    except (OSError, ValueError):
        values["workers"] = {}
    return values
