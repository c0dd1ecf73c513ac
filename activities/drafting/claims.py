"""Claims about an account's state that carry no figure: "paid", "refunded", "as agreed".

A draft can be wrong without a single number in it: "As agreed, we have waived
the late fee", "Your refund has been approved", "your account is settled".
An obedient model writes such a sentence when a customer's text says so
("you already agreed to waive the fee"), and the figure checks see nothing.
:func:`find` reads a sentence for the kinds of claim below, in every language
the product reads (English, German, French, Spanish, Portuguese, Italian,
Dutch, Polish, Russian, Arabic, Japanese, Chinese, Hindi, Thai), after the
same folding the hostile-text rules use (NFKC, invisible characters out,
look-alike letters as ASCII). A claim is supported only by a ledger status
the activity put into the draft's facts (:attr:`DraftFacts.statuses`);
anything else puts a person in front of the draft, with the claim named.

Erring towards finding costs a person reading a sentence that was harmless;
a miss could tell a customer that a debt is gone.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal, get_args

from unidecode import unidecode

from activities.drafting.untrusted import INVISIBLE

ClaimKind = Literal[
    "paid",
    "settled",
    "refunded",
    "credited",
    "waived",
    "discounted",
    "extended",
    "cancelled",
    "resolved",
    "promise_accepted",
    "price_changed",
    "contract_term",
    "agreed",
]
CLAIM_KINDS: tuple[ClaimKind, ...] = get_args(ClaimKind)

#: What each kind says, for the person who reads the draft.
LABELS: dict[ClaimKind, str] = {
    "paid": "that something is paid",
    "settled": "that the account is settled or nothing is owed",
    "refunded": "a refund",
    "credited": "a credit",
    "waived": "a waiver or write-off",
    "discounted": "a discount",
    "extended": "an extension or deferral",
    "cancelled": "a cancellation, termination or void",
    "resolved": "that a dispute is resolved",
    "promise_accepted": "an accepted promise or payment plan",
    "price_changed": "a changed price",
    "contract_term": "a contract term",
    "agreed": "an agreement or confirmation by the team",
}

_I = re.IGNORECASE

#: Read on the folded text (ASCII): en, de, fr, es, pt, it, nl, pl (and Latin homoglyphs).
_FOLDED: dict[ClaimKind, str] = {
    "paid": (
        r"\bpaid\b|\bpayment (?:has been |was |is )?(?:received|applied|recorded|confirmed"
        r"|booked)\b|\breceived (?:your|the) (?:full )?payment\b"
        r"|\b(?:bezahlt|beglichen|zahlung (?:ist )?eingegangen|zahlungseingang)\b"
        r"|\b(?:payee?s?|reglee?s?|acquittee?s?|paiement (?:a ete |est )?recu)\b"
        r"|\b(?:pagad[oa]s?|pago (?:fue |ha sido )?recibido|abonad[oa]s?)\b"
        r"|\b(?:pag[oa]s?|quitad[oa]s?|pagamento (?:foi )?recebido)\b"
        r"|\b(?:pagat[oaie]|saldat[oaie]|pagamento ricevuto)\b"
        r"|\b(?:betaald|voldaan|betaling (?:is )?ontvangen)\b"
        r"|\b(?:zaplacon\w*|oplacon\w*|uregulowan\w*|splacon\w*|wplata (?:zostala )?zaksiegowana)"
    ),
    "settled": (
        r"\b(?:settled|cleared|paid off|all square|in good standing|up to date)\b"
        r"|\b(?:nothing|no(?:thing)? (?:more|further)?\s*(?:amount|balance|money)?)\s*(?:is |are )?"
        r"(?:owed|due|outstanding|to pay|left to pay)\b|\bowes? (?:us )?nothing\b"
        r"|\bno (?:open |outstanding )?(?:balance|debt|amount due)\b|\bzero balance\b"
        r"|\b(?:balance|account|debt) (?:is|stands at|has been) (?:zero|nil|clear|closed|nothing)"
        r"|\b(?:ausgeglichen|nichts (?:mehr )?(?:zu zahlen|offen|geschuldet)"
        r"|kein offener (?:betrag|saldo)"
        r"|saldo (?:ist )?(?:null|ausgeglichen))\b"
        r"|\b(?:soldee?|rien a payer|plus rien (?:a payer|du)|solde (?:est )?(?:nul|a zero)"
        r"|aucun (?:solde|montant) du)\b"
        r"|\b(?:liquidad[oa]|saldad[oa]|nada (?:que|a|por) pagar|no (?:debe|adeuda) nada"
        r"|saldo (?:es )?(?:cero|nulo)|sin saldo pendiente)\b"
        r"|\b(?:saldo (?:e |esta )?(?:zerado|zero|nulo)|nada a pagar|nao deve nada"
        r"|nada em aberto)\b"
        r"|\b(?:niente da pagare|saldo (?:e )?(?:zero|nullo|azzerato)|nulla da pagare"
        r"|non (?:deve|dovete) nulla)\b"
        r"|\b(?:vereffend|niets (?:meer )?(?:te betalen|verschuldigd|open)|saldo (?:is )?nul)\b"
        r"|\b(?:rozliczon\w*|nic do zaplaty|saldo (?:wynosi )?zero|brak zaleglosci|nic nie jest"
        r" (?:winien|winna|winni)|konto (?:jest )?uregulowane)"
    ),
    "refunded": (
        r"\brefund(?:ed|s|ing)?\b|\bmoney back\b|\breimburs\w*"
        r"|\b(?:erstatt\w*|ruckerstatt\w*|zuruckgezahlt|zuruckuberwiesen)"
        r"|\b(?:rembours\w*)|\b(?:reembols\w*|devolucion|devuelto)"
        r"|\b(?:estorn\w*|devolvid[oa]|reembolsad\w*)|\b(?:rimbors\w*|restituit\w*)"
        r"|\b(?:terugbetal\w*|terugstort\w*|terugbetaald)|\b(?:zwrot\w*|zwrocon\w*|oddan\w*)"
    ),
    "credited": (
        r"\bcredited\b|\bcredit(?:s| note)?\b[^.\n]{0,40}\b(?:issued|applied|approved|granted"
        r"|added|posted|given)\b|\b(?:issued|applied|granted|added|posted|given)\b[^.\n]{0,20}"
        r"\bcredit\b"
        r"|\b(?:gutgeschrieben|gutschrift)|\b(?:credite\w*|un avoir|d'avoir)\b"
        r"|\b(?:acreditad\w*|nota de credito|abonad\w* en (?:su|tu) cuenta)"
        r"|\b(?:creditad\w*|nota de credito)|\b(?:accreditat\w*|nota di credito)"
        r"|\b(?:gecrediteerd|creditnota)|\b(?:uznan\w*|nota kredytow\w*|korekt\w* faktur\w*)"
    ),
    "waived": (
        r"\bwaive[sd]?\b|\bwaiv(?:ing|er)\b|\bwrit(?:ten|e|ing)[- ]off\b|\bforgiven\b"
        r"|\bexempt\w*\b|\bfee (?:has been |was |is )?(?:removed|dropped)\b"
        r"|\b(?:erlassen|verzicht\w*|abgeschrieben|kulanz)\b"
        r"|\b(?:annule[es]? (?:les|vos|la|le) (?:frais|penalites)|exonere\w*|renonce\w*"
        r"|passe\w* en perte)"
        r"|\b(?:condonad\w*|exonerad\w*|eximid\w*|perdonad\w*)"
        r"|\b(?:isent\w*|perdoad\w*|dispensad\w*)|\b(?:condonat\w*|esentat\w*|stornat\w*)"
        r"|\b(?:kwijtgescholden|kwijtschelding|afgeschreven)"
        r"|\b(?:umorz\w*|zwolnion\w*|anulowan\w* oplat)"
    ),
    "discounted": (
        r"\bdiscount\w*|\b(?:price|rate) (?:reduction|cut)\b|\breduced (?:price|rate|fee)"
        r"|\b(?:rabatt\w*|nachlass\w*|preisnachlass)|\b(?:remise|reduction|rabais)\b"
        r"|\b(?:descuento|rebaja\w*|bonificacion)|\b(?:desconto|abatimento)"
        r"|\b(?:sconto|riduzione)\b|\bkorting\b|\b(?:rabat\w*|znizk\w*|obnizk\w*)"
    ),
    "extended": (
        r"\bextend(?:ed|s)?\b|\bextension\b|\bgrace period\b|\bpostpone\w*|\bdeferr?\w*"
        r"|\b(?:more|additional|extra) time\b|\bdue date (?:has been |was |is )?(?:moved|changed)"
        r"|\b(?:verlanger\w*|stundung|zahlungsaufschub|aufgeschoben|zahlungsziel)"
        r"|\b(?:prolong\w*|delai supplementaire|report\w*)"
        r"|\b(?:prorroga\w*|extendid\w*|ampliad\w*|aplazad\w*)"
        r"|\b(?:prorrogad\w*|prorrogacao|adiad\w*)|\b(?:proroga\w*|esteso|dilazion\w*|rinviat\w*)"
        r"|\b(?:verlengd|verlenging|uitstel)|\b(?:przedluz\w*|odroczon\w*|odroczeni\w*|prolongat\w*)"
    ),
    "cancelled": (
        r"\bcancel+(?:ed|ation)?\b(?! (?:request|policy))|\bterminat(?:ed|ion)\b"
        r"|\bvoid(?:ed)?\b|\bnull and void\b"
        r"|\b(?:storniert|storno|gekundigt|kundigung|aufgehoben|annulliert)"
        r"|\b(?:annule\w*|annulation|resili\w*)|\b(?:cancelad\w*|anulad\w*|rescindid\w*|rescision)"
        r"|\b(?:cancelad\w*|rescindid\w*|encerrad\w*)|\b(?:annullat\w*|cancellat[oaie]\b|disdett\w*|rescisso)"
        r"|\b(?:geannuleerd|opgezegd|beeindigd|ontbonden)"
        r"|\b(?:anulowan\w*|wypowiedzian\w*|rozwiazan\w* umow\w*|uniewaznion\w*)"
    ),
    "resolved": (
        r"\b(?:dispute|case|claim|complaint|issue|matter)\b[^.\n]{0,30}\b(?:resolved|closed"
        r"|upheld|accepted|settled)\b|\bin your favou?r\b|\bresolved\b"
        r"|\b(?:geklart|erledigt|zu ihren gunsten)\b|\b(?:resolu\w*|en votre faveur)\b"
        r"|\b(?:resuelt\w*|a su favor)\b|\b(?:resolvid\w*|a seu favor)\b"
        r"|\b(?:risolt\w*|a vostro favore)\b|\b(?:opgelost|in uw voordeel)\b"
        r"|\b(?:rozpatrzon\w* pozytywnie|rozwiazan\w*|uznan\w* reklamacj\w*)"
    ),
    "promise_accepted": (
        r"\b(?:promise|commitment|payment plan|instal+ments?)\b[^.\n]{0,30}\b(?:accepted"
        r"|approved|agreed|noted|confirmed|granted)\b|\bpayment plan\b|\binstal+ments?\b"
        r"|\b(?:ratenzahlung|zahlungsplan)|\b(?:echeancier|paiement echelonne)"
        r"|\b(?:plan de pagos?|pago a plazos|cuotas)\b|\b(?:parcelament\w*|parcelas)\b"
        r"|\b(?:rateizzazion\w*|piano di pagamento)|\b(?:betalingsregeling|afbetalingsregeling)"
        r"|\b(?:rozlozeni\w* na raty|plan splat\w*|raty)\b"
    ),
    "price_changed": (
        r"\bprice\w*\b[^.\n]{0,30}\b(?:lower\w*|reduced|changed|adjusted|match\w*|decreased)\b"
        r"|\b(?:lower|new|reduced|special|adjusted|old|grandfathered) (?:price|rate|pricing)\b"
        r"|\bpreis\w*\b[^.\n]{0,30}\b(?:gesenkt|angepasst|reduziert|geandert)"
        r"|\bprix\b[^.\n]{0,30}\b(?:reduit|baisse|ajuste|modifie)"
        r"|\bprecio\b[^.\n]{0,30}\b(?:reducido|rebajado|ajustado|cambiado)"
        r"|\bpreco\b[^.\n]{0,30}\b(?:reduzido|ajustado|alterado)"
        r"|\bprezzo\b[^.\n]{0,30}\b(?:ridotto|ribassato|modificato)"
        r"|\bprijs\b[^.\n]{0,30}\b(?:verlaagd|aangepast|gewijzigd)"
        r"|\bcen\w*\b[^.\n]{0,30}\b(?:obnizon\w*|zmienion\w*|nizsz\w*)"
    ),
    "contract_term": (
        r"\b(?:contract|agreement|terms?)\b[^.\n]{0,30}\b(?:says|states|allows|provides|ends"
        r"|renews|changed|amended|entitles)\b|\bper (?:our|the|your) (?:contract|agreement)\b"
        r"|\bunder (?:our|the|your) (?:contract|agreement)\b"
        r"|\b(?:laut|gemass) (?:vertrag|vereinbarung)|\bvertrag\w*\b[^.\n]{0,30}\b(?:gekundigt"
        r"|geandert|sieht vor)"
        r"|\b(?:selon|conformement (?:a|au)) (?:le |notre |votre )?(?:contrat|accord)"
        r"|\b(?:segun|conforme a|de acuerdo con) (?:el |nuestro |su )?(?:contrato|acuerdo)"
        r"|\b(?:conforme|segundo|de acordo com) (?:o |nosso |seu )?(?:contrato|acordo)"
        r"|\b(?:secondo|come da) (?:il |nostro |vostro )?(?:contratto|accordo)"
        r"|\b(?:volgens|conform) (?:het |ons |uw )?(?:contract|overeenkomst)"
        r"|\b(?:zgodnie z|wedlug) (?:nasz\w* |pan\w* )?umow\w*"
    ),
    "agreed": (
        r"\bas (?:we |you |previously |already )?(?:agreed|discussed|promised|confirmed|said"
        r"|stated|mentioned|arranged|approved)\b|\bas per (?:our|your)\b|\bper our (?:call"
        r"|conversation|discussion|email|agreement)\b|\bwe (?:have |had )?(?:already )?"
        r"(?:agreed|confirmed|approved|promised|granted|accepted|authori[sz]ed)\b"
        r"|\byou (?:have |had )?(?:already )?(?:agreed|confirmed|promised|approved)\b"
        r"|\b(?:has|have|was|were|is|are) (?:been )?(?:approved|granted|authori[sz]ed|agreed)\b"
        r"|\b(?:wie (?:vereinbart|besprochen|zugesagt|abgesprochen|bestatigt)|zugesagt"
        r"|bestatig(?:t|en) wir|wir haben (?:\w+ )?(?:bestatigt|zugestimmt|genehmigt)|genehmigt)\b"
        r"|\b(?:comme (?:convenu|discute|promis|confirme|vous l'avez dit)|nous avons (?:\w+ )?"
        r"(?:confirme|accepte|approuve|accorde)|approuve\w*|accorde\w*)\b"
        r"|\b(?:como (?:acordamos|se acordo|hablamos|prometimos|usted dijo|confirmamos)"
        r"|segun lo acordado|(?:hemos|ya) (?:confirmado|aprobado|aceptado|acordado)|aprobad\w*)\b"
        r"|\b(?:conforme (?:combinado|acordado)|como (?:combinado|combinamos)|(?:ja )?confirmamos"
        r"|aprovad\w*)\b"
        r"|\b(?:come (?:concordato|d'accordo|promesso|confermato)|abbiamo (?:\w+ )?(?:confermato"
        r"|approvato|accettato)|approvat\w*)\b"
        r"|\b(?:zoals (?:afgesproken|besproken|beloofd|bevestigd)|wij hebben (?:\w+ )?"
        r"(?:bevestigd|goedgekeurd)|goedgekeurd)\b"
        r"|\b(?:zgodnie z ustaleniami|jak (?:ustalilismy|uzgodnilismy|obiecalismy)"
        r"|potwierdzil\w*|zatwierdzon\w*|zaakceptowan\w*)"
    ),
}

#: Read on the text after NFKC, invisible characters out: scripts folding to ASCII would lose.
_NATIVE: dict[ClaimKind, str] = {
    "paid": (
        r"оплачен|погашен|платеж получен|платёж получен"
        r"|مدفوع|تم الدفع|تم السداد|مسدد|سددت"
        r"|支払い?済|支払いは?完了|入金済|入金を確認|完済|已付|已支付|已缴|已还清|付款已收到"
        r"|भुगतान (?:हो गया|किया जा चुका|प्राप्त)|चुका दिया|ชำระแล้ว|จ่ายแล้ว|ได้รับชำระ"
    ),
    "settled": (
        r"задолженност\w* нет|ничего не должн|баланс нулев|долг закрыт|урегулирован"
        r"|لا يوجد رصيد|لا شيء مستحق|الرصيد صفر|لا توجد مستحقات|تمت التسوية|تسوية الحساب"
        r"|残高はゼロ|残高なし|精算済|未払いはありません|已结清|余额为零|无欠款|不欠"
        r"|कोई बकाया नहीं|बकाया शून्य|ไม่มียอดค้าง|ยอดคงเหลือเป็นศูนย์"
    ),
    "refunded": (
        r"возвра\w*|возмещ\w*|استرداد|مسترد|رد المبلغ|返金|払い戻|退款|已退"
        r"|退还|रिफंड|धनवापसी|คืนเงิน"
    ),
    "credited": (
        r"зачислен\w*|кредит-нот|إشعار دائن"
        r"|رصيد دائن|クレジット|入金処理|贷记|抵扣|क्रेडिट"
        r"|เครดิต"
    ),
    "waived": r"списан\w*|прощен\w*|إعفاء|اعفاء|شطب|免除|帳消|减免|免除|माफ|ยกเว้น",
    "discounted": r"скидк\w*|خصم|割引|値引|折扣|优惠|छूट|ส่วนลด",
    "extended": (
        r"продлен\w*|продлён\w*|отсрочк\w*"
        r"|تمديد|مهلة|延長|猶予|延期|延长|宽限|बढ़ा दी"
        r"|ขยายเวลา"
    ),
    "cancelled": (
        r"отмен\w*|аннулир\w*|расторгн\w*|إلغاء|الغاء|ملغ|キャンセル|解約"
        r"|取り消|取消|作废|注销|रद्द|ยกเลิก"
    ),
    "resolved": (
        r"урегулирован\w*|решен\w* в вашу пользу"
        r"|تم حل|حل النزاع|解決済|已解决|समाधान"
        r"|แก้ไขแล้ว"
    ),
    "promise_accepted": (
        r"рассрочк\w*|график платежей|تقسيط"
        r"|خطة سداد|分割払い|分期|किस्त|ผ่อนชำระ"
    ),
    "price_changed": (
        r"цен\w* (?:снижен|изменен)|السعر (?:المخفض|الجديد)|価格を?(?:変更|引き下げ)"
        r"|价格(?:调整|降低)|कीमत कम|ราคาใหม่"
    ),
    "contract_term": (
        r"по договору|согласно договору|حسب العقد|وفقا للعقد|契約に?よ"
        r"|根据合同|按合同|अनुबंध के अनुसार|ตามสัญญา"
    ),
    "agreed": (
        r"как (?:мы )?договорились|как обещали|мы подтвердили|одобрен\w*"
        r"|كما اتفقنا|حسب الاتفاق|تمت الموافقة|أكدنا|اكدنا"
        r"|合意の通り|お約束の通り|承認され|承認済|如约定|按约定|如您所说|已批准|已确认"
        r"|जैसा (?:कि )?(?:हमने )?तय|स्वीकृत|ตามที่ตกลง|อนุมัติแล้ว"
    ),
}

#: Words that deny what follows them, folded (en, de, fr, es, pt, it, nl, pl).
_NEGATION = frozenset(
    {
        "not",
        "never",
        "nicht",
        "nie",
        "kein",
        "keine",
        "pas",
        "jamais",
        "no",
        "nunca",
        "nao",
        "non",
        "mai",
        "niet",
        "geen",
        "isn't",
        "wasn't",
        "hasn't",
        "haven't",
        "aren't",
        "weren't",
    }
)

_FOLDED_RULES = {kind: re.compile(pattern, _I) for kind, pattern in _FOLDED.items()}
# NFKC, as the text is read: Thai SARA AM (U+0E33) is two characters after it.
_NATIVE_RULES = {
    kind: re.compile(unicodedata.normalize("NFKC", pattern), _I)
    for kind, pattern in _NATIVE.items()
}

#: Quotation marks a sentence may attribute words with: ASCII, typographic, guillemets, CJK.
_QUOTED = re.compile(
    r"\"([^\"\n]{1,400})\"|\u201c([^\u201d\n]{1,400})\u201d|\u201e([^\u201c\u201d\n]{1,400})[\u201c\u201d]"
    r"|\u00ab([^\u00bb\n]{1,400})\u00bb|\u300c([^\u300d\n]{1,400})\u300d"
)


@dataclass(frozen=True, slots=True)
class Claim:
    kind: ClaimKind
    excerpt: str

    def describe(self) -> str:
        return f"claims {LABELS[self.kind]} ({self.excerpt!r})"


def folded(text: str) -> str:
    """``text`` as the claim rules read it: NFKC, invisible characters out, ASCII letters."""
    return " ".join(unidecode(_native(text)).split())


def _native(text: str) -> str:
    return unicodedata.normalize("NFKC", INVISIBLE.sub("", text))


def find(sentence: str, quoted_from: str = "") -> list[Claim]:
    """Every kind of claim ``sentence`` makes, one per kind, with the words that make it.

    Words in quotation marks that are the customer's own (found in ``quoted_from``,
    compared folded) are attributed, not claimed: they are left out of the reading.
    """
    text = _without_attributed(sentence, folded(quoted_from).lower())
    reading, scripts = folded(text), _native(text)
    found: list[Claim] = []
    for kind in CLAIM_KINDS:
        match = _first_affirmed(_FOLDED_RULES[kind], reading)
        if match is None:
            match = _NATIVE_RULES[kind].search(scripts)
        if match is not None:
            found.append(Claim(kind, match.group(0).strip()[:60]))
    return found


def _first_affirmed(rule: re.Pattern[str], reading: str) -> re.Match[str] | None:
    """The first match not negated by one of the two words just before it ("not paid",
    "nicht bezahlt", "pas payee"): a denial is not a claim. Only those two words count,
    so "not due because we waived it" still claims the waiver."""
    for match in rule.finditer(reading):
        before = reading[: match.start()].lower().split()[-2:]
        if not _NEGATION.intersection(before):
            return match
    return None


def _without_attributed(sentence: str, customer: str) -> str:
    if not customer:
        return sentence

    def attributed(match: re.Match[str]) -> str:
        words = next(group for group in match.groups() if group is not None)
        return " " if folded(words).lower() in customer else match.group(0)

    return _QUOTED.sub(attributed, sentence)


def unsupported(claims: list[Claim], statuses: tuple[ClaimKind, ...]) -> list[Claim]:
    """The claims no ledger status among ``statuses`` supports."""
    return [claim for claim in claims if claim.kind not in statuses]
