"""nmt: LSTM sequence-to-sequence translation with additive attention."""

__version__ = "0.1.0"
