"""``python -m service``: run the app under gunicorn, configured by gunicorn.conf.py."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

CONFIG_FILE = Path(__file__).with_name("gunicorn.conf.py")
APP_URI = "service.app:create_app()"


class ServiceApplication(BaseApplication):
    """gunicorn with the service's settings, serving the app named by ``app_uri``."""

    def __init__(self, app_uri: str = APP_URI) -> None:
        self.app_uri = app_uri
        super().__init__()

    def load_config(self) -> None:
        for key, value in runpy.run_path(str(CONFIG_FILE)).items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self) -> Any:
        from gunicorn.util import import_app

        return import_app(self.app_uri)


def main() -> None:
    ServiceApplication().run()


if __name__ == "__main__":
    main()
