"""The `live-dream` command: parses arguments, hands a validated Config to the right module.

Every user-facing failure is a UserError, printed as one line (`live-dream: ...`), exit status 2.
"""
from __future__ import annotations

import argparse
import logging
import logging.handlers
import math
import sys
from pathlib import Path

from live.errors import UserError

# Nothing heavy (torch, OpenCV) is imported at module level: Ctrl-C while starting must stay a clean exit.

# Every command-line flag that sets a setting, once: (flag, setting, help, the commands that take it). A
# flag means one setting per command: --steps is still.steps (per octave) for `still` and live.steps (per
# frame) wherever frames are dreamed live.
STILL, LIVE = {"still"}, {"run", "render", "bench", "soak"}
ALL = STILL | LIVE
FLAGS = [
    ("--network", "network.name", "network from `live-dream models` (default lite0)", ALL),
    ("--weights", "network.weights", "local weights file instead of the download cache", ALL),
    ("--objective", "network.objective", "what to dream, e.g. block9, 'block9:42,117', class:jellyfish, "
                                         "'0.7*block8 + 0.3*block11'", ALL),
    ("--guide", "network.guide", "guide image: dream towards its features", ALL),
    ("--device", "network.device", "auto, cpu, cuda or mps", ALL),
    ("--steps", "still.steps", "gradient steps per octave", STILL),
    ("--step-size", "still.step_size", "mean change per pixel per step (0..1 units)", STILL),
    ("--octaves", "still.octaves", "number of octaves", STILL),
    ("--octave-scale", "still.octave_scale", "size ratio between octaves", STILL),
    ("--tile", "still.tile", "tile size for large images (bounds memory)", STILL),
    ("--jitter", "dream.jitter", "max random roll in pixels", STILL),
    ("--smoothing", "dream.smoothing", "gradient smoothing: none, gaussian or laplacian", STILL),
    ("--tv", "dream.tv_weight", "total-variation penalty (share of each step)", STILL),
    ("--seed", "dream.seed", "random seed (-1: different every run)", STILL),
    ("--source", "capture.source", "auto (camera, else demo), demo, camera:N, camera:NAME, a video file or a folder",
     {"run", "bench", "soak"}),
    ("--steps", "live.steps", "gradient steps per frame", LIVE),
    ("--step-size", "live.step_size", "mean change per pixel per step", LIVE),
    ("--flow", "temporal.flow", "dis, farneback or none (plain blending)", LIVE),
    ("--backend", "live.backend", "auto, torch, onnx or openvino", {"render"}),
    ("--display", "display.display", "which screen (see `live-dream displays`)", {"run", "bench", "soak"}),
    ("--record", "record.path", "write the output video to this .mp4 file", {"run", "bench", "soak"}),
    ("--osc", "control.osc_port", "receive OSC control messages on this UDP port (127.0.0.1)", {"run", "bench", "soak"}),
    ("--osc-status", "control.status_to", "send the status over OSC once a second to HOST:PORT", {"run", "bench", "soak"}),
    ("--http", "control.http_port", "serve /health, /action and the control page on this port (127.0.0.1)",
     {"run", "bench", "soak"}),
    ("--midi", "midi.port", "a MIDI input port (name, part of it, or auto); mapping in [midi]", {"run", "bench", "soak"}),
]


def flags_for(command: str) -> list[tuple[str, str, str]]:
    return [(flag, key, text) for flag, key, text, commands in FLAGS if command in commands]


DEFAULT_CONFIG = Path("config.toml")


def add_config_options(p: argparse.ArgumentParser, command: str) -> None:
    p.add_argument("--config", help="settings file (default: ./config.toml if present)")
    p.add_argument("--log-file", metavar="FILE", help="append every log line, with tracebacks, to this file")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any setting, e.g. --set live.steps=2 (repeatable)")
    for flag, key, text in flags_for(command):
        p.add_argument(flag, dest=key, metavar=key.split(".")[1].upper(), help=text)


def config_from_args(args, command: str):
    from live.config import load_config, parse_set_option
    overrides = dict(parse_set_option(s) for s in args.set)
    overrides.update({key: getattr(args, key) for _, key, _ in flags_for(command) if getattr(args, key) is not None})
    path = args.config or (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    return load_config(path, overrides)


def cmd_still(args):
    from live.offline.still import dream_still
    dream_still(args.input, args.output, config_from_args(args, "still"), progress=not args.quiet)
    print(f"wrote {args.output}")


def size_overrides(text: str | None) -> list[str]:
    """--size 320x240 -> the live.width / live.height settings."""
    if not text:
        return []
    w, _, h = text.lower().partition("x")
    if not (w.isdigit() and h.isdigit()):
        raise UserError(f"--size '{text}' must look like 320x240")
    return [f"live.width={w}", f"live.height={h}"]


def positive(kind):
    """An argparse type: a finite number above zero (0, nan and inf would make a run endless)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"'{text}' must be a number above 0")
        return value
    return parse


def non_negative_int(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of 0 or more")
    return int(text)


def cmd_run(args):
    from live.show.pipeline import RunOptions, run_live
    args.set = list(args.set)
    if args.headless:
        args.set.append("display.mode=headless")
    if args.windowed:
        args.set.append("display.fullscreen=false")
    if args.no_mirror:
        args.set.append("capture.mirror=false")
    if args.hud:
        args.set.append("display.hud=true")
    if args.installation:
        args.set.append("installation.enabled=true")
    args.set += size_overrides(args.size)
    config = config_from_args(args, args.command)
    if config.installation.enabled:
        _tracebacks_in_the_log()
    now = None
    if args.now:
        from live.control.schedule import parse_now
        now = parse_now(args.now)
    summary = run_live(config, RunOptions(seconds=args.seconds, frames=args.frames, fast=args.fast,
                                          measure=args.measure, stats_json=args.stats_json, now=now))
    return 130 if summary["interrupted"] else 0


def cmd_render(args):
    from live.offline.render import render_video
    args.set = list(args.set) + size_overrides(args.size)
    config = config_from_args(args, "render")
    result = render_video(args.input, args.output, config, size_given=bool(args.size), progress=not args.quiet,
                          measure=args.measure)
    print(f"wrote {args.output}: {result['frames']} frames at {result['size'][0]}x{result['size'][1]}, dreamed at "
          f"{result['dream_size'][0]}x{result['dream_size'][1]}; audio {result['audio']}")
    if args.measure:
        from live.dream.quality import format_figures
        print(format_figures(result["picture"]))
    return 3 if result["damaged"] else 0  # written, but only up to the damage: a script must be able to tell


def cmd_bench(args):
    from live.proving.bench import SIZES, run_bench
    args.set = list(args.set) + size_overrides(args.size)
    if args.gpu_report:  # one bounded run of what only a CUDA GPU can tell (live/proving/gpu_report.py)
        from live.proving.gpu_report import run_gpu_report
        return run_gpu_report(config_from_args(args, args.command), args.gpu_report)
    sizes = SIZES
    if args.sizes:
        try:
            sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes.split(",")]
        except ValueError:
            raise UserError(f"--sizes '{args.sizes}' must look like 320x240,640x360") from None
    run_bench(config_from_args(args, args.command), sizes, args.repeats, args.seconds, args.profile, args.json, args.load,
              args.startup, args.demo_fps)


def cmd_soak(args):
    from live.proving.soak import run_soak
    _tracebacks_in_the_log()
    args.set = list(args.set) + size_overrides(args.size)
    if getattr(args, "capture.source") is None:
        setattr(args, "capture.source", "demo")  # no camera needed: the faults are injected
    report = run_soak(config_from_args(args, args.command), args.minutes, args.json, args.cycle)
    return 0 if report["recovered"] == report["injected"] else 1


def cmd_service(args):
    from live.show.service import UNIT_NAME, install_unit, user_unit
    config = args.config or (str(DEFAULT_CONFIG) if DEFAULT_CONFIG.exists() else None)
    if config and not Path(config).is_file():
        from live.errors import UserError
        raise UserError(f"config file {config} does not exist; pass an existing file with --config")
    if sys.platform == "darwin":
        return _install_launch_agent(args, config)
    if sys.platform == "win32":
        from live.errors import UserError
        raise UserError("`service install` writes a systemd unit (Linux) or a LaunchAgent (macOS); on Windows "
                        "start `live-dream run --installation` from Task Scheduler at log-on, restarting on failure")
    text = user_unit(config, str(Path.cwd()))
    if args.print:
        print(text, end="")
        return 0
    path = install_unit(text)
    print(f"wrote {path}\nstart it now and at every login:\n"
          f"  systemctl --user daemon-reload && systemctl --user enable --now {UNIT_NAME}\n"
          f"  loginctl enable-linger $USER   # keep it running without a login session (optional)")
    return 0


def _install_launch_agent(args, config) -> int:
    from live.show.service import AGENT_LABEL, install_launch_agent, launch_agent
    log_dir = Path.home() / "Library" / "Logs" / "live-dream"
    plist = launch_agent(config, str(Path.cwd()), log_dir)
    if args.print:
        print(plist.decode(), end="")
        return 0
    log_dir.mkdir(parents=True, exist_ok=True)
    path = install_launch_agent(plist)
    print(f"wrote {path}\nstart it now and at every login:\n  launchctl bootstrap gui/$(id -u) {path}\n"
          f"stop it: launchctl bootout gui/$(id -u)/{AGENT_LABEL}; its log: {log_dir / 'live-dream.log'}")
    return 0


def cmd_shows(args):
    from live.control.fleet import find_shows, health_of
    shows = find_shows(args.seconds)
    for show in shows:
        h = health_of(show.address)
        state = (f"{h.get('fps', 0):.1f} fps, preset {h.get('preset')} ({h.get('objective')}), source "
                 f"{h.get('source')}, {'ok' if h.get('ok') else 'NOT OK'}") if "fps" in h else f"no answer ({h.get('error')})"
        print(f"{show.name:<20} {show.address:<22} v{show.version:<8} {state}")
    if not shows:
        print(f"no shows found in {args.seconds:g} s (a show announces itself with control.announce = true, "
              "bound beyond loopback)")


def cmd_send(args):
    from live.control.fleet import find_shows, parse_at, send, token_from
    at = parse_at(args.at)
    targets = list(args.to or [])
    if args.all or args.show:
        found = find_shows(args.seconds)
        chosen = [s for s in found if args.all or s.name == args.show]
        if args.show and not chosen:
            raise UserError(f"no show named {args.show!r} found (found: {', '.join(s.name for s in found) or 'none'})")
        targets += [s.address for s in chosen]
    if not targets:
        raise UserError("say where to send: --to HOST:PORT (repeatable), --show NAME or --all")
    token, value = token_from(args.token_file), _number_or_text(args.value)
    failed = 0
    for address in targets:
        reply = send(address, token, args.action, value, at)
        failed += not reply.get("ok")
        print(f"{address}: " + ("ok" if reply.get("ok") else f"refused: {reply.get('error')}"))
    return 1 if failed else 0


def _number_or_text(value: str | None):
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return value


def cmd_cameras(args):
    from live.sources import list_cameras
    cameras = list_cameras()
    for index, name in cameras:
        print(f"{index}: {name}")
    if not cameras:
        print("no cameras found (live-dream runs the built-in demo source instead)")


def cmd_displays(args):
    from live.outputs.window import list_displays, screen_available
    if not screen_available():
        print("no screen (no DISPLAY or WAYLAND_DISPLAY): live-dream runs headless")
        return
    for index, (w, h) in enumerate(list_displays()):
        print(f"{index}: {w}x{h}")


def cmd_models(args):
    from live.dream import zoo
    if args.action == "fetch":
        if not args.name:
            raise UserError("models fetch needs a network name, e.g. live-dream models fetch googlenet")
        spec = zoo.get_spec(args.name)
        path = zoo.fetch_weights(spec)
        zoo.build_network(spec)  # check the file really loads
        print(f"{spec.name}: weights ready at {path}")
        return
    if args.action == "classes":
        from live.dream.objectives import imagenet_classes
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


class Parser(argparse.ArgumentParser):
    """Bad arguments are one line, like every other error, instead of a usage block."""

    def error(self, message):
        self.exit(2, f"live-dream: {message}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="live-dream", description="Real-time DeepDream installation.")
    sub = parser.add_subparsers(dest="command")
    _add_still(sub)
    _add_run(sub)
    _add_render(sub)
    _add_bench(sub)
    _add_soak(sub)
    _add_service(sub)
    _add_lists(sub)
    _add_models(sub)
    _add_fleet(sub)
    return parser


def _add_fleet(sub) -> None:
    p = sub.add_parser("shows", help="list the shows announcing themselves on this network (the fleet extra)")
    p.add_argument("--seconds", type=positive(float), default=2.0, help="how long to listen (default 2)")
    p.set_defaults(func=cmd_shows)
    p = sub.add_parser("send", help="post one action to several shows, optionally at a given time")
    p.add_argument("action", help="an action of POST /action: preset, next, strength, scene...")
    p.add_argument("value", nargs="?", help="its value, if it takes one")
    p.add_argument("--to", action="append", metavar="HOST:PORT", help="a show's HTTP control (repeatable)")
    p.add_argument("--show", metavar="NAME", help="the show of this name, found over mDNS (fleet extra)")
    p.add_argument("--all", action="store_true", help="every show found over mDNS (fleet extra)")
    p.add_argument("--at", help="when it takes effect on every show: bar (the next Link bar), +SECONDS, HH:MM[:SS] "
                                "or seconds since 1970 (default: at once)")
    p.add_argument("--token-file", metavar="FILE", help=f"the shows' token, read from this file (else ${{{'LIVE_DREAM_TOKEN'}}})")
    p.add_argument("--seconds", type=positive(float), default=2.0, help="how long to look for shows (default 2)")
    p.set_defaults(func=cmd_send)


def _add_still(sub) -> None:
    p = sub.add_parser("still", help="dream a photo")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_config_options(p, "still")
    p.set_defaults(func=cmd_still)


def _add_run(sub) -> None:
    p = sub.add_parser("run", help="the live installation (default)")
    p.add_argument("--headless", action="store_true", help="no window (record with --record)")
    p.add_argument("--windowed", action="store_true", help="a window instead of fullscreen")
    p.add_argument("--no-mirror", action="store_true", help="do not mirror the camera image")
    p.add_argument("--hud", action="store_true", help="show the heads-up display at start")
    p.add_argument("--installation", action="store_true",
                   help="unattended: no HUD or snapshot key, no file written, nothing listening beyond loopback")
    p.add_argument("--size", help="dream resolution, e.g. 320x240")
    p.add_argument("--now", metavar="'YYYY-MM-DD HH:MM[:SS]'",
                   help="read the opening hours (schedule.hours) as if the show started at this moment: try the "
                        "schedule without waiting")
    p.add_argument("--seconds", type=positive(float), help="stop after this many seconds")
    p.add_argument("--frames", type=positive(int), help="stop after this many frames shown")
    p.add_argument("--fast", action="store_true",
                   help="read a video file as fast as the dream goes, dropping the frames it cannot dream in "
                        "time (to dream every frame, use `live-dream render`)")
    p.add_argument("--measure", action="store_true", help="print the picture figures (calm, flicker, strength, "
                                                          "detail) at the end")
    p.add_argument("--stats-json", metavar="FILE", help="write the run's figures as JSON")
    add_config_options(p, "run")
    p.set_defaults(func=cmd_run)


def _add_render(sub) -> None:
    p = sub.add_parser("render", help="dream a whole video file, every frame, keeping its sound")
    p.add_argument("input")
    p.add_argument("output", help="an .mp4 file (written when the render is done)")
    p.add_argument("--size", help="dream resolution, e.g. 320x240 (default: live.width wide, the input's shape)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--measure", action="store_true", help="print the picture figures: calm, flicker, strength, detail")
    add_config_options(p, "render")
    p.set_defaults(func=cmd_render)


def _add_bench(sub) -> None:
    p = sub.add_parser("bench", help="measure backends and the live pipeline")
    p.add_argument("--sizes", help="step sizes to measure (default 320x240,640x360,1280x720)")
    p.add_argument("--size", help="dream resolution of the end-to-end run (default live.width x live.height)")
    p.add_argument("--repeats", type=positive(int), default=10, help="timed steps per backend and size (after 2 warm-up)")
    p.add_argument("--seconds", type=positive(float), default=20.0, help="length of the end-to-end run")
    p.add_argument("--profile", action="store_true", help="print the time of each stage of a frame")
    p.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    p.add_argument("--load", type=non_negative_int, default=0, metavar="N",
                   help="run N busy processes (one core each) beside the measurements: speed under load")
    p.add_argument("--demo-fps", type=positive(int), metavar="N",
                   help="the demo source's frame rate in the end-to-end runs (default 60: it does not cap the figure)")
    p.add_argument("--startup", action="store_true",
                   help="also: seconds from launch to the first picture and the first dream, with an empty "
                        "models folder and a filled one (two minutes more per display mode)")
    p.add_argument("--gpu-report", metavar="FILE",
                   help="instead: versions, providers, CUDA graphs, precision parity, memory, ONNX Runtime, step "
                        "times and the live pipeline on a CUDA GPU, in one run under 8 minutes; JSON to FILE, "
                        "a summary to FILE with suffix .md")
    add_config_options(p, "bench")
    p.set_defaults(func=cmd_bench)


def _add_soak(sub) -> None:
    p = sub.add_parser("soak", help="run the installation with faults injected; report fps, memory, recovery")
    p.add_argument("--minutes", type=positive(float), default=30.0, help="how long (default 30)")
    p.add_argument("--cycle", type=positive(float), default=60.0,
                   help="seconds between rounds of faults (default 60: every fault once a minute)")
    p.add_argument("--size", help="dream resolution, e.g. 320x240")
    p.add_argument("--json", metavar="FILE", help="write the report as JSON")
    add_config_options(p, "soak")
    p.set_defaults(func=cmd_soak)


def _add_service(sub) -> None:
    p = sub.add_parser("service", help="install the show as a service: a systemd user unit (Linux) or a LaunchAgent (macOS)")
    p.add_argument("action", choices=["install"])
    p.add_argument("--print", action="store_true", help="print the unit (or plist) instead of writing it")
    p.add_argument("--config", help="the settings file the service runs with (default: ./config.toml if present)")
    p.set_defaults(func=cmd_service)


def _add_lists(sub) -> None:
    sub.add_parser("cameras", help="list cameras").set_defaults(func=cmd_cameras)
    sub.add_parser("displays", help="list displays").set_defaults(func=cmd_displays)


def _add_models(sub) -> None:
    p = sub.add_parser("models", help="list networks and layers; fetch weights; list classes")
    p.add_argument("action", nargs="?", choices=["list", "fetch", "classes"], default="list")
    p.add_argument("name", nargs="?")
    p.set_defaults(func=cmd_models)


class _OneLine(logging.Formatter):
    """What a user sees: `live-dream: message`, one line, never a traceback (those go to --log-file).
    Unattended (installation mode) the lines go to the journal, and failures keep their tracebacks."""
    tracebacks = False

    def format(self, record):
        line = "live-dream: " + record.getMessage()
        if self.tracebacks and record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _tracebacks_in_the_log() -> None:
    for handler in logging.getLogger("live-dream").handlers:
        if isinstance(handler.formatter, _OneLine):
            handler.formatter.tracebacks = True


def _setup_logging() -> None:
    """Our own log lines only: libraries (onnxscript, torch) keep their chatter to themselves."""
    log = logging.getLogger("live-dream")
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(_OneLine())
        handler.setLevel(logging.INFO)
        log.addHandler(handler)
    log.setLevel(logging.DEBUG)  # debug records (tracebacks) reach only --log-file
    log.propagate = False


def _log_to_file(path: str) -> None:
    """Everything logged, with time and full tracebacks of failures: after weeks unattended, the file
    says what happened."""
    from live.core.files import check_output
    check_output(path, "log to")
    # rotated at 10 MB, five kept: months unattended cannot fill the disk
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=10_000_000, backupCount=5, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s: %(message)s"))
    logging.getLogger("live-dream").addHandler(handler)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["run", *argv]  # `live-dream` alone, or with options, is the live installation
    _setup_logging()
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "log_file", None):
            _log_to_file(args.log_file)
        status = args.func(args) or 0
    except UserError as exc:
        print(f"live-dream: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head`: not an error
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("live-dream: interrupted", file=sys.stderr)
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
