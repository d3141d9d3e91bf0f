"""Chain engines (the ``Chain`` seam, embedded py-evm, JSON-RPC), the Vyper contracts, their compiler and
deployment, and the contracts' constants."""
