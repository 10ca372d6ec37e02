"""The fault suite: faults injected into a running mesh under load, with what must hold (`make chaos`)."""
