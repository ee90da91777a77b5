"""What prepare and execute receive: the step's context, its workers and configuration."""

from __future__ import annotations

from typing import Any

from trialrun.steps.config import Config
from trialrun.steps.errors import SkipStep

__all__ = ["Context", "StepContext", "WorkerInfo"]


class WorkerInfo:
    """A worker as steps see it: name, url (http://127.0.0.1:PORT), port, env."""

    def __init__(self, name: str, port: int, env: dict[str, str]) -> None:
        self.name, self.port, self.env = name, port, env
        self.url = f"http://127.0.0.1:{port}"

    def __repr__(self) -> str:
        return f"WorkerInfo({self.name!r}, url={self.url!r})"


class StepContext:
    """What prepare and execute receive.

    - `config`: the configuration (task_id and the rest) as attributes;
    - `worker`: this step's worker (`WorkerInfo`); `workers`: all of them by name;
    - `round`: the round, from 1; `step`: this step's name;
    - `round_state` / `global_state`: dicts of JSON-serializable values, saved in
      test_state.json after every step and restored on resume. `round_state` starts
      empty in each round; `global_state` lasts the whole sequence;
    - `mongo_uri`, `database`: the MongoDB the data was loaded into (None without one);
    - `skip(reason)`: skip this step.

    prometheus-test's older `Context` (the same object, importable as
    `trialrun.steps.Context`): `env` (this worker's environment), `round_number`,
    `await storeGet(key)` / `await storeSet(key, value)` (a store lasting the whole
    sequence: global_state).
    """

    def __init__(
        self,
        config: Config,
        worker: WorkerInfo,
        workers: dict[str, WorkerInfo],
        round: int,
        step: str,
        round_state: dict[str, Any],
        global_state: dict[str, Any],
        mongo_uri: str | None,
        database: str | None,
    ) -> None:
        self.config = config
        self.worker = worker
        self.workers = workers
        self.round = round
        self.step = step
        self.round_state = round_state
        self.global_state = global_state
        self.mongo_uri = mongo_uri
        self.database = database

    def skip(self, reason: str = "") -> None:
        raise SkipStep(reason)

    @property
    def env(self) -> dict[str, str]:
        return self.worker.env

    @property
    def round_number(self) -> int:
        return self.round

    async def storeGet(self, key: str) -> Any:  # noqa: N802 (the package's name)
        return self.global_state.get(key)

    async def storeSet(self, key: str, value: Any) -> None:  # noqa: N802
        self.global_state[key] = value


# prometheus-test's older name for what steps receive.
Context = StepContext
