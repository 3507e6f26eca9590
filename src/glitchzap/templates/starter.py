"""The built-in starter set: public-domain photos that scikit-image ships, as templates.

Ids carry the `starter-` prefix, which imports and `templates add` refuse, so they never
collide with a user's templates. Only photos bundled in the scikit-image wheel are used
(`skimage.data` fetches some others from the internet; those are never asked for).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glitchzap.templates.library import STARTER_PREFIX, ImportReport, TemplateLibrary


@dataclass(frozen=True)
class StarterPhoto:
    loader: str  # skimage.data function name
    name: str
    keywords: tuple[str, ...]
    example: tuple[str, str]


STARTER_PHOTOS = (
    StarterPhoto("astronaut", "Astronaut Eileen Collins", ("astronaut", "nasa", "space", "smile"),
                 ("when the code compiles", "on the first try")),
    StarterPhoto("chelsea", "Chelsea the Cat", ("cat", "chelsea", "stare", "tabby"),
                 ("i see you", "deleted the tests")),
    StarterPhoto("coffee", "Cup of Coffee", ("coffee", "cup", "morning", "mug"),
                 ("first coffee", "then the bugs")),
    StarterPhoto("rocket", "Rocket Launch", ("rocket", "launch", "space", "soyuz"),
                 ("my productivity", "after the third coffee")),
    StarterPhoto("camera", "The Cameraman", ("camera", "photographer", "tripod", "grey"),
                 ("me documenting", "every production incident")),
    StarterPhoto("hubble_deep_field", "Hubble Deep Field", ("galaxies", "hubble", "stars"),
                 ("the scope of the project", "on day one")),
)  # fmt: skip


def starter_image(photo: StarterPhoto) -> np.ndarray:
    """The photo as H x W x 3 uint8."""
    from skimage import data

    image = np.asarray(getattr(data, photo.loader)())
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3].astype(np.uint8))


def add_starter_set(library: TemplateLibrary) -> ImportReport:
    """Add (or refresh) every starter template; existing identical ones are left alone."""
    report = ImportReport()
    existing = {t.id for t in library.list_templates(origin="starter")}
    for photo in STARTER_PHOTOS:
        template_id = STARTER_PREFIX + photo.loader.replace("_", "-")
        if template_id in existing:
            report.unchanged.append(template_id)
            continue
        library.add(
            starter_image(photo), name=photo.name, template_id=template_id,
            keywords=photo.keywords, example=photo.example, source="scikit-image sample data",
            origin="starter",
        )  # fmt: skip
        report.added.append(template_id)
    return report
