"""Cost-aware model selection: run one prompt on several models, compare what each cost.

Run ``python examples/compare_models.py [REPEATS]``.
"""

from __future__ import annotations

import sys

from _emulator import config_or_emulator

from llmorch import LLMOrchestrator

CANDIDATES = [
    ("openai", "gpt-5.4-mini"),
    ("openai", "gpt-5.4"),
    ("anthropic", "claude-haiku-5-5"),
    ("anthropic", "claude-sonnet-5-5"),
]
PROMPT = [{"role": "user", "content": "Summarize quantum physics in 50 words"}]


def main(argv: list[str]) -> int:
    """Send the prompt ``REPEATS`` times per model and print a table sorted by cost.

    Args:
        argv: An optional repeat count (default 3).

    Returns:
        The exit code.
    """
    repeats = int(argv[0]) if argv else 3
    with config_or_emulator() as config, LLMOrchestrator(config) as orch:
        rows = []
        for provider, model in CANDIDATES:
            cost = 0.0
            for _ in range(repeats):
                response = orch.send_request(PROMPT, provider=provider, model=model)
                cost += response.cost
            rows.append((cost, provider, model))
        print(f"{'provider':<10} {'model':<20} {'cost':>10} {'per request':>12}")
        for cost, provider, model in sorted(rows):
            print(f"{provider:<10} {model:<20} {cost:>10.6f} {cost / repeats:>12.6f}")
        print(f"\nsession total: ${orch.get_session_cost():.6f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
