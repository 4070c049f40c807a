"""The globalguide command line: parse, call, render. No cloud calls here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from globalguide import __version__
from globalguide.emulator import options as emulator_options
from globalguide.errors import (
    EXIT_FAILURE,
    EXIT_USAGE,
    CloudError,
    GlobalGuideError,
    UsageError,
)
from globalguide.ui import UI

HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}
SETTINGS_HELP = (
    "Settings: flags win over GLOBALGUIDE_* environment variables, which win over "
    "globalguide.toml in the current directory (a [deploy] table with project, name, "
    "regions, model, min_instances, max_instances, concurrency, domain), which wins over "
    "the defaults."
)
app = typer.Typer(
    name="globalguide",
    help="Put the Local Guide on every continent behind one anycast IP, and prove from any "
    "city that the nearest region answers.",
    epilog=SETTINGS_HELP,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings=HELP_OPTIONS,
)
emulator_app = typer.Typer(
    help="The local twin of Google Cloud that --local targets.",
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings=HELP_OPTIONS,
)
app.add_typer(emulator_app, name="emulator")
regions_app = typer.Typer(
    help="Cloud Run regions: where they are, and where to deploy.",
    invoke_without_command=True,
    rich_markup_mode=None,
    context_settings=HELP_OPTIONS,
)
app.add_typer(regions_app, name="regions")

_state = {"debug": False}
EMULATOR_DEFAULTS = emulator_options.DEFAULTS

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


def _bounded(low: float, high: float, metavar: str, help_text: str):
    """An option whose value must lie in [low, high]."""
    return typer.Option(min=low, max=high, metavar=metavar, help=help_text)


@emulator_app.command("start")
def emulator_start(
    port: Annotated[
        int, _bounded(0, emulator_options.MAX_PORT, "PORT", "Loopback port (0: any free).")
    ] = EMULATOR_DEFAULTS.port,
    profile: Annotated[
        str,
        typer.Option(
            metavar="PROFILE", help="Operation timing: instant, or realistic (real medians)."
        ),
    ] = EMULATOR_DEFAULTS.profile,
    time_scale: Annotated[
        float,
        _bounded(
            0.0, emulator_options.MAX_TIME_SCALE, "FACTOR", "Multiply realistic durations by this."
        ),
    ] = EMULATOR_DEFAULTS.time_scale,
    fault_rate: Annotated[
        float,
        _bounded(
            0.0,
            emulator_options.MAX_FAULT_RATE,
            "FRACTION",
            "Fraction of mutating calls that fail.",
        ),
    ] = EMULATOR_DEFAULTS.fault_rate,
    fault_seed: Annotated[
        int, typer.Option(metavar="SEED", help="Seed: same seed, same faults.")
    ] = EMULATOR_DEFAULTS.fault_seed,
    latency: Annotated[
        str, typer.Option(metavar="MODE", help="model: add modelled network delays; off: none.")
    ] = EMULATOR_DEFAULTS.latency,
    client_city: Annotated[
        str,
        typer.Option(
            metavar="CITY", help="Where requests without an emulator location header come from."
        ),
    ] = EMULATOR_DEFAULTS.client_city,
    foreground: Annotated[
        bool, typer.Option("--foreground", help="Run in this terminal until Ctrl-C.")
    ] = False,
    restart: Annotated[
        bool,
        typer.Option("--restart", help="Stop a running emulator first, then start this one."),
    ] = False,
    json_output: JsonOption = False,
    ctx: typer.Context = None,  # type: ignore[assignment]  # Typer fills it in
) -> None:
    """Start the emulator in the background on loopback; returns once it answers."""
    from globalguide import emulator_control

    ui = UI(json_output=json_output, debug=_state["debug"])
    options = emulator_options.EmulatorConfig(
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
    given = {
        name for name in emulator_options.OPTION_NAMES
        if getattr(ctx.get_parameter_source(name), "name", None) == "COMMANDLINE"
    }  # fmt: skip
    running, already = emulator_control.start(options, given=given, restart=restart)
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
    str | None,
    typer.Option("--name", metavar="NAME", help="Deployment name (default local-guide)."),
]
ProjectOption = Annotated[
    str | None,
    typer.Option(
        "--project",
        metavar="PROJECT",
        help="Google Cloud project (else GOOGLE_CLOUD_PROJECT, then gcloud).",
    ),
]
LocalOption = Annotated[
    bool, typer.Option("--local", help="Target the emulator (started if it is not running).")
]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before changing.")]


def _connect(flags: dict, *, local: bool, start: bool):
    """(spec, clients): settings checked first, then the target, before any cloud call.
    With --local, no emulator running and ``start`` False, clients is None: there is no
    local deployment, and the command says so as it would with an empty emulator."""
    from dataclasses import replace

    from globalguide.cloud.clients import CloudClients, google_cloud_credentials
    from globalguide.spec import build_spec, project_on_emulator
    from globalguide.target import NoEmulator, resolve_emulator

    # Bad input fails here, before the emulator starts or any cloud call is made.
    served = flags.get("project") or emulator_options.DEFAULT_PROJECT
    spec = build_spec(flags, local=local, local_project=served)
    try:
        emulated = resolve_emulator(local, start=start)
    except NoEmulator:
        return spec, None
    if emulated is None:
        return spec, CloudClients(spec.project, credentials=google_cloud_credentials())
    project = project_on_emulator(flags.get("project"), emulated.project)
    spec = replace(spec, local=True, project=project).validated()
    return spec, CloudClients(spec.project, endpoint=emulated.endpoint, token=emulated.token)


def _confirm(ui: UI, question: str, yes: bool) -> None:
    """Ask before changing. "n" leaves with exit 1 and "Nothing changed.", as Terraform
    ("Apply cancelled.") and gcloud ("Aborted by user.") both exit 1 on a refused prompt."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"{question} Refusing to ask without a terminal: pass --yes.")
    if not typer.confirm(question, default=False, err=True):
        if ui.json_output:
            ui.error("Nothing changed.", exit_code=EXIT_FAILURE)
        else:
            ui.info("Nothing changed.")
        raise typer.Exit(EXIT_FAILURE)


def _interruptible(ui: UI, progress, next_step: str):
    """A context in which Ctrl-C says at once what is being waited for, then exits 130
    with what to run next; a second Ctrl-C leaves at once."""
    import contextlib
    import os
    import signal

    def on_sigint(signum, frame) -> None:
        signal.signal(signal.SIGINT, lambda *_: os._exit(130))
        progress.stop()
        waiting = progress.running()
        if waiting:
            shown = ", ".join(waiting[:3]) + (f" and {len(waiting) - 3} more" if len(waiting) > 3
                                              else "")  # fmt: skip
            ui.err.print(
                f"Interrupted: no new step starts; waiting for {shown} to finish the call in "
                "progress (Ctrl-C again to leave now).", soft_wrap=False, markup=False,
            )  # fmt: skip
        else:
            ui.err.print("Interrupted.", markup=False)
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def guard():
        previous = signal.signal(signal.SIGINT, on_sigint)
        try:
            yield
        except KeyboardInterrupt:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            ui.error("Interrupted; nothing more was started.", hint=next_step, exit_code=130)
            raise typer.Exit(130) from None
        finally:
            if signal.getsignal(signal.SIGINT) is on_sigint:
                signal.signal(signal.SIGINT, previous)

    return guard()


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
            metavar="REGIONS",
            help="Comma-separated Cloud Run regions "
            "(default us-central1,europe-west1,asia-northeast1), or suggest:K for the best K.",
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option(metavar="MODEL", help="Gemini model on Vertex AI.")
    ] = None,
    min_instances: Annotated[
        int | None, typer.Option(metavar="N", help="Minimum instances per region.")
    ] = None,
    max_instances: Annotated[
        int | None, typer.Option(metavar="N", help="Maximum instances per region.")
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option(metavar="N", help="Requests per instance.")
    ] = None,
    weights: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="With --regions suggest:K: the demand CSV, as in regions suggest."
        ),
    ] = None,
    domain: Annotated[
        str | None,
        typer.Option(metavar="DOMAIN", help="Serve HTTPS on this domain (managed certificate)."),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(metavar="DIR", help="Build and deploy your own service from this directory."),
    ] = None,
    image: Annotated[
        str | None,
        typer.Option(metavar="IMAGE", help="Deploy this prebuilt image; nothing is built."),
    ] = None,
    env: Annotated[
        list[str] | None,
        typer.Option(metavar="KEY=VALUE", help="KEY=VALUE for the container (repeatable)."),
    ] = None,
    port: Annotated[
        int | None, typer.Option(metavar="N", help="The port the container listens on.")
    ] = None,
    cpu: Annotated[
        str | None, typer.Option(metavar="CPU", help="CPUs per instance (1, 2, 4 or 0.5).")
    ] = None,
    memory: Annotated[
        str | None, typer.Option(metavar="SIZE", help="Memory per instance (512Mi, 2Gi).")
    ] = None,
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
    plan_out: Annotated[
        Path | None,
        typer.Option(
            "--plan-out",
            metavar="FILE",
            help="Save the plan to FILE (JSON) to review, then apply exactly it with --plan FILE.",
        ),
    ] = None,
    plan_file: Annotated[
        Path | None,
        typer.Option(
            "--plan",
            metavar="FILE",
            help="Apply exactly the plan saved in FILE; refused if what exists changed since.",
        ),
    ] = None,
    yes: YesOption = False,
    json_output: JsonOption = False,
) -> None:
    """Deploy the Local Guide to every region behind one global load balancer."""
    from globalguide.cloud import deployment, plan_view
    from globalguide.ui import StepProgress, plan_text, plural, resource_table

    ui = UI(json_output=json_output, debug=_state["debug"])
    flags = {
        "project": project, "name": name, "regions": regions, "model": model,
        "min_instances": min_instances, "max_instances": max_instances,
        "concurrency": concurrency, "domain": domain, "weights": weights, "source": source,
        "image": image, "env": env, "port": port, "cpu": cpu, "memory": memory,
    }  # fmt: skip
    saved = None
    if plan_file is not None:
        if any(v is not None for k, v in flags.items() if k != "project") or plan_out:
            raise UsageError(
                "--plan applies a saved plan as it is: leave out the settings and --plan-out.",
                hint="To change a setting, save a new plan with --dry-run --plan-out FILE.",
            )
        saved = plan_view.load_plan(plan_file)
        local = local or saved.get("target") == "emulator"
        flags = plan_view.spec_flags(saved)
        if local:
            flags["project"] = None
    if plan_out is not None:
        plan_view.check_plan_path(plan_out)
    spec, clients = _connect(flags, local=local, start=True)
    target = clients.target.display_name
    ui.info(f"Planning {spec.name} in {', '.join(spec.regions)} on {target}...")
    choice = {}
    if spec.region_choice is not None:
        ui.info(f"Regions: {spec.region_choice.reason()}")
        choice = {"region_choice": spec.region_choice.to_dict()}
    plan = deployment.make_plan(spec, clients)
    rows = plan_view.rows_with_changes(plan)
    numbers = plan_view.counts(plan)
    cost = plan_view.plan_estimate(plan)
    if saved is not None:
        problems = plan_view.differences(saved, plan, clients.target.plan_key)
        if problems:
            raise plan_view.refuse_changed(plan_file, problems)
    if plan_out is not None:
        plan_view.save_plan(plan_out, plan, clients.target.plan_key)
        ui.info(f"Plan saved to {plan_out}. Apply it with `globalguide deploy --plan {plan_out}`.")
    generated = plan.image.context.generated_dockerfile if plan.image else None
    if dry_run:
        document = {**deployment.document_header(spec, clients), **choice, "dry_run": True,
                    "resources": rows, "summary": numbers, "cost": cost,
                    "plan_file": str(plan_out) if plan_out else None}  # fmt: skip
        if generated:
            document["generated_dockerfile"] = generated
            if not json_output:
                ui.out.print(f"Generated Dockerfile for {spec.source}:", markup=False)
                ui.out.print(generated, markup=False, highlight=False)
        ui.result(
            document, plan_text(f"Plan for {spec.name} (dry run: nothing changed)", rows, cost)
        )
        return
    if plan.changes:
        if not json_output:
            ui.err.print(plan_text(f"Plan for {spec.name}", rows, cost))
        if saved is None:  # a saved plan was reviewed when it was saved
            _confirm(ui, f"Apply {plural(len(plan.changes), 'change')} to {target}?", yes)
    again = clients.target.local_flag
    next_step = (
        f"Run `globalguide deploy{again}` again to finish (it continues from what exists), "
        f"or `globalguide teardown{again}` to remove it."
    )
    from globalguide.cloud.serving import RegionsNotServing

    try:
        with (
            StepProgress(ui, f"Deploying {spec.name}") as progress,
            _interruptible(ui, progress, next_step),
        ):
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
    document = {**document, **choice, "summary": numbers, "cost": cost}
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
            ui.say(
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
    """Every resource of the deployment, the URLs, whether each region answers, and what it
    costs a month."""
    from globalguide.cloud import deployment
    from globalguide.prices import estimate_line
    from globalguide.ui import plural

    ui = UI(json_output=json_output, debug=_state["debug"])
    spec, clients = _connect({"project": project, "name": name}, local=local, start=False)
    if clients is None:
        document = {"name": spec.name, "target": "emulator", "project": spec.project,
                    "url": None, "regions": [], "resources": [], "deployed": False,
                    "missing": [], "emulator_running": False}  # fmt: skip
    else:
        document = deployment.status(spec, clients)
    where = "the emulator" if local else spec.project
    again = "globalguide deploy" + (" --local" if local else "")
    if document["missing"]:
        document["complete"] = False
        document["next"] = again
    else:
        document["complete"] = bool(document["deployed"])
    if json_output:
        ui.result(document)
        return
    if not document["deployed"]:
        ui.say(f"Nothing of {spec.name} is deployed in {where}.")
        return
    # The service URLs are in the Regions table; one state item per line keeps each whole.
    rows = [[r["kind"], r["name"], r.get("region") or "global",
             "\n".join(f"{k}={v}" for k, v in r.items()
                        if k not in ("kind", "name", "region", "action", "uri")
                        and v not in (None, ""))]
            for r in document["resources"]]  # fmt: skip
    ui.out.print(
        UI.table(
            f"{spec.name} in {where}",
            ["resource", "name", "region", "state"],
            rows,
            keep=("region", "resource"),
        )  # fmt: skip
    )
    region_rows = [[r["region"], r.get("ready"),
                    {True: "yes", False: "no", None: "not checked"}[r.get("answers")],
                    _region_state(r)]
                   for r in document["regions"]]  # fmt: skip
    ui.out.print(
        UI.table(
            "Regions",
            ["region", "ready", "answers from itself", "state"],
            region_rows,
            keep=("region", "state"),
        )  # fmt: skip
    )
    ui.say(f"Load balancer: {document['url'] or 'not serving yet'}")
    if document["missing"]:
        ui.say(
            f"The deployment is incomplete: {plural(len(document['missing']), 'resource')} "
            f"missing ({', '.join(document['missing'][:4])}"
            f"{', ...' if len(document['missing']) > 4 else ''}). Run `{again}` to finish it."
        )
    if document.get("cost"):
        ui.say(estimate_line(document["cost"]))


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
    target = clients.target.display_name
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
    from globalguide.ui import StepProgress, plural, resource_table

    ui = UI(json_output=json_output, debug=_state["debug"])
    spec, clients = _connect({"project": project, "name": name}, local=local, start=False)
    where = "the emulator" if local else spec.project
    if clients is None:
        ui.result({"name": spec.name, "target": "emulator", "resources": [], "left": 0},
                  None)  # fmt: skip
        ui.say(f"Nothing of {spec.name} to remove in {where}: the emulator is not running.")
        return
    plan = deployment.make_teardown_plan(spec, clients, keep_images=keep_images)
    if not plan.changes:
        ui.result({**deployment.document_header(spec, clients), "resources": [], "left": 0})
        ui.say(f"Nothing of {spec.name} to remove in {where}.")
        return
    ui.err.print(resource_table(f"Teardown of {spec.name}", plan.rows()))
    _confirm(ui, f"Delete {plural(len(plan.changes), 'resource')}?", yes)
    next_step = f"Run `globalguide teardown{' --local' if local else ''}` again to finish."
    with (
        StepProgress(ui, f"Tearing down {spec.name}") as progress,
        _interruptible(ui, progress, next_step),
    ):
        document = deployment.apply_teardown(
            plan, clients, keep_images=keep_images, listener=_listener(progress)
        )
    ui.result(
        document,
        resource_table(
            f"{spec.name}: removed {plural(len(document['resources']), 'resource')}, 0 left",
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
        typer.Option(
            "--as-city",
            metavar="CITY",
            help="Probe as if from this city ('Paris, FR'); repeatable.",
        ),
    ] = None,
    cities_top: Annotated[
        int | None,
        typer.Option(
            min=1, max=100, metavar="N", help="Also probe from the N most populous cities."
        ),
    ] = None,
    via: Annotated[
        str | None,
        typer.Option(
            metavar="edge|vm",
            help="edge: through the emulated load balancer (emulator default); vm: from a "
            "short-lived VM in the city's nearest zone (Google Cloud default).",
        ),
    ] = None,
    count: Annotated[int, typer.Option(min=1, max=20, metavar="N", help="Requests per city.")] = 1,
    stream: Annotated[
        bool, typer.Option("--stream", help="Use /stream and measure time to first byte.")
    ] = False,
    map_file: Annotated[
        Path | None,
        typer.Option(
            "--map",
            metavar="FILE",
            help="Write a world map of the cities by serving region: FILE.html (a page) "
            "or FILE.svg (a standalone picture).",
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Prove from any city which region answers, and how fast (measured vs modelled)."""
    from globalguide import probe as probing
    from globalguide.cloud import deployment

    ui = UI(json_output=json_output, debug=_state["debug"])
    if via not in (None, probing.VIA_EDGE, probing.VIA_VM):
        raise UsageError(f"--via must be edge or vm, not {via[:20]!r}.")
    if map_file is not None:
        from globalguide.probe_map import check_map_path

        check_map_path(map_file)  # before any VM or model call
    cities = probing.resolve_cities(as_city or [], cities_top)
    spec, clients = _connect({"project": project, "name": name}, local=local, start=False)
    if clients is None:
        raise CloudError(
            f"{spec.name} has no load balancer to probe in the emulator.",
            hint="Deploy first: `globalguide deploy --local`.",
        )
    if via == probing.VIA_EDGE and not clients.target.places_clients:
        raise UsageError(
            "--via edge needs the emulator; on Google Cloud use --via vm.",
            hint="Add --local to probe the local deployment.",
        )
    if not cities:
        if via == probing.VIA_VM:
            raise UsageError("--via vm needs --as-city or --cities-top.")
        chosen = probing.VIA_DIRECT
    else:
        chosen = via or (probing.VIA_EDGE if clients.target.places_clients else probing.VIA_VM)
    url = clients.target.load_balancer_url(spec)
    if url is None:
        raise CloudError(
            f"{spec.name} has no load balancer to probe in {spec.project}.",
            hint="Deploy first: `globalguide deploy" + (" --local`." if local else "`."),
        )
    deployed = deployment.deployed_regions(spec, clients)
    where = {"edge": "through the emulated edge", "vm": "from a VM per city",
             "direct": "from this machine"}[chosen]  # fmt: skip
    from globalguide.ui import plural

    ui.info(
        f"Probing {url} {where} ({plural(max(1, len(cities)), 'probe')}, "
        f"{plural(count, 'request')} each)..."
    )

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
        ui.error(f"Interrupted.{cleaned}", exit_code=130)
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
            ui.say(
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
            keep=("region",),
            optional=("lat", "lon"),
        ),  # fmt: skip
    )


@regions_app.command("suggest")
def regions_suggest(
    k: Annotated[
        int, typer.Option("-k", min=1, max=10, metavar="K", help="Up to how many regions.")
    ] = 3,
    cities_top: Annotated[
        int | None,
        typer.Option(
            min=1, max=1000, metavar="N", help="Weigh the N most populous cities (default 100)."
        ),
    ] = None,
    weights: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="CSV of your own demand: city, country or lat/lon, and a weight."
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(metavar="MODEL", help="Only regions serving this Gemini model in-region."),
    ] = None,
    require: Annotated[
        list[str] | None,
        typer.Option("--require", metavar="REGION", help="A region every set must include."),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", metavar="REGION", help="A region no set may include."),
    ] = None,
    project: ProjectOption = None,
    name: NameOption = None,
    local: Annotated[
        bool, typer.Option("--local", help="Compare with the deployment on the emulator.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """For k = 1..K the region set with the lowest weighted modelled RTT (exact), beside the
    tutorial's three and the current deployment's regions."""
    from globalguide import suggest

    ui = UI(json_output=json_output, debug=_state["debug"])
    rules = suggest.constraints(model, tuple(require or ()), tuple(exclude or ()))
    demand = suggest.demand_for(weights, cities_top)
    current = None
    if local or project:
        from globalguide.cloud import deployment

        spec, clients = _connect({"project": project, "name": name}, local=local, start=False)
        found = deployment.status(spec, clients)
        current = [r["region"] for r in found["regions"]] if found["deployed"] else None
    document = suggest.document(demand, rules, suggest.ladder(k, demand, rules), current)
    ui.result(document, _suggest_table(document))


def _suggest_table(document: dict):
    rows = [[f"best {b['k']}", ", ".join(b["regions"]), f"{b['mean_rtt_ms']:.1f}",
             f"{b['p95_rtt_ms']:.1f}", "" if b["gain_ms"] is None else f"{b['gain_ms']:.1f}"]
            for b in document["best"]]  # fmt: skip
    for key, title in (("baseline", "tutorial"), ("current", "current")):
        if key in document:
            row = document[key]
            rows.append([title, ", ".join(row["regions"]), f"{row['mean_rtt_ms']:.1f}",
                         f"{row['p95_rtt_ms']:.1f}", ""])  # fmt: skip
    return UI.table(
        f"Modelled RTT (ms) over {document['demand']['basis']}",
        ["", "regions", "mean", "p95", "gain"],
        rows,
    )


# -------------------------------------------------------------------------- entry


def main() -> None:
    """Run the CLI; errors are rendered once here, tracebacks only with --debug. Under
    --json every error is also a JSON document on stdout."""
    argv = sys.argv[1:]
    debug = "--debug" in argv
    ui = UI(json_output="--json" in argv)
    try:
        code = app(standalone_mode=False)  # returns the code of a typer.Exit
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except GlobalGuideError as exc:
        if debug:
            raise
        ui.error(exc.message, exc.hint, exc.exit_code)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        ui.error("Interrupted.", exit_code=130)
        sys.exit(130)
    except Exception as exc:  # the command-line parser's usage errors, and the unexpected
        if isinstance(exc, _abort_types()):
            ui.error("Aborted.", exit_code=EXIT_USAGE)
            sys.exit(EXIT_USAGE)
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):  # a parser error
            ui.error(exc.format_message(), exit_code=EXIT_USAGE)
            sys.exit(EXIT_USAGE)
        if debug:
            raise
        ui.error(
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
