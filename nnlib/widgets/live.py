"""What every live widget shares: a throttled redraw, guarded callbacks and display in any frontend.

The training loop runs in the kernel's main thread (no threads: Colab does not show widget
updates made from other threads) and calls ``maybe_redraw()`` after every step; a redraw
happens only when ``min_interval`` seconds have passed since the last one, so drawing costs a
bounded share of the time however fast the steps are. Throttling is for loops only: whatever
ends a loop or answers a single click calls ``redraw()``, so the last state is always drawn.

Every button and observer is registered through :meth:`LiveWidget.on_click` /
:meth:`LiveWidget.on_change`, which run it under :meth:`LiveWidget.guard`: ipywidgets catches
what a callback raises and sends it to the kernel's log, where the reader never sees it.
"""

import functools
import html
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
        self.last_error = None  # the exception a callback last raised (its traceback included)
        self.status = W.HTML()
        self.view = W.VBox()

    # --- drawing ------------------------------------------------------------------------------
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
        """Show ``text`` (HTML) in the status line; ``error`` shows it in red."""
        style = "color:#b00020" if error else "color:#333"
        self.status.value = f"<span style='{style}'>{text}</span>"

    # --- callbacks ----------------------------------------------------------------------------
    def guard(self, handler):
        """``handler`` with whatever it raises shown in the status line instead of lost.

        A ``KeyboardInterrupt`` (the kernel's stop button) still stops it: the long loops catch
        it themselves, between two steps, and draw where they stopped; one that arrives
        elsewhere ends the callback here with "已中断". Called from code, the widgets' methods
        (``train``, ``step``, ``run``, ``reset``) raise as usual.
        """

        @functools.wraps(handler)
        def guarded(*args):
            try:
                handler(*args)
            except KeyboardInterrupt:
                self.set_status("已中断")
            except Exception as err:  # noqa: BLE001 - every error is shown, none is hidden
                self.last_error = err
                self.set_status(f"出错（{type(err).__name__}）：{html.escape(str(err))}", error=True)

        guarded.guarded = True  # lets the tests check that no callback escapes the guard
        return guarded

    def on_click(self, button, action):
        """Clicking ``button`` calls ``action()``, guarded."""
        button.on_click(self.guard(lambda _button: action()))

    def on_change(self, control, action):
        """A new value of ``control`` calls ``action(new_value)``, guarded."""
        control.observe(self.guard(lambda change: action(change["new"])), names="value")

    def _ipython_display_(self):
        display(self.view)


# JupyterLab's and Colab's widget font (13 px), and the default width of a control with its label.
FONT_PX, DEFAULT_CONTROL_PX = 13, 300


def text_px(text, font_px=FONT_PX):
    """Rough rendered width of ``text``: CJK and full-width characters 1 em, others 0.62 em
    (a sans-serif's widest digits and lower-case letters; errs on the wide side)."""
    return sum(font_px * (1.0 if ord(ch) >= 0x2E80 else 0.62) for ch in text)


def labelled(widget, description, width="110px"):
    """Give a control a label with room for Chinese text (ipywidgets truncates long descriptions),
    and a dropdown enough width for its longest option (a select box cuts what does not fit)."""
    widget.description = description
    widget.style = {"description_width": width}
    if isinstance(widget, W.Dropdown) and widget.options:
        labels = [option[0] if isinstance(option, tuple) else str(option) for option in widget.options]
        needed = int(float(width.rstrip("px")) + max(map(text_px, labels)) + 48)  # + arrow and padding
        if needed > DEFAULT_CONTROL_PX:
            widget.layout.width = f"{needed}px"
    return widget


def bounded(slider, value, name):
    """Set a slider's starting ``value``, refusing one outside its range (ipywidgets would clamp
    it silently, and the widget would not run with the value it was given)."""
    lo, hi = slider.min, slider.max
    if isinstance(slider, W.FloatLogSlider):  # its min and max are exponents
        lo, hi = slider.base**lo, slider.base**hi
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be between {lo:g} and {hi:g} (the range of its slider), got {value!r}")
    slider.value = value
    return slider
