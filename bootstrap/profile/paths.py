"""What paths a profile may hold, read off the pydantic models, and pydantic errors in words.

The models in ``config`` are the one schema: ``--set`` paths, secret fields and the keys listed
in "unknown key" messages are all found by walking them, so they cannot drift apart.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from bootstrap.profile import schema
from bootstrap.secrets import MASK

Node = type[BaseModel] | Literal["dict", "leaf"]
KeyPath = tuple[str | int, ...]

SECRET_LOOKING = re.compile(
    r"pass(word|wd)?|token|secret|private_key|credential|api_?key|kubeconfig_content", re.I
)


def _pattern_of(annotated: object) -> str:
    meta = typing.get_args(annotated)[1].metadata
    return str(next(m.pattern for m in meta if getattr(m, "pattern", None)))


PATTERNS = {
    _pattern_of(schema.Version): "expected a version like v1.2.3",
    _pattern_of(schema.Sha256): "expected a sha256: 64 lowercase hex digits",
    _pattern_of(schema.Name): "expected a lowercase name: a-z, 0-9 and '-', "
    "starting and ending with a letter or digit",
    _pattern_of(schema.Word): "expected one word of letters, digits, '.', '_', '+' and '-' "
    "(it becomes part of a file name)",
    _pattern_of(schema.AwsRegion): "expected an AWS region like eu-west-1",
    _pattern_of(schema.EksVersion): "expected an EKS Kubernetes version like 1.33",
    _pattern_of(schema.Ec2Type): "expected an EC2 instance type like m6i.large",
    _pattern_of(schema.CliProfile): "expected a CLI profile name: letters, digits, '_', '.', "
    "'@', '+' and '-', not starting with '-'",
    _pattern_of(schema.Ocid): "expected an OCID like ocid1.compartment.oc1..aaaa…",
    _pattern_of(schema.OciShape): "expected an OCI shape like VM.Standard.A1.Flex",
    _pattern_of(schema.AvailabilityDomain): "expected an availability domain like "
    "Uocm:EU-FRANKFURT-1-AD-1",
    _pattern_of(schema.SanEntry): "expected a host name (or *.domain) or an IP address, "
    "without spaces or other characters",
}


def _kind(annotation: Any) -> Node:
    """The model, free-form mapping or leaf that an annotation holds (Optional unwrapped)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _kind(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        kinds = [_kind(a) for a in typing.get_args(annotation) if a is not type(None)]
        return next((k for k in kinds if k != "leaf"), "leaf")
    if origin is dict:
        return "dict"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return "leaf"


def child(node: Node, key: str | int) -> Node | None:
    """The node under ``key``, or None when the schema has no such key."""
    if node == "dict":
        return "dict"
    if node == "leaf" or not isinstance(key, str):
        return None
    field = node.model_fields.get(key)
    return None if field is None or field.exclude else _kind(field.annotation)


def node_at(path: Sequence[str | int], root: Node = schema.Profile) -> Node | None:
    node: Node | None = root
    for key in path:
        if node is None:
            return None
        node = child(node, key)
    return node


def keys_of(node: Node | None) -> list[str]:
    if node is None or isinstance(node, str):
        return []
    return [name for name, field in node.model_fields.items() if not field.exclude]


def is_secret(path: Sequence[str | int]) -> bool:
    return node_at(path) is schema.SecretRef


def under_secret(path: Sequence[str | int]) -> bool:
    return any(is_secret(path[:i]) for i in range(1, len(path) + 1))


def dotted(path: Sequence[str | int]) -> str:
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text


def unknown_key(path: Sequence[str | int]) -> str:
    """'unknown key; expected one of: ...' for the last key of ``path``, with a guess."""
    valid = keys_of(node_at(path[:-1]))
    guess = difflib.get_close_matches(str(path[-1]), valid, n=1)
    maybe = f" (did you mean {guess[0]!r}?)" if guess else ""
    return f"unknown key{maybe}; expected one of: {', '.join(valid)}"


@dataclass(frozen=True)
class Problem:
    kind: str  # pydantic's error type
    path: KeyPath
    text: str  # what was expected, and what was got when it is safe to show


def _expected(err: ErrorDetails) -> str:
    kind, ctx, loc = err["type"], err.get("ctx", {}), err["loc"]
    if kind == "extra_forbidden":
        return unknown_key(loc)
    words = {
        "missing": "required key is missing",
        "int_parsing": "expected an integer",
        "int_type": "expected an integer",
        "int_from_float": "expected a whole number",
        "bool_parsing": "expected true or false",
        "bool_type": "expected true or false",
        "string_type": "expected a string",
        "model_type": "expected a mapping of keys",
        "model_attributes_type": "expected a mapping of keys",
        "dict_type": "expected a mapping",
        "tuple_type": "expected a list",
        "list_type": "expected a list",
        "literal_error": f"expected one of {ctx.get('expected')}",
        "greater_than_equal": f"expected a number >= {ctx.get('ge')}",
        "less_than_equal": f"expected a number <= {ctx.get('le')}",
        "string_too_long": f"expected at most {ctx.get('max_length')} characters",
        "invalid-json-value": "expected a string, number, true/false, null, list or mapping "
        "(a date or a timestamp must be quoted)",
        "string_pattern_mismatch": PATTERNS.get(
            str(ctx.get("pattern")), f"expected text matching {ctx.get('pattern')}"
        ),
    }
    if kind in words:
        return words[kind]
    msg = err["msg"].removeprefix("Value error, ")
    if loc and loc[-1] in ("lb_range", "address_pool"):
        return f"expected a CIDR (10.0.0.0/28) or a range (10.0.0.1-10.0.0.9): {msg}"
    return msg[:1].lower() + msg[1:]


def _got(value: object, limit: int = 60) -> str:
    shown = repr(value)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def problems(error: ValidationError, *, from_env: Collection[str] = ()) -> list[Problem]:
    """One plain sentence per pydantic error; never the value of a secret-looking key, nor a
    value that holds one read from the environment (``from_env``: those values)."""
    found = []
    for err in error.errors():
        loc: KeyPath = err["loc"]
        is_key = bool(loc) and loc[-1] == "[key]"
        path = loc[:-1] if is_key else loc
        text = ("the key: " if is_key else "") + _expected(err)
        value = err.get("input")
        hidden = (
            under_secret(path)
            or (bool(path) and bool(SECRET_LOOKING.search(str(path[-1]))))
            or err["type"] == schema.CREDENTIALS_IN_URL
        )
        if isinstance(value, str) and any(v in value for v in from_env):
            for seen in sorted(from_env, key=len, reverse=True):
                text = text.replace(seen, MASK) if len(seen) >= 3 else text
            text += " (the value comes from the environment; not shown)"
        elif err["type"] != "missing" and not isinstance(value, dict) and not hidden:
            text += f" (got {_got(value)})"
        found.append(Problem(err["type"], path, text))
    return found
