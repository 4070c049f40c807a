"""Everything the CLI prints: one object owns stdout, stderr, tables and --json.

With ``--json`` stdout carries exactly one JSON document and nothing else; progress,
hints and logs always go to stderr.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table


class UI:
    def __init__(self, *, json_output: bool = False, debug: bool = False) -> None:
        self.json_output = json_output
        self.debug = debug
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    def info(self, text: str) -> None:
        """A progress or status line for people (stderr)."""
        self.err.print(escape(text))

    def rich(self, renderable: Any) -> None:
        """Human output that is the command's result (stdout), never with --json."""
        if not self.json_output:
            self.out.print(renderable)

    def result(self, document: Any, human: Any | None = None) -> None:
        """The command's result: the JSON document with --json, else ``human``."""
        if self.json_output:
            sys.stdout.write(json.dumps(document, indent=None, separators=(",", ":")) + "\n")
            sys.stdout.flush()
        elif human is not None:
            self.out.print(human)

    def error(self, message: str, hint: str | None = None) -> None:
        self.err.print(f"[bold red]Error:[/] {escape(message)}")
        if hint:
            self.err.print(f"[dim]{escape(hint)}[/]")

    @staticmethod
    def table(title: str | None, columns: list[str], rows: list[list[Any]]) -> Table:
        table = Table(title=title, title_justify="left", header_style="bold")
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*("" if cell is None else escape(str(cell)) for cell in row))
        return table


_STATE_STYLE = {
    "waiting": "dim",
    "running": "cyan",
    "retrying": "yellow",
    "done": "green",
    "failed": "bold red",
    "skipped": "dim red",
}


class StepProgress:
    """Live progress on stderr, a line per resource: its action, state and elapsed time.

    On a terminal it is a Rich live table; elsewhere (CI, pipes) one line per finished,
    failed or retried step, so logs stay readable.
    """

    def __init__(self, ui: UI, title: str) -> None:
        self.ui = ui
        self.title = title
        self.rows: dict[str, dict[str, Any]] = {}
        self.started: dict[str, float] = {}
        self._live: Any = None
        self._lock = threading.Lock()

    def __enter__(self) -> StepProgress:
        if self.ui.err.is_terminal:
            from rich.live import Live

            self._live = Live(
                self._render(), console=self.ui.err, refresh_per_second=8, transient=False
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.__exit__(*exc)

    def event(
        self,
        key: str,
        kind: str,
        name: str,
        region: str | None,
        action: str,
        state: str,
        elapsed: float,
        detail: str = "",
    ) -> None:
        with self._lock:
            if state == "running":
                self.started[key] = time.monotonic()
            if state in ("running", "retrying") and key in self.started:
                elapsed = time.monotonic() - self.started[key]
            self.rows[key] = {
                "kind": kind, "name": name, "region": region or "global", "action": action,
                "state": state, "elapsed": elapsed, "detail": detail,
            }  # fmt: skip
            if self._live is not None:
                self._live.update(self._render())
            elif state in ("done", "failed", "retrying", "skipped"):
                extra = f" ({detail})" if detail else ""
                self.ui.err.print(
                    f"  {action:<7} {kind} {name} [{region or 'global'}]: {state} "
                    f"in {elapsed:.1f}s{extra}",
                    markup=False,
                )

    def _render(self) -> Table:
        table = Table(title=self.title, title_justify="left", header_style="bold", expand=False)
        for column in ("resource", "name", "region", "action", "state", "time"):
            table.add_column(column)
        for row in self.rows.values():
            style = _STATE_STYLE.get(row["state"], "")
            state = row["state"] + (f" ({row['detail']})" if row["detail"] else "")
            table.add_row(
                row["kind"], escape(row["name"]), row["region"], row["action"],
                f"[{style}]{escape(state)}[/]", f"{row['elapsed']:.1f}s",
            )  # fmt: skip
        return table


def resource_table(title: str, rows: list[dict[str, Any]], extra: list[str] | None = None) -> Table:
    columns = ["resource", "name", "region", "action", *(extra or [])]
    body = [
        [r["kind"], r["name"], r.get("region") or "global", r["action"],
         *(r.get(k, "") for k in (extra or []))]
        for r in rows
    ]  # fmt: skip
    return UI.table(title, columns, body)
