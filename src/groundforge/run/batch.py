"""Running a batch: shots in one or several processes, resumable, with per-stage timings.

Every shot is a unit fully determined by (scene, seed, shot index), so shots can run in any
order and in any process; the dataset's manifests are assembled from the per-image records at
the end.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from groundforge import __version__
from groundforge.defects.plan import Plan, quota_plan
from groundforge.export import groundtruth, video
from groundforge.export.layout import DatasetInfo, DatasetWriter
from groundforge.labels.annotate import annotate
from groundforge.render.motion import render_blurred
from groundforge.render.raster.engine import RasterEngine
from groundforge.render.sensor import apply_sensor
from groundforge.sampling.seeds import rng_for
from groundforge.spec.load import LoadedScene
from groundforge.spec.scene import Scene
from groundforge.world.build import SceneSampler, make_camera, open_scene
from groundforge.world.sequence import SequenceSampler
from groundforge.world.state import World

log = logging.getLogger(__name__)

STAGES = ("sample", "render", "labels", "write")


class OutputError(Exception):
    """The output folder cannot take this batch; nothing was written."""


@dataclass
class ShotResult:
    """What one shot produced and how long each stage took, seconds."""

    shot: int
    images: int = 0
    objects: int = 0
    skipped: bool = False
    existing: int = 0  # images of this shot already on disk (when skipped)
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    pid: int = 0
    rss_mb: float = 0.0


@dataclass
class BatchSummary:
    out: Path
    shots: int
    images: int
    objects: int
    skipped: int
    existing: int
    seconds: float
    stage_seconds: dict[str, float]
    dataset: dict


class ShotRunner:
    """Renders, labels and writes the units of one scene (shots, or sequences of frames for a
    scene with a `sequence`); one per process."""

    def __init__(self, loaded: LoadedScene, out: Path, seed: int, plan: Plan | None = None):
        self.scene = loaded.scene
        self.seed = seed
        self.stills = SceneSampler(loaded.scene, seed)
        self.sequences = SequenceSampler(loaded.scene, seed) if loaded.scene.sequence else None
        self.stills.defect_plan = plan
        if self.sequences is not None:
            self.sequences.stills.defect_plan = plan
        self.engine = RasterEngine()
        self.writer = DatasetWriter(out, dataset_info(loaded, seed))
        sequence = loaded.scene.sequence
        self.frame_interval_s = 1.0 / sequence.fps if sequence is not None else 0.0

    def run(self, unit: int) -> list[ShotResult]:
        """Every shot of unit `unit`: one still, or every frame of one sequence."""
        if self.sequences is None:
            names = cameras_of_frame(self.scene, None)
            if self.writer.is_done(unit, names):
                return [ShotResult(unit, skipped=True, existing=len(names))]
            t = time.perf_counter()
            world = self.stills.world(unit)
            result = ShotResult(unit)
            result.seconds["sample"] += _lap(t)
            return [self._render(world, result)]
        frames = self.sequences.frames
        shots = [self.sequences.shot(unit, f) for f in range(frames)]
        names = [cameras_of_frame(self.scene, f) for f in range(frames)]
        todo = [not self.writer.is_done(s, n) for s, n in zip(shots, names, strict=True)]
        if not any(todo):
            return [
                ShotResult(s, skipped=True, existing=len(n))
                for s, n in zip(shots, names, strict=True)
            ]
        t = time.perf_counter()
        worlds = self.sequences.worlds(unit)  # physics links the frames: simulate them all
        sample_seconds = _lap(t) / frames
        results = []
        for world, needed, n in zip(worlds, todo, names, strict=True):
            result = ShotResult(world.shot, skipped=not needed, existing=0 if needed else len(n))
            result.seconds["sample"] += sample_seconds
            results.append(self._render(world, result) if needed else result)
        t = time.perf_counter()
        self._previews(unit, shots)
        results[-1].seconds["write"] += _lap(t)
        return results

    def _previews(self, sequence: int, shots: list[int]) -> None:
        """An MP4 per camera of a finished sequence, written here so workers share the work."""
        fps = self.scene.sequence.fps
        for camera in self.scene.cameras:
            frames = [
                self.writer.paths(camera.name, shot)["image"]
                for f, shot in enumerate(shots)
                if f % camera.frame_divisor == 0
            ]
            out = self.writer.root / video.sequence_paths(camera.name, sequence)["preview"]
            video.write_preview_mp4(frames, out, fps / camera.frame_divisor)

    def _render(self, world: World, result: ShotResult) -> ShotResult:
        names = cameras_of_frame(self.scene, world.frame)
        for camera in world.cameras:
            if camera.name not in names:
                continue
            t = time.perf_counter()
            passes = render_blurred(self.engine, world, camera, self.frame_interval_s)
            rng = rng_for(self.seed, world.shot, f"sensor/{camera.name}")
            rgb = apply_sensor(passes.radiance, camera.sensor, rng)
            result.seconds["render"] += _lap(t)
            t = time.perf_counter()
            annotation = annotate(world, camera, passes)
            result.seconds["labels"] += _lap(t)
            t = time.perf_counter()
            self.writer.write_image(world.shot, camera.name, rgb, passes, annotation)
            result.seconds["write"] += _lap(t)
            result.images += 1
            result.objects += sum(1 for o in annotation["objects"] if o["pixel_count"] > 0)
        result.pid, result.rss_mb = os.getpid(), resident_mb()
        return result

    def close(self) -> None:
        self.engine.close()


def cameras_of_frame(scene: Scene, frame: int | None) -> list[str]:
    """The cameras that render a frame (all of them for stills; by frame_divisor in sequences)."""
    if frame is None:
        return [c.name for c in scene.cameras]
    return [c.name for c in scene.cameras if frame % c.frame_divisor == 0]


def images_per_unit(scene: Scene) -> int:
    """Images one unit (a shot, or a sequence) writes."""
    if scene.sequence is None:
        return len(scene.cameras)
    frames = scene.sequence.frame_count
    return sum(len(cameras_of_frame(scene, f)) for f in range(frames))


def dataset_info(loaded: LoadedScene, seed: int) -> DatasetInfo:
    """The dataset-level facts written to dataset.json."""
    scene = loaded.scene
    cameras = []
    for spec in scene.cameras:
        # The lens of shot 0; when the focal length varies, each annotation has its own K.
        cam = make_camera(spec, rng_for(seed, 0, f"camera/{spec.name}"))
        cameras.append(
            {"name": spec.name, "width": cam.width, "height": cam.height, "K": cam.K.tolist()}
        )
    return DatasetInfo(
        name=scene.name,
        generator_version=__version__,
        scene_hash=loaded.text_hash,
        seed=seed,
        engine=RasterEngine.name,
        classes=[(scene.class_id(c), c) for c in scene.classes],
        cameras=cameras,
        image_format=scene.output.image_format,
        jpeg_quality=scene.output.jpeg_quality,
        sequence=sequence_info(scene),
        defect_types={
            c: {name: spec.kind_of(name) for name in spec.types}
            for c, spec in scene.defects.items()
        }
        or None,
    )


def sequence_info(scene: Scene) -> dict | None:
    """What dataset.json records of a video dataset's timing and rig."""
    if scene.sequence is None:
        return None
    frames, fps = scene.sequence.frame_count, scene.sequence.fps
    return {
        "fps": fps,
        "frames_per_sequence": frames,
        "frame_timestamps": [round(f / fps, 9) for f in range(frames)],
        "frame_divisors": {c.name: c.frame_divisor for c in scene.cameras},
    }


# -- worker processes ------------------------------------------------------------------------

_runner: ShotRunner | None = None


def _init_worker(source: str, out: str, seed: int, plan: Plan | None) -> None:
    global _runner
    # Each process gets its own core; llvmpipe's own threads would only compete.
    os.environ.setdefault("LP_NUM_THREADS", "1")
    _runner = ShotRunner(open_scene(source), Path(out), seed, plan)


def _run_in_worker(unit: int) -> list[ShotResult]:
    assert _runner is not None
    return _runner.run(unit)


def batch_plan(loaded: LoadedScene, seed: int, units: list[int]) -> Plan | None:
    """Which products of the batch `units` get which defect, for classes with a quota; None
    when no class has one. Computed once, before any worker starts, from placement alone."""
    scene = loaded.scene
    if not any(spec.quota is not None for spec in scene.defects.values()):
        return None
    if scene.sequence is not None:
        sampler = SequenceSampler(scene, seed)
    else:
        sampler = SceneSampler(scene, seed)
    return quota_plan(scene, seed, {unit: sampler.roster(unit) for unit in units})


def run_units(
    source: str,
    out: Path,
    seed: int,
    units: list[int],
    workers: int,
    loaded: LoadedScene,
    plan: Plan | None = None,
) -> Iterator[ShotResult]:
    """Results of every shot of `units` as they finish (units in any order when workers > 1)."""
    if workers <= 1:
        runner = ShotRunner(loaded, out, seed, plan)
        try:
            for unit in units:
                yield from runner.run(unit)
        finally:
            runner.close()
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(source, str(out), seed, plan),
    ) as pool:
        pending: set[Future] = set()
        todo = iter(units)
        for unit in todo:
            pending.add(pool.submit(_run_in_worker, unit))
            if len(pending) >= workers * 4:
                break
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield from future.result()
                following = next(todo, None)
                if following is not None:
                    pending.add(pool.submit(_run_in_worker, following))


def prepare_output(out: Path, loaded: LoadedScene, seed: int) -> bool:
    """Check that `out` may take this batch; True when it resumes an earlier run of it."""
    if not out.exists():
        return False
    if not out.is_dir():
        raise OutputError(f"{out} exists and is not a folder; give a new folder for --out")
    info_path = out / "dataset.json"
    if not info_path.exists():
        if any(out.iterdir()):
            raise OutputError(
                f"{out} is not empty and holds no groundforge dataset; give an empty or new "
                "folder for --out (nothing was written)"
            )
        return False
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise OutputError(f"{info_path} cannot be read ({err}); give another --out") from None
    if info.get("scene_hash") != loaded.text_hash or info.get("seed") != seed:
        raise OutputError(
            f"{out} holds a dataset of another scene or seed (seed {info.get('seed')}); "
            "give another --out, or the same scene file and --seed to resume it"
        )
    return True


def generate(
    source: str | Path,
    out: Path,
    count: int,
    seed: int | None = None,
    workers: int = 1,
    first: int = 0,
    yolo: bool | None = None,
    on_shot: Callable[[ShotResult], None] | None = None,
) -> BatchSummary:
    """Render `count` units of a scene, from unit `first` on, into the dataset at `out`: shots,
    or sequences of frames for a scene with a `sequence`.

    Raises SceneError for a bad scene and OutputError for an unusable `out`, before writing
    anything. An interrupted batch is resumed by running the same call again.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    if workers < 1:
        raise ValueError("workers must be at least 1")
    loaded = open_scene(source)
    seed = loaded.scene.seed if seed is None else seed
    out = Path(out)
    resuming = prepare_output(out, loaded, seed)
    writer = DatasetWriter(out, dataset_info(loaded, seed))
    if not resuming:
        writer.start()
    log.info(
        "batch started: %d %s of %s, seed %d, %d worker(s), into %s",
        count,
        "sequences" if loaded.scene.sequence else "shots",
        loaded.scene.name,
        seed,
        workers,
        out,
    )
    started = time.perf_counter()
    units = list(range(first, first + count))
    plan = batch_plan(loaded, seed, units)
    totals = dict.fromkeys(STAGES, 0.0)
    shots = images = objects = skipped = existing = 0
    for result in run_units(str(source), out, seed, units, workers, loaded, plan):
        shots += 1
        existing += result.existing
        images += result.images
        objects += result.objects
        skipped += result.skipped
        for k, v in result.seconds.items():
            totals[k] += v
        if on_shot is not None:
            on_shot(result)
    use_yolo = loaded.scene.output.yolo if yolo is None else yolo
    scene = loaded.scene
    if scene.sequence is None:
        dataset = writer.finalize(yolo=use_yolo)
    else:
        frames = scene.sequence.frame_count
        dataset = writer.finalize(
            yolo=use_yolo,
            cameras_per_shot=lambda shot: len(cameras_of_frame(scene, shot % frames)),
        )
        write_video_outputs(writer)
    elapsed = time.perf_counter() - started
    log.info("batch done: %d images, %d objects in %.1f s, into %s", images, objects, elapsed, out)
    return BatchSummary(out, shots, images, objects, skipped, existing, elapsed, totals, dataset)


def write_video_outputs(writer: DatasetWriter) -> None:
    """Ground Truth video-frame sequences, SeqLabel files and MP4 previews of a dataset."""
    info = writer.info
    records = [
        json.loads(p.read_text(encoding="utf-8"))
        for p in sorted(writer.root.glob("annotations/*/*.json"))
    ]
    common = {"image_format": info.image_format, "camera_order": info.camera_names}
    video.write_sequence_outputs(
        writer.root, records, info.classes, groundtruth.job_name(info), info.created, **common
    )
    # Workers write each sequence's previews as they finish it; this fills in any a killed
    # batch left out.
    video.preview_videos(writer.root, camera_order=info.camera_names, missing_only=True)


def resident_mb() -> float:
    """Resident memory of this process, MiB (Linux; 0 where /proc is missing)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _lap(start: float) -> float:
    return time.perf_counter() - start
