"""The chat model behind drafts and the assistant: OpenAI's API through ``langchain-openai``.

``OPENAI_BASE_URL`` points it at any OpenAI-compatible server (the tests'
scripted server on 127.0.0.1, a proxy, a self-hosted model). With no
``OPENAI_API_KEY`` there is no model, and drafts are the rendered templates.
"""

from __future__ import annotations

from langchain_openai import ChatOpenAI

from activities.settings import Settings


def chat_model(settings: Settings) -> ChatOpenAI | None:
    """The configured model, or None without an API key."""
    if settings.openai_api_key is None:
        return None
    return ChatOpenAI(
        model=settings.openai_model,
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url,
        temperature=0.2,  # a little variety in wording; the facts are held by the grounding check
        timeout=60,
        max_retries=2,
    )
