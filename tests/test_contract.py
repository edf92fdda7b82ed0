"""contract: the shared-test hand-off between run_many and the trainers."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from smoothlearn.contract import SharedTests


@given(st.dictionaries(st.integers(0, 9), st.lists(st.integers(100, 199), max_size=3),
                       max_size=6),
       st.lists(st.integers(0, 9), unique=True, max_size=8))
def test_a_batchs_view_renumbers_its_runs_and_records_under_the_sweeps_numbers(
        tests: dict[int, list[int]], members: list[int]) -> None:
    seen: list[tuple[int, int, list]] = []
    shared = SharedTests(tests, lambda k, step, metrics: seen.append((k, step, list(metrics))))
    local = shared.for_members(members)
    having = [k for k, i in enumerate(members) if tests.get(i)]
    if not having:
        assert local is None
        return
    assert local is not None and sorted(local.tests) == having
    for k in having:
        assert list(local.tests[k]) == tests[members[k]]
        local.report(k, 7, lambda other: (float(other), 0.0, 1.0))
        assert seen[-1] == (members[k], 7, [(float(t), 0.0, 1.0) for t in tests[members[k]]])


def test_a_run_without_shared_tests_reports_nothing() -> None:
    seen: list = []
    SharedTests({}, lambda *a: seen.append(a)).report(0, 1, lambda other: (0.0, 0.0, 0.0))
    assert seen == []
