"""The fast paths stay fast: `import zoo`, `zoo --help`, `zoo list` and `zoo info` import neither TensorFlow
nor pandas (checked in a fresh interpreter, where nothing else has imported them yet)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

HEAVY = ("tensorflow", "keras", "jax", "torch", "pandas", "openvino", "nncf")

PROBE = textwrap.dedent(
    """
    import contextlib, io, json, sys
    import zoo
    loaded = {"import zoo": sorted(m for m in HEAVY if m in sys.modules)}
    from zoo.cli.app import main
    for argv in (["--help"], ["list"], ["list", "--json", "--source", "classic"], ["info", "resnet50"],
                 ["info", "mobilenet", "--json"], ["list", "--help"]):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(argv)
        loaded[" ".join(argv)] = {"exit": code, "printed": len(out.getvalue()),
                                  "heavy": sorted(m for m in HEAVY if m in sys.modules)}
    print(json.dumps(loaded))
    """
)


@pytest.mark.timeout(300)  # the child is allowed 120 s
def test_fast_paths_import_neither_tensorflow_nor_pandas() -> None:
    code = f"HEAVY = {HEAVY!r}\n{PROBE}"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded.pop("import zoo") == []
    for command, seen in loaded.items():
        assert seen["exit"] == 0, command
        assert seen["printed"] > 0, command
        assert seen["heavy"] == [], f"`zoo {command}` imported {seen['heavy']}"


@pytest.mark.timeout(300)  # the child is allowed 120 s
def test_list_models_brings_pandas_only_when_called() -> None:
    code = (
        "import sys, zoo; list_models = zoo.list_models; assert 'pandas' not in sys.modules; "
        "list_models(); print('pandas' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
