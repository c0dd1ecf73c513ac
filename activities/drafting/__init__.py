"""Drafting customer messages: Jinja2 templates always, an OpenAI chat model when configured.

Every customer-facing message (collections emails, dispute and order notices,
Zendesk replies) goes through :class:`activities.drafting.compose.Drafter`:
it renders the template, lets the model rewrite it around the same facts,
checks every figure of the model's draft against those facts, and falls back
to the template when the model gets a figure wrong twice.
"""
