"""A real ``nmt serve`` process on a free loopback port, for the tests that need one."""

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request

STARTUP = re.compile(r"nmt: serving .* at (http://\S+/) ")


def slow_search(seconds):
    """Python for ``ServeProcess(before=...)``: every search of the server takes
    ``seconds`` longer, so requests queue behind one another."""
    return (
        "import time\n"
        "from nmt.decoding.translator import Translator\n"
        "translate = Translator.translate\n"
        "def slow(self, *a, **k):\n"
        f"    time.sleep({seconds})\n"
        "    return translate(self, *a, **k)\n"
        "Translator.translate = slow"
    )


class ServeProcess:
    """``python -m nmt serve --port 0 ...``, its URL read from the startup line.

    stderr is read by a thread of its own so the pipe never fills; stdout is kept to
    check that the server prints nothing there.
    """

    def __init__(self, model_dirs, *args, timeout=120.0, before=None, on_startup=None):
        """``before``: Python run in the process before ``nmt serve``'s main (a patch);
        ``on_startup``: called with the process as soon as the startup line is read."""
        command = [sys.executable, "-m", "nmt", "serve", "--port", "0"]
        if before is not None:
            main = "import sys; from nmt.cli import main; sys.exit(main(sys.argv[1:]))"
            command = [sys.executable, "-c", f"{before}\n{main}", "serve", "--port", "0"]
        self._on_startup = on_startup
        for model_dir in model_dirs if isinstance(model_dirs, list) else [model_dirs]:
            command += ["--model", str(model_dir)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [*command, *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.stderr_lines = []
        self._ready = threading.Event()
        self.url = None
        threading.Thread(target=self._read_stderr, daemon=True).start()
        if not self._ready.wait(timeout) or self.url is None:
            self.stop()
            raise RuntimeError("nmt serve did not start:\n" + "".join(self.stderr_lines))

    def _read_stderr(self):
        for line in self.process.stderr:
            self.stderr_lines.append(line)
            match = STARTUP.search(line)
            if match:
                if self._on_startup is not None:
                    self._on_startup(self.process)
                self.url = match.group(1)
                self._ready.set()
        self._ready.set()  # ended without the line

    def request(self, path, body=None, timeout=30.0):
        """``(status, decoded JSON)`` of a GET, or a POST when ``body`` is given."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path.lstrip("/"), data=data, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def stop(self, timeout=30.0):
        """SIGTERM, then the exit status (killed after ``timeout`` seconds)."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def wait_for_pending(self, sentences, deadline):
        """Until ``/health`` counts ``sentences`` waiting, or ``time.monotonic()`` passes
        ``deadline``: the server holds the requests sent (not a fixed sleep, which races)."""
        while self.request("/health")[1]["pending"] < sentences and time.monotonic() < deadline:
            time.sleep(0.01)

    def stdout(self):
        return self.process.stdout.read()

    def wait_for_exit(self, timeout):
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.process.poll()
