"""Flow files: the Middlebury .flo layout, read back exactly and by an independent parser."""

import struct

import numpy as np

from groundforge.export.flow import load_flow, save_flow


def test_flo_file_has_the_middlebury_layout(tmp_path):
    rng = np.random.default_rng(0)
    flow = rng.normal(0, 5, (3, 4, 2)).astype(np.float32)
    path = tmp_path / "f.flo"
    save_flow(path, flow)
    data = path.read_bytes()
    assert data[:4] == b"PIEH"
    assert struct.unpack("<ii", data[4:12]) == (4, 3)
    values = struct.unpack(f"<{3 * 4 * 2}f", data[12:])
    # Row by row from the top, (u, v) interleaved.
    assert values[:2] == (flow[0, 0, 0], flow[0, 0, 1])
    assert values[8:10] == (flow[1, 0, 0], flow[1, 0, 1])
    assert np.array_equal(load_flow(path), flow)
    assert not list(tmp_path.glob(".*"))  # no temporary file left
