"""checkout: the template guide's worked example, a fourth service in front of the gateway.

It takes a cart over HTTP and places each item as an order through the gateway, so one trace starts here
and runs through gateway, orders, inventory and both databases. docs/template.md builds it step by step.
"""
