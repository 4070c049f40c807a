"""Cloud Storage JSON API for the emulator (moto-style: state and rules apart from the REST
layer).

- ``buckets``: bucket names, locations, the fields insert and patch keep;
- ``objects``: object names, sizes, checksums, preconditions, metadata, listing;
- ``media``: download ranges, multipart bodies, resumable upload sessions;
- ``bucket_iam``: a bucket's IAM policy; ``errors``: the API's error answers;
- ``state``: what is held (metadata in memory, bytes on disk); ``api``: routes and handlers.
"""

from globalguide.emulator.storage.api import API

__all__ = ["API"]
