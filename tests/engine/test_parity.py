"""Parity with the original, per family: a randomly initialised timm (or transformers) checkpoint, saved in
the Hub layout and served by a loopback Hugging Face Hub, goes through `zoo pull` and `zoo.load`; on real
photos its logits agree with the original library's own PyTorch forward within 1e-4 of their scale.

The timm side includes timm's preprocessing (resolve_data_config + create_transform on the files), the zoo
side zoo's decoder and resize policy and the normalisation baked into the model, so a wrong mean, crop_pct
or interpolation in an entry fails (test_a_wrong_preprocessing_field_breaks_parity). The transformers side
gets zoo's pixels (see support/parity.py) and its image processor's own normalisation.

The PyTorch side runs in ONE subprocess per module (support/timm_reference.py): torch is slow to import,
and importing it after TensorFlow in this process would segfault. The figures are printed (pytest -s) and
written to parity.json in pytest's base temporary folder.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from support.cli import zoo_main
from support.parity import BOUND, Reference, make_references, missing_libraries, relative_error
from support.realdata import photo_paths
from support.registry import write_models
from support.servers import HfServer

import zoo
from zoo.data.decode import ResizePolicy, decode_batch

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(missing_libraries() is not None, reason=str(missing_libraries())),
]

TIMM_TAGS = {
    "resnet18.a1_in1k": (),
    "resnetv2_50.a1h_in1k": (),
    "efficientnet_b0.ra_in1k": (),
    "mobilenetv3_small_100.lamb_in1k": (),  # through zoo.engine.hub_config's num_features correction
    "cspresnet50.ra_in1k": (),
}
BIG_TIMM_TAGS = ("vgg11.tv_in1k",)  # 133M parameters: a reference of its own, only when asked for
TRANSFORMERS = {"vit": (), "deit": (), "dinov2": ()}
FIGURES: dict[str, float] = {}  # name -> max relative logit error, reported at the end of the module


@pytest.fixture(scope="module")
def photos():
    return photo_paths(1)  # one real photo per TrashNet class, various sizes and aspect ratios


@pytest.fixture(scope="module")
def references(tmp_path_factory, photos) -> dict[str, Reference]:
    return make_references(tmp_path_factory.mktemp("references"), photos, TIMM_TAGS, TRANSFORMERS)


@pytest.fixture(scope="module")
def big_references(tmp_path_factory, photos) -> dict[str, Reference]:
    return make_references(tmp_path_factory.mktemp("big_references"), photos, BIG_TIMM_TAGS)


@pytest.fixture(scope="module", autouse=True)
def report(tmp_path_factory):
    yield
    if FIGURES:
        path = tmp_path_factory.getbasetemp() / "parity.json"
        path.write_text(json.dumps(FIGURES, indent=1), encoding="utf-8")
        print(f"\nparity (max |zoo - original| / max |original|), also in {path}:")
        for name, figure in FIGURES.items():
            print(f"  {name:36s} {figure:.2e}")


@pytest.fixture
def serve(monkeypatch, tmp_path):
    """serve(entries, *references): the references' repositories on a loopback Hub (HF_ENDPOINT) and the
    entries (name -> registry entry) in a user registry (ZOO_REGISTRY)."""
    servers: list[HfServer] = []

    def start(entries: dict[str, dict], *refs: Reference) -> HfServer:
        files = {key: data for ref in refs for key, data in ref.hub_files().items()}
        servers.append(HfServer(files))
        monkeypatch.setenv("HF_ENDPOINT", servers[-1].url)
        monkeypatch.setenv("ZOO_REGISTRY", str(write_models(tmp_path / "parity.yaml", entries)))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def zoo_outputs(capsys, name: str, ref: Reference, **load_args) -> tuple[np.ndarray, object]:
    """`zoo pull NAME` through the CLI, then zoo.load and zoo's decoder + resize policy on the photos."""
    code, _, err = zoo_main(capsys, "pull", name)
    assert code == 0, err
    spec = zoo.info(name)
    model = zoo.load(name, **load_args)
    images = decode_batch(ref.photos, ResizePolicy.from_spec(spec), on_bad_image="fail").images
    return np.asarray(model.predict(images.astype(np.float32), verbose=0)), model


def trainable_count(model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def check_timm(capsys, serve, ref: Reference) -> None:
    name = f"parity-{ref.name}"
    serve({name: ref.entry()}, ref)
    # the entry's policy is what timm itself resolved for this tag
    assert ref.entry()["crop_pct"] == ref.meta["data_config"]["crop_pct"]
    logits, model = zoo_outputs(capsys, name, ref)
    figure = FIGURES[ref.name] = relative_error(logits, ref.output())
    print(f"{ref.name}: {figure:.2e} (logit scale {np.abs(ref.output()).max():.3g})")
    assert figure <= BOUND, f"{ref.name}: zoo's logits differ from timm's by {figure:.2e} of their scale"
    assert trainable_count(model) == ref.meta["params"]


@pytest.mark.parametrize("tag", [pytest.param(t, marks=m) for t, m in TIMM_TAGS.items()])
def test_timm_logits_match_timms_own_forward_and_preprocessing(tag, references, serve, capsys):
    check_timm(capsys, serve, references[tag])


@pytest.mark.parametrize("tag", BIG_TIMM_TAGS)
def test_big_timm_models_match_too(tag, big_references, serve, capsys):
    check_timm(capsys, serve, big_references[tag])


@pytest.mark.parametrize(
    "wrong",
    [{"crop_pct": 0.875}, {"interpolation": "bilinear"}, {"mean": [0.5, 0.5, 0.5]}],
    ids=["crop_pct", "interpolation", "mean"],
)
def test_a_wrong_preprocessing_field_breaks_parity(wrong, references, serve, capsys):
    """The parity figure sees preprocessing: one wrong field of resnet18.a1_in1k's entry (crop_pct 0.95,
    bicubic, ImageNet mean) and zoo's logits are far outside the bound."""
    ref = references["resnet18.a1_in1k"]
    assert all(ref.entry()[key] != value for key, value in wrong.items())
    serve({"parity-wrong": ref.entry(**wrong)}, ref)
    logits, _ = zoo_outputs(capsys, "parity-wrong", ref)
    figure = relative_error(logits, ref.output())
    FIGURES[f"resnet18.a1_in1k with wrong {next(iter(wrong))}"] = figure
    assert figure > 10 * BOUND


@pytest.mark.parametrize("model_type", [pytest.param(t, marks=m) for t, m in TRANSFORMERS.items()])
def test_transformers_outputs_match_transformers_forward(model_type, references, serve, capsys):
    ref = references[model_type]
    name = f"parity-{model_type}"
    serve({name: ref.entry()}, ref)
    if model_type == "dinov2":  # keras-hub converts DINOv2's backbone only: compare every token's features
        got, _ = zoo_outputs(capsys, name, ref, include_top=False, pooling=None)
        want = ref.output("last_hidden_state")
    else:
        got, _ = zoo_outputs(capsys, name, ref)
        want = ref.output()
    figure = FIGURES[model_type] = relative_error(got, want)
    print(f"{model_type}: {figure:.2e} (output scale {np.abs(want).max():.3g})")
    if model_type == "deit":  # transformers' distilled DeiT averages its two heads; keras-hub has one
        averaged = ref.output("averaged_logits")
        FIGURES["deit against transformers' averaged logits"] = relative_error(got, averaged)
    assert figure <= BOUND, f"{model_type}: zoo's outputs differ from transformers' by {figure:.2e}"
