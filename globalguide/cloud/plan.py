"""The desired graph from a DeploySpec, diffed against what exists. Reads only.

A plan is a list of steps, each a resource and an action (create, update, repair,
unchanged, delete). ``repair`` is a resource that exists but is not healthy (a Cloud Run
service whose Ready condition is False): the step carries the reason. Steps carry the keys
of the steps they wait for, so the executor can run everything else at the same time.
Teardown is the same machinery with nothing desired: every resource named for the
deployment, wherever it is, becomes a delete. The planner reads what exists through a
``RemoteState`` (cloud/remote_state.py) it is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from globalguide.cloud.clients import CloudClients
from globalguide.cloud.names import Names
from globalguide.cloud.remote_state import CloudState, RemoteState
from globalguide.cloud.resources import (
    BackendService,
    BucketGrant,
    BuildAccount,
    BuildBucket,
    EnabledApis,
    FormerBuildRoles,
    ForwardingRule,
    GlobalAddress,
    Image,
    ManagedCertificate,
    RedirectUrlMap,
    Repository,
    RepositoryPushGrant,
    Resource,
    RunService,
    RuntimeAccount,
    RuntimeRoles,
    ServerlessNeg,
    ServiceSettings,
    TargetHttpProxy,
    TargetHttpsProxy,
    UrlMap,
)
from globalguide.gemini_catalog import vertex_location
from globalguide.spec import DeploySpec

CREATE, UPDATE, UNCHANGED, DELETE, ABSENT = "create", "update", "unchanged", "delete", "absent"
REPAIR = "repair"
PAST_TENSE = {
    CREATE: "created",
    UPDATE: "updated",
    REPAIR: "repaired",
    UNCHANGED: "unchanged",
    DELETE: "deleted",
}
_BUILD_IDENTITY = (BuildAccount, BucketGrant, RepositoryPushGrant)


@dataclass
class Step:
    resource: Resource
    action: str
    current: Any = None
    waits_for: list[str] = field(default_factory=list)
    reason: str | None = None  # why a repair is needed

    @property
    def key(self) -> str:
        return self.resource.key

    @property
    def changes(self) -> bool:
        return self.action in (CREATE, UPDATE, REPAIR, DELETE)


@dataclass
class Plan:
    spec: DeploySpec
    steps: list[Step]
    image: Image | None = None
    vertex_locations: dict[str, str] = field(default_factory=dict)

    @property
    def changes(self) -> list[Step]:
        return [s for s in self.steps if s.changes]

    def step(self, key: str) -> Step:
        return next(s for s in self.steps if s.key == key)

    def rows(self, *, done: bool = False) -> list[dict[str, Any]]:
        rows = []
        for s in self.steps:
            if s.action == ABSENT:
                continue
            action = PAST_TENSE.get(s.action, s.action) if done else s.action
            row = s.resource.row(action)
            if s.reason:
                row["reason"] = s.reason
            rows.append(row)
        return rows


def repo_region(spec: DeploySpec) -> str:
    """Artifact Registry lives beside the first region; every region pulls from it."""
    return spec.regions[0]


def desired_resources(spec: DeploySpec, context: Any) -> tuple[list[Resource], Image | None]:
    """Every resource ``spec`` asks for, with the keys each one references. With ``--image``
    (``context`` None) nothing is built: no image, bucket or build identity."""
    return resource_graph(spec, context, https=spec.domain is not None)


def resource_graph(
    spec: DeploySpec, context: Any, *, https: bool
) -> tuple[list[Resource], Image | None]:
    """The deployment's resources in ``spec``'s regions, with the HTTPS front (``https``) or
    without it. With ``https`` and no ``spec.domain``, the front is the one to look for and
    delete, whatever domain its certificate was made for."""
    names = Names(spec.name, spec.project)
    apis = EnabledApis(names)
    repo = Repository(names, names.repository, repo_region(spec))
    bucket = BuildBucket(names, names.bucket, None)
    image = None if context is None else Image(names, repo_region(spec), context)
    address = GlobalAddress(names, names.address)
    account = RuntimeAccount(names)
    roles = RuntimeRoles(names)
    builder = BuildAccount(names)
    build_grants = [BucketGrant(names), RepositoryPushGrant(names, repo_region(spec))]
    resources: list[Resource] = [apis, address, account, roles]
    for r in (repo, bucket, address, account, builder):
        r.depends_on = [apis.key]
    roles.depends_on = [account.key]
    build_grants[0].depends_on = [builder.key, bucket.key]
    build_grants[1].depends_on = [builder.key, repo.key]
    if image is not None:
        resources += [repo, bucket, image, builder, *build_grants]
        image.depends_on = [repo.key, bucket.key, builder.key, *(g.key for g in build_grants)]

    negs = []
    for region in spec.regions:
        settings = ServiceSettings(
            image=image.uri if image is not None else str(spec.image),
            model=spec.model,
            vertex_location=vertex_location(spec.model, region),
            min_instances=spec.min_instances,
            max_instances=spec.max_instances,
            concurrency=spec.concurrency,
            env_extra=dict(spec.env),
            port=spec.port,
            cpu=spec.cpu,
            memory=spec.memory,
        )
        service = RunService(names, region, settings)
        service.depends_on = [account.key, roles.key, *([image.key] if image else [])]
        neg = ServerlessNeg(names, names.neg, region)
        neg.depends_on = [apis.key]
        negs.append(neg)
        resources += [service, neg]

    backend = BackendService(names, spec.regions)
    backend.depends_on = [n.key for n in negs]
    url_map = UrlMap(names, names.url_map)
    url_map.depends_on = [backend.key]
    resources += [backend, url_map]

    if https:
        redirect = RedirectUrlMap(names, names.redirect_url_map)
        redirect.depends_on = [apis.key]
        http_proxy = TargetHttpProxy(names, names.redirect_url_map)
        http_proxy.depends_on = [redirect.key]
        cert = ManagedCertificate(names, spec.domain)
        cert.depends_on = [apis.key]
        https_proxy = TargetHttpsProxy(names, names.https_proxy)
        https_proxy.depends_on = [url_map.key, cert.key]
        https_rule = ForwardingRule(
            names,
            names.https_rule,
            "443",
            names.global_link("targetHttpsProxies", names.https_proxy),
        )
        https_rule.depends_on = [https_proxy.key, address.key]
        resources += [redirect, cert, https_proxy, https_rule]
    else:
        http_proxy = TargetHttpProxy(names, names.url_map)
        http_proxy.depends_on = [url_map.key]
    http_rule = ForwardingRule(
        names, names.http_rule, "80", names.global_link("targetHttpProxies", names.http_proxy)
    )
    http_rule.depends_on = [http_proxy.key, address.key]
    resources += [http_proxy, http_rule]
    return resources, image


def every_possible_resource(
    spec: DeploySpec, context: Any, regions: set[str], repo_regions: set[str] = frozenset()
) -> list[Resource]:
    """The deployment's resources in ``regions`` (repositories in ``repo_regions`` too), with
    the HTTPS front whether or not --domain is given: what a teardown or a sweep must look
    for."""
    first = repo_region(spec)
    ordered = (first, *sorted(set(regions) - {first}))
    # The build resources too: an earlier deploy may have built what this one would not.
    everywhere = replace(spec, regions=ordered, image=None)
    if context is None:
        from globalguide.cloud.source import service_context

        context = service_context()
    resources, _ = resource_graph(everywhere, context, https=True)
    names = Names(spec.name, spec.project)
    former = FormerBuildRoles(names)  # removed before the account it names
    former.depends_on = [BuildAccount(names).key]
    resources.append(former)
    known = {r.region for r in resources if r.kind == "repository"}
    for region in sorted(set(repo_regions) - known):
        extra = Repository(names, names.repository, region)
        extra.depends_on = [EnabledApis(names).key]
        resources.append(extra)
    return resources


def _link_waits(steps: list[Step]) -> None:
    """Creates and updates wait for what they reference. A delete waits for every change to
    a kind of higher rank (one that may reference it: a resource in use cannot be deleted),
    so teardown runs level by level, each level at once."""
    by_key = {s.key: s for s in steps}
    for step in steps:
        r = step.resource
        if step.action in (CREATE, UPDATE, REPAIR):
            step.waits_for = [k for k in r.depends_on if k in by_key and by_key[k].changes]
        elif step.action == DELETE:
            step.waits_for = [
                s.key
                for s in steps
                if s.changes
                and s.key != step.key
                and (r.key in s.resource.depends_on or s.resource.rank > r.rank)
            ]


def _serve_before_routing(steps: list[Step]) -> None:
    """A backend service that already takes traffic gets a new region's NEG only once that
    region's Cloud Run service is Ready: before, requests near it would find no healthy
    upstream. (A new backend service takes no traffic yet, so it need not wait.)"""
    backend = next((s for s in steps if s.resource.kind == "backend-service"), None)
    if backend is None or backend.action != UPDATE:
        return
    services = [s.key for s in steps if s.resource.kind == "run-service" and s.action != DELETE]
    backend.resource.depends_on = [*backend.resource.depends_on, *services]


class Planner:
    """Plans from what ``remote`` says exists; it changes nothing."""

    def __init__(self, remote: RemoteState) -> None:
        self.remote = remote

    def deploy(self, spec: DeploySpec, context: Any) -> Plan:
        resources, image = desired_resources(spec, context)
        wanted = {r.key for r in resources}
        stale_regions = self.remote.find(spec).regions - set(spec.regions)
        candidates = every_possible_resource(spec, context, set(spec.regions) | stale_regions)
        # Resources of the deployment that are no longer wanted: other regions, or the HTTPS
        # part after --domain was dropped. Teardown removes the rest.
        # Images stay, and with --image after a build, the build's identity too.
        obsolete = [
            r
            for r in candidates
            if r.key not in wanted
            and r.deletable
            and r.kind not in ("image", "repository", "bucket")
            and not isinstance(r, _BUILD_IDENTITY)
        ]
        current = self.remote.read(resources + obsolete)
        steps = []
        for r in resources:
            now = current[r.key]
            reason = r.problem(now) if now is not None else None
            if now is None:
                action = CREATE
            elif reason:
                action = REPAIR
            else:
                action = UNCHANGED if r.same(now) else UPDATE
            steps.append(Step(r, action, now, reason=reason))
        for r in obsolete:
            if current[r.key] is not None:
                steps.append(Step(r, DELETE, current[r.key]))
        _serve_before_routing(steps)
        _link_waits(steps)
        locations = {region: vertex_location(spec.model, region) for region in spec.regions}
        return Plan(spec, steps, image, locations)

    def teardown(self, spec: DeploySpec, context: Any, *, keep_images: bool) -> Plan:
        found = self.remote.find(spec)
        candidates = [
            r
            for r in every_possible_resource(
                spec, context, found.regions | set(spec.regions), found.repositories
            )
            if r.deletable
        ]
        if keep_images:
            candidates = [r for r in candidates if r.kind not in ("image", "repository")]
        else:
            # Every image of the deployment goes with its repository, whatever its tag.
            candidates = [r for r in candidates if r.kind != "image"]
        current = self.remote.read(candidates)
        steps = [
            Step(r, DELETE if r.present(current[r.key]) else ABSENT, current[r.key])
            for r in candidates
        ]
        _link_waits(steps)
        return Plan(spec, steps)

    def status(self, spec: DeploySpec, context: Any) -> Plan:
        """What exists of the deployment, for `status`: every possible resource, read."""
        found = self.remote.find(spec)
        candidates = [
            r
            for r in every_possible_resource(
                spec, context, found.regions | set(spec.regions), found.repositories
            )
            if r.kind != "image"
        ]
        current = self.remote.read(candidates)
        steps = [
            Step(r, UNCHANGED if r.present(current[r.key]) else ABSENT, current[r.key])
            for r in candidates
        ]
        return Plan(spec, steps)


def plan_deploy(spec: DeploySpec, clients: CloudClients, context: Any) -> Plan:
    return Planner(CloudState(clients)).deploy(spec, context)


def plan_teardown(
    spec: DeploySpec, clients: CloudClients, context: Any, *, keep_images: bool
) -> Plan:
    return Planner(CloudState(clients)).teardown(spec, context, keep_images=keep_images)


def plan_status(spec: DeploySpec, clients: CloudClients, context: Any) -> Plan:
    return Planner(CloudState(clients)).status(spec, context)
