"""Read a results directory with ParaView's own readers (run with pvpython).

    pvpython paraview_read.py RESULTS_DIR OUTPUT.json

For density.pvd and density.xdmf, writes every time value the reader reports
and, at each, the cell centers and the cell array "density" to OUTPUT.json.
"""

import json
import sys

from paraview import servermanager
from paraview.simple import CellCenters, MergeBlocks, OpenDataFile
from paraview.vtk.numpy_interface import dataset_adapter


def read_series(path):
    reader = OpenDataFile(path)
    reader.UpdatePipelineInformation()
    times = list(reader.TimestepValues) if reader.TimestepValues else [0.0]
    merged = MergeBlocks(Input=reader)
    centers = CellCenters(Input=merged)
    steps = []
    for time in times:
        merged.UpdatePipeline(time)
        centers.UpdatePipeline(time)
        cells = dataset_adapter.WrapDataObject(servermanager.Fetch(merged))
        points = dataset_adapter.WrapDataObject(servermanager.Fetch(centers))
        names = list(cells.CellData.keys())
        density = cells.CellData["density"] if "density" in names else None
        steps.append({
            "time": time,
            "cell_arrays": names,
            "density": None if density is None else [float(v) for v in density],
            "centers": [[float(c) for c in row] for row in points.Points],
        })
    return {"reader": reader.GetXMLName(), "times": times, "steps": steps}


def main():
    directory, output = sys.argv[1], sys.argv[2]
    result = {
        "vtk": read_series(directory + "/density.pvd"),
        "xdmf": read_series(directory + "/density.xdmf"),
    }
    with open(output, "w") as file:
        json.dump(result, file)


main()
