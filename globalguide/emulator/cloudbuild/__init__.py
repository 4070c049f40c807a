"""Cloud Build v1 for the emulator (moto-style: state and rules apart from the REST layer).

- ``request``: the rules a build request must meet, its substitutions, names and filters;
- ``steps``: what a step asks for, in the subset the builder runs, and its context;
- ``state``: what is held of a build and how its run ended;
- ``runner``: fetches the source and executes the steps into the image store;
- ``push``: the images pushed to Artifact Registry when the build ends;
- ``completion``: how a finished build reads (timing, statuses, failure);
- ``logs``: the build log's lines and the Cloud Storage object it is written to;
- ``api``: routes and handlers.
"""

from globalguide.emulator.cloudbuild.api import API

__all__ = ["API"]
