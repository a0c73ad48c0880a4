"""labkit.native_log: TensorFlow's C++ notices are dropped, nothing else is.

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
    # later, while lessons 09 and 11 train and lesson 15 runs TensorFlow Lite
    "E0000 00:00:1796605556.577079    4307 util.cc:131] oneDNN supports DT_BOOL only on platforms "
    "with AVX-512. Falling back to the default Eigen-based implementation if present.",
    "E0000 00:00:1796606267.864126   20898 meta_optimizer.cc:967] remapper failed: "
    "INVALID_ARGUMENT: Mutation::Apply error: fanout 'gradient_tape/discriminator_1/"
    "leaky_re_lu_3_1/LeakyRelu/LeakyReluGrad' exist for missing node "
    "'discriminator_1/conv2d_1_2/BiasAdd'.",
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
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
        assert any(re.search(p, line) for p in native_log.TENSORFLOW_NOTICES), line
    for line in KEPT:
        assert not any(re.search(p, line) for p in native_log.TENSORFLOW_NOTICES), line


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


def test_filter_stderr_drops_the_notices_for_good_and_children_inherit_it():
    lines = [NOTICES[0], KEPT[0], NOTICES[6], KEPT[1], NOTICES[8]]
    result = _python(
        f"""
        import os, subprocess, sys, time
        from labkit import native_log
        os.write(2, b"before\\n")
        assert native_log.filter_stderr()
        assert not native_log.filter_stderr()  # once per process
        for line in {lines!r}:
            os.write(2, (line + "\\n").encode())
        child = "import os; os.write(2, " + repr(({NOTICES[1]!r} + "\\n").encode()) + ")"
        subprocess.run([sys.executable, "-c", child], check=True)
        os.write(2, b"no newline")
        time.sleep(0.5)  # a partial line is passed on after a moment
        os.write(2, b"\\nafter\\n")
        print(len(native_log.dropped_lines), os.environ["TF_CPP_MIN_LOG_LEVEL"])
        """
    )
    assert result.stderr.splitlines() == ["before", KEPT[0], KEPT[1], "no newline", "after"]
    assert result.stdout.split() == ["4", "2"]  # three here, one from the child


@pytest.mark.slow
def test_import_keras_in_a_filtered_process_shows_nothing_and_setup_says_cpu_only():
    code = """
        from labkit import native_log
        native_log.filter_stderr()
        import keras
        import labkit
        labkit.setup()
        keras.ops.sum(keras.ops.ones((2, 2)))  # the first computation
        """
    quiet = _python(code)
    assert quiet.stderr.strip() == "", quiet.stderr
    assert "CPU only" in quiet.stdout and "no GPU found" in quiet.stdout
    # without the filter, the same import writes the notices (so the test above means something)
    loud = _python("import keras, keras.ops as ops; ops.sum(ops.ones((2, 2)))")
    assert "absl::InitializeLog" in loud.stderr


def test_import_labkit_filters_only_inside_a_kernel():
    plain = _python("import labkit; from labkit import native_log; print(native_log._installed)")
    assert plain.stdout.strip() == "None"  # a script or a server keeps its own stderr
    kernel = _python(
        "import sys, types; sys.modules['ipykernel'] = types.ModuleType('ipykernel')\n"
        "import labkit; from labkit import native_log; print(native_log._installed is not None)"
    )
    assert kernel.stdout.strip() == "True"
