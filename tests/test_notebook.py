"""examples/notebook.ipynb runs under a real Jupyter kernel and shows what it promises."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "notebook.ipynb"


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The notebook, executed top to bottom by nbclient in a fresh kernel."""
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    workdir = tmp_path_factory.mktemp("notebook")  # anything the notebook writes lands here
    with pytest.MonkeyPatch.context() as patch:
        # Jupyter warns (DeprecationWarning) until it is told to use the platform's folders.
        patch.setenv("JUPYTER_PLATFORM_DIRS", "1")
        nbclient = pytest.importorskip("nbclient")
        pytest.importorskip("ipykernel")
        client = nbclient.NotebookClient(
            notebook,
            timeout=60,  # per cell
            kernel_name="python3",  # the kernel runs this interpreter (sys.executable)
            resources={"metadata": {"path": str(workdir)}},
        )
        client.execute()
    return notebook


def _outputs(notebook: Any) -> list[dict[str, Any]]:
    return [
        output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    ]


def _stdout(notebook: Any) -> str:
    return "".join(
        o["text"]
        for o in _outputs(notebook)
        if o["output_type"] == "stream" and o["name"] == "stdout"
    )


def test_committed_notebook_has_no_outputs() -> None:
    """The notebook is committed without outputs or execution counts (running it makes them)."""
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], "strip the outputs before committing"
            assert cell.execution_count is None


def test_the_qr_code_renders_inline_and_decodes(executed: Any) -> None:
    """The QR code is an inline PNG image that decodes to a WhatsApp login payload."""
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image

    images = [
        o["data"]["image/png"] for o in _outputs(executed) if "image/png" in o.get("data", {})
    ]
    assert len(images) == 1, "one QR code is displayed"
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(base64.b64decode(images[0]))))
    assert len(results) == 1
    payload = str(results[0].text)
    # What WhatsApp's QR codes carry: a ref ("2@..."), then three base64 keys.
    ref, *keys = payload.split(",")
    assert ref.startswith("2@")
    assert len(keys) == 3
    assert "QR code, valid for 60 s" in _stdout(executed)


def test_the_account_is_linked_and_a_message_is_sent(executed: Any) -> None:
    """The events print as they come: the linked account, the sent and the received message."""
    out = _stdout(executed)
    assert "linked +628123456789 (Budi)" in out
    assert "WhatsApp accepted it: True" in out
    assert "sent 'Halo dari notebook!' to 628111222333@s.whatsapp.net: success=True" in out
    assert "received 'Terima kasih!' from Siti" in out
    lines = [line for line in out.splitlines() if line.startswith("#")]
    seqs = [int(line.split()[0][1:]) for line in lines]
    assert seqs == sorted(seqs), "each event is printed once, in order"
    assert len(set(seqs)) == len(seqs)


def test_the_status_shows_connected(executed: Any) -> None:
    """The cell that shows session.status displays a connected Status."""
    shown = [
        o["data"]["text/plain"]
        for o in _outputs(executed)
        if o["output_type"] == "execute_result" and "text/plain" in o["data"]
    ]
    assert any("state=<State.CONNECTED: 'connected'>" in text for text in shown)
