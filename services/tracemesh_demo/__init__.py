"""The demo: deliberate flaws a request can ask for, the restock job, the demo page and the load generator.

Attached at one seam per service, in each composition root, on the lines marked `# demo seam`:

- gateway: `with_demo_page(app)` serves the page at `/` and lets only enabled, known scenarios through;
- orders: `DemoOrderRepository` lists orders the N+1 way for `n-plus-one`;
- inventory: `DemoStockRepository` (slow-query, n-plus-one, flaky-inventory, contention) and `restock_job`.

A scenario travels as the W3C baggage entry `tracemesh.scenario` (scenarios.py). Nothing in the services
knows about it. To remove the demo: delete this package and every line that ends with `# demo seam`.
"""
