"""docs/api-coverage.md lists exactly the operations that are implemented."""

from __future__ import annotations

from pathlib import Path

from modelreg.aws.coverage import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "api-coverage.md"


def test_api_coverage_page_is_current() -> None:
    assert DOC.read_text() == render(), (
        "docs/api-coverage.md is out of date: run `python -m modelreg.aws.coverage > docs/api-coverage.md`"
    )
    assert "| CreateModelPackage | implemented |" in DOC.read_text()
