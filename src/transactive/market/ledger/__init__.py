"""The service's ledger work: deploying and enrolling, anchoring slots by Proof of Clearance, settling them,
views and the worker."""
