"""The translation model: ids in, logits and attention weights out.

The plain path, written like the equations; ``nmt.fast`` runs the same math faster on CPUs.
"""
