"""Person scene: a person (head, arms, legs) in a shirt with 3-5 buttons, standing in a room.
The part / object / group example: button -> shirt -> person."""

from __future__ import annotations

import math

import numpy as np

from .canvas import Canvas, blob_pts, darker, jitter
from .textures import COARSE, FBM, FINE, WOOD

WALLS = [(215, 205, 185), (180, 195, 205), (200, 200, 195), (190, 170, 150), (165, 185, 160)]
FLOORS = [(140, 100, 65), (110, 110, 115), (170, 140, 100), (90, 70, 55)]
SKINS = [(236, 200, 170), (210, 160, 120), (165, 115, 80), (120, 80, 55), (245, 215, 190)]
HAIRS = [(35, 25, 20), (90, 60, 35), (160, 120, 70), (200, 170, 110), (60, 55, 55), (130, 50, 30)]
SHIRTS = {"blue": (60, 100, 175), "white": (232, 232, 228), "red": (180, 40, 45), "green": (60, 130, 80),
          "light blue": (150, 185, 220), "yellow": (225, 195, 80), "pink": (225, 160, 170), "grey": (130, 130, 135)}
TROUSERS = {"blue": (50, 70, 110), "black": (35, 35, 40), "khaki": (175, 155, 115), "grey": (100, 100, 105)}
BUTTONS = {"white": (240, 238, 230), "black": (25, 25, 25), "brown": (110, 70, 40), "gold": (200, 165, 70)}


def _pick(rng: np.random.Generator, table):
    if isinstance(table, dict):
        name = list(table)[int(rng.integers(len(table)))]
        return name, jitter(rng, table[name], 10)
    return None, jitter(rng, table[int(rng.integers(len(table)))], 10)


def _room(cv: Canvas, rng: np.random.Generator) -> None:
    wall = cv.material(_pick(rng, WALLS)[1], tex=FBM, amp=5, amp2=0.1, grad=(rng.uniform(-0.2, 0.2), 0.08),
                       radial=-0.1)
    cv.fill(wall)
    fy = rng.uniform(185, 225)
    _, fcol = _pick(rng, FLOORS)
    floor = cv.material(fcol, tex=WOOD, amp=(18, 13, 9), amp2=0.1, grad=(0, 0.2))
    cv.rect(-2, fy, 260, 260, floor)
    cv.rect(-2, fy - 5, 260, fy, cv.material(jitter(rng, (235, 232, 225), 6), tex=FINE, amp=2))
    # a framed picture or a window on the wall
    if rng.random() < 0.8:
        x0 = rng.choice([rng.uniform(5, 40), rng.uniform(170, 215)])
        y0, w, h = rng.uniform(20, 60), rng.uniform(35, 55), rng.uniform(30, 60)
        frame = cv.material(jitter(rng, (90, 60, 40), 25), tex=WOOD, amp=8)
        art = cv.material(jitter(rng, (120, 150, 170), 50), tex=COARSE, amp=(40, 30, 20), amp2=0.2,
                          center=(x0, y0), radius=w, grad=(0.2, 0.3))
        cv.rect(x0, y0, x0 + w, y0 + h, frame)
        cv.rect(x0 + 3.5, y0 + 3.5, x0 + w - 3.5, y0 + h - 3.5, art)
    cv.ellipse(128, fy + 20, 60, 8, cv.shadow_of(floor, 0.7))


def draw_person(cv: Canvas, rng: np.random.Generator) -> None:
    cv.set_view(rng, 1.3, 0.6)
    _room(cv, rng)
    sc = rng.uniform(0.85, 1.15)
    px = rng.uniform(95, 161)
    top = rng.uniform(22, 40)
    lean = rng.uniform(-4, 4)

    def P(x, y):  # person-relative coords (design units at scale 1) -> design px
        return (px + (x + lean * y / 100) * sc, top + y * sc)

    _, skin = _pick(rng, SKINS)
    _, hair_c = _pick(rng, HAIRS)
    sname, scol = _pick(rng, SHIRTS)
    tname, tcol = _pick(rng, TROUSERS)
    bname, bcol = _pick(rng, BUTTONS)
    if sum(abs(a - b) for a, b in zip(scol, bcol, strict=True)) < 120:
        bname, bcol = ("black", jitter(rng, BUTTONS["black"], 5)) if sum(scol) > 400 else ("white", BUTTONS["white"])
    body_c, r = P(0, 100), 70 * sc
    skin_m = cv.material(skin, tex=FINE, amp=3, center=P(-8, 30), radius=25 * sc, radial=-0.12)
    shirt_m = cv.material(scol, tex=FINE, amp=5, amp2=0.12, center=P(-15, 70), radius=r, radial=-0.12)
    sleeve_m = cv.material(darker(scol, 0.9), tex=FINE, amp=5, amp2=0.12, center=body_c, radius=r)
    trouser_m = cv.material(tcol, tex=FINE, amp=7, amp2=0.12, center=P(0, 170), radius=r, grad=(0, 0.15))
    shoe_m = cv.material(jitter(rng, (40, 30, 25), 15), tex=FINE, amp=3)
    hair_m = cv.material(hair_c, tex=FINE, amp=10, amp2=0.15, center=P(-5, 15), radius=25 * sc, radial=-0.2)
    feat_m = cv.material(jitter(rng, (45, 30, 25), 8), tex=FINE, amp=2)

    # legs (trousers) and shoes
    legs = []
    stance = rng.uniform(6, 16)
    for side in (-1, 1):
        leg_m = trouser_m if side < 0 else cv.material(darker(tcol, 0.92), tex=FINE, amp=7, amp2=0.12)
        x_hip, x_foot = side * 13, side * stance + side * 8
        cv.poly([P(x_hip - 13, 150), P(x_hip + 13, 150), P(x_foot + 9, 225), P(x_foot - 9, 225)], leg_m)
        cv.ellipse(*P(x_foot + side * 3, 227), 13 * sc, 6 * sc, shoe_m)
        legs.append(leg_m)
    # arms: sleeve + forearm + hand, pose varies
    arms = []
    long_sleeve = rng.random() < 0.5
    for side in (-1, 1):
        arm_m = cv.material(darker(skin, 0.95), tex=FINE, amp=3, center=body_c, radius=r, grad=(0, 0.1))
        a1 = math.radians(rng.uniform(5, 30)) * side
        a2 = a1 + math.radians(rng.uniform(-10, 45)) * side
        sh = (side * 38, 64)
        el = (sh[0] + 38 * math.sin(a1), sh[1] + 38 * math.cos(a1))
        wr = (el[0] + 36 * math.sin(a2), el[1] + 36 * math.cos(a2))
        cv.line([P(*sh), P(*el)], 15 * sc, arm_m)
        cv.line([P(*el), P(*wr)], 12 * sc, arm_m)
        cv.ellipse(*P(wr[0], wr[1] + 5), 6.5 * sc, 8 * sc, arm_m)
        if long_sleeve:
            cv.line([P(*sh), P(*el)], 17 * sc, sleeve_m)
            cv.line([P(*el), P(*wr)], 14 * sc, sleeve_m)
        else:
            cv.line([P(*sh), P(sh[0] + 0.55 * (el[0] - sh[0]), sh[1] + 0.55 * (el[1] - sh[1]))], 17 * sc, sleeve_m)
        arms.append(arm_m)
    # neck, head, hair, face
    cv.rect(*P(-8, 40), *P(8, 62), skin_m)
    cv.ellipse(*P(0, 26), 17 * sc, 21 * sc, skin_m)
    cv.poly(blob_pts(rng, *P(0, 14), 18.5 * sc, 13 * sc, wobble=0.12), hair_m)
    for ex in (-6.5, 6.5):
        cv.ellipse(*P(ex, 27), 2.0 * sc, 1.6 * sc, feat_m)
    cv.line([P(-5, 38), P(5, 38)], 1.6 * sc, feat_m)
    # shirt torso, collar, placket, buttons
    cv.poly([P(-38, 56), P(-8, 54), P(0, 66), P(8, 54), P(38, 56), P(44, 78), P(36, 88), P(33, 155),
             P(-33, 155), P(-36, 88), P(-44, 78)], shirt_m)
    collar_m = cv.material(darker(scol, 0.82), tex=FINE, amp=4)
    cv.poly([P(-12, 53), P(0, 68), P(-3, 74), P(-15, 60)], collar_m)
    cv.poly([P(12, 53), P(0, 68), P(3, 74), P(15, 60)], collar_m)
    placket_m = cv.material(darker(scol, 0.88), tex=FINE, amp=4)
    cv.rect(*P(-3.2, 68), *P(3.2, 155), placket_m)
    n_buttons = int(rng.integers(3, 6))
    ys = np.linspace(80, 145, n_buttons)
    br = max(3.4, 3.4 * sc)
    buttons = []
    for y in ys:
        cx, cy = P(0, float(y))
        bm = cv.material(bcol, tex=FINE, amp=3, center=(cx - br / 3, cy - br / 3), radius=br * 1.5, radial=-0.35)
        cv.ellipse(cx, cy, br, br, bm)
        buttons.append(bm)
    extra = [shoe_m]
    if rng.random() < 0.3:  # a belt between shirt and trousers
        extra.append(cv.material(jitter(rng, (60, 40, 30), 10), tex=FINE, amp=3))
        cv.rect(*P(-33, 150), *P(33, 157), extra[-1])
    person = cv.obj("person", f"person in a {sname} shirt", "group", extra)
    shirt = cv.obj("shirt", f"{sname} shirt", "object", [shirt_m, sleeve_m, collar_m, placket_m], parent=person,
                   color=sname)
    for i, bm in enumerate(buttons):
        cv.obj("button", f"{bname} shirt button", "part", [bm], parent=shirt, color=bname, index=i)
    cv.obj("head", "head", "part", [skin_m, hair_m, feat_m], parent=person)
    for arm_m in arms:
        cv.obj("arm", "arm", "part", [arm_m], parent=person)
    for leg_m in legs:
        cv.obj("leg", f"leg in {tname} trousers", "part", [leg_m], parent=person, color=tname)
