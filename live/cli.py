"""The `live-dream` command: parses arguments, hands a validated Config to the right module.

Every user-facing failure is a UserError, printed as one line (`live-dream: ...`), exit status 2.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .config import load_config, parse_set_option
from .errors import UserError

# Command-line flags that set a config key: (flag, dotted key, help).
DREAM_FLAGS = [
    ("--network", "network.name", "network from `live-dream models` (default lite0)"),
    ("--weights", "network.weights", "local weights file instead of the download cache"),
    ("--objective", "network.objective", "what to dream, e.g. block9, 'block9:42,117', class:jellyfish, "
                                         "'0.7*block8 + 0.3*block11'"),
    ("--guide", "network.guide", "guide image: dream towards its features"),
    ("--device", "network.device", "auto, cpu or cuda"),
    ("--steps", "dream.steps", "gradient steps per octave"),
    ("--step-size", "dream.step_size", "mean change per pixel per step (0..1 units)"),
    ("--octaves", "dream.octaves", "number of octaves"),
    ("--octave-scale", "dream.octave_scale", "size ratio between octaves"),
    ("--jitter", "dream.jitter", "max random roll in pixels"),
    ("--smoothing", "dream.smoothing", "gradient smoothing: none, gaussian or laplacian"),
    ("--tv", "dream.tv_weight", "total-variation penalty (share of each step)"),
    ("--tile", "dream.tile", "tile size for large images (bounds memory)"),
    ("--seed", "dream.seed", "random seed (-1: different every run)"),
]
DEFAULT_CONFIG = Path("config.toml")


def add_config_options(p: argparse.ArgumentParser, flags) -> None:
    p.add_argument("--config", help="settings file (default: ./config.toml if present)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any setting, e.g. --set dream.steps=5 (repeatable)")
    for flag, key, text in flags:
        p.add_argument(flag, dest=key, metavar=key.split(".")[1].upper(), help=text)


def config_from_args(args, flags):
    overrides = dict(parse_set_option(s) for s in args.set)
    overrides.update({key: getattr(args, key) for _, key, _ in flags if getattr(args, key) is not None})
    path = args.config or (DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None)
    return load_config(path, overrides)


def cmd_still(args):
    from .still import dream_still
    dream_still(args.input, args.output, config_from_args(args, DREAM_FLAGS), progress=not args.quiet)
    print(f"wrote {args.output}")


def cmd_models(args):
    from . import zoo
    if args.action == "fetch":
        if not args.name:
            raise UserError("models fetch needs a network name, e.g. live-dream models fetch googlenet")
        spec = zoo.get_spec(args.name)
        path = zoo.fetch_weights(spec)
        zoo.build_network(spec)  # check the file really loads
        print(f"{spec.name}: weights ready at {path}")
        return
    if args.action == "classes":
        from .objectives import imagenet_classes
        for i, name in enumerate(imagenet_classes()):
            print(f"{i:4d}  {name.replace(' ', '_')}")
        return
    for spec in zoo.NETWORKS.values():
        state = "available" if spec.weights_available() else f"not downloaded (live-dream models fetch {spec.name})"
        print(f"{spec.name}: {spec.title}")
        print(f"  weights: {state}; {spec.cached_weights_path()}")
        print(f"  input: RGB, mean {spec.mean}, std {spec.std}; default layer {spec.default_layer}")
        for layer in spec.layers:
            print(f"    {layer.name:<14} {layer.channels:>5} ch  /{layer.stride:<3} {layer.description}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="live-dream", description="Real-time DeepDream installation.")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("still", help="dream a photo")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_config_options(p, DREAM_FLAGS)
    p.set_defaults(func=cmd_still)

    p = sub.add_parser("models", help="list networks and layers; fetch weights; list classes")
    p.add_argument("action", nargs="?", choices=["list", "fetch", "classes"], default="list")
    p.add_argument("name", nargs="?")
    p.set_defaults(func=cmd_models)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        args.func(args)
    except UserError as exc:
        print(f"live-dream: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head`: not an error
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("live-dream: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
