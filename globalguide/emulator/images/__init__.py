"""The emulator's container images: a local image store and the Dockerfile interpreter.

- ``image``: a built image (filesystem root and runtime config) and the build error;
- ``store``: the content-addressed image store, which builds from a context tarball;
- ``context``: the build context, extracted safely; ``dockerignore``: what it leaves out;
- ``dockerfile``: the Dockerfile interpreter; ``run_steps``: its RUN instructions;
- ``launch``: how an image's command runs on this machine.
"""

from globalguide.emulator.images.image import Image, ImageBuildError
from globalguide.emulator.images.store import ImageStore

__all__ = ["Image", "ImageBuildError", "ImageStore"]
