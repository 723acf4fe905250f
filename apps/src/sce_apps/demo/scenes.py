"""What each demo video shows: the disjoint train/test regions of a photograph, a camera path, a moving digit.

Pure numpy and deterministic: every random draw comes from a generator seeded by ``(seed, class, split, group[, clip])``
so that a video's content depends on nothing else (not on the number of videos, nor on the worker that renders it).

Boxes are ``(top, left, bottom, right)`` in pixels of the photograph as returned by
:func:`sce_apps.demo.sources.load_photo` (floats; ``bottom``/``right`` exclusive).
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

#: Fraction of the photograph's long side, from its start, where train camera windows may go.
TRAIN_FRACTION = 0.55
#: Fraction of the long side left unused between the train and the test region.
GAP_FRACTION = 0.05
#: Window height at the first frame, as fractions of the largest window that fits the smaller region.
START_SCALE = (0.6, 0.9)
#: Zoom over the whole video: ratio of last to first window height (log-uniform), clipped to ``END_SCALE``.
ZOOM = (0.8, 1.25)
END_SCALE = (0.5, 1.0)
#: Digit sprite side, as a fraction of the frame's short side.
SPRITE_SCALE = (0.25, 0.35)
#: Digit sprite speed in frame short sides per second.
SPRITE_SPEED = (0.4, 1.2)

Box = tuple[float, float, float, float]
SPLIT_CODES = {"train": 1, "test": 2}


def split_regions(height: int, width: int) -> dict[str, Box]:
    """Split a photograph into disjoint train and test regions along its long side.

    The train region is the first :data:`TRAIN_FRACTION` of the long side (the left part of a landscape or square
    photograph, the top part of a portrait one); the test region starts :data:`GAP_FRACTION` later and runs to the end.

    Args:
        height: Photograph height in pixels.
        width: Photograph width in pixels.

    Returns:
        ``{"train": box, "test": box}``.
    """
    if width >= height:
        cut, start = TRAIN_FRACTION * width, (TRAIN_FRACTION + GAP_FRACTION) * width
        return {"train": (0.0, 0.0, float(height), cut), "test": (0.0, start, float(height), float(width))}
    cut, start = TRAIN_FRACTION * height, (TRAIN_FRACTION + GAP_FRACTION) * height
    return {"train": (0.0, 0.0, cut, float(width)), "test": (start, 0.0, float(height), float(width))}


def max_window_height(regions: dict[str, Box], aspect: float) -> float:
    """Return the height of the largest window of width/height ``aspect`` that fits every region.

    Train and test windows draw their sizes from the same range (relative to this height), so both splits see the
    scene at the same scale even though the test region is smaller.
    """
    return min(min(b[2] - b[0], (b[3] - b[1]) / aspect) for b in regions.values())


def camera_path(rng: np.random.Generator, region: Box, base_height: float, aspect: float, frames: int) -> np.ndarray:
    """Draw a smooth camera path (pan and slow zoom) whose every window lies inside ``region``.

    The window height moves geometrically from ``s0`` to ``s1`` (``s0`` uniform in :data:`START_SCALE`,
    ``s1 = s0 · zoom`` with zoom log-uniform in :data:`ZOOM`, clipped to :data:`END_SCALE`; both relative to
    ``base_height``). The window's position inside the free space of the region moves from a uniform random point
    ``u0`` to another ``u1`` (both in [0, 1]²) with smoothstep easing.

    Args:
        rng: Random generator.
        region: The box the windows must stay in.
        base_height: Largest window height that fits (see :func:`max_window_height`).
        aspect: Window width / height (the frame's).
        frames: Number of frames.

    Returns:
        ``float64`` array of shape ``(frames, 4)``: one ``(top, left, bottom, right)`` window per frame.
    """
    s0 = rng.uniform(*START_SCALE)
    s1 = float(np.clip(s0 * np.exp(rng.uniform(np.log(ZOOM[0]), np.log(ZOOM[1]))), *END_SCALE))
    u0, u1 = rng.uniform(0.0, 1.0, size=2), rng.uniform(0.0, 1.0, size=2)
    tau = np.linspace(0.0, 1.0, frames) if frames > 1 else np.zeros(1)
    heights = base_height * s0 * (s1 / s0) ** tau
    widths = heights * aspect
    ease = tau * tau * (3.0 - 2.0 * tau)
    u = u0[None, :] + (u1 - u0)[None, :] * ease[:, None]
    top = region[0] + u[:, 0] * (region[2] - region[0] - heights)
    left = region[1] + u[:, 1] * (region[3] - region[1] - widths)
    return np.stack([top, left, top + heights, left + widths], axis=1)


def _fold(x: np.ndarray, high: float) -> np.ndarray:
    """Reflect positions into ``[0, high]``, as an object bouncing off the frame's borders."""
    if high <= 0:
        return np.zeros_like(x)
    period = 2.0 * high
    y = np.mod(x, period)
    return np.where(y > high, period - y, y)


def sprite_path(rng: np.random.Generator, size: tuple[int, int], sprite: int, fps: int, frames: int) -> np.ndarray:
    """Draw the top-left corners of a sprite moving in a straight line and bouncing off the frame borders.

    Returns:
        ``int64`` array of shape ``(frames, 2)``: ``(y, x)`` per frame, with the sprite fully inside the frame.
    """
    height, width = size
    speed = rng.uniform(*SPRITE_SPEED) * min(height, width) / fps
    angle = rng.uniform(0.0, 2.0 * np.pi)
    start = rng.uniform(0.0, 1.0, size=2) * np.array([height - sprite, width - sprite])
    t = np.arange(frames, dtype=np.float64)
    y = _fold(start[0] + speed * np.sin(angle) * t, height - sprite)
    x = _fold(start[1] + speed * np.cos(angle) * t, width - sprite)
    return np.rint(np.stack([y, x], axis=1)).astype(np.int64)


@dataclass(frozen=True)
class Foreground:
    """The moving digit of one group of videos (a group shares its "actor", as in UCF101).

    Attributes:
        digit_index: Row of scikit-learn's digits used as the sprite.
        color: Sprite colour, RGB in 0..255.
        side: Sprite side in pixels.
    """

    digit_index: int
    color: tuple[int, int, int]
    side: int


def draw_foreground(rng: np.random.Generator, num_digits: int, size: tuple[int, int]) -> Foreground:
    """Draw a group's foreground: a random digit, a saturated random colour and a size."""
    hue, sat, val = rng.uniform(0.0, 1.0), rng.uniform(0.7, 1.0), rng.uniform(0.85, 1.0)
    color = tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(hue, sat, val))
    side = max(4, int(round(rng.uniform(*SPRITE_SCALE) * min(size))))
    return Foreground(int(rng.integers(num_digits)), (color[0], color[1], color[2]), side)


def draw_lighting(rng: np.random.Generator, strength: float) -> tuple[tuple[float, float, float], float]:
    """Draw a per-video lighting change, as between recording sessions: a colour cast and a brightness curve.

    Each RGB gain and the gamma are log-uniform in ``[1 / (1 + strength), 1 + strength]``. Contrastive pretraining
    with colour augmentations learns to ignore such changes; raw pixels and random features do not.

    Returns:
        ``(gains, gamma)``; ``((1, 1, 1), 1)`` when ``strength`` is 0 (nothing is drawn then).
    """
    if strength == 0:
        return (1.0, 1.0, 1.0), 1.0
    bound = np.log1p(strength)
    g = np.exp(rng.uniform(-bound, bound, size=4))
    return (float(g[0]), float(g[1]), float(g[2])), float(g[3])


@dataclass(frozen=True)
class VideoPlan:
    """Everything needed to render one video, and what ``dataset.json`` records about it.

    Attributes:
        class_index: 0-based class index (the photograph ``PHOTOS[class_index]``).
        split: ``"train"`` or ``"test"``.
        group: 1-based UCF101 group number.
        clip: 1-based UCF101 clip number inside the group.
        fps: Frame rate.
        size: Frame ``(height, width)``.
        windows: Camera window per frame, ``(frames, 4)``.
        foreground: The group's digit sprite.
        sprite_xy: Sprite top-left ``(y, x)`` per frame, ``(frames, 2)``.
        gains: Per-channel RGB gains of the video's lighting (1 = unchanged).
        gamma: Gamma of the video's lighting (1 = unchanged).
    """

    class_index: int
    split: str
    group: int
    clip: int
    fps: int
    size: tuple[int, int]
    windows: np.ndarray
    foreground: Foreground
    sprite_xy: np.ndarray
    gains: tuple[float, float, float] = (1.0, 1.0, 1.0)
    gamma: float = 1.0


def plan_video(
    seed: int,
    class_index: int,
    split: str,
    group: int,
    clip: int,
    *,
    photo_hw: tuple[int, int],
    num_digits: int,
    frames: int,
    size: tuple[int, int],
    fps: int,
    lighting: float = 0.0,
) -> VideoPlan:
    """Plan one video deterministically from ``(seed, class_index, split, group, clip)``.

    Args:
        seed: Dataset seed.
        class_index: 0-based class (photograph) index.
        split: ``"train"`` or ``"test"``: which region of the photograph the camera stays in.
        group: 1-based group; every clip of a group has the same foreground digit.
        clip: 1-based clip number in the group.
        photo_hw: Photograph ``(height, width)``.
        num_digits: Number of digit sprites available.
        frames: Frames per video.
        size: Frame ``(height, width)``.
        fps: Frame rate.
        lighting: Strength of the video's lighting change (see :func:`draw_lighting`); 0 leaves colours as shot.

    Returns:
        The video's plan.
    """
    regions = split_regions(*photo_hw)
    aspect = size[1] / size[0]
    base = max_window_height(regions, aspect)
    key = [seed, class_index, SPLIT_CODES[split], group]
    fg = draw_foreground(np.random.default_rng(np.random.SeedSequence(key)), num_digits, size)
    rng = np.random.default_rng(np.random.SeedSequence([*key, clip]))
    windows = camera_path(rng, regions[split], base, aspect, frames)
    sprite_xy = sprite_path(rng, size, fg.side, fps, frames)
    gains, gamma = draw_lighting(rng, lighting)
    return VideoPlan(class_index, split, group, clip, fps, size, windows, fg, sprite_xy, gains, gamma)


def bounding_box(windows: np.ndarray) -> Box:
    """Return the smallest box holding every window of a camera path."""
    return (
        float(windows[:, 0].min()),
        float(windows[:, 1].min()),
        float(windows[:, 2].max()),
        float(windows[:, 3].max()),
    )
