"""nmt: LSTM sequence-to-sequence translation with additive attention."""

# First, before any nmt module imports TensorFlow: these flags only count while it loads.
from nmt.fast.env import set_tensorflow_flags

set_tensorflow_flags()

__version__ = "0.1.0"
