"""What every live widget shares: a throttled redraw and display in any Jupyter frontend.

The training loop runs in the kernel's main thread (no threads: Colab does not show widget
updates made from other threads) and calls ``maybe_redraw()`` after every step; a redraw
happens only when ``min_interval`` seconds have passed since the last one, so drawing costs a
bounded share of the time however fast the steps are.
"""

import time

import ipywidgets as W
from IPython.display import display


class LiveWidget:
    """Base class: ``self.view`` is the ipywidgets container shown by ``display(obj)``."""

    def __init__(self, min_interval=0.2):
        if not min_interval >= 0:
            raise ValueError(f"min_interval must be >= 0 seconds, got {min_interval!r}")
        self.min_interval = min_interval
        self.redraws = 0
        self._last_redraw = float("-inf")
        self.status = W.HTML()
        self.view = W.VBox()

    def maybe_redraw(self):
        """Redraw if at least ``min_interval`` seconds passed since the last redraw."""
        if time.perf_counter() - self._last_redraw >= self.min_interval:
            self.redraw()

    def redraw(self):
        self._render()
        self.redraws += 1
        self._last_redraw = time.perf_counter()

    def _render(self):
        raise NotImplementedError

    def set_status(self, text, error=False):
        style = "color:#b00020" if error else "color:#333"
        self.status.value = f"<span style='{style}'>{text}</span>"

    def _ipython_display_(self):
        display(self.view)


def labelled(widget, description, width="110px"):
    """Give a control a label with room for Chinese text (ipywidgets truncates long descriptions)."""
    widget.description = description
    widget.style = {"description_width": width}
    return widget
