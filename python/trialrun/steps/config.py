"""The configuration as step functions read it: read-only attributes and items."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["Config"]


class Config:
    """Read-only attribute (and item) access to the configuration: `config.task_id`,
    `config.mongodb.database`, `config["my_key"]`."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_values", {k: _wrap(v) for k, v in values.items()})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_values":  # copy/pickle probing a bare instance
            raise AttributeError(name)
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(
                f"config has no key {name!r} (keys: {', '.join(sorted(self._values))})"
            ) from None

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def get(self, name: str, default: Any = None) -> Any:
        return self._values.get(name, default)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("the config is read-only")

    def __repr__(self) -> str:
        return f"Config({self._values!r})"


def _wrap(value: Any) -> Any:
    return Config(value) if isinstance(value, dict) else value
