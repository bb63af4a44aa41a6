"""Market data ingestion: sources → fetchers → extraction → checked storage (see README)."""
