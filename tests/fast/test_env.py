"""``import nmt`` sets TensorFlow's CPU flags, and a value the user set wins."""

import os
import subprocess
import sys

import pytest

from nmt.fast import env


@pytest.mark.parametrize(
    "variable, default, preset",
    [
        pytest.param(
            "TF_ENABLE_ONEDNN_OPTS",
            "1",
            None,
            marks=pytest.mark.skipif(not env.X86, reason="x86 only"),
        ),
        ("TF_ENABLE_ONEDNN_OPTS", "0", "0"),
        ("TF_CPU_ALLOCATOR_USE_BFC", "true", None),
        ("TF_CPU_ALLOCATOR_USE_BFC", "false", "false"),
    ],
)
def test_nmt_sets_tensorflow_defaults_unless_told_otherwise(variable, default, preset):
    env = {k: v for k, v in os.environ.items() if k != variable}
    if preset is not None:
        env[variable] = preset
    code = f"import os, nmt; print(os.environ.get('{variable}'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == default
