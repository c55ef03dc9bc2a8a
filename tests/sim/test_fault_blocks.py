"""Every injectable fault names the blocks (or block/scenario files) that must catch it."""
from pathlib import Path

from bench.sim import faults as F

ROOT = Path(__file__).resolve().parents[2]


def test_every_fault_has_targets_that_exist():
    assert set(F.FAULT_BLOCKS) == set(F.FAULTS)
    for fault, targets in F.FAULT_BLOCKS.items():
        assert targets, fault
        for target in targets:
            path = ROOT / "scenarios" / target
            assert path.is_dir() or path.with_suffix(".yaml").is_file(), (fault, target)
