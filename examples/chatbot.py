"""A chatbot loop: read a line, answer it, keep the conversation; ``quit`` (or EOF) ends it.

Run ``python examples/chatbot.py`` (./config.yaml when ``OPENAI_API_KEY`` is set, else the
emulator), or feed it lines: ``python examples/chatbot.py < questions.txt``.
"""

from __future__ import annotations

import sys

from _emulator import config_or_emulator

from llmorch import LLMOrchestrator, OrchestratorError


def main() -> int:
    """Chat until ``quit`` or end of input, then print the session cost.

    Returns:
        The exit code.
    """
    with config_or_emulator() as config, LLMOrchestrator(config) as orch:
        conversation = orch.conversation(system="You are a helpful assistant.", max_messages=40)
        while True:
            try:
                user_input = input("You: ")
                if not sys.stdin.isatty():
                    print(user_input)  # piped input: show it, as a terminal would
            except EOFError:
                print()
                break
            if user_input.strip().lower() == "quit":
                break
            if not user_input.strip():
                continue
            try:
                response = conversation.send(user_input, temperature=0.7)
            except OrchestratorError as exc:  # the history is unchanged: just try again
                print(f"(error: {exc})")
                continue
            print(f"Bot: {response.content}")
        print(
            f"\nTotal cost: ${orch.get_session_cost():.4f} ({len(conversation.messages)} messages)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
