"""Stream an answer to the terminal as it is generated, then show its usage and cost.

Run ``python examples/stream_to_terminal.py ["your prompt"]``.
"""

from __future__ import annotations

import sys

from _emulator import config_or_emulator

from llmorch import LLMOrchestrator


def main(argv: list[str]) -> int:
    """Stream one answer.

    Args:
        argv: An optional prompt.

    Returns:
        The exit code.
    """
    prompt = argv[0] if argv else "Write a 3-sentence story about a robot."
    with config_or_emulator() as config, LLMOrchestrator(config) as orch:
        print("Asking for a story... (streaming)\n")
        messages = [{"role": "user", "content": prompt}]
        with orch.send_streaming_request(messages, temperature=0.8) as stream:
            for chunk in stream:
                print(chunk, end="", flush=True)
        response = stream.response
        print(f"\n\n[{response.provider}/{response.model}] finish={response.finish_reason}")
        print(f"tokens: {response.tokens_used}, cost: ${response.cost:.6f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
