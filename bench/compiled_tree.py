"""Build this checkout's wheel as users get it (compiled, setup.py) and unpack it for the benches.

    python bench/compiled_tree.py [OUT]        # default OUT: build/compiled-src

The benches start Plano as `python -m plano` with the environment they run in, so
`PYTHONPATH=OUT python bench/run.py` (or `translate_cost.py`, `variants.py`...) measures the
compiled build, and `python bench/ab.py tree --this-src OUT --base-src src` what compiling gains,
side by side. Without it, a bench measures the editable (pure Python) install of `.ci/run`.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=str(ROOT / "build" / "compiled-src"))
    out = Path(parser.parse_args().out).resolve()
    shutil.rmtree(ROOT / "build", ignore_errors=True)  # setuptools would reuse what is there
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", tmp, str(ROOT)]
        subprocess.run(cmd, check=True, cwd=ROOT)
        (wheel,) = Path(tmp).glob("plano-*.whl")
        shutil.rmtree(out, ignore_errors=True)
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(out)
    for leftover in (ROOT / "build" / "lib", *ROOT.glob("build/temp.*"), *ROOT.glob("build/*.c")):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
    compiled = sorted(out.glob("plano/**/*.so"))
    print(f"{out}: {wheel.name}, {len(compiled)} compiled modules")
    print(f"PYTHONPATH={out} python -m plano --version")


if __name__ == "__main__":
    main()
