"""The official business rules of EN 16931 and Peppol BIS Billing 3.0, run on an e-invoice.

The rules are the published schematron, compiled to XSLT 2.0, vendored
unmodified under ``schematron/`` (its README names the source, version and
licence): nothing is downloaded at run time. lxml's libxslt runs XSLT 1.0
only, so Saxon-HE (``saxonche``) runs them. Compiling a stylesheet costs
seconds (the CEN ones are close to 1 MB), so each is compiled once per process,
on first use, and kept; running one on a document costs milliseconds.

The output is SVRL: each ``failed-assert`` or ``successful-report`` is a rule
broken, with its id and text. One flagged ``fatal`` or ``error`` (or not
flagged) stops the document; a ``warning`` (or ``information``) is reported
beside it and does not.

Saxon's processor is not documented as safe to share between threads while it
compiles or transforms; the worker runs activities on a thread pool, so one
lock serialises the runs (documents are issued one invoice at a time, at a
pace of tens per second, far below what the lock allows).
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from lxml import etree

log = logging.getLogger("billing_ops.documents")
FOLDER = Path(__file__).parent / "schematron"
SVRL = {"svrl": "http://purl.oclc.org/dsdl/svrl"}
#: Flags that do not stop a document.
ADVISORY = frozenset({"warning", "information", "info"})


class RuleSet(Enum):
    """A vendored stylesheet: the rules of one syntax, by file name."""

    EN16931_CII = "EN16931-CII-validation.xslt"
    EN16931_UBL = "EN16931-UBL-validation.xslt"
    PEPPOL_UBL = "PEPPOL-EN16931-UBL.xslt"


@dataclass(frozen=True, slots=True)
class RuleBreak:
    """One rule the document breaks: its id (``BR-CO-10``), flag, text and where."""

    rule: str
    flag: str
    text: str
    location: str

    @property
    def blocking(self) -> bool:
        return self.flag not in ADVISORY

    def __str__(self) -> str:
        # The CEN texts start with their own id: "[BR-CO-10]-Sum of ...", "[CII-SR-002] - ..."
        text = re.sub(rf"^\s*\[{re.escape(self.rule)}\]\s*-?\s*", "", self.text)
        return f"{self.rule}: {' '.join(text.split())}"


_LOCK = threading.Lock()
_processor: Any = None
_compiled: dict[RuleSet, Any] = {}


def _stylesheet(rules: RuleSet) -> Any:
    """The compiled stylesheet, compiled on first use (the caller holds the lock)."""
    global _processor
    if rules not in _compiled:
        from saxonche import PySaxonProcessor  # a native library: loaded with the first check

        if _processor is None:
            _processor = PySaxonProcessor(license=False)
        compiler = _processor.new_xslt30_processor()
        _compiled[rules] = compiler.compile_stylesheet(stylesheet_file=str(FOLDER / rules.value))
    return _compiled[rules]


def rule_breaks(xml: bytes, rules: RuleSet) -> list[RuleBreak]:
    """Every rule of ``rules`` that the XML breaks, blocking or not, in document order."""
    with _LOCK:
        stylesheet = _stylesheet(rules)
        document = _processor.parse_xml(xml_text=xml.decode("utf-8"))
        report = stylesheet.transform_to_string(xdm_node=document)
    root = etree.fromstring(report.encode("utf-8"))
    return [
        RuleBreak(
            rule=element.get("id") or "(no id)",
            flag=element.get("flag") or "error",
            text=element.findtext("svrl:text", default="", namespaces=SVRL),
            location=element.get("location") or "",
        )
        for element in root.iterfind(".//svrl:*", SVRL)
        if etree.QName(element).localname in ("failed-assert", "successful-report")
    ]


def blocking_breaks(number: str, xml: bytes, *rule_sets: RuleSet) -> list[str]:
    """The rules of ``rule_sets`` that stop the document, one line each (``BR-CO-10: Sum of
    ...``, each once); the advisory ones are logged against the invoice ``number``."""
    breaks = [found for rules in rule_sets for found in rule_breaks(xml, rules)]
    for advisory in dict.fromkeys(str(found) for found in breaks if not found.blocking):
        log.warning("invoice %s: e-invoice warning %s", number, advisory)
    return list(dict.fromkeys(str(found) for found in breaks if found.blocking))
