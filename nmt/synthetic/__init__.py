"""The synthetic attention benchmark (an attention_3d_block on random sequences)."""
