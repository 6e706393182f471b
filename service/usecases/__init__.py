"""Use-cases: transactions, and mapping between wire schemas, rows and the domain core."""
