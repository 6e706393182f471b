"""HTTP layer: routers, dependencies, problem handlers, middleware and docs."""
