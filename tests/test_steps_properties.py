"""Property tests (hypothesis) of what a step sequence reads from outside before it starts
anything: config.yaml, workers.json, the .env files and test_state.json, through the
session the TestRunner opens. Whatever the bytes, the session opens or raises
StepsConfigError naming the file; nothing else escapes. Example counts are fixed and no
worker starts, so each test runs in a few seconds."""

from __future__ import annotations

import json
import string
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from trialrun import _core
from trialrun.steps import StepsConfigError

BOUNDED = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@contextmanager
def project(
    config: bytes = b"task_id: t\n",
    workers: bytes = b'{"w1": {}}',
    dotenv: bytes | None = None,
    state: bytes | None = None,
) -> Iterator[Path]:
    """project/{main.py,.env} and project/tests/{config.yaml,workers.json,data/...};
    yields the config file."""
    with tempfile.TemporaryDirectory(prefix="trialrun-props-") as root:
        tests = Path(root) / "project" / "tests"
        (tests / "data").mkdir(parents=True)
        (tests.parent / "main.py").write_text("")
        (tests / "config.yaml").write_bytes(config)
        (tests / "workers.json").write_bytes(workers)
        if dotenv is not None:
            (tests.parent / ".env").write_bytes(dotenv)
        if state is not None:
            (tests / "data" / "test_state.json").write_bytes(state)
        yield tests / "config.yaml"


def open_session(config: Path) -> _core.StepSession | StepsConfigError:
    """The session, or the StepsConfigError it raised (any other exception fails)."""
    try:
        return _core.StepSession(str(config), "{}", [("a", "", "w1")], sys.executable, "t")
    except StepsConfigError as e:
        return e


def worker_env(session: _core.StepSession) -> dict[str, str]:
    """The environment worker w1 would start with."""
    (env,) = [env for name, _port, env, _details in session.workers() if name == "w1"]
    return env


@BOUNDED
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
@example(b"A=1\nB=a\x00b\n")
@example(b"A=\xff\n")
def test_any_dotenv_opens_with_receivable_variables_or_names_the_file(content):
    with project(dotenv=content) as config:
        dotenv = config.parent.parent / ".env"
        got = open_session(config)
        if isinstance(got, StepsConfigError):
            assert str(got).startswith(f"{dotenv}: "), got
            assert len(str(got)) < 500
        else:
            for key, value in worker_env(got).items():
                assert "\0" not in key + value and len(key) + len(value) < 131072


KEYS = st.from_regex(r"[A-Z_][A-Z0-9_]{0,8}", fullmatch=True).filter(
    lambda k: k not in {"PORT", "DATABASE_PATH", "TRIALRUN_STEPS_WORKER"}
)
QUOTABLE = st.text(
    alphabet=st.characters(
        blacklist_characters="'\\\n\r\0", blacklist_categories=("Cs",), max_codepoint=0x2FFF
    ),
    max_size=20,
)


@BOUNDED
@given(st.dictionaries(KEYS, QUOTABLE, max_size=6))
def test_dotenv_variables_reach_the_worker_as_written(variables):
    text = "".join(f"{k}='{v}'\n" for k, v in variables.items())
    with project(dotenv=text.encode()) as config:
        session = open_session(config)
        assert not isinstance(session, StepsConfigError), session
        env = worker_env(session)
        assert {k: env[k] for k in variables} == variables


@BOUNDED
@given(st.binary(max_size=120) | st.just(b'{"version": 1}') | st.text(max_size=80).map(str.encode))
def test_any_state_file_opens_or_names_itself(content):
    with project(state=content) as config:
        path = config.parent / "data" / "test_state.json"
        got = open_session(config)
        if isinstance(got, StepsConfigError):
            assert str(got).startswith(f"{path}: "), got
            assert "--reset" in str(got)


CONFIG_KEYS = st.sampled_from(
    [
        "task_id",
        "max_rounds",
        "base_port",
        "data_dir",
        "workers_config",
        "step_timeout",
        "retries",
        "continue_on_failure",
        "mongodb",
        "workers",
        "surprise",
    ]
)
YAML_VALUES = st.sampled_from(
    ["1", "0", "-1", "70000", "2.5", ".inf", "true", "null", "[1]", "{a: 1}", "'x'", "&a [*a]"]
) | st.text(alphabet=string.printable.replace("\r", "").replace("\n", ""), max_size=10)


@BOUNDED
@given(
    st.lists(st.tuples(CONFIG_KEYS, YAML_VALUES), max_size=5).map(
        lambda pairs: "".join(f"{k}: {v}\n" for k, v in pairs).encode()
    )
    | st.binary(max_size=100)
)
def test_any_config_yaml_opens_or_names_a_file(content):
    with project(config=content) as config:
        got = open_session(config)
        if isinstance(got, StepsConfigError):
            # config.yaml, or a file its keys name (workers_config, data_dir's folder).
            assert str(got).startswith("/"), got
        else:
            config_doc = json.loads(got.config_json())
            assert config_doc["max_rounds"] >= 1


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
WORKER = st.dictionaries(
    st.sampled_from(["port", "env", "command", "ready", "stop_grace", "env_vars", "x"]),
    JSON | st.dictionaries(st.text(max_size=4), st.text(max_size=6), max_size=3),
    max_size=4,
)


@BOUNDED
@given(
    st.dictionaries(st.just("w1") | st.text(max_size=4), WORKER, max_size=3).map(
        lambda doc: json.dumps(doc, indent=2).encode()
    )
    | st.binary(max_size=80)
)
def test_any_workers_json_opens_or_names_it(content):
    with project(workers=content) as config:
        path = config.parent / "workers.json"
        got = open_session(config)
        if isinstance(got, StepsConfigError):
            # workers.json, or (step 'a' has no worker w1) the step naming it.
            assert str(got).startswith(f"{path}: ") or str(got).startswith("step 'a'"), got
        else:
            for _name, _port, env, _details in got.workers():
                assert "\0" not in "".join(k + v for k, v in env.items())
