"""glitchzap: an image studio — background removal, glitch effects and meme text.

The public Python API. Heavy dependencies (onnxruntime, rembg, rapidocr) load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> module: loaded on first attribute access, so `import glitchzap` (and the CLI's
# --help) stays fast and onnxruntime/OpenCV load only when used.
_EXPORTS = {
    "Animation": "glitchzap.animation",
    "EFFECTS": "glitchzap.effects",
    "ConfigError": "glitchzap.errors",
    "GlitchzapError": "glitchzap.errors",
    "ImageTooLarge": "glitchzap.errors",
    "InvalidParameters": "glitchzap.errors",
    "ModelNotAvailable": "glitchzap.errors",
    "UnknownEffect": "glitchzap.errors",
    "UnreadableImage": "glitchzap.errors",
    "UnsupportedFormat": "glitchzap.errors",
    "encode_animation": "glitchzap.io",
    "encode_image": "glitchzap.io",
    "load_animation": "glitchzap.io",
    "load_image": "glitchzap.io",
    "save_animation": "glitchzap.io",
    "save_image": "glitchzap.io",
    "apply_effects": "glitchzap.pipeline",
    "resize_for_preview": "glitchzap.pipeline",
    "Recipe": "glitchzap.recipes",
    "load_recipe": "glitchzap.recipes",
    "parse_recipe": "glitchzap.recipes",
    "render_recipe": "glitchzap.facade",
    "render_animation": "glitchzap.facade",
    "make_meme": "glitchzap.facade",
    "run_batch": "glitchzap.batch",
    "TemplateLibrary": "glitchzap.templates",
    "template_library": "glitchzap.facade",
    "remove_background": "glitchzap.facade",
    "foreground_mask": "glitchzap.facade",
    "erase_text": "glitchzap.facade",
    "TextRegion": "glitchzap.types",
    "TextBox": "glitchzap.types",
    "Settings": "glitchzap.settings",
    "Runtime": "glitchzap.runtime",
    "configure": "glitchzap.runtime",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'glitchzap' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "EFFECTS",
    "Animation",
    "ConfigError",
    "GlitchzapError",
    "ImageTooLarge",
    "InvalidParameters",
    "ModelNotAvailable",
    "Recipe",
    "Runtime",
    "Settings",
    "TemplateLibrary",
    "TextBox",
    "TextRegion",
    "UnknownEffect",
    "UnreadableImage",
    "UnsupportedFormat",
    "apply_effects",
    "configure",
    "encode_animation",
    "encode_image",
    "erase_text",
    "foreground_mask",
    "load_animation",
    "load_image",
    "load_recipe",
    "make_meme",
    "parse_recipe",
    "remove_background",
    "render_animation",
    "render_recipe",
    "resize_for_preview",
    "run_batch",
    "save_animation",
    "save_image",
    "template_library",
]
