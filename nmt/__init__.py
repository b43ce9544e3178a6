"""nmt: LSTM sequence-to-sequence translation with additive attention."""

import os
import platform

# TensorFlow turns its oneDNN CPU kernels on by default only on x86 CPUs with AVX-512
# VNNI/BF16 or AMX. On an AVX2-only CPU they made the training step 1.16x as fast
# (docs/speed.md), so nmt asks for them on every x86 CPU; other CPUs were not
# measured. It only works before TensorFlow is imported, and a value the user set
# (0 opts out) is kept.
if platform.machine().lower() in ("x86_64", "amd64"):
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "0.1.0"
