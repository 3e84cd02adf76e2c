"""CloudWatch metrics, written as one embedded-metric-format (EMF) line per invocation.

Call sites record counts and durations in memory; the Lambda handler flushes them once at the
end of each invocation as one JSON object on stdout, which CloudWatch Logs turns into metrics
("Specification: Embedded metric format", Amazon CloudWatch User Guide,
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
Plain JSON: no dependency. Cardinality is bounded: one dimension (the function's name), and a
metric broken down by step, state or status takes its label from a fixed list (else ``other``).
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TextIO

from detector import __version__
from detector.domain.delivery import Action
from detector.log import get_logger

NAMESPACE = "RootKeyDetector"
DIMENSION = "FunctionName"
OTHER = "other"
# The specification's limits: at most 100 metrics in one directive, at most 100 values in one
# metric's array, names and dimension values of 1-255 and 1-1024 characters.
MAX_METRICS = 100
MAX_VALUES = 100
MAX_DIMENSION_VALUE = 1024


class Unit(StrEnum):
    """The EMF units the detector uses (a subset of CloudWatch's StandardUnit)."""

    COUNT = "Count"
    MILLISECONDS = "Milliseconds"


@dataclass(frozen=True)
class Metric:
    """One metric; a labelled one is emitted as ``<name>.<label>``, one metric per label."""

    name: str
    unit: Unit
    labels: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Every metric name this one can be emitted as."""
        if not self.labels:
            return (self.name,)
        return tuple(f"{self.name}.{label}" for label in (*self.labels, OTHER))

    def emitted_name(self, label: str | None) -> str:
        """The name a value with ``label`` is emitted under (unknown labels: ``other``)."""
        if not self.labels:
            if label is not None:
                raise TypeError(f"{self.name} takes no label")
            return self.name
        if label is None:
            raise TypeError(f"{self.name} needs a label (one of {', '.join(self.labels)})")
        wanted = label.strip().lower()
        return f"{self.name}.{wanted if wanted in self.labels else OTHER}"


# Events: Slack messages by kind, IAM's answers by state, failed steps by the pipeline's names.
ALERTS = Metric("Alerts", Unit.COUNT)
NOTICES = Metric("Notices", Unit.COUNT)
CONFIRMATIONS = Metric("Confirmations", Unit.COUNT, ("present", "absent", "unconfirmed"))
FAILURES = Metric(
    "Failures", Unit.COUNT, ("finding", "alert", "update", "ledger", "state", "group")
)
SLACK_RETRIES = Metric("SlackRetries", Unit.COUNT)
# The daily sweep: accounts by how they ended, its duration, and the heartbeat.
SWEEP_ACCOUNTS = Metric(
    "SweepAccounts", Unit.COUNT, ("clean", "known", "alerted", "resolved", "failed")
)
SWEEP_DURATION = Metric("SweepDuration", Unit.MILLISECONDS)
SWEEP_COMPLETED = Metric("SweepCompleted", Unit.COUNT)
# Accounts where a dependency check (detector.domain.dependencies.Check) was not OK.
SWEEP_DEPENDENCY_PROBLEMS = Metric(
    "SweepDependencyProblems", Unit.COUNT, ("trail", "rule", "security-hub")
)
# Centralized root access: uses of an alerted key by what noting them did (key_use.py), and
# AssumeRoot records: sessions recorded, records not trusted, member records labelled later.
KEY_USES = Metric(
    "KeyUses", Unit.COUNT, ("replied", "counted", "not-newer", "not-alerted", "refused")
)
ROOT_SESSIONS = Metric("RootSessions", Unit.COUNT, ("opened", "rejected", "labelled", "failed"))
# Key removal by two responders (removal.py, in the interaction function): requests made, and
# how each confirmation or click ended (refused: a click or job that removal's rules stopped).
KEY_REMOVALS = Metric(
    "KeyRemovals", Unit.COUNT, ("requested", "dry-run", "removed", "failed", "refused")
)

METRICS = (
    ALERTS,
    NOTICES,
    CONFIRMATIONS,
    FAILURES,
    SLACK_RETRIES,
    SWEEP_ACCOUNTS,
    SWEEP_DURATION,
    SWEEP_COMPLETED,
    SWEEP_DEPENDENCY_PROBLEMS,
    KEY_USES,
    ROOT_SESSIONS,
    KEY_REMOVALS,
)
# What an event's outcome actions (detector.domain.delivery.Action values) count as.
ALERT_ACTIONS = frozenset(
    {Action.ALERTED.value, Action.ALERT_REPLACED.value, Action.ALERTED_WITHOUT_LEDGER.value}
)
NOTICE_ACTIONS = frozenset({Action.NOTICE_POSTED.value})


class Recorder:
    """Counts and durations of one invocation; thread-safe (the pipeline runs calls in threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._units: dict[str, Unit] = {}
        self._counts: dict[str, float] = {}
        self._values: dict[str, list[float]] = {}

    def count(self, metric: Metric, value: float = 1, *, label: str | None = None) -> None:
        """Add ``value`` (a finite number, at least 0) to ``metric`` (under ``label``)."""
        number = _valid(value)
        name = metric.emitted_name(label)
        with self._lock:
            self._units[name] = metric.unit
            self._counts[name] = self._counts.get(name, 0) + number

    def duration(self, metric: Metric, seconds: float, *, label: str | None = None) -> None:
        """Record one duration of ``metric`` (in its unit; ``seconds`` as given).

        Each duration is one value (CloudWatch keeps their statistics); past the format's 100
        values per metric, later ones of the same invocation are dropped.
        """
        number = _valid(seconds)
        if metric.unit is not Unit.MILLISECONDS:
            raise TypeError(f"{metric.name} is not a duration")
        name = metric.emitted_name(label)
        with self._lock:
            self._units[name] = metric.unit
            values = self._values.setdefault(name, [])
            if len(values) < MAX_VALUES:
                values.append(round(number * 1000.0, 3))

    def outcome(self, actions: Any, confirmation: str | None) -> None:
        """Count one event's outcome: its alert or notice, and IAM's answer (if it was asked)."""
        for action in actions:
            if str(action) in ALERT_ACTIONS:
                self.count(ALERTS)
            elif str(action) in NOTICE_ACTIONS:
                self.count(NOTICES)
        if confirmation is not None:
            self.count(CONFIRMATIONS, label=str(confirmation))

    def sweep(
        self,
        counts: dict[str, int],
        elapsed_s: float,
        *,
        completed: bool,
        dependencies: dict[str, dict[str, int]] | None = None,
    ) -> None:
        """Count one sweep: its accounts by status, its duration, the accounts per dependency
        check that was not OK and, if it ``completed`` (every account swept, no action
        failed), one SweepCompleted: the heartbeat."""
        for status, accounts in counts.items():
            self.count(SWEEP_ACCOUNTS, accounts, label=status)
        for check, verdicts in (dependencies or {}).items():
            not_ok = sum(n for verdict, n in verdicts.items() if verdict != "ok")
            self.count(SWEEP_DEPENDENCY_PROBLEMS, not_ok, label=check)
        self.duration(SWEEP_DURATION, elapsed_s)
        if completed:
            self.count(SWEEP_COMPLETED)

    def counted_sweep(self, run: Callable[[], Any]) -> Any:
        """``run()`` (a sweep), counted with :meth:`sweep`; what it returns or raises. A
        SweepError's summary counts its accounts, but only a sweep that returns completed."""
        started = time.monotonic()
        try:
            summary = run()
        except Exception as exc:
            counts = getattr(getattr(exc, "summary", None), "counts", None)
            self.sweep(counts or {}, time.monotonic() - started, completed=False)
            raise
        self.sweep(
            summary.counts,
            time.monotonic() - started,
            completed=True,
            dependencies=getattr(summary, "dependencies", None),
        )
        return summary

    def end_invocation(self, function_name: object, request_id: str | None) -> None:
        """Flush the invocation's metrics (as the function ``function_name``, else Lambda's
        AWS_LAMBDA_FUNCTION_NAME); a failure to write them never fails the invocation."""
        try:
            self.flush(
                str(function_name or os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")),
                properties={"RequestId": request_id, "DetectorVersion": __version__},
            )
        except Exception as exc:  # noqa: BLE001 - the invocation's own result matters more
            get_logger().warning("metrics not written", extra={"error": str(exc)})

    def document(
        self,
        function_name: str,
        *,
        timestamp_ms: int | None = None,
        properties: dict[str, Any] | None = None,
        reset: bool = True,
    ) -> dict[str, Any] | None:
        """The EMF document of what was recorded (``None`` if nothing was); ``reset`` empties
        the recorder. ``properties`` are written alongside (searchable, not metrics)."""
        with self._lock:
            units, counts, values = dict(self._units), dict(self._counts), dict(self._values)
            if reset:
                self._units.clear()
                self._counts.clear()
                self._values.clear()
        if not units:
            return None
        dimension = _dimension_value(function_name)
        doc: dict[str, Any] = {
            key: value
            for key, value in (properties or {}).items()
            if key not in units and key not in ("_aws", DIMENSION)
        }
        doc["_aws"] = {
            "Timestamp": int(time.time() * 1000) if timestamp_ms is None else timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [[DIMENSION]],
                    "Metrics": [{"Name": name, "Unit": units[name].value} for name in units],
                }
            ],
        }
        doc[DIMENSION] = dimension
        for name in units:
            doc[name] = counts[name] if name in counts else values[name]
        return doc

    def flush(
        self,
        function_name: str,
        *,
        stream: TextIO | None = None,
        properties: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Write what was recorded as one EMF line on ``stream`` (stdout) and start afresh."""
        doc = self.document(function_name, properties=properties)
        if doc is None:
            return None
        out = stream or sys.stdout
        # One write: a line from another thread cannot land inside it.
        out.write(json.dumps(doc, separators=(",", ":"), default=str, ensure_ascii=True) + "\n")
        out.flush()
        return doc


def _valid(value: float) -> float:
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"a metric value must be a finite number >= 0, not {value!r}")
    return number


def _dimension_value(value: str) -> str:
    text = (value or "").strip() or "local"
    return text[:MAX_DIMENSION_VALUE]


# The process's recorder: a Lambda container runs one invocation at a time.
RECORDER = Recorder()
count = RECORDER.count
duration = RECORDER.duration
outcome = RECORDER.outcome
flush = RECORDER.flush
sweep = RECORDER.sweep
counted_sweep = RECORDER.counted_sweep
end_invocation = RECORDER.end_invocation


def emitted_names() -> frozenset[str]:
    """Every metric name the detector can emit (what the dashboard and alarms may use)."""
    return frozenset(name for metric in METRICS for name in metric.names)
