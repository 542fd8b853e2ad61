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


@app.command()
def report(
    dataset: Annotated[Path, typer.Argument(help="a dataset folder written by generate")],
    out: Annotated[
        Path | None, typer.Option(help="folder for report.html, plots/ and csv/")
    ] = None,
    real: Annotated[Path | None, typer.Option(help="a folder of real photographs")] = None,
) -> None:
    """Write the diversity report of a dataset (and its fidelity against real photographs):
    one HTML file, its plots and their CSVs."""
    from groundforge.report.build import build_report

    if not (dataset / "dataset.json").is_file():
        _fail(
            f"{dataset} is not a groundforge dataset (no dataset.json); give the --out folder "
            "of a generate run"
        )
    if real is not None and not real.is_dir():
        _fail(f"--real {real} is not a folder; give a folder of real images")
    try:
        path = build_report(dataset, out or dataset / "report", real=real)
    except ValueError as err:
        _fail(str(err))
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


if __name__ == "__main__":
    app()
