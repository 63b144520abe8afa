"""`live-dream still`: dream one photo, with a progress bar, written atomically."""
from __future__ import annotations

import torch

from live.config import Config
from live.dream.step import count_steps, deepdream
from live.backends.engine import load_engine
from live.errors import UserError
from live.core.progress import progress as progress_bar
from live.core.imageio import check_writable, read_image, write_image
from live.dream.tensors import to_rgb, to_tensor


def dream_still(input_path, output_path, config: Config, progress: bool = True) -> None:
    check_writable(output_path, inputs=(input_path, config.network.guide))  # before minutes of work
    rgb = read_image(input_path)
    engine = load_engine(config.network)
    image = to_tensor(rgb, engine.device)
    total = count_steps(*image.shape[-2:], config.still_settings())
    with progress_bar(total=total, desc=f"dreaming {engine.objective}", unit="step", disable=not progress) as bar:
        result = deepdream(engine.net, engine.objective, image, config.still_settings(), on_step=bar.update)
    if not torch.isfinite(result).all():
        raise UserError(f"the dream of {input_path} went numerically wrong (NaN); nothing was written. "
                        f"Use smaller objective weights or another objective")
    write_image(output_path, to_rgb(result))
