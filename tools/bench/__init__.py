"""`make bench`: what tracing costs the mesh in throughput, latency, CPU and memory, measured with wrk."""
