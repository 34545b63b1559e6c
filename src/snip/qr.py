"""QR codes of short links, as PNG or SVG (segno: pure Python, no image library).

The dashboard's download buttons and GET /api/v1/links/<slug>/qr share this.
Error correction "M" survives a scuffed poster; a 4-module quiet zone is what
scanners expect around the code.
"""

from __future__ import annotations

import io

FORMATS = {"png": "image/png", "svg": "image/svg+xml"}
PNG_SCALE = 10  # pixels per module: a 25-module code becomes 330 px, sharp when printed small


def qr_code(text: str, fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    import segno  # only the QR endpoints need it: keep it off every process's start-up

    code = segno.make(text, error="m", micro=False)
    out = io.BytesIO()
    if fmt == "png":
        code.save(out, kind=fmt, scale=PNG_SCALE, border=4)
    else:
        code.save(
            out,
            kind=fmt,
            scale=4,
            border=4,
            xmldecl=False,
            svgns=True,
            title=f"QR code for {text}",
            dark="#111111",
            light="#ffffff",
        )
    return out.getvalue()
