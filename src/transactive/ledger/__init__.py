"""The consortium ledger: Vyper contracts, chain engines (embedded py-evm, JSON-RPC) and their seam."""
