"""The dashboard's bundle once per kernel (issue 12, finding 1): every Dashboard's `_esm` is the
small loader (static/loader.js) and its `_code` names the one shared `DashboardCode` model,
which holds static/widget.js; a closed shared model is made again; a front end without a widget
manager gets the bundle by message.

Traits are read as a front end receives them: over a comm that records what it would send.
The loader's side is tested in js/loader.test.js and, in browsers, in tests/e2e/
(test_loader_fallback.py, test_saved_notebook.py and every front end's test).
"""

from __future__ import annotations

import comm
import ipywidgets
import pytest
from comm.base_comm import BaseComm

from llmeter_widget import Dashboard
from llmeter_widget.endpoints import OpenAIChatEndpoint
from llmeter_widget.views import shared_code as shared_module
from llmeter_widget.views.shared_code import STATIC, DashboardCode, shared_code

LOADER_MAX = 20_000  # bytes: each dashboard's own `_esm`, sent and saved once per dashboard


class RecordingComm(BaseComm):
    opened: list[RecordingComm] = []

    def __init__(self, **kwargs):
        self.messages: list[tuple[str, dict]] = []
        super().__init__(**kwargs)
        RecordingComm.opened.append(self)

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        self.messages.append((msg_type, data or {}))

    def open_state(self) -> dict:
        return next(d["state"] for t, d in self.messages if t == "comm_open")

    def customs(self) -> list[dict]:
        return [d["content"] for t, d in self.messages
                if t == "comm_msg" and d.get("method") == "custom"]


@pytest.fixture(autouse=True)
def recording_comm(monkeypatch):
    RecordingComm.opened = []
    monkeypatch.setattr(comm, "create_comm", lambda **kw: RecordingComm(**kw))
    # a shared model left by another test holds another kind of comm: start from none
    monkeypatch.setattr(shared_module, "_shared", None)


@pytest.fixture
def make_dashboard():
    made: list[Dashboard] = []

    def make(**kwargs) -> Dashboard:
        endpoint = OpenAIChatEndpoint(base_url="http://127.0.0.1:9/v1", model="m")
        dash = Dashboard(endpoint=endpoint, payload={"messages": []}, **kwargs)
        made.append(dash)
        return dash

    yield make
    for dash in made:
        dash.close()


def widget_js() -> str:
    return (STATIC / "widget.js").read_text(encoding="utf-8")


def widget_css() -> str:
    return (STATIC / "widget.css").read_text(encoding="utf-8")


def test_every_dashboard_sends_the_small_loader_as_its_esm(make_dashboard):
    loader = (STATIC / "loader.js").read_text(encoding="utf-8")
    first, second = make_dashboard(), make_dashboard(controls=False)  # a read-only one too
    for dash in (first, second):
        esm = dash.comm.open_state()["_esm"]
        assert esm == loader
        assert len(esm.encode()) < LOADER_MAX, len(esm.encode())
        assert "code" not in dash.comm.open_state()
        # nor the stylesheet: it is shared too (the loader adds it once per page or shadow root)
        assert not dash.comm.open_state().get("_css")


def test_dashboards_reference_one_code_model_that_holds_the_bundle(make_dashboard):
    first, second = make_dashboard(), make_dashboard()
    code = first._code
    assert isinstance(code, DashboardCode)
    assert second._code is code is shared_code()
    for dash in (first, second):
        assert dash.comm.open_state()["_code"] == f"IPY_MODEL_{code.model_id}"
    assert code.comm.open_state()["code"] == widget_js()
    assert code.comm.open_state()["css"] == widget_css() and ".lmw" in widget_css()
    assert code.version and code.comm.open_state()["version"] == code.version
    # opened once, and before the first dashboard: the front end knows it when a view asks
    code_comms = [c for c in RecordingComm.opened if c.comm_id == code.model_id]
    assert len(code_comms) == 1
    assert RecordingComm.opened.index(code_comms[0]) < RecordingComm.opened.index(first.comm)


@pytest.mark.parametrize("how", ["close", "close_all"])
def test_a_closed_code_model_is_made_again(make_dashboard, how):
    old = make_dashboard()._code
    if how == "close":
        old.close()
    else:
        ipywidgets.Widget.close_all()
    assert old.comm is None
    dash = make_dashboard()
    assert dash._code is not old and dash._code is shared_code()
    assert dash._code.comm is not None and dash._code.code == widget_js()
    assert dash.comm.open_state()["_code"] == f"IPY_MODEL_{dash._code.model_id}"


def test_the_code_message_answers_with_the_bundle(make_dashboard):
    """The loader's fallback (no widget_manager.get_model): `{"type": "code"}` from the front end
    is answered with the bundle."""
    dash = make_dashboard()
    dash._handle_msg({"content": {"data": {"method": "custom", "content": {"type": "code"}}},
                      "buffers": []})
    assert dash.comm.customs() == [
        {"type": "code", "version": dash._code.version, "code": widget_js(), "css": widget_css()}]


def test_an_unbuilt_checkout_shows_how_to_build(monkeypatch, tmp_path):
    monkeypatch.setattr(shared_module, "STATIC", tmp_path)
    assert shared_module.bundle_text("loader.js") == shared_module.MISSING_BUNDLE
    assert shared_module.bundle_text("widget.css") == ""
    code = shared_code()
    assert code.code == shared_module.MISSING_BUNDLE
    assert "npm ci && npm run build" in code.code
