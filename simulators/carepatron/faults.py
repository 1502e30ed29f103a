"""Switchable faults: scripted statuses, random failures, latency, time-outs, rejections.

A rule matches requests by method, path prefix (relative to ``/v1``) and resource kind, and
acts in one of two phases: ``before`` the request is processed, or ``after`` it changed the
state but before the answer is sent (a created client whose id the caller never learns).

>>> faults.fail_next(3, status=503, method="POST", path="/clients")
>>> faults.latency(ms=2000, phase="after")
>>> faults.latency(ms=400, fraction=0.1, seed=7)   # a tenth of the requests, drawn reproducibly
>>> faults.every_nth(7, status=429, headers={"Retry-After": "1"})   # the 7th, 14th, ... request
"""

from __future__ import annotations

import itertools
import random
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable

#: Statuses a random failure answers when none are named.
DEFAULT_RANDOM_STATUSES = (500, 502, 503)

#: The phases a rule can act in.
PHASES = ("before", "after")


@dataclass
class Rule:
    """One fault; ``remaining`` None means it lasts until removed."""

    id: str
    fault: str  # "fail", "random", "every", "latency" or "timeout"
    phase: str = "before"
    methods: frozenset[str] | None = None
    path: str | None = None
    kind: str | None = None
    remaining: int | None = None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    detail: str = "The simulator was told to fail this request."
    statuses: tuple[int, ...] = ()
    fraction: float = 0.0
    seconds: float = 0.0
    rng: random.Random | None = field(default=None, repr=False)
    #: An "every" rule answers each ``every``-th matching request; ``seen`` counts them.
    every: int = 0
    seen: int = 0

    def matches(self, phase: str, method: str, path: str, kind: str | None) -> bool:
        return (
            self.phase == phase
            and (self.methods is None or method in self.methods)
            and (self.path is None or path.startswith(self.path))
            and (self.kind is None or self.kind == kind)
        )

    def describe(self) -> dict[str, Any]:
        described = {
            "id": self.id,
            "fault": self.fault,
            "phase": self.phase,
            "methods": sorted(self.methods) if self.methods else None,
            "path": self.path,
            "kind": self.kind,
            "remaining": self.remaining,
        }
        if self.fault == "fail":
            described.update(status=self.status, headers=self.headers)
        elif self.fault == "every":
            described.update(every=self.every, status=self.status, headers=self.headers, seen=self.seen)
        elif self.fault == "random":
            described.update(fraction=self.fraction, statuses=list(self.statuses))
        elif self.fault == "latency":
            described.update(seconds=self.seconds, fraction=self.fraction)
        else:
            described.update(seconds=self.seconds)
        return described


@dataclass
class Outcome:
    """What the faults decided for one request in one phase."""

    #: Seconds to hold the request before going on.
    delay: float = 0.0
    #: Answer this status instead of the real answer.
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    detail: str = ""
    #: After the delay, close the connection without answering.
    drop: bool = False


class Faults:
    """The fault rules of one simulator; every method is safe to call from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._ids = itertools.count(1)

    def fail_next(
        self,
        count: int | None = 1,
        status: int = 503,
        *,
        method: str | Iterable[str] | None = None,
        path: str | None = None,
        kind: str | None = None,
        headers: dict[str, str] | None = None,
        phase: str = "before",
    ) -> str:
        """The next ``count`` matching requests (None: all, until removed) answer ``status``."""
        return self._add(
            "fail", phase=phase, method=method, path=path, kind=kind, count=count,
            status=status, headers=dict(headers or {}),
        )

    def fail_randomly(
        self,
        fraction: float,
        *,
        statuses: Iterable[int] = DEFAULT_RANDOM_STATUSES,
        seed: int | None = None,
        method: str | Iterable[str] | None = None,
        path: str | None = None,
        kind: str | None = None,
        phase: str = "before",
    ) -> str:
        """A ``fraction`` of matching requests answer one of ``statuses``, drawn from a seeded RNG."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError("fraction must be between 0 and 1")
        return self._add(
            "random", phase=phase, method=method, path=path, kind=kind,
            fraction=fraction, statuses=tuple(statuses), rng=random.Random(seed),
        )

    def burst_429(
        self,
        count: int = 1,
        retry_after: int = 1,
        *,
        method: str | Iterable[str] | None = None,
        path: str | None = None,
        kind: str | None = None,
    ) -> str:
        """The next ``count`` matching requests answer 429 with ``Retry-After: retry_after``."""
        return self.fail_next(
            count, 429, method=method, path=path, kind=kind,
            headers={"Retry-After": str(retry_after)},
        )

    def every_nth(
        self,
        n: int,
        status: int = 429,
        *,
        headers: dict[str, str] | None = None,
        method: str | Iterable[str] | None = None,
        path: str | None = None,
        kind: str | None = None,
        phase: str = "before",
    ) -> str:
        """Every ``n``-th matching request (the n-th, 2n-th, ...) answers ``status``, until removed.

        Every matching request is counted, also those another rule answers; add this rule first
        to count them all.
        """
        if n < 1:
            raise ValueError("n must be at least 1")
        return self._add(
            "every", phase=phase, method=method, path=path, kind=kind, every=n, status=status,
            headers=dict(headers or {}),
        )

    def latency(
        self,
        ms: int,
        *,
        phase: str = "before",
        count: int | None = None,
        method: str | Iterable[str] | None = None,
        path: str | None = None,
        kind: str | None = None,
        fraction: float = 1.0,
        seed: int | None = None,
    ) -> str:
        """Hold matching requests ``ms`` milliseconds, before processing or after it.

        With ``fraction`` below 1 only that share of them, drawn from an RNG seeded with ``seed``;
        ``count`` then counts the requests actually held.
        """
        if not 0.0 <= fraction <= 1.0:
            raise ValueError("fraction must be between 0 and 1")
        return self._add(
            "latency", phase=phase, method=method, path=path, kind=kind, count=count,
            seconds=ms / 1000, fraction=fraction, rng=random.Random(seed) if fraction < 1.0 else None,
        )

    def timeout(self, seconds: float, **where: Any) -> str:
        """Hold matching requests ``seconds``, then close the connection without an answer.

        ``where`` takes the ``phase``, ``count``, ``method``, ``path`` and ``kind`` of :meth:`latency`.
        """
        return self._add("timeout", seconds=seconds, **where)

    def reject(self, kind: str, *, status: int = 422, detail: str | None = None) -> str:
        """Refuse every write (POST, PUT) of ``kind`` until :meth:`lift` is called."""
        return self._add(
            "fail", method=("POST", "PUT"), kind=kind, status=status,
            detail=detail or f"The simulator was told to reject {kind}.",
        )

    def lift(self, kind: str) -> None:
        """Remove every rule aimed at ``kind``."""
        with self._lock:
            self._rules = [rule for rule in self._rules if rule.kind != kind]

    def remove(self, rule_id: str) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [rule for rule in self._rules if rule.id != rule_id]
            return len(self._rules) < before

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.describe() for rule in self._rules]

    def decide(self, phase: str, method: str, path: str, kind: str | None) -> Outcome:
        """Apply the rules matching one request in one phase, counting down scripted ones.

        Latencies add up; the first rule that answers (a status or a time-out) wins.
        """
        outcome = Outcome()
        with self._lock:
            for rule in self._rules:
                if not rule.matches(phase, method, path, kind):
                    continue
                if rule.fault == "latency":
                    if rule.rng is not None and rule.rng.random() >= rule.fraction:
                        continue  # this request is not one of the share held
                    outcome.delay += rule.seconds
                elif rule.fault == "every":
                    rule.seen += 1
                    if rule.seen % rule.every == 0 and outcome.status is None and not outcome.drop:
                        outcome.status, outcome.headers = rule.status, dict(rule.headers)
                        outcome.detail = f"The simulator answers every {rule.every}th request so."
                    continue  # an "every" rule has no count to spend
                elif outcome.status is not None or outcome.drop:
                    continue
                elif rule.fault == "random":
                    if rule.rng.random() < rule.fraction:
                        outcome.status = rule.rng.choice(rule.statuses)
                        outcome.detail = "The simulator failed this request at random."
                    continue  # a random rule has no count to spend
                elif rule.fault == "timeout":
                    outcome.delay += rule.seconds
                    outcome.drop = True
                else:
                    outcome.status = rule.status
                    outcome.headers = dict(rule.headers)
                    outcome.detail = rule.detail
                if rule.remaining is not None:
                    rule.remaining -= 1
            self._rules = [rule for rule in self._rules if rule.remaining != 0]
        return outcome

    def _add(
        self,
        fault: str,
        *,
        phase: str = "before",
        method: str | Iterable[str] | None = None,
        path: str | None = None,
        kind: str | None = None,
        count: int | None = None,
        **settings: Any,
    ) -> str:
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}")
        if count is not None and count < 1:
            raise ValueError("count must be at least 1, or None for no end")
        methods = None
        if method is not None:
            names = [method] if isinstance(method, str) else list(method)
            methods = frozenset(name.upper() for name in names)
        with self._lock:
            rule = Rule(
                id=f"fault_{next(self._ids)}", fault=fault, phase=phase, methods=methods,
                path=path, kind=kind, remaining=count, **settings,
            )
            self._rules.append(rule)
        return rule.id
