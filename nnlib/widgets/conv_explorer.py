"""Convolution explorer: one kernel, a stride and a padding applied to a real grayscale image.

The output is computed by :class:`nnlib.nn.Conv2d` with the kernel as its fixed weight (no
bias), exactly the layer the chapter trains, so what the reader sees is what a CNN's first
layer does. Both images are shown as grayscale PNGs, each scaled from its own minimum (black)
to its maximum (white); the kernel's numbers and the output size
⌊(H + 2p − k)/s⌋ + 1 are shown next to them.

nnlib refuses an output size that is not an integer (PyTorch would floor it and silently drop
the last rows/columns of the padded input). The explorer instead crops those rows and columns
off the padded input first and says so in its status line, so every stride and padding can be
tried; its output is then exactly PyTorch's.
"""

import base64
import io

import ipywidgets as W
import numpy as np

from .. import nn
from .live import LiveWidget, bounded, labelled

# name → (description, 2-D kernel)
KERNELS = {
    "edge_x": ("边缘：Sobel 水平梯度", np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)),
    "edge_y": ("边缘：Sobel 竖直梯度", np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=np.float64)),
    "laplace": ("边缘：拉普拉斯", np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64)),
    "blur": ("模糊：5×5 均值", np.full((5, 5), 1 / 25)),
    "sharpen": ("锐化", np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=np.float64)),
    "identity": ("恒等（原图）", np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=np.float64)),
    "custom": ("自定义（在右侧输入）", None),
}

DEFAULT_CUSTOM = "1 0 -1\n1 0 -1\n1 0 -1"


def _china_photo():
    """scikit-learn's ``china.jpg`` as a (427, 640, 3) uint8 array, what its ``load_sample_image``
    returns: read with Pillow (which matplotlib needs anyway) without importing scikit-learn."""
    from ..data import scikit_learn_file

    path = scikit_learn_file("datasets", "images", "china.jpg")
    if path is None:  # a scikit-learn without the file: its own loader says what is wrong
        from sklearn.datasets import load_sample_image

        return load_sample_image("china.jpg")
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image)


def sample_image(name="china", scale=3):
    """A grayscale image in [0, 1] (float64, H × W) that ships with an installed package.

    ``"china"``: scikit-learn's ``china.jpg`` (427 × 640 colour photo), to grayscale with the
    ITU-R 601 weights 0.299 R + 0.587 G + 0.114 B, then averaged over ``scale`` × ``scale``
    blocks. ``"digit"``: the first of scikit-learn's 8×8 handwritten digits, each pixel a
    4×4 block (32 × 32).
    """
    if name == "china":
        rgb = _china_photo().astype(np.float64) / 255.0
        gray = rgb @ np.array([0.299, 0.587, 0.114])
        h, w = (gray.shape[0] // scale) * scale, (gray.shape[1] // scale) * scale
        return gray[:h, :w].reshape(h // scale, scale, w // scale, scale).mean(axis=(1, 3))
    if name == "digit":
        from ..data import load_digits_8x8

        digit = load_digits_8x8()[0][0] / 16.0
        return np.kron(digit, np.ones((4, 4)))
    raise ValueError(f"unknown image {name!r}; expected 'china' or 'digit'")


def parse_kernel(text):
    """A 2-D kernel from text: one row per line, numbers separated by spaces or commas."""
    rows = [line.replace(",", " ").split() for line in text.strip().splitlines() if line.strip()]
    if not rows or any(len(r) != len(rows[0]) for r in rows):
        raise ValueError("自定义卷积核：每行的数字个数必须相同（例如 3 行、每行 3 个数）")
    try:
        return np.array([[float(v) for v in r] for r in rows])
    except ValueError as exc:
        raise ValueError(f"自定义卷积核：无法读成数字（{exc}）") from None


def convolve(image, kernel, stride=1, padding=0):
    """``Conv2d(1, 1, kernel.shape, stride, bias=False)`` with ``kernel`` as its weight, on
    ``image`` zero-padded by ``padding`` on every side.

    The padding is added here rather than by the layer, so that the last rows and columns of
    the *padded* image that no window reaches can be cropped off first: exactly the ones
    PyTorch and nnlib's Conv2d ignore silently. Returns ``(output, padded, (rows, cols))``:
    the float64 (OH, OW) output, the padded and cropped input the layer saw, and how many rows
    and columns were cropped.
    """
    image, kernel = np.asarray(image, dtype=np.float64), np.asarray(kernel, dtype=np.float64)
    kh, kw = kernel.shape
    padded = np.pad(image, padding)
    cropped = []
    for size, k in ((image.shape[0], kh), (image.shape[1], kw)):
        if k > size + 2 * padding:
            raise ValueError(f"卷积核 {k} 比补零后的图像 {size} + 2·{padding} 还大")
        cropped.append((size + 2 * padding - k) % stride)
    padded = padded[:padded.shape[0] - cropped[0], :padded.shape[1] - cropped[1]]
    conv = nn.Conv2d(1, 1, (kh, kw), stride=stride, bias=False, dtype="float64")
    conv.weight.data = kernel[None, None].copy()
    return conv(padded[None, None])[0, 0], padded, tuple(cropped)


def to_png(array):
    """8-bit grayscale PNG bytes of a 2-D array, scaled from its minimum (0, black) to its maximum
    (255, white)."""
    from PIL import Image  # Pillow: a dependency of matplotlib

    array = np.asarray(array, dtype=np.float64)
    lo, hi = float(array.min()), float(array.max())
    scaled = (array - lo) / (hi - lo) if hi > lo else np.zeros_like(array)
    buf = io.BytesIO()
    Image.fromarray(np.round(scaled * 255).astype(np.uint8), mode="L").save(buf, format="png")
    return buf.getvalue()


def _img(png, width, caption):
    data = base64.b64encode(png).decode("ascii")
    return (f"<figure style='margin:4px 12px 4px 0;display:inline-block;vertical-align:top'>"
            f"<img src='data:image/png;base64,{data}' style='width:{width}px;image-rendering:pixelated'/>"
            f"<figcaption style='font-size:13px'>{caption}</figcaption></figure>")


def _kernel_table(kernel):
    cell = "<td style='padding:2px 6px;text-align:right'>{:g}</td>"
    rows = "".join("<tr>" + "".join(cell.format(v) for v in row) + "</tr>" for row in np.round(kernel, 4))
    return (f"<figure style='margin:4px 12px 4px 0;display:inline-block;vertical-align:top'>"
            f"<table style='border:1px solid #999;font-family:monospace'>{rows}</table>"
            f"<figcaption style='font-size:13px'>卷积核 {kernel.shape[0]}×{kernel.shape[1]}</figcaption>"
            f"</figure>")


class ConvExplorer(LiveWidget):
    """Choose a kernel, stride and padding; see ``nn.Conv2d``'s output on a real image.

    ``image``: ``"china"`` (scikit-learn's photo in grayscale), ``"digit"``, or any 2-D array.
    Drive it from code by setting the controls (``kernel``, ``custom``, ``stride``,
    ``padding``, ``image``); ``plotted`` holds the arrays of the last redraw: ``image``,
    ``padded`` (the padded and cropped input shown), ``kernel``, ``output``, ``cropped``,
    ``stride``, ``padding``.
    """

    def __init__(self, image="china", *, kernel="edge_x", stride=1, padding=0, custom=DEFAULT_CUSTOM,
                 display_width=240, min_interval=0.0):
        super().__init__(min_interval)
        if kernel not in KERNELS:
            raise ValueError(f"unknown kernel {kernel!r}; expected one of {list(KERNELS)}")
        self.display_width = display_width
        self._images = {"china": None, "digit": None}
        options = [("照片（china.jpg，灰度）", "china"), ("手写数字", "digit")]
        if not isinstance(image, str):
            array = np.asarray(image, dtype=np.float64)
            if array.ndim != 2:
                raise ValueError(f"image must be a 2-D (grayscale) array, got shape {array.shape}")
            self._images["array"] = array
            options.append(("自己的图像", "array"))
            image = "array"
        self.image = labelled(W.Dropdown(options=options, value=image), "图像")
        kernel_options = [(d, k) for k, (d, _) in KERNELS.items()]
        self.kernel = labelled(W.Dropdown(options=kernel_options, value=kernel), "卷积核")
        self.custom = W.Textarea(value=custom, rows=5, layout={"width": "140px"},
                                 description="自定义", style={"description_width": "50px"})
        self.stride = labelled(bounded(W.IntSlider(min=1, max=4), stride, "stride"), "步幅 s")
        self.padding = labelled(bounded(W.IntSlider(min=0, max=4), padding, "padding"), "填充 p")
        for control in (self.image, self.kernel, self.custom, self.stride, self.padding):
            # A kernel that cannot be read or does not fit shows its error; the last valid picture stays.
            self.on_change(control, lambda _: self.redraw())
        self.charts = W.HTML()
        self.view.children = [
            W.HBox([W.VBox([self.image, self.kernel, self.stride, self.padding]), self.custom],
                   layout={"flex_flow": "row wrap"}),
            self.status, self.charts]
        self.redraw()

    def current_image(self):
        name = self.image.value
        if self._images.get(name) is None:
            self._images[name] = sample_image(name)
        return self._images[name]

    def current_kernel(self):
        """The chosen kernel as a 2-D float64 array (parsed from the text box for "custom")."""
        chosen = KERNELS[self.kernel.value][1]
        return parse_kernel(self.custom.value) if chosen is None else chosen

    def _render(self):
        kernel = self.current_kernel()
        image = self.current_image()
        stride, padding = self.stride.value, self.padding.value
        output, padded, cropped = convolve(image, kernel, stride, padding)
        self.plotted = {"image": image, "padded": padded, "kernel": kernel, "output": output,
                        "cropped": cropped, "stride": stride, "padding": padding}
        self.pngs = {"image": to_png(padded), "output": to_png(output)}
        (h, w), (kh, kw), (oh, ow) = image.shape, kernel.shape, output.shape
        # Same display scale for both: an output half the size is drawn half as wide.
        scale = self.display_width / max(padded.shape[1], 1)
        self.charts.value = (
            _img(self.pngs["image"], self.display_width,
                 f"输入 {h}×{w}" + (f"，四周补 {padding} 圈 0" if padding else ""))
            + _kernel_table(kernel)
            + _img(self.pngs["output"], max(1, round(ow * scale)),
                   f"输出 {oh}×{ow}（各自按最小值→黑、最大值→白显示）"))
        note = ""
        if any(cropped):
            note = (f"；(H + 2p − k)/s 不是整数：补零后输入的最下方 {cropped[0]} 行、最右侧 {cropped[1]} 列"
                    f"没有窗口能覆盖，这里先把它们裁掉（PyTorch 与 nnlib 的 Conv2d 都会默默忽略它们）")
        self.set_status(f"输出高 ⌊({h} + 2·{padding} − {kh})/{stride}⌋ + 1 = {oh}，"
                        f"宽 ⌊({w} + 2·{padding} − {kw})/{stride}⌋ + 1 = {ow}{note}")
