"""Spotting outside text that tries to steer the model, and drafts that took the bait.

Customer words reach the model only as quoted data, the model has no tool
that moves money, and its prose never goes out without a person; this
detector is the third line. Text that addresses the assistant or overrides
its instructions, mimics a system, developer or tool message or a JSON tool
call, fishes for the prompt or other customers' data, talks its way into a
credit, refund, waiver or write-off, or changes where payments go (new bank
details, IBAN, sort code, routing number) is flagged, in English, German,
French and Spanish, and so is hidden text (invisible or bidi characters,
HTML comments, long base64). A flag means a person reads the draft first;
it never blocks the customer's ticket. The rules read the text after NFKC,
with invisible characters removed and letters folded to their ASCII
look-alikes, so ``ign\u200bore`` or a Cyrillic ``о`` does not slip past.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from unidecode import unidecode

from activities.drafting.untrusted import INVISIBLE

_I = re.IGNORECASE | re.MULTILINE


@dataclass(frozen=True, slots=True)
class Finding:
    category: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.category}: {self.excerpt!r}"


_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "instruction override",
        re.compile(
            # en
            r"\b(?:ignore|disregard|forget|override|bypass)\b[^.\n]{0,40}"
            r"\b(?:instructions?|rules?|prompts?|guidelines|polic(?:y|ies)|restrictions|above|previous)\b"
            r"|\byou are now\b|\bnew instructions\b|\bdeveloper mode\b|\bjailbreak|\bDAN\b"
            r"|\bact as (?:an?|the) |\bpretend (?:to be|you are)\b"
            # de
            r"|\b(?:ignorier|vergiss|missacht|uberg[ae]h)\w*\b[^.\n]{0,40}"
            r"\b(?:anweisung|regel|vorgabe|richtlinie|prompt|anleitung|obige|vorherige)\w*"
            r"|\bdu bist (?:jetzt|nun|ab sofort)\b|\bneue anweisung"
            # fr
            r"|\b(?:ignore[rz]?|oublie[rz]?|contourne[rz]?)\b[^.\n]{0,40}"
            r"\b(?:instructions?|consignes?|regles?|directives?|prompt|precedent)"
            r"|\btu es (?:maintenant|desormais)\b|\bnouvelles? (?:instructions|consignes)\b"
            # es
            r"|\b(?:ignora|ignore|olvida|omite|desobedece)\w*\b[^.\n]{0,40}"
            r"\b(?:instrucciones|reglas|indicaciones|normas|prompt|anterior)"
            r"|\b(?:ahora eres|a partir de ahora eres)\b|\bnuevas instrucciones\b",
            _I,
        ),
    ),
    (
        "addresses the assistant",
        re.compile(
            r"\b(?:dear |hey |hi |hello )?(?:assistant|chatbot|ai model|language model|llm|gpt"
            r"|assistent(?:in)?|ki-?assistent|ki|sprachmodell|assistante?|modele de langage|ia"
            r"|asistente|modelo de lenguaje)\b[\s,:]+(?:please |bitte |s'il te plait |por favor )?"
            r"\w+"
            r"|\b(?:to|an|a|al|para)\s+(?:the\s+|den\s+|die\s+|l'|el\s+|la\s+)?"
            r"(?:ai|assistant|ki|assistenten|assistant|ia|asistente|bot|model|modell|modelo)\b[\s:,]"
            r"|\b(?:as an ai|als ki|en tant qu'ia|como ia)\b",
            _I,
        ),
    ),
    (
        "mimics a system or tool message",
        re.compile(
            r"^\s*[\[#(<*]*\s*(?:system|developer|tool|function|assistant|systeme|sistema"
            r"|entwickler|developpeur|desarrollador|admin|administrator)"
            r"(?:\s+(?:note|message|prompt|notiz|hinweis|nachricht|nota|mensaje|remarque))?"
            r"\s*[\]>)*]*\s*[:>\]-]"
            r"|<\|?(?:im_start|im_end|system|endoftext)\|?>|\[/?INST\]|</?\s*(?:system|tool|function"
            r"|assistant|developer|instructions?|customer_message)\b[^>]*>"
            r"|\b(?:developer|system|admin|entwickler|developpeur|desarrollador)"
            r"[ -](?:note|notiz|hinweis|remarque|nota|override|message|nachricht|mensaje)\b"
            r"|\{\s*\"(?:name|tool|tool_calls?|function|arguments|role|action|parameters)\"\s*:"
            r"|\"(?:tool_calls?|function_call|arguments)\"\s*:",
            _I,
        ),
    ),
    (
        "prompt or secret fishing",
        re.compile(
            r"\b(?:system|hidden|initial|original)\s+(?:prompt|instructions|message)"
            r"|\b(?:reveal|print|repeat|show|output|tell me)\b[^.\n]{0,40}"
            r"\b(?:your (?:prompt|instructions|rules|configuration)"
            r"|api[- ]?keys?|passwords?|tokens?|credentials)\b"
            r"|\bapi[- ]?key\b|\bsystem-?prompt|\bprompt (?:du )?systeme\b|\bprompt del sistema\b"
            r"|\b(?:zeig|nenn|gib)\w*\b[^.\n]{0,30}\b(?:anweisungen|passwort|zugangsdaten)\b"
            r"|\b(?:montre|revele|affiche)\w*\b[^.\n]{0,30}\b(?:instructions|mot de passe)\b"
            r"|\b(?:muestra|revela|dime)\w*\b[^.\n]{0,30}\b(?:instrucciones|contrasena)\b",
            _I,
        ),
    ),
    (
        "other customers' data",
        re.compile(
            r"\b(?:other|another|all|every|different)\s+(?:customers?|clients?|accounts?|companies|tenants?)\b"
            r"|\b(?:customer|client|account)\s+(?:list|database|records)\b"
            r"|\binvoices?\s+(?:of|for|belonging to)\s+(?:another|other|a different)\b"
            r"|\b(?:anderer|andere|anderen|aller|alle)\s+kunden\b|\bkundenliste\b"
            r"|\b(?:autres|tous les) clients\b|\bliste des clients\b"
            r"|\b(?:otros|todos los) clientes\b|\blista de clientes\b",
            _I,
        ),
    ),
    (
        "asks for money to move",
        re.compile(
            r"\b(?:issue|apply|give|grant|approve|add|process|credit|send|transfer|wire)\b"
            r"[^.\n]{0,40}\b(?:credits?|refunds?|discounts?|rebates?|compensation|money back)\b"
            r"|\b(?:waive[sd]?|waiving|write[- ]?off|written[- ]off|writes? off"
            r"|cancel(?:led)?|void(?:ed)?)\b"
            r"[^.\n]{0,40}\b(?:invoices?|balance|fees?|charges?|debt|amount|INV-?\w*)"
            r"|\b(?:invoices?|balance|fees?|charges?|debt|INV-\w+)\b[^.\n]{0,40}"
            r"\b(?:waived|written off|void(?:ed)?|cancell?ed|zeroed)\b"
            r"|\bmark\b[^.\n]{0,30}\bas paid\b|\b(?:zero|clear)\s+(?:the|our|my)?\s*balance\b"
            r"|\bbalance\b[^.\n]{0,30}\b(?:should be|is|to) (?:\$?0(?:[.,]00)?|zero|nothing)\b"
            r"|\b100\s?%\s+(?:discount|off|credit)\b|\bfree of charge\b|\bgoodwill\b"
            r"|\bbalance\W{0,3}(?:\$|USD|EUR)?\s?0(?:[.,]00)?\b|\bcredit note\b"
            r"|\b(?:promised|agreed|approved)\b[^.\n]{0,40}\b(?:credit|refund|discount|waiver)"
            r"|\b(?:credits?|refunds?|discounts?|rebates?|waivers?)\b[^.\n]{0,40}"
            r"\b(?:approved|granted|agreed)\b"
            # de
            r"|\b(?:gutschrift|ruckerstattung|erstattung|erstatten|rabatt|kulanz|nachlass"
            r"|stornier\w*|storno|erlass(?:en)?|abschreib\w*|abzuschreib\w*|als bezahlt"
            r"|zugesagt|versprochen)\b"
            # fr
            r"|\b(?:(?:un|d')\s?avoir|rembourse\w*|remise|geste commercial|annule[rz]? la facture"
            r"|annulation de la facture|passe[rz]? en perte|considere[rz]? comme payee?)\b"
            # es
            r"|\b(?:reembols\w*|nota de credito|descuento|bonificacion|anul\w* la factura"
            r"|condon\w*|dar de baja la deuda|como pagad[ao])\b"
            # pt
            r"|\b(?:estorn\w*|desconto|fatura (?:foi )?cancelad\w*|perdoa\w* a divida)\b"
            # nl
            r"|\b(?:terugbetal\w*|terugstort\w*|creditnota|korting|kwijtgescholden"
            r"|kwijtschelding|geannuleerd|als betaald)\b"
            # pl
            r"|\b(?:zwrot\w*|rabat\w*|umorz\w*|anulowan\w*|korekt\w* faktur\w*"
            r"|jako zaplacon\w*)\b",
            _I,
        ),
    ),
    (
        "speaks for the team",
        re.compile(
            # en: a label in the team's name ("[Billing team note: ...", "Internal note (Finance):")
            r"\b(?:billing|finance|accounting|accounts|collections|support|sales|legal|internal"
            r"|AR|staff)(?:[ -](?:team|department|dept|ops))?[ -](?:note|notice|memo|comment"
            r"|update)\b\s*(?:\([^)\n]{0,30}\))?\s*[:\]-]"
            r"|\bnote (?:from|by) (?:the |your |our )?(?:billing|finance|accounting|support"
            r"|collections) (?:team|department)\b"
            # de
            r"|\b(?:billing|buchhaltungs?|rechnungs|abrechnungs|finanz)[- ]?(?:team)?[- ]?"
            r"(?:hinweis|notiz|vermerk|mitteilung)\b|\binterne notiz\b"
            r"|\b(?:notiz|hinweis|vermerk) der buchhaltung\b"
            # fr
            r"|\bnote (?:de l'|du |de la )?(?:equipe|service) (?:de )?(?:la )?"
            r"(?:facturation|comptab\w*|financ\w*|recouvrement)\b|\bnote interne\b"
            # es, pt
            r"|\bnota (?:del|de la|da|do) (?:equipo|equipe|departamento|setor) de "
            r"(?:facturacion|faturamento|cobros?|cobranca|finanzas|financas|contabilidad"
            r"|contabilidade)\b|\bnota interna\b"
            # nl
            r"|\bnotitie van (?:het |de )?(?:factu\w*|financ\w*|boekhoud\w*|debiteuren\w*)"
            r"|\binterne notitie\b"
            # pl
            r"|\bnotatka (?:dzialu|zespolu) (?:rozliczen|finansow\w*|ksiegowosci|windykacji)\b"
            r"|\bnotatka wewnetrzna\b",
            _I,
        ),
    ),
    (
        "redirects the reply",
        re.compile(
            r"^\s*(?:reply-to|cc|bcc|to)\s*:\s*[\w.+-]+@"
            r"|\b(?:cc|bcc|copy|forward|send|reply|respond|write|answer)\b[^.\n@]{0,40}"
            r"[\w.+-]+@[\w-]+\.[\w.-]+"
            r"|\b(?:antwort|kopie)\b[^.\n@]{0,40}[\w.+-]+@[\w-]+\."
            r"|\b(?:reponse|copie|envoye[rz]?)\b[^.\n@]{0,40}[\w.+-]+@[\w-]+\."
            r"|\b(?:respuesta|copia|resposta|antwoord|odpowiedz)\b[^.\n@]{0,40}[\w.+-]+@[\w-]+\.",
            _I,
        ),
    ),
    (
        "payment details change",
        re.compile(
            r"\b(?:new|changed?|updated?|different)\b[^.\n]{0,30}"
            r"\b(?:bank|banking|remittance|wire|payment|account)\s+(?:details|information|info|instructions|account|number)\b"
            r"|\b(?:IBAN|SWIFT|BIC|routing number|sort code|account number|ABA)\b"
            r"|\bsort\b[^.\n]{0,10}\d{2}[- ]\d{2}[- ]\d{2}"
            r"|\b(?:pay|send|remit|wire)\b[^.\n]{0,30}\bto (?:our|this|the following|a) new\b"
            # de
            r"|\b(?:bankverbindung|kontonummer|kontoverbindung|bankdaten|BLZ|bankleitzahl"
            r"|zahlungsempfanger)\b|\bneue[snmr]? (?:konto|bank)"
            r"|\b(?:uberweis|zahl)\w*\b[^.\n]{0,30}\bauf (?:unser|das) neue"
            # fr
            r"|\b(?:coordonnees bancaires|RIB|nouveau compte|nouvelle banque|changement de banque"
            r"|numero de compte)\b"
            # es
            r"|\b(?:datos bancarios|cuenta bancaria|nueva cuenta|numero de cuenta|nuevo banco"
            r"|cambio de banco|clabe)\b",
            _I,
        ),
    ),
    (
        "hidden text",
        re.compile(r"<!--|<script\b|[A-Za-z0-9+/]{60,}={0,2}", _I),
    ),
)

#: The same rules for scripts that folding to ASCII cannot keep (Japanese, Chinese, Arabic),
#: read on the text after NFKC with invisible characters removed.
_NATIVE: dict[str, re.Pattern[str]] = {
    "asks for money to move": re.compile(
        r"返金|払い戻|返済済|免除|帳消|キャンセル|取り消|取消|無効|値引"
        r"|退款|退还|减免|作废|注销|折扣|抵扣|已结清"
        r"|استرداد|إلغاء|الغاء|إعفاء|اعفاء|خصم|مسترد"
    ),
    "speaks for the team": re.compile(
        r"(?:請求|経理|財務|サポート|社内)(?:チーム|部|担当)?の?(?:メモ|注記|連絡|お知らせ)"
        r"|(?:账单|帐单|财务|计费|客服|内部)(?:团队|部门)?(?:备注|说明|通知)"
        r"|ملاحظة (?:فريق|قسم) (?:الفوترة|المالية|الحسابات)|ملاحظة داخلية"
    ),
}

#: What a model's draft must never contain, whatever the customer wrote: it may not
#: promise money, change where payments go, or speak as the system.
DRAFT_RULES = frozenset(
    {
        "instruction override",
        "mimics a system or tool message",
        "prompt or secret fishing",
        "asks for money to move",
        "payment details change",
        "hidden text",
    }
)


def folded(text: str) -> str:
    """``text`` as the rules read it: NFKC, invisible characters out, ASCII look-alikes."""
    return unidecode(unicodedata.normalize("NFKC", INVISIBLE.sub("", text)))


def inspect(text: str, only: frozenset[str] | None = None) -> tuple[Finding, ...]:
    """Every rule ``text`` trips, with the words that tripped it (one finding per rule).

    ``only`` limits the rules by category: :data:`DRAFT_RULES` for a draft.
    """
    findings = []
    hidden = INVISIBLE.findall(text)
    if hidden and (only is None or "hidden text" in only):
        codes = ", ".join(sorted({f"U+{ord(c):04X}" for c in hidden}))
        findings.append(
            Finding("hidden text", f"{len(hidden)} invisible or bidi characters ({codes})")
        )
    reading = folded(text)
    scripts = unicodedata.normalize("NFKC", INVISIBLE.sub("", text))
    for category, pattern in _RULES:
        if only is not None and category not in only:
            continue
        if category == "hidden text" and hidden:
            continue
        match = pattern.search(reading)
        if match:
            findings.append(Finding(category, _excerpt(reading, match)))
            continue
        native = _NATIVE.get(category)
        match = native.search(scripts) if native else None
        if match:
            findings.append(Finding(category, _excerpt(scripts, match)))
    return tuple(findings)


def _excerpt(text: str, match: re.Match[str]) -> str:
    start, end = match.span()
    snippet = text[max(0, start - 20) : min(len(text), end + 20)]
    return " ".join(snippet.split())[:120]
