"""The `groundforge` command."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from groundforge.spec.errors import SceneError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Generate exactly labelled synthetic images of products in factory scenes.",
)
console = Console(soft_wrap=True)
errors = Console(stderr=True)

EXIT_BAD_INPUT = 2


def _fail(message: str) -> None:
    errors.print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


@app.command()
def generate(
    scene: Annotated[str, typer.Option("--scene", "-s", help="built-in scene name or YAML path")],
    out: Annotated[Path, typer.Option("--out", "-o", help="dataset folder to write")],
    count: Annotated[
        int, typer.Option("--count", "-n", min=1, help="shots (or sequences) to render")
    ] = 10,
    seed: Annotated[int | None, typer.Option(help="batch seed (default: the scene's)")] = None,
    workers: Annotated[int, typer.Option(min=1, help="processes rendering in parallel")] = 1,
    first: Annotated[int, typer.Option(min=0, help="index of the first shot (or sequence)")] = 0,
    yolo: Annotated[bool | None, typer.Option("--yolo/--no-yolo", help="YOLO labels")] = None,
    report: Annotated[
        bool, typer.Option("--report/--no-report", help="write OUT/report at the end")
    ] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Render a batch of shots and write the labelled dataset to OUT (resumes if interrupted)."""
    _logging(verbose)
    from groundforge.run.batch import OutputError, images_per_unit
    from groundforge.run.batch import generate as run_generate
    from groundforge.world.build import open_scene

    try:
        loaded = open_scene(scene)
    except SceneError as err:
        _fail(err.render())
    per_unit = images_per_unit(loaded.scene)
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("images", total=count * per_unit, rate="")

        def on_shot(result) -> None:
            progress.advance(task, result.images + result.existing)
            elapsed = progress.tasks[0].elapsed or 0.0
            done = progress.tasks[0].completed
            if elapsed > 0:
                progress.update(task, rate=f"{done / elapsed:.1f} img/s")

        try:
            summary = run_generate(
                scene,
                out,
                count,
                seed=seed,
                workers=workers,
                first=first,
                yolo=yolo,
                on_shot=on_shot,
            )
        except SceneError as err:
            _fail(err.render())
        except OutputError as err:
            _fail(str(err))
    if report:
        from groundforge.report.build import build_report

        build_report(out, out / "report", limit=100)  # a quick look; `report` does more
    table = Table(show_header=False, box=None)
    table.add_row(
        "images",
        f"{summary.images} written"
        + (f", {summary.existing} already there" if summary.existing else ""),
    )
    table.add_row("objects", f"{summary.objects} labelled")
    table.add_row(
        "time",
        f"{summary.seconds:.1f} s ({summary.images / summary.seconds:.1f} img/s)"
        if summary.seconds > 0
        else "-",
    )
    table.add_row("dataset", str(out.resolve()))
    if report:
        table.add_row("report", str((out / "report" / "report.html").resolve()))
    table.add_row(
        "manifests",
        "manifest.jsonl (Ground Truth), coco.json"
        + (", YOLO labels" if (out / "data.yaml").exists() else ""),
    )
    console.print(table)


@app.command()
def scenes() -> None:
    """List the built-in scenes."""
    from groundforge.spec.load import builtin_scenes

    for name, description in builtin_scenes().items():
        console.print(f"[bold]{name}[/]  {description}", highlight=False)


@app.command()
def validate(scene: Annotated[str, typer.Argument(help="built-in scene name or YAML path")]):
    """Check a scene file and report every problem; writes nothing."""
    from groundforge.world.build import open_scene

    try:
        loaded = open_scene(scene)
    except SceneError as err:
        _fail(err.render())
    s = loaded.scene
    console.print(
        f"{loaded.source}: valid ({len(s.classes)} classes, {len(s.assets)} assets, "
        f"{len(s.cameras)} cameras)",
        highlight=False,
    )


@app.command()
def preview(
    dataset: Annotated[Path, typer.Argument(help="a dataset folder written by generate")],
    out: Annotated[Path | None, typer.Option(help="PNG to write")] = None,
    count: Annotated[int, typer.Option(min=1, help="images on the sheet")] = 8,
) -> None:
    """Write a contact sheet: a few images with boxes, class names and mask outlines."""
    from groundforge.export.preview import contact_sheet

    if not (dataset / "dataset.json").is_file():
        _fail(
            f"{dataset} is not a groundforge dataset (no dataset.json); give the --out folder "
            "of a generate run"
        )
    target = out or dataset / "preview.png"
    contact_sheet(dataset, target, count=count)
    console.print(f"contact sheet written to {target}", highlight=False)


@app.command("defect-sheet")
def defect_sheet_command(
    scene: Annotated[str, typer.Argument(help="scene file, or the name of a built-in scene")],
    out: Annotated[Path, typer.Option(help="PNG to write")] = Path("defect-types.png"),
) -> None:
    """Write a contact sheet of every defect type the scene declares, each cropped around
    one example with its mask outlined."""
    from groundforge.defects.sheet import defect_sheet
    from groundforge.world.build import open_scene

    try:
        loaded = open_scene(scene)
    except SceneError as err:
        _fail(err.render())
    if not loaded.scene.defects:
        _fail(f"{loaded.source} declares no `defects`; add a `defects:` section (see the README)")
    path = defect_sheet(loaded, out)
    console.print(f"defect sheet written to {path}", highlight=False)


@app.command()
def report(
    dataset: Annotated[Path, typer.Argument(help="a dataset folder written by generate")],
    out: Annotated[
        Path | None, typer.Option(help="folder for report.html, plots/ and csv/")
    ] = None,
    real: Annotated[
        Path | None,
        typer.Option(
            help="real images to compare with: a folder, a SageMaker Ground Truth manifest "
            "(.manifest, .jsonl) or a COCO .json; labels, when there, are compared too"
        ),
    ] = None,
    real_images: Annotated[
        Path | None,
        typer.Option(
            help="folder that the manifest's or COCO file's relative image paths are in "
            "(default: the file's own folder)"
        ),
    ] = None,
    match_format: Annotated[
        bool,
        typer.Option(
            "--match-format",
            help="resize both sets so their shorter side is the smaller of the two sets' median "
            "shorter sides, and re-encode them as JPEG, before any statistic: file format then "
            "cannot give the images away",
        ),
    ] = False,
    jpeg_quality: Annotated[
        int, typer.Option(min=1, max=100, help="JPEG quality of --match-format")
    ] = 90,
    embedder: Annotated[
        str,
        typer.Option(
            help="network for the deep-feature comparison: efficientnet-lite0 (built in), "
            "the path of a .onnx model, or none"
        ),
    ] = "efficientnet-lite0",
    limit: Annotated[int, typer.Option(min=1, help="images per side whose statistics count")] = 300,
) -> None:
    """Write the diversity report of a dataset (and its fidelity against real images):
    one HTML file, its plots and their CSVs."""
    from rich.markup import escape

    from groundforge.report.build import build_report

    if not (dataset / "dataset.json").is_file():
        _fail(
            f"{dataset} is not a groundforge dataset (no dataset.json); give the --out folder "
            "of a generate run"
        )
    if real is None and (match_format or real_images is not None):
        _fail("--match-format and --real-images compare with real images: give --real too")
    try:
        path = build_report(
            dataset,
            out or dataset / "report",
            real=real,
            limit=limit,
            real_images_root=real_images,
            match_format=match_format,
            jpeg_quality=jpeg_quality,
            embedder=None if embedder.lower() == "none" else embedder,
        )
    except ValueError as err:
        # Messages quote JSON fields such as "bbox [x, y, width, height]", which rich would
        # otherwise read as markup.
        _fail(escape(str(err)))
    console.print(f"report written to {path}", highlight=False)


@app.command()
def schema(
    out: Annotated[Path | None, typer.Option(help="write the reference here")] = None,
) -> None:
    """Print the scene-file reference (Markdown), generated from the schema."""
    from groundforge.reference import scene_reference

    text = scene_reference()
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")


@app.command("export")
def export_dataset(
    dataset: Annotated[Path, typer.Argument(help="a dataset folder written by generate")],
    export_format: Annotated[
        str, typer.Option("--format", "-f", help="lookout, mvtec or coco-defects")
    ],
    out: Annotated[
        Path | None,
        typer.Option(help="folder to write (default: DATASET/lookout, DATASET/mvtec, DATASET)"),
    ] = None,
    prefix: Annotated[
        str, typer.Option(help="lookout: put before every location, e.g. s3://bucket/data/")
    ] = "",
    test_share: Annotated[
        float, typer.Option(help="share of images (mvtec: of normal ones) in the test split")
    ] = 0.2,
    crop: Annotated[bool, typer.Option("--crop", help="mvtec: one image per product")] = False,
    crop_size: Annotated[int, typer.Option(min=1, help="mvtec: side of a crop, pixels")] = 256,
    seed: Annotated[int, typer.Option(help="seed of the train/test split")] = 0,
) -> None:
    """Export a dataset with defects for anomaly detection: Lookout for Vision manifests, the
    MVTec AD folder layout, or COCO with the defect types as categories."""
    from groundforge.export.coco_defects import write_coco_defects
    from groundforge.export.lookout import write_lookout
    from groundforge.export.mvtec import write_mvtec

    formats = ("lookout", "mvtec", "coco-defects")
    if export_format not in formats:
        _fail(f"--format {export_format!r} is not one of {', '.join(formats)}")
    if not (dataset / "dataset.json").is_file():
        _fail(
            f"{dataset} is not a groundforge dataset (no dataset.json); give the --out folder "
            "of a generate run"
        )
    if prefix and export_format != "lookout":
        _fail("--prefix applies to --format lookout only; leave it out")
    if crop and export_format != "mvtec":
        _fail("--crop applies to --format mvtec only; leave it out")
    try:
        if export_format == "lookout":
            result = write_lookout(dataset, out, prefix=prefix, test_share=test_share, seed=seed)
            where = out or dataset / "lookout"
        elif export_format == "mvtec":
            result = write_mvtec(
                dataset, out, test_share=test_share, seed=seed, crop=crop, crop_size=crop_size
            )
            where = out or dataset / "mvtec"
        else:
            where = write_coco_defects(dataset, out)
            result = None
    except ValueError as err:  # NoDefectLabels is one
        _fail(str(err))
    console.print(f"{export_format} export written to {where}", highlight=False)
    if result is not None:
        console.print(result, highlight=False)


if __name__ == "__main__":
    app()
