"""Vega-Lite specs drawn as pictures for the Dagster UI's metadata.

The UI shows a JSON metadata value as raw JSON; a Markdown value may hold an image. A chart is
drawn here as a PNG (vl-convert: Vega-Lite rendered by its own embedded engine, no browser, its
own fonts) and embedded in Markdown as a data: URI — the UI needs nothing else to show it, and
it stays with the materialisation it describes. A picture is ≈ 15-30 KB; drawing one costs
≈ 0.2 s after the renderer's start-up (≈ 1-3 s once per process).
"""

from __future__ import annotations

import base64
from typing import Any

VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
#: the picture's size in pixels (a spec's own width/height win); at scale 1 a tier bar chart is
#: 25 KB (55 KB at scale 2, for high-density screens: not worth doubling every night's event)
WIDTH, HEIGHT, SCALE = 360, 200, 1


def is_vega_lite(value: Any) -> bool:
    return isinstance(value, dict) and str(value.get("$schema", "")).startswith(
        "https://vega.github.io/schema/vega-lite/")


def png(spec: dict[str, Any]) -> bytes:
    import vl_convert  # its engine starts on first use

    sized = {"width": WIDTH, "height": HEIGHT, **spec}
    return vl_convert.vegalite_to_png(sized, scale=SCALE)


def markdown_image(spec: dict[str, Any]) -> str:
    """Markdown showing the chart: an image with the chart's title as its alternative text."""
    title = spec.get("title", "chart")
    alt = (title.get("text", "chart") if isinstance(title, dict) else str(title)).replace("]", ")")
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png(spec)).decode('ascii')})"


def drawn(spec: dict[str, Any]) -> tuple[str, Any]:
    """("md", the picture), or ("json", the spec and why) when the renderer rejects it: a
    picture is not worth failing a night for."""
    try:
        return "md", markdown_image(spec)
    except Exception as exc:  # vl-convert raises ValueError; its engine may raise others
        return "json", {**spec, "not_drawn": str(exc)[:300]}
