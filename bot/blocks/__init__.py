"""Block Kit payloads as plain dicts, built by small functions and tested by comparing them.

Nothing here talks to Slack or the ledger: listeners fetch the facts, these
functions turn them into blocks. Layouts keep to short lines and two-column
fields so that answers read well on a phone.
"""
