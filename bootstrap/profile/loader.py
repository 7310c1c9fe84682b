"""Load a profile: the file and its bases, ``${VAR}``, ``--set``, validation, then secrets.

Every problem is a ``ProfileError`` naming the file and the dotted key, raised before anything
runs. Loading only reads files and the environment (resolved secrets are remembered for
redaction, which is the point of ``Secret``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from bootstrap import yaml_guard
from bootstrap.errors import ProfileError
from bootstrap.profile import layers, paths, refs
from bootstrap.profile.layers import Layer
from bootstrap.profile.paths import KeyPath
from bootstrap.profile.schema import Profile, SecretRef
from bootstrap.secrets import MASK, redact

PROFILES_DIR = Path(__file__).resolve().parents[2] / "profiles"
SET = "--set"

_KEY_PREFIX = re.compile(r"[A-Za-z0-9_.-]*")
_VAR = re.compile(r"\$\$\{|\$\{(?P<name>[A-Za-z_]\w*)(?::-(?P<default>[^}]*))?\}|\$\{")
_NOT_TEXT = re.compile(r"[\x00\ud800-\udfff]")  # NUL; a lone surrogate (bytes that were not UTF-8)


def load(
    ref: str,
    *,
    overrides: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    profiles_dir: Path | None = None,
) -> Profile:
    """The validated profile ``ref`` (a name in ``profiles_dir``, or a path to a .yaml file)."""
    env = _Watched(os.environ if env is None else env)
    profiles_dir = PROFILES_DIR if profiles_dir is None else profiles_dir
    path = _locate(ref, profiles_dir)

    def prepare(data: dict[str, Any], file: Path) -> dict[str, Any]:
        return dict(_prepare(data, (), file=str(file), base_dir=file.parent, env=env))

    *bases, own = layers.layers(path, prepare=prepare, profiles_dir=profiles_dir)
    # `name` belongs to the file loaded, never inherited: two profiles must not share a state dir.
    bases = [Layer(b.origin, {k: v for k, v in b.data.items() if k != "name"}) for b in bases]
    stack = [*bases, own, _overrides(overrides, env)]
    data: dict[str, Any] = {"name": path.stem}
    for layer in stack:
        data = layers.merge(data, layer.data)
    _refuse_non_text(data, (), where=lambda k: _owner(stack, k, path))
    if "source" in data:
        raise ProfileError(
            "is set by the loader, not by a profile",
            file=_owner(stack, ("source",), path),
            key="source",
            hint="remove the key",
        )
    data = _drop_nulls({**data, "source": str(path)}, Profile)
    try:
        profile = Profile.model_validate(data)
    except ValidationError as err:
        raise _invalid(err, stack, path, from_env=env.seen) from None
    resolved: Profile = refs.resolve(
        profile, (), where=lambda k: _owner(stack, k, path), env=env
    )
    return resolved


class _Watched(Mapping[str, str]):
    """The environment, noting every value read from it: an error never shows those."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.seen: set[str] = set()

    def __getitem__(self, name: str) -> str:
        value = self.env[name]
        if value:
            self.seen.add(value)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self.env)

    def __len__(self) -> int:
        return len(self.env)


def setting(key: str, value: str) -> str:
    """A ``--set`` item that sets ``key`` to exactly the string ``value``: neither YAML syntax
    (a ``#`` or ``: `` in a path stays part of it) nor ``${VAR}`` is read in it."""
    return f"{key}={layers.scalar(value.replace('${', '$${'))}"


def describe(profile: Profile) -> dict[str, object]:
    """The profile as JSON-safe data for `invoke plan`, every secret masked."""
    rest = _plain(profile)
    assert isinstance(rest, dict)
    return {"name": profile.name, "source": profile.source, **rest}


def _locate(ref: str, profiles_dir: Path) -> Path:
    named = ref and "/" not in ref and os.sep not in ref and not ref.endswith(layers.SUFFIXES)
    path = profiles_dir / f"{ref}.yaml" if named else layers.expand_home(Path(ref), file=ref)
    if not ref or not path.exists():
        found = ", ".join(sorted(p.stem for p in profiles_dir.glob("*.yaml"))) or "none"
        hint = f"profiles in {profiles_dir}: {found}; or give a path to a .yaml file"
        raise ProfileError("no such profile file", file=str(path), hint=hint)
    return path.resolve()


def _owner(stack: Sequence[Layer], key: KeyPath, default: Path) -> str:
    return layers.owner(stack, key, str(default))


def _missing_in(stack: Sequence[Layer], key: KeyPath, default: Path) -> str:
    """A required key absent everywhere: the profile loaded, or --set if only it made the parent."""
    files = [layer for layer in stack if layer.origin != SET]
    made_by_set = not any(layers.has(layer.data, key[:-1]) for layer in files)
    return SET if made_by_set or _removed_by_set(stack, key) else str(default)


def _removed_by_set(stack: Sequence[Layer], key: KeyPath) -> bool:
    """--set wrote null at ``key`` or above it (``--set cluster=null``): it removed the key."""
    for layer in stack:
        if layer.origin != SET:
            continue
        for end in range(1, len(key) + 1):
            data: object = layer.data
            for part in key[:end]:
                data = data.get(part) if isinstance(data, dict) else None
            if data is None and layers.has(layer.data, key[:end]):
                return True
    return False


def _prepare(
    value: object, key: KeyPath, *, file: str, base_dir: Path, env: Mapping[str, str]
) -> Any:
    """Interpolate ``${VAR}`` in strings and turn secret fields into `{env}`/`{file}` refs."""
    if paths.is_secret(key):
        return refs.as_ref(
            value,
            key,
            file=file,
            base_dir=base_dir,
            interpolate=lambda text, at: _interpolate(text, at, file=file, env=env),
        )
    if isinstance(value, dict):
        return {
            k: _prepare(v, (*key, k), file=file, base_dir=base_dir, env=env)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            _prepare(v, (*key, i), file=file, base_dir=base_dir, env=env)
            for i, v in enumerate(value)
        ]
    if isinstance(value, str):
        return _interpolate(value, key, file=file, env=env)
    return value


def _interpolate(text: str, key: KeyPath, *, file: str, env: Mapping[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        name, default = match["name"], match["default"]
        if match[0] == "$${":
            return "${"
        if name is None:
            raise ProfileError(
                f"malformed variable reference in {text[:60]!r}",
                file=file,
                key=paths.dotted(key),
                hint="write ${NAME} or ${NAME:-default}; $${ for a literal ${",
            )
        value = env.get(name)
        if not value and default is not None:
            return str(default)
        if value is None:
            raise ProfileError(
                f"environment variable {name} is not set",
                file=file,
                key=paths.dotted(key),
                hint=f"export {name}=..., or write ${{{name}:-default}}",
            )
        return value

    return _VAR.sub(substitute, text)


def _overrides(items: Sequence[str], env: Mapping[str, str]) -> Layer:
    data: dict[str, Any] = {}
    for item in items:
        dotted, eq, raw = item.partition("=")
        path = dotted.strip().split(".")
        if not eq or not all(path):
            raise _not_a_setting(item)
        _check_settable(path)
        try:
            value = layers.parse_value(raw)
        except layers.TooDeep as err:
            raise ProfileError(str(err.problem), file=SET, key=dotted.strip()) from None
        except yaml_guard.TooLarge as err:
            raise ProfileError(f"the value {err}", file=SET, key=dotted.strip()) from None
        except yaml.YAMLError:
            value = raw
        value = _prepare(value, tuple(path), file=SET, base_dir=Path(), env=env)
        try:
            data = layers.put(data, path, value)
        except ValueError as err:
            raise ProfileError(str(err), file=SET, key=".".join(path)) from None
    return Layer(SET, data)


def _not_a_setting(item: str) -> ProfileError:
    """`--set` without `=`, or with an empty key part: the key is named, never what follows
    it (with `:` or a space in place of `=`, that is the value, and it may be a secret)."""
    dotted, eq, _ = item.partition("=")
    if eq:
        why, key = "a part of the key is empty", dotted.strip()
    else:
        prefix = _KEY_PREFIX.match(item.strip())
        key = prefix[0] if prefix else ""
        after = item.strip()[len(key) :][:1]
        why = f"{after!r} follows the key, not '=' (the rest is not shown)" if after else "no '='"
    shown = key.strip(".") or "cluster.local.api_port"
    return ProfileError(
        f"expected key.path=value: {why}",
        file=SET,
        key=key,
        hint=f"write --set {shown}=VALUE",
    )


def _check_settable(path: Sequence[str]) -> None:
    node: paths.Node | None = Profile
    for i, key in enumerate(path):
        assert node is not None
        parent = ".".join(path[:i]) or "the top level"
        below = paths.child(node, key)
        if below is None and node == "leaf":
            raise ProfileError(
                f"{parent} is a single value; nothing can be set below it",
                file=SET,
                key=".".join(path),
            )
        if below is None:
            raise ProfileError(
                f"unknown key {key!r}",
                file=SET,
                key=".".join(path),
                hint=f"keys under {parent}: {', '.join(paths.keys_of(node))}",
            )
        node = below


def _refuse_non_text(value: object, key: KeyPath, *, where: Callable[[KeyPath], str]) -> None:
    """A NUL or a lone surrogate fits no path, command line, kubeconfig or report (each would
    fail later, with a traceback): refused here, naming the key and never showing the value."""
    if isinstance(value, dict):
        for k, v in value.items():
            _refuse_non_text(k, key, where=where)
            _refuse_non_text(v, (*key, k), where=where)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _refuse_non_text(v, (*key, i), where=where)
    elif isinstance(value, str) and (found := _NOT_TEXT.search(value)):
        nul = found[0] == "\0"
        shown = [ascii(k) if isinstance(k, str) and _NOT_TEXT.search(k) else k for k in key]
        raise ProfileError(
            f"holds {'a NUL character' if nul else 'text that is not UTF-8 (a lone surrogate)'}"
            ", which no path, command line or file can carry",
            file=where(key),
            key=paths.dotted(shown),
            hint="remove the \\0 escape" if nul else "write the value as UTF-8 text",
        )


def _drop_nulls(value: object, node: paths.Node | None) -> Any:
    """Remove keys set to null (a child deleting a base's key); free-form mappings keep them."""
    if not isinstance(value, dict) or not isinstance(node, type):
        return value
    return {k: _drop_nulls(v, paths.child(node, k)) for k, v in value.items() if v is not None}


MAX_PROBLEMS = 20


def _invalid(
    error: ValidationError, stack: Sequence[Layer], path: Path, *, from_env: Collection[str]
) -> ProfileError:
    found = paths.problems(error, from_env=from_env)
    files = [
        _missing_in(stack, p.path, path) if p.kind == "missing" else _owner(stack, p.path, path)
        for p in found
    ]
    lines = [f"{f}: {paths.dotted(p.path)}: {p.text}" for f, p in zip(files, found, strict=True)]
    if len(lines) > MAX_PROBLEMS:  # 150,000 unknown keys are not read one by one
        lines = [*lines[:MAX_PROBLEMS], f"... and {len(lines) - MAX_PROBLEMS:,} more problems"]
    secretish = any(
        p.path and paths.SECRET_LOOKING.search(str(p.path[-1]))
        for p in found
        if p.kind == "extra_forbidden"
    )
    hint = "secrets go under root_app.credentials: " + refs.INLINE_HINT if secretish else ""
    message = "\n".join([found[0].text, *lines[1:]])
    return ProfileError(message, file=files[0], key=paths.dotted(found[0].path), hint=hint)


def _plain(value: object) -> object:
    if isinstance(value, SecretRef):
        where = {"env": value.env} if value.env is not None else {"file": value.file}
        return {**where, "value": MASK if value.value is not None else None}
    if isinstance(value, BaseModel):
        fields = type(value).model_fields
        return {n: _plain(getattr(value, n)) for n, f in fields.items() if not f.exclude}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))
