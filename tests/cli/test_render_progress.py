"""The live progress bar on a real pseudo-terminal moves with every step event; plain output ignores step events.

The renderer writes to the slave side of a pty (so Rich sees a terminal, as on a user's shell) and the test reads what
a terminal would receive from the master side.
"""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import struct
import termios
import threading
import time

from ganctl.cli.render import EventRenderer

TICK = {"type": "tick", "Progress/tick": 1, "Progress/kimg": 1.0, "Timing/sec_per_kimg": 2.0, "Timing/images_per_sec": 500.0,
        "Loss/D/loss": 0.5, "Loss/G/loss": 1.5}


def _steps(upto_kimg: float, n: int):
    return [{"type": "step", "kimg": upto_kimg * (i + 1) / n, "total_kimg": 4.0, "images_per_sec": 1234.0} for i in range(n)]


def test_bar_moves_with_steps_on_a_pty():
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    chunks: list[bytes] = []

    def drain():
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    stream = os.fdopen(slave, "w", buffering=1)
    r = EventRenderer(stream=stream)
    assert r.tty
    r({"type": "start", "kimg": 0.0, "total_kimg": 4.0, "device": "cpu"})
    for e in _steps(0.75, 30):
        r(e)
    time.sleep(0.6)  # Rich redraws 10 times a second
    before_tick = b"".join(chunks).decode(errors="replace")
    r(TICK)
    r({"type": "done", "kimg": 4.0, "run_dir": "RUN"})
    stream.flush()
    time.sleep(0.2)
    stream.close()
    os.close(master)
    # Before any tick ended, the bar already showed the steps: images seen, kimg/s and the position.
    assert "750 img" in before_tick and "1.23 kimg/s" in before_tick
    assert re.search(r"0\.75/4\.00 kimg", before_tick)
    assert "\x1b[" in before_tick  # drawn with terminal control sequences, i.e. a live bar


def test_plain_mode_ignores_steps():
    out = io.StringIO()
    r = EventRenderer(stream=out)
    assert not r.tty
    r({"type": "start", "kimg": 0.0, "total_kimg": 4.0, "device": "cpu"})
    for e in _steps(1.0, 50):
        r(e)
    r(TICK)
    r({"type": "warning", "text": "[severe] mode-collapse: ..."})
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and lines[1].startswith("tick 1") and lines[2].startswith("warning: [severe]")
