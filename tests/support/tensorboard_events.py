"""TensorBoard event files read back by TensorFlow's own reader (the tensorboard package is not installed):
tf.compat.v1.train.summary_iterator parses each record and checks its CRCs."""

from __future__ import annotations

from pathlib import Path


def events(folder: Path) -> list:
    """Every Event proto of the one event file in `folder`, in order."""
    import tensorflow as tf

    (path,) = folder.glob("events.out.tfevents.*")
    return list(tf.compat.v1.train.summary_iterator(str(path)))


def scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value), ...]} of the scalar summaries in `folder`'s event file."""
    import tensorflow as tf

    found: dict[str, list[tuple[int, float]]] = {}
    for event in events(folder):
        for value in event.summary.value:
            assert value.metadata.plugin_data.plugin_name == "scalars", value
            found.setdefault(value.tag, []).append((event.step, float(tf.make_ndarray(value.tensor))))
    return found
