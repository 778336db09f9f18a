"""nnlib's docstrings render on the book's API page without a single Sphinx warning.

The book is built with ``-W -n`` (warnings are errors), and api.md renders every documented
module with autodoc + napoleon. This test runs the same directives with the same settings
through Sphinx's ``dummy`` builder in a few seconds, so a docstring that is not valid
reStructuredText (e.g. a bare ``*args`` or ``|x|`` outside ````code````) fails here, in the
unit tests, with the file and line, instead of at the end of the book build.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

pytest.importorskip("sphinx")

ROOT = Path(__file__).resolve().parent.parent


def _eval_rst_blocks(markdown: str) -> list[str]:
    return re.findall(r"```\{eval-rst\}\n(.*?)```", markdown, flags=re.DOTALL)


def test_api_page_docstrings_build_without_warnings(tmp_path):
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    sphinx_config = config["sphinx"]["config"]
    settings = {
        k: v for k, v in sphinx_config.items() if k.startswith(("autodoc_", "napoleon_", "nitpick_"))
    }
    blocks = _eval_rst_blocks((ROOT / "api.md").read_text(encoding="utf-8"))
    assert blocks, "api.md has no automodule blocks"

    src = tmp_path / "src"
    src.mkdir()
    (src / "index.rst").write_text("API\n===\n\n" + "\n\n".join(blocks), encoding="utf-8")
    conf = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        sys.path.insert(0, {str(ROOT / "book")!r})
        import booktools
        extensions = {config["sphinx"]["extra_extensions"]!r}
        globals().update({settings!r})
        nitpick_ignore_regex = [tuple(x) for x in nitpick_ignore_regex]

        def setup(app):
            app.connect("autodoc-process-bases", booktools._process_bases)
        """
    )
    (src / "conf.py").write_text(conf, encoding="utf-8")
    # booktools._process_bases reads api.md from the "confdir": give it the real one.
    (src / "api.md").write_text((ROOT / "api.md").read_text(encoding="utf-8"), encoding="utf-8")

    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "dummy", "-W", "-n", "--keep-going", "-q",
         str(src), str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300,
    )
    warnings = [line for line in proc.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
    assert proc.returncode == 0, "docstrings that break the -W book build:\n" + "\n".join(
        warnings or [proc.stderr[-3000:]]
    )
