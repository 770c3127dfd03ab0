"""Names for SAM's point labels (the integers its prompt encoder reads), shared by every family.

SAM 1 and SAM 2 encode a box as two labelled corner points; a padding point (label -1) is appended when
there is no box, and gets only the `not_a_point_embed`.
"""

PADDING = -1  # not a point: appended by the prompt encoder when no box is given
BACKGROUND = 0  # "not this": a negative click
FOREGROUND = 1  # "this": a positive click
BOX_TOP_LEFT = 2  # a box's (x0, y0) corner
BOX_BOTTOM_RIGHT = 3  # a box's (x1, y1) corner
