"""`live-dream render INPUT OUTPUT`: dream a whole video file, every frame once and in order, with the
same temporal algorithm as the live piece (flow-warped residual, bounded energy).

The output has exactly the input's frames, timestamps (so its frame rate) and size; an audio track is
copied as it is (or re-encoded to AAC where MP4 cannot hold its codec). Video and audio are read and
written with PyAV. The file is written under a hidden `.NAME.PID.partial.mp4` beside the target and renamed
into place when the last frame is done: an interrupted render leaves no half file, and the partial of a
render that was killed (SIGKILL, a power cut) is removed by the next run to that target. A lock beside the
target keeps two runs from writing it at once.

A damaged input (a truncated download, a recording cut short) is dreamed up to the damage: what was
dreamed is written, and the result says where the input stopped (`damaged`), so the command can say so and
exit with its own status.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from live.config import Config
from live.dream.composite import add_residual
from live.dream.quality import PictureMeter
from live.dream.temporal import TemporalDreamer
from live.backends.dreamer import build_dreamer, objectives_of, presets_for
from live.errors import UserError
from live.core.files import OutputLock, atomic_output, check_output
from live.core.progress import progress as progress_bar
from live.core.videofiles import RECORD_SUFFIXES, recover_partials
from live.core.stopping import StopSignals

log = logging.getLogger("live-dream")
AUDIO_COPIED = {"aac", "mp3", "alac", "opus", "flac", "ac3", "eac3"}  # codecs MP4 holds as they are


def open_input(path: Path):
    import av
    if not path.is_file():
        raise UserError(f"cannot read video {path}: no such file")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise UserError(f"cannot read video {path}: not a video FFmpeg can decode ({exc.__class__.__name__}); "
                        f"convert it to H.264 MP4") from None
    if not container.streams.video:
        container.close()
        raise UserError(f"cannot read video {path}: it has no video track")
    return container


def dream_size(config: Config, size: tuple[int, int], asked: bool) -> tuple[int, int]:
    """--size as given, else live.width wide with the input's aspect ratio (so no picture is cropped)."""
    if asked:
        return config.live.width, config.live.height
    w = min(config.live.width, size[0])
    return w, max(32, round(w * size[1] / size[0] / 8) * 8)


def render_video(input_path: str, output_path: str, config: Config, size_given: bool = False,
                 progress: bool = True, measure: bool = False) -> dict:
    """The figures of the render; `damaged` (frames, seconds) when the input broke off and only the frames
    before that were dreamed and written."""
    import av
    source, target = Path(input_path), check_output(output_path, "write", RECORD_SUFFIXES, inputs=(input_path,))
    container = open_input(source)
    lock = OutputLock(target, "write")
    # SIGTERM, SIGHUP (a closed SSH session) stop it like Ctrl-C, so the partial is removed on the way out
    with StopSignals():
        try:
            lock.acquire()
            recover_partials(target)  # the partials of renders or recordings to this target that were killed
            with atomic_output(target, named_by_process=True) as partial:  # renamed into place when done
                result = _render(container, partial, config, size_given, progress, source, measure)
        except av.FFmpegError as exc:  # writing failed (reading the input cannot: damage ends the input)
            raise UserError(f"cannot render {source}: {exc}") from None
        finally:
            container.close()
            lock.release()
    if result["damaged"]:
        n, seconds = result["damaged"]["frames"], result["damaged"]["seconds"]
        log.warning("the input is damaged after frame %d (%.1f s); dreamed and wrote the first %d frames", n,
                    seconds, n)
    return result


def _input(container, video_in, audio_in, decode_audio: bool, damage: dict):
    """The input's packets in order, each with its decoded frames (audio: only where it is re-encoded).
    Stops at the first damaged packet (unreadable, cut short, undecodable) and notes why in `damage`; the
    frames still held in the video decoder are drained first, so nothing before the damage is lost."""
    import av
    packets = container.demux(*[s for s in (video_in, audio_in) if s is not None])
    while True:
        try:
            packet = next(packets)
            if packet.is_corrupt:
                raise av.InvalidDataError(0, "a corrupt packet")
            decode = packet.stream is video_in or decode_audio
            yield packet, packet.decode() if decode else []
        except StopIteration:
            return
        except av.FFmpegError as exc:
            damage["error"] = str(exc)
            break
    try:  # the frames decoded from whole packets but still held in the decoder (reordering)
        frames = video_in.codec_context.decode(None)
    except av.FFmpegError:
        frames = []
    for frame in frames:  # decoded by the codec, not the stream: they carry no time base
        frame.time_base = frame.time_base or video_in.time_base
    if frames:
        yield None, frames


def _render(container, partial: Path, config: Config, size_given: bool, progress: bool, source: Path,
            measure: bool) -> dict:
    import av
    video_in = container.streams.video[0]
    audio_in = container.streams.audio[0] if container.streams.audio else None
    width, height = video_in.codec_context.width, video_in.codec_context.height
    small = dream_size(config, (width, height), size_given)
    first = objectives_of(presets_for(config))[0]  # a render dreams one objective: prepare only that one
    config = replace(config, network=replace(config.network, objective=first),
                     live=replace(config.live, width=small[0], height=small[1], presets=(first,)))
    dreamer = build_dreamer(config)
    steps = config.live.steps
    meter = PictureMeter() if measure else None
    temporal = TemporalDreamer(lambda image: dreamer.run(image, 0, steps, 1.0), config.temporal)
    frames, first_pts, last, damage = 0, None, None, {}
    with av.open(str(partial), "w", format="mp4") as out:
        video_out, audio_out, copy_audio = _output_streams(out, video_in, audio_in)
        bar = progress_bar(total=video_in.frames or None, desc=f"rendering {source.name}", unit="frame",
                           disable=not progress)
        with bar:
            for packet, decoded in _input(container, video_in, audio_in, not copy_audio, damage):
                if packet is not None and packet.stream is audio_in:
                    _pass_audio(out, packet, decoded, audio_out, copy_audio)
                    continue
                for frame in decoded:
                    shown = _dreamed_picture(frame.to_ndarray(format="rgb24"), small, temporal,
                                             config.display.composite, meter)
                    picture = av.VideoFrame.from_ndarray(shown, format="rgb24")
                    picture.pts, picture.time_base = frame.pts, frame.time_base
                    out.mux(video_out.encode(picture))
                    frames, last = frames + 1, frame
                    first_pts = frame.pts if first_pts is None else first_pts
                    bar.update()
        out.mux(video_out.encode(None))
        if audio_out is not None and not copy_audio:
            out.mux(audio_out.encode(None))
    if frames == 0:
        why = f" ({damage['error']})" if damage else ""
        raise UserError(f"cannot render {source}: no frame could be decoded{why}; the input may be damaged")
    return {"frames": frames, "size": [width, height], "dream_size": list(small),
            "damaged": _damaged(damage, video_in, frames, first_pts, last),
            "audio": "copied" if copy_audio else ("re-encoded to AAC" if audio_out else "none"),
            **({"picture": meter.figures()} if meter else {})}


def _output_streams(out, video_in, audio_in):
    """H.264 at the input's size, rate and time base; the sound copied where MP4 can hold it, else AAC."""
    width, height = video_in.codec_context.width, video_in.codec_context.height
    video_out = out.add_stream("libx264", rate=video_in.average_rate or 30, options={"preset": "medium", "crf": "18"})
    video_out.width, video_out.height = width, height
    video_out.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
    video_out.time_base = video_in.time_base
    audio_out, copy_audio = None, False
    if audio_in is not None:
        copy_audio = audio_in.codec_context.name in AUDIO_COPIED
        audio_out = (out.add_stream_from_template(audio_in) if copy_audio
                     else out.add_stream("aac", rate=audio_in.codec_context.sample_rate or 48000))
    return video_out, audio_out, copy_audio


def _pass_audio(out, packet, decoded, audio_out, copy_audio: bool) -> None:
    if copy_audio:
        if packet.dts is not None:
            packet.stream = audio_out
            out.mux(packet)
        return
    for frame in decoded:
        frame.pts = None
        out.mux(audio_out.encode(frame))


def _dreamed_picture(rgb: np.ndarray, small: tuple[int, int], temporal: TemporalDreamer, composite: str,
                     meter: PictureMeter | None) -> np.ndarray:
    """One input frame dreamed (as live: a NaN restarts the dream, never blacks out) and composed."""
    framed = cv2.resize(rgb, small, interpolation=cv2.INTER_AREA)
    dreamed = temporal(framed.astype(np.float32) / 255)
    if not np.isfinite(dreamed).all():
        temporal.reset()
        dreamed = framed.astype(np.float32) / 255
    dream = (np.clip(dreamed, 0, 1) * 255 + 0.5).astype(np.uint8)
    shown = (add_residual(rgb, dream, framed) if composite == "residual"
             else cv2.resize(dream, rgb.shape[1::-1], interpolation=cv2.INTER_CUBIC))
    if meter:
        meter.add(shown, rgb)
    return shown


def _damaged(damage: dict, video_in, frames: int, first_pts, last) -> dict | None:
    """Where the input broke off (the end of the last good frame), or None if it was whole."""
    if not damage:
        return None
    rate = video_in.average_rate or video_in.guessed_rate or 30
    seconds = float((last.pts - first_pts) * last.time_base + 1 / rate) if last.pts is not None else frames / rate
    return {"frames": frames, "seconds": round(seconds, 3), "error": damage["error"]}
