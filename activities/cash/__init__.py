"""Cash in: bank statement lines and Stripe events, matched to the ledger's invoices.

``statements`` reads the bank's files (camt.053, BAI2, CSV) into plain lines;
``matcher`` (pure) proposes which customer and invoices a line pays, with a
confidence and its reasons; ``store`` keeps the lines, applies the sure ones
through the ledger's payment API and queues the rest for review;
``stripe_events`` turns the processor's signed events into the same ledger calls.
"""
