"""The Zendesk billing queue: fetch a ticket, match the customer, classify it, gather the
facts, draft the reply, and post it through ``zenpy`` once a person (or policy) says so."""
