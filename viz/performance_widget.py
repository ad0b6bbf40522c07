"""Performance panel: UI frame time and render time plots, FPS limit, vsync, asynchronous rendering."""

from __future__ import annotations

import array

import imgui


class PerformanceWidget:
    def __init__(self, viz):
        self.viz = viz

    def __call__(self, show: bool) -> None:
        if not show:
            return
        viz = self.viz
        frames = viz.frame_history[-120:] or [0.0]
        renders = viz.render_history[-120:] or [0.0]
        frame_ms = array.array("f", [s * 1000 for s in frames])
        render_ms = array.array("f", [s * 1000 for s in renders])
        imgui.plot_lines("##frame", frame_ms, graph_size=(0, 40), scale_min=0)
        imgui.text(f"UI frame {frame_ms[-1]:.1f} ms ({1000 / max(frame_ms[-1], 1e-3):.0f} FPS)")
        imgui.plot_lines("##render", render_ms, graph_size=(0, 40), scale_min=0)
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
