"""The ledger's vocabulary: one model per event kind."""
