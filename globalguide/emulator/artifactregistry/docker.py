"""What a Docker repository holds: packages (images), their versions (digests) and tags.

Rendered as the v1 ``DockerImage``, ``Package``, ``Version`` and ``Tag`` resources; an
image name with ``/`` in it is percent-encoded inside resource names (artifactregistry_v1
docstrings). Deleting a version that tags still point at needs ``force``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from globalguide.emulator.artifactregistry.errors import not_found
from globalguide.emulator.artifactregistry.image_uri import DIGEST, TAG, ImageRef
from globalguide.emulator.core.routing import ApiError

DOCKER_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CHILDREN = ("versions", "tags")


@dataclass
class Version:
    digest: str
    size: int
    created: str
    updated: str


@dataclass
class Package:
    created: str
    updated: str
    versions: dict[str, Version] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)  # tag -> digest

    def tags_of(self, digest: str) -> list[str]:
        return sorted(t for t, d in self.tags.items() if d == digest)


Packages = dict[str, Package]  # image name -> package, for one repository


# ---------------------------------------------------------------- changes
def check_reference(image: str, tag: str | None, digest: str) -> None:
    if not DIGEST.match(digest) or (tag is not None and not TAG.match(tag)):
        raise ValueError(f"bad image reference {image}:{tag}@{digest}")


def record(
    packages: Packages, image: str, tag: str | None, digest: str, size: int, now: str
) -> None:
    """``image@digest`` (and ``:tag``, moved onto this digest) pushed at ``now``."""
    pkg = packages.get(image)
    if pkg is None:
        pkg = packages[image] = Package(created=now, updated=now)
    version = pkg.versions.get(digest)
    if version is None:
        pkg.versions[digest] = Version(digest, size, now, now)
    else:
        version.updated = now
    if tag:
        pkg.tags[tag] = digest
    pkg.updated = now


def digest_named(pkg: Package, ref: ImageRef) -> str | None:
    """The digest ``ref`` names in ``pkg`` (its digest, else its tag, else ``latest``)."""
    if ref.digest:
        return ref.digest if ref.digest in pkg.versions else None
    digest = pkg.tags.get(ref.tag or "latest")
    return digest if digest in pkg.versions else None


def untag(pkg: Package, tag: str | None) -> None:
    if tag not in pkg.tags:
        raise not_found()
    del pkg.tags[tag]


def check_version_deletable(pkg: Package, digest: str | None, *, force: bool) -> None:
    if digest not in pkg.versions:
        raise not_found()
    if pkg.tags_of(digest) and not force:
        raise ApiError(
            400,
            f"Version {digest} has tags {pkg.tags_of(digest)}; delete the tags first "
            "or set force=true to delete the version and its tags.",
            status="FAILED_PRECONDITION",
        )


def remove(packages: Packages, image: str, digest: str | None) -> None:
    """Delete a package (``digest`` None) or one version and its tags; a package left with
    no version goes too."""
    current = packages.get(image)
    if current is None:
        raise not_found()
    if digest is None:
        del packages[image]
        return
    if digest not in current.versions:
        raise not_found()
    del current.versions[digest]
    for tag in current.tags_of(digest):
        del current.tags[tag]
    if not current.versions:
        del packages[image]


# ---------------------------------------------------------------- paths
def split_package_path(segments: list[str] | None, rest: str) -> tuple[str, str | None, str | None]:
    """(image, "versions"|"tags"|None, id|None) from the path after ``/packages/``:
    ``segments`` as sent (``%2F`` kept), or None to read the decoded ``rest``."""
    if segments is None:
        # Without the raw path, package names with '/' are ambiguous: read from the right.
        segments = rest.split("/")
        if len(segments) >= 3 and segments[-2] in CHILDREN:
            segments = ["/".join(segments[:-2]), segments[-2], segments[-1]]
        elif len(segments) >= 2 and segments[-1] in CHILDREN:
            segments = ["/".join(segments[:-1]), segments[-1]]
        else:
            segments = ["/".join(segments)]
    segments = [twice_unquoted(s) for s in segments]
    if len(segments) == 1:
        return segments[0], None, None
    if len(segments) == 2 and segments[1] in CHILDREN:
        return segments[0], segments[1], None
    if len(segments) == 3 and segments[1] in CHILDREN:
        return segments[0], segments[1], segments[2]
    raise not_found()


def twice_unquoted(text: str) -> str:
    """Once for the URL, once for the %2F the resource name itself carries."""
    return unquote(unquote(text))


# ---------------------------------------------------------------- renderings
def docker_image_json(repo: str, image: str, pkg: Package, version: Version) -> dict:
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


def package_json(repo: str, image: str, pkg: Package) -> dict:
    return {
        "name": f"{repo}/packages/{quote(image, safe='')}",
        "createTime": pkg.created,
        "updateTime": pkg.updated,
    }


def version_json(repo: str, image: str, pkg: Package, v: Version, full: bool) -> dict:
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
        out["relatedTags"] = [tag_json(repo, image, t, v.digest) for t in pkg.tags_of(v.digest)]
    return out


def tag_json(repo: str, image: str, tag: str, digest: str) -> dict:
    encoded = quote(image, safe="")
    return {
        "name": f"{repo}/packages/{encoded}/tags/{tag}",
        "version": f"{repo}/packages/{encoded}/versions/{digest}",
    }
