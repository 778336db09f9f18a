"""nnlib.torch_models holds the source document's code: each class is, node for node, the copy
that its chapter prints (the chapters keep their own verbatim copy; their source is
chapters/<name>.md), and with the same seed it builds the same weights and computes the same
outputs as the chapter's class."""

import ast
import inspect
from pathlib import Path

import jupytext
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from nnlib import torch_models  # noqa: E402  (needs torch)

ROOT = Path(__file__).resolve().parent.parent
CHAPTER_OF = {"ConvNet": ROOT / "chapters" / "ch04_1_cnn.md", "RNNModel": ROOT / "chapters" / "ch04_2_rnn.md"}
ARGUMENTS = {"ConvNet": (), "RNNModel": (11, 4, 5, 2)}  # vocab, embed, hidden, layers


def class_node(module, name):
    return next(s for s in module.body if isinstance(s, ast.ClassDef) and s.name == name)


def defines(module, name):
    return any(isinstance(s, ast.ClassDef) and s.name == name for s in module.body)


def chapter_definition(name):
    """The chapter's code that defines class ``name``: the class and the imports beside it.

    The class is either at the top level of a code cell (4.1) or in a string of code that the
    cell executes (4.2 keeps the document's text in ``DOCUMENT_CODE``); both are searched."""
    path = CHAPTER_OF[name]
    found = []
    for cell in jupytext.reads(path.read_text(encoding="utf-8"), fmt="md:myst").cells:
        source = cell["source"]
        if cell["cell_type"] != "code" or f"class {name}(" not in source:
            continue
        tree = ast.parse(source)
        code_strings = [ast.parse(node.value) for node in ast.walk(tree)
                        if isinstance(node, ast.Constant) and isinstance(node.value, str)
                        and f"class {name}(" in node.value]
        found += [module for module in [tree, *code_strings] if defines(module, name)]
    assert len(found) == 1, f"{path.name}: expected one definition of class {name}, found {len(found)}"
    module, imports = found[0], (ast.Import, ast.ImportFrom)
    body = [s for s in module.body if isinstance(s, imports) or s is class_node(module, name)]
    return ast.Module(body=body, type_ignores=[])


def chapter_class(name):
    namespace = {}
    exec(compile(chapter_definition(name), str(CHAPTER_OF[name]), "exec"), namespace)
    return namespace[name]


def inputs(name):
    rng = np.random.default_rng(0)
    if name == "ConvNet":
        return (torch.tensor(rng.standard_normal((2, 3, 32, 32)), dtype=torch.float32),)
    vocab, _, hidden, layers = ARGUMENTS[name]
    x = torch.tensor(rng.integers(0, vocab, (3, 6)))
    h0, c0 = (torch.tensor(rng.standard_normal((layers, 3, hidden)), dtype=torch.float32) for _ in range(2))
    return x, h0, c0


def tensors(output):
    """The tensors of a (nested) tuple output, in order."""
    if isinstance(output, torch.Tensor):
        return [output]
    return [t for part in output for t in tensors(part)]


@pytest.mark.parametrize("name", CHAPTER_OF)
def test_class_is_the_chapters_code(name):
    ours = class_node(ast.parse(inspect.getsource(torch_models)), name)
    theirs = class_node(chapter_definition(name), name)
    assert ast.dump(ours) == ast.dump(theirs), f"nnlib.torch_models.{name} differs from {CHAPTER_OF[name]}"


@pytest.mark.parametrize("name", CHAPTER_OF)
def test_same_seed_gives_the_chapters_weights_and_outputs(name):
    torch.manual_seed(0)
    ours = getattr(torch_models, name)(*ARGUMENTS[name])
    torch.manual_seed(0)
    theirs = chapter_class(name)(*ARGUMENTS[name])
    assert repr(ours) == repr(theirs)                                   # the same module tree
    ours_state, theirs_state = ours.state_dict(), theirs.state_dict()
    assert list(ours_state) == list(theirs_state)
    for key, value in theirs_state.items():
        assert torch.equal(ours_state[key], value), key
    x = inputs(name)
    ours_out, theirs_out = tensors(ours(*x)), tensors(theirs(*x))
    assert [tuple(t.shape) for t in ours_out] == [tuple(t.shape) for t in theirs_out]
    for a, b in zip(ours_out, theirs_out):
        assert torch.equal(a, b)
