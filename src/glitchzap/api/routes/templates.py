"""The template library over HTTP: list, show, text search and image matching."""

from __future__ import annotations

import time
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from glitchzap.api.deps import State
from glitchzap.api.routes._image_input import openapi_body, read_image_request
from glitchzap.api.schemas import ERROR_RESPONSES, ImageSourceRequest, TemplateIdPath
from glitchzap.templates import suggest_template

router = APIRouter(prefix="/api/templates", tags=["templates"])


class TemplateResponse(BaseModel):
    id: str
    name: str
    keywords: list[str]
    example: list[str]
    text_boxes: list[dict[str, Any]] = Field(description="memegen text boxes (fractions)")
    source: str | None
    origin: str = Field(description="memegen, user or starter")
    width: int
    height: int
    image_url: str = Field(description="The clean template picture (memegen URL API)")


class TemplateListResponse(BaseModel):
    templates: list[TemplateResponse]


class TemplateSearchHit(TemplateResponse):
    score: float = Field(description="Relevance in (0, 1)")


class TemplateSearchResponse(BaseModel):
    results: list[TemplateSearchHit]


class TemplateMatchRequest(ImageSourceRequest):
    top_k: int = Field(3, ge=1, le=20, description="How many ranked candidates")


class TemplateMatchHit(BaseModel):
    id: str
    score: float = Field(description="inliers / (inliers + 7), in [0, 1]")
    matched: bool = Field(description="score reaches templates.match_threshold")
    mirrored: bool


class TemplateSuggestion(BaseModel):
    verdict: Literal["none", "probable", "sure"] = Field(
        description='"none": no known template (below the threshold); "probable": just above it'
    )
    id: str | None = Field(description="The suggested template; null when none is known")
    score: float
    message: str = Field(description='What to tell the user, e.g. "Probably Chelsea the Cat"')


class TemplateMatchResponse(BaseModel):
    matches: list[TemplateMatchHit]
    threshold: float
    suggestion: TemplateSuggestion
    elapsed_ms: float


def _describe(template: Any) -> dict[str, Any]:
    data = template.to_dict()
    data.pop("image", None)  # a server path: never sent to clients
    # memegen's blank route at the picture's own width: the clean picture, pixel for pixel
    # (without `width` memegen's rules scale a still's shorter side to 600 px).
    data["image_url"] = f"/images/{template.id}.png?width={template.width}"
    return data


@router.get("", response_model=TemplateListResponse, responses=ERROR_RESPONSES)
def list_templates(
    state: State,
    order: Literal["id", "popular"] = Query(
        "id", description="id: by id; popular: most opened here first (GET /api/templates/{id})"
    ),
) -> TemplateListResponse:
    """Every template in the library, sorted by id or most used first."""
    templates = state.runtime.templates.list_templates(popular=order == "popular")
    return TemplateListResponse(templates=[TemplateResponse(**_describe(t)) for t in templates])


@router.get("/search", response_model=TemplateSearchResponse, responses=ERROR_RESPONSES)
def search_templates(
    state: State,
    q: str = Query(..., min_length=1, max_length=200, description="Words to look for"),
    limit: int = Query(10, ge=1, le=100),
) -> TemplateSearchResponse:
    """Templates ranked by name, keywords and example captions (BM25), blended with CLIP's
    text-to-picture similarity when the server has a CLIP model (templates.clip_model_path)."""
    hits = state.runtime.templates.search(q, limit)
    return TemplateSearchResponse(
        results=[TemplateSearchHit(**_describe(t), score=round(score, 4)) for t, score in hits]
    )


@router.get("/{template_id}", response_model=TemplateResponse, responses=ERROR_RESPONSES)
def show_template(template_id: TemplateIdPath, state: State) -> TemplateResponse:
    """One template (404 when the id is unknown, 422 when it is malformed); counts as a use
    of it (the studio opens a template this way), which `?order=popular` ranks by."""
    template = state.runtime.templates.get(template_id)
    state.runtime.templates.record_use(template.id)
    return TemplateResponse(**_describe(template))


@router.post(
    "/match",
    response_model=TemplateMatchResponse,
    responses=ERROR_RESPONSES,
    openapi_extra=openapi_body(TemplateMatchRequest),
)
async def match_template(request: Request, state: State) -> TemplateMatchResponse:
    """Which known templates the image is, ranked (robust to captions, crops, banners...).
    An animation is matched by its first frame: any one frame is enough to recognise a
    template, and reading one keeps matching as quick as for a still."""
    stored, body = await read_image_request(request, state, TemplateMatchRequest)

    def compute() -> TemplateMatchResponse:
        start = time.perf_counter()
        library = state.runtime.templates
        found = library.match(state.store.get(stored.image_id), body.top_k)
        threshold = state.settings.templates.match_threshold
        best = found[0] if found else None
        name = library.get(best.id).name if best is not None and best.matched else None
        suggestion = suggest_template(best, threshold, name)
        return TemplateMatchResponse(
            matches=[
                TemplateMatchHit(
                    id=m.id, score=round(m.score, 4), matched=m.matched, mirrored=m.mirrored
                )
                for m in found
            ],
            threshold=threshold,
            suggestion=TemplateSuggestion(**suggestion.to_dict()),
            elapsed_ms=round((time.perf_counter() - start) * 1000, 1),
        )

    with state.monitor.track("template_match"):
        return await state.pool.run(state.settings.server.render_timeout_seconds, compute)
