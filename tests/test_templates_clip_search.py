"""CLIP in the template library: stored embeddings, search blended with CLIP, CLIP as one more
match shortlist. On the starter set (scikit-image photos) with the tiny colour-only CLIP pair
of test_templates_clip (the rocket photo is the blue one: "blue" is in none of its words)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage import data

from glitchzap.cache.codec import decode_array
from glitchzap.errors import ModelNotAvailable
from glitchzap.settings import Settings, TemplatesSettings
from glitchzap.templates import TemplateLibrary, open_library, text_boxes
from glitchzap.templates import matcher as matcher_module
from glitchzap.templates.clip import ClipBackend
from glitchzap.templates.match import describe_query
from glitchzap.templates.search import CLIP_WEIGHT, WORDS_WEIGHT, blend_relevance
from glitchzap.templates.starter import add_starter_set
from meme_variants import make_variant
from test_cli import run_cli
from test_templates_clip import tiny_clip

ROCKET, COFFEE = "starter-rocket", "starter-coffee"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clip")
    tiny_clip(folder)
    return folder


def backend(folder: Path) -> ClipBackend:
    return ClipBackend(folder, TemplatesSettings(clip_model_path=folder))


def stored(library: TemplateLibrary, model_digest: str) -> dict[str, np.ndarray]:
    """The CLIP embeddings stored under `model_digest`, by template id."""
    rows = library.store.query(
        "SELECT id, vector FROM clip_embeddings WHERE model = ?", (model_digest,)
    )
    return {row["id"]: decode_array(row["vector"]) for row in rows}


def starter_library(root: Path, clip: ClipBackend | None = None) -> TemplateLibrary:
    library = TemplateLibrary(root, clip=clip)
    add_starter_set(library)
    return library


def test_search_finds_templates_by_what_they_show(model: Path, tmp_path: Path) -> None:
    """Written without CLIP, then opened with it (embeddings filled in on first use): "blue"
    finds the rocket photo only with CLIP; a word hit still comes first."""
    plain = starter_library(tmp_path / "lib")
    rocket = plain.get(ROCKET)
    assert "blue" not in " ".join([rocket.name, *rocket.keywords, *rocket.example]).lower()
    assert plain.search("blue") == []
    assert [t.id for t, _ in plain.search("cup blue")] == [COFFEE]

    settings = Settings(data_dir=tmp_path, templates=TemplatesSettings(dir=tmp_path / "lib",
                        clip_model_path=model))  # fmt: skip
    library = open_library(settings)
    assert library.clip is not None
    assert stored(library, library.clip.backend.model_digest) == {}
    found = library.search("blue")
    assert found[0][0].id == ROCKET and 0 < found[0][1] <= CLIP_WEIGHT
    assert len(stored(library, library.clip.backend.model_digest)) == len(library)
    blended = library.search("cup blue")
    assert [t.id for t, _ in blended[:2]] == [COFFEE, ROCKET]  # the name hit, then CLIP's
    assert blended[0][1] >= WORDS_WEIGHT > CLIP_WEIGHT >= blended[1][1]
    assert library.search("blue", k=1) == found[:1]
    # Words CLIP says nothing about (orthogonal to every picture) search as without CLIP.
    assert [t.id for t, _ in library.search("coffee")] == [t.id for t, _ in plain.search("coffee")]


def test_blend_relevance() -> None:
    """The best word match is WORDS_WEIGHT; CLIP adds up to CLIP_WEIGHT, rescaled between the
    library's median cosine (0) and its best (1); below the median and no words: left out."""
    words = {"a": 0.5, "b": 0.25}
    cosine = np.array([0.1, 0.2, 0.3, 0.0, 0.15], np.float32)
    scores = blend_relevance(words, ["a", "b", "c", "d", "e"], cosine)
    assert scores == pytest.approx({"a": 0.6, "b": 0.3 + 0.4 / 3, "c": 0.4})
    assert blend_relevance(words, ["a", "b"], np.zeros(2, np.float32)) == {"a": 0.6, "b": 0.3}
    assert blend_relevance({}, [], np.zeros(0, np.float32)) == {}


@pytest.fixture
def clip_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The global-descriptor and vote shortlists switched off (so they rank every template
    "low"), and CLIP's cut to its single nearest template."""
    for name in ("GLOBAL_CANDIDATES", "VOTE_CANDIDATES", "RETRY_VOTE_CANDIDATES"):
        monkeypatch.setattr(matcher_module, name, 0)
    monkeypatch.setattr(matcher_module, "CLIP_CANDIDATES", 1)


@pytest.mark.usefixtures("clip_only")
def test_match_shortlists_by_clip_and_verification_decides(model: Path, tmp_path: Path) -> None:
    library = starter_library(tmp_path / "lib", backend(model))
    plain = TemplateLibrary(tmp_path / "lib")
    picture = library.image(ROCKET)
    meme = make_variant(
        picture, "caption", np.random.default_rng(3), text_boxes(library.get(ROCKET))
    )
    assert plain.candidates(describe_query(meme)) == []
    assert plain.best_match(meme) is None  # nothing shortlisted, nothing verified

    candidates = library.candidates(describe_query(meme))
    assert [library.matcher._load_index().ids[row] for row, _ in candidates] == [ROCKET]
    found = library.best_match(meme)
    assert found is not None and found.id == ROCKET and found.score >= library.match_threshold

    # A photo that is no template: CLIP shortlists its nearest colour, verification refuses it.
    retina = np.asarray(data.retina())
    assert len(library.candidates(describe_query(retina))) == 1
    assert library.best_match(retina) is None
    assert not any(r.matched for r in library.match(retina, 3))


def test_embeddings_follow_the_model_and_the_picture(model: Path, tmp_path: Path) -> None:
    first = backend(model)
    library = starter_library(tmp_path / "lib", first)  # computed as they are written
    vectors = stored(library, first.model_digest)
    assert set(vectors) == {t.id for t in library.list_templates()}
    np.testing.assert_allclose(vectors[ROCKET], first.embed_image(library.image(ROCKET)), atol=1e-6)

    (tmp_path / "other").mkdir()
    tiny_clip(tmp_path / "other", brightness=3.0)
    second = backend(tmp_path / "other")
    assert second.model_digest != first.model_digest
    switched = TemplateLibrary(tmp_path / "lib", clip=second)
    assert switched.clip is not None and stored(switched, second.model_digest) == {}
    ids, matrix = switched.clip.vectors()  # recomputed under the new model, and stored
    again = stored(switched, second.model_digest)
    assert set(again) == set(ids) == set(vectors)
    rocket = again[ROCKET]
    np.testing.assert_allclose(rocket, second.embed_image(switched.image(ROCKET)), atol=1e-6)
    np.testing.assert_allclose(matrix[ids.index(ROCKET)], rocket)
    assert not np.allclose(rocket, vectors[ROCKET], atol=1e-3)

    # Rewriting drops other models' embeddings; a picture replaced by a library without CLIP
    # is embedded again on next use.
    assert switched.reindex() == len(ids) and stored(switched, first.model_digest) == {}
    TemplateLibrary(tmp_path / "lib").add(
        data.coffee(), name="Rocket", template_id=ROCKET, origin="starter"
    )
    assert ROCKET not in stored(switched, second.model_digest)
    ids, matrix = switched.clip.vectors()
    np.testing.assert_allclose(
        matrix[ids.index(ROCKET)], second.embed_image(data.coffee()), atol=1e-6
    )


def test_a_bad_model_folder_is_model_not_available(model: Path, tmp_path: Path) -> None:
    half = tmp_path / "half"
    half.mkdir()
    (half / "image.onnx").write_bytes((model / "image.onnx").read_bytes())
    settings = Settings(data_dir=tmp_path, templates=TemplatesSettings(clip_model_path=half))
    with pytest.raises(ModelNotAvailable, match=r"text\.onnx, tokenizer\.json"):
        open_library(settings)
    # The command line: one line and exit 2; with the model, "blue" finds the rocket.
    env = {"GLITCHZAP_DATA_DIR": str(tmp_path / "data")}  # an empty library: the starter set
    result = run_cli("templates", "search", "blue", **env,
                     GLITCHZAP_TEMPLATES__CLIP_MODEL_PATH=str(half))  # fmt: skip
    assert result.returncode == 2 and "lacks text.onnx" in result.stderr
    assert "Traceback" not in result.stderr
    result = run_cli("templates", "search", "blue", **env,
                     GLITCHZAP_TEMPLATES__CLIP_MODEL_PATH=str(model))  # fmt: skip
    assert result.returncode == 0 and result.stdout.split()[1] == ROCKET
