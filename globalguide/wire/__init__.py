"""What the CLI and the emulator both speak, and neither owns: the request a prober sends
to the guide and how its answer names a region (:mod:`guide_request`), and the probe VM's
startup script and serial-port lines (:mod:`probe_serial`).

Nothing here imports the client side (``globalguide.cloud``, ``globalguide.probe``) or the
emulator, so the emulator imitates the cloud without depending on the client it imitates.
"""
