"""The simulation engine: pure Python and traitlets; it never imports ipywidgets or bqplot."""
