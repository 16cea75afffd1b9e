"""The first run without rough edges: newcomer findings 6 (a dict config), 10-16, 19 and 20.

The emulator's own command line runs as a real process (the flags, the config it writes,
SIGTERM); everything else over the emulator's real sockets, or respx where only the CLI's
parsing is under test.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
import respx
import yaml

import llmorch
from llmorch import (
    AllFallbacksFailedError,
    AsyncLLMOrchestrator,
    ConfigManager,
    ConfigurationError,
    LLMOrchestrator,
    OrchestratorConfig,
    RateLimitError,
)
from llmorch.cli import build_parser, main
from llmorch.testing import Fault, ProviderEmulator
from tests.conftest import base_config

CHAT = "https://api.openai.com/v1/chat/completions"
EXAMPLES = Path(__file__).parent.parent / "examples"
SRC = str(Path(llmorch.__file__).resolve().parents[1])
HELLO = [{"role": "user", "content": "hello"}]


def completion(text: str = "hi") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }


def write_config(name: str = "config.yaml", **overrides: Any) -> str:
    Path(name).write_text(yaml.safe_dump(base_config(**overrides)), encoding="utf-8")
    return name


def sent_prompt(route: respx.Route) -> str:
    body = json.loads(route.calls.last.request.content)
    content: str = body["messages"][-1]["content"]
    return content


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "LLMORCH_CONFIG"}
    env.update(
        PYTHONPATH=SRC, PYTHONUNBUFFERED="1", AWS_EC2_METADATA_DISABLED="true", NO_GCE_CHECK="True"
    )
    return env


class EmulatorProcess:
    """``llmorch emulator --port 0 ARGS…`` as a real process, read until it is ready."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llmorch", "emulator", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        self.lines: list[str] = []
        assert self.proc.stdout is not None
        expect = "wrote a config" if "--write-config" in args else "  bedrock "
        while not any(line.startswith(expect) for line in self.lines):
            line = self.proc.stdout.readline()
            if not line:  # exited: a usage error on a CLI without the flag
                code = self.proc.wait(timeout=10)
                stderr = self._read(self.proc.stderr)
                self.proc.stdout.close()
                if self.proc.stderr is not None:
                    self.proc.stderr.close()
                raise AssertionError(f"`llmorch emulator {' '.join(args)}` exited {code}: {stderr}")
            self.lines.append(line.rstrip("\n"))

    @staticmethod
    def _read(stream: IO[str] | None) -> str:
        return stream.read() if stream is not None else ""

    def service_account_file(self) -> Path:
        vertex = next(line for line in self.lines if line.startswith("  vertex "))
        match = re.search(r"service account (\S+\.json)", vertex)
        assert match, vertex
        return Path(match[1])

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            code = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise
        return code, self._read(self.proc.stderr)


@pytest.fixture
def emulator_process() -> Iterator[list[EmulatorProcess]]:
    started: list[EmulatorProcess] = []
    yield started
    for emulator in started:
        if emulator.proc.poll() is None:
            emulator.proc.kill()
            emulator.proc.wait(timeout=10)
        for stream in (emulator.proc.stdout, emulator.proc.stderr):
            if stream is not None:
                stream.close()


# --- 10: the printout names the real keys; --write-config -------------------------------------


def test_newcomer_10_printout_names_the_bedrock_endpoint_keys() -> None:
    """`llmorch emulator` prints Bedrock's endpoint_url and control_endpoint_url, not base_url."""
    with ProviderEmulator() as emu:
        description = emu.describe()
        base = emu.base_url
    bedrock = next(line for line in description.splitlines() if line.startswith("  bedrock "))
    assert f"endpoint_url={base}/bedrock/runtime" in bedrock
    assert f"control_endpoint_url={base}/bedrock/control" in bedrock
    assert "base_url=" not in bedrock
    openai = next(line for line in description.splitlines() if line.startswith("  openai "))
    assert f"base_url={base}/openai/v1" in openai


def test_newcomer_10_write_config_is_ready_for_every_dialect(
    emulator_process: list[EmulatorProcess],
) -> None:
    """`--write-config FILE` writes a config that answers on all five providers as it is."""
    emulator = EmulatorProcess("--write-config", "emu.yaml")
    emulator_process.append(emulator)
    config = ConfigManager.load_config("emu.yaml")
    assert set(config.providers) == {"openai", "anthropic", "gemini", "vertex", "bedrock"}
    bedrock = config.providers["bedrock"].model_dump()
    assert bedrock["endpoint_url"].endswith("/bedrock/runtime")
    assert bedrock["control_endpoint_url"].endswith("/bedrock/control")
    with LLMOrchestrator("emu.yaml") as orch:
        for name in config.providers:
            response = orch.send_request(HELLO, provider=name)
            assert "You said: hello" in response.content, name
            assert response.provider == name
    code, stderr = emulator.stop()
    assert code == 0, stderr


# --- 11: --model DIALECT:ID ---------------------------------------------------------------------


def test_newcomer_11_emulator_serves_extra_model_ids(
    emulator_process: list[EmulatorProcess],
) -> None:
    """`--model openai:llama3.2` (repeatable, ids with colons) serves and lists those ids."""
    emulator = EmulatorProcess(
        "--model", "openai:llama3.2", "--model", "bedrock:meta.llama3-8b-instruct-v1:0"
    )
    emulator_process.append(emulator)
    base = emulator.lines[0].rsplit(" ", 1)[-1]
    data = base_config(active_model="llama3.2", http_transport="aiohttp")
    data["providers"] = {
        "ollama": {"type": "openai", "api_key": "k", "base_url": f"{base}/openai/v1"},
        "bedrock": {
            "endpoint_url": f"{base}/bedrock/runtime",
            "control_endpoint_url": f"{base}/bedrock/control",
            "region_name": "us-east-1",
            "aws_access_key_id": "AKIAEMULATORLLMORCH0",
            "aws_secret_access_key": "llmorch+emulator/test+secret/access+key0",
        },
    }
    data["active_provider"] = "ollama"
    with LLMOrchestrator(OrchestratorConfig.from_dict(data)) as orch:
        assert "llama3.2" in orch.get_available_models("ollama")
        assert orch.send_request(HELLO).content.startswith("This is llama3.2 ")
        response = orch.send_request(
            HELLO, provider="bedrock", model="meta.llama3-8b-instruct-v1:0"
        )
        assert response.model == "meta.llama3-8b-instruct-v1:0"
    assert emulator.stop()[0] == 0


def test_newcomer_11_model_flag_needs_a_known_dialect(capsys: pytest.CaptureFixture[str]) -> None:
    """A `--model` without a known DIALECT: prefix is a usage error (2) naming the dialects."""
    assert main(["emulator", "--model", "llama3.2"]) == 2
    assert main(["emulator", "--model", "ollama:llama3.2"]) == 2
    err = capsys.readouterr().err
    assert "llmorch: error: emulator: argument --model: expected DIALECT:MODEL_ID" in err
    assert "openai, anthropic, gemini, vertex, bedrock" in err


def test_newcomer_11_cli_dialects_are_the_emulators() -> None:
    """The CLI's list of dialects (kept there so parsing imports nothing) is the emulator's."""
    from llmorch.cli import EMULATOR_DIALECTS

    assert EMULATOR_DIALECTS == ProviderEmulator().dialects


# --- 12: SIGTERM cleans up like Ctrl-C ----------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_newcomer_12_sigterm_removes_the_service_account_file(
    emulator_process: list[EmulatorProcess], signum: int
) -> None:
    """SIGTERM (docker stop, systemd) stops the emulator with exit 0 and its key file removed."""
    emulator = EmulatorProcess()
    emulator_process.append(emulator)
    key_file = emulator.service_account_file()
    assert key_file.exists()
    code, stderr = emulator.stop(signum)
    assert code == 0, stderr
    assert "emulator stopped" in stderr and "Traceback" not in stderr
    assert not key_file.exists()


# --- 13: CLI rough edges ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["-c", "other.yaml", "ask", "hi"],
        ["ask", "-c", "other.yaml", "hi"],
        ["--config", "other.yaml", "-v", "ask", "hi"],
        ["ask", "hi", "--config", "other.yaml"],
    ],
)
def test_newcomer_13_config_flag_anywhere(argv: list[str]) -> None:
    """`-c` is accepted before or after the subcommand."""
    write_config("other.yaml")
    with respx.mock() as mock:
        mock.post(CHAT).respond(200, json=completion())
        assert main(argv) == 0


def test_newcomer_13_config_flag_before_config_check(capsys: pytest.CaptureFixture[str]) -> None:
    """`llmorch -c FILE config check` checks FILE."""
    write_config("other.yaml")
    assert main(["-c", "other.yaml", "config", "check"]) == 0
    assert capsys.readouterr().out.endswith("OK: other.yaml\n")


def test_newcomer_13_stdin_prompt_loses_its_trailing_newline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`echo hi | llmorch ask -` sends "hi", not "hi\\n"."""
    write_config()
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("hi\n"))
    with respx.mock() as mock:
        route = mock.post(CHAT).respond(200, json=completion())
        assert main(["ask", "--json", "-"]) == 0
    assert sent_prompt(route) == "hi"


def test_newcomer_13_unquoted_words_are_one_prompt() -> None:
    """`llmorch ask hello world` sends "hello world"."""
    write_config()
    with respx.mock() as mock:
        route = mock.post(CHAT).respond(200, json=completion())
        assert main(["ask", "hello", "world"]) == 0
    assert sent_prompt(route) == "hello world"


def test_newcomer_13_missing_model_hint_names_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    """A provider without fallback_models asks for `--model` (the CLI's flag), not `model=`."""
    data = base_config()
    data["providers"]["anthropic"]["fallback_models"] = []
    Path("config.yaml").write_text(yaml.safe_dump(data))
    assert main(["ask", "--provider", "anthropic", "hi"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "llmorch: error: provider 'anthropic' has no fallback_models: pass --model to choose one\n"
    )


def test_newcomer_13_port_clash_names_the_address(capsys: pytest.CaptureFixture[str]) -> None:
    """A port in use is one error line naming host:port."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["emulator", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"llmorch: error: cannot listen on 127.0.0.1:{port}: ")
    assert err.count("\n") == 1


def test_newcomer_13_one_error_format(capsys: pytest.CaptureFixture[str]) -> None:
    """Runtime errors and usage errors alike read `llmorch: error: …` (exit 1 and 2)."""
    write_config()
    assert main(["models", "nope"]) == 1
    assert capsys.readouterr().err.startswith("llmorch: error: nope: unknown provider 'nope'")
    assert main(["ask"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("usage: llmorch ask")
    assert err[-1] == "llmorch: error: ask: the following arguments are required: PROMPT"
    assert main(["frobnicate"]) == 2
    assert capsys.readouterr().err.splitlines()[-1].startswith("llmorch: error: argument COMMAND")


def test_newcomer_13_every_option_has_help() -> None:
    """Every option and argument of every subcommand says what it does."""
    parser = build_parser()

    def walk(p: Any, where: str) -> Iterator[tuple[str, Any]]:
        for action in p._actions:
            if action.choices and hasattr(action, "_name_parser_map"):
                for name, sub in action._name_parser_map.items():
                    yield from walk(sub, f"{where} {name}")
            else:
                yield where, action

    missing = [
        f"{where}: {action.option_strings or action.dest}"
        for where, action in walk(parser, "llmorch")
        if not action.help
    ]
    assert missing == []


# --- 14: -v shows each attempt, retry and fallback ----------------------------------------------


def _emulator_config(emu: ProviderEmulator, **openai: Any) -> dict[str, Any]:
    provider = emu.config_for("openai") | openai
    return {
        "active_provider": "openai",
        "active_model": "gpt-5.4-mini",
        "providers": {"openai": provider},
        "model_discovery": {"refresh_on_start": False, "cache_path": None},
        "cost_tracking": {"log_path": "ledger.jsonl"},
    }


async def test_newcomer_14_each_attempt_retry_and_fallback_is_logged(
    caplog: pytest.LogCaptureFixture, sleeps: list[float]
) -> None:
    """One DEBUG line per attempt (path, status, latency, request id), INFO per retry with
    its delay and reason, WARNING per fallback naming the next model; over real sockets."""
    async with ProviderEmulator() as emu:
        secret = "sk-emulator-DISTINCTIVE-secret"
        config = _emulator_config(
            emu,
            api_key=secret,
            fallback_models=["gpt-5.6-luna"],
            max_retries=1,
        )
        emu.script("openai", "gpt-5.4-mini", Fault.rate_limit(0), Fault.http(500))
        with caplog.at_level(logging.DEBUG, logger="llmorch"):
            async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(config)) as orch:
                response = await orch.send_request(HELLO)
        assert response.model == "gpt-5.6-luna"
    records = [r for r in caplog.records if r.name.startswith("llmorch")]
    attempts = [r.getMessage() for r in records if r.getMessage().startswith("attempt ")]
    assert [r.levelno for r in records if r.getMessage().startswith("attempt ")] == [10] * 3
    pattern = (
        r"attempt openai/(?P<model>\S+): POST /openai/v1/chat/completions -> HTTP (?P<status>\d+)"
        r" in \d+\.\d{3}s \(request_id req_\w+\)"
    )
    seen = [re.fullmatch(pattern, line) for line in attempts]
    assert all(seen), attempts
    assert [(m["model"], m["status"]) for m in seen if m] == [
        ("gpt-5.4-mini", "429"),
        ("gpt-5.4-mini", "500"),
        ("gpt-5.6-luna", "200"),
    ]
    retries = [r.getMessage() for r in records if r.levelno == logging.INFO]
    assert len(retries) == 1
    assert retries[0].startswith(
        "retrying openai/gpt-5.4-mini in 0.00s (the server's Retry-After, retry 1 of 1) after "
        "RateLimitError (HTTP 429, request_id req_"
    )
    fallbacks = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert len(fallbacks) == 1
    assert fallbacks[0].startswith("model openai/gpt-5.4-mini failed with ProviderUnavailableError")
    assert fallbacks[0].endswith("; 1 retry used; falling back to gpt-5.6-luna")
    blob = "\n".join(r.getMessage() for r in records)
    assert secret not in blob and "127.0.0.1" not in "\n".join(attempts)
    assert sleeps == [0.0]


def test_newcomer_14_attempt_line_shows_the_path_only(caplog: pytest.LogCaptureFixture) -> None:
    """The attempt line never carries the URL's userinfo or query (which may hold a key)."""
    from llmorch import _http

    url = "https://user:pw-SECRET@example.test/v1beta/models/m:generate?key=KEY-SECRET"
    response = httpx.Response(200, headers={"request-id": "req_7"})
    with caplog.at_level(logging.DEBUG, logger="llmorch"):
        _http._log_attempt("gemini", "m", "POST", url, 0.0, response)
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("attempt gemini/m: POST /v1beta/models/m:generate -> HTTP 200 in ")
    assert line.endswith(" (request_id req_7)")
    assert "SECRET" not in line and "example.test" not in line


async def test_newcomer_14_streams_and_transport_failures_are_attempts_too(
    caplog: pytest.LogCaptureFixture, sleeps: list[float]
) -> None:
    """A streamed attempt logs its status line; a reset connection logs the error's kind."""
    async with ProviderEmulator() as emu:
        emu.script("openai", "gpt-5.4-mini", Fault.reset())
        config = _emulator_config(emu, max_retries=1)
        with caplog.at_level(logging.DEBUG, logger="llmorch"):
            async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(config)) as orch:
                async with orch.send_streaming_request(HELLO) as stream:
                    text = "".join([chunk async for chunk in stream])
    assert "You said: hello" in text
    attempts = [r.getMessage() for r in caplog.records if r.getMessage().startswith("attempt ")]
    assert len(attempts) == 2, attempts
    assert re.match(
        r"attempt openai/gpt-5.4-mini: POST \S+ -> ProviderConnectionError in ", attempts[0]
    )
    assert " -> HTTP 200 in " in attempts[1]


async def test_newcomer_14_cli_verbose_shows_attempts(capsys: pytest.CaptureFixture[str]) -> None:
    """`llmorch -v ask` prints the attempt and retry lines on stderr; without -v only the
    fallback warning shows."""
    import anyio

    async with ProviderEmulator() as emu:
        config = _emulator_config(emu, fallback_models=["gpt-5.6-luna"], max_retries=1)
        Path("emu.yaml").write_text(yaml.safe_dump(config))
        for verbose in (["-v"], []):
            emu.script("openai", "gpt-5.4-mini", Fault.rate_limit(0), Fault.http(404))
            code = await anyio.to_thread.run_sync(main, [*verbose, "-c", "emu.yaml", "ask", "hi"])
            assert code == 0
            err = capsys.readouterr().err
            if verbose:
                assert err.count(" DEBUG llmorch: attempt openai/") == 3
                assert " INFO llmorch: retrying openai/gpt-5.4-mini in 0.00s" in err
                assert " WARNING llmorch: model openai/gpt-5.4-mini failed" in err
            else:
                assert "attempt openai/" not in err and "retrying" not in err
                assert err.startswith(
                    "llmorch: warning: model openai/gpt-5.4-mini failed with ModelNotFoundError"
                )


# --- 15: costs --log on a file that is not a ledger -------------------------------------------


def test_newcomer_15_costs_on_a_file_that_is_not_a_ledger(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`costs --log config.yaml` is one error line (exit 1), not a warning per line."""
    write_config()
    assert main(["costs", "--log", "config.yaml"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "warning" not in err.lower()
    assert err.startswith("llmorch: error: ") and "config.yaml: not a llmorch cost ledger" in err


def test_newcomer_15_a_torn_ledger_line_is_still_a_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A real ledger with a torn line still reports, with one warning for that line."""
    from llmorch import CostTracker

    CostTracker(log_path="ledger.jsonl").log_usage("openai", "gpt-4o", {"prompt": 1}, "s")
    with open("ledger.jsonl", "a") as fh:
        fh.write('{"v": 1, "ts": "2026-\n')
    assert main(["costs", "--log", "ledger.jsonl", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["total_requests"] == 1
    assert err.startswith("llmorch: warning: skipping line 2 of the cost ledger")


# --- 16: duplicate YAML keys --------------------------------------------------------------------


def test_newcomer_16_duplicate_yaml_keys_are_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    """A key given twice is a ConfigurationError naming file, line and key path."""
    Path("config.yaml").write_text(
        "active_provider: openai\n"
        "active_model: gpt-4o\n"
        "providers:\n"
        "  openai: {api_key: sk-a, base_url: 'http://127.0.0.1:9/v1'}\n"
        "  anthropic:\n"
        "    api_key: sk-b\n"
        "    timeout: 5\n"
        "    timeout: 6\n"
        "  openai: {api_key: sk-c}\n"
    )
    with pytest.raises(ConfigurationError) as caught:
        ConfigManager.load_config("config.yaml")
    assert str(caught.value) == (
        "config.yaml: line 8: providers.anthropic.timeout: duplicate key (first given on line 7)"
    )
    assert main(["config", "check"]) == 1
    assert "providers.anthropic.timeout: duplicate key" in capsys.readouterr().err


def test_newcomer_16_anchors_and_merge_keys_still_work() -> None:
    """YAML anchors, aliases and `<<` merges are not duplicates."""
    Path("config.yaml").write_text(
        "active_provider: openai\n"
        "active_model: gpt-4o\n"
        "defaults: &d {timeout: 5, max_retries: 1}\n"
        "providers:\n"
        "  openai: {<<: *d, api_key: sk-a, timeout: 7}\n"
        "  anthropic: {<<: *d, api_key: sk-b}\n"
    )
    with pytest.raises(ConfigurationError, match="defaults: unknown key"):
        ConfigManager.load_config("config.yaml")


# --- 19: a base_url with a query string ---------------------------------------------------------


def test_newcomer_19_base_url_with_a_query_string_is_refused() -> None:
    """The Azure classic form names the /openai/v1 form and headers, and echoes no URL."""
    data = base_config()
    data["providers"]["openai"]["base_url"] = (
        "https://r.openai.azure.com/openai/deployments/d?api-version=2024-10-21"
    )
    Path("config.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigurationError) as caught:
        ConfigManager.load_config("config.yaml")
    message = str(caught.value)
    assert message.startswith("config.yaml: providers.openai.base_url: must not have a query")
    assert "/openai/v1" in message and "headers" in message
    assert "api-version" not in message and "r.openai.azure.com" not in message


# --- 6 (part): a dict config ------------------------------------------------------------------


async def test_newcomer_6_orchestrators_accept_a_dict(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`AsyncLLMOrchestrator(dict)` and `LLMOrchestrator(dict)` validate it like a file."""
    monkeypatch.setenv("LLMORCH_TEST_DICT_KEY", "sk-from-env")
    data = base_config()
    data["providers"]["openai"]["api_key"] = "${LLMORCH_TEST_DICT_KEY}"
    orch = AsyncLLMOrchestrator(data)
    assert orch.config.providers["openai"].api_key is not None
    assert orch.config.providers["openai"].api_key.get_secret_value() == "sk-from-env"
    await orch.aclose()
    with LLMOrchestrator(data) as sync:
        assert sync.config.active_model == "gpt-4o"
    with pytest.raises(ConfigurationError, match="active_provider"):
        AsyncLLMOrchestrator({"providers": {}})


# --- 20: polish ---------------------------------------------------------------------------------


def test_newcomer_20_demo_prints_no_path_it_deletes(capsys: pytest.CaptureFixture[str]) -> None:
    """The demo does not print the path of a config file that is gone when it exits."""
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    printed = [Path(p) for p in re.findall(r"(/\S+\.ya?ml)", out)]
    assert [p for p in printed if not p.exists()] == []


def test_newcomer_20_one_model_is_not_all_1_models() -> None:
    """A chain of one model fails as "the only model failed", not "all 1 models failed"."""
    error = AllFallbacksFailedError([("m", RateLimitError("slow down", provider="p"))])
    assert str(error).startswith("the only model failed — m: RateLimitError: slow down")
    assert "all 1 models" not in str(error)


async def test_newcomer_20_no_falling_back_when_nothing_is_left(
    caplog: pytest.LogCaptureFixture, sleeps: list[float]
) -> None:
    """The last model's failure says no "falling back", and no message reads request_id=None."""
    async with ProviderEmulator() as emu:
        emu.script("openai", "gpt-5.4-mini", Fault.http(404), Fault.reset(), Fault.reset())
        config = _emulator_config(emu, fallback_models=["gpt-5.6-luna"], max_retries=1)
        emu.script("openai", "gpt-5.6-luna", Fault.reset(), Fault.reset())
        with caplog.at_level(logging.INFO, logger="llmorch"):
            async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(config)) as orch:
                with pytest.raises(AllFallbacksFailedError) as caught:
                    await orch.send_request(HELLO)
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("llmorch")]
    assert "all 2 models failed" in str(caught.value)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].endswith("; falling back to gpt-5.6-luna")
    assert messages and not any("request_id=None" in m for m in messages)
    assert any(m.startswith("retrying openai/gpt-5.6-luna") for m in messages)


def test_newcomer_20_cost_report_leaves_no_csv_behind() -> None:
    """`examples/cost_report.py` without --csv writes no CSV into the working directory."""
    env = _env()
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "LLM_COST_LOG", "ENVIRONMENT"):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "cost_report.py")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "=== 7-Day Usage Report ===" in result.stdout
    assert list(Path.cwd().glob("*.csv")) == []


def test_newcomer_20_fastapi_unknown_provider_is_a_client_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The FastAPI example answers 400 for a provider that is not configured (not 502)."""
    pytest.importorskip("fastapi")
    import importlib.util

    import anyio

    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "LLM_COST_LOG", "LLMORCH_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    spec = importlib.util.spec_from_file_location("fastapi_app_400", EXAMPLES / "fastapi_app.py")
    assert spec is not None and spec.loader is not None
    module: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    async def exercise() -> int:
        app = module.app
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                failed = await client.post("/ask", json={"q": "Hi", "provider": "nope"})
                assert "unknown provider 'nope'" in failed.json()["detail"]
                return failed.status_code

    assert anyio.run(exercise) == 400
