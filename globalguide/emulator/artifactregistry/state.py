"""What the Artifact Registry twin holds: repositories, the creates still running, each
repository's packages and its IAM policy. Not locked: the API holds the emulator's lock
around every use."""

from __future__ import annotations

from typing import Any

from globalguide.emulator.artifactregistry.docker import Package, Packages, docker_image_json
from globalguide.emulator.artifactregistry.errors import not_found
from globalguide.emulator.iam.permissions import ResourcePolicy


class RegistryState:
    def __init__(self) -> None:
        self.repos: dict[str, dict[str, Any]] = {}
        self.creating: dict[str, str] = {}  # repository -> the operation creating it
        self.packages: dict[str, Packages] = {}  # repository -> its packages
        self.policies: dict[str, ResourcePolicy] = {}

    def clear(self) -> None:
        self.repos.clear()
        self.creating.clear()
        self.packages.clear()
        self.policies.clear()

    def count(self) -> int:
        return len(self.repos) + sum(len(p) for p in self.packages.values())

    def snapshot(self) -> dict[str, Any]:
        images = [
            docker_image_json(repo, image, pkg, version)
            for repo, packages in self.packages.items()
            for image, pkg in packages.items()
            for version in pkg.versions.values()
        ]
        return {"repositories": [self.render(n) for n in self.repos], "images": images}

    def require(self, name: str) -> str:
        """``name``, once it is known to be a repository (404 otherwise)."""
        if name not in self.repos:
            raise not_found()
        return name

    def render(self, name: str) -> dict[str, Any]:
        """The stored repository, with ``sizeBytes`` summed over its versions."""
        repo = dict(self.repos[name])
        size = sum(
            v.size for p in self.packages.get(name, {}).values() for v in p.versions.values()
        )
        if size:
            repo["sizeBytes"] = str(size)
        return repo

    def package(self, repo: str, image: str) -> Package:
        pkg = self.packages.get(repo, {}).get(image)
        if pkg is None:
            raise not_found()
        return pkg

    def add(self, name: str, resource: dict[str, Any]) -> None:
        """A create completes: the repository appears with an empty policy."""
        self.creating.pop(name, None)
        self.repos[name] = resource
        self.policies[name] = ResourcePolicy(name)

    def remove(self, name: str) -> None:
        """A delete completes: the repository goes, and everything in it."""
        self.require(name)
        del self.repos[name]
        self.packages.pop(name, None)
        self.policies.pop(name, None)

    def being_created(self, name: str, operations: Any) -> bool:
        """True while an operation creating ``name`` is still running."""
        op_name = self.creating.get(name)
        if op_name is None:
            return False
        op = operations.get(op_name)
        if op is None or op.done:
            self.creating.pop(name, None)
            return False
        return True
