"""Steps a learner takes in JupyterLab, for the browser tests: open, run all, read outputs."""

from __future__ import annotations

import time

IDLE = ".jp-Notebook-ExecutionIndicator[data-status='idle']"
ERROR_OUTPUT = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"

# The execution indicator says "idle" while the kernel is still starting ("Initializing"), and a
# Run All clicked then can be lost: cells stay at [*] for ever.  Ready means what JupyterLab
# itself waits for: the session context is ready, the kernel's websocket is connected, and the
# kernel has answered kernel_info and is idle.  (window.jupyterapp needs expose_app_in_browser.)
KERNEL_READY = """
(name) => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const context = panel && panel.context && panel.sessionContext;
  const kernel = context && context.session && context.session.kernel;
  return Boolean(kernel && panel.context.path.endsWith(name) && context.isReady
    && kernel.connectionStatus === 'connected' && kernel.status === 'idle');
}
"""

# Each code cell's execution count from the notebook model (null until the cell has run); read
# from the model, not the [n]: prompts, because a cell with its input folded shows no prompt.
EXECUTION_COUNTS = """
() => {
  const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
  return Array.from({length: cells.length}, (_, i) => cells.get(i))
    .filter((cell) => cell.type === 'code').map((cell) => cell.executionCount);
}
"""


# An exception in a widget's callback (a click's handler) belongs to no cell: JupyterLab shows
# it only in its Log Console, so the page looks as if the click did nothing.  The driver keeps
# every error the kernel reports in window.kmvizKernelErrors, to name it when a wait fails.
WATCH_KERNEL_ERRORS = """
() => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  window.kmvizKernelErrors = [];
  kernel.anyMessage.connect((_, {msg, direction}) => {
    if (direction === 'recv' && msg.header.msg_type === 'error') {
      window.kmvizKernelErrors.push(`${msg.content.ename}: ${msg.content.evalue}`);
    }
  });
}
"""


def open_notebook(context, lab: dict, name: str):
    """A new tab with notebook ``name`` open, its kernel started, connected and idle, and
    every error its kernel reports kept (``kernel_errors()``)."""
    page = context.new_page()
    page.goto(f"{lab['url']}/lab/tree/{name}?reset")
    page.wait_for_function(KERNEL_READY, arg=name, timeout=120_000, polling=100)
    page.wait_for_selector(IDLE, timeout=120_000)
    page.evaluate(WATCH_KERNEL_ERRORS)
    return page


def kernel_errors(page) -> list[str]:
    """Every error the notebook's kernel reported since it opened: cells' and callbacks'."""
    return page.evaluate("() => window.kmvizKernelErrors")


def click_and_wait(page, click: str, changed: str, arg, timeout_ms: float = 20_000) -> None:
    """Click ``click``, then wait until JavaScript ``changed(arg)`` is true; a kernel error
    on the way (the click's handler raised) fails at once, naming the error."""
    page.locator(click).first.click()
    page.wait_for_function(
        f"(arg) => window.kmvizKernelErrors.length > 0 || ({changed})(arg)",
        arg=arg, timeout=timeout_ms,
    )  # fmt: skip
    errors = kernel_errors(page)
    assert not errors, f"the click's handler raised: {'; '.join(errors)}"


def run_all(page, timeout_s: float = 300) -> float:
    """Run every cell from the Run menu and wait until all have run; seconds it took."""
    start = time.monotonic()
    page.click(".jp-Notebook")
    page.click("li.lm-MenuBar-item:has-text('Run')")
    page.click("li.lm-Menu-item:has-text('Run All Cells')")
    deadline = start + timeout_s
    while time.monotonic() < deadline:
        counts = page.evaluate(EXECUTION_COUNTS)
        if counts and None not in counts and page.query_selector(IDLE):
            return time.monotonic() - start
        time.sleep(0.25)
    raise TimeoutError(f"cells still running after {timeout_s} s: execution counts {counts}")


def error_outputs(page) -> list[str]:
    """The text of every output that is a traceback or an error message."""
    texts = page.eval_on_selector_all(ERROR_OUTPUT, "els => els.map(e => e.innerText)")
    return [t for t in texts if "Traceback" in t or "Error" in t]


def shut_down_kernels(page, lab: dict) -> None:
    """Stop the kernels this session started (the REST API wants the _xsrf cookie back)."""
    xsrf = next((c["value"] for c in page.context.cookies() if c["name"] == "_xsrf"), "")
    headers = {"X-XSRFToken": xsrf}
    for kernel in page.request.get(f"{lab['url']}/api/kernels").json():
        page.request.delete(f"{lab['url']}/api/kernels/{kernel['id']}", headers=headers)


REPAINT_JS = """
async ([click, watch, attribute]) => {
  const read = () => document.querySelector(watch).getAttribute(attribute);
  const before = read();
  const start = performance.now();
  document.querySelector(click).click();
  while (read() === before) {
    const errors = window.kmvizKernelErrors;
    if (errors.length) throw new Error(`the kernel raised: ${errors.join('; ')}`);
    if (performance.now() - start > 20000) throw new Error(`${watch} did not change`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  return performance.now() - start;
}
"""


def repaint_ms(page, click: str, watch: str, attribute: str = "href") -> float:
    """Milliseconds from clicking ``click`` until ``watch``'s ``attribute`` changed and painted.

    Covers the whole trip: the click's message to the kernel, the engine call, every view's
    update, the widget messages back, and the browser painting the new picture.  An error the
    kernel reports on the way fails it at once, naming the error.
    """
    return page.evaluate(REPAINT_JS, [click, watch, attribute])
