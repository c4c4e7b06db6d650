"""Rendering of QR payloads: PNG, data URL, SVG and terminal text.

Rendering is lazy: nothing here runs until someone asks a :class:`QrGenerated`
for an image, and each rendering is cached on the event (:class:`QrRenderCache`),
so the QR rotation of thousands of pending logins nobody looks at costs nothing.
"""

from __future__ import annotations

import base64
import io
import threading

__all__ = ["QrRenderCache"]

# A WhatsApp login payload is ~150-250 bytes of text; error correction L keeps the
# symbol small (version ~10), which phones read best from a screen.
_BOX_SIZE = 8
_BORDER = 4


def _matrix(code: str) -> list[list[bool]]:
    """The symbol's modules, quiet zone included (True = dark)."""
    import qrcode  # noqa: PLC0415 - deferred: most QR codes are never rendered
    from qrcode.constants import ERROR_CORRECT_L  # noqa: PLC0415

    # A fixed mask: any of the eight decodes, and scoring all of them (qrcode's
    # default) is ~85% of the work: it would triple the time to show a code.
    qr = qrcode.QRCode(
        error_correction=ERROR_CORRECT_L, box_size=_BOX_SIZE, border=_BORDER, mask_pattern=0
    )
    qr.add_data(code.encode("utf-8"))
    qr.make(fit=True)
    modules: list[list[bool]] = qr.get_matrix()
    return modules


def _render_png(modules: list[list[bool]]) -> bytes:
    from PIL import Image  # noqa: PLC0415

    n = len(modules)
    # Build a 1-bit image one pixel per module, then scale with NEAREST: much faster
    # than drawing every box, and the output is the same crisp symbol.
    raw = bytearray()
    row_bytes = (n + 7) // 8
    for row in modules:
        line = bytearray(row_bytes)
        for x, dark in enumerate(row):
            if not dark:  # mode "1": bit set = white
                line[x >> 3] |= 0x80 >> (x & 7)
        raw += line
    small = Image.frombytes("1", (n, n), bytes(raw))
    image = small.resize((n * _BOX_SIZE, n * _BOX_SIZE), Image.Resampling.NEAREST)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False, compress_level=1)
    return out.getvalue()


def _render_svg(modules: list[list[bool]]) -> str:
    n = len(modules)
    path = []
    for y, row in enumerate(modules):
        x = 0
        while x < n:
            if row[x]:
                start = x
                while x < n and row[x]:
                    x += 1
                path.append(f"M{start},{y}h{x - start}v1h-{x - start}z")
            else:
                x += 1
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {n} {n}" '
        f'shape-rendering="crispEdges" width="{n * _BOX_SIZE}" height="{n * _BOX_SIZE}">'
        f'<rect width="{n}" height="{n}" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(path)}"/></svg>'
    )


def _render_terminal(modules: list[list[bool]]) -> str:
    """Two rows of modules per text line with half blocks, dark on light."""
    n = len(modules)
    lines = []
    for y in range(0, n, 2):
        top = modules[y]
        bottom = modules[y + 1] if y + 1 < n else [False] * n
        chars = []
        for t, b in zip(top, bottom, strict=True):
            # Light modules are drawn (a terminal's background is usually dark), so
            # the symbol reads as dark-on-light as scanners expect.
            if not t and not b:
                chars.append("\u2588")
            elif not t:
                chars.append("\u2580")
            elif not b:
                chars.append("\u2584")
            else:
                chars.append(" ")
        lines.append("".join(chars))
    return "\n".join(lines)


class QrRenderCache:
    """Renderings of one QR payload, each made on first use and then kept.

    Thread-safe: a notebook, a Flask thread and the event loop may ask at once; each
    rendering is made at most once.
    """

    __slots__ = ("_code", "_data_url", "_lock", "_modules", "_png", "_svg", "_terminal", "renders")

    def __init__(self, code: str) -> None:
        self._code = code
        self._modules: list[list[bool]] | None = None
        self._png: bytes | None = None
        self._svg: str | None = None
        self._terminal: str | None = None
        self._data_url: str | None = None
        self._lock = threading.Lock()
        self.renders = 0
        """How many renderings were actually made (for tests and benchmarks)."""

    def _symbol(self) -> list[list[bool]]:
        # Called under the lock: the symbol is encoded once for every rendering.
        if self._modules is None:
            self._modules = _matrix(self._code)
        return self._modules

    def png(self) -> bytes:
        """Return the PNG bytes, rendering them on first use."""
        if self._png is None:
            with self._lock:
                if self._png is None:
                    self._png = _render_png(self._symbol())
                    self.renders += 1
        return self._png

    def data_url(self) -> str:
        """Return ``data:image/png;base64,...`` of the PNG."""
        if self._data_url is None:
            self._data_url = "data:image/png;base64," + base64.b64encode(self.png()).decode()
        return self._data_url

    def svg(self) -> str:
        """Return a standalone SVG document."""
        if self._svg is None:
            with self._lock:
                if self._svg is None:
                    self._svg = _render_svg(self._symbol())
                    self.renders += 1
        return self._svg

    def terminal(self) -> str:
        """Return the symbol as lines of Unicode half blocks for a terminal."""
        if self._terminal is None:
            with self._lock:
                if self._terminal is None:
                    self._terminal = _render_terminal(self._symbol())
                    self.renders += 1
        return self._terminal
