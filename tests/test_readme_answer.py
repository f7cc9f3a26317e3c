"""The README's answer is generated, not written: each committed answer it links quotes that answer's
opening sentence (``answer.json`` ``verdict``, written by the rules of report/verdict.py) word for word."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _answer_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## The answer")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def _plain(text: str) -> str:
    """Quote markers, emphasis and line breaks dropped: the sentence as a reader sees it."""
    text = re.sub(r"^> ?", "", text, flags=re.MULTILINE)
    return re.sub(r"\s+", " ", re.sub(r"[*_`]", "", text)).strip()


def linked_answers(section: str) -> list[Path]:
    return sorted({ROOT / p for p in re.findall(r"\((examples/study/results/[\w.-]+-answer\.json)\)", section)})


def test_the_readme_answer_links_committed_answers():
    answers = linked_answers(_answer_section())
    assert answers, "README's answer links no committed answer.json"
    assert all(p.exists() for p in answers), [str(p) for p in answers if not p.exists()]


def test_every_linked_answer_is_quoted_word_for_word():
    section = _plain(_answer_section())
    for path in linked_answers(_answer_section()):
        verdict = _plain(json.loads(path.read_text())["verdict"])
        assert verdict in section, f"README does not quote {path.name}'s verdict: {verdict!r}"


def test_a_reworded_answer_is_caught():
    section = _plain(_answer_section())
    verdict = _plain(json.loads(linked_answers(_answer_section())[0].read_text())["verdict"])
    assert verdict.replace("helped in", "helped on") not in section
