"""YAML from outside that would take the loader down: alias bombs, huge files, a flood of
unknown keys. Each is refused with exit 2 and a short message naming the file."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bootstrap import yaml_guard
from bootstrap.commands import app
from bootstrap.errors import InputError
from bootstrap.kube import apply


def bomb(levels: int) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def plan(path: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = app.plan(app.Invocation(profile=str(path), out=out, err=err, log_format="json"))
    return code, out.getvalue() + err.getvalue()


def test_an_alias_bomb_in_a_profile_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text("name: bomb\ncluster: {provider: local, name: bomb}\n" + bomb(9))
    code, text = plan(path)
    assert code == 2
    assert f"{path}: the profile expands to more than 20,000 values" in text
    assert len(text.splitlines()) <= 3


def test_a_file_too_large_for_a_profile_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("name: huge\n# " + "x" * (2 << 20) + "\n")
    code, text = plan(path)
    assert code == 2
    assert "a profile may have at most 1,048,576" in text


def test_a_flood_of_unknown_keys_is_reported_in_a_few_lines(tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    keys = "\n".join(f"  k{i}: 1" for i in range(500))
    path.write_text(f"name: many\ncluster: {{provider: local, name: many}}\ncomponents:\n{keys}\n")
    code, text = plan(path)
    assert code == 2
    assert "... and 480 more problems" in text
    assert len(text.splitlines()) < 30


def test_ordinary_aliases_still_work(tmp_path: Path) -> None:
    path = tmp_path / "anchors.yaml"
    path.write_text(
        "name: anchors\ncluster: {provider: local, name: anchors}\n"
        "waves: &w {deadline_seconds: 120}\n"
        "timeouts: {stage_seconds: 120}\n"
    )
    code, text = plan(path)
    assert code == 0, text


def test_an_alias_bomb_in_a_fetched_manifest_is_refused() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n" + "".join(
        f"  {line}\n" for line in bomb(8).splitlines()
    )
    with pytest.raises(InputError, match="the manifest expands to more than 5,000,000 values"):
        apply.load_manifests(text)


@pytest.mark.parametrize(
    ("data", "size"),
    [(1, 1), ([], 1), ([1, 2], 3), ({"a": [1]}, 4), ({"a": {"b": None}}, 5)],
)
def test_expanded_size_counts_every_value(data: object, size: int) -> None:
    assert yaml_guard.expanded_size(data, limit=100) == size


def test_a_shared_list_counts_once_per_reference_and_the_limit_stops_the_count() -> None:
    shared = [0] * 9  # 10 values
    assert yaml_guard.expanded_size([shared, shared], limit=100) == 21
    nested: list[object] = [0] * 10
    for _ in range(30):  # 10^30 values if expanded: the count must stop at the limit
        nested = [nested] * 10
    with pytest.raises(yaml_guard.TooLarge):
        yaml_guard.expanded_size(nested, limit=1000)
