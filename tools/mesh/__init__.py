"""How the mesh starts, for everything that starts it: `make run` (`python -m tools.mesh`), and the same
services as real processes on free ports for the end-to-end tests, the benchmark and the fault suite.

plan.py       the processes, their environment and their addresses (a new service joins here)
manager.py    make run's process manager: the services under honcho, the waterfall until they have exited
processes.py  the services started on free ports, their spans received in this process (start_mesh)
make_run.py   `make run` as a person runs it, for the docs checker and the benchmark's memory reading
ports.py      free and busy ports, and the readiness probe
schema.py     each database migrated to its newest schema before its service starts
databases.py  fresh SQLite files or PostgreSQL databases for one mesh
probes.py     CPU and memory of the mesh's processes, read from /proc
waterfall/    the OTLP/gRPC receiver that keeps spans and prints each trace (`make run` prints with it)
"""
