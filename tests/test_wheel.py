"""A wheel built from the repository works without the checkout: the SQL and the generator's
calibration tables travel inside it."""

from __future__ import annotations

import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_runs_synth_and_build_db_outside_the_checkout(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "--quiet", "-w", str(tmp_path / "dist"), str(ROOT)],
                           capture_output=True, text=True, cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "dist").glob("hmbatch-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    # every SQL file of the checkout, at any depth (say sql/candidates/sources/*.sql)
    checkout = sorted(f"hmbatch/sql/{p.relative_to(ROOT / 'sql').as_posix()}" for p in (ROOT / "sql").rglob("*.sql"))
    assert [n for n in checkout if n not in names] == []
    assert "hmbatch/synth/data/templates.csv" in names
    target = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet",
                                "--target", str(target), str(wheel)], capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr
    # -S: no site processing, so the checkout's editable install (a .pth hook) is not seen; the
    # dependencies come from this environment's site-packages, hmbatch from the wheel only.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), *site.getsitepackages()])}
    work = tmp_path / "elsewhere"
    work.mkdir()

    def hmbatch(*args: str) -> subprocess.CompletedProcess:
        code = "import sys, hmbatch.cli; sys.argv = ['hmbatch', *sys.argv[1:]]; hmbatch.cli.main()"
        return subprocess.run([sys.executable, "-S", "-c", code, *args], capture_output=True, text=True,
                              cwd=work, env=env)

    where = subprocess.run([sys.executable, "-S", "-c", "import hmbatch; print(hmbatch.__file__)"],
                           capture_output=True, text=True, cwd=work, env=env)
    assert Path(where.stdout.strip()).is_relative_to(target), where.stdout + where.stderr
    for args in (("synth", "data", "--scale", "tiny", "--seed", "3"), ("build-db", "data", "--workspace", "ws")):
        proc = hmbatch(*args)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (work / "ws" / "hmbatch.duckdb").exists()
