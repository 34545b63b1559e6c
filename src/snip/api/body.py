"""JSON request bodies: refused with 400 invalid-json before anything parses them badly.

Python's JSON parser recurses once per nesting level, so ``[[[[...]]]]`` a few
thousand levels deep raises RecursionError (a 500). snip's bodies are two levels
deep; anything deeper than MAX_JSON_DEPTH is refused after a linear scan that never
recurses. The body's size is bounded first by MAX_CONTENT_LENGTH (SNIP_MAX_BODY_BYTES:
413). A body that is not JSON at all is refused here too, with the parser's reason.
"""

from __future__ import annotations

import json

from flask import Flask, request

from snip.errors import Problem

MAX_JSON_DEPTH = 32


def json_depth(text: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text (strings skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in text:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # closing quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def invalid_json(detail: str) -> Problem:
    return Problem(400, detail, kind="invalid-json")


def check_json_body() -> None:
    if not request.is_json:
        return
    body = request.get_data(cache=True)  # 413 here when larger than MAX_CONTENT_LENGTH
    if not body:
        return
    # Cheap first: a body with few brackets cannot be deep.
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and (json_depth(body) > MAX_JSON_DEPTH):
        raise invalid_json(f"the JSON body is nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise invalid_json(f"the body is not valid JSON: {exc}") from None


def register_body_checks(app: Flask) -> None:
    app.before_request(check_json_body)
