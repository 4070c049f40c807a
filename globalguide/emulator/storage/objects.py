"""Object rules: names, sizes, checksums, the generation preconditions, the metadata an
upload makes, and listing by prefix and delimiter (JSON API ``objects`` resource).

Knowing difference: the real object size limit is 5 TiB; the emulator bounds an object to
``MAX_OBJECT_BYTES`` (100 MiB) and answers 413 above it, to bound disk use.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import google_crc32c

from globalguide.emulator.storage.buckets import check_metageneration
from globalguide.emulator.storage.errors import (
    invalid,
    precondition_failed,
    required,
    storage_error,
)

MAX_OBJECT_BYTES = 100 * 1024 * 1024
DEFAULT_MAX_RESULTS = 1000
MAX_NAME_BYTES = 1024
# Metadata fields an upload may set that the object keeps as sent.
_KEPT_FIELDS = (
    "metadata",
    "contentEncoding",
    "contentDisposition",
    "cacheControl",
    "contentLanguage",
)


def crc32c_b64(data: bytes) -> str:
    return base64.b64encode(google_crc32c.Checksum(data).digest()).decode()


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()  # noqa: S324 (the API's hash)


def check_length(size: int | None) -> None:
    if size is not None and size > MAX_OBJECT_BYTES:
        raise storage_error(
            413,
            f"The emulator bounds objects to {MAX_OBJECT_BYTES // (1024 * 1024)} MiB "
            "(Cloud Storage allows up to 5 TiB).",
            "uploadTooLarge",
        )


def check_object_name(name: str) -> None:
    if not name:
        raise required()
    if len(name.encode()) > MAX_NAME_BYTES or "\r" in name or "\n" in name:
        raise invalid("The specified object name is not valid.")


def checksums(metadata: dict[str, Any], data: bytes) -> tuple[str, str]:
    """(crc32c, md5Hash) of ``data``; a 400 when the upload's metadata claims others."""
    crc, md5 = crc32c_b64(data), md5_b64(data)
    if metadata.get("crc32c") and metadata["crc32c"] != crc:
        raise invalid(
            f'Provided CRC32C "{metadata["crc32c"]}" doesn\'t match calculated CRC32C "{crc}".'
        )
    if metadata.get("md5Hash") and metadata["md5Hash"] != md5:
        raise invalid(
            f'Provided MD5 hash "{metadata["md5Hash"]}" doesn\'t match calculated MD5 hash "{md5}".'
        )
    return crc, md5


def check_generation(args: Mapping[str, str], existing: dict[str, Any] | None) -> None:
    """``ifGenerationMatch`` / ``ifGenerationNotMatch``; 0 stands for "no live object"."""
    current = int(existing["generation"]) if existing else 0
    match = args.get("ifGenerationMatch")
    if match not in (None, "") and int(match) != current:
        raise precondition_failed()
    not_match = args.get("ifGenerationNotMatch")
    if not_match not in (None, "") and int(not_match) == current:
        raise precondition_failed()


def check_preconditions(args: Mapping[str, str], meta: dict[str, Any]) -> None:
    check_generation(args, meta)
    check_metageneration(args, meta)


def new_object(
    bucket: str,
    name: str,
    metadata: dict[str, Any],
    *,
    generation: str,
    size: int,
    crc32c: str,
    md5: str,
    storage_class: str,
    base: str,
    now: str,
) -> dict[str, Any]:
    """The object an upload of ``size`` bytes with ``metadata`` makes; ``base`` is the URL
    its ``selfLink`` and ``mediaLink`` start with."""
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
        "storageClass": storage_class,
        "size": str(size),
        "md5Hash": md5,
        "crc32c": crc32c,
        "etag": base64.b64encode(generation.encode()).decode(),
        "timeCreated": now,
        "updated": now,
        "timeStorageClassUpdated": now,
        "timeFinalized": now,
    }
    meta.update({key: metadata[key] for key in _KEPT_FIELDS if key in metadata})
    return meta


def listing(
    objects: dict[str, dict[str, Any]], prefix: str, delimiter: str, max_results: int, start: str
) -> dict[str, Any]:
    """One page of ``objects.list``: names after ``start`` under ``prefix``, names past a
    ``delimiter`` folded into ``prefixes``, the last name listed as the next page token."""
    names = sorted(n for n in objects if n.startswith(prefix) and n > start)
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
        items.append(dict(objects[name]))
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
