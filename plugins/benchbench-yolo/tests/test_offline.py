"""ultralytics must stay offline even when something else imported it first (another cell, a notebook)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import socket, sys
    from pathlib import Path

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    import ultralytics                      # imported first, with a foreign YOLO_CONFIG_DIR
    import ultralytics.utils as u
    from ultralytics.utils import checks, events
    foreign = u.SETTINGS.file
    # Pretend that import found the network (the test itself makes no DNS query).
    u.ONLINE = checks.ONLINE = True
    events.events.enabled = True
    socket.socket.connect = refuse
    socket.getaddrinfo = refuse
    socket.create_connection = refuse

    from benchbench_yolo.offline import import_ultralytics
    import_ultralytics(sys.argv[1])
    from ultralytics.utils.callbacks import platform
    mine = Path(sys.argv[1]).resolve() / "Ultralytics"
    assert u.ONLINE is False and checks.ONLINE is False
    assert checks.USER_CONFIG_DIR == mine, checks.USER_CONFIG_DIR
    assert u.SETTINGS.file == mine / "settings.json" and platform.SETTINGS is u.SETTINGS
    assert u.SETTINGS["sync"] is False and not any(u.SETTINGS[k] for k in ("clearml", "comet", "mlflow", "wandb"))
    assert events.events.enabled is False
    assert Path(checks.check_font("Arial.ttf")) == mine / "Arial.ttf"
    assert Path(checks.check_font("Arial.Unicode.ttf")) == mine / "Arial.Unicode.ttf"
    import json
    assert json.loads(Path(foreign).read_text())["sync"] is True, "the other settings file was modified"
    print("ok")
""")


def test_rebinds_an_earlier_import(tmp_path):
    env = {**os.environ, "YOLO_CONFIG_DIR": str(tmp_path / "foreign"), "YOLO_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "mine")], capture_output=True, text=True,
                         env=env, check=False, timeout=300)
    assert out.returncode == 0 and "ok" in out.stdout, out.stdout[-2000:] + out.stderr[-3000:]
