"""Which cloud a command talks to: Google Cloud with ADC, or the emulator (--local or
GLOBALGUIDE_EMULATOR), started on demand for --local."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from globalguide.errors import CloudError, UsageError


class NoEmulator(UsageError):
    """--local with no emulator running, for a command that does not start one."""


@dataclass(frozen=True)
class Emulated:
    endpoint: str
    project: str
    token: str | None = field(default=None, repr=False)


def emulator_project(endpoint: str, token: str | None) -> str:
    from globalguide.emulator.session import TOKEN_ENV, control_request

    request = control_request(endpoint, "health", token=token)
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310
            return str(json.loads(resp.read())["project"])
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            raise CloudError(
                f"The emulator at {endpoint} refused the session token.",
                hint=f"Set {TOKEN_ENV} to the contents of the file `globalguide emulator "
                "status --json` names as tokenPath.",
            ) from None
        raise CloudError(f"The emulator at {endpoint} answered {exc.code}.") from None
    except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
        raise CloudError(
            f"The emulator at {endpoint} does not answer.",
            hint="Start it with `globalguide emulator start`, or unset GLOBALGUIDE_EMULATOR.",
        ) from exc


def resolve_emulator(local: bool, *, start: bool) -> Emulated | None:
    """The emulator to use, if any: GLOBALGUIDE_EMULATOR wins; --local finds or starts one."""
    from globalguide.cloud.clients import emulator_endpoint_from_env

    endpoint = emulator_endpoint_from_env()
    if endpoint:
        if not endpoint.startswith(("http://127.", "http://localhost", "http://[::1]")):
            raise UsageError("GLOBALGUIDE_EMULATOR must be a loopback http:// URL.")
        from globalguide.emulator.session import token_for

        token = token_for(endpoint)
        return Emulated(endpoint, emulator_project(endpoint, token), token)
    if not local:
        return None
    from globalguide.emulator.daemon import find_running

    running = find_running()
    if running is None:
        if not start:
            raise NoEmulator(
                "The emulator is not running, so there is no local deployment.",
                hint="Deploy with `globalguide deploy --local`.",
            )
        from globalguide import emulator_control
        from globalguide.emulator.options import EmulatorConfig

        running, _ = emulator_control.start(EmulatorConfig())
    return Emulated(running.endpoint, running.project, running.token)
