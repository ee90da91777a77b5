"""Worker: a running worker as step functions see it, with prometheus-test's surface.

`name`, `url` (http://127.0.0.1:PORT), `port`, `env` (what trialrun set for it: the .env
layers, workers.json's env and env_vars, PORT, DATABASE_PATH, MONGO_URI) and, as in the
package: `get(key, default)` for workers.json's values (name, url, port, base_dir,
database_path and any other key), `get_env(name)`, `get_key(kind)` and the key attributes
(`staking_signing_key`, `staking_public_key`, `main_...`, `public_...`), and the HTTP
helpers `get(path)`, `post(path, json=...)`, `put`, `delete`, `request(method, path)`
(a key starting with "/" is a path): they return a `requests.Response` when requests is
installed, as the package's did, else an object with the same common attributes.
"""

from __future__ import annotations

import json as _json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from trialrun.steps.context import WorkerInfo
from trialrun.steps.utils import SigningKey, load_keypair

__all__ = ["Response", "Worker"]

_KEY_KINDS = {
    "staking_public": "staking_public_key",
    "staking_signing": "staking_signing_key",
    "main_public": "main_public_key",
    "main_signing": "main_signing_key",
    "public": "public_key",
    "public_signing": "public_signing_key",
}


class Worker(WorkerInfo):
    """One worker (see the module's docstring)."""

    def __init__(
        self,
        name: str,
        port: int,
        env: dict[str, str],
        data: dict[str, Any] | None = None,
        keypairs: dict[str, str] | None = None,
        base_dir: str | None = None,
    ) -> None:
        super().__init__(name, port, env)
        self._data: dict[str, Any] = {
            "name": name,
            "base_dir": base_dir,
            "database_path": env.get("DATABASE_PATH"),
            **(data or {}),
            "port": port,
            "url": self.url,
        }
        self.keypairs = dict(keypairs or {})
        loaded = {role: load_keypair(path) for role, path in self.keypairs.items()}

        def pair(*roles: str) -> tuple[SigningKey | None, str | None]:
            for role in roles:
                if role in loaded:
                    return loaded[role]
            return None, None

        # 0.1.10 names the second keypair "main", 0.1.0 "public" (public_key): both read both.
        self.staking_signing_key, self.staking_public_key = pair("staking")
        self.main_signing_key, self.main_public_key = pair("main", "public")
        self.public_signing_key, self.public_key = pair("public", "main")

    @property
    def base_dir(self) -> str | None:
        return self._data.get("base_dir")

    @property
    def database_path(self) -> str | None:
        return self._data.get("database_path")

    def get(self, key: str, default: Any = None, **kwargs: Any) -> Any:
        """workers.json's value of key (default when absent); a path ("/...") is a GET."""
        if isinstance(key, str) and key.startswith("/"):
            return self.request("GET", key, **kwargs)
        return self._data.get(key, default)

    def get_env(self, key: str) -> str | None:
        """The worker's variable: what trialrun set for it, else this process's."""
        value = self.env.get(key)
        return value if value is not None else os.environ.get(key)

    def get_key(self, key_type: str) -> Any:
        attr = _KEY_KINDS.get(key_type)
        if attr is None:
            raise ValueError(
                'key_type must be one of: "staking_public", "staking_signing", '
                '"main_public", "main_signing"'
            )
        return getattr(self, attr)

    def request(self, method: str, endpoint: str, **kwargs: Any) -> Any:
        url = f"{self.url}{endpoint}"
        try:
            import requests
        except ImportError:
            return Response.fetch(method, url, **kwargs)
        kwargs.setdefault("timeout", 60)
        return requests.request(method, url, **kwargs)

    def post(self, endpoint: str, **kwargs: Any) -> Any:
        return self.request("POST", endpoint, **kwargs)

    def put(self, endpoint: str, **kwargs: Any) -> Any:
        return self.request("PUT", endpoint, **kwargs)

    def delete(self, endpoint: str, **kwargs: Any) -> Any:
        return self.request("DELETE", endpoint, **kwargs)

    def __repr__(self) -> str:
        return f"Worker({self.name!r}, url={self.url!r})"


class Response:
    """The parts of requests.Response step code reads: status_code, ok, headers, text,
    content, json(), raise_for_status(), url."""

    def __init__(self, url: str, status_code: int, headers: dict[str, str], content: bytes):
        self.url, self.status_code, self.headers, self.content = url, status_code, headers, content

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return _json.loads(self.content)

    def raise_for_status(self) -> None:
        if not self.ok:
            raise urllib.error.HTTPError(self.url, self.status_code, self.text, None, None)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"<Response [{self.status_code}]>"

    @classmethod
    def fetch(
        cls,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> Response:
        if params:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params)
        headers = dict(headers or {})
        body = data.encode() if isinstance(data, str) else data
        if json is not None:
            body = _json.dumps(json).encode()
            headers.setdefault("Content-Type", "application/json")
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as r:
                return cls(url, r.status, dict(r.headers), r.read())
        except urllib.error.HTTPError as e:
            return cls(url, e.code, dict(e.headers), e.read())
