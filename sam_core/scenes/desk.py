"""Desk scene: a laptop (screen + keyboard), a coffee mug with a handle on a saucer, a notebook and a pen
on a wooden desk in front of a wall. The part / object / group example: handle -> mug -> mug_saucer."""

from __future__ import annotations

import math

import numpy as np

from .canvas import Canvas, darker, ellipse_pts, jitter, rect_pts
from .textures import COARSE, FBM, FINE, WOOD

WALLS = [(214, 205, 190), (190, 198, 205), (225, 222, 214), (170, 180, 165), (205, 185, 170)]
WOODS = [(150, 105, 65), (100, 64, 38), (192, 152, 106), (128, 84, 52), (168, 160, 150)]
LAPTOPS = {"silver": (186, 189, 194), "grey": (92, 94, 100), "black": (42, 42, 46), "white": (226, 226, 229)}
MUGS = {"white": (232, 230, 226), "red": (190, 40, 38), "blue": (40, 80, 170), "yellow": (230, 190, 50),
        "green": (60, 140, 80), "black": (38, 38, 40), "teal": (40, 150, 150), "orange": (225, 120, 40)}
COVERS = {"black": (35, 35, 40), "red": (170, 40, 40), "blue": (40, 70, 140), "green": (50, 110, 70),
          "brown": (120, 80, 50), "yellow": (220, 180, 60), "grey": (120, 120, 125)}
PENS = {"blue": (40, 60, 170), "black": (30, 30, 32), "red": (180, 30, 30), "silver": (170, 172, 178)}


def _pick(rng: np.random.Generator, table: dict):
    name = list(table)[int(rng.integers(len(table)))]
    return name, jitter(rng, table[name], 10)


def _bilerp(corners, u: float, v: float):
    """Point at (u, v) in a quad given as (back-left, back-right, front-left, front-right)."""
    (blx, bly), (brx, bry), (flx, fly), (frx, fry) = corners
    x = (1 - v) * ((1 - u) * blx + u * brx) + v * ((1 - u) * flx + u * frx)
    y = (1 - v) * ((1 - u) * bly + u * bry) + v * ((1 - u) * fly + u * fry)
    return (x, y)


def _quad(corners, u0, u1, v0, v1):
    return [_bilerp(corners, u0, v0), _bilerp(corners, u1, v0), _bilerp(corners, u1, v1), _bilerp(corners, u0, v1)]


def _laptop_geom(rng: np.random.Generator, lx: float, by: float) -> dict:
    w = rng.uniform(92, 128)
    yb = by - w * rng.uniform(0.28, 0.36)
    shear = rng.uniform(-8, 8)
    fw, bw = w / 2, w / 2 * rng.uniform(0.84, 0.9)
    deck_q = ((lx - bw + shear, yb), (lx + bw + shear, yb), (lx - fw, by), (lx + fw, by))
    return dict(lx=lx, by=by, w=w, yb=yb, deck_q=deck_q)


def _laptop_shadow(cv: Canvas, g: dict, desk: int) -> None:
    q = g["deck_q"]
    cv.poly([(x + 5, y + 4) for x, y in (q[0], q[1], q[3], q[2])], cv.shadow_of(desk, 0.55))


def _laptop(cv: Canvas, rng: np.random.Generator, g: dict) -> None:
    lx, by, w, yb, deck_q = g["lx"], g["by"], g["w"], g["yb"], g["deck_q"]
    cname, col = _pick(rng, LAPTOPS)
    big = dict(center=(lx, yb), radius=w)
    deck = cv.material(col, tex=FINE, amp=4, grad=(0.05, 0.12), **big)
    front = cv.material(darker(col, 0.7), tex=FINE, amp=3, **big)
    lid = cv.material(darker(col, 0.92), tex=FINE, amp=4, grad=(0.08, 0.1), **big)
    bezel = cv.material(jitter(rng, (26, 26, 30), 6), tex=FINE, amp=2, **big)
    cv.poly([deck_q[2], deck_q[3], (deck_q[3][0], by + 3.5), (deck_q[2][0], by + 3.5)], front)
    cv.poly([deck_q[0], deck_q[1], deck_q[3], deck_q[2]], deck)
    # keyboard: dark well with a grid of keys
    kq = _quad(deck_q, 0.07, 0.93, 0.1, 0.58)
    kq_corners = (kq[0], kq[1], kq[3], kq[2])
    kbg = cv.material(darker(col, 0.45) if sum(col) > 300 else (22, 22, 24), tex=FINE, amp=2, **big)
    key = cv.material(jitter(rng, (40, 40, 44), 8) if rng.random() < 0.6 else darker(col, 0.85),
                      tex=FINE, amp=3, grad=(0.0, 0.15), **big)
    cv.poly(kq, kbg)
    rows, ncols = 4, int(rng.integers(10, 14))
    for r in range(rows):
        for c in range(ncols):
            cv.poly(_quad(kq_corners, (c + 0.12) / ncols, (c + 0.88) / ncols, (r + 0.15) / rows,
                          (r + 0.85) / rows), key)
    pad = cv.material(darker(col, 0.9), tex=FINE, amp=3, **big)
    cv.poly(_quad(deck_q, 0.38, 0.62, 0.66, 0.92), pad)
    # lid with the display
    h = w * rng.uniform(0.55, 0.68)
    lean = rng.uniform(-5, 5)
    lid_q = ((deck_q[0][0] - 2 + lean, yb - h), (deck_q[1][0] + 2 + lean, yb - h), deck_q[0], deck_q[1])
    cv.poly([lid_q[0], lid_q[1], lid_q[3], lid_q[2]], lid)
    cv.poly(_quad(lid_q, 0.02, 0.98, 0.02, 0.96), bezel)
    dq = _quad(lid_q, 0.06, 0.94, 0.07, 0.9)
    dcx, dcy = (dq[0][0] + dq[2][0]) / 2, (dq[0][1] + dq[2][1]) / 2
    wall = jitter(rng, [(40, 90, 160), (30, 120, 110), (120, 60, 140), (200, 120, 60), (30, 40, 70)][
        int(rng.integers(5))], 20)
    disp = cv.material(wall, tex=COARSE, amp=(18, 14, 20), amp2=0.1, center=(dcx, dcy), radius=w / 2,
                       grad=(rng.uniform(-0.3, 0.3), rng.uniform(-0.4, 0.1)))
    cv.poly(dq, disp)
    screen_labels = [disp]
    d_corners = (dq[0], dq[1], dq[3], dq[2])
    for _ in range(int(rng.integers(0, 3))):
        u0, v0 = rng.uniform(0.05, 0.5), rng.uniform(0.08, 0.5)
        win = cv.material(jitter(rng, (228, 230, 235), 10), tex=FINE, amp=3, center=(dcx, dcy), radius=w)
        cv.poly(_quad(d_corners, u0, u0 + rng.uniform(0.25, 0.45), v0, v0 + rng.uniform(0.25, 0.45)), win)
        screen_labels.append(win)
    laptop = cv.obj("laptop", f"{cname} laptop", "object", [deck, front, lid, bezel, pad], color=cname)
    cv.obj("screen", "laptop screen", "part", screen_labels, parent=laptop)
    cv.obj("keyboard", "laptop keyboard", "part", [kbg, key], parent=laptop)


def _mug_geom(rng: np.random.Generator, mx: float, sy: float) -> dict:
    mw = rng.uniform(30, 42)
    srx = mw * rng.uniform(0.92, 1.08)
    return dict(mx=mx, sy=sy, mw=mw, mh=mw * rng.uniform(0.95, 1.2), srx=srx, sry=srx * rng.uniform(0.25, 0.32))


def _mug_shadow(cv: Canvas, g: dict, desk: int) -> None:
    cv.ellipse(g["mx"] + 4, g["sy"] + 3, g["srx"] * 1.03, g["sry"] * 1.15, cv.shadow_of(desk, 0.6))


def _mug(cv: Canvas, rng: np.random.Generator, g: dict) -> None:
    mx, sy, mw, mh, srx, sry = g["mx"], g["sy"], g["mw"], g["mh"], g["srx"], g["sry"]
    cname, col = _pick(rng, MUGS)
    sname, scol = (cname, col) if rng.random() < 0.4 else ("white", jitter(rng, MUGS["white"], 8))
    light = rng.uniform(-0.3, 0.3)
    saucer = cv.material(scol, tex=FINE, amp=3, center=(mx + light * srx, sy - sry), radius=srx * 1.1,
                         radial=-0.3)
    well = cv.material(darker(scol, 0.88), tex=FINE, amp=3, center=(mx, sy), radius=srx, radial=-0.2)
    cv.ellipse(mx, sy, srx, sry, saucer)
    ybot = sy - sry * 0.2
    ytop = ybot - mh
    rim = mw / 2 * 0.3
    cv.ellipse(mx, ybot + 0.5, mw * 0.42, rim * 0.9, well)
    side = 1 if rng.random() < 0.5 else -1
    if abs(light) < 0.1:
        light = -0.2 * side
    hrx, hry = mh * rng.uniform(0.24, 0.3), mh * rng.uniform(0.27, 0.33)
    hcx, hcy = mx + side * (mw / 2 + hrx * 0.15), ytop + mh * rng.uniform(0.38, 0.5)
    shade = dict(tex=FINE, amp=4, amp2=0.04, radial=-0.35)
    handle = cv.material(col, center=(hcx + side * hrx * 0.3, hcy), radius=hrx * 1.6, **shade)
    cv.ring(hcx, hcy, hrx, hry, max(4.2, mw * 0.16), handle)
    body = cv.material(col, center=(mx + light * mw, (ytop + ybot) / 2), radius=mw * 0.75, **shade)
    pts = ellipse_pts(mx, ytop, mw / 2, rim, a0=math.pi, a1=2 * math.pi, n=16) + ellipse_pts(
        mx, ybot, mw / 2, rim, a0=0.0, a1=math.pi, n=16)
    cv.poly(pts, body)
    drink = [(70, 42, 25), (120, 80, 50), (25, 20, 18)][int(rng.integers(3))]
    inside = cv.material(jitter(rng, drink, 10), tex=FBM, amp=5, center=(mx, ytop - rim), radius=mw / 2,
                         grad=(0, 0.3))
    cv.ellipse(mx, ytop, mw / 2 * 0.86, rim * 0.75, inside)
    group = cv.obj("mug_saucer", f"{cname} mug on a saucer", "group", [], color=cname)
    cv.obj("saucer", f"{sname} saucer", "object", [saucer, well], parent=group, color=sname)
    mug = cv.obj("mug", f"{cname} coffee mug", "object", [body, inside], parent=group, color=cname)
    cv.obj("handle", "mug handle", "part", [handle], parent=mug, color=cname)


def _notebook_and_pen(cv: Canvas, rng: np.random.Generator, nx: float, ny: float, desk: int) -> None:
    nw, nh = rng.uniform(55, 80), rng.uniform(40, 55)
    ang = rng.uniform(-0.45, 0.45)
    cname, col = _pick(rng, COVERS)
    sh = cv.shadow_of(desk, 0.62)
    cv.poly(rect_pts(nx + 3, ny + 3, nw + 2, nh + 2, ang), sh)
    pages = cv.material(jitter(rng, (236, 232, 220), 8), tex=WOOD, amp=6, center=(nx, ny), radius=nw)
    cv.poly(rect_pts(nx + 1.5, ny + 2, nw, nh, ang), pages)
    cover = cv.material(col, tex=FBM, amp=8, amp2=0.08, center=(nx - nw / 3, ny - nh / 3), radius=nw,
                        grad=(-0.1, -0.1))
    cv.poly(rect_pts(nx, ny, nw, nh, ang), cover)
    labels = [pages, cover]
    if rng.random() < 0.6:
        band = cv.material(darker(col, 0.45), tex=FINE, amp=3)
        off = nw * 0.36
        cv.poly(rect_pts(nx + off * math.cos(ang), ny + off * math.sin(ang), 3.0, nh, ang), band)
        labels.append(band)
    cv.obj("notebook", f"{cname} notebook", "object", labels, color=cname)
    # pen, lying on the notebook or next to it
    pname, pcol = _pick(rng, PENS)
    plen, pang = rng.uniform(38, 56), rng.uniform(-math.pi, math.pi)
    px, py = nx + rng.uniform(-nw / 2, nw / 2), ny + rng.uniform(-nh / 2, nh / 2 + 15)
    dx, dy = math.cos(pang) * plen / 2, math.sin(pang) * plen / 2
    barrel = cv.material(pcol, tex=FINE, amp=3, center=(px, py - 2), radius=3, radial=-0.08)
    cap = cv.material(darker(pcol, 0.6) if rng.random() < 0.5 else jitter(rng, (200, 200, 205), 6),
                      tex=FINE, amp=2)
    cv.line([(px - dx, py - dy), (px + dx, py + dy)], 3.8, barrel)
    cv.line([(px + dx * 0.55, py + dy * 0.55), (px + dx, py + dy)], 4.2, cap)
    cv.obj("pen", f"{pname} pen", "object", [barrel, cap], color=pname)


def draw_desk(cv: Canvas, rng: np.random.Generator) -> None:
    cv.set_view(rng, 1.2, 0.4)
    hy = rng.uniform(28, 70)
    wall = cv.material(jitter(rng, WALLS[int(rng.integers(len(WALLS)))], 10), tex=FBM, amp=4, amp2=0.08,
                       grad=(rng.uniform(-0.15, 0.15), -0.1))
    cv.fill(wall)
    wood = jitter(rng, WOODS[int(rng.integers(len(WOODS)))], 12)
    desk = cv.material(wood, tex=WOOD, amp=(24, 17, 10), amp2=0.1, grad=(rng.uniform(-0.15, 0.15), 0.12))
    cv.rect(-2, hy, 260, 260, desk)
    edge = cv.material(darker(wood, 0.7), tex=WOOD, amp=(10, 7, 4))
    cv.rect(-2, hy, 260, hy + 2.5, edge)
    laptop_left = rng.random() < 0.5
    lx = rng.uniform(62, 105) if laptop_left else rng.uniform(151, 194)
    mx = rng.uniform(175, 218) if laptop_left else rng.uniform(38, 81)
    lby = rng.uniform(max(hy + 70, 150), 212)
    sy = rng.uniform(max(hy + 70, 165), 228)
    lg, mg = _laptop_geom(rng, lx, lby), _mug_geom(rng, mx, sy)
    _laptop_shadow(cv, lg, desk)
    _mug_shadow(cv, mg, desk)
    _notebook_and_pen(cv, rng, rng.uniform(50, 206), rng.uniform(hy + 40, 230), desk)
    if lby < sy:
        _laptop(cv, rng, lg)
        _mug(cv, rng, mg)
    else:
        _mug(cv, rng, mg)
        _laptop(cv, rng, lg)
