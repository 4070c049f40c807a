"""What the user may ask of the container: environment, port, CPU, memory and a prebuilt
image. Each check raises a UsageError with one line; nothing here reads the cloud.

Sources of the rules:
- reserved names: Cloud Run's container contract sets ``PORT``, ``K_SERVICE``,
  ``K_REVISION`` and ``K_CONFIGURATION`` itself and refuses them in a service's env
  (https://cloud.google.com/run/docs/container-contract#env-vars); an env name or value
  is at most 32768 characters/bytes (run_v2.EnvVar docstring); at most 1000 variables
  (https://cloud.google.com/run/docs/configuring/services/environment-variables).
- port: ``0 < container_port < 65536`` (run_v2.ContainerPort docstring).
- CPU: whole 1, 2, 4, 6 or 8, or a fraction from 0.08 below 1, which needs concurrency 1;
  memory from 128 MiB to 32 GiB with the CPU each size needs
  (https://cloud.google.com/run/docs/configuring/services/cpu and .../memory-limits).
- images: Cloud Run deploys images from Artifact Registry, Container Registry (gcr.io) and
  Docker Hub; any other registry needs an Artifact Registry remote repository
  (https://cloud.google.com/run/docs/deploying#images).
"""

from __future__ import annotations

import re

from globalguide.errors import UsageError
from globalguide.run_limits import WHOLE_CPUS, min_cpu_for_memory

RESERVED_ENV = ("PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION")
# Set by globalguide itself in every region (docs/service.md): the contract, not the user's.
OWN_ENV = ("SERVICE_REGION", "GOOGLE_CLOUD_PROJECT", "VERTEX_LOCATION", "GEMINI_MODEL")
MAX_ENV = 1000
MAX_ENV_CHARS = 32768
DEFAULT_PORT = 8080
DEFAULT_CPU = "1"
DEFAULT_MEMORY = "512Mi"

_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
_MEMORY = re.compile(r"([1-9][0-9]{0,5})(Mi|Gi)")
_CPU = re.compile(r"(?:[1-9][0-9]*|0?\.[0-9]{1,3}|[0-9]+m)")
# The least memory some CPU counts need (4 CPUs: 2 GiB; 6 or 8: 4 GiB).
_MIN_MEMORY_FOR_CPU = {4: 2048, 6: 4096, 8: 4096}

# Where Cloud Run pulls from: Artifact Registry, Container Registry, Docker Hub.
_ARTIFACT_REGISTRY = re.compile(r"[a-z0-9-]+-docker\.pkg\.dev\Z")
_CONTAINER_REGISTRY = re.compile(r"(?:[a-z]+\.)?gcr\.io\Z")
_DOCKER_HUB = ("docker.io", "index.docker.io", "registry-1.docker.io")
# distribution/reference: [host[:port]/]path[:tag][@digest]
_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
_IMAGE = re.compile(
    rf"(?:(?P<host>[a-zA-Z0-9.-]+(?::\d+)?)/)?(?P<path>{_PATH})"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?"
)


def parse_env(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``KEY=VALUE`` strings as a dict, in order; refuse a malformed one."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--env {item[:40]!r}: use KEY=VALUE.")
        out[name] = value
    return out


def check_env(env: dict[str, str]) -> None:
    if len(env) > MAX_ENV:
        raise UsageError(f"At most {MAX_ENV} environment variables (--env).")
    for name, value in env.items():
        if name in RESERVED_ENV:
            raise UsageError(
                f"--env {name}: Cloud Run sets {name} itself and refuses it in a service's env."
            )
        if name in OWN_ENV:
            raise UsageError(f"--env {name}: globalguide sets {name} in every region.")
        if len(name) > MAX_ENV_CHARS or not _ENV_NAME.fullmatch(name):
            raise UsageError(
                f"--env {name[:40]!r}: a name is letters, digits, '_', '-' or '.', "
                "not starting with a digit."
            )
        if len(value.encode()) > MAX_ENV_CHARS:
            raise UsageError(f"--env {name}: the value is over {MAX_ENV_CHARS} bytes.")
        if "\x00" in value:
            raise UsageError(f"--env {name}: the value holds a NUL byte.")


def check_port(port: int) -> None:
    if not 0 < port < 65536:
        raise UsageError(f"--port must be between 1 and 65535, not {port}.")


def cpu_count(cpu: str) -> float:
    if not _CPU.fullmatch(cpu):
        raise UsageError(f"--cpu {cpu[:20]!r}: use a number of CPUs such as 1, 2 or 0.5.")
    value = int(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)
    fraction = 0.08 <= value < 1 and abs(value * 100 - round(value * 100)) < 1e-9
    if not (fraction or value in WHOLE_CPUS):
        raise UsageError(
            f"--cpu {cpu}: Cloud Run takes 1, 2, 4, 6 or 8 CPUs, or a fraction from 0.08 to "
            "below 1 in steps of 0.01."
        )
    return value


def memory_mib(memory: str) -> int:
    match = _MEMORY.fullmatch(memory)
    if match is None:
        raise UsageError(f"--memory {memory[:20]!r}: use Mi or Gi, such as 512Mi or 2Gi.")
    return int(match.group(1)) * (1024 if match.group(2) == "Gi" else 1)


def check_resources(cpu: str, memory: str, concurrency: int) -> None:
    cpus = cpu_count(cpu)
    mib = memory_mib(memory)
    if not 128 <= mib <= 32768:
        raise UsageError(f"--memory {memory}: Cloud Run takes 128Mi to 32Gi.")
    needed = min_cpu_for_memory(mib, 0.0)
    if cpus < needed:
        raise UsageError(f"--memory {memory} needs at least {needed:g} CPU (--cpu {cpu}).")
    floor = _MIN_MEMORY_FOR_CPU.get(int(cpus), 0) if cpus >= 1 else 0
    if mib < floor:
        raise UsageError(f"--cpu {cpu} needs at least {floor // 1024}Gi of memory.")
    if cpus < 1 and concurrency > 1:
        raise UsageError(f"--cpu {cpu}: less than 1 CPU needs --concurrency 1.")


def check_image(image: str) -> None:
    """An image reference Cloud Run can pull, or a UsageError saying why it cannot."""
    match = _IMAGE.fullmatch(image) if len(image) <= 1024 else None
    if match is None:
        raise UsageError(f"--image {image[:60]!r} is not an image reference (HOST/PATH:TAG).")
    host = match.group("host") or ""
    if "." not in host and ":" not in host and host != "localhost":
        return  # no registry host: Docker Hub (docker.io/<host>/<path>)
    if _ARTIFACT_REGISTRY.match(host):
        if match.group("path").count("/") < 2:
            raise UsageError(
                f"--image {image}: an Artifact Registry image is "
                "LOCATION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE."
            )
        return
    if _CONTAINER_REGISTRY.match(host) or host in _DOCKER_HUB:
        return
    raise UsageError(
        f"--image {image}: Cloud Run cannot pull from {host}; it pulls from Artifact Registry, "
        "gcr.io and Docker Hub. Push the image to Artifact Registry, or create an Artifact "
        f"Registry remote repository for {host} and deploy its docker.pkg.dev path."
    )
