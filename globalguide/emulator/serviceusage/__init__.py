"""Service Usage for the emulator: which APIs the project has enabled.

- ``catalog``: the services it knows, their titles, those a new project starts with;
- ``errors``: SERVICE_DISABLED and unknown services, with the details Google adds;
- ``services``: what the project has enabled and when each enable is usable;
- ``validate``: what the methods accept (filters, pages, batch sizes, names);
- ``api``: routes, handlers and operations of ``serviceusage.googleapis.com``.
"""

from globalguide.emulator.serviceusage.api import API

__all__ = ["API"]
