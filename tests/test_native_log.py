"""labkit.native_log: TensorFlow's C++ start-up notices are dropped, nothing else is.

The notices are written by native code to file descriptor 2, so each test runs a fresh Python
and reads what really reached that process's stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from labkit import native_log

# what TensorFlow 2.21 wrote on this machine (CPU only) at `import keras` and the first
# device query, copied from its stderr
NOTICES = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796604179.369205   14305 port.cc:153] oneDNN custom operations are on. You may "
    "see slightly different numerical results due to floating-point round-off errors.",
    "I0000 00:00:1796604179.369662   14305 cudart_stub.cc:31] Could not find cuda drivers on your "
    "machine, GPU will not be used.",
    "I0000 00:00:1796604179.767256   14305 cpu_feature_guard.cc:227] This TensorFlow binary is "
    "optimized to use available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild "
    "TensorFlow with the appropriate compiler flags.",
    "E0000 00:00:1796604185.142783   14305 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
    "CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
]
# lines that must still reach the learner: a real error, and text that merely mentions CUDA
KEPT = [
    "E0000 00:00:1796604185.1 14305 op_kernel.cc:1857] OP_REQUIRES failed: OOM when allocating",
    "my own message about cuInit and oneDNN custom operations",
]


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**environment, **env},
        check=True,
    )


def test_every_notice_matches_a_pattern_and_the_kept_lines_match_none():
    import re

    for line in NOTICES:
        assert any(re.search(p, line) for p in native_log.TENSORFLOW_STARTUP_NOTICES), line
    for line in KEPT:
        assert not any(re.search(p, line) for p in native_log.TENSORFLOW_STARTUP_NOTICES), line


def test_filtered_stderr_drops_the_notices_and_passes_the_rest_in_order():
    lines = [NOTICES[0], KEPT[0], NOTICES[1], KEPT[1], NOTICES[5]]
    result = _python(
        f"""
        import os, sys
        from labkit import native_log
        os.write(2, b"before\\n")
        with native_log.filtered_stderr() as dropped:
            for line in {lines!r}:
                os.write(2, (line + "\\n").encode())
        os.write(2, b"after\\n")
        print(len(dropped))
        """
    )
    assert result.stderr.splitlines() == ["before", KEPT[0], KEPT[1], "after"]
    assert result.stdout.strip() == "3"


def test_filtered_stderr_restores_fd_2_when_the_block_raises():
    result = _python(
        f"""
        import os
        from labkit import native_log
        try:
            with native_log.filtered_stderr():
                os.write(2, ({KEPT[0]!r} + "\\n").encode())
                raise RuntimeError("inside")
        except RuntimeError:
            pass
        os.write(2, b"fd 2 is back\\n")
        """
    )
    assert result.stderr.splitlines() == [KEPT[0], "fd 2 is back"]


@pytest.mark.slow
def test_import_keras_after_the_finder_writes_no_notice_and_setup_says_cpu_only():
    code = """
        import sys
        from labkit import native_log
        assert native_log.quiet_tensorflow_startup()
        assert not native_log.quiet_tensorflow_startup()  # once
        import keras
        import labkit
        assert not any(isinstance(f, native_log._QuietTensorFlowFinder) for f in sys.meta_path)
        labkit.setup()
        keras.ops.sum(keras.ops.ones((2, 2)))  # the first computation
        """
    quiet = _python(code)
    assert not any(line in quiet.stderr for line in ("absl::InitializeLog", "cuInit", "oneDNN"))
    assert quiet.stderr.strip() == "", quiet.stderr
    assert "CPU only" in quiet.stdout and "no GPU found" in quiet.stdout
    # without the finder, the same import writes the notices (so the test above means something)
    loud = _python("import keras, keras.ops as ops; ops.sum(ops.ones((2, 2)))")
    assert "absl::InitializeLog" in loud.stderr


def test_finder_does_nothing_once_tensorflow_is_imported(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", sys.modules.get("tensorflow", object()))
    assert native_log.quiet_tensorflow_startup() is False
