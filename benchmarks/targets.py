"""Issue 17's performance targets, in one table that ``--check`` and docs/performance.md share.

Each target names the clients it needs, the figure it reads from a run's results and its limit.
"Same transport" means llmorch's default (``http_transport: auto``, aiohttp's pool on asyncio)
against bare httpx over httpx-aiohttp; a peer's figure is how many times slower it is than
llmorch on the same call (the openai SDK and LiteLLM against llmorch's OpenAI adapter, the
anthropic SDK against its Anthropic adapter).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

BARE = "httpx+aiohttp"
CORE = "llmorch"
IMPORT_DEPS = "dependencies (httpx, pydantic, yaml, anyio, aiohttp)"


@dataclass(frozen=True)
class Target:
    """One target.

    Attributes:
        label: What it promises, as docs/performance.md lists it.
        bound: ``max`` (the figure must not exceed ``limit``) or ``min`` (must reach it).
        limit: The limit.
        unit: How the figure prints: ``×`` (a ratio) or ``MiB`` (a difference).
        clients: The clients the figure needs measured.
        figure: Reads the figure from a run's results.
    """

    label: str
    bound: Literal["max", "min"]
    limit: float
    unit: Literal["×", "MiB"]
    clients: tuple[str, ...]
    figure: Callable[[dict[str, Any]], float]

    def holds(self, value: float) -> bool:
        """Whether ``value`` meets the target."""
        return value <= self.limit if self.bound == "max" else value >= self.limit

    def limit_text(self) -> str:
        """The limit as printed, e.g. ``≤ 1.10×`` or ``≤ +6 MiB``."""
        sign = "≤" if self.bound == "max" else "≥"
        return f"{sign} +{self.limit:g} MiB" if self.unit == "MiB" else f"{sign} {self.limit:.2f}×"


def _median(kind: str, name: str) -> Callable[[dict[str, Any]], float]:
    return lambda results: float(results[kind][name]["median_ms"])


def _wall(name: str) -> Callable[[dict[str, Any]], float]:
    return lambda results: float(results["concurrency"][name]["wall_s"])


def _over(
    top: Callable[[dict[str, Any]], float], bottom: Callable[[dict[str, Any]], float]
) -> Callable[[dict[str, Any]], float]:
    return lambda results: top(results) / bottom(results)


def _rss_over_bare(results: dict[str, Any]) -> float:
    conc = results["concurrency"]
    return float(conc[CORE]["peak_rss_mib"]) - float(conc[BARE]["peak_rss_mib"])


def _import_ratio(results: dict[str, Any]) -> float:
    imports = results["imports"]
    return float(imports["import llmorch"]["median_s"]) / float(imports[IMPORT_DEPS]["median_s"])


def _sync_ratio(results: dict[str, Any]) -> float:
    sync = results["sync_facade"]
    return float(sync["median_ms"]) / float(sync["async_median_ms"])


def _peer(peer: str, ours: str, per_call: float, in_flight: float) -> list[Target]:
    """A peer's three targets: per request, per 50-chunk stream and at 100 in flight."""
    where = (
        (per_call, "per request", _median("request", peer), _median("request", ours)),
        (per_call, "on 50-chunk streams", _median("stream", peer), _median("stream", ours)),
        (in_flight, "at 100 in flight", _wall(peer), _wall(ours)),
    )
    return [
        Target(
            f"{peer} ≥ {limit:g}× slower than llmorch {text}",
            "min",
            limit,
            "×",
            (peer, ours),
            _over(slow, fast),
        )
        for limit, text, slow, fast in where
    ]


TARGETS: tuple[Target, ...] = (
    Target(
        "plain request ≤ 1.10× bare httpx (same transport)",
        "max",
        1.10,
        "×",
        (CORE, BARE),
        _over(_median("request", CORE), _median("request", BARE)),
    ),
    Target(
        "50-chunk stream ≤ 1.10× bare httpx (same transport)",
        "max",
        1.10,
        "×",
        (CORE, BARE),
        _over(_median("stream", CORE), _median("stream", BARE)),
    ),
    Target(
        "50-chunk stream.events() ≤ 1.15× bare httpx (same transport)",
        "max",
        1.15,
        "×",
        (CORE, BARE),
        _over(_median("events", CORE), _median("events", BARE)),
    ),
    Target(
        "1,000 requests at 100 in flight ≤ 1.15× bare httpx (same transport)",
        "max",
        1.15,
        "×",
        (CORE, BARE),
        _over(_wall(CORE), _wall(BARE)),
    ),
    Target(
        "peak RSS at 100 in flight ≤ bare transport's peak + 6 MiB",
        "max",
        6.0,
        "MiB",
        (CORE, BARE),
        _rss_over_bare,
    ),
    Target(
        "import llmorch ≤ 1.0× its own dependencies' import",
        "max",
        1.0,
        "×",
        (),
        _import_ratio,
    ),
    Target(
        "sync facade ≤ 1.15× the async core per call",
        "max",
        1.15,
        "×",
        (),
        _sync_ratio,
    ),
    *_peer("openai SDK", CORE, 2.0, 4.0),
    *_peer("anthropic SDK", "llmorch anthropic", 2.0, 4.0),
    *_peer("litellm", CORE, 5.0, 5.0),
)
