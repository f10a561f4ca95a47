"""Request bodies to feature arrays, predictions to response bodies: what the frameworks share.

Every parser returns a 2-D float64 array, one row per instance (a single flat row of numbers is one
instance), and raises :class:`ModelInputError` with a message for the caller when the body is bad.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from scipy.sparse import csr_matrix

from modelreg import json_text
from modelreg.serving.frameworks import ModelInputError, UnsupportedContentType

CSV = "text/csv"
JSON = "application/json"
NPY = "application/x-npy"
LIBSVM = "text/libsvm"
X_LIBSVM = "text/x-libsvm"


def media_type(header: str) -> str:
    """The media type of a Content-Type or Accept value, lower case, without its parameters."""
    return header.partition(";")[0].strip().lower()


def request_type(content_type: str, supported: Sequence[str], default: str) -> str:
    """The media type of the request body: ``default`` when the header is empty or ``*/*``."""
    kind = media_type(content_type)
    if kind in ("", "*/*"):
        return default
    if kind not in supported:
        raise UnsupportedContentType(
            f"Content type {kind!r} is not supported; supported: {', '.join(supported)}."
        )
    return kind


def response_type(accept: str, supported: Sequence[str], default: str) -> str:
    """The first media type of the Accept header that is supported; ``default`` for ``*/*`` or
    an empty header."""
    for item in accept.split(","):
        kind = media_type(item)
        if kind in ("", "*/*"):
            return default
        if kind in supported:
            return kind
    raise UnsupportedContentType(
        f"Accept type {accept.strip()!r} is not supported; supported: {', '.join(supported)}."
    )


def _text(body: bytes, kind: str) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ModelInputError(f"The {kind} body is not UTF-8 text: {error}.") from error


def _rows(array: np.ndarray, kind: str) -> np.ndarray:
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2:
        raise ModelInputError(
            f"The {kind} body holds a {array.ndim}-dimensional array; send rows of features."
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ModelInputError(f"The {kind} body holds no features.")
    return array


def csv_rows(body: bytes) -> np.ndarray:
    """Rows of comma-separated numbers, no header; an empty field is a missing value (NaN)."""
    rows = [line.split(",") for line in _text(body, CSV).splitlines() if line.strip()]
    if not rows:
        raise ModelInputError("The text/csv body holds no rows.")
    widths = {len(row) for row in rows}
    if len(widths) > 1:
        raise ModelInputError(f"The text/csv rows have different numbers of fields: {sorted(widths)}.")
    try:
        return np.array(rows, dtype=np.float64)
    except ValueError:
        cleaned = [[field.strip() or "nan" for field in row] for row in rows]
    try:
        return np.array(cleaned, dtype=np.float64)
    except ValueError as error:
        raise ModelInputError(f"The text/csv body holds a field that is not a number: {error}.") from error


def json_rows(body: bytes) -> np.ndarray:
    """A JSON list of rows (or one row), ``{"instances": [...]}`` whose instances are rows or
    ``{"features": [...]}``, or a single ``{"features": [...]}``; ``null`` is a missing value."""
    try:
        document = json_text.loads(body)
    except ValueError as error:
        raise ModelInputError(f"The application/json body is not valid JSON: {error}.") from error
    if isinstance(document, dict):
        if "instances" in document:
            document = document["instances"]
        elif "features" in document:
            document = [document]
        else:
            raise ModelInputError(
                'The application/json body is an object without "instances" or "features"; send '
                '{"instances": [[...], ...]} or a list of rows.'
            )
    if isinstance(document, list):
        document = [
            row["features"] if isinstance(row, dict) and "features" in row else row for row in document
        ]
    try:
        array = np.array(document, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ModelInputError(
            f"The application/json body is not rows of numbers of the same length: {error}."
        ) from error
    return _rows(array, JSON)


def npy_rows(body: bytes) -> np.ndarray:
    """An array in NumPy's ``.npy`` format (never unpickled); a 1-D array is one row."""
    try:
        array = np.load(io.BytesIO(body), allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise ModelInputError(f"The application/x-npy body is not a NumPy array: {error}.") from error
    if not isinstance(array, np.ndarray):
        raise ModelInputError("The application/x-npy body is not a NumPy array.")
    return _rows(array, NPY)


def libsvm_matrix(body: bytes, n_features: int) -> csr_matrix:
    """LIBSVM rows ``[label] index:value ...`` (indices are column numbers from 0) as a sparse
    matrix of ``n_features`` columns; the label, if any, is ignored, absent features are missing."""
    rows: list[int] = []
    columns: list[int] = []
    values: list[float] = []
    lines = [line for line in _text(body, LIBSVM).splitlines() if line.strip()]
    if not lines:
        raise ModelInputError("The text/libsvm body holds no rows.")
    for row, line in enumerate(lines):
        for item in line.split():
            index, colon, text = item.partition(":")
            if not colon:
                continue
            try:
                column, value = int(index), float(text)
            except ValueError as error:
                raise ModelInputError(
                    f"Row {row + 1} of the text/libsvm body has the malformed feature {item!r}."
                ) from error
            if not 0 <= column < n_features:
                raise ModelInputError(
                    f"Row {row + 1} of the text/libsvm body has feature index {column}; the model "
                    f"has {n_features} features (indices 0 to {n_features - 1})."
                )
            rows.append(row)
            columns.append(column)
            values.append(value)
    return csr_matrix((values, (rows, columns)), shape=(len(lines), n_features), dtype=np.float64)


def check_width(rows: np.ndarray, n_features: int | None, kind: str) -> None:
    """Raise :class:`ModelInputError` unless every row has the model's ``n_features`` features."""
    if n_features is not None and rows.shape[1] != n_features:
        raise ModelInputError(
            f"The {kind} rows have {rows.shape[1]} features; the model expects {n_features}."
        )


def npy_bytes(array: np.ndarray) -> bytes:
    """``array`` in NumPy's ``.npy`` format."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()
