"""Read YAML with libyaml's parser when PyYAML was built with it.

The knowledge base is half a megabyte of YAML read at every start; the
pure-Python parser took 0.3 s of it, libyaml's takes a fourteenth. Both
build the same safe types from the same text.
"""

from __future__ import annotations

from typing import Any

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 (a safe loader)
