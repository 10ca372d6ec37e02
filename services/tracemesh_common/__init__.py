"""What every tracemesh service shares, and nothing one service alone needs.

- tracing: the whole tracing set-up (provider, exporter, propagators, each layer's instrumentation)
- propagation: the legacy X-Trace-ID propagator and OTEL_PROPAGATORS; settings: the OTEL_* switches
- logs: one-line log records that carry the trace and span ids
- lifecycle: start, serve, drain and flush, the same for HTTP and gRPC, and background jobs
- database: the engine, sessions, SQLite's settings and an outage mapped to the service's own error
- errors: the one error body of the HTTP services
- drops, fast_otlp: optional parts (dropped-span reports; an opt-in faster OTLP encoder)
"""
