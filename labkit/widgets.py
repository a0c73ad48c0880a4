"""ipywidgets controls for lessons, that also run headless.

:func:`interact` is ``ipywidgets.interact`` for a lesson: in JupyterLab it shows the controls and
re-runs the function whenever one moves. Headless (papermill under ``labkit run``, which sets
``LABKIT_HEADLESS=1``), ``ipywidgets.interact`` would put the function's figure inside the widget's
state, where the executed notebook, its HTML rendering and the reader of a CI report cannot see
it; here the function runs once with the controls' starting values and its output is an ordinary
cell output, followed by a line naming the controls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from labkit.runtime import in_live_frontend

__all__ = ["interact", "headless"]


def headless() -> bool:
    """True when no live frontend can show widgets: ``LABKIT_HEADLESS`` is set, or no kernel."""
    return not in_live_frontend()


def interact(function: Callable[..., Any], /, **controls: Any) -> Any:
    """Show ``controls`` that call ``function`` again whenever one changes.

    Args:
        function: draws or prints something from keyword arguments, e.g. ``show_regions(k)``.
        **controls: one per argument, as for ``ipywidgets.interact``: a widget
            (``widgets.IntSlider(value=6, min=2, max=10)``) or an abbreviation (``(2, 10)``,
            a list of options, a bool, ...).

    Returns:
        The ``ipywidgets.interactive`` widget in a live frontend; headless, the function's
        return value (it ran once with each control's starting value).

    Raises:
        ValueError: a control cannot be turned into a widget (ipywidgets' own message).
    """
    import ipywidgets
    from ipywidgets.widgets.interaction import empty

    if not headless():
        return ipywidgets.interact(function, **controls)
    values, described = {}, []
    for name, abbreviation in controls.items():
        widget = ipywidgets.interactive.widget_from_abbrev(abbreviation, empty)
        if widget is None:
            raise ValueError(f"{name}={abbreviation!r} cannot be turned into a widget.")
        values[name] = widget.value
        described.append(f"{name}={widget.value!r} ({type(widget).__name__})")
        widget.close()
    result = function(**values)
    print(
        f"[headless run] controls at their starting values: {', '.join(described)}; "
        "open the notebook in JupyterLab to move them."
    )
    return result
