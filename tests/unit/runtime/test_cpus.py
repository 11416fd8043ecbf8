"""The default worker count follows the CPU quota and affinity, not the machine's CPU count."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from plano.runtime.cpus import available_cpus, cgroup_quota

AFFINITY = len(os.sched_getaffinity(0))


def _v2(tmp_path: Path, text: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "cpu.max").write_text(text)
    return tmp_path


def _v1(tmp_path: Path, quota: str, period: str) -> Path:
    (tmp_path / "cpu").mkdir(parents=True)
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text(quota)
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text(period)
    return tmp_path


@pytest.mark.parametrize(
    ("text", "quota"),
    [("max 100000", None), ("150000 100000", 1.5), ("50000 100000", 0.5), ("0 100000", None)],
)
def test_cgroup_v2_quota(tmp_path: Path, text: str, quota: float | None) -> None:
    assert cgroup_quota(_v2(tmp_path, text)) == quota


def test_cgroup_v1_quota_and_unlimited(tmp_path: Path) -> None:
    assert cgroup_quota(_v1(tmp_path / "a", "200000", "100000")) == 2.0
    assert cgroup_quota(_v1(tmp_path / "b", "-1", "100000")) is None


def test_no_cgroup_files_means_no_quota(tmp_path: Path) -> None:
    assert cgroup_quota(tmp_path) is None
    assert available_cpus(tmp_path) == AFFINITY


def test_quota_rounds_up_and_never_exceeds_affinity(tmp_path: Path) -> None:
    assert available_cpus(_v2(tmp_path / "half", "50000 100000")) == 1
    assert available_cpus(_v2(tmp_path / "big", "6400000 100000")) == AFFINITY
    if AFFINITY >= 2:
        assert available_cpus(_v2(tmp_path / "one5", "150000 100000")) == 2
