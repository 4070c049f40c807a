"""Cloud Resource Manager v3: the project's IAM policy, read-modify-write with an etag.

``getIamPolicy`` returns the policy and its etag. ``setIamPolicy`` replaces the whole
policy; when the policy sent carries an etag that is no longer current (someone changed
the policy since it was read) the answer is 409 ABORTED, as in the cloud, and the caller
must read again. A policy sent without an etag overwrites blindly. Conditional bindings
need version 3, and so does rewriting a policy that holds them (with its etag). A member
naming a service account of this project that does not exist, or was created so recently
that IAM has not propagated it, is 400, as are malformed members, ``allUsers`` (projects do
not take it), roles that do not exist, and more than 1,500 principals (250 groups).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import re
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request

from globalguide.emulator.core.project import project_number
from globalguide.emulator.core.routing import ApiError, Route, bad_request, read_json
from globalguide.emulator.iam_roles import PREDEFINED_ROLES

if TYPE_CHECKING:
    from globalguide.emulator.iam import API as IamAPI

SERVICE = "cloudresourcemanager.googleapis.com"
CONCURRENT = (
    "There were concurrent policy changes. Please retry the whole read-modify-write with "
    "exponential backoff. The request's ETag '{sent}' did not match the current policy's "
    "ETag '{current}'."
)
_MEMBER = re.compile(
    r"((user|serviceAccount|group|domain|principal|principalSet):[^\s,?]+"
    r"|deleted:(user|serviceAccount|group):[^\s,?]+\?uid=[0-9]+)\Z"
)
# Policy.bindings docstring (google/iam/v1/policy.proto): each occurrence counts.
MAX_PRINCIPALS = 1500
MAX_GROUPS = 250
_ROLE = re.compile(r"(roles/[A-Za-z0-9_.]+|(projects|organizations)/[^/]+/roles/[A-Za-z0-9_.]+)\Z")
_OWN_ACCOUNT = re.compile(r"serviceAccount:([^@]+)@([^.]+)\.iam\.gserviceaccount\.com\Z")


class API:
    name = "resourcemanager"
    # The APIs it calls, handed over by the server.
    iam: IamAPI

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self._policy: dict[str, Any] = {}
        self._revision = 0
        self.reset()

    # ------------------------------------------------------------ contract
    def routes(self) -> list[Route]:
        one = "/v3/projects/<project>"
        return [
            Route("POST", f"{one}:getIamPolicy", self.get_iam_policy, api=self.name),
            Route("POST", f"{one}:setIamPolicy", self.set_iam_policy, api=self.name,
                  mutating=True, endpoint="no-operation"),
        ]  # fmt: skip

    def snapshot(self) -> dict[str, Any]:
        with self.emulator.lock:
            return {"policy": self._render(3)}

    def reset(self) -> None:
        """A new project's policy: its owner, and the Google-managed default accounts."""
        number = project_number(self.emulator.project)
        with self.emulator.lock:
            self._revision = 0
            self._policy = {
                "version": 1,
                "bindings": [
                    {"role": "roles/owner", "members": ["user:owner@example.com"]},
                    {
                        "role": "roles/editor",
                        "members": [
                            f"serviceAccount:{number}-compute@developer.gserviceaccount.com",
                            f"serviceAccount:{number}@cloudservices.gserviceaccount.com",
                        ],
                    },
                ],
            }

    def resource_count(self) -> int:
        """Bindings beyond the project's initial ones (what a deployment added)."""
        with self.emulator.lock:
            initial = {("roles/owner", "user:owner@example.com")}
            number = project_number(self.emulator.project)
            initial |= {
                ("roles/editor", f"serviceAccount:{number}-compute@developer.gserviceaccount.com"),
                ("roles/editor", f"serviceAccount:{number}@cloudservices.gserviceaccount.com"),
            }
            return sum(
                1
                for b in self._policy["bindings"]
                for m in b["members"]
                if (b["role"], m) not in initial
            )

    # ------------------------------------------------------------ for other APIs
    def account_deleted(self, email: str, unique_id: str) -> None:
        old, new = f"serviceAccount:{email}", f"deleted:serviceAccount:{email}?uid={unique_id}"
        with self.emulator.lock:
            for binding in self._policy["bindings"]:
                binding["members"] = [new if m == old else m for m in binding["members"]]
            self._revision += 1

    def roles_of(self, member: str) -> set[str]:
        """The unconditional project roles bound to ``member``."""
        with self.emulator.lock:
            return {
                b["role"]
                for b in self._policy["bindings"]
                if member in b["members"] and "condition" not in b
            }

    # ------------------------------------------------------------ handlers
    def _etag(self) -> str:
        seed = f"{self.emulator.project}|{self._revision}".encode()
        return base64.b64encode(b"\x07" + hashlib.sha256(seed).digest()[:7]).decode()

    def _render(self, requested: int) -> dict[str, Any]:
        policy = copy.deepcopy(self._policy)
        bindings = policy["bindings"]
        if requested < 3 and any("condition" in b for b in bindings):
            # Older clients see conditional bindings with a marker in the role name.
            for b in bindings:
                if "condition" in b:
                    b["role"] += "_withcond_" + hashlib.sha256(b["role"].encode()).hexdigest()[:20]
                    del b["condition"]
        out = {"version": policy["version"], "etag": self._etag()}
        if bindings:
            out["bindings"] = bindings
        return out

    def get_iam_policy(self, request: Request, project: str) -> dict[str, Any]:
        self.emulator.enter(project, SERVICE)
        body = read_json(request)
        options = body.get("options") or {}
        requested = options.get("requestedPolicyVersion", 1) if isinstance(options, dict) else 1
        if requested not in (0, 1, 3):
            raise bad_request(f"Invalid requested policy version {requested}: use 1 or 3.")
        with self.emulator.lock:
            return self._render(requested or 1)

    def set_iam_policy(self, request: Request, project: str) -> dict[str, Any]:
        self.emulator.enter(project, SERVICE)
        body = read_json(request)
        policy = body.get("policy")
        if not isinstance(policy, dict):
            raise bad_request("policy is required.")
        version = policy.get("version", 1) or 1
        if version not in (1, 3):
            raise bad_request(f"Invalid policy version {version}: use 1 or 3.")
        bindings = policy.get("bindings") or []
        if not isinstance(bindings, list):
            raise bad_request("bindings must be a list.")
        clean = []
        for binding in bindings:
            clean.append(self._check_binding(binding, version))
        members = [m for b in clean for m in b["members"]]
        groups = sum(m.startswith("group:") for m in members)
        if len(members) > MAX_PRINCIPALS or groups > MAX_GROUPS:
            raise bad_request(
                f"The policy names {len(members)} principals: a policy can refer to at most "
                f"{MAX_PRINCIPALS} principals, of which at most {MAX_GROUPS} groups."
            )
        with self.emulator.lock:
            sent = policy.get("etag")
            current = self._etag()
            if sent and sent != current:
                raise ApiError(409, CONCURRENT.format(sent=sent, current=current), status="ABORTED")
            if sent and version < 3 and any("condition" in b for b in self._policy["bindings"]):
                raise bad_request(
                    "The policy has conditional role bindings: a change to it must specify "
                    "policy version 3."
                )
            merged: dict[tuple[str, str], dict[str, Any]] = {}
            for b in clean:
                key = (b["role"], repr(sorted(b.get("condition", {}).items())))
                if key in merged:
                    merged[key]["members"] = sorted(set(merged[key]["members"]) | set(b["members"]))
                else:
                    merged[key] = b
            self._policy = {"version": version, "bindings": list(merged.values())}
            self._revision += 1
            return self._render(3)

    def _check_binding(self, binding: Any, version: int) -> dict[str, Any]:
        if not isinstance(binding, dict):
            raise bad_request("A binding must be an object.")
        role = binding.get("role")
        if not isinstance(role, str) or not _ROLE.fullmatch(role):
            raise bad_request(f"Role {role!r} is not a valid role name.")
        if role not in PREDEFINED_ROLES:
            raise bad_request(f"Role {role} is not supported for this resource.")
        members = binding.get("members") or []
        if not isinstance(members, list) or not members:
            raise bad_request(f"The binding for {role} has no members.")
        iam = self.iam
        for member in members:
            if member in ("allUsers", "allAuthenticatedUsers"):
                raise bad_request("Request contains an invalid argument.")
            if not isinstance(member, str) or not _MEMBER.fullmatch(member):
                raise bad_request(f"Invalid member {member!r} in the binding for {role}.")
            own = _OWN_ACCOUNT.fullmatch(member)
            if own and own.group(2) == self.emulator.project:
                email = member.split(":", 1)[1]
                if not iam.visible(email):
                    raise bad_request(f"Service account {email} does not exist.")
        out = {"role": role, "members": sorted(set(members))}
        if "condition" in binding:
            if version != 3:
                raise bad_request(
                    "Conditional role bindings need policy version 3 (the request asked for "
                    f"version {version})."
                )
            condition = binding["condition"]
            if not isinstance(condition, dict) or not condition.get("expression"):
                raise bad_request("A condition needs an expression.")
            out["condition"] = condition
        return out
