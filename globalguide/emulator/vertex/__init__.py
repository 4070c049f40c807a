"""Vertex AI for the emulator.

- ``gemini``: the fake Gemini (models, thinking tokens, replies, the Vertex wire shapes);
- ``latency``: its modelled timing; ``api``: the entry check and test controls;
- ``standalone``: the fake served on its own, for tests of the service.
"""
