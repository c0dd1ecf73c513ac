"""The chat model behind drafts and the assistant: OpenAI's API through ``langchain-openai``.

``OPENAI_BASE_URL`` points it at any OpenAI-compatible server (the tests'
scripted server on 127.0.0.1, a proxy, a self-hosted model). With no
``OPENAI_API_KEY`` there is no model, and drafts are the rendered templates.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from activities.settings import Settings

if TYPE_CHECKING:
    from langchain_openai import ChatOpenAI

#: The longest draft (subject, body, summary) a model may write; a model that runs on
#: past it is cut off, and its half draft fails the checks.
MAX_TOKENS = 600
#: One HTTP call, and how often the client repeats a failed one.
CALL_TIMEOUT = timedelta(seconds=20)
CALL_RETRIES = 1
#: A draft asks the model at most twice (a first try and one retry).
ATTEMPTS = 2
#: The longest a draft can wait on the model: it must fit inside the shortest activity
#: timeout that drafts (two minutes, the collections and dispute email steps), with room
#: for the ledger reads and the send.
DRAFT_BUDGET = CALL_TIMEOUT * (CALL_RETRIES + 1) * ATTEMPTS


def chat_model(settings: Settings) -> ChatOpenAI | None:
    """The configured model, or None without an API key.

    langchain-openai (and openai) load here, when a key is configured: a worker or a
    command on templates does without them (bench/collections_scale.py, bench/cli_start.py).
    """
    if settings.openai_api_key is None:
        return None
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=settings.openai_model,
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url,
        temperature=0.2,  # a little variety in wording; the facts are placeholders
        max_tokens=MAX_TOKENS,
        timeout=CALL_TIMEOUT.total_seconds(),
        max_retries=CALL_RETRIES,
    )
