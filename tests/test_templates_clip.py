"""The optional CLIP backend: loading, preprocessing, inference and the embedding cache, on a
tiny CLIP-shaped ONNX pair built inside the test (never downloaded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage import data

from glitchzap.errors import ModelNotAvailable
from glitchzap.settings import TemplatesSettings
from glitchzap.templates.clip import CONTEXT_LENGTH, MEAN, STD, ClipBackend, get_clip

onnx = pytest.importorskip("onnx", reason="onnx builds the tiny test model")
tokenizers = pytest.importorskip("tokenizers", reason="the CLIP backend tokenises with it")

DIM = 16
COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255),
           "yellow": (255, 255, 0), "black": (0, 0, 0), "white": (255, 255, 255)}  # fmt: skip
WORDS = ("a", "of", "cat", "coffee", "rocket", "space", "cup")
VOCAB = ["[UNK]", *COLOURS, *WORDS]


def colour_axes(brightness: float = 1.0) -> np.ndarray:
    """3 x 3: a mean RGB colour (0-1, minus mid-grey) to red-green, yellow-blue and
    `brightness` x lightness."""
    return np.array([[1, -1, 0], [0.5, 0.5, -1], [brightness / 3] * 3], np.float32)


def colour_embedding(rgb: tuple[int, int, int], brightness: float = 1.0) -> np.ndarray:
    """The (DIM,) embedding, before normalisation, that the image side gives a picture whose
    mean colour is `rgb`."""
    out = np.zeros(DIM, np.float32)
    out[:3] = colour_axes(brightness) @ (np.array(rgb, np.float32) / 255 - 0.5)
    return out


def tiny_clip(folder: Path, brightness: float = 1.0) -> None:
    """A deterministic CLIP-shaped pair that sees colour only. image.onnx: the picture's mean
    colour on the axes of `colour_axes` (dims 0-2 of DIM); text.onnx: the sum of its words'
    rows, where a colour word's row is what the image side gives a picture of that colour and
    any other word has a dimension of its own (3, 4, ...), which no picture reaches;
    tokenizer.json: whitespace words of VOCAB. `brightness` makes a different model."""
    from onnx import TensorProto, helper, numpy_helper

    axes = colour_axes(brightness)
    # The pooled input is (mean - MEAN) / STD; the embedding is axes @ (mean - 0.5).
    w_image = np.zeros((3, DIM), np.float32)
    w_image[:, :3] = (axes * STD[None, :]).T
    bias = np.zeros(DIM, np.float32)
    bias[:3] = axes @ (MEAN - 0.5)
    table = np.zeros((len(VOCAB), DIM), np.float32)
    for row, word in enumerate(VOCAB):
        if word in COLOURS:
            table[row] = colour_embedding(COLOURS[word], brightness)
        elif word in WORDS:
            table[row, 3 + WORDS.index(word)] = 1
    image_graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["pixels"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w_image"], ["projected"]),
            helper.make_node("Add", ["projected", "bias"], ["embedding"]),
        ],
        "image",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, [1, 3, "S", "S"])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, DIM])],
        [numpy_helper.from_array(w_image, "w_image"), numpy_helper.from_array(bias, "bias")],
    )
    text_graph = helper.make_graph(
        [
            helper.make_node("Gather", ["table", "ids"], ["vectors"]),
            helper.make_node("ReduceSum", ["vectors", "axes"], ["embedding"], keepdims=0),
        ],
        "text",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, CONTEXT_LENGTH])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, DIM])],
        [
            numpy_helper.from_array(table, "table"),
            numpy_helper.from_array(np.array([1], np.int64), "axes"),
        ],
    )
    for name, graph in (("image.onnx", image_graph), ("text.onnx", text_graph)):
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.save(model, folder / name)
    tokenizer = tokenizers.Tokenizer(
        tokenizers.models.WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="[UNK]")
    )
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tokenizer.save(str(folder / "tokenizer.json"))


@pytest.fixture
def backend(tmp_path: Path) -> ClipBackend:
    tiny_clip(tmp_path)
    return ClipBackend(
        tmp_path, TemplatesSettings(clip_model_path=tmp_path, max_image_size=32, cache_size=2)
    )


def test_image_embeddings(backend: ClipBackend) -> None:
    cat, coffee = data.chelsea(), data.coffee()
    a, b = backend.embed_image(cat), backend.embed_image(coffee)
    assert a.shape == (DIM,) and a.dtype == np.float32
    assert np.isclose(np.linalg.norm(a), 1, atol=1e-5)
    assert not np.allclose(a, b)
    assert backend.embed_image(cat) is a  # cached by pixel digest
    backend.embed_image(data.rocket())
    backend.embed_image(data.astronaut())
    assert backend.embed_image(cat) is not a  # evicted: cache_size is 2
    np.testing.assert_allclose(backend.embed_image(cat), a, atol=1e-6)


def test_preprocess_shape_and_normalisation(backend: ClipBackend) -> None:
    batch = backend.preprocess(data.coffee())
    assert batch.shape == (1, 3, 32, 32) and batch.dtype == np.float32
    white = backend.preprocess(np.full((40, 90, 3), 255, np.uint8))
    np.testing.assert_allclose(
        white[0, :, 0, 0],
        (1 - np.array([0.4815, 0.4578, 0.4082])) / np.array([0.2686, 0.2613, 0.2758]),
        atol=1e-2,
    )


def test_text_embeddings(backend: ClipBackend) -> None:
    cat, rocket = backend.embed_text("a cat"), backend.embed_text("rocket of space")
    assert cat.shape == (DIM,) and np.isclose(np.linalg.norm(cat), 1, atol=1e-5)
    assert not np.allclose(cat, rocket)
    np.testing.assert_allclose(backend.embed_text("a cat"), cat)


def test_colour_words_point_where_pictures_of_that_colour_do(backend: ClipBackend) -> None:
    """The tiny pair has CLIP's structure: a word and pictures of what it names agree."""
    blue = np.zeros((40, 60, 3), np.uint8)
    blue[..., 2] = 255
    np.testing.assert_allclose(backend.embed_text("blue"), backend.embed_image(blue), atol=1e-5)
    sky, cup = backend.embed_image(data.rocket()), backend.embed_image(data.coffee())
    assert backend.embed_text("blue") @ sky > 0.3 > backend.embed_text("blue") @ cup
    assert backend.embed_text("a cat") @ sky == pytest.approx(0, abs=1e-6)


def test_model_digest_names_the_model(tmp_path: Path) -> None:
    options = TemplatesSettings(max_image_size=32)
    for name, brightness in (("a", 1.0), ("b", 1.0), ("c", 3.0)):
        (tmp_path / name).mkdir()
        tiny_clip(tmp_path / name, brightness)
    a, b, c = (ClipBackend(tmp_path / n, options).model_digest for n in "abc")
    assert a == b != c
    assert ClipBackend(tmp_path / "a", TemplatesSettings(max_image_size=64)).model_digest != a


def test_unconfigured_and_missing(tmp_path: Path) -> None:
    assert get_clip(TemplatesSettings()) is None
    with pytest.raises(ModelNotAvailable, match=r"image\.onnx"):
        get_clip(TemplatesSettings(clip_model_path=tmp_path / "nowhere"))
    (tmp_path / "bad").mkdir()
    for name in ("image.onnx", "text.onnx", "tokenizer.json"):
        (tmp_path / "bad" / name).write_bytes(b"not a model")
    with pytest.raises(ModelNotAvailable):
        ClipBackend(tmp_path / "bad", TemplatesSettings())
