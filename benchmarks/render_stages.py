"""Milliseconds per render for each stage of the raster engine, on the built-in conveyor scene.

    LP_NUM_THREADS=1 python benchmarks/render_stages.py --shots 10

Each stage is timed between glFinish calls, so the figures add up to the render time (the
finishes themselves cost a little). Set LP_NUM_THREADS=1 to see what one worker process of a
two-worker batch spends; leave it unset to see llvmpipe's threads at work.
"""

from __future__ import annotations

import argparse
import collections
import time

from groundforge.render.raster import engine as raster
from groundforge.render.sensor import apply_sensor
from groundforge.sampling.seeds import rng_for
from groundforge.world.build import SceneSampler, open_scene

STAGES = (
    "_shadows_for",
    "_visible",
    "_draw_gbuffer",
    "_draw_coverage",
    "_draw_occlusion",
    "_shade_pixels",
    "_resolve",
    "_read",
)


def timed(method, name: str, totals: collections.Counter):
    def wrapper(self, *args, **kwargs):
        self.ctx.finish()
        start = time.perf_counter()
        result = method(self, *args, **kwargs)
        self.ctx.finish()
        totals[name] += time.perf_counter() - start
        return result

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scene", default="conveyor")
    parser.add_argument("--shots", type=int, default=10)
    args = parser.parse_args()

    totals: collections.Counter = collections.Counter()
    for name in STAGES:
        setattr(raster.RasterEngine, name, timed(getattr(raster.RasterEngine, name), name, totals))
    sampler = SceneSampler(open_scene(args.scene).scene, 1)
    worlds = [sampler.world(shot) for shot in range(args.shots + 2)]
    sensor_seconds = 0.0
    with raster.RasterEngine() as engine:
        for world in worlds[:2]:  # compile shader variants, fill caches
            for camera in world.cameras:
                engine.render(world, camera)
        totals.clear()
        renders = 0
        start = time.perf_counter()
        for world in worlds[2:]:
            for camera in world.cameras:
                passes = engine.render(world, camera)
                t = time.perf_counter()
                apply_sensor(passes.radiance, camera.sensor, rng_for(1, world.shot, camera.name))
                sensor_seconds += time.perf_counter() - t
                renders += 1
        wall = time.perf_counter() - start - sensor_seconds
    print(f"{args.scene}: {renders} renders, {wall / renders * 1000:.0f} ms per render")
    for name, seconds in totals.most_common():
        print(f"  {name.strip('_'):<14} {seconds / renders * 1000:6.1f} ms")
    print(f"  sensor model   {sensor_seconds / renders * 1000:6.1f} ms (after the render)")


if __name__ == "__main__":
    main()
