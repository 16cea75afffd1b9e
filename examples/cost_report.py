"""The last 7 days of spending from the cost ledger, by provider and by model, and a CSV.

Run ``python examples/cost_report.py [--days 7] [--csv usage_last_7_days.csv]``; the CSV is
written only when ``--csv`` names a file.

With ``OPENAI_API_KEY`` set it only reads the ledger named by ./config.yaml (no request is
made). Offline it first makes a few calls against the emulator, so there is something to report.
"""

from __future__ import annotations

import argparse
import os
from datetime import datetime, timedelta, timezone

from _emulator import config_or_emulator

from llmorch import ConfigManager, CostTracker, LLMOrchestrator


def _make_some_calls(config: str) -> None:
    with LLMOrchestrator(config) as orch:
        for question in ("What is 2+2?", "Name three primes.", "Say hello in French."):
            orch.send_request([{"role": "user", "content": question}])
        orch.send_request([{"role": "user", "content": "Hi"}], provider="anthropic")


def main(argv: list[str] | None = None) -> int:
    """Print the report and export the CSV when asked to.

    Args:
        argv: Command-line arguments.

    Returns:
        The exit code.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--csv", metavar="FILE", help="also export the records as CSV to FILE")
    args = parser.parse_args(argv)

    offline = not os.environ.get("OPENAI_API_KEY")
    with config_or_emulator() as path:
        config = ConfigManager.load_config(path)
        if offline:
            _make_some_calls(path)
        tracker = CostTracker(log_path=config.cost_tracking.log_path)
        end = datetime.now(timezone.utc)
        start = end - timedelta(days=args.days)
        report = tracker.get_usage_report(start_date=start, end_date=end)

        print(f"=== {args.days}-Day Usage Report ===")
        print(f"Total Requests: {report['total_requests']:,}")
        print(f"Total Tokens: {report['total_tokens']:,}")
        print(f"Total Cost: ${report['total_cost']:.4f}")
        print("\nBy Provider:")
        for provider, data in sorted(report["by_provider"].items()):
            print(f"  {provider}: ${data['cost']:.4f} ({data['requests']} requests)")
        print("\nBy Model:")
        for model, data in sorted(report["by_model"].items()):
            print(f"  {model}: ${data['cost']:.4f} ({data['tokens']:,} tokens)")
        if report["unpriced_requests"]:
            print(f"\n{report['unpriced_requests']} requests had no known price (counted as $0)")

        if args.csv:
            rows = tracker.export_to_csv(args.csv, start_date=start, end_date=end)
            print(f"\nExported {rows} records to {args.csv}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
