"""Checks that the Rust core's rooms (the top-level modules under src/) depend in one
direction: prints which room uses which, and fails on a cycle or on a leaf room (audio,
net, xml, evaluation) that uses another room.

A use is any `crate::ROOM` path in a room's files, including the grouped form
`crate::{a, b::c}`. Run from anywhere: python3 scripts/check_rooms.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
LEAVES = {"audio", "net", "xml", "evaluation"}
# lib.rs only declares the rooms and re-exports the Python module.
IGNORED = {"lib"}

PATH = re.compile(r"crate::([a-z_][a-z0-9_]*)")
GROUP = re.compile(r"crate::\{([^}]*)\}", re.S)


def room_of(path: Path) -> str:
    first = path.relative_to(SRC).parts[0]
    return first.removesuffix(".rs")


def uses(text: str) -> set[str]:
    found = set(PATH.findall(text))
    for group in GROUP.findall(text):
        for item in group.split(","):
            name = item.strip().split("::")[0].strip()
            if re.fullmatch(r"[a-z_][a-z0-9_]*", name):
                found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in sorted(SRC.rglob("*.rs")):
        room = room_of(path)
        if room in IGNORED:
            continue
        text = path.read_text()
        rooms = {t for t in uses(text) if (SRC / t).is_dir() or (SRC / f"{t}.rs").exists()}
        edges.setdefault(room, set()).update(rooms - {room})
    return edges


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state:
                found = visit(target, path + [target])
                if found:
                    return found
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node, [node])
            if found:
                return found
    return None


def main() -> int:
    edges = graph()
    for room in sorted(edges):
        print(f"{room:<11} -> {', '.join(sorted(edges[room])) or '(nothing)'}")
    failed = False
    found = cycle(edges)
    if found:
        print(f"cycle between rooms: {' -> '.join(found)}", file=sys.stderr)
        failed = True
    for leaf in sorted(LEAVES):
        if edges.get(leaf):
            print(f"leaf room {leaf} uses {', '.join(sorted(edges[leaf]))}", file=sys.stderr)
            failed = True
    if not failed:
        print("rooms: no cycle; leaf rooms use no other room")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
