"""What a chart of the dashboard drew: the pixels of its uPlot canvas, read in the browser.

The live charts and the sweep chart are drawn by uPlot on a canvas (js/plot.js), so a test
cannot find a line in the DOM as it could in Plotly's SVG. It reads the canvas instead
(`getImageData`): which pixels are of a trace's colour, where, relative to the plot area
(uPlot's `.u-over`). The canvas is transparent where nothing is drawn (the page's background
shows through), so a line drawn at opacity `a` leaves pixels of its own colour with alpha up to
`a`; anti-aliased edges have less. Shared by the harness tests (tests/browser) and the front
ends' end-to-end tests (tests/e2e), which call it on a chart element found inside the
dashboard's root (marimo renders it in a shadow root, where `document.querySelector` finds
nothing).
"""

from __future__ import annotations

import struct
import zlib
from statistics import median

# (chart div, queries) -> {ratio, size: [w, h], area: {left, top, width, height}, found: [...]}
# or null when the chart has no canvas. Each query {color, opacity = 1, tol = 28, minAlpha}
# (any CSS colour; maxAlpha = 255) gets the pixels of that colour as [x, y] in CSS px from the plot area's top
# left corner; `whole: true` searches the whole canvas (axes included) instead of the plot area.
# A pixel matches when each of r, g, b is within `tol` of the colour's and its alpha is at least
# `minAlpha` (0..255; default: half the colour's alpha times `opacity`, which keeps the line's
# core and drops faint anti-aliasing).
CHART_PIXELS = """(div, queries) => {
  const canvas = div.querySelector('.uplot canvas');
  const over = div.querySelector('.uplot .u-over');
  if (!canvas || !over || !canvas.clientWidth) return null;
  const ratio = canvas.width / canvas.clientWidth;
  const c = canvas.getBoundingClientRect(), o = over.getBoundingClientRect();
  const area = {left: o.left - c.left, top: o.top - c.top, width: o.width, height: o.height};
  const probe = document.createElement('canvas').getContext('2d');
  const rgba = (color) => {
    probe.fillStyle = '#000';
    probe.fillStyle = color;
    const s = probe.fillStyle;
    if (s[0] === '#') return [1, 3, 5].map(i => parseInt(s.slice(i, i + 2), 16)).concat([1]);
    const m = s.match(/[\\d.]+/g).map(Number);
    return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1];
  };
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const found = queries.map(q => {
    const [r, g, b, a] = rgba(q.color);
    const tol = q.tol ?? 28;
    const minAlpha = q.minAlpha ?? 255 * a * (q.opacity ?? 1) * 0.5;
    const maxAlpha = q.maxAlpha ?? 255;
    const x0 = q.whole ? 0 : Math.max(0, Math.round(area.left * ratio));
    const y0 = q.whole ? 0 : Math.max(0, Math.round(area.top * ratio));
    const x1 = q.whole ? canvas.width : Math.min(canvas.width, Math.round((area.left + area.width) * ratio));
    const y1 = q.whole ? canvas.height : Math.min(canvas.height, Math.round((area.top + area.height) * ratio));
    const out = [];
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const i = (y * canvas.width + x) * 4;
        if (data[i + 3] >= minAlpha && data[i + 3] <= maxAlpha && Math.abs(data[i] - r) <= tol
            && Math.abs(data[i + 1] - g) <= tol && Math.abs(data[i + 2] - b) <= tol) {
          out.push([x / ratio - (q.whole ? 0 : area.left), y / ratio - (q.whole ? 0 : area.top)]);
        }
      }
    }
    return out;
  });
  return {ratio, size: [canvas.clientWidth, canvas.clientHeight], area, found};
}"""

# Wait until the browser has painted (uPlot draws on its next commit), for a page.evaluate.
AFTER_PAINT = "await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));"


def chart_pixels(page, selector: str, queries: list[dict]) -> dict | None:
    """CHART_PIXELS on the first element matching `selector` in the page, after a paint."""
    return page.evaluate(
        f"""async ([selector, queries]) => {{ {AFTER_PAINT}
              return ({CHART_PIXELS})(document.querySelector(selector), queries); }}""",
        [selector, queries],
    )


def in_columns(pixels: list[list[float]], lo: float, hi: float) -> list[list[float]]:
    """The pixels whose x (CSS px from the plot area's left) is in [lo, hi)."""
    return [p for p in pixels if lo <= p[0] < hi]


def median_rows(pixels: list[list[float]]) -> dict[int, float]:
    """Per pixel column (x rounded down), the median y of the pixels in it."""
    columns: dict[int, list[float]] = {}
    for x, y in pixels:
        columns.setdefault(int(x), []).append(y)
    return {x: median(ys) for x, ys in columns.items()}


def discs(pixels: list[list[float]], radius: int, fill: float = 0.9) -> list[tuple[float, float]]:
    """Centres of the filled discs (markers) of at least `radius` px among these pixels: the
    pixels whose neighbourhood of that radius is at least `fill` of the colour (a line of the
    same colour, thinner than the disc, fills less than two thirds of it; `fill` < 1 lets a few
    pixels of a label drawn over a marker through), clustered. Coordinates: 1 CSS px a pixel."""
    have = {(round(x), round(y)) for x, y in pixels}
    ring = [(dx, dy) for dx in range(-radius, radius + 1) for dy in range(-radius, radius + 1)
            if dx * dx + dy * dy <= radius * radius]
    need = fill * len(ring)
    cores = sorted(p for p in have
                   if sum((p[0] + dx, p[1] + dy) in have for dx, dy in ring) >= need)
    clusters: list[list[tuple[int, int]]] = []
    for p in cores:
        near = [c for c in clusters if any(abs(p[0] - q[0]) <= 2 and abs(p[1] - q[1]) <= 2 for q in c)]
        for c in near[1:]:  # p joins clusters seen apart so far
            near[0].extend(c)
            clusters.remove(c)
        if near:
            near[0].append(p)
        else:
            clusters.append([p])
    return [(sum(x for x, _ in c) / len(c), sum(y for _, y in c) / len(c)) for c in clusters]


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """A PNG's width, height and rows of RGBA pixels (8-bit RGB or RGBA, not interlaced: what a
    browser's canvas.toDataURL writes), with nothing but zlib."""
    assert data[:8] == PNG_SIGNATURE, data[:8]
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + length
    assert header is not None, "no IHDR chunk"
    width, height, depth, color_type, _, _, interlace = header
    assert depth == 8 and color_type in (2, 6) and interlace == 0, header
    channels = 4 if color_type == 6 else 3
    stride = width * channels
    raw = zlib.decompress(idat)
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
            else:
                assert kind == 0, f"filter type {kind}"
        rows.append(bytes(line) if channels == 4 else bytes(
            b for j in range(width) for b in (*line[j * 3:j * 3 + 3], 255)))
        previous = line
    return width, height, rows


def hex_rgb(color: str) -> tuple[int, int, int]:
    """(r, g, b) of "#rrggbb" or "rgb(r, g, b)"/"rgba(...)"."""
    color = color.strip()
    if color.startswith("#"):
        return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)
    parts = color[color.index("(") + 1:color.index(")")].replace("/", " ").replace(",", " ").split()
    r, g, b = (int(float(v)) for v in parts[:3])
    return r, g, b
