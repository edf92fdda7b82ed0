"""Moving-object streams: each episode shows one item for several frames as it drifts.

The paper's smooth streams repeat the *category* (different drawings of the same digit); here
the *signal* is smooth too: one drawing seen over ``frames`` consecutive frames, moving on a
straight line across a larger canvas, bouncing off the walls, optionally rotating, growing or
shrinking, behind a bar, with pixel noise. ``class_repeats`` consecutive episodes share a class,
so frame-level and category-level smoothness can be set separately.

``moving-mnist`` and ``moving-fashion`` (the registry's records) render MNIST and Fashion-MNIST
items; :func:`render_stream` renders any stack of square images, which is how the tests work
without the real files.

Memory stays bounded: a plan (which item each episode shows, where it is in each frame) is
drawn first, then only the frames of the stream are rendered, in fixed-size chunks, by
vectorised bilinear sampling of the chunk's items; a 60,000-frame stream of 36 x 36 float32
frames is 311 MB, and rendering it needs about 20 MB more.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from smoothlearn.data.files import _load_real
from smoothlearn.data.registry import DataError, Dataset, dataset_info

__all__ = [
    "MovingSpec", "MovingStream", "render_stream", "make_moving", "moving_spec", "load_moving",
]

#: Frames rendered at once: bounds the temporaries (about 5 MB each) and fixes the order in
#: which noise is drawn, so a stream does not depend on anything but its spec.
CHUNK = 1024
#: Zero border added around each item so that bilinear sampling outside it reads zeros.
PAD = 2
#: With ``validation=True`` the training items before this index make the training stream and
#: the rest (10,000 of MNIST's 60,000) the validation stream; the test split is never read.
VALIDATION_START = 50_000


@dataclass(frozen=True)
class MovingSpec:
    """Every knob of a moving stream; each is checked once, with an error naming it.

    ``steps``/``test_steps`` are the stream lengths in frames (the last episode may be cut
    short). The default training stream, 60,000 frames, is as long as one pass over MNIST's
    training split, so a run on it takes as many SGD steps as one paper epoch (it shows 6,000
    items, 10 frames each). The test stream (10,000 frames) is rendered the same way from the
    test split, with its own draws.
    """

    #: Side of the square canvas in pixels (items are 28 x 28).
    canvas: int = 36
    #: Frames per episode; 1 gives a stream of independent items (today's i.i.d. streams).
    frames: int = 10
    #: Distance travelled per frame, in pixels, in a random direction per episode.
    speed: float = 1.0
    #: How far from the middle an episode may start: 1 = anywhere the object fits, 0 = every
    #: episode starts with its image centred on the canvas (with ``frames=1`` the stream is
    #: then the plain items on a larger canvas, as similar to each other as MNIST items are);
    #: in between, the start is pulled towards the middle by that fraction.
    spread: float = 1.0
    #: Rotation per frame in degrees (random sense per episode; every episode starts upright).
    rotation: float = 0.0
    #: Relative size change per frame (random sign per episode): size (1 + d) ** (+-t).
    scale_drift: float = 0.0
    #: Standard deviation of Gaussian pixel noise, fresh in every frame (then clipped to [0, 1]).
    noise: float = 0.0
    #: Width of a black bar (fraction of the canvas side) fixed for each episode at a random
    #: place and orientation; the object moves behind it. 0 = no bar.
    occlusion: float = 0.0
    #: Consecutive episodes of one class (block classes are drawn i.i.d. uniformly, so a
    #: block may by chance continue the previous class); 1 = no category repetition.
    class_repeats: int = 1
    #: Training stream length in frames.
    steps: int = 60_000
    #: Test stream length in frames.
    test_steps: int = 10_000
    #: Tune on training data only: the training stream is drawn from the first
    #: :data:`VALIDATION_START` training items, the "test" stream from the rest of them.
    validation: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        checks = {
            "canvas": (self.canvas, isinstance(self.canvas, int) and self.canvas >= 8,
                       "an integer >= 8"),
            "frames": (self.frames, _whole(self.frames, 1), "an integer >= 1"),
            "speed": (self.speed, _number(self.speed) and self.speed >= 0, "a number >= 0"),
            "spread": (self.spread, _number(self.spread) and 0 <= self.spread <= 1,
                       "a fraction in [0, 1]"),
            "rotation": (self.rotation, _number(self.rotation) and abs(self.rotation) <= 180,
                         "degrees per frame in [-180, 180]"),
            "scale_drift": (self.scale_drift,
                            _number(self.scale_drift) and 0 <= self.scale_drift < 1,
                            "a number in [0, 1)"),
            "noise": (self.noise, _number(self.noise) and self.noise >= 0, "a number >= 0"),
            "occlusion": (self.occlusion, _number(self.occlusion) and 0 <= self.occlusion < 1,
                          "a fraction in [0, 1)"),
            "class_repeats": (self.class_repeats, _whole(self.class_repeats, 1),
                              "an integer >= 1"),
            "steps": (self.steps, _whole(self.steps, 1), "an integer >= 1"),
            "test_steps": (self.test_steps, _whole(self.test_steps, 1), "an integer >= 1"),
            "validation": (self.validation, isinstance(self.validation, bool),
                           "true or false"),
            "seed": (self.seed, _whole(self.seed, 0), "an integer >= 0"),
        }
        for name, (value, ok, allowed) in checks.items():
            if not ok:
                raise DataError(f"moving stream: {name}={value!r}; it must be {allowed}")


def _number(value: object) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def _whole(value: object, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


@dataclass(frozen=True)
class MovingStream:
    """One rendered stream and its plan (the plan is what the tests check geometry on)."""

    #: Frames ``[steps, canvas * canvas]`` float32 in [0, 1].
    X: np.ndarray
    #: Class of each frame.
    y: np.ndarray
    #: Episode of each frame (0, 0, ..., 1, 1, ...).
    episode: np.ndarray
    #: Row of the source image each episode shows.
    item: np.ndarray
    #: Per frame: object centre (row, col) on the canvas, angle (radians), scale.
    centre: np.ndarray
    angle: np.ndarray
    scale: np.ndarray


# ---------------------------------------------------------------- the plan
def _episode_items(labels: np.ndarray, n_episodes: int, class_repeats: int,
                   rng: np.random.Generator) -> np.ndarray:
    """Which item each episode shows: blocks of ``class_repeats`` episodes of one class (drawn
    uniformly), each class's items in a random order without replacement (reshuffled when a
    class runs out)."""
    classes = np.unique(labels)
    block_rng, *class_rngs = rng.spawn(1 + classes.size)
    n_blocks = -(-n_episodes // class_repeats)
    block_class = classes[block_rng.integers(0, classes.size, n_blocks)]
    episode_class = np.repeat(block_class, class_repeats)[:n_episodes]
    items = np.empty(n_episodes, np.int64)
    for c, class_rng in zip(classes, class_rngs, strict=True):
        slots = np.flatnonzero(episode_class == c)
        pool = np.flatnonzero(labels == c)
        laps = max(1, -(-slots.size // pool.size))
        order = [class_rng.permutation(pool) for _ in range(laps)]
        items[slots] = np.concatenate(order)[:slots.size]
    return items


def _ink_corners(images: np.ndarray) -> np.ndarray:
    """Corners ``[n, 4, 2]`` of each image's ink bounding box, relative to the image centre
    (the whole image where there is no ink)."""
    side = images.shape[1]
    ink = images > 0
    rows, cols = ink.any(2), ink.any(1)
    empty = ~rows.any(1)
    rows[empty], cols[empty] = True, True
    first_r, last_r = rows.argmax(1), side - 1 - rows[:, ::-1].argmax(1)
    first_c, last_c = cols.argmax(1), side - 1 - cols[:, ::-1].argmax(1)
    corners = np.stack([np.stack([r, c], 1) for r in (first_r, last_r) for c in (first_c, last_c)],
                       1).astype(np.float64)
    return corners - (side - 1) / 2


def _fold(position: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Bounce off the walls: fold a straight-line position into [low, high]."""
    span = high - low
    safe = np.where(span > 0, span, 1.0)
    u = np.mod(position - low, 2 * safe)
    return np.where(span > 0, low + np.where(u <= safe, u, 2 * safe - u), low)


def _geometry(corners: np.ndarray, spec: MovingSpec, n_episodes: int,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per episode and frame ``[E, F]``: centre (row, col), angle and scale.

    The centre's range per episode is what keeps the ink's bounding box on the canvas in every
    frame of the episode; an object too large for the canvas stays centred (and is clipped).
    """
    t = np.arange(spec.frames)
    turn_rng, grow_rng, direction_rng, start_rng = rng.spawn(4)
    turn = turn_rng.choice([-1.0, 1.0], n_episodes)[:, None]
    grow = grow_rng.choice([-1.0, 1.0], n_episodes)[:, None]
    angle = np.deg2rad(spec.rotation) * turn * t
    scale = (1.0 + spec.scale_drift) ** (grow * t)
    cos, sin = np.cos(angle)[..., None], np.sin(angle)[..., None]
    qy, qx = corners[:, None, :, 0], corners[:, None, :, 1]  # [E, 1, 4]
    offset_y = scale[..., None] * (cos * qy - sin * qx)
    offset_x = scale[..., None] * (sin * qy + cos * qx)
    edge = spec.canvas - 1
    centre = np.empty((n_episodes, spec.frames, 2))
    direction = direction_rng.uniform(0, 2 * np.pi, n_episodes)
    start = start_rng.uniform(0, 1, (n_episodes, 2))
    for axis, (offset, step) in enumerate(((offset_y, np.sin(direction)),
                                           (offset_x, np.cos(direction)))):
        low = (-offset.min(axis=(1, 2)))
        high = edge - offset.max(axis=(1, 2))
        fits = high >= low
        low, high = np.where(fits, low, (low + high) / 2), np.where(fits, high, (low + high) / 2)
        middle = np.clip(edge / 2, low, high)  # the image centred, as far as the ink allows
        anywhere = low + start[:, axis] * (high - low)
        origin = middle + spec.spread * (anywhere - middle)
        straight = origin[:, None] + spec.speed * step[:, None] * t
        centre[..., axis] = _fold(straight, low[:, None], high[:, None])
    return centre, angle, scale


# ---------------------------------------------------------------- rendering
def _sample(padded: np.ndarray, episode: np.ndarray, centre: np.ndarray, angle: np.ndarray,
            scale: np.ndarray, canvas: int, side: int) -> np.ndarray:
    """Bilinear samples ``[n, canvas**2]`` of each frame's item under its inverse transform."""
    grid = np.arange(canvas, dtype=np.float32)
    dy = grid[None, :, None] - centre[:, 0, None, None].astype(np.float32)
    dx = grid[None, None, :] - centre[:, 1, None, None].astype(np.float32)
    cos = (np.cos(angle) / scale).astype(np.float32)[:, None, None]
    sin = (np.sin(angle) / scale).astype(np.float32)[:, None, None]
    middle = (side - 1) / 2 + PAD
    # source = centre of item + R(angle)^T (canvas - centre) / scale, in padded coordinates,
    # clipped into the zero border (where the sample is exactly 0 either way)
    top = np.clip(middle + cos * dy + sin * dx, 0, side + 2 * PAD - 2)
    left = np.clip(middle - sin * dy + cos * dx, 0, side + 2 * PAD - 2)
    row, col = top.astype(np.int32), left.astype(np.int32)
    wy, wx = top - row, left - col
    width = side + 2 * PAD
    base = (episode.astype(np.int32)[:, None, None] * width + row) * width + col
    flat = padded.reshape(-1)
    upper = flat[base]
    upper += wx * (flat[base + 1] - upper)
    base += width
    lower = flat[base]
    lower += wx * (flat[base + 1] - lower)
    lower -= upper
    lower *= wy
    return (upper + lower).reshape(len(episode), canvas * canvas)


def _occluder_masks(spec: MovingSpec, n_episodes: int,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per episode: is the bar horizontal, and where it starts (the bar is fixed per episode)."""
    width = int(round(spec.occlusion * spec.canvas))
    side_rng, place_rng = rng.spawn(2)
    horizontal = side_rng.integers(0, 2, n_episodes).astype(bool)
    start = place_rng.integers(0, spec.canvas - width + 1, n_episodes)
    return horizontal, start


def _occlude(frames: np.ndarray, horizontal: np.ndarray, start: np.ndarray, width: int,
             canvas: int) -> None:
    grid = np.arange(canvas)
    inside = (grid[None] >= start[:, None]) & (grid[None] < start[:, None] + width)  # [n, C]
    mask = np.where(horizontal[:, None, None], inside[:, :, None], inside[:, None, :])
    frames.reshape(-1, canvas, canvas)[mask] = 0.0


def render_stream(images: np.ndarray, labels: np.ndarray, spec: MovingSpec, steps: int,
                  rng: np.random.Generator) -> MovingStream:
    """A stream of ``steps`` frames of moving ``images`` (``[n, side, side]``, values in
    [0, 1]) with per-item ``labels``, drawn from ``rng``.

    Every kind of draw has its own generator (spawned from ``rng``), so a shorter stream is
    the start of a longer one: a run cut short, or a strip of sample frames, sees the frames
    of the full stream.
    """
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise DataError(f"moving stream: images must be [n, side, side], got {images.shape}")
    n_episodes = -(-steps // spec.frames)
    items_rng, geometry_rng, bar_rng, noise_rng = rng.spawn(4)
    item = _episode_items(np.asarray(labels), n_episodes, spec.class_repeats, items_rng)
    centre, angle, scale = _geometry(_ink_corners(images)[item], spec, n_episodes, geometry_rng)
    horizontal, start = _occluder_masks(spec, n_episodes, bar_rng)
    side = images.shape[1]
    episode = np.repeat(np.arange(n_episodes), spec.frames)[:steps]
    centre = centre.reshape(-1, 2)[:steps]
    angle, scale = angle.reshape(-1)[:steps], scale.reshape(-1)[:steps]
    X = np.empty((steps, spec.canvas ** 2), np.float32)
    width = int(round(spec.occlusion * spec.canvas))
    for a in range(0, steps, CHUNK):
        part = slice(a, min(a + CHUNK, steps))
        first, last = episode[part][[0, -1]]  # only this chunk's items, padded with zeros
        shown = images[item[first : last + 1]].astype(np.float32)
        padded = np.pad(shown, ((0, 0), (PAD, PAD), (PAD, PAD)))
        frames = _sample(padded, episode[part] - first, centre[part], angle[part], scale[part],
                         spec.canvas, side)
        if width:
            _occlude(frames, horizontal[episode[part]], start[episode[part]], width, spec.canvas)
        if spec.noise:
            frames += np.float32(spec.noise) * noise_rng.standard_normal(frames.shape, np.float32)
        X[part] = np.clip(frames, 0.0, 1.0)
    y = np.asarray(labels)[item][episode].astype(np.int64)
    return MovingStream(X, y, episode, item, centre, angle, scale)


# ---------------------------------------------------------------- the datasets
def make_moving(name: str, images: tuple[np.ndarray, np.ndarray],
                labels: tuple[np.ndarray, np.ndarray], spec: MovingSpec) -> Dataset:
    """The training and test streams of ``spec`` from (train, test) images and labels."""
    train_seed, test_seed = np.random.SeedSequence(spec.seed).spawn(2)
    streams = [
        render_stream(imgs, labs, spec, steps, np.random.default_rng(seq))
        for imgs, labs, steps, seq in zip(images, labels, (spec.steps, spec.test_steps),
                                          (train_seed, test_seed), strict=True)
    ]
    return Dataset(name, streams[0].X, streams[0].y, streams[1].X, streams[1].y,
                   task="classify", ordered=True, params=asdict(spec))


def moving_spec(name: str, params: dict[str, Any]) -> MovingSpec:
    """The checked spec of generator keywords ``params`` (a config checks them this way
    before any file is read)."""
    known = [f.name for f in fields(MovingSpec)]
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise DataError(
            f"{name}: unknown parameter(s) {', '.join(unknown)}; known: {', '.join(known)}"
        )
    return MovingSpec(**params)


def load_moving(name: str, data_dir: str | os.PathLike[str] | None,
                params: dict[str, Any]) -> Dataset:
    """The registered moving set ``name``, rendered from its source set's files."""
    spec = moving_spec(name, params)
    source = dataset_info(name).source
    assert source is not None, f"{name} has no source set in the registry"
    splits = [_load_real(source, split, data_dir) for split in ("train", "test")]
    side = math.isqrt(splits[0][0].shape[1])
    if spec.validation:  # carve the validation items from the training split
        X, y = splits[0]
        splits = [(X[:VALIDATION_START], y[:VALIDATION_START]),
                  (X[VALIDATION_START:], y[VALIDATION_START:])]
    images = tuple(X.reshape(-1, side, side) for X, _ in splits)
    labels = tuple(y for _, y in splits)
    return make_moving(name, images, labels, spec)  # type: ignore[arg-type]
