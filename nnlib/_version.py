"""The one version string shared by nnlib and the book (the Colab setup cell installs exactly it)."""

__version__ = "0.1.0"
