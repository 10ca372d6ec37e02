"""What orders gains to call shipping, kept beside the example so that the core stays as it is: its client
(`services/orders/shipping_client.py` in a fork). The edits to orders' existing modules are sections of
examples/shipping/fork.patch."""
