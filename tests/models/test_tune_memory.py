"""The rows ``benchmarks/tune_memory.py`` prints for each of the memory's checks: the same
memory without one check, how many choices that changes, and the memory left as it was."""

from __future__ import annotations

import pytest
from benchmarks.tune_memory import unchecked, without_synonyms

from learn2ask.domain import load_domain
from learn2ask.models.question_memory import QuestionMemory, QuestionMemorySettings, domain_checks
from tests.models.test_question_memory import HEADACHES, PRESSURE_POINTS, REFILL, logged

pytestmark = pytest.mark.slow


def test_a_checks_row_says_what_the_check_changes_and_leaves_it_on(grader):
    settings = QuestionMemorySettings(neighbours=3, **domain_checks(load_domain("medical")))
    memory = QuestionMemory.build(PRESSURE_POINTS, settings, grader)
    # a held-out point whose user named no medicine, and whose expert went on to ask the refill
    unnamed = logged("v", "My blood pressure has been high lately.", [REFILL])
    checked = memory.choose([unnamed.context])
    assert checked == [HEADACHES]
    row = unchecked(memory, "references", grader, [unnamed], checked)
    assert row["variant"] == "  the same without the back-reference check"
    assert row["changed"] == 1  # without the check it asks the refill
    assert row["all"]["mean_r_a"] == 1.0 and row["all"]["n"] == 1
    assert memory.references and memory.choose([unnamed.context]) == checked  # still on
    # the pointing check has nothing to drop here, and the synonyms nothing to read
    assert unchecked(memory, "pointing", grader, [unnamed], checked)["changed"] == 0
    plain = without_synonyms(memory, PRESSURE_POINTS, grader, [unnamed], checked)
    assert plain["variant"] == "  the same without the domain's synonyms"
    assert plain["changed"] == 0
    assert memory.settings.synonyms  # the memory itself keeps them
