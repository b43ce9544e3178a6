"""nmt: LSTM sequence-to-sequence translation with additive attention."""

import os

# TensorFlow turns its oneDNN CPU kernels on by default only on CPUs with AVX-512
# VNNI/BF16 or AMX. On an AVX2-only CPU they made the training step 1.16x as fast
# (docs/speed.md), so nmt asks for them too. It only works before TensorFlow is
# imported, and a value the user set (0 opts out) is kept.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "0.1.0"
