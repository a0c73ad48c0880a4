"""Memory: how labkit finds a session's limit (cgroup v1, v2, $MEM_LIMIT) and reports it."""

from __future__ import annotations

from pathlib import Path

import pytest

import labkit
from labkit.runtime import MEMORY_LIMIT_ENV, memory_limit_mib

GIB = 2**30


def fake_cgroups(tmp_path: Path, *, v1: str | None = None, v2: str | None = None) -> dict:
    """A /proc/self/cgroup and a /sys/fs/cgroup tree as a container sees them (group at the root).

    v1, v2: the text of memory.limit_in_bytes / memory.max, or None for no such controller.
    """
    root = tmp_path / "cgroup"
    root.mkdir(parents=True)
    lines = []
    if v1 is not None:
        (root / "memory").mkdir(parents=True)
        (root / "memory" / "memory.limit_in_bytes").write_text(v1 + "\n")
        lines.append("4:memory:/")
    if v2 is not None:
        (root / "memory.max").write_text(v2 + "\n")
        lines.append("0::/")
    proc = tmp_path / "proc_cgroup"
    proc.write_text("\n".join(["7:cpu,cpuacct:/", *lines]) + "\n")
    return {"cgroup_root": str(root), "proc_cgroup": str(proc)}


@pytest.fixture(autouse=True)
def no_env_limit(monkeypatch):
    monkeypatch.delenv(MEMORY_LIMIT_ENV, raising=False)


def test_cgroup_v1_limit_of_a_binder_sized_container(tmp_path):
    assert memory_limit_mib(**fake_cgroups(tmp_path, v1=str(2 * GIB))) == 2048.0


def test_cgroup_v2_limit_and_max(tmp_path):
    assert memory_limit_mib(**fake_cgroups(tmp_path, v2=str(GIB + GIB // 2))) == 1536.0
    assert memory_limit_mib(**fake_cgroups(tmp_path / "max", v2="max")) is None


def test_v1_no_limit_sentinel_and_missing_files_mean_no_limit(tmp_path):
    assert memory_limit_mib(**fake_cgroups(tmp_path, v1="9223372036854771712")) is None
    assert memory_limit_mib(**fake_cgroups(tmp_path / "none")) is None
    missing = {"cgroup_root": str(tmp_path / "absent"), "proc_cgroup": str(tmp_path / "absent")}
    assert memory_limit_mib(**missing) is None


def test_v1_group_below_the_mount_on_a_host(tmp_path):
    """Outside a container /proc/self/cgroup names the group's path below the mount."""
    root = tmp_path / "cgroup"
    group = root / "memory" / "labkit-test"
    group.mkdir(parents=True)
    (group / "memory.limit_in_bytes").write_text(str(GIB))
    proc = tmp_path / "proc_cgroup"
    proc.write_text("4:memory:/labkit-test\n")
    assert memory_limit_mib(cgroup_root=str(root), proc_cgroup=str(proc)) == 1024.0


def test_mem_limit_env_and_the_smallest_limit_wins(tmp_path, monkeypatch):
    paths = fake_cgroups(tmp_path, v1=str(4 * GIB))
    monkeypatch.setenv(MEMORY_LIMIT_ENV, str(2 * GIB))
    assert memory_limit_mib(**paths) == 2048.0
    monkeypatch.setenv(MEMORY_LIMIT_ENV, str(8 * GIB))
    assert memory_limit_mib(**paths) == 4096.0


def test_a_limit_above_the_ram_limits_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv(MEMORY_LIMIT_ENV, str(1 << 60))
    assert memory_limit_mib(**fake_cgroups(tmp_path)) is None


def test_a_malformed_mem_limit_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "2G")
    with pytest.raises(ValueError, match=r"MEM_LIMIT='2G' is not a memory limit in bytes"):
        memory_limit_mib(**fake_cgroups(tmp_path))


def test_setup_reports_the_memory_limit(capsys, monkeypatch):
    monkeypatch.setenv(MEMORY_LIMIT_ENV, str(2 * GIB))
    labkit.setup(seed=1)
    assert "memory: 2.0 GiB limit" in capsys.readouterr().out
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "nonsense")
    labkit.setup(seed=1)  # a wrong $MEM_LIMIT must not stop the lesson: the line says so
    assert "memory: UNKNOWN" in capsys.readouterr().out


# --- make bench-memory: a lesson inside a memory cgroup (bench/memory.py) ---

REPO = Path(__file__).resolve().parents[1]
CGROUP_MEMORY = Path("/sys/fs/cgroup/memory")


def load_bench_memory():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_memory", REPO / "bench" / "memory.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def cgroup_v1():
    import os

    if not (CGROUP_MEMORY / "memory.limit_in_bytes").exists() or os.geteuid() != 0:
        reason = "needs root and cgroup v1's memory controller at /sys/fs/cgroup/memory"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI machines have both)")
        pytest.skip(reason)
    return CGROUP_MEMORY


@pytest.fixture
def allocating_lesson(tmp_path):
    """A one-lesson curriculum whose notebook holds ALLOCATE_MIB of memory, then reads the
    limit labkit sees (the kernel is inside the group)."""
    import nbformat
    import yaml

    notebook = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell("SEED = 0\nALLOCATE_MIB = 50")
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [
        parameters,
        nbformat.v4.new_code_cell(
            "import numpy as np\nimport labkit\nfrom labkit.runtime import memory_limit_mib\n"
            "block = np.ones(ALLOCATE_MIB * 2**20, dtype=np.uint8)\n"
            "labkit.record('allocated_mib', block.nbytes / 2**20)\n"
            "labkit.record('limit_seen_mib', memory_limit_mib() or 0)"
        ),
    ]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(notebook, tmp_path / "99_allocate.ipynb")
    curriculum = {
        "resources": {"peak_memory_mb": {"full": 400}},
        "lessons": [
            {
                "notebook": "99_allocate.ipynb",
                "title": "Allocate",
                "bars": {"allocated_mib": {"full": 1}},
            }
        ],
    }
    path = tmp_path / "curriculum.yaml"
    path.write_text(yaml.safe_dump(curriculum))
    return path


def test_bench_memory_passes_a_lesson_that_fits_and_the_kernel_sees_the_limit(
    cgroup_v1, allocating_lesson, tmp_path
):
    bench = load_bench_memory()
    result = bench.run_lesson_limited(
        "99_allocate.ipynb",
        limit_mib=700,
        profile="full",
        out=tmp_path / "run",
        curriculum=allocating_lesson,
    )
    assert result["status"] == "passed", result
    assert result["oom_kills"] == 0
    assert result["metrics"]["allocated_mib"] == 50
    assert result["metrics"]["limit_seen_mib"] == 700  # labkit.setup() would say so
    assert 50 < result["kernel_peak_pss_mib"] < 400
    assert result["group_peak_usage_mib"] <= 700
    assert list(cgroup_v1.glob("labkit-bench-memory-*")) == []  # the group is removed


def test_bench_memory_reports_a_kernel_killed_over_the_limit(
    cgroup_v1, allocating_lesson, tmp_path
):
    bench = load_bench_memory()
    result = bench.run_lesson_limited(
        "99_allocate.ipynb",
        limit_mib=700,
        profile="full",
        out=tmp_path / "run",
        curriculum=allocating_lesson,
        parameters=[("ALLOCATE_MIB", "900")],
    )
    assert result["status"] == "killed", result
    assert result["oom_kills"] >= 1
    assert result["exit_code"] != 0


def test_bench_memory_names_lessons_by_number_or_notebook(allocating_lesson):
    bench = load_bench_memory()
    curriculum = REPO / "notebooks" / "curriculum.yaml"
    assert bench.lesson_notebooks(["8", "09_lstm_sentiment.ipynb"], curriculum) == [
        "08_transfer_learning.ipynb",
        "09_lstm_sentiment.ipynb",
    ]
    assert len(bench.lesson_notebooks([], curriculum)) >= 17
    with pytest.raises(SystemExit, match="'99' names 0 lessons"):
        bench.lesson_notebooks(["99"], curriculum)
