"""nmt: LSTM sequence-to-sequence translation with additive attention."""

import os
import platform

# TensorFlow turns its oneDNN CPU kernels on by default only on x86 CPUs with AVX-512
# VNNI/BF16 or AMX. On an AVX2-only CPU they made the training step 1.16x as fast
# (docs/speed.md), so nmt asks for them on every x86 CPU; other CPUs were not
# measured. It only works before TensorFlow is imported, and a value the user set
# (0 opts out) is kept.
X86 = platform.machine().lower() in ("x86_64", "amd64")
if X86:
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

# TensorFlow's BFC allocator keeps freed CPU memory for the next tensors instead of
# handing it back. Without it a training step of the benchmark model on a 2-core AVX2
# CPU took about 2 thousand page faults with oneDNN (75 thousand without), and was
# slower: 0.612 against 0.572 s (mean of 6 alternated runs, 5 faster with BFC) at the
# same peak memory (docs/speed.md). Like the line above, it works only before
# TensorFlow's first allocation, and a user's value wins.
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")


def _tensorflow_version() -> tuple[int, ...]:
    from importlib import metadata

    for name in ("tensorflow", "tensorflow-cpu"):
        try:
            return tuple(int(p) for p in metadata.version(name).split(".")[:2])
        except (metadata.PackageNotFoundError, ValueError):
            continue
    return ()


# XLA's CPU backend in TensorFlow 2.21 builds its YNNPACK fusions on their first run,
# into state that every run of the same compiled function shares: two runs starting at
# once (the loss of two CPU streams, nmt/fast/cpu_streams.py) corrupt it, and the process
# dies of std::bad_alloc or a segfault in xla::cpu::EmitYnnSubgraph (3 of 4 runs of 25
# steps of new shapes; none of 6 without the fusions). Turning them off cost the loss
# about 1 ms in 15. Older TensorFlow has no such fusions and would reject the flag.
_YNN_FLAG = "--xla_cpu_experimental_ynn_fusion_type"
if _tensorflow_version() >= (2, 21) and _YNN_FLAG not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_YNN_FLAG}=".strip()

__version__ = "0.1.0"
