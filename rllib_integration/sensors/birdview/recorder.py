"""Write bird's-eye-view frames to a GIF or MP4, for inference scripts and for looking at what
the agent sees."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from imageio.core.format import Format

FORMATS = (".gif", ".mp4")


class FrameRecorder:
    """Append (H, W, 3) uint8 RGB frames; the file is complete after ``close()``.

    GIF needs only imageio and Pillow (installed). MP4 needs the ``imageio-ffmpeg`` package
    (``pip install imageio-ffmpeg``, which ships its own ffmpeg). A GIF is assembled in memory
    until ``close()``, about 37 kB a frame at 192x192.
    """

    def __init__(self, path: str | os.PathLike, fps: float = 20.0) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in FORMATS:
            raise ValueError(f"cannot record to '{self.path}': use a {' or '.join(FORMATS)} file")
        if not fps > 0:
            raise ValueError(f"cannot record to '{self.path}': fps must be positive, got {fps}")
        if suffix == ".mp4":
            try:
                import imageio_ffmpeg  # noqa: F401
            except ImportError:
                raise ValueError(
                    f"cannot record to '{self.path}': MP4 needs the imageio-ffmpeg package "
                    "(pip install imageio-ffmpeg); or record a .gif"
                ) from None
        self.fps = float(fps)
        self.frames = 0
        self.closed = False
        self._writer: Format.Writer | None = None

    def append(self, frame: np.ndarray) -> None:
        if self.closed:
            raise ValueError(f"'{self.path}' is closed: start a new FrameRecorder")
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frames must be (H, W, 3) uint8 RGB, got {frame.dtype} {frame.shape}")
        if self._writer is None:
            self._writer = self._open()
        self._writer.append_data(frame)
        self.frames += 1

    def close(self) -> None:
        self.closed = True
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()

    def __enter__(self) -> FrameRecorder:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _open(self) -> Format.Writer:
        import imageio

        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.suffix.lower() == ".gif":
            duration_ms = 1000.0 / self.fps
            return imageio.v2.get_writer(self.path, mode="I", duration=duration_ms, loop=0)
        # macro_block_size=1: any frame size, no silent resize to a multiple of 16
        return imageio.v2.get_writer(self.path, fps=self.fps, macro_block_size=1)
