"""JSON from strangers, decoded without recursion limits being reached.

Decoders (json, msgspec) recurse per nesting level, so a document of 100,000
``[`` ends in RecursionError, which callers rarely expect. :func:`decode_json`
checks the nesting first, in one linear pass, and turns every problem into
ValueError.
"""

from __future__ import annotations

import re

import msgspec

MAX_JSON_DEPTH = 32
_JSON_MARKS = re.compile(rb'["\\\[\]{}]')


def _nesting_within(data: bytes, limit: int) -> bool:
    """Whether the arrays and objects of the JSON text ``data`` nest at most ``limit`` deep.

    One pass over the quotes, backslashes and brackets (those inside strings
    do not count), stopping as soon as the limit is passed: linear whatever
    the input, and no recursion.
    """
    depth = 0
    in_string = False
    escaped = -1  # the position a backslash in a string escapes
    for mark in _JSON_MARKS.finditer(data):
        position = mark.start()
        if position == escaped:
            continue
        char = data[position]
        if in_string:
            if char == 0x5C:  # backslash
                escaped = position + 1
            elif char == 0x22:  # quote
                in_string = False
        elif char == 0x22:
            in_string = True
        elif char in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return False
        elif char in (0x5D, 0x7D):  # ] }
            depth -= 1
    return True


def decode_json(data: bytes) -> object:
    """The JSON document ``data``; ValueError if it is not JSON or nests deeper than
    :data:`MAX_JSON_DEPTH` (checked before decoding: decoders recurse, and
    would end in RecursionError)."""
    if not _nesting_within(data, MAX_JSON_DEPTH):
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return msgspec.json.decode(data)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
