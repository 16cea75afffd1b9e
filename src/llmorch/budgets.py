"""Budgets: spend limits checked before each attempt and shared through the ledger (SPEC §2.11).

Before an attempt the orchestrator asks :class:`BudgetGuard` to reserve that attempt's worst
case against every budget it falls under: the prompt bounded by its UTF-8 bytes (a token is at
least a byte) at the model's highest input rate, plus ``max_tokens`` — or the model's output
ceiling — at its highest output rate. The ledger reserves atomically (PostgreSQL: one
transaction with row locks; SQLite: ``BEGIN IMMEDIATE``; JSON lines: this process only). The
record of the attempt settles the reservation to the actual cost; an attempt that failed
unbilled releases it; a reservation whose process died expires after its TTL. A reservation that
would pass a limit raises :class:`~llmorch.exceptions.BudgetExceededError` before any network
call. So the spend recorded in a window never passes its limit.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from llmorch.capabilities import capabilities
from llmorch.exceptions import BudgetExceededError
from llmorch.ledger.base import (
    PICO,
    BudgetState,
    Claim,
    Hold,
    LedgerBackend,
    LedgerUnavailableError,
    RecordFilter,
    ceil_pico,
)
from llmorch.parts import DocumentPart, ImagePart, TextPart

if TYPE_CHECKING:
    from llmorch.config import BudgetConfig
    from llmorch.costs import CostTracker
    from llmorch.pricing import ModelPrice
    from llmorch.request import ChatRequest

__all__ = ["BudgetGuard", "prompt_bytes", "window_of", "worst_case_usd"]

logger = logging.getLogger("llmorch.budgets")

_TURN_BYTES = 16  # a turn's role and framing tokens, generously
_ANTHROPIC_DEFAULT_MAX_TOKENS = 4096  # what the Anthropic codecs send when max_tokens is unset


def window_of(window: str, now: datetime) -> tuple[str, datetime | None, datetime | None]:
    """The key and bounds of the window that holds ``now``.

    Args:
        window: ``day``, ``month`` or ``total``.
        now: An aware time.

    Returns:
        ``(key, start, end)``: ``("2026-12-01", midnight, next midnight)``, ``("2026-12", the
        1st, the next 1st)`` or ``("total", None, None)`` (all UTC).
    """
    now = now.astimezone(timezone.utc)
    if window == "day":
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return start.date().isoformat(), start, start + timedelta(days=1)
    if window == "month":
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        after = (start + timedelta(days=32)).replace(day=1)
        return start.strftime("%Y-%m"), start, after
    return "total", None, None


def prompt_bytes(request: ChatRequest) -> int:
    """An upper bound of a request's input tokens: its UTF-8 bytes, and a margin per turn.

    Text, tool calls and results, reasoning, tool definitions and the output schema count by
    their bytes; an image or document by its bytes (far more than the vendor bills for it).

    Args:
        request: The typed request.

    Returns:
        The bound.
    """
    total = 0
    for message in request.messages:
        total += _TURN_BYTES
        for part in message.parts:
            if type(part) is TextPart:
                total += len(part.text.encode("utf-8"))
            elif isinstance(part, ImagePart):
                total += len(part.data) if part.data is not None else len(part.url or "")
            elif isinstance(part, DocumentPart):
                total += len(part.data)
        for call in message.tool_calls:
            total += len(call.name) + len(json.dumps(call.arguments, ensure_ascii=False)) + 16
        for item in message.reasoning:
            total += len(item.text.encode("utf-8"))
    for tool in request.tools:
        total += len(tool.name) + len(tool.description.encode("utf-8")) + _TURN_BYTES
        total += len(json.dumps(tool.parameters, ensure_ascii=False).encode("utf-8"))
    if request.response_format is not None and request.response_format.schema is not None:
        total += len(json.dumps(request.response_format.schema, ensure_ascii=False)) + 64
    return total


def _max_output(request: ChatRequest, provider_type: str) -> int | None:
    limit = request.max_tokens
    if limit is None:
        limit = capabilities(provider_type, request.model).max_output_tokens
    if limit is None and (
        provider_type == "anthropic" or (provider_type == "vertex" and "claude" in request.model)
    ):
        limit = _ANTHROPIC_DEFAULT_MAX_TOKENS
    if limit is not None and request.reasoning is not None and request.reasoning.budget_tokens:
        limit += request.reasoning.budget_tokens  # a codec may raise max_tokens to fit thinking
    return limit


def worst_case_usd(price: ModelPrice, prompt: int, output: int) -> float:
    """The most an attempt can cost: each token at the highest rate of its kind.

    Args:
        price: The model's price.
        prompt: Bound of its input tokens.
        output: Bound of its output tokens.

    Returns:
        USD.
    """
    inputs = [
        price.input,
        price.input_long,
        price.cache_write,
        price.cache_write_1h,
        price.cache_write_long,
        price.cache_write_1h_long,
    ]
    outputs = [price.output, price.output_long]
    in_rate = max(rate for rate in inputs if rate is not None)
    out_rate = max(rate for rate in outputs if rate is not None)
    return (prompt * in_rate + output * out_rate) / 1_000_000


def _usd(pico: int) -> float:
    return pico / PICO


class BudgetGuard:
    """Reserves, releases and reports the budgets of one orchestrator.

    Args:
        budgets: The configured budgets.
        tracker: The orchestrator's cost tracker (its prices and its ledger).
        ttl_s: How long a reservation lives without being settled.
        fail_open: Let calls go on when the ledger cannot be reached.
    """

    def __init__(
        self,
        budgets: Sequence[BudgetConfig],
        tracker: CostTracker,
        *,
        ttl_s: float,
        fail_open: bool,
    ) -> None:
        self.budgets = tuple(budgets)
        self._tracker = tracker
        self._ttl_s = ttl_s
        self._fail_open = fail_open
        self._filters = {
            b.name: RecordFilter(
                b.match.provider, b.match.model, b.match.session, dict(b.match.tags)
            )
            for b in self.budgets
        }

    @property
    def backend(self) -> LedgerBackend | None:
        """Where reservations are kept (the tracker's ledger)."""
        return self._tracker.backend

    def matching(
        self, provider: str, model: str, session_id: str, tags: Mapping[str, str] | None
    ) -> list[BudgetConfig]:
        """The budgets an attempt falls under.

        Args:
            provider: The configured provider name.
            model: The attempt's model id.
            session_id: The orchestrator session.
            tags: The call's tags.

        Returns:
            Every budget whose ``match`` holds, in configured order.
        """
        given = tags or {}
        found = []
        for budget in self.budgets:
            m = budget.match
            if (
                (m.provider is None or m.provider == provider)
                and (m.model is None or m.model == model)
                and (m.session is None or m.session == session_id)
                and all(given.get(k) == v for k, v in m.tags.items())
            ):
                found.append(budget)
        return found

    def _claims(self, budgets: Sequence[BudgetConfig], now: datetime) -> tuple[Claim, ...]:
        claims = []
        for budget in budgets:
            key, start, end = window_of(budget.window, now)
            limit = round(budget.limit_usd * PICO)
            claims.append(Claim(budget.name, key, start, end, limit, self._filters[budget.name]))
        return tuple(claims)

    async def reserve(
        self,
        provider: str,
        provider_type: str,
        request: ChatRequest,
        session_id: str,
        tags: Mapping[str, str] | None,
    ) -> Hold | None:
        """Reserve one attempt's worst case against every budget it falls under.

        Args:
            provider: The configured provider name.
            provider_type: Its type (for the model's output ceiling).
            request: The attempt's fitted request (its model, messages and ``max_tokens``).
            session_id: The orchestrator session.
            tags: The call's tags.

        Returns:
            The hold to settle or release, or ``None`` when no budget applies (or the ledger
            is unreachable and ``budgets_fail_open`` is set).

        Raises:
            BudgetExceededError: The attempt would pass a limit, its cost cannot be bounded,
                or the ledger cannot be reached (unless ``budgets_fail_open``).
        """
        budgets = self.matching(provider, request.model, session_id, tags)
        if not budgets:
            return None
        names = ", ".join(repr(b.name) for b in budgets)
        found = self._tracker.lookup_price(provider, request.model)
        if found is None:
            raise BudgetExceededError(
                f"{provider}/{request.model} has no price, so its cost cannot be bounded "
                f"under budget {names}: add it under 'pricing:'",
                budget=budgets[0].name,
                reason="unpriced",
            )
        output = _max_output(request, provider_type)
        if output is None:
            raise BudgetExceededError(
                f"{provider}/{request.model}: set max_tokens (the model's output ceiling is "
                f"unknown, so its cost under budget {names} cannot be bounded)",
                budget=budgets[0].name,
                reason="unbounded",
            )
        amount = ceil_pico(worst_case_usd(found[0], prompt_bytes(request), output))
        wall = time.time()
        now = datetime.fromtimestamp(wall, timezone.utc)
        hold = Hold(uuid.uuid4().hex, self._claims(budgets, now), amount, wall + self._ttl_s)
        try:
            refused = await self._call(self._require_backend().reserve, hold, wall)
        except LedgerUnavailableError as exc:
            if self._fail_open:
                logger.warning(
                    "budget %s not checked: the ledger is unreachable (%s); budgets_fail_open "
                    "lets the call go on",
                    names,
                    exc,
                )
                return None
            raise BudgetExceededError(
                f"budget {names} cannot be checked: the ledger is unreachable ({exc}); set "
                "budgets_fail_open: true to let calls go on",
                budget=None,
                reason="unavailable",
                requested_usd=_usd(amount),
            ) from None
        if refused is not None:
            raise self._refusal(refused, amount, provider, request.model)
        return hold

    @staticmethod
    def _refusal(state: BudgetState, amount: int, provider: str, model: str) -> Exception:
        left = max(state.limit_pico - state.spent_pico - state.reserved_pico, 0)
        return BudgetExceededError(
            f"budget {state.budget!r} ({state.window}): a call to {provider}/{model} may cost up "
            f"to ${_usd(amount):.6f}, and ${_usd(left):.6f} of ${_usd(state.limit_pico):.6f} "
            f"is left (spent ${_usd(state.spent_pico):.6f}, "
            f"reserved ${_usd(state.reserved_pico):.6f})",
            budget=state.budget,
            reason="limit",
            limit_usd=_usd(state.limit_pico),
            spent_usd=_usd(state.spent_pico),
            reserved_usd=_usd(state.reserved_pico),
            requested_usd=_usd(amount),
        )

    def _require_backend(self) -> LedgerBackend:
        backend = self._tracker.backend
        if backend is None:
            raise LedgerUnavailableError("budgets need a ledger (cost_tracking.log_path or ledger)")
        return backend

    @staticmethod
    async def _call(fn: Any, *args: Any) -> Any:
        # Always on a worker thread: even a JSON-lines ledger reads its file to seed a window.
        with anyio.CancelScope(shield=True):
            return await anyio.to_thread.run_sync(fn, *args)

    async def release(self, hold: Hold | None) -> None:
        """Drop the reservation of an attempt that failed unbilled (a failure is logged).

        Args:
            hold: What :meth:`reserve` returned.
        """
        if hold is None:
            return
        try:
            await self._call(self._require_backend().release, hold.id)
        except LedgerUnavailableError as exc:
            logger.warning("could not release a budget reservation (it expires): %s", exc)

    async def state(self) -> list[dict[str, Any]]:
        """Every budget's current window: limit, spent, reserved and what is left.

        Returns:
            ``{"name", "window", "limit_usd", "spent_usd", "reserved_usd",
            "remaining_usd"}`` per budget, in configured order.

        Raises:
            LedgerUnavailableError: The ledger cannot be reached.
        """
        if not self.budgets:
            return []
        wall = time.time()
        claims = self._claims(self.budgets, datetime.fromtimestamp(wall, timezone.utc))
        states = await self._call(self._require_backend().budget_state, claims, wall)
        return [
            {
                "name": s.budget,
                "window": s.window,
                "limit_usd": _usd(s.limit_pico),
                "spent_usd": _usd(s.spent_pico),
                "reserved_usd": _usd(s.reserved_pico),
                "remaining_usd": _usd(max(s.limit_pico - s.spent_pico - s.reserved_pico, 0)),
            }
            for s in states
        ]
