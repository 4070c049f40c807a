"""The Local Guide service: the Flask app that is deployed to every region.

It imports nothing from ``globalguide``; it ships inside the wheel so the CLI can upload it
to Cloud Build and the emulator can run it as a local process (``python -m service``).
"""
