"""Docker image URIs of Artifact Registry: ``LOCATION-docker.pkg.dev/PROJECT/REPO/IMAGE``,
then an optional ``:TAG`` and an optional ``@sha256:DIGEST``."""

from __future__ import annotations

import re
from dataclasses import dataclass

TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}\Z")
_IMAGE_URI = re.compile(
    r"(?P<location>[a-z0-9-]+)-docker\.pkg\.dev/(?P<project>[^/]+)/(?P<repo>[^/]+)/"
    r"(?P<image>[a-z0-9][a-z0-9._/-]*?)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?\Z"
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
