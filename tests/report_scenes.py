"""The small belt scene the report tests generate their datasets from."""

BODY = """\
classes: [bottle, can, carton]
assets:
  bottle: {class: bottle, product: bottle}
  can: {class: can, product: can}
  carton: {class: carton, product: box}
environment:
  belt: {length: 2.0, width: 0.5, height: 0.8}
objects:
  - asset: {dist: choice, values: [bottle, can, carton]}
    count: {dist: randint, min: 3, max: 6}
    region: [-0.4, 0.4, -0.23, 0.23]
lights: [{type: directional, intensity: 2.0}, {type: ambient, intensity: 0.3}]
cameras:
  - {name: top, resolution: [128, 96], fov_deg: 60, position: [0, 0, 1.9], look_at: [0, 0, 0.8],
     up: [0, 1, 0]}
"""
SIDE = """\
  - {name: side, resolution: [128, 96], fov_deg: 55, position: [0.2, -1.2, 1.4],
     look_at: [0, 0, 0.85]}
"""


def small_scene(name: str, seed: int, side_camera: bool = True) -> str:
    """Mixed products on a belt under a top camera (and a side one)."""
    return f"name: {name}\nseed: {seed}\n" + BODY + (SIDE if side_camera else "")
