"""The Typer CLI: one module per command group, thin wrappers over the Python API.

Command modules are imported at start-up, so they must not import TensorFlow or pandas at module level.
"""
