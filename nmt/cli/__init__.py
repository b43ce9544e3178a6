"""The ``nmt`` command line."""
