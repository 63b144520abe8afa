"""Long steps show progress: a bar on a terminal, a few plain lines in a log or the journal (a pipe)."""
from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

from conftest import MEDIA

# 40 steps of a still: seconds of work, so a bar would redraw many times
STILL = [sys.executable, "-m", "live.cli", "still", str(MEDIA / "chelsea.png"), "still.jpg", "--steps", "20",
         "--octaves", "2"]


def test_without_a_terminal_progress_is_a_few_plain_lines(tmp_path):
    """On the code before, tqdm wrote its bar into the pipe: a record every tenth of a second."""
    result = subprocess.run(STILL, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    records = [r for r in result.stderr.replace("\r", "\n").splitlines() if "dreaming" in r]
    assert 3 <= len(records) <= 6, records  # the start, every quarter, done
    assert records[0].endswith("0/40 steps") and "done, 40 steps" in records[-1], records
    assert any("(50 %" in r for r in records), records


def test_on_a_terminal_progress_is_a_bar(tmp_path):
    pid, fd = pty.fork()
    if pid == 0:  # the child: stdin, stdout and stderr are the pseudo-terminal
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a new one is 0 columns wide
        os.chdir(tmp_path)
        os.execv(sys.executable, STILL)
    output = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    _, status = os.waitpid(pid, 0)
    text = output.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text[-2000:]
    assert "\r" in text and "40/40" in text and "|" in text, text[-2000:]  # tqdm redraws one line
    assert "0/40 steps\n" not in text.replace("\r\n", "\n")  # and no plain lines
