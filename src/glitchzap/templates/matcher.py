"""Matching a picture against the stored templates: shortlist, verify, retry, rank.

`Matcher` keeps the store's global descriptors and vote index in memory (loaded on first match,
rebuilt when the store's generation counter says the library changed, also in another process)
plus a small LRU cache of templates' ORB keypoints. A match shortlists candidates by the global
descriptor and by descriptor-chunk votes, verifies them with `match.verify` in the orientation
that agrees better, and only when nothing matched retries with more expensive query features.
With a CLIP index, the templates whose CLIP image embeddings are closest to the query's are
one more shortlist, after the others (`_clip_candidates`); verification still decides.
The array work itself is in `match.py`; this module decides what to compare, in which order.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from glitchzap.cache.codec import decode_array
from glitchzap.errors import InvalidParameters
from glitchzap.templates import match as m
from glitchzap.templates.records import TemplateMatch
from glitchzap.templates.store import FEATURES_VERSION, Store
from glitchzap.threads import executor

if TYPE_CHECKING:
    from glitchzap.templates.embeddings import ClipIndex

GLOBAL_CANDIDATES = 16  # shortlisted by the global descriptor
VOTE_CANDIDATES = 10  # shortlisted by descriptor-chunk votes
CLIP_CANDIDATES = 8  # shortlisted by CLIP image embeddings (when CLIP is configured)
ORIENTATION_RETRIES = 8  # candidates verified in both orientations when the first fails
DENSE_CANDIDATES = 6  # when ORB matched none, the best-ranked are compared densely
# ... unless their global descriptors correlate less than this with the query's: on the tuning
# half every dense match (349) had >= 0.46, and half the candidates of photos of no template
# fall below 0.49 (the dense check costs a no-match query the most after describing it).
DENSE_MIN_SIMILARITY = 0.4
# When nothing matched, the best-ranked candidates are verified again with keypoints taken
# without the caption mask (line drawings: the mask also covers their own black strokes).
UNMASKED_RETRIES = 8
# ... as are the best-ranked by votes of those keypoints, and candidates ranked just below the
# shortlists (a padded or re-encoded picture can rank a little lower by either shortlist).
RETRY_VOTE_CANDIDATES = 16
RESAMPLED_RETRIES = 4  # then the best-ranked, with the query resampled (see match.py)
# The retries cost a no-match query most of its time, so each runs only when it can help
# (chosen on the tuning half of the memegen sample and of davis345, see bench/templates.py):
# - keypoints without the caption mask differ from the masked ones only when the mask covers
#   a good share of the picture (the rescued line drawings: 15-29 %; photos of no template:
#   median 1 %);
# - the resampled query, only when some candidate already agrees in RETRY_MIN_INLIERS inliers
#   (photos of no template reach 3; the memes this pass rescued had 6 before it).
UNMASKED_MIN_SHARE = 0.1
RETRY_MIN_INLIERS = 4
# A dense match scoring less than this above the threshold is weak: the retries still run,
# and a template ORB verifies there outranks it (at 2,000 templates, memes of a cartoon
# template ORB misses at first were matched densely, just over the threshold, to another one).
DENSE_SURE_MARGIN = 0.05
CONFIDENT_SCORE = 0.75  # stop verifying once a candidate scores this (60 inliers)
PREFETCH_AFTER = 4  # unconfirmed candidates after which the dense check's inputs are started

Candidates = list[tuple[int, bool]]  # (row in the index, verify mirrored), most likely first
_Scores = tuple[list[np.ndarray], list[np.ndarray]]  # similarity, votes: as is, mirrored
_Local = tuple[np.ndarray, np.ndarray, np.ndarray | None]  # ORB points, descriptors; dense


@dataclass(frozen=True)
class _Index:
    generation: int
    ids: list[str]
    descriptors: np.ndarray  # float32 (N * trims, D)
    trims: int
    votes: m.VoteIndex


class Matcher:
    """Ranks the templates in `store` for a picture; a score >= `match_threshold` matches.
    `clip` (the templates' CLIP embeddings, None when CLIP is off) adds a shortlist."""

    def __init__(
        self, store: Store, *, match_threshold: float = 0.5, feature_cache_size: int = 256,
        clip: ClipIndex | None = None,
    ) -> None:  # fmt: skip
        self.store = store
        self.clip = clip
        self.match_threshold = match_threshold
        self._index: _Index | None = None
        self._index_lock = threading.Lock()
        self._orb_cache: OrderedDict[str, _Local] = OrderedDict()
        self._orb_cache_lock = threading.Lock()  # matches run on many threads at once
        self._orb_cache_size = feature_cache_size

    def match(self, image: np.ndarray, k: int = 3) -> list[TemplateMatch]:
        """Up to `k` verified templates for `image`, best first, with scores in [0, 1]."""
        if k < 1:
            raise InvalidParameters(f"k must be at least 1, got {k}")
        check_image(image)
        query = m.describe_query(image)
        index = self._load_index()
        candidates = self.candidates(query)
        results = self._verify(
            index, candidates, query.plain, query.mirrored, k, query.prefetch_dense
        )
        evidence = max((r.score for r in results), default=0.0)  # ORB's alone
        if candidates and not any(r.matched for r in results):
            results = self._dense(index, query, candidates, results)
        sure = self.match_threshold + DENSE_SURE_MARGIN
        if candidates and not any(r.score >= sure for r in results if r.matched):
            results = self._retry(index, query, candidates, results, k, evidence)
        results.sort(key=lambda r: -r.score)
        return results[:k]

    def best_match(self, image: np.ndarray) -> TemplateMatch | None:
        """The best template when it scores at least the threshold, else None."""
        found = self.match(image, 1)
        return found[0] if found and found[0].matched else None

    def candidates(self, query: m.Query) -> Candidates:
        """Shortlisted (row, mirrored) pairs, most likely first."""
        clip_rows = self._clip_candidates(query.coarse)
        return self._shortlist(query.plain, query.mirrored, GLOBAL_CANDIDATES, VOTE_CANDIDATES,
                               clip_rows, query.scores)  # fmt: skip

    def _clip_candidates(self, image: np.ndarray) -> list[int]:
        """Rows of the CLIP_CANDIDATES templates whose CLIP image embeddings are closest to
        `image`'s, closest first; none without CLIP."""
        if self.clip is None:
            return []
        rows = {template_id: row for row, template_id in enumerate(self._load_index().ids)}
        return [rows[i] for i in self.clip.nearest(image, CLIP_CANDIDATES) if i in rows]

    # ---- the in-memory index -------------------------------------------------------------

    def _load_index(self) -> _Index:
        generation = self.store.generation()
        with self._index_lock:
            if self._index is not None and self._index.generation == generation:
                return self._index
            rows = self.store.query(
                "SELECT id, version, descriptors, keys FROM features ORDER BY id"
            )
            ids, descriptors, keys = [], [], []
            for row in rows:
                desc, key = decode_array(row["descriptors"]), decode_array(row["keys"])
                if row["version"] != FEATURES_VERSION or desc is None or key is None:
                    continue  # stale or damaged: `glitchzap templates reindex` recomputes
                ids.append(row["id"])
                descriptors.append(desc)
                keys.append(key)
            trims = descriptors[0].shape[0] if descriptors else 1
            matrix = (np.concatenate(descriptors) if descriptors
                      else np.zeros((0, m.descriptor_size()), np.float32))  # fmt: skip
            # Keypoints cached before the change may be of a template since replaced.
            with self._orb_cache_lock:
                self._orb_cache.clear()
            self._index = _Index(generation, ids, matrix, trims, m.VoteIndex(keys))
            return self._index

    def _locals(self, template_ids: list[str]) -> list[_Local]:
        """Each template's ORB (points, descriptors) and dense thumbnail, from the LRU cache
        or, for those it lacks, from the store in one query."""
        with self._orb_cache_lock:
            missing = [t for t in dict.fromkeys(template_ids) if t not in self._orb_cache]
        loaded: dict[str, _Local] = {}
        if missing:
            marks = ",".join("?" * len(missing))
            rows = self.store.query(
                f"SELECT id, points, orb, dense FROM features WHERE id IN ({marks})",
                tuple(missing),
            )
            loaded = {row["id"]: _decode_local(row) for row in rows}
        with self._orb_cache_lock:
            found = []
            for template_id in template_ids:
                entry = self._orb_cache.get(template_id) or loaded.get(template_id)
                if entry is None:
                    entry = loaded[template_id] = _decode_local(None)
                self._orb_cache[template_id] = entry
                self._orb_cache.move_to_end(template_id)
                found.append(entry)
            while len(self._orb_cache) > self._orb_cache_size:
                self._orb_cache.popitem(last=False)
            return found

    # ---- shortlist, verify, retry --------------------------------------------------------

    def _shortlist(
        self, plain: m.Features, mirrored: m.Features, global_count: int, vote_count: int,
        extra: Sequence[int] = (), memo: dict[tuple[int, ...], _Scores] | None = None,
    ) -> Candidates:  # fmt: skip
        """The rows ranked best by the global descriptor and by votes, interleaved, then the
        `extra` rows not among them; each with the orientation that agrees better. `memo`
        (a query's) keeps the scores for the next shortlist of the same features."""
        index = self._load_index()
        n = len(index.ids)
        if n == 0:
            return []
        similarity, votes = self._scores(index, plain, mirrored, memo)
        by_global = _top(np.maximum(*similarity), global_count)
        by_votes = _top(np.maximum(*votes), vote_count)
        order: list[int] = []
        for row in [*_interleave(by_global, by_votes), *(r for r in extra if r < n)]:
            if row not in order:
                order.append(row)
        # Verify the orientation that agrees better (global similarity, then votes).
        return [
            (row, bool((similarity[1][row], votes[1][row]) > (similarity[0][row], votes[0][row])))
            for row in order
        ]

    def _scores(
        self, index: _Index, plain: m.Features, mirrored: m.Features,
        memo: dict[tuple[int, ...], _Scores] | None,
    ) -> _Scores:  # fmt: skip
        """_score_templates of `plain` and `mirrored`, kept in `memo` (a query's) for the next
        shortlist of the same features."""
        key = (index.generation, id(plain), id(mirrored))
        found = memo.get(key) if memo is not None else None
        if found is None:
            found = _score_templates(index, plain, mirrored)
            if memo is not None:
                memo[key] = found
        return found

    def _verify(
        self, index: _Index, candidates: Candidates, plain: m.Features,
        mirrored_side: m.Features, k: int, prefetch: Callable[[], None] | None = None,
    ) -> list[TemplateMatch]:  # fmt: skip
        """Candidates verified in order, m.THREADS side by side, until one is confident."""
        results: list[TemplateMatch] = []
        best = 0.0
        pool = executor("templates", m.THREADS)
        ahead = PREFETCH_AFTER  # candidates whose features are loaded (one query each time)
        self._locals([index.ids[row] for row, _ in candidates[:ahead]])
        for start in range(0, len(candidates), m.THREADS):
            chunk = candidates[start : start + m.THREADS]
            if start + len(chunk) > ahead:  # no match so far: probably none, load the rest
                ahead = len(candidates)
                self._locals([index.ids[row] for row, _ in candidates[start:]])
            features = self._locals([index.ids[row] for row, _ in chunk])
            jobs = [
                pool.submit(self._verify_one, local[:2], plain, mirrored_side, mirrored,
                            start + i < ORIENTATION_RETRIES)
                for i, ((_, mirrored), local) in enumerate(zip(chunk, features, strict=True))
            ]  # fmt: skip
            for (row, _), job in zip(chunk, jobs, strict=True):
                score, mirrored = job.result()
                matched = score >= self.match_threshold
                results.append(TemplateMatch(index.ids[row], score, matched, mirrored))
                best = max(best, score)
            if best >= CONFIDENT_SCORE and len(results) >= k:
                break  # the rest are ranked lower by both shortlists and cannot matter
            if prefetch is not None and start + len(chunk) >= PREFETCH_AFTER:
                prefetch()  # probably no ORB match: start what comes next
                prefetch = None
        return results

    def _verify_one(
        self, local: tuple[np.ndarray, np.ndarray], plain: m.Features,
        mirrored_side: m.Features, mirrored: bool, both: bool,
    ) -> tuple[float, bool]:  # fmt: skip
        """(score, mirrored) of one template: in the orientation the shortlist chose, then,
        with `both` and no match, in the other (the shortlists can guess it wrong)."""
        points, orb = local
        first, second = (mirrored_side, plain) if mirrored else (plain, mirrored_side)
        score = m.verify(first, points, orb).score
        if score < self.match_threshold and both:
            other = m.verify(second, points, orb).score
            if other > score:
                return other, not mirrored
        return score, mirrored

    def _dense(
        self, index: _Index, query: m.Query, candidates: Candidates,
        results: list[TemplateMatch],
    ) -> list[TemplateMatch]:  # fmt: skip
        """`results` with the best-ranked candidates' scores raised to their dense score where
        that is higher (smooth pictures give ORB too few corners to verify)."""
        found = {r.id: r for r in results}
        similarity = np.maximum(*self._scores(index, query.plain, query.mirrored, query.scores)[0])
        rows = [row for row, _ in candidates[:DENSE_CANDIDATES]
                if similarity[row] >= DENSE_MIN_SIMILARITY]  # fmt: skip
        thumbnails = {}
        for row, (_, _, dense) in zip(rows, self._locals([index.ids[r] for r in rows]),
                                      strict=True):  # fmt: skip
            if dense is not None:
                thumbnails[index.ids[row]] = dense
        if not thumbnails:
            return results
        scores = m.dense_correlations(list(thumbnails.values()), query.dense())
        for template_id, (correlation, mirrored) in zip(thumbnails, scores, strict=True):
            score = m.score_from_correlation(correlation)
            if template_id not in found or score > found[template_id].score:
                found[template_id] = TemplateMatch(
                    template_id, score, score >= self.match_threshold, mirrored
                )
        return list(found.values())

    def _retry(
        self, index: _Index, query: m.Query, candidates: Candidates,
        results: list[TemplateMatch], k: int, evidence: float,
    ) -> list[TemplateMatch]:  # fmt: skip
        """Verify again after no match, until one matches (costs only no-match queries):
        keypoints taken everywhere (a line drawing loses its own strokes to the caption mask;
        only with UNMASKED_MIN_SHARE), the templates ranked just below the vote shortlist,
        then the best-ranked with the query resampled (zoomed in, denser; only with
        RETRY_MIN_INLIERS)."""
        found = {r.id: r for r in results}

        def run(features: tuple[m.Features, m.Features], rows: Candidates) -> bool:
            """Whether ORB verified a match in this pass (a weak dense match does not stop
            the retries)."""
            nonlocal evidence
            verified = self._verify(index, rows, *features, k)
            for r in verified:
                evidence = max(evidence, r.score)
                if r.id not in found or r.score > found[r.id].score:
                    found[r.id] = r
            return any(r.matched for r in verified)

        if query.caption_share() >= UNMASKED_MIN_SHARE and run(
            query.unmasked(), self._unmasked_candidates(query, candidates)
        ):
            return list(found.values())
        tried = {row for row, _ in candidates}
        wider = self._shortlist(
            query.plain, query.mirrored, 0, RETRY_VOTE_CANDIDATES, memo=query.scores
        )
        if run((query.plain, query.mirrored), [p for p in wider if p[0] not in tried]):
            return list(found.values())
        if evidence < m.score_from_inliers(RETRY_MIN_INLIERS):
            return list(found.values())
        best = candidates[:RESAMPLED_RETRIES]
        passes: list[tuple[Callable[[], tuple[m.Features, m.Features]], Candidates]] = [
            (lambda: query.resampled(m.RETRY_ZOOM, m.QUERY_FEATURES), best),
            (lambda: query.resampled(1, m.RETRY_FEATURES), best),
        ]
        for features, rows in passes:
            if run(features(), rows):
                break
        return list(found.values())

    def _unmasked_candidates(self, query: m.Query, candidates: Candidates) -> Candidates:
        """The best-ranked candidates, then the best-ranked by votes of unmasked keypoints."""
        plain, mirrored = query.unmasked()
        by_votes = self._shortlist(plain, mirrored, 0, VOTE_CANDIDATES)
        return _merge(candidates[:UNMASKED_RETRIES], by_votes)


def _score_templates(index: _Index, plain: m.Features, mirrored: m.Features) -> _Scores:
    """(global similarity, votes) of every template, as is and mirrored."""
    n = len(index.ids)
    # Both orientations in one product: (rows, 2 x query trims), then the best trim.
    # (einsum: single-threaded; waking BLAS threads for so small a product costs more)
    queries = np.concatenate([plain.descriptors, mirrored.descriptors])
    product = np.einsum("nd,kd->nk", index.descriptors, queries)
    similarity = [
        part.reshape(n, -1).max(axis=1)
        for part in np.split(product, [len(plain.descriptors)], axis=1)
    ]
    # The two orientations' votes side by side (numpy's searches release the GIL).
    other = executor("templates", m.THREADS).submit(
        index.votes.votes, m.descriptor_keys(mirrored.orb)
    )
    votes = [index.votes.votes(m.descriptor_keys(plain.orb)), other.result()]
    return similarity, votes


def _decode_local(row: Any) -> _Local:
    """(points, ORB descriptors, dense thumbnail) of a features row; empty when damaged."""
    points = decode_array(row["points"]) if row is not None else None
    orb = decode_array(row["orb"]) if row is not None else None
    dense = decode_array(row["dense"]) if row is not None and row["dense"] else None
    if points is None or orb is None:
        points, orb = np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8)
    return points, orb, None if dense is None else dense.astype(np.float32)


def check_image(image: np.ndarray) -> None:
    """Raise InvalidParameters unless `image` is an H x W x 3|4 uint8 array big enough to match."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise InvalidParameters("Expected an H x W x 3|4 uint8 image")
    if min(image.shape[:2]) < 8:
        raise InvalidParameters(
            f"The image is too small to match ({image.shape[1]}x{image.shape[0]})"
        )


def _top(values: np.ndarray, count: int) -> list[int]:
    count = min(count, len(values))
    if count <= 0:
        return []
    part = np.argpartition(-values, count - 1)[:count]
    return [int(i) for i in part[np.argsort(-values[part], kind="stable")]]


def _merge(first: Candidates, second: Candidates) -> Candidates:
    """`first`, then the pairs of `second` whose rows are not in it."""
    seen = {row for row, _ in first}
    return first + [pair for pair in second if pair[0] not in seen]


def _interleave(first: list[int], second: list[int]) -> list[int]:
    out: list[int] = []
    for i in range(max(len(first), len(second))):
        out.extend(lst[i] for lst in (first, second) if i < len(lst))
    return out
