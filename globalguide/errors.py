"""The errors a user sees, raised where they are known and rendered once in the CLI.

``UsageError``: something the user can fix in what they typed or configured (exit 2,
nothing was changed). ``CloudError``: the cloud (or the emulator) failed (exit 1), with
what failed and what to do.
"""

from __future__ import annotations

EXIT_FAILURE = 1
EXIT_USAGE = 2


class GlobalGuideError(Exception):
    exit_code = EXIT_FAILURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(GlobalGuideError):
    exit_code = EXIT_USAGE


class CloudError(GlobalGuideError):
    exit_code = EXIT_FAILURE
