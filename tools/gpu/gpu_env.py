"""The GPU machine's Python environment for r1aqa: the image's packages, with the wheels of `wheels.txt` installed on top.

    python gpu_env.py check WHEELS_TXT OVERLAY_DIR REPO [--json FILE]   # the versions that import, against the pins; exit 1 on a mismatch
    python gpu_env.py run MODULE [ARGS...]                              # MODULE's `main()` (e.g. r1aqa.gpucheck), with the stand-ins below
    python gpu_env.py table RESULTS_JSONL [--tiny]                      # r1aqa_gpu_check's table of a results.jsonl
    python gpu_env.py unpack WHEELS_TXT WHEEL_DIR TARGET                # without pip: unzip each pinned wheel this interpreter can use
    python gpu_env.py slim-bitsandbytes DIR                             # rewrite DIR's bitsandbytes wheel with only its CUDA 12.6+ and CPU libraries

Stand-ins. trl 1.16 imports pandas, datasets and pyarrow at module level (trl.trainer.utils, trl.data_utils,
trl.experimental.utils), through the four helpers r1aqa.grpo takes from it. r1aqa never calls into those packages, but
carrying them costs 68 MB (pyarrow alone 55 MB), more than a device call can carry beside bitsandbytes. So when, and only
when, one of them is not importable, a module of placeholders stands in for it: imports succeed, `isinstance` is False, and
any use raises an ImportError that names this file. transformers' `is_datasets_available()` only asks whether the module
can be found, so its Trainer imports the stand-in and asks `isinstance(dataset, datasets.Dataset)`: False, as for any
dataset that is not a `datasets` one (r1aqa's are not). accelerate's checks read package metadata, which a stand-in has
none of: absent there.
"""
from __future__ import annotations
import atexit, base64, hashlib, importlib, os, importlib.abc, importlib.machinery, importlib.metadata as md, importlib.util, json, re, sys, types, zipfile
from pathlib import Path

STAND_INS = ("pandas", "datasets", "pyarrow")   # imported by trl 1.16 at module level, never used by r1aqa

def _unavailable(what):
    return ImportError(f"{what}: this package is not on the GPU machine; tools/gpu/gpu_env.py stands in for it only so that trl imports "
                       "(r1aqa does not use it). Carry its wheel (and its dependencies) in tools/gpu/wheels.txt if a run needs it.")

class _Absent(type):
    "Metaclass of the placeholder classes: a class attribute that is not there raises `_unavailable`."
    def __getattr__(cls, name):
        if name.startswith("__"): raise AttributeError(name)
        raise _unavailable(f"{cls.__module__}.{cls.__name__}.{name}")

def _placeholder(module:str, name:str)->type:
    def init(self, *a, **k): raise _unavailable(f"{module}.{name}()")
    return _Absent(name, (), {"__module__": module, "__init__": init, "__class_getitem__": classmethod(lambda cls, item: cls)})

class _StandIn(types.ModuleType):
    "A module whose every public attribute is a placeholder class."
    def __getattr__(self, name):
        if name.startswith("__"): raise AttributeError(name)
        setattr(self, name, c := _placeholder(self.__name__, name))
        return c

class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, tops): self.tops = set(tops)
    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] in self.tops: return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
    def create_module(self, spec):
        m = _StandIn(spec.name); m.__path__ = []; m.__standin__ = True
        return m
    def exec_module(self, module): pass

ACTIVE: list[str] = []   # the stand-ins installed in this process

def install_stand_ins(names=STAND_INS)->list[str]:
    "Stand in for each of `names` that is not importable; returns those."
    missing = [n for n in names if importlib.util.find_spec(n) is None and n not in ACTIVE]
    if missing: sys.meta_path.append(_Finder(missing)); ACTIVE.extend(missing)
    return ACTIVE

# ---------------------------------------------------------------------------------------------------------------- check
def read_pins(path)->dict[str, str]:
    "wheels.txt: `name==version  # comment` lines."
    pins = {}
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line: continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if not m: raise SystemExit(f"{path}: not an exact pin `name==version`: {line!r}")
        pins[_norm(m[1])] = m[2]
    return pins

def _norm(name): return re.sub(r"[-_.]+", "-", name).lower()

def _dist(name):
    "The distribution `name` as the import system finds it (the first on sys.path), or None."
    try: return md.distribution(name)
    except md.PackageNotFoundError: return None

def _where(dist, overlay:Path, repo:Path)->str:
    loc = Path(str(dist.locate_file(""))).resolve()
    if loc == overlay.resolve(): return "wheels"
    if loc == repo.resolve() or repo.resolve() in loc.parents: return "repo"
    return "image"

def _top_modules(dist)->list[str]:
    tops = (dist.read_text("top_level.txt") or "").split()
    if not tops:
        tops = sorted({f.parts[0].removesuffix(".py") for f in dist.files or [] if f.suffix == ".py" or len(f.parts) > 1
                       if not f.parts[0].endswith((".dist-info", ".data")) and f.parts[0] not in ("..", "bin", "__pycache__")})
    return [t for t in tops if not t.startswith("_")] or tops

def _requirements_ini(repo:Path)->list:
    from packaging.requirements import Requirement
    text = (repo/"settings.ini").read_text()
    m = re.search(r"^requirements\s*=\s*(.*)$", text, re.M)
    return [Requirement(r) for r in m[1].split()] if m else []

def check(wheels_txt, overlay, repo, json_out=None)->int:
    "Compare what imports with wheels.txt (exact, from the wheels) and with r1aqa's requirements (settings.ini); print one line per package."
    from packaging.requirements import Requirement
    overlay, repo = Path(overlay), Path(repo)
    pins, errors, warnings, rows = read_pins(wheels_txt), [], [], {}
    def row(name):
        d = _dist(name)
        if d is None: return None
        r = rows.setdefault(_norm(d.metadata["Name"]), dict(version=d.version, source=_where(d, overlay, repo)))
        return d, r
    # 1. every pinned wheel: installed in the overlay, at its pinned version, and its modules import from there
    for name, want in pins.items():
        got = row(name)
        if got is None: errors.append(f"{name}=={want}: not installed (no wheel for this interpreter in the wheel folder?)"); continue
        d, r = got
        if r["source"] not in ("wheels", "repo"): errors.append(f"{name}: {d.version} imports from the image, not from the wheels")
        elif d.version.split("+")[0] != want.split("+")[0]: errors.append(f"{name}: {d.version} installed, wheels.txt pins {want}")
        for top in _top_modules(d):
            try: mod = importlib.import_module(top)
            except Exception as e: errors.append(f"{name}: import {top} failed: {type(e).__name__}: {e}"); continue
            f = getattr(mod, "__file__", None) or next(iter(getattr(mod, "__path__", [])), None)
            if f and r["source"] == "wheels" and overlay.resolve() not in Path(f).resolve().parents:
                errors.append(f"{name}: module {top} imports from {f}, not from the wheels")
    # 2. r1aqa's own requirements (settings.ini), whoever provides them
    for req in _requirements_ini(repo):
        got = row(req.name)
        if got is None: errors.append(f"r1aqa requires {req}: not installed"); continue
        if not req.specifier.contains(got[0].version, prereleases=True):
            errors.append(f"r1aqa requires {req}: {got[0].version} imports ({got[1]['source']})")
    # 3. what each carried wheel requires (extras aside)
    stood_in = list(ACTIVE)
    for name in pins:
        d = _dist(name)
        for s in (d.requires or []) if d else []:
            req = Requirement(s)
            if req.marker and not req.marker.evaluate({"extra": ""}): continue
            dep = _dist(req.name)
            if dep is None:
                if _norm(req.name) in stood_in: warnings.append(f"{name} requires {req}: stood in (not carried; r1aqa does not use it)")
                else: errors.append(f"{name} requires {req}: not installed")
            elif not req.specifier.contains(dep.version, prereleases=True):
                errors.append(f"{name} requires {req}: {dep.version} imports")
            else: row(req.name)
    # 4. the packages the check runs on, as they import
    import torch
    for n in ("torch", "torchaudio", "torchvision", "transformers", "accelerate", "peft", "trl", "bitsandbytes", "huggingface_hub",
              "tokenizers", "safetensors", "numpy", "soundfile", "fastcore"): row(n)
    try:   # r1aqa: from the repository (the device run copies the working tree; no package metadata travels with it)
        import r1aqa, r1aqa.gpucheck   # the whole import chain, before any preset
        src = Path(r1aqa.__file__).resolve().parent.parent
        rows["r1aqa"] = dict(version=r1aqa.__version__, source="repo" if src == repo.resolve() else str(src))
        if src != repo.resolve(): errors.append(f"r1aqa imports from {src}, not from {repo}")
    except Exception as e: errors.append(f"import r1aqa failed: {type(e).__name__}: {e}")
    if torch.cuda.is_available():   # the CUDA library bitsandbytes picks is in the (slimmed) wheel, and works
        try:
            import bitsandbytes.functional as F
            x = torch.randn(256, 256, device="cuda", dtype=torch.bfloat16)
            q, state = F.quantize_4bit(x, quant_type="nf4")
            err = (F.dequantize_4bit(q, state) - x).abs().mean().item()
            if not err < 0.2: errors.append(f"bitsandbytes: 4-bit round trip on the GPU off by {err:.3f}")
        except Exception as e: errors.append(f"bitsandbytes on the GPU: {type(e).__name__}: {e}")
    summary = dict(python=sys.version.split()[0], cuda=torch.version.cuda, gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                   packages=rows, stood_in=stood_in, errors=errors, warnings=warnings)
    if json_out: Path(json_out).write_text(json.dumps(summary, indent=1))
    order = ["torch", "torchaudio", "torchvision", "transformers", "accelerate", "peft", "trl", "bitsandbytes", "huggingface-hub",
             "tokenizers", "safetensors", "numpy", "soundfile", "fastcore", "r1aqa"]
    line = " ".join(f"{n}={rows[n]['version']}({rows[n]['source']})" for n in order if n in rows)
    print(f"versions: python={summary['python']} cuda={summary['cuda']} gpu={summary['gpu'] or 'none'} {line}" + (f" stand-ins={','.join(stood_in)}" if stood_in else ""))
    for w in warnings: print(f"  note: {w}")
    for e in errors: print(f"  ERROR: {e}")
    return 1 if errors else 0

# --------------------------------------------------------------------------------------------------------- run, table
def _report_modules(overlay:str|None):
    "At exit: the top-level modules this process imported from the wheels, and the stand-ins it imported."
    tops = {m.partition(".")[0] for m in list(sys.modules)}
    stood = sorted(t for t in tops if getattr(sys.modules.get(t), "__standin__", False))
    carried = sorted(t for t in tops if overlay and (f := getattr(sys.modules.get(t), "__file__", None)) and f.startswith(overlay))
    print(f"gpu_env: imported from the wheels: {', '.join(carried) or '-'}; stand-ins imported (never used): {', '.join(stood) or '-'}", flush=True)

def run(module:str, argv:list[str])->int:
    "`module.main()` with `argv`, the stand-ins installed."
    install_stand_ins()
    overlay = next((p for p in sys.path if Path(p, ".gpu_overlay").exists()), None)
    atexit.register(_report_modules, overlay)
    sys.argv = [module, *argv]
    return importlib.import_module(module).main()

def table(results, tiny=False):
    install_stand_ins()
    from r1aqa.gpucheck import check_table
    rows = [json.loads(l) for l in Path(results).read_text().splitlines() if l.strip()] if Path(results).exists() else []
    for line in check_table(rows, tiny): print(line)

def unpack(wheels_txt, folder, target)->int:
    "What `pip install --no-index --no-deps --target` does with these wheels (they have no scripts to install), for a Python without pip."
    from packaging.tags import sys_tags
    from packaging.utils import parse_wheel_filename, canonicalize_name
    from packaging.version import Version
    ok, target = set(sys_tags()), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    for name, want in read_pins(wheels_txt).items():
        found = [w for w in Path(folder).glob("*.whl") if (n := parse_wheel_filename(w.name))[0] == canonicalize_name(name)
                 and Version(str(n[1]).split("+")[0]) == Version(want) and n[3] & ok]
        if not found: print(f"gpu_env unpack: no wheel of {name}=={want} for this interpreter in {folder}"); return 1
        with zipfile.ZipFile(found[0]) as z: z.extractall(target)
        for f in target.rglob("*.so"): f.chmod(0o755)
    return 0

# ---------------------------------------------------------------------------------------------------------- slimming
KEEP_BNB = re.compile(r"libbitsandbytes_(cpu|cuda12[6-9]|cuda1[3-9]\d)\.so$")   # torch 2.11's CUDA builds are 12.6, 12.8 and 13.0

def slim_bitsandbytes(folder)->list[Path]:
    """Rewrite each bitsandbytes wheel in `folder` without the libraries no torch 2.11 CUDA build loads (CUDA < 12.6, ROCm, XPU),
    as version `X+slim` (which `bitsandbytes==X` still matches); the original is removed. Deterministic: same input, same bytes."""
    made = []
    for whl in sorted(Path(folder).glob("bitsandbytes-*.whl")):
        name, ver, *tags = whl.name[:-4].split("-")
        if "+" in ver: continue
        new = f"{ver}+slim"
        old_di, new_di = f"{name}-{ver}.dist-info/", f"{name}-{new}.dist-info/"
        out, record = whl.with_name("-".join([name, new, *tags]) + ".whl"), []
        with zipfile.ZipFile(whl) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                n = info.filename
                if (n.endswith(".so") and "/libbitsandbytes_" in n and not KEEP_BNB.search(n)) or n == old_di + "RECORD": continue
                data = src.read(info)
                if n == old_di + "METADATA": data = re.sub(rb"^Version: .*$", f"Version: {new}".encode(), data, count=1, flags=re.M)
                if n.startswith(old_di): n = new_di + n[len(old_di):]
                zi = zipfile.ZipInfo(n, info.date_time); zi.external_attr, zi.compress_type = info.external_attr, zipfile.ZIP_DEFLATED
                dst.writestr(zi, data)
                digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                record.append(f"{n},sha256={digest},{len(data)}")
            zi = zipfile.ZipInfo(new_di + "RECORD", (2020, 1, 1, 0, 0, 0)); zi.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(zi, "\n".join(record + [f"{new_di}RECORD,,"]) + "\n")
        whl.unlink(); made.append(out)
    return made

# ------------------------------------------------------------------------------------------------------------------ main
if __name__ == "__main__":
    cmd, *rest = sys.argv[1:] or ["help"]
    if cmd == "check":
        jo = None
        if "--json" in rest: i = rest.index("--json"); jo = rest[i+1]; rest = rest[:i] + rest[i+2:]
        install_stand_ins()
        sys.exit(check(*rest, json_out=jo))
    elif cmd == "run": sys.exit(run(rest[0], rest[1:]))
    elif cmd == "table": table(rest[0], "--tiny" in rest)
    elif cmd == "unpack": sys.exit(unpack(*rest))
    elif cmd == "slim-bitsandbytes":
        for w in slim_bitsandbytes(rest[0]): print(f"slimmed: {w.name} ({w.stat().st_size/1e6:.1f} MB)")
    else: sys.exit(__doc__)
