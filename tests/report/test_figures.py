"""The patient report's figures keep every label and marker inside their axes."""

from __future__ import annotations

import pandas as pd
import pytest

from eih_ml.report.figures import waterfall_figure


def _inside(fig) -> list[str]:
    """Texts and markers of the figure's axes that reach outside the axes (empty: none)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)  # the report's figures are made without pyplot
    canvas.draw()
    renderer = canvas.get_renderer()
    problems = []
    for ax in fig.axes:
        box = ax.get_window_extent(renderer)
        for artist in [*ax.texts, *ax.lines]:
            if not artist.get_visible():
                continue
            ext = artist.get_window_extent(renderer)
            if ext.width == 0 and ext.height == 0:
                continue
            if ext.x0 < box.x0 - 0.5 or ext.x1 > box.x1 + 0.5:
                problems.append(f"{type(artist).__name__} {getattr(artist, 'get_text', str)()}")
    return problems


@pytest.mark.parametrize(
    "values",
    [
        [2.4, -0.3, 0.2, -0.1, 0.05],  # one large first bar (it used to run off the right edge)
        [-2.4, 0.3, -0.2, 0.1, -0.05],  # the same to the left
        [0.01, -0.02, 0.015],  # tiny contributions around a large average
    ],
)
def test_waterfall_labels_stay_inside_the_axes(values):
    contributions = pd.Series(values, index=[f"f{i}" for i in range(len(values))])
    fig = waterfall_figure(-1.2, contributions, {"f0": "Conditioned pain modulation"}, "log-odds")
    assert _inside(fig) == []
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0] == "average patient (-1.2)"
