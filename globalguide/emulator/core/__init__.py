"""What every emulated API is built from, written once.

- ``routing``: routes, API errors and their wire shapes, JSON bodies;
- ``operations``: timing profiles, faults, long-running operations of both families;
- ``schema``: request bodies checked against the client libraries' proto descriptors;
- ``project``: the project number and the entry check (the project exists, the API is on);
- ``timestamps``, ``paging``, ``labels``: the formats and rules the APIs share;
- ``stateful``: snapshot, reset and count for an API whose state lives in one object.
"""
