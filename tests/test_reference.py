"""The scene-file reference in docs/ is the one the schema generates."""

from pathlib import Path

from groundforge.assets.procedural import PRODUCTS
from groundforge.reference import scene_reference
from groundforge.spec.scene import CameraSpec, Scene

DOC = Path(__file__).parents[1] / "docs" / "scene-reference.md"


def test_reference_file_is_generated_from_the_schema():
    assert DOC.read_text(encoding="utf-8") == scene_reference(), (
        "docs/scene-reference.md is stale: run `groundforge schema --out docs/scene-reference.md`"
    )


def test_reference_names_every_field_and_product():
    text = scene_reference()
    for model in (Scene, CameraSpec):
        for name, info in model.model_fields.items():
            assert f"| `{info.alias or name}` |" in text
    for product, kind in PRODUCTS.items():
        assert f"| `{product}` |" in text
        assert all(f"`{p}`" in text for p in kind.params)
