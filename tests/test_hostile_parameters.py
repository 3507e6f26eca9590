"""Hostile parameters: non-finite and out-of-range numbers, wrong types, hostile text and boxes.

Bodies are sent as raw JSON text, because NaN, Infinity and 1e309 cannot be written by a
JSON encoder but are accepted by Python's and Starlette's decoders.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from api_fixtures import upload
from glitchzap.effects import EFFECTS
from glitchzap.io import encode_image
from glitchzap.runtime import configure

pytest_plugins = ["api_fixtures"]

# Raw JSON spellings that must never reach an effect as a number.
BAD_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e309", "-1e309", str(2**63), "-1", '"abc"',
               '"\u0661\u0662"', '"\uff11\uff12"', "[1]", '{"x": 1}', '"1e309"']  # fmt: skip


@pytest.fixture
def image_id(api_client: Any) -> str:
    photo = np.ascontiguousarray(skdata.astronaut()[::4, ::4])  # 128 x 128
    return str(upload(api_client, encode_image(photo, "png"))["image_id"])


def post_raw(client: Any, path: str, text: str) -> tuple[int, str]:
    response = client.post(path, content=text, headers={"content-type": "application/json"})
    return response.status_code, response.json()["error"]


def allows_negative(effect: str, field: str) -> bool:
    """Whether -1 is a legitimate value of the field (offsets that point left or up)."""
    schema = EFFECTS[effect].params.model_json_schema()["properties"][field]
    return schema.get("type") in ("number", "integer") and schema.get("minimum", 0) < 0


def effect_fields() -> list[tuple[str, str]]:
    return [
        (name, field) for name, effect in EFFECTS.items() for field in effect.params.model_fields
    ]


@pytest.mark.parametrize(("effect", "field"), effect_fields())
def test_bad_numbers_in_every_effect_parameter(
    api_client: Any, image_id: str, effect: str, field: str
) -> None:
    for value in BAD_NUMBERS:
        if EFFECTS[effect].params.model_fields[field].annotation is bool and value == "-1":
            continue  # -1 is not a bool either, but pydantic's message differs; covered below
        if value == "-1" and allows_negative(effect, field):
            continue
        body = (
            f'{{"image_id": "{image_id}", "recipe": {{"effects": {{"{effect}": '
            f'{{"{field}": {value}}}}}, "seed": 1}}}}'
        )
        assert post_raw(api_client, "/api/render", body) == (422, "invalid_parameters"), value


@pytest.mark.parametrize("effect", list(EFFECTS))
def test_bad_numbers_as_an_effects_bare_value(api_client: Any, image_id: str, effect: str) -> None:
    for value in BAD_NUMBERS:
        if value == "-1" and allows_negative(effect, EFFECTS[effect].primary):
            continue
        body = f'{{"image_id": "{image_id}", "recipe": {{"effects": {{"{effect}": {value}}}}}}}'
        assert post_raw(api_client, "/api/render", body) == (422, "invalid_parameters"), value


@pytest.mark.parametrize(
    "fragment",
    [
        '"recipe": {"seed": NaN}',
        '"recipe": {"seed": 1e309}',
        f'"recipe": {{"seed": {2**63}}}',
        '"recipe": {"seed": -1}',
        '"recipe": {"output": {"quality": NaN}}',
        '"recipe": {"output": {"quality": 0}}',
        '"recipe": {"output": {"quality": 101}}',
        '"recipe": {"output": {"format": "bmp"}}',
        '"recipe": {"target": "sky"}',
        '"recipe": {"effects": [["blur", 1]]}',
        '"recipe": {"background": {"color": [NaN, 0, 0, 0]}}',
        '"recipe": {"extra": 1}',
        '"quality": "\u0661"',
        '"quality": "FULL"',
        '"format": "bmp"',
        '"recipe": null',
    ],
)
def test_bad_recipe_fields(api_client: Any, image_id: str, fragment: str) -> None:
    body = f'{{"image_id": "{image_id}", {fragment}}}'
    assert post_raw(api_client, "/api/render", body) == (422, "invalid_parameters")


def test_unknown_effect_has_its_own_code(api_client: Any, image_id: str) -> None:
    body = f'{{"image_id": "{image_id}", "recipe": {{"effects": {{"sparkle": 1}}}}}}'
    assert post_raw(api_client, "/api/render", body) == (422, "unknown_effect")


@pytest.mark.parametrize(
    "image_id",
    ["", "0" * 39, "0" * 41, "G" * 40, "../" * 14, "0" * 40 + "\n", None, 5, ["x"]],
)
def test_bad_image_ids(api_client: Any, image_id: Any) -> None:
    body = json.dumps({"image_id": image_id})
    assert post_raw(api_client, "/api/render", body) == (422, "invalid_parameters")
    assert post_raw(api_client, "/api/meme", body) == (422, "invalid_parameters")


def test_unknown_but_well_formed_image_id_is_404(api_client: Any) -> None:
    for path in ("/api/render", "/api/meme", "/api/ocr", "/api/erase-text"):
        assert post_raw(api_client, path, json.dumps({"image_id": "0" * 40})) == (404, "not_found")


DEEP = "[" * 100_000


@pytest.mark.parametrize("path", ["/api/render", "/api/meme", "/api/ocr", "/api/erase-text",
                                  "/api/remove-background"])  # fmt: skip
def test_malformed_json_bodies_on_image_routes(api_client: Any, path: str) -> None:
    for text in (DEEP, '{"a":' * 50_000, "1" * 10_000, "", "\ufeff{}", '{"image_id": "\\udc80"}'):
        assert post_raw(api_client, path, text) == (422, "invalid_parameters"), text[:20]
    for text in ("[]", '"x"', "null", "3"):
        assert post_raw(api_client, path, text) == (422, "invalid_parameters"), text


def test_render_wants_a_json_body(api_client: Any, image_id: str) -> None:
    # /api/render reads its body itself (deps.json_body): the same answers as FastAPI's.
    body = json.dumps({"image_id": image_id})
    for content_type in ("text/plain", "application/x-www-form-urlencoded", ""):
        response = api_client.post(
            "/api/render", content=body, headers={"content-type": content_type}
        )
        assert (response.status_code, response.json()["error"]) == (422, "invalid_parameters")
        assert "JSON" in response.json()["message"]
    response = api_client.post(
        "/api/render", content=body, headers={"content-type": "application/json; charset=utf-8"}
    )
    assert response.status_code == 200
    response = api_client.post("/api/render", json={"image_id": image_id, "recipe": {"seed": "x"}})
    assert response.json()["message"].startswith("body.recipe.seed:")


def test_deeply_nested_multipart_params(api_client: Any, image_id: str) -> None:
    png = encode_image(np.zeros((8, 8, 3), np.uint8), "png")
    for params in (DEEP, "{" * 5, "[1]", "1e309"):
        response = api_client.post(
            "/api/meme", files={"file": ("a.png", png, "image/png")}, data={"params": params}
        )
        assert (response.status_code, response.json()["error"]) == (422, "invalid_parameters")


# --- captions -------------------------------------------------------------------------------


def meme(client: Any, image_id: str, **body: Any) -> Any:
    return client.post("/api/meme", json={"image_id": image_id, "erase": "never", **body})


@pytest.mark.parametrize(
    "captions",
    [["a" * 1_000_000], ["\n" * 10_000], ["x"] * 11, [5], ["ok", None], "not a list"],
    ids=["1MB", "10k-newlines", "11-captions", "number", "null", "string"],
)
def test_captions_refused(api_client: Any, image_id: str, captions: Any) -> None:
    response = meme(api_client, image_id, captions=captions)
    assert (response.status_code, response.json()["error"]) == (422, "invalid_parameters")


@pytest.mark.parametrize(
    "caption",
    [
        "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",  # Hebrew (RTL)
        "\u0645\u0631\u062d\u0628\u0627 \u202eevil\u202c",  # Arabic + RTL override
        "e\u0301" * 200,  # 400 characters of combining accents
        "Z" + "\u0351\u0352\u0353\u0354\u0355\u0356" * 80,  # zalgo: 1 letter, 480 marks
        "\u200b\u200d\ufeff" * 100,  # zero-width characters only
        "\U0001f600\U0001f4a5" * 100,  # emoji the font lacks
        "\n" * 499,  # newlines only, at the limit
        "a\x00b\x07c\x1b[31m",  # control characters
        "W" * 500,  # one unbreakable word at the limit
        "\ud800",  # a lone surrogate (JSON allows it)
    ],
    ids=["rtl", "rtl-override", "combining", "zalgo", "zero-width", "emoji", "newlines",
         "controls", "long-word", "surrogate"],
)  # fmt: skip
def test_hostile_captions_render(api_client: Any, image_id: str, caption: str) -> None:
    text = json.dumps({"image_id": image_id, "erase": "never", "captions": [caption, caption]})
    response = api_client.post(
        "/api/meme", content=text, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert Image.open(io.BytesIO(response.content)).size == (128, 128)


@pytest.mark.parametrize(
    "box",
    [
        {"anchor_x": 1, "anchor_y": 1, "scale_x": 1, "scale_y": 1},  # starts at the far corner
        {"anchor_x": 0.99, "anchor_y": 0.99, "scale_x": 0.001, "scale_y": 0.001},  # < 1 px
        {"angle": 359.9, "scale_x": 1, "scale_y": 1},
        {"angle": -360},
    ],
)
def test_boxes_reaching_outside_the_image_render(
    api_client: Any, image_id: str, box: dict[str, Any]
) -> None:
    response = meme(api_client, image_id, captions=["out of bounds"], boxes=[box])
    assert response.status_code == 200, response.text
    assert Image.open(io.BytesIO(response.content)).size == (128, 128)


@pytest.mark.parametrize(
    "box",
    [
        '{"anchor_x": 2}',
        '{"anchor_y": -0.1}',
        '{"scale_x": 0}',
        '{"scale_y": 1e309}',
        '{"angle": NaN}',
        '{"angle": 1e309}',
        '{"color": "not-a-colour"}',
        '{"color": "#' + "f" * 10_000 + '"}',
        '{"align": "justify"}',
        '{"font": "/etc/passwd"}',
        '{"font": "../../../../etc/shadow"}',
        '{"size": 100000}',
    ],
)
def test_bad_boxes_are_422(api_client: Any, image_id: str, box: str) -> None:
    body = f'{{"image_id": "{image_id}", "erase": "never", "captions": ["x"], "boxes": [{box}]}}'
    assert post_raw(api_client, "/api/meme", body) == (422, "invalid_parameters")


@pytest.mark.parametrize(
    "field", ['"font": "/etc/passwd"', '"font": "../../x.ttf"', '"layout": "nope"',
              '"erase": "sometimes"', '"format": "bmp"', '"font": "' + "f" * 201 + '"']
)  # fmt: skip
def test_bad_meme_options_are_422(api_client: Any, image_id: str, field: str) -> None:
    body = f'{{"image_id": "{image_id}", "erase": "never", "captions": ["x"], {field}}}'
    if '"erase"' in field:
        body = f'{{"image_id": "{image_id}", "captions": ["x"], {field}}}'
    assert post_raw(api_client, "/api/meme", body) == (422, "invalid_parameters")


@pytest.mark.parametrize("mode", ["never", "always", "auto"])
def test_unknown_inpainting_method_is_422_whatever_the_mode(
    api_client: Any, image_id: str, mode: str
) -> None:
    # Before the check it passed silently whenever no text was found (or mode was never).
    body = json.dumps({"image_id": image_id, "mode": mode, "method": "../../etc"})
    assert post_raw(api_client, "/api/erase-text", body) == (422, "invalid_parameters")


@pytest.mark.parametrize(
    ("segment", "status"),
    [("~n" * 5_000, 414), ("a" * 20_000, 414), ("a" * 200, 200), ("a" * 201, 414),
     ("~n" * 500, 414), ("%D7%A9%D7%9C%D7%95%D7%9D", 200), ("e%CC%81" * 200, 414),
     ("e%CC%81" * 60, 200), ("%00", 200), ("~q~a~p~h~s", 200)],
    ids=["5k-newlines", "20k-chars", "200-chars", "201-chars", "500-newlines", "rtl",
         "combining", "short-combining", "nul", "escapes"],
)  # fmt: skip
def test_memegen_url_text(
    api_settings: Any, memegen_library: Any, segment: str, status: int
) -> None:
    """A text segment over 200 bytes is memegen's 414, answered with an image (memegen
    app/views/helpers.py render_image; was 422 JSON past limits.max_text_length)."""
    from api_fixtures import make_client

    settings = configure(
        None, data_dir=api_settings.data_dir, templates={"dir": memegen_library}
    ).settings
    with make_client(settings) as client:
        response = client.get(f"/images/gen-sunset/{segment}.png")  # a generated template
    assert response.status_code == status
    assert response.headers["content-type"] == "image/png"
