"""Cloud Run Admin API v2 for the emulator (moto-style: state and rules apart from the REST layer).

- ``validate``: the v2 API's rules for a Service; ``defaults``: settable fields, the values
  the API fills in, update masks;
- ``state``: what is held for a service, its conditions and etag;
- ``rollout``: a revision started through the data plane, settled as Ready or failed;
- ``policy``: the rules of a service's IAM policy;
- ``services``: the services and the changes that roll them out; ``operations``: which
  operations are this API's, by location; ``api``: routes and handlers.
"""

from globalguide.emulator.run.api import API

__all__ = ["API"]
