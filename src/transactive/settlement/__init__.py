"""Settlement against smart meters (seed 004 eq. 4.8-4.9) in integer micro-tokens, balanced through a DSO
account."""
