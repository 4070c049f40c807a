"""Cloud Storage JSON API: buckets and objects, as google-cloud-storage calls them.

Covered: bucket insert/get/list/patch/delete and IAM, object list/get/delete, media
download (both the ``alt=media`` form and the ``/download`` path the client builds), and
uploads of the ``media``, ``multipart`` and ``resumable`` kinds. Errors come in the classic
``errors[]`` shape with a ``reason``.

For other APIs: :meth:`API.bucket_exists`, :meth:`API.object_metadata`,
:meth:`API.read_object` and :meth:`API.policy_of` (Cloud Build reads its sources with them).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from werkzeug.wrappers import Request, Response

from globalguide.emulator.core.project import project_number
from globalguide.emulator.core.routing import (
    Route,
    bad_request,
    json_response,
    raw_path,
    read_json,
)
from globalguide.emulator.core.stateful import StatefulAPI
from globalguide.emulator.core.timestamps import rfc3339
from globalguide.emulator.iam.permissions import ResourcePolicy, account_exists
from globalguide.emulator.storage import bucket_iam, buckets, objects
from globalguide.emulator.storage.errors import invalid, required, storage_error
from globalguide.emulator.storage.media import byte_range, parse_multipart
from globalguide.emulator.storage.state import StorageState

if TYPE_CHECKING:
    from globalguide.emulator.iam import API as IamAPI


class API(StatefulAPI):
    """The Cloud Storage JSON API for the emulator's one project."""

    name = "storage"
    # The APIs it calls, handed over by the server.
    iam: IamAPI

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self.state = StorageState(Path(emulator.config.state_dir) / "storage")

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

    def control(self, request: Request, name: str) -> Response:
        """Test control ``storage/foreign``: bucket names that other projects hold."""
        if name == "foreign" and request.method == "POST":
            names = read_json(request).get("names")
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                return json_response(bad_request("'names' must be a list of strings").body(), 400)
            with self.emulator.lock:
                self.state.foreign.update(names)
            return json_response({})
        return json_response({"error": {"code": 404, "message": "Not Found"}}, 404)

    # ------------------------------------------------------------ for other APIs
    def policy_of(self, bucket: str) -> ResourcePolicy | None:
        """The bucket's IAM policy (callers hold the lock)."""
        return self.state.policies.get(bucket)

    def bucket_exists(self, bucket: str) -> bool:
        with self.emulator.lock:
            return bucket in self.state.buckets

    def object_metadata(self, bucket: str, name: str) -> dict[str, Any] | None:
        with self.emulator.lock:
            meta = self.state.objects.get(bucket, {}).get(name)
            return dict(meta) if meta else None

    def read_object(self, bucket: str, name: str) -> bytes | None:
        with self.emulator.lock:
            path = self.state.files.get((bucket, name))
        if path is None:
            return None
        try:
            return path.read_bytes()
        except OSError:
            return None

    def write_object(self, bucket: str, name: str, data: bytes, content_type: str) -> dict:
        """An object written by another API (Cloud Build's log), through the same rules as an
        upload: name, size, hashes, generation."""
        return self._finalize(None, bucket, name, {"contentType": content_type}, data, {})

    # ------------------------------------------------------------ buckets
    def _project_param(self, request: Request) -> str:
        project = request.args.get("project", "")
        if not project:
            raise storage_error(400, "Required parameter: project", "required")
        self.emulator.check_project(project, style="storage", by_number=True)
        return project

    def insert_bucket(self, request: Request) -> dict:
        self._project_param(request)
        body = read_json(request)
        name = buckets.check_bucket_name(body.get("name"))
        location = buckets.bucket_location(body.get("location"))
        with self.emulator.lock:
            generation = self.state.next_generation()
        resource = buckets.new_bucket(
            name,
            location,
            body,
            project_number=project_number(self.emulator.project),
            generation=generation,
            self_link=f"{self._base(request)}/storage/v1/b/{name}",
            now=rfc3339(),
        )
        with self.emulator.lock:
            policy = bucket_iam.default_policy(name, self.emulator.project)
            self.state.add_bucket(name, resource, policy)
            return dict(resource)

    def patch_bucket(self, request: Request, bucket: str) -> dict:
        body = read_json(request)
        with self.emulator.lock:
            resource = self.state.bucket(bucket)
            buckets.check_metageneration(request.args, resource)
            buckets.patch_bucket(resource, body, rfc3339())
            return dict(resource)

    def get_bucket(self, request: Request, bucket: str) -> dict:
        with self.emulator.lock:
            return dict(self.state.bucket(bucket))

    def list_buckets(self, request: Request) -> dict:
        self._project_param(request)
        prefix = request.args.get("prefix", "")
        with self.emulator.lock:
            found = sorted(self.state.buckets.items())
            items = [dict(b) for n, b in found if n.startswith(prefix)]
        out: dict[str, Any] = {"kind": "storage#buckets"}
        if items:
            out["items"] = items
        return out

    def delete_bucket(self, request: Request, bucket: str) -> Response:
        with self.emulator.lock:
            self.state.remove_bucket(bucket)
        return Response(status=204)

    # ------------------------------------------------------------ bucket IAM
    def get_bucket_iam(self, request: Request, bucket: str) -> dict:
        bucket_iam.check_requested_version(request.args.get("optionsRequestedPolicyVersion", "1"))
        with self.emulator.lock:
            self.state.bucket(bucket)
            return bucket_iam.render_policy(bucket, self.state.policies[bucket])

    def set_bucket_iam(self, request: Request, bucket: str) -> dict:
        body = read_json(request)
        with self.emulator.lock:
            self.state.bucket(bucket)
            policy = self.state.policies[bucket]
            bucket_iam.set_policy(policy, body, account_exists(self.emulator.project, self.iam))
            return bucket_iam.render_policy(bucket, policy)

    # ------------------------------------------------------------ objects
    def list_objects(self, request: Request, bucket: str) -> dict:
        prefix = request.args.get("prefix", "")
        delimiter = request.args.get("delimiter", "")
        default = objects.DEFAULT_MAX_RESULTS
        max_results = _int_arg(request, "maxResults", default) or default
        start = request.args.get("pageToken", "")
        with self.emulator.lock:
            self.state.bucket(bucket)
            return objects.listing(
                self.state.objects[bucket], prefix, delimiter, max_results, start
            )

    def get_object(self, request: Request, bucket: str, obj: str) -> Any:
        name = _object_name(request, bucket, obj)
        if request.args.get("alt") == "media":
            return self._media(request, bucket, name)
        with self.emulator.lock:
            meta = self.state.object(bucket, name)
            objects.check_preconditions(request.args, meta)
            return dict(meta)

    def download(self, request: Request, bucket: str, obj: str) -> Response:
        return self._media(request, bucket, _object_name(request, bucket, obj))

    def _media(self, request: Request, bucket: str, name: str) -> Response:
        with self.emulator.lock:
            meta = dict(self.state.object(bucket, name))
            objects.check_preconditions(request.args, meta)
            path = self.state.files[(bucket, name)]
        data = path.read_bytes()
        headers = {
            "X-Goog-Hash": f"crc32c={meta['crc32c']},md5={meta['md5Hash']}",
            "X-Goog-Generation": meta["generation"],
            "X-Goog-Metageneration": meta["metageneration"],
            "X-Goog-Stored-Content-Length": str(len(data)),
            "X-Goog-Stored-Content-Encoding": "identity",
        }
        status = 200
        wanted = byte_range(request.headers.get("Range", ""), len(data))
        if wanted is not None:
            start, end = wanted
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data = data[start : end + 1]
            status = 206
        return Response(data, status=status, headers=headers, content_type=meta["contentType"])

    def delete_object(self, request: Request, bucket: str, obj: str) -> Response:
        name = _object_name(request, bucket, obj)
        with self.emulator.lock:
            meta = self.state.object(bucket, name)
            objects.check_preconditions(request.args, meta)
            path = self.state.remove_object(bucket, name)
        if path is not None:
            path.unlink(missing_ok=True)
        return Response(status=204)

    # ------------------------------------------------------------ uploads
    def upload(self, request: Request, bucket: str) -> Any:
        kind = request.args.get("uploadType", "")
        with self.emulator.lock:
            self.state.bucket(bucket)
        if kind == "resumable":
            return self._start_resumable(request, bucket)
        objects.check_length(request.content_length)
        if kind == "multipart":
            content_type = request.headers.get("Content-Type", "")
            metadata, data = parse_multipart(content_type, request.get_data())
        elif kind == "media":
            metadata = {"name": request.args.get("name", "")}
            data = request.get_data()
            metadata["contentType"] = request.content_type or "application/octet-stream"
        else:
            raise invalid(f"Invalid upload type: {kind!r}")
        name = metadata.get("name") or request.args.get("name", "")
        return self._finalize(request, bucket, name, metadata, data, dict(request.args))

    def _start_resumable(self, request: Request, bucket: str) -> Response:
        metadata = read_json(request) if request.get_data() else {}
        name = metadata.get("name") or request.args.get("name", "")
        if not name:
            raise required()
        total_header = request.headers.get("X-Upload-Content-Length")
        total = int(total_header) if total_header and total_header.isdigit() else None
        objects.check_length(total)
        if "contentType" not in metadata and request.headers.get("X-Upload-Content-Type"):
            metadata["contentType"] = request.headers["X-Upload-Content-Type"]
        with self.emulator.lock:
            upload_id = self.state.open_upload(bucket, name, metadata, total, dict(request.args))
        location = (
            f"{self._base(request)}/upload/storage/v1/b/{quote(bucket, safe='')}/o"
            f"?uploadType=resumable&upload_id={upload_id}"
        )
        return Response(b"", status=200, headers={"Location": location})

    def upload_chunk(self, request: Request, bucket: str) -> Any:
        upload_id = request.args.get("upload_id", "")
        with self.emulator.lock:
            session = self.state.uploads.get(upload_id)
        if session is None or session.bucket != bucket:
            raise storage_error(404, "No such upload session.", "notFound")
        content_range = request.headers.get("Content-Range", "").strip()
        if not session.receive(content_range, request.get_data()):
            return _incomplete(session.size)
        with self.emulator.lock:
            self.state.uploads.pop(upload_id, None)
        content = session.take()
        return self._finalize(
            request, bucket, session.name, session.metadata, content, session.args
        )

    def _finalize(
        self,
        request: Request | None,
        bucket: str,
        name: str,
        metadata: dict[str, Any],
        data: bytes,
        args: dict[str, str],
    ) -> dict:
        objects.check_object_name(name)
        objects.check_length(len(data))
        crc, md5 = objects.checksums(metadata, data)
        path = self.state.write_file(data)
        base = self._base(request)
        with self.emulator.lock:
            stored_in = self.state.bucket(bucket)
            objects.check_generation(args, self.state.objects[bucket].get(name))
            meta = objects.new_object(
                bucket,
                name,
                metadata,
                generation=str(self.state.next_generation()),
                size=len(data),
                crc32c=crc,
                md5=md5,
                storage_class=stored_in.get("storageClass", "STANDARD"),
                base=base,
                now=rfc3339(),
            )
            old = self.state.put_object(bucket, name, meta, path)
        if old is not None:
            old.unlink(missing_ok=True)
        return dict(meta)

    def _base(self, request: Request | None) -> str:
        if self.emulator.base_url or request is None:
            return self.emulator.base_url
        return request.host_url.rstrip("/")


def _int_arg(request: Request, name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise invalid(f"Invalid value for {name}: {raw}") from exc


def _incomplete(size: int) -> Response:
    """308: the resumable upload goes on; ``Range`` says which bytes are in."""
    headers = {"Range": f"bytes=0-{size - 1}"} if size else {}
    return Response(b"", status=308, headers=headers)


def _object_name(request: Request, bucket: str, decoded: str) -> str:
    """The object name exactly as sent: path segments may hold an escaped ``/``."""
    path = raw_path(request)
    marker = f"/b/{bucket}/o/"
    if path and marker in path:
        return unquote(path.split(marker, 1)[1])
    return decoded
