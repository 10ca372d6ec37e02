"""orders: owns orders. A gRPC service that reserves stock in inventory over HTTP, then stores the order."""
