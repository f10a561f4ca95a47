"""Metrics files: SageMaker's model quality statistics and flat objects of numbers."""

from __future__ import annotations

import json

import pytest

from modelreg.sagemaker.metrics import MetricsError, parse_metrics


def test_sagemaker_model_quality_statistics() -> None:
    document = {
        "version": 0.0,
        "dataset": {"item_count": 1000, "evaluation_time": "2026-01-15T00:00:00Z"},
        "binary_classification_metrics": {
            "confusion_matrix": {"0": {"0": 800, "1": 20}, "1": {"0": 30, "1": 150}},
            "recall": {"value": 0.83, "standard_deviation": 0.01},
            "auc": {"value": 0.91, "standard_deviation": 0.004},
            "receiver_operating_characteristic_curve": {"false_positive_rates": [0, 1]},
        },
    }
    assert parse_metrics(json.dumps(document).encode()) == {"recall": 0.83, "auc": 0.91}


def test_regression_and_multiclass_sections() -> None:
    document = {
        "regression_metrics": {"mse": {"value": 4}, "r2": {"value": 0.7, "standard_deviation": 0.1}},
        "multiclass_classification_metrics": {"accuracy": {"value": 0.88}, "weighted_f1": {"value": 0.87}},
    }
    assert parse_metrics(json.dumps(document).encode()) == {
        "mse": 4.0,
        "r2": 0.7,
        "accuracy": 0.88,
        "weighted_f1": 0.87,
    }


def test_flat_object() -> None:
    data = b'{"auc": 0.91, "latency_p99_ms": 12, "model": "xgb", "ok": true, "f1": {"value": 0.8}}'
    assert parse_metrics(data) == {"auc": 0.91, "latency_p99_ms": 12.0, "f1": 0.8}


def test_a_utf8_bom_is_accepted() -> None:
    assert parse_metrics(b'\xef\xbb\xbf{"auc": 0.9}') == {"auc": 0.9}


def test_not_finite_values_are_not_metrics() -> None:
    assert parse_metrics(b'{"auc": NaN, "loss": Infinity, "f1": 0.5}') == {"f1": 0.5}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"auc=0.91", "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[0.91]", "JSON list, not an object"),
        (b'{"model": "xgb", "ok": true}', "no numeric metric"),
        (b'{"binary_classification_metrics": {"confusion_matrix": {}}}', "no numeric metric"),
        (b"", "not valid JSON"),
    ],
)
def test_errors(data: bytes, message: str) -> None:
    with pytest.raises(MetricsError, match=message):
        parse_metrics(data)
