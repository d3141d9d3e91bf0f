"""Proof of Clearance, once: validators recompute, endorse k-of-n, submit, settle or claim, dispute."""
