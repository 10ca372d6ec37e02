"""shipping: books the shipment of each confirmed order. The template guide's backend example
(docs/template.md): a gRPC service with its own contract and database, which orders calls."""
