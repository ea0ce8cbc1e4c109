"""The README's code runs as written."""

import re
import tempfile

import numpy as np

from tests.conftest import REPO


def _python_block_after(marker: str) -> str:
    text = (REPO / "README.md").read_text()
    start = text.index(marker)
    return re.search(r"```python\n(.*?)```", text[start:], re.S).group(1)


def test_the_notebook_example_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    # The example's temporary folders (its own and a model's default model_dir) land here,
    # not in /tmp, where each test run would leave ~40 MB behind.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    code = _python_block_after("`show_status` and `show_graph` report. In a notebook:")
    names: dict = {}
    exec(compile(code, "README.md", "exec"), names)  # noqa: S102
    # the values the comments promise
    assert names["history"]["all_epochs"] == [1, 2, 3, 4, 5]
    assert names["more"]["all_epochs"] == [6, 7, 8]
    assert names["model"].predict(batch_X=names["X"][150:]).shape == (50, 1)
    assert np.allclose(names["same"].predict(names["X"]), names["model"].predict(names["X"]))
    assert names["status"]["epochs_trained"] == 8
    assert "lstm" in capsys.readouterr().out.lower()  # show_status printed
