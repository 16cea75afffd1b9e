"""What tracing costs: a request and a 50-chunk stream with observability off and on, one run.

Three modes of the same orchestrator workload against the benchmark server, in alternating
rounds within one process (so the machine's noise hits them alike):

- ``off``: ``observability.enabled: false`` (the code path of an app without OpenTelemetry: one
  flag, no allocation);
- ``noop``: enabled, OpenTelemetry imported, the global providers left unset (the API's no-op
  tracer and meter: what an app that installed ``llmorch[otel]`` but configured no SDK pays);
- ``sdk``: an SDK ``TracerProvider`` with no span processor and an SDK ``MeterProvider`` whose
  reader is never collected (spans and metric aggregation are real; nothing is exported).

The report gives each mode's median and its ratio to ``off``.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks.clients import MESSAGES, OPENAI_BODY

MODES = ("off", "noop", "sdk")


async def _times(call: Callable[[], Awaitable[Any]], count: int) -> list[float]:
    for _ in range(max(3, count // 10)):
        await call()
    times = []
    for _ in range(count):
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    return times


async def measure(base: str, requests: int, streams: int, rounds: int) -> dict[str, Any]:
    """Run the three modes.

    Args:
        base: The benchmark server's base URL.
        requests: Requests per mode (split over the rounds).
        streams: Streams per mode (split over the rounds).
        rounds: Rounds; the modes' order alternates from one to the next.

    Returns:
        Per mode and call kind the median in ms, and its ratio to ``off``.
    """
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider

    import llmorch.telemetry
    from llmorch import AsyncLLMOrchestrator, OrchestratorConfig

    tracer_provider = TracerProvider()
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    samples: dict[str, dict[str, list[float]]] = {m: {"request": [], "stream": []} for m in MODES}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(rounds):
                for mode in MODES if r % 2 == 0 else tuple(reversed(MODES)):
                    if mode == "sdk":
                        llmorch.telemetry.configure(
                            tracer_provider=tracer_provider, meter_provider=meter_provider
                        )
                    else:
                        llmorch.telemetry.configure()  # the global, no-op providers
                    config = OrchestratorConfig.from_dict(
                        {
                            "active_provider": "openai",
                            "active_model": OPENAI_BODY["model"],
                            "providers": {
                                "openai": {"base_url": base + "/openai/v1", "api_key": "k"}
                            },
                            "cost_tracking": {"log_path": f"{tmp}/ledger.jsonl"},
                            "model_discovery": {"refresh_on_start": False, "cache_path": None},
                            "observability": {"enabled": mode != "off"},
                        }
                    )
                    async with AsyncLLMOrchestrator(config) as orch:

                        async def request() -> str:
                            return (await orch.send_request(MESSAGES)).content

                        async def stream() -> int:
                            return len([c async for c in orch.send_streaming_request(MESSAGES)])

                        samples[mode]["request"] += await _times(request, requests // rounds)
                        samples[mode]["stream"] += await _times(stream, streams // rounds)
    finally:
        llmorch.telemetry.configure()
        meter_provider.shutdown()
        tracer_provider.shutdown()
    out: dict[str, Any] = {}
    for kind in ("request", "stream"):
        medians = {m: statistics.median(samples[m][kind]) * 1000 for m in MODES}
        out[kind] = {
            m: {"median_ms": round(medians[m], 4), "ratio": round(medians[m] / medians["off"], 3)}
            for m in MODES
        }
    return out


def table_lines(results: dict[str, Any]) -> list[str]:
    """The report's lines for the performance table.

    Args:
        results: What :func:`measure` returned.

    Returns:
        Markdown lines.
    """
    lines = [
        "",
        "| tracing | request ms | ×off | 50-chunk stream ms | ×off |",
        "|---|---|---|---|---|",
    ]
    labels = {
        "off": "off (`enabled: false`)",
        "noop": "on, no SDK (API no-op)",
        "sdk": "on, SDK, no exporter",
    }
    for mode in MODES:
        r, s = results["request"][mode], results["stream"][mode]
        lines.append(
            f"| {labels[mode]} | {r['median_ms']} | {r['ratio']} | {s['median_ms']} | "
            f"{s['ratio']} |"
        )
    return lines
