"""The audit: the archive, ``transactive ledger verify``, statements, channels and inclusion proofs."""
