"""The pure billing core: money, price book, proration, invoices, aging.

Nothing in this package touches a database, the network or the clock; time
is always a parameter. The bot, the workflows, the CLI and the tests call
these very functions.
"""
