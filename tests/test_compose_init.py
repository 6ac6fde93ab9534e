"""recipes/mini/compose_init.py: the warm start's parts can come from a model folder at a git revision."""

from __future__ import annotations

import subprocess

import pytest

from recipes.mini.compose_init import EMBEDDED, model_from_git


def _git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_model_from_git_restores_the_folder_of_an_old_revision(tmp_path):
    repo = tmp_path / "repo"
    folder = repo / EMBEDDED
    folder.mkdir(parents=True)
    _git(repo, "init", "-q")
    (folder / "config.json").write_text('{"v": 1}')
    (folder / "weights.safetensors").write_bytes(bytes(range(256)) * 4)
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "v1")
    (folder / "config.json").write_text('{"v": 2}')  # the tree moves on; the revision still holds v1
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "v2")

    out = model_from_git("git:HEAD~1", tmp_path / "parts", repo=repo)
    assert (out / "config.json").read_text() == '{"v": 1}'
    assert (out / "weights.safetensors").read_bytes() == bytes(range(256)) * 4

    with pytest.raises(SystemExit, match="no config.json"):
        model_from_git("git:HEAD:losatok_plugin", tmp_path / "bad", repo=repo)
    with pytest.raises(SystemExit, match="git ls-tree"):
        model_from_git("git:nosuchrev", tmp_path / "bad2", repo=repo)
