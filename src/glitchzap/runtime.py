"""The runtime: everything a process holds between calls, built once per entry point.

A `Runtime` owns the named caches, the decoded-array memo, the background model manager,
the template library, the font cache and the monitor, all built lazily from one `Settings`.
Core functions receive it as an argument (`render_recipe(image, recipe, runtime=rt)`); they
never reach for a global. Each entry point (the CLI's root command, `create_app`, a batch
worker, the library functions in `glitchzap.library`) builds its own with `configure()`, and a
test builds a fresh one, so no state leaks from one to the next.
"""

from __future__ import annotations

import threading
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glitchzap.cache import Cache, build_cache
from glitchzap.cache.arrays import ArrayMemo
from glitchzap.settings import Settings, load_settings

if TYPE_CHECKING:
    from glitchzap.api.monitoring import Monitor
    from glitchzap.background.manager import ModelManager
    from glitchzap.meme.fonts import FontCache
    from glitchzap.templates import TemplateLibrary


class Runtime:
    """Process state for one `Settings`: caches, models, templates, fonts and the monitor."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._caches: dict[str, Cache] = {}
        self._templates: TemplateLibrary | None = None
        self._lock = threading.RLock()

    def cache(self, name: str) -> Cache:
        """The cache called `name` (renders, masks, ocr, ...), built on first use."""
        with self._lock:
            cache = self._caches.get(name)
            if cache is None:
                cache = self._caches[name] = build_cache(name, self.settings)
            return cache

    def cache_stats(self) -> list[dict[str, Any]]:
        """Hit and miss counters of every cache built so far."""
        with self._lock:
            return [cache.stats() for cache in self._caches.values()]

    @cached_property
    def arrays(self) -> ArrayMemo:
        """Decoded arrays (previews, masks, cut-outs) kept in memory, bounded in bytes."""
        return ArrayMemo(self.settings.cache.memory_max_bytes // 2)

    @cached_property
    def models(self) -> ModelManager:
        """The one background model manager (one resident ONNX session at a time)."""
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

    @cached_property
    def fonts(self) -> FontCache:
        from glitchzap.meme.fonts import FontCache

        return FontCache(self.settings.cache.font_cache_size)

    @cached_property
    def monitor(self) -> Monitor:
        from glitchzap.api.monitoring import Monitor

        return Monitor(self.settings.monitoring, self.settings.data_dir, self.cache_stats)

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
            state = self.__dict__
            if "models" in state:
                state.pop("models").unload()
            if self._templates is not None:
                self._templates.store.close()
                self._templates = None
            if "monitor" in state:
                state.pop("monitor").log.close()
            state.pop("arrays", None)
            state.pop("fonts", None)


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
