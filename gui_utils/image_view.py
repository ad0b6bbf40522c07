"""Zoom and pan of an image inside a rectangle: fit, zoom around the cursor, drag, reset. No OpenGL here."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class ImageView:
    """Maps image pixels to screen: screen = area origin + offset + pixel * zoom.

    Until the person zooms or pans, the image is fitted to the area (`fitted`). At integer zooms the offset is
    rounded to whole screen pixels, so every image pixel covers exactly zoom x zoom screen pixels.
    """

    zoom: float = 1.0
    offset_x: float = 0.0
    offset_y: float = 0.0
    fitted: bool = True

    def layout(self, area_width: float, area_height: float, image_width: int, image_height: int) -> None:
        if self.fitted:
            self.zoom = min(area_width / image_width, area_height / image_height)
            if self.zoom >= 1:
                self.zoom = float(math.floor(self.zoom))  # pixel-exact when the image is enlarged
            self.offset_x = (area_width - image_width * self.zoom) / 2
            self.offset_y = (area_height - image_height * self.zoom) / 2
        if float(self.zoom).is_integer():
            self.offset_x, self.offset_y = round(self.offset_x), round(self.offset_y)

    def rect(self, image_width: int, image_height: int) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of the image relative to the area's origin."""
        return (
            self.offset_x,
            self.offset_y,
            self.offset_x + image_width * self.zoom,
            self.offset_y + image_height * self.zoom,
        )

    def zoom_at(self, x: float, y: float, wheel_steps: float) -> None:
        """Zoom by sqrt(2) per wheel step, keeping the image point under (x, y) (area coordinates) in place."""
        factor = 2 ** (wheel_steps / 2)
        new_zoom = min(max(self.zoom * factor, 1 / 64), 256.0)
        if abs(new_zoom - round(new_zoom)) < 0.03:
            new_zoom = float(round(new_zoom))  # snap near-integer zooms to integers
        scale = new_zoom / self.zoom
        self.offset_x = x - (x - self.offset_x) * scale
        self.offset_y = y - (y - self.offset_y) * scale
        self.zoom = new_zoom
        self.fitted = False

    def pan(self, dx: float, dy: float) -> None:
        self.offset_x += dx
        self.offset_y += dy
        self.fitted = False

    def reset(self) -> None:
        self.fitted = True

    def image_point(self, x: float, y: float) -> tuple[float, float]:
        """The image pixel coordinates under an area point."""
        return (x - self.offset_x) / self.zoom, (y - self.offset_y) / self.zoom
