"""CPU speed paths over the model's own variables.

Each is checked against the plain path of ``nmt.model`` by ``tests/fast/``.
"""
