"""The optional CLIP backend: loading, preprocessing, inference and the embedding cache, on a
tiny randomly initialised CLIP-shaped ONNX pair built inside the test (never downloaded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage import data

from glitchzap.errors import ModelNotAvailable
from glitchzap.settings import TemplatesSettings
from glitchzap.templates.clip import CONTEXT_LENGTH, ClipBackend, get_clip

onnx = pytest.importorskip("onnx", reason="onnx builds the tiny test model")
tokenizers = pytest.importorskip("tokenizers", reason="the CLIP backend tokenises with it")

DIM = 16
VOCAB = ["[UNK]", "cat", "coffee", "rocket", "space", "a", "of", "cup"]


def tiny_clip(folder: Path, rng: np.random.Generator) -> None:
    """image.onnx: mean-pool each channel over 4x4 cells, then a random projection to DIM;
    text.onnx: random token embeddings, summed, then a random projection; tokenizer.json."""
    from onnx import TensorProto, helper, numpy_helper

    size = 32
    pooled = 3 * 4 * 4
    image_graph = helper.make_graph(
        [
            helper.make_node(
                "AveragePool", ["pixels"], ["pooled"], kernel_shape=[8, 8], strides=[8, 8]
            ),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w_image"], ["embedding"]),
        ],
        "image",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, DIM])],
        [numpy_helper.from_array(rng.normal(size=(pooled, DIM)).astype(np.float32), "w_image")],
    )
    text_graph = helper.make_graph(
        [
            helper.make_node("Gather", ["table", "ids"], ["vectors"]),
            helper.make_node("ReduceSum", ["vectors", "axes"], ["summed"], keepdims=0),
            helper.make_node("MatMul", ["summed", "w_text"], ["embedding"]),
        ],
        "text",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, CONTEXT_LENGTH])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, DIM])],
        [
            numpy_helper.from_array(rng.normal(size=(len(VOCAB), DIM)).astype(np.float32), "table"),
            numpy_helper.from_array(np.array([1], np.int64), "axes"),
            numpy_helper.from_array(rng.normal(size=(DIM, DIM)).astype(np.float32), "w_text"),
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
    tiny_clip(tmp_path, np.random.default_rng(0))
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


def test_unconfigured_and_missing(tmp_path: Path) -> None:
    assert get_clip(TemplatesSettings()) is None
    with pytest.raises(ModelNotAvailable, match=r"image\.onnx"):
        get_clip(TemplatesSettings(clip_model_path=tmp_path / "nowhere"))
    (tmp_path / "bad").mkdir()
    for name in ("image.onnx", "text.onnx", "tokenizer.json"):
        (tmp_path / "bad" / name).write_bytes(b"not a model")
    with pytest.raises(ModelNotAvailable):
        ClipBackend(tmp_path / "bad", TemplatesSettings())
