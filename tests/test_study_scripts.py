"""examples/study/replication.py: the same cells on two machines, and the Δs the verdict rests on."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "study"))
replication = pytest.importorskip("replication")


def test_baseline_of_a_synthetic_cell_keeps_detector_seed_budget_and_fold():
    assert replication._baseline("yolo", 1, "steps", 2) == "yolo__real__g-__r0__s1__bsteps__f2"
    assert replication._baseline("yolo", 0, "epochs", 0) == "yolo__real__g-__r0__s0__f0"


def test_compare_pairs_cells_and_specimen_deltas_across_machines():
    def cell(v, seed=0, **spec):
        return {"value": v, "baseline": f"d__real__g-__r0__s{seed}__f0", "by_specimen": spec}

    a = {"d__real__g-__r0__s0__f0": cell(0.7, S5=0.6, S8=0.8), "d__p__g-__r1__s0__f0": cell(0.75, S5=0.7, S8=0.8),
         "d__real__g-__r0__s1__f0": cell(0.5, seed=1)}
    b = {"d__real__g-__r0__s0__f0": cell(0.7, S5=0.6, S8=0.8), "d__p__g-__r1__s0__f0": cell(0.65, S5=0.5, S8=0.8)}
    res = replication.compare(a, b)
    assert [c["id"] for c in res["cells"]] == ["d__p__g-__r1__s0__f0", "d__real__g-__r0__s0__f0"]
    assert res["identical"] == 1 and res["n"] == 2 and res["max_abs_diff"] == pytest.approx(0.1)
    assert {(d["specimen"], round(d["a"], 3), round(d["b"], 3)) for d in res["deltas"]} == \
           {("S5", 0.1, -0.1), ("S8", 0.0, 0.0)}
