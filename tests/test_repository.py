"""The repository itself: self-contained docs, the contract's copy, packaging metadata, the
pre-commit hooks a user's repository runs."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, ROOT

# [text](target) in Markdown, not images' alt text: the target up to a space or ")".
LINK = re.compile(r"\]\(([^)\s]+)\)")
DOCS = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").rglob("*.md"))]


@pytest.mark.parametrize("page", DOCS, ids=[str(p.relative_to(ROOT)) for p in DOCS])
def test_no_link_in_readme_or_docs_leaves_the_repository(page: Path) -> None:
    for target in LINK.findall(page.read_text()):
        if target.startswith("#"):
            continue
        assert "://" not in target and not target.startswith("mailto:"), (page, target)
        path = (page.parent / target.split("#", 1)[0]).resolve()
        assert path.is_relative_to(ROOT), f"{page.name}: {target} leaves the repository"
        assert path.exists(), f"{page.name}: {target} does not exist"


def test_readme_points_at_the_contract_in_docs() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "](docs/RULES.md)" in readme
    assert "shared/" not in re.sub(r"/shared/shards", "", readme)


def test_docs_rules_is_the_contract_it_copies() -> None:
    """docs/RULES.md is the project's copy of the contract; where the shared original sits
    beside the checkout, the copy must not have drifted from it."""
    copy = (ROOT / "docs" / "RULES.md").read_text()
    assert copy.startswith("# kerasfix rules and command-line contract")
    original = ROOT.parent / "shared" / "RULES.md"
    if original.is_file():
        assert copy == original.read_text(), "docs/RULES.md differs from shared/RULES.md"


def test_license_is_an_spdx_string_with_a_setuptools_that_reads_it() -> None:
    text = (ROOT / "pyproject.toml").read_text()  # (tomllib is 3.11+; kerasfix runs on 3.10)
    assert re.search(r'^license = "Apache-2.0"$', text, re.M)
    # PEP 639 strings need setuptools 77; older ones reject them (or, for the old table
    # form, warn on every install).
    assert re.search(r'^requires = \["setuptools>=77"\]$', text, re.M)


def test_building_the_package_prints_no_deprecation_warning(tmp_path: Path) -> None:
    """What `pip install` runs: the build backend in an isolated environment of the
    build-system's own requirements. No warning, license or otherwise, may come out."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    output = done.stdout + done.stderr
    assert "eprecat" not in output, output[-3000:]
    [wheel] = tmp_path.glob("kerasfix-*.whl")
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(name).decode()
    assert "License-Expression: Apache-2.0" in metadata


def _hooks() -> list[dict[str, object]]:
    import yaml

    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert isinstance(hooks, list) and hooks
    return hooks


def test_pre_commit_hooks_are_well_formed() -> None:
    """pre-commit's manifest: id, name, entry and language required; MODEL comes first, so
    kerasfix is given its files by the hook's args, not by pre-commit."""
    for hook in _hooks():
        assert {"id", "name", "entry", "language"} <= set(hook), hook
        assert hook["language"] in ("python", "system")
        assert hook["pass_filenames"] is False
        re.compile(str(hook["files"]))
        assert re.search(str(hook["files"]), "data/train.npz")
        assert re.search(str(hook["files"]), "model.keras")
        assert not re.search(str(hook["files"]), "README.md")


@pytest.mark.parametrize(("data", "code"), [("x_train.npy", 0), ("x.npy", 1)])
def test_pre_commit_hook_entry_runs_diagnose_on_the_args_a_user_gives(data: str, code: int) -> None:
    """The hook's entry with a user's args, run as pre-commit runs it (the console script on
    PATH, from the repository root): a clean pair passes the commit, a finding fails it."""
    folder = FIXTURES / ("KF101" if code == 0 else "KF107") / "positive"
    script = Path(sys.executable).parent / "kerasfix"
    for hook in _hooks():
        entry = shlex.split(str(hook["entry"]))
        assert entry[0] == "kerasfix"
        done = subprocess.run(
            [str(script), *entry[1:], "model.h5", data],
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == code, done.stdout + done.stderr
