"""Data: the one image decoder (zoo.data.decode) and image folders / CSVs -> batches of raw RGB.

Nothing here imports TensorFlow at import time; modules need nothing of zoo but `zoo.errors`.
"""
