"""Runs a plan as a dependency graph: every step whose dependencies are done starts at
once. The only module that changes anything in the cloud.

Each step is idempotent: before acting it re-reads the resource (after the first
attempt), so a retry after a transient failure, a 409, or a deploy killed half way and run
again all converge. Compute inserts carry a requestId that stays the same while the
outcome of a call is unknown and changes once an operation is known to have failed.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from google.api_core import exceptions as gexc

from globalguide.cloud.clients import CloudClients
from globalguide.cloud.plan import DELETE, Plan, Step
from globalguide.cloud.propagation import Propagation, Wait
from globalguide.cloud.resources import Context, OperationFailed, Unhealthy
from globalguide.errors import CloudError, GlobalGuideError

WORKERS = 12
MAX_ATTEMPTS = 8
# Retries of errors that wait for our own change to propagate (cloud/propagation.py): they
# are bounded by that change's deadline, and by this count.
MAX_PROPAGATION_WAITS = 60

# Errors that say "try again": quota, server-side trouble, a conflict with an operation
# still in flight (409 while an insert of the same name is pending; 412 fingerprint race).
TRANSIENT = (
    gexc.TooManyRequests,
    gexc.ResourceExhausted,
    gexc.InternalServerError,
    gexc.BadGateway,
    gexc.ServiceUnavailable,
    gexc.GatewayTimeout,
    gexc.DeadlineExceeded,
    gexc.Aborted,
    gexc.Conflict,
    gexc.PreconditionFailed,
    gexc.Unknown,
)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, Unhealthy):  # the retry reads it again and repairs it
        return True
    if isinstance(exc, OperationFailed):
        return is_transient(exc.cause)
    if isinstance(exc, TRANSIENT):
        return True
    if not isinstance(exc, gexc.BadRequest):
        return False
    # A resource another step is still releasing (a NEG whose backend update is in flight).
    # Errors that wait for our own change to propagate are Propagation's to judge.
    return "resourceInUseByAnotherResource" in str(exc)


@dataclass
class Backoff:
    base_s: float = 0.5
    cap_s: float = 20.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2^attempt)]."""
        return self.rng.uniform(0, min(self.cap_s, self.base_s * 2**attempt))


@dataclass
class StepEvent:
    step: Step
    state: str  # waiting, running, retrying, done, failed, skipped
    elapsed_s: float = 0.0
    attempt: int = 0
    detail: str = ""


@dataclass
class ApplyResult:
    done: list[Step]
    failed: dict[str, BaseException]
    skipped: list[Step]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped


Listener = Callable[[StepEvent], None]


class Executor:
    def __init__(
        self,
        clients: CloudClients,
        *,
        listener: Listener | None = None,
        backoff: Backoff | None = None,
        workers: int = WORKERS,
        propagation: Propagation | None = None,
    ) -> None:
        self.clients = clients
        self.listener = listener or (lambda event: None)
        self.backoff = backoff or Backoff()
        self.propagation = propagation or Propagation()
        self.workers = workers
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ one step
    def run_step(self, step: Step) -> None:
        resource = step.resource
        ctx = Context(self.clients, request_id=str(uuid.uuid4()), propagation=self.propagation)
        started = time.monotonic()
        current, fresh = step.current, True
        attempt = waits = 0
        while True:
            try:
                if not fresh:
                    current = resource.read(self.clients)
                fresh = False
                if step.action == DELETE:
                    if current is not None:
                        resource.delete(ctx)
                    return
                # A retry that finds the resource existing counts it as done only once
                # it is healthy: an operation that ended in error may have left it broken.
                if current is None:
                    resource.create(ctx)
                elif resource.problem(current):
                    resource.repair(ctx, current)
                elif not resource.same(current):
                    resource.update(ctx, current)
                resource.verify(ctx)
                return
            except GlobalGuideError:
                raise
            except Exception as exc:
                waiting = self.propagation.wait_for(exc)
                if waiting is not None:
                    delay, detail = self._propagation_delay(waiting, exc, waits)
                    waits += 1
                else:
                    if not is_transient(exc) or attempt == MAX_ATTEMPTS - 1:
                        raise
                    if isinstance(exc, OperationFailed):
                        ctx.request_id = str(uuid.uuid4())
                    delay, detail = self.backoff.delay(attempt), _short(exc)
                    attempt += 1
                self.listener(
                    StepEvent(step, "retrying", time.monotonic() - started, attempt + waits, detail)
                )
                time.sleep(delay)

    def _propagation_delay(
        self, waiting: Wait, exc: BaseException, waits: int
    ) -> tuple[float, str]:
        """How long to wait before trying again while our own change propagates, and what to
        say meanwhile; a CloudError once its deadline has passed."""
        now = self.propagation.clock()
        age = now - waiting.since
        if now >= waiting.deadline or waits >= MAX_PROPAGATION_WAITS:
            raise CloudError(
                f"{waiting.what} is still not usable {age:.0f} s after this run set it up "
                f"({_short(exc)}); Google Cloud can take a few minutes to propagate it: run "
                "the same command again shortly"
            ) from exc
        delay = min(self.backoff.delay(waits), waiting.deadline - now)
        return delay, f"waiting for {waiting.what} to propagate ({age:.0f} s): {_short(exc)}"

    # ------------------------------------------------------------------ the graph
    def apply(self, plan: Plan, steps: list[Step] | None = None) -> ApplyResult:
        todo = {s.key: s for s in (steps if steps is not None else plan.changes)}
        finished: set[str] = set()
        failed: dict[str, BaseException] = {}
        skipped: list[Step] = []
        done: list[Step] = []
        running: dict[Future, tuple[Step, float]] = {}
        for s in todo.values():
            self.listener(StepEvent(s, "waiting"))

        def blocked(s: Step) -> bool:
            return any(k in todo and k not in finished for k in s.waits_for)

        def doomed(s: Step) -> bool:
            return any(k in failed or k in {x.key for x in skipped} for k in s.waits_for)

        pending = dict(todo)
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="apply") as pool:
            while pending or running:
                for key, s in list(pending.items()):
                    if doomed(s):
                        del pending[key]
                        skipped.append(s)
                        self.listener(StepEvent(s, "skipped"))
                    elif not blocked(s):
                        del pending[key]
                        self.listener(StepEvent(s, "running"))
                        running[pool.submit(self.run_step, s)] = (s, time.monotonic())
                if not running:
                    if pending:  # only doomed or cyclic steps are left
                        for s in pending.values():
                            skipped.append(s)
                            self.listener(StepEvent(s, "skipped"))
                        pending.clear()
                    break
                complete, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in complete:
                    s, t0 = running.pop(future)
                    elapsed = time.monotonic() - t0
                    error = future.exception()
                    if error is None:
                        finished.add(s.key)
                        done.append(s)
                        self.listener(StepEvent(s, "done", elapsed))
                    else:
                        failed[s.key] = error
                        self.listener(StepEvent(s, "failed", elapsed, detail=_short(error)))
        return ApplyResult(done, failed, skipped)


def _short(exc: BaseException) -> str:
    if isinstance(exc, OperationFailed):
        exc = exc.cause
    if isinstance(exc, GlobalGuideError):
        return exc.message
    if isinstance(exc, gexc.GoogleAPICallError):
        code = exc.code if exc.code is not None else ""
        message = (exc.message or "").splitlines()[0] if exc.message else type(exc).__name__
        return f"{code} {message}".strip()[:300]
    return type(exc).__name__


def raise_for_failures(result: ApplyResult, verb: str) -> None:
    if result.ok:
        return
    if result.failed:
        key, error = next(iter(result.failed.items()))
        own_hint = error.hint if isinstance(error, GlobalGuideError) else None
        raise CloudError(
            f"{verb} failed at {key}: {_short(error)}.",
            hint=own_hint
            or "Nothing is left half-made that a rerun cannot finish: run the same command "
            "again. If it keeps failing, check quotas and permissions in the project.",
        )
    raise CloudError(f"{verb} did not finish: {len(result.skipped)} steps could not start.")
