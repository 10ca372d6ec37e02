"""The load generator: Locust users that shop through the gateway, each request the start of a trace."""
