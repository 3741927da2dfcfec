"""The registry: validation errors name the entry and the field; the built-in data agrees with its sources."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from support import REPO
from support.registry import write_models

from zoo import registry as reg
from zoo.errors import RegistryError, UnknownModel
from zoo.registry import load_registry, parse_accuracy, parse_count, read_registry_file

KERAS_APPS = Path(importlib.util.find_spec("keras").origin).parent / "src" / "applications"  # no TF import

# The models the keras.io applications table covers, by constructor (MobileNet: only alpha 1.0 at 224).
KERAS_IO_ROWS = {
    "Xception", "VGG16", "VGG19", "ResNet50", "ResNet50V2", "ResNet101", "ResNet101V2", "ResNet152",
    "ResNet152V2", "InceptionV3", "InceptionResNetV2", "MobileNet", "MobileNetV2", "DenseNet121",
    "DenseNet169", "DenseNet201", "NASNetMobile", "NASNetLarge", *(f"EfficientNetB{i}" for i in range(8)),
    *(f"EfficientNetV2{v}" for v in ("B0", "B1", "B2", "B3", "S", "M", "L")),
    *(f"ConvNeXt{v}" for v in ("Tiny", "Small", "Base", "Large", "XLarge")),
}  # fmt: skip

VALID = {
    "arch": "MobileNet",
    "args": {"alpha": 0.25},
    "module": "mobilenet",
    "family": "mine",
    "input_size": 224,
    "preprocess": "tf",
    "params": 475544,
    "published": [{"source": "mine", "top1": "0.5"}],
    "weights": {"notop": {"file": "w.h5", "sha256": "a" * 64, "sources": ["https://example.org/w.h5"]}},
}


def entry(**changes: object) -> dict:
    data = {**VALID, **changes}
    return {k: v for k, v in data.items() if v is not None}


def registry_error(tmp_path: Path, raw: dict, name: str = "mine") -> str:
    path = write_models(tmp_path / "user.yaml", {name: raw})
    with pytest.raises(RegistryError) as info:
        load_registry([path])
    return str(info.value)


# ---------------------------------------------------------------------------------------- validation
def test_valid_user_entry_loads_next_to_builtins(tmp_path: Path) -> None:
    registry = load_registry([write_models(tmp_path / "user.yaml", {"mine": entry(aliases=["my-net"])})])
    spec = registry.get("MY-NET")
    assert spec.name == "mine" and spec.origin == str(tmp_path / "user.yaml")
    assert spec.weight("notop").sha256 == "a" * 64
    assert "resnet50" in registry and len(registry) == len(load_registry()) + 1


@pytest.mark.parametrize(
    ("raw", "field", "problem"),
    [
        (entry(arch=None), "arch", "is missing"),
        (entry(input_size="big"), "input_size", "must be int, got str 'big'"),
        (entry(input_size=True), "input_size", "must be int, got bool"),
        (entry(tags="mobile"), "tags", "must be list"),
        (
            entry(preprocess="inception"),
            "preprocess",
            "must be one of caffe, tf, torch, normalize, none",
        ),
        (entry(arch="os.system"), "arch", "'os.system' is not a keras.applications constructor"),
        (entry(arch="Resnet50"), "arch", "did you mean 'ResNet50'?"),
        (entry(module="subprocess"), "module", "is not a keras.applications module"),
        (entry(args={"weights": "/tmp/evil.h5"}), "args.weights", "is not allowed"),
        (entry(args={"alpha": {"x": 1}}), "args.alpha", "must be a number"),
        (entry(args={"alpha": 0.25, "input_shape": [128, 128, 3]}), "args.input_shape", "match input_size"),
        (entry(aliases=["My Net"]), "aliases", "must be lowercase"),
        (entry(override="yes"), "override", "must be bool"),
        (entry(published=[{"source": "mine", "top1": 0.790}]), "published[0].top1", "quoted string"),
        (entry(published=[{"source": "mine", "top1": "high"}]), "published[0].top1", "not a number"),
        (entry(published=[{"top1": "0.5"}]), "published[0].source", "is missing"),
        (entry(published=[{"source": "a"}, {"source": "a"}]), "published", "more than once"),
        (entry(weights={"notop": {"file": "w.h5", "md5": "abc"}}), "weights.notop.md5", "32 lowercase hex"),
        (
            entry(weights={"notop": {"file": "w.h5", "sha256": "A" * 64}}),
            "weights.notop.sha256",
            "64 lowercase",
        ),
        (entry(weights={"notop": {"sources": []}}), "weights.notop.file", "is missing"),
        (entry(weights={"notop": {"file": "../w.h5"}}), "weights.notop.file", "bare file name"),
        (
            entry(weights={"notop": {"file": "w.h5", "sources": ["ftp://x/w.h5"]}}),
            "weights.notop.sources",
            "URL",
        ),
        (entry(weights={"mid": {"file": "w.h5"}}), "weights", "unknown variant 'mid'"),
        (
            entry(weights={"notop": {"file": "w.h5", "md5": "a" * 32, "checksum_source": "vendor"}}),
            "weights.notop.checksum_source",
            "must be one of published, pinned; got 'vendor'",
        ),
        (
            entry(weights={"notop": {"file": "w.h5", "checksum_source": "published"}}),
            "weights.notop.checksum_source",
            "gives no sha256 or md5",
        ),
        (
            entry(weights={"notop": {"file": "w.h5", "sha256": "a" * 64, "checksum_sorce": "published"}}),
            "weights.notop",
            "unknown keys: checksum_sorce",
        ),
    ],
)
def test_malformed_entry_names_entry_and_field(tmp_path: Path, raw: dict, field: str, problem: str) -> None:
    message = registry_error(tmp_path, raw)
    assert f"model 'mine': field '{field}'" in message
    assert problem in message
    assert str(tmp_path / "user.yaml") in message


def test_checksum_source_is_read_and_unstated_means_pinned(tmp_path: Path) -> None:
    weights = {
        "top": {"file": "t.h5", "md5": "b" * 32, "checksum_source": "published"},
        "notop": {"file": "n.h5", "sha256": "a" * 64},  # nobody said who vouches for it
    }
    spec = load_registry([write_models(tmp_path / "user.yaml", {"mine": entry(weights=weights)})]).get("mine")
    assert spec.weight("top").checksum_trust == "published"
    notop = spec.weight("notop")
    assert notop.checksum_source == "pinned" and notop.checksum_trust == "pinned"


def test_resolve_takes_a_spec_as_is_or_looks_a_name_up() -> None:
    spec = reg.get("resnet50")
    assert reg.resolve(spec) is spec
    assert reg.resolve(" ResNet50 ") is spec
    with pytest.raises(UnknownModel, match="did you mean 'resnet50'"):
        reg.resolve("resnt50")


def test_unknown_field_and_bad_name_are_rejected(tmp_path: Path) -> None:
    assert "unknown fields: colour" in registry_error(tmp_path, entry(colour="red"))
    assert "name must be lowercase" in registry_error(tmp_path, entry(), name="Mine Net")


def test_duplicate_name_or_alias_needs_override(tmp_path: Path) -> None:
    message = registry_error(tmp_path, entry(), name="resnet50")
    assert "name 'resnet50' is already used by 'resnet50'" in message
    message = registry_error(tmp_path, entry(aliases=["mobilenet"]))
    assert "alias 'mobilenet' is already used by 'mobilenet_v1_100_224'" in message
    two = write_models(tmp_path / "two.yaml", {"a1": entry(aliases=["same"]), "a2": entry(aliases=["same"])})
    with pytest.raises(RegistryError, match="model 'a2': alias 'same' is already used by 'a1'"):
        load_registry([two])


def test_user_entry_overrides_builtin_only_when_it_says_so(tmp_path: Path, monkeypatch) -> None:
    path = write_models(
        tmp_path / "user.yaml",
        {"resnet50": entry(arch="ResNet50", module="resnet", args=None, override=True)},
    )
    monkeypatch.setenv("ZOO_REGISTRY", str(path))
    registry = load_registry()
    assert registry.get("resnet50").origin == str(path)
    assert registry.get("resnet50").params == 475544
    # an override may not steal another entry's alias
    write_models(path, {"resnet50": entry(aliases=["mobilenet"], override=True)})
    with pytest.raises(RegistryError, match="alias 'mobilenet' is already used"):
        load_registry()


def test_registry_d_files_are_read(tmp_path: Path) -> None:
    from zoo import config

    config.user_registry_dir().mkdir(parents=True)
    write_models(config.user_registry_dir() / "mine.yaml", {"mine": entry()})
    assert load_registry().get("mine").family == "mine"


def test_unreadable_or_malformed_files_are_registry_errors(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="cannot read registry file"):
        read_registry_file(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [unclosed")
    with pytest.raises(RegistryError, match="not valid YAML"):
        read_registry_file(bad)
    bad.write_text("- a list")
    with pytest.raises(RegistryError, match="top-level mapping"):
        read_registry_file(bad)


def test_yaml_tags_cannot_run_code(tmp_path: Path) -> None:
    evil = tmp_path / "evil.yaml"
    evil.write_text("models: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(RegistryError, match="not valid YAML"):
        read_registry_file(evil)


def test_unknown_name_suggests_the_nearest_name_or_alias() -> None:
    registry = load_registry()
    with pytest.raises(UnknownModel, match=r"^unknown model 'resnt50'; did you mean 'resnet50'\?$"):
        registry.get("resnt50")
    with pytest.raises(UnknownModel, match="did you mean 'mobilenet'"):
        registry.get("mobilnet")
    assert registry.get(" ResNet50V2 ").name == "resnet50_v2"


def test_published_text_parsers() -> None:
    assert parse_accuracy("74.9%") == 0.749
    assert parse_accuracy("0.790") == 0.79
    assert parse_accuracy("75.6") == 0.756  # a percentage printed without its sign
    assert parse_accuracy("-") is None
    assert parse_count("25.6M") == 25_600_000
    assert parse_count("25,636,712") == 25_636_712
    assert parse_count("5.3K") == 5300


def test_select_filters() -> None:
    registry = load_registry()
    assert [s.name for s in registry.select(["efficientnet_b?"], min_top1=83.5)] == [
        "efficientnet_b5",
        "efficientnet_b6",
        "efficientnet_b7",
    ]
    mobile_small = registry.select(tag="mobile", max_params=3_000_000)
    assert mobile_small and all(s.params <= 3_000_000 and "mobile" in s.tags for s in mobile_small)
    assert {s.name for s in registry.select(family="vgg", max_size=540)} == {"vgg16"}


# ---------------------------------------------------------------------------------------- built-in data
def test_packaged_registry_is_the_repository_file() -> None:
    assert reg.builtin_registry_path().read_bytes() == (REPO / "registry.yaml").read_bytes()


def keras_applications() -> list[reg.ModelSpec]:
    """The built-in entries of registry.yaml (the generated keras-hub catalogue has its own tests)."""
    return [spec for spec in load_registry() if not spec.is_keras_hub]


def test_every_listed_architecture_is_registered() -> None:
    registry = load_registry()
    assert {s.arch for s in keras_applications()} == set(reg.KERAS_CONSTRUCTORS)
    variants = {(s.args.get("alpha"), s.input_size) for s in registry if s.family == "mobilenet_v1"}
    assert variants == {(a, r) for a in (0.25, 0.5, 0.75, 1.0) for r in (128, 160, 192, 224)}
    assert registry.get("mobilenet").name == "mobilenet_v1_100_224"


@pytest.mark.slow  # the first TensorFlow import
def test_constructors_and_modules_exist_in_keras() -> None:
    import keras

    for name in reg.KERAS_CONSTRUCTORS:
        assert callable(getattr(keras.applications, name, None)), name
    for module in reg.KERAS_MODULES:
        assert callable(getattr(keras.applications, module).preprocess_input), module


def test_preprocess_mode_is_what_the_keras_module_does() -> None:
    import keras
    import numpy as np

    pixel = np.array([[[[10.0, 120.0, 250.0]]]], dtype="float32")
    expected = {
        "none": pixel,
        "tf": pixel / 127.5 - 1.0,
        "caffe": pixel[..., ::-1] - np.array([103.939, 116.779, 123.68], dtype="float32"),
        "torch": (pixel / 255.0 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225],
    }
    for spec in keras_applications():
        module = getattr(keras.applications, spec.module)
        got = np.asarray(module.preprocess_input(pixel.copy()))
        np.testing.assert_allclose(got, expected[spec.preprocess], rtol=1e-5, err_msg=spec.name)


def test_weight_facts_match_the_installed_keras_source() -> None:
    """Every checksum we store for a keras file is one the installed keras source publishes."""
    keras_source = "".join(
        p.read_text() for p in KERAS_APPS.glob("*.py")
    )  # resnet_v2's hashes live in resnet.py
    for spec in keras_applications():
        assert set(spec.weights) == {"top", "notop"}, spec.name
        for w in spec.weights.values():
            assert w.sources and all(s.startswith("https://storage.googleapis.com/") for s in w.sources)
            assert w.file.endswith(".h5") and w.sources[0].endswith(".h5"), (spec.name, w.variant)
            keras_hash = w.md5 or (w.sha256 if spec.family == "convnext" else None)
            if keras_hash:
                assert f'"{keras_hash}"' in keras_source, (spec.name, w.variant)
            for digest in filter(None, (w.md5, w.sha256)):  # "published" exactly when Keras publishes it
                in_keras = f'"{digest}"' in keras_source
                assert w.checksum_source == ("published" if in_keras else "pinned"), (spec.name, w.variant)
            if spec.family in ("mobilenet_v1", "mobilenet_v2"):  # keras publishes no hash for these
                assert w.md5 is None
    fixture = load_registry().get("mobilenet_v1_025_224").weight("notop")
    assert (fixture.file, fixture.size) == ("mobilenet_2_5_224_tf_no_top.h5", 2_108_140)
    assert fixture.sha256 == "dbdb03ee2a22fd895301636cd328b234bb3a9952358f436d82f46b81e0d5b0bf"
    assert fixture.checksum_source == "pinned"  # hashed by this project from a copy: Keras publishes none


def test_published_figures_cover_the_keras_io_table_and_the_classic_table() -> None:
    registry = load_registry()
    for spec in registry:
        covered = spec.arch in KERAS_IO_ROWS and (
            spec.arch != "MobileNet" or spec.name == "mobilenet_v1_100_224"
        )
        figures = spec.figures("keras.io")
        assert (figures is not None) == covered, spec.name
        if figures:
            assert figures.label == spec.arch and figures.top1 and figures.size_mb and figures.params, (
                spec.name
            )
    classic = [s for s in registry if s.figures("classic")]
    assert len(classic) == 10
    assert registry.get("resnet50").figures("classic").depth == "168"
    assert registry.get("resnet50").figures("keras.io").depth == "107"


def test_registry_file_keeps_figures_as_quoted_text() -> None:
    text = (REPO / "registry.yaml").read_text()
    assert 'top1: "0.790"' in text  # the classic Xception figure keeps its trailing zero
    assert text.count("\n  mobilenet_v1_") == 16


# ------------------------------------------------------------------------------------------ Python API
def test_info_returns_the_typed_record() -> None:
    import zoo

    spec = zoo.info("mobilenet")
    assert isinstance(spec, reg.ModelSpec)
    assert (spec.name, spec.arch, spec.args, spec.input_size) == (
        "mobilenet_v1_100_224",
        "MobileNet",
        {"alpha": 1.0},
        224,
    )
    assert spec.figures("keras.io").top1_value == 0.704 and spec.figures("imagenet-21k") is None


def test_list_models_dataframe() -> None:
    import zoo

    frame = zoo.list_models()
    assert list(frame["name"]) == load_registry().names()
    assert list(frame.columns) == [
        "name", "label", "family", "params", "size_mb", "top1", "top5", "depth", "input_size", "pulled",
        "source", "from",
    ]  # fmt: skip
    resnet50 = frame.set_index("name").loc["resnet50"]
    assert (resnet50["params"], resnet50["top1"], resnet50["depth"]) == (25_636_712, 0.749, 107)
    assert frame["pulled"].dtype == bool and not frame["pulled"].any()

    best = zoo.list_models("efficientnet*", min_top1=0.84, sort="top1", desc=True)
    assert list(best["name"]) == [
        "efficientnet_b5.sw_in12k_ft_in1k",  # timm's 85.894 at 448 px: each entry by its home figures
        "efficientnet_v2_l",
        "efficientnet_v2_m",
        "efficientnet_b7",
        "efficientnet_b6",
    ]
    small = zoo.list_models(tag="mobile", max_params="3M")
    assert set(small["family"]) == {"mobilenet_v1", "mobilenet_v3"} and (small["params"] <= 3_000_000).all()
    classic = zoo.list_models(source="classic")
    assert list(classic["label"])[:3] == ["Inception-ResNet-V2", "Xception", "Inception-V3"]
    with pytest.raises(ValueError, match="unknown sort key"):
        zoo.list_models(sort="speed")


def test_list_models_reads_extra_registries(tmp_path: Path) -> None:
    import zoo

    path = write_models(tmp_path / "user.yaml", {"mine": entry()})
    frame = zoo.list_models(family="mine", extra_registries=[path])
    assert list(frame["name"]) == ["mine"] and frame["top1"].isna().all()
    assert zoo.list_models(family="mine").empty
