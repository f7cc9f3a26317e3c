"""Frame.load: the pixels a plugin gets are its own writable array."""

from __future__ import annotations

import numpy as np
from PIL import Image

from benchbench.frames import Frame


def test_load_from_a_file_is_writable(tmp_path):
    # np.asarray of a PIL image is read-only: torch.from_numpy warned on every training frame
    path = tmp_path / "f.png"
    Image.fromarray(np.full((4, 6), 7, np.uint8)).save(path)
    pixels = Frame(path, 6, 4, "sane").load()
    assert pixels.shape == (4, 6, 3) and pixels.flags.writeable
    pixels[:] = 0
    assert Frame(path, 6, 4, "sane").load().max() == 7


def test_load_from_memory_is_a_copy_the_frame_keeps_its_pixels():
    for image in (np.full((4, 6, 3), 7, np.uint8), np.full((4, 6), 7, np.uint8), np.full((4, 6, 3), 7.0)):
        frame = Frame(None, 6, 4, "sane", image=image)
        pixels = frame.load()
        assert pixels.flags.writeable and pixels.dtype == np.uint8
        pixels[:] = 0
        assert frame.load().max() == 7


def test_load_of_read_only_pixels_is_writable():
    image = np.full((4, 6, 3), 7, np.uint8)
    image.flags.writeable = False
    assert Frame(None, 6, 4, "sane", image=image).load().flags.writeable
