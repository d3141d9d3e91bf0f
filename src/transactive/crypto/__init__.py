"""Signing primitives, a leaf package (no chain): canonical encoding, EIP-712 typed data, recoverable
signatures, Merkle trees."""
