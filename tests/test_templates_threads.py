"""Template matching from many threads at once (as the API does): the same answers as one at
a time, no shared OpenCV object used by two threads at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from skimage import data

from glitchzap.templates import TemplateLibrary
from meme_variants import add_captions


def test_concurrent_matches_give_the_answers_of_sequential_ones(tmp_path: Path) -> None:
    library = TemplateLibrary(tmp_path / "lib")
    photos = {"cat": data.chelsea(), "astronaut": data.astronaut(), "coffee": data.coffee()}
    for name, photo in photos.items():
        library.add(photo, name=name, template_id=name)
    queries = [add_captions(photo, ("TOP TEXT", "BOTTOM TEXT")) for photo in photos.values()]
    queries += [np.ascontiguousarray(q[:, ::-1]) for q in queries] + [data.rocket()]
    sequential = [library.match(q, 2) for q in queries]
    with ThreadPoolExecutor(6) as pool:
        for _ in range(3):
            assert list(pool.map(lambda q: library.match(q, 2), queries)) == sequential
    assert [r[0].id for r in sequential[:6]] == list(photos) * 2
    assert all(r[0].matched for r in sequential[:6]) and not sequential[6][0].matched
