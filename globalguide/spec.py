"""DeploySpec: what the user asked for. Flags win over the environment, which wins over
``globalguide.toml``, which wins over the defaults. Pure: no cloud calls, nothing written.
"""

from __future__ import annotations

import configparser
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from globalguide import container
from globalguide.errors import UsageError
from globalguide.geo import DEFAULT_REGIONS

if TYPE_CHECKING:
    from globalguide.suggest import Suggested

DEFAULT_NAME = "local-guide"
DEFAULT_MIN_INSTANCES = 0
DEFAULT_MAX_INSTANCES = 5
DEFAULT_CONCURRENCY = 80
SETTINGS_FILE = "globalguide.toml"

# Cloud Run service ids are at most 49 characters and every other resource name is the
# deployment name plus a short suffix, so the name is kept well inside both limits.
_NAME = re.compile(r"[a-z]([-a-z0-9]{0,23}[a-z0-9])?")
_PROJECT = re.compile(r"[a-z][-a-z0-9]{4,28}[a-z0-9]")
_DOMAIN = re.compile(r"(?=.{4,253}\Z)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_MODEL = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_SETTINGS_KEYS = {
    "project", "name", "regions", "model", "min_instances", "max_instances", "concurrency",
    "domain", "source", "image", "env", "port", "cpu", "memory",
}  # fmt: skip


def default_model() -> str:
    from service.gemini import DEFAULT_MODEL

    return DEFAULT_MODEL


@dataclass(frozen=True)
class DeploySpec:
    project: str
    name: str = DEFAULT_NAME
    regions: tuple[str, ...] = DEFAULT_REGIONS
    model: str = field(default_factory=default_model)
    min_instances: int = DEFAULT_MIN_INSTANCES
    max_instances: int = DEFAULT_MAX_INSTANCES
    concurrency: int = DEFAULT_CONCURRENCY
    domain: str | None = None
    local: bool = False
    # Set when the regions were chosen by `--regions suggest:K`: what was chosen and why.
    region_choice: Suggested | None = None
    # Your own service (docs/service.md): a directory to build, or a prebuilt image; the
    # Local Guide when neither is given. ``env`` is extra container env, sorted pairs.
    source: str | None = None
    image: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    port: int = container.DEFAULT_PORT
    cpu: str = container.DEFAULT_CPU
    memory: str = container.DEFAULT_MEMORY

    def validated(self) -> DeploySpec:
        """This spec if every value is usable, else a UsageError naming the first bad one."""
        from globalguide import geo

        if not _NAME.fullmatch(self.name):
            raise UsageError(
                f"Invalid name {self.name!r}: use 1-25 lowercase letters, digits or hyphens, "
                "starting with a letter and not ending with a hyphen."
            )
        if not self.project:
            raise UsageError(
                "No project: pass --project, set GOOGLE_CLOUD_PROJECT, or run "
                "`gcloud config set project PROJECT_ID`."
            )
        if not self.local and not _PROJECT.fullmatch(self.project):
            raise UsageError(f"Invalid project id {self.project!r}.")
        if not self.regions:
            raise UsageError("At least one region is needed.")
        if len(set(self.regions)) != len(self.regions):
            raise UsageError("A region is listed twice.")
        for region in self.regions:
            try:
                geo.validate_region(region)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
        if not _MODEL.fullmatch(self.model):
            raise UsageError(f"Invalid model name {self.model!r}.")
        if not 0 <= self.min_instances <= 100:
            raise UsageError("--min-instances must be between 0 and 100.")
        if not 1 <= self.max_instances <= 100:
            raise UsageError("--max-instances must be between 1 and 100.")
        if self.min_instances > self.max_instances:
            raise UsageError("--min-instances cannot be more than --max-instances.")
        if not 1 <= self.concurrency <= 1000:
            raise UsageError("--concurrency must be between 1 and 1000.")
        if self.domain is not None and not _DOMAIN.fullmatch(self.domain):
            raise UsageError(f"Invalid domain {self.domain!r}.")
        self._check_container()
        return self

    def _check_container(self) -> None:
        if self.source and self.image:
            raise UsageError("Give --source or --image, not both.")
        if self.source is not None and not Path(self.source).is_dir():
            raise UsageError(f"--source {self.source}: no such directory.")
        if self.image is not None:
            container.check_image(self.image)
        container.check_env(dict(self.env))
        container.check_port(self.port)
        container.check_resources(self.cpu, self.memory, self.concurrency)


def gcloud_project(env: dict[str, str] | None = None) -> str | None:
    """The project of gcloud's active configuration, read from its files (gcloud not needed)."""
    env = dict(os.environ) if env is None else env
    if env.get("CLOUDSDK_CORE_PROJECT"):
        return env["CLOUDSDK_CORE_PROJECT"]
    config_dir = Path(env.get("CLOUDSDK_CONFIG") or Path.home() / ".config" / "gcloud")
    active = env.get("CLOUDSDK_ACTIVE_CONFIG_NAME")
    if not active:
        try:
            active = (config_dir / "active_config").read_text().strip() or "default"
        except OSError:
            active = "default"
    parser = configparser.ConfigParser()
    try:
        parser.read(config_dir / "configurations" / f"config_{active}")
    except configparser.Error:
        return None
    return parser.get("core", "project", fallback=None) or None


def read_settings_file(path: Path) -> dict[str, Any]:
    """The [deploy] table (or top level) of globalguide.toml; {} when there is no file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise UsageError(f"Cannot read {path.name}: {exc.strerror}.") from None
    if len(raw) > 64 * 1024:
        raise UsageError(f"{path.name} is too large (over 64 KiB).")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path.name} is not valid TOML: {exc}.") from None
    table = data.get("deploy", data)
    if not isinstance(table, dict):
        raise UsageError(f"{path.name}: [deploy] must be a table.")
    unknown = sorted(set(table) - _SETTINGS_KEYS - {"deploy"})
    if unknown:
        raise UsageError(f"{path.name}: unknown setting {unknown[0]!r}.")
    return {k: v for k, v in table.items() if k in _SETTINGS_KEYS}


def _typed(key: str, value: Any) -> Any:
    if key == "env":
        if isinstance(value, dict):
            value = [f"{k}={v}" for k, v in value.items()]
        if not isinstance(value, list | tuple) or not all(isinstance(i, str) for i in value):
            raise UsageError("env must be a table of names and values, or KEY=VALUE strings.")
        return tuple(sorted(container.parse_env(list(value)).items()))
    if key in ("min_instances", "max_instances", "concurrency", "port"):
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise UsageError(f"{key} must be a whole number.")
        try:
            return int(value)
        except ValueError:
            raise UsageError(f"{key} must be a whole number, not {value!r}.") from None
    if key == "regions":
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise UsageError("regions must be a comma-separated list of region names.")
        # Region names are lower case; "US-CENTRAL1" means us-central1.
        return tuple(i.strip().lower() for i in items if i.strip())
    if key == "cpu" and isinstance(value, int | float) and not isinstance(value, bool):
        value = f"{value:g}"
    if not isinstance(value, str):
        raise UsageError(f"{key} must be text.")
    return value.strip()


def build_spec(
    flags: dict[str, Any],
    *,
    local: bool,
    local_project: str | None = None,
    env: dict[str, str] | None = None,
    settings_path: Path | None = None,
) -> DeploySpec:
    """Merge flags (None = not given), environment, settings file and defaults."""
    env = dict(os.environ) if env is None else env
    file_values = read_settings_file(settings_path or Path.cwd() / SETTINGS_FILE)
    for key in ("name", "regions", "model", "domain", "project"):
        value = flags.get(key)
        if isinstance(value, str) and not value.replace(",", "").strip():
            option = "--" + key.replace("_", "-")
            raise UsageError(f"{option} is empty: give a value, or leave {option} out.")
    merged: dict[str, Any] = {}
    for key in _SETTINGS_KEYS - {"env"}:
        for value in (flags.get(key), env.get(f"GLOBALGUIDE_{key.upper()}"), file_values.get(key)):
            if value is not None and value != "":
                merged[key] = _typed(key, value)
                break
    # --env adds to (and overrides by name) the settings file's env table.
    container_env = dict(_typed("env", file_values.get("env") or []))
    container_env.update(_typed("env", list(flags.get("env") or [])))
    if container_env:
        merged["env"] = tuple(sorted(container_env.items()))
    if local:
        merged["project"] = project_on_emulator(flags.get("project"), local_project)
    else:
        merged["project"] = (
            flags.get("project")
            or env.get("GOOGLE_CLOUD_PROJECT")
            or file_values.get("project")
            or gcloud_project(env)
            or ""
        )
    choice = _suggested(merged.get("regions", ()), flags.get("weights"))
    if choice is not None:
        merged.update(regions=choice.regions, region_choice=choice)
    spec = DeploySpec(local=local, **merged)
    return spec.validated()


def project_on_emulator(given: str | None, served: str | None) -> str:
    """The project a command on the emulator uses: the one it serves; --project may name
    only that one."""
    if given and served and given != served:
        raise UsageError(f"--local serves project {served!r}; --project {given!r} does not match.")
    return served or given or ""


def _suggested(regions: tuple[str, ...], weights: Path | None) -> Suggested | None:
    """The choice `--regions suggest:K` makes; None for a list of regions."""
    from globalguide import suggest

    k = suggest.parse_spec(regions)
    if k is None:
        if weights is not None:
            raise UsageError("--weights applies only with --regions suggest:K.")
        return None
    return suggest.for_deploy(k, weights)
