"""The ``llmorch`` command line (SPEC §4), built on stdlib :mod:`argparse`.

Subcommands: ``ask``, ``models``, ``costs``, ``ledger migrate``, ``budgets``, ``config check``,
``emulator`` and ``demo``.
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


def _ledger_url(ledger: str | None, log: str | None, config: str | None) -> str:
    """The ledger's URL: ``--ledger``, else ``--log`` (``jsonl:PATH``), else the config's.

    The config's is ``cost_tracking.ledger``, else ``jsonl:`` + its ``log_path``; the config is
    ``-c``, else ``$LLMORCH_CONFIG``, else ``./config.yaml`` when it exists, else the default
    ledger. Only its ``cost_tracking`` section matters here, so a file that fails validation for
    another reason (say an unset ``${OPENAI_API_KEY}``) still gives its ledger when that is a
    literal string.
    """
    if ledger:
        return ledger
    if log:
        return f"jsonl:{log}"
    path = config or os.environ.get(CONFIG_ENV)
    if not path:
        if not os.path.exists(DEFAULT_CONFIG):
            return f"jsonl:{DEFAULT_LEDGER}"
        path = DEFAULT_CONFIG
    try:
        tracking = _load_config(path).cost_tracking
    except OrchestratorError as exc:
        literal = _literal_ledger(path)
        if literal is None:
            raise
        logger.debug("config %s does not validate (%s); using its cost_tracking ledger", path, exc)
        return literal
    return tracking.ledger or f"jsonl:{tracking.log_path}"


def _literal_ledger(path: str) -> str | None:
    """The ledger URL read straight from the YAML's ``cost_tracking``, if literal (or absent)."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    section = data.get("cost_tracking") if isinstance(data, dict) else None
    if section is None:
        return f"jsonl:{DEFAULT_LEDGER}" if isinstance(data, dict) else None
    if not isinstance(section, dict) or (section.get("ledger") and section.get("log_path")):
        return None
    url = section.get("ledger")
    value = url if url else section.get("log_path", DEFAULT_LEDGER)
    if not isinstance(value, str) or not value or "${" in value:
        return None
    return value if url else f"jsonl:{value}"


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


def _by(text: str) -> str:
    """A ``--by`` value: a grouping, or ``tag:NAME``."""
    value = text.strip()
    if value in GROUPS or (value.startswith("tag:") and value[4:].strip()):
        return value if value in GROUPS else "tag:" + value[4:].strip()
    raise argparse.ArgumentTypeError(
        f"invalid grouping {text!r}: use {', '.join(GROUPS)} or tag:NAME"
    )


def _groups(report: dict[str, Any], by: str) -> dict[str, dict[str, Any]]:
    if by.startswith("tag:"):
        groups: dict[str, dict[str, Any]] = report["by_tag"][by[4:]]
        return groups
    groups = report[f"by_{by}"]
    return groups


def _rows(report: dict[str, Any], by: str) -> list[tuple[str, dict[str, Any]]]:
    groups = _groups(report, by)
    if by == "day":
        return sorted(groups.items())
    return sorted(groups.items(), key=lambda item: (-item[1]["cost"], item[0]))


def _bar(cost: float, largest: float) -> str:
    """A bar of up to BAR_WIDTH blocks for ``0 < cost <= largest``."""
    return "█" * max(1, round(cost / largest * BAR_WIDTH))


def _untagged(report: dict[str, Any], rows: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The records in no row of a tag's table (they lack the tag)."""
    return {
        "requests": report["total_requests"] - sum(v["requests"] for _, v in rows),
        "tokens": report["total_tokens"] - sum(v["tokens"] for _, v in rows),
        "cost": max(0.0, round(report["total_cost"] - sum(v["cost"] for _, v in rows), 12)),
    }


def _costs_table(report: dict[str, Any], by: str) -> list[str]:
    rows = _rows(report, by)
    if by.startswith("tag:"):
        rest = _untagged(report, rows)
        if rest["requests"]:
            rows.append((f"(no {by[4:]} tag)", rest))
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


def _open_tracker(url: str) -> tuple[Any, str, bool]:
    """A tracker on the ledger at ``url``, what to call that ledger, and whether it exists.

    A JSON-lines or SQLite ledger that does not exist yet is not created by reading it.
    """
    from llmorch.costs import CostTracker
    from llmorch.ledger import parse_ledger_url

    parsed = parse_ledger_url(url, key="--ledger")
    exists = parsed.scheme == "postgresql" or os.path.exists(parsed.target)
    where = parsed.target if parsed.scheme == "jsonl" else parsed.display
    if not exists:  # nothing recorded: an empty report, and no file created
        return CostTracker(log_path=None), where, False
    return CostTracker(ledger=parsed), where, True


def _cmd_costs(args: argparse.Namespace) -> int:
    url = _ledger_url(args.ledger, args.log, args.config)
    if args.since and args.until and args.since >= args.until:
        raise OrchestratorError("--since must be earlier than --until")
    tracker, where, exists = _open_tracker(url)
    logger.debug("reading the cost ledger %s", where)
    if not exists:
        _err(f"llmorch: warning: no cost ledger at {where} (nothing recorded yet)")
    try:
        return _report_costs(args, tracker, where)
    finally:
        tracker.close()


def _report_costs(args: argparse.Namespace, tracker: Any, where: str) -> int:
    if args.csv:
        rows = tracker.export_to_csv(args.csv, args.since, args.until)
        message = f"wrote {rows} row{'' if rows == 1 else 's'} to {args.csv}"
        if not args.json:
            _out(message)
            return 0
        _err(message)
    groupings: list[str] = list(dict.fromkeys(args.by or ["provider"]))
    tags = [by[4:] for by in groupings if by.startswith("tag:")]
    report = tracker.get_usage_report(args.since, args.until, by_tags=tags)
    if args.json:
        _out(_json(report))
        return 0
    _out(f"Costs by {', '.join(groupings)}, {_window(report)}  (ledger: {where})")
    for by in groupings:
        _out()
        for text in _costs_table(report, by):
            _out(text)
    unpriced = report["unpriced_requests"]
    _out()
    _out(f"{unpriced} unpriced request{'' if unpriced == 1 else 's'} (counted at cost 0)")
    return 0


# --- ledger migrate ----------------------------------------------------------------------------


def _cmd_ledger_migrate(args: argparse.Namespace) -> int:
    from llmorch.ledger.migrate import migrate

    result = migrate(args.src, args.dst, batch=args.batch)
    _out(
        f"read {result.read} record{'' if result.read == 1 else 's'} from {result.src}; "
        f"stored {result.stored} in {result.dst}, {result.present} already there"
    )
    return 0


# --- budgets -----------------------------------------------------------------------------------


def _cmd_budgets(args: argparse.Namespace) -> int:
    import anyio

    from llmorch.budgets import BudgetGuard
    from llmorch.costs import CostTracker

    config = _load_config(args.config)
    if not config.budgets:
        _err(f"llmorch: warning: {_config_path(args.config)}: no budgets configured")
        if args.json:
            _out(_json([]))
        return 0
    tracking = config.cost_tracking
    tracker = CostTracker(
        log_path=tracking.log_path,
        ledger=tracking.ledger,
        spool_path=tracking.spool_path,
        provider_types={name: p.type for name, p in config.providers.items()},
    )
    guard = BudgetGuard(
        config.budgets,
        tracker,
        ttl_s=config.budget_reservation_ttl_s,
        fail_open=config.budgets_fail_open,
    )
    try:
        states: list[dict[str, Any]] = anyio.run(guard.state)
    finally:
        tracker.close()
    if args.json:
        _out(_json(states))
        return 0
    assert tracker.backend is not None
    _out(f"Budgets  (ledger: {tracker.backend.url})")
    _out()
    header = ("budget", "window", "limit", "spent", "reserved", "remaining")
    keys = ("limit_usd", "spent_usd", "reserved_usd", "remaining_usd")
    cells = [(s["name"], s["window"], *(f"{s[k]:.6f}" for k in keys)) for s in states]
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(len(header))]
    for i, row in enumerate([header, *cells]):
        text = "  ".join(
            cell.ljust(w) if j < 2 else cell.rjust(w)
            for j, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        _out(text.rstrip())
        if i == 0:
            _out("-" * len(text))
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
        "report costs and budgets, migrate a ledger, check a config, run the provider emulator.",
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
    where = costs.add_mutually_exclusive_group()
    where.add_argument(
        "--ledger",
        metavar="URL",
        help="the ledger: jsonl:PATH, sqlite:///PATH or postgresql://USER@HOST/DB (default: "
        f"the config's cost_tracking.ledger, else its log_path, else {DEFAULT_LEDGER})",
    )
    where.add_argument("--log", metavar="PATH", help="a JSON-lines ledger (= --ledger jsonl:PATH)")
    costs.add_argument(
        "--since",
        type=_parse_when,
        metavar="WHEN",
        help="inclusive start: 7d, 24h, 30m (ago), YYYY-MM-DD (UTC) or ISO-8601",
    )
    costs.add_argument(
        "--until", type=_parse_when, metavar="WHEN", help="exclusive end, same forms"
    )
    costs.add_argument(
        "--by",
        type=_by,
        action="append",
        metavar="GROUP",
        help="group rows by provider (default), model, session, day or tag:NAME (repeatable: "
        "one table each)",
    )
    costs.add_argument("--csv", metavar="FILE", help="write the records as CSV instead")
    costs.add_argument("--json", action="store_true", help="print the report as JSON")
    costs.set_defaults(func=_cmd_costs)

    ledger = sub.add_parser("ledger", parents=[common], help="ledger tools")
    ledger_sub = ledger.add_subparsers(dest="ledger_command", metavar="ACTION", required=True)
    migrate = ledger_sub.add_parser(
        "migrate",
        parents=[common],
        help="copy every record of one ledger into another (idempotent: by record id)",
    )
    migrate.add_argument("src", metavar="SRC_URL", help="the ledger to read")
    migrate.add_argument("dst", metavar="DST_URL", help="the ledger to write (created if absent)")
    migrate.add_argument(
        "--batch", type=_positive_int, default=5000, metavar="N", help="records per write"
    )
    migrate.set_defaults(func=_cmd_ledger_migrate)

    budgets = sub.add_parser(
        "budgets", parents=[with_config], help="each budget's window: limit, spent, reserved"
    )
    budgets.add_argument("--json", action="store_true", help="print the budgets as JSON")
    budgets.set_defaults(func=_cmd_budgets)

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
