"""TensorFlow's CPU settings that nmt relies on, for speed and for one crash fix.

They are environment variables that TensorFlow reads while it loads, so
``nmt/__init__.py`` calls ``set_tensorflow_flags`` before any module of the package can
import TensorFlow. A value the user set is always kept. The measurements behind each
one are in docs/speed-training-step.md.
"""

from __future__ import annotations

import os
import platform

X86 = platform.machine().lower() in ("x86_64", "amd64")

# XLA's CPU backend in TensorFlow 2.21 builds its YNNPACK fusions on their first run,
# into state that every run of the same compiled function shares: two runs starting at
# once (the loss of two CPU streams, nmt/fast/cpu_streams.py) corrupt it, and the
# process dies of std::bad_alloc or a segfault in xla::cpu::EmitYnnSubgraph. Older
# TensorFlow has no such fusions and would reject the flag.
_YNN_FLAG = "--xla_cpu_experimental_ynn_fusion_type"


def set_tensorflow_flags() -> None:
    """Set the flags unless the user has; they do nothing once TensorFlow is loaded."""
    # TensorFlow turns its oneDNN CPU kernels on by default only on x86 CPUs with
    # AVX-512 VNNI/BF16 or AMX; on an AVX2-only CPU they made training faster too
    # (docs/speed-training-step.md). Other CPUs were not measured. 0 opts out.
    if X86:
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    # The BFC allocator keeps freed CPU memory for the next tensors instead of handing
    # it back: far fewer page faults and a faster step at the same peak memory
    # (docs/speed-training-step.md, "Memory: the BFC allocator").
    os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
    xla_flags = os.environ.get("XLA_FLAGS", "")
    if _tensorflow_version() >= (2, 21) and _YNN_FLAG not in xla_flags:
        os.environ["XLA_FLAGS"] = f"{xla_flags} {_YNN_FLAG}=".strip()


def _tensorflow_version() -> tuple[int, ...]:
    from importlib import metadata

    for name in ("tensorflow", "tensorflow-cpu"):
        try:
            return tuple(int(p) for p in metadata.version(name).split(".")[:2])
        except (metadata.PackageNotFoundError, ValueError):
            continue
    return ()
