#!/usr/bin/env python
"""Write README.md from nbs/index.ipynb (Quarto, which nbdev_readme needs, is not installable here): the markdown cells in
order, images pointed at nbs/images. `python tools/readme.py`; `--check` exits 1 when README.md differs."""
import json, sys
from pathlib import Path
root = Path(__file__).resolve().parents[1]
cells = json.loads((root/"nbs/index.ipynb").read_text())["cells"]
text = "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown").replace("](images/", "](nbs/images/") + "\n"
if "--check" in sys.argv: sys.exit(0 if (root/"README.md").read_text() == text else 1)
(root/"README.md").write_text(text)
