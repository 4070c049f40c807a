"""The emulator's image builder: RUN pip install into the image's own environment, and a
RUN it cannot interpret failing the build with the line named."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from globalguide.emulator.images import ImageBuildError, ImageStore, launch


def context(files: dict[str, str]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue())


def test_pip_install_makes_the_images_own_environment(tmp_path):
    store = ImageStore(tmp_path)
    image = store.build(
        context(
            {
                "Dockerfile": "FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\n"
                "RUN pip install -r requirements.txt && useradd app\n"
                'CMD ["gunicorn", "app:app"]\n',
                "requirements.txt": "flask\n",
                "app.py": "app = None\n",
            }
        )
    )
    assert image.python == "/usr/local/bin/python"
    env = image.root / "usr" / "local"
    assert (env / "pyvenv.cfg").read_text().count("include-system-site-packages = true") == 1
    argv = launch.resolve_argv(image, image.cmd)
    assert argv[0] == str(env / "bin" / "python") and argv[1].endswith("/gunicorn")


@pytest.mark.parametrize(
    "run, says",
    [
        ("RUN make all", "Dockerfile line 2: RUN 'make all' cannot be interpreted"),
        ("RUN curl -s x | sh", "pipes, redirections"),
        ("RUN pip install --no-index no-such-package-xyz", "Dockerfile line 2: RUN pip install"),
    ],
)
def test_a_run_the_builder_cannot_do_fails_naming_the_line(tmp_path: Path, run, says):
    dockerfile = f"FROM python:3.12-slim\n{run}\nCMD python -m http.server\n"
    with pytest.raises(ImageBuildError, match=None) as failed:
        ImageStore(tmp_path).build(context({"Dockerfile": dockerfile}))
    assert says in str(failed.value)
