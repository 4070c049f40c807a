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


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:.1f}"


def probe_tables(document: dict[str, Any]) -> list[Table]:
    """A table per city for one or two cities; one table sorted by region for more."""
    probes = document["probes"]
    ttfb = bool(document.get("stream"))
    if len(probes) <= 2:
        return [_city_table(p, ttfb) for p in probes]
    order = sorted(
        probes,
        key=lambda p: (p["served_from_region"] or "~", (p["modelled"] or {}).get(
            "rtt_ms_by_region", {}).get(p["served_from_region"] or "", 0)),
    )  # fmt: skip
    single = next(
        (p["modelled"]["best_single_region"]["region"] for p in probes if p["modelled"]), None
    )
    columns = ["city", "served from", "saw", "measured ms", *(["ttfb ms"] if ttfb else []),
               "modelled RTT ms", f"modelled RTT ms if only {single or 'one region'}",
               "modelled saving ms", "status"]  # fmt: skip
    rows = []
    for p in order:
        m = p["modelled"] or {}
        served_rtt = m.get("rtt_ms_by_region", {}).get(p["served_from_region"] or "")
        rows.append([
            _city_label(p), p["served_from_region"] or "-", p["user_detected_location"] or "-",
            _ms(p["measured"]["total_ms"]), *([_ms(p["measured"]["ttfb_ms"])] if ttfb else []),
            _ms(served_rtt), _ms((m.get("best_single_region") or {}).get("rtt_ms")),
            _ms(m.get("saving_ms")), p["status"] if not p["error"] else f"{p['status']}: "
            f"{p['error']}",
        ])  # fmt: skip
    title = f"{len(probes)} cities, {document['via']} probes, sorted by serving region"
    return [UI.table(title, columns, rows)]


def _city_label(p: dict[str, Any]) -> str:
    city = p["city"]
    return "this machine" if city is None else f"{city['name']}, {city['country']}"


def _city_table(p: dict[str, Any], ttfb: bool) -> Table:
    m = p["modelled"] or {}
    measured = p["measured"]
    rows: list[list[Any]] = [
        ["served from", p["served_from_region"] or "-"],
        ["the service saw", p["user_detected_location"] or "-"],
        ["answer", (p["ai_response"] or "-")[:300]],
        ["measured total", f"{_ms(measured['total_ms'])} ms (median of {measured['ok']} "
                           f"of {measured['requests']} requests)"],
    ]  # fmt: skip
    if ttfb:
        rows.append(["measured time to first byte", f"{_ms(measured['ttfb_ms'])} ms"])
    if p.get("vm"):
        rows.append(["probe VM", f"{p['vm']['name']} in {p['vm']['zone']} (deleted)"])
    for region, rtt in sorted((m.get("rtt_ms_by_region") or {}).items(), key=lambda kv: kv[1]):
        mark = " (nearest)" if region == m.get("nearest_deployed_region") else ""
        rows.append([f"modelled RTT to {region}{mark}", f"{rtt:.1f} ms"])
    single = m.get("best_single_region")
    if single:
        rows.append([f"modelled RTT to best single region ({single['region']})",
                     f"{single['rtt_ms']:.1f} ms"])  # fmt: skip
        rows.append(["modelled saving vs best single region", f"{m['saving_ms']:.1f} ms"])
    rows.append(["status", p["status"] + (f": {p['error']}" if p["error"] else "")])
    title = f"Probe from {_city_label(p)} ({p['via']})"
    return UI.table(title, ["", ""], rows)
