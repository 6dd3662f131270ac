#!/usr/bin/env python
"""Execute notebooks in place and store their outputs, as a test-size run: `python tools/run_nb.py nbs/02_data.ipynb ...`.
IN_TEST is set, as under `nbdev_test`; cells marked `slow` or `cuda` (or `eval: false`) keep the outputs they have, and
cells marked `vllm` run only when $R1AQA_VLLM_PYTHON names the vLLM environment. Stops at the first failing cell."""
import os, sys, time
from pathlib import Path
from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell
from nbdev.process import NBProcessor
from nbdev.frontmatter import FrontmatterProc
from fastcore.xtras import working_directory

def run(fn:Path)->float:
    skip = {"slow", "cuda", "notest"} | (set() if os.environ.get("R1AQA_VLLM_PYTHON") else {"vllm"})
    nb = NBProcessor(fn, procs=FrontmatterProc, process=True).nb
    def _skip(cell):
        if cell.cell_type != "code": return True
        d = getattr(cell, "directives_", {}) or {}
        return d.get("eval:", [""])[0].lower() == "false" or bool(skip & d.keys())
    def _run_fresh(cell):   # execnb keeps a cell's old outputs when it prints nothing now: clear them first
        if _skip(cell): return True
        cell.outputs, cell.execution_count = [], None
        return False
    t0, sh = time.time(), CaptureShell(fn)
    with working_directory(fn.parent):
        sh.run_all(nb, exc_stop=True, preproc=_run_fresh)
    raw = read_nb(fn)   # write the new outputs into the notebook as it is on disk (directives and all)
    for c, new in zip(raw.cells, nb.cells):
        if c.cell_type == "code" and not _skip(new): c.outputs, c.execution_count = new.outputs, new.get("execution_count")
    write_nb(raw, fn)
    return time.time() - t0

if __name__ == "__main__":
    os.environ["IN_TEST"] = "1"
    for f in sys.argv[1:]:
        print(f"{f}: {run(Path(f).resolve()):.0f} s", flush=True)
