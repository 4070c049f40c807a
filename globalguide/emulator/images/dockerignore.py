""".dockerignore: which paths of the build context COPY and ADD leave out."""

from __future__ import annotations

import re
from pathlib import Path

from globalguide.globs import glob_regex


class DockerIgnore:
    """The .dockerignore rules: glob patterns, ``**``, and ``!`` exceptions; last match wins."""

    def __init__(self, rules: list[tuple[bool, re.Pattern[str]]]) -> None:
        self.rules = rules
        self.has_exceptions = any(negate for negate, _ in rules)

    @classmethod
    def load(cls, context: Path) -> DockerIgnore:
        path = context / ".dockerignore"
        rules: list[tuple[bool, re.Pattern[str]]] = []
        if path.is_file():
            for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
                line = raw.strip()
                if not line or line.startswith("#"):
                    continue
                negate = line.startswith("!")
                pattern = line[1:].strip() if negate else line
                pattern = "/".join(p for p in pattern.strip("/").split("/") if p not in ("", "."))
                if pattern:
                    rules.append((negate, _glob_regex(pattern)))
        return cls(rules)

    def excluded(self, rel_path: str) -> bool:
        result = False
        for negate, regex in self.rules:
            if regex.match(rel_path) or any(regex.match(prefix) for prefix in _prefixes(rel_path)):
                result = not negate
        return result


def _prefixes(rel_path: str) -> list[str]:
    parts = rel_path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _glob_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(glob_regex(pattern) + r"\Z")
