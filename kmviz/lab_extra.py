"""Imported first by kmviz.widgets and kmviz.exercises: asks for kmviz[lab] when it is missing.

Without this a learner who installed only the engine would meet ``No module named 'bqplot'``
from deep inside a view module, with no word of the extra that brings it.
"""

import importlib.util

WIDGET_PACKAGES = ("ipywidgets", "bqplot")

_missing = [name for name in WIDGET_PACKAGES if importlib.util.find_spec(name) is None]
if _missing:
    raise ImportError(
        f"kmviz's widgets and exercises need {' and '.join(_missing)}, from kmviz's \"lab\" "
        "extra; install it with\n  python3 -m pip install 'kmviz[lab]'",
        name=_missing[0],
    )
