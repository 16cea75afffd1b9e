"""Project automation.

`python -m nox` runs lint, typecheck, the tests on Python 3.10 and 3.13, the SDK conformance
run against the emulator, the strict docs build and the price cross-check; `nox -s tests` runs
every Python found.
"""

from __future__ import annotations

import nox

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]

# The default run (what `.ci/run` executes): the oldest and newest Pythons; `nox -s tests` runs
# every one found.
nox.options.sessions = [
    "lint",
    "typecheck",
    f"tests-{PYTHONS[0]}",
    f"tests-{PYTHONS[-1]}",
    "conformance",
    "docs",
    "prices",
]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff lint and format check."""
    session.install("ruff>=0.8")
    paths = [
        "src",
        "tests",
        "benchmarks",
        "examples",
        "docs/_hooks.py",
        "docs/_capabilities.py",
        "noxfile.py",
    ]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


@nox.session(python=PYTHONS[-1])
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package and the noxfile."""
    session.install("-e", ".[all,typecheck]")
    session.run("mypy", "--strict", "src")
    session.run("mypy", "--strict", "noxfile.py")
    session.run("mypy", "--strict", "tests/typing")  # the public types as users see them


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The whole suite with branch coverage of src/llmorch, gated at 90 %.

    Every extra is installed (``all``) so that every provider is tested; one test installs the
    package without extras into a fresh venv.
    """
    session.install("-e", ".[all,test]")
    session.env.update({"AWS_EC2_METADATA_DISABLED": "true", "NO_GCE_CHECK": "True"})
    session.run(
        "pytest",
        "--ignore=tests/conformance",
        "--cov=llmorch",
        "--cov-branch",
        "--cov-report=term-missing:skip-covered",
        "--cov-fail-under=90",
        *session.posargs,
    )


@nox.session(python=PYTHONS[-1])
def conformance(session: nox.Session) -> None:
    """The official vendor SDKs (test-only dependencies) against the emulator."""
    session.install(
        "-e", ".[all,test]", "openai>=1.40", "anthropic>=0.40", "google-genai>=1.0", "boto3>=1.34"
    )
    session.run("pytest", "tests/conformance", "-p", "no:cacheprovider", *session.posargs)


# The price references, test-only data pinned to exact versions so that a new release never
# turns CI red (a deliberate bump re-runs the cross-check and updates tests/prices/allowlist.yaml).
PRICE_REFERENCES = ["litellm==1.110.2", "genai-prices==0.2.3"]


@nox.session(python=PYTHONS[-1])
def prices(session: nox.Session) -> None:
    """Cross-check the shipped price table against LiteLLM's cost map and genai-prices.

    Only LiteLLM's bundled JSON is read, so it is installed without its dependencies and never
    imported; LITELLM_LOCAL_MODEL_COST_MAP keeps anything from fetching a newer map.
    """
    session.install("-e", ".", "pytest>=8", "pytest-asyncio>=0.23")
    session.install("--no-deps", PRICE_REFERENCES[0])
    session.install(PRICE_REFERENCES[1])
    session.env.update({"LITELLM_LOCAL_MODEL_COST_MAP": "True", "NO_GCE_CHECK": "True"})
    session.env["AWS_EC2_METADATA_DISABLED"] = "true"
    session.run("pytest", "tests/prices", "-p", "no:cacheprovider", "-q", *session.posargs)


@nox.session(python=PYTHONS[-1])
def bench(session: nox.Session) -> None:
    """The benchmark suite (loopback only): medians and ratios to bare httpx, as a table + JSON.

    LiteLLM is measured too when it is importable in the session's environment. Arguments after
    ``--`` go to ``python -m benchmarks``: ``nox -s bench -- --check`` judges every target.
    """
    session.install(
        "-e",
        ".[all]",
        "opentelemetry-sdk",
        "openai>=1.40",
        "anthropic>=0.40",
        "httpx-aiohttp>=0.1.8",
    )
    # LiteLLM is measured "where it installs": a failed install only drops its column.
    session.run("python", "-m", "pip", "install", "--quiet", "litellm", success_codes=[0, 1])
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(python=PYTHONS[-1])
def docs(session: nox.Session) -> None:
    """Build the site in strict mode, then run the docs' runnable blocks and the examples."""
    session.install("-e", ".[all,docs,test,examples]")
    session.env.update(
        {"NO_MKDOCS_2_WARNING": "1", "AWS_EC2_METADATA_DISABLED": "true", "NO_GCE_CHECK": "True"}
    )
    session.run("mkdocs", "build", "--strict", "--site-dir", "site", *session.posargs)
    session.run("pytest", "tests/test_docs.py", "tests/test_examples.py", "-p", "no:cacheprovider")
