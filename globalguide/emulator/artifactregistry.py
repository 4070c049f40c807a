"""Artifact Registry v1: repositories and the Docker images, packages, versions and tags in them.

Cloud Build records the images it pushes with :meth:`API.record_image`; Cloud Run and the
data plane turn an image URI into an image-store digest with :meth:`API.resolve`. Creating
and deleting a repository are long-running operations; deleting one deletes what is in it,
as the real API does. Deleting a package or a version is a long-running operation too;
deleting a tag is not (artifactregistry_v1 REST transport and types).
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

from werkzeug.wrappers import Request

from globalguide.emulator.core.labels import MAX_LABELS, key_ok, value_ok
from globalguide.emulator.core.paging import offset_page
from globalguide.emulator.core.project import project_number
from globalguide.emulator.core.routing import ApiError, Route, bad_request, read_json
from globalguide.emulator.core.schema import canonical, validate_body
from globalguide.emulator.core.timestamps import rfc3339
from globalguide.emulator.iam.permissions import ResourcePolicy, account_exists

if TYPE_CHECKING:
    from globalguide.emulator.iam import API as IamAPI

SERVICE = "artifactregistry.googleapis.com"
MULTI_REGIONS = ("us", "europe", "asia")
FORMATS = ("DOCKER", "MAVEN", "NPM", "APT", "YUM", "PYTHON", "KFP", "GO", "GENERIC", "RUBY")
MODES = ("STANDARD_REPOSITORY", "VIRTUAL_REPOSITORY", "REMOTE_REPOSITORY")
DEFAULT_PAGE_SIZE = 100
DOCKER_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"

_REPO_ID = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}\Z")
_IMAGE_URI = re.compile(
    r"(?P<location>[a-z0-9-]+)-docker\.pkg\.dev/(?P<project>[^/]+)/(?P<repo>[^/]+)/"
    r"(?P<image>[a-z0-9][a-z0-9._/-]*?)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?\Z"
)
_OP_METADATA = {
    "@type": "type.googleapis.com/google.devtools.artifactregistry.v1.OperationMetadata"
}
_TYPE = "type.googleapis.com/google.devtools.artifactregistry.v1."


def not_found() -> ApiError:
    return ApiError(404, "Requested entity was not found.", status="NOT_FOUND")


def check_labels(labels: Any, *, field_name: str = "labels") -> None:
    """The label rules of :mod:`core.labels`, in the words of the AIP-style APIs."""
    if labels is None:
        return
    if not isinstance(labels, dict):
        raise bad_request(f"Invalid value at '{field_name}': expected a map.")
    if len(labels) > MAX_LABELS:
        raise bad_request(f"Invalid {field_name}: at most {MAX_LABELS} labels are allowed.")
    for key, value in labels.items():
        if not key_ok(key) or not value_ok(value):
            raise bad_request(
                f"Invalid {field_name} {key!r}: {value!r}. Label keys must start with a "
                "lowercase letter; keys and values may contain only lowercase letters, "
                "digits, underscores and dashes, and be at most 63 characters long."
            )


@dataclass(frozen=True)
class ImageRef:
    """A parsed ``LOCATION-docker.pkg.dev/PROJECT/REPO/IMAGE[:TAG][@DIGEST]``."""

    location: str
    project: str
    repository: str
    image: str
    tag: str | None
    digest: str | None

    @property
    def repository_name(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/repositories/{self.repository}"


def parse_image_uri(uri: str) -> ImageRef | None:
    match = _IMAGE_URI.match(uri.strip()) if isinstance(uri, str) else None
    if match is None:
        return None
    image = match.group("image")
    if image.endswith("/") or "//" in image:
        return None
    return ImageRef(
        location=match.group("location"),
        project=match.group("project"),
        repository=match.group("repo"),
        image=image,
        tag=match.group("tag"),
        digest=match.group("digest"),
    )


@dataclass
class _Version:
    digest: str
    size: int
    created: str
    updated: str


@dataclass
class _Package:
    created: str
    updated: str
    versions: dict[str, _Version] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)  # tag -> digest

    def tags_of(self, digest: str) -> list[str]:
        return sorted(t for t, d in self.tags.items() if d == digest)


class API:
    """Artifact Registry v1 for the emulator's one project."""

    name = "artifactregistry"
    # The APIs it calls, handed over by the server.
    iam: IamAPI

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self._repos: dict[str, dict[str, Any]] = {}
        self._creating: dict[str, str] = {}  # repository -> the operation creating it
        self._packages: dict[str, dict[str, _Package]] = {}
        self._policies: dict[str, ResourcePolicy] = {}

    # ------------------------------------------------------------ contract
    def routes(self) -> list[Route]:
        api = self.name
        loc = "/v1/projects/<project>/locations/<location>"
        r = f"{loc}/repositories"
        one = f"{r}/<repo>"
        return [
            Route("POST", r, self.create_repository, api=api, mutating=True),
            Route("GET", r, self.list_repositories, api=api),
            Route("GET", one, self.get_repository, api=api),
            Route("GET", f"{one}:getIamPolicy", self.get_iam_policy, api=api),
            Route(
                "POST",
                f"{one}:setIamPolicy",
                self.set_iam_policy,
                api=api,
                mutating=True,
                endpoint="no-operation",
            ),
            Route(
                "PATCH",
                one,
                self.update_repository,
                api=api,
                mutating=True,
                endpoint="no-operation",
            ),
            Route("DELETE", one, self.delete_repository, api=api, mutating=True),
            Route("GET", f"{one}/dockerImages", self.list_docker_images, api=api),
            Route("GET", f"{one}/dockerImages/<path:image>", self.get_docker_image, api=api),
            Route("GET", f"{one}/packages", self.list_packages, api=api),
            Route("GET", f"{one}/packages/<path:rest>", self.get_under_package, api=api),
            Route(
                "DELETE",
                f"{one}/packages/<path:rest>",
                self.delete_under_package,
                api=api,
                mutating=True,
            ),
            # Artifact Registry and regional Cloud Build operations share this path.
            Route("GET", f"{loc}/operations/<operation>", self.get_operation, api=api),
        ]

    def snapshot(self) -> dict[str, Any]:
        with self.emulator.lock:
            images = []
            for repo, packages in self._packages.items():
                for image, pkg in packages.items():
                    for version in pkg.versions.values():
                        images.append(self._docker_image(repo, image, pkg, version))
            return {"repositories": [self._render_repo(n) for n in self._repos], "images": images}

    def reset(self) -> None:
        with self.emulator.lock:
            self._repos.clear()
            self._creating.clear()
            self._packages.clear()
            self._policies.clear()

    def resource_count(self) -> int:
        with self.emulator.lock:
            return len(self._repos) + sum(len(p) for p in self._packages.values())

    # ------------------------------------------------------------ for other APIs
    def repository(self, name: str) -> dict[str, Any] | None:
        with self.emulator.lock:
            return self._render_repo(name) if name in self._repos else None

    def policy_of(self, name: str) -> ResourcePolicy | None:
        """The repository's IAM policy (callers hold the lock)."""
        return self._policies.get(name)

    def record_image(
        self, repo_name: str, image_name: str, tag: str | None, digest: str, size_bytes: int = 0
    ) -> bool:
        """Record ``image_name@digest`` (and ``:tag``) in a repository; False if it is missing."""
        if not _DIGEST.match(digest) or (tag is not None and not _TAG.match(tag)):
            raise ValueError(f"bad image reference {image_name}:{tag}@{digest}")
        with self.emulator.lock:
            if repo_name not in self._repos:
                return False
            now = rfc3339()
            packages = self._packages.setdefault(repo_name, {})
            pkg = packages.get(image_name)
            if pkg is None:
                pkg = packages[image_name] = _Package(created=now, updated=now)
            version = pkg.versions.get(digest)
            if version is None:
                pkg.versions[digest] = _Version(digest, size_bytes, now, now)
            else:
                version.updated = now
            if tag:
                pkg.tags[tag] = digest
            pkg.updated = now
            self._repos[repo_name]["updateTime"] = now
            return True

    def resolve(self, image_uri: str) -> str | None:
        """The digest ``image_uri`` names in this registry, or None if it names nothing."""
        ref = parse_image_uri(image_uri)
        if ref is None:
            return None
        if ref.project not in (self.emulator.project, project_number(self.emulator.project)):
            return None
        name = (
            f"projects/{self.emulator.project}/locations/{ref.location}"
            f"/repositories/{ref.repository}"
        )
        with self.emulator.lock:
            repo = self._repos.get(name)
            if repo is None or repo.get("format") != "DOCKER":
                return None
            pkg = self._packages.get(name, {}).get(ref.image)
            if pkg is None:
                return None
            if ref.digest:
                return ref.digest if ref.digest in pkg.versions else None
            digest = pkg.tags.get(ref.tag or "latest")
            return digest if digest in pkg.versions else None

    # ------------------------------------------------------------ repositories
    def _enter(self, project: str, location: str | None = None) -> None:
        self.emulator.enter(project, SERVICE)
        if location is not None and location not in _locations():
            raise bad_request(
                f"Invalid location: {location!r} is not an Artifact Registry location."
            )

    def _repo_name(self, project: str, location: str, repo: str) -> str:
        return f"projects/{project}/locations/{location}/repositories/{repo}"

    def _render_repo(self, name: str) -> dict[str, Any]:
        repo = dict(self._repos[name])
        size = sum(
            v.size for p in self._packages.get(name, {}).values() for v in p.versions.values()
        )
        if size:
            repo["sizeBytes"] = str(size)
        return repo

    def create_repository(self, request: Request, project: str, location: str) -> dict:
        self._enter(project, location)
        repo_id = request.args.get("repositoryId", "")
        if not repo_id:
            raise bad_request("repository_id is required.")
        if not _REPO_ID.match(repo_id):
            raise bad_request(
                f"Invalid repository id {repo_id!r}: it must start with a lowercase letter, "
                "contain only lowercase letters, digits and hyphens, end with a letter or "
                "digit, and be at most 63 characters long."
            )
        body = read_json(request)
        validate_body(body, _repository_cls(), resource="repository")
        body = canonical(body, _repository_cls())
        fmt = body.get("format", "FORMAT_UNSPECIFIED")
        if fmt not in FORMATS:
            raise bad_request("Repository format must be specified.")
        mode = body.get("mode", "MODE_UNSPECIFIED")
        if mode == "MODE_UNSPECIFIED":
            mode = "STANDARD_REPOSITORY"
        if mode == "REMOTE_REPOSITORY" and "remoteRepositoryConfig" not in body:
            raise bad_request("remote_repository_config is required for a remote repository.")
        if mode == "VIRTUAL_REPOSITORY" and "virtualRepositoryConfig" not in body:
            raise bad_request("virtual_repository_config is required for a virtual repository.")
        check_labels(body.get("labels"))
        if len(body.get("description", "")) > 2048:
            raise bad_request("The description must be at most 2048 characters long.")
        name = self._repo_name(project, location, repo_id)
        with self.emulator.lock:
            if name in self._repos or self._being_created(name):
                raise ApiError(409, "the repository already exists", status="ALREADY_EXISTS")
        now = rfc3339()
        resource: dict[str, Any] = {"name": name, "format": fmt, "mode": mode}
        for key in (
            "description",
            "labels",
            "dockerConfig",
            "mavenConfig",
            "kmsKeyName",
            "cleanupPolicies",
            "cleanupPolicyDryRun",
            "remoteRepositoryConfig",
            "virtualRepositoryConfig",
        ):
            if key in body:
                resource[key] = body[key]
        resource.update(
            {
                "createTime": now,
                "updateTime": now,
                "satisfiesPzi": True,
                "vulnerabilityScanningConfig": {
                    "enablementState": "SCANNING_DISABLED",
                    "enablementStateReason": "API containerscanning.googleapis.com is not enabled.",
                    "lastEnableTime": now,
                },
            }
        )
        if fmt == "DOCKER":
            resource["registryUri"] = f"{location}-docker.pkg.dev/{project}/{repo_id}"

        def effect() -> dict:
            with self.emulator.lock:
                self._creating.pop(name, None)
                self._repos[name] = resource
                self._policies[name] = ResourcePolicy(name)
                return {"@type": _TYPE + "Repository", **self._render_repo(name)}

        with self.emulator.lock:
            op = self._start(project, location, "artifactregistry.createRepository", effect)
            if name not in self._repos:
                self._creating[name] = op["name"]
        return op

    def _being_created(self, name: str) -> bool:
        """True while an operation creating ``name`` is still running."""
        op_name = self._creating.get(name)
        if op_name is None:
            return False
        op = self.emulator.operations.get(op_name)
        if op is None or op.done:
            self._creating.pop(name, None)
            return False
        return True

    def get_repository(self, request: Request, project: str, location: str, repo: str) -> dict:
        self._enter(project)
        name = self._repo_name(project, location, repo)
        with self.emulator.lock:
            if name not in self._repos:
                raise not_found()
            return self._render_repo(name)

    def list_repositories(self, request: Request, project: str, location: str) -> dict:
        self._enter(project, location)
        prefix = f"projects/{project}/locations/{location}/repositories/"
        with self.emulator.lock:
            items = [self._render_repo(n) for n in sorted(self._repos) if n.startswith(prefix)]
        return _page(request, items, "repositories")

    def update_repository(self, request: Request, project: str, location: str, repo: str) -> dict:
        self._enter(project)
        body = read_json(request)
        validate_body(body, _repository_cls(), resource="repository")
        body = canonical(body, _repository_cls())
        mask = [p for p in request.args.get("updateMask", "").split(",") if p]
        allowed = {
            "description",
            "labels",
            "cleanupPolicies",
            "cleanupPolicyDryRun",
            "dockerConfig",
        }
        fields = mask or [k for k in body if k in allowed]
        for path in fields:
            if path.split(".")[0] not in allowed:
                raise bad_request(f"Invalid update_mask path: {path!r}.")
        check_labels(body.get("labels"))
        name = self._repo_name(project, location, repo)
        with self.emulator.lock:
            if name not in self._repos:
                raise not_found()
            stored = self._repos[name]
            for path in fields:
                key = path.split(".")[0]
                if key in body:
                    stored[key] = body[key]
                else:
                    stored.pop(key, None)
            stored["updateTime"] = rfc3339()
            return self._render_repo(name)

    def delete_repository(self, request: Request, project: str, location: str, repo: str) -> dict:
        self._enter(project)
        name = self._repo_name(project, location, repo)
        with self.emulator.lock:
            if name not in self._repos:
                raise not_found()

        def effect() -> dict:
            with self.emulator.lock:
                if name not in self._repos:
                    raise not_found()
                del self._repos[name]
                self._packages.pop(name, None)
                self._policies.pop(name, None)
            return {"@type": "type.googleapis.com/google.protobuf.Empty"}

        return self._start(project, location, "artifactregistry.delete", effect)

    def get_iam_policy(self, request: Request, project: str, location: str, repo: str) -> dict:
        self._enter(project)
        requested = request.args.get("options.requestedPolicyVersion", "1")
        if requested not in ("0", "1", "3"):
            raise bad_request(f"Invalid requested policy version {requested}.")
        name = self._repo_name(project, location, repo)
        with self.emulator.lock:
            if name not in self._repos:
                raise not_found()
            return self._policies[name].render()

    def set_iam_policy(self, request: Request, project: str, location: str, repo: str) -> dict:
        self._enter(project)
        body = read_json(request)
        name = self._repo_name(project, location, repo)
        stale = ApiError(
            409,
            "There were concurrent policy changes. Please retry the whole read-modify-write "
            "with exponential backoff.",
            status="ABORTED",
        )
        with self.emulator.lock:
            if name not in self._repos:
                raise not_found()
            self._policies[name].replace(
                body.get("policy"),
                stale=stale,
                account_exists=account_exists(self.emulator.project, self.iam),
            )
            return self._policies[name].render()

    # ------------------------------------------------------------ docker images
    def _docker_image(self, repo: str, image: str, pkg: _Package, version: _Version) -> dict:
        parts = repo.split("/")
        project, location, repo_id = parts[1], parts[3], parts[5]
        out = {
            "name": f"{repo}/dockerImages/{quote(image, safe='')}@{version.digest}",
            "uri": f"{location}-docker.pkg.dev/{project}/{repo_id}/{image}@{version.digest}",
            "imageSizeBytes": str(version.size),
            "uploadTime": version.created,
            "mediaType": DOCKER_MEDIA_TYPE,
            "buildTime": version.created,
            "updateTime": version.updated,
        }
        tags = pkg.tags_of(version.digest)
        if tags:
            out["tags"] = tags
        return out

    def _repo_or_404(self, project: str, location: str, repo: str) -> str:
        name = self._repo_name(project, location, repo)
        if name not in self._repos:
            raise not_found()
        return name

    def list_docker_images(self, request: Request, project: str, location: str, repo: str) -> dict:
        self._enter(project)
        with self.emulator.lock:
            name = self._repo_or_404(project, location, repo)
            items = [
                self._docker_image(name, image, pkg, version)
                for image, pkg in sorted(self._packages.get(name, {}).items())
                for version in sorted(pkg.versions.values(), key=lambda v: v.created)
            ]
        return _page(request, items, "dockerImages")

    def get_docker_image(
        self, request: Request, project: str, location: str, repo: str, image: str
    ) -> dict:
        self._enter(project)
        tail = _raw_tail(request, f"/repositories/{repo}/dockerImages/") or [image]
        # Twice: once for the URL, once for the %2F the resource name itself carries.
        image_id = unquote(unquote("/".join(tail)))
        image_name, _, digest = image_id.rpartition("@")
        with self.emulator.lock:
            name = self._repo_or_404(project, location, repo)
            pkg = self._packages.get(name, {}).get(image_name)
            if pkg is None or digest not in pkg.versions:
                raise not_found()
            return self._docker_image(name, image_name, pkg, pkg.versions[digest])

    # ------------------------------------------------------------ packages, versions, tags
    def _package_json(self, repo: str, image: str, pkg: _Package) -> dict:
        return {
            "name": f"{repo}/packages/{quote(image, safe='')}",
            "createTime": pkg.created,
            "updateTime": pkg.updated,
        }

    def _version_json(self, repo: str, image: str, pkg: _Package, v: _Version, full: bool) -> dict:
        out: dict[str, Any] = {
            "name": f"{repo}/packages/{quote(image, safe='')}/versions/{v.digest}",
            "createTime": v.created,
            "updateTime": v.updated,
            "metadata": {
                "imageSizeBytes": str(v.size),
                "mediaType": DOCKER_MEDIA_TYPE,
                "name": f"{repo}/dockerImages/{quote(image, safe='')}@{v.digest}",
                "buildTime": v.created,
            },
        }
        if full:
            out["relatedTags"] = [
                self._tag_json(repo, image, t, v.digest) for t in pkg.tags_of(v.digest)
            ]
        return out

    def _tag_json(self, repo: str, image: str, tag: str, digest: str) -> dict:
        encoded = quote(image, safe="")
        return {
            "name": f"{repo}/packages/{encoded}/tags/{tag}",
            "version": f"{repo}/packages/{encoded}/versions/{digest}",
        }

    def list_packages(self, request: Request, project: str, location: str, repo: str) -> dict:
        self._enter(project)
        with self.emulator.lock:
            name = self._repo_or_404(project, location, repo)
            items = [
                self._package_json(name, image, pkg)
                for image, pkg in sorted(self._packages.get(name, {}).items())
            ]
        return _page(request, items, "packages")

    def get_under_package(
        self, request: Request, project: str, location: str, repo: str, rest: str
    ) -> dict:
        self._enter(project)
        image, kind, ident = _package_path(request, repo, rest)
        with self.emulator.lock:
            name = self._repo_or_404(project, location, repo)
            pkg = self._packages.get(name, {}).get(image)
            if pkg is None:
                raise not_found()
            if kind is None:
                return self._package_json(name, image, pkg)
            if kind == "versions" and ident is None:
                full = _full_view(request)
                items = [
                    self._version_json(name, image, pkg, v, full)
                    for v in sorted(pkg.versions.values(), key=lambda v: v.created)
                ]
                return _page(request, items, "versions")
            if kind == "versions":
                version = pkg.versions.get(ident or "")
                if version is None:
                    raise not_found()
                return self._version_json(name, image, pkg, version, _full_view(request))
            if kind == "tags" and ident is None:
                items = [self._tag_json(name, image, t, d) for t, d in sorted(pkg.tags.items())]
                return _page(request, items, "tags")
            if ident not in pkg.tags:
                raise not_found()
            return self._tag_json(name, image, ident, pkg.tags[ident])

    def delete_under_package(
        self, request: Request, project: str, location: str, repo: str, rest: str
    ) -> dict:
        self._enter(project)
        image, kind, ident = _package_path(request, repo, rest)
        with self.emulator.lock:
            name = self._repo_or_404(project, location, repo)
            pkg = self._packages.get(name, {}).get(image)
            if pkg is None or ident is None and kind is not None:
                raise not_found()
            if kind == "tags":
                if ident not in pkg.tags:
                    raise not_found()
                del pkg.tags[ident]
                return {}
            if kind == "versions":
                if ident not in pkg.versions:
                    raise not_found()
                force = request.args.get("force", "").lower() == "true"
                if pkg.tags_of(ident) and not force:
                    raise ApiError(
                        400,
                        f"Version {ident} has tags {pkg.tags_of(ident)}; delete the tags first "
                        "or set force=true to delete the version and its tags.",
                        status="FAILED_PRECONDITION",
                    )

        def effect() -> dict:
            with self.emulator.lock:
                packages = self._packages.get(name, {})
                current = packages.get(image)
                if current is None:
                    raise not_found()
                if kind is None:
                    del packages[image]
                else:
                    if ident not in current.versions:
                        raise not_found()
                    del current.versions[ident]
                    for tag in current.tags_of(ident):
                        del current.tags[tag]
                    if not current.versions:
                        del packages[image]
            return {"@type": "type.googleapis.com/google.protobuf.Empty"}

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


def _repository_cls() -> Any:
    from google.cloud import artifactregistry_v1

    return artifactregistry_v1.Repository


def _locations() -> set[str]:
    from globalguide import geo

    return set(geo.REGIONS) | set(MULTI_REGIONS)


def _raw_tail(request: Request, marker: str) -> list[str] | None:
    """The path segments after ``marker`` as sent (``%2F`` inside a segment kept)."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or ""
    path = urlsplit(raw).path if raw else ""
    if marker not in path:
        return None
    return path.split(marker, 1)[1].split("/")


def _package_path(request: Request, repo: str, rest: str) -> tuple[str, str | None, str | None]:
    """(image, "versions"|"tags"|None, id|None) from the path after ``/packages/``."""
    segments = _raw_tail(request, f"/repositories/{repo}/packages/")
    if segments is None:
        # Without the raw path, package names with '/' are ambiguous: read from the right.
        segments = rest.split("/")
        if len(segments) >= 3 and segments[-2] in ("versions", "tags"):
            segments = ["/".join(segments[:-2]), segments[-2], segments[-1]]
        elif len(segments) >= 2 and segments[-1] in ("versions", "tags"):
            segments = ["/".join(segments[:-1]), segments[-1]]
        else:
            segments = ["/".join(segments)]
    # Twice: once for the URL, once for the %2F the resource name itself carries.
    segments = [unquote(unquote(s)) for s in segments]
    if len(segments) == 1:
        return segments[0], None, None
    if len(segments) == 2 and segments[1] in ("versions", "tags"):
        return segments[0], segments[1], None
    if len(segments) == 3 and segments[1] in ("versions", "tags"):
        return segments[0], segments[1], segments[2]
    raise not_found()


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
