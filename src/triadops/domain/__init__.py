"""Pure types of triadops: requests, plans, results, identities, ledger entries, errors."""
