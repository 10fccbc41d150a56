"""The plotting helper: headless backend, extension checked before anything is written."""

from __future__ import annotations

import pytest

from halidelab.errors import HalidelabError
from halidelab.plotting import FigureFormatError, check_figure_path, pyplot, savefig


def test_savefig_writes_a_supported_format(tmp_path):
    plt = pyplot()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    out = savefig(fig, tmp_path / "a.svg")
    plt.close(fig)
    assert out.read_text().lstrip().startswith(("<?xml", "<svg"))


@pytest.mark.parametrize("name", ["fig.foo", "fig", "fig.docx"])
def test_unsupported_extension_is_one_line_error_and_no_file(tmp_path, name):
    plt = pyplot()
    fig, _ = plt.subplots()
    with pytest.raises(FigureFormatError) as info:
        savefig(fig, tmp_path / name, option="--plot")
    plt.close(fig)
    assert isinstance(info.value, HalidelabError)
    msg = str(info.value)
    assert "\n" not in msg and "--plot" in msg and ".png" in msg
    assert list(tmp_path.iterdir()) == []


def test_check_passes_none_and_upper_case():
    assert check_figure_path(None) is None
    assert check_figure_path("A.PNG").name == "A.PNG"
