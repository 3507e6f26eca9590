"""Batch planning: which files a batch picks up and where each output goes (no model needed)."""

from __future__ import annotations

import os
from pathlib import Path, PurePath

import pytest

from glitchzap.batch.inputs import output_path, plan_batch, temp_files_for
from glitchzap.errors import InvalidParameters


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def outputs(items: list) -> dict[str, str | None]:
    return {item.source.name: str(item.output) if item.output else None for item in items}


def test_folders_are_searched_recursively_and_mirrored(tmp_path: Path) -> None:
    src = tmp_path / "in"
    for rel in ("a.jpg", "sub/b.PNG", "sub/deeper/c.webp", "notes.txt", "sub/d.json"):
        touch(src / rel)
    touch(src / ".hidden.jpg")
    touch(src / ".cache/e.jpg")
    items = plan_batch([src], tmp_path / "out", "png")
    out = tmp_path / "out"
    assert outputs(items) == {
        "a.jpg": str(out / "a.png"),
        "b.PNG": str(out / "sub/b.png"),
        "c.webp": str(out / "sub/deeper/c.png"),
    }
    assert all(item.problem is None for item in items)


def test_output_suffix_follows_the_recipe_format(tmp_path: Path) -> None:
    touch(tmp_path / "in/a.png")
    [jpeg] = plan_batch([tmp_path / "in"], tmp_path / "out", "jpeg")
    [webp] = plan_batch([tmp_path / "in"], tmp_path / "out", "webp")
    assert jpeg.output == tmp_path / "out/a.jpg"
    assert webp.output == tmp_path / "out/a.webp"


def test_list_file_paths_are_relative_to_the_list(tmp_path: Path) -> None:
    touch(tmp_path / "photos/x.jpg")
    touch(tmp_path / "photos/y/z.png")
    touch(tmp_path / "elsewhere/w.jpg")
    listing = tmp_path / "photos/list.txt"
    listing.write_text(
        f"# comment\nx.jpg\n\ny\n{tmp_path / 'elsewhere/w.jpg'}\n../elsewhere/w.jpg\n"
    )
    items = plan_batch([listing], tmp_path / "out", "png")
    out = tmp_path / "out"
    assert [str(item.output) if item.output else item.problem for item in items] == [
        str(out / "x.png"),
        str(out / "y/z.png"),
        str(out / "w.png"),  # outside the list's folder: name only
        f"same output {out / 'w.png'} as {tmp_path / 'elsewhere/w.jpg'}",
    ]


def test_crafted_paths_never_leave_the_output_folder(tmp_path: Path) -> None:
    touch(tmp_path / "secret.jpg")
    listing = touch(tmp_path / "in/list.txt", b"../../../../../../tmp/../" + b"x/../secret.jpg\n")
    items = plan_batch([listing, tmp_path / "in/../secret.jpg"], tmp_path / "out", "png")
    root = (tmp_path / "out").resolve()
    for item in items:
        assert item.output is None or item.output.resolve().is_relative_to(root)
    for rel in ("../escape.jpg", "a/../../escape.jpg", "/etc/passwd"):
        with pytest.raises(InvalidParameters, match="not inside the output folder"):
            output_path(tmp_path / "out", PurePath(rel), "png")


def test_symlink_inside_output_folder_is_not_followed_out(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "out").mkdir()
    os.symlink(outside, tmp_path / "out/sub")
    touch(tmp_path / "in/sub/a.jpg")
    [item] = plan_batch([tmp_path / "in"], tmp_path / "out", "png")
    assert item.output is None
    assert "resolves outside" in (item.problem or "")


def test_output_folder_inside_the_input_folder_is_not_read_back(tmp_path: Path) -> None:
    touch(tmp_path / "in/a.jpg")
    touch(tmp_path / "in/out/a.png")  # a previous run's output
    items = plan_batch([tmp_path / "in"], tmp_path / "in/out", "png")
    assert [item.source.name for item in items] == ["a.jpg"]


def test_two_inputs_with_one_output_are_reported_not_overwritten(tmp_path: Path) -> None:
    touch(tmp_path / "in/a.jpg")
    touch(tmp_path / "in/a.png")
    first, second = plan_batch([tmp_path / "in"], tmp_path / "out", "png")
    assert first.output == tmp_path / "out/a.png"
    assert second.output is None and "same output" in (second.problem or "")


def test_missing_inputs(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameters, match="No such input"):
        plan_batch([tmp_path / "nope"], tmp_path / "out", "png")
    with pytest.raises(InvalidParameters, match="No inputs"):
        plan_batch([], tmp_path / "out", "png")
    # A missing image path is planned, and fails as that one file when loaded.
    [item] = plan_batch([tmp_path / "gone.jpg"], tmp_path / "out", "png")
    assert item.output == tmp_path / "out/gone.png"


def test_temp_files_for_finds_only_our_half_written_outputs(tmp_path: Path) -> None:
    stale = touch(tmp_path / ".a.png.0123456789ab.tmp")
    touch(tmp_path / ".b.png.0123456789ab.tmp")  # not one of the outputs asked about
    touch(tmp_path / "a.png")
    assert list(temp_files_for([tmp_path / "a.png"])) == [stale]


def test_temp_files_for_matches_what_save_image_leaves_when_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    from glitchzap.io import save_image

    def killed(self: Path, target: Path) -> None:
        raise KeyboardInterrupt  # the process dies between writing and renaming

    monkeypatch.setattr(Path, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        save_image(np.zeros((4, 4, 3), np.uint8), tmp_path / "a.png")
    monkeypatch.undo()
    left = list(tmp_path.iterdir())
    assert len(left) == 1 and not (tmp_path / "a.png").exists()
    assert list(temp_files_for([tmp_path / "a.png"])) == left
