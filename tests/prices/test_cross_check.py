"""The shipped price table against LiteLLM's cost map and genai-prices (``nox -s prices``).

Every entry of :data:`llmorch.pricing.DEFAULT_PRICES` — and every dated snapshot it claims is
priced like it, every service tier and every Bedrock profile surcharge — is priced by llmorch's
own arithmetic (:func:`llmorch.costs.compute_cost`, so an unset field counts as what it falls
back to) and compared, token kind by token kind, with each reference that lists the model. A
difference over 1 % fails unless ``allowlist.yaml`` covers it with a reason and a source; an
entry no reference lists fails too unless allow-listed. Skipped when the references are not
installed (the ordinary test run).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmorch.costs import compute_cost
from llmorch.pricing import DEFAULT_PRICES, ModelPrice, resolve_price

from . import references

pytest.importorskip("genai_prices", reason="the prices session installs the references")
if references.litellm_map_path() is None:
    pytest.skip("the prices session installs LiteLLM's cost map", allow_module_level=True)

ALLOWLIST = Path(__file__).with_name("allowlist.yaml")
TOLERANCE = 0.01
_N = 10_000  # tokens per probe: below every long-context threshold in the table


@dataclass(frozen=True)
class Case:
    """One id llmorch prices, compared with what each reference charges for it."""

    kind: str
    model: str  # the id as a caller would send it
    tier: str | None = None


@dataclass(frozen=True)
class Diff:
    """One rate that differs between llmorch and a reference."""

    kind: str
    model: str
    tier: str | None
    field: str
    reference: str
    ours: float | None
    theirs: float

    def line(self) -> str:
        """The difference, one line."""
        tier = f" [{self.tier}]" if self.tier else ""
        return (
            f"DIFF {self.kind}/{self.model}{tier} {self.field}: llmorch {self.ours} "
            f"vs {self.reference} {self.theirs}"
        )


def _cost(price: ModelPrice, **tokens: int) -> float:
    return compute_cost(price, {"prompt": 0, "completion": 0, **tokens}) * 1e6


def effective_rates(price: ModelPrice) -> dict[str, float | None]:
    """What llmorch charges per million tokens of each kind (fallbacks applied)."""
    n = _N
    rates: dict[str, float | None] = {
        "input": _cost(price, prompt=n) / n,
        "output": _cost(price, completion=n) / n,
        "cache_read": _cost(price, prompt=n, cache_read=n) / n,
        "cache_write": _cost(price, prompt=n, cache_write=n) / n,
        "cache_write_1h": _cost(price, prompt=n, cache_write=n, cache_write_1h=n) / n,
        "long_context_threshold": None
        if price.long_context_threshold is None
        else float(price.long_context_threshold),
    }
    if price.long_context_threshold is not None:
        big = price.long_context_threshold * 2
        base = _cost(price, prompt=big)
        rates["input_long"] = base / big
        rates["output_long"] = (_cost(price, prompt=big, completion=n) - base) / n
        rates["cache_read_long"] = _cost(price, prompt=big, cache_read=big) / big
        rates["cache_write_long"] = _cost(price, prompt=big, cache_write=big) / big
        rates["cache_write_1h_long"] = (
            _cost(price, prompt=big, cache_write=big, cache_write_1h=big) / big
        )
    return rates


def cases() -> Iterator[Case]:
    """Every id form the table prices on purpose."""
    for kind, table in DEFAULT_PRICES.items():
        for key, price in table.items():
            yield Case(kind, key)
            for suffix in price.snapshots:
                sep = "@" if kind == "vertex" and key.startswith("claude") else "-"
                yield Case(kind, f"{key}{sep}{suffix}")
            for tier in price.service_tiers:
                yield Case(kind, key, tier)
            if kind == "bedrock":
                yield Case(kind, f"global.{key}")
                if price.regional is not None:
                    yield Case(kind, f"us.{key}")
                if price.govcloud is not None:
                    yield Case(kind, f"us-gov.{key}")


def _ours(case: Case) -> ModelPrice:
    hit = resolve_price(DEFAULT_PRICES[case.kind], case.model)
    assert hit is not None, f"{case.kind}/{case.model} does not resolve"
    price = hit[1]
    if case.tier is not None:
        price = price.service_tiers[case.tier]
    return price


def _reference_rates(case: Case) -> dict[str, tuple[str, dict[str, float]]]:
    found = {}
    hit = references.litellm_rates(case.kind, case.model, case.tier)
    if hit is not None and hit[1]:
        found["litellm"] = hit
    genai = references.genai_rates(case.kind, case.model, case.tier)
    if genai is not None and genai[1]:
        found["genai-prices"] = genai
    if not found and case.kind == "vertex" and case.model.startswith("claude"):
        # Claude on Vertex is priced from Anthropic's list by design: check it against that.
        return _reference_rates(Case("anthropic", case.model.partition("@")[0], case.tier))
    return found


def _entry(case: Case) -> str:
    """The table key a case belongs to (Bedrock profiles are forms of one entry)."""
    hit = resolve_price(DEFAULT_PRICES[case.kind], case.model)
    assert hit is not None
    return hit[0]


def _differs(ours: float | None, theirs: float) -> bool:
    if ours is None:
        return True
    if theirs == 0:
        return abs(ours) > 1e-9
    return abs(ours - theirs) / abs(theirs) > TOLERANCE


def compare() -> tuple[list[Diff], list[Case], int]:
    """All differences, the cases no reference lists, and how many cases were compared."""
    diffs: list[Diff] = []
    unlisted: dict[tuple[str, str], list[Case]] = {}
    listed: set[tuple[str, str]] = set()
    compared = 0
    for case in cases():
        refs = _reference_rates(case)
        if not refs:
            unlisted.setdefault((case.kind, _entry(case)), []).append(case)
            continue
        listed.add((case.kind, _entry(case)))
        compared += 1
        ours = effective_rates(_ours(case))
        for name, (_, theirs) in refs.items():
            for field, value in theirs.items():
                if _differs(ours.get(field), value):
                    diffs.append(
                        Diff(
                            case.kind,
                            case.model,
                            case.tier,
                            field,
                            name,
                            ours.get(field),
                            value,
                        )
                    )
    # An entry is missing when no form of it (a snapshot, a Bedrock profile) is in a reference.
    missing = [Case(*key) for key in unlisted if key not in listed]
    return diffs, missing, compared


@dataclass(frozen=True)
class Allowed:
    """An allow-list entry: which differences it covers and why."""

    kind: str
    model: str
    field: str
    reference: str
    reason: str
    source: str
    tier: str | None = None

    def covers(self, diff: Diff) -> bool:
        """Whether this entry covers ``diff`` (shell-style patterns: ``us-gov.*``)."""
        return all(
            fnmatch.fnmatchcase(got, want)
            for want, got in (
                (self.kind, diff.kind),
                (self.model, diff.model),
                (self.field, diff.field),
                (self.reference, diff.reference),
                (self.tier or "*", diff.tier or "*"),
            )
        )

    def covers_missing(self, case: Case) -> bool:
        """Whether this entry excuses ``case`` being in no reference."""
        return (
            self.field == "missing"
            and self.kind == case.kind
            and fnmatch.fnmatchcase(case.model, self.model)
        )


def load_allowlist() -> list[Allowed]:
    """The allow-list; each entry must give a reason and a source."""
    data: Any = yaml.safe_load(ALLOWLIST.read_text(encoding="utf-8"))
    entries = []
    for i, item in enumerate(data["allow"]):
        for key in ("kind", "model", "field", "reference", "reason", "source"):
            assert str(item.get(key, "")).strip(), f"allowlist entry {i} lacks {key!r}"
        entries.append(Allowed(**item))
    return entries


@pytest.fixture(scope="module")
def result() -> tuple[list[Diff], list[Case], int]:
    assert os.environ.get("LITELLM_LOCAL_MODEL_COST_MAP") == "True"
    return compare()


def test_every_shipped_price_matches_the_references(
    result: tuple[list[Diff], list[Case], int],
) -> None:
    """No difference over 1 % that the allow-list does not explain."""
    diffs, _, compared = result
    allowed = load_allowlist()
    unexplained = [d for d in diffs if not any(a.covers(d) for a in allowed)]
    assert compared > 150
    assert not unexplained, "\n" + "\n".join(d.line() for d in unexplained)


def test_every_shipped_entry_is_in_a_reference(
    result: tuple[list[Diff], list[Case], int],
) -> None:
    """An id no reference lists cannot be checked: it needs an allow-list entry."""
    _, missing, _ = result
    allowed = load_allowlist()
    unexplained = [c for c in missing if not any(a.covers_missing(c) for a in allowed)]
    assert not unexplained, "\n" + "\n".join(f"MISSING {c.kind}/{c.model}" for c in unexplained)


def test_every_allowlist_entry_is_still_needed(
    result: tuple[list[Diff], list[Case], int],
) -> None:
    """An entry that covers nothing any more is stale and must go."""
    diffs, missing, _ = result
    stale = [
        a
        for a in load_allowlist()
        if not any(a.covers(d) for d in diffs) and not any(a.covers_missing(c) for c in missing)
    ]
    assert not stale, stale


def test_entries_the_references_retire_are_marked_retired() -> None:
    """A model LiteLLM gives a past deprecation date, or genai-prices marks shut down, is
    marked ``retired`` in the table (so docs and configs can avoid it)."""
    today = references.AT.date().isoformat()
    unmarked = []
    for kind, table in DEFAULT_PRICES.items():
        for key, price in table.items():
            if price.retired is not None:
                continue
            date = references.litellm_retired(kind, key)
            if (date is not None and date <= today) or references.genai_retired(kind, key):
                unmarked.append(f"{kind}/{key} ({date or 'genai-prices: deprecated'})")
    assert not unmarked, unmarked
