"""The convolution explorer, driven headlessly: what it shows must be nnlib's Conv2d and torch's conv2d."""

import base64
import io
import re

import numpy as np
import pytest

pytest.importorskip("ipywidgets")

from nnlib.widgets import ConvExplorer  # noqa: E402
from nnlib.widgets.conv_explorer import KERNELS, convolve, parse_kernel, sample_image, to_png  # noqa: E402


def torch_conv(image, kernel, stride, padding):
    torch = pytest.importorskip("torch")
    x = torch.from_numpy(np.asarray(image, dtype=np.float64))[None, None]
    w = torch.from_numpy(np.asarray(kernel, dtype=np.float64))[None, None]
    return torch.nn.functional.conv2d(x, w, stride=stride, padding=padding)[0, 0].numpy()


def shown_images(explorer):
    """Decode the PNGs inside the explorer's HTML (input first, output last) to [0, 1] arrays."""
    from matplotlib.image import imread

    pngs = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", explorer.charts.value)
    images = [imread(io.BytesIO(base64.b64decode(p)), format="png") for p in pngs]
    return [im if im.ndim == 2 else im[..., 0] for im in images]


def scaled(a):
    return (a - a.min()) / (a.max() - a.min())


IMAGE = np.random.default_rng(0).random((23, 30))


@pytest.mark.parametrize("kernel,stride,padding", [("edge_x", 1, 0), ("blur", 2, 1), ("sharpen", 3, 2),
                                                   ("laplace", 2, 0), ("edge_y", 4, 3)])
def test_changing_controls_shows_the_convolution(kernel, stride, padding):
    e = ConvExplorer(IMAGE)
    e.kernel.value, e.stride.value, e.padding.value = kernel, stride, padding
    p = e.plotted
    assert (p["stride"], p["padding"]) == (stride, padding)
    np.testing.assert_array_equal(p["kernel"], KERNELS[kernel][1])
    # torch floors the output size: on the uncropped image it gives the same numbers.
    reference = torch_conv(IMAGE, KERNELS[kernel][1], stride, padding)
    np.testing.assert_allclose(p["output"], reference, rtol=1e-12, atol=1e-12)
    padded = np.pad(IMAGE, padding)
    assert p["padded"].shape == (padded.shape[0] - p["cropped"][0], padded.shape[1] - p["cropped"][1])
    np.testing.assert_array_equal(p["padded"], padded[:p["padded"].shape[0], :p["padded"].shape[1]])
    shown_in, shown_out = shown_images(e)
    assert shown_out.shape == reference.shape and shown_in.shape == p["padded"].shape
    np.testing.assert_allclose(shown_out, scaled(reference), atol=0.5 / 255 + 1e-6)  # 8-bit PNG, rounded
    np.testing.assert_allclose(shown_in, scaled(p["padded"]), atol=0.5 / 255 + 1e-6)
    oh = (IMAGE.shape[0] + 2 * padding - KERNELS[kernel][1].shape[0]) // stride + 1
    assert f"= {oh}，" in e.status.value


def test_custom_kernel_from_text_and_bad_text():
    e = ConvExplorer(IMAGE, kernel="custom", custom="1, 2, 0\n0 -1 3")
    np.testing.assert_array_equal(e.plotted["kernel"], [[1, 2, 0], [0, -1, 3]])
    expected = torch_conv(IMAGE, [[1, 2, 0], [0, -1, 3]], 1, 0)
    np.testing.assert_allclose(e.plotted["output"], expected, atol=1e-12)
    before = e.plotted
    e.custom.value = "1 2\n3"
    assert "每行的数字个数必须相同" in e.status.value and "color:#b00020" in e.status.value
    assert e.plotted is before  # the last valid picture stays
    with pytest.raises(ValueError):
        parse_kernel("a b")


def test_crops_what_torch_would_ignore_and_says_so():
    out, padded, cropped = convolve(np.ones((6, 7)), np.ones((3, 3)), stride=2, padding=0)
    assert cropped == (1, 0) and out.shape == (2, 3) and padded.shape == (5, 7)
    e = ConvExplorer(np.ones((6, 7)) * np.arange(7), kernel="identity", stride=2)
    assert "最下方 1 行、最右侧 0 列" in e.status.value


def test_builtin_images_and_png():
    china = sample_image("china")
    assert china.shape == (142, 213) and 0 <= china.min() < china.max() <= 1
    assert sample_image("digit").shape == (32, 32)
    e = ConvExplorer("digit", kernel="blur")
    e.image.value = "china"
    np.testing.assert_array_equal(e.plotted["image"], china)
    assert to_png(np.zeros((3, 3)))[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="unknown kernel"):
        ConvExplorer(kernel="emboss")
    with pytest.raises(ValueError, match="2-D"):
        ConvExplorer(np.zeros((2, 3, 4)))
