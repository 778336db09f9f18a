"""nnlib.models.ConvNet against the source document's PyTorch ConvNet (nnlib.torch_models): same
state_dict keys, weights load both ways, outputs and all gradients agree (float64 1e-10, float32 1e-5)."""

import numpy as np
import pytest
import torch

import nnlib
from nnlib import gradcheck as gc
from nnlib import nn, torch_models
from nnlib.backend import device_of, to_device, to_numpy
from nnlib.errors import ShapeError
from nnlib.models import ConvNet
from nnlib_cases import assert_close


def images(n=3, dtype="float64", seed=0):
    return np.random.default_rng(seed).standard_normal((n, 3, 32, 32)).astype(dtype)


def test_module_tree_and_state_dict_keys_are_the_documents():
    ours, theirs = ConvNet(), torch_models.ConvNet()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [name for name, _ in ours.named_children()] == [name for name, _ in theirs.named_children()]
    for key, value in theirs.state_dict().items():
        assert tuple(ours.state_dict()[key].shape) == tuple(value.shape), key


@pytest.mark.parametrize("loss", [False, True], ids=["projection", "cross-entropy"])
def test_outputs_and_all_gradients_match_the_document_model(device, float_dtype, loss):
    torch.manual_seed(0)
    theirs = torch_models.ConvNet().to(getattr(torch, float_dtype))
    ours = ConvNet(dtype=float_dtype)
    ours.load_state_dict(theirs.state_dict())
    ours.to(device)
    x = images(dtype=float_dtype)
    y = np.array([3, 0, 9])
    out = ours(to_device(x, device))
    assert device_of(out) == device and tuple(out.shape) == (3, 10)
    expected = theirs(torch.tensor(x)).detach().numpy()
    assert_close({"output": to_numpy(out)}, {"output": expected}, float_dtype, "ConvNet")
    our_loss = (nn.CrossEntropyLoss(), to_device(y, device)) if loss else None
    their_loss = (torch.nn.CrossEntropyLoss(), torch.tensor(y)) if loss else None
    ours_grads = gc.analytic_gradients(ours, to_device(x, device), loss=our_loss)
    theirs_grads = gc.autograd_gradients(theirs, x, loss=their_loss)
    assert set(ours_grads) == set(theirs_grads) == {"input"} | set(theirs.state_dict())
    assert_close(ours_grads, theirs_grads, float_dtype, "ConvNet gradients")


def test_weights_go_back_to_pytorch_unchanged():
    nnlib.manual_seed(3)
    ours = ConvNet(dtype="float64")
    theirs = torch_models.ConvNet().double()
    theirs.load_state_dict({k: torch.as_tensor(v) for k, v in ours.state_dict().items()})
    x = images()
    np.testing.assert_allclose(to_numpy(ours(x)), theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-12, atol=1e-14)


def test_backward_without_input_gradient_gives_the_same_parameter_gradients():
    ours = ConvNet(dtype="float64")
    x, grad = images(2), np.random.default_rng(1).standard_normal((2, 10))
    ours(x)
    ours.backward(grad)
    full = {name: p.grad.copy() for name, p in ours.named_parameters()}
    ours.zero_grad()
    ours(x)
    assert ours.backward(grad, input_grad=False) is None
    for name, p in ours.named_parameters():
        np.testing.assert_array_equal(p.grad, full[name])


def test_a_short_training_run_matches_pytorch():
    """Three Adam steps on the same batch: the weights stay together (float64)."""
    from nnlib import optim
    torch.manual_seed(1)
    theirs = torch_models.ConvNet().double()
    ours = ConvNet(dtype="float64")
    ours.load_state_dict(theirs.state_dict())
    x, y = images(4, seed=2), np.random.default_rng(2).integers(0, 10, size=4)
    opt, ref_opt = optim.Adam(ours.parameters(), lr=1e-2), torch.optim.Adam(theirs.parameters(), lr=1e-2)
    criterion, ref_criterion = nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    for _ in range(3):
        opt.zero_grad()
        criterion(ours(x), y)
        ours.backward(criterion.backward(), input_grad=False)
        opt.step()
        ref_opt.zero_grad()
        ref_criterion(theirs(torch.tensor(x)), torch.tensor(y)).backward()
        ref_opt.step()
    assert_close({k: to_numpy(v) for k, v in ours.state_dict().items()},
                 {k: v.numpy() for k, v in theirs.state_dict().items()}, "float64", "after 3 Adam steps")


def test_other_image_sizes_are_a_clear_error():
    ours = ConvNet()
    with pytest.raises(ShapeError, match=r"expects \(N, 3, 32, 32\) images"):
        ours(np.zeros((2, 3, 36, 36), dtype=np.float32))
    with pytest.raises(ShapeError, match=r"\(N, 3, H, W\) or \(3, H, W\) \(3 channels\), got \(2, 1, 32, 32"):
        ours(np.zeros((2, 1, 32, 32), dtype=np.float32))
