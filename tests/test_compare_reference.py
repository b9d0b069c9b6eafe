"""docs/compare_config.md is generated from CompareConfig: every field documented, the page current."""

from pathlib import Path

from analysis.compare_config import INTEGER_BOUNDS, NUMBER_BOUNDS, flat_fields
from analysis.compare_reference import FIELD_DOCS, REGENERATE, compare_reference

PAGE = Path(__file__).resolve().parents[1] / "docs" / "compare_config.md"


def test_every_field_has_a_doc_and_every_doc_a_field():
    names = set(flat_fields())
    assert names == set(FIELD_DOCS)
    for name, doc in FIELD_DOCS.items():   # a range comes from the validator's table or from the doc, never both
        assert bool(doc.allowed) != (name in INTEGER_BOUNDS or name in NUMBER_BOUNDS), name
        assert doc.meaning


def test_the_page_equals_the_generated_text():
    assert PAGE.read_text() == compare_reference(), f"docs/compare_config.md is stale: run {REGENERATE}"
