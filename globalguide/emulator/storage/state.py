"""What the Cloud Storage twin holds: buckets, object metadata (in memory) and bytes (on
disk under its root), resumable uploads in progress, bucket policies, and the bucket names
other projects hold. Not locked: the API holds the emulator's lock around every use, except
for reading and writing the files themselves."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from globalguide.emulator.iam.permissions import ResourcePolicy
from globalguide.emulator.storage.errors import storage_error
from globalguide.emulator.storage.media import UploadSession

# The identity the emulator's callers authenticate as (the project owner).
CALLER = "owner@example.com"
NAME_NOT_AVAILABLE = (
    "The requested bucket name is not available. The bucket namespace is shared by all users "
    "of the system. Please select a different name and try again."
)


class StorageState:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.buckets: dict[str, dict[str, Any]] = {}
        self.objects: dict[str, dict[str, dict[str, Any]]] = {}  # bucket -> name -> meta
        self.files: dict[tuple[str, str], Path] = {}
        self.uploads: dict[str, UploadSession] = {}
        self.policies: dict[str, ResourcePolicy] = {}
        self.foreign: set[str] = set()  # names held by buckets of other projects
        self._last_generation = 0
        self._empty_root()

    def _empty_root(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)

    def clear(self) -> None:
        self.buckets.clear()
        self.objects.clear()
        self.files.clear()
        self.uploads.clear()
        self.policies.clear()
        self.foreign.clear()
        self._empty_root()

    def count(self) -> int:
        return len(self.buckets) + sum(len(objs) for objs in self.objects.values())

    def snapshot(self) -> dict[str, Any]:
        return {
            "buckets": [dict(b) for b in self.buckets.values()],
            "objects": [dict(meta) for objs in self.objects.values() for meta in objs.values()],
        }

    def next_generation(self) -> int:
        """Generations grow, and follow the clock in microseconds as the real ones do."""
        self._last_generation = max(self._last_generation + 1, int(time.time() * 1e6))
        return self._last_generation

    # ------------------------------------------------------------ buckets
    def bucket(self, name: str) -> dict[str, Any]:
        if name in self.foreign:
            # A bucket of another project: the caller may not even see it exists.
            raise storage_error(
                403,
                f"{CALLER} does not have storage.buckets.get access to the Google Cloud "
                f"Storage bucket. Permission 'storage.buckets.get' denied on resource (or it "
                "may not exist).",
                "forbidden",
            )
        found = self.buckets.get(name)
        if found is None:
            raise storage_error(404, "The specified bucket does not exist.", "notFound")
        return found

    def add_bucket(self, name: str, resource: dict[str, Any], policy: ResourcePolicy) -> None:
        if name in self.foreign:
            raise storage_error(409, NAME_NOT_AVAILABLE, "conflict")
        if name in self.buckets:
            raise storage_error(
                409,
                "Your previous request to create the named bucket succeeded and you "
                "already own it.",
                "conflict",
            )
        self.buckets[name] = resource
        self.objects[name] = {}
        self.policies[name] = policy

    def remove_bucket(self, name: str) -> None:
        self.bucket(name)
        if self.objects.get(name):
            raise storage_error(409, "The bucket you tried to delete is not empty.", "conflict")
        del self.buckets[name]
        self.objects.pop(name, None)
        self.policies.pop(name, None)

    # ------------------------------------------------------------ objects
    def object(self, bucket: str, name: str) -> dict[str, Any]:
        self.bucket(bucket)
        meta = self.objects[bucket].get(name)
        if meta is None:
            raise storage_error(404, f"No such object: {bucket}/{name}", "notFound")
        return meta

    def write_file(self, data: bytes) -> Path:
        """A new file under the root holding ``data`` (no lock needed)."""
        path = self.root / uuid.uuid4().hex
        path.write_bytes(data)
        return path

    def put_object(self, bucket: str, name: str, meta: dict[str, Any], path: Path) -> Path | None:
        """The object ``name`` is now ``meta`` with bytes at ``path``; the replaced file."""
        old = self.files.get((bucket, name))
        self.objects[bucket][name] = meta
        self.files[(bucket, name)] = path
        return old

    def remove_object(self, bucket: str, name: str) -> Path | None:
        """The object goes; the file that held its bytes, for the caller to delete."""
        del self.objects[bucket][name]
        return self.files.pop((bucket, name), None)

    # ------------------------------------------------------------ resumable uploads
    def open_upload(
        self, bucket: str, name: str, metadata: dict[str, Any], total: int | None, args: dict
    ) -> str:
        """A new resumable upload session; its id."""
        upload_id = uuid.uuid4().hex
        path = self.root / f"upload-{upload_id}"
        path.write_bytes(b"")
        self.uploads[upload_id] = UploadSession(bucket, name, metadata, path, args, total=total)
        return upload_id
