"""The firmware ships as package data: an installed physres builds and runs it.

``setup.py build_py`` lays out exactly the files a wheel carries (packages and
package data). A fresh interpreter that sees only that tree (``-S``: no
editable finder pointing back at this checkout) and whose firmware folder is
read-only, as site-packages often is, must still find the bucket firmware's
description, build the host target into its per-user cache and answer HELLO.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
import physres
from physres.drivers.bucket import protocol as P
from physres.drivers.bucket.firmware import BucketFirmware
from physres.wire import SerialLink

assert physres.__file__.startswith(sys.argv[1]), physres.__file__
with BucketFirmware("host") as fw:
    link = SerialLink(fw.port, timeout_s=2.0).open()
    try:
        hello = P.parse_hello(link.request(P.Msg.HELLO, bytes([P.PROTO_VERSION])))
    finally:
        link.close()
    print("ROOT", fw.spec.root)
    print("BUILD", fw.spec.build_dir)
    print("HELLO", hello.fw_version_str, hello.n_motors)
"""


def _set_writable(tree: Path, writable: bool) -> None:
    for folder, _dirs, files in os.walk(tree):
        for p in [folder, *(os.path.join(folder, f) for f in files)]:
            mode = os.stat(p).st_mode
            os.chmod(p, mode | stat.S_IWUSR if writable else mode & ~0o222)


def test_installed_layout_builds_and_runs_the_host_firmware(tmp_path: Path) -> None:
    if not (REPO / "setup.py").is_file():
        pytest.skip("needs the source checkout to lay out the package")
    lib = tmp_path / "lib"
    subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(lib)],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=120,
    )
    fw_pkg = lib / "physres" / "firmware"
    for f in (
        "Makefile",
        "bucket/firmware.toml",
        "bucket/board.c",
        "bucket/host/hal.c",
        "common/host/main.c",
        "common/host/main.h",
        "common/avr/main.c",
        "common/txq.c",
        "harness/simavr_harness.c",
        "PROTOCOL.md",
    ):
        assert (fw_pkg / f).is_file(), f"{f} is not package data"
    assert not (fw_pkg / "build").exists()
    purelib = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHYSRES_")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(lib), purelib["purelib"], purelib["platlib"]]),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
    )
    _set_writable(fw_pkg, False)
    try:
        proc = subprocess.run(
            [sys.executable, "-S", "-c", SCRIPT, str(lib)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        _set_writable(fw_pkg, True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)
    assert out["ROOT"] == str(fw_pkg)
    assert out["BUILD"].startswith(str(tmp_path / "cache" / "physres" / "firmware"))
    assert out["HELLO"] == "1.1.0 4"
