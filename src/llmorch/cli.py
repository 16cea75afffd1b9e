"""The ``llmorch`` command line (SPEC §4), built on stdlib :mod:`argparse`.

Subcommands: ``ask``, ``models``, ``costs``, ``config check``, ``emulator`` and ``demo``.
Errors print one line, ``llmorch: error: <message>``, and exit 1; usage errors exit 2; Ctrl-C
exits 130. Importing this module is cheap: the orchestrator, the emulator and YAML are loaded
inside the command that needs them.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from llmorch import __version__
from llmorch.exceptions import OrchestratorError

if TYPE_CHECKING:
    import anyio
    import anyio.abc

    from llmorch.config import OrchestratorConfig
    from llmorch.sync import LLMOrchestrator
    from llmorch.testing import ProviderEmulator
    from llmorch.types import LLMResponse

__all__ = ["build_parser", "main"]

CONFIG_ENV = "LLMORCH_CONFIG"
DEFAULT_CONFIG = "config.yaml"
DEFAULT_LEDGER = "./llm_costs.log"
BAR_WIDTH = 40
GROUPS = ("provider", "model", "session", "day")
EMULATOR_DIALECTS = ("openai", "anthropic", "gemini", "vertex", "bedrock")

logger = logging.getLogger("llmorch.cli")

_RELATIVE = re.compile(r"^\s*(\d+)\s*([dhm])\s*$", re.IGNORECASE)
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


# --- Output ------------------------------------------------------------------------------------


def _out(text: str = "", *, end: str = "\n") -> None:
    sys.stdout.write(text + end)


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _dim(text: str) -> str:
    """``text`` in the terminal's dim style when stderr is a terminal (and NO_COLOR is unset)."""
    isatty = getattr(sys.stderr, "isatty", None)
    if os.environ.get("NO_COLOR") or not (isatty and isatty()):
        return text
    return f"\x1b[2m{text}\x1b[0m"


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return "; ".join(lines) or type(exc).__name__


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


# --- Argument types ----------------------------------------------------------------------------


def _parse_when(text: str, *, now: datetime | None = None) -> datetime:
    """Parse ``7d`` / ``24h`` / ``30m`` (ago), ``YYYY-MM-DD`` (midnight UTC) or ISO-8601.

    Args:
        text: The argument.
        now: The reference time for relative values (the current time by default).

    Returns:
        A timezone-aware UTC datetime.

    Raises:
        argparse.ArgumentTypeError: The text is none of those forms.
    """
    match = _RELATIVE.match(text)
    if match:
        amount, unit = int(match[1]), match[2].lower()
        reference = now or datetime.now(timezone.utc)
        return reference - timedelta(**{_UNITS[unit]: amount})
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid time {text!r}: use 7d, 24h, 30m, YYYY-MM-DD or an ISO-8601 datetime"
        ) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def _dialect_model(text: str) -> tuple[str, str]:
    """``DIALECT:ID`` (the id may hold colons: ``bedrock:amazon.nova-lite-v1:0``)."""
    dialect, sep, model = text.partition(":")
    if not sep or not model.strip() or dialect not in EMULATOR_DIALECTS:
        raise argparse.ArgumentTypeError(
            f"expected DIALECT:MODEL_ID with DIALECT one of {', '.join(EMULATOR_DIALECTS)}, "
            f"got {text!r}"
        )
    return dialect, model.strip()


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, got {value}")
    return value


# --- Configuration -----------------------------------------------------------------------------


def _config_path(explicit: str | None) -> str:
    """The config file: ``explicit``, else ``$LLMORCH_CONFIG``, else ``./config.yaml``."""
    return explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG


def _load_config(explicit: str | None) -> OrchestratorConfig:
    from llmorch.config import ConfigManager

    path = _config_path(explicit)
    logger.debug("loading config %s", path)
    return ConfigManager.load_config(path)


def _ledger_path(log: str | None, config: str | None) -> str:
    """The ledger: ``--log``, else the config's ``cost_tracking.log_path``, else the default.

    The config is ``-c``, else ``$LLMORCH_CONFIG``, else ``./config.yaml`` when it exists. Only
    its ``cost_tracking`` section matters here, so a file that fails validation for another
    reason (say an unset ``${OPENAI_API_KEY}``) still gives its ``log_path`` when that is a
    literal string.
    """
    if log:
        return log
    path = config or os.environ.get(CONFIG_ENV)
    if not path:
        if not os.path.exists(DEFAULT_CONFIG):
            return DEFAULT_LEDGER
        path = DEFAULT_CONFIG
    try:
        return _load_config(path).cost_tracking.log_path
    except OrchestratorError as exc:
        literal = _literal_log_path(path)
        if literal is None:
            raise
        logger.debug(
            "config %s does not validate (%s); using its cost_tracking.log_path", path, exc
        )
        return literal


def _literal_log_path(path: str) -> str | None:
    """``cost_tracking.log_path`` read straight from the YAML, if it is a literal (or absent)."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    section = data.get("cost_tracking") if isinstance(data, dict) else None
    if section is None:
        return DEFAULT_LEDGER if isinstance(data, dict) else None
    if not isinstance(section, dict):
        return None
    value = section.get("log_path", DEFAULT_LEDGER)
    if not isinstance(value, str) or not value or "${" in value:
        return None
    return value


# --- ask ---------------------------------------------------------------------------------------


def _summary(response: LLMResponse) -> str:
    tokens = response.tokens_used
    model = response.model
    if response.model_answered and response.model_answered != response.model:
        model = f"{model} ({response.model_answered})"
    prompt, completion = tokens.get("prompt", 0), tokens.get("completion", 0)
    total = tokens.get("total", prompt + completion)
    parts = [
        f"{response.provider}/{model}",
        f"{prompt} in + {completion} out = {total} tokens",
        f"${response.cost:.6f}",
        f"{response.latency_s:.2f}s",
    ]
    if response.attempts:
        parts.append(f"after {len(response.attempts)} failed attempt(s)")
    return " · ".join(parts)


def _response_json(response: LLMResponse) -> dict[str, Any]:
    return {
        "content": response.content,
        "model": response.model,
        "provider": response.provider,
        "tokens_used": dict(response.tokens_used),
        "finish_reason": response.finish_reason,
        "cost": response.cost,
        "request_id": response.request_id,
        "latency_s": response.latency_s,
    }


def _check_model_chosen(
    config: OrchestratorConfig, provider: str | None, model: str | None
) -> None:
    """Refuse, with the CLI's flag in the hint, a call that names no model to try."""
    name = provider or config.active_provider
    if model is None and name != config.active_provider:
        if not config.provider(name).fallback_models:
            raise OrchestratorError(
                f"provider {name!r} has no fallback_models: pass --model to choose one"
            )


def _cmd_ask(args: argparse.Namespace) -> int:
    words: list[str] = args.prompt
    # `echo hi | llmorch ask -`: the newline that ends the input is not part of the prompt.
    prompt = sys.stdin.read().rstrip("\r\n") if words == ["-"] else " ".join(words)
    messages = [{"role": "user", "content": prompt}]
    options: dict[str, Any] = {"provider": args.provider, "model": args.model}
    config = _load_config(args.config)
    _check_model_chosen(config, args.provider, args.model)
    with _one_shot(config, args.provider) as orch:
        if args.stream:
            with orch.send_streaming_request(
                messages, args.temperature, args.max_tokens, **options
            ) as stream:
                ended_with_newline = True
                for chunk in stream:
                    if not args.json and chunk:
                        _out(chunk, end="")
                        sys.stdout.flush()
                        ended_with_newline = chunk.endswith("\n")
                response = stream.response
            if not args.json and not ended_with_newline:
                _out()
        else:
            response = orch.send_request(messages, args.temperature, args.max_tokens, **options)
            if not args.json:
                _out(response.content)
    if args.json:
        _out(_json(_response_json(response)))
    else:
        _err(_dim(_summary(response)))
    return 0


def _one_shot(config: OrchestratorConfig, provider: str | None) -> LLMOrchestrator:
    """An orchestrator for one call, which lists the models of that call's provider only.

    Start-up discovery would list every configured provider whose cached listing is stale; one
    call needs only its own provider's listing (for the deprecated-model warning), and none
    while that listing is younger than ``model_discovery.max_age``. With ``refresh_on_start:
    false`` nothing is listed. A failed listing is a WARNING: the call itself reports the error.
    """
    from llmorch.sync import LLMOrchestrator

    discovery = config.model_discovery
    listing, discovery.refresh_on_start = discovery.refresh_on_start, False
    orch = LLMOrchestrator(config)
    name = provider or config.active_provider
    try:
        if (
            listing
            and name in config.providers
            and not orch.registry.is_fresh(name, discovery.max_age)
        ):
            orch.refresh_models(name)
    except OrchestratorError as exc:
        logger.warning("model discovery failed for provider %r: %s", name, _one_line(exc))
    except BaseException:
        orch.close()
        raise
    return orch


# --- models ------------------------------------------------------------------------------------


def _cmd_models(args: argparse.Namespace) -> int:
    from llmorch.sync import LLMOrchestrator

    config = _load_config(args.config)
    # This command lists what it shows itself: the requested providers only, again when
    # --refresh asks, or when refresh_on_start is on and the cached listing is older than max_age.
    discovery = config.model_discovery
    max_age = discovery.max_age if discovery.refresh_on_start else math.inf
    discovery.refresh_on_start = False
    names: list[str] = [args.provider] if args.provider else list(config.providers)
    listings: dict[str, list[dict[str, Any]]] = {}
    with LLMOrchestrator(config) as orch:
        for name in names:
            try:
                if args.refresh or not orch.registry.is_fresh(name, max_age):
                    orch.refresh_models(name)
                infos = orch.registry.get_available_models(name, args.include_deprecated)
            except OrchestratorError as exc:
                _err(f"llmorch: error: {name}: {_one_line(exc)}")
                continue
            listings[name] = [{"name": i.name, "deprecated": i.deprecated} for i in infos]
    if args.json:
        _out(_json(listings))
    else:
        for name, models in listings.items():
            _out(f"{name} ({len(models)} model{'' if len(models) == 1 else 's'})")
            for model in models:
                _out(f"  {model['name']}{'  [deprecated]' if model['deprecated'] else ''}")
    return 0 if listings else 1


# --- costs -------------------------------------------------------------------------------------


def _rows(report: dict[str, Any], by: str) -> list[tuple[str, dict[str, Any]]]:
    groups: dict[str, dict[str, Any]] = report[f"by_{by}"]
    if by == "day":
        return sorted(groups.items())
    return sorted(groups.items(), key=lambda item: (-item[1]["cost"], item[0]))


def _bar(cost: float, largest: float) -> str:
    """A bar of up to BAR_WIDTH blocks for ``0 < cost <= largest``."""
    return "█" * max(1, round(cost / largest * BAR_WIDTH))


def _costs_table(report: dict[str, Any], by: str) -> list[str]:
    rows = _rows(report, by)
    total = {
        "requests": report["total_requests"],
        "tokens": report["total_tokens"],
        "cost": report["total_cost"],
    }
    cells = [(key, str(v["requests"]), str(v["tokens"]), f"{v['cost']:.6f}") for key, v in rows]
    cells.append(("TOTAL", str(total["requests"]), str(total["tokens"]), f"{total['cost']:.6f}"))
    header = (by, "requests", "tokens", "cost (USD)")
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(4)]

    def line(row: tuple[str, str, str, str]) -> str:
        first = row[0].ljust(widths[0])
        rest = "  ".join(cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True))
        return f"{first}  {rest}"

    largest = max((v["cost"] for _, v in rows), default=0.0)
    lines = [line(header).rstrip(), "-" * len(line(header))]
    if not rows:
        lines.append("(no records)")
    for (_, values), row in zip(rows, cells[:-1], strict=True):
        text = line(row)
        if by == "day" and values["cost"] > 0:
            text += "  " + _bar(values["cost"], largest)
        lines.append(text)
    lines.append("-" * len(line(header)))
    lines.append(line(cells[-1]))
    return lines


def _window(report: dict[str, Any]) -> str:
    start = report["start_date"] or "the beginning"
    end = report["end_date"] or "now"
    return f"{start} → {end}"


def _cmd_costs(args: argparse.Namespace) -> int:
    from llmorch.costs import CostTracker

    ledger = _ledger_path(args.log, args.config)
    if args.since and args.until and args.since >= args.until:
        raise OrchestratorError("--since must be earlier than --until")
    tracker = CostTracker(log_path=ledger)
    assert tracker.log_path is not None
    logger.debug("reading the cost ledger %s", tracker.log_path)
    if not os.path.exists(tracker.log_path):
        _err(f"llmorch: warning: no cost ledger at {tracker.log_path} (nothing recorded yet)")
    if args.csv:
        rows = tracker.export_to_csv(args.csv, args.since, args.until)
        message = f"wrote {rows} row{'' if rows == 1 else 's'} to {args.csv}"
        if not args.json:
            _out(message)
            return 0
        _err(message)
    report = tracker.get_usage_report(args.since, args.until)
    if args.json:
        _out(_json(report))
        return 0
    _out(f"Costs by {args.by}, {_window(report)}  (ledger: {tracker.log_path})")
    _out()
    for text in _costs_table(report, args.by):
        _out(text)
    unpriced = report["unpriced_requests"]
    _out()
    _out(f"{unpriced} unpriced request{'' if unpriced == 1 else 's'} (counted at cost 0)")
    return 0


# --- config check ------------------------------------------------------------------------------


def _cmd_config_check(args: argparse.Namespace) -> int:
    import yaml

    path = _config_path(args.file or args.config)
    config = _load_config(path)
    _out(yaml.safe_dump(config.masked(), sort_keys=False, allow_unicode=True), end="")
    # An unset variable of the active provider failed the load above; any other provider's
    # only fails when that provider is used, so it is a warning here and the exit code stays 0.
    unset = config.unset_variables()
    for key_path, names in unset.items():
        provider = key_path.split(".")[1]
        _err(
            f"llmorch: warning: {path}: {key_path}: environment variable {names} is not set "
            f"(provider {provider!r} fails when it is used)"
        )
    warnings = f" ({len(unset)} warning{'' if len(unset) == 1 else 's'})" if unset else ""
    _out(f"OK: {path}{warnings}")
    return 0


# --- emulator and demo -------------------------------------------------------------------------


def emulator_config(emulator: ProviderEmulator) -> dict[str, Any]:
    """A ready config for every dialect of a running emulator (what ``--write-config`` writes).

    Args:
        emulator: The running emulator.

    Returns:
        A config dict: ``active_provider: openai`` and one provider per dialect.
    """
    return {
        "active_provider": "openai",
        "active_model": emulator.chat_models("openai")[0],
        "providers": {name: emulator.config_for(name) for name in emulator.dialects},
    }


def _write_emulator_config(emulator: ProviderEmulator, path: str) -> None:
    import yaml

    header = (
        f"# Written by `llmorch emulator` for the emulator on {emulator.base_url}: valid while\n"
        "# it runs (the Vertex service-account file is deleted when it stops).\n"
    )
    text = yaml.safe_dump(emulator_config(emulator), sort_keys=False, allow_unicode=True)
    Path(path).write_text(header + text, encoding="utf-8")


async def _serve_emulator(
    host: str,
    port: int,
    *,
    ready: Callable[[ProviderEmulator], None] | None = None,
    stop: anyio.Event | None = None,
    models: Sequence[tuple[str, str]] = (),
    write_config: str | None = None,
    on_sigterm: bool = False,
) -> None:
    """Run the provider emulator, print how to reach it, and serve until stopped.

    Args:
        host: The interface to listen on.
        port: The port (0 picks a free one).
        ready: Called with the running emulator once it listens.
        stop: Serve until this event is set; ``None`` serves until cancelled (Ctrl-C).
        models: Extra ``(dialect, model id)`` pairs to serve.
        write_config: Write a ready config for every dialect to this file.
        on_sigterm: Also stop, cleaning up the same way, on SIGTERM.
    """
    import anyio

    from llmorch.testing import ProviderEmulator

    async with ProviderEmulator(host=host, port=port) as emulator, anyio.create_task_group() as tg:
        if on_sigterm:  # listening before anything is printed: a SIGTERM from then on is seen
            await tg.start(_cancel_on_sigterm, tg.cancel_scope)
        for dialect, model in models:
            emulator.script(dialect, model)  # a scripted model exists, with the default reply
        _out(emulator.describe().rstrip("\n"))
        if write_config is not None:
            _write_emulator_config(emulator, write_config)
            _out(f"wrote a config for every dialect to {write_config}")
        sys.stdout.flush()
        if ready is not None:
            ready(emulator)
        if stop is None:
            await anyio.sleep_forever()
        else:
            await stop.wait()
        tg.cancel_scope.cancel()


async def _cancel_on_sigterm(
    scope: anyio.CancelScope, *, task_status: anyio.abc.TaskStatus[None]
) -> None:
    import signal

    import anyio

    # Ctrl-C too: a KeyboardInterrupt inside the loop surfaces as a CancelledError on some
    # Pythons (3.10); received as a signal, both stop the same clean way.
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        task_status.started()
        async for signum in signals:
            name = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"
            _err(f"llmorch: emulator stopped ({name})")
            scope.cancel()
            return


def _cmd_emulator(args: argparse.Namespace) -> int:
    import functools

    import anyio

    serve = functools.partial(
        _serve_emulator,
        args.host,
        args.port,
        models=args.model,
        write_config=args.write_config,
        on_sigterm=sys.platform != "win32",
    )
    try:
        anyio.run(serve)
    except KeyboardInterrupt:
        _err("llmorch: emulator stopped")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from llmorch.demo import run_demo

    return run_demo()


# --- Parser ------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors in the one error format (``llmorch: error: …``, exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        command = self.prog.removeprefix("llmorch").strip()
        self.exit(2, f"llmorch: error: {command + ': ' if command else ''}{message}\n")


_VERBOSE_HELP = "show each attempt, retry and fallback (debug logs of llmorch) on stderr"
_CONFIG_HELP = f"the YAML config (default: ${CONFIG_ENV}, else ./{DEFAULT_CONFIG})"


def build_parser() -> argparse.ArgumentParser:
    """Build the ``llmorch`` argument parser.

    ``-v`` and ``-c`` are accepted before or after the subcommand.

    Returns:
        The parser; each subcommand sets ``func``, the function that runs it.
    """
    parser = _Parser(
        prog="llmorch",
        description="One async interface to five LLM providers: ask, list models, "
        "report costs, check a config, run the provider emulator.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help=_VERBOSE_HELP)
    parser.add_argument("-c", "--config", metavar="CONFIG", help=_CONFIG_HELP)
    # Also accepted after the subcommand; SUPPRESS keeps a global value from being overwritten.
    common = _Parser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=_VERBOSE_HELP
    )
    with_config = _Parser(add_help=False, parents=[common])
    with_config.add_argument(
        "-c", "--config", metavar="CONFIG", default=argparse.SUPPRESS, help=_CONFIG_HELP
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    ask = sub.add_parser("ask", parents=[with_config], help="send one prompt and print the answer")
    ask.add_argument(
        "prompt",
        nargs="+",
        metavar="PROMPT",
        help="the user message; several words are joined with spaces ('-' reads stdin)",
    )
    ask.add_argument("--provider", help="a configured provider (default: active_provider)")
    ask.add_argument("--model", help="the model tried first (then the fallback models)")
    ask.add_argument("--stream", action="store_true", help="print the answer as it arrives")
    ask.add_argument(
        "--max-tokens",
        type=_positive_int,
        metavar="N",
        help="the most tokens the answer may have (default: the vendor's; Anthropic 4096)",
    )
    ask.add_argument(
        "--temperature",
        type=float,
        metavar="T",
        help="sampling temperature, e.g. 0.2 (default: not sent, so the vendor's)",
    )
    ask.add_argument("--json", action="store_true", help="print the response as JSON")
    ask.set_defaults(func=_cmd_ask)

    models = sub.add_parser("models", parents=[with_config], help="list the providers' models")
    models.add_argument("provider", nargs="?", metavar="PROVIDER", help="default: all")
    models.add_argument("--refresh", action="store_true", help="ask the vendors again")
    models.add_argument(
        "--include-deprecated", action="store_true", help="also list models no longer listed"
    )
    models.add_argument("--json", action="store_true", help="print the listing as JSON")
    models.set_defaults(func=_cmd_models)

    costs = sub.add_parser("costs", parents=[with_config], help="report spending from the ledger")
    costs.add_argument(
        "--log",
        metavar="PATH",
        help=f"the ledger (default: the config's cost_tracking.log_path, else {DEFAULT_LEDGER})",
    )
    costs.add_argument(
        "--since",
        type=_parse_when,
        metavar="WHEN",
        help="inclusive start: 7d, 24h, 30m (ago), YYYY-MM-DD (UTC) or ISO-8601",
    )
    costs.add_argument(
        "--until", type=_parse_when, metavar="WHEN", help="exclusive end, same forms"
    )
    costs.add_argument("--by", choices=GROUPS, default="provider", help="group rows by")
    costs.add_argument("--csv", metavar="FILE", help="write the records as CSV instead")
    costs.add_argument("--json", action="store_true", help="print the report as JSON")
    costs.set_defaults(func=_cmd_costs)

    config = sub.add_parser("config", parents=[with_config], help="configuration tools")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = config_sub.add_parser(
        "check", parents=[with_config], help="validate a config and print it, secrets masked"
    )
    check.add_argument(
        "file",
        nargs="?",
        metavar="FILE",
        help=f"default: -c, else ${CONFIG_ENV}, else ./{DEFAULT_CONFIG}",
    )
    check.set_defaults(func=_cmd_config_check)

    emulator = sub.add_parser(
        "emulator", parents=[common], help="run the provider emulator until Ctrl-C or SIGTERM"
    )
    emulator.add_argument("--port", type=_port, default=8080, help="default: 8080 (0 = any)")
    emulator.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    emulator.add_argument(
        "--write-config",
        metavar="FILE",
        help="write a ready llmorch config for every dialect to FILE",
    )
    emulator.add_argument(
        "--model",
        type=_dialect_model,
        action="append",
        default=[],
        metavar="DIALECT:ID",
        help="also serve this model id, e.g. openai:llama3.2 (repeatable)",
    )
    emulator.set_defaults(func=_cmd_emulator)

    demo = sub.add_parser(
        "demo", parents=[common], help="run every feature against the emulator (no keys)"
    )
    demo.set_defaults(func=_cmd_demo)
    return parser


# --- Entry point -------------------------------------------------------------------------------


class _PlainFormatter(logging.Formatter):
    """``llmorch: warning: …``, the CLI's one format for what is not a result."""

    def format(self, record: logging.LogRecord) -> str:
        return f"llmorch: {record.levelname.lower()}: {record.getMessage()}"


def _setup_logging(verbose: bool) -> Callable[[], None]:
    """Send llmorch's logs to stderr; return the function that undoes it."""
    logger = logging.getLogger("llmorch")
    handler = logging.StreamHandler(sys.stderr)
    if verbose:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(_PlainFormatter())
    previous = logger.level
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logger.addHandler(handler)

    def undo() -> None:
        logger.removeHandler(handler)
        logger.setLevel(previous)

    return undo


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    _err(str(code))
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``llmorch`` command line.

    Args:
        argv: The arguments (``sys.argv[1:]`` by default).

    Returns:
        The exit code: 0 on success, 1 on an error, 2 on a usage error, 130 on Ctrl-C.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return _exit_code(exc.code)
    undo_logging = _setup_logging(args.verbose)
    try:
        func: Callable[[argparse.Namespace], int] = args.func
        return func(args)
    except OrchestratorError as exc:
        _err(f"llmorch: error: {_one_line(exc)}")
        return 1
    except BrokenPipeError:  # `llmorch costs | head`: the reader left
        return 1
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        _err(f"llmorch: error: {where}{exc.strerror or _one_line(exc)}")
        return 1
    except KeyboardInterrupt:
        _err("")
        return 130
    finally:
        undo_logging()
