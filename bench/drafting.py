"""Drafting benchmark: 50 fixed drafting tasks through the real ``langchain-openai`` client
against the scripted OpenAI-compatible server, reporting tokens per draft, the share of
drafts held for a person or replaced by the template and why, and, for a simulated week of
ticket replies, how many went out unreviewed per category.

    .venv/bin/python -m bench.drafting            # the table
    .venv/bin/python -m bench.drafting --json     # the figures as JSON
    .venv/bin/python -m bench.drafting --real     # a real small model instead (the .[llm] extra)

``--real`` runs the cases of ``tests/drafting/real_corpus.py`` (every
collections step, a ticket reply of every category, the dispute "received"
email) against SmolLM2-135M-Instruct served by llama-cpp-python on
127.0.0.1, and reports the share of drafts sent, held for a person and
replaced by the template, why, the latency per draft and the tokens the
server counted, with the load average (the machine is shared).

The tasks are the product's own message kinds (collections emails and ticket
replies) over a fixed set of accounts in USD, EUR, GBP and JPY. The scripted
model works from the reference draft in placeholders: on every fourth task it
keeps the template's sentences (a draft that may go out alone), on the others
it writes a greeting of its own (a draft a person must read); on a fixed
schedule it types a figure on its first try instead of a placeholder (an
amount, a date, a late fee, an invoice number). Retried with the problem
named, it goes back to placeholders, except on a few tasks where it repeats
the mistake. So the shares measure the pipeline against that schedule, not a
real model's accuracy; what the run shows is that every typed figure is
caught, what the stricter rules cost in held drafts, and what our prompts
cost in tokens. Token counts come from the
server's approximation (one token per word or punctuation mark, about 0.8 of
what OpenAI's tokenizer counts for English prose with figures).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from activities.billing.money import format_money
from activities.drafting.compose import Drafter
from activities.drafting.facts import Draft, DraftFacts, DraftRequest, InvoiceRef, Money
from activities.drafting.model import chat_model
from activities.ledger.db import make_engine, migrate, session_factory
from activities.settings import Settings
from tests.drafting import llama_server, real_corpus
from tests.drafting.fake_openai import FakeOpenAI, Reply, draft_reply, reference_of, serving

NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
TASKS = 50

ACCOUNTS = (
    ("CUS-0101", "Northwind Traders", "USD", ("1234.50", "880.00")),
    ("CUS-0102", "Bäckerei Müller GmbH", "EUR", ("2499.00",)),
    ("CUS-0103", "Fabrikam Ltd", "GBP", ("312.40", "96.00", "1500.00")),
    ("CUS-0104", "Kaisha Tanaka KK", "JPY", ("186000",)),
    ("CUS-0105", "Contoso Inc", "USD", ("45.00",)),
)
KINDS = (
    "collections/courtesy",
    "collections/due_today",
    "collections/reminder",
    "collections/final_notice",
    "collections/missed_commitment",
    "tickets/payment_status",
    "tickets/invoice_copy",
    "tickets/dispute",
    "tickets/refund_request",
    "tickets/cancellation",
)
#: What the scripted model gets wrong on its first try, by task number (the rest are right).
FIRST_TRY_ERRORS = {
    2: "amount",
    7: "date",
    11: "amount",
    16: "late_fee",
    19: "invoice",
    23: "amount",
    28: "date",
    31: "amount",
    35: "late_fee",
    40: "amount",
    44: "invoice",
    47: "amount",
}
#: Tasks where the retry repeats the mistake (the template goes out instead).
STUBBORN = {16, 44}


@dataclass(frozen=True)
class Task:
    number: int
    request: DraftRequest


def tasks() -> list[Task]:
    result = []
    for n in range(TASKS):
        account = ACCOUNTS[n % len(ACCOUNTS)]
        kind = KINDS[n % len(KINDS)]
        result.append(Task(n, _request(n, kind, account)))
    return result


def _request(n: int, kind: str, account: tuple[str, str, str, tuple[str, ...]]) -> DraftRequest:
    customer_id, name, currency, balances = account
    due = [NOW.date() - timedelta(days=10 + 17 * i + n % 5) for i in range(len(balances))]
    invoices = [
        InvoiceRef(
            number=f"INV-{2000 + 7 * n + i:06d}",
            currency=currency,
            balance=Decimal(b),
            total=Decimal(b),
            issue_date=d - timedelta(days=30),
            due_date=d,
        )
        for i, (b, d) in enumerate(zip(balances, due, strict=True))
    ]
    total = sum((i.balance for i in invoices), Decimal(0))
    promise = NOW.date() - timedelta(days=3)
    shown = [
        {
            "number": i.number,
            "issue_date": (i.issue_date or NOW.date()).isoformat(),
            "due_date": (i.due_date or NOW.date()).isoformat(),
            "status": f"{(NOW.date() - (i.due_date or NOW.date())).days} days overdue",
            "balance": format_money(i.balance, currency),
            "total": format_money(i.balance, currency),
        }
        for i in invoices
    ]
    values: dict[str, Any] = {
        "customer_id": customer_id,
        "customer_name": name,
        "invoices": shown,
        "invoice_count": len(shown),
        "total": format_money(total, currency),
        "past_due": format_money(total, currency),  # every invoice here is past its due date
        "due_today": format_money(Decimal(0), currency),
        "due_later": format_money(Decimal(0), currency),
        "past_due_count": len(shown),
        "due_today_count": 0,
        "due_later_count": 0,
        "open_total": format_money(total, currency),
        "oldest_due_date": min(due).isoformat(),
        "days_overdue": (NOW.date() - min(due)).days,
        "payment_link": f"https://billing.example.com/pay/{customer_id}",
        "portal_link": "https://billing.example.com/portal",
        "sender": "Billing team, Example Software Inc.",
        "strategic": False,
        "owner_mention": "",
        "emails_sent": 1,
        "promise_amount": format_money(total, currency),
        "promise_date": promise.isoformat(),
        "ticket": f"#{n}",
        "last_payment_amount": "",
        "last_payment_date": "",
        "dispute_id": f"ZD-{500 + n}",
        "reply_days": 2,
        "subscriptions": [
            {"plan": "Business", "seats": 12, "interval": "month", "term_end": "2027-01-31"}
        ],
    }
    facts = DraftFacts(
        customer_id=customer_id,
        customer_name=name,
        invoices=tuple(invoices),
        amounts={
            "total": Money(amount=total, currency=currency),
            "past_due": Money(amount=total, currency=currency),
        },
        dates={"promise_date": promise},
        references={
            "payment_link": values["payment_link"],
            "portal_link": values["portal_link"],
            "dispute_id": values["dispute_id"],
        },
    )
    return DraftRequest(
        kind=kind,
        values=values,
        facts=facts,
        customer_text="Could you tell us where we stand?" if kind.startswith("tickets/") else None,
        untrusted={"customer_name": name},
        reference=f"bench-{n}",
        actor="bench",
        now=NOW,
    )


# --- the scripted model -----------------------------------------------------------------------

_AMOUNT = re.compile(r"([$€£¥])([\d,]+(?:\.\d+)?)")
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")


def scripted_model(request: dict[str, Any]) -> Reply:
    """Work from the reference in placeholders; on its schedule, type a figure instead."""
    user = request["messages"][1]["content"]
    number = _task_of(user)
    retried = len(request["messages"]) > 2
    subject, body = reference_of(request)
    if number % 4:
        body = body.replace("Hello,", "Dear customer,", 1)  # words of its own
    error = FIRST_TRY_ERRORS.get(number)
    if error and (not retried or number in STUBBORN):
        body = _spoil(body, error)
    return draft_reply(subject, body.strip() + "\n", "Asks for what the template asks")


def _task_of(prompt: str) -> int:
    found = re.search(r"INV-(\d{6})", prompt)
    return (int(found[1]) - 2000) // 7 if found else 0


def _spoil(body: str, error: str) -> str:
    if error == "amount":
        return re.sub(
            r"\{(?:total|open_total|invoice(?:_1)?\.balance)[^}]*\}", "$1,234.50", body, count=1
        )
    if error == "date":
        return body + "\nPlease pay by December 24, 2026."
    if error == "late_fee":
        return body + "\nA 2% late fee applies from next week."
    return body + "\nSee also INV-999999."


def _why(draft: Draft) -> list[str]:
    """The reasons a draft was held or replaced, as a few fixed labels for counting."""
    labels = []
    for problem in draft.problems:
        if " types " in problem:
            labels.append("fallback: typed a figure, link or id")
        elif "leaves out" in problem:
            labels.append("fallback: left out a required fact")
        elif "placeholders the facts do not have" in problem:
            labels.append("fallback: unknown placeholder")
        elif "repeats" in problem or "holds" in problem:
            labels.append("fallback: repeated the customer or the prompt")
        elif " is not one of the facts" in problem or "wrong" in problem:
            labels.append("fallback: a figure off the facts (grounding)")
        else:
            labels.append("fallback: other")
    if draft.flags:
        labels.append("held: hostile text flagged")
    if draft.held:
        labels.append("held: the model's own words")
    return sorted(set(labels))


#: The categories the demo lets go out alone (config/zendesk.yaml's low-risk ones).
AUTO_SEND = ("invoice_copy", "payment_status")
#: A simulated week of the demo's billing queue: tickets per day, over the bench accounts.
WEEK_DAYS, TICKETS_PER_DAY = 7, 10


def _week(drafter: Drafter) -> dict[str, dict[str, int]]:
    """Per category: tickets in a week, and how many replies went out with nobody reading.

    A reply goes out alone only when its category is one the team allows, the requester
    is a verified billing contact (every fifth ticket comes through the Zendesk
    organization only), and the draft needs no person (template text, nothing flagged).
    """
    week: dict[str, dict[str, int]] = {}
    for n in range(WEEK_DAYS * TICKETS_PER_DAY):
        kind = [k for k in KINDS if k.startswith("tickets/")][n % 5]
        category = kind.removeprefix("tickets/")
        task = _request(n, kind, ACCOUNTS[n % len(ACCOUNTS)])
        draft = drafter.draft(task)
        verified = n % 5 != 4
        alone = category in AUTO_SEND and verified and not draft.needs_human
        counts = week.setdefault(category, {"tickets": 0, "unreviewed": 0})
        counts["tickets"] += 1
        counts["unreviewed"] += int(alone)
    return week


# --- the run ------------------------------------------------------------------------------------


def run() -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as folder,
        serving(FakeOpenAI(responder=scripted_model)) as fake,
    ):
        engine = make_engine(f"sqlite:///{Path(folder) / 'ledger.sqlite'}")
        migrate(engine)
        settings = Settings(
            openai_api_key=SecretStr("sk-bench"), openai_base_url=fake.base_url, _env_file=None
        )
        drafter = Drafter(session_factory(engine), chat_model(settings))
        drafts = []
        started = time.perf_counter()
        for task in tasks():
            drafts.append(drafter.draft(task.request))
        elapsed = time.perf_counter() - started
        week = _week(drafter)
        engine.dispose()
    sources = [d.source for d in drafts]
    first_try = sources.count("model")
    injected = len(FIRST_TRY_ERRORS)
    caught = sum(1 for n, d in enumerate(drafts) if n in FIRST_TRY_ERRORS and d.problems)
    held = [d for d in drafts if d.needs_human]
    reasons = Counter(label for d in drafts for label in _why(d))
    return {
        "tasks": len(drafts),
        "passed_first_try": first_try,
        "share_first_try": round(first_try / len(drafts), 3),
        "passed_after_retry": sources.count("model_retry"),
        "template_fallback": sources.count("template_fallback"),
        "share_template_fallback": round(sources.count("template_fallback") / len(drafts), 3),
        "held_for_a_person": len(held),
        "share_held_for_a_person": round(len(held) / len(drafts), 3),
        "may_go_out_alone": len(drafts) - len(held),
        "why": dict(sorted(reasons.items())),
        "wrong_figures_injected": injected,
        "wrong_figures_caught": caught,
        "week_unreviewed_by_category": week,
        "prompt_tokens_per_draft": round(statistics.mean(d.prompt_tokens for d in drafts), 1),
        "completion_tokens_per_draft": round(
            statistics.mean(d.completion_tokens for d in drafts), 1
        ),
        "prompt_tokens_per_call": round(
            statistics.mean(d.prompt_tokens / (1 if d.source == "model" else 2) for d in drafts),
            1,
        ),
        "ms_per_draft": round(1000 * elapsed / len(drafts), 1),
    }


def run_real(drafts: Path | None = None) -> dict[str, Any]:
    """The real-model corpus: what became of each draft and why, latency and tokens; every
    draft written to ``drafts`` as JSON when given, to be read."""
    why = llama_server.missing()
    if why:
        raise SystemExit(why)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder, llama_server.llama_server() as base_url:
        engine = make_engine(f"sqlite:///{Path(folder) / 'ledger.sqlite'}")
        migrate(engine)
        settings = Settings(
            openai_api_key=SecretStr("sk-local"),
            openai_base_url=base_url,
            openai_model=llama_server.MODEL_ALIAS,
            _env_file=None,
        )
        started = time.perf_counter()
        results = real_corpus.run(Drafter(session_factory(engine), chat_model(settings)))
        elapsed = time.perf_counter() - started
        engine.dispose()
    if drafts is not None:
        drafts.write_text(
            json.dumps(
                [
                    {"case": r.case.name, "outcome": r.outcome, "seconds": round(r.seconds, 2)}
                    | r.draft.model_dump(mode="json")
                    for r in results
                ],
                indent=2,
                ensure_ascii=False,
            )
        )
    outcomes = Counter(r.outcome for r in results)
    seconds = sorted(r.seconds for r in results)
    calls = sum(1 if r.draft.source == "model" else 2 for r in results)
    unfit = [
        r.case.name
        for r in results
        if r.outcome != "held" and real_corpus.defects(r.case.request, r.sent_text())
    ]
    return {
        "model": llama_server.model_path().name,
        "drafts": len(results),
        "sent": outcomes["sent"],
        "held_for_a_person": outcomes["held"],
        "replaced_by_the_template": outcomes["replaced"],
        "share_sent": round(outcomes["sent"] / len(results), 3),
        "share_held": round(outcomes["held"] / len(results), 3),
        "share_replaced": round(outcomes["replaced"] / len(results), 3),
        "why": dict(
            sorted(
                Counter(label for r in results for label in real_corpus.reasons(r.draft)).items()
            )
        ),
        "by_source": dict(sorted(Counter(r.draft.source for r in results).items())),
        "sent_unfit": unfit,
        "seconds_per_draft_median": round(statistics.median(seconds), 2),
        "seconds_per_draft_p90": round(seconds[int(0.9 * (len(seconds) - 1))], 2),
        "seconds_per_draft_max": round(seconds[-1], 2),
        "seconds_total": round(elapsed, 1),
        "prompt_tokens_per_call": round(sum(r.draft.prompt_tokens for r in results) / calls, 1),
        "completion_tokens_per_call": round(
            sum(r.draft.completion_tokens for r in results) / calls, 1
        ),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--real", action="store_true", help="a real small model (.[llm] extra)")
    parser.add_argument("--drafts", type=Path, help="with --real: write every draft to this file")
    args = parser.parse_args(argv)
    logging.getLogger("billing_ops.drafting").setLevel(logging.ERROR)  # fallbacks are counted
    figures = run_real(args.drafts) if args.real else run()
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        width = max(len(k) for k in figures)
        for key, value in figures.items():
            print(f"{key.replace('_', ' '):<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
