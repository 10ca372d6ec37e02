"""gateway: the public HTTP edge. JSON over HTTP outside, gRPC to orders inside; no database of its own."""
