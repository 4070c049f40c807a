"""Which files of a source directory go into the build: ``.gcloudignore`` and ``.dockerignore``.

``.gcloudignore`` (``gcloud topic gcloudignore``) has the syntax of ``.gitignore`` plus
``#!include:FILE`` lines: a pattern without a slash matches at any depth, a leading slash
anchors it to the top, a trailing slash matches directories only, ``!`` re-includes, and a
file under an ignored directory cannot be re-included. Without a ``.gcloudignore``,
``gcloud builds submit`` uses a default one when the directory has a ``.git`` or a
``.gitignore``: ``.gcloudignore``, ``.git``, ``.gitignore`` and ``#!include:.gitignore``.

``.dockerignore`` (https://docs.docker.com/build/concepts/context/#dockerignore-files) is
matched against the whole path from the context root (Go's ``filepath.Match`` plus
``**``), so ``*.pyc`` matches only at the top; a match of a directory excludes what is in
it; ``!`` re-includes; the last matching line wins. Docker still sends the Dockerfile and
``.dockerignore`` themselves. Both apply to ``gcloud builds submit``: the first chooses
what is uploaded, the second what the docker build can see.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from globalguide.globs import glob_regex

DEFAULT_GCLOUDIGNORE = ".gcloudignore\n.git\n.gitignore\n#!include:.gitignore\n"
MAX_IGNORE_BYTES = 256 * 1024


@dataclass(frozen=True)
class _Rule:
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool


def _read(path: Path) -> str:
    try:
        data = path.read_bytes()[:MAX_IGNORE_BYTES]
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace")


class GcloudIgnore:
    """The rules of a ``.gcloudignore`` (gitignore syntax)."""

    def __init__(self, rules: list[_Rule]) -> None:
        self.rules = rules

    @classmethod
    def for_dir(cls, root: Path) -> GcloudIgnore:
        own = root / ".gcloudignore"
        if own.is_file():
            text = _read(own)
        elif (root / ".git").exists() or (root / ".gitignore").is_file():
            text = DEFAULT_GCLOUDIGNORE
        else:
            text = ""
        return cls(cls._parse(text, root, depth=0))

    @classmethod
    def _parse(cls, text: str, root: Path, depth: int) -> list[_Rule]:
        rules: list[_Rule] = []
        for raw in text.splitlines():
            if raw.startswith("#!include:"):
                included = raw[len("#!include:") :].strip()
                target = (root / included).resolve()
                if depth < 3 and root.resolve() in target.parents and target.is_file():
                    rules += cls._parse(_read(target), root, depth + 1)
                continue
            line = re.sub(r"(?<!\\)\s+$", "", raw)
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            if negate:
                line = line[1:]
            elif line.startswith("\\!") or line.startswith("\\#"):
                line = line[1:]
            dir_only = line.endswith("/")
            line = line.rstrip("/")
            if not line:
                continue
            anchored = "/" in line
            line = line.lstrip("/")
            prefix = "" if anchored else "(?:.*/)?"
            rules.append(_Rule(re.compile(prefix + glob_regex(line) + r"\Z"), negate, dir_only))
        return rules

    def ignored(self, rel: str, *, is_dir: bool) -> bool:
        result = False
        for rule in self.rules:
            if rule.dir_only and not is_dir:
                continue
            if rule.regex.match(rel):
                result = not rule.negate
        return result


class DockerIgnore:
    """The rules of a ``.dockerignore``."""

    ALWAYS_SENT = ("Dockerfile", ".dockerignore")

    def __init__(self, rules: list[_Rule]) -> None:
        self.rules = rules

    @classmethod
    def for_dir(cls, root: Path) -> DockerIgnore:
        path = root / ".dockerignore"
        rules = []
        for raw in _read(path).splitlines() if path.is_file() else []:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            line = line[1:].strip() if negate else line
            parts = [p for p in line.split("/") if p not in ("", ".")]
            if parts:
                rules.append(_Rule(re.compile(glob_regex("/".join(parts)) + r"\Z"), negate, False))
        return cls(rules)

    def ignored(self, rel: str) -> bool:
        if rel in self.ALWAYS_SENT:
            return False
        parts = rel.split("/")
        candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        result = False
        for rule in self.rules:
            if any(rule.regex.match(c) for c in candidates):
                result = not rule.negate
        return result
