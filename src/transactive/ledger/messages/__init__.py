"""Signed messages and their commitments: orders, attributes, nonces, order / result / settlement trees,
the slot batch."""
