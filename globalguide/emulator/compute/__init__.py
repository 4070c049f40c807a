"""Compute Engine v1 for the emulator (moto-style: state and rules apart from the REST layer).

- ``links``: reference spellings and the full URLs they are stored as;
- ``kinds``: the resource collections; ``state``: what is held and who references whom;
- ``validate``, ``headers``, ``backend``, ``frontend``, ``instances``: the API's rules;
- ``crud``: the request cycle shared by every kind; ``api``: routes and handlers.
"""

from globalguide.emulator.compute.api import API

__all__ = ["API"]
