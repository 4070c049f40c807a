"""Cloud Storage JSON API: buckets and objects, as google-cloud-storage calls them.

Covered: bucket insert/get/list/delete, object list/get/delete, media download (both the
``alt=media`` form and the ``/download`` path the client builds), and uploads of the
``media``, ``multipart`` and ``resumable`` kinds. Bucket names follow the global namespace
rules of https://cloud.google.com/storage/docs/buckets#naming. Object bytes live on disk
under ``<state_dir>/storage``; metadata lives in memory.

Knowing difference: the real object size limit is 5 TiB; the emulator bounds an object to
``MAX_OBJECT_BYTES`` (100 MiB) and answers 413 above it, to bound disk use.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

import google_crc32c
from werkzeug.wrappers import Request, Response

from globalguide.emulator.core.project import project_number
from globalguide.emulator.core.routing import ApiError, Route, bad_request, json_response, read_json
from globalguide.emulator.core.timestamps import rfc3339
from globalguide.emulator.iam.permissions import ResourcePolicy, account_exists

if TYPE_CHECKING:
    from globalguide.emulator.iam import API as IamAPI

MAX_OBJECT_BYTES = 100 * 1024 * 1024
DEFAULT_MAX_RESULTS = 1000

MULTI_REGIONS = {"US", "EU", "ASIA"}
DUAL_REGIONS = {"NAM4", "EUR4", "EUR5", "EUR7", "EUR8", "ASIA1"}
_NAME_CHARS = re.compile(r"[a-z0-9][a-z0-9._-]*[a-z0-9]\Z")
_GOOGLE_LIKE = ("google", "g00gle", "go0gle", "g0ogle", "googel", "gogle")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)\Z")
_CONTENT_RANGE = re.compile(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)\Z")
# The identity the emulator's callers authenticate as (the project owner).
CALLER = "owner@example.com"
NAME_NOT_AVAILABLE = (
    "The requested bucket name is not available. The bucket namespace is shared by all users "
    "of the system. Please select a different name and try again."
)


def _err(code: int, message: str, reason: str) -> ApiError:
    return ApiError(code, message, reason=reason)


def bucket_name_error(name: str) -> ApiError | None:
    """The error the real API gives for an unacceptable bucket name, or None."""
    invalid = _err(400, f"Invalid bucket name: '{name}'", "invalid")
    if not isinstance(name, str) or not _NAME_CHARS.match(name):
        return invalid
    parts = name.split(".")
    if len(parts) == 1 and not 3 <= len(name) <= 63:
        return invalid
    if len(parts) > 1 and (len(name) > 222 or any(not 1 <= len(p) <= 63 for p in parts)):
        return invalid
    try:
        ipaddress.IPv4Address(name)
        return invalid
    except ValueError:
        pass
    if name.startswith("goog") or any(word in name for word in _GOOGLE_LIKE):
        return invalid
    if len(parts) > 1:
        # Dotted names are domain names; the emulator has no verified domains.
        return _err(
            403,
            "The bucket you tried to create requires domain ownership verification.",
            "forbidden",
        )
    return None


def crc32c_b64(data: bytes) -> str:
    return base64.b64encode(google_crc32c.Checksum(data).digest()).decode()


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()  # noqa: S324 (the API's hash)


class API:
    """The Cloud Storage JSON API for the emulator's one project."""

    name = "storage"
    # The APIs it calls, handed over by the server.
    iam: IamAPI

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self.root = Path(emulator.config.state_dir) / "storage"
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)
        self._buckets: dict[str, dict[str, Any]] = {}
        self._objects: dict[str, dict[str, dict[str, Any]]] = {}  # bucket -> name -> meta
        self._files: dict[tuple[str, str], Path] = {}
        self._uploads: dict[str, dict[str, Any]] = {}
        self._last_generation = 0
        self._policies: dict[str, ResourcePolicy] = {}
        self._foreign: set[str] = set()  # names held by buckets of other projects

    # ------------------------------------------------------------ contract
    def routes(self) -> list[Route]:
        api, style, no_op = self.name, "storage", "no-operation"
        b = "/storage/v1/b"
        o = f"{b}/<bucket>/o"

        def mutating(method: str, pattern: str, handler: Any) -> Route:
            return Route(
                method, pattern, handler, api=api, mutating=True, style=style, endpoint=no_op
            )

        return [
            mutating("POST", b, self.insert_bucket),
            Route("GET", b, self.list_buckets, api=api, style=style),
            Route("GET", f"{b}/<bucket>", self.get_bucket, api=api, style=style),
            mutating("PATCH", f"{b}/<bucket>", self.patch_bucket),
            mutating("DELETE", f"{b}/<bucket>", self.delete_bucket),
            Route("GET", f"{b}/<bucket>/iam", self.get_bucket_iam, api=api, style=style),
            mutating("PUT", f"{b}/<bucket>/iam", self.set_bucket_iam),
            Route("GET", o, self.list_objects, api=api, style=style),
            Route("GET", f"{o}/<path:obj>", self.get_object, api=api, style=style),
            mutating("DELETE", f"{o}/<path:obj>", self.delete_object),
            Route("GET", f"/download{o}/<path:obj>", self.download, api=api, style=style),
            mutating("POST", f"/upload{o}", self.upload),
            mutating("PUT", f"/upload{o}", self.upload_chunk),
        ]

    def snapshot(self) -> dict[str, Any]:
        with self.emulator.lock:
            return {
                "buckets": [dict(b) for b in self._buckets.values()],
                "objects": [
                    dict(meta) for objs in self._objects.values() for meta in objs.values()
                ],
            }

    def reset(self) -> None:
        with self.emulator.lock:
            self._buckets.clear()
            self._objects.clear()
            self._files.clear()
            self._uploads.clear()
            self._policies.clear()
            self._foreign.clear()
            shutil.rmtree(self.root, ignore_errors=True)
            self.root.mkdir(parents=True, exist_ok=True)

    def resource_count(self) -> int:
        with self.emulator.lock:
            return len(self._buckets) + sum(len(objs) for objs in self._objects.values())

    def control(self, request: Request, name: str) -> Response:
        """Test control ``storage/foreign``: bucket names that other projects hold."""
        if name == "foreign" and request.method == "POST":
            names = read_json(request).get("names")
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                return json_response(bad_request("'names' must be a list of strings").body(), 400)
            with self.emulator.lock:
                self._foreign.update(names)
            return json_response({})
        return json_response({"error": {"code": 404, "message": "Not Found"}}, 404)

    # ------------------------------------------------------------ for other APIs
    def policy_of(self, bucket: str) -> ResourcePolicy | None:
        """The bucket's IAM policy (callers hold the lock)."""
        return self._policies.get(bucket)

    def bucket_exists(self, bucket: str) -> bool:
        with self.emulator.lock:
            return bucket in self._buckets

    def object_metadata(self, bucket: str, name: str) -> dict[str, Any] | None:
        with self.emulator.lock:
            meta = self._objects.get(bucket, {}).get(name)
            return dict(meta) if meta else None

    def read_object(self, bucket: str, name: str) -> bytes | None:
        with self.emulator.lock:
            path = self._files.get((bucket, name))
        if path is None:
            return None
        try:
            return path.read_bytes()
        except OSError:
            return None

    # ------------------------------------------------------------ buckets
    def _project_param(self, request: Request) -> str:
        project = request.args.get("project", "")
        if not project:
            raise _err(400, "Required parameter: project", "required")
        self.emulator.check_project(project, style="storage", by_number=True)
        return project

    def _bucket(self, bucket: str) -> dict[str, Any]:
        if bucket in self._foreign:
            # A bucket of another project: the caller may not even see it exists.
            raise _err(
                403,
                f"{CALLER} does not have storage.buckets.get access to the Google Cloud "
                f"Storage bucket. Permission 'storage.buckets.get' denied on resource (or it "
                "may not exist).",
                "forbidden",
            )
        found = self._buckets.get(bucket)
        if found is None:
            raise _err(404, "The specified bucket does not exist.", "notFound")
        return found

    def insert_bucket(self, request: Request) -> dict:
        self._project_param(request)
        body = read_json(request)
        name = body.get("name")
        if not name:
            raise _err(400, "Required", "required")
        problem = bucket_name_error(name)
        if problem is not None:
            raise problem
        location = str(body.get("location") or "US").upper()
        if location in MULTI_REGIONS:
            location_type = "multi-region"
        elif location in DUAL_REGIONS:
            location_type = "dual-region"
        elif location.lower() in _regions():
            location_type = "region"
        else:
            raise _err(400, "The specified location constraint is not valid.", "invalid")
        number = project_number(self.emulator.project)
        now = rfc3339()
        resource = {
            "kind": "storage#bucket",
            "selfLink": f"{self._base(request)}/storage/v1/b/{name}",
            "id": name,
            "name": name,
            "projectNumber": number,
            "generation": str(self._next_generation()),
            "metageneration": "1",
            "location": location,
            "locationType": location_type,
            "storageClass": body.get("storageClass", "STANDARD"),
            "timeCreated": now,
            "updated": now,
            "softDeletePolicy": {"retentionDurationSeconds": "604800", "effectiveTime": now},
            "iamConfiguration": {
                "bucketPolicyOnly": {"enabled": False},
                "uniformBucketLevelAccess": {"enabled": False},
                "publicAccessPrevention": "inherited",
            },
            "etag": "CAE=",
        }
        if location_type != "region":
            resource["rpo"] = "DEFAULT"
        _apply_bucket_fields(resource, body)
        with self.emulator.lock:
            if name in self._foreign:
                raise _err(409, NAME_NOT_AVAILABLE, "conflict")
            if name in self._buckets:
                raise _err(
                    409,
                    "Your previous request to create the named bucket succeeded and you "
                    "already own it.",
                    "conflict",
                )
            self._buckets[name] = resource
            self._objects[name] = {}
            self._policies[name] = _default_policy(name, self.emulator.project)
            return dict(resource)

    def patch_bucket(self, request: Request, bucket: str) -> dict:
        body = read_json(request)
        with self.emulator.lock:
            resource = self._bucket(bucket)
            _check_bucket_preconditions(request, resource)
            _apply_bucket_fields(resource, body)
            resource["metageneration"] = str(int(resource["metageneration"]) + 1)
            resource["updated"] = rfc3339()
            resource["etag"] = base64.b64encode(resource["metageneration"].encode()).decode()
            return dict(resource)

    def get_bucket(self, request: Request, bucket: str) -> dict:
        with self.emulator.lock:
            return dict(self._bucket(bucket))

    def list_buckets(self, request: Request) -> dict:
        self._project_param(request)
        prefix = request.args.get("prefix", "")
        with self.emulator.lock:
            items = [dict(b) for n, b in sorted(self._buckets.items()) if n.startswith(prefix)]
        out: dict[str, Any] = {"kind": "storage#buckets"}
        if items:
            out["items"] = items
        return out

    def delete_bucket(self, request: Request, bucket: str) -> Response:
        with self.emulator.lock:
            self._bucket(bucket)
            if self._objects.get(bucket):
                raise _err(409, "The bucket you tried to delete is not empty.", "conflict")
            del self._buckets[bucket]
            self._objects.pop(bucket, None)
            self._policies.pop(bucket, None)
        return Response(status=204)

    # ------------------------------------------------------------ bucket IAM
    def _render_policy(self, bucket: str) -> dict[str, Any]:
        return {
            "kind": "storage#policy",
            "resourceId": f"projects/_/buckets/{bucket}",
            **self._policies[bucket].render(),
        }

    def get_bucket_iam(self, request: Request, bucket: str) -> dict:
        requested = request.args.get("optionsRequestedPolicyVersion", "1")
        if requested not in ("1", "3"):
            raise _err(400, f"Invalid requested policy version {requested}.", "invalid")
        with self.emulator.lock:
            self._bucket(bucket)
            return self._render_policy(bucket)

    def set_bucket_iam(self, request: Request, bucket: str) -> dict:
        body = read_json(request)
        stale = _err(412, "Precondition Failed", "conditionNotMet")
        with self.emulator.lock:
            self._bucket(bucket)
            self._policies[bucket].replace(
                body, stale=stale, account_exists=account_exists(self.emulator.project, self.iam)
            )
            return self._render_policy(bucket)

    # ------------------------------------------------------------ objects
    def _object(self, bucket: str, name: str) -> dict[str, Any]:
        self._bucket(bucket)
        meta = self._objects[bucket].get(name)
        if meta is None:
            raise _err(404, f"No such object: {bucket}/{name}", "notFound")
        return meta

    def list_objects(self, request: Request, bucket: str) -> dict:
        prefix = request.args.get("prefix", "")
        delimiter = request.args.get("delimiter", "")
        max_results = _int_arg(request, "maxResults", DEFAULT_MAX_RESULTS) or DEFAULT_MAX_RESULTS
        start = request.args.get("pageToken", "")
        with self.emulator.lock:
            self._bucket(bucket)
            names = sorted(n for n in self._objects[bucket] if n.startswith(prefix) and n > start)
            items: list[dict[str, Any]] = []
            prefixes: list[str] = []
            last = ""
            for name in names:
                if len(items) + len(prefixes) >= max_results:
                    break
                rest = name[len(prefix) :]
                if delimiter and delimiter in rest:
                    sub = prefix + rest.split(delimiter, 1)[0] + delimiter
                    if sub not in prefixes:
                        prefixes.append(sub)
                    last = name
                    continue
                items.append(dict(self._objects[bucket][name]))
                last = name
            more = bool(names) and last != names[-1]
        out: dict[str, Any] = {"kind": "storage#objects"}
        if items:
            out["items"] = items
        if prefixes:
            out["prefixes"] = prefixes
        if more:
            out["nextPageToken"] = last
        return out

    def get_object(self, request: Request, bucket: str, obj: str) -> Any:
        name = _object_name(request, bucket, obj)
        if request.args.get("alt") == "media":
            return self._media(request, bucket, name)
        with self.emulator.lock:
            meta = self._object(bucket, name)
            _check_preconditions(request, meta)
            return dict(meta)

    def download(self, request: Request, bucket: str, obj: str) -> Response:
        return self._media(request, bucket, _object_name(request, bucket, obj))

    def _media(self, request: Request, bucket: str, name: str) -> Response:
        with self.emulator.lock:
            meta = dict(self._object(bucket, name))
            _check_preconditions(request, meta)
            path = self._files[(bucket, name)]
        data = path.read_bytes()
        headers = {
            "X-Goog-Hash": f"crc32c={meta['crc32c']},md5={meta['md5Hash']}",
            "X-Goog-Generation": meta["generation"],
            "X-Goog-Metageneration": meta["metageneration"],
            "X-Goog-Stored-Content-Length": str(len(data)),
            "X-Goog-Stored-Content-Encoding": "identity",
        }
        status = 200
        wanted = request.headers.get("Range", "")
        match = _RANGE.match(wanted.strip()) if wanted else None
        if match and (match.group(1) or match.group(2)):
            first, last = match.group(1), match.group(2)
            if first:
                start, end = int(first), int(last) if last else len(data) - 1
            else:
                start, end = max(len(data) - int(last), 0), len(data) - 1
            if start >= len(data) or start > end:
                raise _err(416, "Request range not satisfiable", "requestedRangeNotSatisfiable")
            end = min(end, len(data) - 1)
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data = data[start : end + 1]
            status = 206
        return Response(data, status=status, headers=headers, content_type=meta["contentType"])

    def delete_object(self, request: Request, bucket: str, obj: str) -> Response:
        name = _object_name(request, bucket, obj)
        with self.emulator.lock:
            meta = self._object(bucket, name)
            _check_preconditions(request, meta)
            del self._objects[bucket][name]
            path = self._files.pop((bucket, name), None)
        if path is not None:
            path.unlink(missing_ok=True)
        return Response(status=204)

    # ------------------------------------------------------------ uploads
    def upload(self, request: Request, bucket: str) -> Any:
        kind = request.args.get("uploadType", "")
        with self.emulator.lock:
            self._bucket(bucket)
        if kind == "resumable":
            return self._start_resumable(request, bucket)
        _check_length(request.content_length)
        if kind == "multipart":
            metadata, data, part_type = _parse_multipart(request)
            if "contentType" not in metadata and part_type:
                metadata["contentType"] = part_type
        elif kind == "media":
            metadata = {"name": request.args.get("name", "")}
            data = request.get_data()
            metadata["contentType"] = request.content_type or "application/octet-stream"
        else:
            raise _err(400, f"Invalid upload type: {kind!r}", "invalid")
        name = metadata.get("name") or request.args.get("name", "")
        return self._finalize(request, bucket, name, metadata, data, dict(request.args))

    def _start_resumable(self, request: Request, bucket: str) -> Response:
        metadata = read_json(request) if request.get_data() else {}
        name = metadata.get("name") or request.args.get("name", "")
        if not name:
            raise _err(400, "Required", "required")
        total_header = request.headers.get("X-Upload-Content-Length")
        total = int(total_header) if total_header and total_header.isdigit() else None
        _check_length(total)
        if "contentType" not in metadata and request.headers.get("X-Upload-Content-Type"):
            metadata["contentType"] = request.headers["X-Upload-Content-Type"]
        upload_id = uuid.uuid4().hex
        path = self.root / f"upload-{upload_id}"
        path.write_bytes(b"")
        with self.emulator.lock:
            self._uploads[upload_id] = {
                "bucket": bucket,
                "name": name,
                "metadata": metadata,
                "path": path,
                "size": 0,
                "total": total,
                "args": dict(request.args),
            }
        location = (
            f"{self._base(request)}/upload/storage/v1/b/{quote(bucket, safe='')}/o"
            f"?uploadType=resumable&upload_id={upload_id}"
        )
        return Response(b"", status=200, headers={"Location": location})

    def upload_chunk(self, request: Request, bucket: str) -> Any:
        upload_id = request.args.get("upload_id", "")
        with self.emulator.lock:
            session = self._uploads.get(upload_id)
        if session is None or session["bucket"] != bucket:
            raise _err(404, "No such upload session.", "notFound")
        header = request.headers.get("Content-Range", "").strip()
        match = _CONTENT_RANGE.match(header) if header else None
        data = request.get_data()
        if header and match is None:
            raise _err(400, f"Invalid Content-Range header: {header!r}", "invalid")
        if match and match.group(3) != "*":
            session["total"] = int(match.group(3))
            _check_length(session["total"])
        if match is None:
            first = 0 if not data else session["size"]
            session["total"] = session["size"] + len(data)
        else:
            first = int(match.group(1)) if match.group(1) else session["size"]
        if data:
            if first > session["size"]:
                return _incomplete(session["size"])
            fresh = data[session["size"] - first :]
            _check_length(session["size"] + len(fresh))
            with session["path"].open("ab") as f:
                f.write(fresh)
            session["size"] += len(fresh)
        if session["total"] is not None and session["size"] >= session["total"]:
            with self.emulator.lock:
                self._uploads.pop(upload_id, None)
            content = session["path"].read_bytes()
            session["path"].unlink(missing_ok=True)
            return self._finalize(
                request, bucket, session["name"], session["metadata"], content, session["args"]
            )
        return _incomplete(session["size"])

    def _finalize(
        self,
        request: Request,
        bucket: str,
        name: str,
        metadata: dict[str, Any],
        data: bytes,
        args: dict[str, str],
    ) -> dict:
        if not name:
            raise _err(400, "Required", "required")
        if len(name.encode()) > 1024 or "\r" in name or "\n" in name:
            raise _err(400, "The specified object name is not valid.", "invalid")
        _check_length(len(data))
        crc, md5 = crc32c_b64(data), md5_b64(data)
        if metadata.get("crc32c") and metadata["crc32c"] != crc:
            raise _err(
                400,
                f'Provided CRC32C "{metadata["crc32c"]}" doesn\'t match calculated CRC32C "{crc}".',
                "invalid",
            )
        if metadata.get("md5Hash") and metadata["md5Hash"] != md5:
            raise _err(
                400,
                f'Provided MD5 hash "{metadata["md5Hash"]}" doesn\'t match calculated MD5 '
                f'hash "{md5}".',
                "invalid",
            )
        path = self.root / uuid.uuid4().hex
        path.write_bytes(data)
        base = self._base(request)
        with self.emulator.lock:
            self._bucket(bucket)
            existing = self._objects[bucket].get(name)
            _check_generation(args, existing)
            generation = str(self._next_generation())
            now = rfc3339()
            quoted = quote(name, safe="")
            meta = {
                "kind": "storage#object",
                "id": f"{bucket}/{name}/{generation}",
                "selfLink": f"{base}/storage/v1/b/{bucket}/o/{quoted}",
                "mediaLink": f"{base}/download/storage/v1/b/{bucket}/o/{quoted}"
                f"?generation={generation}&alt=media",
                "name": name,
                "bucket": bucket,
                "generation": generation,
                "metageneration": "1",
                "contentType": metadata.get("contentType") or "application/octet-stream",
                "storageClass": self._buckets[bucket].get("storageClass", "STANDARD"),
                "size": str(len(data)),
                "md5Hash": md5,
                "crc32c": crc,
                "etag": base64.b64encode(generation.encode()).decode(),
                "timeCreated": now,
                "updated": now,
                "timeStorageClassUpdated": now,
                "timeFinalized": now,
            }
            for key in (
                "metadata",
                "contentEncoding",
                "contentDisposition",
                "cacheControl",
                "contentLanguage",
            ):
                if key in metadata:
                    meta[key] = metadata[key]
            old = self._files.get((bucket, name))
            self._objects[bucket][name] = meta
            self._files[(bucket, name)] = path
        if old is not None:
            old.unlink(missing_ok=True)
        return dict(meta)

    # ------------------------------------------------------------ helpers
    def _next_generation(self) -> int:
        with self.emulator.lock:
            self._last_generation = max(self._last_generation + 1, int(time.time() * 1e6))
            return self._last_generation

    def _base(self, request: Request) -> str:
        return self.emulator.base_url or request.host_url.rstrip("/")


_BUCKET_FIELDS = (
    "labels",
    "versioning",
    "lifecycle",
    "cors",
    "website",
    "logging",
    "defaultEventBasedHold",
    "retentionPolicy",
    "autoclass",
    "softDeletePolicy",
)


def _apply_bucket_fields(resource: dict[str, Any], body: dict[str, Any]) -> None:
    """Patch semantics: given fields replace, ``labels`` merge (a null value removes)."""
    for key in _BUCKET_FIELDS:
        if key not in body:
            continue
        if key == "labels":
            labels = dict(resource.get("labels") or {})
            for name, value in (body["labels"] or {}).items():
                if value is None:
                    labels.pop(name, None)
                else:
                    labels[name] = value
            resource["labels"] = labels
        else:
            resource[key] = body[key]
    iam = body.get("iamConfiguration")
    if isinstance(iam, dict):
        merged = dict(resource.get("iamConfiguration") or {})
        merged.update(iam)
        uniform = iam.get("uniformBucketLevelAccess") or iam.get("bucketPolicyOnly")
        if uniform is not None:
            merged["uniformBucketLevelAccess"] = dict(uniform)
            merged["bucketPolicyOnly"] = dict(uniform)
        resource["iamConfiguration"] = merged


def _default_policy(bucket: str, project: str) -> ResourcePolicy:
    """A new bucket's policy: the project's owners, editors and viewers by convenience
    value. Source: https://cloud.google.com/storage/docs/access-control/iam#convenience-values
    """
    owners = [f"projectEditor:{project}", f"projectOwner:{project}"]
    return ResourcePolicy(
        f"projects/_/buckets/{bucket}",
        [
            {"role": "roles/storage.legacyBucketOwner", "members": owners},
            {"role": "roles/storage.legacyBucketReader", "members": [f"projectViewer:{project}"]},
            {"role": "roles/storage.legacyObjectOwner", "members": owners},
            {"role": "roles/storage.legacyObjectReader", "members": [f"projectViewer:{project}"]},
        ],
    )


def _check_bucket_preconditions(request: Request, resource: dict[str, Any]) -> None:
    wanted = request.args.get("ifMetagenerationMatch")
    if wanted not in (None, "") and wanted != resource["metageneration"]:
        raise _precondition_failed()


def _regions() -> set[str]:
    from globalguide import geo

    return set(geo.REGIONS)


def _int_arg(request: Request, name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise _err(400, f"Invalid value for {name}: {raw}", "invalid") from exc


def _check_length(size: int | None) -> None:
    if size is not None and size > MAX_OBJECT_BYTES:
        raise _err(
            413,
            f"The emulator bounds objects to {MAX_OBJECT_BYTES // (1024 * 1024)} MiB "
            "(Cloud Storage allows up to 5 TiB).",
            "uploadTooLarge",
        )


def _incomplete(size: int) -> Response:
    headers = {"Range": f"bytes=0-{size - 1}"} if size else {}
    return Response(b"", status=308, headers=headers)


def _object_name(request: Request, bucket: str, decoded: str) -> str:
    """The object name exactly as sent: path segments may hold an escaped ``/``."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or ""
    path = urlsplit(raw).path if raw else ""
    marker = f"/b/{bucket}/o/"
    if path and marker in path:
        return unquote(path.split(marker, 1)[1])
    return decoded


def _parse_multipart(request: Request) -> tuple[dict[str, Any], bytes, str]:
    content_type = request.headers.get("Content-Type", "")
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.startswith("multipart/related") or match is None:
        raise _err(400, "Invalid multipart request: missing boundary.", "invalid")
    boundary = b"--" + match.group(1).encode()
    body = request.get_data()
    parts = [p for p in body.split(boundary) if p not in (b"", b"--", b"--\r\n", b"\r\n")]
    if len(parts) < 2:
        raise _err(400, "Invalid multipart request: expected metadata and media.", "invalid")

    def split(part: bytes) -> tuple[dict[str, str], bytes]:
        part = part[2:] if part.startswith(b"\r\n") else part
        head, _, content = part.partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode("latin-1").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        if content.endswith(b"\r\n"):
            content = content[:-2]
        return headers, content

    _, meta_bytes = split(parts[0])
    media_headers, data = split(parts[1])
    try:
        metadata = json.loads(meta_bytes or b"{}")
    except ValueError as exc:
        raise _err(
            400, "Invalid JSON payload received in the metadata part.", "parseError"
        ) from exc
    if not isinstance(metadata, dict):
        raise _err(400, "Invalid JSON payload received in the metadata part.", "parseError")
    return metadata, data, media_headers.get("content-type", "")


def _check_generation(args: Any, existing: dict[str, Any] | None) -> None:
    current = int(existing["generation"]) if existing else 0
    match = args.get("ifGenerationMatch")
    if match not in (None, "") and int(match) != current:
        raise _precondition_failed()
    not_match = args.get("ifGenerationNotMatch")
    if not_match not in (None, "") and int(not_match) == current:
        raise _precondition_failed()


def _check_preconditions(request: Request, meta: dict[str, Any]) -> None:
    _check_generation(request.args, meta)
    wanted = request.args.get("ifMetagenerationMatch")
    if wanted not in (None, "") and wanted != meta["metageneration"]:
        raise _precondition_failed()


def _precondition_failed() -> ApiError:
    return _err(
        412, "At least one of the pre-conditions you specified did not hold.", "conditionNotMet"
    )
