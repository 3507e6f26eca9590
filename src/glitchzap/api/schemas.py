"""Request and response bodies of the API (names end in Request/Response)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from glitchzap.meme.captions import TextBox
from glitchzap.recipes import CutoutModel, CutoutQuality, Decontaminate, Recipe
from glitchzap.settings import Quality
from glitchzap.templates.store import ID_PATTERN

# Ids are checked against these at the door, before they reach a store or a file name.
IMAGE_ID_PATTERN = r"^[0-9a-f]{40}$"
IMAGE_ID_HELP = "Content digest answered by POST /api/images"
TEMPLATE_ID_PATTERN = ID_PATTERN.pattern  # the template store's own rule: the two cannot drift
TEMPLATE_ID_HELP = "Template id: 1-64 of a-z, 0-9, '-' and '_', starting with a letter or digit"
# Path parameters of glitchzap's own routes: a malformed id is 422 `invalid_parameters`.
ImageIdPath = Annotated[str, Path(pattern=IMAGE_ID_PATTERN, description=IMAGE_ID_HELP)]
TemplateIdPath = Annotated[str, Path(pattern=TEMPLATE_ID_PATTERN, description=TEMPLATE_ID_HELP)]
URL_HELP = "http(s) URL of an image; private and loopback addresses are refused"
# Renders may animate: gif, animated WebP, and APNG ("apng", or "png" for an animated result).
RenderFormat = Literal["webp", "jpeg", "png", "gif", "apng"]
ANIMATED_INPUT_FORMAT_HELP = (
    "An animated image stays animated: png (APNG), apng, webp or gif; jpeg is refused for it "
    "(422). A still is answered as a still in any of them"
)


def is_template_id(value: str) -> bool:
    """Whether `value` is a well-formed template id (the memegen routes answer 404 when not)."""
    return re.fullmatch(TEMPLATE_ID_PATTERN, value) is not None


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UrlRequest(StrictModel):
    url: str = Field(min_length=1, max_length=2048, description=URL_HELP)


class ImageResponse(BaseModel):
    image_id: str
    width: int
    height: int
    frames: int = Field(1, description="Frames of an animated GIF / WebP / APNG; 1 for a still")
    animated: bool = False
    duration_ms: int | None = Field(None, description="One pass of the animation (ms)")


class RenderRequest(StrictModel):
    image_id: str | None = Field(None, pattern=IMAGE_ID_PATTERN, description=IMAGE_ID_HELP)
    url: str | None = Field(None, min_length=1, max_length=2048, description=URL_HELP)
    recipe: Recipe = Field(default_factory=Recipe)
    quality: Quality = "balanced"
    format: RenderFormat | None = Field(
        None,
        description="Default: previews JPEG (WebP with alpha), full the recipe's output "
        "format. An animated result (an animated image, or a recipe with `animation`): "
        "previews animated WebP, full the recipe's format; gif, webp, apng or png (APNG); "
        "jpeg cannot animate (422)",
    )

    @model_validator(mode="after")
    def _one_source(self) -> RenderRequest:
        if (self.image_id is None) == (self.url is None):
            raise ValueError("give exactly one of image_id or url")
        return self


class EffectResponse(BaseModel):
    summary: str
    primary: str = Field(description="The parameter a bare number sets")
    category: str = Field("photo", description="photo or glitch: how the studio groups it")
    schema_: dict[str, Any] = Field(alias="schema", description="JSON schema of the parameters")


class FontResponse(BaseModel):
    id: str = Field(description="memegen's font id, e.g. titilliumweb")
    alias: str | None = Field(None, description="memegen's alias, e.g. thick")
    family: str
    present: bool = Field(description="Fetched by `make fonts`; if not, a system font stands in")
    default: bool = Field(description="The font a caption without one is drawn in")


class ErrorResponse(BaseModel):
    error: str
    message: str


class HealthResponse(BaseModel):
    status: Literal["ok"]
    version: str
    cache_backend: str
    cpu_workers: int
    pending_jobs: int


class LimitsResponse(BaseModel):
    """What this server accepts (limits.* in the settings), for clients to say so up front."""

    max_bytes: int = Field(description="Largest image file, bytes")
    max_pixels: int = Field(description="Largest picture (one frame), width x height")
    max_frames: int = Field(description="Most frames in an animation")
    max_text_length: int = Field(description="Longest caption, characters")


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 404, 413, 415, 422, 503, 504)
}


class ImageSourceRequest(StrictModel):
    """Where the image comes from, for JSON bodies: exactly one of `image_id` or `url`.

    Multipart bodies send the image as field `file` instead, and the other fields as a JSON
    object in field `params`."""

    image_id: str | None = Field(None, pattern=IMAGE_ID_PATTERN, description=IMAGE_ID_HELP)
    url: str | None = Field(None, min_length=1, max_length=2048, description=URL_HELP)


Color = tuple[int, int, int] | tuple[int, int, int, int]


class RemoveBackgroundRequest(ImageSourceRequest):
    model: CutoutModel = None
    quality: CutoutQuality = None
    alpha_matting: bool = False
    alpha_matting_foreground_threshold: int = Field(240, ge=0, le=255)
    alpha_matting_background_threshold: int = Field(10, ge=0, le=255)
    alpha_matting_erode_size: int = Field(10, ge=0, le=100)
    post_process: bool = False
    background: Color | None = Field(None, description="R,G,B[,A] to fill the background with")
    only_mask: bool = Field(False, description="Answer the mask (grey PNG) instead of the cut-out")
    # remove.bg-style finishing; order: backdrop + shadow, then crop, then channels.
    bg_image_id: str | None = Field(
        None,
        pattern=IMAGE_ID_PATTERN,
        description="Backdrop: an uploaded image (its image_id from POST /api/images), "
        "resized to fit",
    )
    bg_blur: float = Field(
        0, ge=0, le=500, description="Backdrop: the photo's own background blurred, px (sigma)"
    )
    shadow: bool = Field(False, description="A soft drop shadow of the subject")
    shadow_blur: float = Field(10, ge=0, le=500, description="Shadow softness, px")
    shadow_offset: tuple[int, int] = Field((12, 12), description="Shadow offset dx, dy px")
    shadow_opacity: float = Field(0.5, ge=0, le=1, description="Shadow darkness 0..1")
    decontaminate: Decontaminate = None
    crop: bool = Field(False, description="Crop to the subject's box plus crop_margin")
    crop_margin: int | str = Field(0, description='px (12, "12px") or % of the subject ("10%")')
    channels: Literal["rgba", "alpha"] = Field(
        "rgba", description="rgba: the image; alpha: its alpha alone (single-channel PNG)"
    )
    format: RenderFormat = Field("png", description=ANIMATED_INPUT_FORMAT_HELP)


class OcrRequest(ImageSourceRequest):
    pass


class TextRegionResponse(BaseModel):
    box: list[list[float]] = Field(description="4 corners, clockwise from top-left, px")
    text: str
    score: float
    frames: list[int] | None = Field(
        None,
        description="Animations only: the sampled frames (0-based) this text was read on; "
        "`box` covers every reading, `text` and `score` are the best one's",
    )


class OcrResponse(BaseModel):
    regions: list[TextRegionResponse]
    elapsed_ms: float = Field(description="OCR time, ms (every sampled frame of an animation)")
    cached: bool
    frame_count: int | None = Field(None, description="Animations only: how many frames")
    sampled_frames: list[int] | None = Field(
        None,
        description="Animations only: the frames OCR read (the first, the last, the middle "
        "and evenly spaced ones); text shown only between them is not seen",
    )


class EraseTextRequest(ImageSourceRequest):
    mode: Literal["auto", "always", "never"] = "auto"
    method: str | None = Field(None, max_length=32, description="Inpainting method")
    format: RenderFormat = Field("png", description=ANIMATED_INPUT_FORMAT_HELP)

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str | None) -> str | None:
        # Checked up front: inpainting only runs when text is found, so a typo would
        # otherwise pass silently on images without text and fail on the others.
        from glitchzap.meme.inpaint import INPAINT_METHODS

        if value is not None and value not in INPAINT_METHODS:
            raise ValueError(f"unknown inpainting method: use one of {', '.join(INPAINT_METHODS)}")
        return value


class MemeRequest(ImageSourceRequest):
    captions: list[str] = Field(default_factory=list, max_length=10, description="Top first")
    erase: Literal["auto", "always", "never"] = "auto"
    layout: str = Field("default", max_length=32)
    font: str | None = Field(
        None,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9 _-]*$",  # a name (GET /fonts), never a file path
        description="Font id, alias or name (GET /fonts); default fonts.default",
    )
    template: str | None = Field(
        None,
        pattern=TEMPLATE_ID_PATTERN,
        description='"auto": render on the clean template when the image matches one; '
        "an id: render on that template",
    )
    boxes: list[TextBox] | None = Field(
        None,
        max_length=10,
        description="Where each caption goes, top first (memegen text boxes, fractions of the "
        "image); default: the layout's",
    )
    format: Literal["png", "jpeg", "webp", "gif", "apng"] = Field(
        "png",
        description="An animated input stays animated: gif, webp, apng or png (APNG); jpeg is "
        "refused for it. A still input on an animated template is animated as gif, webp or apng",
    )
