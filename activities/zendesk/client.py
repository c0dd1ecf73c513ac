"""The ``zenpy`` client, built from settings, and the retry rule for calls to Zendesk.

Zendesk answers a burst with 429 and a ``Retry-After``; zenpy waits that out
itself (up to a budget). Everything else retryable (a 429 without the header,
5xx, a dropped connection) is retried here with exponential backoff and
jitter. The session is a plain ``requests`` one on purpose: zenpy's default
adapter retries 5xx at the transport level, PUTs included, and a PUT that
adds a comment must only be retried by code that first checks whether the
comment already landed (:func:`activities.zendesk.tickets.post_reply`).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from activities.settings import Settings

if TYPE_CHECKING:
    # zenpy and requests load with the first client: about 10 MiB that a worker which never
    # calls Zendesk does not hold (bench/collections_scale.py).
    import requests
    from zenpy import Zenpy
    from zenpy.lib.exception import APIException

T = TypeVar("T")

log = logging.getLogger("billing_ops.zendesk")

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
#: A safe update refused because the ticket changed since it was read: read it again.
CONFLICT = 409


class ZendeskUnavailable(RuntimeError):
    """Zendesk could not be reached or kept failing; the message says what was tried."""


class ZendeskRefused(ValueError):
    """Zendesk refused the request (not found, forbidden, invalid): retrying cannot help."""


def zendesk_client(settings: Settings, timeout: float = 30.0) -> Zenpy:
    """A client for ``ZENDESK_SUBDOMAIN`` with the email/API-token pair from settings."""
    if not (settings.zendesk_subdomain and settings.zendesk_email and settings.zendesk_token):
        raise ZendeskRefused(
            "ZENDESK_SUBDOMAIN, ZENDESK_EMAIL and ZENDESK_TOKEN: all three are needed for Zendesk"
        )
    import requests
    from zenpy import Zenpy

    return Zenpy(
        subdomain=settings.zendesk_subdomain,
        email=settings.zendesk_email,
        token=settings.zendesk_token.get_secret_value(),
        session=requests.Session(),
        timeout=timeout,
        ratelimit_budget=120,  # seconds zenpy may spend honouring Retry-After per call
        disable_cache=True,  # a retry must see the ticket as it is now, not as first read
    )


def with_retries(
    call: Callable[[], T],
    what: str,
    *,
    attempts: int = 5,
    base_delay: float = 0.5,
    max_delay: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    also_retry: tuple[int, ...] = (),
) -> T:
    """Run ``call``, retrying rate limits, 5xx and connection errors with backoff (and the
    statuses in ``also_retry``: a call that reads before it writes may retry a conflict)."""
    import requests  # loaded already by the client that ``call`` uses
    from zenpy.lib.exception import APIException, RatelimitBudgetExceeded, ZenpyException

    for attempt in range(1, attempts + 1):
        try:
            return call()
        except (APIException, requests.HTTPError) as error:
            status = _status(error)
            if status not in RETRYABLE_STATUS and status not in also_retry:
                raise ZendeskRefused(f"{what}: Zendesk answered {status}: {error}") from error
            problem = f"HTTP {status}"
            delay = _retry_after(error)
        except (requests.ConnectionError, requests.Timeout, RatelimitBudgetExceeded) as error:
            problem, delay = type(error).__name__, None
        except ZenpyException as error:
            raise ZendeskRefused(f"{what}: {error}") from error
        if attempt == attempts:
            raise ZendeskUnavailable(
                f"{what}: Zendesk kept failing ({problem}) after {attempts} tries"
            )
        if delay is None:
            delay = min(max_delay, base_delay * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
        log.warning(
            "%s: %s, retrying in %.1f s (try %d of %d)", what, problem, delay, attempt, attempts
        )
        sleep(delay)
    raise AssertionError("unreachable")  # the loop returns or raises


def _status(error: APIException | requests.HTTPError) -> int | None:
    response = getattr(error, "response", None)
    return int(response.status_code) if response is not None else None


def _retry_after(error: APIException | requests.HTTPError) -> float | None:
    response = getattr(error, "response", None)
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
