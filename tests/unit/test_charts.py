"""Vega-Lite charts drawn as PNG pictures in Markdown (pipelines/lib/quality/charts.py)."""

from __future__ import annotations

import base64
import struct

from pipelines.lib.quality.charts import VEGA_LITE_SCHEMA, drawn, is_vega_lite, markdown_image
from pipelines.lib.quality.mart_metadata import _bar_chart


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])  # IHDR: width, height


def test_a_bar_chart_becomes_a_small_png_in_markdown():
    spec = _bar_chart("Tier mix", "tier_code", [("regular", "普卡", 3000), ("gold", "金卡", 400)])
    md = markdown_image(spec)
    prefix = "![Tier mix](data:image/png;base64,"
    assert md.startswith(prefix) and md.endswith(")")
    png = base64.b64decode(md[len(prefix):-1])
    width, height = _png_size(png)
    # the plot area is 360 × 200 (charts.WIDTH/HEIGHT); axes, labels and title add a margin
    assert 360 < width < 480 and 200 < height < 320
    assert 5_000 < len(png) < 40_000


def test_only_vega_lite_specs_are_charts():
    assert is_vega_lite({"$schema": VEGA_LITE_SCHEMA, "mark": "bar"})
    assert not is_vega_lite({"mark": "bar"}) and not is_vega_lite("text")


def test_a_spec_the_renderer_rejects_stays_json_with_the_reason():
    spec = {"$schema": VEGA_LITE_SCHEMA, "data": {"values": [{"a": 1}]}, "mark": "no_such_mark"}
    kind, value = drawn(spec)
    assert kind == "json"
    assert value["mark"] == "no_such_mark" and value["not_drawn"]
