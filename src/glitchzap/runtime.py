"""The runtime: everything a process holds between calls, built once per entry point.

A `Runtime` owns the named caches, the decoded-array memo, the background model manager,
the template library, the font cache and the monitor, all built lazily from one `Settings`.
Core functions receive it as an argument (`render_recipe(image, recipe, runtime=rt)`); they
never reach for a global. Each entry point (the CLI's root command, `create_app`, a batch
worker, the library functions in `glitchzap.facade`) builds its own with `configure()`, and a
test builds a fresh one, so no state leaks from one to the next.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from glitchzap.cache import Cache, build_cache
from glitchzap.cache.arrays import ArrayMemo
from glitchzap.cache.tiered import TieredCache
from glitchzap.settings import Settings, load_settings

T = TypeVar("T")

if TYPE_CHECKING:
    from glitchzap.api.monitoring import Monitor
    from glitchzap.background.manager import ModelManager
    from glitchzap.meme.fonts import FontCache
    from glitchzap.templates import TemplateLibrary


# Caches whose entries are the only copy (uploads by id): never written after the answer.
RECORD_CACHES = frozenset({"images"})


def _defer_writes(name: str, cache: Cache) -> None:
    if name not in RECORD_CACHES and isinstance(cache, TieredCache):
        cache.defer_writes()


class Runtime:
    """Process state for one `Settings`: caches, models, templates, fonts and the monitor."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._caches: dict[str, Cache] = {}
        self._templates: TemplateLibrary | None = None
        self._parts: dict[str, Any] = {}  # arrays, models, fonts, monitor: built on first use
        self._lock = threading.RLock()
        self._deferred_writes = False

    def _part(self, name: str, build: Callable[[], T]) -> T:
        """The part called `name`, built once under the lock (two first requests at once
        must not load two model sessions)."""
        with self._lock:
            if name not in self._parts:
                self._parts[name] = build()
            part: T = self._parts[name]
            return part

    def cache(self, name: str) -> Cache:
        """The cache called `name` (renders, masks, ocr, ...), built on first use."""
        with self._lock:
            cache = self._caches.get(name)
            if cache is None:
                cache = self._caches[name] = build_cache(name, self.settings)
                if self._deferred_writes:
                    _defer_writes(name, cache)
            return cache

    def defer_cache_writes(self) -> None:
        """From now on, results reach the shared cache tier (disk, Redis) from a background
        thread, after the answer (the server): see `TieredCache.defer_writes`. Uploads are
        still written before the answer: another worker may be asked for them next."""
        with self._lock:
            self._deferred_writes = True
            for name, cache in self._caches.items():
                _defer_writes(name, cache)

    def flush_caches(self) -> None:
        """Wait for deferred cache writes to land."""
        with self._lock:
            caches = list(self._caches.values())
        for cache in caches:
            if isinstance(cache, TieredCache):
                cache.flush()

    def cache_stats(self) -> list[dict[str, Any]]:
        """Hit and miss counters of every cache built so far."""
        with self._lock:
            return [cache.stats() for cache in self._caches.values()]

    @property
    def arrays(self) -> ArrayMemo:
        """Decoded arrays (previews, masks, cut-outs) kept in memory, bounded in bytes."""
        return self._part("arrays", lambda: ArrayMemo(self.settings.cache.memory_max_bytes // 2))

    @property
    def models(self) -> ModelManager:
        """The one background model manager (a quality mode's sessions resident at a time)."""
        return self._part("models", self._build_models)

    def _build_models(self) -> ModelManager:
        from glitchzap.background.manager import ModelManager

        conf = self.settings.models
        return ModelManager(
            self.settings.models_dir,
            device=conf.device,
            idle_unload_seconds=conf.idle_unload_seconds,
            warmup=conf.warmup,
            cpu_mem_arena=conf.cpu_mem_arena,
            threads=conf.threads,
            precision=conf.precision,
            auto_fetch=conf.auto_fetch,
            backend=conf.backend,
        )

    @property
    def templates(self) -> TemplateLibrary:
        """The template library at `templates_dir`, given the starter set when empty."""
        return self.template_library()

    def template_library(self, *, starter: bool = True) -> TemplateLibrary:
        """The template library, opened once; `starter=False` never seeds an empty one (an
        import into a new folder), whatever `templates.starter_on_empty` says."""
        from glitchzap.templates import open_library

        with self._lock:
            if self._templates is None:
                self._templates = open_library(self.settings, starter=starter)
            return self._templates

    @property
    def fonts(self) -> FontCache:
        """Loaded caption fonts, by file and size (an LRU of `cache.font_cache_size`)."""
        from glitchzap.meme.fonts import FontCache

        return self._part("fonts", lambda: FontCache(self.settings.cache.font_cache_size))

    @property
    def monitor(self) -> Monitor:
        """Operation timings, the JSONL performance log and Prometheus metrics (the API's)."""
        from glitchzap.api.monitoring import Monitor

        settings = self.settings
        return self._part(
            "monitor", lambda: Monitor(settings.monitoring, settings.data_dir, self.cache_stats)
        )

    @property
    def ocr_lock(self) -> threading.Lock:
        """RapidOCR's engine is not documented as thread-safe: one OCR run at a time."""
        return _OCR_LOCK

    def close(self) -> None:
        """Release what the runtime opened: caches, the model session, the template index."""
        with self._lock:
            for cache in self._caches.values():
                for part in (cache, getattr(cache, "lower", None)):
                    close = getattr(part, "close", None)
                    if close is not None:
                        close()
            self._caches.clear()
            parts, self._parts = self._parts, {}
            if "models" in parts:
                parts["models"].unload()
            if "monitor" in parts:
                parts["monitor"].log.close()
            if self._templates is not None:
                self._templates.store.close()
                self._templates = None


_OCR_LOCK = threading.Lock()


_current: Runtime | None = None
_current_lock = threading.Lock()


def configure(config_path: Path | str | None = None, **overrides: Any) -> Runtime:
    """Load settings (file, environment, `overrides`) and make a new runtime the process's."""
    return use(Runtime(load_settings(config_path, **overrides)))


def use(runtime: Runtime) -> Runtime:
    """Make `runtime` the process's, closing the one it replaces."""
    global _current
    with _current_lock:
        previous, _current = _current, runtime
    if previous is not None and previous is not runtime:
        previous.close()
    return runtime


def current() -> Runtime:
    """The process's runtime (for entry points only: the core takes it as an argument)."""
    global _current
    with _current_lock:
        if _current is None:
            _current = Runtime(load_settings())
        return _current


def reset() -> None:
    """Close and forget the process's runtime (the next `current()` builds a new one)."""
    global _current
    with _current_lock:
        previous, _current = _current, None
    if previous is not None:
        previous.close()


def restart() -> Runtime:
    """A new runtime with the current settings (empty memory tiers, models unloaded): what a
    process restart looks like to caches and sessions."""
    return use(Runtime(current().settings))
