"""detector.metrics: the EMF line CloudWatch turns into metrics, and its bounds.

"Specification: Embedded metric format" (Amazon CloudWatch User Guide) is what each document is
checked against: a root ``_aws`` object with a millisecond ``Timestamp`` and a list of metric
directives; every dimension and metric a directive names is a member of the root; a metric's
value is a number or an array of at most 100 numbers; at most 100 metrics per directive.
"""

from __future__ import annotations

import io
import json
import math
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector import metrics
from detector.domain.confirmation import KeyState
from detector.domain.delivery import Action
from detector.domain.reconcile import AccountStatus
from detector.metrics import Recorder

FUNCTION = "root-key-detector-DetectorFunction-AbC123"


def check_emf(doc: dict[str, Any]) -> None:
    """``doc`` is a valid EMF document by the specification's rules."""
    meta = doc["_aws"]
    assert isinstance(meta["Timestamp"], int)
    assert meta["Timestamp"] > 0
    (directive,) = meta["CloudWatchMetrics"]
    assert 1 <= len(directive["Namespace"]) <= 255
    for dimension_set in directive["Dimensions"]:
        assert 1 <= len(dimension_set) <= 30
        for key in dimension_set:
            assert isinstance(doc[key], str)
            assert 1 <= len(doc[key]) <= 1024
    assert 1 <= len(directive["Metrics"]) <= metrics.MAX_METRICS
    for definition in directive["Metrics"]:
        assert set(definition) <= {"Name", "Unit", "StorageResolution"}
        assert 1 <= len(definition["Name"]) <= 255
        value = doc[definition["Name"]]
        values = value if isinstance(value, list) else [value]
        assert 1 <= len(values) <= metrics.MAX_VALUES
        assert all(isinstance(v, int | float) and math.isfinite(v) for v in values)


def flushed(recorder: Recorder, **kwargs: Any) -> tuple[str, dict[str, Any]]:
    out = io.StringIO()
    recorder.flush(FUNCTION, stream=out, **kwargs)
    return out.getvalue(), json.loads(out.getvalue())


def test_one_line_per_flush_with_the_function_as_the_only_dimension() -> None:
    recorder = Recorder()
    recorder.count(metrics.ALERTS)
    recorder.count(metrics.ALERTS)
    recorder.count(metrics.FAILURES, label="alert")
    recorder.duration(metrics.SWEEP_DURATION, 1.5)
    line, doc = flushed(recorder, properties={"RequestId": "req-1"})
    assert line.endswith("\n")
    assert line.count("\n") == 1
    check_emf(doc)
    (directive,) = doc["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "RootKeyDetector"
    assert directive["Dimensions"] == [["FunctionName"]]
    assert doc["FunctionName"] == FUNCTION
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == {
        "Alerts": "Count",
        "Failures.alert": "Count",
        "SweepDuration": "Milliseconds",
    }
    assert doc["Alerts"] == 2
    assert doc["Failures.alert"] == 1
    assert doc["SweepDuration"] == [1500.0]
    assert doc["RequestId"] == "req-1"


def test_a_flush_empties_the_recorder_and_nothing_recorded_writes_nothing() -> None:
    recorder = Recorder()
    recorder.count(metrics.SWEEP_COMPLETED)
    flushed(recorder)
    out = io.StringIO()
    assert recorder.flush(FUNCTION, stream=out) is None
    assert out.getvalue() == ""


def test_unknown_labels_count_as_other_and_names_stay_bounded() -> None:
    recorder = Recorder()
    for i in range(500):
        recorder.count(metrics.FAILURES, label=f"step-{i}")
    recorder.count(metrics.CONFIRMATIONS, label="PRESENT")  # KeyState's spelling
    _, doc = flushed(recorder)
    assert doc["Failures.other"] == 500
    assert doc["Confirmations.present"] == 1


def test_misuse_is_refused() -> None:
    recorder = Recorder()
    with pytest.raises(TypeError):
        recorder.count(metrics.ALERTS, label="x")
    with pytest.raises(TypeError):
        recorder.count(metrics.FAILURES)
    with pytest.raises(TypeError):
        recorder.duration(metrics.ALERTS, 1.0)
    for bad in (-1, math.nan, math.inf):
        with pytest.raises(ValueError, match="finite"):
            recorder.count(metrics.ALERTS, bad)


def test_properties_never_replace_a_metric_or_the_dimension() -> None:
    recorder = Recorder()
    recorder.count(metrics.ALERTS, 3)
    _, doc = flushed(recorder, properties={"Alerts": "x", "FunctionName": "y", "_aws": 1})
    assert doc["Alerts"] == 3
    assert doc["FunctionName"] == FUNCTION
    check_emf(doc)


def test_outside_lambda_the_dimension_is_local() -> None:
    recorder = Recorder()
    recorder.count(metrics.ALERTS)
    out = io.StringIO()
    recorder.flush("", stream=out)
    assert json.loads(out.getvalue())["FunctionName"] == "local"


def test_an_events_outcome_counts_its_alert_notice_and_confirmation() -> None:
    recorder = Recorder()
    recorder.outcome([Action.FINDING_IMPORTED, Action.ALERTED], KeyState.PRESENT)
    recorder.outcome([Action.NOTICE_POSTED], None)
    recorder.outcome([Action.ALERT_REPLACED], KeyState.UNCONFIRMED)
    recorder.outcome([Action.FOUND_POSTED, Action.REPLIED], KeyState.ABSENT)  # not a new alert
    _, doc = flushed(recorder)
    assert doc["Alerts"] == 2
    assert doc["Notices"] == 1
    assert doc["Confirmations.present"] == 1
    assert doc["Confirmations.unconfirmed"] == 1
    assert doc["Confirmations.absent"] == 1


def test_the_labels_cover_the_detectors_own_vocabularies() -> None:
    assert {s.value.lower() for s in KeyState} == set(metrics.CONFIRMATIONS.labels)
    assert {s.value for s in AccountStatus} == set(metrics.SWEEP_ACCOUNTS.labels)
    actions = {a.value for a in Action}
    assert actions >= metrics.ALERT_ACTIONS
    assert actions >= metrics.NOTICE_ACTIONS


def test_every_name_fits_one_directive() -> None:
    names = metrics.emitted_names()
    assert len(names) <= metrics.MAX_METRICS
    assert all(1 <= len(n) <= 255 for n in names)


def test_durations_keep_at_most_the_formats_100_values() -> None:
    recorder = Recorder()
    for _ in range(250):
        recorder.duration(metrics.SWEEP_DURATION, 0.25)
    _, doc = flushed(recorder)
    assert doc["SweepDuration"] == [250.0] * 100


def test_counts_from_many_threads_all_arrive() -> None:
    recorder = Recorder()

    def work() -> None:
        for _ in range(1000):
            recorder.count(metrics.SLACK_RETRIES)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _, doc = flushed(recorder)
    assert doc["SlackRetries"] == 8000


_metric = st.sampled_from(metrics.METRICS)
_label = st.one_of(st.none(), st.text(max_size=40), st.sampled_from(["alert", "PRESENT", "clean"]))
_value = st.one_of(st.integers(0, 10**6), st.floats(0, 1e6, allow_nan=False))


@settings(max_examples=200, deadline=None)
@given(
    ops=st.lists(st.tuples(_metric, _label, _value), max_size=60),
    function_name=st.text(max_size=2000),
    properties=st.dictionaries(st.text(max_size=20), st.text(max_size=20), max_size=5),
)
def test_any_recording_flushes_to_a_valid_bounded_document(
    ops: list[tuple[metrics.Metric, str | None, float]],
    function_name: str,
    properties: dict[str, str],
) -> None:
    recorder = Recorder()
    expected: dict[str, float] = {}
    for metric, label, value in ops:
        use = label if metric.labels else None
        if metric.labels and use is None:
            use = ""
        name = metric.emitted_name(use)
        if metric.unit is metrics.Unit.MILLISECONDS:
            recorder.duration(metric, value, label=use)
        else:
            recorder.count(metric, value, label=use)
            expected[name] = expected.get(name, 0) + float(value)
    out = io.StringIO()
    doc = recorder.flush(function_name, stream=out, properties=properties)
    if not ops:
        assert doc is None
        assert out.getvalue() == ""
        return
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    parsed = json.loads(lines[0])
    check_emf(parsed)
    listed = {m["Name"] for m in parsed["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert listed <= metrics.emitted_names()
    for name, total in expected.items():
        assert parsed[name] == pytest.approx(total)


def test_an_invocation_whose_metrics_cannot_be_written_still_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder = Recorder()
    recorder.count(metrics.ALERTS)
    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr("sys.stdout", closed)
    recorder.end_invocation("fn", "req")  # no exception: the invocation's result stands


def test_without_a_context_the_function_name_comes_from_lambdas_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "from-env")
    recorder = Recorder()
    recorder.sweep({"clean": 3, "failed": 1}, 2.0, completed=True)
    recorder.end_invocation(None, "req-9")
    doc = json.loads(capsys.readouterr().out)
    check_emf(doc)
    assert doc["FunctionName"] == "from-env"
    assert (doc["RequestId"], doc["SweepCompleted"]) == ("req-9", 1)
    assert (doc["SweepAccounts.clean"], doc["SweepAccounts.failed"]) == (3, 1)
    assert doc["SweepDuration"] == [2000.0]


def test_a_sweep_counts_the_accounts_whose_dependency_checks_were_not_ok(
    capsys: pytest.CaptureFixture[str],
) -> None:
    recorder = Recorder()
    recorder.sweep(
        {"clean": 3},
        1.0,
        completed=True,
        dependencies={"trail": {"ok": 1, "problem": 1, "unreadable": 1}, "rule": {"ok": 3}},
    )
    recorder.end_invocation("fn", "req")
    doc = json.loads(capsys.readouterr().out)
    check_emf(doc)
    assert doc["SweepDependencyProblems.trail"] == 2
    assert doc["SweepDependencyProblems.rule"] == 0
