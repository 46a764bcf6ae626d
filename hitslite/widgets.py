"""Interactive controls that also read well as saved state on the static website.

:func:`interactive_figure` draws the default figure immediately (so the executed notebook, and
therefore the website, carries it in the widget's saved state) and redraws on every change.
"""

from __future__ import annotations

from collections.abc import Callable

import matplotlib.pyplot as plt

__all__ = ["interactive_figure"]


def interactive_figure(draw: Callable[..., None], controls: dict, *, figsize=(7, 4), ncols: int = 1):
    """A control panel above a figure: ``draw(ax, **values)`` is called with the controls' values.

    ``controls`` maps ``draw``'s keyword names to ipywidgets; with ``ncols > 1`` the figure has that
    many panels side by side and ``draw`` receives the array of axes. Returns the ``VBox`` to display.
    """
    import ipywidgets as W
    from IPython.display import display

    out = W.Output()

    def redraw(*_):
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots(1, ncols, figsize=figsize)
            draw(ax, **{k: w.value for k, w in controls.items()})
            fig.tight_layout()
            display(fig)
            plt.close(fig)

    for w in controls.values():
        w.observe(redraw, names="value")
    redraw()
    return W.VBox([*controls.values(), out])
