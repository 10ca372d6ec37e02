"""What orders gains to call shipping, kept beside the example so that the core stays as it is: the client
(`services/orders/shipping_client.py` in a fork) and the edits to existing files (`fork.patch`)."""
