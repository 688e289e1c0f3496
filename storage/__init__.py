"""DuckDB storage: versioned schema, idempotent batched writes, read-only queries."""
