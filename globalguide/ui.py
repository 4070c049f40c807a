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
from rich.text import Text


class UI:
    def __init__(self, *, json_output: bool = False, debug: bool = False) -> None:
        self.json_output = json_output
        self.debug = debug
        # Long lines wrap at word boundaries at the terminal's width (80 when not a terminal
        # and COLUMNS is unset); --json output bypasses Rich entirely.
        self.out = Console(highlight=False)
        self.err = Console(stderr=True, highlight=False)

    def info(self, text: str) -> None:
        """A progress or status line for people (stderr)."""
        self.err.print(escape(text))

    def result(self, document: Any, human: Any | None = None) -> None:
        """The command's result: the JSON document with --json, else ``human``."""
        if self.json_output:
            sys.stdout.write(json.dumps(document, indent=None, separators=(",", ":")) + "\n")
            sys.stdout.flush()
        elif human is not None:
            self.out.print(human)

    def error(self, message: str, hint: str | None = None, exit_code: int = 1) -> None:
        """An error on stderr, wrapped at word boundaries; under --json also the error
        document on stdout, so a script always has one JSON document to read."""
        if self.json_output:
            document = {"error": {"message": message, "hint": hint, "exit_code": exit_code}}
            sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
            sys.stdout.flush()
        self.err.print(f"[bold red]Error:[/] {escape(message)}", soft_wrap=False)
        if hint:
            self.err.print(f"[dim]{escape(hint)}[/]", soft_wrap=False)

    def say(self, text: str) -> None:
        """A sentence of the result on stdout (not under --json), wrapped at words."""
        if not self.json_output:
            self.out.print(escape(text), soft_wrap=False)

    @staticmethod
    def table(
        title: str | None,
        columns: list[str],
        rows: list[list[Any]],
        *,
        keep: tuple[str, ...] = (),
        optional: tuple[str, ...] = (),
        width: int | None = None,
    ) -> Table:
        """A table that fits ``width`` (the terminal's): cells in ``keep`` columns are never
        cut or wrapped; ``optional`` columns are dropped, first listed first, while the
        table would not fit; other cells wrap at words."""
        width = width or Console().width
        texts = [["" if cell is None else str(cell) for cell in row] for row in rows]
        shown = list(range(len(columns)))

        def needed(index: int) -> int:
            cells = [texts[r][index] for r in range(len(texts))]
            if columns[index] in keep:
                return (
                    max(len(columns[index]), *(len(c) for c in cells))
                    if cells
                    else len(columns[index])
                )
            # A header word (it may be a region name) is never cut; cells fold past 12.
            longest_word = max((len(w) for c in cells for w in c.split()), default=1)
            header_word = max((len(w) for w in columns[index].split()), default=1)
            return max(header_word, min(longest_word, 12))

        def build(shown: list[int]) -> Table:
            table = Table(title=title, title_justify="left", header_style="bold")
            for i in shown:
                if columns[i] in keep:
                    table.add_column(columns[i], no_wrap=True, min_width=needed(i))
                else:
                    table.add_column(columns[i], overflow="fold", min_width=needed(i))
            for row in texts:
                table.add_row(*(escape(row[i]) for i in shown))
            return table

        console = Console(width=width)
        table = build(shown)
        for name in optional:
            if name not in columns:
                continue
            if _fits(console, table):
                break
            shown.remove(columns.index(name))
            table = build(shown)
        return table


def _fits(console: Console, table: Table) -> bool:
    """Whether the table renders whole at the console's width: Rich crops a table whose
    columns cannot shrink enough, so the top border then loses its right corner."""
    lines = console.render_lines(table, console.options, pad=False)
    border = next((line for line in lines if any("┏" in seg.text for seg in line)), None)
    return border is None or "".join(seg.text for seg in border).rstrip().endswith("┓")


def plural(count: int, word: str, many: str | None = None) -> str:
    """ "1 request", "2 requests" (``many`` for irregular plurals)."""
    return f"{count} {word if count == 1 else many or word + 's'}"


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
        # Reentrant: the Ctrl-C handler asks running() on the main thread, which may be
        # inside event() holding the lock when the signal arrives.
        self._lock = threading.RLock()

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
            table.add_column(column, no_wrap=column == "region")
        for row in self.rows.values():
            style = _STATE_STYLE.get(row["state"], "")
            state = row["state"] + (f" ({row['detail']})" if row["detail"] else "")
            finished = row["state"] in ("done", "failed", "skipped")
            table.add_row(
                row["kind"], escape(row["name"]), row["region"], row["action"],
                f"[{style}]{escape(state)}[/]", f"{row['elapsed']:.1f}s" if finished else "",
            )  # fmt: skip
        return table

    def running(self) -> list[str]:
        """ "kind name [region]" of every step in progress."""
        with self._lock:
            return [f"{r['kind']} {r['name']} [{r['region']}]" for r in self.rows.values()
                    if r["state"] in ("running", "retrying")]  # fmt: skip

    def stop(self) -> None:
        """Stop redrawing (before printing an interruption line under the table)."""
        if self._live is not None:
            self._live.stop()
            self._live = None


def resource_table(title: str, rows: list[dict[str, Any]], extra: list[str] | None = None) -> Table:
    columns = ["resource", "name", "region", "action", *(extra or [])]
    body = [
        [r["kind"], r["name"], r.get("region") or "global", r["action"],
         *(r.get(k, "") for k in (extra or []))]
        for r in rows
    ]  # fmt: skip
    return UI.table(title, columns, body, keep=("region",))


def plan_text(title: str, rows: list[dict[str, Any]], cost: dict[str, Any] | None) -> Text:
    """A plan as Terraform prints one: a line per resource with its action, then a line per
    changed field (``~ maxInstanceCount 5 -> 7``), then the counts and the estimate."""
    from globalguide.cloud.plan_view import MARKERS, change_lines, counts_of_rows, summary_line

    action_marker = {"create": MARKERS["add"], "delete": MARKERS["remove"]}
    text = Text(title + "\n", style="bold")
    costs = (cost or {}).get("resources", {})
    for row in rows:
        if row["action"] == "unchanged":
            continue
        key = f"{row['kind']}/{row.get('region') or 'global'}/{row['name']}"
        monthly = costs.get(key, {}).get("monthly_usd")
        price = f"  ${monthly:.2f}/month" if monthly else ""
        marker = action_marker.get(row["action"], MARKERS["change"])
        text.append(f"{marker} {row['kind']} {row['name']} [{row.get('region') or 'global'}]: "
                    f"{row['action']}{price}\n")  # fmt: skip
        for change in row.get("changes", []):
            text.append(f"    {change_lines(change)}\n")
    unchanged = sum(1 for r in rows if r["action"] == "unchanged")
    if unchanged:
        text.append(f"{plural(unchanged, 'resource')} unchanged.\n")
    text.append(summary_line(counts_of_rows(rows)) + "\n", style="bold")
    if cost is not None:
        from globalguide.prices import estimate_line

        text.append(estimate_line(cost) + "\n")
    return text


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
    # At 80 columns the least useful columns go first; the serving region is never cut.
    only = f"modelled RTT ms if only {single or 'one region'}"
    optional = ("saw", "modelled saving ms", only, "modelled RTT ms")
    return [UI.table(title, columns, rows, keep=("served from",), optional=optional)]


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
