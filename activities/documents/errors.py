"""Why a document must not be issued: light to import, so that the activities that catch
these do not load the renderers (fpdf2, fontTools, matplotlib's fonts, Factur-X) with them."""

from __future__ import annotations


class EInvoiceError(ValueError):
    """An e-invoice that must not be sent; the message names the invoice and the rule."""


class GlyphError(ValueError):
    """Text no document font can draw; the message names the characters."""
