"""Model quality metrics as numbers, from the JSON a version's ``ModelMetrics`` points to.

Two formats are understood:

- SageMaker's model quality statistics (what Model Monitor and SageMaker Clarify write, and what
  the SageMaker Python SDK's ``ModelMetrics`` examples register): sections whose names end in
  ``_metrics`` (``binary_classification_metrics``, ``multiclass_classification_metrics``,
  ``regression_metrics``, ...), each mapping a metric name to ``{"value": x, ...}``::

      {"version": 0.0,
       "binary_classification_metrics": {"auc": {"value": 0.91, "standard_deviation": 0.01},
                                         "confusion_matrix": {...}}}

  Entries without a numeric ``value`` (confusion matrices, curves) are skipped.
- A flat object of numbers, ``{"auc": 0.91, "latency_p99_ms": 12}`` (``{"auc": {"value": 0.91}}``
  entries are accepted there too).

When any ``*_metrics`` section is present only those sections are read, so top-level fields such
as ``"version": 0.0`` of the SageMaker format never turn into metrics. Booleans, NaN and infinities
are not metrics.
"""

from __future__ import annotations

import math
from typing import Any

from modelreg import json_text


class MetricsError(ValueError):
    """The metrics file is not JSON, or holds no metric as a number."""


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _entry_value(entry: Any) -> float | None:
    """``x`` from ``x`` or from ``{"value": x, ...}``."""
    if isinstance(entry, dict):
        return _number(entry.get("value"))
    return _number(entry)


def parse_metrics(data: bytes) -> dict[str, float]:
    """Every metric in a metrics file, by name.

    Raises ``MetricsError`` (with a message that quotes no file content beyond a JSON error
    position) when ``data`` is not UTF-8 JSON, not an object, or holds no numeric metric."""
    try:
        document = json_text.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise MetricsError("the metrics file is not UTF-8 text (expected a JSON object).") from None
    except ValueError as exc:
        raise MetricsError(f"the metrics file is not valid JSON: {exc}.") from None
    if not isinstance(document, dict):
        raise MetricsError(
            f"the metrics file holds a JSON {type(document).__name__}, not an object of metrics."
        )
    sections = [
        section
        for name, section in document.items()
        if isinstance(name, str) and name.endswith("_metrics") and isinstance(section, dict)
    ]
    metrics: dict[str, float] = {}
    for section in sections or [document]:
        for name, entry in section.items():
            value = _entry_value(entry)
            if value is not None:
                metrics.setdefault(name, value)
    if not metrics:
        raise MetricsError(
            "the metrics file holds no numeric metric: expected SageMaker model quality statistics "
            '({"binary_classification_metrics": {"auc": {"value": 0.91}}}) or a flat object '
            '({"auc": 0.91}).'
        )
    return metrics
