"""How much of an object the camera sees."""

from __future__ import annotations


def visible_fraction(pixel_count: int, unoccluded_count: int) -> float:
    """Visible pixels over the pixels the object would cover unoccluded, in [0, 1].

    0 when the unoccluded count is 0; capped at 1 because both counts come from sampling and an
    engine may disagree with itself by a pixel at a silhouette.
    """
    if unoccluded_count <= 0:
        return 0.0
    return min(1.0, pixel_count / unoccluded_count)
