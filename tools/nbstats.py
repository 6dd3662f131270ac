#!/usr/bin/env python
"""Counts of how the notebooks read: export cells defining more than one thing, long export cells, code-cell sizes,
noise in stored outputs, private names imported across modules, import-time side effects. `python tools/nbstats.py`."""
import ast, json, re, statistics, sys
from pathlib import Path

root = Path(__file__).resolve().parents[1]
NOISE = re.compile(r"(/tmp/|/var/folders/|/root/|/home/\w+/|Warning|WARNING|warn\(|\d+%\|)")

def directives(src:str)->set:
    return {l[3:].strip().split()[0] for l in src.splitlines() if l.startswith("#| ") and len(l) > 3}

def definitions(src:str, constants:bool=False)->list[str]:
    "Top-level functions and classes a cell defines (and, with `constants`, the names it assigns)."
    try: tree = ast.parse(src)
    except SyntaxError: return []
    out = []
    for n in tree.body:
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)): out.append(n.name)
        elif constants and isinstance(n, (ast.Assign, ast.AnnAssign)):
            ts = n.targets if isinstance(n, ast.Assign) else [n.target]
            out += [t.id for t in ts if isinstance(t, ast.Name) and t.id not in ("__all__", "_")]
    return out

def code_lines(src:str)->int: return sum(1 for l in src.splitlines() if l.strip() and not l.startswith("#|"))

def main():
    nbs = sorted((root/"nbs").glob("*.ipynb"))
    exp, sizes, noise, stderr = [], [], [], 0
    for f in nbs:
        for c in json.loads(f.read_text())["cells"]:
            if c["cell_type"] != "code": continue
            src = "".join(c["source"]); d = directives(src)
            sizes.append(code_lines(src))
            if "export" in d or "exports" in d:
                if definitions(src, constants=True): exp.append((f.name, code_lines(src), definitions(src)))
            for o in c.get("outputs", []):
                text = "".join(o.get("text", "")) if o.get("output_type") == "stream" else "".join(o.get("data", {}).get("text/plain", ""))
                if o.get("name") == "stderr": stderr += len(text.splitlines())
                noise += [(f.name, l[:100]) for l in text.splitlines() if NOISE.search(l)]
    multi = [e for e in exp if len(e[2]) > 1]; long = [e for e in exp if e[1] > 30]
    q = statistics.quantiles(sizes, n=10)
    print(f"export cells defining something: {len(exp)}; defining more than one function or class: {len(multi)} ({100*len(multi)/max(1,len(exp)):.0f}%); over 30 lines: {len(long)}")
    print(f"code cells: {len(sizes)}; lines per cell median {statistics.median(sizes):.0f}, p90 {q[-1]:.0f}")
    print(f"stored outputs: {stderr} stderr lines; {len(noise)} lines with a warning, progress bar or machine path")
    lib = root/"r1aqa"; cross, effects = [], []
    for p in sorted(lib.glob("*.py")):
        if p.name.startswith("_"): continue
        src = p.read_text(); tree = ast.parse(src)
        for n in ast.walk(tree):
            if isinstance(n, ast.ImportFrom) and (n.level or (n.module or "").startswith("r1aqa")):
                cross += [f"{p.stem} <- {n.module}.{a.name}" for a in n.names if a.name.startswith("_")]
        for n in tree.body:   # module-level calls that change global state
            s = ast.unparse(n)
            if isinstance(n, ast.Expr) and re.search(r"(filterwarnings|simplefilter|setLevel|addFilter|addHandler|disable_progress_bar|set_verbosity|\.patch)", s):
                effects.append(f"{p.stem}: {s[:90]}")
            if isinstance(n, ast.Assign) and any(isinstance(t, ast.Attribute) for t in n.targets): effects.append(f"{p.stem}: {s[:90]}")
    print(f"private names imported across modules: {len(cross)}"); [print("  ", c) for c in cross]
    print(f"import-time side effects: {len(effects)}"); [print("  ", e) for e in effects]
    if "-v" in sys.argv:
        for e in long: print("long:", e[0], e[1], e[2][:4])
        for n, l in noise[:40]: print("noise:", n, l)

if __name__ == "__main__": main()
