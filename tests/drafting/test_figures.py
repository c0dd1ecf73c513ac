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
        "O seu reembolso de quinhentos euros foi aprovado.",  # pt
        "Uw terugbetaling van vijfhonderd euro is goedgekeurd.",  # nl
        "Il suo rimborso di cinquecento euro è stato approvato.",  # it
        "U bent nul euro verschuldigd.",  # nl zero
        "Saldo wynosi zero złotych.",  # pl zero
        "残高はゼロ円です。",  # ja zero in katakana
        "الرصيد صفر دولار",  # ar zero
        "余额为零元。",  # zh zero
        "Your balance is $\u0660.",  # Arabic-Indic zero after a sign
        "Balance 1\u202f234,56\u00a0\u20ac",  # a locale's separators
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
        "Obrigado pela sua mensagem, uma pessoa da equipa responderá.",
        "Bedankt voor uw bericht, een medewerker neemt contact met u op.",
        "Grazie per il suo messaggio, una persona del team le risponderà.",
        "The invoice is due on the due date; please pay via the portal.",
        "The account {customer_name} has {open_total_USD} open on {invoice_2.number}.",
    ],
)
def test_plain_prose_and_placeholders_hold_no_figure(prose: str) -> None:
    assert find(prose) == []
