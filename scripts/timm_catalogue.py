"""Generate zoo's timm catalogue: zoo/catalogue/timm.yaml, zoo/catalogue/timm_unsupported.yaml and
docs/catalogue.md, from timm's results-imagenet.csv and timm's pretrained configs.

Support is decided empirically per (architecture, input size): keras-hub's conversion of a randomly
initialised timm model must reproduce timm's logits (scripts/_timm_parity.py). Verdicts are cached in a
JSON file, so a re-run only checks what is new.

    git -C <timm repo> show <commit>:results/results-imagenet.csv > /tmp/results-imagenet.csv
    KERAS_BACKEND=tensorflow PYTHONPATH=. python scripts/timm_catalogue.py \\
        --results /tmp/results-imagenet.csv --commit <commit>
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# torch and timm before anything that imports TensorFlow: the other order segfaults
import _timm_parity as parity  # noqa: E402
import _timm_sources as sources  # noqa: E402
import _timm_write as write  # noqa: E402
import timm  # noqa: E402
import torch  # noqa: E402
from timm.models._hub import _get_global_pool  # noqa: E402

from zoo.engine.hub_config import keras_hub_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS_URL = "https://github.com/huggingface/pytorch-image-models/blob/{commit}/results/results-imagenet.csv"
HUB_CFG_KEYS = (
    "tag",
    "input_size",
    "interpolation",
    "crop_pct",
    "mean",
    "std",
    "num_classes",
    "classifier",
    "first_conv",
)


def _verdicts_for(pending: list[tuple[str, int, str]], cache_path: Path) -> dict[str, dict]:
    """Verdicts keyed "arch@size": cached, or checked now and cached at once (a crash keeps them)."""
    versions = {"timm": timm.__version__, "keras_hub": _keras_hub_version(), "tolerance": parity.TOLERANCE}
    cache: dict = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    if cache.get("versions") != versions:
        cache = {"versions": versions, "verdicts": {}}
    verdicts: dict[str, dict] = cache["verdicts"]
    for position, (architecture, size, tag) in enumerate(pending, 1):
        key = f"{architecture}@{size}"
        if key in verdicts:
            continue
        verdict = parity.check(architecture, size, representative_tag=tag).as_json()
        verdicts[key] = verdict
        print(
            f"[{position}/{len(pending)}] {key}: {verdict['reason'] or 'agrees'}"
            f" (error {verdict['relative_error']})",
            file=sys.stderr,
            flush=True,
        )
        cache_path.write_text(json.dumps(cache, indent=1, sort_keys=True))
    return verdicts


def _keras_hub_version() -> str:
    from importlib.metadata import version

    return version("keras-hub")


def _architecture_facts(architecture: str) -> tuple[int, dict]:
    """Exact parameter count and the root of the config.json timm writes (no weights are made)."""
    with torch.device("meta"):
        model = timm.create_model(architecture, pretrained=False, num_classes=1000)
    params = sum(p.numel() for p in model.parameters())
    shapes = {name: tuple(t.shape) for name, t in model.state_dict().items() if name == "conv_head.weight"}
    root = {"architecture": architecture, "num_classes": 1000, "num_features": int(model.num_features)}
    pool = _get_global_pool(model)
    if isinstance(pool, str) and pool:
        root["global_pool"] = pool
    return params, keras_hub_config(root, shapes)


def _entry(
    tag: str, cfg: Mapping, family: str, params: int, root: dict, results: list[sources.Result], url: str
) -> dict:
    repo = cfg["hf_hub_id"]
    hub_cfg = {key: cfg[key] for key in HUB_CFG_KEYS if cfg.get(key) is not None}
    entry: dict = {
        "loader": "keras-hub",
        "layout": "timm",
        "arch": cfg["architecture"],
        "hf_repo": repo,
        "family": family,
        "tags": ["imagenet", "timm"],
    }
    if cfg.get("license"):
        entry["license"] = cfg["license"]
    paper = sources.paper(dict(cfg))
    if paper:
        entry["paper"] = paper
    entry.update(
        {
            "input_size": int(cfg["input_size"][-1]),
            "preprocess": "normalize",
            "mean": list(cfg["mean"]),
            "std": list(cfg["std"]),
            "interpolation": cfg["interpolation"],
            "crop_pct": cfg["crop_pct"],
            "num_classes": cfg["num_classes"],
            "params": params,
            "hub_config": {
                **root,
                "pretrained_cfg": {k: list(v) if isinstance(v, tuple) else v for k, v in hub_cfg.items()},
            },
            "published": [
                {
                    "source": "timm",
                    "label": f"{tag} @ {r.img_size}px",
                    "url": url,
                    "top1": r.top1,
                    "top5": r.top5,
                    "params": f"{r.param_count}M",
                }
                for r in sorted(results, key=lambda r: -r.img_size)
            ],
            "weights": {
                "top": {"file": f"{tag}.safetensors", "sources": [f"hf://{repo}/{sources.HF_WEIGHTS}"]},
                "config": {"file": f"{tag}.config.json", "sources": [f"hf://{repo}/{sources.HF_CONFIG}"]},
            },
        }
    )
    return entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, required=True, help="timm's results/results-imagenet.csv")
    parser.add_argument("--commit", required=True, help="the timm repository commit the csv comes from")
    parser.add_argument(
        "--verdicts",
        type=Path,
        default=Path("/tmp/timm_verdicts.json"),
        help="cache of per-architecture parity verdicts",
    )
    parser.add_argument("--out", type=Path, default=ROOT, help="repository root to write into")
    args = parser.parse_args(argv)

    url = RESULTS_URL.format(commit=args.commit)
    by_tag: dict[str, list[sources.Result]] = {}
    for result in sources.read_results(args.results):
        by_tag.setdefault(result.tag, []).append(result)

    unsupported: dict[str, dict[str, str]] = {}
    candidates: dict[str, tuple[dict, str]] = {}
    for tag in by_tag:
        architecture = tag.split(".", 1)[0]
        cfg = sources.pretrained_cfg(tag)
        family = sources.converter_family(architecture)
        if cfg is None:
            unsupported[tag] = {
                "family": family or sources.timm_family(architecture),
                "reason": f"timm {timm.__version__} has no pretrained config for this tag",
            }
        elif family is None:
            family = sources.timm_family(architecture)
            # timm's module name can equal a keras-hub family (cs3darknet in cspnet, mixnet in efficientnet)
            known = family in {name for _, name in sources.CONVERTER_PREFIXES}
            reason = (
                f"keras-hub's {family} converter does not take {architecture}"
                if known
                else f"keras-hub has no converter for {family}"
            )
            unsupported[tag] = {"family": family, "reason": reason}
        elif cfg.get("num_classes") != 1000:
            unsupported[tag] = {"family": family, "reason": f"{cfg.get('num_classes')} classes, not 1000"}
        elif not cfg.get("hf_hub_id"):
            unsupported[tag] = {"family": family, "reason": "timm publishes no Hub weights for it"}
        else:
            candidates[tag] = (cfg, family)

    pending = sorted(
        {(cfg["architecture"], int(cfg["input_size"][-1]), tag) for tag, (cfg, _) in candidates.items()}
    )
    first_tag: dict[tuple[str, int], str] = {}
    for architecture, size, tag in pending:
        first_tag.setdefault((architecture, size), tag)
    verdicts = _verdicts_for([(a, s, t) for (a, s), t in first_tag.items()], args.verdicts)

    shipped: dict[str, dict] = {}
    facts: dict[str, tuple[int, dict]] = {}
    for tag, (cfg, family) in candidates.items():
        architecture = cfg["architecture"]
        verdict = verdicts[f"{architecture}@{int(cfg['input_size'][-1])}"]
        if not verdict["supported"]:
            unsupported[tag] = {"family": family, "reason": verdict["reason"]}
            continue
        if architecture not in facts:
            facts[architecture] = _architecture_facts(architecture)
        params, root = facts[architecture]
        printed = {r.param_count for r in by_tag[tag]}
        if not all(sources.params_match(params, p) for p in printed):
            unsupported[tag] = {
                "family": family,
                "reason": f"timm builds {params:,} parameters; "
                f"results-imagenet.csv prints {', '.join(sorted(printed))}M",
            }
            continue
        shipped[tag] = _entry(tag, cfg, family, params, root, by_tag[tag], url)

    header = write.Header(
        timm_version=timm.__version__, keras_hub_version=_keras_hub_version(), commit=args.commit, url=url
    )
    write.catalogue(args.out / "zoo" / "catalogue" / "timm.yaml", shipped, header)
    write.unsupported(args.out / "zoo" / "catalogue" / "timm_unsupported.yaml", unsupported, header)
    write.docs(args.out / "docs" / "catalogue.md", shipped, unsupported, verdicts, header)
    print(f"{len(shipped)} tags shipped, {len(unsupported)} unsupported", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
