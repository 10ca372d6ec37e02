"""What surrounds the services: `make run` and the mesh the tests start (mesh/), the benchmark (bench/), the
fault suite (chaos/), the docs checker (docscheck/) and the list of names a fork renames (names/). Never
installed: each runs from the repository root as `python -m tools.<name>`, and the tools share only
tools.mesh."""
