"""``sparsesim`` command line: one subcommand per job, each a thin shell over a Python API."""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

DEFAULT_MODEL = {"digits": "digits_cnn", "mnist": "lenet5", "cifar10": "vgg16"}


def _default_config(model: str, dataset: str) -> Path:
    name = {("digits_cnn", "digits"): "digits_default.yaml", ("lenet5", "mnist"): "lenet5_mnist_admm.yaml"}.get(
        (model, dataset), "generic_nonstructured.yaml")
    return Path(str(resources.files("pruning") / "configs" / name))


def cmd_prune(args: argparse.Namespace) -> int:
    import torch

    from pruning.artifact import load_artifact
    from pruning.config import PruneConfig
    from pruning.data import load_dataset
    from pruning.models import build_model
    from pruning.pipeline import run_prune

    model_name = args.model or DEFAULT_MODEL[args.dataset]
    cfg_path = Path(args.config) if args.config else _default_config(model_name, args.dataset)
    cfg = PruneConfig.from_yaml(cfg_path)
    overrides = {k: v for k, v in (("seed", args.seed), ("method", args.method),
                                   ("pretrain_epochs", args.pretrain_epochs)) if v is not None}
    if overrides:
        cfg = PruneConfig.from_dict({**cfg.to_dict(), **overrides})
    data = load_dataset(args.dataset, args.data_dir)
    torch.manual_seed(cfg.seed)
    model = build_model(model_name, data.num_classes)
    if args.init:
        model = load_artifact(args.init, model).model
    if tuple(model.input_shape) != tuple(data.input_shape):
        raise ValueError(f"model {model_name!r} takes inputs {tuple(model.input_shape)}, dataset "
                         f"{args.dataset!r} has {tuple(data.input_shape)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    log = (lambda s: None) if args.quiet else (lambda s: print(s, flush=True))
    log(f"prune: model {model_name}, dataset {args.dataset}, config {cfg_path}, out {args.out}")
    run_prune(model, data, cfg, args.out, model_name=model_name, resume=args.resume, device=args.device,
              progress=not args.quiet, log=log)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sparsesim", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    pr = sub.add_parser("prune", help="ADMM-prune and quantize a model; write a pruned-model artifact")
    pr.add_argument("--model", help="zoo model (default: digits_cnn for digits, lenet5 for mnist)")
    pr.add_argument("--dataset", default="digits", choices=sorted(DEFAULT_MODEL))
    pr.add_argument("--data-dir", help="directory with the data set's files (mnist, cifar10)")
    pr.add_argument("--config", help="pruning YAML (default: a shipped config for the model)")
    pr.add_argument("--out", required=True, help="artifact directory")
    pr.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    pr.add_argument("--init", help="start from the weights of an artifact directory")
    pr.add_argument("--method", choices=["admm", "magnitude", "group_lasso"], help="override the config")
    pr.add_argument("--pretrain-epochs", type=int, help="override the config (0 with --init)")
    pr.add_argument("--seed", type=int)
    pr.add_argument("--device", default="cpu")
    pr.add_argument("--threads", type=int, help="torch intra-op threads")
    pr.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    pr.set_defaults(func=cmd_prune)
    return p


def main(argv: list[str] | None = None) -> int:
    from pruning.artifact import ArtifactError
    from pruning.config import ConfigError
    from pruning.data import DataError
    from pruning.pipeline import PruneError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, DataError, ArtifactError, ValueError, FileNotFoundError) as e:
        print(f"sparsesim {args.command}: error: {e}", file=sys.stderr)
        return 2
    except PruneError as e:
        print(f"sparsesim {args.command}: failed: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
