"""The model's own words may hold no figure: digits of any script, look-alikes, words."""

from __future__ import annotations

import pytest

from activities.drafting.figures import find


@pytest.mark.parametrize(
    "prose",
    [
        "Your balance is $O.OO now.",  # letter O
        "Your balance is $\u041e.\u041e\u041e now.",  # Cyrillic O
        "Your balance is \uff04\uff10.\uff10\uff10.",  # full-width
        "The amount is \u0665\u0660\u0660 dollars.",  # Arabic-Indic digits
        "You owe \u216b dollars.",  # Roman numeral twelve
        "nine thousand nine hundred ninety-nine dollars",
        "Sie schulden neuntausend Euro.",
        "Vous devez neuf mille euros.",
        "Usted debe nueve mil dólares.",
        "Your balance is zero.",
        "Pay at https://secure-pay.evil.example/acme today.",
        "Write to refunds@evil.example.",
        "See credit note CN-OOO91.",
    ],
)
def test_every_disguise_of_a_figure_is_found(prose: str) -> None:
    assert find(prose), prose


@pytest.mark.parametrize(
    "prose",
    [
        "Thank you for your message. A member of our team will reply soon.",
        "Once you have paid, please ignore this note.",
        "Vielen Dank für Ihre Nachricht, ein Mitglied unseres Teams meldet sich.",
        "Merci pour votre message, un membre de l'équipe vous répondra.",
        "Gracias por su mensaje, una persona del equipo le responderá.",
        "The account {customer_name} has {open_total_USD} open on {invoice_2.number}.",
    ],
)
def test_plain_prose_and_placeholders_hold_no_figure(prose: str) -> None:
    assert find(prose) == []
