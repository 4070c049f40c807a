"""Path globs as in ``.gitignore`` and ``.dockerignore`` (Go's ``filepath.Match`` plus
``**``), written once for the source packer and the emulator's image builder."""

from __future__ import annotations

import re


def glob_regex(pattern: str) -> str:
    """The regular expression of a path glob: ``*`` and ``?`` within one path segment,
    ``**`` across segments, ``[...]`` classes (``[!...]`` negated), ``\\`` escapes."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        elif pattern[i] == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)
