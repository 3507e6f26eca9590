"""The template store: add, import (idempotent, conflicts, safe ids), list/show/remove,
text search, the starter set, and the `glitchzap templates` CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from skimage import data
from typer.testing import CliRunner

from glitchzap.errors import InvalidParameters, NotFound
from glitchzap.io import encode_image, load_image
from glitchzap.runtime import restart
from glitchzap.settings import Settings
from glitchzap.templates import TemplateLibrary, text_boxes
from glitchzap.templates.starter import STARTER_PHOTOS, add_starter_set
from meme_animations import gif_file, panning, photo


def write_memegen(root: Path, template_id: str, image: np.ndarray, **config: object) -> Path:
    folder = root / template_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "default.png").write_bytes(encode_image(image, "png"))
    values = {"name": template_id.title(), "keywords": ["k"], "example": ["a", "b"],
              "text": [{"anchor_x": -0.02, "anchor_y": 0.0, "scale_x": 1.0, "scale_y": 0.2,
                        "style": "upper", "color": "white", "font": "thick", "align": "center",
                        "angle": 0.0, "start": 0.0, "stop": 1.0}]}  # fmt: skip
    values.update(config)
    (folder / "config.yml").write_text(yaml.safe_dump(values))
    return folder


@pytest.fixture
def library(tmp_path: Path) -> TemplateLibrary:
    return TemplateLibrary(tmp_path / "lib")


def test_import_is_idempotent_and_updates(library: TemplateLibrary, tmp_path: Path) -> None:
    source = tmp_path / "memegen"
    write_memegen(source, "cat", data.chelsea(), name="Staring Cat", keywords=["cat", "stare"])
    write_memegen(source, "coffee", data.coffee())
    first = library.import_memegen(source)
    assert sorted(first.added) == ["cat", "coffee"] and not first.errors
    again = library.import_memegen(source)
    assert sorted(again.unchanged) == ["cat", "coffee"] and not again.added
    write_memegen(source, "cat", data.chelsea(), name="Renamed Cat")
    third = library.import_memegen(source)
    assert third.updated == ["cat"] and third.unchanged == ["coffee"]
    assert len(library) == 2 and library.get("cat").name == "Renamed Cat"
    stored = library.get("cat")
    assert stored.image_path.is_file() and stored.image_path.parent.name == "cat"
    assert (stored.image_path.parent / "config.yml").is_file()  # memegen layout for the API


def test_animated_templates_keep_every_frame(library: TemplateLibrary, tmp_path: Path) -> None:
    """memegen's animated templates: a GIF-only one (`pan`), and one with its GIF beside a
    still picture (`both`). Matching and stills read the still picture (a GIF's first frame);
    `animation` gives every frame; re-importing is idempotent; removing the GIF updates."""
    source = tmp_path / "memegen"
    moving = panning(photo("astronaut", 200), 5)
    gif_file(moving, write_memegen(source, "pan", data.coffee()) / "default.gif")
    (source / "pan" / "default.png").unlink()
    gif_file(moving, write_memegen(source, "both", data.chelsea()) / "default.gif")
    assert sorted(library.import_memegen(source).added) == ["both", "pan"]

    pan, both = library.get("pan"), library.get("both")
    assert pan.animated and pan.animation_path == pan.image_path
    assert both.animated and both.image_path.suffix == ".png"
    assert both.animation_path is not None and both.animation_path.name == "default.gif"
    for template in (pan, both):
        frames = library.animation(template.id)
        assert (len(frames), frames.durations) == (5, moving.durations)
    assert np.array_equal(library.image("both"), load_image(source / "both" / "default.png"))
    assert np.array_equal(library.image("pan"), library.animation("pan").frames[0])
    assert library.best_match(data.chelsea()).id == "both"  # matched on the still picture

    assert sorted(library.import_memegen(source).unchanged) == ["both", "pan"]
    library.reindex()
    assert library.get("both").animated  # the GIF stays beside the still picture
    (source / "both" / "default.gif").unlink()
    assert library.import_memegen(source).updated == ["both"]
    assert not library.get("both").animated and len(library.animation("both")) == 1
    library.remove("pan")
    assert not (library.root / "pan").exists()


def test_import_reports_unsafe_ids_and_conflicts(library: TemplateLibrary, tmp_path: Path) -> None:
    source = tmp_path / "memegen"
    write_memegen(source, "Bad Name", data.coffee())
    write_memegen(source, "starter-coffee", data.coffee())
    write_memegen(source, "mine", data.rocket())
    (source / "empty").mkdir()
    library.add(data.astronaut(), name="Mine", template_id="mine")
    report = library.import_memegen(source)
    assert any(e.startswith("Bad Name") for e in report.errors)
    assert any(e.startswith("empty") for e in report.errors)
    assert any(c.startswith("starter-coffee") for c in report.conflicts)
    assert any(c.startswith("mine: already used by a user") for c in report.conflicts)
    assert library.get("mine").origin == "user"


@pytest.mark.parametrize("bad", ["../x", "a/b", "..", "", "A", "x" * 65, "-x", "a b", "é"])
def test_unsafe_ids_are_refused(library: TemplateLibrary, bad: str) -> None:
    with pytest.raises(InvalidParameters):
        library.add(data.coffee(), name="x", template_id=bad)
    with pytest.raises(InvalidParameters):
        library.get(bad)


def test_add_list_show_remove(library: TemplateLibrary, tmp_path: Path) -> None:
    path = tmp_path / "rocket.png"
    path.write_bytes(encode_image(data.rocket(), "png"))
    template = library.add(path, name="Rocket Launch", keywords=["space"])
    assert template.id == "rocket-launch" and (template.width, template.height) == (640, 427)
    assert [t.id for t in library.list_templates()] == ["rocket-launch"]
    assert len(text_boxes(template)) == 2  # memegen's default top and bottom boxes
    library.remove("rocket-launch")
    assert len(library) == 0 and not (library.root / "rocket-launch").exists()
    with pytest.raises(NotFound):
        library.remove("rocket-launch")
    with pytest.raises(InvalidParameters):
        library.add(data.rocket(), name="x", template_id="starter-x")


def test_memegen_boxes_are_clamped_into_textboxes(library: TemplateLibrary, tmp_path: Path) -> None:
    write_memegen(tmp_path / "m", "cat", data.chelsea())
    library.import_memegen(tmp_path / "m")
    image, boxes = library.template_for_meme("cat")
    assert image.shape == data.chelsea().shape
    assert boxes[0].anchor_x == 0.0 and boxes[0].scale_y == 0.2


def test_search_ranks_name_keywords_and_examples(library: TemplateLibrary, tmp_path: Path) -> None:
    source = tmp_path / "m"
    write_memegen(source, "cat", data.chelsea(), name="Staring Cat", keywords=["feline"])
    write_memegen(source, "coffee", data.coffee(), name="Morning", example=["need a cat nap"])
    write_memegen(source, "rocket", data.rocket(), name="Launch", keywords=["space"])
    library.import_memegen(source)
    ranked = [t.id for t, _ in library.search("cat")]
    assert ranked == ["cat", "coffee"]  # the name outranks an example caption
    assert [t.id for t, _ in library.search("feline")] == ["cat"]
    assert [t.id for t, _ in library.search("launching")] == ["rocket"]  # porter stemming
    assert library.search("zebra") == []
    with pytest.raises(InvalidParameters):
        library.search("  ")


def test_search_finds_a_template_by_its_id(library: TemplateLibrary, tmp_path: Path) -> None:
    """memegen users know ids ("one-does-not-simply"): the id itself comes first, and its
    words count as words."""
    source = tmp_path / "m"
    write_memegen(source, "staring-cat", data.chelsea(), name="Staring Cat")
    write_memegen(source, "rocket-launch", data.rocket(), name="Launch", example=["staring"])
    library.import_memegen(source)
    assert [t.id for t, _ in library.search("rocket-launch")] == ["rocket-launch"]
    ranked = library.search("Staring-Cat")
    assert [t.id for t, _ in ranked] == ["staring-cat", "rocket-launch"] and ranked[0][1] == 1.0
    assert [t.id for t, _ in library.search("cat_staring")] == ["staring-cat", "rocket-launch"]


def test_starter_set_and_match(library: TemplateLibrary) -> None:
    report = add_starter_set(library)
    assert len(report.added) == len(STARTER_PHOTOS)
    assert all(t.id.startswith("starter-") for t in library.list_templates())
    assert add_starter_set(library).unchanged == report.added
    cat = np.ascontiguousarray(data.chelsea()[20:-20, 30:-30, :][:, ::-1])
    best = library.best_match(cat)
    assert best is not None and best.id == "starter-chelsea" and best.mirrored


def write_memegen_checkout(root: Path) -> Path:
    """A memegen `templates/` folder: one real template plus memegen's own `_error` and `_test`
    folders, which memegen itself never lists as templates."""
    write_memegen(root, "cat", data.chelsea(), name="Staring Cat", keywords=["cat", "stare"])
    write_memegen(root, "_error", np.zeros((32, 32, 3), np.uint8), name="Error")
    test = write_memegen(root, "_test", data.coffee(), name="Test")
    (test / "sample.png").write_bytes(encode_image(data.rocket(), "png"))
    return root


def test_import_skips_memegen_own_folders(library: TemplateLibrary, tmp_path: Path) -> None:
    report = library.import_memegen(write_memegen_checkout(tmp_path / "memegen" / "templates"))
    assert report.added == ["cat"] and not report.errors and not report.conflicts
    assert [s.split(":")[0] for s in report.skipped] == ["_error", "_test"]
    assert not report.failed and report.to_dict()["skipped"] == report.skipped
    assert [t.id for t in library.list_templates()] == ["cat"]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A runner for `glitchzap` whose data dir is under `tmp_path` (the root command reloads
    the settings, and so the library, from the environment on every invocation)."""
    from glitchzap.cli import _register_all

    _register_all()
    monkeypatch.setenv("GLITCHZAP_DATA_DIR", str(tmp_path / "data"))
    return CliRunner()


def test_cli_import_memegen_skips_non_template_folders(cli: CliRunner, tmp_path: Path) -> None:
    from glitchzap.cli import app

    source = write_memegen_checkout(tmp_path / "memegen" / "templates")
    result = cli.invoke(app, ["templates", "import-memegen", str(source.parent)])
    assert result.exit_code == 0, result.output
    assert "1 added" in result.output and "skipped: _error" in result.output
    shown = cli.invoke(app, ["templates", "show", "cat"])
    assert shown.exit_code == 0 and json.loads(shown.output)["origin"] == "memegen"
    again = cli.invoke(app, ["templates", "import-memegen", "--json", str(source)])
    assert again.exit_code == 0 and json.loads(again.output)["unchanged"] == ["cat"]


def test_cli_import_memegen_fails_on_a_broken_template(cli: CliRunner, tmp_path: Path) -> None:
    from glitchzap.cli import app

    source = write_memegen_checkout(tmp_path / "memegen")
    broken = write_memegen(source, "broken", data.coffee())
    (broken / "default.png").write_bytes(b"not a picture")
    result = cli.invoke(app, ["templates", "import-memegen", str(source)])
    assert result.exit_code == 2, result.output
    assert "error: broken" in result.output and "skipped: _test" in result.output
    assert cli.invoke(app, ["templates", "show", "cat"]).exit_code == 0  # the rest imported


def test_cli_templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from glitchzap.cli import _register_all, app

    _register_all()
    monkeypatch.setenv("GLITCHZAP_DATA_DIR", str(tmp_path / "data"))
    restart()
    runner = CliRunner()
    source = tmp_path / "memegen"
    write_memegen(source, "cat", data.chelsea(), name="Staring Cat")
    result = runner.invoke(app, ["templates", "import-memegen", str(source)])
    assert result.exit_code == 0, result.output
    query = tmp_path / "q.jpg"
    query.write_bytes(encode_image(data.chelsea()[10:-10], "jpeg", quality=60))
    result = runner.invoke(app, ["templates", "match", "--json", "--top-k", "2", str(query)])
    line = json.loads(result.output.splitlines()[0])
    assert line["input"] == str(query) and line["matches"][0]["id"] == "cat"
    assert line["matches"][0]["score"] >= 0.5 and line["elapsed_ms"] > 0
    result = runner.invoke(app, ["templates", "show", "../../etc"])
    assert result.exit_code != 0
    assert runner.invoke(app, ["templates", "search", "staring"]).output.split()[1] == "cat"
    assert runner.invoke(app, ["templates", "remove", "cat"]).exit_code == 0
    restart()


def test_ids_with_a_trailing_newline_are_refused() -> None:
    """`$` in a regex also matches before a final newline: ids are matched whole."""
    from glitchzap.templates.store import check_id

    assert check_id("ants") == "ants"
    for bad in ("ants\n", "ants\r\n", "\nants"):
        with pytest.raises(InvalidParameters):
            check_id(bad)


def test_features_of_an_older_version_are_recomputed_when_the_library_opens(
    settings: Settings, tmp_path: Path
) -> None:
    """A library written by an older version (features at an old FEATURES_VERSION, which
    matching skips) matches again after `open_library`, without a manual reindex."""
    from glitchzap.templates import open_library
    from glitchzap.templates.store import FEATURES_VERSION

    write_memegen(tmp_path / "memegen", "cat", data.chelsea())
    library = open_library(settings, starter=False)
    library.import_memegen(tmp_path / "memegen")
    with library.store.transaction() as db:
        db.execute("UPDATE features SET version = ? WHERE id = 'cat'", (FEATURES_VERSION - 1,))
    library.store.close()
    assert TemplateLibrary(settings.templates_dir).best_match(data.chelsea()) is None

    reopened = open_library(settings, starter=False)
    assert reopened.store.stale_ids() == []
    found = reopened.best_match(data.chelsea())
    assert found is not None and found.id == "cat"
