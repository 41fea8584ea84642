"""The theme's owner colours stay apart, so a map cell's owner can be told at a glance."""

import itertools

from kmviz.widgets import theme
from kmviz.widgets.timeline import FILE, PAGES


def cie_lab(hexcode: str) -> tuple[float, float, float]:
    """An sRGB colour "#rrggbb" in CIE L*a*b* (D65)."""
    rgb = [int(hexcode[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb)
    xyz = (
        (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047,
        0.2126 * r + 0.7152 * g + 0.0722 * b,
        (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883,
    )
    fx, fy, fz = (t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116 for t in xyz)
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def delta_e(first: str, second: str) -> float:
    """CIE76 colour difference: about 2.3 is just noticeable, 50 is a different colour."""
    return sum((p - q) ** 2 for p, q in zip(cie_lab(first), cie_lab(second), strict=True)) ** 0.5


def test_page_cache_is_a_different_colour_from_the_page_allocator():
    assert delta_e(theme.OWNER_COLOURS[PAGES], theme.OWNER_COLOURS[FILE]) > 50


def test_no_two_owners_share_nearly_the_same_colour():
    pairs = itertools.combinations(theme.OWNER_COLOURS.values(), 2)
    assert min(delta_e(a, b) for a, b in pairs) > 15
