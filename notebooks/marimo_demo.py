"""The dashboard in marimo, against the embedded simulator: `marimo edit notebooks/marimo_demo.py`
(or `marimo run notebooks/marimo_demo.py` for the app view). Needs `pip install marimo`."""

import marimo

app = marimo.App(width="full")


@app.cell
def _():
    import marimo as mo

    from llmeter_widget import Dashboard
    return Dashboard, mo


@app.cell
def _(mo):
    mo.md(
        """
        # llmeter-widget in marimo

        The dashboard below drives the embedded **simulated LLM server** (its own process,
        16 batch slots). Press **Run**; move the **Clients** slider while it runs (the run
        follows); **Stop** ends it and keeps what was measured, saved under `runs/`.
        """
    )
    return


@app.cell
def _(Dashboard, mo):
    dash = Dashboard.demo(duration=30, clients=4, max_clients=64)
    widget = mo.ui.anywidget(dash)  # marimo's wrapper for anywidgets
    widget
    return dash, widget


@app.cell
def _(mo, widget):
    # Re-runs whenever the page changes the widget (a slider, a number box).
    mo.md(f"Next run: **{widget.clients} clients** for **{widget.duration:g} s**.")
    return


@app.cell
def _(mo):
    mo.md(
        """
        From code: `dash.start()` / `dash.stop()` start and stop a run in the background;
        `await dash.run()` runs with the current values and returns the result (the cell
        waits for it). `dash.close()` closes the dashboard and its simulator.
        """
    )
    return


if __name__ == "__main__":
    app.run()
