"""Artifact Registry v1: repositories and the Docker images, packages, versions and tags in them.

Cloud Build records the images it pushes with :meth:`API.record_image`; Cloud Run and the
data plane turn an image URI into an image-store digest with :meth:`API.resolve`. Creating
and deleting a repository are long-running operations; deleting one deletes what is in it,
as the real API does. Deleting a package or a version is a long-running operation too;
deleting a tag is not (artifactregistry_v1 REST transport and types).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple

from werkzeug.wrappers import Request

from globalguide.emulator.artifactregistry import docker, repositories, repository_iam
from globalguide.emulator.artifactregistry.errors import already_exists, not_found
from globalguide.emulator.artifactregistry.image_uri import parse_image_uri
from globalguide.emulator.artifactregistry.state import RegistryState
from globalguide.emulator.core.paging import offset_page
from globalguide.emulator.core.project import project_number
from globalguide.emulator.core.routing import ApiError, Route, bad_request, raw_path, read_json
from globalguide.emulator.core.stateful import StatefulAPI
from globalguide.emulator.core.timestamps import rfc3339
from globalguide.emulator.iam.permissions import ResourcePolicy, account_exists

if TYPE_CHECKING:
    from globalguide.emulator.iam import API as IamAPI

SERVICE = "artifactregistry.googleapis.com"
DEFAULT_PAGE_SIZE = 100
_OP_METADATA = {
    "@type": "type.googleapis.com/google.devtools.artifactregistry.v1.OperationMetadata"
}
_TYPE = "type.googleapis.com/google.devtools.artifactregistry.v1."
_EMPTY = {"@type": "type.googleapis.com/google.protobuf.Empty"}


class PackageAt(NamedTuple):
    """A path under ``.../packages/``: the package, and the version or tag it names."""

    repository: str
    image: str
    package: docker.Package
    kind: str | None  # "versions", "tags", or None for the package itself
    ident: str | None  # a digest or a tag, or None for the whole collection


class API(StatefulAPI):
    """Artifact Registry v1 for the emulator's one project."""

    name = "artifactregistry"
    # The APIs it calls, handed over by the server.
    iam: IamAPI

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self.state = RegistryState()

    # ------------------------------------------------------------ contract
    def routes(self) -> list[Route]:
        api, no_op = self.name, "no-operation"
        loc = "/v1/projects/<project>/locations/<location>"
        r = f"{loc}/repositories"
        one = f"{r}/<repo>"
        packages = f"{one}/packages"

        def read(pattern: str, handler: Any) -> Route:
            return Route("GET", pattern, handler, api=api)

        def change(method: str, pattern: str, handler: Any, endpoint: str = "") -> Route:
            return Route(method, pattern, handler, api=api, mutating=True, endpoint=endpoint)

        return [
            change("POST", r, self.create_repository),
            read(r, self.list_repositories),
            read(one, self.get_repository),
            read(f"{one}:getIamPolicy", self.get_iam_policy),
            change("POST", f"{one}:setIamPolicy", self.set_iam_policy, no_op),
            change("PATCH", one, self.update_repository, no_op),
            change("DELETE", one, self.delete_repository),
            read(f"{one}/dockerImages", self.list_docker_images),
            read(f"{one}/dockerImages/<path:image>", self.get_docker_image),
            read(packages, self.list_packages),
            read(f"{packages}/<path:rest>", self.get_under_package),
            change("DELETE", f"{packages}/<path:rest>", self.delete_under_package),
            # Artifact Registry and regional Cloud Build operations share this path.
            read(f"{loc}/operations/<operation>", self.get_operation),
        ]

    # ------------------------------------------------------------ for other APIs
    def repository(self, name: str) -> dict[str, Any] | None:
        with self.emulator.lock:
            return self.state.render(name) if name in self.state.repos else None

    def policy_of(self, name: str) -> ResourcePolicy | None:
        """The repository's IAM policy (callers hold the lock)."""
        return self.state.policies.get(name)

    def record_image(
        self, repo_name: str, image_name: str, tag: str | None, digest: str, size_bytes: int = 0
    ) -> bool:
        """Record ``image_name@digest`` (and ``:tag``) in a repository; False if it is missing."""
        docker.check_reference(image_name, tag, digest)
        with self.emulator.lock:
            if repo_name not in self.state.repos:
                return False
            now = rfc3339()
            packages = self.state.packages.setdefault(repo_name, {})
            docker.record(packages, image_name, tag, digest, size_bytes, now)
            self.state.repos[repo_name]["updateTime"] = now
            return True

    def resolve(self, image_uri: str) -> str | None:
        """The digest ``image_uri`` names in this registry, or None if it names nothing."""
        ref = parse_image_uri(image_uri)
        if ref is None:
            return None
        if ref.project not in (self.emulator.project, project_number(self.emulator.project)):
            return None
        name = repositories.repository_name(self.emulator.project, ref.location, ref.repository)
        with self.emulator.lock:
            repo = self.state.repos.get(name)
            if repo is None or repo.get("format") != "DOCKER":
                return None
            pkg = self.state.packages.get(name, {}).get(ref.image)
            return None if pkg is None else docker.digest_named(pkg, ref)

    # ------------------------------------------------------------ repositories
    def _enter(self, project: str, location: str | None = None) -> None:
        self.emulator.enter(project, SERVICE)
        if location is not None:
            repositories.check_location(location)

    def _existing(self, project: str, location: str, repo: str) -> str:
        """The repository's name, once it is known to exist (callers hold the lock)."""
        return self.state.require(repositories.repository_name(project, location, repo))

    def create_repository(self, request: Request, project: str, location: str) -> dict:
        self._enter(project, location)
        repo_id = request.args.get("repositoryId", "")
        repositories.check_repository_id(repo_id)
        body = repositories.checked_body(read_json(request))
        resource = repositories.new_repository(project, location, repo_id, body, rfc3339())
        name = resource["name"]
        with self.emulator.lock:
            if name in self.state.repos or self.state.being_created(name, self.emulator.operations):
                raise already_exists()

        def effect() -> dict:
            with self.emulator.lock:
                self.state.add(name, resource)
                return {"@type": _TYPE + "Repository", **self.state.render(name)}

        with self.emulator.lock:
            op = self._start(project, location, "artifactregistry.createRepository", effect)
            if name not in self.state.repos:
                self.state.creating[name] = op["name"]
        return op

    def get_repository(self, request: Request, project: str, location: str, repo: str) -> dict:
        self._enter(project)
        with self.emulator.lock:
            return self.state.render(self._existing(project, location, repo))

    def list_repositories(self, request: Request, project: str, location: str) -> dict:
        self._enter(project, location)
        prefix = repositories.repository_name(project, location, "")
        with self.emulator.lock:
            items = [self.state.render(n) for n in sorted(self.state.repos) if n.startswith(prefix)]
        return _page(request, items, "repositories")

    def update_repository(self, request: Request, project: str, location: str, repo: str) -> dict:
        self._enter(project)
        body = repositories.checked_body(read_json(request))
        mask = [p for p in request.args.get("updateMask", "").split(",") if p]
        paths = repositories.update_paths(body, mask)
        with self.emulator.lock:
            name = self._existing(project, location, repo)
            repositories.apply_update(self.state.repos[name], body, paths, rfc3339())
            return self.state.render(name)

    def delete_repository(self, request: Request, project: str, location: str, repo: str) -> dict:
        self._enter(project)
        with self.emulator.lock:
            name = self._existing(project, location, repo)

        def effect() -> dict:
            with self.emulator.lock:
                self.state.remove(name)
            return dict(_EMPTY)

        return self._start(project, location, "artifactregistry.delete", effect)

    def get_iam_policy(self, request: Request, project: str, location: str, repo: str) -> dict:
        self._enter(project)
        repository_iam.check_requested_version(
            request.args.get("options.requestedPolicyVersion", "1")
        )
        with self.emulator.lock:
            return self.state.policies[self._existing(project, location, repo)].render()

    def set_iam_policy(self, request: Request, project: str, location: str, repo: str) -> dict:
        self._enter(project)
        body = read_json(request)
        with self.emulator.lock:
            return repository_iam.set_policy(
                self.state.policies[self._existing(project, location, repo)],
                body,
                account_exists(self.emulator.project, self.iam),
            )

    # ------------------------------------------------------------ docker images
    def list_docker_images(self, request: Request, project: str, location: str, repo: str) -> dict:
        self._enter(project)
        with self.emulator.lock:
            name = self._existing(project, location, repo)
            items = [
                docker.docker_image_json(name, image, pkg, version)
                for image, pkg in sorted(self.state.packages.get(name, {}).items())
                for version in sorted(pkg.versions.values(), key=lambda v: v.created)
            ]
        return _page(request, items, "dockerImages")

    def get_docker_image(
        self, request: Request, project: str, location: str, repo: str, image: str
    ) -> dict:
        self._enter(project)
        tail = _raw_tail(request, f"/repositories/{repo}/dockerImages/") or [image]
        image_name, _, digest = docker.twice_unquoted("/".join(tail)).rpartition("@")
        with self.emulator.lock:
            name = self._existing(project, location, repo)
            pkg = self.state.package(name, image_name)
            if digest not in pkg.versions:
                raise not_found()
            return docker.docker_image_json(name, image_name, pkg, pkg.versions[digest])

    # ------------------------------------------------------------ packages, versions, tags
    @contextmanager
    def _under_package(
        self, request: Request, project: str, location: str, repo: str, rest: str
    ) -> Iterator[PackageAt]:
        """What a path under ``.../packages/`` names, the lock held while it is used."""
        self._enter(project)
        image, kind, ident = _package_path(request, repo, rest)
        with self.emulator.lock:
            name = self._existing(project, location, repo)
            yield PackageAt(name, image, self.state.package(name, image), kind, ident)

    def list_packages(self, request: Request, project: str, location: str, repo: str) -> dict:
        self._enter(project)
        with self.emulator.lock:
            name = self._existing(project, location, repo)
            items = [
                docker.package_json(name, image, pkg)
                for image, pkg in sorted(self.state.packages.get(name, {}).items())
            ]
        return _page(request, items, "packages")

    def get_under_package(
        self, request: Request, project: str, location: str, repo: str, rest: str
    ) -> dict:
        with self._under_package(request, project, location, repo, rest) as at:
            name, image, pkg, kind, ident = at
            if kind is None:
                return docker.package_json(name, image, pkg)
            if kind == "versions" and ident is None:
                full = _full_view(request)
                items = [
                    docker.version_json(name, image, pkg, v, full)
                    for v in sorted(pkg.versions.values(), key=lambda v: v.created)
                ]
                return _page(request, items, "versions")
            if kind == "versions":
                version = pkg.versions.get(ident or "")
                if version is None:
                    raise not_found()
                return docker.version_json(name, image, pkg, version, _full_view(request))
            if kind == "tags" and ident is None:
                items = [docker.tag_json(name, image, t, d) for t, d in sorted(pkg.tags.items())]
                return _page(request, items, "tags")
            if ident not in pkg.tags:
                raise not_found()
            return docker.tag_json(name, image, ident, pkg.tags[ident])

    def delete_under_package(
        self, request: Request, project: str, location: str, repo: str, rest: str
    ) -> dict:
        with self._under_package(request, project, location, repo, rest) as at:
            name, image, pkg, kind, ident = at
            if ident is None and kind is not None:
                raise not_found()
            if kind == "tags":
                docker.untag(pkg, ident)
                return {}
            if kind == "versions":
                force = request.args.get("force", "").lower() == "true"
                docker.check_version_deletable(pkg, ident, force=force)

        def effect() -> dict:
            with self.emulator.lock:
                docker.remove(self.state.packages.get(name, {}), image, ident)
            return dict(_EMPTY)

        return self._start(project, location, "artifactregistry.delete", effect)

    # ------------------------------------------------------------ operations
    def _start(self, project: str, location: str, kind: str, effect: Any) -> dict:
        name = f"projects/{project}/locations/{location}/operations/{uuid.uuid4()}"
        return self.emulator.operations.start_google(
            parent="", kind=kind, effect=effect, metadata=dict(_OP_METADATA), name=name
        )

    def get_operation(self, request: Request, project: str, location: str, operation: str) -> dict:
        self.emulator.check_project(project)
        name = f"projects/{project}/locations/{location}/operations/{operation}"
        op = self.emulator.operations.get(name)
        if op is None or op.family != "google":
            raise ApiError(404, f"Operation {name!r} not found.", status="NOT_FOUND")
        owner = "cloudbuild.googleapis.com" if op.kind.startswith("cloudbuild") else SERVICE
        self.emulator.require_enabled(owner)
        return op.render(time.time())


def _full_view(request: Request) -> bool:
    # Clients send enum query parameters as numbers (VersionView.FULL is 2).
    return request.args.get("view") in ("FULL", "2")


def _raw_tail(request: Request, marker: str) -> list[str] | None:
    """The path segments after ``marker`` as sent (``%2F`` inside a segment kept)."""
    path = raw_path(request)
    if marker not in path:
        return None
    return path.split(marker, 1)[1].split("/")


def _package_path(request: Request, repo: str, rest: str) -> tuple[str, str | None, str | None]:
    segments = _raw_tail(request, f"/repositories/{repo}/packages/")
    return docker.split_package_path(segments, rest)


def _page(request: Request, items: list[dict], key: str) -> dict:
    raw_size = request.args.get("pageSize", "")
    try:
        size = int(raw_size) if raw_size else DEFAULT_PAGE_SIZE
    except ValueError as exc:
        raise bad_request(f"Invalid page_size: {raw_size!r}.") from exc
    if size <= 0:
        size = DEFAULT_PAGE_SIZE
    token = request.args.get("pageToken", "")
    try:
        offset = int(token) if token else 0
    except ValueError as exc:
        raise bad_request("Invalid page token.") from exc
    return offset_page(items, offset, size, key)
