"""Structured output on every provider, against llmorch's emulator: no API keys, no network.

``response_format=Recipe`` sends the pydantic model's schema through each vendor's own
mechanism (OpenAI ``response_format``, Anthropic ``output_config.format``, Gemini
``responseJsonSchema``, Bedrock ``outputConfig.textFormat``) and gives the answer back validated
in ``response.parsed``. The emulator is scripted with the JSON a model would write: first a plain
answer, then a streamed one, then an invalid answer that ``output_retries=1`` corrects by
sending the validation errors back.

Run it: ``python examples/structured_output.py``
"""

from __future__ import annotations

import asyncio
import json
import tempfile

from _emulator import emulator_config
from pydantic import BaseModel

from llmorch import AsyncLLMOrchestrator, OutputValidationError
from llmorch.testing import ProviderEmulator, Reply

#: The providers to run the same code on: all five.
PROVIDERS = ("openai", "anthropic", "gemini", "vertex", "bedrock")


class Ingredient(BaseModel):
    """One line of a recipe."""

    name: str
    grams: int


class Recipe(BaseModel):
    """A recipe, as the model should answer it."""

    name: str
    servings: int
    ingredients: list[Ingredient]


PANCAKES = {
    "name": "Pancakes",
    "servings": 4,
    "ingredients": [{"name": "flour", "grams": 200}, {"name": "milk", "grams": 300}],
}
ASK = [{"role": "user", "content": "A pancake recipe for four, as JSON."}]


async def main() -> None:
    """Ask each provider for a recipe three ways and print what came back."""
    async with ProviderEmulator() as emu:
        with tempfile.TemporaryDirectory(prefix="llmorch-ex-") as tmp:
            config = emulator_config(emu, tmp, PROVIDERS)
            async with AsyncLLMOrchestrator(config) as orch:
                for name in PROVIDERS:
                    model = emu.chat_models(name)[0]
                    emu.script(
                        name,
                        model,
                        Reply(json.dumps(PANCAKES)),  # the plain request
                        Reply(json.dumps(PANCAKES)),  # the streamed one
                        Reply('{"name": "Pancakes", "servings": "four"}'),  # invalid
                        Reply(json.dumps(PANCAKES)),  # the corrected answer
                    )
                    print(f"{name} ({model}):")

                    response = await orch.send_request(
                        ASK, provider=name, model=model, response_format=Recipe
                    )
                    recipe = response.parsed
                    assert recipe is not None
                    grams = sum(i.grams for i in recipe.ingredients)
                    print(f"  parsed: {recipe.name}, {recipe.servings} servings, {grams} g")

                    stream = orch.send_streaming_request(
                        ASK, provider=name, model=model, response_format=Recipe
                    )
                    chunks = [chunk async for chunk in stream]
                    streamed = stream.response.parsed
                    assert streamed is not None
                    print(f"  streamed: {len(chunks)} chunks -> {streamed.name}")

                    before = len(emu.requests)
                    try:
                        fixed = await orch.send_request(
                            ASK,
                            provider=name,
                            model=model,
                            response_format=Recipe,
                            output_retries=1,
                        )
                    except OutputValidationError as exc:  # only if the retry failed too
                        print(f"  still invalid: {exc.errors}")
                        continue
                    assert fixed.parsed is not None
                    asked = len(emu.requests) - before
                    print(f"  retried: {asked} requests -> {fixed.parsed.servings} servings")
                print(f"Session cost: ${orch.get_session_cost():.6f}")


if __name__ == "__main__":
    asyncio.run(main())
