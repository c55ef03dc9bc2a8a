"""Every injectable fault names the blocks whose scenarios must catch it."""
from pathlib import Path

from bench.sim import faults as F

ROOT = Path(__file__).resolve().parents[2]


def test_every_fault_has_blocks_that_exist():
    assert set(F.FAULT_BLOCKS) == set(F.FAULTS)
    folders = {p.name for p in (ROOT / "scenarios").iterdir() if p.is_dir()}
    for fault, blocks in F.FAULT_BLOCKS.items():
        assert blocks and set(blocks) <= folders, (fault, blocks)
