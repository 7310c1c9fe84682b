"""Secret fields of a profile: only references in the YAML, values read from env or 0600 files.

A secret field (typed ``SecretRef``) takes ``${NAME}`` or ``{env: NAME}`` or ``{file: path}``;
anything else is refused without echoing it. Resolved values are wrapped in ``Secret``, which
remembers them for redaction.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from bootstrap.errors import ProfileError
from bootstrap.profile import layers
from bootstrap.profile.paths import KeyPath, dotted
from bootstrap.profile.schema import SecretRef
from bootstrap.secrets import Secret

INLINE_HINT = "write `${VAR}` and export VAR, or `{file: path}` naming a file with mode 0600"
_ENV_REF = re.compile(r"\$\{(?P<name>[A-Za-z_]\w*)\}")


def as_ref(
    value: object,
    key: KeyPath,
    *,
    file: str,
    base_dir: Path,
    interpolate: Callable[[str, KeyPath], str],
) -> object:
    """The `{env}`/`{file}` mapping for what a file wrote in a secret field (paths absolute)."""
    if value is None:
        return None
    if isinstance(value, str) and (match := _ENV_REF.fullmatch(value.strip())):
        return {"env": match["name"]}
    if not isinstance(value, dict) or "value" in value:
        raise ProfileError("secret written inline", file=file, key=dotted(key), hint=INLINE_HINT)
    ref = {k: interpolate(v, (*key, k)) if isinstance(v, str) else v for k, v in value.items()}
    if isinstance(ref.get("file"), str):
        home = layers.expand_home(Path(ref["file"]), file=file, key=dotted((*key, "file")))
        ref["file"] = str(base_dir / home)
    return ref


def resolve(
    model: Any, key: KeyPath, *, where: Callable[[KeyPath], str], env: Mapping[str, str]
) -> Any:
    """``model`` with the value of every ``SecretRef`` in it read (a copy; models are frozen)."""
    updates: dict[str, object] = {}
    for name in type(model).model_fields:
        value, here = getattr(model, name), (*key, name)
        if isinstance(value, SecretRef):
            secret = read(value, file=where(here), key=dotted(here), env=env)
            updates[name] = value.model_copy(update={"value": secret})
        elif isinstance(value, BaseModel):
            resolved = resolve(value, here, where=where, env=env)
            if resolved is not value:
                updates[name] = resolved
    return model.model_copy(update=updates) if updates else model


MIN_SECRET_LENGTH = 8
"""The shortest secret a profile may give (docs/profiles.md, "Secrets")."""
NOT_SECRET_ITSELF = (".username",)
"""References that are kept with a secret but are no secret themselves: any length."""


def read(ref: SecretRef, *, file: str, key: str, env: Mapping[str, str]) -> Secret:
    if ref.env is not None:
        value = env.get(ref.env)
        if not value:
            state = "empty" if value == "" else "not set"
            raise ProfileError(
                f"environment variable {ref.env} is {state}",
                file=file,
                key=key,
                hint=f"export {ref.env}=<the secret>, or use {{file: path}}",
            )
        return _long_enough(Secret(value, source=f"env:{ref.env}"), file=file, key=key)
    path = Path(str(ref.file))
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            raise ProfileError(f"secret file {path} is not a regular file", file=file, key=key)
        if mode & 0o077:
            raise ProfileError(
                f"secret file {path} is open to group or others ({stat.filemode(mode)})",
                file=file,
                key=key,
                hint=f"chmod 600 {path}",
            )
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        why = "does not exist" if isinstance(err, FileNotFoundError) else f"cannot be read: {err}"
        raise ProfileError(
            f"secret file {path} {why}",
            file=file,
            key=key,
            hint="create it with mode 0600, or fix the path",
        ) from None
    if "\n" not in text.rstrip("\r\n"):
        text = text.rstrip("\r\n")  # a one-line token loses its newline; a key keeps its own
    if not text.strip():
        raise ProfileError(f"secret file {path} is empty", file=file, key=key)
    return _long_enough(Secret(text, source=f"file:{path}"), file=file, key=key)


def _long_enough(secret: Secret, *, file: str, key: str) -> Secret:
    """Secrets are kept out of what clusterboot prints by their value: a value shorter than
    MIN_SECRET_LENGTH cannot be told from ordinary text (masking it would scrub every word
    that holds it, not masking it prints it), so it is refused."""
    length = len(secret.reveal().strip())
    if length < MIN_SECRET_LENGTH and not key.endswith(NOT_SECRET_ITSELF):
        raise ProfileError(
            f"the secret from {secret.source.replace(':', ' ', 1)} is {length} characters; "
            f"clusterboot needs at least {MIN_SECRET_LENGTH} to keep it out of everything it "
            "prints",
            file=file,
            key=key,
            hint=f"use a secret of {MIN_SECRET_LENGTH} characters or more (for sudo: a longer "
            "password for the user, or passwordless sudo)",
        )
    return secret
