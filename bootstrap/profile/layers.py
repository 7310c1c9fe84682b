"""Profile files as layers: read the YAML, follow ``extends``, deep-merge, and say who set a key.

A profile is a stack of layers, bases first, then the file itself, then ``--set``. The merged
mapping is what gets validated; the layers stay so an error can name the file that set the key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bootstrap import yaml_guard
from bootstrap.errors import ProfileError

SUFFIXES = (".yaml", ".yml")
MAX_BYTES = 1 << 20  # a profile is a page or two; a file of megabytes is not one
MAX_VALUES = 20_000  # values in one file once its aliases are expanded
MAX_DEPTH = 64  # mappings and lists inside each other; a profile needs a dozen at most
Prepare = Callable[[dict[str, Any], Path], dict[str, Any]]


@dataclass(frozen=True)
class Layer:
    origin: str  # a file path, or "--set"
    data: dict[str, Any]


class TooDeep(yaml.composer.ComposerError):
    """Nesting past MAX_DEPTH (PyYAML's composer would recurse until Python gives up)."""


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses a key written twice in one mapping (PyYAML keeps the last), a
    key that is a list or a mapping, and nesting deeper than MAX_DEPTH."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self._depth >= MAX_DEPTH:
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise TooDeep(None, None, f"values nested more than {MAX_DEPTH} levels deep", mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                what = "list" if isinstance(key, list) else "mapping"
                raise yaml.constructor.ConstructorError(
                    None, None, f"a key must be a name, not a {what}", key_node.start_mark
                )
            if key in seen:
                mark = key_node.start_mark
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is written twice", mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read(path: Path) -> dict[str, Any]:
    """One file's top-level mapping (empty file: empty mapping)."""
    file = str(path)
    try:
        text = yaml_guard.read_regular(path, limit=MAX_BYTES).decode("utf-8")
    except FileNotFoundError:
        raise ProfileError("no such file", file=file) from None
    except yaml_guard.NotARegularFile as err:
        raise ProfileError(str(err).removeprefix(f"{path} "), file=file,
                           hint="give the profile's YAML file") from None
    except yaml_guard.TooLarge:
        raise ProfileError(
            f"the file is {path.stat().st_size:,} bytes; a profile may have at most "
            f"{MAX_BYTES:,}",
            file=file,
            hint="is this the right file?",
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ProfileError(f"cannot read the file: {err}", file=file) from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as err:
        raise ProfileError(f"invalid YAML {yaml_guard.described(err)}", file=file) from None
    if data is None:
        return {}
    try:
        yaml_guard.expanded_size(data, limit=MAX_VALUES)
    except yaml_guard.TooLarge as err:
        raise ProfileError(f"the profile {err}", file=file, hint="write the values out") from None
    if not isinstance(data, dict):
        raise ProfileError(
            f"the top level must be a mapping of keys, not a {type(data).__name__}",
            file=file,
            hint="start the file with keys such as `cluster:`",
        )
    return data


def parse_value(text: str) -> Any:
    """A `--set` value as YAML, with the same limits as a file (raises TooDeep, YAMLError,
    yaml_guard.TooLarge)."""
    value = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    yaml_guard.expanded_size(value, limit=MAX_VALUES)
    return value


def scalar(text: str) -> str:
    """``text`` as YAML that ``parse_value`` reads back as exactly ``text``: itself when it
    already does, else double-quoted (a ``#``, a ``: ``, a leading ``&`` or ``[``)."""
    try:
        if parse_value(text) == text:
            return text
    except (yaml.YAMLError, yaml_guard.TooLarge):
        pass
    return yaml.safe_dump(text, default_style='"', width=1 << 30).rstrip("\n")


def find_base(ref: object, *, of: Path, profiles_dir: Path) -> Path:
    """An ``extends`` entry: a path (relative to the extending file) or a profile name."""
    if not isinstance(ref, str) or not ref.strip():
        raise ProfileError(
            f"expected a profile name or path, or a list of them (got {ref!r})",
            file=str(of),
            key="extends",
        )
    if "/" in ref or ref.endswith(SUFFIXES):
        candidates = [of.parent / expand_home(Path(ref), file=str(of), key="extends")]
    else:
        candidates = [of.parent / f"{ref}.yaml", profiles_dir / f"{ref}.yaml"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
        if candidate.exists():  # a FIFO, a device, a directory: named, never opened
            return candidate  # read() refuses it, naming what it is
    looked = " or ".join(str(c) for c in dict.fromkeys(candidates))
    raise ProfileError(
        f"profile {ref!r} does not exist (looked for {looked})", file=str(of), key="extends"
    )


def layers(
    path: Path, *, prepare: Prepare, profiles_dir: Path, chain: tuple[Path, ...] = ()
) -> list[Layer]:
    """``path``'s bases (each with its own bases, in order), then ``path`` itself."""
    chain = (*chain, path)
    data = read(path)
    bases = data.pop("extends", None)
    stack: list[Layer] = []
    for ref in [] if bases is None else bases if isinstance(bases, list) else [bases]:
        base = find_base(ref, of=path, profiles_dir=profiles_dir)
        if base in chain:
            cycle = " -> ".join(str(p) for p in (*chain[chain.index(base) :], base))
            raise ProfileError(
                f"cycle: {cycle}",
                file=str(path),
                key="extends",
                hint="a profile may not extend itself, directly or through others",
            )
        stack += layers(base, prepare=prepare, profiles_dir=profiles_dir, chain=chain)
    return [*stack, Layer(str(path), prepare(data, path))]


def expand_home(path: Path, *, file: str, key: str = "") -> Path:
    """``path`` with ``~`` or ``~user`` expanded; a user this machine does not have is bad
    input (pathlib raises RuntimeError)."""
    try:
        return path.expanduser()
    except RuntimeError:
        raise ProfileError(
            f"{str(path).partition('/')[0]!r}: no such user on this machine",
            file=file,
            key=key,
            hint="write the path out, or start it with ~/ for your own home",
        ) from None


def merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; anything else in ``top`` replaces (None is kept, as a mark)."""
    merged = dict(base)
    for key, value in top.items():
        below = merged.get(key)
        both = isinstance(below, dict) and isinstance(value, dict)
        merged[key] = merge(below, value) if both else value  # type: ignore[arg-type]
    return merged


def has(data: object, path: Sequence[str | int]) -> bool:
    for key in path:
        if isinstance(data, list) and isinstance(key, int) and 0 <= key < len(data):
            data = data[key]
            continue
        if not isinstance(data, dict) or key not in data:
            return False
        data = data[key]
    return True


def owner(stack: Sequence[Layer], path: Sequence[str | int], default: str) -> str:
    """The topmost layer that sets ``path``, else that sets its longest prefix, else default."""
    for end in range(len(path), 0, -1):
        for layer in reversed(stack):
            if has(layer.data, path[:end]):
                return layer.origin
    return default


def put(data: dict[str, Any], path: Sequence[str], value: object) -> dict[str, Any]:
    """A copy of ``data`` with ``value`` at ``path``, creating mappings on the way."""
    key, rest = path[0], path[1:]
    if not rest:
        return {**data, key: value}
    below = data.get(key)
    if below is None:
        below = {}
    if not isinstance(below, dict):
        held = "a list" if isinstance(below, list) else "a single value"
        raise ValueError(f"{key!r} holds {held}, not a mapping, so nothing can be set below it")
    return {**data, key: put(below, rest, value)}
