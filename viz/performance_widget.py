"""Performance panel: UI frame time and render time plots, FPS limit, vsync, asynchronous rendering."""

from __future__ import annotations

import numpy as np
from imgui_bundle import imgui, implot

HISTORY = 120  # samples shown: the last frames, and the last renders


class PerformanceWidget:
    def __init__(self, viz):
        self.viz = viz

    def __call__(self, show: bool) -> None:
        if not show:
            return
        viz = self.viz
        frame_ms = np.array(viz.frame_history[-HISTORY:] or [0.0], dtype=np.float64) * 1000
        render_ms = np.array(viz.render_history[-HISTORY:] or [0.0], dtype=np.float64) * 1000
        flags = implot.Flags_.no_menus | implot.Flags_.no_box_select | implot.Flags_.no_inputs
        if implot.begin_plot("##times", (-1, 150), flags):
            implot.setup_axes("samples ago", "ms")
            implot.setup_axis_limits(implot.ImAxis_.x1, -HISTORY + 1, 0, implot.Cond_.always)
            top = max(frame_ms.max(), render_ms.max(), 1.0) * 1.1
            implot.setup_axis_limits(implot.ImAxis_.y1, 0, top, implot.Cond_.always)
            # The newest sample sits at x = 0, so both series end together however many samples each has.
            implot.plot_line("UI frame", np.arange(1 - len(frame_ms), 1, dtype=np.float64), frame_ms)
            implot.plot_line("render", np.arange(1 - len(render_ms), 1, dtype=np.float64), render_ms)
            implot.end_plot()
        imgui.text(f"UI frame {frame_ms[-1]:.1f} ms ({1000 / max(frame_ms[-1], 1e-3):.0f} FPS)")
        imgui.text(f"render {render_ms[-1]:.1f} ms, latency {viz.latency_seconds * 1000:.0f} ms")
        limit = viz.fps_limit or 0
        changed, limit = imgui.slider_int("FPS limit (0: none)", limit, 0, 240)
        if changed:
            viz.fps_limit = limit or None
        changed, vsync = imgui.checkbox("vsync", viz.vsync)
        if changed:
            viz.set_vsync(vsync)
        imgui.same_line()
        changed, threaded = imgui.checkbox("Render asynchronously", viz.renderer.threaded)
        if changed:
            viz.set_async(threaded)
