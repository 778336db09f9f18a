"""The usage example in nnlib's package docstring runs as shown."""

import doctest

import nnlib


def test_package_docstring_example():
    result = doctest.testmod(nnlib, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
