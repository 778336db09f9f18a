"""``import nnlib`` does not import torch, and the NumPy backend works where torch is absent
(checked in fresh interpreters, since this test process has long imported torch)."""

import textwrap

from fresh_python import run_python

# Makes `import torch` fail as it does where torch is not installed (without touching sys.modules).
BLOCK_TORCH = """
import sys

class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, _NoTorch())
"""


def test_importing_nnlib_does_not_import_torch():
    out = run_python("""
        import sys
        import nnlib, nnlib.nn, nnlib.autograd, nnlib.gradcheck, nnlib.diagnostics, nnlib.nn.init
        print(sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")))
    """)
    assert out.strip() == "[]"


def test_the_numpy_backend_works_without_torch():
    out = run_python(BLOCK_TORCH + textwrap.dedent("""
        import numpy as np
        import nnlib
        from nnlib import nn
        from nnlib.diagnostics import DivergenceGuard
        from nnlib.gradcheck import gradcheck

        try:
            import torch
        except ImportError:
            pass
        else:
            raise SystemExit("the block did not work")

        assert nnlib.available_devices() == ["numpy"] and nnlib.best_device() == "numpy"
        nnlib.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.GELU(), nn.Dropout(0.2), nn.LeakyReLU(),
                              nn.Linear(8, 3), nn.Softmax(dim=1))
        x = np.random.default_rng(0).standard_normal((5, 2, 2)).astype(np.float32)
        guard = DivergenceGuard(model)
        criterion = nn.CrossEntropyLoss()
        loss = criterion(model(x), np.array([0, 1, 2, 0, 1]))
        assert model.backward(criterion.backward()).shape == (5, 2, 2)
        guard.check(0, loss)
        assert nnlib.to_numpy(loss).shape == ()
        model.load_state_dict({k: v * 0 for k, v in model.state_dict().items()})
        assert gradcheck(nn.Sequential(nn.Linear(3, 2, dtype="float64"), nn.Tanh()), np.ones((2, 3))).passed
        mse = nn.MSELoss()
        mse(np.ones(3), np.zeros(3))
        assert mse.backward().shape == (3,)
        from nnlib.autograd import Tensor, cross_entropy
        z = Tensor(np.zeros((2, 3)), requires_grad=True)
        cross_entropy(z, np.array([0, 2])).backward()
        assert z.grad.shape == (2, 3)

        try:
            nn.Linear(2, 2, device="cpu")
        except ImportError as exc:
            assert "pip install torch" in str(exc) and "device='numpy'" in str(exc)
        else:
            raise SystemExit("a torch device without torch must raise ImportError")
        print("ok", "torch" in sys.modules)
    """))
    assert out.split() == ["ok", "False"]
