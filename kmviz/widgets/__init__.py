"""Views of a simulated kernel for JupyterLab: each reads a Timeline, none changes the engine."""
