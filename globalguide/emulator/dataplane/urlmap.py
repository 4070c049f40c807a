"""Which backend service (or redirect) a URL map picks for a request, and its header actions.

Modelled: ``defaultService``, ``defaultUrlRedirect``, ``headerAction``; ``hostRules`` (exact
hosts, ``*`` and ``*.suffix``); path matchers with ``pathRules`` (exact paths and ``/*``
prefixes, longest wins), ``routeRules`` in priority order matched by ``prefixMatch``,
``fullPathMatch`` or ``regexMatch``, and ``defaultService``/``defaultUrlRedirect``;
``weightedBackendServices`` picked by weight. Route rules that also match on headers or
query parameters are not modelled and never match. Header actions apply route rule first,
then path matcher, then URL map, each later one on top of the earlier (compute_v1
UrlMap.headerAction and PathMatcher.headerAction docstrings).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

REDIRECT_CODES = {
    "MOVED_PERMANENTLY_DEFAULT": 301,
    "FOUND": 302,
    "SEE_OTHER": 303,
    "TEMPORARY_REDIRECT": 307,
    "PERMANENT_REDIRECT": 308,
}


@dataclass(frozen=True)
class Route:
    """The URL map's decision: a backend service link or a redirect, plus header actions."""

    service: str | None = None
    redirect: dict[str, Any] | None = None
    header_actions: list[dict[str, Any]] = field(default_factory=list)
    matched_prefix: str = ""


def resolve(url_map: dict[str, Any], host: str, path: str, rng: random.Random) -> Route | None:
    """The route for ``host`` and ``path``; None when the URL map sends the request nowhere."""
    outer = [url_map["headerAction"]] if url_map.get("headerAction") else []
    matcher = _path_matcher(url_map, host)
    if matcher is not None:
        route = _in_matcher(matcher, path, rng)
        if route is not None:
            inner = [matcher["headerAction"]] if matcher.get("headerAction") else []
            return Route(
                route.service,
                route.redirect,
                [*route.header_actions, *inner, *outer],
                route.matched_prefix,
            )
    default = _default(url_map, rng)
    if default is None:
        return None
    return Route(default.service, default.redirect, [*default.header_actions, *outer])


def _path_matcher(url_map: dict[str, Any], host: str) -> dict[str, Any] | None:
    host = host.lower()
    wanted = None
    best = -1
    for rule in url_map.get("hostRules") or []:
        for pattern in rule.get("hosts") or []:
            score = _host_score(pattern.lower(), host)
            if score > best:
                best, wanted = score, rule.get("pathMatcher")
    if wanted is None:
        return None
    for matcher in url_map.get("pathMatchers") or []:
        if matcher.get("name") == wanted:
            return matcher
    return None


def _host_score(pattern: str, host: str) -> int:
    """How specifically ``pattern`` matches ``host`` (-1: no match)."""
    if pattern == host:
        return 1_000 + len(pattern)
    if pattern == "*":
        return 0
    if pattern.startswith("*") and host.endswith(pattern[1:]):
        return len(pattern)
    return -1


def _in_matcher(matcher: dict[str, Any], path: str, rng: random.Random) -> Route | None:
    rules = sorted(matcher.get("routeRules") or [], key=lambda r: int(r.get("priority", 0)))
    for rule in rules:
        prefix = _route_rule_match(rule, path)
        if prefix is None:
            continue
        target = _target(rule.get("service"), rule.get("urlRedirect"), rule.get("routeAction"), rng)
        if target is not None:
            actions = [rule["headerAction"]] if rule.get("headerAction") else []
            return Route(
                target.service, target.redirect, [*target.header_actions, *actions], prefix
            )
    best: tuple[int, dict[str, Any], str] | None = None
    for rule in matcher.get("pathRules") or []:
        for pattern in rule.get("paths") or []:
            prefix = _path_rule_match(pattern, path)
            if prefix is not None and (best is None or len(pattern) > best[0]):
                best = (len(pattern), rule, prefix)
    if best is not None:
        _, rule, prefix = best
        target = _target(rule.get("service"), rule.get("urlRedirect"), rule.get("routeAction"), rng)
        if target is not None:
            return Route(target.service, target.redirect, target.header_actions, prefix)
    return _target(
        matcher.get("defaultService"),
        matcher.get("defaultUrlRedirect"),
        matcher.get("defaultRouteAction"),
        rng,
    )


def _route_rule_match(rule: dict[str, Any], path: str) -> str | None:
    """The matched prefix ("" for a full match) if any match rule of ``rule`` matches."""
    for match in rule.get("matchRules") or [{}]:
        if match.get("headerMatches") or match.get("queryParameterMatches"):
            continue
        if "prefixMatch" in match and path.startswith(match["prefixMatch"]):
            return match["prefixMatch"]
        if "fullPathMatch" in match and path == match["fullPathMatch"]:
            return ""
        if "regexMatch" in match and re.fullmatch(match["regexMatch"], path):
            return ""
        if not {"prefixMatch", "fullPathMatch", "regexMatch"} & match.keys():
            return ""
    return None


def _path_rule_match(pattern: str, path: str) -> str | None:
    if pattern.endswith("/*"):
        prefix = pattern[:-1]
        if path.startswith(prefix) or path == prefix[:-1]:
            return prefix
        return None
    return pattern if path == pattern else None


def _default(url_map: dict[str, Any], rng: random.Random) -> Route | None:
    return _target(
        url_map.get("defaultService"),
        url_map.get("defaultUrlRedirect"),
        url_map.get("defaultRouteAction"),
        rng,
    )


def _target(
    service: str | None,
    redirect: dict[str, Any] | None,
    route_action: dict[str, Any] | None,
    rng: random.Random,
) -> Route | None:
    if redirect:
        return Route(redirect=redirect)
    if service:
        return Route(service=service)
    weighted = (route_action or {}).get("weightedBackendServices") or []
    choices = [w for w in weighted if int(w.get("weight", 0)) > 0 and w.get("backendService")]
    if choices:
        pick = rng.choices(choices, weights=[int(w["weight"]) for w in choices])[0]
        actions = [pick["headerAction"]] if pick.get("headerAction") else []
        return Route(service=pick["backendService"], header_actions=actions)
    return None


def redirect_target(
    redirect: dict[str, Any], *, scheme: str, host: str, path: str, query: str, prefix: str
) -> tuple[int, str]:
    """(status, Location) for an HttpRedirectAction applied to the request."""
    status = REDIRECT_CODES.get(redirect.get("redirectResponseCode") or "", 301)
    if redirect.get("httpsRedirect"):
        scheme = "https"
    host = redirect.get("hostRedirect") or host
    if redirect.get("pathRedirect"):
        path = redirect["pathRedirect"]
    elif redirect.get("prefixRedirect") and prefix:
        path = redirect["prefixRedirect"] + path[len(prefix) :]
    location = f"{scheme}://{host}{path}"
    if query and not redirect.get("stripQuery"):
        location += f"?{query}"
    return status, location
