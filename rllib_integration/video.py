"""VideoWriter: RGB frames (bird's-eye views, camera images) to an MP4 file, with OpenCV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class VideoWriter:
    """Frames are H x W x 3 RGB (more channels: the first three) or H x W (x 1) grey, uint8."""

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path = Path(path)
        self.fps = fps
        self._writer: Any = None

    def add(self, frame: np.ndarray) -> None:
        import cv2

        frame = np.ascontiguousarray(frame)
        if frame.ndim == 2:
            frame = frame[..., None]
        if frame.shape[-1] == 1:
            frame = np.repeat(frame, 3, axis=-1)
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            size = (frame.shape[1], frame.shape[0])
            fourcc = cv2.VideoWriter.fourcc(*"mp4v")
            self._writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, size)
            if not self._writer.isOpened():
                raise OSError(f"cannot write video {self.path}")
        self._writer.write(cv2.cvtColor(frame[..., :3], cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
