"""Fuzzing every library entry point that takes user data, with hypothesis.

Decoding is seeded from valid files of every allowed format (plus an animated GIF and a PNG
with text chunks) and mutated by byte flips, truncations, insertions and chunk splices. The
other targets get structured but hostile input: recipes, memegen URL text, captions, colours,
URLs, cache entries. The one rule everywhere: an answer, or one of our typed errors; never
another exception, never an image over the pixel cap.

`make test` runs a short pass (tens of examples per target, seconds). `make fuzz` sets
GLITCHZAP_FUZZ=long for thousands of examples per target plus a long schemathesis run over
the whole API (GLITCHZAP_FUZZ_EXAMPLES overrides the count).
"""

from __future__ import annotations

import io
import ipaddress
import json
import os
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image
from skimage import data as skdata

from api_fixtures import NetworkGuard
from glitchzap.errors import GlitchzapError
from glitchzap.runtime import current
from glitchzap.settings import LimitsSettings

pytest_plugins = ["api_fixtures"]

LONG = os.environ.get("GLITCHZAP_FUZZ") == "long"
EXAMPLES = int(os.environ.get("GLITCHZAP_FUZZ_EXAMPLES", 3000 if LONG else 40))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not LONG,  # the short run is the same every time; the long run explores
    suppress_health_check=list(HealthCheck),
    database=None,
)
LIMITS = LimitsSettings(max_pixels=4_000_000, max_frames=50)  # keeps every decode small


def _save(image: Image.Image, fmt: str, **args: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **args)
    return buffer.getvalue()


def _seeds() -> list[bytes]:
    from PIL import PngImagePlugin

    rgb = Image.fromarray(np.ascontiguousarray(skdata.astronaut()[:48:2, :64:2]))
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "seed")
    frames = [rgb.convert("P"), rgb.rotate(90).convert("P"), rgb.rotate(180).convert("P")]
    exif = Image.Exif()
    exif[0x0112] = 6
    return [
        _save(rgb, "PNG", pnginfo=text),
        _save(rgb.convert("RGBA"), "PNG"),
        _save(rgb, "JPEG", quality=80, exif=exif.tobytes()),
        _save(rgb, "JPEG", progressive=True),
        _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=20),
        _save(rgb, "BMP"),
        _save(rgb, "TIFF"),
        _save(rgb, "WEBP", quality=70),
        _save(rgb.convert("L"), "PNG"),
        _save(rgb.convert("1"), "TIFF", compression="group4"),
    ]


SEEDS = _seeds()


@st.composite
def mutated_files(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete", "splice"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[at] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, 0x01]))
        elif op == "truncate":
            del data[at:]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        else:  # copy a run of the file over another place: duplicated chunks and markers
            length = draw(st.integers(1, 256))
            src = draw(st.integers(0, max(len(data) - 1, 0)))
            data[at : at + length] = data[src : src + length]
    return bytes(data)


def _check_decoded(image: np.ndarray) -> None:
    assert image.dtype == np.uint8
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert image.shape[0] * image.shape[1] <= LIMITS.max_pixels


@FUZZ
@given(data=mutated_files())
def test_decode_mutated_files(data: bytes) -> None:
    from glitchzap.io import encode_image, load_image

    try:
        image = load_image(data, limits=LIMITS)
    except GlitchzapError:
        return
    _check_decoded(image)
    assert encode_image(image, "png")[:8] == b"\x89PNG\r\n\x1a\n"


@FUZZ
@given(data=st.binary(max_size=2048))
def test_decode_arbitrary_bytes(data: bytes) -> None:
    from glitchzap.io import load_image

    try:
        image = load_image(data, limits=LIMITS)
    except GlitchzapError:
        return
    _check_decoded(image)


# --- structured inputs ------------------------------------------------------------------------

JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
JSON = st.recursive(
    JSON_LEAVES,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
EFFECT_NAMES = st.sampled_from(["noise", "blur", "shake", "motion", "sparkle", ""])


@st.composite
def recipes(draw: st.DrawFn) -> Any:
    """Mostly recipe-shaped objects with hostile values, sometimes anything at all."""
    if draw(st.booleans()):
        return draw(JSON)
    effects = draw(st.dictionaries(EFFECT_NAMES, JSON, max_size=4))
    recipe: dict[str, Any] = {"effects": effects}
    for key in ("seed", "target", "background", "output"):
        if draw(st.booleans()):
            recipe[key] = draw(JSON)
    return recipe


@FUZZ
@given(raw=recipes())
def test_parse_recipe_and_render(raw: Any) -> None:
    from glitchzap.pipeline import apply_effects
    from glitchzap.recipes import parse_recipe

    try:
        recipe = parse_recipe(raw)
    except GlitchzapError:
        return
    image = np.ascontiguousarray(skdata.astronaut()[:32, :32])
    out = apply_effects(image, recipe.effects, seed=recipe.seed)
    assert out.shape == image.shape and out.dtype == np.uint8


@FUZZ
@given(slug=st.text(max_size=80))
def test_memegen_slug_normalisation_settles(slug: str) -> None:
    """Any text path decodes, and following memegen's normalisation redirects (301 to
    `encode(decode(slug))`) reaches the canonical spelling within a few hops: no loop.
    (Replaces the fuzz of the old `parse_meme_path`.)"""
    from glitchzap.api.memegen import decode_slug, normalize_slug

    assert all(isinstance(line, str) for line in decode_slug(slug))
    for _ in range(4):
        slug, changed = normalize_slug(slug)
        if not changed:
            return
    raise AssertionError(f"no canonical spelling after 4 redirects: {slug!r}")


HOSTILE_TEXT = st.text(st.characters(codec=None, categories=None), max_size=120) | st.sampled_from(
    ["\u202e", "e\u0301" * 50, "\n" * 40, "\ud800", "\x00", "W" * 120, ""]
)


@settings(FUZZ, max_examples=max(EXAMPLES // 4, 10))
@given(captions=st.lists(HOSTILE_TEXT, max_size=3), color=st.text(max_size=12))
def test_captions_with_any_text(captions: list[str], color: str) -> None:
    from glitchzap.meme.captions import LAYOUTS, TextBox, parse_color
    from glitchzap.meme.compose import make_meme

    image = np.ascontiguousarray(skdata.coffee()[:120:2, :180:2])
    try:
        parse_color(color)
        boxes = [TextBox(anchor_y=0.0, color=color), *LAYOUTS["default"][1:]]
    except GlitchzapError:
        boxes = None
    try:
        out = make_meme(image, captions, erase="never", boxes=boxes, runtime=current())
    except GlitchzapError:
        return
    assert out.shape[:2] == image.shape[:2] and out.dtype == np.uint8


# --- URLs: whatever the spelling, a private address is never returned for connecting -------


@st.composite
def ipv4_spellings(draw: st.DrawFn) -> tuple[str, ipaddress.IPv4Address]:
    """An IPv4 address written in one of the inet_aton forms browsers and libc accept."""
    ip = ipaddress.IPv4Address(draw(st.integers(0, 2**32 - 1)))
    octets = list(ip.packed)
    parts_count = draw(st.sampled_from([1, 2, 3, 4]))
    head, tail_bytes = octets[: parts_count - 1], octets[parts_count - 1 :]
    numbers = [*head, int.from_bytes(bytes(tail_bytes), "big")]
    styles = draw(st.lists(st.sampled_from(["dec", "hex", "oct"]), min_size=len(numbers),
                           max_size=len(numbers)))  # fmt: skip
    written = []
    for n, style in zip(numbers, styles, strict=True):
        written.append(str(n) if style == "dec" else hex(n) if style == "hex" else "0" + oct(n)[2:])
    return ".".join(written), ip


@FUZZ
@given(spelled=ipv4_spellings())
def test_every_ipv4_spelling_is_read_as_its_address(
    spelled: tuple[str, ipaddress.IPv4Address],
) -> None:
    from glitchzap.api.urlfetch import parse_ipv4_loose

    text, ip = spelled
    assert parse_ipv4_loose(text) == ip


@FUZZ
@given(spelled=ipv4_spellings(), port=st.none() | st.integers(1, 65535))
def test_check_url_never_passes_a_private_literal(
    spelled: tuple[str, ipaddress.IPv4Address], port: int | None
) -> None:
    from glitchzap.api.urlfetch import UrlPolicy, check_url, refusal_reason
    from glitchzap.errors import UrlRefused

    text, ip = spelled
    url = f"http://{text}{f':{port}' if port else ''}/x.png"
    try:
        _scheme, _host, _port, address = check_url(url, UrlPolicy())
    except UrlRefused:
        assert refusal_reason(ip) is not None
        return
    assert address == ip and refusal_reason(ip) is None


@FUZZ
@given(url=st.text(max_size=80) | st.from_regex(r"\A[a-zA-Z]{2,6}://[^/]{0,30}/?.{0,10}\Z"),
       answers=st.lists(st.ip_addresses(), min_size=0, max_size=3))  # fmt: skip
def test_check_url_with_any_text_and_any_dns_answer(url: str, answers: list[Any]) -> None:
    from glitchzap.api import urlfetch

    def resolve(host: str, port: int) -> list[Any]:
        return list(answers)

    original = urlfetch.resolve
    urlfetch.resolve = resolve
    try:
        _s, _h, _p, address = urlfetch.check_url(url, urlfetch.UrlPolicy())
    except GlitchzapError:
        return
    finally:
        urlfetch.resolve = original
    assert urlfetch.refusal_reason(address) is None


# --- cache entries from disk or Redis: anything at all decodes to None or a value -------------


@FUZZ
@given(data=st.binary(max_size=512) | st.builds(lambda a: a, st.sampled_from([b"\x93NUMPY"])))
def test_cache_codecs_on_any_bytes(data: bytes) -> None:
    from glitchzap.cache.codec import decode_array, decode_json

    array = decode_array(data)
    assert array is None or isinstance(array, np.ndarray)
    assert array is None or array.dtype != object
    decode_json(data)  # a value or None, never an exception


@FUZZ
@given(a=JSON, b=JSON)
def test_distinct_parameters_never_share_a_key(a: Any, b: Any) -> None:
    from glitchzap.cache.keys import make_key

    try:
        same = json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    except ValueError:
        return
    assume(not same)
    assume(not _numerically_equal(a, b))
    try:
        key_a, key_b = make_key("render", "d" * 40, a), make_key("render", "d" * 40, b)
    except (GlitchzapError, ValueError):
        return  # parameters that cannot be keyed (NaN) are refused, never keyed alike
    assert key_a != key_b


def _numerically_equal(a: Any, b: Any) -> bool:
    """1 == 1.0 == True in the parameters is the same request; keys may be equal then."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_numerically_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_numerically_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return bool(a == b) or (a != a and b != b)
    return bool(a == b)


# --- the whole API, long run only (the short run is tests/test_api_schemathesis.py) -----------


@pytest.mark.skipif(not LONG, reason="long schemathesis run: make fuzz (GLITCHZAP_FUZZ=long)")
def test_api_schema_long_run(
    tmp_path: Any, net_guard: NetworkGuard, memegen_library_copy: Any
) -> None:
    schemathesis = pytest.importorskip("schemathesis")
    from schemathesis.checks import not_a_server_error

    from glitchzap.api.main import create_app
    from glitchzap.settings import load_settings

    templates = {"dir": memegen_library_copy}  # the API may change its templates
    app = create_app(
        load_settings(
            None,
            data_dir=tmp_path,
            templates=templates,
            models={"dir": current().settings.models_dir},
        )
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=max(EXAMPLES // 10, 50), deadline=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def check(case: Any) -> None:
            case.validate_response(case.call(), checks=(not_a_server_error,))

        check()
    assert net_guard.refused == []
